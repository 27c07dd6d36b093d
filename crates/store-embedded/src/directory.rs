//! [`Directory`]: domains, accounts, aliases.

use std::time::{Duration, Instant};

use pochta_store::{
    Account, Alias, ChangeEvent, Directory, FailureKey, Failures, Result, StoreError,
};
use pochta_types::{AccountId, Address, Domain, MailboxName, SpecialUse};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::mailstore::insert_mailbox;
use crate::{EmbeddedStore, R};

/// The mailboxes every new account gets (RFC 6154 special-use attributes).
const DEFAULT_MAILBOXES: [(&str, Option<SpecialUse>); 6] = [
    ("INBOX", None),
    ("Drafts", Some(SpecialUse::Drafts)),
    ("Sent", Some(SpecialUse::Sent)),
    ("Junk", Some(SpecialUse::Junk)),
    ("Trash", Some(SpecialUse::Trash)),
    ("Archive", Some(SpecialUse::Archive)),
];

fn account_from_row(r: &Row<'_>) -> rusqlite::Result<(i64, String, String, Option<String>)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_account(row: (i64, String, String, Option<String>)) -> R<Account> {
    let (id, address, password_hash, scram_sha256) = row;
    let address = Address::new(&address)
        .map_err(|e| StoreError::Backend(format!("stored address {address:?}: {e}")))?;
    Ok(Account {
        id: AccountId(id),
        address,
        password_hash,
        scram_sha256,
    })
}

const ACCOUNT_COLS: &str = "id, address, password_hash, scram";

pub(crate) fn account_id_by_key(tx: &Transaction<'_>, key: &str) -> R<Option<i64>> {
    Ok(tx
        .prepare_cached("SELECT id FROM accounts WHERE key = ?1")?
        .query_row([key], |r| r.get(0))
        .optional()?)
}

fn domain_exists_tx(tx: &Transaction<'_>, domain: &str) -> R<bool> {
    Ok(tx
        .prepare_cached("SELECT 1 FROM domains WHERE name = ?1")?
        .exists([domain])?)
}

/// Split an alias source into its lookup key and domain: `a@b` or `@b`.
fn alias_source(source: &str) -> R<(String, Domain)> {
    let bad = || StoreError::NotAllowed(format!("{source:?} is not an address or @domain"));
    if let Some(d) = source.strip_prefix('@') {
        let d = Domain::new(d).map_err(|_| bad())?;
        Ok((format!("@{d}"), d))
    } else {
        let a = Address::new(source).map_err(|_| bad())?;
        Ok((a.key(), a.domain().clone()))
    }
}

impl Directory for EmbeddedStore {
    fn domain_add(&self, domain: &Domain) -> Result<bool> {
        Ok(self.write(|tx| {
            let n = tx.execute(
                "INSERT INTO domains (name) VALUES (?1) ON CONFLICT DO NOTHING",
                [domain.as_str()],
            )?;
            Ok((n == 1, Vec::new()))
        })?)
    }

    fn domain_list(&self) -> Result<Vec<Domain>> {
        Ok(self.read(|tx| {
            let mut q = tx
                .prepare_cached("SELECT name FROM domains WHERE name <> '#public' ORDER BY name")?;
            let names: Vec<String> = q
                .query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            names
                .iter()
                .map(|n| {
                    Domain::new(n)
                        .map_err(|e| StoreError::Backend(format!("stored domain: {e}")).into())
                })
                .collect()
        })?)
    }

    fn domain_del(&self, domain: &Domain) -> Result<()> {
        Ok(self.write(|tx| {
            if !domain_exists_tx(tx, domain.as_str())? {
                return Err(StoreError::NotFound(format!("domain {domain}")).into());
            }
            let accounts: i64 = tx.query_row(
                "SELECT count(*) FROM accounts WHERE domain = ?1",
                [domain.as_str()],
                |r| r.get(0),
            )?;
            if accounts > 0 {
                return Err(StoreError::NotAllowed(format!(
                    "domain {domain} still has {accounts} account(s)"
                ))
                .into());
            }
            tx.execute("DELETE FROM aliases WHERE domain = ?1", [domain.as_str()])?;
            tx.execute("DELETE FROM domains WHERE name = ?1", [domain.as_str()])?;
            Ok(((), Vec::new()))
        })?)
    }

    fn domain_exists(&self, domain: &Domain) -> Result<bool> {
        Ok(self.read_small(|tx| domain_exists_tx(tx, domain.as_str()))?)
    }

    fn account_create(&self, address: &Address, password_hash: &str) -> Result<AccountId> {
        Ok(self.write(|tx| {
            let key = address.key();
            if account_id_by_key(tx, &key)?.is_some() {
                return Err(StoreError::AlreadyExists(format!("account {address}")).into());
            }
            let domain = address.domain().as_str();
            tx.execute(
                "INSERT INTO domains (name) VALUES (?1) ON CONFLICT DO NOTHING",
                [domain],
            )?;
            tx.execute(
                "INSERT INTO accounts (address, key, domain, password_hash) VALUES (?1, ?2, ?3, ?4)",
                params![address.to_string(), key, domain, password_hash],
            )?;
            let id = AccountId(tx.last_insert_rowid());
            for (name, special_use) in DEFAULT_MAILBOXES {
                let name = MailboxName::new(name)
                    .map_err(|e| StoreError::Backend(format!("default mailbox: {e}")))?;
                insert_mailbox(tx, id, &name, special_use)?;
                // Subscribed, so clients that list only subscribed folders show them.
                tx.execute(
                    "INSERT INTO subscriptions (account, name) VALUES (?1, ?2)",
                    params![id.0, name.as_str()],
                )?;
            }
            Ok((id, Vec::new()))
        })?)
    }

    fn account_by_address(&self, address: &Address) -> Result<Option<Account>> {
        Ok(self.read_small(|tx| {
            tx.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLS} FROM accounts WHERE key = ?1"
            ))?
            .query_row([address.key()], account_from_row)
            .optional()?
            .map(to_account)
            .transpose()
        })?)
    }

    fn account_by_id(&self, id: AccountId) -> Result<Option<Account>> {
        Ok(self.read_small(|tx| {
            tx.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLS} FROM accounts WHERE id = ?1 AND key <> '#public'"
            ))?
            .query_row([id.0], account_from_row)
            .optional()?
            .map(to_account)
            .transpose()
        })?)
    }

    fn account_list(&self) -> Result<Vec<Account>> {
        Ok(self.read(|tx| {
            let mut q = tx.prepare_cached(&format!(
                "SELECT {ACCOUNT_COLS} FROM accounts WHERE key <> '#public' ORDER BY key"
            ))?;
            let rows: Vec<_> = q
                .query_map([], account_from_row)?
                .collect::<rusqlite::Result<_>>()?;
            rows.into_iter().map(to_account).collect()
        })?)
    }

    fn account_delete(&self, address: &Address) -> Result<()> {
        Ok(self.write_then_collect(crate::Class::Durable, |tx| {
            let Some(id) = account_id_by_key(tx, &address.key())? else {
                return Err(StoreError::NotFound(format!("account {address}")).into());
            };
            // Message rows go first, explicitly, so the refcount trigger sees each of them;
            // mailboxes, expunged rows and subscriptions then go by cascade.
            tx.execute(
                "DELETE FROM messages WHERE mailbox IN (SELECT id FROM mailboxes WHERE account = ?1)",
                [id],
            )?;
            tx.execute("DELETE FROM mailboxes WHERE account = ?1", [id])?;
            tx.execute("DELETE FROM accounts WHERE id = ?1", [id])?;
            Ok((
                (),
                vec![ChangeEvent::MailboxList {
                    account: AccountId(id),
                }],
            ))
        })?)
    }

    fn account_set_password(
        &self,
        address: &Address,
        password_hash: &str,
        scram_sha256: Option<&str>,
    ) -> Result<()> {
        Ok(self.write(|tx| {
            let n = tx.execute(
                "UPDATE accounts SET password_hash = ?2, scram = ?3 WHERE key = ?1",
                params![address.key(), password_hash, scram_sha256],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("account {address}")).into());
            }
            Ok(((), Vec::new()))
        })?)
    }

    fn alias_add(&self, source: &str, target: &Address) -> Result<()> {
        Ok(self.write(|tx| {
            let (key, domain) = alias_source(source)?;
            if !domain_exists_tx(tx, domain.as_str())? {
                return Err(StoreError::NotAllowed(format!("{domain} is not a local domain")).into());
            }
            if account_id_by_key(tx, &target.key())?.is_none() {
                return Err(StoreError::NotFound(format!("account {target}")).into());
            }
            if account_id_by_key(tx, &key)?.is_some() {
                return Err(StoreError::AlreadyExists(format!("account {source}")).into());
            }
            let n = tx.execute(
                "INSERT INTO aliases (source, target, domain) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![key, target.to_string(), domain.as_str()],
            )?;
            if n == 0 {
                return Err(StoreError::AlreadyExists(format!("alias {source}")).into());
            }
            Ok(((), Vec::new()))
        })?)
    }

    fn alias_list(&self) -> Result<Vec<Alias>> {
        Ok(self.read(|tx| {
            let mut q = tx.prepare_cached("SELECT source, target FROM aliases ORDER BY source")?;
            let rows: Vec<(String, String)> = q
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            rows.into_iter()
                .map(|(source, target)| {
                    let target = Address::new(&target).map_err(|e| {
                        StoreError::Backend(format!("stored alias target {target:?}: {e}"))
                    })?;
                    Ok(Alias { source, target })
                })
                .collect()
        })?)
    }

    fn alias_del(&self, source: &str) -> Result<()> {
        Ok(self.write(|tx| {
            let (key, _) = alias_source(source)?;
            if tx.execute("DELETE FROM aliases WHERE source = ?1", [&key])? == 0 {
                return Err(StoreError::NotFound(format!("alias {source}")).into());
            }
            Ok(((), Vec::new()))
        })?)
    }

    fn resolve_recipient(&self, address: &Address) -> Result<Option<AccountId>> {
        Ok(self.read_small(|tx| {
            let key = address.key();
            if let Some(id) = account_id_by_key(tx, &key)? {
                return Ok(Some(AccountId(id)));
            }
            let mut alias = tx.prepare_cached("SELECT target FROM aliases WHERE source = ?1")?;
            let catch_all = format!("@{}", address.domain());
            for source in [key.as_str(), catch_all.as_str()] {
                let target: Option<String> = alias.query_row([source], |r| r.get(0)).optional()?;
                if let Some(target) = target {
                    // One level only: an alias names an account, not another alias.
                    return Ok(match Address::new(&target) {
                        Ok(t) => account_id_by_key(tx, &t.key())?.map(AccountId),
                        Err(_) => None,
                    });
                }
            }
            Ok(None)
        })?)
    }

    fn login_failures(
        &self,
        keys: &[FailureKey],
        window: Duration,
    ) -> Result<Vec<Option<Failures>>> {
        Ok(self
            .inner
            .login_failures
            .failures(keys, window, Instant::now()))
    }

    fn login_failed(&self, keys: &[FailureKey], window: Duration) -> Result<Vec<u32>> {
        Ok(self
            .inner
            .login_failures
            .failed(keys, window, Instant::now()))
    }

    fn login_clear(&self, key: &FailureKey) -> Result<()> {
        self.inner.login_failures.clear(key);
        Ok(())
    }
}
