//! Modified UTF-7 (`pochta_types::mutf7`): decode never panics, and both round trips hold
//! because the decoder accepts canonical spellings only. See `fuzz/harness/mutf7.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness/mutf7.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::run(data));
