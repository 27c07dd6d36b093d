//! NOTIFY (RFC 5465): the command and the responses only NOTIFY sends.
//!
//! Implementation notes (what always holds):
//! - Keywords (`SET`, `STATUS`, `NONE`, filter and event names) are case-insensitive (§8).
//! - The parser checks the grammar of §8 and nothing more: event names it does not know are
//!   kept as [`NotifyEvent::Other`] (`event-ext = atom`), so that the session can refuse them
//!   with `NO [BADEVENT (...)]` rather than `BAD` (§3.1); the semantic rules of §5 and §6.1
//!   (MessageNew with MessageExpunge, only message events for SELECTED, one selected
//!   filter, fetch attributes only for the selected mailbox) are the session's, because the
//!   RFC asks for a tagged BAD for some of them and a NO for others.
//! - A fetch-att list after MessageNew is parsed with FETCH's own attribute grammar (no
//!   macros, as `fetch-att` in §8 excludes them).
//! - Mailbox names in SUBTREE and MAILBOXES are ordinary `mailbox`es: no wildcard expansion
//!   (§6.6); INBOX is case-insensitive as everywhere.
//!
//! ```abnf
//! notify          = "NOTIFY" SP (notify-set / notify-none)
//! notify-set      = "SET" [SP "STATUS"] SP event-groups
//! notify-none     = "NONE"
//! event-groups    = event-group *(SP event-group)
//! event-group     = "(" filter-mailboxes SP events ")"
//! filter-mailboxes = "selected" / "selected-delayed" / "inboxes" / "personal" /
//!                   "subscribed" / ("subtree" SP one-or-more-mailbox) /
//!                   ("mailboxes" SP one-or-more-mailbox)
//! one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"
//! events          = ("(" event *(SP event) ")") / "NONE"
//! event           = ("MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"]) /
//!                   "MessageExpunge" / "FlagChange" / "AnnotationChange" / "MailboxName" /
//!                   "SubscriptionChange" / "MailboxMetadataChange" /
//!                   "ServerMetadataChange" / atom
//! resp-text-code  =/ "NOTIFICATIONOVERFLOW" / "BADEVENT" SP "(" event-name *(SP event-name) ")"
//! oldname-extended-item = "OLDNAME" SP "(" mailbox ")"
//! metadata-resp   = "METADATA" SP mailbox SP entry-list     ; RFC 5464 §4.4.2
//! ```

use pochta_types::MailboxName;

use crate::fetch::FetchAttr;
use crate::parse::{Cursor, PResult, syntax};
use crate::response::{write_mailbox_string, write_string};

/// `NOTIFY NONE` or `NOTIFY SET [STATUS] groups`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notify {
    None,
    Set {
        /// The STATUS indicator: send the initial STATUS responses (§3.1).
        status: bool,
        /// At least one.
        groups: Vec<EventGroup>,
    },
}

/// `(filter events)`; `events: None` is `NONE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventGroup {
    pub filter: Filter,
    pub events: Option<Vec<NotifyEvent>>,
}

/// Which mailboxes a group watches (§6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Selected,
    SelectedDelayed,
    Inboxes,
    Personal,
    Subscribed,
    /// At least one name.
    Subtree(Vec<MailboxName>),
    /// At least one name.
    Mailboxes(Vec<MailboxName>),
}

impl Filter {
    /// SELECTED or SELECTED-DELAYED (§6.1).
    pub fn is_selected(&self) -> bool {
        matches!(self, Filter::Selected | Filter::SelectedDelayed)
    }
}

/// One event name of §5 (and §8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyEvent {
    /// With the fetch attributes to send for a new message (empty: none asked).
    MessageNew(Vec<FetchAttr>),
    MessageExpunge,
    FlagChange,
    AnnotationChange,
    MailboxName,
    SubscriptionChange,
    MailboxMetadataChange,
    ServerMetadataChange,
    /// An `event-ext` atom not defined by RFC 5465, upper-cased.
    Other(String),
}

impl NotifyEvent {
    /// The event's name as §8 spells it.
    pub fn name(&self) -> &str {
        match self {
            NotifyEvent::MessageNew(_) => "MessageNew",
            NotifyEvent::MessageExpunge => "MessageExpunge",
            NotifyEvent::FlagChange => "FlagChange",
            NotifyEvent::AnnotationChange => "AnnotationChange",
            NotifyEvent::MailboxName => "MailboxName",
            NotifyEvent::SubscriptionChange => "SubscriptionChange",
            NotifyEvent::MailboxMetadataChange => "MailboxMetadataChange",
            NotifyEvent::ServerMetadataChange => "ServerMetadataChange",
            NotifyEvent::Other(s) => s,
        }
    }

    /// A `message-event` (§8): MessageNew, MessageExpunge, FlagChange, AnnotationChange.
    pub fn is_message_event(&self) -> bool {
        matches!(
            self,
            NotifyEvent::MessageNew(_)
                | NotifyEvent::MessageExpunge
                | NotifyEvent::FlagChange
                | NotifyEvent::AnnotationChange
        )
    }
}

/// After `NOTIFY`.
pub(crate) fn notify(c: &mut Cursor<'_>) -> PResult<Notify> {
    c.sp()?;
    match c.keyword()?.as_str() {
        "NONE" => Ok(Notify::None),
        "SET" => {
            c.sp()?;
            let status = c.eat_keyword("STATUS");
            if status {
                c.sp()?;
            }
            let mut groups = vec![group(c)?];
            while c.at_sp() {
                c.sp()?;
                groups.push(group(c)?);
            }
            Ok(Notify::Set { status, groups })
        }
        other => syntax(format!("NOTIFY SET or NOTIFY NONE expected, not {other}")),
    }
}

fn group(c: &mut Cursor<'_>) -> PResult<EventGroup> {
    c.expect(b'(', "'(' to start an event group")?;
    let filter = match c.keyword()?.as_str() {
        "SELECTED" => Filter::Selected,
        "SELECTED-DELAYED" => Filter::SelectedDelayed,
        "INBOXES" => Filter::Inboxes,
        "PERSONAL" => Filter::Personal,
        "SUBSCRIBED" => Filter::Subscribed,
        "SUBTREE" => {
            c.sp()?;
            Filter::Subtree(mailboxes(c)?)
        }
        "MAILBOXES" => {
            c.sp()?;
            Filter::Mailboxes(mailboxes(c)?)
        }
        other => return syntax(format!("unknown NOTIFY mailbox filter {other}")),
    };
    c.sp()?;
    let events = if c.eat_keyword("NONE") {
        None
    } else {
        Some(c.paren_list(1, event)?)
    };
    c.expect(b')', "')' to end an event group")?;
    Ok(EventGroup { filter, events })
}

pub(crate) fn mailboxes(c: &mut Cursor<'_>) -> PResult<Vec<MailboxName>> {
    if c.peek() == Some(b'(') {
        c.paren_list(1, |c| c.mailbox())
    } else {
        Ok(vec![c.mailbox()?])
    }
}

fn event(c: &mut Cursor<'_>) -> PResult<NotifyEvent> {
    Ok(match c.keyword()?.as_str() {
        "MESSAGENEW" => {
            let mut atts = Vec::new();
            // `MessageNew (` — a fetch-att list — rather than the next event.
            if c.rest().starts_with(b" (") {
                c.sp()?;
                atts = c.paren_list(1, crate::fetch::attr)?;
            }
            NotifyEvent::MessageNew(atts)
        }
        "MESSAGEEXPUNGE" => NotifyEvent::MessageExpunge,
        "FLAGCHANGE" => NotifyEvent::FlagChange,
        "ANNOTATIONCHANGE" => NotifyEvent::AnnotationChange,
        "MAILBOXNAME" => NotifyEvent::MailboxName,
        "SUBSCRIPTIONCHANGE" => NotifyEvent::SubscriptionChange,
        "MAILBOXMETADATACHANGE" => NotifyEvent::MailboxMetadataChange,
        "SERVERMETADATACHANGE" => NotifyEvent::ServerMetadataChange,
        other => NotifyEvent::Other(other.to_string()),
    })
}

/// `* LIST (attrs) "/" name ("OLDNAME" ("old"))`: a renamed mailbox (§5.4), or without
/// `old` an ordinary LIST response for a MailboxName or SubscriptionChange event.
pub fn write_list_notify(
    out: &mut Vec<u8>,
    attributes: &[&str],
    name: &str,
    old: Option<&str>,
    utf8: bool,
) {
    out.extend_from_slice(b"* LIST (");
    out.extend_from_slice(attributes.join(" ").as_bytes());
    out.extend_from_slice(b") ");
    let mut d = [0u8; 4];
    write_string(out, pochta_types::SEPARATOR.encode_utf8(&mut d).as_bytes());
    out.push(b' ');
    write_mailbox_string(out, name, utf8);
    if let Some(old) = old {
        out.extend_from_slice(b" (\"OLDNAME\" (");
        write_mailbox_string(out, old, utf8);
        out.extend_from_slice(b"))");
    }
    out.extend_from_slice(b"\r\n");
}

/// `* METADATA mailbox entry entry …` (RFC 5464 §4.4.2, the unsolicited form: names only);
/// `None` is the server (`""`).
pub fn write_metadata_names(
    out: &mut Vec<u8>,
    mailbox: Option<&str>,
    entries: &[String],
    utf8: bool,
) {
    out.extend_from_slice(b"* METADATA ");
    match mailbox {
        Some(m) => write_mailbox_string(out, m, utf8),
        None => out.extend_from_slice(b"\"\""),
    }
    for e in entries {
        out.push(b' ');
        write_string(out, e.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CommandBody, ParseOptions, parse_command};

    fn parse(s: &str) -> Result<Notify, String> {
        match parse_command(s.as_bytes(), ParseOptions::default()) {
            Ok(c) => match c.body {
                CommandBody::Notify(n) => Ok(n),
                other => Err(format!("not NOTIFY: {other:?}")),
            },
            Err(e) => Err(e.message),
        }
    }

    #[test]
    fn rfc_example_parses() {
        let n = parse(
            "b notify set status (selected MessageNew (uid \
             body.peek[header.fields (from to subject)]) MessageExpunge) \
             (subtree Lists MessageNew)\r\n",
        );
        // `(subtree Lists MessageNew)` in §3.1's example lacks the parentheses of `events`
        // that §8 requires: a syntax error.
        assert!(n.is_err());
        let n = parse(
            "b notify set status (selected (MessageNew (uid \
             body.peek[header.fields (from to subject)]) MessageExpunge)) \
             (subtree Lists (MessageNew MessageExpunge))\r\n",
        )
        .unwrap();
        let Notify::Set { status, groups } = n else {
            panic!()
        };
        assert!(status);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].filter, Filter::Selected);
        let ev = groups[0].events.as_ref().unwrap();
        assert!(matches!(&ev[0], NotifyEvent::MessageNew(a) if a.len() == 2));
        assert_eq!(ev[1], NotifyEvent::MessageExpunge);
        assert_eq!(
            groups[1].filter,
            Filter::Subtree(vec![MailboxName::new("Lists").unwrap()])
        );
    }

    #[test]
    fn none_filters_and_unknown_events() {
        assert_eq!(parse("a NOTIFY NONE\r\n"), Ok(Notify::None));
        let n = parse(
            "a NOTIFY SET (mailboxes (INBOX \"a b\") NONE) (personal (Frobnicate mailboxname))\r\n",
        )
        .unwrap();
        let Notify::Set { status, groups } = n else {
            panic!()
        };
        assert!(!status);
        assert_eq!(groups[0].events, None);
        assert!(matches!(&groups[0].filter, Filter::Mailboxes(m) if m.len() == 2));
        assert_eq!(
            groups[1].events,
            Some(vec![
                NotifyEvent::Other("FROBNICATE".into()),
                NotifyEvent::MailboxName
            ])
        );
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "a NOTIFY\r\n",
            "a NOTIFY SET\r\n",
            "a NOTIFY SET ()\r\n",
            "a NOTIFY SET (personal)\r\n",
            "a NOTIFY SET (personal ())\r\n",
            "a NOTIFY SET (elsewhere (MessageNew))\r\n",
            "a NOTIFY SET (subtree (MessageNew))\r\n",
            "a NOTIFY SET (selected (MessageNew (nonsense)))\r\n",
            "a NOTIFY SET (selected (MessageNew MessageExpunge)\r\n",
            "a NOTIFY NONE (personal (MailboxName))\r\n",
            "a NOTIFY MAYBE\r\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn responses() {
        let mut out = Vec::new();
        write_list_notify(&mut out, &[], "New", Some("Old"), false);
        write_list_notify(&mut out, &["\\NonExistent"], "Gone", None, false);
        write_metadata_names(&mut out, Some("INBOX"), &["/shared/comment".into()], false);
        write_metadata_names(&mut out, None, &["/private/a b".into()], false);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "* LIST () \"/\" \"New\" (\"OLDNAME\" (\"Old\"))\r\n\
             * LIST (\\NonExistent) \"/\" \"Gone\"\r\n\
             * METADATA \"INBOX\" \"/shared/comment\"\r\n\
             * METADATA \"\" \"/private/a b\"\r\n"
        );
    }
}
