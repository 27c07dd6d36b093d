//! SEARCH=FUZZY (RFC 6203): the `FUZZY` search-key modifier and the `RELEVANCY` return
//! option of ESEARCH.
//!
//! Invariants (RFC 6203; section numbers of the RFC):
//! - §3: `FUZZY` takes another search key as its argument and may wrap any key, also one
//!   without a string (`FUZZY ANSWERED`); how it matches is the server's. The parser keeps
//!   the wrapped key as it is ([`crate::search::SearchKey::Fuzzy`]); nesting counts towards
//!   [`crate::search::MAX_SEARCH_DEPTH`] like NOT, so `FUZZY FUZZY ...` cannot exhaust the
//!   stack.
//! - §4: relevancy scores are integers 1..=100 (100 the most relevant), returned with the
//!   `RELEVANCY` return option as `RELEVANCY (s1 s2 ...)` in the order of the messages of
//!   the result (ascending, like `ALL`). A client MUST NOT ask for RELEVANCY without a FUZZY
//!   key; the session answers such a command BAD.
//! - §7 (formal syntax), as this module parses and writes it:
//!
//! ```abnf
//! search-key         =/ "FUZZY" SP search-key
//! search-return-opt  =/ "RELEVANCY"
//! search-return-data =/ "RELEVANCY" SP score-list
//! score-list         = "(" [score *(SP score)] ")"
//! score              = 1*3DIGIT   ; 1..100
//! ```

use crate::parse::{Cursor, PResult};
use crate::search::SearchKey;

/// After `FUZZY`: ` search-key` (depth is the depth of the FUZZY key itself).
pub(crate) fn fuzzy_key(c: &mut Cursor<'_>, depth: usize) -> PResult<SearchKey> {
    c.sp()?;
    crate::search::key(c, depth + 1)
}

/// Whether a key tree has a FUZZY key anywhere.
pub fn has_fuzzy(k: &SearchKey) -> bool {
    match k {
        SearchKey::Fuzzy(_) => true,
        SearchKey::Not(k) => has_fuzzy(k),
        SearchKey::Or(a, b) => has_fuzzy(a) || has_fuzzy(b),
        SearchKey::And(v) => v.iter().any(has_fuzzy),
        _ => false,
    }
}

/// ` RELEVANCY (s1 s2 ...)` (§7 `search-return-data`); scores are clamped to 1..=100.
pub fn write_relevancy(out: &mut Vec<u8>, scores: &[u8]) {
    out.extend_from_slice(b" RELEVANCY (");
    for (i, s) in scores.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice((*s).clamp(1, 100).to_string().as_bytes());
    }
    out.push(b')');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::CommandBody;
    use crate::search::{MAX_SEARCH_DEPTH, SearchReturn};
    use crate::{ParseOptions, parse_command};

    fn search(line: &str) -> crate::search::Search {
        let cmd = parse_command(format!("{line}\r\n").as_bytes(), ParseOptions::default())
            .unwrap_or_else(|e| panic!("{line}: {e:?}"));
        match cmd.body {
            CommandBody::Search(s) => s,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn known_answers() {
        // RFC 6203 §3's examples.
        let s = search("A1 SEARCH FUZZY (SUBJECT \"IMAP break\")");
        assert_eq!(
            s.key,
            SearchKey::Fuzzy(Box::new(SearchKey::Subject(b"IMAP break".to_vec())))
        );
        let s = search("A2 SEARCH FUZZY SUBJECT work FROM user@example.com");
        assert_eq!(
            s.key,
            SearchKey::And(vec![
                SearchKey::Fuzzy(Box::new(SearchKey::Subject(b"work".to_vec()))),
                SearchKey::From(b"user@example.com".to_vec()),
            ])
        );
        // Any key may be wrapped.
        let s = search("A3 SEARCH SUBJECT xyz FUZZY ANSWERED");
        assert!(
            matches!(&s.key, SearchKey::And(v) if v[1] == SearchKey::Fuzzy(Box::new(SearchKey::Answered)))
        );
        // §4's example.
        let s = search("B1 SEARCH RETURN (RELEVANCY ALL) FUZZY TEXT \"Helo\"");
        assert_eq!(
            s.returns,
            Some(vec![SearchReturn::Relevancy, SearchReturn::All])
        );
        assert!(has_fuzzy(&s.key));
        assert!(!has_fuzzy(&search("a SEARCH NOT (OR TEXT a BODY b)").key));
        assert!(has_fuzzy(
            &search("a SEARCH NOT (OR TEXT a FUZZY BODY b)").key
        ));
        let mut out = Vec::new();
        write_relevancy(&mut out, &[4, 99, 42, 0, 200]);
        assert_eq!(out, b" RELEVANCY (4 99 42 1 100)");
    }

    #[test]
    fn malformed_and_deep() {
        for bad in [
            "a SEARCH FUZZY",
            "a SEARCH FUZZY\t TEXT x",
            "a SEARCH FUZZY FUZZY",
            "a SEARCH RETURN (RELEVANCY 5) ALL",
        ] {
            assert!(
                parse_command(format!("{bad}\r\n").as_bytes(), ParseOptions::default()).is_err(),
                "{bad}"
            );
        }
        let deep = format!("a SEARCH {}ALL\r\n", "FUZZY ".repeat(MAX_SEARCH_DEPTH + 1));
        assert!(parse_command(deep.as_bytes(), ParseOptions::default()).is_err());
        let ok = format!("a SEARCH {}ALL\r\n", "FUZZY ".repeat(MAX_SEARCH_DEPTH - 1));
        assert!(parse_command(ok.as_bytes(), ParseOptions::default()).is_ok());
    }

    #[test]
    fn round_trip() {
        crate::test_support::assert_round_trips(&[
            "a SEARCH FUZZY SUBJECT work FROM user@example.com",
            "a UID SEARCH RETURN (RELEVANCY COUNT) CHARSET UTF-8 OR FUZZY BODY \"x y\" NOT FUZZY (TO a CC b)",
            "a SORT (SUBJECT) UTF-8 FUZZY TEXT hello",
        ]);
    }

    #[test]
    fn any_chunk_size() {
        let input: &[u8] =
            b"a UID SEARCH RETURN (RELEVANCY) CHARSET UTF-8 FUZZY BODY {12+}\r\n\xd0\xbf\xd0\xb8\xd1\x81\xd1\x8c\xd0\xbc\xd0\xbe\r\n";
        crate::test_support::assert_any_chunk_size(input);
    }
}
