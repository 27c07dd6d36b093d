//! SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 2034, RFC 3463).

use std::fmt::Write as _;

/// One reply: a three-digit code, an optional enhanced status code and one or more text
/// lines (multi-line replies use `code-text` for every line but the last, RFC 5321 §4.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// `class.subject.detail`, e.g. `"5.1.1"`; `None` for the greeting, EHLO/HELO answers and
    /// 3xx replies (RFC 2034 §3).
    pub status: Option<&'static str>,
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply with an enhanced status code.
    pub fn new(code: u16, status: &'static str, text: impl Into<String>) -> Self {
        Reply {
            code,
            status: Some(status),
            lines: vec![text.into()],
        }
    }

    /// A reply without an enhanced status code (greeting, EHLO, 3xx).
    pub fn bare(code: u16, text: impl Into<String>) -> Self {
        Reply {
            code,
            status: None,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply without enhanced status codes (the EHLO answer).
    pub fn multi(code: u16, lines: Vec<String>) -> Self {
        Reply {
            code,
            status: None,
            lines,
        }
    }

    /// Whether the code is a positive completion (2xx).
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// Appends the wire form, each line ending in CRLF. Control characters in the text are
    /// replaced so a reply can never inject a line.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut s = String::new();
        let n = self.lines.len().max(1);
        for i in 0..n {
            let text = self.lines.get(i).map(String::as_str).unwrap_or("");
            let sep = if i + 1 < n { '-' } else { ' ' };
            let _ = write!(s, "{}{}", self.code, sep);
            if let Some(st) = self.status {
                s.push_str(st);
                if !text.is_empty() {
                    s.push(' ');
                }
            }
            s.extend(text.chars().map(|c| if c.is_control() { ' ' } else { c }));
            s.push_str("\r\n");
        }
        out.extend_from_slice(s.as_bytes());
    }

    /// The wire form as a string (tests, logs).
    pub fn to_wire(&self) -> String {
        let mut v = Vec::new();
        self.encode(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line() {
        assert_eq!(
            Reply::new(250, "2.1.0", "Sender OK").to_wire(),
            "250 2.1.0 Sender OK\r\n"
        );
        assert_eq!(Reply::bare(354, "Go ahead").to_wire(), "354 Go ahead\r\n");
    }

    #[test]
    fn multi_line_and_injection() {
        let r = Reply::multi(250, vec!["mx.example".into(), "PIPELINING".into()]);
        assert_eq!(r.to_wire(), "250-mx.example\r\n250 PIPELINING\r\n");
        let r = Reply::new(550, "5.1.1", "bad\r\n250 ok");
        assert_eq!(r.to_wire(), "550 5.1.1 bad  250 ok\r\n");
    }
}
