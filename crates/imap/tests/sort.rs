//! SORT and UID SORT (RFC 5256 §3), DISPLAYSORT (RFC 5957), ESORT (RFC 5267 §3) and the
//! I18NLEVEL=1 comparator in SEARCH and SORT (RFC 5255, RFC 5051), over TCP.

mod common;

use common::*;

/// APPEND with an INTERNALDATE.
fn append_dated(c: &mut Client, date: &str, msg: &str) {
    c.send(format!("d APPEND INBOX \"{date}\" {{{}}}\r\n", msg.len()).as_bytes());
    assert!(c.read_response().starts_with('+'));
    c.send(msg.as_bytes());
    c.send(b"\r\n");
    let r = c.read_until("d");
    assert!(r.last().is_some_and(|l| l.starts_with("d OK")), "{r:#?}");
}

fn mail(headers: &str, body_len: usize) -> String {
    format!("{headers}\r\n{}\r\n", "x".repeat(body_len))
}

/// Four messages whose every sort key differs (see each test for the expected orders).
/// A first message is expunged, so UIDs are sequence numbers + 1.
fn mailbox(c: &mut Client) {
    c.append("INBOX", "\\Deleted", &message("gone", "gone"));
    append_dated(
        c,
        "01-Feb-2024 00:00:00 +0000",
        &mail(
            "From: \"Zed\" <bob@x.org>\r\nTo: Xavier <carol@y.org>\r\nSubject: Re: привет\r\n\
             Date: Mon, 15 Jan 2024 10:00:00 +0000\r\nMessage-ID: <1@x>\r\n",
            1000,
        ),
    );
    append_dated(
        c,
        "03-Feb-2024 00:00:00 +0000",
        &mail(
            "From: alice@x.org\r\nTo: =?utf-8?b?0JHQvtGA0LjRgQ==?= <dave@y.org>\r\n\
             Cc: eve@z.org\r\nSubject: =?utf-8?b?0J/QoNCY0JLQldCiINC80LjRgA==?=\r\n\
             Date: Sun, 14 Jan 2024 23:00:00 -0300\r\nMessage-ID: <2@x>\r\n",
            10,
        ),
    );
    append_dated(
        c,
        "10-Jan-2024 00:00:00 +0000",
        &mail(
            "From: Carol <carol@x.org>\r\nTo: Yolanda <alice@y.org>\r\nSubject: apple\r\n\
             Message-ID: <3@x>\r\n",
            500,
        ),
    );
    append_dated(
        c,
        "02-Feb-2024 00:00:00 +0000",
        &mail(
            "From: =?koi8-r?b?xM3J1NLJyg==?= <dm@x.org>\r\nCc: adam@z.org\r\n\
             Subject: [list] Zebra\r\nDate: Tue, 16 Jan 2024 08:00:00 +0000\r\n\
             Message-ID: <4@x>\r\n",
            2000,
        ),
    );
    c.ok("SELECT INBOX");
    c.ok("EXPUNGE");
}

fn sorted(c: &mut Client, cmd: &str) -> String {
    let r = c.ok(cmd);
    let line = r
        .iter()
        .find(|l| l.starts_with("* SORT"))
        .unwrap_or_else(|| panic!("no SORT response to {cmd}: {r:#?}"));
    line.trim_end()
        .strip_prefix("* SORT")
        .unwrap_or("")
        .trim()
        .to_string()
}

#[test]
fn advertised() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let r = c.ok("CAPABILITY");
    for cap in [
        " SORT ",
        " SORT=DISPLAY ",
        " ESORT ",
        " THREAD=ORDEREDSUBJECT ",
        " THREAD=REFERENCES ",
        " THREAD=REFS ",
        " I18NLEVEL=1 ",
    ] {
        assert!(has(&r, cap), "{cap} missing: {r:#?}");
    }
}

#[test]
fn every_key() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    mailbox(&mut c);
    let cases: &[(&str, &str)] = &[
        ("ARRIVAL", "3 1 4 2"),
        // The Date: header in UTC; message 3 has none and sorts by its INTERNALDATE.
        ("DATE", "3 2 1 4"),
        ("SIZE", "2 3 1 4"),
        ("REVERSE SIZE", "4 1 3 2"),
        // Base subjects under i;unicode-casemap: apple, Zebra, привет, ПРИВЕТ мир.
        ("SUBJECT", "3 4 1 2"),
        ("REVERSE SUBJECT", "2 1 4 3"),
        ("FROM", "2 1 3 4"),
        // Zed, alice@x.org, Carol, дмитрий (RFC 2047-decoded).
        ("DISPLAYFROM", "2 3 1 4"),
        // A missing To sorts first.
        ("TO", "4 3 1 2"),
        ("DISPLAYTO", "4 1 3 2"),
        // Equal keys keep mailbox order, also when reversed.
        ("CC", "1 3 4 2"),
        ("REVERSE CC", "2 4 1 3"),
        ("CC SIZE", "3 1 4 2"),
        ("CC REVERSE ARRIVAL", "1 3 4 2"),
    ];
    for (keys, want) in cases {
        assert_eq!(
            sorted(&mut c, &format!("SORT ({keys}) UTF-8 ALL")),
            *want,
            "SORT ({keys})"
        );
    }
    // UID SORT answers UIDs; the search criteria select what is sorted.
    assert_eq!(sorted(&mut c, "UID SORT (DATE) UTF-8 ALL"), "4 3 2 5");
    assert_eq!(
        sorted(&mut c, "SORT (SUBJECT) UTF-8 SUBJECT \"привет\""),
        "1 2"
    );
    assert_eq!(sorted(&mut c, "SORT (SIZE) US-ASCII LARGER 1500"), "4");
    assert_eq!(sorted(&mut c, "SORT (SIZE) UTF-8 FROM nobody"), "");
}

#[test]
fn esort() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    mailbox(&mut c);
    let r = c.ok("SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL");
    assert!(has(&r, ") MIN 3 MAX 4 COUNT 4"), "{r:#?}");
    assert!(!has(&r, "* SORT"), "{r:#?}");
    // ALL in sort order (RFC 5267 §3.2); RETURN () means ALL.
    let r = c.ok("UID SORT RETURN (ALL) (DATE) UTF-8 ALL");
    assert!(has(&r, ") UID ALL 4,3,2,5"), "{r:#?}");
    let r = c.ok("SORT RETURN () (SIZE) UTF-8 ALL");
    // An ascending run may be a range: 2:3 is 2 then 3.
    assert!(has(&r, ") ALL 2:3,1,4"), "{r:#?}");
    // Nothing matched: no MIN/MAX/ALL, COUNT 0.
    let r = c.ok("SORT RETURN (MIN COUNT) (DATE) UTF-8 FROM nobody");
    assert!(has(&r, ") COUNT 0"), "{r:#?}");
    assert!(!has(&r, "MIN"), "{r:#?}");
}

#[test]
fn refusals() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let (st, _) = c.status("SORT (DATE) UTF-8 ALL");
    assert_eq!(st, "BAD", "not selected");
    mailbox(&mut c);
    let (st, r) = c.status("SORT (DATE) X-NOPE ALL");
    assert_eq!(st, "NO");
    assert!(has(&r, "[BADCHARSET"), "{r:#?}");
    for bad in [
        "SORT DATE UTF-8 ALL",
        "SORT () UTF-8 ALL",
        "SORT (BOGUS) UTF-8 ALL",
        "SORT (DATE) ALL",
        "SORT (REVERSE) UTF-8 ALL",
    ] {
        let (st, _) = c.status(bad);
        assert_eq!(st, "BAD", "{bad}");
    }
    // The session is still in sync.
    assert_eq!(sorted(&mut c, "SORT (ARRIVAL) UTF-8 ALL"), "3 1 4 2");
}

#[test]
fn unicode_casemap_in_search() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    mailbox(&mut c);
    let cases: &[(&str, &str)] = &[
        ("SUBJECT \"ПРИВЕТ\"", "1 2"),
        ("SUBJECT \"привет МИР\"", "2"),
        ("CHARSET UTF-8 SUBJECT \"ПрИвЕт\"", "1 2"),
        ("FROM \"ДМИТРИЙ\"", "4"),
        ("TO \"борис\"", "2"),
        ("HEADER Subject \"ZEBRA\"", "4"),
        ("TEXT \"XAVIER\"", "1"),
    ];
    for (q, want) in cases {
        let r = c.ok(&format!("SEARCH {q}"));
        let line = r
            .iter()
            .find(|l| l.starts_with("* SEARCH"))
            .expect("SEARCH response");
        assert_eq!(
            line.trim_end(),
            format!("* SEARCH {want}").trim_end(),
            "SEARCH {q}"
        );
    }
    // The same string in KOI8-R ("привет").
    c.send(b"k1 SEARCH CHARSET KOI8-R SUBJECT {6}\r\n");
    assert!(c.read_response().starts_with('+'));
    c.send(b"\xd0\xd2\xc9\xd7\xc5\xd4\r\n");
    let r = c.read_until("k1");
    assert_eq!(r[0], "* SEARCH 1 2", "{r:#?}");
}

/// SORT by SUBJECT and DATE reads subjects and dates kept per mailbox between commands and
/// sessions (shared with THREAD): another session's new message and expunge show in the
/// next SORT, and a THREAD after them threads the current messages.
#[test]
fn kept_keys_follow_changes() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    mailbox(&mut c);
    assert_eq!(sorted(&mut c, "SORT (SUBJECT) UTF-8 ALL"), "3 4 1 2");
    assert_eq!(sorted(&mut c, "SORT (DATE SUBJECT) UTF-8 ALL"), "3 2 1 4");
    let mut d = Client::login(s.addr, USER);
    d.ok("SELECT INBOX");
    append_dated(
        &mut d,
        "05-Feb-2024 00:00:00 +0000",
        &mail(
            "Subject: Aardvark\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <5@x>\r\n",
            10,
        ),
    );
    d.ok("UID STORE 5 +FLAGS (\\Deleted)");
    d.ok("EXPUNGE");
    c.ok("NOOP");
    assert_eq!(sorted(&mut c, "SORT (SUBJECT) UTF-8 ALL"), "4 3 1 2");
    assert_eq!(
        sorted(&mut c, "SORT (REVERSE SUBJECT) UTF-8 ALL"),
        "2 1 3 4"
    );
    assert_eq!(sorted(&mut c, "UID SORT (DATE) UTF-8 ALL"), "6 4 3 2");
    assert_eq!(sorted(&mut c, "SORT (SUBJECT) UTF-8 2:3"), "3 2");
    let r = c.ok("THREAD REFERENCES UTF-8 ALL");
    assert!(has(&r, "* THREAD (4)(3)(2)(1)"), "{r:#?}");
}
