//! The PostgreSQL full-text index on the search benchmark's corpus (bench/README.md,
//! "Search"). Ignored by default; with a maildir written by `bench/search.py fill-maildir DIR N`:
//!
//! ```sh
//! POCHTA_SEARCH_CORPUS=DIR/cur cargo test --release -p pochta-store-postgres \
//!     --test search_bench -- --ignored --nocapture
//! ```
//!
//! Extracts every message (`pochta_store::search::extract`), adds them to a [`PgSearchIndex`]
//! on a throwaway cluster with `fsync` on in batches of 500 (the rate printed is the index's
//! alone: extraction is timed apart), prints the size of the index tables against the mail's,
//! then times the benchmark's queries (median of 3).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use pochta_store::search::{Fields, IndexBatch, SearchIndex, SearchQuery, extract};
use pochta_store_postgres::{PgSearchIndex, testing};
use pochta_types::{MailboxId, Uid};

#[test]
#[ignore = "a measurement; run with --ignored --nocapture and POCHTA_SEARCH_CORPUS"]
fn postgres_index_on_the_corpus() {
    let Some(dir) = std::env::var_os("POCHTA_SEARCH_CORPUS") else {
        println!("POCHTA_SEARCH_CORPUS not set: nothing measured");
        return;
    };
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let cluster = testing::Cluster::start_with_fsync(true);
    let url = cluster.database();
    let ix = PgSearchIndex::open(&url, 4).unwrap();
    let mb = MailboxId(1);
    let (mut extracting, mut adding) = (Duration::ZERO, Duration::ZERO);
    let mut mail_bytes = 0u64;
    for (n, chunk) in files.chunks(500).enumerate() {
        let t = Instant::now();
        let docs: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let raw = std::fs::read(p).unwrap();
                mail_bytes += raw.len() as u64;
                (Uid::new((n * 500 + i + 1) as u32).unwrap(), extract(&raw))
            })
            .collect();
        extracting += t.elapsed();
        let t = Instant::now();
        ix.add(&[IndexBatch {
            mailbox: mb,
            documents: docs,
            watermark: (n * 500 + chunk.len()) as u32,
        }])
        .unwrap();
        adding += t.elapsed();
    }
    let n = files.len() as f64;
    println!(
        "{} messages, {mail_bytes} bytes: extract {:.0} msgs/s, index add {:.0} msgs/s",
        files.len(),
        n / extracting.as_secs_f64(),
        n / adding.as_secs_f64()
    );
    let out = std::process::Command::new("/usr/lib/postgresql/15/bin/psql")
        .args([
            &url,
            "-Atc",
            "SELECT c, pg_total_relation_size(c) FROM unnest(ARRAY['search_docs', \
             'search_terms', 'search_words']) c",
        ])
        .output()
        .unwrap();
    let sizes = String::from_utf8_lossy(&out.stdout).to_string();
    let total: u64 = sizes
        .lines()
        .filter_map(|l| l.split('|').nth(1)?.parse::<u64>().ok())
        .sum();
    println!(
        "index tables: {} bytes = {:.1} % of the mail ({})",
        total,
        100.0 * total as f64 / mail_bytes as f64,
        sizes.trim().replace('\n', ", ")
    );
    let queries: &[(&str, Fields, &str, bool)] = &[
        ("TEXT report", Fields::ALL, "report", false),
        ("BODY invoices", Fields::BODY_ALL, "invoices", false),
        ("TEXT письмами", Fields::ALL, "письмами", false),
        ("BODY договора", Fields::BODY_ALL, "договора", false),
        ("TEXT отчет", Fields::ALL, "отчет", false),
        ("TEXT встреча проект", Fields::ALL, "встреча проект", false),
        ("FUZZY TEXT письмами", Fields::ALL, "письмами", true),
        ("substring BODY исьм", Fields::BODY_ALL, "исьм", false),
    ];
    for &(name, fields, text, fuzzy) in queries {
        let q = if name.starts_with("substring") {
            SearchQuery::substring(fields, text)
        } else {
            SearchQuery::new(fields, text, fuzzy)
        };
        let mut times = Vec::new();
        let mut hits = 0;
        for _ in 0..3 {
            let t = Instant::now();
            hits = ix.search(&[mb], &q).unwrap().len();
            times.push(t.elapsed());
        }
        times.sort();
        println!(
            "{name:<28} {:>9.1} ms  {hits} hits",
            times[1].as_secs_f64() * 1e3
        );
    }
    let psql = |sql: &str| {
        let o = std::process::Command::new("/usr/lib/postgresql/15/bin/psql")
            .args([&url, "-Atc", sql])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).to_string()
    };
    println!(
        "{}",
        psql(
            "EXPLAIN ANALYZE SELECT mailbox, uid FROM search_docs WHERE mailbox = ANY('{1}') \
             AND terms @@ '''0report'' | ''5report'''::tsquery"
        )
    );
    println!(
        "{}",
        psql(
            "SELECT relname, pg_relation_size(oid) FROM pg_class WHERE relname LIKE 'search%' \
             OR oid = (SELECT reltoastrelid FROM pg_class WHERE relname = 'search_docs')"
        )
    );
}
