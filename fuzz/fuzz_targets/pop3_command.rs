//! Frame arbitrary bytes into POP3 lines (whole, and split at a data-chosen chunk size) and
//! parse every line: the framer must give the same frames for any chunking, never buffer
//! much more than its limit, and the parser must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pochta_pop3_proto::command::parse;
use pochta_pop3_proto::framer::{Frame, LineFramer};

const MAX: usize = 64;

fn frames(data: &[u8], chunk: usize) -> Vec<Frame> {
    let mut f = LineFramer::new(MAX);
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        f.feed(piece);
        while let Some(frame) = f.next_frame() {
            out.push(frame);
        }
        assert!(f.buffered() <= MAX + piece.len());
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let whole = frames(rest, rest.len().max(1));
    assert_eq!(frames(rest, usize::from(first % 16) + 1), whole);
    for frame in &whole {
        if let Frame::Line(line) = frame {
            assert!(line.len() <= MAX);
            let _ = parse(line);
        }
    }
});
