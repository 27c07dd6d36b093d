//! STATUS (RFC 9051 §6.3.11) with CONDSTORE's HIGHESTMODSEQ (RFC 7162 §3.1.9), STATUS=SIZE
//! (RFC 8438), DELETED (RFC 9051), DELETED-STORAGE (RFC 9208 §4.1.4), APPENDLIMIT
//! (RFC 7889) and MAILBOXID (RFC 8474).
//!
//! Implementation notes:
//! - Items keep the client's order; duplicates are kept (the session answers each once).
//!
//! ```abnf
//! status     = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
//! status-att = "MESSAGES" / "UIDNEXT" / "UIDVALIDITY" / "UNSEEN" / "DELETED" / "SIZE" /
//!              "RECENT" / "HIGHESTMODSEQ" / "APPENDLIMIT" / "MAILBOXID" / "DELETED-STORAGE"
//! ```

use pochta_types::MailboxName;

use crate::parse::{Cursor, PResult, syntax};

/// One STATUS data item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Deleted,
    /// RFC 9208 §4.1.4: what an EXPUNGE would free.
    DeletedStorage,
    Size,
    HighestModSeq,
    AppendLimit,
    MailboxId,
}

impl StatusItem {
    pub const ALL: [StatusItem; 11] = [
        StatusItem::Messages,
        StatusItem::Recent,
        StatusItem::UidNext,
        StatusItem::UidValidity,
        StatusItem::Unseen,
        StatusItem::Deleted,
        StatusItem::DeletedStorage,
        StatusItem::Size,
        StatusItem::HighestModSeq,
        StatusItem::AppendLimit,
        StatusItem::MailboxId,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StatusItem::Messages => "MESSAGES",
            StatusItem::Recent => "RECENT",
            StatusItem::UidNext => "UIDNEXT",
            StatusItem::UidValidity => "UIDVALIDITY",
            StatusItem::Unseen => "UNSEEN",
            StatusItem::Deleted => "DELETED",
            StatusItem::DeletedStorage => "DELETED-STORAGE",
            StatusItem::Size => "SIZE",
            StatusItem::HighestModSeq => "HIGHESTMODSEQ",
            StatusItem::AppendLimit => "APPENDLIMIT",
            StatusItem::MailboxId => "MAILBOXID",
        }
    }
}

/// `STATUS mailbox (items)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub mailbox: MailboxName,
    pub items: Vec<StatusItem>,
}

pub(crate) fn status_item(c: &mut Cursor<'_>) -> PResult<StatusItem> {
    let k = c.keyword()?;
    StatusItem::ALL
        .into_iter()
        .find(|i| i.as_str() == k)
        .map_or_else(|| syntax(format!("unknown STATUS item {k}")), Ok)
}

pub(crate) fn status(c: &mut Cursor<'_>) -> PResult<Status> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    c.sp()?;
    let items = c.paren_list(1, status_item)?;
    Ok(Status { mailbox, items })
}
