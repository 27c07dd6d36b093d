//! Stable-toolchain replay of the `mutf7` fuzz harness (`fuzz/harness/mutf7.rs`): a few seed
//! spellings, random strings and byte strings, and every file in `fuzz/regressions/mutf7/`.

#[path = "../../../fuzz/harness/mutf7.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

use proptest::prelude::*;

const SEEDS: &[&[u8]] = &[
    b"",
    b"INBOX",
    b"&-",
    b"Tom &- Jerry",
    b"&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-",
    b"~peter/mail/&U,BTFw-/&ZeVnLIqe-",
    b"&2D3eAA-",
    b"&AOk-&-",
    b"&AAAAAAAA-",
    b"&",
    b"&AGE-",
    b"&Jjo",
    b"&2D0-",
    b"&U,BTFw-&ZeVnLIqe-",
    b"&U,BTF-",
    b"&AOkA6QDp-",
    "é\u{0}\t😀&".as_bytes(),
    b"\xff\xfe&",
];

#[test]
fn seeds() {
    for s in SEEDS {
        harness::run(s);
    }
}

/// Inputs the coverage-guided fuzzer found (or that exercise known tricky spellings), replayed.
#[test]
fn fuzz_regressions_replay() {
    let inputs = replay::inputs(env!("CARGO_MANIFEST_DIR"), "mutf7");
    for (path, data) in &inputs {
        eprintln!("replaying {}", path.display());
        harness::run(data);
    }
    assert!(
        !inputs.is_empty(),
        "no regression input of mutf7 was replayed"
    );
}

proptest! {
    #[test]
    fn random_strings(s in "\\PC*|[A-Za-z0-9+,&-]*") {
        harness::run(s.as_bytes());
    }

    #[test]
    fn random_bytes(b in prop::collection::vec(any::<u8>(), 0..64)) {
        harness::run(&b);
    }
}
