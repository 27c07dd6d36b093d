//! ID (RFC 2971): the server names itself whatever the client sent (RFC 2971 §3.1 lets the
//! server ignore the client's fields).

use pochta_imap_proto::response;
use pochta_store::MailStore;

use crate::session::{Done, Res, Session};

impl<S: MailStore> Session<S> {
    pub(crate) fn id(&mut self) -> Res {
        let id = [
            ("name", Some("Pochta")),
            ("version", Some(env!("CARGO_PKG_VERSION"))),
        ];
        response::write_id(&mut self.out, Some(&id));
        Done::ok("ID completed")
    }
}
