//! LOGIN and AUTHENTICATE (RFC 3501 §6.2.2–6.2.3, SASL-IR RFC 4959, ANONYMOUS RFC 4505):
//! the session's side of pochta-auth's one login flow.
//!
//! Implementation notes:
//! - The flow (throttle check, mechanism, accounting) is pochta-auth's; this module only
//!   maps its outcome to IMAP responses, in one place ([`Session::login_outcome`]).
//! - A SASL challenge is a continuation under the AUTHENTICATE tag; the client's answer
//!   comes back through [`Session::sasl_line`].

use std::sync::Arc;
use std::time::Duration;

use pochta_auth::{Context as LoginContext, Directory, Login, Outcome, Protocol};
use pochta_imap_proto::Tag;
use pochta_imap_proto::response::{self, Code, Status};
use pochta_store::{Account, MailStore, StoreError};

use crate::session::{Done, Next, Res, Session, State, bad, no};

impl<S: MailStore> Session<S> {
    /// What the login flow needs to know about this connection.
    fn login_context(&self) -> LoginContext<'_> {
        LoginContext {
            protocol: Protocol::Imap,
            peer: self.peer,
            plaintext: self.plaintext_ok(),
            anonymous: self.shared.config.anonymous,
            throttle: &self.shared.throttle,
            cache: &self.shared.auth_cache,
        }
    }

    pub(crate) fn login(&mut self, user: &[u8], password: &[u8]) -> Res {
        let user = String::from_utf8_lossy(user);
        let password = String::from_utf8_lossy(password);
        let shared = Arc::clone(&self.shared);
        let outcome = Login::password(
            &self.login_context(),
            &Directory(&*shared.store),
            &user,
            &password,
        );
        self.login_outcome(None, outcome)
    }

    fn anonymous_login(&mut self, trace: &str) -> Res {
        if let Err(wait) = self.shared.anonymous_logins.login(self.peer) {
            self.delay = Some(Duration::from_secs(1));
            return Err(no(
                Code::Unavailable,
                format!(
                    "Too many anonymous logins from your address; try again in {} seconds",
                    wait.as_secs().max(1)
                ),
            ));
        }
        let trace: String = trace.chars().filter(|c| !c.is_control()).collect();
        tracing::info!(peer = %self.peer, trace = %trace, "IMAP anonymous login");
        self.anonymous = Some(crate::anonymous::Bucket::new());
        self.state = State::Authenticated;
        Done::code(
            Code::Capability(self.capabilities()),
            "Logged in anonymously (read-only)",
        )
    }

    fn logged_in(&mut self, account: Account) -> Res {
        tracing::info!(account = %account.address, peer = %self.peer, "IMAP login");
        self.account = Some(account);
        self.state = State::Authenticated;
        Done::code(Code::Capability(self.capabilities()), "Logged in")
    }

    pub(crate) fn authenticate(
        &mut self,
        tag: &Tag,
        mechanism: &str,
        initial: Option<&[u8]>,
    ) -> Res {
        let shared = Arc::clone(&self.shared);
        let outcome = Login::authenticate(
            &self.login_context(),
            &Directory(&*shared.store),
            mechanism,
            initial,
        );
        match outcome {
            Outcome::Unsupported => Err(no(
                Code::Cannot,
                format!("unsupported mechanism {mechanism}"),
            )),
            Outcome::NotBase64 => Err(bad("initial response is not base64")),
            outcome => self.login_outcome(Some(tag), outcome),
        }
    }

    /// The one mapping of the login flow's outcomes to IMAP responses; `tag` is that of the
    /// AUTHENTICATE command (a challenge keeps the exchange open under it).
    fn login_outcome(&mut self, tag: Option<&Tag>, outcome: Outcome<Account, StoreError>) -> Res {
        self.delay = outcome.delay();
        match outcome {
            Outcome::Challenge { challenge, next } => {
                let Some(tag) = tag else {
                    return Err(bad("unexpected challenge"));
                };
                response::write_continue_base64(&mut self.out, challenge.as_bytes());
                self.sasl = Some((tag.clone(), next));
                Ok(Done {
                    code: None,
                    text: String::new(),
                    next: Next::SaslContinue,
                })
            }
            Outcome::LoggedIn(account) => self.logged_in(account),
            Outcome::Anonymous(trace) => self.anonymous_login(&trace),
            Outcome::Failed { .. } => Err(no(Code::AuthenticationFailed, "Authentication failed")),
            Outcome::Throttled { retry_after } => Err(no(
                Code::Unavailable,
                format!(
                    "Too many failed logins; try again in {} seconds",
                    retry_after.as_secs().max(1)
                ),
            )),
            Outcome::PlaintextRefused => Err(no(
                Code::PrivacyRequired,
                "Plaintext authentication is disabled on this connection; use STARTTLS first",
            )),
            Outcome::Unsupported => Err(no(Code::Cannot, "unsupported mechanism")),
            Outcome::NotBase64 => Err(bad("response is not base64")),
            Outcome::Malformed(m) => Err(bad(format!("malformed SASL response: {m}"))),
            Outcome::Cancelled => Err(bad("AUTHENTICATE cancelled")),
            Outcome::Store(e) => Err(e.into()),
        }
    }

    /// The client's answer to a SASL challenge (a raw line, CRLF included or not).
    /// Ends an AUTHENTICATE exchange whose continuation line could not be framed (too long):
    /// the command gets its tagged `BAD` (RFC 9051 §6.2.2) and the session goes on
    /// unauthenticated. Nothing of the line reaches the login flow.
    pub fn sasl_abort(&mut self, why: &str) {
        if let Some((tag, _)) = self.sasl.take() {
            self.tagged(Some(&tag), Status::Bad, None, why);
        }
    }

    pub fn sasl_line(&mut self, line: &[u8]) -> Next {
        let line = line
            .strip_suffix(b"\r\n")
            .or(line.strip_suffix(b"\n"))
            .unwrap_or(line);
        let Some((tag, login)) = self.sasl.take() else {
            return Next::Continue;
        };
        let shared = Arc::clone(&self.shared);
        let outcome = login.line(&self.login_context(), &Directory(&*shared.store), line);
        let result = self.login_outcome(Some(&tag), outcome);
        self.finish(&tag, "AUTHENTICATE", result, true)
    }
}
