//! Metadata entries (RFC 5464) of mailboxes and of the server, as the embedded store's
//! `mailstore/metadata.rs`. Writers of one scope serialise (the mailbox row, or an advisory
//! lock for the server), so the entry limit holds across nodes.

use pochta_store::{ChangeEvent, Result, StoreError};
use pochta_types::{AccountId, MailboxId};

use crate::{PgStore, R, Tx};

/// The advisory lock key of the server scope's writers ("pochtamd" in ASCII).
const SERVER_METADATA_LOCK: i64 = 0x706f_6368_7461_6d64;

/// Entries visible to `account` in one scope (server when `mailbox` is `None`).
fn visible(tx: &mut Tx<'_>, mailbox: Option<MailboxId>, account: i64) -> R<Vec<(String, Vec<u8>)>> {
    Ok(tx
        .query(
            "SELECT name, value FROM metadata
             WHERE coalesce(mailbox, 0) = $1 AND (account = 0 OR account = $2) ORDER BY name",
            &[&mailbox.map_or(0, |m| m.0), &account],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

pub(super) fn metadata(
    store: &PgStore,
    mailbox: Option<MailboxId>,
    account: AccountId,
) -> Result<Vec<(String, Vec<u8>)>> {
    Ok(store.read(|tx| visible(tx, mailbox, account.0))?)
}

pub(super) fn metadata_set(
    store: &PgStore,
    mailbox: Option<MailboxId>,
    account: AccountId,
    changes: &[(String, Option<Vec<u8>>)],
    max_entries: u32,
) -> Result<()> {
    Ok(store.write(|tx| {
        match mailbox {
            Some(m) => {
                if tx
                    .query_opt("SELECT 1 FROM mailboxes WHERE id = $1 FOR UPDATE", &[&m.0])?
                    .is_none()
                {
                    return Err(StoreError::NotFound(format!("mailbox {}", m.0)).into());
                }
            }
            None => {
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SERVER_METADATA_LOCK])?;
            }
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
            tx.execute(
                "DELETE FROM metadata WHERE coalesce(mailbox, 0) = coalesce($1::bigint, 0)
                 AND account = $2 AND name = $3",
                &[&mb, &owner, name],
            )?;
            if let Some(v) = value {
                tx.execute(
                    "INSERT INTO metadata (mailbox, account, name, value) VALUES ($1, $2, $3, $4)",
                    &[&mb, &owner, name, v],
                )?;
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
