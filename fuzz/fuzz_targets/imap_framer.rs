//! Feed arbitrary bytes to the IMAP framer in chunks chosen by the input, deciding literals by
//! the input too; every framed command goes to the parser. Nothing may panic, and the events
//! must not depend on the chunking (checked against one-shot feeding).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pochta_imap_proto::framer::{Event, Framer, Limits};
use pochta_imap_proto::{ParseOptions, parse_command};

fn run(data: &[u8], chunk: usize) -> Vec<Event> {
    let limits = Limits {
        max_line: 128,
        max_literal: 256,
        max_command: 1024,
        max_literals: 4,
        max_text: 1024,
    };
    let mut f = Framer::new(limits);
    let mut events = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        f.feed(piece);
        while let Some(ev) = f.next_event() {
            match &ev {
                Event::LiteralAnnounced { size, .. } => {
                    if size % 2 == 0 {
                        f.accept_literal();
                    } else {
                        f.reject_literal();
                    }
                }
                Event::Command(c) => {
                    let _ = parse_command(&c.bytes, ParseOptions::default());
                    if c.bytes.get(2..6) == Some(b"IDLE".as_slice()) {
                        f.expect_line();
                    }
                }
                _ => {}
            }
            events.push(ev);
        }
    }
    events
}

fuzz_target!(|data: &[u8]| {
    let Some((&c, rest)) = data.split_first() else {
        return;
    };
    let chunked = run(rest, usize::from(c % 64) + 1);
    let whole = run(rest, rest.len().max(1));
    assert_eq!(chunked, whole);
});
