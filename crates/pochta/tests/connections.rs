//! Connection handling as real senders and mail programs meet it, through the binary:
//! refusals that say why, per-listener limits, and commands written in pieces.
//!
//! Timings are never asserted here (bench/README.md measures the delayed-ACK stall); these
//! tests check that each behaviour happens at all.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USER: &str = "split@pochta.test";
const PASSWORD: &str = "split-password";

fn server(extra: &str) -> TestServer {
    let ports: Vec<(&'static str, u16)> = ["imap", "pop3", "smtp", "submission"]
        .into_iter()
        .zip(free_ports(4))
        .collect();
    let dir = TestDir::new(&ports, &format!("[auth]\nplaintext = \"always\"\n{extra}"));
    dir.add_user(USER, PASSWORD);
    TestServer::start_in(dir, ports)
}

/// A connection past `connections_per_ip` is told why in its protocol's words, then closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_told_why() {
    let s = server("[limits]\nconnections_per_ip = 1\nsmtp_connections_per_ip = 1\n");
    let cases = [
        ("imap", "* OK", "* BYE [UNAVAILABLE] "),
        ("pop3", "+OK", "-ERR [SYS/TEMP] "),
        ("smtp", "220 ", "421 4.7.0 "),
        ("submission", "220 ", "421 4.7.0 "),
    ];
    for (listener, greeting, refusal) in cases {
        let mut first = s.connect(listener).await;
        let l = read_line(&mut first).await;
        assert!(l.starts_with(greeting), "{listener} greeting: {l:?}");
        let mut second = s.connect(listener).await;
        let l = read_line(&mut second).await;
        assert!(l.starts_with(refusal), "{listener} refusal: {l:?}");
        let mut rest = Vec::new();
        tokio::time::timeout(Duration::from_secs(20), second.read_to_end(&mut rest))
            .await
            .expect("the refused connection was not closed")
            .expect("read");
        assert!(
            rest.is_empty(),
            "{listener}: more after the refusal: {rest:?}"
        );
    }
}

/// The MTA listener accepts 50 concurrent connections from one address by default (as
/// Postfix does), while IMAP keeps its smaller default of 20.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mta_takes_fifty_connections_from_one_address() {
    let s = server("[smtp]\ncheck_inbound = false\n");
    let mut open = Vec::new();
    for i in 0..50 {
        let mut c = s.connect("smtp").await;
        let l = read_line(&mut c).await;
        assert!(l.starts_with("220 "), "connection {i}: {l:?}");
        open.push(c);
    }
    let mut imap = Vec::new();
    for i in 0..20 {
        let mut c = s.connect("imap").await;
        let l = read_line(&mut c).await;
        assert!(l.starts_with("* OK"), "IMAP connection {i}: {l:?}");
        imap.push(c);
    }
    let mut c = s.connect("imap").await;
    let l = read_line(&mut c).await;
    assert!(
        l.starts_with("* BYE [UNAVAILABLE]"),
        "21st IMAP connection: {l:?}"
    );
}

/// A session's slot is free when it ends: a sender that reconnects right after QUIT, again
/// and again at the limit, is never refused (smtp-source's pattern).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_after_quit_is_never_refused() {
    let s = server("[limits]\nsmtp_connections_per_ip = 2\n[smtp]\ncheck_inbound = false\n");
    let mut held = s.connect("smtp").await;
    assert!(read_line(&mut held).await.starts_with("220 "));
    for i in 0..100 {
        let mut c = s.connect("smtp").await;
        let l = read_line(&mut c).await;
        assert!(l.starts_with("220 "), "reconnection {i}: {l:?}");
        send(&mut c, "QUIT\r\n").await;
        let l = read_line(&mut c).await;
        assert!(l.starts_with("221 "), "reconnection {i} QUIT: {l:?}");
    }
}

/// Commands written in pieces the way real clients write them are answered: imaplib sends an
/// APPEND literal and its final CRLF in two writes, SMTP clients send the body and the final
/// `.CRLF` apart, and a command line may arrive split anywhere. The client keeps Nagle's
/// algorithm on (the default), as real clients do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_written_in_pieces_are_answered() {
    let s = server("[smtp]\ncheck_inbound = false\n");
    let pause = || tokio::time::sleep(Duration::from_millis(50));

    let mut imap = s.connect("imap").await;
    read_line(&mut imap).await;
    send(&mut imap, &format!("a LOGIN {USER} ")).await;
    pause().await;
    send(&mut imap, &format!("{PASSWORD}\r\n")).await;
    assert!(
        read_until(&mut imap, "a ")
            .await
            .last()
            .unwrap()
            .starts_with("a OK")
    );
    let body = format!("Subject: split\r\n\r\n{}\r\n", "x".repeat(10_000));
    send(&mut imap, &format!("b APPEND INBOX {{{}}}\r\n", body.len())).await;
    assert!(read_line(&mut imap).await.starts_with("+ "));
    send(&mut imap, &body).await;
    pause().await;
    send(&mut imap, "\r\n").await;
    let done = read_until(&mut imap, "b ").await;
    assert!(done.last().unwrap().starts_with("b OK"), "{done:?}");

    let mut smtp = s.connect("smtp").await;
    read_line(&mut smtp).await;
    for (cmd, code) in [
        ("EHLO client.test\r\n", "250 "),
        ("MAIL FROM:<a@client.test>\r\n", "250 "),
        (&format!("RCPT TO:<{USER}>\r\n") as &str, "250 "),
        ("DATA\r\n", "354 "),
    ] {
        let (head, tail) = cmd.split_at(cmd.len() / 2);
        send(&mut smtp, head).await;
        pause().await;
        send(&mut smtp, tail).await;
        let lines = read_until(&mut smtp, code).await;
        assert!(
            lines.last().unwrap().starts_with(code),
            "{cmd:?}: {lines:?}"
        );
    }
    smtp.get_mut()
        .write_all(b"Subject: split\r\n\r\nbody\r\n")
        .await
        .unwrap();
    pause().await;
    send(&mut smtp, ".\r\n").await;
    let l = read_line(&mut smtp).await;
    assert!(l.starts_with("250 "), "end of DATA: {l:?}");

    send(&mut imap, "c STATUS INBOX (MESSAGES)\r\n").await;
    let st = read_until(&mut imap, "c ").await;
    assert!(st[0].contains("(MESSAGES 2)"), "{st:?}");
}
