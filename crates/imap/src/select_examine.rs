//! SELECT and EXAMINE (RFC 3501 §6.3.1–6.3.2, QRESYNC RFC 7162 §3.2.5), CLOSE and UNSELECT
//! (RFC 3501 §6.4.2, RFC 3691), and the resolution of sequence sets against the selected
//! mailbox's view.
//!
//! Implementation notes:
//! - A failed SELECT leaves the session unselected (RFC 3501 §6.3.1); a SELECT while a mailbox
//!   is selected first reports `[CLOSED]` (RFC 7162 §3.2.11).
//! - PERMANENTFLAGS lists only the flags the user may change (RFC 4314 §4); a mailbox is
//!   read-only without "i", "e" and every flag right (RFC 4314 §5.2).
//! - In IMAP4rev2 mode SELECT answers a LIST response and no RECENT/UNSEEN (RFC 9051 §6.3.2).

use pochta_imap_proto::response::{self, Code, Status as Cond, write_list, write_vanished};
use pochta_imap_proto::select_examine::{QResync, Select};
use pochta_imap_proto::sequence::SequenceSet;
use pochta_store::MailStore;
use pochta_types::{Flag, Flags, ModSeq, Right, Uid};

use crate::acl::{SeenView, flag_allowed};
use crate::mailbox::mailbox_object_id;
use crate::session::{Done, Next, Res, Session, State, bad, no};
use crate::view::View;

const SYSTEM_FLAGS: [Flag; 5] = [
    Flag::Answered,
    Flag::Flagged,
    Flag::Deleted,
    Flag::Seen,
    Flag::Draft,
];

/// A mailbox whose next UID is above this may be large: SELECT reads it through
/// `pochta_net::blocking` rather than on the worker thread.
const SMALL_SELECT: u32 = 4096;

impl<S: MailStore> Session<S> {
    pub(crate) fn select(&mut self, s: Select, read_only: bool) -> Res {
        // Whatever happens next, the old mailbox is no longer selected; say so
        // (RFC 7162 §3.2.11, RFC 9051 §7.1: the CLOSED response code).
        if matches!(self.state, State::Selected(_)) {
            self.state = State::Authenticated;
            self.selected = None;
            self.tagged(
                None,
                Cond::Ok,
                Some(&Code::Closed),
                "Previous mailbox closed",
            );
        }
        if s.qresync.is_some() && !self.qresync {
            // RFC 7162 §3.2.5: QRESYNC parameters need ENABLE QRESYNC first.
            return Err(bad("QRESYNC must be enabled first (ENABLE QRESYNC)"));
        }
        if s.condstore {
            self.condstore = true;
        }
        self.saved.clear();
        self.contexts.clear();
        let store = self.shared.store.clone();
        // RFC 4314 §4: SELECT and EXAMINE need "r".
        let found = self.find_with(&s.mailbox, Right::Read)?;
        let rights = found.rights;
        let mb = found.info;
        let own = Some(mb.account) == self.me()?;
        let seen_view = self.seen_view(&mb)?;
        // RFC 4314 §5.2: read-only without "i", "e" and every flag right.
        let read_only = read_only
            || !(rights.contains(Right::Insert)
                || rights.contains(Right::Expunge)
                || rights.contains(Right::Seen)
                || rights.contains(Right::Write)
                || rights.contains(Right::DeleteMessages));
        if mb.noselect {
            return Err(no(
                Code::Cannot,
                format!("{} cannot be selected (\\Noselect)", s.mailbox),
            ));
        }
        // One snapshot of UIDs, first unseen message and counters (no per-message flags:
        // bench/README.md "Big mailbox"); whatever changes after it is reported by the
        // first sync rather than lost.
        // The driver runs SELECT on its worker thread (`pipeline::inline`); a mailbox that
        // may hold many messages (its UIDs are read unless kept) is read through `blocking`.
        let mut status = if mb.uid_next.get() > SMALL_SELECT {
            pochta_net::blocking(|| store.select_state(mb.id))?
        } else {
            store.select_state(mb.id)?
        };
        if let SeenView::Private(seen) = &seen_view {
            // The user's own \Seen decides which message is the first unseen.
            status.first_unseen = status
                .uids
                .iter()
                .find(|u| seen.binary_search(u).is_err())
                .copied();
        }
        let recent = if read_only {
            // EXAMINE reports the RECENT count (RFC 3501 §6.3.2 lists it among EXAMINE's
            // responses) but claims nothing, so the next SELECT still sees the messages as
            // recent. Unclaimed messages are those from a UID on (store notes on Recent):
            // the last `status.recent` of the messages that existed when `status` was read.
            let mut recent: Vec<Uid> = status
                .uids
                .iter()
                .rev()
                .copied()
                .filter(|u| *u < status.uid_next)
                .take(status.recent as usize)
                .collect();
            recent.reverse();
            recent
        } else if status.recent == 0 {
            // Nothing was unclaimed in the snapshot: no second read to find that out again.
            // A message arriving after the snapshot is claimed by the sync that follows.
            Vec::new()
        } else {
            store.claim_recent(mb.id)?
        };
        let keywords = store.mailbox_keywords(mb.id)?;
        let uids = std::mem::take(&mut status.uids);
        let first_unseen = status
            .first_unseen
            .and_then(|u| uids.binary_search(&u).ok())
            .map(|i| i + 1);
        // A message that arrived between summaries() and claim_recent() is not in `uids`;
        // the next sync announces it (and it stays recent to us).
        let mut view = View::new(mb.id, read_only, uids, recent, status.highest_modseq);
        // \HasChildren counts only children the user can see (RFC 4314 §4: without "l" a
        // mailbox must not show, not even as a child).
        // Only IMAP4rev2's LIST response in SELECT needs it: not read otherwise.
        let children = if !self.rev2 {
            false
        } else if own {
            store
                .mailboxes(mb.account)?
                .iter()
                .any(|b| b.name.is_child_of(&mb.name))
        } else {
            self.foreign_mailboxes()?
                .iter()
                .any(|(b, _)| b.name.is_child_of(&found.display))
        };
        let keywords: Vec<Flag> = keywords
            .iter()
            .filter_map(|k| Flag::parse(k).ok())
            .collect();
        view.learn_keywords(&Flags::from_flags(&keywords));
        if !read_only {
            // Only the flags the user may change (RFC 4314 §4).
            view.perm_system = SYSTEM_FLAGS
                .iter()
                .filter(|f| flag_allowed(rights, f))
                .cloned()
                .collect();
            view.perm_keywords = rights.contains(Right::Write);
        }
        let o = &mut self.out;
        write_flag_lists(o, &view);
        response::write_exists(o, view.len());
        if self.rev2 {
            // RFC 9051 §6.3.2: a LIST response with the mailbox name and accurate
            // attributes; RECENT and UNSEEN are gone (Appendix E items 11, 12).
            let mut attrs = vec![if children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            }];
            if let Some(su) = mb.special_use.filter(|_| own) {
                attrs.push(su.as_str());
            }
            write_list(o, false, &attrs, s.mailbox.as_str(), false, true);
        } else {
            response::write_recent(o, view.recent_count());
            if let Some(seq) = first_unseen {
                let code = Code::Unseen(seq as u32);
                response::write_status(o, None, Cond::Ok, Some(&code), "First unseen message");
            }
        }
        let oid = mailbox_object_id(mb.id);
        let untagged: [(Code, &str); 4] = [
            (Code::UidValidity(mb.uid_validity.get()), "UIDs valid"),
            (Code::UidNext(status.uid_next.get()), "Predicted next UID"),
            (Code::MailboxId(oid), "Ok"),
            // RFC 4467 §8: the URLAUTH mechanisms, on SELECT and EXAMINE.
            (Code::UrlMech, "URLAUTH mechanisms"),
        ];
        for (code, text) in &untagged {
            response::write_status(o, None, Cond::Ok, Some(code), text);
        }
        // Key resets from here on are this selection's to report (`urlauth`).
        self.key_mark = self.shared.store.change_bus().key_reset_mark();
        if self.condstore {
            let code = Code::HighestModSeq(status.highest_modseq.get());
            response::write_status(o, None, Cond::Ok, Some(&code), "Highest");
        }
        // Changes after `status` are reported by the first sync.
        view.known_modseq = status.highest_modseq;
        if let Some(q) = &s.qresync
            && q.uid_validity.get() == mb.uid_validity.get()
        {
            self.qresync_catch_up(&mut view, q, &seen_view)?;
        }
        self.state = State::Selected(view);
        self.selected = Some(mb);
        if read_only {
            Done::code(Code::ReadOnly, "EXAMINE completed")
        } else {
            Done::code(Code::ReadWrite, "SELECT completed")
        }
    }

    /// A CONDSTORE-enabling command (RFC 7162 §3.1) ran. The first one with a mailbox
    /// selected also reports its HIGHESTMODSEQ (§3.1: "MUST cause the server to return
    /// HIGHESTMODSEQ"): the highest MODSEQ whose changes this session has reported.
    pub(crate) fn enable_condstore(&mut self) {
        if self.condstore {
            return;
        }
        self.condstore = true;
        if let State::Selected(view) = &self.state {
            let code = Code::HighestModSeq(view.known_modseq.get());
            response::write_status(&mut self.out, None, Cond::Ok, Some(&code), "Highest");
        }
    }

    /// Before a FETCH response shows `flags`: if they hold a keyword the client was not told
    /// of, send FLAGS and PERMANENTFLAGS again with it (RFC 3501 §7.2.6, RFC 9051 §7.3.5).
    /// Whichever session defined the keyword, every session that has the mailbox selected
    /// hears of it before it sees the keyword on a message.
    pub(crate) fn announce_keywords(&mut self, flags: &Flags) {
        if flags.keywords().is_empty() {
            return;
        }
        let State::Selected(view) = &mut self.state else {
            return;
        };
        if view.learn_keywords(flags) {
            write_flag_lists(&mut self.out, view);
        }
    }

    /// SELECT (QRESYNC ...) (RFC 7162 §3.2.5.1): what was expunged and what changed since the
    /// client's MODSEQ, as VANISHED (EARLIER) and FETCH responses.
    fn qresync_catch_up(&mut self, view: &mut View, q: &QResync, seen: &SeenView) -> Res<()> {
        let since = ModSeq::new(q.modseq).unwrap_or(ModSeq::MIN);
        let changes = self.shared.store.changes_since(view.mailbox, since)?;
        let known = q.known_uids.as_ref().map(|k| k.resolve(u32::MAX));
        let mut gone: Vec<u32> = changes
            .expunged
            .iter()
            .map(|u| u.get())
            .filter(|u| known.as_ref().is_none_or(|k| k.contains(*u)))
            .collect();
        gone.sort_unstable();
        gone.dedup();
        if !gone.is_empty() {
            write_vanished(&mut self.out, true, &gone);
        }
        for mut m in changes.changed {
            let Some(seq) = view.seq(m.uid) else { continue };
            seen.apply(m.uid, &mut m.flags);
            if view.learn_keywords(&m.flags) {
                write_flag_lists(&mut self.out, view);
            }
            let mut w = crate::uidonly::fetch_writer(&mut self.out, self.uidonly, seq, m.uid);
            w.uid(m.uid.get())
                .flags(&m.flags, !self.rev2 && view.is_recent(m.uid))
                .modseq(m.modseq.get());
            w.finish();
        }
        Ok(())
    }

    pub(crate) fn close(&mut self, expunge: bool) -> Res {
        let view = self.view()?;
        let (mailbox, read_only) = (view.mailbox, view.read_only);
        // RFC 3501 §6.4.2: CLOSE expunges silently; RFC 4314 §4: only with "e", and
        // without it the mailbox is closed all the same.
        if expunge && !read_only && self.selected_rights()?.contains(Right::Expunge) {
            self.shared.store.expunge(mailbox, None)?;
        }
        self.state = State::Authenticated;
        self.selected = None;
        self.saved.clear();
        self.contexts.clear();
        Ok(Done {
            code: None,
            text: if expunge {
                "CLOSE completed"
            } else {
                "UNSELECT completed"
            }
            .into(),
            next: Next::Continue,
        })
    }

    /// Resolve a sequence set (`uid`: a UID set) against the view into (seq, uid) pairs,
    /// ascending. `$` is the saved search result (RFC 5182).
    pub(crate) fn resolve(&self, set: &SequenceSet, uid: bool) -> Res<Vec<(u32, Uid)>> {
        let view = self.view()?;
        if set.is_saved() {
            return Ok(self
                .saved
                .iter()
                .filter_map(|&u| view.seq(u).map(|s| (s, u)))
                .collect());
        }
        let mut outv = Vec::new();
        if uid {
            let largest = view.last_uid().map(|u| u.get()).unwrap_or(0);
            for (lo, hi) in set.resolve(largest) {
                let uids = view.uids();
                let start = uids.partition_point(|u| u.get() < lo);
                for (i, u) in uids[start..].iter().enumerate() {
                    if u.get() > hi {
                        break;
                    }
                    outv.push((start as u32 + i as u32 + 1, *u));
                }
            }
        } else {
            if set.exceeds(view.len()) {
                return Err(bad("message sequence number out of range"));
            }
            for (lo, hi) in set.resolve(view.len()) {
                for seq in lo..=hi {
                    if let Some(u) = view.uid(seq) {
                        outv.push((seq, u));
                    }
                }
            }
        }
        Ok(outv)
    }
}

/// Untagged FLAGS (the system flags and every keyword announced) and `OK [PERMANENTFLAGS]`
/// (what the user may change; none in a read-only mailbox), RFC 3501 §7.2.6 and §7.1.
fn write_flag_lists(o: &mut Vec<u8>, view: &View) {
    let keywords = view
        .keywords()
        .iter()
        .filter_map(|k| Flag::parse(k).ok())
        .collect::<Vec<_>>();
    let flags: Vec<Flag> = SYSTEM_FLAGS.iter().chain(&keywords).cloned().collect();
    response::write_flags_response(o, &flags);
    if view.read_only {
        let perm = Code::PermanentFlags {
            flags: Vec::new(),
            allow_new: false,
        };
        response::write_status(o, None, Cond::Ok, Some(&perm), "Read-only mailbox");
    } else {
        let mut allowed = view.perm_system.clone();
        if view.perm_keywords {
            allowed.extend(keywords);
        }
        let perm = Code::PermanentFlags {
            flags: allowed,
            allow_new: view.perm_keywords,
        };
        response::write_status(o, None, Cond::Ok, Some(&perm), "Flags permitted");
    }
}
