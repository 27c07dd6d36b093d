//! UIDONLY (RFC 9586) over TCP.

mod common;

use common::*;

#[test]
fn uidonly_refuses_sequence_numbers_and_reports_by_uid() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    let r = a.ok("CAPABILITY");
    assert!(has(&r, " UIDONLY"), "{r:#?}");
    for i in 1..=4 {
        a.append("INBOX", "", &message(&format!("m{i}"), "x"));
    }
    let r = a.ok("ENABLE UIDONLY");
    assert!(has(&r, "* ENABLED UIDONLY"), "{r:#?}");
    a.ok("SELECT INBOX");
    b.ok("SELECT INBOX");

    // Sequence numbers are refused (RFC 9586 §3.2).
    for cmd in [
        "FETCH 1 (FLAGS)",
        "STORE 1 +FLAGS (\\Seen)",
        "SEARCH ALL",
        "COPY 1 Archive",
        "MOVE 1 Archive",
    ] {
        let r = a.cmd(cmd);
        let last = r.last().expect("reply");
        assert!(last.contains(" BAD [UIDREQUIRED]"), "{cmd}: {r:#?}");
    }
    // UID forms answer with UIDFETCH.
    let r = a.ok("UID FETCH 2:3 (FLAGS)");
    assert!(has(&r, "* 2 UIDFETCH (UID 2 FLAGS ("), "{r:#?}");
    assert!(has(&r, "* 3 UIDFETCH (UID 3 FLAGS ("), "{r:#?}");
    assert!(!has(&r, " FETCH ("), "{r:#?}");
    let r = a.ok("UID STORE 4 +FLAGS (\\Seen)");
    assert!(has(&r, "* 4 UIDFETCH (UID 4 FLAGS (\\Seen"), "{r:#?}");
    let r = a.ok("UID SEARCH SEEN");
    assert!(has(&r, "4"), "{r:#?}");

    // The other session's changes: flags as UIDFETCH, expunges as VANISHED.
    b.ok("STORE 3 +FLAGS (\\Flagged)");
    let r = a.ok("NOOP");
    assert!(has(&r, "* 3 UIDFETCH (UID 3 FLAGS (\\Flagged"), "{r:#?}");
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    b.ok("EXPUNGE");
    let r = a.ok("NOOP");
    assert!(has(&r, "* VANISHED 1"), "{r:#?}");
    assert!(!has(&r, "EXPUNGE"), "{r:#?}");
    // The other session (without UIDONLY) still gets sequence numbers.
    a.ok("UID STORE 2 +FLAGS.SILENT (\\Deleted)");
    let r = a.ok("EXPUNGE");
    assert!(has(&r, "* VANISHED 2"), "{r:#?}");
    let r = b.ok("NOOP");
    assert!(has(&r, "* 1 EXPUNGE"), "{r:#?}");
    let r = b.ok("FETCH 1:* (UID)");
    assert!(has(&r, "* 1 FETCH (UID 3)"), "{r:#?}");
    // New messages are still counted with EXISTS.
    b.append("INBOX", "", &message("m5", "x"));
    let r = a.ok("NOOP");
    assert!(has(&r, "* 3 EXISTS"), "{r:#?}");
}
