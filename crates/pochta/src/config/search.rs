//! `[search]`: the full-text search index.

use serde::Deserialize;

/// `[search]`: the full-text search index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchSettings {
    /// Keep a full-text index (default on). Off: IMAP text search keys scan the messages and
    /// `pochta search reindex` refuses. `POCHTA_SEARCH_INDEX=off` in the environment also
    /// turns it off (for tests and `bench/search.sh`).
    pub index: bool,
}

impl Default for SearchSettings {
    fn default() -> Self {
        SearchSettings { index: true }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Section {
    index: Option<bool>,
}

impl Section {
    pub(super) fn settings(self) -> SearchSettings {
        SearchSettings {
            index: self.index.unwrap_or(true),
        }
    }
}
