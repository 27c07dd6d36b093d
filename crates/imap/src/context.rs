//! Contexts (RFC 5267 §4): SEARCH and SORT with `RETURN (UPDATE)` stay live until
//! CANCELUPDATE or the mailbox is closed; changes to their result are reported as
//! unsolicited `ESEARCH ... ADDTO` / `REMOVEFROM`.
//!
//! Implementation notes:
//! - A context keeps its program and its last result (UIDs, in result order). After every
//!   command in the selected state and while idling ([`Session::sync`]) the program is run
//!   again and the difference reported, so every cause of change is covered: another
//!   session's APPEND, STORE or EXPUNGE, and this session's own.
//! - Numbers follow the client's view: REMOVEFROM is written before the EXPUNGE responses
//!   of the same update, with the sequence numbers the client still knows; ADDTO after
//!   EXISTS, with the new ones (RFC 5267 §4.3.2).
//! - An unordered SEARCH context reports position 0 and one set per kind; a SORT context
//!   reports each message at its 1-based position: removals from the last position first,
//!   then additions in ascending position, so every position is right when it is read.
//! - At most [`MAX_CONTEXTS`] per session; more are refused with `NO [NOUPDATE "tag"]`
//!   (RFC 5267 §4.3.1) while the result is still given.

use pochta_imap_proto::Tag;
use pochta_imap_proto::context::{UpdateKind, write_update};
use pochta_imap_proto::response::Code;
use pochta_imap_proto::search::Search;
use pochta_imap_proto::sort::SortCriterion;
use pochta_store::MailStore;
use pochta_types::Uid;

use crate::session::{Done, Res, Session};

/// How many live contexts one session may hold.
pub const MAX_CONTEXTS: usize = 8;

/// One live SEARCH or SORT result.
#[derive(Debug)]
pub(crate) struct Context {
    tag: String,
    search: Search,
    sort: Option<Vec<SortCriterion>>,
    /// The result last reported, in result order (ascending UIDs for SEARCH).
    result: Vec<Uid>,
}

impl<S: MailStore> Session<S> {
    /// Start a context for a command that asked for UPDATE; `false` if the session holds
    /// too many (the caller then answers `NOUPDATE`).
    pub(crate) fn add_context(
        &mut self,
        tag: &Tag,
        search: &Search,
        sort: Option<&[SortCriterion]>,
        result: Vec<Uid>,
    ) -> bool {
        if self.contexts.len() >= MAX_CONTEXTS {
            return false;
        }
        self.contexts.push(Context {
            tag: tag.as_str().to_owned(),
            search: search.clone(),
            sort: sort.map(<[SortCriterion]>::to_vec),
            result,
        });
        true
    }

    /// The tagged completion of a command that asked for UPDATE.
    pub(crate) fn context_done(
        &mut self,
        tag: &Tag,
        search: &Search,
        sort: Option<&[SortCriterion]>,
        result: Vec<Uid>,
        text: &str,
    ) -> Res {
        if self.add_context(tag, search, sort, result) {
            Done::ok(text)
        } else {
            Ok(Done {
                code: Some(Code::NoUpdate(tag.as_str().to_owned())),
                text: format!("{text}, but too many live contexts"),
                next: crate::session::Next::Continue,
            })
        }
    }

    /// CANCELUPDATE (RFC 5267 §4.3.5).
    pub(crate) fn cancel_update(&mut self, tags: &[String]) -> Res {
        self.contexts.retain(|c| !tags.contains(&c.tag));
        Done::ok("CANCELUPDATE completed")
    }

    /// The result of a program, in result order.
    fn context_result(&mut self, search: &Search, sort: Option<&[SortCriterion]>) -> Res<Vec<Uid>> {
        Ok(match sort {
            None => self.matching(search)?.hits.iter().map(|h| h.1).collect(),
            Some(criteria) => {
                let matched = self.keyed_hits(search, criteria)?;
                crate::sort::order_keyed(&matched.hits, criteria)
                    .into_iter()
                    .map(|i| matched.hits[i].uid)
                    .collect()
            }
        })
    }

    /// Report what changed in every live context. `before` is the client's view of the
    /// mailbox before this sync (for the numbers of expunged messages); REMOVEFROM goes to
    /// `mark` in the output, before the EXPUNGE responses written since.
    pub(crate) fn update_contexts(&mut self, before: &[Uid], mark: usize) {
        let mut contexts = std::mem::take(&mut self.contexts);
        let mut removals: Vec<u8> = Vec::new();
        let mut additions: Vec<u8> = Vec::new();
        for c in &mut contexts {
            let new = match self.context_result(&c.search, c.sort.as_deref()) {
                Ok(n) => n,
                Err(_) => continue,
            };
            if new == c.result {
                continue;
            }
            let uid = c.search.uid;
            let old_num = |u: Uid| -> Option<u32> {
                if uid {
                    Some(u.get())
                } else {
                    before.binary_search(&u).ok().map(|i| i as u32 + 1)
                }
            };
            let new_num = |u: Uid| -> Option<u32> {
                if uid {
                    Some(u.get())
                } else {
                    self.view().ok().and_then(|v| v.seq(u))
                }
            };
            let mut in_new: Vec<Uid> = new.clone();
            in_new.sort_unstable();
            let mut in_old: Vec<Uid> = c.result.clone();
            in_old.sort_unstable();
            match &c.sort {
                None => {
                    let gone: Vec<u32> = c
                        .result
                        .iter()
                        .filter(|u| in_new.binary_search(u).is_err())
                        .filter_map(|&u| old_num(u))
                        .collect();
                    let came: Vec<u32> = new
                        .iter()
                        .filter(|u| in_old.binary_search(u).is_err())
                        .filter_map(|&u| new_num(u))
                        .collect();
                    if !gone.is_empty() {
                        write_update(&mut removals, &c.tag, uid, UpdateKind::RemoveFrom, 0, &gone);
                    }
                    if !came.is_empty() {
                        write_update(&mut additions, &c.tag, uid, UpdateKind::AddTo, 0, &came);
                    }
                }
                Some(_) => {
                    // Removals from the last position first; then additions in ascending
                    // position of the new order. A message whose place changed is both.
                    let mut kept: Vec<Uid> = Vec::new();
                    let new_pos: std::collections::HashMap<Uid, usize> =
                        new.iter().enumerate().map(|(i, &u)| (u, i)).collect();
                    for (i, &u) in c.result.iter().enumerate().rev() {
                        if !new_pos.contains_key(&u)
                            && let Some(n) = old_num(u)
                        {
                            write_update(
                                &mut removals,
                                &c.tag,
                                uid,
                                UpdateKind::RemoveFrom,
                                i as u32 + 1,
                                &[n],
                            );
                        }
                    }
                    for &u in &c.result {
                        if new_pos.contains_key(&u) {
                            kept.push(u);
                        }
                    }
                    // The kept messages must be in the same relative order; those that are
                    // not are removed and added again.
                    let mut last = None;
                    let mut moved: Vec<Uid> = Vec::new();
                    let mut stay: Vec<Uid> = Vec::new();
                    for &u in &kept {
                        let p = new_pos[&u];
                        if last.is_some_and(|l| p < l) {
                            moved.push(u);
                        } else {
                            last = Some(p);
                            stay.push(u);
                        }
                    }
                    if !moved.is_empty() {
                        let mut cur: Vec<Uid> = kept.clone();
                        for &u in moved.iter().rev() {
                            if let Some(i) = cur.iter().position(|&x| x == u) {
                                if let Some(n) = old_num(u) {
                                    write_update(
                                        &mut removals,
                                        &c.tag,
                                        uid,
                                        UpdateKind::RemoveFrom,
                                        i as u32 + 1,
                                        &[n],
                                    );
                                }
                                cur.remove(i);
                            }
                        }
                    }
                    stay.sort_unstable();
                    for (i, &u) in new.iter().enumerate() {
                        if stay.binary_search(&u).is_err()
                            && let Some(n) = new_num(u)
                        {
                            write_update(
                                &mut additions,
                                &c.tag,
                                uid,
                                UpdateKind::AddTo,
                                i as u32 + 1,
                                &[n],
                            );
                        }
                    }
                }
            }
            c.result = new;
        }
        self.contexts = contexts;
        let mark = mark.min(self.out.len());
        self.out.splice(mark..mark, removals);
        self.out.extend_from_slice(&additions);
    }
}
