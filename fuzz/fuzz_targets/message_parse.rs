//! Parse arbitrary bytes as a stored message, then exercise everything FETCH and SEARCH
//! would do with the result: nothing may panic, and the storage encoding must round-trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pochta_message::{
    MessageMeta, SectionText, binary, normalize_line_endings, parse, search_body_text,
    search_header_values, section,
};

fuzz_target!(|data: &[u8]| {
    // The first byte picks a part path, so nested sections get exercised too.
    let (sel, raw) = data.split_first().map_or((0, data), |(s, r)| (*s, r));
    let raw = normalize_line_endings(raw);
    let meta = parse(&raw);
    let decoded = MessageMeta::from_bytes(&meta.to_bytes()).expect("own encoding decodes");
    assert_eq!(decoded, meta);
    let path: Vec<u32> = (0..sel % 4).map(|i| u32::from((sel >> (2 + i)) & 3)).collect();
    for which in [
        SectionText::Full,
        SectionText::Header,
        SectionText::Text,
        SectionText::Mime,
        SectionText::HeaderFields(&["subject", "from"]),
        SectionText::HeaderFieldsNot(&["subject"]),
    ] {
        let _ = section(&raw, &meta, &path, which);
    }
    let _ = binary(&raw, &meta, &path);
    let _ = search_body_text(&raw, &meta);
    let _ = search_header_values(&raw, "subject");
});
