//! NOTIFY (RFC 5465) over TCP with two sessions: session A asks for notifications and gets
//! them without sending a command (read with a deadline), session B makes the changes.

mod common;

use common::*;

/// Read unsolicited responses until one contains `needle` (each read waits up to the push
/// deadline); returns everything read.
fn wait_for(c: &mut Client, needle: &str) -> Vec<String> {
    let mut got = Vec::new();
    loop {
        let r = c.wait_response(needle);
        let done = r.contains(needle);
        got.push(r);
        if done {
            return got;
        }
        assert!(got.len() < 50, "never saw {needle}: {got:#?}");
    }
}

const SET: &str = "NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange)) \
                   (personal (MessageNew MessageExpunge MailboxName SubscriptionChange))";

#[test]
fn selected_and_personal_events_arrive_without_a_command() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    let caps = a.ok("CAPABILITY");
    assert!(has(&caps, " NOTIFY"), "{caps:#?}");
    a.append("INBOX", "", &message("one", "x"));
    b.ok("CREATE Other");
    a.ok("SELECT INBOX");
    let r = a.ok(SET);
    assert_eq!(r.len(), 1, "no STATUS without the STATUS indicator: {r:#?}");

    // MessageNew in the selected mailbox: EXISTS, then the FETCH asked for (§5.2).
    b.append("INBOX", "", &message("two", "y"));
    let r = wait_for(&mut a, "FETCH");
    assert!(has(&r, "* 2 EXISTS"), "{r:#?}");
    assert!(has(&r, "* 2 FETCH (UID 2 FLAGS ("), "{r:#?}");

    // FlagChange: FETCH with UID and FLAGS (§5.1).
    b.ok("SELECT INBOX");
    b.ok("STORE 1 +FLAGS (\\Flagged)");
    let r = wait_for(&mut a, "FLAGS (\\Flagged");
    assert!(has(&r, "* 1 FETCH (UID 1 FLAGS (\\Flagged"), "{r:#?}");

    // MessageExpunge: EXPUNGE at once with SELECTED (§5.3, §6.1.1).
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    b.ok("EXPUNGE");
    let r = wait_for(&mut a, "EXPUNGE");
    assert!(has(&r, "* 1 EXPUNGE"), "{r:#?}");

    // Another mailbox: STATUS (UIDNEXT MESSAGES) (§5.2).
    b.append("Other", "", &message("three", "z"));
    let r = wait_for(&mut a, "* STATUS");
    assert!(
        has(&r, "* STATUS \"Other\" (UIDNEXT 2 MESSAGES 1)"),
        "{r:#?}"
    );
    // ... and expunged there (§5.3).
    b.ok("SELECT Other");
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    b.ok("CLOSE");
    let r = wait_for(&mut a, "* STATUS");
    assert!(
        has(&r, "* STATUS \"Other\" (UIDNEXT 2 MESSAGES 0)"),
        "{r:#?}"
    );

    // MailboxName: create, rename (OLDNAME), delete (\NonExistent) (§5.4).
    b.ok("CREATE Fresh");
    let r = wait_for(&mut a, "Fresh");
    assert!(
        has(&r, "* LIST (\\HasNoChildren) \"/\" \"Fresh\""),
        "{r:#?}"
    );
    b.ok("RENAME Fresh Renamed");
    let r = wait_for(&mut a, "Renamed");
    assert!(
        has(
            &r,
            "* LIST (\\HasNoChildren) \"/\" \"Renamed\" (\"OLDNAME\" (\"Fresh\"))"
        ),
        "{r:#?}"
    );
    b.ok("DELETE Renamed");
    let r = wait_for(&mut a, "Renamed");
    assert!(
        has(&r, "* LIST (\\NonExistent) \"/\" \"Renamed\""),
        "{r:#?}"
    );

    // SubscriptionChange (§5.5).
    b.ok("SUBSCRIBE Other");
    let r = wait_for(&mut a, "\\Subscribed");
    assert!(
        has(&r, "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Other\""),
        "{r:#?}"
    );
    b.ok("UNSUBSCRIBE Other");
    let r = wait_for(&mut a, "Other");
    assert!(
        has(&r, "* LIST (\\HasNoChildren) \"/\" \"Other\""),
        "{r:#?}"
    );

    // The session's own changes are not reported back to it (§5): its own APPEND to the
    // selected mailbox gets EXISTS but no MessageNew FETCH (§5.2).
    a.ok("CREATE Mine");
    a.append("Other", "", &message("mine", "m"));
    let r = a.append("INBOX", "", &message("own", "o"));
    assert!(has(&r, "EXISTS"), "{r:#?}");
    assert!(!has(&r, "FETCH"), "{r:#?}");
    // NOTIFY NONE stops it: B's changes now reach A only as an answer to a command.
    a.ok("NOTIFY NONE");
    b.ok("CREATE Quiet");
    b.append("INBOX", "", &message("four", "w"));
    // A NOOP round trip of B's after the changes, then A's NOOP: nothing unsolicited came
    // before A's own command's answers, and the NOOP reports the new message.
    b.ok("NOOP");
    let r = a.ok("NOOP");
    assert!(
        !r.iter().any(|l| l.contains("LIST") || l.contains("STATUS")),
        "{r:#?}"
    );
    assert!(has(&r, "EXISTS"), "{r:#?}");
}

#[test]
fn status_indicator_selected_delayed_and_errors() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    b.ok("CREATE Box");
    b.append("Box", "", &message("one", "x"));
    // The initial STATUS per event (§3.1).
    let r = a.ok("NOTIFY SET STATUS (mailboxes Box (MessageNew MessageExpunge))");
    assert!(
        has(&r, "* STATUS \"Box\" (MESSAGES 1 UIDNEXT 2 UIDVALIDITY "),
        "{r:#?}"
    );
    let r = a.ok("NOTIFY SET STATUS (mailboxes Box (MessageNew MessageExpunge FlagChange))");
    assert!(has(&r, "HIGHESTMODSEQ"), "{r:#?}");

    // Errors of §§3.1, 5, 6.1.
    let (w, r) = a.status("NOTIFY SET (personal (MessageNew Frobnicate))");
    assert_eq!(w, "NO", "{r:#?}");
    assert!(
        has(&r, "[BADEVENT (MessageNew MessageExpunge FlagChange"),
        "{r:#?}"
    );
    for bad in [
        "NOTIFY SET (selected (MessageNew))",
        "NOTIFY SET (selected (MessageExpunge FlagChange))",
        "NOTIFY SET (selected (MessageNew MessageExpunge MailboxName))",
        "NOTIFY SET (selected (MessageNew MessageExpunge)) (selected-delayed (MessageNew MessageExpunge))",
        "NOTIFY SET (personal (MessageNew (UID) MessageExpunge))",
        "NOTIFY SET (personal)",
    ] {
        let (w, r) = a.status(bad);
        assert_eq!(w, "BAD", "{bad}: {r:#?}");
    }
    // A failed NOTIFY leaves the previous one in force.
    b.append("Box", "", &message("two", "x"));
    let r = a.wait_response("STATUS after a refused NOTIFY");
    assert!(r.starts_with("* STATUS \"Box\""), "{r}");

    // SELECTED-DELAYED: EXISTS at once, EXPUNGE only when a command allows it (§6.1.2).
    a.ok("SELECT Box");
    a.ok("NOTIFY SET (selected-delayed (MessageNew MessageExpunge))");
    b.ok("SELECT Box");
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    b.ok("EXPUNGE");
    b.append("Box", "", &message("three", "x"));
    let r = wait_for(&mut a, "EXISTS");
    assert!(has(&r, "* 3 EXISTS"), "{r:#?}");
    assert!(!has(&r, "EXPUNGE"), "{r:#?}");
    // Sequence numbers stay as the client knows them (message 2 is still UID 2) until a
    // command that allows it reports the expunge: NOOP.
    let r = a.ok("FETCH 2 (UID)");
    assert!(has(&r, "* 2 FETCH (UID 2)"), "{r:#?}");
    assert!(!has(&r, "EXPUNGE"), "{r:#?}");
    let r = a.ok("NOOP");
    assert!(has(&r, "* 1 EXPUNGE"), "{r:#?}");

    // In IDLE the same events are sent as NOTIFY asked (§4), expunges included.
    a.send(b"i1 IDLE\r\n");
    assert!(a.read_response().starts_with("+ "));
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    b.ok("EXPUNGE");
    let r = wait_for(&mut a, "EXPUNGE");
    assert!(has(&r, "* 1 EXPUNGE"), "{r:#?}");
    a.send(b"DONE\r\n");
    let r = a.read_until("i1");
    assert!(r.last().unwrap().starts_with("i1 OK"), "{r:#?}");
}

#[test]
fn metadata_changes_are_notified() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    a.ok("NOTIFY SET (personal (MailboxMetadataChange)) (mailboxes INBOX (ServerMetadataChange))");
    b.ok("SETMETADATA INBOX (/shared/comment \"hello\")");
    let r = a.wait_response("the METADATA notification");
    assert_eq!(r, "* METADATA \"INBOX\" \"/shared/comment\"");
    b.ok("SETMETADATA \"\" (/private/vendor/x \"1\")");
    let r = a.wait_response("the server METADATA notification");
    assert_eq!(r, "* METADATA \"\" \"/private/vendor/x\"");
    // Removal is reported too (§5.6), and not to the session that made it.
    b.ok("NOTIFY SET (personal (MailboxMetadataChange))");
    b.ok("SETMETADATA INBOX (/shared/comment NIL)");
    let r = a.wait_response("the METADATA removal");
    assert_eq!(r, "* METADATA \"INBOX\" \"/shared/comment\"");
    let r = b.ok("NOOP");
    assert_eq!(r.len(), 1, "{r:#?}");
}

/// The budget (§5.8, §9): at most 1000 mailboxes watched for message events per session.
#[test]
fn watching_too_many_mailboxes_overflows() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    // Every account starts with 6 mailboxes; 990 more make 996, pipelined in one write.
    let mut burst = String::new();
    for i in 0..990 {
        burst.push_str(&format!("c{i} CREATE box{i}\r\n"));
    }
    b.send(burst.as_bytes());
    b.read_until("c989");
    let set = "NOTIFY SET (personal (MessageNew MessageExpunge)) (personal (MailboxName))";
    a.ok(set);
    // Growing past the budget later: untagged OK [NOTIFICATIONOVERFLOW], then NOTIFY NONE.
    for i in 0..5 {
        b.ok(&format!("CREATE more{i}"));
    }
    let r = wait_for(&mut a, "NOTIFICATIONOVERFLOW");
    assert!(
        r.last().unwrap().starts_with("* OK [NOTIFICATIONOVERFLOW]"),
        "{r:#?}"
    );
    b.ok("CREATE after");
    b.ok("NOOP");
    let r = a.ok("NOOP");
    assert_eq!(r.len(), 1, "nothing more after the overflow: {r:#?}");
    // Asking for more than the budget is refused at once.
    let (w, r) = a.status(set);
    assert_eq!(w, "NO", "{r:#?}");
    assert!(has(&r, "[NOTIFICATIONOVERFLOW]"), "{r:#?}");
    // ... and a smaller set is fine.
    a.ok("NOTIFY SET (mailboxes INBOX (MessageNew MessageExpunge))");
}
