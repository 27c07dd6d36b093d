//! Isolation: from account B, try every way we know to reach account A's mail over IMAP and
//! POP3, against the real binary.
//!
//! What is proven:
//! - No byte B receives, over any command, contains A's message text or A's mailbox names.
//! - Every attempt to open, read, write, rename, delete or copy into a name that B does not
//!   own (path tricks `../`, `/abs`, `~user`, `#shared`, wildcards, percent and modified UTF-7
//!   spellings of `..`) gets a tagged `NO` or `BAD`, and the session stays usable.
//! - Sequence and UID sets beyond the mailbox (up to 2^32-1) return only B's own messages;
//!   EMAILID/MAILBOXID values of A's objects find nothing for B.
//! - A's mailboxes, messages and flags are unchanged afterwards, even where B created a
//!   mailbox with a path-like name (that mailbox is B's own and empty), and a message stored
//!   once for both (content-addressed blobs) keeps separate flags and survives A's expunge.
//! - POP3: B's maildrop is B's INBOX only; out-of-range message numbers get `-ERR`.
//! - No file or directory under `data_dir` is named after a mailbox.

mod blocking;
mod common;

use std::net::SocketAddr;
use std::path::Path;

use pochta_imap_proto::response::{LiteralForm, write_string_with};

use blocking::{Imap, Lines, Reply, number_after};
use common::{TestDir, TestServer, free_ports};

const A: &str = "alice@example.test";
const B: &str = "bob@example.test";
const PW_A: &str = "alice pw";
const PW_B: &str = "bob pw";
/// Appears only in A's messages.
const SECRET: &str = "SECRET-ALPHA-7f3a";
/// A's mailbox names contain this; B never creates one that does.
const A_BOX: &str = "Zettel";

fn msg(id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: <{A}>\r\nTo: <{A}>\r\nSubject: {id}\r\nMessage-ID: <{id}@iso.test>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// Names that could, in a careless implementation, resolve to A's mail.
fn hostile_names() -> Vec<String> {
    let mut v: Vec<String> = [
        "../alice@example.test/INBOX",
        "../alice@example.test",
        "..",
        ".",
        "../INBOX",
        "INBOX/..",
        "INBOX/../Zettel",
        "INBOX/../../alice@example.test/INBOX",
        "INBOX/../../../../../etc/passwd",
        "/INBOX",
        "/alice@example.test/INBOX",
        "/Zettel",
        "//Zettel",
        "~alice@example.test/INBOX",
        "~alice/INBOX",
        "~alice@example.test/Zettel",
        "#shared/alice@example.test/INBOX",
        "#shared/Zettel",
        "#users/alice@example.test/INBOX",
        "#public/Zettel",
        "Other Users/alice@example.test/INBOX",
        "user/alice/INBOX",
        "user.alice.INBOX",
        "alice@example.test/INBOX",
        "alice@example.test",
        "Zettel",
        "Zettel/Innen",
        "zettel",
        "INBOX.Zettel",
        "Zettel*",
        "*",
        "%",
        "*/Zettel",
        "%/Zettel",
        "%2e%2e/Zettel",
        "%2E%2E%2Falice@example.test%2FINBOX",
        "&AC4ALg-/Zettel",
        "&AC4ALgAv-alice@example.test/INBOX",
        "..\\Zettel",
        "INBOX\\..\\Zettel",
        "\u{2025}/Zettel",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("a/".repeat(40) + "Zettel");
    v.push("Z".repeat(600));
    v
}

/// A mailbox name as an IMAP astring: always a string, quoted raw UTF-8 where it fits (the
/// attacker does not bother with modified UTF-7), under imap-proto's one quoting rule.
fn quoted(name: &str) -> String {
    let mut out = Vec::new();
    write_string_with(&mut out, name.as_bytes(), true, LiteralForm::default());
    String::from_utf8_lossy(&out).into_owned()
}

/// Checks that nothing of A's leaks into `r`, and returns it.
fn no_leak(what: &str, r: Reply) -> Reply {
    let text = r.all_text();
    let mut all = text.clone().into_bytes();
    for u in &r.untagged {
        for l in &u.literals {
            all.extend_from_slice(l);
        }
    }
    let all = String::from_utf8_lossy(&all);
    assert!(
        !all.contains(SECRET),
        "{what}: A's message text leaked:\n{all}"
    );
    // The tagged line may echo the name B sent; untagged data never names A's mailboxes (B
    // owns none with that name in this phase).
    for u in &r.untagged {
        assert!(
            !u.text.contains(A_BOX),
            "{what}: A's mailbox name leaked:\n{text}"
        );
    }
    r
}

/// `command` must fail cleanly (tagged NO or BAD) without leaking, and the session survive.
fn refused(c: &mut Imap, command: &str) {
    let r = no_leak(command, c.cmd(command).expect(command));
    assert!(
        matches!(r.status(), "NO" | "BAD"),
        "{command:?} should be refused: {}",
        r.all_text()
    );
    let n = c.cmd("NOOP").expect("NOOP after refusal");
    assert!(n.ok(), "session broken after {command:?}: {}", n.all_text());
}

/// `command` may succeed or fail, but must not leak.
fn harmless(c: &mut Imap, command: &str) -> Reply {
    let r = no_leak(command, c.cmd(command).expect(command));
    assert!(
        matches!(r.status(), "OK" | "NO" | "BAD"),
        "{command:?}: {}",
        r.all_text()
    );
    r
}

struct AState {
    mailboxes: Vec<String>,
    /// (mailbox, uid, flags, body) for every message.
    messages: Vec<(String, u64, String, Vec<u8>)>,
}

fn a_state(addr: SocketAddr) -> AState {
    let mut c = Imap::login(addr, A, PW_A).unwrap();
    let list = c.cmd("LIST \"\" \"*\"").unwrap();
    let mut mailboxes: Vec<String> = list.untagged.iter().map(|u| u.text.clone()).collect();
    mailboxes.sort();
    let mut messages = Vec::new();
    for mb in ["INBOX", A_BOX, &format!("{A_BOX}/Innen")] {
        assert!(c.cmd(&format!("EXAMINE {}", quoted(mb))).unwrap().ok());
        let r = c.cmd("UID FETCH 1:* (UID FLAGS BODY.PEEK[])").unwrap();
        for u in r.untagged.iter().filter(|u| u.text.contains("FETCH")) {
            let uid = number_after(&u.text, "UID").unwrap();
            let flags = blocking::flags_of(&u.text).unwrap().join(" ");
            messages.push((mb.to_string(), uid, flags, u.literals[0].clone()));
        }
    }
    let _ = c.cmd("LOGOUT");
    AState {
        mailboxes,
        messages,
    }
}

fn setup() -> TestServer {
    let ports = free_ports(2);
    let dir = TestDir::new(&[("imap", ports[0]), ("pop3", ports[1])], "");
    dir.add_user(A, PW_A);
    dir.add_user(B, PW_B);
    TestServer::start_in(dir, vec![("imap", ports[0]), ("pop3", ports[1])])
}

#[test]
fn account_b_cannot_reach_account_a() {
    let server = setup();
    let addr = server.addr("imap");

    // A's mail: INBOX, Zettel and Zettel/Innen, each with secret text; one message also
    // delivered, byte for byte, to B (so the blob is shared).
    let shared_msg = msg("shared", "the same bytes for both");
    let mut a = Imap::login(addr, A, PW_A).unwrap();
    assert!(a.cmd(&format!("CREATE {A_BOX}/Innen")).unwrap().ok());
    for (i, mb) in ["INBOX", A_BOX, &format!("{A_BOX}/Innen")]
        .iter()
        .enumerate()
    {
        let r = a
            .append(mb, "\\Flagged", &msg(&format!("a{i}"), SECRET))
            .unwrap();
        assert!(r.ok(), "{}", r.all_text());
    }
    assert!(a.append("INBOX", "", &shared_msg).unwrap().ok());
    assert!(a.cmd("SELECT INBOX").unwrap().ok());
    let r = a.cmd("FETCH 1 (EMAILID)").unwrap();
    let emailid = r.untagged[0].text.split("EMAILID (").nth(1).unwrap();
    let emailid = emailid.split(')').next().unwrap().to_owned();
    let r = a.cmd(&format!("STATUS {A_BOX} (MAILBOXID)")).unwrap();
    let mailboxid = r.untagged[0].text.split("MAILBOXID (").nth(1).unwrap();
    let mailboxid = mailboxid.split(')').next().unwrap().to_owned();
    let before = a_state(addr);

    let mut b = Imap::login(addr, B, PW_B).unwrap();
    assert!(b.append("INBOX", "", &msg("b0", "bob's own")).unwrap().ok());
    assert!(b.append("INBOX", "\\Seen", &shared_msg).unwrap().ok());
    no_leak("NAMESPACE", b.cmd("NAMESPACE").unwrap());
    // B's own mailboxes (INBOX and the special-use ones every account starts with).
    let b_own: Vec<String> = b
        .cmd("LIST \"\" \"*\"")
        .unwrap()
        .untagged
        .iter()
        .map(|u| {
            u.text
                .rsplit(' ')
                .next()
                .unwrap()
                .trim_matches('"')
                .to_owned()
        })
        .collect();
    assert!(b_own.iter().any(|n| n == "INBOX") && !b_own.iter().any(|n| n.contains(A_BOX)));

    // Every hostile name, every command that takes a mailbox name, authenticated and
    // selected (COPY/MOVE need a selection).
    for selected in [false, true] {
        if selected {
            assert!(b.cmd("SELECT INBOX").unwrap().ok());
        }
        for name in hostile_names() {
            let q = quoted(&name);
            if selected {
                // A failed SELECT below deselects, so select again for each name.
                assert!(b.cmd("SELECT INBOX").unwrap().ok());
                for cmd in [
                    "COPY 1:*",
                    "UID COPY 1:*",
                    "MOVE 1",
                    "UID MOVE 1:4294967295",
                ] {
                    let cmd = format!("{cmd} {q}");
                    refused(&mut b, &cmd);
                    let r = b.cmd("UID SEARCH ALL").unwrap();
                    assert!(
                        r.ok(),
                        "{cmd} left the session unselected: {}",
                        r.all_text()
                    );
                    let all = &r.untagged[0].text;
                    assert!(
                        all.contains(" 1 ") && all.ends_with(" 2"),
                        "{cmd} lost a message: {all}"
                    );
                }
            }
            refused(&mut b, &format!("SELECT {q}"));
            refused(&mut b, &format!("EXAMINE {q}"));
            refused(
                &mut b,
                &format!("STATUS {q} (MESSAGES UIDNEXT UIDVALIDITY)"),
            );
            refused(&mut b, &format!("DELETE {q}"));
            refused(&mut b, &format!("RENAME {q} Stolen"));
            let r = b.append(&q, "", &msg("b-append", "bob")).unwrap();
            let r = no_leak("APPEND", r);
            assert!(
                matches!(r.status(), "NO" | "BAD"),
                "APPEND {q}: {}",
                r.all_text()
            );
            harmless(&mut b, &format!("LIST \"\" {q}"));
            harmless(&mut b, &format!("LIST {q} \"*\""));
            harmless(&mut b, &format!("LIST {q} \"%\""));
            harmless(&mut b, &format!("LSUB {q} \"*\""));
            harmless(&mut b, &format!("LIST \"\" {q} RETURN (STATUS (MESSAGES))"));
            // Subscribing is B's own list; it must not reveal anything either way.
            harmless(&mut b, &format!("SUBSCRIBE {q}"));
            harmless(&mut b, "LSUB \"\" \"*\"");
            harmless(
                &mut b,
                "LIST (SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN STATUS (MESSAGES))",
            );
            harmless(&mut b, &format!("UNSUBSCRIBE {q}"));
        }
    }
    // Wildcard references and patterns list only B's mailboxes.
    for (reference, pattern) in [
        ("", "*"),
        ("", "%"),
        ("..", "*"),
        ("../", "*"),
        ("/", "*"),
        ("~alice@example.test/", "*"),
        ("#shared/", "*"),
        ("*", "*"),
        ("%", "%"),
        ("", "*/*/*"),
        ("", "../*"),
    ] {
        let r = harmless(
            &mut b,
            &format!(
                "LIST {} {} RETURN (CHILDREN)",
                quoted(reference),
                quoted(pattern)
            ),
        );
        for u in r.untagged.iter().filter(|u| u.text.starts_with("* LIST")) {
            let name = u.text.rsplit(' ').next().unwrap().trim_matches('"');
            assert!(
                b_own.iter().any(|o| o == name) || name.is_empty(),
                "B sees a mailbox that is not its own: {}",
                u.text
            );
        }
    }

    // Sets beyond the mailbox reach only B's two messages.
    assert!(b.cmd("SELECT INBOX").unwrap().ok());
    for cmd in [
        "FETCH 1:* (UID BODY.PEEK[])",
        "FETCH 1:4294967295 (UID BODY.PEEK[])",
        "UID FETCH 1:4294967295 (UID BODY.PEEK[])",
        "UID FETCH 3:* (UID BODY.PEEK[])",
        "UID FETCH 4294967295 (BODY.PEEK[])",
        "FETCH 3 (BODY.PEEK[])",
        "FETCH 0 (BODY.PEEK[])",
        "FETCH 4294967296 (BODY.PEEK[])",
        "UID FETCH 0:4294967296 (BODY.PEEK[])",
        "FETCH -1 (BODY.PEEK[])",
        "UID STORE 1:4294967295 +FLAGS (\\Deleted)",
        "STORE 1:* -FLAGS (\\Deleted)",
        "UID SEARCH ALL",
        "UID SEARCH UID 1:4294967295",
        &format!("UID SEARCH BODY {SECRET}"),
        &format!("UID SEARCH TEXT {SECRET}"),
        &format!("UID SEARCH EMAILID {emailid}"),
        "UID EXPUNGE 3:4294967295",
    ] {
        let r = harmless(&mut b, cmd);
        let bodies = r.untagged.iter().flat_map(|u| &u.literals).count();
        assert!(
            bodies <= 2,
            "{cmd}: more than B's two messages: {}",
            r.all_text()
        );
    }
    // SEARCH EMAILID of the shared message finds B's own copy only (UID 2 of B's INBOX).
    let r = harmless(&mut b, &format!("UID SEARCH EMAILID {emailid}"));
    let hits = r
        .untagged
        .iter()
        .find(|u| u.text.starts_with("* SEARCH"))
        .unwrap();
    assert!(
        hits.text.trim_end() == "* SEARCH" || hits.text.trim_end() == "* SEARCH 2",
        "{}",
        hits.text
    );
    // A's MAILBOXID as a name is just a name B does not have.
    refused(&mut b, &format!("SELECT {mailboxid}"));
    refused(&mut b, &format!("STATUS {mailboxid} (MESSAGES)"));

    // (A failed SELECT leaves no mailbox selected, RFC 9051 §6.3.2.)
    assert!(b.cmd("SELECT INBOX").unwrap().ok());
    // Names B may legitimately create (they are B's own, however path-like) stay B's own.
    for name in [
        "..x",
        "~alice@example.test/INBOX",
        "#shared/INBOX",
        "alice@example.test/INBOX",
        "Other Users/alice/INBOX",
    ] {
        let q = quoted(name);
        let r = harmless(&mut b, &format!("CREATE {q}"));
        if r.ok() {
            let s = harmless(&mut b, &format!("STATUS {q} (MESSAGES)"));
            assert!(
                s.untagged[0].text.contains("MESSAGES 0"),
                "{}",
                s.all_text()
            );
            let c = harmless(&mut b, &format!("COPY 1 {q}"));
            assert!(c.ok(), "{}", c.all_text());
            harmless(&mut b, &format!("DELETE {q}"));
        }
    }
    // Literal names with bytes a quoted string cannot carry.
    for raw in [
        &b"../\x00alice"[..],
        b"INBOX\r\n",
        b"..\xff/Zettel",
        b"/../alice@example.test/INBOX",
    ] {
        let tag = b.next_tag();
        let mut bytes = format!("{tag} SELECT {{{}+}}\r\n", raw.len()).into_bytes();
        bytes.extend_from_slice(raw);
        bytes.extend_from_slice(b"\r\n");
        let r = no_leak("literal SELECT", b.raw(&tag, &bytes).unwrap());
        assert!(matches!(r.status(), "NO" | "BAD"), "{}", r.all_text());
        assert!(b.cmd("NOOP").unwrap().ok());
    }

    // A expunges the shared message; B's copy (same blob) survives with B's flags.
    assert!(a.cmd("STORE 2 +FLAGS (\\Deleted \\Answered)").unwrap().ok());
    assert!(a.cmd("EXPUNGE").unwrap().ok());
    let r = harmless(&mut b, "UID FETCH 2 (FLAGS BODY.PEEK[])");
    assert_eq!(
        r.untagged
            .iter()
            .filter(|u| u.text.contains("FETCH"))
            .count(),
        1,
        "{}",
        r.all_text()
    );
    let f = &r
        .untagged
        .iter()
        .find(|u| u.text.contains("FETCH"))
        .unwrap();
    assert!(
        f.text.contains("\\Seen") && !f.text.contains("\\Answered"),
        "{}",
        f.text
    );
    assert_eq!(f.literals[0], shared_msg);

    // A's world is as it was, apart from A's own expunge.
    let after = a_state(addr);
    assert_eq!(before.mailboxes, after.mailboxes);
    let expected: Vec<_> = before
        .messages
        .iter()
        .filter(|(mb, _, _, body)| !(mb == "INBOX" && *body == shared_msg))
        .cloned()
        .collect();
    assert_eq!(expected.len() + 1, before.messages.len());
    assert_eq!(expected, after.messages, "A's messages changed");

    pop3_isolation(server.addr("pop3"));
    assert_no_mailbox_paths(&server.dir.data_dir());
}

fn pop3_isolation(addr: SocketAddr) {
    // Wrong combinations never log in, and say nothing about which part was wrong.
    for (user, pass) in [
        (A, PW_B),
        ("../alice@example.test", PW_A),
        ("alice@example.test/INBOX", PW_A),
        ("bob@example.test/../alice@example.test", PW_B),
        ("alice", PW_A),
    ] {
        let mut p = Lines::connect(addr).unwrap();
        assert!(p.line().unwrap().starts_with("+OK"));
        let u = p.cmd(&format!("USER {user}")).unwrap();
        assert!(u.starts_with("+OK") || u.starts_with("-ERR"), "{u}");
        if u.starts_with("+OK") {
            let r = p.cmd(&format!("PASS {pass}")).unwrap();
            assert!(r.starts_with("-ERR"), "USER {user} / PASS {pass}: {r}");
        }
    }
    let mut p = Lines::connect(addr).unwrap();
    assert!(p.line().unwrap().starts_with("+OK"));
    assert!(p.cmd(&format!("USER {B}")).unwrap().starts_with("+OK"));
    assert!(p.cmd(&format!("PASS {PW_B}")).unwrap().starts_with("+OK"));
    let stat = p.cmd("STAT").unwrap();
    assert!(
        stat.starts_with("+OK 2 "),
        "B's maildrop is B's INBOX: {stat}"
    );
    for cmd in [
        "RETR 3",
        "RETR 0",
        "RETR -1",
        "RETR 4294967297",
        "RETR 18446744073709551617",
        "TOP 3 0",
        "TOP 99999999 10",
        "LIST 3",
        "UIDL 3",
        "DELE 3",
        "USER alice@example.test",
        "PASS alice pw",
        "RETR ../1",
    ] {
        let r = p.cmd(cmd).unwrap();
        assert!(r.starts_with("-ERR"), "{cmd}: {r}");
    }
    // Reading B's own messages shows no secret of A's.
    for n in 1..=2 {
        p.send(format!("RETR {n}\r\n").as_bytes()).unwrap();
        assert!(p.line().unwrap().starts_with("+OK"));
        loop {
            let l = p.line().unwrap();
            assert!(!l.contains(SECRET), "POP3 RETR {n} leaked A's text");
            if l == ".\r\n" {
                break;
            }
        }
    }
    assert!(p.cmd("QUIT").unwrap().starts_with("+OK"));
}

/// No file or directory under the data dir is named after any mailbox.
fn assert_no_mailbox_paths(data: &Path) {
    let mut stack = vec![data.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read data dir") {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().to_lowercase();
            for mb in [
                "inbox",
                "zettel",
                "innen",
                "alice",
                "bob",
                "shared",
                "other users",
            ] {
                assert!(
                    !name.contains(mb),
                    "a mailbox or account name on disk: {}",
                    e.path().display()
                );
            }
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
}
