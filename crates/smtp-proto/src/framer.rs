//! The SMTP framer: bytes → command lines, DATA bodies and BDAT chunks.
//!
//! Implementation notes:
//! - Three modes. **Line**: a command line ends at LF (a CR before it is dropped; bare LF is
//!   tolerated in commands). **Data** (after `354`): lines are un-stuffed (a leading dot is
//!   removed, RFC 5321 §4.5.2) until the line `.` that follows a CRLF. **Bdat** (RFC 3030 §2):
//!   exactly the announced number of octets, taken as they are.
//! - Limits are hard: a command line longer than [`Limits::max_line`] yields
//!   [`Event::LineTooLong`] once and is skipped to its LF; a body or chunk over its limit is
//!   consumed and dropped, and reported at its end, so the session stays in sync.
//! - Memory: a line in Line mode is buffered up to the limit only; Data and Bdat move bytes
//!   to the body as they arrive, so the buffer never holds more than one read. The driver
//!   takes a large body away as it grows ([`Framer::take_body`]) to spool it to disk.
//! - The end of DATA is recognised only as `CRLF . CRLF`: a `.` line after a bare LF is data
//!   (and keeps its dot), which closes the SMTP smuggling hole.

/// Framing limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest command line (without CRLF). RFC 5321 §4.5.3.1.4 requires 512; AUTH responses
    /// can be 12288 (RFC 4954 §4).
    pub max_line: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 16 * 1024,
        }
    }
}

/// What the framer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A command line (or SASL response), without CRLF.
    Line(Vec<u8>),
    /// A line over the limit was skipped.
    LineTooLong,
    /// The DATA body ended; un-stuffed, with CRLF line ends, without the final `.` line.
    Data(Vec<u8>),
    /// The DATA body ended but was larger than allowed; its bytes were dropped.
    DataTooBig,
    /// A BDAT chunk was received whole.
    Chunk(Vec<u8>),
    /// A BDAT chunk was received but dropped (it would exceed the size limit).
    ChunkDropped,
}

#[derive(Debug)]
enum Mode {
    Line,
    /// Skipping the rest of an over-long line.
    Skip,
    Data {
        body: Vec<u8>,
        max: u64,
        size: u64,
        /// The previous byte consumed ended a line with CRLF (or DATA just began).
        line_start: bool,
        /// The last byte consumed was CR (for a CRLF split across reads).
        last_cr: bool,
    },
    Bdat {
        chunk: Vec<u8>,
        remaining: u64,
        keep: bool,
    },
}

/// Bytes in, events out. Feed with [`Framer::feed`], drain with [`Framer::next_event`].
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    start: usize,
    mode: Mode,
    limits: Limits,
}

impl Framer {
    pub fn new(limits: Limits) -> Self {
        Framer {
            buf: Vec::new(),
            start: 0,
            mode: Mode::Line,
            limits,
        }
    }

    /// Adds received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Whether unconsumed bytes are buffered (pipelined input; an early talker).
    pub fn has_pending(&self) -> bool {
        self.start < self.buf.len()
    }

    /// Starts receiving a DATA body of at most `max` bytes (after answering `354`).
    pub fn start_data(&mut self, max: u64) {
        self.mode = Mode::Data {
            body: Vec::new(),
            max,
            size: 0,
            line_start: true,
            last_cr: false,
        };
    }

    /// Starts receiving a BDAT chunk of `size` bytes; `keep == false` drops it (too big).
    pub fn start_bdat(&mut self, size: u64, keep: bool) {
        self.mode = Mode::Bdat {
            chunk: Vec::new(),
            remaining: size,
            keep,
        };
    }

    /// Whether a DATA body or BDAT chunk is being received.
    pub fn in_body(&self) -> bool {
        matches!(self.mode, Mode::Data { .. } | Mode::Bdat { .. })
    }

    /// Takes the body (DATA) or chunk (BDAT) received so far once it holds at least
    /// `at_least` bytes, so that the driver can spool it to disk while it arrives; the
    /// final [`Event::Data`] or [`Event::Chunk`] then carries only what came after. Sizes
    /// and limits are counted over the whole body as before.
    pub fn take_body(&mut self, at_least: usize) -> Option<Vec<u8>> {
        let body = match &mut self.mode {
            Mode::Data { body, .. } => body,
            Mode::Bdat {
                chunk, keep: true, ..
            } => chunk,
            _ => return None,
        };
        (!body.is_empty() && body.len() >= at_least).then(|| std::mem::take(body))
    }

    /// The next complete event, if the buffered bytes hold one.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            let pending = &self.buf[self.start..];
            match &mut self.mode {
                Mode::Line => match pending.iter().position(|&b| b == b'\n') {
                    Some(i) if i <= self.limits.max_line + 1 => {
                        let mut line = pending[..i].to_vec();
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                        self.start += i + 1;
                        if line.len() > self.limits.max_line {
                            return Some(Event::LineTooLong);
                        }
                        return Some(Event::Line(line));
                    }
                    Some(i) => {
                        self.start += i + 1;
                        return Some(Event::LineTooLong);
                    }
                    None if pending.len() > self.limits.max_line + 1 => {
                        self.start = self.buf.len();
                        self.mode = Mode::Skip;
                        return Some(Event::LineTooLong);
                    }
                    None => return None,
                },
                Mode::Skip => match pending.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        self.start += i + 1;
                        self.mode = Mode::Line;
                    }
                    None => {
                        self.start = self.buf.len();
                        return None;
                    }
                },
                Mode::Bdat {
                    chunk,
                    remaining,
                    keep,
                } => {
                    let take = (*remaining).min(pending.len() as u64) as usize;
                    if *keep {
                        chunk.extend_from_slice(&pending[..take]);
                    }
                    self.start += take;
                    *remaining -= take as u64;
                    if *remaining > 0 {
                        return None;
                    }
                    let ev = if *keep {
                        Event::Chunk(std::mem::take(chunk))
                    } else {
                        Event::ChunkDropped
                    };
                    self.mode = Mode::Line;
                    return Some(ev);
                }
                Mode::Data {
                    body,
                    max,
                    size,
                    line_start,
                    last_cr,
                } => {
                    if pending.is_empty() {
                        return None;
                    }
                    let (content, consumed, ends_line) =
                        match pending.iter().position(|&b| b == b'\n') {
                            Some(i) => {
                                let line = &pending[..=i];
                                let crlf = (i >= 1 && line[i - 1] == b'\r') || (i == 0 && *last_cr);
                                if *line_start && line == b".\r\n" {
                                    self.start += i + 1;
                                    let ev = if *size > *max {
                                        Event::DataTooBig
                                    } else {
                                        Event::Data(std::mem::take(body))
                                    };
                                    self.mode = Mode::Line;
                                    return Some(ev);
                                }
                                (line, i + 1, Some(crlf))
                            }
                            None => {
                                // A partial line. At a line start, wait until we know whether
                                // it is the end marker (".\r\n") or a stuffed dot.
                                if *line_start && pending[0] == b'.' && pending.len() < 3 {
                                    return None;
                                }
                                (pending, pending.len(), None)
                            }
                        };
                    let content = if *line_start && content.first() == Some(&b'.') {
                        &content[1..]
                    } else {
                        content
                    };
                    *size += content.len() as u64;
                    if *size <= *max {
                        body.extend_from_slice(content);
                    } else if !body.is_empty() {
                        *body = Vec::new();
                    }
                    *last_cr = content.last() == Some(&b'\r');
                    *line_start = ends_line == Some(true);
                    self.start += consumed;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in chunks of `n` bytes; `setup` switches modes after given lines.
    fn run(input: &[u8], n: usize, mut on_line: impl FnMut(&[u8], &mut Framer)) -> Vec<Event> {
        let mut f = Framer::new(Limits { max_line: 64 });
        let mut out = Vec::new();
        for chunk in input.chunks(n) {
            f.feed(chunk);
            while let Some(ev) = f.next_event() {
                if let Event::Line(l) = &ev {
                    on_line(l, &mut f);
                }
                out.push(ev);
            }
        }
        out
    }

    fn split_sizes() -> Vec<usize> {
        vec![1, 2, 3, 4, 5, 7, 8, 16, 32, 64, 128, 512, 4096]
    }

    fn data_switch(l: &[u8], f: &mut Framer) {
        if l == b"DATA" {
            f.start_data(1000);
        } else if let Some(n) = l.strip_prefix(b"BDAT ") {
            let n = std::str::from_utf8(n).unwrap();
            let n: u64 = n.split(' ').next().unwrap().parse().unwrap();
            f.start_bdat(n, n < 1000);
        }
    }

    #[test]
    fn taken_body_parts_and_the_end_make_the_whole() {
        let input =
            b"DATA\r\nSubject: x\r\n\r\n..dot\r\nmore text here\r\n.\r\nBDAT 10 LAST\r\n0123456789";
        for n in split_sizes() {
            let mut f = Framer::new(Limits { max_line: 64 });
            let (mut data, mut chunk, mut ends) = (Vec::new(), Vec::new(), 0);
            for part in input.chunks(n) {
                f.feed(part);
                while let Some(ev) = f.next_event() {
                    match ev {
                        Event::Line(l) => data_switch(&l, &mut f),
                        Event::Data(tail) => {
                            data.extend_from_slice(&tail);
                            ends += 1;
                        }
                        Event::Chunk(tail) => {
                            chunk.extend_from_slice(&tail);
                            ends += 1;
                        }
                        ev => panic!("{ev:?}"),
                    }
                }
                if let Some(p) = f.take_body(4) {
                    if chunk.is_empty() && ends == 0 {
                        data.extend_from_slice(&p);
                    } else {
                        chunk.extend_from_slice(&p);
                    }
                }
            }
            assert_eq!(ends, 2, "split {n}");
            assert_eq!(
                data, b"Subject: x\r\n\r\n.dot\r\nmore text here\r\n",
                "split {n}"
            );
            assert_eq!(chunk, b"0123456789", "split {n}");
        }
    }

    #[test]
    fn lines_every_split() {
        let input = b"EHLO a\r\nMAIL FROM:<a@b>\nNOOP\r\n";
        for n in split_sizes() {
            assert_eq!(
                run(input, n, |_, _| {}),
                vec![
                    Event::Line(b"EHLO a".to_vec()),
                    Event::Line(b"MAIL FROM:<a@b>".to_vec()),
                    Event::Line(b"NOOP".to_vec()),
                ],
                "split {n}"
            );
        }
    }

    #[test]
    fn data_unstuffing_every_split() {
        let input =
            b"DATA\r\nSubject: x\r\n\r\n..dot\r\n.\r\nline\n.\nafter bare lf\r\n.\r\nQUIT\r\n";
        for n in split_sizes() {
            assert_eq!(
                run(input, n, data_switch),
                vec![
                    Event::Line(b"DATA".to_vec()),
                    Event::Data(b"Subject: x\r\n\r\n.dot\r\n".to_vec()),
                    Event::Line(b"line".to_vec()),
                    Event::Line(b".".to_vec()),
                    Event::Line(b"after bare lf".to_vec()),
                    Event::Line(b".".to_vec()),
                    Event::Line(b"QUIT".to_vec()),
                ],
                "split {n}"
            );
        }
    }

    #[test]
    fn smuggling_is_data() {
        let input = b"DATA\r\na\n.\nMAIL FROM:<x@y>\r\nb\r\n.\r\n";
        for n in split_sizes() {
            assert_eq!(
                run(input, n, data_switch),
                vec![
                    Event::Line(b"DATA".to_vec()),
                    Event::Data(b"a\n.\nMAIL FROM:<x@y>\r\nb\r\n".to_vec()),
                ],
                "split {n}"
            );
        }
    }

    #[test]
    fn empty_data_and_dot_lines() {
        let input = b"DATA\r\n.\r\nDATA\r\n...\r\n.x\r\n.\r\n";
        for n in split_sizes() {
            assert_eq!(
                run(input, n, data_switch),
                vec![
                    Event::Line(b"DATA".to_vec()),
                    Event::Data(Vec::new()),
                    Event::Line(b"DATA".to_vec()),
                    Event::Data(b"..\r\nx\r\n".to_vec()),
                ],
                "split {n}"
            );
        }
    }

    #[test]
    fn data_too_big_stays_in_sync() {
        let mut input = b"DATA\r\n".to_vec();
        for _ in 0..100 {
            input.extend_from_slice(b"0123456789012345678901234567890123456789\r\n");
        }
        input.extend_from_slice(b".\r\nNOOP\r\n");
        for n in split_sizes() {
            assert_eq!(
                run(&input, n, data_switch),
                vec![
                    Event::Line(b"DATA".to_vec()),
                    Event::DataTooBig,
                    Event::Line(b"NOOP".to_vec()),
                ],
                "split {n}"
            );
        }
    }

    #[test]
    fn bdat_chunks() {
        let input = b"BDAT 5\r\nab\r\ncBDAT 0 LAST\r\nBDAT 2000\r\nNOOP\r\n";
        let mut tail = input.to_vec();
        tail.extend(std::iter::repeat_n(b'x', 2000 - 6));
        tail.extend_from_slice(b"QUIT\r\n");
        for n in split_sizes() {
            assert_eq!(
                run(&tail, n, data_switch),
                vec![
                    Event::Line(b"BDAT 5".to_vec()),
                    Event::Chunk(b"ab\r\nc".to_vec()),
                    Event::Line(b"BDAT 0 LAST".to_vec()),
                    Event::Chunk(Vec::new()),
                    Event::Line(b"BDAT 2000".to_vec()),
                    Event::ChunkDropped,
                    Event::Line(b"QUIT".to_vec()),
                ],
                "split {n}"
            );
        }
    }

    #[test]
    fn long_line_skipped_once() {
        let mut input = vec![b'A'; 200];
        input.extend_from_slice(b"\r\nNOOP\r\n");
        for n in split_sizes() {
            assert_eq!(
                run(&input, n, |_, _| {}),
                vec![Event::LineTooLong, Event::Line(b"NOOP".to_vec())],
                "split {n}"
            );
        }
    }
}
