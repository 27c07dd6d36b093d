//! What a submitted body with bare CR and bare LF looks like at the next hop, through the
//! binary (submission → queue → a recording SMTP sink on loopback, routed with
//! `[smtp.routes]`): every line ends in CRLF (RFC 5321 §2.3.8) and a dot that starts a line
//! after the normalisation is stuffed (§4.5.2), so a next hop that reads a bare CR or LF as
//! a line end cannot see lines, or an end of data, that Pochta did not.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestDir, TestServer, base64, free_ports, smtp_cmd, smtp_reply, wait_for};

/// A next hop that keeps the raw bytes of each DATA body (up to and including `.CRLF`).
fn raw_next_hop() -> (u16, Arc<Mutex<Vec<Vec<u8>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind next hop");
    let port = listener.local_addr().expect("addr").port();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let keep = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let mut w = tcp.try_clone().expect("clone");
            let mut r = BufReader::new(tcp);
            let _ = w.write_all(b"220 hop.b.test ESMTP\r\n");
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                let upper = line.trim_end().to_ascii_uppercase();
                line.clear();
                let reply: &[u8] = if upper.starts_with("EHLO") {
                    b"250-hop.b.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
                } else if upper == "DATA" {
                    let _ = w.write_all(b"354 go ahead\r\n");
                    let mut body = Vec::new();
                    let mut byte = [0u8];
                    while !body.ends_with(b"\r\n.\r\n") && r.read_exact(&mut byte).is_ok() {
                        body.push(byte[0]);
                    }
                    keep.lock().unwrap_or_else(|e| e.into_inner()).push(body);
                    b"250 2.0.0 kept\r\n"
                } else if upper == "QUIT" {
                    let _ = w.write_all(b"221 bye\r\n");
                    break;
                } else {
                    b"250 ok\r\n"
                };
                if w.write_all(reply).is_err() {
                    break;
                }
            }
        }
    });
    (port, bodies)
}

#[test]
fn bare_cr_and_lf_reach_the_next_hop_as_crlf_and_dot_stuffed() {
    let (hop, bodies) = raw_next_hop();
    let port = free_ports(1)[0];
    let dir = TestDir::new(
        &[("submission", port)],
        &format!(
            "[smtp.routes]\n\"b.test\" = \"127.0.0.1:{hop}\"\n[smtp.queue]\nretry = [\"1s\"]\n"
        ),
    );
    dir.add_user("alice@a.test", "alicepw");
    let server = TestServer::start_in(dir, vec![("submission", port)]);
    let addr: SocketAddr = server.addr("submission");

    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut c = BufReader::new(s);
    assert!(smtp_reply(&mut c).starts_with("220"));
    smtp_cmd(&mut c, b"EHLO client.test\r\n", "250");
    let token = base64(b"\0alice@a.test\0alicepw");
    smtp_cmd(&mut c, format!("AUTH PLAIN {token}\r\n").as_bytes(), "235");
    smtp_cmd(&mut c, b"MAIL FROM:<alice@a.test>\r\n", "250");
    smtp_cmd(&mut c, b"RCPT TO:<bob@b.test>\r\n", "250");
    smtp_cmd(&mut c, b"DATA\r\n", "354");
    // Bare CR before a dot (the smuggling shape `\r.\r`), bare CR in a line, bare LF.
    smtp_cmd(
        &mut c,
        b"From: <alice@a.test>\r\nTo: <bob@b.test>\r\nSubject: bare\r\n\r\n\
          one\r.\rtwo\r\nthree\rfour\r\nfive\nsix\r\n.\r\n",
        "250",
    );
    smtp_cmd(&mut c, b"QUIT\r\n", "221");

    let got = || bodies.lock().unwrap_or_else(|e| e.into_inner()).clone();
    wait_for(
        "the next hop to receive DATA",
        Duration::from_secs(30),
        || !got().is_empty(),
    );
    let body = got().remove(0);
    let text = String::from_utf8_lossy(&body);
    // Every CR is followed by LF and every LF preceded by CR.
    for (i, &b) in body.iter().enumerate() {
        if b == b'\r' {
            assert_eq!(body.get(i + 1), Some(&b'\n'), "bare CR at {i} in {text:?}");
        }
        if b == b'\n' {
            assert!(i > 0 && body[i - 1] == b'\r', "bare LF at {i} in {text:?}");
        }
    }
    assert!(
        text.ends_with("\r\n\r\none\r\n..\r\ntwo\r\nthree\r\nfour\r\nfive\r\nsix\r\n.\r\n"),
        "the body at the next hop: {text:?}"
    );
}
