//! The TOML configuration file.
//!
//! Implementation notes:
//! - The file is walked by hand from a `toml::Table` rather than derived with serde: this
//!   keeps the strictness of `#[serde(deny_unknown_fields)]` (every unknown key is an error)
//!   while letting every message name the exact key and value, e.g.
//!   `listen.imap[0]: "127.0.0.1" is not an ip:port address`, which serde's messages cannot.
//! - Relative `data_dir`, `tls.cert` and `tls.key` are relative to the config file's folder,
//!   so a config works the same whatever the current directory of the process.
//! - An absent `[listen]` key means "not listening"; one address may be used by one listener
//!   only (checked here, so the error names both keys instead of a later "address in use").
//! - `[limits]` is optional and every key in it has a default suited to a small server.

use pochta_collector::run::Schedule;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pochta_queue::schedule::parse_duration;
use pochta_queue::{RetryPolicy, Route, Routes, TlsMode};
use pochta_types::Domain;
use toml::{Table, Value};

/// A configuration error: one line that names the key and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

/// The protocols Pochta listens for, in `[listen]` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Imap,
    Imaps,
    Pop3,
    Pop3s,
    Smtp,
    Submission,
    Submissions,
}

impl Protocol {
    pub const ALL: [Protocol; 7] = [
        Protocol::Imap,
        Protocol::Imaps,
        Protocol::Pop3,
        Protocol::Pop3s,
        Protocol::Smtp,
        Protocol::Submission,
        Protocol::Submissions,
    ];

    /// The `[listen]` key, also the listener's name in logs.
    pub fn key(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Imaps => "imaps",
            Protocol::Pop3 => "pop3",
            Protocol::Pop3s => "pop3s",
            Protocol::Smtp => "smtp",
            Protocol::Submission => "submission",
            Protocol::Submissions => "submissions",
        }
    }

    /// Whether TLS starts with the first byte (otherwise STARTTLS is offered).
    pub fn implicit_tls(self) -> bool {
        matches!(
            self,
            Protocol::Imaps | Protocol::Pop3s | Protocol::Submissions
        )
    }
}

/// When plaintext passwords (LOGIN, AUTH PLAIN, USER/PASS) are accepted: the policy type
/// every protocol shares, from `pochta-auth`.
pub use pochta_auth::PlaintextPolicy as Plaintext;

const PLAINTEXT_VALUES: &str = r#""tls-only", "tls-or-loopback" or "always""#;

fn parse_plaintext(s: &str) -> Option<Plaintext> {
    match s {
        "tls-only" => Some(Plaintext::TlsOnly),
        "tls-or-loopback" => Some(Plaintext::TlsOrLoopback),
        "always" => Some(Plaintext::Always),
        _ => None,
    }
}

/// `[pop3]`: POP3 behaviour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pop3Settings {
    /// RETR marks the message `\Seen` (default off: a POP3 download is not an IMAP read).
    pub mark_seen: bool,
}

/// `[smtp]`: SMTP behaviour (inbound MTA and submission).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// Verify SPF, DKIM and DMARC of inbound mail and add `Authentication-Results:`.
    pub check_inbound: bool,
    /// Refuse inbound mail failing DMARC under `p=reject` (otherwise only record it).
    pub dmarc_reject: bool,
    /// Save a copy of each submitted message to the sender's Sent mailbox.
    pub save_sent: bool,
    /// Recipients per message.
    pub max_recipients: u32,
    /// Failed commands before an SMTP session is closed.
    pub max_errors: u32,
    /// Seconds the MTA waits before its greeting; clients talking first are refused (0: off).
    pub greeting_delay: Duration,
    /// `[smtp.routes]`: fixed next hops by destination domain (`"*"`: a smarthost).
    pub routes: Routes,
    /// `[smtp.queue]`: retry schedule, queue lifetime, delay warnings, parallel deliveries.
    pub queue: QueueSettings,
}

/// `[smtp.queue]`: how outbound delivery retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSettings {
    pub policy: RetryPolicy,
    /// Delivery attempts in flight at once.
    pub concurrency: usize,
}

impl Default for QueueSettings {
    fn default() -> Self {
        QueueSettings {
            policy: RetryPolicy::default(),
            concurrency: 16,
        }
    }
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            check_inbound: true,
            dmarc_reject: false,
            save_sent: false,
            max_recipients: 100,
            max_errors: 10,
            greeting_delay: Duration::ZERO,
            routes: Routes::default(),
            queue: QueueSettings::default(),
        }
    }
}

fn parse_smtp(t: &Table) -> Result<SmtpSettings, ConfigError> {
    const KEYS: [&str; 8] = [
        "check_inbound",
        "dmarc_reject",
        "save_sent",
        "max_recipients",
        "max_errors",
        "greeting_delay",
        "routes",
        "queue",
    ];
    known_keys(t, "smtp.", &KEYS)?;
    let mut s = SmtpSettings::default();
    for (k, v) in t {
        match k.as_str() {
            "routes" => s.routes = parse_routes(as_table(v, "smtp.routes")?)?,
            "queue" => s.queue = parse_queue(as_table(v, "smtp.queue")?)?,
            "check_inbound" | "dmarc_reject" | "save_sent" => {
                let b = v.as_bool().ok_or_else(|| {
                    ConfigError(format!(
                        "smtp.{k}: expected a boolean, found {}",
                        v.type_str()
                    ))
                })?;
                match k.as_str() {
                    "check_inbound" => s.check_inbound = b,
                    "dmarc_reject" => s.dmarc_reject = b,
                    _ => s.save_sent = b,
                }
            }
            _ => {
                let min = if k == "greeting_delay" { 0 } else { 1 };
                let n = match v {
                    Value::Integer(n) if *n >= min && *n <= u32::MAX as i64 => *n as u32,
                    Value::Integer(n) if *n < min => {
                        return err(format!("smtp.{k}: must be at least {min}, found {n}"));
                    }
                    Value::Integer(n) => return err(format!("smtp.{k}: {n} is too large")),
                    other => {
                        return err(format!(
                            "smtp.{k}: expected an integer, found {}",
                            other.type_str()
                        ));
                    }
                };
                match k.as_str() {
                    "max_recipients" => s.max_recipients = n,
                    "max_errors" => s.max_errors = n,
                    _ => s.greeting_delay = Duration::from_secs(u64::from(n)),
                }
            }
        }
    }
    Ok(s)
}

/// `[smtp.routes]`: `"domain" = "host:port"` (opportunistic STARTTLS), or a table
/// `{ host = "host:port", tls = "starttls", username = "…", password = "…" }` for a smarthost.
fn parse_routes(t: &Table) -> Result<Routes, ConfigError> {
    let mut routes = Routes::default();
    for (domain, v) in t {
        let key = format!("smtp.routes.{}", quote_key(domain));
        if domain != "*" && Domain::new(domain).is_err() {
            return err(format!("{key}: {domain:?} is not a domain or \"*\""));
        }
        let route = match v {
            Value::String(hop) => {
                let (host, port) = parse_hop(hop, &key)?;
                Route {
                    host,
                    port,
                    tls: TlsMode::Opportunistic,
                    auth: None,
                }
            }
            Value::Table(rt) => {
                known_keys(
                    rt,
                    &format!("{key}."),
                    &["host", "tls", "username", "password"],
                )?;
                let host = required_str(rt, &format!("{key}.host"))?;
                let tls = match rt.get("tls") {
                    None => None,
                    Some(Value::String(m)) => Some(match m.as_str() {
                        "opportunistic" => TlsMode::Opportunistic,
                        "starttls" => TlsMode::StartTls,
                        "implicit" => TlsMode::Implicit,
                        "none" => TlsMode::None,
                        other => {
                            return err(format!(
                                "{key}.tls: {other:?} is not one of \"opportunistic\", \"starttls\", \"implicit\", \"none\""
                            ));
                        }
                    }),
                    Some(other) => {
                        return err(format!(
                            "{key}.tls: expected a string, found {}",
                            other.type_str()
                        ));
                    }
                };
                let auth = match (rt.get("username"), rt.get("password")) {
                    (None, None) => None,
                    (Some(Value::String(u)), Some(Value::String(p))) => {
                        Some((u.clone(), p.clone()))
                    }
                    (Some(_), None) => {
                        return err(format!("{key}.password: missing (username is set)"));
                    }
                    (None, Some(_)) => {
                        return err(format!("{key}.username: missing (password is set)"));
                    }
                    (Some(Value::String(_)), Some(p)) => {
                        return err(format!(
                            "{key}.password: expected a string, found {}",
                            p.type_str()
                        ));
                    }
                    (Some(u), _) => {
                        return err(format!(
                            "{key}.username: expected a string, found {}",
                            u.type_str()
                        ));
                    }
                };
                // A smarthost with credentials needs verified TLS unless told otherwise.
                let tls = tls.unwrap_or(if auth.is_some() {
                    TlsMode::StartTls
                } else {
                    TlsMode::Opportunistic
                });
                let (host, port) = parse_hop(host, &format!("{key}.host"))?;
                Route {
                    host,
                    port,
                    tls,
                    auth,
                }
            }
            other => {
                return err(format!(
                    "{key}: expected \"host:port\" or a table, found {}",
                    other.type_str()
                ));
            }
        };
        routes.insert(domain, route);
    }
    Ok(routes)
}

/// A TOML key as written in the file (quoted when it is not a bare key).
fn quote_key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        k.to_owned()
    } else {
        format!("{k:?}")
    }
}

/// Host and port from `host:port`, `[v6]:port` or `host` (port 25).
fn parse_hop(hop: &str, key: &str) -> Result<(String, u16), ConfigError> {
    let bad = || ConfigError(format!("{key}: {hop:?} is not host:port"));
    let (host, port) = if let Some(rest) = hop.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err(bad()),
        }
    } else {
        match hop.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => (h, Some(p)),
            Some(_) => return Err(bad()),
            None => (hop, None),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    let port = match port {
        None => 25,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => n,
            _ => return err(format!("{key}: {p:?} is not a port number (1-65535)")),
        },
    };
    Ok((host.to_owned(), port))
}

/// `[smtp.queue]`: `retry = ["5m", "1h"]`, `max_age = "5d"`, `delay_warning = "4h"` (or
/// `"0"`: never), `concurrency = 16`. Durations are `30s`, `5m`, `4h`, `5d` or seconds.
/// A duration value: `"30s"`, `"5m"`, `"4h"`, `"5d"`, or whole seconds.
fn duration(v: &Value, key: &str) -> Result<Duration, ConfigError> {
    match v {
        Value::String(s) => parse_duration(s).ok_or_else(|| {
            ConfigError(format!(
                "{key}: {s:?} is not a duration (like \"30s\", \"5m\", \"4h\", \"5d\")"
            ))
        }),
        Value::Integer(n) if *n >= 0 => Ok(Duration::from_secs(*n as u64)),
        Value::Integer(n) => err(format!("{key}: must be at least 0, found {n}")),
        other => err(format!(
            "{key}: expected a duration string, found {}",
            other.type_str()
        )),
    }
}

/// `[collector]`: how often sources are collected and how long an IDLE lasts.
fn parse_collector(t: &Table) -> Result<Schedule, ConfigError> {
    known_keys(t, "collector.", &["interval", "max_backoff", "idle_renew"])?;
    let mut s = Schedule::default();
    if let Some(v) = t.get("interval") {
        s.interval = duration(v, "collector.interval")?;
        if s.interval.is_zero() {
            return err("collector.interval: must be longer than 0");
        }
    }
    if let Some(v) = t.get("max_backoff") {
        s.max_backoff = duration(v, "collector.max_backoff")?;
    }
    if s.max_backoff < s.interval {
        return err(format!(
            "collector.max_backoff: must be at least collector.interval ({} s)",
            s.interval.as_secs()
        ));
    }
    if let Some(v) = t.get("idle_renew") {
        s.idle_renew = duration(v, "collector.idle_renew")?;
        // RFC 2177 §3: servers may log a client out after 30 minutes of IDLE.
        if !(Duration::from_secs(60)..=Duration::from_secs(29 * 60)).contains(&s.idle_renew) {
            return err("collector.idle_renew: must be between 1m and 29m (RFC 2177)");
        }
    }
    Ok(s)
}

fn parse_queue(t: &Table) -> Result<QueueSettings, ConfigError> {
    known_keys(
        t,
        "smtp.queue.",
        &["retry", "max_age", "delay_warning", "concurrency"],
    )?;
    let mut q = QueueSettings::default();
    for (k, v) in t {
        let key = format!("smtp.queue.{k}");
        match k.as_str() {
            "retry" => {
                let Value::Array(items) = v else {
                    return err(format!(
                        "{key}: expected a list of durations, found {}",
                        v.type_str()
                    ));
                };
                if items.is_empty() {
                    return err(format!("{key}: must list at least one duration"));
                }
                let mut schedule = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let d = duration(item, &format!("{key}[{i}]"))?;
                    if d.is_zero() {
                        return err(format!("{key}[{i}]: must be longer than 0"));
                    }
                    schedule.push(d);
                }
                q.policy.schedule = schedule;
            }
            "max_age" => {
                let d = duration(v, &key)?;
                if d.is_zero() {
                    return err(format!("{key}: must be longer than 0"));
                }
                q.policy.max_age = d;
            }
            "delay_warning" => {
                let d = duration(v, &key)?;
                q.policy.delay_warning = (!d.is_zero()).then_some(d);
            }
            _ => match v {
                Value::Integer(n) if (1..=1024).contains(n) => q.concurrency = *n as usize,
                Value::Integer(n) => {
                    return err(format!("{key}: must be between 1 and 1024, found {n}"));
                }
                other => {
                    return err(format!(
                        "{key}: expected an integer, found {}",
                        other.type_str()
                    ));
                }
            },
        }
    }
    Ok(q)
}

/// Certificate and key files (absolute after loading).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Resource limits; every field has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Concurrent connections over all listeners.
    pub max_connections: usize,
    /// Concurrent connections from one IP address on each IMAP, POP3 and submission listener.
    pub connections_per_ip: u32,
    /// Concurrent connections from one IP address on the MTA listener (`smtp`): a sending
    /// MTA opens many at once (Postfix accepts 50 per client by default).
    pub smtp_connections_per_ip: u32,
    /// RFC 9051 §5.4: at least 30 minutes for IMAP.
    pub imap_idle_timeout: Duration,
    /// RFC 1939 §3: at least 10 minutes for POP3.
    pub pop3_idle_timeout: Duration,
    /// RFC 5321 §4.5.3.2.7: at least 5 minutes for SMTP.
    pub smtp_idle_timeout: Duration,
    /// Largest message accepted (SMTP SIZE, IMAP APPEND), in bytes.
    pub max_message_size: u64,
    /// How long `serve` waits for sessions to end after SIGTERM.
    pub shutdown_timeout: Duration,
    /// How long a TLS handshake may take.
    pub tls_handshake_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1000,
            connections_per_ip: 20,
            smtp_connections_per_ip: 50,
            imap_idle_timeout: Duration::from_secs(30 * 60),
            pop3_idle_timeout: Duration::from_secs(10 * 60),
            smtp_idle_timeout: Duration::from_secs(5 * 60),
            max_message_size: 50 * 1024 * 1024,
            shutdown_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(30),
        }
    }
}

/// A loaded, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub hostname: String,
    pub data_dir: PathBuf,
    /// Addresses per protocol; a protocol absent here does not listen.
    pub listen: Vec<(Protocol, Vec<SocketAddr>)>,
    /// `None`: a self-signed certificate in `data_dir` is used (generated on first start).
    pub tls: Option<TlsFiles>,
    pub plaintext: Plaintext,
    pub limits: Limits,
    pub imap: ImapSettings,
    pub pop3: Pop3Settings,
    pub smtp: SmtpSettings,
    /// `[collector]`; `POCHTA_COLLECTOR_INTERVAL` (seconds) still overrides the interval.
    pub collector: Schedule,
}

/// `[imap]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImapSettings {
    /// Anonymous access (RFC 4505 AUTH=ANONYMOUS, LOGIN anonymous): read-only, only to
    /// mailboxes whose ACL grants the `anonymous` identifier, rate-limited. Off by default.
    pub anonymous: bool,
}

impl Config {
    /// Reads and validates the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("{}: cannot read config: {e}", path.display())))?;
        let base = path.parent().unwrap_or(Path::new(""));
        Config::parse(&text, base).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }

    /// Parses config text; relative paths are resolved against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let table: Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError(format!("invalid TOML: {}", one_line(&e))))?;
        known_keys(
            &table,
            "",
            &[
                "hostname",
                "data_dir",
                "listen",
                "tls",
                "auth",
                "limits",
                "imap",
                "pop3",
                "smtp",
                "collector",
            ],
        )?;

        let hostname = required_str(&table, "hostname")?;
        if Domain::new(hostname).is_err() {
            return err(format!("hostname: {hostname:?} is not a valid host name"));
        }
        let data_dir = required_str(&table, "data_dir")?;
        if data_dir.is_empty() {
            return err("data_dir: must not be empty");
        }

        let listen = match table.get("listen") {
            None => Vec::new(),
            Some(v) => parse_listen(as_table(v, "listen")?)?,
        };

        let tls = match table.get("tls") {
            None => None,
            Some(v) => {
                let t = as_table(v, "tls")?;
                known_keys(t, "tls.", &["cert", "key"])?;
                let cert = required_str(t, "tls.cert").map(|_| str_at(t, "cert"))?;
                let key = required_str(t, "tls.key").map(|_| str_at(t, "key"))?;
                if cert.is_empty() || key.is_empty() {
                    return err("tls: cert and key must not be empty");
                }
                Some(TlsFiles {
                    cert: base.join(cert),
                    key: base.join(key),
                })
            }
        };

        let mut plaintext = Plaintext::TlsOrLoopback;
        if let Some(v) = table.get("auth") {
            let t = as_table(v, "auth")?;
            known_keys(t, "auth.", &["plaintext"])?;
            if let Some(p) = t.get("plaintext") {
                let s = p.as_str().ok_or_else(|| {
                    ConfigError(format!(
                        "auth.plaintext: expected a string, found {}",
                        p.type_str()
                    ))
                })?;
                plaintext = parse_plaintext(s).ok_or_else(|| {
                    ConfigError(format!(
                        "auth.plaintext: {s:?} is not one of {}",
                        PLAINTEXT_VALUES
                    ))
                })?;
            }
        }

        let limits = match table.get("limits") {
            None => Limits::default(),
            Some(v) => parse_limits(as_table(v, "limits")?)?,
        };

        let mut imap = ImapSettings::default();
        if let Some(v) = table.get("imap") {
            let t = as_table(v, "imap")?;
            known_keys(t, "imap.", &["anonymous"])?;
            if let Some(a) = t.get("anonymous") {
                imap.anonymous = a.as_bool().ok_or_else(|| {
                    ConfigError(format!(
                        "imap.anonymous: expected a boolean, found {}",
                        a.type_str()
                    ))
                })?;
            }
        }

        let mut pop3 = Pop3Settings::default();
        if let Some(v) = table.get("pop3") {
            let t = as_table(v, "pop3")?;
            known_keys(t, "pop3.", &["mark_seen"])?;
            if let Some(m) = t.get("mark_seen") {
                pop3.mark_seen = m.as_bool().ok_or_else(|| {
                    ConfigError(format!(
                        "pop3.mark_seen: expected a boolean, found {}",
                        m.type_str()
                    ))
                })?;
            }
        }

        let smtp = match table.get("smtp") {
            None => SmtpSettings::default(),
            Some(v) => parse_smtp(as_table(v, "smtp")?)?,
        };

        let collector = match table.get("collector") {
            None => Schedule::default(),
            Some(v) => parse_collector(as_table(v, "collector")?)?,
        };

        Ok(Config {
            hostname: hostname.to_owned(),
            data_dir: base.join(data_dir),
            listen,
            tls,
            plaintext,
            limits,
            imap,
            pop3,
            smtp,
            collector,
        })
    }

    /// The addresses configured for `p` (empty: not listening).
    pub fn addrs(&self, p: Protocol) -> &[SocketAddr] {
        self.listen
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, a)| a.as_slice())
            .unwrap_or(&[])
    }

    /// Idle timeout for a protocol's sessions.
    pub fn idle_timeout(&self, p: Protocol) -> Duration {
        match p {
            Protocol::Imap | Protocol::Imaps => self.limits.imap_idle_timeout,
            Protocol::Pop3 | Protocol::Pop3s => self.limits.pop3_idle_timeout,
            Protocol::Smtp | Protocol::Submission | Protocol::Submissions => {
                self.limits.smtp_idle_timeout
            }
        }
    }

    /// Concurrent connections one address may hold on one of `p`'s listeners.
    pub fn connections_per_ip(&self, p: Protocol) -> u32 {
        match p {
            Protocol::Smtp => self.limits.smtp_connections_per_ip,
            _ => self.limits.connections_per_ip,
        }
    }
}

/// toml's errors span several lines with a source excerpt; keep the message and line.
fn one_line(e: &toml::de::Error) -> String {
    e.to_string()
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('|') && !l.contains(" | "))
        .collect::<Vec<_>>()
        .join(": ")
}

fn known_keys(t: &Table, prefix: &str, allowed: &[&str]) -> Result<(), ConfigError> {
    for k in t.keys() {
        if !allowed.contains(&k.as_str()) {
            return err(format!(
                "{prefix}{k}: unknown key (expected one of: {})",
                allowed.join(", ")
            ));
        }
    }
    Ok(())
}

fn as_table<'a>(v: &'a Value, key: &str) -> Result<&'a Table, ConfigError> {
    v.as_table().ok_or_else(|| {
        ConfigError(format!(
            "{key}: expected a table ([{key}]), found {}",
            v.type_str()
        ))
    })
}

/// A required string at `path` (`"tls.cert"`: the last segment is looked up in `t`).
fn required_str<'a>(t: &'a Table, path: &str) -> Result<&'a str, ConfigError> {
    let key = path.rsplit('.').next().unwrap_or(path);
    match t.get(key) {
        None => err(format!("{path}: missing (required)")),
        Some(Value::String(s)) => Ok(s),
        Some(v) => err(format!("{path}: expected a string, found {}", v.type_str())),
    }
}

/// A string known to be present (checked by [`required_str`] just before).
fn str_at<'a>(t: &'a Table, key: &str) -> &'a str {
    t.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn parse_listen(t: &Table) -> Result<Vec<(Protocol, Vec<SocketAddr>)>, ConfigError> {
    let keys: Vec<&str> = Protocol::ALL.iter().map(|p| p.key()).collect();
    known_keys(t, "listen.", &keys)?;
    let mut out = Vec::new();
    let mut seen: HashMap<SocketAddr, String> = HashMap::new();
    for p in Protocol::ALL {
        let Some(v) = t.get(p.key()) else { continue };
        let key = format!("listen.{}", p.key());
        let Value::Array(items) = v else {
            return err(format!(
                "{key}: expected a list of \"ip:port\" strings, found {}",
                v.type_str()
            ));
        };
        let mut addrs = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let Value::String(s) = item else {
                return err(format!(
                    "{key}[{i}]: expected an \"ip:port\" string, found {}",
                    item.type_str()
                ));
            };
            let addr: SocketAddr = s.parse().map_err(|_| {
                ConfigError(format!(
                    "{key}[{i}]: {s:?} is not an ip:port address (e.g. \"127.0.0.1:1143\" or \"[::1]:1143\")"
                ))
            })?;
            // Port 0 asks the OS for any free port, so it can never clash.
            if addr.port() != 0 {
                if let Some(other) = seen.get(&addr) {
                    return err(format!("{key}[{i}]: {addr} is already used by {other}"));
                }
                seen.insert(addr, format!("{key}[{i}]"));
            }
            addrs.push(addr);
        }
        out.push((p, addrs));
    }
    Ok(out)
}

fn parse_limits(t: &Table) -> Result<Limits, ConfigError> {
    const KEYS: [&str; 9] = [
        "max_connections",
        "connections_per_ip",
        "smtp_connections_per_ip",
        "imap_idle_timeout",
        "pop3_idle_timeout",
        "smtp_idle_timeout",
        "max_message_size",
        "shutdown_timeout",
        "tls_handshake_timeout",
    ];
    known_keys(t, "limits.", &KEYS)?;
    let mut l = Limits::default();
    for (k, v) in t {
        let n = match v {
            Value::Integer(n) if *n > 0 => *n as u64,
            Value::Integer(n) => return err(format!("limits.{k}: must be positive, found {n}")),
            other => {
                return err(format!(
                    "limits.{k}: expected a positive integer, found {}",
                    other.type_str()
                ));
            }
        };
        let secs = Duration::from_secs(n);
        match k.as_str() {
            "max_connections" => l.max_connections = n as usize,
            "connections_per_ip" | "smtp_connections_per_ip" => {
                let n = u32::try_from(n)
                    .map_err(|_| ConfigError(format!("limits.{k}: {n} is too large")))?;
                if k == "connections_per_ip" {
                    l.connections_per_ip = n;
                } else {
                    l.smtp_connections_per_ip = n;
                }
            }
            "imap_idle_timeout" => l.imap_idle_timeout = secs,
            "pop3_idle_timeout" => l.pop3_idle_timeout = secs,
            "smtp_idle_timeout" => l.smtp_idle_timeout = secs,
            "max_message_size" => l.max_message_size = n,
            "shutdown_timeout" => l.shutdown_timeout = secs,
            _ => l.tls_handshake_timeout = secs,
        }
    }
    Ok(l)
}

/// The development config written by `pochta init`: 127.0.0.1 and high ports, so it runs
/// without root next to any system mail server.
pub const DEV_CONFIG: &str = r#"# Pochta development configuration (written by `pochta init`).
# Every key is described in README.md.
hostname = "localhost"            # used in greetings and Received headers
data_dir = "data"                 # relative paths are relative to this file

[listen]                          # each a list of "ip:port"; an absent key = not listening
imap        = ["127.0.0.1:1143"]  # plain + STARTTLS
imaps       = ["127.0.0.1:1993"]  # implicit TLS
pop3        = ["127.0.0.1:1110"]  # plain + STLS
pop3s       = ["127.0.0.1:1995"]  # implicit TLS
smtp        = ["127.0.0.1:2525"]  # MTA; port 25 in production
submission  = ["127.0.0.1:1587"]  # STARTTLS + AUTH
submissions = ["127.0.0.1:1465"]  # implicit TLS + AUTH

# [tls] is absent: a self-signed certificate is generated into data_dir on first start.
# [tls]
# cert = "cert.pem"
# key  = "key.pem"

[auth]
plaintext = "tls-or-loopback"     # "tls-only" | "tls-or-loopback" | "always"

# [limits]                        # defaults shown
# max_connections       = 1000
# connections_per_ip    = 20      # per address, on each IMAP, POP3, submission listener
# smtp_connections_per_ip = 50    # per address, on the MTA listener
# imap_idle_timeout     = 1800    # seconds
# pop3_idle_timeout     = 600
# smtp_idle_timeout     = 300
# max_message_size      = 52428800  # bytes
# shutdown_timeout      = 10
# tls_handshake_timeout = 30

# [imap]
# anonymous = false               # AUTH=ANONYMOUS / LOGIN anonymous: read-only access to
#                                 # mailboxes shared with "anonymous"; rate-limited

# [pop3]
# mark_seen = false               # RETR marks the message \Seen

# [smtp]                          # defaults shown
# check_inbound  = true           # verify SPF/DKIM/DMARC, add Authentication-Results
# dmarc_reject   = false          # refuse mail failing DMARC under p=reject
# save_sent      = false          # submission saves a copy to the sender's Sent
# max_recipients = 100
# max_errors     = 10             # failed commands before the session is closed
# greeting_delay = 0              # seconds; MTA refuses clients talking first (0: off)

# [smtp.routes]                   # outbound next hops; without a route, MX records decide
# "example.net" = "127.0.0.1:2526"  # fixed next hop (STARTTLS when offered)
# "*" = { host = "smtp.provider.example:587", username = "me", password = "secret" }
#                                   # smarthost; tls = "starttls" (default with a password),
#                                   # "implicit" (465), "opportunistic" or "none"

# [collector]                     # defaults shown
# interval    = "60s"             # pause between passes over every source
# max_backoff = "1h"              # longest pause after failures
# idle_renew  = "25m"             # re-issue IDLE on a remote INBOX (1m..29m)

# [smtp.queue]                    # defaults shown
# retry = ["5m", "10m", "20m", "40m", "1h", "2h", "4h"]  # waits; the last repeats
# max_age = "5d"                  # then a temporary failure bounces
# delay_warning = "4h"            # tell the sender once ("0": never)
# concurrency = 16                # deliveries in flight
"#;

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "/etc/pochta";

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::parse(s, Path::new(BASE))
    }

    fn bad(s: &str) -> String {
        match parse(s) {
            Ok(c) => panic!("accepted bad config {s:?}: {c:?}"),
            Err(e) => e.0,
        }
    }

    const MIN: &str = "hostname = \"mail.example.org\"\ndata_dir = \"data\"\n";

    #[test]
    fn issue_example_parses() {
        let text = r#"
hostname = "mail.example.org"
data_dir = "/var/lib/pochta"
[listen]
imap        = ["127.0.0.1:1143"]
imaps       = ["127.0.0.1:1993"]
pop3        = ["127.0.0.1:1110"]
pop3s       = ["127.0.0.1:1995"]
smtp        = ["127.0.0.1:2525"]
submission  = ["127.0.0.1:1587"]
submissions = ["127.0.0.1:1465"]
[tls]
cert = "cert.pem"
key  = "key.pem"
[auth]
plaintext = "tls-or-loopback"
"#;
        let c = parse(text).unwrap();
        assert_eq!(c.hostname, "mail.example.org");
        assert_eq!(c.data_dir, PathBuf::from("/var/lib/pochta"));
        assert_eq!(c.listen.len(), 7);
        assert_eq!(
            c.addrs(Protocol::Pop3s),
            ["127.0.0.1:1995".parse().unwrap()]
        );
        let tls = c.tls.unwrap();
        assert_eq!(tls.cert, PathBuf::from("/etc/pochta/cert.pem"));
        assert_eq!(tls.key, PathBuf::from("/etc/pochta/key.pem"));
        assert_eq!(c.plaintext, Plaintext::TlsOrLoopback);
        assert_eq!(c.limits, Limits::default());
    }

    #[test]
    fn dev_config_parses() {
        let c = parse(DEV_CONFIG).unwrap();
        assert_eq!(c.listen.len(), 7);
        assert_eq!(c.data_dir, PathBuf::from("/etc/pochta/data"));
        assert!(c.tls.is_none());
        assert_eq!(c.addrs(Protocol::Imap), ["127.0.0.1:1143".parse().unwrap()]);
    }

    #[test]
    fn minimal_config_has_defaults() {
        let c = parse(MIN).unwrap();
        assert!(c.listen.is_empty());
        assert!(c.addrs(Protocol::Smtp).is_empty());
        assert_eq!(c.plaintext, Plaintext::TlsOrLoopback);
        assert_eq!(c.idle_timeout(Protocol::Imaps), Duration::from_secs(1800));
    }

    #[test]
    fn ipv6_and_several_addresses() {
        let c = parse(&format!(
            "{MIN}[listen]\nimap = [\"[::1]:143\", \"0.0.0.0:143\"]\n"
        ))
        .unwrap();
        assert_eq!(c.addrs(Protocol::Imap).len(), 2);
    }

    #[test]
    fn limits_override() {
        let c = parse(&format!(
            "{MIN}[limits]\nconnections_per_ip = 5\nimap_idle_timeout = 60\nmax_message_size = 1000\n"
        ))
        .unwrap();
        assert_eq!(c.limits.connections_per_ip, 5);
        assert_eq!(c.limits.imap_idle_timeout, Duration::from_secs(60));
        assert_eq!(c.limits.max_message_size, 1000);
        assert_eq!(c.limits.max_connections, 1000);
    }

    #[test]
    fn plaintext_policy() {
        for (s, want) in [
            ("tls-only", Plaintext::TlsOnly),
            ("always", Plaintext::Always),
        ] {
            let c = parse(&format!("{MIN}[auth]\nplaintext = \"{s}\"\n")).unwrap();
            assert_eq!(c.plaintext, want);
        }
    }

    #[test]
    fn smtp_settings() {
        let d = parse(MIN).unwrap().smtp;
        assert_eq!(d, SmtpSettings::default());
        assert!(d.check_inbound && !d.dmarc_reject && !d.save_sent);
        let c = parse(&format!(
            "{MIN}[smtp]\ndmarc_reject = true\nsave_sent = true\ncheck_inbound = false\nmax_recipients = 5\nmax_errors = 3\ngreeting_delay = 2\n"
        ))
        .unwrap()
        .smtp;
        assert!(c.dmarc_reject && c.save_sent && !c.check_inbound);
        assert_eq!((c.max_recipients, c.max_errors), (5, 3));
        assert_eq!(c.greeting_delay, Duration::from_secs(2));
        for (text, want) in [
            (
                "dmarc_reject = \"yes\"",
                "smtp.dmarc_reject: expected a boolean, found string",
            ),
            (
                "max_recipients = 0",
                "smtp.max_recipients: must be at least 1, found 0",
            ),
            (
                "greeting_delay = -1",
                "smtp.greeting_delay: must be at least 0, found -1",
            ),
            (
                "max_errors = \"x\"",
                "smtp.max_errors: expected an integer, found string",
            ),
            (
                "relay = true",
                "smtp.relay: unknown key (expected one of: check_inbound, dmarc_reject, save_sent, max_recipients, max_errors, greeting_delay, routes, queue)",
            ),
        ] {
            assert_eq!(bad(&format!("{MIN}[smtp]\n{text}\n")), want);
        }
        assert_eq!(
            bad(&format!("{MIN}smtp = 1\n")),
            "smtp: expected a table ([smtp]), found integer"
        );
    }

    #[test]
    fn smtp_routes() {
        let c = parse(&format!(
            "{MIN}[smtp.routes]\n\"Example.net\" = \"127.0.0.1:2526\"\n\"v6.test\" = \"[::1]:25\"\n\"plain.test\" = \"mx.plain.test\"\n\"*\" = {{ host = \"smtp.provider.example:587\", username = \"me\", password = \"pw\" }}\n"
        ))
        .unwrap()
        .smtp
        .routes;
        let r = c.lookup("example.net").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.tls),
            ("127.0.0.1", 2526, TlsMode::Opportunistic)
        );
        assert_eq!(c.lookup("v6.test").unwrap().host, "::1");
        assert_eq!(c.lookup("plain.test").unwrap().port, 25);
        let star = c.lookup("elsewhere.org").unwrap();
        assert_eq!(
            (star.host.as_str(), star.port),
            ("smtp.provider.example", 587)
        );
        // Credentials imply verified STARTTLS unless `tls` says otherwise.
        assert_eq!(star.tls, TlsMode::StartTls);
        assert_eq!(star.auth, Some(("me".into(), "pw".into())));
        let t = parse(&format!(
            "{MIN}[smtp.routes]\n\"a.test\" = {{ host = \"relay:465\", tls = \"implicit\" }}\n"
        ))
        .unwrap();
        assert_eq!(
            t.smtp.routes.lookup("a.test").unwrap().tls,
            TlsMode::Implicit
        );
        assert!(parse(MIN).unwrap().smtp.routes.is_empty());

        for (text, want) in [
            (
                "\"a.test\" = \"host:0\"",
                "smtp.routes.\"a.test\": \"0\" is not a port number (1-65535)",
            ),
            (
                "\"a.test\" = \"host:x\"",
                "smtp.routes.\"a.test\": \"x\" is not a port number (1-65535)",
            ),
            (
                "\"a.test\" = \":25\"",
                "smtp.routes.\"a.test\": \":25\" is not host:port",
            ),
            (
                "\"a.test\" = \"::1:25\"",
                "smtp.routes.\"a.test\": \"::1:25\" is not host:port",
            ),
            (
                "\"a.test\" = 25",
                "smtp.routes.\"a.test\": expected \"host:port\" or a table, found integer",
            ),
            (
                "\"not a domain\" = \"h:25\"",
                "smtp.routes.\"not a domain\": \"not a domain\" is not a domain or \"*\"",
            ),
            (
                "\"a.test\" = { tls = \"starttls\" }",
                "smtp.routes.\"a.test\".host: missing (required)",
            ),
            (
                "\"a.test\" = { host = \"h\", tls = \"maybe\" }",
                "smtp.routes.\"a.test\".tls: \"maybe\" is not one of \"opportunistic\", \"starttls\", \"implicit\", \"none\"",
            ),
            (
                "\"a.test\" = { host = \"h\", username = \"u\" }",
                "smtp.routes.\"a.test\".password: missing (username is set)",
            ),
            (
                "\"a.test\" = { host = \"h\", port = 1 }",
                "smtp.routes.\"a.test\".port: unknown key (expected one of: host, tls, username, password)",
            ),
        ] {
            assert_eq!(
                bad(&format!("{MIN}[smtp.routes]\n{text}\n")),
                want,
                "{text}"
            );
        }
        assert_eq!(
            bad(&format!("{MIN}[smtp]\nroutes = 1\n")),
            "smtp.routes: expected a table ([smtp.routes]), found integer"
        );
    }

    #[test]
    fn smtp_queue() {
        let d = parse(MIN).unwrap().smtp.queue;
        assert_eq!(d, QueueSettings::default());
        assert_eq!(d.policy.max_age, Duration::from_secs(5 * 86400));
        let q = parse(&format!(
            "{MIN}[smtp.queue]\nretry = [\"1s\", 60, \"2h\"]\nmax_age = \"2d\"\ndelay_warning = \"0\"\nconcurrency = 4\n"
        ))
        .unwrap()
        .smtp
        .queue;
        assert_eq!(
            q.policy.schedule,
            [1, 60, 7200].map(Duration::from_secs).to_vec()
        );
        assert_eq!(q.policy.max_age, Duration::from_secs(2 * 86400));
        assert_eq!(q.policy.delay_warning, None);
        assert_eq!(q.concurrency, 4);
        for (text, want) in [
            (
                "retry = []",
                "smtp.queue.retry: must list at least one duration",
            ),
            (
                "retry = \"5m\"",
                "smtp.queue.retry: expected a list of durations, found string",
            ),
            (
                "retry = [\"5m\", \"soon\"]",
                "smtp.queue.retry[1]: \"soon\" is not a duration (like \"30s\", \"5m\", \"4h\", \"5d\")",
            ),
            ("retry = [0]", "smtp.queue.retry[0]: must be longer than 0"),
            (
                "max_age = \"0\"",
                "smtp.queue.max_age: must be longer than 0",
            ),
            (
                "max_age = -5",
                "smtp.queue.max_age: must be at least 0, found -5",
            ),
            (
                "delay_warning = true",
                "smtp.queue.delay_warning: expected a duration string, found boolean",
            ),
            (
                "concurrency = 0",
                "smtp.queue.concurrency: must be between 1 and 1024, found 0",
            ),
            (
                "lifetime = \"5d\"",
                "smtp.queue.lifetime: unknown key (expected one of: retry, max_age, delay_warning, concurrency)",
            ),
        ] {
            assert_eq!(bad(&format!("{MIN}[smtp.queue]\n{text}\n")), want, "{text}");
        }
    }

    #[test]
    fn imap_anonymous() {
        assert!(!parse(MIN).unwrap().imap.anonymous);
        let c = parse(&format!("{MIN}[imap]\nanonymous = true\n")).unwrap();
        assert!(c.imap.anonymous);
        let e = parse(&format!("{MIN}[imap]\nanonymous = \"yes\"\n")).unwrap_err();
        assert_eq!(e.0, "imap.anonymous: expected a boolean, found string");
        let e = parse(&format!("{MIN}[imap]\nanonymus = true\n")).unwrap_err();
        assert!(e.0.starts_with("imap.anonymus: unknown key"), "{e}");
    }

    #[test]
    fn collector_schedule() {
        let c = parse(MIN).unwrap();
        assert_eq!(c.collector.interval, Duration::from_secs(60));
        let c = parse(&format!(
            "{MIN}[collector]\ninterval = \"5m\"\nmax_backoff = \"2h\"\nidle_renew = 600\n"
        ))
        .unwrap();
        assert_eq!(c.collector.interval, Duration::from_secs(300));
        assert_eq!(c.collector.max_backoff, Duration::from_secs(7200));
        assert_eq!(c.collector.idle_renew, Duration::from_secs(600));
        for (text, want) in [
            (
                "interval = \"0s\"",
                "collector.interval: must be longer than 0",
            ),
            (
                "interval = \"soon\"",
                "collector.interval: \"soon\" is not a duration",
            ),
            (
                "idle_renew = \"30m\"",
                "collector.idle_renew: must be between 1m and 29m",
            ),
            (
                "interval = \"2h\"",
                "collector.max_backoff: must be at least collector.interval (7200 s)",
            ),
            ("every = 5", "collector.every: unknown key"),
        ] {
            let e = parse(&format!("{MIN}[collector]\n{text}\n")).unwrap_err();
            assert!(e.0.starts_with(want), "{text}: {e}");
        }
    }

    #[test]
    fn pop3_mark_seen() {
        assert!(!parse(MIN).unwrap().pop3.mark_seen);
        let c = parse(&format!("{MIN}[pop3]\nmark_seen = true\n")).unwrap();
        assert!(c.pop3.mark_seen);
        assert_eq!(
            bad(&format!("{MIN}[pop3]\nmark_seen = \"yes\"\n")),
            "pop3.mark_seen: expected a boolean, found string"
        );
        assert!(
            bad(&format!("{MIN}[pop3]\nmark_read = true\n"))
                .starts_with("pop3.mark_read: unknown key")
        );
    }

    /// Every bad config names the key and the problem.
    #[test]
    fn bad_configs() {
        let cases: &[(&str, &str)] = &[
            ("data_dir = \"d\"\n", "hostname: missing (required)"),
            ("hostname = \"h\"\n", "data_dir: missing (required)"),
            (
                "hostname = 5\ndata_dir = \"d\"\n",
                "hostname: expected a string, found integer",
            ),
            (
                "hostname = \"bad host\"\ndata_dir = \"d\"\n",
                "hostname: \"bad host\" is not a valid host name",
            ),
            (
                "hostname = \"h\"\ndata_dir = \"\"\n",
                "data_dir: must not be empty",
            ),
            (
                &format!("{MIN}colour = \"red\"\n"),
                "colour: unknown key (expected one of: hostname, data_dir, listen, tls, auth, limits, imap, pop3, smtp, collector)",
            ),
            (
                &format!("{MIN}[listen]\nimap = [\"127.0.0.1\"]\n"),
                "listen.imap[0]: \"127.0.0.1\" is not an ip:port address",
            ),
            (
                &format!("{MIN}[listen]\npop3 = [\"127.0.0.1:110\", \"localhost:110\"]\n"),
                "listen.pop3[1]: \"localhost:110\" is not an ip:port address",
            ),
            (
                &format!("{MIN}[listen]\nimap = [\"1.2.3.4:99999\"]\n"),
                "listen.imap[0]: \"1.2.3.4:99999\" is not an ip:port address",
            ),
            (
                &format!("{MIN}[listen]\nimap = \"127.0.0.1:143\"\n"),
                "listen.imap: expected a list of \"ip:port\" strings, found string",
            ),
            (
                &format!("{MIN}[listen]\nimap = [143]\n"),
                "listen.imap[0]: expected an \"ip:port\" string, found integer",
            ),
            (
                &format!("{MIN}[listen]\nimap4 = [\"127.0.0.1:143\"]\n"),
                "listen.imap4: unknown key (expected one of: imap, imaps, pop3, pop3s, smtp, submission, submissions)",
            ),
            (
                &format!("{MIN}[listen]\nimap = [\"127.0.0.1:143\"]\npop3 = [\"127.0.0.1:143\"]\n"),
                "listen.pop3[0]: 127.0.0.1:143 is already used by listen.imap[0]",
            ),
            (
                &format!("{MIN}listen = 5\n"),
                "listen: expected a table ([listen]), found integer",
            ),
            (
                &format!("{MIN}[tls]\ncert = \"c.pem\"\n"),
                "tls.key: missing (required)",
            ),
            (
                &format!("{MIN}[tls]\nkey = \"k.pem\"\n"),
                "tls.cert: missing (required)",
            ),
            (
                &format!("{MIN}[tls]\ncert = \"c\"\nkey = \"k\"\nca = \"x\"\n"),
                "tls.ca: unknown key (expected one of: cert, key)",
            ),
            (
                &format!("{MIN}[tls]\ncert = 1\nkey = \"k\"\n"),
                "tls.cert: expected a string, found integer",
            ),
            (
                &format!("{MIN}[auth]\nplaintext = \"never\"\n"),
                "auth.plaintext: \"never\" is not one of \"tls-only\", \"tls-or-loopback\" or \"always\"",
            ),
            (
                &format!("{MIN}[auth]\nplaintext = true\n"),
                "auth.plaintext: expected a string, found boolean",
            ),
            (
                &format!("{MIN}[auth]\nmechanisms = []\n"),
                "auth.mechanisms: unknown key (expected one of: plaintext)",
            ),
            (
                &format!("{MIN}[limits]\nconnections_per_ip = 0\n"),
                "limits.connections_per_ip: must be positive, found 0",
            ),
            (
                &format!("{MIN}[limits]\nimap_idle_timeout = \"30m\"\n"),
                "limits.imap_idle_timeout: expected a positive integer, found string",
            ),
            (
                &format!("{MIN}[limits]\nthreads = 4\n"),
                "limits.threads: unknown key",
            ),
        ];
        for (text, want) in cases {
            let got = bad(text);
            assert!(
                got.starts_with(want),
                "config {text:?}\n got: {got}\nwant: {want}"
            );
        }
    }

    #[test]
    fn invalid_toml_is_one_line_with_position() {
        let got = bad("hostname = \n");
        assert!(got.starts_with("invalid TOML: "), "{got}");
        assert!(got.contains("line 1"), "{got}");
        assert!(!got.contains('\n'), "{got}");
    }

    #[test]
    fn load_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pochta.toml");
        let e = Config::load(&path).unwrap_err();
        assert!(e.0.contains("pochta.toml: cannot read config"), "{e}");
        std::fs::write(&path, format!("{MIN}[listen]\nimap = [\"x\"]\n")).unwrap();
        let e = Config::load(&path).unwrap_err();
        assert!(e.0.ends_with("pochta.toml: listen.imap[0]: \"x\" is not an ip:port address (e.g. \"127.0.0.1:1143\" or \"[::1]:1143\")"), "{e}");
        std::fs::write(&path, MIN).unwrap();
        assert_eq!(
            Config::load(&path).unwrap().data_dir,
            dir.path().join("data")
        );
    }
}
