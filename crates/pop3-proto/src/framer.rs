//! POP3 line framing: bytes in, complete lines out, with a hard length limit.
//!
//! Implementation notes:
//! - RFC 2449 §4 limits a command line to 255 octets including CRLF. Real clients are sloppy
//!   (long user names, long SASL initial responses), so the limit is configurable and
//!   defaults to [`DEFAULT_MAX_LINE`] (1000 octets) — lenient but bounded.
//! - A line ends at LF; a CR before it is stripped. Bare LF is accepted (some clients send it).
//! - An over-long line is never buffered whole: once the buffer holds more than the limit
//!   without an LF, the bytes are dropped and the framer discards until the next LF, then
//!   reports [`Frame::TooLong`] once. The session answers `-ERR` and stays in sync with the
//!   client, whose next line is the next command.
//! - The framer is pure: feeding the same bytes in any chunking yields the same frames
//!   (checked by the chunk-size tests below).

/// Default longest line, CRLF included.
pub const DEFAULT_MAX_LINE: usize = 1000;

/// One framed unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A complete line without its CRLF / LF.
    Line(Vec<u8>),
    /// A line exceeded the limit and was discarded.
    TooLong,
}

/// Splits a byte stream into lines.
#[derive(Debug)]
pub struct LineFramer {
    buf: Vec<u8>,
    /// Bytes at the front of `buf` already searched for LF.
    scanned: usize,
    max: usize,
    discarding: bool,
}

impl LineFramer {
    pub fn new(max: usize) -> Self {
        LineFramer {
            buf: Vec::new(),
            scanned: 0,
            max: max.max(8),
            discarding: false,
        }
    }

    /// Changes the limit for lines not yet returned (SASL responses may be longer than
    /// commands).
    pub fn set_max(&mut self, max: usize) {
        self.max = max.max(8);
    }

    /// Bytes buffered but not yet returned as frames.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, if any.
    pub fn next_frame(&mut self) -> Option<Frame> {
        let Some(rel) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') else {
            if self.buf.len() > self.max {
                // Too long and still no end: drop what we have, keep discarding.
                self.buf.clear();
                self.discarding = true;
            }
            self.scanned = self.buf.len();
            return None;
        };
        let end = self.scanned + rel; // index of LF
        let mut line: Vec<u8> = self.buf.drain(..=end).collect();
        self.scanned = 0;
        if std::mem::take(&mut self.discarding) {
            return Some(Frame::TooLong);
        }
        if line.len() > self.max {
            return Some(Frame::TooLong);
        }
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(Frame::Line(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(f: &mut LineFramer) -> Vec<Frame> {
        std::iter::from_fn(|| f.next_frame()).collect()
    }

    fn line(s: &str) -> Frame {
        Frame::Line(s.as_bytes().to_vec())
    }

    #[test]
    fn known_answers() {
        let cases: &[(&[u8], Vec<Frame>)] = &[
            (b"", vec![]),
            (b"STAT", vec![]),
            (b"STAT\r\n", vec![line("STAT")]),
            (b"STAT\n", vec![line("STAT")]),
            (b"\r\n", vec![line("")]),
            (
                b"USER a\r\nPASS b c\r\nQUIT\r\n",
                vec![line("USER a"), line("PASS b c"), line("QUIT")],
            ),
            (b"A\rB\r\n", vec![line("A\rB")]),
        ];
        for (input, want) in cases {
            let mut f = LineFramer::new(100);
            f.feed(input);
            assert_eq!(&all(&mut f), want, "{input:?}");
        }
    }

    #[test]
    fn every_incomplete_prefix_yields_nothing() {
        let input = b"RETR 1\r\n";
        for n in 0..input.len() {
            let mut f = LineFramer::new(100);
            f.feed(&input[..n]);
            assert_eq!(f.next_frame(), None, "prefix {n}");
        }
    }

    #[test]
    fn too_long_recovers() {
        let mut f = LineFramer::new(16);
        let mut input = vec![b'x'; 100];
        input.extend_from_slice(b"\r\nNOOP\r\n");
        f.feed(&input);
        assert_eq!(all(&mut f), vec![Frame::TooLong, line("NOOP")]);
        // Exactly at the limit (CRLF included) is fine; one more is not.
        let mut f = LineFramer::new(16);
        f.feed(b"12345678901234\r\n123456789012345\r\n");
        assert_eq!(all(&mut f), vec![line("12345678901234"), Frame::TooLong]);
        // The buffer never holds much more than the limit.
        let mut f = LineFramer::new(16);
        for _ in 0..1000 {
            f.feed(b"yyyyyyyyyy");
            assert_eq!(f.next_frame(), None);
            assert!(f.buffered() <= 26);
        }
        f.feed(b"\nQUIT\n");
        assert_eq!(all(&mut f), vec![Frame::TooLong, line("QUIT")]);
    }

    /// The same stream split at 1, 2, 4 … 512 bytes gives the same frames.
    #[test]
    fn chunk_sizes() {
        let mut input = b"CAPA\r\nUSER someone@example.org\r\nPASS pass word\nSTAT\r\n".to_vec();
        input.extend(std::iter::repeat_n(b'z', 300));
        input.extend_from_slice(b"\r\nLIST 1\r\nQUIT\r\n");
        let mut whole = LineFramer::new(64);
        whole.feed(&input);
        let want = all(&mut whole);
        assert_eq!(want.len(), 7);
        let mut size = 1;
        while size <= 512 {
            let mut f = LineFramer::new(64);
            let mut got = Vec::new();
            for chunk in input.chunks(size) {
                f.feed(chunk);
                got.extend(all(&mut f));
            }
            assert_eq!(got, want, "chunk size {size}");
            size *= 2;
        }
    }
}
