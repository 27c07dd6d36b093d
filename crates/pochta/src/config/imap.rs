//! `[imap]`: IMAP behaviour.

use serde::Deserialize;

/// `[imap]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapSettings {
    /// Anonymous access (RFC 4505 AUTH=ANONYMOUS, LOGIN anonymous): read-only, only to
    /// mailboxes whose ACL grants the `anonymous` identifier, rate-limited. Off by default.
    pub anonymous: bool,
    /// Independent pipelined commands run concurrently (RFC 9051 §5.5). On by default.
    pub parallel: bool,
}

impl Default for ImapSettings {
    fn default() -> Self {
        Self {
            anonymous: false,
            parallel: true,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Section {
    anonymous: Option<bool>,
    parallel: Option<bool>,
}

impl Section {
    pub(super) fn settings(self) -> ImapSettings {
        ImapSettings {
            anonymous: self.anonymous.unwrap_or_default(),
            parallel: self.parallel.unwrap_or(true),
        }
    }
}
