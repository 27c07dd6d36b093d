//! MULTISEARCH (RFC 7377): the `ESEARCH` command, which searches several mailboxes at once
//! and answers with one `ESEARCH` response per mailbox.
//!
//! Invariants (RFC 7377; section numbers of the RFC):
//! - §2: `ESEARCH` is valid in the authenticated and the selected state (§6: `command-auth
//!   =/ esearch`, `command-select =/ esearch`). Without source options it searches the
//!   selected mailbox (`IN (selected)`). The search program is SEARCH's (RFC 9051 §6.4.4),
//!   with its RETURN options (RFC 4731) and CHARSET; it is parsed by [`crate::search`], so an
//!   ESEARCH's criteria mean what a SEARCH's mean.
//! - §2.2: the sources are RFC 5465's `filter-mailboxes` (`selected`, `inboxes`, `personal`,
//!   `subscribed`, `subtree`, `mailboxes`) plus `subtree-one` (the named mailbox and its
//!   immediate children). `selected-delayed` is accepted as `selected` (a search has no
//!   delayed events). A source naming mailboxes takes one name or a parenthesised list
//!   (`one-or-more-mailbox`). No scope option is defined: any is a syntax error (BAD).
//! - §2.1 (answers, written by the session): each response carries the correlator
//!   `(TAG "t" MAILBOX "m" UIDVALIDITY n)` and always UIDs (`UID` indicator), whatever the
//!   command's numbers would otherwise be.
//!
//! ```abnf
//! esearch             = "ESEARCH" [SP esearch-source-opts] [SP search-return-opts]
//!                       SP search-program
//! esearch-source-opts = "IN" SP "(" source-mbox [SP "(" scope-options ")"] ")"
//! source-mbox         = filter-mailboxes *(SP filter-mailboxes)
//! filter-mailboxes    = "selected" / "selected-delayed" / "inboxes" / "personal" /
//!                       "subscribed" / ("subtree" SP one-or-more-mailbox) /
//!                       ("subtree-one" SP one-or-more-mailbox) /
//!                       ("mailboxes" SP one-or-more-mailbox)
//! one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"
//! search-correlator   =/ SP "(" "TAG" SP tag-string SP "MAILBOX" SP astring SP
//!                       "UIDVALIDITY" SP nz-number ")"
//! ```

use pochta_types::MailboxName;

use crate::parse::{Cursor, PResult, syntax};
use crate::search::Search;

/// Which mailboxes an ESEARCH searches (§2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The selected mailbox (`selected`, `selected-delayed`).
    Selected,
    /// Where new mail is delivered: INBOX.
    Inboxes,
    /// Every mailbox of the user's personal namespace.
    Personal,
    /// The subscribed mailboxes.
    Subscribed,
    /// The mailboxes and every mailbox below them.
    Subtree(Vec<MailboxName>),
    /// The mailboxes and their immediate children.
    SubtreeOne(Vec<MailboxName>),
    /// Exactly these mailboxes.
    Mailboxes(Vec<MailboxName>),
}

/// `ESEARCH [IN (...)] [RETURN (...)] [CHARSET c] keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Esearch {
    /// `None`: no source options (the selected mailbox).
    pub sources: Option<Vec<Source>>,
    /// The program; `uid` is always true (answers are UIDs, §2.1).
    pub search: Search,
}

impl Esearch {
    /// Whether only the selected mailbox is searched (no sources, or only `selected`).
    pub fn only_selected(&self) -> bool {
        self.sources
            .as_ref()
            .is_none_or(|s| s.iter().all(|s| *s == Source::Selected))
    }
}

/// After `ESEARCH`.
pub(crate) fn esearch(c: &mut Cursor<'_>) -> PResult<Esearch> {
    let mut sources = None;
    let r = c.rest();
    if r.len() > 4 && r[..4].eq_ignore_ascii_case(b" IN ") {
        c.sp()?;
        c.eat_keyword("IN");
        c.sp()?;
        c.expect(b'(', "'(' after IN")?;
        let mut list = vec![source(c)?];
        while c.at_sp() {
            c.sp()?;
            if c.peek() == Some(b'(') {
                return syntax("unknown ESEARCH scope option");
            }
            list.push(source(c)?);
        }
        c.expect(b')', "')' after the source options")?;
        sources = Some(list);
    }
    let search = crate::search::search(c, true)?;
    Ok(Esearch { sources, search })
}

fn source(c: &mut Cursor<'_>) -> PResult<Source> {
    let names = |c: &mut Cursor<'_>| -> PResult<Vec<MailboxName>> {
        c.sp()?;
        crate::notify::mailboxes(c)
    };
    Ok(match c.keyword()?.as_str() {
        "SELECTED" | "SELECTED-DELAYED" => Source::Selected,
        "INBOXES" => Source::Inboxes,
        "PERSONAL" => Source::Personal,
        "SUBSCRIBED" => Source::Subscribed,
        "SUBTREE" => Source::Subtree(names(c)?),
        "SUBTREE-ONE" => Source::SubtreeOne(names(c)?),
        "MAILBOXES" => Source::Mailboxes(names(c)?),
        other => return syntax(format!("unknown ESEARCH source {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::CommandBody;
    use crate::search::{SearchKey, SearchReturn};
    use crate::{ParseOptions, parse_command};

    fn esearch(line: &str) -> Esearch {
        let cmd = parse_command(format!("{line}\r\n").as_bytes(), ParseOptions::default())
            .unwrap_or_else(|e| panic!("{line}: {e:?}"));
        match cmd.body {
            CommandBody::Esearch(e) => e,
            other => panic!("{other:?}"),
        }
    }

    fn name(s: &str) -> MailboxName {
        MailboxName::new(s).unwrap()
    }

    #[test]
    fn known_answers() {
        // RFC 7377 §2.3's example shape.
        let e = esearch("tag1 ESEARCH IN (mailboxes \"folder1\" subtree-one \"folder2\") unseen");
        assert_eq!(
            e.sources,
            Some(vec![
                Source::Mailboxes(vec![name("folder1")]),
                Source::SubtreeOne(vec![name("folder2")]),
            ])
        );
        assert!(e.search.uid);
        assert_eq!(e.search.key, SearchKey::Unseen);
        assert!(!e.only_selected());
        let e = esearch(
            "t ESEARCH IN (personal subtree (A B) selected-delayed inboxes subscribed) RETURN (MIN COUNT) CHARSET UTF-8 TEXT x",
        );
        assert_eq!(
            e.sources,
            Some(vec![
                Source::Personal,
                Source::Subtree(vec![name("A"), name("B")]),
                Source::Selected,
                Source::Inboxes,
                Source::Subscribed,
            ])
        );
        assert_eq!(
            e.search.returns,
            Some(vec![SearchReturn::Min, SearchReturn::Count])
        );
        assert_eq!(e.search.charset.as_deref(), Some("UTF-8"));
        // No sources: the selected mailbox.
        let e = esearch("t ESEARCH RETURN () FLAGGED");
        assert_eq!(e.sources, None);
        assert!(e.only_selected());
        assert!(esearch("t ESEARCH IN (selected) ALL").only_selected());
    }

    #[test]
    fn malformed() {
        for bad in [
            "t ESEARCH",
            "t ESEARCH IN",
            "t ESEARCH IN () ALL",
            "t ESEARCH IN (selected)",
            "t ESEARCH IN (mailboxes) ALL",
            "t ESEARCH IN (mailboxes ()) ALL",
            "t ESEARCH IN (subtree A (depth 1)) ALL",
            "t ESEARCH IN (elsewhere) ALL",
            "t ESEARCH IN (selected  inboxes) ALL",
            "t UID ESEARCH ALL",
        ] {
            assert!(
                parse_command(format!("{bad}\r\n").as_bytes(), ParseOptions::default()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn round_trip() {
        crate::test_support::assert_round_trips(&[
            "t ESEARCH IN (mailboxes \"folder1\" subtree-one \"folder2\") unseen",
            "t ESEARCH IN (personal subtree (A \"B C\")) RETURN (RELEVANCY ALL) CHARSET UTF-8 FUZZY TEXT hello",
            "t ESEARCH IN (inboxes subscribed selected) RETURN (PARTIAL 1:10) OR SEEN UID 1:*",
            "t ESEARCH FLAGGED",
        ]);
    }

    #[test]
    fn any_chunk_size() {
        let input: &[u8] =
            b"t ESEARCH IN (mailboxes ({5+}\r\nArchv INBOX) personal) RETURN (COUNT) CHARSET UTF-8 BODY {4+}\r\n\xd0\xbf\xd0\xb8\r\n";
        crate::test_support::assert_any_chunk_size(input);
    }
}
