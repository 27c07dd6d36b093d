//! CATENATE (RFC 4469): an APPEND message built from text literals and IMAP URLs (parsed
//! by `pochta-urlauth`'s `url` module, which the session uses).
//!
//! Implementation notes (what always holds):
//! - `CATENATE (...)` replaces the literal of one APPEND (or REPLACE) message (RFC 4469 §5);
//!   it holds one or more parts in order, each a `TEXT` literal (literal8 allowed, RFC 4469
//!   §7 with BINARY) or a `URL` astring.
//! - URLs are only parsed here, never fetched: the session resolves them with the user's
//!   rights and answers `NO [BADURL url]` for any it cannot (RFC 4469 §5).
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
