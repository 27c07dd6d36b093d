//! APPEND with MULTIAPPEND (RFC 3502), BINARY literal8 (RFC 3516 §4.4) and UTF8 (RFC 6855 §4).
//!
//! Implementation notes:
//! - One APPEND carries one or more messages; each has its own optional flags and date
//!   (RFC 3502 §6). The session must append all of them or none.
//! - The message bytes are copied out of the framed command; the framer already bounded their
//!   size ([`crate::Limits`]).
//! - `append-ext` (RFC 4466) other than UTF8 is not recognised and is a syntax error.
//!
//! ```abnf
//! append          = "APPEND" SP mailbox 1*append-message             ; RFC 3502
//! append-message  = append-opts SP append-data
//! append-opts     = [SP flag-list] [SP date-time]
//! append-data     = literal / literal8 / append-data-ext
//! append-data-ext = "UTF8" SP "(" literal8 ")"                       ; RFC 6855
//!                 / "CATENATE" SP "(" cat-part *(SP cat-part) ")"    ; RFC 4469
//! ```

use pochta_types::{Flag, MailboxName};

use crate::core::DateTime;
use crate::parse::{Cursor, PResult, syntax};

/// How the message was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AppendDataKind {
    /// `{n}` / `{n+}`: 8-bit without NUL.
    Literal,
    /// `~{n}`: binary (RFC 3516); may contain NUL.
    Literal8,
    /// `UTF8 (~{n})` (RFC 6855).
    Utf8,
    /// `CATENATE (...)` (RFC 4469): the message is built from [`AppendMessage::parts`].
    Catenate,
}

/// One message of an APPEND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendMessage {
    pub flags: Vec<Flag>,
    pub date: Option<DateTime>,
    pub kind: AppendDataKind,
    /// The message; empty for CATENATE until the session has assembled it.
    pub data: Vec<u8>,
    /// The parts of a CATENATE, in order (empty otherwise).
    pub parts: Vec<crate::catenate::CatPart>,
}

/// `APPEND mailbox message...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Append {
    pub mailbox: MailboxName,
    /// Never empty.
    pub messages: Vec<AppendMessage>,
}

pub(crate) fn message(c: &mut Cursor<'_>) -> PResult<AppendMessage> {
    let mut flags = Vec::new();
    let mut date = None;
    if c.peek() == Some(b'(') {
        flags = c.flag_list()?;
        c.sp()?;
    }
    if c.peek() == Some(b'"') {
        date = Some(c.date_time()?);
        c.sp()?;
    }
    let mut parts = Vec::new();
    let (kind, data) = if c.eat_keyword("CATENATE") {
        c.sp()?;
        parts = crate::catenate::cat_parts(c)?;
        (AppendDataKind::Catenate, Vec::new())
    } else if c.eat_keyword("UTF8") {
        c.sp()?;
        c.expect(b'(', "'('")?;
        let (d, k) = c.literal_any()?;
        if !k.is_binary() {
            return syntax("UTF8 needs a literal8 (~{n})");
        }
        c.expect(b')', "')'")?;
        (AppendDataKind::Utf8, d.to_vec())
    } else if c.peek() == Some(b'~') {
        (AppendDataKind::Literal8, c.literal_any()?.0.to_vec())
    } else if c.peek() == Some(b'{') {
        (AppendDataKind::Literal, c.literal()?.to_vec())
    } else {
        return syntax("expected the message as a literal");
    };
    Ok(AppendMessage {
        flags,
        date,
        kind,
        data,
        parts,
    })
}

pub(crate) fn append(c: &mut Cursor<'_>) -> PResult<Append> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut messages = Vec::new();
    while c.at_sp() {
        c.sp()?;
        messages.push(message(c)?);
    }
    if messages.is_empty() {
        return syntax("APPEND needs a message");
    }
    Ok(Append { mailbox, messages })
}
