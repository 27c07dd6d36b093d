//! THREAD's inputs, and SORT's by SUBJECT and DATE, per mailbox, kept between the commands
//! and sessions of this process: the analog of Dovecot's thread index and cache file
//! (bench/README.md "Big mailbox"), in memory.
//!
//! Implementation notes:
//! - An [`Entry`] is what threading needs of one message (sent date, folded base subject,
//!   reply mark, Message-ID, references), read once from the store's sort rows; an entry
//!   made for SORT has no Message-ID and references (`threading` false) and THREAD reads
//!   the message again, replacing it. It never
//!   changes while its UID exists: a message's bytes do not change, and a mailbox's UIDs are
//!   never reused under the same mailbox id (ids are never reused: AUTOINCREMENT, BIGSERIAL).
//!   So entries need no invalidation: each THREAD keeps those of the UIDs in its session's
//!   view and adds the ones it read, and an expunged message's entry leaves at the next one.
//! - Every THREAD still threads its own hits for the current view: the cache holds inputs,
//!   never an answer; SORT sorts its own hits.
//! - Bounded: at most [`MAX_BYTES`] (estimated: entries, their strings and the index) over
//!   all mailboxes; the least recently threaded mailbox goes first; a mailbox bigger than
//!   the bound alone is not kept (its THREADs read the store every time).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use pochta_store::SortRow;
use pochta_types::{MailboxId, Uid};

use crate::text;

/// The most a process keeps, over all mailboxes (~300 bytes per message of
/// bench/bigmailbox.py: ~200,000 messages).
pub(crate) const MAX_BYTES: usize = 64 << 20;

/// What threading needs of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The Date: header in UTC, else the INTERNALDATE.
    pub sent: i64,
    /// The subject marked a reply or forward (RFC 5256 §2.1).
    pub reply: bool,
    /// Folded base subject.
    pub subject: Box<str>,
    pub message_id: Option<Box<str>>,
    pub references: Box<[Box<str>]>,
    /// `message_id` and `references` were read (else they are empty: made for SORT).
    pub threading: bool,
}

impl Entry {
    /// The entry of a sort row read with the subject and, if `threading`, the threading
    /// fields (taken from it).
    pub(crate) fn of_row(row: &mut SortRow, threading: bool) -> Entry {
        let f = &mut row.fields;
        Entry {
            threading,
            sent: row.sent.unwrap_or(row.arrival),
            reply: f.reply,
            subject: text::fold_owned(std::mem::take(&mut f.base_subject)).into_boxed_str(),
            message_id: f.message_id.take().map(String::into_boxed_str),
            references: std::mem::take(&mut f.references)
                .into_iter()
                .map(String::into_boxed_str)
                .collect(),
        }
    }

    /// Estimated heap bytes of the entry with its place in [`Keys`]: the entry with Arc's
    /// counts, its pointer and UID in `Keys`, each string, and the allocator's ~16 bytes
    /// per allocation.
    fn bytes(&self) -> usize {
        const ALLOC: usize = 16;
        let refs = self.references.len();
        std::mem::size_of::<Entry>()
            + 16
            + 12
            + ALLOC * (2 + usize::from(self.message_id.is_some()) + usize::from(refs > 0) + refs)
            + self.subject.len()
            + self.message_id.as_ref().map_or(0, |s| s.len())
            + self
                .references
                .iter()
                .map(|r| r.len() + std::mem::size_of::<Box<str>>())
                .sum::<usize>()
    }
}

/// The entries of one mailbox, by ascending UID.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    uids: Vec<Uid>,
    entries: Vec<Arc<Entry>>,
    bytes: usize,
}

impl Keys {
    /// The entry of each UID (ascending), `None` where there is none.
    pub(crate) fn lookup(&self, uids: impl Iterator<Item = Uid>) -> Vec<Option<Arc<Entry>>> {
        let mut i = 0;
        uids.map(|u| {
            i += skip(&self.uids[i..], u);
            (self.uids.get(i) == Some(&u)).then(|| self.entries[i].clone())
        })
        .collect()
    }

    /// The entries of `self` whose UID is in `view` (ascending) merged with `fresh`
    /// (ascending; one of the same UID replaces the old); `None` when that is `self`
    /// unchanged.
    pub(crate) fn next(&self, view: &[Uid], fresh: Vec<(Uid, Arc<Entry>)>) -> Option<Keys> {
        if fresh.is_empty() && self.uids == view {
            return None;
        }
        let mut kept = 0;
        let mut v = 0;
        for u in &self.uids {
            v += skip(&view[v..], *u);
            kept += usize::from(view.get(v) == Some(u));
        }
        if fresh.is_empty() && kept == self.uids.len() {
            return None;
        }
        let mut out = Keys {
            uids: Vec::with_capacity(kept + fresh.len()),
            entries: Vec::with_capacity(kept + fresh.len()),
            bytes: 0,
        };
        let mut fresh = fresh.into_iter().peekable();
        let mut v = 0;
        for (u, e) in self.uids.iter().zip(&self.entries) {
            while let Some((fu, fe)) = fresh.next_if(|(fu, _)| fu < u) {
                out.push(fu, fe);
            }
            if let Some((fu, fe)) = fresh.next_if(|(fu, _)| fu == u) {
                out.push(fu, fe);
                continue;
            }
            v += skip(&view[v..], *u);
            if view.get(v) == Some(u) {
                out.push(*u, e.clone());
            }
        }
        for (fu, fe) in fresh {
            out.push(fu, fe);
        }
        Some(out)
    }

    fn push(&mut self, uid: Uid, e: Arc<Entry>) {
        self.bytes += e.bytes();
        self.uids.push(uid);
        self.entries.push(e);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.uids.len()
    }
}

/// How many of `uids` (ascending) are below `u`: a few steps, then a binary search, so that
/// walking two dense lists is linear and a sparse one costs a search per step.
fn skip(uids: &[Uid], u: Uid) -> usize {
    for (i, x) in uids.iter().take(8).enumerate() {
        if *x >= u {
            return i;
        }
    }
    if uids.len() <= 8 {
        return uids.len();
    }
    8 + uids[8..].partition_point(|x| *x < u)
}

/// The process's [`Keys`] per mailbox.
#[derive(Debug)]
pub struct ThreadCache {
    inner: Mutex<Inner>,
    /// [`MAX_BYTES`] but in tests.
    limit: usize,
}

impl Default for ThreadCache {
    fn default() -> Self {
        ThreadCache {
            inner: Mutex::default(),
            limit: MAX_BYTES,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Each mailbox's keys and when it was last used.
    boxes: HashMap<MailboxId, (Arc<Keys>, u64)>,
    clock: u64,
    bytes: usize,
}

impl ThreadCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every update is one
        // assignment), so a poisoned lock is used as it is.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The keys of `mailbox` (empty when none are kept).
    pub(crate) fn get(&self, mailbox: MailboxId) -> Arc<Keys> {
        let mut g = self.lock();
        g.clock += 1;
        let now = g.clock;
        match g.boxes.get_mut(&mailbox) {
            Some((k, used)) => {
                *used = now;
                k.clone()
            }
            None => Arc::default(),
        }
    }

    /// Keeps `keys` for `mailbox`, dropping the least recently used mailboxes over the bound.
    pub(crate) fn put(&self, mailbox: MailboxId, keys: Keys) {
        let mut g = self.lock();
        if let Some((old, _)) = g.boxes.remove(&mailbox) {
            g.bytes -= old.bytes;
        }
        if keys.bytes > self.limit {
            return;
        }
        while g.bytes + keys.bytes > self.limit {
            let Some(oldest) = g
                .boxes
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(m, _)| *m)
            else {
                break;
            };
            if let Some((old, _)) = g.boxes.remove(&oldest) {
                g.bytes -= old.bytes;
            }
        }
        g.clock += 1;
        let now = g.clock;
        g.bytes += keys.bytes;
        tracing::debug!(
            mailbox = mailbox.0,
            messages = keys.uids.len(),
            bytes = keys.bytes,
            total = g.bytes,
            "SORT/THREAD keys kept"
        );
        g.boxes.insert(mailbox, (Arc::new(keys), now));
    }

    /// Estimated bytes kept, over all mailboxes.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uid(n: u32) -> Uid {
        Uid::new(n).expect("non-zero")
    }

    fn entry(n: i64) -> Arc<Entry> {
        Arc::new(Entry {
            sent: n,
            reply: false,
            subject: format!("S{n}").into_boxed_str(),
            message_id: Some(format!("m{n}").into_boxed_str()),
            references: vec![format!("r{n}").into_boxed_str()].into_boxed_slice(),
            threading: true,
        })
    }

    fn keys(uids: &[u32]) -> Keys {
        let mut k = Keys::default();
        for &u in uids {
            k.push(uid(u), entry(i64::from(u)));
        }
        k
    }

    #[test]
    fn lookup_and_next_follow_the_view() {
        let k = keys(&[2, 4, 6, 8]);
        let got = k.lookup([1, 2, 6, 7, 8, 9].into_iter().map(uid));
        let sent: Vec<Option<i64>> = got.iter().map(|e| e.as_ref().map(|e| e.sent)).collect();
        assert_eq!(sent, vec![None, Some(2), Some(6), None, Some(8), None]);
        // Same view, nothing read: unchanged.
        let view: Vec<Uid> = [2, 4, 6, 8].into_iter().map(uid).collect();
        assert!(k.next(&view, Vec::new()).is_none());
        // 4 expunged, 5 and 9 read: 2 5 6 8 9.
        let view: Vec<Uid> = [2, 5, 6, 8, 9].into_iter().map(uid).collect();
        let n = k
            .next(&view, vec![(uid(5), entry(5)), (uid(9), entry(9))])
            .expect("changed");
        assert_eq!(n.uids, view);
        let sent: Vec<i64> = n.entries.iter().map(|e| e.sent).collect();
        assert_eq!(sent, vec![2, 5, 6, 8, 9]);
        assert_eq!(n.bytes, n.entries.iter().map(|e| e.bytes()).sum::<usize>());
        // A fresh entry replaces the old one of its UID.
        let n = k.next(&view, vec![(uid(6), entry(60))]).expect("changed");
        let sent: Vec<i64> = n.entries.iter().map(|e| e.sent).collect();
        assert_eq!(sent, vec![2, 60, 8]);
        // Longer lists (past the linear steps), sparse and dense lookups.
        let even: Vec<u32> = (1..=100).map(|i| 2 * i).collect();
        let k2 = keys(&even);
        let want = |asked: &[u32]| -> Vec<Option<i64>> {
            asked
                .iter()
                .map(|a| (a % 2 == 0 && *a <= 200).then_some(i64::from(*a)))
                .collect()
        };
        for asked in [vec![1, 50, 51, 99, 100, 200, 201], (1..=210).collect()] {
            let got: Vec<Option<i64>> = k2
                .lookup(asked.iter().map(|&a| uid(a)))
                .iter()
                .map(|e| e.as_ref().map(|e| e.sent))
                .collect();
            assert_eq!(got, want(&asked));
        }
        let view: Vec<Uid> = (1..=150).map(uid).collect();
        assert_eq!(k2.next(&view, Vec::new()).expect("changed").len(), 75);
        // Expunged only: shrinks.
        let view: Vec<Uid> = [8].into_iter().map(uid).collect();
        assert_eq!(k.next(&view, Vec::new()).expect("changed").len(), 1);
    }

    #[test]
    fn bounded_least_recently_used_first() {
        let third: Vec<u32> = (1..=30).collect();
        // Room for three mailboxes of 30 messages: the fourth pushes the oldest out.
        let c = ThreadCache {
            limit: 3 * keys(&third).bytes + 10,
            ..ThreadCache::default()
        };
        for m in 1..=3 {
            c.put(MailboxId(m), keys(&third));
        }
        assert_eq!(c.bytes(), 3 * keys(&third).bytes);
        assert_eq!(c.get(MailboxId(1)).len(), third.len());
        c.put(MailboxId(4), keys(&third));
        assert!(c.bytes() <= c.limit);
        // 2 was the least recently used (1 was just read).
        assert_eq!(c.get(MailboxId(2)).len(), 0);
        assert_eq!(c.get(MailboxId(1)).len(), third.len());
        assert_eq!(c.get(MailboxId(4)).len(), third.len());
        // Replacing a mailbox's keys counts them once.
        let before = c.bytes();
        c.put(MailboxId(4), keys(&third));
        assert_eq!(c.bytes(), before);
        // A mailbox bigger than the bound alone is not kept.
        let big: Vec<u32> = (1..=200).collect();
        c.put(MailboxId(5), keys(&big));
        assert_eq!(c.get(MailboxId(5)).len(), 0);
    }
}
