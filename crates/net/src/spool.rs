//! Spooling large IMAP literals to disk while they arrive: shared by the IMAP server
//! (APPEND's message) and the IMAP client (a collector's FETCH of a message body).
//!
//! Implementation notes:
//! - Once a literal being framed holds [`LITERAL_SPOOL_THRESHOLD`] bytes, the reader takes
//!   them from its framer (`Framer::take_literal` in pochta-imap-proto, which says where they
//!   belong) and appends them here, to an unnamed temporary file in a spool directory
//!   (`data_dir/tmp`), so an unfinished literal costs disk, not memory, however many are in
//!   progress.
//! - The file has no name (`O_TMPFILE` where the system has it, else unlinked at once): it
//!   disappears with the connection or a crash.
//! - When the command or response is complete its bytes are put back together
//!   ([`LiteralSpool::complete`]): read from the file once into a buffer of the exact final
//!   size. The caller does this only under a permit of the server's
//!   [`MessageBudget`](crate::MessageBudget) for [`LiteralSpool::len`] plus the framed bytes,
//!   held until the message is stored. A dropped command or response drops its parts
//!   ([`LiteralSpool::clear`]).
//! - Grammar-free: positions come from the framer; this module only keeps bytes.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

/// Literal bytes held in memory before they go to disk.
pub const LITERAL_SPOOL_THRESHOLD: usize = 64 * 1024;

/// The spool of one connection: the parts taken from the command or response being framed.
#[derive(Debug)]
pub struct LiteralSpool {
    dir: Option<PathBuf>,
    file: Option<File>,
    /// (position in the framed bytes, length) of each part, in order, as in the file.
    parts: Vec<(usize, usize)>,
}

impl LiteralSpool {
    /// A spool writing into `dir`; with `None` nothing is ever spooled ([`Self::enabled`]).
    pub fn new(dir: Option<PathBuf>) -> Self {
        LiteralSpool {
            dir,
            file: None,
            parts: Vec::new(),
        }
    }

    /// Whether parts are taken at all (a spool directory is configured).
    pub fn enabled(&self) -> bool {
        self.dir.is_some()
    }

    /// Bytes of the command or response being framed that are on disk.
    pub fn len(&self) -> u64 {
        self.parts.iter().map(|p| p.1 as u64).sum()
    }

    /// Whether no part of the command or response being framed is on disk.
    pub fn is_empty(&self) -> bool {
        self.file.is_none()
    }

    /// Moves a part taken from the framer (its position in the framed bytes, its bytes) to
    /// disk. Blocking file I/O: call it through [`crate::blocking`].
    pub fn write(&mut self, (pos, bytes): (usize, Vec<u8>)) -> io::Result<()> {
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

    /// The whole command or response: `framed` with the spooled parts put back, in one
    /// buffer of the final size (the file is read once, straight into it). Blocking file
    /// I/O: call it through [`crate::blocking`].
    pub fn complete(&mut self, framed: Vec<u8>) -> io::Result<Vec<u8>> {
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

    /// The command or response was dropped: forget its parts.
    pub fn clear(&mut self) {
        self.file = None;
        self.parts.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_put_back_at_their_positions() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = LiteralSpool::new(Some(dir.path().to_path_buf()));
        assert!(s.is_empty());
        // "A {6}\r\n" + "abc" taken at 7, "def" taken at 7 again, then "\r\n" remains.
        s.write((7, b"abc".to_vec())).unwrap();
        s.write((7, b"def".to_vec())).unwrap();
        assert_eq!(s.len(), 6);
        let whole = s.complete(b"A {6}\r\n\r\n".to_vec()).unwrap();
        assert_eq!(whole, b"A {6}\r\nabcdef\r\n");
        assert!(s.is_empty());
        // Nothing is left in the directory: the file had no name.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn without_a_directory_nothing_is_spooled() {
        let mut s = LiteralSpool::new(None);
        assert!(!s.enabled());
        s.write((0, b"x".to_vec())).unwrap();
        assert!(s.is_empty());
        assert_eq!(s.complete(b"y".to_vec()).unwrap(), b"y");
    }
}
