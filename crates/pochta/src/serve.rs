//! `pochta serve`: load, bind, announce, serve, and shut down on SIGTERM/SIGINT.
//!
//! Implementation notes:
//! - Everything that can fail at startup (config, store, TLS files, binding every address)
//!   happens before the first "listening" line, so a server that announces itself is
//!   actually serving, and a broken setup exits 1 with the reason.
//! - Plain listeners always offer STARTTLS: TLS is always available, from `[tls]` or from the
//!   self-signed certificate generated into `data_dir`.
//! - SIGHUP re-reads the certificate and key files (`[tls]` or the self-signed pair) into the
//!   [`ReloadableCert`] every acceptor resolves through, so new handshakes present the new
//!   certificate without a restart; a pair that fails to load is logged and the old one kept.
//!   The handlers are installed before any listener is bound, so an early SIGHUP never takes
//!   the default action (exit).
//! - Shutdown: the signal stops every accept loop, sessions are told (BYE/421) and get
//!   `limits.shutdown_timeout` to finish; then the process exits 0 either way.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{Context, Result};
use pochta_auth::{AuthCache, Throttle, ThrottleConfig};
use pochta_net::{
    Limiter, Listener, ListenerConfig, ReloadableCert, Service, Shutdown, ShutdownController,
    TlsMode, Tracker,
};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tracing::{info, warn};

use crate::backend;
use crate::config::{Config, Protocol};
use crate::services::{self, Ctx};

/// Hands bound listeners to services; see [`services::wire`].
pub struct Runner {
    listeners: HashMap<Protocol, Listener>,
    ctl: ShutdownController,
    /// The running accept loops, for `/healthz`.
    pub running: Running,
}

/// Each served listener's name and accept-loop task.
pub type Running = Arc<std::sync::Mutex<Vec<(&'static str, tokio::task::JoinHandle<()>)>>>;

impl Runner {
    /// Serves `p`'s listener (if configured) with `service`.
    pub fn serve<S: Service>(&mut self, p: Protocol, service: Arc<S>) {
        if let Some(l) = self.listeners.remove(&p) {
            let task = tokio::spawn(l.run(service, self.ctl.subscribe(), self.ctl.tracker()));
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            running.push((p.key(), task));
        }
    }

    /// For a background task (the outbound delivery worker): the shutdown signal, and a
    /// tracker to hold until the task has finished, so shutdown waits for it.
    pub fn background(&self) -> (Shutdown, Tracker) {
        (self.ctl.subscribe(), self.ctl.tracker())
    }
}

/// The reloadable certificate from `[tls]`, or from the self-signed pair in `data_dir`.
fn tls_cert(config: &Config) -> Result<Arc<ReloadableCert>> {
    match &config.tls {
        Some(files) => Ok(ReloadableCert::load(&files.cert, &files.key)?),
        None => {
            let (cert, key, fresh) =
                pochta_net::ensure_self_signed(&config.data_dir, &config.hostname)?;
            if fresh {
                info!(cert = %cert.display(), "generated a self-signed certificate for {}", config.hostname);
            }
            Ok(ReloadableCert::load(&cert, &key)?)
        }
    }
}

/// What a connection over its address's limit is told before the close: a temporary
/// failure in each protocol's words (RFC 5321 §4.2.3 421 + RFC 3463 4.7.0; RFC 5530
/// UNAVAILABLE; RFC 3206 SYS/TEMP).
fn refusal(p: Protocol) -> &'static [u8] {
    match p {
        Protocol::Imap | Protocol::Imaps => pochta_imap::refusal(),
        Protocol::Pop3 | Protocol::Pop3s => {
            b"-ERR [SYS/TEMP] Too many connections from your address, try again later\r\n"
        }
        Protocol::Smtp | Protocol::Submission | Protocol::Submissions => {
            b"421 4.7.0 Too many connections from your address, try again later\r\n"
        }
        Protocol::Http | Protocol::Https => pochta_http::REFUSAL,
    }
}

pub async fn serve(config: Config) -> Result<()> {
    let config = Arc::new(config);
    let mut signals = Signals::install()?;
    let store = crate::admin::open(&config)?;
    let cert = tls_cert(&config)?;
    let acceptor = cert.acceptor()?;
    let limiter = Limiter::new(
        config.limits.max_connections,
        config.limits.connections_per_ip,
    );

    let mut listeners = HashMap::new();
    for (p, addrs) in &config.listen {
        if addrs.is_empty() {
            continue;
        }
        let tls = if p.implicit_tls() {
            TlsMode::Implicit(acceptor.clone())
        } else if *p == Protocol::Http {
            // HTTP has no STARTTLS: plain, or `https` with implicit TLS.
            TlsMode::Plain
        } else {
            TlsMode::StartTls(acceptor.clone())
        };
        let cfg = ListenerConfig {
            name: p.key().to_owned(),
            addrs: addrs.clone(),
            tls,
            idle_timeout: config.idle_timeout(*p),
            handshake_timeout: config.limits.tls_handshake_timeout,
            max_per_ip: Some(config.connections_per_ip(*p)),
            login_required: *p != Protocol::Smtp,
            refusal: refusal(*p),
        };
        let l = Listener::bind(cfg, Arc::clone(&limiter)).await?;
        listeners.insert(*p, l);
    }
    if listeners.is_empty() {
        warn!("no [listen] addresses are configured; nothing to serve");
    }
    for p in Protocol::ALL {
        if let Some(l) = listeners.get(&p) {
            info!("{}", l.describe());
        }
    }

    // data_dir/tmp: bodies spooled while they arrive. Its files have no name, so anything
    // found here is left over from elsewhere; start empty.
    let spool = config.data_dir.join("tmp");
    if spool.exists() {
        std::fs::remove_dir_all(&spool)?;
    }
    std::fs::create_dir_all(&spool)?;
    // The login throttle counts failures in the store: every node on a PostgreSQL store
    // sees the same counters (issue 18).
    let throttle = Throttle::with_store(ThrottleConfig::default(), Arc::new(store.clone()));
    let ctx = Ctx {
        config: Arc::clone(&config),
        store,
        throttle: Arc::new(throttle),
        auth_cache: Arc::new(AuthCache::default()),
        queue: pochta_queue::Queue::new(backend::queue_store(&config)?, &config.data_dir),
        contacts: backend::contact_store(&config)?,
        message_budget: pochta_net::MessageBudget::new(config.limits.message_memory),
        search: backend::search_index(&config)?,
    };
    let mut runner = Runner {
        listeners,
        ctl: ShutdownController::new(),
        running: Running::default(),
    };
    services::wire(&ctx, &mut runner);
    // The collector: every source in data_dir/collector.sqlite3, until shutdown.
    let collector = {
        let mut shutdown = runner.ctl.subscribe();
        let tracker = runner.ctl.tracker();
        let store = Arc::new(ctx.store.clone());
        let contacts = Some(Arc::clone(&ctx.contacts));
        let open_state = backend::collector_opener(&config);
        let schedule = config.collector.with_env_override();
        // Large FETCH literals and RETR answers are spooled to data_dir/tmp like APPEND's,
        // under the server's message budget; none larger than a message the server accepts.
        crate::collect::configure(&config, ctx.message_budget.clone())?;
        tokio::spawn(async move {
            let _tracker = tracker;
            pochta_collector::run::run_all(store, contacts, open_state, schedule, async move {
                shutdown.wait().await
            })
            .await
        })
    };
    // The search indexer (see crate::search), until shutdown.
    let indexer = ctx.search.as_ref().map(|index| {
        let mut shutdown = runner.ctl.subscribe();
        let indexer = Arc::new(
            crate::search::Indexer::new(Arc::new(ctx.store.clone()), Arc::clone(index))
                .with_budget(ctx.message_budget.clone()),
        );
        let settle = config.search.settle;
        tokio::spawn(indexer.run(settle, async move { shutdown.wait().await }))
    });
    info!(hostname = %config.hostname, data_dir = %config.data_dir.display(), "pochta ready");

    let signal = signals.wait_for_shutdown(&cert).await;
    info!("{signal} received; shutting down");
    let grace = config.limits.shutdown_timeout;
    if runner.ctl.drain(grace).await {
        info!("all sessions ended; bye");
    } else {
        warn!("sessions still open after {grace:?}; closing them");
    }
    collector.abort();
    if let Some(i) = indexer {
        i.abort();
    }
    Ok(())
}

struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    fn install() -> Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot install SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("cannot install SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("cannot install SIGHUP handler")?,
        })
    }

    /// Reloads `cert` on every SIGHUP; returns the name of the signal that asks to stop.
    async fn wait_for_shutdown(&mut self, cert: &ReloadableCert) -> &'static str {
        loop {
            tokio::select! {
                _ = self.term.recv() => return "SIGTERM",
                _ = self.int.recv() => return "SIGINT",
                _ = self.hup.recv() => match cert.reload() {
                    Ok(()) => info!(cert = %cert.cert_path().display(), "SIGHUP: TLS certificate reloaded"),
                    Err(e) => warn!("SIGHUP: TLS certificate not reloaded, keeping the current one: {e}"),
                },
            }
        }
    }
}
