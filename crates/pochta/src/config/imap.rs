//! `[imap]`: IMAP behaviour.

use serde::Deserialize;

/// `[imap]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImapSettings {
    /// Anonymous access (RFC 4505 AUTH=ANONYMOUS, LOGIN anonymous): read-only, only to
    /// mailboxes whose ACL grants the `anonymous` identifier, rate-limited. Off by default.
    pub anonymous: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Section {
    anonymous: Option<bool>,
}

impl Section {
    pub(super) fn settings(self) -> ImapSettings {
        ImapSettings {
            anonymous: self.anonymous.unwrap_or_default(),
        }
    }
}
