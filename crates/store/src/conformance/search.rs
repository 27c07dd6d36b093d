//! The conformance suite every [`SearchIndex`] backend runs (the rules are in
//! [`crate::search`]).
//!
//! ```ignore
//! struct Embedded(tempfile::TempDir);
//! impl pochta_store::conformance::search::SearchFixture for Embedded { /* … */ }
//! pochta_store::search_conformance_tests!(Embedded);
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use pochta_types::{MailboxId, Uid};

use crate::search::{Fields, IndexBatch, SearchClause, SearchDocument, SearchIndex, SearchQuery};

/// Storage under test.
pub trait SearchFixture: Sized {
    type Index: SearchIndex;
    /// Fresh, empty storage.
    fn create() -> Self;
    /// An index over this storage; opened again, it shows everything committed before.
    fn open(&self) -> Self::Index;
}

/// Expand to one `#[test]` per search conformance check.
#[macro_export]
macro_rules! search_conformance_tests {
    ($fixture:ty) => {
        $crate::search_conformance_tests!(@each $fixture;
            word_forms_are_found,
            fields_are_kept_apart,
            every_term_and_every_clause_must_match,
            only_the_mailboxes_asked_for,
            watermarks_move_with_batches,
            removed_documents_are_not_found,
            adding_again_replaces,
            fuzzy_matches_one_edit,
            fuzzy_ranks_the_exact_form_first,
            substring_candidates,
            agrees_with_the_reference_evaluator,
            index_is_durable
        );
    };
    (@each $fixture:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::search::$name::<$fixture>();
            }
        )*
    };
}

const M1: MailboxId = MailboxId(1);
const M2: MailboxId = MailboxId(2);

fn uid(n: u32) -> Uid {
    Uid::new(n).unwrap()
}

fn doc(subject: &str, body: &str) -> SearchDocument {
    SearchDocument {
        subject: subject.into(),
        body: body.into(),
        ..Default::default()
    }
}

/// A small mixed Russian/English corpus, UIDs 1.. in order.
fn corpus() -> Vec<SearchDocument> {
    vec![
        doc("Письмо от бабушки", "Привет! Посылаю тебе письмо с ёлкой."),
        doc(
            "Meeting notes",
            "The letters were sent yesterday; meetings moved.",
        ),
        SearchDocument {
            subject: "Отчёт".into(),
            from: "Пётр Иванов petr@example.org".into(),
            to: "Анна anna@example.org".into(),
            cc: "boss@example.com".into(),
            bcc: "archive@example.net".into(),
            headers: "X-Mailer: Почта\nMessage-ID: <abc@example.org>".into(),
            body: "Смотрите вложение.".into(),
            attachment_names: "отчёт-за-май.pdf".into(),
            attachment_text: "Квартальные показатели выросли, письмами подтверждено.".into(),
        },
        doc("Re: письма", "Hello world, hello again"),
        doc("", "Ничего интересного, только погода."),
    ]
}

fn load(index: &impl SearchIndex, mailbox: MailboxId, docs: Vec<SearchDocument>) {
    let n = docs.len() as u32;
    index
        .add(&[IndexBatch {
            mailbox,
            documents: docs
                .into_iter()
                .enumerate()
                .map(|(i, d)| (uid(i as u32 + 1), d))
                .collect(),
            watermark: n,
        }])
        .unwrap();
}

fn uids(index: &impl SearchIndex, mailboxes: &[MailboxId], q: &SearchQuery) -> BTreeSet<u32> {
    let hits = index.search(mailboxes, q).unwrap();
    for h in &hits {
        assert!(h.score > 0.0, "score must be positive: {h:?}");
        assert!(
            mailboxes.contains(&h.mailbox),
            "hit outside the mailboxes: {h:?}"
        );
    }
    let set: BTreeSet<u32> = hits.iter().map(|h| h.uid.get()).collect();
    assert_eq!(set.len(), hits.len(), "a hit was returned twice: {hits:?}");
    set
}

fn find(index: &impl SearchIndex, fields: Fields, text: &str) -> BTreeSet<u32> {
    uids(index, &[M1], &SearchQuery::new(fields, text, false))
}

fn set(v: &[u32]) -> BTreeSet<u32> {
    v.iter().copied().collect()
}

pub fn word_forms_are_found<F: SearchFixture>() {
    let f = F::create();
    let ix = f.open();
    load(&ix, M1, corpus());
    // письмо / письма / письмами share a stem: subject of 1 and 4, body of 1, attachment of 3.
    assert_eq!(find(&ix, Fields::ALL, "письмами"), set(&[1, 3, 4]));
    assert_eq!(find(&ix, Fields::ALL, "ПИСЬМО"), set(&[1, 3, 4]));
    // ё and е are one letter.
    assert_eq!(find(&ix, Fields::ALL, "елкой"), set(&[1]));
    assert_eq!(find(&ix, Fields::ALL, "отчет"), set(&[3]));
    // English stems.
    assert_eq!(find(&ix, Fields::ALL, "letter"), set(&[2]));
    assert_eq!(find(&ix, Fields::ALL, "meeting"), set(&[2]));
    assert_eq!(find(&ix, Fields::ALL, "absent"), set(&[]));
}

pub fn fields_are_kept_apart<F: SearchFixture>() {
    let f = F::create();
    let ix = f.open();
    load(&ix, M1, corpus());
    assert_eq!(find(&ix, Fields::SUBJECT, "письмо"), set(&[1, 4]));
    assert_eq!(find(&ix, Fields::BODY, "письмо"), set(&[1]));
    assert_eq!(find(&ix, Fields::BODY_ALL, "письмо"), set(&[1, 3]));
    assert_eq!(find(&ix, Fields::ATTACHMENT_TEXT, "показатели"), set(&[3]));
    assert_eq!(find(&ix, Fields::ATTACHMENT_NAMES, "май"), set(&[3]));
    assert_eq!(find(&ix, Fields::FROM, "петр"), set(&[3]));
    assert_eq!(find(&ix, Fields::FROM, "anna"), set(&[]));
    assert_eq!(find(&ix, Fields::TO, "anna"), set(&[3]));
    assert_eq!(find(&ix, Fields::CC, "boss"), set(&[3]));
    assert_eq!(find(&ix, Fields::BCC, "archive"), set(&[3]));
    assert_eq!(find(&ix, Fields::FROM.union(Fields::TO), "anna"), set(&[3]));
}

pub fn every_term_and_every_clause_must_match<F: SearchFixture>() {
    let f = F::create();
    let ix = f.open();
    load(&ix, M1, corpus());
    assert_eq!(find(&ix, Fields::ALL, "hello world"), set(&[4]));
    assert_eq!(find(&ix, Fields::ALL, "hello letters"), set(&[]));
    // Terms of one clause may be in different fields of the set.
    assert_eq!(find(&ix, Fields::ALL, "письма hello"), set(&[4]));
    let two = SearchQuery {
        clauses: vec![
            SearchClause {
                fields: Fields::SUBJECT,
                text: "письмо".into(),
                fuzzy: false,
                substring: false,
            },
            SearchClause {
                fields: Fields::BODY,
                text: "hello".into(),
                fuzzy: false,
                substring: false,
            },
        ],
    };
    assert_eq!(uids(&ix, &[M1], &two), set(&[4]));
    // A clause without terms matches everything.
    assert_eq!(find(&ix, Fields::ALL, " -- "), set(&[1, 2, 3, 4, 5]));
}

pub fn only_the_mailboxes_asked_for<F: SearchFixture>() {
    let f = F::create();
    let ix = f.open();
    load(&ix, M1, corpus());
    load(&ix, M2, vec![doc("другое письмо", "")]);
    let q = SearchQuery::new(Fields::ALL, "письмо", false);
    assert_eq!(uids(&ix, &[M2], &q), set(&[1]));
    let both = ix.search(&[M1, M2], &q).unwrap();
    assert_eq!(both.len(), 4);
    assert_eq!(both.iter().filter(|h| h.mailbox == M2).count(), 1);
    assert!(ix.search(&[MailboxId(99)], &q).unwrap().is_empty());
    assert!(ix.search(&[], &q).unwrap().is_empty());
}

pub fn watermarks_move_with_batches<F: SearchFixture>() {
    let f = F::create();
    let ix = f.open();
    assert_eq!(ix.watermark(M1).unwrap(), 0);
    load(&ix, M1, corpus());
    assert_eq!(ix.watermark(M1).unwrap(), 5);
    assert_eq!(ix.watermark(M2).unwrap(), 0);
    // A batch without documents moves only the watermark (messages expunged meanwhile).
    ix.add(&[IndexBatch {
        mailbox: M1,
        documents: vec![],
        watermark: 9,
    }])
    .unwrap();
    assert_eq!(ix.watermark(M1).unwrap(), 9);
    // Never down through add.
    ix.add(&[IndexBatch {
        mailbox: M1,
        documents: vec![],
        watermark: 3,
    }])
    .unwrap();
    assert_eq!(ix.watermark(M1).unwrap(), 9);
    // Two mailboxes in one batch.
    ix.add(&[
        IndexBatch {
            mailbox: M2,
            documents: vec![(uid(1), doc("x", "y"))],
            watermark: 1,
        },
        IndexBatch {
            mailbox: M1,
            documents: vec![(uid(10), doc("десятое", ""))],
            watermark: 10,
        },
    ])
    .unwrap();
    assert_eq!(ix.watermark(M1).unwrap(), 10);
    assert_eq!(ix.watermark(M2).unwrap(), 1);
    assert_eq!(find(&ix, Fields::SUBJECT, "десятое"), set(&[10]));
    ix.remove_mailbox(M1).unwrap();
    assert_eq!(ix.watermark(M1).unwrap(), 0);
    assert_eq!(ix.watermark(M2).unwrap(), 1);
    assert_eq!(find(&ix, Fields::ALL, "письмо"), set(&[]));
    assert_eq!(
        uids(&ix, &[M2], &SearchQuery::new(Fields::ALL, "x", false)),
        set(&[1])
    );
}

pub fn removed_documents_are_not_found<F: SearchFixture>() {
    let f = F::create();
    let ix = f.open();
    load(&ix, M1, corpus());
    load(&ix, M2, corpus());
    ix.remove(M1, &[uid(1), uid(4), uid(77)]).unwrap();
    assert_eq!(find(&ix, Fields::ALL, "письмо"), set(&[3]));
    assert_eq!(
        uids(&ix, &[M2], &SearchQuery::new(Fields::ALL, "письмо", false)),
        set(&[1, 3, 4])
    );
    assert_eq!(ix.watermark(M1).unwrap(), 5, "remove keeps the watermark");
}

pub fn adding_again_replaces<F: SearchFixture>() {
    let f = F::create();
    let ix = f.open();
    load(&ix, M1, corpus());
    ix.add(&[IndexBatch {
        mailbox: M1,
        documents: vec![(uid(2), doc("replaced", "nothing else"))],
        watermark: 5,
    }])
    .unwrap();
    assert_eq!(find(&ix, Fields::ALL, "letters"), set(&[]));
    assert_eq!(find(&ix, Fields::ALL, "replaced"), set(&[2]));
    assert_eq!(ix.search(&[M1], &SearchQuery::default()).unwrap().len(), 5);
}

pub fn fuzzy_matches_one_edit<F: SearchFixture>() {
    let f = F::create();
    let ix = f.open();
    load(&ix, M1, corpus());
    let fuzzy = |t: &str| uids(&ix, &[M1], &SearchQuery::new(Fields::ALL, t, true));
    // "leters" → stem "leter", one edit from "letter".
    assert_eq!(find(&ix, Fields::ALL, "leters"), set(&[]));
    assert_eq!(fuzzy("leters"), set(&[2]));
    assert_eq!(fuzzy("погода"), set(&[5]));
    assert_eq!(fuzzy("пагода"), set(&[5]));
    // Short terms are exact even when fuzzy.
    assert_eq!(fuzzy("wrd"), set(&[]));
    assert_eq!(fuzzy("wrld"), set(&[4]));
}

/// RFC 6203 relevancy: a document with the exact word form scores above one that matches
/// only through a one-edit neighbour (the IMAP layer scales scores to 1..100).
pub fn fuzzy_ranks_the_exact_form_first<F: SearchFixture>() {
    let f = F::create();
    let ix = f.open();
    load(
        &ix,
        M1,
        vec![
            doc("one", "please read the raport today"),
            doc("two", "please read the report today"),
            doc("three", "nothing to see"),
        ],
    );
    for (text, best) in [("report", 2), ("raport", 1)] {
        let hits = ix
            .search(&[M1], &SearchQuery::new(Fields::ALL, text, true))
            .unwrap();
        assert_eq!(hits.len(), 2, "{text}: {hits:?}");
        let top = hits
            .iter()
            .max_by(|a, b| a.score.total_cmp(&b.score))
            .unwrap();
        let low = hits
            .iter()
            .min_by(|a, b| a.score.total_cmp(&b.score))
            .unwrap();
        assert_eq!(top.uid.get(), best, "{text}: {hits:?}");
        assert!(top.score > low.score, "{text}: {hits:?}");
    }
}

pub fn substring_candidates<F: SearchFixture>() {
    let f = F::create();
    let ix = f.open();
    let mut docs = corpus();
    docs[1].headers = "X-Extra: hello beautiful header\nX-Mailer: Пошта 1.0".into();
    load(&ix, M1, docs);
    let sub = |fields, t: &str| uids(&ix, &[M1], &SearchQuery::substring(fields, t));
    assert_eq!(sub(Fields::ALL, "eautiful head"), set(&[2]));
    assert_eq!(sub(Fields::HEADERS, "ПОШТ"), set(&[2]));
    assert_eq!(sub(Fields::BODY, "ello wor"), set(&[4]));
    assert_eq!(sub(Fields::BODY, "ЁЛК"), set(&[1]));
    // Unstemmed: "letters" is found by "tters", which is not in the stem "letter".
    assert_eq!(sub(Fields::BODY, "tters"), set(&[2]));
    assert_eq!(sub(Fields::SUBJECT, "ello"), set(&[]));
    assert_eq!(sub(Fields::ALL, "example.org"), set(&[3]));
    assert_eq!(sub(Fields::ALL, "@"), set(&[1, 2, 3, 4, 5]));
}

pub fn agrees_with_the_reference_evaluator<F: SearchFixture>() {
    let f = F::create();
    let ix = f.open();
    let docs = corpus();
    load(&ix, M1, docs.clone());
    let texts = [
        "письмо",
        "hello",
        "HELLO world",
        "ёлка",
        "отчёт май",
        "example",
        "example.org",
        "petr@example.org",
        "meetings letter",
        "погоду",
        "квартальный",
        "leters",
        "nothing",
    ];
    let fieldsets = [
        Fields::ALL,
        Fields::HEADERS,
        Fields::BODY_ALL,
        Fields::SUBJECT,
        Fields::FROM.union(Fields::TO),
    ];
    for text in texts {
        for fields in fieldsets {
            for fuzzy in [false, true] {
                let mut q = SearchQuery::new(fields, text, fuzzy);
                // fuzzy=true also runs the substring mode.
                q.clauses[0].substring = fuzzy && text.len() % 2 == 0;
                let want: BTreeSet<u32> = docs
                    .iter()
                    .enumerate()
                    .filter(|(_, d)| q.matches(d).is_some())
                    .map(|(i, _)| i as u32 + 1)
                    .collect();
                assert_eq!(uids(&ix, &[M1], &q), want, "{q:?}");
            }
        }
    }
}

pub fn index_is_durable<F: SearchFixture>() {
    let f = F::create();
    {
        let ix = f.open();
        load(&ix, M1, corpus());
        ix.remove(M1, &[uid(4)]).unwrap();
    }
    let ix = f.open();
    assert_eq!(ix.watermark(M1).unwrap(), 5);
    assert_eq!(find(&ix, Fields::ALL, "письмо"), set(&[1, 3]));
}
