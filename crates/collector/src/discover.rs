//! Finding a source from an address alone: `pochta collect add LOCAL old@provider.example`.
//!
//! Implementation notes:
//! - **Order** (the first step that gives a usable server wins; every step's outcome is kept
//!   in a trail the CLI prints, so the user sees what was found and why):
//!   1. RFC 6186 SRV records, `_imaps._tcp`, `_imap._tcp`, `_pop3s._tcp`, `_pop3._tcp` of the
//!      address's domain, in that order (IMAP before POP3, implicit TLS before STARTTLS,
//!      RFC 8314 §5.1); within one service the lowest priority, then the highest weight. A
//!      target of `.` means "not offered" (RFC 6186 §3).
//!   2. Mozilla-style autoconfig: `https://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=…`,
//!      then `https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml`; the first
//!      `incomingServer` of type `imap`, else `pop3`. HTTPS only (the answer says where the
//!      password goes), at most [`MAX_AUTOCONFIG`] bytes, [`HTTP_TIMEOUT`] per request.
//!   3. MX records: an MX host of a large provider (`*.google.com`, `*.yandex.net`, …) means
//!      the domain is hosted there, so that provider's IMAP server.
//!   4. The built-in [`PROVIDERS`] table, by the address's domain.
//! - **DNS** goes through the server's resolver (`pochta_dns`, `[dns] servers`), also for the
//!   host names of the autoconfig URLs (reqwest is given it as its resolver).
//! - **HTTPS** is reqwest over rustls with Pochta's crypto provider and the system trust
//!   store, plus the certificates of `[collector] https_ca_file` if set;
//!   `[collector] https_port` replaces port 443 in autoconfig URLs. Both exist for tests and
//!   private networks (a local autoconfig server with its own CA).
//! - The user name is what autoconfig says (`%EMAILADDRESS%`, `%EMAILLOCALPART%`), else the
//!   full address (RFC 6186 §4 and every provider in the table).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pochta_dns::Dns;

use crate::Error;
use crate::source::SourceUrl;

/// Longest one autoconfig request may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest autoconfig document read.
pub const MAX_AUTOCONFIG: usize = 64 << 10;

/// How the collector makes HTTPS requests (autoconfig, OAuth): `[collector] https_port` and
/// `https_ca_file`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebOptions {
    /// Port used instead of 443 for discovered HTTPS URLs (tests, private networks).
    pub https_port: Option<u16>,
    /// PEM certificates trusted besides the system's.
    pub ca_file: Option<PathBuf>,
}

/// A large provider: where its mail is, and how to recognise it.
#[derive(Debug, Clone, Copy)]
pub struct Provider {
    pub name: &'static str,
    /// Address domains it hosts.
    pub domains: &'static [&'static str],
    /// MX host suffixes (`google.com` matches `aspmx.l.google.com`).
    pub mx: &'static [&'static str],
    /// Its IMAP server (implicit TLS, port 993).
    pub imap: &'static str,
    /// What the user should know to log in.
    pub note: &'static str,
}

/// The built-in table (step 4, and the MX step's targets).
pub const PROVIDERS: &[Provider] = &[
    Provider {
        name: "Gmail",
        domains: &["gmail.com", "googlemail.com"],
        mx: &["google.com", "googlemail.com"],
        imap: "imap.gmail.com",
        note: "Google refuses account passwords over IMAP: use an app password or --oauth",
    },
    Provider {
        name: "Yandex",
        domains: &[
            "yandex.ru",
            "yandex.com",
            "ya.ru",
            "yandex.by",
            "yandex.kz",
            "yandex.ua",
            "narod.ru",
        ],
        mx: &["yandex.net", "yandex.ru"],
        imap: "imap.yandex.ru",
        note: "Yandex needs IMAP access enabled in its mail settings and an app password",
    },
    Provider {
        name: "Mail.ru",
        domains: &[
            "mail.ru",
            "inbox.ru",
            "list.ru",
            "bk.ru",
            "internet.ru",
            "mail.ua",
        ],
        mx: &["mail.ru"],
        imap: "imap.mail.ru",
        note: "Mail.ru needs an app password (\"password for external applications\")",
    },
    Provider {
        name: "Outlook / Office 365",
        domains: &[
            "outlook.com",
            "hotmail.com",
            "live.com",
            "msn.com",
            "outlook.ru",
        ],
        mx: &["outlook.com", "hotmail.com"],
        imap: "outlook.office365.com",
        note: "Microsoft refuses passwords over IMAP: use --oauth",
    },
    Provider {
        name: "Yahoo",
        domains: &[
            "yahoo.com",
            "ymail.com",
            "rocketmail.com",
            "yahoo.co.uk",
            "yahoo.de",
        ],
        mx: &["yahoodns.net"],
        imap: "imap.mail.yahoo.com",
        note: "Yahoo needs an app password",
    },
    Provider {
        name: "iCloud",
        domains: &["icloud.com", "me.com", "mac.com"],
        mx: &["icloud.com"],
        imap: "imap.mail.me.com",
        note: "iCloud needs an app-specific password",
    },
    Provider {
        name: "GMX",
        domains: &["gmx.net", "gmx.de", "gmx.at", "gmx.ch", "gmx.com"],
        mx: &["gmx.net", "gmx.com"],
        imap: "imap.gmx.net",
        note: "GMX needs IMAP enabled in its settings",
    },
    Provider {
        name: "Rambler",
        domains: &[
            "rambler.ru",
            "lenta.ru",
            "autorambler.ru",
            "myrambler.ru",
            "ro.ru",
        ],
        mx: &["rambler.ru"],
        imap: "imap.rambler.ru",
        note: "Rambler needs mail-program access enabled in its settings",
    },
    Provider {
        name: "Zoho",
        domains: &["zoho.com", "zohomail.com", "zoho.eu"],
        mx: &["zoho.com", "zoho.eu", "zohomail.com"],
        imap: "imap.zoho.com",
        note: "Zoho needs IMAP access enabled in its settings",
    },
];

/// What discovery found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub url: SourceUrl,
    pub user: String,
    /// Which step found it and from what (`SRV record _imaps._tcp.example.org`).
    pub why: String,
    /// Advice for the login (a provider's app-password rule).
    pub note: Option<&'static str>,
}

/// The provider hosting `domain` by the table.
pub fn provider_by_domain(domain: &str) -> Option<&'static Provider> {
    let d = domain.to_ascii_lowercase();
    PROVIDERS.iter().find(|p| p.domains.contains(&d.as_str()))
}

/// The provider running MX host `host`, by suffix.
pub fn provider_by_mx(host: &str) -> Option<&'static Provider> {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    PROVIDERS.iter().find(|p| {
        p.mx.iter()
            .any(|s| h == *s || h.ends_with(&format!(".{s}")))
    })
}

fn split_address(address: &str) -> Result<(&str, &str), Error> {
    match address.rsplit_once('@') {
        Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains(['/', ':', ' ']) => {
            Ok((l, d))
        }
        _ => Err(Error::Config(format!(
            "{address:?} is neither a source URL nor an e-mail address"
        ))),
    }
}

/// Finds the source of `address` (see the module notes), writing each step's outcome to
/// `trail`.
pub async fn discover(
    address: &str,
    dns: Arc<Dns>,
    web: &WebOptions,
    trail: &mut Vec<String>,
) -> Result<Found, Error> {
    let (local, domain) = split_address(address)?;
    let domain = domain.to_ascii_lowercase();
    if let Some(f) = by_srv(&domain, address, &dns, trail).await {
        return Ok(f);
    }
    match http_client(Arc::clone(&dns), web) {
        Ok(client) => {
            if let Some(f) = by_autoconfig(&client, &domain, local, address, web, trail).await {
                return Ok(f);
            }
        }
        Err(e) => trail.push(format!("autoconfig: skipped ({e})")),
    }
    if let Some(f) = by_mx(&domain, address, &dns, trail).await {
        return Ok(f);
    }
    if let Some(p) = provider_by_domain(&domain) {
        trail.push(format!("built-in table: {domain} is {}", p.name));
        return Ok(Found {
            url: SourceUrl::parse(&format!("imaps://{}", p.imap))?,
            user: address.to_owned(),
            why: format!("built-in provider table: {domain} is {}", p.name),
            note: Some(p.note),
        });
    }
    trail.push(format!("built-in table: {domain} is not there"));
    Err(Error::Config(format!(
        "no mail server found for {address} (no SRV records, no autoconfig, no known MX); \
         give its URL instead: imaps://HOST or pop3s://HOST"
    )))
}

async fn by_srv(domain: &str, address: &str, dns: &Dns, trail: &mut Vec<String>) -> Option<Found> {
    for (service, scheme) in [
        ("_imaps._tcp", "imaps"),
        ("_imap._tcp", "imap"),
        ("_pop3s._tcp", "pop3s"),
        ("_pop3._tcp", "pop3"),
    ] {
        let name = format!("{service}.{domain}");
        let mut records = match dns.srv(&name).await {
            Ok(r) => r,
            Err(e) => {
                trail.push(format!("SRV {name}: {e}"));
                continue;
            }
        };
        // RFC 2782: lowest priority first, then the heaviest.
        records.sort_by_key(|r| (r.priority, std::cmp::Reverse(r.weight)));
        let Some(r) = records
            .into_iter()
            .find(|r| !r.target.is_empty() && r.port != 0)
        else {
            trail.push(format!("SRV {name}: not offered"));
            continue;
        };
        let url = match SourceUrl::parse(&format!("{scheme}://{}:{}", r.target, r.port)) {
            Ok(u) => u,
            Err(e) => {
                trail.push(format!("SRV {name}: unusable ({e})"));
                continue;
            }
        };
        trail.push(format!("SRV {name}: {url}"));
        return Some(Found {
            url,
            user: address.to_owned(),
            why: format!("RFC 6186 SRV record {name}"),
            note: None,
        });
    }
    None
}

async fn by_mx(domain: &str, address: &str, dns: &Dns, trail: &mut Vec<String>) -> Option<Found> {
    let mut mx = match dns.mx(domain).await {
        Ok(m) => m,
        Err(e) => {
            trail.push(format!("MX {domain}: {e}"));
            return None;
        }
    };
    mx.sort();
    for (_, host) in &mx {
        if let Some(p) = provider_by_mx(host) {
            trail.push(format!("MX {domain}: {host} is {}'s", p.name));
            let url = SourceUrl::parse(&format!("imaps://{}", p.imap)).ok()?;
            return Some(Found {
                url,
                user: address.to_owned(),
                why: format!(
                    "MX record: {domain}'s mail goes to {host}, run by {}",
                    p.name
                ),
                note: Some(p.note),
            });
        }
    }
    let hosts: Vec<_> = mx.iter().map(|(_, h)| h.as_str()).collect();
    trail.push(format!(
        "MX {domain}: {} (no known provider)",
        if hosts.is_empty() {
            "none".to_owned()
        } else {
            hosts.join(", ")
        }
    ));
    None
}

/// reqwest's resolver: the server's [`Dns`].
struct ViaDns(Arc<Dns>);

impl reqwest::dns::Resolve for ViaDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let dns = Arc::clone(&self.0);
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let ips =
                dns.ips(&host)
                    .await
                    .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> {
                        Box::new(std::io::Error::other(format!("{host}: {e}")))
                    })?;
            let addrs: reqwest::dns::Addrs =
                Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The collector's HTTPS client (see the module notes).
pub fn http_client(dns: Arc<Dns>, web: &WebOptions) -> Result<reqwest::Client, Error> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = pochta_net::connect::system_roots();
    if let Some(path) = &web.ca_file {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        for c in certs {
            let c = c.map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
            roots
                .add(c)
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(pochta_net::client::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .dns_resolver(Arc::new(ViaDns(dns)))
        .https_only(true)
        .timeout(HTTP_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("pochta/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Config(format!("HTTPS client: {e}")))
}

/// `https://host[:https_port]path`.
pub fn https_url(host: &str, path: &str, web: &WebOptions) -> String {
    match web.https_port {
        Some(p) => format!("https://{host}:{p}{path}"),
        None => format!("https://{host}{path}"),
    }
}

/// GETs `url`, at most `limit` bytes of a 200 answer.
pub async fn get_limited(
    client: &reqwest::Client,
    url: &str,
    limit: usize,
) -> Result<Vec<u8>, String> {
    let mut resp = client.get(url).send().await.map_err(error_chain)?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(error_chain)? {
        if body.len() + chunk.len() > limit {
            return Err(format!("answer larger than {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// An error with its causes (reqwest's own message is only the outermost).
pub fn error_chain(e: impl std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

async fn by_autoconfig(
    client: &reqwest::Client,
    domain: &str,
    local: &str,
    address: &str,
    web: &WebOptions,
    trail: &mut Vec<String>,
) -> Option<Found> {
    let encoded: String = address
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect();
    for url in [
        https_url(
            &format!("autoconfig.{domain}"),
            &format!("/mail/config-v1.1.xml?emailaddress={encoded}"),
            web,
        ),
        https_url(domain, "/.well-known/autoconfig/mail/config-v1.1.xml", web),
    ] {
        let body = match get_limited(client, &url, MAX_AUTOCONFIG).await {
            Ok(b) => b,
            Err(e) => {
                trail.push(format!("autoconfig {url}: {e}"));
                continue;
            }
        };
        match parse_autoconfig(&body, local, address) {
            Ok(Some((url_text, user))) => match SourceUrl::parse(&url_text) {
                Ok(source) => {
                    trail.push(format!("autoconfig {url}: {source} as {user}"));
                    return Some(Found {
                        url: source,
                        user,
                        why: format!("autoconfig {url}"),
                        note: None,
                    });
                }
                Err(e) => trail.push(format!("autoconfig {url}: unusable ({e})")),
            },
            Ok(None) => trail.push(format!("autoconfig {url}: no IMAP or POP3 server in it")),
            Err(e) => trail.push(format!("autoconfig {url}: {e}")),
        }
    }
    None
}

/// The first usable `incomingServer` of an autoconfig document (IMAP before POP3) as a
/// source URL and user name.
pub fn parse_autoconfig(
    xml: &[u8],
    local: &str,
    address: &str,
) -> Result<Option<(String, String)>, String> {
    use quick_xml::events::Event;
    #[derive(Default, Debug)]
    struct Server {
        kind: String,
        host: String,
        port: String,
        socket: String,
        user: String,
    }
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut servers: Vec<Server> = Vec::new();
    let mut current: Option<Server> = None;
    let mut field = String::new();
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Err(e) => return Err(format!("bad XML: {e}")),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                let name = e.local_name().as_ref().to_owned();
                if name == "incomingServer" {
                    let mut s = Server::default();
                    for a in e.attributes().flatten() {
                        if a.key.local_name().as_ref() == "type" {
                            s.kind = a.value.to_ascii_lowercase();
                        }
                    }
                    current = Some(s);
                } else {
                    field = name;
                }
            }
            Ok(Event::Text(t)) => {
                if let Some(s) = current.as_mut() {
                    let text = t.as_ref().trim().to_owned();
                    match field.as_str() {
                        "hostname" => s.host.push_str(&text),
                        "port" => s.port.push_str(&text),
                        "socketType" => s.socket.push_str(&text),
                        "username" => s.user.push_str(&text),
                        _ => {}
                    }
                }
            }
            Ok(Event::End(e)) => {
                if e.local_name().as_ref() == "incomingServer" {
                    servers.extend(current.take());
                }
                field.clear();
            }
            Ok(_) => {}
        }
        buf.clear();
    }
    let pick = servers
        .iter()
        .find(|s| s.kind == "imap")
        .or_else(|| servers.iter().find(|s| s.kind == "pop3"));
    let Some(s) = pick else { return Ok(None) };
    if s.host.is_empty() {
        return Err("incomingServer without hostname".into());
    }
    let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
    let host = s.host.replace("%EMAILDOMAIN%", domain);
    let tls = s.socket.to_ascii_uppercase();
    let scheme = match (s.kind.as_str(), tls.as_str()) {
        ("imap", "SSL" | "TLS") => "imaps",
        ("imap", "STARTTLS") => "imap",
        ("imap", _) => "imap",
        (_, "SSL" | "TLS") => "pop3s",
        _ => "pop3",
    };
    let query = if tls == "STARTTLS" {
        "?tls=required"
    } else {
        ""
    };
    let port = if s.port.is_empty() {
        String::new()
    } else {
        let p: u16 = s
            .port
            .parse()
            .map_err(|_| format!("bad port {:?}", s.port))?;
        format!(":{p}")
    };
    let user = if s.user.is_empty() {
        address.to_owned()
    } else {
        s.user
            .replace("%EMAILADDRESS%", address)
            .replace("%EMAILLOCALPART%", local)
            .replace("%EMAILDOMAIN%", domain)
    };
    Ok(Some((format!("{scheme}://{host}{port}{query}"), user)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn providers_by_domain_and_mx() {
        assert_eq!(
            provider_by_domain("GMail.com").map(|p| p.imap),
            Some("imap.gmail.com")
        );
        assert_eq!(provider_by_domain("ya.ru").map(|p| p.name), Some("Yandex"));
        assert!(provider_by_domain("example.org").is_none());
        assert_eq!(
            provider_by_mx("aspmx.l.google.com.").map(|p| p.name),
            Some("Gmail")
        );
        assert_eq!(
            provider_by_mx("mx.yandex.net").map(|p| p.name),
            Some("Yandex")
        );
        assert_eq!(
            provider_by_mx("example-com.mail.protection.outlook.com").map(|p| p.imap),
            Some("outlook.office365.com")
        );
        // A suffix match is on label boundaries.
        assert!(provider_by_mx("notgoogle.com").is_none());
        for p in PROVIDERS {
            assert!(SourceUrl::parse(&format!("imaps://{}", p.imap)).is_ok());
        }
    }

    #[test]
    fn autoconfig_documents() {
        let xml = br#"<?xml version="1.0"?>
<clientConfig version="1.1"><emailProvider id="example.org">
 <incomingServer type="pop3"><hostname>pop.example.org</hostname><port>995</port>
  <socketType>SSL</socketType><username>%EMAILLOCALPART%</username></incomingServer>
 <incomingServer type="imap"><hostname>imap.%EMAILDOMAIN%</hostname><port>143</port>
  <socketType>STARTTLS</socketType><username>%EMAILADDRESS%</username></incomingServer>
</emailProvider></clientConfig>"#;
        assert_eq!(
            parse_autoconfig(xml, "ivan", "ivan@example.org"),
            Ok(Some((
                "imap://imap.example.org:143?tls=required".into(),
                "ivan@example.org".into()
            )))
        );
        let pop = br#"<clientConfig><emailProvider><incomingServer type="pop3">
<hostname>pop.example.org</hostname><port>995</port><socketType>SSL</socketType>
<username>%EMAILLOCALPART%</username></incomingServer></emailProvider></clientConfig>"#;
        assert_eq!(
            parse_autoconfig(pop, "ivan", "ivan@example.org"),
            Ok(Some(("pop3s://pop.example.org:995".into(), "ivan".into())))
        );
        assert_eq!(parse_autoconfig(b"<clientConfig/>", "a", "a@b"), Ok(None));
        assert!(parse_autoconfig(b"<a><b></a>", "a", "a@b").is_err());
    }
}
