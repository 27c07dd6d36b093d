//! SCRAM-SHA-256 (RFC 5802, RFC 7677): stored secrets and the server side of the exchange.
//!
//! Implementation notes:
//! - Only the derived secrets are stored: salt, iteration count, StoredKey = H(ClientKey) and
//!   ServerKey (RFC 5802 §3). Their text form is PostgreSQL's and Dovecot's
//!   `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (base64 fields).
//! - Channel binding is not offered (no `-PLUS` mechanism), so a gs2 header of `p=...` is
//!   refused, `n` and `y` are accepted (RFC 5802 §6: `y` means the client could bind but
//!   thinks we cannot, which is true).
//! - An authzid in the gs2 header is accepted only when equal to the username: Pochta has no
//!   proxy authorization.
//! - An unknown user gets a server-first message with a salt derived from a per-process key
//!   and the username, so probing cannot tell unknown users from known ones; the exchange then
//!   fails at the proof, exactly like a wrong password.
//! - Passwords are used as their UTF-8 bytes without SASLprep (RFC 4013); ASCII passwords are
//!   unaffected, and the same bytes are used when deriving, so a user's client and server agree
//!   as long as the client does not normalise differently.
//! - The proof is compared in constant time.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Iterations used for new secrets: RFC 7677 §4 asks for at least 4096.
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// Fewer iterations than this are refused when parsing stored secrets.
pub const MIN_ITERATIONS: u32 = 4096;
/// Highest count accepted from storage, so a corrupt row cannot stall a login for minutes.
const MAX_ITERATIONS: u32 = 10_000_000;
const PREFIX: &str = "SCRAM-SHA-256$";

/// Errors of the SCRAM exchange and of parsing stored secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("channel binding is not supported")]
    ChannelBinding,
    #[error("authorization identity differs from authentication identity")]
    Authzid,
    #[error("unsupported mandatory SCRAM extension")]
    Extension,
    #[error("nonce mismatch")]
    Nonce,
    #[error("invalid proof")]
    InvalidProof,
    #[error("SCRAM step called out of order")]
    OutOfOrder,
    #[error("stored SCRAM secrets are invalid: {0}")]
    BadSecrets(&'static str),
}

/// The per-account secrets a server needs to run SCRAM-SHA-256, derived at password-set time.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramSecrets {
    pub iterations: u32,
    pub salt: Vec<u8>,
    pub stored_key: [u8; 32],
    pub server_key: [u8; 32],
}

impl fmt::Debug for ScramSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The keys are password-equivalent for anyone who can also watch an exchange.
        f.debug_struct("ScramSecrets")
            .field("iterations", &self.iterations)
            .field("salt", &B64.encode(&self.salt))
            .finish_non_exhaustive()
    }
}

impl ScramSecrets {
    /// Derives secrets for `password` with a fresh 16-byte salt and [`DEFAULT_ITERATIONS`].
    pub fn derive(password: &str) -> Self {
        let mut salt = vec![0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        Self::derive_with(password.as_bytes(), &salt, DEFAULT_ITERATIONS)
    }

    /// Derives secrets from an explicit salt and iteration count (RFC 5802 §3).
    pub fn derive_with(password: &[u8], salt: &[u8], iterations: u32) -> Self {
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        let server_key = hmac(&salted, b"Server Key");
        ScramSecrets {
            iterations,
            salt: salt.to_vec(),
            stored_key: Sha256::digest(client_key).into(),
            server_key,
        }
    }

    /// The `SCRAM-SHA-256$iter:salt$StoredKey:ServerKey` text form.
    pub fn encode(&self) -> String {
        format!(
            "{PREFIX}{}:{}${}:{}",
            self.iterations,
            B64.encode(&self.salt),
            B64.encode(self.stored_key),
            B64.encode(self.server_key)
        )
    }
}

impl fmt::Display for ScramSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl FromStr for ScramSecrets {
    type Err = ScramError;

    fn from_str(s: &str) -> Result<Self, ScramError> {
        let rest = s
            .strip_prefix(PREFIX)
            .ok_or(ScramError::BadSecrets("missing SCRAM-SHA-256$ prefix"))?;
        let (params, keys) = rest
            .split_once('$')
            .ok_or(ScramError::BadSecrets("missing keys"))?;
        let (iter, salt) = params
            .split_once(':')
            .ok_or(ScramError::BadSecrets("missing salt"))?;
        let (stored, server) = keys
            .split_once(':')
            .ok_or(ScramError::BadSecrets("missing server key"))?;
        let iterations: u32 = iter
            .parse()
            .map_err(|_| ScramError::BadSecrets("bad iteration count"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(ScramError::BadSecrets("iteration count out of range"));
        }
        let salt = B64
            .decode(salt)
            .map_err(|_| ScramError::BadSecrets("bad salt"))?;
        if salt.is_empty() {
            return Err(ScramError::BadSecrets("empty salt"));
        }
        Ok(ScramSecrets {
            iterations,
            salt,
            stored_key: key32(stored)?,
            server_key: key32(server)?,
        })
    }
}

fn key32(s: &str) -> Result<[u8; 32], ScramError> {
    B64.decode(s)
        .ok()
        .and_then(|v| <[u8; 32]>::try_from(v.as_slice()).ok())
        .ok_or(ScramError::BadSecrets("bad key"))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Fake secrets for an unknown user: a stable salt per username (so two probes agree) and keys
/// nobody knows.
fn fake_secrets(username: &str) -> ScramSecrets {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        k
    });
    let salt = hmac(key, username.as_bytes())[..16].to_vec();
    let mut stored_key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut stored_key);
    ScramSecrets {
        iterations: DEFAULT_ITERATIONS,
        salt,
        stored_key,
        server_key: stored_key,
    }
}

/// Decodes a `saslname` (RFC 5802 §5.1: `=2C` is `,`, `=3D` is `=`).
fn decode_saslname(s: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        let esc = rest.get(i..i + 3);
        match esc {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Malformed("bad escape in username")),
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(ScramError::Malformed("empty username"));
    }
    Ok(out)
}

enum State {
    Start,
    /// Client-first parsed; waiting for the account's secrets.
    HaveClientFirst {
        username: String,
        gs2_header: String,
        client_first_bare: String,
        client_nonce: String,
    },
    /// Server-first sent; waiting for client-final.
    SentServerFirst {
        gs2_header: String,
        client_first_bare: String,
        server_first: String,
        nonce: String,
        secrets: ScramSecrets,
    },
    Done,
}

/// The server side of one SCRAM-SHA-256 exchange, as a sans-IO state machine:
/// [`client_first`](Self::client_first) → look the user up →
/// [`server_first`](Self::server_first) → [`client_final`](Self::client_final).
pub struct ScramServer {
    state: State,
    server_nonce: String,
}

impl Default for ScramServer {
    fn default() -> Self {
        Self::new()
    }
}

impl ScramServer {
    /// A new exchange with a random 18-byte server nonce.
    pub fn new() -> Self {
        let mut raw = [0u8; 18];
        rand::rngs::OsRng.fill_bytes(&mut raw);
        Self::with_nonce(&B64.encode(raw))
    }

    /// A new exchange with a fixed server nonce, for known-answer tests.
    pub fn with_nonce(server_nonce: &str) -> Self {
        ScramServer {
            state: State::Start,
            server_nonce: server_nonce.to_owned(),
        }
    }

    /// Parses the client-first message; returns the username whose secrets to look up.
    pub fn client_first(&mut self, msg: &[u8]) -> Result<String, ScramError> {
        if !matches!(self.state, State::Start) {
            return Err(ScramError::OutOfOrder);
        }
        let msg = std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        // gs2-header = gs2-cbind-flag "," [ authzid ] ","
        let mut parts = msg.splitn(3, ',');
        let cbind = parts.next().unwrap_or_default();
        let authzid = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
        let bare = parts.next().ok_or(ScramError::Malformed("no gs2 header"))?;
        match cbind {
            "n" | "y" => {}
            c if c.starts_with("p=") => return Err(ScramError::ChannelBinding),
            _ => return Err(ScramError::Malformed("bad channel binding flag")),
        }
        let authzid = match authzid {
            "" => None,
            a => Some(decode_saslname(
                a.strip_prefix("a=")
                    .ok_or(ScramError::Malformed("bad authzid"))?,
            )?),
        };
        let mut attrs = bare.split(',');
        let first = attrs.next().unwrap_or_default();
        if first.starts_with("m=") {
            return Err(ScramError::Extension);
        }
        let username = decode_saslname(
            first
                .strip_prefix("n=")
                .ok_or(ScramError::Malformed("missing username"))?,
        )?;
        let client_nonce = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("missing nonce"))?;
        if client_nonce.is_empty()
            || !client_nonce
                .bytes()
                .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
        {
            return Err(ScramError::Malformed("bad nonce"));
        }
        if let Some(a) = authzid
            && a != username
        {
            return Err(ScramError::Authzid);
        }
        self.state = State::HaveClientFirst {
            username: username.clone(),
            // The gs2 header exactly as sent: the client echoes it base64-encoded in `c=`.
            gs2_header: msg[..msg.len() - bare.len()].to_owned(),
            client_first_bare: bare.to_owned(),
            client_nonce: client_nonce.to_owned(),
        };
        Ok(username)
    }

    /// Takes the looked-up secrets (`None`: no such account) and returns the server-first
    /// message to send.
    pub fn server_first(&mut self, secrets: Option<&ScramSecrets>) -> Result<Vec<u8>, ScramError> {
        let State::HaveClientFirst {
            username,
            gs2_header,
            client_first_bare,
            client_nonce,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(ScramError::OutOfOrder);
        };
        let secrets = secrets.cloned().unwrap_or_else(|| fake_secrets(&username));
        let nonce = format!("{client_nonce}{}", self.server_nonce);
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&secrets.salt),
            secrets.iterations
        );
        let out = server_first.clone().into_bytes();
        self.state = State::SentServerFirst {
            gs2_header,
            client_first_bare,
            server_first,
            nonce,
            secrets,
        };
        Ok(out)
    }

    /// Checks the client-final message; on success returns the server-final message
    /// (`v=<ServerSignature>`), which the client uses to authenticate the server.
    pub fn client_final(&mut self, msg: &[u8]) -> Result<Vec<u8>, ScramError> {
        let State::SentServerFirst {
            gs2_header,
            client_first_bare,
            server_first,
            nonce,
            secrets,
        } = std::mem::replace(&mut self.state, State::Done)
        else {
            return Err(ScramError::OutOfOrder);
        };
        let msg = std::str::from_utf8(msg).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        // The proof is the last attribute; everything before it is signed.
        let (without_proof, proof) = msg
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("missing proof"))?;
        let mut attrs = without_proof.split(',');
        let cb = attrs
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(ScramError::Malformed("missing channel binding"))?;
        let cb = B64
            .decode(cb)
            .map_err(|_| ScramError::Malformed("bad channel binding"))?;
        if cb != gs2_header.as_bytes() {
            return Err(ScramError::ChannelBinding);
        }
        let r = attrs
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("missing nonce"))?;
        if r != nonce {
            return Err(ScramError::Nonce);
        }
        let proof = B64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("bad proof"))?;
        if proof.len() != 32 {
            return Err(ScramError::InvalidProof);
        }
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let client_signature = hmac(&secrets.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof
            .iter()
            .zip(client_signature.iter())
            .map(|(p, s)| p ^ s)
            .collect();
        let computed: [u8; 32] = Sha256::digest(&client_key).into();
        if !ct_eq(&computed, &secrets.stored_key) {
            return Err(ScramError::InvalidProof);
        }
        let server_signature = hmac(&secrets.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT_B64: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
    const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn rfc_secrets() -> ScramSecrets {
        ScramSecrets::derive_with(b"pencil", &B64.decode(SALT_B64).unwrap(), 4096)
    }

    /// RFC 7677 §3, the whole exchange byte for byte.
    #[test]
    fn rfc7677_example() {
        let mut s = ScramServer::with_nonce(SERVER_NONCE);
        assert_eq!(s.client_first(CLIENT_FIRST.as_bytes()).unwrap(), "user");
        let first = s.server_first(Some(&rfc_secrets())).unwrap();
        assert_eq!(String::from_utf8(first).unwrap(), SERVER_FIRST);
        let fin = s.client_final(CLIENT_FINAL.as_bytes()).unwrap();
        assert_eq!(String::from_utf8(fin).unwrap(), SERVER_FINAL);
    }

    #[test]
    fn wrong_password_fails_at_proof() {
        let secrets =
            ScramSecrets::derive_with(b"not pencil", &B64.decode(SALT_B64).unwrap(), 4096);
        let mut s = ScramServer::with_nonce(SERVER_NONCE);
        s.client_first(CLIENT_FIRST.as_bytes()).unwrap();
        s.server_first(Some(&secrets)).unwrap();
        assert_eq!(
            s.client_final(CLIENT_FINAL.as_bytes()),
            Err(ScramError::InvalidProof)
        );
    }

    #[test]
    fn unknown_user_looks_like_known_and_fails() {
        let mut a = ScramServer::with_nonce(SERVER_NONCE);
        a.client_first(CLIENT_FIRST.as_bytes()).unwrap();
        let first_a = a.server_first(None).unwrap();
        let mut b = ScramServer::with_nonce(SERVER_NONCE);
        b.client_first(CLIENT_FIRST.as_bytes()).unwrap();
        let first_b = b.server_first(None).unwrap();
        // Same fake salt for the same name on every probe.
        assert_eq!(first_a, first_b);
        assert_eq!(
            a.client_final(CLIENT_FINAL.as_bytes()),
            Err(ScramError::InvalidProof)
        );
    }

    #[test]
    fn secrets_round_trip_text() {
        let s = rfc_secrets();
        let text = s.encode();
        assert!(text.starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"));
        assert_eq!(text.parse::<ScramSecrets>().unwrap(), s);
        assert!("SCRAM-SHA-256$1:AAAA$x:y".parse::<ScramSecrets>().is_err());
        assert!("garbage".parse::<ScramSecrets>().is_err());
        assert!(!format!("{s:?}").contains(&B64.encode(s.stored_key)));
    }

    #[test]
    fn bad_client_first_messages() {
        let cases: &[(&str, ScramError)] = &[
            ("p=tls-unique,,n=user,r=abc", ScramError::ChannelBinding),
            ("n,a=admin,n=user,r=abc", ScramError::Authzid),
            ("n,,m=ext,n=user,r=abc", ScramError::Extension),
            ("n,,n=user", ScramError::Malformed("missing nonce")),
            ("n,,r=abc", ScramError::Malformed("missing username")),
            (
                "n,,n=us=ZZer,r=abc",
                ScramError::Malformed("bad escape in username"),
            ),
            (
                "x,,n=user,r=abc",
                ScramError::Malformed("bad channel binding flag"),
            ),
            ("n", ScramError::Malformed("no gs2 header")),
        ];
        for (msg, want) in cases {
            let mut s = ScramServer::with_nonce("x");
            assert_eq!(s.client_first(msg.as_bytes()).as_ref(), Err(want), "{msg}");
        }
        let mut s = ScramServer::with_nonce("x");
        assert_eq!(
            s.client_first(b"n,a=us=3Der,n=us=3Der,r=abc").unwrap(),
            "us=er"
        );
    }

    #[test]
    fn tampered_client_final() {
        for (msg, want) in [
            (
                CLIENT_FINAL.replace("c=biws", "c=eSws"),
                ScramError::ChannelBinding,
            ),
            (
                CLIENT_FINAL.replace("hNlF$k0", "hNlF$k1"),
                ScramError::Nonce,
            ),
            ("c=biws".to_owned(), ScramError::Malformed("missing proof")),
        ] {
            let mut s = ScramServer::with_nonce(SERVER_NONCE);
            s.client_first(CLIENT_FIRST.as_bytes()).unwrap();
            s.server_first(Some(&rfc_secrets())).unwrap();
            assert_eq!(s.client_final(msg.as_bytes()), Err(want));
        }
    }

    #[test]
    fn out_of_order() {
        let mut s = ScramServer::new();
        assert_eq!(s.server_first(None), Err(ScramError::OutOfOrder));
        assert_eq!(s.client_final(b"c=biws"), Err(ScramError::OutOfOrder));
    }
}
