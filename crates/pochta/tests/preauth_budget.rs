//! Before login an IMAP connection has a much smaller budget (`Limits::PRE_AUTH`: literals of
//! at most 8 KiB, lines of 40 KiB, commands of 48 KiB), so unauthenticated connections cannot
//! make the server hold large literals. Through the binary: many connections that never log
//! in announce 16 MiB literals, half synchronizing (refused with `NO [TOOBIG]` before any byte
//! is sent, the session goes on) and half non-synchronizing (`* BYE [TOOBIG]`, the connection
//! is closed rather than its bytes read, RFC 7888 §4), and the server's resident memory
//! (VmRSS) may grow by at most [`BOUND_KIB`]. Only memory is asserted, never time.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use common::{TestDir, TestServer, free_ports, settled_rss_kib};

const USER: &str = "pre@example.test";
const PASS: &str = "pre pw";
/// Connections of each kind (synchronizing, non-synchronizing literal).
const EACH: usize = 10;
/// The literal each connection announces.
const LITERAL: usize = 16 * 1024 * 1024;
/// The growth allowed for all of them together (without the budget they hold 320 MiB).
const BOUND_KIB: u64 = 64 * 1024;

fn connect(addr: SocketAddr) -> BufReader<TcpStream> {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut r = BufReader::new(s);
    let mut greeting = String::new();
    r.read_line(&mut greeting).expect("greeting");
    assert!(greeting.starts_with("* OK"), "greeting: {greeting}");
    r
}

fn line(r: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    let _ = r.read_line(&mut l);
    l
}

/// Writes `n` bytes of message-like filler; stops quietly when the server has closed.
fn write_filler(w: &mut TcpStream, n: usize) {
    let chunk =
        b"Subject: filler filler filler filler filler filler filler filler x\r\n".repeat(1000);
    let mut left = n;
    while left > 0 {
        let k = left.min(chunk.len());
        if w.write_all(&chunk[..k]).is_err() {
            return;
        }
        left -= k;
    }
}

#[test]
fn unauthenticated_connections_cannot_send_large_literals() {
    let listeners: Vec<(&'static str, u16)> = vec![("imap", free_ports(1)[0])];
    let dir = TestDir::new(
        &listeners,
        "[limits]\nconnections_per_ip = 100\nmax_connections = 200\n",
    );
    dir.add_user(USER, PASS);
    let server = TestServer::start_in(dir, listeners);
    let pid = server.child.id();
    let addr = server.addr("imap");

    // Warm up: one full session pays the one-time costs before the baseline.
    {
        let mut c = connect(addr);
        c.get_mut()
            .write_all(format!("w LOGIN {USER} \"{PASS}\"\r\nw2 LOGOUT\r\n").as_bytes())
            .unwrap();
        let mut all = String::new();
        let _ = c.read_to_string(&mut all);
        assert!(all.contains("w OK"), "{all}");
    }
    let before = settled_rss_kib(pid);
    assert!(before > 0, "cannot read VmRSS of the server (pid {pid})");

    let mut threads = Vec::new();
    for i in 0..EACH {
        // Synchronizing: the server must refuse before asking for the bytes.
        threads.push(thread::spawn(move || {
            let mut c = connect(addr);
            c.get_mut()
                .write_all(format!("s{i} APPEND INBOX {{{LITERAL}}}\r\n").as_bytes())
                .unwrap();
            let answer = line(&mut c);
            if answer.starts_with('+') {
                // No budget: send all but the last byte and keep the transfer unfinished.
                write_filler(c.get_mut(), LITERAL - 1);
            }
            (answer, c)
        }));
        // Non-synchronizing: sent at once; the server must not keep it.
        threads.push(thread::spawn(move || {
            let mut c = connect(addr);
            let _ = c
                .get_mut()
                .write_all(format!("n{i} APPEND INBOX {{{LITERAL}+}}\r\n").as_bytes());
            write_filler(c.get_mut(), LITERAL - 1);
            c.get_mut()
                .set_read_timeout(Some(Duration::from_secs(2)))
                .unwrap();
            let answer = line(&mut c);
            (answer, c)
        }));
    }
    let conns: Vec<(String, BufReader<TcpStream>)> =
        threads.into_iter().map(|t| t.join().unwrap()).collect();
    let after = settled_rss_kib(pid);
    let grew = after.saturating_sub(before);
    eprintln!(
        "VmRSS {before} KiB before, {after} KiB with {} unauthenticated connections \
         announcing {} MiB literals: grew {grew} KiB (bound {BOUND_KIB} KiB)",
        2 * EACH,
        LITERAL >> 20
    );
    assert!(
        grew <= BOUND_KIB,
        "unauthenticated literals grew the server by {grew} KiB (bound {BOUND_KIB} KiB); \
         answers: {:?}",
        conns
            .iter()
            .map(|(a, _)| a.as_str())
            .take(4)
            .collect::<Vec<_>>()
    );

    // The answers are clear: NO [TOOBIG] for a synchronizing literal (the session goes on),
    // BYE [TOOBIG] for a non-synchronizing one.
    let mut sessions = Vec::new();
    for (answer, c) in conns {
        if answer.starts_with('s') {
            assert!(answer.contains("NO [TOOBIG]"), "synchronizing: {answer}");
            sessions.push(c);
        } else {
            assert!(
                answer.starts_with("* BYE [TOOBIG]"),
                "non-synchronizing: {answer}"
            );
        }
    }

    // A refused session logs in, and from then on the full limits apply.
    let mut c = sessions.pop().unwrap();
    c.get_mut()
        .write_all(format!("l LOGIN {USER} \"{PASS}\"\r\n").as_bytes())
        .unwrap();
    let ok = line(&mut c);
    assert!(ok.starts_with("l OK"), "login after the refusal: {ok}");
    c.get_mut()
        .write_all(b"a APPEND INBOX {100000}\r\n")
        .unwrap();
    let go = line(&mut c);
    assert!(
        go.starts_with('+'),
        "a 100000-octet literal after login: {go}"
    );
    let body = b"Subject: after login\r\n\r\n".to_vec();
    let mut msg = body.clone();
    msg.resize(100000 - 2, b'x');
    msg.extend_from_slice(b"\r\n");
    c.get_mut().write_all(&msg).unwrap();
    c.get_mut().write_all(b"\r\n").unwrap();
    let done = line(&mut c);
    assert!(done.starts_with("a OK"), "APPEND after login: {done}");

    // The budget does not get in the way of a login with literals.
    let mut c = connect(addr);
    c.get_mut()
        .write_all(
            format!(
                "x LOGIN {{{}+}}\r\n{USER} {{{}+}}\r\n{PASS}\r\n",
                USER.len(),
                PASS.len()
            )
            .as_bytes(),
        )
        .unwrap();
    let ok = line(&mut c);
    assert!(ok.starts_with("x OK"), "login with literals: {ok}");
}

/// Lines until one starts with `tag` and a space (inclusive).
fn until_tag(r: &mut BufReader<TcpStream>, tag: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let l = line(r);
        assert!(!l.is_empty(), "connection closed; got so far: {lines:?}");
        let done = l.starts_with(&format!("{tag} "));
        lines.push(l);
        if done {
            return lines;
        }
    }
}

/// An over-long AUTHENTICATE continuation (before login, under the small budget) and an
/// over-long line while IDLE waits for `DONE` (after login) each get their command's tagged
/// `BAD`, and the session goes on (issue 17; the driver-level tests are in
/// `crates/imap/tests/limits.rs`, this one goes through the binary).
#[test]
fn overlong_lines_in_authenticate_and_idle_get_a_tagged_bad() {
    let listeners: Vec<(&'static str, u16)> = vec![("imap", free_ports(1)[0])];
    let dir = TestDir::new(&listeners, "");
    dir.add_user(USER, PASS);
    let server = TestServer::start_in(dir, listeners);
    let mut c = connect(server.addr("imap"));
    let long = |b: u8| {
        let mut l = vec![b; 200 * 1024];
        l.extend_from_slice(b"\r\n");
        l
    };

    c.get_mut().write_all(b"A1 AUTHENTICATE PLAIN\r\n").unwrap();
    let go = line(&mut c);
    assert!(go.starts_with('+'), "AUTHENTICATE PLAIN: {go}");
    c.get_mut().write_all(&long(b'A')).unwrap();
    let r = until_tag(&mut c, "A1");
    assert!(r.last().unwrap().starts_with("A1 BAD"), "{r:?}");
    c.get_mut().write_all(b"n1 NOOP\r\n").unwrap();
    let r = until_tag(&mut c, "n1");
    assert!(r.last().unwrap().starts_with("n1 OK"), "NOOP after: {r:?}");

    c.get_mut()
        .write_all(format!("l LOGIN {USER} \"{PASS}\"\r\ns SELECT INBOX\r\n").as_bytes())
        .unwrap();
    let r = until_tag(&mut c, "l");
    assert!(r.last().unwrap().starts_with("l OK"), "{r:?}");
    let r = until_tag(&mut c, "s");
    assert!(r.last().unwrap().starts_with("s OK"), "{r:?}");
    c.get_mut().write_all(b"I1 IDLE\r\n").unwrap();
    let go = line(&mut c);
    assert!(go.starts_with('+'), "IDLE: {go}");
    c.get_mut().write_all(&long(b'x')).unwrap();
    let r = until_tag(&mut c, "I1");
    assert!(r.last().unwrap().starts_with("I1 BAD"), "{r:?}");
    c.get_mut().write_all(b"n2 NOOP\r\n").unwrap();
    let r = until_tag(&mut c, "n2");
    assert!(
        r.last().unwrap().starts_with("n2 OK"),
        "NOOP after IDLE: {r:?}"
    );
}

/// POP3 and SMTP submission keep nothing beyond one bounded line before login: an over-long
/// SASL response (POP3 AUTH, 8 KiB), an over-long command line (POP3 1000 octets, SMTP
/// 16 KiB) each get an error reply, and the session goes on.
#[test]
fn pop3_and_submission_refuse_overlong_lines_before_login() {
    let listeners: Vec<(&'static str, u16)> = ["pop3", "submission"]
        .into_iter()
        .zip(free_ports(2))
        .collect();
    let dir = TestDir::new(&listeners, "[auth]\nplaintext = \"always\"\n");
    dir.add_user(USER, PASS);
    let server = TestServer::start_in(dir, listeners);
    let long = |head: &[u8]| {
        let mut l = head.to_vec();
        l.extend(std::iter::repeat_n(b'A', 200 * 1024));
        l.extend_from_slice(b"\r\n");
        l
    };

    let s = TcpStream::connect(server.addr("pop3")).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut p = BufReader::new(s);
    assert!(line(&mut p).starts_with("+OK"));
    p.get_mut().write_all(b"AUTH PLAIN\r\n").unwrap();
    let go = line(&mut p);
    assert!(go.starts_with('+'), "AUTH PLAIN: {go}");
    p.get_mut().write_all(&long(b"")).unwrap();
    let r = line(&mut p);
    assert!(r.starts_with("-ERR") && r.contains("too long"), "{r}");
    p.get_mut().write_all(&long(b"USER ")).unwrap();
    let r = line(&mut p);
    assert!(r.starts_with("-ERR") && r.contains("too long"), "{r}");
    p.get_mut()
        .write_all(format!("USER {USER}\r\n").as_bytes())
        .unwrap();
    let r = line(&mut p);
    assert!(r.starts_with("+OK"), "USER after the long lines: {r}");

    let s = TcpStream::connect(server.addr("submission")).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut m = BufReader::new(s);
    assert!(common::smtp_reply(&mut m).starts_with("220"));
    common::smtp_cmd(&mut m, "EHLO client.test\r\n", "250");
    common::smtp_cmd(&mut m, long(b"NOOP "), "500 5.5.6");
    common::smtp_cmd(&mut m, "NOOP\r\n", "250");
}
