//! `[collector]`: how often sources are collected and how long an IDLE lasts; how discovery
//! and OAuth reach HTTPS servers (`https_port`, `https_ca_file`, for tests and private
//! networks).

use std::time::Duration;

use pochta_collector::run::Schedule;
use serde::Deserialize;

use super::value::{Between, Dur, NonZeroDur};
use super::{ConfigError, err};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Section {
    interval: Option<NonZeroDur>,
    max_backoff: Option<Dur>,
    idle_renew: Option<Dur>,
    https_port: Option<Between<1, 65535>>,
    https_ca_file: Option<std::path::PathBuf>,
}

impl Section {
    /// `https_port` and `https_ca_file` (relative to the config's directory).
    pub(super) fn web(&self, base: &std::path::Path) -> pochta_collector::discover::WebOptions {
        pochta_collector::discover::WebOptions {
            https_port: self.https_port.map(|Between(p)| p as u16),
            ca_file: self.https_ca_file.as_ref().map(|f| base.join(f)),
        }
    }

    pub(super) fn check(self) -> Result<Schedule, ConfigError> {
        let mut s = Schedule::default();
        if let Some(NonZeroDur(d)) = self.interval {
            s.interval = d;
        }
        if let Some(Dur(d)) = self.max_backoff {
            s.max_backoff = d;
        }
        if s.max_backoff < s.interval {
            return err(format!(
                "collector.max_backoff: must be at least collector.interval ({} s)",
                s.interval.as_secs()
            ));
        }
        if let Some(Dur(d)) = self.idle_renew {
            // RFC 2177 §3: servers may log a client out after 30 minutes of IDLE.
            if !(Duration::from_secs(60)..=Duration::from_secs(29 * 60)).contains(&d) {
                return err("collector.idle_renew: must be between 1m and 29m (RFC 2177)");
            }
            s.idle_renew = d;
        }
        Ok(s)
    }
}
