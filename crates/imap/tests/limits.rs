//! Every IMAP limit over TCP, through the real listener and driver: each gives a clear
//! protocol error (BAD, `NO [TOOBIG]`, `NO [LIMIT]`), the session stays in sync, and nothing
//! is allocated without bound.
//!
//! | limit | where | answer |
//! | --- | --- | --- |
//! | line length (64 KiB) | imap-proto framer | `tag BAD line too long` |
//! | line length in IDLE / an AUTHENTICATE continuation | driver | IDLE's / AUTHENTICATE's tag `BAD` |
//! | literal size (APPENDLIMIT) | driver, before `+` | `tag NO [TOOBIG]`, no continuation |
//! | non-synchronizing literal size | imap-proto framer, on the announcement | `tag NO [TOOBIG]`, bytes skipped |
//! | SEARCH nesting (32) | imap-proto search parser | `tag BAD` |
//! | pipelined commands ahead | driver: reads 4 KiB only after answering what it has | TCP back-pressure |
//! | MIME nesting (64) / parts (5000) | pochta-message | deeper parts are opaque; FETCH works |
//! | section part path (64 levels) | imap-proto fetch parser | `tag BAD` |
//! | keywords per message (64) | store | `tag NO [LIMIT]` |

mod common;

use std::io::{ErrorKind, Write};
use std::time::Duration;

use common::*;

fn tagged<'a>(r: &'a [String], tag: &str) -> &'a str {
    r.iter()
        .find(|l| l.starts_with(&format!("{tag} ")))
        .map(String::as_str)
        .unwrap_or("")
}

#[test]
fn overlong_line_is_bad_and_the_session_goes_on() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let mut line = b"L1 NOOP ".to_vec();
    line.extend(std::iter::repeat_n(b'x', 200 * 1024));
    line.extend_from_slice(b"\r\n");
    c.send(&line);
    let r = c.read_until("L1");
    assert!(tagged(&r, "L1").starts_with("L1 BAD"), "{r:?}");
    assert!(tagged(&r, "L1").contains("too long"), "{r:?}");
    c.ok("NOOP");
}

#[test]
fn oversized_literals_are_refused_before_their_bytes() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let caps = c.ok("CAPABILITY").join(" ");
    assert!(caps.contains("APPENDLIMIT=1048576"), "{caps}");
    // Synchronizing: refused at once, no `+`, so the client never sends the bytes.
    c.send(b"A1 APPEND INBOX {1048577}\r\n");
    let r = c.read_response();
    assert!(r.starts_with("A1 NO [TOOBIG]"), "{r}");
    c.ok("NOOP");
    // LITERAL+: the bytes come anyway; they are skipped, not buffered, then refused.
    let mut bytes = b"A2 APPEND INBOX {5000000+}\r\n".to_vec();
    bytes.extend(std::iter::repeat_n(b'a', 5_000_000));
    bytes.extend_from_slice(b"\r\n");
    c.send(&bytes);
    let r = c.read_until("A2");
    assert!(tagged(&r, "A2").starts_with("A2 NO [TOOBIG]"), "{r:?}");
    c.ok("NOOP");
    // Any command's literal is bounded the same way (here LOGIN-sized strings in SEARCH).
    c.ok("SELECT INBOX");
    c.send(b"S1 SEARCH TEXT {2000000}\r\n");
    let r = c.read_response();
    assert!(
        r.starts_with("S1 NO [TOOBIG]") || r.starts_with("S1 BAD"),
        "{r}"
    );
    c.ok("NOOP");
    let (st, _) = c.status("STATUS INBOX (MESSAGES)");
    assert_eq!(st, "OK");
}

/// A non-synchronizing literal over the limit is refused as soon as it is announced: the
/// framer answers before any of the literal's bytes arrive and then skips them as they come,
/// so none is buffered. A server that collected the literal before refusing it would say
/// nothing until all 4 GB had arrived (here: the read times out).
#[test]
fn oversized_nonsync_literal_is_refused_on_its_announcement() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.send(b"A3 APPEND INBOX {4000000000+}\r\n");
    c.send(&[b'a'; 64 << 10]);
    let r = c.read_response();
    assert!(r.starts_with("A3 NO [TOOBIG]"), "{r}");
}

#[test]
fn search_nesting_is_bounded() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.append("INBOX", "", &message("n", "x"));
    c.ok("SELECT INBOX");
    // Within the limit: fine.
    let ok = format!("SEARCH {}ALL{}", "(".repeat(20), ")".repeat(20));
    c.ok(&ok);
    for hostile in [
        format!("SEARCH {}ALL{}", "(".repeat(1000), ")".repeat(1000)),
        format!("SEARCH {}ALL", "NOT ".repeat(5000)),
        format!("SEARCH {}ALL ALL{}", "OR ALL ".repeat(3000), ""),
        format!("SEARCH {}", "(".repeat(30000)),
    ] {
        let (st, r) = c.status(&hostile);
        assert_eq!(st, "BAD", "{:?}", r.last());
        c.ok("NOOP");
    }
}

/// A client that pipelines without reading is slowed by TCP, not buffered by the server: the
/// driver reads the next 4 KiB only after answering (and writing) everything it holds.
#[test]
fn pipelined_commands_are_read_only_as_fast_as_answers_are_taken() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let mut w = c.raw_stream();
    w.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    let chunk = b"p CAPABILITY\r\n".repeat(4096);
    let mut written = 0usize;
    let limit = 256 << 20;
    let blocked = loop {
        match w.write(&chunk) {
            Ok(n) => written += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                break true;
            }
            Err(e) => panic!("write failed after {written} bytes: {e}"),
        }
        if written > limit {
            break false;
        }
    };
    assert!(
        blocked,
        "the server read {written} bytes of commands without their answers being taken"
    );
    // Socket buffers (both ends, autotuned) hold a few MiB at most.
    assert!(
        written < 64 << 20,
        "{written} bytes accepted before back-pressure"
    );
}

/// Nested 300 deep (multiparts and message/rfc822 alike): stored, and every FETCH and SEARCH
/// works; the structure below MAX_DEPTH is one opaque part.
#[test]
fn deep_mime_nesting_is_stored_and_served() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    for kind in ["multipart", "rfc822"] {
        let mut m = String::from("Subject: deep\r\nMIME-Version: 1.0\r\n");
        let depth = 300;
        for i in 0..depth {
            if kind == "multipart" {
                m.push_str(&format!(
                    "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
                ));
            } else {
                m.push_str("Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n");
            }
        }
        m.push_str("Content-Type: text/plain\r\n\r\ninnermost needle\r\n");
        if kind == "multipart" {
            for i in (0..depth).rev() {
                m.push_str(&format!("--b{i}--\r\n"));
            }
        }
        let r = c.append("INBOX", "", m.as_bytes());
        assert!(r.last().unwrap().contains("OK"), "{kind}: {r:?}");
    }
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1:* (BODYSTRUCTURE BODY ENVELOPE)");
    assert_eq!(r.iter().filter(|l| l.contains(" FETCH (")).count(), 2);
    // Section paths as deep as the parser allows (64) are served; deeper ones are BAD.
    let path = vec!["1"; 64].join(".");
    c.ok(&format!(
        "FETCH 1:* (BODY.PEEK[{path}] BODY.PEEK[{path}.MIME] BINARY.PEEK[{path}])"
    ));
    let (st, _) = c.status(&format!("FETCH 1 (BODY.PEEK[{path}.1])"));
    assert_eq!(st, "BAD");
    c.ok("SEARCH TEXT needle");
    c.ok("NOOP");
}

/// A multipart with more parts than MAX_PARTS (5000): stored and served, and its structure
/// stops at MAX_PARTS parts (the rest of the bytes stay in the message, not in the tree).
#[test]
fn mime_parts_are_bounded() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let mut m = String::from(
        "Subject: parts\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n",
    );
    for i in 0..6000 {
        m.push_str(&format!("--b\r\nContent-Type: text/plain\r\n\r\np{i}\r\n"));
    }
    m.push_str("--b--\r\n");
    let r = c.append("INBOX", "", m.as_bytes());
    assert!(r.last().unwrap().contains("OK"), "{r:?}");
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (BODYSTRUCTURE)").join("\n");
    let parts = r
        .to_ascii_lowercase()
        .matches("(\"text\" \"plain\"")
        .count();
    assert!(
        (1..=5000).contains(&parts),
        "BODYSTRUCTURE lists {parts} parts (MAX_PARTS is 5000)"
    );
    c.ok("FETCH 1 (BODY.PEEK[5000] BODY.PEEK[6000] BINARY.SIZE[1])");
    c.ok("SEARCH TEXT p5999");
}

#[test]
fn keywords_per_message_are_limited() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.append("INBOX", "", &message("k", "x"));
    c.ok("SELECT INBOX");
    let kws: Vec<String> = (0..64).map(|i| format!("k{i}")).collect();
    c.ok(&format!("STORE 1 +FLAGS ({})", kws.join(" ")));
    let (st, r) = c.status("STORE 1 +FLAGS (one-more)");
    assert_eq!(st, "NO", "{r:?}");
    assert!(r.last().unwrap().contains("[LIMIT]"), "{r:?}");
    let many: Vec<String> = (0..65).map(|i| format!("x{i}")).collect();
    let r = c.append("INBOX", &many.join(" "), &message("k2", "x"));
    assert!(r.last().unwrap().contains("NO [LIMIT]"), "{r:?}");
    c.ok("NOOP");
}

/// An over-long line while IDLE waits for `DONE` ends IDLE with a tagged `BAD`, and the
/// session goes on (before: the error was dropped, the framer left raw-line mode, and the
/// client's `DONE` was read as a command and dropped too, so IDLE never ended).
#[test]
fn overlong_line_in_idle_gets_a_tagged_bad() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.ok("SELECT INBOX");
    c.send(b"I1 IDLE\r\n");
    assert!(c.read_response().starts_with("+ "));
    let mut line = vec![b'x'; 200 * 1024];
    line.extend_from_slice(b"\r\n");
    c.send(&line);
    let r = c.read_until("I1");
    assert!(tagged(&r, "I1").starts_with("I1 BAD"), "{r:?}");
    c.ok("NOOP");
}

/// An over-long AUTHENTICATE continuation gets AUTHENTICATE's tagged `BAD`; the session stays
/// unauthenticated and in sync (before: an untagged BAD only, and the tag was never answered).
#[test]
fn overlong_authenticate_continuation_gets_a_tagged_bad() {
    let s = start();
    let mut c = Client::connect(s.addr);
    c.send(b"A1 AUTHENTICATE PLAIN\r\n");
    assert!(c.read_response().starts_with("+"));
    let mut line = vec![b'A'; 200 * 1024];
    line.extend_from_slice(b"\r\n");
    c.send(&line);
    let r = c.read_until("A1");
    assert!(tagged(&r, "A1").starts_with("A1 BAD"), "{r:?}");
    assert!(tagged(&r, "A1").contains("too long"), "{r:?}");
    let (status, r) = c.status("NOOP");
    assert_eq!(status, "OK", "{r:?}");
}
