//! CAPABILITY, LOGIN, AUTHENTICATE, STARTTLS, LOGOUT and the state rules (RFC 3501 §6.1–6.2).

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use pochta_imap::PlaintextPolicy;

#[test]
fn greeting_and_capability() {
    let s = start();
    let mut c = Client::connect(s.addr);
    assert!(
        c.greeting.starts_with("* OK [CAPABILITY IMAP4rev1"),
        "{}",
        c.greeting
    );
    let r = c.ok("CAPABILITY");
    assert!(has(&r, "* CAPABILITY IMAP4rev1"));
    assert!(has(&r, "STARTTLS"));
    assert!(has(&r, "AUTH=PLAIN"));
    // Every advertised extension is implemented and tested in this suite.
    for cap in [
        "IMAP4rev1",
        "IMAP4rev2",
        "LITERAL+",
        "SASL-IR",
        "ID",
        "ENABLE",
        "IDLE",
        "NAMESPACE",
        "UNSELECT",
        "UIDPLUS",
        "MOVE",
        "CHILDREN",
        "SPECIAL-USE",
        "CREATE-SPECIAL-USE",
        "LIST-EXTENDED",
        "LIST-STATUS",
        "ESEARCH",
        "SEARCHRES",
        "WITHIN",
        "CONDSTORE",
        "QRESYNC",
        "STATUS=SIZE",
        "SAVEDATE",
        "OBJECTID",
        "PREVIEW",
        "UTF8=ACCEPT",
        "MULTIAPPEND",
        "BINARY",
        "QUOTA",
        "QUOTA=RES-STORAGE",
        "QUOTA=RES-MESSAGE",
        "ACL",
        "RIGHTS=texk",
        "COMPRESS=DEFLATE",
        "APPENDLIMIT=",
        "AUTH=SCRAM-SHA-256",
    ] {
        assert!(r[0].contains(&format!(" {cap}")), "{cap} missing: {}", r[0]);
    }
    let r = c.ok("LOGOUT");
    assert!(r[0].starts_with("* BYE"));
}

#[test]
fn login_success_and_failure() {
    let s = start();
    let mut c = Client::connect(s.addr);
    let (st, r) = c.status("LOGIN user@example.org wrong");
    assert_eq!(st, "NO", "{r:?}");
    assert!(has(&r, "[AUTHENTICATIONFAILED]"));
    // Unknown users fail the same way.
    let (st, r) = c.status("LOGIN nobody@example.org secret");
    assert_eq!(st, "NO");
    assert!(has(&r, "[AUTHENTICATIONFAILED]"));
    let r = c.ok("LOGIN \"user@example.org\" {6+}\r\nsecret");
    assert!(r.last().unwrap().contains("[CAPABILITY IMAP4rev1"), "{r:?}");
    // Already authenticated.
    let (st, _) = c.status("LOGIN user@example.org secret");
    assert_eq!(st, "BAD");
}

#[test]
fn commands_in_the_wrong_state() {
    let s = start();
    let mut c = Client::connect(s.addr);
    let (st, r) = c.status("SELECT INBOX");
    assert_eq!(st, "BAD", "{r:?}");
    let (st, _) = c.status("FETCH 1 FLAGS");
    assert_eq!(st, "BAD");
    c.ok("LOGIN user@example.org secret");
    let (st, r) = c.status("FETCH 1 FLAGS");
    assert_eq!(st, "BAD", "{r:?}");
    assert!(r.last().unwrap().contains("selected"));
    let (st, _) = c.status("EXPUNGE");
    assert_eq!(st, "BAD");
    let (st, _) = c.status("FROBNICATE");
    assert_eq!(st, "BAD");
}

#[test]
fn authenticate_plain_with_and_without_initial_response() {
    let s = start();
    let mut c = Client::connect(s.addr);
    let ir = B64.encode(b"\0user@example.org\0secret");
    c.ok(&format!("AUTHENTICATE PLAIN {ir}"));

    let mut c = Client::connect(s.addr);
    c.send(b"a1 AUTHENTICATE PLAIN\r\n");
    let cont = c.read_response();
    assert!(cont.starts_with('+'), "{cont}");
    c.send(format!("{ir}\r\n").as_bytes());
    let r = c.read_until("a1");
    assert!(r.last().unwrap().starts_with("a1 OK"), "{r:?}");

    // LOGIN mechanism, two challenges.
    let mut c = Client::connect(s.addr);
    c.send(b"a2 AUTHENTICATE LOGIN\r\n");
    assert!(c.read_response().starts_with("+ "));
    c.send(format!("{}\r\n", B64.encode("user@example.org")).as_bytes());
    assert!(c.read_response().starts_with("+ "));
    c.send(format!("{}\r\n", B64.encode("secret")).as_bytes());
    let r = c.read_until("a2");
    assert!(r.last().unwrap().starts_with("a2 OK"), "{r:?}");

    // Cancelled exchange.
    let mut c = Client::connect(s.addr);
    c.send(b"a3 AUTHENTICATE PLAIN\r\n");
    assert!(c.read_response().starts_with('+'));
    c.send(b"*\r\n");
    let r = c.read_until("a3");
    assert!(r.last().unwrap().starts_with("a3 BAD"), "{r:?}");
    // Session still usable.
    c.ok("NOOP");

    let (st, _) = c.status("AUTHENTICATE X-UNKNOWN");
    assert_eq!(st, "NO");
}

#[test]
fn plaintext_refused_without_tls_when_policy_says_so() {
    let s = start_with(PlaintextPolicy::TlsOnly);
    let mut c = Client::connect(s.addr);
    assert!(c.greeting.contains("LOGINDISABLED"), "{}", c.greeting);
    assert!(!c.greeting.contains("AUTH=PLAIN"), "{}", c.greeting);
    let (st, r) = c.status("LOGIN user@example.org secret");
    assert_eq!(st, "NO");
    assert!(has(&r, "[PRIVACYREQUIRED]"), "{r:?}");
    let (st, r) = c.status(&format!(
        "AUTHENTICATE PLAIN {}",
        B64.encode(b"\0user@example.org\0secret")
    ));
    assert_eq!(st, "NO", "{r:?}");
    let r = c.ok("STARTTLS");
    assert!(r.last().unwrap().contains("Begin TLS"));
}

#[test]
fn starttls_upgrades_and_discards_pipelined_plaintext() {
    use std::io::{Read, Write};
    use std::sync::Arc;
    let s = start_with(PlaintextPolicy::TlsOnly);
    let tcp = std::net::TcpStream::connect(s.addr).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut tcp2 = tcp.try_clone().unwrap();
    let mut r = std::io::BufReader::new(tcp);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut r, &mut line).unwrap();
    // Pipeline a command after STARTTLS: it must not be executed (CVE-2011-0411 class).
    tcp2.write_all(b"a STARTTLS\r\nb LOGIN user@example.org secret\r\n")
        .unwrap();
    line.clear();
    std::io::BufRead::read_line(&mut r, &mut line).unwrap();
    assert!(line.starts_with("a OK"), "{line}");
    assert!(r.buffer().is_empty());
    let tcp = r.into_inner();
    // TLS client trusting anything: the test is about the protocol, not the certificate.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify))
        .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // The pipelined LOGIN was dropped (or broke the handshake); either way it never ran.
    if tls.write_all(b"c CAPABILITY\r\n").is_ok() {
        let mut buf = vec![0u8; 4096];
        let mut got = Vec::new();
        while !String::from_utf8_lossy(&got).contains("c OK") {
            match tls.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let text = String::from_utf8_lossy(&got);
        assert!(!text.contains("b OK"), "{text}");
        if text.contains("c OK") {
            assert!(
                text.contains("AUTH=PLAIN"),
                "after TLS, plaintext is allowed: {text}"
            );
            assert!(!text.contains("STARTTLS"), "{text}");
        }
    }
}

#[derive(Debug)]
struct NoVerify;

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
