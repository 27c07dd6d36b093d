//! Pochta's IMAP4rev1 server (RFC 3501): sessions over the store, driven by tokio.
//!
//! Implementation notes (what always holds):
//! - The protocol grammar lives in `pochta-imap-proto` (sans-IO); this crate holds the
//!   session state machine ([`session`]), one module per command family named as in
//!   `pochta-imap-proto` and in `tests/` (`select_examine`, `mailbox`, `list`, `status`,
//!   `append`, `fetch`, `store`, `copy_move`, `search`, `sort`, `thread`, `expunge`, `acl`,
//!   `quota`, `enable`, `idle`, `namespace`, `id`, `compress`, `login`), the tokio [`driver`],
//!   and `pipeline`: which pipelined commands run concurrently (RFC 9051 §5.5) and how.
//! - UIDs and MODSEQs come only from the store, which assigns them strictly ascending; a
//!   session never invents one. Sequence numbers exist only in a session's [`view::View`] and
//!   change only when the client is told (EXISTS / EXPUNGE).
//! - No EXPUNGE response during FETCH, STORE, SEARCH, SORT or THREAD (RFC 3501 §7.4.1); other
//!   sessions' changes are reported at the end of every command in the selected state and in
//!   IDLE (for a group of concurrent pipelined reads, once after the group and without
//!   EXPUNGE: `pipeline`).
//! - `\Recent` belongs to the first session that sees a message (store `claim_recent`).
//! - Plaintext passwords only under TLS, or where the configured policy allows
//!   (`LOGINDISABLED` is advertised otherwise).
//! - A mailbox name is data. A name resolves to a mailbox only through `acl` (`Session::find`):
//!   one's own mailboxes with every right, another account's (under `Other Users/<owner>/`)
//!   only with the rights its ACL grants (RFC 4314), re-read on every command; without "l"
//!   another account's mailbox is answered exactly like a missing one.
#![forbid(unsafe_code)]

mod acl;
pub mod anonymous;
mod append;
mod catenate;
mod compress;
mod context;
mod copy_move;
pub mod dates;
pub mod driver;
mod enable;
mod expunge;
mod fetch;
mod fuzzy;
mod id;
mod idle;
mod list;
mod list_myrights;
mod login;
mod mailbox;
mod metadata;
mod multisearch;
mod namespace;
mod notify;
mod partial;
mod pipeline;
mod quota;
mod replace;
mod search;
mod select_examine;
pub mod session;
mod sort;
mod spool;
mod status;
mod store;
pub mod text;
mod thread;
mod uidonly;
mod urlauth;
pub mod view;

use std::sync::{Arc, OnceLock};

use pochta_auth::{AuthCache, Throttle};
use pochta_imap_proto::response::{self, Code, Status};
use pochta_net::{Connection, Service};
use pochta_store::MailStore;

pub use session::{ImapConfig, PlaintextPolicy, Session, Shared};

/// What a connection over its address's connection limit is told before the close
/// (RFC 5530 UNAVAILABLE): `* BYE [UNAVAILABLE] ...`, written once by imap-proto's writer.
pub fn refusal() -> &'static [u8] {
    static LINE: OnceLock<Vec<u8>> = OnceLock::new();
    LINE.get_or_init(|| {
        let mut out = Vec::new();
        response::write_status(
            &mut out,
            None,
            Status::Bye,
            Some(&Code::Unavailable),
            "Too many connections from your address, try again later",
        );
        out
    })
}

/// The IMAP service the binary wires to the `imap` and `imaps` listeners.
pub struct ImapService<S> {
    shared: Arc<Shared<S>>,
}

impl<S: MailStore> ImapService<S> {
    /// `throttle` and `auth_cache` are shared with the other protocols of the server.
    pub fn new(
        store: Arc<S>,
        config: ImapConfig,
        throttle: Arc<Throttle>,
        auth_cache: Arc<AuthCache>,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                store,
                config,
                throttle,
                auth_cache,
                anonymous_logins: Default::default(),
                search: None,
                threads: Default::default(),
            }),
        }
    }

    /// Text search keys go through `index` (see [`search`]). Call before serving.
    pub fn with_search(mut self, index: Arc<dyn pochta_store::SearchIndex>) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.search = Some(index);
        }
        self
    }
}

impl<S: MailStore> Service for ImapService<S> {
    fn handle(&self, conn: Connection) -> impl Future<Output = ()> + Send {
        driver::serve(self.shared.clone(), conn)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn refusal_line() {
        assert_eq!(
            super::refusal(),
            b"* BYE [UNAVAILABLE] Too many connections from your address, try again later\r\n"
        );
    }
}
