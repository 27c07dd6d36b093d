//! Anonymous access (RFC 4505 SASL ANONYMOUS, and `LOGIN anonymous` as RFC 3501 §6.2.3's
//! "anonymous" convention): off unless `[imap] anonymous = true`.
//!
//! Invariants:
//! - An anonymous session has no account: no personal namespace, no subscriptions, no quota.
//!   It sees exactly the mailboxes whose ACL has an entry for the `anonymous` identifier
//!   (RFC 4314 §2), under their `Other Users/…` or `Public/…` names. `anyone` does not
//!   count: it means every authenticated user of this server, and sharing with colleagues
//!   must never publish to the Internet (a deliberate narrowing of RFC 4314 §2).
//! - It can never write: its rights are the ACL's intersected with `lr`, SELECT opens
//!   read-only, and every command that would change something (or needs an account) is
//!   refused before it runs with `NO [NOPERM]`, whatever the ACL says.
//! - It is rate-limited: at most [`LOGINS_PER_WINDOW`] anonymous logins per address (IPv6:
//!   per /64) in [`WINDOW`], then `NO [UNAVAILABLE]`; and each session's commands are
//!   paced by a token bucket ([`BURST`] commands, then [`PER_SECOND`] a second), by
//!   delaying the answer rather than refusing it, so a well-behaved client only slows down.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use pochta_imap_proto::CommandBody;
use pochta_types::{Right, Rights};
use std::sync::Mutex;

/// Anonymous logins allowed from one address per [`WINDOW`].
pub const LOGINS_PER_WINDOW: usize = 20;
/// The window of [`LOGINS_PER_WINDOW`].
pub const WINDOW: Duration = Duration::from_secs(60);
/// Commands an anonymous session may send without waiting.
pub const BURST: f64 = 30.0;
/// Commands a second an anonymous session may send after its burst.
pub const PER_SECOND: f64 = 10.0;

/// The most an anonymous session may do in any mailbox: look it up and read it.
pub(crate) fn cap(rights: Rights) -> Rights {
    let read = Rights::NONE.with(Right::Lookup).with(Right::Read);
    rights.minus(Rights::ALL.minus(read))
}

/// Whether an anonymous session is refused `body` outright: everything that writes, and
/// everything that needs an account of one's own.
pub(crate) fn refuses(body: &CommandBody) -> bool {
    use CommandBody::*;
    matches!(
        body,
        Create(_)
            | Delete(_)
            | Rename(_)
            | Subscribe(_)
            | Unsubscribe(_)
            | Append(_)
            | SetAcl(_)
            | DeleteAcl(_)
            | GetQuota(_)
            | GetQuotaRoot(_)
            | SetQuota { .. }
            | Store(_)
            | Copy(_)
            | Move(_)
            | Expunge
            | UidExpunge(_)
            | Replace(_)
            | GetMetadata(_)
            | SetMetadata(_)
    )
}

/// The per-address login counter shared by a server's sessions.
#[derive(Debug, Default)]
pub struct AnonLimiter {
    logins: Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

/// IPv6 addresses count per /64, as one host usually owns the whole prefix.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

impl AnonLimiter {
    /// Count a login from `ip`; `Err(wait)` if it is over the limit.
    pub fn login(&self, ip: IpAddr) -> Result<(), Duration> {
        self.login_at(ip, Instant::now())
    }

    fn login_at(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut map = self.logins.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 10_000 {
            // Bounded memory under a spray of addresses: forget the expired ones.
            map.retain(|_, v| v.last().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        let v = map.entry(key(ip)).or_default();
        v.retain(|t| now.duration_since(*t) < WINDOW);
        if v.len() >= LOGINS_PER_WINDOW {
            return Err(WINDOW - now.duration_since(v[0]));
        }
        v.push(now);
        Ok(())
    }
}

/// One anonymous session's command pacing.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub(crate) fn new() -> Self {
        Self {
            tokens: BURST,
            last: Instant::now(),
        }
    }

    /// Take one command's token; how long to wait first if there was none.
    pub(crate) fn take(&mut self) -> Option<Duration> {
        self.take_at(Instant::now())
    }

    fn take_at(&mut self, now: Instant) -> Option<Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * PER_SECOND).min(BURST) - 1.0;
        if self.tokens >= 0.0 {
            None
        } else {
            // The answer goes out when the token would have been there; the debt stays, so
            // a client that keeps pushing keeps waiting.
            Some(Duration::from_secs_f64(-self.tokens / PER_SECOND))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_keeps_only_lookup_and_read() {
        assert_eq!(cap(Rights::ALL).letters(), "lr");
        assert_eq!(cap(Rights::parse("rsw").unwrap()).letters(), "r");
        assert!(cap(Rights::NONE).is_empty());
    }

    #[test]
    fn logins_are_limited_per_address_and_window() {
        let l = AnonLimiter::default();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t = Instant::now();
        for _ in 0..LOGINS_PER_WINDOW {
            l.login_at(a, t).unwrap();
        }
        assert!(l.login_at(a, t).is_err());
        l.login_at(b, t).unwrap();
        l.login_at(a, t + WINDOW).unwrap();
        // One IPv6 /64 is one client.
        let x: IpAddr = "2001:db8::1".parse().unwrap();
        let y: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        for _ in 0..LOGINS_PER_WINDOW {
            l.login_at(x, t).unwrap();
        }
        assert!(l.login_at(y, t).is_err());
    }

    #[test]
    fn bucket_allows_a_burst_then_paces() {
        let mut b = Bucket::new();
        let t = b.last;
        for _ in 0..BURST as usize {
            assert_eq!(b.take_at(t), None);
        }
        let wait = b.take_at(t).unwrap();
        assert!((wait.as_secs_f64() - 1.0 / PER_SECOND).abs() < 1e-9);
        // The debt accumulates while the client keeps sending.
        assert!(b.take_at(t).unwrap() > wait);
        // After a quiet second there are tokens again.
        assert_eq!(b.take_at(t + Duration::from_secs(2)), None);
    }
}
