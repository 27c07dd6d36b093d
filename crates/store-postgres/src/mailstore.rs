//! [`MailStore`] on PostgreSQL: mailboxes, messages, flags, blobs, quota, ACLs, public
//! folders, per-user `\Seen`. The SQL follows the embedded store's module by module; the
//! differences are the row locks that make it safe for many nodes (see the crate docs).

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
use postgres::Row;
use sha2::{Digest, Sha256};

use crate::{PgStore, R, Tx};

mod access_keys;
mod keys;
mod metadata;
mod replace;

/// First key of the POP3 maildrop advisory locks ("pop3" in ASCII): a session-scoped lock on
/// a connection of its own, so it is released when the lock is dropped or its node dies.
const MAILDROP_LOCK_CLASS: i32 = 0x706f_7033;

/// Most mailboxes per account (as the embedded store).
pub const MAX_MAILBOXES: i64 = 2_000;
/// Most keywords on one message (as the embedded store).
pub const MAX_KEYWORDS: usize = 64;

#[derive(Debug, Clone)]
struct Mb {
    id: i64,
    account: i64,
    name: String,
    uid_validity: i64,
    uid_next: i64,
    highest_modseq: i64,
    recent_floor: i64,
    special_use: Option<String>,
    noselect: bool,
    seen_per_user: bool,
}

const MB_COLS: &str = "id, account, name, uid_validity, uid_next, highest_modseq, recent_floor, \
                       special_use, noselect, seen_per_user";

fn mb_from_row(r: &Row) -> Mb {
    Mb {
        id: r.get(0),
        account: r.get(1),
        name: r.get(2),
        uid_validity: r.get(3),
        uid_next: r.get(4),
        highest_modseq: r.get(5),
        recent_floor: r.get(6),
        special_use: r.get(7),
        noselect: r.get(8),
        seen_per_user: r.get(9),
    }
}

fn corrupt(what: impl std::fmt::Display) -> crate::Error {
    StoreError::Backend(format!("corrupt database: {what}")).into()
}

fn to_uid(v: i64) -> R<Uid> {
    u32::try_from(v)
        .ok()
        .and_then(Uid::new)
        .ok_or_else(|| corrupt(format!("UID {v}")))
}

fn to_modseq(v: i64) -> R<ModSeq> {
    u64::try_from(v)
        .ok()
        .and_then(ModSeq::new)
        .ok_or_else(|| corrupt(format!("MODSEQ {v}")))
}

fn modseq_i64(m: ModSeq) -> i64 {
    i64::try_from(m.get()).unwrap_or(i64::MAX)
}

impl Mb {
    fn info(&self) -> R<MailboxInfo> {
        Ok(MailboxInfo {
            id: MailboxId(self.id),
            account: AccountId(self.account),
            name: MailboxName::new(&self.name).map_err(|e| corrupt(format!("name: {e}")))?,
            uid_validity: u32::try_from(self.uid_validity)
                .ok()
                .and_then(UidValidity::new)
                .ok_or_else(|| corrupt("uid_validity"))?,
            uid_next: to_uid(self.uid_next)?,
            highest_modseq: to_modseq(self.highest_modseq)?,
            special_use: self.special_use.as_deref().and_then(SpecialUse::parse),
            noselect: self.noselect,
            seen_per_user: self.seen_per_user,
        })
    }

    fn validity(&self) -> R<UidValidity> {
        u32::try_from(self.uid_validity)
            .ok()
            .and_then(UidValidity::new)
            .ok_or_else(|| corrupt("uid_validity"))
    }

    /// The next UID; UIDs are 32-bit and never reused.
    fn take_uid(&mut self) -> R<Uid> {
        if self.uid_next > i64::from(u32::MAX) - 1 {
            return Err(StoreError::Limit(format!("{}: UIDs exhausted", self.name)).into());
        }
        let uid = to_uid(self.uid_next)?;
        self.uid_next += 1;
        Ok(uid)
    }

    fn take_modseq(&mut self) -> R<ModSeq> {
        self.highest_modseq += 1;
        to_modseq(self.highest_modseq)
    }

    fn event(&self) -> ChangeEvent {
        ChangeEvent::Mailbox {
            account: AccountId(self.account),
            mailbox: MailboxId(self.id),
            modseq: u64::try_from(self.highest_modseq)
                .ok()
                .and_then(ModSeq::new)
                .unwrap_or(ModSeq::MIN),
        }
    }
}

fn save_counters(tx: &mut Tx<'_>, mb: &Mb) -> R<()> {
    tx.execute(
        "UPDATE mailboxes SET uid_next = $2, highest_modseq = $3, recent_floor = $4 WHERE id = $1",
        &[&mb.id, &mb.uid_next, &mb.highest_modseq, &mb.recent_floor],
    )?;
    Ok(())
}

fn mb_by_id(tx: &mut Tx<'_>, id: MailboxId) -> R<Option<Mb>> {
    Ok(tx
        .query_opt(
            &format!("SELECT {MB_COLS} FROM mailboxes WHERE id = $1"),
            &[&id.0],
        )?
        .map(|r| mb_from_row(&r)))
}

/// The mailbox row, locked until the end of the transaction: the counters are read here
/// and written back by [`save_counters`], so writers of one mailbox serialise.
fn mb_lock(tx: &mut Tx<'_>, id: MailboxId) -> R<Option<Mb>> {
    Ok(tx
        .query_opt(
            &format!("SELECT {MB_COLS} FROM mailboxes WHERE id = $1 FOR UPDATE"),
            &[&id.0],
        )?
        .map(|r| mb_from_row(&r)))
}

fn mb_by_name(tx: &mut Tx<'_>, account: AccountId, name: &str) -> R<Option<Mb>> {
    Ok(tx
        .query_opt(
            &format!("SELECT {MB_COLS} FROM mailboxes WHERE account = $1 AND name = $2"),
            &[&account.0, &name],
        )?
        .map(|r| mb_from_row(&r)))
}

fn mb_lock_by_name(tx: &mut Tx<'_>, account: AccountId, name: &str) -> R<Option<Mb>> {
    Ok(tx
        .query_opt(
            &format!("SELECT {MB_COLS} FROM mailboxes WHERE account = $1 AND name = $2 FOR UPDATE"),
            &[&account.0, &name],
        )?
        .map(|r| mb_from_row(&r)))
}

/// Locks mailboxes in id order (the one order every writer uses).
fn lock_in_order(tx: &mut Tx<'_>, ids: &[MailboxId]) -> R<()> {
    let mut ids: Vec<i64> = ids.iter().map(|m| m.0).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > 1 {
        tx.query(
            "SELECT id FROM mailboxes WHERE id = ANY($1) ORDER BY id FOR UPDATE",
            &[&ids],
        )?;
    }
    Ok(())
}

/// A mailbox that exists and can hold messages, locked.
fn selectable(tx: &mut Tx<'_>, id: MailboxId) -> R<Mb> {
    match mb_lock(tx, id)? {
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

fn check_keywords(n: usize) -> R<()> {
    if n > MAX_KEYWORDS {
        return Err(
            StoreError::Limit(format!("a message has at most {MAX_KEYWORDS} keywords")).into(),
        );
    }
    Ok(())
}

fn flags_of(bits: i16, keywords: &str) -> Flags {
    Flags::from_parts(
        u8::try_from(bits).unwrap_or(0),
        keywords.split_whitespace().map(str::to_string).collect(),
    )
}

fn keywords_text(flags: &Flags) -> String {
    flags.keywords().join(" ")
}

fn sorted(uids: &[Uid]) -> Vec<i64> {
    let mut v: Vec<i64> = uids.iter().map(|u| i64::from(u.get())).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// A stored message row, as copy/move need it.
struct Row0 {
    uid: i64,
    blob: String,
    flags: i16,
    keywords: String,
    internal_date: i64,
    internal_offset: i16,
    size: i64,
}

#[allow(clippy::too_many_arguments)]
fn insert_message(
    tx: &mut Tx<'_>,
    mb: &mut Mb,
    blob: &str,
    flags: i16,
    keywords: &str,
    internal: MailDate,
    save: MailDate,
    size: i64,
) -> R<Uid> {
    check_keywords(keywords.split_whitespace().count())?;
    let uid = mb.take_uid()?;
    let modseq = mb.take_modseq()?;
    tx.execute(
        "INSERT INTO messages (mailbox, uid, blob, flags, keywords, internal_date,
                               internal_offset, save_date, size, modseq)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &mb.id,
            &i64::from(uid.get()),
            &blob,
            &flags,
            &keywords,
            &internal.unix,
            &internal.offset_minutes,
            &save.unix,
            &size,
            &modseq_i64(modseq),
        ],
    )?;
    Ok(uid)
}

fn read_rows(tx: &mut Tx<'_>, mailbox: i64, uids: &[i64]) -> R<Vec<Row0>> {
    Ok(tx
        .query(
            "SELECT uid, blob, flags, keywords, internal_date, internal_offset, size
             FROM messages WHERE mailbox = $1 AND uid = ANY($2) ORDER BY uid",
            &[&mailbox, &uids],
        )?
        .iter()
        .map(|r| Row0 {
            uid: r.get(0),
            blob: r.get(1),
            flags: r.get(2),
            keywords: r.get(3),
            internal_date: r.get(4),
            internal_offset: r.get(5),
            size: r.get(6),
        })
        .collect())
}

fn all_uids(tx: &mut Tx<'_>, mailbox: i64) -> R<Vec<i64>> {
    Ok(tx
        .query(
            "SELECT uid FROM messages WHERE mailbox = $1 ORDER BY uid",
            &[&mailbox],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

fn to_summary(r: &Row) -> R<MessageSummary> {
    Ok(MessageSummary {
        uid: to_uid(r.get(0))?,
        flags: flags_of(r.get(1), r.get::<_, &str>(2)),
        modseq: to_modseq(r.get(3))?,
    })
}

/// Remove messages and remember each UID with the MODSEQ of its expunge (RFC 7162 §3.2.10).
fn expunge_uids(tx: &mut Tx<'_>, mb: &mut Mb, uids: &[i64]) -> R<()> {
    if uids.is_empty() {
        return Ok(());
    }
    let gone: Vec<i64> = tx
        .query(
            "DELETE FROM messages WHERE mailbox = $1 AND uid = ANY($2) RETURNING uid",
            &[&mb.id, &uids],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut gone = gone;
    gone.sort_unstable();
    let mut modseqs = Vec::with_capacity(gone.len());
    for _ in &gone {
        modseqs.push(modseq_i64(mb.take_modseq()?));
    }
    tx.execute(
        "INSERT INTO expunged (mailbox, uid, modseq)
         SELECT $1, u, m FROM unnest($2::bigint[], $3::bigint[]) AS t(u, m)
         ON CONFLICT (mailbox, uid) DO UPDATE SET modseq = excluded.modseq",
        &[&mb.id, &gone, &modseqs],
    )?;
    Ok(())
}

// --- quota ---

fn quota_of(tx: &mut Tx<'_>, account: i64, lock: bool) -> R<Quota> {
    let sql = if lock {
        "SELECT storage_limit, message_limit, used_bytes, used_messages
         FROM quotas WHERE account = $1 FOR UPDATE"
    } else {
        "SELECT storage_limit, message_limit, used_bytes, used_messages
         FROM quotas WHERE account = $1"
    };
    let Some(r) = tx.query_opt(sql, &[&account])? else {
        return Err(StoreError::NotFound(format!("account {account}")).into());
    };
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    Ok(Quota {
        limits: QuotaLimits {
            storage: r.get::<_, Option<i64>>(0).map(n),
            messages: r.get::<_, Option<i64>>(1).map(n),
        },
        storage: n(r.get(2)),
        messages: n(r.get(3)),
    })
}

/// Before rows are added: refuse if the account would go over a limit. The quota row is
/// locked, so concurrent additions to one account cannot both pass.
fn check_quota(tx: &mut Tx<'_>, account: i64, bytes: u64, messages: u64) -> R<()> {
    quota_of(tx, account, true)?
        .check(bytes, messages)
        .map_err(|e| StoreError::OverQuota(e).into())
}

// --- blobs ---

fn blob_id(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn valid_blob_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Message bytes made ready outside the transaction: normalised, hashed, parsed if the
/// database has not seen them before.
struct Prepared {
    id: String,
    bytes: Vec<u8>,
    meta: Option<Vec<u8>>,
}

impl PgStore {
    fn prepare(&self, bytes: &[u8]) -> R<Prepared> {
        let bytes = pochta_message::normalize_line_endings(bytes).into_owned();
        let id = blob_id(&bytes);
        let known = self.read(|tx| {
            Ok(tx
                .query_opt("SELECT 1 FROM blobs WHERE id = $1", &[&id])?
                .is_some())
        })?;
        let meta = (!known).then(|| pochta_message::parse(&bytes).to_bytes());
        Ok(Prepared { id, bytes, meta })
    }
}

/// Inside the transaction, before a message row refers to it: the blob row exists and is
/// locked (so a concurrent removal of its last reference waits for us, or we for it).
fn ensure_blob(tx: &mut Tx<'_>, p: &Prepared) -> R<()> {
    let locked = tx.execute(
        "UPDATE blobs SET refcount = refcount WHERE id = $1",
        &[&p.id],
    )?;
    if locked == 1 {
        return Ok(());
    }
    let meta = match &p.meta {
        Some(m) => m.clone(),
        None => pochta_message::parse(&p.bytes).to_bytes(),
    };
    tx.execute(
        "INSERT INTO blobs (id, size, refcount, meta, data) VALUES ($1, $2, 0, $3, $4)
         ON CONFLICT (id) DO UPDATE SET refcount = blobs.refcount",
        &[&p.id, &(p.bytes.len() as i64), &meta, &p.bytes],
    )?;
    Ok(())
}

/// Removes blobs that lost their last reference in this transaction.
pub(crate) fn collect_blobs(tx: &mut Tx<'_>) -> R<()> {
    tx.execute("DELETE FROM blobs WHERE refcount <= 0", &[])?;
    Ok(())
}

// --- mailboxes ---

/// A fresh UIDVALIDITY: larger than any handed out before in this database, and normally
/// the current time.
fn next_uid_validity(tx: &mut Tx<'_>) -> R<i64> {
    let now = now().unix.clamp(1, i64::from(u32::MAX));
    let next: i64 = tx
        .query_one(
            "INSERT INTO counters (name, value) VALUES ('uid_validity', $1)
             ON CONFLICT (name) DO UPDATE SET value = greatest(counters.value + 1, $1)
             RETURNING value",
            &[&now],
        )?
        .get(0);
    if next > i64::from(u32::MAX) {
        return Err(StoreError::Limit("UIDVALIDITY values exhausted".into()).into());
    }
    Ok(next)
}

/// Insert a new, selectable mailbox row.
pub(crate) fn insert_mailbox(
    tx: &mut Tx<'_>,
    account: AccountId,
    name: &MailboxName,
    special_use: Option<SpecialUse>,
) -> R<MailboxInfo> {
    let count: i64 = tx
        .query_one(
            "SELECT count(*) FROM mailboxes WHERE account = $1",
            &[&account.0],
        )?
        .get(0);
    if count >= MAX_MAILBOXES {
        return Err(
            StoreError::Limit(format!("an account has at most {MAX_MAILBOXES} mailboxes")).into(),
        );
    }
    let uid_validity = next_uid_validity(tx)?;
    let row = tx.query_one(
        &format!(
            "INSERT INTO mailboxes (account, name, uid_validity, uid_next, highest_modseq,
                                    recent_floor, special_use, noselect, seen_per_user)
             VALUES ($1, $2, $3, 1, 1, 1, $4, FALSE,
                     (SELECT key = '#public' FROM accounts WHERE id = $1))
             RETURNING {MB_COLS}"
        ),
        &[
            &account.0,
            &name.as_str(),
            &uid_validity,
            &special_use.map(SpecialUse::as_str),
        ],
    )?;
    mb_from_row(&row).info()
}

fn create_ancestors(tx: &mut Tx<'_>, account: AccountId, name: &MailboxName) -> R<()> {
    for parent in name.ancestors() {
        if mb_by_name(tx, account, parent.as_str())?.is_none() {
            insert_mailbox(tx, account, &parent, None)?;
        }
    }
    Ok(())
}

fn has_children(tx: &mut Tx<'_>, mb: &Mb) -> R<bool> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM mailboxes WHERE account = $1 AND starts_with(name, $2) LIMIT 1",
            &[&mb.account, &format!("{}{SEPARATOR}", mb.name)],
        )?
        .is_some())
}

// --- ACL ---

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

fn rights_of(bits: i32) -> Rights {
    Rights::from_bits(u16::try_from(bits).unwrap_or(0))
}

impl PgStore {
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
        self.write(|tx| {
            lock_in_order(tx, &[from, to])?;
            let mut dst = selectable(tx, to)?;
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
                let moved: Vec<i64> = rows.iter().map(|r| r.uid).collect();
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
            Ok((
                UidMapping {
                    uid_validity: dst.validity()?,
                    pairs,
                },
                events,
            ))
        })
    }

    fn public_account(&self) -> R<AccountId> {
        if let Some(id) = self.inner.public.get() {
            return Ok(*id);
        }
        let id: i64 = self.read(|tx| {
            Ok(tx
                .query_one("SELECT id FROM accounts WHERE key = '#public'", &[])?
                .get(0))
        })?;
        Ok(*self.inner.public.get_or_init(|| AccountId(id)))
    }
}

impl MailStore for PgStore {
    fn change_bus(&self) -> &ChangeBus {
        &self.inner.bus
    }

    fn mailboxes(&self, account: AccountId) -> Result<Vec<MailboxInfo>> {
        Ok(self.read(|tx| {
            tx.query(
                &format!("SELECT {MB_COLS} FROM mailboxes WHERE account = $1 ORDER BY name"),
                &[&account.0],
            )?
            .iter()
            .map(|r| mb_from_row(r).info())
            .collect()
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
        let r = self.write(|tx| {
            // The account row, locked: mailbox tree changes of one account serialise.
            if tx
                .query_opt(
                    "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE",
                    &[&account.0],
                )?
                .is_none()
            {
                return Err(StoreError::NotFound(format!("account {}", account.0)).into());
            }
            create_ancestors(tx, account, name)?;
            let info = match mb_lock_by_name(tx, account, name.as_str())? {
                Some(mb) if mb.noselect => {
                    let row = tx.query_one(
                        &format!(
                            "UPDATE mailboxes SET noselect = FALSE, special_use = $2 WHERE id = $1
                             RETURNING {MB_COLS}"
                        ),
                        &[&mb.id, &special_use.map(SpecialUse::as_str)],
                    )?;
                    mb_from_row(&row).info()?
                }
                Some(_) => return Err(StoreError::AlreadyExists(name.to_string()).into()),
                None => insert_mailbox(tx, account, name, special_use)?,
            };
            Ok((info, vec![ChangeEvent::MailboxList { account }]))
        });
        match r {
            Err(e) if e.unique_violation() => Err(StoreError::AlreadyExists(name.to_string())),
            r => Ok(r?),
        }
    }

    fn mailbox_delete(&self, account: AccountId, name: &MailboxName) -> Result<()> {
        Ok(self.write(|tx| {
            if name.is_inbox() {
                return Err(StoreError::NotAllowed("INBOX cannot be deleted".into()).into());
            }
            tx.query_opt(
                "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE",
                &[&account.0],
            )?;
            let Some(mut mb) = mb_lock_by_name(tx, account, name.as_str())? else {
                return Err(StoreError::NotFound(name.to_string()).into());
            };
            let mut events = vec![ChangeEvent::MailboxList { account }];
            if has_children(tx, &mb)? {
                if mb.noselect {
                    return Err(StoreError::HasChildren(name.to_string()).into());
                }
                let uids = all_uids(tx, mb.id)?;
                expunge_uids(tx, &mut mb, &uids)?;
                save_counters(tx, &mb)?;
                tx.execute(
                    "UPDATE mailboxes SET noselect = TRUE WHERE id = $1",
                    &[&mb.id],
                )?;
                // RFC 5464 §4.1: a deleted mailbox's metadata goes, even when its name stays.
                tx.execute("DELETE FROM metadata WHERE mailbox = $1", &[&mb.id])?;
                if !uids.is_empty() {
                    events.push(mb.event());
                }
            } else {
                // The trigger deletes its messages first (keeping counts right).
                tx.execute("DELETE FROM mailboxes WHERE id = $1", &[&mb.id])?;
            }
            collect_blobs(tx)?;
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
        let r = self.write(|tx| {
            tx.query_opt(
                "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE",
                &[&account.0],
            )?;
            let Some(mut src) = mb_lock_by_name(tx, account, from.as_str())? else {
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
                create_ancestors(tx, account, to)?;
                let info = insert_mailbox(tx, account, to, None)?;
                let mut dst = mb_lock(tx, info.id)?.ok_or_else(|| corrupt("mailbox vanished"))?;
                // RFC 5464 §4.1: the new mailbox gets a copy of INBOX's metadata.
                tx.execute(
                    "INSERT INTO metadata (mailbox, account, name, value)
                     SELECT $2, account, name, value FROM metadata WHERE mailbox = $1",
                    &[&src.id, &dst.id],
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
            let from_len = from.as_str().chars().count();
            let children: Vec<(i64, String)> = tx
                .query(
                    "SELECT id, name FROM mailboxes
                     WHERE account = $1 AND (name = $2 OR starts_with(name, $3))",
                    &[&account.0, &from.as_str(), &format!("{from}{SEPARATOR}")],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
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
            // Through a temporary name first, so no intermediate state violates uniqueness.
            for (id, _) in &renames {
                tx.execute(
                    "UPDATE mailboxes SET name = '\u{1}' || id::text WHERE id = $1",
                    &[id],
                )?;
            }
            for (id, new) in &renames {
                tx.execute("UPDATE mailboxes SET name = $2 WHERE id = $1", &[id, new])?;
            }
            Ok(((), events))
        });
        match r {
            Err(e) if e.unique_violation() => Err(StoreError::AlreadyExists(to.to_string())),
            r => Ok(r?),
        }
    }

    fn mailbox_set_special_use(
        &self,
        account: AccountId,
        name: &MailboxName,
        special_use: Option<SpecialUse>,
    ) -> Result<()> {
        Ok(self.write(|tx| {
            let n = tx.execute(
                "UPDATE mailboxes SET special_use = $3 WHERE account = $1 AND name = $2",
                &[
                    &account.0,
                    &name.as_str(),
                    &special_use.map(SpecialUse::as_str),
                ],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(name.to_string()).into());
            }
            Ok(((), vec![ChangeEvent::MailboxList { account }]))
        })?)
    }

    fn mailbox_status(&self, mailbox: MailboxId) -> Result<MailboxStatus> {
        Ok(self.snapshot(|tx| {
            let mb = mb_by_id(tx, mailbox)?
                .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", mailbox.0)))?;
            let r = tx.query_one(
                "SELECT count(*), count(*) FILTER (WHERE uid >= $2),
                        count(*) FILTER (WHERE (flags & 1) = 0),
                        count(*) FILTER (WHERE (flags & 8) <> 0),
                        coalesce(sum(size), 0)::bigint,
                        coalesce(sum(size) FILTER (WHERE (flags & 8) <> 0), 0)::bigint
                 FROM messages WHERE mailbox = $1",
                &[&mb.id, &mb.recent_floor],
            )?;
            let n = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
            let info = mb.info()?;
            Ok(MailboxStatus {
                messages: n(r.get(0)),
                recent: n(r.get(1)),
                unseen: n(r.get(2)),
                deleted: n(r.get(3)),
                size: u64::try_from(r.get::<_, i64>(4)).unwrap_or(0),
                deleted_size: u64::try_from(r.get::<_, i64>(5)).unwrap_or(0),
                uid_next: info.uid_next,
                uid_validity: info.uid_validity,
                highest_modseq: info.highest_modseq,
            })
        })?)
    }

    fn mailbox_keywords(&self, mailbox: MailboxId) -> Result<Vec<String>> {
        Ok(self.read(|tx| {
            let sets: Vec<String> = tx
                .query(
                    "SELECT DISTINCT keywords FROM messages WHERE mailbox = $1 AND keywords <> ''",
                    &[&mailbox.0],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
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
                "INSERT INTO subscriptions (account, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&account.0, &name.as_str()],
            )?;
            Ok(((), vec![ChangeEvent::MailboxList { account }]))
        })?)
    }

    fn unsubscribe(&self, account: AccountId, name: &MailboxName) -> Result<()> {
        Ok(self.write(|tx| {
            tx.execute(
                "DELETE FROM subscriptions WHERE account = $1 AND name = $2",
                &[&account.0, &name.as_str()],
            )?;
            Ok(((), vec![ChangeEvent::MailboxList { account }]))
        })?)
    }

    fn subscriptions(&self, account: AccountId) -> Result<Vec<MailboxName>> {
        Ok(self.read(|tx| {
            tx.query(
                "SELECT name FROM subscriptions WHERE account = $1 ORDER BY name",
                &[&account.0],
            )?
            .iter()
            .map(|r| {
                MailboxName::new(r.get::<_, &str>(0))
                    .map_err(|e| corrupt(format!("subscription: {e}")))
            })
            .collect()
        })?)
    }

    fn append(&self, mailbox: MailboxId, messages: &[NewMessage<'_>]) -> Result<UidMapping> {
        let prepared = messages
            .iter()
            .map(|m| self.prepare(m.bytes))
            .collect::<R<Vec<_>>>()?;
        let save = now();
        Ok(self.write(|tx| {
            let mut mb = selectable(tx, mailbox)?;
            let bytes = prepared.iter().map(|p| p.bytes.len() as u64).sum();
            check_quota(tx, mb.account, bytes, prepared.len() as u64)?;
            let mut pairs = Vec::with_capacity(messages.len());
            for (m, p) in messages.iter().zip(&prepared) {
                ensure_blob(tx, p)?;
                let uid = insert_message(
                    tx,
                    &mut mb,
                    &p.id,
                    i16::from(m.flags.system_bits()),
                    &keywords_text(&m.flags),
                    m.internal_date.unwrap_or(save),
                    save,
                    i64::try_from(p.bytes.len()).unwrap_or(i64::MAX),
                )?;
                pairs.push((None, uid));
            }
            save_counters(tx, &mb)?;
            let events = if pairs.is_empty() {
                Vec::new()
            } else {
                vec![mb.event()]
            };
            Ok((
                UidMapping {
                    uid_validity: mb.validity()?,
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
        let p = self.prepare(bytes)?;
        let save = now();
        Ok(self.write(|tx| {
            let ids: Vec<MailboxId> = targets.iter().map(|t| t.0).collect();
            lock_in_order(tx, &ids)?;
            let mut per_account: Vec<(i64, u64)> = Vec::new();
            for (mailbox, _) in targets {
                let account = selectable(tx, *mailbox)?.account;
                match per_account.iter_mut().find(|(a, _)| *a == account) {
                    Some((_, n)) => *n += 1,
                    None => per_account.push((account, 1)),
                }
            }
            per_account.sort_unstable();
            for (account, n) in per_account {
                check_quota(tx, account, n * p.bytes.len() as u64, n)?;
            }
            ensure_blob(tx, &p)?;
            let mut uids = Vec::with_capacity(targets.len());
            let mut events = Vec::with_capacity(targets.len());
            for (mailbox, flags) in targets {
                let mut mb = selectable(tx, *mailbox)?;
                let uid = insert_message(
                    tx,
                    &mut mb,
                    &p.id,
                    i16::from(flags.system_bits()),
                    &keywords_text(flags),
                    internal_date.unwrap_or(save),
                    save,
                    i64::try_from(p.bytes.len()).unwrap_or(i64::MAX),
                )?;
                save_counters(tx, &mb)?;
                uids.push(uid);
                events.push(mb.event());
            }
            Ok((uids, events))
        })?)
    }

    fn select_state(&self, mailbox: MailboxId) -> Result<pochta_store::SelectState> {
        keys::select_state(self, mailbox)
    }

    fn search_meta(
        &self,
        mailbox: MailboxId,
        filter: &pochta_store::MetaFilter,
    ) -> Result<Vec<(Uid, ModSeq)>> {
        if let Some(r) = keys::search_meta(self, mailbox, filter) {
            return r;
        }
        // The sent day is in the stored metadata only: the records' path.
        let uids: Vec<Uid> = self.summaries(mailbox)?.iter().map(|s| s.uid).collect();
        let mut out = Vec::new();
        for chunk in uids.chunks(2048) {
            for r in self.records(mailbox, chunk, true)? {
                if filter.matches(&r) {
                    out.push((r.uid, r.modseq));
                }
            }
        }
        Ok(out)
    }

    fn sort_rows(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        need: pochta_store::SortNeed,
    ) -> Result<Vec<pochta_store::SortRow>> {
        keys::sort_rows(self, mailbox, uids, need)
    }

    fn header_sections(&self, mailbox: MailboxId, uids: &[Uid]) -> Result<Vec<(Uid, Vec<u8>)>> {
        keys::header_sections(self, mailbox, uids)
    }

    fn summaries(&self, mailbox: MailboxId) -> Result<Vec<MessageSummary>> {
        Ok(self.read(|tx| {
            tx.query(
                "SELECT uid, flags, keywords, modseq FROM messages WHERE mailbox = $1 ORDER BY uid",
                &[&mailbox.0],
            )?
            .iter()
            .map(to_summary)
            .collect()
        })?)
    }

    fn changes_since(&self, mailbox: MailboxId, since: ModSeq) -> Result<Changes> {
        Ok(self.snapshot(|tx| {
            let mb = mb_by_id(tx, mailbox)?
                .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", mailbox.0)))?;
            let since = modseq_i64(since);
            let changed = tx
                .query(
                    "SELECT uid, flags, keywords, modseq FROM messages
                     WHERE mailbox = $1 AND modseq > $2 ORDER BY uid",
                    &[&mb.id, &since],
                )?
                .iter()
                .map(to_summary)
                .collect::<R<_>>()?;
            let expunged = tx
                .query(
                    "SELECT uid FROM expunged WHERE mailbox = $1 AND modseq > $2 ORDER BY uid",
                    &[&mb.id, &since],
                )?
                .iter()
                .map(|r| to_uid(r.get(0)))
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
        let rows = self.snapshot(|tx| {
            let rows = tx.query(
                "SELECT uid, flags, keywords, modseq, internal_date, internal_offset, save_date,
                        size, blob
                 FROM messages WHERE mailbox = $1 AND uid = ANY($2) ORDER BY uid",
                &[&mailbox.0, &uids],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let blob: String = r.get(8);
                let meta = if with_meta {
                    Some(match self.meta_cached(&blob) {
                        Some(m) => m,
                        None => {
                            let bytes: Vec<u8> = tx
                                .query_one("SELECT meta FROM blobs WHERE id = $1", &[&blob])?
                                .get(0);
                            let m = Arc::new(
                                MessageMeta::from_bytes(&bytes)
                                    .map_err(|e| corrupt(format!("meta of {blob}: {e}")))?,
                            );
                            self.meta_put(&blob, m.clone());
                            m
                        }
                    })
                } else {
                    None
                };
                out.push(MessageRecord {
                    uid: to_uid(r.get(0))?,
                    flags: flags_of(r.get(1), r.get::<_, &str>(2)),
                    modseq: to_modseq(r.get(3))?,
                    internal_date: MailDate {
                        unix: r.get(4),
                        offset_minutes: r.get(5),
                    },
                    save_date: MailDate {
                        unix: r.get(6),
                        offset_minutes: 0,
                    },
                    size: u64::try_from(r.get::<_, i64>(7)).unwrap_or(0),
                    blob: BlobId(blob),
                    meta,
                });
            }
            Ok(out)
        })?;
        Ok(rows)
    }

    fn flag_rows(&self, mailbox: MailboxId, uids: &[Uid]) -> Result<Vec<MessageSummary>> {
        let uids = sorted(uids);
        Ok(self.read(|tx| {
            tx.query(
                "SELECT uid, flags, keywords, modseq FROM messages
                 WHERE mailbox = $1 AND uid = ANY($2) ORDER BY uid",
                &[&mailbox.0, &uids],
            )?
            .iter()
            .map(to_summary)
            .collect()
        })?)
    }

    fn blob(&self, blob: &BlobId) -> Result<Arc<Vec<u8>>> {
        if !valid_blob_id(&blob.0) {
            return Err(StoreError::NotFound(format!("blob {}", blob.0)));
        }
        let bytes: Option<Vec<u8>> = self.read(|tx| {
            Ok(tx
                .query_opt("SELECT data FROM blobs WHERE id = $1", &[&blob.0])?
                .map(|r| r.get(0)))
        })?;
        bytes
            .map(Arc::new)
            .ok_or_else(|| StoreError::NotFound(format!("blob {}", blob.0)))
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
            let rows = tx.query(
                "SELECT uid, flags, keywords, modseq FROM messages
                 WHERE mailbox = $1 AND uid = ANY($2) ORDER BY uid",
                &[&mb.id, &uids],
            )?;
            let mut upd: (Vec<i64>, Vec<i16>, Vec<String>, Vec<i64>) = Default::default();
            for r in &rows {
                let mut s = to_summary(r)?;
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
                    upd.0.push(i64::from(s.uid.get()));
                    upd.1.push(i16::from(new.system_bits()));
                    upd.2.push(keywords_text(&new));
                    upd.3.push(modseq_i64(modseq));
                    s.flags = new;
                    s.modseq = modseq;
                }
                out.updated.push(s);
                out.changed.push(changed);
            }
            if !upd.0.is_empty() {
                tx.execute(
                    "UPDATE messages m SET flags = u.f, keywords = u.k, modseq = u.m
                     FROM unnest($2::bigint[], $3::smallint[], $4::text[], $5::bigint[])
                          AS u(uid, f, k, m)
                     WHERE m.mailbox = $1 AND m.uid = u.uid",
                    &[&mb.id, &upd.0, &upd.1, &upd.2, &upd.3],
                )?;
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
        Ok(self.write(|tx| {
            let mut mb = selectable(tx, mailbox)?;
            let mut gone: Vec<i64> = tx
                .query(
                    "SELECT uid FROM messages WHERE mailbox = $1 AND (flags & 8) <> 0 ORDER BY uid",
                    &[&mb.id],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if let Some(only) = &only {
                gone.retain(|u| only.binary_search(u).is_ok());
            }
            expunge_uids(tx, &mut mb, &gone)?;
            let events = if gone.is_empty() {
                Vec::new()
            } else {
                save_counters(tx, &mb)?;
                collect_blobs(tx)?;
                vec![mb.event()]
            };
            let gone = gone.into_iter().map(to_uid).collect::<R<_>>()?;
            Ok((gone, events))
        })?)
    }

    fn claim_recent(&self, mailbox: MailboxId) -> Result<Vec<Uid>> {
        Ok(self.write(|tx| {
            let mut mb = selectable(tx, mailbox)?;
            let uids: Vec<i64> = tx
                .query(
                    "SELECT uid FROM messages WHERE mailbox = $1 AND uid >= $2 ORDER BY uid",
                    &[&mb.id, &mb.recent_floor],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            if mb.recent_floor != mb.uid_next {
                mb.recent_floor = mb.uid_next;
                save_counters(tx, &mb)?;
            }
            let uids = uids.into_iter().map(to_uid).collect::<R<_>>()?;
            Ok((uids, Vec::new()))
        })?)
    }

    fn quota(&self, account: AccountId) -> Result<Quota> {
        Ok(self.read(|tx| quota_of(tx, account.0, false))?)
    }

    fn set_quota(&self, account: AccountId, limits: QuotaLimits) -> Result<()> {
        let v = |l: Option<u64>| l.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        Ok(self.write(|tx| {
            let n = tx.execute(
                "UPDATE quotas SET storage_limit = $2, message_limit = $3 WHERE account = $1",
                &[&account.0, &v(limits.storage), &v(limits.messages)],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("account {}", account.0)).into());
            }
            Ok(((), Vec::new()))
        })?)
    }

    fn acl(&self, mailbox: MailboxId) -> Result<Vec<(Grantee, Rights)>> {
        Ok(self.read(|tx| {
            let mut v: Vec<(Grantee, Rights)> = tx
                .query(
                    "SELECT grantee, rights FROM acl WHERE mailbox = $1",
                    &[&mailbox.0],
                )?
                .iter()
                .map(|r| (grantee_of(r.get(0)), rights_of(r.get(1))))
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
                if tx
                    .query_opt("SELECT 1 FROM accounts WHERE id = $1", &[&a.0])?
                    .is_none()
                {
                    return Err(StoreError::NotFound(format!("account {}", a.0)).into());
                }
            }
            if rights.is_empty() {
                tx.execute(
                    "DELETE FROM acl WHERE mailbox = $1 AND grantee = $2",
                    &[&mb.id, &grantee_key(grantee)],
                )?;
            } else {
                tx.execute(
                    "INSERT INTO acl (mailbox, grantee, rights) VALUES ($1, $2, $3)
                     ON CONFLICT (mailbox, grantee) DO UPDATE SET rights = excluded.rights",
                    &[&mb.id, &grantee_key(grantee), &i32::from(rights.bits())],
                )?;
            }
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
        Ok(self.snapshot(|tx| {
            let rows = tx.query(
                "SELECT acl.mailbox, acl.rights FROM acl JOIN mailboxes b ON b.id = acl.mailbox
                 WHERE acl.grantee IN ($1, 0) AND b.account <> $1",
                &[&account.0],
            )?;
            let mut out: Vec<(MailboxInfo, Rights)> = Vec::new();
            for r in rows {
                let id: i64 = r.get(0);
                let rights = rights_of(r.get(1));
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
            let cols = MB_COLS
                .split(", ")
                .map(|c| format!("b.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            tx.query(
                &format!(
                    "SELECT {cols}, acl.rights FROM acl JOIN mailboxes b ON b.id = acl.mailbox
                     WHERE acl.grantee < 0 ORDER BY b.account, b.name"
                ),
                &[],
            )?
            .iter()
            .map(|r| Ok((mb_from_row(r).info()?, rights_of(r.get(10)))))
            .collect()
        })?)
    }

    fn public_owner(&self) -> Result<Option<AccountId>> {
        Ok(Some(self.public_account()?))
    }

    fn maildrop_lock(&self, account: AccountId) -> Result<Option<pochta_store::MaildropLock>> {
        let key = i32::try_from(account.0).map_err(|_| {
            StoreError::Backend(format!("account id {} out of lock range", account.0))
        })?;
        let config = self.inner.pool.config.clone();
        let r: R<Option<pochta_store::MaildropLock>> = crate::bridge(move || {
            let mut client = crate::SafeClient::new(config.connect(postgres::NoTls)?);
            let got: bool = client
                .query_one(
                    "SELECT pg_try_advisory_lock($1, $2)",
                    &[&MAILDROP_LOCK_CLASS, &key],
                )?
                .get(0);
            Ok(got.then(|| {
                pochta_store::MaildropLock::new(crate::LockHolder {
                    _conn: parking_lot::Mutex::new(client),
                })
            }))
        });
        Ok(r?)
    }

    fn replace(
        &self,
        from: MailboxId,
        uid: Uid,
        to: MailboxId,
        message: &NewMessage<'_>,
    ) -> Result<UidMapping> {
        replace::replace(self, from, uid, to, message)
    }

    fn access_key(&self, account: AccountId, mailbox: MailboxId) -> Result<Option<Vec<u8>>> {
        access_keys::access_key(self, account, mailbox)
    }

    fn access_key_or_insert(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        fresh: &[u8],
    ) -> Result<Vec<u8>> {
        access_keys::access_key_or_insert(self, account, mailbox, fresh)
    }

    fn access_key_reset(&self, account: AccountId, key: Option<(MailboxId, &[u8])>) -> Result<()> {
        access_keys::access_key_reset(self, account, key)
    }

    fn metadata(
        &self,
        mailbox: Option<MailboxId>,
        account: AccountId,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        metadata::metadata(self, mailbox, account)
    }

    fn metadata_set(
        &self,
        mailbox: Option<MailboxId>,
        account: AccountId,
        changes: &[(String, Option<Vec<u8>>)],
        max_entries: u32,
    ) -> Result<()> {
        metadata::metadata_set(self, mailbox, account, changes, max_entries)
    }

    fn set_seen_per_user(&self, mailbox: MailboxId, on: bool) -> Result<()> {
        Ok(self.write(|tx| {
            let mb = mb_lock(tx, mailbox)?
                .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", mailbox.0)))?;
            tx.execute(
                "UPDATE mailboxes SET seen_per_user = $2 WHERE id = $1",
                &[&mb.id, &on],
            )?;
            if !on {
                tx.execute("DELETE FROM private_seen WHERE mailbox = $1", &[&mb.id])?;
            }
            Ok(((), vec![mb.event()]))
        })?)
    }

    fn private_seen(&self, mailbox: MailboxId, account: AccountId) -> Result<Vec<Uid>> {
        Ok(self.read(|tx| {
            tx.query(
                "SELECT uid FROM private_seen WHERE mailbox = $1 AND account = $2 ORDER BY uid",
                &[&mailbox.0, &account.0],
            )?
            .iter()
            .map(|r| to_uid(r.get(0)))
            .collect()
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
            let rows = tx.query(
                "SELECT uid, flags, keywords, modseq FROM messages
                 WHERE mailbox = $1 AND uid = ANY($2) ORDER BY uid",
                &[&mb.id, &uids],
            )?;
            let change = if seen {
                "INSERT INTO private_seen (mailbox, uid, account) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING"
            } else {
                "DELETE FROM private_seen WHERE mailbox = $1 AND uid = $2 AND account = $3"
            };
            let mut out = Vec::new();
            for r in &rows {
                let uid: i64 = r.get(0);
                if tx.execute(change, &[&mb.id, &uid, &account.0])? == 0 {
                    continue;
                }
                let mut s = to_summary(r)?;
                let modseq = mb.take_modseq()?;
                tx.execute(
                    "UPDATE messages SET modseq = $3 WHERE mailbox = $1 AND uid = $2",
                    &[&mb.id, &uid, &modseq_i64(modseq)],
                )?;
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
