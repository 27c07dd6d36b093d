//! Arbitrary bytes as a message, and as a PDF, DOCX and ODT attachment, through the search
//! text extraction (`pochta-extract`): nothing may panic past the extractors' own
//! `catch_unwind`, and the text stays within its budget.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pochta_extract::attachment::{Kind, document_text};
use pochta_extract::{MAX_TEXT, analyze, extract};

fuzz_target!(|data: &[u8]| {
    let doc = extract(data);
    assert!(doc.len() <= MAX_TEXT + 64);
    let _ = analyze(&doc.body);
    for kind in [Kind::Pdf, Kind::Docx, Kind::Odt] {
        if let Some(t) = document_text(kind, data) {
            assert!(t.len() <= MAX_TEXT);
        }
    }
});
