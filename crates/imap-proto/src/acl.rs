//! ACL commands and responses (RFC 4314 §3–§4): SETACL, DELETEACL, GETACL, LISTRIGHTS,
//! MYRIGHTS, and the ACL / LISTRIGHTS / MYRIGHTS responses.
//!
//! Implementation notes:
//! - Identifiers are astrings holding UTF-8 (an address, `anyone`, `anonymous`, or a
//!   negative `-name`, §2); they stay text here, what they name is the session's business.
//! - Rights are parsed into [`Rights`] at once, so an unknown letter is a syntax error
//!   (`BAD`, RFC 4314 §3.1); the obsolete `c` and `d` expand as [`Rights`] documents.
//! - `mod-rights` starting with `+` adds, with `-` removes, otherwise replaces (§3.1).
//!
//! ```abnf
//! setacl          = "SETACL" SP mailbox SP identifier SP mod-rights
//! deleteacl       = "DELETEACL" SP mailbox SP identifier
//! getacl          = "GETACL" SP mailbox
//! listrights      = "LISTRIGHTS" SP mailbox SP identifier
//! myrights        = "MYRIGHTS" SP mailbox
//! identifier      = astring
//! mod-rights      = astring            ; +rights to add, -rights to remove, rights to replace
//! rights          = astring
//! acl-data        = "ACL" SP mailbox *(SP identifier SP rights)
//! listrights-data = "LISTRIGHTS" SP mailbox SP identifier SP rights *(SP rights)
//! myrights-data   = "MYRIGHTS" SP mailbox SP rights
//! ```

use pochta_types::{MailboxName, Rights};

use crate::parse::{Cursor, PResult, syntax};
use crate::response::{write_astring, write_mailbox};

/// How SETACL changes an identifier's rights (RFC 4314 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RightsMode {
    Replace,
    Add,
    Remove,
}

/// `SETACL mailbox identifier mod-rights`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAcl {
    pub mailbox: MailboxName,
    pub identifier: String,
    pub mode: RightsMode,
    pub rights: Rights,
}

/// A mailbox and an identifier: DELETEACL and LISTRIGHTS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclEntry {
    pub mailbox: MailboxName,
    pub identifier: String,
}

fn identifier(c: &mut Cursor<'_>) -> PResult<String> {
    let b = c.astring()?;
    match String::from_utf8(b) {
        Ok(s) if !s.is_empty() => Ok(s),
        Ok(_) => syntax("an identifier must not be empty"),
        Err(_) => syntax("an identifier must be UTF-8"),
    }
}

fn rights(text: &str) -> PResult<Rights> {
    Rights::parse(text).map_or_else(|e| syntax(e.to_string()), Ok)
}

pub(crate) fn setacl(c: &mut Cursor<'_>) -> PResult<SetAcl> {
    let entry = entry(c)?;
    c.sp()?;
    let raw = c.astring()?;
    let Ok(text) = String::from_utf8(raw) else {
        return syntax("rights must be letters");
    };
    let (mode, letters) = match text.as_bytes().first() {
        Some(b'+') => (RightsMode::Add, &text[1..]),
        Some(b'-') => (RightsMode::Remove, &text[1..]),
        _ => (RightsMode::Replace, text.as_str()),
    };
    Ok(SetAcl {
        mailbox: entry.mailbox,
        identifier: entry.identifier,
        mode,
        rights: rights(letters)?,
    })
}

/// `SP mailbox SP identifier` (DELETEACL, LISTRIGHTS).
pub(crate) fn entry(c: &mut Cursor<'_>) -> PResult<AclEntry> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    c.sp()?;
    let identifier = identifier(c)?;
    Ok(AclEntry {
        mailbox,
        identifier,
    })
}

/// `* ACL mailbox identifier rights ...` (RFC 4314 §3.6).
pub fn write_acl(out: &mut Vec<u8>, mailbox: &MailboxName, entries: &[(&str, Rights)], utf8: bool) {
    out.extend_from_slice(b"* ACL ");
    write_mailbox(out, mailbox, utf8);
    for (id, r) in entries {
        out.push(b' ');
        write_astring(out, id.as_bytes());
        out.push(b' ');
        write_astring(out, r.to_string().as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// `* LISTRIGHTS mailbox identifier required optional...` (RFC 4314 §3.7): `required` is
/// always granted (may be empty, written `""`), each of `optional` (a string of rights
/// letters) can be granted as a unit.
pub fn write_listrights(
    out: &mut Vec<u8>,
    mailbox: &MailboxName,
    identifier: &str,
    required: Rights,
    optional: &[&str],
    utf8: bool,
) {
    out.extend_from_slice(b"* LISTRIGHTS ");
    write_mailbox(out, mailbox, utf8);
    out.push(b' ');
    write_astring(out, identifier.as_bytes());
    out.push(b' ');
    write_astring(out, required.to_string().as_bytes());
    for r in optional {
        out.push(b' ');
        write_astring(out, r.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// `* MYRIGHTS mailbox rights` (RFC 4314 §3.8).
pub fn write_myrights(out: &mut Vec<u8>, mailbox: &MailboxName, rights: Rights, utf8: bool) {
    out.extend_from_slice(b"* MYRIGHTS ");
    write_mailbox(out, mailbox, utf8);
    out.push(b' ');
    write_astring(out, rights.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> MailboxName {
        MailboxName::new(s).unwrap()
    }

    #[test]
    fn responses() {
        let mut out = Vec::new();
        let lr = Rights::parse("lr").unwrap();
        write_acl(
            &mut out,
            &name("Общие"),
            &[("fred@example.org", Rights::ALL), ("anyone", lr)],
            false,
        );
        assert_eq!(
            out,
            b"* ACL &BB4EMQRJBDgENQ- fred@example.org lrswipkxteacd anyone lr\r\n"
        );
        out.clear();
        write_listrights(
            &mut out,
            &name("INBOX"),
            "smith",
            Rights::NONE,
            &["lr", "s"],
            false,
        );
        assert_eq!(out, b"* LISTRIGHTS INBOX smith \"\" lr s\r\n");
        out.clear();
        write_myrights(
            &mut out,
            &name("INBOX"),
            Rights::parse("rwiptsldaex").unwrap(),
            false,
        );
        assert_eq!(out, b"* MYRIGHTS INBOX lrswipxteacd\r\n");
    }
}
