//! The seam to outbound delivery: submission hands mail for remote recipients to an
//! [`OutboundQueue`] (implemented by `pochta-queue`, which therefore needs no SMTP session
//! crate).
//!
//! Implementation notes:
//! - `enqueue` must return only after the message and its envelope are durable (fsynced):
//!   the submission session answers `250` on the strength of it (ARCHITECTURE.md "Invariants").
//! - The envelope is the one SMTP envelope type ([`Envelope`], `pochta-smtp-proto`), the
//!   queue stores it as it is: it carries everything needed to honour DSN requests
//!   (RFC 3461): `RET`, `ENVID`, and per recipient `NOTIFY` and `ORCPT`.
//! - A server built without a queue refuses remote recipients at RCPT with `451 4.3.0`
//!   naming the reason (see `pochta_smtp::session`), rather than accepting mail it cannot
//!   send.

use pochta_smtp_proto::Envelope;

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
    fn enqueue(&self, envelope: &Envelope, message: &[u8]) -> Result<QueueId, QueueError>;
}
