//! Sequence sets (RFC 3501 §9, RFC 9051 §9) including `$` (SEARCHRES, RFC 5182 §2.1).
//!
//! Implementation notes:
//! - A [`SequenceSet`] is never empty, and numbers in it are never zero.
//! - [`SequenceSet::resolve`] turns the set into sorted, merged, disjoint inclusive ranges; it
//!   allocates one vector of ranges per call (bounded by the number of ranges the client
//!   wrote), never one item per number, so `1:4294967295` costs the same as `1`.
//! - `n:*` with `n` above the largest value resolves to `largest:largest` ("*" is the largest
//!   number in use, and the range is unordered, RFC 9051 §9 `seq-range`); ranges entirely
//!   above the largest value are dropped. Whether a message-sequence number above the mailbox
//!   size is an error is the session's decision ([`SequenceSet::exceeds`]).
//!
//! ```abnf
//! sequence-set     = (seq-number / seq-range) ["," sequence-set]
//! sequence-set     =/ seq-last-command       ; RFC 5182: "$"
//! seq-range        = seq-number ":" seq-number
//! seq-number       = nz-number / "*"
//! ```

use std::fmt;
use std::num::NonZeroU32;

/// One end of a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqNum {
    Value(NonZeroU32),
    /// `*`: the largest number in use (the last message's sequence number or UID).
    Largest,
}

impl SeqNum {
    fn resolve(self, largest: u32) -> u32 {
        match self {
            SeqNum::Value(v) => v.get(),
            SeqNum::Largest => largest,
        }
    }
}

/// An inclusive range as the client wrote it (ends may be in either order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqRange {
    pub start: SeqNum,
    pub end: SeqNum,
}

/// A sequence set or UID set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SequenceSet {
    /// The ranges in the order given; never empty.
    Ranges(Vec<SeqRange>),
    /// `$`: the result of the last `SEARCH ... RETURN (SAVE)` (RFC 5182).
    Saved,
}

impl SequenceSet {
    /// A set from explicit ranges; `None` if empty.
    pub fn from_ranges(ranges: Vec<SeqRange>) -> Option<Self> {
        if ranges.is_empty() {
            None
        } else {
            Some(SequenceSet::Ranges(ranges))
        }
    }

    /// A set holding one number.
    pub fn single(n: NonZeroU32) -> Self {
        SequenceSet::Ranges(vec![SeqRange {
            start: SeqNum::Value(n),
            end: SeqNum::Value(n),
        }])
    }

    /// A set from resolved inclusive `(lo, hi)` ranges, zeros skipped; `None` if nothing left.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u32, u32)>) -> Option<Self> {
        let ranges: Vec<SeqRange> = pairs
            .into_iter()
            .filter_map(|(a, b)| {
                Some(SeqRange {
                    start: SeqNum::Value(NonZeroU32::new(a)?),
                    end: SeqNum::Value(NonZeroU32::new(b)?),
                })
            })
            .collect();
        Self::from_ranges(ranges)
    }

    /// Whether this is `$`.
    pub fn is_saved(&self) -> bool {
        matches!(self, SequenceSet::Saved)
    }

    /// Whether a number in the set (not `*`) is above `largest`; for message sequence numbers
    /// that is a client error (RFC 9051 §6.4.4 / §9 "seq-number").
    pub fn exceeds(&self, largest: u32) -> bool {
        match self {
            SequenceSet::Saved => false,
            SequenceSet::Ranges(r) => r.iter().any(|r| {
                [r.start, r.end]
                    .iter()
                    .any(|n| matches!(n, SeqNum::Value(v) if v.get() > largest))
            }),
        }
    }

    /// Resolve against the largest number in use (mailbox size or highest UID) into sorted,
    /// merged, disjoint inclusive ranges. `$` resolves to nothing: the session substitutes its
    /// saved result before calling this. `largest == 0` (empty mailbox) gives nothing.
    pub fn resolve(&self, largest: u32) -> Ranges {
        let mut v: Vec<(u32, u32)> = match self {
            SequenceSet::Saved => Vec::new(),
            SequenceSet::Ranges(r) if largest == 0 => {
                let _ = r;
                Vec::new()
            }
            SequenceSet::Ranges(r) => r
                .iter()
                .filter_map(|r| {
                    let (a, b) = (r.start.resolve(largest), r.end.resolve(largest));
                    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                    (lo <= largest).then_some((lo, hi.min(largest)))
                })
                .collect(),
        };
        v.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(v.len());
        for (lo, hi) in v {
            match merged.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        Ranges {
            ranges: merged,
            idx: 0,
        }
    }
}

/// Sorted, disjoint, merged inclusive ranges; iterate ranges with [`Iterator`] or numbers with
/// [`Ranges::numbers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranges {
    ranges: Vec<(u32, u32)>,
    idx: usize,
}

impl Ranges {
    /// The remaining ranges as a slice.
    pub fn as_slice(&self) -> &[(u32, u32)] {
        &self.ranges[self.idx..]
    }
    /// Whether `n` is in one of the ranges (binary search).
    pub fn contains(&self, n: u32) -> bool {
        let s = self.as_slice();
        let i = s.partition_point(|&(_, hi)| hi < n);
        s.get(i).is_some_and(|&(lo, _)| lo <= n)
    }
    /// How many numbers the ranges hold.
    pub fn total(&self) -> u64 {
        self.as_slice()
            .iter()
            .map(|&(lo, hi)| u64::from(hi - lo) + 1)
            .sum()
    }
    /// Every number, ascending, lazily.
    pub fn numbers(self) -> impl Iterator<Item = u32> {
        self.into_iter().flat_map(|(lo, hi)| lo..=hi)
    }
}

impl Iterator for Ranges {
    type Item = (u32, u32);
    fn next(&mut self) -> Option<(u32, u32)> {
        let r = self.ranges.get(self.idx).copied();
        if r.is_some() {
            self.idx += 1;
        }
        r
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqNum::Value(v) => write!(f, "{v}"),
            SeqNum::Largest => f.write_str("*"),
        }
    }
}

impl fmt::Display for SequenceSet {
    /// As written on the wire (`1:5,7,9:*` or `$`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SequenceSet::Saved => f.write_str("$"),
            SequenceSet::Ranges(r) => {
                for (i, r) in r.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    if r.start == r.end {
                        write!(f, "{}", r.start)?;
                    } else {
                        write!(f, "{}:{}", r.start, r.end)?;
                    }
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> SeqNum {
        SeqNum::Value(NonZeroU32::new(n).unwrap())
    }
    fn set(r: &[(SeqNum, SeqNum)]) -> SequenceSet {
        SequenceSet::Ranges(
            r.iter()
                .map(|&(start, end)| SeqRange { start, end })
                .collect(),
        )
    }

    #[test]
    fn resolve_merges_sorts_and_clamps() {
        let s = set(&[
            (nz(7), nz(7)),
            (nz(5), nz(1)),
            (nz(6), nz(6)),
            (nz(20), nz(30)),
        ]);
        assert_eq!(s.resolve(10).collect::<Vec<_>>(), vec![(1, 7)]);
        let s = set(&[(nz(100), SeqNum::Largest)]);
        assert_eq!(s.resolve(50).collect::<Vec<_>>(), vec![(50, 50)]);
        assert_eq!(s.resolve(0).count(), 0);
        let s = set(&[(nz(1), nz(u32::MAX))]);
        let r = s.resolve(u32::MAX);
        assert_eq!(r.total(), u64::from(u32::MAX));
        assert!(r.contains(12345));
        assert_eq!(
            set(&[(nz(3), nz(4))])
                .resolve(10)
                .numbers()
                .collect::<Vec<_>>(),
            vec![3, 4]
        );
        assert!(set(&[(nz(3), nz(4))]).exceeds(3));
        assert!(!set(&[(nz(3), SeqNum::Largest)]).exceeds(3));
        assert_eq!(
            set(&[(nz(1), nz(5)), (nz(7), SeqNum::Largest)]).to_string(),
            "1:5,7:*"
        );
    }
}
