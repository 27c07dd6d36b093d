//! Spooling large message bodies to disk while they arrive.
//!
//! Implementation notes:
//! - Once a DATA body or BDAT chunk being received holds [`SmtpConfig::spool_threshold`]
//!   bytes, the driver takes it from the framer ([`Framer::take_body`]) and appends it to an
//!   unnamed temporary file in [`SmtpConfig::spool_dir`] (`data_dir/tmp`), so an unfinished
//!   transfer costs the server disk, not memory, however many are in progress.
//! - The file has no name (`O_TMPFILE` where the system has it, else unlinked at once): it
//!   disappears with the connection or a crash, and is never seen by anyone else.
//! - BDAT chunks already received of a transaction that has not seen `LAST` are taken from
//!   the session the same way ([`Session::take_chunks`]) into a second file, and put back in
//!   front of the message when it is complete ([`Received::spooled`] says how much).
//! - When the body is complete it is read back and handed to the session whole (the parser,
//!   the SPF/DKIM/DMARC check and the store take a body in memory), but only under a permit
//!   of the server's [`MessageBudget`](pochta_net::MessageBudget) for [`Spool::held`] bytes,
//!   kept until the message is stored: many large messages completing at once wait for
//!   each other instead of multiplying memory. A body over the size limit is dropped with
//!   its file.
//!
//! [`SmtpConfig::spool_threshold`]: crate::SmtpConfig::spool_threshold
//! [`SmtpConfig::spool_dir`]: crate::SmtpConfig::spool_dir

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use pochta_smtp_proto::{Event, Framer};

use crate::session::{Received, Session};

/// The spool of one connection: at most one body at a time.
pub(crate) struct Spool {
    dir: Option<PathBuf>,
    threshold: usize,
    file: Option<(File, u64)>,
    /// Completed BDAT chunks of the transaction in progress, and their length.
    chunks: Option<File>,
    chunks_len: u64,
}

impl Spool {
    pub(crate) fn new(dir: Option<PathBuf>, threshold: usize) -> Self {
        Spool {
            dir,
            threshold: threshold.max(1),
            file: None,
            chunks: None,
            chunks_len: 0,
        }
    }

    /// Moves what the framer holds of a large body to disk.
    pub(crate) fn absorb(&mut self, framer: &mut Framer) -> io::Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let Some(part) = framer.take_body(self.threshold) else {
            return Ok(());
        };
        let (file, len) = match &mut self.file {
            Some(f) => f,
            None => self.file.insert((tempfile::tempfile_in(dir)?, 0)),
        };
        file.write_all(&part)?;
        *len += part.len() as u64;
        Ok(())
    }

    /// Whether part of a DATA body or BDAT chunk being received is on disk.
    pub(crate) fn holds_body(&self) -> bool {
        self.file.is_some()
    }

    /// Bytes on disk that the end of the body being received would read back: the body's
    /// and, for a BDAT transaction, its earlier chunks'.
    pub(crate) fn held(&self) -> u64 {
        let body = self.file.as_ref().map_or(0, |(_, len)| *len);
        let chunks = if self.chunks.is_some() {
            self.chunks_len
        } else {
            0
        };
        body + chunks
    }

    /// The BDAT chunks the session holds, once they are large, for [`Spool::keep_chunks`].
    pub(crate) fn take_chunks<S: pochta_store::MailStore>(
        &self,
        session: &mut Session<S>,
    ) -> Option<(u64, Vec<u8>)> {
        self.dir.as_ref()?;
        session.take_chunks(self.threshold)
    }

    /// Moves BDAT chunks taken with [`Spool::take_chunks`] to disk.
    pub(crate) fn keep_chunks(&mut self, (offset, bytes): (u64, Vec<u8>)) -> io::Result<()> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        if offset == 0 {
            // A new transaction: whatever an earlier one left is stale.
            self.chunks = Some(tempfile::tempfile_in(dir)?);
            self.chunks_len = 0;
        }
        let Some(f) = self.chunks.as_mut() else {
            return Err(io::Error::other("BDAT spool lost"));
        };
        f.write_all(&bytes)?;
        self.chunks_len += bytes.len() as u64;
        Ok(())
    }

    /// A complete message's body with its spooled chunks put back in front.
    pub(crate) fn message_body(&mut self, msg: &mut Received) -> io::Result<()> {
        if msg.spooled == 0 {
            return Ok(());
        }
        let mut f = self
            .chunks
            .take()
            .ok_or_else(|| io::Error::other("BDAT spool lost"))?;
        self.chunks_len = 0;
        let mut whole = Vec::with_capacity(msg.spooled as usize + msg.body.len());
        f.seek(SeekFrom::Start(0))?;
        f.read_to_end(&mut whole)?;
        if whole.len() as u64 != msg.spooled {
            return Err(io::Error::other("BDAT spool has the wrong size"));
        }
        whole.extend_from_slice(&msg.body);
        msg.body = whole;
        msg.spooled = 0;
        Ok(())
    }

    /// The event with its spooled beginning put back, for the end of a body or chunk.
    pub(crate) fn complete(&mut self, event: Event) -> io::Result<Event> {
        let rebuild = |file: Option<(File, u64)>, tail: Vec<u8>| -> io::Result<Vec<u8>> {
            let Some((mut f, len)) = file else {
                return Ok(tail);
            };
            let mut whole = Vec::with_capacity(len as usize + tail.len());
            f.seek(SeekFrom::Start(0))?;
            f.read_to_end(&mut whole)?;
            whole.extend_from_slice(&tail);
            Ok(whole)
        };
        Ok(match event {
            Event::Data(tail) => Event::Data(rebuild(self.file.take(), tail)?),
            Event::Chunk(tail) => Event::Chunk(rebuild(self.file.take(), tail)?),
            Event::DataTooBig | Event::ChunkDropped => {
                self.file = None;
                event
            }
            other => other,
        })
    }
}
