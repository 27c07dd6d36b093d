//! Soak: many concurrent IMAP, POP3 and SMTP client threads against the real binary for a
//! bounded time, then check that nothing went wrong and nothing leaked.
//!
//! - IMAP threads loop LOGIN, SELECT, APPEND, NOOP, FETCH, STORE, LOGOUT on one shared account;
//!   POP3 threads loop USER/PASS, STAT, RETR, QUIT each on its own account (POP3 locks the
//!   maildrop); SMTP threads loop EHLO, MAIL, RCPT, DATA, QUIT delivering to the POP3
//!   accounts and the IMAP account.
//! - Every reply is checked; any error or unexpected reply fails the test.
//! - After the clients have disconnected the server's open file descriptors
//!   (`/proc/PID/fd`), polled for up to 15 s, must come back to the idle baseline taken after
//!   a warm-up pass: sockets, pipes and other non-file descriptors to within
//!   [`SOCKET_MARGIN`] (a leaked connection shows here), all descriptors to within
//!   [`FD_MARGIN`], which allows the store's reader pool to have filled up (pochta-store-
//!   embedded keeps up to 8 idle SQLite read connections, two descriptors each: the database
//!   and its WAL; seen here as 7 more pooled readers after an 8 s run).
//! - RSS (`/proc/PID/status` VmRSS) is sampled every 500 ms; over the second half of the run
//!   it must not grow by more than [`RSS_GROWTH_KB`] (generous: a leak per session or per
//!   message grows steadily; allocator and page-cache noise does not reach that).
//!
//! Duration: `POCHTA_SOAK_SECONDS` (default 30, what CI runs). For a longer run:
//! `POCHTA_SOAK_SECONDS=1800 cargo test -p pochta --test soak -- --nocapture`.
//! Linux only (`/proc`).

mod blocking;
mod common;

use std::fs;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use blocking::{Imap, Lines};
use common::{TestDir, TestServer, free_ports};

const IMAP_USER: &str = "soak@example.test";
const PASS: &str = "soak pw";
const IMAP_THREADS: usize = 4;
const POP3_THREADS: usize = 3;
const SMTP_THREADS: usize = 3;
/// Non-file descriptors (sockets, pipes, eventfds) above the idle baseline once every client
/// is gone.
const SOCKET_MARGIN: usize = 2;
/// All descriptors above the idle baseline: the reader pool (8 × 2) plus a little.
const FD_MARGIN: usize = 8 * 2 + 4;
/// Allowed RSS growth over the second half of the run, in KiB.
const RSS_GROWTH_KB: u64 = 64 * 1024;

fn pop_user(i: usize) -> String {
    format!("pop{i}@example.test")
}

fn message(tag: &str) -> String {
    format!(
        "From: Soak <{IMAP_USER}>\r\nTo: {IMAP_USER}\r\nSubject: soak {tag}\r\n\
         Message-ID: <{tag}@soak.test>\r\nDate: Mon, 7 Jul 2025 10:00:00 +0000\r\n\r\n\
         soak body {tag}\r\nsecond line\r\n"
    )
}

type Res = Result<(), String>;

fn check(ok: bool, what: &str, got: &str) -> Res {
    if ok {
        Ok(())
    } else {
        Err(format!("{what}: {}", got.trim_end()))
    }
}

fn io<T>(r: std::io::Result<T>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

fn imap_round(addr: SocketAddr, tag: &str) -> Res {
    let mut c = io(Imap::login(addr, IMAP_USER, PASS), "IMAP login")?;
    let r = io(c.cmd("SELECT INBOX"), "SELECT")?;
    check(r.ok(), "SELECT", &r.tagged)?;
    let r = io(c.append("INBOX", "", message(tag).as_bytes()), "APPEND")?;
    check(r.ok(), "APPEND", &r.tagged)?;
    // The appended message is announced (EXISTS) by the next command at the latest.
    let r = io(c.cmd("NOOP"), "NOOP")?;
    check(r.ok(), "NOOP", &r.tagged)?;
    let r = io(
        c.cmd("FETCH 1 (FLAGS BODY.PEEK[HEADER] RFC822.SIZE)"),
        "FETCH",
    )?;
    check(r.ok(), "FETCH", &r.tagged)?;
    let r = io(c.cmd("FETCH * (UID BODY[])"), "FETCH *")?;
    check(r.ok() && !r.untagged.is_empty(), "FETCH *", &r.all_text())?;
    let r = io(c.cmd("STORE 1 +FLAGS (\\Flagged)"), "STORE")?;
    check(r.ok(), "STORE", &r.tagged)?;
    let r = io(c.cmd("LOGOUT"), "LOGOUT")?;
    check(r.ok(), "LOGOUT", &r.tagged)
}

fn pop3_round(addr: SocketAddr, user: &str) -> Res {
    let mut p = io(Lines::connect(addr), "POP3 connect")?;
    let g = io(p.line(), "POP3 greeting")?;
    check(g.starts_with("+OK"), "POP3 greeting", &g)?;
    let r = io(p.cmd(&format!("USER {user}")), "USER")?;
    check(r.starts_with("+OK"), "USER", &r)?;
    let r = io(p.cmd(&format!("PASS {PASS}")), "PASS")?;
    check(r.starts_with("+OK"), "PASS", &r)?;
    let r = io(p.cmd("STAT"), "STAT")?;
    check(r.starts_with("+OK"), "STAT", &r)?;
    let count: u64 = r
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("STAT: {r}"))?;
    if count > 0 {
        let r = io(p.cmd(&format!("RETR {count}")), "RETR")?;
        check(r.starts_with("+OK"), "RETR", &r)?;
        loop {
            let l = io(p.line(), "RETR body")?;
            if l == ".\r\n" {
                break;
            }
        }
    }
    let r = io(p.cmd("QUIT"), "QUIT")?;
    check(r.starts_with("+OK"), "QUIT", &r)
}

fn smtp_round(addr: SocketAddr, rcpt: &str, tag: &str) -> Res {
    let mut s = io(Lines::connect(addr), "SMTP connect")?;
    let g = io(s.smtp_reply(), "SMTP greeting")?;
    check(g.starts_with("220"), "SMTP greeting", &g)?;
    for (cmd, code) in [
        ("EHLO client.soak.test".to_owned(), "250"),
        ("MAIL FROM:<sender@soak.test>".to_owned(), "250"),
        (format!("RCPT TO:<{rcpt}>"), "250"),
        ("DATA".to_owned(), "354"),
    ] {
        let r = io(s.smtp(&cmd), &cmd)?;
        check(r.starts_with(code), &cmd, &r)?;
    }
    io(s.send(message(tag).as_bytes()), "DATA body")?;
    let r = io(s.smtp("."), "end of DATA")?;
    check(r.starts_with("250"), "end of DATA", &r)?;
    let r = io(s.smtp("QUIT"), "QUIT")?;
    check(r.starts_with("221"), "QUIT", &r)
}

fn fd_count(pid: u32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Descriptors that are not files on disk (sockets, pipes, anonymous inodes).
fn non_file_count(pid: u32) -> usize {
    fd_targets(pid)
        .iter()
        .filter(|t| !t.starts_with('/'))
        .count()
}

/// What each open descriptor points at, for failure messages.
fn fd_targets(pid: u32) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| fs::read_link(e.ok()?.path()).ok())
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn soak_imap_pop3_smtp_without_errors_or_leaks() {
    let seconds: u64 = std::env::var("POCHTA_SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    let listeners: Vec<(&'static str, u16)> = ["imap", "pop3", "smtp"]
        .into_iter()
        .zip(free_ports(3))
        .collect();
    let dir = TestDir::new(
        &listeners,
        "[smtp]\ncheck_inbound = false\n[limits]\nconnections_per_ip = 1000\n",
    );
    dir.add_user(IMAP_USER, PASS);
    for i in 0..POP3_THREADS {
        dir.add_user(&pop_user(i), PASS);
    }
    let server = TestServer::start_in(dir, listeners);
    let pid = server.child.id();
    let (imap, pop3, smtp) = (
        server.addr("imap"),
        server.addr("pop3"),
        server.addr("smtp"),
    );

    // Warm-up: every account and protocol once, so lazily opened stores count as baseline.
    imap_round(imap, "warm").unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    for i in 0..POP3_THREADS {
        smtp_round(smtp, &pop_user(i), &format!("warm{i}"))
            .unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
        pop3_round(pop3, &pop_user(i)).unwrap_or_else(|e| panic!("{e}\n{}", server.log()));
    }
    thread::sleep(Duration::from_millis(300));
    let baseline = fd_count(pid);
    let baseline_targets = fd_targets(pid);
    let baseline_sockets = non_file_count(pid);
    assert!(baseline > 0, "cannot read /proc/{pid}/fd");

    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let rounds = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let mut threads = Vec::new();
    for t in 0..IMAP_THREADS + POP3_THREADS + SMTP_THREADS {
        let (stop, errors, rounds) = (stop.clone(), errors.clone(), rounds.clone());
        threads.push(thread::spawn(move || {
            for n in 0u64.. {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let tag = format!("t{t}.{n}");
                let (kind, res) = if t < IMAP_THREADS {
                    (0, imap_round(imap, &tag))
                } else if t < IMAP_THREADS + POP3_THREADS {
                    (1, pop3_round(pop3, &pop_user(t - IMAP_THREADS)))
                } else {
                    let to = match n % (POP3_THREADS as u64 + 1) {
                        0 => IMAP_USER.to_owned(),
                        k => pop_user(k as usize - 1),
                    };
                    (2, smtp_round(smtp, &to, &tag))
                };
                match res {
                    Ok(()) => {
                        rounds[kind].fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        errors
                            .lock()
                            .unwrap()
                            .push(format!("thread {t} round {n}: {e}"));
                        return;
                    }
                }
            }
        }));
    }

    let start = Instant::now();
    let run = Duration::from_secs(seconds);
    let mut samples = Vec::new();
    while start.elapsed() < run && errors.lock().unwrap().is_empty() {
        samples.push((start.elapsed(), common::rss_kib(pid)));
        thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().expect("client thread panicked");
    }
    let errors = errors.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "client errors:\n{}\n{}",
        errors.join("\n"),
        server.log()
    );
    let counts: Vec<u64> = rounds.iter().map(|r| r.load(Ordering::Relaxed)).collect();
    eprintln!(
        "soak {seconds}s: {} IMAP, {} POP3, {} SMTP rounds; fd baseline {baseline}",
        counts[0], counts[1], counts[2]
    );
    assert!(
        counts.iter().all(|&c| c > 0),
        "a protocol made no progress: {counts:?}"
    );

    // Descriptors: back to the idle baseline once sessions have ended.
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let (now, sockets) = (fd_count(pid), non_file_count(pid));
        if now <= baseline + FD_MARGIN && sockets <= baseline_sockets + SOCKET_MARGIN {
            break;
        }
        assert!(
            Instant::now() < end,
            "server holds {now} descriptors ({sockets} not files) after the clients left, \
             idle baseline {baseline} ({baseline_sockets})\n\
             idle: {baseline_targets:#?}\nnow: {:#?}",
            fd_targets(pid)
        );
        thread::sleep(Duration::from_millis(100));
    }

    // Memory: no steady growth over the second half.
    let half: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= run / 2)
        .map(|(_, kb)| *kb)
        .collect();
    assert!(half.len() >= 2, "too few RSS samples: {samples:?}");
    let (first, max) = (half[0], *half.iter().max().unwrap());
    eprintln!(
        "RSS second half: first {first} KiB, max {max} KiB, last {} KiB",
        half[half.len() - 1]
    );
    assert!(
        max.saturating_sub(first) <= RSS_GROWTH_KB,
        "RSS grew from {first} KiB to {max} KiB over the second half: {half:?}"
    );
}
