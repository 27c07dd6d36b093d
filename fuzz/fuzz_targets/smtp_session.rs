//! A whole SMTP session over the embedded store: the first input byte picks the starting
//! state (greeting, EHLO, AUTH, MAIL+RCPT, inside DATA), the listener (MTA or submission),
//! offline SPF/DKIM/DMARC checks and the chunking; the rest is fed as client bytes. See
//! `fuzz/harness/smtp_session.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../harness/smtp_session.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::run(data));
