//! Header blocks: field iteration, unfolding, and the RFC 2045 / RFC 2231 parameter grammar.

use std::ops::Range;

use crate::text::{Fallback, decode_charset};

/// One header field inside a block; all ranges are absolute offsets into the message.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub name: Range<usize>,
    /// From after the colon to the end of the field, folding CRLFs included.
    pub value: Range<usize>,
    /// Every line of the field, with its line ending (for HEADER.FIELDS).
    pub full: Range<usize>,
}

/// Splits a header block into fields. A line that starts with SP/HT continues the previous
/// field (RFC 5322 §2.2.3); a non-continuation line without a colon is not a field and is
/// skipped (Dovecot keeps it in the header bytes but no field is made of it, `py-msg_19`).
pub(crate) fn fields(raw: &[u8], block: Range<usize>) -> Vec<Field> {
    let mut out: Vec<Field> = Vec::new();
    let end = block.end.min(raw.len());
    let mut pos = block.start.min(end);
    // Whether the last line belonged to a field, so that continuations attach to it.
    let mut in_field = false;
    while pos < end {
        let line_end = match raw[pos..end].iter().position(|&b| b == b'\n') {
            Some(i) => pos + i + 1,
            None => end,
        };
        let line = &raw[pos..line_end];
        let first = line[0];
        if first == b' ' || first == b'\t' {
            if in_field && let Some(f) = out.last_mut() {
                f.value.end = line_end;
                f.full.end = line_end;
            }
        } else if is_blank(line) {
            in_field = false;
        } else if let Some(colon) = line.iter().position(|&b| b == b':') {
            let mut name_end = pos + colon;
            while name_end > pos && matches!(raw[name_end - 1], b' ' | b'\t') {
                name_end -= 1;
            }
            out.push(Field {
                name: pos..name_end,
                value: pos + colon + 1..line_end,
                full: pos..line_end,
            });
            in_field = true;
        } else {
            in_field = false;
        }
        pos = line_end;
    }
    out
}

pub(crate) fn is_blank(line: &[u8]) -> bool {
    line == b"\r\n" || line == b"\n"
}

/// Unfolds a field value: CR and LF are removed, the whitespace after them kept (what
/// Dovecot does, and RFC 5322 §2.2.3 unfolding), then leading/trailing whitespace trimmed.
///
/// A TAB that starts a continuation line becomes a SP, as Dovecot sends it (`py-msg_27`):
/// it is folding whitespace, and a TAB inside a quoted IMAP string is legal but unusual.
pub(crate) fn unfold(v: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::with_capacity(v.len());
    let mut after_break = false;
    for &b in v {
        match b {
            b'\r' => {}
            b'\n' => after_break = true,
            b'\t' if after_break => {
                out.push(b' ');
                after_break = false;
            }
            _ => {
                out.push(b);
                after_break = false;
            }
        }
    }
    let end = out
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(0, |i| i + 1);
    out.truncate(end);
    let start = out
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(out.len());
    out.drain(..start);
    out
}

/// Case-insensitive comparison of a field name.
pub(crate) fn name_is(raw: &[u8], f: &Field, name: &str) -> bool {
    raw[f.name.clone()].eq_ignore_ascii_case(name.as_bytes())
}

/// The unfolded value of the first field with this name.
pub(crate) fn first_value(raw: &[u8], fields: &[Field], name: &str) -> Option<Vec<u8>> {
    fields
        .iter()
        .find(|f| name_is(raw, f, name))
        .map(|f| unfold(&raw[f.value.clone()]))
}

/// A parsed `type/subtype; params` (or `disposition; params`) value.
#[derive(Debug, Clone, Default)]
pub(crate) struct MimeValue {
    /// `type` (or disposition type), case preserved.
    pub main: String,
    /// Subtype for Content-Type; empty for Content-Disposition.
    pub sub: String,
    pub params: Vec<(String, String)>,
}

const TSPECIALS: &[u8] = b"()<>@,;:\\\"/[]?=";

fn skip_cfws(s: &[u8], i: &mut usize) {
    while *i < s.len() {
        match s[*i] {
            b' ' | b'\t' | b'\r' | b'\n' => *i += 1,
            b'(' => {
                // Nested comments with quoted-pairs (RFC 5322 §3.2.2); comments are dropped.
                let mut depth = 0usize;
                while *i < s.len() {
                    match s[*i] {
                        b'\\' => *i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                *i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    *i += 1;
                }
            }
            _ => break,
        }
    }
}

fn token<'a>(s: &'a [u8], i: &mut usize) -> &'a [u8] {
    let start = *i;
    while *i < s.len() {
        let b = s[*i];
        if b <= b' ' || b == 0x7f || TSPECIALS.contains(&b) {
            break;
        }
        *i += 1;
    }
    &s[start..*i]
}

fn quoted(s: &[u8], i: &mut usize) -> Vec<u8> {
    // Caller saw the opening quote. An unterminated string runs to the end of the value.
    let mut out = Vec::new();
    *i += 1;
    while *i < s.len() {
        match s[*i] {
            b'\\' if *i + 1 < s.len() => {
                out.push(s[*i + 1]);
                *i += 2;
            }
            b'"' => {
                *i += 1;
                break;
            }
            b => {
                out.push(b);
                *i += 1;
            }
        }
    }
    out
}

fn skip_to_semicolon(s: &[u8], i: &mut usize) {
    while *i < s.len() && s[*i] != b';' {
        if s[*i] == b'"' {
            quoted(s, i);
        } else {
            *i += 1;
        }
    }
}

/// Parses a Content-Type (with `want_sub`) or Content-Disposition value (RFC 2045 §5.1,
/// RFC 2183). Returns `None` when the type part is syntactically invalid. Parameters are
/// lenient: an unquoted value runs to `;` or whitespace (real boundaries contain `=`), junk
/// between parameters is skipped, and RFC 2231 sections are joined and decoded to UTF-8
/// (RFC 9051 §7.5.2 "SHOULD decode").
pub(crate) fn parse_mime_value(v: &[u8], want_sub: bool, fb: Fallback) -> Option<MimeValue> {
    let mut i = 0;
    skip_cfws(v, &mut i);
    let main = token(v, &mut i).to_vec();
    let mut sub = Vec::new();
    if want_sub {
        skip_cfws(v, &mut i);
        if v.get(i) != Some(&b'/') {
            return None;
        }
        i += 1;
        skip_cfws(v, &mut i);
        sub = token(v, &mut i).to_vec();
        if sub.is_empty() {
            return None;
        }
    }
    if main.is_empty() {
        return None;
    }
    let mut raw_params: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    loop {
        skip_cfws(v, &mut i);
        if i >= v.len() {
            break;
        }
        if v[i] != b';' {
            skip_to_semicolon(v, &mut i);
            continue;
        }
        i += 1;
        skip_cfws(v, &mut i);
        let name = token(v, &mut i).to_vec();
        skip_cfws(v, &mut i);
        if name.is_empty() || v.get(i) != Some(&b'=') {
            skip_to_semicolon(v, &mut i);
            continue;
        }
        i += 1;
        skip_cfws(v, &mut i);
        let value = if v.get(i) == Some(&b'"') {
            quoted(v, &mut i)
        } else {
            let start = i;
            while i < v.len() && !matches!(v[i], b';' | b' ' | b'\t' | b'\r' | b'\n' | b'(') {
                i += 1;
            }
            v[start..i].to_vec()
        };
        raw_params.push((name, value));
    }
    Some(MimeValue {
        main: fb.decode(&main),
        sub: fb.decode(&sub),
        params: rfc2231(raw_params, fb),
    })
}

struct Section {
    n: u32,
    encoded: bool,
    value: Vec<u8>,
}

/// Joins RFC 2231 continuations (`name*0*`, `name*1`, …) and decodes `charset'lang'%XX`
/// values into UTF-8 (RFC 2231 §3–4, RFC 9051 §7.5.2). A parameter given both plainly and in
/// RFC 2231 form is reported once, with the RFC 2231 value (the plain one is the fallback
/// for old readers, RFC 2231 §4.1 note).
fn rfc2231(raw: Vec<(Vec<u8>, Vec<u8>)>, fb: Fallback) -> Vec<(String, String)> {
    // (base name, plain value, sections), in first-seen order.
    type Group = (Vec<u8>, Option<Vec<u8>>, Vec<Section>);
    let mut groups: Vec<Group> = Vec::new();
    for (name, value) in raw {
        let (base, section) = split_2231_name(&name);
        let idx = match groups.iter().position(|g| g.0.eq_ignore_ascii_case(&base)) {
            Some(i) => i,
            None => {
                groups.push((base.clone(), None, Vec::new()));
                groups.len() - 1
            }
        };
        match section {
            None => {
                if groups[idx].1.is_none() {
                    groups[idx].1 = Some(value);
                }
            }
            Some((n, encoded)) => {
                if !groups[idx].2.iter().any(|s| s.n == n) {
                    groups[idx].2.push(Section { n, encoded, value });
                }
            }
        }
    }
    let mut out = Vec::with_capacity(groups.len());
    for (base, plain, mut sections) in groups {
        let name = fb.decode(&base);
        if sections.is_empty() {
            out.push((name, fb.decode(&plain.unwrap_or_default())));
            continue;
        }
        sections.sort_by_key(|s| s.n);
        let mut charset: Option<Vec<u8>> = None;
        let mut bytes = Vec::new();
        for (k, s) in sections.iter().enumerate() {
            let mut v: &[u8] = &s.value;
            if k == 0 && s.encoded {
                // charset'language'value — both prefixes may be empty.
                let mut it = v.splitn(3, |&b| b == b'\'');
                if let (Some(cs), Some(_lang), Some(rest)) = (it.next(), it.next(), it.next()) {
                    charset = Some(cs.to_vec());
                    v = rest;
                }
            }
            if s.encoded {
                bytes.extend(percent_decode(v));
            } else {
                bytes.extend_from_slice(v);
            }
        }
        let value = match charset {
            Some(cs) if !cs.is_empty() => decode_charset(&bytes, Some(&cs), fb),
            _ => fb.decode(&bytes),
        };
        out.push((name, value));
    }
    out
}

/// `name*3*` → (`name`, Some((3, true))); `name*` → (`name`, Some((0, true))).
fn split_2231_name(name: &[u8]) -> (Vec<u8>, Option<(u32, bool)>) {
    let Some(star) = name.iter().position(|&b| b == b'*') else {
        return (name.to_vec(), None);
    };
    let base = name[..star].to_vec();
    let rest = &name[star + 1..];
    if rest.is_empty() {
        return (base, Some((0, true)));
    }
    let (digits, encoded) = match rest.strip_suffix(b"*") {
        Some(d) => (d, true),
        None => (rest, false),
    };
    match std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse::<u32>().ok())
    {
        Some(n) if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) => {
            (base, Some((n, encoded)))
        }
        // Not RFC 2231 after all: keep the name as written.
        _ => (name.to_vec(), None),
    }
}

fn percent_decode(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'%'
            && i + 2 < v.len()
            && let (Some(h), Some(l)) = (hex(v[i + 1]), hex(v[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(v[i]);
        i += 1;
    }
    out
}

pub(crate) fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}
