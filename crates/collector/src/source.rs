//! Source URLs: `imap://host[:port]`, `imaps://…`, `pop3://…`, `pop3s://…`.
//!
//! Implementation notes:
//! - Default ports: IMAP 143, IMAPS 993 (RFC 8314 §7.2), POP3 110, POP3S 995.
//! - `imap://` and `pop3://` upgrade with STARTTLS / STLS (RFC 9051 §6.2.1, RFC 2595 §4) when
//!   the server offers it. Adding `?tls=required` refuses to log in over plain text when it is
//!   not offered; `?tls=none` never upgrades (for a loopback test server).
//! - The user name and password are not part of the URL: they are stored separately, and the
//!   URL is what `collect list` prints and `collect del` matches.

use std::fmt;

use crate::Error;

/// Which protocol a source speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Imap,
    Pop3,
}

/// When a source connection uses TLS (shared with every Pochta client).
pub use pochta_net::connect::TlsPolicy;

/// A parsed source URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUrl {
    pub protocol: Protocol,
    pub tls: TlsPolicy,
    pub host: String,
    pub port: u16,
    /// The URL as given (normalised: scheme lower-case, no trailing slash).
    text: String,
}

impl SourceUrl {
    pub fn parse(s: &str) -> Result<SourceUrl, Error> {
        let bad = |why: &str| Error::Config(format!("bad source URL {s:?}: {why}"));
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| bad("expected imap://, imaps://, pop3:// or pop3s://"))?;
        let scheme = scheme.to_ascii_lowercase();
        let (protocol, mut tls, default_port) = match scheme.as_str() {
            "imap" => (Protocol::Imap, TlsPolicy::Opportunistic, 143),
            "imaps" => (Protocol::Imap, TlsPolicy::Implicit, 993),
            "pop3" | "pop" => (Protocol::Pop3, TlsPolicy::Opportunistic, 110),
            "pop3s" | "pops" => (Protocol::Pop3, TlsPolicy::Implicit, 995),
            _ => return Err(bad("unknown scheme")),
        };
        let (authority, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let authority = authority.trim_end_matches('/');
        if authority.contains('@') {
            return Err(bad("put the user name in --user, not in the URL"));
        }
        if authority.contains('/') {
            return Err(bad("a path is not supported"));
        }
        let (host, port) = if let Some(h) = authority.strip_prefix('[') {
            let (h, after) = h.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().map_err(|_| bad("bad port"))?,
                None if after.is_empty() => default_port,
                None => return Err(bad("junk after ']'")),
            };
            (h.to_owned(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| bad("bad port"))?),
                None => (authority.to_owned(), default_port),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        if let Some(q) = query {
            for kv in q.split('&').filter(|kv| !kv.is_empty()) {
                match kv {
                    "tls=required" if tls != TlsPolicy::Implicit => tls = TlsPolicy::Required,
                    "tls=none" if tls != TlsPolicy::Implicit => tls = TlsPolicy::None,
                    "tls=optional" if tls != TlsPolicy::Implicit => {}
                    _ => return Err(bad(&format!("unknown option {kv:?}"))),
                }
            }
        }
        let text = match query {
            Some(q) if !q.is_empty() => format!("{scheme}://{authority}?{q}"),
            _ => format!("{scheme}://{authority}"),
        };
        Ok(SourceUrl {
            protocol,
            tls,
            host,
            port,
            text,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for SourceUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_schemes_ports_and_options() {
        let u = SourceUrl::parse("IMAPS://mail.example.com").expect("url");
        assert_eq!(
            (u.protocol, u.tls, u.host.as_str(), u.port),
            (Protocol::Imap, TlsPolicy::Implicit, "mail.example.com", 993)
        );
        assert_eq!(u.as_str(), "imaps://mail.example.com");
        let u = SourceUrl::parse("imap://127.0.0.1:1143/?tls=required").expect("url");
        assert_eq!((u.tls, u.port), (TlsPolicy::Required, 1143));
        let u = SourceUrl::parse("pop3://[::1]:1110").expect("url");
        assert_eq!(
            (u.protocol, u.host.as_str(), u.port),
            (Protocol::Pop3, "::1", 1110)
        );
        assert_eq!(SourceUrl::parse("pop3s://h").expect("url").port, 995);
        for bad in [
            "http://x",
            "imap://",
            "imap://u@h",
            "imap://h:99999",
            "imap://h/INBOX",
            "imap://h?tls=maybe",
            "h:143",
        ] {
            assert!(SourceUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
