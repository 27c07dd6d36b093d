//! Login throttling shared by every protocol: failures are counted per address and per
//! (address, account), with exponential delay and a lockout window, so that nobody can lock an
//! account's owner out by failing against it from elsewhere.
//!
//! Implementation notes:
//! - Counters are in memory: a restart forgets them, which is acceptable for a delay whose
//!   purpose is to make online guessing slow, not impossible.
//! - IPv6 peers are counted per /64, since one host usually owns a whole /64 and could
//!   otherwise rotate addresses for free.
//! - Two counters, no global per-account one: an attacker's failures against an account count
//!   against the attacker's address and pair only, so a correct password from an address that
//!   has not been failing logs in at once (fifteen wrong passwords from anywhere used to lock
//!   the owner out from everywhere for 15 minutes). An address that fails `ip_lockout` times
//!   (against any accounts) is refused for every account; one that fails `pair_lockout` times
//!   against one account is refused for that account.
//! - A counter expires `window` after its last failure. Within the window, after
//!   `free_failures` failures each further failure asks the caller to wait
//!   `base_delay * 2^(n - free_failures)` (capped at `max_delay`) before answering, where `n`
//!   is the larger of the address's and the pair's count.
//! - A success clears the pair's counter but not the address's: otherwise an attacker holding
//!   one valid account could reset its address counter between guesses at other accounts.
//! - The clock is injected ([`Clock`]) so tests step time instead of sleeping.
//! - Memory is bounded: each map keeps at most `max_entries` counters (an LRU ordered by the
//!   last failure); past that the least recently failing counter is forgotten. Account names
//!   are cut at [`MAX_NAME`] bytes, so an entry costs under 400 bytes and the default bound
//!   is about 40 MB in the worst case.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hashlink::LruCache;
use parking_lot::Mutex;

/// A source of monotonic time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to, for tests of anything time-based.
#[derive(Debug)]
pub struct ManualClock(Mutex<Instant>);

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock(Mutex::new(Instant::now()))
    }
}

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        *self.0.lock() += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.0.lock()
    }
}

/// Throttling parameters.
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Failures tolerated without delay.
    pub free_failures: u32,
    /// Delay after the first failure past `free_failures`; doubles with each further one.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Failures from one address (or IPv6 /64) within `window` that lock it out of every
    /// account.
    pub ip_lockout: u32,
    /// Failures from one address against one account within `window` that lock that address
    /// out of that account.
    pub pair_lockout: u32,
    /// How long a counter lives after its last failure, and so how long a lockout lasts.
    pub window: Duration,
    /// Most counters kept in each of the two maps (addresses, pairs).
    pub max_entries: usize,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            free_failures: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15),
            ip_lockout: 30,
            pair_lockout: 10,
            window: Duration::from_secs(15 * 60),
            max_entries: 100_000,
        }
    }
}

/// The answer of [`Throttle::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead and verify the credentials.
    Allow,
    /// Refuse without verifying; the lockout ends in this long.
    Locked(Duration),
}

#[derive(Debug, Clone, Copy)]
struct Counter {
    failures: u32,
    last: Instant,
}

type Pair = (IpAddr, String);

/// Failure counters shared by all protocols; cheap to share behind an `Arc`.
pub struct Throttle {
    cfg: ThrottleConfig,
    clock: Arc<dyn Clock>,
    ips: Mutex<LruCache<IpAddr, Counter>>,
    pairs: Mutex<LruCache<Pair, Counter>>,
}

impl Throttle {
    pub fn new(cfg: ThrottleConfig) -> Self {
        Self::with_clock(cfg, Arc::new(SystemClock))
    }

    pub fn with_clock(cfg: ThrottleConfig, clock: Arc<dyn Clock>) -> Self {
        let cap = cfg.max_entries.max(1);
        Throttle {
            cfg,
            clock,
            ips: Mutex::new(LruCache::new(cap)),
            pairs: Mutex::new(LruCache::new(cap)),
        }
    }

    /// Call before verifying credentials; `account` is the name the client gave, if known.
    pub fn check(&self, ip: IpAddr, account: Option<&str>) -> Verdict {
        let now = self.clock.now();
        let ip = ip_key(ip);
        let ip_left = self.locked(self.ips.lock().peek(&ip), self.cfg.ip_lockout, now);
        let pair_left = account.and_then(|a| {
            let pairs = self.pairs.lock();
            self.locked(pairs.peek(&pair_key(ip, a)), self.cfg.pair_lockout, now)
        });
        match ip_left.max(pair_left) {
            Some(left) => Verdict::Locked(left),
            None => Verdict::Allow,
        }
    }

    /// Records a failed attempt; returns how long the caller should wait before answering.
    pub fn failure(&self, ip: IpAddr, account: &str) -> Duration {
        let now = self.clock.now();
        let ip = ip_key(ip);
        let n_ip = self.bump(&mut self.ips.lock(), ip, now);
        let n_pair = self.bump(&mut self.pairs.lock(), pair_key(ip, account), now);
        self.delay_for(n_ip.max(n_pair))
    }

    /// Records a successful login: the pair's counter is cleared.
    pub fn success(&self, ip: IpAddr, account: &str) {
        self.pairs.lock().remove(&pair_key(ip_key(ip), account));
    }

    /// How many counters are held (addresses, pairs).
    pub fn counters(&self) -> (usize, usize) {
        (self.ips.lock().len(), self.pairs.lock().len())
    }

    fn delay_for(&self, failures: u32) -> Duration {
        if failures <= self.cfg.free_failures {
            return Duration::ZERO;
        }
        let exp = (failures - self.cfg.free_failures - 1).min(31);
        self.cfg
            .base_delay
            .saturating_mul(1u32 << exp)
            .min(self.cfg.max_delay)
    }

    fn locked(&self, c: Option<&Counter>, limit: u32, now: Instant) -> Option<Duration> {
        let c = c?;
        let ends = c.last + self.cfg.window;
        (c.failures >= limit && now < ends).then(|| ends - now)
    }

    fn bump<K: std::hash::Hash + Eq>(
        &self,
        map: &mut LruCache<K, Counter>,
        key: K,
        now: Instant,
    ) -> u32 {
        let window = self.cfg.window;
        let mut c = map.remove(&key).unwrap_or(Counter {
            failures: 0,
            last: now,
        });
        if now >= c.last + window {
            c.failures = 0;
        }
        c.failures = c.failures.saturating_add(1);
        c.last = now;
        // Re-inserted at the most recent end; a full map forgets its least recent counter.
        map.insert(key, c);
        c.failures
    }
}

fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6([s[0], s[1], s[2], s[3], 0, 0, 0, 0].into())
            }
        },
    }
}

/// The key of an (address, account) counter; `ip` already through [`ip_key`].
fn pair_key(ip: IpAddr, account: &str) -> Pair {
    (ip, account_key(account))
}

/// The longest account name kept in a counter's key (RFC 5321 §4.5.3.1 allows 254 octets for
/// a whole address; longer names are no account, and still counted, by their first bytes).
pub const MAX_NAME: usize = 255;

/// Accounts are matched case-insensitively, like the addresses they name.
fn account_key(a: &str) -> String {
    let mut end = a.len().min(MAX_NAME);
    while !a.is_char_boundary(end) {
        end -= 1;
    }
    a[..end].to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Arc<ManualClock>, Throttle) {
        let clock = Arc::new(ManualClock::default());
        let t = Throttle::with_clock(ThrottleConfig::default(), clock.clone());
        (clock, t)
    }

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn delay_grows_exponentially_then_caps() {
        let (_, t) = setup();
        let delays: Vec<u64> = (0..9).map(|_| t.failure(IP, "a@x").as_secs()).collect();
        assert_eq!(delays, [0, 0, 0, 1, 2, 4, 8, 15, 15]);
    }

    /// Issue 17: failures against an account from other addresses never lock its owner out.
    #[test]
    fn failures_elsewhere_do_not_lock_the_owner_out() {
        let (_, t) = setup();
        for i in 0..100u8 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, i));
            t.failure(ip, "a@x");
        }
        assert_eq!(t.check(IP, Some("a@x")), Verdict::Allow);
    }

    #[test]
    fn pair_lockout_and_expiry() {
        let (clock, t) = setup();
        for _ in 0..10 {
            assert_eq!(t.check(IP, Some("a@x")), Verdict::Allow);
            t.failure(IP, "a@x");
        }
        // Locked for that account from that address (names are case-insensitive) …
        assert!(matches!(t.check(IP, Some("A@X")), Verdict::Locked(_)));
        // … but not for another account from it, nor for that account from elsewhere.
        assert_eq!(t.check(IP, Some("b@x")), Verdict::Allow);
        let other = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(t.check(other, Some("a@x")), Verdict::Allow);
        clock.advance(Duration::from_secs(15 * 60));
        assert_eq!(t.check(IP, Some("a@x")), Verdict::Allow);
        // The counters restarted: one failure costs no delay.
        assert_eq!(t.failure(IP, "a@x"), Duration::ZERO);
    }

    #[test]
    fn counters_are_bounded_least_recent_first() {
        let clock = Arc::new(ManualClock::default());
        let t = Throttle::with_clock(
            ThrottleConfig {
                max_entries: 100,
                ..ThrottleConfig::default()
            },
            clock,
        );
        for _ in 0..30 {
            t.failure(IP, "a@x");
        }
        for i in 0..10_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            t.failure(ip, &format!("{i}@x"));
            // The most recently failing address stays locked while others come and go.
            if i % 50 == 0 {
                t.failure(IP, "a@x");
            }
        }
        assert_eq!(t.counters(), (100, 100));
        assert!(matches!(t.check(IP, None), Verdict::Locked(_)));
        // Long names are cut: a hostile name costs at most MAX_NAME bytes.
        t.failure(IP, &"z".repeat(1 << 20));
        assert!(t.pairs.lock().iter().all(|((_, k), _)| k.len() <= MAX_NAME));
    }

    #[test]
    fn ip_lockout_across_accounts() {
        let (clock, t) = setup();
        for i in 0..30 {
            t.failure(IP, &format!("user{i}@x"));
        }
        let Verdict::Locked(left) = t.check(IP, None) else {
            panic!("IP should be locked");
        };
        assert_eq!(left, Duration::from_secs(15 * 60));
        clock.advance(Duration::from_secs(60));
        assert_eq!(
            t.check(IP, None),
            Verdict::Locked(Duration::from_secs(14 * 60))
        );
        let other = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
        assert_eq!(t.check(other, Some("user0@x")), Verdict::Allow);
    }

    #[test]
    fn success_clears_pair_but_not_ip() {
        let (_, t) = setup();
        for _ in 0..5 {
            t.failure(IP, "a@x");
        }
        t.success(IP, "a@x");
        // The IP still has 5 failures, so the next one is delayed.
        assert_eq!(t.failure(IP, "a@x"), Duration::from_secs(4));
        let other = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 9));
        assert_eq!(t.failure(other, "a@x"), Duration::ZERO);
    }

    #[test]
    fn ipv6_counted_per_64() {
        let (_, t) = setup();
        for i in 0..30u16 {
            let ip = IpAddr::V6([0x2001, 0xdb8, 1, 2, 0, 0, 0, i].into());
            t.failure(ip, &format!("u{i}"));
        }
        let same64 = IpAddr::V6([0x2001, 0xdb8, 1, 2, 9, 9, 9, 9].into());
        let other64 = IpAddr::V6([0x2001, 0xdb8, 1, 3, 0, 0, 0, 1].into());
        assert!(matches!(t.check(same64, None), Verdict::Locked(_)));
        assert_eq!(t.check(other64, None), Verdict::Allow);
    }
}
