//! What the stable replay tests share (`crates/{imap,pop3,smtp}/tests/session_fuzz.rs`,
//! `crates/types/tests/mutf7_fuzz.rs`): the saved regression inputs and the number of random
//! streams.
//!
//! A replay that finds nothing to replay fails: a missing, unreadable or empty
//! `fuzz/regressions/<target>/` folder would otherwise turn the test into one that cannot fail.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Every file of `fuzz/regressions/<target>/` (sorted by name) with its bytes. Panics when the
/// folder cannot be read or holds no input.
pub fn inputs(manifest_dir: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(manifest_dir)
        .join("../../fuzz/regressions")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| {
        panic!(
            "regression folder {} cannot be read ({e}): the replay would test nothing",
            dir.display()
        )
    });
    let mut files = entries
        .map(|e| {
            e.unwrap_or_else(|e| panic!("entry of {}: {e}", dir.display()))
                .path()
        })
        .filter(|p| p.is_file())
        .map(|p| {
            let data = std::fs::read(&p)
                .unwrap_or_else(|e| panic!("regression input {}: {e}", p.display()));
            (p, data)
        })
        .collect::<Vec<_>>();
    files.sort();
    assert!(
        !files.is_empty(),
        "regression folder {} holds no input: the replay would test nothing",
        dir.display()
    );
    files
}

/// Replay every file of `fuzz/regressions/<target>/` through `run`: as found, and with its
/// first byte (the harness's state selector) replaced by each of `0..states`, so an input
/// found in one state is tried in all. Returns the number of files replayed (at least one:
/// see [`inputs`]).
pub fn regressions(manifest_dir: &str, target: &str, states: u8, run: impl Fn(&[u8])) -> usize {
    let files = inputs(manifest_dir, target);
    for (_, data) in &files {
        for state in 0..states {
            let mut input = vec![state];
            input.extend_from_slice(data.get(1..).unwrap_or_default());
            run(&input);
        }
        run(data);
    }
    files.len()
}

/// Random streams per proptest: `PROPTEST_CASES`, else `default`.
pub fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
