//! Documents that let a mail program configure an account by itself, built from the
//! configured listeners and hostname.
//!
//! Invariants:
//! - Thunderbird autoconfig, clientConfig v1.1 (the "Autoconfiguration" spec of
//!   `wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat`): one `emailProvider`
//!   per answer, `incomingServer` IMAP first then POP3, one `outgoingServer` SMTP; `socketType`
//!   is `SSL` for implicit TLS and `STARTTLS` otherwise; the user name is the address
//!   (`%EMAILADDRESS%`), which is what Pochta logs in with.
//! - Implicit TLS is offered before STARTTLS where both listen (RFC 8314 §3.3, §4.1).
//! - Outlook autodiscover, "POX" (Plain Old XML, MS-OXDSCLI): the request is a POST of an
//!   `Autodiscover/Request/EMailAddress` document; the answer is an `Account` of
//!   `AccountType` `email`, `Action` `settings`, one `Protocol` per service, `SSL on` for
//!   implicit TLS and `Encryption TLS` for STARTTLS. A request without an address gets the
//!   schema's `Error` (code 600, "Invalid Request").
//! - Apple configuration profile (`.mobileconfig`, "Configuration Profile Reference"): a
//!   `Configuration` payload holding one `com.apple.mail.managed` payload; its UUIDs are
//!   derived from the address, so fetching twice gives the same profile (iOS replaces it
//!   instead of adding a second account).
//! - Every value written into XML goes through `quick_xml::escape`; the plist is written by
//!   the `plist` crate.

use std::fmt::Write as _;

use quick_xml::escape::escape;
use sha2::{Digest, Sha256};

/// How a listener uses TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// TLS from the first byte (993, 995, 465).
    Tls,
    /// Plain, upgraded with STARTTLS (143, 110, 587).
    StartTls,
}

/// One service's port and security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub port: u16,
    pub security: Security,
}

/// What the documents announce: the host name and each service's preferred listener.
#[derive(Debug, Clone, Default)]
pub struct MailServers {
    pub hostname: String,
    pub imap: Option<Endpoint>,
    pub pop3: Option<Endpoint>,
    /// Submission (465 or 587), never the MTA port.
    pub smtp: Option<Endpoint>,
}

/// The domain part of an address, if it looks like one.
pub fn domain_of(address: &str) -> Option<&str> {
    let (local, domain) = address.rsplit_once('@')?;
    (!local.is_empty() && !domain.is_empty() && !domain.contains(['/', '<', '>', ' ']))
        .then_some(domain)
}

/// The Thunderbird clientConfig v1.1 document for `domain`.
pub fn thunderbird(s: &MailServers, domain: &str) -> String {
    let mut x = String::new();
    let d = escape(domain);
    let host = escape(s.hostname.as_str());
    let _ = write!(
        x,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <clientConfig version=\"1.1\">\n\
         \x20 <emailProvider id=\"{d}\">\n\
         \x20   <domain>{d}</domain>\n\
         \x20   <displayName>{d} (Pochta on {host})</displayName>\n\
         \x20   <displayShortName>{d}</displayShortName>\n"
    );
    let server = |x: &mut String, tag: &str, kind: &str, e: Endpoint| {
        let socket = match e.security {
            Security::Tls => "SSL",
            Security::StartTls => "STARTTLS",
        };
        let _ = write!(
            x,
            "    <{tag} type=\"{kind}\">\n\
             \x20     <hostname>{host}</hostname>\n\
             \x20     <port>{}</port>\n\
             \x20     <socketType>{socket}</socketType>\n\
             \x20     <authentication>password-cleartext</authentication>\n\
             \x20     <username>%EMAILADDRESS%</username>\n\
             \x20   </{tag}>\n",
            e.port
        );
    };
    if let Some(e) = s.imap {
        server(&mut x, "incomingServer", "imap", e);
    }
    if let Some(e) = s.pop3 {
        server(&mut x, "incomingServer", "pop3", e);
    }
    if let Some(e) = s.smtp {
        server(&mut x, "outgoingServer", "smtp", e);
    }
    x.push_str("  </emailProvider>\n</clientConfig>\n");
    x
}

/// The `EMailAddress` of an autodiscover POX request, if the body is one.
pub fn autodiscover_request(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let doc = roxmltree::Document::parse(text).ok()?;
    doc.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "EMailAddress")
        .and_then(|n| n.text())
        .map(|t| t.trim().to_owned())
        .filter(|a| domain_of(a).is_some())
}

const AUTODISCOVER_NS: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";
const OUTLOOK_NS: &str =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

/// The autodiscover POX answer for `address` (`None`: the request carried no address).
pub fn autodiscover(s: &MailServers, address: Option<&str>) -> String {
    let mut x = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Autodiscover xmlns=\"{AUTODISCOVER_NS}\">\n"
    );
    let Some(address) = address else {
        let _ = write!(
            x,
            "  <Response>\n    <Error Time=\"00:00:00\" Id=\"0\">\n      <ErrorCode>600</ErrorCode>\n      <Message>Invalid Request</Message>\n      <DebugData />\n    </Error>\n  </Response>\n</Autodiscover>\n"
        );
        return x;
    };
    let host = escape(s.hostname.as_str());
    let user = escape(address);
    let _ = write!(
        x,
        "  <Response xmlns=\"{OUTLOOK_NS}\">\n    <Account>\n      <AccountType>email</AccountType>\n      <Action>settings</Action>\n"
    );
    let protocol = |x: &mut String, kind: &str, e: Endpoint| {
        let tls = match e.security {
            Security::Tls => "<SSL>on</SSL>",
            Security::StartTls => "<SSL>off</SSL>\n        <Encryption>TLS</Encryption>",
        };
        let _ = write!(
            x,
            "      <Protocol>\n        <Type>{kind}</Type>\n        <Server>{host}</Server>\n        <Port>{}</Port>\n        <DomainRequired>off</DomainRequired>\n        <LoginName>{user}</LoginName>\n        <SPA>off</SPA>\n        {tls}\n        <AuthRequired>on</AuthRequired>\n      </Protocol>\n",
            e.port
        );
    };
    if let Some(e) = s.imap {
        protocol(&mut x, "IMAP", e);
    }
    if let Some(e) = s.pop3 {
        protocol(&mut x, "POP3", e);
    }
    if let Some(e) = s.smtp {
        protocol(&mut x, "SMTP", e);
    }
    x.push_str("    </Account>\n  </Response>\n</Autodiscover>\n");
    x
}

/// A UUID-shaped identifier derived from `parts` (stable for the same input).
fn uuid(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let b = h.finalize();
    let hex: String = b[..16].iter().map(|b| format!("{b:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The Apple configuration profile for `address` (`None`: no IMAP or POP3 listener).
pub fn mobileconfig(s: &MailServers, address: &str) -> Option<Vec<u8>> {
    use plist::{Dictionary, Value};
    let (kind, incoming) = match (s.imap, s.pop3) {
        (Some(e), _) => ("EmailTypeIMAP", e),
        (None, Some(e)) => ("EmailTypePOP", e),
        (None, None) => return None,
    };
    let domain = domain_of(address).unwrap_or(address);
    let reverse: Vec<&str> = s.hostname.split('.').rev().collect();
    let id = format!("{}.pochta.mail", reverse.join("."));
    let mut mail = Dictionary::new();
    let mut put = |k: &str, v: Value| {
        mail.insert(k.to_owned(), v);
    };
    put("EmailAccountDescription", Value::from(address));
    put("EmailAccountName", Value::from(address));
    put("EmailAccountType", Value::from(kind));
    put("EmailAddress", Value::from(address));
    put(
        "IncomingMailServerAuthentication",
        Value::from("EmailAuthPassword"),
    );
    put(
        "IncomingMailServerHostName",
        Value::from(s.hostname.as_str()),
    );
    put(
        "IncomingMailServerPortNumber",
        Value::from(u64::from(incoming.port)),
    );
    put("IncomingMailServerUseSSL", Value::Boolean(true));
    put("IncomingMailServerUsername", Value::from(address));
    if let Some(out) = s.smtp {
        put(
            "OutgoingMailServerAuthentication",
            Value::from("EmailAuthPassword"),
        );
        put(
            "OutgoingMailServerHostName",
            Value::from(s.hostname.as_str()),
        );
        put(
            "OutgoingMailServerPortNumber",
            Value::from(u64::from(out.port)),
        );
        put("OutgoingMailServerUseSSL", Value::Boolean(true));
        put("OutgoingMailServerUsername", Value::from(address));
        put(
            "OutgoingPasswordSameAsIncomingPassword",
            Value::Boolean(true),
        );
    }
    put(
        "PayloadDisplayName",
        Value::from(format!("Mail: {address}")),
    );
    put(
        "PayloadIdentifier",
        Value::from(format!("{id}.account.{domain}")),
    );
    put("PayloadType", Value::from("com.apple.mail.managed"));
    put("PayloadUUID", Value::from(uuid(&["mail", address])));
    put("PayloadVersion", Value::from(1u64));
    let mut top = Dictionary::new();
    top.insert(
        "PayloadContent".into(),
        Value::Array(vec![Value::Dictionary(mail)]),
    );
    top.insert(
        "PayloadDisplayName".into(),
        Value::from(format!("{domain} mail")),
    );
    top.insert(
        "PayloadIdentifier".into(),
        Value::from(format!("{id}.{domain}")),
    );
    top.insert("PayloadRemovalDisallowed".into(), Value::Boolean(false));
    top.insert("PayloadType".into(), Value::from("Configuration"));
    top.insert(
        "PayloadUUID".into(),
        Value::from(uuid(&["profile", address])),
    );
    top.insert("PayloadVersion".into(), Value::from(1u64));
    let mut out = Vec::new();
    plist::to_writer_xml(&mut out, &Value::Dictionary(top)).ok()?;
    Some(out)
}

/// The DNS records that point mail programs here (RFC 6186 SRV with RFC 8314 `_submissions`
/// and `_imaps`/`_pop3s`; the autoconfig and autodiscover names), for `pochta dns`.
pub fn dns_records(s: &MailServers, domain: &str, http: bool) -> Vec<String> {
    let host = &s.hostname;
    let mut out = vec![format!(
        "; mail-program discovery (RFC 6186, RFC 8314 section 5.1; priority 0 = preferred)"
    )];
    let srv = |out: &mut Vec<String>, service: &str, prio: u16, port: Option<u16>| match port {
        Some(p) => out.push(format!(
            "_{service}._tcp.{domain}. IN SRV {prio} 1 {p} {host}."
        )),
        // RFC 6186 §3.4: "." says the service is not offered.
        None => out.push(format!("_{service}._tcp.{domain}. IN SRV 0 0 0 .")),
    };
    let port = |e: Option<Endpoint>, sec: Security| e.filter(|e| e.security == sec).map(|e| e.port);
    srv(&mut out, "imaps", 0, port(s.imap, Security::Tls));
    srv(&mut out, "imap", 10, port(s.imap, Security::StartTls));
    srv(&mut out, "pop3s", 20, port(s.pop3, Security::Tls));
    srv(&mut out, "pop3", 30, port(s.pop3, Security::StartTls));
    srv(&mut out, "submissions", 0, port(s.smtp, Security::Tls));
    srv(&mut out, "submission", 10, port(s.smtp, Security::StartTls));
    if http {
        out.push(
            "; autoconfiguration (Thunderbird, Outlook) and CardDAV discovery (RFC 6764)".into(),
        );
        out.push(format!("autoconfig.{domain}. IN CNAME {host}."));
        out.push(format!("autodiscover.{domain}. IN CNAME {host}."));
        out.push(format!(
            "_autodiscover._tcp.{domain}. IN SRV 0 1 443 {host}."
        ));
    } else {
        out.push("; no [listen] http/https: autoconfig.{domain} and autodiscover.{domain} would have nothing to serve".replace("{domain}", domain));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers() -> MailServers {
        MailServers {
            hostname: "mail.example.org".into(),
            imap: Some(Endpoint {
                port: 993,
                security: Security::Tls,
            }),
            pop3: None,
            smtp: Some(Endpoint {
                port: 587,
                security: Security::StartTls,
            }),
        }
    }

    #[test]
    fn thunderbird_document_is_xml_with_the_listeners() {
        let x = thunderbird(&servers(), "example.org");
        let doc = roxmltree::Document::parse(&x).unwrap();
        let root = doc.root_element();
        assert_eq!(root.attribute("version"), Some("1.1"));
        let text = |name: &str| {
            doc.descendants()
                .filter(|n| n.has_tag_name(name))
                .map(|n| n.text().unwrap_or("").to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(text("port"), ["993", "587"]);
        assert_eq!(text("socketType"), ["SSL", "STARTTLS"]);
        assert_eq!(text("hostname"), ["mail.example.org", "mail.example.org"]);
    }

    #[test]
    fn autodiscover_reads_the_request_address_and_refuses_without_one() {
        let req = br#"<?xml version="1.0"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request><EMailAddress>a@example.org</EMailAddress><AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>"#;
        assert_eq!(autodiscover_request(req).as_deref(), Some("a@example.org"));
        assert_eq!(autodiscover_request(b"<x/>"), None);
        assert_eq!(autodiscover_request(b"not xml"), None);
        assert!(autodiscover(&servers(), None).contains("<ErrorCode>600</ErrorCode>"));
    }

    #[test]
    fn mobileconfig_is_stable_per_address() {
        let a = mobileconfig(&servers(), "a@example.org").unwrap();
        assert_eq!(a, mobileconfig(&servers(), "a@example.org").unwrap());
        assert_ne!(a, mobileconfig(&servers(), "b@example.org").unwrap());
    }
}
