//! ENABLE UTF8=ACCEPT and IMAP4rev2 (RFC 5161, RFC 6855, RFC 9051 §6.3.1).

mod common;

use common::*;

#[test]
fn utf8_accept() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let r = c.ok("ENABLE UTF8=ACCEPT");
    assert_eq!(r[0], "* ENABLED UTF8=ACCEPT");
    c.ok("CREATE \"Отправленные/2024\"");
    let r = c.ok("LIST \"\" \"Отправленные*\"");
    assert!(has(&r, "\"/\" \"Отправленные/2024\""), "{r:#?}");
    // Another session without UTF8=ACCEPT sees the same mailbox in modified UTF-7.
    let mut d = Client::login(s.addr, USER);
    let r = d.ok("LIST \"\" *");
    assert!(
        has(&r, &pochta_types::mutf7::encode("Отправленные/2024")),
        "{r:#?}"
    );
}

#[test]
fn imap4rev2_mode() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let r = c.ok("CAPABILITY");
    assert!(has(&r, "IMAP4rev1 IMAP4rev2"), "{r:#?}");
    c.append("INBOX", "", &message("a", "x"));
    c.append("INBOX", "\\Seen", &message("b", "y"));
    let r = c.ok("ENABLE IMAP4rev2");
    assert_eq!(r[0], "* ENABLED IMAP4rev2");
    let r = c.ok("SELECT INBOX");
    assert!(
        has(&r, "* LIST (\\HasNoChildren) \"/\" \"INBOX\""),
        "{r:#?}"
    );
    assert!(!has(&r, "RECENT"), "{r:#?}");
    assert!(!has(&r, "[UNSEEN"), "{r:#?}");
    let r = c.ok("FETCH 1 FLAGS");
    assert_eq!(
        r[0], "* 1 FETCH (FLAGS ())",
        "no \\Recent in IMAP4rev2: {r:#?}"
    );
    let r = c.ok("SEARCH SEEN");
    assert!(
        r[0].starts_with("* ESEARCH (TAG \"t") && r[0].ends_with(" ALL 2"),
        "{r:#?}"
    );
    let r = c.ok("UID SEARCH ALL");
    assert!(r[0].ends_with(" UID ALL 1:2"), "{r:#?}");
    // UTF-8 mailbox names.
    c.ok("CREATE \"Черновики\"");
    let r = c.ok("LIST \"\" \"Черн*\"");
    assert!(has(&r, "\"Черновики\""), "{r:#?}");
    // A second session's append: EXISTS, no RECENT.
    let mut d = Client::login(s.addr, USER);
    d.append("INBOX", "", &message("c", "z"));
    let r = c.ok("NOOP");
    assert!(has(&r, "* 3 EXISTS") && !has(&r, "RECENT"), "{r:#?}");
}
