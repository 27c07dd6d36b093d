//! Server half of replies: status lines (RFC 1939 §3) with response codes (RFC 2449 §8,
//! RFC 3206), and dot-stuffed multi-line responses (RFC 1939 §3).
//!
//! Implementation notes:
//! - Status text often echoes client input (a user name, a mechanism name), and the framer
//!   leaves CRs and other control characters inside a line: they are written as spaces, so
//!   a status is always exactly one line and a client cannot inject a second one.

/// An RFC 2449 §8 / RFC 3206 response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// `[IN-USE]`: the maildrop is locked by another session (RFC 2449 §8.1.2).
    InUse,
    /// `[LOGIN-DELAY]`: logging in again too soon (RFC 2449 §8.1.1).
    LoginDelay,
    /// `[SYS/TEMP]`: a temporary system problem (RFC 3206 §4).
    SysTemp,
    /// `[SYS/PERM]`: a permanent system problem (RFC 3206 §4).
    SysPerm,
    /// `[AUTH]`: the credentials are wrong (RFC 3206 §5).
    Auth,
}

impl Code {
    /// The code as written between the brackets.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::InUse => "IN-USE",
            Code::LoginDelay => "LOGIN-DELAY",
            Code::SysTemp => "SYS/TEMP",
            Code::SysPerm => "SYS/PERM",
            Code::Auth => "AUTH",
        }
    }

    /// The code named `s` (case-insensitive); `None` for codes this crate does not know
    /// (RFC 2449 §8: clients ignore those).
    pub fn parse(s: &str) -> Option<Code> {
        [
            Code::InUse,
            Code::LoginDelay,
            Code::SysTemp,
            Code::SysPerm,
            Code::Auth,
        ]
        .into_iter()
        .find(|c| c.as_str().eq_ignore_ascii_case(s))
    }
}

/// Appends `+OK text` and CRLF.
pub fn ok(out: &mut Vec<u8>, text: &str) {
    status(out, true, None, text);
}

/// Appends `-ERR [code] text` (without the code when `None`) and CRLF.
pub fn err(out: &mut Vec<u8>, code: Option<Code>, text: &str) {
    status(out, false, code, text);
}

/// Appends one status line; control characters in `text` become spaces.
pub fn status(out: &mut Vec<u8>, ok: bool, code: Option<Code>, text: &str) {
    out.extend_from_slice(if ok { b"+OK " } else { b"-ERR " });
    if let Some(c) = code {
        out.push(b'[');
        out.extend_from_slice(c.as_str().as_bytes());
        out.extend_from_slice(b"] ");
    }
    for c in text.chars() {
        let c = if c.is_control() { ' ' } else { c };
        let mut buf = [0u8; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `data` dot-stuffed (RFC 1939 §3: a line starting with "." gets another "."),
/// ending in CRLF (added if missing), followed by the terminating ".\r\n".
pub fn write_multiline(out: &mut Vec<u8>, data: &[u8]) {
    out.reserve(data.len() + data.len() / 64 + 5);
    let mut at_line_start = true;
    for &b in data {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !data.is_empty() && !data.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

/// Appends a multi-line listing (CAPA, LIST, UIDL): each of `lines` (without CRLF) dot-stuffed
/// and CRLF-ended, then the terminating ".\r\n".
pub fn write_lines<S: AsRef<str>>(out: &mut Vec<u8>, lines: &[S]) {
    for l in lines {
        let l = l.as_ref();
        if l.starts_with('.') {
            out.push(b'.');
        }
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn status_lines() {
        assert_eq!(line(|o| ok(o, "2 320")), "+OK 2 320\r\n");
        assert_eq!(
            line(|o| err(o, None, "no such message")),
            "-ERR no such message\r\n"
        );
        assert_eq!(
            line(|o| err(o, Some(Code::InUse), "locked")),
            "-ERR [IN-USE] locked\r\n"
        );
        assert_eq!(
            line(|o| err(o, Some(Code::SysTemp), "later")),
            "-ERR [SYS/TEMP] later\r\n"
        );
        // Echoed client text cannot start a second line.
        assert_eq!(
            line(|o| err(o, None, "Unsupported SASL mechanism A\rB\n-ERR x")),
            "-ERR Unsupported SASL mechanism A B -ERR x\r\n"
        );
        for c in [
            Code::InUse,
            Code::LoginDelay,
            Code::SysTemp,
            Code::SysPerm,
            Code::Auth,
        ] {
            assert_eq!(Code::parse(&c.as_str().to_lowercase()), Some(c));
        }
        assert_eq!(Code::parse("UTF8"), None);
    }

    #[test]
    fn listings() {
        assert_eq!(line(|o| write_lines::<&str>(o, &[])), ".\r\n");
        assert_eq!(
            line(|o| write_lines(o, &["TOP", ".odd"])),
            "TOP\r\n..odd\r\n.\r\n"
        );
    }
}
