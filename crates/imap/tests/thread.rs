//! THREAD and UID THREAD (RFC 5256 §3): ORDEREDSUBJECT, REFERENCES and REFS, over TCP.

mod common;

use common::*;

fn mail(id: &str, refs: &str, subject: &str, day: u32) -> Vec<u8> {
    let refs = if refs.is_empty() {
        String::new()
    } else {
        format!("References: {refs}\r\n")
    };
    format!(
        "From: a@example.org\r\nSubject: {subject}\r\nMessage-ID: <{id}@x>\r\n{refs}\
         Date: {day} Jan 2024 10:00:00 +0000\r\n\r\nbody\r\n"
    )
    .into_bytes()
}

/// 1 hello; 2, 4 reply to 1; 3 replies to 2; 5 and 6 reply to a message we do not have;
/// 7 is a reply by subject only; 8 stands alone. A first message is expunged, so UIDs are
/// sequence numbers + 1.
fn mailbox(c: &mut Client) {
    c.append("INBOX", "\\Deleted", &message("gone", "gone"));
    let msgs = [
        mail("a", "", "hello", 10),
        mail("b", "<a@x>", "Re: hello", 20),
        mail("c", "<a@x> <b@x>", "Re: hello", 30),
        mail("d", "<a@x>", "Re: hello", 25),
        mail("e", "<x@x>", "other", 15),
        mail("f", "<x@x>", "Re: other", 16),
        mail("g", "", "Re: HELLO", 28),
        mail("h", "", "lonely", 5),
    ];
    for m in &msgs {
        c.append("INBOX", "", m);
    }
    c.ok("SELECT INBOX");
    c.ok("EXPUNGE");
}

fn threads(c: &mut Client, cmd: &str) -> String {
    let r = c.ok(cmd);
    let line = r
        .iter()
        .find(|l| l.starts_with("* THREAD"))
        .unwrap_or_else(|| panic!("no THREAD response to {cmd}: {r:#?}"));
    line.trim_end()
        .strip_prefix("* THREAD")
        .unwrap_or("")
        .trim()
        .to_string()
}

#[test]
fn algorithms() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    mailbox(&mut c);
    assert_eq!(
        threads(&mut c, "THREAD REFERENCES UTF-8 ALL"),
        "(8)(1 (2 3)(4)(7))((5)(6))"
    );
    assert_eq!(
        threads(&mut c, "THREAD REFS UTF-8 ALL"),
        "(8)((5)(6))(7)(1 (2 3)(4))"
    );
    assert_eq!(
        threads(&mut c, "THREAD ORDEREDSUBJECT UTF-8 ALL"),
        "(8)(1 (2)(4)(7)(3))(5 6)"
    );
    assert_eq!(
        threads(&mut c, "UID THREAD REFERENCES UTF-8 ALL"),
        "(9)(2 (3 4)(5)(8))((6)(7))"
    );
    // Only matching messages are threaded: without 1, its replies hang from a dummy.
    assert_eq!(
        threads(&mut c, "THREAD REFERENCES UTF-8 NOT 1"),
        "(8)((5)(6))((2 3)(4)(7))"
    );
    assert_eq!(threads(&mut c, "THREAD REFS US-ASCII FROM nobody"), "");
}

#[test]
fn refusals() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let (st, _) = c.status("THREAD REFS UTF-8 ALL");
    assert_eq!(st, "BAD", "not selected");
    mailbox(&mut c);
    let (st, r) = c.status("THREAD REFS X-NOPE ALL");
    assert_eq!(st, "NO");
    assert!(has(&r, "[BADCHARSET"), "{r:#?}");
    for bad in ["THREAD BOGUS UTF-8 ALL", "THREAD REFS ALL", "THREAD"] {
        let (st, _) = c.status(bad);
        assert_eq!(st, "BAD", "{bad}");
    }
}

/// THREAD's inputs are kept per mailbox between commands and sessions: another session's
/// new reply and expunge show in the next THREAD, as a fresh server would answer; a second
/// mailbox with the same messages threads on its own.
#[test]
fn kept_inputs_follow_changes() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    mailbox(&mut c);
    let all = "(8)(1 (2 3)(4)(7))((5)(6))";
    assert_eq!(threads(&mut c, "THREAD REFERENCES UTF-8 ALL"), all);
    // A search set: threaded from the same inputs, only the hits (1 is a dummy).
    assert_eq!(threads(&mut c, "THREAD REFERENCES UTF-8 2:4"), "((2 3)(4))");
    let mut d = Client::login(s.addr, USER);
    d.ok("SELECT INBOX");
    assert_eq!(threads(&mut d, "THREAD REFERENCES UTF-8 ALL"), all);
    // d: a reply to 3 (c) arrives; 8 (h) is expunged.
    d.append(
        "INBOX",
        "",
        &mail("i", "<a@x> <b@x> <c@x>", "Re: hello", 31),
    );
    d.ok("UID STORE 9 +FLAGS (\\Deleted)");
    d.ok("EXPUNGE");
    let now = "(1 (2 3 8)(4)(7))((5)(6))";
    assert_eq!(threads(&mut d, "THREAD REFERENCES UTF-8 ALL"), now);
    // c learns of the changes, then threads the same mailbox.
    c.ok("NOOP");
    assert_eq!(threads(&mut c, "THREAD REFERENCES UTF-8 ALL"), now);
    assert_eq!(
        threads(&mut c, "UID THREAD REFERENCES UTF-8 ALL"),
        "(2 (3 4 10)(5)(8))((6)(7))"
    );
    // The same messages in another mailbox (new UIDs there) thread alike.
    c.ok("CREATE Copy");
    c.ok("COPY 1:* Copy");
    c.ok("SELECT Copy");
    assert_eq!(threads(&mut c, "THREAD REFERENCES UTF-8 ALL"), now);
    assert_eq!(
        threads(&mut c, "UID THREAD REFERENCES UTF-8 ALL"),
        "(1 (2 3 8)(4)(7))((5)(6))"
    );
}
