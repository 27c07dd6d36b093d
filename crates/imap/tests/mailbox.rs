//! CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE (RFC 3501 §6.3.3–6.3.7).

mod common;

use common::*;
use pochta_types::mutf7;

fn enc(name: &str) -> String {
    format!("\"{}\"", mutf7::encode(name))
}

#[test]
fn cyrillic_create_list_rename_delete() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.ok(&format!("CREATE {}", enc("Входящие/Работа")));
    let r = c.ok("LIST \"\" *");
    assert!(
        has(&r, &format!("(\\HasChildren) \"/\" {}", enc("Входящие"))),
        "{r:#?}"
    );
    assert!(
        has(
            &r,
            &format!("(\\HasNoChildren) \"/\" {}", enc("Входящие/Работа"))
        ),
        "{r:#?}"
    );
    // % does not cross the separator.
    let r = c.ok("LIST \"\" %");
    assert!(!has(&r, &mutf7::encode("Входящие/Работа")), "{r:#?}");
    assert!(has(&r, &mutf7::encode("Входящие")));
    // Reference + pattern.
    let r = c.ok(&format!("LIST {} %", enc("Входящие/")));
    assert_eq!(r.len(), 2, "{r:#?}");
    // Creating it again fails.
    let (st, r) = c.status(&format!("CREATE {}", enc("Входящие/Работа")));
    assert_eq!(st, "NO");
    assert!(has(&r, "[ALREADYEXISTS]"));
    // Rename the parent: the child follows.
    c.ok(&format!(
        "RENAME {} {}",
        enc("Входящие"),
        enc("Отправленные")
    ));
    let r = c.ok("LIST \"\" *");
    assert!(has(&r, &enc("Отправленные/Работа")), "{r:#?}");
    assert!(!has(&r, &mutf7::encode("Входящие")), "{r:#?}");
    // Delete a parent with children: it becomes \Noselect.
    c.ok(&format!("DELETE {}", enc("Отправленные")));
    let r = c.ok("LIST \"\" *");
    assert!(
        has(
            &r,
            &format!("(\\Noselect \\HasChildren) \"/\" {}", enc("Отправленные"))
        ),
        "{r:#?}"
    );
    let (st, _) = c.status(&format!("SELECT {}", enc("Отправленные")));
    assert_eq!(st, "NO");
    let (st, r) = c.status(&format!("DELETE {}", enc("Отправленные")));
    assert_eq!(st, "NO", "{r:#?}");
    c.ok(&format!("DELETE {}", enc("Отправленные/Работа")));
    c.ok(&format!("DELETE {}", enc("Отправленные")));
    // Bad modified UTF-7 is refused.
    let (st, _) = c.status("CREATE \"&Jjo\"");
    assert_ne!(st, "OK");
}

#[test]
fn inbox_rules() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let (st, _) = c.status("DELETE INBOX");
    assert_eq!(st, "NO");
    let (st, _) = c.status("CREATE inbox");
    assert_eq!(st, "NO");
    c.append("INBOX", "", &message("one", "body"));
    // RENAME INBOX moves its messages and leaves INBOX empty (RFC 3501 §6.3.5).
    c.ok("RENAME inbox Old");
    let r = c.ok("STATUS INBOX (MESSAGES)");
    assert!(has(&r, "(MESSAGES 0)"), "{r:#?}");
    let r = c.ok("STATUS Old (MESSAGES)");
    assert!(has(&r, "(MESSAGES 1)"), "{r:#?}");
    let r = c.ok("LIST \"\" InBoX");
    assert!(has(&r, "\"INBOX\""), "{r:#?}");
}

#[test]
fn subscribe_and_lsub() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.ok("CREATE a/b/c");
    c.ok("SUBSCRIBE a/b/c");
    c.ok("SUBSCRIBE INBOX");
    let r = c.ok("LSUB \"\" *");
    assert!(has(&r, "* LSUB () \"/\" \"a/b/c\""), "{r:#?}");
    assert!(has(&r, "\"INBOX\""));
    // A parent of a subscribed name matched by % is \Noselect in LSUB.
    let r = c.ok("LSUB \"\" %");
    assert!(has(&r, "* LSUB (\\Noselect) \"/\" \"a\""), "{r:#?}");
    let r = c.ok("LIST (SUBSCRIBED) \"\" *");
    assert!(has(&r, "\\Subscribed"), "{r:#?}");
    c.ok("UNSUBSCRIBE a/b/c");
    let r = c.ok("LSUB \"\" *");
    assert!(!has(&r, "a/b/c"), "{r:#?}");
    let (st, _) = c.status("SUBSCRIBE nosuch");
    assert_eq!(st, "NO");
}

#[test]
fn accounts_are_isolated() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    a.ok("CREATE Private");
    a.append("Private", "", &message("secret", "mine"));
    let mut b = Client::login(s.addr, OTHER);
    let r = b.ok("LIST \"\" *");
    assert!(!has(&r, "Private"), "{r:#?}");
    for name in [
        "Private",
        "../user@example.org/Private",
        "INBOX/../Private",
        "/Private",
        "user@example.org/Private",
    ] {
        let (st, _) = b.status(&format!("SELECT \"{name}\""));
        assert_eq!(st, "NO", "{name}");
    }
    let r = b.ok("STATUS INBOX (MESSAGES)");
    assert!(has(&r, "(MESSAGES 0)"));
}

/// A mailbox name sent as raw 8-bit UTF-8 by a client that did not ENABLE UTF8=ACCEPT is
/// refused with NO (as Dovecot), not stored under a name the client never sees again (LIST
/// answers modified UTF-7, so a syncing client would create the folder anew on every run).
#[test]
fn a_raw_utf8_name_without_utf8_accept_is_refused() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    for cmd in [
        "CREATE \"Caf\u{e9}\"",
        "SELECT \"Caf\u{e9}\"",
        "STATUS \"Caf\u{e9}\" (MESSAGES)",
        "RENAME INBOX \"Caf\u{e9}\"",
        "SUBSCRIBE \"Caf\u{e9}\"",
        "APPEND \"Caf\u{e9}\" {1+}\r\nx",
    ] {
        let (st, r) = c.status(cmd);
        assert_eq!(st, "NO", "{cmd}: {r:#?}");
    }
    let r = c.ok("LIST \"\" *");
    assert!(!has(&r, "Caf"), "{r:#?}");
    // The same name in modified UTF-7 is fine; it is listed as sent.
    c.ok(&format!("CREATE {}", enc("Café")));
    let r = c.ok("LIST \"\" Caf*");
    assert!(has(&r, &enc("Café")), "{r:#?}");
    // After ENABLE UTF8=ACCEPT raw UTF-8 is the name (RFC 6855 §3).
    c.ok("ENABLE UTF8=ACCEPT");
    c.ok("CREATE \"Caf\u{e9}/Menu\"");
    let r = c.ok("LIST \"\" \"Caf\u{e9}/*\"");
    assert!(has(&r, "\"Caf\u{e9}/Menu\""), "{r:#?}");
}
