//! Quota (RFC 9208): limits and the usage the schema's triggers keep exact.

use pochta_store::{Quota, QuotaLimits, Result, StoreError};
use pochta_types::AccountId;
use rusqlite::{OptionalExtension, Transaction, params};

use crate::{EmbeddedStore, R};

/// An account's quota row (limits and the usage the triggers keep; see the schema).
fn quota_of(tx: &Transaction<'_>, account: i64) -> R<Quota> {
    let row = tx
        .prepare_cached(
            "SELECT storage_limit, message_limit, used_bytes, used_messages
             FROM quotas WHERE account = ?1",
        )?
        .query_row([account], |r| {
            Ok((
                r.get::<_, Option<i64>>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    let Some((storage, messages, used_bytes, used_messages)) = row else {
        return Err(StoreError::NotFound(format!("account {account}")).into());
    };
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(Quota {
        limits: QuotaLimits {
            storage: storage.map(n),
            messages: messages.map(n),
        },
        storage: n(used_bytes),
        messages: n(used_messages),
    })
}

/// Inside a write transaction, before rows are added: refuse if adding `bytes` in
/// `messages` messages would take the account over a limit. Checked under the write lock,
/// so concurrent additions cannot both pass.
pub(super) fn check_quota(tx: &Transaction<'_>, account: i64, bytes: u64, messages: u64) -> R<()> {
    quota_of(tx, account)?
        .check(bytes, messages)
        .map_err(|e| StoreError::OverQuota(e).into())
}

pub(super) fn quota(store: &EmbeddedStore, account: AccountId) -> Result<Quota> {
    Ok(store.read_small(|tx| quota_of(tx, account.0))?)
}

pub(super) fn set_quota(
    store: &EmbeddedStore,
    account: AccountId,
    limits: QuotaLimits,
) -> Result<()> {
    let v = |l: Option<u64>| l.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    Ok(store.write(|tx| {
        let n = tx.execute(
            "UPDATE quotas SET storage_limit = ?2, message_limit = ?3 WHERE account = ?1",
            params![account.0, v(limits.storage), v(limits.messages)],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("account {}", account.0)).into());
        }
        Ok(((), Vec::new()))
    })?)
}
