//! `[limits]`: resource limits; every key has a default suited to a small server.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::value::Positive;

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
    /// The total time from the greeting to a successful login (IMAP, POP3, submission): a
    /// client that drips bytes cannot hold a connection past it.
    pub login_timeout: Duration,
    /// RFC 9051 §5.4: at least 30 minutes for IMAP.
    pub imap_idle_timeout: Duration,
    /// RFC 1939 §3: at least 10 minutes for POP3.
    pub pop3_idle_timeout: Duration,
    /// RFC 5321 §4.5.3.2.7: at least 5 minutes for SMTP.
    pub smtp_idle_timeout: Duration,
    /// Largest message accepted (SMTP SIZE, IMAP APPEND), in bytes.
    pub max_message_size: u64,
    /// Bytes of spooled messages held in memory at once to be parsed, checked and stored,
    /// over IMAP, SMTP and the collector together; more wait (`pochta_net::budget`). A
    /// message larger than this waits until it can take all of it.
    pub message_memory: u64,
    /// How long `serve` waits for sessions to end after SIGTERM.
    pub shutdown_timeout: Duration,
    /// How long a TLS handshake may take.
    pub tls_handshake_timeout: Duration,
    /// Bytes/s an SMTP DATA body, BDAT chunk or IMAP literal must arrive at once
    /// `data_rate_grace` has passed; a slower client is cut off.
    pub min_data_rate: u64,
    pub data_rate_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1000,
            connections_per_ip: 20,
            smtp_connections_per_ip: 50,
            login_timeout: Duration::from_secs(60),
            imap_idle_timeout: Duration::from_secs(30 * 60),
            pop3_idle_timeout: Duration::from_secs(10 * 60),
            smtp_idle_timeout: Duration::from_secs(5 * 60),
            max_message_size: 50 * 1024 * 1024,
            message_memory: 128 * 1024 * 1024,
            shutdown_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(30),
            min_data_rate: 1024,
            data_rate_grace: Duration::from_secs(30),
        }
    }
}

/// `[limits]` as written: positive integers (timeouts in seconds, sizes in bytes).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Section {
    max_connections: Option<Positive>,
    connections_per_ip: Option<Positive>,
    smtp_connections_per_ip: Option<Positive>,
    login_timeout: Option<Positive>,
    imap_idle_timeout: Option<Positive>,
    pop3_idle_timeout: Option<Positive>,
    smtp_idle_timeout: Option<Positive>,
    max_message_size: Option<Positive>,
    message_memory: Option<Positive>,
    shutdown_timeout: Option<Positive>,
    tls_handshake_timeout: Option<Positive>,
    min_data_rate: Option<Positive>,
    data_rate_grace: Option<Positive>,
}

impl Section {
    pub(super) fn check(self) -> Result<Limits, ConfigError> {
        let d = Limits::default();
        let secs = |v: Option<Positive>, default: Duration| {
            v.map_or(default, |Positive(n)| Duration::from_secs(n))
        };
        let per_ip = |v: Option<Positive>, default: u32, key: &str| match v {
            None => Ok(default),
            Some(Positive(n)) => {
                u32::try_from(n).map_err(|_| ConfigError(format!("limits.{key}: {n} is too large")))
            }
        };
        let connections_per_ip = per_ip(
            self.connections_per_ip,
            d.connections_per_ip,
            "connections_per_ip",
        )?;
        let smtp_connections_per_ip = per_ip(
            self.smtp_connections_per_ip,
            d.smtp_connections_per_ip,
            "smtp_connections_per_ip",
        )?;
        Ok(Limits {
            max_connections: self
                .max_connections
                .map_or(d.max_connections, |Positive(n)| n as usize),
            connections_per_ip,
            smtp_connections_per_ip,
            login_timeout: secs(self.login_timeout, d.login_timeout),
            imap_idle_timeout: secs(self.imap_idle_timeout, d.imap_idle_timeout),
            pop3_idle_timeout: secs(self.pop3_idle_timeout, d.pop3_idle_timeout),
            smtp_idle_timeout: secs(self.smtp_idle_timeout, d.smtp_idle_timeout),
            max_message_size: self
                .max_message_size
                .map_or(d.max_message_size, |Positive(n)| n),
            message_memory: self
                .message_memory
                .map_or(d.message_memory, |Positive(n)| n),
            shutdown_timeout: secs(self.shutdown_timeout, d.shutdown_timeout),
            tls_handshake_timeout: secs(self.tls_handshake_timeout, d.tls_handshake_timeout),
            min_data_rate: self.min_data_rate.map_or(d.min_data_rate, |Positive(n)| n),
            data_rate_grace: secs(self.data_rate_grace, d.data_rate_grace),
        })
    }
}
