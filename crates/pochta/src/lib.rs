//! The `pochta` binary's library half: configuration, administration, and server wiring.
//! `main.rs` is only the command line on top of it.
//!
//! Implementation notes:
//! - Split into a library so integration tests and the binary share the config parser, and so
//!   the wiring in [`services`] is checked as public API rather than as dead code.
//! - Protocol services are wired in exactly one place, [`services::wire`].
#![forbid(unsafe_code)]

pub mod admin;
pub mod backend;
pub mod collect;
pub mod config;
pub mod contacts;
pub mod outbound;
pub mod search;
pub mod serve;
pub mod services;
