//! LIST (with LIST-EXTENDED, RFC 5258 §3; LIST-STATUS RFC 5819; SPECIAL-USE RFC 6154) and LSUB
//! (RFC 3501 §6.3.9).
//!
//! Implementation notes:
//! - The reference and the patterns are not mailbox names (they may be empty and contain `%`
//!   and `*`), so they are kept as decoded Unicode strings, not [`pochta_types::MailboxName`].
//! - Unknown selection or return options are syntax errors (RFC 5258 §3 says a server MUST
//!   reject unrecognised options with BAD, except option-extensions it knows).
//! - `RECURSIVEMATCH` alone is invalid (RFC 5258 §3.1) and refused here.
//!
//! ```abnf
//! list               = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
//!                      [SP list-return-opts]
//! list-select-opts   = "(" [list-select-option *(SP list-select-option)] ")"
//! list-select-option = "SUBSCRIBED" / "REMOTE" / "RECURSIVEMATCH" / "SPECIAL-USE"
//! mbox-or-pat        = list-mailbox / patterns
//! patterns           = "(" list-mailbox *(SP list-mailbox) ")"
//! list-return-opts   = "RETURN" SP "(" [return-option *(SP return-option)] ")"
//! return-option      = "SUBSCRIBED" / "CHILDREN" / "SPECIAL-USE" /
//!                      "STATUS" SP "(" status-att *(SP status-att) ")" /
//!                      "MYRIGHTS"                                    ; RFC 8440
//! lsub               = "LSUB" SP mailbox SP list-mailbox
//! ```

use crate::parse::{Cursor, PResult, syntax};
use crate::status::{StatusItem, status_item};

/// A LIST selection option (RFC 5258 §3.1, RFC 6154 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListSelect {
    Subscribed,
    Remote,
    RecursiveMatch,
    SpecialUse,
}

/// A LIST return option (RFC 5258 §3.2, RFC 5819, RFC 6154).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListReturn {
    Subscribed,
    Children,
    SpecialUse,
    Status(Vec<StatusItem>),
    /// `MYRIGHTS` (RFC 8440 §3): a MYRIGHTS response for each listed mailbox.
    MyRights,
}

/// `LIST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    pub selection: Vec<ListSelect>,
    /// The reference name, decoded (often empty).
    pub reference: String,
    /// The patterns, decoded; `%` and `*` are wildcards. Patterns that are no valid name are
    /// left out (they match nothing), so this may be empty.
    pub patterns: Vec<String>,
    pub returns: Vec<ListReturn>,
    /// Whether the extended syntax was used (selection options, a pattern list or RETURN);
    /// an extended LIST gets extended answers (RFC 5258 §3).
    pub extended: bool,
}

/// `LSUB reference pattern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lsub {
    pub reference: String,
    /// `None`: the reference or pattern is no valid name; nothing matches.
    pub pattern: Option<String>,
}

/// A pattern, decoded; `None` when it is no valid name (not modified UTF-7, or 8-bit without
/// UTF8=ACCEPT): no mailbox can match it, so it lists nothing (as Dovecot does) instead of
/// failing the command.
fn pattern(c: &mut Cursor<'_>) -> PResult<Option<String>> {
    let raw = c.list_mailbox()?;
    Ok(c.decode_name(&raw).ok())
}

fn reference(c: &mut Cursor<'_>) -> PResult<Option<String>> {
    let raw = c.astring()?;
    Ok(c.decode_name(&raw).ok())
}

pub(crate) fn list(c: &mut Cursor<'_>) -> PResult<List> {
    c.sp()?;
    let mut extended = false;
    let mut selection = Vec::new();
    if c.peek() == Some(b'(') {
        extended = true;
        selection = c.paren_list(0, |c| {
            Ok(match c.keyword()?.as_str() {
                "SUBSCRIBED" => ListSelect::Subscribed,
                "REMOTE" => ListSelect::Remote,
                "RECURSIVEMATCH" => ListSelect::RecursiveMatch,
                "SPECIAL-USE" => ListSelect::SpecialUse,
                other => return syntax(format!("unknown LIST selection option {other}")),
            })
        })?;
        if selection.contains(&ListSelect::RecursiveMatch)
            && !selection
                .iter()
                .any(|s| matches!(s, ListSelect::Subscribed | ListSelect::SpecialUse))
        {
            return syntax("RECURSIVEMATCH needs another selection option");
        }
        c.sp()?;
    }
    let reference = reference(c)?;
    c.sp()?;
    let patterns = if c.peek() == Some(b'(') {
        extended = true;
        c.paren_list(1, pattern)?
    } else {
        vec![pattern(c)?]
    };
    // An undecodable reference or pattern matches nothing: it is left out (no patterns at
    // all: an empty answer).
    let (reference, patterns) = match reference {
        Some(r) => (r, patterns.into_iter().flatten().collect()),
        None => (String::new(), Vec::new()),
    };
    let mut returns = Vec::new();
    if c.at_sp() {
        c.sp()?;
        if !c.eat_keyword("RETURN") {
            return syntax("expected RETURN");
        }
        extended = true;
        c.sp()?;
        returns = c.paren_list(0, |c| {
            Ok(match c.keyword()?.as_str() {
                "SUBSCRIBED" => ListReturn::Subscribed,
                "CHILDREN" => ListReturn::Children,
                "SPECIAL-USE" => ListReturn::SpecialUse,
                "MYRIGHTS" => ListReturn::MyRights,
                "STATUS" => {
                    c.sp()?;
                    ListReturn::Status(c.paren_list(1, status_item)?)
                }
                other => return syntax(format!("unknown LIST return option {other}")),
            })
        })?;
    }
    Ok(List {
        selection,
        reference,
        patterns,
        returns,
        extended,
    })
}

pub(crate) fn lsub(c: &mut Cursor<'_>) -> PResult<Lsub> {
    c.sp()?;
    let reference = reference(c)?;
    c.sp()?;
    let pattern = pattern(c)?;
    Ok(match reference {
        Some(reference) => Lsub { reference, pattern },
        None => Lsub {
            reference: String::new(),
            pattern: None,
        },
    })
}
