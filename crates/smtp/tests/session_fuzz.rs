//! Stable-toolchain replay of the whole-session SMTP fuzz harness
//! (`fuzz/harness/smtp_session.rs`, also the cargo-fuzz target `smtp_session`): seed
//! sessions in every starting state, listener and chunking, random command streams, and every
//! file in `fuzz/regressions/smtp_session/`, so each stays fixed without cargo-fuzz.
//!
//! `PROPTEST_CASES` sets the number of random streams (default 64).

#[path = "../../../fuzz/harness/smtp_session.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

use proptest::prelude::*;

/// Client scripts the seeds are made of (also the corpus seeds of `fuzz/corpus/smtp_session`).
const SCRIPTS: &[&[u8]] = &[
    b"EHLO a.test\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<user@fuzz.test>\r\nDATA\r\nFrom: x@remote.test\r\nSubject: s\r\n\r\n..dot\r\n.\r\nQUIT\r\n",
    b"From: user@fuzz.test\r\nSubject: in data\r\n\r\nbody\r\n.\r\nNOOP\r\n",
    b"EHLO a\r\nAUTH PLAIN AHVzZXJAZnV6ei50ZXN0AGZ1eno=\r\nMAIL FROM:<user@fuzz.test> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<other@fuzz.test> NOTIFY=SUCCESS\r\nRCPT TO:<far@away.test>\r\nBDAT 25 LAST\r\nFrom: user@fuzz.test\r\n\r\nRSET\r\n",
    b"MAIL FROM:<>\r\nRCPT TO:<sales@fuzz.test>\r\nRCPT TO:<x@catch.test>\r\nBDAT 3\r\nabcBDAT 0 LAST\r\n",
    b"HELO h\r\nAUTH LOGIN\r\ndXNlckBmdXp6LnRlc3Q=\r\nZnV6eg==\r\nVRFY a\r\nEXPN b\r\nHELP\r\nSTARTTLS\r\nEHLO again\r\n",
    b"EHLO x\r\nMAIL FROM:<user@fuzz.test>\r\nRCPT TO:<Postmaster>\r\nDATA\r\n.\r\n",
    b"RCPT TO:<user@fuzz.test>\r\nDATA\r\nBDAT 5 LAST\r\nhello\r\n\r\nAUTH SCRAM-SHA-256 biwsbj11c2VyQGZ1enoudGVzdCxyPWFiYw==\r\n*\r\n",
    b"x\nx\nx\nx\nx\nx\nx\nx\nx\nx\nx\n",
    b"line\n.\nstill data\r\n.\r\nMAIL FROM:<\xd0\xb8@fuzz.test> SMTPUTF8\r\n",
];

#[test]
fn seeds_in_every_setup() {
    // 120 selectors cover every state × listener × checks × chunk size combination.
    for script in SCRIPTS {
        for selector in 0..120u8 {
            let mut input = vec![selector];
            input.extend_from_slice(script);
            harness::run(&input);
        }
    }
}

/// Inputs the coverage-guided fuzzer found, replayed in every state and as found.
#[test]
fn fuzz_regressions_replay() {
    let replayed =
        replay::regressions(env!("CARGO_MANIFEST_DIR"), "smtp_session", 10, harness::run);
    assert!(
        replayed >= 1,
        "no regression input of smtp_session was replayed"
    );
}

/// The harness reaches each state (otherwise the fuzzing proves little).
#[test]
fn harness_reaches_every_state() {
    let t = harness::transcript(0, b"MAIL FROM:<a@b.test>\r\n");
    assert!(t.starts_with("503 "), "{t}");
    let t = harness::transcript(1, b"MAIL FROM:<a@b.test>\r\n");
    assert!(t.starts_with("250 "), "{t}");
    let t = harness::transcript(2, b"MAIL FROM:<user@fuzz.test>\r\n");
    assert!(t.starts_with("250 "), "{t}");
    let t = harness::transcript(3, b"DATA\r\n");
    assert!(t.starts_with("354 "), "{t}");
    let t = harness::transcript(4, b"From: user@fuzz.test\r\n\r\nhi\r\n.\r\n");
    assert!(t.starts_with("250 "), "{t}");
    // Submission (selector 9: state 4, submission) stores to INBOX and Sent.
    let t = harness::transcript(9, b"From: user@fuzz.test\r\n\r\nhi\r\n.\r\n");
    assert!(t.starts_with("250 "), "{t}");
    // MTA with checks (selector 14: state 4, MTA, fixture verifier): DMARC p=reject refuses
    // a forged From: of fuzz.test (MAIL FROM someone@remote.test, whose SPF does not list
    // 127.0.0.1, and no DKIM signature: nothing aligns with fuzz.test). The fixture answers
    // every DNS question from memory, so the outcome is fixed.
    let forged = b"From: user@fuzz.test\r\n\r\nhi\r\n.\r\n";
    let t = harness::transcript(14, forged);
    assert!(
        t.starts_with("550 5.7.1") && t.contains("fuzz.test"),
        "DMARC p=reject did not refuse the forged From: {t}"
    );
    // The same message without checks (selector 4: state 4, MTA) is accepted: the refusal
    // above is the check's doing.
    let t = harness::transcript(4, forged);
    assert!(t.starts_with("250 "), "{t}");
    // With checks, a sender whose SPF passes and aligns with From: (selector 11: after EHLO,
    // MTA, fixture verifier) passes DMARC and is accepted.
    let t = harness::transcript(
        11,
        b"MAIL FROM:<x@fuzz.test>\r\nRCPT TO:<user@fuzz.test>\r\nDATA\r\nFrom: x@fuzz.test\r\n\r\nhi\r\n.\r\n",
    );
    assert!(
        t.lines().last().is_some_and(|l| l.starts_with("250 ")),
        "an aligned SPF pass was not accepted: {t}"
    );
}

fn command() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            &[
                "EHLO a.test",
                "HELO a",
                "MAIL FROM:<user@fuzz.test>",
                "MAIL FROM:<>",
                "MAIL FROM:<x@remote.test> SIZE=99999999",
                "RCPT TO:<user@fuzz.test>",
                "RCPT TO:<other@fuzz.test>",
                "RCPT TO:<nobody@fuzz.test>",
                "RCPT TO:<x@elsewhere.test>",
                "RCPT TO:<a@catch.test>",
                "DATA",
                "BDAT 4",
                "BDAT 0 LAST",
                "BDAT 10 LAST",
                "RSET",
                "NOOP",
                "QUIT",
                "STARTTLS",
                "VRFY x",
                "AUTH PLAIN AHVzZXJAZnV6ei50ZXN0AGZ1eno=",
                "AUTH PLAIN",
                "AUTH LOGIN",
                "*",
                "From: user@fuzz.test",
                "",
                ".",
                "..x",
                "Subject: x",
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
    fn random_command_streams(selector in any::<u8>(), cmds in prop::collection::vec(command(), 1..20)) {
        let mut input = vec![selector];
        for c in cmds {
            input.extend_from_slice(c.as_bytes());
            input.extend_from_slice(b"\r\n");
        }
        harness::run(&input);
    }
}
