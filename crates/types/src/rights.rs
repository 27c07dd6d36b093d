//! ACL rights (RFC 4314 §2.1): a set of the standard rights `lrswipkxtea`.
//!
//! Implementation notes:
//! - The obsolete RFC 2086 rights are virtual (§2.1.1), read the way the RFC's own examples
//!   do: `c` ("create") is `k` + `x`, `d` ("delete") is `e` + `t`. On input they expand to
//!   their members; on output `c` and `d` are added whenever any member is present.
//! - Any other letter, or a digit (implementation-defined rights, which we have none of),
//!   is refused, so a [`Rights`] only ever holds rights the server enforces.

use std::fmt;

/// One standard right, in RFC 4314 §2.1 order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Right {
    /// `l`: the mailbox is visible to LIST/LSUB, SUBSCRIBE.
    Lookup,
    /// `r`: SELECT, EXAMINE, STATUS, FETCH, SEARCH, COPY from.
    Read,
    /// `s`: keep `\Seen` across sessions.
    Seen,
    /// `w`: flags other than `\Seen` and `\Deleted`.
    Write,
    /// `i`: APPEND, COPY/MOVE into.
    Insert,
    /// `p`: send mail to the mailbox (not enforced by IMAP).
    Post,
    /// `k`: create child mailboxes; parent of a RENAME target.
    CreateMailbox,
    /// `x`: DELETE the mailbox; source of RENAME.
    DeleteMailbox,
    /// `t`: set or clear `\Deleted`.
    DeleteMessages,
    /// `e`: EXPUNGE, and CLOSE's expunge.
    Expunge,
    /// `a`: SETACL, DELETEACL, GETACL, LISTRIGHTS.
    Admin,
}

impl Right {
    pub const ALL: [Right; 11] = [
        Right::Lookup,
        Right::Read,
        Right::Seen,
        Right::Write,
        Right::Insert,
        Right::Post,
        Right::CreateMailbox,
        Right::DeleteMailbox,
        Right::DeleteMessages,
        Right::Expunge,
        Right::Admin,
    ];

    pub fn letter(self) -> char {
        b"lrswipkxtea"[self as usize] as char
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of [`Right`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Rights(u16);

/// A rights string with a letter that is not a right.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an ACL right (RFC 4314 §2.1: lrswipkxtea, and the obsolete c and d)")]
pub struct RightsError(pub char);

impl Rights {
    pub const NONE: Rights = Rights(0);
    /// Every right: what an owner has on their own mailboxes.
    pub const ALL: Rights = Rights((1 << 11) - 1);

    /// Parse a rights string (RFC 4314 §3.1 `rights`), expanding `c` and `d`.
    pub fn parse(s: &str) -> Result<Rights, RightsError> {
        let mut r = Rights::NONE;
        for ch in s.chars() {
            match ch {
                'c' => {
                    r = r.with(Right::CreateMailbox).with(Right::DeleteMailbox);
                }
                'd' => {
                    r = r.with(Right::Expunge).with(Right::DeleteMessages);
                }
                _ => {
                    let right = Right::ALL
                        .into_iter()
                        .find(|x| x.letter() == ch)
                        .ok_or(RightsError(ch))?;
                    r = r.with(right);
                }
            }
        }
        Ok(r)
    }

    pub fn contains(self, right: Right) -> bool {
        self.0 & right.bit() != 0
    }

    pub fn with(self, right: Right) -> Rights {
        Rights(self.0 | right.bit())
    }

    pub fn union(self, other: Rights) -> Rights {
        Rights(self.0 | other.0)
    }

    pub fn minus(self, other: Rights) -> Rights {
        Rights(self.0 & !other.0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Only the standard letters, without the virtual `c` and `d` that [`fmt::Display`] adds:
    /// the form to send in a SETACL, which parses back to exactly this set.
    pub fn letters(self) -> String {
        Right::ALL
            .into_iter()
            .filter(|r| self.contains(*r))
            .map(Right::letter)
            .collect()
    }

    /// The stored form: the set bits (stable across versions; new rights take new bits).
    pub fn bits(self) -> u16 {
        self.0
    }

    /// From [`Rights::bits`]; unknown bits are dropped.
    pub fn from_bits(bits: u16) -> Rights {
        Rights(bits & Rights::ALL.0)
    }
}

impl fmt::Display for Rights {
    /// Standard letters in RFC order, then `c` and `d` when any of their members is present
    /// (RFC 4314 §2.1.1: MUST in ACL and MYRIGHTS responses).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in Right::ALL {
            if self.contains(r) {
                write!(f, "{}", r.letter())?;
            }
        }
        if self.contains(Right::CreateMailbox) || self.contains(Right::DeleteMailbox) {
            f.write_str("c")?;
        }
        if self.contains(Right::Expunge) || self.contains(Right::DeleteMessages) {
            f.write_str("d")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        // RFC 4314 §2.1.1 examples.
        assert_eq!(Rights::parse("lrswida").unwrap().to_string(), "lrswitead");
        let r = Rights::parse("lrswikda").unwrap();
        assert!(r.contains(Right::CreateMailbox) && !r.contains(Right::DeleteMailbox));
        assert!(r.contains(Right::Expunge) && r.contains(Right::DeleteMessages));
        assert_eq!(r.to_string(), "lrswikteacd");
        assert_eq!(Rights::parse("").unwrap(), Rights::NONE);
        assert_eq!(Rights::NONE.to_string(), "");
        assert_eq!(Rights::ALL.to_string(), "lrswipkxteacd");
        assert_eq!(Rights::parse("c").unwrap().to_string(), "kxc");
        // Display adds the virtual letters (so "k" shows as "kc", which reads back as "kx");
        // letters() is the exact form.
        let k = Rights::parse("k").unwrap();
        assert_eq!(k.to_string(), "kc");
        assert_eq!(k.letters(), "k");
        assert_eq!(Rights::parse(&k.letters()).unwrap(), k);
        assert_eq!(Rights::parse("lrswipkxtea").unwrap(), Rights::ALL);
        assert_eq!(Rights::parse("lrq"), Err(RightsError('q')));
        assert_eq!(Rights::parse("l0"), Err(RightsError('0')));
        assert_eq!(Rights::parse("L"), Err(RightsError('L')));
        let lr = Rights::parse("lr").unwrap();
        assert_eq!(Rights::ALL.minus(lr).to_string(), "swipkxteacd");
        assert_eq!(lr.union(Rights::parse("i").unwrap()).to_string(), "lri");
        assert_eq!(Rights::from_bits(Rights::ALL.bits() | 0x8000), Rights::ALL);
        for r in Right::ALL {
            assert_eq!(
                Rights::parse(&r.letter().to_string()).unwrap(),
                Rights::NONE.with(r)
            );
        }
    }
}
