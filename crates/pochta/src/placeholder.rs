//! Stand-in IMAP, POP3 and SMTP services until the real protocol crates are wired.
//!
//! Implementation notes:
//! - Each sends its protocol's proper greeting (RFC 9051 §7.1.1 `* OK [CAPABILITY …]`,
//!   RFC 1939 §4 `+OK`, RFC 5321 §4.2 `220`), handles STARTTLS (RFC 9051 §6.2.1, RFC 2595 §4
//!   STLS, RFC 3207) and the goodbye commands, and answers every other command with the
//!   protocol's "not implemented" reply, so clients and tests see a well-formed server.
//! - STARTTLS discards anything pipelined after the command (see `pochta_net::stream`).
//! - Lines are capped at [`MAX_LINE`] bytes; a longer line ends the session, since a
//!   placeholder has no framer to resynchronise with.
//! - On shutdown IMAP says `* BYE`, SMTP `421`, POP3 `-ERR [SYS/TEMP]` (RFC 3206); on idle
//!   timeout IMAP and SMTP say why, POP3 closes silently (RFC 1939 §3).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use pochta_net::{Connection, Service, Stream, starttls_buffered, with_timeout};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tracing::{debug, info};

/// Longest command line accepted, CRLF included (RFC 5321 §4.5.3.1.4 allows 512; IMAP lines
/// are longer in practice).
pub const MAX_LINE: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Imap,
    Pop3,
    Smtp { max_size: u64 },
}

/// A placeholder service for one protocol.
#[derive(Debug)]
pub struct Placeholder {
    kind: Kind,
    hostname: Arc<str>,
}

/// What to do after a command.
enum Action {
    Reply(String),
    /// Send, then close.
    Close(String),
    /// Send, then run the TLS handshake.
    StartTls(String),
}

impl Placeholder {
    pub fn imap(hostname: &str) -> Self {
        Self::new(Kind::Imap, hostname)
    }

    pub fn pop3(hostname: &str) -> Self {
        Self::new(Kind::Pop3, hostname)
    }

    pub fn smtp(hostname: &str, max_size: u64) -> Self {
        Self::new(Kind::Smtp { max_size }, hostname)
    }

    fn new(kind: Kind, hostname: &str) -> Self {
        Placeholder {
            kind,
            hostname: Arc::from(hostname),
        }
    }

    fn imap_caps(&self, can_starttls: bool) -> String {
        let mut caps = String::from("IMAP4rev1");
        if can_starttls {
            caps.push_str(" STARTTLS");
        }
        caps
    }

    fn greeting(&self, can_starttls: bool) -> String {
        let h = &self.hostname;
        match self.kind {
            Kind::Imap => format!(
                "* OK [CAPABILITY {}] {h} Pochta ready\r\n",
                self.imap_caps(can_starttls)
            ),
            Kind::Pop3 => format!("+OK {h} Pochta ready\r\n"),
            Kind::Smtp { .. } => format!("220 {h} ESMTP Pochta\r\n"),
        }
    }

    fn goodbye_shutdown(&self) -> String {
        match self.kind {
            Kind::Imap => "* BYE Server shutting down\r\n".into(),
            Kind::Pop3 => "-ERR [SYS/TEMP] Server shutting down\r\n".into(),
            Kind::Smtp { .. } => format!("421 4.3.2 {} Service shutting down\r\n", self.hostname),
        }
    }

    fn goodbye_idle(&self) -> Option<String> {
        match self.kind {
            Kind::Imap => Some("* BYE Autologout; idle for too long\r\n".into()),
            Kind::Pop3 => None,
            Kind::Smtp { .. } => Some(format!(
                "421 4.4.2 {} Idle for too long, closing connection\r\n",
                self.hostname
            )),
        }
    }

    fn too_long(&self) -> String {
        match self.kind {
            Kind::Imap => "* BYE Line too long\r\n".into(),
            Kind::Pop3 => "-ERR Line too long\r\n".into(),
            Kind::Smtp { .. } => "500 5.5.2 Line too long\r\n".into(),
        }
    }

    /// Answers one command line (without CRLF).
    fn respond(&self, line: &str, can_starttls: bool, tls: bool) -> Action {
        match self.kind {
            Kind::Imap => self.imap_command(line, can_starttls, tls),
            Kind::Pop3 => self.pop3_command(line, can_starttls, tls),
            Kind::Smtp { max_size } => self.smtp_command(line, can_starttls, tls, max_size),
        }
    }

    fn imap_command(&self, line: &str, can_starttls: bool, tls: bool) -> Action {
        let mut words = line.splitn(3, ' ');
        let tag = words.next().unwrap_or_default();
        let cmd = words.next().unwrap_or_default().to_ascii_uppercase();
        if tag.is_empty() || tag == "*" || tag == "+" || cmd.is_empty() {
            return Action::Reply("* BAD Expected a tag and a command\r\n".into());
        }
        match cmd.as_str() {
            "CAPABILITY" => Action::Reply(format!(
                "* CAPABILITY {}\r\n{tag} OK CAPABILITY completed\r\n",
                self.imap_caps(can_starttls)
            )),
            "NOOP" => Action::Reply(format!("{tag} OK NOOP completed\r\n")),
            "LOGOUT" => Action::Close(format!(
                "* BYE {} Pochta logging out\r\n{tag} OK LOGOUT completed\r\n",
                self.hostname
            )),
            "STARTTLS" if tls => Action::Reply(format!("{tag} BAD TLS is already active\r\n")),
            "STARTTLS" if !can_starttls => {
                Action::Reply(format!("{tag} BAD STARTTLS is not available\r\n"))
            }
            "STARTTLS" => Action::StartTls(format!("{tag} OK Begin TLS negotiation now\r\n")),
            _ => Action::Reply(format!("{tag} BAD {cmd} is not implemented yet\r\n")),
        }
    }

    fn pop3_command(&self, line: &str, can_starttls: bool, tls: bool) -> Action {
        let cmd = line
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        match cmd.as_str() {
            "CAPA" => {
                let mut r = String::from("+OK Capability list follows\r\n");
                if can_starttls {
                    r.push_str("STLS\r\n");
                }
                r.push_str("IMPLEMENTATION Pochta\r\n.\r\n");
                Action::Reply(r)
            }
            "STLS" if tls => Action::Reply("-ERR TLS is already active\r\n".into()),
            "STLS" if !can_starttls => Action::Reply("-ERR STLS is not available\r\n".into()),
            "STLS" => Action::StartTls("+OK Begin TLS negotiation\r\n".into()),
            "QUIT" => Action::Close(format!("+OK {} Pochta signing off\r\n", self.hostname)),
            _ => Action::Reply("-ERR Command not implemented yet\r\n".into()),
        }
    }

    fn smtp_command(&self, line: &str, can_starttls: bool, tls: bool, max_size: u64) -> Action {
        let (cmd, arg) = line.split_once(' ').unwrap_or((line, ""));
        let h = &self.hostname;
        match cmd.to_ascii_uppercase().as_str() {
            "EHLO" if arg.trim().is_empty() => {
                Action::Reply("501 5.5.4 Syntax: EHLO domain\r\n".into())
            }
            "EHLO" => {
                let mut r = format!("250-{h} greets {}\r\n", arg.trim());
                r.push_str(&format!("250-SIZE {max_size}\r\n"));
                if can_starttls {
                    r.push_str("250-STARTTLS\r\n");
                }
                r.push_str("250 ENHANCEDSTATUSCODES\r\n");
                Action::Reply(r)
            }
            "HELO" => Action::Reply(format!("250 {h}\r\n")),
            "STARTTLS" if tls => Action::Reply("503 5.5.1 TLS is already active\r\n".into()),
            "STARTTLS" if !can_starttls => {
                Action::Reply("502 5.5.1 STARTTLS is not available\r\n".into())
            }
            "STARTTLS" => Action::StartTls("220 2.0.0 Ready to start TLS\r\n".into()),
            "NOOP" | "RSET" => Action::Reply("250 2.0.0 OK\r\n".into()),
            "QUIT" => Action::Close(format!("221 2.0.0 {h} closing connection\r\n")),
            _ => Action::Reply("502 5.5.1 Command not implemented yet\r\n".into()),
        }
    }

    async fn session(&self, conn: Connection) -> io::Result<()> {
        let Connection {
            stream,
            peer,
            starttls,
            mut shutdown,
            idle_timeout,
            listener,
            ..
        } = conn;
        let mut io = BufReader::new(stream);
        let can_starttls = |io: &BufReader<Stream>| starttls.is_some() && !io.get_ref().is_tls();
        let greeting = self.greeting(can_starttls(&io));
        send(&mut io, &greeting).await?;
        loop {
            let read = tokio::select! {
                _ = shutdown.wait() => {
                    return send(&mut io, &self.goodbye_shutdown()).await;
                }
                r = with_timeout(idle_timeout, read_line(&mut io)) => r,
            };
            let line = match read {
                Ok(Some(line)) => line,
                Ok(None) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    if let Some(bye) = self.goodbye_idle() {
                        send(&mut io, &bye).await?;
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    return send(&mut io, &self.too_long()).await;
                }
                Err(e) => return Err(e),
            };
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            let action = self.respond(text, can_starttls(&io), io.get_ref().is_tls());
            match action {
                Action::Reply(r) => send(&mut io, &r).await?,
                Action::Close(r) => return send(&mut io, &r).await,
                Action::StartTls(r) => {
                    send(&mut io, &r).await?;
                    let Some(acceptor) = &starttls else {
                        return Ok(());
                    };
                    // Bound the handshake like any other wait for the client.
                    let limit = idle_timeout.min(Duration::from_secs(60));
                    let (upgraded, discarded) =
                        with_timeout(limit, starttls_buffered(io, acceptor)).await?;
                    if discarded > 0 {
                        info!(%listener, %peer, discarded, "dropped bytes pipelined after STARTTLS");
                    }
                    io = upgraded;
                }
            }
        }
    }
}

impl Service for Placeholder {
    async fn handle(&self, conn: Connection) {
        let (listener, peer) = (Arc::clone(&conn.listener), conn.peer);
        if let Err(e) = self.session(conn).await {
            debug!(%listener, %peer, error = %e, "session ended with an I/O error");
        }
    }
}

async fn send(io: &mut BufReader<Stream>, s: &str) -> io::Result<()> {
    io.get_mut().write_all(s.as_bytes()).await?;
    io.get_mut().flush().await
}

/// Reads one line including its `\n`; `None` at end of stream. A line longer than
/// [`MAX_LINE`] is an `InvalidData` error.
async fn read_line(io: &mut BufReader<Stream>) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    loop {
        let buf = io.fill_buf().await?;
        if buf.is_empty() {
            return Ok(None);
        }
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&buf[..=i]);
            io.consume(i + 1);
            return Ok(Some(line));
        }
        let n = buf.len();
        line.extend_from_slice(buf);
        io.consume(n);
        if line.len() > MAX_LINE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(a: Action) -> String {
        match a {
            Action::Reply(s) => format!("reply {s}"),
            Action::Close(s) => format!("close {s}"),
            Action::StartTls(s) => format!("starttls {s}"),
        }
    }

    #[test]
    fn imap_answers() {
        let p = Placeholder::imap("h");
        assert_eq!(
            p.greeting(true),
            "* OK [CAPABILITY IMAP4rev1 STARTTLS] h Pochta ready\r\n"
        );
        assert_eq!(
            p.greeting(false),
            "* OK [CAPABILITY IMAP4rev1] h Pochta ready\r\n"
        );
        assert_eq!(
            reply(p.respond("a1 capability", true, false)),
            "reply * CAPABILITY IMAP4rev1 STARTTLS\r\na1 OK CAPABILITY completed\r\n"
        );
        assert_eq!(
            reply(p.respond("a2 STARTTLS", true, false)),
            "starttls a2 OK Begin TLS negotiation now\r\n"
        );
        assert_eq!(
            reply(p.respond("a2 STARTTLS", false, true)),
            "reply a2 BAD TLS is already active\r\n"
        );
        assert_eq!(
            reply(p.respond("a3 SELECT INBOX", true, false)),
            "reply a3 BAD SELECT is not implemented yet\r\n"
        );
        assert_eq!(
            reply(p.respond("", true, false)),
            "reply * BAD Expected a tag and a command\r\n"
        );
        assert!(reply(p.respond("a4 LOGOUT", true, false)).starts_with("close * BYE"));
    }

    #[test]
    fn pop3_answers() {
        let p = Placeholder::pop3("h");
        assert_eq!(p.greeting(true), "+OK h Pochta ready\r\n");
        assert_eq!(
            reply(p.respond("CAPA", true, false)),
            "reply +OK Capability list follows\r\nSTLS\r\nIMPLEMENTATION Pochta\r\n.\r\n"
        );
        assert_eq!(
            reply(p.respond("stls", true, false)),
            "starttls +OK Begin TLS negotiation\r\n"
        );
        assert_eq!(
            reply(p.respond("USER x", true, false)),
            "reply -ERR Command not implemented yet\r\n"
        );
        assert!(reply(p.respond("QUIT", true, false)).starts_with("close +OK"));
    }

    #[test]
    fn smtp_answers() {
        let p = Placeholder::smtp("h", 1000);
        assert_eq!(p.greeting(true), "220 h ESMTP Pochta\r\n");
        assert_eq!(
            reply(p.respond("EHLO c", true, false)),
            "reply 250-h greets c\r\n250-SIZE 1000\r\n250-STARTTLS\r\n250 ENHANCEDSTATUSCODES\r\n"
        );
        assert_eq!(
            reply(p.respond("EHLO c", false, true)),
            "reply 250-h greets c\r\n250-SIZE 1000\r\n250 ENHANCEDSTATUSCODES\r\n"
        );
        assert_eq!(
            reply(p.respond("EHLO", true, false)),
            "reply 501 5.5.4 Syntax: EHLO domain\r\n"
        );
        assert_eq!(
            reply(p.respond("STARTTLS", true, false)),
            "starttls 220 2.0.0 Ready to start TLS\r\n"
        );
        assert_eq!(
            reply(p.respond("MAIL FROM:<a@b>", true, false)),
            "reply 502 5.5.1 Command not implemented yet\r\n"
        );
        assert!(reply(p.respond("quit", true, false)).starts_with("close 221"));
    }
}
