//! Outbound delivery over SMTP: one connection delivers one message to all its recipients at
//! one destination. The protocol driver is `pochta-smtp-client`; this module holds the
//! queue's policy (TLS per route, AUTH, limits) and turns replies into [`Outcome`]s.
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
//! - A reply is read with a hard limit on line length and count (the parser's), and a
//!   timeout per command (RFC 5321 §4.5.3.2 gives the minimums: 5 minutes for commands, 10
//!   for the end of data). Nothing the server sends can panic the client.
//! - Problems with the host itself (cannot connect, bad greeting, EHLO refused, TLS failure,
//!   `421`) are a [`HostFailure`]: the caller tries the next host. Replies to MAIL, RCPT and
//!   the data are per-recipient [`Outcome`]s.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine;
use pochta_smtp_client::{Client, Verify, connector};
use pochta_smtp_proto::{Body, Command, MailParams, Path, RcptParams, data_bytes};
use rustls::pki_types::CertificateDer;

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

type Res<T> = Result<T, HostFailure>;

impl From<pochta_smtp_client::Error> for HostFailure {
    fn from(e: pochta_smtp_client::Error) -> Self {
        HostFailure(e.0)
    }
}

/// The TLS client configuration for a route's mode.
fn tls(mode: TlsMode, cfg: &ClientConfig) -> Res<tokio_rustls::TlsConnector> {
    let verify = if mode == TlsMode::Opportunistic {
        // Opportunistic TLS (RFC 7435): encrypt without authenticating the server.
        Verify::Nothing
    } else {
        Verify::Roots(cfg.extra_roots.clone())
    };
    Ok(connector(&verify)?)
}

/// Delivers `msg` through one connection to `addr` (the host `route.host`).
pub async fn deliver(
    route: &Route,
    addr: SocketAddr,
    cfg: &ClientConfig,
    msg: &Outgoing<'_>,
) -> Result<Vec<(u32, Outcome)>, HostFailure> {
    let mut conn = Client::connect(addr, cfg.connect_timeout, cfg.command_timeout).await?;
    if route.tls == TlsMode::Implicit {
        conn.start_tls(&tls(route.tls, cfg)?, &route.host).await?;
    }
    let result = session(&mut conn, route, cfg, msg).await;
    // Best effort: the outcome is already known.
    conn.quit().await;
    result
}

async fn session(
    conn: &mut Client,
    route: &Route,
    cfg: &ClientConfig,
    msg: &Outgoing<'_>,
) -> Result<Vec<(u32, Outcome)>, HostFailure> {
    let mta = Some(route.host.clone());
    let greeting = conn.reply().await?;
    if greeting.code != 220 {
        return Err(HostFailure(format!("greeting: {}", greeting.text())));
    }
    let mut caps = conn.hello(&cfg.helo).await?;
    let mut tls = route.tls == TlsMode::Implicit;
    if !tls && caps.starttls && matches!(route.tls, TlsMode::Opportunistic | TlsMode::StartTls) {
        let r = conn.command(&Command::StartTls).await?;
        if r.code == 220 {
            conn.start_tls(&self::tls(route.tls, cfg)?, &route.host)
                .await?;
            tls = true;
            caps = conn.hello(&cfg.helo).await?;
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

    let t = conn.transaction(&mail, &rcpt_cmds, caps.pipelining).await?;
    let (mail_reply, rcpt_replies, data_reply) = (t.mail, t.rcpts, t.data);
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
        conn.data(&data_bytes(msg.body), cfg.data_timeout).await?
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
