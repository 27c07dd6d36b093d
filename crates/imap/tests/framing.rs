//! Pipelining, literals and malformed input (RFC 3501 §5.5, RFC 7888, RFC 9051 §2.2).

mod common;

use common::*;

#[test]
fn pipelined_commands_are_answered_in_order() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.append("INBOX", "", &message("one", "x"));
    c.send(b"p1 SELECT INBOX\r\np2 FETCH 1 (UID)\r\np3 STORE 1 +FLAGS (\\Seen)\r\np4 SEARCH SEEN\r\np5 NOOP\r\n");
    let mut all = Vec::new();
    for t in ["p1", "p2", "p3", "p4", "p5"] {
        let r = c.read_until(t);
        assert!(r.last().unwrap().starts_with(&format!("{t} OK")), "{r:#?}");
        all.extend(r);
    }
    assert!(has(&all, "* 1 FETCH (UID 1)"));
    assert!(has(&all, "* SEARCH 1"));
}

#[test]
fn literals_everywhere() {
    let s = start();
    let mut c = Client::connect(s.addr);
    // Synchronizing literals for both LOGIN arguments.
    c.send(b"l1 LOGIN {16}\r\n");
    assert!(c.read_response().starts_with('+'));
    c.send(b"user@example.org {6}\r\n");
    assert!(c.read_response().starts_with('+'));
    c.send(b"secret\r\n");
    let r = c.read_until("l1");
    assert!(r.last().unwrap().starts_with("l1 OK"), "{r:#?}");
    // LITERAL+ in a mailbox name.
    c.ok("CREATE {4+}\r\nLit1");
    let r = c.ok("LIST \"\" Lit1");
    assert!(has(&r, "\"Lit1\""));
    // MULTIAPPEND-free APPEND with LITERAL+.
    let msg = message("lp", "body");
    let r = c.cmd(&format!(
        "APPEND Lit1 {{{}+}}\r\n{}",
        msg.len(),
        String::from_utf8_lossy(&msg)
    ));
    assert!(r.last().unwrap().contains("OK [APPENDUID"), "{r:#?}");
}

#[test]
fn malformed_commands_keep_the_session_in_sync() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    for bad in [
        "FETCH",
        "SELECT",
        "LIST \"\"",
        "STORE 1 +FLAGS",
        "SEARCH (ALL",
        "UID FROB 1",
        "CREATE \"unterminated",
        "FETCH 1 (BODY[",
    ] {
        let (st, r) = c.status(bad);
        assert_eq!(st, "BAD", "{bad}: {r:#?}");
    }
    // An untagged garbage line.
    c.send(b"\r\n");
    c.send(b"+++\r\n");
    let r = c.read_response();
    assert!(r.starts_with("* BAD"), "{r}");
    // An over-long line.
    let long = format!("x1 NOOP {}\r\n", "a".repeat(70 * 1024));
    c.send(long.as_bytes());
    let r = c.read_response();
    assert!(r.contains("BAD"), "{r}");
    c.ok("NOOP");
    // Deep SEARCH nesting is refused, not a crash.
    let deep = format!("SEARCH {}ALL{}", "(".repeat(100), ")".repeat(100));
    let (st, _) = c.status(&deep);
    assert_eq!(st, "BAD");
    c.ok("NOOP");
}
