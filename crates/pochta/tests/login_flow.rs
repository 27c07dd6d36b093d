//! One login flow (`pochta_auth::Login`) behind every protocol: an account the throttle
//! refuses is refused by every way in that IMAP, POP3 and SMTP submission offer — the
//! plaintext command, SASL PLAIN, LOGIN and SCRAM-SHA-256. IMAP's SCRAM path used to skip the
//! throttle check and logged the client in.
//!
//! The three services are wired as `serve` wires them (one store, one throttle, one cache),
//! over TCP on loopback, with a throttle small enough to trip in a few failures.

mod blocking;
mod login;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use login::{Client, Proto, Verdict, Way, attempt, services};
use pochta_auth::ThrottleConfig;

const USER: &str = "owner@example.test";
const PASS: &str = "right password";
const HERE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Three failures against the account from this address lock it (for this address).
fn small_throttle() -> ThrottleConfig {
    ThrottleConfig {
        free_failures: 1,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
        ip_lockout: 10_000,
        pair_lockout: 3,
        window: Duration::from_secs(600),
        ..ThrottleConfig::default()
    }
}

/// Every way in logs in with the right password; after three wrong passwords every way in
/// is refused as throttled, the right password notwithstanding.
fn throttled_account_is_refused_by_every_way(proto: Proto) {
    let s = services(small_throttle(), USER, PASS);
    let to = s.addr(proto);
    for &way in proto.ways() {
        let (v, answer) = attempt(proto, HERE, to, way, USER, PASS);
        assert_eq!(v, Verdict::LoggedIn, "{proto:?} {way:?} before: {answer}");
    }
    let mut c = Client::connect(proto, HERE, to).unwrap();
    for i in 0..3 {
        let answer = c.login(Way::Plain, USER, "wrong").unwrap();
        assert_eq!(c.verdict(&answer), Verdict::Failed, "failure {i}: {answer}");
    }
    let mut wrong = Vec::new();
    for &way in proto.ways() {
        let (v, answer) = attempt(proto, HERE, to, way, USER, PASS);
        if v != Verdict::Throttled {
            wrong.push(format!("{proto:?} {way:?}: {v:?} ({answer})"));
        }
    }
    assert!(wrong.is_empty(), "not refused as throttled: {wrong:#?}");
}

#[test]
fn imap_refuses_a_throttled_account_by_every_mechanism() {
    throttled_account_is_refused_by_every_way(Proto::Imap);
}

#[test]
fn pop3_refuses_a_throttled_account_by_every_mechanism() {
    throttled_account_is_refused_by_every_way(Proto::Pop3);
}

#[test]
fn submission_refuses_a_throttled_account_by_every_mechanism() {
    throttled_account_is_refused_by_every_way(Proto::Submission);
}
