//! The queue database on its own: durability across reopen and simulated crash, state
//! transitions, backoff, give-up, delay warnings, retry and delete.

use std::time::Duration;

use pochta_queue::spool::Reporter;
use pochta_queue::{Envelope, Notify, Outcome, Recipient, Ret, RetryPolicy, Spool, State};

/// The queue over the embedded spool in `dir` (a new store each time: a reopen).
fn open(dir: &std::path::Path) -> Spool {
    let store = pochta_store_embedded::EmbeddedQueueStore::open(dir).unwrap();
    Spool::new(std::sync::Arc::new(store))
}

fn env() -> Envelope {
    Envelope {
        sender: Some("alice@a.test".into()),
        recipients: vec![
            Recipient {
                address: "bob@b.test".into(),
                notify: Some(Notify {
                    success: false,
                    failure: true,
                    delay: true,
                }),
                orcpt: Some(("rfc822".into(), "bob@b.test".into())),
            },
            Recipient::new("carol@c.test"),
        ],
        ret: Some(Ret::Hdrs),
        envid: Some("E1".into()),
        smtputf8: false,
        eight_bit: true,
    }
}

const BODY: &[u8] = b"From: alice@a.test\r\nSubject: x\r\n\r\nbody\r\n";

fn reporter() -> Reporter {
    Reporter {
        hostname: "a.test".into(),
    }
}

fn temp(reply: &str) -> Outcome {
    Outcome::Temporary {
        reply: reply.into(),
        mta: Some("mx.b.test".into()),
    }
}

#[test]
fn survives_reopen_and_simulated_crash() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let id = s.insert(&env(), BODY, 1000).unwrap();
    drop(s);
    let s = open(dir.path());
    let m = s.message(&id).unwrap().unwrap();
    assert_eq!(m.envelope, env());
    assert_eq!(m.body, BODY);
    assert_eq!(m.created, 1000);

    // A crash: the connection is never closed (no checkpoint, WAL left behind).
    let id2 = s.insert(&env(), b"second", 1001).unwrap();
    std::mem::forget(s);
    let s = open(dir.path());
    assert_eq!(s.message(&id2).unwrap().unwrap().body, b"second");
    assert_eq!(s.list().unwrap().len(), 2);
}

#[test]
fn due_groups_by_message_and_domain() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let mut e = env();
    e.recipients.push(Recipient::new("dave@B.test"));
    let id = s.insert(&e, BODY, 100).unwrap();
    let due = s.due(100, 10).unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(
        (due[0].domain.as_str(), &due[0].recipients[..]),
        ("b.test", &[0, 2][..])
    );
    assert_eq!(
        (due[1].domain.as_str(), &due[1].recipients[..]),
        ("c.test", &[1][..])
    );
    assert!(due.iter().all(|b| b.message_id == id));
    assert!(s.due(99, 10).unwrap().is_empty());
    assert_eq!(s.next_due().unwrap(), Some(100));
}

#[test]
fn backoff_then_delivery_then_removal() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let id = s.insert(&env(), BODY, 0).unwrap();
    let p = RetryPolicy::default();
    s.record(&id, &[(0, temp("451 later"))], 10, &p, &reporter())
        .unwrap();
    let r = &s.recipients(&id).unwrap()[0];
    assert_eq!(
        (r.state, r.attempts, r.next_attempt),
        (State::Deferred, 1, 10 + 300)
    );
    s.record(&id, &[(0, temp("451 later"))], 400, &p, &reporter())
        .unwrap();
    let r = &s.recipients(&id).unwrap()[0];
    assert_eq!((r.attempts, r.next_attempt), (2, 400 + 600));
    assert_eq!(r.remote_mta.as_deref(), Some("mx.b.test"));
    let ok = Outcome::Delivered {
        reply: "250 ok".into(),
        mta: None,
        relayed: false,
    };
    s.record(&id, &[(0, ok.clone())], 1000, &p, &reporter())
        .unwrap();
    // Carol is still pending: the message stays.
    assert_eq!(s.list().unwrap().len(), 1);
    s.record(&id, &[(1, ok)], 1001, &p, &reporter()).unwrap();
    assert!(s.list().unwrap().is_empty());
    // Recording for a message deleted meanwhile is harmless.
    s.record(&id, &[(0, temp("x"))], 1002, &p, &reporter())
        .unwrap();
}

#[test]
fn gives_up_after_max_age_and_bounces_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let id = s.insert(&env(), BODY, 0).unwrap();
    let p = RetryPolicy {
        max_age: Duration::from_secs(3600),
        ..RetryPolicy::default()
    };
    s.record(&id, &[(0, temp("connect refused"))], 3600, &p, &reporter())
        .unwrap();
    let r = &s.recipients(&id).unwrap()[0];
    assert_eq!(r.state, State::Failed);
    assert!(
        r.last_reply
            .as_deref()
            .unwrap()
            .contains("gave up after 1h")
    );
    // One DSN, from <> to alice, headers only (RET=HDRS).
    let list = s.list().unwrap();
    assert_eq!(list.len(), 2);
    let dsn = list.iter().find(|m| m.id != id).unwrap();
    assert_eq!(dsn.sender, None);
    let body = String::from_utf8(s.message(&dsn.id).unwrap().unwrap().body).unwrap();
    assert!(body.contains("Original-Envelope-Id: E1"), "{body}");
    assert!(body.contains("Action: failed"));
    assert!(body.contains("Status: 4.4.7"), "{body}");
    assert!(body.contains("Content-Type: text/rfc822-headers"));
    assert!(!body.contains("\r\nbody\r\n"), "RET=HDRS returns no body");
    // Recording again changes nothing: failed is final, no second DSN.
    s.record(&id, &[(0, temp("again"))], 3700, &p, &reporter())
        .unwrap();
    assert_eq!(s.list().unwrap().len(), 2);

    // The DSN itself failing produces nothing (null sender).
    s.record(
        &dsn.id,
        &[(
            0,
            Outcome::Permanent {
                reply: "550 no".into(),
                mta: None,
            },
        )],
        3800,
        &p,
        &reporter(),
    )
    .unwrap();
    assert_eq!(s.list().unwrap().len(), 1);
}

#[test]
fn delay_warning_once_where_notify_allows() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let mut e = env();
    e.recipients[1].notify = Some(Notify {
        success: false,
        failure: true,
        delay: false,
    });
    let id = s.insert(&e, BODY, 0).unwrap();
    let p = RetryPolicy::default();
    s.record(
        &id,
        &[(0, temp("451 a")), (1, temp("451 b"))],
        10,
        &p,
        &reporter(),
    )
    .unwrap();
    assert_eq!(s.warn_delayed(100, 3600, &reporter()).unwrap(), 0);
    assert_eq!(s.warn_delayed(4000, 3600, &reporter()).unwrap(), 1);
    assert_eq!(s.warn_delayed(5000, 3600, &reporter()).unwrap(), 0);
    let list = s.list().unwrap();
    assert_eq!(list.len(), 2);
    let dsn = list.iter().find(|m| m.id != id).unwrap();
    let body = String::from_utf8(s.message(&dsn.id).unwrap().unwrap().body).unwrap();
    assert!(body.contains("Action: delayed"));
    assert!(body.contains("Final-Recipient: rfc822; bob@b.test"));
    assert!(
        !body.contains("carol@c.test"),
        "NOTIFY without DELAY: {body}"
    );
}

#[test]
fn retry_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let id = s.insert(&env(), BODY, 0).unwrap();
    s.record(
        &id,
        &[(0, temp("x")), (1, temp("y"))],
        10,
        &RetryPolicy::default(),
        &reporter(),
    )
    .unwrap();
    assert!(s.due(20, 10).unwrap().is_empty());
    assert_eq!(s.retry(None, 20).unwrap(), 2);
    assert_eq!(s.due(20, 10).unwrap().len(), 2);
    assert!(s.retry(Some("NOPE"), 20).is_err());
    s.delete(&id).unwrap();
    assert!(s.list().unwrap().is_empty());
    assert!(s.delete(&id).is_err());
}

/// Two nodes on one spool: a batch claimed by one is not handed to the other, and a late
/// outcome from a node whose batch was taken over is not recorded over the new holder's lease.
#[test]
fn claimed_batches_belong_to_one_node() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        std::sync::Arc::new(pochta_store_embedded::EmbeddedQueueStore::open(dir.path()).unwrap());
    let a = Spool::new(store.clone());
    let b = Spool::new(store);
    let id = a.insert(&env(), BODY, 0).unwrap();
    assert_eq!(a.claim(0, 10).unwrap().len(), 2);
    assert!(b.claim(1, 10).unwrap().is_empty(), "leased to a");
    let p = RetryPolicy::default();
    // b's outcome for a's batch is refused and changes nothing.
    assert!(
        b.record(&id, &[(0, temp("451 x"))], 2, &p, &reporter())
            .is_err()
    );
    let r = &a.recipients(&id).unwrap()[0];
    assert_eq!((r.state, r.attempts), (State::Pending, 0));
    // a's own outcome is recorded and ends its lease on that recipient.
    a.record(&id, &[(0, temp("451 x"))], 2, &p, &reporter())
        .unwrap();
    let r = &a.recipients(&id).unwrap()[0];
    assert_eq!((r.state, r.attempts), (State::Deferred, 1));
    // Before its lease ends, a's other batch (Carol) stays a's, while Bob, deferred and
    // released, is due again at his next attempt (2 + 300 s).
    assert_eq!(r.next_attempt, 302);
    let bob = b.claim(302, 10).unwrap();
    assert_eq!((bob.len(), bob[0].domain.as_str()), (1, "b.test"));
    // After the lease's end Carol is b's to take over.
    let later = Spool::LEASE.as_secs() as i64 + 1;
    let taken = b.claim(later, 10).unwrap();
    assert_eq!((taken.len(), taken[0].domain.as_str()), (1, "c.test"));
}
