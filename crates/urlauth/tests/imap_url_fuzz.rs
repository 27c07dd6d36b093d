//! Stable-toolchain replay of the `imap_url` fuzz harness (`fuzz/harness/imap_url.rs`): seed
//! URLs, random byte strings, and every file in `fuzz/regressions/imap_url/`.

#[path = "../../../fuzz/harness/imap_url.rs"]
mod harness;
#[path = "../../../fuzz/harness/replay.rs"]
mod replay;

use proptest::prelude::*;

const SEEDS: &[&str] = &[
    "",
    "imap://",
    "imap://h/",
    "/INBOX/;UID=1",
    "/INBOX;UIDVALIDITY=9/;UID=1/;SECTION=HEADER/;PARTIAL=5",
    "imap://u@h/INBOX/;UID=1;URLAUTH=authuser",
    "imap://u@h/INBOX/;UID=1;URLAUTH=authuser:internal:0123456789abcdef0123456789abcdef",
    "imap://u@h/INBOX/;UID=1;EXPIRE=2030-01-01T00:00:00Z;URLAUTH=user+x:m:0123456789abcdef0123456789abcdef",
    "imap://u@h/%E2%82%AC/;UID=1;URLAUTH=submit+%E2%82%AC",
    "imap://[::1/INBOX/;UID=1",
    "/INBOX/;UID=1;URLAUTH=;URLAUTH=anonymous",
    "/a;b/;UID=1",
];

#[test]
fn seeds() {
    for s in SEEDS {
        harness::run(s.as_bytes());
    }
}

#[test]
fn fuzz_regressions_replay() {
    let inputs = replay::inputs(env!("CARGO_MANIFEST_DIR"), "imap_url");
    for (path, data) in &inputs {
        eprintln!("replaying {}", path.display());
        harness::run(data);
    }
    assert!(
        !inputs.is_empty(),
        "no regression input of imap_url was replayed"
    );
}

proptest! {
    #[test]
    fn random_bytes(b in proptest::collection::vec(any::<u8>(), 0..160)) {
        harness::run(&b);
    }

    #[test]
    fn random_url_like(s in "(imap://)?([a-z%;=*@]{0,8}@)?[a-z:\\[\\]]{0,6}/[A-Za-z%/;=.0-9:+-]{0,60}") {
        harness::run(s.as_bytes());
    }
}
