//! Sans-IO IMAP protocol core: framing, command parsing and response encoding for the server,
//! and the client half ([`client`]: command encoder, response reader).
//!
//! Implementation notes (what always holds):
//! - Nothing here does I/O, reads a clock or spawns a task: bytes in, events/values out.
//!   The tokio driver in `pochta-imap` owns the socket (ARCHITECTURE.md "Layers").
//! - Frame first, then parse (RFC 9051 §2.2): [`framer::Framer`] finds command boundaries
//!   (lines plus `{n}` / `{n+}` / `~{n}` literals) and enforces hard limits; only a complete
//!   command reaches [`command::parse_command`], so the parser never sees a partial command and
//!   never returns "incomplete".
//! - The framer always recovers: after any error it discards the rest of the offending command
//!   and resynchronises on the next line, so one malformed command costs one `BAD`/`NO`.
//! - No input panics: every index is checked, numbers are parsed with overflow checks, and the
//!   search-key tree has a nesting limit ([`search::MAX_SEARCH_DEPTH`]).
//! - Mailbox names leave the parser as validated Unicode [`pochta_types::MailboxName`]s, decoded
//!   from modified UTF-7 (RFC 3501 §5.1.3) unless UTF8=ACCEPT is on (RFC 9051 §6.3.1 / RFC 6855).
//! - Response writers pick atom / quoted / literal for any byte string so that what we write is
//!   always syntactically valid, and they write straight into a caller-owned `Vec<u8>`.
#![forbid(unsafe_code)]

pub mod acl;
pub mod append;
pub mod catenate;
pub mod client;
pub mod command;
pub mod context;
pub mod copy_move;
pub mod core;
pub mod enable;
pub mod encode;
pub mod fetch;
pub mod framer;
pub mod fuzzy;
pub mod id;
pub mod list;
pub mod login;
pub mod mailbox;
pub mod metadata;
pub mod multisearch;
pub mod notify;
mod parse;
pub mod partial;
pub mod quota;
pub mod replace;
pub mod response;
pub mod search;
pub mod select_examine;
pub mod sequence;
pub mod sort;
pub mod status;
pub mod store;
#[cfg(test)]
mod test_support;
pub mod thread;
pub mod urlauth;

pub use command::{Command, CommandBody, ParseError, ParseErrorKind, ParseOptions, parse_command};
pub use core::{Date, DateTime, Tag};
pub use framer::{Event, FrameError, FrameErrorKind, FramedCommand, Framer, Limits, LiteralKind};
pub use sequence::{SeqNum, SequenceSet};
