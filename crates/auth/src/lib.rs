//! Authentication for every Pochta protocol: password hashing, SASL mechanisms and throttling.
//!
//! Implementation notes:
//! - Passwords are stored only as Argon2id PHC strings ([`password`]) and as SCRAM-SHA-256
//!   secrets ([`scram::ScramSecrets`]), both derived when the password is set; the password
//!   itself is never stored.
//! - SASL mechanisms ([`sasl`]) are sans-IO state machines over *decoded* client bytes: the
//!   protocol layer owns base64, the `*` cancel and the `=` empty initial response, because IMAP,
//!   POP3 and SMTP frame those differently.
//! - Verifying against an account that does not exist still costs one Argon2 hash
//!   ([`password::verify`] with `None`), so response timing does not reveal which accounts exist.
//! - One login flow ([`flow::Login`]) for every protocol: throttle check, mechanism,
//!   accounting; the sessions only map its [`flow::Outcome`] to their replies.
//! - One [`throttle::Throttle`] is shared by all protocols so an attacker cannot multiply the
//!   guessing rate by switching from IMAP to POP3 to SMTP.
#![forbid(unsafe_code)]

pub mod cache;
#[cfg(feature = "store")]
pub mod directory;
pub mod flow;
pub mod password;
pub mod sasl;
pub mod scram;
pub mod throttle;

pub use cache::{AuthCache, PlaintextPolicy};
#[cfg(feature = "store")]
pub use directory::Directory;
pub use flow::{Accounts, Context, Credentials, Login, Method, Outcome, Protocol};
pub use password::{PasswordError, hash_password, verify_password};
pub use sasl::{Mechanism, SaslError, SaslServer, SaslStep};
pub use scram::ScramSecrets;
pub use throttle::{Clock, ManualClock, SystemClock, Throttle, ThrottleConfig, Verdict};
