//! STORE and UID STORE (RFC 3501 §6.4.6, UNCHANGEDSINCE RFC 7162 §3.1.3).
//!
//! Implementation notes:
//! - STORE writes its own FETCH responses (unless `.SILENT`) and marks them in the view so
//!   the following sync does not repeat them; changes made meanwhile by others still are.
//! - Flags the user may not change are left alone (RFC 4314 §4).

use pochta_imap_proto::store::{Store, StoreMode};
use pochta_store::{FlagOp, MailStore, StoreOutcome};
use pochta_types::{Flag, Flags, ModSeq, Right, Rights, Uid};

use pochta_imap_proto::response::Code;

use crate::acl::{SeenView, allowed_flags, flag_allowed};
use crate::session::{Done, Fail, Res, Session, no};

/// One STORE's change, as the helpers below pass it on.
#[derive(Clone, Copy)]
struct FlagChange<'a> {
    mailbox: pochta_types::MailboxId,
    uids: &'a [Uid],
    op: FlagOp,
    flags: &'a Flags,
    unchanged_since: Option<ModSeq>,
}

/// Whether the user may change every flag (then no flag needs filtering).
pub(crate) fn all_flag_rights(r: Rights) -> bool {
    r.contains(Right::Seen) && r.contains(Right::Write) && r.contains(Right::DeleteMessages)
}

impl<S: MailStore> Session<S> {
    pub(crate) fn store(&mut self, s: Store) -> Res {
        let targets = self.resolve(&s.set, s.uid)?;
        let view = self.view()?;
        if view.read_only {
            return Err(no(Code::ReadOnly, "mailbox is read-only"));
        }
        let mailbox = view.mailbox;
        let uids: Vec<Uid> = targets.iter().map(|&(_, u)| u).collect();
        let op = match s.mode {
            StoreMode::Replace => FlagOp::Replace,
            StoreMode::Add => FlagOp::Add,
            StoreMode::Remove => FlagOp::Remove,
        };
        if s.unchanged_since.is_some() {
            self.enable_condstore();
        }
        let unchanged_since = match s.unchanged_since {
            Some(0) => Some(None),
            Some(n) => Some(pochta_types::ModSeq::new(n)),
            None => None,
        };
        let outcome = if unchanged_since == Some(None) {
            // UNCHANGEDSINCE 0 fails every message (RFC 7162 §3.1.3).
            pochta_store::StoreOutcome {
                conflicts: uids.clone(),
                ..Default::default()
            }
        } else {
            self.store_with_rights(FlagChange {
                mailbox,
                uids: &uids,
                op,
                flags: &Flags::from_flags(&s.flags),
                unchanged_since: unchanged_since.flatten(),
            })?
        };
        let rev2 = self.rev2;
        for (i, m) in outcome.updated.iter().enumerate() {
            // Even under .SILENT: the keyword is defined now, and the client hears of it.
            self.announce_keywords(&m.flags);
            let view = self.view_mut()?;
            view.note_own(m.uid, m.modseq);
            let Some(seq) = view.seq(m.uid) else { continue };
            let recent = !rev2 && view.is_recent(m.uid);
            // RFC 7162 §3.1.3: with UNCHANGEDSINCE, a changed message is reported (with its
            // MODSEQ) even under .SILENT, so the client's cache learns the new MODSEQ.
            let changed = outcome.changed.get(i).copied().unwrap_or(true);
            let modseq_only = s.silent && s.unchanged_since.is_some() && changed;
            if s.silent && !modseq_only {
                continue;
            }
            let condstore = self.condstore;
            let mut w = crate::uidonly::fetch_writer(&mut self.out, self.uidonly, seq, m.uid);
            if s.uid {
                w.uid(m.uid.get());
            }
            if !modseq_only {
                w.flags(&m.flags, recent);
            }
            if modseq_only || condstore {
                w.modseq(m.modseq.get());
            }
            w.finish();
        }
        if !outcome.conflicts.is_empty() {
            let view = self.view()?;
            let nums: Vec<u32> = if s.uid {
                outcome.conflicts.iter().map(|u| u.get()).collect()
            } else {
                outcome
                    .conflicts
                    .iter()
                    .filter_map(|&u| view.seq(u))
                    .collect()
            };
            return Done::code(
                Code::Modified(nums),
                "Some messages were modified meanwhile",
            );
        }
        Done::ok("STORE completed")
    }

    /// STORE within the user's rights (RFC 4314 §4): `\Seen` needs "s", `\Deleted` "t",
    /// other flags "w". Flags the user may not change are left as they are (a replace
    /// becomes an add and a remove of the changeable ones); with none changeable the
    /// command fails with `NO [NOPERM]`.
    fn store_with_rights(&mut self, change: FlagChange<'_>) -> Res<StoreOutcome> {
        let rights = self.selected_rights()?;
        if let (SeenView::Private(_), Some(me)) = (self.selected_seen_view()?, self.me()?) {
            return self.store_private_seen(me, rights, change);
        }
        self.store_shared(rights, change)
    }

    /// STORE in a mailbox whose `\Seen` is the user's own: `\Seen` goes to the private state
    /// (with "s"), the other flags to the mailbox (with "w"/"t", as in [`Self::store_shared`]).
    /// UNCHANGEDSINCE compares with the message's MODSEQ, which private changes also move.
    fn store_private_seen(
        &mut self,
        me: pochta_types::AccountId,
        rights: Rights,
        change: FlagChange<'_>,
    ) -> Res<StoreOutcome> {
        let FlagChange {
            mailbox,
            uids,
            op,
            flags,
            unchanged_since,
        } = change;
        let store = self.shared.store.clone();
        let mut conflicts = Vec::new();
        let mut todo: Vec<Uid> = uids.to_vec();
        if let Some(since) = unchanged_since {
            let recs = store.records(mailbox, uids, false)?;
            todo = Vec::new();
            for r in recs {
                if r.modseq > since {
                    conflicts.push(r.uid);
                } else {
                    todo.push(r.uid);
                }
            }
        }
        let wants_seen = flags.contains(&Flag::Seen);
        let target = match op {
            FlagOp::Add | FlagOp::Remove if !wants_seen => None,
            FlagOp::Add => Some(true),
            FlagOp::Remove => Some(false),
            FlagOp::Replace => Some(wants_seen),
        };
        let seen_ok = rights.contains(Right::Seen);
        let mut rest = flags.clone();
        rest.remove(&Flag::Seen);
        let shared_rights = rights.minus(Rights::NONE.with(Right::Seen));
        let may_rest =
            shared_rights.contains(Right::Write) || shared_rights.contains(Right::DeleteMessages);
        let private_part = target.is_some() && seen_ok;
        let shared_part = op == FlagOp::Replace || !rest.is_empty();
        if !(private_part || (shared_part && may_rest)) {
            return Err(no(Code::NoPerm, "you may not change these flags here"));
        }
        let mut changed: std::collections::HashSet<Uid> = Default::default();
        if let Some(t) = target.filter(|_| seen_ok) {
            changed.extend(
                store
                    .set_private_seen(mailbox, me, &todo, t)?
                    .iter()
                    .map(|m| m.uid),
            );
        }
        if shared_part && may_rest {
            let shared_change = FlagChange {
                mailbox,
                uids: &todo,
                op,
                flags: &rest,
                unchanged_since: None,
            };
            match self.store_shared(shared_rights, shared_change) {
                Ok(o) => changed.extend(
                    o.updated
                        .iter()
                        .zip(&o.changed)
                        .filter(|(_, c)| **c)
                        .map(|(m, _)| m.uid),
                ),
                // Only flags the user may not change were asked for besides \Seen.
                Err(Fail::No(..)) if private_part => {}
                Err(e) => return Err(e),
            }
        }
        let seen = store.private_seen(mailbox, me)?;
        let view = SeenView::Private(seen);
        let mut out = StoreOutcome {
            conflicts,
            ..Default::default()
        };
        for r in store.records(mailbox, &todo, false)? {
            let mut flags = r.flags;
            view.apply(r.uid, &mut flags);
            out.changed.push(changed.contains(&r.uid));
            out.updated.push(pochta_store::MessageSummary {
                uid: r.uid,
                flags,
                modseq: r.modseq,
            });
        }
        Ok(out)
    }

    /// STORE on the mailbox's own flags within `rights`.
    fn store_shared(&mut self, rights: Rights, change: FlagChange<'_>) -> Res<StoreOutcome> {
        let FlagChange {
            mailbox,
            uids,
            op,
            flags,
            unchanged_since,
        } = change;
        let store = self.shared.store.clone();
        if all_flag_rights(rights) {
            return Ok(store.store_flags(mailbox, uids, op, flags, unchanged_since)?);
        }
        let allowed = allowed_flags(rights, flags);
        let any_right = rights.contains(Right::Seen)
            || rights.contains(Right::Write)
            || rights.contains(Right::DeleteMessages);
        if !any_right || (op != FlagOp::Replace && allowed.is_empty() && !flags.is_empty()) {
            return Err(no(Code::NoPerm, "you may not change these flags here"));
        }
        if op != FlagOp::Replace {
            return Ok(store.store_flags(mailbox, uids, op, &allowed, unchanged_since)?);
        }
        let first = store.store_flags(mailbox, uids, FlagOp::Add, &allowed, unchanged_since)?;
        let mut remove = Flags::new();
        for m in &first.updated {
            for f in m.flags.iter() {
                if flag_allowed(rights, &f) && !allowed.contains(&f) {
                    remove.insert(&f);
                }
            }
        }
        if remove.is_empty() {
            return Ok(first);
        }
        let done: Vec<Uid> = first.updated.iter().map(|m| m.uid).collect();
        let second = store.store_flags(mailbox, &done, FlagOp::Remove, &remove, None)?;
        let changed = second
            .changed
            .iter()
            .zip(first.changed.iter().chain(std::iter::repeat(&false)))
            .map(|(a, b)| *a || *b)
            .collect();
        Ok(StoreOutcome {
            updated: second.updated,
            changed,
            conflicts: first.conflicts,
        })
    }
}
