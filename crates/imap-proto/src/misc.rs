//! Small commands: ID (RFC 2971 §3.1), ENABLE (RFC 5161 §3.1), SETQUOTA (RFC 9208 §4.3).
//! COMPRESS, GETQUOTA, GETQUOTAROOT, IDLE, NAMESPACE, UNSELECT are one-liners in
//! [`crate::command`].
//!
//! ```abnf
//! id              = "ID" SP id-params-list
//! id-params-list  = "(" *(string SP nstring) ")" / nil
//! enable          = "ENABLE" 1*(SP capability)
//! setquota        = "SETQUOTA" SP quota-root-name SP setquota-list
//! setquota-list   = "(" [setquota-resource *(SP setquota-resource)] ")"
//! setquota-resource = resource-name SP resource-limit
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

pub(crate) fn enable(c: &mut Cursor<'_>) -> PResult<Vec<String>> {
    let mut caps = Vec::new();
    while c.at_sp() {
        c.sp()?;
        caps.push(c.keyword()?);
    }
    if caps.is_empty() {
        return syntax("ENABLE needs a capability");
    }
    Ok(caps)
}

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
