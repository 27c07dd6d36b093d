//! The client half of IMAP, sans-IO: a command encoder and a response reader, for the
//! collector, the load generator and the tests (the async driver is `pochta-imap-client`).
//!
//! Implementation notes (what always holds):
//! - One grammar in both directions: commands are encoded by [`crate::encode`] (the
//!   server's [`crate::CommandBody`] types, or [`command::ClientCommand`] for commands
//!   carrying a server's mailbox names), with imap-proto's one quoting rule (atom / quoted /
//!   literal, RFC 9051 §4.3); what the encoder writes, the server's parser reads back equal.
//! - Frame first, then parse: responses are framed by the server's own [`crate::Framer`]
//!   with a client [`crate::Limits`] ([`response::CLIENT_LIMITS`]), whose `max_command` is the
//!   total budget per response (lines and literals together); breaking any limit is a
//!   [`response::ResponseError`] before the excess is buffered.
//! - The reader's results do not depend on how the byte stream was split (tested at chunk
//!   sizes 1, 2, 4 … 512).
//! - Mailbox names are sent as the server spells them ([`command::WireName`]): modified UTF-7
//!   (RFC 3501 §5.1.3) unless UTF8=ACCEPT is enabled (RFC 9051 §6.3.1).
//! - Nothing here does I/O or panics on network input.

pub mod command;
pub mod data;
pub mod response;

pub use command::{ClientCommand, SaslInitial, Tags, WireName};
pub use data::{Fetched, ListEntry, Namespaces, SearchResult, Selected, StatusData, Vanished};
pub use response::{
    CLIENT_LIMITS, Response, ResponseError, ResponseReader, Status, StatusText, Value, parse,
};
