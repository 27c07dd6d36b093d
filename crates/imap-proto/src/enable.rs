//! ENABLE (RFC 5161 §3.1).
//!
//! ```abnf
//! enable          = "ENABLE" 1*(SP capability)
//! ```

use crate::parse::{Cursor, PResult, syntax};

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
