//! COPY and MOVE, within an account and across accounts (shared mailboxes).

use pochta_store::{MailDate, Result, StoreError, UidMapping};
use pochta_types::{MailboxId, Uid, UidValidity};
use rusqlite::Transaction;

use crate::{EmbeddedStore, R};

use super::expunge::expunge_uids;
use super::quota::check_quota;
use super::{corrupt, insert_message, now, read_rows, save_counters, selectable, sorted, to_uid};

impl EmbeddedStore {
    fn transfer(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
        is_move: bool,
        across: bool,
    ) -> R<UidMapping> {
        let uids = sorted(uids);
        let save = now();
        let body = |tx: &Transaction<'_>| {
            let mut dst = selectable(tx, to)?;
            // Moving or copying within one mailbox is allowed (RFC 9051 §6.4.7 does not forbid
            // it); then source and destination share one set of counters.
            let mut src = if from == to {
                None
            } else {
                Some(selectable(tx, from)?)
            };
            let src_account = src.as_ref().map_or(dst.account, |s| s.account);
            if (src_account != dst.account) != across {
                return Err(StoreError::NotAllowed(if across {
                    "transfer_across is for mailboxes of different accounts".into()
                } else {
                    "messages can only be copied within one account".into()
                })
                .into());
            }
            let rows = read_rows(tx, from.0, &uids)?;
            // A move within the account does not change its usage; a copy, or a move into
            // another account, adds to the destination's.
            if !is_move || across {
                let bytes = rows
                    .iter()
                    .map(|r| u64::try_from(r.size).unwrap_or(0))
                    .sum();
                check_quota(tx, dst.account, bytes, rows.len() as u64)?;
            }
            let mut pairs = Vec::with_capacity(rows.len());
            for r in &rows {
                let new = insert_message(
                    tx,
                    &mut dst,
                    &r.blob,
                    r.flags,
                    &r.keywords,
                    MailDate {
                        unix: r.internal_date,
                        offset_minutes: r.internal_offset,
                    },
                    save,
                    r.size,
                )?;
                pairs.push((Some(to_uid(r.uid)?), new));
            }
            let mut events = Vec::new();
            if is_move {
                let moved: Vec<u32> = rows.iter().map(|r| r.uid).collect();
                let s = src.as_mut().unwrap_or(&mut dst);
                expunge_uids(tx, s, &moved)?;
            }
            save_counters(tx, &dst)?;
            if let Some(s) = &src {
                save_counters(tx, s)?;
                if is_move && !rows.is_empty() {
                    events.push(s.event());
                }
            }
            if !rows.is_empty() {
                events.push(dst.event());
            }
            let uid_validity =
                UidValidity::new(dst.uid_validity).ok_or_else(|| corrupt("uid_validity 0"))?;
            Ok((
                UidMapping {
                    uid_validity,
                    pairs,
                },
                events,
            ))
        };
        // A move drops source rows; the blob stays referenced by the new rows, so no
        // collection is needed either way.
        self.write_lazy(body)
    }
}

pub(super) fn copy(
    store: &EmbeddedStore,
    from: MailboxId,
    uids: &[Uid],
    to: MailboxId,
) -> Result<UidMapping> {
    Ok(store.transfer(from, uids, to, false, false)?)
}

pub(super) fn move_messages(
    store: &EmbeddedStore,
    from: MailboxId,
    uids: &[Uid],
    to: MailboxId,
) -> Result<UidMapping> {
    Ok(store.transfer(from, uids, to, true, false)?)
}

pub(super) fn transfer_across(
    store: &EmbeddedStore,
    from: MailboxId,
    uids: &[Uid],
    to: MailboxId,
    is_move: bool,
) -> Result<UidMapping> {
    Ok(store.transfer(from, uids, to, is_move, true)?)
}
