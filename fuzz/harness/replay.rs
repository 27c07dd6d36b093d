//! What the stable replay tests of the session harnesses share (`crates/{imap,pop3,smtp}/tests/
//! session_fuzz.rs`): the saved regression inputs and the number of random streams.

use std::path::Path;

/// Replay every file of `fuzz/regressions/<target>/` through `run`: as found, and with its
/// first byte (the harness's state selector) replaced by each of `0..states`, so an input
/// found in one state is tried in all.
pub fn regressions(manifest_dir: &str, target: &str, states: u8, run: impl Fn(&[u8])) {
    let dir = Path::new(manifest_dir)
        .join("../../fuzz/regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    for e in entries {
        let data = std::fs::read(e.expect("regression entry").path()).expect("regression file");
        for state in 0..states {
            let mut input = vec![state];
            input.extend_from_slice(data.get(1..).unwrap_or_default());
            run(&input);
        }
        run(&data);
    }
}

/// Random streams per proptest: `PROPTEST_CASES`, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
