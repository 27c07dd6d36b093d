//! Message submission specifics (RFC 6409): what the MSA checks and adds.
//!
//! Implementation notes:
//! - Every `From:` address must be the authenticated account or one of its aliases (checked
//!   by the session with the same rule as the envelope sender); a message without `From:` is
//!   refused (`550 5.6.0`) rather than invented.
//! - RFC 6409 §8.3 and §8.4: a missing `Date:` or `Message-ID:` is added (the date in UTC,
//!   the id a random token at our host name). Nothing else in the message is changed.

use mail_auth::AuthenticatedMessage;
use rand::Rng;

/// What submission needs to know of a message's header.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// Addresses of every `From:` mailbox.
    pub from: Vec<String>,
    pub has_date: bool,
    pub has_message_id: bool,
}

/// Reads the header of `message`.
pub fn inspect(message: &[u8]) -> Inspected {
    match AuthenticatedMessage::parse(message) {
        Some(m) => Inspected {
            from: m.from.clone(),
            has_date: m.date_header_present,
            has_message_id: m.message_id_header_present,
        },
        None => Inspected::default(),
    }
}

/// Appends the `Date:` and `Message-ID:` fields the message lacks.
pub fn missing_headers(info: &Inspected, hostname: &str, out: &mut String) {
    if !info.has_date {
        out.push_str("Date: ");
        out.push_str(&pochta_message::dates::now_rfc5322());
        out.push_str("\r\n");
    }
    if !info.has_message_id {
        out.push_str(&format!("Message-ID: <{}@{hostname}>\r\n", new_id()));
    }
}

/// A random id (16 hex digits) for queue ids and Message-IDs.
pub fn new_id() -> String {
    format!("{:016X}", rand::thread_rng().r#gen::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_only_what_is_missing() {
        let i = inspect(b"From: A <a@x.org>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nhi\r\n");
        assert_eq!(i.from, vec!["a@x.org".to_string()]);
        assert!(i.has_date && !i.has_message_id);
        let mut s = String::new();
        missing_headers(&i, "mx.x.org", &mut s);
        assert!(
            s.starts_with("Message-ID: <") && s.ends_with("@mx.x.org>\r\n"),
            "{s}"
        );
        assert!(!s.contains("Date:"));
    }
}
