//! Dates: the clock and SEARCH date comparisons (INTERNALDATE is written by
//! `pochta_imap_proto::response::write_date_time`).
//!
//! Implementation notes:
//! - INTERNALDATE is kept as a UTC instant plus the offset it was given in, and written back
//!   in that offset (RFC 3501 §2.3.3).
//! - SEARCH BEFORE/ON/SINCE compare the *date* of INTERNALDATE in its own zone, disregarding
//!   time and timezone (RFC 3501 §6.4.4); SENTBEFORE etc. do the same with the Date: header.

use std::time::{SystemTime, UNIX_EPOCH};

use pochta_store::MailDate;

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
