//! The durable queue: the queue's rules over a [`QueueStore`] (in the embedded backend, one
//! SQLite database, `queue.sqlite3`, in `data_dir`).
//!
//! Implementation notes:
//! - **Durable before 250**: [`Spool::insert`] returns once the store has the message and all
//!   its recipients on stable storage (the store's rule; the embedded one commits with WAL and
//!   `synchronous=FULL`). A crash at any instant leaves either the whole message with all its
//!   recipients or nothing.
//! - **Policy here, state in the store.** This module decides what an outcome means — the
//!   next attempt by the [`RetryPolicy`], giving up after `max_age`, which DSN to write — and
//!   hands the store the new recipient states together with the DSNs (RFC 3464) they cause;
//!   the store applies both in one transaction ([`QueueStore::record`]), so a crash can neither
//!   lose nor double a bounce. Bounces to local senders are then delivered locally by the
//!   worker like any other local recipient. A message whose recipients are all final leaves
//!   the queue in that transaction.
//! - **Optimistic**: the new states are computed from a read of the recipients; if the store
//!   says the read is stale (another attempt, or another node holding a lease, recorded
//!   meanwhile) the outcome is computed again from a fresh read (a few times at most).
//! - **Leases**: the worker takes work with [`Spool::claim`], which leases each batch to this
//!   spool's holder id for [`Spool::LEASE`]; on a shared backend another node takes a batch
//!   over only when its lease has run out. The worker's own in-flight set still keeps one
//!   process from running a batch twice.
//! - Delay warnings (RFC 3464 `Action: delayed`) are marked in the store together with the
//!   warning they cause ([`QueueStore::mark_warned`]), once per recipient.
//! - The DSN parameters of RFC 3461 (`RET`, `ENVID`, `NOTIFY`, `ORCPT`) are stored with the
//!   message and its recipients.
//! - Times are Unix seconds supplied by the caller, so tests drive the clock.

use std::sync::Arc;
use std::time::Duration;

use pochta_store::StoreError;
pub use pochta_store::queue::{
    Batch, Envelope, Message, Notify, QueueStore, Recipient, RecipientStatus, Ret, State, Summary,
};
use pochta_store::queue::{Lease, NewMessage, RecipientUpdate, Recorded};

use crate::dsn::{self, DsnKind, DsnRecipient};
use crate::schedule::RetryPolicy;

/// Errors of the queue.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("queue database: {0}")]
    Store(StoreError),
    #[error("queue: no message {0}")]
    NotFound(String),
}

impl From<StoreError> for SpoolError {
    fn from(e: StoreError) -> Self {
        SpoolError::Store(e)
    }
}

pub type Result<T> = std::result::Result<T, SpoolError>;

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

/// How often an outcome is recomputed when the store reports the read it was based on stale.
const STALE_RETRIES: usize = 5;

/// The queue: its rules over a [`QueueStore`].
#[derive(Clone)]
pub struct Spool {
    store: Arc<dyn QueueStore>,
    holder: Arc<str>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl Spool {
    /// How long a claimed batch stays leased to this process: longer than any attempt (the
    /// SMTP client's timeouts bound one host to minutes), so it only matters when a node died.
    pub const LEASE: Duration = Duration::from_secs(30 * 60);

    /// The lease this process takes: [`Self::LEASE`], or `POCHTA_QUEUE_LEASE` seconds when
    /// set (for tests of a node dying mid-delivery, which cannot wait half an hour).
    fn lease() -> Duration {
        std::env::var("POCHTA_QUEUE_LEASE")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|s| *s > 0)
            .map_or(Self::LEASE, Duration::from_secs)
    }

    /// The queue over `store`, with a fresh holder id for its leases.
    pub fn new(store: Arc<dyn QueueStore>) -> Spool {
        use rand::Rng;
        let holder = format!(
            "{}-{:08x}",
            std::process::id(),
            rand::thread_rng().r#gen::<u32>()
        );
        Spool {
            store,
            holder: holder.into(),
        }
    }

    /// The store behind the queue.
    pub fn store(&self) -> &Arc<dyn QueueStore> {
        &self.store
    }

    /// Stores a message for delivery; durable when this returns.
    pub fn insert(&self, envelope: &Envelope, body: &[u8], now: i64) -> Result<String> {
        Ok(self.store.enqueue(envelope, body, now)?)
    }

    /// Due work: pending or deferred recipients whose time has come, grouped by message and
    /// destination domain, oldest message first. Claims nothing.
    pub fn due(&self, now: i64, limit: usize) -> Result<Vec<Batch>> {
        Ok(self.store.due(now, limit)?)
    }

    /// Due work not leased to anyone, leased to this spool for [`Self::LEASE`] (see
    /// [`Self::lease`]).
    pub fn claim(&self, now: i64, limit: usize) -> Result<Vec<Batch>> {
        let lease = Lease {
            holder: &self.holder,
            until: now + Self::lease().as_secs() as i64,
        };
        Ok(self.store.claim_due(now, limit, &lease)?)
    }

    /// The earliest time at which unfinished, unleased work is due.
    pub fn next_due(&self) -> Result<Option<i64>> {
        Ok(self.store.next_due(crate::unix_now())?)
    }

    /// The message with its envelope and body.
    pub fn message(&self, id: &str) -> Result<Option<Message>> {
        Ok(self.store.message(id)?)
    }

    /// The recipients of a message with their states.
    pub fn recipients(&self, id: &str) -> Result<Vec<RecipientStatus>> {
        Ok(self.store.recipients(id)?)
    }

    /// Every queued message, oldest first.
    pub fn list(&self) -> Result<Vec<Summary>> {
        Ok(self.store.list()?)
    }

    /// Makes unfinished recipients due now: of message `id`, or of every message. Returns how
    /// many recipients were rescheduled.
    pub fn retry(&self, id: Option<&str>, now: i64) -> Result<usize> {
        self.store.retry(id, now).map_err(|e| not_found(e, id))
    }

    /// Removes a message without delivering or bouncing it.
    pub fn delete(&self, id: &str) -> Result<()> {
        self.store.delete(id).map_err(|e| not_found(e, Some(id)))
    }

    /// Records the outcome of an attempt for some recipients of message `id`: temporary
    /// failures are rescheduled by `policy` (or failed once the message is older than its
    /// lifetime), DSNs are queued for failures (and for successes asked for with
    /// `NOTIFY=SUCCESS` that the next hop will not report), and a message with no unfinished
    /// recipient left is removed — all in one transaction of the store.
    pub fn record(
        &self,
        id: &str,
        outcomes: &[(u32, Outcome)],
        now: i64,
        policy: &RetryPolicy,
        reporter: &Reporter,
    ) -> Result<()> {
        for _ in 0..STALE_RETRIES {
            // Deleted meanwhile (`pochta queue delete`): nothing to record.
            let Some(message) = self.store.message(id)? else {
                return Ok(());
            };
            let current = self.store.recipients(id)?;
            let (updates, dsns) = consequences(&message, &current, outcomes, now, policy, reporter);
            match self.store.record(id, &self.holder, &updates, &dsns, now)? {
                Recorded::Applied { queued } => {
                    updates
                        .iter()
                        .for_each(|u| pochta_metrics::delivery(u.state.as_str()));
                    for (dsn, to) in queued.iter().zip(&dsns) {
                        let to = to.envelope.recipients.first().map(|r| r.address.as_str());
                        tracing::info!(original = %id, %dsn, to = to.unwrap_or(""), "queue: DSN queued");
                    }
                    return Ok(());
                }
                Recorded::Gone => return Ok(()),
                Recorded::Stale => continue,
            }
        }
        Err(SpoolError::Store(StoreError::Backend(format!(
            "queue: recipients of {id} kept changing while recording an attempt"
        ))))
    }

    /// Queues delay warnings (RFC 3464 `Action: delayed`) for recipients still unfinished
    /// `after` seconds past acceptance, once per recipient, where NOTIFY allows (absent, or
    /// containing DELAY — RFC 3461 §4.1). Returns how many warnings were queued.
    pub fn warn_delayed(&self, now: i64, after: i64, reporter: &Reporter) -> Result<usize> {
        let mut sent = 0;
        for id in self.store.delay_candidates(now - after)? {
            let Some(message) = self.store.message(&id)? else {
                continue;
            };
            let due: Vec<_> = self
                .store
                .recipients(&id)?
                .into_iter()
                .filter(|r| r.state == State::Deferred && !r.warned)
                .collect();
            if due.is_empty() {
                continue;
            }
            let indexes: Vec<u32> = due.iter().map(|r| r.index).collect();
            let report: Vec<_> = due
                .into_iter()
                .filter(|r| r.recipient.notify.is_none_or(|n| n.delay))
                .map(|r| {
                    let reply = r.last_reply.clone().unwrap_or_default();
                    let mta = r.remote_mta.clone();
                    (r, reply, mta)
                })
                .collect();
            let warning = dsn_message(&message, DsnKind::Delayed, &report, now, reporter);
            // `false`: another node warned first, or a recipient was finished meanwhile; the
            // next round looks again.
            if self
                .store
                .mark_warned(&id, &indexes, warning.as_ref(), now)?
                && warning.is_some()
            {
                tracing::info!(original = %id, "queue: delay warning queued");
                sent += 1;
            }
        }
        Ok(sent)
    }
}

fn not_found(e: StoreError, id: Option<&str>) -> SpoolError {
    match (e, id) {
        (StoreError::NotFound(_), Some(id)) => SpoolError::NotFound(id.to_owned()),
        (e, _) => SpoolError::Store(e),
    }
}

/// What `outcomes` mean for the recipients as read (`current`): their new states, and the
/// DSNs to queue with them.
fn consequences(
    message: &Message,
    current: &[RecipientStatus],
    outcomes: &[(u32, Outcome)],
    now: i64,
    policy: &RetryPolicy,
    reporter: &Reporter,
) -> (Vec<RecipientUpdate>, Vec<NewMessage>) {
    let mut updates = Vec::new();
    let mut failed = Vec::new();
    let mut relayed = Vec::new();
    for (idx, outcome) in outcomes {
        let Some(r) = current.iter().find(|r| r.index == *idx) else {
            continue;
        };
        if !r.state.is_open() {
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
                if now - message.created >= policy.max_age.as_secs() as i64 {
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
        updates.push(RecipientUpdate {
            index: *idx,
            state,
            attempts,
            next_attempt: next,
            last_reply: Some(reply),
            remote_mta: mta,
        });
    }
    let failed: Vec<_> = failed
        .into_iter()
        .filter(|(r, _, _)| r.recipient.notify.is_none_or(|n| n.failure))
        .collect();
    let dsns = [
        dsn_message(message, DsnKind::Failed, &failed, now, reporter),
        dsn_message(message, DsnKind::Relayed, &relayed, now, reporter),
    ]
    .into_iter()
    .flatten()
    .collect();
    (updates, dsns)
}

/// A DSN about `rcpts` of `message` to the message's sender; `None` when there is nobody to
/// report on, or the sender is null (RFC 5321 §4.5.5: never bounce a bounce).
fn dsn_message(
    message: &Message,
    kind: DsnKind,
    rcpts: &[(RecipientStatus, String, Option<String>)],
    now: i64,
    reporter: &Reporter,
) -> Option<NewMessage> {
    let sender = message.envelope.sender.as_deref()?;
    if rcpts.is_empty() {
        return None;
    }
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
        recipients: vec![Recipient::new(sender)],
        eight_bit: body.iter().any(|&b| b >= 0x80),
        smtputf8: !sender.is_ascii(),
        ..Envelope::default()
    };
    Some(NewMessage { envelope, body })
}
