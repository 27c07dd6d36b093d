//! Checks shared by the parser modules' unit tests.

use crate::encode::EncodeOptions;
use crate::framer::{Event, Framer};
use crate::{ParseOptions, parse_command};

/// Each command line parses, encodes and parses back to the same command.
pub(crate) fn assert_round_trips(lines: &[&str]) {
    for line in lines {
        let cmd = parse_command(format!("{line}\r\n").as_bytes(), ParseOptions::default()).unwrap();
        let bytes = cmd.encode(EncodeOptions {
            literal_plus: true,
            utf8: false,
        });
        assert_eq!(
            parse_command(&bytes, ParseOptions::default()),
            Ok(cmd),
            "{line}"
        );
    }
}

/// `input` (one command, literals included) fed to the framer in chunks of every size gives
/// the command parsed whole.
pub(crate) fn assert_any_chunk_size(input: &[u8]) {
    let want = parse_command(input, ParseOptions::default()).unwrap();
    for n in 1..=input.len() {
        let mut f = Framer::default();
        let mut got = Vec::new();
        for chunk in input.chunks(n) {
            f.feed(chunk);
            while let Some(ev) = f.next_event() {
                match ev {
                    Event::Command(c) => {
                        got.push(parse_command(&c.bytes, ParseOptions::default()).unwrap())
                    }
                    Event::LiteralAnnounced { .. } => f.accept_literal(),
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(got, vec![want.clone()], "split {n}");
    }
}
