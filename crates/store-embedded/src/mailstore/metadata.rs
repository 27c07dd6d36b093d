//! Metadata entries (RFC 5464) of mailboxes and of the server.

use pochta_store::{ChangeEvent, Result, StoreError};
use pochta_types::{AccountId, MailboxId};
use rusqlite::{Transaction, params};

use crate::{EmbeddedStore, R};

/// Entries visible to `account` in one scope (server when `mailbox` is `None`).
fn visible(
    tx: &Transaction<'_>,
    mailbox: Option<MailboxId>,
    account: i64,
) -> R<Vec<(String, Vec<u8>)>> {
    let mut q = tx.prepare_cached(
        "SELECT name, value FROM metadata
         WHERE ifnull(mailbox, 0) = ?1 AND (account = 0 OR account = ?2) ORDER BY name",
    )?;
    let rows = q
        .query_map(params![mailbox.map_or(0, |m| m.0), account], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub(super) fn metadata(
    store: &EmbeddedStore,
    mailbox: Option<MailboxId>,
    account: AccountId,
) -> Result<Vec<(String, Vec<u8>)>> {
    Ok(store.read_small(|tx| visible(tx, mailbox, account.0))?)
}

pub(super) fn metadata_set(
    store: &EmbeddedStore,
    mailbox: Option<MailboxId>,
    account: AccountId,
    changes: &[(String, Option<Vec<u8>>)],
    max_entries: u32,
) -> Result<()> {
    Ok(store.write(|tx| {
        if let Some(m) = mailbox
            && !tx
                .prepare_cached("SELECT 1 FROM mailboxes WHERE id = ?1")?
                .exists([m.0])?
        {
            return Err(StoreError::NotFound(format!("mailbox {}", m.0)).into());
        }
        let before = visible(tx, mailbox, account.0)?.len();
        let mb = mailbox.map(|m| m.0);
        for (name, value) in changes {
            let owner = if name.starts_with("/private/") {
                account.0
            } else if name.starts_with("/shared/") {
                0
            } else {
                return Err(StoreError::NotAllowed(format!("bad metadata entry {name}")).into());
            };
            tx.prepare_cached(
                "DELETE FROM metadata WHERE ifnull(mailbox, 0) = ifnull(?1, 0)
                 AND account = ?2 AND name = ?3",
            )?
            .execute(params![mb, owner, name])?;
            if let Some(v) = value {
                tx.prepare_cached(
                    "INSERT INTO metadata (mailbox, account, name, value) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![mb, owner, name, v])?;
            }
        }
        let after = visible(tx, mailbox, account.0)?.len();
        if after > before && after > max_entries as usize {
            return Err(
                StoreError::Limit(format!("at most {max_entries} metadata entries")).into(),
            );
        }
        let event = ChangeEvent::Metadata {
            account,
            mailbox,
            entries: changes.iter().map(|(n, _)| n.clone()).collect(),
        };
        Ok(((), vec![event]))
    })?)
}
