//! Where mail for a domain goes: the `[smtp.routes]` table, else MX records.
//!
//! Implementation notes:
//! - A route in the table wins: the exact domain first, then `"*"` (a smarthost for
//!   everything else). A route names one host and port and how to use TLS and AUTH there.
//! - Without a route, RFC 5321 §5.1: look up MX records and try the exchanges in ascending
//!   preference (shuffled within a preference, §5.1 "SHOULD … randomize"). No MX records but
//!   the domain exists → the domain itself is the implicit MX (its A/AAAA records).
//!   NXDOMAIN → the recipient fails for good (`5.1.2`).
//! - A null MX (one record with exchange `.`, RFC 7505 §3) means the domain accepts no mail:
//!   the recipient fails at once with `5.1.10` (RFC 7505 §4.2).
//! - DNS is behind the [`Resolver`] trait so tests inject answers and never reach real DNS;
//!   production uses the server's one resolver ([`DnsResolver`] over `pochta_dns::Dns`), the
//!   same resolver and caches that inbound SPF/DKIM/DMARC checks use.
//! - MX hosts are contacted on port 25, or on [`Routes::set_mx_port`]'s port (`[dns]
//!   mx_port`, for tests and private networks where the MTAs listen elsewhere).

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;

use pochta_dns::Dns;

/// A failed DNS lookup, classified the way delivery needs it: no records, no such domain,
/// or temporary.
pub use pochta_dns::LookupError as DnsFailure;

/// How a route uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// STARTTLS when offered, without certificate verification (RFC 7435 opportunistic
    /// security; RFC 3207 §4.1 lets a client go on in plaintext). What MX delivery uses.
    Opportunistic,
    /// STARTTLS required, certificate verified (a smarthost).
    StartTls,
    /// TLS from the first byte, certificate verified (port 465, RFC 8314).
    Implicit,
    /// Never TLS (tests, local relays).
    None,
}

/// A next hop from the routes table.
#[derive(Clone, PartialEq, Eq)]
pub struct Route {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// AUTH PLAIN credentials (user, password) for a smarthost; only sent over TLS.
    pub auth: Option<(String, String)>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("auth", &self.auth.as_ref().map(|(u, _)| (u, "<redacted>")))
            .finish()
    }
}

/// The `[smtp.routes]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routes {
    by_domain: HashMap<String, Route>,
    fallback: Option<Route>,
    /// Port of hosts found by MX lookup; `None`: 25.
    mx_port: Option<u16>,
}

impl Routes {
    /// Adds a route for `domain` (lower-cased), or the fallback for `"*"`.
    pub fn insert(&mut self, domain: &str, route: Route) {
        if domain == "*" {
            self.fallback = Some(route);
        } else {
            self.by_domain
                .insert(domain.trim_end_matches('.').to_ascii_lowercase(), route);
        }
    }

    /// The route for `domain`, if the table has one.
    pub fn lookup(&self, domain: &str) -> Option<&Route> {
        self.by_domain
            .get(&domain.trim_end_matches('.').to_ascii_lowercase())
            .or(self.fallback.as_ref())
    }

    pub fn is_empty(&self) -> bool {
        self.by_domain.is_empty() && self.fallback.is_none()
    }

    /// Contacts hosts found by MX lookup on `port` instead of 25.
    pub fn set_mx_port(&mut self, port: u16) {
        self.mx_port = Some(port);
    }

    /// The port of hosts found by MX lookup.
    pub fn mx_port(&self) -> u16 {
        self.mx_port.unwrap_or(25)
    }
}

/// DNS lookups delivery needs; injectable for tests.
pub trait Resolver: Send + Sync + 'static {
    /// MX records as (preference, exchange without the trailing dot; `""` for the root).
    fn mx(
        &self,
        domain: &str,
    ) -> impl Future<Output = Result<Vec<(u16, String)>, DnsFailure>> + Send;
    /// A and AAAA records (IPv4 first).
    fn ips(&self, host: &str) -> impl Future<Output = Result<Vec<IpAddr>, DnsFailure>> + Send;
}

/// A host to try: a route from the table, or an MX exchange (port 25, opportunistic TLS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hop {
    pub route: Route,
    /// The MX preference (0 for routes), for logs.
    pub preference: u16,
}

/// Why no host could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// The recipient fails: the text is a reply-like line with an enhanced status code.
    Permanent(String),
    /// Try later.
    Temporary(String),
}

/// The hosts to try for `domain`, in order.
pub async fn plan<R: Resolver>(
    domain: &str,
    routes: &Routes,
    resolver: &R,
) -> Result<Vec<Hop>, RouteError> {
    if let Some(r) = routes.lookup(domain) {
        return Ok(vec![Hop {
            route: r.clone(),
            preference: 0,
        }]);
    }
    let port = routes.mx_port();
    let mx_host = |host: &str, preference| Hop {
        route: Route {
            host: host.to_owned(),
            port,
            tls: TlsMode::Opportunistic,
            auth: None,
        },
        preference,
    };
    match resolver.mx(domain).await {
        Ok(records) if records.is_empty() => Ok(vec![mx_host(domain, 0)]),
        Ok(mut records) => {
            if records.iter().any(|(_, x)| x.is_empty() || x == ".") {
                // RFC 7505 §3: a null MX is the only record; treat any root exchange as one.
                return Err(RouteError::Permanent(format!(
                    "556 5.1.10 {domain} does not accept mail (null MX, RFC 7505)"
                )));
            }
            {
                use rand::seq::SliceRandom;
                records.shuffle(&mut rand::thread_rng());
            }
            records.sort_by_key(|(p, _)| *p);
            let mut seen = Vec::new();
            let mut hops = Vec::new();
            for (p, x) in records {
                let x = x.trim_end_matches('.').to_ascii_lowercase();
                if !seen.contains(&x) {
                    seen.push(x.clone());
                    hops.push(mx_host(&x, p));
                }
            }
            Ok(hops)
        }
        Err(DnsFailure::NoRecords) => Ok(vec![mx_host(domain, 0)]),
        Err(DnsFailure::NxDomain) => Err(RouteError::Permanent(format!(
            "550 5.1.2 domain {domain} does not exist"
        ))),
        Err(DnsFailure::Temporary(e)) => Err(RouteError::Temporary(format!(
            "cannot look up MX of {domain}: {e}"
        ))),
    }
}

/// Addresses of a hop: an IP literal as is, else through the resolver.
pub async fn addresses<R: Resolver>(host: &str, resolver: &R) -> Result<Vec<IpAddr>, DnsFailure> {
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    match resolver.ips(host).await {
        Ok(ips) if ips.is_empty() => Err(DnsFailure::NoRecords),
        r => r,
    }
}

/// The production resolver: the server's shared [`Dns`].
#[derive(Clone)]
pub struct DnsResolver(pub Arc<Dns>);

impl DnsResolver {
    /// Over the server's resolver.
    pub fn new(dns: Arc<Dns>) -> DnsResolver {
        DnsResolver(dns)
    }

    /// A resolver of its own with the system configuration (`/etc/resolv.conf`).
    pub fn system() -> DnsResolver {
        DnsResolver(Arc::new(Dns::system()))
    }
}

impl Resolver for DnsResolver {
    async fn mx(&self, domain: &str) -> Result<Vec<(u16, String)>, DnsFailure> {
        self.0.mx(domain).await
    }

    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsFailure> {
        self.0.ips(host).await
    }
}

/// A resolver answering from fixed tables; everything else is NXDOMAIN. For tests.
#[derive(Debug, Default, Clone)]
pub struct StaticResolver {
    pub mx: HashMap<String, Result<Vec<(u16, String)>, DnsFailure>>,
    pub ips: HashMap<String, Vec<IpAddr>>,
}

impl Resolver for StaticResolver {
    async fn mx(&self, domain: &str) -> Result<Vec<(u16, String)>, DnsFailure> {
        match self.mx.get(domain) {
            Some(r) => r.clone(),
            None if self.ips.contains_key(domain) => Err(DnsFailure::NoRecords),
            None => Err(DnsFailure::NxDomain),
        }
    }

    async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, DnsFailure> {
        self.ips.get(host).cloned().ok_or(DnsFailure::NxDomain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(host: &str, port: u16) -> Route {
        Route {
            host: host.into(),
            port,
            tls: TlsMode::None,
            auth: None,
        }
    }

    fn hosts(r: Result<Vec<Hop>, RouteError>) -> Vec<String> {
        r.unwrap()
            .into_iter()
            .map(|h| format!("{}:{}", h.route.host, h.route.port))
            .collect()
    }

    #[tokio::test]
    async fn table_then_fallback_then_mx() {
        let mut routes = Routes::default();
        routes.insert("Example.NET", route("127.0.0.1", 2526));
        let mut dns = StaticResolver::default();
        dns.mx.insert(
            "mx.test".into(),
            Ok(vec![(20, "b.mx.test.".into()), (10, "a.mx.test".into())]),
        );
        assert_eq!(
            hosts(plan("example.net.", &routes, &dns).await),
            ["127.0.0.1:2526"]
        );
        assert_eq!(
            hosts(plan("mx.test", &routes, &dns).await),
            ["a.mx.test:25", "b.mx.test:25"]
        );
        routes.insert("*", route("relay.test", 587));
        assert_eq!(
            hosts(plan("mx.test", &routes, &dns).await),
            ["relay.test:587"]
        );
        assert_eq!(
            hosts(plan("example.net", &routes, &dns).await),
            ["127.0.0.1:2526"]
        );
    }

    #[tokio::test]
    async fn implicit_mx_null_mx_nxdomain_and_temporary() {
        let routes = Routes::default();
        let mut dns = StaticResolver::default();
        dns.ips
            .insert("a-only.test".into(), vec!["192.0.2.1".parse().unwrap()]);
        dns.mx.insert("null.test".into(), Ok(vec![(0, "".into())]));
        dns.mx.insert(
            "down.test".into(),
            Err(DnsFailure::Temporary("SERVFAIL".into())),
        );
        // RFC 5321 §5.1: no MX → the domain itself.
        assert_eq!(
            hosts(plan("a-only.test", &routes, &dns).await),
            ["a-only.test:25"]
        );
        let hop = &plan("a-only.test", &routes, &dns).await.unwrap()[0];
        assert_eq!(hop.route.tls, TlsMode::Opportunistic);
        assert_eq!(
            addresses("a-only.test", &dns).await,
            Ok(vec!["192.0.2.1".parse().unwrap()])
        );
        // RFC 7505: null MX fails at once.
        match plan("null.test", &routes, &dns).await {
            Err(RouteError::Permanent(t)) => assert!(t.contains("5.1.10"), "{t}"),
            other => panic!("{other:?}"),
        }
        match plan("nowhere.test", &routes, &dns).await {
            Err(RouteError::Permanent(t)) => assert!(t.contains("5.1.2"), "{t}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            plan("down.test", &routes, &dns).await,
            Err(RouteError::Temporary(_))
        ));
        assert_eq!(
            addresses("[::1]", &dns).await,
            Ok(vec!["::1".parse().unwrap()])
        );
    }

    #[tokio::test]
    async fn equal_preferences_all_present_duplicates_dropped() {
        let mut dns = StaticResolver::default();
        dns.mx.insert(
            "d.test".into(),
            Ok(vec![
                (10, "x.test".into()),
                (10, "y.test".into()),
                (5, "z.test".into()),
                (10, "X.test.".into()),
            ]),
        );
        let h = hosts(plan("d.test", &Routes::default(), &dns).await);
        assert_eq!(h[0], "z.test:25");
        let mut rest = h[1..].to_vec();
        rest.sort();
        assert_eq!(rest, ["x.test:25", "y.test:25"]);
    }

    #[tokio::test]
    async fn mx_port_override() {
        let mut dns = StaticResolver::default();
        dns.mx
            .insert("d.test".into(), Ok(vec![(10, "x.test".into())]));
        let mut routes = Routes::default();
        routes.set_mx_port(2526);
        assert_eq!(hosts(plan("d.test", &routes, &dns).await), ["x.test:2526"]);
        // A table route keeps its own port.
        routes.insert("d.test", route("relay.test", 587));
        assert_eq!(
            hosts(plan("d.test", &routes, &dns).await),
            ["relay.test:587"]
        );
    }

    #[test]
    fn route_debug_redacts_password() {
        let mut r = route("relay", 587);
        r.auth = Some(("me".into(), "hunter2".into()));
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
