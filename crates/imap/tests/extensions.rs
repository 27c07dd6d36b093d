//! OBJECTID (RFC 8474), PREVIEW (RFC 8970), UTF8=ACCEPT (RFC 6855), MULTIAPPEND (RFC 3502),
//! BINARY APPEND (RFC 3516), ID, NAMESPACE, UNSELECT, SAVEDATE, STATUS=SIZE, WITHIN.

mod common;

use common::*;

#[test]
fn object_ids() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let r = c.ok("CREATE Projects");
    assert!(r.last().unwrap().contains("[MAILBOXID (M"), "{r:#?}");
    let id = r
        .last()
        .unwrap()
        .split("MAILBOXID (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .to_string();
    c.ok("RENAME Projects Work");
    let r = c.ok("STATUS Work (MAILBOXID MESSAGES)");
    assert!(
        has(&r, &format!("MAILBOXID ({id})")),
        "a renamed mailbox keeps its id: {r:#?}"
    );
    c.append("Work", "", &message("obj", "x"));
    let r = c.ok("SELECT Work");
    assert!(has(&r, &format!("* OK [MAILBOXID ({id})]")), "{r:#?}");
    let r = c.ok("FETCH 1 (EMAILID THREADID)");
    assert!(
        r[0].contains("EMAILID (E") && r[0].contains("THREADID NIL"),
        "{r:#?}"
    );
    let email = r[0]
        .split("EMAILID (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap()
        .to_string();
    c.ok("COPY 1 INBOX");
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (EMAILID)");
    assert!(
        r[0].contains(&format!("EMAILID ({email})")),
        "copies share EMAILID: {r:#?}"
    );
    let r = c.ok(&format!("SEARCH EMAILID {email}"));
    assert_eq!(r[0], "* SEARCH 1");
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

#[test]
fn utf8_accept() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let r = c.ok("ENABLE UTF8=ACCEPT");
    assert_eq!(r[0], "* ENABLED UTF8=ACCEPT");
    c.ok("CREATE \"Отправленные/2024\"");
    let r = c.ok("LIST \"\" \"Отправленные*\"");
    assert!(has(&r, "\"/\" \"Отправленные/2024\""), "{r:#?}");
    // Another session without UTF8=ACCEPT sees the same mailbox in modified UTF-7.
    let mut d = Client::login(s.addr, USER);
    let r = d.ok("LIST \"\" *");
    assert!(
        has(&r, &pochta_types::mutf7::encode("Отправленные/2024")),
        "{r:#?}"
    );
}

#[test]
fn multiappend_and_binary_append() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let a = message("first", "1");
    let b = message("second", "2");
    let cmd = format!(
        "APPEND INBOX (\\Seen) {{{}+}}\r\n{} (\\Flagged) {{{}+}}\r\n{}",
        a.len(),
        String::from_utf8_lossy(&a),
        b.len(),
        String::from_utf8_lossy(&b)
    );
    let r = c.ok(&cmd);
    assert!(
        r.last().unwrap().contains("[APPENDUID ") && r.last().unwrap().contains(" 1:2]"),
        "{r:#?}"
    );
    // literal8 with a NUL byte in a binary part.
    let bin = b"Subject: bin\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\nA\0B\r\n";
    let mut raw = format!("x1 APPEND INBOX ~{{{}+}}\r\n", bin.len()).into_bytes();
    raw.extend_from_slice(bin);
    raw.extend_from_slice(b"\r\n");
    c.send(&raw);
    let r = c.read_until("x1");
    assert!(r.last().unwrap().starts_with("x1 OK"), "{r:#?}");
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1:3 (FLAGS)");
    assert!(
        r[0].contains("\\Seen") && r[1].contains("\\Flagged"),
        "{r:#?}"
    );
    let r = c.ok("FETCH 3 (BINARY.PEEK[1] BINARY.SIZE[1])");
    assert!(r[0].contains("BINARY[1] ~{5}"), "{r:#?}");
    assert!(r[0].contains("BINARY.SIZE[1] 5"), "{r:#?}");
}

#[test]
fn small_extensions() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let r = c.ok("ID (\"name\" \"test\")");
    assert!(r[0].starts_with("* ID (\"name\" \"Pochta\""), "{r:#?}");
    let r = c.ok("NAMESPACE");
    assert_eq!(
        r[0],
        "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Public/\" \"/\"))"
    );
    c.append("INBOX", "", &message("s", "x"));
    let r = c.ok("STATUS INBOX (SIZE DELETED)");
    assert!(
        r[0].contains("SIZE ") && r[0].contains("DELETED 0"),
        "{r:#?}"
    );
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (SAVEDATE)");
    assert!(r[0].contains("SAVEDATE \""), "{r:#?}");
    let r = c.ok("SEARCH YOUNGER 3600");
    assert_eq!(r[0], "* SEARCH 1");
    let r = c.ok("SEARCH OLDER 3600");
    assert_eq!(r[0], "* SEARCH");
    let r = c.ok("UNSELECT");
    assert_eq!(r.len(), 1);
    let (st, _) = c.status("FETCH 1 FLAGS");
    assert_eq!(st, "BAD");
}

#[test]
fn compress_deflate() {
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
    use std::io::Read;
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.append("INBOX", "", &message("z", &"compressible ".repeat(500)));
    let r = c.ok("CAPABILITY");
    assert!(has(&r, "COMPRESS=DEFLATE"));
    let r = c.ok("COMPRESS DEFLATE");
    assert!(r.last().unwrap().contains("OK DEFLATE active"), "{r:#?}");
    // From here on both directions are raw DEFLATE.
    let mut comp = Compress::new(Compression::default(), false);
    let mut decomp = Decompress::new(false);
    let mut send = |c: &mut Client, text: &[u8]| {
        let mut out = Vec::with_capacity(text.len() + 64);
        comp.compress_vec(text, &mut out, FlushCompress::Sync)
            .unwrap();
        c.send(&out);
    };
    send(
        &mut c,
        b"z1 SELECT INBOX\r\nz2 FETCH 1 BODY.PEEK[TEXT]\r\nz3 COMPRESS DEFLATE\r\n",
    );
    let mut got = Vec::new();
    let mut stream = c.raw_stream();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("z3 ") {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        let mut out = Vec::with_capacity(n * 20 + 1024);
        decomp
            .decompress_vec(&buf[..n], &mut out, FlushDecompress::Sync)
            .unwrap();
        got.extend_from_slice(&out);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("z1 OK [READ-WRITE]"), "{text}");
    assert!(text.contains("compressible compressible"), "{text}");
    assert!(text.contains("z3 NO [COMPRESSIONACTIVE]"), "{text}");
}

#[test]
fn imap4rev2_mode() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let r = c.ok("CAPABILITY");
    assert!(has(&r, "IMAP4rev1 IMAP4rev2"), "{r:#?}");
    c.append("INBOX", "", &message("a", "x"));
    c.append("INBOX", "\\Seen", &message("b", "y"));
    let r = c.ok("ENABLE IMAP4rev2");
    assert_eq!(r[0], "* ENABLED IMAP4rev2");
    let r = c.ok("SELECT INBOX");
    assert!(
        has(&r, "* LIST (\\HasNoChildren) \"/\" \"INBOX\""),
        "{r:#?}"
    );
    assert!(!has(&r, "RECENT"), "{r:#?}");
    assert!(!has(&r, "[UNSEEN"), "{r:#?}");
    let r = c.ok("FETCH 1 FLAGS");
    assert_eq!(
        r[0], "* 1 FETCH (FLAGS ())",
        "no \\Recent in IMAP4rev2: {r:#?}"
    );
    let r = c.ok("SEARCH SEEN");
    assert!(
        r[0].starts_with("* ESEARCH (TAG \"t") && r[0].ends_with(" ALL 2"),
        "{r:#?}"
    );
    let r = c.ok("UID SEARCH ALL");
    assert!(r[0].ends_with(" UID ALL 1:2"), "{r:#?}");
    // UTF-8 mailbox names.
    c.ok("CREATE \"Черновики\"");
    let r = c.ok("LIST \"\" \"Черн*\"");
    assert!(has(&r, "\"Черновики\""), "{r:#?}");
    // A second session's append: EXISTS, no RECENT.
    let mut d = Client::login(s.addr, USER);
    d.append("INBOX", "", &message("c", "z"));
    let r = c.ok("NOOP");
    assert!(has(&r, "* 3 EXISTS") && !has(&r, "RECENT"), "{r:#?}");
}
