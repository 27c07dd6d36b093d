//! Stable-toolchain replay of the whole-session POP3 fuzz harness
//! (`fuzz/harness/pop3_session.rs`, also the cargo-fuzz target `pop3_session`): seed
//! sessions in every starting state and chunking, random command streams, and every file in
//! `fuzz/regressions/pop3_session/`, so each stays fixed without cargo-fuzz.
//!
//! `PROPTEST_CASES` sets the number of random streams (default 64).

#[path = "../../../fuzz/harness/pop3_session.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

use proptest::prelude::*;

/// Client scripts the seeds are made of (the corpus seeds of `fuzz/corpus/pop3_session`).
pub const SCRIPTS: &[&[u8]] = &[
    b"CAPA\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 2\r\nTOP 3 1\r\nQUIT\r\n",
    b"DELE 1\r\nDELE 1\r\nSTAT\r\nLIST 1\r\nRSET\r\nDELE 3\r\nQUIT\r\n",
    b"USER user@fuzz.test\r\nPASS fuzz\r\nDELE 2\r\nUIDL\r\nQUIT\r\n",
    b"AUTH\r\nAUTH PLAIN\r\nAHVzZXJAZnV6ei50ZXN0AGZ1eno=\r\nLIST\r\nDELE 1\r\n",
    b"AUTH LOGIN\r\ndXNlckBmdXp6LnRlc3Q=\r\nZnV6eg==\r\nTOP 1 0\r\nQUIT\r\n",
    b"AUTH SCRAM-SHA-256 biwsbj11c2VyQGZ1enoudGVzdCxyPWFiYw==\r\n*\r\nSTLS\r\nCAPA\r\n",
    b"RETR 0\r\nRETR 4294967296\r\nTOP 1\r\nLIST 1 2\r\nAPOP a b\r\nPASS x\r\n\r\n",
    b"DELE 1\r\nDELE 2\r\nDELE 3\r\nSTAT\r\nRETR 1\r\nQUIT\r\nNOOP\r\n",
    b"USER a\nPASS b\nNOOP\nQUIT",
];

#[test]
fn seeds_in_every_setup() {
    for script in SCRIPTS {
        // 72 selectors cover every state × STLS × policy × chunk size combination.
        for selector in 0..72u8 {
            let mut input = vec![selector];
            input.extend_from_slice(script);
            harness::run(&input);
        }
    }
}

/// Inputs the coverage-guided fuzzer found, replayed in every state and as found.
#[test]
fn fuzz_regressions_replay() {
    let replayed = replay::regressions(env!("CARGO_MANIFEST_DIR"), "pop3_session", 3, harness::run);
    assert!(
        replayed >= 1,
        "no regression input of pop3_session was replayed"
    );
}

/// The harness reaches each state, and QUIT deletes exactly what was marked.
#[test]
fn harness_reaches_every_state() {
    let t = harness::transcript(0, b"STAT\r\n");
    assert!(t.starts_with("-ERR"), "{t}");
    for state in [1, 2] {
        let t = harness::transcript(state, b"STAT\r\n");
        assert!(t.starts_with("+OK 3 "), "{t}");
    }
    let t = harness::transcript(1, b"DELE 2\r\nQUIT\r\n");
    assert!(t.contains("(1 messages deleted)"), "{t}");
    // The next run starts from the full INBOX again.
    let t = harness::transcript(2, b"STAT\r\n");
    assert!(t.starts_with("+OK 3 "), "{t}");
}

fn command() -> impl Strategy<Value = String> {
    let n = prop_oneof![0u32..5, Just(u32::MAX)];
    prop_oneof![
        n.clone().prop_map(|n| format!("DELE {n}")),
        n.clone().prop_map(|n| format!("RETR {n}")),
        (n.clone(), 0u32..4).prop_map(|(n, l)| format!("TOP {n} {l}")),
        n.clone().prop_map(|n| format!("LIST {n}")),
        n.prop_map(|n| format!("UIDL {n}")),
        prop::sample::select(
            &[
                "STAT",
                "LIST",
                "UIDL",
                "RSET",
                "NOOP",
                "CAPA",
                "QUIT",
                "STLS",
                "AUTH",
                "USER user@fuzz.test",
                "PASS fuzz",
                "PASS wrong",
                "AUTH PLAIN",
                "AUTH PLAIN AHVzZXJAZnV6ei50ZXN0AGZ1eno=",
                "*",
                "AUTH XYZ",
            ][..]
        )
        .prop_map(str::to_owned),
        prop::collection::vec(any::<u8>(), 0..20)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

fn cases() -> u32 {
    replay::cases(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn random_command_streams(selector in any::<u8>(), cmds in prop::collection::vec(command(), 1..16)) {
        let mut input = vec![selector];
        for c in cmds {
            input.extend_from_slice(c.as_bytes());
            input.extend_from_slice(b"\r\n");
        }
        harness::run(&input);
    }
}
