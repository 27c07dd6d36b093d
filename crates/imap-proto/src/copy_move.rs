//! COPY, MOVE and their UID forms (RFC 9051 §6.4.7, §6.4.8; MOVE RFC 6851 §3).
//!
//! ```abnf
//! copy = "COPY" SP sequence-set SP mailbox
//! move = "MOVE" SP sequence-set SP mailbox
//! ```

use pochta_types::MailboxName;

use crate::parse::{Cursor, PResult};
use crate::sequence::SequenceSet;

/// `[UID] COPY|MOVE set mailbox`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyMove {
    pub uid: bool,
    pub set: SequenceSet,
    pub mailbox: MailboxName,
}

pub(crate) fn copy_move(c: &mut Cursor<'_>, uid: bool) -> PResult<CopyMove> {
    c.sp()?;
    let set = c.sequence_set()?;
    c.sp()?;
    let mailbox = c.mailbox()?;
    Ok(CopyMove { uid, set, mailbox })
}
