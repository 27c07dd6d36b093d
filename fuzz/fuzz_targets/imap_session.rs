//! A whole IMAP session over the embedded store: the first input byte picks the starting
//! state (not authenticated, authenticated, selected), the rest is fed as client bytes. See
//! `fuzz/harness/imap_session.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness/imap_session.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::run(data));
