//! The text of an attachment: text/* parts (charset decoded by mail-parser), PDF (lopdf's
//! text extraction), DOCX (`word/document.xml`) and ODT (`content.xml`) — zip archives read
//! with `zip`, their XML with `quick-xml`.
//!
//! Budgets: an attachment larger than [`MAX_ATTACHMENT`] bytes (decoded) is skipped; an
//! archive member is decompressed through a [`MAX_XML`] byte cap; the text returned is at most
//! [`crate::MAX_TEXT`] bytes; each extractor runs under `catch_unwind`, so a panic in a
//! parser on hostile bytes costs only that attachment's text.

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mail_parser::{MessagePart, MimeHeaders, PartType};

/// Largest attachment (decoded bytes) whose text is extracted.
pub const MAX_ATTACHMENT: usize = 16 * 1024 * 1024;

/// Most bytes decompressed from one archive member.
pub const MAX_XML: u64 = 32 * 1024 * 1024;

/// What kind of document an attachment is, by its content type or file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pdf,
    Docx,
    Odt,
}

impl Kind {
    /// From a MIME type (`application/pdf` …) and/or a file name's extension.
    pub fn detect(mime: &str, name: Option<&str>) -> Option<Kind> {
        let mime = mime.to_ascii_lowercase();
        let ext = name
            .and_then(|n| n.rsplit_once('.'))
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        if mime == "application/pdf" || ext == "pdf" {
            Some(Kind::Pdf)
        } else if mime == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            || ext == "docx"
        {
            Some(Kind::Docx)
        } else if mime == "application/vnd.oasis.opendocument.text" || ext == "odt" {
            Some(Kind::Odt)
        } else {
            None
        }
    }
}

/// The text of one attachment part, when it has text we can read.
pub fn text(part: &MessagePart<'_>) -> Option<String> {
    match &part.body {
        PartType::Text(t) => return Some(t.to_string()),
        PartType::Html(h) => return Some(mail_parser::decoders::html::html_to_text(h)),
        _ => {}
    }
    let mime = part
        .content_type()
        .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")))
        .unwrap_or_default();
    let kind = Kind::detect(&mime, part.attachment_name())?;
    document_text(kind, part.contents())
}

/// The text of a document's bytes, or `None` when it is too large, unreadable, or its
/// extractor panicked.
pub fn document_text(kind: Kind, bytes: &[u8]) -> Option<String> {
    if bytes.len() > MAX_ATTACHMENT {
        return None;
    }
    let text = catch_unwind(AssertUnwindSafe(|| match kind {
        Kind::Pdf => pdf_text(bytes),
        Kind::Docx => zip_xml_text(bytes, "word/document.xml", b"p"),
        Kind::Odt => zip_xml_text(bytes, "content.xml", b"p"),
    }))
    .ok()
    .flatten()?;
    Some(cap(text))
}

fn cap(mut s: String) -> String {
    if s.len() > crate::MAX_TEXT {
        let mut end = crate::MAX_TEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// The character data of one XML member of a zip archive; a newline after each element
/// whose local name is `para` (a paragraph: `w:p` in DOCX, `text:p` in ODT), and a space
/// after every other closing element so that words of adjacent runs stay apart only where
/// the document has a break (`w:t` runs of one word are joined as written).
fn zip_xml_text(bytes: &[u8], member: &str, para: &[u8]) -> Option<String> {
    use quick_xml::events::Event;
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let file = archive.by_name(member).ok()?;
    let mut xml = Vec::new();
    file.take(MAX_XML).read_to_end(&mut xml).ok()?;
    let xml = String::from_utf8_lossy(&xml);
    let mut reader = quick_xml::Reader::from_str(&xml);
    let para = std::str::from_utf8(para).unwrap_or("p");
    let breaks = |name: &str| matches!(name, "tab" | "br" | "s" | "line-break");
    let mut out = String::new();
    loop {
        match reader.read_event() {
            // Text outside the document's elements (line breaks around the root) is not text.
            Ok(Event::Text(t)) if !out.is_empty() || !t.xml10_content().trim().is_empty() => {
                out.push_str(&t.xml10_content())
            }
            Ok(Event::GeneralRef(r)) => {
                // &amp; &lt; … and numeric references.
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    out.push(c);
                } else {
                    out.push_str(match r.into_inner().as_ref() {
                        "amp" => "&",
                        "lt" => "<",
                        "gt" => ">",
                        "quot" => "\"",
                        "apos" => "'",
                        _ => " ",
                    });
                }
            }
            Ok(Event::CData(t)) => out.push_str(&t.into_inner()),
            Ok(Event::End(e)) => {
                let local = e.local_name();
                if local.as_ref() == para {
                    out.push('\n');
                } else if breaks(local.as_ref()) {
                    out.push(' ');
                }
            }
            Ok(Event::Empty(e)) if breaks(e.local_name().as_ref()) => out.push(' '),
            Ok(Event::Eof) | Err(_) => break,
            _ => {}
        }
        if out.len() > crate::MAX_TEXT {
            break;
        }
    }
    Some(out)
}

fn pdf_text(bytes: &[u8]) -> Option<String> {
    let doc = lopdf::Document::load_mem(bytes).ok()?;
    let pages: Vec<u32> = doc.get_pages().keys().copied().take(1000).collect();
    doc.extract_text(&pages).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_detected() {
        assert_eq!(Kind::detect("application/pdf", None), Some(Kind::Pdf));
        assert_eq!(
            Kind::detect("application/octet-stream", Some("Отчёт.DOCX")),
            Some(Kind::Docx)
        );
        assert_eq!(
            Kind::detect("application/octet-stream", Some("a.odt")),
            Some(Kind::Odt)
        );
        assert_eq!(Kind::detect("image/png", Some("a.png")), None);
    }

    const PDF: &[u8] = include_bytes!("../tests/fixtures/invoice.pdf");
    const DOCX: &[u8] = include_bytes!("../tests/fixtures/report.docx");
    const ODT: &[u8] = include_bytes!("../tests/fixtures/minutes.odt");

    #[test]
    fn known_answers() {
        let pdf = document_text(Kind::Pdf, PDF).unwrap();
        assert!(pdf.contains("Quarterly invoices for December"), "{pdf:?}");
        assert_eq!(
            document_text(Kind::Docx, DOCX).unwrap(),
            "Квартальные показатели подтверждены письмами\nBudget & forecasts approved\n"
        );
        assert_eq!(
            document_text(Kind::Odt, ODT).unwrap(),
            "Протокол совещания\nMinutes of the meeting\n"
        );
    }

    #[test]
    fn a_message_with_attachments() {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let raw = format!(
            "Subject: docs\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n\
--X\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
--X\r\nContent-Type: application/pdf; name=invoice.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
--X\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"=?utf-8?B?0L7RgtGH0ZHRgi5kb2N4?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n\
--X--\r\n",
            b64(PDF),
            b64(DOCX)
        );
        let d = crate::extract(raw.as_bytes());
        assert_eq!(d.body, "see attached");
        assert_eq!(d.attachment_names, "invoice.pdf\nотчёт.docx");
        assert!(d.attachment_text.contains("Quarterly invoices"), "{d:?}");
        assert!(d.attachment_text.contains("показатели"), "{d:?}");
    }

    #[test]
    fn a_zip_bomb_member_is_cut_at_the_cap() {
        use std::io::Write as _;
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        z.start_file(
            "word/document.xml",
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        z.write_all(b"<w:document><w:p><w:t>").unwrap();
        let chunk = vec![b'a'; 1 << 20];
        for _ in 0..(MAX_XML >> 20) + 4 {
            z.write_all(&chunk).unwrap();
        }
        z.write_all(b"</w:t></w:p></w:document>").unwrap();
        let bytes = z.finish().unwrap().into_inner();
        assert!(bytes.len() < MAX_ATTACHMENT, "{}", bytes.len());
        // The member is cut at MAX_XML: text, at most the message budget.
        let t = document_text(Kind::Docx, &bytes).unwrap_or_default();
        assert!(t.len() <= crate::MAX_TEXT);
    }

    #[test]
    fn garbage_documents_give_no_text_and_no_panic() {
        for kind in [Kind::Pdf, Kind::Docx, Kind::Odt] {
            assert_eq!(document_text(kind, b"not a document"), None);
            assert_eq!(document_text(kind, b""), None);
        }
    }
}
