//! Crash safety: SIGKILL the real server while clients APPEND, STORE flags and deliver over
//! SMTP, restart it on the same data directory, and check the durability promises
//! (ARCHITECTURE.md "Invariants", `pochta_store` implementation notes):
//!
//! - every acknowledged message (`APPEND … OK`, SMTP `250`) is present exactly once, in the
//!   mailbox it went to, byte-identical, under the UID that `APPENDUID` reported;
//! - a message whose acknowledgement was lost in the crash is present at most once and whole;
//! - nothing else is visible: every listed message fetches fully and is one we sent;
//! - UIDs never go backwards: UIDNEXT after a restart is above every UID ever seen and not
//!   below the UIDNEXT of the previous restart, UIDVALIDITY is unchanged, and UIDs assigned
//!   after a restart are at least that UIDNEXT;
//! - acknowledged flag changes (STORE FLAGS, +FLAGS, APPEND flags) persisted;
//! - acknowledged moves and expunges (UID MOVE, UID EXPUNGE) persisted: a moved message is only
//!   in its new mailbox, an expunged one nowhere; one in flight at the kill is in exactly one
//!   of the two places, or present or gone;
//! - the store opens clean: SQLite's `integrity_check` and `foreign_key_check` find nothing on
//!   the data directory the SIGKILL left.
//!
//! Flags, moves and expunges are the store's *lazy* class (README "Durability": written before
//! the reply, fsynced within 100 ms): a SIGKILL must not lose them, only a power loss may.
//!
//! Rounds and seed: `POCHTA_CRASH_ROUNDS` (default 6) and `POCHTA_CRASH_SEED` (default 1).
//! The seed picks message sizes and the kill moment; thread interleaving varies from run to
//! run, which is the point. A failure prints the seed and round to rerun with.

mod blocking;
mod common;

use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use blocking::{Imap, Lines, appenduid, flags_of, number_after};
use common::{BIN, HOSTNAME, TestDir, free_ports};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const USER: &str = "a@example.test";
const PASS: &str = "crash pw";
const MAILBOXES: [&str; 2] = ["INBOX", "Work"];
/// Keywords the flag worker cycles through (bounded, so keyword limits are never hit).
const GENERATIONS: u64 = 50;

/// A message sent by a client and what the server said about it.
#[derive(Debug, Clone)]
struct Sent {
    mailbox: &'static str,
    bytes: Vec<u8>,
    /// The APPENDUID of an acknowledged APPEND.
    uid: Option<u64>,
    /// Delivered over SMTP: the stored copy has trace headers prepended.
    smtp: bool,
    /// Flags that must be set once the message exists (APPEND flags, acknowledged +FLAGS).
    flags: Vec<&'static str>,
}

#[derive(Default)]
struct Ledger {
    /// Acknowledged: must be present exactly once.
    acked: HashMap<String, Sent>,
    /// Sent but not acknowledged before the crash: present at most once.
    maybe: HashMap<String, Sent>,
    /// The flag worker's target message and its generations.
    target_uid: u64,
    flag_acked: u64,
    flag_inflight: Option<u64>,
    /// Per mailbox: (UIDVALIDITY, UIDNEXT) as seen at the last verification.
    seen: HashMap<&'static str, (u64, u64)>,
    /// Violations noticed by worker threads.
    errors: Vec<String>,
    /// Acknowledged `UID EXPUNGE`: must never be seen again.
    gone: HashSet<String>,
    /// `UID EXPUNGE` sent, not acknowledged: present or gone.
    expunging: HashSet<String>,
    /// `UID MOVE` INBOX → Work sent, not acknowledged: in exactly one of the two.
    moving: HashSet<String>,
}

type Shared = Arc<Mutex<Ledger>>;

/// Writes the config for `ports` into the test directory (same data dir every time).
fn write_config(dir: &TestDir, imap: u16, smtp: u16) {
    let text = format!(
        "hostname = \"{HOSTNAME}\"\ndata_dir = \"data\"\n[listen]\nimap = [\"127.0.0.1:{imap}\"]\n\
         smtp = [\"127.0.0.1:{smtp}\"]\n[smtp]\ncheck_inbound = false\n"
    );
    fs::write(&dir.config, text).expect("write config");
}

struct Server {
    child: Child,
    imap: SocketAddr,
    smtp: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &TestDir, n: usize) -> Server {
    for attempt in 0..3 {
        let p = free_ports(2);
        write_config(dir, p[0], p[1]);
        let log = fs::File::create(dir.dir.path().join(format!("server-{n}-{attempt}.log")))
            .expect("create log");
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(&dir.config)
            .arg("serve")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn pochta serve");
        let imap = SocketAddr::from(([127, 0, 0, 1], p[0]));
        let smtp = SocketAddr::from(([127, 0, 0, 1], p[1]));
        let end = Instant::now() + Duration::from_secs(30);
        let mut up = false;
        while Instant::now() < end {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if [imap, smtp].iter().all(|a| {
                std::net::TcpStream::connect_timeout(a, Duration::from_millis(200)).is_ok()
            }) {
                up = true;
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        if up {
            return Server { child, imap, smtp };
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("pochta serve did not start in {}", dir.dir.path().display());
}

fn message(id: &str, rng: &mut StdRng) -> Vec<u8> {
    let mut m = format!(
        "From: Crash Test <{USER}>\r\nTo: {USER}\r\nSubject: crash {id}\r\n\
         Message-ID: <{id}>\r\nDate: Mon, 7 Jul 2025 10:00:00 +0000\r\n\r\n"
    )
    .into_bytes();
    // Mostly small, sometimes large enough that the blob write takes a while.
    let lines = if rng.gen_ratio(1, 5) {
        rng.gen_range(500..3000)
    } else {
        rng.gen_range(1..60)
    };
    for i in 0..lines {
        let n = rng.gen_range(10..70);
        let line: String = (0..n)
            .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
            .collect();
        m.extend_from_slice(format!("{i} {line}\r\n").as_bytes());
    }
    m
}

/// The `Message-ID` of a stored message.
fn message_id(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let at = text.find("\r\nMessage-ID: <")? + "\r\nMessage-ID: <".len();
    let end = text[at..].find('>')?;
    Some(text[at..at + end].to_owned())
}

/// Appends to `mailbox` until the connection dies; sometimes flags what it appended.
fn append_worker(
    addr: SocketAddr,
    ledger: Shared,
    acks: Arc<AtomicU32>,
    mailbox: &'static str,
    tag: String,
    mut rng: StdRng,
) {
    let Ok(mut c) = Imap::login(addr, USER, PASS) else {
        return;
    };
    for n in 0.. {
        let id = format!("{tag}.{n}@crash.test");
        let bytes = message(&id, &mut rng);
        let seen = rng.gen_bool(0.5);
        let sent = Sent {
            mailbox,
            bytes: bytes.clone(),
            uid: None,
            smtp: false,
            flags: if seen { vec!["\\Seen"] } else { vec![] },
        };
        ledger.lock().unwrap().maybe.insert(id.clone(), sent);
        let flags = if seen { "\\Seen" } else { "" };
        let Ok(reply) = c.append(mailbox, flags, &bytes) else {
            return;
        };
        let mut l = ledger.lock().unwrap();
        let mut sent = l.maybe.remove(&id).expect("in flight");
        if !reply.ok() {
            l.errors
                .push(format!("APPEND {id} refused: {}", reply.tagged));
            return;
        }
        let Some((validity, uid)) = appenduid(&reply.tagged) else {
            l.errors
                .push(format!("APPEND {id}: no APPENDUID in {}", reply.tagged));
            return;
        };
        if let Some(&(v, next)) = l.seen.get(mailbox)
            && (v != validity || uid < next)
        {
            l.errors.push(format!(
                "APPEND {id} got UID {validity}/{uid} after a restart that reported \
                 UIDVALIDITY {v} UIDNEXT {next}"
            ));
        }
        sent.uid = Some(uid);
        l.acked.insert(id.clone(), sent);
        drop(l);
        acks.fetch_add(1, Ordering::Relaxed);

        if rng.gen_ratio(1, 3) {
            // Until it is acknowledged, the flag may or may not have been applied.
            let Ok(r) = c.cmd(&format!("UID STORE {uid} +FLAGS.SILENT (\\Flagged)")) else {
                return;
            };
            if r.ok() {
                let mut l = ledger.lock().unwrap();
                l.acked.get_mut(&id).unwrap().flags.push("\\Flagged");
            }
        }
    }
}

/// Rewrites the flags of one message with a new generation keyword, over and over.
fn flag_worker(addr: SocketAddr, ledger: Shared, acks: Arc<AtomicU32>) {
    let Ok(mut c) = Imap::login(addr, USER, PASS) else {
        return;
    };
    if !c.cmd("SELECT INBOX").is_ok_and(|r| r.ok()) {
        return;
    }
    loop {
        let (uid, next) = {
            let mut l = ledger.lock().unwrap();
            let next = l.flag_acked + 1;
            l.flag_inflight = Some(next);
            (l.target_uid, next)
        };
        let Ok(r) = c.cmd(&format!(
            "UID STORE {uid} FLAGS.SILENT ($g{})",
            next % GENERATIONS
        )) else {
            return;
        };
        let mut l = ledger.lock().unwrap();
        if !r.ok() {
            l.errors.push(format!("STORE refused: {}", r.tagged));
            return;
        }
        l.flag_acked = next;
        l.flag_inflight = None;
        drop(l);
        acks.fetch_add(1, Ordering::Relaxed);
    }
}

/// Appends to INBOX, then moves each acknowledged message to Work or flags it `\Deleted` and
/// expunges it (the store's lazy writes), until the connection dies.
fn churn_worker(
    addr: SocketAddr,
    ledger: Shared,
    acks: Arc<AtomicU32>,
    tag: String,
    mut rng: StdRng,
) {
    let Ok(mut c) = Imap::login(addr, USER, PASS) else {
        return;
    };
    if !c.cmd("SELECT INBOX").is_ok_and(|r| r.ok()) {
        return;
    }
    for n in 0.. {
        let id = format!("{tag}.{n}@crash.test");
        let bytes = message(&id, &mut rng);
        let sent = Sent {
            mailbox: "INBOX",
            bytes: bytes.clone(),
            uid: None,
            smtp: false,
            flags: vec![],
        };
        ledger.lock().unwrap().maybe.insert(id.clone(), sent);
        let Ok(reply) = c.append("INBOX", "", &bytes) else {
            return;
        };
        let mut l = ledger.lock().unwrap();
        let mut sent = l.maybe.remove(&id).expect("in flight");
        let Some((_, uid)) = appenduid(&reply.tagged).filter(|_| reply.ok()) else {
            l.errors
                .push(format!("APPEND {id} refused: {}", reply.tagged));
            return;
        };
        sent.uid = Some(uid);
        l.acked.insert(id.clone(), sent);
        drop(l);
        acks.fetch_add(1, Ordering::Relaxed);

        if rng.gen_bool(0.5) {
            ledger.lock().unwrap().moving.insert(id.clone());
            let Ok(r) = c.cmd(&format!("UID MOVE {uid} Work")) else {
                return;
            };
            let mut l = ledger.lock().unwrap();
            if !r.ok() {
                l.errors.push(format!("MOVE {id} refused: {}", r.tagged));
                return;
            }
            l.moving.remove(&id);
            let s = l.acked.get_mut(&id).expect("acknowledged");
            s.mailbox = "Work";
            s.uid = None;
        } else {
            let Ok(r) = c.cmd(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)")) else {
                return;
            };
            if !r.ok() {
                let mut l = ledger.lock().unwrap();
                l.errors.push(format!("STORE {id} refused: {}", r.tagged));
                return;
            }
            {
                let mut l = ledger.lock().unwrap();
                l.acked
                    .get_mut(&id)
                    .expect("acknowledged")
                    .flags
                    .push("\\Deleted");
                l.expunging.insert(id.clone());
            }
            let Ok(r) = c.cmd(&format!("UID EXPUNGE {uid}")) else {
                return;
            };
            let mut l = ledger.lock().unwrap();
            if !r.ok() {
                l.errors.push(format!("EXPUNGE {id} refused: {}", r.tagged));
                return;
            }
            l.expunging.remove(&id);
            l.acked.remove(&id);
            l.gone.insert(id);
        }
        acks.fetch_add(1, Ordering::Relaxed);
    }
}

/// Delivers to the user over SMTP (port 25 semantics) until the connection dies.
fn smtp_worker(
    addr: SocketAddr,
    ledger: Shared,
    acks: Arc<AtomicU32>,
    tag: String,
    mut rng: StdRng,
) {
    let Ok(mut c) = Lines::connect(addr) else {
        return;
    };
    if !c.smtp_reply().is_ok_and(|l| l.starts_with("220")) {
        return;
    }
    if !c
        .smtp("EHLO client.test")
        .is_ok_and(|l| l.starts_with("250"))
    {
        return;
    }
    for n in 0.. {
        let id = format!("{tag}.{n}@crash.test");
        let bytes = message(&id, &mut rng);
        let step =
            |c: &mut Lines, s: &str, want: &str| c.smtp(s).is_ok_and(|l| l.starts_with(want));
        if !step(&mut c, "MAIL FROM:<sender@remote.test>", "250")
            || !step(&mut c, &format!("RCPT TO:<{USER}>"), "250")
            || !step(&mut c, "DATA", "354")
        {
            return;
        }
        let sent = Sent {
            mailbox: "INBOX",
            bytes: bytes.clone(),
            uid: None,
            smtp: true,
            flags: vec![],
        };
        ledger.lock().unwrap().maybe.insert(id.clone(), sent);
        let mut data = bytes;
        data.extend_from_slice(b".\r\n");
        if c.send(&data).is_err() {
            return;
        }
        let Ok(reply) = c.smtp_reply() else {
            return;
        };
        let mut l = ledger.lock().unwrap();
        let sent = l.maybe.remove(&id).expect("in flight");
        if !reply.starts_with("250") {
            l.errors.push(format!("SMTP {id} refused: {reply}"));
            return;
        }
        l.acked.insert(id, sent);
        drop(l);
        acks.fetch_add(1, Ordering::Relaxed);
    }
}

/// Everything the server holds, per mailbox: (UIDVALIDITY, UIDNEXT, [(uid, flags, bytes)]).
type Snapshot = HashMap<&'static str, (u64, u64, Vec<(u64, Vec<String>, Vec<u8>)>)>;

fn snapshot(addr: SocketAddr) -> Snapshot {
    let mut c = Imap::login(addr, USER, PASS).expect("login after restart");
    let mut snap = HashMap::new();
    for mb in MAILBOXES {
        let st = c
            .cmd(&format!("STATUS {mb} (UIDNEXT UIDVALIDITY MESSAGES)"))
            .expect("STATUS");
        assert!(st.ok(), "{}", st.all_text());
        let text = &st.untagged[0].text;
        let next = number_after(text, "UIDNEXT").expect("UIDNEXT");
        let validity = number_after(text, "UIDVALIDITY").expect("UIDVALIDITY");
        let count = number_after(text, "MESSAGES").expect("MESSAGES");
        let r = c.cmd(&format!("EXAMINE {mb}")).expect("EXAMINE");
        assert!(r.ok(), "{}", r.all_text());
        let mut msgs = Vec::new();
        if count > 0 {
            let r = c
                .cmd("UID FETCH 1:* (UID FLAGS BODY.PEEK[])")
                .expect("FETCH");
            assert!(r.ok(), "{}", r.all_text());
            for resp in r.untagged.iter().filter(|u| u.text.contains(" FETCH (")) {
                let uid = number_after(&resp.text, "UID").expect("UID in FETCH");
                let flags = flags_of(&resp.text).expect("FLAGS in FETCH");
                assert_eq!(resp.literals.len(), 1, "one body per FETCH: {}", resp.text);
                msgs.push((uid, flags, resp.literals[0].clone()));
            }
        }
        assert_eq!(msgs.len() as u64, count, "{mb}: STATUS MESSAGES vs FETCH");
        snap.insert(mb, (validity, next, msgs));
    }
    let _ = c.cmd("LOGOUT");
    snap
}

/// Checks the restarted server against the ledger, then folds what survived into it.
fn verify(ledger: &mut Ledger, snap: &Snapshot, context: &str) {
    assert!(
        ledger.errors.is_empty(),
        "{context}: violations seen by clients: {:#?}",
        ledger.errors
    );
    let mut found: HashMap<String, u32> = HashMap::new();
    let mut survived = Vec::new();
    // Moves in flight at the kill: where each message was found, and under which UID.
    let mut moved: Vec<(String, &'static str, u64)> = Vec::new();
    for mb in MAILBOXES {
        let (validity, next, msgs) = &snap[mb];
        if let Some(&(v, n)) = ledger.seen.get(mb) {
            assert_eq!(*validity, v, "{context}: {mb} UIDVALIDITY changed");
            assert!(
                *next >= n,
                "{context}: {mb} UIDNEXT went back from {n} to {next}"
            );
        }
        let mut last = 0;
        for (uid, flags, bytes) in msgs {
            assert!(*uid > last, "{context}: {mb} UIDs not ascending");
            last = *uid;
            assert!(
                uid < next,
                "{context}: {mb} UID {uid} not below UIDNEXT {next}"
            );
            let id = message_id(bytes).unwrap_or_else(|| {
                panic!(
                    "{context}: {mb} UID {uid} has no Message-ID (half-written?): {:?}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                )
            });
            *found.entry(id.clone()).or_default() += 1;
            assert!(
                !ledger.gone.contains(&id),
                "{context}: <{id}> is back in {mb} after an acknowledged EXPUNGE"
            );
            if id == "target@crash.test" {
                assert_eq!(*uid, ledger.target_uid, "{context}: flag target moved");
                let gens: Vec<&String> = flags.iter().filter(|f| f.starts_with("$g")).collect();
                let ok = |g: u64| gens == [&format!("$g{}", g % GENERATIONS)];
                let applied = ok(ledger.flag_acked);
                let inflight = ledger.flag_inflight.is_some_and(ok);
                assert!(
                    applied || inflight,
                    "{context}: target flags {flags:?}; acknowledged generation {}, in flight {:?}",
                    ledger.flag_acked,
                    ledger.flag_inflight
                );
                if inflight {
                    ledger.flag_acked = ledger.flag_inflight.unwrap();
                }
                continue;
            }
            let (sent, acked) = match ledger.acked.get(&id) {
                Some(s) => (s, true),
                None => match ledger.maybe.get(&id) {
                    Some(s) => (s, false),
                    None => panic!("{context}: {mb} UID {uid} holds an unknown message <{id}>"),
                },
            };
            let in_flight_move = ledger.moving.contains(&id);
            assert!(
                sent.mailbox == mb || in_flight_move && mb == "Work",
                "{context}: <{id}> in {mb}, acknowledged in {}",
                sent.mailbox
            );
            if in_flight_move {
                moved.push((id.clone(), mb, *uid));
            }
            let intact = if sent.smtp {
                bytes.ends_with(&sent.bytes)
            } else {
                *bytes == sent.bytes
            };
            assert!(
                intact,
                "{context}: <{id}> differs from what was sent ({} vs {} bytes)",
                bytes.len(),
                sent.bytes.len()
            );
            if acked {
                if let Some(u) = sent.uid.filter(|_| sent.mailbox == mb) {
                    assert_eq!(*uid, u, "{context}: <{id}> UID differs from APPENDUID");
                }
                for f in &sent.flags {
                    assert!(
                        flags.iter().any(|x| x == f),
                        "{context}: <{id}> lost acknowledged flag {f}: {flags:?}"
                    );
                }
            } else {
                survived.push(id.clone());
            }
        }
    }
    for (id, n) in &found {
        assert_eq!(*n, 1, "{context}: <{id}> present {n} times");
    }
    for id in ledger.acked.keys() {
        assert!(
            found.contains_key(id) || ledger.expunging.contains(id),
            "{context}: acknowledged <{id}> is missing"
        );
    }
    // Expunges in flight that happened are acknowledged from now on; moves land where found.
    for id in std::mem::take(&mut ledger.expunging) {
        if !found.contains_key(&id) {
            ledger.acked.remove(&id);
            ledger.gone.insert(id);
        }
    }
    for (id, mb, uid) in moved {
        if let Some(s) = ledger.acked.get_mut(&id) {
            s.mailbox = mb;
            s.uid = Some(uid);
        }
    }
    ledger.moving.clear();
    // What survived is durable from now on; what did not must never appear.
    for id in survived {
        let s = ledger.maybe.remove(&id).unwrap();
        ledger.acked.insert(id, s);
    }
    ledger.maybe.clear();
    ledger.flag_inflight = None;
    for mb in MAILBOXES {
        let (v, n, _) = &snap[mb];
        ledger.seen.insert(mb, (*v, *n));
    }
}

fn run_round(dir: &TestDir, ledger: &Shared, seed: u64, round: usize) {
    let context = format!("seed {seed} round {round}");
    let mut rng = StdRng::seed_from_u64(seed ^ (round as u64).wrapping_mul(0x9E37_79B9));
    let mut server = start(dir, round);
    let acks = Arc::new(AtomicU32::new(0));
    let mut workers = Vec::new();
    for (w, mb) in ["INBOX", "Work", "INBOX"].into_iter().enumerate() {
        let (l, a, r) = (
            Arc::clone(ledger),
            Arc::clone(&acks),
            StdRng::seed_from_u64(rng.r#gen()),
        );
        let tag = format!("s{seed}.r{round}.a{w}");
        let addr = server.imap;
        workers.push(thread::spawn(move || append_worker(addr, l, a, mb, tag, r)));
    }
    {
        let (l, a, addr) = (Arc::clone(ledger), Arc::clone(&acks), server.imap);
        workers.push(thread::spawn(move || flag_worker(addr, l, a)));
    }
    {
        let (l, a, r) = (
            Arc::clone(ledger),
            Arc::clone(&acks),
            StdRng::seed_from_u64(rng.r#gen()),
        );
        let tag = format!("s{seed}.r{round}.churn");
        let addr = server.imap;
        workers.push(thread::spawn(move || churn_worker(addr, l, a, tag, r)));
    }
    {
        let (l, a, r) = (
            Arc::clone(ledger),
            Arc::clone(&acks),
            StdRng::seed_from_u64(rng.r#gen()),
        );
        let tag = format!("s{seed}.r{round}.smtp");
        let addr = server.smtp;
        workers.push(thread::spawn(move || smtp_worker(addr, l, a, tag, r)));
    }

    // Let some work be acknowledged, then kill at a random moment.
    let end = Instant::now() + Duration::from_secs(10);
    while acks.load(Ordering::Relaxed) < 5 && Instant::now() < end {
        thread::sleep(Duration::from_millis(5));
    }
    thread::sleep(Duration::from_millis(rng.gen_range(0..400)));
    server.child.kill().expect("SIGKILL the server");
    server.child.wait().expect("reap the server");
    for w in workers {
        w.join().expect("worker panicked");
    }
    assert!(
        acks.load(Ordering::Relaxed) > 0,
        "{context}: nothing was acknowledged"
    );

    // The data directory as the SIGKILL left it opens clean, before any server touches it.
    {
        let store = pochta_store_embedded::EmbeddedStore::open(&dir.data_dir())
            .unwrap_or_else(|e| panic!("{context}: the store does not open: {e}"));
        let problems = store.integrity_check().expect("integrity check");
        assert!(
            problems.is_empty(),
            "{context}: store damaged: {problems:#?}"
        );
    }
    let server = start(dir, round + 1000);
    let snap = snapshot(server.imap);
    let mut l = ledger.lock().unwrap();
    let smtp = l.acked.values().filter(|s| s.smtp).count();
    let (total, in_flight) = (l.acked.len(), l.maybe.len());
    verify(&mut l, &snap, &context);
    eprintln!(
        "{context}: {} acks this round; {total} messages acknowledged so far ({smtp} over \
         SMTP), {in_flight} in flight at the kill, {} of them survived",
        acks.load(Ordering::Relaxed),
        l.acked.len() - total
    );
    drop(l);
    drop(server);
}

fn setup(dir: &TestDir, ledger: &Shared) {
    dir.add_user(USER, PASS);
    let server = start(dir, 0);
    let mut c = Imap::login(server.imap, USER, PASS).expect("login");
    assert!(c.cmd("CREATE Work").unwrap().ok());
    let target = message("target@crash.test", &mut StdRng::seed_from_u64(0));
    let r = c.append("INBOX", "$g0", &target).unwrap();
    let (_, uid) = appenduid(&r.tagged).expect("APPENDUID");
    let mut l = ledger.lock().unwrap();
    l.target_uid = uid;
    l.flag_acked = 0;
    drop(l);
    let _ = c.cmd("LOGOUT");
    let snap = snapshot(server.imap);
    let mut l = ledger.lock().unwrap();
    for mb in MAILBOXES {
        let (v, n, _) = &snap[mb];
        l.seen.insert(mb, (*v, *n));
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn sigkill_during_appends_flag_updates_and_smtp_loses_nothing_acknowledged() {
    let seed = env_u64("POCHTA_CRASH_SEED", 1);
    let rounds = env_u64("POCHTA_CRASH_ROUNDS", 6) as usize;
    let dir = TestDir::empty();
    let ledger: Shared = Arc::default();
    setup(&dir, &ledger);
    let started = Instant::now();
    for round in 1..=rounds {
        run_round(&dir, &ledger, seed, round);
    }
    let l = ledger.lock().unwrap();
    eprintln!(
        "crash test: {rounds} rounds, seed {seed}, {} messages acknowledged, {} expunged, flag \
         generation {}, {:?}",
        l.acked.len(),
        l.gone.len(),
        l.flag_acked,
        started.elapsed()
    );
    // The store keeps mailbox names in its database, never as paths.
    assert_no_mailbox_paths(&dir.data_dir());
}

/// No file or directory under the data dir is named after a mailbox.
fn assert_no_mailbox_paths(data: &Path) {
    let mut stack = vec![data.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read data dir") {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().to_lowercase();
            assert!(
                !name.contains("work") && !name.contains("inbox"),
                "mailbox name on disk: {}",
                e.path().display()
            );
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
}
