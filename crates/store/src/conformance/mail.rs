//! The conformance suite every [`MailStore`](crate::MailStore) backend runs.
//!
//! A backend implements [`Fixture`] (make empty storage; open a store over it, again after a
//! drop to test durability) and expands [`conformance_tests!`](crate::conformance_tests) in
//! one of its test files, which makes one `#[test]` per rule:
//!
//! ```ignore
//! struct Embedded(tempfile::TempDir);
//! impl pochta_store::conformance::mail::Fixture for Embedded { /* … */ }
//! pochta_store::conformance_tests!(Embedded);
//! ```
//!
//! Each check panics on failure, as test code does.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use pochta_types::{AccountId, Address, Domain, Flag, Flags, MailboxId, MailboxName, ModSeq, Uid};

use crate::{
    ChangeEvent, Directory, FlagOp, Grantee, MailDate, MailStore, MessageRecord, MessageSummary,
    MetaField, MetaFilter, NewMessage, QuotaLimits, QuotaResource, SortNeed, SortRow, StoreError,
};

/// Storage under test.
pub trait Fixture: Sized {
    type Store: MailStore;
    /// Fresh, empty storage (a temp dir, a new database schema …).
    fn create() -> Self;
    /// A store over this storage. Called again after the previous store was dropped, it must
    /// show everything the previous one committed.
    fn open(&self) -> Self::Store;
}

/// Expand to one `#[test]` per conformance check, for the given [`Fixture`] type.
#[macro_export]
macro_rules! conformance_tests {
    ($fixture:ty) => {
        $crate::conformance_tests!(@each $fixture;
            uids_ascend_and_are_never_reused,
            uid_validity_grows_when_recreated,
            modseq_ascends_with_every_change,
            changes_since_is_exact,
            unchanged_since_conflicts,
            copy_keeps_flags_and_dates,
            move_is_atomic_and_maps_uids,
            replace_appends_and_expunges_in_one_step,
            expunge_removes_only_deleted,
            recent_is_claimed_once,
            status_counts,
            select_state_and_keywords_follow_changes,
            append_normalises_and_parses_once,
            records_of_many_uids,
            bulk_reads_agree_with_records,
            multiappend_and_noselect,
            mailbox_create_makes_parents,
            mailbox_delete_rules,
            mailbox_rename_moves_children,
            mailbox_rename_inbox_moves_messages,
            subscriptions_are_names,
            domains_and_accounts,
            aliases_and_catch_all,
            accounts_are_isolated,
            blob_shared_and_released,
            concurrent_writers,
            durable_across_reopen,
            change_bus_announces_commits,
            quota_usage_is_exact,
            quota_is_enforced,
            acl_entries_and_rights,
            metadata_scopes_limits_and_lifecycle,
            access_keys_per_account_and_mailbox,
            maildrop_lock_is_exclusive,
            login_failures_count_within_a_window
        );
    };
    (@each $fixture:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::mail::$name::<$fixture>();
            }
        )*
    };
}

// --- helpers ---

fn addr(s: &str) -> Address {
    Address::new(s).unwrap()
}

fn name(s: &str) -> MailboxName {
    MailboxName::new(s).unwrap()
}

fn uid(n: u32) -> Uid {
    Uid::new(n).unwrap()
}

fn flags(list: &[Flag]) -> Flags {
    Flags::from_flags(list)
}

fn kw(s: &str) -> Flag {
    Flag::Keyword(s.to_string())
}

/// A distinct small message.
fn message(n: usize) -> Vec<u8> {
    format!(
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: test {n}\r\n\
         Message-ID: <{n}@example.org>\r\n\r\nBody {n}\r\n"
    )
    .into_bytes()
}

/// Storage, a store, an account and its INBOX.
fn setup<F: Fixture>() -> (F, F::Store, AccountId, MailboxId) {
    let fx = F::create();
    let s = fx.open();
    let acc = s
        .account_create(&addr("user@example.org"), "$argon2id$x")
        .unwrap();
    let inbox = s.mailbox(acc, &MailboxName::inbox()).unwrap().unwrap().id;
    (fx, s, acc, inbox)
}

fn append<S: MailStore>(s: &S, mb: MailboxId, n: usize, f: &[Flag]) -> Uid {
    let bytes = message(n);
    let m = s
        .append(
            mb,
            &[NewMessage {
                bytes: &bytes,
                flags: flags(f),
                internal_date: None,
            }],
        )
        .unwrap();
    assert_eq!(m.pairs.len(), 1);
    m.pairs[0].1
}

fn uids<S: MailStore>(s: &S, mb: MailboxId) -> Vec<u32> {
    s.summaries(mb)
        .unwrap()
        .iter()
        .map(|m| m.uid.get())
        .collect()
}

fn highest<S: MailStore>(s: &S, mb: MailboxId) -> ModSeq {
    s.mailbox_status(mb).unwrap().highest_modseq
}

fn mailbox_id<S: MailStore>(s: &S, acc: AccountId, n: &str) -> MailboxId {
    s.mailbox(acc, &name(n)).unwrap().unwrap().id
}

// --- UIDs and UIDVALIDITY (RFC 9051 §2.3.1.1) ---

/// UIDs strictly ascend, also after the highest one is expunged and across reopen.
pub fn uids_ascend_and_are_never_reused<F: Fixture>() {
    let (fx, s, _acc, inbox) = setup::<F>();
    let a = append(&s, inbox, 1, &[]);
    let b = append(&s, inbox, 2, &[Flag::Deleted]);
    assert!(b > a);
    assert_eq!(s.expunge(inbox, None).unwrap(), vec![b]);
    let c = append(&s, inbox, 3, &[]);
    assert!(c > b, "UID {c} reused or lower after expunge of {b}");
    let status = s.mailbox_status(inbox).unwrap();
    assert!(status.uid_next > c);
    drop(s);
    let s = fx.open();
    let d = append(&s, inbox, 4, &[]);
    assert!(d > c, "UID {d} not above {c} after reopen");
    assert_eq!(uids(&s, inbox), vec![a.get(), c.get(), d.get()]);
}

/// A mailbox deleted and created again gets a larger UIDVALIDITY; a renamed one keeps it.
pub fn uid_validity_grows_when_recreated<F: Fixture>() {
    let (_fx, s, acc, _inbox) = setup::<F>();
    let first = s.mailbox_create(acc, &name("Work"), None).unwrap();
    append(&s, first.id, 1, &[]);
    s.mailbox_delete(acc, &name("Work")).unwrap();
    let second = s.mailbox_create(acc, &name("Work"), None).unwrap();
    assert!(second.uid_validity > first.uid_validity);
    assert_ne!(
        second.id, first.id,
        "a re-created mailbox must not reuse the id"
    );
    assert_eq!(second.uid_next, uid(1));
    s.mailbox_rename(acc, &name("Work"), &name("Job")).unwrap();
    let renamed = s.mailbox(acc, &name("Job")).unwrap().unwrap();
    assert_eq!(renamed.uid_validity, second.uid_validity);
    assert_eq!(renamed.id, second.id);
}

// --- MODSEQ (RFC 7162 §3.1) ---

/// Every append, flag change, expunge, copy into and move out takes a larger MODSEQ.
pub fn modseq_ascends_with_every_change<F: Fixture>() {
    let (_fx, s, acc, inbox) = setup::<F>();
    let other = mailbox_id(&s, acc, "Archive");
    let mut last = highest(&s, inbox);
    let step = |what: &str, mb: MailboxId, last: &mut ModSeq| {
        let now = highest(&s, mb);
        assert!(now > *last, "{what}: highest MODSEQ {now} not above {last}");
        *last = now;
    };
    let a = append(&s, inbox, 1, &[]);
    step("append", inbox, &mut last);
    let b = append(&s, inbox, 2, &[]);
    step("append", inbox, &mut last);
    let out = s
        .store_flags(inbox, &[a], FlagOp::Add, &flags(&[Flag::Seen]), None)
        .unwrap();
    assert_eq!(out.updated[0].modseq, highest(&s, inbox));
    step("store", inbox, &mut last);
    // A STORE that changes nothing takes no MODSEQ.
    let out = s
        .store_flags(inbox, &[a], FlagOp::Add, &flags(&[Flag::Seen]), None)
        .unwrap();
    assert_eq!(out.changed, vec![false]);
    assert_eq!(highest(&s, inbox), last);
    s.store_flags(inbox, &[b], FlagOp::Add, &flags(&[Flag::Deleted]), None)
        .unwrap();
    step("store", inbox, &mut last);
    s.expunge(inbox, None).unwrap();
    step("expunge", inbox, &mut last);
    s.copy(other, &[], inbox).unwrap();
    assert_eq!(highest(&s, inbox), last, "empty copy changed MODSEQ");
    let x = append(&s, other, 3, &[]);
    s.copy(other, &[x], inbox).unwrap();
    step("copy into", inbox, &mut last);
    s.move_messages(inbox, &[a], other).unwrap();
    step("move out", inbox, &mut last);
    // Per-message MODSEQs are distinct and never above the mailbox's highest.
    let sums = s.summaries(inbox).unwrap();
    let set: BTreeSet<_> = sums.iter().map(|m| m.modseq).collect();
    assert_eq!(set.len(), sums.len());
    assert!(sums.iter().all(|m| m.modseq <= last));
}

/// `changes_since` reports exactly the messages changed and the UIDs expunged after a value.
pub fn changes_since_is_exact<F: Fixture>() {
    let (_fx, s, acc, inbox) = setup::<F>();
    let other = mailbox_id(&s, acc, "Trash");
    let u: Vec<Uid> = (1..=6).map(|n| append(&s, inbox, n, &[])).collect();
    let mark = highest(&s, inbox);
    let none = s.changes_since(inbox, mark).unwrap();
    assert!(none.changed.is_empty() && none.expunged.is_empty());
    assert_eq!(none.highest_modseq, Some(mark));

    s.store_flags(inbox, &[u[1]], FlagOp::Add, &flags(&[kw("$Work")]), None)
        .unwrap();
    s.store_flags(
        inbox,
        &[u[3], u[4]],
        FlagOp::Add,
        &flags(&[Flag::Deleted]),
        None,
    )
    .unwrap();
    s.expunge(inbox, Some(&[u[3]])).unwrap();
    s.move_messages(inbox, &[u[5]], other).unwrap();
    let new = append(&s, inbox, 7, &[]);

    let c = s.changes_since(inbox, mark).unwrap();
    let changed: Vec<Uid> = c.changed.iter().map(|m| m.uid).collect();
    assert_eq!(changed, vec![u[1], u[4], new]);
    assert_eq!(c.expunged, vec![u[3], u[5]]);
    assert_eq!(c.highest_modseq, Some(highest(&s, inbox)));
    assert!(c.changed[0].flags.contains(&kw("$work")));
    // From the start: everything present is "changed", everything expunged is listed.
    let all = s.changes_since(inbox, ModSeq::MIN).unwrap();
    assert_eq!(all.changed.len(), 5);
    assert_eq!(all.expunged, vec![u[3], u[5]]);
    // Between two marks only what happened in between.
    let mark2 = highest(&s, inbox);
    s.store_flags(inbox, &[u[0]], FlagOp::Add, &flags(&[Flag::Seen]), None)
        .unwrap();
    let c = s.changes_since(inbox, mark2).unwrap();
    assert_eq!(c.changed.len(), 1);
    assert_eq!(c.changed[0].uid, u[0]);
    assert!(c.expunged.is_empty());
}

/// UNCHANGEDSINCE refuses messages changed after the given MODSEQ and updates the rest
/// (RFC 7162 §3.1.3).
pub fn unchanged_since_conflicts<F: Fixture>() {
    let (_fx, s, _acc, inbox) = setup::<F>();
    let a = append(&s, inbox, 1, &[]);
    let b = append(&s, inbox, 2, &[]);
    let mark = highest(&s, inbox);
    s.store_flags(inbox, &[b], FlagOp::Add, &flags(&[Flag::Flagged]), None)
        .unwrap();
    let out = s
        .store_flags(
            inbox,
            &[a, b],
            FlagOp::Add,
            &flags(&[Flag::Seen]),
            Some(mark),
        )
        .unwrap();
    assert_eq!(out.conflicts, vec![b]);
    assert_eq!(out.updated.len(), 1);
    assert_eq!(out.updated[0].uid, a);
    assert!(out.updated[0].flags.contains(&Flag::Seen));
    let sums = s.summaries(inbox).unwrap();
    assert!(
        !sums[1].flags.contains(&Flag::Seen),
        "conflicting message was changed"
    );
    // Equal to the message's MODSEQ passes.
    let exact = sums[1].modseq;
    let out = s
        .store_flags(
            inbox,
            &[b],
            FlagOp::Replace,
            &flags(&[Flag::Answered]),
            Some(exact),
        )
        .unwrap();
    assert!(out.conflicts.is_empty());
    assert_eq!(out.updated[0].flags, flags(&[Flag::Answered]));
    // Remove.
    let out = s
        .store_flags(inbox, &[b], FlagOp::Remove, &flags(&[Flag::Answered]), None)
        .unwrap();
    assert!(out.updated[0].flags.is_empty());
    // Unknown UIDs are skipped, not errors.
    let out = s
        .store_flags(inbox, &[uid(999)], FlagOp::Add, &flags(&[Flag::Seen]), None)
        .unwrap();
    assert!(out.updated.is_empty() && out.conflicts.is_empty());
}

// --- COPY, MOVE, EXPUNGE ---

/// COPY keeps flags and internal date, gives new ascending UIDs, leaves the source alone.
pub fn copy_keeps_flags_and_dates<F: Fixture>() {
    let (_fx, s, acc, inbox) = setup::<F>();
    let dst = mailbox_id(&s, acc, "Archive");
    let date = MailDate {
        unix: 1_700_000_000,
        offset_minutes: 180,
    };
    let bytes = message(1);
    let bytes2 = message(2);
    let m = s
        .append(
            inbox,
            &[
                NewMessage {
                    bytes: &bytes,
                    flags: flags(&[Flag::Seen, kw("$Label1")]),
                    internal_date: Some(date),
                },
                NewMessage {
                    bytes: &bytes2,
                    flags: Flags::new(),
                    internal_date: Some(date),
                },
            ],
        )
        .unwrap();
    let (a, b) = (m.pairs[0].1, m.pairs[1].1);
    append(&s, dst, 3, &[]);
    let before = s.summaries(inbox).unwrap();
    let map = s.copy(inbox, &[b, a, uid(77)], dst).unwrap();
    assert_eq!(
        map.uid_validity,
        s.mailbox_status(dst).unwrap().uid_validity
    );
    assert_eq!(map.pairs.len(), 2, "missing UIDs are skipped");
    assert_eq!(map.pairs[0].0, Some(a));
    assert_eq!(map.pairs[1].0, Some(b));
    assert!(map.pairs[0].1 < map.pairs[1].1);
    assert_eq!(
        s.summaries(inbox).unwrap(),
        before,
        "copy changed the source"
    );
    let recs = s
        .records(dst, &[map.pairs[0].1, map.pairs[1].1], false)
        .unwrap();
    assert_eq!(recs[0].flags, flags(&[Flag::Seen, kw("$Label1")]));
    assert_eq!(recs[0].internal_date, date);
    assert_eq!(recs[1].flags, Flags::new());
    let src = s.records(inbox, &[a], false).unwrap();
    assert_eq!(recs[0].blob, src[0].blob);
    assert_eq!(recs[0].size, src[0].size);
    // Copy to another account's mailbox is refused.
    let other = s.account_create(&addr("other@example.org"), "h").unwrap();
    let foreign = mailbox_id(&s, other, "INBOX");
    assert!(s.copy(inbox, &[a], foreign).is_err());
    assert!(s.summaries(foreign).unwrap().is_empty());
}

/// MOVE puts the messages in the target with new UIDs and removes them from the source, in
/// one step (RFC 6851).
pub fn move_is_atomic_and_maps_uids<F: Fixture>() {
    let (_fx, s, acc, inbox) = setup::<F>();
    let dst = mailbox_id(&s, acc, "Junk");
    let a = append(&s, inbox, 1, &[Flag::Flagged]);
    let b = append(&s, inbox, 2, &[]);
    let c = append(&s, inbox, 3, &[]);
    let mark = highest(&s, inbox);
    let map = s.move_messages(inbox, &[a, c], dst).unwrap();
    assert_eq!(map.pairs.len(), 2);
    assert_eq!(map.pairs[0].0, Some(a));
    assert_eq!(map.pairs[1].0, Some(c));
    assert_eq!(uids(&s, inbox), vec![b.get()]);
    let moved: Vec<u32> = map.pairs.iter().map(|p| p.1.get()).collect();
    assert_eq!(uids(&s, dst), moved);
    let recs = s.records(dst, &[map.pairs[0].1], false).unwrap();
    assert!(recs[0].flags.contains(&Flag::Flagged));
    let ch = s.changes_since(inbox, mark).unwrap();
    assert_eq!(ch.expunged, vec![a, c]);
    // Moving UIDs that do not exist does nothing.
    let map = s.move_messages(inbox, &[a], dst).unwrap();
    assert!(map.pairs.is_empty());
    assert_eq!(uids(&s, dst), moved);
}

/// REPLACE (RFC 8508) adds the new message and expunges the old one, whatever its flags,
/// in one step; a missing old message changes nothing.
pub fn replace_appends_and_expunges_in_one_step<F: Fixture>() {
    let (_fx, s, acc, inbox) = setup::<F>();
    let drafts = mailbox_id(&s, acc, "Drafts");
    let a = append(&s, inbox, 1, &[Flag::Seen]);
    let b = append(&s, inbox, 2, &[]);
    let bytes = message(3);
    let new = NewMessage {
        bytes: &bytes,
        flags: flags(&[Flag::Draft]),
        internal_date: None,
    };
    // Into the same mailbox.
    let mark = highest(&s, inbox);
    let map = s.replace(inbox, a, inbox, &new).unwrap();
    let c = map.pairs[0].1;
    assert_eq!(map.pairs.len(), 1);
    assert!(c > b);
    assert_eq!(uids(&s, inbox), vec![b.get(), c.get()]);
    let ch = s.changes_since(inbox, mark).unwrap();
    assert_eq!(ch.expunged, vec![a]);
    assert!(
        s.records(inbox, &[c], false).unwrap()[0]
            .flags
            .contains(&Flag::Draft)
    );
    // Into another mailbox.
    let map = s.replace(inbox, b, drafts, &new).unwrap();
    assert_eq!(uids(&s, inbox), vec![c.get()]);
    assert_eq!(uids(&s, drafts), vec![map.pairs[0].1.get()]);
    // A UID that is not there: nothing appended.
    let before = uids(&s, drafts);
    assert!(matches!(
        s.replace(inbox, b, drafts, &new),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(uids(&s, drafts), before);
    assert_eq!(s.quota(acc).unwrap().messages, 2);
}

/// EXPUNGE removes exactly the `\Deleted` messages; UID EXPUNGE only those in its set.
pub fn expunge_removes_only_deleted<F: Fixture>() {
    let (_fx, s, _acc, inbox) = setup::<F>();
    let a = append(&s, inbox, 1, &[Flag::Deleted]);
    let b = append(&s, inbox, 2, &[]);
    let c = append(&s, inbox, 3, &[Flag::Deleted]);
    let d = append(&s, inbox, 4, &[Flag::Deleted, Flag::Seen]);
    assert_eq!(s.expunge(inbox, Some(&[c, b])).unwrap(), vec![c]);
    assert_eq!(uids(&s, inbox), vec![a.get(), b.get(), d.get()]);
    assert_eq!(s.expunge(inbox, None).unwrap(), vec![a, d]);
    assert_eq!(uids(&s, inbox), vec![b.get()]);
    assert!(s.expunge(inbox, None).unwrap().is_empty());
}

/// Each message is recent to exactly one claimer (RFC 3501 §2.3.2).
pub fn recent_is_claimed_once<F: Fixture>() {
    let (_fx, s, _acc, inbox) = setup::<F>();
    let a = append(&s, inbox, 1, &[]);
    let b = append(&s, inbox, 2, &[]);
    assert_eq!(s.mailbox_status(inbox).unwrap().recent, 2);
    assert_eq!(s.claim_recent(inbox).unwrap(), vec![a, b]);
    assert!(s.claim_recent(inbox).unwrap().is_empty());
    assert_eq!(s.mailbox_status(inbox).unwrap().recent, 0);
    let c = append(&s, inbox, 3, &[]);
    assert_eq!(s.claim_recent(inbox).unwrap(), vec![c]);
    // Claiming is not a change of any message.
    let h = highest(&s, inbox);
    s.claim_recent(inbox).unwrap();
    assert_eq!(highest(&s, inbox), h);
}

/// STATUS counts (RFC 9051 §6.3.11, RFC 8438 SIZE, RFC 9208 DELETED).
pub fn status_counts<F: Fixture>() {
    let (_fx, s, _acc, inbox) = setup::<F>();
    let empty = s.mailbox_status(inbox).unwrap();
    assert_eq!((empty.messages, empty.size, empty.uid_next), (0, 0, uid(1)));
    append(&s, inbox, 1, &[Flag::Seen]);
    append(&s, inbox, 2, &[Flag::Deleted]);
    append(&s, inbox, 3, &[kw("Work")]);
    let st = s.mailbox_status(inbox).unwrap();
    assert_eq!(st.messages, 3);
    assert_eq!(st.unseen, 2);
    assert_eq!(st.deleted, 1);
    let size: usize = (1..=3).map(|n| message(n).len()).sum();
    assert_eq!(st.size, size as u64);
    assert_eq!(st.uid_next, uid(4));
    assert_eq!(s.mailbox_keywords(inbox).unwrap(), vec!["Work".to_string()]);
}

/// `select_state` and `mailbox_keywords` agree with the summaries and the status after
/// every kind of change (appends, claims, flag and keyword changes, expunge, copy).
pub fn select_state_and_keywords_follow_changes<F: Fixture>() {
    let (_fx, s, acc, inbox) = setup::<F>();
    let check = |mb: MailboxId| {
        let sums = s.summaries(mb).unwrap();
        let st = s.mailbox_status(mb).unwrap();
        let got = s.select_state(mb).unwrap();
        assert_eq!(*got.uids, sums.iter().map(|m| m.uid).collect::<Vec<_>>());
        let unseen = sums.iter().find(|m| !m.flags.contains(&Flag::Seen));
        assert_eq!(got.first_unseen, unseen.map(|m| m.uid));
        assert_eq!(got.recent, st.recent);
        assert_eq!(
            (got.uid_next, got.highest_modseq),
            (st.uid_next, st.highest_modseq)
        );
        let mut kws: Vec<String> = sums
            .iter()
            .flat_map(|m| m.flags.keywords().to_vec())
            .collect();
        kws.sort_by_key(|k| k.to_ascii_lowercase());
        kws.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
        let mut got_kws = s.mailbox_keywords(mb).unwrap();
        got_kws.sort_by_key(|k| k.to_ascii_lowercase());
        assert_eq!(got_kws, kws);
        got
    };
    assert!(check(inbox).uids.is_empty());
    append(&s, inbox, 1, &[Flag::Seen]);
    append(&s, inbox, 2, &[]);
    append(&s, inbox, 3, &[kw("Work")]);
    let st = check(inbox);
    assert_eq!((st.first_unseen, st.recent), (Some(uid(2)), 3));
    s.claim_recent(inbox).unwrap();
    assert_eq!(check(inbox).recent, 0);
    s.store_flags(inbox, &[uid(2)], FlagOp::Add, &flags(&[Flag::Seen]), None)
        .unwrap();
    assert_eq!(check(inbox).first_unseen, Some(uid(3)));
    s.store_flags(
        inbox,
        &[uid(3)],
        FlagOp::Remove,
        &flags(&[kw("Work")]),
        None,
    )
    .unwrap();
    s.store_flags(inbox, &[uid(1)], FlagOp::Add, &flags(&[kw("Home")]), None)
        .unwrap();
    assert_eq!(s.mailbox_keywords(inbox).unwrap(), vec!["Home".to_string()]);
    check(inbox);
    s.store_flags(
        inbox,
        &[uid(1), uid(2)],
        FlagOp::Add,
        &flags(&[kw("Work")]),
        None,
    )
    .unwrap();
    check(inbox);
    s.store_flags(
        inbox,
        &[uid(1)],
        FlagOp::Replace,
        &flags(&[Flag::Deleted]),
        None,
    )
    .unwrap();
    s.expunge(inbox, None).unwrap();
    let st = check(inbox);
    assert_eq!(*st.uids, vec![uid(2), uid(3)]);
    assert_eq!(s.mailbox_keywords(inbox).unwrap(), vec!["Work".to_string()]);
    s.mailbox_create(acc, &name("Other"), None).unwrap();
    let other = mailbox_id(&s, acc, "Other");
    s.copy(inbox, &[uid(2), uid(3)], other).unwrap();
    check(other);
    s.move_messages(other, &[uid(1)], inbox).unwrap();
    check(inbox);
    check(other);
    append(&s, inbox, 4, &[]);
    assert_eq!(check(inbox).uids.len(), 4);
}

/// `records` of many UIDs (a whole big mailbox, as SEARCH and SORT ask) returns exactly the
/// existing ones asked for, ascending, with metadata when asked: gaps, duplicates, unknown
/// UIDs and UIDs of expunged messages included.
pub fn records_of_many_uids<F: Fixture>() {
    let (_fx, s, _acc, inbox) = setup::<F>();
    let bodies: Vec<Vec<u8>> = (0..600)
        .map(|i| format!("Subject: m{i}\r\n\r\nbody {i}\r\n").into_bytes())
        .collect();
    let msgs: Vec<NewMessage<'_>> = bodies
        .iter()
        .map(|b| NewMessage {
            bytes: b,
            flags: Flags::new(),
            internal_date: None,
        })
        .collect();
    let m = s.append(inbox, &msgs).unwrap();
    let uids: Vec<Uid> = m.pairs.iter().map(|p| p.1).collect();
    // Expunge every tenth.
    let gone: Vec<Uid> = uids.iter().copied().step_by(10).collect();
    s.store_flags(inbox, &gone, FlagOp::Add, &flags(&[Flag::Deleted]), None)
        .unwrap();
    s.expunge(inbox, None).unwrap();
    // Ask for every third, in reverse, twice, plus UIDs that never existed.
    let mut ask: Vec<Uid> = uids.iter().copied().step_by(3).rev().collect();
    ask.extend(ask.clone());
    ask.push(Uid::new(uids[599].get() + 1000).unwrap());
    for with_meta in [false, true] {
        let recs = s.records(inbox, &ask, with_meta).unwrap();
        let want: Vec<Uid> = uids
            .iter()
            .copied()
            .step_by(3)
            .filter(|u| !gone.contains(u))
            .collect();
        let got: Vec<Uid> = recs.iter().map(|r| r.uid).collect();
        assert_eq!(got, want);
        assert!(recs.iter().all(|r| r.meta.is_some() == with_meta));
    }
}

/// `search_meta`, `sort_rows`, `flag_rows` and `header_sections` give what the records say (the
/// reference semantics of `MetaFilter::matches` and `SortRow::of_record`), over more UIDs
/// than a point-query batch, after COPY, EXPUNGE and reopen.
pub fn bulk_reads_agree_with_records<F: Fixture>() {
    let (fx, s, acc, inbox) = setup::<F>();
    let zones = ["+0000", "-0800", "+1400", "+0330"];
    let bodies: Vec<Vec<u8>> = (0..300usize)
        .map(|i| {
            let date = if i % 9 == 0 {
                String::new()
            } else {
                format!(
                    "Date: Mon, {} Mar 2024 {:02}:30:00 {}\r\n",
                    1 + i % 28,
                    i % 24,
                    zones[i % 4]
                )
            };
            format!(
                "From: \"User {i}\" <u{}@example.org>\r\nTo: t{}@example.net\r\n{date}\
                 Subject: {}topic {}\r\nMessage-ID: <m{i}@x>\r\n\
                 References: <m{}@x>\r\nX-Tag: t{}\r\n\r\nbody {i} {}\r\n",
                i % 13,
                i % 5,
                if i % 3 == 0 { "Re: " } else { "" },
                i % 17,
                i / 2,
                i % 7,
                "x".repeat(i % 50)
            )
            .into_bytes()
        })
        .collect();
    let msgs: Vec<NewMessage<'_>> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let mut f = Vec::new();
            if i % 2 == 0 {
                f.push(Flag::Seen);
            }
            if i % 5 == 0 {
                f.push(Flag::Flagged);
            }
            if i % 7 == 0 {
                f.push(kw("$Work"));
            }
            NewMessage {
                bytes: b,
                flags: flags(&f),
                internal_date: Some(MailDate {
                    unix: 1_709_251_200 + (i as i64) * 7_000,
                    offset_minutes: [0i16, -480, 840, 210][i % 4],
                }),
            }
        })
        .collect();
    let m = s.append(inbox, &msgs).unwrap();
    let all: Vec<Uid> = m.pairs.iter().map(|p| p.1).collect();
    // A hole, so that ranges and missing UIDs matter.
    s.store_flags(
        inbox,
        &all[10..20],
        FlagOp::Add,
        &flags(&[Flag::Deleted]),
        None,
    )
    .unwrap();
    s.expunge(inbox, None).unwrap();
    let day = 19_783; // 2024-03-01
    let r = |f, lo, hi| MetaFilter::Range(f, lo, hi);
    let filters = vec![
        MetaFilter::All,
        MetaFilter::Nothing,
        MetaFilter::Flag(Flag::Flagged, true),
        MetaFilter::Flag(Flag::Seen, false),
        MetaFilter::Flag(kw("$work"), true),
        MetaFilter::Flag(kw("$Other"), false),
        r(MetaField::SentDay, None, Some(day + 10)),
        MetaFilter::Not(Box::new(r(
            MetaField::SentDay,
            Some(day + 3),
            Some(day + 4),
        ))),
        r(
            MetaField::InternalLocal,
            Some((day + 5) * 86400),
            Some((day + 9) * 86400),
        ),
        r(MetaField::Internal, None, Some(1_709_251_200 + 100_000)),
        r(MetaField::Save, Some(0), None),
        r(MetaField::Size, Some(200), None),
        r(MetaField::Uid, Some(5), Some(250)),
        r(MetaField::ModSeq, Some(100), None),
        MetaFilter::Or(
            Box::new(MetaFilter::Flag(Flag::Flagged, true)),
            Box::new(r(MetaField::SentDay, Some(day + 20), None)),
        ),
        MetaFilter::And(vec![
            MetaFilter::Flag(Flag::Seen, false),
            r(MetaField::InternalLocal, Some((day + 3) * 86400), None),
            MetaFilter::Not(Box::new(MetaFilter::Flag(kw("$WORK"), true))),
        ]),
        // A set flag, negated, and sent-day ranges that every match must satisfy (backends
        // may read them through an index).
        MetaFilter::Flag(Flag::Seen, true),
        MetaFilter::Not(Box::new(MetaFilter::Flag(Flag::Flagged, true))),
        MetaFilter::Flag(Flag::Answered, true),
        r(MetaField::SentDay, Some(day + 2), Some(day + 15)),
        MetaFilter::And(vec![
            r(MetaField::SentDay, Some(day + 1), None),
            MetaFilter::Flag(Flag::Seen, true),
            MetaFilter::Not(Box::new(r(
                MetaField::SentDay,
                Some(day + 5),
                Some(day + 6),
            ))),
        ]),
    ];
    let check = |s: &F::Store, mb: MailboxId| {
        let uids: Vec<Uid> = s.summaries(mb).unwrap().iter().map(|x| x.uid).collect();
        let recs = s.records(mb, &uids, true).unwrap();
        for f in &filters {
            let want: Vec<(Uid, ModSeq)> = recs
                .iter()
                .filter(|r| f.matches(r))
                .map(|r| (r.uid, r.modseq))
                .collect();
            assert_eq!(s.search_meta(mb, f).unwrap(), want, "{f:?}");
        }
        let want: Vec<SortRow> = recs
            .iter()
            .map(|r| SortRow::of_record(r, Some(&s.blob(&r.blob).unwrap())))
            .collect();
        // Every UID and a UID that does not exist; then a few (point reads).
        let mut ask = uids.clone();
        ask.push(uid(10_000));
        assert_eq!(s.sort_rows(mb, &ask, SortNeed::ALL).unwrap(), want);
        // Only the fields asked for; the others empty.
        for need in [
            SortNeed::NONE,
            SortNeed {
                subject: true,
                ..SortNeed::NONE
            },
            SortNeed {
                subject: true,
                threading: true,
                ..SortNeed::NONE
            },
        ] {
            let part: Vec<SortRow> = want
                .iter()
                .map(|w| SortRow {
                    fields: need.keep(w.fields.clone()),
                    ..w.clone()
                })
                .collect();
            assert_eq!(s.sort_rows(mb, &ask, need).unwrap(), part, "{need:?}");
        }
        let few: Vec<Uid> = uids.iter().copied().step_by(40).collect();
        // The flags of every UID (a missing one skipped), then of a few: as the records say.
        let flag_rows = |rs: &[MessageRecord]| -> Vec<MessageSummary> {
            rs.iter()
                .map(|r| MessageSummary {
                    uid: r.uid,
                    flags: r.flags.clone(),
                    modseq: r.modseq,
                })
                .collect()
        };
        assert_eq!(s.flag_rows(mb, &ask).unwrap(), flag_rows(&recs));
        assert_eq!(
            s.flag_rows(mb, &few).unwrap(),
            flag_rows(&s.records(mb, &few, false).unwrap())
        );
        let got = s.sort_rows(mb, &few, SortNeed::ALL).unwrap();
        assert_eq!(got.len(), few.len());
        assert!(got.iter().all(|g| want.contains(g)));
        assert!(
            want.iter()
                .all(|w| w.fields.references.len() == 1 && w.fields.from.is_some())
        );
        let headers = s.header_sections(mb, &ask).unwrap();
        assert_eq!(headers.len(), recs.len());
        for ((u, h), r) in headers.iter().zip(&recs) {
            assert_eq!(*u, r.uid);
            let raw = s.blob(&r.blob).unwrap();
            assert_eq!(h.as_slice(), pochta_message::header_section(&raw));
            assert!(h.ends_with(b"\r\n\r\n"));
        }
        assert_eq!(s.header_sections(mb, &few).unwrap().len(), few.len());
    };
    check(&s, inbox);
    // A copy carries its keys (with its own INTERNALDATE: the same here).
    s.mailbox_create(acc, &name("Copy"), None).unwrap();
    let copy = mailbox_id(&s, acc, "Copy");
    s.copy(inbox, &all[100..], copy).unwrap();
    check(&s, copy);
    assert_eq!(s.summaries(copy).unwrap().len(), 200);
    drop(s);
    let s = fx.open();
    check(&s, inbox);
    check(&s, copy);
}

/// Bare LF is stored as CRLF; size counts CRLF; the parsed metadata comes back.
pub fn append_normalises_and_parses_once<F: Fixture>() {
    let (_fx, s, _acc, inbox) = setup::<F>();
    let raw = b"Subject: lf\nFrom: a@example.org\n\nline\n";
    let m = s
        .append(
            inbox,
            &[NewMessage {
                bytes: raw,
                flags: Flags::new(),
                internal_date: None,
            }],
        )
        .unwrap();
    let recs = s.records(inbox, &[m.pairs[0].1], true).unwrap();
    let crlf = b"Subject: lf\r\nFrom: a@example.org\r\n\r\nline\r\n";
    assert_eq!(recs[0].size, crlf.len() as u64);
    assert_eq!(s.blob(&recs[0].blob).unwrap().as_slice(), crlf);
    assert!(recs[0].meta.is_some());
    // The whole parse-once result is kept, SORT/THREAD fields included (RFC 5256).
    let sort = recs[0].meta.as_ref().unwrap().sort_fields().cloned();
    assert_eq!(sort.map(|f| f.base_subject), Some("lf".to_string()));
    let again = s.records(inbox, &[m.pairs[0].1], false).unwrap();
    assert!(again[0].meta.is_none());
    // A forged blob id names nothing.
    assert!(s.blob(&crate::BlobId("../../etc/passwd".into())).is_err());
}

/// MULTIAPPEND assigns consecutive ascending UIDs; a `\Noselect` mailbox takes no messages.
pub fn multiappend_and_noselect<F: Fixture>() {
    let (_fx, s, acc, inbox) = setup::<F>();
    let bodies: Vec<Vec<u8>> = (1..=3).map(message).collect();
    let msgs: Vec<NewMessage<'_>> = bodies
        .iter()
        .map(|b| NewMessage {
            bytes: b,
            flags: Flags::new(),
            internal_date: None,
        })
        .collect();
    let m = s.append(inbox, &msgs).unwrap();
    let got: Vec<u32> = m.pairs.iter().map(|p| p.1.get()).collect();
    assert_eq!(got, vec![1, 2, 3]);
    assert!(m.pairs.iter().all(|p| p.0.is_none()));
    s.mailbox_create(acc, &name("P/C"), None).unwrap();
    s.mailbox_delete(acc, &name("P")).unwrap();
    let p = mailbox_id(&s, acc, "P");
    assert!(s.append(p, &msgs).is_err());
    assert!(s.summaries(p).unwrap().is_empty());
}

// --- mailboxes ---

/// CREATE makes missing parents; an existing name is `AlreadyExists` (RFC 3501 §6.3.3).
pub fn mailbox_create_makes_parents<F: Fixture>() {
    let (_fx, s, acc, _inbox) = setup::<F>();
    let names: Vec<String> = s
        .mailboxes(acc)
        .unwrap()
        .iter()
        .map(|m| m.name.to_string())
        .collect();
    assert_eq!(
        names,
        ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    );
    let sent = s.mailbox(acc, &name("Sent")).unwrap().unwrap();
    assert_eq!(sent.special_use, Some(pochta_types::SpecialUse::Sent));
    s.mailbox_create(acc, &name("Входящие/Работа/2024"), None)
        .unwrap();
    for n in ["Входящие", "Входящие/Работа", "Входящие/Работа/2024"]
    {
        let m = s.mailbox(acc, &name(n)).unwrap().expect(n);
        assert!(!m.noselect);
    }
    assert!(matches!(
        s.mailbox_create(acc, &name("Входящие"), None),
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        s.mailbox_create(acc, &name("inbox"), None),
        Err(StoreError::AlreadyExists(_))
    ));
    s.mailbox_set_special_use(
        acc,
        &name("Входящие"),
        Some(pochta_types::SpecialUse::Flagged),
    )
    .unwrap();
    assert_eq!(
        s.mailbox(acc, &name("Входящие"))
            .unwrap()
            .unwrap()
            .special_use,
        Some(pochta_types::SpecialUse::Flagged)
    );
}

/// DELETE (RFC 3501 §6.3.4): INBOX refused; with children → `\Noselect`, messages gone;
/// `\Noselect` with children → `HasChildren`; leaf → removed.
pub fn mailbox_delete_rules<F: Fixture>() {
    let (_fx, s, acc, _inbox) = setup::<F>();
    assert!(matches!(
        s.mailbox_delete(acc, &MailboxName::inbox()),
        Err(StoreError::NotAllowed(_))
    ));
    assert!(matches!(
        s.mailbox_delete(acc, &name("Nope")),
        Err(StoreError::NotFound(_))
    ));
    s.mailbox_create(acc, &name("A/B"), None).unwrap();
    let a = mailbox_id(&s, acc, "A");
    let x = append(&s, a, 1, &[]);
    let mark = highest(&s, a);
    s.mailbox_delete(acc, &name("A")).unwrap();
    let info = s.mailbox(acc, &name("A")).unwrap().unwrap();
    assert!(info.noselect);
    assert!(s.summaries(a).unwrap().is_empty());
    assert_eq!(s.changes_since(a, mark).unwrap().expunged, vec![x]);
    assert!(matches!(
        s.mailbox_delete(acc, &name("A")),
        Err(StoreError::HasChildren(_))
    ));
    s.mailbox_delete(acc, &name("A/B")).unwrap();
    assert!(s.mailbox(acc, &name("A/B")).unwrap().is_none());
    // Now childless, the \Noselect parent can go too.
    s.mailbox_delete(acc, &name("A")).unwrap();
    assert!(s.mailbox(acc, &name("A")).unwrap().is_none());
    // Creating a \Noselect name makes it selectable again.
    s.mailbox_create(acc, &name("C/D"), None).unwrap();
    s.mailbox_delete(acc, &name("C")).unwrap();
    let c = s.mailbox_create(acc, &name("C"), None).unwrap();
    assert!(!c.noselect);
    append(&s, c.id, 2, &[]);
}

/// RENAME renames children too and keeps UIDVALIDITY and UIDs (RFC 3501 §6.3.5).
pub fn mailbox_rename_moves_children<F: Fixture>() {
    let (_fx, s, acc, _inbox) = setup::<F>();
    s.mailbox_create(acc, &name("Work/2024/Q1"), None).unwrap();
    s.mailbox_create(acc, &name("Workshop"), None).unwrap();
    let w = s.mailbox(acc, &name("Work")).unwrap().unwrap();
    let u = append(&s, w.id, 1, &[]);
    s.mailbox_rename(acc, &name("Work"), &name("Old/Job"))
        .unwrap();
    assert!(s.mailbox(acc, &name("Work")).unwrap().is_none());
    assert!(s.mailbox(acc, &name("Work/2024")).unwrap().is_none());
    assert!(
        s.mailbox(acc, &name("Old")).unwrap().is_some(),
        "parent created"
    );
    let j = s.mailbox(acc, &name("Old/Job")).unwrap().unwrap();
    assert_eq!((j.id, j.uid_validity), (w.id, w.uid_validity));
    assert_eq!(uids(&s, j.id), vec![u.get()]);
    assert!(s.mailbox(acc, &name("Old/Job/2024/Q1")).unwrap().is_some());
    assert!(
        s.mailbox(acc, &name("Workshop")).unwrap().is_some(),
        "sibling prefix untouched"
    );
    assert!(matches!(
        s.mailbox_rename(acc, &name("Workshop"), &name("Old/Job")),
        Err(StoreError::AlreadyExists(_))
    ));
    assert!(matches!(
        s.mailbox_rename(acc, &name("Nope"), &name("X")),
        Err(StoreError::NotFound(_))
    ));
    assert!(
        s.mailbox_rename(acc, &name("Old"), &name("Old/Inner"))
            .is_err()
    );
}

/// Renaming INBOX moves its messages to the new mailbox and leaves INBOX, empty.
pub fn mailbox_rename_inbox_moves_messages<F: Fixture>() {
    let (_fx, s, acc, inbox) = setup::<F>();
    s.mailbox_create(acc, &name("INBOX/Child"), None).unwrap();
    let a = append(&s, inbox, 1, &[Flag::Seen]);
    append(&s, inbox, 2, &[]);
    let before = s.mailbox(acc, &MailboxName::inbox()).unwrap().unwrap();
    s.mailbox_rename(acc, &MailboxName::inbox(), &name("Old Inbox"))
        .unwrap();
    let after = s.mailbox(acc, &MailboxName::inbox()).unwrap().unwrap();
    assert_eq!(after.id, inbox);
    assert_eq!(after.uid_validity, before.uid_validity);
    assert!(s.summaries(inbox).unwrap().is_empty());
    assert!(s.mailbox(acc, &name("INBOX/Child")).unwrap().is_some());
    let old = mailbox_id(&s, acc, "Old Inbox");
    let sums = s.summaries(old).unwrap();
    assert_eq!(sums.len(), 2);
    assert!(sums[0].flags.contains(&Flag::Seen));
    // New mail still goes to INBOX with a UID above the old ones.
    assert!(append(&s, inbox, 3, &[]) > a);
}

/// Subscriptions are names, existing or not (RFC 3501 §6.3.6).
pub fn subscriptions_are_names<F: Fixture>() {
    let (_fx, s, acc, _inbox) = setup::<F>();
    s.subscribe(acc, &name("Does/Not/Exist")).unwrap();
    s.subscribe(acc, &name("Does/Not/Exist")).unwrap();
    let subs = s.subscriptions(acc).unwrap();
    assert!(subs.contains(&name("Does/Not/Exist")));
    assert!(s.mailbox(acc, &name("Does/Not/Exist")).unwrap().is_none());
    s.unsubscribe(acc, &name("Does/Not/Exist")).unwrap();
    assert!(
        !s.subscriptions(acc)
            .unwrap()
            .contains(&name("Does/Not/Exist"))
    );
    let mut sorted = s.subscriptions(acc).unwrap();
    sorted.sort();
    assert_eq!(sorted, s.subscriptions(acc).unwrap());
}

// --- directory ---

/// Domains and accounts: add, list, lookup case-insensitively, password change, delete.
pub fn domains_and_accounts<F: Fixture>() {
    let fx = F::create();
    let s = fx.open();
    let d = Domain::new("example.org").unwrap();
    assert!(s.domain_add(&d).unwrap());
    assert!(!s.domain_add(&d).unwrap());
    assert!(s.domain_exists(&d).unwrap());
    let id = s.account_create(&addr("Ivan@Example.org"), "h1").unwrap();
    assert!(matches!(
        s.account_create(&addr("ivan@example.org"), "h2"),
        Err(StoreError::AlreadyExists(_))
    ));
    // The domain of a new account becomes local.
    s.account_create(&addr("x@почта.рф"), "h").unwrap();
    assert!(s.domain_exists(&Domain::new("почта.рф").unwrap()).unwrap());
    assert_eq!(s.domain_list().unwrap().len(), 2);
    let acc = s
        .account_by_address(&addr("IVAN@example.org"))
        .unwrap()
        .unwrap();
    assert_eq!(acc.id, id);
    assert_eq!(acc.address.to_string(), "Ivan@example.org");
    assert_eq!(acc.password_hash, "h1");
    s.account_set_password(&addr("ivan@example.org"), "h3", Some("scram"))
        .unwrap();
    let acc = s.account_by_id(id).unwrap().unwrap();
    assert_eq!(
        (acc.password_hash.as_str(), acc.scram_sha256.as_deref()),
        ("h3", Some("scram"))
    );
    assert_eq!(s.account_list().unwrap().len(), 2);
    assert!(matches!(s.domain_del(&d), Err(StoreError::NotAllowed(_))));
    let inbox = mailbox_id(&s, id, "INBOX");
    append(&s, inbox, 1, &[]);
    s.account_delete(&addr("ivan@example.org")).unwrap();
    assert!(s.account_by_id(id).unwrap().is_none());
    assert!(s.mailboxes(id).unwrap().is_empty());
    assert!(s.account_delete(&addr("ivan@example.org")).is_err());
    s.domain_del(&d).unwrap();
    assert!(!s.domain_exists(&d).unwrap());
    assert!(matches!(s.domain_del(&d), Err(StoreError::NotFound(_))));
}

/// Recipient resolution: account, then alias, then the domain's catch-all.
pub fn aliases_and_catch_all<F: Fixture>() {
    let fx = F::create();
    let s = fx.open();
    let ivan = s.account_create(&addr("ivan@example.org"), "h").unwrap();
    let post = s
        .account_create(&addr("postmaster@example.org"), "h")
        .unwrap();
    let resolve = |address: &str| s.resolve_recipient(&addr(address)).unwrap();
    assert_eq!(resolve("IVAN@example.org"), Some(ivan));
    assert_eq!(resolve("nobody@example.org"), None);
    s.alias_add("boss@example.org", &addr("ivan@example.org"))
        .unwrap();
    assert!(
        s.alias_add("boss@example.org", &addr("ivan@example.org"))
            .is_err()
    );
    assert!(
        s.alias_add("x@not-local.org", &addr("ivan@example.org"))
            .is_err()
    );
    assert_eq!(resolve("Boss@example.org"), Some(ivan));
    assert_eq!(resolve("nobody@example.org"), None);
    s.alias_add("@example.org", &addr("postmaster@example.org"))
        .unwrap();
    assert_eq!(resolve("nobody@example.org"), Some(post));
    // A real account and an explicit alias win over the catch-all.
    assert_eq!(resolve("ivan@example.org"), Some(ivan));
    assert_eq!(resolve("boss@example.org"), Some(ivan));
    assert_eq!(s.alias_list().unwrap().len(), 2);
    s.alias_del("boss@example.org").unwrap();
    assert_eq!(resolve("boss@example.org"), Some(post));
    assert!(s.alias_del("boss@example.org").is_err());
    assert_eq!(resolve("a@other.org"), None);
}

/// Account B cannot reach account A's mailboxes by id or by name.
pub fn accounts_are_isolated<F: Fixture>() {
    let (_fx, s, a, inbox_a) = setup::<F>();
    let b = s.account_create(&addr("b@example.org"), "h").unwrap();
    assert!(s.mailbox_by_id(b, inbox_a).unwrap().is_none());
    assert!(s.mailbox_by_id(a, inbox_a).unwrap().is_some());
    let inbox_b = mailbox_id(&s, b, "INBOX");
    assert_ne!(inbox_a, inbox_b);
    s.mailbox_create(a, &name("Secret"), None).unwrap();
    assert!(s.mailbox(b, &name("Secret")).unwrap().is_none());
    append(&s, inbox_a, 1, &[]);
    assert!(s.summaries(inbox_b).unwrap().is_empty());
    assert!(s.move_messages(inbox_a, &[uid(1)], inbox_b).is_err());
    assert_eq!(uids(&s, inbox_a), vec![1]);
}

/// One message delivered to twenty mailboxes shares one blob; it stays while any message
/// refers to it and goes with the last.
pub fn blob_shared_and_released<F: Fixture>() {
    let fx = F::create();
    let s = fx.open();
    let mut targets = Vec::new();
    for i in 0..20 {
        let acc = s
            .account_create(&addr(&format!("u{i}@example.org")), "h")
            .unwrap();
        targets.push((acc, mailbox_id(&s, acc, "INBOX")));
    }
    let bytes = message(42);
    let list: Vec<(MailboxId, Flags)> = targets.iter().map(|t| (t.1, Flags::new())).collect();
    let got = s.deliver(&list, &bytes, None).unwrap();
    assert_eq!(got, vec![uid(1); 20]);
    let blob = s.records(targets[0].1, &[uid(1)], false).unwrap()[0]
        .blob
        .clone();
    for (_, mb) in &targets {
        assert_eq!(s.records(*mb, &[uid(1)], false).unwrap()[0].blob, blob);
    }
    for (i, (acc, mb)) in targets.iter().enumerate().take(19) {
        if i % 2 == 0 {
            s.store_flags(*mb, &[uid(1)], FlagOp::Add, &flags(&[Flag::Deleted]), None)
                .unwrap();
            s.expunge(*mb, None).unwrap();
        } else {
            s.account_delete(&s.account_by_id(*acc).unwrap().unwrap().address)
                .unwrap();
        }
        assert_eq!(s.blob(&blob).unwrap().as_slice(), bytes.as_slice());
    }
    let last = targets[19].1;
    s.store_flags(last, &[uid(1)], FlagOp::Add, &flags(&[Flag::Deleted]), None)
        .unwrap();
    s.expunge(last, None).unwrap();
    assert!(matches!(s.blob(&blob), Err(StoreError::NotFound(_))));
    // Delivering the same bytes again stores them anew.
    let again = s.deliver(&[(last, Flags::new())], &bytes, None).unwrap();
    assert_eq!(s.blob(&blob).unwrap().as_slice(), bytes.as_slice());
    assert_eq!(again, vec![uid(2)]);
}

/// Several threads appending and flagging one mailbox: UIDs distinct and ascending in commit
/// order, MODSEQs distinct, no update lost.
pub fn concurrent_writers<F: Fixture>() {
    let (_fx, s, _acc, inbox) = setup::<F>();
    const THREADS: usize = 4;
    const PER: usize = 15;
    let s = Arc::new(s);
    let seed: Vec<Uid> = (0..THREADS)
        .map(|t| append(&*s, inbox, 10_000 + t, &[]))
        .collect();
    let results: Vec<Vec<Uid>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let s = Arc::clone(&s);
                let seed = seed.clone();
                scope.spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..PER {
                        mine.push(append(&*s, inbox, t * 1000 + i, &[]));
                        // Each thread adds its own keyword to every seed message: a lost
                        // read-modify-write would drop one.
                        s.store_flags(
                            inbox,
                            &seed,
                            FlagOp::Add,
                            &flags(&[kw(&format!("t{t}k{i}"))]),
                            None,
                        )
                        .unwrap();
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<Uid> = results.iter().flatten().copied().collect();
    for mine in &results {
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "a thread saw UIDs go down"
        );
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), THREADS * PER, "duplicate UIDs");
    let sums = s.summaries(inbox).unwrap();
    assert_eq!(sums.len(), THREADS * (PER + 1));
    let modseqs: BTreeSet<ModSeq> = sums.iter().map(|m| m.modseq).collect();
    assert_eq!(modseqs.len(), sums.len(), "two messages share a MODSEQ");
    for m in sums.iter().filter(|m| seed.contains(&m.uid)) {
        assert_eq!(
            m.flags.keywords().len(),
            THREADS * PER,
            "a flag update was lost"
        );
    }
    // UID order is commit order: a later UID never has a smaller MODSEQ at append time, so
    // for the messages nobody flagged, MODSEQ ascends with UID.
    let plain: Vec<&crate::MessageSummary> =
        sums.iter().filter(|m| !seed.contains(&m.uid)).collect();
    assert!(plain.windows(2).all(|w| w[0].modseq < w[1].modseq));
}

/// Everything committed is there after the store is dropped and opened again.
pub fn durable_across_reopen<F: Fixture>() {
    let (fx, s, acc, inbox) = setup::<F>();
    let a = append(&s, inbox, 1, &[Flag::Seen, kw("$Important")]);
    s.mailbox_create(acc, &name("Проекты/Почта"), None).unwrap();
    s.subscribe(acc, &name("Проекты/Почта")).unwrap();
    s.alias_add("@example.org", &addr("user@example.org"))
        .unwrap();
    let status = s.mailbox_status(inbox).unwrap();
    let rec = s.records(inbox, &[a], false).unwrap().remove(0);
    drop(s);
    let s = fx.open();
    assert_eq!(s.mailbox_status(inbox).unwrap(), status);
    let again = s.records(inbox, &[a], true).unwrap().remove(0);
    assert_eq!(again.flags, rec.flags);
    assert_eq!(again.blob, rec.blob);
    assert!(again.meta.is_some());
    assert_eq!(s.blob(&rec.blob).unwrap().as_slice(), message(1).as_slice());
    assert!(s.mailbox(acc, &name("Проекты/Почта")).unwrap().is_some());
    assert!(
        s.subscriptions(acc)
            .unwrap()
            .contains(&name("Проекты/Почта"))
    );
    assert_eq!(
        s.resolve_recipient(&addr("x@example.org")).unwrap(),
        Some(acc)
    );
}

/// Commits are announced on the bus, in commit order, after they are visible.
pub fn change_bus_announces_commits<F: Fixture>() {
    let (_fx, s, acc, inbox) = setup::<F>();
    let mut rx = s.change_bus().subscribe();
    let a = append(&s, inbox, 1, &[]);
    s.store_flags(inbox, &[a], FlagOp::Add, &flags(&[Flag::Seen]), None)
        .unwrap();
    s.mailbox_create(acc, &name("New"), None).unwrap();
    s.metadata_set(
        Some(inbox),
        acc,
        &[("/shared/comment".into(), Some(b"hi".to_vec()))],
        10,
    )
    .unwrap();
    // A refused SETMETADATA changes nothing, so announces nothing (RFC 5464 §4.3).
    let too_many: Vec<(String, Option<Vec<u8>>)> = (0..3)
        .map(|i| (format!("/private/n{i}"), Some(b"x".to_vec())))
        .collect();
    assert!(s.metadata_set(None, acc, &too_many, 2).is_err());
    let mut seen = Vec::new();
    while let Ok(e) = rx.try_recv() {
        seen.push(e);
    }
    let modseqs: Vec<ModSeq> = seen
        .iter()
        .filter_map(|e| match e {
            ChangeEvent::Mailbox {
                mailbox,
                modseq,
                account,
            } if *mailbox == inbox => {
                assert_eq!(*account, acc);
                Some(*modseq)
            }
            _ => None,
        })
        .collect();
    assert_eq!(modseqs.len(), 2);
    assert!(modseqs[0] < modseqs[1]);
    assert_eq!(modseqs[1], highest(&s, inbox));
    assert!(seen.contains(&ChangeEvent::MailboxList { account: acc }));
    // Metadata changes name the entries (NOTIFY's MailboxMetadataChange, RFC 5465 §5.6).
    let meta: Vec<&ChangeEvent> = seen
        .iter()
        .filter(|e| matches!(e, ChangeEvent::Metadata { .. }))
        .collect();
    assert_eq!(
        meta,
        vec![&ChangeEvent::Metadata {
            account: acc,
            mailbox: Some(inbox),
            entries: vec!["/shared/comment".into()],
        }]
    );
}

// --- quota (RFC 9208) ---

/// The usage the store reports, checked against the sum of every mailbox's STATUS.
fn assert_usage<S: MailStore>(s: &S, acc: AccountId, messages: u64, bytes: u64) {
    let q = s.quota(acc).unwrap();
    assert_eq!((q.messages, q.storage), (messages, bytes), "reported usage");
    let (mut m, mut b) = (0u64, 0u64);
    for mb in s.mailboxes(acc).unwrap() {
        let st = s.mailbox_status(mb.id).unwrap();
        m += u64::from(st.messages);
        b += st.size;
    }
    assert_eq!((m, b), (messages, bytes), "usage against STATUS");
}

/// Usage follows every path that adds or removes messages, and only those: append, deliver,
/// copy, move (no change), expunge, mailbox delete (with and without children), renaming
/// INBOX, across reopen; another account's mail never counts.
pub fn quota_usage_is_exact<F: Fixture>() {
    let (fx, s, acc, inbox) = setup::<F>();
    let len = |n: usize| message(n).len() as u64;
    assert_usage(&s, acc, 0, 0);
    let u1 = append(&s, inbox, 1, &[]);
    append(&s, inbox, 2, &[Flag::Deleted]);
    assert_usage(&s, acc, 2, len(1) + len(2));
    let work = s.mailbox_create(acc, &name("Work"), None).unwrap().id;
    s.deliver(
        &[(inbox, Flags::new()), (work, Flags::new())],
        &message(3),
        None,
    )
    .unwrap();
    assert_usage(&s, acc, 4, len(1) + len(2) + 2 * len(3));
    s.copy(inbox, &[u1], work).unwrap();
    assert_usage(&s, acc, 5, 2 * len(1) + len(2) + 2 * len(3));
    s.move_messages(inbox, &[u1], work).unwrap();
    assert_usage(&s, acc, 5, 2 * len(1) + len(2) + 2 * len(3));
    s.expunge(inbox, None).unwrap();
    assert_usage(&s, acc, 4, 2 * len(1) + 2 * len(3));
    // Another account's mail is its own.
    let other = s
        .account_create(&addr("other@example.org"), "$argon2id$x")
        .unwrap();
    let other_inbox = mailbox_id(&s, other, "INBOX");
    append(&s, other_inbox, 9, &[]);
    assert_usage(&s, other, 1, len(9));
    assert_usage(&s, acc, 4, 2 * len(1) + 2 * len(3));
    // Renaming INBOX moves its messages: no change.
    s.mailbox_rename(acc, &MailboxName::inbox(), &name("Old"))
        .unwrap();
    assert_usage(&s, acc, 4, 2 * len(1) + 2 * len(3));
    // Deleting a mailbox with children keeps it as \Noselect and drops its messages.
    s.mailbox_create(acc, &name("Work/Sub"), None).unwrap();
    s.mailbox_delete(acc, &name("Work")).unwrap();
    assert_usage(&s, acc, 1, len(3));
    s.mailbox_delete(acc, &name("Old")).unwrap();
    assert_usage(&s, acc, 0, 0);
    let inbox = mailbox_id(&s, acc, "INBOX");
    append(&s, inbox, 4, &[]);
    s.account_delete(&addr("other@example.org")).unwrap();
    drop(s);
    let s = fx.open();
    assert_usage(&s, acc, 1, len(4));
    assert_eq!(s.quota(acc).unwrap().limits, QuotaLimits::default());
}

/// Limits refuse, atomically and with the resource named, every call that would go over
/// them; moves, expunges and flag changes are never refused; limits survive reopen.
pub fn quota_is_enforced<F: Fixture>() {
    let (fx, s, acc, inbox) = setup::<F>();
    let len = message(1).len() as u64;
    let u1 = append(&s, inbox, 1, &[]);
    s.set_quota(
        acc,
        QuotaLimits {
            storage: None,
            messages: Some(2),
        },
    )
    .unwrap();
    assert_eq!(s.quota(acc).unwrap().limits.messages, Some(2));
    // MULTIAPPEND of two is refused whole; one fits.
    let (a, b) = (message(2), message(3));
    let two = [
        NewMessage {
            bytes: &a,
            flags: flags(&[]),
            internal_date: None,
        },
        NewMessage {
            bytes: &b,
            flags: flags(&[]),
            internal_date: None,
        },
    ];
    match s.append(inbox, &two) {
        Err(StoreError::OverQuota(e)) => {
            assert_eq!(e.resource, QuotaResource::Message);
            assert_eq!((e.usage, e.limit, e.requested), (1, 2, 2));
            assert!(!e.permanent());
        }
        other => panic!("expected OverQuota, got {other:?}"),
    }
    assert_eq!(uids(&s, inbox), vec![u1.get()]);
    let u2 = append(&s, inbox, 2, &[]);
    let trash = mailbox_id(&s, acc, "Trash");
    // Full: copy and deliver are refused, nothing is half done.
    assert!(matches!(
        s.copy(inbox, &[u1], trash),
        Err(StoreError::OverQuota(_))
    ));
    assert!(matches!(
        s.deliver(&[(inbox, Flags::new())], &message(5), None),
        Err(StoreError::OverQuota(_))
    ));
    assert_eq!(uids(&s, inbox), vec![u1.get(), u2.get()]);
    assert!(uids(&s, trash).is_empty());
    // A move, a flag change and an expunge are always allowed.
    s.move_messages(inbox, &[u2], trash).unwrap();
    s.store_flags(
        trash,
        &[uid(1)],
        FlagOp::Add,
        &flags(&[Flag::Deleted]),
        None,
    )
    .unwrap();
    s.expunge(trash, None).unwrap();
    assert_usage(&s, acc, 1, len);
    // Storage, in bytes; a message larger than the whole limit is refused for good.
    s.set_quota(
        acc,
        QuotaLimits {
            storage: Some(2 * len),
            messages: None,
        },
    )
    .unwrap();
    s.copy(inbox, &[u1], trash).unwrap();
    match s.deliver(&[(inbox, Flags::new())], &message(6), None) {
        Err(StoreError::OverQuota(e)) => {
            assert_eq!(e.resource, QuotaResource::Storage);
            assert_eq!((e.usage, e.limit), (2 * len, 2 * len));
        }
        other => panic!("expected OverQuota, got {other:?}"),
    }
    let big = vec![b'x'; usize::try_from(3 * len).unwrap()];
    match s.append(
        inbox,
        &[NewMessage {
            bytes: &big,
            flags: flags(&[]),
            internal_date: None,
        }],
    ) {
        Err(StoreError::OverQuota(e)) => assert!(e.permanent(), "{e}"),
        other => panic!("expected OverQuota, got {other:?}"),
    }
    // A limit below the usage refuses additions but removes nothing.
    s.set_quota(
        acc,
        QuotaLimits {
            storage: Some(0),
            messages: Some(0),
        },
    )
    .unwrap();
    assert_usage(&s, acc, 2, 2 * len);
    assert!(matches!(
        s.deliver(&[(inbox, Flags::new())], &message(7), None),
        Err(StoreError::OverQuota(_))
    ));
    // Another account is not limited by this one's quota.
    let other = s
        .account_create(&addr("other@example.org"), "$argon2id$x")
        .unwrap();
    let other_inbox = mailbox_id(&s, other, "INBOX");
    s.deliver(&[(other_inbox, Flags::new())], &message(7), None)
        .unwrap();
    drop(s);
    let s = fx.open();
    let q = s.quota(acc).unwrap();
    assert_eq!((q.limits.storage, q.limits.messages), (Some(0), Some(0)));
    // One delivery to two mailboxes of the account counts twice.
    s.set_quota(
        acc,
        QuotaLimits {
            storage: None,
            messages: Some(3),
        },
    )
    .unwrap();
    let trash = mailbox_id(&s, acc, "Trash");
    assert!(matches!(
        s.deliver(
            &[(inbox, Flags::new()), (trash, Flags::new())],
            &message(8),
            None
        ),
        Err(StoreError::OverQuota(_))
    ));
    s.deliver(&[(inbox, Flags::new())], &message(8), None)
        .unwrap();
    s.set_quota(acc, QuotaLimits::default()).unwrap();
    append(&s, inbox, 9, &[]);
    assert_usage(&s, acc, 4, 4 * len);
}

// --- access control (RFC 4314) ---

/// ACL entries are kept per mailbox and grantee; rights combine an account's entry with
/// `anyone`'s; the owner always has every right and cannot be granted any; entries follow
/// their mailbox through rename, go with it on delete, and go with a deleted grantee.
pub fn acl_entries_and_rights<F: Fixture>() {
    use pochta_types::Rights;
    let r = |s: &str| Rights::parse(s).unwrap();
    let (fx, s, owner, inbox) = setup::<F>();
    let bob = s.account_create(&addr("bob@example.org"), "h").unwrap();
    let eve = s.account_create(&addr("eve@example.org"), "h").unwrap();
    let work = s.mailbox_create(owner, &name("Work"), None).unwrap();
    assert_eq!(s.rights(owner, &work).unwrap(), Rights::ALL);
    assert_eq!(s.rights(bob, &work).unwrap(), Rights::NONE);
    assert!(s.acl(work.id).unwrap().is_empty());
    assert!(s.shared_with(bob).unwrap().is_empty());

    s.acl_set(work.id, Grantee::Account(bob), r("lr")).unwrap();
    s.acl_set(work.id, Grantee::Anyone, r("s")).unwrap();
    s.acl_set(work.id, Grantee::Anonymous, r("l")).unwrap();
    assert_eq!(
        s.acl(work.id).unwrap(),
        vec![
            (Grantee::Account(bob), r("lr")),
            (Grantee::Anyone, r("s")),
            (Grantee::Anonymous, r("l")),
        ]
    );
    assert_eq!(s.rights(bob, &work).unwrap(), r("lrs"));
    assert_eq!(s.rights(eve, &work).unwrap(), r("s"));
    assert_eq!(s.rights(owner, &work).unwrap(), Rights::ALL);
    let shared = s.shared_with(bob).unwrap();
    assert_eq!(shared.len(), 1);
    assert_eq!((shared[0].0.id, shared[0].1), (work.id, r("lrs")));
    assert_eq!(s.shared_with(eve).unwrap()[0].1, r("s"));
    assert!(s.shared_with(owner).unwrap().is_empty());
    // Replace, not add; the owner cannot be granted.
    s.acl_set(work.id, Grantee::Account(bob), r("lrswi"))
        .unwrap();
    assert_eq!(s.rights(bob, &work).unwrap(), r("lrswi"));
    assert!(matches!(
        s.acl_set(work.id, Grantee::Account(owner), r("l")),
        Err(StoreError::NotAllowed(_))
    ));
    assert!(
        s.acl_set(inbox, Grantee::Account(AccountId(999_999)), r("l"))
            .is_err()
    );
    // Rename keeps it; empty rights remove the entry.
    s.mailbox_rename(owner, &name("Work"), &name("Team"))
        .unwrap();
    let team = s.mailbox(owner, &name("Team")).unwrap().unwrap();
    assert_eq!(team.id, work.id);
    assert_eq!(s.rights(bob, &team).unwrap(), r("lrswis"));
    s.acl_set(team.id, Grantee::Anyone, Rights::NONE).unwrap();
    assert_eq!(s.rights(eve, &team).unwrap(), Rights::NONE);
    assert!(s.shared_with(eve).unwrap().is_empty());
    // Durable.
    drop(s);
    let s = fx.open();
    assert_eq!(s.rights(bob, &team).unwrap(), r("lrswi"));
    // A deleted grantee's entries go; a deleted mailbox's ACL goes.
    s.acl_set(inbox, Grantee::Account(eve), r("l")).unwrap();
    s.account_delete(&addr("eve@example.org")).unwrap();
    assert!(
        s.acl(inbox)
            .unwrap()
            .iter()
            .all(|(g, _)| *g != Grantee::Account(eve))
    );
    // Copy and move across accounts (for shared mailboxes) count against the destination.
    let bob_inbox = mailbox_id(&s, bob, "INBOX");
    let u = append(&s, team.id, 1, &[Flag::Flagged]);
    assert!(s.copy(team.id, &[u], bob_inbox).is_err());
    assert!(s.transfer_across(inbox, &[u], team.id, false).is_err());
    let m = s.transfer_across(team.id, &[u], bob_inbox, false).unwrap();
    assert_eq!(m.pairs.len(), 1);
    assert_eq!(s.quota(bob).unwrap().messages, 1);
    assert_eq!(s.quota(owner).unwrap().messages, 1);
    s.set_quota(
        bob,
        QuotaLimits {
            storage: None,
            messages: Some(1),
        },
    )
    .unwrap();
    assert!(matches!(
        s.transfer_across(team.id, &[u], bob_inbox, true),
        Err(StoreError::OverQuota(_))
    ));
    s.set_quota(bob, QuotaLimits::default()).unwrap();
    s.transfer_across(team.id, &[u], bob_inbox, true).unwrap();
    assert!(uids(&s, team.id).is_empty());
    assert_eq!(s.quota(owner).unwrap().messages, 0);
    assert_eq!(s.quota(bob).unwrap().messages, 2);
    assert_eq!(
        s.summaries(bob_inbox).unwrap()[1].flags,
        flags(&[Flag::Flagged])
    );
    s.mailbox_delete(owner, &name("Team")).unwrap();
    assert!(s.shared_with(bob).unwrap().is_empty());
    assert!(s.acl(team.id).unwrap().is_empty());
}

/// Metadata (RFC 5464): shared entries are everyone's, private ones the setter's; the
/// server scope is separate from every mailbox; a change is all or nothing; entries survive
/// reopening, stay with a renamed mailbox, are copied from a renamed INBOX, and go with a
/// deleted mailbox (also one that stays as `\Noselect`).
pub fn metadata_scopes_limits_and_lifecycle<F: Fixture>() {
    let (fx, s, acc, inbox) = setup::<F>();
    let other = s
        .account_create(&addr("other@example.org"), "$argon2id$x")
        .unwrap();
    let v = |x: &str| Some(x.as_bytes().to_vec());
    s.metadata_set(
        Some(inbox),
        acc,
        &[
            ("/shared/comment".into(), v("shared")),
            ("/private/comment".into(), v("mine")),
        ],
        10,
    )
    .unwrap();
    s.metadata_set(None, acc, &[("/private/vendor/x/y".into(), v("srv"))], 10)
        .unwrap();
    let got = s.metadata(Some(inbox), acc).unwrap();
    assert_eq!(
        got,
        vec![
            ("/private/comment".to_string(), b"mine".to_vec()),
            ("/shared/comment".to_string(), b"shared".to_vec()),
        ]
    );
    // Another account sees the shared entry only; the server scope is separate.
    let got = s.metadata(Some(inbox), other).unwrap();
    assert_eq!(
        got,
        vec![("/shared/comment".to_string(), b"shared".to_vec())]
    );
    assert_eq!(s.metadata(None, acc).unwrap().len(), 1);
    assert!(s.metadata(None, other).unwrap().is_empty());
    // Too many: nothing of the change is kept.
    let err = s
        .metadata_set(
            Some(inbox),
            acc,
            &[("/private/a".into(), v("1")), ("/private/b".into(), v("2"))],
            3,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Limit(_)), "{err:?}");
    assert_eq!(s.metadata(Some(inbox), acc).unwrap().len(), 2);
    // Removal.
    s.metadata_set(Some(inbox), acc, &[("/private/comment".into(), None)], 10)
        .unwrap();
    assert_eq!(s.metadata(Some(inbox), acc).unwrap().len(), 1);
    // Rename keeps them; a renamed INBOX copies them; delete drops them.
    s.mailbox_create(acc, &name("Work"), None).unwrap();
    let work = mailbox_id(&s, acc, "Work");
    s.metadata_set(Some(work), acc, &[("/shared/comment".into(), v("w"))], 10)
        .unwrap();
    s.mailbox_rename(acc, &name("Work"), &name("Job")).unwrap();
    let job = mailbox_id(&s, acc, "Job");
    assert_eq!(s.metadata(Some(job), acc).unwrap().len(), 1);
    s.mailbox_rename(acc, &MailboxName::inbox(), &name("Old"))
        .unwrap();
    let old = mailbox_id(&s, acc, "Old");
    assert_eq!(
        s.metadata(Some(old), acc).unwrap(),
        s.metadata(Some(inbox), acc).unwrap()
    );
    s.mailbox_create(acc, &name("Job/Sub"), None).unwrap();
    s.mailbox_delete(acc, &name("Job")).unwrap();
    assert!(s.metadata(Some(job), acc).unwrap().is_empty());
    s.mailbox_delete(acc, &name("Old")).unwrap();
    // Durable.
    drop(s);
    let s = fx.open();
    assert_eq!(s.metadata(Some(inbox), acc).unwrap().len(), 1);
    assert_eq!(s.metadata(None, acc).unwrap().len(), 1);
}

// --- URLAUTH mailbox access keys (RFC 4467 §2.2) ---

/// One key per (account, mailbox): the first stored wins, a reset replaces one mailbox's
/// key or removes all of an account's keys, another account's keys are untouched; keys
/// survive reopening and go with their mailbox; a missing mailbox is `NotFound`.
pub fn access_keys_per_account_and_mailbox<F: Fixture>() {
    let (fx, s, acc, inbox) = setup::<F>();
    let other = s
        .account_create(&addr("other@example.org"), "$argon2id$x")
        .unwrap();
    assert_eq!(s.access_key(acc, inbox).unwrap(), None);
    let k1 = s.access_key_or_insert(acc, inbox, &[1; 32]).unwrap();
    assert_eq!(k1, vec![1; 32]);
    // The stored key wins over a later candidate.
    assert_eq!(s.access_key_or_insert(acc, inbox, &[2; 32]).unwrap(), k1);
    // Per account: another user of the same mailbox has their own key.
    assert_eq!(
        s.access_key_or_insert(other, inbox, &[3; 32]).unwrap(),
        vec![3; 32]
    );
    assert_eq!(s.access_key(acc, inbox).unwrap(), Some(k1.clone()));
    // Per mailbox.
    s.mailbox_create(acc, &name("Keyed"), None).unwrap();
    let keyed = mailbox_id(&s, acc, "Keyed");
    assert_eq!(s.access_key(acc, keyed).unwrap(), None);
    s.access_key_or_insert(acc, keyed, &[4; 32]).unwrap();
    // Reset one mailbox: announced on the bus, and remembered by it for that mailbox only.
    let bus = s.change_bus();
    let mut rx = bus.subscribe();
    let mut same = bus.key_reset_mark();
    let (mut mailbox2, mut account2) = (same, same);
    s.access_key_reset(acc, Some((inbox, &[5; 32]))).unwrap();
    assert_eq!(s.access_key(acc, inbox).unwrap(), Some(vec![5; 32]));
    assert_eq!(s.access_key(acc, keyed).unwrap(), Some(vec![4; 32]));
    let mut resets = Vec::new();
    while let Ok(e) = rx.try_recv() {
        if matches!(e, ChangeEvent::AccessKey { .. }) {
            resets.push(e);
        }
    }
    assert_eq!(
        resets,
        vec![ChangeEvent::AccessKey {
            account: acc,
            mailbox: Some(inbox)
        }]
    );
    assert!(bus.key_resets_since(&mut same, acc, inbox));
    assert!(!bus.key_resets_since(&mut same, acc, inbox), "told once");
    assert!(!bus.key_resets_since(&mut mailbox2, acc, keyed));
    assert!(!bus.key_resets_since(&mut account2, other, inbox));
    // Missing mailbox.
    let gone = MailboxId(i64::MAX - 7);
    let err = s.access_key_or_insert(acc, gone, &[6; 32]).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    let err = s.access_key_reset(acc, Some((gone, &[6; 32]))).unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    // Durable.
    drop(s);
    let s = fx.open();
    assert_eq!(s.access_key(acc, inbox).unwrap(), Some(vec![5; 32]));
    // Reset all of one account's keys (every mailbox's); the other account keeps its own.
    let mut mark = s.change_bus().key_reset_mark();
    s.access_key_reset(acc, None).unwrap();
    assert!(s.change_bus().key_resets_since(&mut mark, acc, keyed));
    assert_eq!(s.access_key(acc, inbox).unwrap(), None);
    assert_eq!(s.access_key(acc, keyed).unwrap(), None);
    assert_eq!(s.access_key(other, inbox).unwrap(), Some(vec![3; 32]));
    // A key goes with its mailbox; a new mailbox of the same name starts without one.
    s.access_key_or_insert(acc, keyed, &[7; 32]).unwrap();
    s.mailbox_delete(acc, &name("Keyed")).unwrap();
    s.mailbox_create(acc, &name("Keyed"), None).unwrap();
    let keyed2 = mailbox_id(&s, acc, "Keyed");
    assert_eq!(s.access_key(acc, keyed2).unwrap(), None);
    assert_eq!(s.access_key(acc, keyed).unwrap(), None);
}

// --- POP3 maildrop lock (RFC 1939 §8) ---

/// One holder per account at a time; other accounts are independent; dropping releases.
pub fn maildrop_lock_is_exclusive<F: Fixture>() {
    let (_fx, s, acc, _inbox) = setup::<F>();
    let other = s.account_create(&addr("other@example.org"), "h").unwrap();
    let held = s
        .maildrop_lock(acc)
        .unwrap()
        .expect("a free maildrop locks");
    assert!(s.maildrop_lock(acc).unwrap().is_none(), "locked twice");
    let other_held = s.maildrop_lock(other).unwrap();
    assert!(
        other_held.is_some(),
        "another account's maildrop is independent"
    );
    drop(held);
    assert!(
        s.maildrop_lock(acc).unwrap().is_some(),
        "not released on drop"
    );
}

// --- Login throttle counters (issue 18) ---

/// Counters per key, counted atomically by concurrent callers, cleared one by one, and
/// forgotten once their last failure is a window old.
pub fn login_failures_count_within_a_window<F: Fixture>() {
    use crate::FailureKey;
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    let (_fx, s, _acc, _inbox) = setup::<F>();
    let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let a = FailureKey::Address(ip);
    let p = FailureKey::Pair(ip, "user@example.org".into());
    let q = FailureKey::Pair(other, "user@example.org".into());
    let win = Duration::from_secs(600);
    let both = [a.clone(), p.clone()];

    assert_eq!(s.login_failures(&both, win).unwrap(), [None, None]);
    assert_eq!(s.login_failed(&both, win).unwrap(), [1, 1]);
    assert_eq!(s.login_failed(&both, win).unwrap(), [2, 2]);
    let got = s
        .login_failures(&[a.clone(), p.clone(), q.clone()], win)
        .unwrap();
    assert_eq!(got[0].map(|f| f.count), Some(2));
    assert_eq!(got[1].map(|f| f.count), Some(2));
    assert!(got[1].unwrap().ago < Duration::from_secs(60), "{got:?}");
    assert_eq!(got[2], None, "another address's pair is its own counter");

    // Concurrent failures are all counted (one node or many: the store counts).
    std::thread::scope(|t| {
        for _ in 0..8 {
            t.spawn(|| {
                for _ in 0..25 {
                    s.login_failed(std::slice::from_ref(&q), win).unwrap();
                }
            });
        }
    });
    assert_eq!(
        s.login_failed(std::slice::from_ref(&q), win).unwrap(),
        [201]
    );

    // A success clears its pair, not the address.
    s.login_clear(&p).unwrap();
    let got = s.login_failures(&both, win).unwrap();
    assert_eq!(got[0].map(|f| f.count), Some(2));
    assert_eq!(got[1], None);

    // A counter whose last failure is a window old reads as none and starts again at 1.
    let short = Duration::from_millis(400);
    let r = FailureKey::Address(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)));
    assert_eq!(
        s.login_failed(std::slice::from_ref(&r), short).unwrap(),
        [1]
    );
    assert_eq!(
        s.login_failed(std::slice::from_ref(&r), short).unwrap(),
        [2]
    );
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        s.login_failures(std::slice::from_ref(&r), short).unwrap(),
        [None]
    );
    assert_eq!(
        s.login_failed(std::slice::from_ref(&r), short).unwrap(),
        [1]
    );
}
