//! PARTIAL (RFC 9394): paged SEARCH and FETCH over TCP.

mod common;

use common::*;

#[test]
fn paged_search_sees_another_sessions_appends() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    let r = a.ok("CAPABILITY");
    assert!(has(&r, " PARTIAL"), "{r:#?}");
    for i in 1..=10 {
        a.append("INBOX", "", &message(&format!("m{i}"), "x"));
    }
    b.ok("SELECT INBOX");
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)");

    let r = b.ok("UID SEARCH RETURN (PARTIAL 1:3) UNDELETED");
    assert!(has(&r, "UID PARTIAL (1:3 1,3:4)"), "{r:#?}");
    let r = b.ok("UID SEARCH RETURN (PARTIAL -1:-3 COUNT) UNDELETED");
    assert!(has(&r, "PARTIAL (-1:-3 8:10)"), "{r:#?}");
    assert!(has(&r, "COUNT 9"), "{r:#?}");
    // Ends in either order; a page past the end is NIL.
    let r = b.ok("SEARCH RETURN (PARTIAL 5:4) ALL");
    assert!(has(&r, "PARTIAL (4:5 4:5)"), "{r:#?}");
    let r = b.ok("SEARCH RETURN (PARTIAL 20:30) ALL");
    assert!(has(&r, "PARTIAL (20:30 NIL)"), "{r:#?}");

    // A appends two more; once B has been told (EXISTS), its page of the last results
    // shows them.
    a.append("INBOX", "", &message("m11", "x"));
    a.append("INBOX", "", &message("m12", "x"));
    let r = b.ok("NOOP");
    assert!(has(&r, "* 12 EXISTS"), "{r:#?}");
    let r = b.ok("UID SEARCH RETURN (PARTIAL -1:-2) ALL");
    assert!(has(&r, "PARTIAL (-1:-2 11:12)"), "{r:#?}");

    // Refused combinations and syntax.
    for cmd in [
        "SEARCH RETURN (PARTIAL 1:2 ALL) ALL",
        "SEARCH RETURN (PARTIAL 1:-2) ALL",
        "SEARCH RETURN (PARTIAL 0:2) ALL",
    ] {
        let (w, r) = b.status(cmd);
        assert_eq!(w, "BAD", "{cmd}: {r:#?}");
    }

    // SAVE keeps the page.
    b.ok("UID SEARCH RETURN (SAVE PARTIAL -1:-2) ALL");
    let r = b.ok("UID FETCH $ (UID)");
    assert!(
        has(&r, "FETCH (UID 11)") && has(&r, "FETCH (UID 12)"),
        "{r:#?}"
    );
    assert_eq!(r.len(), 3, "{r:#?}");
}

#[test]
fn paged_fetch() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    for i in 1..=6 {
        a.append("INBOX", "", &message(&format!("m{i}"), "x"));
    }
    a.ok("SELECT INBOX");
    b.ok("SELECT INBOX");
    let r = a.ok("UID FETCH 1:* (FLAGS) (PARTIAL -1:-2)");
    assert_eq!(r.len(), 3, "{r:#?}");
    assert!(
        has(&r, "* 5 FETCH (UID 5 FLAGS") && has(&r, "* 6 FETCH (UID 6 FLAGS"),
        "{r:#?}"
    );
    let r = a.ok("FETCH 2:* (UID) (PARTIAL 1:2)");
    assert_eq!(r.len(), 3, "{r:#?}");
    assert!(
        has(&r, "* 2 FETCH (UID 2)") && has(&r, "* 3 FETCH (UID 3)"),
        "{r:#?}"
    );
    // With CHANGEDSINCE: pages of what changed, after another session's change.
    let r = a.ok("FETCH 1 (MODSEQ)");
    // The first CONDSTORE-enabling command also sends `* OK [HIGHESTMODSEQ …]` (RFC 7162 §3.1).
    let modseq: u64 = r
        .iter()
        .find(|l| l.contains(" FETCH "))
        .expect("a FETCH line")
        .split("MODSEQ (")
        .nth(1)
        .and_then(|x| x.split(')').next())
        .and_then(|x| x.parse().ok())
        .expect("modseq");
    let last = a.ok("UID FETCH 6 (MODSEQ)");
    let high: u64 = last[0]
        .split("MODSEQ (")
        .nth(1)
        .and_then(|x| x.split(')').next())
        .and_then(|x| x.parse().ok())
        .expect("modseq");
    assert!(high >= modseq);
    b.ok("STORE 1,3,4 +FLAGS (\\Flagged)");
    a.ok("NOOP");
    let r = a.ok(&format!(
        "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {high} PARTIAL 1:2)"
    ));
    assert_eq!(r.len(), 3, "{r:#?}");
    assert!(has(&r, "(UID 1 ") && has(&r, "(UID 3 "), "{r:#?}");
    let (w, _) = a.status("FETCH 1:* (FLAGS) (PARTIAL 1:-2)");
    assert_eq!(w, "BAD");
}
