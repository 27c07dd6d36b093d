//! CATENATE (RFC 4469): an APPEND message built from text literals and IMAP URLs, and the
//! IMAP URL (RFC 5092) subset CATENATE needs.
//!
//! Implementation notes (what always holds):
//! - `CATENATE (...)` replaces the literal of one APPEND (or REPLACE) message (RFC 4469 §5);
//!   it holds one or more parts in order, each a `TEXT` literal (literal8 allowed, RFC 4469
//!   §7 with BINARY) or a `URL` astring.
//! - URLs are only parsed here, never fetched: the session resolves them with the user's
//!   rights and answers `NO [BADURL url]` for any it cannot (RFC 4469 §5).
//! - Accepted URL forms (RFC 5092 §6): `imap://[user@]host[:port]/<mailbox>...` and the
//!   absolute path `/<mailbox>...`, with `;UIDVALIDITY=n`, `/;UID=n` (required), `/;SECTION=s`
//!   and `/;PARTIAL=offset[.length]`; the mailbox is percent-decoded UTF-8; parameter names
//!   are case-insensitive. Anything else is a bad URL.
//!
//! ```abnf
//! append-data =/ "CATENATE" SP "(" cat-part *(SP cat-part) ")"   ; RFC 4469 §5
//! cat-part    = text-literal / url
//! text-literal = "TEXT" SP literal
//! url         = "URL" SP astring
//! ```

use crate::parse::{Cursor, PResult, syntax};

/// One part of a CATENATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatPart {
    /// `TEXT literal`.
    Text(Vec<u8>),
    /// `URL astring`, as sent.
    Url(Vec<u8>),
}

/// `"(" cat-part *(SP cat-part) ")"` after `CATENATE SP`.
pub(crate) fn cat_parts(c: &mut Cursor<'_>) -> PResult<Vec<CatPart>> {
    c.paren_list(1, |c| {
        let kw = c.keyword()?;
        c.sp()?;
        match kw.as_str() {
            "TEXT" => Ok(CatPart::Text(c.literal_any()?.0.to_vec())),
            "URL" => Ok(CatPart::Url(c.astring()?)),
            other => syntax(format!("unknown CATENATE part {other}")),
        }
    })
}

/// A parsed IMAP URL naming a message or a part of one (RFC 5092).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    /// The mailbox name, decoded.
    pub mailbox: String,
    pub uid_validity: Option<u32>,
    pub uid: u32,
    /// The section as written (`1.2`, `HEADER`, `1.MIME`, `TEXT`), upper-cased.
    pub section: Option<String>,
    /// `;PARTIAL=offset[.length]`.
    pub partial: Option<(u64, Option<u64>)>,
    /// `;URLAUTH=...` and everything after it, as written (RFC 4467 §3).
    pub urlauth: Option<String>,
    /// `user` of `imap://user@host/...`, if given (percent-decoded).
    pub user: Option<String>,
}

fn pct_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `name=value` (name case-insensitive, an optional leading `;`) → value.
fn param<'s>(seg: &'s str, name: &str) -> Option<&'s str> {
    let (k, v) = seg.split_once('=')?;
    let k = k.strip_prefix(';').unwrap_or(k);
    k.eq_ignore_ascii_case(name).then_some(v)
}

impl ImapUrl {
    /// Parse a URL; `None` if it is not one we can resolve (the caller answers BADURL).
    pub fn parse(url: &[u8]) -> Option<ImapUrl> {
        let url = std::str::from_utf8(url).ok()?;
        let mut user = None;
        let path = if url.len() > 7 && url[..7].eq_ignore_ascii_case("imap://") {
            let rest = &url[7..];
            let slash = rest.find('/')?;
            let authority = &rest[..slash];
            if let Some((u, _host)) = authority.rsplit_once('@') {
                // `user;AUTH=mech` keeps only the user.
                let u = u.split(';').next().unwrap_or(u);
                user = Some(pct_decode(u)?);
            }
            &rest[slash..]
        } else {
            url
        };
        let path = path.strip_prefix('/')?;
        // <mailbox>[;UIDVALIDITY=n]/;UID=n[/;SECTION=s][/;PARTIAL=o.l][;URLAUTH=...]
        let (head, rest) = path.split_once("/;")?;
        let (mailbox_enc, validity) = match head.find(';') {
            Some(i) => (&head[..i], Some(&head[i..])),
            None => (head, None),
        };
        let mailbox = pct_decode(mailbox_enc)?;
        if mailbox.is_empty() {
            return None;
        }
        let uid_validity = match validity {
            Some(v) => Some(param(v, "UIDVALIDITY")?.parse().ok()?),
            None => None,
        };
        // [;EXPIRE=...];URLAUTH=... ends the URL (RFC 4467 §3).
        let upper = rest.to_ascii_uppercase();
        let cut = [";EXPIRE=", ";URLAUTH="]
            .iter()
            .filter_map(|m| upper.find(m))
            .min();
        let (rest, urlauth) = match cut {
            Some(i) => (&rest[..i], Some(rest[i + 1..].to_string())),
            None => (rest, None),
        };
        let mut uid = None;
        let mut section = None;
        let mut partial = None;
        for seg in rest.split("/;") {
            if let Some(v) = param(seg, "UID") {
                uid = Some(v.parse::<u32>().ok().filter(|&n| n > 0)?);
            } else if let Some(v) = param(seg, "SECTION") {
                section = Some(pct_decode(v)?.to_ascii_uppercase());
            } else if let Some(v) = param(seg, "PARTIAL") {
                let (o, l) = match v.split_once('.') {
                    Some((o, l)) => (o.parse().ok()?, Some(l.parse().ok()?)),
                    None => (v.parse().ok()?, None),
                };
                partial = Some((o, l));
            } else {
                return None;
            }
        }
        Some(ImapUrl {
            mailbox,
            uid_validity,
            uid: uid?,
            section,
            partial,
            urlauth,
            user,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = ImapUrl::parse(b"/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=1.MIME").unwrap();
        assert_eq!(u.mailbox, "Drafts");
        assert_eq!(u.uid_validity, Some(385759045));
        assert_eq!(u.uid, 20);
        assert_eq!(u.section.as_deref(), Some("1.MIME"));
        let u = ImapUrl::parse(
            b"imap://joe@example.com/%D0%92%D1%85%D0%BE%D0%B4/;uid=3/;section=TEXT/;partial=0.10",
        )
        .unwrap();
        assert_eq!(u.mailbox, "Вход");
        assert_eq!(u.user.as_deref(), Some("joe"));
        assert_eq!(u.partial, Some((0, Some(10))));
        let u = ImapUrl::parse(
            b"imap://joe@example.com/INBOX/;UID=3;EXPIRE=2030-01-01T00:00:00Z;URLAUTH=anonymous:internal:91354a473744909de610943775f92038",
        )
        .unwrap();
        assert_eq!(u.uid, 3);
        assert!(u.urlauth.unwrap().starts_with("EXPIRE="));
        for bad in [
            &b"INBOX/;UID=1"[..],
            b"/INBOX",
            b"/INBOX/;UID=0",
            b"/INBOX/;FOO=1",
            b"/%ZZ/;UID=1",
        ] {
            assert!(
                ImapUrl::parse(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
