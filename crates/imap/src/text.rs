//! Text helpers for SEARCH: charsets and case-insensitive matching.
//!
//! Implementation notes:
//! - Search strings arrive as bytes in the command's CHARSET (RFC 3501 §6.4.4); they are
//!   decoded to UTF-8 once, with encoding_rs (KOI8-R, windows-1251, ISO-8859-x, …). An unknown
//!   charset is refused with `NO [BADCHARSET (UTF-8 US-ASCII …)]`.
//! - Matching is substring, case-insensitive by Unicode simple lower-casing on both sides
//!   (RFC 3501 leaves the comparison to the server; RFC 9051 §6.4.4.1 asks for at least
//!   i;unicode-casemap-like behaviour), so `ОТЧЁТ` finds `отчёт`.

/// Charsets we name in `BADCHARSET`; encoding_rs knows many more labels and we accept any.
pub const ADVERTISED_CHARSETS: &[&str] = &[
    "UTF-8",
    "US-ASCII",
    "KOI8-R",
    "WINDOWS-1251",
    "ISO-8859-1",
    "ISO-8859-5",
];

/// Decode a search string from the command's charset. `None` if the charset is unknown.
pub fn decode_charset(bytes: &[u8], charset: Option<&str>) -> Option<String> {
    let label = charset.unwrap_or("UTF-8");
    if label.eq_ignore_ascii_case("US-ASCII") || label.eq_ignore_ascii_case("UTF-8") {
        return Some(String::from_utf8_lossy(bytes).into_owned());
    }
    let enc = encoding_rs::Encoding::for_label(label.as_bytes())?;
    let (s, _, _) = enc.decode(bytes);
    Some(s.into_owned())
}

/// Lower-case for matching.
pub fn fold(s: &str) -> String {
    s.to_lowercase()
}

/// Whether `haystack` (already folded) contains `needle` (already folded). An empty needle
/// matches everything (RFC 3501: every message "contains" the empty string).
pub fn contains_folded(haystack: &str, needle: &str) -> bool {
    needle.is_empty() || haystack.contains(needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charsets() {
        // "отчёт" in KOI8-R.
        let koi = [0xcf, 0xd4, 0xde, 0xa3, 0xd4];
        assert_eq!(
            decode_charset(&koi, Some("koi8-r")).as_deref(),
            Some("отчёт")
        );
        let cp = [0xee, 0xf2, 0xf7, 0xb8, 0xf2];
        assert_eq!(
            decode_charset(&cp, Some("Windows-1251")).as_deref(),
            Some("отчёт")
        );
        assert!(decode_charset(b"x", Some("x-no-such")).is_none());
        assert!(contains_folded(&fold("Квартальный ОТЧЁТ"), &fold("отчёт")));
    }
}
