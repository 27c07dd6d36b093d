//! Client connections: TCP, implicit TLS, and the upgrade to TLS for STARTTLS/STLS.
//!
//! Implementation notes:
//! - Certificates are checked against the system's trust store (`/etc/ssl/certs`, read with
//!   rustls-pki-types' PEM parser) and the host name of the source URL. `insecure` replaces the
//!   check with one that accepts any certificate (for a remote with a self-signed one) but still
//!   verifies the handshake signatures, so the session is at least encrypted.
//! - TLS uses rustls with the aws-lc-rs provider, chosen explicitly so the process-wide default
//!   provider does not matter.
//! - Every network read and write runs under a timeout ([`IO_TIMEOUT`]); a silent server
//!   ends the pass with an error instead of hanging it.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use pochta_net::client::{AcceptAnyCert, provider};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::Error;
use crate::source::{SourceUrl, TlsPolicy};

/// Longest a single read or write may wait.
pub const IO_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest a connection attempt (TCP + TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A plain or TLS connection.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Transient state during an upgrade; never read from.
    Closed,
}

impl Stream {
    /// Connects to `host:port`.
    pub async fn connect(host: &str, port: u16) -> Result<Stream, Error> {
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host, port)))
            .await
            .map_err(|_| Error::Io(io::Error::new(io::ErrorKind::TimedOut, "connect timeout")))?
            .map_err(Error::Io)?;
        let _ = tcp.set_nodelay(true);
        Ok(Stream::Plain(tcp))
    }

    /// Connects to a source, with TLS from the first byte when its URL asks for implicit TLS.
    pub async fn open(url: &SourceUrl, insecure: bool) -> Result<Stream, Error> {
        let mut stream = Stream::connect(&url.host, url.port).await?;
        if url.tls == TlsPolicy::Implicit {
            stream.upgrade(&url.host, insecure).await?;
        }
        Ok(stream)
    }

    /// Wraps the connection in TLS (implicit TLS right after connect, or after STARTTLS).
    pub async fn upgrade(&mut self, host: &str, insecure: bool) -> Result<(), Error> {
        let tcp = match std::mem::replace(self, Stream::Closed) {
            Stream::Plain(t) => t,
            other => {
                *self = other;
                return Err(Error::Protocol("TLS is already active".into()));
            }
        };
        let connector = TlsConnector::from(client_config(insecure)?);
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| Error::Config(format!("{host:?} is not a valid server name")))?;
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| Error::Io(io::Error::new(io::ErrorKind::TimedOut, "TLS timeout")))?
            .map_err(|e| Error::Tls(e.to_string()))?;
        *self = Stream::Tls(Box::new(tls));
        Ok(())
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "connection closed")
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Closed => Poll::Ready(Err(closed())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Closed => Poll::Ready(Ok(())),
        }
    }
}

/// The system trust store: every certificate in the usual Debian/Fedora/Alpine bundles.
fn system_roots() -> RootCertStore {
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

fn client_config(insecure: bool) -> Result<Arc<ClientConfig>, Error> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
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

/// Whether to upgrade with `verb` (STARTTLS, STLS) after the greeting, by the URL's policy and
/// what the server offers: `Err` when TLS is required and not offered.
pub fn wants_starttls(policy: TlsPolicy, offered: bool, verb: &str) -> Result<bool, Error> {
    match policy {
        TlsPolicy::Opportunistic | TlsPolicy::Required if offered => Ok(true),
        TlsPolicy::Required => Err(Error::Tls(format!(
            "the server does not offer {verb} and the URL requires TLS"
        ))),
        _ => Ok(false),
    }
}

/// After the server's go-ahead for `verb` nothing may have arrived before the handshake: such
/// bytes were sent in the clear and would be taken as protected (the STARTTLS injection
/// class, CVE-2011-0411).
pub fn nothing_pipelined(buffered: usize, verb: &str) -> Result<(), Error> {
    if buffered == 0 {
        Ok(())
    } else {
        Err(Error::Protocol(format!(
            "data after {verb} before the handshake"
        )))
    }
}

#[cfg(test)]
mod starttls_tests {
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
