//! IMAP string rendering (RFC 9051 §4.3), shared with the IMAP layer.

use std::fmt::Write as _;

/// Whether `s` may be sent as a quoted string. Like Dovecot we also send strings holding `"`
/// or `\` as literals: both forms are legal (RFC 9051 §4.3) and literals need no escaping.
pub fn can_quote(s: &[u8]) -> bool {
    s.iter()
        .all(|&b| (1..0x80).contains(&b) && !matches!(b, b'\r' | b'\n' | b'"' | b'\\'))
}

/// Appends `s` as an IMAP string: quoted when [`can_quote`], else a synchronizing literal
/// `{n}\r\n…` (8-bit text, CR/LF). The empty string is `""`.
pub fn write_string(out: &mut String, s: &str) {
    if can_quote(s.as_bytes()) {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        let _ = write!(out, "{{{}}}\r\n", s.len());
        out.push_str(s);
    }
}

/// Appends an nstring: `NIL` for `None`, else [`write_string`].
pub fn write_nstring(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => write_string(out, s),
        None => out.push_str("NIL"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_or_literal() {
        let mut s = String::new();
        write_string(&mut s, "plain text");
        write_string(&mut s, "");
        write_nstring(&mut s, None);
        write_string(&mut s, "say \"hi\"");
        write_string(&mut s, "Отчёт");
        write_string(&mut s, "a\r\nb");
        assert_eq!(
            s,
            "\"plain text\"\"\"NIL{8}\r\nsay \"hi\"{10}\r\nОтчёт{4}\r\na\r\nb"
        );
    }
}
