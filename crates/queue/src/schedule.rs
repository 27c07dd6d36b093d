//! When to try again: the retry schedule and the queue lifetime.
//!
//! Implementation notes:
//! - RFC 5321 §4.5.4.1: the retry interval should be at least 30 minutes after the first
//!   failures and the give-up time at least 4–5 days. Like Postfix (`minimal_backoff_time`
//!   300s, doubling, `bounce_queue_lifetime` 5d) we start at minutes and grow to hours: the
//!   default waits 5m, 10m, 20m, 40m, 1h, 2h, then every 4h, and gives up after 5 days.
//! - The schedule is a list of waits; attempt *n* waits the *n*-th entry, and the last entry
//!   repeats.

use std::time::Duration;

/// Retry schedule, lifetime and delay-warning time of queued mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Waits after the 1st, 2nd, … failed attempt; the last one repeats. Never empty.
    pub schedule: Vec<Duration>,
    /// After this long in the queue a temporary failure becomes permanent (and bounces).
    pub max_age: Duration,
    /// Warn the sender (a "delayed" DSN) once a recipient has waited this long; `None`: never.
    pub delay_warning: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        let m = |n: u64| Duration::from_secs(60 * n);
        RetryPolicy {
            schedule: vec![m(5), m(10), m(20), m(40), m(60), m(120), m(240)],
            max_age: Duration::from_secs(5 * 24 * 3600),
            delay_warning: Some(Duration::from_secs(4 * 3600)),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempts` (1-based).
    pub fn delay_after(&self, attempts: u32) -> Duration {
        let i = (attempts.max(1) as usize - 1).min(self.schedule.len().saturating_sub(1));
        self.schedule
            .get(i)
            .copied()
            .unwrap_or(Duration::from_secs(300))
    }

    /// `max_age` for humans, e.g. `5d`.
    pub fn max_age_text(&self) -> String {
        format_duration(self.max_age)
    }
}

/// Parses `30s`, `5m`, `4h`, `5d` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    n.checked_mul(mult).map(Duration::from_secs)
}

/// The largest whole unit: `300s` → `5m`, `90s` → `90s`.
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    for (unit, n) in [("d", 86400), ("h", 3600), ("m", 60)] {
        if s >= n && s.is_multiple_of(n) {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_minutes_then_hours_for_five_days() {
        let p = RetryPolicy::default();
        let waits: Vec<_> = (1..=9).map(|n| format_duration(p.delay_after(n))).collect();
        assert_eq!(
            waits,
            ["5m", "10m", "20m", "40m", "1h", "2h", "4h", "4h", "4h"]
        );
        assert_eq!(p.max_age_text(), "5d");
        // Attempt 0 cannot happen, but is not a panic either.
        assert_eq!(p.delay_after(0), Duration::from_secs(300));
    }

    #[test]
    fn durations() {
        for (text, secs) in [
            ("30s", 30),
            ("5m", 300),
            ("4h", 14400),
            ("5d", 432000),
            ("7", 7),
        ] {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for bad in ["", "m", "5w", "-1m", "1.5h", "99999999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }
}
