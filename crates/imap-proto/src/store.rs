//! STORE and UID STORE (RFC 9051 §6.4.6) with UNCHANGEDSINCE (RFC 7162 §3.1.3).
//!
//! Implementation notes:
//! - `\Recent` in the flag list is dropped (it cannot be changed, RFC 3501 §2.3.2).
//!
//! ```abnf
//! store           = "STORE" SP sequence-set [store-modifiers] SP store-att-flags
//! store-modifiers = SP "(" "UNCHANGEDSINCE" SP mod-sequence-valzer ")"   ; RFC 7162
//! store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
//! ```

use pochta_types::Flag;

use crate::parse::{Cursor, PResult, syntax};
use crate::sequence::SequenceSet;

/// How STORE changes the flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreMode {
    /// `FLAGS`
    Replace,
    /// `+FLAGS`
    Add,
    /// `-FLAGS`
    Remove,
}

/// `[UID] STORE set [(UNCHANGEDSINCE n)] [+-]FLAGS[.SILENT] flags`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    pub uid: bool,
    pub set: SequenceSet,
    pub unchanged_since: Option<u64>,
    pub mode: StoreMode,
    pub silent: bool,
    pub flags: Vec<Flag>,
}

pub(crate) fn store(c: &mut Cursor<'_>, uid: bool) -> PResult<Store> {
    c.sp()?;
    let set = c.sequence_set()?;
    c.sp()?;
    let mut unchanged_since = None;
    if c.eat(b'(') {
        if !c.eat_keyword("UNCHANGEDSINCE") {
            return syntax("unknown STORE modifier");
        }
        c.sp()?;
        unchanged_since = Some(c.modseq()?);
        c.expect(b')', "')'")?;
        c.sp()?;
    }
    let mode = if c.eat(b'+') {
        StoreMode::Add
    } else if c.eat(b'-') {
        StoreMode::Remove
    } else {
        StoreMode::Replace
    };
    let (silent, ok) = if c.eat_keyword("FLAGS") {
        (false, true)
    } else if c.eat_keyword("FLAGS.SILENT") {
        (true, true)
    } else {
        (false, false)
    };
    if !ok {
        return syntax("expected FLAGS, +FLAGS or -FLAGS");
    }
    c.sp()?;
    let flags = c.store_flags()?;
    Ok(Store {
        uid,
        set,
        unchanged_since,
        mode,
        silent,
        flags,
    })
}
