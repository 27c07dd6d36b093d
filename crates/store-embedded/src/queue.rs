//! The outbound queue's spool in SQLite: `data_dir/queue.sqlite3`, [`EmbeddedQueueStore`].
//!
//! Implementation notes (the rules of [`pochta_store::queue`] apply on top):
//! - WAL journal with `synchronous=FULL`: a committed transaction is fsynced before
//!   [`QueueStore::enqueue`] returns, which is what lets submission answer `250`. A crash at
//!   any instant leaves either the whole message with all its recipients or nothing.
//! - The message is stored once (`messages.body`); each recipient has its own row in
//!   `recipients` with its state, attempts, next attempt, last reply and delay-warning mark.
//!   The schema is the one the queue always had, so existing spools open unchanged.
//! - **Leases are in memory**: this backend serves one process, so a lease needs to outlive
//!   neither the process nor a crash — after a restart everything due is claimable at once,
//!   as before leases existed. `pochta queue …` commands in another process never claim.
//! - One connection behind a mutex (the queue's traffic is small next to the mail store's);
//!   the lease table lives under the same mutex, so a claim is atomic.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use pochta_store::queue::{
    Batch, Envelope, Lease, Message, NewMessage, Notify, QueueStore, Recipient, RecipientStatus,
    RecipientUpdate, Recorded, Ret, State, Summary,
};
use pochta_store::{Result, StoreError};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// The file name of the queue database inside `data_dir`.
pub const QUEUE_FILE: &str = "queue.sqlite3";

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

/// (message id, recipient index) → (holder, until).
type Leases = HashMap<(String, u32), (String, i64)>;

struct Db {
    conn: Connection,
    leases: Leases,
}

/// The queue spool in `data_dir/queue.sqlite3`.
pub struct EmbeddedQueueStore {
    db: Mutex<Db>,
    path: PathBuf,
}

impl std::fmt::Debug for EmbeddedQueueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedQueueStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(format!("queue database: {e}"))
}

fn live<'a>(leases: &'a Leases, id: &str, idx: u32, now: i64) -> Option<&'a (String, i64)> {
    leases
        .get(&(id.to_owned(), idx))
        .filter(|(_, until)| *until > now)
}

impl EmbeddedQueueStore {
    /// Opens (creating if needed) `data_dir/queue.sqlite3`.
    pub fn open(data_dir: &Path) -> Result<EmbeddedQueueStore> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| StoreError::Backend(format!("{}: {e}", data_dir.display())))?;
        let path = data_dir.join(QUEUE_FILE);
        let conn = Connection::open(&path).map_err(db)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(db)?;
        conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
            .map_err(db)?;
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        Ok(EmbeddedQueueStore {
            db: Mutex::new(Db {
                conn,
                leases: Leases::new(),
            }),
            path,
        })
    }

    /// Where the database lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Due rows in batch order, `(message id, domain, index)`, passed to `f` until it says stop.
    fn scan_due(
        conn: &Connection,
        now: i64,
        mut f: impl FnMut(String, String, u32) -> bool,
    ) -> Result<()> {
        let mut st = conn
            .prepare_cached(
                "SELECT r.message_id, r.domain, r.idx FROM recipients r
                 JOIN messages m ON m.id = r.message_id
                 WHERE r.state IN ('pending', 'deferred') AND r.next_attempt <= ?1
                 ORDER BY m.created, r.message_id, r.domain, r.idx",
            )
            .map_err(db)?;
        let mut rows = st.query([now]).map_err(db)?;
        while let Some(r) = rows.next().map_err(db)? {
            if !f(
                r.get(0).map_err(db)?,
                r.get(1).map_err(db)?,
                r.get(2).map_err(db)?,
            ) {
                break;
            }
        }
        Ok(())
    }

    fn batches(
        conn: &Connection,
        now: i64,
        limit: usize,
        skip: impl Fn(&str, u32) -> bool,
    ) -> Result<Vec<Batch>> {
        let mut out: Vec<Batch> = Vec::new();
        Self::scan_due(conn, now, |message_id, domain, idx| {
            if skip(&message_id, idx) {
                return true;
            }
            if let Some(b) = out.last_mut()
                && b.message_id == message_id
                && b.domain == domain
            {
                b.recipients.push(idx);
                return true;
            }
            if out.len() == limit {
                return false;
            }
            out.push(Batch {
                message_id,
                domain,
                recipients: vec![idx],
            });
            true
        })?;
        Ok(out)
    }
}

impl QueueStore for EmbeddedQueueStore {
    fn enqueue(&self, envelope: &Envelope, body: &[u8], now: i64) -> Result<String> {
        let mut d = self.db.lock();
        let tx = d.conn.transaction().map_err(db)?;
        let id = insert_tx(&tx, envelope, body, now)?;
        tx.commit().map_err(db)?;
        Ok(id)
    }

    fn due(&self, now: i64, limit: usize) -> Result<Vec<Batch>> {
        let d = self.db.lock();
        Self::batches(&d.conn, now, limit, |_, _| false)
    }

    fn claim_due(&self, now: i64, limit: usize, lease: &Lease<'_>) -> Result<Vec<Batch>> {
        let mut d = self.db.lock();
        d.leases.retain(|_, (_, until)| *until > now);
        let leases = &d.leases;
        let out = Self::batches(&d.conn, now, limit, |id, idx| {
            live(leases, id, idx, now).is_some()
        })?;
        for b in &out {
            for idx in &b.recipients {
                d.leases.insert(
                    (b.message_id.clone(), *idx),
                    (lease.holder.to_owned(), lease.until),
                );
            }
        }
        Ok(out)
    }

    fn next_due(&self, now: i64) -> Result<Option<i64>> {
        let d = self.db.lock();
        let mut st = d
            .conn
            .prepare_cached(
                "SELECT message_id, idx, next_attempt FROM recipients
                 WHERE state IN ('pending', 'deferred') ORDER BY next_attempt",
            )
            .map_err(db)?;
        let mut rows = st.query([]).map_err(db)?;
        let mut best: Option<i64> = None;
        // Ordered by next_attempt: the first row without a live lease ends the search; the
        // leased ones before it count from their lease's end.
        while let Some(r) = rows.next().map_err(db)? {
            let id: String = r.get(0).map_err(db)?;
            let next: i64 = r.get(2).map_err(db)?;
            let at = match live(&d.leases, &id, r.get(1).map_err(db)?, now) {
                Some((_, until)) => next.max(*until),
                None => next,
            };
            best = Some(best.map_or(at, |b| b.min(at)));
            if at == next {
                break;
            }
        }
        Ok(best)
    }

    fn message(&self, id: &str) -> Result<Option<Message>> {
        let d = self.db.lock();
        let Some(mut m) = message_tx(&d.conn, id)? else {
            return Ok(None);
        };
        m.envelope.recipients = recipients_of(&d.conn, id)?
            .into_iter()
            .map(|r| r.recipient)
            .collect();
        Ok(Some(m))
    }

    fn recipients(&self, id: &str) -> Result<Vec<RecipientStatus>> {
        let d = self.db.lock();
        recipients_of(&d.conn, id)
    }

    fn list(&self) -> Result<Vec<Summary>> {
        let d = self.db.lock();
        let heads = {
            let mut st = d
                .conn
                .prepare(
                    "SELECT id, sender, created, length(body) FROM messages
                     ORDER BY created, id",
                )
                .map_err(db)?;
            st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)?
        };
        let mut out = Vec::with_capacity(heads.len());
        for (id, sender, created, size) in heads {
            let recipients = recipients_of(&d.conn, &id)?;
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

    fn retry(&self, id: Option<&str>, now: i64) -> Result<usize> {
        let d = self.db.lock();
        let n = match id {
            Some(id) => {
                if !exists(&d.conn, id)? {
                    return Err(StoreError::NotFound(format!("queued message {id}")));
                }
                d.conn.execute(
                    "UPDATE recipients SET next_attempt = ?2
                     WHERE message_id = ?1 AND state IN ('pending', 'deferred')",
                    params![id, now],
                )
            }
            None => d.conn.execute(
                "UPDATE recipients SET next_attempt = ?1
                 WHERE state IN ('pending', 'deferred')",
                [now],
            ),
        };
        n.map_err(db)
    }

    fn delete(&self, id: &str) -> Result<()> {
        let mut d = self.db.lock();
        if d.conn
            .execute("DELETE FROM messages WHERE id = ?1", [id])
            .map_err(db)?
            == 0
        {
            return Err(StoreError::NotFound(format!("queued message {id}")));
        }
        d.leases.retain(|(m, _), _| m != id);
        Ok(())
    }

    fn record(
        &self,
        id: &str,
        holder: &str,
        updates: &[RecipientUpdate],
        new: &[NewMessage],
        now: i64,
    ) -> Result<Recorded> {
        let mut d = self.db.lock();
        let Db { conn, leases } = &mut *d;
        let tx = conn.transaction().map_err(db)?;
        if !exists(&tx, id)? {
            return Ok(Recorded::Gone);
        }
        let current = recipients_of(&tx, id)?;
        for u in updates {
            let fresh = current
                .iter()
                .find(|r| r.index == u.index)
                .is_some_and(|r| {
                    r.state.is_open() && r.attempts.checked_add(1) == Some(u.attempts)
                });
            let other = live(leases, id, u.index, now).is_some_and(|(h, _)| h != holder);
            if !fresh || other {
                return Ok(Recorded::Stale);
            }
        }
        for u in updates {
            tx.execute(
                "UPDATE recipients SET state = ?3, attempts = ?4, next_attempt = ?5,
                 last_reply = ?6, remote_mta = ?7 WHERE message_id = ?1 AND idx = ?2",
                params![
                    id,
                    u.index,
                    u.state.as_str(),
                    u.attempts,
                    u.next_attempt,
                    u.last_reply,
                    u.remote_mta
                ],
            )
            .map_err(db)?;
        }
        let mut queued = Vec::with_capacity(new.len());
        for m in new {
            queued.push(insert_tx(&tx, &m.envelope, &m.body, now)?);
        }
        let open: bool = tx
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM recipients
                 WHERE message_id = ?1 AND state IN ('pending', 'deferred'))",
                [id],
                |r| r.get(0),
            )
            .map_err(db)?;
        if !open {
            tx.execute("DELETE FROM messages WHERE id = ?1", [id])
                .map_err(db)?;
        }
        tx.commit().map_err(db)?;
        if open {
            for u in updates {
                let key = (id.to_owned(), u.index);
                if leases.get(&key).is_some_and(|(h, _)| h == holder) {
                    leases.remove(&key);
                }
            }
        } else {
            leases.retain(|(m, _), _| m != id);
        }
        Ok(Recorded::Applied { queued })
    }

    fn delay_candidates(&self, created_before: i64) -> Result<Vec<String>> {
        let d = self.db.lock();
        let mut st = d
            .conn
            .prepare_cached(
                "SELECT m.id FROM messages m
                 WHERE m.sender IS NOT NULL AND m.created <= ?1 AND EXISTS (
                     SELECT 1 FROM recipients r WHERE r.message_id = m.id
                     AND r.state = 'deferred' AND r.warned = 0)
                 ORDER BY m.created, m.id",
            )
            .map_err(db)?;
        st.query_map([created_before], |r| r.get(0))
            .map_err(db)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db)
    }

    fn mark_warned(
        &self,
        id: &str,
        indexes: &[u32],
        warning: Option<&NewMessage>,
        now: i64,
    ) -> Result<bool> {
        let mut d = self.db.lock();
        let tx = d.conn.transaction().map_err(db)?;
        for idx in indexes {
            let n = tx
                .execute(
                    "UPDATE recipients SET warned = 1 WHERE message_id = ?1 AND idx = ?2
                     AND state = 'deferred' AND warned = 0",
                    params![id, idx],
                )
                .map_err(db)?;
            if n == 0 {
                return Ok(false);
            }
        }
        if let Some(w) = warning {
            insert_tx(&tx, &w.envelope, &w.body, now)?;
        }
        tx.commit().map_err(db)?;
        Ok(true)
    }
}

fn exists(conn: &Connection, id: &str) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM messages WHERE id = ?1)",
        [id],
        |r| r.get(0),
    )
    .map_err(db)
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
    )
    .map_err(db)?;
    let mut st = tx
        .prepare_cached(
            "INSERT INTO recipients (message_id, idx, address, domain, notify, orcpt_type,
             orcpt, state, next_attempt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending', ?8)",
        )
        .map_err(db)?;
    for (i, r) in envelope.recipients.iter().enumerate() {
        st.execute(params![
            id,
            i as u32,
            r.address,
            r.domain(),
            r.notify.map(Notify::keywords),
            r.orcpt.as_ref().map(|o| o.0.as_str()),
            r.orcpt.as_ref().map(|o| o.1.as_str()),
            now
        ])
        .map_err(db)?;
    }
    Ok(id)
}

/// The message without its recipients.
fn message_tx(conn: &Connection, id: &str) -> Result<Option<Message>> {
    conn.query_row(
        "SELECT sender, ret, envid, smtputf8, eight_bit, created, body
         FROM messages WHERE id = ?1",
        [id],
        |r| {
            Ok(Message {
                id: id.to_owned(),
                envelope: Envelope {
                    sender: r.get(0)?,
                    recipients: Vec::new(),
                    ret: r
                        .get::<_, Option<String>>(1)?
                        .as_deref()
                        .and_then(Ret::parse),
                    envid: r.get(2)?,
                    smtputf8: r.get(3)?,
                    eight_bit: r.get(4)?,
                },
                created: r.get(5)?,
                body: r.get(6)?,
            })
        },
    )
    .optional()
    .map_err(db)
}

fn recipients_of(conn: &Connection, id: &str) -> Result<Vec<RecipientStatus>> {
    let mut st = conn
        .prepare_cached(
            "SELECT idx, address, notify, orcpt_type, orcpt, state, attempts, next_attempt,
             last_reply, remote_mta, warned FROM recipients WHERE message_id = ?1 ORDER BY idx",
        )
        .map_err(db)?;
    let rows = st
        .query_map([id], |r| {
            let notify: Option<String> = r.get(2)?;
            let orcpt_type: Option<String> = r.get(3)?;
            let orcpt: Option<String> = r.get(4)?;
            Ok(RecipientStatus {
                index: r.get(0)?,
                recipient: Recipient {
                    address: r.get(1)?,
                    notify: notify
                        .map(|n| Notify::from_keywords(&n.split(',').collect::<Vec<_>>())),
                    orcpt: orcpt_type.zip(orcpt),
                },
                state: State::parse(&r.get::<_, String>(5)?),
                attempts: r.get(6)?,
                next_attempt: r.get(7)?,
                last_reply: r.get(8)?,
                remote_mta: r.get(9)?,
                warned: r.get(10)?,
            })
        })
        .map_err(db)?;
    rows.collect::<rusqlite::Result<_>>().map_err(db)
}

/// A random queue id: 16 upper-case hex digits, like the SMTP session's ids.
fn new_id() -> String {
    use rand::Rng;
    format!("{:016X}", rand::thread_rng().r#gen::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What makes [`QueueStore::enqueue`] durable when it returns: WAL with
    /// `synchronous=FULL`, so COMMIT fsyncs the WAL. The crash tests kill the process, and the
    /// page cache outlives a process, so they cannot see a missing fsync: the settings
    /// themselves are checked here (the setting, not the fsync).
    #[test]
    fn commits_use_wal_with_synchronous_full() {
        let dir = tempfile::tempdir().unwrap();
        let s = EmbeddedQueueStore::open(dir.path()).unwrap();
        let d = s.db.lock();
        let sync: i64 = d
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "PRAGMA synchronous is {sync}, not FULL (2)");
        let mode: String = d
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}
