//! Test harness: a real POP3 server (the embedded store in a temp dir, the real listener and
//! driver) on 127.0.0.1 with a free port, in its own runtime; and a small blocking POP3
//! client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use pochta_auth::{Throttle, ThrottleConfig};
use pochta_net::TlsMode;
use pochta_net::testing::TestListener;
use pochta_pop3::{PlaintextPolicy, Pop3Config, Pop3Service};
use pochta_store::{Directory, MailStore, NewMessage};
use pochta_store_embedded::EmbeddedStore;
use pochta_types::{AccountId, Address, Flags, MailboxId, MailboxName, Uid};

pub const USER: &str = "user@example.org";
pub const OTHER: &str = "other@example.org";
pub const PASSWORD: &str = "secret word";

pub struct Server {
    pub addr: SocketAddr,
    pub store: EmbeddedStore,
    pub dir: tempfile::TempDir,
    /// Serves until dropped (then sessions are drained).
    _listener: TestListener,
}

pub struct Options {
    pub plaintext: PlaintextPolicy,
    pub mark_seen: bool,
    pub throttle: ThrottleConfig,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            plaintext: PlaintextPolicy::Always,
            mark_seen: false,
            throttle: ThrottleConfig::default(),
        }
    }
}

pub fn start() -> Server {
    start_with(Options::default())
}

pub fn start_with(opts: Options) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("open store");
    for user in [USER, OTHER] {
        let hash = pochta_auth::hash_password(PASSWORD).expect("hash");
        let addr = Address::new(user).expect("address");
        store.account_create(&addr, &hash).expect("create account");
        let scram = pochta_auth::ScramSecrets::derive(PASSWORD).encode();
        store
            .account_set_password(&addr, &hash, Some(&scram))
            .expect("scram");
    }
    let config = Pop3Config {
        hostname: "mail.example.org".into(),
        plaintext: opts.plaintext,
        mark_seen: opts.mark_seen,
        ..Pop3Config::default()
    };
    let service = Arc::new(Pop3Service::new(
        Arc::new(store.clone()),
        config,
        Arc::new(Throttle::new(opts.throttle)),
        Arc::new(pochta_auth::AuthCache::default()),
    ));
    let listener = TestListener::start(dir.path(), "pop3", TlsMode::StartTls, || service);
    let addr = listener.addr;
    Server {
        addr,
        store,
        dir,
        _listener: listener,
    }
}

impl Server {
    pub fn account(&self, user: &str) -> AccountId {
        self.store
            .account_by_address(&Address::new(user).expect("address"))
            .expect("lookup")
            .expect("account")
            .id
    }

    pub fn inbox(&self, user: &str) -> MailboxId {
        self.store
            .mailbox(self.account(user), &MailboxName::inbox())
            .expect("mailbox")
            .expect("inbox")
            .id
    }

    /// Appends messages to the user's INBOX (what an IMAP APPEND or delivery does).
    pub fn append(&self, user: &str, messages: &[&[u8]]) -> Vec<Uid> {
        let msgs: Vec<NewMessage<'_>> = messages
            .iter()
            .map(|m| NewMessage {
                bytes: m,
                flags: Flags::new(),
                internal_date: None,
            })
            .collect();
        let map = self.store.append(self.inbox(user), &msgs).expect("append");
        map.pairs.into_iter().map(|(_, u)| u).collect()
    }

    pub fn uids(&self, user: &str) -> Vec<Uid> {
        self.store
            .summaries(self.inbox(user))
            .expect("summaries")
            .into_iter()
            .map(|s| s.uid)
            .collect()
    }
}

/// A message of about `n` body lines, CRLF line endings.
pub fn message(subject: &str, body_lines: usize) -> Vec<u8> {
    let mut m =
        format!("From: a@example.org\r\nTo: {USER}\r\nSubject: {subject}\r\n\r\n").into_bytes();
    for i in 0..body_lines {
        m.extend_from_slice(format!("line {i} of {subject}\r\n").as_bytes());
    }
    m
}

/// A blocking POP3 client for tests.
pub struct Client {
    pub r: BufReader<TcpStream>,
    pub w: TcpStream,
    pub greeting: String,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let w = s.try_clone().expect("clone");
        let mut c = Client {
            r: BufReader::new(s),
            w,
            greeting: String::new(),
        };
        c.greeting = c.line();
        c
    }

    /// Connect and log in with USER/PASS.
    pub fn login(addr: SocketAddr, user: &str) -> Client {
        let mut c = Client::connect(addr);
        c.ok(&format!("USER {user}"));
        c.ok(&format!("PASS {PASSWORD}"));
        c
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).expect("write");
    }

    /// One line without CRLF.
    pub fn line(&mut self) -> String {
        let mut v = Vec::new();
        let n = self.r.read_until(b'\n', &mut v).expect("read");
        assert!(n > 0, "connection closed");
        assert!(v.ends_with(b"\r\n"), "line without CRLF: {v:?}");
        String::from_utf8_lossy(&v[..v.len() - 2]).into_owned()
    }

    /// The raw body of a multi-line response up to and including ".\r\n".
    pub fn multiline_raw(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let mut v = Vec::new();
            let n = self.r.read_until(b'\n', &mut v).expect("read");
            assert!(n > 0, "connection closed in a multi-line response");
            out.extend_from_slice(&v);
            if v == b".\r\n" {
                return out;
            }
        }
    }

    /// The lines of a multi-line response, un-stuffed, without the terminator.
    pub fn multiline(&mut self) -> Vec<String> {
        let raw = self.multiline_raw();
        let body = unstuff(&raw);
        String::from_utf8_lossy(&body)
            .split_terminator("\r\n")
            .map(str::to_owned)
            .collect()
    }

    /// Send a command, return the status line.
    pub fn cmd(&mut self, command: &str) -> String {
        self.send(format!("{command}\r\n").as_bytes());
        self.line()
    }

    /// Like [`cmd`], asserting `+OK`.
    pub fn ok(&mut self, command: &str) -> String {
        let r = self.cmd(command);
        assert!(r.starts_with("+OK"), "{command}: {r}");
        r
    }

    /// Like [`cmd`], asserting `-ERR`.
    pub fn err(&mut self, command: &str) -> String {
        let r = self.cmd(command);
        assert!(r.starts_with("-ERR"), "{command}: {r}");
        r
    }

    /// A command with a multi-line answer: the status line and the un-stuffed lines.
    pub fn multi(&mut self, command: &str) -> Vec<String> {
        self.ok(command);
        self.multiline()
    }

    /// RETR: the status line and the exact un-stuffed octets.
    pub fn retr(&mut self, n: u32) -> (String, Vec<u8>) {
        let status = self.ok(&format!("RETR {n}"));
        let raw = self.multiline_raw();
        (status, unstuff(&raw))
    }

    /// Whether the server closed the connection (reads EOF).
    pub fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.r.read(&mut b), Ok(0))
    }
}

/// A whole multi-line block as read from the wire (terminator included), un-stuffed by the
/// client half of the grammar; it must be exactly one block.
pub fn unstuff(raw: &[u8]) -> Vec<u8> {
    let (body, used) = pochta_pop3_proto::client::multiline(raw).expect("terminated");
    assert_eq!(used, raw.len(), "bytes after the terminator: {raw:?}");
    body
}
