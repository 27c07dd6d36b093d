//! Small response writers the session uses for everything that is not pre-rendered.
//!
//! Implementation notes:
//! - Every string goes through [`string`], which picks quoted or literal so that whatever
//!   bytes a message or a client gave us, the response stays syntactically valid.
//! - Mailbox names are written in modified UTF-7 unless UTF8=ACCEPT is on (RFC 3501 §5.1.3,
//!   RFC 6855 §3).

use pochta_types::{Flag, Flags, MailboxName, mutf7};

/// Quoted if every byte is 7-bit printable without `"` and `\`, else a literal.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    if s.iter()
        .all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        out.push(b'"');
        out.extend_from_slice(s);
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// `{n}\r\n` and the bytes.
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'{');
    out.extend_from_slice(s.len().to_string().as_bytes());
    out.extend_from_slice(b"}\r\n");
    out.extend_from_slice(s);
}

/// A string or NIL.
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// An atom where the bytes allow it, else a string (for HEADER.FIELDS names, mailbox names).
pub fn astring(out: &mut Vec<u8>, s: &[u8]) {
    if !s.is_empty()
        && s.iter().all(|&b| {
            b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\')
        })
        && !s.eq_ignore_ascii_case(b"NIL")
    {
        out.extend_from_slice(s);
    } else {
        string(out, s);
    }
}

/// A mailbox name as the client expects it.
pub fn mailbox(out: &mut Vec<u8>, name: &MailboxName, utf8: bool) {
    if utf8 {
        string(out, name.as_str().as_bytes());
    } else {
        string(out, mutf7::encode(name.as_str()).as_bytes());
    }
}

/// `(\Seen $Label)`, with `\Recent` when asked.
pub fn flag_list(out: &mut Vec<u8>, flags: &Flags, recent: bool) {
    out.push(b'(');
    let mut first = true;
    for f in flags.iter() {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(f.as_str().as_bytes());
    }
    if recent {
        if !first {
            out.push(b' ');
        }
        out.extend_from_slice(b"\\Recent");
    }
    out.push(b')');
}

/// A list of flags as given.
pub fn flags_of(out: &mut Vec<u8>, flags: &[Flag]) {
    out.push(b'(');
    for (i, f) in flags.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(f.as_str().as_bytes());
    }
    out.push(b')');
}

/// A number in decimal.
pub fn num(out: &mut Vec<u8>, n: impl itoa_like::Num) {
    n.write(out);
}

/// Compact sequence set `1:3,5` from ascending numbers.
pub fn sequence_set(out: &mut Vec<u8>, nums: &[u32]) {
    let mut i = 0;
    let mut first = true;
    while i < nums.len() {
        let start = nums[i];
        let mut end = start;
        while i + 1 < nums.len() && nums[i + 1] == end + 1 {
            i += 1;
            end = nums[i];
        }
        if !first {
            out.push(b',');
        }
        first = false;
        num(out, start);
        if end != start {
            out.push(b':');
            num(out, end);
        }
        i += 1;
    }
}

/// Decimal writing without going through `format!`.
pub mod itoa_like {
    pub trait Num {
        fn write(self, out: &mut Vec<u8>);
    }
    macro_rules! imp {
        ($($t:ty),*) => {$(
            impl Num for $t {
                fn write(self, out: &mut Vec<u8>) {
                    let mut buf = [0u8; 20];
                    let mut i = buf.len();
                    let mut v = self as u64;
                    loop {
                        i -= 1;
                        buf[i] = b'0' + (v % 10) as u8;
                        v /= 10;
                        if v == 0 {
                            break;
                        }
                    }
                    out.extend_from_slice(&buf[i..]);
                }
            }
        )*};
    }
    imp!(u32, u64, usize);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings() {
        let mut o = Vec::new();
        string(&mut o, b"abc def");
        string(&mut o, b"a\"b");
        string(&mut o, "я".as_bytes());
        assert_eq!(o, b"\"abc def\"{3}\r\na\"b{2}\r\n\xd1\x8f");
        o.clear();
        sequence_set(&mut o, &[1, 2, 3, 5, 7, 8]);
        assert_eq!(o, b"1:3,5,7:8");
        o.clear();
        num(&mut o, 0u32);
        num(&mut o, 4_294_967_295u32);
        assert_eq!(o, b"04294967295");
    }
}
