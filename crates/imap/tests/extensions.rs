//! Extensions across command families: OBJECTID (RFC 8474) in SELECT, STATUS and FETCH; ID,
//! NAMESPACE, UNSELECT, SAVEDATE, STATUS=SIZE, WITHIN in one session.

mod common;

use common::*;

#[test]
fn object_ids() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let r = c.ok("CREATE Projects");
    assert!(r.last().unwrap().contains("[MAILBOXID (M"), "{r:#?}");
    let id = r
        .last()
        .unwrap()
        .split("MAILBOXID (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .to_string();
    c.ok("RENAME Projects Work");
    let r = c.ok("STATUS Work (MAILBOXID MESSAGES)");
    assert!(
        has(&r, &format!("MAILBOXID ({id})")),
        "a renamed mailbox keeps its id: {r:#?}"
    );
    c.append("Work", "", &message("obj", "x"));
    let r = c.ok("SELECT Work");
    assert!(has(&r, &format!("* OK [MAILBOXID ({id})]")), "{r:#?}");
    let r = c.ok("FETCH 1 (EMAILID THREADID)");
    assert!(
        r[0].contains("EMAILID (E") && r[0].contains("THREADID NIL"),
        "{r:#?}"
    );
    let email = r[0]
        .split("EMAILID (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .to_string();
    c.ok("COPY 1 INBOX");
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (EMAILID)");
    assert!(
        r[0].contains(&format!("EMAILID ({email})")),
        "copies share EMAILID: {r:#?}"
    );
    let r = c.ok(&format!("SEARCH EMAILID {email}"));
    assert_eq!(r[0], "* SEARCH 1");
}

#[test]
fn small_extensions() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let r = c.ok("ID (\"name\" \"test\")");
    assert!(r[0].starts_with("* ID (\"name\" \"Pochta\""), "{r:#?}");
    let r = c.ok("NAMESPACE");
    assert_eq!(
        r[0],
        "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Public/\" \"/\"))"
    );
    c.append("INBOX", "", &message("s", "x"));
    let r = c.ok("STATUS INBOX (SIZE DELETED)");
    assert!(
        r[0].contains("SIZE ") && r[0].contains("DELETED 0"),
        "{r:#?}"
    );
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (SAVEDATE)");
    assert!(r[0].contains("SAVEDATE \""), "{r:#?}");
    let r = c.ok("SEARCH YOUNGER 3600");
    assert_eq!(r[0], "* SEARCH 1");
    let r = c.ok("SEARCH OLDER 3600");
    assert_eq!(r[0], "* SEARCH");
    let r = c.ok("UNSELECT");
    assert_eq!(r.len(), 1);
    let (st, _) = c.status("FETCH 1 FLAGS");
    assert_eq!(st, "BAD");
}

/// The largest ID RFC 2971 §3.3 allows (30 pairs, 1024-octet values: about 32 KiB on one line)
/// is answered before login too: the pre-login budget (`Limits::PRE_AUTH`) must fit it
/// (imaptest's `id` group sends one in the not-authenticated state).
#[test]
fn largest_id_before_login() {
    let s = start();
    let mut c = Client::connect(s.addr);
    let pairs: Vec<String> = (0..30)
        .map(|i| format!("\"field{i:02}\" \"{}\"", "v".repeat(1024)))
        .collect();
    let line = format!("ID ({})", pairs.join(" "));
    assert!(line.len() > 31_000, "{}", line.len());
    let r = c.ok(&line);
    assert!(r[0].starts_with("* ID ("), "{r:#?}");
    // The session goes on and can still log in.
    c.ok("NOOP");
}
