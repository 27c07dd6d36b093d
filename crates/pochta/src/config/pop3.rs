//! `[pop3]`: POP3 behaviour.

use serde::Deserialize;

/// `[pop3]`: POP3 behaviour.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pop3Settings {
    /// RETR marks the message `\Seen` (default off: a POP3 download is not an IMAP read).
    pub mark_seen: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Section {
    mark_seen: Option<bool>,
}

impl Section {
    pub(super) fn settings(self) -> Pop3Settings {
        Pop3Settings {
            mark_seen: self.mark_seen.unwrap_or_default(),
        }
    }
}
