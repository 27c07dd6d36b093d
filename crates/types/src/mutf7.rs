//! Modified UTF-7 for IMAP mailbox names (RFC 3501 §5.1.3).
//!
//! Printable ASCII stands for itself except `&`, written `&-`; every other run of characters
//! is UTF-16, base64-encoded with `,` in place of `/`, between `&` and `-`.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

/// Encode a Unicode mailbox name in modified UTF-7.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending: Vec<u16> = Vec::new();
    for c in s.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut out, &mut pending);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            pending.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut out, &mut pending);
    out
}

fn flush(out: &mut String, pending: &mut Vec<u16>) {
    if pending.is_empty() {
        return;
    }
    out.push('&');
    let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out.push('-');
    pending.clear();
}

/// Why a modified UTF-7 string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid modified UTF-7 mailbox name")]
pub struct DecodeError;

/// Decode a modified UTF-7 mailbox name. Strict: refuses what an encoder could not have
/// written (8-bit bytes, unterminated or padded shifts, an encoded printable ASCII character,
/// unpaired surrogates), so that every name has one spelling.
pub fn decode(s: &str) -> Result<String, DecodeError> {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(0x20..0x7f).contains(&b) {
            return Err(DecodeError);
        }
        if b != b'&' {
            out.push(b as char);
            i += 1;
            continue;
        }
        let end = s[i + 1..].find('-').ok_or(DecodeError)? + i + 1;
        let run = &bytes[i + 1..end];
        i = end + 1;
        if run.is_empty() {
            out.push('&');
            continue;
        }
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut units: Vec<u16> = Vec::new();
        let mut byte_buf: Vec<u8> = Vec::new();
        for &c in run {
            let v = ALPHABET.iter().position(|&a| a == c).ok_or(DecodeError)? as u32;
            bits = (bits << 6) | v;
            nbits += 6;
            if nbits >= 8 {
                nbits -= 8;
                byte_buf.push((bits >> nbits) as u8);
                bits &= (1 << nbits) - 1;
            }
        }
        // Leftover bits must be zero padding of fewer than 6 bits.
        if nbits >= 6 || bits != 0 || !byte_buf.len().is_multiple_of(2) {
            return Err(DecodeError);
        }
        for pair in byte_buf.chunks(2) {
            units.push(u16::from_be_bytes([pair[0], pair[1]]));
        }
        let decoded = String::from_utf16(&units).map_err(|_| DecodeError)?;
        if decoded.chars().any(|c| (' '..='~').contains(&c)) {
            return Err(DecodeError);
        }
        out.push_str(&decoded);
        // Two adjacent shifted runs would have been written as one.
        if bytes.get(i) == Some(&b'&') && bytes.get(i + 1) != Some(&b'-') {
            return Err(DecodeError);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_answers() {
        let cases = [
            ("INBOX", "INBOX"),
            ("&", "&-"),
            ("Tom & Jerry", "Tom &- Jerry"),
            ("Отправленные", "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"),
            (
                "Входящие/Работа",
                "&BBIERQQ+BDQETwRJBDgENQ-/&BCAEMAQxBD4EQgQw-",
            ),
            ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
            ("😀", "&2D3eAA-"),
        ];
        for (uni, enc) in cases {
            assert_eq!(encode(uni), enc, "encode {uni}");
            assert_eq!(decode(enc).as_deref(), Ok(uni), "decode {enc}");
        }
    }

    #[test]
    fn refuses_non_canonical() {
        for bad in [
            "&",
            "&AGE-",
            "&Jjo",
            "é",
            "&2D0-",
            "&U,BTFw-&ZeVnLIqe-",
            "&U,BTF-",
        ] {
            assert_eq!(decode(bad), Err(DecodeError), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn round_trip(s in "\\PC*") {
            prop_assert_eq!(decode(&encode(&s)), Ok(s));
        }
    }
}
