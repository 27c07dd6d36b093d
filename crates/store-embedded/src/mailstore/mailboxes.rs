//! Mailboxes: list, look up, CREATE (with parents), DELETE, RENAME (INBOX's special case),
//! special use, STATUS counts, keywords in use; UIDVALIDITY allocation.

use pochta_store::{ChangeEvent, MailDate, MailboxInfo, MailboxStatus, Result, StoreError};
use pochta_types::{AccountId, Flags, MailboxId, MailboxName, SEPARATOR, SpecialUse};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::{EmbeddedStore, R};

use super::expunge::expunge_uids;
use super::{
    MB_COLS, Mb, all_uids, corrupt, insert_message, mb_by_id, mb_by_name, mb_from_row, now,
    read_rows, save_counters,
};

/// A fresh UIDVALIDITY: larger than any handed out before in this store, and normally the
/// current time, so that even a store restored from an old backup is unlikely to repeat one.
fn next_uid_validity(tx: &Transaction<'_>) -> R<u32> {
    let last: u32 = tx
        .query_row(
            "SELECT value FROM counters WHERE name = 'uid_validity'",
            [],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(0);
    let now = u32::try_from(now().unix).unwrap_or(u32::MAX);
    let next = last
        .checked_add(1)
        .ok_or_else(|| StoreError::Limit("UIDVALIDITY values exhausted".into()))?
        .max(now);
    tx.execute(
        "INSERT INTO counters (name, value) VALUES ('uid_validity', ?1)
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        [next],
    )?;
    Ok(next)
}

/// Insert a new, selectable mailbox row.
pub(crate) fn insert_mailbox(
    tx: &Transaction<'_>,
    account: AccountId,
    name: &MailboxName,
    special_use: Option<SpecialUse>,
) -> R<MailboxInfo> {
    let count: i64 = tx
        .prepare_cached("SELECT COUNT(*) FROM mailboxes WHERE account = ?1")?
        .query_row([account.0], |r| r.get(0))?;
    if count >= crate::MAX_MAILBOXES as i64 {
        return Err(StoreError::Limit(format!(
            "an account has at most {} mailboxes",
            crate::MAX_MAILBOXES
        ))
        .into());
    }
    let uid_validity = next_uid_validity(tx)?;
    tx.prepare_cached(
        // Public folders keep \Seen per user unless switched (one reader's read is not
        // everybody's).
        "INSERT INTO mailboxes (account, name, uid_validity, uid_next, highest_modseq,
                                recent_floor, special_use, noselect, seen_per_user)
         VALUES (?1, ?2, ?3, 1, 1, 1, ?4, 0,
                 (SELECT key = '#public' FROM accounts WHERE id = ?1))",
    )?
    .execute(params![
        account.0,
        name.as_str(),
        uid_validity,
        special_use.map(SpecialUse::as_str)
    ])?;
    let mb = mb_by_id(tx, MailboxId(tx.last_insert_rowid()))?
        .ok_or_else(|| corrupt("mailbox vanished after insert"))?;
    mb.info()
}

/// Create each missing ancestor of `name` as an ordinary mailbox (RFC 3501 §6.3.3).
fn create_ancestors(tx: &Transaction<'_>, account: AccountId, name: &MailboxName) -> R<()> {
    for parent in name.ancestors() {
        if mb_by_name(tx, account, parent.as_str())?.is_none() {
            insert_mailbox(tx, account, &parent, None)?;
        }
    }
    Ok(())
}

fn has_children(tx: &Transaction<'_>, mb: &Mb) -> R<bool> {
    Ok(tx
        .prepare_cached(
            "SELECT 1 FROM mailboxes WHERE account = ?1 AND substr(name, 1, ?2) = ?3 LIMIT 1",
        )?
        .exists(params![
            mb.account,
            mb.name.chars().count() + 1,
            format!("{}{SEPARATOR}", mb.name)
        ])?)
}

pub(super) fn mailboxes(store: &EmbeddedStore, account: AccountId) -> Result<Vec<MailboxInfo>> {
    Ok(store.read_small(|tx| {
        let mut q = tx.prepare_cached(&format!(
            "SELECT {MB_COLS} FROM mailboxes WHERE account = ?1 ORDER BY name"
        ))?;
        let rows: Vec<Mb> = q
            .query_map([account.0], mb_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        rows.iter().map(Mb::info).collect()
    })?)
}

pub(super) fn mailbox(
    store: &EmbeddedStore,
    account: AccountId,
    name: &MailboxName,
) -> Result<Option<MailboxInfo>> {
    Ok(store.read_small(|tx| {
        mb_by_name(tx, account, name.as_str())?
            .map(|m| m.info())
            .transpose()
    })?)
}

pub(super) fn mailbox_by_id(
    store: &EmbeddedStore,
    account: AccountId,
    id: MailboxId,
) -> Result<Option<MailboxInfo>> {
    Ok(store.read_small(|tx| {
        mb_by_id(tx, id)?
            .filter(|m| m.account == account.0)
            .map(|m| m.info())
            .transpose()
    })?)
}

pub(super) fn mailbox_create(
    store: &EmbeddedStore,
    account: AccountId,
    name: &MailboxName,
    special_use: Option<SpecialUse>,
) -> Result<MailboxInfo> {
    Ok(store.write(|tx| {
        let exists = tx
            .prepare_cached("SELECT 1 FROM accounts WHERE id = ?1")?
            .exists([account.0])?;
        if !exists {
            return Err(StoreError::NotFound(format!("account {}", account.0)).into());
        }
        create_ancestors(tx, account, name)?;
        let info = match mb_by_name(tx, account, name.as_str())? {
            Some(mb) if mb.noselect => {
                tx.execute(
                    "UPDATE mailboxes SET noselect = 0, special_use = ?2 WHERE id = ?1",
                    params![mb.id, special_use.map(SpecialUse::as_str)],
                )?;
                mb_by_id(tx, MailboxId(mb.id))?
                    .ok_or_else(|| corrupt("mailbox vanished"))?
                    .info()?
            }
            Some(_) => return Err(StoreError::AlreadyExists(name.to_string()).into()),
            None => insert_mailbox(tx, account, name, special_use)?,
        };
        Ok((info, vec![ChangeEvent::MailboxList { account }]))
    })?)
}

pub(super) fn mailbox_delete(
    store: &EmbeddedStore,
    account: AccountId,
    name: &MailboxName,
) -> Result<()> {
    Ok(store.write_then_collect(crate::Class::Durable, |tx| {
        if name.is_inbox() {
            return Err(StoreError::NotAllowed("INBOX cannot be deleted".into()).into());
        }
        let Some(mut mb) = mb_by_name(tx, account, name.as_str())? else {
            return Err(StoreError::NotFound(name.to_string()).into());
        };
        let mut events = vec![ChangeEvent::MailboxList { account }];
        if has_children(tx, &mb)? {
            if mb.noselect {
                return Err(StoreError::HasChildren(name.to_string()).into());
            }
            // RFC 3501 §6.3.4: the messages go, the name stays as \Noselect. The expunges
            // are recorded so a session that has it selected learns of them.
            let uids = all_uids(tx, mb.id)?;
            expunge_uids(tx, &mut mb, &uids)?;
            save_counters(tx, &mb)?;
            tx.execute("UPDATE mailboxes SET noselect = 1 WHERE id = ?1", [mb.id])?;
            // RFC 5464 §4.1: a deleted mailbox's metadata goes, even when its name stays.
            tx.execute("DELETE FROM metadata WHERE mailbox = ?1", [mb.id])?;
            if !uids.is_empty() {
                events.push(mb.event());
            }
        } else {
            // Message rows first so the refcount trigger sees each; the rest cascades.
            tx.execute("DELETE FROM messages WHERE mailbox = ?1", [mb.id])?;
            tx.execute("DELETE FROM mailboxes WHERE id = ?1", [mb.id])?;
        }
        Ok(((), events))
    })?)
}

pub(super) fn mailbox_rename(
    store: &EmbeddedStore,
    account: AccountId,
    from: &MailboxName,
    to: &MailboxName,
) -> Result<()> {
    let save = now();
    Ok(store.write(|tx| {
        let Some(mut src) = mb_by_name(tx, account, from.as_str())? else {
            return Err(StoreError::NotFound(from.to_string()).into());
        };
        if mb_by_name(tx, account, to.as_str())?.is_some() {
            return Err(StoreError::AlreadyExists(to.to_string()).into());
        }
        if to.is_child_of(from) {
            return Err(StoreError::NotAllowed(format!(
                "cannot rename {from} to its own child {to}"
            ))
            .into());
        }
        let mut events = vec![ChangeEvent::MailboxList { account }];
        if from.is_inbox() {
            // RFC 3501 §6.3.5: renaming INBOX moves its messages to a new mailbox and
            // leaves INBOX (and its children) in place, empty. INBOX keeps its UIDVALIDITY;
            // its messages leave it as expunges, so selected sessions see them go.
            create_ancestors(tx, account, to)?;
            let info = insert_mailbox(tx, account, to, None)?;
            let mut dst = mb_by_id(tx, info.id)?.ok_or_else(|| corrupt("mailbox vanished"))?;
            // RFC 5464 §4.1: the new mailbox gets a copy of INBOX's metadata.
            tx.execute(
                "INSERT INTO metadata (mailbox, account, name, value)
                 SELECT ?2, account, name, value FROM metadata WHERE mailbox = ?1",
                params![src.id, dst.id],
            )?;
            let uids = all_uids(tx, src.id)?;
            for r in read_rows(tx, src.id, &uids)? {
                insert_message(
                    tx,
                    &mut dst,
                    &r.blob,
                    r.flags,
                    &r.keywords,
                    MailDate {
                        unix: r.internal_date,
                        offset_minutes: r.internal_offset,
                    },
                    save,
                    r.size,
                )?;
            }
            expunge_uids(tx, &mut src, &uids)?;
            save_counters(tx, &src)?;
            save_counters(tx, &dst)?;
            if !uids.is_empty() {
                events.push(src.event());
            }
            return Ok(((), events));
        }
        // Every child moves along; check none of their new names is taken first.
        let from_len = from.as_str().chars().count();
        let children: Vec<(i64, String)> = {
            let mut q = tx.prepare_cached(
                "SELECT id, name FROM mailboxes
                 WHERE account = ?1 AND (name = ?2 OR substr(name, 1, ?3) = ?4)",
            )?;
            q.query_map(
                params![
                    account.0,
                    from.as_str(),
                    from_len + 1,
                    format!("{from}{SEPARATOR}")
                ],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?
            .collect::<rusqlite::Result<_>>()?
        };
        let mut renames = Vec::with_capacity(children.len());
        for (id, name) in children {
            let rest: String = name.chars().skip(from_len).collect();
            let new = format!("{to}{rest}");
            if mb_by_name(tx, account, &new)?.is_some() {
                return Err(StoreError::AlreadyExists(new).into());
            }
            renames.push((id, new));
        }
        create_ancestors(tx, account, to)?;
        let mut upd = tx.prepare_cached("UPDATE mailboxes SET name = ?2 WHERE id = ?1")?;
        for (id, new) in renames {
            upd.execute(params![id, new])?;
        }
        Ok(((), events))
    })?)
}

pub(super) fn mailbox_set_special_use(
    store: &EmbeddedStore,
    account: AccountId,
    name: &MailboxName,
    special_use: Option<SpecialUse>,
) -> Result<()> {
    Ok(store.write(|tx| {
        let n = tx.execute(
            "UPDATE mailboxes SET special_use = ?3 WHERE account = ?1 AND name = ?2",
            params![
                account.0,
                name.as_str(),
                special_use.map(SpecialUse::as_str)
            ],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(name.to_string()).into());
        }
        Ok(((), vec![ChangeEvent::MailboxList { account }]))
    })?)
}

pub(super) fn mailbox_status(store: &EmbeddedStore, mailbox: MailboxId) -> Result<MailboxStatus> {
    // It counts every message of the mailbox: on the writer's connection only when small.
    let small = super::select::small(store, mailbox);
    Ok(store.read_sized(small, |tx| {
        let mb = mb_by_id(tx, mailbox)?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", mailbox.0)))?;
        let (messages, recent, unseen, deleted, size, deleted_size): (
            u32,
            u32,
            u32,
            u32,
            i64,
            i64,
        ) = tx
            .prepare_cached(
                "SELECT count(*), coalesce(sum(uid >= ?2), 0), coalesce(sum((flags & 1) = 0), 0),
                        coalesce(sum((flags & 8) != 0), 0), coalesce(sum(size), 0),
                        coalesce(sum(CASE WHEN (flags & 8) != 0 THEN size END), 0)
                 FROM messages WHERE mailbox = ?1",
            )?
            .query_row(params![mb.id, mb.recent_floor], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            })?;
        let info = mb.info()?;
        Ok(MailboxStatus {
            messages,
            recent,
            unseen,
            deleted,
            deleted_size: u64::try_from(deleted_size).unwrap_or(0),
            size: u64::try_from(size).unwrap_or(0),
            uid_next: info.uid_next,
            uid_validity: info.uid_validity,
            highest_modseq: info.highest_modseq,
        })
    })?)
}

pub(super) fn mailbox_keywords(store: &EmbeddedStore, mailbox: MailboxId) -> Result<Vec<String>> {
    Ok(store.read_small(|tx| {
        let mut q = tx.prepare_cached("SELECT keywords FROM keyword_sets WHERE mailbox = ?1")?;
        let sets: Vec<String> = q
            .query_map([mailbox.0], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        // Flags de-duplicates keywords case-insensitively and sorts them.
        let all = Flags::from_parts(
            0,
            sets.iter()
                .flat_map(|s| s.split_whitespace().map(str::to_string))
                .collect(),
        );
        Ok(all.keywords().to_vec())
    })?)
}
