//! SEARCH and UID SEARCH (RFC 3501 §6.4.4), with ESEARCH (RFC 4731) result options and
//! SEARCHRES (RFC 5182).
//!
//! Implementation notes:
//! - The key tree is compiled once per command: strings are decoded from the command's
//!   CHARSET into UTF-8 and case-folded, dates turned into day numbers. An unknown charset is
//!   `NO [BADCHARSET (…)]` before any message is looked at.
//! - A program of only per-message values (flags, keywords, UIDs and sequence numbers,
//!   sizes, dates, the sent day, MODSEQ) is one store query ([`MailStore::search_meta`]):
//!   no record is read (bench/README.md "Big mailbox"). `ALL` without MODSEQ (SORT's and
//!   THREAD's usual set) is not even that: it is the session's view, less the messages it
//!   knows expunged (a message expunged elsewhere stays in the client's view until its
//!   EXPUNGE is sent, RFC 9051 §7.5.1, and matches meanwhile).
//! - Messages are read lazily: flags/sizes/dates come from the records; a message's bytes and
//!   decoded text are loaded only if a key needs them, once per message.
//! - Text keys with a full-text index: for a message at or below the index's watermark, a
//!   word-form hit matches and a message outside the substring candidates does not, without
//!   reading it; only a candidate that is not a word hit is verified against the message.
//!   When the whole program is decided that way for a message (text keys under
//!   AND/OR/NOT with ALL and sequence/UID sets), not even its record is read (`decide`): a
//!   common word at 100,000 letters is ~20,000 hits (bench/README.md "Search").
//! - Header keys match RFC 2047-decoded header values; FROM/TO/CC/BCC match a substring of
//!   the parsed addresses and display names (comments and quoting removed, as Dovecot does:
//!   `<user (c)@ (c) domain.org>` is found by `user@domain.org`); BODY/TEXT match the decoded
//!   text of the text parts (charset and transfer encoding removed), so a KOI8-R
//!   quoted-printable body is found with a UTF-8 or KOI8-R search string.
//! - Date keys compare dates without time or zone: INTERNALDATE in its own zone, the Date:
//!   header's date as written in it (RFC 3501 §6.4.4, RFC 9051 §6.4.4: "disregarding time
//!   and timezone"; `23:00 +0200` on 24 March is SENTON 24-Mar, not the UTC day).

use std::sync::Arc;

use pochta_imap_proto::Date;
use pochta_imap_proto::response::{Code, ESearchWriter, write_search};
use pochta_imap_proto::search::{Search, SearchKey, SearchReturn};
use pochta_imap_proto::sequence::SequenceSet;
use std::collections::HashSet;

use pochta_store::search::{Fields, SearchDocument, SearchIndex, SearchQuery};
use pochta_store::{MailStore, MessageRecord, MetaField, MetaFilter};
use pochta_types::MailboxId;
use pochta_types::{Flag, Uid};

use crate::dates;
use crate::session::{Done, Res, Session, no};
use crate::text;

/// A compiled search key.
enum K {
    All,
    Flag(Flag, bool),
    Recent(bool),
    New,
    Header(String, String),
    /// FROM/TO/CC/BCC: a substring of the parsed addresses and display names.
    Address(String, String),
    Body(String),
    Text(String),
    Before(i64),
    On(i64),
    Since(i64),
    SentBefore(i64),
    SentOn(i64),
    SentSince(i64),
    Larger(u64),
    Smaller(u64),
    Seqs(Vec<(u32, u32)>),
    Uids(Vec<(u32, u32)>),
    UidList(Vec<Uid>),
    ModSeq(u64),
    Older(i64),
    Younger(i64),
    SaveBefore(i64),
    SaveOn(i64),
    SaveSince(i64),
    EmailId(String),
    /// A text key answered through the full-text index: entry `.0` of the command's
    /// [`TextKey`]s; `.1` is the substring key that verifies candidates and evaluates
    /// messages the index has not taken yet.
    Indexed(usize, Box<K>),
    Not(Box<K>),
    Or(Box<K>, Box<K>),
    And(Vec<K>),
    Nothing,
}

/// What evaluation needs.
#[derive(Default)]
struct Needs {
    /// A MODSEQ key was used: the response carries the highest MODSEQ (RFC 7162 §3.1.5).
    modseq: bool,
    meta: bool,
    bytes: bool,
    /// A header key: the top-level header section ([`MailStore::header_sections`]).
    header: bool,
    text: bool,
}

fn day(d: Date) -> i64 {
    dates::days_from_civil(
        i64::from(d.year()),
        u32::from(d.month()),
        u32::from(d.day()),
    )
}

struct Compiler<'a> {
    charset: Option<&'a str>,
    view_len: u32,
    last_uid: u32,
    saved: &'a [Uid],
    needs: Needs,
    /// Whether a full-text index answers text keys.
    indexed: bool,
    text_keys: Vec<TextKey>,
    /// Inside a FUZZY key (RFC 6203 §3): text keys match word forms within one edit.
    fuzzy: bool,
}

/// A text key of the command as the index sees it.
struct TextKey {
    fields: Fields,
    /// The search string in UTF-8, as sent (the index analyzes it).
    text: String,
    /// Word-form hits count (false for a HEADER field without a field of its own: its
    /// index text is shared with other fields, so only substring candidates are used).
    words: bool,
    /// Under FUZZY (see [`crate::fuzzy`]).
    fuzzy: bool,
}

/// What the index answered for one [`TextKey`], for the messages at or below the watermark.
#[derive(Default)]
struct TextHits {
    words: HashSet<u32>,
    candidates: HashSet<u32>,
    /// The index's scores of the word hits of a FUZZY key (RFC 6203 §4).
    scores: std::collections::HashMap<u32, f32>,
}

impl Compiler<'_> {
    fn s(&self, b: &[u8]) -> Res<String> {
        text::decode_charset(b, self.charset)
            .map(|s| text::fold(&s))
            .ok_or_else(badcharset)
    }

    fn set(&self, set: &SequenceSet, uid: bool) -> K {
        if set.is_saved() {
            return K::UidList(self.saved.to_vec());
        }
        let largest = if uid { self.last_uid } else { self.view_len };
        let ranges: Vec<(u32, u32)> = set.resolve(largest).collect();
        if uid {
            K::Uids(ranges)
        } else {
            K::Seqs(ranges)
        }
    }

    fn compile(&mut self, key: &SearchKey) -> Res<K> {
        use SearchKey as S;
        Ok(match key {
            S::All => K::All,
            S::Answered => K::Flag(Flag::Answered, true),
            S::Unanswered => K::Flag(Flag::Answered, false),
            S::Deleted => K::Flag(Flag::Deleted, true),
            S::Undeleted => K::Flag(Flag::Deleted, false),
            S::Draft => K::Flag(Flag::Draft, true),
            S::Undraft => K::Flag(Flag::Draft, false),
            S::Flagged => K::Flag(Flag::Flagged, true),
            S::Unflagged => K::Flag(Flag::Flagged, false),
            S::Seen => K::Flag(Flag::Seen, true),
            S::Unseen => K::Flag(Flag::Seen, false),
            S::Keyword(f) => K::Flag(f.clone(), true),
            S::Unkeyword(f) => K::Flag(f.clone(), false),
            S::Recent => K::Recent(true),
            S::Old => K::Recent(false),
            S::New => K::New,
            S::Bcc(v) => {
                let k = self.address("bcc", v)?;
                self.index(k, Fields::BCC, v, true)?
            }
            S::Cc(v) => {
                let k = self.address("cc", v)?;
                self.index(k, Fields::CC, v, true)?
            }
            S::From(v) => {
                let k = self.address("from", v)?;
                self.index(k, Fields::FROM, v, true)?
            }
            S::To(v) => {
                let k = self.address("to", v)?;
                self.index(k, Fields::TO, v, true)?
            }
            S::Subject(v) => {
                let k = self.header("subject", v)?;
                self.index(k, Fields::SUBJECT, v, true)?
            }
            S::Header(name, v) => {
                let name = String::from_utf8_lossy(name).into_owned();
                let k = self.header(&name, v)?;
                // An empty string matches every message that has the field: not a text
                // question, evaluated on the header itself.
                if v.is_empty() {
                    k
                } else {
                    let own = [
                        ("subject", Fields::SUBJECT),
                        ("from", Fields::FROM),
                        ("to", Fields::TO),
                        ("cc", Fields::CC),
                        ("bcc", Fields::BCC),
                    ];
                    match own.iter().find(|(n, _)| n.eq_ignore_ascii_case(&name)) {
                        Some(&(_, f)) => self.index(k, f, v, true)?,
                        None => self.index(k, Fields::HEADERS, v, false)?,
                    }
                }
            }
            S::Body(v) => {
                self.needs.bytes = true;
                self.needs.meta = true;
                self.needs.text = true;
                let k = K::Body(self.s(v)?);
                self.index(k, Fields::BODY_ALL, v, true)?
            }
            S::Text(v) => {
                self.needs.bytes = true;
                self.needs.meta = true;
                self.needs.text = true;
                let k = K::Text(self.s(v)?);
                self.index(k, Fields::ALL, v, true)?
            }
            S::Before(d) => K::Before(day(*d)),
            S::On(d) => K::On(day(*d)),
            S::Since(d) => K::Since(day(*d)),
            S::SentBefore(d) => {
                self.needs.meta = true;
                K::SentBefore(day(*d))
            }
            S::SentOn(d) => {
                self.needs.meta = true;
                K::SentOn(day(*d))
            }
            S::SentSince(d) => {
                self.needs.meta = true;
                K::SentSince(day(*d))
            }
            S::Larger(n) => K::Larger(*n),
            S::Smaller(n) => K::Smaller(*n),
            S::SequenceSet(set) => self.set(set, false),
            S::Uid(set) => self.set(set, true),
            S::Not(k) => K::Not(Box::new(self.compile(k)?)),
            S::Or(a, b) => K::Or(Box::new(self.compile(a)?), Box::new(self.compile(b)?)),
            S::And(ks) => K::And(ks.iter().map(|k| self.compile(k)).collect::<Res<_>>()?),
            S::ModSeq { modseq, .. } => {
                self.needs.modseq = true;
                K::ModSeq(*modseq)
            }
            S::Older(n) => K::Older(i64::from(n.get())),
            S::Younger(n) => K::Younger(i64::from(n.get())),
            S::SaveDateBefore(d) => K::SaveBefore(day(*d)),
            S::SaveDateOn(d) => K::SaveOn(day(*d)),
            S::SaveDateSince(d) => K::SaveSince(day(*d)),
            S::SaveDateSupported => K::All,
            S::EmailId(id) => K::EmailId(id.clone()),
            // We keep no threads: THREADID is NIL for every message, so nothing matches.
            S::ThreadId(_) => K::Nothing,
            S::Fuzzy(k) => {
                let outer = std::mem::replace(&mut self.fuzzy, true);
                let k = self.compile(k);
                self.fuzzy = outer;
                k?
            }
        })
    }

    /// `k` through the index, when there is one.
    fn index(&mut self, k: K, fields: Fields, v: &[u8], words: bool) -> Res<K> {
        if !self.indexed {
            return Ok(k);
        }
        let text = text::decode_charset(v, self.charset).ok_or_else(badcharset)?;
        // A string without words (punctuation only) has no word forms: substring only.
        let words = words && !pochta_store::search::analyze(&text).is_empty();
        self.text_keys.push(TextKey {
            fields,
            text,
            words,
            fuzzy: self.fuzzy,
        });
        Ok(K::Indexed(self.text_keys.len() - 1, Box::new(k)))
    }

    fn header(&mut self, name: &str, v: &[u8]) -> Res<K> {
        self.needs.header = true;
        Ok(K::Header(name.to_ascii_lowercase(), self.s(v)?))
    }

    fn address(&mut self, name: &'static str, v: &[u8]) -> Res<K> {
        self.needs.header = true;
        Ok(K::Address(name.to_string(), self.s(v)?))
    }
}

fn badcharset() -> crate::session::Fail {
    let list = text::ADVERTISED_CHARSETS
        .iter()
        .map(|&c| c.into())
        .collect();
    no(Code::BadCharset(list), "unsupported charset")
}

/// One message under evaluation, with what was loaded for it.
struct Msg<'a> {
    seq: u32,
    rec: &'a MessageRecord,
    recent: bool,
    bytes: Option<Arc<Vec<u8>>>,
    /// The top-level header section, when a header key needed it before the bytes.
    head: Option<Vec<u8>>,
    text: Option<String>,
    now: i64,
    /// Loads the message's bytes when a key needs them (`None`: expunged meanwhile).
    load: &'a dyn Fn(&MessageRecord) -> Option<Arc<Vec<u8>>>,
    /// Loads the message's header section ([`MailStore::header_sections`]: no body read).
    load_head: &'a dyn Fn(&MessageRecord) -> Option<Vec<u8>>,
    /// The bytes could not be loaded: the message is gone and matches nothing.
    vanished: bool,
    /// The index's answers ([`K::Indexed`]) and the mailbox's watermark.
    index: &'a IndexAnswers,
    /// The extracted text, for a message above the watermark.
    doc: Option<SearchDocument>,
    /// The relevancy of the FUZZY keys' word hits (RFC 6203 §4), summed.
    score: f32,
}

/// What the index answered for the command's text keys.
#[derive(Default)]
struct IndexAnswers {
    watermark: u32,
    /// Per text key: the word-form query, the substring-candidate query, the index's hits.
    keys: Vec<(SearchQuery, SearchQuery, TextHits)>,
}

/// The message's bytes, loaded on first use.
fn raw<'m>(m: &'m mut Msg<'_>) -> &'m [u8] {
    if m.bytes.is_none() && !m.vanished {
        m.bytes = (m.load)(m.rec);
        m.vanished = m.bytes.is_none();
    }
    m.bytes.as_deref().map(|b| b.as_slice()).unwrap_or(&[])
}

/// The message's top-level header section (what [`pochta_message::search_header_values`]
/// and [`pochta_message::search_address_values`] read of the bytes): from the bytes when
/// they are loaded already, else from the store's stored header sections.
fn head<'m>(m: &'m mut Msg<'_>) -> &'m [u8] {
    if m.bytes.is_none() && m.head.is_none() && !m.vanished {
        m.head = (m.load_head)(m.rec);
        m.vanished = m.head.is_none();
    }
    match (&m.bytes, &m.head) {
        (Some(b), _) => pochta_message::header_section(b.as_slice()),
        (None, Some(h)) => h.as_slice(),
        (None, None) => &[],
    }
}

fn eval(k: &K, m: &mut Msg<'_>) -> bool {
    match k {
        K::All => true,
        K::Nothing => false,
        K::Flag(f, want) => m.rec.flags.contains(f) == *want,
        K::Recent(want) => m.recent == *want,
        K::New => m.recent && !m.rec.flags.contains(&Flag::Seen),
        K::Indexed(i, verify) => {
            let Some((query, substring, hits)) = m.index.keys.get(*i) else {
                return eval(verify, m);
            };
            let uid = m.rec.uid.get();
            if uid <= m.index.watermark {
                if let Some(s) = hits.scores.get(&uid) {
                    m.score += s;
                }
                return hits.words.contains(&uid)
                    || (hits.candidates.contains(&uid) && eval(verify, m));
            }
            // Not indexed yet: the same word-form question on the extracted text.
            if m.doc.is_none() {
                let doc = pochta_store::search::extract(raw(m));
                m.doc = Some(doc);
            }
            let doc = m.doc.as_ref();
            let score = doc
                .filter(|_| !query.clauses.is_empty())
                .and_then(|d| query.matches(d));
            let words = score.is_some();
            if query.clauses.iter().any(|c| c.fuzzy) {
                m.score += score.unwrap_or(0.0);
            }
            let candidate = doc.is_some_and(|d| substring.matches(d).is_some());
            words || (candidate && eval(verify, m))
        }
        K::Header(name, needle) => {
            let values = pochta_message::search_header_values(head(m), name);
            if needle.is_empty() {
                // RFC 3501: HEADER with an empty string matches every message that has the field.
                return !values.is_empty();
            }
            values
                .iter()
                .any(|v| text::contains_folded(&text::fold(v), needle))
        }
        K::Address(name, needle) => {
            let values = pochta_message::search_address_values(head(m), name);
            if needle.is_empty() {
                return !values.is_empty();
            }
            values
                .iter()
                .any(|v| text::contains_folded(&text::fold(v), needle))
        }
        K::Body(needle) => {
            let t = body_text(m);
            text::contains_folded(t, needle)
        }
        K::Text(needle) => {
            raw(m);
            let raw = m.bytes.as_deref().map(|b| b.as_slice()).unwrap_or(&[]);
            // Header text, decoded, then the body.
            let header_hit = m
                .rec
                .meta
                .as_deref()
                .and_then(|meta| {
                    pochta_message::section(raw, meta, &[], pochta_message::SectionText::Header)
                })
                .map(|h| {
                    let h = String::from_utf8_lossy(&h).into_owned();
                    text::contains_folded(&text::fold(&decode_words(&h)), needle)
                })
                .unwrap_or(false);
            header_hit || text::contains_folded(body_text(m), needle)
        }
        K::Before(d) => dates::local_day(m.rec.internal_date) < *d,
        K::On(d) => dates::local_day(m.rec.internal_date) == *d,
        K::Since(d) => dates::local_day(m.rec.internal_date) >= *d,
        K::SentBefore(d) => sent_day(m).is_some_and(|s| s < *d),
        K::SentOn(d) => sent_day(m).is_some_and(|s| s == *d),
        K::SentSince(d) => sent_day(m).is_some_and(|s| s >= *d),
        K::Larger(n) => m.rec.size > *n,
        K::Smaller(n) => m.rec.size < *n,
        K::Seqs(r) => in_ranges(r, m.seq),
        K::Uids(r) => in_ranges(r, m.rec.uid.get()),
        K::UidList(l) => l.contains(&m.rec.uid),
        K::ModSeq(n) => m.rec.modseq.get() >= *n,
        K::Older(s) => m.rec.internal_date.unix <= m.now - s,
        K::Younger(s) => m.rec.internal_date.unix >= m.now - s,
        K::SaveBefore(d) => dates::local_day(m.rec.save_date) < *d,
        K::SaveOn(d) => dates::local_day(m.rec.save_date) == *d,
        K::SaveSince(d) => dates::local_day(m.rec.save_date) >= *d,
        K::EmailId(id) => crate::fetch::email_object_id(&m.rec.blob) == *id,
        K::Not(k) => !eval(k, m),
        K::Or(a, b) => eval(a, m) || eval(b, m),
        K::And(ks) => ks.iter().all(|k| eval(k, m)),
    }
}

fn in_ranges(r: &[(u32, u32)], n: u32) -> bool {
    let i = r.partition_point(|&(_, hi)| hi < n);
    r.get(i).is_some_and(|&(lo, _)| lo <= n)
}

/// The Date: header's own day, as written (time and zone disregarded: RFC 9051 §6.4.4,
/// RFC 3501 §6.4.4); Dovecot compares the same way.
fn sent_day(m: &Msg<'_>) -> Option<i64> {
    m.rec.meta.as_deref().and_then(|meta| meta.sent_day())
}

fn body_text<'m>(m: &'m mut Msg<'_>) -> &'m str {
    if m.text.is_none() {
        raw(m);
        let raw = m.bytes.as_deref().map(|b| b.as_slice()).unwrap_or(&[]);
        let t = m
            .rec
            .meta
            .as_deref()
            .map(|meta| pochta_message::search_body_text(raw, meta))
            .unwrap_or_default();
        m.text = Some(text::fold(&t));
    }
    m.text.as_deref().unwrap_or("")
}

/// RFC 2047-decode a whole header block for TEXT searches (field by field).
fn decode_words(header: &str) -> String {
    let mut outs = String::with_capacity(header.len());
    for line in header.split("\r\n") {
        if let Some((name, _)) = line.split_once(':') {
            for v in pochta_message::search_header_values(header.as_bytes(), name.trim()) {
                outs.push_str(&v);
                outs.push('\n');
            }
        }
    }
    outs.push_str(header);
    outs
}

/// Asks the index about each text key: word-form hits and substring candidates among the
/// messages at or below the mailbox's watermark.
fn index_answers(
    index: &dyn SearchIndex,
    mailbox: MailboxId,
    keys: &[TextKey],
) -> Res<IndexAnswers> {
    let watermark = index.watermark(mailbox)?;
    let mut out = IndexAnswers {
        watermark,
        keys: Vec::with_capacity(keys.len()),
    };
    let uids = |q: &SearchQuery| -> Res<HashSet<u32>> {
        Ok(index
            .search(&[mailbox], q)?
            .into_iter()
            .map(|h| h.uid.get())
            .collect())
    };
    for k in keys {
        let query = if k.words {
            SearchQuery::new(k.fields, &k.text, k.fuzzy)
        } else {
            SearchQuery::default()
        };
        let substring = SearchQuery::substring(k.fields, &k.text);
        let mut hits = TextHits::default();
        if watermark > 0 {
            if k.words && k.fuzzy {
                hits.scores = index
                    .search(&[mailbox], &query)?
                    .into_iter()
                    .map(|h| (h.uid.get(), h.score))
                    .collect();
                hits.words = hits.scores.keys().copied().collect();
            } else if k.words {
                hits.words = uids(&query)?;
            }
            hits.candidates = uids(&substring)?;
        }
        out.keys.push((query, substring, hits));
    }
    Ok(out)
}

/// The answer of `k` for the message `uid` (sequence number `seq`) at or below the index's
/// watermark when the index's answers and the numbers alone give it (`None`: the message
/// must be read). An indexed key is true for a word-form hit and false outside the
/// substring candidates; a candidate that is not a word hit needs verifying.
fn decide(k: &K, seq: u32, uid: u32, a: &IndexAnswers) -> Option<bool> {
    match k {
        K::All => Some(true),
        K::Nothing => Some(false),
        K::Indexed(i, _) => {
            let (_, _, h) = a.keys.get(*i)?;
            if h.words.contains(&uid) {
                Some(true)
            } else if h.candidates.contains(&uid) {
                None
            } else {
                Some(false)
            }
        }
        K::Seqs(r) => Some(in_ranges(r, seq)),
        K::Uids(r) => Some(in_ranges(r, uid)),
        K::Not(x) => decide(x, seq, uid, a).map(|b| !b),
        K::Or(x, y) => match (decide(x, seq, uid, a), decide(y, seq, uid, a)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        K::And(ks) => {
            let mut all = Some(true);
            for k in ks {
                match decide(k, seq, uid, a) {
                    Some(false) => return Some(false),
                    Some(true) => {}
                    None => all = None,
                }
            }
            all
        }
        _ => None,
    }
}

/// The UIDs at or below the index's watermark outside which `k` cannot match (`None`: any
/// may): an indexed key matches there only its word-form hits and its verified substring
/// candidates, so the other messages need not be read at all.
fn index_bound(k: &K, a: &IndexAnswers) -> Option<HashSet<u32>> {
    match k {
        K::Indexed(i, _) => a.keys.get(*i).map(|(_, _, h)| {
            let mut s = h.words.clone();
            s.extend(h.candidates.iter().copied());
            s
        }),
        K::Nothing => Some(HashSet::new()),
        K::And(ks) => ks
            .iter()
            .filter_map(|k| index_bound(k, a))
            .min_by_key(HashSet::len),
        K::Or(x, y) => {
            let mut s = index_bound(x, a)?;
            s.extend(index_bound(y, a)?);
            Some(s)
        }
        _ => None,
    }
}

/// At most this many nodes go to the store as one query (SQLite's expression depth).
const MAX_PUSHED: usize = 200;

/// The program as a store query, if every key is a per-message value; `uids` is the view
/// (sequence numbers become UID ranges: the view is ascending).
fn pushdown(k: &K, uids: &[Uid], budget: &mut usize) -> Option<MetaFilter> {
    *budget = budget.checked_sub(1)?;
    let range = |f, lo: Option<i64>, hi: Option<i64>| Some(MetaFilter::Range(f, lo, hi));
    let uid_ranges = |r: &[(u32, u32)], budget: &mut usize| {
        *budget = budget.checked_sub(r.len())?;
        let mut acc = MetaFilter::Nothing;
        for &(lo, hi) in r.iter().rev() {
            let one =
                MetaFilter::Range(MetaField::Uid, Some(i64::from(lo)), Some(i64::from(hi) + 1));
            acc = match acc {
                MetaFilter::Nothing => one,
                rest => MetaFilter::Or(Box::new(one), Box::new(rest)),
            };
        }
        Some(acc)
    };
    const DAY: i64 = 86400;
    match k {
        K::All => Some(MetaFilter::All),
        K::Nothing => Some(MetaFilter::Nothing),
        K::Flag(f, want) => Some(MetaFilter::Flag(f.clone(), *want)),
        K::Before(d) => range(MetaField::InternalLocal, None, Some(d * DAY)),
        K::On(d) => range(MetaField::InternalLocal, Some(d * DAY), Some((d + 1) * DAY)),
        K::Since(d) => range(MetaField::InternalLocal, Some(d * DAY), None),
        K::SentBefore(d) => range(MetaField::SentDay, None, Some(*d)),
        K::SentOn(d) => range(MetaField::SentDay, Some(*d), Some(d + 1)),
        K::SentSince(d) => range(MetaField::SentDay, Some(*d), None),
        K::SaveBefore(d) => range(MetaField::Save, None, Some(d * DAY)),
        K::SaveOn(d) => range(MetaField::Save, Some(d * DAY), Some((d + 1) * DAY)),
        K::SaveSince(d) => range(MetaField::Save, Some(d * DAY), None),
        K::Larger(n) => range(
            MetaField::Size,
            Some(i64::try_from(*n).unwrap_or(i64::MAX).saturating_add(1)),
            None,
        ),
        K::Smaller(n) => range(
            MetaField::Size,
            None,
            Some(i64::try_from(*n).unwrap_or(i64::MAX)),
        ),
        K::ModSeq(n) => range(
            MetaField::ModSeq,
            Some(i64::try_from(*n).unwrap_or(i64::MAX)),
            None,
        ),
        K::Uids(r) => uid_ranges(r, budget),
        K::Seqs(r) => {
            // Sequence ranges of the view are UID ranges of it: messages of the store between
            // two view UIDs that are not in the view are dropped with the view check after.
            let len = uids.len() as u32;
            let mapped: Vec<(u32, u32)> = r
                .iter()
                .filter(|&&(lo, _)| lo >= 1 && lo <= len)
                .map(|&(lo, hi)| {
                    let hi = hi.min(len);
                    (uids[lo as usize - 1].get(), uids[hi as usize - 1].get())
                })
                .collect();
            uid_ranges(&mapped, budget)
        }
        K::Not(a) => Some(MetaFilter::Not(Box::new(pushdown(a, uids, budget)?))),
        K::Or(a, b) => Some(MetaFilter::Or(
            Box::new(pushdown(a, uids, budget)?),
            Box::new(pushdown(b, uids, budget)?),
        )),
        K::And(v) => Some(MetaFilter::And(
            v.iter()
                .map(|x| pushdown(x, uids, budget))
                .collect::<Option<_>>()?,
        )),
        // Older/Younger depend on the clock, Recent on the session, the rest on the message.
        _ => None,
    }
}

/// One SEARCH hit: sequence number, UID, MODSEQ.
pub(crate) type Hit = (u32, Uid, u64);

/// Messages are read from the store this many at a time, so that what a search holds at
/// once (records, metadata, bytes) is bounded whatever the mailbox size; only what the
/// caller keeps of each hit grows with it.
const CHUNK: usize = 2048;

/// What a search program matched, in sequence order (also what SORT and THREAD order,
/// RFC 5256 §3): what the caller kept of each hit.
pub(crate) struct Matched<T> {
    pub hits: Vec<T>,
    /// The highest MODSEQ among the hits.
    pub highest: u64,
    /// A MODSEQ key was used (RFC 7162 §3.1.5).
    pub modseq: bool,
    /// With a FUZZY key: each hit's raw relevancy, in hit order (else empty; scaled to
    /// RFC 6203's 1..100 by [`crate::fuzzy::scale`]).
    pub scores: Vec<f32>,
}

impl<S: MailStore> Session<S> {
    /// Evaluate a search program over the selected mailbox; `keep` maps each hit (its
    /// sequence number and record, with the stored metadata when `with_meta`) to what the
    /// caller needs of it.
    pub(crate) fn matching(&mut self, s: &Search) -> Res<Matched<Hit>> {
        let view = self.view()?;
        let mailbox = view.mailbox;
        let mut c = Compiler {
            charset: s.charset.as_deref(),
            view_len: view.len(),
            last_uid: view.last_uid().map(|u| u.get()).unwrap_or(0),
            saved: &self.saved,
            needs: Needs::default(),
            indexed: self.shared.search.is_some(),
            text_keys: Vec::new(),
            fuzzy: false,
        };
        if let Some(cs) = s.charset.as_deref()
            && text::decode_charset(b"", Some(cs)).is_none()
        {
            return Err(badcharset());
        }
        let key = c.compile(&s.key)?;
        let needs = c.needs;
        let answers = match &self.shared.search {
            Some(index) if !c.text_keys.is_empty() => {
                index_answers(&**index, mailbox, &c.text_keys)?
            }
            _ => IndexAnswers::default(),
        };
        let mut uids: Vec<Uid> = view.uids().to_vec();
        // Messages at or below the watermark that the index rules out are not even read.
        if let Some(bound) = index_bound(&key, &answers) {
            uids.retain(|u| u.get() > answers.watermark || bound.contains(&u.get()));
        }
        // Messages at or below the watermark whose answer the index alone gives (a word-form
        // hit, or no candidate at all) are decided without reading their records: only the
        // rest (substring candidates to verify, messages above the watermark, keys the index
        // does not answer) go through `eval`. Not with a MODSEQ key (every hit's MODSEQ is
        // needed) nor FUZZY (relevancy is summed in `eval`).
        let fuzzy = pochta_imap_proto::fuzzy::has_fuzzy(&s.key);
        let mut decided: Vec<Hit> = Vec::new();
        if !answers.keys.is_empty() && !needs.modseq && !fuzzy {
            uids.retain(|&u| {
                if u.get() > answers.watermark || view.is_pending_expunge(u) {
                    return true;
                }
                let Some(seq) = view.seq(u) else {
                    return false;
                };
                match decide(&key, seq, u.get(), &answers) {
                    Some(true) => {
                        decided.push((seq, u, 0));
                        false
                    }
                    Some(false) => false,
                    None => true,
                }
            });
        }
        if needs.modseq {
            // A CONDSTORE-enabling command (RFC 7162 §3.1).
            self.enable_condstore();
        }
        // ALL (SORT's and THREAD's usual search set) without MODSEQ is the session's view
        // less the messages it knows to be expunged: no store read. A message another session
        // expunged since this one last looked is still in the client's view and matches, as
        // it would for FETCH (RFC 9051 §7.5.1: it stays until its EXPUNGE is sent).
        if matches!(key, K::All) && !needs.modseq {
            let view = self.view()?;
            let mut hint = 0;
            let hits = uids
                .iter()
                .filter(|&&u| !view.is_pending_expunge(u))
                .filter_map(|&u| Some((view.seq_from(u, &mut hint)?, u, 0)))
                .collect();
            return Ok(Matched {
                hits,
                highest: 0,
                modseq: false,
                scores: Vec::new(),
            });
        }
        let store = self.shared.store.clone();
        let seen = self.selected_seen_view()?;
        let mut hits: Vec<Hit> = Vec::new();
        let mut highest: u64 = 0;
        if matches!(seen, crate::acl::SeenView::Shared)
            && let Some(filter) = pushdown(&key, &uids, &mut MAX_PUSHED.clone())
        {
            let view = self.view()?;
            let mut hint = 0;
            for (uid, modseq) in store.search_meta(mailbox, &filter)? {
                if let Some(seq) = view.seq_from(uid, &mut hint) {
                    highest = highest.max(modseq.get());
                    hits.push((seq, uid, modseq.get()));
                }
            }
            return Ok(Matched {
                hits,
                highest,
                modseq: needs.modseq,
                scores: Vec::new(),
            });
        }
        // Header keys read the stored header sections: of the whole chunk at once when every
        // message is evaluated (no index answers), else of each message that needs one.
        let bulk_heads = needs.header && !needs.bytes && answers.keys.is_empty();
        let now = dates::now().unix;
        let mut scores: Vec<f32> = Vec::new();
        for chunk in uids.chunks(CHUNK) {
            let mut records = store.records(mailbox, chunk, needs.meta || needs.text)?;
            for r in &mut records {
                seen.apply(r.uid, &mut r.flags);
            }
            // Bytes are read when a key needs them (an indexed text key needs them only for
            // candidates and for messages above the watermark). A blob that cannot be read
            // belongs to a message expunged by another session (its bytes collected) since
            // the records were read, and the message matches nothing, as in FETCH; any other
            // failure fails the command.
            let failure: std::cell::RefCell<Option<pochta_store::StoreError>> = Default::default();
            let load = |rec: &MessageRecord| match store.blob(&rec.blob) {
                Ok(b) => Some(b),
                Err(e) => {
                    match store.records(mailbox, &[rec.uid], false) {
                        Ok(v) if v.is_empty() => {}
                        Ok(_) => *failure.borrow_mut() = Some(e),
                        Err(e) => *failure.borrow_mut() = Some(e),
                    }
                    None
                }
            };
            let heads: std::cell::RefCell<std::collections::HashMap<u32, Vec<u8>>> =
                Default::default();
            if bulk_heads {
                let present: Vec<Uid> = records.iter().map(|r| r.uid).collect();
                *heads.borrow_mut() = store
                    .header_sections(mailbox, &present)?
                    .into_iter()
                    .map(|(u, h)| (u.get(), h))
                    .collect();
            }
            // A message whose header section is missing was expunged since its record was
            // read: it matches nothing, as when its bytes are gone.
            let load_head = |rec: &MessageRecord| {
                if bulk_heads {
                    return heads.borrow_mut().remove(&rec.uid.get());
                }
                match store.header_sections(mailbox, &[rec.uid]) {
                    Ok(v) => v.into_iter().next().map(|(_, h)| h),
                    Err(e) => {
                        *failure.borrow_mut() = Some(e);
                        None
                    }
                }
            };
            for rec in records {
                let view = self.view()?;
                let Some(seq) = view.seq(rec.uid) else {
                    continue;
                };
                let mut m = Msg {
                    seq,
                    rec: &rec,
                    recent: !self.rev2 && view.is_recent(rec.uid),
                    bytes: None,
                    head: None,
                    text: None,
                    now,
                    load: &load,
                    load_head: &load_head,
                    vanished: false,
                    index: &answers,
                    doc: None,
                    score: 0.0,
                };
                let hit = eval(&key, &mut m);
                if let Some(e) = failure.borrow_mut().take() {
                    return Err(e.into());
                }
                if hit && !m.vanished {
                    highest = highest.max(rec.modseq.get());
                    hits.push((seq, rec.uid, rec.modseq.get()));
                    if fuzzy {
                        scores.push(m.score);
                    }
                }
            }
        }
        if !decided.is_empty() {
            // Hits are in sequence order.
            hits.extend(decided);
            hits.sort_unstable_by_key(|h| h.0);
        }
        Ok(Matched {
            hits,
            highest,
            modseq: needs.modseq,
            scores,
        })
    }

    pub(crate) fn search(&mut self, tag: &pochta_imap_proto::Tag, s: Search) -> Res {
        let relevancy = crate::fuzzy::wants_relevancy(&s)?;
        let matched = self.matching(&s)?;
        let scores = relevancy.then(|| crate::fuzzy::scale(&matched.scores, matched.hits.len()));
        let (needs_modseq, highest) = (matched.modseq, matched.highest);
        // The MODSEQ of each hit, in hit order (for ESEARCH MIN/MAX, see below).
        let hit_modseqs: Vec<u64> = matched.hits.iter().map(|h| h.2).collect();
        let hits: Vec<(u32, Uid)> = matched.hits.iter().map(|h| (h.0, h.1)).collect();
        let nums: Vec<u32> = hits
            .iter()
            .map(|&(seq, uid)| if s.uid { uid.get() } else { seq })
            .collect();
        // IMAP4rev2 answers every SEARCH with ESEARCH (RFC 9051 §6.4.4); no RETURN means ALL.
        let returns = match (&s.returns, self.rev2) {
            (None, true) => Some(Vec::new()),
            (r, _) => r.clone(),
        };
        match &returns {
            None => {
                let modseq = (needs_modseq && !nums.is_empty()).then_some(highest);
                write_search(&mut self.out, &nums, modseq);
            }
            Some(returns) => {
                // RFC 4731 §3.1: RETURN () means RETURN (ALL).
                let all = returns.is_empty();
                let partial = crate::partial::search_partial(returns)?;
                if let Some(p) = partial
                    && returns.contains(&SearchReturn::Save)
                {
                    self.saved = p.slice(&hits).iter().map(|&(_, u)| u).collect();
                } else if returns.contains(&SearchReturn::Save) {
                    let min = returns.contains(&SearchReturn::Min);
                    let max = returns.contains(&SearchReturn::Max);
                    let whole = all
                        || returns.contains(&SearchReturn::All)
                        || returns.contains(&SearchReturn::Count)
                        || !(min || max);
                    // RFC 5182 §2.4: with only MIN and/or MAX, only those are saved.
                    self.saved = if whole {
                        hits.iter().map(|&(_, u)| u).collect()
                    } else {
                        let mut v = Vec::new();
                        if min && let Some(&(_, u)) = hits.first() {
                            v.push(u);
                        }
                        if max
                            && let Some(&(_, u)) = hits.last()
                            && !v.contains(&u)
                        {
                            v.push(u);
                        }
                        v
                    };
                }
                let only_save = returns.len() == 1 && returns[0] == SearchReturn::Save;
                if !only_save {
                    // RFC 4731 §3.2: with MIN and/or MAX but no ALL/COUNT, MODSEQ is the
                    // highest of the returned messages' (the first and/or the last hit);
                    // otherwise of all hits.
                    let (min, max) = (
                        returns.contains(&SearchReturn::Min),
                        returns.contains(&SearchReturn::Max),
                    );
                    let only_ends = !all
                        && (min || max)
                        && !returns.contains(&SearchReturn::All)
                        && !returns.contains(&SearchReturn::Count);
                    let highest = if only_ends {
                        let first = hit_modseqs.first().filter(|_| min);
                        let last = hit_modseqs.last().filter(|_| max);
                        first.into_iter().chain(last).copied().max().unwrap_or(0)
                    } else {
                        highest
                    };
                    let modseq = (needs_modseq && !nums.is_empty()).then_some(highest);
                    self.esearch(
                        tag,
                        &nums,
                        returns,
                        all,
                        s.uid,
                        Tail {
                            modseq,
                            scores: scores.as_deref(),
                        },
                    );
                }
            }
        }
        let text = if s.uid {
            "UID SEARCH completed"
        } else {
            "SEARCH completed"
        };
        // RFC 5267 §4.3: keep the result live.
        if s.returns
            .as_ref()
            .is_some_and(|r| r.contains(&SearchReturn::Update))
        {
            let result = hits.iter().map(|&(_, u)| u).collect();
            return self.context_done(tag, &s, None, result, text);
        }
        Done::ok(text)
    }

    pub(crate) fn esearch(
        &mut self,
        tag: &pochta_imap_proto::Tag,
        nums: &[u32],
        returns: &[SearchReturn],
        all: bool,
        uid: bool,
        tail: Tail<'_>,
    ) {
        // RFC 4731 §3.1: the response carries the command's tag as a correlator.
        let w = ESearchWriter::begin(&mut self.out, tag, uid);
        write_esearch(w, nums, returns, all, tail);
    }
}

/// What an ESEARCH response may carry besides the numbers.
#[derive(Default, Clone, Copy)]
pub(crate) struct Tail<'a> {
    /// `MODSEQ m` (RFC 7162 §3.1.5).
    pub modseq: Option<u64>,
    /// `RELEVANCY (...)` when asked for (RFC 6203 §4), one score per number.
    pub scores: Option<&'a [u8]>,
}

/// The items of one ESEARCH response after its correlator, in the order asked for.
pub(crate) fn write_esearch(
    mut w: ESearchWriter<'_>,
    nums: &[u32],
    returns: &[SearchReturn],
    all: bool,
    Tail { modseq, scores }: Tail<'_>,
) {
    {
        let (first, last) = (nums.first(), nums.last());
        for r in returns {
            match (r, first, last) {
                (SearchReturn::Min, Some(&n), _) => {
                    w.min(n);
                }
                (SearchReturn::Max, _, Some(&n)) => {
                    w.max(n);
                }
                (SearchReturn::Count, _, _) => {
                    w.count(nums.len() as u32);
                }
                (SearchReturn::All, _, _) => {
                    w.all(nums);
                }
                (SearchReturn::Partial(p), _, _) => {
                    w.partial(p, p.slice(nums));
                }
                (SearchReturn::Relevancy, _, _) => {
                    if let Some(s) = scores {
                        w.relevancy(s);
                    }
                }
                _ => {}
            }
        }
        if all {
            w.all(nums);
        }
        if let Some(m) = modseq {
            w.modseq(m);
        }
        w.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One text key: message 1 a word-form hit, 2 a candidate to verify, 3 neither.
    fn answers() -> IndexAnswers {
        let hits = TextHits {
            words: [1].into_iter().collect(),
            candidates: [1, 2].into_iter().collect(),
            ..Default::default()
        };
        IndexAnswers {
            watermark: 3,
            keys: vec![(SearchQuery::default(), SearchQuery::default(), hits)],
        }
    }

    fn text() -> K {
        K::Indexed(0, Box::new(K::Text("X".into())))
    }

    #[test]
    fn the_index_decides_word_hits_and_non_candidates_only() {
        let a = answers();
        let d = |k: &K, uid| decide(k, uid, uid, &a);
        assert_eq!(d(&text(), 1), Some(true));
        assert_eq!(d(&text(), 2), None);
        assert_eq!(d(&text(), 3), Some(false));
        let not = K::Not(Box::new(text()));
        assert_eq!(
            [d(&not, 1), d(&not, 2), d(&not, 3)],
            [Some(false), None, Some(true)]
        );
        // A key the index does not answer leaves the message undecided unless the other
        // side of AND/OR settles it.
        let and = K::And(vec![text(), K::Flag(Flag::Seen, true)]);
        assert_eq!([d(&and, 1), d(&and, 3)], [None, Some(false)]);
        let or = K::Or(Box::new(text()), Box::new(K::Flag(Flag::Seen, true)));
        assert_eq!([d(&or, 1), d(&or, 3)], [Some(true), None]);
        let uids = K::And(vec![text(), K::Uids(vec![(2, 5)])]);
        assert_eq!([d(&uids, 1), d(&uids, 2)], [Some(false), None]);
    }
}
