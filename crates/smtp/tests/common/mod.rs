//! Test harness: a real SMTP server (the embedded store in a temp dir, the real listener and
//! driver) on 127.0.0.1 with a free port, in its own runtime thread; a small blocking SMTP
//! client (raw command lines on purpose, replies framed by `pochta-smtp-proto`'s client
//! half); and helpers to read what was delivered.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pochta_auth::{PlaintextPolicy, Throttle, ThrottleConfig};
use pochta_net::TlsMode;
use pochta_net::testing::TestListener;
use pochta_smtp::{
    Kind, OutboundQueue, QueueError, QueueId, Shared, SmtpConfig, SmtpService, Verifier,
};
use pochta_smtp_proto::{Envelope, ReplyParser};
use pochta_store::{Directory, MailStore};
use pochta_store_embedded::EmbeddedStore;
use pochta_types::{Address, MailboxName};

pub const USER: &str = "user@example.org";
pub const OTHER: &str = "other@example.org";
pub const PASSWORD: &str = "secret";
pub const HOST: &str = "mx.example.org";

pub struct Server {
    pub addr: SocketAddr,
    pub store: EmbeddedStore,
    pub dir: tempfile::TempDir,
    pub queue: Arc<MemQueue>,
    /// Serves until dropped (then sessions are drained).
    _listener: TestListener,
}

/// An in-memory outbound queue for tests.
#[derive(Default)]
pub struct MemQueue {
    pub items: Mutex<Vec<(Envelope, Vec<u8>)>>,
}

impl OutboundQueue for MemQueue {
    fn enqueue(&self, envelope: &Envelope, message: &[u8]) -> Result<QueueId, QueueError> {
        let mut items = self
            .items
            .lock()
            .map_err(|_| QueueError("poisoned".into()))?;
        items.push((envelope.clone(), message.to_vec()));
        Ok(QueueId(format!("q{}", items.len())))
    }
}

/// How to build a test server.
pub struct Options {
    pub kind: Kind,
    pub config: SmtpConfig,
    pub verifier: Verifier,
    pub with_queue: bool,
    pub implicit_tls: bool,
}

impl Options {
    pub fn mta() -> Self {
        Options {
            kind: Kind::Mta,
            config: config(),
            verifier: Verifier::disabled(HOST),
            with_queue: false,
            implicit_tls: false,
        }
    }

    pub fn submission() -> Self {
        Options {
            kind: Kind::Submission,
            ..Options::mta()
        }
    }
}

pub fn config() -> SmtpConfig {
    SmtpConfig {
        hostname: HOST.into(),
        plaintext: PlaintextPolicy::Always,
        max_message: 64 * 1024,
        ..SmtpConfig::default()
    }
}

pub fn start_mta() -> Server {
    start(Options::mta())
}

pub fn start_submission() -> Server {
    start(Options::submission())
}

pub fn start(opts: Options) -> Server {
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
    store
        .alias_add("sales@example.org", &Address::new(USER).expect("a"))
        .expect("alias");
    store
        .domain_add(&pochta_types::Domain::new("catchall.example").expect("d"))
        .expect("domain");
    store
        .alias_add("@catchall.example", &Address::new(OTHER).expect("a"))
        .expect("catch-all");
    store
        .account_create(&Address::new("иван@почта.рф").expect("a"), "x")
        .expect("utf8 account");

    let queue = Arc::new(MemQueue::default());
    let service = Arc::new(SmtpService::new(Shared {
        store: Arc::new(store.clone()),
        config: opts.config,
        kind: opts.kind,
        throttle: Arc::new(Throttle::new(ThrottleConfig::default())),
        auth_cache: Arc::new(pochta_auth::AuthCache::default()),
        verifier: Arc::new(opts.verifier),
        queue: opts
            .with_queue
            .then(|| queue.clone() as Arc<dyn OutboundQueue>),
    }));
    let listener = TestListener::start(
        dir.path(),
        "smtp",
        |acceptor| {
            if opts.implicit_tls {
                TlsMode::Implicit(acceptor)
            } else {
                TlsMode::StartTls(acceptor)
            }
        },
        || service,
    );
    let addr = listener.addr;
    Server {
        addr,
        store,
        dir,
        queue,
        _listener: listener,
    }
}

impl Server {
    /// Every message in the account's mailbox, as stored.
    pub fn messages_in(&self, account: &str, mailbox: &str) -> Vec<Vec<u8>> {
        let acct = self
            .store
            .account_by_address(&Address::new(account).expect("address"))
            .expect("lookup")
            .expect("account");
        let name = if mailbox == "INBOX" {
            MailboxName::inbox()
        } else {
            MailboxName::new(mailbox).expect("name")
        };
        let mb = self
            .store
            .mailbox(acct.id, &name)
            .expect("mailbox")
            .expect("exists");
        let uids: Vec<_> = self
            .store
            .summaries(mb.id)
            .expect("summaries")
            .iter()
            .map(|s| s.uid)
            .collect();
        self.store
            .records(mb.id, &uids, false)
            .expect("records")
            .iter()
            .map(|r| self.store.blob(&r.blob).expect("blob").to_vec())
            .collect()
    }

    pub fn inbox(&self, account: &str) -> Vec<Vec<u8>> {
        self.messages_in(account, "INBOX")
    }

    /// Blob ids of the INBOX messages of `account`.
    pub fn blob_ids(&self, account: &str) -> Vec<pochta_store::BlobId> {
        let acct = self
            .store
            .account_by_address(&Address::new(account).expect("address"))
            .expect("lookup")
            .expect("account");
        let mb = self
            .store
            .mailbox(acct.id, &MailboxName::inbox())
            .expect("mailbox")
            .expect("exists");
        let uids: Vec<_> = self
            .store
            .summaries(mb.id)
            .expect("summaries")
            .iter()
            .map(|s| s.uid)
            .collect();
        self.store
            .records(mb.id, &uids, false)
            .expect("records")
            .into_iter()
            .map(|r| r.blob)
            .collect()
    }
}

/// A blocking SMTP client for tests.
pub struct Client {
    s: TcpStream,
    parser: ReplyParser,
    pub greeting: String,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut c = Client {
            s,
            parser: ReplyParser::default(),
            greeting: String::new(),
        };
        c.greeting = c.reply();
        c
    }

    /// Connect and EHLO.
    pub fn ehlo(addr: SocketAddr) -> Client {
        let mut c = Client::connect(addr);
        let r = c.cmd("EHLO client.example.net");
        assert!(r.starts_with("250"), "{r}");
        c
    }

    /// Connect, EHLO and AUTH PLAIN as `user`.
    pub fn auth(addr: SocketAddr, user: &str) -> Client {
        let mut c = Client::ehlo(addr);
        let r = c.cmd(&format!("AUTH PLAIN {}", plain(user, PASSWORD)));
        assert!(r.starts_with("235 2.7.0"), "{r}");
        c
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("write");
    }

    /// One (possibly multi-line) reply, lines joined with `\n`, without CRLF. Empty string
    /// when the connection was closed.
    pub fn reply(&mut self) -> String {
        loop {
            match self.parser.next_reply() {
                Ok(Some(r)) => {
                    return r
                        .to_wire()
                        .trim_end_matches(['\r', '\n'])
                        .replace("\r\n", "\n");
                }
                Ok(None) => {}
                Err(e) => panic!("the server sent a malformed reply: {e}"),
            }
            let mut buf = [0u8; 4096];
            let n = self.s.read(&mut buf).unwrap_or(0);
            if n == 0 {
                return String::new();
            }
            self.parser.feed(&buf[..n]);
        }
    }

    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Asserts that the reply starts with `want`.
    pub fn expect(&mut self, line: &str, want: &str) -> String {
        let r = self.cmd(line);
        assert!(r.starts_with(want), "{line} → {r} (wanted {want})");
        r
    }

    /// A whole transaction with DATA; returns the final reply.
    pub fn mail(&mut self, from: &str, to: &[&str], message: &[u8]) -> String {
        self.expect(&format!("MAIL FROM:<{from}>"), "250 2.1.0");
        for t in to {
            self.expect(&format!("RCPT TO:<{t}>"), "250 2.1.5");
        }
        self.expect("DATA", "354");
        self.send(&pochta_smtp_proto::data_bytes(message));
        self.reply()
    }

    /// Whether the server closed the connection.
    pub fn closed(&mut self) -> bool {
        if self.parser.has_pending() {
            return false;
        }
        let mut buf = [0u8; 1];
        matches!(self.s.read(&mut buf), Ok(0) | Err(_))
    }
}

/// Dot-stuffs a message for DATA, without the final `.` line (tests pipeline commands after
/// it); the message must end with CRLF.
pub fn dot_stuff(m: &[u8]) -> Vec<u8> {
    let mut out = pochta_smtp_proto::data_bytes(m);
    out.truncate(out.len().saturating_sub(b".\r\n".len()));
    out
}

pub fn plain(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}

pub fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// A small message.
pub fn message(from: &str, to: &str, subject: &str) -> Vec<u8> {
    format!(
        "From: Sender <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Mon, 15 Jan 2024 10:30:00 +0300\r\nMessage-ID: <{subject}@example.net>\r\n\r\nHello.\r\n"
    )
    .into_bytes()
}

/// The stored message with trace headers removed (everything before the first header of
/// the original message), to compare with what was sent.
pub fn strip_trace(stored: &[u8], first_header: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(stored);
    let at = text.find(first_header).expect("original header present");
    stored[at..].to_vec()
}

pub fn has(text: &[u8], needle: &str) -> bool {
    String::from_utf8_lossy(text).contains(needle)
}
