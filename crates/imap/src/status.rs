//! STATUS (RFC 3501 §6.3.10, STATUS=SIZE RFC 8438, OBJECTID RFC 8474 §4.2).
//!
//! Implementation notes:
//! - STATUS needs "r" (RFC 4314 §4); where `\Seen` is per user, UNSEEN counts the user's own.

use pochta_imap_proto::response::{self, Code, StatusValue};
use pochta_imap_proto::status::{Status, StatusItem};
use pochta_store::{MailStore, MailboxInfo};
use pochta_types::{MailboxName, Right};

use crate::acl::SeenView;
use crate::mailbox::mailbox_object_id;
use crate::session::{Done, Res, Session, no};

impl<S: MailStore> Session<S> {
    pub(crate) fn status(&mut self, s: Status) -> Res {
        if s.items.contains(&StatusItem::HighestModSeq) {
            // A CONDSTORE-enabling command (RFC 7162 §3.1).
            self.enable_condstore();
        }
        // RFC 4314 §4: STATUS needs "r".
        let mb = self.find_with(&s.mailbox, Right::Read)?.info;
        if mb.noselect {
            return Err(no(
                Code::NonExistent,
                format!("mailbox {} does not exist", s.mailbox),
            ));
        }
        self.status_line(&s.mailbox, &mb, &s.items)?;
        Done::ok("STATUS completed")
    }

    pub(crate) fn status_line(
        &mut self,
        name: &MailboxName,
        mb: &MailboxInfo,
        items: &[StatusItem],
    ) -> Res<()> {
        let id = mb.id;
        let mut st = self.shared.store.mailbox_status(id)?;
        if let SeenView::Private(seen) = self.seen_view(mb)? {
            // Private rows exist only for messages still there (they go with their row).
            st.unseen = st.messages.saturating_sub(seen.len() as u32);
        }
        let oid = mailbox_object_id(id);
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            let v: u64 = match item {
                StatusItem::Messages => st.messages.into(),
                StatusItem::Recent => st.recent.into(),
                StatusItem::UidNext => st.uid_next.get().into(),
                StatusItem::UidValidity => st.uid_validity.get().into(),
                StatusItem::Unseen => st.unseen.into(),
                StatusItem::Deleted => st.deleted.into(),
                // RFC 9208 §4.1.4 allows the sum of RFC822.SIZE, which is also exact here.
                StatusItem::DeletedStorage => st.deleted_size,
                StatusItem::Size => st.size,
                StatusItem::HighestModSeq => st.highest_modseq.get(),
                StatusItem::AppendLimit => self.shared.config.max_message,
                // RFC 8474 §4.2: MAILBOXID (objectid).
                StatusItem::MailboxId => {
                    values.push((*item, StatusValue::ObjectId(&oid)));
                    continue;
                }
            };
            values.push((*item, StatusValue::Number(v)));
        }
        response::write_status_data(&mut self.out, name, &values, self.utf8);
        Ok(())
    }
}
