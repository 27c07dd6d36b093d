//! `[search]`: the full-text search index.

use std::time::Duration;

use serde::Deserialize;

use super::value::Dur;

/// `[search]`: the full-text search index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchSettings {
    /// Keep a full-text index (default on). Off: IMAP text search keys scan the messages and
    /// `pochta search reindex` refuses. `POCHTA_SEARCH_INDEX=off` in the environment also
    /// turns it off (for tests and `bench/search.sh`).
    pub index: bool,
    /// `settle`: how long the indexer lets a mailbox's changes wait before indexing its new
    /// messages (default 30 s; `0`: at once). Mail expunged meanwhile is never indexed; SEARCH
    /// is as complete meanwhile (messages not yet indexed are evaluated directly).
    pub settle: Duration,
}

/// The default of `[search] settle`.
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(30);

impl Default for SearchSettings {
    fn default() -> Self {
        SearchSettings {
            index: true,
            settle: DEFAULT_SETTLE,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Section {
    index: Option<bool>,
    settle: Option<Dur>,
}

impl Section {
    pub(super) fn settings(self) -> SearchSettings {
        SearchSettings {
            index: self.index.unwrap_or(true),
            settle: self.settle.map_or(DEFAULT_SETTLE, |Dur(d)| d),
        }
    }
}
