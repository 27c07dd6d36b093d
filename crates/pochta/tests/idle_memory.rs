//! Memory per idle connection, through the binary: many authenticated IMAP sessions that sit
//! idle must each cost the server at most [`LIMIT_KIB`] of resident memory (the project's
//! target; bench/README.md measured about 33 KiB per connection).
//!
//! The cost is the growth of the server's VmRSS (`/proc/PID/status`) while [`CONNECTIONS`]
//! more sessions log in and stay open, divided by their number. A first batch of sessions
//! opened and logged in before the baseline pays the one-time costs (worker and blocking
//! threads, allocator arenas, the store's readers, the authentication cache), so they do not
//! count against the idle sessions. Only memory is asserted, never time.
//!
//! The second test holds the server to the same discipline for a FETCH far larger than one
//! answer should cost: its responses are written a chunk at a time as the client takes them.

mod blocking;
mod common;

use std::thread;
use std::time::Duration;

use blocking::Imap;
use common::{TestDir, TestServer, free_ports, rss_kib, settled_rss_kib};

const USER: &str = "idle@example.test";
const PASS: &str = "idle pw";
/// Sessions opened before the baseline is taken.
const WARM: usize = 40;
/// Idle sessions measured.
const CONNECTIONS: usize = 200;
/// The bound per idle authenticated connection.
const LIMIT_KIB: u64 = 64;

fn open(server: &TestServer, n: usize) -> Vec<Imap> {
    let addr = server.addr("imap");
    (0..n)
        .map(|i| {
            let mut c = Imap::login(addr, USER, PASS)
                .unwrap_or_else(|e| panic!("session {i}: {e}\n{}", server.log()));
            let r = c.cmd("SELECT INBOX").unwrap();
            assert!(r.ok(), "session {i}: {}", r.all_text());
            c
        })
        .collect()
}

#[test]
fn idle_authenticated_imap_connections_cost_at_most_64_kib_each() {
    let listeners: Vec<(&'static str, u16)> = vec![("imap", free_ports(1)[0])];
    let dir = TestDir::new(
        &listeners,
        &format!(
            "[limits]\nconnections_per_ip = {}\n",
            WARM + CONNECTIONS + 10
        ),
    );
    dir.add_user(USER, PASS);
    let server = TestServer::start_in(dir, listeners);
    let pid = server.child.id();

    let warm = open(&server, WARM);
    let before = settled_rss_kib(pid);
    assert!(before > 0, "cannot read VmRSS of the server (pid {pid})");
    let idle = open(&server, CONNECTIONS);
    let after = settled_rss_kib(pid);
    let per_connection = after.saturating_sub(before) / CONNECTIONS as u64;
    eprintln!(
        "VmRSS {before} KiB with {WARM} sessions, {after} KiB with {} more: \
         {per_connection} KiB per idle connection",
        CONNECTIONS
    );
    assert!(
        per_connection <= LIMIT_KIB,
        "{per_connection} KiB per idle authenticated IMAP connection (bound {LIMIT_KIB} KiB): \
         VmRSS {before} KiB before and {after} KiB after {CONNECTIONS} more sessions"
    );
    // The sessions are still alive and answer.
    for mut c in warm.into_iter().chain(idle).step_by(37) {
        assert!(c.cmd("NOOP").unwrap().ok());
    }
}

/// Messages and their size for the FETCH test: 48 MiB in all.
const BIG_MESSAGES: usize = 48;
const BIG_SIZE: usize = 1024 * 1024;
/// The most a FETCH may grow the server by while its client reads nothing: one output chunk,
/// one message, and what the socket buffers hold, with room to spare.
const FETCH_LIMIT_KIB: u64 = 16 * 1024;

#[test]
fn a_fetch_of_48_mib_is_streamed_not_built_in_memory() {
    let listeners: Vec<(&'static str, u16)> = vec![("imap", free_ports(1)[0])];
    let dir = TestDir::new(&listeners, "");
    dir.add_user(USER, PASS);
    // This test measures the FETCH path alone: the background search indexer, which reads the
    // 48 MiB just appended while the FETCH waits, is switched off here (its own bound, a commit
    // of at most `search::BATCH_TEXT` bytes of text plus tantivy's 15 MB arena, is in
    // SECURITY.md).
    let server = TestServer::start_in_with_env(dir, listeners, &[("POCHTA_SEARCH_INDEX", "off")]);
    let pid = server.child.id();
    let addr = server.addr("imap");
    let mut c = Imap::login(addr, USER, PASS).unwrap();
    for i in 0..BIG_MESSAGES {
        let mut msg = format!("Subject: big {i}\r\n\r\n").into_bytes();
        let line = format!("{i:04}").repeat(19) + "\r\n";
        while msg.len() + line.len() <= BIG_SIZE {
            msg.extend_from_slice(line.as_bytes());
        }
        let r = c.append("INBOX", "", &msg).unwrap();
        assert!(r.ok(), "append {i}: {}", r.tagged);
    }
    assert!(c.cmd("SELECT INBOX").unwrap().ok());
    // Warm up the reading path with a small FETCH, then take the baseline.
    assert!(c.cmd("FETCH 1 BODY.PEEK[]").unwrap().ok());
    let before = settled_rss_kib(pid);
    // Ask for everything and read nothing for a while: the server can only go as far as the
    // socket lets it.
    c.write(b"big FETCH 1:* BODY.PEEK[]\r\n").unwrap();
    let peak = (0..10)
        .map(|_| {
            thread::sleep(Duration::from_millis(200));
            rss_kib(pid)
        })
        .max()
        .unwrap_or(0);
    let reply = c.read_reply("big").unwrap();
    assert!(reply.ok(), "{}", reply.tagged);
    let bytes: usize = reply
        .untagged
        .iter()
        .flat_map(|r| r.literals.iter())
        .map(Vec::len)
        .sum();
    assert_eq!(reply.untagged.len(), BIG_MESSAGES);
    assert!(
        bytes >= BIG_MESSAGES * (BIG_SIZE - 100),
        "{bytes} bytes came"
    );
    let grown = peak.saturating_sub(before);
    eprintln!("VmRSS {before} KiB before the FETCH, {peak} KiB at most while it waited");
    assert!(
        grown <= FETCH_LIMIT_KIB,
        "a FETCH of {} MiB grew the server by {grown} KiB while its client read nothing \
         (bound {FETCH_LIMIT_KIB} KiB): VmRSS {before} KiB before, {peak} KiB at most",
        BIG_MESSAGES * BIG_SIZE / (1024 * 1024)
    );
    assert!(c.cmd("NOOP").unwrap().ok());
}
