//! The storage encoding of [`MessageMeta`]: `b"PM"`, a version byte, then LEB128 integers
//! and length-prefixed UTF-8 strings. Decoding checks everything: lengths against the input
//! left, UTF-8, nesting depth, and that ranges are ordered.
//!
//! Version 2 appends the SORT/THREAD fields ([`crate::SortFields`]); version 1 is still
//! read (its sort fields are `None`, and readers extract them from the bytes).

use crate::{MessageMeta, Part, PartKind, SortAddress, SortFields, SortNeed};

const MAGIC: &[u8; 2] = b"PM";
const VERSION: u8 = 2;
/// The format before the sort fields; decoded, never written.
const VERSION_1: u8 = 1;
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
    // Always written: `parse` always fills it; a v1 meta re-encoded gets empty fields.
    let empty = SortFields::default();
    put_sort(&mut out, m.sort.as_ref().unwrap_or(&empty));
    out
}

/// The sort fields alone, in the same encoding as inside [`MessageMeta`] (for a store's
/// per-message key column: decoding them costs a few strings, not the whole metadata).
pub fn encode_sort_fields(s: &SortFields) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + s.base_subject.len());
    put_sort(&mut out, s);
    out
}

/// Decodes what [`encode_sort_fields`] wrote; checked like the metadata.
pub fn decode_sort_fields(b: &[u8]) -> Result<SortFields, DecodeError> {
    decode_sort_fields_for(b, SortNeed::ALL)
}

/// [`decode_sort_fields`] of only the fields `need` names; the others are skipped (their
/// lengths checked, their text neither copied nor checked) and left empty.
pub fn decode_sort_fields_for(b: &[u8], need: SortNeed) -> Result<SortFields, DecodeError> {
    let mut r = Reader { b, pos: 0 };
    let s = r.sort(need)?;
    if r.pos != b.len() {
        return Err(DecodeError::Invalid("trailing bytes"));
    }
    Ok(s)
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
        None => out.push(0),
    }
}

fn put_addr(out: &mut Vec<u8>, a: Option<&SortAddress>) {
    match a {
        Some(a) => {
            out.push(1);
            put_opt_str(out, a.display.as_deref());
            put_str(out, &a.mailbox);
            put_str(out, &a.host);
        }
        None => out.push(0),
    }
}

fn put_sort(out: &mut Vec<u8>, s: &SortFields) {
    put_str(out, &s.base_subject);
    out.push(u8::from(s.reply));
    put_addr(out, s.from.as_ref());
    put_addr(out, s.to.as_ref());
    put_addr(out, s.cc.as_ref());
    put_opt_str(out, s.message_id.as_deref());
    put_u64(out, s.references.len() as u64);
    for r in &s.references {
        put_str(out, r);
    }
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
    fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::Invalid("flag")),
        }
    }

    /// An optional string, or `None` (skipped) unless `keep`.
    fn opt_str_if(&mut self, keep: bool) -> Result<Option<String>, DecodeError> {
        Ok(if self.flag()? {
            let s = self.str_if(keep)?;
            keep.then_some(s)
        } else {
            None
        })
    }

    /// A string, or an empty one (skipped) unless `keep`.
    fn str_if(&mut self, keep: bool) -> Result<String, DecodeError> {
        if keep {
            return self.str();
        }
        let n = self.usize()?;
        let end = self.pos.checked_add(n).ok_or(DecodeError::Truncated)?;
        if end > self.b.len() {
            return Err(DecodeError::Truncated);
        }
        self.pos = end;
        Ok(String::new())
    }

    fn addr(&mut self, keep: bool) -> Result<Option<SortAddress>, DecodeError> {
        if !self.flag()? {
            return Ok(None);
        }
        let a = SortAddress {
            display: self.opt_str_if(keep)?,
            mailbox: self.str_if(keep)?,
            host: self.str_if(keep)?,
        };
        Ok(keep.then_some(a))
    }

    fn sort(&mut self, need: SortNeed) -> Result<SortFields, DecodeError> {
        let base_subject = self.str_if(need.subject)?;
        let reply = self.flag()? && need.subject;
        let from = self.addr(need.addresses)?;
        let to = self.addr(need.addresses)?;
        let cc = self.addr(need.addresses)?;
        let message_id = self.opt_str_if(need.threading)?;
        let n = self.usize()?;
        // Each ID takes at least one byte, so `n` cannot ask for more than the input has.
        let cap = if need.threading {
            n.min(self.b.len().saturating_sub(self.pos))
        } else {
            0
        };
        let mut references = Vec::with_capacity(cap);
        for _ in 0..n {
            let r = self.str_if(need.threading)?;
            if need.threading {
                references.push(r);
            }
        }
        Ok(SortFields {
            base_subject,
            reply,
            from,
            to,
            cc,
            message_id,
            references,
        })
    }

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
    if b[2] != VERSION && b[2] != VERSION_1 {
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
    let sort = if b[2] == VERSION {
        Some(r.sort(SortNeed::ALL)?)
    } else {
        None
    };
    if r.pos != b.len() {
        return Err(DecodeError::Invalid("trailing bytes"));
    }
    Ok(MessageMeta {
        root,
        envelope,
        body,
        bodystructure,
        sent_date,
        sort,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_fields_decode_what_is_needed() {
        let raw = b"From: Ann <a@b.c>\r\nTo: d@e.f\r\nCc: Grp: ;\r\nSubject: Re: x\r\n\
            Message-ID: <1@x>\r\nReferences: <0@x> <00@x>\r\n\r\nbody\r\n";
        let meta = crate::parse(raw);
        let all = crate::sort_fields(raw, &meta);
        assert!(all.from.is_some() && all.reply && all.references.len() == 2);
        let enc = encode_sort_fields(&all);
        for subject in [false, true] {
            for addresses in [false, true] {
                for threading in [false, true] {
                    let need = SortNeed {
                        subject,
                        addresses,
                        threading,
                    };
                    let got = decode_sort_fields_for(&enc, need).unwrap();
                    assert_eq!(got, need.keep(all.clone()), "{need:?}");
                }
            }
        }
        assert_eq!(decode_sort_fields(&enc).unwrap(), all);
        // Skipped fields are still bounds-checked.
        assert!(decode_sort_fields_for(&enc[..enc.len() - 1], SortNeed::NONE).is_err());
    }

    #[test]
    fn version_1_is_still_read() {
        let raw = b"From: a@b.c\r\nSubject: Re: x\r\n\r\nbody\r\n";
        let meta = crate::parse(raw);
        let v2 = encode(&meta);
        let mut tail = Vec::new();
        put_sort(&mut tail, meta.sort.as_ref().expect("parse fills it"));
        let mut v1 = v2[..v2.len() - tail.len()].to_vec();
        v1[2] = VERSION_1;
        let old = decode(&v1).expect("v1 decodes");
        assert!(old.sort_fields().is_none());
        // Readers then extract the same fields from the bytes.
        assert_eq!(
            &crate::sort_fields(raw, &old),
            meta.sort_fields().expect("parse fills it")
        );
        assert_eq!(decode(&v2).expect("v2 decodes"), meta);
    }
}
