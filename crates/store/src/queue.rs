//! The outbound queue's spool: [`QueueStore`] and its data types.
//!
//! The queue crate (`pochta-queue`) owns the policy — retry schedule, give-up time, which DSN
//! to write — and a backend owns the durable state. A backend only applies what it is told,
//! atomically, so every backend keeps the same promises.
//!
//! Rules every backend keeps (the conformance suite `conformance::queue` checks them):
//! - **Durable before `Ok`.** [`QueueStore::enqueue`] returns only after the message and all
//!   its recipients are committed to stable storage; submission answers `250` on that. A crash
//!   at any instant leaves the whole message with every recipient, or nothing.
//! - **The message is stored once**; each recipient has its own row and [`State`]:
//!   `pending` (never tried), `deferred` (temporary failure, `next_attempt` set), `delivered`,
//!   `failed`. A message whose recipients are all final is removed in the same transaction that
//!   made the last one final.
//! - **Work is grouped** by (message, destination domain): one [`Batch`] is one delivery
//!   attempt, one connection.
//! - **Leases** (one node at a time per batch): [`QueueStore::claim_due`] hands out due batches
//!   and leases their recipients to a holder until a given time; a live lease hides them from
//!   every other claim. [`QueueStore::record`] ends the holder's leases on what it records. A lease
//!   that expires (its holder died) makes the recipients claimable again, so another node takes
//!   the message over. A networked backend implements this with a lease column and
//!   `SELECT … FOR UPDATE SKIP LOCKED`; the embedded one, being one process, keeps leases in
//!   memory (a crash ends them, and the restarted process retries at once).
//! - **Outcomes commit with their consequences**: [`QueueStore::record`] applies the new
//!   recipient states, inserts the DSNs they cause and removes a finished message in one
//!   transaction, so a crash can neither lose nor double a bounce. It refuses ([`Recorded::Stale`],
//!   nothing applied) when a recipient is no longer in the state the caller computed from
//!   (another attempt recorded meanwhile, or another holder leased it), so the caller reads
//!   again and recomputes.
//! - **Delay warnings** are marked once per recipient, with the warning DSN, in one transaction
//!   ([`QueueStore::mark_warned`]).
//! - Times are Unix seconds supplied by the caller, so tests drive the clock.
//! - Calls are synchronous and short, like [`crate::MailStore`]'s; backends are `Send + Sync`.

use crate::Result;

// The envelope types are the one SMTP envelope (`pochta_types::envelope`, re-exported by
// `pochta-smtp-proto`): what submission hands over is what the spool stores and what the SMTP
// client sends.
pub use pochta_types::envelope::{Envelope, Notify, Recipient, Ret};

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

    /// The stored form back; anything unknown is `Pending` (tried again rather than lost).
    pub fn parse(s: &str) -> State {
        match s {
            "deferred" => State::Deferred,
            "delivered" => State::Delivered,
            "failed" => State::Failed,
            _ => State::Pending,
        }
    }

    /// Pending or deferred: still to be delivered.
    pub fn is_open(self) -> bool {
        matches!(self, State::Pending | State::Deferred)
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
    /// A delay warning was sent for it.
    pub warned: bool,
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
    /// Recipient indexes, ascending.
    pub recipients: Vec<u32>,
}

/// Who holds a lease and until when ([`QueueStore::claim_due`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease<'a> {
    /// The holder: one per node (process), stable for its lifetime.
    pub holder: &'a str,
    /// Unix seconds at which the lease ends unless the holder recorded first.
    pub until: i64,
}

/// The new state of one recipient after an attempt, as computed by the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientUpdate {
    pub index: u32,
    pub state: State,
    /// The attempt count after this attempt: the recipient's stored count must be one less,
    /// else the update is stale ([`Recorded::Stale`]).
    pub attempts: u32,
    pub next_attempt: i64,
    pub last_reply: Option<String>,
    pub remote_mta: Option<String>,
}

/// A message to queue (a DSN built by the queue, inserted together with the change that
/// caused it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub envelope: Envelope,
    pub body: Vec<u8>,
}

/// What [`QueueStore::record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Applied; the ids of the messages queued with it, in the order given.
    Applied { queued: Vec<String> },
    /// The message is gone (deleted meanwhile, or finished): nothing applied or queued.
    Gone,
    /// A recipient changed since the caller read it, or another holder has a live lease on
    /// it: nothing applied or queued.
    Stale,
}

/// The outbound queue's durable state; see the module notes for the rules.
pub trait QueueStore: Send + Sync + 'static {
    /// Stores a message with all its recipients `pending` and due at `now`; durable when this
    /// returns. Returns the new queue id (unique, printable, at most 64 bytes).
    fn enqueue(&self, envelope: &Envelope, body: &[u8], now: i64) -> Result<String>;

    /// Due work without claiming it: pending or deferred recipients with `next_attempt <= now`
    /// (leased or not), grouped by message and destination domain, oldest message first, at
    /// most `limit` batches.
    fn due(&self, now: i64, limit: usize) -> Result<Vec<Batch>>;

    /// Like [`Self::due`], but skips recipients under a live lease (`until > now`) and leases
    /// those it returns to `lease.holder` until `lease.until`. Two claims never return the
    /// same recipient while its lease lives, whichever node makes them.
    fn claim_due(&self, now: i64, limit: usize, lease: &Lease<'_>) -> Result<Vec<Batch>>;

    /// When the next claim can return something: the earliest time at which an unfinished
    /// recipient is due and not leased (a leased one counts from its lease's end). `None` when
    /// nothing is unfinished.
    fn next_due(&self, now: i64) -> Result<Option<i64>>;

    /// The message with its envelope and body.
    fn message(&self, id: &str) -> Result<Option<Message>>;

    /// The recipients of a message with their states, by index (empty if no such message).
    fn recipients(&self, id: &str) -> Result<Vec<RecipientStatus>>;

    /// Every queued message, oldest first (then by id).
    fn list(&self) -> Result<Vec<Summary>>;

    /// Makes unfinished recipients due at `now`: of message `id` (`NotFound` if none), or of
    /// every message. Returns how many recipients were rescheduled. Leases are not touched.
    fn retry(&self, id: Option<&str>, now: i64) -> Result<usize>;

    /// Removes a message without delivering or bouncing it (`NotFound` if none).
    fn delete(&self, id: &str) -> Result<()>;

    /// The outcome of an attempt, in one transaction: applies each update (every updated
    /// recipient must still be pending or deferred with `attempts - 1` attempts and no live
    /// lease of another holder, else [`Recorded::Stale`]), queues `new` (DSNs) as by
    /// [`Self::enqueue`], ends `holder`'s leases on the updated recipients (other batches of
    /// the message may still be in flight), and removes the message if no recipient is left
    /// unfinished.
    fn record(
        &self,
        id: &str,
        holder: &str,
        updates: &[RecipientUpdate],
        new: &[NewMessage],
        now: i64,
    ) -> Result<Recorded>;

    /// Ids of messages, oldest first, with a non-null sender, accepted at or before
    /// `created_before`, that have a deferred recipient not yet warned about.
    fn delay_candidates(&self, created_before: i64) -> Result<Vec<String>>;

    /// Marks recipients `indexes` of message `id` as warned and queues `warning` (if any), in
    /// one transaction. `false`, with nothing changed, if one of them is no longer deferred
    /// and unwarned (another node warned first, or it was delivered meanwhile).
    fn mark_warned(
        &self,
        id: &str,
        indexes: &[u32],
        warning: Option<&NewMessage>,
        now: i64,
    ) -> Result<bool>;
}
