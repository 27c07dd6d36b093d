//! Message flags and mailbox special-use attributes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A flag a message can carry in the store (RFC 9051 §2.3.2). `\Recent` is not here: it is a
/// property of a session, not of a stored message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Flag {
    Seen,
    Answered,
    Flagged,
    Deleted,
    Draft,
    /// A keyword: an IMAP atom without `\`; stored as given, compared case-insensitively.
    Keyword(String),
}

/// Why a flag could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("unknown system flag {0:?}")]
    UnknownSystemFlag(String),
    #[error("{0:?} is not a valid keyword (an atom of printable ASCII without specials)")]
    InvalidKeyword(String),
    #[error("\\Recent cannot be set by a client")]
    Recent,
}

/// Longest keyword we accept; keeps per-message flag storage bounded.
pub const MAX_KEYWORD_LEN: usize = 128;

impl Flag {
    /// Parse a flag as a client writes it (`\Seen`, `$Forwarded`, `Junk`). System flags are
    /// case-insensitive (RFC 9051 §2.3.2).
    pub fn parse(s: &str) -> Result<Self, FlagError> {
        if let Some(name) = s.strip_prefix('\\') {
            return match name.to_ascii_lowercase().as_str() {
                "seen" => Ok(Flag::Seen),
                "answered" => Ok(Flag::Answered),
                "flagged" => Ok(Flag::Flagged),
                "deleted" => Ok(Flag::Deleted),
                "draft" => Ok(Flag::Draft),
                "recent" => Err(FlagError::Recent),
                _ => Err(FlagError::UnknownSystemFlag(s.to_string())),
            };
        }
        if s.is_empty()
            || s.len() > MAX_KEYWORD_LEN
            || !s.bytes().all(|b| {
                (0x21..0x7f).contains(&b)
                    && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
            })
        {
            return Err(FlagError::InvalidKeyword(s.to_string()));
        }
        Ok(Flag::Keyword(s.to_string()))
    }

    /// The flag as IMAP writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Flag::Seen => "\\Seen",
            Flag::Answered => "\\Answered",
            Flag::Flagged => "\\Flagged",
            Flag::Deleted => "\\Deleted",
            Flag::Draft => "\\Draft",
            Flag::Keyword(k) => k,
        }
    }

    fn bit(&self) -> u8 {
        match self {
            Flag::Seen => 1,
            Flag::Answered => 2,
            Flag::Flagged => 4,
            Flag::Deleted => 8,
            Flag::Draft => 16,
            Flag::Keyword(_) => 0,
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The flags of one message: system flags as bits, keywords as a sorted list without
/// case-insensitive duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flags {
    system: u8,
    keywords: Vec<String>,
}

impl Flags {
    /// No flags.
    pub fn new() -> Self {
        Self::default()
    }

    /// Build from a list, ignoring duplicates.
    pub fn from_flags<'a>(it: impl IntoIterator<Item = &'a Flag>) -> Self {
        let mut f = Self::new();
        for flag in it {
            f.insert(flag);
        }
        f
    }

    /// The system-flag bits (1 seen, 2 answered, 4 flagged, 8 deleted, 16 draft); for storage.
    pub fn system_bits(&self) -> u8 {
        self.system
    }

    /// The keywords, sorted; for storage.
    pub fn keywords(&self) -> &[String] {
        &self.keywords
    }

    /// Rebuild from storage.
    pub fn from_parts(system: u8, keywords: Vec<String>) -> Self {
        let mut f = Self {
            system: system & 31,
            keywords: Vec::new(),
        };
        for k in keywords {
            f.insert(&Flag::Keyword(k));
        }
        f
    }

    pub fn contains(&self, flag: &Flag) -> bool {
        match flag {
            Flag::Keyword(k) => self.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)),
            f => self.system & f.bit() != 0,
        }
    }

    /// Add a flag; true if it was not there.
    pub fn insert(&mut self, flag: &Flag) -> bool {
        if self.contains(flag) {
            return false;
        }
        match flag {
            Flag::Keyword(k) => {
                let pos = self
                    .keywords
                    .binary_search_by(|x| x.to_ascii_lowercase().cmp(&k.to_ascii_lowercase()))
                    .unwrap_or_else(|p| p);
                self.keywords.insert(pos, k.clone());
            }
            f => self.system |= f.bit(),
        }
        true
    }

    /// Remove a flag; true if it was there.
    pub fn remove(&mut self, flag: &Flag) -> bool {
        match flag {
            Flag::Keyword(k) => {
                let before = self.keywords.len();
                self.keywords.retain(|x| !x.eq_ignore_ascii_case(k));
                before != self.keywords.len()
            }
            f => {
                let had = self.system & f.bit() != 0;
                self.system &= !f.bit();
                had
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.system == 0 && self.keywords.is_empty()
    }

    /// Every flag, system flags first in a fixed order, then keywords.
    pub fn iter(&self) -> impl Iterator<Item = Flag> + '_ {
        [
            Flag::Seen,
            Flag::Answered,
            Flag::Flagged,
            Flag::Deleted,
            Flag::Draft,
        ]
        .into_iter()
        .filter(|f| self.system & f.bit() != 0)
        .chain(self.keywords.iter().map(|k| Flag::Keyword(k.clone())))
    }
}

/// A special-use attribute of a mailbox (RFC 6154 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpecialUse {
    All,
    Archive,
    Drafts,
    Flagged,
    Junk,
    Sent,
    Trash,
}

impl SpecialUse {
    pub const ALL_VALUES: [SpecialUse; 7] = [
        SpecialUse::All,
        SpecialUse::Archive,
        SpecialUse::Drafts,
        SpecialUse::Flagged,
        SpecialUse::Junk,
        SpecialUse::Sent,
        SpecialUse::Trash,
    ];

    /// As IMAP writes it, e.g. `\Sent`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpecialUse::All => "\\All",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Flagged => "\\Flagged",
            SpecialUse::Junk => "\\Junk",
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Trash => "\\Trash",
        }
    }

    /// Parse `\Sent` and friends, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL_VALUES
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_flags() {
        assert_eq!(Flag::parse("\\SEEN"), Ok(Flag::Seen));
        assert_eq!(
            Flag::parse("$Forwarded"),
            Ok(Flag::Keyword("$Forwarded".into()))
        );
        assert_eq!(Flag::parse("\\Recent"), Err(FlagError::Recent));
        assert!(Flag::parse("\\Bogus").is_err());
        assert!(Flag::parse("a b").is_err());
        assert!(Flag::parse("").is_err());
    }

    #[test]
    fn flag_set_operations() {
        let mut f = Flags::new();
        assert!(f.insert(&Flag::Seen));
        assert!(!f.insert(&Flag::Seen));
        assert!(f.insert(&Flag::Keyword("Junk".into())));
        assert!(!f.insert(&Flag::Keyword("junk".into())));
        assert!(f.insert(&Flag::Keyword("$A".into())));
        assert_eq!(
            f.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
            ["\\Seen", "$A", "Junk"]
        );
        assert!(f.remove(&Flag::Keyword("JUNK".into())));
        assert!(f.remove(&Flag::Seen));
        let back = Flags::from_parts(f.system_bits(), f.keywords().to_vec());
        assert_eq!(back, f);
    }

    #[test]
    fn special_use_round_trip() {
        for v in SpecialUse::ALL_VALUES {
            assert_eq!(SpecialUse::parse(&v.as_str().to_uppercase()), Some(v));
        }
    }
}
