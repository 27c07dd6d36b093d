//! Making commits durable outside the writer mutex: the WAL's fsync as a group commit.
//!
//! Invariants (the durability policy of the crate docs rests on them):
//! - The writer connection runs `synchronous=NORMAL`: COMMIT writes its WAL frames (into the
//!   page cache: a SIGKILL of the process loses nothing) but does not fsync. SQLite's WAL
//!   stays consistent on power loss in that mode: recovery keeps the frames up to the first
//!   one whose cumulative checksum fails, so what survives is always a *prefix* of the commit
//!   order, never a later commit without an earlier one.
//! - Every commit takes a ticket ([`WalSync::committed`], under the writer mutex, right after
//!   COMMIT). A durable write returns only after [`WalSync::wait_durable`] saw an fsync of the
//!   WAL file that *started* after its ticket was taken; fsync covers the whole file, so one
//!   fsync serves every commit written before it (group commit without holding the writer).
//! - At most one fsync runs at a time; waiters whose ticket it covers return when it ends,
//!   the others start the next one.
//! - A lazy write (flags, `\Recent`, expunge, copy/move) asks for an fsync within
//!   [`LAZY_BOUND`] ([`WalSync::lazy`]); a background thread issues it. So a power loss loses
//!   at most the lazy commits of the last `LAZY_BOUND` (plus the fsync's own time) — and, by
//!   the prefix rule, never a lazy commit without the ones before it.
//! - Checkpoints (SQLite's auto-checkpoint, run by a committing writer) fsync the WAL before
//!   copying it into the database and the database after, in `NORMAL` as in `FULL`, so the
//!   WAL file being reset afterwards never drops frames nobody synced.
//! - The WAL file is fsynced through our own descriptor, reopened when the path names a new
//!   inode (SQLite deletes the WAL only when the last connection closes). SQLite takes no POSIX
//!   locks on the WAL file (its locks are on the database and `-shm` files), so our descriptor
//!   cannot disturb them.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// Longest time a lazy commit stays in the page cache only (what a power loss may lose).
pub const LAZY_BOUND: Duration = Duration::from_millis(100);

pub(crate) struct WalSync {
    path: PathBuf,
    /// Commits written to the WAL so far; bumped under the writer mutex right after COMMIT.
    written: AtomicU64,
    state: Mutex<State>,
    /// Waiters for an fsync to end.
    synced_cv: Condvar,
    /// The background flusher waits here for lazy commits.
    lazy_cv: Condvar,
    file: Mutex<Option<File>>,
    /// fsyncs of the WAL done so far (diagnostics and tests).
    syncs: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Every commit with a ticket up to this is on disk.
    synced: u64,
    /// An fsync is in progress.
    running: bool,
    /// A lazy commit waits for the flusher.
    lazy_pending: bool,
    /// The store is gone: the flusher syncs what is pending and ends.
    closed: bool,
}

impl WalSync {
    /// For the database at `db_path`; starts the background flusher thread.
    pub(crate) fn start(db_path: &std::path::Path) -> Arc<WalSync> {
        let mut wal = db_path.as_os_str().to_owned();
        wal.push("-wal");
        let sync = Arc::new(WalSync {
            path: PathBuf::from(wal),
            written: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            synced_cv: Condvar::new(),
            lazy_cv: Condvar::new(),
            file: Mutex::new(None),
            syncs: AtomicU64::new(0),
        });
        let flusher = Arc::clone(&sync);
        let spawned = std::thread::Builder::new()
            .name("pochta-wal-sync".into())
            .spawn(move || flusher.flusher());
        if spawned.is_err() {
            // No thread: lazy commits are made durable by the next durable one (or checkpoint).
            sync.state.lock().closed = true;
        }
        sync
    }

    /// Take the ticket of a commit just written. Call under the writer mutex, after COMMIT.
    pub(crate) fn committed(&self) -> u64 {
        self.written.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The ticket of the last commit written (for "everything so far").
    pub(crate) fn last(&self) -> u64 {
        self.written.load(Ordering::SeqCst)
    }

    /// `(tickets written, tickets known durable, fsyncs done)`.
    pub(crate) fn counters(&self) -> (u64, u64, u64) {
        let synced = self.state.lock().synced;
        (
            self.written.load(Ordering::SeqCst),
            synced,
            self.syncs.load(Ordering::SeqCst),
        )
    }

    /// Return once the commit with `ticket` (and every earlier one) is on disk.
    pub(crate) fn wait_durable(&self, ticket: u64) -> io::Result<()> {
        let mut st = self.state.lock();
        loop {
            if st.synced >= ticket {
                return Ok(());
            }
            if st.running {
                self.synced_cv.wait(&mut st);
                continue;
            }
            st.running = true;
            // Everything written up to here is in the file before the fsync starts.
            let target = self.written.load(Ordering::SeqCst);
            drop(st);
            let result = self.fsync();
            st = self.state.lock();
            st.running = false;
            if result.is_ok() {
                st.synced = st.synced.max(target);
            }
            self.synced_cv.notify_all();
            result?;
        }
    }

    /// A lazy commit was written: have it fsynced within [`LAZY_BOUND`].
    pub(crate) fn lazy(&self) {
        let mut st = self.state.lock();
        if !st.lazy_pending {
            st.lazy_pending = true;
            self.lazy_cv.notify_one();
        }
    }

    /// Stop the flusher after a last sync of what is pending.
    pub(crate) fn close(&self) {
        self.state.lock().closed = true;
        self.lazy_cv.notify_one();
    }

    fn flusher(&self) {
        loop {
            {
                let mut st = self.state.lock();
                while !st.lazy_pending && !st.closed {
                    self.lazy_cv.wait(&mut st);
                }
                if st.closed && !st.lazy_pending {
                    return;
                }
                let closing = st.closed;
                st.lazy_pending = false;
                drop(st);
                if !closing {
                    // Let more lazy commits gather; one fsync then covers them all.
                    std::thread::sleep(LAZY_BOUND);
                }
            }
            if let Err(e) = self.wait_durable(self.last()) {
                // The next durable commit retries; nothing to report to a caller here.
                let _ = e;
            }
        }
    }

    fn fsync(&self) -> io::Result<()> {
        let mut slot = self.file.lock();
        let current = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            // No WAL: the last connection closed and checkpointed (and synced) it.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                *slot = None;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let stale = match slot.as_ref() {
            Some(f) => f
                .metadata()
                .map(|m| m.ino() != current.ino() || m.dev() != current.dev())
                .unwrap_or(true),
            None => true,
        };
        if stale {
            *slot = Some(File::open(&self.path)?);
        }
        match slot.as_ref() {
            Some(f) => {
                f.sync_data()?;
                self.syncs.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            None => Ok(()),
        }
    }
}
