//! GETMETADATA, SETMETADATA and the METADATA response (RFC 5464).
//!
//! Implementation notes (what always holds):
//! - The mailbox argument `""` means the server (RFC 5464 §4.1): `None` here.
//! - Entry names leave the parser lower-cased (they are case-insensitive, §3.2) and valid:
//!   `/private/...` or `/shared/...` with at least two components, no `//`, no trailing `/`,
//!   no `*`, `%`, non-ASCII or control characters; anything else is a syntax error (`BAD`,
//!   §3.2).
//! - Values are `nstring` or `literal8` (§5); NIL removes an entry (§4.3).
//! - GETMETADATA options are MAXSIZE and DEPTH, each at most once (§4.2.1, §4.2.2).
//!
//! ```abnf
//! getmetadata = "GETMETADATA" [SP getmetadata-options] SP mailbox SP entries
//!               ; also accepted: options after the mailbox, as RFC 5464's examples show
//! setmetadata = "SETMETADATA" SP mailbox SP entry-values
//! entries     = entry / "(" entry *(SP entry) ")"
//! entry-values = "(" entry-value *(SP entry-value) ")"
//! entry-value = entry SP value
//! value       = nstring / literal8
//! maxsize-opt = "MAXSIZE" SP number
//! scope-opt   = "DEPTH" SP ("0" / "1" / "infinity")
//! metadata-resp = "METADATA" SP mailbox SP (entry-values / entry-list)
//! ```

use pochta_types::MailboxName;

use crate::parse::{Cursor, PResult, mailbox_name, syntax};
use crate::response::{write_mailbox, write_string};

/// How far below each named entry GETMETADATA looks (§4.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Depth {
    #[default]
    Zero,
    One,
    Infinity,
}

/// `GETMETADATA [options] mailbox entries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetMetadata {
    /// `None`: the server.
    pub mailbox: Option<MailboxName>,
    pub maxsize: Option<u32>,
    pub depth: Depth,
    /// Lower-case, valid, at least one.
    pub entries: Vec<String>,
}

/// `SETMETADATA mailbox (entry value ...)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetMetadata {
    pub mailbox: Option<MailboxName>,
    /// (lower-case entry, value); `None` removes.
    pub entries: Vec<(String, Option<Vec<u8>>)>,
}

/// Whether an entry name is valid (§3.2); `name` is already lower-case.
pub fn valid_entry(name: &str) -> bool {
    let ok_chars = name
        .bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'*' && b != b'%');
    let scoped = name
        .strip_prefix("/private/")
        .or_else(|| name.strip_prefix("/shared/"))
        .is_some_and(|rest| !rest.is_empty());
    ok_chars && scoped && !name.contains("//") && !name.ends_with('/')
}

fn entry(c: &mut Cursor<'_>) -> PResult<String> {
    let raw = c.astring()?;
    let name = String::from_utf8(raw)
        .ok()
        .map(|s| s.to_ascii_lowercase())
        .filter(|s| valid_entry(s));
    match name {
        Some(n) => Ok(n),
        None => syntax("invalid metadata entry name"),
    }
}

fn mailbox_or_server(c: &mut Cursor<'_>) -> PResult<Option<MailboxName>> {
    let raw = c.astring()?;
    if raw.is_empty() {
        return Ok(None);
    }
    let s = c.decode_name(&raw)?;
    mailbox_name(&s).map(Some)
}

/// `(MAXSIZE n DEPTH d)`.
fn options(
    c: &mut Cursor<'_>,
    maxsize: &mut Option<u32>,
    depth: &mut Option<Depth>,
) -> PResult<()> {
    c.paren_list(1, |c| {
        match c.keyword()?.as_str() {
            "MAXSIZE" if maxsize.is_none() => {
                c.sp()?;
                *maxsize = Some(c.number()?);
            }
            "DEPTH" if depth.is_none() => {
                c.sp()?;
                *depth = Some(match c.keyword()?.as_str() {
                    "0" => Depth::Zero,
                    "1" => Depth::One,
                    "INFINITY" => Depth::Infinity,
                    _ => return syntax("DEPTH is 0, 1 or infinity"),
                });
            }
            other => return syntax(format!("unknown or repeated GETMETADATA option {other}")),
        }
        Ok(())
    })?;
    Ok(())
}

/// Whether a parenthesised list of options (not of entries) comes next.
fn options_next(c: &Cursor<'_>) -> bool {
    let r = c.rest();
    r.first() == Some(&b'(') && r.get(1).is_some_and(|b| b.is_ascii_alphabetic())
}

pub(crate) fn getmetadata(c: &mut Cursor<'_>) -> PResult<GetMetadata> {
    c.sp()?;
    let mut maxsize = None;
    let mut depth = None;
    // The ABNF (§5) puts the options before the mailbox, the examples (§4.2.1, §4.2.2)
    // after it: both are accepted.
    if options_next(c) {
        options(c, &mut maxsize, &mut depth)?;
        c.sp()?;
    }
    let mailbox = mailbox_or_server(c)?;
    c.sp()?;
    if options_next(c) {
        options(c, &mut maxsize, &mut depth)?;
        c.sp()?;
    }
    let entries = if c.peek() == Some(b'(') {
        c.paren_list(1, entry)?
    } else {
        vec![entry(c)?]
    };
    Ok(GetMetadata {
        mailbox,
        maxsize,
        depth: depth.unwrap_or_default(),
        entries,
    })
}

pub(crate) fn setmetadata(c: &mut Cursor<'_>) -> PResult<SetMetadata> {
    c.sp()?;
    let mailbox = mailbox_or_server(c)?;
    c.sp()?;
    let entries = c.paren_list(1, |c| {
        let name = entry(c)?;
        c.sp()?;
        let value = if c.peek() == Some(b'~') {
            Some(c.literal_any()?.0.to_vec())
        } else {
            c.nstring()?
        };
        Ok((name, value))
    })?;
    Ok(SetMetadata { mailbox, entries })
}

/// `* METADATA mailbox (entry value ...)`; a `None` value is written NIL; values with NUL
/// go as literal8.
pub fn write_metadata(
    out: &mut Vec<u8>,
    mailbox: Option<&MailboxName>,
    utf8: bool,
    entries: &[(String, Option<Vec<u8>>)],
) {
    out.extend_from_slice(b"* METADATA ");
    match mailbox {
        Some(m) => write_mailbox(out, m, utf8),
        None => out.extend_from_slice(b"\"\""),
    }
    out.extend_from_slice(b" (");
    for (i, (name, value)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        write_string(out, name.as_bytes());
        out.push(b' ');
        match value {
            None => out.extend_from_slice(b"NIL"),
            Some(v) if v.contains(&0) => {
                out.extend_from_slice(format!("~{{{}}}\r\n", v.len()).as_bytes());
                out.extend_from_slice(v);
            }
            Some(v) => write_string(out, v),
        }
    }
    out.extend_from_slice(b")\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CommandBody, ParseOptions, parse_command};

    fn parse(s: &str) -> Result<CommandBody, crate::ParseError> {
        parse_command(s.as_bytes(), ParseOptions::default()).map(|c| c.body)
    }

    #[test]
    fn commands() {
        let CommandBody::GetMetadata(g) = parse(
            "a GETMETADATA (MAXSIZE 1024 DEPTH infinity) \"\" (/Shared/Comment /private/x)\r\n",
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(g.mailbox, None);
        assert_eq!(g.maxsize, Some(1024));
        assert_eq!(g.depth, Depth::Infinity);
        assert_eq!(g.entries, vec!["/shared/comment", "/private/x"]);
        let CommandBody::GetMetadata(g) =
            parse("a GETMETADATA \"INBOX\" (MAXSIZE 5) (/shared/comment)\r\n").unwrap()
        else {
            panic!()
        };
        assert_eq!((g.maxsize, g.entries.len()), (Some(5), 1));
        let CommandBody::SetMetadata(s) =
            parse("a SETMETADATA INBOX (/private/comment {3}\r\nabc /shared/x NIL)\r\n").unwrap()
        else {
            panic!()
        };
        assert_eq!(s.mailbox.unwrap().as_str(), "INBOX");
        assert_eq!(
            s.entries[0],
            ("/private/comment".into(), Some(b"abc".to_vec()))
        );
        assert_eq!(s.entries[1], ("/shared/x".into(), None));
        for bad in [
            "a GETMETADATA INBOX /comment\r\n",
            "a GETMETADATA INBOX /private/\r\n",
            "a GETMETADATA INBOX /private//x\r\n",
            "a GETMETADATA INBOX /private/*\r\n",
            "a GETMETADATA (DEPTH 2) INBOX /private/x\r\n",
            "a SETMETADATA INBOX /private/x \"v\"\r\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let mut out = Vec::new();
        write_metadata(
            &mut out,
            None,
            false,
            &[
                ("/shared/admin".into(), Some(b"mailto:x".to_vec())),
                ("/private/y".into(), None),
            ],
        );
        assert_eq!(
            out,
            b"* METADATA \"\" (\"/shared/admin\" \"mailto:x\" \"/private/y\" NIL)\r\n"
        );
    }
}
