//! [`Directory`]: domains, accounts, aliases.

use std::time::Duration;

use pochta_store::{
    Account, Alias, ChangeEvent, Directory, FailureKey, Failures, Result, StoreError,
};
use pochta_types::{AccountId, Address, Domain, MailboxName, SpecialUse};
use postgres::Row;

use crate::mailstore::insert_mailbox;
use crate::{PgStore, R, Tx};

/// The mailboxes every new account gets (RFC 6154 special-use attributes).
const DEFAULT_MAILBOXES: [(&str, Option<SpecialUse>); 6] = [
    ("INBOX", None),
    ("Drafts", Some(SpecialUse::Drafts)),
    ("Sent", Some(SpecialUse::Sent)),
    ("Junk", Some(SpecialUse::Junk)),
    ("Trash", Some(SpecialUse::Trash)),
    ("Archive", Some(SpecialUse::Archive)),
];

const ACCOUNT_COLS: &str = "id, address, password_hash, scram";

fn to_account(r: &Row) -> R<Account> {
    let address: String = r.get(1);
    let parsed = Address::new(&address)
        .map_err(|e| StoreError::Backend(format!("stored address {address:?}: {e}")))?;
    Ok(Account {
        id: AccountId(r.get(0)),
        address: parsed,
        password_hash: r.get(2),
        scram_sha256: r.get(3),
    })
}

pub(crate) fn account_id_by_key(tx: &mut Tx<'_>, key: &str) -> R<Option<i64>> {
    Ok(tx
        .query_opt("SELECT id FROM accounts WHERE key = $1", &[&key])?
        .map(|r| r.get(0)))
}

fn domain_exists_tx(tx: &mut Tx<'_>, domain: &str) -> R<bool> {
    Ok(tx
        .query_opt("SELECT 1 FROM domains WHERE name = $1", &[&domain])?
        .is_some())
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

impl Directory for PgStore {
    fn domain_add(&self, domain: &Domain) -> Result<bool> {
        Ok(self.write(|tx| {
            let n = tx.execute(
                "INSERT INTO domains (name) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&domain.as_str()],
            )?;
            Ok((n == 1, Vec::new()))
        })?)
    }

    fn domain_list(&self) -> Result<Vec<Domain>> {
        Ok(self.read(|tx| {
            tx.query(
                "SELECT name FROM domains WHERE name <> '#public' ORDER BY name",
                &[],
            )?
            .iter()
            .map(|r| {
                let n: String = r.get(0);
                Domain::new(&n)
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
            let accounts: i64 = tx
                .query_one(
                    "SELECT count(*) FROM accounts WHERE domain = $1",
                    &[&domain.as_str()],
                )?
                .get(0);
            if accounts > 0 {
                return Err(StoreError::NotAllowed(format!(
                    "domain {domain} still has {accounts} account(s)"
                ))
                .into());
            }
            tx.execute("DELETE FROM aliases WHERE domain = $1", &[&domain.as_str()])?;
            tx.execute("DELETE FROM domains WHERE name = $1", &[&domain.as_str()])?;
            Ok(((), Vec::new()))
        })?)
    }

    fn domain_exists(&self, domain: &Domain) -> Result<bool> {
        Ok(self.read(|tx| domain_exists_tx(tx, domain.as_str()))?)
    }

    fn account_create(&self, address: &Address, password_hash: &str) -> Result<AccountId> {
        let r = self.write(|tx| {
            let key = address.key();
            if account_id_by_key(tx, &key)?.is_some() {
                return Err(StoreError::AlreadyExists(format!("account {address}")).into());
            }
            let domain = address.domain().as_str();
            tx.execute(
                "INSERT INTO domains (name) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&domain],
            )?;
            let id: i64 = tx
                .query_one(
                    "INSERT INTO accounts (address, key, domain, password_hash)
                     VALUES ($1, $2, $3, $4) RETURNING id",
                    &[&address.to_string(), &key, &domain, &password_hash],
                )?
                .get(0);
            let id = AccountId(id);
            for (name, special_use) in DEFAULT_MAILBOXES {
                let name = MailboxName::new(name)
                    .map_err(|e| StoreError::Backend(format!("default mailbox: {e}")))?;
                insert_mailbox(tx, id, &name, special_use)?;
                tx.execute(
                    "INSERT INTO subscriptions (account, name) VALUES ($1, $2)",
                    &[&id.0, &name.as_str()],
                )?;
            }
            Ok((id, Vec::new()))
        });
        match r {
            Err(e) if e.unique_violation() => {
                Err(StoreError::AlreadyExists(format!("account {address}")))
            }
            r => Ok(r?),
        }
    }

    fn account_by_address(&self, address: &Address) -> Result<Option<Account>> {
        Ok(self.read(|tx| {
            tx.query_opt(
                &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE key = $1"),
                &[&address.key()],
            )?
            .map(|r| to_account(&r))
            .transpose()
        })?)
    }

    fn account_by_id(&self, id: AccountId) -> Result<Option<Account>> {
        Ok(self.read(|tx| {
            tx.query_opt(
                &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE id = $1 AND key <> '#public'"),
                &[&id.0],
            )?
            .map(|r| to_account(&r))
            .transpose()
        })?)
    }

    fn account_list(&self) -> Result<Vec<Account>> {
        Ok(self.read(|tx| {
            tx.query(
                &format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE key <> '#public' ORDER BY key"),
                &[],
            )?
            .iter()
            .map(to_account)
            .collect()
        })?)
    }

    fn account_delete(&self, address: &Address) -> Result<()> {
        Ok(self.write(|tx| {
            let Some(id) = account_id_by_key(tx, &address.key())? else {
                return Err(StoreError::NotFound(format!("account {address}")).into());
            };
            // Lock the account's mailboxes in id order (as every writer does) before the
            // triggers delete their messages.
            tx.query(
                "SELECT id FROM mailboxes WHERE account = $1 ORDER BY id FOR UPDATE",
                &[&id],
            )?;
            tx.execute("DELETE FROM accounts WHERE id = $1", &[&id])?;
            crate::mailstore::collect_blobs(tx)?;
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
                "UPDATE accounts SET password_hash = $2, scram = $3 WHERE key = $1",
                &[&address.key(), &password_hash, &scram_sha256],
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
                return Err(
                    StoreError::NotAllowed(format!("{domain} is not a local domain")).into(),
                );
            }
            if account_id_by_key(tx, &target.key())?.is_none() {
                return Err(StoreError::NotFound(format!("account {target}")).into());
            }
            if account_id_by_key(tx, &key)?.is_some() {
                return Err(StoreError::AlreadyExists(format!("account {source}")).into());
            }
            let n = tx.execute(
                "INSERT INTO aliases (source, target, domain) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
                &[&key, &target.to_string(), &domain.as_str()],
            )?;
            if n == 0 {
                return Err(StoreError::AlreadyExists(format!("alias {source}")).into());
            }
            Ok(((), Vec::new()))
        })?)
    }

    fn alias_list(&self) -> Result<Vec<Alias>> {
        Ok(self.read(|tx| {
            tx.query("SELECT source, target FROM aliases ORDER BY source", &[])?
                .iter()
                .map(|r| {
                    let target: String = r.get(1);
                    let target = Address::new(&target).map_err(|e| {
                        StoreError::Backend(format!("stored alias target {target:?}: {e}"))
                    })?;
                    Ok(Alias {
                        source: r.get(0),
                        target,
                    })
                })
                .collect()
        })?)
    }

    fn alias_del(&self, source: &str) -> Result<()> {
        Ok(self.write(|tx| {
            let (key, _) = alias_source(source)?;
            if tx.execute("DELETE FROM aliases WHERE source = $1", &[&key])? == 0 {
                return Err(StoreError::NotFound(format!("alias {source}")).into());
            }
            Ok(((), Vec::new()))
        })?)
    }

    fn resolve_recipient(&self, address: &Address) -> Result<Option<AccountId>> {
        Ok(self.snapshot(|tx| {
            let key = address.key();
            if let Some(id) = account_id_by_key(tx, &key)? {
                return Ok(Some(AccountId(id)));
            }
            let catch_all = format!("@{}", address.domain());
            for source in [key.as_str(), catch_all.as_str()] {
                let target: Option<String> = tx
                    .query_opt("SELECT target FROM aliases WHERE source = $1", &[&source])?
                    .map(|r| r.get(0));
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
        let texts: Vec<String> = keys.iter().map(FailureKey::to_text).collect();
        let rows = self.read(|tx| {
            tx.query(
                "SELECT key, failures, EXTRACT(EPOCH FROM now() - last)::float8
                 FROM login_failures
                 WHERE key = ANY($1) AND last > now() - make_interval(secs => $2)",
                &[&texts, &window.as_secs_f64()],
            )
        })?;
        Ok(texts
            .iter()
            .map(|t| {
                let r = rows.iter().find(|r| r.get::<_, &str>(0) == t)?;
                let ago: f64 = r.get(2);
                Some(Failures {
                    count: u32::try_from(r.get::<_, i32>(1)).unwrap_or(0),
                    ago: Duration::try_from_secs_f64(ago.max(0.0)).unwrap_or_default(),
                })
            })
            .collect())
    }

    fn login_failed(&self, keys: &[FailureKey], window: Duration) -> Result<Vec<u32>> {
        let texts: Vec<String> = keys.iter().map(FailureKey::to_text).collect();
        let mut distinct = texts.clone();
        distinct.sort();
        distinct.dedup();
        // One round trip: counters past their window are deleted on the way (an index range
        // on `last`; the keys being counted are left to the upsert, which restarts them).
        let rows = self.read(|tx| {
            tx.query(
                "WITH expired AS (
                     DELETE FROM login_failures
                     WHERE last <= now() - make_interval(secs => $2) AND key <> ALL($1)
                 )
                 INSERT INTO login_failures AS f (key, failures, last)
                 SELECT k, 1, now() FROM unnest($1::text[]) AS k
                 ON CONFLICT (key) DO UPDATE SET
                     failures = CASE WHEN f.last <= now() - make_interval(secs => $2)
                                     THEN 1 ELSE f.failures + 1 END,
                     last = now()
                 RETURNING key, failures",
                &[&distinct, &window.as_secs_f64()],
            )
        })?;
        Ok(texts
            .iter()
            .map(|t| {
                rows.iter()
                    .find(|r| r.get::<_, &str>(0) == t)
                    .map_or(0, |r| u32::try_from(r.get::<_, i32>(1)).unwrap_or(0))
            })
            .collect())
    }

    fn login_clear(&self, key: &FailureKey) -> Result<()> {
        let text = key.to_text();
        self.read(|tx| tx.execute("DELETE FROM login_failures WHERE key = $1", &[&text]))?;
        Ok(())
    }
}
