//! SELECT and EXAMINE (RFC 9051 §6.3.2, §6.3.3) with CONDSTORE and QRESYNC parameters
//! (RFC 7162 §3.1.8, §3.2.5).
//!
//! Implementation notes:
//! - `QRESYNC` parameters are parsed but their consistency (is QRESYNC enabled?) is the
//!   session's check (RFC 7162 §3.2.5: `BAD` if not enabled).
//! - A parameter given twice is a syntax error.
//!
//! ```abnf
//! select          = "SELECT" SP mailbox [select-params]
//! examine         = "EXAMINE" SP mailbox [select-params]
//! select-params   = SP "(" select-param *(SP select-param) ")"
//! select-param    = "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP mod-sequence-value
//!                   [SP known-uids] [SP seq-match-data] ")"
//! known-uids      = sequence-set
//! seq-match-data  = "(" known-sequence-set SP known-uid-set ")"
//! ```

use std::num::NonZeroU32;

use pochta_types::MailboxName;

use crate::parse::{Cursor, PResult, syntax};
use crate::sequence::SequenceSet;

/// `SELECT` / `EXAMINE` arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Select {
    pub mailbox: MailboxName,
    /// `(CONDSTORE)` was given.
    pub condstore: bool,
    pub qresync: Option<QResync>,
}

/// `QRESYNC (uidvalidity modseq [known-uids] [(seqs uids)])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QResync {
    pub uid_validity: NonZeroU32,
    /// The last known mod-sequence (0 is allowed by the ABNF: "mod-sequence-value").
    pub modseq: u64,
    pub known_uids: Option<SequenceSet>,
    /// `(known-sequence-set known-uid-set)`.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

pub(crate) fn select(c: &mut Cursor<'_>) -> PResult<Select> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    let mut s = Select {
        mailbox,
        condstore: false,
        qresync: None,
    };
    if c.at_sp() {
        c.sp()?;
        c.paren_list(1, |c| {
            if c.eat_keyword("CONDSTORE") {
                if s.condstore {
                    return syntax("CONDSTORE given twice");
                }
                s.condstore = true;
                Ok(())
            } else if c.eat_keyword("QRESYNC") {
                if s.qresync.is_some() {
                    return syntax("QRESYNC given twice");
                }
                c.sp()?;
                c.expect(b'(', "'('")?;
                let uid_validity = c.nz_number()?;
                c.sp()?;
                let modseq = c.modseq()?;
                let mut known_uids = None;
                let mut seq_match = None;
                if c.eat(b' ') && c.peek() != Some(b'(') {
                    known_uids = Some(c.sequence_set()?);
                    c.eat(b' ');
                }
                if c.eat(b'(') {
                    let seqs = c.sequence_set()?;
                    c.sp()?;
                    let uids = c.sequence_set()?;
                    c.expect(b')', "')'")?;
                    seq_match = Some((seqs, uids));
                }
                c.expect(b')', "')'")?;
                s.qresync = Some(QResync {
                    uid_validity,
                    modseq,
                    known_uids,
                    seq_match,
                });
                Ok(())
            } else {
                syntax("unknown SELECT parameter")
            }
        })?;
    }
    Ok(s)
}
