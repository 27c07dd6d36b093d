//! URLAUTH (RFC 4467 §7, §8, §9): RESETKEY, GENURLAUTH and URLFETCH, and their responses;
//! URLFETCH's parameters and metadata (URLAUTH=BINARY, RFC 5524 §3, §5).
//! The URLs are carried as written; `pochta-urlauth` parses and validates them.
//!
//! Implementation notes (what always holds):
//! - RESETKEY's mailbox is a mailbox name as everywhere (modified UTF-7 unless UTF8=ACCEPT);
//!   mechanisms are atoms, upper-cased.
//! - GENURLAUTH takes one or more (URL, mechanism) pairs; URLFETCH one or more URLs, each an
//!   astring (RFC 4467 §9). At most [`MAX_URLS`] in one command.
//! - `* URLFETCH url nstring`: the data is a string (a literal8 if it holds NUL); `NIL` for
//!   a URL that failed validation (§7).
//! - RFC 5524 §3.1: a URL in parentheses carries parameters, `BODY`, `BINARY` and
//!   `BODYPARTSTRUCTURE` (case-insensitive, any order, a repeat is the same request). `BODY`
//!   and `BINARY` together, or any other parameter, is a syntax error (tagged BAD).
//! - RFC 5524 §3.2, §5: the answer to such a URL is `url` followed by one parenthesized
//!   item per metadata element, each on its own: `(BODYPARTSTRUCTURE body)` first, then
//!   `(BODY nstring)` or `(BINARY nstring8)`; `url NIL` when the URL fails. BINARY data is a
//!   literal8 when it holds NUL; `(BINARY NIL)` when the part cannot be decoded.
//!
//! ```abnf
//! resetkey        = "RESETKEY" [SP mailbox *(SP mechanism)]
//! genurlauth      = "GENURLAUTH" 1*(SP url-rump SP mechanism)
//! urlfetch        = "URLFETCH" 1*(SP url-fetch-arg)             ; RFC 5524 §5
//! url-fetch-arg   = url-full / "(" url-full *(SP url-fetch-param) ")"
//! url-fetch-param = "BODY" / "BINARY" / "BODYPARTSTRUCTURE"
//! genurlauth-data = "*" SP "GENURLAUTH" 1*(SP url-full)
//! urlfetch-data   = "*" SP "URLFETCH" 1*(SP url-fetch-data)
//! url-fetch-data  = url-full SP nstring / url-full *(SP "(" url-metadata-el ")")
//! url-metadata-el = "BODYPARTSTRUCTURE" SP body / "BODY" SP nstring / "BINARY" SP nstring8
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
    /// `URLFETCH` URLs, each with its RFC 5524 parameters if it has any.
    UrlFetch(Vec<UrlFetchArg>),
}

/// One URL of a URLFETCH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlFetchArg {
    pub url: Vec<u8>,
    /// `None` for a bare URL (RFC 4467: the data as stored); the parameters of a URL in
    /// parentheses (RFC 5524).
    pub params: Option<FetchParams>,
}

impl UrlFetchArg {
    /// A bare URL.
    pub fn plain(url: impl Into<Vec<u8>>) -> Self {
        UrlFetchArg {
            url: url.into(),
            params: None,
        }
    }
}

/// What RFC 5524 parameters ask for one URL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct FetchParams {
    /// `BODYPARTSTRUCTURE`.
    pub structure: bool,
    /// `BODY` or `BINARY` (never both).
    pub data: Option<DataForm>,
}

/// How the data of a URL is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataForm {
    /// `BODY`: as stored (the content-transfer-encoding kept).
    Body,
    /// `BINARY`: with the content-transfer-encoding removed.
    Binary,
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
                urls.push(url_fetch_arg(c)?);
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

/// `url-full / "(" url-full *(SP url-fetch-param) ")"`.
fn url_fetch_arg(c: &mut Cursor<'_>) -> PResult<UrlFetchArg> {
    if !c.eat(b'(') {
        return Ok(UrlFetchArg::plain(c.astring()?));
    }
    let url = c.astring()?;
    let mut params = FetchParams::default();
    while c.at_sp() {
        c.sp()?;
        let data = match c.keyword()?.as_str() {
            "BODYPARTSTRUCTURE" => {
                params.structure = true;
                continue;
            }
            "BODY" => DataForm::Body,
            "BINARY" => DataForm::Binary,
            _ => return syntax("unknown URLFETCH parameter"),
        };
        if params.data.is_some_and(|d| d != data) {
            return syntax("URLFETCH BODY and BINARY exclude each other (RFC 5524 §3.1)");
        }
        params.data = Some(data);
    }
    c.expect(b')', "')' after the URLFETCH parameters")?;
    Ok(UrlFetchArg {
        url,
        params: Some(params),
    })
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

/// What one URL of an extended URLFETCH (RFC 5524) returns, for
/// [`write_urlfetch_ext`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlMetadata<'a> {
    /// The `body` of `BODYPARTSTRUCTURE`, rendered (RFC 9051 §9 `body`).
    pub structure: Option<&'a str>,
    /// `BODY`/`BINARY` with the data, `None` data being `NIL` (a part BINARY cannot decode).
    pub data: Option<(DataForm, Option<&'a [u8]>)>,
}

/// `* URLFETCH url (BODYPARTSTRUCTURE ...) (BINARY ...)` for one URL of an extended
/// URLFETCH; `* URLFETCH url NIL` for a URL that failed (`meta` `None`).
pub fn write_urlfetch_ext(out: &mut Vec<u8>, url: &[u8], meta: Option<&UrlMetadata<'_>>) {
    out.extend_from_slice(b"* URLFETCH ");
    write_astring(out, url);
    let Some(meta) = meta else {
        out.extend_from_slice(b" NIL\r\n");
        return;
    };
    if let Some(s) = meta.structure {
        out.extend_from_slice(b" (BODYPARTSTRUCTURE ");
        out.extend_from_slice(s.as_bytes());
        out.push(b')');
    }
    if let Some((form, data)) = meta.data {
        out.extend_from_slice(match form {
            DataForm::Body => &b" (BODY "[..],
            DataForm::Binary => &b" (BINARY "[..],
        });
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
        out.push(b')');
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
                UrlFetchArg::plain("u1"),
                UrlFetchArg::plain("u2")
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
