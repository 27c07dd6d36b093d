//! Numeric identifiers.

use std::fmt;
use std::num::{NonZeroU32, NonZeroU64};

use serde::{Deserialize, Serialize};

/// An account's row id in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountId(pub i64);

/// A mailbox's row id in the store; never reused, so a deleted and re-created mailbox of the
/// same name is a different mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MailboxId(pub i64);

macro_rules! nonzero_id {
    ($(#[$m:meta])* $name:ident, $nz:ty, $raw:ty) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name($nz);

        impl $name {
            /// The smallest valid value.
            pub const MIN: Self = Self(<$nz>::MIN);
            /// The largest valid value.
            pub const MAX: Self = Self(<$nz>::MAX);

            /// `None` for zero, which is never a valid value.
            pub const fn new(v: $raw) -> Option<Self> {
                match <$nz>::new(v) {
                    Some(n) => Some(Self(n)),
                    None => None,
                }
            }

            /// The raw number.
            pub const fn get(self) -> $raw {
                self.0.get()
            }

            /// The next value, `None` on overflow.
            pub fn next(self) -> Option<Self> {
                self.0.get().checked_add(1).and_then(Self::new)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl TryFrom<$raw> for $name {
            type Error = ();
            fn try_from(v: $raw) -> Result<Self, ()> {
                Self::new(v).ok_or(())
            }
        }
    };
}

nonzero_id!(
    /// A message's unique identifier within one mailbox and one UIDVALIDITY
    /// (RFC 9051 §2.3.1.1): strictly ascending, never reused.
    Uid, NonZeroU32, u32
);
nonzero_id!(
    /// The UIDVALIDITY of a mailbox; changes only if UIDs cannot be kept.
    UidValidity, NonZeroU32, u32
);
nonzero_id!(
    /// A modification sequence (RFC 7162): strictly ascending per mailbox for every change.
    ModSeq, NonZeroU64, u64
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_invalid() {
        assert!(Uid::new(0).is_none());
        assert_eq!(Uid::new(7).map(Uid::get), Some(7));
        assert!(Uid::MAX.next().is_none());
        assert_eq!(ModSeq::MIN.next().map(ModSeq::get), Some(2));
    }
}
