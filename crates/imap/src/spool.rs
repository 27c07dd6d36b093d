//! Spooling large literals (APPEND's message) to disk while they arrive.
//!
//! Implementation notes:
//! - Once a literal being read holds [`SPOOL_THRESHOLD`] bytes, the driver takes them from
//!   the framer ([`Framer::take_literal`]) and appends them to an unnamed temporary file in
//!   `ImapConfig::spool_dir` (`data_dir/tmp`), so an unfinished APPEND costs the server
//!   disk, not memory, however many are in progress. The file and the putting back are
//!   [`pochta_net::LiteralSpool`], shared with the IMAP client (the collector's FETCH).
//! - A command made of many literals each under the threshold (MULTIAPPEND, CATENATE, a
//!   SEARCH of many literal keys) is bounded too: once the command being framed holds
//!   [`HELD_LIMIT`] bytes in memory, every further literal byte goes to disk as it arrives,
//!   and its lines together are at most [`MAX_TEXT`] (`Limits::max_text`; above it the command is
//!   refused with `NO [TOOBIG]`). So whatever a logged-in client sends, one connection holds at most about
//!   `HELD_LIMIT + MAX_TEXT + max_line` of an unfinished command in memory (issue 17: a
//!   budget per session, not only per literal).
//! - When the command is complete its bytes are put back together and parsed as before
//!   (the parser and the store take the message in memory), but only under a permit of the
//!   server's [`MessageBudget`](pochta_net::MessageBudget), held until the command has run:
//!   many large APPENDs completing at once wait for each other instead of multiplying
//!   memory. A command the framer drops drops its parts.

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

use pochta_imap_proto::Framer;
use pochta_net::LiteralSpool;

/// Literal bytes held in memory before they go to disk.
pub const SPOOL_THRESHOLD: usize = pochta_net::LITERAL_SPOOL_THRESHOLD;

/// Bytes of one command in memory past which every literal byte goes to disk, however small
/// its literal.
pub const HELD_LIMIT: usize = 1 << 20;

/// Most bytes of one command's lines (literals not counted): `Limits::max_text` after login.
/// MULTIAPPEND's 1,000 messages with flags and dates, or a CATENATE of 1,000 URLs, stay well
/// under it.
pub const MAX_TEXT: u64 = 1 << 20;

/// The spool of one connection: the parts taken from the command being framed.
pub(crate) struct Spool(LiteralSpool);

impl Spool {
    pub(crate) fn new(dir: Option<PathBuf>) -> Self {
        Spool(LiteralSpool::new(dir))
    }

    /// What the framer holds of a large literal, to be written with
    /// [`LiteralSpool::write`] (cheap when there is nothing to take).
    pub(crate) fn take(&self, framer: &mut Framer) -> Option<(usize, Vec<u8>)> {
        if !self.0.enabled() {
            return None;
        }
        let at_least = if framer.held() >= HELD_LIMIT {
            1
        } else {
            SPOOL_THRESHOLD
        };
        framer.take_literal(at_least)
    }
}

impl Deref for Spool {
    type Target = LiteralSpool;
    fn deref(&self) -> &LiteralSpool {
        &self.0
    }
}

impl DerefMut for Spool {
    fn deref_mut(&mut self) -> &mut LiteralSpool {
        &mut self.0
    }
}
