//! A verified-credentials cache in front of Argon2id.
//!
//! Implementation notes:
//! - Argon2id is deliberately expensive (tens of milliseconds of CPU). Mail programs log in
//!   again and again with the same password (a connection per folder, reconnects, POP3 polls),
//!   so — like Dovecot's `auth_cache` — a successful verification is remembered for a short
//!   time as an HMAC of (stored hash, password) under a key that lives only in this process's
//!   memory. A hit proves the same password was verified against the same stored hash
//!   recently; a password change (a new stored hash) misses. Failures are never cached, so a
//!   guesser pays the full Argon2 cost every time.
//! - The cache is bounded: when full it is cleared (simple, and a miss only costs one hash).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use rand::RngCore;
use sha2::Sha256;

use crate::password::verify_password;

/// How long a verified password is remembered.
pub const TTL: Duration = Duration::from_secs(600);
/// Most entries kept.
pub const MAX_ENTRIES: usize = 10_000;

/// Recently verified credentials; share one per server.
pub struct AuthCache {
    key: [u8; 32],
    entries: Mutex<HashMap<[u8; 32], Instant>>,
    /// (user name, password) pairs that logged in recently, as HMACs: only a hint for where
    /// to run a login ([`AuthCache::likely_hit`]), never a verification.
    logins: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Default for AuthCache {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self {
            key,
            entries: Mutex::new(HashMap::new()),
            logins: Mutex::new(HashMap::new()),
        }
    }
}

impl AuthCache {
    fn mac(&self, phc: &str, password: &str) -> [u8; 32] {
        let Ok(mut m) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            // Unreachable: HMAC takes keys of any length. A zero MAC only means a miss.
            return [0; 32];
        };
        m.update(phc.as_bytes());
        m.update(&[0]);
        m.update(password.as_bytes());
        m.finalize().into_bytes().into()
    }

    fn login_mac(&self, user: &str, password: &str) -> [u8; 32] {
        let Ok(mut m) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return [0; 32];
        };
        m.update(b"login\0");
        m.update(user.as_bytes());
        m.update(&[0]);
        m.update(password.as_bytes());
        m.finalize().into_bytes().into()
    }

    /// `user` logged in with `password` (after [`AuthCache::verify`] said yes).
    pub fn remember_login(&self, user: &str, password: &str) {
        let k = self.login_mac(user, password);
        let mut e = self.logins.lock();
        if e.len() >= MAX_ENTRIES {
            e.clear();
        }
        e.insert(k, Instant::now());
    }

    /// Whether a login as `user` with `password` will most likely be answered from this
    /// cache (the same pair logged in within [`TTL`]), i.e. cost no Argon2: servers run such
    /// a login on their worker thread instead of handing it to a blocking one. Only a hint:
    /// the login itself still goes through [`AuthCache::verify`] (a changed password misses
    /// there and is hashed).
    pub fn likely_hit(&self, user: &str, password: &str) -> bool {
        let k = self.login_mac(user, password);
        self.logins
            .lock()
            .get(&k)
            .is_some_and(|t| t.elapsed() < TTL)
    }

    /// [`verify_password`] with the cache in front: `stored` is the account's PHC string, or
    /// `None` when the account does not exist (then a dummy hash is verified, as always).
    pub fn verify(&self, stored: Option<&str>, password: &str) -> bool {
        if let Some(phc) = stored {
            let k = self.mac(phc, password);
            if self
                .entries
                .lock()
                .get(&k)
                .is_some_and(|t| t.elapsed() < TTL)
            {
                return true;
            }
        }
        let ok = verify_password(stored, password);
        if ok && let Some(phc) = stored {
            let k = self.mac(phc, password);
            let mut e = self.entries.lock();
            if e.len() >= MAX_ENTRIES {
                e.clear();
            }
            e.insert(k, Instant::now());
        }
        ok
    }
}

/// When plaintext passwords (IMAP LOGIN, AUTH PLAIN/LOGIN, POP3 USER/PASS) are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaintextPolicy {
    /// Only under TLS.
    TlsOnly,
    /// Under TLS, or from a loopback address.
    TlsOrLoopback,
    /// Always (tests, trusted networks).
    Always,
}

impl PlaintextPolicy {
    /// Whether a password may cross this connection in the clear.
    pub fn allows(self, tls: bool, peer: std::net::IpAddr) -> bool {
        tls || match self {
            PlaintextPolicy::Always => true,
            PlaintextPolicy::TlsOrLoopback => peer.is_loopback(),
            PlaintextPolicy::TlsOnly => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_success_only() {
        let phc = crate::hash_password("right").expect("hash");
        let c = AuthCache::default();
        assert!(!c.verify(Some(&phc), "wrong"));
        assert!(c.entries.lock().is_empty());
        assert!(c.verify(Some(&phc), "right"));
        assert_eq!(c.entries.lock().len(), 1);
        assert!(c.verify(Some(&phc), "right"));
        assert!(!c.verify(Some(&phc), "wrong"));
        // Another stored hash (password changed) misses.
        let phc2 = crate::hash_password("right").expect("hash");
        assert!(c.verify(Some(&phc2), "right"));
        assert_eq!(c.entries.lock().len(), 2);
        assert!(!c.verify(None, "right"));
    }

    #[test]
    fn login_hint() {
        let c = AuthCache::default();
        assert!(!c.likely_hit("u@x", "pw"));
        c.remember_login("u@x", "pw");
        assert!(c.likely_hit("u@x", "pw"));
        assert!(!c.likely_hit("u@x", "other"));
        assert!(!c.likely_hit("v@x", "pw"));
    }

    #[test]
    fn plaintext_policy() {
        let lo: std::net::IpAddr = "127.0.0.1".parse().expect("ip");
        let ext: std::net::IpAddr = "192.0.2.1".parse().expect("ip");
        assert!(PlaintextPolicy::TlsOrLoopback.allows(false, lo));
        assert!(!PlaintextPolicy::TlsOrLoopback.allows(false, ext));
        assert!(PlaintextPolicy::TlsOnly.allows(true, ext));
        assert!(!PlaintextPolicy::TlsOnly.allows(false, lo));
        assert!(PlaintextPolicy::Always.allows(false, ext));
    }
}
