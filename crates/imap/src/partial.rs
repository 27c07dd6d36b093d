//! PARTIAL (RFC 9394): paged SEARCH / UID SEARCH results and paged FETCH.
//!
//! Implementation notes (what always holds):
//! - `RETURN (PARTIAL m:n)` answers with an ESEARCH whose `PARTIAL (m:n set)` lists the
//!   results at those positions of the whole ascending result (RFC 9394 §3.1), or `NIL`;
//!   MIN, MAX and COUNT, when asked with it, still describe the whole result.
//! - `ALL` and `PARTIAL` together are refused with BAD, and so is a second PARTIAL
//!   (RFC 9394 §3.1: they are mutually exclusive).
//! - With SAVE, the saved result is the page PARTIAL selected (RFC 9394 §3.1, as RFC 5182
//!   §2.4 saves only MIN/MAX when only those are asked).
//! - The FETCH modifier `(PARTIAL m:n)` fetches only those positions of the messages the
//!   sequence set names, in order (RFC 9394 §4); with CHANGEDSINCE, of the messages that
//!   changed. The page is cut before any message is read, so a page of a big mailbox
//!   reads only its own messages.
//! - Positions, not UIDs or sequence numbers: `-1:-50` is the last 50 results whatever
//!   their numbers.

use pochta_imap_proto::partial::PartialRange;
use pochta_imap_proto::search::SearchReturn;

use crate::session::{Res, bad};

/// The PARTIAL range among SEARCH return options, after checking how it combines.
pub(crate) fn search_partial(returns: &[SearchReturn]) -> Res<Option<PartialRange>> {
    let mut found = None;
    for r in returns {
        if let SearchReturn::Partial(p) = r {
            if found.is_some() {
                return Err(bad("PARTIAL given twice"));
            }
            found = Some(*p);
        }
    }
    if found.is_some() && returns.contains(&SearchReturn::All) {
        return Err(bad("PARTIAL and ALL cannot be combined"));
    }
    Ok(found)
}
