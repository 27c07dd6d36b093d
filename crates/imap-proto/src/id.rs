//! ID (RFC 2971 §3.1).
//!
//! Implementation notes:
//! - At most [`MAX_ID_PARAMS`] pairs (RFC 2971 §3.3 limits clients to 30).
//!
//! ```abnf
//! id              = "ID" SP id-params-list
//! id-params-list  = "(" *(string SP nstring) ")" / nil
//! ```

use crate::parse::{Cursor, PResult, syntax};

/// The most ID pairs we accept (RFC 2971 §3.3 limits clients to 30).
pub const MAX_ID_PARAMS: usize = 30;

/// ID field/value pairs as sent.
pub type IdParams = Vec<(Vec<u8>, Option<Vec<u8>>)>;

pub(crate) fn id(c: &mut Cursor<'_>) -> PResult<Option<IdParams>> {
    c.sp()?;
    if c.eat_keyword("NIL") {
        return Ok(None);
    }
    let pairs = c.paren_list(0, |c| {
        let k = c.string()?;
        c.sp()?;
        let v = c.nstring()?;
        Ok((k, v))
    })?;
    if pairs.len() > MAX_ID_PARAMS {
        return syntax("too many ID parameters");
    }
    Ok(Some(pairs))
}
