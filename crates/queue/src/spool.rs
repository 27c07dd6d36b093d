//! The durable queue: one SQLite database, `queue.sqlite3`, in `data_dir`.
//!
//! Implementation notes:
//! - WAL journal with `synchronous=FULL`: a committed transaction is fsynced before
//!   [`Spool::insert`] returns, which is what lets submission answer `250` (ARCHITECTURE.md
//!   "Invariants"). A crash at any instant leaves either the whole message with all its
//!   recipients or nothing.
//! - The message is stored once (`messages.body`); each recipient has its own row and state:
//!   `pending` (never tried), `deferred` (temporary failure, `next_attempt` set), `delivered`,
//!   `failed`. A message whose recipients are all final is deleted in the same transaction
//!   that made the last one final.
//! - DSNs (RFC 3464) for failures and delay warnings are built and inserted as new queue
//!   messages (null sender, RFC 5321 §4.5.5) **in the same transaction** as the state change
//!   that caused them, so a crash can neither lose nor double a bounce. Bounces to local
//!   senders are then delivered locally by the worker like any other local recipient.
//! - The DSN parameters of RFC 3461 (`RET`, `ENVID`, `NOTIFY`, `ORCPT`) are stored with the
//!   message and its recipients.
//! - Times are Unix seconds supplied by the caller, so tests drive the clock.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::dsn::{self, DsnKind, DsnRecipient};
use crate::schedule::RetryPolicy;

/// The file name of the queue database inside `data_dir`.
pub const FILE: &str = "queue.sqlite3";

/// Errors of the queue database.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("queue database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("queue: {0}")]
    Io(#[from] std::io::Error),
    #[error("queue: no message {0}")]
    NotFound(String),
}

pub type Result<T> = std::result::Result<T, SpoolError>;

/// `RET=` of RFC 3461 §4.3: how much of the message a DSN returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Full,
    Hdrs,
}

impl Ret {
    fn as_str(self) -> &'static str {
        match self {
            Ret::Full => "FULL",
            Ret::Hdrs => "HDRS",
        }
    }

    fn parse(s: &str) -> Option<Ret> {
        match s {
            "FULL" => Some(Ret::Full),
            "HDRS" => Some(Ret::Hdrs),
            _ => None,
        }
    }
}

/// `NOTIFY=` of RFC 3461 §4.1. `None` in [`Recipient::notify`] means "not given": failures
/// are reported and delays at our discretion (we do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notify {
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

impl Notify {
    /// `NOTIFY=NEVER`.
    pub const NEVER: Notify = Notify {
        success: false,
        failure: false,
        delay: false,
    };

    /// From the upper-cased keywords as parsed by `pochta-smtp-proto`.
    pub fn from_keywords<S: AsRef<str>>(words: &[S]) -> Notify {
        let mut n = Notify::NEVER;
        for w in words {
            match w.as_ref() {
                "SUCCESS" => n.success = true,
                "FAILURE" => n.failure = true,
                "DELAY" => n.delay = true,
                _ => {}
            }
        }
        n
    }

    /// The `NOTIFY=` value to pass on to a next hop that supports DSN.
    pub fn keywords(self) -> String {
        let mut w = Vec::new();
        if self.success {
            w.push("SUCCESS");
        }
        if self.failure {
            w.push("FAILURE");
        }
        if self.delay {
            w.push("DELAY");
        }
        if w.is_empty() {
            "NEVER".into()
        } else {
            w.join(",")
        }
    }
}

/// One recipient as given to [`Spool::insert`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// `local@domain`.
    pub address: String,
    pub notify: Option<Notify>,
    /// `ORCPT=` as (address type, address), RFC 3461 §4.2.
    pub orcpt: Option<(String, String)>,
}

impl Recipient {
    pub fn new(address: impl Into<String>) -> Recipient {
        Recipient {
            address: address.into(),
            notify: None,
            orcpt: None,
        }
    }

    /// The (lower-cased) domain part: what routing and connection grouping use.
    pub fn domain(&self) -> String {
        domain_of(&self.address)
    }
}

pub(crate) fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("")
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// The envelope of a queued message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// The reverse-path; `None` is the null sender `<>` (never bounced to).
    pub sender: Option<String>,
    pub recipients: Vec<Recipient>,
    pub ret: Option<Ret>,
    pub envid: Option<String>,
    /// Needs SMTPUTF8 from the next hop (RFC 6531).
    pub smtputf8: bool,
    /// Has 8-bit content: sent with `BODY=8BITMIME` (RFC 6152).
    pub eight_bit: bool,
}

/// State of one recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Deferred,
    Delivered,
    Failed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Deferred => "deferred",
            State::Delivered => "delivered",
            State::Failed => "failed",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "deferred" => State::Deferred,
            "delivered" => State::Delivered,
            "failed" => State::Failed,
            _ => State::Pending,
        }
    }
}

/// A recipient as stored, with its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientStatus {
    /// Position in the message's envelope; the key of the recipient within its message.
    pub index: u32,
    pub recipient: Recipient,
    pub state: State,
    pub attempts: u32,
    /// Unix seconds of the next attempt (meaningful while pending or deferred).
    pub next_attempt: i64,
    /// The last reply or error, e.g. `451 4.3.0 try later` or `connection refused`.
    pub last_reply: Option<String>,
    /// The host that gave `last_reply`.
    pub remote_mta: Option<String>,
}

/// A queued message without its body (for listings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub id: String,
    pub sender: Option<String>,
    /// Unix seconds of acceptance.
    pub created: i64,
    pub size: u64,
    pub recipients: Vec<RecipientStatus>,
}

/// A queued message with its envelope and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub envelope: Envelope,
    pub created: i64,
    pub body: Vec<u8>,
}

/// Recipients of one message for one destination domain that are due: one delivery attempt
/// (one connection) handles them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub message_id: String,
    pub domain: String,
    pub recipients: Vec<u32>,
}

/// What happened to one recipient in a delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the next hop (or delivered locally). `relayed`: the next hop does not
    /// support DSN, so a requested success notice is ours to send ("relayed", RFC 3464 §2.3.3).
    Delivered {
        reply: String,
        mta: Option<String>,
        relayed: bool,
    },
    /// `4xx`, connection or DNS trouble: retry later.
    Temporary { reply: String, mta: Option<String> },
    /// `5xx`, null MX, unknown local user: failed for good.
    Permanent { reply: String, mta: Option<String> },
}

/// What the spool needs to write DSNs.
#[derive(Debug, Clone)]
pub struct Reporter {
    /// Our host name (`Reporting-MTA`, the DSN's `From: MAILER-DAEMON@...`).
    pub hostname: String,
}

/// The queue database.
pub struct Spool {
    conn: Mutex<Connection>,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id        TEXT PRIMARY KEY,
    sender    TEXT,
    ret       TEXT,
    envid     TEXT,
    smtputf8  INTEGER NOT NULL,
    eight_bit INTEGER NOT NULL,
    created   INTEGER NOT NULL,
    body      BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS recipients (
    message_id   TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    idx          INTEGER NOT NULL,
    address      TEXT NOT NULL,
    domain       TEXT NOT NULL,
    notify       TEXT,
    orcpt_type   TEXT,
    orcpt        TEXT,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    last_reply   TEXT,
    remote_mta   TEXT,
    warned       INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (message_id, idx)
);
CREATE INDEX IF NOT EXISTS recipients_due ON recipients(state, next_attempt);
";

impl Spool {
    /// Opens (creating if needed) `data_dir/queue.sqlite3`.
    pub fn open(data_dir: &Path) -> Result<Spool> {
        std::fs::create_dir_all(data_dir)?;
        let path = data_dir.join(FILE);
        let conn = Connection::open(&path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))?;
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Spool {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stores a message for delivery; durable (fsynced) when this returns.
    pub fn insert(&self, envelope: &Envelope, body: &[u8], now: i64) -> Result<String> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let id = insert_tx(&tx, envelope, body, now)?;
        tx.commit()?;
        Ok(id)
    }

    /// Due work: pending or deferred recipients whose time has come, grouped by message and
    /// destination domain, oldest message first.
    pub fn due(&self, now: i64, limit: usize) -> Result<Vec<Batch>> {
        let conn = self.conn.lock();
        let mut st = conn.prepare_cached(
            "SELECT r.message_id, r.domain, r.idx FROM recipients r
             JOIN messages m ON m.id = r.message_id
             WHERE r.state IN ('pending', 'deferred') AND r.next_attempt <= ?1
             ORDER BY m.created, r.message_id, r.domain, r.idx",
        )?;
        let rows = st.query_map([now], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get(2)?))
        })?;
        let mut out: Vec<Batch> = Vec::new();
        for row in rows {
            let (message_id, domain, idx) = row?;
            match out.last_mut() {
                Some(b) if b.message_id == message_id && b.domain == domain => {
                    b.recipients.push(idx)
                }
                _ => {
                    if out.len() == limit {
                        break;
                    }
                    out.push(Batch {
                        message_id,
                        domain,
                        recipients: vec![idx],
                    })
                }
            }
        }
        Ok(out)
    }

    /// The earliest `next_attempt` of any unfinished recipient.
    pub fn next_due(&self) -> Result<Option<i64>> {
        let conn = self.conn.lock();
        Ok(conn.query_row(
            "SELECT MIN(next_attempt) FROM recipients WHERE state IN ('pending', 'deferred')",
            [],
            |r| r.get(0),
        )?)
    }

    /// The message with its envelope and body.
    pub fn message(&self, id: &str) -> Result<Option<Message>> {
        let conn = self.conn.lock();
        let head = conn
            .query_row(
                "SELECT sender, ret, envid, smtputf8, eight_bit, created, body
                 FROM messages WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, Option<String>>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, bool>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, Vec<u8>>(6)?,
                    ))
                },
            )
            .optional()?;
        let Some((sender, ret, envid, smtputf8, eight_bit, created, body)) = head else {
            return Ok(None);
        };
        let recipients = recipients_of(&conn, id)?
            .into_iter()
            .map(|r| r.recipient)
            .collect();
        Ok(Some(Message {
            id: id.to_owned(),
            envelope: Envelope {
                sender,
                recipients,
                ret: ret.as_deref().and_then(Ret::parse),
                envid,
                smtputf8,
                eight_bit,
            },
            created,
            body,
        }))
    }

    /// The recipients of a message with their states.
    pub fn recipients(&self, id: &str) -> Result<Vec<RecipientStatus>> {
        let conn = self.conn.lock();
        recipients_of(&conn, id)
    }

    /// Every queued message, oldest first.
    pub fn list(&self) -> Result<Vec<Summary>> {
        let conn = self.conn.lock();
        let mut st = conn.prepare(
            "SELECT id, sender, created, length(body) FROM messages ORDER BY created, id",
        )?;
        let heads = st
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(heads.len());
        for (id, sender, created, size) in heads {
            let recipients = recipients_of(&conn, &id)?;
            out.push(Summary {
                id,
                sender,
                created,
                size: size.max(0) as u64,
                recipients,
            });
        }
        Ok(out)
    }

    /// Makes unfinished recipients due now: of message `id`, or of every message. Returns how
    /// many recipients were rescheduled.
    pub fn retry(&self, id: Option<&str>, now: i64) -> Result<usize> {
        let conn = self.conn.lock();
        let n = match id {
            Some(id) => {
                let exists: bool = conn.query_row(
                    "SELECT EXISTS(SELECT 1 FROM messages WHERE id = ?1)",
                    [id],
                    |r| r.get(0),
                )?;
                if !exists {
                    return Err(SpoolError::NotFound(id.to_owned()));
                }
                conn.execute(
                    "UPDATE recipients SET next_attempt = ?2
                     WHERE message_id = ?1 AND state IN ('pending', 'deferred')",
                    params![id, now],
                )?
            }
            None => conn.execute(
                "UPDATE recipients SET next_attempt = ?1
                 WHERE state IN ('pending', 'deferred')",
                [now],
            )?,
        };
        Ok(n)
    }

    /// Removes a message without delivering or bouncing it.
    pub fn delete(&self, id: &str) -> Result<()> {
        let conn = self.conn.lock();
        if conn.execute("DELETE FROM messages WHERE id = ?1", [id])? == 0 {
            return Err(SpoolError::NotFound(id.to_owned()));
        }
        Ok(())
    }

    /// Records the outcome of an attempt for some recipients of message `id`: temporary
    /// failures are rescheduled by `policy` (or failed once the message is older than its
    /// lifetime), DSNs are queued for failures (and for successes asked for with
    /// `NOTIFY=SUCCESS` that the next hop will not report), and a message with no unfinished
    /// recipient left is removed — all in one transaction.
    pub fn record(
        &self,
        id: &str,
        outcomes: &[(u32, Outcome)],
        now: i64,
        policy: &RetryPolicy,
        reporter: &Reporter,
    ) -> Result<()> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let created: Option<i64> = tx
            .query_row("SELECT created FROM messages WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        // Deleted meanwhile (`pochta queue delete`): nothing to record.
        let Some(created) = created else {
            return Ok(());
        };
        let current = recipients_of(&tx, id)?;
        let mut failed = Vec::new();
        let mut relayed = Vec::new();
        for (idx, outcome) in outcomes {
            let Some(r) = current.iter().find(|r| r.index == *idx) else {
                continue;
            };
            if matches!(r.state, State::Delivered | State::Failed) {
                continue;
            }
            let attempts = r.attempts + 1;
            let (state, next, reply, mta) = match outcome {
                Outcome::Delivered {
                    reply,
                    mta,
                    relayed: rel,
                } => {
                    if *rel && r.recipient.notify.is_some_and(|n| n.success) {
                        relayed.push((r.clone(), reply.clone(), mta.clone()));
                    }
                    (State::Delivered, r.next_attempt, reply.clone(), mta.clone())
                }
                Outcome::Permanent { reply, mta } => {
                    failed.push((r.clone(), reply.clone(), mta.clone()));
                    (State::Failed, r.next_attempt, reply.clone(), mta.clone())
                }
                Outcome::Temporary { reply, mta } => {
                    if now - created >= policy.max_age.as_secs() as i64 {
                        let reply = format!("{reply} (gave up after {})", policy.max_age_text());
                        failed.push((r.clone(), reply.clone(), mta.clone()));
                        (State::Failed, r.next_attempt, reply, mta.clone())
                    } else {
                        let delay = policy.delay_after(attempts);
                        (
                            State::Deferred,
                            now + delay.as_secs() as i64,
                            reply.clone(),
                            mta.clone(),
                        )
                    }
                }
            };
            tx.execute(
                "UPDATE recipients SET state = ?3, attempts = ?4, next_attempt = ?5,
                 last_reply = ?6, remote_mta = ?7 WHERE message_id = ?1 AND idx = ?2",
                params![id, idx, state.as_str(), attempts, next, reply, mta],
            )?;
        }
        if !failed.is_empty() || !relayed.is_empty() {
            let message = message_tx(&tx, id)?;
            let failed: Vec<_> = failed
                .into_iter()
                .filter(|(r, _, _)| r.recipient.notify.is_none_or(|n| n.failure))
                .collect();
            if !failed.is_empty() {
                queue_dsn(&tx, &message, DsnKind::Failed, &failed, now, reporter)?;
            }
            if !relayed.is_empty() {
                queue_dsn(&tx, &message, DsnKind::Relayed, &relayed, now, reporter)?;
            }
        }
        let open: bool = tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM recipients
             WHERE message_id = ?1 AND state IN ('pending', 'deferred'))",
            [id],
            |r| r.get(0),
        )?;
        if !open {
            tx.execute("DELETE FROM messages WHERE id = ?1", [id])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Queues delay warnings (RFC 3464 `Action: delayed`) for recipients still unfinished
    /// `after` seconds past acceptance, once per recipient, where NOTIFY allows (absent, or
    /// containing DELAY — RFC 3461 §4.1). Returns how many warnings were queued.
    pub fn warn_delayed(&self, now: i64, after: i64, reporter: &Reporter) -> Result<usize> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction()?;
        let ids: Vec<String> = {
            let mut st = tx.prepare(
                "SELECT DISTINCT r.message_id FROM recipients r JOIN messages m
                 ON m.id = r.message_id
                 WHERE r.state = 'deferred' AND r.warned = 0 AND m.created <= ?1
                 AND m.sender IS NOT NULL",
            )?;
            st.query_map([now - after], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        let mut sent = 0;
        for id in ids {
            let message = message_tx(&tx, &id)?;
            let due: Vec<_> = recipients_of(&tx, &id)?
                .into_iter()
                .filter(|r| r.state == State::Deferred)
                .collect();
            tx.execute(
                "UPDATE recipients SET warned = 1 WHERE message_id = ?1 AND state = 'deferred'",
                [&id],
            )?;
            let due: Vec<_> = due
                .into_iter()
                .filter(|r| r.recipient.notify.is_none_or(|n| n.delay))
                .map(|r| {
                    let reply = r.last_reply.clone().unwrap_or_default();
                    let mta = r.remote_mta.clone();
                    (r, reply, mta)
                })
                .collect();
            if !due.is_empty() {
                queue_dsn(&tx, &message, DsnKind::Delayed, &due, now, reporter)?;
                sent += 1;
            }
        }
        tx.commit()?;
        Ok(sent)
    }
}

fn insert_tx(tx: &Transaction<'_>, envelope: &Envelope, body: &[u8], now: i64) -> Result<String> {
    let id = new_id();
    tx.execute(
        "INSERT INTO messages (id, sender, ret, envid, smtputf8, eight_bit, created, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            id,
            envelope.sender,
            envelope.ret.map(Ret::as_str),
            envelope.envid,
            envelope.smtputf8,
            envelope.eight_bit,
            now,
            body
        ],
    )?;
    for (i, r) in envelope.recipients.iter().enumerate() {
        tx.execute(
            "INSERT INTO recipients (message_id, idx, address, domain, notify, orcpt_type,
             orcpt, state, next_attempt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8)",
            params![
                id,
                i as u32,
                r.address,
                r.domain(),
                r.notify.map(Notify::keywords),
                r.orcpt.as_ref().map(|o| o.0.as_str()),
                r.orcpt.as_ref().map(|o| o.1.as_str()),
                now
            ],
        )?;
    }
    Ok(id)
}

fn message_tx(tx: &Transaction<'_>, id: &str) -> Result<Message> {
    let (sender, ret, envid, created, body) = tx.query_row(
        "SELECT sender, ret, envid, created, body FROM messages WHERE id = ?1",
        [id],
        |r| {
            Ok((
                r.get::<_, Option<String>>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Vec<u8>>(4)?,
            ))
        },
    )?;
    Ok(Message {
        id: id.to_owned(),
        envelope: Envelope {
            sender,
            ret: ret.as_deref().and_then(Ret::parse),
            envid,
            ..Envelope::default()
        },
        created,
        body,
    })
}

/// Builds a DSN about `rcpts` of `message` and queues it to the message's sender, unless the
/// sender is null (RFC 5321 §4.5.5: never bounce a bounce).
fn queue_dsn(
    tx: &Transaction<'_>,
    message: &Message,
    kind: DsnKind,
    rcpts: &[(RecipientStatus, String, Option<String>)],
    now: i64,
    reporter: &Reporter,
) -> Result<()> {
    let Some(sender) = message.envelope.sender.as_deref() else {
        return Ok(());
    };
    let list: Vec<DsnRecipient> = rcpts
        .iter()
        .map(|(r, reply, mta)| DsnRecipient {
            address: r.recipient.address.clone(),
            orcpt: r.recipient.orcpt.clone(),
            reply: reply.clone(),
            remote_mta: mta.clone(),
        })
        .collect();
    let body = dsn::build(&dsn::Report {
        reporter_host: &reporter.hostname,
        kind,
        sender,
        envid: message.envelope.envid.as_deref(),
        ret: message.envelope.ret,
        arrival: message.created,
        now,
        recipients: &list,
        original: &message.body,
    });
    let envelope = Envelope {
        sender: None,
        recipients: vec![Recipient {
            address: sender.to_owned(),
            notify: None,
            orcpt: None,
        }],
        eight_bit: body.iter().any(|&b| b >= 0x80),
        smtputf8: !sender.is_ascii(),
        ..Envelope::default()
    };
    let id = insert_tx(tx, &envelope, &body, now)?;
    tracing::info!(original = %message.id, dsn = %id, kind = ?kind, to = %sender, "queue: DSN queued");
    Ok(())
}

fn recipients_of(conn: &Connection, id: &str) -> Result<Vec<RecipientStatus>> {
    let mut st = conn.prepare_cached(
        "SELECT idx, address, notify, orcpt_type, orcpt, state, attempts, next_attempt,
         last_reply, remote_mta FROM recipients WHERE message_id = ?1 ORDER BY idx",
    )?;
    let rows = st.query_map([id], |r| {
        let notify: Option<String> = r.get(2)?;
        let orcpt_type: Option<String> = r.get(3)?;
        let orcpt: Option<String> = r.get(4)?;
        Ok(RecipientStatus {
            index: r.get(0)?,
            recipient: Recipient {
                address: r.get(1)?,
                notify: notify.map(|n| Notify::from_keywords(&n.split(',').collect::<Vec<_>>())),
                orcpt: orcpt_type.zip(orcpt),
            },
            state: State::parse(&r.get::<_, String>(5)?),
            attempts: r.get(6)?,
            next_attempt: r.get(7)?,
            last_reply: r.get(8)?,
            remote_mta: r.get(9)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A random queue id: 16 upper-case hex digits, like the SMTP session's ids.
fn new_id() -> String {
    use rand::Rng;
    format!("{:016X}", rand::thread_rng().r#gen::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What makes [`Spool::insert`] durable when it returns: WAL with `synchronous=FULL`, so
    /// COMMIT fsyncs the WAL. The crash tests kill the process, and the page cache outlives a
    /// process, so they cannot see a missing fsync: the settings themselves are checked here
    /// (the setting, not the fsync).
    #[test]
    fn commits_use_wal_with_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path()).unwrap();
        let conn = s.conn.lock();
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "PRAGMA synchronous is {sync}, not FULL (2)");
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
