//! REPLACE and UID REPLACE (RFC 8508).
//!
//! Implementation notes (what always holds):
//! - One message is replaced per command: a single sequence number or UID, never a set
//!   (RFC 8508 §3, §6 `seq-number` / `uniqueid`).
//! - The new message has the syntax of one APPEND message (flags, date, literal; RFC 8508 §6
//!   reuses `append-message` of RFC 4466), parsed by [`crate::append`].
//!
//! ```abnf
//! replace     = "REPLACE" SP seq-number SP mailbox append-message     ; RFC 8508 §6
//! uid-replace = "UID" SP "REPLACE" SP uniqueid SP mailbox append-message
//! ```

use std::num::NonZeroU32;

use pochta_types::MailboxName;

use crate::append::{self, AppendMessage};
use crate::parse::{Cursor, PResult};

/// `[UID] REPLACE n mailbox message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replace {
    pub uid: bool,
    /// The message replaced: a sequence number, or a UID for UID REPLACE.
    pub target: NonZeroU32,
    pub mailbox: MailboxName,
    pub message: AppendMessage,
}

pub(crate) fn replace(c: &mut Cursor<'_>, uid: bool) -> PResult<Replace> {
    c.sp()?;
    let target = c.nz_number()?;
    c.sp()?;
    let mailbox = c.mailbox()?;
    c.sp()?;
    let message = append::message(c)?;
    Ok(Replace {
        uid,
        target,
        mailbox,
        message,
    })
}

#[cfg(test)]
mod tests {
    use crate::{CommandBody, ParseOptions, parse_command};

    #[test]
    fn parses_both_forms() {
        let c = parse_command(
            b"a REPLACE 4 Drafts (\\Seen \\Draft) {3}\r\nabc\r\n",
            ParseOptions::default(),
        )
        .unwrap();
        let CommandBody::Replace(r) = c.body else {
            panic!("{c:?}")
        };
        assert!(!r.uid);
        assert_eq!(r.target.get(), 4);
        assert_eq!(r.message.data, b"abc");
        assert_eq!(r.message.flags.len(), 2);
        let c = parse_command(
            b"a UID REPLACE 25 INBOX {1}\r\nx\r\n",
            ParseOptions::default(),
        )
        .unwrap();
        assert_eq!(c.body.name(), "UID REPLACE");
        for bad in [
            &b"a REPLACE 1:2 INBOX {1}\r\nx\r\n"[..],
            b"a REPLACE 0 INBOX {1}\r\nx\r\n",
            b"a REPLACE 1 INBOX\r\n",
        ] {
            assert!(parse_command(bad, ParseOptions::default()).is_err());
        }
    }
}
