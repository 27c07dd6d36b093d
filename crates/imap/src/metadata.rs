//! GETMETADATA and SETMETADATA (RFC 5464): METADATA and METADATA-SERVER.
//!
//! Implementation notes (what always holds):
//! - Entries live in the store ([`pochta_store::MailStore::metadata`]), so they survive a
//!   restart, stay with a renamed mailbox, are copied from a renamed INBOX and go with a
//!   deleted mailbox (RFC 5464 §4.1).
//! - Access (§3.3 with ACL): a mailbox's entries need "l" and one of "r", "s", "w", "i",
//!   "p"; setting a `/shared/` entry on a mailbox also needs "w" (shared entries are
//!   everyone's, so writing them is a write to the mailbox). Otherwise `NO [NOPERM]`.
//! - Server entries (mailbox `""`): anyone may read; `/private/` entries are each user's
//!   own; `/shared/` server entries are read-only (§3.3 lets a server restrict them):
//!   `/shared/admin` is computed from the configured hostname (`mailto:postmaster@…`,
//!   §3.2.1.1).
//! - Limits (§4.1: at least 1024 bytes and 10 entries): a value above [`MAX_VALUE`] is
//!   `NO [METADATA MAXSIZE n]`; more than [`MAX_ENTRIES`] entries visible to one user in
//!   one mailbox (or on the server) is `NO [METADATA TOOMANY]`; a refused SETMETADATA
//!   changes nothing (§4.3). Private entries are supported everywhere, so NOPRIVATE is
//!   never sent.
//! - GETMETADATA answers one METADATA response (§4.4.1): each named entry (NIL when it does
//!   not exist) and, with DEPTH, the existing entries below it; values above MAXSIZE are
//!   left out and the largest left-out size goes in `OK [METADATA LONGENTRIES n]` (§4.2.1).
//! - No unsolicited METADATA responses are sent (§4.4.2 makes them optional).

use pochta_imap_proto::metadata::{Depth, GetMetadata, SetMetadata, write_metadata};
use pochta_imap_proto::response::Code;
use pochta_store::{MailStore, StoreError};
use pochta_types::{MailboxId, MailboxName, Right};

use crate::session::{Done, Res, Session, no};

/// Largest value accepted, in bytes.
pub const MAX_VALUE: usize = 64 * 1024;
/// Most entries one user sees in one mailbox or on the server.
pub const MAX_ENTRIES: u32 = 100;

impl<S: MailStore> Session<S> {
    /// The mailbox whose entries a command names, after the rights check; `None`: server.
    fn metadata_scope(
        &self,
        mailbox: Option<&MailboxName>,
        write_shared: bool,
    ) -> Res<Option<MailboxId>> {
        let Some(name) = mailbox else {
            return Ok(None);
        };
        let found = self
            .find(name)?
            .ok_or_else(|| no(Code::NonExistent, format!("mailbox {name} does not exist")))?;
        let r = found.rights;
        let any = [
            Right::Read,
            Right::Seen,
            Right::Write,
            Right::Insert,
            Right::Post,
        ]
        .iter()
        .any(|x| r.contains(*x));
        if !any || (write_shared && !r.contains(Right::Write)) {
            return Err(no(
                Code::NoPerm,
                format!("you may not access the metadata of {name}"),
            ));
        }
        Ok(Some(found.info.id))
    }

    pub(crate) fn getmetadata(&mut self, g: GetMetadata) -> Res {
        let me = self.account()?.id;
        let scope = self.metadata_scope(g.mailbox.as_ref(), false)?;
        let mut all = self.shared.store.metadata(scope, me)?;
        if scope.is_none() {
            let admin = format!("mailto:postmaster@{}", self.shared.config.hostname);
            all.push(("/shared/admin".into(), admin.into_bytes()));
            all.sort();
        }
        let mut out: Vec<(String, Option<Vec<u8>>)> = Vec::new();
        let mut longest: Option<usize> = None;
        for asked in &g.entries {
            let mut found_exact = false;
            for (name, value) in &all {
                let below = name
                    .strip_prefix(asked.as_str())
                    .and_then(|r| r.strip_prefix('/'));
                let hit = if name == asked {
                    found_exact = true;
                    true
                } else {
                    match (g.depth, below) {
                        (Depth::One, Some(rest)) => !rest.contains('/'),
                        (Depth::Infinity, Some(_)) => true,
                        _ => false,
                    }
                };
                if !hit || out.iter().any(|(n, _)| n == name) {
                    continue;
                }
                if g.maxsize.is_some_and(|m| value.len() > m as usize) {
                    longest = Some(longest.map_or(value.len(), |l| l.max(value.len())));
                    continue;
                }
                out.push((name.clone(), Some(value.clone())));
            }
            if !found_exact && !out.iter().any(|(n, _)| n == asked) {
                out.push((asked.clone(), None));
            }
        }
        write_metadata(&mut self.out, g.mailbox.as_ref(), self.utf8, &out);
        match longest {
            Some(n) => Done::code(
                Code::Metadata(format!("LONGENTRIES {n}")),
                "GETMETADATA completed",
            ),
            None => Done::ok("GETMETADATA completed"),
        }
    }

    pub(crate) fn setmetadata(&mut self, s: SetMetadata) -> Res {
        let me = self.account()?.id;
        let write_shared = s.entries.iter().any(|(n, _)| n.starts_with("/shared/"));
        if s.mailbox.is_none() && write_shared {
            return Err(no(Code::NoPerm, "shared server entries are read-only"));
        }
        let scope = self.metadata_scope(s.mailbox.as_ref(), write_shared)?;
        if let Some(big) = s
            .entries
            .iter()
            .filter_map(|(_, v)| v.as_ref())
            .find(|v| v.len() > MAX_VALUE)
        {
            return Err(no(
                Code::Metadata(format!("MAXSIZE {MAX_VALUE}")),
                format!("a value of {} bytes is larger than allowed", big.len()),
            ));
        }
        match self
            .shared
            .store
            .metadata_set(scope, me, &s.entries, MAX_ENTRIES)
        {
            Ok(()) => Done::ok("SETMETADATA completed"),
            Err(StoreError::Limit(_)) => Err(no(
                Code::Metadata("TOOMANY".into()),
                format!("at most {MAX_ENTRIES} entries"),
            )),
            Err(e) => Err(e.into()),
        }
    }
}
