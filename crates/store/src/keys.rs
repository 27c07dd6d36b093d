//! What SEARCH, SORT and THREAD read of many messages at once, without decoding each
//! message's metadata or reading its bytes (bench/README.md "Big mailbox"):
//! - [`MetaFilter`]: a search over values a store keeps per message (flags, UID, MODSEQ,
//!   size, INTERNALDATE, save date, the Date: header's day), evaluated by the store
//!   ([`crate::MailStore::search_meta`]); [`MetaFilter::matches`] is the reference semantics
//!   every backend's query must give (the conformance suite compares them).
//! - [`SortRow`]: the SORT/THREAD keys of a message (RFC 5256), extracted at delivery
//!   ([`crate::MailStore::sort_rows`]).
//! - The top-level header section of a message ([`crate::MailStore::header_sections`]), for
//!   HEADER/FROM/SUBJECT searches and for checking full-text candidates.

use pochta_message::SortFields;
use pochta_types::{Flag, Flags, Uid};

use crate::MessageRecord;

/// A per-message value a [`MetaFilter`] compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaField {
    Uid,
    ModSeq,
    /// RFC822.SIZE.
    Size,
    /// INTERNALDATE, unix seconds.
    Internal,
    /// INTERNALDATE in its own zone: unix seconds + offset (so `value.div_euclid(86400)` is
    /// its local day, which BEFORE/ON/SINCE compare).
    InternalLocal,
    /// The save date (RFC 8514), unix seconds (stored in UTC).
    Save,
    /// The Date: header's own day as written in it (days since 1970-01-01, time and zone
    /// disregarded: SENTBEFORE/SENTON/SENTSINCE); a message without a valid Date: has none.
    SentDay,
}

/// A search over per-message values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaFilter {
    All,
    Nothing,
    /// A system flag (never a keyword) is set (`true`) or not (`false`).
    Flag(Flag, bool),
    /// `lo <= value < hi`, either bound open; a message without the value never matches.
    Range(MetaField, Option<i64>, Option<i64>),
    Not(Box<MetaFilter>),
    Or(Box<MetaFilter>, Box<MetaFilter>),
    And(Vec<MetaFilter>),
}

impl MetaFilter {
    /// The bit of a system flag in [`Flags::system_bits`]; `None` for a keyword.
    pub fn flag_bit(f: &Flag) -> Option<u8> {
        let b = Flags::from_flags([f]).system_bits();
        (b != 0).then_some(b)
    }

    /// Whether evaluating it needs the sent day (a backend may then join another table).
    pub fn uses_sent_day(&self) -> bool {
        match self {
            MetaFilter::Range(MetaField::SentDay, ..) => true,
            MetaFilter::Not(a) => a.uses_sent_day(),
            MetaFilter::Or(a, b) => a.uses_sent_day() || b.uses_sent_day(),
            MetaFilter::And(v) => v.iter().any(MetaFilter::uses_sent_day),
            _ => false,
        }
    }

    /// The reference semantics: whether `rec` (with its metadata, for the sent day) matches.
    pub fn matches(&self, rec: &MessageRecord) -> bool {
        match self {
            MetaFilter::All => true,
            MetaFilter::Nothing => false,
            MetaFilter::Flag(f, want) => rec.flags.contains(f) == *want,
            MetaFilter::Range(field, lo, hi) => {
                let v = match field {
                    MetaField::Uid => Some(i64::from(rec.uid.get())),
                    MetaField::ModSeq => i64::try_from(rec.modseq.get()).ok(),
                    MetaField::Size => i64::try_from(rec.size).ok(),
                    MetaField::Internal => Some(rec.internal_date.unix),
                    MetaField::InternalLocal => Some(
                        rec.internal_date.unix + i64::from(rec.internal_date.offset_minutes) * 60,
                    ),
                    MetaField::Save => Some(rec.save_date.unix),
                    MetaField::SentDay => rec.meta.as_deref().and_then(|m| m.sent_day()),
                };
                v.is_some_and(|v| lo.is_none_or(|lo| lo <= v) && hi.is_none_or(|hi| v < hi))
            }
            MetaFilter::Not(a) => !a.matches(rec),
            MetaFilter::Or(a, b) => a.matches(rec) || b.matches(rec),
            MetaFilter::And(v) => v.iter().all(|f| f.matches(rec)),
        }
    }
}

/// What SORT and THREAD need of one message (RFC 5256 §3, RFC 5957).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortRow {
    pub uid: Uid,
    /// INTERNALDATE, unix seconds (ARRIVAL).
    pub arrival: i64,
    /// RFC822.SIZE.
    pub size: u64,
    /// The Date: header in UTC, unix seconds (DATE falls back to ARRIVAL without it).
    pub sent: Option<i64>,
    /// Base subject, first From/To/Cc, Message-ID and references.
    pub fields: SortFields,
}

impl SortRow {
    /// The row of a record read with its metadata; `raw` (the message's bytes) is needed only
    /// for metadata stored before the sort fields were, and the fields stay empty without it.
    pub fn of_record(rec: &MessageRecord, raw: Option<&[u8]>) -> SortRow {
        let meta = rec.meta.as_deref();
        let fields = match meta {
            Some(m) => match m.sort_fields() {
                Some(f) => f.clone(),
                None => raw
                    .map(|b| pochta_message::sort_fields(b, m))
                    .unwrap_or_default(),
            },
            None => SortFields::default(),
        };
        SortRow {
            uid: rec.uid,
            arrival: rec.internal_date.unix,
            size: rec.size,
            sent: meta.and_then(|m| m.sent_date()),
            fields,
        }
    }
}
