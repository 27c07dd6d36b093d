//! Blocking (std::net) clients for tests that run many client threads against the real binary
//! or need exact control over the bytes sent: a tiny IMAP client that understands literals,
//! and line helpers for POP3 and SMTP.
//!
//! Every read has a timeout, so a wedged server fails the test instead of hanging it. Errors
//! are returned, not panicked on: the crash test expects connections to die mid-command.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use pochta_imap_proto::response::{LiteralForm, write_string_with};

/// How long any single read may wait.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// One untagged or tagged IMAP response: its text with each literal replaced by `{n}`, and
/// the literals' bytes in order.
#[derive(Debug, Clone, Default)]
pub struct Resp {
    pub text: String,
    pub literals: Vec<Vec<u8>>,
}

/// The result of one IMAP command: untagged responses and the tagged completion line.
#[derive(Debug, Clone)]
pub struct Reply {
    pub untagged: Vec<Resp>,
    pub tagged: String,
}

impl Reply {
    pub fn ok(&self) -> bool {
        self.tagged.split(' ').nth(1) == Some("OK")
    }
    /// `OK`, `NO` or `BAD`.
    pub fn status(&self) -> &str {
        self.tagged.split(' ').nth(1).unwrap_or("")
    }
    /// All text, untagged and tagged, for assertions and error messages.
    pub fn all_text(&self) -> String {
        let mut s = String::new();
        for r in &self.untagged {
            s.push_str(&r.text);
            s.push('\n');
        }
        s.push_str(&self.tagged);
        s
    }
}

/// A blocking IMAP client.
pub struct Imap {
    r: BufReader<TcpStream>,
    n: u32,
    pub greeting: String,
}

pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, READ_TIMEOUT)?;
    s.set_read_timeout(Some(READ_TIMEOUT))?;
    s.set_write_timeout(Some(READ_TIMEOUT))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// Reads one CRLF-terminated line (CRLF included), as raw bytes.
pub fn read_raw_line(r: &mut BufReader<TcpStream>) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    let n = r.read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(line)
}

pub fn read_line(r: &mut BufReader<TcpStream>) -> io::Result<String> {
    Ok(String::from_utf8_lossy(&read_raw_line(r)?).into_owned())
}

/// `{123}` or `{123+}` at the end of a line (CRLF stripped) → 123.
fn literal_len(line: &str) -> Option<usize> {
    let inner = line.strip_suffix('}')?;
    let open = inner.rfind('{')?;
    let digits = inner[open + 1..].trim_end_matches('+');
    digits.parse().ok()
}

impl Imap {
    pub fn connect(addr: SocketAddr) -> io::Result<Imap> {
        let mut r = BufReader::new(connect(addr)?);
        let greeting = read_line(&mut r)?;
        Ok(Imap { r, n: 0, greeting })
    }

    pub fn login(addr: SocketAddr, user: &str, pass: &str) -> io::Result<Imap> {
        let mut c = Imap::connect(addr)?;
        // The password as a string under imap-proto's quoting rule (`{n+}`: LITERAL+).
        let mut quoted = Vec::new();
        let form = LiteralForm {
            binary: false,
            non_sync: true,
        };
        write_string_with(&mut quoted, pass.as_bytes(), false, form);
        let r = c.cmd(&format!(
            "LOGIN {user} {}",
            String::from_utf8_lossy(&quoted)
        ))?;
        if !r.ok() {
            return Err(io::Error::other(format!("login failed: {}", r.tagged)));
        }
        Ok(c)
    }

    /// Reads one response, literals included.
    pub fn read_resp(&mut self) -> io::Result<Resp> {
        let mut resp = Resp::default();
        loop {
            let line = read_line(&mut self.r)?;
            let line = line.trim_end_matches(['\r', '\n']);
            resp.text.push_str(line);
            match literal_len(line) {
                Some(n) => {
                    let mut lit = vec![0; n];
                    self.r.read_exact(&mut lit)?;
                    resp.literals.push(lit);
                }
                None => return Ok(resp),
            }
        }
    }

    pub fn next_tag(&mut self) -> String {
        self.n += 1;
        format!("t{}", self.n)
    }

    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let s = self.r.get_mut();
        s.write_all(bytes)?;
        s.flush()
    }

    /// Reads responses until the tagged completion of `tag`.
    pub fn read_reply(&mut self, tag: &str) -> io::Result<Reply> {
        let mut untagged = Vec::new();
        let prefix = format!("{tag} ");
        loop {
            let resp = self.read_resp()?;
            if resp.text.starts_with(&prefix) {
                return Ok(Reply {
                    untagged,
                    tagged: resp.text,
                });
            }
            untagged.push(resp);
        }
    }

    /// Sends `TAG command` and reads the reply. The command must not contain synchronizing
    /// literals (use `{n+}` or [`Imap::append`]).
    pub fn cmd(&mut self, command: &str) -> io::Result<Reply> {
        let tag = self.next_tag();
        self.write(format!("{tag} {command}\r\n").as_bytes())?;
        self.read_reply(&tag)
    }

    /// Sends raw bytes (a whole tagged command with CRLF, tag `tag`) and reads the reply.
    pub fn raw(&mut self, tag: &str, bytes: &[u8]) -> io::Result<Reply> {
        self.write(bytes)?;
        self.read_reply(tag)
    }

    /// `APPEND mailbox (flags) {n+}` with a non-synchronizing literal.
    pub fn append(&mut self, mailbox: &str, flags: &str, msg: &[u8]) -> io::Result<Reply> {
        let tag = self.next_tag();
        let mut bytes =
            format!("{tag} APPEND {mailbox} ({flags}) {{{}+}}\r\n", msg.len()).into_bytes();
        bytes.extend_from_slice(msg);
        bytes.extend_from_slice(b"\r\n");
        self.write(&bytes)?;
        self.read_reply(&tag)
    }

    pub fn stream(&mut self) -> &mut BufReader<TcpStream> {
        &mut self.r
    }
}

/// The number after `KEY ` in `text` (e.g. `UIDNEXT 5`, `APPENDUID 17 4`).
pub fn number_after(text: &str, key: &str) -> Option<u64> {
    let i = text.find(&format!("{key} "))? + key.len() + 1;
    let digits: String = text[i..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `[APPENDUID validity uid]` → (validity, uid).
pub fn appenduid(tagged: &str) -> Option<(u64, u64)> {
    let v = number_after(tagged, "APPENDUID")?;
    let i = tagged.find("APPENDUID ")? + "APPENDUID ".len();
    let rest = &tagged[i..];
    let sp = rest.find(' ')?;
    let digits: String = rest[sp + 1..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((v, digits.parse().ok()?))
}

/// The contents of the parenthesised `FLAGS (...)` list in a FETCH response.
pub fn flags_of(text: &str) -> Option<Vec<String>> {
    let i = text.find("FLAGS (")? + "FLAGS (".len();
    let end = text[i..].find(')')?;
    Some(
        text[i..i + end]
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
    )
}

/// A blocking line-protocol client (POP3, SMTP).
pub struct Lines {
    pub r: BufReader<TcpStream>,
}

impl Lines {
    pub fn connect(addr: SocketAddr) -> io::Result<Lines> {
        Ok(Lines {
            r: BufReader::new(connect(addr)?),
        })
    }
    pub fn line(&mut self) -> io::Result<String> {
        read_line(&mut self.r)
    }
    pub fn send(&mut self, s: &[u8]) -> io::Result<()> {
        let w = self.r.get_mut();
        w.write_all(s)?;
        w.flush()
    }
    /// Sends `s` + CRLF and returns the (first) reply line.
    pub fn cmd(&mut self, s: &str) -> io::Result<String> {
        self.send(format!("{s}\r\n").as_bytes())?;
        self.line()
    }
    /// Reads an SMTP reply (all `NNN-` continuation lines); returns the last line.
    pub fn smtp_reply(&mut self) -> io::Result<String> {
        loop {
            let l = self.line()?;
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return Ok(l);
            }
        }
    }
    pub fn smtp(&mut self, s: &str) -> io::Result<String> {
        self.send(format!("{s}\r\n").as_bytes())?;
        self.smtp_reply()
    }
}
