//! The collector's state: [`CollectorStore`] and its data types.
//!
//! The collector (`pochta-collector`) decides what to fetch and when to checkpoint; a backend
//! keeps its sources, their sealed credentials, the per-folder checkpoints and the
//! remote→local UID map durably.
//!
//! Rules every backend keeps (the conformance suite `conformance::collector` checks them):
//! - **Sealed secrets only.** A source's credential reaches the store already encrypted by the
//!   collector (AES-256-GCM, bound to the source's account, URL and user); the store keeps the
//!   bytes as given and never sees a password.
//! - **Durable before `Ok`**, each call atomic. The collector's crash safety rests on three
//!   durable steps per batch of messages: [`CollectorStore::put_pending`] before the append to
//!   the mail store, the append, then [`CollectorStore::commit_batch`], which records the UID
//!   mapping, advances the folder's `last_uid` (never backwards) and clears the pending batch
//!   in one transaction.
//! - **One pass per source at a time**, across processes and nodes:
//!   [`CollectorStore::lock_source`] hands out at most one [`SourceLock`] per source; it is
//!   released when dropped and when its holder dies (the embedded backend uses a `flock` on a
//!   file, a networked one a session-scoped advisory lock), so another node takes over.
//! - Deleting a source deletes its folders, messages, pending batches and contacts-sync
//!   state ([`ContactsSync`]) with it.
//! - Times are Unix seconds supplied by the caller.

use crate::Result;

/// A source to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSource<'a> {
    /// The local account's address.
    pub account: &'a str,
    /// The remote URL as the collector writes it (`imaps://host:port`).
    pub url: &'a str,
    pub user: &'a str,
    /// The credential, sealed by the collector; opaque here.
    pub secret: &'a [u8],
    pub insecure: bool,
    pub folder_prefix: Option<&'a str>,
    /// POP3: DELE each message once it is stored and checkpointed.
    pub delete_remote: bool,
    /// Unix seconds.
    pub created: i64,
}

/// A configured source with its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub id: i64,
    pub account: String,
    pub url: String,
    pub user: String,
    pub insecure: bool,
    pub folder_prefix: Option<String>,
    pub created: i64,
    pub last_attempt: Option<i64>,
    pub last_success: Option<i64>,
    pub last_error: Option<String>,
    pub imported_messages: u64,
    pub imported_bytes: u64,
    pub flag_updates: u64,
    pub delete_remote: bool,
    /// What the IDLE watcher of the remote INBOX last reported.
    pub idle: Option<String>,
}

/// What the collector remembers of one remote folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderState {
    pub remote: String,
    pub local: String,
    pub uid_validity: u32,
    pub last_uid: u32,
    pub highest_modseq: Option<u64>,
}

/// One imported message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    /// The remote UID (IMAP) or UIDL (POP3), as text.
    pub key: String,
    pub local_uid: u32,
    /// Remote flags last applied locally, space-separated.
    pub flags: String,
    pub message_id: Option<String>,
    pub remote_size: u64,
    pub idate: i64,
}

/// One message of a batch about to be appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingItem {
    pub key: String,
    pub local_size: u64,
    pub idate: i64,
    pub flags: String,
    pub message_id: Option<String>,
    pub remote_size: u64,
}

/// A batch that was being appended when a pass stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub local: String,
    pub local_validity: u32,
    pub uid_next: u32,
    /// The remote folder's UIDVALIDITY the keys belong to (0 for POP3).
    pub remote_validity: u32,
    /// In order; never empty when stored.
    pub items: Vec<PendingItem>,
}

/// The address book a source keeps in sync over CardDAV (`collect add --contacts`), and
/// where that sync stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactsSync {
    /// The remote CardDAV URL (a book, a principal, or a server root for RFC 6764).
    pub url: String,
    /// The collector's state of the sync (remote books, sync tokens, ETags); opaque here.
    pub state: String,
    /// Unix seconds of the last sync that succeeded.
    pub last_success: Option<i64>,
    /// The last sync's error, `None` after a success.
    pub last_error: Option<String>,
}

/// The exclusive right to run a pass of one source; released on drop (see the module notes).
pub struct SourceLock {
    _guard: Box<dyn Send + Sync>,
}

impl SourceLock {
    /// Wraps whatever holds the lock in a backend (a locked file, a database session …).
    pub fn new(guard: impl Send + Sync + 'static) -> SourceLock {
        SourceLock {
            _guard: Box::new(guard),
        }
    }
}

impl std::fmt::Debug for SourceLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SourceLock")
    }
}

/// The collector's durable state; see the module notes for the rules.
pub trait CollectorStore: Send + Sync + 'static {
    /// Adds a source; `AlreadyExists` for the same account, URL and user.
    fn add_source(&self, source: &NewSource<'_>) -> Result<i64>;
    /// Deletes the sources of `account` with this URL (all users) and everything kept for
    /// them; how many sources were deleted.
    fn del_sources(&self, account: &str, url: &str) -> Result<usize>;
    /// Changes a source in place (`collect edit`): its URL, user, sealed credential,
    /// `insecure`, `folder_prefix` and `delete_remote` become `source`'s; its account,
    /// creation time, status, counters, folders, messages and pending batches stay.
    /// `NotFound` for no such source; `AlreadyExists` when another source of the account has
    /// the new URL and user.
    fn update_source(&self, id: i64, source: &NewSource<'_>) -> Result<()>;
    /// Every source (of one account, if given), in the order added.
    fn sources(&self, account: Option<&str>) -> Result<Vec<Source>>;
    /// The sealed credential of a source (`NotFound` if none).
    fn secret(&self, source: i64) -> Result<Vec<u8>>;
    /// Records a pass that ended at `now`: success (clears the error, sets `last_success`) or
    /// an error (keeps `last_success`).
    fn record_attempt(&self, source: i64, now: i64, error: Option<&str>) -> Result<()>;
    /// Records what the IDLE watcher is doing.
    fn set_idle(&self, source: i64, idle: Option<&str>) -> Result<()>;

    /// The source's folders, by remote name.
    fn folders(&self, source: i64) -> Result<Vec<FolderState>>;
    fn folder(&self, source: i64, remote: &str) -> Result<Option<FolderState>>;
    /// Writes a folder's state (insert or replace).
    fn put_folder(&self, source: i64, folder: &FolderState) -> Result<()>;

    /// Every imported message of a remote folder, in no particular order.
    fn messages(&self, source: i64, remote: &str) -> Result<Vec<MessageRow>>;
    /// Whether a message key of a remote folder was imported.
    fn has_message(&self, source: i64, remote: &str, key: &str) -> Result<bool>;
    /// New remote flags of imported messages, `(key, flags)`; adds their number to the
    /// source's `flag_updates`. One transaction.
    fn set_flags(&self, source: i64, remote: &str, changes: &[(String, String)]) -> Result<()>;
    /// The remote folder's UIDVALIDITY changed: re-keys the messages matched by fingerprint
    /// (`rekey` is (old key, new key, new flags); old and new keys may overlap), forgets the
    /// others, and writes `folder`. One transaction.
    fn rekey_folder(
        &self,
        source: i64,
        remote: &str,
        rekey: &[(String, String, String)],
        folder: &FolderState,
    ) -> Result<()>;

    /// Step (1): describes a batch before it is appended (replacing any earlier one).
    fn put_pending(&self, source: i64, remote: &str, pending: &Pending) -> Result<()>;
    fn pending(&self, source: i64, remote: &str) -> Result<Option<Pending>>;
    fn clear_pending(&self, source: i64, remote: &str) -> Result<()>;
    /// Step (3): the batch is in the mail store. In one transaction: records `rows` (replacing
    /// rows with the same key), writes `folder` if given but never lowers its `last_uid`,
    /// clears the pending batch, and adds `rows.len()` and `bytes` to the source's counters.
    fn commit_batch(
        &self,
        source: i64,
        remote: &str,
        local: &str,
        rows: &[MessageRow],
        folder: Option<&FolderState>,
        bytes: u64,
    ) -> Result<()>;

    /// The exclusive right to run a pass of `source`; `None` while another holder has it.
    fn lock_source(&self, source: i64) -> Result<Option<SourceLock>>;

    /// The address book kept in sync with `source`, if any.
    fn contacts_sync(&self, source: i64) -> Result<Option<ContactsSync>>;
    /// Sets (`Some`, insert or replace) or removes (`None`) it; `NotFound` for no such
    /// source. Deleted with its source.
    fn set_contacts_sync(&self, source: i64, sync: Option<&ContactsSync>) -> Result<()>;
}
