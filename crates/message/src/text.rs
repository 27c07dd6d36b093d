//! Byte → text conversions: charsets, RFC 2047 encoded-words, base64 and quoted-printable.

use encoding_rs::Encoding;

/// How to turn header bytes that are not UTF-8 into text.
///
/// Old Russian MUAs put raw koi8-r/windows-1251 bytes into headers (`ru-8bit-raw-headers-koi8r`).
/// Our rendered strings are `&str`, so such bytes must become UTF-8: valid UTF-8 (RFC 6532) is
/// kept as is, anything else is decoded with the charset of the entity's Content-Type (the
/// best guess of what the sender's MUA used), else windows-1252 (which maps every byte).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fallback(pub &'static Encoding);

impl Default for Fallback {
    fn default() -> Self {
        Fallback(encoding_rs::WINDOWS_1252)
    }
}

impl Fallback {
    pub(crate) fn from_label(label: Option<&str>) -> Self {
        label
            .and_then(|l| Encoding::for_label(l.trim().as_bytes()))
            // UTF-8 input that is not valid UTF-8 is better read as windows-1252 than as U+FFFD.
            .filter(|e| *e != encoding_rs::UTF_8)
            .map_or_else(Fallback::default, Fallback)
    }

    pub(crate) fn decode(self, b: &[u8]) -> String {
        match std::str::from_utf8(b) {
            Ok(s) => s.to_owned(),
            Err(_) => self.0.decode_without_bom_handling(b).0.into_owned(),
        }
    }
}

/// Decodes bytes in the named charset into UTF-8; unknown charsets use the fallback rules.
pub(crate) fn decode_charset(b: &[u8], charset: Option<&[u8]>, fb: Fallback) -> String {
    let enc = charset.and_then(|c| {
        let c = trim_ascii(c);
        // RFC 2231 §5 language suffix inside encoded-words: `utf-8*ru`.
        let c = c.split(|&x| x == b'*').next().unwrap_or(c);
        Encoding::for_label(c)
    });
    match enc {
        // us-ascii maps to windows-1252 in encoding_rs; decoding real UTF-8 as such would
        // garble it, so undeclared-but-valid UTF-8 stays UTF-8.
        Some(e) if e == encoding_rs::WINDOWS_1252 && std::str::from_utf8(b).is_ok() => {
            String::from_utf8_lossy(b).into_owned()
        }
        Some(e) => e.decode_without_bom_handling(b).0.into_owned(),
        None => fb.decode(b),
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let s = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let e = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(s, |i| i + 1);
    &b[s..e.max(s)]
}

/// Decodes RFC 2047 encoded-words in an unfolded header value. Whitespace between two
/// encoded-words is dropped (RFC 2047 §6.2); adjacent words in the same charset are joined
/// before charset decoding so that a UTF-8 character split across two words survives
/// (common, non-conforming: `ru-encoded-word-edge-cases`). Raw bytes use the fallback.
pub(crate) fn decode_2047(v: &[u8], fb: Fallback) -> String {
    let mut out = String::new();
    // Pending decoded bytes of a run of encoded-words in one charset.
    let mut pending: Option<(Vec<u8>, Vec<u8>)> = None;
    let mut i = 0;
    let mut plain_start = 0;
    while i < v.len() {
        if v[i] == b'='
            && v.get(i + 1) == Some(&b'?')
            && let Some((charset, bytes, end)) = encoded_word(v, i)
        {
            let between = &v[plain_start..i];
            let only_ws = between.iter().all(|b| matches!(b, b' ' | b'\t'));
            match pending.take() {
                Some((cs, mut buf)) if only_ws && cs.eq_ignore_ascii_case(&charset) => {
                    buf.extend(bytes);
                    pending = Some((cs, buf));
                }
                Some((cs, buf)) => {
                    out.push_str(&decode_charset(&buf, Some(&cs), fb));
                    if !only_ws {
                        out.push_str(&fb.decode(between));
                    }
                    pending = Some((charset, bytes));
                }
                None => {
                    out.push_str(&fb.decode(between));
                    pending = Some((charset, bytes));
                }
            }
            i = end;
            plain_start = end;
            continue;
        }
        i += 1;
    }
    if let Some((cs, buf)) = pending {
        out.push_str(&decode_charset(&buf, Some(&cs), fb));
    }
    out.push_str(&fb.decode(&v[plain_start..]));
    out
}

/// Parses `=?charset?X?text?=` at `start`: (charset, decoded bytes, end offset).
fn encoded_word(v: &[u8], start: usize) -> Option<(Vec<u8>, Vec<u8>, usize)> {
    let mut i = start + 2;
    let cs_start = i;
    while i < v.len() && v[i] != b'?' {
        if v[i] <= b' ' {
            return None;
        }
        i += 1;
    }
    let charset = v.get(cs_start..i)?.to_vec();
    let enc = *v.get(i + 1)?;
    if v.get(i + 2) != Some(&b'?') || charset.is_empty() {
        return None;
    }
    let text_start = i + 3;
    let mut j = text_start;
    // The text ends at the first `?=`; no whitespace inside (RFC 2047 §5).
    while j + 1 < v.len() && !(v[j] == b'?' && v[j + 1] == b'=') {
        if v[j] == b' ' || v[j] == b'\t' {
            return None;
        }
        j += 1;
    }
    if j + 1 >= v.len() {
        return None;
    }
    let text = &v[text_start..j];
    let bytes = match enc {
        b'B' | b'b' => base64_lenient(text),
        b'Q' | b'q' => {
            let mut out = Vec::with_capacity(text.len());
            let mut k = 0;
            while k < text.len() {
                match text[k] {
                    b'_' => out.push(b' '),
                    b'=' => {
                        match (
                            text.get(k + 1).and_then(|&c| crate::header::hex(c)),
                            text.get(k + 2).and_then(|&c| crate::header::hex(c)),
                        ) {
                            (Some(h), Some(l)) => {
                                out.push(h << 4 | l);
                                k += 3;
                                continue;
                            }
                            _ => out.push(b'='),
                        }
                    }
                    b => out.push(b),
                }
                k += 1;
            }
            out
        }
        _ => return None,
    };
    Some((charset, bytes, j + 2))
}

/// Why a Content-Transfer-Encoding could not be removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CteError {
    Unknown,
    Corrupt,
}

fn b64_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    }
}

/// Strict base64 (RFC 2045 §6.8): line breaks and whitespace are ignored; any other byte
/// outside the alphabet, data after the padding, or a lone trailing sextet is corruption.
/// Missing padding is corruption too (RFC 2045 §6.8 output is always a multiple of 4
/// characters): such data was cut short, and Dovecot agrees ("ends prematurely").
pub(crate) fn base64_strict(v: &[u8]) -> Result<Vec<u8>, CteError> {
    let mut out = Vec::with_capacity(v.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut n = 0u8;
    let mut padded = false;
    for &b in v {
        if b.is_ascii_whitespace() {
            continue;
        }
        if b == b'=' {
            padded = true;
            continue;
        }
        if padded {
            return Err(CteError::Corrupt);
        }
        let Some(x) = b64_value(b) else {
            return Err(CteError::Corrupt);
        };
        acc = acc << 6 | u32::from(x);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        0 => {}
        2 if padded => out.push((acc >> 4) as u8),
        3 if padded => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => return Err(CteError::Corrupt),
    }
    Ok(out)
}

/// Base64 for search and encoded-words: skips anything outside the alphabet.
pub(crate) fn base64_lenient(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut n = 0u8;
    for &b in v {
        if b == b'=' {
            break;
        }
        let Some(x) = b64_value(b) else { continue };
        acc = acc << 6 | u32::from(x);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
    out
}

/// Quoted-printable (RFC 2045 §6.7): `=XX` decoded, soft line breaks removed, trailing
/// whitespace on each line removed (rule 3). A malformed `=` is kept literally, as §6.7
/// note (2) recommends, so QP never fails.
pub(crate) fn quoted_printable(v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len());
    for line in v.split_inclusive(|&b| b == b'\n') {
        let (body, eol): (&[u8], &[u8]) = if let Some(b) = line.strip_suffix(b"\r\n") {
            (b, b"\r\n")
        } else if let Some(b) = line.strip_suffix(b"\n") {
            (b, b"\n")
        } else {
            (line, b"")
        };
        let end = body
            .iter()
            .rposition(|b| !matches!(b, b' ' | b'\t'))
            .map_or(0, |i| i + 1);
        let body = &body[..end];
        let mut i = 0;
        let mut soft = false;
        while i < body.len() {
            if body[i] == b'=' {
                if i + 1 == body.len() {
                    soft = true;
                    break;
                }
                if let (Some(h), Some(l)) = (
                    body.get(i + 1).and_then(|&c| crate::header::hex(c)),
                    body.get(i + 2).and_then(|&c| crate::header::hex(c)),
                ) {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
            }
            out.push(body[i]);
            i += 1;
        }
        if !soft {
            out.extend_from_slice(eol);
        }
    }
    out
}

/// Removes a Content-Transfer-Encoding (value already lower-cased).
pub(crate) fn decode_cte(body: &[u8], cte: &str) -> Result<Option<Vec<u8>>, CteError> {
    match cte {
        "" | "7bit" | "8bit" | "binary" => Ok(None),
        "base64" => base64_strict(body).map(Some),
        "quoted-printable" => Ok(Some(quoted_printable(body))),
        _ => Err(CteError::Unknown),
    }
}
