//! The parsing cursor and the RFC 3501 §9 primitives every command family uses.
//!
//! Implementation notes:
//! - The cursor works on one complete framed command (wire form, see `framer`), so running out
//!   of input is always a syntax error, never "incomplete".
//! - Every primitive either consumes what it recognised and returns `Ok`, or returns `Err`
//!   (the position is then irrelevant: the whole command fails).
//! - Quoted strings accept any byte except CR, LF and NUL (8-bit is tolerated: clients put
//!   UTF-8 in SEARCH strings and, under UTF8=ACCEPT, in names; RFC 9051 §4.3 allows it there).
//!
//! ```abnf
//! astring         = 1*ASTRING-CHAR / string
//! string          = quoted / literal
//! quoted          = DQUOTE *QUOTED-CHAR DQUOTE
//! QUOTED-CHAR     = <any TEXT-CHAR except quoted-specials> / "\" quoted-specials
//! literal         = "{" number64 ["+"] "}" CRLF *CHAR8      ; RFC 7888 adds "+"
//! literal8        = "~{" number64 ["+"] "}" CRLF *OCTET     ; RFC 3516
//! nstring         = string / nil
//! number          = 1*DIGIT                                ; fits in 32 bits
//! nz-number       = digit-nz *DIGIT
//! mailbox         = "INBOX" / astring
//! flag-list       = "(" [flag *(SP flag)] ")"
//! date            = date-text / DQUOTE date-text DQUOTE
//! date-time       = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE
//! ```

use std::borrow::Cow;
use std::num::NonZeroU32;

use pochta_types::{Flag, FlagError, MailboxName, MailboxNameError, mutf7};

use crate::command::{ParseErrorKind, ParseOptions};
use crate::core::{Date, DateTime, is_astring_char, is_atom_char, is_list_char, month_from_name};
use crate::framer::LiteralKind;
use crate::sequence::{SeqNum, SeqRange, SequenceSet};

/// An error inside the parser, before the tag is attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PErr {
    pub kind: ParseErrorKind,
    pub msg: Cow<'static, str>,
}

pub(crate) type PResult<T> = Result<T, PErr>;

pub(crate) fn syntax<T>(msg: impl Into<Cow<'static, str>>) -> PResult<T> {
    Err(PErr {
        kind: ParseErrorKind::Syntax,
        msg: msg.into(),
    })
}

pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    pub opts: ParseOptions,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8], opts: ParseOptions) -> Self {
        Cursor { buf, pos: 0, opts }
    }

    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Consume `b` if it is next.
    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, b: u8, what: &'static str) -> PResult<()> {
        if self.eat(b) {
            Ok(())
        } else {
            syntax(format!("expected {what} at offset {}", self.pos))
        }
    }

    pub fn sp(&mut self) -> PResult<()> {
        self.expect(b' ', "a space")
    }

    /// `CRLF` and the end of the command.
    pub fn end(&mut self) -> PResult<()> {
        if self.rest() == b"\r\n" {
            self.pos += 2;
            Ok(())
        } else if self.rest().is_empty() {
            syntax("missing CRLF")
        } else if self.peek() == Some(b' ') {
            syntax(format!("unexpected space at offset {}", self.pos))
        } else {
            syntax(format!(
                "unexpected {:?} at offset {}",
                String::from_utf8_lossy(&self.rest()[..self.rest().len().min(20)]),
                self.pos
            ))
        }
    }

    /// Whether the command continues with a space (an optional argument follows).
    pub fn at_sp(&self) -> bool {
        self.peek() == Some(b' ')
    }

    /// Take bytes while `f` holds.
    pub fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let s = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.buf[s..self.pos]
    }

    pub fn atom(&mut self) -> PResult<&'a [u8]> {
        let a = self.take_while(is_atom_char);
        if a.is_empty() {
            return syntax(format!("expected an atom at offset {}", self.pos));
        }
        Ok(a)
    }

    /// An atom upper-cased into a short string, for keywords.
    pub fn keyword(&mut self) -> PResult<String> {
        Ok(String::from_utf8_lossy(self.atom()?).to_ascii_uppercase())
    }

    /// Consume `kw` case-insensitively if it is next and not followed by another atom char.
    pub fn eat_keyword(&mut self, kw: &str) -> bool {
        let r = self.rest();
        if r.len() >= kw.len()
            && r[..kw.len()].eq_ignore_ascii_case(kw.as_bytes())
            && !r.get(kw.len()).is_some_and(|&b| is_atom_char(b))
        {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    pub fn number64(&mut self) -> PResult<u64> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() {
            return syntax(format!("expected a number at offset {}", self.pos));
        }
        let mut n: u64 = 0;
        for &c in d {
            n = match n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(c - b'0')))
            {
                Some(n) => n,
                None => return syntax("number too large"),
            };
        }
        Ok(n)
    }

    pub fn number(&mut self) -> PResult<u32> {
        let n = self.number64()?;
        u32::try_from(n).or_else(|_| syntax("number too large"))
    }

    pub fn nz_number(&mut self) -> PResult<NonZeroU32> {
        if self.peek() == Some(b'0') {
            return syntax("expected a non-zero number");
        }
        NonZeroU32::new(self.number()?).map_or_else(|| syntax("expected a non-zero number"), Ok)
    }

    /// `mod-sequence-value = 1*DIGIT` (RFC 7162 §7: up to 2^63-1).
    pub fn modseq(&mut self) -> PResult<u64> {
        let n = self.number64()?;
        if n > i64::MAX as u64 {
            return syntax("mod-sequence value too large");
        }
        Ok(n)
    }

    pub fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"', "a quoted string")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r') | Some(b'\n') | Some(0) => {
                    return syntax("unterminated quoted string");
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return syntax("bad escape in quoted string"),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// A literal or literal8 (`{n}`, `{n+}`, `~{n}`, `~{n+}`) with its bytes.
    pub fn literal_any(&mut self) -> PResult<(&'a [u8], LiteralKind)> {
        let binary = self.eat(b'~');
        self.expect(b'{', "a literal")?;
        let n = self.number64()?;
        let nonsync = self.eat(b'+') || self.eat(b'-');
        self.expect(b'}', "'}'")?;
        if !self.rest().starts_with(b"\r\n") {
            return syntax("a literal announcement must end the line");
        }
        self.pos += 2;
        let n = usize::try_from(n).or_else(|_| syntax("literal too large"))?;
        if self.rest().len() < n {
            return syntax("literal shorter than announced");
        }
        let data = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        let kind = match (binary, nonsync) {
            (false, false) => LiteralKind::Sync,
            (false, true) => LiteralKind::NonSync,
            (true, false) => LiteralKind::Binary,
            (true, true) => LiteralKind::BinaryNonSync,
        };
        Ok((data, kind))
    }

    /// A plain literal: literal8 is refused here, and so is NUL (`CHAR8 = %x01-ff`).
    pub fn literal(&mut self) -> PResult<&'a [u8]> {
        if self.peek() == Some(b'~') {
            return syntax("literal8 is not allowed here");
        }
        let (d, _) = self.literal_any()?;
        if d.contains(&0) {
            return syntax("NUL in a literal");
        }
        Ok(d)
    }

    pub fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => Ok(self.literal()?.to_vec()),
            _ => syntax(format!("expected a string at offset {}", self.pos)),
        }
    }

    pub fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => {
                let a = self.take_while(is_astring_char);
                if a.is_empty() {
                    return syntax(format!("expected an astring at offset {}", self.pos));
                }
                Ok(a.to_vec())
            }
        }
    }

    pub fn nstring(&mut self) -> PResult<Option<Vec<u8>>> {
        if self.eat_keyword("NIL") {
            Ok(None)
        } else {
            self.string().map(Some)
        }
    }

    /// A `list-mailbox` (LIST pattern): 1*list-char / string.
    pub fn list_mailbox(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') | Some(b'{') => self.string(),
            _ => {
                let a = self.take_while(is_list_char);
                if a.is_empty() {
                    return syntax("expected a mailbox pattern");
                }
                Ok(a.to_vec())
            }
        }
    }

    /// Decode a mailbox name's bytes to Unicode: modified UTF-7 unless UTF8=ACCEPT is on.
    /// Outside UTF8=ACCEPT an 8-bit name is refused (`NO`, as Dovecot does): modified UTF-7
    /// has no 8-bit bytes (RFC 3501 §5.1.3), and taking it as UTF-8 would store it under a
    /// name the client never sees again (LIST answers in modified UTF-7), so a client that
    /// syncs folders by name would create it anew on every run.
    pub fn decode_name(&self, raw: &[u8]) -> PResult<String> {
        let Ok(s) = std::str::from_utf8(raw) else {
            return Err(PErr {
                kind: ParseErrorKind::Mailbox(None),
                msg: "mailbox name is not valid UTF-8".into(),
            });
        };
        if self.opts.utf8_accept {
            return Ok(s.to_string());
        }
        mutf7::decode(s).map_err(|_| PErr {
            kind: ParseErrorKind::Mailbox(None),
            msg: "mailbox name is not valid modified UTF-7".into(),
        })
    }

    /// `mailbox`, decoded and validated.
    pub fn mailbox(&mut self) -> PResult<MailboxName> {
        let raw = self.astring()?;
        let s = self.decode_name(&raw)?;
        mailbox_name(&s)
    }

    /// `flag` (RFC 3501 §9); `\Recent` is refused by `Flag::parse` and reported as syntax.
    pub fn flag(&mut self) -> PResult<Flag> {
        let s = self.pos;
        self.eat(b'\\');
        let a = self.take_while(is_atom_char);
        let raw = &self.buf[s..self.pos];
        if a.is_empty() {
            return syntax("expected a flag");
        }
        let text = String::from_utf8_lossy(raw);
        Flag::parse(&text).map_err(|e: FlagError| PErr {
            kind: ParseErrorKind::Syntax,
            msg: e.to_string().into(),
        })
    }

    /// `flag-list`. `\Recent` is skipped (it cannot be set, RFC 3501 §2.3.2).
    pub fn flag_list(&mut self) -> PResult<Vec<Flag>> {
        self.expect(b'(', "'('")?;
        let mut flags = Vec::new();
        if self.eat(b')') {
            return Ok(flags);
        }
        loop {
            if self.eat_keyword("\\Recent") {
                // skipped
            } else {
                flags.push(self.flag()?);
            }
            if self.eat(b')') {
                return Ok(flags);
            }
            self.sp()?;
        }
    }

    /// Flags for STORE: a parenthesised list or bare flags separated by spaces.
    pub fn store_flags(&mut self) -> PResult<Vec<Flag>> {
        if self.peek() == Some(b'(') {
            return self.flag_list();
        }
        let mut flags = Vec::new();
        loop {
            if !self.eat_keyword("\\Recent") {
                flags.push(self.flag()?);
            }
            if !self.at_sp() {
                return Ok(flags);
            }
            self.sp()?;
        }
    }

    fn seq_number(&mut self) -> PResult<SeqNum> {
        if self.eat(b'*') {
            Ok(SeqNum::Largest)
        } else {
            Ok(SeqNum::Value(self.nz_number()?))
        }
    }

    pub fn sequence_set(&mut self) -> PResult<SequenceSet> {
        if self.eat(b'$') {
            return Ok(SequenceSet::Saved);
        }
        let mut ranges = Vec::new();
        loop {
            let start = self.seq_number()?;
            let end = if self.eat(b':') {
                self.seq_number()?
            } else {
                start
            };
            ranges.push(SeqRange { start, end });
            if !self.eat(b',') {
                break;
            }
        }
        Ok(SequenceSet::Ranges(ranges))
    }

    fn digits(&mut self, min: usize, max: usize) -> PResult<u32> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.len() < min || d.len() > max {
            return syntax("bad date/time digits");
        }
        Ok(d.iter().fold(0, |a, &c| a * 10 + u32::from(c - b'0')))
    }

    fn date_text(&mut self) -> PResult<Date> {
        let day = self.digits(1, 2)?;
        self.expect(b'-', "'-' in date")?;
        let m = self.take_while(|b| b.is_ascii_alphabetic());
        let month = month_from_name(m).map_or_else(|| syntax("bad month"), Ok)?;
        self.expect(b'-', "'-' in date")?;
        let year = self.digits(4, 4)?;
        Date::new(year as u16, month, day as u8).map_or_else(|| syntax("invalid date"), Ok)
    }

    /// `date` (SEARCH).
    pub fn date(&mut self) -> PResult<Date> {
        if self.eat(b'"') {
            let d = self.date_text()?;
            self.expect(b'"', "'\"' after date")?;
            Ok(d)
        } else {
            self.date_text()
        }
    }

    /// `date-time` (APPEND).
    pub fn date_time(&mut self) -> PResult<DateTime> {
        self.expect(b'"', "'\"' before date-time")?;
        self.eat(b' '); // date-day-fixed = (SP DIGIT) / 2DIGIT
        let date = self.date_text()?;
        self.sp()?;
        let h = self.digits(2, 2)?;
        self.expect(b':', "':'")?;
        let mi = self.digits(2, 2)?;
        self.expect(b':', "':'")?;
        let s = self.digits(2, 2)?;
        self.sp()?;
        let neg = match self.peek() {
            Some(b'+') => false,
            Some(b'-') => true,
            _ => return syntax("expected a zone"),
        };
        self.pos += 1;
        let z = self.digits(4, 4)?;
        let zm = (z / 100 * 60 + z % 100) as i16;
        self.expect(b'"', "'\"' after date-time")?;
        DateTime::new(date, h as u8, mi as u8, s as u8, if neg { -zm } else { zm })
            .map_or_else(|| syntax("invalid date-time"), Ok)
    }

    /// A parenthesised, space-separated list of at least `min` items.
    pub fn paren_list<T>(
        &mut self,
        min: usize,
        mut item: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        self.expect(b'(', "'('")?;
        let mut out = Vec::new();
        if !self.eat(b')') {
            loop {
                out.push(item(self)?);
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        }
        if out.len() < min {
            return syntax("empty list");
        }
        Ok(out)
    }
}

/// Validate a decoded mailbox name; a single trailing separator is dropped (RFC 3501 §6.3.3
/// lets CREATE name a future parent that way, and clients send it elsewhere too).
pub(crate) fn mailbox_name(s: &str) -> PResult<MailboxName> {
    let s = match s.strip_suffix('/') {
        Some(t) if !t.is_empty() => t,
        _ => s,
    };
    MailboxName::new(s).map_err(|e: MailboxNameError| PErr {
        msg: e.to_string().into(),
        kind: ParseErrorKind::Mailbox(Some(e)),
    })
}

impl Cursor<'_> {
    /// Step back `n` bytes (only over bytes this cursor consumed).
    pub fn unread(&mut self, n: usize) {
        self.pos = self.pos.saturating_sub(n);
    }

    /// Consume `n` bytes, whatever they are (at most to the end).
    pub fn skip(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }
}
