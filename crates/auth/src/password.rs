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
//! - Memory: each verification needs the hash's `m` KiB of working memory (19 MiB by
//!   default). At most [`max_parallel`] verifications run at once (one per CPU: more would not
//!   finish sooner) and later ones wait, so a burst of failed logins cannot make the server
//!   allocate 19 MiB per connection; and the working memory is kept for reuse rather than
//!   freed and allocated again, which left glibc's heaps holding ~25 MiB per concurrent
//!   verification ever seen (measured: 8 at once kept 197 MB resident for good).

use std::sync::{Condvar, Mutex, OnceLock};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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
            Ok(parsed) => verify_parsed(&parsed, password.as_bytes()),
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

/// Recompute `parsed`'s hash of `password` in pooled working memory and compare in constant
/// time (what `PasswordVerifier::verify_password` does, minus its allocation).
fn verify_parsed(parsed: &PasswordHash<'_>, password: &[u8]) -> bool {
    let (Ok(algorithm), Some(expected), Some(salt)) = (
        Algorithm::try_from(parsed.algorithm),
        parsed.hash,
        parsed.salt,
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(parsed) else {
        return false;
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let hashed = with_memory(blocks, |memory| {
        argon
            .hash_password_into_with_memory(password, salt, &mut out, memory)
            .is_ok()
    });
    // `Output`'s equality is constant-time.
    hashed && Output::new(&out).is_ok_and(|o| o == expected)
}

/// How many Argon2 computations may run at once: one per CPU (at least 2, at most 16).
pub fn max_parallel() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .clamp(2, 16)
    })
}

/// Working memory for Argon2: buffers not in use, how many are, and the most ever at once.
struct Memory {
    free: Vec<Vec<Block>>,
    in_use: usize,
    peak: usize,
}

static MEMORY: Mutex<Memory> = Mutex::new(Memory {
    free: Vec::new(),
    in_use: 0,
    peak: 0,
});
static RELEASED: Condvar = Condvar::new();

fn lock_memory() -> std::sync::MutexGuard<'static, Memory> {
    MEMORY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Gives the buffer back (and the slot) even if the computation panics.
struct Lease(Option<Vec<Block>>);

impl Drop for Lease {
    fn drop(&mut self) {
        let mut m = lock_memory();
        m.in_use -= 1;
        if let Some(buf) = self.0.take()
            && m.free.len() < max_parallel()
        {
            m.free.push(buf);
        }
        RELEASED.notify_one();
    }
}

/// Run `f` with `count` blocks of working memory, waiting while [`max_parallel`] others run.
fn with_memory<R>(count: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
    let mut lease = {
        let mut m = lock_memory();
        while m.in_use >= max_parallel() {
            m = RELEASED.wait(m).unwrap_or_else(|e| e.into_inner());
        }
        m.in_use += 1;
        m.peak = m.peak.max(m.in_use);
        let buf = match m.free.iter().position(|b| b.len() == count) {
            Some(i) => m.free.swap_remove(i),
            None => {
                // Another size (other parameters): make room rather than keep both.
                if m.free.len() + m.in_use > max_parallel() {
                    m.free.pop();
                }
                drop(m);
                vec![Block::default(); count]
            }
        };
        Lease(Some(buf))
    };
    let buf = lease.0.as_mut().expect("leased buffer");
    f(buf)
}

/// Working-memory buffers kept for reuse, computations running now, and the most that ever
/// ran at once (for tests and diagnostics).
pub fn memory_in_pool() -> (usize, usize, usize) {
    let m = lock_memory();
    (m.free.len(), m.in_use, m.peak)
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
        // Same path as a real verification: same time, same memory discipline.
        let _ = verify_parsed(&parsed, password.as_bytes());
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

    /// The pooled verification answers exactly as the argon2 crate's own, for other
    /// parameters, variants and versions too, and never for a damaged hash.
    #[test]
    fn pooled_verification_agrees_with_argon2() {
        use argon2::password_hash::PasswordVerifier;
        let mut hashes = vec![hash_password("right").unwrap()];
        for (alg, ver, m, t, p) in [
            (Algorithm::Argon2id, Version::V0x13, 8, 1, 1),
            (Algorithm::Argon2id, Version::V0x13, 64, 3, 2),
            (Algorithm::Argon2i, Version::V0x13, 32, 2, 1),
            (Algorithm::Argon2d, Version::V0x10, 32, 1, 4),
        ] {
            let params = Params::new(m, t, p, Some(24)).unwrap();
            let salt = SaltString::generate(&mut OsRng);
            hashes.push(
                Argon2::new(alg, ver, params)
                    .hash_password(b"right", &salt)
                    .unwrap()
                    .to_string(),
            );
        }
        for phc in &hashes {
            let parsed = PasswordHash::new(phc).unwrap();
            for pw in ["right", "wrong", "", "righ", "right "] {
                let theirs = Argon2::default()
                    .verify_password(pw.as_bytes(), &parsed)
                    .is_ok();
                assert_eq!(verify_password(Some(phc), pw), theirs, "{phc} {pw:?}");
            }
            // One character of the hash changed: never verifies.
            let mut bad = phc.clone();
            let last = bad.pop().unwrap();
            bad.push(if last == 'A' { 'B' } else { 'A' });
            assert!(!verify_password(Some(&bad), "right"), "{bad}");
        }
    }

    /// However many verify at once, at most `max_parallel` run and hold working memory, and
    /// the buffers are kept for the next ones.
    #[test]
    fn concurrent_verifications_are_bounded() {
        let phc = hash_password("right").unwrap();
        std::thread::scope(|s| {
            for i in 0..(3 * max_parallel()) {
                let phc = &phc;
                s.spawn(move || {
                    let stored = (i % 2 == 0).then_some(phc.as_str());
                    assert!(!verify_password(stored, "wrong"));
                });
            }
        });
        // Other tests verify in parallel in this process, so only bounds can be asserted.
        let (free, in_use, peak) = memory_in_pool();
        assert!(peak <= max_parallel(), "{peak} ran at once");
        assert!(in_use <= max_parallel(), "{in_use} running");
        assert!(free >= 1 && free <= max_parallel(), "{free} buffers kept");
    }

    #[test]
    fn empty_password_refused() {
        assert!(matches!(hash_password(""), Err(PasswordError::Empty)));
    }
}
