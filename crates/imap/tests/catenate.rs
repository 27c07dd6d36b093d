//! CATENATE (RFC 4469) over TCP.

mod common;

use common::*;

/// Send a raw command (with `{n+}` literals inline) and read up to its tagged reply.
fn raw(c: &mut Client, tag: &str, command: &[u8]) -> Vec<String> {
    let mut b = format!("{tag} ").into_bytes();
    b.extend_from_slice(command);
    b.extend_from_slice(b"\r\n");
    c.send(&b);
    c.read_until(tag)
}

fn uidvalidity(c: &mut Client, mailbox: &str) -> String {
    let r = c.ok(&format!("STATUS {mailbox} (UIDVALIDITY)"));
    r[0].split("UIDVALIDITY ")
        .nth(1)
        .and_then(|x| x.split(')').next())
        .expect("uidvalidity")
        .to_string()
}

#[test]
fn catenate_builds_from_text_and_urls_and_another_session_sees_it() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    let r = a.ok("CAPABILITY");
    assert!(has(&r, " CATENATE"), "{r:#?}");
    a.append("INBOX", "", MULTI);
    let v = uidvalidity(&mut a, "INBOX");
    b.ok("SELECT Drafts");

    let text = b"\r\n--new\r\nContent-Type: text/plain\r\n\r\nforwarded:\r\n--new\r\n";
    let head =
        b"From: me@example.org\r\nSubject: fwd\r\nContent-Type: multipart/mixed; boundary=new\r\n";
    let mut cmd = format!(
        "APPEND Drafts (\\Draft) CATENATE (TEXT {{{}+}}\r\n",
        head.len()
    )
    .into_bytes();
    cmd.extend_from_slice(head);
    cmd.extend_from_slice(format!(" TEXT {{{}+}}\r\n", text.len()).as_bytes());
    cmd.extend_from_slice(text);
    cmd.extend_from_slice(
        format!(
            " URL \"/INBOX;UIDVALIDITY={v}/;UID=1/;SECTION=2\" TEXT {{11+}}\r\n\r\n--new--\r\n)"
        )
        .as_bytes(),
    );
    let r = raw(&mut a, "c1", &cmd);
    assert!(
        r.last().expect("reply").starts_with("c1 OK [APPENDUID "),
        "{r:#?}"
    );

    // The other session, in Drafts, sees the new message and its assembled content.
    let r = b.ok("NOOP");
    assert!(has(&r, "* 1 EXISTS"), "{r:#?}");
    let r = b.ok("FETCH 1 (FLAGS BODY.PEEK[])");
    let all = r.join("\n");
    assert!(all.contains("\\Draft"), "{all}");
    assert!(all.contains("Subject: fwd"), "{all}");
    assert!(all.contains("forwarded:"), "{all}");
    // Part 2 of MULTI is the message/rfc822 part: its body is the inner message.
    assert!(all.contains("Subject: inner"), "{all}");
    assert!(all.contains("inner body"), "{all}");
    assert!(all.contains("--new--"), "{all}");
    let r = b.ok("FETCH 1 (BODYSTRUCTURE)");
    assert!(has(&r, "\"mixed\" (\"boundary\" \"new\")"), "{r:#?}");

    // An absolute imap:// URL with a header section and a partial range.
    let url = format!("imap://{USER}@mail.example.org/INBOX/;UID=1/;SECTION=HEADER/;PARTIAL=0.5");
    let r = raw(
        &mut a,
        "c2",
        format!("APPEND Drafts CATENATE (URL \"{url}\" TEXT {{5+}}\r\nX\r\n\r\n)").as_bytes(),
    );
    assert!(r.last().expect("reply").starts_with("c2 OK"), "{r:#?}");
    b.ok("NOOP");
    let r = b.ok("FETCH 2 (BODY.PEEK[])");
    assert!(has(&r, "{10}\r\nFrom:X"), "From: + X CRLF CRLF: {r:#?}");
}

#[test]
fn bad_urls_and_too_big_append_nothing() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut other = Client::login(s.addr, OTHER);
    a.append("INBOX", "", &message("one", "x"));
    other.append("INBOX", "", &message("theirs", "secret"));
    for (tag, url) in [
        ("b1", "/INBOX/;UID=99".to_string()),
        ("b2", "/INBOX;UIDVALIDITY=1/;UID=1".to_string()),
        ("b3", "/Nowhere/;UID=1".to_string()),
        ("b4", "/INBOX/;UID=1/;SECTION=7".to_string()),
        (
            "b5",
            "imap://other@example.org@mail.example.org/INBOX/;UID=1".to_string(),
        ),
        (
            "b6",
            "/Other Users/other@example.org/INBOX/;UID=1".to_string(),
        ),
        ("b7", "http://example.org/".to_string()),
    ] {
        let r = raw(
            &mut a,
            tag,
            format!("APPEND Drafts CATENATE (TEXT {{3+}}\r\nx\r\n URL \"{url}\")").as_bytes(),
        );
        let last = r.last().expect("reply");
        assert!(
            last.starts_with(&format!("{tag} NO [BADURL ")),
            "{url}: {r:#?}"
        );
    }
    let r = a.ok("STATUS Drafts (MESSAGES)");
    assert!(has(&r, "MESSAGES 0"), "{r:#?}");

    // Two copies of a 600 KB message exceed the 1 MiB APPENDLIMIT of the test server.
    let big = format!("Subject: big\r\n\r\n{}\r\n", "y".repeat(600 * 1024));
    let r = a.append("INBOX", "", big.as_bytes());
    assert!(r.last().expect("reply").contains("OK"), "{r:#?}");
    let r = raw(
        &mut a,
        "t1",
        b"APPEND Drafts CATENATE (URL \"/INBOX/;UID=2\" URL \"/INBOX/;UID=2\")",
    );
    assert!(
        r.last().expect("reply").starts_with("t1 NO [TOOBIG]"),
        "{r:#?}"
    );
    let r = a.ok("STATUS Drafts (MESSAGES)");
    assert!(has(&r, "MESSAGES 0"), "{r:#?}");
}
