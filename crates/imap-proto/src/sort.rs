//! SORT and UID SORT (RFC 5256 §3) with DISPLAYFROM/DISPLAYTO (RFC 5957 §3) and ESORT
//! return options (RFC 5267 §3).
//!
//! Implementation notes:
//! - The search criteria are SEARCH's grammar with a mandatory charset (RFC 5256 §3); they
//!   are parsed into a [`Search`] (charset set, `returns` from ESORT's `RETURN`) so that the
//!   session evaluates them exactly like SEARCH.
//! - `REVERSE` applies to the key that follows it only (RFC 5256 §3).
//! - An ESORT `ALL` is a sequence-set written in sort order (RFC 5267 §3.2): runs are merged
//!   only where they ascend by one, so the order survives.
//!
//! ```abnf
//! sort            = ["UID" SP] "SORT" [SP "RETURN" SP "(" [sort-return-opt
//!                   *(SP sort-return-opt)] ")"] SP sort-criteria SP search-criteria
//! sort-criteria   = "(" sort-criterion *(SP sort-criterion) ")"
//! sort-criterion  = ["REVERSE" SP] sort-key
//! sort-key        = "ARRIVAL" / "CC" / "DATE" / "FROM" / "SIZE" / "SUBJECT" / "TO" /
//!                   "DISPLAYFROM" / "DISPLAYTO" / "RELEVANCY"   ; RFC 6203 §7
//! search-criteria = charset 1*(SP search-key)
//! ```

use crate::parse::{Cursor, PResult, syntax};
use crate::search::{self, Search};

/// A sort key (RFC 5256 §3, RFC 5957 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
    /// RFC 6203 §6 (SEARCH=FUZZY): relevancy, highest first.
    Relevancy,
}

impl SortKey {
    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Arrival => "ARRIVAL",
            SortKey::Cc => "CC",
            SortKey::Date => "DATE",
            SortKey::From => "FROM",
            SortKey::Size => "SIZE",
            SortKey::Subject => "SUBJECT",
            SortKey::To => "TO",
            SortKey::DisplayFrom => "DISPLAYFROM",
            SortKey::DisplayTo => "DISPLAYTO",
            SortKey::Relevancy => "RELEVANCY",
        }
    }
}

/// One criterion: a key, possibly reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortCriterion {
    pub reverse: bool,
    pub key: SortKey,
}

/// `[UID] SORT [RETURN (...)] (criteria) charset keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sort {
    pub criteria: Vec<SortCriterion>,
    /// The search program; `search.uid` says UID SORT, `search.returns` is ESORT's RETURN.
    pub search: Search,
}

/// The mandatory charset of SORT and THREAD (atom or quoted string), upper-cased.
pub(crate) fn charset(c: &mut Cursor<'_>) -> PResult<String> {
    let cs = if c.peek() == Some(b'"') {
        c.quoted()?
    } else {
        c.atom()?.to_vec()
    };
    if cs.is_empty() || !cs.is_ascii() {
        return syntax("bad charset");
    }
    Ok(String::from_utf8_lossy(&cs).to_ascii_uppercase())
}

pub(crate) fn sort(c: &mut Cursor<'_>, uid: bool) -> PResult<Sort> {
    c.sp()?;
    let mut returns = None;
    if c.eat_keyword("RETURN") {
        c.sp()?;
        returns = Some(search::return_opts(c)?);
        c.sp()?;
    }
    let criteria = c.paren_list(1, |c| {
        let mut kw = c.keyword()?;
        let reverse = kw == "REVERSE";
        if reverse {
            c.sp()?;
            kw = c.keyword()?;
        }
        let key = match kw.as_str() {
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            "RELEVANCY" => SortKey::Relevancy,
            other => return syntax(format!("unknown sort key {other}")),
        };
        Ok(SortCriterion { reverse, key })
    })?;
    c.sp()?;
    let charset = charset(c)?;
    c.sp()?;
    let key = search::program(c)?;
    Ok(Sort {
        criteria,
        search: Search {
            uid,
            returns,
            charset: Some(charset),
            key,
        },
    })
}

/// `* SORT n n ...` (RFC 5256 §4), numbers in sort order.
pub fn write_sort(out: &mut Vec<u8>, nums: &[u32]) {
    out.extend_from_slice(b"* SORT");
    let mut buf = itoa::Buffer::new();
    for &n in nums {
        out.push(b' ');
        out.extend_from_slice(buf.format(n).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use crate::command::{CommandBody, ParseOptions, parse_command};
    use crate::search::{SearchKey, SearchReturn};

    use super::*;

    fn parse(s: &str) -> Result<Sort, String> {
        match parse_command(format!("{s}\r\n").as_bytes(), ParseOptions::default()) {
            Ok(c) => match c.body {
                CommandBody::Sort(s) => Ok(s),
                other => Err(format!("not SORT: {other:?}")),
            },
            Err(e) => Err(e.message),
        }
    }

    #[test]
    fn known_answers() {
        let s = parse("a SORT (REVERSE DATE subject) UTF-8 ALL").expect("parses");
        assert_eq!(
            s.criteria,
            vec![
                SortCriterion {
                    reverse: true,
                    key: SortKey::Date
                },
                SortCriterion {
                    reverse: false,
                    key: SortKey::Subject
                },
            ]
        );
        assert_eq!(s.search.charset.as_deref(), Some("UTF-8"));
        assert_eq!(s.search.key, SearchKey::All);
        assert!(!s.search.uid && s.search.returns.is_none());

        let s = parse("a UID SORT RETURN (MIN COUNT) (DISPLAYFROM) \"us-ascii\" SEEN 1:5")
            .expect("parses");
        assert!(s.search.uid);
        assert_eq!(
            s.search.returns,
            Some(vec![SearchReturn::Min, SearchReturn::Count])
        );
        assert_eq!(s.search.charset.as_deref(), Some("US-ASCII"));
        assert!(matches!(s.search.key, SearchKey::And(ref k) if k.len() == 2));
    }

    #[test]
    fn refused() {
        for bad in [
            "a SORT () UTF-8 ALL",
            "a SORT (DATE) ALL",
            "a SORT (REVERSE) UTF-8 ALL",
            "a SORT (BOGUS) UTF-8 ALL",
            "a SORT (DATE) UTF-8",
            "a SORT DATE UTF-8 ALL",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn writes() {
        let mut out = Vec::new();
        write_sort(&mut out, &[5, 3, 4]);
        assert_eq!(out, b"* SORT 5 3 4\r\n");
        out.clear();
        write_sort(&mut out, &[]);
        assert_eq!(out, b"* SORT\r\n");
    }
}
