//! `pochta serve`'s collector against hostile "old providers", with the server's memory
//! measured. Scripted IMAP providers on loopback, written here: one answers the body FETCH
//! without end, one answers it with a single response made of many large literals, one
//! answers the size FETCH without end, one answers LIST without end; an honest one serves
//! another user. The server's resident memory (VmRSS, sampled every 20 ms) may grow by at
//! most [`BOUND_KIB`] over the whole run; every hostile source ends its pass with a clear
//! error, and the honest user's mail keeps arriving, also after the hostile passes failed.
//! Only memory and outcomes are asserted, never time.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

use common::{
    RssSampler, TestDir, TestServer, collect_add, free_ports, inbox, settled_rss_kib, stdout,
    wait_for,
};

/// What a provider does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// INBOX holds the messages 1..=n of the shared counter, answered as asked.
    Honest,
    /// The body FETCH repeats UID 1 (a message of [`LARGE`] bytes) without end.
    EndlessFetch,
    /// The body FETCH of UID 1 is one response of [`LITERALS`] literals of [`LARGE`] bytes.
    ManyLiterals,
    /// The size FETCH never ends.
    EndlessSizes,
    /// LIST never ends.
    EndlessList,
}

/// The size each hostile provider announces for its one message, and its literals' size.
const LARGE: usize = 6 << 20;
/// Literals in the one response of [`Mode::ManyLiterals`]: 384 MiB together, within the
/// client's general budget of one response (513 MiB and 64 literals).
const LITERALS: usize = 64;
/// The growth of the server's resident memory allowed over the whole run.
const BOUND_KIB: u64 = 160 * 1024;

fn honest_message(uid: u32) -> Vec<u8> {
    format!(
        "From: a@example.net\r\nSubject: honest {uid}\r\nMessage-ID: <{uid}@honest>\r\n\r\nbody {uid}\r\n"
    )
    .into_bytes()
}

/// Writes `chunk` again and again until the client hangs up.
fn endless(w: &mut TcpStream, mut next: impl FnMut(u64) -> Vec<u8>) {
    for i in 0u64.. {
        if w.write_all(&next(i)).is_err() {
            return;
        }
    }
}

fn serve(tcp: TcpStream, mode: Mode, honest: Arc<AtomicU32>) {
    let mut w = tcp.try_clone().unwrap();
    let mut r = BufReader::new(tcp);
    let _ = w.write_all(b"* OK [CAPABILITY IMAP4rev1] provider ready\r\n");
    let filler = Arc::new(vec![b'x'; LARGE]);
    let mut line = String::new();
    while r.read_line(&mut line).is_ok_and(|n| n > 0) {
        let l = line.trim_end().to_owned();
        line.clear();
        let Some((tag, rest)) = l.split_once(' ') else {
            continue;
        };
        let upper = rest.to_ascii_uppercase();
        let exists = if mode == Mode::Honest {
            honest.load(Ordering::SeqCst)
        } else {
            1
        };
        let mut out: Vec<u8> = Vec::new();
        if upper.starts_with("CAPABILITY") {
            out.extend_from_slice(b"* CAPABILITY IMAP4rev1\r\n");
        } else if upper.starts_with("LIST") {
            if mode == Mode::EndlessList {
                endless(&mut w, |i| {
                    let mut chunk = Vec::new();
                    for j in 0..512 {
                        chunk.extend_from_slice(
                            format!(
                                "* LIST () \"/\" \"folder {i:09}-{j:03} {}\"\r\n",
                                "y".repeat(64)
                            )
                            .as_bytes(),
                        );
                    }
                    chunk
                });
                return;
            }
            out.extend_from_slice(b"* LIST () \"/\" INBOX\r\n");
        } else if upper.starts_with("EXAMINE") || upper.starts_with("SELECT") {
            out.extend_from_slice(
                format!(
                    "* {exists} EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT {}] n\r\n",
                    exists + 1
                )
                .as_bytes(),
            );
        } else if upper.starts_with("UID FETCH") && !upper.contains("BODY.PEEK[]") {
            if mode == Mode::EndlessSizes {
                endless(&mut w, |i| {
                    let mut chunk = Vec::new();
                    for j in 0..1024 {
                        chunk.extend_from_slice(
                            format!("* 1 FETCH (UID {} RFC822.SIZE 100)\r\n", i * 1024 + j + 1)
                                .as_bytes(),
                        );
                    }
                    chunk
                });
                return;
            }
            let from = rest
                .split(' ')
                .nth(2)
                .and_then(|s| s.split(':').next())
                .and_then(|s| s.parse::<u32>().ok())
                .unwrap_or(1);
            for uid in from.max(1)..=exists {
                let size = match mode {
                    Mode::Honest => honest_message(uid).len(),
                    _ => LARGE,
                };
                out.extend_from_slice(
                    format!("* {uid} FETCH (UID {uid} FLAGS () RFC822.SIZE {size})\r\n").as_bytes(),
                );
            }
        } else if upper.starts_with("UID FETCH") {
            let head = "* 1 FETCH (UID 1 FLAGS () INTERNALDATE \"01-Jan-2024 00:00:00 +0000\"";
            match mode {
                Mode::EndlessFetch => {
                    let filler = Arc::clone(&filler);
                    endless(&mut w, |_| {
                        let mut m = format!("{head} BODY[] {{{LARGE}}}\r\n").into_bytes();
                        m.extend_from_slice(&filler);
                        m.extend_from_slice(b")\r\n");
                        m
                    });
                    return;
                }
                Mode::ManyLiterals => {
                    let mut m = head.as_bytes().to_vec();
                    if w.write_all(&m).is_err() {
                        return;
                    }
                    for i in 0..LITERALS {
                        m = format!(" BODY[{}] {{{LARGE}}}\r\n", i + 1).into_bytes();
                        if w.write_all(&m).is_err() || w.write_all(&filler).is_err() {
                            return;
                        }
                    }
                    out.extend_from_slice(b" BODY[] {5}\r\nhello)\r\n");
                }
                _ => {
                    let from = rest
                        .split(' ')
                        .nth(2)
                        .and_then(|s| s.split([':', ',']).next())
                        .and_then(|s| s.parse::<u32>().ok())
                        .unwrap_or(1);
                    for uid in from.max(1)..=exists {
                        let m = honest_message(uid);
                        out.extend_from_slice(
                            format!(
                                "* {uid} FETCH (UID {uid} FLAGS () INTERNALDATE \
                                 \"01-Jan-2024 00:00:00 +0000\" BODY[] {{{}}}\r\n",
                                m.len()
                            )
                            .as_bytes(),
                        );
                        out.extend_from_slice(&m);
                        out.extend_from_slice(b")\r\n");
                    }
                }
            }
        } else if upper.starts_with("LOGOUT") {
            let _ = w.write_all(format!("* BYE bye\r\n{tag} OK done\r\n").as_bytes());
            return;
        }
        out.extend_from_slice(format!("{tag} OK done\r\n").as_bytes());
        if w.write_all(&out).is_err() {
            return;
        }
    }
}

/// A provider on loopback; its port.
fn provider(mode: Mode, honest: Arc<AtomicU32>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let honest = Arc::clone(&honest);
            thread::spawn(move || serve(tcp, mode, honest));
        }
    });
    port
}

/// `pochta collect status` of one user, through the binary.
fn status(server: &TestServer, user: &str) -> String {
    stdout(&server.cli(&["collect", "status", user]))
}

#[test]
fn hostile_providers_cannot_exhaust_the_servers_memory() {
    let honest = Arc::new(AtomicU32::new(2));
    let modes = [
        ("good@example.org", Mode::Honest),
        ("fetch@example.org", Mode::EndlessFetch),
        ("literals@example.org", Mode::ManyLiterals),
        ("sizes@example.org", Mode::EndlessSizes),
        ("list@example.org", Mode::EndlessList),
    ];
    let listeners: Vec<(&'static str, u16)> = vec![("imap", free_ports(1)[0])];
    let dir = TestDir::new(&listeners, "");
    for (user, mode) in modes {
        dir.add_user(user, "Local-Pass-1");
        let port = provider(mode, Arc::clone(&honest));
        collect_add(&dir, user, &format!("imap://127.0.0.1:{port}?tls=none"));
    }
    let server =
        TestServer::start_in_with_env(dir, listeners, &[("POCHTA_COLLECTOR_INTERVAL", "1")]);
    let pid = server.child.id();
    let before = settled_rss_kib(pid);
    assert!(before > 0, "cannot read VmRSS of the server (pid {pid})");

    let sampler = RssSampler::start(pid);

    // Every hostile source fails its pass and says why.
    let data_dir = server.dir.data_dir();
    for (user, mode) in modes.iter().skip(1) {
        let mut last = String::new();
        let done = (0..600).any(|_| {
            last = status(&server, user);
            let failed = last
                .lines()
                .any(|l| l.contains("last error:") && !l.contains("none"));
            if !failed {
                thread::sleep(Duration::from_millis(100));
            }
            failed
        });
        assert!(done, "{mode:?}: no error recorded for {user}:\n{last}");
        eprintln!(
            "{mode:?}: {}",
            last.lines().find(|l| l.contains("last error:")).unwrap()
        );
    }
    // The honest user was served meanwhile, and still is after the hostile passes failed.
    let subjects = |n: usize| inbox(&data_dir, "good@example.org").len() >= n;
    wait_for(
        "the honest user's first 2 messages",
        Duration::from_secs(60),
        || subjects(2),
    );
    honest.store(3, Ordering::SeqCst);
    wait_for(
        "the honest user's third message",
        Duration::from_secs(60),
        || subjects(3),
    );

    let peak = sampler.peak();
    let grew = peak.saturating_sub(before);
    eprintln!(
        "VmRSS {before} KiB before, peak {peak} KiB against the hostile providers: grew \
         {grew} KiB (bound {BOUND_KIB} KiB)"
    );
    assert!(
        grew <= BOUND_KIB,
        "hostile providers grew the server by {grew} KiB (bound {BOUND_KIB} KiB)"
    );
    // Nothing of the hostile providers was stored.
    for (user, _) in modes.iter().skip(1) {
        let got = inbox(&data_dir, user);
        assert!(got.is_empty(), "{user}: {} messages stored", got.len());
    }
}
