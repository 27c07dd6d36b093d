//! IMAP URLs (`pochta_urlauth::url`): parse never panics, printing round-trips, the rump
//! split is consistent. See `fuzz/harness/imap_url.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness/imap_url.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::run(data));
