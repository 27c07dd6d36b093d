//! URLAUTH mailbox access keys (RFC 4467 §2.2): one secret per (account, mailbox).

use pochta_store::{ChangeEvent, Result, StoreError};
use pochta_types::{AccountId, MailboxId};
use rusqlite::{OptionalExtension, Transaction};

use crate::{EmbeddedStore, R};

fn get(tx: &Transaction<'_>, account: AccountId, mailbox: MailboxId) -> R<Option<Vec<u8>>> {
    Ok(tx
        .prepare_cached("SELECT key FROM access_keys WHERE account = ?1 AND mailbox = ?2")?
        .query_row([account.0, mailbox.0], |r| r.get(0))
        .optional()?)
}

fn mailbox_exists(tx: &Transaction<'_>, mailbox: MailboxId) -> R<()> {
    if tx
        .prepare_cached("SELECT 1 FROM mailboxes WHERE id = ?1")?
        .exists([mailbox.0])?
    {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("mailbox {}", mailbox.0)).into())
    }
}

pub(super) fn access_key(
    store: &EmbeddedStore,
    account: AccountId,
    mailbox: MailboxId,
) -> Result<Option<Vec<u8>>> {
    Ok(store.read_small(|tx| get(tx, account, mailbox))?)
}

pub(super) fn access_key_or_insert(
    store: &EmbeddedStore,
    account: AccountId,
    mailbox: MailboxId,
    fresh: &[u8],
) -> Result<Vec<u8>> {
    if let Some(k) = access_key(store, account, mailbox)? {
        return Ok(k);
    }
    Ok(store.write(|tx| {
        mailbox_exists(tx, mailbox)?;
        tx.prepare_cached(
            "INSERT OR IGNORE INTO access_keys (account, mailbox, key) VALUES (?1, ?2, ?3)",
        )?
        .execute(rusqlite::params![account.0, mailbox.0, fresh])?;
        let key = get(tx, account, mailbox)?.unwrap_or_else(|| fresh.to_vec());
        Ok((key, Vec::new()))
    })?)
}

pub(super) fn access_key_reset(
    store: &EmbeddedStore,
    account: AccountId,
    key: Option<(MailboxId, &[u8])>,
) -> Result<()> {
    Ok(store.write(|tx| {
        match key {
            Some((mailbox, key)) => {
                mailbox_exists(tx, mailbox)?;
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO access_keys (account, mailbox, key) VALUES (?1, ?2, ?3)",
                )?
                .execute(rusqlite::params![account.0, mailbox.0, key])?;
            }
            None => {
                tx.prepare_cached("DELETE FROM access_keys WHERE account = ?1")?
                    .execute([account.0])?;
            }
        }
        // Sessions holding the mailbox selected are told (RFC 4467 §7), on every node.
        let event = ChangeEvent::AccessKey {
            account,
            mailbox: key.map(|(m, _)| m),
        };
        Ok(((), vec![event]))
    })?)
}
