//! ENABLE (RFC 5161): CONDSTORE, QRESYNC, IMAP4rev2, UTF8=ACCEPT, UIDONLY (RFC 9586).
//!
//! Implementation notes:
//! - `* ENABLED` lists only what this command newly enabled (RFC 5161 §3.1).
//! - QRESYNC implies CONDSTORE (RFC 7162 §3.2.3); IMAP4rev2 implies UTF-8 mailbox names
//!   (RFC 9051 §6.3.1).

use pochta_imap_proto::response;
use pochta_store::MailStore;

use crate::session::{Done, Res, Session};

impl<S: MailStore> Session<S> {
    pub(crate) fn enable(&mut self, caps: Vec<String>) -> Res {
        // RFC 5161 §3.1: ENABLED lists only what this command newly enabled.
        let mut newly = Vec::new();
        for cap in caps {
            match cap.as_str() {
                "CONDSTORE" if !self.condstore => {
                    self.condstore = true;
                    newly.push("CONDSTORE");
                }
                "QRESYNC" if !self.qresync => {
                    // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
                    self.qresync = true;
                    self.condstore = true;
                    newly.push("QRESYNC");
                }
                "IMAP4REV2" if !self.rev2 => {
                    // RFC 9051 §6.3.1; mailbox names are UTF-8 in IMAP4rev2 (§5.1).
                    self.rev2 = true;
                    self.utf8 = true;
                    newly.push("IMAP4rev2");
                }
                "UIDONLY" if !self.uidonly => {
                    // RFC 9586 §3: from now on, UIDs only (see crate::uidonly).
                    self.uidonly = true;
                    newly.push("UIDONLY");
                }
                "UTF8=ACCEPT" if !self.utf8 => {
                    self.utf8 = true;
                    newly.push("UTF8=ACCEPT");
                }
                _ => {}
            }
        }
        response::write_enabled(&mut self.out, &newly);
        Done::ok("ENABLE completed")
    }
}
