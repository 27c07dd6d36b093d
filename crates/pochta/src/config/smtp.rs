//! `[smtp]`: the inbound MTA and submission, with `[smtp.routes]` (outbound next hops) and
//! `[smtp.queue]` (retries, in `queue.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use pochta_queue::{Route, Routes, TlsMode};
use pochta_types::Domain;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::queue::{self, QueueSettings};
use super::value::{AtLeast, one_of};
use super::{ConfigError, err, quote_key};

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Section {
    check_inbound: Option<bool>,
    dmarc_reject: Option<bool>,
    save_sent: Option<bool>,
    max_recipients: Option<AtLeast<1>>,
    max_errors: Option<AtLeast<1>>,
    greeting_delay: Option<AtLeast<0>>,
    routes: Option<BTreeMap<String, RouteEntry>>,
    queue: Option<queue::Section>,
}

impl Section {
    pub(super) fn check(self) -> Result<SmtpSettings, ConfigError> {
        let d = SmtpSettings::default();
        Ok(SmtpSettings {
            check_inbound: self.check_inbound.unwrap_or(d.check_inbound),
            dmarc_reject: self.dmarc_reject.unwrap_or(d.dmarc_reject),
            save_sent: self.save_sent.unwrap_or(d.save_sent),
            max_recipients: self.max_recipients.map_or(d.max_recipients, |n| n.0),
            max_errors: self.max_errors.map_or(d.max_errors, |n| n.0),
            greeting_delay: self
                .greeting_delay
                .map_or(d.greeting_delay, |n| Duration::from_secs(u64::from(n.0))),
            routes: match self.routes {
                None => d.routes,
                Some(routes) => check_routes(routes)?,
            },
            queue: self.queue.map(queue::Section::settings).unwrap_or_default(),
        })
    }
}

/// One `[smtp.routes]` entry: `"domain" = "host:port"` (opportunistic STARTTLS), or a table
/// `{ host = "host:port", tls = "starttls", username = "…", password = "…" }` for a smarthost.
enum RouteEntry {
    Hop(String),
    Table(RouteTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteTable {
    host: String,
    #[serde(default, deserialize_with = "tls_mode")]
    tls: Option<TlsMode>,
    username: Option<String>,
    password: Option<String>,
}

impl<'de> Deserialize<'de> for RouteEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RouteEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("\"host:port\" or a table")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RouteEntry, E> {
                Ok(RouteEntry::Hop(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RouteEntry, A::Error> {
                // The same map access, so key paths inside the table stay tracked.
                RouteTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RouteEntry::Table)
            }
        }
        d.deserialize_any(V)
    }
}

fn tls_mode<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TlsMode>, D::Error> {
    one_of(
        d,
        &[
            ("opportunistic", TlsMode::Opportunistic),
            ("starttls", TlsMode::StartTls),
            ("implicit", TlsMode::Implicit),
            ("none", TlsMode::None),
        ],
        r#""opportunistic", "starttls", "implicit", "none""#,
    )
    .map(Some)
}

fn check_routes(entries: BTreeMap<String, RouteEntry>) -> Result<Routes, ConfigError> {
    let mut routes = Routes::default();
    for (domain, entry) in entries {
        let key = format!("smtp.routes.{}", quote_key(&domain));
        if domain != "*" && Domain::new(&domain).is_err() {
            return err(format!("{key}: {domain:?} is not a domain or \"*\""));
        }
        let route = match entry {
            RouteEntry::Hop(hop) => {
                let (host, port) = parse_hop(&hop, &key)?;
                Route {
                    host,
                    port,
                    tls: TlsMode::Opportunistic,
                    auth: None,
                }
            }
            RouteEntry::Table(t) => {
                let auth = match (t.username, t.password) {
                    (None, None) => None,
                    (Some(u), Some(p)) => Some((u, p)),
                    (Some(_), None) => {
                        return err(format!("{key}.password: missing (username is set)"));
                    }
                    (None, Some(_)) => {
                        return err(format!("{key}.username: missing (password is set)"));
                    }
                };
                // A smarthost with credentials needs verified TLS unless told otherwise.
                let tls = t.tls.unwrap_or(if auth.is_some() {
                    TlsMode::StartTls
                } else {
                    TlsMode::Opportunistic
                });
                let (host, port) = parse_hop(&t.host, &format!("{key}.host"))?;
                Route {
                    host,
                    port,
                    tls,
                    auth,
                }
            }
        };
        routes.insert(&domain, route);
    }
    Ok(routes)
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
