//! SELECT, EXAMINE, CLOSE, UNSELECT (RFC 3501 §6.3.1–6.3.2, §6.4.2, RFC 3691).

mod common;

use common::*;

#[test]
fn examine_is_read_only() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.append("INBOX", "", &message("a", "b"));
    let r = c.ok("EXAMINE INBOX");
    assert!(r.last().unwrap().contains("[READ-ONLY]"));
    assert!(has(&r, "[PERMANENTFLAGS ()]"));
    // RFC 3501 §6.3.2: EXAMINE reports RECENT like SELECT, but claims nothing.
    assert!(has(&r, "* 1 RECENT"), "EXAMINE reports RECENT: {r:#?}");
    let r = c.ok("FETCH 1 BODY[]");
    assert!(!r[0].contains("\\Seen"), "{r:#?}");
    let (st, _) = c.status("STORE 1 +FLAGS (\\Deleted)");
    assert_eq!(st, "NO");
    let (st, _) = c.status("EXPUNGE");
    assert_eq!(st, "NO");
    let r = c.ok("SELECT INBOX");
    assert!(has(&r, "* 1 RECENT"), "EXAMINE claimed nothing: {r:#?}");
    // The SELECT did claim it.
    let r = c.ok("EXAMINE INBOX");
    assert!(has(&r, "* 0 RECENT"), "{r:#?}");
}
