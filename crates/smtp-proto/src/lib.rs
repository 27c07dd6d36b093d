//! Sans-IO SMTP protocol core, both halves: for the server, framing, command parsing and
//! reply encoding; for the client ([`client`]), reply framing and parsing, command encoding
//! and the DATA body. The envelope type ([`Envelope`]) and the reply type ([`Reply`]) are
//! the ones the server, the outbound queue and the client share.
//!
//! Implementation notes (what always holds):
//! - **Frame first, then parse.** [`Framer`] turns bytes into command lines, DATA bodies and
//!   BDAT chunks with hard limits (line length, message size); [`parse_command`] turns one
//!   line into a [`Command`]. Neither knows sockets, clocks or tokio, so both are fuzzed and
//!   tested with every chunk split.
//! - A malformed line is an error value, never a panic, and the framer stays in sync: an
//!   over-long line is reported once and skipped up to its end (RFC 5321 §4.5.3.1.4 allows us
//!   to refuse lines over 512 octets; we accept more, for AUTH responses and parameters).
//! - DATA ends only at `CRLF . CRLF` (RFC 5321 §4.1.1.4); a dot line after a *bare* LF does
//!   not end the message and is not un-stuffed, so a message cannot be "smuggled" past a
//!   server that reads line ends differently (the 2023 SMTP smuggling class).
//! - A DATA body or BDAT chunk over the size limit is consumed to its end and dropped, so the
//!   session can answer `552` and stay in sync (RFC 1870 §6.3, RFC 3030 §2).
//! - Replies carry an enhanced status code (RFC 2034, RFC 3463) except the greeting, the
//!   answer to HELO/EHLO and 3xx replies, which RFC 2034 §3 excludes.
#![forbid(unsafe_code)]

pub mod client;
pub mod command;
pub mod framer;
pub mod reply;

pub use client::{Capabilities, ReplyError, ReplyLimits, ReplyParser, data_bytes};
pub use command::{
    Body, Command, MailParams, ParseError, Path, RcptParams, parse_command, xtext_decode,
    xtext_encode,
};
pub use framer::{Event, Framer, Limits};
pub use pochta_types::envelope::{Envelope, Notify, Recipient, Ret};
pub use reply::Reply;
