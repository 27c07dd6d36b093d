//! The client's response reader: framing with imap-proto's [`Framer`] under per-response
//! budgets, then a parser for the responses a client receives (RFC 9051 §7, RFC 3501 §7).
//!
//! Implementation notes:
//! - **Frame first, then parse.** [`ResponseReader`] feeds received bytes to the same
//!   [`Framer`] the server reads commands with: a line ends with CRLF unless it announces a
//!   literal `{n}` (or `~{n}`, RFC 3516 literal8), whose `n` bytes follow and after which the
//!   response goes on (RFC 9051 §4.3). A server never waits for `+`, so every announced
//!   literal is accepted at once, within the limits.
//! - **Budgets** ([`Limits`], the server framer's type): a line (outside literals) is at most
//!   `max_line` bytes, one literal at most `max_literal`, the literals of one response at most
//!   `max_literals`, and all lines and literals of one response together at most
//!   `max_command` — the total budget per response. A peer that breaks one gets a
//!   [`ResponseError`] naming it before the bytes over the budget are buffered, so a hostile
//!   server (an endless FETCH line, one response made of many large literals) costs at most
//!   the budget in memory. Any error ends the connection: the caller must not read on.
//! - **Parse** a framed response into [`Response`]: tagged status, untagged status with its
//!   optional response code (`[UIDVALIDITY 3]`, RFC 9051 §7.1), numbered data (`* 3 FETCH (…)`,
//!   `* 4 EXISTS`), other untagged data (`* LIST …`, `* CAPABILITY …`) as generic [`Value`]s,
//!   and continuation requests. Strings — quoted or literal — are zero-copy slices of the frame
//!   ([`Bytes`]). Typed views for what clients use are in [`crate::client::data`].
//! - Nothing here panics on any input: malformed input is a [`ResponseError`].
//! - Atoms may carry a bracketed section with spaces, as in
//!   `BODY[HEADER.FIELDS (MESSAGE-ID)]` (RFC 9051 §7.5.2 `section`); the tokenizer keeps the
//!   brackets' contents inside the atom.

use bytes::Bytes;

use crate::framer::{Event, FrameErrorKind, Framer, Limits};

/// The client's default budgets: the server framer's limits, widened where answers are
/// larger than commands. A line may hold a `SEARCH`/`VANISHED` answer for a large mailbox
/// (1 MiB); a literal may be a message of up to 512 MiB; one response (a FETCH of one message
/// with its header fields, or a LIST entry) at most one such literal plus 1 MiB of lines and
/// other literals, and at most 64 literals.
pub const CLIENT_LIMITS: Limits = Limits {
    max_line: 1 << 20,
    max_literal: 512 << 20,
    max_command: (512 << 20) + (1 << 20),
    max_literals: 64,
    max_text: (512 << 20) + (1 << 20),
};

/// The server's answer cannot be read on; the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("response line longer than {0} bytes")]
    LineTooLong(usize),
    #[error("literal of {size} bytes exceeds the limit of {limit}")]
    LiteralTooLarge { size: u64, limit: u64 },
    #[error("response exceeds its budget of {0} bytes (lines and literals together)")]
    ResponseTooLarge(u64),
    #[error("more than {0} literals in one response")]
    TooManyLiterals(usize),
    #[error("malformed response: {0}")]
    Syntax(&'static str),
}

/// Frames and parses a server's byte stream into [`Response`]s (see the module notes).
#[derive(Debug)]
pub struct ResponseReader {
    framer: Framer,
}

impl Default for ResponseReader {
    fn default() -> Self {
        ResponseReader::new(CLIENT_LIMITS)
    }
}

impl ResponseReader {
    pub fn new(limits: Limits) -> Self {
        ResponseReader {
            framer: Framer::new(limits),
        }
    }

    pub fn limits(&self) -> Limits {
        self.framer.limits()
    }

    /// Changes the limits for the responses framed from now on (e.g. a FETCH of bodies whose
    /// sizes are known: no literal, and no response, much larger than the largest of them).
    pub fn set_limits(&mut self, limits: Limits) {
        self.framer.set_limits(limits);
    }

    /// Adds received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.framer.feed(bytes);
    }

    /// Bytes fed but not yet part of a returned response (for STARTTLS: must be 0 before the
    /// handshake, RFC 9051 §6.2.1).
    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }

    /// While a literal is being read: once at least `at_least` of its bytes are held, takes
    /// them out of the response being framed, with the position where they belong in the
    /// bytes [`Self::next_frame`] will hand over (which lack every part taken): a client
    /// spools them to disk and puts each back at its position ([`Framer::take_literal`]).
    pub fn take_literal(&mut self, at_least: usize) -> Option<(usize, Vec<u8>)> {
        self.framer.take_literal(at_least)
    }

    /// The next complete response, `Ok(None)` if more bytes are needed.
    pub fn next_response(&mut self) -> Result<Option<Response>, ResponseError> {
        Ok(match self.next_frame()? {
            Some(frame) => Some(parse(&frame)?),
            None => None,
        })
    }

    /// The next complete response unparsed (wire form, lines end in CRLF).
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, ResponseError> {
        let limits = self.framer.limits();
        loop {
            match self.framer.next_event() {
                None => return Ok(None),
                Some(Event::LiteralAnnounced { .. }) => self.framer.accept_literal(),
                Some(Event::Command(c)) => return Ok(Some(Bytes::from(c.bytes))),
                // Only the server side asks for raw lines.
                Some(Event::Line(l)) => return Ok(Some(Bytes::from(l))),
                Some(Event::Error(e)) => {
                    return Err(match e.kind {
                        FrameErrorKind::LineTooLong => ResponseError::LineTooLong(limits.max_line),
                        FrameErrorKind::LiteralTooBig { size, .. } if size > limits.max_literal => {
                            ResponseError::LiteralTooLarge {
                                size,
                                limit: limits.max_literal,
                            }
                        }
                        FrameErrorKind::LiteralTooBig { .. } | FrameErrorKind::CommandTooBig => {
                            ResponseError::ResponseTooLarge(limits.max_command)
                        }
                        FrameErrorKind::TooManyLiterals => {
                            ResponseError::TooManyLiterals(limits.max_literals)
                        }
                    });
                }
            }
        }
    }
}

/// A generic response value (RFC 9051 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An atom (possibly with a bracketed section, e.g. `BODY[]`), or a flag like `\Seen`.
    Atom(Bytes),
    Number(u64),
    /// A quoted string (unescaped) or a literal.
    Str(Bytes),
    Nil,
    List(Vec<Value>),
}

impl Value {
    pub fn as_number(&self) -> Option<u64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// Atom or string contents as bytes.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Value::Atom(b) | Value::Str(b) => Some(b),
            _ => None,
        }
    }

    /// Atom, string or number as text (lossy for non-UTF-8).
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Atom(b) | Value::Str(b) => Some(String::from_utf8_lossy(b).into_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) => Some(v),
            _ => None,
        }
    }

    /// Whether this is an atom equal to `name`, ASCII case-insensitively.
    pub fn is_atom(&self, name: &str) -> bool {
        matches!(self, Value::Atom(b) if b.eq_ignore_ascii_case(name.as_bytes()))
    }
}

/// `OK`, `NO`, `BAD`, `PREAUTH`, `BYE` (RFC 9051 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    Preauth,
    Bye,
}

impl Status {
    fn parse(word: &[u8]) -> Option<Self> {
        Some(match word.to_ascii_uppercase().as_slice() {
            b"OK" => Status::Ok,
            b"NO" => Status::No,
            b"BAD" => Status::Bad,
            b"PREAUTH" => Status::Preauth,
            b"BYE" => Status::Bye,
            _ => return None,
        })
    }
}

/// A status response's parts: the optional `[CODE args]` and the human-readable text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusText {
    pub status: Status,
    /// The response code: its name (upper-cased) and its arguments.
    pub code: Option<(String, Vec<Value>)>,
    pub text: String,
}

/// One server response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `tag OK/NO/BAD …`
    Tagged { tag: String, status: StatusText },
    /// `* OK/NO/BAD/PREAUTH/BYE …`
    UntaggedStatus(StatusText),
    /// `* n NAME [values]`: EXISTS, EXPUNGE, RECENT, FETCH.
    Numbered {
        n: u64,
        name: String,
        values: Vec<Value>,
    },
    /// `* NAME values`: CAPABILITY, LIST, FLAGS, SEARCH, STATUS, ENABLED, VANISHED, …
    Data { name: String, values: Vec<Value> },
    /// `+ text` (a command continuation request).
    Continue(String),
}

/// Parses one framed response (as returned by [`ResponseReader::next_frame`]).
pub fn parse(frame: &Bytes) -> Result<Response, ResponseError> {
    let mut p = Parser {
        buf: frame,
        pos: 0,
        depth: 0,
    };
    if p.eat(b"+") {
        p.eat(b" ");
        return Ok(Response::Continue(p.rest_text()));
    }
    let tag = p.word();
    if tag.is_empty() {
        return Err(ResponseError::Syntax("missing tag"));
    }
    if !p.eat(b" ") {
        return Err(ResponseError::Syntax("missing space after tag"));
    }
    if tag.as_ref() != b"*" {
        let word = p.word();
        let status = Status::parse(&word).ok_or(ResponseError::Syntax("tagged response status"))?;
        let st = p.status_text(status)?;
        return Ok(Response::Tagged {
            tag: String::from_utf8_lossy(&tag).into_owned(),
            status: st,
        });
    }
    let word = p.word();
    if let Some(status) = Status::parse(&word) {
        return Ok(Response::UntaggedStatus(p.status_text(status)?));
    }
    if !word.is_empty() && word.iter().all(u8::is_ascii_digit) {
        let n = ascii_number(&word).ok_or(ResponseError::Syntax("number too large"))?;
        if !p.eat(b" ") {
            return Err(ResponseError::Syntax("missing space after number"));
        }
        let name = String::from_utf8_lossy(&p.word()).to_ascii_uppercase();
        let values = p.values_to_end()?;
        return Ok(Response::Numbered { n, name, values });
    }
    let name = String::from_utf8_lossy(&word).to_ascii_uppercase();
    let values = p.values_to_end()?;
    Ok(Response::Data { name, values })
}

fn ascii_number(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Nesting limit for parenthesised lists.
const MAX_DEPTH: usize = 32;

struct Parser<'a> {
    buf: &'a Bytes,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn eat(&mut self, s: &[u8]) -> bool {
        if self.buf.get(self.pos..).is_some_and(|b| b.starts_with(s)) {
            self.pos += s.len();
            true
        } else {
            false
        }
    }

    fn at_end(&self) -> bool {
        matches!(self.peek(), None | Some(b'\r') | Some(b'\n'))
    }

    /// Bytes up to the next space or line end.
    fn word(&mut self) -> Bytes {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == b' ' || c == b'\r' || c == b'\n' {
                break;
            }
            self.pos += 1;
        }
        self.buf.slice(start..self.pos)
    }

    fn rest_text(&mut self) -> String {
        let start = self.pos;
        let end = self.buf.len();
        let mut text = &self.buf[start..end];
        while let Some(t) = text
            .strip_suffix(b"\n")
            .or_else(|| text.strip_suffix(b"\r"))
        {
            text = t;
        }
        self.pos = end;
        String::from_utf8_lossy(text).into_owned()
    }

    /// After `OK`/`NO`/…: ` [CODE args] text` (RFC 9051 §7.1 `resp-text`).
    fn status_text(&mut self, status: Status) -> Result<StatusText, ResponseError> {
        self.eat(b" ");
        let mut code = None;
        if self.eat(b"[") {
            let name = {
                let start = self.pos;
                while let Some(c) = self.peek() {
                    if c == b' ' || c == b']' || c == b'\r' || c == b'\n' {
                        break;
                    }
                    self.pos += 1;
                }
                String::from_utf8_lossy(&self.buf[start..self.pos]).to_ascii_uppercase()
            };
            let mut args = Vec::new();
            self.eat(b" ");
            loop {
                match self.peek() {
                    Some(b']') => {
                        self.pos += 1;
                        break;
                    }
                    None | Some(b'\r') | Some(b'\n') => {
                        return Err(ResponseError::Syntax("unterminated response code"));
                    }
                    Some(b' ') => self.pos += 1,
                    Some(_) => args.push(self.value()?),
                }
            }
            code = Some((name, args));
            self.eat(b" ");
        }
        Ok(StatusText {
            status,
            code,
            text: self.rest_text(),
        })
    }

    fn values_to_end(&mut self) -> Result<Vec<Value>, ResponseError> {
        let mut out = Vec::new();
        loop {
            while self.eat(b" ") {}
            if self.at_end() {
                return Ok(out);
            }
            out.push(self.value()?);
        }
    }

    fn value(&mut self) -> Result<Value, ResponseError> {
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(ResponseError::Syntax("lists nested too deeply"));
                }
                let mut items = Vec::new();
                loop {
                    while self.eat(b" ") {}
                    match self.peek() {
                        Some(b')') => {
                            self.pos += 1;
                            self.depth -= 1;
                            return Ok(Value::List(items));
                        }
                        None | Some(b'\r') | Some(b'\n') => {
                            return Err(ResponseError::Syntax("unterminated list"));
                        }
                        Some(_) => items.push(self.value()?),
                    }
                }
            }
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            Some(b'~') if self.buf.get(self.pos + 1) == Some(&b'{') => {
                self.pos += 1;
                self.literal()
            }
            Some(b')') => Err(ResponseError::Syntax("unexpected ')'")),
            Some(_) => Ok(self.atom()),
            None => Err(ResponseError::Syntax("value expected")),
        }
    }

    fn quoted(&mut self) -> Result<Value, ResponseError> {
        self.pos += 1;
        let start = self.pos;
        // Fast path: no escapes, a zero-copy slice.
        let mut escaped = false;
        loop {
            match self.peek() {
                Some(b'"') => break,
                Some(b'\\') => {
                    escaped = true;
                    self.pos += 2;
                }
                Some(b'\r') | Some(b'\n') | None => {
                    return Err(ResponseError::Syntax("unterminated quoted string"));
                }
                Some(_) => self.pos += 1,
            }
        }
        if self.pos >= self.buf.len() {
            return Err(ResponseError::Syntax("unterminated quoted string"));
        }
        let raw = self.buf.slice(start..self.pos);
        self.pos += 1; // closing quote
        if !escaped {
            return Ok(Value::Str(raw));
        }
        let mut out = Vec::with_capacity(raw.len());
        let mut it = raw.iter();
        while let Some(&c) = it.next() {
            if c == b'\\' {
                if let Some(&n) = it.next() {
                    out.push(n);
                }
            } else {
                out.push(c);
            }
        }
        Ok(Value::Str(Bytes::from(out)))
    }

    fn literal(&mut self) -> Result<Value, ResponseError> {
        self.pos += 1; // '{'
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let n = ascii_number(&self.buf[start..self.pos])
            .ok_or(ResponseError::Syntax("literal length"))?;
        self.eat(b"+");
        if !self.eat(b"}\r\n") && !self.eat(b"}\n") {
            return Err(ResponseError::Syntax("literal announcement"));
        }
        let n = usize::try_from(n).map_err(|_| ResponseError::Syntax("literal length"))?;
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(ResponseError::Syntax("literal shorter than announced"))?;
        let v = self.buf.slice(self.pos..end);
        self.pos = end;
        Ok(Value::Str(v))
    }

    fn atom(&mut self) -> Value {
        let start = self.pos;
        let mut bracket = 0usize;
        while let Some(c) = self.peek() {
            match c {
                b'[' => bracket += 1,
                b']' if bracket > 0 => bracket -= 1,
                b']' => break,
                b'\r' | b'\n' => break,
                b' ' | b'(' | b')' | b'"' | b'{' if bracket == 0 => break,
                _ => {}
            }
            self.pos += 1;
        }
        if self.pos == start {
            // A lone unexpected byte: consume it so parsing always advances.
            self.pos += 1;
        }
        let raw = self.buf.slice(start..self.pos);
        if raw.eq_ignore_ascii_case(b"NIL") {
            return Value::Nil;
        }
        if !raw.is_empty()
            && raw.len() <= 19
            && raw.iter().all(u8::is_ascii_digit)
            && let Some(n) = ascii_number(&raw)
        {
            return Value::Number(n);
        }
        Value::Atom(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` in pieces of `chunk` bytes and returns every parsed response.
    fn feed(input: &[u8], chunk: usize) -> Vec<Response> {
        let mut reader = ResponseReader::default();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            reader.feed(piece);
            while let Some(r) = reader.next_response().expect("response") {
                out.push(r);
            }
        }
        assert_eq!(reader.buffered(), 0, "left over");
        out
    }

    const STREAM: &[u8] = b"* OK [CAPABILITY IMAP4rev1 LITERAL+ STARTTLS] Dovecot ready.\r\n\
* LIST (\\HasNoChildren \\Sent) \".\" Sent\r\n\
* LIST (\\HasChildren) \".\" {16}\r\n&BBIERQQ+BDQETw-\r\n\
* 2 FETCH (UID 7 FLAGS (\\Seen $Forwarded) INTERNALDATE \"17-Jul-1996 02:44:25 -0700\" BODY[] {13}\r\nHi\r\n{3}\r\n)(\r\n)\r\n\
* 3 FETCH (UID 9 BODY[HEADER.FIELDS (MESSAGE-ID)] {4}\r\nab\r\n RFC822.SIZE 99 MODSEQ (12))\r\n\
* 5 EXISTS\r\n\
* OK [UIDVALIDITY 3857529045] UIDs valid\r\n\
* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n\
* CAPABILITY IMAP4rev1 CONDSTORE\r\n\
* STATUS \"a \\\"q\\\"\" (MESSAGES 2)\r\n\
+ Ready for literal data\r\n\
A7 OK [READ-ONLY] Examine completed (0.001 + 0.000 secs).\r\n\
A8 NO Mailbox doesn't exist\r\n";

    fn expected() -> Vec<Response> {
        let b = |s: &'static str| Bytes::from_static(s.as_bytes());
        vec![
            Response::UntaggedStatus(StatusText {
                status: Status::Ok,
                code: Some((
                    "CAPABILITY".into(),
                    vec![
                        Value::Atom(b("IMAP4rev1")),
                        Value::Atom(b("LITERAL+")),
                        Value::Atom(b("STARTTLS")),
                    ],
                )),
                text: "Dovecot ready.".into(),
            }),
            Response::Data {
                name: "LIST".into(),
                values: vec![
                    Value::List(vec![
                        Value::Atom(b("\\HasNoChildren")),
                        Value::Atom(b("\\Sent")),
                    ]),
                    Value::Str(b(".")),
                    Value::Atom(b("Sent")),
                ],
            },
            Response::Data {
                name: "LIST".into(),
                values: vec![
                    Value::List(vec![Value::Atom(b("\\HasChildren"))]),
                    Value::Str(b(".")),
                    Value::Str(b("&BBIERQQ+BDQETw-")),
                ],
            },
            Response::Numbered {
                n: 2,
                name: "FETCH".into(),
                values: vec![Value::List(vec![
                    Value::Atom(b("UID")),
                    Value::Number(7),
                    Value::Atom(b("FLAGS")),
                    Value::List(vec![Value::Atom(b("\\Seen")), Value::Atom(b("$Forwarded"))]),
                    Value::Atom(b("INTERNALDATE")),
                    Value::Str(b("17-Jul-1996 02:44:25 -0700")),
                    Value::Atom(b("BODY[]")),
                    Value::Str(b("Hi\r\n{3}\r\n)(\r\n")),
                ])],
            },
            Response::Numbered {
                n: 3,
                name: "FETCH".into(),
                values: vec![Value::List(vec![
                    Value::Atom(b("UID")),
                    Value::Number(9),
                    Value::Atom(b("BODY[HEADER.FIELDS (MESSAGE-ID)]")),
                    Value::Str(b("ab\r\n")),
                    Value::Atom(b("RFC822.SIZE")),
                    Value::Number(99),
                    Value::Atom(b("MODSEQ")),
                    Value::List(vec![Value::Number(12)]),
                ])],
            },
            Response::Numbered {
                n: 5,
                name: "EXISTS".into(),
                values: vec![],
            },
            Response::UntaggedStatus(StatusText {
                status: Status::Ok,
                code: Some(("UIDVALIDITY".into(), vec![Value::Number(3857529045)])),
                text: "UIDs valid".into(),
            }),
            Response::UntaggedStatus(StatusText {
                status: Status::Ok,
                code: Some((
                    "PERMANENTFLAGS".into(),
                    vec![Value::List(vec![
                        Value::Atom(b("\\Deleted")),
                        Value::Atom(b("\\Seen")),
                        Value::Atom(b("\\*")),
                    ])],
                )),
                text: "Limited".into(),
            }),
            Response::Data {
                name: "CAPABILITY".into(),
                values: vec![Value::Atom(b("IMAP4rev1")), Value::Atom(b("CONDSTORE"))],
            },
            Response::Data {
                name: "STATUS".into(),
                values: vec![
                    Value::Str(b("a \"q\"")),
                    Value::List(vec![Value::Atom(b("MESSAGES")), Value::Number(2)]),
                ],
            },
            Response::Continue("Ready for literal data".into()),
            Response::Tagged {
                tag: "A7".into(),
                status: StatusText {
                    status: Status::Ok,
                    code: Some(("READ-ONLY".into(), vec![])),
                    text: "Examine completed (0.001 + 0.000 secs).".into(),
                },
            },
            Response::Tagged {
                tag: "A8".into(),
                status: StatusText {
                    status: Status::No,
                    code: None,
                    text: "Mailbox doesn't exist".into(),
                },
            },
        ]
    }

    #[test]
    fn known_answers_at_every_chunk_size() {
        let want = expected();
        let mut chunk = 1;
        while chunk <= 512 {
            assert_eq!(feed(STREAM, chunk), want, "chunk size {chunk}");
            chunk *= 2;
        }
        for chunk in [3, 5, 7, 13, STREAM.len()] {
            assert_eq!(feed(STREAM, chunk), want, "chunk size {chunk}");
        }
    }

    #[test]
    fn every_prefix_is_incomplete_not_an_error() {
        // A prefix of one response never yields a response nor an error.
        let one = b"* 1 FETCH (UID 1 BODY[] {5}\r\nabcde)\r\n";
        for cut in 0..one.len() {
            let mut r = ResponseReader::default();
            r.feed(&one[..cut]);
            assert_eq!(r.next_response(), Ok(None), "cut at {cut}");
        }
    }

    /// Feeds `input` in 4 KiB pieces until the reader fails or has everything.
    fn first_error(limits: Limits, input: &[u8]) -> Option<ResponseError> {
        let mut r = ResponseReader::new(limits);
        for piece in input.chunks(4096) {
            r.feed(piece);
            loop {
                match r.next_response() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => return Some(e),
                }
            }
        }
        None
    }

    #[test]
    fn budgets() {
        let small = Limits {
            max_line: 100,
            max_literal: 1000,
            max_command: 2500,
            max_literals: 4,
            max_text: 2500,
        };
        // One literal over the limit: refused before any of its bytes is buffered.
        assert_eq!(
            first_error(small, b"* 1 FETCH (BODY[] {1001}\r\n"),
            Some(ResponseError::LiteralTooLarge {
                size: 1001,
                limit: 1000
            })
        );
        assert_eq!(
            first_error(CLIENT_LIMITS, b"* 1 FETCH (BODY[] {99999999999}\r\n"),
            Some(ResponseError::LiteralTooLarge {
                size: 99_999_999_999,
                limit: CLIENT_LIMITS.max_literal
            })
        );
        // Many literals, each within the limit, over the response budget together.
        let lit = vec![b'x'; 900];
        let mut many = b"* 1 FETCH (".to_vec();
        for i in 0..3 {
            many.extend_from_slice(format!("BODY[{i}] {{900}}\r\n").as_bytes());
            many.extend_from_slice(&lit);
            many.push(b' ');
        }
        many.extend_from_slice(b")\r\n");
        assert_eq!(
            first_error(small, &many),
            Some(ResponseError::ResponseTooLarge(2500))
        );
        // The same within a larger budget passes.
        assert_eq!(
            first_error(
                Limits {
                    max_command: 4000,
                    ..small
                },
                &many
            ),
            None
        );
        // Too many (small) literals.
        let mut tiny = b"* 1 FETCH (".to_vec();
        for _ in 0..5 {
            tiny.extend_from_slice(b"X {1}\r\ny ");
        }
        tiny.extend_from_slice(b")\r\n");
        assert_eq!(
            first_error(small, &tiny),
            Some(ResponseError::TooManyLiterals(4))
        );
        // An endless line: an error once it passes the line limit, with at most one line
        // buffered.
        let endless = vec![b'a'; 10_000];
        let mut r = ResponseReader::new(small);
        r.feed(b"* SEARCH ");
        let mut err = None;
        for piece in endless.chunks(10) {
            r.feed(piece);
            if let Err(e) = r.next_response() {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err, Some(ResponseError::LineTooLong(100)));
        assert!(r.buffered() <= 200, "{}", r.buffered());
    }

    #[test]
    fn mutf7_list_name_decodes_to_cyrillic() {
        let r = feed(
            b"* LIST () \".\" \"&BBIERQQ+BDQETwRJBDgENQ-.&BCAEMAQxBD4EQgQw-\"\r\n",
            7,
        );
        let Response::Data { values, .. } = &r[0] else {
            panic!("{r:?}")
        };
        let raw = values[2].as_text().expect("name");
        assert_eq!(
            pochta_types::mutf7::decode(&raw).expect("mutf7"),
            "Входящие.Работа"
        );
    }

    #[test]
    fn garbage() {
        for bad in [
            &b"\r\n"[..],
            b"* 1 FETCH (UID 1\r\n",
            b"* 1 FETCH (BODY[] {10}\r\nab)\r\n",
            b"A1 MAYBE\r\n",
            b"* OK [UNTERMINATED\r\n",
            b"* LIST \"unterminated\r\n",
            b"* 99999999999999999999999 EXISTS\r\n",
        ] {
            assert!(parse(&Bytes::copy_from_slice(bad)).is_err(), "{bad:?}");
        }
        // Random bytes never panic.
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            let len = (x % 40) as usize;
            let mut v = Vec::with_capacity(len);
            for _ in 0..len {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let alphabet = b"* ()[]{}\"\\ 0123FETCH~+\r\nab";
                v.push(alphabet[(x >> 16) as usize % alphabet.len()]);
            }
            let _ = parse(&Bytes::from(v.clone()));
            let mut r = ResponseReader::default();
            r.feed(&v);
            while let Ok(Some(_)) = r.next_response() {}
        }
    }
}
