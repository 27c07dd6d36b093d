//! `[auth]`: when plaintext passwords are accepted.

use serde::{Deserialize, Deserializer};

use super::value::one_of;

/// When plaintext passwords (LOGIN, AUTH PLAIN, USER/PASS) are accepted: the policy type
/// every protocol shares, from `pochta-auth`.
pub use pochta_auth::PlaintextPolicy as Plaintext;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Section {
    #[serde(default, deserialize_with = "plaintext")]
    plaintext: Option<Plaintext>,
}

impl Section {
    pub(super) fn plaintext(self) -> Plaintext {
        self.plaintext.unwrap_or(Plaintext::TlsOrLoopback)
    }
}

fn plaintext<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Plaintext>, D::Error> {
    one_of(
        d,
        &[
            ("tls-only", Plaintext::TlsOnly),
            ("tls-or-loopback", Plaintext::TlsOrLoopback),
            ("always", Plaintext::Always),
        ],
        r#""tls-only", "tls-or-loopback" or "always""#,
    )
    .map(Some)
}
