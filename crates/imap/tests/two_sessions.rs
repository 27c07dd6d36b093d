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

/// Index of the first response line that starts with `start` and contains `needle`.
fn line_of(r: &[String], start: &str, needle: &str) -> Option<usize> {
    r.iter()
        .position(|l| l.starts_with(start) && l.contains(needle))
}

/// RFC 3501 §7.2.6, RFC 9051 §7.3.5: a session is told the new flag set (FLAGS, and
/// PERMANENTFLAGS) before any FETCH shows a keyword defined by another session, whether the
/// keyword reaches it as an unsolicited FETCH (NOOP) or in the answer to its own FETCH.
#[test]
fn a_keyword_defined_elsewhere_is_announced_before_a_fetch_shows_it() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    a.append("INBOX", "", &message("one", "x"));
    a.append("INBOX", "", &message("two", "x"));
    let r = a.ok("SELECT INBOX");
    assert!(line_of(&r, "* FLAGS (", "$Hello").is_none(), "{r:#?}");
    b.ok("SELECT INBOX");

    // The keyword reaches A in the answer to A's own FETCH.
    b.ok("STORE 1 +FLAGS ($Hello)");
    let r = a.ok("FETCH 1 (FLAGS)");
    let flags = line_of(&r, "* FLAGS (", "$Hello").unwrap_or_else(|| panic!("{r:#?}"));
    let perm =
        line_of(&r, "* OK [PERMANENTFLAGS (", "$Hello \\*)").unwrap_or_else(|| panic!("{r:#?}"));
    let fetch = line_of(&r, "* 1 FETCH", "$Hello").unwrap_or_else(|| panic!("{r:#?}"));
    assert!(flags < fetch && perm < fetch, "{r:#?}");
    // The full set: system flags too.
    assert!(
        r[flags].contains("\\Answered") && r[flags].contains("\\Draft"),
        "{r:#?}"
    );

    // As an unsolicited FETCH after another session's STORE.
    b.ok("STORE 2 +FLAGS ($World)");
    let r = a.ok("NOOP");
    let flags = line_of(&r, "* FLAGS (", "$World").unwrap_or_else(|| panic!("{r:#?}"));
    assert!(
        r[flags].contains("$Hello"),
        "keywords stay announced: {r:#?}"
    );
    let fetch = line_of(&r, "* 2 FETCH", "$World").unwrap_or_else(|| panic!("{r:#?}"));
    assert!(flags < fetch, "{r:#?}");

    // Known keywords are not announced again; the keyword is not new to B either (B's own
    // STORE announced it to B).
    b.ok("STORE 1 +FLAGS ($World)");
    let r = a.ok("NOOP");
    assert!(line_of(&r, "* FLAGS", "").is_none(), "{r:#?}");
    assert!(line_of(&r, "* 1 FETCH", "$World").is_some(), "{r:#?}");
    let r = b.ok("FETCH 1:2 (FLAGS)");
    assert!(line_of(&r, "* FLAGS", "").is_none(), "{r:#?}");
}

/// A STORE that defines a keyword announces it to its own session first, also with .SILENT.
#[test]
fn a_keyword_defined_by_the_session_itself_is_announced_first() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    a.append("INBOX", "", &message("one", "x"));
    a.ok("SELECT INBOX");
    let r = a.ok("STORE 1 +FLAGS ($Own)");
    let flags = line_of(&r, "* FLAGS (", "$Own").unwrap_or_else(|| panic!("{r:#?}"));
    let fetch = line_of(&r, "* 1 FETCH", "$Own").unwrap_or_else(|| panic!("{r:#?}"));
    assert!(flags < fetch, "{r:#?}");
    let r = a.ok("STORE 1 +FLAGS.SILENT ($Quiet)");
    assert!(line_of(&r, "* FLAGS (", "$Quiet").is_some(), "{r:#?}");
    let r = a.ok("FETCH 1 (FLAGS)");
    assert!(line_of(&r, "* FLAGS", "").is_none(), "{r:#?}");
    assert!(line_of(&r, "* 1 FETCH", "$Quiet").is_some(), "{r:#?}");
}

/// SEARCH/SORT/THREAD ALL answer from the session's view (no store read): a message another
/// session expunged is still in this client's view until its EXPUNGE is sent (RFC 9051
/// §7.5.1), so ALL names it (SORT and THREAD may drop a message whose data is gone); after
/// NOOP reports the EXPUNGE, none names it.
#[test]
fn all_follows_the_view_across_another_sessions_expunge() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    for subject in ["one", "two", "three"] {
        a.append("INBOX", "", &message(subject, "x"));
    }
    a.ok("SELECT INBOX");
    b.ok("SELECT INBOX");
    let r = a.ok("SEARCH ALL");
    assert!(has(&r, "* SEARCH 1 2 3"), "{r:#?}");
    b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)");
    b.ok("EXPUNGE");
    let r = a.ok("SEARCH ALL");
    assert!(has(&r, "* SEARCH 1 2 3"), "{r:#?}");
    assert!(!has(&r, "EXPUNGE"), "{r:#?}");
    let sort = a.ok("SORT (SUBJECT) UTF-8 ALL");
    let line = sort
        .iter()
        .find(|l| l.starts_with("* SORT"))
        .expect("a SORT answer");
    assert!(
        line == "* SORT 1 3 2" || line == "* SORT 1 3",
        "the view's order by subject, the expunged message last or dropped: {sort:#?}"
    );
    let thread = a.ok("THREAD ORDEREDSUBJECT UTF-8 ALL");
    assert!(
        thread.iter().any(|l| l.starts_with("* THREAD")),
        "{thread:#?}"
    );
    let r = a.ok("NOOP");
    assert!(has(&r, "* 2 EXPUNGE"), "{r:#?}");
    let r = a.ok("SEARCH ALL");
    assert!(has(&r, "* SEARCH 1 2"), "{r:#?}");
    let r = a.ok("SORT (SUBJECT) UTF-8 ALL");
    assert!(has(&r, "* SORT 1 2"), "{r:#?}");
}
