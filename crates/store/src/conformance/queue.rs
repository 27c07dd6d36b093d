//! The conformance suite every [`QueueStore`] backend runs.
//!
//! A backend implements [`QueueFixture`] and expands
//! [`queue_conformance_tests!`](crate::queue_conformance_tests) in one of its test files:
//!
//! ```ignore
//! struct Embedded(tempfile::TempDir);
//! impl pochta_store::conformance::queue::QueueFixture for Embedded { /* … */ }
//! pochta_store::queue_conformance_tests!(Embedded);
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::Arc;

use crate::StoreError;
use crate::queue::{
    Envelope, Lease, NewMessage, Notify, QueueStore, Recipient, RecipientUpdate, Recorded, Ret,
    State,
};

/// Storage under test.
pub trait QueueFixture: Sized {
    type Store: QueueStore;
    /// Fresh, empty storage.
    fn create() -> Self;
    /// A store over this storage. Called again after the previous store was dropped, it must
    /// show everything the previous one committed.
    fn open(&self) -> Self::Store;
}

/// Expand to one `#[test]` per queue conformance check, for the given [`QueueFixture`] type.
#[macro_export]
macro_rules! queue_conformance_tests {
    ($fixture:ty) => {
        $crate::queue_conformance_tests!(@each $fixture;
            enqueue_round_trips_and_is_durable,
            due_groups_by_message_and_domain,
            claims_lease_exclusively,
            expired_lease_is_taken_over,
            next_due_skips_leased,
            record_applies_and_finishes,
            record_queues_new_messages_atomically,
            record_refuses_stale_updates,
            record_respects_other_holders_lease,
            retry_and_delete,
            list_is_oldest_first,
            delay_warnings_are_marked_once,
            concurrent_claims_never_overlap
        );
    };
    (@each $fixture:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::queue::$name::<$fixture>();
            }
        )*
    };
}

fn envelope() -> Envelope {
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
            Recipient {
                address: "dave@B.TEST.".into(),
                notify: Some(Notify::NEVER),
                orcpt: None,
            },
        ],
        ret: Some(Ret::Hdrs),
        envid: Some("E1".into()),
        smtputf8: true,
        eight_bit: true,
    }
}

const BODY: &[u8] = b"From: alice@a.test\r\nSubject: x\r\n\r\nbody \xd0\xb9\r\n";

fn lease(holder: &str, until: i64) -> Lease<'_> {
    Lease { holder, until }
}

fn update(index: u32, state: State, attempts: u32, next: i64, reply: &str) -> RecipientUpdate {
    RecipientUpdate {
        index,
        state,
        attempts,
        next_attempt: next,
        last_reply: Some(reply.into()),
        remote_mta: Some("mx.b.test".into()),
    }
}

/// Records one recipient's update by `holder` at `now`, queueing nothing.
fn record_one(
    s: &impl QueueStore,
    id: &str,
    holder: &str,
    update: RecipientUpdate,
    now: i64,
) -> Recorded {
    s.record(id, holder, &[update], &[], now).unwrap()
}

fn dsn(to: &str) -> NewMessage {
    NewMessage {
        envelope: Envelope {
            sender: None,
            recipients: vec![Recipient::new(to)],
            ..Envelope::default()
        },
        body: b"Subject: DSN\r\n\r\nfailed\r\n".to_vec(),
    }
}

pub fn enqueue_round_trips_and_is_durable<F: QueueFixture>() {
    let f = F::create();
    let s = f.open();
    let id = s.enqueue(&envelope(), BODY, 1000).unwrap();
    assert!(!id.is_empty() && id.len() <= 64);
    let id2 = s.enqueue(&envelope(), b"second", 1001).unwrap();
    assert_ne!(id, id2);
    drop(s);
    let s = f.open();
    let m = s.message(&id).unwrap().expect("message survives reopen");
    assert_eq!(m.id, id);
    assert_eq!(m.envelope, envelope());
    assert_eq!(m.body, BODY);
    assert_eq!(m.created, 1000);
    assert_eq!(s.message(&id2).unwrap().unwrap().body, b"second");
    assert!(s.message("NOPE").unwrap().is_none());
    let r = s.recipients(&id).unwrap();
    assert_eq!(r.len(), 3);
    for (i, r) in r.iter().enumerate() {
        assert_eq!(r.index, i as u32);
        assert_eq!(r.recipient, envelope().recipients[i]);
        assert_eq!(
            (r.state, r.attempts, r.next_attempt),
            (State::Pending, 0, 1000)
        );
        assert_eq!(
            (&r.last_reply, &r.remote_mta, r.warned),
            (&None, &None, false)
        );
    }
    assert!(s.recipients("NOPE").unwrap().is_empty());
}

pub fn due_groups_by_message_and_domain<F: QueueFixture>() {
    let f = F::create();
    let s = f.open();
    let id = s.enqueue(&envelope(), BODY, 100).unwrap();
    let due = s.due(100, 10).unwrap();
    assert_eq!(due.len(), 2);
    assert!(due.iter().all(|b| b.message_id == id));
    assert_eq!(
        (due[0].domain.as_str(), &due[0].recipients[..]),
        ("b.test", &[0, 2][..])
    );
    assert_eq!(
        (due[1].domain.as_str(), &due[1].recipients[..]),
        ("c.test", &[1][..])
    );
    assert!(s.due(99, 10).unwrap().is_empty());
    assert_eq!(s.due(100, 1).unwrap().len(), 1);
    // `due` claims nothing.
    assert_eq!(s.due(100, 10).unwrap().len(), 2);
    let older = s.enqueue(&envelope(), BODY, 50).unwrap();
    assert_eq!(s.due(100, 10).unwrap()[0].message_id, older);
    assert_eq!(s.next_due(100).unwrap(), Some(50));
}

pub fn claims_lease_exclusively<F: QueueFixture>() {
    let f = F::create();
    let s = f.open();
    let id = s.enqueue(&envelope(), BODY, 100).unwrap();
    let a = s.claim_due(100, 1, &lease("A", 700)).unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(
        (a[0].domain.as_str(), &a[0].recipients[..]),
        ("b.test", &[0, 2][..])
    );
    // The rest goes to the next claimant, whoever it is; then nothing is left.
    let b = s.claim_due(101, 10, &lease("B", 700)).unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(
        (b[0].domain.as_str(), &b[0].recipients[..]),
        ("c.test", &[1][..])
    );
    assert!(s.claim_due(102, 10, &lease("A", 700)).unwrap().is_empty());
    assert!(s.claim_due(102, 10, &lease("C", 700)).unwrap().is_empty());
    // Leased work is still listed as due, and its state is untouched.
    assert_eq!(s.due(102, 10).unwrap().len(), 2);
    assert!(
        s.recipients(&id)
            .unwrap()
            .iter()
            .all(|r| r.state == State::Pending)
    );
    // Recording ends the holder's lease: a deferred recipient comes back when due again.
    let r = record_one(
        &s,
        &id,
        "B",
        update(1, State::Deferred, 1, 200, "451 later"),
        103,
    );
    assert_eq!(r, Recorded::Applied { queued: vec![] });
    assert!(s.claim_due(199, 10, &lease("C", 900)).unwrap().is_empty());
    let c = s.claim_due(200, 10, &lease("C", 900)).unwrap();
    assert_eq!((c.len(), &c[0].recipients[..]), (1, &[1][..]));
}

pub fn expired_lease_is_taken_over<F: QueueFixture>() {
    let f = F::create();
    let s = f.open();
    s.enqueue(&envelope(), BODY, 100).unwrap();
    assert_eq!(s.claim_due(100, 10, &lease("A", 160)).unwrap().len(), 2);
    assert!(s.claim_due(159, 10, &lease("B", 300)).unwrap().is_empty());
    // A died: at the end of its lease, B takes everything over.
    let b = s.claim_due(160, 10, &lease("B", 300)).unwrap();
    assert_eq!(b.len(), 2);
    assert!(s.claim_due(161, 10, &lease("A", 400)).unwrap().is_empty());
}

pub fn next_due_skips_leased<F: QueueFixture>() {
    let f = F::create();
    let s = f.open();
    assert_eq!(s.next_due(0).unwrap(), None);
    let id = s.enqueue(&envelope(), BODY, 100).unwrap();
    assert_eq!(s.next_due(100).unwrap(), Some(100));
    s.claim_due(100, 10, &lease("A", 500)).unwrap();
    // Everything is leased: the next chance is the lease's end.
    assert_eq!(s.next_due(100).unwrap(), Some(500));
    let upd = [
        update(0, State::Deferred, 1, 300, "451"),
        update(2, State::Deferred, 1, 300, "451"),
    ];
    s.record(&id, "A", &upd, &[], 110).unwrap();
    // Carol (index 1) is still leased until 500; the others are due at 300.
    assert_eq!(s.next_due(110).unwrap(), Some(300));
    let done = [
        update(0, State::Delivered, 2, 300, "250"),
        update(2, State::Delivered, 2, 300, "250"),
    ];
    s.record(&id, "A", &done, &[], 120).unwrap();
    assert_eq!(s.next_due(120).unwrap(), Some(500));
}

pub fn record_applies_and_finishes<F: QueueFixture>() {
    let f = F::create();
    let s = f.open();
    let id = s.enqueue(&envelope(), BODY, 0).unwrap();
    let r = record_one(
        &s,
        &id,
        "A",
        update(0, State::Deferred, 1, 310, "451 later"),
        10,
    );
    assert_eq!(r, Recorded::Applied { queued: vec![] });
    let st = &s.recipients(&id).unwrap()[0];
    assert_eq!(
        (st.state, st.attempts, st.next_attempt),
        (State::Deferred, 1, 310)
    );
    assert_eq!(st.last_reply.as_deref(), Some("451 later"));
    assert_eq!(st.remote_mta.as_deref(), Some("mx.b.test"));
    assert!(
        s.due(309, 10)
            .unwrap()
            .iter()
            .all(|b| b.domain != "b.test" || b.recipients == [2])
    );
    let ok = [
        update(0, State::Delivered, 2, 310, "250 ok"),
        update(1, State::Failed, 1, 0, "550 no"),
    ];
    s.record(&id, "A", &ok, &[], 400).unwrap();
    // Dave is still pending: the message stays.
    assert_eq!(s.list().unwrap().len(), 1);
    let st = s.recipients(&id).unwrap();
    assert_eq!(
        st.iter().map(|r| r.state).collect::<Vec<_>>(),
        [State::Delivered, State::Failed, State::Pending]
    );
    record_one(&s, &id, "A", update(2, State::Delivered, 1, 0, "250"), 401);
    assert!(s.list().unwrap().is_empty());
    assert!(s.message(&id).unwrap().is_none());
    assert_eq!(s.next_due(402).unwrap(), None);
    // Recording for a message that is gone changes nothing and queues nothing.
    let r = s
        .record(
            &id,
            "A",
            &[update(0, State::Deferred, 3, 9, "x")],
            &[dsn("alice@a.test")],
            402,
        )
        .unwrap();
    assert_eq!(r, Recorded::Gone);
    assert!(s.list().unwrap().is_empty());
    drop(s);
    assert!(f.open().list().unwrap().is_empty());
}

pub fn record_queues_new_messages_atomically<F: QueueFixture>() {
    let f = F::create();
    let s = f.open();
    let id = s.enqueue(&envelope(), BODY, 0).unwrap();
    let all_failed = [
        update(0, State::Failed, 1, 0, "550 a"),
        update(1, State::Failed, 1, 0, "550 b"),
        update(2, State::Failed, 1, 0, "550 c"),
    ];
    let r = s
        .record(&id, "A", &all_failed, &[dsn("alice@a.test")], 50)
        .unwrap();
    let Recorded::Applied { queued } = r else {
        panic!("not applied: {r:?}");
    };
    assert_eq!(queued.len(), 1);
    drop(s);
    let s = f.open();
    // The original is finished and gone; the DSN is queued, due now, from the null sender.
    assert!(s.message(&id).unwrap().is_none());
    let list = s.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].id, queued[0]);
    assert_eq!((list[0].sender.as_deref(), list[0].created), (None, 50));
    let m = s.message(&queued[0]).unwrap().unwrap();
    assert_eq!(m.envelope, dsn("alice@a.test").envelope);
    assert_eq!(m.body, dsn("alice@a.test").body);
    assert_eq!(s.due(50, 10).unwrap()[0].domain, "a.test");
}

pub fn record_refuses_stale_updates<F: QueueFixture>() {
    let f = F::create();
    let s = f.open();
    let id = s.enqueue(&envelope(), BODY, 0).unwrap();
    record_one(&s, &id, "A", update(0, State::Deferred, 1, 100, "451"), 10);
    // Computed from a read before that attempt was recorded: attempts would be 1 again.
    let stale = [
        update(0, State::Failed, 1, 0, "550"),
        update(1, State::Delivered, 1, 0, "250"),
    ];
    let r = s
        .record(&id, "A", &stale, &[dsn("alice@a.test")], 20)
        .unwrap();
    assert_eq!(r, Recorded::Stale);
    // Nothing of it was applied: not Carol's delivery, not the DSN.
    let st = s.recipients(&id).unwrap();
    assert_eq!((st[0].state, st[0].attempts), (State::Deferred, 1));
    assert_eq!((st[1].state, st[1].attempts), (State::Pending, 0));
    assert_eq!(s.list().unwrap().len(), 1);
    // An update to a recipient that is final already is stale too.
    record_one(&s, &id, "A", update(1, State::Delivered, 1, 0, "250"), 30);
    let r = record_one(&s, &id, "A", update(1, State::Deferred, 2, 99, "451"), 31);
    assert_eq!(r, Recorded::Stale);
    assert_eq!(s.recipients(&id).unwrap()[1].state, State::Delivered);
}

pub fn record_respects_other_holders_lease<F: QueueFixture>() {
    let f = F::create();
    let s = f.open();
    let id = s.enqueue(&envelope(), BODY, 0).unwrap();
    assert_eq!(s.claim_due(0, 10, &lease("B", 100)).unwrap().len(), 2);
    // A's lease ran out and B took the message: A's late result must not be applied.
    let r = record_one(&s, &id, "A", update(0, State::Delivered, 1, 0, "250"), 50);
    assert_eq!(r, Recorded::Stale);
    assert_eq!(s.recipients(&id).unwrap()[0].state, State::Pending);
    // After B's lease ended, a result is accepted from anyone.
    let r = record_one(&s, &id, "A", update(0, State::Delivered, 1, 0, "250"), 100);
    assert_eq!(r, Recorded::Applied { queued: vec![] });
}

pub fn retry_and_delete<F: QueueFixture>() {
    let f = F::create();
    let s = f.open();
    let id = s.enqueue(&envelope(), BODY, 0).unwrap();
    let other = s.enqueue(&envelope(), BODY, 0).unwrap();
    let def = [
        update(0, State::Deferred, 1, 1000, "451"),
        update(1, State::Failed, 1, 0, "550"),
        update(2, State::Deferred, 1, 1000, "451"),
    ];
    s.record(&id, "A", &def, &[], 10).unwrap();
    s.record(&other, "A", &def, &[], 10).unwrap();
    assert!(s.due(20, 10).unwrap().is_empty());
    assert_eq!(s.retry(Some(&id), 20).unwrap(), 2);
    let due = s.due(20, 10).unwrap();
    assert_eq!((due.len(), due[0].message_id.as_str()), (1, id.as_str()));
    assert_eq!(
        s.recipients(&id).unwrap()[0].attempts,
        1,
        "retry keeps the count"
    );
    assert_eq!(s.retry(None, 30).unwrap(), 4);
    assert_eq!(s.due(30, 10).unwrap().len(), 2);
    assert!(matches!(
        s.retry(Some("NOPE"), 20),
        Err(StoreError::NotFound(_))
    ));
    s.delete(&id).unwrap();
    assert!(s.message(&id).unwrap().is_none());
    assert!(s.recipients(&id).unwrap().is_empty());
    assert!(matches!(s.delete(&id), Err(StoreError::NotFound(_))));
    drop(s);
    let s = f.open();
    assert_eq!(s.list().unwrap().len(), 1);
}

pub fn list_is_oldest_first<F: QueueFixture>() {
    let f = F::create();
    let s = f.open();
    assert!(s.list().unwrap().is_empty());
    let b = s.enqueue(&envelope(), b"12345", 20).unwrap();
    let mut e = envelope();
    e.sender = None;
    e.recipients.truncate(1);
    let a = s.enqueue(&e, b"123", 10).unwrap();
    let list = s.list().unwrap();
    assert_eq!(
        list.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
        [a.as_str(), b.as_str()]
    );
    assert_eq!(
        (list[0].sender.as_deref(), list[0].size, list[0].created),
        (None, 3, 10)
    );
    assert_eq!(list[0].recipients.len(), 1);
    assert_eq!(list[1].sender.as_deref(), Some("alice@a.test"));
    assert_eq!((list[1].size, list[1].recipients.len()), (5, 3));
    assert_eq!(list[1].recipients, s.recipients(&b).unwrap());
}

pub fn delay_warnings_are_marked_once<F: QueueFixture>() {
    let f = F::create();
    let s = f.open();
    let id = s.enqueue(&envelope(), BODY, 0).unwrap();
    let mut bounce = envelope();
    bounce.sender = None;
    let null = s.enqueue(&bounce, BODY, 0).unwrap();
    let def = [
        update(0, State::Deferred, 1, 1000, "451"),
        update(1, State::Deferred, 1, 1000, "451"),
    ];
    s.record(&id, "A", &def, &[], 10).unwrap();
    s.record(&null, "A", &def, &[], 10).unwrap();
    // Accepted at 0: a candidate from cutoff 0 on; the null sender's message never is.
    assert!(s.delay_candidates(-1).unwrap().is_empty());
    assert_eq!(s.delay_candidates(0).unwrap(), std::slice::from_ref(&id));
    // A recipient that is not deferred (Dave is pending) cannot be marked.
    assert!(
        !s.mark_warned(&id, &[0, 2], Some(&dsn("alice@a.test")), 20)
            .unwrap()
    );
    assert_eq!(s.list().unwrap().len(), 2);
    assert!(
        s.mark_warned(&id, &[0, 1], Some(&dsn("alice@a.test")), 20)
            .unwrap()
    );
    let st = s.recipients(&id).unwrap();
    assert_eq!(
        st.iter().map(|r| r.warned).collect::<Vec<_>>(),
        [true, true, false]
    );
    assert_eq!(s.list().unwrap().len(), 3, "the warning is queued");
    // Once only.
    assert!(s.delay_candidates(100).unwrap().is_empty());
    assert!(
        !s.mark_warned(&id, &[0], Some(&dsn("alice@a.test")), 30)
            .unwrap()
    );
    assert_eq!(s.list().unwrap().len(), 3);
    drop(s);
    let s = f.open();
    assert!(s.recipients(&id).unwrap()[0].warned);
}

pub fn concurrent_claims_never_overlap<F: QueueFixture>() {
    let f = F::create();
    let s = Arc::new(f.open());
    let mut ids = HashSet::new();
    for i in 0..40 {
        let mut e = envelope();
        e.recipients.truncate(1);
        ids.insert(s.enqueue(&e, BODY, i).unwrap());
    }
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let holder = format!("node{t}");
                let mut got = Vec::new();
                loop {
                    let b = s.claim_due(100, 3, &lease(&holder, 1000)).unwrap();
                    if b.is_empty() {
                        break;
                    }
                    got.extend(b.into_iter().map(|b| b.message_id));
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().unwrap());
    }
    assert_eq!(all.len(), 40, "every batch claimed exactly once");
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), ids);
}
