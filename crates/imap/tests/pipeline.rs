//! Parallel execution of pipelined commands (RFC 9051 §5.5; `crates/imap/src/pipeline.rs`),
//! over TCP against the real server.
//!
//! The property test sends random pipelined batches — independent reads (UID FETCH of bodies
//! and headers, FETCH by sequence number, UID SEARCH, STATUS, LIST, MYRIGHTS, GETQUOTAROOT)
//! mixed with commands that change state (UID STORE, NOOP, SELECT) — in one write, while
//! another session of the same user appends, re-flags and expunges in the same mailbox, and
//! checks every answer against what sequential execution permits:
//! - every command gets exactly one tagged answer, OK;
//! - a state-changing command is a barrier: every command before it is answered before it,
//!   every command after it after it (so a flag a STORE set shows in every later FETCH and in
//!   no earlier one);
//! - sequence numbers in every FETCH response agree with the client's view as built from the
//!   EXISTS/EXPUNGE responses received so far (no EXPUNGE ever slips into a group);
//! - bodies, headers, STATUS, SEARCH, LIST and MYRIGHTS answers are exactly the sequential
//!   ones for the messages and mailboxes the other session never touches, and each untagged
//!   SEARCH is followed by its own command's tagged answer.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use common::{Client, USER, message};
use pochta_imap::ImapConfig;
use pochta_imap::PlaintextPolicy;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Messages 1..=STABLE of INBOX are never changed by the other session.
const STABLE: u32 = 16;
/// Messages STABLE+1..=INITIAL are re-flagged and expunged by the other session.
const INITIAL: u32 = 24;
/// Other mailboxes, never changed: F1..=F4 with k*2 messages each.
const FOLDERS: u32 = 4;

fn stable_message(i: u32) -> Vec<u8> {
    // Sizes differ so the FETCHes of a batch take different times.
    message(
        &format!("m{i}z"),
        &"body line\r\n".repeat((i as usize % 5) * 400 + 1),
    )
}

#[derive(Debug, Clone)]
enum Cmd {
    /// UID FETCH lo:hi (UID BODY.PEEK[]) over stable UIDs.
    Bodies(u32, u32),
    /// UID FETCH lo:hi (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)]).
    Headers(u32, u32),
    /// UID FETCH u (UID FLAGS).
    Flags(u32),
    /// FETCH seq (UID): sequence numbers.
    SeqUid(u32),
    /// UID SEARCH SUBJECT m{i}z.
    Search(u32),
    /// STATUS F{k} (MESSAGES UIDNEXT).
    Status(u32),
    List,
    MyRights(u32),
    QuotaRoot,
    /// Barriers.
    Store(u32),
    Noop,
    Select,
}

impl Cmd {
    fn text(&self, pos: usize) -> String {
        match self {
            Cmd::Bodies(a, b) => format!("UID FETCH {a}:{b} (UID BODY.PEEK[])"),
            Cmd::Headers(a, b) => {
                format!("UID FETCH {a}:{b} (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            }
            Cmd::Flags(u) => format!("UID FETCH {u} (UID FLAGS)"),
            Cmd::SeqUid(n) => format!("FETCH {n} (UID)"),
            Cmd::Search(i) => format!("UID SEARCH SUBJECT m{i}z"),
            Cmd::Status(k) => format!("STATUS F{k} (MESSAGES UIDNEXT)"),
            Cmd::List => "LIST \"\" F*".into(),
            Cmd::MyRights(k) => format!("MYRIGHTS F{k}"),
            Cmd::QuotaRoot => "GETQUOTAROOT INBOX".into(),
            Cmd::Store(u) => format!("UID STORE {u} +FLAGS.SILENT ($k{pos})"),
            Cmd::Noop => "NOOP".into(),
            Cmd::Select => "SELECT INBOX".into(),
        }
    }

    fn barrier(&self) -> bool {
        matches!(self, Cmd::Store(_) | Cmd::Noop | Cmd::Select)
    }
}

fn cmd() -> impl Strategy<Value = Cmd> {
    let uid = 1..=STABLE;
    prop_oneof![
        4 => (1..=STABLE, 0..4u32).prop_map(|(a, n)| Cmd::Bodies(a, (a + n).min(STABLE))),
        3 => (1..=STABLE, 0..8u32).prop_map(|(a, n)| Cmd::Headers(a, (a + n).min(STABLE))),
        2 => uid.clone().prop_map(Cmd::Flags),
        2 => (1..=STABLE).prop_map(Cmd::SeqUid),
        2 => uid.clone().prop_map(Cmd::Search),
        3 => (1..=FOLDERS).prop_map(Cmd::Status),
        1 => Just(Cmd::List),
        1 => (1..=FOLDERS).prop_map(Cmd::MyRights),
        1 => Just(Cmd::QuotaRoot),
        2 => uid.prop_map(Cmd::Store),
        1 => Just(Cmd::Noop),
        1 => Just(Cmd::Select),
    ]
}

/// The client's view: sequence number - 1 → UID where known.
#[derive(Default)]
struct View {
    uids: Vec<Option<u32>>,
}

impl View {
    fn exists(&mut self, n: usize) {
        assert!(
            n >= self.uids.len(),
            "EXISTS {n} shrank the view of {}",
            self.uids.len()
        );
        self.uids.resize(n, None);
    }
    fn expunge(&mut self, seq: usize) {
        assert!(
            seq >= 1 && seq <= self.uids.len(),
            "EXPUNGE {seq} outside the view"
        );
        self.uids.remove(seq - 1);
    }
    fn fetched(&mut self, seq: usize, uid: u32, line: &str) {
        assert!(
            seq >= 1 && seq <= self.uids.len(),
            "FETCH with sequence number {seq} outside the client's view of {}: {line}",
            self.uids.len()
        );
        match self.uids[seq - 1] {
            Some(known) => assert_eq!(
                known, uid,
                "sequence number {seq} is UID {known}, answered as {uid}: {line}"
            ),
            None => self.uids[seq - 1] = Some(uid),
        }
        let known: Vec<u32> = self.uids.iter().flatten().copied().collect();
        assert!(
            known.windows(2).all(|w| w[0] < w[1]),
            "UIDs out of order in the view: {known:?}"
        );
    }
}

/// An untagged update the session may send at the end of any command: EXISTS, EXPUNGE,
/// RECENT, FLAGS, a response code, or a FETCH of flags (no message data).
fn is_update(line: &str) -> bool {
    let words: Vec<&str> = line.split(' ').collect();
    line.starts_with("* FLAGS ")
        || line.starts_with("* OK [")
        || matches!(words.get(2), Some(&"EXISTS" | &"EXPUNGE" | &"RECENT"))
        || (words.get(2) == Some(&"FETCH") && line.contains("FLAGS (") && !line.contains("BODY"))
}

fn number_after(text: &str, key: &str) -> Option<u32> {
    let i = text.find(key)? + key.len();
    text[i..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// `k` of the mailbox `F<k>` (quoted or not) right after `prefix`.
fn folder(text: &str, prefix: &str) -> Option<u32> {
    let rest = text.strip_prefix(prefix)?.trim_start_matches('"');
    number_after(rest, "F")
}

/// The bytes of the literal after `key {n}\r\n` in `text`.
fn literal_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let i = text.find(key)? + key.len();
    let n: usize = number_after(&text[i..], "{")? as usize;
    let start = i + text[i..].find("}\r\n")? + 3;
    text.get(start..start + n)
}

struct Fixture {
    client: Client,
    view: View,
    /// Stable message i → its UID.
    uid_of: HashMap<u32, u32>,
    /// STATUS F{k} → (MESSAGES, UIDNEXT).
    status: HashMap<u32, (u32, u32)>,
    myrights: HashMap<u32, String>,
    case: u32,
}

fn select(f: &mut Fixture) {
    let r = f.client.ok("SELECT INBOX");
    f.view = View::default();
    for l in &r {
        if l.ends_with(" EXISTS") {
            f.view
                .exists(number_after(l, "* ").expect("EXISTS") as usize);
        }
    }
}

fn run_batch(f: &mut Fixture, batch: &[Cmd]) {
    f.case += 1;
    let tags: Vec<String> = (0..batch.len())
        .map(|i| format!("c{}x{i}", f.case))
        .collect();
    let mut wire = String::new();
    for (i, c) in batch.iter().enumerate() {
        wire.push_str(&format!("{} {}\r\n", tags[i], c.text(i)));
    }
    f.client.send(wire.as_bytes());

    // Read until every tag is answered; remember the arrival order.
    let mut pos_of_tag: HashMap<usize, usize> = HashMap::new();
    let mut responses: Vec<String> = Vec::new();
    while pos_of_tag.len() < batch.len() {
        let r = f.client.read_response();
        if let Some(i) = tags.iter().position(|t| r.starts_with(&format!("{t} "))) {
            assert!(
                r.starts_with(&format!("{} OK", tags[i])),
                "{} failed: {r}",
                batch[i].text(i)
            );
            assert!(
                pos_of_tag.insert(i, responses.len()).is_none(),
                "two answers for {}",
                tags[i]
            );
        } else {
            assert!(r.starts_with("* "), "unexpected line {r}");
        }
        responses.push(r);
    }
    let tag_at: HashMap<usize, usize> = pos_of_tag.iter().map(|(&i, &p)| (p, i)).collect();

    // Barriers: everything before is answered before, everything after after.
    for (b, c) in batch.iter().enumerate() {
        if !c.barrier() {
            continue;
        }
        for i in 0..batch.len() {
            if i < b {
                assert!(
                    pos_of_tag[&i] < pos_of_tag[&b],
                    "{} answered after the later barrier {}",
                    batch[i].text(i),
                    c.text(b)
                );
            } else if i > b {
                assert!(
                    pos_of_tag[&i] > pos_of_tag[&b],
                    "{} answered before the earlier barrier {}",
                    batch[i].text(i),
                    c.text(b)
                );
            }
        }
    }

    // Walk the answers in arrival order, keeping the client's view.
    let mut bodies: HashMap<u32, usize> = HashMap::new();
    let mut headers: HashMap<u32, usize> = HashMap::new();
    let mut status_seen: HashMap<u32, usize> = HashMap::new();
    // Per UID: FLAGS answers with the keyword of a STORE at position p, as (arrival, keywords).
    let mut flag_answers: Vec<(usize, u32, String)> = Vec::new();
    for (p, r) in responses.iter().enumerate() {
        if let Some(&i) = tag_at.get(&p) {
            if matches!(batch[i], Cmd::Select) {
                // Its untagged answers came before; the next lines are about the new view.
            }
            continue;
        }
        let head = r.split("\r\n").next().unwrap_or(r);
        if head.starts_with("* OK [CLOSED]") {
            f.view = View::default();
        } else if head.ends_with(" EXISTS") {
            f.view
                .exists(number_after(head, "* ").expect("EXISTS") as usize);
        } else if head.ends_with(" EXPUNGE") {
            f.view
                .expunge(number_after(head, "* ").expect("EXPUNGE") as usize);
        } else if head.contains(" FETCH (") {
            let seq = number_after(head, "* ").expect("seq") as usize;
            let uid = number_after(head, "UID ").expect("FETCH answers carry the UID");
            f.view.fetched(seq, uid, head);
            let stable = f.uid_of.iter().find(|(_, u)| **u == uid).map(|(i, _)| *i);
            if let Some(body) = literal_after(r, "BODY[] ") {
                let i = stable.expect("bodies are fetched from stable messages only");
                assert_eq!(body.as_bytes(), stable_message(i), "body of UID {uid}");
                *bodies.entry(uid).or_default() += 1;
            }
            if let Some(h) = literal_after(r, "BODY[HEADER.FIELDS (SUBJECT)] ") {
                let i = stable.expect("headers are fetched from stable messages only");
                assert_eq!(h, format!("Subject: m{i}z\r\n\r\n"), "header of UID {uid}");
                *headers.entry(uid).or_default() += 1;
            }
            if head.contains("FLAGS (") {
                flag_answers.push((p, uid, head.to_string()));
            }
        } else if head.starts_with("* STATUS ") {
            let k = folder(head, "* STATUS ").expect("STATUS F<k>");
            let want = f.status[&k];
            assert_eq!(
                (
                    number_after(head, "MESSAGES "),
                    number_after(head, "UIDNEXT ")
                ),
                (Some(want.0), Some(want.1)),
                "{head}"
            );
            *status_seen.entry(k).or_default() += 1;
        } else if head.starts_with("* SEARCH") {
            // Its own tagged answer follows it, with at most the session's untagged updates
            // in between (a SEARCH run on its own reports other sessions' changes before its
            // tagged completion, RFC 9051 §7); never another command's answer.
            let mut q = p + 1;
            while !tag_at.contains_key(&q) && responses.get(q).is_some_and(|l| is_update(l)) {
                q += 1;
            }
            let i = *tag_at
                .get(&q)
                .unwrap_or_else(|| panic!("{head} not followed by its tagged answer"));
            let Cmd::Search(m) = batch[i] else {
                panic!("{head} followed by the answer to {}", batch[i].text(i));
            };
            assert_eq!(
                head,
                format!("* SEARCH {}", f.uid_of[&m]),
                "UID SEARCH SUBJECT m{m}z"
            );
        } else if head.starts_with("* LIST ") {
            let name = head.rsplit(' ').next().unwrap_or("").trim_matches('"');
            assert!((1..=FOLDERS).any(|k| name == format!("F{k}")), "{head}");
        } else if head.starts_with("* MYRIGHTS ") {
            let k = folder(head, "* MYRIGHTS ").expect("MYRIGHTS F<k>");
            assert_eq!(head, f.myrights[&k], "MYRIGHTS F{k}");
        }
    }

    // Every read got all of its answers (stable messages always exist).
    let mut want_bodies: HashMap<u32, usize> = HashMap::new();
    let mut want_headers: HashMap<u32, usize> = HashMap::new();
    let mut want_status: HashMap<u32, usize> = HashMap::new();
    for c in batch {
        match c {
            Cmd::Bodies(a, b) => {
                (*a..=*b).for_each(|i| *want_bodies.entry(f.uid_of[&i]).or_default() += 1)
            }
            Cmd::Headers(a, b) => {
                (*a..=*b).for_each(|i| *want_headers.entry(f.uid_of[&i]).or_default() += 1)
            }
            Cmd::Status(k) => *want_status.entry(*k).or_default() += 1,
            _ => {}
        }
    }
    assert_eq!(bodies, want_bodies, "BODY[] answers per UID");
    assert_eq!(headers, want_headers, "header answers per UID");
    assert_eq!(status_seen, want_status, "STATUS answers per mailbox");

    // A STORE's keyword shows in every FLAGS answer after it and in none before it.
    for (s, c) in batch.iter().enumerate() {
        let Cmd::Store(i) = c else { continue };
        let uid = f.uid_of[i];
        let kw = format!("$k{s}");
        let stored_at = pos_of_tag[&s];
        for (p, u, line) in &flag_answers {
            if *u != uid {
                continue;
            }
            let has = line.split(['(', ')', ' ']).any(|w| w == kw);
            assert_eq!(has, *p > stored_at, "{kw} set by {} vs {line}", c.text(s));
        }
        let later_fetches = batch[s + 1..]
            .iter()
            .filter(|c| matches!(c, Cmd::Flags(x) if x == i))
            .count();
        let seen_after = flag_answers
            .iter()
            .filter(|(p, u, _)| *u == uid && *p > stored_at)
            .count();
        assert!(
            seen_after >= later_fetches,
            "{} later FETCH FLAGS of UID {uid}, {seen_after} answers",
            later_fetches
        );
    }

    // Clean up this case's keywords (sequentially).
    let kws: Vec<String> = (0..batch.len()).map(|i| format!("$k{i}")).collect();
    let r = f
        .client
        .ok(&format!("UID STORE 1:* -FLAGS.SILENT ({})", kws.join(" ")));
    for l in &r {
        if l.ends_with(" EXISTS") {
            f.view
                .exists(number_after(l, "* ").expect("EXISTS") as usize);
        } else if l.ends_with(" EXPUNGE") {
            f.view
                .expunge(number_after(l, "* ").expect("EXPUNGE") as usize);
        }
    }
}

/// The other session: appends, re-flags and expunges messages that are not stable.
fn churn(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) {
    let mut c = Client::login(addr, USER);
    c.ok("SELECT INBOX");
    let mut n = 0u32;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let r = c.append("INBOX", "", &message(&format!("new{n}"), "churn"));
        assert!(r.last().is_some_and(|l| l.contains(" OK ")), "{r:?}");
        let uid = r.last().and_then(|l| {
            // `[APPENDUID <validity> <uid>]`
            let v = number_after(l, "APPENDUID ")?;
            number_after(l, &format!("APPENDUID {v} "))
        });
        let u = uid.expect("APPENDUID");
        c.ok(&format!("UID STORE {u} +FLAGS (\\Flagged)"));
        c.ok(&format!("UID STORE {}:{} -FLAGS (\\Seen)", STABLE + 1, u));
        if n.is_multiple_of(2) {
            c.ok(&format!(
                "UID STORE {}:{} +FLAGS.SILENT (\\Deleted)",
                u - 1,
                u - 1
            ));
            c.ok(&format!("UID EXPUNGE {}", u - 1));
        }
        if n == 3 {
            // The initial unstable messages go too.
            c.ok(&format!(
                "UID STORE {}:{} +FLAGS.SILENT (\\Deleted)",
                STABLE + 1,
                INITIAL
            ));
            c.ok(&format!("UID EXPUNGE {}:{}", STABLE + 1, INITIAL));
        }
    }
}

#[test]
fn pipelined_batches_answer_as_sequential_execution_permits() {
    let server = common::start();
    let mut setup = Client::login(server.addr, USER);
    let mut uid_of = HashMap::new();
    for i in 1..=INITIAL {
        let bytes = if i <= STABLE {
            stable_message(i)
        } else {
            message(&format!("u{i}"), "x")
        };
        let r = setup.append("INBOX", "", &bytes);
        assert!(r.last().is_some_and(|l| l.contains(" OK ")), "{r:?}");
        if i <= STABLE {
            uid_of.insert(i, i);
        }
    }
    let mut status = HashMap::new();
    let mut myrights = HashMap::new();
    for k in 1..=FOLDERS {
        setup.ok(&format!("CREATE F{k}"));
        for j in 0..k * 2 {
            setup.append(
                &format!("F{k}"),
                "",
                &message(&format!("f{k}-{j}"), "folder"),
            );
        }
        let r = setup.ok(&format!("STATUS F{k} (MESSAGES UIDNEXT)"));
        let line = &r[0];
        status.insert(
            k,
            (
                number_after(line, "MESSAGES ").unwrap(),
                number_after(line, "UIDNEXT ").unwrap(),
            ),
        );
        let r = setup.ok(&format!("MYRIGHTS F{k}"));
        myrights.insert(k, r[0].clone());
    }
    // Stable messages got UIDs 1..=STABLE in order.
    let r = setup.ok("STATUS INBOX (UIDNEXT)");
    assert_eq!(number_after(&r[0], "UIDNEXT "), Some(INITIAL + 1));

    let stop = Arc::new(AtomicBool::new(false));
    let churner = {
        let (addr, stop) = (server.addr, Arc::clone(&stop));
        thread::spawn(move || churn(addr, stop))
    };
    let mut fixture = Fixture {
        client: Client::login(server.addr, USER),
        view: View::default(),
        uid_of,
        status,
        myrights,
        case: 0,
    };
    select(&mut fixture);
    let fixture = Mutex::new(fixture);
    let mut runner = TestRunner::new(Config {
        // More locally: POCHTA_PIPELINE_CASES=1000.
        cases: std::env::var("POCHTA_PIPELINE_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(64),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&prop::collection::vec(cmd(), 2..14), |batch| {
        let mut f = fixture.lock().unwrap_or_else(|e| e.into_inner());
        run_batch(&mut f, &batch);
        Ok(())
    });
    stop.store(true, Ordering::Relaxed);
    churner.join().expect("the other session failed");
    result.unwrap();
}

/// With parallel execution on (the default), a small command pipelined after a large FETCH
/// is answered first at least once in a few tries; with `parallel = false`, never.
fn overtakes(server: &common::Server) -> usize {
    let mut c = Client::login(server.addr, USER);
    for i in 0..40 {
        c.append(
            "INBOX",
            "",
            &message(&format!("big{i}"), &"a long line of text\r\n".repeat(3000)),
        );
    }
    c.ok("CREATE Small");
    c.ok("SELECT INBOX");
    let mut overtaken = 0;
    for round in 0..10 {
        c.send(
            format!("b{round} UID FETCH 1:* (BODY.PEEK[])\r\ns{round} STATUS Small (MESSAGES)\r\n")
                .as_bytes(),
        );
        let mut order = Vec::new();
        while order.len() < 2 {
            let r = c.read_response();
            if r.starts_with(&format!("b{round} OK")) || r.starts_with(&format!("s{round} OK")) {
                order.push(r.chars().next().unwrap_or(' '));
            } else {
                assert!(r.starts_with("* "), "{r}");
            }
        }
        if order == ['s', 'b'] {
            overtaken += 1;
        }
    }
    overtaken
}

#[test]
fn a_small_read_overtakes_a_large_fetch_only_when_parallel() {
    let on = common::start();
    assert!(
        overtakes(&on) > 0,
        "STATUS never answered before the large FETCH pipelined ahead of it"
    );
    let off = common::start_configured(ImapConfig {
        plaintext: PlaintextPolicy::Always,
        parallel: false,
        ..ImapConfig::default()
    });
    assert_eq!(
        overtakes(&off),
        0,
        "with parallel = false, answers must come in order"
    );
}

/// Keywords another session defined, fetched by a pipelined batch of `UID FETCH (FLAGS)`: every
/// keyword shown in a FETCH was listed in an untagged FLAGS before it, and no later FLAGS list
/// drops one listed earlier (RFC 9051 §7.3.5; imaptest's "Keyword dropped" check). Forks of the
/// session announcing keywords concurrently would each send a list missing the other's.
#[test]
fn pipelined_flag_fetches_never_drop_an_announced_keyword() {
    let s = common::start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    const N: u32 = 12;
    for i in 1..=N {
        a.append("INBOX", "", &message(&format!("k{i}"), "x"));
    }
    a.ok("SELECT INBOX");
    b.ok("SELECT INBOX");
    for i in 1..=N {
        b.ok(&format!("UID STORE {i} +FLAGS ($Kw{i})"));
    }
    let batch: String = (1..=N)
        .map(|i| format!("f{i} UID FETCH {i} (UID FLAGS)\r\n"))
        .collect();
    a.send(batch.as_bytes());
    let mut known: Vec<String> = Vec::new();
    let mut done = 0;
    while done < N {
        let line = a.read_response();
        if let Some(rest) = line.strip_prefix("* FLAGS (") {
            let list: Vec<String> = rest
                .trim_end_matches(')')
                .split(' ')
                .map(str::to_ascii_lowercase)
                .collect();
            for k in &known {
                assert!(list.contains(k), "FLAGS dropped {k}: {line}");
            }
            known = list;
        } else if line.contains(" FETCH (") {
            let flags = line
                .split("FLAGS (")
                .nth(1)
                .and_then(|x| x.split(')').next())
                .unwrap_or("");
            for k in flags.split(' ').filter(|k| k.starts_with('$')) {
                assert!(
                    known.contains(&k.to_ascii_lowercase()),
                    "{k} shown before any FLAGS listed it: {line}"
                );
            }
        } else if line.starts_with('f') {
            assert!(line.contains(" OK "), "{line}");
            done += 1;
        }
    }
}
