//! Checks specific to the embedded backend: blob files on disk, crash leftovers, two
//! processes on one data directory.

use std::path::Path;
use std::time::Duration;

use pochta_store::{Directory, FlagOp, MailStore, MetaField, MetaFilter, NewMessage, SortRow};
use pochta_store_embedded::EmbeddedStore;
use pochta_types::{Address, Flag, Flags, MailboxName, Uid};
use sha2::{Digest, Sha256};

fn blob_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(dir.join("blobs")).unwrap() {
        for f in std::fs::read_dir(d.unwrap().path()).unwrap() {
            out.push(f.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A store that keeps every blob in a file, for the tests about blob files (by default small
/// messages are stored inline in the database: see `inline_blobs_*`).
fn files_only(dir: &Path) -> pochta_store::Result<EmbeddedStore> {
    EmbeddedStore::open_with_inline_max(dir, 0)
}

fn inbox(s: &EmbeddedStore, who: &str) -> pochta_types::MailboxId {
    let acc = s.account_create(&Address::new(who).unwrap(), "h").unwrap();
    s.mailbox(acc, &MailboxName::inbox()).unwrap().unwrap().id
}

const MSG: &[u8] = b"Subject: shared\r\n\r\nhello\r\n";

/// The id of the account `who`.
fn account_id(s: &EmbeddedStore, who: &str) -> pochta_types::AccountId {
    s.account_by_address(&Address::new(who).unwrap())
        .unwrap()
        .unwrap()
        .id
}

/// Append `n` small messages (`Subject: 0` …) to `mb`, one transaction each.
fn append_small(s: &EmbeddedStore, mb: pochta_types::MailboxId, n: usize) {
    for i in 0..n {
        append_one(s, mb, &format!("Subject: {i}\r\n\r\nx\r\n"));
    }
}

/// Append one message of `body`, no flags, arrival now, in its own transaction.
fn append_one(s: &EmbeddedStore, mb: pochta_types::MailboxId, body: &str) {
    s.append(
        mb,
        &[NewMessage {
            bytes: body.as_bytes(),
            flags: Flags::new(),
            internal_date: None,
        }],
    )
    .unwrap();
}

/// Twenty deliveries make one file; it goes only with the last reference.
#[test]
fn one_file_for_twenty_recipients() {
    let dir = tempfile::tempdir().unwrap();
    let s = files_only(dir.path()).unwrap();
    let boxes: Vec<_> = (0..20)
        .map(|i| inbox(&s, &format!("u{i}@example.org")))
        .collect();
    let targets: Vec<_> = boxes.iter().map(|b| (*b, Flags::new())).collect();
    s.deliver(&targets, MSG, None).unwrap();
    assert_eq!(blob_files(dir.path()), vec![hex(MSG)[2..].to_string()]);
    let deleted = Flags::from_flags(&[Flag::Deleted]);
    let one = [Uid::MIN];
    for b in &boxes[..19] {
        s.store_flags(*b, &one, FlagOp::Add, &deleted, None)
            .unwrap();
        s.expunge(*b, None).unwrap();
        assert_eq!(blob_files(dir.path()).len(), 1);
    }
    s.store_flags(boxes[19], &one, FlagOp::Add, &deleted, None)
        .unwrap();
    s.expunge(boxes[19], None).unwrap();
    assert!(blob_files(dir.path()).is_empty());
}

/// A crash after the blob file was written but before the metadata committed leaves a file
/// nobody sees; the sweep removes it (and stale temp files) once old enough, and never a
/// referenced blob.
#[test]
fn crash_between_blob_write_and_commit() {
    let dir = tempfile::tempdir().unwrap();
    let s = files_only(dir.path()).unwrap();
    let mb = inbox(&s, "a@example.org");
    s.append(
        mb,
        &[NewMessage {
            bytes: MSG,
            flags: Flags::new(),
            internal_date: None,
        }],
    )
    .unwrap();
    drop(s);
    // What the interrupted append left: its blob file, and another one's temp file.
    let orphan = b"Subject: never committed\r\n\r\nx\r\n";
    let id = hex(orphan);
    let sub = dir.path().join("blobs").join(&id[..2]);
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join(&id[2..]), orphan).unwrap();
    std::fs::write(sub.join(".tmp-1-0"), b"half a mess").unwrap();

    let s = files_only(dir.path()).unwrap();
    assert_eq!(s.summaries(mb).unwrap().len(), 1, "orphan became visible");
    assert_eq!(
        s.sweep_orphans(Duration::from_secs(3600)).unwrap(),
        0,
        "too young"
    );
    assert_eq!(s.sweep_orphans(Duration::ZERO).unwrap(), 2);
    assert_eq!(blob_files(dir.path()), vec![hex(MSG)[2..].to_string()]);
    let rec = s.records(mb, &[Uid::MIN], false).unwrap().remove(0);
    assert_eq!(s.blob(&rec.blob).unwrap().as_slice(), MSG);
    // The same bytes arriving later are stored again, whole.
    s.append(
        mb,
        &[NewMessage {
            bytes: orphan,
            flags: Flags::new(),
            internal_date: None,
        }],
    )
    .unwrap();
    assert_eq!(blob_files(dir.path()).len(), 2);
}

/// A message whose file vanished while unreferenced (swept) is rewritten when it arrives again
/// even though an old file of that name was seen before the write transaction.
#[test]
fn reappearing_message_after_collection() {
    let dir = tempfile::tempdir().unwrap();
    let s = files_only(dir.path()).unwrap();
    let mb = inbox(&s, "a@example.org");
    let deleted = Flags::from_flags(&[Flag::Deleted]);
    for round in 0..3 {
        let m = s
            .append(
                mb,
                &[NewMessage {
                    bytes: MSG,
                    flags: deleted.clone(),
                    internal_date: None,
                }],
            )
            .unwrap();
        let rec = s.records(mb, &[m.pairs[0].1], true).unwrap().remove(0);
        assert_eq!(s.blob(&rec.blob).unwrap().as_slice(), MSG, "round {round}");
        s.expunge(mb, None).unwrap();
        assert!(blob_files(dir.path()).is_empty());
    }
}

/// Two stores on one directory (the admin CLI next to the server) serialise their writes.
#[test]
fn two_openers_share_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let a = EmbeddedStore::open(dir.path()).unwrap();
    let b = EmbeddedStore::open(dir.path()).unwrap();
    let mb = inbox(&a, "a@example.org");
    let acc = b
        .account_by_address(&Address::new("A@example.org").unwrap())
        .unwrap()
        .unwrap();
    assert!(b.mailbox_by_id(acc.id, mb).unwrap().is_some());
    std::thread::scope(|scope| {
        for s in [&a, &b] {
            scope.spawn(move || {
                for i in 0..20 {
                    append_one(s, mb, &format!("Subject: {i} {:p}\r\n\r\nx\r\n", s));
                }
            });
        }
    });
    let uids: Vec<u32> = a
        .summaries(mb)
        .unwrap()
        .iter()
        .map(|m| m.uid.get())
        .collect();
    assert_eq!(uids, (1..=40).collect::<Vec<_>>());
    assert_eq!(b.mailbox_status(mb).unwrap().messages, 40);
}

/// A database from before the search/sort keys (schema 7) gains them on open for every
/// message it holds, inline or in a file (migration 7 → 8 and its backfill).
#[test]
fn keys_migration_fills_existing_messages() {
    let dir = tempfile::tempdir().unwrap();
    let big = format!(
        "From: Big <big@example.org>\r\nDate: Tue, 5 Mar 2024 23:30:00 -0500\r\n\
         Subject: Fwd: large\r\nMessage-ID: <big@x>\r\n\r\n{}\r\n",
        "y".repeat(200_000)
    );
    let mb = {
        let s = EmbeddedStore::open(dir.path()).unwrap();
        let mb = inbox(&s, "a@example.org");
        append_small(&s, mb, 5);
        s.append(
            mb,
            &[NewMessage {
                bytes: big.as_bytes(),
                flags: Flags::new(),
                internal_date: None,
            }],
        )
        .unwrap();
        mb
    };
    let expected = |s: &EmbeddedStore| {
        let uids: Vec<Uid> = s.summaries(mb).unwrap().iter().map(|m| m.uid).collect();
        let recs = s.records(mb, &uids, true).unwrap();
        let rows: Vec<SortRow> = recs
            .iter()
            .map(|r| SortRow::of_record(r, Some(&s.blob(&r.blob).unwrap())))
            .collect();
        let headers: Vec<(Uid, Vec<u8>)> = recs
            .iter()
            .map(|r| {
                let raw = s.blob(&r.blob).unwrap();
                (r.uid, pochta_message::header_section(&raw).to_vec())
            })
            .collect();
        (uids, rows, headers)
    };
    let want = {
        let s = EmbeddedStore::open(dir.path()).unwrap();
        let (uids, rows, headers) = expected(&s);
        assert_eq!(
            s.sort_rows(mb, &uids, pochta_store::SortNeed::ALL).unwrap(),
            rows
        );
        (uids, rows, headers)
    };
    // Back to schema 7.
    let db = rusqlite::Connection::open(dir.path().join("pochta.sqlite3")).unwrap();
    db.execute_batch(
        "DROP INDEX messages_flags;
         DROP TRIGGER messages_keys_add; DROP TRIGGER messages_keys_del;
         DROP TRIGGER blobs_keys_del; DROP TABLE message_keys; DROP TABLE blob_keys;
         DROP TRIGGER messages_kw_add; DROP TRIGGER messages_kw_del;
         DROP TRIGGER messages_kw_old; DROP TRIGGER messages_kw_new; DROP TABLE keyword_sets;
         PRAGMA user_version = 7;",
    )
    .unwrap();
    drop(db);
    let s = EmbeddedStore::open(dir.path()).unwrap();
    let (uids, rows, headers) = want;
    assert_eq!(uids.len(), 6);
    assert_eq!(
        s.sort_rows(mb, &uids, pochta_store::SortNeed::ALL).unwrap(),
        rows
    );
    assert_eq!(s.header_sections(mb, &uids).unwrap(), headers);
    let last = rows.last().unwrap();
    assert_eq!(last.fields.base_subject, "large");
    assert_eq!(last.sent, Some(1_709_699_400));
    // The sent day as written (5 March), not the UTC day (6 March).
    let on = |d| MetaFilter::Range(MetaField::SentDay, Some(d), Some(d + 1));
    assert_eq!(s.search_meta(mb, &on(19_787)).unwrap().len(), 1);
    assert_eq!(s.search_meta(mb, &on(19_788)).unwrap().len(), 0);
    // New messages after the migration get their keys too.
    append_small(&s, mb, 1);
    let uids: Vec<Uid> = s.summaries(mb).unwrap().iter().map(|m| m.uid).collect();
    assert_eq!(
        s.sort_rows(mb, &uids, pochta_store::SortNeed::ALL)
            .unwrap()
            .len(),
        7
    );
}

/// A database from before the subject columns (schema 9) gains them on open, filled from the
/// stored fields (migration 9 → 10); SORT's subject-only read (the covering index) then gives
/// what the full rows give, and new messages get the columns from the trigger.
#[test]
fn subject_migration_fills_existing_messages() {
    let dir = tempfile::tempdir().unwrap();
    let subject_only = pochta_store::SortNeed {
        subject: true,
        ..pochta_store::SortNeed::NONE
    };
    let (mb, want) = {
        let s = EmbeddedStore::open(dir.path()).unwrap();
        let mb = inbox(&s, "a@example.org");
        append_small(&s, mb, 3);
        for body in [
            "Subject: Re: [list] Hello\r\nDate: Tue, 5 Mar 2024 23:30:00 -0500\r\n\r\nx\r\n",
            "Subject: =?utf-8?B?0J/RgNC40LLQtdGC?=\r\n\r\nx\r\n",
            "From: nobody@example.org\r\n\r\nno subject\r\n",
        ] {
            append_one(&s, mb, body);
        }
        let uids: Vec<Uid> = s.summaries(mb).unwrap().iter().map(|m| m.uid).collect();
        let want: Vec<SortRow> = s
            .sort_rows(mb, &uids, pochta_store::SortNeed::ALL)
            .unwrap()
            .into_iter()
            .map(|r| SortRow {
                fields: subject_only.keep(r.fields),
                ..r
            })
            .collect();
        assert_eq!(s.sort_rows(mb, &uids, subject_only).unwrap(), want);
        (mb, want)
    };
    assert_eq!(want[3].fields.base_subject, "Hello");
    assert!(want[3].fields.reply);
    assert_eq!(want[4].fields.base_subject, "Привет");
    assert_eq!(want[5].fields.base_subject, "");
    // Back to schema 9.
    let db = rusqlite::Connection::open(dir.path().join("pochta.sqlite3")).unwrap();
    db.execute_batch(
        "DROP INDEX message_keys_sort;
         DROP TRIGGER messages_keys_add;
         CREATE TRIGGER messages_keys_add AFTER INSERT ON messages BEGIN
             INSERT OR REPLACE INTO message_keys
                 (mailbox, uid, arrival, size, sent, sent_day, fields)
                 SELECT NEW.mailbox, NEW.uid, NEW.internal_date, NEW.size, k.sent, k.sent_day,
                        k.fields
                 FROM blob_keys k WHERE k.id = NEW.blob;
         END;
         ALTER TABLE message_keys DROP COLUMN subject; ALTER TABLE message_keys DROP COLUMN reply;
         ALTER TABLE blob_keys DROP COLUMN subject; ALTER TABLE blob_keys DROP COLUMN reply;
         PRAGMA user_version = 9;",
    )
    .unwrap();
    drop(db);
    let s = EmbeddedStore::open(dir.path()).unwrap();
    let uids: Vec<Uid> = want.iter().map(|r| r.uid).collect();
    assert_eq!(s.sort_rows(mb, &uids, subject_only).unwrap(), want);
    append_small(&s, mb, 1);
    let uids: Vec<Uid> = s.summaries(mb).unwrap().iter().map(|m| m.uid).collect();
    let all = s.sort_rows(mb, &uids, subject_only).unwrap();
    assert_eq!(all.len(), 7);
    assert_eq!(all[6].fields.base_subject, "0");
}

/// A database from before quotas (schema 1) gains them on open, with usage computed from
/// the messages it already holds (migration 1 → 2).
#[test]
fn quota_migration_counts_existing_mail() {
    let dir = tempfile::tempdir().unwrap();
    let (mb, acc) = {
        // Blob files, as schema 1 kept them (inline bytes would go with the column below).
        let s = files_only(dir.path()).unwrap();
        let mb = inbox(&s, "a@example.org");
        inbox(&s, "b@example.org");
        append_small(&s, mb, 3);
        let acc = account_id(&s, "a@example.org");
        (mb, acc)
    };
    // Back to schema 1: what an older Pochta left behind.
    let db = rusqlite::Connection::open(dir.path().join("pochta.sqlite3")).unwrap();
    db.execute_batch(
        "DROP INDEX messages_flags;
         DROP TRIGGER messages_keys_add; DROP TRIGGER messages_keys_del;
         DROP TRIGGER blobs_keys_del; DROP TABLE message_keys; DROP TABLE blob_keys;
         DROP TRIGGER messages_kw_add; DROP TRIGGER messages_kw_del;
         DROP TRIGGER messages_kw_old; DROP TRIGGER messages_kw_new; DROP TABLE keyword_sets;
         DROP TABLE access_keys;
         DROP TRIGGER accounts_metadata; DROP TABLE metadata;
         DROP TRIGGER messages_private_seen; DROP TABLE private_seen;
         ALTER TABLE mailboxes DROP COLUMN seen_per_user;
         DELETE FROM accounts WHERE key = '#public'; DELETE FROM domains WHERE name = '#public';
         ALTER TABLE blobs DROP COLUMN data;
         DROP TRIGGER accounts_acl; DROP TABLE acl;
         DROP TRIGGER accounts_quota; DROP TRIGGER messages_usage_add;
         DROP TRIGGER messages_usage_sub; DROP TRIGGER mailboxes_usage_sub;
         DROP TABLE quotas; PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(db);
    let s = EmbeddedStore::open(dir.path()).unwrap();
    let q = s.quota(acc).unwrap();
    let size = s.mailbox_status(mb).unwrap().size;
    assert_eq!((q.messages, q.storage), (3, size));
    let other = account_id(&s, "b@example.org");
    assert_eq!(s.quota(other).unwrap().messages, 0);
    // And new accounts get a quota row.
    let c = inbox(&s, "c@example.org");
    s.append(
        c,
        &[NewMessage {
            bytes: MSG,
            flags: Flags::new(),
            internal_date: None,
        }],
    )
    .unwrap();
    let c_acc = account_id(&s, "c@example.org");
    assert_eq!(s.quota(c_acc).unwrap().messages, 1);
}

/// Concurrent deliveries are committed in groups; within a group a delivery that fails (here:
/// over the message quota) is rolled back alone. Every `Ok` is a stored message with its own
/// UID, every refusal stored nothing, and the limit holds exactly.
#[test]
fn concurrent_deliveries_group_commit_and_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(dir.path()).unwrap();
    let acc = s
        .account_create(&Address::new("g@example.org").unwrap(), "h")
        .unwrap();
    let mb = s.mailbox(acc, &MailboxName::inbox()).unwrap().unwrap().id;
    s.set_quota(
        acc,
        pochta_store::QuotaLimits {
            storage: None,
            messages: Some(40),
        },
    )
    .unwrap();
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|t| {
                let s = s.clone();
                scope.spawn(move || {
                    (0..5)
                        .map(|i| {
                            let msg = format!("Subject: t{t} m{i}\r\n\r\nbody\r\n");
                            s.deliver(&[(mb, Flags::new())], msg.as_bytes(), None)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let mut uids: Vec<Uid> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .flatten()
        .copied()
        .collect();
    let refused = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(uids.len(), 40, "{refused} refused");
    assert_eq!(refused, 80 - 40);
    uids.sort();
    uids.dedup();
    assert_eq!(uids.len(), 40, "UIDs handed out twice");
    let stored: Vec<Uid> = s.summaries(mb).unwrap().iter().map(|m| m.uid).collect();
    assert_eq!(stored, uids);
}

/// Small blobs live in the database: no file, still stored once for twenty recipients,
/// readable after reopening, gone with the last reference. A blob over the limit is a file.
#[test]
fn inline_blobs_small_in_the_database_large_as_files() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(dir.path()).unwrap();
    let boxes: Vec<_> = (0..20)
        .map(|i| inbox(&s, &format!("u{i}@example.org")))
        .collect();
    let targets: Vec<_> = boxes.iter().map(|b| (*b, Flags::new())).collect();
    s.deliver(&targets, MSG, None).unwrap();
    assert!(
        blob_files(dir.path()).is_empty(),
        "small message became a file"
    );
    drop(s);
    let s = EmbeddedStore::open(dir.path()).unwrap();
    let rec = s.records(boxes[0], &[Uid::MIN], true).unwrap().remove(0);
    assert_eq!(rec.blob.0, hex(MSG));
    assert_eq!(s.blob(&rec.blob).unwrap().as_slice(), MSG);
    let deleted = Flags::from_flags(&[Flag::Deleted]);
    for b in &boxes {
        s.store_flags(*b, &[Uid::MIN], FlagOp::Add, &deleted, None)
            .unwrap();
        s.expunge(*b, None).unwrap();
    }
    let fresh = EmbeddedStore::open(dir.path()).unwrap();
    assert!(
        fresh.blob(&rec.blob).is_err(),
        "inline blob outlived its last reference"
    );

    let mut big = b"Subject: big\r\n\r\n".to_vec();
    while big.len() <= pochta_store_embedded::INLINE_MAX {
        big.extend_from_slice(
            b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n",
        );
    }
    let uids = s.deliver(&[(boxes[0], Flags::new())], &big, None).unwrap();
    assert_eq!(blob_files(dir.path()), vec![hex(&big)[2..].to_string()]);
    let rec = s.records(boxes[0], &uids, false).unwrap().remove(0);
    assert_eq!(s.blob(&rec.blob).unwrap().as_slice(), big.as_slice());
}

/// A directory written with every blob in a file (schema 3, or a zero limit) reads the same
/// under the default limit, and a message arriving again reuses the file instead of a row copy.
#[test]
fn file_blobs_stay_files_under_the_inline_limit() {
    let dir = tempfile::tempdir().unwrap();
    let s = files_only(dir.path()).unwrap();
    let mb = inbox(&s, "a@example.org");
    s.deliver(&[(mb, Flags::new())], MSG, None).unwrap();
    drop(s);
    let s = EmbeddedStore::open(dir.path()).unwrap();
    let uids = s.deliver(&[(mb, Flags::new())], MSG, None).unwrap();
    assert_eq!(blob_files(dir.path()), vec![hex(MSG)[2..].to_string()]);
    let rec = s.records(mb, &uids, false).unwrap().remove(0);
    assert_eq!(s.blob(&rec.blob).unwrap().as_slice(), MSG);
}

/// The public folders' owner is a reserved account: it owns mailboxes like any account, but
/// the directory never shows it and no address reaches it. Its mailboxes keep `\Seen` per
/// user by default.
#[test]
fn public_owner_is_reserved_and_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(dir.path()).unwrap();
    inbox(&s, "a@example.org");
    let public = s
        .public_owner()
        .unwrap()
        .expect("the embedded store has public folders");
    assert!(s.account_by_id(public).unwrap().is_none());
    let listed: Vec<String> = s
        .account_list()
        .unwrap()
        .iter()
        .map(|a| a.address.to_string())
        .collect();
    assert_eq!(listed, vec!["a@example.org"]);
    assert!(
        s.domain_list()
            .unwrap()
            .iter()
            .all(|d| d.as_str() != "#public")
    );
    let news = MailboxName::new("News").unwrap();
    let mb = s.mailbox_create(public, &news, None).unwrap();
    assert!(mb.seen_per_user);
    assert_eq!(s.mailboxes(public).unwrap().len(), 1);
    // Reopening finds the same owner (it is a row, not a per-process value).
    drop(s);
    let s = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(s.public_owner().unwrap(), Some(public));
}

/// Per-user `\Seen`: each user's state is their own, changes take a new MODSEQ, expunged
/// messages leave it, and switching the mailbox back to a shared `\Seen` clears it.
#[test]
fn private_seen_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(dir.path()).unwrap();
    let mb = inbox(&s, "owner@example.org");
    let b = s
        .account_create(&Address::new("b@example.org").unwrap(), "h")
        .unwrap();
    let c = s
        .account_create(&Address::new("c@example.org").unwrap(), "h")
        .unwrap();
    append_small(&s, mb, 3);
    let uids = [Uid::new(1).unwrap(), Uid::new(2).unwrap()];
    // Refused while the mailbox keeps one shared \Seen.
    assert!(s.set_private_seen(mb, b, &uids, true).is_err());
    s.set_seen_per_user(mb, true).unwrap();
    let before = s.mailbox_status(mb).unwrap().highest_modseq;
    let changed = s.set_private_seen(mb, b, &uids, true).unwrap();
    assert_eq!(changed.len(), 2);
    assert!(changed.iter().all(|m| m.modseq > before));
    // The shared flags are untouched.
    assert!(changed.iter().all(|m| !m.flags.contains(&Flag::Seen)));
    assert_eq!(s.mailbox_status(mb).unwrap().unseen, 3);
    // Setting it again changes nothing and takes no MODSEQ.
    assert!(
        s.set_private_seen(mb, b, &uids[..1], true)
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.private_seen(mb, b).unwrap(), uids.to_vec());
    assert!(s.private_seen(mb, c).unwrap().is_empty());
    // An expunged message leaves the private state with its row.
    s.store_flags(
        mb,
        &uids[..1],
        FlagOp::Add,
        &Flags::from_flags(&[Flag::Deleted]),
        None,
    )
    .unwrap();
    s.expunge(mb, None).unwrap();
    assert_eq!(s.private_seen(mb, b).unwrap(), vec![uids[1]]);
    s.set_private_seen(mb, b, &uids[1..], false).unwrap();
    assert!(s.private_seen(mb, b).unwrap().is_empty());
    s.set_private_seen(mb, c, &uids[1..], true).unwrap();
    s.set_seen_per_user(mb, false).unwrap();
    assert!(s.private_seen(mb, c).unwrap().is_empty());
    let owner = account_id(&s, "owner@example.org");
    assert!(!s.mailbox_by_id(owner, mb).unwrap().unwrap().seen_per_user);
}

/// An acknowledgement is only as durable as the commit under it. The writer runs in WAL mode
/// with `synchronous=NORMAL` (SQLite does not fsync at COMMIT) and the store fsyncs the WAL
/// itself: a durable write (APPEND, delivery, mailbox changes) returns only after an fsync that
/// covers its commit; a lazy one (flags, `\Recent`, expunge, copy/move) returns at once and is
/// covered within `LAZY_BOUND`. What is checked is the setting and the bookkeeping of fsyncs
/// (a SIGKILL test cannot see a missing fsync, and no test here cuts the power).
#[test]
fn durable_writes_are_fsynced_before_returning_lazy_ones_soon_after() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(dir.path()).unwrap();
    assert_eq!(s.durability().unwrap(), ("wal".to_string(), 1));
    let mb = inbox(&s, "dur@example.org");
    let before = s.wal_counters().2;
    let uids = s
        .append(
            mb,
            &[NewMessage {
                bytes: MSG,
                flags: Flags::new(),
                internal_date: None,
            }],
        )
        .unwrap();
    let (written, synced, syncs) = s.wal_counters();
    assert!(syncs > before, "no fsync of the WAL after a durable append");
    assert_eq!(
        synced, written,
        "append returned before its commit was fsynced"
    );
    // A flag change returns before its fsync, which follows within LAZY_BOUND.
    let mut seen = Flags::new();
    seen.insert(&Flag::Seen);
    let uids: Vec<Uid> = uids.pairs.iter().map(|p| p.1).collect();
    s.store_flags(mb, &uids, FlagOp::Add, &seen, None).unwrap();
    let (written, _, _) = s.wal_counters();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while s.wal_counters().1 < written {
        assert!(
            std::time::Instant::now() < deadline,
            "the lazy flag change was not fsynced within 10 s: {:?}",
            s.wal_counters()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
