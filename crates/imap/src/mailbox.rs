//! Mailbox management: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE (RFC 3501 §6.3.3–6.3.7,
//! CREATE-SPECIAL-USE RFC 6154 §3), and the MAILBOXID of a mailbox (RFC 8474 §4).
//!
//! Implementation notes:
//! - Names arrive as validated Unicode [`MailboxName`]s (decoded from modified UTF-7 by the
//!   parser) and leave in modified UTF-7; they never touch the filesystem.
//! - Creating needs the user's own namespace, or "k" on the nearest existing parent of
//!   another account's mailbox (RFC 4314 §4); a new mailbox inherits its parent's ACL.

use pochta_imap_proto::mailbox::{Create, Rename};
use pochta_imap_proto::response::Code;
use pochta_store::MailStore;
use pochta_types::{MailboxName, Right};

use crate::acl::PUBLIC;
use crate::session::{Done, Res, Session, State, bad, no};

impl<S: MailStore> Session<S> {
    pub(crate) fn create(&mut self, c: Create) -> Res {
        if c.mailbox.is_inbox() {
            return Err(no(Code::AlreadyExists, "INBOX always exists"));
        }
        if c.special_use.len() > 1 {
            return Err(no(
                Code::UseAttr,
                "only one special-use attribute per mailbox",
            ));
        }
        let place = self.creatable(&c.mailbox)?;
        if place.prefix.is_some() && !c.special_use.is_empty() {
            return Err(no(Code::Cannot, "special-use is for one's own mailboxes"));
        }
        let store = self.shared.store.clone();
        let mb = store.mailbox_create(place.owner, &place.inner, c.special_use.first().copied())?;
        // RFC 4314 §4: a new mailbox SHOULD inherit its parent's ACL.
        if let Some(parent) = place.inner.ancestors().last()
            && let Some(p) = store.mailbox(place.owner, parent)?
        {
            for (g, r) in store.acl(p.id)? {
                store.acl_set(mb.id, g, r)?;
            }
        }
        // RFC 8474 §4.1: the new mailbox's MAILBOXID in the tagged OK.
        Done::code(
            Code::MailboxId(mailbox_object_id(mb.id)),
            "CREATE completed",
        )
    }

    pub(crate) fn delete(&mut self, name: &MailboxName) -> Res {
        if name.is_inbox() {
            return Err(no(Code::Cannot, "INBOX cannot be deleted"));
        }
        // RFC 4314 §4: DELETE needs "x".
        let found = self.find_with(name, Right::DeleteMailbox)?;
        if let State::Selected(v) = &self.state
            && found.info.id == v.mailbox
        {
            // Deleting the selected mailbox: deselect first (what Dovecot does too).
            self.state = State::Authenticated;
            self.selected = None;
        }
        self.shared
            .store
            .mailbox_delete(found.info.account, &found.info.name)?;
        Done::ok("DELETE completed")
    }

    /// Where a new mailbox `name` would go, if the user may create it there: anywhere in
    /// their own namespace (but not under `Other Users`); in another account's only with
    /// "k" on the nearest existing parent (RFC 4314 §4).
    fn creatable(&self, name: &MailboxName) -> Res<crate::acl::Place> {
        let refuse = || {
            no(
                Code::Cannot,
                format!(
                    "{} holds other users' mailboxes and {PUBLIC} the public folders",
                    crate::acl::OTHER_USERS
                ),
            )
        };
        let Some(place) = self.place(name)? else {
            return Err(refuse());
        };
        if place.prefix.is_none() {
            return Ok(place);
        }
        let prefix = place.prefix.clone().unwrap_or_default();
        let mut nearest = None;
        for a in place.inner.ancestors().into_iter().rev() {
            let full = MailboxName::new(&format!("{prefix}{a}")).map_err(|e| bad(e.to_string()))?;
            if let Some(f) = self.find(&full)? {
                nearest = Some(f);
                break;
            }
        }
        match nearest {
            Some(f) => {
                crate::acl::need(&f, Right::CreateMailbox)?;
                Ok(place)
            }
            None => Err(no(
                Code::NoPerm,
                format!("you cannot create mailboxes there ({name})"),
            )),
        }
    }

    pub(crate) fn rename(&mut self, r: Rename) -> Res {
        if r.to.is_inbox() {
            return Err(no(Code::AlreadyExists, "INBOX always exists"));
        }
        if r.to.is_child_of(&r.from) {
            return Err(no(Code::Cannot, "a mailbox cannot be renamed into itself"));
        }
        // RFC 4314 §4: "x" on the mailbox, "k" on the new parent; within one account.
        let from = self.find_with(&r.from, Right::DeleteMailbox)?;
        let to = self.creatable(&r.to)?;
        if to.owner != from.info.account {
            return Err(no(
                Code::Cannot,
                "a mailbox cannot be renamed into another user's mailboxes",
            ));
        }
        self.shared
            .store
            .mailbox_rename(to.owner, &from.info.name, &to.inner)?;
        Done::ok("RENAME completed")
    }

    pub(crate) fn subscribe(&mut self, name: &MailboxName, on: bool) -> Res {
        let account = self.account()?.id;
        if on {
            // RFC 3501 §6.3.6 lets a server refuse names that do not exist; like Dovecot
            // we accept them only if the mailbox exists (and, RFC 4314 §4, is visible: "l"),
            // so clients see a clear error.
            if self.find(name)?.is_none() {
                return Err(no(
                    Code::NonExistent,
                    format!("mailbox {name} does not exist"),
                ));
            }
            self.shared.store.subscribe(account, name)?;
            Done::ok("SUBSCRIBE completed")
        } else {
            self.shared.store.unsubscribe(account, name)?;
            Done::ok("UNSUBSCRIBE completed")
        }
    }
}

/// The MAILBOXID of a mailbox (RFC 8474 §4): the store never reuses a mailbox id, and a
/// renamed mailbox keeps its id, as the RFC asks.
pub(crate) fn mailbox_object_id(id: pochta_types::MailboxId) -> String {
    format!("M{}", id.0)
}
