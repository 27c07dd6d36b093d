//! APPEND, MULTIAPPEND (RFC 3501 §6.3.11, RFC 3502) with APPENDUID (RFC 4315 §3).
//!
//! Implementation notes:
//! - A missing mailbox is `NO [TRYCREATE]`; APPEND needs "i" and keeps only the flags the
//!   user may set (RFC 4314 §4); all messages of a MULTIAPPEND go in one store call.

use pochta_imap_proto::append::{Append, AppendDataKind, AppendMessage};
use pochta_imap_proto::response::Code;
use pochta_store::{MailDate, MailStore, NewMessage};
use pochta_types::{Flags, Right, Rights, Uid};

use crate::acl::{SeenView, allowed_flags};
use crate::session::{Done, Res, Session, no};

impl<S: MailStore> Session<S> {
    pub(crate) fn append(&mut self, mut a: Append) -> Res {
        let store = self.shared.store.clone();
        let Some(found) = self.find(&a.mailbox)?.filter(|f| !f.info.noselect) else {
            // RFC 3501 §6.3.11: TRYCREATE tells the client it may create it and retry.
            return Err(no(
                Code::TryCreate,
                format!("mailbox {} does not exist", a.mailbox),
            ));
        };
        // RFC 4314 §4: APPEND needs "i"; flags are kept only where the user has the right.
        crate::acl::need(&found, Right::Insert)?;
        let rights = found.rights;
        let mb = found.info;
        // Where \Seen is the user's own, an appended \Seen is too (not the mailbox's).
        let private = match (self.seen_view(&mb)?, self.me()?) {
            (SeenView::Private(_), Some(me)) => Some(me),
            _ => None,
        };
        // RFC 4469: CATENATE messages are assembled before anything is stored.
        self.catenate(&mut a.messages)?;
        binary_parts_to_base64(&mut a.messages);
        let mut msgs = Vec::with_capacity(a.messages.len());
        for m in &a.messages {
            msgs.push(self.new_message(m, rights, private.is_some())?);
        }
        let mapping = store.append(mb.id, &msgs)?;
        if let Some(me) = private {
            let seen: Vec<Uid> = a
                .messages
                .iter()
                .zip(&mapping.pairs)
                .filter(|(m, _)| {
                    m.flags.contains(&pochta_types::Flag::Seen) && rights.contains(Right::Seen)
                })
                .map(|(_, (_, u))| *u)
                .collect();
            if !seen.is_empty() {
                store.set_private_seen(mb.id, me, &seen, true)?;
            }
        }
        let uids: Vec<u32> = mapping.pairs.iter().map(|(_, u)| u.get()).collect();
        let code = Code::AppendUid {
            uid_validity: mapping.uid_validity.get(),
            uids,
        };
        Done::code(code, "APPEND completed")
    }

    /// One message of an APPEND (or REPLACE) as the store takes it: not empty, within
    /// APPENDLIMIT, with only the flags the user may set (RFC 4314 §4); a `\Seen` kept per
    /// user (`private_seen`) is left out, the caller stores it as the user's own.
    pub(crate) fn new_message<'m>(
        &self,
        m: &'m AppendMessage,
        rights: Rights,
        private_seen: bool,
    ) -> Res<NewMessage<'m>> {
        if m.data.is_empty() {
            return Err(no(Code::Cannot, "an empty message cannot be appended"));
        }
        if m.data.len() as u64 > self.shared.config.max_message {
            return Err(no(Code::TooBig, "message is larger than APPENDLIMIT"));
        }
        let mut flags = allowed_flags(rights, &Flags::from_flags(&m.flags));
        if private_seen {
            flags.remove(&pochta_types::Flag::Seen);
        }
        Ok(NewMessage {
            bytes: &m.data,
            flags,
            internal_date: m.date.map(|d| MailDate {
                unix: d.unix_timestamp(),
                offset_minutes: d.zone_minutes(),
            }),
        })
    }
}

/// Binary parts of a `~{n}` message are stored base64-encoded (RFC 3516 §4.4; see
/// pochta_message::binary_parts_to_base64), so BODY[] stays a valid literal and BINARY[]
/// gives the client's bytes back.
pub(crate) fn binary_parts_to_base64(messages: &mut [AppendMessage]) {
    for m in messages {
        if m.kind == AppendDataKind::Literal8
            && let Some(converted) = pochta_message::binary_parts_to_base64(&m.data)
        {
            m.data = converted;
        }
    }
}
