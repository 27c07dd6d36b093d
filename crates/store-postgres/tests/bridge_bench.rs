//! How to call PostgreSQL from the synchronous storage traits, measured (ARCHITECTURE.md,
//! "PostgreSQL backend"). Ignored by default; run with
//! `cargo test -p pochta-store-postgres --test bridge_bench -- --ignored --nocapture`.
//!
//! 1. The driver alone, one INSERT + one SELECT by key per iteration, on one connection:
//!    - `sync`: the `postgres` crate (this crate's choice) from a plain thread;
//!    - `sync in block_in_place`: the same from a tokio worker (how sessions call the store);
//!    - `async via Handle::block_on`: tokio-postgres + deadpool, the calling thread blocking
//!      on a runtime the store would own;
//!    - `async via spawn + channel`: the same future spawned on that runtime from a tokio
//!      worker, the worker waiting on a channel (what a call from async code needs when it
//!      cannot `block_on`).
//! 2. The store: `append` of one small message + `records` + `blob`, PostgreSQL vs the
//!    embedded SQLite store, from a plain thread.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use pochta_store::{MailStore, NewMessage};
use pochta_store_postgres::{PgStore, testing};
use pochta_types::{Address, Flags, MailboxName};

const N: usize = 100;

fn report(what: &str, n: usize, t: Instant) -> f64 {
    let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    println!("{what:<44} {us:>8.1} µs/iteration ({n} iterations)");
    us
}

/// CPU time (user + system) of this whole process so far, in µs: what a bridge costs the
/// node, whatever the load of the machine does to wall time (10 ms ticks: summed over rounds).
fn cpu_us() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime 13th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks * 1e6 / 100.0
}

fn setup(url: &str) {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.batch_execute("CREATE TABLE IF NOT EXISTS kv (k BIGINT PRIMARY KEY, v BYTEA NOT NULL)")
        .unwrap();
}

fn sync_loop(c: &mut postgres::Client, base: i64) {
    let ins = c.prepare("INSERT INTO kv (k, v) VALUES ($1, $2)").unwrap();
    let sel = c.prepare("SELECT v FROM kv WHERE k = $1").unwrap();
    let v = vec![b'x'; 2000];
    for i in 0..N as i64 {
        let k = base + i;
        c.execute(&ins, &[&k, &v]).unwrap();
        let got: Vec<u8> = c.query_one(&sel, &[&k]).unwrap().get(0);
        assert_eq!(got.len(), v.len());
    }
}

async fn async_one(c: &deadpool_postgres::Client, k: i64, v: &[u8]) {
    let ins = c
        .prepare_cached("INSERT INTO kv (k, v) VALUES ($1, $2)")
        .await
        .unwrap();
    let sel = c
        .prepare_cached("SELECT v FROM kv WHERE k = $1")
        .await
        .unwrap();
    c.execute(&ins, &[&k, &v]).await.unwrap();
    let got: Vec<u8> = c.query_one(&sel, &[&k]).await.unwrap().get(0);
    assert_eq!(got.len(), v.len());
}

#[test]
#[ignore = "a measurement; run with --ignored --nocapture"]
fn driver_bridges() {
    // The machine is shared and its load drifts: the four variants run interleaved, in
    // ROUNDS rounds of N iterations each, and the median round of each is reported.
    const ROUNDS: usize = 9;
    let cluster = testing::shared();
    let url = cluster.database();
    setup(&url);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pg: tokio_postgres::Config = url.parse().unwrap();
    let mgr = deadpool_postgres::Manager::new(pg, tokio_postgres::NoTls);
    let pool = deadpool_postgres::Pool::builder(mgr)
        .max_size(4)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .unwrap();
    let store_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = store_rt.handle().clone();
    let v = vec![b'x'; 2000];
    handle.block_on(async {
        let c = pool.get().await.unwrap();
        async_one(&c, 9_000_000_000, &v).await;
    });
    let mut plain = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let mut worker = Some(postgres::Client::connect(&url, postgres::NoTls).unwrap());
    let mut times: [Vec<f64>; 4] = Default::default();
    let mut cpu = [0f64; 4];
    let per_us = |t: Instant| t.elapsed().as_secs_f64() * 1e6 / N as f64;
    for round in 0..ROUNDS as i64 {
        let base = round * 10_000_000;
        // 1a. sync, plain thread.
        let (t, c0) = (Instant::now(), cpu_us());
        sync_loop(&mut plain, base);
        times[0].push(per_us(t));
        cpu[0] += cpu_us() - c0;
        let c0 = cpu_us();
        // 1b. sync, inside block_in_place on a tokio worker.
        let mut c = worker.take().unwrap();
        let (c, us) = rt.block_on(async move {
            tokio::spawn(async move {
                tokio::task::block_in_place(move || {
                    let t = Instant::now();
                    sync_loop(&mut c, base + 1_000_000);
                    let us = t.elapsed().as_secs_f64() * 1e6 / N as f64;
                    (c, us)
                })
            })
            .await
            .unwrap()
        });
        worker = Some(c);
        times[1].push(us);
        cpu[1] += cpu_us() - c0;
        // 1c. tokio-postgres + deadpool, Handle::block_on from this thread.
        let (t, c0) = (Instant::now(), cpu_us());
        for i in 0..N as i64 {
            handle.block_on(async {
                let c = pool.get().await.unwrap();
                async_one(&c, base + 2_000_000 + i, &v).await;
            });
        }
        times[2].push(per_us(t));
        cpu[2] += cpu_us() - c0;
        let c0 = cpu_us();
        // 1d. the same future spawned from a tokio worker, which waits on a channel.
        let (pool2, handle2) = (pool.clone(), handle.clone());
        let us = rt.block_on(async move {
            tokio::spawn(async move {
                let t = Instant::now();
                for i in 0..N as i64 {
                    let (tx, rx) = std::sync::mpsc::channel();
                    let pool = pool2.clone();
                    handle2.spawn(async move {
                        let c = pool.get().await.unwrap();
                        async_one(&c, base + 3_000_000 + i, &[b'x'; 2000]).await;
                        let _ = tx.send(());
                    });
                    rx.recv().unwrap();
                }
                t.elapsed().as_secs_f64() * 1e6 / N as f64
            })
            .await
            .unwrap()
        });
        times[3].push(us);
        cpu[3] += cpu_us() - c0;
    }
    let names = [
        "sync postgres, plain thread",
        "sync postgres, block_in_place on a worker",
        "tokio-postgres+deadpool, Handle::block_on",
        "tokio-postgres+deadpool, spawn + channel",
    ];
    for ((name, mut t), cpu) in names.into_iter().zip(times).zip(cpu) {
        t.sort_by(f64::total_cmp);
        println!(
            "{name:<44} wall median {:>7.1} µs/iteration (min {:.1}, max {:.1}; {ROUNDS} rounds \
             of {N}); client CPU {:.1} µs/iteration",
            t[t.len() / 2],
            t[0],
            t[t.len() - 1],
            cpu / (ROUNDS * N) as f64
        );
    }
    std::thread::spawn(move || drop((plain, worker)))
        .join()
        .unwrap();
    drop(pool);
    store_rt.shutdown_background();
    rt.shutdown_background();
}

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: a@example.org\r\nTo: b@example.org\r\nSubject: bench {n}\r\n\
         Message-ID: <{n}@example.org>\r\n\r\nBody {n}\r\n{}\r\n",
        "x".repeat(1500)
    )
    .into_bytes()
}

fn store_loop<S: MailStore>(s: &S, what: &str) -> f64 {
    let acc = s
        .account_create(&Address::new("bench@example.org").unwrap(), "h")
        .unwrap();
    let inbox = s.mailbox(acc, &MailboxName::inbox()).unwrap().unwrap().id;
    let t = Instant::now();
    for i in 0..N {
        let bytes = message(i);
        let m = s
            .append(
                inbox,
                &[NewMessage {
                    bytes: &bytes,
                    flags: Flags::new(),
                    internal_date: None,
                }],
            )
            .unwrap();
        let rec = s.records(inbox, &[m.pairs[0].1], true).unwrap();
        let body = s.blob(&rec[0].blob).unwrap();
        assert_eq!(body.len(), bytes.len());
    }
    report(what, N, t)
}

#[test]
#[ignore = "a measurement; run with --ignored --nocapture"]
fn store_append_fetch() {
    let url = testing::shared().database();
    let pg = PgStore::open(&url, 4).unwrap();
    store_loop(&pg, "PgStore (fsync=off) append+records+blob");
    drop(pg);
    let durable = testing::Cluster::start_with_fsync(true);
    let pg = PgStore::open(&durable.database(), 4).unwrap();
    store_loop(&pg, "PgStore (fsync=on) append+records+blob");
    drop(pg);
    let dir = tempfile::tempdir().unwrap();
    let emb = pochta_store_embedded::EmbeddedStore::open(dir.path()).unwrap();
    store_loop(&emb, "EmbeddedStore append+records+blob");
}
