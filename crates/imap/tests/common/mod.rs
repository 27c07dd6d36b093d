//! Test harness: a real IMAP server (the embedded store in a temp dir, the real listener and
//! driver) on 127.0.0.1 with a free port, in its own runtime thread; and a small blocking
//! IMAP client that understands literals.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use pochta_auth::{Throttle, ThrottleConfig};
use pochta_imap::{ImapConfig, ImapService, PlaintextPolicy};
use pochta_net::TlsMode;
use pochta_net::testing::TestListener;
use pochta_store::Directory;
use pochta_store_embedded::EmbeddedStore;
use pochta_types::Address;

pub const USER: &str = "user@example.org";
pub const OTHER: &str = "other@example.org";
/// A third account, for access-control tests (an owner, a grantee and a bystander).
pub const THIRD: &str = "third@example.org";
pub const PASSWORD: &str = "secret";

pub struct Server {
    pub addr: SocketAddr,
    pub store: EmbeddedStore,
    pub dir: tempfile::TempDir,
    /// Serves until dropped (then sessions are drained).
    _listener: TestListener,
}

pub fn start() -> Server {
    start_with(PlaintextPolicy::Always)
}

pub fn start_with(plaintext: PlaintextPolicy) -> Server {
    start_configured(ImapConfig {
        plaintext,
        ..ImapConfig::default()
    })
}

/// A server with `[imap] anonymous = true`.
pub fn start_anonymous() -> Server {
    start_configured(ImapConfig {
        plaintext: PlaintextPolicy::Always,
        anonymous: true,
        ..ImapConfig::default()
    })
}

/// A server with `config`'s plaintext policy and anonymous switch.
pub fn start_configured(config: ImapConfig) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("open store");
    for user in [USER, OTHER, THIRD] {
        let hash = pochta_auth::hash_password(PASSWORD).expect("hash");
        store
            .account_create(&Address::new(user).expect("address"), &hash)
            .expect("create account");
    }
    let config = ImapConfig {
        hostname: "mail.example.org".into(),
        max_message: 1024 * 1024,
        ..config
    };
    let throttle = Arc::new(Throttle::new(ThrottleConfig::default()));
    let service = Arc::new(ImapService::new(
        Arc::new(store.clone()),
        config,
        throttle,
        Arc::new(pochta_auth::AuthCache::default()),
    ));
    let listener = TestListener::start(dir.path(), "imap", TlsMode::StartTls, || service);
    let addr = listener.addr;
    Server {
        addr,
        store,
        dir,
        _listener: listener,
    }
}

/// How long [`Client::wait_response`] waits for a response another party causes: generous for
/// a loaded machine (a push takes milliseconds), yet below the IDLE driver's 15 s re-check
/// (`IDLE_RECHECK` in crates/imap/src/driver.rs), so an IDLE response that arrives in time was
/// pushed by the change bus, not found by the fallback.
pub const PUSH_DEADLINE: Duration = Duration::from_secs(12);

/// A blocking IMAP client for tests. Responses are returned as text lines with literals
/// inlined (`{n}\r\n` + the bytes), lossily decoded.
pub struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
    n: u32,
    pub greeting: String,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let w = s.try_clone().expect("clone");
        let mut c = Client {
            r: BufReader::new(s),
            w,
            n: 0,
            greeting: String::new(),
        };
        c.greeting = c.read_response();
        c
    }

    /// Connect and log in as `user`.
    pub fn login(addr: SocketAddr, user: &str) -> Client {
        let mut c = Client::connect(addr);
        let r = c.cmd(&format!("LOGIN {user} {PASSWORD}"));
        assert!(r.last().expect("reply").contains("OK"), "login: {r:?}");
        c
    }

    fn next_tag(&mut self) -> String {
        self.n += 1;
        format!("t{}", self.n)
    }

    /// The raw socket, for tests that take over the byte stream (COMPRESS). Anything the
    /// buffered reader already holds is not included.
    pub fn raw_stream(&mut self) -> TcpStream {
        assert!(self.r.buffer().is_empty());
        self.w.try_clone().expect("clone")
    }

    /// Send raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("write");
    }

    /// Read one response (a line, with literals inlined).
    pub fn read_response(&mut self) -> String {
        let mut out: Vec<u8> = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = self.r.read_until(b'\n', &mut line).expect("read");
            assert!(
                n > 0,
                "connection closed; got so far: {}",
                String::from_utf8_lossy(&out)
            );
            out.extend_from_slice(&line);
            // A literal announced at the end of the line?
            let trimmed = line.strip_suffix(b"\r\n").unwrap_or(&line);
            if trimmed.ends_with(b"}")
                && let Some(open) = trimmed.iter().rposition(|&b| b == b'{')
                && let Ok(s) = std::str::from_utf8(&trimmed[open + 1..trimmed.len() - 1])
                && let Ok(len) = s.trim_end_matches('+').parse::<usize>()
            {
                let mut lit = vec![0u8; len];
                self.r.read_exact(&mut lit).expect("literal");
                out.extend_from_slice(&lit);
                continue;
            }
            break;
        }
        let s = String::from_utf8_lossy(&out).into_owned();
        s.trim_end_matches("\r\n").to_string()
    }

    /// Read one response that something else (another session, a timer) is to cause: waits up
    /// to [`PUSH_DEADLINE`], a deadline generous enough for a loaded machine, and says what did
    /// not happen if it passes. (How fast the push is, is for benchmarks, not tests.)
    pub fn wait_response(&mut self, what: &str) -> String {
        self.r
            .get_ref()
            .set_read_timeout(Some(PUSH_DEADLINE))
            .expect("timeout");
        if let Err(e) = self.r.fill_buf() {
            panic!("{what} did not happen within {PUSH_DEADLINE:?} ({e})");
        }
        self.r
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        self.read_response()
    }

    /// Read responses up to and including the tagged one.
    pub fn read_until(&mut self, tag: &str) -> Vec<String> {
        let mut v = Vec::new();
        loop {
            let r = self.read_response();
            let done = r.starts_with(&format!("{tag} "));
            v.push(r);
            if done {
                return v;
            }
        }
    }

    /// Send a command (a tag is added) and return all responses, the tagged one last.
    pub fn cmd(&mut self, command: &str) -> Vec<String> {
        let tag = self.next_tag();
        self.send(format!("{tag} {command}\r\n").as_bytes());
        self.read_until(&tag)
    }

    /// Like [`cmd`], asserting the tagged response is OK.
    pub fn ok(&mut self, command: &str) -> Vec<String> {
        let r = self.cmd(command);
        let last = r.last().expect("reply");
        assert!(
            last.split(' ').nth(1) == Some("OK"),
            "{command} failed: {r:#?}"
        );
        r
    }

    /// The tagged status word (OK/NO/BAD) of a command.
    pub fn status(&mut self, command: &str) -> (String, Vec<String>) {
        let r = self.cmd(command);
        let word = r
            .last()
            .and_then(|l| l.split(' ').nth(1))
            .unwrap_or("")
            .to_string();
        (word, r)
    }

    /// APPEND with a synchronizing literal.
    pub fn append(&mut self, mailbox: &str, flags: &str, msg: &[u8]) -> Vec<String> {
        let tag = self.next_tag();
        let flags = if flags.is_empty() {
            String::new()
        } else {
            format!("({flags}) ")
        };
        self.send(format!("{tag} APPEND {mailbox} {flags}{{{}}}\r\n", msg.len()).as_bytes());
        let cont = self.read_response();
        if !cont.starts_with('+') {
            return vec![cont];
        }
        self.send(msg);
        self.send(b"\r\n");
        self.read_until(&tag)
    }
}

/// A small message with a subject and body.
pub fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Sender <sender@example.net>\r\nTo: user@example.org\r\nSubject: {subject}\r\nDate: Mon, 15 Jan 2024 10:30:00 +0300\r\nMessage-ID: <{subject}@example.net>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// Whether any response line contains `needle`.
pub fn has(r: &[String], needle: &str) -> bool {
    r.iter().any(|l| l.contains(needle))
}

/// The response code of the tagged reply (`[NOPERM]`), or `""` without one.
pub fn code(r: &[String]) -> String {
    let last = r.last().expect("reply");
    last.split(' ')
        .nth(2)
        .filter(|c| c.starts_with('['))
        .unwrap_or("")
        .to_string()
}

/// A multipart message with a nested message/rfc822 part and encoded headers.
pub const MULTI: &[u8] = b"From: =?koi8-r?B?6dfBziDwxdTSz9c=?= <ivan@example.org>\r\n\
To: user@example.org\r\n\
Subject: =?utf-8?B?0J7RgtGH0ZHRgiDQt9CwINC80LDRgNGC?=\r\n\
Date: Mon, 15 Jan 2024 10:30:00 +0300\r\n\
Message-ID: <m1@example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=koi8-r\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
=F0=D2=C9=D7=C5=D4, =DC=D4=CF =CF=D4=DE=A3=D4.\r\n\
--b1\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
Subject: inner\r\n\
From: a@b.c\r\n\
\r\n\
inner body\r\n\
--b1--\r\n";
