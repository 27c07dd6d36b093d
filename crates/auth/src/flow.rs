//! The one login flow of every protocol: throttle check → mechanism → accounting.
//!
//! Implementation notes:
//! - IMAP (LOGIN, AUTHENTICATE), POP3 (USER/PASS, AUTH) and SMTP submission (AUTH) all log in
//!   through [`Login`]. The session hands it the client's bytes as they arrive — the mechanism
//!   name, the initial response and each continuation line, still base64 — and only maps the
//!   [`Outcome`] to its own reply and delay. Sessions never call the throttle, the cache or a
//!   SASL mechanism themselves, so the protocols cannot drift apart again (they had: IMAP's
//!   SCRAM path skipped the throttle check the POP3 and SMTP paths made).
//! - The framing the three protocols share (RFC 4422 §3.5, RFC 4959 §3, RFC 4954 §4,
//!   RFC 5034 §4): a continuation line of `*` cancels, an initial response of `=` is empty,
//!   everything else is base64. Challenges come back base64-encoded; the session prefixes them
//!   with its own continuation (`+ `, `334 `).
//! - The throttle is asked as soon as the account name is known and before anything is
//!   verified: at the password for PLAIN, LOGIN and the plaintext commands, at the
//!   client-first message for SCRAM-SHA-256. A refused attempt is not verified at all.
//! - Accounting is in one place: [`succeeded`] clears the throttle's counter for the pair,
//!   [`failed`] charges the failure to the address and the account as the client named it
//!   (also for SCRAM and LOGIN when the exchange broke off after the name), logs it (one
//!   `event=auth_failed` line at `info`, [`pochta_types::event`]) and returns the delay to
//!   wait before answering. A throttled refusal is logged the same way. Malformed exchanges and
//!   cancellations are answered as syntax errors and not charged.
//! - Verification goes through the shared [`AuthCache`] (which keeps the Argon2 concurrency
//!   bound of [`crate::password`]); an unknown account verifies against a dummy hash, so timing
//!   does not reveal which accounts exist.
//! - Sans-IO: the account lookup is the caller's ([`Accounts`]); with the cargo feature
//!   `store`, any `pochta_store::MailStore` is one (`directory.rs`).

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use pochta_types::event::Event;

use crate::{
    AuthCache, Mechanism, SaslError, SaslServer, SaslStep, ScramSecrets, Throttle, Verdict,
};

/// The protocol a login comes through (named in logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Imap,
    Pop3,
    Smtp,
    /// HTTP Basic (CardDAV).
    Http,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
            Protocol::Smtp => "smtp",
            Protocol::Http => "http",
        }
    }
}

/// How the client logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// A SASL mechanism with credentials.
    Sasl(Mechanism),
    /// SASL ANONYMOUS (RFC 4505), where the protocol offers it.
    Anonymous,
    /// The protocol's own plaintext command: IMAP `LOGIN`, POP3 `USER`/`PASS`.
    Password,
}

impl Method {
    /// The name in logs: the SASL name, or `PASSWORD` for the plaintext commands.
    pub fn name(self) -> &'static str {
        match self {
            Method::Sasl(m) => m.name(),
            Method::Anonymous => "ANONYMOUS",
            Method::Password => "PASSWORD",
        }
    }
}

/// An account's stored credentials, as the flow needs them.
#[derive(Debug, Clone, Copy)]
pub struct Credentials<'a> {
    /// Argon2id PHC string.
    pub password_hash: &'a str,
    /// SCRAM-SHA-256 secrets in [`ScramSecrets`]' encoding, if set.
    pub scram_sha256: Option<&'a str>,
}

/// The session's account directory.
pub trait Accounts {
    type Account;
    type Error;
    /// The account called `name` as the client gave it (`None`: no such account).
    fn find(&self, name: &str) -> Result<Option<Self::Account>, Self::Error>;
    fn credentials(account: &Self::Account) -> Credentials<'_>;
}

/// What one login attempt needs from the server and the connection.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    pub protocol: Protocol,
    pub peer: IpAddr,
    /// Whether a password may cross this connection ([`crate::PlaintextPolicy::allows`]).
    pub plaintext: bool,
    /// Whether ANONYMOUS is offered here.
    pub anonymous: bool,
    pub throttle: &'a Throttle,
    pub cache: &'a AuthCache,
}

/// The least a failed login waits before its answer (RFC 1939 §8's advice, for every protocol).
pub const MIN_FAILURE_DELAY: Duration = Duration::from_millis(200);
/// How long a refused (throttled) attempt waits before its answer.
pub const THROTTLED_DELAY: Duration = Duration::from_secs(1);

/// What the session answers.
pub enum Outcome<A, E> {
    /// Send `challenge` (base64) as the protocol's continuation and feed the client's next
    /// line to `next`'s [`Login::line`].
    Challenge { challenge: String, next: Login<A> },
    /// Logged in.
    LoggedIn(A),
    /// ANONYMOUS with this trace (RFC 4505 §3; not yet checked for control characters); the
    /// protocol applies its own pacing of anonymous logins.
    Anonymous(String),
    /// Wrong credentials (IMAP `[AUTHENTICATIONFAILED]`, POP3 `[AUTH]`, SMTP `535 5.7.8`),
    /// answered after `delay` (the throttle's, at least [`MIN_FAILURE_DELAY`]).
    Failed { delay: Duration },
    /// Refused without verifying: too many failures (IMAP `[UNAVAILABLE]`, POP3 `[SYS/TEMP]`,
    /// SMTP `454 4.7.0`); may try again in `retry_after`.
    Throttled { retry_after: Duration },
    /// The mechanism sends the password and this connection may not carry one in the clear.
    PlaintextRefused,
    /// No such mechanism here.
    Unsupported,
    /// The initial response or a continuation line is not base64.
    NotBase64,
    /// A malformed SASL message; the exchange is over.
    Malformed(&'static str),
    /// The client sent `*`.
    Cancelled,
    /// The account lookup failed.
    Store(E),
}

impl<A, E> Outcome<A, E> {
    /// How long the session waits before writing its answer: a client that saw a failure at
    /// once could hang up and guess again on a new connection without ever waiting.
    pub fn delay(&self) -> Option<Duration> {
        match self {
            Outcome::Failed { delay } => Some(*delay),
            Outcome::Throttled { .. } => Some(THROTTLED_DELAY),
            _ => None,
        }
    }
}

/// A login in progress: kept by the session between a challenge and the client's answer.
pub struct Login<A> {
    method: Method,
    /// `None`: waiting for an ANONYMOUS trace.
    sasl: Option<SaslServer>,
    /// The account SCRAM looked up, until its proof checks out.
    account: Option<A>,
}

impl<A> Login<A> {
    /// IMAP `LOGIN` and POP3 `USER`/`PASS`: a name and a password in the clear. With
    /// ANONYMOUS offered, the name `anonymous` logs in anonymously with the password as trace.
    pub fn password<X: Accounts<Account = A>>(
        cx: &Context,
        accounts: &X,
        user: &str,
        password: &str,
    ) -> Outcome<A, X::Error> {
        if cx.anonymous && user.eq_ignore_ascii_case("anonymous") {
            // The password is a trace (conventionally an email address), not a secret.
            return Outcome::Anonymous(password.to_string());
        }
        if !cx.plaintext {
            return Outcome::PlaintextRefused;
        }
        verify_password(cx, accounts, Method::Password, user, password)
    }

    /// IMAP `AUTHENTICATE`, POP3 and SMTP `AUTH`: the mechanism as the client named it and
    /// its initial response as sent (base64, `=` for an empty one), if any.
    pub fn authenticate<X: Accounts<Account = A>>(
        cx: &Context,
        accounts: &X,
        mechanism: &str,
        initial: Option<&[u8]>,
    ) -> Outcome<A, X::Error> {
        let method = if cx.anonymous && mechanism.eq_ignore_ascii_case("ANONYMOUS") {
            Method::Anonymous
        } else {
            match Mechanism::parse(mechanism) {
                Some(m) => Method::Sasl(m),
                None => return Outcome::Unsupported,
            }
        };
        if let Method::Sasl(m) = method
            && m.sends_password()
            && !cx.plaintext
        {
            return Outcome::PlaintextRefused;
        }
        let initial = match initial {
            None => None,
            Some(b"=") => Some(Vec::new()),
            Some(b64) => match B64.decode(b64) {
                Ok(bytes) => Some(bytes),
                Err(_) => return Outcome::NotBase64,
            },
        };
        match method {
            Method::Sasl(m) => {
                let mut sasl = SaslServer::new(m);
                let step = sasl.start(initial.as_deref());
                Login::new(method, Some(sasl)).advance(cx, accounts, step)
            }
            // RFC 4505 §2: one message from the client, the (optional) trace.
            _ => match initial {
                Some(trace) => anonymous_trace(&trace),
                None => Outcome::Challenge {
                    challenge: String::new(),
                    next: Login::new(method, None),
                },
            },
        }
    }

    fn new(method: Method, sasl: Option<SaslServer>) -> Self {
        Login {
            method,
            sasl,
            account: None,
        }
    }

    /// The client's answer to a challenge: one line without its line ending.
    pub fn line<X: Accounts<Account = A>>(
        mut self,
        cx: &Context,
        accounts: &X,
        line: &[u8],
    ) -> Outcome<A, X::Error> {
        if line == b"*" {
            return Outcome::Cancelled;
        }
        let Ok(bytes) = B64.decode(line) else {
            return Outcome::NotBase64;
        };
        match self.sasl.take() {
            None => anonymous_trace(&bytes),
            Some(mut sasl) => {
                let step = sasl.step(&bytes);
                self.sasl = Some(sasl);
                self.advance(cx, accounts, step)
            }
        }
    }

    fn advance<X: Accounts<Account = A>>(
        mut self,
        cx: &Context,
        accounts: &X,
        step: Result<SaslStep, SaslError>,
    ) -> Outcome<A, X::Error> {
        match step {
            Ok(SaslStep::Challenge(c)) => Outcome::Challenge {
                challenge: B64.encode(c),
                next: self,
            },
            Ok(SaslStep::VerifyPassword { authcid, password }) => {
                verify_password(cx, accounts, self.method, &authcid, password.expose())
            }
            Ok(SaslStep::LookupScram { authcid }) => {
                if let Some(refused) = throttled(cx, self.method, &authcid) {
                    return refused;
                }
                let account = match accounts.find(&authcid) {
                    Ok(a) => a,
                    Err(e) => return Outcome::Store(e),
                };
                let secrets = account
                    .as_ref()
                    .and_then(|a| X::credentials(a).scram_sha256)
                    .and_then(|s| s.parse::<ScramSecrets>().ok());
                let Some(sasl) = self.sasl.as_mut() else {
                    return failed(cx, self.method, &authcid);
                };
                let step = sasl.scram_secrets(secrets.as_ref());
                self.account = account;
                self.advance(cx, accounts, step)
            }
            Ok(SaslStep::Success { authcid }) => match self.account.take() {
                Some(account) => succeeded(cx, self.method, &authcid, account),
                None => failed(cx, self.method, &authcid),
            },
            Err(SaslError::Malformed(m)) => Outcome::Malformed(m),
            Err(_) => {
                let name = self
                    .sasl
                    .as_ref()
                    .and_then(|s| s.authcid())
                    .unwrap_or("")
                    .to_string();
                failed(cx, self.method, &name)
            }
        }
    }
}

/// RFC 4505 §3: the trace is UTF-8 of at most 255 characters.
fn anonymous_trace<A, E>(trace: &[u8]) -> Outcome<A, E> {
    match std::str::from_utf8(trace) {
        Ok(t) if t.chars().count() <= 255 => Outcome::Anonymous(t.to_string()),
        _ => Outcome::Malformed(
            "an ANONYMOUS trace is UTF-8 of at most 255 characters (RFC 4505 section 3)",
        ),
    }
}

fn verify_password<X: Accounts>(
    cx: &Context,
    accounts: &X,
    method: Method,
    user: &str,
    password: &str,
) -> Outcome<X::Account, X::Error> {
    if let Some(refused) = throttled(cx, method, user) {
        return refused;
    }
    let account = match accounts.find(user) {
        Ok(a) => a,
        Err(e) => return Outcome::Store(e),
    };
    let phc = account.as_ref().map(|a| X::credentials(a).password_hash);
    let verified = cx.cache.verify(phc, password);
    match account {
        Some(account) if verified => {
            cx.cache.remember_login(user, password);
            succeeded(cx, method, user, account)
        }
        _ => failed(cx, method, user),
    }
}

/// The throttle's verdict for `user` from this peer, as the refusal to answer if any.
fn throttled<A, E>(cx: &Context, method: Method, user: &str) -> Option<Outcome<A, E>> {
    match cx.throttle.check(cx.peer, Some(user)) {
        Verdict::Allow => None,
        Verdict::Locked(retry_after) => {
            log_failure(cx, method, user, "throttled");
            Some(Outcome::Throttled { retry_after })
        }
    }
}

fn succeeded<A, E>(cx: &Context, method: Method, user: &str, account: A) -> Outcome<A, E> {
    cx.throttle.success(cx.peer, user);
    pochta_metrics::login(cx.protocol.name(), method.name(), "ok");
    Outcome::LoggedIn(account)
}

fn failed<A, E>(cx: &Context, method: Method, user: &str) -> Outcome<A, E> {
    let delay = cx.throttle.failure(cx.peer, user);
    log_failure(cx, method, user, "credentials");
    Outcome::Failed {
        delay: delay.max(MIN_FAILURE_DELAY),
    }
}

/// The one log line of a failed login, at `info` (format in `pochta_types::event` and the
/// README): `reason=credentials` for wrong credentials, `reason=throttled` for a refusal
/// without verifying.
fn log_failure(cx: &Context, method: Method, user: &str, reason: &'static str) {
    pochta_metrics::login(cx.protocol.name(), method.name(), reason);
    let e = Event::new("auth_failed")
        .field("proto", cx.protocol.name())
        .field("mech", method.name())
        .remote(cx.peer)
        .given("user", user)
        .field("reason", reason);
    tracing::info!(target: "pochta::event", "{e}");
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;

    use super::*;
    use crate::{ManualClock, ThrottleConfig};

    /// Accounts in memory: name, PHC, SCRAM secrets.
    struct Acct(String, String, String);

    struct Dir(Vec<(String, String, String)>);

    impl Accounts for Dir {
        type Account = Acct;
        type Error = ();
        fn find(&self, name: &str) -> Result<Option<Acct>, ()> {
            Ok(self
                .0
                .iter()
                .find(|(n, ..)| n == name)
                .map(|(n, p, s)| Acct(n.clone(), p.clone(), s.clone())))
        }
        fn credentials(a: &Acct) -> Credentials<'_> {
            Credentials {
                password_hash: &a.1,
                scram_sha256: Some(&a.2),
            }
        }
    }

    fn dir() -> Dir {
        let phc = crate::hash_password("pw").unwrap();
        let scram = ScramSecrets::derive("pw").encode();
        Dir(vec![("u@x".into(), phc, scram)])
    }

    fn cx<'a>(t: &'a Throttle, c: &'a AuthCache, plaintext: bool, anonymous: bool) -> Context<'a> {
        Context {
            protocol: Protocol::Imap,
            peer: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            plaintext,
            anonymous,
            throttle: t,
            cache: c,
        }
    }

    fn throttle(pair_lockout: u32) -> Throttle {
        Throttle::with_clock(
            ThrottleConfig {
                pair_lockout,
                ..ThrottleConfig::default()
            },
            Arc::new(ManualClock::default()),
        )
    }

    #[test]
    fn plain_with_initial_response_and_cancel_and_framing() {
        let (t, c, d) = (throttle(10), AuthCache::default(), dir());
        let cx = cx(&t, &c, true, false);
        let ir = B64.encode("\0u@x\0pw");
        assert!(matches!(
            Login::authenticate(&cx, &d, "plain", Some(ir.as_bytes())),
            Outcome::LoggedIn(Acct(n, ..)) if n == "u@x"
        ));
        // `=` is an empty initial response: PLAIN then has nothing to parse.
        assert!(matches!(
            Login::authenticate(&cx, &d, "PLAIN", Some(b"=")),
            Outcome::Malformed(_)
        ));
        let Outcome::Challenge { challenge, next } = Login::authenticate(&cx, &d, "PLAIN", None)
        else {
            panic!("PLAIN without initial response asks for it");
        };
        assert_eq!(challenge, "");
        assert!(matches!(next.line(&cx, &d, b"*"), Outcome::Cancelled));
        assert!(matches!(
            Login::authenticate(&cx, &d, "PLAIN", Some(b"%%")),
            Outcome::NotBase64
        ));
        assert!(matches!(
            Login::authenticate(&cx, &d, "CRAM-MD5", None),
            Outcome::Unsupported
        ));
    }

    #[test]
    fn plaintext_policy_and_anonymous_only_where_offered() {
        let (t, c, d) = (throttle(10), AuthCache::default(), dir());
        let closed = cx(&t, &c, false, false);
        assert!(matches!(
            Login::authenticate(&closed, &d, "LOGIN", None),
            Outcome::PlaintextRefused
        ));
        assert!(matches!(
            Login::password(&closed, &d, "u@x", "pw"),
            Outcome::PlaintextRefused
        ));
        // SCRAM does not send the password: allowed.
        assert!(matches!(
            Login::authenticate(&closed, &d, "SCRAM-SHA-256", None),
            Outcome::Challenge { .. }
        ));
        assert!(matches!(
            Login::authenticate(&closed, &d, "ANONYMOUS", Some(b"=")),
            Outcome::Unsupported
        ));
        let anon = cx(&t, &c, false, true);
        assert!(matches!(
            Login::authenticate(&anon, &d, "ANONYMOUS", Some(B64.encode("me").as_bytes())),
            Outcome::Anonymous(trace) if trace == "me"
        ));
        assert!(matches!(
            Login::password(&anon, &d, "Anonymous", "trace"),
            Outcome::Anonymous(trace) if trace == "trace"
        ));
    }

    /// The throttle is asked before any verification, SCRAM included, and failures are
    /// charged to the name the client gave.
    #[test]
    fn throttle_applies_to_every_mechanism() {
        let (t, c, d) = (throttle(2), AuthCache::default(), dir());
        let cx = cx(&t, &c, true, false);
        for _ in 0..2 {
            assert!(matches!(
                Login::password(&cx, &d, "u@x", "wrong"),
                Outcome::Failed { delay } if delay >= MIN_FAILURE_DELAY
            ));
        }
        assert!(matches!(
            Login::password(&cx, &d, "u@x", "pw"),
            Outcome::Throttled { .. }
        ));
        let first = B64.encode("n,,n=u@x,r=abcdefgh");
        let scram = Login::authenticate(&cx, &d, "SCRAM-SHA-256", Some(first.as_bytes()));
        assert!(matches!(scram, Outcome::Throttled { .. }));
        assert_eq!(scram.delay(), Some(THROTTLED_DELAY));
        // Another account from the same address is not locked.
        let ir = B64.encode("\0v@x\0pw");
        assert!(matches!(
            Login::authenticate(&cx, &d, "PLAIN", Some(ir.as_bytes())),
            Outcome::Failed { .. }
        ));
    }
}
