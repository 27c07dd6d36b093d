//! Text helpers for SEARCH: charsets and case-insensitive matching.
//!
//! Implementation notes:
//! - Search strings arrive as bytes in the command's CHARSET (RFC 3501 §6.4.4); they are
//!   decoded to UTF-8 once, with encoding_rs (KOI8-R, windows-1251, ISO-8859-x, …). An unknown
//!   charset is refused with `NO [BADCHARSET (UTF-8 US-ASCII …)]`.
//! - Matching is substring under the `i;unicode-casemap` comparator (RFC 5051, the
//!   I18NLEVEL=1 default of RFC 5255 §4): both sides go through [`fold`] (titlecase each
//!   character, then NFKD), so `ОТЧЁТ` finds `отчёт` and a precomposed `é` finds `e` +
//!   U+0301. SORT compares the same folded keys as octets (RFC 5051 §2).

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

/// The `i;unicode-casemap` canonical form (RFC 5051 §2): every character mapped to its
/// titlecase (simple mapping), then the whole string decomposed with NFKD. Two strings are
/// equal under the comparator iff their forms are equal; their order is the octet order of
/// the forms. Pure ASCII, the common case, is upper-cased in place.
pub fn fold(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    if s.is_ascii() {
        return s.to_ascii_uppercase();
    }
    s.chars().map(titlecase).nfkd().collect()
}

/// [`fold`] of an owned string: pure ASCII is upper-cased in place, without a copy.
pub fn fold_owned(mut s: String) -> String {
    if s.is_ascii() {
        s.make_ascii_uppercase();
        return s;
    }
    fold(&s)
}

/// Simple titlecase mapping of one character. The standard library knows the uppercase
/// mapping, which is the titlecase one except for the Latin digraphs (`ǆ` → `ǅ`) and
/// Georgian Mkhedruli (no titlecase); a character whose uppercase is several characters has
/// no simple mapping (`ß` stays `ß`).
fn titlecase(c: char) -> char {
    match c {
        '\u{01C4}'..='\u{01C6}' => '\u{01C5}',
        '\u{01C7}'..='\u{01C9}' => '\u{01C8}',
        '\u{01CA}'..='\u{01CC}' => '\u{01CB}',
        '\u{01F1}'..='\u{01F3}' => '\u{01F2}',
        '\u{10D0}'..='\u{10FF}' => c,
        _ => {
            let mut up = c.to_uppercase();
            match (up.next(), up.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        }
    }
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
        for t in ["Re: topic 1", "ПРИВЕТ мир", "caf\u{e9}", ""] {
            assert_eq!(fold_owned(t.to_owned()), fold(t));
        }
    }

    #[test]
    fn unicode_casemap() {
        // RFC 5051: case and compatibility forms are equal; order is octet order of forms.
        assert_eq!(fold("ПРИВЕТ"), fold("привет"));
        assert_eq!(fold("Straße"), fold("STRAßE"));
        assert_eq!(fold("caf\u{e9}"), fold("CAFE\u{301}"));
        assert_eq!(fold("ǆemal"), fold("Ǆemal"));
        assert!(fold("абв") < fold("Где"));
        assert!(fold("Zebra") < fold("яблоко"));
        assert!(fold("a_b") > fold("ABC"));
        assert!(contains_folded(&fold("Re: привет, мир"), &fold("ПРИВЕТ")));
    }
}
