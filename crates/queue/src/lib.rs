//! Pochta's outbound delivery: the durable queue submission hands remote mail to,
//! routing by `[smtp.routes]` or MX, the SMTP client, retries, DSN bounces and DKIM signing.
//!
//! Implementation notes (what always holds):
//! - **Durable before 250**: [`Queue::submit`] (and so `OutboundQueue::enqueue`, which the
//!   submission session calls before it answers) returns only after the message and its
//!   envelope are committed to stable storage by the [`pochta_store::QueueStore`] behind the
//!   [`Spool`] (the embedded backend: fsynced in `data_dir/queue.sqlite3`).
//! - **Per-recipient state** (`pending`, `deferred` with the next attempt, `delivered`,
//!   `failed`); a message leaves the queue when its last recipient is final. A crash between
//!   a server's `250` and our commit can repeat one delivery (RFC 5321 §6.1 accepts this;
//!   it cannot be avoided without two-phase commit), never lose one.
//! - **Never bounce a bounce**: DSNs go out with the null sender and a failed message from
//!   the null sender produces no DSN (RFC 5321 §4.5.5, RFC 3461 §5.2.1).
//! - **DKIM** signatures are added once, at enqueue, for the `From:` domain's keys ([`dkim`]);
//!   a signing problem is logged and the message goes out unsigned rather than being refused.
//! - **No real DNS in tests**: routing takes a [`route::Resolver`]; tests use
//!   [`route::StaticResolver`] and `[smtp.routes]`.
#![forbid(unsafe_code)]

pub mod client;
pub mod dkim;
pub mod dsn;
pub mod route;
pub mod schedule;
pub mod spool;
pub mod worker;

use std::path::Path;
use std::sync::Arc;

use pochta_delivery::{OutboundQueue, QueueError, QueueId};
use tokio::sync::Notify as Wake;

pub use pochta_delivery::Delivery;
pub use route::{DnsResolver, Resolver, Route, Routes, StaticResolver, TlsMode};
pub use schedule::RetryPolicy;
pub use spool::{Envelope, Notify, Outcome, Recipient, Ret, Spool, SpoolError, State};
pub use worker::{LocalDelivery, Worker, WorkerSettings, unix_now};

/// The outbound queue: what submission enqueues into and the worker delivers from.
#[derive(Clone)]
pub struct Queue {
    spool: Arc<Spool>,
    signer: dkim::Signer,
    wake: Arc<Wake>,
}

impl Queue {
    /// The queue over `store`, with DKIM keys under `data_dir/dkim`.
    pub fn new(store: Arc<dyn pochta_store::QueueStore>, data_dir: &Path) -> Queue {
        Queue {
            spool: Arc::new(Spool::new(store)),
            signer: dkim::Signer::new(data_dir),
            wake: Arc::new(Wake::new()),
        }
    }

    /// The database, for listing and management.
    pub fn spool(&self) -> &Arc<Spool> {
        &self.spool
    }

    /// DKIM-signs `message` and stores it; durable when this returns. Returns the queue id.
    pub fn submit(&self, envelope: &Envelope, message: &[u8]) -> Result<String, SpoolError> {
        let signatures = match self.signer.sign(message) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "DKIM signing failed; sending unsigned");
                String::new()
            }
        };
        let id = if signatures.is_empty() {
            self.spool.insert(envelope, message, unix_now())?
        } else {
            let mut signed = Vec::with_capacity(signatures.len() + message.len());
            signed.extend_from_slice(signatures.as_bytes());
            signed.extend_from_slice(message);
            self.spool.insert(envelope, &signed, unix_now())?
        };
        self.wake.notify_one();
        Ok(id)
    }

    /// The delivery worker for this queue; run it with [`Worker::run`].
    pub fn worker<R: Resolver, L: LocalDelivery>(
        &self,
        settings: WorkerSettings,
        resolver: R,
        local: L,
    ) -> Worker<R, L> {
        Worker::new(
            Arc::clone(&self.spool),
            Arc::clone(&self.wake),
            settings,
            resolver,
            local,
        )
    }
}

/// The submission seam (`pochta_delivery::OutboundQueue`): the envelope is stored as given.
impl OutboundQueue for Queue {
    fn enqueue(&self, envelope: &Envelope, message: &[u8]) -> Result<QueueId, QueueError> {
        self.submit(envelope, message)
            .map(QueueId)
            .map_err(|e| QueueError(e.to_string()))
    }
}
