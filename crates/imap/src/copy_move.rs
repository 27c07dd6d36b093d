//! COPY and MOVE (RFC 3501 §6.4.7, RFC 6851) with COPYUID (RFC 4315 §3).
//!
//! Implementation notes:
//! - COPY/MOVE into a missing mailbox answer `NO [TRYCREATE]` (RFC 3501 §6.4.7).
//! - MOVE is one store transaction (no moment with the message in both mailboxes or neither);
//!   its COPYUID goes in an untagged OK before the EXPUNGEs (RFC 6851 §4.3).

use pochta_imap_proto::copy_move::CopyMove;
use pochta_store::{FlagOp, MailStore};
use pochta_types::{Flag, Flags, Right, Uid};

use pochta_imap_proto::response::{self, Code, Status};

use crate::acl::{SeenView, flag_allowed, need};
use crate::session::{Done, Res, Session, no};
use crate::store::all_flag_rights;

impl<S: MailStore> Session<S> {
    pub(crate) fn copy_move(&mut self, c: CopyMove, is_move: bool) -> Res {
        let targets = self.resolve(&c.set, c.uid)?;
        let view = self.view()?;
        let from = view.mailbox;
        if is_move && view.read_only {
            return Err(no(Code::ReadOnly, "mailbox is read-only"));
        }
        let store = self.shared.store.clone();
        let Some(found) = self.find(&c.mailbox)?.filter(|f| !f.info.noselect) else {
            return Err(no(
                Code::TryCreate,
                format!("mailbox {} does not exist", c.mailbox),
            ));
        };
        // RFC 4314 §4: "i" on the target; a MOVE also deletes and expunges in the source
        // ("t" and "e", RFC 6851 §3.3).
        need(&found, Right::Insert)?;
        if is_move {
            let src = self.selected_rights()?;
            if !(src.contains(Right::DeleteMessages) && src.contains(Right::Expunge)) {
                return Err(no(
                    Code::NoPerm,
                    "moving out of this mailbox needs the \"t\" and \"e\" rights",
                ));
            }
        }
        let target_rights = found.rights;
        let to = found.info;
        let across = self
            .selected
            .as_ref()
            .is_some_and(|s| s.account != to.account);
        let uids: Vec<Uid> = targets.iter().map(|&(_, u)| u).collect();
        if uids.is_empty() {
            return Done::ok(if is_move {
                "MOVE completed"
            } else {
                "COPY completed"
            });
        }
        // Where either side keeps \Seen per user, the copies get the user's own \Seen (as
        // they saw it in the source), read before a MOVE takes the source rows away.
        let src_view = self.selected_seen_view()?;
        let dst_view = self.seen_view(&to)?;
        let seen_in_source: Option<std::collections::HashSet<Uid>> =
            if matches!(src_view, SeenView::Shared) && matches!(dst_view, SeenView::Shared) {
                None
            } else {
                let mut set = std::collections::HashSet::new();
                for r in store.records(from, &uids, false)? {
                    let mut f = r.flags;
                    src_view.apply(r.uid, &mut f);
                    if f.contains(&Flag::Seen) {
                        set.insert(r.uid);
                    }
                }
                Some(set)
            };
        let mapping = if across {
            store.transfer_across(from, &uids, to.id, is_move)?
        } else if is_move {
            store.move_messages(from, &uids, to.id)?
        } else {
            store.copy(from, &uids, to.id)?
        };
        if !all_flag_rights(target_rights) {
            // RFC 4314 §4: copies keep only the flags the user may set in the target.
            let new: Vec<Uid> = mapping.pairs.iter().map(|(_, d)| *d).collect();
            let mut drop = Flags::new();
            for r in store.records(to.id, &new, false)? {
                for f in r.flags.iter() {
                    if !flag_allowed(target_rights, &f) {
                        drop.insert(&f);
                    }
                }
            }
            if !drop.is_empty() {
                store.store_flags(to.id, &new, FlagOp::Remove, &drop, None)?;
            }
        }
        if let Some(seen_src) = seen_in_source
            && target_rights.contains(Right::Seen)
        {
            let (mut seen, mut unseen) = (Vec::new(), Vec::new());
            for (s, d) in &mapping.pairs {
                if s.is_some_and(|s| seen_src.contains(&s)) {
                    seen.push(*d);
                } else {
                    unseen.push(*d);
                }
            }
            let one = Flags::from_flags(&[Flag::Seen]);
            match (dst_view, self.me()?) {
                (SeenView::Private(_), Some(me)) => {
                    store.set_private_seen(to.id, me, &seen, true)?;
                }
                _ => {
                    store.store_flags(to.id, &seen, FlagOp::Add, &one, None)?;
                    store.store_flags(to.id, &unseen, FlagOp::Remove, &one, None)?;
                }
            }
        }
        let src: Vec<u32> = mapping
            .pairs
            .iter()
            .filter_map(|(s, _)| s.map(|u| u.get()))
            .collect();
        let dst: Vec<u32> = mapping.pairs.iter().map(|(_, d)| d.get()).collect();
        let code = if src.is_empty() {
            None
        } else {
            Some(Code::CopyUid {
                uid_validity: mapping.uid_validity.get(),
                source: src,
                dest: dst,
            })
        };
        if is_move {
            if let Some(code) = &code {
                response::write_status(&mut self.out, None, Status::Ok, Some(code), "Moved");
            }
            // EXPUNGEs follow from the sync in `finish`.
            return Done::ok("MOVE completed");
        }
        match code {
            Some(code) => Done::code(code, "COPY completed"),
            None => Done::ok("COPY completed"),
        }
    }
}
