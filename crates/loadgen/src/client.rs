//! A deliberately small IMAP client: just enough protocol to drive a benchmark.
//!
//! Implementation notes:
//! - Responses are read as *logical lines*: a line ending in a literal announcement `{n}` (or
//!   `{n+}`) is followed by exactly `n` raw bytes and then the rest of the same response, so a
//!   `BODY[]` value containing CRLFs never splits a response (RFC 9051 §4.3).
//! - One command is outstanding at a time (no pipelining); every tagged completion is checked.
//! - APPEND uses a synchronizing literal: the client waits for the server's `+` continuation
//!   before sending the message bytes (RFC 9051 §7.5), which every server supports.
//! - Every read and write is bounded by a timeout so a stuck server shows up as a failure, not as
//!   a hung benchmark.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::timeout;

/// Largest logical response we accept; a guard against a runaway server, not a protocol limit.
const MAX_RESPONSE: usize = 64 * 1024 * 1024;

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
    /// The tagged completion line, without the tag and CRLF.
    pub text: String,
    /// Untagged responses (`* ...`), each a logical line with literals inline, CRLF stripped.
    pub untagged: Vec<Vec<u8>>,
}

impl Reply {
    pub fn is_ok(&self) -> bool {
        self.status == Status::Ok
    }
}

/// One IMAP connection.
pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_tag: u32,
    io_timeout: Duration,
}

impl Client {
    /// Connects and reads the greeting, which must be `* OK` (or `* PREAUTH`).
    pub async fn connect(addr: &str, io_timeout: Duration) -> Result<Self> {
        let stream = timeout(io_timeout, TcpStream::connect(addr))
            .await
            .context("connect timed out")?
            .with_context(|| format!("connect to {addr}"))?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let mut client = Client {
            reader: BufReader::with_capacity(64 * 1024, r),
            writer: w,
            next_tag: 1,
            io_timeout,
        };
        let greeting = client.read_response().await?;
        if !(greeting.starts_with(b"* OK") || greeting.starts_with(b"* PREAUTH")) {
            bail!("unexpected greeting: {}", lossy(&greeting));
        }
        Ok(client)
    }

    fn tag(&mut self) -> String {
        let tag = format!("a{}", self.next_tag);
        self.next_tag += 1;
        tag
    }

    /// Sends `command` (without tag and CRLF) and reads until its tagged completion.
    pub async fn command(&mut self, command: &str) -> Result<Reply> {
        let tag = self.tag();
        let line = format!("{tag} {command}\r\n");
        self.write(line.as_bytes()).await?;
        self.read_until_tagged(&tag).await
    }

    /// `APPEND mailbox {n}` with a synchronizing literal.
    pub async fn append(&mut self, mailbox: &str, flags: &str, message: &[u8]) -> Result<Reply> {
        let tag = self.tag();
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!(" ({flags})")
        };
        let line = format!("{tag} APPEND {mailbox}{flags} {{{}}}\r\n", message.len());
        self.write(line.as_bytes()).await?;
        // Wait for the continuation request; the server may instead refuse with a tagged reply.
        let mut untagged = Vec::new();
        loop {
            let resp = self.read_response().await?;
            if resp.starts_with(b"+") {
                break;
            }
            if let Some(reply) = tagged(&tag, &resp) {
                return Ok(Reply { untagged, ..reply });
            }
            untagged.push(resp);
        }
        self.write(message).await?;
        self.write(b"\r\n").await?;
        let mut reply = self.read_until_tagged(&tag).await?;
        untagged.append(&mut reply.untagged);
        reply.untagged = untagged;
        Ok(reply)
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        timeout(self.io_timeout, self.writer.write_all(bytes))
            .await
            .context("write timed out")?
            .context("write")
    }

    async fn read_until_tagged(&mut self, tag: &str) -> Result<Reply> {
        let mut untagged = Vec::new();
        loop {
            let resp = self.read_response().await?;
            if let Some(reply) = tagged(tag, &resp) {
                return Ok(Reply { untagged, ..reply });
            }
            if resp.starts_with(b"+") {
                bail!("unexpected continuation request: {}", lossy(&resp));
            }
            untagged.push(resp);
        }
    }

    /// Reads one logical response: a line plus any literals it announces, CRLF stripped.
    async fn read_response(&mut self) -> Result<Vec<u8>> {
        let io_timeout = self.io_timeout;
        timeout(io_timeout, self.read_response_inner())
            .await
            .context("read timed out")?
    }

    async fn read_response_inner(&mut self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let start = out.len();
            let n = self.reader.read_until(b'\n', &mut out).await?;
            if n == 0 {
                bail!("server closed the connection");
            }
            if out.len() > MAX_RESPONSE {
                bail!("response larger than {MAX_RESPONSE} bytes");
            }
            match literal_len(&out[start..]) {
                Some(len) => {
                    if out.len() + len > MAX_RESPONSE {
                        bail!("literal of {len} bytes is too large");
                    }
                    let at = out.len();
                    out.resize(at + len, 0);
                    self.reader.read_exact(&mut out[at..]).await?;
                }
                None => {
                    while out.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                        out.pop();
                    }
                    return Ok(out);
                }
            }
        }
    }
}

/// If `line` (one physical line, CRLF included) ends with `{n}` or `{n+}`, returns `n`.
fn literal_len(line: &[u8]) -> Option<usize> {
    let line = line.strip_suffix(b"\n")?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_suffix(b"}")?;
    let line = line.strip_suffix(b"+").unwrap_or(line);
    let open = line.iter().rposition(|b| *b == b'{')?;
    let digits = &line[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Parses `resp` as the tagged completion for `tag`, if it is one.
fn tagged(tag: &str, resp: &[u8]) -> Option<Reply> {
    let rest = resp.strip_prefix(tag.as_bytes())?.strip_prefix(b" ")?;
    let text = lossy(rest);
    let word = text.split(' ').next().unwrap_or("").to_ascii_uppercase();
    let status = match word.as_str() {
        "OK" => Status::Ok,
        "NO" => Status::No,
        _ => Status::Bad,
    };
    Some(Reply {
        status,
        text,
        untagged: Vec::new(),
    })
}

pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `* N EXISTS` → N.
pub fn exists(untagged: &[Vec<u8>]) -> Option<u32> {
    untagged.iter().find_map(|r| {
        let rest = r.strip_prefix(b"* ")?;
        let sp = rest.iter().position(|b| *b == b' ')?;
        let (num, word) = rest.split_at(sp);
        if !word.eq_ignore_ascii_case(b" EXISTS") {
            return None;
        }
        std::str::from_utf8(num).ok()?.parse().ok()
    })
}

/// The `UID n` values of `* k FETCH (... UID n ...)` responses, in response order.
pub fn fetched_uids(untagged: &[Vec<u8>]) -> Vec<u32> {
    untagged
        .iter()
        .filter_map(|r| {
            let text = std::str::from_utf8(r).ok()?;
            let mut words = text.split(' ');
            if words.next()? != "*" {
                return None;
            }
            words.next()?.parse::<u32>().ok()?;
            if !words.next()?.eq_ignore_ascii_case("FETCH") {
                return None;
            }
            let items = text.split_once('(')?.1;
            let mut it = items.split([' ', '(', ')']);
            while let Some(w) = it.next() {
                if w.eq_ignore_ascii_case("UID") {
                    return it.next()?.parse().ok();
                }
            }
            None
        })
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

    #[test]
    fn literal_announcements() {
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {123}\r\n"), Some(123));
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {7+}\r\n"), Some(7));
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {}\r\n"), None);
        assert_eq!(literal_len(b"* OK {x}\r\n"), None);
        assert_eq!(literal_len(b"* OK done\r\n"), None);
    }

    #[test]
    fn tagged_status() {
        assert_eq!(
            tagged("a1", b"a1 OK done").map(|r| r.status),
            Some(Status::Ok)
        );
        assert_eq!(
            tagged("a1", b"a1 no such").map(|r| r.status),
            Some(Status::No)
        );
        assert_eq!(
            tagged("a1", b"a1 BAD x").map(|r| r.status),
            Some(Status::Bad)
        );
        assert!(tagged("a1", b"a12 OK done").is_none());
        assert!(tagged("a1", b"* OK").is_none());
    }

    #[test]
    fn parses_exists_and_uids() {
        let untagged = vec![
            b"* FLAGS (\\Seen)".to_vec(),
            b"* 42 EXISTS".to_vec(),
            b"* 1 FETCH (UID 7 FLAGS (\\Seen))".to_vec(),
            b"* 2 FETCH (FLAGS () UID 9)".to_vec(),
            b"* 3 FETCH (FLAGS (\\Deleted))".to_vec(),
        ];
        assert_eq!(exists(&untagged), Some(42));
        assert_eq!(fetched_uids(&untagged), vec![7, 9]);
    }

    #[tokio::test]
    async fn reads_literals_across_lines() {
        use tokio::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            s.write_all(b"* OK hi\r\n").await.unwrap();
            let mut buf = vec![0u8; 256];
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"* 1 FETCH (UID 5 BODY[] {9}\r\na\r\nb\r\nc\r\n)\r\na1 OK done\r\n")
                .await
                .unwrap();
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"+ go\r\n").await.unwrap();
            let _ = s.read(&mut buf).await.unwrap();
            s.write_all(b"a2 OK [APPENDUID 1 6] done\r\n")
                .await
                .unwrap();
        });
        let mut c = Client::connect(&addr, Duration::from_secs(5))
            .await
            .unwrap();
        let r = c.command("UID FETCH 5 BODY.PEEK[]").await.unwrap();
        assert!(r.is_ok());
        assert_eq!(
            r.untagged,
            vec![b"* 1 FETCH (UID 5 BODY[] {9}\r\na\r\nb\r\nc\r\n)".to_vec()]
        );
        assert_eq!(fetched_uids(&r.untagged), vec![5]);
        let r = c.append("INBOX", "", b"x").await.unwrap();
        assert!(r.is_ok(), "{}", r.text);
        server.await.unwrap();
    }
}
