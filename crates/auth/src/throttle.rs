//! Login throttling shared by every protocol: failures are counted per address and per
//! (address, account), with exponential delay and a lockout window, so that nobody can lock an
//! account's owner out by failing against it from elsewhere.
//!
//! Implementation notes:
//! - The counters are kept by the store ([`Throttle::with_store`], `pochta_store::throttle`),
//!   so that every node of an installation counts the same failures (an attacker cannot
//!   multiply the guessing rate by spreading over nodes behind a load balancer); or, without
//!   a store, in this process ([`Throttle::new`]). Neither needs durability: losing them
//!   forgets a delay whose purpose is to make online guessing slow, not impossible.
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
//! - Memory is bounded: in-process counters (ours, or the embedded store's) keep at most
//!   `max_entries` addresses and as many pairs (an LRU ordered by the last failure); past
//!   that the least recently failing counter is forgotten. Account names are cut at
//!   [`MAX_NAME`] bytes, so an entry costs under 400 bytes and the default bound is about
//!   40 MB in the worst case. PostgreSQL's counters are rows deleted once past the window.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use pochta_store::{Directory, FailureKey, MemoryCounters};

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

/// Where the failure counters live.
enum Counters {
    /// In this process ([`Throttle::new`], [`Throttle::with_clock`]).
    Local(MemoryCounters),
    /// In the store, shared by every node on it ([`Throttle::with_store`]); its clock.
    Store(Arc<dyn Directory>),
}

/// Failure counters shared by all protocols; cheap to share behind an `Arc`.
pub struct Throttle {
    cfg: ThrottleConfig,
    clock: Arc<dyn Clock>,
    counters: Counters,
}

impl Throttle {
    /// Counters in this process's memory (one node).
    pub fn new(cfg: ThrottleConfig) -> Self {
        Self::with_clock(cfg, Arc::new(SystemClock))
    }

    pub fn with_clock(cfg: ThrottleConfig, clock: Arc<dyn Clock>) -> Self {
        let counters = Counters::Local(MemoryCounters::new(cfg.max_entries));
        Throttle {
            cfg,
            clock,
            counters,
        }
    }

    /// Counters in `store` ([`Directory::login_failures`]): every node on that store counts
    /// the same failures. The store's bound on its counters applies, not `max_entries`.
    pub fn with_store(cfg: ThrottleConfig, store: Arc<dyn Directory>) -> Self {
        Throttle {
            cfg,
            clock: Arc::new(SystemClock),
            counters: Counters::Store(store),
        }
    }

    /// Call before verifying credentials; `account` is the name the client gave, if known.
    /// A store that cannot be read allows (the verification that follows needs the store
    /// too, and an outage must not lock everybody out); it is logged.
    pub fn check(&self, ip: IpAddr, account: Option<&str>) -> Verdict {
        let ip = ip_key(ip);
        let mut keys = vec![FailureKey::Address(ip)];
        if let Some(a) = account {
            keys.push(FailureKey::Pair(ip, account_key(a)));
        }
        let window = self.cfg.window;
        let got = match &self.counters {
            Counters::Local(m) => m.failures(&keys, window, self.clock.now()),
            Counters::Store(s) => match s.login_failures(&keys, window) {
                Ok(got) => got,
                Err(e) => {
                    tracing::warn!(error = %e, "login throttle: cannot read the counters");
                    return Verdict::Allow;
                }
            },
        };
        let limits = [self.cfg.ip_lockout, self.cfg.pair_lockout];
        let left = got
            .iter()
            .zip(limits)
            .filter_map(|(f, limit)| {
                let f = f.as_ref()?;
                (f.count >= limit).then(|| window.saturating_sub(f.ago))
            })
            .max();
        match left {
            Some(left) => Verdict::Locked(left),
            None => Verdict::Allow,
        }
    }

    /// Records a failed attempt; returns how long the caller should wait before answering.
    /// A store that cannot be written is logged and the delay is that of one failure past
    /// the free ones.
    pub fn failure(&self, ip: IpAddr, account: &str) -> Duration {
        let ip = ip_key(ip);
        let keys = [
            FailureKey::Address(ip),
            FailureKey::Pair(ip, account_key(account)),
        ];
        let window = self.cfg.window;
        let counts = match &self.counters {
            Counters::Local(m) => m.failed(&keys, window, self.clock.now()),
            Counters::Store(s) => match s.login_failed(&keys, window) {
                Ok(counts) => counts,
                Err(e) => {
                    tracing::warn!(error = %e, "login throttle: cannot count a failure");
                    vec![self.cfg.free_failures.saturating_add(1)]
                }
            },
        };
        self.delay_for(counts.into_iter().max().unwrap_or(0))
    }

    /// Records a successful login: the pair's counter is cleared.
    pub fn success(&self, ip: IpAddr, account: &str) {
        let key = FailureKey::Pair(ip_key(ip), account_key(account));
        match &self.counters {
            Counters::Local(m) => m.clear(&key),
            Counters::Store(s) => {
                if let Err(e) = s.login_clear(&key) {
                    tracing::warn!(error = %e, "login throttle: cannot clear a counter");
                }
            }
        }
    }

    /// How many counters are held in this process (addresses, pairs); (0, 0) when they are
    /// in the store.
    pub fn counters(&self) -> (usize, usize) {
        match &self.counters {
            Counters::Local(m) => m.len(),
            Counters::Store(_) => (0, 0),
        }
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
        assert!(account_key(&"z".repeat(1 << 20)).len() <= MAX_NAME);
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
