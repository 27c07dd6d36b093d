//! Access control (RFC 4314) and the shared-mailbox namespace (RFC 2342): SETACL, DELETEACL,
//! GETACL, LISTRIGHTS, MYRIGHTS, and the one place that turns a mailbox name into a mailbox
//! plus what the session's user may do in it.
//!
//! Implementation notes:
//! - Names: the user's own mailboxes are in the personal namespace `""`; a mailbox of
//!   another account that has an ACL entry for the user (or `anyone`) is
//!   `Other Users/<owner address>/<name>` (the "Other Users" namespace, RFC 2342 §5). Own
//!   mailboxes under `Other Users` cannot be created, so the two never collide.
//! - [`Session::find`] is the only lookup: the owner has every right; anyone else has the
//!   union of their entry and `anyone`'s, re-read on every command so a revoked right takes
//!   effect at once. Without `l` a mailbox is reported exactly like a missing one
//!   (`NO [NONEXISTENT]`), so its existence does not leak; with `l` but without the right a
//!   command needs, the answer is `NO [NOPERM]` (RFC 4314 §4, RFC 5530).
//! - Flags in APPEND, COPY and STORE are kept only where the user has the right for them:
//!   `s` for `\Seen`, `t` for `\Deleted`, `w` for the rest (RFC 4314 §4); a FETCH that would
//!   set `\Seen` does not without `s`.
//! - Identifiers: an account's address, `anyone`, `anonymous` (§2). The owner's implicit
//!   rights cannot be changed (SETACL on the owner is `NO [CANNOT]`).
//! - Public folders are `Public/<name>` (RFC 2342 §5's shared namespace): mailboxes of the
//!   store's reserved public owner, whom no one is; everyone, the administrator included,
//!   reaches them through their ACL. Own mailboxes under `Public` cannot be created either.
//! - Per-user `\Seen` (RFC 4314 §4 lets "s" be per user): in a mailbox switched to it,
//!   every user but the owner sees and sets their own `\Seen` ([`Session::seen_view`]);
//!   the owner keeps the mailbox's flags, so POP3 and the owner's clients are unaffected.

use pochta_imap_proto::acl::{
    AclEntry, RightsMode, SetAcl, write_acl, write_listrights, write_myrights,
};
use pochta_store::{Grantee, MailStore, MailboxInfo};
use pochta_types::{Address, Flag, Flags, MailboxName, Right, Rights, SEPARATOR};

use pochta_imap_proto::response::Code;

use crate::session::{Done, Res, Session, no};

/// The root of the shared-mailbox namespace.
pub(crate) const OTHER_USERS: &str = "Other Users";
/// The root of the public folders.
pub(crate) const PUBLIC: &str = "Public";

/// Whether `name` is, or is inside, one of the two namespaces no one can own names in.
pub(crate) fn in_foreign_namespace(name: &str) -> bool {
    [OTHER_USERS, PUBLIC].iter().any(|root| {
        name.strip_prefix(root)
            .is_some_and(|r| r.is_empty() || r.starts_with(SEPARATOR))
    })
}

/// How `\Seen` reads for this session in one mailbox.
#[derive(Debug, Clone)]
pub(crate) enum SeenView {
    /// The mailbox's own flags.
    Shared,
    /// The user's own: these UIDs (ascending) are seen, whatever the mailbox's flags say.
    Private(Vec<pochta_types::Uid>),
}

impl SeenView {
    /// Put the user's `\Seen` into a message's flags.
    pub(crate) fn apply(&self, uid: pochta_types::Uid, flags: &mut Flags) {
        if let SeenView::Private(seen) = self {
            if seen.binary_search(&uid).is_ok() {
                flags.insert(&Flag::Seen);
            } else {
                flags.remove(&Flag::Seen);
            }
        }
    }
}

/// A mailbox as the session sees it.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub info: MailboxInfo,
    pub rights: Rights,
    /// The name the client uses for it (own name, or `Other Users/<owner>/<name>`).
    pub display: MailboxName,
}

/// Where a name points: an account and a name within it.
pub(crate) struct Place {
    pub owner: pochta_types::AccountId,
    pub inner: MailboxName,
    /// `Other Users/<owner>/` for another account's mailbox.
    pub prefix: Option<String>,
}

/// `\Seen` needs `s`, `\Deleted` needs `t`, every other flag `w` (RFC 4314 §4).
pub(crate) fn flag_allowed(rights: Rights, f: &Flag) -> bool {
    match f {
        Flag::Seen => rights.contains(Right::Seen),
        Flag::Deleted => rights.contains(Right::DeleteMessages),
        _ => rights.contains(Right::Write),
    }
}

/// The flags of `flags` the user may set.
pub(crate) fn allowed_flags(rights: Rights, flags: &Flags) -> Flags {
    let kept: Vec<Flag> = flags.iter().filter(|f| flag_allowed(rights, f)).collect();
    Flags::from_flags(&kept)
}

impl<S: MailStore> Session<S> {
    /// Which account and name `name` points at; `None` for a name in `Other Users` that
    /// names no account (or only the namespace levels).
    pub(crate) fn place(&self, name: &MailboxName) -> Res<Option<Place>> {
        let me = self.me()?;
        let s = name.as_str();
        if let Some(inner) = s
            .strip_prefix(PUBLIC)
            .and_then(|r| r.strip_prefix(SEPARATOR))
        {
            let (Some(owner), Ok(inner)) =
                (self.shared.store.public_owner()?, MailboxName::new(inner))
            else {
                return Ok(None);
            };
            return Ok(Some(Place {
                owner,
                inner,
                prefix: Some(format!("{PUBLIC}{SEPARATOR}")),
            }));
        }
        let Some(rest) = s
            .strip_prefix(OTHER_USERS)
            .and_then(|r| r.strip_prefix(SEPARATOR))
        else {
            if s == OTHER_USERS || s == PUBLIC {
                return Ok(None);
            }
            // Anonymous sessions have no mailboxes of their own.
            return Ok(me.map(|me| Place {
                owner: me,
                inner: name.clone(),
                prefix: None,
            }));
        };
        let Some((owner, inner)) = rest.split_once(SEPARATOR) else {
            return Ok(None);
        };
        let Ok(addr) = Address::new(owner) else {
            return Ok(None);
        };
        let Some(acc) = self.shared.store.account_by_address(&addr)? else {
            return Ok(None);
        };
        let Ok(inner) = MailboxName::new(inner) else {
            return Ok(None);
        };
        if Some(acc.id) == me {
            // One's own mailboxes are not shared with oneself.
            return Ok(None);
        }
        Ok(Some(Place {
            owner: acc.id,
            inner,
            prefix: Some(format!(
                "{OTHER_USERS}{SEPARATOR}{}{SEPARATOR}",
                acc.address
            )),
        }))
    }

    /// The mailbox `name` names and the user's rights in it; `None` if it does not exist
    /// or the user may not know it does (no `l`).
    pub(crate) fn find(&self, name: &MailboxName) -> Res<Option<Found>> {
        let Some(place) = self.place(name)? else {
            return Ok(None);
        };
        let store = &self.shared.store;
        let Some(info) = store.mailbox(place.owner, &place.inner)? else {
            return Ok(None);
        };
        let rights = self.rights_in(&info)?;
        if !rights.contains(Right::Lookup) {
            return Ok(None);
        }
        Ok(Some(Found {
            info,
            rights,
            display: name.clone(),
        }))
    }

    /// Like [`Self::find`], answering `NO [NONEXISTENT]` for a missing mailbox and
    /// `NO [NOPERM]` when the user lacks `right`.
    pub(crate) fn find_with(&self, name: &MailboxName, right: Right) -> Res<Found> {
        let found = self
            .find(name)?
            .ok_or_else(|| no(Code::NonExistent, format!("mailbox {name} does not exist")))?;
        need(&found, right)?;
        Ok(found)
    }

    /// The user's current rights in the selected mailbox (re-read: revocations apply at once).
    pub(crate) fn selected_rights(&self) -> Res<Rights> {
        match &self.selected {
            Some(info) => self.rights_in(info),
            None => Ok(Rights::NONE),
        }
    }

    /// What the session's user may do in `info`: the owner everything, another account its
    /// ACL entries and `anyone`'s, an anonymous session the `anonymous` entry's reading
    /// rights only (see [`crate::anonymous`]).
    pub(crate) fn rights_in(&self, info: &MailboxInfo) -> Res<Rights> {
        let store = &self.shared.store;
        Ok(match self.me()? {
            Some(me) => store.rights(me, info)?,
            None => crate::anonymous::cap(store.anonymous_rights(info)?),
        })
    }

    /// How `\Seen` reads for this session in `info` (see the notes on top). Anonymous
    /// sessions have no state of their own: nothing is seen.
    pub(crate) fn seen_view(&self, info: &MailboxInfo) -> Res<SeenView> {
        if !info.seen_per_user {
            return Ok(SeenView::Shared);
        }
        Ok(match self.me()? {
            Some(me) if me == info.account => SeenView::Shared,
            Some(me) => SeenView::Private(self.shared.store.private_seen(info.id, me)?),
            None => SeenView::Private(Vec::new()),
        })
    }

    /// [`Self::seen_view`] of the selected mailbox.
    pub(crate) fn selected_seen_view(&self) -> Res<SeenView> {
        match &self.selected {
            Some(info) => self.seen_view(info),
            None => Ok(SeenView::Shared),
        }
    }

    /// Every mailbox that is not the user's own and that they may see ("l"), under the names
    /// they see them by, with their rights: other accounts' shared with them (or, for an
    /// anonymous session, with `anonymous`) and the public folders.
    pub(crate) fn foreign_mailboxes(&self) -> Res<Vec<(MailboxInfo, Rights)>> {
        let store = &self.shared.store;
        let public = store.public_owner()?;
        let mut out = Vec::new();
        let shared = match self.me()? {
            Some(me) => store.shared_with(me)?,
            None => store.shared_with_anonymous()?,
        };
        for (info, _) in shared {
            if Some(info.account) == public {
                continue;
            }
            let rights = self.rights_in(&info)?;
            if !rights.contains(Right::Lookup) {
                continue;
            }
            if let Some(name) = self.shared_name(&info)? {
                out.push((MailboxInfo { name, ..info }, rights));
            }
        }
        if let Some(public) = public {
            for info in store.mailboxes(public)? {
                let rights = self.rights_in(&info)?;
                if !rights.contains(Right::Lookup) {
                    continue;
                }
                if let Ok(name) = MailboxName::new(&format!("{PUBLIC}{SEPARATOR}{}", info.name)) {
                    out.push((MailboxInfo { name, ..info }, rights));
                }
            }
        }
        Ok(out)
    }

    /// The name under which the user sees another account's mailbox.
    pub(crate) fn shared_name(&self, info: &MailboxInfo) -> Res<Option<MailboxName>> {
        let Some(owner) = self.shared.store.account_by_id(info.account)? else {
            return Ok(None);
        };
        Ok(MailboxName::new(&format!(
            "{OTHER_USERS}{SEPARATOR}{}{SEPARATOR}{}",
            owner.address, info.name
        ))
        .ok())
    }

    fn grantee(&self, identifier: &str) -> Res<Grantee> {
        match identifier.to_ascii_lowercase().as_str() {
            "anyone" => return Ok(Grantee::Anyone),
            "anonymous" => return Ok(Grantee::Anonymous),
            _ => {}
        }
        let acc = Address::new(identifier)
            .ok()
            .map(|a| self.shared.store.account_by_address(&a))
            .transpose()?
            .flatten()
            .ok_or_else(|| {
                no(
                    Code::NonExistent,
                    format!("no such identifier {identifier}"),
                )
            })?;
        Ok(Grantee::Account(acc.id))
    }

    fn identifier(&self, g: Grantee) -> Res<Option<String>> {
        Ok(match g {
            Grantee::Anyone => Some("anyone".into()),
            Grantee::Anonymous => Some("anonymous".into()),
            Grantee::Account(a) => self
                .shared
                .store
                .account_by_id(a)?
                .map(|acc| acc.address.to_string()),
        })
    }

    /// SETACL and DELETEACL (RFC 4314 §3.1, §3.2): need `a`.
    pub(crate) fn setacl(&mut self, s: SetAcl) -> Res {
        let found = self.find_with(&s.mailbox, Right::Admin)?;
        let grantee = self.grantee(&s.identifier)?;
        if grantee == Grantee::Account(found.info.account) {
            return Err(no(Code::Cannot, "the owner always has every right"));
        }
        let current = self
            .shared
            .store
            .acl(found.info.id)?
            .into_iter()
            .find(|(g, _)| *g == grantee)
            .map_or(Rights::NONE, |(_, r)| r);
        let new = match s.mode {
            RightsMode::Replace => s.rights,
            RightsMode::Add => current.union(s.rights),
            RightsMode::Remove => current.minus(s.rights),
        };
        self.shared.store.acl_set(found.info.id, grantee, new)?;
        Done::ok("SETACL completed")
    }

    pub(crate) fn deleteacl(&mut self, e: AclEntry) -> Res {
        let found = self.find_with(&e.mailbox, Right::Admin)?;
        let grantee = self.grantee(&e.identifier)?;
        if grantee == Grantee::Account(found.info.account) {
            return Err(no(Code::Cannot, "the owner always has every right"));
        }
        self.shared
            .store
            .acl_set(found.info.id, grantee, Rights::NONE)?;
        Done::ok("DELETEACL completed")
    }

    /// GETACL (RFC 4314 §3.3): the owner first, with every right.
    pub(crate) fn getacl(&mut self, name: &MailboxName) -> Res {
        let found = self.find_with(name, Right::Admin)?;
        let mut entries: Vec<(String, Rights)> = Vec::new();
        if let Some(owner) = self.identifier(Grantee::Account(found.info.account))? {
            entries.push((owner, Rights::ALL));
        }
        for (g, r) in self.shared.store.acl(found.info.id)? {
            if let Some(id) = self.identifier(g)? {
                entries.push((id, r));
            }
        }
        let refs: Vec<(&str, Rights)> = entries.iter().map(|(i, r)| (i.as_str(), *r)).collect();
        write_acl(&mut self.out, name, &refs, self.utf8);
        Done::ok("GETACL completed")
    }

    /// LISTRIGHTS (RFC 4314 §3.4): the owner has everything, fixed; anyone else can be
    /// granted each right on its own.
    pub(crate) fn listrights(&mut self, e: AclEntry) -> Res {
        let found = self.find_with(&e.mailbox, Right::Admin)?;
        let grantee = self.grantee(&e.identifier)?;
        let (required, optional): (Rights, Vec<&str>) =
            if grantee == Grantee::Account(found.info.account) {
                (Rights::ALL, Vec::new())
            } else {
                (
                    Rights::NONE,
                    vec![
                        "l", "r", "s", "w", "i", "p", "k", "x", "t", "e", "a", "c", "d",
                    ],
                )
            };
        write_listrights(
            &mut self.out,
            &e.mailbox,
            &e.identifier,
            required,
            &optional,
            self.utf8,
        );
        Done::ok("LISTRIGHTS completed")
    }

    /// MYRIGHTS (RFC 4314 §3.5): any right at all is enough to ask.
    pub(crate) fn myrights(&mut self, name: &MailboxName) -> Res {
        let found = self
            .find(name)?
            .ok_or_else(|| no(Code::NonExistent, format!("mailbox {name} does not exist")))?;
        write_myrights(&mut self.out, name, found.rights, self.utf8);
        Done::ok("MYRIGHTS completed")
    }
}

/// `NO [NOPERM]` unless the user has `right` (they have `l`, or `found` would not exist).
pub(crate) fn need(found: &Found, right: Right) -> Res<()> {
    if found.rights.contains(right) {
        Ok(())
    } else {
        Err(no(
            Code::NoPerm,
            format!(
                "you lack the \"{}\" right on {}",
                right.letter(),
                found.display
            ),
        ))
    }
}
