//! LIST and LSUB (RFC 3501 §6.3.8–6.3.9, LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819,
//! SPECIAL-USE RFC 6154).
//!
//! Implementation notes:
//! - LIST matching works on Unicode characters: `*` matches anything, `%` anything but the
//!   separator (RFC 3501 §6.3.8); `INBOX` matches case-insensitively.
//! - Other users' mailboxes and the public folders are listed under their `Other Users/` and
//!   `Public/` names only with "l" (RFC 4314 §4); the namespace levels are `\Noselect`.

use std::collections::BTreeMap;

use pochta_imap_proto::list::{List, ListReturn, ListSelect, Lsub};
use pochta_imap_proto::response::write_list;
use pochta_imap_proto::status::StatusItem;
use pochta_store::{MailStore, MailboxInfo};
use pochta_types::{MailboxName, Right, SEPARATOR};

use crate::acl::{PUBLIC, in_foreign_namespace};
use crate::session::{Done, Res, Session, bad};

impl<S: MailStore> Session<S> {
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
        let subscribed_only = l.selection.contains(&ListSelect::Subscribed);
        let special_only = l.selection.contains(&ListSelect::SpecialUse);
        let want_subscribed = subscribed_only
            || l.returns
                .iter()
                .any(|r| matches!(r, ListReturn::Subscribed));
        let recursive = l.selection.contains(&ListSelect::RecursiveMatch);
        // Read only when the answer uses them (a plain LIST does not).
        let subs = match me {
            Some(me) if want_subscribed || recursive => store.subscriptions(me)?,
            _ => Vec::new(),
        };
        let want_myrights = l.returns.contains(&ListReturn::MyRights);
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
        let has_unlisted_subscribed_child = |name: &str| {
            let prefix = format!("{name}{SEPARATOR}");
            subs.iter()
                .any(|s| s.as_str().starts_with(&prefix) && !matches(s.as_str()))
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
            // RFC 5258 §3.1 (b) and §3.5: a name that does not meet the selection itself is
            // listed for CHILDINFO only when a descendant that does is not listed too (does
            // not match the patterns); otherwise the CHILDINFO would be redundant.
            if subscribed_only && !sub && !(childinfo && has_unlisted_subscribed_child(name)) {
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
            if want_myrights {
                self.list_myrights(&name, mb.as_ref())?;
            }
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
        let Some(pattern) = &l.pattern else {
            // Not a valid name: nothing matches (see `Lsub::pattern`).
            return Done::ok("LSUB completed");
        };
        let pattern = canonical_pattern(&l.reference, pattern);
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
