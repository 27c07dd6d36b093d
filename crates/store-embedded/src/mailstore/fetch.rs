//! Reading messages: summaries, changes since a MODSEQ (CONDSTORE/QRESYNC), records with
//! their stored metadata, blob bytes (inline row or file, cached).

use std::sync::Arc;

use pochta_store::{
    BlobId, Changes, MailDate, MessageMeta, MessageRecord, MessageSummary, Result, StoreError,
};
use pochta_types::{MailboxId, ModSeq, Uid};
use rusqlite::{OptionalExtension, params};

use crate::blobs::valid_id;
use crate::{EmbeddedStore, R};

use super::keys::{SCAN_ABOVE, for_uids};
use super::{corrupt, flags_of, mb_by_id, sorted, summary_from_row, to_modseq, to_summary, to_uid};

pub(super) fn summaries(store: &EmbeddedStore, mailbox: MailboxId) -> Result<Vec<MessageSummary>> {
    Ok(store.read(|tx| {
        let mut q = tx.prepare_cached(
            "SELECT uid, flags, keywords, modseq FROM messages WHERE mailbox = ?1 ORDER BY uid",
        )?;
        let rows: Vec<_> = q
            .query_map([mailbox.0], summary_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter().map(to_summary).collect()
    })?)
}

pub(super) fn changes_since(
    store: &EmbeddedStore,
    mailbox: MailboxId,
    since: ModSeq,
) -> Result<Changes> {
    Ok(store.read_small(|tx| {
        let mb = mb_by_id(tx, mailbox)?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", mailbox.0)))?;
        let mut q = tx.prepare_cached(
            "SELECT uid, flags, keywords, modseq FROM messages
             WHERE mailbox = ?1 AND modseq > ?2 ORDER BY uid",
        )?;
        let rows: Vec<_> = q
            .query_map(params![mb.id, since.get()], summary_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        let changed = rows.into_iter().map(to_summary).collect::<R<_>>()?;
        let mut q = tx.prepare_cached(
            "SELECT uid FROM expunged WHERE mailbox = ?1 AND modseq > ?2 ORDER BY uid",
        )?;
        let expunged = q
            .query_map(params![mb.id, since.get()], |r| r.get::<_, u32>(0))?
            .map(|u| to_uid(u?))
            .collect::<R<_>>()?;
        Ok(Changes {
            changed,
            expunged,
            highest_modseq: Some(to_modseq(mb.highest_modseq)?),
        })
    })?)
}

/// Most records read on the writer's connection when it is free ([`EmbeddedStore::read_small`]).
const SMALL_RECORDS: usize = 256;

type RecordRow = (
    u32,
    u8,
    String,
    u64,
    i64,
    i16,
    i64,
    i64,
    String,
    Option<Vec<u8>>,
);

pub(super) fn records(
    store: &EmbeddedStore,
    mailbox: MailboxId,
    uids: &[Uid],
    with_meta: bool,
) -> Result<Vec<MessageRecord>> {
    let uids = sorted(uids);
    let row = |r: &rusqlite::Row<'_>| -> rusqlite::Result<RecordRow> {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
        ))
    };
    let small = uids.len() <= SMALL_RECORDS;
    Ok(store.read_sized(small, |tx| {
        let mut rows: Vec<RecordRow> = Vec::with_capacity(uids.len());
        // The meta column comes with the row only when asked for (a join on the blob id).
        let cols = "m.uid, m.flags, m.keywords, m.modseq, m.internal_date, m.internal_offset,
                    m.save_date, m.size, m.blob";
        let meta_col = if with_meta { "b.meta" } else { "NULL" };
        let join = if with_meta {
            "JOIN blobs b ON b.id = m.blob"
        } else {
            ""
        };
        for_uids(
            tx,
            mailbox,
            &uids,
            &format!(
                "SELECT {cols}, {meta_col} FROM messages m {join}
                 WHERE m.mailbox = ?1 AND m.uid BETWEEN ?2 AND ?3 ORDER BY m.uid"
            ),
            &format!(
                "SELECT {cols}, {meta_col} FROM messages m {join}
                 WHERE m.mailbox = ?1 AND m.uid = ?2"
            ),
            |r| {
                rows.push(row(r)?);
                Ok(())
            },
        )?;
        // A bulk read (a SORT of the whole mailbox) would only flush the small cache that
        // FETCH bursts re-read: it reads the cache but does not fill it.
        let fill_cache = uids.len() <= SCAN_ABOVE;
        let mut out = Vec::with_capacity(rows.len());
        for (uid, bits, kw, modseq, idate, ioff, sdate, size, blob, meta_bytes) in rows {
            let meta = if with_meta {
                Some(match store.inner.caches.meta(&blob) {
                    Some(m) => m,
                    None => {
                        let bytes =
                            meta_bytes.ok_or_else(|| corrupt(format!("meta of {blob} missing")))?;
                        let m = Arc::new(
                            MessageMeta::from_bytes(&bytes)
                                .map_err(|e| corrupt(format!("meta of {blob}: {e}")))?,
                        );
                        if fill_cache {
                            store.inner.caches.put_meta(&blob, m.clone());
                        }
                        m
                    }
                })
            } else {
                None
            };
            out.push(MessageRecord {
                uid: to_uid(uid)?,
                flags: flags_of(bits, &kw),
                modseq: to_modseq(modseq)?,
                internal_date: MailDate {
                    unix: idate,
                    offset_minutes: ioff,
                },
                save_date: MailDate {
                    unix: sdate,
                    offset_minutes: 0,
                },
                size: u64::try_from(size).unwrap_or(0),
                blob: BlobId(blob),
                meta,
            });
        }
        Ok(out)
    })?)
}

pub(super) fn blob(store: &EmbeddedStore, blob: &BlobId) -> Result<Arc<Vec<u8>>> {
    if !valid_id(&blob.0) {
        return Err(StoreError::NotFound(format!("blob {}", blob.0)));
    }
    if let Some(b) = store.inner.caches.blob(&blob.0) {
        return Ok(b);
    }
    let inline: Option<Vec<u8>> = store.read_small(|tx| {
        Ok(tx
            .prepare_cached("SELECT data FROM blobs WHERE id = ?1 AND data IS NOT NULL")?
            .query_row([&blob.0], |r| r.get(0))
            .optional()?)
    })?;
    if let Some(bytes) = inline {
        let bytes = Arc::new(bytes);
        store.inner.caches.put_blob(&blob.0, bytes.clone());
        return Ok(bytes);
    }
    match store.inner.blobs.read(&blob.0) {
        Ok(bytes) => {
            let bytes = Arc::new(bytes);
            store.inner.caches.put_blob(&blob.0, bytes.clone());
            Ok(bytes)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(StoreError::NotFound(format!("blob {}", blob.0)))
        }
        Err(e) => Err(StoreError::Backend(format!("blob {}: {e}", blob.0))),
    }
}
