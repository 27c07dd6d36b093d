//! Feed arbitrary server bytes to the SMTP client's reply parser in chunks chosen by the
//! input. Nothing may panic; the replies (and the first error) must not depend on the
//! chunking; every reply has a code in 200–599; and a reply whose text has no control
//! characters reads back the same from its own wire form (encode → parse round trip).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pochta_smtp_proto::{Reply, ReplyError, ReplyLimits, ReplyParser};

fn run(data: &[u8], chunk: usize) -> (Vec<Reply>, Option<ReplyError>) {
    let mut p = ReplyParser::new(ReplyLimits {
        max_line: 256,
        max_lines: 8,
    });
    let mut replies = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        p.feed(piece);
        loop {
            match p.next_reply() {
                Ok(Some(r)) => replies.push(r),
                Ok(None) => break,
                Err(e) => return (replies, Some(e)),
            }
        }
    }
    (replies, None)
}

fuzz_target!(|data: &[u8]| {
    let (chunk, data) = match data.split_first() {
        Some((c, rest)) => (usize::from(*c % 64) + 1, rest),
        None => return,
    };
    let (replies, error) = run(data, chunk);
    let (whole, whole_error) = run(data, data.len().max(1));
    // An over-long line is only noticed once more than the limit is buffered, which depends
    // on the chunking; everything before the first error must agree.
    if error.is_none() && whole_error.is_none() {
        assert_eq!(replies, whole);
    }
    for r in &replies {
        assert!((200..600).contains(&r.code), "{r:?}");
        if r.lines.iter().all(|l| !l.chars().any(char::is_control)) {
            let mut p = ReplyParser::default();
            p.feed(r.to_wire().as_bytes());
            assert_eq!(p.next_reply(), Ok(Some(r.clone())), "{:?}", r.to_wire());
        }
    }
});
