//! `[listen]`: the addresses of every listener.

use std::collections::HashMap;
use std::net::SocketAddr;

use serde::Deserialize;

use super::value::Addrs;
use super::{ConfigError, err};

/// The protocols Pochta listens for, in `[listen]` order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Imap,
    Imaps,
    Pop3,
    Pop3s,
    Smtp,
    Submission,
    Submissions,
    Http,
    Https,
}

impl Protocol {
    pub const ALL: [Protocol; 9] = [
        Protocol::Imap,
        Protocol::Imaps,
        Protocol::Pop3,
        Protocol::Pop3s,
        Protocol::Smtp,
        Protocol::Submission,
        Protocol::Submissions,
        Protocol::Http,
        Protocol::Https,
    ];

    /// The `[listen]` key, also the listener's name in logs.
    pub fn key(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Imaps => "imaps",
            Protocol::Pop3 => "pop3",
            Protocol::Pop3s => "pop3s",
            Protocol::Smtp => "smtp",
            Protocol::Submission => "submission",
            Protocol::Submissions => "submissions",
            Protocol::Http => "http",
            Protocol::Https => "https",
        }
    }

    /// Whether TLS starts with the first byte (otherwise STARTTLS is offered).
    pub fn implicit_tls(self) -> bool {
        matches!(
            self,
            Protocol::Imaps | Protocol::Pop3s | Protocol::Submissions | Protocol::Https
        )
    }
}

/// `[listen]` as written: a list of `"ip:port"` per protocol (fields in [`Protocol::ALL`]
/// order, which is also the order of the "expected one of" list).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Section {
    imap: Option<Addrs>,
    imaps: Option<Addrs>,
    pop3: Option<Addrs>,
    pop3s: Option<Addrs>,
    smtp: Option<Addrs>,
    submission: Option<Addrs>,
    submissions: Option<Addrs>,
    http: Option<Addrs>,
    https: Option<Addrs>,
}

impl Section {
    /// The configured listeners; one address may serve one listener only.
    pub(super) fn check(self) -> Result<Vec<(Protocol, Vec<SocketAddr>)>, ConfigError> {
        let by_protocol = [
            (Protocol::Imap, self.imap),
            (Protocol::Imaps, self.imaps),
            (Protocol::Pop3, self.pop3),
            (Protocol::Pop3s, self.pop3s),
            (Protocol::Smtp, self.smtp),
            (Protocol::Submission, self.submission),
            (Protocol::Submissions, self.submissions),
            (Protocol::Http, self.http),
            (Protocol::Https, self.https),
        ];
        let mut out = Vec::new();
        let mut seen: HashMap<SocketAddr, String> = HashMap::new();
        for (p, addrs) in by_protocol {
            let Some(Addrs(addrs)) = addrs else { continue };
            for (i, addr) in addrs.iter().enumerate() {
                let key = format!("listen.{}[{i}]", p.key());
                // Port 0 asks the OS for any free port, so it can never clash.
                if addr.port() != 0 {
                    if let Some(other) = seen.get(addr) {
                        return err(format!("{key}: {addr} is already used by {other}"));
                    }
                    seen.insert(*addr, key);
                }
            }
            out.push((p, addrs));
        }
        Ok(out)
    }
}
