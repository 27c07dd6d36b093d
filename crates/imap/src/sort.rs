//! SORT and UID SORT (RFC 5256 §3), DISPLAYSORT (RFC 5957) and ESORT (RFC 5267 §3).
//!
//! Implementation notes:
//! - The search criteria are evaluated exactly as SEARCH's ([`Session::matching`]); only
//!   the order differs.
//! - Keys come from the fields stored at delivery ([`MailStore::sort_rows`]), read for the
//!   hits only, [`CHUNK`] at a time; no metadata is decoded and no bytes are read.
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

use std::borrow::Cow;
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

/// Sort rows are read from the store this many hits at a time.
const CHUNK: usize = 2048;

/// What ordering needs of one message.
pub(crate) struct Item<'a> {
    /// INTERNALDATE (unix seconds).
    pub arrival: i64,
    /// The sent date (Date: in UTC), falling back to the INTERNALDATE.
    pub sent: i64,
    pub size: u64,
    pub fields: Cow<'a, SortFields>,
}

impl<'a> Item<'a> {
    /// The item of a stored sort row.
    pub(crate) fn of(row: &'a SortRow) -> Item<'a> {
        Item {
            arrival: row.arrival,
            sent: row.sent.unwrap_or(row.arrival),
            size: row.size,
            fields: Cow::Borrowed(&row.fields),
        }
    }
}

/// A key value; all keys of one criterion are of the same kind.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Num(i64),
    Text(String),
}

fn key(item: &Item<'_>, k: SortKey) -> Key {
    let f = &item.fields;
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
        SortKey::Arrival => Key::Num(item.arrival),
        SortKey::Date => Key::Num(item.sent),
        SortKey::Size => Key::Num(i64::try_from(item.size).unwrap_or(i64::MAX)),
        SortKey::Subject => Key::Text(text::fold(&f.base_subject)),
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

/// The keys of one matched message.
pub(crate) fn keyed(hit: &Hit, row: &SortRow, criteria: &[SortCriterion]) -> Keyed {
    let item = Item::of(row);
    Keyed {
        seq: hit.0,
        uid: hit.1,
        keys: criteria.iter().map(|c| key(&item, c.key)).collect(),
        relevancy: 0,
    }
}

/// The order of keyed messages (given in mailbox order): indexes into `hits`.
pub(crate) fn order_keyed(hits: &[Keyed], criteria: &[SortCriterion]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..hits.len()).collect();
    // Stable: ties keep mailbox order (RFC 5256 §3).
    idx.sort_by(|&a, &b| {
        for (i, c) in criteria.iter().enumerate() {
            let o = hits[a].keys[i].cmp(&hits[b].keys[i]);
            let o = if c.reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    idx
}

/// The order of `items` (given in mailbox order) under `criteria`: indexes into `items`.
#[cfg(test)]
fn order(items: &[Item<'_>], criteria: &[SortCriterion]) -> Vec<usize> {
    let hits: Vec<Keyed> = items
        .iter()
        .enumerate()
        .map(|(i, it)| Keyed {
            seq: i as u32 + 1,
            uid: Uid::new(i as u32 + 1).unwrap_or(Uid::MIN),
            keys: criteria.iter().map(|c| key(it, c.key)).collect(),
            relevancy: 0,
        })
        .collect();
    order_keyed(&hits, criteria)
}

impl<S: MailStore> Session<S> {
    /// Calls `each` with every hit (in order) and its stored sort row (given away, so that
    /// its strings can be kept without a copy); a message expunged meanwhile by another
    /// session gets empty keys, so the command still answers.
    pub(crate) fn with_sort_rows(
        &self,
        hits: &[Hit],
        need: SortNeed,
        mut each: impl FnMut(&Hit, SortRow),
    ) -> Res<()> {
        let mailbox = self.view()?.mailbox;
        let store = &self.shared.store;
        for chunk in hits.chunks(CHUNK) {
            let uids: Vec<Uid> = chunk.iter().map(|h| h.1).collect();
            let rows = store.sort_rows(mailbox, &uids, need)?;
            let mut rows = rows.into_iter().peekable();
            for h in chunk {
                while rows.next_if(|r| r.uid < h.1).is_some() {}
                match rows.next_if(|r| r.uid == h.1) {
                    Some(r) => each(h, r),
                    None => each(
                        h,
                        SortRow {
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
        self.with_sort_rows(&matched.hits, need(criteria), |h, r| {
            keyed_hits.push(keyed(h, &r, criteria))
        })?;
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

    fn item(arrival: i64, sent: i64, size: u64, subject: &str, from: &str) -> Item<'static> {
        let (local, rest) = from.split_once('@').unwrap_or((from, "x"));
        let (host, display) = match rest.split_once(' ') {
            Some((h, d)) => (h.to_owned(), Some(d.to_owned())),
            None => (rest.to_owned(), None),
        };
        Item {
            arrival,
            sent,
            size,
            fields: Cow::Owned(SortFields {
                base_subject: pochta_message::sort::base_subject(subject).0,
                from: (!from.is_empty()).then(|| SortAddress {
                    display,
                    mailbox: local.to_owned(),
                    host,
                }),
                ..SortFields::default()
            }),
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
}
