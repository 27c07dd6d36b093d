//! The embedded [`SearchIndex`]: a tantivy index in `data_dir/search/`.
//!
//! Implementation notes:
//! - One tantivy document per message: `mb` (mailbox id, indexed + fast), `uid` (fast), `key`
//!   (`"mb/uid"`, the term a replace or an expunge deletes by), and for each field of
//!   [`Fields::EACH`] two text fields: `<name>` holding the terms of
//!   [`pochta_store::search::analyze`] (word forms, with frequencies for BM25) and `<name>_w`
//!   holding every suffix of every word of [`pochta_store::search::words`] (unstemmed, each
//!   suffix once per document): a word `w` is a substring of a document word exactly when it
//!   is a prefix of one of that word's suffixes, so substring candidates are a `w.*` prefix
//!   walk of the term dictionary (FST-pruned: only the terms that start with `w` are
//!   visited). Schema 1 held the words themselves and ran `.*w.*`, which visits the whole
//!   dictionary of every field in every segment: ~0.3–1 s per query at 100,000 letters
//!   (bench/search.sh). Words are at most `MAX_TERM_CHARS` (64) characters, so a word gives at
//!   most 64 suffixes of at most 64 characters.
//!   The tokenizers call those functions, so the index holds exactly the reference terms.
//! - Watermarks live in the commit payload (`mb:watermark,…`), so documents and watermarks
//!   are committed together (the trait's atomicity rule). A commit per [`SearchIndex::add`]
//!   (a batch); searches see it at once (the reader is reloaded after each commit).
//! - Missing, unreadable or of another schema: the directory is removed and an empty index
//!   created (every watermark 0), so the indexer rebuilds it. It is derived data.
//! - One writer (tantivy allows one per directory) behind a mutex: 1 indexing thread and
//!   a [`WRITER_ARENA`] (64 MB) arena, merges on tantivy's background threads. The arena is a
//!   bound, not an allocation: it fills as documents are added and is emptied by every commit
//!   (a batch of the indexer, at most 256 letters); with every suffix indexed a 2.2 KB letter
//!   takes ~170 KB of it, so tantivy's minimum (15 MB) flushed a segment every ~90 letters,
//!   three per batch, each merged again later.
//! - Scores: BM25 of the word-form terms; fuzzy and substring terms score a constant (a
//!   fuzzy term's exact form adds its BM25, so exact words rank first).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use pochta_store::search::{Fields, IndexBatch, SearchHit, SearchIndex, SearchQuery};
use pochta_store::{Result, StoreError};
use pochta_types::{MailboxId, Uid};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::{
    BooleanQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, RegexQuery, TermQuery,
    TermSetQuery,
};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::{DocId, Index, IndexReader, IndexWriter, ReloadPolicy, Score, SegmentReader};
use tantivy::{SegmentOrdinal, TantivyDocument, Term};

/// The directory under `data_dir`.
pub const SEARCH_DIR: &str = "search";

/// The writer's memory arena in bytes (see the module docs).
const WRITER_ARENA: usize = 64 << 20;

/// Schema version, kept in the directory as `pochta-schema`; another value rebuilds.
const SCHEMA_VERSION: &str = "2";

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("search index: {e}"))
}

/// Our analyzers as tantivy tokenizers: `stem` → the terms of `analyze`, otherwise the
/// suffixes of `words` (each once).
#[derive(Clone)]
struct Terms {
    stem: bool,
}

/// What `analyze` and `words` split on (`!is_alphanumeric`, with the Russian alphabet
/// answered before the Unicode table lookup).
fn not_word(c: char) -> bool {
    !(c.is_ascii_alphanumeric()
        || matches!(c, 'а'..='я' | 'А'..='Я' | 'ё' | 'Ё')
        || (!c.is_ascii() && c.is_alphanumeric()))
}

type Set<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;
type Map<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Every suffix of every word of `text`, each once (in no particular order: the field keeps
/// no positions).
///
/// Cost per message is what the mix's indexer spends, so: a word seen before (as written) is
/// skipped before it is folded, and a word's suffixes are added from the longest down only
/// until one is already there (every suffix of a suffix in the set is in the set).
fn suffixes(text: &str) -> Vec<String> {
    let mut raw = Set::default();
    let mut seen: Set<String> = Set::default();
    for word in text.split(not_word) {
        if word.is_empty() || !raw.insert(word) {
            continue;
        }
        // `words` of one word: the word folded, or nothing when it is too long.
        let Some(w) = pochta_store::search::words(word).pop() else {
            continue;
        };
        for (i, _) in w.char_indices() {
            let s = &w[i..];
            if seen.contains(s) {
                break;
            }
            seen.insert(s.to_owned());
        }
    }
    seen.into_iter().collect()
}

/// The terms of `analyze(text)` in order, each word analyzed once per text (stemming is most
/// of the cost; a letter repeats its words) and handed to tantivy in one reused token.
struct StemStream<'a> {
    words: std::str::Split<'a, fn(char) -> bool>,
    cache: Map<&'a str, Option<String>>,
    token: Token,
    next_position: usize,
}

impl TokenStream for StemStream<'_> {
    fn advance(&mut self) -> bool {
        for word in self.words.by_ref() {
            if word.is_empty() {
                continue;
            }
            // `analyze` of one word: its term, or nothing when it is too long.
            let term = self
                .cache
                .entry(word)
                .or_insert_with(|| pochta_store::search::analyze(word).pop());
            if let Some(term) = term {
                self.token.text.clear();
                self.token.text.push_str(term);
                self.token.position = self.next_position;
                self.next_position += 1;
                return true;
            }
        }
        false
    }
    fn token(&self) -> &Token {
        &self.token
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}

struct Stream {
    tokens: Vec<Token>,
    next: usize,
}

impl TokenStream for Stream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }
    fn token(&self) -> &Token {
        &self.tokens[self.next.saturating_sub(1).min(self.tokens.len() - 1)]
    }
    fn token_mut(&mut self) -> &mut Token {
        let i = self.next.saturating_sub(1).min(self.tokens.len() - 1);
        &mut self.tokens[i]
    }
}

/// Either stream.
enum Either<'a> {
    Stem(StemStream<'a>),
    Suffixes(Stream),
}

impl TokenStream for Either<'_> {
    fn advance(&mut self) -> bool {
        match self {
            Either::Stem(s) => s.advance(),
            Either::Suffixes(s) => s.advance(),
        }
    }
    fn token(&self) -> &Token {
        match self {
            Either::Stem(s) => s.token(),
            Either::Suffixes(s) => s.token(),
        }
    }
    fn token_mut(&mut self) -> &mut Token {
        match self {
            Either::Stem(s) => s.token_mut(),
            Either::Suffixes(s) => s.token_mut(),
        }
    }
}

impl Tokenizer for Terms {
    type TokenStream<'a> = Either<'a>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> Either<'a> {
        if self.stem {
            return Either::Stem(StemStream {
                words: text.split(not_word as fn(char) -> bool),
                cache: Default::default(),
                token: Token {
                    offset_from: 0,
                    offset_to: 0,
                    position: 0,
                    text: String::new(),
                    position_length: 1,
                },
                next_position: 0,
            });
        }
        let tokens = suffixes(text)
            .into_iter()
            .enumerate()
            .map(|(position, text)| Token {
                offset_from: 0,
                offset_to: 0,
                position,
                text,
                position_length: 1,
            })
            .collect();
        Either::Suffixes(Stream { tokens, next: 0 })
    }
}

struct Schemaf {
    mb: Field,
    uid: Field,
    key: Field,
    /// Per [`Fields::EACH`] entry: (terms field, words field).
    text: Vec<(Fields, Field, Field)>,
}

fn schema() -> (Schema, Schemaf) {
    let mut b = Schema::builder();
    let mb = b.add_i64_field("mb", INDEXED | FAST);
    let uid = b.add_u64_field("uid", FAST);
    let key = b.add_text_field("key", STRING);
    let terms = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("pochta_terms")
            .set_index_option(IndexRecordOption::WithFreqs),
    );
    let words = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("pochta_suffixes")
            .set_index_option(IndexRecordOption::Basic),
    );
    let text = Fields::EACH
        .iter()
        .map(|&(f, name)| {
            (
                f,
                b.add_text_field(name, terms.clone()),
                b.add_text_field(&format!("{name}_w"), words.clone()),
            )
        })
        .collect();
    (b.build(), Schemaf { mb, uid, key, text })
}

struct Writer {
    writer: IndexWriter<TantivyDocument>,
    watermarks: BTreeMap<i64, u32>,
}

/// The embedded full-text index (see the module docs).
pub struct EmbeddedSearchIndex {
    dir: PathBuf,
    reader: IndexReader,
    fields: Schemaf,
    writer: Mutex<Writer>,
}

impl std::fmt::Debug for EmbeddedSearchIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedSearchIndex")
            .field("dir", &self.dir)
            .finish()
    }
}

fn parse_payload(p: Option<&str>) -> BTreeMap<i64, u32> {
    p.unwrap_or("")
        .split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once(':')?;
            Some((k.parse().ok()?, v.parse().ok()?))
        })
        .collect()
}

fn payload(w: &BTreeMap<i64, u32>) -> String {
    w.iter()
        .filter(|&(_, &v)| v > 0)
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn open_existing(dir: &Path) -> std::result::Result<Index, String> {
    let version = std::fs::read_to_string(dir.join("pochta-schema")).map_err(|e| e.to_string())?;
    if version.trim() != SCHEMA_VERSION {
        return Err(format!("schema version {version:?}"));
    }
    let index = Index::open_in_dir(dir).map_err(|e| e.to_string())?;
    if index.schema() != schema().0 {
        return Err("another schema".into());
    }
    index.load_metas().map_err(|e| e.to_string())?;
    Ok(index)
}

impl EmbeddedSearchIndex {
    /// Opens (or creates, or rebuilds when damaged) the index in `data_dir/search`.
    pub fn open(data_dir: &Path) -> Result<EmbeddedSearchIndex> {
        let dir = data_dir.join(SEARCH_DIR);
        let index = match open_existing(&dir) {
            Ok(index) => index,
            Err(why) => {
                if dir.exists() {
                    tracing::warn!(dir = %dir.display(), %why, "search index unusable: rebuilding it");
                    std::fs::remove_dir_all(&dir).map_err(err)?;
                }
                std::fs::create_dir_all(&dir).map_err(err)?;
                let index = Index::create_in_dir(&dir, schema().0).map_err(err)?;
                std::fs::write(dir.join("pochta-schema"), SCHEMA_VERSION).map_err(err)?;
                index
            }
        };
        Self::with_index(dir, index)
    }

    fn with_index(dir: PathBuf, index: Index) -> Result<EmbeddedSearchIndex> {
        index
            .tokenizers()
            .register("pochta_terms", Terms { stem: true });
        index
            .tokenizers()
            .register("pochta_suffixes", Terms { stem: false });
        let (_, fields) = schema();
        let watermarks = parse_payload(index.load_metas().map_err(err)?.payload.as_deref());
        let writer = index
            .writer_with_num_threads(1, WRITER_ARENA)
            .map_err(err)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(err)?;
        Ok(EmbeddedSearchIndex {
            dir,
            reader,
            fields,
            writer: Mutex::new(Writer { writer, watermarks }),
        })
    }

    /// The index directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn key(mailbox: MailboxId, uid: Uid) -> String {
        format!("{}/{}", mailbox.0, uid.get())
    }

    fn commit(&self, w: &mut Writer) -> Result<()> {
        let mut prepared = w.writer.prepare_commit().map_err(err)?;
        prepared.set_payload(&payload(&w.watermarks));
        prepared.commit().map_err(err)?;
        self.reader.reload().map_err(err)
    }

    fn clause_query(
        &self,
        fields: Fields,
        text: &str,
        fuzzy: bool,
        substring: bool,
    ) -> Vec<Box<dyn Query>> {
        let mut musts: Vec<Box<dyn Query>> = Vec::new();
        let chosen: Vec<&(Fields, Field, Field)> = self
            .fields
            .text
            .iter()
            .filter(|(f, _, _)| fields.contains(*f))
            .collect();
        if substring {
            for w in pochta_store::search::words(text) {
                // A prefix of a suffix (see the module docs).
                let pattern = format!("{}.*", regex_escape(&w));
                let any: Vec<Box<dyn Query>> = chosen
                    .iter()
                    .filter_map(|&&(_, _, wf)| {
                        RegexQuery::from_pattern(&pattern, wf)
                            .ok()
                            .map(|q| Box::new(q) as Box<dyn Query>)
                    })
                    .collect();
                musts.push(Box::new(BooleanQuery::union(any)));
            }
            return musts;
        }
        for t in pochta_store::search::analyze(text) {
            let fz = fuzzy && t.chars().count() >= pochta_store::search::FUZZY_MIN_CHARS;
            let any: Vec<Box<dyn Query>> = chosen
                .iter()
                .map(|&&(_, tf, _)| {
                    let term = Term::from_field_text(tf, &t);
                    if fz {
                        // The exact form scores BM25 on top of the fuzzy match's constant, so
                        // an exact word outranks a one-edit neighbour (RFC 6203 relevancy).
                        let exact = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs);
                        Box::new(BooleanQuery::union(vec![
                            Box::new(exact) as Box<dyn Query>,
                            Box::new(FuzzyTermQuery::new(term, 1, false)),
                        ])) as Box<dyn Query>
                    } else {
                        Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))
                    }
                })
                .collect();
            musts.push(Box::new(BooleanQuery::union(any)));
        }
        musts
    }
}

/// Escapes regex metacharacters (words are letters and digits, but be safe).
fn regex_escape(w: &str) -> String {
    let mut out = String::with_capacity(w.len());
    for c in w.chars() {
        if !c.is_alphanumeric() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Collects (mailbox, uid, score) of every match.
struct Hits;

struct SegmentHits {
    mb: Column<i64>,
    uid: Column<u64>,
    out: Vec<SearchHit>,
}

impl Collector for Hits {
    type Fruit = Vec<SearchHit>;
    type Child = SegmentHits;
    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentHits> {
        Ok(SegmentHits {
            mb: reader.fast_fields().i64("mb")?,
            uid: reader.fast_fields().u64("uid")?,
            out: Vec::new(),
        })
    }
    fn requires_scoring(&self) -> bool {
        true
    }
    fn merge_fruits(&self, fruits: Vec<Vec<SearchHit>>) -> tantivy::Result<Vec<SearchHit>> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

impl SegmentCollector for SegmentHits {
    type Fruit = Vec<SearchHit>;
    fn collect(&mut self, doc: DocId, score: Score) {
        let (Some(mb), Some(uid)) = (self.mb.first(doc), self.uid.first(doc)) else {
            return;
        };
        let Some(uid) = u32::try_from(uid).ok().and_then(Uid::new) else {
            return;
        };
        self.out.push(SearchHit {
            mailbox: MailboxId(mb),
            uid,
            score: if score > 0.0 {
                score
            } else {
                f32::MIN_POSITIVE
            },
        });
    }
    fn harvest(self) -> Vec<SearchHit> {
        self.out
    }
}

impl SearchIndex for EmbeddedSearchIndex {
    fn add(&self, batches: &[IndexBatch]) -> Result<()> {
        let mut w = self.writer.lock();
        let f = &self.fields;
        for b in batches {
            for (uid, doc) in &b.documents {
                let key = Self::key(b.mailbox, *uid);
                w.writer.delete_term(Term::from_field_text(f.key, &key));
                let mut d = TantivyDocument::default();
                d.add_i64(f.mb, b.mailbox.0);
                d.add_u64(f.uid, u64::from(uid.get()));
                d.add_text(f.key, &key);
                for &(field, tf, wf) in &f.text {
                    let text = field.text_of(doc);
                    if !text.is_empty() {
                        d.add_text(tf, text);
                        d.add_text(wf, text);
                    }
                }
                w.writer.add_document(d).map_err(err)?;
            }
            let wm = w.watermarks.entry(b.mailbox.0).or_insert(0);
            *wm = (*wm).max(b.watermark);
        }
        self.commit(&mut w)
    }

    fn watermark(&self, mailbox: MailboxId) -> Result<u32> {
        Ok(self
            .writer
            .lock()
            .watermarks
            .get(&mailbox.0)
            .copied()
            .unwrap_or(0))
    }

    fn remove(&self, mailbox: MailboxId, uids: &[Uid]) -> Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        let mut w = self.writer.lock();
        for uid in uids {
            let key = Self::key(mailbox, *uid);
            w.writer
                .delete_term(Term::from_field_text(self.fields.key, &key));
        }
        self.commit(&mut w)
    }

    fn remove_mailbox(&self, mailbox: MailboxId) -> Result<()> {
        let mut w = self.writer.lock();
        w.writer
            .delete_term(Term::from_field_i64(self.fields.mb, mailbox.0));
        w.watermarks.remove(&mailbox.0);
        self.commit(&mut w)
    }

    fn search(&self, mailboxes: &[MailboxId], query: &SearchQuery) -> Result<Vec<SearchHit>> {
        if mailboxes.is_empty() {
            return Ok(Vec::new());
        }
        let filter = TermSetQuery::new(
            mailboxes
                .iter()
                .map(|m| Term::from_field_i64(self.fields.mb, m.0)),
        );
        let mut musts: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Must,
            Box::new(ConstScoreQuery::new(Box::new(filter), 0.001)),
        )];
        for c in &query.clauses {
            for q in self.clause_query(c.fields, &c.text, c.fuzzy, c.substring) {
                musts.push((Occur::Must, q));
            }
        }
        let q = BooleanQuery::new(musts);
        let searcher = self.reader.searcher();
        searcher.search(&q, &Hits).map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixture(tempfile::TempDir);

    impl pochta_store::conformance::search::SearchFixture for Fixture {
        type Index = EmbeddedSearchIndex;
        fn create() -> Self {
            Fixture(tempfile::tempdir().unwrap())
        }
        fn open(&self) -> EmbeddedSearchIndex {
            EmbeddedSearchIndex::open(self.0.path()).unwrap()
        }
    }

    pochta_store::search_conformance_tests!(Fixture);

    fn tokens(stem: bool, text: &str) -> Vec<String> {
        let mut t = Terms { stem };
        let mut stream = t.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    #[test]
    fn the_split_is_is_alphanumeric() {
        for c in (0..0x3000u32).filter_map(char::from_u32) {
            assert_eq!(not_word(c), !c.is_alphanumeric(), "{c:?}");
        }
    }

    /// The tokenizers hand tantivy exactly the reference terms: `analyze` in order with
    /// repeats (frequencies), and the set of every suffix of every word of `words`.
    #[test]
    fn tokenizers_give_the_reference_terms() {
        let long = "x".repeat(70);
        let text = format!(
            "Reports report REPORT ports Ёлка ёлки, ёлка; письма Письмами письма {long} \
             İstanbul ß straße a1b2 report-port port"
        );
        assert_eq!(tokens(true, &text), pochta_store::search::analyze(&text));
        let mut want: Vec<String> = pochta_store::search::words(&text)
            .iter()
            .flat_map(|w| {
                w.char_indices()
                    .map(|(i, _)| w[i..].to_owned())
                    .collect::<Vec<_>>()
            })
            .collect::<std::collections::HashSet<_>>()
            .into_iter()
            .collect();
        want.sort();
        let mut got = tokens(false, &text);
        let n = got.len();
        got.sort();
        got.dedup();
        assert_eq!(got.len(), n, "each suffix once");
        assert_eq!(got, want);
        assert!(tokens(true, "").is_empty() && tokens(false, "").is_empty());
    }

    #[test]
    fn a_damaged_index_is_rebuilt_empty() {
        let dir = tempfile::tempdir().unwrap();
        {
            let ix = EmbeddedSearchIndex::open(dir.path()).unwrap();
            ix.add(&[IndexBatch {
                mailbox: MailboxId(1),
                documents: vec![(Uid::new(1).unwrap(), Default::default())],
                watermark: 1,
            }])
            .unwrap();
            assert_eq!(ix.watermark(MailboxId(1)).unwrap(), 1);
        }
        let meta = dir.path().join(SEARCH_DIR).join("meta.json");
        std::fs::write(&meta, b"{ not json").unwrap();
        let ix = EmbeddedSearchIndex::open(dir.path()).unwrap();
        assert_eq!(ix.watermark(MailboxId(1)).unwrap(), 0);
        drop(ix);
        std::fs::remove_dir_all(dir.path().join(SEARCH_DIR)).unwrap();
        let ix = EmbeddedSearchIndex::open(dir.path()).unwrap();
        assert_eq!(ix.watermark(MailboxId(1)).unwrap(), 0);
    }
}
