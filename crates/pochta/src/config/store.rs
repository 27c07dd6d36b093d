//! `[store]`: where mail, the queue and the collector's state are kept.

use serde::Deserialize;

use super::{ConfigError, err};

/// The storage backend.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum StoreSettings {
    /// SQLite files in `data_dir` (the default, one node).
    #[default]
    Embedded,
    /// One PostgreSQL database shared by every node.
    Postgres {
        /// `postgres://user:password@host:port/dbname`.
        url: String,
        /// Most connections of this process's pool.
        pool_size: u32,
    },
}

/// Default connections per node: enough for the sessions' store calls on a small machine.
pub const DEFAULT_POOL_SIZE: u32 = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Section {
    backend: Option<String>,
    url: Option<String>,
    pool_size: Option<u32>,
}

impl Section {
    pub(super) fn check(self) -> Result<StoreSettings, ConfigError> {
        match self.backend.as_deref().unwrap_or("embedded") {
            "embedded" => {
                if self.url.is_some() || self.pool_size.is_some() {
                    return err("store.url: only with backend = \"postgres\"");
                }
                Ok(StoreSettings::Embedded)
            }
            "postgres" => {
                let Some(url) = self.url else {
                    return err("store.url: missing (required with backend = \"postgres\")");
                };
                if let Err(e) = pochta_store_postgres::check_url(&url) {
                    return err(format!(
                        "store.url: not a postgres://user:password@host:port/dbname URL ({e})"
                    ));
                }
                let pool_size = self.pool_size.unwrap_or(DEFAULT_POOL_SIZE);
                if !(1..=1000).contains(&pool_size) {
                    return err("store.pool_size: must be between 1 and 1000");
                }
                Ok(StoreSettings::Postgres { url, pool_size })
            }
            other => err(format!(
                "store.backend: {other:?} is not \"embedded\" or \"postgres\""
            )),
        }
    }
}
