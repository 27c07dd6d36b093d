//! ACL (RFC 4314): rights per grantee, mailboxes shared with an account or with anonymous,
//! the public folders' owner.

use pochta_store::{ChangeEvent, Grantee, MailboxInfo, Result, StoreError};
use pochta_types::{AccountId, MailboxId, Rights};
use rusqlite::params;

use crate::{EmbeddedStore, R};

use super::{MB_COLS, Mb, corrupt, mb_by_id, mb_from_row};

/// The stored form of a [`Grantee`] (see the schema).
fn grantee_key(g: Grantee) -> i64 {
    match g {
        Grantee::Account(a) => a.0,
        Grantee::Anyone => 0,
        Grantee::Anonymous => -1,
    }
}

fn grantee_of(key: i64) -> Grantee {
    match key {
        0 => Grantee::Anyone,
        k if k < 0 => Grantee::Anonymous,
        k => Grantee::Account(AccountId(k)),
    }
}

impl EmbeddedStore {
    /// The id of the reserved account that owns the public folders (schema version 5).
    fn public_account(&self) -> R<AccountId> {
        if let Some(id) = self.inner.public.get() {
            return Ok(*id);
        }
        let id: i64 = self.read_small(|tx| {
            Ok(tx
                .prepare_cached("SELECT id FROM accounts WHERE key = '#public'")?
                .query_row([], |r| r.get(0))?)
        })?;
        Ok(*self.inner.public.get_or_init(|| AccountId(id)))
    }
}

pub(super) fn acl(store: &EmbeddedStore, mailbox: MailboxId) -> Result<Vec<(Grantee, Rights)>> {
    Ok(store.read_small(|tx| {
        let mut q = tx.prepare_cached(
            "SELECT grantee, rights FROM acl WHERE mailbox = ?1 ORDER BY grantee",
        )?;
        let rows: Vec<(i64, u16)> = q
            .query_map([mailbox.0], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut v: Vec<(Grantee, Rights)> = rows
            .into_iter()
            .map(|(g, r)| (grantee_of(g), Rights::from_bits(r)))
            .collect();
        v.sort_by_key(|(g, _)| *g);
        Ok(v)
    })?)
}

pub(super) fn acl_set(
    store: &EmbeddedStore,
    mailbox: MailboxId,
    grantee: Grantee,
    rights: Rights,
) -> Result<()> {
    Ok(store.write(|tx| {
        let mb = mb_by_id(tx, mailbox)?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", mailbox.0)))?;
        if let Grantee::Account(a) = grantee {
            if a.0 == mb.account {
                return Err(StoreError::NotAllowed(
                    "the owner of a mailbox always has every right".into(),
                )
                .into());
            }
            let exists = tx
                .prepare_cached("SELECT 1 FROM accounts WHERE id = ?1")?
                .exists([a.0])?;
            if !exists {
                return Err(StoreError::NotFound(format!("account {}", a.0)).into());
            }
        }
        if rights.is_empty() {
            tx.prepare_cached("DELETE FROM acl WHERE mailbox = ?1 AND grantee = ?2")?
                .execute(params![mb.id, grantee_key(grantee)])?;
        } else {
            tx.prepare_cached(
                "INSERT INTO acl (mailbox, grantee, rights) VALUES (?1, ?2, ?3)
                 ON CONFLICT (mailbox, grantee) DO UPDATE SET rights = excluded.rights",
            )?
            .execute(params![mb.id, grantee_key(grantee), rights.bits()])?;
        }
        // Wake-ups only: the owner's and the grantee's mailbox lists may look different.
        let mut events = vec![ChangeEvent::MailboxList {
            account: AccountId(mb.account),
        }];
        if let Grantee::Account(a) = grantee {
            events.push(ChangeEvent::MailboxList { account: a });
        }
        Ok(((), events))
    })?)
}

pub(super) fn shared_with(
    store: &EmbeddedStore,
    account: AccountId,
) -> Result<Vec<(MailboxInfo, Rights)>> {
    Ok(store.read_small(|tx| {
        let mut q = tx.prepare_cached(
            "SELECT acl.mailbox, acl.rights FROM acl JOIN mailboxes b ON b.id = acl.mailbox
             WHERE acl.grantee IN (?1, 0) AND b.account <> ?1",
        )?;
        let rows: Vec<(i64, u16)> = q
            .query_map([account.0], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut out: Vec<(MailboxInfo, Rights)> = Vec::new();
        for (id, bits) in rows {
            let rights = Rights::from_bits(bits);
            if let Some(e) = out.iter_mut().find(|(m, _)| m.id.0 == id) {
                e.1 = e.1.union(rights);
                continue;
            }
            let mb = mb_by_id(tx, MailboxId(id))?.ok_or_else(|| corrupt("acl row"))?;
            out.push((mb.info()?, rights));
        }
        out.sort_by(|(a, _), (b, _)| {
            (a.account, a.name.as_str()).cmp(&(b.account, b.name.as_str()))
        });
        Ok(out)
    })?)
}

pub(super) fn shared_with_anonymous(store: &EmbeddedStore) -> Result<Vec<(MailboxInfo, Rights)>> {
    Ok(store.read_small(|tx| {
        let mut q = tx.prepare_cached(&format!(
            "SELECT {}, acl.rights FROM acl JOIN mailboxes b ON b.id = acl.mailbox
             WHERE acl.grantee < 0 ORDER BY b.account, b.name",
            MB_COLS
                .split(", ")
                .map(|c| format!("b.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))?;
        let rows: Vec<(Mb, u16)> = q
            .query_map([], |r| Ok((mb_from_row(r)?, r.get(10)?)))?
            .collect::<rusqlite::Result<_>>()?;
        rows.into_iter()
            .map(|(mb, bits)| Ok((mb.info()?, Rights::from_bits(bits))))
            .collect()
    })?)
}

pub(super) fn public_owner(store: &EmbeddedStore) -> Result<Option<AccountId>> {
    Ok(Some(store.public_account()?))
}
