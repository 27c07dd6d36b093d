//! REPLACE (RFC 8508): append one message and expunge another in one transaction, as the
//! embedded store's `mailstore/replace.rs`.

use pochta_store::{NewMessage, Result, StoreError, UidMapping};
use pochta_types::{MailboxId, Uid};

use crate::PgStore;

use super::{
    check_quota, ensure_blob, expunge_uids, insert_message, keywords_text, lock_in_order, now,
    save_counters, selectable,
};

pub(super) fn replace(
    store: &PgStore,
    from: MailboxId,
    uid: Uid,
    to: MailboxId,
    message: &NewMessage<'_>,
) -> Result<UidMapping> {
    let p = store.prepare(message.bytes)?;
    let save = now();
    let old = i64::from(uid.get());
    Ok(store.write(|tx| {
        lock_in_order(tx, &[from, to])?;
        let mut src = selectable(tx, from)?;
        let Some(row) = tx.query_opt(
            "SELECT size FROM messages WHERE mailbox = $1 AND uid = $2",
            &[&src.id, &old],
        )?
        else {
            return Err(StoreError::NotFound(format!("message UID {old}")).into());
        };
        let old_size: i64 = row.get(0);
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
        check_quota(
            tx,
            src.account,
            (p.bytes.len() as u64).saturating_sub(freed),
            0,
        )?;
        ensure_blob(tx, &p)?;
        let target = dst.as_mut().unwrap_or(&mut src);
        let new = insert_message(
            tx,
            target,
            &p.id,
            i16::from(message.flags.system_bits()),
            &keywords_text(&message.flags),
            message.internal_date.unwrap_or(save),
            save,
            i64::try_from(p.bytes.len()).unwrap_or(i64::MAX),
        )?;
        let uid_validity = target.validity()?;
        expunge_uids(tx, &mut src, &[old])?;
        save_counters(tx, &src)?;
        let mut events = vec![src.event()];
        if let Some(d) = &dst {
            save_counters(tx, d)?;
            events.push(d.event());
        }
        super::collect_blobs(tx)?;
        Ok((
            UidMapping {
                uid_validity,
                pairs: vec![(None, new)],
            },
            events,
        ))
    })?)
}
