//! Submission (RFC 6409) over TCP: AUTH, plaintext policy, sender checks, added headers,
//! remote recipients, Sent copy.

mod common;

use pochta_auth::PlaintextPolicy;
use pochta_smtp::Kind;

use common::*;

#[test]
fn auth_required_and_advertised() {
    let s = start_submission();
    let mut c = Client::connect(s.addr);
    let r = c.cmd("EHLO client");
    assert!(r.contains("250-AUTH SCRAM-SHA-256 PLAIN LOGIN"), "{r}");
    c.expect("MAIL FROM:<user@example.org>", "530 5.7.0");
    c.expect("AUTH PLAIN", "334");
    c.expect(&plain(USER, "wrong"), "535 5.7.8");
    c.expect(
        &format!("AUTH PLAIN {}", plain(USER, PASSWORD)),
        "235 2.7.0",
    );
    c.expect(
        &format!("AUTH PLAIN {}", plain(USER, PASSWORD)),
        "503 5.5.1",
    );
    let r = c.cmd("EHLO client");
    assert!(!r.contains("AUTH"), "no AUTH once authenticated: {r}");
}

#[test]
fn auth_login_and_cancel() {
    let s = start_submission();
    let mut c = Client::ehlo(s.addr);
    c.expect("AUTH CRAM-MD5", "504 5.5.4");
    c.expect("AUTH LOGIN", "334 VXNlcm5hbWU6");
    c.expect("*", "501 5.0.0");
    c.expect("AUTH LOGIN", "334 VXNlcm5hbWU6");
    c.expect(&b64(USER), "334 UGFzc3dvcmQ6");
    c.expect(&b64(PASSWORD), "235 2.7.0");
    let r = c.mail(USER, &[OTHER], &message(USER, OTHER, "login"));
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let stored = &s.inbox(OTHER)[0];
    assert!(
        has(stored, "with ESMTPA id"),
        "{}",
        String::from_utf8_lossy(stored)
    );
}

#[test]
fn plaintext_auth_refused_without_tls() {
    let mut opts = Options::submission();
    opts.config.plaintext = PlaintextPolicy::TlsOnly;
    let s = start(opts);
    let mut c = Client::connect(s.addr);
    let r = c.cmd("EHLO client");
    assert!(r.contains("250-AUTH SCRAM-SHA-256\n"), "{r}");
    assert!(!r.contains("PLAIN"), "{r}");
    c.expect(
        &format!("AUTH PLAIN {}", plain(USER, PASSWORD)),
        "538 5.7.11",
    );
    c.expect("AUTH LOGIN", "538 5.7.11");
}

#[test]
fn sender_must_belong_to_the_account() {
    let s = start_submission();
    let mut c = Client::auth(s.addr, USER);
    c.expect("MAIL FROM:<other@example.org>", "553 5.7.1");
    c.expect("MAIL FROM:<>", "553 5.7.1");
    c.expect("MAIL FROM:<anyone@catchall.example>", "553 5.7.1");
    // An alias of the account is fine, in any case.
    c.expect("MAIL FROM:<Sales@example.org>", "250 2.1.0");
    c.expect("RCPT TO:<other@example.org>", "250");
    c.expect("DATA", "354");
    // ...but the From: header must belong to the account too.
    c.send(&dot_stuff(&message(OTHER, OTHER, "spoof")));
    c.send(b".\r\n");
    let r = c.reply();
    assert!(r.starts_with("553 5.7.1"), "{r}");
    assert!(s.inbox(OTHER).is_empty());
    let r = c.mail(
        USER,
        &[OTHER],
        &message("sales@example.org", OTHER, "alias-from"),
    );
    assert!(r.starts_with("250"), "{r}");
}

#[test]
fn adds_message_id_and_date() {
    let s = start_submission();
    let mut c = Client::auth(s.addr, USER);
    let msg = b"From: user@example.org\r\nTo: other@example.org\r\nSubject: bare\r\n\r\nbody\r\n";
    let r = c.mail(USER, &[OTHER], msg);
    assert!(r.starts_with("250"), "{r}");
    let stored = &s.inbox(OTHER)[0];
    assert!(
        has(stored, "\r\nDate: "),
        "{}",
        String::from_utf8_lossy(stored)
    );
    assert!(
        has(stored, "\r\nMessage-ID: <"),
        "{}",
        String::from_utf8_lossy(stored)
    );
    assert!(stored.ends_with(msg));
    // A message that has both keeps them, byte for byte.
    let msg = message(USER, OTHER, "full");
    c.mail(USER, &[OTHER], &msg);
    let stored = &s.inbox(OTHER)[1];
    assert_eq!(strip_trace(stored, "From: Sender"), msg);
    assert_eq!(
        String::from_utf8_lossy(stored)
            .matches("Message-ID:")
            .count(),
        1
    );
}

#[test]
fn remote_recipients_without_queue_are_refused() {
    let s = start_submission();
    let mut c = Client::auth(s.addr, USER);
    c.expect("MAIL FROM:<user@example.org>", "250");
    let r = c.cmd("RCPT TO:<friend@elsewhere.example>");
    assert!(
        r.starts_with("451 4.3.0") && r.contains("outbound delivery is not configured"),
        "{r}"
    );
    c.expect("RCPT TO:<other@example.org>", "250");
}

#[test]
fn remote_recipients_go_to_the_queue() {
    let mut opts = Options::submission();
    opts.with_queue = true;
    let s = start(opts);
    let mut c = Client::auth(s.addr, USER);
    c.expect("MAIL FROM:<user@example.org> RET=HDRS ENVID=e1", "250");
    c.expect("RCPT TO:<friend@elsewhere.example> NOTIFY=FAILURE", "250");
    c.expect("RCPT TO:<other@example.org>", "250");
    c.expect("DATA", "354");
    let msg = message(USER, "friend@elsewhere.example", "out");
    c.send(&dot_stuff(&msg));
    c.send(b".\r\n");
    assert!(c.reply().starts_with("250 2.0.0"));
    let q = s.queue.items.lock().unwrap();
    assert_eq!(q.len(), 1);
    let (env, bytes) = &q[0];
    assert_eq!(env.recipients.len(), 1);
    assert_eq!(
        env.recipients[0].address.to_string(),
        "friend@elsewhere.example"
    );
    // RET, NOTIFY and ORCPT are followed to the next hop through the binary:
    // crates/pochta/tests/queue.rs `dsn_parameters_reach_the_next_hop`.
    assert_eq!(env.envid.as_deref(), Some("e1"));
    assert!(
        bytes.starts_with(b"Received: "),
        "no Return-Path on queued mail"
    );
    assert!(bytes.ends_with(&msg));
    assert_eq!(s.inbox(OTHER).len(), 1);
}

#[test]
fn sent_copy_when_configured() {
    let mut opts = Options::submission();
    opts.config.save_sent = true;
    let s = start(opts);
    let mut c = Client::auth(s.addr, USER);
    c.mail(USER, &[OTHER], &message(USER, OTHER, "keep"));
    assert_eq!(s.messages_in(USER, "Sent").len(), 1);
    assert_eq!(s.inbox(OTHER).len(), 1);
}

#[test]
fn scram_sha256_auth() {
    let s = start_submission();
    let mut c = Client::ehlo(s.addr);
    // RFC 5802 client side, by hand.
    let cnonce = "rOprNGfwEbeRWgbNEkqO";
    let first_bare = format!("n={USER},r={cnonce}");
    let r = c.cmd(&format!(
        "AUTH SCRAM-SHA-256 {}",
        b64(&format!("n,,{first_bare}"))
    ));
    assert!(r.starts_with("334 "), "{r}");
    let server_first = String::from_utf8(decode(&r[4..])).unwrap();
    let mut nonce = "";
    let mut salt = Vec::new();
    let mut iters = 0u32;
    for part in server_first.split(',') {
        match part.split_at(2) {
            ("r=", v) => nonce = v,
            ("s=", v) => salt = decode(v),
            ("i=", v) => iters = v.parse().unwrap(),
            _ => {}
        }
    }
    let without_proof = format!("c=biws,r={nonce}");
    let auth_message = format!("{first_bare},{server_first},{without_proof}");
    let proof = client_proof(PASSWORD, &salt, iters, &auth_message);
    let r = c.cmd(&b64_bytes(
        &format!("{without_proof},p={proof}").into_bytes(),
    ));
    assert!(r.starts_with("334 "), "{r}");
    assert!(
        String::from_utf8(decode(&r[4..]))
            .unwrap()
            .starts_with("v=")
    );
    c.expect("", "235 2.7.0");
}

fn decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .unwrap()
}

fn b64_bytes(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn client_proof(password: &str, salt: &[u8], iters: u32, auth_message: &str) -> String {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iters, &mut salted);
    let mut m = Hmac::<Sha256>::new_from_slice(&salted).unwrap();
    m.update(b"Client Key");
    let client_key = m.finalize().into_bytes();
    let stored_key = Sha256::digest(client_key);
    let mut m = Hmac::<Sha256>::new_from_slice(&stored_key).unwrap();
    m.update(auth_message.as_bytes());
    let sig = m.finalize().into_bytes();
    let proof: Vec<u8> = client_key
        .iter()
        .zip(sig.iter())
        .map(|(a, b)| a ^ b)
        .collect();
    b64_bytes(&proof)
}

#[test]
fn auth_not_on_the_mta() {
    let mut opts = Options::mta();
    opts.kind = Kind::Mta;
    let s = start(opts);
    let mut c = Client::ehlo(s.addr);
    c.expect(
        &format!("AUTH PLAIN {}", plain(USER, PASSWORD)),
        "502 5.5.1",
    );
}
