//! Modified UTF-7 fuzzing harness (`pochta_types::mutf7`), shared by the cargo-fuzz target
//! `mutf7` and the stable replay test in `crates/types/tests/mutf7_fuzz.rs` (both include
//! this file by path).
//!
//! The decoder is canonical-only: it refuses whatever the encoder could not have written
//! (8-bit bytes, control characters, unterminated or over-padded shifts, nonzero padding
//! bits, a shifted printable ASCII character, two adjacent shifted runs, unpaired
//! surrogates), so every name has exactly one spelling. Hence both directions are asserted:
//!
//! - `decode` never panics, on any UTF-8 input;
//! - `decode(encode(s)) == s` for every string `s` (the fuzz input, or its lossy UTF-8
//!   reading when it is not UTF-8), and `encode` writes printable ASCII only;
//! - `encode(decode(b)) == b` whenever `decode` accepts `b`, and then `b` is printable ASCII.
#![allow(dead_code)]

use pochta_types::mutf7::{decode, encode};

/// One fuzz run.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(decoded) = decode(&text) {
        assert!(
            text.bytes().all(|b| (0x20..0x7f).contains(&b)),
            "decode accepted a non-printable byte: {text:?}"
        );
        assert_eq!(
            encode(&decoded),
            text,
            "decode accepted a non-canonical spelling (decoded {decoded:?})"
        );
    }
    let encoded = encode(&text);
    assert!(
        encoded.bytes().all(|b| (0x20..0x7f).contains(&b)),
        "encode wrote a non-printable byte: {encoded:?}"
    );
    assert_eq!(
        decode(&encoded).as_deref(),
        Ok(&*text),
        "round trip through {encoded:?}"
    );
}
