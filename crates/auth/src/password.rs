//! Argon2id password hashing and verification.
//!
//! Implementation notes:
//! - Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) with the argon2
//!   crate's defaults (OWASP's minimum recommendation); parameters live in the string, so
//!   raising them later still verifies old hashes.
//! - [`verify_password`] with `None` (no such account) verifies against a fixed dummy hash with
//!   the same parameters, so "unknown user" and "wrong password" take the same time.
//! - A PHC string that fails to parse verifies as `false` (and is reported by
//!   [`check_hash`] for admin tools); a corrupt row must never let anyone in.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Errors from hashing or from a stored hash that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("stored password hash is not a valid PHC string: {0}")]
    BadHash(String),
    #[error("password must not be empty")]
    Empty,
}

/// Hashes `password` with Argon2id and a fresh random salt, returning a PHC string.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    if password.is_empty() {
        return Err(PasswordError::Empty);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Checks that `phc` is a PHC string this crate can verify.
pub fn check_hash(phc: &str) -> Result<(), PasswordError> {
    PasswordHash::new(phc)
        .map(|_| ())
        .map_err(|e| PasswordError::BadHash(e.to_string()))
}

/// Verifies `password` against a stored PHC string.
///
/// `stored` is `None` when the account does not exist: a dummy hash is verified instead, so
/// the caller can pass the lookup result straight through and get equal timing either way.
pub fn verify_password(stored: Option<&str>, password: &str) -> bool {
    match stored {
        Some(phc) => match PasswordHash::new(phc) {
            Ok(parsed) => Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok(),
            Err(_) => {
                burn_dummy(password);
                false
            }
        },
        None => {
            burn_dummy(password);
            false
        }
    }
}

/// Runs one verification against a hash of a random password, to spend the same time as a
/// real verification.
fn burn_dummy(password: &str) {
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        let mut random = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(&random, &salt)
            .map(|h| h.to_string())
            .ok()
    });
    if let Some(Ok(parsed)) = dummy.as_deref().map(PasswordHash::new) {
        let _ = Argon2::default().verify_password(password.as_bytes(), &parsed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$"));
        assert!(verify_password(Some(&h), "correct horse"));
        assert!(!verify_password(Some(&h), "wrong"));
        check_hash(&h).unwrap();
    }

    #[test]
    fn salts_differ() {
        assert_ne!(hash_password("x").unwrap(), hash_password("x").unwrap());
    }

    #[test]
    fn missing_account_and_garbage_never_verify() {
        assert!(!verify_password(None, "anything"));
        assert!(!verify_password(Some("not a hash"), "anything"));
        assert!(check_hash("not a hash").is_err());
    }

    /// A missing account costs a full Argon2id verification, like a wrong password does, so
    /// timing cannot tell them apart. Compared here, below the protocols, where no throttle
    /// delay or network time can hide a missing dummy verification.
    #[test]
    fn missing_account_costs_as_much_as_a_wrong_password() {
        // What must hold: an unknown account is not measurably cheaper than a wrong password
        // (without the dummy hash it is ~1 µs against ~75 ms, a ratio of 1e-5). The two are
        // timed alternately, so a busy machine slows both alike, and compared by medians
        // with a wide band: this catches the missing work, not scheduling noise.
        use std::time::Instant;
        let phc = hash_password("right").unwrap();
        let time = |f: &dyn Fn() -> bool| {
            let start = Instant::now();
            assert!(!f());
            start.elapsed().as_micros().max(1)
        };
        let (mut wrong, mut missing) = (Vec::new(), Vec::new());
        for _ in 0..7 {
            wrong.push(time(&|| verify_password(Some(&phc), "wrong")));
            missing.push(time(&|| verify_password(None, "wrong")));
        }
        wrong.sort_unstable();
        missing.sort_unstable();
        let ratio = missing[3] as f64 / wrong[3] as f64;
        assert!(
            (0.2..5.0).contains(&ratio),
            "missing account {missing:?} µs vs wrong password {wrong:?} µs"
        );
    }

    #[test]
    fn empty_password_refused() {
        assert!(matches!(hash_password(""), Err(PasswordError::Empty)));
    }
}
