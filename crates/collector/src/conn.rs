//! Client connections for the collector's sources: TCP, implicit TLS, and the upgrade to TLS for
//! STARTTLS/STLS, from `pochta_net::connect` (shared with `pochta-imap-client`).
//!
//! Implementation notes:
//! - A source URL is a [`pochta_net::connect::Endpoint`]; certificates are checked against the
//!   system's trust store unless the source is `--insecure` (see `pochta_net::connect`).
//! - Every network read and write runs under a timeout ([`IO_TIMEOUT`]); a silent server
//!   ends the pass with an error instead of hanging it.
//! - The source's host name is resolved by the server's resolver (`pochta_dns`, `[dns]
//!   servers`, set once per process by [`crate::oauth::configure`]), not the system's
//!   ([`resolve`]); an IP literal is used as it is, and `localhost` (and `*.localhost`) is
//!   loopback without a query (RFC 6761 §6.3). TLS still checks the certificate against the
//!   host name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
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

/// A source URL with the addresses its host resolved to.
#[derive(Debug, Clone)]
pub struct Resolved<'a> {
    pub url: &'a SourceUrl,
    pub addrs: Vec<IpAddr>,
}

impl pochta_net::connect::Endpoint for Resolved<'_> {
    fn host(&self) -> &str {
        &self.url.host
    }
    fn port(&self) -> u16 {
        self.url.port
    }
    fn tls(&self) -> TlsPolicy {
        self.url.tls
    }
    fn addrs(&self) -> Option<&[IpAddr]> {
        Some(&self.addrs)
    }
}

/// Resolves `url`'s host through the server's resolver (see the module notes).
pub async fn resolve(url: &SourceUrl) -> Result<Resolved<'_>, Error> {
    Ok(Resolved {
        url,
        addrs: resolve_host(&url.host).await?,
    })
}

/// The addresses of `host` by the server's resolver; an IP literal as it is, `localhost`
/// loopback (see the module notes).
pub async fn resolve_host(host: &str) -> Result<Vec<IpAddr>, Error> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Ok(vec![
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ]);
    }
    let dns = pochta_dns::Dns::new(&crate::oauth::dns_config());
    dns.ips(host)
        .await
        .map_err(|e| Error::Io(std::io::Error::other(format!("{host}: {e}"))))
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
