//! NAMESPACE (RFC 2342): the personal namespace (none for an anonymous session), other users'
//! mailboxes shared with us (RFC 4314), and the public folders.

use pochta_imap_proto::response;
use pochta_store::MailStore;
use pochta_types::SEPARATOR;

use crate::session::{Done, Res, Session};

impl<S: MailStore> Session<S> {
    pub(crate) fn namespace(&mut self) -> Res {
        // RFC 2342 §5: personal (none for an anonymous session), other users' (shared
        // with us, RFC 4314), shared (the public folders).
        let personal = self.anonymous.is_none().then_some("");
        let other = format!("{}{SEPARATOR}", crate::acl::OTHER_USERS);
        let public = format!("{}{SEPARATOR}", crate::acl::PUBLIC);
        response::write_namespace(&mut self.out, personal, Some(&other), Some(&public));
        Done::ok("NAMESPACE completed")
    }
}
