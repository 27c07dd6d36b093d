//! Client half of replies: status lines (RFC 1939 §3, response codes RFC 2449 §8) and
//! multi-line responses, found in a receive buffer and un-stuffed.
//!
//! Implementation notes:
//! - Everything works on the caller's buffer: a function says how many bytes a complete
//!   status line or multi-line block takes, or that more are needed; the caller reads more
//!   and asks again. The caller bounds its buffer (a status line, a message).
//! - A multi-line block ends at a line that is exactly `.`: `.CRLF` at its start or
//!   `CRLF.CRLF` inside. [`MultilineReader`] resumes the search where the last one stopped.
//! - Un-stuffing follows RFC 1939 §3 for clients: a line that starts with `.` (and is not the
//!   terminator) loses that first `.`.

use std::borrow::Cow;

use crate::reply::Code;

/// A parsed status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `+OK` (true) or `-ERR` (false).
    pub ok: bool,
    /// The response code in brackets, as sent (RFC 2449 §8), if any.
    pub code: Option<String>,
    /// The text after the status indicator and the code, trimmed.
    pub text: String,
}

impl Status {
    /// The response code, if it is one this crate knows.
    pub fn known_code(&self) -> Option<Code> {
        self.code.as_deref().and_then(Code::parse)
    }
}

/// Why a status line is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAStatus(pub String);

impl std::fmt::Display for NotAStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "not a POP3 status line: {:?}", self.0)
    }
}

impl std::error::Error for NotAStatus {}

/// The length of the first line in `buf`, LF included, if it is complete.
pub fn line_len(buf: &[u8]) -> Option<usize> {
    buf.iter().position(|&b| b == b'\n').map(|i| i + 1)
}

/// Parses one status line (with or without its CRLF). Lossy about UTF-8 in the text.
pub fn parse_status(line: &[u8]) -> Result<Status, NotAStatus> {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\r', '\n']);
    let (ok, rest) = if let Some(r) = strip_prefix_ci(text, "+OK") {
        (true, r)
    } else if let Some(r) = strip_prefix_ci(text, "-ERR") {
        (false, r)
    } else {
        return Err(NotAStatus(text.to_owned()));
    };
    // The indicator must end there: "+OKAY" is not a status.
    if !(rest.is_empty() || rest.starts_with(' ')) {
        return Err(NotAStatus(text.to_owned()));
    }
    let rest = rest.trim_start();
    let (code, rest) = match rest.strip_prefix('[').and_then(|r| r.split_once(']')) {
        Some((code, after)) => (Some(code.to_owned()), after.trim_start()),
        None => (None, rest),
    };
    Ok(Status {
        ok,
        code,
        text: rest.trim_end().to_owned(),
    })
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Finds the end of a multi-line block that starts at the beginning of the buffer (the
/// bytes after the `+OK` status line). Feed it the same, growing buffer until it answers.
#[derive(Debug, Default, Clone)]
pub struct MultilineReader {
    /// Where the search for `CRLF.CRLF` resumes.
    from: usize,
}

/// Where a complete multi-line block ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Multiline {
    /// The stuffed body (before the terminating line), with its last CRLF: `buf[..body]`.
    pub body: usize,
    /// Bytes the block takes, terminator included.
    pub consumed: usize,
}

impl MultilineReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// The block's extent, once `buf` holds its terminator; `None` means read more.
    pub fn poll(&mut self, buf: &[u8]) -> Option<Multiline> {
        if buf.starts_with(b".\r\n") {
            self.from = 0;
            return Some(Multiline {
                body: 0,
                consumed: 3,
            });
        }
        let start = self.from.min(buf.len());
        match buf[start..].windows(5).position(|w| w == b"\r\n.\r\n") {
            Some(i) => {
                let end = start + i;
                self.from = 0;
                Some(Multiline {
                    body: end + 2,
                    consumed: end + 5,
                })
            }
            None => {
                // The terminator may straddle the next read.
                self.from = buf.len().saturating_sub(4);
                None
            }
        }
    }
}

/// Removes the byte-stuffing `.` from every line that starts with one (RFC 1939 §3).
/// Borrows when nothing was stuffed.
pub fn unstuff(body: &[u8]) -> Cow<'_, [u8]> {
    let stuffed = body.first() == Some(&b'.') || body.windows(2).any(|w| w == b"\n.");
    if !stuffed {
        return Cow::Borrowed(body);
    }
    let mut out = Vec::with_capacity(body.len());
    let mut at_line_start = true;
    for &b in body {
        if at_line_start && b == b'.' {
            at_line_start = false;
            continue;
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    Cow::Owned(out)
}

/// A whole multi-line block at the start of `buf`, un-stuffed, and the bytes it takes; `None`
/// while its terminator has not arrived. (For callers holding the whole response, e.g. tests;
/// a streaming reader uses [`MultilineReader`].)
pub fn multiline(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    let m = MultilineReader::new().poll(buf)?;
    Some((unstuff(&buf[..m.body]).into_owned(), m.consumed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::write_multiline;

    fn st(s: &str) -> Status {
        parse_status(s.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            st("+OK 2 320\r\n"),
            Status {
                ok: true,
                code: None,
                text: "2 320".into()
            }
        );
        assert_eq!(
            st("+OK"),
            Status {
                ok: true,
                code: None,
                text: String::new()
            }
        );
        let s = st("-ERR [IN-USE] Maildrop is locked\r\n");
        assert!(!s.ok);
        assert_eq!(s.code.as_deref(), Some("IN-USE"));
        assert_eq!(s.known_code(), Some(Code::InUse));
        assert_eq!(s.text, "Maildrop is locked");
        assert_eq!(st("-err [SYS/TEMP] x").known_code(), Some(Code::SysTemp));
        assert_eq!(st("-ERR [XYZ] x").known_code(), None);
        assert_eq!(st("-ERR [unclosed").text, "[unclosed");
        for bad in ["", "OK", "+OKAY", "* 1 EXISTS", "-ERROR x"] {
            assert!(parse_status(bad.as_bytes()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dot_stuffing_round_trip() {
        let multi = |data: &[u8]| {
            let mut out = Vec::new();
            write_multiline(&mut out, data);
            out
        };
        assert_eq!(multi(b""), b".\r\n");
        assert_eq!(multi(b"a\r\n"), b"a\r\n.\r\n");
        assert_eq!(multi(b"a"), b"a\r\n.\r\n");
        assert_eq!(multi(b".\r\n"), b"..\r\n.\r\n");
        assert_eq!(multi(b"..x\r\nb.c\r\n.\r\n"), b"...x\r\nb.c\r\n..\r\n.\r\n");
        for m in [
            &b"x: y\r\n\r\n.hidden\r\n..two\r\nend\r\n"[..],
            b".\r\n.\r\n",
            b"",
            b"bare\n.lf\n",
        ] {
            let mut out = multi(m);
            out.extend_from_slice(b"+OK next\r\n");
            let (body, used) = multiline(&out).expect("terminated");
            // The writer ends data that lacks a final CRLF with one.
            let mut want = m.to_vec();
            if !m.is_empty() && !m.ends_with(b"\r\n") {
                want.extend_from_slice(b"\r\n");
            }
            assert_eq!(body, want, "{:?}", String::from_utf8_lossy(m));
            assert_eq!(&out[used..], b"+OK next\r\n");
        }
        assert_eq!(multiline(b"a\r\n.\r"), None);
        assert_eq!(&*unstuff(b"..a\r\n..\r\nx.y\r\n"), b".a\r\n.\r\nx.y\r\n");
        assert!(matches!(unstuff(b"a\r\nb\r\n"), Cow::Borrowed(_)));
    }

    /// The end is found whatever the reads look like, and only once it has arrived.
    #[test]
    fn multiline_in_every_chunking() {
        let wire = b"1 a\r\n..2\r\n\r\n.\r\n+OK";
        let want = Multiline {
            body: 12,
            consumed: 15,
        };
        for size in 1..=wire.len() {
            let mut r = MultilineReader::new();
            let mut got = None;
            let mut have = 0;
            while got.is_none() && have < wire.len() {
                have = (have + size).min(wire.len());
                got = r.poll(&wire[..have]);
            }
            assert_eq!(got, Some(want), "chunk size {size}");
        }
    }
}
