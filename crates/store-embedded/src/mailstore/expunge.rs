//! EXPUNGE: removing messages and remembering their UIDs with the MODSEQ of the expunge.

use pochta_store::Result;
use pochta_types::{MailboxId, Uid};
use rusqlite::{Transaction, params};

use crate::{EmbeddedStore, R};

use super::{Mb, save_counters, selectable, sorted, to_uid};

/// Remove messages and remember each UID with the MODSEQ of its expunge (RFC 7162 §3.2.10).
pub(super) fn expunge_uids(tx: &Transaction<'_>, mb: &mut Mb, uids: &[u32]) -> R<()> {
    let mut del = tx.prepare_cached("DELETE FROM messages WHERE mailbox = ?1 AND uid = ?2")?;
    let mut rec = tx.prepare_cached(
        "INSERT INTO expunged (mailbox, uid, modseq) VALUES (?1, ?2, ?3)
         ON CONFLICT (mailbox, uid) DO UPDATE SET modseq = excluded.modseq",
    )?;
    for &uid in uids {
        if del.execute(params![mb.id, uid])? == 1 {
            let modseq = mb.take_modseq()?;
            rec.execute(params![mb.id, uid, modseq.get()])?;
        }
    }
    Ok(())
}

pub(super) fn expunge(
    store: &EmbeddedStore,
    mailbox: MailboxId,
    uids: Option<&[Uid]>,
) -> Result<Vec<Uid>> {
    let only = uids.map(sorted);
    Ok(store.write_then_collect(crate::Class::Lazy, |tx| {
        let mut mb = selectable(tx, mailbox)?;
        let mut q = tx.prepare_cached(
            "SELECT uid FROM messages WHERE mailbox = ?1 AND (flags & 8) != 0 ORDER BY uid",
        )?;
        let mut gone: Vec<u32> = q
            .query_map([mb.id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if let Some(only) = &only {
            gone.retain(|u| only.binary_search(u).is_ok());
        }
        expunge_uids(tx, &mut mb, &gone)?;
        let events = if gone.is_empty() {
            Vec::new()
        } else {
            save_counters(tx, &mb)?;
            vec![mb.event()]
        };
        let gone = gone.into_iter().map(to_uid).collect::<R<_>>()?;
        Ok((gone, events))
    })?)
}
