//! QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT, SETQUOTA.
//!
//! Implementation notes:
//! - One quota root per account, named `""` (the RFC 9208 §4.2.2 example): every mailbox of
//!   the account, existing or not, is under it, so GETQUOTAROOT answers for any name
//!   (§4.1.2: the mailbox need not exist).
//! - Resources: STORAGE (the sum of RFC822.SIZE, reported in units of 1024 octets, §5.1) and
//!   MESSAGE (§5.2). Usage is rounded up and the limit down, so a client is never shown room
//!   that is not there; the store enforces in bytes.
//! - Only limited resources are listed; an empty list means no limits (§4.2.1).
//! - SETQUOTA is refused with `NO [NOPERM]`: limits are the administrator's
//!   (`pochta user quota`), and QUOTASET is not advertised (§4.1.3).
//! - Another user's (shared, RFC 4314) mailbox is under the owner's root, named after the
//!   namespace it is seen in: `Other Users/<owner>`, or `Public` for the public folders. A
//!   grantee sees it (GETQUOTAROOT, GETQUOTA) only with "r" on the mailbox asked about, or on
//!   some mailbox of that owner (§6 leaves the rights to the server; a grantee who may
//!   append needs to know whether it will fit, and "r" shows the sizes anyway). APPEND and
//!   COPY into it count against the owner's quota.
//! - Enforcement is the store's, inside the write transaction of APPEND, COPY and delivery;
//!   its refusal becomes `NO [OVERQUOTA]` (§4.3.1) in the one error mapping of `session`.

use pochta_imap_proto::response::{write_quota, write_quotaroot};
use pochta_store::{MailStore, Quota};
use pochta_types::{MailboxName, Right};

use crate::acl::{OTHER_USERS, PUBLIC};
use pochta_imap_proto::response::Code;

use crate::session::{Done, Res, Session, no};

/// The name of an account's only quota root.
const ROOT: &[u8] = b"";

impl<S: MailStore> Session<S> {
    pub(crate) fn getquota(&mut self, root: &[u8]) -> Res {
        let account = self.account()?.id;
        let owner = if root == ROOT {
            Some(account)
        } else {
            // Another owner's root, if the user may read one of its mailboxes.
            let mut found = None;
            for (info, rights) in self.foreign_mailboxes()? {
                if rights.contains(Right::Read)
                    && foreign_root(&info.name).is_some_and(|r| r.as_bytes() == root)
                {
                    found = Some(info.account);
                    break;
                }
            }
            found
        };
        let Some(owner) = owner else {
            return Err(no(Code::NonExistent, "no such quota root"));
        };
        let q = self.shared.store.quota(owner)?;
        quota_response(&mut self.out, root, &q);
        Done::ok("GETQUOTA completed")
    }

    pub(crate) fn getquotaroot(&mut self, mailbox: &MailboxName) -> Res {
        let account = self.account()?.id;
        let Some(place) = self.place(mailbox)? else {
            write_quotaroot(&mut self.out, mailbox, &[], self.utf8);
            return Done::ok("GETQUOTAROOT completed");
        };
        if place.owner == account {
            let q = self.shared.store.quota(account)?;
            write_quotaroot(&mut self.out, mailbox, &[ROOT], self.utf8);
            quota_response(&mut self.out, ROOT, &q);
            return Done::ok("GETQUOTAROOT completed");
        }
        // Another owner's mailbox: its root only with "r" on it (a mailbox the user cannot
        // see is answered like any name with no root, so nothing leaks).
        let readable = self
            .find(mailbox)?
            .is_some_and(|f| f.rights.contains(Right::Read));
        let root = foreign_root(mailbox).filter(|_| readable);
        match root {
            Some(root) => {
                let q = self.shared.store.quota(place.owner)?;
                write_quotaroot(&mut self.out, mailbox, &[root.as_bytes()], self.utf8);
                quota_response(&mut self.out, root.as_bytes(), &q);
            }
            None => write_quotaroot(&mut self.out, mailbox, &[], self.utf8),
        }
        Done::ok("GETQUOTAROOT completed")
    }

    pub(crate) fn setquota(&mut self) -> Res {
        Err(no(
            Code::NoPerm,
            "quota limits are set by the administrator (pochta user quota)",
        ))
    }
}

/// The quota root of a mailbox seen under `Other Users/<owner>/…` or `Public/…`.
fn foreign_root(name: &MailboxName) -> Option<String> {
    let s = name.as_str();
    if s.starts_with(&format!("{PUBLIC}/")) {
        return Some(PUBLIC.to_string());
    }
    let ancestors = name.ancestors();
    (s.starts_with(OTHER_USERS) && ancestors.len() >= 2).then(|| ancestors[1].to_string())
}

/// `* QUOTA root (...)` with each limited resource.
fn quota_response(out: &mut Vec<u8>, root: &[u8], q: &Quota) {
    let mut resources = Vec::with_capacity(2);
    if let Some(limit) = q.limits.storage {
        resources.push(("STORAGE", q.storage.div_ceil(1024), limit / 1024));
    }
    if let Some(limit) = q.limits.messages {
        resources.push(("MESSAGE", q.messages, limit));
    }
    write_quota(out, root, &resources);
}
