//! Core protocol newtypes: tags, dates, character classes.
//!
//! Implementation notes:
//! - A [`Tag`] is valid by construction: 1 or more ASTRING-CHARs except `+` (RFC 3501 §9),
//!   at most [`MAX_TAG_LEN`] bytes, so it can be echoed back verbatim in a tagged response.
//! - [`Date`] / [`DateTime`] are checked on construction (month 1..=12, day within the month,
//!   leap years, time fields in range, zone within ±99:59), so writers never emit nonsense.
//!
//! ```abnf
//! tag            = 1*<any ASTRING-CHAR except "+">
//! ASTRING-CHAR   = ATOM-CHAR / resp-specials
//! ATOM-CHAR      = <any CHAR except atom-specials>
//! atom-specials  = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
//! ```

use std::fmt;

/// Longest tag we accept; far above what any client sends, small enough to echo cheaply.
pub const MAX_TAG_LEN: usize = 64;

/// `ATOM-CHAR` (RFC 3501 §9).
pub const fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// `ASTRING-CHAR` = ATOM-CHAR / "]" (RFC 3501 §9).
pub const fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

/// `list-char` = ATOM-CHAR / list-wildcards / resp-specials (RFC 3501 §9).
pub const fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

/// `tag` character: ASTRING-CHAR except "+".
pub const fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

/// A command tag (RFC 3501 §2.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag(String);

impl Tag {
    /// Validate a tag.
    pub fn new(s: &[u8]) -> Option<Self> {
        if s.is_empty() || s.len() > MAX_TAG_LEN || !s.iter().all(|&b| is_tag_char(b)) {
            return None;
        }
        // All bytes are ASCII by the check above.
        Some(Tag(String::from_utf8_lossy(s).into_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Month name as IMAP writes it (`Jan`..`Dec`); `month` is 1..=12.
pub fn month_name(month: u8) -> &'static str {
    MONTHS[(month.clamp(1, 12) - 1) as usize]
}

/// Month number from its three-letter name, case-insensitive.
pub fn month_from_name(name: &[u8]) -> Option<u8> {
    MONTHS
        .iter()
        .position(|m| m.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| i as u8 + 1)
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        _ => 0,
    }
}

/// A calendar date as in SEARCH keys (RFC 3501 §9 `date`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: u16,
    month: u8,
    day: u8,
}

impl Date {
    /// A valid date, or `None`. Years are four digits as in the ABNF (`date-year = 4DIGIT`).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        if year > 9999 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month)
        {
            return None;
        }
        Some(Date { year, month, day })
    }
    pub fn year(self) -> u16 {
        self.year
    }
    pub fn month(self) -> u8 {
        self.month
    }
    pub fn day(self) -> u8 {
        self.day
    }
}

impl fmt::Display for Date {
    /// `1-Feb-2024`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}-{:04}",
            self.day,
            month_name(self.month),
            self.year
        )
    }
}

/// A date-time with zone as in APPEND and INTERNALDATE (RFC 3501 §9 `date-time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    date: Date,
    hour: u8,
    minute: u8,
    second: u8,
    /// Offset from UTC in minutes, -5999..=5999 (`zone = ("+" / "-") 4DIGIT`).
    zone_minutes: i16,
}

impl DateTime {
    /// A valid date-time, or `None`.
    pub fn new(date: Date, hour: u8, minute: u8, second: u8, zone_minutes: i16) -> Option<Self> {
        // Second 60 is a leap second; RFC 5322 allows it.
        if hour > 23 || minute > 59 || second > 60 || !(-5999..=5999).contains(&zone_minutes) {
            return None;
        }
        Some(DateTime {
            date,
            hour,
            minute,
            second,
            zone_minutes,
        })
    }
    pub fn date(self) -> Date {
        self.date
    }
    pub fn time(self) -> (u8, u8, u8) {
        (self.hour, self.minute, self.second)
    }
    pub fn zone_minutes(self) -> i16 {
        self.zone_minutes
    }
    /// Seconds since the Unix epoch (UTC), for the store.
    pub fn unix_timestamp(self) -> i64 {
        let days = pochta_types::civil::days_from_civil(
            i64::from(self.date.year),
            u32::from(self.date.month),
            u32::from(self.date.day),
        );
        days * 86400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.zone_minutes) * 60
    }
    /// The instant `unix` (seconds since the epoch, UTC) as seen in the zone `zone_minutes`
    /// east of UTC; `None` outside the years 0–9999 or for an invalid zone.
    pub fn from_unix(unix: i64, zone_minutes: i16) -> Option<Self> {
        let local = unix.checked_add(i64::from(zone_minutes) * 60)?;
        let (y, m, d) = pochta_types::civil::civil_from_days(local.div_euclid(86400));
        let secs = local.rem_euclid(86400);
        let date = Date::new(
            u16::try_from(y).ok()?,
            u8::try_from(m).ok()?,
            u8::try_from(d).ok()?,
        )?;
        DateTime::new(
            date,
            (secs / 3600) as u8,
            (secs % 3600 / 60) as u8,
            (secs % 60) as u8,
            zone_minutes,
        )
    }
}

impl fmt::Display for DateTime {
    /// `01-Feb-2024 13:05:09 +0300` without the quotes (`date-day-fixed` with a leading space
    /// for single digits is also legal, but the two-digit form is the one every client reads).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let z = self.zone_minutes;
        let sign = if z < 0 { '-' } else { '+' };
        let z = z.unsigned_abs();
        write!(
            f,
            "{:02}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}",
            self.date.day,
            month_name(self.date.month),
            self.date.year,
            self.hour,
            self.minute,
            self.second,
            sign,
            z / 60,
            z % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert!(Tag::new(b"a1").is_some());
        assert!(Tag::new(b"a]").is_some());
        assert!(Tag::new(b"").is_none());
        assert!(Tag::new(b"a+").is_none());
        assert!(Tag::new(b"a*").is_none());
        assert!(Tag::new(b"a b").is_none());
    }

    #[test]
    fn dates() {
        assert!(Date::new(2024, 2, 29).is_some());
        assert!(Date::new(2023, 2, 29).is_none());
        assert!(Date::new(1900, 2, 29).is_none());
        assert!(Date::new(2000, 2, 29).is_some());
        let dt = DateTime::new(Date::new(1970, 1, 2).unwrap(), 0, 0, 0, 60).unwrap();
        assert_eq!(dt.unix_timestamp(), 86400 - 3600);
        assert_eq!(dt.to_string(), "02-Jan-1970 00:00:00 +0100");
    }
}
