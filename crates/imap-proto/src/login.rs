//! LOGIN and AUTHENTICATE (RFC 9051 §6.2.2, §6.2.3; SASL-IR RFC 4959).
//!
//! Implementation notes:
//! - Passwords and SASL initial responses are wrapped in [`Secret`] so they never reach a log.
//! - The initial response is kept as the client sent it (base64 text, or `=` for an empty
//!   response, RFC 4959 §3); the session decodes it.
//!
//! ```abnf
//! login        = "LOGIN" SP userid SP password
//! userid       = astring
//! password     = astring
//! authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")]   ; RFC 4959
//! auth-type    = atom
//! ```

use pochta_types::Secret;

use crate::parse::{Cursor, PResult, syntax};

/// `LOGIN user password`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The user name as sent (any bytes; the session decides what it accepts).
    pub username: Vec<u8>,
    pub password: Secret<Vec<u8>>,
}

/// `AUTHENTICATE mechanism [initial-response]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticate {
    /// The SASL mechanism, upper-cased (`PLAIN`, `SCRAM-SHA-256`).
    pub mechanism: String,
    /// The SASL-IR initial response as sent: base64 text or `=`.
    pub initial_response: Option<Secret<Vec<u8>>>,
}

pub(crate) fn login(c: &mut Cursor<'_>) -> PResult<Login> {
    c.sp()?;
    let username = c.astring()?;
    c.sp()?;
    let password = Secret::new(c.astring()?);
    Ok(Login { username, password })
}

pub(crate) fn authenticate(c: &mut Cursor<'_>) -> PResult<Authenticate> {
    c.sp()?;
    let mechanism = c.keyword()?;
    let initial_response = if c.at_sp() {
        c.sp()?;
        let ir = c.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if ir.is_empty() {
            return syntax("expected a base64 initial response");
        }
        Some(Secret::new(ir.to_vec()))
    } else {
        None
    };
    Ok(Authenticate {
        mechanism,
        initial_response,
    })
}
