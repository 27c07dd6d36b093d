//! SEARCH=FUZZY (RFC 6203): how the session answers FUZZY keys and RELEVANCY.
//!
//! Invariants (RFC 6203 sections):
//! - §3: a FUZZY key's matching is the server's. Here a text key under FUZZY (BODY, TEXT,
//!   SUBJECT, FROM, TO, CC, BCC, HEADER of those fields) matches what the same key matches
//!   without FUZZY (RFC 9051 substrings and the index's word forms) **and** messages with
//!   word forms within one edit of each query word ([`pochta_store::search::SearchClause::fuzzy`]:
//!   Levenshtein distance 1 for words of at least `FUZZY_MIN_CHARS` characters): a FUZZY
//!   key never finds less than the plain key. FUZZY around a key without text (`FUZZY
//!   SEEN`) is that key. Non-fuzzy keys keep their semantics exactly (the compiler only
//!   marks the text keys inside a FUZZY). Without a search index (index off), FUZZY is
//!   the plain key and SEARCH=FUZZY is not advertised.
//! - §4: each message found by a FUZZY search has a relevancy score 1..=100 using the full
//!   range: the raw scores (the index's: BM25 in the embedded tantivy index, where an exact
//!   word form outranks a one-edit neighbour; `ts_rank` in PostgreSQL; for messages above
//!   the index watermark, the count of matching words) are summed over the FUZZY keys and
//!   scaled so that the best message of the result scores 100 and none less than 1
//!   ([`scale`]). The scores of one result are comparable, not those of two results.
//! - §4: `RETURN (RELEVANCY)` lists the scores of all the result's messages in the order
//!   the numbers of `ALL` have (ascending for SEARCH, sort order for ESORT, §6). RELEVANCY
//!   without any FUZZY key is answered BAD (a client MUST NOT send it, §4).
//! - §6: the `RELEVANCY` sort key orders by score, **highest first** (RFC 6203 §6's
//!   example: scores 4, 99, 42 for 1, 5, 10 sort as `5 10 1`); REVERSE gives lowest first.
//!   Ties keep mailbox order (RFC 5256 §3).
//! - Interaction with CONTEXT=SEARCH/SORT (RFC 5267): an UPDATE context over a FUZZY
//!   search is kept like any other (ADDTO/REMOVETO carry no scores); MULTISEARCH
//!   ([`crate::multisearch`]) answers RELEVANCY per mailbox.

use pochta_imap_proto::fuzzy::has_fuzzy;
use pochta_imap_proto::search::{Search, SearchReturn};

use crate::session::{Res, bad};

/// Raw relevancies (one per hit, or none when the FUZZY keys had no text) → 1..=100, the
/// best of the result 100.
pub(crate) fn scale(raw: &[f32], hits: usize) -> Vec<u8> {
    if raw.len() != hits {
        // FUZZY around keys without text: every message is as relevant as any other.
        return vec![100; hits];
    }
    let max = raw.iter().copied().fold(0.0f32, f32::max);
    raw.iter()
        .map(|&s| {
            if max > 0.0 && s.is_finite() {
                ((s / max * 100.0).round() as i64).clamp(1, 100) as u8
            } else {
                100
            }
        })
        .collect()
}

/// Whether the command asks for RELEVANCY; BAD when it does without a FUZZY key (§4).
pub(crate) fn wants_relevancy(s: &Search) -> Res<bool> {
    let wants = s
        .returns
        .as_ref()
        .is_some_and(|r| r.contains(&SearchReturn::Relevancy));
    if wants && !has_fuzzy(&s.key) {
        return Err(bad("RELEVANCY needs a FUZZY search key (RFC 6203 §4)"));
    }
    Ok(wants)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_use_the_full_range() {
        assert_eq!(scale(&[1.0, 4.0, 2.0], 3), vec![25, 100, 50]);
        assert_eq!(scale(&[0.001, 10.0], 2), vec![1, 100]);
        assert_eq!(scale(&[], 2), vec![100, 100]);
        assert_eq!(scale(&[0.0, 0.0], 2), vec![100, 100]);
        assert!(scale(&[], 0).is_empty());
    }
}
