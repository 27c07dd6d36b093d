//! Feed arbitrary bytes to the IMAP client's response reader (imap-proto's framer under small
//! client budgets, then the response parser and every typed view) in chunks chosen by the
//! input. Nothing may panic, memory stays within the budgets, and the responses (or the first
//! error) must not depend on the chunking (checked against one-shot feeding).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pochta_imap_proto::client::data::{
    Fetched, ListEntry, SearchResult, Selected, StatusData, Vanished, announced_capabilities,
};
use pochta_imap_proto::client::{Response, ResponseError, ResponseReader};
use pochta_imap_proto::framer::Limits;

fn run(data: &[u8], chunk: usize) -> (Vec<Response>, Option<ResponseError>) {
    let limits = Limits {
        max_line: 128,
        max_literal: 256,
        max_command: 1024,
        max_literals: 4,
        max_text: 1024,
    };
    let mut reader = ResponseReader::new(limits);
    let mut out = Vec::new();
    let mut selected = Selected::default();
    for piece in data.chunks(chunk.max(1)) {
        reader.feed(piece);
        loop {
            match reader.next_response() {
                Ok(Some(r)) => {
                    let _ = Fetched::from_response(&r);
                    let _ = ListEntry::from_response(&r);
                    let _ = SearchResult::from_response(&r);
                    let _ = Vanished::from_response(&r);
                    let _ = StatusData::from_response(&r);
                    let _ = announced_capabilities(&r);
                    selected.absorb(&r);
                    out.push(r);
                }
                Ok(None) => break,
                // The connection ends at the first error.
                Err(e) => return (out, Some(e)),
            }
            assert!(reader.buffered() <= 2 * 1024 + 2 * 128 + chunk);
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&c, rest)) = data.split_first() else {
        return;
    };
    let chunked = run(rest, usize::from(c % 64) + 1);
    let whole = run(rest, rest.len().max(1));
    assert_eq!(chunked, whole);
});
