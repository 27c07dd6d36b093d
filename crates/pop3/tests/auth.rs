//! Logging in: USER/PASS, SASL (PLAIN with and without initial response, LOGIN, cancel),
//! the plaintext policy, STLS, throttling.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use pochta_auth::ThrottleConfig;
use pochta_pop3::PlaintextPolicy;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

fn plain(user: &str, pw: &str) -> String {
    B64.encode(format!("\0{user}\0{pw}"))
}

#[test]
fn user_pass_wrong_password_and_unknown_user() {
    let s = start();
    let mut c = Client::connect(s.addr);
    c.ok(&format!("USER {USER}"));
    assert_eq!(c.err("PASS wrong"), "-ERR [AUTH] Authentication failed");
    c.ok("USER nobody@example.org");
    assert_eq!(
        c.err(&format!("PASS {PASSWORD}")),
        "-ERR [AUTH] Authentication failed"
    );
    c.ok("USER not-an-address");
    c.err(&format!("PASS {PASSWORD}"));
    // A password with spaces (the rest of the line) works.
    c.ok(&format!("USER {USER}"));
    assert!(
        c.ok(&format!("PASS {PASSWORD}"))
            .contains("maildrop locked")
    );
}

#[test]
fn sasl_plain_with_and_without_initial_response_and_login() {
    let s = start();
    let mut c = Client::connect(s.addr);
    assert!(
        c.ok(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)))
            .contains("locked")
    );
    c.ok("QUIT");

    let mut c = Client::connect(s.addr);
    assert_eq!(c.cmd("AUTH PLAIN"), "+ ");
    assert!(c.ok(&plain(USER, PASSWORD)).contains("locked"));
    c.ok("QUIT");

    let mut c = Client::connect(s.addr);
    assert_eq!(
        c.cmd("AUTH LOGIN"),
        format!("+ {}", B64.encode("Username:"))
    );
    assert_eq!(
        c.cmd(&B64.encode(USER)),
        format!("+ {}", B64.encode("Password:"))
    );
    c.ok(&B64.encode(PASSWORD));
    c.ok("QUIT");

    // Wrong password, cancel, garbage, unknown mechanism: -ERR and the session goes on.
    let mut c = Client::connect(s.addr);
    assert_eq!(
        c.err(&format!("AUTH PLAIN {}", plain(USER, "nope"))),
        "-ERR [AUTH] Authentication failed"
    );
    assert_eq!(c.cmd("AUTH PLAIN"), "+ ");
    assert!(c.err("*").contains("cancelled"));
    assert_eq!(c.cmd("AUTH PLAIN"), "+ ");
    assert!(c.err("!!!notbase64").contains("not base64"));
    assert!(
        c.err("AUTH CRAM-MD5")
            .contains("Unsupported SASL mechanism")
    );
    assert!(c.err("AUTH PLAIN %%%").contains("not base64"));
    // Bare AUTH lists the mechanisms.
    assert_eq!(c.multi("AUTH"), vec!["SCRAM-SHA-256", "PLAIN", "LOGIN"]);
    // "=" is an empty initial response (RFC 5034 §4): PLAIN rejects it as malformed.
    assert!(c.err("AUTH PLAIN =").contains("Malformed"));
    c.ok(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)));
}

#[test]
fn plaintext_refused_without_tls_then_stls_allows_it() {
    let s = start_with(Options {
        plaintext: PlaintextPolicy::TlsOnly,
        ..Options::default()
    });
    s.append(USER, &[&message("secret", 2)]);
    let mut c = Client::connect(s.addr);
    let caps = c.multi("CAPA");
    assert!(caps.contains(&"STLS".to_owned()), "{caps:?}");
    assert!(!caps.contains(&"USER".to_owned()), "{caps:?}");
    assert!(caps.contains(&"SASL SCRAM-SHA-256".to_owned()), "{caps:?}");
    let r = c.err(&format!("USER {USER}"));
    assert!(
        r.starts_with("-ERR [AUTH] Plaintext authentication is disabled") && r.contains("STLS"),
        "{r}"
    );
    let r = c.err(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)));
    assert!(r.starts_with("-ERR [AUTH]") && r.contains("STLS"), "{r}");
    assert!(c.err("AUTH LOGIN").starts_with("-ERR [AUTH]"));

    // STLS with pipelined plaintext after it: the pipelined QUIT must not run.
    c.send(b"STLS\r\nQUIT\r\n");
    assert_eq!(c.line(), "+OK Begin TLS negotiation");
    assert!(c.r.buffer().is_empty());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(s.dir.path().join("cert.pem")).expect("pem") {
        roots.add(cert.expect("cert")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().expect("name"))
            .expect("client");
    let tcp = c.w.try_clone().expect("clone");
    let mut tls = BufReader::new(rustls::StreamOwned::new(conn, tcp));
    let mut cmd = |line: &str| -> String {
        tls.get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("write");
        let mut r = String::new();
        tls.read_line(&mut r).expect("read");
        r
    };
    // Had the QUIT run, its answer would come first and the connection would then close.
    let r = cmd("CAPA");
    assert!(
        r.starts_with("+OK") && !r.contains("signing off"),
        "the QUIT pipelined after STLS ran: {r}"
    );
    let mut caps = Vec::new();
    loop {
        let mut l = String::new();
        let n = tls.read_line(&mut l).expect("read");
        assert!(n > 0, "connection closed in the CAPA answer");
        if l == ".\r\n" {
            break;
        }
        caps.push(l);
    }
    let mut cmd = |line: &str| -> String {
        tls.get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("write");
        let mut r = String::new();
        tls.read_line(&mut r).expect("read");
        r
    };
    assert!(!caps.iter().any(|l| l == "STLS\r\n"), "{caps:?}");
    assert!(caps.iter().any(|l| l == "USER\r\n"), "{caps:?}");
    assert!(cmd("STLS").starts_with("-ERR"));
    assert!(cmd(&format!("USER {USER}")).starts_with("+OK"));
    assert!(cmd(&format!("PASS {PASSWORD}")).starts_with("+OK maildrop locked"));
    assert!(cmd("STAT").starts_with("+OK 1 "));
    assert!(cmd("QUIT").starts_with("+OK"));
}

#[test]
fn failed_logins_are_throttled() {
    let s = start_with(Options {
        throttle: ThrottleConfig {
            free_failures: 1,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
            ip_lockout: 100,
            pair_lockout: 3,
            window: Duration::from_secs(600),
            ..ThrottleConfig::default()
        },
        ..Options::default()
    });
    let mut c = Client::connect(s.addr);
    for _ in 0..3 {
        c.ok(&format!("USER {USER}"));
        assert!(c.err("PASS wrong").starts_with("-ERR [AUTH]"));
    }
    // Locked out: even the right password is refused, with a temporary code.
    c.ok(&format!("USER {USER}"));
    let r = c.err(&format!("PASS {PASSWORD}"));
    assert!(
        r.starts_with("-ERR [SYS/TEMP] Too many failed logins"),
        "{r}"
    );
    // Another account from the same address is not locked yet.
    c.ok(&format!("USER {OTHER}"));
    c.ok(&format!("PASS {PASSWORD}"));
}

#[test]
fn stls_not_offered_twice_or_after_login() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    assert!(c.err("STLS").contains("not allowed after login"));
    let caps = c.multi("CAPA");
    assert!(!caps.contains(&"STLS".to_owned()));
}

/// SCRAM-SHA-256 (RFC 7677) through POP3 AUTH: the server-first message carries our nonce,
/// a salt and an iteration count; a wrong proof is `-ERR [AUTH]` and the session goes on.
#[test]
fn sasl_scram_exchange_and_wrong_proof() {
    let s = start();
    let mut c = Client::connect(s.addr);
    let client_first = format!("n,,n={USER},r=clientnonce123");
    let r = c.cmd(&format!("AUTH SCRAM-SHA-256 {}", B64.encode(&client_first)));
    let server_first = r.strip_prefix("+ ").expect("challenge");
    let server_first = String::from_utf8(B64.decode(server_first).expect("b64")).expect("utf8");
    assert!(
        server_first.starts_with("r=clientnonce123"),
        "{server_first}"
    );
    assert!(
        server_first.contains(",s=") && server_first.contains(",i="),
        "{server_first}"
    );
    let nonce = server_first
        .split(',')
        .next()
        .and_then(|r| r.strip_prefix("r="))
        .expect("nonce");
    let proof = B64.encode([0u8; 32]);
    let client_final = format!("c=biws,r={nonce},p={proof}");
    assert_eq!(
        c.err(&B64.encode(client_final)),
        "-ERR [AUTH] Authentication failed"
    );
    c.ok(&format!("AUTH PLAIN {}", plain(USER, PASSWORD)));
}
