//! Whole-session IMAP fuzzing harness, shared by the cargo-fuzz target `imap_session` and the
//! stable replay test in `crates/imap/tests/session_fuzz.rs` (both include this file by path).
//!
//! It drives a real [`pochta_imap::Session`] over a real [`EmbeddedStore`] exactly as the
//! tokio driver does (framer → parser → session, literal decisions, SASL continuation lines,
//! IDLE's `DONE`, STARTTLS/COMPRESS resetting the framer), but without sockets.
//!
//! Input layout: the first byte picks the state the fuzzed bytes start in — not
//! authenticated, authenticated, or selected (INBOX holding a few messages, one of them
//! multipart); the rest is fed as client bytes. Every run uses a fresh account, so a run does
//! not depend on what earlier runs stored; the store (on tmpfs when available) is created once
//! per process. Every account shares one password hash, so after the first login the verified-
//! credentials cache makes driving a session into the authenticated state cost one HMAC.
//!
//! Checks beyond "does not panic": the session's output after each event ends with a line
//! end, and a final `NOOP` after the input still gets its tagged answer whenever the input
//! (without literals, ending in LF) left the connection between commands.
#![allow(dead_code)]

#[path = "scratch.rs"]
mod scratch;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use pochta_auth::{AuthCache, Throttle, ThrottleConfig};
use pochta_imap::session::Next;
use pochta_imap::{ImapConfig, PlaintextPolicy, Session, Shared};
use pochta_imap_proto::{Event, Framer, Limits, Tag, parse_command};
use pochta_store::Directory;
use pochta_store_embedded::EmbeddedStore;
use pochta_types::Address;

/// Small limits, so the fuzzer reaches them.
const MAX_MESSAGE: u64 = 64 * 1024;
const PASSWORD: &str = "fuzz";

pub struct Harness {
    store: EmbeddedStore,
    auth_cache: Arc<AuthCache>,
    phc: String,
    next: AtomicU64,
    _dir: tempfile::TempDir,
}

pub fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let (dir, store) = scratch::store();
        Harness {
            store,
            auth_cache: Arc::new(AuthCache::default()),
            phc: pochta_auth::hash_password(PASSWORD).expect("hash"),
            next: AtomicU64::new(0),
            _dir: dir,
        }
    })
}

/// What the next raw line from the framer is for.
enum Waiting {
    Nothing,
    Sasl,
    Idle(Tag),
}

/// A session plus the framer state the driver would keep.
pub struct Driven {
    session: Session<EmbeddedStore>,
    framer: Framer,
    waiting: Waiting,
    closed: bool,
    /// Everything written, kept only when asked (for the setup checks).
    pub transcript: Vec<u8>,
    keep: bool,
}

fn limits() -> Limits {
    Limits {
        max_literal: MAX_MESSAGE,
        max_command: 1 << 20,
        ..Limits::default()
    }
}

impl Driven {
    fn new() -> Driven {
        let h = harness();
        let shared = Arc::new(Shared {
            store: Arc::new(h.store.clone()),
            config: ImapConfig {
                hostname: "fuzz.test".into(),
                plaintext: PlaintextPolicy::Always,
                max_message: MAX_MESSAGE,
                // Anonymous sessions are one more state for the fuzzer to reach.
                anonymous: true,
                ..ImapConfig::default()
            },
            // Fresh per run: fuzzed failed logins must not lock the next run out.
            throttle: Arc::new(Throttle::new(ThrottleConfig::default())),
            auth_cache: Arc::clone(&h.auth_cache),
            anonymous_logins: Default::default(),
            search: None,
            threads: Default::default(),
        });
        let mut session = Session::new(shared, IpAddr::V4(Ipv4Addr::LOCALHOST), false, true);
        session.greeting();
        let mut d = Driven {
            session,
            framer: Framer::new(limits()),
            waiting: Waiting::Nothing,
            closed: false,
            transcript: Vec::new(),
            keep: false,
        };
        d.flush();
        d
    }

    fn flush(&mut self) {
        let out = std::mem::take(&mut self.session.out);
        if let Some(&last) = out.last() {
            assert_eq!(last, b'\n', "output not line-terminated: {:?}", tail(&out));
        }
        if self.keep {
            self.transcript.extend_from_slice(&out);
        }
        self.session.delay = None;
    }

    /// Feeds client bytes and handles every complete event, as the driver does.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.closed {
            return;
        }
        self.framer.feed(bytes);
        while let Some(event) = self.framer.next_event() {
            let next = match event {
                Event::Command(fc) => {
                    match parse_command(&fc.bytes, self.session.parse_options()) {
                        Ok(cmd) => self.session.handle(cmd),
                        Err(e) => {
                            self.session.parse_error(e);
                            Next::Continue
                        }
                    }
                }
                Event::LiteralAnnounced { tag, size, .. } => {
                    if size > MAX_MESSAGE {
                        self.framer.reject_literal();
                        self.session.frame_error(
                            tag.as_ref(),
                            "literal is larger than APPENDLIMIT",
                            true,
                        );
                    } else {
                        self.framer.accept_literal();
                        self.session.out.extend_from_slice(b"+ Ready\r\n");
                    }
                    Next::Continue
                }
                Event::Line(line) => match std::mem::replace(&mut self.waiting, Waiting::Nothing) {
                    Waiting::Sasl => self.session.sasl_line(&line),
                    Waiting::Idle(tag) => {
                        self.session.idle_done(&tag, &line);
                        Next::Continue
                    }
                    Waiting::Nothing => Next::Continue,
                },
                Event::Error(e) => {
                    let too_big = matches!(
                        e.kind,
                        pochta_imap_proto::FrameErrorKind::LiteralTooBig { .. }
                            | pochta_imap_proto::FrameErrorKind::CommandTooBig
                    );
                    self.session
                        .frame_error(e.tag.as_ref(), "frame error", too_big);
                    Next::Continue
                }
            };
            self.flush();
            let mut next = next;
            while next == Next::More {
                // A FETCH written in chunks, as the driver sends them.
                next = self.session.resume();
                self.flush();
            }
            match next {
                Next::Continue | Next::More => {}
                Next::Logout => {
                    self.closed = true;
                    return;
                }
                Next::SaslContinue => {
                    self.waiting = Waiting::Sasl;
                    self.framer.expect_line();
                }
                Next::StartTls => {
                    // The driver drops everything pipelined after STARTTLS.
                    self.framer = Framer::new(limits());
                    self.session.tls_started();
                    return;
                }
                Next::Compress => {
                    // Real clients would now send deflate data; the fuzzer's bytes are not.
                    self.closed = true;
                    return;
                }
                Next::Idle(tag) => {
                    self.session.idle_poll();
                    self.flush();
                    self.waiting = Waiting::Idle(tag);
                    self.framer.expect_line();
                }
            }
        }
    }

    /// Whether, after `input`, the next bytes would start a new command. The framer does not
    /// say whether it is inside a literal, so only inputs without literals are judged: there,
    /// every LF ends a command line.
    fn between_commands(&self, input: &[u8]) -> bool {
        !self.closed
            && matches!(self.waiting, Waiting::Nothing)
            && !self.framer.awaiting_decision()
            && self.framer.buffered() == 0
            && input.last() == Some(&b'\n')
            && !input.contains(&b'{')
    }

    /// Runs setup commands, insisting on `OK` for each.
    fn must(&mut self, tag: &str, bytes: &[u8]) {
        self.keep = true;
        self.transcript.clear();
        self.feed(bytes);
        let text = String::from_utf8_lossy(&self.transcript).into_owned();
        assert!(
            text.contains(&format!("\r\n{tag} OK")) || text.starts_with(&format!("{tag} OK")),
            "setup {tag} failed: {text}"
        );
        self.keep = false;
    }
}

fn tail(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[b.len().saturating_sub(80)..]).into_owned()
}

const MULTIPART: &str = "From: a@fuzz.test\r\nTo: b@fuzz.test\r\nSubject: =?utf-8?B?0J/RgNC40LLQtdGC?=\r\n\
Date: Mon, 7 Jul 2025 10:00:00 +0000\r\nMessage-ID: <m1@fuzz.test>\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
hello world\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n\
--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b1--\r\n";

/// Starts a session in the state `selector` picks (mod 3).
pub fn session_in_state(selector: u8) -> Driven {
    let h = harness();
    let mut d = Driven::new();
    let state = selector % 3;
    if state == 0 {
        return d;
    }
    let n = h.next.fetch_add(1, Ordering::Relaxed);
    let user = format!("f{n}@fuzz.test");
    h.store
        .account_create(&Address::new(&user).expect("address"), &h.phc)
        .expect("account");
    d.must("L", format!("L LOGIN {user} {PASSWORD}\r\n").as_bytes());
    if state == 2 {
        let plain = "Subject: plain\r\n\r\nbody\r\n";
        let m = format!(
            "A1 APPEND INBOX (\\Seen $x) {{{}+}}\r\n{plain}\r\n",
            plain.len()
        );
        d.must("A1", m.as_bytes());
        let m = format!(
            "A2 APPEND INBOX {{{}+}}\r\n{MULTIPART}\r\n",
            MULTIPART.len()
        );
        d.must("A2", m.as_bytes());
        d.must("S", b"S SELECT INBOX\r\n");
    }
    d
}

/// One fuzz run: the first byte picks the state, the rest is the client's bytes.
pub fn run(data: &[u8]) {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let mut d = session_in_state(selector);
    d.feed(input);
    if d.between_commands(input) {
        d.keep = true;
        d.transcript.clear();
        d.feed(b"zz NOOP\r\n");
        let text = String::from_utf8_lossy(&d.transcript).into_owned();
        assert!(
            d.closed || text.contains("zz OK") || text.contains("zz BAD"),
            "session out of sync after the input: {text:?}"
        );
    }
}

/// Everything the server writes for `input` in the state `selector` picks (for tests).
pub fn transcript(selector: u8, input: &[u8]) -> String {
    let mut d = session_in_state(selector);
    d.keep = true;
    d.transcript.clear();
    d.feed(input);
    String::from_utf8_lossy(&d.transcript).into_owned()
}
