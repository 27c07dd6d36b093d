//! [`MailStore`]: mailboxes, messages, flags.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use pochta_store::{
    BlobId, ChangeBus, ChangeEvent, Changes, FlagOp, Grantee, MailDate, MailStore, MailboxInfo,
    MailboxStatus, MessageMeta, MessageRecord, MessageSummary, NewMessage, Quota, QuotaLimits,
    Result, StoreError, StoreOutcome, UidMapping,
};
use pochta_types::{
    AccountId, Flags, MailboxId, MailboxName, ModSeq, Rights, SEPARATOR, SpecialUse, Uid,
    UidValidity,
};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::blobs::{blob_id, valid_id};
use crate::{EmbeddedStore, R};

/// A mailbox row; the counters are changed in memory during a transaction and written back
/// with [`save_counters`].
#[derive(Debug, Clone)]
struct Mb {
    id: i64,
    account: i64,
    name: String,
    uid_validity: u32,
    uid_next: u32,
    highest_modseq: u64,
    recent_floor: u32,
    special_use: Option<String>,
    noselect: bool,
    seen_per_user: bool,
}

const MB_COLS: &str = "id, account, name, uid_validity, uid_next, highest_modseq, recent_floor, \
                       special_use, noselect, seen_per_user";

fn mb_from_row(r: &Row<'_>) -> rusqlite::Result<Mb> {
    Ok(Mb {
        id: r.get(0)?,
        account: r.get(1)?,
        name: r.get(2)?,
        uid_validity: r.get(3)?,
        uid_next: r.get(4)?,
        highest_modseq: r.get(5)?,
        recent_floor: r.get(6)?,
        special_use: r.get(7)?,
        noselect: r.get(8)?,
        seen_per_user: r.get(9)?,
    })
}

fn corrupt(what: impl std::fmt::Display) -> crate::Error {
    StoreError::Backend(format!("corrupt database: {what}")).into()
}

impl Mb {
    fn info(&self) -> R<MailboxInfo> {
        Ok(MailboxInfo {
            id: MailboxId(self.id),
            account: AccountId(self.account),
            name: MailboxName::new(&self.name).map_err(|e| corrupt(format!("name: {e}")))?,
            uid_validity: UidValidity::new(self.uid_validity)
                .ok_or_else(|| corrupt("uid_validity 0"))?,
            uid_next: to_uid(self.uid_next)?,
            highest_modseq: to_modseq(self.highest_modseq)?,
            special_use: self.special_use.as_deref().and_then(SpecialUse::parse),
            noselect: self.noselect,
            seen_per_user: self.seen_per_user,
        })
    }

    /// The next UID, advancing `uid_next`. UIDs are 32-bit (RFC 9051 §2.3.1.1); when they run
    /// out the mailbox takes no more mail rather than reuse one.
    fn take_uid(&mut self) -> R<Uid> {
        let uid = to_uid(self.uid_next)?;
        self.uid_next = self
            .uid_next
            .checked_add(1)
            .ok_or_else(|| StoreError::Limit(format!("{}: UIDs exhausted", self.name)))?;
        Ok(uid)
    }

    /// The next MODSEQ (RFC 7162 §3.1: every change takes a larger one).
    fn take_modseq(&mut self) -> R<ModSeq> {
        self.highest_modseq += 1;
        to_modseq(self.highest_modseq)
    }

    fn event(&self) -> ChangeEvent {
        ChangeEvent::Mailbox {
            account: AccountId(self.account),
            mailbox: MailboxId(self.id),
            modseq: ModSeq::new(self.highest_modseq).unwrap_or(ModSeq::MIN),
        }
    }
}

fn to_uid(v: u32) -> R<Uid> {
    Uid::new(v).ok_or_else(|| corrupt("UID 0"))
}

fn to_modseq(v: u64) -> R<ModSeq> {
    ModSeq::new(v).ok_or_else(|| corrupt("MODSEQ 0"))
}

fn save_counters(tx: &Transaction<'_>, mb: &Mb) -> R<()> {
    tx.prepare_cached(
        "UPDATE mailboxes SET uid_next = ?2, highest_modseq = ?3, recent_floor = ?4 WHERE id = ?1",
    )?
    .execute(params![
        mb.id,
        mb.uid_next,
        mb.highest_modseq,
        mb.recent_floor
    ])?;
    Ok(())
}

fn mb_by_id(tx: &Transaction<'_>, id: MailboxId) -> R<Option<Mb>> {
    Ok(tx
        .prepare_cached(&format!("SELECT {MB_COLS} FROM mailboxes WHERE id = ?1"))?
        .query_row([id.0], mb_from_row)
        .optional()?)
}

fn mb_by_name(tx: &Transaction<'_>, account: AccountId, name: &str) -> R<Option<Mb>> {
    Ok(tx
        .prepare_cached(&format!(
            "SELECT {MB_COLS} FROM mailboxes WHERE account = ?1 AND name = ?2"
        ))?
        .query_row(params![account.0, name], mb_from_row)
        .optional()?)
}

/// A mailbox that exists and can hold messages.
fn selectable(tx: &Transaction<'_>, id: MailboxId) -> R<Mb> {
    match mb_by_id(tx, id)? {
        Some(mb) if !mb.noselect => Ok(mb),
        Some(mb) => Err(StoreError::NotAllowed(format!("{} is \\Noselect", mb.name)).into()),
        None => Err(StoreError::NotFound(format!("mailbox {}", id.0)).into()),
    }
}

fn now() -> MailDate {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    MailDate {
        unix,
        offset_minutes: 0,
    }
}

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

/// Refuses a message that would carry more than [`crate::MAX_KEYWORDS`] keywords.
fn check_keywords(n: usize) -> R<()> {
    if n > crate::MAX_KEYWORDS {
        return Err(StoreError::Limit(format!(
            "a message has at most {} keywords",
            crate::MAX_KEYWORDS
        ))
        .into());
    }
    Ok(())
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

fn flags_of(bits: u8, keywords: &str) -> Flags {
    Flags::from_parts(
        bits,
        keywords.split_whitespace().map(str::to_string).collect(),
    )
}

fn keywords_text(flags: &Flags) -> String {
    flags.keywords().join(" ")
}

/// Message bytes made ready outside the write lock: normalised, hashed, written to their
/// blob file, parsed if the store has not seen them before.
struct Prepared<'a> {
    id: String,
    bytes: Cow<'a, [u8]>,
    meta: Option<Vec<u8>>,
}

impl Prepared<'_> {
    /// Owning its bytes, so a group commit on another thread can take it.
    fn into_owned(self) -> Prepared<'static> {
        Prepared {
            id: self.id,
            bytes: Cow::Owned(self.bytes.into_owned()),
            meta: self.meta,
        }
    }
}

/// A stored message row, as copy/move/expunge need it.
struct Row0 {
    uid: u32,
    blob: String,
    flags: u8,
    keywords: String,
    internal_date: i64,
    internal_offset: i16,
    size: i64,
}

impl EmbeddedStore {
    fn prepare<'a>(&self, bytes: &'a [u8]) -> R<Prepared<'a>> {
        let bytes = pochta_message::normalize_line_endings(bytes);
        let id = blob_id(&bytes);
        // A file blob is written and fsynced here, outside the writer lock; an inline one
        // travels with the transaction.
        if !self.inline(&bytes) {
            self.inner.blobs.ensure(&id, &bytes)?;
        }
        let known = self.read(|tx| {
            Ok(tx
                .prepare_cached("SELECT 1 FROM blobs WHERE id = ?1")?
                .exists([&id])?)
        })?;
        // Parse once per distinct blob (ARCHITECTURE.md "Invariants": parse once).
        let meta = (!known).then(|| pochta_message::parse(&bytes).to_bytes());
        Ok(Prepared { id, bytes, meta })
    }

    /// Inside the write transaction: make sure the blob file and row exist before a message
    /// row refers to it. The file check is here, under SQLite's write lock, because garbage
    /// collection and the orphan sweep unlink files only under that lock too.
    ///
    /// A blob already known keeps its place (row or file) whatever the inline limit is now;
    /// a new one goes inline if small enough, else to its file.
    fn ensure_blob_row(&self, tx: &Transaction<'_>, p: &Prepared<'_>) -> R<()> {
        let row: Option<bool> = tx
            .prepare_cached("SELECT data IS NOT NULL FROM blobs WHERE id = ?1")?
            .query_row([&p.id], |r| r.get(0))
            .optional()?;
        let inline = match row {
            Some(inline) => inline,
            None => self.inline(&p.bytes),
        };
        if !inline && !self.inner.blobs.exists(&p.id) {
            self.inner.blobs.ensure(&p.id, &p.bytes)?;
        }
        if row.is_none() {
            let meta = match &p.meta {
                Some(m) => Cow::Borrowed(m.as_slice()),
                None => Cow::Owned(pochta_message::parse(&p.bytes).to_bytes()),
            };
            let data = inline.then_some(p.bytes.as_ref());
            tx.prepare_cached(
                "INSERT INTO blobs (id, size, refcount, meta, data) VALUES (?1, ?2, 0, ?3, ?4)",
            )?
            .execute(params![p.id, p.bytes.len(), meta.as_ref(), data])?;
        }
        Ok(())
    }

    /// Whether new bytes of this size are stored in the database row.
    fn inline(&self, bytes: &[u8]) -> bool {
        bytes.len() <= self.inner.inline_max && self.inner.inline_max > 0
    }
}

#[allow(clippy::too_many_arguments)]
fn insert_message(
    tx: &Transaction<'_>,
    mb: &mut Mb,
    blob: &str,
    flags: u8,
    keywords: &str,
    internal: MailDate,
    save: MailDate,
    size: i64,
) -> R<Uid> {
    check_keywords(keywords.split_whitespace().count())?;
    let uid = mb.take_uid()?;
    let modseq = mb.take_modseq()?;
    tx.prepare_cached(
        "INSERT INTO messages (mailbox, uid, blob, flags, keywords, internal_date, internal_offset,
                               save_date, size, modseq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        mb.id,
        uid.get(),
        blob,
        flags,
        keywords,
        internal.unix,
        internal.offset_minutes,
        save.unix,
        size,
        modseq.get()
    ])?;
    Ok(uid)
}

fn read_rows(tx: &Transaction<'_>, mailbox: i64, uids: &[u32]) -> R<Vec<Row0>> {
    let mut q = tx.prepare_cached(
        "SELECT uid, blob, flags, keywords, internal_date, internal_offset, size
         FROM messages WHERE mailbox = ?1 AND uid = ?2",
    )?;
    let mut out = Vec::with_capacity(uids.len());
    for &uid in uids {
        let row = q
            .query_row(params![mailbox, uid], |r| {
                Ok(Row0 {
                    uid: r.get(0)?,
                    blob: r.get(1)?,
                    flags: r.get(2)?,
                    keywords: r.get(3)?,
                    internal_date: r.get(4)?,
                    internal_offset: r.get(5)?,
                    size: r.get(6)?,
                })
            })
            .optional()?;
        out.extend(row);
    }
    Ok(out)
}

/// Remove messages and remember each UID with the MODSEQ of its expunge (RFC 7162 §3.2.10).
fn expunge_uids(tx: &Transaction<'_>, mb: &mut Mb, uids: &[u32]) -> R<()> {
    let mut del = tx.prepare_cached("DELETE FROM messages WHERE mailbox = ?1 AND uid = ?2")?;
    let mut rec = tx.prepare_cached(
        "INSERT INTO expunged (mailbox, uid, modseq) VALUES (?1, ?2, ?3)
         ON CONFLICT (mailbox, uid) DO UPDATE SET modseq = excluded.modseq",
    )?;
    for &uid in uids {
        if del.execute(params![mb.id, uid])? == 1 {
            let modseq = mb.take_modseq()?;
            rec.execute(params![mb.id, uid, modseq.get()])?;
        }
    }
    Ok(())
}

fn sorted(uids: &[Uid]) -> Vec<u32> {
    let mut v: Vec<u32> = uids.iter().map(|u| u.get()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

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
fn check_quota(tx: &Transaction<'_>, account: i64, bytes: u64, messages: u64) -> R<()> {
    quota_of(tx, account)?
        .check(bytes, messages)
        .map_err(|e| StoreError::OverQuota(e).into())
}

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

fn all_uids(tx: &Transaction<'_>, mailbox: i64) -> R<Vec<u32>> {
    let mut q = tx.prepare_cached("SELECT uid FROM messages WHERE mailbox = ?1 ORDER BY uid")?;
    let v = q
        .query_map([mailbox], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(v)
}

fn summary_from_row(r: &Row<'_>) -> rusqlite::Result<(u32, u8, String, u64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

fn to_summary(row: (u32, u8, String, u64)) -> R<MessageSummary> {
    Ok(MessageSummary {
        uid: to_uid(row.0)?,
        flags: flags_of(row.1, &row.2),
        modseq: to_modseq(row.3)?,
    })
}

impl EmbeddedStore {
    fn transfer(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
        is_move: bool,
        across: bool,
    ) -> R<UidMapping> {
        let uids = sorted(uids);
        let save = now();
        let body = |tx: &Transaction<'_>| {
            let mut dst = selectable(tx, to)?;
            // Moving or copying within one mailbox is allowed (RFC 9051 §6.4.7 does not forbid
            // it); then source and destination share one set of counters.
            let mut src = if from == to {
                None
            } else {
                Some(selectable(tx, from)?)
            };
            let src_account = src.as_ref().map_or(dst.account, |s| s.account);
            if (src_account != dst.account) != across {
                return Err(StoreError::NotAllowed(if across {
                    "transfer_across is for mailboxes of different accounts".into()
                } else {
                    "messages can only be copied within one account".into()
                })
                .into());
            }
            let rows = read_rows(tx, from.0, &uids)?;
            // A move within the account does not change its usage; a copy, or a move into
            // another account, adds to the destination's.
            if !is_move || across {
                let bytes = rows
                    .iter()
                    .map(|r| u64::try_from(r.size).unwrap_or(0))
                    .sum();
                check_quota(tx, dst.account, bytes, rows.len() as u64)?;
            }
            let mut pairs = Vec::with_capacity(rows.len());
            for r in &rows {
                let new = insert_message(
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
                pairs.push((Some(to_uid(r.uid)?), new));
            }
            let mut events = Vec::new();
            if is_move {
                let moved: Vec<u32> = rows.iter().map(|r| r.uid).collect();
                let s = src.as_mut().unwrap_or(&mut dst);
                expunge_uids(tx, s, &moved)?;
            }
            save_counters(tx, &dst)?;
            if let Some(s) = &src {
                save_counters(tx, s)?;
                if is_move && !rows.is_empty() {
                    events.push(s.event());
                }
            }
            if !rows.is_empty() {
                events.push(dst.event());
            }
            let uid_validity =
                UidValidity::new(dst.uid_validity).ok_or_else(|| corrupt("uid_validity 0"))?;
            Ok((
                UidMapping {
                    uid_validity,
                    pairs,
                },
                events,
            ))
        };
        // A move drops source rows; the blob stays referenced by the new rows, so no
        // collection is needed either way.
        self.write(body)
    }
}

impl MailStore for EmbeddedStore {
    fn change_bus(&self) -> &ChangeBus {
        &self.inner.bus
    }

    fn mailboxes(&self, account: AccountId) -> Result<Vec<MailboxInfo>> {
        Ok(self.read(|tx| {
            let mut q = tx.prepare_cached(&format!(
                "SELECT {MB_COLS} FROM mailboxes WHERE account = ?1 ORDER BY name"
            ))?;
            let rows: Vec<Mb> = q
                .query_map([account.0], mb_from_row)?
                .collect::<rusqlite::Result<_>>()?;
            rows.iter().map(Mb::info).collect()
        })?)
    }

    fn mailbox(&self, account: AccountId, name: &MailboxName) -> Result<Option<MailboxInfo>> {
        Ok(self.read(|tx| {
            mb_by_name(tx, account, name.as_str())?
                .map(|m| m.info())
                .transpose()
        })?)
    }

    fn mailbox_by_id(&self, account: AccountId, id: MailboxId) -> Result<Option<MailboxInfo>> {
        Ok(self.read(|tx| {
            mb_by_id(tx, id)?
                .filter(|m| m.account == account.0)
                .map(|m| m.info())
                .transpose()
        })?)
    }

    fn mailbox_create(
        &self,
        account: AccountId,
        name: &MailboxName,
        special_use: Option<SpecialUse>,
    ) -> Result<MailboxInfo> {
        Ok(self.write(|tx| {
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

    fn mailbox_delete(&self, account: AccountId, name: &MailboxName) -> Result<()> {
        Ok(self.write_then_collect(|tx| {
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

    fn mailbox_rename(
        &self,
        account: AccountId,
        from: &MailboxName,
        to: &MailboxName,
    ) -> Result<()> {
        let save = now();
        Ok(self.write(|tx| {
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

    fn mailbox_set_special_use(
        &self,
        account: AccountId,
        name: &MailboxName,
        special_use: Option<SpecialUse>,
    ) -> Result<()> {
        Ok(self.write(|tx| {
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

    fn mailbox_status(&self, mailbox: MailboxId) -> Result<MailboxStatus> {
        Ok(self.read(|tx| {
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

    fn mailbox_keywords(&self, mailbox: MailboxId) -> Result<Vec<String>> {
        Ok(self.read(|tx| {
            let mut q = tx.prepare_cached(
                "SELECT DISTINCT keywords FROM messages WHERE mailbox = ?1 AND keywords <> ''",
            )?;
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

    fn subscribe(&self, account: AccountId, name: &MailboxName) -> Result<()> {
        Ok(self.write(|tx| {
            tx.execute(
                "INSERT INTO subscriptions (account, name) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                params![account.0, name.as_str()],
            )?;
            Ok(((), vec![ChangeEvent::MailboxList { account }]))
        })?)
    }

    fn unsubscribe(&self, account: AccountId, name: &MailboxName) -> Result<()> {
        Ok(self.write(|tx| {
            tx.execute(
                "DELETE FROM subscriptions WHERE account = ?1 AND name = ?2",
                params![account.0, name.as_str()],
            )?;
            Ok(((), vec![ChangeEvent::MailboxList { account }]))
        })?)
    }

    fn subscriptions(&self, account: AccountId) -> Result<Vec<MailboxName>> {
        Ok(self.read(|tx| {
            let mut q = tx.prepare_cached(
                "SELECT name FROM subscriptions WHERE account = ?1 ORDER BY name",
            )?;
            let names: Vec<String> = q
                .query_map([account.0], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            names
                .iter()
                .map(|n| MailboxName::new(n).map_err(|e| corrupt(format!("subscription: {e}"))))
                .collect()
        })?)
    }

    fn append(&self, mailbox: MailboxId, messages: &[NewMessage<'_>]) -> Result<UidMapping> {
        let prepared = messages
            .iter()
            .map(|m| Ok(self.prepare(m.bytes)?.into_owned()))
            .collect::<R<Vec<_>>>()?;
        let save = now();
        // Owned copies of what the transaction needs: it may run on another caller's thread.
        let messages: Vec<(Flags, Option<MailDate>)> = messages
            .iter()
            .map(|m| (m.flags.clone(), m.internal_date))
            .collect();
        Ok(self.write_grouped(move |store, tx| {
            let mut mb = selectable(tx, mailbox)?;
            let bytes = prepared.iter().map(|p| p.bytes.len() as u64).sum();
            check_quota(tx, mb.account, bytes, prepared.len() as u64)?;
            let mut pairs = Vec::with_capacity(messages.len());
            for ((flags, internal_date), p) in messages.iter().zip(&prepared) {
                store.ensure_blob_row(tx, p)?;
                let uid = insert_message(
                    tx,
                    &mut mb,
                    &p.id,
                    flags.system_bits(),
                    &keywords_text(flags),
                    internal_date.unwrap_or(save),
                    save,
                    i64::try_from(p.bytes.len()).unwrap_or(i64::MAX),
                )?;
                pairs.push((None, uid));
            }
            save_counters(tx, &mb)?;
            let uid_validity =
                UidValidity::new(mb.uid_validity).ok_or_else(|| corrupt("uid_validity 0"))?;
            let events = if pairs.is_empty() {
                Vec::new()
            } else {
                vec![mb.event()]
            };
            Ok((
                UidMapping {
                    uid_validity,
                    pairs,
                },
                events,
            ))
        })?)
    }

    fn deliver(
        &self,
        targets: &[(MailboxId, Flags)],
        bytes: &[u8],
        internal_date: Option<MailDate>,
    ) -> Result<Vec<Uid>> {
        let p = self.prepare(bytes)?.into_owned();
        let save = now();
        // Owned: the transaction may run on another caller's thread (group commit).
        let targets = targets.to_vec();
        Ok(self.write_grouped(move |store, tx| {
            // Quota per account: one account may be targeted twice (INBOX and Sent).
            let mut per_account: Vec<(i64, u64)> = Vec::new();
            for (mailbox, _) in &targets {
                let account = selectable(tx, *mailbox)?.account;
                match per_account.iter_mut().find(|(a, _)| *a == account) {
                    Some((_, n)) => *n += 1,
                    None => per_account.push((account, 1)),
                }
            }
            for (account, n) in per_account {
                check_quota(tx, account, n * p.bytes.len() as u64, n)?;
            }
            store.ensure_blob_row(tx, &p)?;
            let mut uids = Vec::with_capacity(targets.len());
            let mut events = Vec::with_capacity(targets.len());
            for (mailbox, flags) in &targets {
                let mut mb = selectable(tx, *mailbox)?;
                let uid = insert_message(
                    tx,
                    &mut mb,
                    &p.id,
                    flags.system_bits(),
                    &keywords_text(flags),
                    internal_date.unwrap_or(save),
                    save,
                    i64::try_from(p.bytes.len()).unwrap_or(i64::MAX),
                )?;
                // Written back at once: the same mailbox may be listed twice.
                save_counters(tx, &mb)?;
                uids.push(uid);
                events.push(mb.event());
            }
            Ok((uids, events))
        })?)
    }

    fn summaries(&self, mailbox: MailboxId) -> Result<Vec<MessageSummary>> {
        Ok(self.read(|tx| {
            let mut q = tx.prepare_cached(
                "SELECT uid, flags, keywords, modseq FROM messages WHERE mailbox = ?1 ORDER BY uid",
            )?;
            let rows: Vec<_> = q
                .query_map([mailbox.0], summary_from_row)?
                .collect::<rusqlite::Result<_>>()?;
            rows.into_iter().map(to_summary).collect()
        })?)
    }

    fn changes_since(&self, mailbox: MailboxId, since: ModSeq) -> Result<Changes> {
        Ok(self.read(|tx| {
            let mb = mb_by_id(tx, mailbox)?
                .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", mailbox.0)))?;
            let mut q = tx.prepare_cached(
                "SELECT uid, flags, keywords, modseq FROM messages
                 WHERE mailbox = ?1 AND modseq > ?2 ORDER BY uid",
            )?;
            let rows: Vec<_> = q
                .query_map(params![mb.id, since.get()], summary_from_row)?
                .collect::<rusqlite::Result<_>>()?;
            let changed = rows.into_iter().map(to_summary).collect::<R<_>>()?;
            let mut q = tx.prepare_cached(
                "SELECT uid FROM expunged WHERE mailbox = ?1 AND modseq > ?2 ORDER BY uid",
            )?;
            let expunged = q
                .query_map(params![mb.id, since.get()], |r| r.get::<_, u32>(0))?
                .map(|u| to_uid(u?))
                .collect::<R<_>>()?;
            Ok(Changes {
                changed,
                expunged,
                highest_modseq: Some(to_modseq(mb.highest_modseq)?),
            })
        })?)
    }

    fn records(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        with_meta: bool,
    ) -> Result<Vec<MessageRecord>> {
        let uids = sorted(uids);
        Ok(self.read(|tx| {
            let mut q = tx.prepare_cached(
                "SELECT uid, flags, keywords, modseq, internal_date, internal_offset, save_date,
                        size, blob
                 FROM messages WHERE mailbox = ?1 AND uid = ?2",
            )?;
            let mut meta_q = tx.prepare_cached("SELECT meta FROM blobs WHERE id = ?1")?;
            let mut out = Vec::with_capacity(uids.len());
            for uid in uids {
                let row = q
                    .query_row(params![mailbox.0, uid], |r| {
                        Ok((
                            r.get::<_, u32>(0)?,
                            r.get::<_, u8>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, u64>(3)?,
                            r.get::<_, i64>(4)?,
                            r.get::<_, i16>(5)?,
                            r.get::<_, i64>(6)?,
                            r.get::<_, i64>(7)?,
                            r.get::<_, String>(8)?,
                        ))
                    })
                    .optional()?;
                let Some((uid, bits, kw, modseq, idate, ioff, sdate, size, blob)) = row else {
                    continue;
                };
                let meta = if with_meta {
                    Some(match self.inner.caches.meta(&blob) {
                        Some(m) => m,
                        None => {
                            let bytes: Vec<u8> = meta_q.query_row([&blob], |r| r.get(0))?;
                            let m = Arc::new(
                                MessageMeta::from_bytes(&bytes)
                                    .map_err(|e| corrupt(format!("meta of {blob}: {e}")))?,
                            );
                            self.inner.caches.put_meta(&blob, m.clone());
                            m
                        }
                    })
                } else {
                    None
                };
                out.push(MessageRecord {
                    uid: to_uid(uid)?,
                    flags: flags_of(bits, &kw),
                    modseq: to_modseq(modseq)?,
                    internal_date: MailDate {
                        unix: idate,
                        offset_minutes: ioff,
                    },
                    save_date: MailDate {
                        unix: sdate,
                        offset_minutes: 0,
                    },
                    size: u64::try_from(size).unwrap_or(0),
                    blob: BlobId(blob),
                    meta,
                });
            }
            Ok(out)
        })?)
    }

    fn blob(&self, blob: &BlobId) -> Result<Arc<Vec<u8>>> {
        if !valid_id(&blob.0) {
            return Err(StoreError::NotFound(format!("blob {}", blob.0)));
        }
        if let Some(b) = self.inner.caches.blob(&blob.0) {
            return Ok(b);
        }
        let inline: Option<Vec<u8>> = self.read(|tx| {
            Ok(tx
                .prepare_cached("SELECT data FROM blobs WHERE id = ?1 AND data IS NOT NULL")?
                .query_row([&blob.0], |r| r.get(0))
                .optional()?)
        })?;
        if let Some(bytes) = inline {
            let bytes = Arc::new(bytes);
            self.inner.caches.put_blob(&blob.0, bytes.clone());
            return Ok(bytes);
        }
        match self.inner.blobs.read(&blob.0) {
            Ok(bytes) => {
                let bytes = Arc::new(bytes);
                self.inner.caches.put_blob(&blob.0, bytes.clone());
                Ok(bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StoreError::NotFound(format!("blob {}", blob.0)))
            }
            Err(e) => Err(StoreError::Backend(format!("blob {}: {e}", blob.0))),
        }
    }

    fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<StoreOutcome> {
        let uids = sorted(uids);
        Ok(self.write(|tx| {
            let mut mb = selectable(tx, mailbox)?;
            let mut out = StoreOutcome::default();
            let mut q = tx.prepare_cached(
                "SELECT uid, flags, keywords, modseq FROM messages WHERE mailbox = ?1 AND uid = ?2",
            )?;
            let mut upd = tx.prepare_cached(
                "UPDATE messages SET flags = ?3, keywords = ?4, modseq = ?5
                 WHERE mailbox = ?1 AND uid = ?2",
            )?;
            for uid in uids {
                let Some(row) = q
                    .query_row(params![mb.id, uid], summary_from_row)
                    .optional()?
                else {
                    continue;
                };
                let mut s = to_summary(row)?;
                // RFC 7162 §3.1.3: fails only if the message changed *after* the given value.
                if unchanged_since.is_some_and(|u| s.modseq > u) {
                    out.conflicts.push(s.uid);
                    continue;
                }
                let mut new = match op {
                    FlagOp::Replace => flags.clone(),
                    FlagOp::Add | FlagOp::Remove => s.flags.clone(),
                };
                for f in flags.iter() {
                    match op {
                        FlagOp::Add => {
                            new.insert(&f);
                        }
                        FlagOp::Remove => {
                            new.remove(&f);
                        }
                        FlagOp::Replace => {}
                    }
                }
                let changed = new != s.flags;
                if changed {
                    check_keywords(new.keywords().len())?;
                    let modseq = mb.take_modseq()?;
                    upd.execute(params![
                        mb.id,
                        uid,
                        new.system_bits(),
                        keywords_text(&new),
                        modseq.get()
                    ])?;
                    s.flags = new;
                    s.modseq = modseq;
                }
                out.updated.push(s);
                out.changed.push(changed);
            }
            let events = if out.changed.contains(&true) {
                save_counters(tx, &mb)?;
                vec![mb.event()]
            } else {
                Vec::new()
            };
            Ok((out, events))
        })?)
    }

    fn copy(&self, from: MailboxId, uids: &[Uid], to: MailboxId) -> Result<UidMapping> {
        Ok(self.transfer(from, uids, to, false, false)?)
    }

    fn move_messages(&self, from: MailboxId, uids: &[Uid], to: MailboxId) -> Result<UidMapping> {
        Ok(self.transfer(from, uids, to, true, false)?)
    }

    fn transfer_across(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
        is_move: bool,
    ) -> Result<UidMapping> {
        Ok(self.transfer(from, uids, to, is_move, true)?)
    }

    fn expunge(&self, mailbox: MailboxId, uids: Option<&[Uid]>) -> Result<Vec<Uid>> {
        let only = uids.map(sorted);
        Ok(self.write_then_collect(|tx| {
            let mut mb = selectable(tx, mailbox)?;
            let mut q = tx.prepare_cached(
                "SELECT uid FROM messages WHERE mailbox = ?1 AND (flags & 8) != 0 ORDER BY uid",
            )?;
            let mut gone: Vec<u32> = q
                .query_map([mb.id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            if let Some(only) = &only {
                gone.retain(|u| only.binary_search(u).is_ok());
            }
            expunge_uids(tx, &mut mb, &gone)?;
            let events = if gone.is_empty() {
                Vec::new()
            } else {
                save_counters(tx, &mb)?;
                vec![mb.event()]
            };
            let gone = gone.into_iter().map(to_uid).collect::<R<_>>()?;
            Ok((gone, events))
        })?)
    }

    fn claim_recent(&self, mailbox: MailboxId) -> Result<Vec<Uid>> {
        Ok(self.write(|tx| {
            let mut mb = selectable(tx, mailbox)?;
            let mut q = tx.prepare_cached(
                "SELECT uid FROM messages WHERE mailbox = ?1 AND uid >= ?2 ORDER BY uid",
            )?;
            let uids: Vec<u32> = q
                .query_map(params![mb.id, mb.recent_floor], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            if mb.recent_floor != mb.uid_next {
                mb.recent_floor = mb.uid_next;
                save_counters(tx, &mb)?;
            }
            // Not a change to any message, so no MODSEQ and no event (RFC 7162 §3.1).
            let uids = uids.into_iter().map(to_uid).collect::<R<_>>()?;
            Ok((uids, Vec::new()))
        })?)
    }

    fn quota(&self, account: AccountId) -> Result<Quota> {
        Ok(self.read(|tx| quota_of(tx, account.0))?)
    }

    fn set_quota(&self, account: AccountId, limits: QuotaLimits) -> Result<()> {
        let v = |l: Option<u64>| l.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        Ok(self.write(|tx| {
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

    fn acl(&self, mailbox: MailboxId) -> Result<Vec<(Grantee, Rights)>> {
        Ok(self.read(|tx| {
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

    fn acl_set(&self, mailbox: MailboxId, grantee: Grantee, rights: Rights) -> Result<()> {
        Ok(self.write(|tx| {
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

    fn shared_with(&self, account: AccountId) -> Result<Vec<(MailboxInfo, Rights)>> {
        Ok(self.read(|tx| {
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

    fn shared_with_anonymous(&self) -> Result<Vec<(MailboxInfo, Rights)>> {
        Ok(self.read(|tx| {
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

    fn public_owner(&self) -> Result<Option<AccountId>> {
        Ok(Some(self.public_account()?))
    }

    fn set_seen_per_user(&self, mailbox: MailboxId, on: bool) -> Result<()> {
        Ok(self.write(|tx| {
            let mb = mb_by_id(tx, mailbox)?
                .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", mailbox.0)))?;
            tx.prepare_cached("UPDATE mailboxes SET seen_per_user = ?2 WHERE id = ?1")?
                .execute(params![mb.id, on])?;
            if !on {
                tx.prepare_cached("DELETE FROM private_seen WHERE mailbox = ?1")?
                    .execute([mb.id])?;
            }
            Ok(((), vec![mb.event()]))
        })?)
    }

    fn private_seen(&self, mailbox: MailboxId, account: AccountId) -> Result<Vec<Uid>> {
        Ok(self.read(|tx| {
            let mut q = tx.prepare_cached(
                "SELECT uid FROM private_seen WHERE mailbox = ?1 AND account = ?2 ORDER BY uid",
            )?;
            let v: Vec<u32> = q
                .query_map(params![mailbox.0, account.0], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            v.into_iter().map(to_uid).collect()
        })?)
    }

    fn set_private_seen(
        &self,
        mailbox: MailboxId,
        account: AccountId,
        uids: &[Uid],
        seen: bool,
    ) -> Result<Vec<MessageSummary>> {
        let uids = sorted(uids);
        Ok(self.write(|tx| {
            let mut mb = selectable(tx, mailbox)?;
            if !mb.seen_per_user {
                return Err(
                    StoreError::NotAllowed(format!("{} keeps one shared \\Seen", mb.name)).into(),
                );
            }
            let mut q = tx.prepare_cached(
                "SELECT uid, flags, keywords, modseq FROM messages WHERE mailbox = ?1 AND uid = ?2",
            )?;
            let mut change = tx.prepare_cached(if seen {
                "INSERT INTO private_seen (mailbox, uid, account) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING"
            } else {
                "DELETE FROM private_seen WHERE mailbox = ?1 AND uid = ?2 AND account = ?3"
            })?;
            let mut bump = tx.prepare_cached(
                "UPDATE messages SET modseq = ?3 WHERE mailbox = ?1 AND uid = ?2",
            )?;
            let mut out = Vec::new();
            for uid in uids {
                let Some(row) = q
                    .query_row(params![mb.id, uid], summary_from_row)
                    .optional()?
                else {
                    continue;
                };
                if change.execute(params![mb.id, uid, account.0])? == 0 {
                    continue;
                }
                let mut s = to_summary(row)?;
                let modseq = mb.take_modseq()?;
                bump.execute(params![mb.id, uid, modseq.get()])?;
                s.modseq = modseq;
                out.push(s);
            }
            let events = if out.is_empty() {
                Vec::new()
            } else {
                save_counters(tx, &mb)?;
                vec![mb.event()]
            };
            Ok((out, events))
        })?)
    }
}

impl EmbeddedStore {
    /// The id of the reserved account that owns the public folders (schema version 5).
    fn public_account(&self) -> R<AccountId> {
        if let Some(id) = self.inner.public.get() {
            return Ok(*id);
        }
        let id: i64 = self.read(|tx| {
            Ok(tx
                .prepare_cached("SELECT id FROM accounts WHERE key = '#public'")?
                .query_row([], |r| r.get(0))?)
        })?;
        Ok(*self.inner.public.get_or_init(|| AccountId(id)))
    }
}
