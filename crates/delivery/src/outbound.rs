//! The seam to outbound delivery: submission hands mail for remote recipients to an
//! [`OutboundQueue`] (implemented by `pochta-queue`, which therefore needs no SMTP session
//! crate).
//!
//! Implementation notes:
//! - `enqueue` must return only after the message and its envelope are durable (fsynced):
//!   the submission session answers `250` on the strength of it (ARCHITECTURE.md "Invariants").
//! - The envelope carries everything the queue needs to honour DSN requests (RFC 3461):
//!   `RET`, `ENVID`, and per recipient `NOTIFY` and `ORCPT`.
//! - A server built without a queue refuses remote recipients at RCPT with `451 4.3.0`
//!   naming the reason (see `pochta_smtp::session`), rather than accepting mail it cannot
//!   send.

use pochta_smtp_proto::{Path, RcptParams, Ret};

/// A remote recipient with its DSN parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRecipient {
    pub address: Path,
    pub params: RcptParams,
}

/// The envelope of a submitted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedEnvelope {
    /// The reverse-path; `None` is the null sender `<>`.
    pub from: Option<Path>,
    pub recipients: Vec<QueuedRecipient>,
    pub ret: Option<Ret>,
    pub envid: Option<String>,
    /// The message needs SMTPUTF8 from the next hop (RFC 6531 §3.4).
    pub smtputf8: bool,
    /// The message has 8-bit content (RFC 6152).
    pub eight_bit: bool,
}

/// The queue's id for an accepted message (reported in the `250` reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueId(pub String);

/// Why a message could not be queued; the session answers `451 4.3.0`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QueueError(pub String);

/// Durable outbound queue (implemented by `pochta-queue`).
pub trait OutboundQueue: Send + Sync + 'static {
    /// Stores the message for delivery; returns only once it is durable.
    fn enqueue(&self, envelope: &QueuedEnvelope, message: &[u8]) -> Result<QueueId, QueueError>;
}
