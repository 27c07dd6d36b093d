//! SPF (RFC 7208), DKIM (RFC 6376) and DMARC (RFC 7489) verification of inbound mail with
//! mail-auth, recorded in an `Authentication-Results:` header (RFC 8601).
//!
//! Implementation notes:
//! - DNS goes through mail-auth's hickory resolver, with [`DnsCache`] in front of every
//!   lookup: in production it is a small TTL cache (mail-auth inserts what it resolved); in
//!   tests it is an **authoritative fixture** ([`Verifier::fixture`]): records put there are
//!   answered from memory and every other name is NXDOMAIN, and the resolver behind it has no
//!   name servers at all — tests can never reach real DNS.
//! - DKIM is verified on the message as received (before we add trace headers); SPF checks
//!   the MAIL FROM identity, or the HELO identity for the null sender (RFC 7208 §2.4).
//! - DMARC `p=reject` failures are reported to the session, which refuses the message with
//!   `550 5.7.1` only when `[smtp] dmarc_reject = true` (RFC 7489 §6.7 leaves the choice to
//!   the receiver); otherwise the result is only recorded.
//! - A verification problem never loses mail: DNS errors become `temperror` results in the
//!   header, not SMTP errors.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mail_auth::common::headers::HeaderWriter;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::dmarc::{Dmarc, Policy};
use mail_auth::hickory_resolver::config::{ResolverConfig, ResolverOpts};
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::spf::Spf;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DmarcResult, DnsError, DnssecStatus, Error, MX,
    MessageAuthenticator, Parameters, RecordSet, ResolverCache, Txt,
};

/// Most entries a production cache keeps before it is cleared.
const CACHE_MAX: usize = 10_000;

/// A DNS answer cache that is also the test fixture (see the module notes).
pub struct DnsCache<K, V> {
    entries: Mutex<HashMap<K, (V, Option<Instant>)>>,
    /// In fixture mode, the answer for every name not in `entries`.
    authoritative_miss: Option<V>,
}

impl<K: Hash + Eq, V: Clone> DnsCache<K, V> {
    fn new(authoritative_miss: Option<V>) -> Self {
        DnsCache {
            entries: Mutex::new(HashMap::new()),
            authoritative_miss,
        }
    }

    fn put(&self, key: K, value: V) {
        if let Ok(mut e) = self.entries.lock() {
            e.insert(key, (value, None));
        }
    }
}

impl<K: Hash + Eq, V: Clone> ResolverCache<K, V> for DnsCache<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hit = self.entries.lock().ok().and_then(|e| {
            e.get(name)
                .filter(|(_, until)| until.is_none_or(|u| u > Instant::now()))
                .map(|(v, _)| v.clone())
        });
        hit.or_else(|| self.authoritative_miss.clone())
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries
            .lock()
            .ok()
            .and_then(|mut e| e.remove(name))
            .map(|(v, _)| v)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        if self.authoritative_miss.is_some() {
            return;
        }
        if let Ok(mut e) = self.entries.lock() {
            if e.len() >= CACHE_MAX {
                e.clear();
            }
            e.insert(key, (value, Some(valid_until)));
        }
    }
}

fn empty_set<T>() -> RecordSet<T> {
    RecordSet {
        rrset: Arc::from(Vec::new().into_boxed_slice()),
        dnssec_status: DnssecStatus::Indeterminate,
    }
}

/// The outcome of checking one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOutcome {
    /// The complete `Authentication-Results: ...\r\n` header field.
    pub header: String,
    /// DMARC failed for a domain whose policy is `p=reject`.
    pub dmarc_reject: Option<String>,
}

/// What is known of the client when its message arrives.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub ip: IpAddr,
    pub helo: &'a str,
    /// The MAIL FROM address; empty for the null sender.
    pub mail_from: &'a str,
}

/// SPF/DKIM/DMARC checker shared by all inbound sessions.
pub struct Verifier {
    hostname: String,
    resolver: Option<MessageAuthenticator>,
    txt: DnsCache<Box<str>, Txt>,
    mx: DnsCache<Box<str>, RecordSet<MX>>,
    ipv4: DnsCache<Box<str>, RecordSet<Ipv4Addr>>,
    ipv6: DnsCache<Box<str>, RecordSet<Ipv6Addr>>,
    ptr: DnsCache<IpAddr, RecordSet<Box<str>>>,
}

impl Verifier {
    /// Verification through the system's DNS resolver (`/etc/resolv.conf`). If it cannot be
    /// read, checks are skipped (and logged) rather than guessed at.
    pub fn system(hostname: &str) -> Self {
        let resolver = match MessageAuthenticator::new_system_conf() {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(error = %e, "no DNS resolver; SPF/DKIM/DMARC checks disabled");
                None
            }
        };
        Verifier {
            hostname: hostname.to_string(),
            resolver,
            txt: DnsCache::new(None),
            mx: DnsCache::new(None),
            ipv4: DnsCache::new(None),
            ipv6: DnsCache::new(None),
            ptr: DnsCache::new(None),
        }
    }

    /// No checks at all (no `Authentication-Results:` header is added).
    pub fn disabled(hostname: &str) -> Self {
        let mut v = Verifier::fixture(hostname);
        v.resolver = None;
        v
    }

    /// A verifier answering only from records added with [`Verifier::add_txt`] /
    /// [`Verifier::add_a`]; everything else is NXDOMAIN. For tests: no real DNS is reached.
    pub fn fixture(hostname: &str) -> Self {
        let nx = Txt::Error(Error::Dns(DnsError::RecordNotFound(ResponseCode::NXDomain)));
        let resolver = MessageAuthenticator::new(
            ResolverConfig::from_parts(None, vec![], vec![]),
            ResolverOpts::default(),
        )
        .ok();
        Verifier {
            hostname: hostname.to_string(),
            resolver,
            txt: DnsCache::new(Some(nx)),
            mx: DnsCache::new(Some(empty_set())),
            ipv4: DnsCache::new(Some(empty_set())),
            ipv6: DnsCache::new(Some(empty_set())),
            ptr: DnsCache::new(Some(empty_set())),
        }
    }

    /// Adds a TXT record to the fixture. The kind is told by the name: `_dmarc.` → DMARC,
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
        self.txt.put(name.into_boxed_str(), txt);
    }

    /// Adds an A record to the fixture (for SPF `a` / `mx` mechanisms).
    pub fn add_a(&self, name: &str, ips: Vec<Ipv4Addr>) {
        self.ipv4.put(
            fqdn(name).into_boxed_str(),
            RecordSet {
                rrset: Arc::from(ips.into_boxed_slice()),
                dnssec_status: DnssecStatus::Indeterminate,
            },
        );
    }

    /// Whether checks run at all.
    pub fn enabled(&self) -> bool {
        self.resolver.is_some()
    }

    /// Checks SPF, DKIM and DMARC of `message` as received from `client`.
    pub async fn check(&self, client: Client<'_>, message: &[u8]) -> Option<AuthOutcome> {
        let resolver = self.resolver.as_ref()?;
        // A macro, not a closure: each check takes parameters of a different type.
        macro_rules! params {
            ($p:expr) => {
                Parameters::new($p)
                    .with_txt_cache(&self.txt)
                    .with_mx_cache(&self.mx)
                    .with_ipv4_cache(&self.ipv4)
                    .with_ipv6_cache(&self.ipv6)
                    .with_ptr_cache(&self.ptr)
            };
        }
        let host = self.hostname.as_str();
        let spf = if client.mail_from.is_empty() {
            resolver
                .verify_spf(params!(SpfParameters::verify_ehlo(
                    client.ip,
                    client.helo,
                    host,
                )))
                .await
        } else {
            resolver
                .verify_spf(params!(SpfParameters::verify_mail_from(
                    client.ip,
                    client.helo,
                    host,
                    client.mail_from,
                )))
                .await
        };
        let mut results = AuthenticationResults::new(host);
        let Some(msg) = AuthenticatedMessage::parse(message) else {
            // Not parseable as a message: record SPF only.
            results = if client.mail_from.is_empty() {
                results.with_spf_ehlo_result(&spf, client.ip, client.helo)
            } else {
                results.with_spf_mailfrom_result(&spf, client.ip, client.mail_from, client.helo)
            };
            return Some(AuthOutcome {
                header: results.to_header(),
                dmarc_reject: None,
            });
        };
        let dkim = resolver.verify_dkim(params!(&msg)).await;
        let mail_from_domain = client
            .mail_from
            .rsplit_once('@')
            .map_or(client.helo, |(_, d)| d);
        let dmarc = resolver
            .verify_dmarc(params!(DmarcParameters::new(
                &msg,
                &dkim,
                mail_from_domain,
                &spf,
            )))
            .await;
        let header_from = msg
            .from
            .first()
            .and_then(|f| f.rsplit_once('@'))
            .map_or("", |(_, d)| d);
        results = results.with_dkim_results(&dkim, header_from);
        results = if client.mail_from.is_empty() {
            results.with_spf_ehlo_result(&spf, client.ip, client.helo)
        } else {
            results.with_spf_mailfrom_result(&spf, client.ip, client.mail_from, client.helo)
        };
        if !dmarc.domain().is_empty() {
            results = results.with_dmarc_result(&dmarc);
        }
        let failed =
            dmarc.dmarc_record().is_some() && matches!(dmarc.result(), DmarcResult::Fail(_));
        let dmarc_reject =
            (failed && dmarc.policy() == Policy::Reject).then(|| dmarc.domain().to_string());
        let mut header = results.to_header();
        if dkim.is_empty() {
            // RFC 8601 §2.7.1: say "dkim=none" rather than leave DKIM out.
            let prefix = format!("Authentication-Results: {host}");
            if let Some(rest) = header.strip_prefix(&prefix) {
                header = format!("{prefix};\r\n\tdkim=none (no signatures){rest}");
            }
        }
        Some(AuthOutcome {
            header,
            dmarc_reject,
        })
    }
}

fn fqdn(name: &str) -> String {
    let mut n = name.to_ascii_lowercase();
    if !n.ends_with('.') {
        n.push('.');
    }
    n
}
