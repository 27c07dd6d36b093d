//! Outbound delivery through the real binary: two Pochta instances on loopback (a.test and
//! b.test, routed to each other with `[smtp.routes]`), submission → queue → the other's MTA →
//! INBOX; the next hop down, SIGKILL, restart, delivered once; a `550` bounced into the
//! sender's INBOX; and the `queue`, `dkim` and `dns` commands.

mod common;

use std::time::Duration;

use common::{
    TestDir, TestServer, base64, free_ports, inbox, read_line, read_until, stderr, stdout, wait_for,
};
use tokio::io::AsyncWriteExt;

/// Submits a message as `user` (AUTH PLAIN from loopback) to `to`.
async fn submit(server: &TestServer, user: &str, password: &str, to: &str, subject: &str) {
    submit_with(server, user, password, ("", &[(to, "")]), subject).await;
}

/// Like [`submit`], with ESMTP parameters: `envelope` is the MAIL FROM parameters and each
/// recipient with its RCPT TO parameters (both without a leading space; empty for none).
async fn submit_with(
    server: &TestServer,
    user: &str,
    password: &str,
    envelope: (&str, &[(&str, &str)]),
    subject: &str,
) {
    let (mail_params, rcpts) = envelope;
    let mut c = server.connect("submission").await;
    read_line(&mut c).await;
    c.get_mut()
        .write_all(b"EHLO client.test\r\n")
        .await
        .unwrap();
    read_until(&mut c, "250 ").await;
    let token = base64(format!("\0{user}\0{password}").as_bytes());
    let sp = |p: &str| {
        if p.is_empty() {
            String::new()
        } else {
            format!(" {p}")
        }
    };
    let mut cmds = format!(
        "AUTH PLAIN {token}\r\nMAIL FROM:<{user}>{}\r\n",
        sp(mail_params)
    );
    for (to, params) in rcpts {
        cmds.push_str(&format!("RCPT TO:<{to}>{}\r\n", sp(params)));
    }
    cmds.push_str("DATA\r\n");
    c.get_mut().write_all(cmds.as_bytes()).await.unwrap();
    let mut want = vec!["235", "250"];
    want.extend(rcpts.iter().map(|_| "250"));
    want.push("354");
    for want in want {
        let l = read_line(&mut c).await;
        assert!(l.starts_with(want), "expected {want}, got {l}");
    }
    let to = rcpts.first().map_or("", |r| r.0);
    let msg = format!(
        "From: <{user}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\r\nHello from {user}.\r\n.\r\n"
    );
    c.get_mut().write_all(msg.as_bytes()).await.unwrap();
    let l = read_line(&mut c).await;
    assert!(l.starts_with("250 "), "{l}");
    c.get_mut().write_all(b"QUIT\r\n").await.unwrap();
}

const B_CONFIG: &str = "[smtp]\ncheck_inbound = false\n";

fn a_config(b_smtp: u16) -> String {
    format!("[smtp.routes]\n\"b.test\" = \"127.0.0.1:{b_smtp}\"\n[smtp.queue]\nretry = [\"1s\"]\n")
}

/// A b.test instance with bob, on `port`.
fn start_b(port: u16) -> TestServer {
    let dir = TestDir::new(&[("smtp", port)], B_CONFIG);
    dir.add_user("bob@b.test", "bobpw");
    TestServer::start_in(dir, vec![("smtp", port)])
}

fn start_a(b_smtp: u16) -> TestServer {
    let ports = free_ports(2);
    let dir = TestDir::new(
        &[("smtp", ports[0]), ("submission", ports[1])],
        &a_config(b_smtp),
    );
    dir.add_user("alice@a.test", "alicepw");
    let o = dir.cli(&["dkim", "generate", "a.test"]);
    assert!(o.status.success(), "{}", stderr(&o));
    TestServer::start_in(dir, vec![("smtp", ports[0]), ("submission", ports[1])])
}

#[tokio::test(flavor = "multi_thread")]
async fn submission_to_another_instance_arrives_signed() {
    let b = start_b(free_ports(1)[0]);
    let a = start_a(b.port("smtp"));
    submit(&a, "alice@a.test", "alicepw", "bob@b.test", "across").await;
    let b_data = b.dir.data_dir();
    wait_for("delivery to b.test", Duration::from_secs(20), || {
        !inbox(&b_data, "bob@b.test").is_empty()
    });
    let got = inbox(&b_data, "bob@b.test");
    assert_eq!(got.len(), 1);
    let text = String::from_utf8_lossy(&got[0]);
    assert!(text.contains("Subject: across"), "{text}");
    assert!(text.contains("DKIM-Signature:"), "{text}");
    assert!(text.contains("d=a.test"), "{text}");
    assert!(text.contains("s=pochta"), "{text}");
    // The queue is empty again.
    wait_for("an empty queue", Duration::from_secs(10), || {
        stdout(&a.cli(&["queue", "list"])).contains("queue is empty")
    });
}

/// Decodes RFC 3461 xtext (`+XX` is the byte XX in hex).
fn xtext_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'+' {
            let hex = s
                .get(i + 1..i + 3)
                .expect("xtext: + without two hex digits");
            out.push(u8::from_str_radix(hex, 16).expect("xtext hex"));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("xtext is ASCII")
}

/// A next hop that records the commands it is sent: a plain SMTP listener on loopback that
/// offers `PIPELINING` and `DSN` (RFC 3461) and accepts everything. (A second Pochta instance
/// would accept the DSN parameters too, but keeps no record of them that a test could read.)
/// Every command line of every transaction lands in the returned list, `DATA` last.
fn recording_next_hop() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind next hop");
    let port = listener.local_addr().expect("addr").port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let mut w = tcp.try_clone().expect("clone");
            let mut r = BufReader::new(tcp);
            let _ = w.write_all(b"220 hop.b.test ESMTP\r\n");
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                let cmd = line.trim_end().to_owned();
                line.clear();
                let upper = cmd.to_ascii_uppercase();
                let reply: &[u8] = if upper.starts_with("EHLO") {
                    b"250-hop.b.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 DSN\r\n"
                } else if upper == "DATA" {
                    let _ = w.write_all(b"354 go ahead\r\n");
                    let mut body = String::new();
                    while r.read_line(&mut body).is_ok_and(|n| n > 0) && body != ".\r\n" {
                        body.clear();
                    }
                    b"250 2.0.0 kept\r\n"
                } else if upper == "QUIT" {
                    let _ = w.write_all(b"221 bye\r\n");
                    break;
                } else {
                    b"250 ok\r\n"
                };
                record.lock().unwrap_or_else(|e| e.into_inner()).push(cmd);
                if w.write_all(reply).is_err() {
                    break;
                }
            }
        }
    });
    (port, seen)
}

/// RFC 3461 parameters given at submission reach the next hop: RET and ENVID on MAIL FROM,
/// NOTIFY and ORCPT on each RCPT TO (the README: "DSN parameters (RET/ENVID/NOTIFY/ORCPT
/// passed on) when advertised"). Through the binary: submission listener → queue → the route
/// for b.test.
#[tokio::test(flavor = "multi_thread")]
async fn dsn_parameters_reach_the_next_hop() {
    let (hop, seen) = recording_next_hop();
    let a = start_a(hop);
    submit_with(
        &a,
        "alice@a.test",
        "alicepw",
        (
            "RET=HDRS ENVID=QQ+2B314",
            &[
                (
                    "bob@b.test",
                    "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob+2Bdsn@b.test",
                ),
                ("carol@b.test", "NOTIFY=NEVER"),
            ],
        ),
        "dsn params",
    )
    .await;
    let lines = || seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    wait_for(
        "the next hop to receive DATA",
        Duration::from_secs(30),
        || lines().iter().any(|l| l == "DATA"),
    );
    let lines = lines();
    let find = |prefix: &str| {
        lines
            .iter()
            .find(|l| l.to_ascii_uppercase().starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} sent to the next hop: {lines:?}"))
            .clone()
    };
    let mail = find("MAIL FROM:<ALICE@A.TEST>");
    assert!(mail.contains(" RET=HDRS"), "RET not passed on: {mail}");
    assert!(
        mail.contains(" ENVID=QQ+2B314"),
        "ENVID not passed on: {mail}"
    );
    let bob = find("RCPT TO:<BOB@B.TEST>");
    assert!(
        bob.contains(" NOTIFY=SUCCESS,FAILURE"),
        "NOTIFY not passed on: {bob}"
    );
    // ORCPT is xtext (RFC 3461 §4): `+2B` is the `+` of the original address.
    let orcpt = bob
        .split(' ')
        .find_map(|p| p.strip_prefix("ORCPT="))
        .unwrap_or_else(|| panic!("ORCPT not passed on: {bob}"));
    assert_eq!(
        xtext_decode(orcpt).to_ascii_lowercase(),
        "rfc822;bob+dsn@b.test",
        "ORCPT changed on the way: {bob}"
    );
    let carol = find("RCPT TO:<CAROL@B.TEST>");
    assert!(
        carol.contains(" NOTIFY=NEVER"),
        "NOTIFY not passed on: {carol}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn next_hop_down_sigkill_restart_delivers_once() {
    let b_port = free_ports(1)[0];
    let mut a = start_a(b_port);
    submit(&a, "alice@a.test", "alicepw", "bob@b.test", "retry me").await;
    wait_for("a deferred attempt", Duration::from_secs(20), || {
        let l = stdout(&a.cli(&["queue", "list"]));
        l.contains("deferred") && l.contains("connect")
    });
    // Crash the sender while the message is queued.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let b = start_b(b_port);
    let ports = a.ports.clone();
    let dir = std::mem::replace(&mut a.dir, TestDir::empty());
    drop(a);
    let a = TestServer::start_in(dir, ports);
    let o = a.cli(&["queue", "retry"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let b_data = b.dir.data_dir();
    wait_for("delivery after restart", Duration::from_secs(30), || {
        !inbox(&b_data, "bob@b.test").is_empty()
    });
    wait_for("an empty queue", Duration::from_secs(10), || {
        stdout(&a.cli(&["queue", "list"])).contains("queue is empty")
    });
    // Further retries find nothing: delivered exactly once.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(inbox(&b_data, "bob@b.test").len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_recipient_bounces_to_the_sender() {
    let b = start_b(free_ports(1)[0]);
    let a = start_a(b.port("smtp"));
    submit(&a, "alice@a.test", "alicepw", "nobody@b.test", "doomed").await;
    let a_data = a.dir.data_dir();
    wait_for("the DSN in alice's INBOX", Duration::from_secs(20), || {
        !inbox(&a_data, "alice@a.test").is_empty()
    });
    let dsn = String::from_utf8_lossy(&inbox(&a_data, "alice@a.test")[0]).into_owned();
    assert!(dsn.starts_with("Return-Path: <>\r\n"), "{dsn}");
    assert!(dsn.contains("report-type=delivery-status"), "{dsn}");
    assert!(
        dsn.contains("Final-Recipient: rfc822; nobody@b.test"),
        "{dsn}"
    );
    assert!(dsn.contains("Action: failed"), "{dsn}");
    assert!(dsn.contains("Status: 5.1.1"), "{dsn}");
    assert!(dsn.contains("Subject: doomed"), "{dsn}");
}

#[test]
fn queue_dkim_and_dns_commands() {
    let dir = TestDir::empty();
    let o = dir.cli(&["queue", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "queue is empty\n");
    let o = dir.cli(&["queue", "delete", "0123"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no message 0123"), "{}", stderr(&o));
    let o = dir.cli(&["queue", "delete"]);
    assert_eq!(o.status.code(), Some(2));
    let o = dir.cli(&["queue", "retry"]);
    assert_eq!(stdout(&o), "0 recipient(s) will be retried now\n");

    let o = dir.cli(&["dkim", "generate", "example.org", "--algorithm", "ed25519"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("pochta._domainkey.example.org. IN TXT \"v=DKIM1; k=ed25519; p="),
        "{out}"
    );
    let o = dir.cli(&["dkim", "generate", "example.org"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    let o = dir.cli(&["dkim", "generate", "example.org", "--selector", "r1"]);
    assert!(stdout(&o).contains("k=rsa; p=MII"), "{}", stdout(&o));
    let o = dir.cli(&["dkim", "generate", "example.org", "--algorithm", "dsa"]);
    assert_eq!(o.status.code(), Some(1));

    let o = dir.cli(&["dns", "example.org"]);
    let out = stdout(&o);
    for want in [
        "example.org. IN MX 10 pochta.test.",
        "example.org. IN TXT \"v=spf1 mx -all\"",
        "_dmarc.example.org. IN TXT \"v=DMARC1; p=quarantine",
        "pochta._domainkey.example.org. IN TXT \"v=DKIM1; k=ed25519",
        "r1._domainkey.example.org. IN TXT \"v=DKIM1; k=rsa",
    ] {
        assert!(out.contains(want), "{want} missing:\n{out}");
    }
    let o = dir.cli(&["dns", "other.org"]);
    assert!(stdout(&o).contains("no DKIM key yet"), "{}", stdout(&o));
}
