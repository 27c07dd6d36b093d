//! EXPUNGE and UID EXPUNGE (RFC 3501 §6.4.3, RFC 4315 §2.1).
//!
//! Implementation notes:
//! - EXPUNGE needs "e" (RFC 4314 §4); the untagged EXPUNGE/VANISHED responses are written by
//!   the sync in `Session::finish`, like every other change.

use pochta_imap_proto::response::Code;
use pochta_imap_proto::sequence::SequenceSet;
use pochta_store::MailStore;
use pochta_types::{Right, Uid};

use crate::session::{Done, Res, Session, no};

impl<S: MailStore> Session<S> {
    pub(crate) fn expunge(&mut self, set: Option<SequenceSet>) -> Res {
        let view = self.view()?;
        if view.read_only {
            return Err(no(Code::ReadOnly, "mailbox is read-only"));
        }
        let mailbox = view.mailbox;
        // RFC 4314 §4: EXPUNGE needs "e".
        if !self.selected_rights()?.contains(Right::Expunge) {
            return Err(no(Code::NoPerm, "you lack the \"e\" right on this mailbox"));
        }
        let uids: Option<Vec<Uid>> = match &set {
            Some(set) => Some(
                self.resolve(set, true)?
                    .into_iter()
                    .map(|(_, u)| u)
                    .collect(),
            ),
            None => None,
        };
        self.shared.store.expunge(mailbox, uids.as_deref())?;
        // The untagged EXPUNGEs are written by the sync in `finish`.
        Done::ok("EXPUNGE completed")
    }
}
