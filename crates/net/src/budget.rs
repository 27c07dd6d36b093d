//! A server-wide budget of bytes for whole messages held in memory.
//!
//! Implementation notes:
//! - Large bodies arrive into spool files (SMTP DATA/BDAT, IMAP APPEND) and cost disk while
//!   they arrive; but parsing (mail-parser for ENVELOPE/BODYSTRUCTURE, mail-auth for
//!   DKIM/SPF/DMARC) takes a message whole in memory. So a completed large message is read
//!   back only under a permit of this budget, held until it is stored: however many large
//!   messages complete at once, those in memory together are at most [`MessageBudget::bytes`]
//!   (or one message, when a single message is larger than the whole budget — it then waits
//!   for the budget to be entirely free and takes all of it).
//! - Others wait (asynchronously, holding their spool file, not memory). The semaphore is
//!   fair (FIFO), so a large message is not starved by a stream of small ones.
//! - Counted in KiB so that budgets up to 4 TiB fit a semaphore's `u32` permits.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget; cheap to clone (one shared semaphore).
#[derive(Debug, Clone)]
pub struct MessageBudget {
    sem: Arc<Semaphore>,
    kib: u32,
}

/// Memory of the budget held for one message; given back on drop.
#[derive(Debug)]
pub struct MessagePermit {
    _permit: Option<OwnedSemaphorePermit>,
}

impl MessageBudget {
    /// A budget of `bytes` (at least 1 KiB).
    pub fn new(bytes: u64) -> Self {
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .max(1);
        let kib = kib.min(u32::try_from(Semaphore::MAX_PERMITS).unwrap_or(u32::MAX));
        MessageBudget {
            sem: Arc::new(Semaphore::new(kib as usize)),
            kib,
        }
    }

    /// A budget that never makes anyone wait (tests and tools that hold one message).
    pub fn unlimited() -> Self {
        Self::new(u64::MAX)
    }

    /// The whole budget in bytes.
    pub fn bytes(&self) -> u64 {
        u64::from(self.kib) * 1024
    }

    /// Waits until `bytes` of the budget are free (all of it, if `bytes` is larger) and
    /// holds them until the permit is dropped.
    pub async fn acquire(&self, bytes: u64) -> MessagePermit {
        let want = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.kib);
        // The semaphore is never closed, so acquiring only fails if it were.
        MessagePermit {
            _permit: self.sem.clone().acquire_many_owned(want).await.ok(),
        }
    }

    /// `bytes` of the budget (all of it, if `bytes` is larger) if they are free now, without
    /// waiting: for a caller that must not wait while it holds other permits.
    pub fn try_acquire(&self, bytes: u64) -> Option<MessagePermit> {
        let want = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.kib);
        let permit = self.sem.clone().try_acquire_many_owned(want).ok()?;
        Some(MessagePermit {
            _permit: Some(permit),
        })
    }

    /// KiB of the budget not held now (for tests and metrics).
    pub fn available_kib(&self) -> usize {
        self.sem.available_permits()
    }
}

impl Default for MessageBudget {
    fn default() -> Self {
        Self::unlimited()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn holders_together_stay_within_the_budget() {
        let b = MessageBudget::new(10 * 1024);
        let first = b.acquire(6 * 1024).await;
        assert_eq!(b.available_kib(), 4);
        // 6 KiB more must wait until the first is given back.
        let b2 = b.clone();
        let waiter = tokio::spawn(async move { b2.acquire(6 * 1024).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiter.is_finished(),
            "a second 6 KiB message went past a 10 KiB budget"
        );
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter got the budget once it was free")
            .unwrap();
        assert_eq!(b.available_kib(), 4);
        drop(second);
        // A message larger than the whole budget takes all of it, alone.
        let huge = b.acquire(1 << 40).await;
        assert_eq!(b.available_kib(), 0);
        drop(huge);
        assert_eq!(b.available_kib(), 10);
    }

    #[test]
    fn try_acquire_takes_only_what_is_free() {
        let b = MessageBudget::new(10 * 1024);
        let first = b.try_acquire(6 * 1024).expect("6 KiB of 10 are free");
        assert!(b.try_acquire(6 * 1024).is_none(), "6 KiB more are not free");
        let rest = b.try_acquire(4 * 1024).expect("the other 4 KiB are free");
        assert_eq!(b.available_kib(), 0);
        drop((first, rest));
        let all = b
            .try_acquire(1 << 40)
            .expect("a larger one takes the whole budget");
        assert_eq!(b.available_kib(), 0);
        drop(all);
    }
}
