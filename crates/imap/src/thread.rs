//! THREAD and UID THREAD (RFC 5256 §3): ORDEREDSUBJECT, REFERENCES, and REFS.
//!
//! Implementation notes:
//! - Only the messages that match the search criteria are threaded; a message they refer to
//!   that did not match (or does not exist) is a dummy container (RFC 5256 §3 REFERENCES).
//! - Message IDs compare as octets; a message without a Message-ID, or with one an earlier
//!   message already has, gets a unique one (REFERENCES step 1A).
//! - Every step works on an arena with explicit stacks, never by recursion, so a reply
//!   chain as long as the mailbox cannot exhaust the stack; a link that would close a loop
//!   is not made (steps 1B, 1C).
//! - Sent date: the Date: header in UTC, else the INTERNALDATE; equal dates keep mailbox
//!   order (RFC 5256 §3). Base subjects compare folded (`i;unicode-casemap`, RFC 5255 §4).
//! - The ID and subject tables hash with foldhash (randomly seeded per process), not
//!   SipHash: SipHash was ~5 % of THREAD REFERENCES on 100,000 messages (bench/README.md);
//!   the keys come from mail, so the hasher stays seeded rather than fixed (FxHash).
//! - REFS (draft-ietf-morg-inthread, as Dovecot implements it) is REFERENCES without the
//!   subject grouping (step 5), with threads ordered by their latest message.

/// Seeded per process at random (foldhash): not SipHash, but not predictable either.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

use pochta_imap_proto::Tag;
use pochta_imap_proto::thread::{Thread, ThreadAlgorithm, ThreadNode, write_thread};

use crate::session::{Done, Res, Session};
use pochta_store::{MailStore, SortNeed};

mod cache;

pub(crate) use cache::Entry;
pub use cache::ThreadCache;

/// One message to thread (given in mailbox order).
pub(crate) struct Msg<'a> {
    /// What the response names it by: a sequence number or a UID.
    pub num: u32,
    /// What threading needs of it.
    pub k: &'a Entry,
}

/// A thread forest: the arena the response is written from, and its roots in order.
pub(crate) struct Forest {
    pub nodes: Vec<ThreadNode>,
    pub roots: Vec<usize>,
}

/// Sort key of a node: (sent date, mailbox position) of its message, or for a dummy of its
/// first child (RFC 5256 §3 REFERENCES steps 4 and 6).
fn node_key(nodes: &[Container], msgs: &[Msg], mut i: usize) -> (i64, usize) {
    loop {
        match nodes[i].msg {
            Some(m) => return (msgs[m].k.sent, m),
            None => match nodes[i].children.first() {
                Some(&c) => i = c,
                None => return (i64::MAX, usize::MAX),
            },
        }
    }
}

/// ORDEREDSUBJECT: group by base subject; in each group the earliest message is the
/// parent of all the others; groups ordered by their first message.
pub(crate) fn ordered_subject(msgs: &[Msg]) -> Forest {
    let mut idx: Vec<usize> = (0..msgs.len()).collect();
    idx.sort_by(|&a, &b| {
        msgs[a]
            .k
            .subject
            .cmp(&msgs[b].k.subject)
            .then(msgs[a].k.sent.cmp(&msgs[b].k.sent))
    });
    let mut nodes: Vec<ThreadNode> = Vec::with_capacity(msgs.len());
    let mut roots: Vec<(i64, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j < idx.len() && msgs[idx[j]].k.subject == msgs[idx[i]].k.subject {
            j += 1;
        }
        let root = nodes.len();
        nodes.push(ThreadNode {
            num: Some(msgs[idx[i]].num),
            children: Vec::new(),
        });
        for &m in &idx[i + 1..j] {
            let n = nodes.len();
            nodes.push(ThreadNode {
                num: Some(msgs[m].num),
                children: Vec::new(),
            });
            nodes[root].children.push(n);
        }
        roots.push((msgs[idx[i]].k.sent, idx[i], root));
        i = j;
    }
    roots.sort();
    Forest {
        nodes,
        roots: roots.into_iter().map(|(_, _, r)| r).collect(),
    }
}

#[derive(Debug, Clone, Default)]
struct Container {
    msg: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

struct Arena {
    c: Vec<Container>,
}

impl Arena {
    fn new_container(&mut self) -> usize {
        self.c.push(Container::default());
        self.c.len() - 1
    }

    /// Whether `a` is `b` or one of its ancestors.
    fn is_ancestor(&self, a: usize, b: usize) -> bool {
        if a != b && self.c[a].children.is_empty() {
            // A leaf is nobody's ancestor: no walk up a long chain.
            return false;
        }
        let mut cur = Some(b);
        while let Some(x) = cur {
            if x == a {
                return true;
            }
            cur = self.c[x].parent;
        }
        false
    }

    fn unlink(&mut self, child: usize) {
        if let Some(p) = self.c[child].parent.take() {
            self.c[p].children.retain(|&x| x != child);
        }
    }

    fn link(&mut self, parent: usize, child: usize) {
        self.unlink(child);
        self.c[child].parent = Some(parent);
        self.c[parent].children.push(child);
    }
}

/// REFERENCES (RFC 5256 §3) or, with `refs`, REFS.
pub(crate) fn references(msgs: &[Msg], refs: bool) -> Forest {
    let mut a = Arena {
        c: Vec::with_capacity(msgs.len() * 2),
    };
    let mut by_id: HashMap<&str, usize> =
        HashMap::with_capacity_and_hasher(msgs.len() * 2, Default::default());
    // Step 1.
    for (m, msg) in msgs.iter().enumerate() {
        // 1A: the message's container.
        let me = match msg
            .k
            .message_id
            .as_deref()
            .and_then(|id| by_id.get(id).copied())
        {
            Some(c) if a.c[c].msg.is_none() => c,
            _ => {
                let c = a.new_container();
                if let Some(id) = msg.k.message_id.as_deref() {
                    by_id.entry(id).or_insert(c);
                }
                c
            }
        };
        a.c[me].msg = Some(m);
        // 1B: link the references in order, each the parent of the next.
        let mut prev: Option<usize> = None;
        for r in msg.k.references.iter() {
            let c = match by_id.get(&**r) {
                Some(&c) => c,
                None => {
                    let c = a.new_container();
                    by_id.insert(&**r, c);
                    c
                }
            };
            if let Some(p) = prev
                && c != p
                && a.c[c].parent.is_none()
                && !a.is_ancestor(c, p)
            {
                a.link(p, c);
            }
            prev = Some(c);
        }
        // 1B of RFC 5256: the last reference is the message's parent. A parent it had from
        // another message's References is dropped first, even when the new link would be a
        // loop and is not made (Dovecot does the same: imaptest `thread`).
        match prev {
            Some(p) if a.c[me].parent == Some(p) => {}
            Some(p) => {
                a.unlink(me);
                if p != me && !a.is_ancestor(me, p) {
                    a.link(p, me);
                }
            }
            None => a.unlink(me),
        }
    }
    // Step 2: the root set.
    let mut roots: Vec<usize> = (0..a.c.len())
        .filter(|&i| a.c[i].parent.is_none())
        .collect();
    // Step 3: prune dummies, children before parents.
    let mut post: Vec<usize> = Vec::with_capacity(a.c.len());
    let mut stack: Vec<usize> = roots.clone();
    while let Some(x) = stack.pop() {
        post.push(x);
        stack.extend(a.c[x].children.iter().copied());
    }
    for &x in post.iter().rev() {
        if a.c[x].msg.is_some() {
            continue;
        }
        let parent = a.c[x].parent;
        let kids = a.c[x].children.len();
        if kids == 0 {
            a.unlink(x);
            continue;
        }
        // A dummy root with several children stays; otherwise promote its children.
        if parent.is_none() && kids > 1 {
            continue;
        }
        let children = std::mem::take(&mut a.c[x].children);
        match parent {
            Some(p) => {
                let pos = a.c[p].children.iter().position(|&y| y == x).unwrap_or(0);
                a.c[p].children.splice(pos..=pos, children.iter().copied());
                for &ch in &children {
                    a.c[ch].parent = Some(p);
                }
                a.c[x].parent = None;
            }
            None => {
                for &ch in &children {
                    a.c[ch].parent = None;
                }
            }
        }
    }
    roots = (0..a.c.len())
        .filter(|&i| {
            a.c[i].parent.is_none() && (a.c[i].msg.is_some() || !a.c[i].children.is_empty())
        })
        .collect();
    // Step 4: sort the root set (a dummy by its first child once its children are sorted).
    for &r in &roots {
        if a.c[r].msg.is_none() {
            let mut ch = std::mem::take(&mut a.c[r].children);
            ch.sort_by_key(|&c| node_key(&a.c, msgs, c));
            a.c[r].children = ch;
        }
    }
    roots.sort_by_key(|&r| node_key(&a.c, msgs, r));
    // Step 5: group the root set by base subject (not for REFS).
    if !refs {
        roots = group_by_subject(&mut a, msgs, roots);
    }
    // Step 6: sort every set of siblings, deepest first.
    let mut order: Vec<usize> = Vec::with_capacity(a.c.len());
    let mut stack: Vec<usize> = roots.clone();
    while let Some(x) = stack.pop() {
        order.push(x);
        stack.extend(a.c[x].children.iter().copied());
    }
    for &x in order.iter().rev() {
        let mut ch = std::mem::take(&mut a.c[x].children);
        ch.sort_by_key(|&c| node_key(&a.c, msgs, c));
        a.c[x].children = ch;
    }
    if refs {
        // Threads by their latest message (ties: the earlier thread first).
        let mut latest: Vec<(i64, usize, usize)> = Vec::with_capacity(roots.len());
        for &r in &roots {
            let mut best = (i64::MIN, 0usize);
            let mut stack = vec![r];
            while let Some(x) = stack.pop() {
                if let Some(m) = a.c[x].msg {
                    best = best.max((msgs[m].k.sent, m));
                }
                stack.extend(a.c[x].children.iter().copied());
            }
            latest.push((best.0, best.1, r));
        }
        latest.sort();
        roots = latest.into_iter().map(|(_, _, r)| r).collect();
    } else {
        roots.sort_by_key(|&r| node_key(&a.c, msgs, r));
    }
    let nodes =
        a.c.into_iter()
            .map(|c| ThreadNode {
                num: c.msg.map(|m| msgs[m].num),
                children: c.children,
            })
            .collect();
    Forest { nodes, roots }
}

/// REFERENCES step 5: merge root threads with the same base subject.
fn group_by_subject(a: &mut Arena, msgs: &[Msg], roots: Vec<usize>) -> Vec<usize> {
    // The message that stands for a root: itself, or a dummy's first child (5B i).
    fn rep(a: &Arena, r: usize) -> Option<usize> {
        match a.c[r].msg {
            Some(m) => Some(m),
            None => a.c[r].children.first().and_then(|&c| a.c[c].msg),
        }
    }
    let subject_of = |a: &Arena, r: usize| -> Option<&str> {
        rep(a, r)
            .map(|m| &*msgs[m].k.subject)
            .filter(|s| !s.is_empty())
    };
    let is_reply = |a: &Arena, r: usize| rep(a, r).is_some_and(|m| msgs[m].k.reply);
    // 5B: base subject → the root that represents it.
    let mut table: HashMap<&str, usize> = HashMap::default();
    for &r in &roots {
        let Some(subject) = subject_of(a, r) else {
            continue;
        };
        match table.get(subject).copied() {
            None => {
                table.insert(subject, r);
            }
            Some(old) if a.c[old].msg.is_some() => {
                let this_dummy = a.c[r].msg.is_none();
                if this_dummy || (is_reply(a, old) && !is_reply(a, r)) {
                    table.insert(subject, r);
                }
            }
            Some(_) => {}
        }
    }
    // 5C: merge every other root into the one in the table.
    let mut replaced: HashMap<usize, usize> = HashMap::default();
    let mut gone: Vec<bool> = vec![false; a.c.len()];
    for &r in &roots {
        if a.c[r].parent.is_some() {
            // Already placed under a new dummy as a table entry.
            continue;
        }
        let Some(subject) = subject_of(a, r) else {
            continue;
        };
        let Some(&t) = table.get(subject) else {
            continue;
        };
        if t == r {
            continue;
        }
        let t_dummy = a.c[t].msg.is_none();
        let r_dummy = a.c[r].msg.is_none();
        if t_dummy && r_dummy {
            let kids = std::mem::take(&mut a.c[r].children);
            for &k in &kids {
                a.c[k].parent = Some(t);
            }
            a.c[t].children.extend(kids);
        } else if t_dummy || (is_reply(a, r) && !is_reply(a, t)) {
            a.link(t, r);
        } else {
            let d = a.new_container();
            gone.push(false);
            a.link(d, t);
            a.link(d, r);
            table.insert(subject, d);
            replaced.insert(t, d);
        }
        gone[r] = true;
    }
    let mut out: Vec<usize> = Vec::with_capacity(roots.len());
    let mut emitted = vec![false; a.c.len()];
    for &r in &roots {
        if gone[r] {
            continue;
        }
        let mut x = r;
        while let Some(&y) = replaced.get(&x) {
            x = y;
        }
        if a.c[x].parent.is_none() && !emitted[x] {
            emitted[x] = true;
            out.push(x);
        }
    }
    out
}

impl<S: MailStore> Session<S> {
    pub(crate) fn thread(&mut self, _tag: &Tag, t: Thread) -> Res {
        let uid = t.search.uid;
        let hits = self.matching(&t.search)?.hits;
        let entries = self.thread_entries(&hits)?;
        let msgs: Vec<Msg<'_>> = hits
            .iter()
            .zip(&entries)
            .map(|(h, k)| Msg {
                num: if uid { h.1.get() } else { h.0 },
                k,
            })
            .collect();
        let forest = match t.algorithm {
            ThreadAlgorithm::OrderedSubject => ordered_subject(&msgs),
            ThreadAlgorithm::References => references(&msgs, false),
            ThreadAlgorithm::Refs => references(&msgs, true),
        };
        write_thread(&mut self.out, &forest.nodes, &forest.roots);
        Done::ok(if uid {
            "UID THREAD completed"
        } else {
            "THREAD completed"
        })
    }

    /// The threading inputs of the hits, in order (see [`Session::key_entries`]).
    fn thread_entries(&self, hits: &[crate::search::Hit]) -> Res<Vec<std::sync::Arc<Entry>>> {
        self.key_entries(hits, true)
    }

    /// The cached inputs of the hits, in order: from the process's [`ThreadCache`], the
    /// others (or, with `threading`, those without threading fields) read from the store
    /// and kept there for the next THREAD or SORT, with the entries of messages no longer in
    /// this session's view dropped.
    pub(crate) fn key_entries(
        &self,
        hits: &[crate::search::Hit],
        threading: bool,
    ) -> Res<Vec<std::sync::Arc<Entry>>> {
        let view = self.view()?;
        let cache = &self.shared.threads;
        let keys = cache.get(view.mailbox);
        let mut got = keys.lookup(hits.iter().map(|h| h.1));
        for e in &mut got {
            if threading && e.as_ref().is_some_and(|e| !e.threading) {
                *e = None;
            }
        }
        let missing: Vec<crate::search::Hit> = hits
            .iter()
            .zip(&got)
            .filter(|(_, e)| e.is_none())
            .map(|(h, _)| *h)
            .collect();
        let mut fresh = Vec::with_capacity(missing.len());
        let need = SortNeed {
            subject: true,
            addresses: false,
            threading,
        };
        let chunk = if threading {
            crate::sort::THREAD_CHUNK
        } else {
            crate::sort::CHUNK
        };
        self.with_sort_rows(&missing, need, chunk, |h, row| {
            fresh.push((h.1, std::sync::Arc::new(Entry::of_row(row, threading))));
        })?;
        let mut read = fresh.iter();
        for e in got.iter_mut().filter(|e| e.is_none()) {
            *e = read.next().map(|(_, f)| f.clone());
        }
        if let Some(next) = keys.next(view.uids(), fresh) {
            cache.put(view.mailbox, next);
        }
        // Every hit has its entry: `fresh` holds one per missing hit, in order.
        Ok(got.into_iter().flatten().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct M {
        id: &'static str,
        refs: Vec<String>,
        subject: &'static str,
        sent: i64,
    }

    fn m(id: &'static str, refs: &[&str], subject: &'static str, sent: i64) -> M {
        M {
            id,
            refs: refs.iter().map(|r| r.to_string()).collect(),
            subject,
            sent,
        }
    }

    fn entries(ms: &[M]) -> Vec<Entry> {
        ms.iter()
            .map(|x| {
                let (base, reply) = pochta_message::sort::base_subject(x.subject);
                Entry {
                    sent: x.sent,
                    subject: crate::text::fold(&base).into_boxed_str(),
                    reply,
                    message_id: (!x.id.is_empty()).then(|| x.id.into()),
                    references: x.refs.iter().map(|r| r.as_str().into()).collect(),
                    threading: true,
                }
            })
            .collect()
    }

    fn msgs(es: &[Entry]) -> Vec<Msg<'_>> {
        es.iter()
            .enumerate()
            .map(|(i, k)| Msg {
                num: i as u32 + 1,
                k,
            })
            .collect()
    }

    fn render(f: &Forest) -> String {
        let mut out = Vec::new();
        write_thread(&mut out, &f.nodes, &f.roots);
        String::from_utf8(out).expect("ascii")
    }

    fn mailbox() -> Vec<M> {
        vec![
            m("a", &[], "hello", 100),
            m("b", &["a"], "Re: hello", 200),
            m("c", &["a", "b"], "Re: hello", 300),
            m("d", &["a"], "Re: hello", 250),
            m("e", &["x"], "other", 150),
            m("f", &["x"], "Re: other", 160),
            m("g", &[], "Re: HELLO", 400),
            m("h", &[], "lonely", 50),
        ]
    }

    #[test]
    fn references_known_answer() {
        let ms = mailbox();
        let f = references(&msgs(&entries(&ms)), false);
        // 7 joins 1 by subject (a reply under a non-reply); x is a dummy root of 5 and 6.
        assert_eq!(render(&f), "* THREAD (8)(1 (2 3)(4)(7))((5)(6))\r\n");
    }

    #[test]
    fn refs_known_answer() {
        let ms = mailbox();
        let f = references(&msgs(&entries(&ms)), true);
        // No subject grouping; threads by their latest message.
        assert_eq!(render(&f), "* THREAD (8)((5)(6))(1 (2 3)(4))(7)\r\n");
    }

    #[test]
    fn ordered_subject_known_answer() {
        let ms = mailbox();
        let f = ordered_subject(&msgs(&entries(&ms)));
        assert_eq!(render(&f), "* THREAD (8)(1 (2)(4)(3)(7))(5 6)\r\n");
    }

    #[test]
    fn same_subject_without_replies_gets_a_dummy() {
        let ms = vec![
            m("a", &[], "x", 10),
            m("b", &[], "x", 20),
            m("", &[], "y", 5),
            m("", &[], "", 1),
        ];
        let f = references(&msgs(&entries(&ms)), false);
        assert_eq!(render(&f), "* THREAD (4)(3)((1)(2))\r\n");
    }

    #[test]
    fn loops_and_duplicates() {
        let ms = vec![
            m("a", &["b"], "p", 10),
            m("b", &["a"], "q", 20),
            m("a", &[], "r", 30),
            m("c", &["c"], "s", 40),
        ];
        let f = references(&msgs(&entries(&ms)), true);
        // 2 is 1's parent (from 1's References); 2's own link to 1 would be a loop.
        // The duplicate Message-ID of 3 is ignored; 4 refers to itself.
        assert_eq!(render(&f), "* THREAD (2 1)(3)(4)\r\n");
    }

    #[test]
    fn own_references_drop_a_parent_even_when_the_new_link_is_a_loop() {
        // imaptest `thread`: 2 names 1 then 3; 3 names 2. 3's own References break the link
        // 1 -> 3 that 2 made, and 2 -> 3 would be a loop: 3 is a root with 2 under it.
        let ms = vec![
            m("a", &[], "", 3),
            m("b", &["a", "c"], "", 1),
            m("c", &["b"], "", 2),
        ];
        assert_eq!(
            render(&references(&msgs(&entries(&ms)), false)),
            "* THREAD (3 2)(1)\r\n"
        );
    }

    #[test]
    fn long_chain() {
        let n = 100_000;
        let ids: Vec<String> = (0..n).map(|i| format!("m{i}@x")).collect();
        let refs: Vec<Vec<String>> = (0..n)
            .map(|i| {
                if i == 0 {
                    vec![]
                } else {
                    vec![ids[i - 1].clone()]
                }
            })
            .collect();
        let es: Vec<Entry> = (0..n)
            .map(|i| Entry {
                sent: i as i64,
                subject: "S".into(),
                reply: i > 0,
                message_id: Some(ids[i].as_str().into()),
                references: refs[i].iter().map(|r| r.as_str().into()).collect(),
                threading: true,
            })
            .collect();
        let f = references(&msgs(&es), false);
        let out = render(&f);
        assert!(out.starts_with("* THREAD (1 2 3 "));
        assert!(out.ends_with(" 100000)\r\n"));
    }
}
