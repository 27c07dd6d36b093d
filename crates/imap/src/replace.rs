//! REPLACE and UID REPLACE (RFC 8508).
//!
//! Implementation notes (what always holds):
//! - The new message is appended and the old one expunged in one store transaction
//!   ([`pochta_store::MailStore::replace`]): no session ever sees both or neither
//!   (RFC 8508 §3.4, "as though" APPEND, then `UID EXPUNGE` of the old message). The old
//!   message is expunged whatever its flags; other `\Deleted` messages stay (§3.3).
//! - If anything fails (missing target mailbox → `NO [TRYCREATE]`, quota, size) the old
//!   message stays (§3.3).
//! - Rights (§3.4, RFC 4314 §4): "i" on the target mailbox; "t" and "e" on the selected one.
//!   A read-only selected mailbox refuses REPLACE (`NO [READ-ONLY]`).
//! - Responses (§3.3): an untagged `OK [APPENDUID v uid]` first, then the untagged EXISTS /
//!   EXPUNGE (or VANISHED) of the selected mailbox from the usual sync, then the tagged OK.
//! - REPLACE takes a sequence number that must exist (else `BAD`, as for FETCH); UID REPLACE
//!   a UID that does not exist (any more) is `NO [NONEXISTENT]`.

use pochta_imap_proto::replace::Replace;
use pochta_imap_proto::response::{self, Code, Status};
use pochta_store::MailStore;
use pochta_types::{Flag, Right, Uid};

use crate::acl::{SeenView, need};
use crate::session::{Done, Res, Session, bad, no};

impl<S: MailStore> Session<S> {
    pub(crate) fn replace(&mut self, mut r: Replace) -> Res {
        let view = self.view()?;
        if view.read_only {
            return Err(no(Code::ReadOnly, "mailbox is read-only"));
        }
        let from = view.mailbox;
        let n = r.target.get();
        let old = if r.uid {
            let uid = Uid::new(n).filter(|u| view.seq(*u).is_some());
            uid.ok_or_else(|| no(Code::NonExistent, format!("no message with UID {n}")))?
        } else {
            view.uid(n)
                .ok_or_else(|| bad("message sequence number out of range"))?
        };
        let src = self.selected_rights()?;
        if !(src.contains(Right::DeleteMessages) && src.contains(Right::Expunge)) {
            return Err(no(
                Code::NoPerm,
                "replacing a message needs the \"t\" and \"e\" rights on this mailbox",
            ));
        }
        let Some(found) = self.find(&r.mailbox)?.filter(|f| !f.info.noselect) else {
            return Err(no(
                Code::TryCreate,
                format!("mailbox {} does not exist", r.mailbox),
            ));
        };
        need(&found, Right::Insert)?;
        let rights = found.rights;
        let to = found.info;
        let private = match (self.seen_view(&to)?, self.me()?) {
            (SeenView::Private(_), Some(me)) => Some(me),
            _ => None,
        };
        self.catenate(std::slice::from_mut(&mut r.message))?;
        crate::append::binary_parts_to_base64(std::slice::from_mut(&mut r.message));
        let msg = self.new_message(&r.message, rights, private.is_some())?;
        let store = self.shared.store.clone();
        let mapping = store.replace(from, old, to.id, &msg)?;
        let new = mapping.pairs.first().map(|(_, u)| *u);
        if let (Some(me), Some(new)) = (private, new)
            && r.message.flags.contains(&Flag::Seen)
            && rights.contains(Right::Seen)
        {
            store.set_private_seen(to.id, me, &[new], true)?;
        }
        let code = Code::AppendUid {
            uid_validity: mapping.uid_validity.get(),
            uids: new.map(|u| vec![u.get()]).unwrap_or_default(),
        };
        // RFC 8508 §3.3: APPENDUID goes in an untagged OK, before the EXPUNGE.
        response::write_status(
            &mut self.out,
            None,
            Status::Ok,
            Some(&code),
            "Replacement message ready",
        );
        Done::ok("REPLACE completed")
    }
}
