//! The load generator's IMAP connection: `pochta-imap-client` (imap-proto's client half)
//! with the benchmark's rules on top.
//!
//! Implementation notes:
//! - Commands are given as text (`SELECT INBOX`) and read by imap-proto's grammar into typed
//!   commands, then encoded by the same grammar, so the load generator writes exactly what a
//!   conforming client writes; LOGIN and APPEND are typed (one quoting rule).
//! - One command is outstanding at a time (no pipelining); every tagged completion is
//!   returned with its status, NO and BAD included, for the mix to count.
//! - Latency stays a measure of the server: the client sends no command of its own (no
//!   CAPABILITY after the greeting, none after LOGIN), and APPEND always uses a synchronizing
//!   literal — the client waits for the server's `+` (RFC 9051 §7.5), as before and on every
//!   server alike, even one offering LITERAL+.
//! - Every response must be complete within the I/O timeout (the whole response, not each
//!   read), so a stuck server shows up as a failure, not as a hung benchmark; a response over
//!   64 MiB is refused (a guard against a runaway server, not a protocol limit).

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use pochta_imap_client::{
    CLIENT_LIMITS, ClientCommand, Completed, ImapClient, Options, Response, WireName,
};
use pochta_imap_proto::client::data::{Fetched, Selected};
use pochta_net::connect::ClientStream;
use tokio::net::TcpStream;
use tokio::time::timeout;

/// Largest response we accept; a guard against a runaway server, not a protocol limit.
const MAX_RESPONSE: u64 = 64 * 1024 * 1024;

/// How a tagged command finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
}

/// Everything the server said in answer to one command.
#[derive(Debug)]
pub struct Reply {
    pub status: Status,
    /// The tagged completion without the tag: status, response code and text.
    pub text: String,
    /// Untagged responses, parsed.
    pub untagged: Vec<Response>,
}

impl Reply {
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }

    fn from(done: Completed) -> Reply {
        use pochta_imap_client::Status as S;
        let status = match done.status.status {
            S::Ok => Status::Ok,
            S::No => Status::No,
            _ => Status::Bad,
        };
        let code = match &done.status.code {
            Some((name, _)) => format!("[{name}] "),
            None => String::new(),
        };
        let word = match status {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
        };
        Reply {
            status,
            text: format!("{word} {code}{}", done.status.text),
            untagged: done.responses,
        }
    }
}

/// One IMAP connection.
pub struct Client {
    inner: ImapClient,
}

impl Client {
    /// Connects and reads the greeting, which must be `* OK` (or `* PREAUTH`).
    pub async fn connect(addr: &str, io_timeout: Duration) -> Result<Self> {
        let stream = timeout(io_timeout, TcpStream::connect(addr))
            .await
            .context("connect timed out")?
            .with_context(|| format!("connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let opts = Options {
            limits: pochta_imap_proto::framer::Limits {
                max_literal: MAX_RESPONSE,
                max_command: MAX_RESPONSE,
                ..CLIENT_LIMITS
            },
            max_collected: 4 * MAX_RESPONSE,
            io_timeout,
            response_timeout: io_timeout,
            insecure: false,
            literal_plus: false,
        };
        let mut inner = ImapClient::over(ClientStream::Plain(stream), opts);
        inner.greeting().await.context("greeting")?;
        Ok(Client { inner })
    }

    /// Runs `command` (its text without tag and CRLF) to its tagged completion.
    pub async fn command(&mut self, command: &str) -> Result<Reply> {
        let cmd = ClientCommand::parse(command, false)
            .map_err(|e| anyhow!("IMAP command {command:?}: {e}"))?;
        self.run(cmd).await
    }

    /// LOGIN, the strings written by imap-proto's quoting rule.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<Reply> {
        self.run(ClientCommand::Login {
            user: user.as_bytes().to_vec(),
            password: pochta_types::Secret::new(password.as_bytes().to_vec()),
        })
        .await
    }

    /// `APPEND mailbox (flags) {n}` with a synchronizing literal.
    pub async fn append(&mut self, mailbox: &str, flags: &str, message: &[u8]) -> Result<Reply> {
        let flags = flags
            .split_whitespace()
            .map(|f| pochta_types::Flag::parse(f).map_err(|e| anyhow!("flag {f:?}: {e}")))
            .collect::<Result<Vec<_>>>()?;
        self.run(ClientCommand::Append {
            mailbox: WireName::encode(mailbox, false),
            flags,
            date: None,
            message: message.to_vec(),
        })
        .await
    }

    async fn run(&mut self, cmd: ClientCommand) -> Result<Reply> {
        let done = self.inner.exchange(cmd).await?;
        Ok(Reply::from(done))
    }
}

/// `* N EXISTS` → N.
pub fn exists(untagged: &[Response]) -> Option<u32> {
    let mut sel = Selected::default();
    let mut seen = false;
    for r in untagged {
        if matches!(r, Response::Numbered { name, .. } if name == "EXISTS") {
            seen = true;
        }
        sel.absorb(r);
    }
    seen.then_some(sel.exists)
}

/// The UIDs of the FETCH responses that carry one, in response order.
pub fn fetched_uids(untagged: &[Response]) -> Vec<u32> {
    untagged
        .iter()
        .filter_map(|r| Fetched::from_response(r).ok().flatten()?.uid)
        .collect()
}

/// Fails with the server's words unless the reply is OK.
pub fn ensure_ok(what: &str, reply: &Reply) -> Result<()> {
    if reply.is_ok() {
        Ok(())
    } else {
        Err(anyhow!("{what}: {}", reply.text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pochta_imap_proto::client::ResponseReader;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn parse_all(wire: &[u8]) -> Vec<Response> {
        let mut r = ResponseReader::default();
        r.feed(wire);
        std::iter::from_fn(|| r.next_response().expect("parse")).collect()
    }

    #[test]
    fn parses_exists_and_uids() {
        let untagged = parse_all(
            b"* FLAGS (\\Seen)\r\n* 42 EXISTS\r\n* 1 FETCH (UID 7 FLAGS (\\Seen))\r\n\
              * 2 FETCH (FLAGS () UID 9)\r\n* 3 FETCH (FLAGS (\\Deleted))\r\n",
        );
        assert_eq!(exists(&untagged), Some(42));
        assert_eq!(exists(&untagged[..1]), None);
        assert_eq!(fetched_uids(&untagged), vec![7, 9]);
    }

    #[tokio::test]
    async fn reads_literals_across_lines() {
        use tokio::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n")
                .await
                .unwrap();
            let mut buf = vec![0u8; 256];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"* 1 FETCH (UID 5 BODY[] {9}\r\na\r\nb\r\nc\r\n)\r\nC1 OK done\r\n")
                .await
                .unwrap();
            // APPEND waits for `+` even though LITERAL+ was announced.
            let n = s.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"C2 APPEND INBOX (\\Seen) {1}\r\n");
            s.write_all(b"+ go\r\n").await.unwrap();
            let n = s.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"x\r\n");
            s.write_all(b"C2 NO [TRYCREATE] no such mailbox\r\n")
                .await
                .unwrap();
        });
        let mut c = Client::connect(&addr, Duration::from_secs(5))
            .await
            .unwrap();
        let r = c.command("UID FETCH 5 BODY.PEEK[]").await.unwrap();
        assert!(r.is_ok());
        assert_eq!(fetched_uids(&r.untagged), vec![5]);
        let f = Fetched::from_response(&r.untagged[0]).unwrap().unwrap();
        assert_eq!(f.body.as_deref(), Some(&b"a\r\nb\r\nc\r\n"[..]));
        let r = c.append("INBOX", "\\Seen", b"x").await.unwrap();
        assert_eq!(r.status, Status::No);
        assert_eq!(r.text, "NO [TRYCREATE] no such mailbox");
        server.await.unwrap();
    }
}
