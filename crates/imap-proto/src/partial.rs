//! PARTIAL (RFC 9394): paged SEARCH and FETCH results.
//!
//! Implementation notes (what always holds):
//! - A range names 1-based positions in the ordered result list: `m:n` counts from the first
//!   (lowest) result, `-m:-n` from the last (`-1` is the last result) (RFC 9394 §3.1). The
//!   two ends may come in either order; the range is kept normalised (`lo <= hi` in
//!   magnitude) and written back that way.
//! - Mixed signs (`1:-5`) and zero are syntax errors (RFC 9394 §6 `partial-range`).
//! - The selected results are always returned in ascending order, as a sequence set, or
//!   `NIL` when the range selects nothing (RFC 9394 §3.1 `partial-results`).
//!
//! ```abnf
//! search-return-opt  =/ "PARTIAL" SP partial-range             ; RFC 9394 §6
//! fetch-modifier     =/ "PARTIAL" SP partial-range
//! partial-range      = partial-range-first / partial-range-last
//! partial-range-first = nz-number ":" nz-number
//! partial-range-last = "-" nz-number ":" "-" nz-number
//! search-return-data =/ "PARTIAL" SP "(" partial-range SP partial-results ")"
//! partial-results    = sequence-set / "NIL"
//! ```

use std::num::NonZeroU32;

use crate::parse::{Cursor, PResult, syntax};

/// A normalised PARTIAL range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartialRange {
    /// Counted from the last result (`-lo:-hi`).
    pub from_end: bool,
    pub lo: NonZeroU32,
    pub hi: NonZeroU32,
}

impl PartialRange {
    /// The positions of `items` (ascending) that the range selects, ascending.
    pub fn slice<'a, T>(&self, items: &'a [T]) -> &'a [T] {
        let len = items.len();
        let (lo, hi) = (self.lo.get() as usize, self.hi.get() as usize);
        let (start, end) = if self.from_end {
            // -1 is items[len-1]; -hi .. -lo.
            (len.saturating_sub(hi), len.saturating_sub(lo - 1))
        } else {
            ((lo - 1).min(len), hi.min(len))
        };
        &items[start..end.max(start)]
    }

    /// Write the range as it goes on the wire.
    pub fn write(&self, out: &mut Vec<u8>) {
        let s = if self.from_end {
            format!("-{}:-{}", self.lo, self.hi)
        } else {
            format!("{}:{}", self.lo, self.hi)
        };
        out.extend_from_slice(s.as_bytes());
    }
}

/// ` PARTIAL (range set)` / ` PARTIAL (range NIL)` of an ESEARCH response; `nums` are the
/// selected results, ascending.
pub(crate) fn write_partial(out: &mut Vec<u8>, range: &PartialRange, nums: &[u32]) {
    out.extend_from_slice(b" PARTIAL (");
    range.write(out);
    out.push(b' ');
    if nums.is_empty() {
        out.extend_from_slice(b"NIL");
    } else {
        crate::response::write_numbers(out, nums.iter().copied());
    }
    out.push(b')');
}

/// `partial-range` (after `PARTIAL SP`).
pub(crate) fn partial_range(c: &mut Cursor<'_>) -> PResult<PartialRange> {
    let from_end = c.eat(b'-');
    let a = c.nz_number()?;
    c.expect(b':', "':' in a PARTIAL range")?;
    if c.eat(b'-') != from_end {
        return syntax("both ends of a PARTIAL range must have the same sign");
    }
    let b = c.nz_number()?;
    Ok(PartialRange {
        from_end,
        lo: a.min(b),
        hi: a.max(b),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParseOptions;

    fn range(s: &str) -> PResult<PartialRange> {
        let mut c = Cursor::new(s.as_bytes(), ParseOptions::default());
        partial_range(&mut c)
    }

    #[test]
    fn parse_normalise_and_slice() {
        let items: Vec<u32> = (1..=10).collect();
        let r = range("1:3").unwrap();
        assert_eq!(r.slice(&items), &[1, 2, 3]);
        let r = range("5:3").unwrap();
        assert_eq!((r.lo.get(), r.hi.get()), (3, 5));
        assert_eq!(r.slice(&items), &[3, 4, 5]);
        let r = range("-1:-3").unwrap();
        assert_eq!(r.slice(&items), &[8, 9, 10]);
        let mut out = Vec::new();
        r.write(&mut out);
        assert_eq!(out, b"-1:-3");
        assert_eq!(range("-9:-20").unwrap().slice(&items), &[1, 2]);
        assert!(range("11:20").unwrap().slice(&items).is_empty());
        assert!(range("-11:-20").unwrap().slice(&items).is_empty());
        assert_eq!(range("8:20").unwrap().slice(&items), &[8, 9, 10]);
        for bad in ["0:3", "1:-3", "-1:3", "1", "-1"] {
            assert!(range(bad).is_err(), "{bad}");
        }
        let mut out = Vec::new();
        write_partial(&mut out, &range("1:2").unwrap(), &[]);
        assert_eq!(out, b" PARTIAL (1:2 NIL)");
    }
}
