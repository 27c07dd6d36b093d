//! Any [`MailStore`] as the login flow's account directory (cargo feature `store`).
//!
//! Implementation notes:
//! - The sessions of every protocol look accounts up the same way: a name that is not an
//!   address is no account, and an address is looked up as given (the store matches it
//!   case-insensitively).

use crate::flow::{Accounts, Credentials};
use pochta_store::{Account, MailStore, StoreError};
use pochta_types::Address;

/// A [`MailStore`]'s accounts, for [`crate::Login`].
pub struct Directory<'a, S>(pub &'a S);

impl<S: MailStore> Accounts for Directory<'_, S> {
    type Account = Account;
    type Error = StoreError;

    fn find(&self, name: &str) -> Result<Option<Account>, StoreError> {
        match Address::new(name) {
            Ok(a) => self.0.account_by_address(&a),
            Err(_) => Ok(None),
        }
    }

    fn credentials(account: &Account) -> Credentials<'_> {
        Credentials {
            password_hash: &account.password_hash,
            scram_sha256: account.scram_sha256.as_deref(),
        }
    }
}
