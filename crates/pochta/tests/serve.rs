//! `pochta serve` end to end: every listener over TCP and TLS, STARTTLS, SIGTERM.

mod common;

use std::time::Duration;

use common::*;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::TcpStream;

/// The IMAP greeting carries capabilities (RFC 9051 §7.1.1); STARTTLS only before TLS.
fn check_imap_greeting(line: &str, tls: bool) {
    assert!(line.starts_with("* OK [CAPABILITY IMAP4rev1 "), "{line:?}");
    assert!(line.contains("] pochta.test Pochta ready"), "{line:?}");
    assert_eq!(line.contains(" STARTTLS"), !tls, "{line:?}");
}
const POP3_GREETING: &str = "+OK pochta.test Pochta ready\r\n";
const SMTP_GREETING: &str = "220 pochta.test ESMTP Pochta\r\n";

/// After TLS is up (either way), the session works and no longer offers STARTTLS.
async fn check_after_tls<S: AsyncRead + AsyncWrite + Unpin>(proto: &str, c: &mut BufReader<S>) {
    match proto {
        "imap" => {
            send(c, "t1 CAPABILITY\r\n").await;
            let lines = read_until(c, "t1 ").await;
            assert!(lines[0].starts_with("* CAPABILITY IMAP4rev1"), "{lines:?}");
            assert!(!lines[0].contains("STARTTLS"), "{lines:?}");
            assert!(lines[1].starts_with("t1 OK"), "{lines:?}");
            send(c, "t2 LOGOUT\r\n").await;
            assert!(read_until(c, "t2 ").await[0].starts_with("* BYE"));
        }
        "pop3" => {
            send(c, "CAPA\r\n").await;
            let lines = read_until(c, ".").await;
            assert!(!lines.contains(&"STLS\r\n".to_owned()), "{lines:?}");
            send(c, "QUIT\r\n").await;
            assert!(read_line(c).await.starts_with("+OK"));
        }
        _ => {
            send(c, "EHLO client.test\r\n").await;
            let lines = read_until(c, "250 ").await;
            assert!(lines[0].starts_with("250-pochta.test"), "{lines:?}");
            assert!(!lines.iter().any(|l| l.contains("STARTTLS")), "{lines:?}");
            send(c, "QUIT\r\n").await;
            assert!(read_line(c).await.starts_with("221 "));
        }
    }
}

/// Plain connection: greeting, STARTTLS upgrade, then the TLS checks.
async fn plain_then_starttls(server: &TestServer, listener: &str, proto: &str) {
    let mut c = server.connect(listener).await;
    let (cmd, ok) = match proto {
        "imap" => {
            check_imap_greeting(&read_line(&mut c).await, false);
            ("s1 STARTTLS\r\n", "s1 OK")
        }
        "pop3" => {
            assert_eq!(read_line(&mut c).await, POP3_GREETING);
            send(&mut c, "CAPA\r\n").await;
            assert!(
                read_until(&mut c, ".")
                    .await
                    .contains(&"STLS\r\n".to_owned())
            );
            ("STLS\r\n", "+OK")
        }
        _ => {
            assert_eq!(read_line(&mut c).await, SMTP_GREETING);
            send(&mut c, "EHLO client.test\r\n").await;
            assert!(
                read_until(&mut c, "250 ")
                    .await
                    .contains(&"250-STARTTLS\r\n".to_owned())
            );
            ("STARTTLS\r\n", "220 ")
        }
    };
    send(&mut c, cmd).await;
    let reply = read_line(&mut c).await;
    assert!(reply.starts_with(ok), "{listener}: {reply:?}");
    assert!(c.buffer().is_empty());
    let tls: tokio_rustls::client::TlsStream<TcpStream> =
        tls_handshake(&server.cert(), c.into_inner()).await;
    let mut c = BufReader::new(tls);
    check_after_tls(proto, &mut c).await;
}

async fn implicit_tls(server: &TestServer, listener: &str, proto: &str) {
    let mut c = server.connect_tls(listener).await;
    let greeting = read_line(&mut c).await;
    match proto {
        "imap" => check_imap_greeting(&greeting, true),
        "pop3" => assert_eq!(greeting, POP3_GREETING, "{listener}"),
        _ => assert_eq!(greeting, SMTP_GREETING, "{listener}"),
    }
    check_after_tls(proto, &mut c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listener_over_tcp_and_tls_then_sigterm() {
    let mut server = tokio::task::spawn_blocking(TestServer::start)
        .await
        .unwrap();

    let log = server.log();
    for (name, port) in &server.ports {
        let line = format!("{name} listening on 127.0.0.1:{port}");
        assert!(
            log.contains(&line),
            "missing startup line {line:?} in:\n{log}"
        );
    }
    assert!(log.contains("(plain+STARTTLS)") && log.contains("(implicit TLS)"));

    plain_then_starttls(&server, "imap", "imap").await;
    plain_then_starttls(&server, "pop3", "pop3").await;
    plain_then_starttls(&server, "smtp", "smtp").await;
    plain_then_starttls(&server, "submission", "smtp").await;
    implicit_tls(&server, "imaps", "imap").await;
    implicit_tls(&server, "pop3s", "pop3").await;
    implicit_tls(&server, "submissions", "smtp").await;

    // IMAP is the real service: a user added while the server runs can log in over TLS.
    let o = server.cli(&["user", "add", "me@example.org", "--password", "pw 1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut imap = server.connect_tls("imaps").await;
    read_line(&mut imap).await;
    send(&mut imap, "a1 LOGIN me@example.org \"pw 1\"\r\n").await;
    let lines = read_until(&mut imap, "a1 ").await;
    assert!(lines.last().unwrap().starts_with("a1 OK"), "{lines:?}");
    send(&mut imap, "a2 SELECT INBOX\r\n").await;
    let lines = read_until(&mut imap, "a2 ").await;
    assert!(lines.last().unwrap().starts_with("a2 OK"), "{lines:?}");

    // POP3 is the real service too: the same user logs in over POP3S.
    let mut pop3 = server.connect_tls("pop3s").await;
    read_line(&mut pop3).await;
    send(&mut pop3, "USER me@example.org\r\nPASS pw 1\r\nSTAT\r\n").await;
    assert!(read_line(&mut pop3).await.starts_with("+OK"));
    assert!(
        read_line(&mut pop3)
            .await
            .starts_with("+OK maildrop locked")
    );
    assert_eq!(read_line(&mut pop3).await, "+OK 0 0\r\n");
    // SMTP is the real service: MAIL before EHLO is a bad sequence.
    let mut smtp = server.connect("smtp").await;
    read_line(&mut smtp).await;
    send(&mut smtp, "MAIL FROM:<a@b.test>\r\n").await;
    assert!(read_line(&mut smtp).await.starts_with("503 5.5.1"));

    // Open sessions are told about the shutdown, and the process exits 0.
    let status = tokio::task::spawn_blocking(move || {
        let status = server.sigterm(Duration::from_secs(10));
        (status, server)
    });
    assert_eq!(read_line(&mut imap).await, "* BYE Server shutting down\r\n");
    assert!(
        read_line(&mut smtp)
            .await
            .starts_with("421 4.3.2 pochta.test")
    );
    let (status, server) = status.await.unwrap();
    let status = status.unwrap_or_else(|| panic!("no exit after SIGTERM:\n{}", server.log()));
    assert!(status.success(), "exit status {status}:\n{}", server.log());
    assert!(server.log().contains("SIGTERM received; shutting down"));
}

#[tokio::test]
async fn starttls_drops_pipelined_commands() {
    let server = tokio::task::spawn_blocking(|| TestServer::start_with(&["imap", "smtp"], ""))
        .await
        .unwrap();
    let mut c = server.connect("imap").await;
    read_line(&mut c).await;
    // "x1 LOGOUT" rides in the same segment: it must not be executed, neither in plaintext
    // nor after the handshake.
    send(&mut c, "s1 STARTTLS\r\nx1 LOGOUT\r\n").await;
    assert!(read_line(&mut c).await.starts_with("s1 OK"));
    let mut c = BufReader::new(tls_handshake(&server.cert(), c.into_inner()).await);
    send(&mut c, "t1 NOOP\r\n").await;
    // Had the pipelined LOGOUT run, a BYE would come first or the connection would be closed.
    assert!(read_line(&mut c).await.starts_with("t1 OK"));

    // The same through SMTP: the pipelined QUIT is dropped, not run.
    let mut c = server.connect("smtp").await;
    read_line(&mut c).await;
    send(&mut c, "STARTTLS\r\nQUIT\r\n").await;
    assert!(read_line(&mut c).await.starts_with("220 2.0.0"));
    let mut c = BufReader::new(tls_handshake(&server.cert(), c.into_inner()).await);
    send(&mut c, "NOOP\r\n").await;
    assert_eq!(read_line(&mut c).await, "250 2.0.0 OK\r\n");
    let log = server.log();
    assert!(
        log.contains("dropped bytes pipelined after STARTTLS"),
        "{log}"
    );
}

#[tokio::test]
async fn admin_commands_work_while_serving() {
    let server = tokio::task::spawn_blocking(|| TestServer::start_with(&["imap"], ""))
        .await
        .unwrap();
    let o = server.cli(&["user", "add", "live@example.org", "--password", "pw"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = server.cli(&["user", "list"]);
    assert_eq!(stdout(&o), "live@example.org\n");
}
