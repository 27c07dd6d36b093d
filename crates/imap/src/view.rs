//! The selected mailbox as one session sees it.
//!
//! Implementation notes:
//! - The view maps message sequence numbers to UIDs (`uids[seq - 1]`). The UID list is
//!   shared with the store's SELECT snapshot and with other sessions that selected the same
//!   unchanged mailbox; a view copies it only when its own list changes (4 bytes a message
//!   then, bench/README.md "Big mailbox"). It changes only when
//!   the session tells the client: a new message joins the view when `* n EXISTS` is sent, an
//!   expunged one leaves it when `* n EXPUNGE` is sent (RFC 3501 §7.4.1, RFC 9051 §5.5).
//! - Expunges learnt while a command that forbids them runs (FETCH, STORE, SEARCH and their
//!   non-UID forms) stay pending in the view: the messages keep their sequence numbers until
//!   a later command may announce them.
//! - `known_modseq` is the highest MODSEQ whose changes this session has reported; changes
//!   are read from the store, never from the change bus, so nothing is lost if a wake-up is.
//! - A change this session made itself and already reported (a STORE's own FETCH responses)
//!   is remembered by (UID, MODSEQ) until the next sync so it is not reported twice.
//! - `keywords` are the keywords the client was told of in the last untagged FLAGS. A FETCH
//!   response may show only those (RFC 3501 §7.2.6, RFC 9051 §7.3.5): before one shows a
//!   keyword defined since (by this session or another), FLAGS and PERMANENTFLAGS are sent
//!   again (see `Session::announce_keywords`).

use std::collections::HashMap;

use pochta_store::Changes;
use pochta_types::{Flag, Flags, MailboxId, ModSeq, Uid};

/// One untagged response the sync wants written, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// `* seq EXPUNGE` (or, with QRESYNC enabled, collected into VANISHED by the writer).
    Expunge { seq: u32, uid: Uid },
    /// `* n EXISTS`
    Exists(u32),
    /// `* n RECENT`
    Recent(u32),
    /// `* seq FETCH (FLAGS (...) ...)` for a flag change made elsewhere.
    Flags {
        seq: u32,
        uid: Uid,
        flags: Flags,
        recent: bool,
        modseq: ModSeq,
    },
}

/// The selected mailbox of a session.
#[derive(Debug, Clone)]
pub struct View {
    pub mailbox: MailboxId,
    pub read_only: bool,
    uids: std::sync::Arc<Vec<Uid>>,
    /// UIDs recent to this session, ascending (few: only what arrived since the last claim).
    recent: Vec<Uid>,
    /// Expunged in the store but not yet announced to the client, ascending.
    pending_expunge: Vec<Uid>,
    pub known_modseq: ModSeq,
    /// Own flag changes already reported in this command: UID → MODSEQ.
    own: HashMap<Uid, ModSeq>,
    /// Keywords announced in the last untagged FLAGS, in announcement order.
    keywords: Vec<String>,
    /// What PERMANENTFLAGS lists: the system flags the user may change, and whether they
    /// may set keywords (then every announced keyword and `\*` are listed too).
    pub perm_system: Vec<Flag>,
    pub perm_keywords: bool,
}

impl View {
    /// A view of `uids` (ascending) synced up to `modseq`.
    pub fn new(
        mailbox: MailboxId,
        read_only: bool,
        uids: impl Into<std::sync::Arc<Vec<Uid>>>,
        recent: Vec<Uid>,
        modseq: ModSeq,
    ) -> Self {
        Self {
            mailbox,
            read_only,
            uids: uids.into(),
            recent,
            pending_expunge: Vec::new(),
            known_modseq: modseq,
            own: HashMap::new(),
            keywords: Vec::new(),
            perm_system: Vec::new(),
            perm_keywords: false,
        }
    }

    /// Keywords announced to the client (the last untagged FLAGS).
    pub fn keywords(&self) -> &[String] {
        &self.keywords
    }

    /// Add the keywords of `flags` not announced yet (keywords compare case-insensitively,
    /// RFC 3501 §2.3.2); true when there were any, and FLAGS must be sent again.
    pub fn learn_keywords(&mut self, flags: &Flags) -> bool {
        let mut grew = false;
        for k in flags.keywords() {
            if !self.keywords.iter().any(|a| a.eq_ignore_ascii_case(k)) {
                self.keywords.push(k.clone());
                grew = true;
            }
        }
        grew
    }

    /// Number of messages the client knows of (`EXISTS`).
    pub fn len(&self) -> u32 {
        self.uids.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.uids.is_empty()
    }

    pub fn uids(&self) -> &[Uid] {
        &self.uids
    }

    /// UID of a sequence number (1-based).
    pub fn uid(&self, seq: u32) -> Option<Uid> {
        self.uids.get((seq as usize).checked_sub(1)?).copied()
    }

    /// Sequence number of a UID in the view.
    pub fn seq(&self, uid: Uid) -> Option<u32> {
        self.uids.binary_search(&uid).ok().map(|i| i as u32 + 1)
    }

    /// [`View::seq`] for UIDs asked in ascending order: `hint` is the position after the
    /// previous one found, so a run of consecutive messages (`FETCH 1:*`) costs one
    /// comparison each instead of a binary search.
    pub fn seq_from(&self, uid: Uid, hint: &mut usize) -> Option<u32> {
        let i = match self.uids.get(*hint) {
            Some(&u) if u == uid => *hint,
            _ => self.uids.binary_search(&uid).ok()?,
        };
        *hint = i + 1;
        Some(i as u32 + 1)
    }

    /// Highest UID in the view.
    pub fn last_uid(&self) -> Option<Uid> {
        self.uids.last().copied()
    }

    pub fn is_recent(&self, uid: Uid) -> bool {
        self.recent.binary_search(&uid).is_ok()
    }

    /// Recent messages the client knows of. A message claimed as recent may not be in the
    /// view yet (it arrived after the changes were read); it counts once it is announced.
    pub fn recent_count(&self) -> u32 {
        self.recent
            .iter()
            .filter(|u| self.uids.binary_search(u).is_ok())
            .count() as u32
    }

    /// Whether the message is expunged already but not yet announced.
    pub fn is_pending_expunge(&self, uid: Uid) -> bool {
        self.pending_expunge.binary_search(&uid).is_ok()
    }

    /// Remember a flag change this session reports itself.
    pub fn note_own(&mut self, uid: Uid, modseq: ModSeq) {
        self.own.insert(uid, modseq);
    }

    /// Fold `changes` (from `changes_since(known_modseq)`) into the view and say what to
    /// tell the client. `newly_recent` are the UIDs this session just claimed as recent.
    /// `allow_expunge` is false while FETCH, STORE or SEARCH run.
    pub fn apply(
        &mut self,
        changes: Changes,
        newly_recent: &[Uid],
        allow_expunge: bool,
    ) -> Vec<Update> {
        let mut out = Vec::new();
        for uid in changes.expunged {
            if self.seq(uid).is_some()
                && let Err(pos) = self.pending_expunge.binary_search(&uid)
            {
                self.pending_expunge.insert(pos, uid);
            }
        }
        if allow_expunge && !self.pending_expunge.is_empty() {
            // Highest first: each EXPUNGE then leaves the lower sequence numbers valid,
            // so every number we send is right at the moment the client reads it.
            for uid in std::mem::take(&mut self.pending_expunge).into_iter().rev() {
                if let Ok(i) = self.uids.binary_search(&uid) {
                    std::sync::Arc::make_mut(&mut self.uids).remove(i);
                    if let Ok(r) = self.recent.binary_search(&uid) {
                        self.recent.remove(r);
                    }
                    out.push(Update::Expunge {
                        seq: i as u32 + 1,
                        uid,
                    });
                }
            }
        }
        let last = self.last_uid();
        let mut added = false;
        let mut flag_updates = Vec::new();
        for m in changes.changed {
            if last.is_none_or(|l| m.uid > l) {
                std::sync::Arc::make_mut(&mut self.uids).push(m.uid);
                added = true;
            } else if self.own.get(&m.uid) == Some(&m.modseq) || self.is_pending_expunge(m.uid) {
                continue;
            } else if let Some(seq) = self.seq(m.uid) {
                flag_updates.push((seq, m));
            }
        }
        for &uid in newly_recent {
            if let Err(pos) = self.recent.binary_search(&uid) {
                self.recent.insert(pos, uid);
            }
        }
        if added {
            out.push(Update::Exists(self.len()));
            out.push(Update::Recent(self.recent_count()));
        }
        for (seq, m) in flag_updates {
            let recent = self.is_recent(m.uid);
            out.push(Update::Flags {
                seq,
                uid: m.uid,
                flags: m.flags,
                recent,
                modseq: m.modseq,
            });
        }
        if let Some(h) = changes.highest_modseq
            && h > self.known_modseq
        {
            self.known_modseq = h;
        }
        self.own.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pochta_store::MessageSummary;

    fn uid(n: u32) -> Uid {
        Uid::new(n).unwrap()
    }
    fn ms(n: u64) -> ModSeq {
        ModSeq::new(n).unwrap()
    }
    fn summary(u: u32, m: u64) -> MessageSummary {
        MessageSummary {
            uid: uid(u),
            flags: Flags::new(),
            modseq: ms(m),
        }
    }

    #[test]
    fn expunges_are_deferred_and_then_sent_highest_first() {
        let mut v = View::new(
            MailboxId(1),
            false,
            vec![uid(1), uid(2), uid(3)],
            vec![],
            ms(5),
        );
        let ch = Changes {
            changed: vec![],
            expunged: vec![uid(1), uid(3)],
            highest_modseq: Some(ms(7)),
        };
        assert!(v.apply(ch, &[], false).is_empty());
        assert_eq!(v.len(), 3);
        assert_eq!(v.known_modseq, ms(7));
        let out = v.apply(Changes::default(), &[], true);
        assert_eq!(
            out,
            vec![
                Update::Expunge {
                    seq: 3,
                    uid: uid(3)
                },
                Update::Expunge {
                    seq: 1,
                    uid: uid(1)
                }
            ]
        );
        assert_eq!(v.uids(), &[uid(2)]);
    }

    #[test]
    fn new_messages_exist_and_own_changes_are_not_repeated() {
        let mut v = View::new(MailboxId(1), false, vec![uid(1), uid(2)], vec![], ms(2));
        v.note_own(uid(1), ms(3));
        let ch = Changes {
            changed: vec![summary(1, 3), summary(2, 4), summary(5, 5)],
            expunged: vec![],
            highest_modseq: Some(ms(5)),
        };
        let out = v.apply(ch, &[uid(5)], true);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], Update::Exists(3));
        assert_eq!(out[1], Update::Recent(1));
        assert!(matches!(out[2], Update::Flags { seq: 2, .. }));
        assert_eq!(v.seq(uid(5)), Some(3));
        assert!(v.is_recent(uid(5)));
    }

    #[test]
    fn seq_from_follows_ascending_uids_and_falls_back_to_a_search() {
        let v = View::new(
            MailboxId(1),
            false,
            vec![uid(2), uid(3), uid(7), uid(9)],
            vec![],
            ms(1),
        );
        let mut hint = 0;
        let got: Vec<Option<u32>> = [1, 2, 3, 5, 7, 9, 10, 3]
            .iter()
            .map(|&u| v.seq_from(uid(u), &mut hint))
            .collect();
        assert_eq!(
            got,
            vec![
                None,
                Some(1),
                Some(2),
                None,
                Some(3),
                Some(4),
                None,
                Some(2)
            ]
        );
        assert_eq!(hint, 2);
    }
}
