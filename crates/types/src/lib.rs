//! Domain newtypes shared by every Pochta crate.
//!
//! Implementation notes (what always holds):
//! - A value of one of these types is valid by construction: constructors check once, the
//!   rest of the code trusts the type ("parse, don't validate").
//! - `Uid`, `UidValidity` and `ModSeq` are never zero (RFC 9051 §2.3.1.1, RFC 7162 §3.1.1).
//! - A `MailboxName` is Unicode with `/` as the hierarchy separator; `INBOX` is matched
//!   case-insensitively and always stored as `INBOX` (RFC 3501 §5.1). It never becomes a
//!   filesystem path.
//! - Domains and the domain part of addresses are lower-cased ASCII or Unicode; local parts
//!   keep their case but compare case-insensitively for lookup.
#![forbid(unsafe_code)]

mod address;
pub mod civil;
pub mod envelope;
pub mod event;
mod flag;
mod ids;
mod mailbox;
pub mod mutf7;
mod rights;
mod secret;

pub use address::{Address, AddressError, Domain};
pub use flag::{Flag, FlagError, Flags, SpecialUse};
pub use ids::{AccountId, MailboxId, ModSeq, Uid, UidValidity};
pub use mailbox::{MailboxName, MailboxNameError, SEPARATOR};
pub use rights::{Right, Rights, RightsError};
pub use secret::Secret;
