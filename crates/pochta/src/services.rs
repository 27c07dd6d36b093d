//! Which service answers on which listener — the one place to swap in real protocol crates.
//!
//! Implementation notes:
//! - IMAP is served by `pochta-imap`, POP3 by `pochta-pop3`, SMTP by `pochta-smtp`: one
//!   service for the MTA (`smtp`) and one for submission (`submission`, `submissions`).
//!   Submission hands remote recipients to the outbound queue (`pochta-queue`, in
//!   `data_dir/queue.sqlite3`), whose delivery worker runs here until shutdown.
//! - Each service is an `Arc` shared by the protocol's plain and implicit-TLS listeners.
//! - `http`/`https` serve `pochta-http`: CardDAV over the contacts store with the shared
//!   throttle and auth cache (one login flow for every protocol); the autoconfig documents name the listeners
//!   configured here (implicit TLS preferred, RFC 8314), `/healthz` asks the store and the
//!   accept loops, and the metrics registry's scrape hook reads the queue depth and the sizes
//!   of the store files.

use std::sync::Arc;

use pochta_auth::{AuthCache, Throttle};
use pochta_dns::Dns;
use pochta_http::carddav::{CardDav, StoreLogins};
use pochta_http::{Endpoint, HealthCheck, HttpConfig, HttpService, MailServers, Security};
use pochta_store::ContactStore;

use pochta_imap::{ImapConfig, ImapService};
use pochta_pop3::{Pop3Config, Pop3Service};
use pochta_queue::{Delivery, DnsResolver, Queue, WorkerSettings};
use pochta_smtp::{Kind, OutboundQueue, SmtpConfig, SmtpService, Verifier};

use crate::backend::Store;
use crate::config::{Config, Protocol};
use crate::serve::Runner;

/// What every service may need, built once by `serve`.
pub struct Ctx {
    pub config: Arc<Config>,
    pub store: Store,
    /// Shared by all protocols so guessing cannot be spread across them.
    pub throttle: Arc<Throttle>,
    /// Recently verified passwords, shared by all protocols (see `pochta_auth::cache`).
    pub auth_cache: Arc<AuthCache>,
    /// The outbound queue: submission enqueues, the worker delivers.
    pub queue: Queue,
    /// Address books (CardDAV on the HTTP listeners).
    pub contacts: Arc<dyn ContactStore>,
    /// Bytes of spooled messages that IMAP, SMTP and the collector may hold in memory at
    /// once to parse, check and store them (see `pochta_net::budget`).
    pub message_budget: pochta_net::MessageBudget,
    /// The full-text index IMAP SEARCH uses (see [`crate::search`]).
    pub search: Option<Arc<dyn pochta_store::SearchIndex>>,
}

/// Starts one service per configured listener.
pub fn wire(ctx: &Ctx, run: &mut Runner) {
    // One resolver (and cache) for inbound checks and outbound routing.
    let dns = Arc::new(Dns::new(&ctx.config.dns.resolver()));
    let mut imap = ImapService::new(
        Arc::new(ctx.store.clone()),
        imap_config(&ctx.config, &ctx.message_budget),
        Arc::clone(&ctx.throttle),
        Arc::clone(&ctx.auth_cache),
    );
    if let Some(index) = &ctx.search {
        imap = imap.with_search(Arc::clone(index));
    }
    let imap = Arc::new(imap);
    let pop3 = Arc::new(Pop3Service::new(
        Arc::new(ctx.store.clone()),
        pop3_config(&ctx.config),
        Arc::clone(&ctx.throttle),
        Arc::clone(&ctx.auth_cache),
    ));
    let smtp = Arc::new(smtp_service(ctx, Kind::Mta, &dns));
    let submission = Arc::new(smtp_service(ctx, Kind::Submission, &dns));

    run.serve(Protocol::Imap, Arc::clone(&imap));
    run.serve(Protocol::Imaps, imap);
    run.serve(Protocol::Pop3, Arc::clone(&pop3));
    run.serve(Protocol::Pop3s, pop3);
    run.serve(Protocol::Smtp, smtp);
    run.serve(Protocol::Submission, Arc::clone(&submission));
    run.serve(Protocol::Submissions, submission);
    let http = Arc::new(http_service(ctx, run));
    run.serve(Protocol::Http, Arc::clone(&http));
    run.serve(Protocol::Https, http);

    let worker = ctx.queue.worker(
        outbound_settings(&ctx.config),
        DnsResolver::new(dns),
        Delivery::new(Arc::new(ctx.store.clone())),
    );
    let (mut shutdown, tracker) = run.background();
    tokio::spawn(async move {
        let _tracker = tracker;
        worker.run(async move { shutdown.wait().await }).await;
    });
}

fn outbound_settings(config: &Config) -> WorkerSettings {
    let mut s = WorkerSettings::new(&config.hostname);
    s.routes = config.smtp.routes.clone();
    if let Some(port) = config.dns.mx_port {
        s.routes.set_mx_port(port);
    }
    s.policy = config.smtp.queue.policy.clone();
    s.concurrency = config.smtp.queue.concurrency;
    s
}

fn imap_config(config: &Config, budget: &pochta_net::MessageBudget) -> ImapConfig {
    ImapConfig {
        hostname: config.hostname.clone(),
        plaintext: config.plaintext,
        max_message: config.limits.max_message_size,
        idle_timeout: config.limits.imap_idle_timeout,
        login_timeout: config.limits.login_timeout,
        anonymous: config.imap.anonymous,
        parallel: config.imap.parallel,
        min_data_rate: config.limits.min_data_rate,
        data_rate_grace: config.limits.data_rate_grace,
        spool_dir: Some(config.data_dir.join("tmp")),
        message_budget: budget.clone(),
    }
}

fn pop3_config(config: &Config) -> Pop3Config {
    Pop3Config {
        hostname: config.hostname.clone(),
        plaintext: config.plaintext,
        mark_seen: config.pop3.mark_seen,
        login_timeout: config.limits.login_timeout,
        ..Pop3Config::default()
    }
}

fn smtp_service(ctx: &Ctx, kind: Kind, dns: &Arc<Dns>) -> SmtpService<Store> {
    let c = &ctx.config;
    let verifier = if kind == Kind::Mta && c.smtp.check_inbound {
        Verifier::new(&c.hostname, Arc::clone(dns))
    } else {
        Verifier::disabled(&c.hostname)
    };
    SmtpService::new(pochta_smtp::Shared {
        store: Arc::new(ctx.store.clone()),
        config: SmtpConfig {
            hostname: c.hostname.clone(),
            plaintext: c.plaintext,
            max_message: c.limits.max_message_size,
            max_recipients: c.smtp.max_recipients as usize,
            max_errors: c.smtp.max_errors,
            idle_timeout: c.limits.smtp_idle_timeout,
            login_timeout: c.limits.login_timeout,
            greeting_delay: c.smtp.greeting_delay,
            dmarc_reject: c.smtp.dmarc_reject,
            save_sent: c.smtp.save_sent,
            spool_dir: Some(c.data_dir.join("tmp")),
            message_budget: ctx.message_budget.clone(),
            min_data_rate: c.limits.min_data_rate,
            data_rate_grace: c.limits.data_rate_grace,
            ..SmtpConfig::default()
        },
        kind,
        throttle: Arc::clone(&ctx.throttle),
        auth_cache: Arc::clone(&ctx.auth_cache),
        verifier: Arc::new(verifier),
        queue: (kind == Kind::Submission)
            .then(|| Arc::new(ctx.queue.clone()) as Arc<dyn OutboundQueue>),
    })
}

/// What mail programs are told: each service's preferred listener (implicit TLS first).
pub fn mail_servers(config: &Config) -> MailServers {
    let pick = |tls: Protocol, plain: Protocol| {
        let port = |p| {
            config
                .addrs(p)
                .first()
                .map(|a: &std::net::SocketAddr| a.port())
        };
        port(tls)
            .map(|port| Endpoint {
                port,
                security: Security::Tls,
            })
            .or_else(|| {
                port(plain).map(|port| Endpoint {
                    port,
                    security: Security::StartTls,
                })
            })
    };
    MailServers {
        hostname: config.hostname.clone(),
        imap: pick(Protocol::Imaps, Protocol::Imap),
        pop3: pick(Protocol::Pop3s, Protocol::Pop3),
        smtp: pick(Protocol::Submissions, Protocol::Submission),
    }
}

fn http_service(ctx: &Ctx, run: &Runner) -> HttpService {
    let c = &ctx.config;
    // Gauges nobody updates as things happen: read at every scrape.
    let spool = Arc::clone(ctx.queue.spool());
    let data_dir = c.data_dir.clone();
    pochta_metrics::on_scrape(move || {
        if let Ok(list) = spool.list() {
            let open = list
                .iter()
                .flat_map(|m| &m.recipients)
                .filter(|r| r.state.is_open())
                .count();
            pochta_metrics::queue_depth(open as u64);
        }
        for file in [
            "pochta.sqlite3",
            "pochta.sqlite3-wal",
            "queue.sqlite3",
            "collector.sqlite3",
        ] {
            if let Ok(m) = std::fs::metadata(data_dir.join(file)) {
                pochta_metrics::store_bytes(file, m.len());
            }
        }
    });
    // Messages and bytes stored: the accounts' quota usage (kept by the store as it changes).
    let sized = ctx.store.clone();
    pochta_metrics::on_scrape(move || {
        use pochta_store::{Directory, MailStore};
        let Ok(accounts) = sized.account_list() else {
            return;
        };
        let (mut messages, mut bytes) = (0u64, 0u64);
        for a in accounts {
            if let Ok(q) = sized.quota(a.id) {
                messages = messages.saturating_add(q.messages);
                bytes = bytes.saturating_add(q.storage);
            }
        }
        pochta_metrics::store_size(messages, bytes);
    });
    let store = ctx.store.clone();
    let running = Arc::clone(&run.running);
    let health: Vec<(&'static str, HealthCheck)> = vec![
        (
            "store",
            Box::new(move || {
                use pochta_store::Directory;
                store.domain_list().map(|_| ()).map_err(|e| e.to_string())
            }),
        ),
        (
            "listeners",
            Box::new(move || {
                let running = running.lock().unwrap_or_else(|p| p.into_inner());
                match running.iter().find(|(_, t)| t.is_finished()) {
                    Some((name, _)) => Err(format!("the {name} listener has stopped")),
                    None => Ok(()),
                }
            }),
        ),
    ];
    let carddav = CardDav {
        contacts: Arc::clone(&ctx.contacts),
        logins: Arc::new(StoreLogins {
            store: Arc::new(ctx.store.clone()),
            throttle: Arc::clone(&ctx.throttle),
            cache: Arc::clone(&ctx.auth_cache),
            plaintext: c.plaintext,
        }),
    };
    HttpService::new(
        HttpConfig {
            servers: mail_servers(c),
            metrics_allow: c.http.metrics_allow.clone(),
        },
        health,
        Some(carddav),
    )
}
