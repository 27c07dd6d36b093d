//! Adding messages: APPEND (one mailbox, many messages) and delivery (one message, many
//! mailboxes), both through the group commit; blob preparation outside the writer lock.

use std::borrow::Cow;

use pochta_store::{MailDate, NewMessage, Result, UidMapping};
use pochta_types::{Flags, MailboxId, Uid, UidValidity};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::blobs::blob_id;
use crate::schema::{BlobKeys, blob_keys, insert_blob_keys};
use crate::{EmbeddedStore, R};

use super::quota::check_quota;
use super::{corrupt, insert_message, keywords_text, now, save_counters, selectable};

/// Message bytes made ready outside the write lock: normalised, hashed, written to their
/// blob file, parsed if the store has not seen them before.
pub(super) struct Prepared<'a> {
    pub(super) id: String,
    /// The stored (normalised) size.
    pub(super) size: u64,
    /// The bytes; empty once owned when they are in a blob file (see [`Self::into_owned`]).
    bytes: Cow<'a, [u8]>,
    /// An open handle on the blob file, when the bytes are in one.
    file: Option<std::fs::File>,
    /// The encoded metadata and the search/sort keys, when parsed outside the lock.
    meta: Option<(Vec<u8>, BlobKeys)>,
}

impl Prepared<'_> {
    /// Owning what the transaction needs, so a group commit on another thread can take it.
    /// Bytes already in a blob file are not copied: the transaction reads them back through
    /// the open handle in the rare case it needs them (the file was unlinked meanwhile by
    /// garbage collection of an identical blob), so a large message is not held twice.
    pub(super) fn into_owned(self) -> Prepared<'static> {
        let bytes = if self.file.is_some() {
            Cow::Owned(Vec::new())
        } else {
            Cow::Owned(self.bytes.into_owned())
        };
        Prepared {
            id: self.id,
            size: self.size,
            bytes,
            file: self.file,
            meta: self.meta,
        }
    }

    /// The bytes, from memory or read back from the blob file's handle.
    fn bytes(&self) -> R<Cow<'_, [u8]>> {
        match &self.file {
            Some(f) if self.bytes.len() as u64 != self.size => {
                use std::io::{Read, Seek, SeekFrom};
                let mut f = f;
                f.seek(SeekFrom::Start(0))?;
                let mut v = Vec::with_capacity(usize::try_from(self.size).unwrap_or(0));
                f.read_to_end(&mut v)?;
                Ok(Cow::Owned(v))
            }
            _ => Ok(Cow::Borrowed(self.bytes.as_ref())),
        }
    }
}

impl EmbeddedStore {
    pub(super) fn prepare<'a>(&self, bytes: &'a [u8]) -> R<Prepared<'a>> {
        let bytes = pochta_message::normalize_line_endings(bytes);
        let id = blob_id(&bytes);
        let size = bytes.len() as u64;
        // A file blob is written and fsynced here, outside the writer lock; an inline one
        // travels with the transaction.
        let file = if self.inline(size) {
            None
        } else {
            self.inner.blobs.ensure(&id, &bytes)?;
            // Unlinked between the two calls (garbage collection of an identical blob):
            // keep the bytes in memory instead.
            self.inner.blobs.open_blob(&id).ok()
        };
        let known = self.read_small(|tx| {
            Ok(tx
                .prepare_cached("SELECT 1 FROM blobs WHERE id = ?1")?
                .exists([&id])?)
        })?;
        // Parse once per distinct blob (ARCHITECTURE.md "Invariants": parse once).
        let meta = (!known).then(|| {
            let m = pochta_message::parse(&bytes);
            (m.to_bytes(), blob_keys(&bytes, &m))
        });
        Ok(Prepared {
            id,
            size,
            bytes,
            file,
            meta,
        })
    }

    /// Inside the write transaction: make sure the blob file and row exist before a message
    /// row refers to it. The file check is here, under SQLite's write lock, because garbage
    /// collection and the orphan sweep unlink files only under that lock too.
    ///
    /// A blob already known keeps its place (row or file) whatever the inline limit is now;
    /// a new one goes inline if small enough, else to its file.
    pub(super) fn ensure_blob_row(&self, tx: &Transaction<'_>, p: &Prepared<'_>) -> R<()> {
        let row: Option<bool> = tx
            .prepare_cached("SELECT data IS NOT NULL FROM blobs WHERE id = ?1")?
            .query_row([&p.id], |r| r.get(0))
            .optional()?;
        let inline = match row {
            Some(inline) => inline,
            None => self.inline(p.size),
        };
        if !inline && !self.inner.blobs.exists(&p.id) {
            match &p.file {
                Some(f) => self.inner.blobs.ensure_from(&p.id, f)?,
                None => self.inner.blobs.ensure(&p.id, &p.bytes()?)?,
            }
        }
        if row.is_none() {
            let owned;
            let (meta, keys) = match &p.meta {
                Some((m, k)) => (m, k),
                None => {
                    let raw = p.bytes()?;
                    let m = pochta_message::parse(&raw);
                    owned = (m.to_bytes(), blob_keys(&raw, &m));
                    (&owned.0, &owned.1)
                }
            };
            let bytes = if inline { Some(p.bytes()?) } else { None };
            let data = bytes.as_deref();
            tx.prepare_cached(
                "INSERT INTO blobs (id, size, refcount, meta, data) VALUES (?1, ?2, 0, ?3, ?4)",
            )?
            .execute(params![p.id, p.size, meta.as_slice(), data])?;
            insert_blob_keys(tx, &p.id, keys)?;
        }
        Ok(())
    }

    /// Whether new bytes of this size are stored in the database row.
    fn inline(&self, size: u64) -> bool {
        size <= self.inner.inline_max as u64 && self.inner.inline_max > 0
    }
}

pub(super) fn append(
    store: &EmbeddedStore,
    mailbox: MailboxId,
    messages: &[NewMessage<'_>],
) -> Result<UidMapping> {
    let prepared = messages
        .iter()
        .map(|m| Ok(store.prepare(m.bytes)?.into_owned()))
        .collect::<R<Vec<_>>>()?;
    let save = now();
    // Owned copies of what the transaction needs: it may run on another caller's thread.
    let messages: Vec<(Flags, Option<MailDate>)> = messages
        .iter()
        .map(|m| (m.flags.clone(), m.internal_date))
        .collect();
    Ok(store.write_grouped(move |store, tx| {
        let mut mb = selectable(tx, mailbox)?;
        let bytes = prepared.iter().map(|p| p.size).sum();
        check_quota(tx, mb.account, bytes, prepared.len() as u64)?;
        let mut pairs = Vec::with_capacity(messages.len());
        for ((flags, internal_date), p) in messages.iter().zip(&prepared) {
            store.ensure_blob_row(tx, p)?;
            let uid = insert_message(
                tx,
                &mut mb,
                &p.id,
                flags.system_bits(),
                &keywords_text(flags),
                internal_date.unwrap_or(save),
                save,
                i64::try_from(p.size).unwrap_or(i64::MAX),
            )?;
            pairs.push((None, uid));
        }
        save_counters(tx, &mb)?;
        let uid_validity =
            UidValidity::new(mb.uid_validity).ok_or_else(|| corrupt("uid_validity 0"))?;
        let events = if pairs.is_empty() {
            Vec::new()
        } else {
            vec![mb.event()]
        };
        Ok((
            UidMapping {
                uid_validity,
                pairs,
            },
            events,
        ))
    })?)
}

pub(super) fn deliver(
    store: &EmbeddedStore,
    targets: &[(MailboxId, Flags)],
    bytes: &[u8],
    internal_date: Option<MailDate>,
) -> Result<Vec<Uid>> {
    let p = store.prepare(bytes)?.into_owned();
    let save = now();
    // Owned: the transaction may run on another caller's thread (group commit).
    let targets = targets.to_vec();
    Ok(store.write_grouped(move |store, tx| {
        // Quota per account: one account may be targeted twice (INBOX and Sent).
        let mut per_account: Vec<(i64, u64)> = Vec::new();
        for (mailbox, _) in &targets {
            let account = selectable(tx, *mailbox)?.account;
            match per_account.iter_mut().find(|(a, _)| *a == account) {
                Some((_, n)) => *n += 1,
                None => per_account.push((account, 1)),
            }
        }
        for (account, n) in per_account {
            check_quota(tx, account, n * p.size, n)?;
        }
        store.ensure_blob_row(tx, &p)?;
        let mut uids = Vec::with_capacity(targets.len());
        let mut events = Vec::with_capacity(targets.len());
        for (mailbox, flags) in &targets {
            let mut mb = selectable(tx, *mailbox)?;
            let uid = insert_message(
                tx,
                &mut mb,
                &p.id,
                flags.system_bits(),
                &keywords_text(flags),
                internal_date.unwrap_or(save),
                save,
                i64::try_from(p.size).unwrap_or(i64::MAX),
            )?;
            // Written back at once: the same mailbox may be listed twice.
            save_counters(tx, &mb)?;
            uids.push(uid);
            events.push(mb.event());
        }
        Ok((uids, events))
    })?)
}
