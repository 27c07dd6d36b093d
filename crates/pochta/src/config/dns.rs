//! `[dns]`: the server's one resolver (SPF/DKIM/DMARC checks of inbound mail, MX/A/AAAA
//! routing of outbound mail), see `pochta_dns`.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::value::{Addrs, Between};

/// `[dns]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsSettings {
    /// Resolvers (`"ip:port"`); empty: the system's (`/etc/resolv.conf`).
    pub servers: Vec<SocketAddr>,
    /// How long one query waits; `None`: the system's (else 5 s).
    pub timeout: Option<Duration>,
    /// Attempts per query; `None`: the system's (else 2).
    pub attempts: Option<u32>,
    /// Port of MX hosts for outbound delivery (tests, private networks); `None`: 25.
    pub mx_port: Option<u16>,
}

impl DnsSettings {
    /// The resolver's configuration.
    pub fn resolver(&self) -> pochta_dns::DnsConfig {
        pochta_dns::DnsConfig {
            servers: self.servers.clone(),
            timeout: self.timeout,
            attempts: self.attempts.map(|a| a as usize),
            ..pochta_dns::DnsConfig::default()
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Section {
    servers: Option<Addrs>,
    timeout: Option<Between<1, 60>>,
    attempts: Option<Between<1, 10>>,
    mx_port: Option<Between<1, 65535>>,
}

impl Section {
    pub(super) fn settings(self) -> DnsSettings {
        DnsSettings {
            servers: self.servers.map(|a| a.0).unwrap_or_default(),
            timeout: self.timeout.map(|t| Duration::from_secs(t.0 as u64)),
            attempts: self.attempts.map(|a| a.0 as u32),
            mx_port: self.mx_port.map(|p| p.0 as u16),
        }
    }
}
