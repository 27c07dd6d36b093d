//! Delivery status notifications: RFC 3464 `multipart/report; report-type=delivery-status`.
//!
//! Implementation notes:
//! - Three parts (RFC 3464 §2, RFC 6522): a human-readable explanation, the
//!   `message/delivery-status` fields, and the original message — whole as `message/rfc822`,
//!   or only its header as `text/rfc822-headers` when the sender asked `RET=HDRS`
//!   (RFC 3461 §4.3).
//! - Per-message fields: `Reporting-MTA`, `Original-Envelope-Id` (when `ENVID` was given),
//!   `Arrival-Date`. Per-recipient fields: `Final-Recipient`, `Original-Recipient` (from
//!   `ORCPT`), `Action`, `Status`, `Remote-MTA`, `Diagnostic-Code`, `Last-Attempt-Date`
//!   (RFC 3464 §2.2, §2.3).
//! - `Status` is the enhanced code of the last reply (RFC 3463) when it has one, else derived
//!   from the reply class: a failure with no SMTP reply (connection refused until the queue
//!   lifetime ran out) is `4.4.7` "delivery time expired".
//! - DSNs carry `Auto-Submitted: auto-replied` (RFC 3834 §5) and go out with the null
//!   reverse-path (RFC 5321 §4.5.5), so they are never bounced themselves.

use crate::spool::Ret;

/// Which notice a DSN gives (RFC 3464 §2.3.3 `Action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnKind {
    Failed,
    Delayed,
    Relayed,
}

impl DsnKind {
    fn action(self) -> &'static str {
        match self {
            DsnKind::Failed => "failed",
            DsnKind::Delayed => "delayed",
            DsnKind::Relayed => "relayed",
        }
    }
}

/// One recipient reported on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    pub address: String,
    pub orcpt: Option<(String, String)>,
    /// The last SMTP reply (`550 5.1.1 no such user`) or error text.
    pub reply: String,
    pub remote_mta: Option<String>,
}

/// Everything a DSN says.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    pub reporter_host: &'a str,
    pub kind: DsnKind,
    /// The original envelope sender, to whom the DSN goes.
    pub sender: &'a str,
    pub envid: Option<&'a str>,
    pub ret: Option<Ret>,
    /// Unix seconds the original message was accepted.
    pub arrival: i64,
    pub now: i64,
    pub recipients: &'a [DsnRecipient],
    pub original: &'a [u8],
}

/// The enhanced status code (RFC 3463) of a reply, or one derived from its class.
pub fn status_of(reply: &str, kind: DsnKind) -> String {
    let mut words = reply.split_whitespace();
    let code = words
        .next()
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()));
    if let Some(code) = code {
        if let Some(enh) = words.next()
            && is_enhanced(enh)
            && enh.as_bytes()[0] == code.as_bytes()[0]
        {
            return enh.to_owned();
        }
        return match code.as_bytes()[0] {
            b'2' => "2.0.0",
            b'4' => "4.0.0",
            _ => "5.0.0",
        }
        .into();
    }
    match kind {
        DsnKind::Relayed => "2.0.0".into(),
        // No SMTP reply at all: DNS or connection trouble until we gave up or warned.
        DsnKind::Failed => "4.4.7".into(),
        DsnKind::Delayed => "4.4.1".into(),
    }
}

fn is_enhanced(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Builds the DSN message (CRLF line endings).
pub fn build(r: &Report<'_>) -> Vec<u8> {
    let host = r.reporter_host;
    let boundary = format!("{:016x}/{host}", rand::random::<u64>());
    let subject = match r.kind {
        DsnKind::Failed => "Undelivered Mail Returned to Sender",
        DsnKind::Delayed => "Delayed Mail (still being retried)",
        DsnKind::Relayed => "Successful Mail Delivery Report",
    };
    let mut m = String::new();
    m.push_str(&format!(
        "From: Mail Delivery System <MAILER-DAEMON@{host}>\r\n"
    ));
    m.push_str(&format!("To: <{}>\r\n", r.sender));
    m.push_str(&format!("Subject: {subject}\r\n"));
    m.push_str(&format!(
        "Date: {}\r\n",
        pochta_message::dates::rfc5322(r.now)
    ));
    m.push_str(&format!(
        "Message-ID: <{:016x}.dsn@{host}>\r\n",
        rand::random::<u64>()
    ));
    m.push_str("Auto-Submitted: auto-replied\r\n");
    m.push_str("MIME-Version: 1.0\r\n");
    m.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
    ));
    m.push_str("This is a MIME-encapsulated message.\r\n\r\n");

    // 1. Human-readable part.
    m.push_str(&format!("--{boundary}\r\n"));
    m.push_str("Content-Type: text/plain; charset=utf-8\r\n");
    m.push_str("Content-Transfer-Encoding: 8bit\r\n\r\n");
    m.push_str(&format!("This is the mail system at host {host}.\r\n\r\n"));
    m.push_str(match r.kind {
        DsnKind::Failed => {
            "I'm sorry to have to inform you that your message could not\r\n\
             be delivered to one or more recipients. It's attached below.\r\n"
        }
        DsnKind::Delayed => {
            "Your message could not be delivered yet to one or more recipients.\r\n\
             It will be retried; you do not need to send it again.\r\n"
        }
        DsnKind::Relayed => {
            "Your message was passed on to the recipients' mail system, which\r\n\
             does not send delivery notifications itself.\r\n"
        }
    });
    m.push_str("\r\n");
    for rc in r.recipients {
        m.push_str(&format!("<{}>: {}\r\n", rc.address, one_line(&rc.reply)));
    }
    m.push_str("\r\n");

    // 2. message/delivery-status (RFC 3464 §2.1).
    m.push_str(&format!("--{boundary}\r\n"));
    m.push_str("Content-Type: message/delivery-status\r\n\r\n");
    m.push_str(&format!("Reporting-MTA: dns; {host}\r\n"));
    if let Some(envid) = r.envid {
        m.push_str(&format!("Original-Envelope-Id: {}\r\n", one_line(envid)));
    }
    m.push_str(&format!(
        "Arrival-Date: {}\r\n",
        pochta_message::dates::rfc5322(r.arrival)
    ));
    for rc in r.recipients {
        m.push_str("\r\n");
        m.push_str(&format!("Final-Recipient: rfc822; {}\r\n", rc.address));
        if let Some((ty, addr)) = &rc.orcpt {
            m.push_str(&format!(
                "Original-Recipient: {}; {}\r\n",
                one_line(ty),
                one_line(addr)
            ));
        }
        m.push_str(&format!("Action: {}\r\n", r.kind.action()));
        m.push_str(&format!("Status: {}\r\n", status_of(&rc.reply, r.kind)));
        if let Some(mta) = &rc.remote_mta {
            m.push_str(&format!("Remote-MTA: dns; {}\r\n", one_line(mta)));
        }
        if !rc.reply.is_empty() {
            let smtp = rc.reply.as_bytes().first().is_some_and(u8::is_ascii_digit);
            let ty = if smtp { "smtp" } else { "X-Pochta" };
            m.push_str(&format!(
                "Diagnostic-Code: {ty}; {}\r\n",
                one_line(&rc.reply)
            ));
        }
        m.push_str(&format!(
            "Last-Attempt-Date: {}\r\n",
            pochta_message::dates::rfc5322(r.now)
        ));
    }
    m.push_str("\r\n");

    // 3. The original message or its header.
    m.push_str(&format!("--{boundary}\r\n"));
    let mut out = m.into_bytes();
    let hdrs_only = r.ret == Some(Ret::Hdrs) || r.kind != DsnKind::Failed;
    if hdrs_only {
        out.extend_from_slice(b"Content-Type: text/rfc822-headers\r\n\r\n");
        out.extend_from_slice(header_of(r.original));
    } else {
        out.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
        out.extend_from_slice(r.original);
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// The header section of a message (through the blank line).
fn header_of(message: &[u8]) -> &[u8] {
    match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => &message[..i + 2],
        None => message,
    }
}

/// Folds control characters away so a field value stays on one line.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes() {
        assert_eq!(
            status_of("550 5.1.1 No such user", DsnKind::Failed),
            "5.1.1"
        );
        assert_eq!(status_of("550 No such user", DsnKind::Failed), "5.0.0");
        assert_eq!(status_of("451 4.3.0 later", DsnKind::Delayed), "4.3.0");
        // An enhanced code of a different class than the reply is not believed.
        assert_eq!(status_of("550 2.1.1 odd", DsnKind::Failed), "5.0.0");
        assert_eq!(status_of("connection refused", DsnKind::Failed), "4.4.7");
        assert_eq!(status_of("", DsnKind::Delayed), "4.4.1");
        assert_eq!(status_of("250 2.0.0 ok", DsnKind::Relayed), "2.0.0");
    }

    #[test]
    fn header_only() {
        assert_eq!(
            header_of(b"A: b\r\nC: d\r\n\r\nbody\r\n"),
            b"A: b\r\nC: d\r\n"
        );
        assert_eq!(header_of(b"A: b\r\n"), b"A: b\r\n");
    }
}
