//! Listener, TLS and STARTTLS over real sockets on 127.0.0.1 with a generated certificate.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pochta_net::{
    Connection, Limiter, Listener, ListenerConfig, Service, ShutdownController, TlsMode,
    ensure_self_signed, starttls_buffered,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;

fn connector(cert: &Path) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(cfg))
}

/// Greets, echoes lines, upgrades on `STARTTLS`, says BYE on shutdown.
struct Echo {
    events: mpsc::UnboundedSender<String>,
}

impl Service for Echo {
    async fn handle(&self, conn: Connection) {
        let Connection {
            stream,
            starttls,
            mut shutdown,
            ..
        } = conn;
        let mut io = BufReader::new(stream);
        let tls = if io.get_ref().is_tls() {
            "tls"
        } else {
            "plain"
        };
        if io
            .write_all(format!("HELLO {tls}\r\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
        loop {
            let mut line = String::new();
            let n = tokio::select! {
                _ = shutdown.wait() => {
                    let _ = io.write_all(b"BYE\r\n").await;
                    return;
                }
                r = io.read_line(&mut line) => match r { Ok(n) => n, Err(_) => return },
            };
            if n == 0 {
                return;
            }
            let _ = self.events.send(line.trim_end().to_owned());
            if line == "STARTTLS\r\n" {
                let Some(acc) = &starttls else { return };
                if io.write_all(b"OK\r\n").await.is_err() {
                    return;
                }
                match starttls_buffered(io, acc).await {
                    Ok((upgraded, discarded)) => {
                        let _ = self.events.send(format!("discarded {discarded}"));
                        io = upgraded;
                    }
                    Err(_) => return,
                }
                continue;
            }
            if io.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

struct Server {
    addr: std::net::SocketAddr,
    cert: std::path::PathBuf,
    ctl: ShutdownController,
    events: mpsc::UnboundedReceiver<String>,
    _dir: tempfile::TempDir,
}

async fn start(mode: &str, max_per_ip: u32) -> Server {
    start_limited(mode, 100, max_per_ip).await
}

async fn start_limited(mode: &str, max_connections: usize, max_per_ip: u32) -> Server {
    start_refusing(mode, max_connections, max_per_ip, b"").await
}

async fn start_refusing(
    mode: &str,
    max_connections: usize,
    max_per_ip: u32,
    refusal: &'static [u8],
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = ensure_self_signed(dir.path(), "mail.test").unwrap();
    let acc = pochta_net::acceptor(&cert, &key).unwrap();
    let tls = match mode {
        "implicit" => TlsMode::Implicit(acc),
        "starttls" => TlsMode::StartTls(acc),
        _ => TlsMode::Plain,
    };
    let cfg = ListenerConfig {
        name: "echo".into(),
        addrs: vec!["127.0.0.1:0".parse().unwrap()],
        tls,
        idle_timeout: Duration::from_secs(30),
        handshake_timeout: Duration::from_secs(30),
        max_per_ip: None,
        login_required: false,
        refusal,
    };
    let listener = Listener::bind(cfg, Limiter::new(max_connections, max_per_ip))
        .await
        .unwrap();
    let addr = listener.local_addrs()[0];
    assert!(
        listener
            .describe()
            .starts_with("echo listening on 127.0.0.1:")
    );
    let ctl = ShutdownController::new();
    let (tx, events) = mpsc::unbounded_channel();
    tokio::spawn(listener.run(
        Arc::new(Echo { events: tx }),
        ctl.subscribe(),
        ctl.tracker(),
    ));
    Server {
        addr,
        cert,
        ctl,
        events,
        _dir: dir,
    }
}

/// How long a test waits for something the server is to do: generous for a loaded machine.
const DEADLINE: Duration = Duration::from_secs(30);

async fn line<S: AsyncRead + Unpin>(r: &mut BufReader<S>) -> String {
    let mut l = String::new();
    tokio::time::timeout(DEADLINE, r.read_line(&mut l))
        .await
        .unwrap_or_else(|_| panic!("no line from the server within {DEADLINE:?}"))
        .unwrap();
    l
}

async fn send<S: AsyncWrite + Unpin>(w: &mut S, s: &str) {
    w.write_all(s.as_bytes()).await.unwrap();
    w.flush().await.unwrap();
}

#[tokio::test]
async fn implicit_tls_handshake_and_echo() {
    let s = start("implicit", 10).await;
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let tls = connector(&s.cert)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let mut c = BufReader::new(tls);
    assert_eq!(line(&mut c).await, "HELLO tls\r\n");
    send(c.get_mut(), "ping\r\n").await;
    assert_eq!(line(&mut c).await, "ping\r\n");
    // The certificate also names 127.0.0.1 and the configured hostname.
    for name in ["127.0.0.1", "mail.test"] {
        let tcp = TcpStream::connect(s.addr).await.unwrap();
        connector(&s.cert)
            .connect(ServerName::try_from(name).unwrap(), tcp)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn starttls_discards_pipelined_plaintext() {
    let mut s = start("starttls", 10).await;
    let tcp = TcpStream::connect(s.addr).await.unwrap();
    let mut c = BufReader::new(tcp);
    assert_eq!(line(&mut c).await, "HELLO plain\r\n");
    // An injected command rides in the same packet as STARTTLS.
    send(c.get_mut(), "STARTTLS\r\nINJECTED\r\n").await;
    assert_eq!(line(&mut c).await, "OK\r\n");
    assert!(c.buffer().is_empty());
    let tls = connector(&s.cert)
        .connect(ServerName::try_from("localhost").unwrap(), c.into_inner())
        .await
        .unwrap();
    let mut c = BufReader::new(tls);
    send(c.get_mut(), "after\r\n").await;
    assert_eq!(line(&mut c).await, "after\r\n");
    let mut seen = Vec::new();
    while let Ok(e) = s.events.try_recv() {
        seen.push(e);
    }
    assert_eq!(seen, ["STARTTLS", "discarded 10", "after"]);
}

#[tokio::test]
async fn per_ip_limit_closes_extra_connections() {
    let s = start("plain", 1).await;
    let mut first = BufReader::new(TcpStream::connect(s.addr).await.unwrap());
    assert_eq!(line(&mut first).await, "HELLO plain\r\n");
    let mut second = TcpStream::connect(s.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(DEADLINE, second.read(&mut buf))
        .await
        .unwrap_or_else(|_| {
            panic!("the connection over the per-IP limit was not closed within {DEADLINE:?}")
        })
        .unwrap_or(0);
    assert_eq!(
        n, 0,
        "second connection should be closed without a greeting"
    );
    drop(first);
    // The slot is released when the first session ends.
    let end = tokio::time::Instant::now() + DEADLINE;
    while tokio::time::Instant::now() < end {
        let mut third = BufReader::new(TcpStream::connect(s.addr).await.unwrap());
        let mut l = String::new();
        if third.read_line(&mut l).await.unwrap_or(0) > 0 {
            assert_eq!(l, "HELLO plain\r\n");
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the per-IP slot was not released within {DEADLINE:?} of the first session ending");
}

/// A connection over its address's limit is told why before the close, in plaintext and
/// after the handshake on an implicit-TLS listener. (That a finished session's slot is free
/// for an immediate reconnection is checked through the binary in
/// `crates/pochta/tests/connections.rs`.)
#[tokio::test]
async fn per_ip_refusal_is_written_before_the_close() {
    const NO: &[u8] = b"421 4.7.0 Too many connections from your address\r\n";
    let s = start_refusing("plain", 100, 1, NO).await;
    let mut first = BufReader::new(TcpStream::connect(s.addr).await.unwrap());
    assert_eq!(line(&mut first).await, "HELLO plain\r\n");
    let mut second = BufReader::new(TcpStream::connect(s.addr).await.unwrap());
    assert_eq!(line(&mut second).await.as_bytes(), NO);
    let mut rest = Vec::new();
    second.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty(), "nothing after the refusal: {rest:?}");
    drop(first);
    let s2 = start_refusing("implicit", 100, 1, NO).await;
    let tls = connector(&s2.cert);
    let name = || ServerName::try_from("localhost").unwrap();
    let tcp = TcpStream::connect(s2.addr).await.unwrap();
    let mut a = BufReader::new(tls.connect(name(), tcp).await.unwrap());
    assert_eq!(line(&mut a).await, "HELLO tls\r\n");
    let tcp = TcpStream::connect(s2.addr).await.unwrap();
    let mut b = BufReader::new(tls.connect(name(), tcp).await.unwrap());
    assert_eq!(line(&mut b).await.as_bytes(), NO);
}

/// Per-IP limits are counted per listener: a host at its limit on one listener still gets
/// served on another that shares the same [`Limiter`].
#[tokio::test]
async fn per_ip_limit_is_counted_per_listener() {
    let limiter = Limiter::new(100, 1);
    let ctl = ShutdownController::new();
    let mut addrs = Vec::new();
    for name in ["one", "two"] {
        let cfg = ListenerConfig {
            name: name.into(),
            addrs: vec!["127.0.0.1:0".parse().unwrap()],
            tls: TlsMode::Plain,
            idle_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(30),
            max_per_ip: None,
            login_required: false,
            refusal: b"NO\r\n",
        };
        let l = Listener::bind(cfg, Arc::clone(&limiter)).await.unwrap();
        addrs.push(l.local_addrs()[0]);
        let (tx, _rx) = mpsc::unbounded_channel();
        tokio::spawn(l.run(
            Arc::new(Echo { events: tx }),
            ctl.subscribe(),
            ctl.tracker(),
        ));
    }
    let mut one = BufReader::new(TcpStream::connect(addrs[0]).await.unwrap());
    assert_eq!(line(&mut one).await, "HELLO plain\r\n");
    let mut two = BufReader::new(TcpStream::connect(addrs[1]).await.unwrap());
    assert_eq!(line(&mut two).await, "HELLO plain\r\n");
    let mut again = BufReader::new(TcpStream::connect(addrs[0]).await.unwrap());
    assert_eq!(line(&mut again).await, "NO\r\n");
    assert_eq!(limiter.count("127.0.0.1".parse().unwrap()), 2);
}

/// `limits.max_connections`: past it the listener stops accepting, so a further connection
/// waits unserved (in the kernel's backlog) until a session ends.
#[tokio::test]
async fn max_connections_holds_extra_connections_until_a_slot_frees() {
    let s = start_limited("plain", 2, 10).await;
    let mut first = BufReader::new(TcpStream::connect(s.addr).await.unwrap());
    assert_eq!(line(&mut first).await, "HELLO plain\r\n");
    let mut second = BufReader::new(TcpStream::connect(s.addr).await.unwrap());
    assert_eq!(line(&mut second).await, "HELLO plain\r\n");
    let mut third = BufReader::new(TcpStream::connect(s.addr).await.unwrap());
    let mut greeting = String::new();
    let waited =
        tokio::time::timeout(Duration::from_millis(500), third.read_line(&mut greeting)).await;
    assert!(
        waited.is_err(),
        "a third connection was served with max_connections = 2: {waited:?} {greeting:?}"
    );
    drop(first);
    // The freed slot goes to the waiting connection.
    assert_eq!(line(&mut third).await, "HELLO plain\r\n");
    drop(second);
}

#[tokio::test]
async fn graceful_shutdown_says_bye_and_stops_accepting() {
    let s = start("plain", 10).await;
    let mut c = BufReader::new(TcpStream::connect(s.addr).await.unwrap());
    assert_eq!(line(&mut c).await, "HELLO plain\r\n");
    let addr = s.addr;
    assert!(
        s.ctl.drain(DEADLINE).await,
        "the session did not end within {DEADLINE:?} of the drain"
    );
    assert_eq!(line(&mut c).await, "BYE\r\n");
    // The listening socket is closed once the accept loops stop.
    assert!(TcpStream::connect(addr).await.is_err());
}
