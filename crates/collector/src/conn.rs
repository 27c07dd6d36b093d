//! Client connections for the collector's sources: TCP, implicit TLS, and the upgrade to TLS for
//! STARTTLS/STLS, from `pochta_net::connect` (shared with `pochta-imap-client`).
//!
//! Implementation notes:
//! - A source URL is a [`pochta_net::connect::Endpoint`]; certificates are checked against the
//!   system's trust store unless the source is `--insecure` (see `pochta_net::connect`).
//! - Every network read and write runs under a timeout ([`IO_TIMEOUT`]); a silent server
//!   ends the pass with an error instead of hanging it.

use std::time::Duration;

pub use pochta_net::connect::{
    CONNECT_TIMEOUT, ClientStream as Stream, ConnectError, nothing_pipelined, wants_starttls,
};

use crate::Error;
use crate::source::{SourceUrl, TlsPolicy};

/// Longest a single read or write may wait.
pub const IO_TIMEOUT: Duration = Duration::from_secs(120);

impl pochta_net::connect::Endpoint for SourceUrl {
    fn host(&self) -> &str {
        &self.host
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn tls(&self) -> TlsPolicy {
        self.tls
    }
}

impl From<ConnectError> for Error {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Io(e) => Error::Io(e),
            ConnectError::Tls(m) if m.contains("certificate") => Error::Tls(format!(
                "{m}; if you trust this server's certificate (self-signed, or a private CA), \
                 use --insecure (the connection stays encrypted, the certificate is not checked)"
            )),
            ConnectError::Tls(m) => Error::Tls(m),
            e @ ConnectError::BadName(_) => Error::Config(e.to_string()),
            e @ ConnectError::Pipelined(_) => Error::Protocol(e.to_string()),
        }
    }
}
