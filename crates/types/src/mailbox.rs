//! Mailbox names.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The hierarchy separator of every Pochta mailbox name.
pub const SEPARATOR: char = '/';

/// Longest mailbox name in bytes (UTF-8) we accept.
pub const MAX_NAME_LEN: usize = 512;
/// Deepest hierarchy we accept.
pub const MAX_DEPTH: usize = 32;

/// A mailbox name: Unicode, `/`-separated, no empty level, no control characters, no
/// wildcards. `INBOX` (any case) as the first level is stored as `INBOX` (RFC 3501 §5.1).
/// The name is data only; nothing in Pochta turns it into a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MailboxName(String);

/// Why a mailbox name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailboxNameError {
    #[error("mailbox name is empty")]
    Empty,
    #[error("mailbox name is longer than {MAX_NAME_LEN} bytes")]
    TooLong,
    #[error("mailbox name is nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("mailbox name has an empty level (leading, trailing or doubled '/')")]
    EmptyLevel,
    #[error("mailbox name contains a control character")]
    Control,
    #[error("mailbox name contains a wildcard ('%' or '*')")]
    Wildcard,
    #[error("mailbox name level may not be '.' or '..'")]
    DotLevel,
}

impl MailboxName {
    /// The INBOX.
    pub fn inbox() -> Self {
        Self("INBOX".to_string())
    }

    /// Validate and normalise a Unicode name.
    pub fn new(name: &str) -> Result<Self, MailboxNameError> {
        if name.is_empty() {
            return Err(MailboxNameError::Empty);
        }
        if name.len() > MAX_NAME_LEN {
            return Err(MailboxNameError::TooLong);
        }
        let mut levels = 0;
        for level in name.split(SEPARATOR) {
            levels += 1;
            if level.is_empty() {
                return Err(MailboxNameError::EmptyLevel);
            }
            if level == "." || level == ".." {
                return Err(MailboxNameError::DotLevel);
            }
        }
        if levels > MAX_DEPTH {
            return Err(MailboxNameError::TooDeep);
        }
        if name.chars().any(|c| c.is_control()) {
            return Err(MailboxNameError::Control);
        }
        if name.contains(['%', '*']) {
            return Err(MailboxNameError::Wildcard);
        }
        let normalised = match name.split_once(SEPARATOR) {
            Some((first, rest)) if first.eq_ignore_ascii_case("INBOX") => format!("INBOX/{rest}"),
            None if name.eq_ignore_ascii_case("INBOX") => "INBOX".to_string(),
            _ => name.to_string(),
        };
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_inbox(&self) -> bool {
        self.0 == "INBOX"
    }

    /// The parent's name, if this is not a top-level name.
    pub fn parent(&self) -> Option<MailboxName> {
        self.0
            .rsplit_once(SEPARATOR)
            .map(|(p, _)| MailboxName(p.to_string()))
    }

    /// Every ancestor, nearest last: `a/b/c` gives `a`, `a/b`.
    pub fn ancestors(&self) -> Vec<MailboxName> {
        let mut out = Vec::new();
        let mut end = 0;
        while let Some(i) = self.0[end..].find(SEPARATOR) {
            end += i;
            out.push(MailboxName(self.0[..end].to_string()));
            end += 1;
        }
        out
    }

    /// True if `self` is a strict descendant of `other`.
    pub fn is_child_of(&self, other: &MailboxName) -> bool {
        self.0.len() > other.0.len()
            && self.0.starts_with(&other.0)
            && self.0[other.0.len()..].starts_with(SEPARATOR)
    }

    /// The last level.
    pub fn leaf(&self) -> &str {
        self.0.rsplit(SEPARATOR).next().unwrap_or(&self.0)
    }
}

impl fmt::Display for MailboxName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_normalised() {
        assert_eq!(MailboxName::new("inbox").unwrap().as_str(), "INBOX");
        assert_eq!(
            MailboxName::new("InBox/Work").unwrap().as_str(),
            "INBOX/Work"
        );
        assert_eq!(MailboxName::new("INBOXES").unwrap().as_str(), "INBOXES");
        let n = MailboxName::new("Входящие/Работа").unwrap();
        assert_eq!(n.parent().unwrap().as_str(), "Входящие");
        assert_eq!(n.leaf(), "Работа");
        assert!(n.is_child_of(&MailboxName::new("Входящие").unwrap()));
        assert!(
            !MailboxName::new("ab")
                .unwrap()
                .is_child_of(&MailboxName::new("a").unwrap())
        );
        let deep = MailboxName::new("a/b/c").unwrap();
        let anc: Vec<_> = deep.ancestors().iter().map(|m| m.to_string()).collect();
        assert_eq!(anc, ["a", "a/b"]);
    }

    #[test]
    fn refused() {
        use MailboxNameError::*;
        assert_eq!(MailboxName::new(""), Err(Empty));
        assert_eq!(MailboxName::new("/a"), Err(EmptyLevel));
        assert_eq!(MailboxName::new("a/"), Err(EmptyLevel));
        assert_eq!(MailboxName::new("a//b"), Err(EmptyLevel));
        assert_eq!(MailboxName::new("INBOX/../x"), Err(DotLevel));
        assert_eq!(MailboxName::new("a\nb"), Err(Control));
        assert_eq!(MailboxName::new("a*"), Err(Wildcard));
        assert_eq!(
            MailboxName::new("a/".repeat(40).trim_end_matches('/')),
            Err(TooDeep)
        );
    }
}
