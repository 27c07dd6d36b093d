//! Import throughput from a local Dovecot into an EmbeddedStore (messages/s, MiB/s).
//!
//! `cargo bench -p pochta-collector --bench import` (release). Environment:
//! `IMPORT_MESSAGES` (default 4000) and `IMPORT_FOLDERS` (default 4). The Maildir is written
//! directly (faster than APPEND), in sizes from 2 KiB to ~100 KiB (mean ≈ 51 KiB), flags
//! mixed; then one full pass, then a no-op pass, each timed.

#[path = "../tests/dovecot/mod.rs"]
mod dovecot;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use dovecot::{Dovecot, PASSWORD, USER};
use pochta_collector::{NoProgress, SourceUrl, State, sync_source};
use pochta_store::Directory;
use pochta_store_embedded::EmbeddedStore;
use pochta_types::Address;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn message(i: usize) -> Vec<u8> {
    // Sizes spread 2 KiB … ~100 KiB by a cheap LCG.
    let r = (i as u64)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let size = 2048 + ((r >> 33) % 100_000) as usize;
    let mut m = format!(
        "From: bench <b@example.net>\r\nTo: {USER}\r\nSubject: message {i}\r\n\
         Message-ID: <{i}@bench>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n\r\n"
    )
    .into_bytes();
    let line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tem\r\n";
    while m.len() < size {
        m.extend_from_slice(line);
    }
    m
}

fn main() {
    // `cargo test --all-targets` builds benches and runs them with no arguments only under
    // `cargo bench`, which passes `--bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let Some(d) = Dovecot::start() else { return };
    let n = env("IMPORT_MESSAGES", 4000);
    let folders = env("IMPORT_FOLDERS", 4).max(1);
    let maildir = d.dir.path().join(format!("mail/{USER}/Maildir"));
    let mut total = 0usize;
    for i in 0..n {
        let f = i % folders;
        let dir = if f == 0 {
            maildir.join("cur")
        } else {
            maildir.join(format!(".Folder{f}/cur"))
        };
        std::fs::create_dir_all(&dir).expect("mkdir");
        let m = message(i);
        total += m.len();
        let flags = ["", "S", "FS", "RS"][i % 4];
        std::fs::write(
            dir.join(format!(
                "{}.M{i}P1.bench,S={}:2,{flags}",
                1_700_000_000 + i,
                m.len()
            )),
            &m,
        )
        .expect("write");
    }
    if std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
    {
        let _ = std::process::Command::new("chown")
            .args(["-R", "mail:mail"])
            .arg(d.dir.path().join("mail"))
            .status();
    }
    let mib = total as f64 / (1024.0 * 1024.0);
    println!("seeded {n} messages in {folders} folders, {mib:.1} MiB");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The network half alone: every folder fetched with the collector's client and parser,
    // bodies dropped (what Dovecot + our client can deliver, without the local store).
    rt.block_on(async {
        let url = SourceUrl::parse(&d.imap_url()).expect("url");
        let mut c = pochta_collector::imap::ImapClient::connect(&url, false)
            .await
            .expect("connect");
        c.login(USER, PASSWORD).await.expect("login");
        let names: Vec<String> = c.list().await.expect("list").into_iter().map(|e| e.raw).collect();
        // Warm Dovecot's indexes first, as the planning step of a pass does.
        for name in &names {
            c.examine(name).await.expect("examine");
            c.uid_fetch("1:*", "(UID RFC822.SIZE)").await.expect("sizes");
        }
        let t = Instant::now();
        let (mut msgs, mut bytes) = (0usize, 0usize);
        for name in &names {
            c.examine(name).await.expect("examine");
            for f in c
                .uid_fetch("1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
                .await
                .expect("fetch")
            {
                msgs += 1;
                bytes += f.body.map(|b| b.len()).unwrap_or(0);
            }
        }
        let secs = t.elapsed().as_secs_f64();
        let m = bytes as f64 / (1024.0 * 1024.0);
        println!(
            "fetch only (no store): {msgs} messages, {m:.1} MiB in {secs:.2} s: {:.0} msg/s, {:.1} MiB/s",
            msgs as f64 / secs,
            m / secs
        );
        c.logout().await;
    });

    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let store = Arc::new(EmbeddedStore::open(&data).expect("store"));
    store
        .account_create(&Address::new("bench@example.org").expect("addr"), "x")
        .expect("account");
    let collector = pochta_store_embedded::EmbeddedCollectorStore::open(&data).expect("state");
    let state = State::open(&data, Arc::new(collector)).expect("state");
    state
        .add_source(
            "bench@example.org",
            &SourceUrl::parse(&d.imap_url()).expect("url"),
            USER,
            PASSWORD,
            false,
            None,
        )
        .expect("add");
    let src = state.sources(None).expect("sources")[0].clone();
    let state = Arc::new(Mutex::new(state));
    for label in ["full import", "no-op pass"] {
        let t = Instant::now();
        let r = rt
            .block_on(sync_source(
                Arc::clone(&store),
                Arc::clone(&state),
                src.clone(),
                &NoProgress,
            ))
            .expect("pass");
        let secs = t.elapsed().as_secs_f64();
        let rmib = r.bytes as f64 / (1024.0 * 1024.0);
        println!(
            "{label}: {} messages, {rmib:.1} MiB in {secs:.2} s: {:.0} msg/s, {:.1} MiB/s",
            r.messages,
            r.messages as f64 / secs,
            rmib / secs
        );
    }
}
