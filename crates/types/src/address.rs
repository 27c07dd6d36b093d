//! Mail addresses and domains.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A mail domain, lower-cased. ASCII labels of letters, digits and hyphens, or Unicode
/// (internationalised) labels; never empty, no empty label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Domain(String);

/// An address `local@domain`. The local part keeps its case; lookups compare it
/// case-insensitively (what every deployed server does, RFC 5321 §2.4 notwithstanding).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Address {
    local: String,
    domain: Domain,
}

/// Why an address or domain was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("{0:?} is not a valid domain")]
    Domain(String),
    #[error("{0:?} is not an address of the form local@domain")]
    Address(String),
}

impl Domain {
    pub fn new(s: &str) -> Result<Self, AddressError> {
        let d = s.trim_end_matches('.').to_lowercase();
        let ok = !d.is_empty()
            && d.len() <= 253
            && d.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
            });
        if ok {
            Ok(Self(d))
        } else {
            Err(AddressError::Domain(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Address {
    /// Parse `local@domain` (a dot-atom local part or any printable non-space UTF-8; quoted
    /// local parts are not accepted for accounts).
    pub fn new(s: &str) -> Result<Self, AddressError> {
        let (local, domain) = s
            .rsplit_once('@')
            .ok_or_else(|| AddressError::Address(s.to_string()))?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| !c.is_control() && !c.is_whitespace() && !"\"(),:;<>@[\\]".contains(c));
        if !local_ok {
            return Err(AddressError::Address(s.to_string()));
        }
        let domain = Domain::new(domain).map_err(|_| AddressError::Address(s.to_string()))?;
        Ok(Self {
            local: local.to_string(),
            domain,
        })
    }

    pub fn local(&self) -> &str {
        &self.local
    }

    pub fn domain(&self) -> &Domain {
        &self.domain
    }

    /// The form used as a lookup key: local part lower-cased.
    pub fn key(&self) -> String {
        format!("{}@{}", self.local.to_lowercase(), self.domain)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let a = Address::new("Ivan.Petrov@Example.ORG").unwrap();
        assert_eq!(a.to_string(), "Ivan.Petrov@example.org");
        assert_eq!(a.key(), "ivan.petrov@example.org");
        assert!(Address::new("иван@почта.испытание").is_ok());
        for bad in [
            "",
            "a",
            "@x.org",
            "a@",
            "a b@x.org",
            "a..b@x.org",
            "a@x..org",
            "a@-x.org",
        ] {
            assert!(Address::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn domains() {
        assert_eq!(Domain::new("Example.ORG.").unwrap().as_str(), "example.org");
        assert!(Domain::new("").is_err());
        assert!(Domain::new("a..b").is_err());
    }
}
