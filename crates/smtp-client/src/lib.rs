//! Pochta's SMTP client: the tokio driver over the sans-IO client half of
//! `pochta-smtp-proto` (reply parser, command encoder, DATA body). The outbound queue, the
//! load generator and tests use it; what to do with the replies (policy) stays with them.
//!
//! Implementation notes:
//! - Every read and write has a timeout ([`Client::reply_within`] for a longer one, e.g. the
//!   10 minutes RFC 5321 §4.5.3.2.6 gives the end of data); nothing the server sends can
//!   panic the client or make it buffer without bound (the parser's limits).
//! - [`Client::hello`]: `EHLO`, falling back to `HELO` on a `5xx` (RFC 5321 §4.1.4).
//! - [`Client::transaction`]: with PIPELINING (RFC 2920 §3.1) `MAIL`, every `RCPT` and `DATA`
//!   go in one write and the replies are read in order; without it each command waits for
//!   its reply, no `RCPT` follows a refused `MAIL` and no `DATA` follows when no recipient
//!   was accepted.
//! - STARTTLS / implicit TLS with a [`connector`]: verified against the platform's roots
//!   (plus extra ones), or opportunistic (RFC 7435: encrypted, server not authenticated;
//!   `pochta_net::client::AcceptAnyCert`). After STARTTLS nothing read before the handshake
//!   is used (RFC 3207 §4.2).
//! - Errors are one [`Error`] with a text for logs and DSNs: the caller decides whether the
//!   host failed.
#![forbid(unsafe_code)]

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use pochta_net::client::AcceptAnyCert;
use pochta_smtp_proto::{Capabilities, Command, Reply, ReplyParser};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio_rustls::TlsConnector;

/// Why the conversation with the server failed (I/O, timeout, TLS, a malformed reply).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Error(pub String);

fn io_fail(what: &str, e: impl Display) -> Error {
    Error(format!("{what}: {e}"))
}

pub type Result<T> = std::result::Result<T, Error>;

/// How the server's certificate is checked.
#[derive(Debug, Clone)]
pub enum Verify {
    /// Opportunistic TLS (RFC 7435): encrypt without authenticating the server.
    Nothing,
    /// The platform's roots and these extra ones (tests; private smarthosts).
    Roots(Vec<CertificateDer<'static>>),
}

/// The TLS client configuration for STARTTLS or implicit TLS.
pub fn connector(verify: &Verify) -> Result<TlsConnector> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| io_fail("TLS setup", e))?;
    let config = match verify {
        Verify::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert::new(provider)))
            .with_no_client_auth(),
        Verify::Roots(extra) => {
            let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(
                extra.iter().cloned(),
                provider,
            )
            .map_err(|e| io_fail("TLS roots", e))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        }
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// What the connection is read and written through: TCP, or TLS over it.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The replies to one mail transaction's envelope commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub mail: Reply,
    /// One per `RCPT` sent (none when `MAIL` was refused without PIPELINING).
    pub rcpts: Vec<Reply>,
    /// The reply to `DATA`, if it was sent.
    pub data: Option<Reply>,
}

/// One SMTP connection.
pub struct Client {
    /// Before TLS; taken by the handshake.
    plain: Option<TcpStream>,
    /// After TLS.
    tls: Option<Box<tokio_rustls::client::TlsStream<TcpStream>>>,
    parser: ReplyParser,
    /// For every read and write but [`Client::reply_within`].
    timeout: Duration,
}

impl Client {
    /// Connects over TCP (without reading the greeting: see [`Client::reply`]).
    pub async fn connect(
        addr: impl ToSocketAddrs + Display,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Client> {
        let tcp = match tokio::time::timeout(connect_timeout, TcpStream::connect(&addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(io_fail(&format!("connect to {addr}"), e)),
            Err(_) => return Err(Error(format!("connect to {addr}: timed out"))),
        };
        // Commands are small and answered one by one (or in a pipelined group): do not let
        // Nagle's algorithm hold them back waiting for an ACK.
        let _ = tcp.set_nodelay(true);
        Ok(Client {
            plain: Some(tcp),
            tls: None,
            parser: ReplyParser::default(),
            timeout,
        })
    }

    /// Whether the connection is still usable (a failed handshake consumes it).
    pub fn is_open(&self) -> bool {
        self.plain.is_some() || self.tls.is_some()
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    fn stream(&mut self) -> Result<&mut dyn Io> {
        if let Some(t) = self.tls.as_mut() {
            return Ok(t.as_mut());
        }
        match self.plain.as_mut() {
            Some(p) => Ok(p),
            None => Err(Error("connection lost".into())),
        }
    }

    /// Writes `bytes` and flushes.
    pub async fn send(&mut self, bytes: &[u8]) -> Result<()> {
        let t = self.timeout;
        let s = self.stream()?;
        match tokio::time::timeout(t, async {
            s.write_all(bytes).await?;
            s.flush().await
        })
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(io_fail("write failed", e)),
            Err(_) => Err(Error("timeout while sending".into())),
        }
    }

    /// The next reply.
    pub async fn reply(&mut self) -> Result<Reply> {
        self.reply_within(self.timeout).await
    }

    /// The next reply, waiting at most `timeout` for each read.
    pub async fn reply_within(&mut self, timeout: Duration) -> Result<Reply> {
        loop {
            match self.parser.next_reply() {
                Ok(Some(r)) => return Ok(r),
                Ok(None) => {}
                Err(e) => return Err(Error(e.to_string())),
            }
            let mut chunk = [0u8; 4096];
            let s = self.stream()?;
            let n = match tokio::time::timeout(timeout, s.read(&mut chunk)).await {
                Ok(Ok(0)) => return Err(Error("connection closed by server".into())),
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(io_fail("read failed", e)),
                Err(_) => return Err(Error("timeout waiting for a reply".into())),
            };
            self.parser.feed(&chunk[..n]);
        }
    }

    /// Sends one command and reads its reply.
    pub async fn command(&mut self, cmd: &Command) -> Result<Reply> {
        let mut line = Vec::with_capacity(64);
        cmd.encode(&mut line);
        self.send(&line).await?;
        self.reply().await
    }

    /// `EHLO`, or `HELO` when EHLO is refused with a `5xx` (RFC 5321 §4.1.4); what the server
    /// offers (nothing after HELO).
    pub async fn hello(&mut self, name: &str) -> Result<Capabilities> {
        let r = self.command(&Command::Ehlo(name.to_owned())).await?;
        if r.class() == 2 {
            return Ok(Capabilities::parse(&r));
        }
        if r.class() == 5 {
            let h = self.command(&Command::Helo(name.to_owned())).await?;
            if h.class() == 2 {
                return Ok(Capabilities::default());
            }
            return Err(Error(format!("HELO: {}", h.text())));
        }
        Err(Error(format!("EHLO: {}", r.text())))
    }

    /// Upgrades the connection to TLS (after a `220` to STARTTLS, or at once for implicit
    /// TLS), checking the certificate for `host` as `connector` says.
    pub async fn start_tls(&mut self, connector: &TlsConnector, host: &str) -> Result<()> {
        let h = host.trim_start_matches('[').trim_end_matches(']');
        let name =
            ServerName::try_from(h.to_owned()).map_err(|e| io_fail("bad TLS server name", e))?;
        if self.tls.is_some() {
            return Err(Error("TLS already active".into()));
        }
        let Some(plain) = self.plain.take() else {
            return Err(Error("connection lost".into()));
        };
        // RFC 3207 §4.2 / §6: nothing read before the handshake may be used after it.
        self.parser.clear();
        match tokio::time::timeout(self.timeout, connector.connect(name, plain)).await {
            Ok(Ok(tls)) => {
                self.tls = Some(Box::new(tls));
                Ok(())
            }
            Ok(Err(e)) => Err(io_fail("TLS handshake failed", e)),
            Err(_) => Err(Error("TLS handshake timed out".into())),
        }
    }

    /// Sends `MAIL`, the `RCPT`s and `DATA` (see the module notes for PIPELINING) and
    /// returns their replies. After a `354` the caller sends [`Client::data`].
    pub async fn transaction(
        &mut self,
        mail: &Command,
        rcpts: &[Command],
        pipelining: bool,
    ) -> Result<Transaction> {
        if pipelining {
            // RFC 2920 §3.1: MAIL, RCPT… and DATA may be sent as one group, DATA last.
            let mut batch = Vec::with_capacity(64 * (rcpts.len() + 2));
            mail.encode(&mut batch);
            for c in rcpts {
                c.encode(&mut batch);
            }
            Command::Data.encode(&mut batch);
            self.send(&batch).await?;
            let mail = self.reply().await?;
            let mut replies = Vec::with_capacity(rcpts.len());
            for _ in rcpts {
                replies.push(self.reply().await?);
            }
            let data = Some(self.reply().await?);
            return Ok(Transaction {
                mail,
                rcpts: replies,
                data,
            });
        }
        let mail = self.command(mail).await?;
        let mut replies = Vec::with_capacity(rcpts.len());
        if mail.class() == 2 {
            for c in rcpts {
                replies.push(self.command(c).await?);
            }
        }
        let data = if replies.iter().any(|r| r.class() == 2) {
            Some(self.command(&Command::Data).await?)
        } else {
            None
        };
        Ok(Transaction {
            mail,
            rcpts: replies,
            data,
        })
    }

    /// After `354`: sends the message as [`pochta_smtp_proto::data_bytes`] made it
    /// (dot-stuffed, terminated) and reads the final reply, waiting at most `timeout`.
    pub async fn data(&mut self, stuffed: &[u8], timeout: Duration) -> Result<Reply> {
        self.send(stuffed).await?;
        self.reply_within(timeout).await
    }

    /// `QUIT` and its reply, best effort and within 5 seconds: the outcome is known already.
    pub async fn quit(&mut self) {
        if !self.is_open() {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            if self.send(b"QUIT\r\n").await.is_ok() {
                let _ = self.reply().await;
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests;
