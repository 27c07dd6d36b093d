//! Login throttling shared by every protocol: per-IP and per-account failure counters with
//! exponential delay and a lockout window.
//!
//! Implementation notes:
//! - Counters are in memory: a restart forgets them, which is acceptable for a delay whose
//!   purpose is to make online guessing slow, not impossible.
//! - IPv6 peers are counted per /64, since one host usually owns a whole /64 and could
//!   otherwise rotate addresses for free.
//! - A counter expires `window` after its last failure. Within the window, after
//!   `free_failures` failures each further failure asks the caller to wait
//!   `base_delay * 2^(n - free_failures)` (capped at `max_delay`) before answering, and at
//!   `ip_lockout` / `account_lockout` failures [`Throttle::check`] refuses further attempts
//!   until the window has passed.
//! - A success clears the account's counter but not the IP's: otherwise an attacker holding one
//!   valid account could reset its IP counter between guesses at other accounts.
//! - The clock is injected ([`Clock`]) so tests step time instead of sleeping.
//! - Memory is bounded: when a map grows past [`PRUNE_AT`] entries, expired entries are dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Failures from one IP (or IPv6 /64) within `window` that lock it out.
    pub ip_lockout: u32,
    /// Failures against one account within `window` that lock it out.
    pub account_lockout: u32,
    /// How long a counter lives after its last failure, and so how long a lockout lasts.
    pub window: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            free_failures: 3,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15),
            ip_lockout: 30,
            account_lockout: 15,
            window: Duration::from_secs(15 * 60),
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

/// Entries past which expired counters are swept.
pub const PRUNE_AT: usize = 50_000;

#[derive(Debug, Clone, Copy)]
struct Counter {
    failures: u32,
    last: Instant,
}

/// Failure counters shared by all protocols; cheap to share behind an `Arc`.
pub struct Throttle {
    cfg: ThrottleConfig,
    clock: Arc<dyn Clock>,
    ips: Mutex<HashMap<IpAddr, Counter>>,
    accounts: Mutex<HashMap<String, Counter>>,
}

impl Throttle {
    pub fn new(cfg: ThrottleConfig) -> Self {
        Self::with_clock(cfg, Arc::new(SystemClock))
    }

    pub fn with_clock(cfg: ThrottleConfig, clock: Arc<dyn Clock>) -> Self {
        Throttle {
            cfg,
            clock,
            ips: Mutex::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
        }
    }

    /// Call before verifying credentials; `account` is the name the client gave, if known.
    pub fn check(&self, ip: IpAddr, account: Option<&str>) -> Verdict {
        let now = self.clock.now();
        let ip_left = self.locked(&self.ips.lock(), &ip_key(ip), self.cfg.ip_lockout, now);
        let acct_left = account.and_then(|a| {
            self.locked(
                &self.accounts.lock(),
                &account_key(a),
                self.cfg.account_lockout,
                now,
            )
        });
        match ip_left.max(acct_left) {
            Some(left) => Verdict::Locked(left),
            None => Verdict::Allow,
        }
    }

    /// Records a failed attempt; returns how long the caller should wait before answering.
    pub fn failure(&self, ip: IpAddr, account: &str) -> Duration {
        let now = self.clock.now();
        let n_ip = self.bump(&mut self.ips.lock(), ip_key(ip), now);
        let n_acct = self.bump(&mut self.accounts.lock(), account_key(account), now);
        self.delay_for(n_ip.max(n_acct))
    }

    /// Records a successful login: the account's counter is cleared.
    pub fn success(&self, _ip: IpAddr, account: &str) {
        self.accounts.lock().remove(&account_key(account));
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

    fn locked<K: std::hash::Hash + Eq>(
        &self,
        map: &HashMap<K, Counter>,
        key: &K,
        limit: u32,
        now: Instant,
    ) -> Option<Duration> {
        let c = map.get(key)?;
        let ends = c.last + self.cfg.window;
        (c.failures >= limit && now < ends).then(|| ends - now)
    }

    fn bump<K: std::hash::Hash + Eq>(
        &self,
        map: &mut HashMap<K, Counter>,
        key: K,
        now: Instant,
    ) -> u32 {
        let window = self.cfg.window;
        if map.len() >= PRUNE_AT {
            map.retain(|_, c| now < c.last + window);
        }
        let c = map.entry(key).or_insert(Counter {
            failures: 0,
            last: now,
        });
        if now >= c.last + window {
            c.failures = 0;
        }
        c.failures = c.failures.saturating_add(1);
        c.last = now;
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

/// Accounts are matched case-insensitively, like the addresses they name.
fn account_key(a: &str) -> String {
    a.to_lowercase()
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

    #[test]
    fn account_lockout_and_expiry() {
        let (clock, t) = setup();
        for i in 0..15 {
            // Spread over IPs so only the account counter trips.
            let ip = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, i));
            assert_eq!(t.check(ip, Some("a@x")), Verdict::Allow);
            t.failure(ip, "a@x");
        }
        assert!(matches!(t.check(IP, Some("A@X")), Verdict::Locked(_)));
        assert_eq!(t.check(IP, Some("b@x")), Verdict::Allow);
        clock.advance(Duration::from_secs(15 * 60));
        assert_eq!(t.check(IP, Some("a@x")), Verdict::Allow);
        // The counter restarted: one failure costs no delay.
        assert_eq!(t.failure(IP, "a@x"), Duration::ZERO);
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
    fn success_clears_account_but_not_ip() {
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
