//! SPF, DKIM and DMARC of inbound mail with DNS records injected into the verifier's
//! authoritative fixture (no real DNS is ever queried).

mod common;

use base64::Engine;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use pochta_smtp::Verifier;

use common::*;

/// A verifier with: SPF for example.net (allows 127.0.0.1), bad.example (does not), a DKIM
/// key for signed.example, and DMARC p=reject for signed.example and bad.example.
fn verifier(dkim_public: &[u8]) -> Verifier {
    let v = Verifier::fixture(HOST);
    v.add_txt("example.net", "v=spf1 ip4:127.0.0.1 -all");
    v.add_txt("bad.example", "v=spf1 ip4:192.0.2.1 -all");
    v.add_txt("signed.example", "v=spf1 -all");
    v.add_txt(
        "s1._domainkey.signed.example",
        &format!(
            "v=DKIM1; k=ed25519; p={}",
            base64::engine::general_purpose::STANDARD.encode(dkim_public)
        ),
    );
    v.add_txt("_dmarc.signed.example", "v=DMARC1; p=reject");
    v.add_txt("_dmarc.bad.example", "v=DMARC1; p=reject");
    v
}

fn key() -> Ed25519Key {
    let pkcs8 = Ed25519Key::generate_pkcs8().expect("generate");
    Ed25519Key::from_pkcs8_der(&pkcs8).expect("key")
}

fn server(dmarc_reject: bool, key: &Ed25519Key) -> Server {
    let mut opts = Options::mta();
    opts.verifier = verifier(&key.public_key());
    opts.config.dmarc_reject = dmarc_reject;
    start(opts)
}

fn auth_results(stored: &[u8]) -> String {
    let text = String::from_utf8_lossy(stored);
    let start = text.find("Authentication-Results: ").expect("A-R header");
    let end = text[start..]
        .find("\r\nFrom:")
        .map_or(text.len(), |e| start + e);
    text[start..end].to_string()
}

#[test]
fn spf_pass_and_fail() {
    let k = key();
    let s = server(false, &k);
    let mut c = Client::ehlo(s.addr);
    let r = c.mail(
        "a@example.net",
        &[USER],
        &message("a@example.net", USER, "spf"),
    );
    assert!(r.starts_with("250"), "{r}");
    let ar = auth_results(&s.inbox(USER)[0]);
    assert!(
        ar.starts_with(&format!("Authentication-Results: {HOST};")),
        "{ar}"
    );
    assert!(ar.contains("spf=pass"), "{ar}");
    assert!(ar.contains("smtp.mailfrom=a@example.net"), "{ar}");
    assert!(ar.contains("dkim=none"), "{ar}");

    let r = c.mail(
        "x@bad.example",
        &[USER],
        &message("x@bad.example", USER, "spf2"),
    );
    assert!(r.starts_with("250"), "recorded only: {r}");
    let ar = auth_results(&s.inbox(USER)[1]);
    assert!(ar.contains("spf=fail"), "{ar}");
    assert!(ar.contains("dmarc=fail"), "{ar}");
    assert!(ar.contains("policy.dmarc=reject"), "{ar}");

    // Unknown domain: no records at all (NXDOMAIN from the fixture).
    let r = c.mail(
        "x@unknown.example",
        &[USER],
        &message("x@unknown.example", USER, "none"),
    );
    assert!(r.starts_with("250"), "{r}");
    let ar = auth_results(&s.inbox(USER)[2]);
    assert!(ar.contains("spf=none"), "{ar}");
}

#[test]
fn dkim_pass_aligns_dmarc() {
    let k = key();
    let s = server(true, &k);
    let body = message("a@signed.example", USER, "dkim");
    let sig = DkimSigner::from_key(k)
        .domain("signed.example")
        .selector("s1")
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .sign(&body)
        .expect("sign");
    let mut signed = sig.to_header().into_bytes();
    signed.extend_from_slice(&body);
    let mut c = Client::ehlo(s.addr);
    // SPF fails for signed.example (-all), but DKIM passes and aligns: DMARC passes.
    let r = c.mail("a@signed.example", &[USER], &signed);
    assert!(r.starts_with("250"), "{r}");
    let stored = &s.inbox(USER)[0];
    let text = String::from_utf8_lossy(stored);
    assert!(text.contains("dkim=pass"), "{text}");
    assert!(text.contains("header.d=signed.example"), "{text}");
    assert!(text.contains("dmarc=pass"), "{text}");
    assert!(stored.ends_with(&signed), "message kept byte for byte");
}

#[test]
fn dmarc_reject_policy_enforced_when_configured() {
    let k = key();
    let s = server(true, &k);
    let mut c = Client::ehlo(s.addr);
    let r = c.mail(
        "x@bad.example",
        &[USER],
        &message("x@bad.example", USER, "rej"),
    );
    assert!(
        r.starts_with("550 5.7.1") && r.contains("bad.example"),
        "{r}"
    );
    assert!(s.inbox(USER).is_empty());
    // A tampered DKIM-signed message fails too.
    let body = message("a@signed.example", USER, "tamper");
    let sig = DkimSigner::from_key(key())
        .domain("signed.example")
        .selector("s1")
        .headers(["From", "Subject"])
        .sign(&body)
        .expect("sign");
    let mut signed = sig.to_header().into_bytes();
    signed.extend_from_slice(&body);
    let r = c.mail("a@signed.example", &[USER], &signed);
    assert!(r.starts_with("550 5.7.1"), "wrong key must fail: {r}");
}
