//! POP3's grammar without I/O, both halves: what a server reads and writes, and what a client
//! writes and reads. No sockets, no async runtime, no store: bytes in, values out, and values
//! in, bytes out.
//!
//! Invariants (what always holds):
//! - Commands are lines of at most [`framer::DEFAULT_MAX_LINE`] octets (configurable; RFC 2449
//!   §4 asks for 255), ended by CRLF (a bare LF is accepted). [`framer::LineFramer`] never
//!   buffers an over-long line whole and gives the same frames however the input is split.
//! - A keyword is case-insensitive (RFC 1939 §3); message numbers are `1*DIGIT`, not zero,
//!   fitting `u32` (RFC 1939 §3); `PASS` takes the rest of the line verbatim (RFC 1939 §7).
//!   [`command::parse`] never panics, and what [`Command::encode`] writes parses back to
//!   the same command; the encoder refuses an argument that would split the line (CR, LF,
//!   NUL) or a space where the grammar has one argument.
//! - A status line is `+OK` or `-ERR`, an optional response code in brackets (RFC 2449 §8:
//!   `[IN-USE]`, `[LOGIN-DELAY]`; RFC 3206: `[SYS/TEMP]`, `[SYS/PERM]`, `[AUTH]`) and text, on
//!   exactly one line: [`reply`] turns control characters in the text (which may echo client
//!   input) into spaces, so no reply can carry a second line.
//! - A multi-line response (RFC 1939 §3) is dot-stuffed: every line that starts with `.` gets
//!   another `.`; it always ends `CRLF.CRLF` (a CRLF is added to data that lacks one).
//!   [`client::MultilineReader`] finds the end without rescanning what it already saw, and
//!   [`client::unstuff`] strips the first `.` of every line that starts with one, so
//!   `unstuff(write_multiline(data))` is `data` (plus the CRLF the writer added).
//! - Nothing here allocates more than the input it was given plus a constant, and nothing
//!   panics on network input.
#![forbid(unsafe_code)]

pub mod client;
pub mod command;
pub mod framer;
pub mod reply;

pub use command::{Command, ParseError};
pub use reply::Code;
