//! APPEND, SELECT/EXAMINE, FETCH, STORE, SEARCH, COPY, MOVE, EXPUNGE, CLOSE, UNSELECT
//! (RFC 3501 §6.3.1–6.3.2, §6.3.11, §6.4).

mod common;

use common::*;

const MULTI: &[u8] = b"From: =?koi8-r?B?6dfBziDwxdTSz9c=?= <ivan@example.org>\r\n\
To: user@example.org\r\n\
Subject: =?utf-8?B?0J7RgtGH0ZHRgiDQt9CwINC80LDRgNGC?=\r\n\
Date: Mon, 15 Jan 2024 10:30:00 +0300\r\n\
Message-ID: <m1@example.org>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: text/plain; charset=koi8-r\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
=F0=D2=C9=D7=C5=D4, =DC=D4=CF =CF=D4=DE=A3=D4.\r\n\
--b1\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
Subject: inner\r\n\
From: a@b.c\r\n\
\r\n\
inner body\r\n\
--b1--\r\n";

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

#[test]
fn examine_is_read_only() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.append("INBOX", "", &message("a", "b"));
    let r = c.ok("EXAMINE INBOX");
    assert!(r.last().unwrap().contains("[READ-ONLY]"));
    assert!(has(&r, "[PERMANENTFLAGS ()]"));
    assert!(has(&r, "* 0 RECENT"), "EXAMINE claims no \\Recent: {r:#?}");
    let r = c.ok("FETCH 1 BODY[]");
    assert!(!r[0].contains("\\Seen"), "{r:#?}");
    let (st, _) = c.status("STORE 1 +FLAGS (\\Deleted)");
    assert_eq!(st, "NO");
    let (st, _) = c.status("EXPUNGE");
    assert_eq!(st, "NO");
    let r = c.ok("SELECT INBOX");
    assert!(has(&r, "* 1 RECENT"), "{r:#?}");
}

#[test]
fn store_flags() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    for i in 0..3 {
        c.append("INBOX", "", &message(&format!("m{i}"), "x"));
    }
    c.ok("SELECT INBOX");
    let r = c.ok("STORE 1:2 +FLAGS (\\Seen Important)");
    assert_eq!(r.len(), 3, "{r:#?}");
    assert!(
        r[0].starts_with("* 1 FETCH (FLAGS (\\Seen Important \\Recent))"),
        "{r:#?}"
    );
    let r = c.ok("STORE 1 -FLAGS (important)");
    assert!(r[0].contains("FLAGS (\\Seen \\Recent)"), "{r:#?}");
    let r = c.ok("STORE 2 FLAGS.SILENT (\\Draft)");
    assert_eq!(r.len(), 1, "silent: {r:#?}");
    let r = c.ok("UID STORE 3 +FLAGS (\\Answered)");
    assert!(
        r[0].starts_with("* 3 FETCH (UID 3 FLAGS (\\Answered \\Recent))"),
        "{r:#?}"
    );
    let r = c.ok("FETCH 1:3 FLAGS");
    assert!(r[1].contains("FLAGS (\\Draft \\Recent)"), "{r:#?}");
    // \Recent cannot be changed by a client; it is ignored (RFC 3501 §2.3.2).
    let r = c.ok("STORE 1 FLAGS (\\Recent \\Seen)");
    assert!(r[0].contains("FLAGS (\\Seen \\Recent)"), "{r:#?}");
    let (st, _) = c.status("STORE 1 +FLAGS (\\Bogus)");
    assert_eq!(st, "BAD");
}

#[test]
fn search_keys() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.append("INBOX", "\\Flagged", MULTI);
    c.append(
        "INBOX",
        "\\Seen",
        &message("hello world", "the quick brown fox"),
    );
    let big = message("big", &"x".repeat(5000));
    c.append("INBOX", "\\Deleted", &big);
    c.ok("SELECT INBOX");
    let cases: &[(&str, &str)] = &[
        ("ALL", "1 2 3"),
        ("FLAGGED", "1"),
        ("UNSEEN", "1 3"),
        ("SEEN", "2"),
        ("DELETED", "3"),
        ("UNDELETED", "1 2"),
        ("NEW", "1 3"),
        ("RECENT", "1 2 3"),
        ("OLD", ""),
        ("LARGER 4000", "3"),
        ("SMALLER 4000", "1 2"),
        ("SUBJECT hello", "2"),
        ("SUBJECT HELLO", "2"),
        ("FROM ivan", "1"),
        ("FROM \"Иван\"", "1"),
        ("TO user@example.org", "1 2 3"),
        ("HEADER Message-ID <m1@", "1"),
        ("HEADER X-Missing \"\"", ""),
        ("BODY quick", "2"),
        ("BODY \"отчёт\"", "1"),
        ("CHARSET UTF-8 BODY \"ОТЧЁТ\"", "1"),
        // Raw 8-bit in an atom, as imaplib sends it (accepted like Dovecot does).
        ("CHARSET UTF-8 BODY отчёт", "1"),
        ("TEXT hello", "2"),
        ("TEXT \"отчёт за март\"", "1"),
        ("NOT FLAGGED", "2 3"),
        ("OR FLAGGED SEEN", "1 2"),
        ("(FLAGGED) (UNSEEN)", "1"),
        ("2:3 UNDELETED", "2"),
        ("UID 1,3", "1 3"),
        ("SENTON 15-Jan-2024", "1 2 3"),
        ("SENTBEFORE 15-Jan-2024", ""),
        ("SENTSINCE 16-Jan-2024", ""),
        ("SINCE 1-Jan-2020", "1 2 3"),
        ("BEFORE 1-Jan-2020", ""),
        ("KEYWORD $x", ""),
        ("UNKEYWORD $x", "1 2 3"),
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
    // Charsets: the search string in KOI8-R ("отчёт").
    c.send(b"k1 SEARCH CHARSET KOI8-R BODY {5}\r\n");
    assert!(c.read_response().starts_with('+'));
    c.send(b"\xcf\xd4\xde\xa3\xd4\r\n");
    let r = c.read_until("k1");
    assert_eq!(r[0], "* SEARCH 1", "{r:#?}");
    let (st, r) = c.status("SEARCH CHARSET X-NOPE BODY a");
    assert_eq!(st, "NO");
    assert!(has(&r, "[BADCHARSET"), "{r:#?}");
    let r = c.ok("UID SEARCH SEEN");
    assert_eq!(r[0], "* SEARCH 2");
    // ESEARCH and SEARCHRES.
    let r = c.ok("SEARCH RETURN (MIN MAX COUNT) UNDELETED");
    assert!(r[0].starts_with("* ESEARCH (TAG \"t"), "{r:#?}");
    assert!(r[0].ends_with("MIN 1 MAX 2 COUNT 2"), "{r:#?}");
    c.ok("SEARCH RETURN (SAVE) FLAGGED");
    let r = c.ok("FETCH $ (UID)");
    assert_eq!(r.len(), 2);
    assert!(r[0].starts_with("* 1 FETCH"));
}

#[test]
fn copy_move_expunge() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    for i in 0..4 {
        c.append(
            "INBOX",
            if i == 0 { "\\Flagged" } else { "" },
            &message(&format!("m{i}"), "x"),
        );
    }
    c.ok("CREATE Dest");
    c.ok("SELECT INBOX");
    let (st, r) = c.status("COPY 1 Nowhere");
    assert_eq!(st, "NO");
    assert!(has(&r, "[TRYCREATE]"));
    let r = c.ok("COPY 1:2 Dest");
    assert!(r.last().unwrap().contains("[COPYUID "), "{r:#?}");
    assert!(r.last().unwrap().contains(" 1:2 1:2]"), "{r:#?}");
    let r = c.ok("STATUS Dest (MESSAGES)");
    assert!(has(&r, "MESSAGES 2"));
    // Flags are kept by COPY.
    let r = c.ok("UID MOVE 3 Dest");
    assert!(has(&r, "* OK [COPYUID "), "{r:#?}");
    assert!(has(&r, "* 3 EXPUNGE"), "{r:#?}");
    let r = c.ok("FETCH 1:* UID");
    assert_eq!(r.len(), 4, "{r:#?}");
    c.ok("STORE 1,3 +FLAGS.SILENT (\\Deleted)");
    let r = c.ok("EXPUNGE");
    assert_eq!(
        &r[..2],
        &["* 3 EXPUNGE".to_string(), "* 1 EXPUNGE".to_string()],
        "{r:#?}"
    );
    let r = c.ok("FETCH 1:* (UID)");
    assert_eq!(r[0], "* 1 FETCH (UID 2)");
    // UID EXPUNGE only touches the given UIDs.
    c.ok("SELECT Dest");
    let r = c.ok("FETCH 1 FLAGS");
    assert!(r[0].contains("\\Flagged"), "COPY keeps flags: {r:#?}");
    c.ok("STORE 1:3 +FLAGS.SILENT (\\Deleted)");
    let r = c.ok("UID EXPUNGE 2");
    assert_eq!(r[0], "* 2 EXPUNGE", "{r:#?}");
    assert_eq!(r.len(), 2);
    // CLOSE expunges silently; UNSELECT does not.
    let r = c.ok("CLOSE");
    assert_eq!(r.len(), 1, "{r:#?}");
    let r = c.ok("STATUS Dest (MESSAGES)");
    assert!(has(&r, "MESSAGES 0"), "{r:#?}");
    c.ok("SELECT INBOX");
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    c.ok("UNSELECT");
    let r = c.ok("STATUS INBOX (MESSAGES)");
    assert!(has(&r, "MESSAGES 1"), "{r:#?}");
    let (st, _) = c.status("FETCH 1 FLAGS");
    assert_eq!(st, "BAD");
}

#[test]
fn append_errors() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let r = c.append("Nowhere", "", &message("a", "b"));
    assert!(r.last().unwrap().contains("NO [TRYCREATE]"), "{r:#?}");
    // A literal over APPENDLIMIT is refused before it is sent.
    c.send(b"big APPEND INBOX {99999999}\r\n");
    let r = c.read_response();
    assert!(r.starts_with("big NO [TOOBIG]"), "{r}");
    c.ok("NOOP");
    let (st, _) = c.status("APPEND INBOX (\\Bogus) {1+}\r\nx");
    assert_eq!(st, "BAD");
    let (st, r) = c.status("APPEND INBOX \"99-Xyz-2024 00:00:00 +0000\" {1+}\r\nx");
    assert_eq!(st, "BAD", "{r:#?}");
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
