//! FETCH and UID FETCH (RFC 9051 §6.4.5) with CONDSTORE/QRESYNC modifiers (RFC 7162 §3.1.4,
//! §3.2.6), BINARY (RFC 3516), PREVIEW (RFC 8970), SAVEDATE (RFC 8514) and OBJECTID
//! (RFC 8474).
//!
//! Implementation notes:
//! - The macros ALL, FAST and FULL are expanded at parse time (RFC 9051 §6.4.5), so the
//!   session sees only [`FetchAttr`]s.
//! - Section part numbers are non-zero (`nz-number`); `HEADER.FIELDS` names are kept as the
//!   client wrote them (ASCII, compared case-insensitively by the session).
//! - `VANISHED` without `CHANGEDSINCE` is refused (RFC 7162 §3.2.6), and so is `VANISHED` on a
//!   non-UID FETCH.
//!
//! ```abnf
//! fetch           = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
//!                   "(" fetch-att *(SP fetch-att) ")") [fetch-modifiers]
//! fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"
//! fetch-modifier  = "CHANGEDSINCE" SP mod-sequence-valzer / "VANISHED" /
//!                   "PARTIAL" SP partial-range                        ; RFC 9394
//! fetch-att       = "ENVELOPE" / "FLAGS" / "INTERNALDATE" / "RFC822" [".HEADER" / ".SIZE" /
//!                   ".TEXT"] / "BODY" ["STRUCTURE"] / "UID" /
//!                   "BODY" section [partial] / "BODY.PEEK" section [partial] /
//!                   "BINARY" [".PEEK"] section-binary [partial] /
//!                   "BINARY.SIZE" section-binary / "MODSEQ" / "PREVIEW" [SP "(LAZY)"] /
//!                   "SAVEDATE" / "EMAILID" / "THREADID"
//! section         = "[" [section-spec] "]"
//! section-spec    = section-msgtext / (section-part ["." section-text])
//! section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
//! section-text    = section-msgtext / "MIME"
//! section-part    = nz-number *("." nz-number)
//! section-binary  = "[" [section-part] "]"
//! header-list     = "(" header-fld-name *(SP header-fld-name) ")"
//! partial         = "<" number "." nz-number ">"
//! ```

use std::num::NonZeroU32;

use crate::parse::{Cursor, PResult, syntax};
use crate::sequence::SequenceSet;

/// The text part of a section.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SectionText {
    Header,
    HeaderFields(Vec<Vec<u8>>),
    HeaderFieldsNot(Vec<Vec<u8>>),
    Text,
    /// Only after a part number.
    Mime,
}

/// `[1.2.HEADER.FIELDS (A B)]`; an empty section is the whole message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Section {
    pub part: Vec<NonZeroU32>,
    pub text: Option<SectionText>,
}

/// `<offset.length>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Partial {
    pub offset: u32,
    pub length: NonZeroU32,
}

/// One FETCH data item.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FetchAttr {
    Envelope,
    Flags,
    InternalDate,
    /// `RFC822` (same as `BODY[]`, sets `\Seen`).
    Rfc822,
    Rfc822Header,
    Rfc822Size,
    Rfc822Text,
    /// `BODY` (non-extensible BODYSTRUCTURE).
    Body,
    BodyStructure,
    Uid,
    /// `BODY[section]<partial>` / `BODY.PEEK[...]`.
    BodySection {
        peek: bool,
        section: Section,
        partial: Option<Partial>,
    },
    /// `BINARY[part]<partial>` / `BINARY.PEEK[...]`.
    Binary {
        peek: bool,
        part: Vec<NonZeroU32>,
        partial: Option<Partial>,
    },
    /// `BINARY.SIZE[part]`.
    BinarySize {
        part: Vec<NonZeroU32>,
    },
    ModSeq,
    /// `PREVIEW` / `PREVIEW (LAZY)`.
    Preview {
        lazy: bool,
    },
    SaveDate,
    EmailId,
    ThreadId,
}

/// `[UID] FETCH set items [(modifiers)]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    pub uid: bool,
    pub set: SequenceSet,
    /// Never empty; macros expanded.
    pub attrs: Vec<FetchAttr>,
    /// `CHANGEDSINCE n` (RFC 7162 §3.1.4.1).
    pub changed_since: Option<u64>,
    /// `VANISHED` (RFC 7162 §3.2.6).
    pub vanished: bool,
    /// `PARTIAL range` (RFC 9394 §4): only these positions of the matching messages.
    pub partial: Option<crate::partial::PartialRange>,
}

pub(crate) fn fetch(c: &mut Cursor<'_>, uid: bool) -> PResult<Fetch> {
    c.sp()?;
    let set = c.sequence_set()?;
    c.sp()?;
    let attrs = if c.peek() == Some(b'(') {
        c.paren_list(1, attr)?
    } else if c.eat_keyword("ALL") {
        vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
        ]
    } else if c.eat_keyword("FAST") {
        vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
        ]
    } else if c.eat_keyword("FULL") {
        vec![
            FetchAttr::Flags,
            FetchAttr::InternalDate,
            FetchAttr::Rfc822Size,
            FetchAttr::Envelope,
            FetchAttr::Body,
        ]
    } else {
        vec![attr(c)?]
    };
    let mut changed_since = None;
    let mut vanished = false;
    let mut partial = None;
    if c.at_sp() {
        c.sp()?;
        c.paren_list(1, |c| {
            if c.eat_keyword("CHANGEDSINCE") && changed_since.is_none() {
                c.sp()?;
                changed_since = Some(c.modseq()?);
                Ok(())
            } else if c.eat_keyword("VANISHED") && !vanished {
                vanished = true;
                Ok(())
            } else if partial.is_none() && c.eat_keyword("PARTIAL") {
                c.sp()?;
                partial = Some(crate::partial::partial_range(c)?);
                Ok(())
            } else {
                syntax("unknown or repeated FETCH modifier")
            }
        })?;
        if vanished && (changed_since.is_none() || !uid) {
            return syntax("VANISHED needs UID FETCH with CHANGEDSINCE");
        }
    }
    Ok(Fetch {
        uid,
        set,
        attrs,
        changed_since,
        partial,
        vanished,
    })
}

/// The attribute name: letters, digits and `.`, up to `[`, `<`, space or `)`.
fn name(c: &mut Cursor<'_>) -> PResult<String> {
    let n = c.take_while(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if n.is_empty() {
        return syntax("expected a FETCH item");
    }
    Ok(String::from_utf8_lossy(n).to_ascii_uppercase())
}

fn part(c: &mut Cursor<'_>) -> PResult<Vec<NonZeroU32>> {
    let mut part = Vec::new();
    while c.peek().is_some_and(|b| b.is_ascii_digit()) {
        part.push(c.nz_number()?);
        if !c.eat(b'.') {
            break;
        }
        if !c.peek().is_some_and(|b| b.is_ascii_digit()) {
            // `1.HEADER`: the dot belonged to the part; put it back for the text.
            c.unread(1);
            break;
        }
    }
    if part.len() > 64 {
        return syntax("section part nested too deeply");
    }
    Ok(part)
}

fn header_list(c: &mut Cursor<'_>) -> PResult<Vec<Vec<u8>>> {
    c.sp()?;
    c.paren_list(1, |c| c.astring())
}

pub(crate) fn section(c: &mut Cursor<'_>) -> PResult<Section> {
    c.expect(b'[', "'['")?;
    let part = part(c)?;
    if !part.is_empty() && !c.eat(b'.') {
        c.expect(b']', "']'")?;
        return Ok(Section { part, text: None });
    }
    if c.eat(b']') {
        return Ok(Section { part, text: None });
    }
    let kw = name(c)?;
    let text = match kw.as_str() {
        "HEADER" => SectionText::Header,
        "TEXT" => SectionText::Text,
        "MIME" if !part.is_empty() => SectionText::Mime,
        "HEADER.FIELDS" => SectionText::HeaderFields(header_list(c)?),
        "HEADER.FIELDS.NOT" => SectionText::HeaderFieldsNot(header_list(c)?),
        other => return syntax(format!("unknown section {other}")),
    };
    c.expect(b']', "']'")?;
    Ok(Section {
        part,
        text: Some(text),
    })
}

fn section_binary(c: &mut Cursor<'_>) -> PResult<Vec<NonZeroU32>> {
    c.expect(b'[', "'['")?;
    let p = part(c)?;
    c.expect(b']', "']'")?;
    Ok(p)
}

fn partial(c: &mut Cursor<'_>) -> PResult<Option<Partial>> {
    if !c.eat(b'<') {
        return Ok(None);
    }
    let offset = c.number()?;
    c.expect(b'.', "'.' in partial")?;
    let length = c.nz_number()?;
    c.expect(b'>', "'>'")?;
    Ok(Some(Partial { offset, length }))
}

pub(crate) fn attr(c: &mut Cursor<'_>) -> PResult<FetchAttr> {
    use FetchAttr as A;
    let n = name(c)?;
    Ok(match n.as_str() {
        "ENVELOPE" => A::Envelope,
        "FLAGS" => A::Flags,
        "INTERNALDATE" => A::InternalDate,
        "RFC822" => A::Rfc822,
        "RFC822.HEADER" => A::Rfc822Header,
        "RFC822.SIZE" => A::Rfc822Size,
        "RFC822.TEXT" => A::Rfc822Text,
        "BODYSTRUCTURE" => A::BodyStructure,
        "UID" => A::Uid,
        "MODSEQ" => A::ModSeq,
        "SAVEDATE" => A::SaveDate,
        "EMAILID" => A::EmailId,
        "THREADID" => A::ThreadId,
        "PREVIEW" => {
            let lazy = c.rest().len() >= 7 && c.rest()[..7].eq_ignore_ascii_case(b" (LAZY)");
            if lazy {
                c.skip(7);
            }
            A::Preview { lazy }
        }
        "BODY" | "BODY.PEEK" if c.peek() == Some(b'[') => A::BodySection {
            peek: n == "BODY.PEEK",
            section: section(c)?,
            partial: partial(c)?,
        },
        "BODY" => A::Body,
        "BINARY" | "BINARY.PEEK" => A::Binary {
            peek: n == "BINARY.PEEK",
            part: section_binary(c)?,
            partial: partial(c)?,
        },
        "BINARY.SIZE" => A::BinarySize {
            part: section_binary(c)?,
        },
        other => return syntax(format!("unknown FETCH item {other}")),
    })
}
