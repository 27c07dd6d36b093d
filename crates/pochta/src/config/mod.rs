//! The TOML configuration file: one module per section (`[listen]`, `[tls]`, `[auth]`,
//! `[limits]`, `[imap]`, `[pop3]`, `[smtp]` with `[smtp.routes]` and `[smtp.queue]`,
//! `[collector]`, `[dns]`, `[http]`, `[search]`, `[store]`), each with the serde shape of its section and the checks that turn it into
//! settings.
//!
//! Implementation notes:
//! - Every section is a serde struct with `#[serde(deny_unknown_fields)]`: an unknown key is
//!   an error, never ignored. The file is parsed into a `toml::Table` first (syntax errors:
//!   `invalid TOML: …` with the line), then deserialized through `serde_path_to_error`, so
//!   every message starts with the key path as written in the file, e.g.
//!   `listen.imap[0]: "127.0.0.1" is not an ip:port address` or
//!   `smtp.routes."a.test".host: missing (required)`. [`path_error`] is the one place that
//!   turns serde's wording into ours.
//! - Values with a rule (durations, ranges, ip:port, enumerations) are small types in
//!   [`value`] that check while deserializing; rules that involve two keys (collector
//!   `max_backoff` ≥ `interval`, one address per listener, a route's username and password)
//!   are checked after, in the section's module, naming the key.
//! - Relative `data_dir`, `tls.cert` and `tls.key` are relative to the config file's folder,
//!   so a config works the same whatever the current directory of the process.
//! - An absent `[listen]` key means "not listening"; one address may be used by one listener
//!   only (checked here, so the error names both keys instead of a later "address in use").
//! - `[limits]` is optional and every key in it has a default suited to a small server.

mod auth;
mod collector;
mod dns;
mod http;
mod imap;
mod limits;
mod listen;
mod pop3;
mod queue;
mod search;
mod smtp;
mod store;
mod tls;
mod value;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pochta_collector::run::Schedule;
use pochta_types::Domain;
use serde::Deserialize;
use serde_path_to_error::Segment;
use toml::{Table, Value};

pub use auth::Plaintext;
pub use dns::DnsSettings;
pub use http::HttpSettings;
pub use imap::ImapSettings;
pub use limits::Limits;
pub use listen::Protocol;
pub use pop3::Pop3Settings;
pub use queue::QueueSettings;
pub use search::SearchSettings;
pub use smtp::SmtpSettings;
pub use store::StoreSettings;
pub use tls::TlsFiles;

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

/// The whole file as written (before the checks that involve several keys).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    hostname: String,
    data_dir: String,
    listen: Option<listen::Section>,
    tls: Option<tls::Section>,
    auth: Option<auth::Section>,
    limits: Option<limits::Section>,
    imap: Option<imap::Section>,
    pop3: Option<pop3::Section>,
    smtp: Option<smtp::Section>,
    collector: Option<collector::Section>,
    dns: Option<dns::Section>,
    http: Option<http::Section>,
    search: Option<search::Section>,
    store: Option<store::Section>,
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
    /// `[collector] https_port`, `https_ca_file`: how discovery and OAuth reach HTTPS servers.
    pub collector_web: pochta_collector::discover::WebOptions,
    /// `[dns]`: the server's resolver.
    pub dns: DnsSettings,
    /// `[http]`: access to `/metrics` and `/healthz`.
    pub http: HttpSettings,
    /// `[search]`: the full-text index on or off.
    pub search: SearchSettings,
    /// `[store]`: the storage backend (absent: embedded, in `data_dir`).
    pub store: StoreSettings,
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
        let file: File =
            serde_path_to_error::deserialize(Value::Table(table)).map_err(path_error)?;

        if Domain::new(&file.hostname).is_err() {
            return err(format!(
                "hostname: {:?} is not a valid host name",
                file.hostname
            ));
        }
        if file.data_dir.is_empty() {
            return err("data_dir: must not be empty");
        }
        Ok(Config {
            listen: file
                .listen
                .map(listen::Section::check)
                .transpose()?
                .unwrap_or_default(),
            tls: file.tls.map(|t| t.check(base)).transpose()?,
            plaintext: file
                .auth
                .map_or(Plaintext::TlsOrLoopback, auth::Section::plaintext),
            limits: file
                .limits
                .map(limits::Section::check)
                .transpose()?
                .unwrap_or_default(),
            imap: file.imap.map(imap::Section::settings).unwrap_or_default(),
            pop3: file.pop3.map(pop3::Section::settings).unwrap_or_default(),
            smtp: file
                .smtp
                .map(smtp::Section::check)
                .transpose()?
                .unwrap_or_default(),
            collector_web: file
                .collector
                .as_ref()
                .map(|c| c.web(base))
                .unwrap_or_default(),
            collector: file
                .collector
                .map(collector::Section::check)
                .transpose()?
                .unwrap_or_default(),
            dns: file.dns.map(dns::Section::settings).unwrap_or_default(),
            http: file
                .http
                .map(http::Section::check)
                .transpose()?
                .unwrap_or_default(),
            search: file
                .search
                .map(search::Section::settings)
                .unwrap_or_default(),
            store: file
                .store
                .map(store::Section::check)
                .transpose()?
                .unwrap_or_default(),
            hostname: file.hostname,
            data_dir: base.join(file.data_dir),
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
            // Between requests on a kept-alive connection, and for one request's headers.
            Protocol::Http | Protocol::Https => self.limits.login_timeout,
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

/// The one place where serde's wording becomes ours: `key.path: problem`.
///
/// Our own value types ([`value`]) already say what is wrong; serde itself reports three
/// things, rewritten here: a missing field (`missing (required)`, under the field's own
/// key), an unknown field (`unknown key (expected one of: …)`), and a value of the wrong
/// type (`expected …, found <TOML type>`; a section that is not a table says so).
fn path_error(e: serde_path_to_error::Error<toml::de::Error>) -> ConfigError {
    let mut path = String::new();
    for segment in e.path().iter() {
        match segment {
            Segment::Seq { index } => path.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&quote_key(key));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    let message = e.inner().message();
    let message = if let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    {
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&quote_key(field));
        "missing (required)".to_owned()
    } else if let Some(rest) = message.strip_prefix("unknown field `") {
        let expected = rest
            .split_once("`, expected ")
            // serde writes `a`, `a` or `b`, or one of `a`, `b`, `c`.
            .map(|(_, list)| {
                list.trim_start_matches("one of ")
                    .replace("` or `", "`, `")
                    .replace('`', "")
            })
            .unwrap_or_default();
        format!("unknown key (expected one of: {expected})")
    } else if let Some((found, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|m| m.split_once(", expected "))
    {
        let found = toml_type(found);
        if expected.starts_with("struct ") || expected == "a map" {
            format!("expected a table ([{path}]), found {found}")
        } else {
            format!("expected {expected}, found {found}")
        }
    } else {
        message.to_owned()
    };
    if path.is_empty() {
        ConfigError(message)
    } else {
        ConfigError(format!("{path}: {message}"))
    }
}

/// The TOML type name for serde's description of a value (`integer `5`` → `integer`).
fn toml_type(unexpected: &str) -> &'static str {
    for (serde, toml) in [
        ("string", "string"),
        ("integer", "integer"),
        ("boolean", "boolean"),
        ("floating point", "float"),
        ("sequence", "array"),
        ("map", "table"),
    ] {
        if unexpected.starts_with(serde) {
            return toml;
        }
    }
    "value"
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
# http      = ["127.0.0.1:8080"]  # CardDAV, autoconfig, /metrics, /healthz (plain HTTP)
# https     = ["127.0.0.1:8443"]  # the same over implicit TLS (the [tls] certificate)

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
# login_timeout         = 60      # seconds from greeting to login, in total
# imap_idle_timeout     = 1800    # seconds
# pop3_idle_timeout     = 600
# smtp_idle_timeout     = 300
# max_message_size      = 52428800  # bytes
# message_memory        = 134217728 # bytes of large messages parsed and stored at once
# shutdown_timeout      = 10
# tls_handshake_timeout = 30
# min_data_rate         = 1024    # bytes/s for DATA/BDAT bodies and IMAP literals ...
# data_rate_grace       = 30      # ... once this many seconds of the transfer have passed

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
# https_port  = 443               # port of discovered HTTPS URLs: autoconfig, OAuth (tests)
# https_ca_file = "ca.pem"        # CA certificates trusted for them besides the system's

# [smtp.queue]                    # defaults shown
# retry = ["5m", "10m", "20m", "40m", "1h", "2h", "4h"]  # waits; the last repeats
# max_age = "5d"                  # then a temporary failure bounces
# delay_warning = "4h"            # tell the sender once ("0": never)
# concurrency = 16                # deliveries in flight

# [dns]                           # defaults: the system's resolver (/etc/resolv.conf)
# servers  = ["127.0.0.1:53"]     # resolvers to ask (UDP, TCP when truncated)
# timeout  = 5                    # seconds per query (1..60)
# attempts = 2                    # tries per query (1..10)
# mx_port  = 25                   # port of MX hosts (tests, private networks)

# [http]
# metrics_allow = ["192.0.2.10", "10.0.0.0/8"]  # besides loopback, who may read /metrics
#                                                # and /healthz
"#;

#[cfg(test)]
mod tests;
