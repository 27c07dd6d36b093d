//! A minimum data rate for bulk transfers (SMTP DATA/BDAT bodies, IMAP literals).
//!
//! Implementation notes:
//! - After a grace period the peer must have sent at least `min × (elapsed − grace)` bytes
//!   since the transfer began. [`DataRate::deadline`] is the instant by which the next byte
//!   must arrive; a driver reads with that deadline and ends the transfer when it passes,
//!   so a client dripping a byte now and then cannot hold a connection and its buffers for
//!   the whole idle timeout.
//! - A burst counts in advance: data sent early buys time later, as with a token bucket
//!   that starts full for the grace period.

use std::time::Duration;

use tokio::time::Instant;

/// The progress of one transfer against a minimum rate.
#[derive(Debug, Clone, Copy)]
pub struct DataRate {
    min: u64,
    grace: Duration,
    start: Instant,
    bytes: u64,
}

impl DataRate {
    /// A transfer starting now, held to `min` bytes/s after `grace`.
    pub fn start(min: u64, grace: Duration) -> Self {
        DataRate {
            min: min.max(1),
            grace,
            start: Instant::now(),
            bytes: 0,
        }
    }

    /// Bytes received.
    pub fn add(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_add(n as u64);
    }

    /// When the transfer falls below the rate unless more bytes arrive.
    pub fn deadline(&self) -> Instant {
        let earned = Duration::from_secs_f64(self.bytes as f64 / self.min as f64);
        self.start + self.grace + earned.min(Duration::from_secs(365 * 24 * 3600))
    }

    /// The time left until [`DataRate::deadline`].
    pub fn remaining(&self) -> Duration {
        self.deadline().saturating_duration_since(Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_buy_time_after_the_grace() {
        let mut r = DataRate::start(100, Duration::from_secs(10));
        assert_eq!(r.deadline() - r.start, Duration::from_secs(10));
        r.add(500);
        assert_eq!(r.deadline() - r.start, Duration::from_secs(15));
        r.add(250);
        assert_eq!(r.deadline() - r.start, Duration::from_millis(17500));
        assert!(r.remaining() > Duration::from_secs(17));
    }
}
