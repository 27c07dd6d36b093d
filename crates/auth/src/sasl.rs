//! SASL mechanisms as sans-IO state machines: PLAIN (RFC 4616), LOGIN (de-facto) and
//! SCRAM-SHA-256 (RFC 5802, RFC 7677).
//!
//! Implementation notes:
//! - Input and output are *decoded* bytes. The protocol layer base64-decodes client responses,
//!   handles `*` (cancel, RFC 4422 §3.5) and `=` (empty initial response, RFC 4959/4954), and
//!   base64-encodes challenges.
//! - PLAIN and LOGIN end in [`SaslStep::VerifyPassword`]: the caller verifies the password
//!   against its store (with [`crate::verify_password`], which also spends time on unknown
//!   accounts) and answers success or failure itself.
//! - SCRAM ends in [`SaslStep::Success`] only after the proof checked out. The server-final
//!   message (`v=...`) is sent as one more challenge whose client answer must be empty,
//!   because IMAP, POP3 and SMTP AUTH have no "success with data" in their base specs
//!   (RFC 9051 §6.2.2, RFC 5034 §4, RFC 4954 §4).
//! - PLAIN's authzid is accepted only if empty or equal to the authcid (no proxy login).
//! - Any error ends the exchange; a new `SaslServer` is needed for another attempt.

use pochta_types::Secret;

use crate::scram::{ScramError, ScramSecrets, ScramServer};

/// The SASL mechanisms Pochta implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    Plain,
    Login,
    ScramSha256,
}

impl Mechanism {
    /// Every mechanism, strongest first (the order to advertise them).
    pub const ALL: [Mechanism; 3] = [Mechanism::ScramSha256, Mechanism::Plain, Mechanism::Login];

    /// Parses a mechanism name case-insensitively (RFC 4422 §3.1 names are upper-case).
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Some(Mechanism::Plain),
            "LOGIN" => Some(Mechanism::Login),
            "SCRAM-SHA-256" => Some(Mechanism::ScramSha256),
            _ => None,
        }
    }

    /// The registered name.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
        }
    }

    /// Whether the password crosses the wire (recoverably), so the plaintext policy applies.
    pub fn sends_password(self) -> bool {
        matches!(self, Mechanism::Plain | Mechanism::Login)
    }
}

/// Why an exchange failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    #[error("malformed SASL response: {0}")]
    Malformed(&'static str),
    #[error("authorization identity must equal the authentication identity")]
    Authzid,
    #[error("authentication failed")]
    Failed,
    #[error("SASL step called out of order")]
    OutOfOrder,
    #[error(transparent)]
    Scram(#[from] ScramError),
}

/// What the protocol layer must do next.
#[derive(Debug)]
pub enum SaslStep {
    /// Send this challenge (the protocol base64-encodes it) and feed the answer to
    /// [`SaslServer::step`].
    Challenge(Vec<u8>),
    /// PLAIN/LOGIN collected credentials: verify `password` for `authcid`; the exchange is over.
    VerifyPassword {
        authcid: String,
        password: Secret<String>,
    },
    /// SCRAM needs the stored secrets of `authcid`: pass them (or `None`) to
    /// [`SaslServer::scram_secrets`].
    LookupScram { authcid: String },
    /// Authenticated as `authcid`.
    Success { authcid: String },
}

enum State {
    Start,
    PlainWaiting,
    LoginUser,
    LoginPassword { user: String },
    ScramFirst(Box<ScramServer>),
    ScramNeedSecrets(Box<ScramServer>, String),
    ScramFinal(Box<ScramServer>, String),
    ScramAck(String),
    Done,
}

/// One server-side SASL exchange.
pub struct SaslServer {
    mechanism: Mechanism,
    state: State,
    /// The authentication identity once the client has named it, kept after a failure so the
    /// protocol layer can charge the failure to that account in the throttle.
    authcid: Option<String>,
}

impl SaslServer {
    pub fn new(mechanism: Mechanism) -> Self {
        SaslServer {
            mechanism,
            state: State::Start,
            authcid: None,
        }
    }

    /// A SCRAM exchange with a fixed server nonce, for tests.
    pub fn scram_with_nonce(nonce: &str) -> Self {
        SaslServer {
            mechanism: Mechanism::ScramSha256,
            state: State::ScramFirst(Box::new(ScramServer::with_nonce(nonce))),
            authcid: None,
        }
    }

    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// The account name the client authenticates as, once it has said it (also after a
    /// failed exchange): what a failure is charged to in the throttle.
    pub fn authcid(&self) -> Option<&str> {
        self.authcid.as_deref()
    }

    /// Starts the exchange, with the client's initial response if it sent one
    /// (`Some(b"")` for an explicitly empty one).
    pub fn start(&mut self, initial: Option<&[u8]>) -> Result<SaslStep, SaslError> {
        if !matches!(self.state, State::Start | State::ScramFirst(_)) {
            return Err(SaslError::OutOfOrder);
        }
        match self.mechanism {
            Mechanism::Plain => {
                self.state = State::PlainWaiting;
                match initial {
                    Some(data) => self.step(data),
                    None => Ok(SaslStep::Challenge(Vec::new())),
                }
            }
            Mechanism::Login => {
                self.state = State::LoginUser;
                // Some clients send the username as an initial response.
                match initial {
                    Some(data) if !data.is_empty() => self.step(data),
                    _ => Ok(SaslStep::Challenge(b"Username:".to_vec())),
                }
            }
            Mechanism::ScramSha256 => {
                if matches!(self.state, State::Start) {
                    self.state = State::ScramFirst(Box::default());
                }
                match initial {
                    Some(data) if !data.is_empty() => self.step(data),
                    _ => Ok(SaslStep::Challenge(Vec::new())),
                }
            }
        }
    }

    /// Feeds one decoded client response.
    pub fn step(&mut self, response: &[u8]) -> Result<SaslStep, SaslError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::PlainWaiting => plain(response),
            State::LoginUser => {
                let user = utf8(response, "username is not UTF-8")?;
                if user.is_empty() {
                    return Err(SaslError::Malformed("empty username"));
                }
                self.authcid = Some(user.clone());
                self.state = State::LoginPassword { user };
                Ok(SaslStep::Challenge(b"Password:".to_vec()))
            }
            State::LoginPassword { user } => {
                let password = utf8(response, "password is not UTF-8")?;
                if password.is_empty() {
                    return Err(SaslError::Malformed("empty password"));
                }
                Ok(SaslStep::VerifyPassword {
                    authcid: user,
                    password: Secret::new(password),
                })
            }
            State::ScramFirst(mut scram) => {
                let authcid = scram.client_first(response)?;
                self.authcid = Some(authcid.clone());
                self.state = State::ScramNeedSecrets(scram, authcid.clone());
                Ok(SaslStep::LookupScram { authcid })
            }
            State::ScramFinal(mut scram, authcid) => {
                let server_final = scram.client_final(response).map_err(|e| match e {
                    ScramError::InvalidProof => SaslError::Failed,
                    e => SaslError::Scram(e),
                })?;
                self.state = State::ScramAck(authcid);
                Ok(SaslStep::Challenge(server_final))
            }
            State::ScramAck(authcid) => {
                if !response.is_empty() {
                    return Err(SaslError::Malformed("expected an empty response"));
                }
                Ok(SaslStep::Success { authcid })
            }
            State::Start | State::ScramNeedSecrets(..) | State::Done => Err(SaslError::OutOfOrder),
        }
    }

    /// Supplies the SCRAM secrets asked for by [`SaslStep::LookupScram`] (`None`: no such
    /// account, which fails only at the proof so it looks like a wrong password).
    pub fn scram_secrets(&mut self, secrets: Option<&ScramSecrets>) -> Result<SaslStep, SaslError> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::ScramNeedSecrets(mut scram, authcid) => {
                let first = scram.server_first(secrets)?;
                self.state = State::ScramFinal(scram, authcid);
                Ok(SaslStep::Challenge(first))
            }
            _ => Err(SaslError::OutOfOrder),
        }
    }
}

fn utf8(b: &[u8], what: &'static str) -> Result<String, SaslError> {
    String::from_utf8(b.to_vec()).map_err(|_| SaslError::Malformed(what))
}

/// RFC 4616 §2: `message = [authzid] UTF8NUL authcid UTF8NUL passwd`.
fn plain(msg: &[u8]) -> Result<SaslStep, SaslError> {
    let mut parts = msg.split(|&b| b == 0);
    let (Some(authzid), Some(authcid), Some(passwd), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::Malformed(
            "PLAIN needs authzid NUL authcid NUL password",
        ));
    };
    let authcid = utf8(authcid, "authcid is not UTF-8")?;
    let authzid = utf8(authzid, "authzid is not UTF-8")?;
    let password = utf8(passwd, "password is not UTF-8")?;
    if authcid.is_empty() || password.is_empty() {
        return Err(SaslError::Malformed("empty authcid or password"));
    }
    if !authzid.is_empty() && authzid != authcid {
        return Err(SaslError::Authzid);
    }
    Ok(SaslStep::VerifyPassword {
        authcid,
        password: Secret::new(password),
    })
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;

    use super::*;

    fn creds(step: SaslStep) -> (String, String) {
        match step {
            SaslStep::VerifyPassword { authcid, password } => (authcid, password.into_inner()),
            other => panic!("expected credentials, got {other:?}"),
        }
    }

    #[test]
    fn mechanism_names() {
        for m in Mechanism::ALL {
            assert_eq!(Mechanism::parse(m.name()), Some(m));
            assert_eq!(Mechanism::parse(&m.name().to_lowercase()), Some(m));
        }
        assert_eq!(Mechanism::parse("CRAM-MD5"), None);
        assert!(Mechanism::Plain.sends_password());
        assert!(!Mechanism::ScramSha256.sends_password());
    }

    /// RFC 4616 §4 examples.
    #[test]
    fn plain_rfc4616() {
        let mut s = SaslServer::new(Mechanism::Plain);
        let step = s.start(Some(b"\0tim\0tanstaaftanstaaf")).unwrap();
        assert_eq!(creds(step), ("tim".into(), "tanstaaftanstaaf".into()));

        let mut s = SaslServer::new(Mechanism::Plain);
        assert!(matches!(s.start(None).unwrap(), SaslStep::Challenge(c) if c.is_empty()));
        let step = s.step(b"Ursel\0Kurt\0xipj3plmq").unwrap_err();
        assert_eq!(step, SaslError::Authzid);
    }

    #[test]
    fn plain_authzid_equal_is_allowed() {
        let mut s = SaslServer::new(Mechanism::Plain);
        let step = s.start(Some(b"a@x.org\0a@x.org\0pw")).unwrap();
        assert_eq!(creds(step), ("a@x.org".into(), "pw".into()));
    }

    #[test]
    fn plain_malformed() {
        for bad in [
            &b"no nuls"[..],
            b"\0user",
            b"\0\0pw",
            b"\0u\0",
            b"a\0b\0c\0d",
            b"\0\xff\0pw",
        ] {
            let mut s = SaslServer::new(Mechanism::Plain);
            assert!(
                matches!(s.start(Some(bad)), Err(SaslError::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn login_exchange() {
        let mut s = SaslServer::new(Mechanism::Login);
        assert!(matches!(s.start(None).unwrap(), SaslStep::Challenge(c) if c == b"Username:"));
        assert!(
            matches!(s.step(b"me@x.org").unwrap(), SaslStep::Challenge(c) if c == b"Password:")
        );
        assert_eq!(
            creds(s.step(b"secret").unwrap()),
            ("me@x.org".into(), "secret".into())
        );
        assert_eq!(s.step(b"more").unwrap_err(), SaslError::OutOfOrder);
    }

    #[test]
    fn login_with_initial_username() {
        let mut s = SaslServer::new(Mechanism::Login);
        assert!(
            matches!(s.start(Some(b"me")).unwrap(), SaslStep::Challenge(c) if c == b"Password:")
        );
        assert_eq!(creds(s.step(b"pw").unwrap()), ("me".into(), "pw".into()));
    }

    /// RFC 7677 §3 driven through the generic SASL interface.
    #[test]
    fn scram_rfc7677_through_sasl() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let secrets = ScramSecrets::derive_with(b"pencil", &salt, 4096);
        let mut s = SaslServer::scram_with_nonce("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        let step = s.start(Some(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")).unwrap();
        assert!(matches!(step, SaslStep::LookupScram { ref authcid } if authcid == "user"));
        let SaslStep::Challenge(first) = s.scram_secrets(Some(&secrets)).unwrap() else {
            panic!("expected server-first");
        };
        assert!(first.starts_with(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s="));
        let SaslStep::Challenge(fin) = s
            .step(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap()
        else {
            panic!("expected server-final");
        };
        assert_eq!(fin, b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        assert!(matches!(s.step(b"").unwrap(), SaslStep::Success { authcid } if authcid == "user"));
    }

    #[test]
    fn scram_wrong_password_is_plain_failure() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let secrets = ScramSecrets::derive_with(b"other", &salt, 4096);
        let mut s = SaslServer::scram_with_nonce("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
        s.start(None).unwrap();
        s.step(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        s.scram_secrets(Some(&secrets)).unwrap();
        let err = s
            .step(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap_err();
        assert_eq!(err, SaslError::Failed);
    }

    #[test]
    fn scram_secrets_out_of_order() {
        let mut s = SaslServer::new(Mechanism::ScramSha256);
        assert_eq!(s.scram_secrets(None).unwrap_err(), SaslError::OutOfOrder);
    }
}
