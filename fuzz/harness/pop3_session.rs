//! Whole-session POP3 fuzzing harness, shared by the cargo-fuzz target `pop3_session` and the
//! stable replay test in `crates/pop3/tests/session_fuzz.rs` (both include this file by path).
//!
//! It drives a real [`pochta_pop3::Session`] over a real [`EmbeddedStore`] exactly as the tokio
//! driver does (line framer → session, the line limit re-read after every line, STLS replacing
//! the framer and dropping what was pipelined), but without sockets.
//!
//! Input layout: the first byte picks the starting state — AUTHORIZATION, TRANSACTION after
//! `USER`/`PASS`, or TRANSACTION after `AUTH PLAIN` — whether STLS is offered, whether
//! plaintext logins are refused (AUTHORIZATION only), and the chunk size the rest of the
//! input is fed in. The account is always `user@fuzz.test` with password `fuzz` (so the fuzzer
//! can log in by itself) and its INBOX holds the same three messages at the start of every
//! run (put back after a run deleted some). Runs are serialised by a lock, so the stable
//! test's threads cannot disturb each other's store checks.
//!
//! Checks beyond "does not panic":
//! - each line the session handles gets exactly one response: one `+OK`/`-ERR` line, or a
//!   `+ ` SASL continuation, or (CAPA, LIST, UIDL, RETR, TOP, bare AUTH answered `+OK`) a
//!   multi-line answer whose only `.` line is the terminating `.\r\n`;
//! - RETR and TOP send exactly the stored message (or its TOP prefix) once un-dot-stuffed;
//! - STAT and the DELE/RSET answers agree with a model of the deletion marks;
//! - the store: nothing is deleted (nor flagged) unless `QUIT` in TRANSACTION answered `+OK`,
//!   and then exactly the messages marked with `DELE`; the maildrop lock is released when the
//!   session ends.
#![allow(dead_code)]

#[path = "scratch.rs"]
mod scratch;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use pochta_auth::{AuthCache, PlaintextPolicy, Throttle, ThrottleConfig};
use pochta_pop3::maildrop::{Locks, top};
use pochta_pop3::session::Next;
use pochta_pop3::{Pop3Config, Session, Shared};
use pochta_pop3_proto::client;
use pochta_pop3_proto::command::{self, Command};
use pochta_pop3_proto::framer::{Frame, LineFramer};
use pochta_store::{Directory, FlagOp, MailStore, NewMessage};
use pochta_store_embedded::EmbeddedStore;
use pochta_types::{AccountId, Address, Flag, Flags, MailboxId, MailboxName, Uid};

pub const USER: &str = "user@fuzz.test";
pub const PASSWORD: &str = "fuzz";

/// The INBOX at the start of every run: a plain message, one with lines that need
/// dot-stuffing, and one APPENDed without a final CRLF.
pub const MESSAGES: &[&[u8]] = &[
    b"From: a@fuzz.test\r\nSubject: one\r\n\r\nhello\r\n",
    b"From: b@fuzz.test\r\nSubject: dots\r\n\r\n.\r\n..two\r\n.x\r\nend\r\n",
    b"Subject: no final crlf\r\n\r\nline 1\r\nline 2",
];

/// Chunk sizes the input is fed in (0: all at once).
const CHUNKS: [usize; 6] = [0, 1, 2, 3, 7, 64];

pub struct Harness {
    store: EmbeddedStore,
    auth_cache: Arc<AuthCache>,
    account: AccountId,
    inbox: MailboxId,
    /// Serialises runs: they share one account.
    lock: Mutex<()>,
    _dir: tempfile::TempDir,
}

pub fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let (dir, store) = scratch::store();
        let addr = Address::new(USER).expect("address");
        let hash = pochta_auth::hash_password(PASSWORD).expect("hash");
        let account = store.account_create(&addr, &hash).expect("account");
        let scram = pochta_auth::ScramSecrets::derive(PASSWORD).encode();
        store
            .account_set_password(&addr, &hash, Some(&scram))
            .expect("scram");
        let inbox = store
            .mailbox(account, &MailboxName::inbox())
            .expect("mailbox")
            .expect("inbox")
            .id;
        Harness {
            store,
            auth_cache: Arc::new(AuthCache::default()),
            account,
            inbox,
            lock: Mutex::new(()),
            _dir: dir,
        }
    })
}

/// The INBOX as the store has it: `(uid, flags)` in UID order.
fn inbox_state(h: &Harness) -> Vec<(Uid, Flags)> {
    let mut v: Vec<_> = h
        .store
        .summaries(h.inbox)
        .expect("summaries")
        .into_iter()
        .map(|s| (s.uid, s.flags))
        .collect();
    v.sort_by_key(|(u, _)| *u);
    v
}

/// Puts the three messages back, unflagged, if the previous run changed the INBOX.
fn reset_inbox(h: &Harness) -> Vec<(Uid, Flags)> {
    let state = inbox_state(h);
    if state.len() == MESSAGES.len() && state.iter().all(|(_, f)| f.is_empty()) {
        return state;
    }
    let uids: Vec<Uid> = state.iter().map(|(u, _)| *u).collect();
    if !uids.is_empty() {
        let deleted = Flags::from_flags([&Flag::Deleted]);
        h.store
            .store_flags(h.inbox, &uids, FlagOp::Add, &deleted, None)
            .expect("flag");
        h.store.expunge(h.inbox, Some(&uids)).expect("expunge");
    }
    let msgs: Vec<NewMessage<'_>> = MESSAGES
        .iter()
        .map(|m| NewMessage {
            bytes: m,
            flags: Flags::new(),
            internal_date: None,
        })
        .collect();
    h.store.append(h.inbox, &msgs).expect("append");
    let state = inbox_state(h);
    assert_eq!(state.len(), MESSAGES.len(), "reset INBOX");
    state
}

/// What the client sees a message as: the stored bytes, with CRLF added if missing.
fn as_sent(m: &[u8]) -> Vec<u8> {
    let mut v = m.to_vec();
    if !v.is_empty() && !v.ends_with(b"\r\n") {
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// A session plus the framer and the model the checks compare against.
pub struct Driven {
    session: Session<EmbeddedStore>,
    shared: Arc<Shared<EmbeddedStore>>,
    framer: LineFramer,
    closed: bool,
    /// The last response was a `+ ` SASL challenge: the next line is a SASL response.
    sasl: bool,
    /// Message numbers marked by DELE (model).
    marked: BTreeSet<u32>,
    /// `QUIT` in TRANSACTION answered `+OK`.
    quit_committed: bool,
    /// Every response, kept only when asked (setup checks, tests).
    pub transcript: Vec<u8>,
    keep: bool,
}

impl Driven {
    fn new(starttls: bool, policy: PlaintextPolicy) -> Driven {
        let h = harness();
        let shared = Arc::new(Shared {
            store: Arc::new(h.store.clone()),
            config: Pop3Config {
                hostname: "fuzz.test".into(),
                plaintext: policy,
                ..Pop3Config::default()
            },
            // Fresh per run: fuzzed failed logins must not lock the next run out.
            throttle: Arc::new(Throttle::new(ThrottleConfig::default())),
            auth_cache: Arc::clone(&h.auth_cache),
            locks: Locks::default(),
        });
        // Not loopback, so `TlsOrLoopback` would refuse plaintext: the policy decides.
        let peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let mut session = Session::new(Arc::clone(&shared), peer, false, starttls);
        let framer = LineFramer::new(session.line_limit());
        session.greeting();
        let mut d = Driven {
            session,
            shared,
            framer,
            closed: false,
            sasl: false,
            marked: BTreeSet::new(),
            quit_committed: false,
            transcript: Vec::new(),
            keep: false,
        };
        let greeting = std::mem::take(&mut d.session.out);
        assert!(
            greeting.starts_with(b"+OK ") && single_line(&greeting),
            "greeting {:?}",
            String::from_utf8_lossy(&greeting)
        );
        d
    }

    /// Feeds client bytes and handles every complete line, as the driver does.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.closed {
            return;
        }
        self.framer.feed(bytes);
        loop {
            self.framer.set_max(self.session.line_limit());
            let Some(frame) = self.framer.next_frame() else {
                return;
            };
            let was_sasl = std::mem::take(&mut self.sasl);
            let was_authenticated = self.session.is_authenticated();
            let (next, cmd) = match &frame {
                Frame::Line(line) => {
                    let cmd = if was_sasl {
                        None
                    } else {
                        command::parse(line).ok()
                    };
                    (self.session.handle_line(line), cmd)
                }
                Frame::TooLong => {
                    self.session.line_too_long();
                    (Next::Continue, None)
                }
            };
            self.session.delay = None;
            let out = std::mem::take(&mut self.session.out);
            self.check_response(&out, cmd.as_ref(), was_authenticated);
            if self.keep {
                self.transcript.extend_from_slice(&out);
            }
            match next {
                Next::Continue => {}
                Next::Close => {
                    assert!(
                        matches!(cmd, Some(Command::Quit)),
                        "session closed after {cmd:?}"
                    );
                    if was_authenticated && out.starts_with(b"+OK") {
                        self.quit_committed = true;
                    }
                    self.closed = true;
                    return;
                }
                Next::StartTls => {
                    assert!(matches!(cmd, Some(Command::Stls)), "STLS after {cmd:?}");
                    // The driver drops everything pipelined after STLS.
                    self.framer = LineFramer::new(self.session.line_limit());
                    self.session.tls_started();
                    return;
                }
            }
        }
    }

    /// One handled line → exactly one well-formed response, consistent with the model.
    fn check_response(&mut self, out: &[u8], cmd: Option<&Command>, was_authenticated: bool) {
        let show = || String::from_utf8_lossy(out).into_owned();
        assert!(!out.is_empty(), "no response to {cmd:?}");
        let Some(first_end) = find(out, b"\r\n") else {
            panic!("response without CRLF: {:?}", show());
        };
        let first = &out[..first_end];
        assert!(
            !first.contains(&b'\r') && !first.contains(&b'\n'),
            "bare CR/LF in {:?}",
            show()
        );
        let ok = first == b"+OK" || first.starts_with(b"+OK ");
        let challenge = first.starts_with(b"+ ") || first == b"+";
        assert!(
            ok || challenge || first == b"-ERR" || first.starts_with(b"-ERR "),
            "bad status line {:?}",
            show()
        );
        let multi = ok
            && matches!(
                cmd,
                Some(
                    Command::Capa
                        | Command::List(None)
                        | Command::Uidl(None)
                        | Command::Retr(_)
                        | Command::Top { .. }
                        | Command::Auth {
                            mechanism: None,
                            ..
                        }
                )
            );
        if !multi {
            assert_eq!(first_end + 2, out.len(), "more than one line: {:?}", show());
        }
        if challenge {
            assert!(
                matches!(cmd, Some(Command::Auth { .. })) || cmd.is_none(),
                "continuation after {cmd:?}"
            );
            self.sasl = true;
        }
        let body = &out[first_end + 2..];
        if multi {
            assert!(body.ends_with(b".\r\n"), "unterminated: {:?}", show());
            let term = if body.starts_with(b".\r\n") {
                0
            } else {
                find(body, b"\r\n.\r\n").expect("terminator") + 2
            };
            assert_eq!(
                term + 3,
                body.len(),
                "data after the terminator: {:?}",
                show()
            );
            for line in body[..term].split(|&b| b == b'\n') {
                assert!(
                    !line.contains(&b'\r') || line.ends_with(b"\r"),
                    "bare CR in a multi-line answer"
                );
            }
        }
        let Some(cmd) = cmd else {
            return;
        };
        // The model of the maildrop (TRANSACTION only).
        if !was_authenticated {
            return;
        }
        let n_msgs = MESSAGES.len() as u32;
        let live =
            |marked: &BTreeSet<u32>, n: u32| (1..=n_msgs).contains(&n) && !marked.contains(&n);
        match *cmd {
            Command::Dele(n) => {
                assert_eq!(ok, live(&self.marked, n), "DELE {n}: {:?}", show());
                if ok {
                    self.marked.insert(n);
                }
            }
            Command::Rset => {
                assert!(ok, "RSET: {:?}", show());
                self.marked.clear();
            }
            Command::Stat => {
                let want: usize = MESSAGES.len() - self.marked.len();
                let size: usize = (1..=n_msgs)
                    .filter(|n| !self.marked.contains(n))
                    .map(|n| MESSAGES[n as usize - 1].len())
                    .sum();
                assert_eq!(
                    first,
                    format!("+OK {want} {size}").as_bytes(),
                    "STAT with marks {:?}",
                    self.marked
                );
            }
            Command::Retr(n)
            | Command::Top { msg: n, .. }
            | Command::List(Some(n))
            | Command::Uidl(Some(n)) => {
                assert_eq!(ok, live(&self.marked, n), "{cmd:?}: {:?}", show());
                if ok && let Command::Retr(_) | Command::Top { .. } = cmd {
                    let m = MESSAGES[n as usize - 1];
                    let want = match *cmd {
                        Command::Top { lines, .. } => as_sent(top(m, lines)),
                        _ => as_sent(m),
                    };
                    assert_eq!(
                        unstuff(body).as_deref(),
                        Some(&want[..]),
                        "{cmd:?} sent other bytes"
                    );
                }
            }
            Command::Uidl(None) | Command::List(None) => {
                let lines = body.split(|&b| b == b'\n').filter(|l| l.len() > 1).count();
                // Minus the terminator line.
                assert_eq!(
                    lines - 1,
                    MESSAGES.len() - self.marked.len(),
                    "{:?}",
                    show()
                );
            }
            _ => {}
        }
    }

    /// Whether, after the input, the next bytes would start a new command.
    fn between_commands(&self, input: &[u8]) -> bool {
        !self.closed && !self.sasl && self.framer.buffered() == 0 && input.last() == Some(&b'\n')
    }

    /// Runs a setup line, insisting on `+OK`.
    fn must(&mut self, bytes: &[u8]) {
        self.keep = true;
        self.transcript.clear();
        self.feed(bytes);
        let text = String::from_utf8_lossy(&self.transcript).into_owned();
        assert!(
            text.lines().last().is_some_and(|l| l.starts_with("+OK")),
            "setup {:?} failed: {text}",
            String::from_utf8_lossy(bytes)
        );
        self.keep = false;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn single_line(b: &[u8]) -> bool {
    find(b, b"\r\n") == Some(b.len() - 2)
}

/// What the first input byte selects.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// 0: AUTHORIZATION; 1: TRANSACTION after USER/PASS; 2: TRANSACTION after AUTH PLAIN.
    pub state: u8,
    pub starttls: bool,
    /// AUTHORIZATION only: plaintext passwords refused until STLS.
    pub tls_only: bool,
    pub chunk: usize,
}

impl Setup {
    pub fn from_byte(b: u8) -> Setup {
        let state = b % 3;
        Setup {
            state,
            starttls: (b / 3) % 2 == 1,
            tls_only: state == 0 && (b / 6) % 2 == 1,
            chunk: CHUNKS[usize::from(b / 12) % CHUNKS.len()],
        }
    }
}

fn session_in_state(setup: Setup) -> Driven {
    let policy = if setup.tls_only {
        PlaintextPolicy::TlsOnly
    } else {
        PlaintextPolicy::Always
    };
    let mut d = Driven::new(setup.starttls, policy);
    match setup.state {
        1 => {
            d.must(format!("USER {USER}\r\n").as_bytes());
            d.must(format!("PASS {PASSWORD}\r\n").as_bytes());
        }
        2 => {
            use base64::Engine;
            let ir =
                base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{PASSWORD}"));
            d.must(format!("AUTH PLAIN {ir}\r\n").as_bytes());
        }
        _ => {}
    }
    d
}

fn serialise() -> MutexGuard<'static, ()> {
    harness().lock.lock().unwrap_or_else(|e| e.into_inner())
}

/// One fuzz run: the first byte picks the setup, the rest is the client's bytes.
pub fn run(data: &[u8]) {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let _guard = serialise();
    let h = harness();
    let before = reset_inbox(h);
    let setup = Setup::from_byte(selector);
    let mut d = session_in_state(setup);
    scratch::feed_in_chunks(input, setup.chunk, |c| d.feed(c));
    // In sync: a final NOOP still gets its one-line answer (`-ERR` before login).
    if d.between_commands(input) {
        d.keep = true;
        d.transcript.clear();
        d.feed(b"NOOP\r\n");
        let t = String::from_utf8_lossy(&d.transcript).into_owned();
        assert!(
            t.starts_with("+OK") || t.starts_with("-ERR"),
            "out of sync after the input: {t:?}"
        );
    }
    let committed = d.quit_committed;
    let marked = std::mem::take(&mut d.marked);
    let shared = Arc::clone(&d.shared);
    drop(d);
    assert!(
        !shared.locks.is_locked(h.account),
        "maildrop still locked after the session ended"
    );
    let after = inbox_state(h);
    let want: Vec<(Uid, Flags)> = if committed {
        before
            .iter()
            .enumerate()
            .filter(|(i, _)| !marked.contains(&(*i as u32 + 1)))
            .map(|(_, e)| e.clone())
            .collect()
    } else {
        before
    };
    assert_eq!(
        after, want,
        "INBOX after the session (QUIT committed: {committed}, marked: {marked:?})"
    );
}

/// Everything the server answers to `input` after the setup `selector` picks (for tests).
pub fn transcript(selector: u8, input: &[u8]) -> String {
    let _guard = serialise();
    reset_inbox(harness());
    let mut d = session_in_state(Setup::from_byte(selector));
    d.keep = true;
    d.transcript.clear();
    d.feed(input);
    String::from_utf8_lossy(&d.transcript).into_owned()
}

/// A whole multi-line block (terminator included) un-stuffed by the client half of the
/// grammar; `None` unless it is exactly one block.
fn unstuff(raw: &[u8]) -> Option<Vec<u8>> {
    let (body, used) = client::multiline(raw)?;
    (used == raw.len()).then_some(body)
}
