//! Client connections: TCP, implicit TLS, and the upgrade to TLS after STARTTLS/STLS, for every
//! Pochta client (the collector's IMAP and POP3 sources, `pochta-imap-client`).
//!
//! Implementation notes:
//! - Certificates are checked against the system's trust store (`/etc/ssl/certs`, read with
//!   rustls-pki-types' PEM parser) and the host name. `insecure` replaces the check with
//!   [`AcceptAnyCert`] (for a remote with a self-signed certificate), which still verifies the
//!   handshake signatures, so the session is at least encrypted.
//! - TLS uses rustls with the aws-lc-rs provider ([`provider`]), chosen explicitly so the
//!   process-wide default provider does not matter.
//! - Connecting (TCP, then the TLS handshake) runs under [`CONNECT_TIMEOUT`]; reads and writes
//!   are timed by the protocol client, which knows its own deadlines.
//! - STARTTLS (RFC 9051 §6.2.1, RFC 2595 §4, RFC 3207 §4.2): [`wants_starttls`] decides by
//!   [`TlsPolicy`] and the server's offer; after the go-ahead nothing may be buffered
//!   ([`nothing_pipelined`], the injection class of CVE-2011-0411).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::client::{AcceptAnyCert, provider};

/// Longest a connection attempt (TCP, and TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// When a client connection uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPolicy {
    /// TLS from the first byte (imaps, pop3s).
    Implicit,
    /// STARTTLS if offered, else plain text.
    Opportunistic,
    /// STARTTLS, or fail.
    Required,
    /// Never upgrade.
    None,
}

/// Where a client connects.
pub trait Endpoint {
    /// The server's name: what TLS checks the certificate against, and what is resolved
    /// when [`Endpoint::addrs`] is `None`.
    fn host(&self) -> &str;
    fn port(&self) -> u16;
    fn tls(&self) -> TlsPolicy;
    /// The addresses the caller already resolved [`Endpoint::host`] to, through its own
    /// resolver (the collector uses the server's, `[dns] servers`), tried in order; `None`:
    /// the host is resolved by the system's resolver.
    fn addrs(&self) -> Option<&[IpAddr]> {
        None
    }
}

/// Why a connection could not be made or secured.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("network: {0}")]
    Io(#[from] io::Error),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0:?} is not a valid server name")]
    BadName(String),
    #[error("data after {0} before the handshake")]
    Pipelined(String),
}

/// A plain or TLS client connection.
#[derive(Debug)]
pub enum ClientStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Transient state during an upgrade; never read from.
    Closed,
}

impl ClientStream {
    /// Connects to `host:port` (plain TCP, no delay).
    pub async fn connect(host: &str, port: u16) -> Result<ClientStream, ConnectError> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timeout"))??;
        let _ = tcp.set_nodelay(true);
        Ok(ClientStream::Plain(tcp))
    }

    /// Connects to the first of `addrs` that answers, on `port` (plain TCP, no delay).
    pub async fn connect_addrs(addrs: &[IpAddr], port: u16) -> Result<ClientStream, ConnectError> {
        let targets: Vec<SocketAddr> = addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(targets.as_slice()))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timeout"))??;
        let _ = tcp.set_nodelay(true);
        Ok(ClientStream::Plain(tcp))
    }

    /// Connects to `ep` (its [`Endpoint::addrs`] when given, else its host by name), with
    /// TLS from the first byte when its policy is implicit TLS.
    pub async fn open(ep: &impl Endpoint, insecure: bool) -> Result<ClientStream, ConnectError> {
        let mut stream = match ep.addrs() {
            Some(addrs) => ClientStream::connect_addrs(addrs, ep.port()).await?,
            None => ClientStream::connect(ep.host(), ep.port()).await?,
        };
        if ep.tls() == TlsPolicy::Implicit {
            stream.upgrade(ep.host(), insecure).await?;
        }
        Ok(stream)
    }

    /// Wraps the connection in TLS (implicit TLS right after connect, or after STARTTLS).
    pub async fn upgrade(&mut self, host: &str, insecure: bool) -> Result<(), ConnectError> {
        let tcp = match std::mem::replace(self, ClientStream::Closed) {
            ClientStream::Plain(t) => t,
            other => {
                *self = other;
                return Err(ConnectError::Tls("TLS is already active".into()));
            }
        };
        let connector = TlsConnector::from(client_config(insecure)?);
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| ConnectError::BadName(host.to_owned()))?;
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS timeout"))?
            .map_err(|e| ConnectError::Tls(e.to_string()))?;
        *self = ClientStream::Tls(Box::new(tls));
        Ok(())
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, ClientStream::Tls(_))
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection closed")
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            ClientStream::Closed => Poll::Ready(Err(closed())),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            ClientStream::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            ClientStream::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ClientStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            ClientStream::Closed => Poll::Ready(Ok(())),
        }
    }
}

/// The system trust store: every certificate in the usual Debian/Fedora/Alpine bundles.
pub fn system_roots() -> RootCertStore {
    use rustls_pki_types::pem::PemObject;
    let mut roots = RootCertStore::empty();
    for bundle in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ] {
        if !Path::new(bundle).exists() {
            continue;
        }
        if let Ok(iter) = CertificateDer::pem_file_iter(bundle) {
            for cert in iter.flatten() {
                let _ = roots.add(cert);
            }
        }
        if !roots.is_empty() {
            break;
        }
    }
    roots
}

fn client_config(insecure: bool) -> Result<Arc<ClientConfig>, ConnectError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::Tls(e.to_string()))?;
    let config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert::new(provider())))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(system_roots())
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

/// Whether to upgrade with `verb` (STARTTLS, STLS) after the greeting, by `policy` and what the
/// server offers: `Err` when TLS is required and not offered.
pub fn wants_starttls(policy: TlsPolicy, offered: bool, verb: &str) -> Result<bool, ConnectError> {
    match policy {
        TlsPolicy::Opportunistic | TlsPolicy::Required if offered => Ok(true),
        TlsPolicy::Required => Err(ConnectError::Tls(format!(
            "the server does not offer {verb} and the URL requires TLS"
        ))),
        _ => Ok(false),
    }
}

/// After the server's go-ahead for `verb` nothing may have arrived before the handshake: such
/// bytes were sent in the clear and would be taken as protected (the STARTTLS injection
/// class, CVE-2011-0411).
pub fn nothing_pipelined(buffered: usize, verb: &str) -> Result<(), ConnectError> {
    if buffered == 0 {
        Ok(())
    } else {
        Err(ConnectError::Pipelined(verb.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starttls_by_policy_and_offer() {
        use TlsPolicy::*;
        assert!(wants_starttls(Opportunistic, true, "STLS").unwrap());
        assert!(!wants_starttls(Opportunistic, false, "STLS").unwrap());
        assert!(wants_starttls(Required, true, "STARTTLS").unwrap());
        let e = wants_starttls(Required, false, "STARTTLS").unwrap_err();
        assert!(e.to_string().contains("does not offer STARTTLS"), "{e}");
        assert!(!wants_starttls(None, true, "STLS").unwrap());
        assert!(!wants_starttls(Implicit, true, "STLS").unwrap());
        assert!(nothing_pipelined(0, "STLS").is_ok());
        assert!(nothing_pipelined(3, "STLS").is_err());
    }
}
