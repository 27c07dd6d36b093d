//! SMTP replies (RFC 5321 §4.2) with enhanced status codes (RFC 2034, RFC 3463): the one
//! reply type of the server (which encodes it) and the client (which parses it, see
//! [`crate::client::ReplyParser`]).

use std::borrow::Cow;
use std::fmt::Write as _;

/// One reply: a three-digit code, an optional enhanced status code and one or more text
/// lines (multi-line replies use `code-text` for every line but the last, RFC 5321 §4.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// `class.subject.detail`, e.g. `"5.1.1"`; `None` for the greeting, EHLO/HELO answers and
    /// 3xx replies (RFC 2034 §3). Our own replies use literals; parsed ones own theirs.
    pub status: Option<Cow<'static, str>>,
    /// The text of each line, without the code and the enhanced status code.
    pub lines: Vec<String>,
}

impl Reply {
    /// A one-line reply with an enhanced status code.
    pub fn new(code: u16, status: impl Into<Cow<'static, str>>, text: impl Into<String>) -> Self {
        Reply {
            code,
            status: Some(status.into()),
            lines: vec![text.into()],
        }
    }

    /// A reply read from the wire: `code` and the text after `code` and its separator on
    /// each line. An enhanced status code of the reply's class on the first line (RFC 2034
    /// §4: `class.subject.detail` then a space) becomes [`Reply::status`] and is taken off
    /// every line that starts with it.
    pub fn from_lines(code: u16, mut lines: Vec<String>) -> Self {
        let status = lines
            .first()
            .and_then(|l| enhanced_prefix(code, l))
            .map(str::to_owned);
        if let Some(st) = &status {
            for l in &mut lines {
                if let Some(rest) = l.strip_prefix(st.as_str())
                    && (rest.is_empty() || rest.starts_with(' '))
                {
                    *l = rest.trim_start_matches(' ').to_owned();
                }
            }
        }
        Reply {
            code,
            status: status.map(Cow::Owned),
            lines,
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

    /// The first digit: 2 (done), 3 (go on), 4 (try again later), 5 (refused).
    pub fn class(&self) -> u16 {
        self.code / 100
    }

    /// `250 2.0.0 text` on one line, multi-line texts joined by spaces (logs, DSN
    /// `Diagnostic-Code:`, queue state).
    pub fn text(&self) -> String {
        let mut s = self.code.to_string();
        if let Some(st) = &self.status {
            s.push(' ');
            s.push_str(st);
        }
        for l in &self.lines {
            if !l.is_empty() {
                s.push(' ');
                s.push_str(l);
            }
        }
        s
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
            if let Some(st) = &self.status {
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

/// The enhanced status code at the start of `line` if it is one of `code`'s class: `c.s.d`
/// with 1–3 digit subject and detail (RFC 3463 §2), then a space or the end.
fn enhanced_prefix(code: u16, line: &str) -> Option<&str> {
    let end = line.find(' ').unwrap_or(line.len());
    let word = &line[..end];
    let mut parts = word.split('.');
    let class = parts.next()?;
    let subject = parts.next()?;
    let detail = parts.next()?;
    let digits = |p: &str, max: usize| {
        !p.is_empty() && p.len() <= max && p.bytes().all(|b| b.is_ascii_digit())
    };
    let ok = parts.next().is_none()
        && digits(class, 1)
        && digits(subject, 3)
        && digits(detail, 3)
        && u16::from(class.as_bytes()[0] - b'0') == code / 100;
    ok.then_some(word)
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

    #[test]
    fn enhanced_codes_are_split_off_parsed_lines() {
        let r = Reply::from_lines(
            550,
            vec!["5.1.1 <b@x>: no".into(), "5.1.1 such user".into()],
        );
        assert_eq!(r.status.as_deref(), Some("5.1.1"));
        assert_eq!(r.lines, ["<b@x>: no", "such user"]);
        assert_eq!(r.text(), "550 5.1.1 <b@x>: no such user");
        assert_eq!(
            r.to_wire(),
            "550-5.1.1 <b@x>: no\r\n550 5.1.1 such user\r\n"
        );
        // Not of the reply's class, or not a status code: text.
        for (code, line) in [
            (250, "5.1.1 x"),
            (250, "2.0 x"),
            (250, "2.0.0.1 x"),
            (220, "mx ESMTP"),
        ] {
            let r = Reply::from_lines(code, vec![line.into()]);
            assert_eq!(r.status, None, "{line}");
            assert_eq!(r.lines, [line]);
        }
        let r = Reply::from_lines(250, vec!["2.0.0".into()]);
        assert_eq!(
            (r.status.as_deref(), r.text().as_str()),
            (Some("2.0.0"), "250 2.0.0")
        );
        assert_eq!(
            Reply::new(451, "4.3.0", "try again later").text(),
            "451 4.3.0 try again later"
        );
    }
}
