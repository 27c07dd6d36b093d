//! Pochta's SMTP server: the inbound MTA (`smtp` listener) and message submission
//! (`submission` with STARTTLS, `submissions` with implicit TLS), delivering to local
//! mailboxes and handing remote recipients to an outbound queue.
//!
//! Implementation notes (what always holds):
//! - The grammar and framing live in `pochta-smtp-proto` (sans-IO); this crate holds the
//!   session state machine ([`session`]), inbound checks ([`authcheck`]), submission rules
//!   ([`submission`]) and the tokio [`driver`]. Recipient resolution and local delivery are
//!   `pochta-delivery`'s, as is the seam to the outbound queue ([`OutboundQueue`]).
//! - **Never an open relay**: without AUTH only recipients in local domains are accepted;
//!   AUTH is offered only on submission listeners.
//! - **Durable before 250**: the reply to the end of a message is written only after
//!   `pochta_delivery::Delivery::deliver` (fsynced, one blob for all local recipients) and
//!   the queue's `enqueue` (durable by contract) returned.
//! - **Trace**: every delivered message gets `Return-Path:` and `Received:` (RFC 5321 §4.4);
//!   inbound mail also `Authentication-Results:` (RFC 8601) when checks are enabled.
//! - Failed AUTH attempts go through the server-wide [`Throttle`] and verified passwords
//!   through the shared [`AuthCache`], so guessing cannot be spread across protocols.
//! - Remote recipients in submission need an [`OutboundQueue`]; a server built without one
//!   refuses them at RCPT with `451 4.3.0` saying so.
#![forbid(unsafe_code)]

pub mod authcheck;
mod burl;
pub mod driver;
pub mod session;
mod spool;
pub mod submission;

use std::sync::Arc;
use std::time::Duration;

use pochta_auth::{AuthCache, PlaintextPolicy, Throttle};
use pochta_net::{Connection, Service};
use pochta_store::MailStore;

pub use authcheck::{AuthOutcome, Verifier};
pub use pochta_delivery::{OutboundQueue, QueueError, QueueId};
pub use session::{Next, Session};

/// Which role a listener plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Port 25: mail from other servers to local recipients; no AUTH; SPF/DKIM/DMARC checks.
    Mta,
    /// Ports 587/465: mail from our users; AUTH required (RFC 6409).
    Submission,
}

/// Settings of the SMTP service.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub hostname: String,
    pub plaintext: PlaintextPolicy,
    /// Largest message (SIZE, RFC 1870).
    pub max_message: u64,
    /// Recipients per message (RFC 5321 §4.5.3.1.8 requires at least 100).
    pub max_recipients: usize,
    /// Failed commands before the session is closed with `421`.
    pub max_errors: u32,
    /// Commands other than MAIL/RCPT/DATA/BDAT allowed between transactions.
    pub max_idle_commands: u32,
    /// Longest command line.
    pub max_line: usize,
    /// How long to wait for the next command (RFC 5321 §4.5.3.2.7: at least 5 minutes).
    pub idle_timeout: Duration,
    /// Submission: the total time from the greeting to a successful AUTH.
    pub login_timeout: Duration,
    /// MTA only: how long to wait before the greeting, refusing clients that talk first.
    pub greeting_delay: Duration,
    /// Refuse mail whose DMARC check fails under `p=reject` (otherwise only record it).
    pub dmarc_reject: bool,
    /// Submission: save a copy of each submitted message to the sender's Sent mailbox.
    pub save_sent: bool,
    /// Where bodies being received are spooled once they reach `spool_threshold` bytes
    /// (`data_dir/tmp`); `None` keeps them in memory.
    pub spool_dir: Option<std::path::PathBuf>,
    pub spool_threshold: usize,
    /// The server-wide budget for spooled messages read back into memory to be checked and
    /// stored (shared with IMAP and the collector; see `pochta_net::budget`).
    pub message_budget: pochta_net::MessageBudget,
    /// Bytes/s a DATA body or BDAT chunk must arrive at, after `data_rate_grace`; slower
    /// gets `451 4.4.2` and the connection is closed.
    pub min_data_rate: u64,
    pub data_rate_grace: Duration,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            hostname: "localhost".into(),
            plaintext: PlaintextPolicy::TlsOrLoopback,
            max_message: 50 * 1024 * 1024,
            max_recipients: 100,
            max_errors: 10,
            max_idle_commands: 100,
            max_line: 16 * 1024,
            idle_timeout: Duration::from_secs(300),
            login_timeout: Duration::from_secs(60),
            greeting_delay: Duration::ZERO,
            dmarc_reject: false,
            save_sent: false,
            spool_dir: None,
            spool_threshold: 256 * 1024,
            message_budget: pochta_net::MessageBudget::unlimited(),
            min_data_rate: 1024,
            data_rate_grace: Duration::from_secs(30),
        }
    }
}

/// What every session of one listener kind shares.
pub struct Shared<S> {
    pub store: Arc<S>,
    pub config: SmtpConfig,
    pub kind: Kind,
    pub throttle: Arc<Throttle>,
    pub auth_cache: Arc<AuthCache>,
    pub verifier: Arc<Verifier>,
    pub queue: Option<Arc<dyn OutboundQueue>>,
}

/// The SMTP service the binary wires to a listener (one per [`Kind`]).
pub struct SmtpService<S> {
    shared: Arc<Shared<S>>,
}

impl<S: MailStore> SmtpService<S> {
    pub fn new(shared: Shared<S>) -> Self {
        SmtpService {
            shared: Arc::new(shared),
        }
    }
}

impl<S: MailStore> Service for SmtpService<S> {
    fn handle(&self, conn: Connection) -> impl Future<Output = ()> + Send {
        driver::serve(self.shared.clone(), conn)
    }
}
