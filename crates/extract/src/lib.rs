//! Text for full-text search (issue 22): [`extract`] turns a stored message into a
//! [`SearchDocument`] (what the message says, field by field), and [`analyze`] turns text into
//! the terms an index stores and a query looks up. Every search backend uses both, so they
//! index and match the same words.
//!
//! # Implementation notes
//! - Parsing is mail-parser's (pinned =0.11.9): RFC 2047 words in headers, MIME
//!   transfer encodings and every charset it decodes (UTF-8, KOI8-R, windows-1251, ISO-8859-*
//!   …) end up as UTF-8. text/html parts are turned into text by mail-parser's own
//!   `html_to_text` (markup and entities dropped, no second HTML parser).
//! - Attachments: their file names, and the text of the kinds in [`attachment`] (text/*,
//!   PDF, DOCX, ODT, nested messages).
//! - **Budgets** (SECURITY.md): extracted text is capped at [`MAX_TEXT`] bytes per message
//!   (each field is cut at a char boundary when the total is reached); an attachment larger
//!   than [`attachment::MAX_ATTACHMENT`] contributes its name only; archive members are read
//!   through a size cap; every attachment extractor runs under `catch_unwind`, so a
//!   hostile file that makes a parser panic loses only its own text.
//! - [`analyze`]: words are maximal runs of letters and digits; each is lowercased, `ё`
//!   becomes `е`, and it is stemmed by Snowball — Russian for a word containing Cyrillic,
//!   English otherwise. Terms longer than [`MAX_TERM_CHARS`] characters are dropped (they are
//!   not words: base64 debris, hashes).

#![forbid(unsafe_code)]

pub mod attachment;

use std::sync::LazyLock;

use mail_parser::{Address, MessageParser, MimeHeaders, PartType};
use rust_stemmers::{Algorithm, Stemmer};

/// Most bytes of text extracted from one message, all fields together.
pub const MAX_TEXT: usize = 2 * 1024 * 1024;

/// Longest term kept by [`analyze`], in characters.
pub const MAX_TERM_CHARS: usize = 64;

/// A fuzzy query term matches at edit distance 1 only when it has at least this many
/// characters (shorter words would match too much).
pub const FUZZY_MIN_CHARS: usize = 4;

/// The text of one message, field by field, as it is indexed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchDocument {
    /// Subject, RFC 2047 decoded.
    pub subject: String,
    /// From: display names (decoded) and addresses, space separated.
    pub from: String,
    pub to: String,
    pub cc: String,
    pub bcc: String,
    /// Every other top-level header field as `Name: value` lines, values RFC 2047 decoded
    /// (IMAP TEXT and HEADER search all of the header).
    pub headers: String,
    /// The text/plain and text/html body parts (HTML as text), newline separated.
    pub body: String,
    /// File names of attachments, newline separated.
    pub attachment_names: String,
    /// The text of attachments that have one (see [`attachment`]).
    pub attachment_text: String,
}

impl SearchDocument {
    /// Bytes of text held.
    pub fn len(&self) -> usize {
        self.subject.len()
            + self.from.len()
            + self.to.len()
            + self.cc.len()
            + self.bcc.len()
            + self.headers.len()
            + self.body.len()
            + self.attachment_names.len()
            + self.attachment_text.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Appends to one field of a document while the message's budget lasts.
struct Budget {
    left: usize,
}

impl Budget {
    fn push(&mut self, field: &mut String, text: &str) {
        let text = text.trim();
        if text.is_empty() || self.left == 0 {
            return;
        }
        let mut end = text.len().min(self.left);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if !field.is_empty() {
            field.push('\n');
        }
        field.push_str(&text[..end]);
        self.left = self.left.saturating_sub(end + 1);
    }
}

/// The text of a message (raw RFC 5322 bytes). Never fails: what cannot be read is left out.
pub fn extract(raw: &[u8]) -> SearchDocument {
    let mut doc = SearchDocument::default();
    let mut budget = Budget { left: MAX_TEXT };
    let Some(msg) = MessageParser::default().parse(raw) else {
        return doc;
    };
    extract_message(&msg, &mut doc, &mut budget, 0);
    doc
}

fn addresses(out: &mut String, budget: &mut Budget, addr: Option<&Address<'_>>) {
    let Some(addr) = addr else { return };
    let mut text = String::new();
    let mut push = |part: &str| {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(part);
    };
    // Group syntax (RFC 5322 §3.4): the group's display name is searchable too.
    let groups = addr.as_group().unwrap_or_default();
    for g in groups {
        if let Some(name) = g.name.as_deref() {
            push(name);
        }
        for a in &g.addresses {
            [a.name.as_deref(), a.address.as_deref()]
                .into_iter()
                .flatten()
                .for_each(&mut push);
        }
    }
    if groups.is_empty() {
        for a in addr.iter() {
            [a.name.as_deref(), a.address.as_deref()]
                .into_iter()
                .flatten()
                .for_each(&mut push);
        }
    }
    budget.push(out, &text);
}

fn extract_message(
    msg: &mail_parser::Message<'_>,
    doc: &mut SearchDocument,
    budget: &mut Budget,
    depth: usize,
) {
    if depth == 0 {
        budget.push(&mut doc.subject, msg.subject().unwrap_or(""));
        addresses(&mut doc.from, budget, msg.from());
        addresses(&mut doc.to, budget, msg.to());
        addresses(&mut doc.cc, budget, msg.cc());
        addresses(&mut doc.bcc, budget, msg.bcc());
        let mut other = String::new();
        for (name, value) in msg.headers_raw() {
            if ["subject", "from", "to", "cc", "bcc"]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name))
            {
                continue;
            }
            other.push_str(name);
            other.push_str(": ");
            other.push_str(&decode_2047(value));
            other.push('\n');
        }
        budget.push(&mut doc.headers, &other);
    }
    // mail-parser's text_body lists the text/plain parts, and the text/html parts that have
    // no plain alternative (an HTML-only message): body_text gives each as text, HTML
    // converted, so an alternative is indexed once.
    for i in 0..msg.text_body_count() {
        if let Some(text) = msg.body_text(i) {
            let field = if depth == 0 {
                &mut doc.body
            } else {
                &mut doc.attachment_text
            };
            budget.push(field, &text);
        }
    }
    for part in msg.attachments() {
        if let Some(name) = part.attachment_name() {
            budget.push(&mut doc.attachment_names, name);
        }
        match &part.body {
            PartType::Message(inner) if depth < 3 => {
                budget.push(&mut doc.attachment_text, inner.subject().unwrap_or(""));
                extract_message(inner, doc, budget, depth + 1);
            }
            PartType::Message(_) => {}
            _ => {
                if budget.left > 0
                    && let Some(text) = attachment::text(part)
                {
                    budget.push(&mut doc.attachment_text, &text);
                }
            }
        }
    }
}

/// A raw header value unfolded, its RFC 2047 encoded words decoded (mail-parser's decoder).
fn decode_2047(value: &str) -> String {
    let unfolded: String = value
        .split(['\r', '\n'])
        .map(|l| l.trim_start_matches([' ', '\t']))
        .collect::<Vec<_>>()
        .join(" ");
    if !unfolded.contains("=?") {
        return unfolded.trim().to_owned();
    }
    // Parse it as the value of an unstructured field of a tiny message.
    let mut raw = b"Subject: ".to_vec();
    raw.extend_from_slice(unfolded.as_bytes());
    raw.extend_from_slice(b"\r\n\r\n");
    MessageParser::default()
        .parse_headers(&raw)
        .and_then(|m| m.subject().map(str::to_owned))
        .unwrap_or(unfolded)
}

/// The words of `text` as [`analyze`] splits them, lowercased and `ё` folded but not stemmed
/// (substring candidates: a text that contains `needle` has each of `needle`'s words inside
/// one of its words).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.chars().count() <= MAX_TERM_CHARS)
        .map(fold)
        .collect()
}

/// Lowercase, `ё` → `е`.
pub fn fold(word: &str) -> String {
    word.chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c == 'ё' { 'е' } else { c })
        .collect()
}

static RUSSIAN: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::Russian));
static ENGLISH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// Text → terms, in order, duplicates kept (see the crate docs).
pub fn analyze(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_term(text, |t| out.push(t));
    out
}

/// [`analyze`] without collecting: calls `f` with each term and its position.
pub fn for_each_term(text: &str, mut f: impl FnMut(String)) {
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() || word.chars().count() > MAX_TERM_CHARS {
            continue;
        }
        let mut w = String::with_capacity(word.len());
        let mut cyrillic = false;
        for c in word.chars() {
            for l in c.to_lowercase() {
                let l = if l == 'ё' { 'е' } else { l };
                cyrillic |= ('\u{0400}'..='\u{04FF}').contains(&l);
                w.push(l);
            }
        }
        let stemmer = if cyrillic { &*RUSSIAN } else { &*ENGLISH };
        let stem = stemmer.stem(&w).into_owned();
        f(if stem.is_empty() { w } else { stem });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn russian_and_english_word_forms_share_a_term() {
        let a = analyze("письмо Письма письмами ПИСЬМАХ");
        assert_eq!(a.len(), 4);
        assert!(a.iter().all(|t| t == &a[0]), "{a:?}");
        assert_eq!(analyze("letters"), analyze("letter"));
        assert_eq!(analyze("Ёлка"), analyze("елка"));
        assert_eq!(analyze("a,b;c"), vec!["a", "b", "c"]);
        assert!(analyze(&"x".repeat(MAX_TERM_CHARS + 1)).is_empty());
    }

    #[test]
    fn headers_are_decoded() {
        let raw = b"From: =?koi8-r?B?8MXU0s/X?= <petrov@example.org>\r\n\
To: =?utf-8?B?0JjQstCw0L0=?= <ivan@example.org>, bob@example.com\r\n\
Cc: Carol <carol@example.net>\r\n\
Subject: =?windows-1251?B?z+jx/OzgIO4g7+7j7uTl?=\r\n\
\r\n\
Hello\r\n";
        let d = extract(raw);
        assert_eq!(d.from, "Петров petrov@example.org");
        assert_eq!(d.to, "Иван ivan@example.org bob@example.com");
        assert_eq!(d.cc, "Carol carol@example.net");
        let g = extract(b"To: team: a@x.org, Bob <b@x.org>;, solo@y.org\r\n\r\n");
        assert_eq!(g.to, "team a@x.org Bob b@x.org solo@y.org");
        assert_eq!(d.subject, "Письма о погоде");
        assert_eq!(d.body, "Hello");
        assert!(d.headers.is_empty(), "{:?}", d.headers);
        let raw = b"Subject: s\r\nX-Extra: =?utf-8?Q?h=C3=A9llo?=\r\n world\r\n\r\nbody\r\n";
        assert_eq!(extract(raw).headers, "X-Extra: héllo world");
        assert_eq!(words("Ёлка, HELLO-world"), vec!["елка", "hello", "world"]);
    }

    #[test]
    fn body_charsets_are_decoded() {
        // "Привет" in KOI8-R and windows-1251.
        let koi = b"Subject: k\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4\r\n";
        assert_eq!(extract(koi).body, "Привет");
        let cp = b"Subject: w\r\nContent-Type: text/plain; charset=windows-1251\r\n\r\n\xcf\xf0\xe8\xe2\xe5\xf2\r\n";
        assert_eq!(extract(cp).body, "Привет");
    }

    #[test]
    fn html_only_message_loses_its_markup() {
        let raw = b"Subject: h\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Hello <b>world</b> &amp; <i>friends</i></p><script>x</script></body></html>\r\n";
        let d = extract(raw);
        assert!(d.body.contains("Hello world & friends"), "{:?}", d.body);
        assert!(!d.body.contains('<'), "{:?}", d.body);
    }

    #[test]
    fn alternative_is_indexed_once() {
        let raw = b"Subject: a\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain words\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>plain words</p>\r\n--b--\r\n";
        assert_eq!(extract(raw).body, "plain words");
    }

    #[test]
    fn text_budget_caps_a_huge_body() {
        let mut raw = b"Subject: big\r\n\r\n".to_vec();
        raw.extend(std::iter::repeat_n(b"word ".as_slice(), MAX_TEXT / 2).flatten());
        let d = extract(&raw);
        assert!(d.len() <= MAX_TEXT, "{}", d.len());
        assert!(d.len() > MAX_TEXT / 2);
    }
}
