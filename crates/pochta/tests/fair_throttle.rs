//! Throttling that cannot be turned against an account's owner (issue 17), through the binary
//! with its default throttle: an address that fails again and again against an account is
//! slowed and then refused, while the owner, logging in from another address that has not been
//! failing, gets in at once. Failures used to be counted per account as well, so fifteen wrong
//! passwords from anywhere locked the owner out from everywhere for 15 minutes.
//!
//! Two loopback addresses: the attacker's connections are bound to 127.0.0.2, the owner's to
//! 127.0.0.1 (Linux routes all of 127.0.0.0/8 to the loopback interface).

mod blocking;
mod common;
mod login;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::{TestDir, TestServer, free_ports};
use login::{Proto, Verdict, Way, attempt};

const USER: &str = "owner@example.test";
const PASS: &str = "the owner's password";
const OWNER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
/// More than the default lockout of one address against one account (10) and fewer than
/// the old lockout of the account from everywhere (15).
const GUESSES: usize = 14;

#[test]
fn a_failing_address_is_refused_while_the_owner_logs_in_from_another() {
    let ports = free_ports(3);
    let listeners = vec![
        ("imap", ports[0]),
        ("pop3", ports[1]),
        ("submission", ports[2]),
    ];
    // Room for the attacker's parallel connections under the per-address connection limit.
    let dir = TestDir::new(&listeners, "[limits]\nconnections_per_ip = 100\n");
    dir.add_user(USER, PASS);
    let server = TestServer::start_in(dir, listeners);
    let imap = server.addr("imap");

    // The attacker guesses in parallel (each wrong answer is delayed, up to 15 s).
    let guesses: Vec<_> = (0..GUESSES)
        .map(|i| {
            std::thread::spawn(move || {
                let t = Instant::now();
                let (v, answer) = attempt(
                    Proto::Imap,
                    ATTACKER,
                    imap,
                    Way::Command,
                    USER,
                    &format!("guess{i}"),
                );
                (v, answer, t.elapsed())
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for g in guesses {
        let (v, answer, took) = g.join().unwrap();
        assert!(
            matches!(v, Verdict::Failed | Verdict::Throttled),
            "a guess got {v:?}: {answer}"
        );
        slowest = slowest.max(took);
    }
    // The failing address was slowed down …
    assert!(
        slowest >= Duration::from_secs(1),
        "no guess was delayed: {slowest:?}"
    );
    // … and is now refused for the account, even with the right password, by every protocol.
    for (proto, way) in [
        (Proto::Imap, Way::Command),
        (Proto::Pop3, Way::Command),
        (Proto::Submission, Way::Plain),
    ] {
        let to = server.addr(match proto {
            Proto::Imap => "imap",
            Proto::Pop3 => "pop3",
            Proto::Submission => "submission",
        });
        let (v, answer) = attempt(proto, ATTACKER, to, way, USER, PASS);
        assert_eq!(
            v,
            Verdict::Throttled,
            "{proto:?} from the attacker: {answer}"
        );
        // The owner, from an address that has not been failing, gets in at once.
        let t = Instant::now();
        let (v, answer) = attempt(proto, OWNER, to, way, USER, PASS);
        assert_eq!(v, Verdict::LoggedIn, "{proto:?} from the owner: {answer}");
        eprintln!("{proto:?}: the owner logged in in {:?}", t.elapsed());
    }
}
