//! REPLACE and UID REPLACE (RFC 8508) over TCP.

mod common;

use common::*;

/// Send `tag REPLACE...` whose last argument is a synchronizing literal holding `msg`.
fn replace(c: &mut Client, tag: &str, head: &str, msg: &[u8]) -> Vec<String> {
    c.send(format!("{tag} {head} {{{}}}\r\n", msg.len()).as_bytes());
    let cont = c.read_response();
    if !cont.starts_with('+') {
        return vec![cont];
    }
    c.send(msg);
    c.send(b"\r\n");
    c.read_until(tag)
}

#[test]
fn capability_is_advertised() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let r = a.ok("CAPABILITY");
    assert!(has(&r, " REPLACE"), "{r:#?}");
}

#[test]
fn replace_in_the_selected_mailbox_is_seen_by_another_session() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    a.append("Drafts", "\\Draft", &message("draft one", "v1"));
    a.append("Drafts", "", &message("other", "x"));
    a.ok("SELECT Drafts");
    b.ok("SELECT Drafts");
    let r = replace(
        &mut a,
        "r1",
        "REPLACE 1 Drafts (\\Draft \\Seen)",
        &message("draft two", "v2"),
    );
    let last = r.last().expect("reply");
    assert!(last.starts_with("r1 OK"), "{r:#?}");
    // RFC 8508 §3.3: APPENDUID in an untagged OK, then the EXPUNGE and EXISTS (here the
    // expunge comes first, so the count already excludes the replaced message).
    let pos = |needle: &str| r.iter().position(|l| l.contains(needle));
    let appenduid = pos("* OK [APPENDUID ").expect("APPENDUID");
    assert!(r[appenduid].contains(" 3]"), "{r:#?}");
    let expunge = pos("* 1 EXPUNGE").expect("EXPUNGE");
    let exists = pos("* 2 EXISTS").expect("EXISTS");
    assert!(appenduid < expunge && expunge < exists, "{r:#?}");
    let r = a.ok("UID FETCH 1:* (FLAGS BODY[HEADER.FIELDS (SUBJECT)])");
    assert_eq!(r.len(), 3, "{r:#?}");
    assert!(has(&r, "draft two"), "{r:#?}");
    assert!(!has(&r, "draft one"), "{r:#?}");

    // The other session learns both changes at its next command.
    let r = b.ok("NOOP");
    assert!(has(&r, "* 1 EXPUNGE"), "{r:#?}");
    assert!(has(&r, "* 2 EXISTS"), "{r:#?}");
    let r = b.ok("FETCH 1:* (UID)");
    assert!(has(&r, "* 1 FETCH (UID 2)"), "{r:#?}");
    assert!(has(&r, "* 2 FETCH (UID 3)"), "{r:#?}");
}

#[test]
fn uid_replace_into_another_mailbox_and_vanished_with_qresync() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    a.append("INBOX", "", &message("one", "x"));
    a.append("INBOX", "\\Deleted", &message("two", "x"));
    a.ok("ENABLE QRESYNC");
    a.ok("SELECT INBOX");
    b.ok("SELECT Archive");
    let r = replace(
        &mut a,
        "r1",
        "UID REPLACE 1 Archive",
        &message("archived", "y"),
    );
    assert!(r.last().expect("reply").starts_with("r1 OK"), "{r:#?}");
    assert!(has(&r, "* OK [APPENDUID "), "{r:#?}");
    assert!(has(&r, "* VANISHED 1"), "{r:#?}");
    assert!(!has(&r, "EXPUNGE"), "{r:#?}");
    // Only the replaced message went; the other \Deleted one stays.
    let r = a.ok("UID SEARCH ALL");
    assert!(has(&r, "* SEARCH 2") || has(&r, "ALL 2"), "{r:#?}");
    // B, in the target mailbox, sees the new message.
    let r = b.ok("NOOP");
    assert!(has(&r, "* 1 EXISTS"), "{r:#?}");
    let r = b.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert!(has(&r, "archived"), "{r:#?}");
}

#[test]
fn failures_keep_the_old_message() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    a.append("INBOX", "", &message("one", "x"));
    a.ok("SELECT INBOX");
    // A missing target: TRYCREATE, nothing expunged.
    let r = replace(&mut a, "r1", "REPLACE 1 Nowhere", &message("n", "x"));
    assert!(
        r.last().expect("reply").starts_with("r1 NO [TRYCREATE]"),
        "{r:#?}"
    );
    assert!(!has(&r, "EXPUNGE"), "{r:#?}");
    // A UID that does not exist.
    let r = replace(&mut a, "r2", "UID REPLACE 99 INBOX", &message("n", "x"));
    assert!(
        r.last().expect("reply").starts_with("r2 NO [NONEXISTENT]"),
        "{r:#?}"
    );
    // A sequence number out of range.
    let r = replace(&mut a, "r3", "REPLACE 5 INBOX", &message("n", "x"));
    assert!(r.last().expect("reply").starts_with("r3 BAD"), "{r:#?}");
    // Read-only.
    a.ok("EXAMINE INBOX");
    let r = replace(&mut a, "r4", "REPLACE 1 INBOX", &message("n", "x"));
    assert!(
        r.last().expect("reply").starts_with("r4 NO [READ-ONLY]"),
        "{r:#?}"
    );
    // Not selected.
    a.ok("UNSELECT");
    let (w, _) = a.status("REPLACE 1 INBOX {1+}\r\nx");
    assert_eq!(w, "BAD");
    a.ok("SELECT INBOX");
    let r = a.ok("UID FETCH 1:* (UID)");
    assert_eq!(r.len(), 2, "the original is still there: {r:#?}");
}
