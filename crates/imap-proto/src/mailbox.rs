//! CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE (RFC 9051 §6.3.4–6.3.8; CREATE-SPECIAL-USE
//! RFC 6154 §3).
//!
//! Implementation notes:
//! - Names are validated [`MailboxName`]s; a trailing separator on CREATE is dropped
//!   (RFC 3501 §6.3.3).
//! - `CREATE name (USE (...))` keeps only recognised special-use attributes; an unknown one is
//!   a syntax error (RFC 6154 §3 lets the server refuse it with `NO [USEATTR]`; we report it as
//!   a parse error so the session can do so).
//!
//! ```abnf
//! create        = "CREATE" SP mailbox [create-params]                ; RFC 4466
//! create-params = SP "(" create-param *(SP create-param) ")"
//! create-param  = "USE" SP "(" [use-attr *(SP use-attr)] ")"          ; RFC 6154
//! delete        = "DELETE" SP mailbox
//! rename        = "RENAME" SP mailbox SP mailbox
//! subscribe     = "SUBSCRIBE" SP mailbox
//! unsubscribe   = "UNSUBSCRIBE" SP mailbox
//! ```

use pochta_types::{MailboxName, SpecialUse};

use crate::parse::{Cursor, PResult, syntax};

/// `CREATE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Create {
    pub mailbox: MailboxName,
    /// Special-use attributes requested with `(USE (...))`.
    pub special_use: Vec<SpecialUse>,
}

/// `RENAME from to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rename {
    pub from: MailboxName,
    pub to: MailboxName,
}

pub(crate) fn one(c: &mut Cursor<'_>) -> PResult<MailboxName> {
    c.sp()?;
    c.mailbox()
}

pub(crate) fn create(c: &mut Cursor<'_>) -> PResult<Create> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut special_use = Vec::new();
    if c.at_sp() {
        c.sp()?;
        c.paren_list(1, |c| {
            if !c.eat_keyword("USE") {
                return syntax("unknown CREATE parameter");
            }
            c.sp()?;
            let uses = c.paren_list(0, |c| {
                c.expect(b'\\', "a special-use attribute")?;
                let a = c.atom()?;
                let s = format!("\\{}", String::from_utf8_lossy(a));
                SpecialUse::parse(&s)
                    .map_or_else(|| syntax(format!("unknown special-use attribute {s}")), Ok)
            })?;
            special_use.extend(uses);
            Ok(())
        })?;
    }
    Ok(Create {
        mailbox,
        special_use,
    })
}

pub(crate) fn rename(c: &mut Cursor<'_>) -> PResult<Rename> {
    c.sp()?;
    let from = c.mailbox()?;
    c.sp()?;
    let to = c.mailbox()?;
    Ok(Rename { from, to })
}
