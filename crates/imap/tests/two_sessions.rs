//! What one session sees of another's changes (RFC 3501 §5.2, §7.4.1; RFC 2177 IDLE).

mod common;

use common::*;

#[test]
fn exists_recent_flags_and_expunge_reach_the_other_session() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    a.append("INBOX", "", &message("one", "x"));
    a.append("INBOX", "", &message("two", "x"));
    a.ok("SELECT INBOX");
    b.ok("SELECT INBOX");

    // B appends; its own APPEND response announces the message to B first, so the new
    // message is recent to B; A learns of it at its next command, not as recent.
    let r = b.append("INBOX", "", &message("three", "x"));
    assert!(has(&r, "* 3 EXISTS"), "{r:#?}");
    assert!(has(&r, "* 1 RECENT"), "{r:#?}");
    let r = a.ok("NOOP");
    assert!(has(&r, "* 3 EXISTS"), "{r:#?}");
    assert!(
        has(&r, "* 2 RECENT"),
        "A keeps its two recent ones only: {r:#?}"
    );
    let r = b.ok("NOOP");
    assert_eq!(r.len(), 1, "{r:#?}");

    // B changes flags; A gets an untagged FETCH.
    b.ok("STORE 1 +FLAGS (\\Flagged)");
    let r = a.ok("NOOP");
    assert!(has(&r, "* 1 FETCH (UID 1 FLAGS (\\Flagged"), "{r:#?}");
    // ...only once.
    let r = a.ok("NOOP");
    assert_eq!(r.len(), 1, "{r:#?}");

    // B expunges message 1; A must not get EXPUNGE during FETCH/STORE/SEARCH.
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    b.ok("EXPUNGE");
    let r = a.ok("FETCH 1:* (UID)");
    assert!(!has(&r, "EXPUNGE"), "{r:#?}");
    let r = a.ok("SEARCH ALL");
    assert!(!has(&r, "EXPUNGE"), "{r:#?}");
    let r = a.ok("STORE 2 +FLAGS.SILENT (\\Seen)");
    assert!(!has(&r, "EXPUNGE"), "{r:#?}");
    // Sequence numbers stay stable meanwhile: 3 still means UID 3.
    let r = a.ok("FETCH 3 (UID)");
    assert!(has(&r, "* 3 FETCH (UID 3)"), "{r:#?}");
    // UID commands and NOOP may carry it.
    let r = a.ok("NOOP");
    assert!(has(&r, "* 1 EXPUNGE"), "{r:#?}");
    let r = a.ok("FETCH 1:* (UID)");
    assert_eq!(r.len(), 3, "{r:#?}");
    assert!(has(&r, "* 1 FETCH (UID 2)"));
    assert!(has(&r, "* 2 FETCH (UID 3)"));
}

#[test]
fn uid_fetch_may_report_expunge() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    a.append("INBOX", "", &message("one", "x"));
    a.append("INBOX", "", &message("two", "x"));
    a.ok("SELECT INBOX");
    b.ok("SELECT INBOX");
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)");
    b.ok("EXPUNGE");
    let r = a.ok("UID FETCH 1:* FLAGS");
    assert!(has(&r, "* 2 EXPUNGE"), "{r:#?}");
}

#[test]
fn idle_sees_an_append_from_another_connection() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    a.ok("SELECT INBOX");
    b.ok("EXAMINE INBOX");
    a.send(b"i1 IDLE\r\n");
    let cont = a.read_response();
    assert!(cont.starts_with("+ "), "{cont}");
    b.append("INBOX", "", &message("pushed", "x"));
    let r = a.wait_response("the IDLE push of the other session's APPEND");
    assert_eq!(r, "* 1 EXISTS");
    let r = a.read_response();
    assert_eq!(r, "* 1 RECENT");
    b.ok("SELECT INBOX");
    b.ok("STORE 1 +FLAGS (\\Seen)");
    let r = a.read_response();
    assert!(
        r.starts_with("* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))"),
        "{r}"
    );
    a.send(b"DONE\r\n");
    let r = a.read_until("i1");
    assert!(r.last().unwrap().starts_with("i1 OK"), "{r:#?}");
    a.ok("NOOP");
}

#[test]
fn rename_and_delete_seen_by_other_session() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    a.ok("CREATE Shared");
    let r = b.ok("LIST \"\" Shared");
    assert!(has(&r, "\"Shared\""), "{r:#?}");
    a.ok("RENAME Shared Renamed");
    let r = b.ok("LIST \"\" *");
    assert!(has(&r, "\"Renamed\"") && !has(&r, "\"Shared\""), "{r:#?}");
    a.ok("DELETE Renamed");
    let (st, _) = b.status("SELECT Renamed");
    assert_eq!(st, "NO");
}
