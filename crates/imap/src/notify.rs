//! NOTIFY (RFC 5465): what a session is told about, unasked, while the client waits.
//!
//! Implementation notes (what always holds):
//! - **Wake-up, then ask the store.** The driver listens on the change bus while NOTIFY is
//!   active — between commands as well as in IDLE (§3.1, §4) — and hands each event to
//!   [`Session::notify_event`]; what is reported is read from the store and compared with the
//!   session's own snapshot (STATUS counts per watched mailbox, the mailbox list with
//!   subscriptions), so a lost or coalesced wake-up loses nothing: a lagging receiver gets a
//!   full re-check. Metadata events carry the entry names (the store cannot be diffed for
//!   them cheaply); a metadata event lost to lag is not reported.
//! - **The selected mailbox** gets only what SELECTED / SELECTED-DELAYED asks for (§6.1), at
//!   the moment it happens through the same [`Session::sync`] that reports at the end of a
//!   command: SELECTED reports expunges at once (the client gave up sequence numbers, §5.3),
//!   SELECTED-DELAYED never reports EXPUNGE between commands (only at the end of a command
//!   that allows it and in IDLE: RFC 3501 §7.4.1), reporting EXISTS and flags at once
//!   (§6.1.2 allows either). The view's updates are never split: a flag change travels with
//!   the MessageNew/MessageExpunge reports even when FlagChange was not asked. Without a
//!   selected filter nothing about the selected mailbox is sent between commands (it still
//!   is at the end of every command, as in RFC 3501, and after IDLE's DONE). MessageNew's
//!   fetch attributes are answered right after the EXISTS, as a UID FETCH would (§5.2).
//! - **Unsolicited output only between commands:** the driver delivers events only when no
//!   command is being received or executed (nothing partial in the framer, no group
//!   running), so no untagged response interleaves with a command's responses.
//! - **Other mailboxes** (§6.2–6.6): INBOXES is PERSONAL (§6.3 permits it: Sieve may deliver
//!   anywhere); PERSONAL is every selectable mailbox of the user's own; SUBSCRIBED,
//!   SUBTREE and MAILBOXES match names (no wildcards, §6.6), shared mailboxes included under
//!   their `Other Users/` and `Public/` names. A mailbox is watched only with "l" (else it
//!   is ignored) and "r" (else `* LIST (\NoAccess)` at NOTIFY time, §3.1).
//!   MessageNew/MessageExpunge send `STATUS (UIDNEXT MESSAGES)`, FlagChange
//!   `STATUS (HIGHESTMODSEQ UIDVALIDITY)` with CONDSTORE enabled, else `STATUS (UNSEEN)`
//!   when the unseen count changed; HIGHESTMODSEQ is added with CONDSTORE/QRESYNC (§5.1–5.3).
//!   The initial STATUS of `NOTIFY SET STATUS` carries what §3.1 lists per event.
//! - **Mailbox names** (§5.4, §5.5): create, delete (`\NonExistent`), rename (`OLDNAME`,
//!   children not repeated), "l" granted or revoked (as create/delete), subscribe and
//!   unsubscribe are found by diffing the list on each mailbox-list event; every LIST
//!   response carries accurate attributes (children, `\Subscribed`, `\Noselect`,
//!   special use).
//! - **Own changes are not reported** (§5 SHOULD): messages this session's own APPEND, COPY
//!   or MOVE adds to the selected mailbox get EXISTS but no MessageNew FETCH (§5.2); after
//!   this session's own CREATE, DELETE,
//!   RENAME, (UN)SUBSCRIBE, SETACL, DELETEACL, APPEND, COPY, MOVE and REPLACE the snapshot is
//!   refreshed silently, and its own SETMETADATA's bus event is skipped once. A change
//!   another session makes to the same mailbox during such a command is absorbed with it.
//! - **Rules of §5 and §6.1 checked at NOTIFY:** an event name not known → `NO [BADEVENT
//!   (the supported ones)]`; more than one selected filter, a non-message event with a
//!   selected filter, fetch attributes outside one → `BAD`; with a selected filter,
//!   MessageNew without MessageExpunge (or the reverse) or FlagChange/AnnotationChange
//!   without both → `BAD`. For the other filters these pairings are not enforced: Dovecot
//!   accepts them and imaptest's `notify` group relies on it (STATUS for MessageExpunge
//!   alone). AnnotationChange is accepted and never fires (no ANNOTATE extension here).
//! - **Budget** (§5.8, §9): at most [`MAX_WATCHED`] mailboxes watched for message events per
//!   session; a NOTIFY asking more is `NO [NOTIFICATIONOVERFLOW]`, and a list that grows past
//!   it later gets `* OK [NOTIFICATIONOVERFLOW]` and NOTIFY NONE. Nothing else queues:
//!   events wait in the bus receiver (bounded; lag becomes a full re-check) and output is
//!   written as it is produced.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroU32;

use pochta_imap_proto::fetch::{Fetch, FetchAttr};
use pochta_imap_proto::notify::{
    EventGroup, Filter, Notify, NotifyEvent, write_list_notify, write_metadata_names,
};
use pochta_imap_proto::response::{self, Code, StatusValue};
use pochta_imap_proto::sequence::SeqRange;
use pochta_imap_proto::status::StatusItem;
use pochta_imap_proto::{CommandBody, SeqNum, SequenceSet, Tag};
use pochta_store::{ChangeEvent, MailStore, MailboxInfo};
use pochta_types::{MailboxId, MailboxName, Right, Rights, SEPARATOR};
use tokio::sync::broadcast;

use crate::acl::{SeenView, in_foreign_namespace};
use crate::session::{Done, Fail, Next, Res, Session, State, bad, no};

/// Most mailboxes one session may watch for message events (see the notes).
pub const MAX_WATCHED: usize = 1000;

/// Every event this server supports, as `BADEVENT` lists them (§3.1).
const SUPPORTED: [&str; 8] = [
    "MessageNew",
    "MessageExpunge",
    "FlagChange",
    "AnnotationChange",
    "MailboxName",
    "SubscriptionChange",
    "MailboxMetadataChange",
    "ServerMetadataChange",
];

/// Which events a filter asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Events {
    new: bool,
    expunge: bool,
    flags: bool,
    name: bool,
    subscription: bool,
    mailbox_meta: bool,
    server_meta: bool,
}

impl Events {
    fn of(list: &[NotifyEvent]) -> Events {
        let mut e = Events::default();
        for ev in list {
            match ev {
                NotifyEvent::MessageNew(_) => e.new = true,
                NotifyEvent::MessageExpunge => e.expunge = true,
                NotifyEvent::FlagChange => e.flags = true,
                NotifyEvent::MailboxName => e.name = true,
                NotifyEvent::SubscriptionChange => e.subscription = true,
                NotifyEvent::MailboxMetadataChange => e.mailbox_meta = true,
                NotifyEvent::ServerMetadataChange => e.server_meta = true,
                NotifyEvent::AnnotationChange | NotifyEvent::Other(_) => {}
            }
        }
        e
    }

    fn messages(self) -> bool {
        self.new || self.expunge || self.flags
    }

    fn union(self, o: Events) -> Events {
        Events {
            new: self.new || o.new,
            expunge: self.expunge || o.expunge,
            flags: self.flags || o.flags,
            name: self.name || o.name,
            subscription: self.subscription || o.subscription,
            mailbox_meta: self.mailbox_meta || o.mailbox_meta,
            server_meta: self.server_meta || o.server_meta,
        }
    }
}

/// SELECTED or SELECTED-DELAYED (§6.1).
#[derive(Debug, Clone)]
pub(crate) struct SelectedSpec {
    delayed: bool,
    events: Events,
    /// MessageNew's fetch attributes.
    atts: Vec<FetchAttr>,
}

/// A mailbox the user can see ("l").
#[derive(Debug, Clone)]
struct Entry {
    /// The name the client uses.
    name: MailboxName,
    info: MailboxInfo,
    rights: Rights,
    own: bool,
}

/// What STATUS reported (or would have) last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Snap {
    messages: u32,
    uid_next: u32,
    uid_validity: u32,
    highest_modseq: u64,
    unseen: u32,
}

/// The session's NOTIFY state.
#[derive(Debug)]
pub(crate) struct Notifier {
    /// The bus receiver, subscribed before the snapshot was read so that no event after it
    /// is missed; the driver takes it ([`Session::notify_receiver`]).
    rx: Option<broadcast::Receiver<ChangeEvent>>,
    selected: Option<SelectedSpec>,
    /// The other filters with what they ask for (groups with `NONE` are left out).
    groups: Vec<(Filter, Events)>,
    list: BTreeMap<MailboxId, Entry>,
    subscribed: BTreeSet<String>,
    /// Watched for message events: the events and the last status.
    watched: HashMap<MailboxId, (Events, Snap)>,
    /// This session's own SETMETADATA changes whose bus events are to be skipped.
    own_meta: Vec<(Option<MailboxId>, Vec<String>)>,
    /// The watched set outgrew [`MAX_WATCHED`]: NOTIFY ends (`* OK [NOTIFICATIONOVERFLOW]`).
    overflowed: bool,
    /// The command ending now added messages to the selected mailbox itself (APPEND, COPY,
    /// MOVE): no MessageNew FETCH for what it announces (§5.2 SHOULD NOT).
    quiet_new: bool,
}

/// What a command of this session changes that NOTIFY would otherwise report.
pub(crate) enum Own {
    Nothing,
    List,
    Into(MailboxName),
    Metadata(Option<MailboxName>, Vec<String>),
}

/// What `body` changes of what NOTIFY watches (see the notes: own changes).
pub(crate) fn own_change(body: &CommandBody) -> Own {
    use CommandBody as B;
    match body {
        B::Create(_)
        | B::Delete(_)
        | B::Rename(_)
        | B::Subscribe(_)
        | B::Unsubscribe(_)
        | B::SetAcl(_)
        | B::DeleteAcl(_) => Own::List,
        B::Append(a) => Own::Into(a.mailbox.clone()),
        B::Copy(c) | B::Move(c) => Own::Into(c.mailbox.clone()),
        B::Replace(r) => Own::Into(r.mailbox.clone()),
        B::SetMetadata(s) => Own::Metadata(
            s.mailbox.clone(),
            s.entries.iter().map(|(n, _)| n.clone()).collect(),
        ),
        _ => Own::Nothing,
    }
}

/// Whether filter `f` covers the mailbox called `name` (`own`: in the personal namespace).
fn covers(f: &Filter, name: &str, own: bool, subscribed: &BTreeSet<String>) -> bool {
    let same = |a: &str, b: &MailboxName| a == b.as_str();
    match f {
        Filter::Selected | Filter::SelectedDelayed => false,
        Filter::Inboxes | Filter::Personal => own,
        Filter::Subscribed => subscribed.contains(name),
        Filter::Mailboxes(list) => list.iter().any(|m| same(name, m)),
        Filter::Subtree(list) => list.iter().any(|m| {
            same(name, m)
                || name
                    .strip_prefix(m.as_str())
                    .is_some_and(|r| r.starts_with(SEPARATOR))
        }),
    }
}

impl Notifier {
    /// The events the non-selected filters ask for on mailbox `name`.
    fn events_for(&self, name: &str, own: bool) -> Events {
        self.groups
            .iter()
            .filter(|(f, _)| covers(f, name, own, &self.subscribed))
            .fold(Events::default(), |a, (_, e)| a.union(*e))
    }

    fn server_meta(&self) -> bool {
        self.groups.iter().any(|(_, e)| e.server_meta)
    }

    /// The attributes of a LIST response for `name` (§5.4, §5.5: computed accurately).
    fn list_attrs(&self, name: &str, gone: bool) -> Vec<String> {
        let mut a = Vec::new();
        let entry = self.list.values().find(|e| e.name.as_str() == name);
        match entry {
            None if gone => a.push("\\NonExistent".to_string()),
            None => a.push("\\NonExistent".to_string()),
            Some(e) if e.info.noselect => a.push("\\Noselect".to_string()),
            Some(_) => {}
        }
        if entry.is_some() {
            let prefix = format!("{name}{SEPARATOR}");
            let children = self
                .list
                .values()
                .any(|e| e.name.as_str().starts_with(&prefix));
            a.push(
                if children {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                }
                .to_string(),
            );
        }
        if self.subscribed.contains(name) {
            a.push("\\Subscribed".to_string());
        }
        if let Some(su) = entry.and_then(|e| e.info.special_use) {
            a.push(su.as_str().to_string());
        }
        a
    }
}

fn snap_items(s: &Snap, items: &[StatusItem]) -> Vec<(StatusItem, u64)> {
    items
        .iter()
        .map(|i| {
            let v = match i {
                StatusItem::Messages => s.messages.into(),
                StatusItem::UidNext => s.uid_next.into(),
                StatusItem::UidValidity => s.uid_validity.into(),
                StatusItem::HighestModSeq => s.highest_modseq,
                StatusItem::Unseen => s.unseen.into(),
                _ => 0,
            };
            (*i, v)
        })
        .collect()
}

impl<S: MailStore> Session<S> {
    /// NOTIFY SET / NOTIFY NONE (§3.1).
    pub(crate) fn notify_cmd(&mut self, n: Notify) -> Res {
        self.account()?;
        let Notify::Set { status, groups } = n else {
            self.notify = None;
            return Done::ok("NOTIFY completed; no more notifications");
        };
        let mut unknown = false;
        let mut selected: Option<SelectedSpec> = None;
        let mut others = Vec::new();
        for EventGroup { filter, events } in groups {
            let list = events.unwrap_or_default();
            unknown |= list.iter().any(|e| matches!(e, NotifyEvent::Other(_)));
            let atts: Vec<FetchAttr> = list
                .iter()
                .find_map(|e| match e {
                    NotifyEvent::MessageNew(a) => Some(a.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            let ev = Events::of(&list);
            let has = |f: fn(&NotifyEvent) -> bool| list.iter().any(f);
            if filter.is_selected() {
                if selected.is_some() {
                    return Err(bad(
                        "only one of SELECTED and SELECTED-DELAYED (RFC 5465 §6.1)",
                    ));
                }
                if list
                    .iter()
                    .any(|e| !e.is_message_event() && !matches!(e, NotifyEvent::Other(_)))
                {
                    return Err(bad(
                        "SELECTED and SELECTED-DELAYED take message events only (RFC 5465 §6.1)",
                    ));
                }
                let new = has(|e| matches!(e, NotifyEvent::MessageNew(_)));
                let expunge = has(|e| matches!(e, NotifyEvent::MessageExpunge));
                let other =
                    has(|e| matches!(e, NotifyEvent::FlagChange | NotifyEvent::AnnotationChange));
                if new != expunge || (other && !(new && expunge)) {
                    return Err(bad(
                        "MessageNew and MessageExpunge go together, and FlagChange or \
                         AnnotationChange need both (RFC 5465 §5)",
                    ));
                }
                selected = Some(SelectedSpec {
                    delayed: filter == Filter::SelectedDelayed,
                    events: ev,
                    atts,
                });
            } else {
                if !atts.is_empty() {
                    return Err(bad(
                        "fetch attributes for MessageNew only with SELECTED or SELECTED-DELAYED",
                    ));
                }
                if ev != Events::default() {
                    others.push((filter, ev));
                }
            }
        }
        if unknown {
            return Err(no(
                Code::BadEvent(SUPPORTED.to_vec()),
                "unsupported NOTIFY event",
            ));
        }
        let mut n = Notifier {
            rx: Some(self.shared.store.change_bus().subscribe()),
            selected,
            groups: others,
            list: BTreeMap::new(),
            subscribed: BTreeSet::new(),
            watched: HashMap::new(),
            own_meta: Vec::new(),
            overflowed: false,
            quiet_new: false,
        };
        self.notify_relist(&mut n)?;
        let mut watched = HashMap::new();
        let mut no_access = Vec::new();
        for e in n.list.values() {
            let ev = n.events_for(e.name.as_str(), e.own);
            if !ev.messages() || e.info.noselect {
                continue;
            }
            if !e.rights.contains(Right::Read) {
                no_access.push(e.name.clone());
                continue;
            }
            watched.insert(e.info.id, (ev, self.notify_snap(&e.info)?));
        }
        if watched.len() > MAX_WATCHED {
            return Err(no(
                Code::NotificationOverflow,
                format!("NOTIFY may watch at most {MAX_WATCHED} mailboxes for message events"),
            ));
        }
        for name in no_access {
            write_list_notify(
                &mut self.out,
                &["\\NoAccess"],
                name.as_str(),
                None,
                self.utf8,
            );
        }
        if status {
            let selected_id = self.view().ok().map(|v| v.mailbox);
            let cs = self.condstore || self.qresync;
            for (id, (ev, snap)) in &watched {
                if Some(*id) == selected_id {
                    continue;
                }
                let mut items = Vec::new();
                if ev.new || ev.expunge {
                    items.push(StatusItem::Messages);
                }
                if ev.new {
                    items.extend([StatusItem::UidNext, StatusItem::UidValidity]);
                }
                if ev.flags {
                    if !items.contains(&StatusItem::UidValidity) {
                        items.push(StatusItem::UidValidity);
                    }
                    items.push(StatusItem::HighestModSeq);
                } else if cs && (ev.new || ev.expunge) {
                    items.push(StatusItem::HighestModSeq);
                }
                let name = n.list[id].name.clone();
                self.notify_write_status(&name, &snap_items(snap, &items));
            }
        }
        n.watched = watched;
        self.notify = Some(Box::new(n));
        Done::ok("NOTIFY completed")
    }

    /// Whether the driver should listen for changes for NOTIFY.
    pub fn notify_active(&self) -> bool {
        self.notify.is_some()
    }

    /// The change-bus receiver of a NOTIFY just set, for the driver to listen on.
    pub fn notify_receiver(&mut self) -> Option<broadcast::Receiver<ChangeEvent>> {
        self.notify.as_mut().and_then(|n| n.rx.take())
    }

    fn notify_write_status(&mut self, name: &MailboxName, items: &[(StatusItem, u64)]) {
        let values: Vec<(StatusItem, StatusValue<'_>)> = items
            .iter()
            .map(|(i, v)| (*i, StatusValue::Number(*v)))
            .collect();
        response::write_status_data(&mut self.out, name, &values, self.utf8);
    }

    /// The counts STATUS would show this user for `info`.
    fn notify_snap(&self, info: &MailboxInfo) -> Res<Snap> {
        let mut st = self.shared.store.mailbox_status(info.id)?;
        if let SeenView::Private(seen) = self.seen_view(info)? {
            st.unseen = st.messages.saturating_sub(seen.len() as u32);
        }
        Ok(Snap {
            messages: st.messages,
            uid_next: st.uid_next.get(),
            uid_validity: st.uid_validity.get(),
            highest_modseq: st.highest_modseq.get(),
            unseen: st.unseen,
        })
    }

    /// Read the mailbox list and subscriptions into `n`.
    fn notify_relist(&self, n: &mut Notifier) -> Res<()> {
        let me = self.account()?.id;
        let store = &self.shared.store;
        let mut list = BTreeMap::new();
        for info in store.mailboxes(me)? {
            let entry = Entry {
                name: info.name.clone(),
                rights: Rights::ALL,
                own: !in_foreign_namespace(info.name.as_str()),
                info,
            };
            list.insert(entry.info.id, entry);
        }
        for (info, rights) in self.foreign_mailboxes()? {
            let entry = Entry {
                name: info.name.clone(),
                rights,
                own: false,
                info,
            };
            list.insert(entry.info.id, entry);
        }
        n.list = list;
        n.subscribed = store
            .subscriptions(me)?
            .into_iter()
            .map(|s| s.to_string())
            .collect();
        Ok(())
    }

    /// After a change of the list: which mailboxes are watched now (new ones start from
    /// their current counts; ones that stay keep theirs). `false`: over the budget.
    fn notify_rewatch(&self, n: &mut Notifier) -> Res<bool> {
        let mut watched = HashMap::new();
        for e in n.list.values() {
            let ev = n.events_for(e.name.as_str(), e.own);
            if !ev.messages() || e.info.noselect || !e.rights.contains(Right::Read) {
                continue;
            }
            let snap = match n.watched.get(&e.info.id) {
                Some((_, s)) => *s,
                None => self.notify_snap(&e.info)?,
            };
            watched.insert(e.info.id, (ev, snap));
            if watched.len() > MAX_WATCHED {
                return Ok(false);
            }
        }
        n.watched = watched;
        Ok(true)
    }

    /// One change-bus event (`None`: events were lost, or a periodic re-check: look at
    /// everything). `idle`: inside IDLE, where expunges may always be reported.
    pub fn notify_event(&mut self, ev: Option<ChangeEvent>, idle: bool) {
        if let Err(e) = self.notify_event_inner(ev, idle) {
            match e {
                // A mailbox deleted meanwhile: its list event follows.
                Fail::Store(pochta_store::StoreError::NotFound(_)) => {}
                Fail::Store(e) => tracing::error!(error = %e, "NOTIFY: reading changes failed"),
                other => tracing::debug!(?other, "NOTIFY: event not reported"),
            }
        }
    }

    fn notify_event_inner(&mut self, ev: Option<ChangeEvent>, idle: bool) -> Res<()> {
        // A RESETKEY is told to the session that has the mailbox selected whatever NOTIFY
        // asked for (RFC 4467 §7, see `urlauth`).
        if matches!(ev, Some(ChangeEvent::AccessKey { .. })) {
            self.report_key_resets();
            return Ok(());
        }
        // The selected mailbox first, with the NOTIFY state in place (MessageNew's FETCH).
        let selected_id = self.view().ok().map(|v| v.mailbox);
        let selected = match &ev {
            Some(ChangeEvent::Mailbox { mailbox, .. }) => Some(*mailbox) == selected_id,
            None => true,
            Some(_) => false,
        };
        if selected {
            self.notify_selected(idle)?;
        }
        let Some(mut n) = self.notify.take() else {
            return Ok(());
        };
        let r = self.notify_dispatch(&mut n, ev);
        if !n.overflowed {
            self.notify = Some(n);
        }
        r
    }

    fn notify_dispatch(&mut self, n: &mut Notifier, ev: Option<ChangeEvent>) -> Res<()> {
        let me = self.account()?.id;
        let selected_id = self.view().ok().map(|v| v.mailbox);
        match ev {
            Some(ChangeEvent::Mailbox { mailbox, .. }) => {
                if Some(mailbox) == selected_id {
                    // Its counts follow along for when it is no longer selected.
                    if let Some(info) = n.list.get(&mailbox).map(|e| e.info.clone())
                        && n.watched.contains_key(&mailbox)
                    {
                        let s = self.notify_snap(&info)?;
                        if let Some(w) = n.watched.get_mut(&mailbox) {
                            w.1 = s;
                        }
                    }
                } else if n.watched.contains_key(&mailbox) {
                    self.notify_status(n, mailbox)?;
                }
            }
            Some(ChangeEvent::MailboxList { account }) => {
                if account == me {
                    self.notify_list(n)?;
                }
            }
            Some(ChangeEvent::Metadata {
                account,
                mailbox,
                entries,
            }) => self.notify_metadata(n, me, account, mailbox, entries)?,
            Some(ChangeEvent::AccessKey { .. }) => {}
            None => {
                self.notify_list(n)?;
                let ids: Vec<MailboxId> = n.watched.keys().copied().collect();
                for id in ids {
                    if Some(id) != selected_id {
                        self.notify_status(n, id)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A periodic re-check of the selected mailbox (changes by another process that no
    /// bus event announced), with what its filter allows.
    pub fn notify_recheck(&mut self, idle: bool) {
        if let Err(Fail::Store(e)) = self.notify_selected(idle) {
            tracing::error!(error = %e, "NOTIFY: syncing the selected mailbox failed");
        }
    }

    /// Report the selected mailbox's changes as its filter asks (see the notes).
    fn notify_selected(&mut self, idle: bool) -> Res<()> {
        let Some(spec) = self.notify.as_ref().and_then(|n| n.selected.as_ref()) else {
            return Ok(());
        };
        if !spec.events.messages() || !matches!(self.state, State::Selected(_)) {
            return Ok(());
        }
        let allow_expunge = idle || !spec.delayed;
        self.sync(allow_expunge)?;
        Ok(())
    }

    /// STATUS for a watched mailbox if what its events cover changed (§5.1–5.3).
    fn notify_status(&mut self, n: &mut Notifier, id: MailboxId) -> Res<()> {
        let (Some((ev, old)), Some(entry)) = (n.watched.get(&id).copied(), n.list.get(&id)) else {
            return Ok(());
        };
        let name = entry.name.clone();
        let new = self.notify_snap(&entry.info)?;
        let cs = self.condstore || self.qresync;
        let mut items = Vec::new();
        if (ev.new || ev.expunge) && (new.messages != old.messages || new.uid_next != old.uid_next)
        {
            items.extend([StatusItem::UidNext, StatusItem::Messages]);
            if cs {
                items.push(StatusItem::HighestModSeq);
            }
        }
        if ev.flags && new.highest_modseq != old.highest_modseq {
            if cs {
                for i in [StatusItem::HighestModSeq, StatusItem::UidValidity] {
                    if !items.contains(&i) {
                        items.push(i);
                    }
                }
            }
            if new.unseen != old.unseen {
                items.push(StatusItem::Unseen);
            }
        }
        if ev.messages()
            && new.uid_validity != old.uid_validity
            && !items.contains(&StatusItem::UidValidity)
        {
            items.push(StatusItem::UidValidity);
        }
        if !items.is_empty() {
            self.notify_write_status(&name, &snap_items(&new, &items));
        }
        if let Some(w) = n.watched.get_mut(&id) {
            w.1 = new;
        }
        Ok(())
    }

    /// The mailbox list changed: LIST responses for MailboxName and SubscriptionChange
    /// (§5.4, §5.5), then the watched set follows the new list.
    fn notify_list(&mut self, n: &mut Notifier) -> Res<()> {
        let old_list = std::mem::take(&mut n.list);
        let old_subs = std::mem::take(&mut n.subscribed);
        self.notify_relist(n)?;
        // Names to report: name → (old name for a rename, gone).
        let mut report: BTreeMap<String, (Option<String>, bool)> = BTreeMap::new();
        let wants_name = |n: &Notifier, name: &str, own: bool, subs: &BTreeSet<String>| {
            n.groups
                .iter()
                .any(|(f, e)| e.name && covers(f, name, own, subs))
        };
        let renames: Vec<(String, String)> = old_list
            .iter()
            .filter_map(|(id, o)| {
                let now = n.list.get(id)?;
                (now.name != o.name).then(|| (o.name.to_string(), now.name.to_string()))
            })
            .collect();
        for (old, new) in &renames {
            // Children renamed with their parent are not reported (§5.4).
            let with_parent = renames.iter().any(|(po, pn)| {
                old.strip_prefix(po.as_str())
                    .is_some_and(|r| r.starts_with(SEPARATOR) && *new == format!("{pn}{r}"))
            });
            let own = n.list.values().any(|e| e.name.as_str() == new && e.own);
            if !with_parent
                && (wants_name(n, new, own, &n.subscribed) || wants_name(n, old, own, &old_subs))
            {
                report.insert(new.clone(), (Some(old.clone()), false));
            }
        }
        let mut parents = Vec::new();
        for (id, e) in &n.list {
            if !old_list.contains_key(id) && wants_name(n, e.name.as_str(), e.own, &n.subscribed) {
                report.insert(e.name.to_string(), (None, false));
                parents.extend(e.name.parent());
            }
        }
        for (id, e) in &old_list {
            if !n.list.contains_key(id) && wants_name(n, e.name.as_str(), e.own, &old_subs) {
                report.insert(e.name.to_string(), (None, true));
                parents.extend(e.name.parent());
            }
        }
        // The direct parent of a created or deleted mailbox is affected too (§5.4).
        for p in parents {
            let name = p.to_string();
            if n.list.values().any(|e| e.name == p) {
                report.entry(name).or_insert((None, false));
            }
        }
        // SubscriptionChange (§5.5): names whose subscription changed, unless reported above.
        for name in old_subs.symmetric_difference(&n.subscribed) {
            let own = !in_foreign_namespace(name);
            let wants = n.groups.iter().any(|(f, e)| {
                e.subscription
                    && (covers(f, name, own, &n.subscribed) || covers(f, name, own, &old_subs))
            });
            let renamed_away = renames.iter().any(|(o, _)| o == name);
            if wants && !renamed_away {
                report.entry(name.clone()).or_insert((None, false));
            }
        }
        for (name, (old, gone)) in report {
            let attrs = n.list_attrs(&name, gone);
            let attrs: Vec<&str> = attrs.iter().map(String::as_str).collect();
            write_list_notify(&mut self.out, &attrs, &name, old.as_deref(), self.utf8);
        }
        if !self.notify_rewatch(n)? {
            response::write_status(
                &mut self.out,
                None,
                response::Status::Ok,
                Some(&Code::NotificationOverflow),
                "too many mailboxes to watch; NOTIFY is off",
            );
            n.overflowed = true;
        }
        Ok(())
    }

    /// A metadata event: unsolicited METADATA with the changed names (§5.6, §5.7).
    fn notify_metadata(
        &mut self,
        n: &mut Notifier,
        me: pochta_types::AccountId,
        account: pochta_types::AccountId,
        mailbox: Option<MailboxId>,
        entries: Vec<String>,
    ) -> Res<()> {
        if account == me
            && let Some(i) = n
                .own_meta
                .iter()
                .position(|(m, e)| *m == mailbox && *e == entries)
        {
            n.own_meta.remove(i);
            return Ok(());
        }
        let name = match mailbox {
            None if n.server_meta() => None,
            None => return Ok(()),
            Some(id) => {
                let Some(e) = n.list.get(&id) else {
                    return Ok(());
                };
                let r = e.rights;
                let readable = [
                    Right::Read,
                    Right::Seen,
                    Right::Write,
                    Right::Insert,
                    Right::Post,
                ]
                .iter()
                .any(|x| r.contains(*x));
                let wants = n.groups.iter().any(|(f, ev)| {
                    ev.mailbox_meta && covers(f, e.name.as_str(), e.own, &n.subscribed)
                });
                if !readable || !wants {
                    return Ok(());
                }
                Some(e.name.to_string())
            }
        };
        let mut names: Vec<String> = if entries.is_empty() {
            // Too many to tell (see the store): every entry there.
            self.shared
                .store
                .metadata(mailbox, me)?
                .into_iter()
                .map(|(k, _)| k)
                .collect()
        } else {
            entries
                .into_iter()
                .filter(|e| account == me || !e.starts_with("/private/"))
                .collect()
        };
        names.sort();
        names.dedup();
        if !names.is_empty() {
            write_metadata_names(&mut self.out, name.as_deref(), &names, self.utf8);
        }
        Ok(())
    }

    /// After this session's own command (see the notes: own changes are not reported).
    pub(crate) fn notify_own(&mut self, own: Own, ok: bool) {
        if !ok || matches!(own, Own::Nothing) {
            return;
        }
        let Some(mut n) = self.notify.take() else {
            return;
        };
        let r: Res<()> = (|| {
            match own {
                Own::Nothing => {}
                Own::List => {
                    self.notify_relist(&mut n)?;
                    if !self.notify_rewatch(&mut n)? {
                        response::write_status(
                            &mut self.out,
                            None,
                            response::Status::Ok,
                            Some(&Code::NotificationOverflow),
                            "too many mailboxes to watch; NOTIFY is off",
                        );
                        n.overflowed = true;
                    }
                }
                Own::Into(name) => {
                    if let Some(e) = n.list.values().find(|e| e.name == name)
                        && n.watched.contains_key(&e.info.id)
                    {
                        let (id, s) = (e.info.id, self.notify_snap(&e.info)?);
                        if let Some(w) = n.watched.get_mut(&id) {
                            w.1 = s;
                        }
                    }
                }
                Own::Metadata(mailbox, entries) => {
                    let id = match mailbox {
                        None => None,
                        Some(name) => match self.find(&name)? {
                            Some(f) => Some(f.info.id),
                            None => return Ok(()),
                        },
                    };
                    if n.own_meta.len() >= 16 {
                        n.own_meta.remove(0);
                    }
                    n.own_meta.push((id, entries));
                }
            }
            Ok(())
        })();
        if let Err(Fail::Store(e)) = r {
            tracing::error!(error = %e, "NOTIFY: refreshing after an own change failed");
        }
        if !n.overflowed {
            self.notify = Some(n);
        }
    }

    /// Before the end of a successful command of this session: one that adds messages to
    /// the selected mailbox gets no MessageNew FETCH for them (§5.2).
    pub(crate) fn notify_quiet_new(&mut self, own: &Own) {
        let Own::Into(name) = own else {
            return;
        };
        let selected = self.view().ok().map(|v| v.mailbox);
        if let Some(n) = self.notify.as_mut()
            && let Some(id) = selected
            && n.list.get(&id).is_some_and(|e| e.name == *name)
        {
            n.quiet_new = true;
        }
    }

    /// MessageNew's fetch attributes for the messages that just joined the view (the view
    /// held `old_len` before), right after their EXISTS (§5.2).
    pub(crate) fn notify_fetch_new(&mut self, old_len: u32) {
        if self.forked {
            return;
        }
        if let Some(n) = self.notify.as_mut()
            && std::mem::take(&mut n.quiet_new)
        {
            return;
        }
        let Some(atts) = self
            .notify
            .as_ref()
            .and_then(|n| n.selected.as_ref())
            .filter(|s| s.events.new && !s.atts.is_empty())
            .map(|s| s.atts.clone())
        else {
            return;
        };
        let Ok(view) = self.view() else {
            return;
        };
        let new = &view.uids()[(old_len as usize).min(view.uids().len())..];
        let (Some(first), Some(last)) = (new.first(), new.last()) else {
            return;
        };
        let (Some(a), Some(b)) = (NonZeroU32::new(first.get()), NonZeroU32::new(last.get())) else {
            return;
        };
        let f = Fetch {
            uid: true,
            set: SequenceSet::Ranges(vec![SeqRange {
                start: SeqNum::Value(a),
                end: SeqNum::Value(b),
            }]),
            attrs: atts,
            changed_since: None,
            vanished: false,
            partial: None,
        };
        let before = self.pending.take();
        let Some(tag) = Tag::new(b"notify") else {
            return;
        };
        let r = self.fetch(&tag, f);
        if let Ok(Done {
            next: Next::More, ..
        }) = r
        {
            while let Some(mut p) = self.pending.take() {
                match self.fetch_chunk(&mut p) {
                    Ok(None) => self.pending = Some(p),
                    Ok(Some(_)) | Err(_) => break,
                }
            }
        }
        self.pending = before;
    }
}
