//! Conformance suites: the rules of the storage traits, written once as checks that every
//! backend runs from its own tests. Compiled only with the cargo feature `conformance`
//! (a backend enables it in its `[dev-dependencies]`), so no server build carries them.
//!
//! - [`mail`]: the [`MailStore`](crate::MailStore) suite, expanded by
//!   [`conformance_tests!`](crate::conformance_tests).
//! - [`queue`]: the [`QueueStore`](crate::QueueStore) suite, expanded by
//!   [`queue_conformance_tests!`](crate::queue_conformance_tests).
//! - [`collector`]: the [`CollectorStore`](crate::CollectorStore) suite, expanded by
//!   [`collector_conformance_tests!`](crate::collector_conformance_tests).
//! - [`contacts`]: the [`ContactStore`](crate::ContactStore) suite, expanded by
//!   [`contacts_conformance_tests!`](crate::contacts_conformance_tests).
//! - [`search`]: the [`SearchIndex`](crate::SearchIndex) suite, expanded by
//!   [`search_conformance_tests!`](crate::search_conformance_tests).

pub mod collector;
pub mod contacts;
pub mod mail;
pub mod queue;
pub mod search;
