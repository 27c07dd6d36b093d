//! The storage backends behind the outbound queue and the collector: where their traits
//! ([`pochta_store::QueueStore`], [`pochta_store::CollectorStore`]) meet an implementation.
//!
//! Implementation notes:
//! - Today every store is the embedded one in `data_dir` (`queue.sqlite3`,
//!   `collector.sqlite3`, `contacts.sqlite3`); a second backend is chosen here and nowhere else.
//! - `data_dir` is created readable by the owner only ([`crate::admin::create_private_dir`]):
//!   the queue holds mail, the collector sealed credentials.

use std::sync::Arc;

use anyhow::{Context, Result};
use pochta_collector::State;
use pochta_store::{CollectorStore, ContactStore, QueueStore};
use pochta_store_embedded::{EmbeddedCollectorStore, EmbeddedContactStore, EmbeddedQueueStore};

use crate::config::Config;

/// The outbound queue's spool.
pub fn queue_store(config: &Config) -> Result<Arc<dyn QueueStore>> {
    crate::admin::create_private_dir(&config.data_dir)?;
    let store = EmbeddedQueueStore::open(&config.data_dir).with_context(|| {
        format!(
            "cannot open the outbound queue in {}",
            config.data_dir.display()
        )
    })?;
    Ok(Arc::new(store))
}

/// The collector's state (its store, and the sealing key in `data_dir`).
pub fn collector_state(config: &Config) -> Result<State> {
    crate::admin::create_private_dir(&config.data_dir)?;
    Ok(open_collector_state(&config.data_dir)?)
}

/// How the server's collector opens its state (again after a pause while it fails).
pub fn collector_opener(
    config: &Config,
) -> impl Fn() -> Result<State, pochta_collector::Error> + Send + 'static {
    let data_dir = config.data_dir.clone();
    move || open_collector_state(&data_dir)
}

fn open_collector_state(data_dir: &std::path::Path) -> Result<State, pochta_collector::Error> {
    let store = EmbeddedCollectorStore::open(data_dir)
        .map_err(|e| pochta_collector::Error::State(e.to_string()))?;
    let store: Arc<dyn CollectorStore> = Arc::new(store);
    State::open(data_dir, store)
}

/// Address books and contacts.
pub fn contact_store(config: &Config) -> Result<Arc<dyn ContactStore>> {
    crate::admin::create_private_dir(&config.data_dir)?;
    let store = EmbeddedContactStore::open(&config.data_dir)
        .with_context(|| format!("cannot open the contacts in {}", config.data_dir.display()))?;
    Ok(Arc::new(store))
}
