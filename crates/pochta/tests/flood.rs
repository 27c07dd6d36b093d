//! Floods and drips through the binary: connections that never log in must not keep a
//! legitimate user out, and a client dripping bytes cannot stretch the login budget.
//!
//! The elapsed times are printed, not asserted (bench figures live in SECURITY.md); what is
//! asserted is that the legitimate session is served at all while the flood holds on.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

const USER: &str = "legit@pochta.test";
const PASSWORD: &str = "legit-password";

fn server(extra: &str) -> TestServer {
    let ports: Vec<(&'static str, u16)> = ["imap", "pop3", "submission"]
        .into_iter()
        .zip(free_ports(3))
        .collect();
    let dir = TestDir::new(&ports, &format!("[auth]\nplaintext = \"always\"\n{extra}"));
    dir.add_user(USER, PASSWORD);
    TestServer::start_in(dir, ports)
}

/// A TCP connection from the loopback address `from` (127.0.0.0/8 is all local on Linux).
async fn connect_from(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(from, 0))?;
    sock.connect(to).await
}

/// 300 connections from 30 addresses (10 each, under the per-address limit), each dripping a
/// byte every second and never logging in, against `max_connections = 100`: a legitimate
/// client still gets its greeting, logs in, selects and fetches, because at the limit the
/// oldest connection that has not logged in makes room. Without eviction the legitimate
/// connection waits in the kernel's backlog behind the flood until `login_timeout` (60 s)
/// frees a slot, and `read_line`'s 10 s deadline fails the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_that_never_logs_in_does_not_keep_a_user_out() {
    let s = server("[limits]\nmax_connections = 100\n");
    let addr = s.addr("imap");
    let flood = tokio::spawn(async move {
        let mut tasks = Vec::new();
        for i in 0..300u32 {
            let from = IpAddr::from([127, 0, 1, (i % 30) as u8 + 2]);
            tasks.push(tokio::spawn(async move {
                let Ok(mut c) = connect_from(from, addr).await else {
                    return;
                };
                // Drip for up to 40 s, then give up (the test is over by then).
                for _ in 0..40 {
                    if c.write_all(b"x").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }));
            if i % 50 == 49 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    // Let the flood fill every slot first.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let started = Instant::now();
    let session = async {
        let tcp = connect_from(IpAddr::from([127, 0, 0, 1]), addr)
            .await
            .expect("connect");
        let mut c = BufReader::new(tcp);
        let greeting = read_line(&mut c).await;
        assert!(greeting.starts_with("* OK"), "{greeting:?}");
        send(&mut c, &format!("a LOGIN {USER} {PASSWORD}\r\n")).await;
        let l = read_until(&mut c, "a ").await;
        assert!(l.last().unwrap().starts_with("a OK"), "{l:?}");
        send(&mut c, "b SELECT INBOX\r\nc UID FETCH 1:* (FLAGS)\r\n").await;
        assert!(
            read_until(&mut c, "b ")
                .await
                .last()
                .unwrap()
                .starts_with("b OK")
        );
        assert!(
            read_until(&mut c, "c ")
                .await
                .last()
                .unwrap()
                .starts_with("c OK")
        );
        c
    };
    // Generous: the flood holds every slot for 40 s and login_timeout is 60 s, so without
    // eviction the session is not served before this deadline.
    let mut c = tokio::time::timeout(Duration::from_secs(30), session)
        .await
        .expect("the legitimate client was not served within 30 s while the flood held");
    eprintln!(
        "legitimate login + SELECT + FETCH during the flood took {:?}",
        started.elapsed()
    );
    // A logged-in session is never evicted: it still answers after more flood arrivals.
    for i in 0..50u32 {
        let from = IpAddr::from([127, 0, 2, (i % 25) as u8 + 2]);
        let _ = connect_from(from, addr).await;
    }
    send(&mut c, "d NOOP\r\n").await;
    assert!(
        read_until(&mut c, "d ")
            .await
            .last()
            .unwrap()
            .starts_with("d OK")
    );
    flood.abort();
}

/// Greeting-to-login is one budget, not one per read: a client that sends a byte every
/// second (well inside any per-read timeout) is closed once `login_timeout` has passed since
/// its greeting, on IMAP, POP3 and submission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dripping_bytes_does_not_stretch_the_login_budget() {
    let s = server("[limits]\nlogin_timeout = 3\n");
    for listener in ["imap", "pop3", "submission"] {
        let mut c = s.connect(listener).await;
        read_line(&mut c).await;
        let started = Instant::now();
        let mut closed = false;
        // Drip for up to 30 s; the server must close long before.
        for _ in 0..30 {
            if c.get_mut().write_all(b"x").await.is_err() {
                closed = true;
                break;
            }
            let mut buf = [0u8; 256];
            match tokio::time::timeout(Duration::from_secs(1), c.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    closed = true;
                    break;
                }
                Ok(Ok(_)) | Err(_) => {}
            }
        }
        assert!(
            closed,
            "{listener}: a client dripping a byte a second was still connected after 30 s with login_timeout = 3"
        );
        eprintln!("{listener}: closed after {:?}", started.elapsed());
    }
}
