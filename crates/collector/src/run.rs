//! Running every configured source continuously (`pochta serve`), and the per-source lock.
//!
//! Implementation notes:
//! - One pass per source at a time, machine-wide: a pass holds an exclusive lock on
//!   `data_dir/collector-<id>.lock` (`File::try_lock`, an advisory `flock`), so `pochta collect
//!   run` and `pochta serve` never work on the same source at once (two passes would both see
//!   the same checkpoint and import the same messages twice). The lock dies with the process.
//! - Schedule: a source is due `interval` after its last successful pass; after a failure it
//!   backs off exponentially (interval·2ⁿ, at most `max_backoff`). Sources added or deleted
//!   with the CLI while the server runs are picked up at the next wake-up.
//! - Shutdown: the loop stops at the next await point. Dropping a pass mid-way is safe: an
//!   append already handed to a blocking thread finishes and checkpoints on its own, and
//!   anything else is redone by the next pass (see [`crate::state`]).
//! - A failing source is logged (warn) and recorded for `collect status`; it never stops the
//!   loop or the server.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pochta_store::MailStore;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::{Error, NoProgress, State, sync_source};

/// How often sources are collected.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Pause after a successful pass.
    pub interval: Duration,
    /// Longest pause after failures.
    pub max_backoff: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            interval: Duration::from_secs(60),
            max_backoff: Duration::from_secs(3600),
        }
    }
}

impl Schedule {
    /// The default, with the pause after a successful pass taken from
    /// `POCHTA_COLLECTOR_INTERVAL` (seconds) when set — for tests and for impatient users
    /// until the config file has a `[collector]` table.
    pub fn from_env() -> Schedule {
        let mut s = Schedule::default();
        if let Some(secs) = std::env::var("POCHTA_COLLECTOR_INTERVAL")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v > 0.0)
        {
            s.interval = Duration::from_secs_f64(secs);
        }
        s
    }
}

/// An exclusive lock on one source, held for the duration of a pass.
#[derive(Debug)]
pub struct SourceLock {
    _file: File,
}

impl SourceLock {
    /// `Ok(None)` if another pass holds it.
    pub fn try_acquire(data_dir: &Path, source: i64) -> Result<Option<SourceLock>, Error> {
        let path = data_dir.join(format!("collector-{source}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::State(format!("{}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(SourceLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(Error::State(format!("{}: {e}", path.display())))
            }
        }
    }
}

/// Runs every configured source until `shutdown` completes.
pub async fn run_all<S: MailStore>(
    store: Arc<S>,
    data_dir: PathBuf,
    schedule: Schedule,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    tokio::select! {
        _ = &mut shutdown => {}
        _ = run_loop(store, data_dir, schedule) => {}
    }
    info!("collector stopped");
}

async fn run_loop<S: MailStore>(store: Arc<S>, data_dir: PathBuf, schedule: Schedule) {
    let state = loop {
        match State::open(&data_dir) {
            Ok(s) => break Arc::new(Mutex::new(s)),
            Err(e) => {
                warn!("collector: cannot open its state: {e}");
                tokio::time::sleep(schedule.interval).await;
            }
        }
    };
    // source id → (next due, consecutive failures)
    let mut due: HashMap<i64, (Instant, u32)> = HashMap::new();
    loop {
        let sources = {
            let st = state.lock().unwrap_or_else(|p| p.into_inner());
            st.sources(None)
        };
        let sources = match sources {
            Ok(s) => s,
            Err(e) => {
                warn!("collector: cannot read sources: {e}");
                tokio::time::sleep(schedule.interval).await;
                continue;
            }
        };
        due.retain(|id, _| sources.iter().any(|s| s.id == *id));
        for src in sources {
            let now = Instant::now();
            let (at, failures) = *due.entry(src.id).or_insert((now, 0));
            if at > now {
                continue;
            }
            let lock = match SourceLock::try_acquire(&data_dir, src.id) {
                Ok(Some(l)) => l,
                Ok(None) => {
                    // Someone (collect run) is on it; look again later.
                    due.insert(src.id, (now + schedule.interval, failures));
                    continue;
                }
                Err(e) => {
                    warn!("collector: {e}");
                    due.insert(src.id, (now + schedule.interval, failures));
                    continue;
                }
            };
            let (account, url) = (src.account.clone(), src.url.clone());
            let result = sync_source(
                Arc::clone(&store),
                Arc::clone(&state),
                src.clone(),
                &NoProgress,
            )
            .await;
            drop(lock);
            match result {
                Ok(r) => {
                    if r.messages > 0 || r.flag_updates > 0 {
                        info!(
                            account = %account, source = %url,
                            "collected {} messages ({} bytes), {} flag updates",
                            r.messages, r.bytes, r.flag_updates
                        );
                    }
                    due.insert(src.id, (Instant::now() + schedule.interval, 0));
                }
                Err(e) => {
                    let failures = failures.saturating_add(1);
                    let pause = schedule
                        .interval
                        .saturating_mul(1u32 << failures.min(16))
                        .min(schedule.max_backoff);
                    warn!(account = %account, source = %url, "collection failed (retry in {pause:?}): {e}");
                    due.insert(src.id, (Instant::now() + pause, failures));
                }
            }
        }
        let next = due
            .values()
            .map(|(t, _)| *t)
            .min()
            .unwrap_or_else(|| Instant::now() + schedule.interval)
            .min(Instant::now() + schedule.interval);
        tokio::time::sleep_until(next.max(Instant::now() + Duration::from_millis(200))).await;
    }
}
