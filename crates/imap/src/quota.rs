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
//! - Another user's (shared, RFC 4314) mailbox has no quota root for us: the owner's usage is
//!   not shown to a grantee; APPEND and COPY into it count against the owner's quota.
//! - Enforcement is the store's, inside the write transaction of APPEND, COPY and delivery;
//!   its refusal becomes `NO [OVERQUOTA]` (§4.3.1) in the one error mapping of `session`.

use pochta_imap_proto::response::{write_quota, write_quotaroot};
use pochta_store::{MailStore, Quota};
use pochta_types::MailboxName;

use crate::session::{Done, Res, Session, no};

/// The name of an account's only quota root.
const ROOT: &[u8] = b"";

impl<S: MailStore> Session<S> {
    pub(crate) fn getquota(&mut self, root: &[u8]) -> Res {
        let account = self.account()?.id;
        if root != ROOT {
            return Err(no("NONEXISTENT", "no such quota root"));
        }
        let q = self.shared.store.quota(account)?;
        quota_response(&mut self.out, &q);
        Done::ok("GETQUOTA completed")
    }

    pub(crate) fn getquotaroot(&mut self, mailbox: &MailboxName) -> Res {
        let account = self.account()?.id;
        if self.place(mailbox)?.is_none_or(|p| p.owner != account) {
            // Another user's mailbox: their quota is not ours to show (RFC 9208 §4.2.2
            // allows no root; §6 would want "r" for usage figures anyway).
            write_quotaroot(&mut self.out, mailbox, &[], self.utf8);
            return Done::ok("GETQUOTAROOT completed");
        }
        let q = self.shared.store.quota(account)?;
        write_quotaroot(&mut self.out, mailbox, &[ROOT], self.utf8);
        quota_response(&mut self.out, &q);
        Done::ok("GETQUOTAROOT completed")
    }

    pub(crate) fn setquota(&mut self) -> Res {
        Err(no(
            "NOPERM",
            "quota limits are set by the administrator (pochta user quota)",
        ))
    }
}

/// `* QUOTA "" (...)` with each limited resource.
fn quota_response(out: &mut Vec<u8>, q: &Quota) {
    let mut resources = Vec::with_capacity(2);
    if let Some(limit) = q.limits.storage {
        resources.push(("STORAGE", q.storage.div_ceil(1024), limit / 1024));
    }
    if let Some(limit) = q.limits.messages {
        resources.push(("MESSAGE", q.messages, limit));
    }
    write_quota(out, ROOT, &resources);
}
