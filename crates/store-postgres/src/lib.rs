//! Pochta's PostgreSQL store: every storage trait of [`pochta_store`] on one PostgreSQL
//! database, so that several `pochta serve` nodes share nothing but the database.
//!
//! - [`PgStore`]: [`pochta_store::MailStore`] + [`pochta_store::Directory`] and the
//!   cross-node [`ChangeBus`];
//! - [`PgQueueStore`]: [`pochta_store::QueueStore`] (leases as columns, claimed with
//!   `FOR UPDATE SKIP LOCKED`);
//! - [`PgCollectorStore`]: [`pochta_store::CollectorStore`] (one pass per source through a
//!   session-scoped advisory lock);
//! - [`PgContactStore`]: [`pochta_store::ContactStore`] (a write locks its address book's row);
//! - [`PgSearchIndex`]: [`pochta_store::SearchIndex`] (tsvector + GIN, `search.rs`);
//! - [`copy_into`]: moving an installation from another backend, keeping UIDVALIDITY and UIDs;
//! - `testing` (cargo feature `testing`): a throwaway PostgreSQL cluster for tests.
//!
//! Implementation notes (the rules of [`pochta_store`] apply on top):
//! - **Client.** The traits are synchronous, so calls use the synchronous `postgres` crate
//!   (tokio-postgres driven by a small runtime inside each connection) with an r2d2 pool of
//!   [`Conn`]s, each with its own cache of prepared statements (one round trip per query
//!   instead of two). A call made on a tokio worker thread runs in `block_in_place` (on a
//!   current-thread runtime, on a scoped thread), so the connection's own `block_on` never
//!   nests in a runtime. The alternative — async tokio-postgres with deadpool, entered
//!   through `Handle::block_on` of a runtime the store owns — was measured against this one
//!   (`tests/bridge_bench.rs`, ARCHITECTURE.md "PostgreSQL backend").
//! - **Reads** of one statement run outside a transaction (one round trip instead of three);
//!   reads of several statements that must agree (`mailbox_status`, `changes_since`,
//!   `records`, …) run in one `REPEATABLE READ, READ ONLY` transaction, one snapshot.
//! - **Schema** (`schema.rs`): versioned migrations applied at open, under an advisory lock.
//! - **UIDs and MODSEQs** come from the mailbox row's counters, read `FOR UPDATE` at the
//!   start of every transaction that changes the mailbox: writers of one mailbox are
//!   serialised by that row lock, on one node or many, so UIDs and MODSEQs ascend in commit
//!   order and are never handed out twice. Transactions that lock several mailboxes lock
//!   them in id order; a deadlock or serialization failure (40P01, 40001) is retried.
//! - **Blobs** are content-addressed (SHA-256 of the CRLF-normalised bytes) and stored once
//!   in `blobs.data`, with a reference count kept by triggers on `messages` (as are quota
//!   usage and per-user `\Seen` rows). A blob whose count reaches zero is deleted in the
//!   transaction that dropped the last reference; an appender upserts the blob row (which
//!   locks it), so a delete and a reuse of the same blob serialise on that row.
//! - **Quota**: `check_quota` reads the account's `quotas` row `FOR UPDATE`, so two
//!   transactions adding to one account serialise and cannot both slip under a limit.
//! - **Change bus across nodes**: every transaction that publishes events also sends them
//!   with `pg_notify('pochta_changes', …)`, which PostgreSQL delivers at commit, in commit
//!   order. Each store publishes its own events on its local [`ChangeBus`] after commit and
//!   runs one listener connection (`LISTEN pochta_changes`) that republishes the events of
//!   other nodes (told apart by a random node id in the payload). A listener that loses its
//!   connection reconnects; events lost meanwhile only lose wake-ups (sessions re-read the
//!   store on every command and every 15 s in IDLE).
//! - **Durability**: PostgreSQL's default `synchronous_commit = on`; an `Ok` means the
//!   commit's WAL is flushed on the server (and on synchronous replicas if configured).
#![forbid(unsafe_code)]

mod collector;
mod contacts;
mod copy;
mod directory;
mod mailstore;
mod queue;
mod schema;
mod search;
#[cfg(feature = "testing")]
pub mod testing;

pub use collector::PgCollectorStore;
pub use contacts::PgContactStore;
pub use copy::{CopyReport, copy_into};
pub use queue::PgQueueStore;
pub use schema::SCHEMA_VERSION;
pub use search::PgSearchIndex;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use pochta_message::MessageMeta;
use pochta_store::{ChangeBus, ChangeEvent, StoreError};
use pochta_types::{AccountId, MailboxId, ModSeq};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement, Transaction};

/// The NOTIFY channel of the change bus.
const CHANNEL: &str = "pochta_changes";
/// How often a failed transaction (deadlock, serialization failure) is tried again.
const RETRIES: u32 = 30;

/// Internal error: converted to [`StoreError`] at the trait boundary.
#[derive(Debug)]
pub(crate) enum Error {
    Store(StoreError),
    Pg(postgres::Error),
    Pool(String),
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Store(e)
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Self {
        Error::Pg(e)
    }
}

impl From<r2d2::Error> for Error {
    fn from(e: r2d2::Error) -> Self {
        Error::Pool(e.to_string())
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        match e {
            Error::Store(e) => e,
            Error::Pg(e) => StoreError::Backend(format!("postgresql: {}", pg_message(&e))),
            Error::Pool(e) => StoreError::Backend(format!("postgresql pool: {e}")),
        }
    }
}

/// The server's message when there is one (the `Display` of a database error is terse).
fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

impl Error {
    /// A conflict between concurrent transactions: trying again will do.
    fn retryable(&self) -> bool {
        use postgres::error::SqlState;
        match self {
            Error::Pg(e) => matches!(
                e.code(),
                Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED
                    || *c == SqlState::T_R_SERIALIZATION_FAILURE
            ),
            _ => false,
        }
    }

    /// A unique-constraint violation.
    pub(crate) fn unique_violation(&self) -> bool {
        matches!(self, Error::Pg(e) if e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION))
    }
}

pub(crate) type R<T> = std::result::Result<T, Error>;

/// Runs `f` where a synchronous `postgres` call may block: directly on a plain thread, in
/// `block_in_place` on a multi-threaded tokio runtime, on a scoped thread from a
/// current-thread runtime (whose only thread must not block on itself).
pub(crate) fn bridge<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|s| match s.spawn(f).join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
        Err(_) => f(),
    }
}

/// A connection that holds a session-scoped advisory lock (a collector source, a POP3
/// maildrop); closing it releases the lock.
pub(crate) struct LockHolder {
    pub(crate) _conn: Mutex<SafeClient>,
}

impl Drop for LockHolder {
    /// Unlocks with a round trip before the connection closes: the server releases a closed
    /// session's locks only when its backend process notices, a moment later, and the next
    /// holder (another node, or this one at once) must not see the lock still taken.
    fn drop(&mut self) {
        let conn = self._conn.get_mut();
        bridge(|| {
            let _ = conn.batch_execute("SELECT pg_advisory_unlock_all()");
        });
    }
}

/// A pooled connection with its prepared statements.
pub struct Conn {
    client: SafeClient,
    stmts: HashMap<String, Statement>,
}

/// A `postgres::Client` that may be dropped anywhere: dropping one runs its runtime's
/// `block_on`, which must not happen on a tokio thread, so there it is dropped on a thread
/// of its own.
pub(crate) struct SafeClient(Option<Client>);

impl SafeClient {
    pub(crate) fn new(c: Client) -> SafeClient {
        SafeClient(Some(c))
    }
}

impl std::ops::Deref for SafeClient {
    type Target = Client;
    fn deref(&self) -> &Client {
        match &self.0 {
            Some(c) => c,
            None => unreachable!("a SafeClient holds its client until dropped"),
        }
    }
}

impl std::ops::DerefMut for SafeClient {
    fn deref_mut(&mut self) -> &mut Client {
        match &mut self.0 {
            Some(c) => c,
            None => unreachable!("a SafeClient holds its client until dropped"),
        }
    }
}

impl Drop for SafeClient {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::Builder::new()
                    .name("pochta-pg-close".into())
                    .spawn(move || drop(c));
            } else {
                drop(c);
            }
        }
    }
}

impl Conn {
    /// A transaction on this connection (with the statement cache).
    pub(crate) fn begin(&mut self) -> R<Tx<'_>> {
        Ok(Tx {
            tx: On::Tx(self.client.transaction()?),
            stmts: &mut self.stmts,
        })
    }

    /// The connection without a transaction (autocommit).
    pub(crate) fn bare(&mut self) -> Tx<'_> {
        Tx {
            tx: On::Bare(&mut self.client),
            stmts: &mut self.stmts,
        }
    }

    /// A read-only transaction that sees one snapshot.
    pub(crate) fn begin_read(&mut self) -> R<Tx<'_>> {
        Ok(Tx {
            tx: On::Tx(
                self.client
                    .build_transaction()
                    .isolation_level(postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()?,
            ),
            stmts: &mut self.stmts,
        })
    }

    pub(crate) fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// The connection's server process id (for tests of failover).
    pub fn backend_pid(&mut self) -> std::result::Result<i32, postgres::Error> {
        Ok(self
            .client
            .query_one("SELECT pg_backend_pid()", &[])?
            .get(0))
    }
}

/// The pool's connection manager: connects with a `postgres::Config`, checks with a ping.
#[derive(Debug, Clone)]
pub(crate) struct Manager {
    config: postgres::Config,
}

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = postgres::Error;

    fn connect(&self) -> std::result::Result<Conn, postgres::Error> {
        let config = self.config.clone();
        bridge(move || config.connect(NoTls)).map(|client| Conn {
            client: SafeClient::new(client),
            stmts: HashMap::new(),
        })
    }

    fn is_valid(&self, conn: &mut Conn) -> std::result::Result<(), postgres::Error> {
        bridge(|| conn.client.simple_query("")).map(|_| ())
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.client.is_closed()
    }
}

/// A transaction with cached statements: every query names its SQL text, prepared once per
/// connection.
pub(crate) struct Tx<'a> {
    tx: On<'a>,
    stmts: &'a mut HashMap<String, Statement>,
}

/// A transaction, or the bare connection (autocommit: each statement its own snapshot, for
/// reads of one statement, which then cost one round trip instead of three).
enum On<'a> {
    Tx(Transaction<'a>),
    Bare(&'a mut Client),
}

/// Dispatches a `GenericClient` call to the transaction or the bare connection.
macro_rules! on {
    ($self:ident, $c:ident => $e:expr) => {
        match &mut $self.tx {
            On::Tx($c) => $e,
            On::Bare($c) => $e,
        }
    };
}

impl Tx<'_> {
    fn stmt(&mut self, sql: &str) -> R<Statement> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = on!(self, c => c.prepare(sql))?;
        self.stmts.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    pub(crate) fn query(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> R<Vec<Row>> {
        let s = self.stmt(sql)?;
        Ok(on!(self, c => c.query(&s, params))?)
    }

    pub(crate) fn query_opt(
        &mut self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> R<Option<Row>> {
        let s = self.stmt(sql)?;
        Ok(on!(self, c => c.query_opt(&s, params))?)
    }

    pub(crate) fn query_one(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> R<Row> {
        let s = self.stmt(sql)?;
        Ok(on!(self, c => c.query_one(&s, params))?)
    }

    pub(crate) fn execute(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> R<u64> {
        let s = self.stmt(sql)?;
        Ok(on!(self, c => c.execute(&s, params))?)
    }

    fn commit(self) -> R<()> {
        match self.tx {
            On::Tx(t) => Ok(t.commit()?),
            On::Bare(_) => Ok(()),
        }
    }
}

/// Checks a connection URL (`postgres://user:password@host:port/dbname` or key=value form)
/// without connecting; the error does not repeat the URL (it may hold a password).
pub fn check_url(url: &str) -> std::result::Result<(), String> {
    url.parse::<postgres::Config>()
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// A pool of connections to one database, shared by the stores of one process.
#[derive(Clone)]
pub struct Pool {
    pool: r2d2::Pool<Manager>,
    pub(crate) config: postgres::Config,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.pool.max_size())
            .finish_non_exhaustive()
    }
}

impl Pool {
    /// Connects to `url` (`postgres://user:password@host:port/dbname`, or the key=value
    /// form) with at most `size` connections, and applies the schema's migrations.
    pub fn open(url: &str, size: u32) -> pochta_store::Result<Pool> {
        let p = Self::connect(url, size)?;
        p.migrate()?;
        Ok(p)
    }

    /// Like [`Self::open`] without applying migrations (connections are made on first use).
    pub fn connect(url: &str, size: u32) -> pochta_store::Result<Pool> {
        let config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("postgresql url: {e}")))?;
        let pool = r2d2::Pool::builder()
            .max_size(size.max(1))
            .min_idle(Some(0))
            // No ping before every use: a broken connection fails its call and is dropped
            // (`has_broken`), the next call gets a fresh one.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(30))
            .build_unchecked(Manager {
                config: config.clone(),
            });
        Ok(Pool { pool, config })
    }

    /// Applies the migrations this program knows and the database lacks; how many ran.
    pub fn migrate(&self) -> pochta_store::Result<usize> {
        Ok(self.with(|c| schema::migrate(c.client()))?)
    }

    /// Runs `f` on a pooled connection (see [`bridge`]).
    pub(crate) fn with<T: Send>(&self, f: impl FnOnce(&mut Conn) -> R<T> + Send) -> R<T> {
        bridge(|| {
            let mut c = self.pool.get()?;
            f(&mut c)
        })
    }

    /// Runs `f` in a read-write transaction and commits; tries again on a deadlock or
    /// serialization failure (so `f` may run more than once).
    pub(crate) fn write<T: Send>(&self, mut f: impl FnMut(&mut Tx<'_>) -> R<T> + Send) -> R<T> {
        self.with(|c| {
            let mut attempt = 0;
            loop {
                let mut tx = c.begin()?;
                let r = f(&mut tx).and_then(|out| tx.commit().map(|()| out));
                match r {
                    Err(e) if e.retryable() && attempt < RETRIES => {
                        attempt += 1;
                        std::thread::sleep(Duration::from_millis(u64::from(attempt)));
                    }
                    r => return r,
                }
            }
        })
    }

    /// Runs `f`, which reads with one statement (or does not need its statements to share a
    /// snapshot), outside a transaction.
    pub(crate) fn read<T: Send>(&self, f: impl FnOnce(&mut Tx<'_>) -> R<T> + Send) -> R<T> {
        self.with(|c| f(&mut c.bare()))
    }

    /// Runs `f` in a read-only transaction: its statements see one snapshot.
    pub(crate) fn snapshot<T: Send>(&self, f: impl FnOnce(&mut Tx<'_>) -> R<T> + Send) -> R<T> {
        self.with(|c| {
            let mut tx = c.begin_read()?;
            let out = f(&mut tx)?;
            tx.commit()?;
            Ok(out)
        })
    }
}

/// The PostgreSQL mail store. Cheap to clone (clones share one pool, bus and listener).
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    bus: ChangeBus,
    /// Tells this node's notifications from other nodes'.
    node: u64,
    /// Set on drop: the listener thread ends.
    stop: Arc<AtomicBool>,
    metas: Mutex<HashMap<String, Arc<MessageMeta>>>,
    public: std::sync::OnceLock<AccountId>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("node", &self.inner.node)
            .finish_non_exhaustive()
    }
}

const MAX_METAS: usize = 4096;

impl PgStore {
    /// Connects (see [`Pool::open`]), migrates, and starts listening for other nodes' changes.
    pub fn open(url: &str, pool_size: u32) -> pochta_store::Result<PgStore> {
        Self::with_pool(Pool::open(url, pool_size)?)
    }

    /// A store over an open pool (shared with the queue and collector stores).
    pub fn with_pool(pool: Pool) -> pochta_store::Result<PgStore> {
        let bus = ChangeBus::new();
        let node = rand::random::<u64>();
        let stop = Arc::new(AtomicBool::new(false));
        let ready = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        {
            let (config, bus, stop, ready) = (
                pool.config.clone(),
                bus.clone(),
                Arc::clone(&stop),
                Arc::clone(&ready),
            );
            std::thread::Builder::new()
                .name("pochta-pg-listen".into())
                .spawn(move || listen(config, bus, node, stop, ready))
                .map_err(|e| StoreError::Backend(format!("listener thread: {e}")))?;
        }
        // Wait (bounded) until the listener is subscribed, so that a change committed by
        // another node after `open` returns is announced here.
        {
            let (lock, cv) = &*ready;
            let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
            let _ = cv.wait_timeout_while(guard, Duration::from_secs(10), |r| !*r);
        }
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                bus,
                node,
                stop,
                metas: Mutex::new(HashMap::new()),
                public: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The connection pool (to open the queue and collector stores on the same database).
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub(crate) fn read<T: Send>(&self, f: impl FnOnce(&mut Tx<'_>) -> R<T> + Send) -> R<T> {
        self.inner.pool.read(f)
    }

    pub(crate) fn snapshot<T: Send>(&self, f: impl FnOnce(&mut Tx<'_>) -> R<T> + Send) -> R<T> {
        self.inner.pool.snapshot(f)
    }

    /// A write transaction whose events are sent with NOTIFY inside it (delivered at commit)
    /// and published on the local bus after the commit.
    pub(crate) fn write<T: Send>(
        &self,
        mut f: impl FnMut(&mut Tx<'_>) -> R<(T, Vec<ChangeEvent>)> + Send,
    ) -> R<T> {
        let node = self.inner.node;
        let (out, events) = self.inner.pool.write(|tx| {
            let (out, events) = f(tx)?;
            if !events.is_empty() {
                let payloads: Vec<String> = events.iter().map(|e| encode(node, e)).collect();
                tx.execute(
                    "SELECT pg_notify('pochta_changes', p) FROM unnest($1::text[]) AS p",
                    &[&payloads],
                )?;
            }
            Ok((out, events))
        })?;
        for e in events {
            self.inner.bus.publish(e);
        }
        Ok(out)
    }

    pub(crate) fn meta_cached(&self, blob: &str) -> Option<Arc<MessageMeta>> {
        self.inner.metas.lock().get(blob).cloned()
    }

    pub(crate) fn meta_put(&self, blob: &str, meta: Arc<MessageMeta>) {
        let mut m = self.inner.metas.lock();
        if m.len() >= MAX_METAS {
            m.clear();
        }
        m.insert(blob.to_owned(), meta);
    }
}

/// Longest payload sent (PostgreSQL refuses NOTIFY payloads of 8000 bytes and more): a
/// metadata event whose entry names would not fit goes without them ("any entry").
const MAX_PAYLOAD: usize = 7000;

/// `node m account mailbox modseq`, `node l account`, `node k account mailbox` or
/// `node d account mailbox entry…`
/// (mailbox `-` for the server; entry names have their spaces as `%20`: RFC 5464 §3.2
/// names contain no `%`).
fn encode(node: u64, e: &ChangeEvent) -> String {
    match e {
        ChangeEvent::Metadata {
            account,
            mailbox,
            entries,
        } => {
            let mut s = format!("{node} d {} ", account.0);
            match mailbox {
                Some(m) => s.push_str(&m.0.to_string()),
                None => s.push('-'),
            }
            let head = s.len();
            for e in entries {
                s.push(' ');
                s.push_str(&e.replace(' ', "%20"));
            }
            if s.len() > MAX_PAYLOAD {
                s.truncate(head);
            }
            s
        }
        ChangeEvent::Mailbox {
            account,
            mailbox,
            modseq,
        } => format!("{node} m {} {} {}", account.0, mailbox.0, modseq.get()),
        ChangeEvent::MailboxList { account } => format!("{node} l {}", account.0),
        ChangeEvent::AccessKey { account, mailbox } => match mailbox {
            Some(m) => format!("{node} k {} {}", account.0, m.0),
            None => format!("{node} k {} -", account.0),
        },
    }
}

fn decode(payload: &str) -> Option<(u64, ChangeEvent)> {
    let mut it = payload.split(' ');
    let node = it.next()?.parse().ok()?;
    let e = match it.next()? {
        "m" => ChangeEvent::Mailbox {
            account: AccountId(it.next()?.parse().ok()?),
            mailbox: MailboxId(it.next()?.parse().ok()?),
            modseq: ModSeq::new(it.next()?.parse().ok()?)?,
        },
        "l" => ChangeEvent::MailboxList {
            account: AccountId(it.next()?.parse().ok()?),
        },
        "d" => ChangeEvent::Metadata {
            account: AccountId(it.next()?.parse().ok()?),
            mailbox: match it.next()? {
                "-" => None,
                m => Some(MailboxId(m.parse().ok()?)),
            },
            entries: it.map(|e| e.replace("%20", " ")).collect(),
        },
        "k" => ChangeEvent::AccessKey {
            account: AccountId(it.next()?.parse().ok()?),
            mailbox: match it.next()? {
                "-" => None,
                m => Some(MailboxId(m.parse().ok()?)),
            },
        },
        _ => return None,
    };
    Some((node, e))
}

/// The listener thread: LISTEN on its own connection, republish other nodes' events;
/// reconnect after a failure; end when the store is dropped.
fn listen(
    config: postgres::Config,
    bus: ChangeBus,
    node: u64,
    stop: Arc<AtomicBool>,
    ready: Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
) {
    let signal_ready = || {
        let (lock, cv) = &*ready;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        cv.notify_all();
    };
    while !stop.load(Ordering::Relaxed) {
        let mut client = match config.connect(NoTls) {
            Ok(c) => c,
            Err(_) => {
                signal_ready();
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        if client.batch_execute(&format!("LISTEN {CHANNEL}")).is_err() {
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        signal_ready();
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let next = {
                let mut n = client.notifications();
                let mut it = n.timeout_iter(Duration::from_millis(250));
                it.next()
            };
            match next {
                Ok(Some(note)) => {
                    if let Some((from, e)) = decode(note.payload())
                        && from != node
                    {
                        bus.publish(e);
                    }
                }
                Ok(None) => {
                    if client.is_closed() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_payloads() {
        let events = [
            ChangeEvent::Mailbox {
                account: AccountId(7),
                mailbox: MailboxId(42),
                modseq: ModSeq::new(99).expect("modseq"),
            },
            ChangeEvent::MailboxList {
                account: AccountId(3),
            },
            ChangeEvent::Metadata {
                account: AccountId(4),
                mailbox: Some(MailboxId(8)),
                entries: vec!["/shared/comment".into(), "/private/a b".into()],
            },
            ChangeEvent::Metadata {
                account: AccountId(4),
                mailbox: None,
                entries: vec![],
            },
            ChangeEvent::AccessKey {
                account: AccountId(6),
                mailbox: Some(MailboxId(9)),
            },
            ChangeEvent::AccessKey {
                account: AccountId(6),
                mailbox: None,
            },
        ];
        for e in events {
            assert_eq!(decode(&encode(5, &e)), Some((5, e)));
        }
        assert_eq!(decode("garbage"), None);
        let many = ChangeEvent::Metadata {
            account: AccountId(1),
            mailbox: None,
            entries: vec!["/private/x".repeat(100); 100],
        };
        let wire = encode(5, &many);
        assert!(wire.len() <= MAX_PAYLOAD);
        assert!(
            matches!(decode(&wire), Some((5, ChangeEvent::Metadata { entries, .. })) if entries.is_empty())
        );
        assert_eq!(decode("1 m 2 3 0"), None, "MODSEQ 0 is not a MODSEQ");
    }
}
