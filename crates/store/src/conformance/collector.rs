//! The conformance suite every [`CollectorStore`] backend runs.
//!
//! A backend implements [`CollectorFixture`] and expands
//! [`collector_conformance_tests!`](crate::collector_conformance_tests) in one of its test
//! files:
//!
//! ```ignore
//! struct Embedded(tempfile::TempDir);
//! impl pochta_store::conformance::collector::CollectorFixture for Embedded { /* … */ }
//! pochta_store::collector_conformance_tests!(Embedded);
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::StoreError;
use crate::collector::{
    CollectorStore, ContactsSync, FolderState, MessageRow, NewSource, Pending, PendingItem,
};

/// Storage under test.
pub trait CollectorFixture: Sized {
    type Store: CollectorStore;
    /// Fresh, empty storage.
    fn create() -> Self;
    /// A store over this storage. Called again after the previous store was dropped, it must
    /// show everything the previous one committed.
    fn open(&self) -> Self::Store;
}

/// Expand to one `#[test]` per collector conformance check, for the given
/// [`CollectorFixture`] type.
#[macro_export]
macro_rules! collector_conformance_tests {
    ($fixture:ty) => {
        $crate::collector_conformance_tests!(@each $fixture;
            sources_round_trip_and_are_unique,
            secrets_are_kept_as_given,
            update_keeps_checkpoints,
            attempts_and_idle_status,
            deleting_a_source_forgets_its_state,
            folders_put_and_replace,
            pending_then_commit_batch,
            commit_never_lowers_last_uid,
            flags_and_rekey,
            one_lock_per_source,
            state_is_durable,
            contacts_sync_round_trip
        );
    };
    (@each $fixture:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::collector::$name::<$fixture>();
            }
        )*
    };
}

/// Adds the source `url` / `user` of me@a.test; its id.
fn add(s: &impl CollectorStore, url: &str, user: &str) -> i64 {
    s.add_source(&source("me@a.test", url, user)).unwrap()
}

fn source<'a>(account: &'a str, url: &'a str, user: &'a str) -> NewSource<'a> {
    NewSource {
        account,
        url,
        user,
        secret: b"\x00sealed\xff",
        insecure: false,
        folder_prefix: None,
        delete_remote: false,
        created: 1000,
    }
}

fn folder(remote: &str, validity: u32, last: u32) -> FolderState {
    FolderState {
        remote: remote.into(),
        local: format!("Local/{remote}"),
        uid_validity: validity,
        last_uid: last,
        highest_modseq: Some(u64::from(last) * 10 + (1 << 40)),
    }
}

fn row(key: &str, uid: u32) -> MessageRow {
    MessageRow {
        key: key.into(),
        local_uid: uid,
        flags: "\\Seen $Label1".into(),
        message_id: Some(format!("<{key}@x>")),
        remote_size: 1 << 33,
        idate: -5 + i64::from(uid),
    }
}

fn pending(keys: &[&str]) -> Pending {
    Pending {
        local: "INBOX".into(),
        local_validity: 77,
        uid_next: 5,
        remote_validity: 3_000_000_000,
        items: keys
            .iter()
            .enumerate()
            .map(|(i, k)| PendingItem {
                key: (*k).into(),
                local_size: 100 + i as u64,
                idate: 1_700_000_000 + i as i64,
                flags: if i % 2 == 0 {
                    String::new()
                } else {
                    "\\Flagged".into()
                },
                message_id: (i % 2 == 0).then(|| format!("<{k}@x>")),
                remote_size: 90 + i as u64,
            })
            .collect(),
    }
}

fn sorted(mut rows: Vec<MessageRow>) -> Vec<MessageRow> {
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    rows
}

pub fn sources_round_trip_and_are_unique<F: CollectorFixture>() {
    let f = F::create();
    let s = f.open();
    assert!(s.sources(None).unwrap().is_empty());
    let a = add(&s, "imaps://mail.example.com", "old");
    let dup = s.add_source(&source("me@a.test", "imaps://mail.example.com", "old"));
    assert!(matches!(dup, Err(StoreError::AlreadyExists(_))), "{dup:?}");
    let b = s
        .add_source(&NewSource {
            insecure: true,
            folder_prefix: Some("Old/Mail"),
            delete_remote: true,
            created: 2000,
            ..source("you@a.test", "pop3s://pop.example.com:995", "you")
        })
        .unwrap();
    let c = add(&s, "imaps://mail.example.com", "other");
    assert!(a != b && b != c && a != c);
    let all = s.sources(None).unwrap();
    assert_eq!(all.iter().map(|s| s.id).collect::<Vec<_>>(), [a, b, c]);
    let x = &all[1];
    assert_eq!(
        (x.account.as_str(), x.url.as_str(), x.user.as_str()),
        ("you@a.test", "pop3s://pop.example.com:995", "you")
    );
    assert!(x.insecure && x.delete_remote);
    assert_eq!(
        (x.folder_prefix.as_deref(), x.created),
        (Some("Old/Mail"), 2000)
    );
    assert_eq!(
        (x.last_attempt, x.last_success, &x.last_error),
        (None, None, &None)
    );
    assert_eq!(
        (x.imported_messages, x.imported_bytes, x.flag_updates),
        (0, 0, 0)
    );
    assert_eq!(x.idle, None);
    assert!(!all[0].insecure && !all[0].delete_remote && all[0].folder_prefix.is_none());
    let mine = s.sources(Some("me@a.test")).unwrap();
    assert_eq!(mine.iter().map(|s| s.id).collect::<Vec<_>>(), [a, c]);
    assert!(s.sources(Some("nobody@a.test")).unwrap().is_empty());
}

pub fn secrets_are_kept_as_given<F: CollectorFixture>() {
    let f = F::create();
    let s = f.open();
    let sealed: Vec<u8> = (0..=255).collect();
    let id = s
        .add_source(&NewSource {
            secret: &sealed,
            ..source("me@a.test", "imaps://h", "u")
        })
        .unwrap();
    assert_eq!(s.secret(id).unwrap(), sealed);
    assert!(matches!(s.secret(id + 1000), Err(StoreError::NotFound(_))));
}

pub fn update_keeps_checkpoints<F: CollectorFixture>() {
    let f = F::create();
    let s = f.open();
    let id = add(&s, "imaps://h", "u");
    let other = add(&s, "imaps://h2", "u");
    s.put_folder(id, &folder("INBOX", 7, 0)).unwrap();
    s.commit_batch(
        id,
        "INBOX",
        "INBOX",
        &[row("5", 1)],
        Some(&folder("INBOX", 7, 5)),
        10,
    )
    .unwrap();
    s.record_attempt(id, 100, None).unwrap();
    s.update_source(
        id,
        &NewSource {
            secret: b"new",
            insecure: true,
            folder_prefix: Some("Old"),
            created: 9999,
            ..source("ignored@a.test", "imaps://h:1993", "u2")
        },
    )
    .unwrap();
    let x = s.sources(None).unwrap().remove(0);
    assert_eq!(
        (x.id, x.account.as_str(), x.url.as_str(), x.user.as_str()),
        (id, "me@a.test", "imaps://h:1993", "u2")
    );
    assert!(x.insecure && !x.delete_remote);
    assert_eq!(x.folder_prefix.as_deref(), Some("Old"));
    assert_eq!(
        (x.created, x.last_success, x.imported_messages),
        (1000, Some(100), 1)
    );
    assert_eq!(s.secret(id).unwrap(), b"new");
    assert_eq!(s.folder(id, "INBOX").unwrap().map(|f| f.last_uid), Some(5));
    assert!(s.has_message(id, "INBOX", "5").unwrap());
    // Onto another source's URL and user: refused; an unknown id: NotFound.
    let dup = s.update_source(id, &source("me@a.test", "imaps://h2", "u"));
    assert!(matches!(dup, Err(StoreError::AlreadyExists(_))), "{dup:?}");
    let gone = s.update_source(other + 1000, &source("me@a.test", "imaps://h3", "u"));
    assert!(matches!(gone, Err(StoreError::NotFound(_))), "{gone:?}");
}

pub fn attempts_and_idle_status<F: CollectorFixture>() {
    let f = F::create();
    let s = f.open();
    let id = add(&s, "imaps://h", "u");
    let get = |s: &F::Store| s.sources(None).unwrap().remove(0);
    s.record_attempt(id, 100, Some("login failed")).unwrap();
    let x = get(&s);
    assert_eq!(
        (x.last_attempt, x.last_success, x.last_error.as_deref()),
        (Some(100), None, Some("login failed"))
    );
    s.record_attempt(id, 200, None).unwrap();
    let x = get(&s);
    assert_eq!(
        (x.last_attempt, x.last_success, x.last_error),
        (Some(200), Some(200), None)
    );
    s.record_attempt(id, 300, Some("timed out")).unwrap();
    let x = get(&s);
    assert_eq!(
        (x.last_attempt, x.last_success, x.last_error.as_deref()),
        (Some(300), Some(200), Some("timed out"))
    );
    s.set_idle(id, Some("idling since 12:00")).unwrap();
    assert_eq!(get(&s).idle.as_deref(), Some("idling since 12:00"));
    s.set_idle(id, None).unwrap();
    assert_eq!(get(&s).idle, None);
}

pub fn deleting_a_source_forgets_its_state<F: CollectorFixture>() {
    let f = F::create();
    let s = f.open();
    let url = "imaps://h";
    let a = add(&s, url, "u1");
    let b = add(&s, url, "u2");
    let keep = s.add_source(&source("you@a.test", url, "u1")).unwrap();
    for id in [a, b, keep] {
        s.put_folder(id, &folder("INBOX", 1, 5)).unwrap();
        s.commit_batch(id, "INBOX", "INBOX", &[row("1", 1)], None, 10)
            .unwrap();
        s.put_pending(id, "INBOX", &pending(&["2"])).unwrap();
    }
    assert_eq!(s.del_sources("me@a.test", url).unwrap(), 2);
    assert_eq!(s.del_sources("me@a.test", url).unwrap(), 0);
    assert_eq!(
        s.sources(None)
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        [keep]
    );
    for id in [a, b] {
        assert!(s.folders(id).unwrap().is_empty());
        assert!(s.messages(id, "INBOX").unwrap().is_empty());
        assert!(s.pending(id, "INBOX").unwrap().is_none());
    }
    assert_eq!(s.messages(keep, "INBOX").unwrap().len(), 1);
    // Added again, it starts from nothing.
    let again = add(&s, url, "u1");
    assert!(s.folders(again).unwrap().is_empty());
    assert!(s.messages(again, "INBOX").unwrap().is_empty());
    assert!(!s.has_message(again, "INBOX", "1").unwrap());
}

pub fn folders_put_and_replace<F: CollectorFixture>() {
    let f = F::create();
    let s = f.open();
    let id = add(&s, "imaps://h", "u");
    let other = add(&s, "imaps://h", "v");
    assert!(s.folder(id, "INBOX").unwrap().is_none());
    s.put_folder(id, &folder("Sent", 9, 4)).unwrap();
    s.put_folder(id, &folder("INBOX", 7, 0)).unwrap();
    s.put_folder(other, &folder("INBOX", 1, 1)).unwrap();
    let mut no_modseq = folder("Archive", u32::MAX, u32::MAX);
    no_modseq.highest_modseq = None;
    s.put_folder(id, &no_modseq).unwrap();
    assert_eq!(
        s.folders(id).unwrap(),
        [
            no_modseq.clone(),
            folder("INBOX", 7, 0),
            folder("Sent", 9, 4)
        ]
    );
    // Replacing may lower last_uid (a UIDVALIDITY change starts over).
    s.put_folder(id, &folder("Sent", 10, 1)).unwrap();
    assert_eq!(s.folder(id, "Sent").unwrap(), Some(folder("Sent", 10, 1)));
    assert_eq!(s.folders(other).unwrap(), [folder("INBOX", 1, 1)]);
}

pub fn pending_then_commit_batch<F: CollectorFixture>() {
    let f = F::create();
    let s = f.open();
    let id = add(&s, "imaps://h", "u");
    assert!(s.pending(id, "INBOX").unwrap().is_none());
    s.put_pending(id, "INBOX", &pending(&["1", "2", "3"]))
        .unwrap();
    s.put_pending(id, "Sent", &pending(&["9"])).unwrap();
    // A new batch replaces the old one.
    s.put_pending(id, "INBOX", &pending(&["4", "5"])).unwrap();
    assert_eq!(s.pending(id, "INBOX").unwrap(), Some(pending(&["4", "5"])));
    s.clear_pending(id, "Sent").unwrap();
    assert!(s.pending(id, "Sent").unwrap().is_none());
    let rows = [row("4", 5), row("5", 6)];
    s.commit_batch(
        id,
        "INBOX",
        "INBOX",
        &rows,
        Some(&folder("INBOX", 3, 5)),
        1234,
    )
    .unwrap();
    assert!(s.pending(id, "INBOX").unwrap().is_none());
    assert_eq!(sorted(s.messages(id, "INBOX").unwrap()), rows);
    assert!(s.has_message(id, "INBOX", "4").unwrap());
    assert!(!s.has_message(id, "INBOX", "6").unwrap());
    assert!(!s.has_message(id, "Sent", "4").unwrap());
    assert_eq!(s.folder(id, "INBOX").unwrap(), Some(folder("INBOX", 3, 5)));
    let x = s.sources(None).unwrap().remove(0);
    assert_eq!((x.imported_messages, x.imported_bytes), (2, 1234));
    // Without a folder (POP3) only the rows and counters change; a row with a known key is
    // replaced.
    let mut again = row("5", 7);
    again.flags = String::new();
    s.commit_batch(id, "INBOX", "INBOX", &[again.clone()], None, 6)
        .unwrap();
    assert_eq!(
        sorted(s.messages(id, "INBOX").unwrap()),
        [row("4", 5), again]
    );
    assert_eq!(s.folder(id, "INBOX").unwrap(), Some(folder("INBOX", 3, 5)));
    let x = s.sources(None).unwrap().remove(0);
    assert_eq!((x.imported_messages, x.imported_bytes), (3, 1240));
}

pub fn commit_never_lowers_last_uid<F: CollectorFixture>() {
    let f = F::create();
    let s = f.open();
    let id = add(&s, "imaps://h", "u");
    s.commit_batch(
        id,
        "INBOX",
        "INBOX",
        &[row("9", 1)],
        Some(&folder("INBOX", 3, 9)),
        0,
    )
    .unwrap();
    // A batch that finished later but covered lower UIDs keeps the higher checkpoint, and
    // still writes the rest of the folder state.
    let mut lower = folder("INBOX", 3, 4);
    lower.highest_modseq = Some(77);
    s.commit_batch(id, "INBOX", "INBOX", &[row("4", 2)], Some(&lower), 0)
        .unwrap();
    let got = s.folder(id, "INBOX").unwrap().unwrap();
    assert_eq!((got.last_uid, got.highest_modseq), (9, Some(77)));
}

pub fn flags_and_rekey<F: CollectorFixture>() {
    let f = F::create();
    let s = f.open();
    let id = add(&s, "imaps://h", "u");
    let rows = [row("1", 1), row("2", 2), row("3", 3)];
    s.commit_batch(id, "INBOX", "INBOX", &rows, Some(&folder("INBOX", 3, 3)), 0)
        .unwrap();
    s.commit_batch(id, "Sent", "Sent", &[row("1", 1)], None, 0)
        .unwrap();
    s.set_flags(
        id,
        "INBOX",
        &[
            ("1".into(), "\\Answered".into()),
            ("3".into(), String::new()),
        ],
    )
    .unwrap();
    let got = sorted(s.messages(id, "INBOX").unwrap());
    assert_eq!(
        got.iter().map(|r| r.flags.as_str()).collect::<Vec<_>>(),
        ["\\Answered", "\\Seen $Label1", ""]
    );
    assert_eq!(s.sources(None).unwrap()[0].flag_updates, 2);
    // UIDVALIDITY changed: "1" and "2" swap keys (overlapping old and new), "3" is gone.
    let rekey = [
        ("1".to_string(), "2".to_string(), "\\Seen".to_string()),
        ("2".to_string(), "1".to_string(), String::new()),
    ];
    s.rekey_folder(id, "INBOX", &rekey, &folder("INBOX", 4, 2))
        .unwrap();
    let got = sorted(s.messages(id, "INBOX").unwrap());
    assert_eq!(
        got.iter()
            .map(|r| (r.key.as_str(), r.local_uid, r.flags.as_str()))
            .collect::<Vec<_>>(),
        [("1", 2, ""), ("2", 1, "\\Seen")]
    );
    assert_eq!(
        got[0].message_id.as_deref(),
        Some("<2@x>"),
        "the rest of the row moves too"
    );
    assert_eq!(s.folder(id, "INBOX").unwrap(), Some(folder("INBOX", 4, 2)));
    // Other folders are untouched.
    assert_eq!(s.messages(id, "Sent").unwrap(), [row("1", 1)]);
    // Nothing matched: everything is forgotten.
    s.rekey_folder(id, "INBOX", &[], &folder("INBOX", 5, 0))
        .unwrap();
    assert!(s.messages(id, "INBOX").unwrap().is_empty());
}

pub fn one_lock_per_source<F: CollectorFixture>() {
    let f = F::create();
    let s = f.open();
    let a = add(&s, "imaps://h", "u");
    let b = add(&s, "imaps://h", "v");
    let la = s.lock_source(a).unwrap().expect("free");
    assert!(s.lock_source(a).unwrap().is_none(), "same store");
    let s2 = f.open();
    assert!(
        s2.lock_source(a).unwrap().is_none(),
        "another store on the same storage"
    );
    let lb = s2.lock_source(b).unwrap().expect("another source is free");
    drop(la);
    let la2 = s2.lock_source(a).unwrap().expect("released on drop");
    assert!(s.lock_source(a).unwrap().is_none());
    drop((la2, lb));
    assert!(s.lock_source(b).unwrap().is_some());
}

pub fn state_is_durable<F: CollectorFixture>() {
    let f = F::create();
    let s = f.open();
    let id = add(&s, "imaps://h", "u");
    s.put_folder(id, &folder("Sent", 1, 1)).unwrap();
    s.put_pending(id, "INBOX", &pending(&["7", "8"])).unwrap();
    s.commit_batch(
        id,
        "Drafts",
        "Drafts",
        &[row("1", 1)],
        Some(&folder("Drafts", 2, 1)),
        5,
    )
    .unwrap();
    s.set_flags(id, "Drafts", &[("1".into(), "\\Draft".into())])
        .unwrap();
    s.record_attempt(id, 50, None).unwrap();
    // Not closed cleanly.
    std::mem::forget(s);
    let s = f.open();
    let x = s.sources(None).unwrap().remove(0);
    assert_eq!(
        (x.id, x.last_success, x.imported_messages, x.flag_updates),
        (id, Some(50), 1, 1)
    );
    assert_eq!(s.secret(id).unwrap(), b"\x00sealed\xff");
    assert_eq!(s.folder(id, "Sent").unwrap(), Some(folder("Sent", 1, 1)));
    assert_eq!(s.pending(id, "INBOX").unwrap(), Some(pending(&["7", "8"])));
    assert_eq!(s.messages(id, "Drafts").unwrap()[0].flags, "\\Draft");
}

pub fn contacts_sync_round_trip<F: CollectorFixture>() {
    let f = F::create();
    let id;
    {
        let s = f.open();
        id = add(&s, "imaps://h", "u");
        let other = add(&s, "imaps://h2", "u");
        assert_eq!(s.contacts_sync(id).unwrap(), None);
        let mut c = ContactsSync {
            url: "https://dav.example/".into(),
            state: "{}".into(),
            last_success: None,
            last_error: None,
        };
        s.set_contacts_sync(id, Some(&c)).unwrap();
        assert_eq!(s.contacts_sync(id).unwrap(), Some(c.clone()));
        assert_eq!(s.contacts_sync(other).unwrap(), None);
        // Replaced as a whole.
        c.state = r#"{"books":{"/b/":{"token":"t1"}}}"#.into();
        c.last_success = Some(100);
        c.last_error = Some("HTTP 500".into());
        s.set_contacts_sync(id, Some(&c)).unwrap();
        assert_eq!(s.contacts_sync(id).unwrap(), Some(c.clone()));
        // Removed; set again.
        s.set_contacts_sync(other, Some(&c)).unwrap();
        s.set_contacts_sync(other, None).unwrap();
        assert_eq!(s.contacts_sync(other).unwrap(), None);
        // No such source.
        let gone = s.set_contacts_sync(other + 1000, Some(&c));
        assert!(matches!(gone, Err(StoreError::NotFound(_))), "{gone:?}");
        // Editing the source keeps it.
        s.update_source(id, &source("me@a.test", "imaps://h3", "u"))
            .unwrap();
        assert_eq!(s.contacts_sync(id).unwrap(), Some(c));
    }
    // Durable; deleted with its source.
    let s = f.open();
    assert_eq!(
        s.contacts_sync(id).unwrap().map(|c| c.last_success),
        Some(Some(100))
    );
    assert_eq!(s.del_sources("me@a.test", "imaps://h3").unwrap(), 1);
    let again = add(&s, "imaps://h3", "u");
    assert_eq!(s.contacts_sync(again).unwrap(), None);
    assert_eq!(s.contacts_sync(id).unwrap(), None);
}
