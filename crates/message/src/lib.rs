//! Parse-once MIME analysis for Pochta: a message is parsed when it is stored, and IMAP
//! FETCH/SEARCH later work from the stored [`MessageMeta`] and the stored bytes.
//!
//! # Implementation notes
//!
//! * Stored bytes have CRLF line ends: the store runs [`normalize_line_endings`] before
//!   storing, so RFC822.SIZE is the stored length and every size here is a byte count of the
//!   stored message (Dovecot counts a bare LF as CRLF, which gives the same numbers).
//! * [`parse`] never fails and never panics. Nesting is bounded by [`MAX_DEPTH`] and the part
//!   list by [`MAX_PARTS`]; every byte range in a [`Part`] lies inside the parsed message.
//! * The structural parse is our own streaming scan, modelled on Dovecot's: a part ends at
//!   the first line that starts with `--` + a boundary of any enclosing multipart, innermost
//!   first; the line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
//! * ENVELOPE, BODY and BODYSTRUCTURE are rendered once, at parse time, as IMAP text (RFC
//!   9051 §7.5.2). ENVELOPE values are raw header text (no RFC 2047 decoding); header bytes
//!   that are not UTF-8 are converted to UTF-8 (see `text::Fallback`), because the rendered
//!   strings are `&str`.
//! * RFC 2231 parameters are joined and decoded to UTF-8 (RFC 9051 §7.5.2); an invalid
//!   Content-Type is text/plain; charset=us-ascii (RFC 2045 §5.2).
//! * Functions taking `raw` together with a `MessageMeta` never index blindly: a meta that
//!   does not belong to `raw` yields `None`/errors, not panics.
//! * `MessageMeta::to_bytes` output starts with a format version; `from_bytes` rejects other
//!   versions, so a format change is a migration, not a silent misread.

#![forbid(unsafe_code)]

mod codec;
pub mod dates;
mod envelope;
mod header;
pub mod imap;
mod parse;
pub mod sort;
mod text;

use std::borrow::Cow;
use std::ops::Range;

pub use codec::{DecodeError, decode_sort_fields, decode_sort_fields_for, encode_sort_fields};
pub use parse::{MAX_DEPTH, MAX_PARTS};
pub use sort::{SortAddress, SortFields, SortNeed};

/// The length [`normalize_line_endings`] would give `raw`, without making the copy.
pub fn normalized_len(raw: &[u8]) -> usize {
    let bare = raw
        .iter()
        .enumerate()
        .filter(|&(i, &b)| b == b'\n' && (i == 0 || raw[i - 1] != b'\r'))
        .count();
    raw.len() + bare
}

/// Bare LF → CRLF (a lone CR is left alone). Borrowed when nothing changes.
pub fn normalize_line_endings(raw: &[u8]) -> Cow<'_, [u8]> {
    let bare = normalized_len(raw) - raw.len();
    if bare == 0 {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len() + bare);
    for (i, &b) in raw.iter().enumerate() {
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
    }
    Cow::Owned(out)
}

/// What kind of entity a [`Part`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// A leaf: text, image, application, message/delivery-status …
    Basic,
    /// multipart/*: `children` are the body parts, in order (at least one).
    Multipart,
    /// message/rfc822 or message/global: `children` holds exactly one entry, the
    /// encapsulated message (its `header` is the inner message header).
    Message,
}

/// One MIME entity of a stored message, with absolute byte offsets into the stored bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub kind: PartKind,
    /// Lower-cased media type and subtype (`text`, `plain`), defaults applied.
    pub media_type: String,
    pub media_subtype: String,
    /// The charset parameter as written (RFC 2231-decoded), if any.
    pub charset: Option<String>,
    /// Lower-cased Content-Transfer-Encoding, `7bit` when absent.
    pub encoding: String,
    /// The MIME header, including the blank line that ends it (if there is one). For the
    /// top-level entity this is the message header.
    pub header: Range<usize>,
    /// The body: for a multipart everything from the header to its end (preamble,
    /// delimiters, epilogue); for message/rfc822 the whole encapsulated message.
    pub body: Range<usize>,
    /// Line count of the body (meaningful for text/* and message/rfc822).
    pub lines: usize,
    pub children: Vec<Part>,
}

/// The parse-once result for one message.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageMeta {
    root: Part,
    envelope: String,
    body: String,
    bodystructure: String,
    sent_date: Option<i64>,
    /// `None` only for metadata stored before the sort fields were (format version 1):
    /// readers then use [`sort_fields`] on the bytes.
    sort: Option<SortFields>,
}

/// Parses a (normalized) message. Never fails and never panics.
pub fn parse(raw: &[u8]) -> MessageMeta {
    let p = parse::parse_message(raw);
    let sort = sort_fields_in(raw, &p.root);
    MessageMeta {
        root: p.root,
        envelope: p.envelope,
        body: p.body,
        bodystructure: p.bodystructure,
        sent_date: p.date.and_then(|d| envelope::parse_date(&d)),
        sort: Some(sort),
    }
}

/// The SORT/THREAD keys of a stored message whose metadata predates them (see
/// [`MessageMeta::sort_fields`]); new metadata carries them already.
pub fn sort_fields(raw: &[u8], meta: &MessageMeta) -> SortFields {
    match &meta.sort {
        Some(s) => s.clone(),
        None => sort_fields_in(raw, &meta.root),
    }
}

fn sort_fields_in(raw: &[u8], root: &Part) -> SortFields {
    let hdr = header::fields(raw, root.header.clone());
    let fb = header::first_value(raw, &hdr, "Content-Type")
        .and_then(|v| header::parse_mime_value(&v, true, text::Fallback::default()))
        .map(|c| {
            text::Fallback::from_label(
                c.params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("charset"))
                    .map(|(_, v)| v.as_str()),
            )
        })
        .unwrap_or_default();
    sort::fields(raw, &hdr, fb)
}

impl MessageMeta {
    /// Compact, versioned encoding for storage.
    pub fn to_bytes(&self) -> Vec<u8> {
        codec::encode(self)
    }

    pub fn from_bytes(b: &[u8]) -> Result<Self, DecodeError> {
        codec::decode(b)
    }

    /// The IMAP ENVELOPE, e.g. `("date" "subj" ((...)) ...)`.
    pub fn envelope(&self) -> &str {
        &self.envelope
    }

    /// The non-extensible BODY.
    pub fn body(&self) -> &str {
        &self.body
    }

    /// BODYSTRUCTURE with extension data.
    pub fn bodystructure(&self) -> &str {
        &self.bodystructure
    }

    /// The Date: header as unix seconds (for SENTBEFORE/SENTON/SENTSINCE and SORT DATE).
    pub fn sent_date(&self) -> Option<i64> {
        self.sent_date
    }

    /// The day of the Date: header as written in it, disregarding time and zone (RFC 9051
    /// §6.4.4 SENTBEFORE/SENTON/SENTSINCE), as days since 1970-01-01. Read from the ENVELOPE's
    /// date string, which is the header's raw value.
    pub fn sent_day(&self) -> Option<i64> {
        let rest = self.envelope.strip_prefix('(')?;
        let date = if let Some(q) = rest.strip_prefix('"') {
            // Quoted strings hold no `"` or `\` (imap::can_quote).
            &q[..q.find('"')?]
        } else if let Some(l) = rest.strip_prefix('{') {
            let (n, after) = l.split_once("}\r\n")?;
            after.get(..n.parse::<usize>().ok()?)?
        } else {
            return None;
        };
        envelope::parse_date_day(date.as_bytes())
    }

    /// The SORT/THREAD keys extracted at delivery; `None` for metadata stored before they
    /// were (use [`sort_fields`] with the bytes then).
    pub fn sort_fields(&self) -> Option<&SortFields> {
        self.sort.as_ref()
    }

    /// The top-level entity (the message itself).
    pub fn root(&self) -> &Part {
        &self.root
    }

    /// The part with this section number (RFC 9051 §6.4.5). Part 1 of a non-multipart
    /// message is its body; the parts of an encapsulated message are numbered through the
    /// message/rfc822 part (`2.1` is the first part of the message in part 2, or its body if
    /// that message is not multipart). `0` or a missing part gives `None`.
    pub fn part(&self, path: &[u32]) -> Option<&Part> {
        let (first, rest) = path.split_first()?;
        let mut cur = step_into_message(&self.root, *first)?;
        for &n in rest {
            cur = match cur.kind {
                PartKind::Multipart => cur.children.get(index(n)?)?,
                PartKind::Message => step_into_message(cur.children.first()?, n)?,
                PartKind::Basic => return None,
            };
        }
        Some(cur)
    }
}

fn index(n: u32) -> Option<usize> {
    usize::try_from(n.checked_sub(1)?).ok()
}

/// Part `n` of a message whose top-level entity is `msg`.
fn step_into_message(msg: &Part, n: u32) -> Option<&Part> {
    if msg.kind == PartKind::Multipart {
        msg.children.get(index(n)?)
    } else if n == 1 {
        Some(msg)
    } else {
        None
    }
}

/// Which text of a section a FETCH BODY[...] asks for (RFC 9051 §6.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionText<'a> {
    /// `BODY[]` / `BODY[1.2]`: the whole message, or the body of the part.
    Full,
    /// `HEADER`: the header including its terminating blank line.
    Header,
    /// `HEADER.FIELDS (a b)`: the matching fields in message order, then a blank line.
    HeaderFields(&'a [&'a str]),
    /// `HEADER.FIELDS.NOT (a b)`: the other fields, then a blank line.
    HeaderFieldsNot(&'a [&'a str]),
    /// `TEXT`: the body of the message (or of the encapsulated message).
    Text,
    /// `MIME`: the MIME header of the part (only with a part number).
    Mime,
}

/// Bytes of `BODY[path.which]` (without `<partial>`). `None` when the section does not
/// exist: a missing part, `MIME` without a part number, or HEADER/TEXT on a part that is
/// not message/rfc822 (RFC 9051 §6.4.5 allows those only there).
pub fn section<'a>(
    raw: &'a [u8],
    meta: &MessageMeta,
    path: &[u32],
    which: SectionText<'_>,
) -> Option<Cow<'a, [u8]>> {
    let msg: &Part = if path.is_empty() {
        if which == SectionText::Full {
            return Some(Cow::Borrowed(raw));
        }
        if which == SectionText::Mime {
            return None;
        }
        &meta.root
    } else {
        let part = meta.part(path)?;
        match which {
            SectionText::Full => return raw.get(part.body.clone()).map(Cow::Borrowed),
            SectionText::Mime => return raw.get(part.header.clone()).map(Cow::Borrowed),
            _ if part.kind == PartKind::Message => part.children.first()?,
            _ => return None,
        }
    };
    match which {
        SectionText::Header => raw.get(msg.header.clone()).map(Cow::Borrowed),
        SectionText::Text => raw.get(msg.body.clone()).map(Cow::Borrowed),
        SectionText::HeaderFields(names) => header_fields(raw, msg, names, true),
        SectionText::HeaderFieldsNot(names) => header_fields(raw, msg, names, false),
        SectionText::Full | SectionText::Mime => None,
    }
}

fn header_fields<'a>(
    raw: &'a [u8],
    msg: &Part,
    names: &[&str],
    keep: bool,
) -> Option<Cow<'a, [u8]>> {
    raw.get(msg.header.clone())?;
    let mut out = Vec::new();
    for f in header::fields(raw, msg.header.clone()) {
        let name = &raw[f.name.clone()];
        let listed = names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(name));
        if listed == keep {
            out.extend_from_slice(&raw[f.full.clone()]);
            if !out.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    // Like Dovecot, the result always ends with the blank line that ends a header.
    out.extend_from_slice(b"\r\n");
    Some(Cow::Owned(out))
}

/// Why BINARY[...] cannot be answered (RFC 3516 §4.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    #[error("no such part")]
    NoSuchPart,
    /// The IMAP layer answers `NO [UNKNOWN-CTE]`.
    #[error("unknown content-transfer-encoding {0:?}")]
    UnknownCte(String),
    /// The encoded data is corrupt (e.g. invalid base64); also `NO [UNKNOWN-CTE]`.
    #[error("corrupt {0} data")]
    Corrupt(String),
}

/// RFC 3516 BINARY[path]: the part body with its Content-Transfer-Encoding removed.
/// Multipart and message/rfc822 parts are returned as stored: their CTE can only be an
/// identity encoding (RFC 2045 §6.4), so BINARY.SIZE equals the stored size. An empty
/// path is the whole message as stored.
pub fn binary<'a>(
    raw: &'a [u8],
    meta: &MessageMeta,
    path: &[u32],
) -> Result<Cow<'a, [u8]>, BinaryError> {
    if path.is_empty() {
        return Ok(Cow::Borrowed(raw));
    }
    let part = meta.part(path).ok_or(BinaryError::NoSuchPart)?;
    let body = raw.get(part.body.clone()).ok_or(BinaryError::NoSuchPart)?;
    if part.kind != PartKind::Basic {
        return Ok(Cow::Borrowed(body));
    }
    match text::decode_cte(body, &part.encoding) {
        Ok(None) => Ok(Cow::Borrowed(body)),
        Ok(Some(v)) => Ok(Cow::Owned(v)),
        Err(text::CteError::Unknown) => Err(BinaryError::UnknownCte(part.encoding.clone())),
        Err(text::CteError::Corrupt) => Err(BinaryError::Corrupt(part.encoding.clone())),
    }
}

/// The BODYSTRUCTURE (with extension data, RFC 9051 §7.5.2) of the part at `path` alone,
/// as URLFETCH's BODYPARTSTRUCTURE gives it (RFC 5524 §3.2); an empty path is the message.
/// `rev2` describes message/global as an encapsulated message (see
/// [`rev1_body_structure`]). Re-parses `raw`; `None` for a missing part.
pub fn part_structure(raw: &[u8], path: &[u32], rev2: bool) -> Option<String> {
    parse::part_structure(raw, path, rev2, None)
}

/// [`part_structure`] of a basic part as it is after [`binary`] removed its transfer
/// encoding (`decoded` is that data, RFC 5524 §3.2): the encoding field is the decoded
/// data's identity domain ([`identity_domain`]), the size and line count are the decoded
/// data's. Multipart and message parts are described as stored ([`binary`] returns them
/// unchanged).
pub fn decoded_part_structure(
    raw: &[u8],
    path: &[u32],
    rev2: bool,
    decoded: &[u8],
) -> Option<String> {
    parse::part_structure(
        raw,
        path,
        rev2,
        Some(parse::Decoded {
            encoding: identity_domain(decoded),
            size: decoded.len(),
            lines: decoded.iter().filter(|&&b| b == b'\n').count(),
        }),
    )
}

/// The identity Content-Transfer-Encoding that labels `data` (RFC 2045 §2.7, §2.8, §6.2):
/// `7bit` for short CRLF lines of US-ASCII without NUL, `8bit` when octets above 127 occur
/// too, `binary` otherwise (a NUL, a bare CR or LF, or a line over 998 octets).
pub fn identity_domain(data: &[u8]) -> &'static str {
    let mut eight = false;
    let mut line = 0usize;
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            0 => return "binary",
            b'\r' if data.get(i + 1) == Some(&b'\n') => {
                line = 0;
                i += 2;
                continue;
            }
            b'\r' | b'\n' => return "binary",
            b if b > 127 => eight = true,
            _ => {}
        }
        line += 1;
        if line > 998 {
            return "binary";
        }
        i += 1;
    }
    if eight { "8bit" } else { "7bit" }
}

/// Decoded values (RFC 2047 words decoded, unfolded, UTF-8) of every top-level header field
/// named `field_name` (case-insensitive), in message order.
pub fn search_header_values(raw: &[u8], field_name: &str) -> Vec<String> {
    let end = header_end(raw);
    let hdr = header::fields(raw, 0..end);
    let fb = header::first_value(raw, &hdr, "Content-Type")
        .and_then(|v| header::parse_mime_value(&v, true, text::Fallback::default()))
        .map(|c| {
            text::Fallback::from_label(
                c.params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("charset"))
                    .map(|(_, v)| v.as_str()),
            )
        })
        .unwrap_or_default();
    hdr.iter()
        .filter(|f| header::name_is(raw, f, field_name))
        .map(|f| text::decode_2047(&header::unfold(&raw[f.value.clone()]), fb))
        .collect()
}

/// BODY and BODYSTRUCTURE for an IMAP4rev1 session, where message/global is a basic body
/// (RFC 3501 §9 allows envelope and body only for message/rfc822; RFC 6532 §3.7 and RFC 9051
/// §7.5.2 add message/global in IMAP4rev2). `None` when the message has no message/global
/// part: the stored renderings are right for both protocol versions.
pub fn rev1_body_structure(raw: &[u8], meta: &MessageMeta) -> Option<(String, String)> {
    if !has_message_global(meta) {
        return None;
    }
    let p = parse::parse_message_with(raw, false);
    Some((p.body, p.bodystructure))
}

/// Whether the message has a message/global part (see [`rev1_body_structure`]).
pub fn has_message_global(meta: &MessageMeta) -> bool {
    fn has_global(p: &Part) -> bool {
        (p.kind == PartKind::Message && p.media_subtype == "global")
            || p.children.iter().any(has_global)
    }
    has_global(&meta.root)
}

/// A message APPENDed as binary (RFC 3516 §4.4, `~{n}`) with its `binary` parts re-encoded
/// as base64, as Dovecot does: stored bytes get CRLF line ends and BODY[] must stay a valid
/// non-binary literal (no NUL, RFC 9051 §4.3), so a binary body cannot be stored as it is.
/// BINARY[] decodes the base64 and gives the client's bytes back, unchanged. `None` when no
/// part has Content-Transfer-Encoding `binary` (nothing to do).
pub fn binary_parts_to_base64(raw: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let meta = parse(raw);
    let mut leaves = Vec::new();
    collect_binary_leaves(&meta.root, &mut leaves);
    if leaves.is_empty() {
        return None;
    }
    leaves.sort_by_key(|p| p.header.start);
    let mut out = Vec::with_capacity(raw.len() * 4 / 3 + 64);
    let mut pos = 0;
    for p in leaves {
        let hdr = header::fields(raw, p.header.clone());
        let Some(cte) = hdr
            .iter()
            .find(|f| header::name_is(raw, f, "Content-Transfer-Encoding"))
        else {
            continue;
        };
        if cte.value.start < pos || p.body.start < cte.value.end || p.body.end > raw.len() {
            continue;
        }
        // The value without its line ending, which is kept.
        let v = &raw[cte.value.clone()];
        let keep = v.len()
            - v.iter()
                .rev()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
        out.extend_from_slice(&raw[pos..cte.value.start]);
        out.extend_from_slice(b" base64");
        out.extend_from_slice(&v[keep..]);
        out.extend_from_slice(&raw[cte.value.end..p.body.start]);
        let encoded = base64::engine::general_purpose::STANDARD.encode(&raw[p.body.clone()]);
        for (i, line) in encoded.as_bytes().chunks(76).enumerate() {
            if i > 0 {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(line);
        }
        pos = p.body.end;
    }
    out.extend_from_slice(&raw[pos..]);
    Some(out)
}

fn collect_binary_leaves<'a>(p: &'a Part, out: &mut Vec<&'a Part>) {
    match p.kind {
        PartKind::Basic if p.encoding == "binary" => out.push(p),
        PartKind::Basic => {}
        _ => p
            .children
            .iter()
            .for_each(|c| collect_binary_leaves(c, out)),
    }
}

/// FROM/TO/CC/BCC search text of every top-level header field named `field_name`: the
/// addresses parsed and written back without comments or quoting (see
/// `envelope::search_text`), one string per field, in message order.
pub fn search_address_values(raw: &[u8], field_name: &str) -> Vec<String> {
    let end = header_end(raw);
    let hdr = header::fields(raw, 0..end);
    hdr.iter()
        .filter(|f| header::name_is(raw, f, field_name))
        .map(|f| {
            envelope::search_text(
                &header::unfold(&raw[f.value.clone()]),
                text::Fallback::default(),
            )
        })
        .collect()
}

/// The top-level header section of a message, the blank line that ends it included (all
/// of it when there is no blank line): what HEADER/FROM/SUBJECT searches and
/// [`search_header_values`]/[`search_address_values`] need, without the body.
pub fn header_section(raw: &[u8]) -> &[u8] {
    &raw[..header_end(raw)]
}

fn header_end(raw: &[u8]) -> usize {
    let mut p = 0;
    while p < raw.len() {
        let le = raw[p..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| p + i + 1);
        if header::is_blank(&raw[p..le]) {
            return le;
        }
        p = le;
    }
    raw.len()
}

/// The text of every text/* part (encapsulated messages included), CTE and charset
/// decoded into UTF-8, parts separated by a newline. Corrupt encodings are decoded
/// leniently: search should find what can be read.
pub fn search_body_text(raw: &[u8], meta: &MessageMeta) -> String {
    let mut out = String::new();
    collect_text(raw, &meta.root, &mut out);
    out
}

fn collect_text(raw: &[u8], p: &Part, out: &mut String) {
    if p.kind != PartKind::Basic {
        for c in &p.children {
            collect_text(raw, c, out);
        }
        return;
    }
    if p.media_type != "text" {
        return;
    }
    let Some(body) = raw.get(p.body.clone()) else {
        return;
    };
    let decoded: Cow<'_, [u8]> = match p.encoding.as_str() {
        "base64" => Cow::Owned(text::base64_lenient(body)),
        "quoted-printable" => Cow::Owned(text::quoted_printable(body)),
        _ => Cow::Borrowed(body),
    };
    let fb = text::Fallback::default();
    out.push_str(&text::decode_charset(
        &decoded,
        p.charset.as_deref().map(str::as_bytes),
        fb,
    ));
    out.push('\n');
}
