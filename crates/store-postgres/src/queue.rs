//! The outbound queue's spool in PostgreSQL: [`PgQueueStore`].
//!
//! Implementation notes (the rules of [`pochta_store::queue`] apply on top):
//! - Tables `queue_messages` (the message once) and `queue_recipients` (one row per
//!   recipient, with its state), like the embedded spool.
//! - **Leases are columns** (`lease_holder`, `lease_until`) so they are shared by every
//!   node: [`QueueStore::claim_due`] selects the due, unleased rows `FOR UPDATE SKIP LOCKED`
//!   (a concurrent claim skips what this one is taking, and re-checks a row another claim
//!   committed meanwhile) and writes its lease into them in the same transaction. A lease
//!   whose holder died simply expires: the row is due again for everybody.
//! - [`QueueStore::record`] locks the message row first, so two outcomes for one message
//!   serialise, then checks every updated recipient's state and lease before applying.

use pochta_store::queue::{
    Batch, Envelope, Lease, Message, NewMessage, Notify, QueueStore, Recipient, RecipientStatus,
    RecipientUpdate, Recorded, Ret, State, Summary,
};
use pochta_store::{Result, StoreError};
use postgres::Row;

use crate::{Pool, R, Tx};

/// The queue spool on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgQueueStore {
    pool: Pool,
}

impl PgQueueStore {
    /// Connects and migrates (see [`Pool::open`]).
    pub fn open(url: &str, pool_size: u32) -> Result<PgQueueStore> {
        Ok(PgQueueStore {
            pool: Pool::open(url, pool_size)?,
        })
    }

    /// The spool over an open pool (shared with the mail store).
    pub fn with_pool(pool: Pool) -> PgQueueStore {
        PgQueueStore { pool }
    }
}

const DUE: &str = "SELECT r.message_id, r.domain, r.idx FROM queue_recipients r
     JOIN queue_messages m ON m.id = r.message_id
     WHERE r.state IN ('pending', 'deferred') AND r.next_attempt <= $1
     ORDER BY m.created, r.message_id, r.domain, r.idx";

const CLAIMABLE: &str = "SELECT r.message_id, r.domain, r.idx FROM queue_recipients r
     JOIN queue_messages m ON m.id = r.message_id
     WHERE r.state IN ('pending', 'deferred') AND r.next_attempt <= $1
       AND (r.lease_until IS NULL OR r.lease_until <= $1)
     ORDER BY m.created, r.message_id, r.domain, r.idx
     FOR UPDATE OF r SKIP LOCKED";

/// Groups due rows (in batch order) into at most `limit` batches.
fn batches(rows: &[Row], limit: usize) -> Vec<Batch> {
    let mut out: Vec<Batch> = Vec::new();
    for r in rows {
        let message_id: String = r.get(0);
        let domain: String = r.get(1);
        let idx = u32::try_from(r.get::<_, i64>(2)).unwrap_or(u32::MAX);
        if let Some(b) = out.last_mut()
            && b.message_id == message_id
            && b.domain == domain
        {
            b.recipients.push(idx);
            continue;
        }
        if out.len() == limit {
            break;
        }
        out.push(Batch {
            message_id,
            domain,
            recipients: vec![idx],
        });
    }
    out
}

fn insert_tx(tx: &mut Tx<'_>, envelope: &Envelope, body: &[u8], now: i64) -> R<String> {
    let id = new_id();
    tx.execute(
        "INSERT INTO queue_messages (id, sender, ret, envid, smtputf8, eight_bit, created, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &id,
            &envelope.sender,
            &envelope.ret.map(Ret::as_str),
            &envelope.envid,
            &envelope.smtputf8,
            &envelope.eight_bit,
            &now,
            &body,
        ],
    )?;
    for (i, r) in envelope.recipients.iter().enumerate() {
        tx.execute(
            "INSERT INTO queue_recipients (message_id, idx, address, domain, notify, orcpt_type,
                 orcpt, state, next_attempt)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8)",
            &[
                &id,
                &(i as i64),
                &r.address,
                &r.domain(),
                &r.notify.map(Notify::keywords),
                &r.orcpt.as_ref().map(|o| o.0.as_str()),
                &r.orcpt.as_ref().map(|o| o.1.as_str()),
                &now,
            ],
        )?;
    }
    Ok(id)
}

fn exists(tx: &mut Tx<'_>, id: &str, lock: bool) -> R<bool> {
    let sql = if lock {
        "SELECT 1 FROM queue_messages WHERE id = $1 FOR UPDATE"
    } else {
        "SELECT 1 FROM queue_messages WHERE id = $1"
    };
    Ok(tx.query_opt(sql, &[&id])?.is_some())
}

fn recipients_of(tx: &mut Tx<'_>, id: &str) -> R<Vec<RecipientStatus>> {
    Ok(tx
        .query(
            "SELECT idx, address, notify, orcpt_type, orcpt, state, attempts, next_attempt,
                    last_reply, remote_mta, warned
             FROM queue_recipients WHERE message_id = $1 ORDER BY idx",
            &[&id],
        )?
        .iter()
        .map(|r| {
            let notify: Option<String> = r.get(2);
            let orcpt_type: Option<String> = r.get(3);
            let orcpt: Option<String> = r.get(4);
            RecipientStatus {
                index: u32::try_from(r.get::<_, i64>(0)).unwrap_or(u32::MAX),
                recipient: Recipient {
                    address: r.get(1),
                    notify: notify
                        .map(|n| Notify::from_keywords(&n.split(',').collect::<Vec<_>>())),
                    orcpt: orcpt_type.zip(orcpt),
                },
                state: State::parse(r.get::<_, &str>(5)),
                attempts: u32::try_from(r.get::<_, i64>(6)).unwrap_or(u32::MAX),
                next_attempt: r.get(7),
                last_reply: r.get(8),
                remote_mta: r.get(9),
                warned: r.get(10),
            }
        })
        .collect())
}

/// A random queue id: 16 upper-case hex digits, like the embedded spool's.
fn new_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}

impl QueueStore for PgQueueStore {
    fn enqueue(&self, envelope: &Envelope, body: &[u8], now: i64) -> Result<String> {
        Ok(self.pool.write(|tx| insert_tx(tx, envelope, body, now))?)
    }

    fn due(&self, now: i64, limit: usize) -> Result<Vec<Batch>> {
        Ok(self
            .pool
            .read(|tx| Ok(batches(&tx.query(DUE, &[&now])?, limit)))?)
    }

    fn claim_due(&self, now: i64, limit: usize, lease: &Lease<'_>) -> Result<Vec<Batch>> {
        Ok(self.pool.write(|tx| {
            let out = batches(&tx.query(CLAIMABLE, &[&now])?, limit);
            let mut ids = Vec::new();
            let mut idxs = Vec::new();
            for b in &out {
                for idx in &b.recipients {
                    ids.push(b.message_id.clone());
                    idxs.push(i64::from(*idx));
                }
            }
            if !ids.is_empty() {
                tx.execute(
                    "UPDATE queue_recipients r SET lease_holder = $1, lease_until = $2
                     FROM unnest($3::text[], $4::bigint[]) AS l(id, idx)
                     WHERE r.message_id = l.id AND r.idx = l.idx",
                    &[&lease.holder, &lease.until, &ids, &idxs],
                )?;
            }
            Ok(out)
        })?)
    }

    fn next_due(&self, now: i64) -> Result<Option<i64>> {
        Ok(self.pool.read(|tx| {
            Ok(tx
                .query_one(
                    "SELECT min(CASE WHEN lease_until IS NOT NULL AND lease_until > $1
                                     THEN greatest(next_attempt, lease_until)
                                     ELSE next_attempt END)
                     FROM queue_recipients WHERE state IN ('pending', 'deferred')",
                    &[&now],
                )?
                .get(0))
        })?)
    }

    fn message(&self, id: &str) -> Result<Option<Message>> {
        Ok(self.pool.snapshot(|tx| {
            let Some(r) = tx.query_opt(
                "SELECT sender, ret, envid, smtputf8, eight_bit, created, body
                 FROM queue_messages WHERE id = $1",
                &[&id],
            )?
            else {
                return Ok(None);
            };
            let recipients = recipients_of(tx, id)?
                .into_iter()
                .map(|r| r.recipient)
                .collect();
            Ok(Some(Message {
                id: id.to_owned(),
                envelope: Envelope {
                    sender: r.get(0),
                    recipients,
                    ret: r.get::<_, Option<&str>>(1).and_then(Ret::parse),
                    envid: r.get(2),
                    smtputf8: r.get(3),
                    eight_bit: r.get(4),
                },
                created: r.get(5),
                body: r.get(6),
            }))
        })?)
    }

    fn recipients(&self, id: &str) -> Result<Vec<RecipientStatus>> {
        Ok(self.pool.read(|tx| recipients_of(tx, id))?)
    }

    fn list(&self) -> Result<Vec<Summary>> {
        Ok(self.pool.snapshot(|tx| {
            let heads: Vec<(String, Option<String>, i64, i64)> = tx
                .query(
                    "SELECT id, sender, created, octet_length(body)::bigint FROM queue_messages
                     ORDER BY created, id",
                    &[],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect();
            let mut out = Vec::with_capacity(heads.len());
            for (id, sender, created, size) in heads {
                let recipients = recipients_of(tx, &id)?;
                out.push(Summary {
                    id,
                    sender,
                    created,
                    size: u64::try_from(size).unwrap_or(0),
                    recipients,
                });
            }
            Ok(out)
        })?)
    }

    fn retry(&self, id: Option<&str>, now: i64) -> Result<usize> {
        let n = self.pool.write(|tx| match id {
            Some(id) => {
                if !exists(tx, id, false)? {
                    return Err(StoreError::NotFound(format!("queued message {id}")).into());
                }
                tx.execute(
                    "UPDATE queue_recipients SET next_attempt = $2
                     WHERE message_id = $1 AND state IN ('pending', 'deferred')",
                    &[&id, &now],
                )
            }
            None => tx.execute(
                "UPDATE queue_recipients SET next_attempt = $1
                 WHERE state IN ('pending', 'deferred')",
                &[&now],
            ),
        })?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn delete(&self, id: &str) -> Result<()> {
        Ok(self.pool.write(|tx| {
            if tx.execute("DELETE FROM queue_messages WHERE id = $1", &[&id])? == 0 {
                return Err(StoreError::NotFound(format!("queued message {id}")).into());
            }
            Ok(())
        })?)
    }

    fn record(
        &self,
        id: &str,
        holder: &str,
        updates: &[RecipientUpdate],
        new: &[NewMessage],
        now: i64,
    ) -> Result<Recorded> {
        Ok(self.pool.write(|tx| {
            if !exists(tx, id, true)? {
                return Ok(Recorded::Gone);
            }
            let rows = tx.query(
                "SELECT idx, state, attempts, lease_holder, lease_until
                 FROM queue_recipients WHERE message_id = $1 FOR UPDATE",
                &[&id],
            )?;
            for u in updates {
                let ok = rows
                    .iter()
                    .find(|r| r.get::<_, i64>(0) == i64::from(u.index))
                    .is_some_and(|r| {
                        let state = State::parse(r.get::<_, &str>(1));
                        let attempts = r.get::<_, i64>(2);
                        let other = r.get::<_, Option<&str>>(3).is_some_and(|h| h != holder)
                            && r.get::<_, Option<i64>>(4).is_some_and(|until| until > now);
                        state.is_open() && attempts + 1 == i64::from(u.attempts) && !other
                    });
                if !ok {
                    return Ok(Recorded::Stale);
                }
            }
            for u in updates {
                tx.execute(
                    "UPDATE queue_recipients SET state = $3, attempts = $4, next_attempt = $5,
                         last_reply = $6, remote_mta = $7, lease_holder = NULL, lease_until = NULL
                     WHERE message_id = $1 AND idx = $2",
                    &[
                        &id,
                        &i64::from(u.index),
                        &u.state.as_str(),
                        &i64::from(u.attempts),
                        &u.next_attempt,
                        &u.last_reply,
                        &u.remote_mta,
                    ],
                )?;
            }
            let mut queued = Vec::with_capacity(new.len());
            for m in new {
                queued.push(insert_tx(tx, &m.envelope, &m.body, now)?);
            }
            let open = tx
                .query_opt(
                    "SELECT 1 FROM queue_recipients
                     WHERE message_id = $1 AND state IN ('pending', 'deferred') LIMIT 1",
                    &[&id],
                )?
                .is_some();
            if !open {
                tx.execute("DELETE FROM queue_messages WHERE id = $1", &[&id])?;
            }
            Ok(Recorded::Applied { queued })
        })?)
    }

    fn delay_candidates(&self, created_before: i64) -> Result<Vec<String>> {
        Ok(self.pool.read(|tx| {
            Ok(tx
                .query(
                    "SELECT m.id FROM queue_messages m
                     WHERE m.sender IS NOT NULL AND m.created <= $1 AND EXISTS (
                         SELECT 1 FROM queue_recipients r WHERE r.message_id = m.id
                         AND r.state = 'deferred' AND NOT r.warned)
                     ORDER BY m.created, m.id",
                    &[&created_before],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })?)
    }

    fn mark_warned(
        &self,
        id: &str,
        indexes: &[u32],
        warning: Option<&NewMessage>,
        now: i64,
    ) -> Result<bool> {
        let mut idx: Vec<i64> = indexes.iter().map(|i| i64::from(*i)).collect();
        idx.sort_unstable();
        idx.dedup();
        Ok(self.pool.write(|tx| {
            // Checked (and locked) before anything changes, so a refusal changes nothing.
            let fit = tx
                .query(
                    "SELECT idx FROM queue_recipients WHERE message_id = $1 AND idx = ANY($2)
                     AND state = 'deferred' AND NOT warned FOR UPDATE",
                    &[&id, &idx],
                )?
                .len();
            if fit != idx.len() {
                return Ok(false);
            }
            tx.execute(
                "UPDATE queue_recipients SET warned = TRUE WHERE message_id = $1 AND idx = ANY($2)",
                &[&id, &idx],
            )?;
            if let Some(w) = warning {
                insert_tx(tx, &w.envelope, &w.body, now)?;
            }
            Ok(true)
        })?)
    }
}
