//! Pochta's one DNS resolver, shared by the whole server: SPF, DKIM and DMARC verification
//! of inbound mail (through mail-auth), MX/A/AAAA routing of the outbound queue, and later
//! users (TXT, SRV).
//!
//! Implementation notes:
//! - Built on the hickory resolver that mail-auth (=0.13.3) re-exports, so the tree has one
//!   hickory. One [`Dns`] is made per server and shared (`Arc`) by every session and the
//!   queue worker, so everything below is shared across sessions.
//! - Two cache layers, both bounded, both TTL-respecting:
//!   - hickory's response cache holds raw answers, positive and negative: a negative answer
//!     (NXDOMAIN or NODATA) lives for the SOA minimum of the zone's authority record
//!     (RFC 2308 §5), between [`NEGATIVE_TTL_MIN`] (also used for an answer without SOA)
//!     and [`NEGATIVE_TTL_MAX`].
//!     Positive answers are capped at [`POSITIVE_TTL_MAX`]. At most `cache_entries`
//!     responses.
//!   - [`cache::Cache`] holds parsed answers (SPF/DKIM/DMARC records, MX, A, AAAA, PTR) and is
//!     mail-auth's `ResolverCache`, bounded by entries and by bytes (`cache_bytes`).
//! - In-flight deduplication: hickory's name-server pool keeps a table of active requests
//!   keyed by the query, so sessions asking the same name at the same time share one query
//!   on the wire (see `NameServerPool::send` in hickory-resolver 0.26).
//! - Each query has a timeout (`[dns] timeout`, default the system's, else 5 s) and a
//!   bounded number of attempts (`attempts`, default 2); every lookup made through this
//!   crate is also cut at [`Dns::query_bound`] (timeout × attempts), so a resolver that does
//!   not answer costs at most that, then a temporary failure — never an unbounded stall.
//! - Failure memory: [`Dns::probe_txt`] looks a TXT name up ahead of mail-auth and, when
//!   the lookup fails temporarily, stores the failure in the TXT cache for [`FAILURE_TTL`],
//!   so the checks of the next messages from the same domain answer `temperror` at once
//!   instead of each waiting for the timeout again (RFC 2308 §7.1–7.2 allow this for up to
//!   five minutes). hickory itself does not cache timeouts.
//! - Transport: UDP to each configured server, TCP to the same server when an answer comes
//!   back truncated (RFC 7766 §5).
//! - Fixture mode ([`Dns::fixture`]) is for tests: answers come only from records added with
//!   `add_txt`/`add_a`/`add_mx`, every other name is NXDOMAIN, and the resolver behind has no
//!   name servers at all — a fixture can never reach real DNS.

#![forbid(unsafe_code)]

pub mod cache;
#[cfg(feature = "testing")]
pub mod testing;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dmarc::Dmarc;
use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::hickory_resolver::proto::rr::RData;
use mail_auth::spf::Spf;
use mail_auth::{DnsError, Error, MX, MessageAuthenticator, Parameters, RecordSet, Txt};

pub use cache::{Bounds, Cache};
pub use mail_auth::hickory_resolver;

/// Shortest a negative answer is cached: also the lifetime of one without an SOA record.
/// RFC 2308 §5 advises against caching those because of loops between servers, which a
/// stub resolver at the end of the chain cannot form; some resolvers answer NXDOMAIN
/// without SOA for everything, and each message would otherwise ask again.
pub const NEGATIVE_TTL_MIN: Duration = Duration::from_secs(5);
/// Longest a negative answer is cached, whatever the zone's SOA says.
pub const NEGATIVE_TTL_MAX: Duration = Duration::from_secs(3600);
/// Longest a positive answer is cached, whatever its TTL says.
pub const POSITIVE_TTL_MAX: Duration = Duration::from_secs(86_400);
/// How long a TXT lookup that failed temporarily (timeout, SERVFAIL) is remembered as
/// failed (RFC 2308 §7: at most five minutes).
pub const FAILURE_TTL: Duration = Duration::from_secs(30);

/// `[dns]` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Resolvers to ask (UDP, TCP on truncation); empty: the system's (`/etc/resolv.conf`).
    pub servers: Vec<SocketAddr>,
    /// Timeout of one query; `None`: the system's (`options timeout:`), else 5 s.
    pub timeout: Option<Duration>,
    /// Attempts per query; `None`: the system's (`options attempts:`), else 2.
    pub attempts: Option<usize>,
    /// Answers each cache holds at most.
    pub cache_entries: u64,
    /// Bytes the parsed-answer caches hold at most (by estimate), together.
    pub cache_bytes: u64,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            servers: Vec::new(),
            timeout: None,
            attempts: None,
            cache_entries: 10_000,
            cache_bytes: 16 << 20,
        }
    }
}

/// A failed lookup, classified the way its users need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// The name exists but has no records of the type.
    NoRecords,
    /// The name does not exist.
    NxDomain,
    /// Anything else (timeout, SERVFAIL, no resolver): try again later.
    Temporary(String),
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::NoRecords => f.write_str("no records"),
            LookupError::NxDomain => f.write_str("no such domain"),
            LookupError::Temporary(e) => write!(f, "temporary DNS failure: {e}"),
        }
    }
}

impl std::error::Error for LookupError {}

impl From<Error> for LookupError {
    fn from(e: Error) -> Self {
        match e {
            Error::Dns(DnsError::RecordNotFound(ResponseCode::NXDomain)) => LookupError::NxDomain,
            Error::Dns(DnsError::RecordNotFound(_)) => LookupError::NoRecords,
            other => LookupError::Temporary(other.to_string()),
        }
    }
}

/// One SRV record (RFC 2782).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// Without the trailing dot; `""` for `.` ("service not available").
    pub target: String,
}

/// The parsed-answer caches, one per kind.
pub struct Caches {
    pub txt: Cache<Box<str>, Txt>,
    pub mx: Cache<Box<str>, RecordSet<MX>>,
    pub ipv4: Cache<Box<str>, RecordSet<Ipv4Addr>>,
    pub ipv6: Cache<Box<str>, RecordSet<Ipv6Addr>>,
    pub ptr: Cache<IpAddr, RecordSet<Box<str>>>,
}

/// mail-auth verification parameters with this resolver's caches attached.
pub type Params<'x, P> = Parameters<
    'x,
    P,
    Cache<Box<str>, Txt>,
    Cache<Box<str>, RecordSet<MX>>,
    Cache<Box<str>, RecordSet<Ipv4Addr>>,
    Cache<Box<str>, RecordSet<Ipv6Addr>>,
    Cache<IpAddr, RecordSet<Box<str>>>,
>;

/// The server's resolver (see the module notes).
pub struct Dns {
    /// `None` when no resolver could be configured: every lookup is a temporary failure.
    resolver: Option<MessageAuthenticator>,
    caches: Caches,
    bound: Duration,
}

impl Dns {
    /// A resolver as `config` says.
    pub fn new(config: &DnsConfig) -> Dns {
        let (resolver_config, mut opts) = if config.servers.is_empty() {
            match mail_auth::hickory_resolver::system_conf::read_system_conf() {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the system's DNS configuration; DNS lookups will fail until [dns] servers is set");
                    (
                        ResolverConfig::from_name_servers(vec![]),
                        ResolverOpts::default(),
                    )
                }
            }
        } else {
            let servers = config
                .servers
                .iter()
                .map(|addr| {
                    let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                    for c in &mut ns.connections {
                        c.port = addr.port();
                    }
                    ns
                })
                .collect();
            (
                ResolverConfig::from_name_servers(servers),
                ResolverOpts::default(),
            )
        };
        if let Some(t) = config.timeout {
            opts.timeout = t;
        }
        if let Some(a) = config.attempts {
            opts.attempts = a.max(1);
        }
        opts.attempts = opts.attempts.max(1);
        opts.cache_size = config.cache_entries.max(1);
        opts.negative_min_ttl = Some(NEGATIVE_TTL_MIN);
        opts.negative_max_ttl = Some(NEGATIVE_TTL_MAX);
        opts.positive_max_ttl = Some(POSITIVE_TTL_MAX);
        let bound = opts.timeout * u32::try_from(opts.attempts).unwrap_or(u32::MAX);
        let empty = resolver_config.name_servers.is_empty();
        let resolver = match MessageAuthenticator::new(resolver_config, opts) {
            Ok(r) if !empty => Some(r),
            Ok(_) => None,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the DNS resolver; DNS lookups will fail");
                None
            }
        };
        let bounds = Bounds {
            entries: config.cache_entries.max(1),
            // Split between the five kinds; TXT (SPF, DKIM keys, DMARC) gets half.
            bytes: config.cache_bytes / 2,
        };
        let small = Bounds {
            entries: bounds.entries,
            bytes: config.cache_bytes / 8,
        };
        Dns {
            resolver,
            caches: Caches {
                txt: Cache::new(bounds),
                mx: Cache::new(small),
                ipv4: Cache::new(small),
                ipv6: Cache::new(small),
                ptr: Cache::new(small),
            },
            bound,
        }
    }

    /// The system's resolver with default settings.
    pub fn system() -> Dns {
        Dns::new(&DnsConfig::default())
    }

    /// A fixture for tests (see the module notes).
    pub fn fixture() -> Dns {
        let nx = Txt::Error(Error::Dns(DnsError::RecordNotFound(ResponseCode::NXDomain)));
        let resolver = MessageAuthenticator::new(
            ResolverConfig::from_name_servers(vec![]),
            ResolverOpts::default(),
        )
        .ok();
        Dns {
            resolver,
            caches: Caches {
                txt: Cache::fixture(nx),
                mx: Cache::fixture(cache::empty_set()),
                ipv4: Cache::fixture(cache::empty_set()),
                ipv6: Cache::fixture(cache::empty_set()),
                ptr: Cache::fixture(cache::empty_set()),
            },
            bound: Duration::from_secs(1),
        }
    }

    /// Whether this is a test fixture.
    pub fn is_fixture(&self) -> bool {
        self.caches.txt.is_fixture()
    }

    /// The longest one lookup through this resolver may take (timeout × attempts).
    pub fn query_bound(&self) -> Duration {
        self.bound
    }

    /// The parsed-answer caches.
    pub fn caches(&self) -> &Caches {
        &self.caches
    }

    /// The mail-auth authenticator over the shared hickory resolver; `None` when no resolver
    /// is configured.
    pub fn authenticator(&self) -> Option<&MessageAuthenticator> {
        self.resolver.as_ref()
    }

    /// mail-auth parameters for `p` with the shared caches.
    pub fn params<P>(&self, p: P) -> Params<'_, P> {
        Parameters::new(p)
            .with_txt_cache(&self.caches.txt)
            .with_mx_cache(&self.caches.mx)
            .with_ipv4_cache(&self.caches.ipv4)
            .with_ipv6_cache(&self.caches.ipv6)
            .with_ptr_cache(&self.caches.ptr)
    }

    /// Adds a TXT record to a fixture. The kind is told by the name: `_dmarc.` → DMARC,
    /// `._domainkey.` → DKIM key, otherwise SPF. A record that does not parse is stored as
    /// the parse error, as a real lookup would report it.
    pub fn add_txt(&self, name: &str, record: &str) {
        let name = fqdn(name);
        let bytes = record.as_bytes();
        let txt: Txt = if name.starts_with("_dmarc.") {
            Dmarc::parse(bytes).into()
        } else if name.contains("._domainkey.") {
            DomainKey::parse(bytes).into()
        } else {
            Spf::parse(bytes).into()
        };
        self.caches.txt.put(name.into_boxed_str(), txt);
    }

    /// Adds A records to a fixture.
    pub fn add_a(&self, name: &str, ips: Vec<Ipv4Addr>) {
        self.caches.ipv4.put(fqdn(name).into_boxed_str(), set(ips));
    }

    /// Adds MX records (preference, exchange) to a fixture.
    pub fn add_mx(&self, name: &str, mx: Vec<(u16, &str)>) {
        let records = mx
            .into_iter()
            .map(|(preference, x)| MX {
                exchanges: vec![fqdn(x).into_boxed_str()].into_boxed_slice(),
                preference,
            })
            .collect();
        self.caches
            .mx
            .put(fqdn(name).into_boxed_str(), set(records));
    }

    fn authenticator_or_fail(&self) -> Result<&MessageAuthenticator, LookupError> {
        self.resolver
            .as_ref()
            .ok_or_else(|| LookupError::Temporary("no DNS resolver configured".into()))
    }

    async fn bounded<T>(
        &self,
        what: &str,
        f: impl Future<Output = Result<T, LookupError>>,
    ) -> Result<T, LookupError> {
        match tokio::time::timeout(self.bound, f).await {
            Ok(r) => r,
            Err(_) => Err(LookupError::Temporary(format!(
                "{what}: no answer within {:?}",
                self.bound
            ))),
        }
    }

    /// MX records of `domain` as (preference, exchange without the trailing dot; `""` for
    /// the root, a null MX).
    pub async fn mx(&self, domain: &str) -> Result<Vec<(u16, String)>, LookupError> {
        let set = if self.is_fixture() {
            self.caches
                .mx
                .fixture_entry(fqdn(domain).as_str())
                .ok_or(LookupError::NxDomain)?
        } else {
            let auth = self.authenticator_or_fail()?;
            self.bounded(domain, async {
                Ok(auth.mx_lookup(domain, Some(&self.caches.mx)).await?)
            })
            .await?
        };
        Ok(set
            .rrset
            .iter()
            .flat_map(|mx| {
                mx.exchanges
                    .iter()
                    .map(move |x| (mx.preference, x.trim_end_matches('.').to_owned()))
            })
            .collect())
    }

    /// A and AAAA records of `host` (IPv4 first); an error only when both fail.
    pub async fn ips(&self, host: &str) -> Result<Vec<IpAddr>, LookupError> {
        let (v4, v6) = if self.is_fixture() {
            let v4 = self.caches.ipv4.fixture_entry(fqdn(host).as_str());
            let v6 = self.caches.ipv6.fixture_entry(fqdn(host).as_str());
            if v4.is_none() && v6.is_none() {
                return Err(LookupError::NxDomain);
            }
            (
                Ok(v4.unwrap_or_else(cache::empty_set)),
                Ok(v6.unwrap_or_else(cache::empty_set)),
            )
        } else {
            let auth = self.authenticator_or_fail()?;
            tokio::join!(
                self.bounded(host, async {
                    Ok(auth.ipv4_lookup(host, Some(&self.caches.ipv4)).await?)
                }),
                self.bounded(host, async {
                    Ok(auth.ipv6_lookup(host, Some(&self.caches.ipv6)).await?)
                }),
            )
        };
        let mut out: Vec<IpAddr> = Vec::new();
        if let Ok(s) = &v4 {
            out.extend(s.rrset.iter().copied().map(IpAddr::from));
        }
        if let Ok(s) = &v6 {
            out.extend(s.rrset.iter().copied().map(IpAddr::from));
        }
        if !out.is_empty() {
            return Ok(out);
        }
        match (v4, v6) {
            (Err(LookupError::Temporary(e)), _) | (_, Err(LookupError::Temporary(e))) => {
                Err(LookupError::Temporary(e))
            }
            (Err(LookupError::NxDomain), _) | (_, Err(LookupError::NxDomain)) => {
                Err(LookupError::NxDomain)
            }
            _ => Err(LookupError::NoRecords),
        }
    }

    /// TXT records of `name`, each with its strings concatenated (RFC 7208 §3.3).
    pub async fn txt(&self, name: &str) -> Result<Vec<Vec<u8>>, LookupError> {
        if self.is_fixture() {
            return Err(LookupError::NxDomain);
        }
        let auth = self.authenticator_or_fail()?;
        let name = fqdn(name);
        let lookup = self
            .bounded(&name, async {
                auth.0
                    .txt_lookup(name.as_str())
                    .await
                    .map_err(|e| LookupError::from(Error::from(e)))
            })
            .await?;
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(t.txt_data.iter().flat_map(|s| s.iter().copied()).collect()),
                _ => None,
            })
            .collect())
    }

    /// Looks up `name`'s TXT records so that the answer is cached before mail-auth asks
    /// for it; a temporary failure is remembered for [`FAILURE_TTL`] (see the module notes).
    pub async fn probe_txt(&self, name: &str) {
        if self.is_fixture() || self.resolver.is_none() {
            return;
        }
        let key = fqdn(name);
        if mail_auth::ResolverCache::get(&self.caches.txt, key.as_str()).is_some() {
            return;
        }
        if let Err(LookupError::Temporary(e)) = self.txt(&key).await {
            tracing::debug!(name = %key, error = %e, "TXT lookup failed; remembered");
            mail_auth::ResolverCache::insert(
                &self.caches.txt,
                key.into_boxed_str(),
                Txt::Error(Error::Dns(DnsError::Resolver(e))),
                std::time::Instant::now() + FAILURE_TTL,
            );
        }
    }

    /// SRV records of `name` (e.g. `_imaps._tcp.example.org`, RFC 6186), in answer order.
    pub async fn srv(&self, name: &str) -> Result<Vec<Srv>, LookupError> {
        if self.is_fixture() {
            return Err(LookupError::NxDomain);
        }
        let auth = self.authenticator_or_fail()?;
        let name = fqdn(name);
        let lookup = self
            .bounded(&name, async {
                auth.0
                    .srv_lookup(name.as_str())
                    .await
                    .map_err(|e| LookupError::from(Error::from(e)))
            })
            .await?;
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(s) => Some(Srv {
                    priority: s.priority,
                    weight: s.weight,
                    port: s.port,
                    target: s.target.to_ascii().trim_end_matches('.').to_owned(),
                }),
                _ => None,
            })
            .collect())
    }
}

fn set<T>(v: Vec<T>) -> RecordSet<T> {
    RecordSet {
        rrset: Arc::from(v.into_boxed_slice()),
        dnssec_status: mail_auth::DnssecStatus::Indeterminate,
    }
}

/// `name` lower-cased with a trailing dot.
pub fn fqdn(name: &str) -> String {
    let mut n = name.to_ascii_lowercase();
    if !n.ends_with('.') {
        n.push('.');
    }
    n
}
