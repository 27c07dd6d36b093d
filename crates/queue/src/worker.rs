//! The delivery worker: takes due recipients from the spool, delivers them, records outcomes.
//!
//! Implementation notes:
//! - Work is grouped by (message, destination domain): one attempt, one connection, every
//!   recipient of that message at that domain (RFC 5321 §4.5.4.1 … multiple RCPT per
//!   transaction). A group is never run twice at once: the worker keeps the set of groups in
//!   flight and only forgets one after its outcome is committed, so a due-query racing a
//!   finishing attempt cannot start a second delivery.
//! - Local domains (the store knows them) are delivered through [`pochta_delivery::Delivery`],
//!   the path SMTP takes too: every local recipient of a group in one stored copy, with a
//!   `Return-Path:` (RFC 5321 §4.4) — this is how bounces reach local senders.
//! - Hosts are tried in route/MX order, each address in turn; a [`HostFailure`] moves on, the
//!   first completed transaction decides (a per-recipient `4xx` is retried later, not at the
//!   next MX). When every host failed, the recipients are deferred with the last error.
//! - The worker wakes when a message is queued in-process, when an attempt finishes, when
//!   the next retry is due, and at least every `poll` (so `pochta queue retry`, run in
//!   another process, takes effect). On shutdown it stops starting attempts and lets those
//!   in flight finish (each has its own timeouts).

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pochta_delivery::{Delivery, DeliveryError, LocalMessage, Resolved};
use pochta_store::MailStore;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::client::{self, ClientConfig, HostFailure, Outgoing};
use crate::route::{self, Resolver, RouteError, Routes};
use crate::schedule::RetryPolicy;
use crate::spool::{Batch, Outcome, Recipient, Reporter, Spool, State};

/// Delivery to this server's own domains.
pub trait LocalDelivery: Send + Sync + 'static {
    /// Whether mail for `domain` stays here.
    fn is_local(&self, domain: &str) -> bool;
    /// Delivers `message` from `sender` (`None`: the null sender) to the local `rcpts`, with
    /// a `Return-Path:`; one outcome per recipient, in order.
    fn deliver(&self, sender: Option<&str>, rcpts: &[&str], message: &[u8]) -> Vec<Outcome>;
}

/// The outcome of a delivery error, as its SMTP reply says.
fn refused(e: &DeliveryError) -> Outcome {
    let r = e.reply();
    let reply = r.text();
    if r.class() == 5 {
        Outcome::Permanent { reply, mta: None }
    } else {
        Outcome::Temporary { reply, mta: None }
    }
}

/// Local delivery through the one delivery path: each recipient resolved (alias, catch-all,
/// quota), the message stored once for all that resolve.
impl<S: MailStore> LocalDelivery for Delivery<S> {
    fn is_local(&self, domain: &str) -> bool {
        self.is_local_domain(domain).unwrap_or(false)
    }

    fn deliver(&self, sender: Option<&str>, rcpts: &[&str], message: &[u8]) -> Vec<Outcome> {
        let mut out: Vec<Option<Outcome>> = vec![None; rcpts.len()];
        let mut accounts = Vec::new();
        for (o, rcpt) in out.iter_mut().zip(rcpts) {
            match self.resolve(rcpt) {
                Ok(Resolved::Local(a)) => accounts.push(a),
                // The domain stopped being local since the group was formed.
                Ok(Resolved::Remote) => {
                    *o = Some(refused(&DeliveryError::UnknownUser((*rcpt).to_owned())))
                }
                Err(e) => {
                    if e.is_failure() {
                        tracing::error!(to = rcpt, error = %e, "queue: local delivery failed");
                    }
                    *o = Some(refused(&e));
                }
            }
        }
        let stored = Delivery::deliver(self, &LocalMessage::new(sender, message, &accounts));
        if let Err(e) = &stored
            && e.is_failure()
        {
            tracing::error!(error = %e, "queue: local delivery failed");
        }
        out.into_iter()
            .map(|o| {
                o.unwrap_or_else(|| match &stored {
                    Ok(_) => Outcome::Delivered {
                        reply: "250 2.0.0 delivered locally".into(),
                        mta: None,
                        relayed: false,
                    },
                    Err(e) => refused(e),
                })
            })
            .collect()
    }
}

/// How the worker runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub routes: Routes,
    pub policy: RetryPolicy,
    pub client: ClientConfig,
    /// Our host name (DSNs).
    pub hostname: String,
    /// Attempts in flight at once.
    pub concurrency: usize,
    /// Longest sleep between looks at the spool.
    pub poll: Duration,
}

impl WorkerSettings {
    pub fn new(hostname: &str) -> WorkerSettings {
        WorkerSettings {
            routes: Routes::default(),
            policy: RetryPolicy::default(),
            client: ClientConfig::new(hostname),
            hostname: hostname.to_owned(),
            concurrency: 16,
            poll: Duration::from_secs(10),
        }
    }
}

struct Inner<R, L> {
    spool: Arc<Spool>,
    settings: WorkerSettings,
    reporter: Reporter,
    resolver: R,
    local: L,
}

/// The delivery worker; see the module notes.
pub struct Worker<R, L> {
    inner: Arc<Inner<R, L>>,
    wake: Arc<Notify>,
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

type Key = (String, String);

impl<R: Resolver, L: LocalDelivery> Worker<R, L> {
    pub(crate) fn new(
        spool: Arc<Spool>,
        wake: Arc<Notify>,
        settings: WorkerSettings,
        resolver: R,
        local: L,
    ) -> Self {
        let reporter = Reporter {
            hostname: settings.hostname.clone(),
        };
        Worker {
            inner: Arc::new(Inner {
                spool,
                settings,
                reporter,
                resolver,
                local,
            }),
            wake,
        }
    }

    /// Runs until `shutdown` completes, then waits for the attempts in flight.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut in_flight: HashSet<Key> = HashSet::new();
        let mut tasks: JoinSet<Key> = JoinSet::new();
        tracing::info!("outbound delivery worker started");
        loop {
            while let Some(done) = tasks.try_join_next() {
                forget(&mut in_flight, done);
            }
            let now = unix_now();
            self.housekeeping(now);
            // Claim no more than can start now: a claimed batch is leased to this process.
            let free = self
                .inner
                .settings
                .concurrency
                .saturating_sub(in_flight.len());
            let mut blocked = free == 0;
            match self.inner.spool.claim(now, free) {
                Ok(batches) => {
                    for b in batches {
                        let key = (b.message_id.clone(), b.domain.clone());
                        if in_flight.contains(&key) {
                            blocked = true;
                            continue;
                        }
                        if in_flight.len() >= self.inner.settings.concurrency {
                            blocked = true;
                            break;
                        }
                        in_flight.insert(key.clone());
                        let inner = Arc::clone(&self.inner);
                        tasks.spawn(async move {
                            inner.attempt(&b).await;
                            key
                        });
                    }
                }
                Err(e) => tracing::error!(error = %e, "queue: cannot read due messages"),
            }
            let mut wait = self.inner.settings.poll;
            if !blocked && let Ok(Some(next)) = self.inner.spool.next_due() {
                let secs = (next - unix_now()).max(1) as u64;
                wait = wait.min(Duration::from_secs(secs));
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.wake.notified() => {}
                Some(done) = tasks.join_next(), if !tasks.is_empty() => forget(&mut in_flight, done),
                _ = tokio::time::sleep(wait) => {}
            }
        }
        tracing::info!(in_flight = tasks.len(), "outbound delivery worker stopping");
        while tasks.join_next().await.is_some() {}
    }

    /// Delivers everything due now and returns how many groups were attempted (tests, and a
    /// `queue flush`-like use).
    pub async fn run_once(&self) -> usize {
        let now = unix_now();
        self.housekeeping(now);
        let batches = match self.inner.spool.claim(now, 1000) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "queue: cannot read due messages");
                return 0;
            }
        };
        let mut tasks = JoinSet::new();
        let n = batches.len();
        for b in batches {
            let inner = Arc::clone(&self.inner);
            tasks.spawn(async move { inner.attempt(&b).await });
        }
        while tasks.join_next().await.is_some() {}
        n
    }

    fn housekeeping(&self, now: i64) {
        if let Some(after) = self.inner.settings.policy.delay_warning
            && let Err(e) =
                self.inner
                    .spool
                    .warn_delayed(now, after.as_secs() as i64, &self.inner.reporter)
        {
            tracing::error!(error = %e, "queue: cannot queue delay warnings");
        }
    }
}

fn forget(in_flight: &mut HashSet<Key>, done: Result<Key, tokio::task::JoinError>) {
    match done {
        Ok(key) => {
            in_flight.remove(&key);
        }
        // A panicked attempt: its group stays blocked until restart rather than loop on it.
        Err(e) => tracing::error!(error = %e, "queue: delivery task failed"),
    }
}

impl<R: Resolver, L: LocalDelivery> Inner<R, L> {
    async fn attempt(&self, batch: &Batch) {
        let id = &batch.message_id;
        let message = match self.spool.message(id) {
            Ok(Some(m)) => m,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(%id, error = %e, "queue: cannot read message");
                return;
            }
        };
        let statuses = match self.spool.recipients(id) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(%id, error = %e, "queue: cannot read recipients");
                return;
            }
        };
        let rcpts: Vec<(u32, Recipient)> = statuses
            .into_iter()
            .filter(|s| {
                batch.recipients.contains(&s.index)
                    && matches!(s.state, State::Pending | State::Deferred)
            })
            .map(|s| (s.index, s.recipient))
            .collect();
        if rcpts.is_empty() {
            return;
        }
        let outcomes = if self.local.is_local(&batch.domain) {
            let addresses: Vec<&str> = rcpts.iter().map(|(_, r)| r.address.as_str()).collect();
            let sender = message.envelope.sender.as_deref();
            let outs = self.local.deliver(sender, &addresses, &message.body);
            rcpts.iter().map(|(i, _)| *i).zip(outs).collect()
        } else {
            let refs: Vec<(u32, &Recipient)> = rcpts.iter().map(|(i, r)| (*i, r)).collect();
            let out = Outgoing {
                envelope: &message.envelope,
                recipients: &refs,
                body: &message.body,
            };
            self.remote(&batch.domain, &out).await
        };
        for (i, o) in &outcomes {
            let addr = rcpts
                .iter()
                .find(|(j, _)| j == i)
                .map_or("", |(_, r)| r.address.as_str());
            match o {
                Outcome::Delivered { reply, mta, .. } => {
                    tracing::info!(%id, to = addr, relay = mta.as_deref().unwrap_or("local"), %reply, "queue: delivered")
                }
                Outcome::Temporary { reply, .. } => {
                    tracing::warn!(%id, to = addr, %reply, "queue: deferred")
                }
                Outcome::Permanent { reply, .. } => {
                    tracing::warn!(%id, to = addr, %reply, "queue: failed")
                }
            }
        }
        if let Err(e) = self.spool.record(
            id,
            &outcomes,
            unix_now(),
            &self.settings.policy,
            &self.reporter,
        ) {
            tracing::error!(%id, error = %e, "queue: cannot record delivery outcome");
        }
    }

    async fn remote(&self, domain: &str, msg: &Outgoing<'_>) -> Vec<(u32, Outcome)> {
        let all = |o: Outcome| -> Vec<(u32, Outcome)> {
            msg.recipients
                .iter()
                .map(|(i, _)| (*i, o.clone()))
                .collect()
        };
        let hops = match route::plan(domain, &self.settings.routes, &self.resolver).await {
            Ok(h) => h,
            Err(RouteError::Permanent(reply)) => {
                return all(Outcome::Permanent { reply, mta: None });
            }
            Err(RouteError::Temporary(reply)) => {
                return all(Outcome::Temporary { reply, mta: None });
            }
        };
        let mut last = format!("no usable host for {domain}");
        for hop in hops.iter().take(10) {
            let ips = match route::addresses(&hop.route.host, &self.resolver).await {
                Ok(ips) => ips,
                Err(e) => {
                    last = format!("cannot resolve {}: {e:?}", hop.route.host);
                    continue;
                }
            };
            for ip in ips.into_iter().take(4) {
                let addr = SocketAddr::new(ip, hop.route.port);
                match client::deliver(&hop.route, addr, &self.settings.client, msg).await {
                    Ok(outcomes) => return outcomes,
                    Err(HostFailure(e)) => {
                        tracing::debug!(host = %hop.route.host, %addr, error = %e, "queue: host failed");
                        last = format!("{}[{addr}]: {e}", hop.route.host);
                    }
                }
            }
        }
        all(Outcome::Temporary {
            reply: last,
            mta: None,
        })
    }
}
