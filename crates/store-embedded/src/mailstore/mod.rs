//! [`MailStore`] for the embedded store: mailboxes, messages, flags.
//!
//! The one trait impl delegates each method to the module of its concern, named like the
//! IMAP command family where there is one: `mailboxes` (CREATE/DELETE/RENAME/STATUS),
//! `subscriptions`, `append` (APPEND and delivery), `fetch` (reads), `flags` (STORE,
//! `\Recent`, per-user `\Seen`), `copy_move`, `replace`, `expunge`, `quota`, `acl`. This file keeps the
//! mailbox row type and the row helpers they share.

mod access_keys;
mod acl;
mod append;
mod copy_move;
mod expunge;
mod fetch;
mod flags;
mod keys;
mod mailboxes;
mod metadata;
mod quota;
mod replace;
pub(crate) mod select;
mod subscriptions;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use pochta_store::{
    BlobId, ChangeBus, ChangeEvent, Changes, FlagOp, Grantee, MailDate, MailStore, MailboxInfo,
    MailboxStatus, MessageRecord, MessageSummary, NewMessage, Quota, QuotaLimits, Result,
    StoreError, StoreOutcome, UidMapping,
};
use pochta_types::{
    AccountId, Flags, MailboxId, MailboxName, ModSeq, Rights, SpecialUse, Uid, UidValidity,
};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::{EmbeddedStore, R};

pub(crate) use mailboxes::insert_mailbox;

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

fn flags_of(bits: u8, keywords: &str) -> Flags {
    Flags::from_parts(
        bits,
        keywords.split_whitespace().map(str::to_string).collect(),
    )
}

fn keywords_text(flags: &Flags) -> String {
    flags.keywords().join(" ")
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

fn sorted(uids: &[Uid]) -> Vec<u32> {
    let mut v: Vec<u32> = uids.iter().map(|u| u.get()).collect();
    v.sort_unstable();
    v.dedup();
    v
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

impl MailStore for EmbeddedStore {
    fn change_bus(&self) -> &ChangeBus {
        &self.inner.bus
    }

    fn mailboxes(&self, account: AccountId) -> Result<Vec<MailboxInfo>> {
        mailboxes::mailboxes(self, account)
    }

    fn mailbox(&self, account: AccountId, name: &MailboxName) -> Result<Option<MailboxInfo>> {
        mailboxes::mailbox(self, account, name)
    }

    fn mailbox_by_id(&self, account: AccountId, id: MailboxId) -> Result<Option<MailboxInfo>> {
        mailboxes::mailbox_by_id(self, account, id)
    }

    fn mailbox_create(
        &self,
        account: AccountId,
        name: &MailboxName,
        special_use: Option<SpecialUse>,
    ) -> Result<MailboxInfo> {
        mailboxes::mailbox_create(self, account, name, special_use)
    }

    fn mailbox_delete(&self, account: AccountId, name: &MailboxName) -> Result<()> {
        mailboxes::mailbox_delete(self, account, name)
    }

    fn mailbox_rename(
        &self,
        account: AccountId,
        from: &MailboxName,
        to: &MailboxName,
    ) -> Result<()> {
        mailboxes::mailbox_rename(self, account, from, to)
    }

    fn mailbox_set_special_use(
        &self,
        account: AccountId,
        name: &MailboxName,
        special_use: Option<SpecialUse>,
    ) -> Result<()> {
        mailboxes::mailbox_set_special_use(self, account, name, special_use)
    }

    fn mailbox_status(&self, mailbox: MailboxId) -> Result<MailboxStatus> {
        mailboxes::mailbox_status(self, mailbox)
    }

    fn mailbox_keywords(&self, mailbox: MailboxId) -> Result<Vec<String>> {
        mailboxes::mailbox_keywords(self, mailbox)
    }

    fn subscribe(&self, account: AccountId, name: &MailboxName) -> Result<()> {
        subscriptions::subscribe(self, account, name)
    }

    fn unsubscribe(&self, account: AccountId, name: &MailboxName) -> Result<()> {
        subscriptions::unsubscribe(self, account, name)
    }

    fn subscriptions(&self, account: AccountId) -> Result<Vec<MailboxName>> {
        subscriptions::subscriptions(self, account)
    }

    fn append(&self, mailbox: MailboxId, messages: &[NewMessage<'_>]) -> Result<UidMapping> {
        append::append(self, mailbox, messages)
    }

    fn deliver(
        &self,
        targets: &[(MailboxId, Flags)],
        bytes: &[u8],
        internal_date: Option<MailDate>,
    ) -> Result<Vec<Uid>> {
        append::deliver(self, targets, bytes, internal_date)
    }

    fn summaries(&self, mailbox: MailboxId) -> Result<Vec<MessageSummary>> {
        fetch::summaries(self, mailbox)
    }

    fn changes_since(&self, mailbox: MailboxId, since: ModSeq) -> Result<Changes> {
        fetch::changes_since(self, mailbox, since)
    }

    fn records(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        with_meta: bool,
    ) -> Result<Vec<MessageRecord>> {
        fetch::records(self, mailbox, uids, with_meta)
    }

    fn flag_rows(&self, mailbox: MailboxId, uids: &[Uid]) -> Result<Vec<MessageSummary>> {
        keys::flag_rows(self, mailbox, uids)
    }

    fn blob(&self, blob: &BlobId) -> Result<Arc<Vec<u8>>> {
        fetch::blob(self, blob)
    }

    fn select_state(&self, mailbox: MailboxId) -> Result<pochta_store::SelectState> {
        select::select_state(self, mailbox)
    }

    fn search_meta(
        &self,
        mailbox: MailboxId,
        filter: &pochta_store::MetaFilter,
    ) -> Result<Vec<(Uid, ModSeq)>> {
        keys::search_meta(self, mailbox, filter)
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

    fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<StoreOutcome> {
        flags::store_flags(self, mailbox, uids, op, flags, unchanged_since)
    }

    fn copy(&self, from: MailboxId, uids: &[Uid], to: MailboxId) -> Result<UidMapping> {
        copy_move::copy(self, from, uids, to)
    }

    fn move_messages(&self, from: MailboxId, uids: &[Uid], to: MailboxId) -> Result<UidMapping> {
        copy_move::move_messages(self, from, uids, to)
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

    fn transfer_across(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
        is_move: bool,
    ) -> Result<UidMapping> {
        copy_move::transfer_across(self, from, uids, to, is_move)
    }

    fn expunge(&self, mailbox: MailboxId, uids: Option<&[Uid]>) -> Result<Vec<Uid>> {
        expunge::expunge(self, mailbox, uids)
    }

    fn claim_recent(&self, mailbox: MailboxId) -> Result<Vec<Uid>> {
        flags::claim_recent(self, mailbox)
    }

    fn quota(&self, account: AccountId) -> Result<Quota> {
        quota::quota(self, account)
    }

    fn set_quota(&self, account: AccountId, limits: QuotaLimits) -> Result<()> {
        quota::set_quota(self, account, limits)
    }

    fn acl(&self, mailbox: MailboxId) -> Result<Vec<(Grantee, Rights)>> {
        acl::acl(self, mailbox)
    }

    fn acl_set(&self, mailbox: MailboxId, grantee: Grantee, rights: Rights) -> Result<()> {
        acl::acl_set(self, mailbox, grantee, rights)
    }

    fn shared_with(&self, account: AccountId) -> Result<Vec<(MailboxInfo, Rights)>> {
        acl::shared_with(self, account)
    }

    fn shared_with_anonymous(&self) -> Result<Vec<(MailboxInfo, Rights)>> {
        acl::shared_with_anonymous(self)
    }

    fn public_owner(&self) -> Result<Option<AccountId>> {
        acl::public_owner(self)
    }

    fn set_seen_per_user(&self, mailbox: MailboxId, on: bool) -> Result<()> {
        flags::set_seen_per_user(self, mailbox, on)
    }

    fn private_seen(&self, mailbox: MailboxId, account: AccountId) -> Result<Vec<Uid>> {
        flags::private_seen(self, mailbox, account)
    }

    fn set_private_seen(
        &self,
        mailbox: MailboxId,
        account: AccountId,
        uids: &[Uid],
        seen: bool,
    ) -> Result<Vec<MessageSummary>> {
        flags::set_private_seen(self, mailbox, account, uids, seen)
    }

    fn maildrop_lock(&self, account: AccountId) -> Result<Option<pochta_store::MaildropLock>> {
        Ok(self.lock_maildrop(account))
    }
}
