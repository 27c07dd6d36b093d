//! LIST-MYRIGHTS (RFC 8440): the `MYRIGHTS` return option of LIST-EXTENDED.
//!
//! Implementation notes (what always holds):
//! - With `RETURN (MYRIGHTS)` every listed mailbox that exists and is selectable gets a
//!   `* MYRIGHTS <name> <rights>` response right after its `* LIST` (RFC 8440 §3, shaped as
//!   RFC 4314 §3.8); the rights are those MYRIGHTS would report (RFC 4314 §3.5), computed
//!   the same way ([`Session::find`]).
//! - `\NonExistent` and `\Noselect` names get none: there is nothing to have rights on
//!   (RFC 8440 §3 leaves it out for names that are not mailboxes).
//! - Listing needs "l" only (RFC 4314 §4), so every listed mailbox may show its rights: no
//!   further check.

use pochta_imap_proto::acl::write_myrights;
use pochta_store::{MailStore, MailboxInfo};
use pochta_types::MailboxName;

use crate::session::{Res, Session};

impl<S: MailStore> Session<S> {
    /// After a LIST line: the MYRIGHTS response for `name`, if it is a selectable mailbox.
    pub(crate) fn list_myrights(
        &mut self,
        name: &MailboxName,
        mb: Option<&MailboxInfo>,
    ) -> Res<()> {
        if mb.is_none_or(|m| m.noselect) {
            return Ok(());
        }
        if let Some(found) = self.find(name)? {
            write_myrights(&mut self.out, name, found.rights, self.utf8);
        }
        Ok(())
    }
}
