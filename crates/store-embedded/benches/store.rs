//! Store throughput with fsync on: appends of 10 KB messages (one per transaction, and
//! batches of 32 as MULTIAPPEND or a busy delivery queue would), and flag updates.
//!
//! `cargo bench -p pochta-store-embedded` (add `-- --quick` for a short run). Results are
//! recorded in `bench/README.md`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pochta_store::{Directory, FlagOp, MailStore, NewMessage};
use pochta_store_embedded::EmbeddedStore;
use pochta_types::{Address, Flag, Flags, MailboxId, MailboxName, Uid};

const SIZE: usize = 10 * 1024;
const BATCH: usize = 32;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A distinct ~10 KB message (distinct so every append writes a new blob file).
fn message() -> Vec<u8> {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut m = format!(
        "From: Ivan <ivan@example.org>\r\nTo: Maria <maria@example.org>\r\n\
         Subject: benchmark message {n}\r\nMessage-ID: <{n}@bench.example.org>\r\n\
         Date: Mon, 1 Jan 2024 10:00:00 +0300\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    .into_bytes();
    let line =
        b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\r\n";
    while m.len() + line.len() <= SIZE {
        m.extend_from_slice(line);
    }
    m.resize(SIZE - 2, b'x');
    m.extend_from_slice(b"\r\n");
    m
}

fn setup() -> (tempfile::TempDir, EmbeddedStore, MailboxId) {
    // Under target/ rather than /tmp: /tmp may be tmpfs, where fsync costs nothing.
    let base = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tempfile::tempdir_in(base).expect("temp dir");
    let s = EmbeddedStore::open(dir.path()).expect("open");
    let acc = s
        .account_create(&Address::new("bench@example.org").expect("address"), "h")
        .expect("account");
    let inbox = s
        .mailbox(acc, &MailboxName::inbox())
        .expect("mailbox")
        .expect("inbox")
        .id;
    (dir, s, inbox)
}

fn append(c: &mut Criterion) {
    let (_dir, s, inbox) = setup();
    let mut g = c.benchmark_group("append_10k");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_per_transaction", |b| {
        b.iter_batched(
            message,
            |m| {
                let msg = NewMessage {
                    bytes: &m,
                    flags: Flags::new(),
                    internal_date: None,
                };
                black_box(s.append(inbox, &[msg]).expect("append"))
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("batch_of_32", |b| {
        b.iter_batched(
            || (0..BATCH).map(|_| message()).collect::<Vec<_>>(),
            |ms| {
                let msgs: Vec<NewMessage<'_>> = ms
                    .iter()
                    .map(|m| NewMessage {
                        bytes: m,
                        flags: Flags::new(),
                        internal_date: None,
                    })
                    .collect();
                black_box(s.append(inbox, &msgs).expect("append"))
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn flags(c: &mut Criterion) {
    let (_dir, s, inbox) = setup();
    let bodies: Vec<Vec<u8>> = (0..1000).map(|_| message()).collect();
    for chunk in bodies.chunks(100) {
        let msgs: Vec<NewMessage<'_>> = chunk
            .iter()
            .map(|m| NewMessage {
                bytes: m,
                flags: Flags::new(),
                internal_date: None,
            })
            .collect();
        s.append(inbox, &msgs).expect("append");
    }
    // Replace with \Seen on even passes over the mailbox and \Flagged on odd ones, so
    // every call really changes the flags (and so commits and fsyncs).
    let states = [
        Flags::from_flags(&[Flag::Seen]),
        Flags::from_flags(&[Flag::Flagged]),
    ];
    let mut g = c.benchmark_group("store_flags");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(1));
    let mut i: u32 = 0;
    g.bench_function("one_message_per_transaction", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let uid = [Uid::new(i % 1000 + 1).expect("uid")];
            let f = &states[usize::from((i / 1000) % 2 == 1)];
            black_box(
                s.store_flags(inbox, &uid, FlagOp::Replace, f, None)
                    .expect("store"),
            )
        })
    });
    g.throughput(Throughput::Elements(100));
    let mut round = 0u32;
    g.bench_function("100_messages_per_transaction", |b| {
        b.iter(|| {
            round = round.wrapping_add(1);
            let start = (round % 10) * 100 + 1;
            let uids: Vec<Uid> = (start..start + 100).filter_map(Uid::new).collect();
            let f = &states[usize::from((round / 10) % 2 == 1)];
            black_box(
                s.store_flags(inbox, &uids, FlagOp::Replace, f, None)
                    .expect("store"),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, append, flags);
criterion_main!(benches);
