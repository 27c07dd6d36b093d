//! MULTISEARCH (RFC 7377): `ESEARCH [IN (sources)] ...` over several mailboxes.
//!
//! Invariants (RFC 7377 sections):
//! - §2: allowed in the authenticated and the selected state. No source options means the
//!   selected mailbox; `selected` (or no sources) without a selected mailbox is BAD.
//! - §2.1: one `* ESEARCH (TAG "t" MAILBOX "m" UIDVALIDITY n) UID ...` per searched mailbox
//!   **that has matches** (a mailbox without any gets no response, so a client reads "no
//!   response" as "nothing found"); the numbers are always UIDs. The mailbox name is written
//!   as the client names it (modified UTF-7, or UTF-8 once UTF8=ACCEPT is enabled).
//! - §2.2: the sources are resolved to the mailboxes **the user may read** (ACL "r",
//!   RFC 4314 §4; also shared and public mailboxes reached through a source that names
//!   them); a named mailbox that does not exist, is `\Noselect` or is not readable is left
//!   out without an error (the command does not reveal which mailboxes exist). Each
//!   mailbox is searched once, in the order of the sources. `inboxes` is INBOX (mail is
//!   only delivered there); `personal` is every mailbox of the user's own namespace;
//!   `subtree` a mailbox and all below it; `subtree-one` a mailbox and its children.
//! - §2.2: `SAVE` (SEARCHRES) and `UPDATE` (CONTEXT) are valid only when the selected
//!   mailbox is the only one searched; otherwise BAD. `$` in the criteria likewise (it is
//!   the selected mailbox's saved result).
//! - The criteria are SEARCH's: text keys are answered from the search index per mailbox
//!   ([`pochta_store::search::SearchIndex::search`] with that mailbox), every other key by
//!   the normal evaluation. Message sequence numbers in a non-selected mailbox are those a
//!   fresh SELECT would give (1..n in UID order); RECENT matches nothing there. CHARSET
//!   errors are `NO [BADCHARSET]` before any mailbox is searched (RFC 9051 §6.4.4).
//!   FUZZY and RELEVANCY (RFC 6203, [`crate::fuzzy`]) work per mailbox: scores are scaled
//!   within each mailbox's result.
//! - Another session's change is seen: each mailbox is read from the store when it is
//!   searched (not from a cached view). The selected mailbox is searched through the
//!   session's view, like SEARCH: a message another session added is found once the view
//!   has learnt of it (the `EXISTS` of the next command's sync), so the UIDs of one
//!   session's ESEARCH and SEARCH of the selected mailbox agree.

use pochta_imap_proto::Tag;
use pochta_imap_proto::multisearch::{Esearch, Source};
use pochta_imap_proto::response::{Code, ESearchWriter};
use pochta_imap_proto::search::{Search, SearchKey, SearchReturn};
use pochta_store::{MailStore, MailboxInfo};
use pochta_types::{MailboxName, Right, SEPARATOR};

use crate::session::{Done, Res, Session, State, bad};
use crate::view::View;

/// Whether a key uses `$` (the saved result of the selected mailbox).
fn uses_saved(k: &SearchKey) -> bool {
    match k {
        SearchKey::SequenceSet(s) | SearchKey::Uid(s) => s.is_saved(),
        SearchKey::Not(k) | SearchKey::Fuzzy(k) => uses_saved(k),
        SearchKey::Or(a, b) => uses_saved(a) || uses_saved(b),
        SearchKey::And(v) => v.iter().any(uses_saved),
        _ => false,
    }
}

/// Whether mailbox `name` is `parent` or below it (`depth`: `None` any depth, `Some(1)`
/// the children only).
fn below(name: &str, parent: &MailboxName, one: bool) -> bool {
    let p = parent.as_str();
    if name == p {
        return true;
    }
    match name.strip_prefix(p).and_then(|r| r.strip_prefix(SEPARATOR)) {
        Some(rest) => !rest.is_empty() && (!one || !rest.contains(SEPARATOR)),
        None => false,
    }
}

impl<S: MailStore> Session<S> {
    pub(crate) fn esearch_cmd(&mut self, tag: &Tag, e: Esearch) -> Res {
        let only_selected = e.only_selected();
        let selected = self.selected.clone();
        if only_selected && selected.is_none() {
            return Err(bad(
                "ESEARCH without IN needs a selected mailbox (RFC 7377 §2)",
            ));
        }
        if e.sources
            .as_ref()
            .is_some_and(|s| s.contains(&Source::Selected))
            && selected.is_none()
        {
            return Err(bad("no mailbox is selected for the \"selected\" source"));
        }
        let returns = e.search.returns.clone().unwrap_or_default();
        if !only_selected
            && (returns.contains(&SearchReturn::Save)
                || returns.contains(&SearchReturn::Update)
                || uses_saved(&e.search.key))
        {
            return Err(bad(
                "SAVE, UPDATE and $ need the selected mailbox as the only source (RFC 7377 §2.2)",
            ));
        }
        let relevancy = crate::fuzzy::wants_relevancy(&e.search)?;
        if let Some(cs) = e.search.charset.as_deref()
            && crate::text::decode_charset(b"", Some(cs)).is_none()
        {
            // Before any mailbox is read (also when none is searched).
            let list = crate::text::ADVERTISED_CHARSETS
                .iter()
                .map(|&c| c.into())
                .collect();
            return Err(crate::session::no(
                Code::BadCharset(list),
                "unsupported charset",
            ));
        }
        let mailboxes =
            self.esearch_mailboxes(e.sources.as_deref().unwrap_or(&[Source::Selected]))?;
        // RFC 4731 §3.1: RETURN () means RETURN (ALL); an ESEARCH always answers ESEARCH.
        let all = returns.is_empty();
        let search = Search {
            uid: true,
            ..e.search
        };
        for info in mailboxes {
            let is_selected = selected.as_ref().is_some_and(|s| s.id == info.id);
            let matched = if is_selected {
                self.matching(&search)?
            } else {
                self.matching_elsewhere(&info, &search)?
            };
            if matched.hits.is_empty() {
                continue;
            }
            if is_selected && returns.contains(&SearchReturn::Save) {
                self.saved = matched.hits.iter().map(|h| h.1).collect();
            }
            let nums: Vec<u32> = matched.hits.iter().map(|h| h.1.get()).collect();
            let scores =
                relevancy.then(|| crate::fuzzy::scale(&matched.scores, matched.hits.len()));
            let modseq = matched.modseq.then_some(matched.highest);
            let w = ESearchWriter::begin_mailbox(
                &mut self.out,
                tag,
                &info.name,
                info.uid_validity.get(),
                self.utf8,
            );
            crate::search::write_esearch(
                w,
                &nums,
                &returns,
                all,
                crate::search::Tail {
                    modseq,
                    scores: scores.as_deref(),
                },
            );
        }
        if returns.contains(&SearchReturn::Update) {
            // Only the selected mailbox (checked above): the context of a SEARCH.
            let matched = self.matching(&search)?;
            let result = matched.hits.iter().map(|h| h.1).collect();
            return self.context_done(tag, &search, None, result, "ESEARCH completed");
        }
        Done::ok("ESEARCH completed")
    }

    /// The readable, selectable mailboxes the sources name, each once, in source order.
    fn esearch_mailboxes(&self, sources: &[Source]) -> Res<Vec<MailboxInfo>> {
        let store = &self.shared.store;
        // Every mailbox the user sees, with whether it is their own, and its rights.
        let mut universe: Vec<(MailboxInfo, bool)> = Vec::new();
        if let Some(me) = self.me()? {
            for info in store.mailboxes(me)? {
                let own = !crate::acl::in_foreign_namespace(info.name.as_str());
                universe.push((info, own));
            }
        }
        for (info, rights) in self.foreign_mailboxes()? {
            if rights.contains(Right::Read) {
                universe.push((info, false));
            }
        }
        let subscribed: Vec<String> = match self.me()? {
            Some(me) => store
                .subscriptions(me)?
                .into_iter()
                .map(|s| s.to_string())
                .collect(),
            None => Vec::new(),
        };
        let mut out: Vec<MailboxInfo> = Vec::new();
        let add = |info: &MailboxInfo, out: &mut Vec<MailboxInfo>| {
            if !info.noselect && !out.iter().any(|o| o.id == info.id) {
                out.push(info.clone());
            }
        };
        for s in sources {
            match s {
                Source::Selected => {
                    if let Some(info) = &self.selected {
                        add(info, &mut out);
                    }
                }
                Source::Inboxes => {
                    for (info, own) in &universe {
                        if *own && info.name.as_str() == "INBOX" {
                            add(info, &mut out);
                        }
                    }
                }
                Source::Personal => {
                    for (info, own) in &universe {
                        if *own {
                            add(info, &mut out);
                        }
                    }
                }
                Source::Subscribed => {
                    for (info, _) in &universe {
                        if subscribed.iter().any(|n| n == info.name.as_str()) {
                            add(info, &mut out);
                        }
                    }
                }
                Source::Mailboxes(names) => {
                    for n in names {
                        for (info, _) in &universe {
                            if info.name == *n {
                                add(info, &mut out);
                            }
                        }
                    }
                }
                Source::Subtree(names) | Source::SubtreeOne(names) => {
                    let one = matches!(s, Source::SubtreeOne(_));
                    for n in names {
                        for (info, _) in &universe {
                            if below(info.name.as_str(), n, one) {
                                add(info, &mut out);
                            }
                        }
                    }
                }
            }
        }
        // Rights are re-read for the own mailboxes too (an owner may hold every right, but
        // a shared mailbox listed among them is decided by its ACL).
        let mut readable = Vec::with_capacity(out.len());
        for info in out {
            if self.rights_in(&info)?.contains(Right::Read) {
                readable.push(info);
            }
        }
        Ok(readable)
    }

    /// [`Session::matching`] over a mailbox that is not the selected one: a read-only view of
    /// it (as a fresh EXAMINE would number it, nothing recent) stands in for the selected
    /// mailbox while the program is evaluated; the session's own state is put back after.
    fn matching_elsewhere(
        &mut self,
        info: &MailboxInfo,
        search: &Search,
    ) -> Res<crate::search::Matched<crate::search::Hit>> {
        let st = self.shared.store.select_state(info.id)?;
        let view = View::new(info.id, true, st.uids, Vec::new(), st.highest_modseq);
        let state = std::mem::replace(&mut self.state, State::Selected(view));
        let selected = self.selected.replace(info.clone());
        let saved = std::mem::take(&mut self.saved);
        let result = self.matching(search);
        self.state = state;
        self.selected = selected;
        self.saved = saved;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subtrees() {
        let p = MailboxName::new("Lists").unwrap();
        assert!(below("Lists", &p, true));
        assert!(below("Lists/rust", &p, true));
        assert!(!below("Lists/rust/async", &p, true));
        assert!(below("Lists/rust/async", &p, false));
        assert!(!below("Listserv", &p, false));
        assert!(!below("Other", &p, false));
    }
}
