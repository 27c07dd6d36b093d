//! SELECT/EXAMINE: the mailbox's UIDs and first unseen message from one read snapshot,
//! kept per mailbox while it does not change (bench/README.md "Big mailbox": 100,000
//! messages were 100,000 rows of flags read and decoded per SELECT).
//!
//! Every change to a mailbox's messages (append, flag change, expunge, copy or move in or
//! out) takes the next MODSEQ of the mailbox row, and a new message also the next UID; a
//! kept entry whose `(uid_next, highest_modseq)` equal the row's read in the same snapshot
//! is therefore exactly what a fresh read would give. A mailbox id is never reused.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use pochta_store::{Result, SelectState, StoreError};
use pochta_types::{MailboxId, Uid};
use rusqlite::OptionalExtension;

use crate::{EmbeddedStore, R};

use super::{mb_by_id, to_modseq, to_uid};

/// At most this many UIDs are kept over all mailboxes (4 bytes each: 16 MiB).
const MAX_KEPT_UIDS: usize = 4 << 20;

#[derive(Default)]
pub(crate) struct Kept {
    map: HashMap<i64, Arc<Entry>>,
    uids: usize,
}

struct Entry {
    uid_next: u32,
    highest_modseq: u64,
    uids: Arc<Vec<Uid>>,
    first_unseen: Option<Uid>,
}

pub(crate) type SelectCache = Mutex<Kept>;

/// Most messages a mailbox may have had at its last SELECT for a read of all of them (SELECT,
/// STATUS) to count as small ([`EmbeddedStore::read_small`]).
const SMALL_MAILBOX: usize = 1024;

/// Whether `mailbox` held at most [`SMALL_MAILBOX`] messages when it was last selected (an
/// estimate from the kept entry; `false` when there is none).
pub(super) fn small(store: &EmbeddedStore, mailbox: MailboxId) -> bool {
    let cache = store.inner.caches.selects.lock();
    cache
        .map
        .get(&mailbox.0)
        .is_some_and(|e| e.uids.len() <= SMALL_MAILBOX)
}

pub(super) fn select_state(store: &EmbeddedStore, mailbox: MailboxId) -> Result<SelectState> {
    Ok(store.read_sized(small(store, mailbox), |tx| {
        let mb = mb_by_id(tx, mailbox)?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", mailbox.0)))?;
        let cache = &store.inner.caches.selects;
        let kept = cache.lock().map.get(&mb.id).cloned();
        let entry = match kept {
            Some(e) if e.uid_next == mb.uid_next && e.highest_modseq == mb.highest_modseq => e,
            _ => {
                let uids: Arc<Vec<Uid>> = tx
                    .prepare_cached("SELECT uid FROM messages WHERE mailbox = ?1 ORDER BY uid")?
                    .query_map([mb.id], |r| r.get::<_, u32>(0))?
                    .map(|u| to_uid(u?))
                    .collect::<R<Vec<Uid>>>()?
                    .into();
                let first_unseen = tx
                    .prepare_cached(
                        "SELECT uid FROM messages WHERE mailbox = ?1 AND (flags & 1) = 0
                         ORDER BY uid LIMIT 1",
                    )?
                    .query_row([mb.id], |r| r.get::<_, u32>(0))
                    .optional()?
                    .map(to_uid)
                    .transpose()?;
                let e = Arc::new(Entry {
                    uid_next: mb.uid_next,
                    highest_modseq: mb.highest_modseq,
                    uids,
                    first_unseen,
                });
                let mut c = cache.lock();
                if c.uids + e.uids.len() > MAX_KEPT_UIDS {
                    c.map.clear();
                    c.uids = 0;
                }
                if e.uids.len() <= MAX_KEPT_UIDS {
                    c.uids += e.uids.len();
                    if let Some(old) = c.map.insert(mb.id, e.clone()) {
                        c.uids -= old.uids.len();
                    }
                }
                e
            }
        };
        let unclaimed =
            entry.uids.len() - entry.uids.partition_point(|u| u.get() < mb.recent_floor);
        Ok(SelectState {
            // Shared, not copied: sessions copy it only when their view changes.
            uids: entry.uids.clone(),
            first_unseen: entry.first_unseen,
            recent: unclaimed as u32,
            uid_next: to_uid(mb.uid_next)?,
            highest_modseq: to_modseq(mb.highest_modseq)?,
        })
    })?)
}
