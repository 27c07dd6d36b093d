//! STARTTLS (RFC 3207) and implicit TLS with a rustls client.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use pochta_auth::PlaintextPolicy;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};

use common::*;

fn tls_config(s: &Server) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(s.dir.path().join("cert.pem")).expect("read cert") {
        roots.add(c.expect("parse cert")).expect("add root");
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn wrap(s: &Server, tcp: TcpStream) -> BufReader<Tls> {
    let name = ServerName::try_from("localhost").expect("name");
    let conn = rustls::ClientConnection::new(tls_config(s), name).expect("client");
    BufReader::new(rustls::StreamOwned::new(conn, tcp))
}

fn reply<R: BufRead>(r: &mut R) -> String {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let line = line.trim_end().to_string();
        let more = line.as_bytes().get(3) == Some(&b'-');
        lines.push(line);
        if !more {
            break;
        }
    }
    lines.join("\n")
}

fn cmd(c: &mut BufReader<Tls>, line: &str) -> String {
    c.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .expect("write");
    c.get_mut().flush().expect("flush");
    reply(c)
}

#[test]
fn starttls_then_auth_and_mail() {
    let mut opts = Options::submission();
    opts.config.plaintext = PlaintextPolicy::TlsOnly;
    let s = start(opts);
    let tcp = TcpStream::connect(s.addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("t");
    let mut plain = BufReader::new(tcp.try_clone().expect("clone"));
    let mut w = tcp.try_clone().expect("clone");
    assert!(reply(&mut plain).starts_with("220 "));
    w.write_all(b"EHLO c\r\n").expect("w");
    assert!(reply(&mut plain).contains("250-STARTTLS"));
    // QUIT pipelined after STARTTLS must be discarded, not executed.
    w.write_all(b"STARTTLS\r\nQUIT\r\n").expect("w");
    assert!(reply(&mut plain).starts_with("220 2.0.0"));
    let mut c = wrap(&s, tcp);
    // Everything is forgotten after TLS: MAIL needs EHLO again.
    assert!(cmd(&mut c, "MAIL FROM:<user@example.org>").starts_with("503 5.5.1"));
    let r = cmd(&mut c, "EHLO c");
    assert!(
        r.contains("AUTH SCRAM-SHA-256 PLAIN LOGIN") && !r.contains("STARTTLS"),
        "{r}"
    );
    assert!(cmd(&mut c, "STARTTLS").starts_with("503 5.5.1"));
    let r = cmd(&mut c, &format!("AUTH PLAIN {}", plain_b64()));
    assert!(r.starts_with("235"), "{r}");
    assert!(cmd(&mut c, "MAIL FROM:<user@example.org>").starts_with("250"));
    assert!(cmd(&mut c, "RCPT TO:<other@example.org>").starts_with("250"));
    assert!(cmd(&mut c, "DATA").starts_with("354"));
    let mut m = message(USER, OTHER, "tls");
    m.extend_from_slice(b".\r\n");
    c.get_mut().write_all(&m).expect("w");
    assert!(reply(&mut c).starts_with("250 2.0.0"));
    let stored = &s.inbox(OTHER)[0];
    assert!(
        has(stored, "with ESMTPSA id"),
        "{}",
        String::from_utf8_lossy(stored)
    );
    assert!(
        has(stored, "(using TLSv1_3"),
        "{}",
        String::from_utf8_lossy(stored)
    );
    assert!(cmd(&mut c, "QUIT").starts_with("221"));
}

fn plain_b64() -> String {
    plain(USER, PASSWORD)
}

#[test]
fn implicit_tls_submissions() {
    let mut opts = Options::submission();
    opts.implicit_tls = true;
    opts.config.plaintext = PlaintextPolicy::TlsOnly;
    let s = start(opts);
    let tcp = TcpStream::connect(s.addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("t");
    let mut c = wrap(&s, tcp);
    assert!(reply(&mut c).starts_with("220 "));
    let r = cmd(&mut c, "EHLO c");
    assert!(
        r.contains("AUTH SCRAM-SHA-256 PLAIN LOGIN") && !r.contains("STARTTLS"),
        "{r}"
    );
    assert!(cmd(&mut c, &format!("AUTH PLAIN {}", plain_b64())).starts_with("235"));
    let mut buf = [0u8; 1];
    assert!(cmd(&mut c, "QUIT").starts_with("221"));
    assert_eq!(c.read(&mut buf).unwrap_or(0), 0);
}
