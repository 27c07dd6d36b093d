//! What a hostile SMTP client tries against the binary: control characters smuggled into the
//! envelope, over-long names that end up in trace headers.

mod common;

use common::*;

const USER: &str = "victim@pochta.test";

/// A bare CR, LF or NUL in MAIL FROM / RCPT TO (a quoted local part, an address literal, a
/// parameter) is refused with `501 5.5.4`, as is an EHLO/HELO name over 255 octets; the
/// session goes on, and what is finally delivered has no header line over 998 octets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_and_long_names_are_refused() {
    let ports: Vec<(&'static str, u16)> = ["smtp", "imap"].into_iter().zip(free_ports(2)).collect();
    let dir = TestDir::new(
        &ports,
        "[auth]\nplaintext = \"always\"\n[smtp]\ncheck_inbound = false\n",
    );
    dir.add_user(USER, "victim-password");
    let s = TestServer::start_in(dir, ports);
    let mut c = s.connect("smtp").await;
    assert!(read_line(&mut c).await.starts_with("220 "));

    let long = "h".repeat(5000);
    for line in [format!("EHLO {long}\r\n"), format!("HELO {long}\r\n")] {
        send(&mut c, &line).await;
        let l = read_line(&mut c).await;
        assert!(l.starts_with("501 5.5."), "{}...: {:.80}", &line[..10], l);
    }
    let name = format!("{}.example", "h".repeat(63));
    send(&mut c, &format!("EHLO {name}\r\n")).await;
    let l = read_until(&mut c, "250 ").await;
    assert!(l.last().unwrap().starts_with("250 "), "{l:?}");

    for bad in [
        "MAIL FROM:<\"evil\rX-Injected: yes\"@client.test>\r\n",
        "MAIL FROM:<\"evil\0\"@client.test>\r\n",
        "MAIL FROM:<a@[127.0.0.1\r]>\r\n",
    ] {
        send(&mut c, bad).await;
        let l = read_line(&mut c).await;
        assert!(l.starts_with("501 5.5."), "{bad:?}: {l:?}");
    }
    send(&mut c, "MAIL FROM:<\"quoted sender\"@client.test>\r\n").await;
    assert!(read_line(&mut c).await.starts_with("250 "));
    send(&mut c, &format!("RCPT TO:<{USER}> ORCPT=rfc822;x\ry\r\n")).await;
    let l = read_line(&mut c).await;
    assert!(l.starts_with("501 5.5."), "ORCPT with CR: {l:?}");
    send(&mut c, "RCPT TO:<\"victim\0\"@pochta.test>\r\n").await;
    let l = read_line(&mut c).await;
    assert!(l.starts_with("501 5.5."), "RCPT TO with NUL: {l:?}");
    send(&mut c, &format!("RCPT TO:<{USER}>\r\n")).await;
    assert!(read_line(&mut c).await.starts_with("250 "));
    send(&mut c, "DATA\r\n").await;
    assert!(read_line(&mut c).await.starts_with("354 "));
    send(&mut c, "Subject: hello\r\n\r\nbody\r\n.\r\n").await;
    let l = read_line(&mut c).await;
    assert!(l.starts_with("250 "), "{l:?}");
    send(&mut c, "QUIT\r\n").await;

    // A bare LF ends a command line (lines ending in LF alone are read, as many clients send
    // them), so an address with one is cut there and refused, and the rest of the line is an
    // unknown command: nothing of it reaches an envelope. (A new session: the first one has
    // used most of its error budget.)
    let mut c = s.connect("smtp").await;
    assert!(read_line(&mut c).await.starts_with("220 "));
    send(&mut c, "EHLO client.test\r\n").await;
    read_until(&mut c, "250 ").await;
    for (bad, then) in [
        (
            "MAIL FROM:<\"evil\nX-Injected: yes\"@client.test>\r\n",
            "MAIL FROM:<a@client.test>\r\n",
        ),
        (
            "RCPT TO:<\"victim\nX-Injected: yes\"@pochta.test>\r\n",
            "QUIT\r\n",
        ),
    ] {
        send(&mut c, bad).await;
        let l = read_line(&mut c).await;
        assert!(l.starts_with("501 5.5."), "{bad:?}: {l:?}");
        let l = read_line(&mut c).await;
        assert!(l.starts_with("500 5.5."), "{bad:?}, after the LF: {l:?}");
        send(&mut c, then).await;
        let l = read_line(&mut c).await;
        assert!(l.starts_with("2"), "{then:?} after {bad:?}: {l:?}");
    }
    drop(c);
    let mut i = s.connect("imap").await;
    read_line(&mut i).await;
    send(&mut i, &format!("a LOGIN {USER} victim-password\r\n")).await;
    assert!(
        read_until(&mut i, "a ")
            .await
            .last()
            .unwrap()
            .starts_with("a OK")
    );
    send(
        &mut i,
        "b SELECT INBOX\r\nc FETCH 1 (BODY.PEEK[HEADER])\r\n",
    )
    .await;
    read_until(&mut i, "b ").await;
    let header = read_until(&mut i, "c ").await.concat();
    assert!(
        header.contains("Return-Path: <\"quoted sender\"@client.test>"),
        "{header}"
    );
    assert!(header.contains(&name), "{header}");
    assert!(!header.contains("X-Injected"), "{header}");
    for line in header.split("\r\n") {
        assert!(line.len() <= 998, "header line of {} octets", line.len());
    }
}
