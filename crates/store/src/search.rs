//! Full-text search (issue 22): the [`SearchIndex`] trait every backend implements, the
//! document it indexes, the query it answers and the reference evaluator.
//!
//! # The pieces
//! - [`SearchDocument`] (defined in `pochta-extract`, re-exported here): the extracted text
//!   of one message — Subject, From/To/Cc/Bcc with display names decoded, body text (plain and
//!   HTML with markup dropped), attachment file names, attachment text. It is produced by ONE
//!   function, [`pochta_extract::extract`], for every backend, so both index the same text.
//! - [`analyze`] (also from `pochta-extract`): text → terms. Words are split on anything
//!   that is not a letter or digit, lowercased, `ё` folded to `е`, and stemmed with Snowball:
//!   a word with Cyrillic letters by the Russian stemmer, any other by the English one.
//!   "письмами", "Письма" and "письмо" give the same term; so do "letters" and "letter".
//!   **A backend indexes and queries the terms of [`analyze`]** (not its own tokenizer), so
//!   both backends answer the same: the PostgreSQL one stores them e.g. as
//!   `array_to_tsvector(terms)` with the `simple` configuration, or as a term table.
//! - [`SearchQuery`]: clauses that must ALL match (AND). A clause names the [`Fields`] its text
//!   may be found in and its text; it matches a message when **every term** of
//!   `analyze(text)` occurs in at least one of those fields (not necessarily adjacent: this
//!   is word-form search, not substring search — the IMAP layer documents how it keeps
//!   RFC 9051's substring semantics). A clause whose text has no terms matches every message.
//!   With `fuzzy`, a query term also matches a document term at Levenshtein distance ≤ 1
//!   (counted in characters) when the query term has at least [`FUZZY_MIN_CHARS`] characters.
//!   With `substring`, the clause instead finds **substring candidates**: every (unstemmed,
//!   folded) word of the text inside some word of the fields — `"eautiful worl"` finds
//!   "beautiful world"; the caller verifies candidates against the message.
//! - [`SearchHit`]: mailbox, UID and a relevancy score (> 0, larger = more relevant; only
//!   the order within one result matters, the IMAP layer scales it to RFC 6203's 1..100).
//!
//! # The watermark (why an index can be behind and no message is ever unsearchable)
//! Committing an index per APPEND is too slow, so documents are added in batches by a
//! background indexer. Every mailbox has a **watermark**: the highest UID such that every
//! message of the mailbox with a UID at or below it has been offered to the index (stored, or
//! skipped because it was already expunged). A search asks the index for the messages at or
//! below the watermark and evaluates the messages above it directly, with
//! [`SearchQuery::matches`] on their extracted [`SearchDocument`]s. UIDs only ascend
//! (RFC 9051 §2.3.1.1), so a newly stored, copied or moved message is always above the
//! watermark of its mailbox until the indexer has taken it.
//!
//! # Rules every backend keeps (the conformance suite `conformance::search` checks them)
//! - [`SearchIndex::add`] stores a batch and the batch's new watermarks **atomically**: after
//!   `Ok`, a search sees every document of the batch and [`SearchIndex::watermark`] returns the
//!   new value; after a crash, either both or neither. Adding a document for a (mailbox, UID)
//!   that is already indexed replaces it. A watermark never goes down through `add`.
//! - [`SearchIndex::search`] returns each matching (mailbox, UID) once, only from the
//!   mailboxes asked for, in no particular order. Documents are returned even when the
//!   message has since been expunged and not yet removed: the caller intersects hits with
//!   the messages that exist (a stale document is harmless, a missing one is not).
//! - [`SearchIndex::remove`] drops documents (expunge); [`SearchIndex::remove_mailbox`] drops
//!   every document of a mailbox and resets its watermark to 0 (mailbox deleted, or a
//!   reindex). Both are visible to searches after `Ok`.
//! - Term semantics are those of [`SearchQuery::matches`]: a backend returns exactly the
//!   documents for which it returns `Some` (scores may differ).
//! - Calls are synchronous; the session layer runs them on a blocking thread. `Send + Sync`.
//! - An index is derived data: a backend that finds its index missing or damaged starts an
//!   empty one (all watermarks 0) instead of failing, and the indexer rebuilds it.

use pochta_types::{MailboxId, Uid};

pub use pochta_extract::{FUZZY_MIN_CHARS, SearchDocument, analyze, extract, fold, words};

use crate::Result;

/// A set of document fields (bit flags). IMAP keys map to: SUBJECT → `SUBJECT`, FROM →
/// `FROM` …, BODY → [`Fields::BODY_ALL`], TEXT → [`Fields::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Fields(pub u16);

impl Fields {
    pub const SUBJECT: Fields = Fields(1);
    pub const FROM: Fields = Fields(1 << 1);
    pub const TO: Fields = Fields(1 << 2);
    pub const CC: Fields = Fields(1 << 3);
    pub const BCC: Fields = Fields(1 << 4);
    /// Text of the text/plain and text/html parts.
    pub const BODY: Fields = Fields(1 << 5);
    pub const ATTACHMENT_NAMES: Fields = Fields(1 << 6);
    pub const ATTACHMENT_TEXT: Fields = Fields(1 << 7);
    /// Every other header field (`Name: value` lines).
    pub const HEADERS: Fields = Fields(1 << 8);
    /// Body text, attachment names and attachment text (IMAP BODY).
    pub const BODY_ALL: Fields =
        Fields(Self::BODY.0 | Self::ATTACHMENT_NAMES.0 | Self::ATTACHMENT_TEXT.0);
    /// Every field (IMAP TEXT).
    pub const ALL: Fields = Fields(0x1ff);

    /// Each single field, with a stable name a backend may use for a column or field.
    pub const EACH: [(Fields, &'static str); 9] = [
        (Self::SUBJECT, "subject"),
        (Self::FROM, "from"),
        (Self::TO, "to"),
        (Self::CC, "cc"),
        (Self::BCC, "bcc"),
        (Self::BODY, "body"),
        (Self::ATTACHMENT_NAMES, "attachment_names"),
        (Self::ATTACHMENT_TEXT, "attachment_text"),
        (Self::HEADERS, "headers"),
    ];

    pub fn contains(self, other: Fields) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    pub fn union(self, other: Fields) -> Fields {
        Fields(self.0 | other.0)
    }

    /// The single fields in this set, with their names.
    pub fn each(self) -> impl Iterator<Item = (Fields, &'static str)> {
        Self::EACH
            .into_iter()
            .filter(move |(f, _)| self.contains(*f))
    }

    /// The text of one single field of a document (`""` for a set of several fields).
    pub fn text_of(self, doc: &SearchDocument) -> &str {
        match self {
            Self::SUBJECT => &doc.subject,
            Self::FROM => &doc.from,
            Self::TO => &doc.to,
            Self::CC => &doc.cc,
            Self::BCC => &doc.bcc,
            Self::BODY => &doc.body,
            Self::ATTACHMENT_NAMES => &doc.attachment_names,
            Self::ATTACHMENT_TEXT => &doc.attachment_text,
            Self::HEADERS => &doc.headers,
            _ => "",
        }
    }
}

/// One condition: every term of `analyze(text)` occurs in one of `fields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchClause {
    pub fields: Fields,
    /// The text as the client sent it; backends run [`analyze`] on it.
    pub text: String,
    /// RFC 6203 FUZZY: terms also match at edit distance ≤ 1 (see the module docs).
    pub fuzzy: bool,
    /// Substring candidates instead of word forms: the clause matches when every word of
    /// `words(text)` (lowercased, ё folded, NOT stemmed) is a substring of some word of
    /// `words(field text)` in one of the fields. A superset of the documents that contain
    /// `text` as a case-insensitive substring; the caller verifies the candidates against the
    /// message (IMAP's substring semantics). `fuzzy` is ignored when set.
    pub substring: bool,
}

/// A query: every clause must match (AND). No clause: every document matches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchQuery {
    pub clauses: Vec<SearchClause>,
}

impl SearchQuery {
    /// One clause.
    pub fn new(fields: Fields, text: &str, fuzzy: bool) -> SearchQuery {
        SearchQuery {
            clauses: vec![SearchClause {
                fields,
                text: text.to_owned(),
                fuzzy,
                substring: false,
            }],
        }
    }

    /// One substring-candidate clause (see [`SearchClause::substring`]).
    pub fn substring(fields: Fields, text: &str) -> SearchQuery {
        SearchQuery {
            clauses: vec![SearchClause {
                fields,
                text: text.to_owned(),
                fuzzy: false,
                substring: true,
            }],
        }
    }

    /// The reference semantics: `Some(score)` when `doc` matches, `None` when not. Used for
    /// the messages above a mailbox's watermark and by the conformance suite as the oracle.
    /// The score is the number of query-term occurrences found, an occurrence found only
    /// through `fuzzy` (a one-edit neighbour) counting 0.1, so that an exact word outranks a
    /// misspelt one as in the embedded index (1 for a query without terms).
    pub fn matches(&self, doc: &SearchDocument) -> Option<f32> {
        let mut score = 0.0f32;
        for clause in &self.clauses {
            if clause.substring {
                let wanted = words(&clause.text);
                let have: Vec<String> = clause
                    .fields
                    .each()
                    .flat_map(|(f, _)| words(f.text_of(doc)))
                    .collect();
                for w in &wanted {
                    let hits = have.iter().filter(|h| h.contains(w.as_str())).count();
                    if hits == 0 {
                        return None;
                    }
                    score += hits as f32;
                }
                continue;
            }
            let wanted = analyze(&clause.text);
            if wanted.is_empty() {
                continue;
            }
            let have: Vec<Vec<String>> = clause
                .fields
                .each()
                .map(|(f, _)| analyze(f.text_of(doc)))
                .collect();
            for term in &wanted {
                let (mut exact, mut near) = (0usize, 0usize);
                for t in have.iter().flatten() {
                    if t == term {
                        exact += 1;
                    } else if term_matches(term, t, clause.fuzzy) {
                        near += 1;
                    }
                }
                if exact + near == 0 {
                    return None;
                }
                score += exact as f32 + near as f32 * 0.1;
            }
        }
        Some(if score > 0.0 { score } else { 1.0 })
    }
}

/// Whether the query term `q` matches the document term `t` (exact, or within edit distance 1
/// when fuzzy and `q` has at least [`FUZZY_MIN_CHARS`] characters).
pub fn term_matches(q: &str, t: &str, fuzzy: bool) -> bool {
    if q == t {
        return true;
    }
    fuzzy && q.chars().count() >= FUZZY_MIN_CHARS && within_one_edit(q, t)
}

fn within_one_edit(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    if long.len() - short.len() > 1 {
        return false;
    }
    if short.len() == long.len() {
        // At most one substitution.
        short
            .iter()
            .zip(long.iter())
            .filter(|(x, y)| x != y)
            .count()
            <= 1
    } else {
        // One insertion into `short`.
        let prefix = short
            .iter()
            .zip(long.iter())
            .take_while(|(x, y)| x == y)
            .count();
        short[prefix..] == long[prefix + 1..]
    }
}

/// One indexed message that matched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchHit {
    pub mailbox: MailboxId,
    pub uid: Uid,
    /// Relevancy, > 0; larger is more relevant. Comparable only within one result.
    pub score: f32,
}

/// Documents of one mailbox to add, and the mailbox's watermark once they are in.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexBatch {
    pub mailbox: MailboxId,
    /// (UID, extracted text); may be empty (only the watermark moves: e.g. every message in
    /// the range was expunged before the indexer read it).
    pub documents: Vec<(Uid, SearchDocument)>,
    /// The new watermark: every message with a UID at or below it has been offered.
    pub watermark: u32,
}

/// A full-text index of messages (see the module docs for the rules).
pub trait SearchIndex: Send + Sync + 'static {
    /// Stores the batches' documents and watermarks, all visible and durable after `Ok`
    /// (atomically: a crash keeps all or none).
    fn add(&self, batches: &[IndexBatch]) -> Result<()>;
    /// The mailbox's watermark: every message with a UID at or below it is indexed (0: none).
    fn watermark(&self, mailbox: MailboxId) -> Result<u32>;
    /// Drops the documents of these UIDs (expunged messages). Unknown UIDs are ignored.
    fn remove(&self, mailbox: MailboxId, uids: &[Uid]) -> Result<()>;
    /// Drops every document of the mailbox and sets its watermark to 0.
    fn remove_mailbox(&self, mailbox: MailboxId) -> Result<()>;
    /// The indexed messages of `mailboxes` that match `query`, each once, any order.
    fn search(&self, mailboxes: &[MailboxId], query: &SearchQuery) -> Result<Vec<SearchHit>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_one() {
        assert!(within_one_edit("письмо", "письма"));
        assert!(within_one_edit("letter", "leter"));
        assert!(within_one_edit("leter", "letter"));
        assert!(within_one_edit("abc", "abc"));
        assert!(!within_one_edit("letter", "lettuce"));
        assert!(!within_one_edit("ab", "abcd"));
        assert!(within_one_edit("", "a"));
    }

    #[test]
    fn reference_evaluator_finds_word_forms() {
        let doc = SearchDocument {
            subject: "Письма от бабушки".into(),
            body: "I am sending two letters with ёлкой".into(),
            ..Default::default()
        };
        assert!(
            SearchQuery::new(Fields::ALL, "письмами", false)
                .matches(&doc)
                .is_some()
        );
        assert!(
            SearchQuery::new(Fields::SUBJECT, "письмо", false)
                .matches(&doc)
                .is_some()
        );
        assert!(
            SearchQuery::new(Fields::BODY, "письмо", false)
                .matches(&doc)
                .is_none()
        );
        assert!(
            SearchQuery::new(Fields::BODY, "letter елка", false)
                .matches(&doc)
                .is_some()
        );
        assert!(
            SearchQuery::new(Fields::BODY, "letter absent", false)
                .matches(&doc)
                .is_none()
        );
        assert!(
            SearchQuery::new(Fields::BODY, "leters", false)
                .matches(&doc)
                .is_none()
        );
        assert!(
            SearchQuery::new(Fields::BODY, "leters", true)
                .matches(&doc)
                .is_some()
        );
        assert!(
            SearchQuery::new(Fields::BODY, "--", false)
                .matches(&doc)
                .is_some()
        );
    }
}
