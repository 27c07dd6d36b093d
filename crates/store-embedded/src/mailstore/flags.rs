//! Flags: STORE (with UNCHANGEDSINCE), `\Recent` claims, per-user `\Seen`.

use pochta_store::{FlagOp, MessageSummary, Result, StoreError, StoreOutcome};
use pochta_types::{AccountId, Flags, MailboxId, ModSeq, Uid};
use rusqlite::{OptionalExtension, params};

use crate::{EmbeddedStore, R};

use super::{
    check_keywords, keywords_text, mb_by_id, save_counters, selectable, sorted, summary_from_row,
    to_summary, to_uid,
};

pub(super) fn store_flags(
    store: &EmbeddedStore,
    mailbox: MailboxId,
    uids: &[Uid],
    op: FlagOp,
    flags: &Flags,
    unchanged_since: Option<ModSeq>,
) -> Result<StoreOutcome> {
    let uids = sorted(uids);
    Ok(store.write_lazy(|tx| {
        let mut mb = selectable(tx, mailbox)?;
        let mut out = StoreOutcome::default();
        let mut q = tx.prepare_cached(
            "SELECT uid, flags, keywords, modseq FROM messages WHERE mailbox = ?1 AND uid = ?2",
        )?;
        let mut upd = tx.prepare_cached(
            "UPDATE messages SET flags = ?3, keywords = ?4, modseq = ?5
             WHERE mailbox = ?1 AND uid = ?2",
        )?;
        for uid in uids {
            let Some(row) = q
                .query_row(params![mb.id, uid], summary_from_row)
                .optional()?
            else {
                continue;
            };
            let mut s = to_summary(row)?;
            // RFC 7162 §3.1.3: fails only if the message changed *after* the given value.
            if unchanged_since.is_some_and(|u| s.modseq > u) {
                out.conflicts.push(s.uid);
                continue;
            }
            let mut new = match op {
                FlagOp::Replace => flags.clone(),
                FlagOp::Add | FlagOp::Remove => s.flags.clone(),
            };
            for f in flags.iter() {
                match op {
                    FlagOp::Add => {
                        new.insert(&f);
                    }
                    FlagOp::Remove => {
                        new.remove(&f);
                    }
                    FlagOp::Replace => {}
                }
            }
            let changed = new != s.flags;
            if changed {
                check_keywords(new.keywords().len())?;
                let modseq = mb.take_modseq()?;
                upd.execute(params![
                    mb.id,
                    uid,
                    new.system_bits(),
                    keywords_text(&new),
                    modseq.get()
                ])?;
                s.flags = new;
                s.modseq = modseq;
            }
            out.updated.push(s);
            out.changed.push(changed);
        }
        let events = if out.changed.contains(&true) {
            save_counters(tx, &mb)?;
            vec![mb.event()]
        } else {
            Vec::new()
        };
        Ok((out, events))
    })?)
}

pub(super) fn claim_recent(store: &EmbeddedStore, mailbox: MailboxId) -> Result<Vec<Uid>> {
    // Most SELECTs find nothing new to claim: answer those from a read snapshot, without the
    // writer (a write transaction would queue behind other sessions' commits). Whatever
    // arrives after this read is claimed by the next sync, as with the write below.
    let unclaimed = store.read_small(|tx| {
        let mb = selectable(tx, mailbox)?;
        Ok(mb.recent_floor != mb.uid_next)
    })?;
    if !unclaimed {
        return Ok(Vec::new());
    }
    // Lazy: losing the claim to a power loss only shows these messages as \Recent again.
    Ok(store.write_lazy(|tx| {
        let mut mb = selectable(tx, mailbox)?;
        let mut q = tx.prepare_cached(
            "SELECT uid FROM messages WHERE mailbox = ?1 AND uid >= ?2 ORDER BY uid",
        )?;
        let uids: Vec<u32> = q
            .query_map(params![mb.id, mb.recent_floor], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        if mb.recent_floor != mb.uid_next {
            mb.recent_floor = mb.uid_next;
            save_counters(tx, &mb)?;
        }
        // Not a change to any message, so no MODSEQ and no event (RFC 7162 §3.1).
        let uids = uids.into_iter().map(to_uid).collect::<R<_>>()?;
        Ok((uids, Vec::new()))
    })?)
}

pub(super) fn set_seen_per_user(store: &EmbeddedStore, mailbox: MailboxId, on: bool) -> Result<()> {
    Ok(store.write(|tx| {
        let mb = mb_by_id(tx, mailbox)?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", mailbox.0)))?;
        tx.prepare_cached("UPDATE mailboxes SET seen_per_user = ?2 WHERE id = ?1")?
            .execute(params![mb.id, on])?;
        if !on {
            tx.prepare_cached("DELETE FROM private_seen WHERE mailbox = ?1")?
                .execute([mb.id])?;
        }
        Ok(((), vec![mb.event()]))
    })?)
}

pub(super) fn private_seen(
    store: &EmbeddedStore,
    mailbox: MailboxId,
    account: AccountId,
) -> Result<Vec<Uid>> {
    Ok(store.read(|tx| {
        let mut q = tx.prepare_cached(
            "SELECT uid FROM private_seen WHERE mailbox = ?1 AND account = ?2 ORDER BY uid",
        )?;
        let v: Vec<u32> = q
            .query_map(params![mailbox.0, account.0], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        v.into_iter().map(to_uid).collect()
    })?)
}

pub(super) fn set_private_seen(
    store: &EmbeddedStore,
    mailbox: MailboxId,
    account: AccountId,
    uids: &[Uid],
    seen: bool,
) -> Result<Vec<MessageSummary>> {
    let uids = sorted(uids);
    Ok(store.write_lazy(|tx| {
        let mut mb = selectable(tx, mailbox)?;
        if !mb.seen_per_user {
            return Err(
                StoreError::NotAllowed(format!("{} keeps one shared \\Seen", mb.name)).into(),
            );
        }
        let mut q = tx.prepare_cached(
            "SELECT uid, flags, keywords, modseq FROM messages WHERE mailbox = ?1 AND uid = ?2",
        )?;
        let mut change = tx.prepare_cached(if seen {
            "INSERT INTO private_seen (mailbox, uid, account) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM private_seen WHERE mailbox = ?1 AND uid = ?2 AND account = ?3"
        })?;
        let mut bump =
            tx.prepare_cached("UPDATE messages SET modseq = ?3 WHERE mailbox = ?1 AND uid = ?2")?;
        let mut out = Vec::new();
        for uid in uids {
            let Some(row) = q
                .query_row(params![mb.id, uid], summary_from_row)
                .optional()?
            else {
                continue;
            };
            if change.execute(params![mb.id, uid, account.0])? == 0 {
                continue;
            }
            let mut s = to_summary(row)?;
            let modseq = mb.take_modseq()?;
            bump.execute(params![mb.id, uid, modseq.get()])?;
            s.modseq = modseq;
            out.push(s);
        }
        let events = if out.is_empty() {
            Vec::new()
        } else {
            save_counters(tx, &mb)?;
            vec![mb.event()]
        };
        Ok((out, events))
    })?)
}
