//! Sessions against each other and against other writers of the same INBOX: the maildrop
//! lock, the snapshot, UPDATE on QUIT versus a dropped connection, UIDL across sessions.

mod common;

use common::*;
use pochta_store::{FlagOp, MailStore};
use pochta_types::{Flag, Flags};

#[test]
fn second_login_gets_in_use_until_the_first_ends() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::connect(s.addr);
    b.ok(&format!("USER {USER}"));
    assert_eq!(
        b.err(&format!("PASS {PASSWORD}")),
        "-ERR [IN-USE] Maildrop is locked by another POP3 session"
    );
    // Another account is independent.
    let mut other = Client::login(s.addr, OTHER);
    other.ok("STAT");
    // b is still in AUTHORIZATION and may retry once a is gone (QUIT).
    a.ok("QUIT");
    assert!(a.closed());
    b.ok(&format!("USER {USER}"));
    b.ok(&format!("PASS {PASSWORD}"));
    // A dropped connection releases the lock too.
    drop(b);
    let mut d = Client::connect(s.addr);
    // A deadline-bounded poll, generous for a loaded machine.
    let deadline = std::time::Duration::from_secs(30);
    let end = std::time::Instant::now() + deadline;
    let mut ok = false;
    while !ok && std::time::Instant::now() < end {
        d.ok(&format!("USER {USER}"));
        ok = d.cmd(&format!("PASS {PASSWORD}")).starts_with("+OK");
        if !ok {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    assert!(
        ok,
        "the maildrop lock was not released within {deadline:?} after the connection dropped"
    );
}

#[test]
fn snapshot_is_stable_while_inbox_changes() {
    let s = start();
    let (m1, m2, m3) = (message("one", 1), message("two", 2), message("three", 3));
    let uids = s.append(USER, &[&m1, &m2, &m3]);
    let mut c = Client::login(s.addr, USER);
    let before = c.multi("UIDL");
    // Meanwhile (as IMAP would): a new message arrives and message 2 is expunged.
    s.append(USER, &[&message("four", 1)]);
    let inbox = s.inbox(USER);
    s.store
        .store_flags(
            inbox,
            &[uids[1]],
            FlagOp::Add,
            &Flags::from_flags([&Flag::Deleted]),
            None,
        )
        .expect("flag");
    s.store.expunge(inbox, Some(&[uids[1]])).expect("expunge");
    // Numbers, sizes and ids are those of the snapshot.
    assert_eq!(c.multi("UIDL"), before);
    assert_eq!(
        c.ok("STAT"),
        format!("+OK 3 {}", m1.len() + m2.len() + m3.len())
    );
    let (_, body) = c.retr(3);
    assert_eq!(body, m3);
    // Message 2's bytes are gone with it: an -ERR, not a crash, and the session goes on.
    let r = c.err("RETR 2");
    assert!(r.contains("removed by another session"), "{r}");
    c.ok("DELE 1");
    c.ok("QUIT");
    // Next login sees the new state: three, four.
    let mut c = Client::login(s.addr, USER);
    assert_eq!(c.multi("LIST").len(), 2);
    let (_, body) = c.retr(1);
    assert_eq!(body, m3);
}

#[test]
fn quit_expunges_marked_messages_and_a_drop_deletes_nothing() {
    let s = start();
    let msgs: Vec<Vec<u8>> = (0..4).map(|i| message(&format!("m{i}"), 1)).collect();
    let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
    let uids = s.append(USER, &refs);
    let inbox = s.inbox(USER);
    // An IMAP client flagged message 4 \Deleted but did not expunge: POP3 must leave it.
    s.store
        .store_flags(
            inbox,
            &[uids[3]],
            FlagOp::Add,
            &Flags::from_flags([&Flag::Deleted]),
            None,
        )
        .expect("flag");

    // Dropped connection after DELE: nothing deleted, no flag changed.
    let mut c = Client::login(s.addr, USER);
    c.ok("DELE 1");
    c.ok("DELE 2");
    drop(c);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(s.uids(USER), uids);
    let flagged: Vec<_> = s
        .store
        .summaries(inbox)
        .expect("summaries")
        .into_iter()
        .filter(|m| m.flags.contains(&Flag::Deleted))
        .map(|m| m.uid)
        .collect();
    assert_eq!(flagged, vec![uids[3]]);

    // Watch the change bus as an IMAP session does.
    let mut bus = s.store.change_bus().subscribe();
    let mut c = Client::login(s.addr, USER);
    c.ok("DELE 1");
    c.ok("DELE 2");
    assert!(c.ok("QUIT").contains("2 messages deleted"));
    assert_eq!(s.uids(USER), vec![uids[2], uids[3]]);
    let changes = s
        .store
        .changes_since(inbox, pochta_types::ModSeq::MIN)
        .expect("changes");
    assert_eq!(changes.expunged, vec![uids[0], uids[1]]);
    assert!(bus.try_recv().is_ok(), "no change event for IMAP sessions");
}

#[test]
fn uidl_is_stable_across_sessions() {
    let s = start();
    s.append(
        USER,
        &[&message("a", 1), &message("b", 1), &message("c", 1)],
    );
    let mut c = Client::login(s.addr, USER);
    let first = c.multi("UIDL");
    c.ok("DELE 1");
    c.ok("QUIT");
    s.append(USER, &[&message("d", 1)]);
    let mut c = Client::login(s.addr, USER);
    let second = c.multi("UIDL");
    // Same ids for the surviving messages (renumbered), a new id for the new one.
    let ids = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|l| l.split(' ').nth(1).expect("id").to_owned())
            .collect()
    };
    assert_eq!(ids(&second)[..2], ids(&first)[1..]);
    assert_eq!(second.len(), 3);
    assert!(!ids(&first).contains(&ids(&second)[2]));
}

#[test]
fn shutdown_says_goodbye_and_deletes_nothing() {
    let s = start();
    s.append(USER, &[&message("keep", 1)]);
    let mut c = Client::login(s.addr, USER);
    c.ok("DELE 1");
    let store = s.store.clone();
    let inbox = s.inbox(USER);
    drop(s);
    let line = c.line();
    assert!(
        line.starts_with("-ERR [SYS/TEMP] Server shutting down"),
        "{line}"
    );
    assert_eq!(store.summaries(inbox).expect("summaries").len(), 1);
}
