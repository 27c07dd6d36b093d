//! Login throttling across protocols (`pochta_auth::Throttle`, one per server, shared by
//! IMAP, POP3 and SMTP in `serve.rs`).
//!
//! - Through the binary with its default settings: failed IMAP logins from one address slow
//!   down the next POP3 login failure from that address, and the other way round.
//! - With the services wired as `serve` wires them (`login::services`) but a small throttle: failures spread over
//!   IMAP and POP3 lock the address out of both, even with the right password.
//! - The time a failed login takes does not tell whether the account exists (medians of
//!   interleaved attempts, compared loosely).

mod blocking;
mod common;
mod login;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use blocking::{Imap, Lines};
use common::{TestDir, TestServer, free_ports};
use login::services;
use pochta_auth::ThrottleConfig;

const USER: &str = "real@example.test";
const PASS: &str = "right password";

fn imap_fail(addr: SocketAddr, user: &str) -> (String, Duration) {
    let mut c = Imap::connect(addr).unwrap();
    let t = Instant::now();
    let r = c.cmd(&format!("LOGIN {user} \"wrong\"")).unwrap();
    (r.tagged, t.elapsed())
}

fn pop3_login(addr: SocketAddr, user: &str, pass: &str) -> (String, Duration) {
    let mut p = Lines::connect(addr).unwrap();
    assert!(p.line().unwrap().starts_with("+OK"));
    p.cmd(&format!("USER {user}")).unwrap();
    let t = Instant::now();
    let r = p.cmd(&format!("PASS {pass}")).unwrap();
    (r, t.elapsed())
}

/// Default throttle: 3 free failures, then 1 s, 2 s, … per further failure from the address.
#[test]
fn imap_failures_slow_down_pop3_and_back() {
    let ports = free_ports(2);
    let listeners = vec![("imap", ports[0]), ("pop3", ports[1])];
    let dir = TestDir::new(&listeners, "");
    dir.add_user(USER, PASS);
    let server = TestServer::start_in(dir, listeners);
    let (imap, pop3) = (server.addr("imap"), server.addr("pop3"));
    // Three free failures, each against a different name (so only the address counts).
    // Only lower bounds on time here: a loaded machine makes every answer slower, never
    // faster. That exactly three are free is pinned without a clock by pochta-auth's
    // `delay_grows_exponentially_then_caps` (manual clock); here the fourth and fifth must be
    // slowed by the first and second steps of the schedule.
    for i in 0..3 {
        let (r, _) = imap_fail(imap, &format!("nobody{i}@example.test"));
        assert!(r.contains(" NO "), "{r}");
    }
    // The fourth, over POP3, is delayed: the counter is shared.
    let (r, took) = pop3_login(pop3, "other@example.test", "wrong");
    assert!(r.starts_with("-ERR"), "{r}");
    assert!(
        took >= Duration::from_millis(950),
        "POP3 failure not slowed: {took:?}"
    );
    // The fifth, over IMAP again, waits longer still.
    let (r, took) = imap_fail(imap, "yet-another@example.test");
    assert!(r.contains(" NO "), "{r}");
    assert!(
        took >= Duration::from_millis(1900),
        "IMAP failure not slowed: {took:?}"
    );
}

#[test]
fn failures_over_imap_and_pop3_lock_the_address_out_of_both() {
    let s = services(
        ThrottleConfig {
            free_failures: 1,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
            ip_lockout: 6,
            pair_lockout: 100,
            window: Duration::from_secs(600),
            ..ThrottleConfig::default()
        },
        USER,
        PASS,
    );
    // The right password works before.
    Imap::login(s.imap, USER, PASS).unwrap();
    for i in 0..3 {
        let (r, _) = imap_fail(s.imap, &format!("n{i}@example.test"));
        assert!(r.contains(" NO "), "{r}");
        let (r, _) = pop3_login(s.pop3, &format!("p{i}@example.test"), "wrong");
        assert!(r.starts_with("-ERR"), "{r}");
    }
    // Six failures from this address: the right password is refused over both protocols,
    // and the answer says to come back later rather than that the password is wrong.
    let mut c = Imap::connect(s.imap).unwrap();
    let r = c.cmd(&format!("LOGIN {USER} \"{PASS}\"")).unwrap();
    assert!(r.tagged.contains(" NO "), "{}", r.tagged);
    assert!(
        r.tagged.contains("[UNAVAILABLE]") || r.tagged.contains("try again"),
        "{}",
        r.tagged
    );
    let (r, _) = pop3_login(s.pop3, USER, PASS);
    assert!(r.starts_with("-ERR [SYS/TEMP]"), "{r}");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A wrong password for an existing account and any password for a missing one cost the same
/// (an Argon2id verification against a dummy hash), over IMAP and POP3.
#[test]
fn failed_login_timing_does_not_reveal_whether_the_account_exists() {
    let s = services(
        ThrottleConfig {
            free_failures: 10_000,
            ip_lockout: 10_000,
            pair_lockout: 10_000,
            ..ThrottleConfig::default()
        },
        USER,
        PASS,
    );
    let (mut real, mut missing) = (Vec::new(), Vec::new());
    for i in 0..7 {
        real.push(imap_fail(s.imap, USER).1);
        missing.push(imap_fail(s.imap, &format!("ghost{i}@example.test")).1);
        real.push(pop3_login(s.pop3, USER, "wrong").1);
        missing.push(pop3_login(s.pop3, &format!("ghost{i}@example.test"), "wrong").1);
    }
    let (r, m) = (median(real), median(missing));
    let ratio = r.as_secs_f64() / m.as_secs_f64();
    assert!(
        (0.5..2.0).contains(&ratio),
        "existing {r:?} vs missing {m:?} (ratio {ratio:.2})"
    );
    // Not a vacuous comparison: both actually did the expensive verification.
    assert!(m > Duration::from_millis(1), "{m:?}");
}
