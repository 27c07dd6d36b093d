//! Pochta's storage traits.
//!
//! Sessions talk to a [`MailStore`]; backends (the embedded SQLite one, later PostgreSQL)
//! implement it and prove themselves with the conformance suites (`conformance`, compiled only
//! with this crate's cargo feature `conformance`, which backends enable in their
//! dev-dependencies).
//!
//! Implementation notes (the rules every backend keeps; the conformance suite checks them):
//! - **Durability.** A method that adds or changes mail returns `Ok` only after the change is
//!   on stable storage (data and metadata fsynced). A crash at any instant leaves each call
//!   either wholly applied or not at all; a half-written message is never visible.
//! - **UIDs** (RFC 9051 §2.3.1.1): within a mailbox, UIDs are assigned strictly ascending and
//!   never reused under one UIDVALIDITY. `uid_next` only grows. A mailbox that is deleted and
//!   created again under the same name gets a new, larger UIDVALIDITY.
//! - **MODSEQ** (RFC 7162 §3.1): every mailbox has a counter; each append, flag change and
//!   expunge takes the next value, so `highest_modseq` strictly ascends with every change, and
//!   [`MailStore::changes_since`] can report exactly what happened after a given value —
//!   expunged UIDs included (they are remembered with the MODSEQ of their expunge).
//! - **Recent** (RFC 3501 §2.3.2): each message is "recent" to exactly one session: the first
//!   one to call [`MailStore::claim_recent`] after the message arrived.
//! - **Isolation**: every call that names a mailbox by name also names the account; a mailbox
//!   id is only ever obtained through the account that owns it.
//! - **Blobs** are content-addressed and shared: one message delivered to twenty mailboxes is
//!   stored once; a blob is removed only when no message refers to it any more.
//! - **Queue and collector state** are behind [`QueueStore`] ([`queue`]) and
//!   [`CollectorStore`] ([`collector`]), each with its own rules and conformance suite; the
//!   full-text index behind [`SearchIndex`] ([`search`]).
//! - **Parse once**: messages are parsed ([`pochta_message::parse`]) when they are stored; readers
//!   get the stored [`MessageMeta`] and never re-parse.
//! - Calls are synchronous and short; the async session layer runs the ones that fsync on a
//!   blocking thread. Every backend is `Send + Sync` and safe to call from many threads.
//! - **Quota** (RFC 9208): each account has optional limits on the bytes (sum of RFC822.SIZE)
//!   and the number of its messages, and a usage that is exact at every commit. A call that
//!   would raise the usage above a limit ([`MailStore::append`], [`MailStore::deliver`],
//!   [`MailStore::copy`]) fails with [`StoreError::OverQuota`] inside its transaction, so two
//!   racing appends can never both slip under the limit. A move within an account, a flag
//!   change, an expunge or a delete never counts against it, whatever the usage.
//! - **POP3 maildrop lock** ([`MailStore::maildrop_lock`]): one holder per account across
//!   every process sharing the store, released on drop (and when the holder dies).
//! - **Login throttle counters** ([`throttle`]): failures per address and per (address,
//!   account) live in the store so that every node of an installation counts the same ones;
//!   they are not mail and need no durability (a lost counter only forgets a delay).
//! - **Change notification**: after a change is committed the backend publishes a
//!   [`ChangeEvent`] on its [`ChangeBus`]; sessions use it only as a wake-up (IDLE) and then ask
//!   the store what changed, so a lost or coalesced event never loses information. The one
//!   exception is a URLAUTH key reset ([`ChangeEvent::AccessKey`]): the bus itself remembers
//!   the latest ones for sessions to ask about; a lost one costs only RESETKEY's courtesy
//!   notice, never the revocation (the key is in the store).
#![forbid(unsafe_code)]

#[cfg(feature = "conformance")]
pub mod conformance;

use std::sync::Arc;

pub use pochta_message::{MessageMeta, SortNeed};
use pochta_types::{
    AccountId, Address, Domain, Flags, MailboxId, MailboxName, ModSeq, Rights, SpecialUse, Uid,
    UidValidity,
};

pub mod collector;
pub mod contacts;
pub mod keys;
pub mod queue;
pub mod search;
pub mod throttle;

pub use collector::CollectorStore;
pub use contacts::ContactStore;
pub use keys::{MetaField, MetaFilter, SortRow};
pub use queue::QueueStore;
pub use search::SearchIndex;
pub use throttle::{FailureKey, Failures, MemoryCounters};

/// What went wrong in a store call. The protocol layers map each kind to a reply in one place.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named account, mailbox, domain, alias or message does not exist.
    #[error("{0} does not exist")]
    NotFound(String),
    /// The thing to create exists already.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The operation is not allowed on this object (deleting INBOX, renaming onto a child …).
    #[error("{0}")]
    NotAllowed(String),
    /// A mailbox with inferior names cannot be deleted once it is already `\Noselect`
    /// (RFC 3501 §6.3.4).
    #[error("{0} has child mailboxes")]
    HasChildren(String),
    /// An implementation limit (UIDs or UIDVALIDITY values exhausted …) would be exceeded.
    #[error("limit reached: {0}")]
    Limit(String),
    /// The account's quota would be exceeded (RFC 9208; IMAP `NO [OVERQUOTA]`, SMTP
    /// `452 4.2.2` or, when the message alone is larger than the limit, `552 5.2.2`).
    #[error("over quota: {0}")]
    OverQuota(QuotaExceeded),
    /// The backend failed (I/O, database). The message is for the log.
    #[error("storage failure: {0}")]
    Backend(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// A resource an account's quota limits (RFC 9208 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaResource {
    /// Bytes of all messages (the sum of their RFC822.SIZE); IMAP reports it in KiB.
    Storage,
    /// Number of messages.
    Message,
}

impl QuotaResource {
    /// The RFC 9208 resource name.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaResource::Storage => "STORAGE",
            QuotaResource::Message => "MESSAGE",
        }
    }
}

impl std::fmt::Display for QuotaResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a call was refused for quota: which resource, and the numbers (bytes for STORAGE).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{resource} limit {limit} reached ({usage} used, {requested} more requested)")]
pub struct QuotaExceeded {
    pub resource: QuotaResource,
    pub usage: u64,
    pub limit: u64,
    pub requested: u64,
}

impl QuotaExceeded {
    /// Whether the request can never succeed, however much is deleted: it alone is larger
    /// than the limit (SMTP answers `552 5.2.2` then, instead of `452 4.2.2`).
    pub fn permanent(&self) -> bool {
        self.requested > self.limit
    }
}

/// An account's quota limits; `None` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaLimits {
    /// Bytes (sum of RFC822.SIZE).
    pub storage: Option<u64>,
    pub messages: Option<u64>,
}

/// An account's limits and its exact current usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Quota {
    pub limits: QuotaLimits,
    /// Bytes of all the account's messages.
    pub storage: u64,
    /// Number of the account's messages.
    pub messages: u64,
}

impl Quota {
    /// Whether adding `bytes` in `messages` messages stays within the limits; the refusal
    /// names the first resource that would be exceeded.
    pub fn check(&self, bytes: u64, messages: u64) -> std::result::Result<(), QuotaExceeded> {
        let over = |resource, usage: u64, limit: Option<u64>, requested: u64| match limit {
            Some(limit) if requested > 0 && usage.saturating_add(requested) > limit => {
                Err(QuotaExceeded {
                    resource,
                    usage,
                    limit,
                    requested,
                })
            }
            _ => Ok(()),
        };
        over(
            QuotaResource::Message,
            self.messages,
            self.limits.messages,
            messages,
        )?;
        over(
            QuotaResource::Storage,
            self.storage,
            self.limits.storage,
            bytes,
        )
    }
}

/// Whom an ACL entry grants rights to (RFC 4314 §2 identifiers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grantee {
    /// One account (identifier: its address).
    Account(AccountId),
    /// Every authenticated user (identifier `anyone`).
    Anyone,
    /// Anonymous sessions (identifier `anonymous`).
    Anonymous,
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub address: Address,
    /// PHC string of the password hash (Argon2id); never the password.
    pub password_hash: String,
    /// SCRAM-SHA-256 stored secrets in the form `pochta-auth` defines, if set.
    pub scram_sha256: Option<String>,
}

/// An alias: mail to `source` goes to the account `target`. A source `@domain` is a
/// catch-all for the domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub source: String,
    pub target: Address,
}

/// A mailbox as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    pub id: MailboxId,
    pub account: AccountId,
    pub name: MailboxName,
    pub uid_validity: UidValidity,
    /// The UID the next appended message will get.
    pub uid_next: Uid,
    /// The MODSEQ of the last change in this mailbox (`ModSeq::MIN` when none yet).
    pub highest_modseq: ModSeq,
    pub special_use: Option<SpecialUse>,
    /// `\Noselect`: the name exists only because it has children (RFC 3501 §6.3.4).
    pub noselect: bool,
    /// `\Seen` is kept per user for everyone but the owner (RFC 4314 §4 lets the "s" right
    /// be per user): see [`MailStore::private_seen`]. Off by default: one shared `\Seen`.
    pub seen_per_user: bool,
}

/// Counts for STATUS and SELECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxStatus {
    pub messages: u32,
    pub recent: u32,
    pub unseen: u32,
    /// Number of messages with `\Deleted` (RFC 9208 STATUS DELETED).
    pub deleted: u32,
    /// Sum of the sizes of messages with `\Deleted`: what an EXPUNGE would free
    /// (RFC 9208 §4.1.4 DELETED-STORAGE).
    pub deleted_size: u64,
    /// Sum of message sizes (RFC 8438 STATUS SIZE).
    pub size: u64,
    pub uid_next: Uid,
    pub uid_validity: UidValidity,
    pub highest_modseq: ModSeq,
}

/// What SELECT/EXAMINE need of a mailbox, from one snapshot ([`MailStore::select_state`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectState {
    /// Every message's UID, ascending; shared (a store may keep it for the next SELECT,
    /// and sessions that select the same unchanged mailbox share one copy).
    pub uids: Arc<Vec<Uid>>,
    /// The first message without `\Seen` (the stored flags, not per-user ones).
    pub first_unseen: Option<Uid>,
    /// How many messages have not been claimed as `\Recent` yet (as [`MailboxStatus`]).
    pub recent: u32,
    pub uid_next: Uid,
    pub highest_modseq: ModSeq,
}

/// An instant with the UTC offset it was written in, as IMAP INTERNALDATE needs
/// (RFC 3501 §2.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MailDate {
    /// Seconds since the Unix epoch.
    pub unix: i64,
    /// Offset from UTC in minutes (e.g. +180 for Moscow).
    pub offset_minutes: i16,
}

/// A message to add.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    /// The message as received. The store normalises bare LF to CRLF before storing
    /// ([`pochta_message::normalize_line_endings`]), so sizes count CRLF.
    pub bytes: &'a [u8],
    pub flags: Flags,
    /// INTERNALDATE; `None` means now (UTC).
    pub internal_date: Option<MailDate>,
}

/// What a selected session needs to know of one message without reading its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageSummary {
    pub uid: Uid,
    pub flags: Flags,
    pub modseq: ModSeq,
}

/// Everything FETCH can need of one message, except its bytes (see [`MailStore::blob`]).
#[derive(Debug, Clone)]
pub struct MessageRecord {
    pub uid: Uid,
    pub flags: Flags,
    pub modseq: ModSeq,
    pub internal_date: MailDate,
    /// When the message was stored in this mailbox (RFC 8514 SAVEDATE).
    pub save_date: MailDate,
    /// RFC822.SIZE: the stored (CRLF-normalised) size in bytes.
    pub size: u64,
    /// The content address of the bytes.
    pub blob: BlobId,
    /// Present when asked for with `with_meta`.
    pub meta: Option<Arc<MessageMeta>>,
}

/// The content address of a message's bytes (lower-case hex SHA-256).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobId(pub String);

/// What happened in a mailbox after a given MODSEQ.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// Messages added or whose flags changed after the given MODSEQ, in UID order.
    /// A caller tells new messages from changed ones by comparing with the UIDs it knows.
    pub changed: Vec<MessageSummary>,
    /// UIDs expunged after the given MODSEQ, ascending.
    pub expunged: Vec<Uid>,
    /// The mailbox's highest MODSEQ at the time of the call.
    pub highest_modseq: Option<ModSeq>,
}

/// How STORE changes flags (RFC 3501 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    Add,
    Remove,
    Replace,
}

/// The result of a flag update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreOutcome {
    /// Every existing message that was asked for and not refused by `unchanged_since`,
    /// with its flags after the call and its MODSEQ (a new MODSEQ only if its flags
    /// changed), in UID order.
    pub updated: Vec<MessageSummary>,
    /// Whether each entry of `updated` had its flags actually changed (same order).
    pub changed: Vec<bool>,
    /// UIDs refused because their MODSEQ was above `unchanged_since` (RFC 7162 §3.1.3).
    pub conflicts: Vec<Uid>,
}

/// The UIDs assigned by APPEND, COPY or MOVE (RFC 4315 APPENDUID / COPYUID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UidMapping {
    /// UIDVALIDITY of the destination mailbox.
    pub uid_validity: UidValidity,
    /// (source UID, destination UID), in source UID order; for APPEND the source is absent
    /// and this lists the new UIDs in order.
    pub pairs: Vec<(Option<Uid>, Uid)>,
}

/// A change notice on the bus. Coarse on purpose: it says *where* something changed; the
/// listener asks [`MailStore::changes_since`] for *what*.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeEvent {
    /// Messages or flags in this mailbox changed; `modseq` is its new highest MODSEQ.
    Mailbox {
        account: AccountId,
        mailbox: MailboxId,
        modseq: ModSeq,
    },
    /// The account's mailbox list changed (create, delete, rename, subscription).
    MailboxList { account: AccountId },
    /// Metadata entries (RFC 5464) were set or removed on `mailbox` (`None`: the server) by
    /// `account`, whose own entries the `/private/` ones are; `entries` are their names
    /// (empty when too many to tell: any entry there may have changed).
    Metadata {
        account: AccountId,
        mailbox: Option<MailboxId>,
        entries: Vec<String>,
    },
    /// `account`'s URLAUTH mailbox access key for `mailbox` was replaced, or (`None`) all of
    /// its keys were removed ([`MailStore::access_key_reset`], RFC 4467 §7 RESETKEY). Unlike
    /// the others, the store keeps nothing a listener could ask about it afterwards: the bus
    /// remembers the latest ones ([`ChangeBus::key_resets_since`]).
    AccessKey {
        account: AccountId,
        mailbox: Option<MailboxId>,
    },
}

/// How many access key resets the bus remembers; a listener further behind is told "maybe".
const KEY_RESETS_KEPT: usize = 256;

/// The latest access key resets, numbered from 1 in publication order.
#[derive(Debug, Default)]
struct KeyResets {
    /// The number of the latest one (0: none yet); read without the lock.
    last: std::sync::atomic::AtomicU64,
    /// (number, account, mailbox), oldest first, at most [`KEY_RESETS_KEPT`].
    log: parking_lot::Mutex<std::collections::VecDeque<(u64, AccountId, Option<MailboxId>)>>,
}

/// In-process change bus: a broadcast channel. A slow receiver that lags only loses wake-ups,
/// never information (see the notes on top).
#[derive(Debug, Clone)]
pub struct ChangeBus {
    tx: tokio::sync::broadcast::Sender<ChangeEvent>,
    key_resets: Arc<KeyResets>,
}

impl Default for ChangeBus {
    fn default() -> Self {
        Self::new()
    }
}

impl ChangeBus {
    pub fn new() -> Self {
        let (tx, _) = tokio::sync::broadcast::channel(1024);
        Self {
            tx,
            key_resets: Arc::default(),
        }
    }

    /// Publish after commit. Nobody listening is fine. An [`ChangeEvent::AccessKey`] is also
    /// remembered before this returns (see [`Self::key_resets_since`]).
    pub fn publish(&self, event: ChangeEvent) {
        if let ChangeEvent::AccessKey { account, mailbox } = &event {
            let mut log = self.key_resets.log.lock();
            let n = self
                .key_resets
                .last
                .load(std::sync::atomic::Ordering::Acquire)
                + 1;
            log.push_back((n, *account, *mailbox));
            if log.len() > KEY_RESETS_KEPT {
                log.pop_front();
            }
            self.key_resets
                .last
                .store(n, std::sync::atomic::Ordering::Release);
        }
        let _ = self.tx.send(event);
    }

    /// The number of the latest access key reset published (0: none): where a listener
    /// starts for [`Self::key_resets_since`].
    pub fn key_reset_mark(&self) -> u64 {
        self.key_resets
            .last
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether a reset of `account`'s key for `mailbox` (or of all its keys) was published
    /// after `mark`, which moves to the latest. Costs one atomic load when none was; a
    /// listener so far behind that the bus forgot some answers `true` (maybe).
    pub fn key_resets_since(&self, mark: &mut u64, account: AccountId, mailbox: MailboxId) -> bool {
        if self.key_reset_mark() == *mark {
            return false;
        }
        let log = self.key_resets.log.lock();
        let since = *mark;
        *mark = self.key_reset_mark();
        let forgotten = log.front().is_none_or(|(n, ..)| *n > since + 1);
        forgotten
            || log
                .iter()
                .any(|(n, a, m)| *n > since && *a == account && m.is_none_or(|m| m == mailbox))
    }

    /// Listen to every event; filter by account/mailbox on the receiving side.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<ChangeEvent> {
        self.tx.subscribe()
    }
}

/// Exclusive POP3 access to an account's maildrop (RFC 1939 §8), held until dropped; see
/// [`MailStore::maildrop_lock`].
pub struct MaildropLock {
    _guard: Box<dyn Send + Sync>,
}

impl MaildropLock {
    /// Wraps whatever holds the lock in a backend (a set entry, a database session …).
    pub fn new(guard: impl Send + Sync + 'static) -> MaildropLock {
        MaildropLock {
            _guard: Box::new(guard),
        }
    }
}

impl std::fmt::Debug for MaildropLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MaildropLock")
    }
}

/// Accounts, domains and aliases.
pub trait Directory: Send + Sync + 'static {
    /// Add a local domain; `false` if it was there already.
    fn domain_add(&self, domain: &Domain) -> Result<bool>;
    fn domain_list(&self) -> Result<Vec<Domain>>;
    /// Remove a domain. Refused (`NotAllowed`) while accounts of it exist.
    fn domain_del(&self, domain: &Domain) -> Result<()>;
    fn domain_exists(&self, domain: &Domain) -> Result<bool>;

    /// Create an account with INBOX and the special-use mailboxes Drafts, Sent, Junk,
    /// Trash and Archive, adding its domain if it is not local yet.
    fn account_create(&self, address: &Address, password_hash: &str) -> Result<AccountId>;
    /// Look an account up by address (local part case-insensitive).
    fn account_by_address(&self, address: &Address) -> Result<Option<Account>>;
    fn account_by_id(&self, id: AccountId) -> Result<Option<Account>>;
    fn account_list(&self) -> Result<Vec<Account>>;
    /// Delete an account with all its mailboxes and messages.
    fn account_delete(&self, address: &Address) -> Result<()>;
    fn account_set_password(
        &self,
        address: &Address,
        password_hash: &str,
        scram_sha256: Option<&str>,
    ) -> Result<()>;

    /// Add an alias. `source` is an address or `@domain` (catch-all); its domain must be local.
    fn alias_add(&self, source: &str, target: &Address) -> Result<()>;
    fn alias_list(&self) -> Result<Vec<Alias>>;
    fn alias_del(&self, source: &str) -> Result<()>;
    /// The account that mail to `address` goes to: the account itself, else an alias of the
    /// address, else the domain's catch-all.
    fn resolve_recipient(&self, address: &Address) -> Result<Option<AccountId>>;

    /// The login throttle's counters ([`throttle`]), shared by every process on this store:
    /// for each key, its failures within `window` and how long ago the last was, or `None`.
    fn login_failures(
        &self,
        keys: &[FailureKey],
        window: std::time::Duration,
    ) -> Result<Vec<Option<Failures>>>;
    /// Counts one failed login against each key (a counter whose last failure is `window`
    /// old or older starts again); returns each key's new count.
    fn login_failed(&self, keys: &[FailureKey], window: std::time::Duration) -> Result<Vec<u32>>;
    /// Forgets a counter (a successful login clears its pair's).
    fn login_clear(&self, key: &FailureKey) -> Result<()>;
}

/// Mailboxes, messages and flags of accounts.
pub trait MailStore: Directory {
    /// The bus on which this store announces committed changes.
    fn change_bus(&self) -> &ChangeBus;

    // --- mailboxes ---

    /// Every mailbox of the account (including `\Noselect` ones), sorted by name.
    fn mailboxes(&self, account: AccountId) -> Result<Vec<MailboxInfo>>;
    fn mailbox(&self, account: AccountId, name: &MailboxName) -> Result<Option<MailboxInfo>>;
    fn mailbox_by_id(&self, account: AccountId, id: MailboxId) -> Result<Option<MailboxInfo>>;
    /// Create a mailbox, and any missing parents (RFC 3501 §6.3.3). A `\Noselect` mailbox of
    /// that name becomes selectable again. `AlreadyExists` if it exists and is selectable.
    fn mailbox_create(
        &self,
        account: AccountId,
        name: &MailboxName,
        special_use: Option<SpecialUse>,
    ) -> Result<MailboxInfo>;
    /// Delete a mailbox (RFC 3501 §6.3.4): INBOX cannot be deleted; a mailbox with children
    /// loses its messages and becomes `\Noselect`; a `\Noselect` one with children is
    /// refused with `HasChildren`; otherwise it is removed with its messages.
    fn mailbox_delete(&self, account: AccountId, name: &MailboxName) -> Result<()>;
    /// Rename a mailbox and all its children (RFC 3501 §6.3.5). Missing parents of the new
    /// name are created. Renaming INBOX moves its messages into the new mailbox and leaves
    /// INBOX empty. A renamed mailbox keeps its UIDVALIDITY and UIDs.
    fn mailbox_rename(
        &self,
        account: AccountId,
        from: &MailboxName,
        to: &MailboxName,
    ) -> Result<()>;
    fn mailbox_set_special_use(
        &self,
        account: AccountId,
        name: &MailboxName,
        special_use: Option<SpecialUse>,
    ) -> Result<()>;
    fn mailbox_status(&self, mailbox: MailboxId) -> Result<MailboxStatus>;
    /// Keywords used by any message in the mailbox (for the FLAGS response).
    fn mailbox_keywords(&self, mailbox: MailboxId) -> Result<Vec<String>>;

    /// Subscriptions are names, not mailboxes: they may name mailboxes that do not exist
    /// (RFC 3501 §6.3.6).
    fn subscribe(&self, account: AccountId, name: &MailboxName) -> Result<()>;
    fn unsubscribe(&self, account: AccountId, name: &MailboxName) -> Result<()>;
    fn subscriptions(&self, account: AccountId) -> Result<Vec<MailboxName>>;

    // --- messages ---

    /// Append messages to one mailbox, atomically (all or none; RFC 3502 MULTIAPPEND).
    /// `OverQuota` if the account's usage would exceed a limit.
    fn append(&self, mailbox: MailboxId, messages: &[NewMessage<'_>]) -> Result<UidMapping>;
    /// Deliver one message to several mailboxes (of several accounts), storing its bytes once.
    /// Returns the new UID in each mailbox, in order. Atomic: if one target does not exist or
    /// is `\Noselect`, or one account's quota would be exceeded (`OverQuota`), nothing is
    /// delivered.
    fn deliver(
        &self,
        targets: &[(MailboxId, Flags)],
        bytes: &[u8],
        internal_date: Option<MailDate>,
    ) -> Result<Vec<Uid>>;
    /// UID, flags and MODSEQ of every message, ascending by UID (SELECT).
    fn summaries(&self, mailbox: MailboxId) -> Result<Vec<MessageSummary>>;
    /// What SELECT needs, without every message's flags. The default reads the status and
    /// the summaries; a backend answers from one snapshot and may keep it for a mailbox that
    /// has not changed since (its `uid_next` and `highest_modseq` the same).
    fn select_state(&self, mailbox: MailboxId) -> Result<SelectState> {
        let status = self.mailbox_status(mailbox)?;
        let summaries = self.summaries(mailbox)?;
        Ok(SelectState {
            first_unseen: summaries
                .iter()
                .find(|m| !m.flags.contains(&pochta_types::Flag::Seen))
                .map(|m| m.uid),
            uids: Arc::new(summaries.iter().map(|m| m.uid).collect()),
            recent: status.recent,
            uid_next: status.uid_next,
            highest_modseq: status.highest_modseq,
        })
    }
    /// What changed after `since` (RFC 7162 CHANGEDSINCE / QRESYNC; untagged updates).
    fn changes_since(&self, mailbox: MailboxId, since: ModSeq) -> Result<Changes>;
    /// Records of the given UIDs that exist, ascending; UIDs that do not exist are skipped.
    fn records(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        with_meta: bool,
    ) -> Result<Vec<MessageRecord>>;
    /// UID, flags and MODSEQ of the given UIDs that exist, ascending by UID: what
    /// `FETCH (FLAGS)`, `(UID)` and `(MODSEQ)` write, without the rest of the record. The
    /// default reads the records; backends read only those columns.
    fn flag_rows(&self, mailbox: MailboxId, uids: &[Uid]) -> Result<Vec<MessageSummary>> {
        Ok(self
            .records(mailbox, uids, false)?
            .into_iter()
            .map(|r| MessageSummary {
                uid: r.uid,
                flags: r.flags,
                modseq: r.modseq,
            })
            .collect())
    }
    /// The bytes of a message.
    fn blob(&self, blob: &BlobId) -> Result<Arc<Vec<u8>>>;

    // --- bulk reads for SEARCH/SORT/THREAD (see [`keys`]) ---

    /// UID and MODSEQ of every message matching `filter`, ascending by UID, as
    /// [`MetaFilter::matches`] says. Flags are the stored ones (no per-user `\Seen`). The
    /// default reads the records; backends answer from their per-message columns.
    fn search_meta(&self, mailbox: MailboxId, filter: &MetaFilter) -> Result<Vec<(Uid, ModSeq)>> {
        let uids: Vec<Uid> = self.summaries(mailbox)?.iter().map(|s| s.uid).collect();
        let mut out = Vec::new();
        for chunk in uids.chunks(2048) {
            for r in self.records(mailbox, chunk, filter.uses_sent_day())? {
                if filter.matches(&r) {
                    out.push((r.uid, r.modseq));
                }
            }
        }
        Ok(out)
    }
    /// The SORT/THREAD keys of the given UIDs that exist, ascending by UID (what
    /// [`SortRow::of_record`] gives), with only the fields `need` names (the others empty,
    /// as [`SortNeed::keep`] leaves them). The default decodes each record's metadata.
    fn sort_rows(&self, mailbox: MailboxId, uids: &[Uid], need: SortNeed) -> Result<Vec<SortRow>> {
        let mut out = Vec::with_capacity(uids.len());
        for r in self.records(mailbox, uids, true)? {
            let legacy = r.meta.as_deref().is_some_and(|m| m.sort_fields().is_none());
            // Bytes gone meanwhile (expunged elsewhere and collected): empty keys.
            let raw = if legacy {
                self.blob(&r.blob).ok()
            } else {
                None
            };
            let mut row = SortRow::of_record(&r, raw.as_deref().map(|b| b.as_slice()));
            row.fields = need.keep(row.fields);
            out.push(row);
        }
        Ok(out)
    }
    /// The top-level header section ([`pochta_message::header_section`]) of each of the
    /// given UIDs that exists, ascending by UID. The default reads each message's bytes.
    fn header_sections(&self, mailbox: MailboxId, uids: &[Uid]) -> Result<Vec<(Uid, Vec<u8>)>> {
        let mut out = Vec::with_capacity(uids.len());
        for r in self.records(mailbox, uids, false)? {
            match self.blob(&r.blob) {
                Ok(b) => out.push((r.uid, pochta_message::header_section(&b).to_vec())),
                // Expunged and collected since the record was read: as if it did not exist.
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Change flags of the given UIDs (RFC 3501 §6.4.6, RFC 7162 §3.1.3 UNCHANGEDSINCE).
    fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> Result<StoreOutcome>;
    /// Copy messages into another mailbox of the same account, keeping flags and internal
    /// dates; atomic. UIDs that do not exist are skipped; a target of another account is
    /// `NotAllowed`; `OverQuota` if the copies would exceed the account's quota.
    fn copy(&self, from: MailboxId, uids: &[Uid], to: MailboxId) -> Result<UidMapping>;
    /// Move messages (RFC 6851): one transaction, so no observer sees a message in both
    /// mailboxes or in neither. A move within one account never changes its quota usage.
    fn move_messages(&self, from: MailboxId, uids: &[Uid], to: MailboxId) -> Result<UidMapping>;
    /// Replace one message (RFC 8508 REPLACE): append `message` to `to` (any mailbox of the
    /// same account, `from` included) and expunge `uid` from `from`, whatever its flags, as one
    /// step: no observer sees both messages or neither. `NotFound` (and nothing changes) if
    /// `uid` is not in `from`. Within one account the replaced message's size is freed before
    /// the quota check. Returns the new UID. The default runs APPEND, STORE `\Deleted` and
    /// UID EXPUNGE one after the other (not atomic); backends override it.
    fn replace(
        &self,
        from: MailboxId,
        uid: Uid,
        to: MailboxId,
        message: &NewMessage<'_>,
    ) -> Result<UidMapping> {
        if self.records(from, &[uid], false)?.is_empty() {
            return Err(StoreError::NotFound(format!("message UID {uid}")));
        }
        let mapping = self.append(to, std::slice::from_ref(message))?;
        let deleted = Flags::from_flags(&[pochta_types::Flag::Deleted]);
        self.store_flags(from, &[uid], FlagOp::Add, &deleted, None)?;
        self.expunge(from, Some(&[uid]))?;
        Ok(mapping)
    }
    /// Copy (or move, in one transaction) messages between mailboxes of *different*
    /// accounts, for shared mailboxes (RFC 4314): the caller has checked the rights. The
    /// copies count against the destination account's quota (`OverQuota`); a move frees the
    /// source's. The default refuses (`NotAllowed`).
    fn transfer_across(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
        is_move: bool,
    ) -> Result<UidMapping> {
        let _ = (from, uids, to, is_move);
        Err(StoreError::NotAllowed(
            "this store cannot copy between accounts".into(),
        ))
    }
    /// Remove messages flagged `\Deleted` (only those among `uids`, if given: UID EXPUNGE).
    /// Returns the expunged UIDs, ascending.
    fn expunge(&self, mailbox: MailboxId, uids: Option<&[Uid]>) -> Result<Vec<Uid>>;
    /// Make messages recent to the caller (RFC 3501 §2.3.2): returns the UIDs that had
    /// arrived since the last claim (by anyone), and marks them claimed.
    fn claim_recent(&self, mailbox: MailboxId) -> Result<Vec<Uid>>;

    // --- quota (RFC 9208; see the notes on top) ---

    /// The account's limits and exact usage. The default sums every mailbox's status and
    /// knows no limits; backends that enforce quotas override it.
    fn quota(&self, account: AccountId) -> Result<Quota> {
        let mut q = Quota::default();
        for mb in self.mailboxes(account)? {
            let st = self.mailbox_status(mb.id)?;
            q.storage += st.size;
            q.messages += u64::from(st.messages);
        }
        Ok(q)
    }

    // --- access control (RFC 4314; the protocol layer enforces, the store keeps) ---

    /// The mailbox's ACL entries (the owner's implicit full rights are not among them),
    /// ordered by grantee. The default knows none.
    fn acl(&self, mailbox: MailboxId) -> Result<Vec<(Grantee, Rights)>> {
        let _ = mailbox;
        Ok(Vec::new())
    }

    /// Set a grantee's rights on a mailbox, replacing what it had; empty rights remove the
    /// entry (RFC 4314 DELETEACL). Granting to the owner is `NotAllowed`: the owner always
    /// has every right. An ACL goes with its mailbox on delete and stays with it on rename.
    fn acl_set(&self, mailbox: MailboxId, grantee: Grantee, rights: Rights) -> Result<()> {
        let _ = (mailbox, grantee, rights);
        Err(StoreError::NotAllowed(
            "this store does not keep access control lists".into(),
        ))
    }

    /// Mailboxes of other accounts that have an entry for `account` or for `anyone`, with
    /// the rights those entries grant together, ordered by owner and name.
    fn shared_with(&self, account: AccountId) -> Result<Vec<(MailboxInfo, Rights)>> {
        let _ = account;
        Ok(Vec::new())
    }

    /// What `account` may do in `mailbox`: everything if it owns it, else the union of its
    /// own entry and `anyone`'s (RFC 4314 §2 leaves the combination to the server).
    fn rights(&self, account: AccountId, mailbox: &MailboxInfo) -> Result<Rights> {
        if mailbox.account == account {
            return Ok(Rights::ALL);
        }
        Ok(self
            .acl(mailbox.id)?
            .into_iter()
            .filter(|(g, _)| *g == Grantee::Account(account) || *g == Grantee::Anyone)
            .fold(Rights::NONE, |acc, (_, r)| acc.union(r)))
    }

    /// Mailboxes that have an entry for the `anonymous` identifier, with its rights. Only
    /// that entry counts for anonymous sessions: `anyone` means every authenticated user of
    /// this server, so sharing with colleagues never publishes to the Internet.
    fn shared_with_anonymous(&self) -> Result<Vec<(MailboxInfo, Rights)>> {
        Ok(Vec::new())
    }

    /// What an anonymous session may do in `mailbox` by its ACL (the protocol layer further
    /// limits it to reading).
    fn anonymous_rights(&self, mailbox: &MailboxInfo) -> Result<Rights> {
        Ok(self
            .acl(mailbox.id)?
            .into_iter()
            .filter(|(g, _)| *g == Grantee::Anonymous)
            .fold(Rights::NONE, |acc, (_, r)| acc.union(r)))
    }

    // --- public folders and per-user \Seen ---

    /// The reserved account that owns the public folders (RFC 2342 §5 "shared" namespace),
    /// if the store has one. No one can log in as it, it has no address, and it is never
    /// listed among accounts; its mailboxes are reached through their ACLs only.
    fn public_owner(&self) -> Result<Option<AccountId>> {
        Ok(None)
    }

    /// Switch a mailbox between one shared `\Seen` (off, the default) and a `\Seen` kept
    /// per user (on). Switching does not move any state: the owner keeps the mailbox's own
    /// flags either way, and each other user's private state starts empty.
    fn set_seen_per_user(&self, mailbox: MailboxId, on: bool) -> Result<()> {
        let _ = (mailbox, on);
        Err(StoreError::NotAllowed(
            "this store does not keep per-user \\Seen".into(),
        ))
    }

    /// The UIDs `account` has seen in a per-user-seen mailbox, ascending. Expunged messages
    /// leave it with their rows.
    fn private_seen(&self, mailbox: MailboxId, account: AccountId) -> Result<Vec<Uid>> {
        let _ = (mailbox, account);
        Ok(Vec::new())
    }

    /// Mark (`seen`) or unmark messages as seen by `account` alone. Each message whose state
    /// changed gets a new MODSEQ, so the user's other sessions learn of it (RFC 7162 §3.1;
    /// other users' sessions get an unchanged FLAGS, which §3.1.4 allows). Returns those
    /// messages with their new MODSEQ and the mailbox's shared flags, in UID order.
    fn set_private_seen(
        &self,
        mailbox: MailboxId,
        account: AccountId,
        uids: &[Uid],
        seen: bool,
    ) -> Result<Vec<MessageSummary>> {
        let _ = (mailbox, account, uids, seen);
        Err(StoreError::NotAllowed(
            "this store does not keep per-user \\Seen".into(),
        ))
    }

    // --- metadata (RFC 5464; names and limits are the protocol layer's, see the notes) ---

    /// The metadata entries `account` sees on `mailbox` (`None`: the server): every `/shared/`
    /// entry and the account's own `/private/` ones, as (lower-case name, value), ascending
    /// by name. Entries go with their mailbox when it is deleted, stay with it on rename,
    /// and a renamed INBOX's are copied to the new mailbox (RFC 5464 §4.1). The default
    /// keeps none.
    fn metadata(
        &self,
        mailbox: Option<MailboxId>,
        account: AccountId,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let _ = (mailbox, account);
        Ok(Vec::new())
    }

    /// Set (`Some`) or remove (`None`) entries on `mailbox` (`None`: the server) as
    /// `account`: names are lower-case and start `/private/` (the account's own) or
    /// `/shared/`. All or nothing (RFC 5464 §4.3): `Limit` if afterwards more than
    /// `max_entries` entries would be visible to the account there and the count grew.
    fn metadata_set(
        &self,
        mailbox: Option<MailboxId>,
        account: AccountId,
        changes: &[(String, Option<Vec<u8>>)],
        max_entries: u32,
    ) -> Result<()> {
        let _ = (mailbox, account, changes, max_entries);
        Err(StoreError::NotAllowed(
            "this store does not keep metadata".into(),
        ))
    }

    // --- URLAUTH mailbox access keys (RFC 4467 §2.2) ---

    /// The mailbox access key of `account` for `mailbox`, if it has one. Keys are per user
    /// and per mailbox (two users sharing a mailbox have two keys); they are secret bytes
    /// chosen by the protocol layer, and go with their mailbox and their account. The
    /// default keeps none.
    fn access_key(&self, account: AccountId, mailbox: MailboxId) -> Result<Option<Vec<u8>>> {
        let _ = (account, mailbox);
        Ok(None)
    }

    /// The account's key for the mailbox, storing `fresh` first if it has none (RFC 4467
    /// §7: GENURLAUTH makes one when needed). Concurrent callers, on any node, all get the
    /// one key that was stored. `NotFound` if the mailbox does not exist.
    fn access_key_or_insert(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        fresh: &[u8],
    ) -> Result<Vec<u8>> {
        let _ = (account, mailbox, fresh);
        Err(StoreError::NotAllowed(
            "this store keeps no mailbox access keys".into(),
        ))
    }

    /// Replace (`Some`) the account's key for one mailbox, or remove (`None`) every key the
    /// account has (RFC 4467 §7 RESETKEY: either revokes the URLs made with the old keys).
    /// `NotFound` if the mailbox does not exist.
    fn access_key_reset(&self, account: AccountId, key: Option<(MailboxId, &[u8])>) -> Result<()> {
        let _ = (account, key);
        Err(StoreError::NotAllowed(
            "this store keeps no mailbox access keys".into(),
        ))
    }

    /// The POP3 maildrop lock of `account` (RFC 1939 §8): `None` while another holder has
    /// it, in this process or, for a store shared by several nodes, in any of them. Released
    /// when the returned lock is dropped, and when its holder dies. The default refuses
    /// (`NotAllowed`): a store that keeps no locks leaves POP3 to its in-process one.
    fn maildrop_lock(&self, account: AccountId) -> Result<Option<MaildropLock>> {
        let _ = account;
        Err(StoreError::NotAllowed(
            "this store keeps no maildrop locks".into(),
        ))
    }

    /// Replace the account's limits (an administrator's act; IMAP SETQUOTA is refused).
    /// Lowering a limit below the usage removes nothing; it only refuses further additions.
    fn set_quota(&self, account: AccountId, limits: QuotaLimits) -> Result<()> {
        let _ = (account, limits);
        Err(StoreError::NotAllowed(
            "this store does not enforce quotas".into(),
        ))
    }
}
