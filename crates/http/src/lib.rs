//! The HTTP listener: mail-program autoconfiguration, `/metrics` and `/healthz`.
//!
//! Implementation notes:
//! - HTTP/1.1 by `hyper` 1.x over the connection `pochta-net` accepted (the same admission,
//!   per-IP limits, TLS acceptor and certificate reload as the mail listeners); no HTTP is
//!   parsed here. `https` listeners are implicit TLS; `http` listeners are plain (no STARTTLS
//!   in HTTP).
//! - Bounds: request headers must arrive within the listener's idle timeout (hyper's
//!   `header_read_timeout`, which also ends an idle keep-alive connection), the read buffer is
//!   64 KiB, a request body at most [`MAX_BODY`]. On shutdown the connection finishes the
//!   request in flight and closes (`graceful_shutdown`).
//! - Routes ([`Http::route`]): Thunderbird autoconfig at `/mail/config-v1.1.xml` and
//!   `/.well-known/autoconfig/mail/config-v1.1.xml`, Outlook autodiscover POX at
//!   `/autodiscover/autodiscover.xml` (any letter case, as Outlook varies it), the Apple profile
//!   at `/mobileconfig?emailaddress=…`, `/metrics`, `/healthz`. Documents: [`autoconfig`].
//! - `/metrics` and `/healthz` answer only loopback and the addresses of
//!   [`HttpConfig::metrics_allow`]; everyone else gets 403, so operational detail (account
//!   activity, queue depth) is not public.
#![forbid(unsafe_code)]

pub mod autoconfig;
pub mod carddav;
pub mod vcard;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use pochta_net::{Connection, Service};
use tracing::debug;

pub use autoconfig::{Endpoint, MailServers, Security};

/// The largest request body read (autodiscover requests are a few hundred bytes).
pub const MAX_BODY: usize = 1024 * 1024;

/// An address or network (`192.0.2.7`, `192.0.2.0/24`, `2001:db8::/32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = String;
    fn from_str(s: &str) -> Result<Network, String> {
        let (a, p) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0..={max}"))?,
        };
        Ok(Network { addr, prefix })
    }
}

/// What the HTTP service needs from the configuration.
#[derive(Debug, Clone, Default)]
pub struct HttpConfig {
    pub servers: MailServers,
    /// Besides loopback, who may read `/metrics` and `/healthz`.
    pub metrics_allow: Vec<Network>,
}

/// One health check: its name and `Err(reason)` when failing.
pub type HealthCheck = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The HTTP service of every `http`/`https` listener.
pub struct HttpService {
    inner: Arc<Http>,
}

/// Routing and answers, shared by every connection.
pub struct Http {
    config: HttpConfig,
    health: Vec<(&'static str, HealthCheck)>,
    carddav: Option<carddav::CardDav>,
}

impl HttpService {
    pub fn new(
        config: HttpConfig,
        health: Vec<(&'static str, HealthCheck)>,
        carddav: Option<carddav::CardDav>,
    ) -> HttpService {
        HttpService {
            inner: Arc::new(Http {
                config,
                health,
                carddav,
            }),
        }
    }
}

/// Where a request came from.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    pub tls: bool,
    /// The connection's standing with the listener: a CardDAV login marks it logged in, so
    /// that under overload it is not evicted like a connection that never logged in.
    pub admission: Option<Arc<pochta_net::Admission>>,
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn text(status: StatusCode, body: &'static str) -> Answer {
    answer(status, "text/plain; charset=utf-8", body)
}

impl Service for HttpService {
    async fn handle(&self, conn: Connection) {
        let Connection {
            stream,
            peer,
            mut shutdown,
            idle_timeout,
            listener,
            admission,
            ..
        } = conn;
        let who = Peer {
            addr: peer,
            tls: stream.is_tls(),
            admission: Some(Arc::new(admission)),
        };
        let http = Arc::clone(&self.inner);
        let svc = service_fn(move |req| {
            let (http, who) = (Arc::clone(&http), who.clone());
            async move { Ok::<_, Infallible>(http.route(req, who).await) }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(idle_timeout)
            .max_buf_size(64 * 1024)
            .serve_connection(TokioIo::new(stream), svc);
        tokio::pin!(conn);
        let result = tokio::select! {
            r = conn.as_mut() => r,
            _ = shutdown.wait() => {
                conn.as_mut().graceful_shutdown();
                match tokio::time::timeout(Duration::from_secs(5), conn.as_mut()).await {
                    Ok(r) => r,
                    Err(_) => return,
                }
            }
        };
        if let Err(e) = result {
            debug!(listener = %listener, %peer, error = %e, "HTTP connection ended");
        }
    }
}

/// The value of `name` in a query string.
fn query_param(req: &Request<Incoming>, name: &str) -> Option<String> {
    let q = req.uri().query()?;
    form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.into_owned())
}

/// The request's host (without port), for documents asked without an address.
fn host(req: &Request<Incoming>) -> Option<String> {
    let h = req.headers().get(header::HOST)?.to_str().ok()?;
    // `host:port`; a bracketed IPv6 literal is no mail domain anyway.
    let h = h.split(':').next().unwrap_or(h);
    Some(h.trim_start_matches("autoconfig.").to_owned())
}

impl Http {
    /// Whether `ip` may read `/metrics` and `/healthz`.
    fn operator(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        ip.is_loopback() || self.config.metrics_allow.iter().any(|n| n.contains(ip))
    }

    /// Answers one request.
    pub async fn route(&self, req: Request<Incoming>, peer: Peer) -> Answer {
        let path = req.uri().path().to_owned();
        let (route, r) = self.dispatch(req, &path, peer).await;
        pochta_metrics::http_request(route, r.status().as_u16());
        r
    }

    async fn dispatch(
        &self,
        req: Request<Incoming>,
        path: &str,
        peer: Peer,
    ) -> (&'static str, Answer) {
        let s = &self.config.servers;
        if let Some(dav) = &self.carddav {
            let dav_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::POST);
            if path == "/dav" || path.starts_with("/dav/") || (path == "/" && dav_method) {
                return ("carddav", dav.handle(req, peer).await);
            }
            if path.eq_ignore_ascii_case("/.well-known/carddav") {
                // RFC 6764 §5: the context path.
                let mut r = text(StatusCode::MOVED_PERMANENTLY, "see /dav/\n");
                r.headers_mut()
                    .insert(header::LOCATION, HeaderValue::from_static("/dav/"));
                return ("carddav", r);
            }
        }
        let lower = path.to_ascii_lowercase();
        match lower.as_str() {
            "/mail/config-v1.1.xml" | "/.well-known/autoconfig/mail/config-v1.1.xml" => {
                if !matches!(*req.method(), Method::GET | Method::HEAD) {
                    return (
                        "autoconfig",
                        text(StatusCode::METHOD_NOT_ALLOWED, "GET only\n"),
                    );
                }
                let address = query_param(&req, "emailaddress");
                let domain = match address.as_deref().and_then(autoconfig::domain_of) {
                    Some(d) => d.to_owned(),
                    None => host(&req).unwrap_or_else(|| s.hostname.clone()),
                };
                let x = autoconfig::thunderbird(s, &domain);
                (
                    "autoconfig",
                    answer(StatusCode::OK, "application/xml; charset=utf-8", x),
                )
            }
            "/autodiscover/autodiscover.xml" => {
                if *req.method() != Method::POST {
                    return (
                        "autodiscover",
                        text(
                            StatusCode::METHOD_NOT_ALLOWED,
                            "POST an autodiscover request\n",
                        ),
                    );
                }
                let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                    Ok(b) => b.to_bytes(),
                    Err(_) => {
                        return (
                            "autodiscover",
                            text(StatusCode::PAYLOAD_TOO_LARGE, "request too large\n"),
                        );
                    }
                };
                let address = autoconfig::autodiscover_request(&body);
                let x = autoconfig::autodiscover(s, address.as_deref());
                (
                    "autodiscover",
                    answer(StatusCode::OK, "application/xml; charset=utf-8", x),
                )
            }
            "/mobileconfig" | "/apple/mobileconfig" => {
                let Some(address) = query_param(&req, "emailaddress")
                    .filter(|a| autoconfig::domain_of(a).is_some())
                else {
                    return (
                        "mobileconfig",
                        text(
                            StatusCode::BAD_REQUEST,
                            "give ?emailaddress=you@example.org\n",
                        ),
                    );
                };
                match autoconfig::mobileconfig(s, &address) {
                    Some(p) => {
                        let mut r = answer(StatusCode::OK, "application/x-apple-aspen-config", p);
                        if let Ok(v) =
                            HeaderValue::from_str("attachment; filename=\"mail.mobileconfig\"")
                        {
                            r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
                        }
                        ("mobileconfig", r)
                    }
                    None => (
                        "mobileconfig",
                        text(
                            StatusCode::NOT_FOUND,
                            "no IMAP or POP3 listener is configured\n",
                        ),
                    ),
                }
            }
            "/metrics" => {
                if !self.operator(peer.addr.ip()) {
                    return ("metrics", text(StatusCode::FORBIDDEN, "forbidden\n"));
                }
                let body = pochta_net::blocking(pochta_metrics::render);
                (
                    "metrics",
                    answer(StatusCode::OK, pochta_metrics::CONTENT_TYPE, body),
                )
            }
            "/healthz" => {
                if !self.operator(peer.addr.ip()) {
                    return ("healthz", text(StatusCode::FORBIDDEN, "forbidden\n"));
                }
                let mut body = String::new();
                let mut ok = true;
                pochta_net::blocking(|| {
                    for (name, check) in &self.health {
                        match check() {
                            Ok(()) => body.push_str(&format!("{name}: ok\n")),
                            Err(e) => {
                                ok = false;
                                body.push_str(&format!("{name}: FAIL {e}\n"));
                            }
                        }
                    }
                });
                let status = if ok {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                ("healthz", answer(status, "text/plain; charset=utf-8", body))
            }
            _ => ("other", text(StatusCode::NOT_FOUND, "not found\n")),
        }
    }
}

/// The line written to a connection refused for its address's limit.
pub const REFUSAL: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 10\r\nConnection: close\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    /// The guard of `/metrics` and `/healthz`: loopback and the allow list only.
    #[test]
    fn operator_access_is_loopback_or_the_allow_list() {
        let http = Http {
            config: HttpConfig {
                servers: MailServers::default(),
                metrics_allow: vec!["192.0.2.0/28".parse().unwrap()],
            },
            health: Vec::new(),
            carddav: None,
        };
        for ok in [
            "127.0.0.1",
            "127.3.2.1",
            "::1",
            "::ffff:127.0.0.1",
            "192.0.2.9",
        ] {
            assert!(http.operator(ok.parse().unwrap()), "{ok} may read /metrics");
        }
        for no in ["192.0.2.17", "203.0.113.5", "10.0.0.1", "2001:db8::1"] {
            assert!(
                !http.operator(no.parse().unwrap()),
                "{no} may not read /metrics"
            );
        }
    }

    #[test]
    fn networks_match_addresses_and_prefixes() {
        let n: Network = "192.0.2.0/24".parse().unwrap();
        assert!(n.contains("192.0.2.200".parse().unwrap()));
        assert!(!n.contains("192.0.3.1".parse().unwrap()));
        assert!(n.contains("::ffff:192.0.2.9".parse().unwrap()));
        let one: Network = "10.1.2.3".parse().unwrap();
        assert!(one.contains("10.1.2.3".parse().unwrap()));
        assert!(!one.contains("10.1.2.4".parse().unwrap()));
        let v6: Network = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Network>().is_err());
        assert!("nope".parse::<Network>().is_err());
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.1".parse().unwrap()));
    }
}
