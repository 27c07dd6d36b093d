//! The storage encoding of [`MessageMeta`]: `b"PM"`, a version byte, then LEB128 integers
//! and length-prefixed UTF-8 strings. Decoding checks everything: lengths against the input
//! left, UTF-8, nesting depth, and that ranges are ordered.

use crate::{MessageMeta, Part, PartKind};

const MAGIC: &[u8; 2] = b"PM";
const VERSION: u8 = 1;
/// Deeper than any tree `parse` builds (it stops at MAX_DEPTH), so a stored tree always
/// decodes, while a forged one cannot exhaust the stack.
const MAX_DECODE_DEPTH: usize = 2 * crate::MAX_DEPTH + 4;

/// Why stored metadata could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not message metadata")]
    BadMagic,
    #[error("unsupported metadata version {0}")]
    Version(u8),
    #[error("metadata truncated")]
    Truncated,
    #[error("invalid metadata: {0}")]
    Invalid(&'static str),
}

pub(crate) fn encode(m: &MessageMeta) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(16 + m.envelope.len() + m.body.len() + m.bodystructure.len() + 32);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    put_str(&mut out, &m.envelope);
    put_str(&mut out, &m.body);
    put_str(&mut out, &m.bodystructure);
    match m.sent_date {
        Some(d) => {
            out.push(1);
            // Zigzag so that dates before 1970 stay short.
            put_u64(&mut out, ((d << 1) ^ (d >> 63)) as u64);
        }
        None => out.push(0),
    }
    put_part(&mut out, &m.root);
    out
}

fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_part(out: &mut Vec<u8>, p: &Part) {
    out.push(match p.kind {
        PartKind::Basic => 0,
        PartKind::Multipart => 1,
        PartKind::Message => 2,
    });
    put_str(out, &p.media_type);
    put_str(out, &p.media_subtype);
    match &p.charset {
        Some(c) => {
            out.push(1);
            put_str(out, c);
        }
        None => out.push(0),
    }
    put_str(out, &p.encoding);
    // Ranges as start + length: lengths are small, so this is compact.
    put_u64(out, p.header.start as u64);
    put_u64(out, p.header.len() as u64);
    put_u64(out, p.body.start as u64);
    put_u64(out, p.body.len() as u64);
    put_u64(out, p.lines as u64);
    put_u64(out, p.children.len() as u64);
    for c in &p.children {
        put_part(out, c);
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, DecodeError> {
        let v = *self.b.get(self.pos).ok_or(DecodeError::Truncated)?;
        self.pos += 1;
        Ok(v)
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::Invalid("varint too long"))
    }

    fn usize(&mut self) -> Result<usize, DecodeError> {
        usize::try_from(self.u64()?).map_err(|_| DecodeError::Invalid("number too large"))
    }

    fn str(&mut self) -> Result<String, DecodeError> {
        let n = self.usize()?;
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        let s = self.b.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        String::from_utf8(s.to_vec()).map_err(|_| DecodeError::Invalid("string not UTF-8"))
    }

    fn range(&mut self) -> Result<std::ops::Range<usize>, DecodeError> {
        let start = self.usize()?;
        let len = self.usize()?;
        let end = start
            .checked_add(len)
            .ok_or(DecodeError::Invalid("range overflows"))?;
        Ok(start..end)
    }

    fn part(&mut self, depth: usize) -> Result<Part, DecodeError> {
        if depth > MAX_DECODE_DEPTH {
            return Err(DecodeError::Invalid("parts nested too deeply"));
        }
        let kind = match self.byte()? {
            0 => PartKind::Basic,
            1 => PartKind::Multipart,
            2 => PartKind::Message,
            _ => return Err(DecodeError::Invalid("part kind")),
        };
        let media_type = self.str()?;
        let media_subtype = self.str()?;
        let charset = match self.byte()? {
            0 => None,
            1 => Some(self.str()?),
            _ => return Err(DecodeError::Invalid("charset flag")),
        };
        let encoding = self.str()?;
        let header = self.range()?;
        let body = self.range()?;
        let lines = self.usize()?;
        let n = self.usize()?;
        // Each child takes at least 14 bytes, so `n` cannot ask for more than the input has.
        let mut children = Vec::with_capacity(n.min(self.b.len().saturating_sub(self.pos) / 14));
        for _ in 0..n {
            children.push(self.part(depth + 1)?);
        }
        Ok(Part {
            kind,
            media_type,
            media_subtype,
            charset,
            encoding,
            header,
            body,
            lines,
            children,
        })
    }
}

pub(crate) fn decode(b: &[u8]) -> Result<MessageMeta, DecodeError> {
    if b.len() < 3 || &b[..2] != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    if b[2] != VERSION {
        return Err(DecodeError::Version(b[2]));
    }
    let mut r = Reader { b, pos: 3 };
    let envelope = r.str()?;
    let body = r.str()?;
    let bodystructure = r.str()?;
    let sent_date = match r.byte()? {
        0 => None,
        1 => {
            let z = r.u64()?;
            Some(((z >> 1) as i64) ^ -((z & 1) as i64))
        }
        _ => return Err(DecodeError::Invalid("date flag")),
    };
    let root = r.part(0)?;
    if r.pos != b.len() {
        return Err(DecodeError::Invalid("trailing bytes"));
    }
    Ok(MessageMeta {
        root,
        envelope,
        body,
        bodystructure,
        sent_date,
    })
}
