//! The minimum data rate (`limits.min_data_rate`, `limits.data_rate_grace`), through the
//! binary: a client that drips a DATA body, a BDAT chunk or an IMAP APPEND literal is cut
//! off with a clear answer (`451 4.4.2`, `* BYE`) once the grace has passed, while a client
//! sending above the rate (even one slower than the grace in total) is unaffected. Waits are
//! deadline-bounded polls; no elapsed time is asserted.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::{TestDir, TestServer, free_ports, smtp_cmd, smtp_reply};

const USER: &str = "rate@example.test";
const PASS: &str = "rate pw";
/// The configured floor (bytes/s) and grace (s).
const CONFIG: &str = "[limits]\nmin_data_rate = 1000\ndata_rate_grace = 2\n\
                      [smtp]\ncheck_inbound = false\n";

/// An SMTP session with its envelope given, ready for DATA or BDAT.
fn smtp_envelope(addr: SocketAddr) -> BufReader<TcpStream> {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = BufReader::new(s);
    assert!(smtp_reply(&mut r).starts_with("220"));
    smtp_cmd(&mut r, "EHLO client.test\r\n", "250");
    smtp_cmd(&mut r, "MAIL FROM:<someone@client.test>\r\n", "250");
    smtp_cmd(&mut r, format!("RCPT TO:<{USER}>\r\n"), "250");
    r
}

fn smtp_data(addr: SocketAddr) -> BufReader<TcpStream> {
    let mut r = smtp_envelope(addr);
    smtp_cmd(&mut r, "DATA\r\n", "354");
    r
}

/// Drips a byte every 200 ms until a line comes back (or 30 s pass); returns that line.
fn drip_until_answer(r: &mut BufReader<TcpStream>) -> String {
    r.get_mut()
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let end = Instant::now() + Duration::from_secs(30);
    let mut line = String::new();
    while Instant::now() < end {
        if r.get_mut().write_all(b"x").is_err() {
            break;
        }
        match r.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) if line.ends_with('\n') => return line,
            _ => {}
        }
    }
    line
}

#[test]
fn dripping_bodies_and_literals_are_cut_off_while_others_go_on() {
    let listeners: Vec<(&'static str, u16)> =
        ["smtp", "imap"].into_iter().zip(free_ports(2)).collect();
    let dir = TestDir::new(&listeners, CONFIG);
    dir.add_user(USER, PASS);
    let server = TestServer::start_in(dir, listeners);
    let smtp = server.addr("smtp");
    let imap = server.addr("imap");

    // A client above the rate, but taking longer than the grace in total: 5 KiB/s for 4 s.
    let steady = thread::spawn(move || {
        let mut c = smtp_data(smtp);
        c.get_mut().write_all(b"Subject: steady\r\n\r\n").unwrap();
        for _ in 0..16 {
            c.get_mut().write_all(&[b'y'; 1278]).unwrap();
            c.get_mut().write_all(b"\r\n").unwrap();
            thread::sleep(Duration::from_millis(250));
        }
        c.get_mut().write_all(b".\r\n").unwrap();
        smtp_reply(&mut c)
    });

    // SMTP: a body dripped at 5 bytes/s.
    let smtp_drip = thread::spawn(move || {
        let mut c = smtp_data(smtp);
        let answer = drip_until_answer(&mut c);
        let mut rest = String::new();
        c.get_mut()
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let closed = c.read_line(&mut rest).map(|n| n == 0).unwrap_or(true);
        (answer, closed)
    });

    // SMTP: a BDAT chunk (RFC 3030) dripped at 5 bytes/s.
    let bdat_drip = thread::spawn(move || {
        let mut c = smtp_envelope(smtp);
        c.get_mut().write_all(b"BDAT 100000 LAST\r\n").unwrap();
        drip_until_answer(&mut c)
    });

    // IMAP: an APPEND literal dripped at 5 bytes/s.
    let imap_drip = thread::spawn(move || {
        let s = TcpStream::connect(imap).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = BufReader::new(s);
        assert!(smtp_reply(&mut c).starts_with("* OK"));
        smtp_cmd(&mut c, format!("a LOGIN {USER} \"{PASS}\"\r\n"), "a OK");
        smtp_cmd(&mut c, "b APPEND INBOX {100000}\r\n", "+");
        drip_until_answer(&mut c)
    });

    let (smtp_answer, closed) = smtp_drip.join().unwrap();
    assert!(
        smtp_answer.starts_with("451 4.4.2"),
        "a dripped DATA body: {smtp_answer:?}\n{}",
        server.log()
    );
    assert!(closed, "the connection stays open after 451 4.4.2");
    let bdat_answer = bdat_drip.join().unwrap();
    assert!(
        bdat_answer.starts_with("451 4.4.2"),
        "a dripped BDAT chunk: {bdat_answer:?}"
    );
    let imap_answer = imap_drip.join().unwrap();
    assert!(
        imap_answer.starts_with("* BYE") && imap_answer.contains("too slowly"),
        "a dripped APPEND literal: {imap_answer:?}"
    );
    let steady = steady.join().unwrap();
    assert!(steady.starts_with("250"), "the steady client: {steady:?}");
}
