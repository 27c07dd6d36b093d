//! TLS certificates are reloaded on SIGHUP without a restart.
//!
//! The server starts with certificate A from `[tls]`; the files are replaced with B and the
//! server (only the child this test started, by PID) gets SIGHUP; new handshakes must then
//! present B while a session opened under A keeps working. A broken replacement (B's
//! certificate with a key that does not belong to it, then a file that is not PEM at all) is
//! refused with a log line and B stays in use.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("parse cert PEM")
        .to_vec()
}

/// The end-entity certificate the server presents on a fresh handshake to `listener`,
/// trusting every certificate in `roots`; `None` if the handshake fails.
async fn presented(server: &TestServer, listener: &str, roots: &Path) -> Option<Vec<u8>> {
    let tcp = TcpStream::connect(server.addr(listener)).await.ok()?;
    let name = ServerName::try_from("localhost").expect("server name");
    let tls = tokio::time::timeout(Duration::from_secs(10), connector(roots).connect(name, tcp))
        .await
        .ok()?
        .ok()?;
    Some(tls.get_ref().1.peer_certificates()?[0].to_vec())
}

fn sighup(server: &TestServer) {
    let pid = server.child.id().to_string();
    let st = Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill");
    assert!(st.success());
}

/// Polls until a new handshake presents `want`, up to 10 s.
async fn wait_presented(server: &TestServer, listener: &str, roots: &Path, want: &[u8]) {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let got = presented(server, listener, roots).await;
        if got.as_deref() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < end,
            "{listener} never presented the expected certificate\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_and_keeps_it_on_a_bad_pair() {
    let files = tempfile::tempdir().expect("tempdir");
    let cert = files.path().join("cert.pem");
    let key = files.path().join("key.pem");
    let roots = files.path().join("roots.pem");
    let (cert_a, key_a) = pochta_net::generate_self_signed("a.test").expect("cert A");
    let (cert_b, key_b) = pochta_net::generate_self_signed("b.test").expect("cert B");
    fs::write(&cert, &cert_a).unwrap();
    fs::write(&key, &key_a).unwrap();
    fs::write(&roots, format!("{cert_a}{cert_b}")).unwrap();
    let (der_a, der_b) = (der(&cert_a), der(&cert_b));
    assert_ne!(der_a, der_b);

    let extra = format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let server = TestServer::start_with(&["imaps", "pop3"], &extra);
    assert_eq!(
        presented(&server, "imaps", &roots).await.as_deref(),
        Some(&der_a[..])
    );
    // A session opened under A, used again after the reload.
    let a_only = files.path().join("a.pem");
    fs::write(&a_only, &cert_a).unwrap();
    let tcp = TcpStream::connect(server.addr("imaps")).await.unwrap();
    let mut old = tokio::io::BufReader::new(tls_handshake(&a_only, tcp).await);
    assert!(read_line(&mut old).await.starts_with("* OK"));

    fs::write(&cert, &cert_b).unwrap();
    fs::write(&key, &key_b).unwrap();
    sighup(&server);
    wait_presented(&server, "imaps", &roots, &der_b).await;
    // STARTTLS listeners share the same resolver.
    let mut pop = server.connect("pop3").await;
    assert!(read_line(&mut pop).await.starts_with("+OK"));
    send(&mut pop, "STLS\r\n").await;
    assert!(read_line(&mut pop).await.starts_with("+OK"));
    let name = ServerName::try_from("localhost").unwrap();
    let tls = connector(&roots)
        .connect(name, pop.into_inner())
        .await
        .expect("STARTTLS handshake");
    assert_eq!(
        tls.get_ref().1.peer_certificates().unwrap()[0].as_ref(),
        &der_b[..]
    );

    send(&mut old, "a NOOP\r\n").await;
    assert!(read_line(&mut old).await.starts_with("a OK"));

    // B's certificate with A's key: refused, B kept.
    fs::write(&key, &key_a).unwrap();
    sighup(&server);
    // Then not PEM at all: refused too.
    let refused = |log: &str| log.matches("TLS certificate not reloaded").count();
    let end = Instant::now() + Duration::from_secs(10);
    while refused(&server.log()) < 1 {
        assert!(Instant::now() < end, "no refusal logged\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        presented(&server, "imaps", &roots).await.as_deref(),
        Some(&der_b[..]),
        "a mismatched pair replaced the working one"
    );
    fs::write(&cert, "not a certificate").unwrap();
    sighup(&server);
    let end = Instant::now() + Duration::from_secs(10);
    while refused(&server.log()) < 2 {
        assert!(Instant::now() < end, "no refusal logged\n{}", server.log());
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(
        presented(&server, "imaps", &roots).await.as_deref(),
        Some(&der_b[..]),
        "an unreadable certificate replaced the working one"
    );
    let mut server = server;
    assert!(
        server
            .sigterm(Duration::from_secs(20))
            .is_some_and(|s| s.success()),
        "server did not exit cleanly after the reloads\n{}",
        server.log()
    );
}
