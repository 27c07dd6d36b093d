//! A whole POP3 session over the embedded store: the first input byte picks the starting
//! state (AUTHORIZATION, TRANSACTION after USER/PASS or AUTH PLAIN), STLS, the plaintext
//! policy and the chunking; the rest is fed as client bytes. See `fuzz/harness/pop3_session.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness/pop3_session.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::run(data));
