//! URLAUTH (RFC 4467 §7, §8, §9): RESETKEY, GENURLAUTH and URLFETCH, and their responses.
//! The URLs are carried as written; `pochta-urlauth` parses and validates them.
//!
//! Implementation notes (what always holds):
//! - RESETKEY's mailbox is a mailbox name as everywhere (modified UTF-7 unless UTF8=ACCEPT);
//!   mechanisms are atoms, upper-cased.
//! - GENURLAUTH takes one or more (URL, mechanism) pairs; URLFETCH one or more URLs, each an
//!   astring (RFC 4467 §9). At most [`MAX_URLS`] in one command.
//! - `* URLFETCH url nstring`: the data is a string (a literal8 if it holds NUL); `NIL` for
//!   a URL that failed validation (§7).
//!
//! ```abnf
//! resetkey        = "RESETKEY" [SP mailbox *(SP mechanism)]
//! genurlauth      = "GENURLAUTH" 1*(SP url-rump SP mechanism)
//! urlfetch        = "URLFETCH" 1*(SP url-full)
//! genurlauth-data = "*" SP "GENURLAUTH" 1*(SP url-full)
//! urlfetch-data   = "*" SP "URLFETCH" 1*(SP url-full SP nstring)
//! ```

use pochta_types::MailboxName;

use crate::parse::{Cursor, PResult, syntax};
use crate::response::{LiteralForm, write_astring, write_string_with};

/// The most URLs one GENURLAUTH or URLFETCH may carry.
pub const MAX_URLS: usize = 100;

/// One of the three URLAUTH commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlAuth {
    /// `RESETKEY [mailbox *(SP mechanism)]`.
    ResetKey {
        mailbox: Option<MailboxName>,
        mechanisms: Vec<String>,
    },
    /// `GENURLAUTH` (URL, mechanism upper-cased) pairs.
    GenUrlAuth(Vec<(Vec<u8>, String)>),
    /// `URLFETCH` URLs.
    UrlFetch(Vec<Vec<u8>>),
}

impl UrlAuth {
    pub fn name(&self) -> &'static str {
        match self {
            UrlAuth::ResetKey { .. } => "RESETKEY",
            UrlAuth::GenUrlAuth(_) => "GENURLAUTH",
            UrlAuth::UrlFetch(_) => "URLFETCH",
        }
    }
}

fn mechanism(c: &mut Cursor<'_>) -> PResult<String> {
    let m = c.keyword()?;
    if m.is_empty()
        || !m
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return syntax("bad URLAUTH mechanism name");
    }
    Ok(m)
}

/// The arguments after the command `name` (upper-cased).
pub(crate) fn urlauth(c: &mut Cursor<'_>, name: &[u8]) -> PResult<UrlAuth> {
    match name {
        b"RESETKEY" => {
            if !c.at_sp() {
                return Ok(UrlAuth::ResetKey {
                    mailbox: None,
                    mechanisms: Vec::new(),
                });
            }
            c.sp()?;
            let mailbox = c.mailbox()?;
            let mut mechanisms = Vec::new();
            while c.at_sp() {
                c.sp()?;
                mechanisms.push(mechanism(c)?);
                if mechanisms.len() > MAX_URLS {
                    return syntax("too many mechanisms");
                }
            }
            Ok(UrlAuth::ResetKey {
                mailbox: Some(mailbox),
                mechanisms,
            })
        }
        b"GENURLAUTH" => {
            let mut pairs = Vec::new();
            loop {
                c.sp()?;
                let url = c.astring()?;
                c.sp()?;
                pairs.push((url, mechanism(c)?));
                if pairs.len() > MAX_URLS {
                    return syntax("too many URLs");
                }
                if !c.at_sp() {
                    return Ok(UrlAuth::GenUrlAuth(pairs));
                }
            }
        }
        _ => {
            let mut urls = Vec::new();
            loop {
                c.sp()?;
                urls.push(c.astring()?);
                if urls.len() > MAX_URLS {
                    return syntax("too many URLs");
                }
                if !c.at_sp() {
                    return Ok(UrlAuth::UrlFetch(urls));
                }
            }
        }
    }
}

/// `* GENURLAUTH url...`.
pub fn write_genurlauth(out: &mut Vec<u8>, urls: &[String]) {
    out.extend_from_slice(b"* GENURLAUTH");
    for u in urls {
        out.push(b' ');
        write_astring(out, u.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// `* URLFETCH url nstring` for one URL.
pub fn write_urlfetch(out: &mut Vec<u8>, url: &[u8], data: Option<&[u8]>) {
    out.extend_from_slice(b"* URLFETCH ");
    write_astring(out, url);
    out.push(b' ');
    match data {
        Some(d) => write_string_with(
            out,
            d,
            false,
            LiteralForm {
                binary: d.contains(&0),
                non_sync: false,
            },
        ),
        None => out.extend_from_slice(b"NIL"),
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use crate::{CommandBody, ParseOptions, parse_command};

    use super::*;

    fn body(line: &str) -> Result<CommandBody, String> {
        parse_command(line.as_bytes(), ParseOptions::default())
            .map(|c| c.body)
            .map_err(|e| e.message)
    }

    #[test]
    fn commands() {
        assert_eq!(
            body("a RESETKEY\r\n"),
            Ok(CommandBody::UrlAuth(UrlAuth::ResetKey {
                mailbox: None,
                mechanisms: vec![]
            }))
        );
        assert_eq!(
            body("a resetkey INBOX internal\r\n"),
            Ok(CommandBody::UrlAuth(UrlAuth::ResetKey {
                mailbox: Some(MailboxName::inbox()),
                mechanisms: vec!["INTERNAL".into()]
            }))
        );
        assert_eq!(
            body("a GENURLAUTH \"imap://a@b/INBOX/;uid=1;urlauth=anonymous\" INTERNAL x X-Z\r\n"),
            Ok(CommandBody::UrlAuth(UrlAuth::GenUrlAuth(vec![
                (
                    b"imap://a@b/INBOX/;uid=1;urlauth=anonymous".to_vec(),
                    "INTERNAL".into()
                ),
                (b"x".to_vec(), "X-Z".into()),
            ])))
        );
        assert_eq!(
            body("a URLFETCH u1 {2}\r\nu2\r\n"),
            Ok(CommandBody::UrlAuth(UrlAuth::UrlFetch(vec![
                b"u1".to_vec(),
                b"u2".to_vec()
            ])))
        );
        for bad in [
            "a GENURLAUTH\r\n",
            "a GENURLAUTH url\r\n",
            "a GENURLAUTH url x_y\r\n",
            "a URLFETCH\r\n",
            "a URLFETCH \r\n",
            "a RESETKEY INBOX (\r\n",
        ] {
            assert!(body(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn responses() {
        let mut out = Vec::new();
        write_genurlauth(
            &mut out,
            &["imap://a@b/I/;UID=1;URLAUTH=anonymous:internal:00".into()],
        );
        assert_eq!(
            out,
            b"* GENURLAUTH imap://a@b/I/;UID=1;URLAUTH=anonymous:internal:00\r\n"
        );
        let mut out = Vec::new();
        write_urlfetch(&mut out, b"u", Some(b"a\r\nb"));
        write_urlfetch(&mut out, b"v", None);
        write_urlfetch(&mut out, b"w", Some(b"\0"));
        assert_eq!(
            out,
            b"* URLFETCH u {4}\r\na\r\nb\r\n* URLFETCH v NIL\r\n* URLFETCH w ~{1}\r\n\0\r\n"
        );
    }
}
