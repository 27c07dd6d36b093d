//! SORT and UID SORT (RFC 5256 §3), DISPLAYSORT (RFC 5957) and ESORT (RFC 5267 §3).
//!
//! Implementation notes:
//! - The search criteria are evaluated exactly as SEARCH's ([`Session::matching`]); only
//!   the order differs.
//! - Keys come from the fields stored at delivery ([`MailStore::sort_rows`]), read for the
//!   hits only, [`CHUNK`] at a time; no metadata is decoded and no bytes are read. SUBJECT
//!   and DATE (the base subject folded, the sent date) come from the per-mailbox key cache
//!   shared with THREAD (`crate::thread::cache`), which reads only the messages it lacks.
//! - Strings compare under `i;unicode-casemap` (RFC 5051, the I18NLEVEL=1 comparator of
//!   RFC 5255 §4): the octets of their folded forms ([`text::fold`]).
//! - SUBJECT is the base subject (RFC 5256 §2.1); FROM/TO/CC the addr-mailbox of the first
//!   address; DISPLAYFROM/DISPLAYTO its display name, else `mailbox@host` (RFC 5957 §3); a
//!   missing field sorts as the empty string. DATE is the Date: header in UTC, else the
//!   INTERNALDATE (RFC 5256 §3); ARRIVAL the INTERNALDATE.
//! - `REVERSE` reverses its own key only; messages equal under every key keep mailbox
//!   order (RFC 5256 §3), which a stable sort over messages in sequence order gives.
//! - ESORT (RFC 5267 §3.2): MIN and MAX are the first and last message in sort order; ALL
//!   is written in sort order. SAVE keeps the matches as a set (RFC 5182 §2.4).

use std::cmp::Ordering;

use pochta_imap_proto::Tag;
use pochta_imap_proto::search::SearchReturn;
use pochta_imap_proto::sort::{Sort, SortCriterion, SortKey, write_sort};
use pochta_message::SortFields;
use pochta_store::{MailStore, SortNeed, SortRow};
use pochta_types::Uid;

use crate::search::Hit;
use crate::session::{Done, Res, Session};
use crate::text;
use crate::thread::Entry;
use std::sync::Arc;

/// SORT reads sort rows from the store this many hits at a time: a `SortRow` is ~340 bytes,
/// so a chunk's vector stays under glibc's mmap threshold (256 KiB, set by `pochta serve`)
/// and is reused from the heap instead of being mapped, faulted in page by page and
/// unmapped again for every chunk (page faults were ~10 % of SORT's profile at 2,048).
pub(crate) const CHUNK: usize = 512;
/// THREAD's chunk: THREAD REFERENCES measured slower with 512 (its rows' strings are kept,
/// interleaved in the heap with the chunk's vector), so it keeps 2,048.
pub(crate) const THREAD_CHUNK: usize = 2048;

/// A key value; all keys of one criterion are of the same kind.
#[derive(Debug)]
enum Key {
    Num(i64),
    Text(String),
    /// The folded base subject of a kept entry (no copy of the string).
    Subject(Arc<Entry>),
}

impl Key {
    fn text(&self) -> Option<&str> {
        match self {
            Key::Num(_) => None,
            Key::Text(s) => Some(s),
            Key::Subject(e) => Some(&e.subject),
        }
    }
}

/// Numbers by value, texts by their octets (a `Text` and a `Subject` alike).
impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        match (self, other) {
            (Key::Num(a), Key::Num(b)) => a.cmp(b),
            _ => match (self.text(), other.text()) {
                (Some(a), Some(b)) => a.as_bytes().cmp(b.as_bytes()),
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            },
        }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Key {}

/// A key as the sort compares it: a number, or a text key's first 16 octets (zero-padded,
/// big-endian) with its length, so that most comparisons need not reach the string (the
/// order is the octet order of the strings; bench/README.md "Big mailbox").
#[derive(Clone, Copy)]
enum Compact<'a> {
    Num(i64),
    Text(u128, &'a str),
}

impl<'a> Compact<'a> {
    fn of(k: &'a Key) -> Compact<'a> {
        let s: &str = match k {
            Key::Num(n) => return Compact::Num(*n),
            Key::Text(s) => s,
            Key::Subject(e) => &e.subject,
        };
        let mut p = [0u8; 16];
        let n = s.len().min(16);
        p[..n].copy_from_slice(&s.as_bytes()[..n]);
        Compact::Text(u128::from_be_bytes(p), s)
    }

    fn cmp(&self, other: &Compact<'_>) -> Ordering {
        match (self, other) {
            (Compact::Num(a), Compact::Num(b)) => a.cmp(b),
            // Equal padded prefixes of two strings of at most 16 octets: they differ only in
            // trailing zero octets, and the shorter is the smaller.
            (Compact::Text(pa, a), Compact::Text(pb, b)) => pa.cmp(pb).then_with(|| {
                if a.len() <= 16 && b.len() <= 16 {
                    a.len().cmp(&b.len())
                } else {
                    a.as_bytes().cmp(b.as_bytes())
                }
            }),
            // Never: the keys of one criterion are of one kind.
            (Compact::Num(_), Compact::Text(..)) => Ordering::Less,
            (Compact::Text(..), Compact::Num(_)) => Ordering::Greater,
        }
    }
}

/// The key of `k`; the row's base subject is moved into it, not copied (a later criterion
/// on the same key is compared only when this one is equal, so it would be equal too: the
/// empty string it gets is as good).
fn key(row: &mut SortRow, k: SortKey) -> Key {
    let f = &row.fields;
    let mailbox = |a: &Option<pochta_message::SortAddress>| {
        Key::Text(
            a.as_ref()
                .map_or_else(String::new, |a| text::fold(&a.mailbox)),
        )
    };
    let display = |a: &Option<pochta_message::SortAddress>| {
        Key::Text(
            a.as_ref()
                .map_or_else(String::new, |a| text::fold(&a.display_key())),
        )
    };
    match k {
        SortKey::Arrival => Key::Num(row.arrival),
        SortKey::Date => Key::Num(row.sent.unwrap_or(row.arrival)),
        SortKey::Size => Key::Num(i64::try_from(row.size).unwrap_or(i64::MAX)),
        SortKey::Subject => Key::Text(text::fold_owned(std::mem::take(
            &mut row.fields.base_subject,
        ))),
        SortKey::From => mailbox(&f.from),
        SortKey::To => mailbox(&f.to),
        SortKey::Cc => mailbox(&f.cc),
        SortKey::DisplayFrom => display(&f.from),
        SortKey::DisplayTo => display(&f.to),
        // Set from the search's scores by `keyed_hits` (RFC 6203 §6).
        SortKey::Relevancy => Key::Num(0),
    }
}

/// The stored fields the criteria compare (dates and sizes are always read).
fn need(criteria: &[SortCriterion]) -> SortNeed {
    let mut need = SortNeed::NONE;
    for c in criteria {
        match c.key {
            SortKey::Arrival | SortKey::Date | SortKey::Size | SortKey::Relevancy => {}
            SortKey::Subject => need.subject = true,
            SortKey::From
            | SortKey::To
            | SortKey::Cc
            | SortKey::DisplayFrom
            | SortKey::DisplayTo => need.addresses = true,
        }
    }
    need
}

/// One SORT hit: its numbers and its keys under the criteria (what is kept of a message
/// while the rest of the mailbox is read).
pub(crate) struct Keyed {
    pub seq: u32,
    pub uid: Uid,
    keys: Vec<Key>,
    /// RFC 6203 relevancy (1..=100) when the command needs it, else 0.
    pub relevancy: u8,
}

/// The keys of one matched message (its row's strings moved into them).
pub(crate) fn keyed(hit: &Hit, row: &mut SortRow, criteria: &[SortCriterion]) -> Keyed {
    Keyed {
        seq: hit.0,
        uid: hit.1,
        keys: criteria.iter().map(|c| key(row, c.key)).collect(),
        relevancy: 0,
    }
}

/// The order of keyed messages (given in mailbox order): indexes into `hits`.
///
/// The first criterion's keys are sorted as [`Compact`] values next to their index, so that
/// a comparison reads neither `hits` nor (mostly) the strings; the other criteria are read
/// from `hits` on a tie. Ties under every criterion keep mailbox order (RFC 5256 §3): the
/// index is the last key.
pub(crate) fn order_keyed(hits: &[Keyed], criteria: &[SortCriterion]) -> Vec<usize> {
    let Some(first) = criteria.first() else {
        return (0..hits.len()).collect();
    };
    let mut v: Vec<(Compact<'_>, usize)> = hits
        .iter()
        .enumerate()
        .map(|(i, h)| (Compact::of(&h.keys[0]), i))
        .collect();
    let dir = |o: Ordering, c: &SortCriterion| if c.reverse { o.reverse() } else { o };
    v.sort_unstable_by(|(ka, a), (kb, b)| {
        dir(ka.cmp(kb), first)
            .then_with(|| {
                for (i, c) in criteria.iter().enumerate().skip(1) {
                    let o = dir(hits[*a].keys[i].cmp(&hits[*b].keys[i]), c);
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                Ordering::Equal
            })
            .then(a.cmp(b))
    });
    v.into_iter().map(|(_, i)| i).collect()
}

/// The order of `rows` (given in mailbox order) under `criteria`: indexes into `rows`.
#[cfg(test)]
fn order(rows: &[SortRow], criteria: &[SortCriterion]) -> Vec<usize> {
    let hits: Vec<Keyed> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| keyed(&(i as u32 + 1, r.uid, 0), &mut r.clone(), criteria))
        .collect();
    order_keyed(&hits, criteria)
}

impl<S: MailStore> Session<S> {
    /// Calls `each` with every hit (in order) and its stored sort row (mutable, so that its
    /// strings can be taken without a copy; lent rather than moved: a `SortRow` is a few
    /// hundred bytes, and moving it was ~12 % of SORT (SUBJECT), bench/README.md "Big
    /// mailbox"); a message expunged meanwhile by another session gets empty keys, so the
    /// command still answers.
    pub(crate) fn with_sort_rows(
        &self,
        hits: &[Hit],
        need: SortNeed,
        chunk: usize,
        mut each: impl FnMut(&Hit, &mut SortRow),
    ) -> Res<()> {
        let mailbox = self.view()?.mailbox;
        let store = &self.shared.store;
        for chunk in hits.chunks(chunk.max(1)) {
            let uids: Vec<Uid> = chunk.iter().map(|h| h.1).collect();
            let mut rows = store.sort_rows(mailbox, &uids, need)?;
            let mut rows = rows.iter_mut().peekable();
            for h in chunk {
                while rows.next_if(|r| r.uid < h.1).is_some() {}
                match rows.next_if(|r| r.uid == h.1) {
                    Some(r) => each(h, r),
                    None => each(
                        h,
                        &mut SortRow {
                            uid: h.1,
                            arrival: 0,
                            size: 0,
                            sent: None,
                            fields: SortFields::default(),
                        },
                    ),
                }
            }
        }
        Ok(())
    }

    /// The hits of a program with their keys under `criteria`, in mailbox order.
    pub(crate) fn keyed_hits(
        &mut self,
        search: &pochta_imap_proto::search::Search,
        criteria: &[SortCriterion],
    ) -> Res<crate::search::Matched<Keyed>> {
        let matched = self.matching(search)?;
        let mut keyed_hits = Vec::with_capacity(matched.hits.len());
        if criteria
            .iter()
            .all(|c| matches!(c.key, SortKey::Subject | SortKey::Date))
        {
            // Folded subjects and sent dates from the process's cache (crate::thread::cache).
            let entries = self.key_entries(&matched.hits, false)?;
            for (h, e) in matched.hits.iter().zip(&entries) {
                keyed_hits.push(Keyed {
                    seq: h.0,
                    uid: h.1,
                    keys: criteria
                        .iter()
                        .map(|c| match c.key {
                            SortKey::Date => Key::Num(e.sent),
                            _ => Key::Subject(e.clone()),
                        })
                        .collect(),
                    relevancy: 0,
                });
            }
        } else {
            self.with_sort_rows(&matched.hits, need(criteria), CHUNK, |h, r| {
                keyed_hits.push(keyed(h, r, criteria))
            })?;
        }
        // RFC 6203 §6: RELEVANCY orders by the scaled score, highest first.
        if let Some(i) = criteria.iter().position(|c| c.key == SortKey::Relevancy) {
            let scores = crate::fuzzy::scale(&matched.scores, matched.hits.len());
            for (k, s) in keyed_hits.iter_mut().zip(&scores) {
                k.relevancy = *s;
                for (j, c) in criteria.iter().enumerate().skip(i) {
                    if c.key == SortKey::Relevancy {
                        k.keys[j] = Key::Num(-i64::from(*s));
                    }
                }
            }
        } else if search
            .returns
            .as_ref()
            .is_some_and(|r| r.contains(&SearchReturn::Relevancy))
        {
            let scores = crate::fuzzy::scale(&matched.scores, matched.hits.len());
            for (k, s) in keyed_hits.iter_mut().zip(&scores) {
                k.relevancy = *s;
            }
        }
        Ok(crate::search::Matched {
            hits: keyed_hits,
            highest: matched.highest,
            modseq: matched.modseq,
            scores: Vec::new(),
        })
    }

    pub(crate) fn sort(&mut self, tag: &Tag, s: Sort) -> Res {
        let relevancy = crate::fuzzy::wants_relevancy(&s.search)?;
        if s.criteria.iter().any(|c| c.key == SortKey::Relevancy)
            && !pochta_imap_proto::fuzzy::has_fuzzy(&s.search.key)
        {
            return Err(crate::session::bad(
                "the RELEVANCY sort key needs a FUZZY search key (RFC 6203 §6)",
            ));
        }
        let matched = self.keyed_hits(&s.search, &s.criteria)?;
        let uid = s.search.uid;
        let order = order_keyed(&matched.hits, &s.criteria);
        let nums: Vec<u32> = order
            .iter()
            .map(|&i| {
                let h = &matched.hits[i];
                if uid { h.uid.get() } else { h.seq }
            })
            .collect();
        let modseq = (matched.modseq && !nums.is_empty()).then_some(matched.highest);
        match &s.search.returns {
            None => write_sort(&mut self.out, &nums),
            Some(returns) => {
                if returns.contains(&SearchReturn::Save) {
                    let mut saved: Vec<Uid> = matched.hits.iter().map(|h| h.uid).collect();
                    saved.sort_unstable();
                    self.saved = saved;
                }
                let only_save = returns.len() == 1 && returns[0] == SearchReturn::Save;
                if !only_save {
                    // RFC 5267 §3.1 (as RFC 4731 §3.1): RETURN () means RETURN (ALL).
                    // RFC 6203 §6: scores in the order of the sorted result.
                    let scores: Option<Vec<u8>> = relevancy
                        .then(|| order.iter().map(|&i| matched.hits[i].relevancy).collect());
                    self.esearch(
                        tag,
                        &nums,
                        returns,
                        returns.is_empty(),
                        uid,
                        crate::search::Tail {
                            modseq,
                            scores: scores.as_deref(),
                        },
                    );
                }
            }
        }
        let text = if uid {
            "UID SORT completed"
        } else {
            "SORT completed"
        };
        if s.search
            .returns
            .as_ref()
            .is_some_and(|r| r.contains(&SearchReturn::Update))
        {
            let result = order.iter().map(|&i| matched.hits[i].uid).collect();
            return self.context_done(tag, &s.search, Some(&s.criteria), result, text);
        }
        Done::ok(text)
    }
}

#[cfg(test)]
mod tests {
    use pochta_message::SortAddress;

    use super::*;

    fn item(arrival: i64, sent: i64, size: u64, subject: &str, from: &str) -> SortRow {
        let (local, rest) = from.split_once('@').unwrap_or((from, "x"));
        let (host, display) = match rest.split_once(' ') {
            Some((h, d)) => (h.to_owned(), Some(d.to_owned())),
            None => (rest.to_owned(), None),
        };
        SortRow {
            uid: Uid::new(u32::try_from(arrival).unwrap_or(1).max(1)).unwrap_or(Uid::MIN),
            arrival,
            sent: Some(sent),
            size,
            fields: SortFields {
                base_subject: pochta_message::sort::base_subject(subject).0,
                from: (!from.is_empty()).then(|| SortAddress {
                    display,
                    mailbox: local.to_owned(),
                    host,
                }),
                ..SortFields::default()
            },
        }
    }

    fn crit(spec: &[(bool, SortKey)]) -> Vec<SortCriterion> {
        spec.iter()
            .map(|&(reverse, key)| SortCriterion { reverse, key })
            .collect()
    }

    #[test]
    fn keys_and_ties() {
        let items = vec![
            item(5, 50, 300, "Re: привет", "bob@x"),
            item(4, 40, 100, "ПРИВЕТ", "alice@x Zed"),
            item(3, 60, 200, "Apple", ""),
            item(2, 40, 100, "[list] Zebra", "Carol@x"),
        ];
        use SortKey::*;
        assert_eq!(order(&items, &crit(&[(false, Arrival)])), vec![3, 2, 1, 0]);
        assert_eq!(order(&items, &crit(&[(true, Arrival)])), vec![0, 1, 2, 3]);
        // Ties keep mailbox order, also under REVERSE of another key.
        assert_eq!(order(&items, &crit(&[(false, Date)])), vec![1, 3, 0, 2]);
        assert_eq!(order(&items, &crit(&[(true, Size)])), vec![0, 2, 1, 3]);
        assert_eq!(
            order(&items, &crit(&[(false, Size), (true, Arrival)])),
            vec![1, 3, 2, 0]
        );
        // Base subjects, Cyrillic case folded: Apple, Zebra, привет = ПРИВЕТ (mailbox order).
        assert_eq!(order(&items, &crit(&[(false, Subject)])), vec![2, 3, 0, 1]);
        // FROM by mailbox; the missing address first.
        assert_eq!(order(&items, &crit(&[(false, From)])), vec![2, 1, 0, 3]);
        // DISPLAYFROM: "Zed" is the display name of alice.
        assert_eq!(
            order(&items, &crit(&[(false, DisplayFrom)])),
            vec![2, 0, 3, 1]
        );
    }

    #[test]
    fn compact_keys_order_as_their_strings() {
        let words = [
            "",
            "\0",
            "A",
            "A\0",
            "A\0\0",
            "AB",
            "B",
            "TOPIC 1",
            "TOPIC 10",
            "TOPIC 9",
            "0123456789ABCDEF",
            "0123456789ABCDEF\0",
            "0123456789ABCDEFG",
            "0123456789ABCDEE",
            "0123456789ABCDEFFFFF",
            "ПРИВЕТ",
            "ПРИВЕТ МИР И ВСЕМ",
            "ПРИВЕТ МИР И ВСЕМ!",
        ];
        let mut keys: Vec<Key> = words.iter().map(|w| Key::Text((*w).to_owned())).collect();
        // A kept entry's subject orders as the same text.
        keys.extend(words.iter().map(|w| {
            Key::Subject(Arc::new(Entry {
                sent: 0,
                reply: false,
                subject: (*w).into(),
                message_id: None,
                references: Box::default(),
                threading: false,
            }))
        }));
        for a in &keys {
            for b in &keys {
                assert_eq!(Compact::of(a).cmp(&Compact::of(b)), a.cmp(b), "{a:?} {b:?}");
                let (ta, tb) = (a.text().unwrap_or(""), b.text().unwrap_or(""));
                assert_eq!(a.cmp(b), ta.cmp(tb), "{a:?} {b:?}");
            }
        }
        for (a, b) in [(-5i64, 3i64), (7, 7), (i64::MAX, i64::MIN)] {
            let (ka, kb) = (Key::Num(a), Key::Num(b));
            assert_eq!(Compact::of(&ka).cmp(&Compact::of(&kb)), a.cmp(&b));
        }
    }
}
