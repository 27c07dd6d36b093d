//! Small response writers the session uses for everything that is not pre-rendered.
//!
//! Implementation notes:
//! - Every string goes through [`string`], which picks quoted or literal so that whatever
//!   bytes a message or a client gave us, the response stays syntactically valid.
//! - Mailbox names are written in modified UTF-7 unless UTF8=ACCEPT is on (RFC 3501 §5.1.3,
//!   RFC 6855 §3).

use pochta_imap_proto::response;
use pochta_types::{Flags, MailboxName, mutf7};

/// Quoted if 7-bit and safe, else a literal (the choice is `pochta-imap-proto`'s).
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    response::write_string(out, s);
}

/// `{n}\r\n` and the bytes.
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    response::write_literal(out, s);
}

/// A string or NIL.
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    response::write_nstring(out, s);
}

/// A mailbox name as the client expects it, always as a string (quoted like Dovecot does,
/// which every client reads).
pub fn mailbox(out: &mut Vec<u8>, name: &MailboxName, utf8: bool) {
    if utf8 {
        response::write_string_utf8(out, name.as_str().as_bytes(), true);
    } else {
        string(out, mutf7::encode(name.as_str()).as_bytes());
    }
}

/// `(\Seen $Label)`, with `\Recent` when asked.
pub fn flag_list(out: &mut Vec<u8>, flags: &Flags, recent: bool) {
    response::write_flags(out, flags, recent);
}

/// A number in decimal.
pub fn num(out: &mut Vec<u8>, n: impl itoa_like::Num) {
    n.write(out);
}

/// Compact sequence set `1:3,5` from ascending numbers.
pub fn sequence_set(out: &mut Vec<u8>, nums: &[u32]) {
    response::write_numbers(out, nums.iter().copied());
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
        assert_eq!(o, b"\"abc def\"\"a\\\"b\"{2}\r\n\xd1\x8f");
        o.clear();
        sequence_set(&mut o, &[1, 2, 3, 5, 7, 8]);
        assert_eq!(o, b"1:3,5,7:8");
        o.clear();
        num(&mut o, 0u32);
        num(&mut o, 4_294_967_295u32);
        assert_eq!(o, b"04294967295");
    }
}
