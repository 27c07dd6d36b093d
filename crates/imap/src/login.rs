//! Password verification for LOGIN and SASL PLAIN/LOGIN.
//!
//! Implementation notes:
//! - Verification goes through the server's shared [`pochta_auth::AuthCache`], so repeated
//!   logins with the same password cost one HMAC instead of one Argon2id hash.
//! - Unknown accounts verify against a dummy hash, so timing does not reveal which
//!   addresses exist.

use pochta_store::{Account, MailStore, StoreError};
use pochta_types::Address;

use crate::session::Shared;

/// Verify `user`/`password`; the account on success.
pub fn verify<S: MailStore>(
    shared: &Shared<S>,
    user: &str,
    password: &str,
) -> Result<Option<Account>, StoreError> {
    let account = match Address::new(user) {
        Ok(a) => shared.store.account_by_address(&a)?,
        Err(_) => None,
    };
    let phc = account.as_ref().map(|a| a.password_hash.as_str());
    Ok(if shared.auth_cache.verify(phc, password) {
        account
    } else {
        None
    })
}
