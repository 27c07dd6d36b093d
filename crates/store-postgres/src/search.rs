//! The full-text index in PostgreSQL: [`PgSearchIndex`], with PostgreSQL's own full-text
//! search (tsvector, GIN, tsquery, `ts_rank`).
//!
//! Implementation notes (the rules of [`pochta_store::search`] apply on top):
//! - **Terms are [`analyze`]'s**, not a PostgreSQL text-search configuration's: the same
//!   Snowball stemmers (Russian for a word with Cyrillic letters, English otherwise — the
//!   choice PostgreSQL's `russian` configuration also makes per word), lower-casing and
//!   `ё`→`е` folding, done in Rust, so that this index and the embedded one answer every
//!   query alike (one conformance suite, one oracle). PostgreSQL stores, indexes and matches
//!   them: `search_docs.terms` is a `tsvector` under a GIN index, a query is a `tsquery`.
//! - **Fields**: each lexeme is a term prefixed by its field's digit (`0` subject, `1` from,
//!   … in the order of [`Fields::EACH`]), so one vector and one GIN index serve every field
//!   set: a clause's term becomes `('0t' | '5t' | …)` over the clause's fields, terms and
//!   clauses are joined with `&`. Lexemes have no positions (smaller vectors; `ts_rank` then
//!   counts which query terms matched, in how many fields).
//! - **Substring candidates** ([`SearchClause::substring`](pochta_store::search::SearchClause)):
//!   the vector also holds every unstemmed word ([`words`]) prefixed by its field's letter
//!   (`a` subject, `b` from, …); `search_words` is their vocabulary. A query word becomes the
//!   vocabulary's words that contain it (`strpos`: a scan of the vocabulary, not of the
//!   mail); one found in more than [`MAX_SUBSTRING_WORDS`] words is left out of the query
//!   (more candidates, which the caller verifies anyway).
//! - **FUZZY**: `search_terms` is the vocabulary of every term ever added (never shrunk: a
//!   stale term only widens a query by a word that matches nothing). A fuzzy query term is
//!   replaced by the vocabulary's terms within one edit ([`term_matches`]); candidates are
//!   those sharing the first ⌊n/2⌋ characters or the last ⌈n/2⌉ (one edit leaves one of the
//!   two halves intact), found through the primary key and an index on `reverse(term)`.
//!   Scores: `ts_rank` (above 0) for a query with a fuzzy clause, 1 otherwise (only FUZZY
//!   reports relevancy, and ranking would read every hit's vector).
//! - **Size limits**: a tsvector holds at most 1 MB; a document whose lexemes would pass
//!   [`MAX_VECTOR_BYTES`] keeps its first ones (text beyond is not found; extraction already
//!   caps a message's text at `pochta_extract::MAX_TEXT`).
//! - **Atomicity**: [`SearchIndex::add`] writes documents, vocabulary and watermarks in one
//!   transaction, rows in a fixed order (sorted), so concurrent indexers on several nodes
//!   cannot deadlock each other for long (a deadlock is retried like every write).
//! - **Several nodes** share the index as they share the store: it is in the database.
//! - `store copy` does not copy an index: the destination starts with every watermark at 0
//!   and the indexer rebuilds it from the messages (see `copy.rs`).

use std::collections::{BTreeMap, BTreeSet};

use pochta_store::Result;
use pochta_store::search::{
    FUZZY_MIN_CHARS, Fields, IndexBatch, SearchClause, SearchDocument, SearchHit, SearchIndex,
    SearchQuery, analyze, term_matches, words,
};
use pochta_types::{MailboxId, Uid};

use crate::{Pool, R, Tx};

/// Largest tsvector text written for one document (PostgreSQL's limit is 1 MB).
const MAX_VECTOR_BYTES: usize = 768 * 1024;

/// The full-text index on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgSearchIndex {
    pool: Pool,
}

impl PgSearchIndex {
    /// Connects and migrates (see [`Pool::open`]).
    pub fn open(url: &str, pool_size: u32) -> Result<PgSearchIndex> {
        Ok(PgSearchIndex {
            pool: Pool::open(url, pool_size)?,
        })
    }

    /// The index over an open pool (shared with the mail store).
    pub fn with_pool(pool: Pool) -> PgSearchIndex {
        PgSearchIndex { pool }
    }
}

/// The digit that tags a field's terms (stems).
fn field_tag(field: Fields) -> char {
    char::from(b'0' + field_index(field))
}

/// The letter that tags a field's words (unstemmed, for substring candidates).
fn word_tag(field: Fields) -> char {
    char::from(b'a' + field_index(field))
}

fn field_index(field: Fields) -> u8 {
    Fields::EACH
        .iter()
        .position(|(f, _)| *f == field)
        .map_or(0, |i| i as u8)
}

/// Quotes a lexeme for tsvector/tsquery input (terms are letters and digits; quote anyway).
fn quote(out: &mut String, lexeme: &str) {
    out.push('\'');
    for c in lexeme.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
}

/// Adds each of `items` prefixed by `tag` to the vector's `lexemes` (skipping those already
/// there) until the vector would pass [`MAX_VECTOR_BYTES`]; the items added go to `added`.
fn add_lexemes(
    tag: char,
    items: Vec<String>,
    lexemes: &mut BTreeSet<String>,
    bytes: &mut usize,
    added: &mut BTreeSet<String>,
) {
    for item in items {
        let mut lexeme = String::with_capacity(item.len() + 1);
        lexeme.push(tag);
        lexeme.push_str(&item);
        if lexemes.contains(&lexeme) {
            continue;
        }
        // Quotes and a separator on top of the lexeme.
        if *bytes + lexeme.len() + 3 > MAX_VECTOR_BYTES {
            break;
        }
        *bytes += lexeme.len() + 3;
        lexemes.insert(lexeme);
        added.insert(item);
    }
}

/// A document's tsvector text, its distinct terms and words (for the vocabularies).
fn vector(doc: &SearchDocument) -> (String, BTreeSet<String>, BTreeSet<String>) {
    let mut lexemes: BTreeSet<String> = BTreeSet::new();
    let mut terms = BTreeSet::new();
    let mut all_words = BTreeSet::new();
    let mut bytes = 0usize;
    for (field, _) in Fields::EACH {
        let text = field.text_of(doc);
        add_lexemes(
            field_tag(field),
            analyze(text),
            &mut lexemes,
            &mut bytes,
            &mut terms,
        );
        add_lexemes(
            word_tag(field),
            words(text),
            &mut lexemes,
            &mut bytes,
            &mut all_words,
        );
    }
    let mut out = String::with_capacity(bytes);
    for lexeme in &lexemes {
        if !out.is_empty() {
            out.push(' ');
        }
        quote(&mut out, lexeme);
    }
    (out, terms, all_words)
}

/// How many vocabulary words one substring may stand for in a query; a substring found in
/// more words (a letter or two) is left out of the query, which then returns more candidates
/// (a superset, as the trait allows: the caller verifies them).
const MAX_SUBSTRING_WORDS: i64 = 2000;

/// The vocabulary's words that contain `w`, or `None` when there are too many.
fn substring_variants(tx: &mut Tx<'_>, w: &str) -> R<Option<Vec<String>>> {
    let rows = tx.query(
        "SELECT word FROM search_words WHERE strpos(word, $1) > 0 LIMIT $2",
        &[&w, &(MAX_SUBSTRING_WORDS + 1)],
    )?;
    if rows.len() as i64 > MAX_SUBSTRING_WORDS {
        return Ok(None);
    }
    Ok(Some(rows.iter().map(|r| r.get::<_, String>(0)).collect()))
}

/// The vocabulary's terms within one edit of `q` (and `q` itself).
fn fuzzy_variants(tx: &mut Tx<'_>, q: &str) -> R<Vec<String>> {
    let chars: Vec<char> = q.chars().collect();
    let n = chars.len();
    let k = n / 2;
    let prefix: String = chars[..k].iter().collect();
    let suffix_reversed: String = chars[k..].iter().rev().collect();
    let like = |s: &str| {
        let mut p = String::with_capacity(s.len() + 1);
        for c in s.chars() {
            if matches!(c, '%' | '_' | '\\') {
                p.push('\\');
            }
            p.push(c);
        }
        p.push('%');
        p
    };
    let (lo, hi) = ((n as i32) - 1, (n as i32) + 1);
    let rows = tx.query(
        "SELECT term FROM search_terms
          WHERE (term LIKE $1 OR reverse(term) LIKE $2)
            AND char_length(term) BETWEEN $3 AND $4",
        &[&like(&prefix), &like(&suffix_reversed), &lo, &hi],
    )?;
    let mut out: BTreeSet<String> = rows
        .iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|t| term_matches(q, t, true))
        .collect();
    out.insert(q.to_owned());
    Ok(out.into_iter().collect())
}

/// What a query asks PostgreSQL.
enum Ts {
    /// No clause has a term: every document.
    All,
    /// A term must be in an empty set of fields: no document.
    Nothing,
    Query(String),
}

/// The tsquery text for `query`.
fn tsquery(tx: &mut Tx<'_>, query: &SearchQuery) -> R<Ts> {
    let mut out = String::new();
    for clause in &query.clauses {
        let mut seen = BTreeSet::new();
        if clause.substring {
            for w in words(&clause.text) {
                if !seen.insert(w.clone()) {
                    continue;
                }
                let Some(variants) = substring_variants(tx, &w)? else {
                    continue;
                };
                if variants.is_empty() {
                    return Ok(Ts::Nothing);
                }
                if !push_any(&mut out, clause.fields, &variants, word_tag) {
                    return Ok(Ts::Nothing);
                }
            }
            continue;
        }
        for term in analyze(&clause.text) {
            if !seen.insert(term.clone()) {
                continue;
            }
            let variants = if clause.fuzzy && term.chars().count() >= FUZZY_MIN_CHARS {
                fuzzy_variants(tx, &term)?
            } else {
                vec![term]
            };
            if !push_any(&mut out, clause.fields, &variants, field_tag) {
                return Ok(Ts::Nothing);
            }
        }
    }
    Ok(if out.is_empty() {
        Ts::All
    } else {
        Ts::Query(out)
    })
}

/// Appends ` & (tag(f)v | …)` over the fields and variants; false when there are none.
fn push_any(
    out: &mut String,
    fields: Fields,
    variants: &[String],
    tag: fn(Fields) -> char,
) -> bool {
    let start = out.len();
    if !out.is_empty() {
        out.push_str(" & ");
    }
    out.push('(');
    let mut first = true;
    for (field, _) in fields.each() {
        let t = tag(field);
        for v in variants {
            if !first {
                out.push_str(" | ");
            }
            first = false;
            let mut lexeme = String::with_capacity(v.len() + 1);
            lexeme.push(t);
            lexeme.push_str(v);
            quote(out, &lexeme);
        }
    }
    if first {
        out.truncate(start);
        return false;
    }
    out.push(')');
    true
}

fn uid_of(v: i64) -> Option<Uid> {
    u32::try_from(v).ok().and_then(Uid::new)
}

impl SearchIndex for PgSearchIndex {
    fn add(&self, batches: &[IndexBatch]) -> Result<()> {
        // Rows in a fixed order: (mailbox, uid) for documents, byte order for terms.
        let mut docs: BTreeMap<(i64, i64), String> = BTreeMap::new();
        let mut vocabulary: BTreeSet<String> = BTreeSet::new();
        let mut word_list: BTreeSet<String> = BTreeSet::new();
        let mut marks: BTreeMap<i64, i64> = BTreeMap::new();
        for b in batches {
            for (uid, doc) in &b.documents {
                let (v, terms, ws) = vector(doc);
                docs.insert((b.mailbox.0, i64::from(uid.get())), v);
                vocabulary.extend(terms);
                word_list.extend(ws);
            }
            let m = marks.entry(b.mailbox.0).or_insert(0);
            *m = (*m).max(i64::from(b.watermark));
        }
        let (mailboxes, uids): (Vec<i64>, Vec<i64>) = docs.keys().copied().unzip();
        let vectors: Vec<String> = docs.into_values().collect();
        let vocabulary: Vec<String> = vocabulary.into_iter().collect();
        let word_list: Vec<String> = word_list.into_iter().collect();
        let (mark_boxes, mark_values): (Vec<i64>, Vec<i64>) = marks.into_iter().unzip();
        Ok(self.pool.write(|tx| {
            if !vocabulary.is_empty() {
                tx.execute(
                    "INSERT INTO search_terms (term) SELECT unnest($1::text[])
                     ON CONFLICT DO NOTHING",
                    &[&vocabulary],
                )?;
            }
            if !word_list.is_empty() {
                tx.execute(
                    "INSERT INTO search_words (word) SELECT unnest($1::text[])
                     ON CONFLICT DO NOTHING",
                    &[&word_list],
                )?;
            }
            if !vectors.is_empty() {
                tx.execute(
                    "INSERT INTO search_docs (mailbox, uid, terms)
                     SELECT m, u, v::tsvector FROM unnest($1::bigint[], $2::bigint[], $3::text[])
                         AS x(m, u, v)
                     ON CONFLICT (mailbox, uid) DO UPDATE SET terms = excluded.terms",
                    &[&mailboxes, &uids, &vectors],
                )?;
            }
            tx.execute(
                "INSERT INTO search_watermarks (mailbox, watermark)
                 SELECT * FROM unnest($1::bigint[], $2::bigint[])
                 ON CONFLICT (mailbox) DO UPDATE
                     SET watermark = GREATEST(search_watermarks.watermark, excluded.watermark)",
                &[&mark_boxes, &mark_values],
            )?;
            Ok(())
        })?)
    }

    fn watermark(&self, mailbox: MailboxId) -> Result<u32> {
        let m = mailbox.0;
        let v = self.pool.read(|tx| {
            Ok(tx
                .query_opt(
                    "SELECT watermark FROM search_watermarks WHERE mailbox = $1",
                    &[&m],
                )?
                .map(|r| r.get::<_, i64>(0)))
        })?;
        Ok(v.map_or(0, |v| u32::try_from(v).unwrap_or(u32::MAX)))
    }

    fn remove(&self, mailbox: MailboxId, uids: &[Uid]) -> Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        let m = mailbox.0;
        let mut u: Vec<i64> = uids.iter().map(|u| i64::from(u.get())).collect();
        u.sort_unstable();
        Ok(self.pool.write(|tx| {
            tx.execute(
                "DELETE FROM search_docs WHERE mailbox = $1 AND uid = ANY($2)",
                &[&m, &u],
            )?;
            Ok(())
        })?)
    }

    fn remove_mailbox(&self, mailbox: MailboxId) -> Result<()> {
        let m = mailbox.0;
        Ok(self.pool.write(|tx| {
            tx.execute("DELETE FROM search_docs WHERE mailbox = $1", &[&m])?;
            tx.execute("DELETE FROM search_watermarks WHERE mailbox = $1", &[&m])?;
            Ok(())
        })?)
    }

    fn search(&self, mailboxes: &[MailboxId], query: &SearchQuery) -> Result<Vec<SearchHit>> {
        if mailboxes.is_empty() {
            return Ok(Vec::new());
        }
        let boxes: Vec<i64> = mailboxes.iter().map(|m| m.0).collect();
        let ranked = query.clauses.iter().any(|c| c.fuzzy);
        let rows = self.pool.snapshot(|tx| match tsquery(tx, query)? {
            Ts::Nothing => Ok(Vec::new()),
            Ts::All => tx.query(
                "SELECT mailbox, uid, 1::real FROM search_docs WHERE mailbox = ANY($1)",
                &[&boxes],
            ),
            Ts::Query(q) if ranked => {
                // The exact forms' rank is added, so that an exact word outranks a one-edit
                // neighbour (RFC 6203 relevancy; the embedded index does the same).
                let exact = SearchQuery {
                    clauses: query
                        .clauses
                        .iter()
                        .map(|c| SearchClause {
                            fuzzy: false,
                            ..c.clone()
                        })
                        .collect(),
                };
                let e = match tsquery(tx, &exact)? {
                    Ts::Query(e) => e,
                    _ => q.clone(),
                };
                tx.query(
                    "SELECT mailbox, uid,
                            GREATEST(ts_rank(terms, q) + ts_rank(terms, e), 1e-6)::real
                       FROM search_docs, CAST($2::text AS tsquery) AS q,
                            CAST($3::text AS tsquery) AS e
                      WHERE mailbox = ANY($1) AND terms @@ q",
                    &[&boxes, &q, &e],
                )
            }
            Ts::Query(q) => tx.query(
                "SELECT mailbox, uid, 1::real FROM search_docs
                      WHERE mailbox = ANY($1) AND terms @@ CAST($2::text AS tsquery)",
                &[&boxes, &q],
            ),
        })?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(SearchHit {
                    mailbox: MailboxId(r.get(0)),
                    uid: uid_of(r.get(1))?,
                    score: r.get::<_, f32>(2),
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_tags_fields() {
        let doc = SearchDocument {
            subject: "Письма".into(),
            body: "письмо письмо письмами it's".into(),
            ..Default::default()
        };
        let (v, terms, ws) = vector(&doc);
        let stem = &analyze("письмо")[0];
        assert!(v.contains(&format!("'0{stem}'")), "{v}");
        assert_eq!(v.matches(&format!("'5{stem}'")).count(), 1, "{v}");
        assert!(terms.contains(stem));
        assert!(ws.contains("письмами") && ws.contains("it"), "{ws:?}");
        assert!(v.contains("'fписьмами'"), "{v}");
        assert_eq!(field_tag(Fields::ATTACHMENT_TEXT), '7');
        let mut q = String::new();
        quote(&mut q, "a'b\\c");
        assert_eq!(q, "'a''b\\\\c'");
    }
}
