//! `[smtp.queue]`: how outbound delivery retries. `retry = ["5m", "1h"]`, `max_age = "5d"`,
//! `delay_warning = "4h"` (or `"0"`: never), `concurrency = 16`. Durations are `30s`,
//! `5m`, `4h`, `5d` or seconds.

use pochta_queue::RetryPolicy;
use serde::Deserialize;

use super::value::{Between, Dur, Durations, NonZeroDur};

/// `[smtp.queue]`: how outbound delivery retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    pub policy: RetryPolicy,
    /// Delivery attempts in flight at once.
    pub concurrency: usize,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            policy: RetryPolicy::default(),
            concurrency: 16,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Section {
    retry: Option<Durations>,
    max_age: Option<NonZeroDur>,
    delay_warning: Option<Dur>,
    concurrency: Option<Between<1, 1024>>,
}

impl Section {
    pub(super) fn settings(self) -> QueueSettings {
        let mut q = QueueSettings::default();
        if let Some(Durations(schedule)) = self.retry {
            q.policy.schedule = schedule;
        }
        if let Some(NonZeroDur(d)) = self.max_age {
            q.policy.max_age = d;
        }
        if let Some(Dur(d)) = self.delay_warning {
            q.policy.delay_warning = (!d.is_zero()).then_some(d);
        }
        if let Some(Between(n)) = self.concurrency {
            q.concurrency = n as usize;
        }
        q
    }
}
