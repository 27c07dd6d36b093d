//! Pochta's POP3 server (RFC 1939 with CAPA, RESP-CODES and PIPELINING from RFC 2449, SASL
//! from RFC 5034, STLS from RFC 2595, response codes from RFC 3206).
//!
//! Implementation notes (what always holds):
//! - Layers: the grammar is `pochta-pop3-proto` (line framer, command parser, status lines
//!   with response codes, dot-stuffed multi-line responses), which knows no state;
//!   [`session`] is the sans-IO state machine AUTHORIZATION → TRANSACTION → UPDATE (it calls
//!   the store synchronously but never touches a socket); [`driver`] is the thin tokio loop.
//! - The maildrop is INBOX, the same mailbox IMAP serves, snapshotted at login
//!   ([`maildrop`]): message numbers and sizes stay fixed for the session; UIDL values are
//!   `{UIDVALIDITY}.{UID}` and so stable forever.
//! - Only `QUIT` from TRANSACTION deletes, and only the messages this session marked with
//!   `DELE`; any other end of the connection deletes nothing (RFC 1939 §6).
//! - One POP3 session per account at a time (RFC 1939 §8): a second gets `-ERR [IN-USE]`.
//!   IMAP sessions are never locked out.
//! - Failures become `-ERR` lines in exactly one place ([`session::Session`]'s `fail`).
#![forbid(unsafe_code)]

pub mod driver;
pub mod maildrop;
pub mod session;

use std::sync::Arc;

use pochta_auth::{AuthCache, Throttle};
use pochta_net::{Connection, Service};
use pochta_store::MailStore;

pub use pochta_auth::PlaintextPolicy;
pub use session::{Pop3Config, Session, Shared};

/// The POP3 service the binary wires to the `pop3` and `pop3s` listeners.
pub struct Pop3Service<S> {
    shared: Arc<Shared<S>>,
}

impl<S: MailStore> Pop3Service<S> {
    /// `throttle` and `auth_cache` are shared with the other protocols of the server.
    pub fn new(
        store: Arc<S>,
        config: Pop3Config,
        throttle: Arc<Throttle>,
        auth_cache: Arc<AuthCache>,
    ) -> Self {
        Pop3Service {
            shared: Arc::new(Shared {
                store,
                config,
                throttle,
                auth_cache,
                locks: maildrop::Locks::default(),
            }),
        }
    }

    /// Whether a POP3 session holds the account's maildrop (for tests and diagnostics).
    pub fn is_locked(&self, account: pochta_types::AccountId) -> bool {
        self.shared.locks.is_locked(account)
    }
}

impl<S: MailStore> Service for Pop3Service<S> {
    fn handle(&self, conn: Connection) -> impl Future<Output = ()> + Send {
        driver::serve(self.shared.clone(), conn)
    }
}
