//! Pochta's default mail store: metadata in SQLite, message bytes in content-addressed files.
//!
//! Implementation notes (what always holds; the rules of [`pochta_store`] apply on top):
//! - **Layout.** `data_dir/pochta.sqlite3` (WAL, `synchronous=FULL`, `foreign_keys=ON`) holds
//!   the metadata and the bytes of small messages; `data_dir/blobs/ab/cdef…` holds each
//!   distinct larger message once. Either way a blob is named by the SHA-256 of its
//!   CRLF-normalised bytes and stored once however many messages refer to it. Mailbox names
//!   never become paths.
//! - **Small messages inline.** A blob of at most [`INLINE_MAX`] bytes (most mail) is stored in
//!   its `blobs` row (`data`, schema 4) in the same transaction as the message rows, so the
//!   commit's one WAL fsync makes it durable; a file would cost two more fsyncs (file and
//!   directory) per message, which dominated SMTP delivery (bench/README.md "SMTP"). Larger
//!   blobs stay files: SQLite would write them to the WAL and again at checkpoint, and reading
//!   them back whole through the database is slower than from a file.
//! - **Write order.** A file blob first (temp file in the same directory, fsync, rename, fsync
//!   the directory), then the metadata transaction (with inline blob bytes, if any); a
//!   durable write's `Ok` comes only after the WAL's fsync (see "Durability"), so it means
//!   data and metadata are on disk. A crash between file and commit leaves an unreferenced
//!   blob file that nobody can see; [`EmbeddedStore::sweep_orphans`] removes it later. An
//!   inline blob cannot be orphaned: it commits or vanishes with its message rows.
//! - **One writer.** All writes go through one connection behind a mutex and use
//!   `BEGIN IMMEDIATE`, which also takes SQLite's file lock, so writers in *other processes*
//!   (the admin CLI) are serialised with ours. UIDs, MODSEQs and UIDVALIDITYs are read and
//!   bumped inside that transaction, hence strictly ascending in commit order.
//! - **Group commit.** `append` and `deliver` (SMTP's path, many at once) do not take the writer
//!   themselves: they queue their prepared work (bytes normalised, hashed and parsed outside
//!   the lock) and wait for the writer mutex. Whoever gets it first runs everything queued at
//!   that moment in one `BEGIN IMMEDIATE` transaction, each job inside its own SAVEPOINT (a job
//!   that fails — quota, a deleted mailbox — is rolled back alone and its caller gets its own
//!   error), commits once (one WAL fsync for the whole group), marks every job done, publishes
//!   the events in job order, and releases the mutex. A caller that then gets the mutex and
//!   finds its job done returns; otherwise it leads the next group. So every caller still
//!   returns `Ok` only after the commit that holds its rows, and no caller waits for more than
//!   the group in flight plus its own. Measured in bench/README.md ("SMTP").
//! - **Durability** (the policy; README "Durability" and SECURITY.md repeat it). Every commit
//!   is written to the WAL before its call returns, so a crash of the process (SIGKILL, panic
//!   abort) never loses an acknowledged change and never corrupts the store. Against power
//!   loss two classes: **durable** writes — `append`, `deliver` (APPEND, SMTP, collector),
//!   mailbox create/rename/delete, ACL, quota, subscriptions, accounts — return only after an
//!   fsync of the WAL that covers their commit; **lazy** writes — `store_flags`,
//!   `set_private_seen`, `claim_recent`, `expunge`, copy/move — return once written, and the WAL
//!   is fsynced within [`LAZY_BOUND`] (100 ms) by a background thread (or earlier by any
//!   durable write, whose fsync covers everything written before it). A power loss therefore
//!   may undo the lazy changes of the last ~100 ms, never an acknowledged message, and what
//!   survives is always a prefix of the commit order (SQLite's WAL recovery stops at the first
//!   frame whose checksum fails): a MOVE or a COPY then EXPUNGE is either kept or undone whole.
//!   A blob *file* is unlinked only after the commit that dropped its last reference is on
//!   disk, so an undone expunge never finds its bytes gone. The fsync runs outside the writer
//!   mutex (`walsync`): a STORE is never queued behind another session's fsync. Readers may
//!   see a commit before its fsync (so may an IDLE session); only the acknowledgement to the
//!   writing client waits for it.
//! - **Readers** take a connection from a small pool; WAL gives each read transaction a
//!   snapshot and never blocks the writer. A small, bounded read (a mailbox row, the changes
//!   since a MODSEQ, a few hundred records) runs on the writer's connection instead when its
//!   mutex is free (`read_small`, never waiting for it): SQLite empties a connection's page
//!   cache whenever another connection has committed since its last read, but not after its
//!   own commits, so the writer's cache stays warm.
//! - **Locking order:** writer mutex → (SQLite write lock) → reader pool → caches. The reader
//!   pool and cache mutexes are held only for a push/pop/lookup, never across a query.
//! - **Blob reference counts** are kept by SQLite triggers on `messages`, so every path that
//!   inserts or deletes a message row (including cascades) keeps them right in the same
//!   transaction. Unreferenced blobs stored inline are deleted in the transaction that
//!   dropped their last reference (their bytes go with the row); blob *files* at
//!   `refcount = 0` are removed, and unlinked, by a garbage-collection step that runs
//!   *inside* a write transaction after the commit that dropped the last reference. Appenders check that the blob file exists inside their write
//!   transaction (and rewrite it if not), so an unlink can never race an append that reuses it.
//! - **MODSEQ** is a per-mailbox counter; every appended, re-flagged or expunged message takes
//!   the next value (RFC 7162 §3.1). Expunged UIDs are kept in `expunged` with the MODSEQ of
//!   their expunge so `changes_since` can report them (QRESYNC VANISHED, RFC 7162 §3.2.10).
//! - **UIDVALIDITY** comes from a global counter: `max(last + 1, unix time)`, so a mailbox that
//!   is deleted and created again always gets a larger value (RFC 9051 §2.3.1.1).
//! - **Limits**: an account holds at most [`MAX_MAILBOXES`] mailboxes (ancestors created
//!   implicitly count) and a message at most [`MAX_KEYWORDS`] keywords (APPEND, delivery, COPY
//!   and STORE alike); past them a call fails with `StoreError::Limit` and changes nothing, so
//!   neither the mailbox list nor a FLAGS/PERMANENTFLAGS response can grow without bound.
//! - **Change bus** is in-process: events are published after commit, under the writer mutex,
//!   so in commit order. Changes made by another process (the CLI) are not announced; sessions
//!   re-read the store on every command, so they still see them, just without an IDLE wake-up.
#![forbid(unsafe_code)]

mod blobs;
mod cache;
mod collector;
mod contacts;
mod directory;
mod mailstore;
mod queue;
mod schema;
mod search;
mod walsync;

pub use collector::{COLLECTOR_FILE, EmbeddedCollectorStore};
pub use contacts::{CONTACTS_FILE, EmbeddedContactStore};
pub use queue::{EmbeddedQueueStore, QUEUE_FILE};
pub use search::{EmbeddedSearchIndex, SEARCH_DIR};
pub use walsync::LAZY_BOUND;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use pochta_store::{ChangeBus, ChangeEvent, StoreError};
use pochta_types::AccountId;
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

use crate::blobs::BlobFiles;
use crate::cache::Caches;
use crate::walsync::WalSync;

/// How long a connection waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest blob stored inline in its database row rather than as a file (see the crate docs).
pub const INLINE_MAX: usize = 128 * 1024;
/// Read connections kept open for reuse; more are opened under load and dropped after.
const READER_POOL: usize = 8;
/// Prepared statements each connection keeps (rusqlite's default is 16, fewer than the
/// store's statements: the rest were parsed and planned again and again).
const STATEMENT_CACHE: usize = 128;
/// WAL pages after which a committing writer copies the WAL back into the database (SQLite's
/// default is 1,000). A checkpoint writes each page changed since the last one once, whatever
/// the number of commits that changed it, and fsyncs the database: 10,000 (~40 MB of WAL)
/// makes that ten times rarer; in the IMAP mix it was ~4 % of the server's CPU at 1,000
/// (issue 19, bench/README.md). It changes no durability: commits are durable in the WAL.
const WAL_AUTOCHECKPOINT: i64 = 10_000;

/// Most mailboxes per account (Dovecot's `mailbox_list_index` has no limit; 2000 is far above
/// any real folder tree and keeps LIST responses and per-account scans small).
pub const MAX_MAILBOXES: usize = 2_000;
/// Most keywords on one message (real clients use a handful of tags).
pub const MAX_KEYWORDS: usize = 64;

/// The embedded store. Cheap to clone (all clones share one database and bus).
#[derive(Clone)]
pub struct EmbeddedStore {
    inner: Arc<Inner>,
}

struct Inner {
    db_path: PathBuf,
    writer: Mutex<Connection>,
    /// Jobs waiting for the next group commit; drained only by a holder of `writer`.
    queue: Mutex<Vec<Queued>>,
    readers: Mutex<Vec<Connection>>,
    blobs: BlobFiles,
    /// Blobs up to this size go into the database (see [`INLINE_MAX`]).
    inline_max: usize,
    caches: Caches,
    bus: ChangeBus,
    /// The public folders' owner, read once (see `public_owner`).
    public: std::sync::OnceLock<AccountId>,
    /// fsync of the WAL outside the writer mutex (see "Durability" in the crate docs).
    wal: Arc<WalSync>,
    /// Accounts whose POP3 maildrop is locked (one process: an in-memory set).
    maildrops: Arc<Mutex<std::collections::HashSet<AccountId>>>,
    /// The login throttle's counters: in memory, because an embedded installation is one
    /// process (its `data_dir` is not shared), the counters need no durability (a restart
    /// forgets a delay, as before), and a SQLite write per failed login would let an
    /// attacker's guesses queue behind (and slow) the mail's commits.
    login_failures: pochta_store::MemoryCounters,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.wal.close();
    }
}

/// How durable a write is when its call returns (see "Durability" in the crate docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// On disk (the WAL fsynced) before the call returns.
    Durable,
    /// Written to the WAL (survives a crash of the process); fsynced within [`LAZY_BOUND`].
    Lazy,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("db", &self.inner.db_path)
            .finish_non_exhaustive()
    }
}

/// Internal error: converted to [`StoreError`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("blob files: {0}")]
    Io(#[from] std::io::Error),
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Store(e) => e,
            other => StoreError::Backend(other.to_string()),
        }
    }
}

pub(crate) type R<T> = std::result::Result<T, Error>;

/// A write job for the group commit: runs inside the group's transaction and returns its
/// events, or `Err(())` when it failed (its caller's error is already in its own slot).
type Job = Box<dyn FnOnce(&EmbeddedStore, &Transaction<'_>) -> Result<Vec<ChangeEvent>, ()> + Send>;

/// What became of a queued job: `None` until a group ran it, then `Ok(ticket)` if its group
/// committed (the job's own result is in its slot; the ticket is the commit's, see
/// [`WalSync`]) or the group's error.
type Done = Arc<Mutex<Option<Result<u64, String>>>>;

struct Queued {
    job: Job,
    done: Done,
}

impl EmbeddedStore {
    /// Open the store in `data_dir`, creating the directory, database and schema if missing.
    /// Several processes may open the same directory at once (the CLI while the server runs).
    pub fn open(data_dir: &Path) -> pochta_store::Result<EmbeddedStore> {
        Ok(Self::open_inner(data_dir, INLINE_MAX)?)
    }

    /// Like [`Self::open`], storing blobs of at most `inline_max` bytes in the database and
    /// larger ones as files; `0` keeps every blob in a file (as schema 3 and earlier did).
    /// Blobs already stored stay where they are; the limit only decides where new ones go.
    pub fn open_with_inline_max(
        data_dir: &Path,
        inline_max: usize,
    ) -> pochta_store::Result<EmbeddedStore> {
        Ok(Self::open_inner(data_dir, inline_max)?)
    }

    fn open_inner(data_dir: &Path, inline_max: usize) -> R<EmbeddedStore> {
        std::fs::create_dir_all(data_dir)?;
        let db_path = data_dir.join("pochta.sqlite3");
        let mut writer = Connection::open(&db_path)?;
        configure(&writer)?;
        // The writer commits without fsync; durable writes fsync the WAL themselves, outside
        // the writer mutex (see "Durability" in the crate docs and `walsync`).
        writer.execute_batch("PRAGMA synchronous=NORMAL")?;
        writer.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT)?;
        // WAL is a property of the database file; setting it once is enough, but it is
        // idempotent and cheap, so every open makes sure.
        writer.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
        let blobs = BlobFiles::open(&data_dir.join("blobs"))?;
        schema::migrate(&mut writer, &blobs)?;
        let wal = WalSync::start(&db_path);
        Ok(EmbeddedStore {
            inner: Arc::new(Inner {
                db_path,
                writer: Mutex::new(writer),
                queue: Mutex::new(Vec::new()),
                readers: Mutex::new(Vec::new()),
                blobs,
                inline_max,
                caches: Caches::default(),
                bus: ChangeBus::new(),
                public: std::sync::OnceLock::new(),
                wal,
                maildrops: Arc::default(),
                login_failures: pochta_store::MemoryCounters::new(
                    pochta_store::MemoryCounters::DEFAULT_ENTRIES,
                ),
            }),
        })
    }

    /// Remove blob files that no message refers to and that are older than `min_age`
    /// (younger ones may belong to an append that has not committed yet), plus stale temp
    /// files. Returns how many files were removed. The server runs it at startup and now and
    /// then; a crash between blob write and commit is what leaves such files.
    pub fn sweep_orphans(&self, min_age: Duration) -> pochta_store::Result<usize> {
        Ok(self.sweep_inner(min_age)?)
    }

    fn sweep_inner(&self, min_age: Duration) -> R<usize> {
        let candidates = self.inner.blobs.old_files(min_age)?;
        if candidates.is_empty() {
            return Ok(0);
        }
        // Unlink inside a write transaction, after checking the row, so an append that
        // reuses the file (and checks for it inside its own write transaction) cannot interleave.
        self.write(|tx| {
            let mut removed = 0;
            let mut q = tx.prepare_cached("SELECT 1 FROM blobs WHERE id = ?1 AND refcount > 0")?;
            for c in candidates {
                let referenced = match &c.blob {
                    Some(id) => q.exists([id])?,
                    None => false,
                };
                if !referenced && self.inner.blobs.remove_file(&c.path)? {
                    removed += 1;
                }
            }
            Ok((removed, Vec::new()))
        })
    }

    /// The POP3 maildrop lock (see [`pochta_store::MailStore::maildrop_lock`]): this
    /// backend serves one process, so the lock is an entry in a set, removed on drop.
    pub(crate) fn lock_maildrop(&self, account: AccountId) -> Option<pochta_store::MaildropLock> {
        struct Held(Arc<Mutex<std::collections::HashSet<AccountId>>>, AccountId);
        impl Drop for Held {
            fn drop(&mut self) {
                self.0.lock().remove(&self.1);
            }
        }
        let set = Arc::clone(&self.inner.maildrops);
        if !set.lock().insert(account) {
            return None;
        }
        Some(pochta_store::MaildropLock::new(Held(set, account)))
    }

    /// The writer connection's `(journal_mode, synchronous)`, for checking the durability
    /// settings acknowledgements rest on (`("wal", 1)`: WAL, NORMAL — commits are not fsynced
    /// by SQLite; durable writes fsync the WAL themselves, see "Durability" in the crate docs).
    pub fn durability(&self) -> pochta_store::Result<(String, i64)> {
        let c = self.inner.writer.lock();
        let q = |sql: &str| -> rusqlite::Result<rusqlite::types::Value> {
            c.query_row(sql, [], |r| r.get(0))
        };
        let text = |v| match v {
            rusqlite::types::Value::Text(t) => t,
            other => format!("{other:?}"),
        };
        let int = |v| match v {
            rusqlite::types::Value::Integer(i) => i,
            _ => -1,
        };
        let backend = |e: rusqlite::Error| StoreError::Backend(e.to_string());
        Ok((
            text(q("PRAGMA journal_mode").map_err(backend)?),
            int(q("PRAGMA synchronous").map_err(backend)?),
        ))
    }

    /// `(commits written, commits known to be on disk, fsyncs of the WAL)` since open, for
    /// diagnostics and for tests of the durability policy (crate docs, "Durability").
    pub fn wal_counters(&self) -> (u64, u64, u64) {
        self.inner.wal.counters()
    }

    /// SQLite's own consistency checks of the database (`PRAGMA integrity_check` and
    /// `foreign_key_check`): the problems found, none when the store is sound. Run by the
    /// crash test on a data directory left by a SIGKILL.
    pub fn integrity_check(&self) -> pochta_store::Result<Vec<String>> {
        Ok(self.read(|tx| {
            let mut problems: Vec<String> = tx
                .prepare("PRAGMA integrity_check")?
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter()
                .filter(|line| line != "ok")
                .collect();
            let fk: Vec<String> = tx
                .prepare("PRAGMA foreign_key_check")?
                .query_map([], |r| {
                    Ok(format!(
                        "foreign key: table {} row {:?} -> {}",
                        r.get::<_, String>(0)?,
                        r.get::<_, Option<i64>>(1)?,
                        r.get::<_, String>(2)?
                    ))
                })?
                .collect::<rusqlite::Result<_>>()?;
            problems.extend(fk);
            Ok(problems)
        })?)
    }

    /// Path of the SQLite database (for diagnostics).
    pub fn db_path(&self) -> &Path {
        &self.inner.db_path
    }

    /// Run `f` in an immediate write transaction; commit; then publish its events (still
    /// under the writer mutex, so in commit order); then, outside the mutex, wait until the
    /// commit is on disk.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> R<(T, Vec<ChangeEvent>)>,
    ) -> R<T> {
        self.write_as(Class::Durable, f)
    }

    /// Like [`Self::write`] for a [`Class::Lazy`] change: returns once the commit is in the
    /// WAL (a crash of the process keeps it); the WAL is fsynced within [`LAZY_BOUND`].
    pub(crate) fn write_lazy<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> R<(T, Vec<ChangeEvent>)>,
    ) -> R<T> {
        self.write_as(Class::Lazy, f)
    }

    fn write_as<T>(
        &self,
        class: Class,
        f: impl FnOnce(&Transaction<'_>) -> R<(T, Vec<ChangeEvent>)>,
    ) -> R<T> {
        let (out, ticket) = {
            let mut conn = self.inner.writer.lock();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (out, events) = f(&tx)?;
            tx.commit()?;
            let ticket = self.inner.wal.committed();
            for e in events {
                self.inner.bus.publish(e);
            }
            (out, ticket)
        };
        self.settle(class, ticket)?;
        Ok(out)
    }

    /// After a commit with `ticket`: wait for the WAL's fsync, or ask for a lazy one.
    fn settle(&self, class: Class, ticket: u64) -> R<()> {
        match class {
            Class::Durable => self.inner.wal.wait_durable(ticket)?,
            Class::Lazy => self.inner.wal.lazy(),
        }
        Ok(())
    }

    /// Like [`Self::write`], but committed together with whatever other grouped writes are
    /// waiting (see "Group commit" in the crate docs). `f` must own what it needs: another
    /// thread may run it. Returns only after the commit that made `f`'s changes durable.
    pub(crate) fn write_grouped<T: Send + 'static>(
        &self,
        f: impl FnOnce(&EmbeddedStore, &Transaction<'_>) -> R<(T, Vec<ChangeEvent>)> + Send + 'static,
    ) -> R<T> {
        let slot: Arc<Mutex<Option<R<T>>>> = Arc::new(Mutex::new(None));
        let done: Done = Arc::new(Mutex::new(None));
        let job_slot = Arc::clone(&slot);
        let job: Job = Box::new(move |store, tx| match f(store, tx) {
            Ok((out, events)) => {
                *job_slot.lock() = Some(Ok(out));
                Ok(events)
            }
            Err(e) => {
                *job_slot.lock() = Some(Err(e));
                Err(())
            }
        });
        self.inner.queue.lock().push(Queued {
            job,
            done: Arc::clone(&done),
        });
        {
            let mut conn = self.inner.writer.lock();
            // Our job is either done (a group that ran it has committed: groups run only under
            // the writer mutex, which we now hold) or still queued, and then we lead a group.
            if done.lock().is_none() {
                let batch = std::mem::take(&mut *self.inner.queue.lock());
                self.commit_group(&mut conn, batch);
            }
        }
        let outcome = done.lock().take();
        match outcome {
            Some(Ok(ticket)) => {
                // Outside the writer mutex: the next group is written while this one syncs.
                self.inner.wal.wait_durable(ticket)?;
                slot.lock().take().unwrap_or_else(|| {
                    Err(StoreError::Backend("grouped write lost its result".into()).into())
                })
            }
            Some(Err(msg)) => Err(StoreError::Backend(msg).into()),
            None => Err(StoreError::Backend("grouped write was not run".into()).into()),
        }
    }

    /// Run `batch` in one transaction, one SAVEPOINT per job; commit; mark each job done;
    /// publish events in job order. Called with the writer mutex held.
    fn commit_group(&self, conn: &mut Connection, batch: Vec<Queued>) {
        let (jobs, dones): (Vec<Job>, Vec<Done>) =
            batch.into_iter().map(|q| (q.job, q.done)).unzip();
        let result = (|| -> R<(Vec<ChangeEvent>, u64)> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut events = Vec::new();
            for job in jobs {
                tx.execute_batch("SAVEPOINT grouped")?;
                match job(self, &tx) {
                    Ok(mut e) => {
                        tx.execute_batch("RELEASE grouped")?;
                        events.append(&mut e);
                    }
                    // If the rollback itself fails the whole group fails: no job is reported
                    // done that the database does not hold.
                    Err(()) => tx.execute_batch("ROLLBACK TO grouped; RELEASE grouped")?,
                }
            }
            tx.commit()?;
            Ok((events, self.inner.wal.committed()))
        })();
        match result {
            Ok((events, ticket)) => {
                for d in &dones {
                    *d.lock() = Some(Ok(ticket));
                }
                for e in events {
                    self.inner.bus.publish(e);
                }
            }
            Err(e) => {
                let msg = e.to_string();
                for d in &dones {
                    *d.lock() = Some(Err(msg.clone()));
                }
            }
        }
    }

    /// Like [`Self::write`], for changes that may drop the last reference to a blob: after
    /// the commit, a second short transaction deletes blob rows at refcount 0 and unlinks
    /// their files. A failure there is only logged in the result of the next collection: the
    /// caller's change is committed already and must be reported as done.
    pub(crate) fn write_then_collect<T>(
        &self,
        class: Class,
        f: impl FnOnce(&Transaction<'_>) -> R<(T, Vec<ChangeEvent>)>,
    ) -> R<T> {
        let (out, ticket) = {
            let mut conn = self.inner.writer.lock();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (out, events) = f(&tx)?;
            let (inline_gone, files_left) = collect_inline(&tx)?;
            tx.commit()?;
            let ticket = self.inner.wal.committed();
            for id in &inline_gone {
                self.inner.caches.forget(id);
            }
            for e in events {
                self.inner.bus.publish(e);
            }
            if files_left {
                // Ignored on failure on purpose: rows at refcount 0 stay and are collected
                // next time.
                let _ = self.collect_garbage(&mut conn, ticket);
            }
            (out, ticket)
        };
        self.settle(class, ticket)?;
        Ok(out)
    }

    /// `ticket` is the commit that dropped the references: a blob *file* is unlinked only
    /// once that commit is on disk, so a power loss that undoes a lazy expunge never leaves
    /// its messages without their bytes. (Inline blobs go with their rows.)
    fn collect_garbage(&self, conn: &mut Connection, ticket: u64) -> R<()> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (ids, files): (Vec<String>, Vec<bool>) = {
            let mut q =
                tx.prepare_cached("SELECT id, data IS NULL FROM blobs WHERE refcount <= 0")?;
            q.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?
                .into_iter()
                .unzip()
        };
        if ids.is_empty() {
            return Ok(());
        }
        if files.contains(&true) {
            self.inner.wal.wait_durable(ticket)?;
        }
        {
            let mut del = tx.prepare_cached("DELETE FROM blobs WHERE id = ?1")?;
            for id in &ids {
                del.execute([id])?;
                // Unlink before commit: if the commit fails the row stays at refcount 0 without
                // a file, which is harmless because appenders re-create missing files.
                self.inner.blobs.remove(id)?;
                self.inner.caches.forget(id);
            }
        }
        tx.commit()?;
        // Lazy: losing this commit leaves rows at refcount 0 whose files are gone, which is
        // harmless (appenders re-create missing files; the next collection deletes them).
        self.inner.wal.committed();
        self.inner.wal.lazy();
        Ok(())
    }

    /// Like [`Self::read`] for a read whose work is small and bounded (a row or a few
    /// hundred): it runs on the writer's connection when that is free. SQLite drops a
    /// connection's whole page cache when it starts a read transaction after another
    /// connection's commit; the writer's own commits do not, so its cache stays warm and the
    /// read needs no `pread` of pages the last commit did not touch (issue 19,
    /// bench/README.md). The snapshot is the same (a WAL read transaction); a busy writer
    /// sends the read to the pool instead of waiting for it.
    pub(crate) fn read_small<T>(&self, f: impl FnOnce(&Transaction<'_>) -> R<T>) -> R<T> {
        if let Some(mut conn) = self.inner.writer.try_lock() {
            let tx = conn.transaction()?;
            let out = f(&tx);
            tx.finish()?;
            return out;
        }
        self.read(f)
    }

    /// [`Self::read_small`] when `small`, else [`Self::read`].
    pub(crate) fn read_sized<T>(
        &self,
        small: bool,
        f: impl FnOnce(&Transaction<'_>) -> R<T>,
    ) -> R<T> {
        if small {
            self.read_small(f)
        } else {
            self.read(f)
        }
    }

    /// Run `f` on a pooled read connection inside a read transaction (one snapshot).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Transaction<'_>) -> R<T>) -> R<T> {
        let pooled = self.inner.readers.lock().pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.inner.db_path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                configure(&c)?;
                c.execute_batch("PRAGMA query_only=ON")?;
                c
            }
        };
        let out = {
            let tx = conn.transaction()?;
            let out = f(&tx);
            // A read transaction has nothing to commit; finishing it releases the snapshot.
            tx.finish()?;
            out
        };
        let mut pool = self.inner.readers.lock();
        if pool.len() < READER_POOL {
            pool.push(conn);
        }
        out
    }
}

/// Inside the transaction that dropped references: delete the unreferenced blobs stored
/// inline (their bytes go with their rows, so the same commit may drop them; nothing waits
/// for an fsync). Returns their ids and whether unreferenced blob *files* are left, which
/// [`EmbeddedStore::collect_garbage`] removes after the commit is on disk.
fn collect_inline(tx: &Transaction<'_>) -> R<(Vec<String>, bool)> {
    let gone = tx
        .prepare_cached("DELETE FROM blobs WHERE refcount <= 0 AND data IS NOT NULL RETURNING id")?
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let files_left = tx
        .prepare_cached("SELECT 1 FROM blobs WHERE refcount <= 0 LIMIT 1")?
        .exists([])?;
    Ok((gone, files_left))
}

fn configure(c: &Connection) -> R<()> {
    c.busy_timeout(BUSY_TIMEOUT)?;
    c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The query planner stability guarantee: plans never depend on bound values. Without
    // it (libsqlite3-sys builds with STAT4) a cached statement whose parameter may steer a
    // heuristic (an equality with 0 or 1, a LIMIT) is parsed and planned again whenever that
    // value changes, which cost 12-16 % of the server's CPU in the IMAP mix (issue 19,
    // bench/README.md). This store runs no ANALYZE, so no plan had a statistic to gain.
    c.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    // FULL: in WAL mode, COMMIT fsyncs the WAL before returning. The mail store's writer
    // switches to NORMAL after this and fsyncs the WAL itself (`walsync`).
    c.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
    Ok(())
}
