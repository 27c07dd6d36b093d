//! Subscriptions (LSUB / LIST (SUBSCRIBED)): names, kept even for mailboxes that do not exist.

use pochta_store::{ChangeEvent, Result};
use pochta_types::{AccountId, MailboxName};
use rusqlite::params;

use crate::EmbeddedStore;

use super::corrupt;

pub(super) fn subscribe(
    store: &EmbeddedStore,
    account: AccountId,
    name: &MailboxName,
) -> Result<()> {
    Ok(store.write(|tx| {
        tx.execute(
            "INSERT INTO subscriptions (account, name) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![account.0, name.as_str()],
        )?;
        Ok(((), vec![ChangeEvent::MailboxList { account }]))
    })?)
}

pub(super) fn unsubscribe(
    store: &EmbeddedStore,
    account: AccountId,
    name: &MailboxName,
) -> Result<()> {
    Ok(store.write(|tx| {
        tx.execute(
            "DELETE FROM subscriptions WHERE account = ?1 AND name = ?2",
            params![account.0, name.as_str()],
        )?;
        Ok(((), vec![ChangeEvent::MailboxList { account }]))
    })?)
}

pub(super) fn subscriptions(store: &EmbeddedStore, account: AccountId) -> Result<Vec<MailboxName>> {
    Ok(store.read_small(|tx| {
        let mut q =
            tx.prepare_cached("SELECT name FROM subscriptions WHERE account = ?1 ORDER BY name")?;
        let names: Vec<String> = q
            .query_map([account.0], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        names
            .iter()
            .map(|n| MailboxName::new(n).map_err(|e| corrupt(format!("subscription: {e}"))))
            .collect()
    })?)
}
