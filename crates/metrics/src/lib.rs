//! The server's metrics: one process-wide Prometheus registry that every crate updates with
//! one call at the point where the thing happens, and that `/metrics` encodes.
//!
//! Implementation notes:
//! - A leaf crate on `prometheus-client` (text exposition format, OpenMetrics 1.0): no
//!   runtime, no storage, so any layer may call it without a layering violation.
//! - One process-wide registry ([`METRICS`]), because a server is one process and the
//!   calls sit deep in session code where threading a handle through would touch every
//!   constructor. Tests that need isolation run the real binary, one process each.
//! - Values the server does not see happen (queue depth, store sizes) are gauges refreshed by
//!   hooks ([`on_scrape`]) that run just before each encoding, so they cost nothing between
//!   scrapes.
//! - Label values come from a fixed vocabulary (listener names, protocol and mechanism names,
//!   IMAP command names as parsed, reply codes, collector source ids), never from free text a
//!   client chose, so a client cannot grow the registry without bound.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, RwLock};
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Label pairs of one series.
pub type Labels = Vec<(&'static str, String)>;
type Hist = Family<Labels, Histogram, fn() -> Histogram>;

/// Every metric the server exports.
pub struct Metrics {
    registry: Registry,
    pub connections: Family<Labels, Counter>,
    pub sessions: Family<Labels, Gauge>,
    pub logins: Family<Labels, Counter>,
    pub imap_commands: Family<Labels, Counter>,
    pub imap_latency: Hist,
    pub smtp_replies: Family<Labels, Counter>,
    pub queue_depth: Gauge,
    pub deliveries: Family<Labels, Counter>,
    pub collector_passes: Family<Labels, Counter>,
    pub collector_last_success: Family<Labels, Gauge>,
    pub store_bytes: Family<Labels, Gauge>,
    pub store_ops: Family<Labels, Counter>,
    pub store_messages: Gauge,
    pub store_message_bytes: Gauge,
    pub http_requests: Family<Labels, Counter>,
    hooks: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
}

fn latency_histogram() -> Histogram {
    // 100 µs .. ~26 s, factor 4.
    Histogram::new(exponential_buckets(0.0001, 4.0, 10))
}

/// The one registry.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("pochta");
        let connections = Family::default();
        registry.register(
            "connections",
            "Connections accepted, per listener",
            Family::clone(&connections),
        );
        let sessions = Family::default();
        registry.register(
            "sessions",
            "Sessions open now, per listener",
            Family::clone(&sessions),
        );
        let logins = Family::default();
        registry.register(
            "logins",
            "Login attempts per protocol, mechanism and result (ok, failed, throttled)",
            Family::clone(&logins),
        );
        let imap_commands = Family::default();
        registry.register(
            "imap_commands",
            "IMAP commands per command name",
            Family::clone(&imap_commands),
        );
        let imap_latency: Hist = Family::new_with_constructor(latency_histogram);
        registry.register(
            "imap_command_seconds",
            "IMAP command latency per command name",
            imap_latency.clone(),
        );
        let smtp_replies = Family::default();
        registry.register(
            "smtp_messages",
            "SMTP messages per listener kind and final reply code (2xx accepted, else refused)",
            Family::clone(&smtp_replies),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Recipients waiting in the outbound queue",
            queue_depth.clone(),
        );
        let deliveries = Family::default();
        registry.register(
            "queue_deliveries",
            "Outbound delivery attempts per outcome (delivered, deferred, failed)",
            Family::clone(&deliveries),
        );
        let collector_passes = Family::default();
        registry.register(
            "collector_passes",
            "Collector passes per source and result (ok, error)",
            Family::clone(&collector_passes),
        );
        let collector_last_success = Family::default();
        registry.register(
            "collector_last_success_timestamp_seconds",
            "Unix time of each collector source's last successful pass",
            Family::clone(&collector_last_success),
        );
        let store_bytes = Family::default();
        registry.register(
            "store_bytes",
            "Size of each store file under data_dir",
            Family::clone(&store_bytes),
        );
        let store_ops = Family::default();
        registry.register(
            "store_operations",
            "Mail store operations per backend, operation (append, deliver, fetch, blob, \
             store_flags, copy, move, expunge, …) and result (ok, error)",
            Family::clone(&store_ops),
        );
        let store_messages = Gauge::default();
        registry.register(
            "store_messages",
            "Messages stored, all accounts",
            store_messages.clone(),
        );
        let store_message_bytes = Gauge::default();
        registry.register(
            "store_message_bytes",
            "Bytes of the messages stored, all accounts",
            store_message_bytes.clone(),
        );
        let http_requests = Family::default();
        registry.register(
            "http_requests",
            "HTTP requests per route and status",
            Family::clone(&http_requests),
        );
        Metrics {
            registry,
            connections,
            sessions,
            logins,
            imap_commands,
            imap_latency,
            smtp_replies,
            queue_depth,
            deliveries,
            collector_passes,
            collector_last_success,
            store_bytes,
            store_ops,
            store_messages,
            store_message_bytes,
            http_requests,
            hooks: Mutex::new(Vec::new()),
        }
    }
}

fn l1(k: &'static str, v: &str) -> Labels {
    vec![(k, v.to_owned())]
}

/// A connection was accepted on `listener`; the returned guard counts it as an open session
/// until dropped.
pub fn connection(listener: &str) -> SessionGuard {
    let m = &*METRICS;
    m.connections.get_or_create(&l1("listener", listener)).inc();
    let labels = l1("listener", listener);
    m.sessions.get_or_create(&labels).inc();
    SessionGuard { labels }
}

/// An open session; see [`connection`].
pub struct SessionGuard {
    labels: Labels,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        METRICS.sessions.get_or_create(&self.labels).dec();
    }
}

/// A login attempt's result (`"ok"`, `"failed"`, `"throttled"`).
pub fn login(protocol: &str, mechanism: &str, result: &'static str) {
    METRICS
        .logins
        .get_or_create(&vec![
            ("protocol", protocol.to_owned()),
            ("mechanism", mechanism.to_owned()),
            ("result", result.to_owned()),
        ])
        .inc();
}

/// One IMAP command and how long it took.
pub fn imap_command(command: &str, elapsed: Duration) {
    let labels = l1("command", &command.to_ascii_uppercase());
    METRICS.imap_commands.get_or_create(&labels).inc();
    METRICS
        .imap_latency
        .get_or_create(&labels)
        .observe(elapsed.as_secs_f64());
}

/// The final reply to one SMTP message (after DATA/BDAT): `kind` is `mta` or `submission`.
pub fn smtp_message(kind: &str, code: u16) {
    let result = if (200..300).contains(&code) {
        "accepted"
    } else {
        "refused"
    };
    METRICS
        .smtp_replies
        .get_or_create(&vec![
            ("kind", kind.to_owned()),
            ("code", code.to_string()),
            ("result", result.to_owned()),
        ])
        .inc();
}

/// One outbound delivery attempt for one recipient (`delivered`, `deferred`, `failed`).
pub fn delivery(outcome: &'static str) {
    METRICS
        .deliveries
        .get_or_create(&l1("outcome", outcome))
        .inc();
}

/// One collector pass over `source`; a success also sets the source's last-success time.
pub fn collector_pass(source: &str, ok: bool) {
    let result = if ok { "ok" } else { "error" };
    METRICS
        .collector_passes
        .get_or_create(&vec![
            ("source", source.to_owned()),
            ("result", result.to_owned()),
        ])
        .inc();
    if ok {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        METRICS
            .collector_last_success
            .get_or_create(&l1("source", source))
            .set(now);
    }
}

/// One HTTP request's route and status.
pub fn http_request(route: &'static str, status: u16) {
    METRICS
        .http_requests
        .get_or_create(&vec![
            ("route", route.to_owned()),
            ("status", status.to_string()),
        ])
        .inc();
}

/// Sets the gauge of one store file's size.
pub fn store_bytes(file: &str, bytes: u64) {
    METRICS
        .store_bytes
        .get_or_create(&l1("file", file))
        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
}

/// The store's counters by (backend, operation, ok), resolved once: counting an operation
/// then costs a read lock and an atomic add, no allocation.
static STORE_OPS: LazyLock<RwLock<HashMap<StoreOpKey, Counter>>> =
    LazyLock::new(|| RwLock::new(HashMap::new()));

/// (backend, operation, ok).
type StoreOpKey = (&'static str, &'static str, bool);

/// One mail store operation on `backend` (`embedded`, `postgres`).
pub fn store_op(backend: &'static str, op: &'static str, ok: bool) {
    let key = (backend, op, ok);
    if let Some(c) = STORE_OPS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
    {
        c.inc();
        return;
    }
    let c = METRICS
        .store_ops
        .get_or_create(&vec![
            ("backend", backend.to_owned()),
            ("op", op.to_owned()),
            ("result", if ok { "ok" } else { "error" }.to_owned()),
        ])
        .clone();
    c.inc();
    STORE_OPS
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .insert(key, c);
}

/// Sets how many messages, of how many bytes, the store holds.
pub fn store_size(messages: u64, bytes: u64) {
    let m = &*METRICS;
    m.store_messages
        .set(i64::try_from(messages).unwrap_or(i64::MAX));
    m.store_message_bytes
        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
}

/// Sets the outbound queue's depth.
pub fn queue_depth(n: u64) {
    METRICS
        .queue_depth
        .set(i64::try_from(n).unwrap_or(i64::MAX));
}

/// Runs `hook` before every [`render`] (to refresh gauges such as queue depth).
pub fn on_scrape(hook: impl Fn() + Send + Sync + 'static) {
    METRICS
        .hooks
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(Box::new(hook));
}

/// The registry in the Prometheus text format (content type
/// `application/openmetrics-text; version=1.0.0; charset=utf-8`).
pub fn render() -> String {
    let m = &*METRICS;
    for hook in m.hooks.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        hook();
    }
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &m.registry);
    out
}

/// The content type of [`render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_appear_in_the_text_format() {
        login("imap", "PLAIN", "failed");
        imap_command("select", Duration::from_millis(3));
        smtp_message("mta", 250);
        let _g = connection("imap");
        let text = render();
        assert!(
            text.contains(
                "pochta_logins_total{protocol=\"imap\",mechanism=\"PLAIN\",result=\"failed\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("pochta_imap_commands_total{command=\"SELECT\"} 1"));
        assert!(text.contains("pochta_imap_command_seconds_count{command=\"SELECT\"} 1"));
        assert!(text.contains("pochta_sessions{listener=\"imap\"} 1"));
        assert!(text.contains("code=\"250\",result=\"accepted\""));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn store_operations_and_sizes() {
        store_op("embedded", "append", true);
        store_op("embedded", "append", true);
        store_op("embedded", "expunge", false);
        store_size(3, 4096);
        let text = render();
        assert!(
            text.contains(
                "pochta_store_operations_total{backend=\"embedded\",op=\"append\",result=\"ok\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains(
            "pochta_store_operations_total{backend=\"embedded\",op=\"expunge\",result=\"error\"} 1"
        ));
        assert!(text.contains("pochta_store_messages 3"));
        assert!(text.contains("pochta_store_message_bytes 4096"));
    }
}
