//! REPLACE (RFC 8508): append one message and expunge another in one transaction.

use pochta_store::{NewMessage, Result, StoreError, UidMapping};
use pochta_types::{MailboxId, Uid, UidValidity};
use rusqlite::OptionalExtension;

use crate::EmbeddedStore;

use super::expunge::expunge_uids;
use super::quota::check_quota;
use super::{corrupt, insert_message, keywords_text, now, save_counters, selectable};

pub(super) fn replace(
    store: &EmbeddedStore,
    from: MailboxId,
    uid: Uid,
    to: MailboxId,
    message: &NewMessage<'_>,
) -> Result<UidMapping> {
    let p = store.prepare(message.bytes)?.into_owned();
    let save = now();
    let flags = message.flags.clone();
    let internal_date = message.internal_date;
    let old = uid.get();
    Ok(store.write_grouped(move |store, tx| {
        let mut src = selectable(tx, from)?;
        let old_size: Option<i64> = tx
            .prepare_cached("SELECT size FROM messages WHERE mailbox = ?1 AND uid = ?2")?
            .query_row(rusqlite::params![src.id, old], |r| r.get(0))
            .optional()?;
        let Some(old_size) = old_size else {
            return Err(StoreError::NotFound(format!("message UID {old}")).into());
        };
        // One set of counters when the replacement goes into the same mailbox.
        let mut dst = if from == to {
            None
        } else {
            Some(selectable(tx, to)?)
        };
        let dst_account = dst.as_ref().map_or(src.account, |d| d.account);
        if dst_account != src.account {
            return Err(StoreError::NotAllowed(
                "a message can only be replaced within one account".into(),
            )
            .into());
        }
        // The replaced message's bytes are freed in the same step (RFC 8508 §3.4 "as if").
        let freed = u64::try_from(old_size).unwrap_or(0);
        check_quota(tx, src.account, p.size.saturating_sub(freed), 0)?;
        store.ensure_blob_row(tx, &p)?;
        let target = dst.as_mut().unwrap_or(&mut src);
        let new = insert_message(
            tx,
            target,
            &p.id,
            flags.system_bits(),
            &keywords_text(&flags),
            internal_date.unwrap_or(save),
            save,
            i64::try_from(p.size).unwrap_or(i64::MAX),
        )?;
        let uid_validity =
            UidValidity::new(target.uid_validity).ok_or_else(|| corrupt("uid_validity 0"))?;
        expunge_uids(tx, &mut src, &[old])?;
        save_counters(tx, &src)?;
        let mut events = vec![src.event()];
        if let Some(d) = &dst {
            save_counters(tx, d)?;
            events.push(d.event());
        }
        Ok((
            UidMapping {
                uid_validity,
                pairs: vec![(None, new)],
            },
            events,
        ))
    })?)
}
