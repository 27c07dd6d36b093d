//! `[http]`: who may read `/metrics` and `/healthz` on the `http`/`https` listeners.

use pochta_http::Network;
use serde::Deserialize;

use super::{ConfigError, err};

/// `[http]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpSettings {
    /// Besides loopback, the addresses and networks allowed to read `/metrics` and `/healthz`.
    pub metrics_allow: Vec<Network>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Section {
    metrics_allow: Option<Vec<String>>,
}

impl Section {
    pub(super) fn check(self) -> Result<HttpSettings, ConfigError> {
        let mut metrics_allow = Vec::new();
        for (i, s) in self.metrics_allow.unwrap_or_default().iter().enumerate() {
            match s.parse() {
                Ok(n) => metrics_allow.push(n),
                Err(e) => return err(format!("http.metrics_allow[{i}]: {e}")),
            }
        }
        Ok(HttpSettings { metrics_allow })
    }
}
