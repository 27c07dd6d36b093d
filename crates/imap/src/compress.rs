//! COMPRESS=DEFLATE (RFC 4978): the command, and raw DEFLATE (no zlib header) in both
//! directions.
//!
//! Implementation notes:
//! - The tagged OK goes out uncompressed; compression starts right after it (RFC 4978 §3).
//! - Each write is compressed and ended with a sync flush (RFC 4978 §4: the server must flush
//!   after each response so the client can decompress it without waiting for more).
//! - Decompression output is bounded per call by what the framer accepts anyway; a stream
//!   that expands hugely is still cut into command-sized pieces by the framer's limits.

use std::io;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use pochta_imap_proto::response::Code;
use pochta_store::MailStore;

use crate::session::{Done, Next, Res, Session, bad, no};

impl<S: MailStore> Session<S> {
    pub(crate) fn compress(&mut self, mech: &str) -> Res {
        if self.compressed {
            return Err(no(Code::CompressionActive, "compression is already active"));
        }
        if mech != "DEFLATE" {
            return Err(bad(format!("unknown compression mechanism {mech}")));
        }
        self.compressed = true;
        Ok(Done {
            code: None,
            text: "DEFLATE active".into(),
            next: Next::Compress,
        })
    }
}

/// The two DEFLATE streams of one connection.
pub struct Deflate {
    c: Compress,
    d: Decompress,
}

impl Default for Deflate {
    fn default() -> Self {
        Self {
            // Level 6 is zlib's default; raw DEFLATE (`false`: no zlib header).
            c: Compress::new(Compression::new(6), false),
            d: Decompress::new(false),
        }
    }
}

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl Deflate {
    /// Compress `input` and sync-flush.
    pub fn compress(&mut self, input: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        let start = self.c.total_in();
        loop {
            let consumed = (self.c.total_in() - start) as usize;
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(64));
            }
            let before_out = self.c.total_out();
            self.c
                .compress_vec(&input[consumed..], &mut out, FlushCompress::Sync)
                .map_err(err)?;
            let all_in = (self.c.total_in() - start) as usize == input.len();
            // Done when all input is in and the flush left spare room (nothing pending).
            if all_in && out.len() < out.capacity() && self.c.total_out() >= before_out {
                return Ok(out);
            }
        }
    }

    /// Decompress what arrived.
    pub fn decompress(&mut self, input: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(input.len() * 3 + 64);
        let start = self.d.total_in();
        loop {
            let consumed = (self.d.total_in() - start) as usize;
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(256));
            }
            let status = self
                .d
                .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
                .map_err(err)?;
            let all_in = (self.d.total_in() - start) as usize == input.len();
            if status == Status::StreamEnd {
                return Ok(out);
            }
            if all_in && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_pieces() {
        let mut server = Deflate::default();
        let mut client = Deflate::default();
        let text: Vec<u8> = (0..50_000u32)
            .flat_map(|i| format!("* {i} FETCH (FLAGS (\\Seen))\r\n").into_bytes())
            .collect();
        let wire = server.compress(&text).unwrap();
        assert!(wire.len() < text.len() / 5);
        let mut got = Vec::new();
        for chunk in wire.chunks(7) {
            got.extend(client.decompress(chunk).unwrap());
        }
        assert_eq!(got, text);
        // A second message on the same stream.
        let wire = server.compress(b"a OK done\r\n").unwrap();
        assert_eq!(client.decompress(&wire).unwrap(), b"a OK done\r\n");
        // Block type 3 is invalid in DEFLATE (RFC 1951 §3.2.3).
        assert!(Deflate::default().decompress(&[0x07, 0, 0]).is_err());
    }
}
