//! URLAUTH mailbox access keys (RFC 4467 §2.2), as the embedded store's
//! `mailstore/access_keys.rs`. `ON CONFLICT DO NOTHING` makes concurrent first uses on
//! several nodes agree on one key.

use pochta_store::{ChangeEvent, Result, StoreError};
use pochta_types::{AccountId, MailboxId};

use crate::{PgStore, R, Tx};

fn get(tx: &mut Tx<'_>, account: AccountId, mailbox: MailboxId) -> R<Option<Vec<u8>>> {
    Ok(tx
        .query_opt(
            "SELECT key FROM access_keys WHERE account = $1 AND mailbox = $2",
            &[&account.0, &mailbox.0],
        )?
        .map(|r| r.get(0)))
}

fn mailbox_exists(tx: &mut Tx<'_>, mailbox: MailboxId) -> R<()> {
    if tx
        .query_opt("SELECT 1 FROM mailboxes WHERE id = $1", &[&mailbox.0])?
        .is_some()
    {
        Ok(())
    } else {
        Err(StoreError::NotFound(format!("mailbox {}", mailbox.0)).into())
    }
}

pub(super) fn access_key(
    store: &PgStore,
    account: AccountId,
    mailbox: MailboxId,
) -> Result<Option<Vec<u8>>> {
    Ok(store.read(|tx| get(tx, account, mailbox))?)
}

pub(super) fn access_key_or_insert(
    store: &PgStore,
    account: AccountId,
    mailbox: MailboxId,
    fresh: &[u8],
) -> Result<Vec<u8>> {
    if let Some(k) = access_key(store, account, mailbox)? {
        return Ok(k);
    }
    Ok(store.write(|tx| {
        mailbox_exists(tx, mailbox)?;
        tx.execute(
            "INSERT INTO access_keys (account, mailbox, key) VALUES ($1, $2, $3)
             ON CONFLICT (account, mailbox) DO NOTHING",
            &[&account.0, &mailbox.0, &fresh],
        )?;
        let key = get(tx, account, mailbox)?.unwrap_or_else(|| fresh.to_vec());
        Ok((key, Vec::new()))
    })?)
}

pub(super) fn access_key_reset(
    store: &PgStore,
    account: AccountId,
    key: Option<(MailboxId, &[u8])>,
) -> Result<()> {
    Ok(store.write(|tx| {
        match key {
            Some((mailbox, key)) => {
                mailbox_exists(tx, mailbox)?;
                tx.execute(
                    "INSERT INTO access_keys (account, mailbox, key) VALUES ($1, $2, $3)
                     ON CONFLICT (account, mailbox) DO UPDATE SET key = EXCLUDED.key",
                    &[&account.0, &mailbox.0, &key],
                )?;
            }
            None => {
                tx.execute("DELETE FROM access_keys WHERE account = $1", &[&account.0])?;
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
