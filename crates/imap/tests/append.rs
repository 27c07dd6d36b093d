//! APPEND, MULTIAPPEND and BINARY APPEND (RFC 3501 §6.3.11, RFC 3502, RFC 3516 §4.4).

mod common;

use common::*;

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

/// RFC 3516 §4.4: a `binary` part APPENDed with `~{n}` keeps its exact bytes (bare LFs and a
/// NUL included) for BINARY[], and is stored base64-encoded (as Dovecot) so that BODY[] stays
/// a valid literal without NUL (imaptest `append-binary`).
#[test]
fn a_binary_part_keeps_its_bytes_and_is_stored_as_base64() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let body: &[u8] = b"\0-\xe4\n\r\n\n";
    let mut msg = b"From: user@domain.org\r\nSubject: bin\r\nMime-Version: 1.0\r\n\
Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        .to_vec();
    msg.extend_from_slice(body);
    let mut raw = format!("x1 APPEND INBOX ~{{{}+}}\r\n", msg.len()).into_bytes();
    raw.extend_from_slice(&msg);
    raw.extend_from_slice(b"\r\n");
    c.send(&raw);
    let r = c.read_until("x1");
    assert!(r.last().unwrap().starts_with("x1 OK"), "{r:#?}");
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (BINARY.SIZE[1] BODYSTRUCTURE BODY.PEEK[1])");
    assert!(r[0].contains("BINARY.SIZE[1] 7 "), "{r:#?}");
    // base64 of exactly the 7 bytes sent: nothing was normalized.
    assert!(r[0].contains("BODY[1] {12}\r\nAC3kCg0KCg=="), "{r:#?}");
    assert!(
        r[0].contains("(\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 12 "),
        "{r:#?}"
    );
    let r = c.ok("FETCH 1 (BODY.PEEK[])");
    assert!(!r[0].contains('\0'), "{r:#?}");
    assert!(
        r[0].contains("Content-Transfer-Encoding: base64\r\n"),
        "{r:#?}"
    );
    // BINARY[] decodes to the bytes sent (the NUL survives; the rest is checked via base64).
    let r = c.ok("FETCH 1 (BINARY.PEEK[1])");
    assert!(r[0].contains("BINARY[1] ~{7}\r\n\0-"), "{r:#?}");
}
