//! IDLE (RFC 2177): `+ idling`, then the driver waits for `DONE` or for changes, which are
//! reported like at the end of any command (expunges allowed).

use pochta_imap_proto::Tag;
use pochta_imap_proto::response::{self, Status};
use pochta_store::MailStore;

use crate::session::{Done, Next, Res, Session};

impl<S: MailStore> Session<S> {
    pub(crate) fn idle(&mut self, tag: &Tag) -> Res {
        response::write_continue(&mut self.out, "idling");
        Ok(Done {
            code: None,
            text: String::new(),
            next: Next::Idle(tag.clone()),
        })
    }

    /// While idling: report changes (expunges allowed).
    pub fn idle_poll(&mut self) {
        if let Err(e) = self.sync(true) {
            tracing::error!(error = %e, "syncing during IDLE failed");
        }
        self.report_key_resets();
    }

    /// The client ended IDLE with `line` (RFC 2177 §3: must be `DONE`).
    pub fn idle_done(&mut self, tag: &Tag, line: &[u8]) {
        let trimmed = line
            .strip_suffix(b"\r\n")
            .or(line.strip_suffix(b"\n"))
            .unwrap_or(line);
        self.idle_poll();
        if trimmed.eq_ignore_ascii_case(b"DONE") {
            self.tagged(Some(tag), Status::Ok, None, "IDLE terminated");
        } else {
            self.tagged(Some(tag), Status::Bad, None, "expected DONE to end IDLE");
        }
    }
}
