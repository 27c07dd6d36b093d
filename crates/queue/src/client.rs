//! The SMTP client: one connection delivers one message to all its recipients at one
//! destination.
//!
//! Implementation notes:
//! - Sequence (RFC 5321 §3, §4.1): greeting `220`, `EHLO` (falling back to `HELO` on a `5xx`,
//!   §4.1.4), `STARTTLS` when offered (RFC 3207; opportunistic for MX hosts, required and
//!   verified for smarthosts), `EHLO` again, `AUTH PLAIN` (RFC 4954) only over TLS, `MAIL`,
//!   one `RCPT` per recipient, `DATA`, `QUIT`.
//! - PIPELINING (RFC 2920): when offered, `MAIL`, every `RCPT` and `DATA` go in one write
//!   and the replies are read in order; otherwise each command waits for its reply.
//! - Parameters only where the server advertised the extension: `SIZE=` (RFC 1870; a message
//!   over the advertised limit fails at once with `5.3.4`), `BODY=8BITMIME` (RFC 6152),
//!   `SMTPUTF8` (RFC 6531; a message needing it fails with `5.6.7` when not offered, §3.2),
//!   and `RET`/`ENVID`/`NOTIFY`/`ORCPT` (RFC 3461) when `DSN` is offered.
//! - A reply is read with a hard limit on line length and count, and a timeout per command
//!   (RFC 5321 §4.5.3.2 gives the minimums: 5 minutes for commands, 10 for the end of data).
//!   Nothing the server sends can panic the client.
//! - Problems with the host itself (cannot connect, bad greeting, EHLO refused, TLS failure,
//!   `421`) are a [`HostFailure`]: the caller tries the next host. Replies to MAIL, RCPT and
//!   the data are per-recipient [`Outcome`]s.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use pochta_net::client::AcceptAnyCert;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use pochta_smtp_proto::{
    Body, Capabilities, Command, MailParams, Path, RcptParams, Reply, ReplyParser, data_bytes,
};

use crate::route::{Route, TlsMode};
use crate::spool::{Envelope, Outcome, Recipient};

/// Settings of the client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Our name in EHLO.
    pub helo: String,
    pub connect_timeout: Duration,
    /// Per command (RFC 5321 §4.5.3.2: at least 5 minutes; we wait less for a greeting).
    pub command_timeout: Duration,
    /// For the reply to the end of data (RFC 5321 §4.5.3.2.6: 10 minutes).
    pub data_timeout: Duration,
    /// Extra trusted roots for verified TLS (tests; private smarthosts).
    pub extra_roots: Vec<CertificateDer<'static>>,
}

impl ClientConfig {
    pub fn new(helo: impl Into<String>) -> ClientConfig {
        ClientConfig {
            helo: helo.into(),
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(600),
            extra_roots: Vec::new(),
        }
    }
}

/// A failure of the host as a whole; the text is for logs and DSNs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFailure(pub String);

/// One message on its way to one host.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    pub envelope: &'a Envelope,
    /// The recipients for this host, with their indexes in the envelope.
    pub recipients: &'a [(u32, &'a Recipient)],
    pub body: &'a [u8],
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A connection with its reply parser.
struct Conn {
    stream: Option<Stream>,
    parser: ReplyParser,
    timeout: Duration,
}

type Res<T> = Result<T, HostFailure>;

fn io_fail(what: &str, e: impl std::fmt::Display) -> HostFailure {
    HostFailure(format!("{what}: {e}"))
}

impl Conn {
    fn stream(&mut self) -> Res<&mut Stream> {
        self.stream
            .as_mut()
            .ok_or_else(|| HostFailure("connection lost".into()))
    }

    async fn send(&mut self, bytes: &[u8]) -> Res<()> {
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
            Err(_) => Err(HostFailure("timeout while sending".into())),
        }
    }

    async fn reply_within(&mut self, timeout: Duration) -> Res<Reply> {
        loop {
            match self.parser.next_reply() {
                Ok(Some(r)) => return Ok(r),
                Ok(None) => {}
                Err(e) => return Err(HostFailure(e.to_string())),
            }
            let mut chunk = [0u8; 4096];
            let s = self.stream()?;
            let n = match tokio::time::timeout(timeout, s.read(&mut chunk)).await {
                Ok(Ok(0)) => return Err(HostFailure("connection closed by server".into())),
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(io_fail("read failed", e)),
                Err(_) => return Err(HostFailure("timeout waiting for a reply".into())),
            };
            self.parser.feed(&chunk[..n]);
        }
    }

    async fn reply(&mut self) -> Res<Reply> {
        self.reply_within(self.timeout).await
    }

    async fn command(&mut self, cmd: &Command) -> Res<Reply> {
        let mut line = Vec::new();
        cmd.encode(&mut line);
        self.send(&line).await?;
        self.reply().await
    }

    async fn start_tls(&mut self, connector: TlsConnector, host: &str) -> Res<()> {
        let name = server_name(host)?;
        let plain = match self.stream.take() {
            Some(Stream::Plain(s)) => s,
            _ => return Err(HostFailure("TLS already active".into())),
        };
        // RFC 3207 §4.2 / §6: nothing read before the handshake may be used after it.
        self.parser.clear();
        match tokio::time::timeout(self.timeout, connector.connect(name, plain)).await {
            Ok(Ok(tls)) => {
                self.stream = Some(Stream::Tls(Box::new(tls)));
                Ok(())
            }
            Ok(Err(e)) => Err(io_fail("TLS handshake failed", e)),
            Err(_) => Err(HostFailure("TLS handshake timed out".into())),
        }
    }
}

fn server_name(host: &str) -> Res<ServerName<'static>> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(h.to_owned()).map_err(|e| io_fail("bad TLS server name", e))
}

/// The TLS client configuration for a mode.
fn connector(mode: TlsMode, cfg: &ClientConfig) -> Res<TlsConnector> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| io_fail("TLS setup", e))?;
    let config = if mode == TlsMode::Opportunistic {
        builder
            .dangerous()
            // Opportunistic TLS (RFC 7435): encrypt without authenticating the server.
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert::new(provider)))
            .with_no_client_auth()
    } else {
        let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(
            cfg.extra_roots.iter().cloned(),
            provider,
        )
        .map_err(|e| io_fail("TLS roots", e))?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Delivers `msg` through one connection to `addr` (the host `route.host`).
pub async fn deliver(
    route: &Route,
    addr: SocketAddr,
    cfg: &ClientConfig,
    msg: &Outgoing<'_>,
) -> Result<Vec<(u32, Outcome)>, HostFailure> {
    let tcp = match tokio::time::timeout(cfg.connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(io_fail(&format!("connect to {addr}"), e)),
        Err(_) => return Err(HostFailure(format!("connect to {addr}: timed out"))),
    };
    let mut conn = Conn {
        stream: Some(Stream::Plain(tcp)),
        parser: ReplyParser::default(),
        timeout: cfg.command_timeout,
    };
    if route.tls == TlsMode::Implicit {
        conn.start_tls(connector(route.tls, cfg)?, &route.host)
            .await?;
    }
    let result = session(&mut conn, route, cfg, msg).await;
    // Best effort: the outcome is already known.
    if conn.stream.is_some() {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            if conn.send(b"QUIT\r\n").await.is_ok() {
                let _ = conn.reply().await;
            }
        })
        .await;
    }
    result
}

async fn session(
    conn: &mut Conn,
    route: &Route,
    cfg: &ClientConfig,
    msg: &Outgoing<'_>,
) -> Result<Vec<(u32, Outcome)>, HostFailure> {
    let mta = Some(route.host.clone());
    let greeting = conn.reply().await?;
    if greeting.code != 220 {
        return Err(HostFailure(format!("greeting: {}", greeting.text())));
    }
    let mut caps = hello(conn, cfg).await?;
    let mut tls = route.tls == TlsMode::Implicit;
    if !tls && caps.starttls && matches!(route.tls, TlsMode::Opportunistic | TlsMode::StartTls) {
        let r = conn.command(&Command::StartTls).await?;
        if r.code == 220 {
            conn.start_tls(connector(route.tls, cfg)?, &route.host)
                .await?;
            tls = true;
            caps = hello(conn, cfg).await?;
        } else if route.tls == TlsMode::StartTls {
            return Err(HostFailure(format!("STARTTLS refused: {}", r.text())));
        }
    }
    if route.tls == TlsMode::StartTls && !tls {
        return Err(HostFailure(format!(
            "{} does not offer STARTTLS, which this route requires",
            route.host
        )));
    }
    if let Some((user, pass)) = &route.auth {
        if !tls && route.tls != TlsMode::None {
            return Err(HostFailure("refusing to send AUTH without TLS".into()));
        }
        let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{pass}"));
        let r = conn
            .command(&Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some(token),
            })
            .await?;
        if r.code != 235 {
            return Err(HostFailure(format!("AUTH failed: {}", r.text())));
        }
    }

    let env = msg.envelope;
    let all = |o: Outcome| -> Vec<(u32, Outcome)> {
        msg.recipients
            .iter()
            .map(|(i, _)| (*i, o.clone()))
            .collect()
    };
    if let Some(limit) = caps.size.filter(|&n| n > 0)
        && msg.body.len() as u64 > limit
    {
        return Ok(all(Outcome::Permanent {
            reply: format!(
                "552 5.3.4 message size {} exceeds the limit of {} ({limit})",
                msg.body.len(),
                route.host
            ),
            mta,
        }));
    }
    let needs_utf8 = env.smtputf8
        || env.sender.as_deref().is_some_and(|s| !s.is_ascii())
        || msg.recipients.iter().any(|(_, r)| !r.address.is_ascii());
    if needs_utf8 && !caps.smtputf8 {
        return Ok(all(Outcome::Permanent {
            reply: format!(
                "553 5.6.7 {} does not support SMTPUTF8, which this message needs",
                route.host
            ),
            mta,
        }));
    }

    let mail = Command::Mail {
        from: env.sender.as_deref().map(Path::from_address),
        params: MailParams {
            size: caps.size.map(|_| msg.body.len() as u64),
            body: (env.eight_bit && caps.eight_bit_mime).then_some(Body::EightBitMime),
            smtputf8: needs_utf8,
            ret: env.ret.filter(|_| caps.dsn),
            envid: env.envid.clone().filter(|_| caps.dsn),
            auth: None,
        },
    };
    let rcpt_cmds: Vec<Command> = msg
        .recipients
        .iter()
        .map(|(_, r)| Command::Rcpt {
            to: Path::from_address(&r.address),
            params: RcptParams {
                notify: r
                    .notify
                    .filter(|_| caps.dsn)
                    .map(|n| n.keywords().split(',').map(str::to_owned).collect()),
                orcpt: r.orcpt.clone().filter(|_| caps.dsn),
            },
        })
        .collect();

    let mail_reply;
    let mut rcpt_replies = Vec::with_capacity(rcpt_cmds.len());
    let data_reply;
    if caps.pipelining {
        // RFC 2920 §3.1: MAIL, RCPT… and DATA may be sent as one group.
        let mut batch = Vec::new();
        mail.encode(&mut batch);
        for c in &rcpt_cmds {
            c.encode(&mut batch);
        }
        Command::Data.encode(&mut batch);
        conn.send(&batch).await?;
        mail_reply = conn.reply().await?;
        for _ in &rcpt_cmds {
            rcpt_replies.push(conn.reply().await?);
        }
        data_reply = Some(conn.reply().await?);
    } else {
        mail_reply = conn.command(&mail).await?;
        if mail_reply.class() == 2 {
            for c in &rcpt_cmds {
                rcpt_replies.push(conn.command(c).await?);
            }
        }
        data_reply = if rcpt_replies.iter().any(|r| r.class() == 2) {
            Some(conn.command(&Command::Data).await?)
        } else {
            None
        };
    }
    if mail_reply.code == 421 {
        return Err(HostFailure(mail_reply.text()));
    }
    if mail_reply.class() != 2 {
        // A rejected sender concerns every recipient.
        let reply = mail_reply.text();
        let o = if mail_reply.class() == 4 {
            Outcome::Temporary { reply, mta }
        } else {
            Outcome::Permanent { reply, mta }
        };
        if data_reply.as_ref().is_some_and(|r| r.code == 354) {
            // Should not happen after a failed MAIL; abort the data phase cleanly.
            conn.send(b".\r\n").await?;
            let _ = conn.reply().await;
        }
        return Ok(all(o));
    }
    let mut out = Vec::with_capacity(msg.recipients.len());
    let mut accepted = Vec::new();
    for ((i, _), r) in msg.recipients.iter().zip(&rcpt_replies) {
        match r.class() {
            2 => accepted.push(*i),
            4 => out.push((
                *i,
                Outcome::Temporary {
                    reply: r.text(),
                    mta: mta.clone(),
                },
            )),
            _ => out.push((
                *i,
                Outcome::Permanent {
                    reply: r.text(),
                    mta: mta.clone(),
                },
            )),
        }
    }
    let Some(data_reply) = data_reply else {
        return Ok(out);
    };
    if accepted.is_empty() {
        if data_reply.code == 354 {
            // RFC 2920 §3.1: DATA was accepted although no recipient was; send an empty
            // message's end so the server does not deliver anything it has no recipient for.
            conn.send(b".\r\n").await?;
            let _ = conn.reply().await;
        }
        return Ok(out);
    }
    let final_reply = if data_reply.code == 354 {
        conn.send(&data_bytes(msg.body)).await?;
        conn.reply_within(cfg.data_timeout).await?
    } else {
        data_reply
    };
    let reply = final_reply.text();
    for i in accepted {
        let o = match final_reply.class() {
            2 => Outcome::Delivered {
                reply: reply.clone(),
                mta: mta.clone(),
                relayed: !caps.dsn,
            },
            4 => Outcome::Temporary {
                reply: reply.clone(),
                mta: mta.clone(),
            },
            _ => Outcome::Permanent {
                reply: reply.clone(),
                mta: mta.clone(),
            },
        };
        out.push((i, o));
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out)
}

/// EHLO, or HELO when EHLO is refused with a `5xx` (RFC 5321 §4.1.4).
async fn hello(conn: &mut Conn, cfg: &ClientConfig) -> Res<Capabilities> {
    let r = conn.command(&Command::Ehlo(cfg.helo.clone())).await?;
    if r.class() == 2 {
        return Ok(Capabilities::parse(&r));
    }
    if r.class() == 5 {
        let h = conn.command(&Command::Helo(cfg.helo.clone())).await?;
        if h.class() == 2 {
            return Ok(Capabilities::default());
        }
        return Err(HostFailure(format!("HELO: {}", h.text())));
    }
    Err(HostFailure(format!("EHLO: {}", r.text())))
}
