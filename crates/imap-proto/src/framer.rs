//! Incremental IMAP command framer: lines plus literals, with hard limits.
//!
//! Implementation notes:
//! - The framer is fed arbitrary chunks ([`Framer::feed`]) and pulled for [`Event`]s
//!   ([`Framer::next_event`]); `None` means "need more bytes" (or "waiting for the driver's
//!   decision on a synchronizing literal"). The events do not depend on how the input was
//!   split into chunks.
//! - A complete command ([`FramedCommand`]) is one buffer in wire form: each line followed by
//!   `CRLF`, each literal's bytes directly after the line that announced it. Lines ending in a
//!   bare `LF` are accepted and normalised to `CRLF` (robustness principle), so the parser only
//!   ever sees `CRLF`.
//! - Synchronizing literal `{n}` (RFC 9051 §4.3): the framer reports
//!   [`Event::LiteralAnnounced`] *before* reading any literal byte and then waits. The driver
//!   checks its own limits and either calls [`Framer::accept_literal`] and sends
//!   `+ Ready for literal data`, or calls [`Framer::reject_literal`] and answers the tag with
//!   `NO [TOOBIG]`/`BAD`; the client then sends no literal, so the framer drops the command and
//!   takes the next line as a new command. A literal above [`Limits::max_literal`] is refused
//!   by the framer itself ([`FrameErrorKind::LiteralTooBig`]) with no decision asked.
//! - Non-synchronizing literal `{n+}` (RFC 7888 §3): read at once. If it breaks a limit the
//!   framer reports the error immediately, then reads and discards the `n` bytes and the rest of
//!   the command (RFC 7888 §4), so the session stays in sync.
//! - `~{n}` (literal8, RFC 3516 §4.3) is framed like `{n}`; its kind is reported.
//! - After any error the rest of the command is discarded; framing resumes at the next line
//!   that starts a command. An over-long line is dropped up to its `LF`.
//! - Raw-line mode ([`Framer::expect_line`]) is one-shot: the next line is returned as
//!   [`Event::Line`] with no literal processing (AUTHENTICATE continuations, IDLE's `DONE`).
//! - Empty lines between commands are ignored.
//! - Memory: the framer holds at most one line (≤ `max_line`) of unparsed input beyond what
//!   was fed, plus the current command (≤ `max_command`). Its lines together are at most
//!   `max_text`; a driver that spools literals ([`Framer::take_literal`], with
//!   [`Framer::held`] telling how much is in memory) can so bound what one command holds in
//!   memory far below `max_command`.

use crate::core::{Tag, is_tag_char};

/// How much of the end of an over-long line is kept to look for a literal announcement.
const TAIL: usize = 32;

/// Hard limits; all configurable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest line (without CRLF).
    pub max_line: usize,
    /// Largest single literal.
    pub max_literal: u64,
    /// Largest command: all lines and literals together.
    pub max_command: u64,
    /// Most literals in one command (MULTIAPPEND sends one per message).
    pub max_literals: usize,
    /// Largest text of one command: its lines (with their CRLFs) together, literals not
    /// counted. Lines cannot be spooled, so this bounds what a command whose literals go to
    /// disk still holds in memory (at most `max_literals` lines of `max_line` otherwise).
    pub max_text: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 64 * 1024,
            max_literal: 64 * 1024 * 1024,
            max_command: 128 * 1024 * 1024,
            max_literals: 1000,
            max_text: 128 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// The much smaller budget before authentication: nothing a client needs before login
    /// comes near it, and no literal or AUTHENTICATE of any size can be sent before the
    /// server knows who is sending. The largest such command is an ID (RFC 2971 §3.3: 30
    /// pairs of at most 30-octet fields and 1024-octet values, about 32 KiB on one line;
    /// imaptest's `id` group sends one before login), hence the line and command budget.
    pub const PRE_AUTH: Limits = Limits {
        max_line: 40 * 1024,
        max_literal: 8 * 1024,
        max_command: 48 * 1024,
        max_literals: 16,
        max_text: 48 * 1024,
    };
}

/// How a literal was announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LiteralKind {
    /// `{n}`: the client waits for a continuation request.
    Sync,
    /// `{n+}` (LITERAL+, RFC 7888); `{n-}` (LITERAL-) is treated the same.
    NonSync,
    /// `~{n}` (literal8, RFC 3516), synchronizing.
    Binary,
    /// `~{n+}`, non-synchronizing literal8.
    BinaryNonSync,
}

impl LiteralKind {
    /// Whether the client waits for `+` before sending the bytes.
    pub fn is_sync(self) -> bool {
        matches!(self, LiteralKind::Sync | LiteralKind::Binary)
    }
    /// Whether this is a literal8.
    pub fn is_binary(self) -> bool {
        matches!(self, LiteralKind::Binary | LiteralKind::BinaryNonSync)
    }
}

/// One complete command in wire form (see the module notes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramedCommand {
    /// Lines with `CRLF` and literal bytes, in order.
    pub bytes: Vec<u8>,
    /// The tag, if the first token was a valid tag.
    pub tag: Option<Tag>,
    /// How many literals the command carries.
    pub literals: usize,
}

/// What a framing error was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameErrorKind {
    /// A line longer than [`Limits::max_line`].
    LineTooLong,
    /// A literal over [`Limits::max_literal`] or one that would make the command exceed
    /// [`Limits::max_command`]. For a synchronizing literal no byte was read; for a
    /// non-synchronizing one the bytes are being discarded. Answer `NO [TOOBIG]` or `BAD`.
    LiteralTooBig { size: u64, kind: LiteralKind },
    /// Lines together over [`Limits::max_text`], or with the literals over
    /// [`Limits::max_command`].
    CommandTooBig,
    /// More than [`Limits::max_literals`] literals.
    TooManyLiterals,
}

/// A framing error; the command it belongs to is discarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    /// The command's tag, when the first token was one.
    pub tag: Option<Tag>,
    pub kind: FrameErrorKind,
}

/// What the framer has for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete command: parse it with [`crate::parse_command`].
    Command(FramedCommand),
    /// A synchronizing literal of `size` bytes was announced for `tag`. Call
    /// [`Framer::accept_literal`] (then send `+ ...`) or [`Framer::reject_literal`] (then answer
    /// the tag); until then `next_event` returns `None`.
    LiteralAnnounced {
        tag: Option<Tag>,
        /// The command name (second token, upper-cased), e.g. `APPEND`, when readable.
        command: Option<String>,
        size: u64,
        kind: LiteralKind,
    },
    /// A raw line (without line ending) requested with [`Framer::expect_line`].
    Line(Vec<u8>),
    /// A framing error; the rest of that command is discarded.
    Error(FrameError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Line,
    AwaitDecision { size: u64 },
    Literal { remaining: u64 },
}

/// The incremental framer. See the module notes for the protocol.
#[derive(Debug)]
pub struct Framer {
    limits: Limits,
    buf: Vec<u8>,
    /// Bytes of `buf` before `start` are consumed.
    start: usize,
    /// Where to resume the search for `LF` (absolute index into `buf`).
    scan: usize,
    state: State,
    /// The current command has at least one line.
    in_command: bool,
    cmd: Vec<u8>,
    cmd_tag: Option<Tag>,
    cmd_name: Option<String>,
    cmd_size: u64,
    /// Bytes of the current command's lines (see [`Limits::max_text`]).
    text_size: u64,
    literals: usize,
    /// The current command is being dropped (its error was already reported).
    discarding: bool,
    /// Bytes of the literal being read that are at the end of `cmd` (see `take_literal`).
    lit_bytes: usize,
    /// Dropping an over-long line up to its `LF`.
    skip_line: bool,
    /// The last bytes of the line being skipped.
    skip_tail: Vec<u8>,
    raw_line: bool,
}

impl Default for Framer {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

impl Framer {
    pub fn new(limits: Limits) -> Self {
        Framer {
            limits,
            buf: Vec::new(),
            start: 0,
            scan: 0,
            state: State::Line,
            in_command: false,
            cmd: Vec::new(),
            cmd_tag: None,
            cmd_name: None,
            cmd_size: 0,
            text_size: 0,
            literals: 0,
            discarding: false,
            lit_bytes: 0,
            skip_line: false,
            skip_tail: Vec::new(),
            raw_line: false,
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Change the limits, e.g. from [`Limits::PRE_AUTH`] to the full ones after login. They
    /// apply to what is framed from now on.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Add received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.scan -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes fed but not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Whether the framer waits for [`Framer::accept_literal`] / [`Framer::reject_literal`].
    pub fn awaiting_decision(&self) -> bool {
        matches!(self.state, State::AwaitDecision { .. })
    }

    /// While a literal is being read: once at least `at_least` of its bytes are held, take
    /// them out of the command, so that the driver can spool them to disk. Returns where they
    /// belong in the command's bytes as the framer will hand them over (which lack every part
    /// taken): the driver puts each part back at its position, in order.
    pub fn take_literal(&mut self, at_least: usize) -> Option<(usize, Vec<u8>)> {
        if !self.in_literal() || self.discarding || self.lit_bytes == 0 {
            return None;
        }
        if self.lit_bytes < at_least {
            return None;
        }
        let pos = self.cmd.len() - self.lit_bytes;
        self.lit_bytes = 0;
        Some((pos, self.cmd.split_off(pos)))
    }

    /// Bytes of the current command held in memory (what [`Framer::take_literal`] took is
    /// not counted).
    pub fn held(&self) -> usize {
        self.cmd.len()
    }

    /// Whether the bytes of a literal are being read (or discarded).
    pub fn in_literal(&self) -> bool {
        matches!(self.state, State::Literal { .. })
    }

    /// Take the next line raw (one-shot), e.g. an AUTHENTICATE response or IDLE's `DONE`.
    /// Only meaningful between commands.
    pub fn expect_line(&mut self) {
        self.raw_line = true;
    }

    /// Accept the announced synchronizing literal; the driver now sends the continuation.
    pub fn accept_literal(&mut self) {
        if let State::AwaitDecision { size } = self.state {
            self.cmd_size += size;
            self.state = State::Literal { remaining: size };
        }
    }

    /// Refuse the announced synchronizing literal; the command is dropped and the driver
    /// answers its tag. The client will not send the literal.
    pub fn reject_literal(&mut self) {
        if let State::AwaitDecision { .. } = self.state {
            self.reset_command();
        }
    }

    fn reset_command(&mut self) {
        self.state = State::Line;
        self.in_command = false;
        self.cmd.clear();
        self.cmd_tag = None;
        self.cmd_name = None;
        self.cmd_size = 0;
        self.text_size = 0;
        self.literals = 0;
        self.discarding = false;
        self.lit_bytes = 0;
    }

    fn fail(&mut self, kind: FrameErrorKind) -> Event {
        self.discarding = true;
        self.cmd.clear();
        Event::Error(FrameError {
            tag: self.cmd_tag.clone(),
            kind,
        })
    }

    /// The next event, or `None` if more input (or a literal decision) is needed.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            match self.state {
                State::AwaitDecision { .. } => return None,
                State::Literal { remaining } => {
                    let avail = (self.buf.len() - self.start) as u64;
                    if avail == 0 {
                        return None;
                    }
                    let take = avail.min(remaining) as usize;
                    if !self.discarding {
                        self.cmd
                            .extend_from_slice(&self.buf[self.start..self.start + take]);
                        self.lit_bytes += take;
                    }
                    self.start += take;
                    self.scan = self.scan.max(self.start);
                    let remaining = remaining - take as u64;
                    self.state = if remaining == 0 {
                        self.lit_bytes = 0;
                        State::Line
                    } else {
                        State::Literal { remaining }
                    };
                }
                State::Line => {
                    let from = self.scan.max(self.start);
                    let Some(lf) = self.buf[from..].iter().position(|&b| b == b'\n') else {
                        self.scan = self.buf.len();
                        if self.skip_line {
                            self.keep_tail(self.buf.len());
                            return None;
                        }
                        // +1: the CR may already be here.
                        if self.buf.len() - self.start > self.limits.max_line + 1 {
                            let ev = self.long_line();
                            self.skip_line = true;
                            self.keep_tail(self.buf.len());
                            return ev;
                        }
                        return None;
                    };
                    let lf = from + lf;
                    if self.skip_line {
                        self.keep_tail(lf);
                        self.start = lf + 1;
                        self.scan = self.start;
                        self.skip_line = false;
                        if self.skip_tail.last() == Some(&b'\r') {
                            self.skip_tail.pop();
                        }
                        let excess = self.skip_tail.len().saturating_sub(TAIL);
                        self.skip_tail.drain(..excess);
                        let lit = literal_suffix(&self.skip_tail);
                        self.skip_tail.clear();
                        self.end_discarded_line(lit);
                        continue;
                    }
                    let s = self.start;
                    self.start = lf + 1;
                    self.scan = self.start;
                    let mut e = lf;
                    if e > s && self.buf[e - 1] == b'\r' {
                        e -= 1;
                    }
                    if e - s > self.limits.max_line {
                        let saved = self.start;
                        self.start = s;
                        let ev = self.long_line();
                        self.start = saved;
                        // Look at the same tail as the chunked path does.
                        let lit = literal_suffix(&self.buf[e.saturating_sub(TAIL).max(s)..e]);
                        self.end_discarded_line(lit);
                        if ev.is_some() {
                            return ev;
                        }
                        continue;
                    }
                    if let Some(ev) = self.on_line(s, e) {
                        return Some(ev);
                    }
                }
            }
        }
    }

    /// Move `buf[start..end]` into the tail of the line being skipped (the last [`TAIL`] bytes
    /// plus a possible CR are kept, to see whether the line announced a literal).
    fn keep_tail(&mut self, end: usize) {
        self.skip_tail.extend_from_slice(&self.buf[self.start..end]);
        let excess = self.skip_tail.len().saturating_sub(TAIL + 1);
        self.skip_tail.drain(..excess);
        self.start = end;
    }

    /// A line over the limit starts at `self.start`: report it (once per command).
    fn long_line(&mut self) -> Option<Event> {
        if !self.in_command {
            self.in_command = true;
            // Only the first `max_line + 2` bytes: that much is always there, however the line
            // was chunked, so the tag reported does not depend on the chunking.
            let end = self.buf.len().min(self.start + self.limits.max_line + 2);
            self.cmd_tag = if self.raw_line {
                None
            } else {
                tag_of(&self.buf[self.start..end])
            };
            self.raw_line = false;
        }
        if self.discarding {
            return None;
        }
        Some(self.fail(FrameErrorKind::LineTooLong))
    }

    /// A line of a discarded command ended: follow a non-synchronizing literal, else the
    /// command is over.
    fn end_discarded_line(&mut self, literal: Option<(u64, LiteralKind)>) {
        match literal {
            Some((n, k)) if !k.is_sync() => self.state = State::Literal { remaining: n },
            _ => self.reset_command(),
        }
    }

    fn on_line(&mut self, s: usize, e: usize) -> Option<Event> {
        if !self.in_command {
            if self.raw_line {
                self.raw_line = false;
                return Some(Event::Line(self.buf[s..e].to_vec()));
            }
            if s == e {
                return None;
            }
            self.in_command = true;
            self.cmd_tag = tag_of(&self.buf[s..e]);
            self.cmd_name = name_of(&self.buf[s..e]);
        }
        let line_len = (e - s) as u64 + 2;
        self.cmd_size += line_len;
        self.text_size += line_len;
        let literal = literal_suffix(&self.buf[s..e]);
        if !self.discarding {
            if self.cmd_size > self.limits.max_command || self.text_size > self.limits.max_text {
                let ev = self.fail(FrameErrorKind::CommandTooBig);
                if literal.is_none_or(|(_, k)| k.is_sync()) {
                    self.reset_command();
                } else if let Some((n, _)) = literal {
                    self.state = State::Literal { remaining: n };
                }
                return Some(ev);
            }
            self.cmd.extend_from_slice(&self.buf[s..e]);
            self.cmd.extend_from_slice(b"\r\n");
        }
        let Some((size, kind)) = literal else {
            // End of command.
            if self.discarding {
                self.reset_command();
                return None;
            }
            let cmd = FramedCommand {
                bytes: std::mem::take(&mut self.cmd),
                tag: self.cmd_tag.take(),
                literals: self.literals,
            };
            self.reset_command();
            return Some(Event::Command(cmd));
        };
        self.literals += 1;
        if self.discarding {
            if kind.is_sync() {
                // We never send `+`, so the client sends nothing more for this command.
                self.reset_command();
            } else {
                self.state = State::Literal { remaining: size };
            }
            return None;
        }
        let error = if self.literals > self.limits.max_literals {
            Some(FrameErrorKind::TooManyLiterals)
        } else if size > self.limits.max_literal
            || self.cmd_size.saturating_add(size) > self.limits.max_command
        {
            Some(FrameErrorKind::LiteralTooBig { size, kind })
        } else {
            None
        };
        if let Some(kind_err) = error {
            let ev = self.fail(kind_err);
            if kind.is_sync() {
                self.reset_command();
            } else {
                self.state = State::Literal { remaining: size };
            }
            return Some(ev);
        }
        if kind.is_sync() {
            self.state = State::AwaitDecision { size };
            Some(Event::LiteralAnnounced {
                tag: self.cmd_tag.clone(),
                command: self.cmd_name.clone(),
                size,
                kind,
            })
        } else {
            self.cmd_size += size;
            self.state = State::Literal { remaining: size };
            None
        }
    }
}

/// The tag: the bytes before the first space, if they form a valid tag and a space follows
/// (requiring the space makes the answer the same for a whole line and for its first part).
fn tag_of(line: &[u8]) -> Option<Tag> {
    let end = line.iter().position(|&b| !is_tag_char(b))?;
    if line[end] != b' ' {
        return None;
    }
    Tag::new(&line[..end])
}

/// The command name: the second token, upper-cased, alphabetic only.
fn name_of(line: &[u8]) -> Option<String> {
    let sp = line.iter().position(|&b| b == b' ')?;
    let rest = &line[sp + 1..];
    let end = rest
        .iter()
        .position(|b| !b.is_ascii_alphabetic())
        .unwrap_or(rest.len());
    if end == 0 || end > 16 {
        return None;
    }
    Some(String::from_utf8_lossy(&rest[..end]).to_ascii_uppercase())
}

/// If the line ends with a literal announcement (`{n}`, `{n+}`, `{n-}`, `~{n}`, `~{n+}`),
/// its size and kind. An absurd size saturates to `u64::MAX` (and is refused by the limits).
pub(crate) fn literal_suffix(line: &[u8]) -> Option<(u64, LiteralKind)> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let mut digits = &body[open + 1..];
    let nonsync = match digits.last() {
        Some(b'+') | Some(b'-') => {
            digits = &digits[..digits.len() - 1];
            true
        }
        _ => false,
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let size = digits.iter().fold(0u64, |acc, &d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    let binary = open > 0 && body[open - 1] == b'~';
    let kind = match (binary, nonsync) {
        (false, false) => LiteralKind::Sync,
        (false, true) => LiteralKind::NonSync,
        (true, false) => LiteralKind::Binary,
        (true, true) => LiteralKind::BinaryNonSync,
    };
    Some((size, kind))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(f: &mut Framer) -> Vec<Event> {
        let mut out = Vec::new();
        while let Some(ev) = f.next_event() {
            if let Event::LiteralAnnounced { .. } = ev {
                f.accept_literal();
            }
            out.push(ev);
        }
        out
    }

    #[test]
    fn simple_and_literal() {
        let mut f = Framer::default();
        f.feed(b"a1 NOOP\r\na2 LOGIN {3}\r\nbob {4+}\r\npass\r\n");
        let ev = events(&mut f);
        assert_eq!(ev.len(), 3);
        assert!(matches!(&ev[0], Event::Command(c) if c.bytes == b"a1 NOOP\r\n"));
        assert!(
            matches!(&ev[1], Event::LiteralAnnounced { size: 3, command: Some(c), .. } if c == "LOGIN")
        );
        assert!(
            matches!(&ev[2], Event::Command(c) if c.bytes == b"a2 LOGIN {3}\r\nbob {4+}\r\npass\r\n" && c.literals == 2)
        );
    }

    #[test]
    fn taken_literal_parts_put_back_make_the_command() {
        let input = b"a APPEND INBOX {10+}\r\n0123456789 {6+}\r\nabcdef\r\nb NOOP\r\n";
        for n in 1..=input.len() {
            let mut f = Framer::default();
            let mut parts: Vec<(usize, Vec<u8>)> = Vec::new();
            let mut cmds = Vec::new();
            for chunk in input.chunks(n) {
                f.feed(chunk);
                while let Some(ev) = f.next_event() {
                    let Event::Command(c) = ev else {
                        panic!("{ev:?}")
                    };
                    let mut whole = Vec::new();
                    let mut at = 0;
                    for (pos, bytes) in parts.drain(..) {
                        whole.extend_from_slice(&c.bytes[at..pos]);
                        whole.extend_from_slice(&bytes);
                        at = pos;
                    }
                    whole.extend_from_slice(&c.bytes[at..]);
                    cmds.push(whole);
                }
                if let Some(p) = f.take_literal(3) {
                    parts.push(p);
                }
            }
            assert_eq!(
                cmds,
                vec![
                    b"a APPEND INBOX {10+}\r\n0123456789 {6+}\r\nabcdef\r\n".to_vec(),
                    b"b NOOP\r\n".to_vec()
                ],
                "split {n}"
            );
        }
    }

    #[test]
    fn rejected_literal_resyncs() {
        let mut f = Framer::default();
        f.feed(b"a APPEND x {999}\r\nb NOOP\r\n");
        assert!(matches!(
            f.next_event(),
            Some(Event::LiteralAnnounced { size: 999, .. })
        ));
        assert_eq!(f.next_event(), None);
        f.reject_literal();
        assert!(matches!(f.next_event(), Some(Event::Command(c)) if c.bytes == b"b NOOP\r\n"));
    }

    #[test]
    fn oversized_nonsync_literal_is_discarded() {
        let mut f = Framer::new(Limits {
            max_literal: 3,
            ..Limits::default()
        });
        f.feed(b"a APPEND x {5+}\r\nhello more {2+}\r\nxx\r\nb NOOP\r\n");
        let ev = events(&mut f);
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert!(
            matches!(&ev[0], Event::Error(FrameError { tag: Some(t), kind: FrameErrorKind::LiteralTooBig { size: 5, .. } }) if t.as_str() == "a")
        );
        assert!(matches!(&ev[1], Event::Command(c) if c.bytes == b"b NOOP\r\n"));
    }

    #[test]
    fn text_over_max_text_is_refused_and_the_next_command_framed() {
        let mut f = Framer::new(Limits {
            max_text: 40,
            ..Limits::default()
        });
        // Lines of 20, 12, 12 and 2 octets with their CRLFs (46 > 40); literals do not count.
        f.feed(b"a SEARCH TEXT {3+}\r\nabc TEXT {3+}\r\nabc TEXT {3+}\r\nabc\r\nb NOOP\r\n");
        let ev = events(&mut f);
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert!(
            matches!(&ev[0], Event::Error(FrameError { tag: Some(t), kind: FrameErrorKind::CommandTooBig }) if t.as_str() == "a")
        );
        assert!(matches!(&ev[1], Event::Command(c) if c.bytes == b"b NOOP\r\n"));
        // Under the limit, with the same literals, the command is framed whole.
        let mut f = Framer::new(Limits {
            max_text: 60,
            ..Limits::default()
        });
        f.feed(b"a SEARCH TEXT {3+}\r\nabc TEXT {3+}\r\nabc TEXT {3+}\r\nabc\r\n");
        let ev = events(&mut f);
        assert!(
            matches!(&ev[..], [Event::Command(c)] if c.bytes.len() == 55),
            "{ev:?}"
        );
    }

    #[test]
    fn held_counts_what_take_literal_left() {
        let mut f = Framer::default();
        f.feed(b"a APPEND x {10}\r\n");
        assert!(matches!(
            f.next_event(),
            Some(Event::LiteralAnnounced { .. })
        ));
        f.accept_literal();
        f.feed(b"0123456");
        assert!(f.next_event().is_none());
        assert_eq!(f.held(), 17 + 7);
        let (pos, part) = f.take_literal(1).expect("part");
        assert_eq!((pos, part.as_slice()), (17, &b"0123456"[..]));
        assert_eq!(f.held(), 17);
    }

    #[test]
    fn long_line_recovers() {
        let mut f = Framer::new(Limits {
            max_line: 10,
            ..Limits::default()
        });
        f.feed(b"t1 NOOP aaaaaaaaaaaaaaaaaa");
        assert!(matches!(
            f.next_event(),
            Some(Event::Error(FrameError {
                kind: FrameErrorKind::LineTooLong,
                ..
            }))
        ));
        f.feed(b"aaaaaaaaaa\r\nt2 NOOP\r\n");
        assert!(matches!(f.next_event(), Some(Event::Command(c)) if c.bytes == b"t2 NOOP\r\n"));
    }

    #[test]
    fn raw_line_mode() {
        let mut f = Framer::default();
        f.feed(b"DONE\r\nx {3}\r\n");
        f.expect_line();
        assert_eq!(f.next_event(), Some(Event::Line(b"DONE".to_vec())));
        f.expect_line();
        assert_eq!(f.next_event(), Some(Event::Line(b"x {3}".to_vec())));
    }

    #[test]
    fn suffixes() {
        assert_eq!(literal_suffix(b"a {12}"), Some((12, LiteralKind::Sync)));
        assert_eq!(
            literal_suffix(b"a ~{0+}"),
            Some((0, LiteralKind::BinaryNonSync))
        );
        assert_eq!(literal_suffix(b"a {x}"), None);
        assert_eq!(literal_suffix(b"a {}"), None);
        assert_eq!(
            literal_suffix(b"{99999999999999999999999}"),
            Some((u64::MAX, LiteralKind::Sync))
        );
    }
}
