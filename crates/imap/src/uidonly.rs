//! UIDONLY (RFC 9586): after `ENABLE UIDONLY`, messages are named by UID alone.
//!
//! Implementation notes (what always holds once enabled):
//! - Every command that takes message sequence numbers (FETCH, STORE, SEARCH, COPY, MOVE,
//!   REPLACE without `UID`) is refused with `BAD [UIDREQUIRED]` before it runs (RFC 9586
//!   §3.2); UID forms, EXPUNGE and the rest work as before.
//! - Message data goes in `* <uid> UIDFETCH (...)` responses instead of `* <seq> FETCH`
//!   (RFC 9586 §3.3): FETCH results, STORE echoes, and unsolicited flag changes alike.
//! - Expunges are reported as `VANISHED <uids>`, never `EXPUNGE <seq>` (RFC 9586 §3.4), as
//!   with QRESYNC (RFC 7162 §3.2.10), also when QRESYNC is not enabled.
//! - EXISTS still carries the message count (RFC 9586 §3.4).
//! - UIDONLY stays on for the rest of the connection (RFC 5161 §3.1: no DISABLE).

use pochta_imap_proto::CommandBody;
use pochta_imap_proto::response::{Code, FetchWriter};
use pochta_types::Uid;

use crate::session::Fail;

/// Whether a command names messages by sequence number (refused under UIDONLY).
pub(crate) fn refuses(body: &CommandBody) -> bool {
    use CommandBody::*;
    match body {
        Fetch(f) => !f.uid,
        Store(s) => !s.uid,
        Search(s) => !s.uid,
        Copy(c) | Move(c) => !c.uid,
        Replace(r) => !r.uid,
        _ => false,
    }
}

/// The refusal (RFC 9586 §3.2).
pub(crate) fn uid_required(name: &str) -> Fail {
    Fail::BadCode(
        Code::UidRequired,
        format!("{name} uses message sequence numbers; UIDONLY is enabled, use UID {name}"),
    )
}

/// The start of a message-data response: UIDFETCH by UID under UIDONLY, else FETCH.
pub(crate) fn fetch_writer(
    out: &mut Vec<u8>,
    uidonly: bool,
    seq: u32,
    uid: Uid,
) -> FetchWriter<'_> {
    if uidonly {
        FetchWriter::begin_uidfetch(out, uid.get())
    } else {
        FetchWriter::begin(out, seq)
    }
}
