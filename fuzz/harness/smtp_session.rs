//! Whole-session SMTP fuzzing harness, shared by the cargo-fuzz target `smtp_session` and the
//! stable replay test in `crates/smtp/tests/session_fuzz.rs` (both include this file by path).
//!
//! It drives a real [`pochta_smtp::Session`] over a real [`EmbeddedStore`] exactly as the tokio
//! driver does (framer → session, DATA/BDAT modes, SASL lines, the SPF/DKIM/DMARC check
//! between the end of a message and [`Session::finish_message`], STARTTLS replacing the
//! framer and dropping what was pipelined), but without sockets and without DNS: the
//! verifier is [`Verifier::disabled`] or the in-memory [`Verifier::fixture`] (every name not in
//! it is NXDOMAIN), remote recipients go to an in-memory queue.
//!
//! Input layout: the first byte picks the starting state — after the greeting, after EHLO,
//! after AUTH (submission), after MAIL FROM + RCPT TO, inside DATA (after the `354`) — the
//! listener (MTA or submission), whether inbound checks run (MTA) and the chunk size the
//! rest of the input is fed in. Domains `fuzz.test` (accounts `user@`, `other@`, alias
//! `sales@` → user) and `catch.test` (catch-all → other); password `fuzz`. Runs are serialised
//! by a lock: the delivery checks compare store contents.
//!
//! Checks beyond "does not panic":
//! - every reply is well formed: lines `ddd-text` … `ddd text` with one code, CRLF-ended, no
//!   bare CR or LF; every event gets one or two replies (an error may be followed by `421`),
//!   none only for a BDAT command whose chunk is still to come; `354` exactly when the session
//!   asks for a DATA body; `221`/`421` exactly when it closes;
//! - delivery: a message reaches the store or the queue only if its DATA/BDAT got a final
//!   `250`, and then it does, ending with exactly the bytes the client sent (un-dot-stuffed);
//!   the store changes at no other time;
//! - sync: after input ending between commands, a final `NOOP` is still answered.
#![allow(dead_code)]

#[path = "scratch.rs"]
mod scratch;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use pochta_auth::{AuthCache, PlaintextPolicy, Throttle, ThrottleConfig};
use pochta_smtp::authcheck::Client;
use pochta_smtp::{
    Kind, Next, OutboundQueue, QueueError, QueueId, Session, Shared, SmtpConfig, Verifier,
};
use pochta_smtp_proto::{Event, Framer, Limits};
use pochta_store::{Directory, FlagOp, MailStore};
use pochta_store_embedded::EmbeddedStore;
use pochta_types::{Address, Domain, Flag, Flags, MailboxId, SpecialUse};

pub const USER: &str = "user@fuzz.test";
pub const PASSWORD: &str = "fuzz";
const HOST: &str = "mx.fuzz.test";
const MAX_MESSAGE: u64 = 64 * 1024;
const MAX_LINE: usize = 1024;

/// Chunk sizes the input is fed in (0: all at once).
const CHUNKS: [usize; 6] = [0, 1, 2, 3, 7, 64];

/// An in-memory outbound queue keeping the message it accepted last (cleared by the harness
/// before each delivery).
#[derive(Default)]
struct CountingQueue {
    items: Mutex<Vec<Vec<u8>>>,
}

impl OutboundQueue for CountingQueue {
    fn enqueue(
        &self,
        _: &pochta_smtp_proto::Envelope,
        message: &[u8],
    ) -> Result<QueueId, QueueError> {
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        items.push(message.to_vec());
        Ok(QueueId("q".into()))
    }
}

pub struct Harness {
    store: EmbeddedStore,
    auth_cache: Arc<AuthCache>,
    /// The mailboxes SMTP delivers to: INBOX and Sent of each account. (Checking every
    /// mailbox after every message made the status queries most of the run time.)
    mailboxes: Vec<MailboxId>,
    verifier_off: Arc<Verifier>,
    verifier_fixture: Arc<Verifier>,
    runtime: tokio::runtime::Runtime,
    /// Messages delivered since the store was last emptied.
    delivered: Mutex<u64>,
    /// Serialises runs: they compare store contents.
    lock: Mutex<()>,
    _dir: tempfile::TempDir,
}

pub fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let (dir, store) = scratch::store();
        let hash = pochta_auth::hash_password(PASSWORD).expect("hash");
        let scram = pochta_auth::ScramSecrets::derive(PASSWORD).encode();
        let mut accounts = Vec::new();
        for user in [USER, "other@fuzz.test"] {
            let addr = Address::new(user).expect("address");
            accounts.push(store.account_create(&addr, &hash).expect("account"));
            store
                .account_set_password(&addr, &hash, Some(&scram))
                .expect("scram");
        }
        store
            .alias_add("sales@fuzz.test", &Address::new(USER).expect("a"))
            .expect("alias");
        store
            .domain_add(&Domain::new("catch.test").expect("d"))
            .expect("domain");
        store
            .alias_add("@catch.test", &Address::new("other@fuzz.test").expect("a"))
            .expect("catch-all");
        let mailboxes = accounts
            .iter()
            .flat_map(|a| store.mailboxes(*a).expect("mailboxes"))
            .filter(|m| m.name.is_inbox() || m.special_use == Some(SpecialUse::Sent))
            .map(|m| m.id)
            .collect::<Vec<_>>();
        assert_eq!(mailboxes.len(), 4, "INBOX and Sent of two accounts");
        let fixture = Verifier::fixture(HOST);
        fixture.add_txt("fuzz.test", "v=spf1 ip4:127.0.0.1 -all");
        fixture.add_txt("_dmarc.fuzz.test", "v=DMARC1; p=reject");
        fixture.add_txt("remote.test", "v=spf1 ip4:192.0.2.0/24 ~all");
        fixture.add_txt("_dmarc.remote.test", "v=DMARC1; p=none");
        Harness {
            store,
            auth_cache: Arc::new(AuthCache::default()),
            mailboxes,
            verifier_off: Arc::new(Verifier::disabled(HOST)),
            verifier_fixture: Arc::new(fixture),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            delivered: Mutex::new(0),
            lock: Mutex::new(()),
            _dir: dir,
        }
    })
}

/// Messages delivered so far: the sum of the mailboxes' next UIDs (grows with each one).
fn store_count(uids: &[u32]) -> u64 {
    uids.iter().map(|&u| u64::from(u)).sum()
}

/// The newest message of the mailbox whose next UID moved.
fn newest_message(h: &Harness, before: &[u32]) -> Option<Vec<u8>> {
    for (m, &b) in h.mailboxes.iter().zip(before) {
        let now = h.store.mailbox_status(*m).expect("status").uid_next.get();
        if now != b {
            let uid = h
                .store
                .summaries(*m)
                .expect("summaries")
                .into_iter()
                .map(|s| s.uid)
                .max()?;
            let rec = h.store.records(*m, &[uid], false).expect("records");
            let blob = h.store.blob(&rec.first()?.blob).expect("blob");
            return Some(blob.to_vec());
        }
    }
    None
}

fn next_uids(h: &Harness) -> Vec<u32> {
    h.mailboxes
        .iter()
        .map(|m| h.store.mailbox_status(*m).expect("status").uid_next.get())
        .collect()
}

/// Empties every mailbox now and then, so a long fuzz run keeps a small store.
fn maybe_purge(h: &Harness) {
    let mut delivered = h.delivered.lock().unwrap_or_else(|e| e.into_inner());
    if *delivered < 500 {
        return;
    }
    *delivered = 0;
    let deleted = Flags::from_flags([&Flag::Deleted]);
    for m in &h.mailboxes {
        let uids: Vec<_> = h
            .store
            .summaries(*m)
            .expect("summaries")
            .into_iter()
            .map(|s| s.uid)
            .collect();
        if !uids.is_empty() {
            h.store
                .store_flags(*m, &uids, FlagOp::Add, &deleted, None)
                .expect("flag");
            h.store.expunge(*m, Some(&uids)).expect("expunge");
        }
    }
}

/// One parsed reply.
#[derive(Debug)]
struct ParsedReply {
    code: u16,
}

/// Splits output into replies, insisting on RFC 5321 §4.2 syntax.
fn parse_replies(out: &[u8]) -> Vec<ParsedReply> {
    let show = || String::from_utf8_lossy(out).into_owned();
    let mut replies = Vec::new();
    let mut open: Option<u16> = None;
    let mut rest = out;
    while !rest.is_empty() {
        let end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap_or_else(|| panic!("reply line without CRLF: {:?}", show()));
        let line = &rest[..end];
        rest = &rest[end + 2..];
        assert!(
            !line.contains(&b'\r') && !line.contains(&b'\n'),
            "bare CR/LF in a reply: {:?}",
            show()
        );
        assert!(
            line.len() >= 4
                && (b'2'..=b'5').contains(&line[0])
                && line[1..3].iter().all(u8::is_ascii_digit)
                && (line[3] == b' ' || line[3] == b'-'),
            "malformed reply line {:?} in {:?}",
            String::from_utf8_lossy(line),
            show()
        );
        let code = std::str::from_utf8(&line[..3])
            .expect("digits")
            .parse::<u16>()
            .expect("code");
        if let Some(c) = open {
            assert_eq!(
                c,
                code,
                "code changes inside a multi-line reply: {:?}",
                show()
            );
        }
        if line[3] == b'-' {
            open = Some(code);
        } else {
            open = None;
            replies.push(ParsedReply { code });
        }
    }
    assert!(open.is_none(), "unfinished multi-line reply: {:?}", show());
    replies
}

/// A session plus the framer state the driver would keep.
pub struct Driven {
    session: Session<EmbeddedStore>,
    shared: Arc<Shared<EmbeddedStore>>,
    queue: Arc<CountingQueue>,
    framer: Framer,
    closed: bool,
    /// A DATA body or BDAT chunk is being read.
    in_body: bool,
    /// A `334` was sent: the next line is a SASL response.
    sasl: bool,
    /// Messages the store gained through `250`-answered DATA/BDAT.
    delivered: u64,
    /// Every reply, kept only when asked (setup checks, tests).
    pub transcript: Vec<u8>,
    keep: bool,
}

fn new_framer() -> Framer {
    Framer::new(Limits { max_line: MAX_LINE })
}

impl Driven {
    fn new(kind: Kind, checks: bool) -> Driven {
        let h = harness();
        let queue = Arc::new(CountingQueue::default());
        let shared = Arc::new(Shared {
            store: Arc::new(h.store.clone()),
            config: SmtpConfig {
                hostname: HOST.into(),
                plaintext: PlaintextPolicy::Always,
                max_message: MAX_MESSAGE,
                max_line: MAX_LINE,
                dmarc_reject: true,
                save_sent: true,
                ..SmtpConfig::default()
            },
            kind,
            throttle: Arc::new(Throttle::new(ThrottleConfig::default())),
            auth_cache: Arc::clone(&h.auth_cache),
            verifier: Arc::clone(if checks {
                &h.verifier_fixture
            } else {
                &h.verifier_off
            }),
            queue: (kind == Kind::Submission).then(|| queue.clone() as Arc<dyn OutboundQueue>),
        });
        let peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000);
        let mut session = Session::new(Arc::clone(&shared), peer, None, true);
        session.greeting();
        let greeting = std::mem::take(&mut session.out);
        let r = parse_replies(&greeting);
        assert!(r.len() == 1 && r[0].code == 220, "greeting");
        Driven {
            session,
            shared,
            queue,
            framer: new_framer(),
            closed: false,
            in_body: false,
            sasl: false,
            delivered: 0,
            transcript: Vec::new(),
            keep: false,
        }
    }

    /// Feeds client bytes and handles every complete event, as the driver does.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.closed {
            return;
        }
        self.framer.feed(bytes);
        while let Some(event) = self.framer.next_event() {
            let h = harness();
            let body_event = matches!(
                event,
                Event::Data(_) | Event::DataTooBig | Event::Chunk(_) | Event::ChunkDropped
            );
            assert_eq!(
                body_event, self.in_body,
                "framer mode out of step: {event:?}"
            );
            if body_event {
                self.in_body = false;
            }
            self.sasl = false;
            let mut next = self.session.handle_event(event);
            if let Next::Message(msg) = next {
                let body = msg.body.clone();
                assert!(
                    self.session.out.is_empty(),
                    "reply before the message was checked"
                );
                let auth = if self.session.checks_apply() {
                    let from = msg.mail_from();
                    let client = Client {
                        ip: self.session.peer().ip(),
                        helo: self.session.helo_name(),
                        mail_from: &from,
                    };
                    h.runtime
                        .block_on(self.shared.verifier.check(client, &msg.body))
                } else {
                    None
                };
                let uids_before = next_uids(h);
                self.queue
                    .items
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
                next = self.session.finish_message(*msg, auth);
                let replies = parse_replies(&self.session.out);
                let accepted = replies.first().is_some_and(|r| r.code == 250);
                let gained = store_count(&next_uids(h)) - store_count(&uids_before);
                let queued = !self
                    .queue
                    .items
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .is_empty();
                if accepted {
                    assert!(
                        gained > 0 || queued,
                        "250 for a message that was neither stored nor queued"
                    );
                    self.delivered += gained;
                    *h.delivered.lock().unwrap_or_else(|e| e.into_inner()) += gained;
                    if gained > 0 {
                        let stored = newest_message(h, &uids_before).expect("stored message");
                        // The store normalises bare LF to CRLF (pochta-store's contract).
                        let want = pochta_message::normalize_line_endings(&body);
                        assert!(
                            stored.ends_with(&want),
                            "stored message is not what was sent: sent {:?}, stored {:?}",
                            String::from_utf8_lossy(&body),
                            String::from_utf8_lossy(&stored)
                        );
                    }
                    if queued {
                        let items = self.queue.items.lock().unwrap_or_else(|e| e.into_inner());
                        assert!(
                            items[0].ends_with(&body),
                            "queued message is not what was sent"
                        );
                    }
                } else {
                    assert!(
                        gained == 0 && !queued,
                        "message stored or queued without a 250: {:?}",
                        String::from_utf8_lossy(&self.session.out)
                    );
                }
            }
            self.session.delay = None;
            let out = std::mem::take(&mut self.session.out);
            let replies = parse_replies(&out);
            let show = || String::from_utf8_lossy(&out).into_owned();
            match &next {
                Next::ReadBdat { .. } => assert!(replies.is_empty(), "reply to BDAT: {:?}", show()),
                _ => assert!(
                    (1..=2).contains(&replies.len()),
                    "{} replies to one event: {:?}",
                    replies.len(),
                    show()
                ),
            }
            let last = replies.last().map_or(0, |r| r.code);
            assert_eq!(
                matches!(next, Next::ReadData(_)),
                last == 354,
                "354 and DATA mode disagree: {:?}",
                show()
            );
            assert_eq!(
                matches!(next, Next::Close),
                last == 221 || last == 421,
                "close and 221/421 disagree: {:?}",
                show()
            );
            assert_eq!(
                matches!(next, Next::Sasl),
                last == 334,
                "334 and SASL disagree: {:?}",
                show()
            );
            if self.keep {
                self.transcript.extend_from_slice(&out);
            }
            match next {
                Next::Continue | Next::Message(_) => {}
                Next::Sasl => self.sasl = true,
                Next::Close => {
                    self.closed = true;
                    return;
                }
                Next::StartTls => {
                    // The driver drops everything pipelined after STARTTLS.
                    self.framer = new_framer();
                    self.session.tls_started("TLSv1.3 (fuzz)".into());
                    return;
                }
                Next::ReadData(max) => {
                    self.framer.start_data(max);
                    self.in_body = true;
                }
                Next::ReadBdat { size, keep } => {
                    self.framer.start_bdat(size, keep);
                    self.in_body = true;
                }
            }
        }
    }

    /// Whether, after `input`, the next bytes would start a new command.
    fn between_commands(&self, input: &[u8]) -> bool {
        !self.closed
            && !self.in_body
            && !self.sasl
            && !self.framer.has_pending()
            && input.last() == Some(&b'\n')
    }

    /// Runs a setup line, insisting on the reply code.
    fn must(&mut self, bytes: &[u8], code: &str) {
        self.keep = true;
        self.transcript.clear();
        self.feed(bytes);
        let text = String::from_utf8_lossy(&self.transcript).into_owned();
        assert!(
            text.lines().last().is_some_and(|l| l.starts_with(code)),
            "setup {:?} failed: {text}",
            String::from_utf8_lossy(bytes)
        );
        self.keep = false;
    }
}

/// What the first input byte selects.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// 0: after the greeting; 1: after EHLO; 2: after AUTH; 3: after MAIL + RCPT; 4: in DATA.
    pub state: u8,
    pub kind: Kind,
    /// MTA: SPF/DKIM/DMARC against the fixture, DMARC reject on.
    pub checks: bool,
    pub chunk: usize,
}

impl Setup {
    pub fn from_byte(b: u8) -> Setup {
        let state = b % 5;
        let submission = state == 2 || (b / 5) % 2 == 1;
        Setup {
            state,
            kind: if submission {
                Kind::Submission
            } else {
                Kind::Mta
            },
            checks: !submission && (b / 10) % 2 == 1,
            chunk: CHUNKS[usize::from(b / 20) % CHUNKS.len()],
        }
    }
}

fn session_in_state(setup: Setup) -> Driven {
    let mut d = Driven::new(setup.kind, setup.checks);
    if setup.state >= 1 {
        d.must(b"EHLO client.fuzz.test\r\n", "250 ");
    }
    let submission = setup.kind == Kind::Submission;
    if submission && setup.state >= 2 {
        use base64::Engine;
        let ir = base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{PASSWORD}"));
        d.must(format!("AUTH PLAIN {ir}\r\n").as_bytes(), "235 ");
    }
    if setup.state >= 3 {
        let from = if submission {
            USER
        } else {
            "someone@remote.test"
        };
        d.must(format!("MAIL FROM:<{from}>\r\n").as_bytes(), "250 ");
        d.must(b"RCPT TO:<user@fuzz.test>\r\n", "250 ");
    }
    if setup.state >= 4 {
        d.must(b"DATA\r\n", "354 ");
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
    maybe_purge(h);
    let start = store_count(&next_uids(h));
    let setup = Setup::from_byte(selector);
    let mut d = session_in_state(setup);
    scratch::feed_in_chunks(input, setup.chunk, |c| d.feed(c));
    if d.between_commands(input) {
        d.keep = true;
        d.transcript.clear();
        d.feed(b"NOOP\r\n");
        let t = String::from_utf8_lossy(&d.transcript).into_owned();
        assert!(
            (d.closed && t.starts_with("421")) || t.starts_with("250 "),
            "out of sync after the input: {t:?}"
        );
    }
    assert_eq!(
        store_count(&next_uids(h)) - start,
        d.delivered,
        "store gained messages no 250 accounted for"
    );
}

/// Everything the server answers to `input` after the setup `selector` picks (for tests).
pub fn transcript(selector: u8, input: &[u8]) -> String {
    let _guard = serialise();
    let mut d = session_in_state(Setup::from_byte(selector));
    d.keep = true;
    d.transcript.clear();
    d.feed(input);
    String::from_utf8_lossy(&d.transcript).into_owned()
}
