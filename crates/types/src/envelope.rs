//! The SMTP envelope (RFC 5321 §2.3.1) with the DSN parameters of RFC 3461: the one type the
//! SMTP server hands to the outbound queue, the queue stores and the SMTP client sends
//! (`pochta-smtp-proto` re-exports it).
//!
//! Implementation notes:
//! - Addresses are kept as text (`local@domain`, the SMTP path without angle brackets); the
//!   null reverse-path `<>` is `sender: None` and is never bounced to (RFC 5321 §4.5.5).
//! - `NOTIFY` absent ([`Recipient::notify`] `None`) is not `NOTIFY=NEVER`: failures are then
//!   reported and delays at the reporting MTA's discretion (RFC 3461 §4.1).
//! - `ORCPT` is (address type, address) with the address decoded from xtext (RFC 3461 §4.2).

/// `RET=` of RFC 3461 §4.3: how much of the message a DSN returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Full,
    Hdrs,
}

impl Ret {
    /// The keyword as written in `RET=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Ret::Full => "FULL",
            Ret::Hdrs => "HDRS",
        }
    }

    /// From the upper-case keyword.
    pub fn parse(s: &str) -> Option<Ret> {
        match s {
            "FULL" => Some(Ret::Full),
            "HDRS" => Some(Ret::Hdrs),
            _ => None,
        }
    }
}

/// `NOTIFY=` of RFC 3461 §4.1. `None` in [`Recipient::notify`] means "not given": failures
/// are reported and delays at our discretion (we do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Notify {
    pub success: bool,
    pub failure: bool,
    pub delay: bool,
}

impl Notify {
    /// `NOTIFY=NEVER`.
    pub const NEVER: Notify = Notify {
        success: false,
        failure: false,
        delay: false,
    };

    /// From the upper-cased keywords as parsed by `pochta-smtp-proto` (`RcptParams::notify`).
    pub fn from_keywords<S: AsRef<str>>(words: &[S]) -> Notify {
        let mut n = Notify::NEVER;
        for w in words {
            match w.as_ref() {
                "SUCCESS" => n.success = true,
                "FAILURE" => n.failure = true,
                "DELAY" => n.delay = true,
                _ => {}
            }
        }
        n
    }

    /// The `NOTIFY=` value to pass on to a next hop that supports DSN.
    pub fn keywords(self) -> String {
        let mut w = Vec::new();
        if self.success {
            w.push("SUCCESS");
        }
        if self.failure {
            w.push("FAILURE");
        }
        if self.delay {
            w.push("DELAY");
        }
        if w.is_empty() {
            "NEVER".into()
        } else {
            w.join(",")
        }
    }
}

/// One recipient with its DSN parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// `local@domain`.
    pub address: String,
    pub notify: Option<Notify>,
    /// `ORCPT=` as (address type, address), RFC 3461 §4.2.
    pub orcpt: Option<(String, String)>,
}

impl Recipient {
    pub fn new(address: impl Into<String>) -> Recipient {
        Recipient {
            address: address.into(),
            notify: None,
            orcpt: None,
        }
    }

    /// The (lower-cased) domain part: what routing and connection grouping use.
    pub fn domain(&self) -> String {
        domain_of(&self.address)
    }
}

fn domain_of(address: &str) -> String {
    address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("")
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// The envelope of a message on its way out: what submission hands to the outbound queue,
/// what the queue stores, and what the SMTP client sends.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// The reverse-path; `None` is the null sender `<>` (never bounced to).
    pub sender: Option<String>,
    pub recipients: Vec<Recipient>,
    pub ret: Option<Ret>,
    pub envid: Option<String>,
    /// Needs SMTPUTF8 from the next hop (RFC 6531).
    pub smtputf8: bool,
    /// Has 8-bit content: sent with `BODY=8BITMIME` (RFC 6152).
    pub eight_bit: bool,
}
