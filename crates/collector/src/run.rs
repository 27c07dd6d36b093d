//! Running every configured source continuously (`pochta serve`), and the per-source lock.
//!
//! Implementation notes:
//! - One pass per source at a time, across processes (and, on a shared backend, nodes): a pass
//!   holds the collector store's lock on its source ([`State::lock_source`]; the embedded
//!   backend takes an advisory `flock` on `data_dir/collector-<id>.lock`), so `pochta collect
//!   run` and `pochta serve` never work on the same source at once (two passes would both see
//!   the same checkpoint and import the same messages twice). The lock dies with the process.
//! - Schedule: a source is due `interval` after its last successful pass; after a failure it
//!   backs off exponentially (interval·2ⁿ, at most `max_backoff`). Sources added or deleted
//!   with the CLI while the server runs are picked up at the next wake-up.
//! - **IDLE** (RFC 2177): for every IMAP source whose server advertises IDLE (checked after
//!   login), a watcher task keeps one more connection open with INBOX EXAMINEd (read-only) and
//!   an IDLE command running. On `* n EXISTS` it ends the IDLE (`DONE`), asks the loop for an
//!   INBOX-only pass ([`crate::Scope::Inbox`], run under the same per-source lock), and idles
//!   again; so new INBOX mail is collected within about a second. An IDLE is also ended and
//!   re-issued, with an INBOX pass, every `idle_renew` (25 min: RFC 2177 §3 says to re-issue
//!   at least every 29 minutes to avoid being logged off). When a session (re)starts it asks
//!   for one INBOX pass too, for mail that arrived while nobody was idling. The other folders,
//!   and INBOX again, keep the interval polling; a server without IDLE is only polled. A
//!   watcher error (connection lost, `BYE`, NO) is logged and recorded for `collect status`;
//!   polling goes on meanwhile and the watcher reconnects after 5 s·2ⁿ (at most
//!   `max_backoff`). The watcher never writes the mail store or the checkpoints.
//! - Shutdown: the loop stops at the next await point. Dropping a pass mid-way is safe: an
//!   append already handed to a blocking thread finishes and checkpoints on its own, and
//!   anything else is redone by the next pass (see [`crate::state`]). IDLE watchers are told
//!   to stop: they send `DONE` and `LOGOUT` (bounded by a few seconds), then are dropped.
//! - A failing source is logged (warn) and recorded for `collect status`; it never stops the
//!   loop or the server.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pochta_store::MailStore;
use pochta_store::contacts::ContactStore;
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::imap::ImapClient;
use crate::imap::response::{Response, Status, StatusText};
use crate::state::SourceLock;
use crate::{
    Error, NoProgress, Protocol, Scope, SourceRow, State, sync_contacts, sync_source,
    sync_source_scoped,
};

/// First pause before an IDLE watcher reconnects after an error (doubles each time).
const IDLE_RETRY: Duration = Duration::from_secs(5);
/// How long watchers get to end their IDLE and log out at shutdown.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How often sources are collected.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Pause after a successful pass.
    pub interval: Duration,
    /// Longest pause after failures.
    pub max_backoff: Duration,
    /// How long one IDLE on a remote INBOX lasts before it is re-issued (and INBOX checked);
    /// RFC 2177 §3: at most 29 minutes.
    pub idle_renew: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            interval: Duration::from_secs(60),
            max_backoff: Duration::from_secs(3600),
            idle_renew: Duration::from_secs(25 * 60),
        }
    }
}

impl Schedule {
    /// This schedule, with the pause after a successful pass taken from
    /// `POCHTA_COLLECTOR_INTERVAL` (seconds, fractions allowed) when set: for tests, which
    /// cannot wait a minute, and a quick override without editing the config.
    pub fn with_env_override(mut self) -> Schedule {
        if let Some(secs) = std::env::var("POCHTA_COLLECTOR_INTERVAL")
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v > 0.0)
        {
            self.interval = Duration::from_secs_f64(secs);
        }
        self
    }
}

/// Runs every configured source until `shutdown` completes. `open` opens the collector's
/// state; it is called again after a pause while it fails.
pub async fn run_all<S: MailStore, O: Fn() -> Result<State, Error> + Send>(
    store: Arc<S>,
    contacts: Option<Arc<dyn ContactStore>>,
    open: O,
    schedule: Schedule,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut watchers = JoinSet::new();
    tokio::select! {
        _ = &mut shutdown => {}
        _ = run_loop(store, contacts, open, schedule, &mut watchers, stop_rx) => {}
    }
    // The IDLE watchers end their IDLE and log out; any still busy after the grace is dropped.
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(STOP_GRACE, async {
        while watchers.join_next().await.is_some() {}
    })
    .await;
    watchers.abort_all();
    info!("collector stopped");
}

async fn run_loop<S: MailStore, O: Fn() -> Result<State, Error> + Send>(
    store: Arc<S>,
    contacts: Option<Arc<dyn ContactStore>>,
    open: O,
    schedule: Schedule,
    watchers: &mut JoinSet<()>,
    stop: watch::Receiver<bool>,
) {
    let state = loop {
        match open() {
            Ok(s) => break Arc::new(Mutex::new(s)),
            Err(e) => {
                warn!("collector: cannot open its state: {e}");
                tokio::time::sleep(schedule.interval).await;
            }
        }
    };
    // source id → (next due, consecutive failures)
    let mut due: HashMap<i64, (Instant, u32)> = HashMap::new();
    // IMAP sources with an IDLE watcher started (it may have ended: no IDLE offered).
    let mut idle: HashMap<i64, AbortHandle> = HashMap::new();
    // Sources whose watcher asked for an INBOX pass.
    let (trigger_tx, mut trigger_rx) = mpsc::channel::<i64>(64);
    let mut inbox_due: HashSet<i64> = HashSet::new();
    loop {
        while watchers.try_join_next().is_some() {}
        while let Ok(id) = trigger_rx.try_recv() {
            inbox_due.insert(id);
        }
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
        idle.retain(|id, h| {
            let keep = sources.iter().any(|s| s.id == *id);
            if !keep {
                h.abort();
            }
            keep
        });
        inbox_due.retain(|id| sources.iter().any(|s| s.id == *id));
        for src in &sources {
            if src.url.protocol != Protocol::Imap || idle.contains_key(&src.id) {
                continue;
            }
            let password = {
                let st = state.lock().unwrap_or_else(|p| p.into_inner());
                st.password(src)
            };
            // Without a password the passes fail and say why; no watcher.
            let Ok(password) = password else { continue };
            let handle = watchers.spawn(watch_inbox(
                src.clone(),
                password,
                Arc::clone(&state),
                trigger_tx.clone(),
                stop.clone(),
                schedule,
            ));
            idle.insert(src.id, handle);
        }
        // New INBOX mail first: it is what a user waits for.
        for id in std::mem::take(&mut inbox_due) {
            let Some(src) = sources.iter().find(|s| s.id == id) else {
                continue;
            };
            let lock = match lock_source(&state, id) {
                Ok(Some(l)) => l,
                Ok(None) => {
                    // `collect run` is on it; try again shortly.
                    inbox_due.insert(id);
                    continue;
                }
                Err(e) => {
                    warn!("collector: {e}");
                    continue;
                }
            };
            let result = sync_source_scoped(
                Arc::clone(&store),
                Arc::clone(&state),
                src.clone(),
                &NoProgress,
                Scope::Inbox,
            )
            .await;
            drop(lock);
            match result {
                Ok(r) if r.messages > 0 || r.flag_updates > 0 => info!(
                    account = %src.account, source = %src.url,
                    "INBOX (IDLE): collected {} messages ({} bytes), {} flag updates",
                    r.messages, r.bytes, r.flag_updates
                ),
                Ok(_) => {}
                Err(e) => {
                    warn!(account = %src.account, source = %src.url, "INBOX pass after IDLE failed: {e}")
                }
            }
        }
        for src in sources {
            let now = Instant::now();
            let (at, failures) = *due.entry(src.id).or_insert((now, 0));
            if at > now {
                continue;
            }
            let lock = match lock_source(&state, src.id) {
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
            // The source's address book (`--contacts`), after its mail, under the same lock.
            if let Some(c) = &contacts {
                match sync_contacts(&*store, Arc::clone(c), Arc::clone(&state), &src).await {
                    Ok(Some(r)) if r.stored > 0 || r.deleted > 0 => info!(
                        account = %account, source = %url,
                        "contacts: {} stored, {} deleted", r.stored, r.deleted
                    ),
                    Ok(_) => {}
                    Err(e) => warn!(account = %account, source = %url, "{e}"),
                }
            }
            drop(lock);
            pochta_metrics::collector_pass(&src.id.to_string(), result.is_ok());
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
        let next = if inbox_due.is_empty() {
            next
        } else {
            next.min(Instant::now() + Duration::from_secs(1))
        };
        tokio::select! {
            _ = tokio::time::sleep_until(next.max(Instant::now() + Duration::from_millis(200))) => {}
            Some(id) = trigger_rx.recv() => {
                inbox_due.insert(id);
            }
        }
    }
}

/// How an IDLE session ended without an error.
enum SessionEnd {
    Stopped,
    NotOffered,
}

fn lock_source(state: &Mutex<State>, source: i64) -> Result<Option<SourceLock>, Error> {
    let st = state.lock().unwrap_or_else(|p| p.into_inner());
    st.lock_source(source)
}

fn set_idle(state: &Mutex<State>, source: i64, what: Option<&str>) {
    let st = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = st.set_idle(source, what) {
        debug!("collector: cannot record IDLE status: {e}");
    }
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: stop too.
    let _ = stop.wait_for(|v| *v).await;
}

/// The IDLE watcher of one IMAP source: sessions until stopped, reconnecting with backoff.
async fn watch_inbox(
    src: SourceRow,
    password: String,
    state: Arc<Mutex<State>>,
    trigger: mpsc::Sender<i64>,
    mut stop: watch::Receiver<bool>,
    schedule: Schedule,
) {
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        let end = idle_session(&src, &password, &state, &trigger, &mut stop, schedule).await;
        match end {
            Ok(SessionEnd::Stopped) => break,
            Ok(SessionEnd::NotOffered) => {
                info!(account = %src.account, source = %src.url, "the server does not offer IDLE; INBOX is polled");
                set_idle(&state, src.id, Some("not offered by the server; polled"));
                return;
            }
            Err(e) => {
                if started.elapsed() >= schedule.idle_renew {
                    failures = 0;
                }
                failures = failures.saturating_add(1);
                let pause = IDLE_RETRY
                    .saturating_mul(1u32 << (failures - 1).min(16))
                    .min(schedule.max_backoff.max(IDLE_RETRY));
                warn!(
                    account = %src.account, source = %src.url,
                    "IDLE on INBOX failed (polling meanwhile; IDLE again in {pause:?}): {e}"
                );
                set_idle(
                    &state,
                    src.id,
                    Some(&format!("failed: {e}; polled, IDLE again in {pause:?}")),
                );
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = stopped(&mut stop) => break,
                }
            }
        }
    }
    set_idle(&state, src.id, None);
}

/// One connection idling on INBOX until it fails or `stop`.
async fn idle_session(
    src: &SourceRow,
    password: &str,
    state: &Mutex<State>,
    trigger: &mpsc::Sender<i64>,
    stop: &mut watch::Receiver<bool>,
    schedule: Schedule,
) -> Result<SessionEnd, Error> {
    let mut client = tokio::select! {
        c = async {
            // The stored credential, an OAuth token renewed if it is about to expire.
            let credential = match crate::oauth::Credential::from_secret(password.to_owned())? {
                crate::oauth::Credential::Password(p) => crate::oauth::Credential::Password(p),
                crate::oauth::Credential::OAuth(_) => crate::oauth::current(state, src).await?,
            };
            let mut c = ImapClient::connect(&src.url, src.insecure).await?;
            c.sign_in(&src.user, &credential).await?;
            Ok::<_, Error>(c)
        } => c?,
        _ = stopped(stop) => return Ok(SessionEnd::Stopped),
    };
    // RFC 2177 §1: a client must not send IDLE unless the server advertises it.
    if !client.has_cap("IDLE") {
        client.logout().await;
        return Ok(SessionEnd::NotOffered);
    }
    client.examine("INBOX").await?;
    // Mail that arrived while nobody was idling (a full channel means passes are queued).
    let _ = trigger.try_send(src.id);
    set_idle(
        state,
        src.id,
        Some(&format!(
            "active since {}",
            crate::cli::format_utc(crate::state::now())
        )),
    );
    loop {
        let tag = client.idle_start().await?;
        let deadline = Instant::now() + schedule.idle_renew;
        let stopping = loop {
            tokio::select! {
                r = client.idle_wait(deadline) => match r? {
                    // Renewal time (RFC 2177 §3).
                    None => break false,
                    Some(Response::Numbered { name, .. }) if name == "EXISTS" => break false,
                    Some(Response::UntaggedStatus(StatusText {
                        status: Status::Bye,
                        text,
                        ..
                    })) => return Err(Error::Remote(format!("server closed: {text}"))),
                    // `* OK Still here`, RECENT, EXPUNGE, FETCH (flags: the polling has them).
                    Some(_) => {}
                },
                _ = stopped(stop) => break true,
            }
        };
        if stopping {
            let _ = tokio::time::timeout(Duration::from_secs(2), client.idle_done(&tag)).await;
            client.logout().await;
            return Ok(SessionEnd::Stopped);
        }
        client.idle_done(&tag).await?;
        debug!(source = %src.url, "IDLE: INBOX changed or renewal; INBOX pass");
        let _ = trigger.try_send(src.id);
    }
}
