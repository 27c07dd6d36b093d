//! Parse arbitrary bytes as one IMAP command (both name modes); whatever parses must encode
//! and re-parse to the same command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pochta_imap_proto::encode::EncodeOptions;
use pochta_imap_proto::{ParseOptions, parse_command};

fuzz_target!(|data: &[u8]| {
    for utf8_accept in [false, true] {
        let opts = ParseOptions { utf8_accept };
        if let Ok(cmd) = parse_command(data, opts) {
            let bytes = cmd.encode(EncodeOptions {
                literal_plus: true,
                utf8: utf8_accept,
            });
            assert_eq!(parse_command(&bytes, opts), Ok(cmd));
        }
    }
});
