//! Mailbox commands: SELECT/EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST,
//! LSUB, STATUS, APPEND, CLOSE/UNSELECT, EXPUNGE.
//!
//! Implementation notes:
//! - Names arrive as validated Unicode [`MailboxName`]s (decoded from modified UTF-7 by the
//!   parser) and leave in modified UTF-7; they never touch the filesystem.
//! - LIST matching works on Unicode characters: `*` matches anything, `%` anything but the
//!   separator (RFC 3501 §6.3.8); `INBOX` matches case-insensitively.
//! - A failed SELECT leaves the session unselected (RFC 3501 §6.3.1).

use std::collections::BTreeMap;

use pochta_imap_proto::append::Append;
use pochta_imap_proto::list::{List, ListReturn, ListSelect, Lsub};
use pochta_imap_proto::mailbox::{Create, Rename};
use pochta_imap_proto::response::{
    self, Code, FetchWriter, Status as Cond, StatusValue, write_list, write_vanished,
};
use pochta_imap_proto::select_examine::{QResync, Select};
use pochta_imap_proto::sequence::SequenceSet;
use pochta_imap_proto::status::{Status, StatusItem};
use pochta_store::{MailDate, MailStore, MailboxInfo, NewMessage, StoreError};
use pochta_types::{Flag, Flags, MailboxName, ModSeq, SEPARATOR, Uid};

use pochta_types::Right;

use crate::acl::{PUBLIC, SeenView, allowed_flags, flag_allowed, in_foreign_namespace};
use crate::session::{Done, Next, Res, Session, State, bad, no};
use crate::view::View;

const SYSTEM_FLAGS: [Flag; 5] = [
    Flag::Answered,
    Flag::Flagged,
    Flag::Deleted,
    Flag::Seen,
    Flag::Draft,
];

impl<S: MailStore> Session<S> {
    pub(crate) fn select(&mut self, s: Select, read_only: bool) -> Res {
        // Whatever happens next, the old mailbox is no longer selected; say so
        // (RFC 7162 §3.2.11, RFC 9051 §7.1: the CLOSED response code).
        if matches!(self.state, State::Selected(_)) {
            self.state = State::Authenticated;
            self.selected = None;
            self.tagged(
                None,
                Cond::Ok,
                Some(&Code::Closed),
                "Previous mailbox closed",
            );
        }
        if s.qresync.is_some() && !self.qresync {
            // RFC 7162 §3.2.5: QRESYNC parameters need ENABLE QRESYNC first.
            return Err(bad("QRESYNC must be enabled first (ENABLE QRESYNC)"));
        }
        if s.condstore {
            self.condstore = true;
        }
        self.saved.clear();
        let store = self.shared.store.clone();
        // RFC 4314 §4: SELECT and EXAMINE need "r".
        let found = self.find_with(&s.mailbox, Right::Read)?;
        let rights = found.rights;
        let mb = found.info;
        let own = Some(mb.account) == self.me()?;
        let seen_view = self.seen_view(&mb)?;
        // RFC 4314 §5.2: read-only without "i", "e" and every flag right.
        let read_only = read_only
            || !(rights.contains(Right::Insert)
                || rights.contains(Right::Expunge)
                || rights.contains(Right::Seen)
                || rights.contains(Right::Write)
                || rights.contains(Right::DeleteMessages));
        if mb.noselect {
            return Err(no(
                Code::Cannot,
                format!("{} cannot be selected (\\Noselect)", s.mailbox),
            ));
        }
        // Status first: whatever changes between the two calls is then reported again by the
        // first sync rather than lost.
        let status = store.mailbox_status(mb.id)?;
        let mut summaries = store.summaries(mb.id)?;
        for m in &mut summaries {
            seen_view.apply(m.uid, &mut m.flags);
        }
        let recent = if read_only {
            Vec::new()
        } else {
            store.claim_recent(mb.id)?
        };
        let keywords = store.mailbox_keywords(mb.id)?;
        let first_unseen = summaries
            .iter()
            .position(|m| !m.flags.contains(&pochta_types::Flag::Seen))
            .map(|i| i + 1);
        let uids: Vec<Uid> = summaries.iter().map(|m| m.uid).collect();
        // A message that arrived between summaries() and claim_recent() is not in `uids`;
        // the next sync announces it (and it stays recent to us).
        let mut view = View::new(mb.id, read_only, uids, recent, status.highest_modseq);
        // \HasChildren counts only children the user can see (RFC 4314 §4: without "l" a
        // mailbox must not show, not even as a child).
        let children = if own {
            store
                .mailboxes(mb.account)?
                .iter()
                .any(|b| b.name.is_child_of(&mb.name))
        } else {
            self.foreign_mailboxes()?
                .iter()
                .any(|(b, _)| b.name.is_child_of(&found.display))
        };
        let keywords: Vec<Flag> = keywords
            .iter()
            .filter_map(|k| Flag::parse(k).ok())
            .collect();
        let flags: Vec<Flag> = SYSTEM_FLAGS.iter().chain(&keywords).cloned().collect();
        let o = &mut self.out;
        response::write_flags_response(o, &flags);
        if read_only {
            let perm = Code::PermanentFlags {
                flags: Vec::new(),
                allow_new: false,
            };
            response::write_status(o, None, Cond::Ok, Some(&perm), "Read-only mailbox");
        } else {
            // Only the flags the user may change (RFC 4314 §4).
            let write = rights.contains(Right::Write);
            let perm = Code::PermanentFlags {
                flags: flags
                    .into_iter()
                    .filter(|f| matches!(f, Flag::Keyword(_)) && write || flag_allowed(rights, f))
                    .collect(),
                allow_new: write,
            };
            response::write_status(o, None, Cond::Ok, Some(&perm), "Flags permitted");
        }
        response::write_exists(o, view.len());
        if self.rev2 {
            // RFC 9051 §6.3.2: a LIST response with the mailbox name and accurate
            // attributes; RECENT and UNSEEN are gone (Appendix E items 11, 12).
            let mut attrs = vec![if children {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            }];
            if let Some(su) = mb.special_use.filter(|_| own) {
                attrs.push(su.as_str());
            }
            write_list(o, false, &attrs, s.mailbox.as_str(), false, true);
        } else {
            response::write_recent(o, view.recent_count());
            if let Some(seq) = first_unseen {
                let code = Code::Unseen(seq as u32);
                response::write_status(o, None, Cond::Ok, Some(&code), "First unseen message");
            }
        }
        let oid = mailbox_object_id(mb.id);
        let untagged: [(Code, &str); 3] = [
            (Code::UidValidity(mb.uid_validity.get()), "UIDs valid"),
            (Code::UidNext(status.uid_next.get()), "Predicted next UID"),
            (Code::MailboxId(oid), "Ok"),
        ];
        for (code, text) in &untagged {
            response::write_status(o, None, Cond::Ok, Some(code), text);
        }
        if self.condstore {
            let code = Code::HighestModSeq(status.highest_modseq.get());
            response::write_status(o, None, Cond::Ok, Some(&code), "Highest");
        }
        // Changes after `status` are reported by the first sync.
        view.known_modseq = status.highest_modseq;
        if let Some(q) = &s.qresync
            && q.uid_validity.get() == mb.uid_validity.get()
        {
            self.qresync_catch_up(&view, q, &seen_view)?;
        }
        self.state = State::Selected(view);
        self.selected = Some(mb);
        if read_only {
            Done::code(Code::ReadOnly, "EXAMINE completed")
        } else {
            Done::code(Code::ReadWrite, "SELECT completed")
        }
    }

    /// SELECT (QRESYNC ...) (RFC 7162 §3.2.5.1): what was expunged and what changed since the
    /// client's MODSEQ, as VANISHED (EARLIER) and FETCH responses.
    fn qresync_catch_up(&mut self, view: &View, q: &QResync, seen: &SeenView) -> Res<()> {
        let since = ModSeq::new(q.modseq).unwrap_or(ModSeq::MIN);
        let changes = self.shared.store.changes_since(view.mailbox, since)?;
        let known = q.known_uids.as_ref().map(|k| k.resolve(u32::MAX));
        let mut gone: Vec<u32> = changes
            .expunged
            .iter()
            .map(|u| u.get())
            .filter(|u| known.as_ref().is_none_or(|k| k.contains(*u)))
            .collect();
        gone.sort_unstable();
        gone.dedup();
        if !gone.is_empty() {
            write_vanished(&mut self.out, true, &gone);
        }
        for mut m in changes.changed {
            let Some(seq) = view.seq(m.uid) else { continue };
            seen.apply(m.uid, &mut m.flags);
            let mut w = FetchWriter::begin(&mut self.out, seq);
            w.uid(m.uid.get())
                .flags(&m.flags, !self.rev2 && view.is_recent(m.uid))
                .modseq(m.modseq.get());
            w.finish();
        }
        Ok(())
    }

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

    pub(crate) fn list(&mut self, l: List) -> Res {
        let me = self.me()?;
        let utf8 = self.utf8;
        if !l.extended && l.patterns.len() == 1 && l.patterns[0].is_empty() {
            // RFC 3501 §6.3.8: the hierarchy delimiter and root name.
            write_list(&mut self.out, false, &["\\Noselect"], "", false, utf8);
            return Done::ok("LIST completed");
        }
        let store = self.shared.store.clone();
        let mut boxes = match me {
            Some(me) => store.mailboxes(me)?,
            None => Vec::new(),
        };
        // Other users' mailboxes shared with us and the public folders ("l"), under their
        // Other Users and Public names; the namespace levels (`Other Users`, `Other
        // Users/<owner>`, `Public`) are listed as \Noselect parents (RFC 2342 §5, RFC 4314
        // §4).
        let mut virtual_parents: BTreeMap<String, ()> = BTreeMap::new();
        for (mut info, _) in self.foreign_mailboxes()? {
            let levels = if info.name.as_str().starts_with(PUBLIC) {
                1
            } else {
                2
            };
            for anc in info.name.ancestors().into_iter().take(levels) {
                virtual_parents.insert(anc.to_string(), ());
            }
            info.special_use = None;
            boxes.push(info);
        }
        let subs = match me {
            Some(me) => store.subscriptions(me)?,
            None => Vec::new(),
        };
        let subscribed_only = l.selection.contains(&ListSelect::Subscribed);
        let special_only = l.selection.contains(&ListSelect::SpecialUse);
        let want_subscribed = subscribed_only
            || l.returns
                .iter()
                .any(|r| matches!(r, ListReturn::Subscribed));
        let status_items: Option<Vec<StatusItem>> = l.returns.iter().find_map(|r| match r {
            ListReturn::Status(items) => Some(items.clone()),
            _ => None,
        });
        let patterns: Vec<Vec<char>> = l
            .patterns
            .iter()
            .map(|p| canonical_pattern(&l.reference, p))
            .collect();
        let matches = |name: &str| patterns.iter().any(|p| wildcard_match(p, name));

        // Every name to consider, with whether it exists as a mailbox.
        let mut names: BTreeMap<String, Option<&MailboxInfo>> = BTreeMap::new();
        for mb in &boxes {
            names.insert(mb.name.to_string(), Some(mb));
        }
        for p in virtual_parents.keys() {
            if !subscribed_only {
                names.entry(p.clone()).or_insert(None);
            }
        }
        let recursive = l.selection.contains(&ListSelect::RecursiveMatch);
        if subscribed_only {
            for s in &subs {
                names.entry(s.to_string()).or_insert(None);
                if recursive {
                    // RFC 5258 §3.5: a parent of a subscribed name may be listed for its
                    // child's sake (with CHILDINFO), whether or not it exists.
                    for anc in s.ancestors() {
                        names.entry(anc.to_string()).or_insert(None);
                    }
                }
            }
        }
        let has_subscribed_child = |name: &str| {
            let prefix = format!("{name}{SEPARATOR}");
            subs.iter().any(|s| s.as_str().starts_with(&prefix))
        };
        let has_children = |name: &str| {
            let prefix = format!("{name}{SEPARATOR}");
            boxes.iter().any(|b| b.name.as_str().starts_with(&prefix))
        };
        let is_subscribed = |name: &str| subs.iter().any(|s| s.as_str() == name);
        let mut lines = Vec::new();
        for (name, mb) in &names {
            if !matches(name) {
                continue;
            }
            let sub = is_subscribed(name);
            let childinfo = recursive && has_subscribed_child(name);
            if subscribed_only && !sub && !childinfo {
                continue;
            }
            if special_only && mb.is_none_or(|m| m.special_use.is_none()) {
                continue;
            }
            let mut attrs: Vec<&str> = Vec::new();
            match mb {
                // A level of the Other Users namespace: a parent, never a mailbox.
                None if virtual_parents.contains_key(name) => attrs.push("\\Noselect"),
                // A subscribed name, or the parent of one (RECURSIVEMATCH), with no mailbox.
                None => attrs.push("\\NonExistent"),
                Some(m) if m.noselect => attrs.push("\\Noselect"),
                _ => {}
            }
            attrs.push(if has_children(name) {
                "\\HasChildren"
            } else {
                "\\HasNoChildren"
            });
            if want_subscribed && sub {
                attrs.push("\\Subscribed");
            }
            if let Some(su) = mb.and_then(|m| m.special_use) {
                attrs.push(su.as_str());
            }
            lines.push((name.clone(), attrs, mb.cloned(), childinfo));
        }
        for (name, attrs, mb, childinfo) in lines {
            let name = MailboxName::new(&name).map_err(|e| bad(e.to_string()))?;
            write_list(&mut self.out, false, &attrs, name.as_str(), childinfo, utf8);
            if let (Some(items), Some(mb)) = (&status_items, mb) {
                // RFC 4314 §4: STATUS needs "r"; LIST must still list the mailbox.
                if self
                    .find(&name)?
                    .is_some_and(|f| f.rights.contains(Right::Read))
                {
                    self.status_line(&name, &mb, items)?;
                }
            }
        }
        Done::ok("LIST completed")
    }

    pub(crate) fn lsub(&mut self, l: Lsub) -> Res {
        let Some(account) = self.me()? else {
            // Anonymous sessions subscribe to nothing.
            return Done::ok("LSUB completed");
        };
        let store = self.shared.store.clone();
        let subs = store.subscriptions(account)?;
        let boxes = store.mailboxes(account)?;
        let pattern = canonical_pattern(&l.reference, &l.pattern);
        let mut out_names: BTreeMap<String, bool> = BTreeMap::new();
        for s in &subs {
            let name = s.as_str();
            if wildcard_match(&pattern, name) {
                let selectable = if in_foreign_namespace(s.as_str()) {
                    self.find(s)?.is_some_and(|f| !f.info.noselect)
                } else {
                    boxes.iter().any(|b| b.name == *s && !b.noselect)
                };
                out_names.insert(name.to_string(), !selectable);
                continue;
            }
            // RFC 3501 §6.3.9: with `%`, a parent of a subscribed name that matches is
            // listed \Noselect when it is not subscribed itself.
            for anc in s.ancestors() {
                if wildcard_match(&pattern, anc.as_str()) {
                    out_names.entry(anc.to_string()).or_insert(true);
                }
            }
        }
        for (name, noselect) in out_names {
            let name = MailboxName::new(&name).map_err(|e| bad(e.to_string()))?;
            let attrs: &[&str] = if noselect { &["\\Noselect"] } else { &[] };
            write_list(&mut self.out, true, attrs, name.as_str(), false, self.utf8);
        }
        Done::ok("LSUB completed")
    }

    pub(crate) fn status(&mut self, s: Status) -> Res {
        if s.items.contains(&StatusItem::HighestModSeq) {
            // A CONDSTORE-enabling command (RFC 7162 §3.1).
            self.condstore = true;
        }
        // RFC 4314 §4: STATUS needs "r".
        let mb = self.find_with(&s.mailbox, Right::Read)?.info;
        if mb.noselect {
            return Err(no(
                Code::NonExistent,
                format!("mailbox {} does not exist", s.mailbox),
            ));
        }
        self.status_line(&s.mailbox, &mb, &s.items)?;
        Done::ok("STATUS completed")
    }

    fn status_line(
        &mut self,
        name: &MailboxName,
        mb: &MailboxInfo,
        items: &[StatusItem],
    ) -> Res<()> {
        let id = mb.id;
        let mut st = self.shared.store.mailbox_status(id)?;
        if let SeenView::Private(seen) = self.seen_view(mb)? {
            // Private rows exist only for messages still there (they go with their row).
            st.unseen = st.messages.saturating_sub(seen.len() as u32);
        }
        let oid = mailbox_object_id(id);
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            let v: u64 = match item {
                StatusItem::Messages => st.messages.into(),
                StatusItem::Recent => st.recent.into(),
                StatusItem::UidNext => st.uid_next.get().into(),
                StatusItem::UidValidity => st.uid_validity.get().into(),
                StatusItem::Unseen => st.unseen.into(),
                StatusItem::Deleted => st.deleted.into(),
                // RFC 9208 §4.1.4 allows the sum of RFC822.SIZE, which is also exact here.
                StatusItem::DeletedStorage => st.deleted_size,
                StatusItem::Size => st.size,
                StatusItem::HighestModSeq => st.highest_modseq.get(),
                StatusItem::AppendLimit => self.shared.config.max_message,
                // RFC 8474 §4.2: MAILBOXID (objectid).
                StatusItem::MailboxId => {
                    values.push((*item, StatusValue::ObjectId(&oid)));
                    continue;
                }
            };
            values.push((*item, StatusValue::Number(v)));
        }
        response::write_status_data(&mut self.out, name, &values, self.utf8);
        Ok(())
    }

    pub(crate) fn append(&mut self, a: Append) -> Res {
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
        let mut msgs = Vec::with_capacity(a.messages.len());
        for m in &a.messages {
            if m.data.is_empty() {
                return Err(no(Code::Cannot, "an empty message cannot be appended"));
            }
            if m.data.len() as u64 > self.shared.config.max_message {
                return Err(no(Code::TooBig, "message is larger than APPENDLIMIT"));
            }
            let mut flags = allowed_flags(rights, &Flags::from_flags(&m.flags));
            if private.is_some() {
                flags.remove(&pochta_types::Flag::Seen);
            }
            msgs.push(NewMessage {
                bytes: &m.data,
                flags,
                internal_date: m.date.map(|d| MailDate {
                    unix: d.unix_timestamp(),
                    offset_minutes: d.zone_minutes(),
                }),
            });
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

    pub(crate) fn close(&mut self, expunge: bool) -> Res {
        let view = self.view()?;
        let (mailbox, read_only) = (view.mailbox, view.read_only);
        // RFC 3501 §6.4.2: CLOSE expunges silently; RFC 4314 §4: only with "e", and
        // without it the mailbox is closed all the same.
        if expunge && !read_only && self.selected_rights()?.contains(Right::Expunge) {
            self.shared.store.expunge(mailbox, None)?;
        }
        self.state = State::Authenticated;
        self.selected = None;
        self.saved.clear();
        Ok(Done {
            code: None,
            text: if expunge {
                "CLOSE completed"
            } else {
                "UNSELECT completed"
            }
            .into(),
            next: Next::Continue,
        })
    }

    pub(crate) fn expunge(&mut self, set: Option<SequenceSet>) -> Res {
        let view = self.view()?;
        if view.read_only {
            return Err(no(Code::ReadOnly, "mailbox is read-only"));
        }
        let mailbox = view.mailbox;
        // RFC 4314 §4: EXPUNGE needs "e".
        if !self.selected_rights()?.contains(Right::Expunge) {
            return Err(no(Code::NoPerm, "you lack the \"e\" right on this mailbox"));
        }
        let uids: Option<Vec<Uid>> = match &set {
            Some(set) => Some(
                self.resolve(set, true)?
                    .into_iter()
                    .map(|(_, u)| u)
                    .collect(),
            ),
            None => None,
        };
        self.shared.store.expunge(mailbox, uids.as_deref())?;
        // The untagged EXPUNGEs are written by the sync in `finish`.
        Done::ok("EXPUNGE completed")
    }

    /// Resolve a sequence set (`uid`: a UID set) against the view into (seq, uid) pairs,
    /// ascending. `$` is the saved search result (RFC 5182).
    pub(crate) fn resolve(&self, set: &SequenceSet, uid: bool) -> Res<Vec<(u32, Uid)>> {
        let view = self.view()?;
        if set.is_saved() {
            return Ok(self
                .saved
                .iter()
                .filter_map(|&u| view.seq(u).map(|s| (s, u)))
                .collect());
        }
        let mut outv = Vec::new();
        if uid {
            let largest = view.last_uid().map(|u| u.get()).unwrap_or(0);
            for (lo, hi) in set.resolve(largest) {
                let uids = view.uids();
                let start = uids.partition_point(|u| u.get() < lo);
                for (i, u) in uids[start..].iter().enumerate() {
                    if u.get() > hi {
                        break;
                    }
                    outv.push((start as u32 + i as u32 + 1, *u));
                }
            }
        } else {
            if set.exceeds(view.len()) {
                return Err(bad("message sequence number out of range"));
            }
            for (lo, hi) in set.resolve(view.len()) {
                for seq in lo..=hi {
                    if let Some(u) = view.uid(seq) {
                        outv.push((seq, u));
                    }
                }
            }
        }
        Ok(outv)
    }
}

/// The MAILBOXID of a mailbox (RFC 8474 §4): the store never reuses a mailbox id, and a
/// renamed mailbox keeps its id, as the RFC asks.
pub(crate) fn mailbox_object_id(id: pochta_types::MailboxId) -> String {
    format!("M{}", id.0)
}

/// Reference and pattern joined (RFC 3501 §6.3.8 leaves the rule to the server; we
/// concatenate, inserting the separator only when neither side has it).
fn canonical_pattern(reference: &str, pattern: &str) -> Vec<char> {
    let joined = if reference.is_empty() {
        pattern.to_string()
    } else if reference.ends_with(SEPARATOR) || pattern.starts_with(SEPARATOR) {
        format!("{reference}{pattern}")
    } else {
        format!("{reference}{SEPARATOR}{pattern}")
    };
    // INBOX is case-insensitive: normalise a leading "inbox" of the pattern.
    let mut chars: Vec<char> = joined.chars().collect();
    if chars.len() >= 5 {
        let head: String = chars[..5].iter().collect();
        if head.eq_ignore_ascii_case("INBOX") && (chars.len() == 5 || chars[5] == SEPARATOR) {
            for (i, c) in "INBOX".chars().enumerate() {
                chars[i] = c;
            }
        }
    }
    chars
}

/// `*` matches any run, `%` any run without the separator.
fn wildcard_match(pattern: &[char], name: &str) -> bool {
    let name: Vec<char> = name.chars().collect();
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('%') => {
                let mut i = 0;
                loop {
                    if go(&p[1..], &n[i..]) {
                        return true;
                    }
                    if i == n.len() || n[i] == SEPARATOR {
                        return false;
                    }
                    i += 1;
                }
            }
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    // Collapse runs of wildcards to keep the backtracking bounded.
    let mut p: Vec<char> = Vec::with_capacity(pattern.len());
    for &c in pattern {
        if c == '*' && p.last() == Some(&'*') {
            continue;
        }
        p.push(c);
    }
    go(&p, &name)
}

#[allow(dead_code)]
fn is_missing(e: &StoreError) -> bool {
    matches!(e, StoreError::NotFound(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        wildcard_match(&canonical_pattern("", p), n)
    }

    #[test]
    fn wildcards() {
        assert!(m("*", "a/b/c"));
        assert!(m("%", "a"));
        assert!(!m("%", "a/b"));
        assert!(m("a/%", "a/b"));
        assert!(!m("a/%", "a/b/c"));
        assert!(m("inbox", "INBOX"));
        assert!(m("Inbox/%", "INBOX/x"));
        assert!(!m("inboxes", "INBOX"));
        assert!(m("Вход*", "Входящие/Работа"));
        assert!(m("*/Работа", "Входящие/Работа"));
        assert!(wildcard_match(&canonical_pattern("a", "%"), "a/b"));
    }
}
