//! Spooling large literals (APPEND's message) to disk while they arrive.
//!
//! Implementation notes:
//! - Once a literal being read holds [`SPOOL_THRESHOLD`] bytes, the driver takes them from
//!   the framer ([`Framer::take_literal`]) and appends them to an unnamed temporary file in
//!   `ImapConfig::spool_dir` (`data_dir/tmp`), so an unfinished APPEND costs the server
//!   disk, not memory, however many are in progress.
//! - The file has no name (`O_TMPFILE` where the system has it, else unlinked at once): it
//!   disappears with the connection or a crash.
//! - When the command is complete its bytes are put back together and parsed as before
//!   (the parser and the store take the message in memory), but only under a permit of the
//!   server's [`MessageBudget`](pochta_net::MessageBudget), held until the command has run:
//!   many large APPENDs completing at once wait for each other instead of multiplying
//!   memory. A command the framer drops drops its parts.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use pochta_imap_proto::Framer;

/// Literal bytes held in memory before they go to disk.
pub const SPOOL_THRESHOLD: usize = 64 * 1024;

/// The spool of one connection: the parts taken from the command being framed.
pub(crate) struct Spool {
    dir: Option<PathBuf>,
    file: Option<File>,
    /// (position in the framed command, length) of each part, in order, as in the file.
    parts: Vec<(usize, usize)>,
}

impl Spool {
    pub(crate) fn new(dir: Option<PathBuf>) -> Self {
        Spool {
            dir,
            file: None,
            parts: Vec::new(),
        }
    }

    /// What the framer holds of a large literal, to be written with [`Spool::write`]
    /// (cheap when there is nothing to take).
    pub(crate) fn take(&self, framer: &mut Framer) -> Option<(usize, Vec<u8>)> {
        self.dir.as_ref()?;
        framer.take_literal(SPOOL_THRESHOLD)
    }

    /// Bytes of the command being framed that are on disk.
    pub(crate) fn len(&self) -> u64 {
        self.parts.iter().map(|p| p.1 as u64).sum()
    }

    /// Whether no part of the command being framed is on disk.
    pub(crate) fn is_empty(&self) -> bool {
        self.file.is_none()
    }

    /// Moves a part taken with [`Spool::take`] to disk.
    pub(crate) fn write(&mut self, (pos, bytes): (usize, Vec<u8>)) -> io::Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(tempfile::tempfile_in(dir)?),
        };
        file.write_all(&bytes)?;
        self.parts.push((pos, bytes.len()));
        Ok(())
    }

    /// The whole command: `framed` with the spooled parts put back.
    pub(crate) fn complete(&mut self, framed: Vec<u8>) -> io::Result<Vec<u8>> {
        let Some(mut file) = self.file.take() else {
            return Ok(framed);
        };
        let parts = std::mem::take(&mut self.parts);
        let spooled: usize = parts.iter().map(|p| p.1).sum();
        let mut whole = Vec::with_capacity(framed.len() + spooled);
        file.seek(SeekFrom::Start(0))?;
        let mut at = 0;
        for (pos, len) in parts {
            let pos = pos.clamp(at, framed.len());
            whole.extend_from_slice(&framed[at..pos]);
            (&mut file).take(len as u64).read_to_end(&mut whole)?;
            at = pos;
        }
        whole.extend_from_slice(&framed[at..]);
        Ok(whole)
    }

    /// The command was dropped: forget its parts.
    pub(crate) fn clear(&mut self) {
        self.file = None;
        self.parts.clear();
    }
}
