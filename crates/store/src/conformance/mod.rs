//! Conformance suites: the rules of the storage traits, written once as checks that every
//! backend runs from its own tests. Compiled only with the cargo feature `conformance`
//! (a backend enables it in its `[dev-dependencies]`), so no server build carries them.
//!
//! - [`mail`]: the [`MailStore`](crate::MailStore) suite, expanded by
//!   [`conformance_tests!`](crate::conformance_tests).

pub mod mail;
