//! SPF (RFC 7208), DKIM (RFC 6376) and DMARC (RFC 7489) verification of inbound mail with
//! mail-auth, recorded in an `Authentication-Results:` header (RFC 8601).
//!
//! Implementation notes:
//! - DNS goes through the server's one resolver (`pochta_dns::Dns`, shared with the outbound
//!   queue): its caches, in-flight deduplication and per-query bound apply to every session.
//!   In tests it is an **authoritative fixture** ([`Verifier::fixture`]): records put there
//!   are answered from memory and every other name is NXDOMAIN, and the resolver behind it
//!   has no name servers at all — tests can never reach real DNS.
//! - One message's checks are bounded by [`Verifier::deadline`]: a resolver that does not
//!   answer costs at most that, and the header then says `temperror` for all three.
//! - DKIM is verified on the message as received (before we add trace headers); SPF checks
//!   the MAIL FROM identity, or the HELO identity for the null sender (RFC 7208 §2.4).
//! - DMARC `p=reject` failures are reported to the session, which refuses the message with
//!   `550 5.7.1` only when `[smtp] dmarc_reject = true` (RFC 7489 §6.7 leaves the choice to
//!   the receiver); otherwise the result is only recorded.
//! - A verification problem never loses mail: DNS errors become `temperror` results in the
//!   header, not SMTP errors.

use std::net::IpAddr;
use std::sync::Arc;

use mail_auth::common::headers::HeaderWriter;
use mail_auth::dmarc::Policy;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{AuthenticatedMessage, AuthenticationResults, DmarcResult};
use pochta_dns::Dns;

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
    /// `None`: checks are off.
    dns: Option<Arc<Dns>>,
}

impl Verifier {
    /// Verification through the server's resolver (shared with the outbound queue).
    pub fn new(hostname: &str, dns: Arc<Dns>) -> Self {
        if dns.authenticator().is_none() {
            tracing::warn!("no DNS resolver; SPF/DKIM/DMARC checks disabled");
        }
        Verifier {
            hostname: hostname.to_string(),
            dns: Some(dns),
        }
    }

    /// No checks at all (no `Authentication-Results:` header is added).
    pub fn disabled(hostname: &str) -> Self {
        Verifier {
            hostname: hostname.to_string(),
            dns: None,
        }
    }

    /// A verifier answering only from records added with [`Verifier::add_txt`] /
    /// [`Verifier::add_a`]; everything else is NXDOMAIN. For tests: no real DNS is reached.
    pub fn fixture(hostname: &str) -> Self {
        Verifier::new(hostname, Arc::new(Dns::fixture()))
    }

    /// Adds a TXT record to the fixture (see [`Dns::add_txt`]).
    pub fn add_txt(&self, name: &str, record: &str) {
        if let Some(d) = &self.dns {
            d.add_txt(name, record);
        }
    }

    /// Adds an A record to the fixture (for SPF `a` / `mx` mechanisms).
    pub fn add_a(&self, name: &str, ips: Vec<std::net::Ipv4Addr>) {
        if let Some(d) = &self.dns {
            d.add_a(name, ips);
        }
    }

    /// Whether checks run at all.
    pub fn enabled(&self) -> bool {
        self.dns
            .as_ref()
            .is_some_and(|d| d.authenticator().is_some())
    }

    /// Checks SPF, DKIM and DMARC of `message` as received from `client`, within
    /// [`Verifier::deadline`]; past it every result is `temperror`.
    pub async fn check(&self, client: Client<'_>, message: &[u8]) -> Option<AuthOutcome> {
        let dns = self.dns.as_ref()?;
        let deadline = self.deadline()?;
        match tokio::time::timeout(deadline, self.check_unbounded(dns, client, message)).await {
            Ok(outcome) => outcome,
            Err(_) => {
                tracing::info!(
                    ip = %client.ip,
                    secs = deadline.as_secs_f32(),
                    "SPF/DKIM/DMARC checks timed out; recorded as temperror"
                );
                Some(AuthOutcome {
                    header: format!(
                        "Authentication-Results: {};\r\n\tspf=temperror (DNS did not answer in time);\r\n\tdkim=temperror;\r\n\tdmarc=temperror\r\n",
                        self.hostname
                    ),
                    dmarc_reject: None,
                })
            }
        }
    }

    /// The longest one message's checks may take: two lookups' worth of
    /// [`Dns::query_bound`] (a dead resolver costs one, then everything is `temperror`).
    pub fn deadline(&self) -> Option<std::time::Duration> {
        self.dns.as_ref().map(|d| d.query_bound() * 2)
    }

    async fn check_unbounded(
        &self,
        dns: &Dns,
        client: Client<'_>,
        message: &[u8],
    ) -> Option<AuthOutcome> {
        let resolver = dns.authenticator()?;
        macro_rules! params {
            ($p:expr) => {
                dns.params($p)
            };
        }
        let host = self.hostname.as_str();
        let parsed = AuthenticatedMessage::parse(message);
        // The SPF and DMARC records are asked for at once, ahead of mail-auth; a resolver
        // that fails is then remembered and the next messages do not wait for it again.
        let mail_from_domain = client
            .mail_from
            .rsplit_once('@')
            .map_or(client.helo, |(_, d)| d);
        let dmarc_name = parsed
            .as_ref()
            .and_then(|m| m.from.first())
            .and_then(|f| f.rsplit_once('@'))
            .map(|(_, d)| format!("_dmarc.{d}"));
        tokio::join!(dns.probe_txt(mail_from_domain), async {
            if let Some(n) = &dmarc_name {
                dns.probe_txt(n).await;
            }
        });
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
        let Some(msg) = parsed else {
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
