//! Dates: INTERNALDATE rendering and SEARCH date comparisons.
//!
//! Implementation notes:
//! - INTERNALDATE is kept as a UTC instant plus the offset it was given in, and written back
//!   in that offset (RFC 3501 §2.3.3).
//! - SEARCH BEFORE/ON/SINCE compare the *date* of INTERNALDATE in its own zone, disregarding
//!   time and timezone (RFC 3501 §6.4.4); SENTBEFORE etc. do the same with the Date: header.

use std::time::{SystemTime, UNIX_EPOCH};

use pochta_store::MailDate;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Now, in UTC.
pub fn now() -> MailDate {
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    MailDate {
        unix,
        offset_minutes: 0,
    }
}

pub use pochta_types::civil::{civil_from_days, days_from_civil};

/// The local day number (days since epoch in the date's own offset).
pub fn local_day(d: MailDate) -> i64 {
    (d.unix + i64::from(d.offset_minutes) * 60).div_euclid(86400)
}

/// `"01-Jan-2024 12:00:00 +0000"` with the quotes, as FETCH INTERNALDATE writes it.
pub fn format_internal_date(d: MailDate, out: &mut Vec<u8>) {
    let local = d.unix + i64::from(d.offset_minutes) * 60;
    let (y, m, day) = civil_from_days(local.div_euclid(86400));
    let secs = local.rem_euclid(86400);
    let off = d.offset_minutes;
    let sign = if off < 0 { '-' } else { '+' };
    let off = off.unsigned_abs();
    let s = format!(
        "\"{:02}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}\"",
        day,
        MONTHS[(m - 1) as usize],
        y,
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        sign,
        off / 60,
        off % 60
    );
    out.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let mut out = Vec::new();
        format_internal_date(
            MailDate {
                unix: 1_704_110_400,
                offset_minutes: 0,
            },
            &mut out,
        );
        assert_eq!(out, b"\"01-Jan-2024 12:00:00 +0000\"");
        out.clear();
        format_internal_date(
            MailDate {
                unix: 1_705_303_800,
                offset_minutes: 180,
            },
            &mut out,
        );
        assert_eq!(out, b"\"15-Jan-2024 10:30:00 +0300\"");
        out.clear();
        format_internal_date(
            MailDate {
                unix: 0,
                offset_minutes: -330,
            },
            &mut out,
        );
        assert_eq!(out, b"\"31-Dec-1969 18:30:00 -0530\"");
    }
}
