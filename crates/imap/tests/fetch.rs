//! FETCH and UID FETCH (RFC 3501 §6.4.5, BINARY RFC 3516, PREVIEW RFC 8970), on messages
//! put there by APPEND.

mod common;

use common::*;

#[test]
fn append_select_fetch() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let r = c.append("INBOX", "\\Flagged $Work", MULTI);
    assert!(r.last().unwrap().contains("[APPENDUID "), "{r:#?}");
    let tag = format!("t{} ", 99);
    let _ = tag;
    // APPEND with an internal date.
    let t = "t50";
    c.send(
        format!(
            "{t} APPEND INBOX () \"15-Jan-2024 10:31:00 +0300\" {{{}}}\r\n",
            20
        )
        .as_bytes(),
    );
    assert!(c.read_response().starts_with('+'));
    c.send(b"Subject: x\r\n\r\nhello!\r\n");
    let r = c.read_until(t);
    assert!(r.last().unwrap().starts_with("t50 OK"), "{r:#?}");

    let r = c.ok("SELECT INBOX");
    assert!(has(&r, "* 2 EXISTS"), "{r:#?}");
    assert!(has(&r, "* 2 RECENT"));
    assert!(has(&r, "* OK [UIDVALIDITY "));
    assert!(has(&r, "* OK [UIDNEXT 3]"));
    assert!(has(&r, "* OK [UNSEEN 1]"));
    assert!(has(&r, "$Work"), "keyword in FLAGS: {r:#?}");
    assert!(r.last().unwrap().contains("[READ-WRITE]"));

    let r = c.ok("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE UID)");
    assert!(
        r[0].starts_with("* 1 FETCH (FLAGS (\\Flagged $Work \\Recent) INTERNALDATE \""),
        "{r:#?}"
    );
    assert!(r[0].contains(&format!("RFC822.SIZE {}", MULTI.len())));
    let r = c.ok("FETCH 2 INTERNALDATE");
    assert!(
        has(&r, "INTERNALDATE \"15-Jan-2024 10:31:00 +0300\""),
        "{r:#?}"
    );

    let r = c.ok("FETCH 1 (ENVELOPE BODYSTRUCTURE)");
    assert!(
        r[0].contains("ENVELOPE (\"Mon, 15 Jan 2024 10:30:00 +0300\""),
        "{r:#?}"
    );
    assert!(r[0].contains("\"<m1@example.org>\")"));
    assert!(
        r[0].contains("(\"text\" \"plain\" (\"charset\" \"koi8-r\") NIL NIL \"quoted-printable\""),
        "{r:#?}"
    );
    assert!(r[0].contains("\"message\" \"rfc822\""));
    assert!(r[0].contains("\"mixed\" (\"boundary\" \"b1\")"));

    // Sections: part 2 is message/rfc822; 2.HEADER and 2.TEXT address the inner message.
    let r = c.ok("FETCH 1 (BODY.PEEK[2.HEADER.FIELDS (subject)] BODY.PEEK[2.TEXT] BODY.PEEK[1.MIME] BODY.PEEK[HEADER.FIELDS.NOT (To From Subject Date Message-ID Content-Type)])");
    let f = &r[0];
    assert!(
        f.contains("BODY[2.HEADER.FIELDS (subject)] {18}\r\nSubject: inner\r\n\r\n"),
        "{f}"
    );
    assert!(
        f.contains("BODY[2.TEXT] {10}\r\ninner body BODY[1.MIME]"),
        "the CRLF before a boundary belongs to it: {f}"
    );
    assert!(f.contains("BODY[1.MIME] {"), "{f}");
    assert!(f.contains("BODY[HEADER.FIELDS.NOT (To From Subject Date Message-ID Content-Type)] {21}\r\nMIME-Version: 1.0\r\n\r\n"), "{f}");
    // Partial fetch: the response names only the origin.
    let r = c.ok("FETCH 2 BODY.PEEK[]<0.7>");
    assert!(r[0].contains("BODY[]<0> {7}\r\nSubject"), "{r:#?}");
    let r = c.ok("FETCH 2 BODY.PEEK[TEXT]<100.5>");
    assert!(r[0].contains("BODY[TEXT]<100> {0}"), "{r:#?}");
    // BINARY decodes the transfer encoding.
    let r = c.ok("FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1])");
    assert!(
        r[0].contains("BINARY.SIZE[1] 18") && r[0].contains("BINARY[1] {18}"),
        "{r:#?}"
    );
    // Macros.
    let r = c.ok("FETCH 1:* FAST");
    assert_eq!(r.len(), 3);
    assert!(
        r[0].contains("FLAGS") && r[0].contains("INTERNALDATE") && r[0].contains("RFC822.SIZE")
    );
    let r = c.ok("FETCH 1 ALL");
    assert!(r[0].contains("ENVELOPE"));
    let r = c.ok("FETCH 1 FULL");
    assert!(r[0].contains("BODY ("));

    // PEEK did not set \Seen; BODY[] does, and reports FLAGS.
    let r = c.ok("FETCH 2 BODY[TEXT]");
    assert!(r[0].contains("FLAGS (\\Seen \\Recent)"), "{r:#?}");
    let r = c.ok("FETCH 2 RFC822.HEADER");
    assert!(
        r[0].contains("RFC822.HEADER {14}\r\nSubject: x\r\n\r\n"),
        "{r:#?}"
    );
    let r = c.ok("FETCH 2 RFC822");
    assert!(r[0].contains("RFC822 {20}"), "{r:#?}");

    // UID FETCH includes UID.
    let r = c.ok("UID FETCH 2 FLAGS");
    assert!(r[0].starts_with("* 2 FETCH (UID 2 FLAGS"), "{r:#?}");
    let r = c.ok("UID FETCH 3:* FLAGS");
    assert!(
        r[0].starts_with("* 2 FETCH (UID 2"),
        "n:* includes the highest UID: {r:#?}"
    );
    let r = c.ok("UID FETCH 50 FLAGS");
    assert_eq!(r.len(), 1);
    // Sequence numbers out of range are an error.
    let (st, _) = c.status("FETCH 5 FLAGS");
    assert_eq!(st, "BAD");
}

/// A FETCH larger than one output chunk (256 KiB) is written chunk by chunk: every message
/// arrives whole and in order, the tagged OK comes last, and the session goes on normally
/// (also with a pipelined command behind the FETCH).
#[test]
fn fetch_larger_than_a_chunk_streams_whole() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let bodies: Vec<String> = (0..12)
        .map(|i| format!("{i:02}").repeat(50 * 1024) + "\r\n")
        .collect();
    for (i, b) in bodies.iter().enumerate() {
        let r = c.append("INBOX", "", &message(&format!("big {i}"), b));
        assert!(r.last().unwrap().contains("OK"), "{r:#?}");
    }
    c.ok("SELECT INBOX");
    c.send(b"f1 FETCH 1:* (UID BODY[TEXT])\r\nf2 NOOP\r\n");
    let r = c.read_until("f1");
    let fetches: Vec<&String> = r.iter().filter(|l| l.contains(" FETCH (")).collect();
    assert_eq!(fetches.len(), 12);
    for (i, (line, body)) in fetches.iter().zip(&bodies).enumerate() {
        assert!(
            line.starts_with(&format!("* {} FETCH (UID {} ", i + 1, i + 1)),
            "{i}"
        );
        assert!(line.contains(body.as_str()), "message {i} is not whole");
    }
    assert!(r.last().unwrap().starts_with("f1 OK"), "{:?}", r.last());
    let r = c.read_until("f2");
    assert!(r.last().unwrap().starts_with("f2 OK"), "{r:#?}");
}

#[test]
fn preview() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let html = b"Subject: h\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Hello   <b>there</b>,</p>\r\n<p>world</p></body></html>\r\n";
    c.append("INBOX", "", html);
    c.append("INBOX", "", &message("p", "Plain body text"));
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1:2 (PREVIEW)");
    assert!(r[0].contains("PREVIEW \"Hello there, world\""), "{r:#?}");
    assert!(r[1].contains("PREVIEW \"Plain body text\""), "{r:#?}");
    let r = c.ok("FETCH 2 (PREVIEW (LAZY))");
    assert!(r[0].contains("PREVIEW \"Plain body text\""), "{r:#?}");
}

/// RFC 9051 §9 addr-mailbox / RFC 3501 §7.4.2: the ENVELOPE mailbox of a quoted local part
/// has its RFC 5322 quoting removed.
#[test]
fn envelope_removes_the_quoting_of_a_local_part() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.append(
        "INBOX",
        "",
        b"From: \"John Doe\" <\"john..doe\"@example.com>\r\nTo: \"a\\\"b\"@example.com\r\nSubject: q\r\n\r\nx\r\n",
    );
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (ENVELOPE)");
    assert!(
        r[0].contains("((\"John Doe\" NIL \"john..doe\" \"example.com\"))"),
        "{r:#?}"
    );
    // An escaped quote inside stays as the character it stands for (a literal, as Dovecot
    // sends strings holding `"`).
    assert!(
        r[0].contains("((NIL NIL {3}\r\na\"b \"example.com\"))"),
        "{r:#?}"
    );
}

/// message/global has envelope and body in IMAP4rev2 (RFC 9051 §7.5.2) but is a basic body in
/// IMAP4rev1, which gives them to message/rfc822 only (RFC 3501 §9, RFC 6532 §3.7).
#[test]
fn message_global_is_basic_in_imap4rev1() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let msg = b"From: a@example.org\r\nSubject: outer\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
--b\r\nContent-Type: message/global\r\n\r\nFrom: b@example.org\r\nSubject: inner\r\n\r\nthere\r\n\
--b--\r\n";
    c.append("INBOX", "", msg);
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (BODY BODYSTRUCTURE)");
    assert!(!r[0].contains("inner"), "no envelope in IMAP4rev1: {r:#?}");
    assert!(
        r[0].contains("(\"message\" \"global\" NIL NIL NIL \"7bit\" 44)"),
        "basic BODY: {r:#?}"
    );
    // message/rfc822 is unaffected, and the section is still fetchable.
    let r = c.ok("FETCH 1 (BODY.PEEK[2])");
    assert!(r[0].contains("Subject: inner"), "{r:#?}");
    // The same message in an IMAP4rev2 session.
    let mut c2 = Client::login(s.addr, USER);
    c2.ok("ENABLE IMAP4rev2");
    c2.ok("SELECT INBOX");
    let r = c2.ok("FETCH 1 (BODYSTRUCTURE)");
    assert!(r[0].contains("\"inner\""), "envelope in IMAP4rev2: {r:#?}");
    assert!(r[0].contains("\"message\" \"global\""), "{r:#?}");
}
