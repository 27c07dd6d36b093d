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

use crate::route::{Route, TlsMode};
use crate::spool::{Envelope, Outcome, Recipient, Ret};

/// Longest reply line accepted (RFC 5321 §4.5.3.1.5 says 512; servers exceed it).
const MAX_LINE: usize = 8192;
/// Most lines in one reply (a long EHLO list is ~30).
const MAX_LINES: usize = 200;

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

/// A parsed reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// `250 2.0.0 text` on one line (multi-line texts joined by spaces).
    pub fn text(&self) -> String {
        let mut s = self.code.to_string();
        for l in &self.lines {
            if !l.is_empty() {
                s.push(' ');
                s.push_str(l);
            }
        }
        s
    }

    fn class(&self) -> u16 {
        self.code / 100
    }
}

/// What the server offered after EHLO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub esmtp: bool,
    pub starttls: bool,
    pub pipelining: bool,
    /// `SIZE` limit; 0 means none given.
    pub size: Option<u64>,
    pub eight_bit_mime: bool,
    pub smtputf8: bool,
    pub dsn: bool,
    pub auth_plain: bool,
}

impl Capabilities {
    /// From an EHLO reply (RFC 5321 §4.1.1.1: the first line is the greeting).
    pub fn parse(reply: &Reply) -> Capabilities {
        let mut c = Capabilities {
            esmtp: true,
            ..Capabilities::default()
        };
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let Some(kw) = words.next() else { continue };
            match kw.to_ascii_uppercase().as_str() {
                "STARTTLS" => c.starttls = true,
                "PIPELINING" => c.pipelining = true,
                "SIZE" => c.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "8BITMIME" => c.eight_bit_mime = true,
                "SMTPUTF8" => c.smtputf8 = true,
                "DSN" => c.dsn = true,
                "AUTH" => c.auth_plain |= words.any(|m| m.eq_ignore_ascii_case("PLAIN")),
                _ => {}
            }
        }
        c
    }
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

/// A connection with its read buffer.
struct Conn {
    stream: Option<Stream>,
    buf: Vec<u8>,
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

    async fn line(&mut self, timeout: Duration) -> Res<String> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            if self.buf.len() > MAX_LINE {
                return Err(HostFailure("reply line too long".into()));
            }
            let mut chunk = [0u8; 4096];
            let s = self.stream()?;
            let n = match tokio::time::timeout(timeout, s.read(&mut chunk)).await {
                Ok(Ok(0)) => return Err(HostFailure("connection closed by server".into())),
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(io_fail("read failed", e)),
                Err(_) => return Err(HostFailure("timeout waiting for a reply".into())),
            };
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn reply_within(&mut self, timeout: Duration) -> Res<Reply> {
        let mut lines = Vec::new();
        loop {
            let line = self.line(timeout).await?;
            let b = line.as_bytes();
            let code = (b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit))
                .then(|| line[..3].parse::<u16>().ok())
                .flatten()
                .filter(|c| (200..600).contains(c));
            let Some(code) = code else {
                return Err(HostFailure(format!("malformed reply: {line:.100}")));
            };
            let more = b.get(3) == Some(&b'-');
            lines.push(line.get(4..).unwrap_or("").trim_end().to_owned());
            if !more {
                return Ok(Reply { code, lines });
            }
            if lines.len() >= MAX_LINES {
                return Err(HostFailure("reply has too many lines".into()));
            }
        }
    }

    async fn reply(&mut self) -> Res<Reply> {
        self.reply_within(self.timeout).await
    }

    async fn command(&mut self, cmd: &str) -> Res<Reply> {
        self.send(format!("{cmd}\r\n").as_bytes()).await?;
        self.reply().await
    }

    async fn start_tls(&mut self, connector: TlsConnector, host: &str) -> Res<()> {
        let name = server_name(host)?;
        let plain = match self.stream.take() {
            Some(Stream::Plain(s)) => s,
            _ => return Err(HostFailure("TLS already active".into())),
        };
        // RFC 3207 §4.2 / §6: nothing read before the handshake may be used after it.
        self.buf.clear();
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

/// RFC 3461 §4: xtext (`+HH` for `+`, `=`, and bytes outside `!`..`~`).
pub fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// Dot-stuffs (RFC 5321 §4.5.2) and terminates the message for DATA.
pub fn data_bytes(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 5);
    let mut at_line_start = true;
    for (i, &b) in body.iter().enumerate() {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        // Bare LF becomes CRLF: SMTP lines end in CRLF (RFC 5321 §2.3.8).
        if b == b'\n' && (i == 0 || body[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
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
        buf: Vec::new(),
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
        let r = conn.command("STARTTLS").await?;
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
        let r = conn.command(&format!("AUTH PLAIN {token}")).await?;
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

    let mut mail = format!("MAIL FROM:<{}>", env.sender.as_deref().unwrap_or(""));
    if caps.size.is_some() {
        mail.push_str(&format!(" SIZE={}", msg.body.len()));
    }
    if env.eight_bit && caps.eight_bit_mime {
        mail.push_str(" BODY=8BITMIME");
    }
    if needs_utf8 {
        mail.push_str(" SMTPUTF8");
    }
    if caps.dsn {
        if let Some(ret) = env.ret {
            mail.push_str(match ret {
                Ret::Full => " RET=FULL",
                Ret::Hdrs => " RET=HDRS",
            });
        }
        if let Some(id) = &env.envid {
            mail.push_str(&format!(" ENVID={}", xtext(id)));
        }
    }
    let rcpt_cmds: Vec<String> = msg
        .recipients
        .iter()
        .map(|(_, r)| {
            let mut c = format!("RCPT TO:<{}>", r.address);
            if caps.dsn {
                if let Some(n) = r.notify {
                    c.push_str(&format!(" NOTIFY={}", n.keywords()));
                }
                if let Some((ty, a)) = &r.orcpt {
                    c.push_str(&format!(" ORCPT={ty};{}", xtext(a)));
                }
            }
            c
        })
        .collect();

    let mail_reply;
    let mut rcpt_replies = Vec::with_capacity(rcpt_cmds.len());
    let data_reply;
    if caps.pipelining {
        // RFC 2920 §3.1: MAIL, RCPT… and DATA may be sent as one group.
        let mut batch = format!("{mail}\r\n");
        for c in &rcpt_cmds {
            batch.push_str(c);
            batch.push_str("\r\n");
        }
        batch.push_str("DATA\r\n");
        conn.send(batch.as_bytes()).await?;
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
            Some(conn.command("DATA").await?)
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
    let r = conn.command(&format!("EHLO {}", cfg.helo)).await?;
    if r.class() == 2 {
        return Ok(Capabilities::parse(&r));
    }
    if r.class() == 5 {
        let h = conn.command(&format!("HELO {}", cfg.helo)).await?;
        if h.class() == 2 {
            return Ok(Capabilities::default());
        }
        return Err(HostFailure(format!("HELO: {}", h.text())));
    }
    Err(HostFailure(format!("EHLO: {}", r.text())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_stuffing_and_line_ends() {
        assert_eq!(data_bytes(b"a\r\n.b\r\n"), b"a\r\n..b\r\n.\r\n");
        assert_eq!(data_bytes(b".x"), b"..x\r\n.\r\n");
        assert_eq!(data_bytes(b"a\nb"), b"a\r\nb\r\n.\r\n");
        assert_eq!(data_bytes(b""), b".\r\n");
    }

    #[test]
    fn xtext_encodes_plus_equals_and_controls() {
        assert_eq!(xtext("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext("rfc822"), "rfc822");
    }

    #[test]
    fn capabilities() {
        let r = Reply {
            code: 250,
            lines: vec![
                "mx.test Hello".into(),
                "PIPELINING".into(),
                "SIZE 1000".into(),
                "8BITMIME".into(),
                "starttls".into(),
                "AUTH LOGIN PLAIN".into(),
                "DSN".into(),
            ],
        };
        let c = Capabilities::parse(&r);
        assert!(c.pipelining && c.starttls && c.eight_bit_mime && c.auth_plain && c.dsn);
        assert!(!c.smtputf8);
        assert_eq!(c.size, Some(1000));
        assert_eq!(
            r.text(),
            "250 mx.test Hello PIPELINING SIZE 1000 8BITMIME starttls AUTH LOGIN PLAIN DSN"
        );
    }
}
