//! SETQUOTA (RFC 9208 §4.3); GETQUOTA and GETQUOTAROOT are one-liners in
//! [`crate::command`].
//!
//! ```abnf
//! setquota          = "SETQUOTA" SP quota-root-name SP setquota-list
//! setquota-list     = "(" [setquota-resource *(SP setquota-resource)] ")"
//! setquota-resource = resource-name SP resource-limit
//! ```

use crate::parse::{Cursor, PResult};

/// SETQUOTA's (resource, limit) pairs.
pub type QuotaLimits = Vec<(String, u64)>;

pub(crate) fn setquota(c: &mut Cursor<'_>) -> PResult<(Vec<u8>, QuotaLimits)> {
    c.sp()?;
    let root = c.astring()?;
    c.sp()?;
    let limits = c.paren_list(0, |c| {
        let r = c.keyword()?;
        c.sp()?;
        Ok((r, c.number64()?))
    })?;
    Ok((root, limits))
}
