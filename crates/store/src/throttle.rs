//! The login throttle's failure counters ([`crate::Directory::login_failures`] and friends):
//! kept by the store so that every node of an installation counts the same failures.
//!
//! Implementation notes:
//! - A counter is named by a [`FailureKey`]: an address (IPv6 already cut to its /64 by the
//!   caller) or an (address, account) pair. There is no counter per account alone, so nobody
//!   can lock an owner out from another address (SECURITY.md).
//! - A counter counts failures whose gaps are shorter than the caller's `window`: a failure
//!   `window` or more after the previous one starts it again at 1, and a counter whose last
//!   failure is `window` old reads as none. The policy (delays, lockout limits) is the
//!   caller's (`pochta_auth::Throttle`).
//! - [`MemoryCounters`] is the one-process implementation (the embedded backend's, and the
//!   throttle's own when it is not given a store): two bounded LRU maps, the least recently
//!   failing counter forgotten first, the clock passed in by the caller.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use hashlink::LruCache;
use parking_lot::Mutex;

/// The name of one failure counter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FailureKey {
    /// Failures from an address, against any account.
    Address(IpAddr),
    /// Failures from an address against one account (the name as the throttle keys it).
    Pair(IpAddr, String),
}

impl FailureKey {
    /// The key as one string (`a <address>` or `p <address> <account>`), for stores that keep
    /// counters in a table.
    pub fn to_text(&self) -> String {
        match self {
            FailureKey::Address(ip) => format!("a {ip}"),
            FailureKey::Pair(ip, account) => format!("p {ip} {account}"),
        }
    }
}

/// What a counter holds within the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    /// How long ago the last failure was (less than the window).
    pub ago: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    failures: u32,
    last: Instant,
}

/// Failure counters in this process's memory, at most `max_entries` addresses and as many
/// pairs.
pub struct MemoryCounters {
    ips: Mutex<LruCache<IpAddr, Counter>>,
    pairs: Mutex<LruCache<(IpAddr, String), Counter>>,
}

impl std::fmt::Debug for MemoryCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (ips, pairs) = self.len();
        write!(f, "MemoryCounters({ips} addresses, {pairs} pairs)")
    }
}

impl MemoryCounters {
    /// The bound of the embedded backend's counters: about 40 MB at worst.
    pub const DEFAULT_ENTRIES: usize = 100_000;

    pub fn new(max_entries: usize) -> MemoryCounters {
        let cap = max_entries.max(1);
        MemoryCounters {
            ips: Mutex::new(LruCache::new(cap)),
            pairs: Mutex::new(LruCache::new(cap)),
        }
    }

    /// How many counters are held (addresses, pairs).
    pub fn len(&self) -> (usize, usize) {
        (self.ips.lock().len(), self.pairs.lock().len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == (0, 0)
    }

    /// See [`crate::Directory::login_failures`].
    pub fn failures(
        &self,
        keys: &[FailureKey],
        window: Duration,
        now: Instant,
    ) -> Vec<Option<Failures>> {
        let read = |c: Option<&Counter>| {
            let c = c?;
            let ago = now.saturating_duration_since(c.last);
            (ago < window).then_some(Failures {
                count: c.failures,
                ago,
            })
        };
        keys.iter()
            .map(|k| match k {
                FailureKey::Address(ip) => read(self.ips.lock().peek(ip)),
                FailureKey::Pair(ip, a) => {
                    // The map's key is owned; a lookup by borrowed parts would need a
                    // custom Borrow, and failures are rare enough for one clone.
                    read(self.pairs.lock().peek(&(*ip, a.clone())))
                }
            })
            .collect()
    }

    /// See [`crate::Directory::login_failed`].
    pub fn failed(&self, keys: &[FailureKey], window: Duration, now: Instant) -> Vec<u32> {
        keys.iter()
            .map(|k| match k {
                FailureKey::Address(ip) => bump(&mut self.ips.lock(), *ip, window, now),
                FailureKey::Pair(ip, a) => {
                    bump(&mut self.pairs.lock(), (*ip, a.clone()), window, now)
                }
            })
            .collect()
    }

    /// See [`crate::Directory::login_clear`].
    pub fn clear(&self, key: &FailureKey) {
        match key {
            FailureKey::Address(ip) => {
                self.ips.lock().remove(ip);
            }
            FailureKey::Pair(ip, a) => {
                self.pairs.lock().remove(&(*ip, a.clone()));
            }
        }
    }
}

fn bump<K: std::hash::Hash + Eq>(
    map: &mut LruCache<K, Counter>,
    key: K,
    window: Duration,
    now: Instant,
) -> u32 {
    let mut c = map.remove(&key).unwrap_or(Counter {
        failures: 0,
        last: now,
    });
    if now.saturating_duration_since(c.last) >= window {
        c.failures = 0;
    }
    c.failures = c.failures.saturating_add(1);
    c.last = now;
    // Re-inserted at the most recent end; a full map forgets its least recent counter.
    map.insert(key, c);
    c.failures
}
