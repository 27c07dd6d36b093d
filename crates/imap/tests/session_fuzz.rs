//! Stable-toolchain stateful fuzzing of whole IMAP sessions: random command streams, built
//! from the grammar's words plus random bytes, replayed through a real [`pochta_imap::Session`]
//! over the embedded store in each state (not authenticated, authenticated, selected).
//!
//! The harness is the one the cargo-fuzz target `imap_session` uses
//! (`fuzz/harness/imap_session.rs`); see `fuzz/README.md` for the coverage-guided run. Every
//! file in `fuzz/regressions/imap_session/` (crashes the fuzzer found, minimised) is replayed
//! here too, so each stays fixed.
//!
//! `PROPTEST_CASES` sets the number of random streams (default 96).

#[path = "../../../fuzz/harness/imap_session.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

use proptest::prelude::*;

const SETS: &[&str] = &[
    "1",
    "*",
    "1:*",
    "2:1",
    "0",
    "4294967295",
    "1,2,3",
    "$",
    "1:4294967295",
    "3:2,*",
    "5",
];
const NAMES: &[&str] = &[
    "INBOX",
    "inbox",
    "Trash",
    "Drafts",
    "\"Sent\"",
    "A",
    "A/B",
    "\"A/B/C\"",
    "\"\"",
    "\"..\"",
    "\"../x\"",
    "\"&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-\"",
    "\"&-\"",
    "\"&Jjo\"",
    "{3+}\r\nabc",
    "\"*\"",
    "\"%\"",
    "\"INBOX/x\"",
    "\"~a/INBOX\"",
];
const FLAGS: &[&str] = &[
    "\\Seen",
    "\\Deleted",
    "\\Flagged",
    "\\Answered",
    "\\Draft",
    "$Junk",
    "kw",
    "\\Recent",
    "\\Bogus",
    "$x",
];
const FETCH: &[&str] = &[
    "FLAGS",
    "UID",
    "BODY[]",
    "BODY.PEEK[1]",
    "BODY[2.1]",
    "BODY[HEADER.FIELDS (Subject)]",
    "BODY[1.MIME]",
    "BODY[]<0.5>",
    "BODYSTRUCTURE",
    "ENVELOPE",
    "RFC822.SIZE",
    "INTERNALDATE",
    "BINARY[1]",
    "BINARY.SIZE[3]",
    "MODSEQ",
    "EMAILID",
    "PREVIEW",
    "SAVEDATE",
    "ALL",
    "FULL",
    "BODY[3.TEXT]",
    "BODY[1.2.3.4.5]",
    "RFC822",
    "RFC822.HEADER",
];
const SEARCH: &[&str] = &[
    "ALL",
    "SEEN",
    "NOT SEEN",
    "OR SEEN FLAGGED",
    "(UID 1:* LARGER 10)",
    "TEXT hello",
    "BODY \"world\"",
    "HEADER Subject inner",
    "SINCE 1-Jan-2020",
    "MODSEQ 1",
    "SMALLER 5",
    "CHARSET UTF-8 TEXT {4+}\r\nтест",
    "KEYWORD $x",
    "$",
    "YOUNGER 100",
    "EMAILID Eabc",
    "NOT (OR (NOT ALL) ANSWERED)",
];

fn pick(v: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    prop::sample::select(v).prop_map(str::to_owned)
}

fn command() -> impl Strategy<Value = String> {
    let set = pick(SETS);
    let name = pick(NAMES);
    let flag = pick(FLAGS);
    let fetch = prop::collection::vec(pick(FETCH), 1..4).prop_map(|v| v.join(" "));
    let search = prop::collection::vec(pick(SEARCH), 1..3).prop_map(|v| v.join(" "));
    let uid = prop::bool::ANY.prop_map(|u| if u { "UID " } else { "" });
    prop_oneof![
        (uid.clone(), set.clone(), fetch).prop_map(|(u, s, f)| format!("{u}FETCH {s} ({f})")),
        (
            uid.clone(),
            set.clone(),
            flag.clone(),
            prop::sample::select(&["+FLAGS", "-FLAGS", "FLAGS.SILENT"][..])
        )
            .prop_map(|(u, s, f, op)| format!("{u}STORE {s} {op} ({f})")),
        (uid.clone(), search).prop_map(|(u, s)| format!("{u}SEARCH RETURN (MIN COUNT SAVE) {s}")),
        (uid.clone(), set.clone(), name.clone()).prop_map(|(u, s, n)| format!("{u}COPY {s} {n}")),
        (uid, set.clone(), name.clone()).prop_map(|(u, s, n)| format!("{u}MOVE {s} {n}")),
        name.clone().prop_map(|n| format!("SELECT {n} (CONDSTORE)")),
        name.clone().prop_map(|n| format!("EXAMINE {n}")),
        name.clone().prop_map(|n| format!("CREATE {n}")),
        name.clone().prop_map(|n| format!("DELETE {n}")),
        (name.clone(), name.clone()).prop_map(|(a, b)| format!("RENAME {a} {b}")),
        name.clone()
            .prop_map(|n| format!("STATUS {n} (MESSAGES UIDNEXT SIZE HIGHESTMODSEQ)")),
        name.clone()
            .prop_map(|n| format!("LIST \"\" {n} RETURN (CHILDREN STATUS (MESSAGES))")),
        name.clone().prop_map(|n| format!("SUBSCRIBE {n}")),
        (name, flag).prop_map(|(n, f)| format!("APPEND {n} ({f}) {{12+}}\r\nSubject: x\r\n\r\n")),
        prop::sample::select(
            &[
                "NOOP",
                "CHECK",
                "EXPUNGE",
                "UID EXPUNGE 1:*",
                "CLOSE",
                "UNSELECT",
                "IDLE\r\nDONE",
                "ENABLE CONDSTORE QRESYNC",
                "NOTIFY SET STATUS (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge MailboxName SubscriptionChange))",
                "NOTIFY SET (selected-delayed (MessageNew MessageExpunge)) (subtree INBOX (MailboxMetadataChange))",
                "NOTIFY NONE",
                "ENABLE IMAP4rev2",
                "ENABLE UTF8=ACCEPT",
                "NAMESPACE",
                "CAPABILITY",
                "LSUB \"\" *",
                "GETQUOTAROOT INBOX",
                "ID NIL",
                "LOGIN a b",
                "AUTHENTICATE PLAIN",
                "AUTHENTICATE PLAIN =",
                "STARTTLS",
                "LOGOUT",
            ][..]
        )
        .prop_map(str::to_owned),
        prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

fn stream() -> impl Strategy<Value = (u8, Vec<u8>)> {
    (0u8..3, prop::collection::vec(command(), 1..16)).prop_map(|(state, cmds)| {
        let mut bytes = Vec::new();
        for (i, c) in cmds.iter().enumerate() {
            bytes.extend_from_slice(format!("c{i} {c}\r\n").as_bytes());
        }
        (state, bytes)
    })
}

fn cases() -> u32 {
    replay::cases(96)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_command_streams_in_every_state((state, bytes) in stream()) {
        let mut input = vec![state];
        input.extend_from_slice(&bytes);
        harness::run(&input);
    }
}

/// Inputs the coverage-guided fuzzer found (or that once broke something), replayed.
#[test]
fn fuzz_regressions_replay() {
    let replayed = replay::regressions(env!("CARGO_MANIFEST_DIR"), "imap_session", 3, harness::run);
    assert!(
        replayed >= 1,
        "no regression input of imap_session was replayed"
    );
}

/// The harness really reaches each state (otherwise the fuzzing above proves little).
#[test]
fn harness_reaches_every_state() {
    let t = harness::transcript(0, b"a SELECT INBOX\r\n");
    assert!(t.starts_with("a BAD"), "{t}");
    let t = harness::transcript(1, b"a SELECT INBOX\r\nb FETCH 1:* (FLAGS)\r\n");
    assert!(t.contains("* 2 EXISTS") || t.contains("* 0 EXISTS"), "{t}");
    assert!(t.contains("a OK"), "{t}");
    let t = harness::transcript(2, b"b UID FETCH 1:* (FLAGS BODYSTRUCTURE)\r\n");
    assert!(t.contains("* 2 FETCH") && t.contains("b OK"), "{t}");
    assert!(t.contains("\"mixed\""), "{t}");
}
