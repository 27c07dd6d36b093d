//! Password verification for LOGIN and SASL PLAIN/LOGIN, with a verified-credentials cache.
//!
//! Implementation notes:
//! - Argon2id is deliberately expensive (tens of milliseconds of CPU). Mail programs log in
//!   again and again with the same password (one connection per folder, reconnects), so —
//!   like Dovecot's `auth_cache` — a successful verification is remembered for a short time
//!   as an HMAC of (stored hash, password) under a key that lives only in this process's
//!   memory. A hit proves the same password was verified against the same stored hash
//!   recently; a password change (new hash) misses. Failures are never cached.
//! - Unknown accounts verify against a dummy hash, so timing does not reveal which
//!   addresses exist (`pochta_auth::verify_password`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use pochta_store::{Account, MailStore, StoreError};
use pochta_types::Address;
use rand::RngCore;
use sha2::Sha256;

use crate::session::Shared;

/// How long a verified password is remembered.
const TTL: Duration = Duration::from_secs(600);
/// Most entries kept; the cache is cleared when full (simple and bounded).
const MAX_ENTRIES: usize = 10_000;

/// Recently verified credentials.
pub struct AuthCache {
    key: [u8; 32],
    entries: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Default for AuthCache {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self {
            key,
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl AuthCache {
    fn mac(&self, phc: &str, password: &str) -> [u8; 32] {
        let Ok(mut m) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        m.update(phc.as_bytes());
        m.update(&[0]);
        m.update(password.as_bytes());
        m.finalize().into_bytes().into()
    }

    fn hit(&self, phc: &str, password: &str) -> bool {
        let k = self.mac(phc, password);
        self.entries
            .lock()
            .get(&k)
            .is_some_and(|t| t.elapsed() < TTL)
    }

    fn remember(&self, phc: &str, password: &str) {
        let k = self.mac(phc, password);
        let mut e = self.entries.lock();
        if e.len() >= MAX_ENTRIES {
            e.clear();
        }
        e.insert(k, Instant::now());
    }
}

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
    if let Some(phc) = phc
        && shared.auth_cache.hit(phc, password)
    {
        return Ok(account);
    }
    if pochta_auth::verify_password(phc, password) {
        if let Some(phc) = phc {
            shared.auth_cache.remember(phc, password);
        }
        Ok(account)
    } else {
        Ok(None)
    }
}
