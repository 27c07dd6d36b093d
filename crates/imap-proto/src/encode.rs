//! Client-side command encoder: [`Command`] → wire bytes.
//!
//! Implementation notes:
//! - The output re-parses to an equal [`Command`] (tested by round trips); macros (ALL/FAST/
//!   FULL) come out expanded, and a one-key parenthesised search list comes out bare, matching
//!   how the parser normalises them.
//! - Strings are atoms, quoted strings or literals by the same rules as the response writers;
//!   literals are `{n}` (the caller must wait for `+` before sending what follows each one)
//!   or `{n+}` when [`EncodeOptions::literal_plus`] is set. [`Command::encode`] returns the
//!   bytes in one buffer; [`Command::encode_parts`] splits them where a synchronizing literal
//!   requires waiting for the server's continuation.

use crate::acl::RightsMode;
use crate::append::{AppendDataKind, AppendMessage};
use crate::catenate::CatPart;
use crate::command::{Command, CommandBody};
use crate::fetch::{FetchAttr, Partial};
use crate::list::{ListReturn, ListSelect};
use crate::response::{
    LiteralForm, mailbox_wire_name, write_astring_with, write_literal_form, write_section,
    write_string_with,
};
use crate::search::{SearchKey, SearchReturn};
use crate::store::StoreMode;
use pochta_types::MailboxName;

/// A pattern that is no valid modified UTF-7 (a lone `&`): it lists nothing, which is what a
/// parsed LIST or LSUB whose patterns were all invalid asks for.
const NO_NAME: &[u8] = b"&";

/// Encoder settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Use `{n+}` literals (the server advertised LITERAL+).
    pub literal_plus: bool,
    /// UTF8=ACCEPT is enabled: mailbox names go as UTF-8.
    pub utf8: bool,
}

struct W<'a> {
    out: &'a mut Vec<u8>,
    opts: EncodeOptions,
}

impl W<'_> {
    /// One APPEND / REPLACE message: ` [flags] ["date"] data`.
    fn append_message(&mut self, m: &AppendMessage) {
        if !m.flags.is_empty() {
            self.s(" ");
            self.list(&m.flags, |w, f| {
                w.s(f.as_str());
            });
        }
        if let Some(d) = m.date {
            self.s(" \"").num(d).s("\"");
        }
        self.s(" ");
        match m.kind {
            AppendDataKind::Literal => self.literal(&m.data, false),
            AppendDataKind::Literal8 => self.literal(&m.data, true),
            AppendDataKind::Utf8 => {
                self.s("UTF8 (");
                self.literal(&m.data, true);
                self.s(")");
            }
            AppendDataKind::Catenate => {
                self.s("CATENATE ");
                self.list(&m.parts, |w, p| match p {
                    CatPart::Text(t) => {
                        w.s("TEXT ");
                        w.literal(t, t.contains(&0));
                    }
                    CatPart::Url(u) => {
                        w.s("URL ");
                        w.astring(u);
                    }
                });
            }
        }
    }

    fn raw(&mut self, b: &[u8]) -> &mut Self {
        self.out.extend_from_slice(b);
        self
    }
    fn s(&mut self, s: &str) -> &mut Self {
        self.raw(s.as_bytes())
    }
    fn num(&mut self, n: impl std::fmt::Display) -> &mut Self {
        let s = n.to_string();
        self.s(&s)
    }
    fn form(&self, binary: bool) -> LiteralForm {
        LiteralForm {
            binary,
            non_sync: self.opts.literal_plus,
        }
    }
    fn literal(&mut self, b: &[u8], binary: bool) {
        let form = self.form(binary);
        write_literal_form(self.out, b, form);
    }
    fn string(&mut self, b: &[u8]) {
        let form = self.form(false);
        write_string_with(self.out, b, self.opts.utf8, form);
    }
    fn astring(&mut self, b: &[u8]) {
        let form = self.form(false);
        write_astring_with(self.out, b, self.opts.utf8, form);
    }
    fn name_str(&mut self, s: &str) {
        self.astring(mailbox_wire_name(s, self.opts.utf8).as_bytes());
    }
    fn pattern(&mut self, s: &str) {
        let name = mailbox_wire_name(s, self.opts.utf8);
        self.pattern_bytes(name.as_bytes());
    }
    /// A `list-mailbox` already in wire form: atom with wildcards, else a string.
    fn pattern_bytes(&mut self, b: &[u8]) {
        if !b.is_empty() && b.iter().all(|&c| crate::core::is_list_char(c)) {
            self.raw(b);
        } else {
            self.string(b);
        }
    }
    fn mailbox(&mut self, m: &MailboxName) {
        self.name_str(m.as_str());
    }
    fn list<T>(&mut self, items: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.out.push(b'(');
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b' ');
            }
            f(self, it);
        }
        self.out.push(b')');
    }
    fn partial(&mut self, p: &Option<Partial>) {
        if let Some(p) = p {
            self.s("<").num(p.offset).s(".").num(p.length).s(">");
        }
    }
    fn part(&mut self, part: &[std::num::NonZeroU32]) {
        for (i, p) in part.iter().enumerate() {
            if i > 0 {
                self.s(".");
            }
            self.num(p);
        }
    }
    fn attr(&mut self, a: &FetchAttr) {
        use FetchAttr as A;
        match a {
            A::Envelope => self.s("ENVELOPE"),
            A::Flags => self.s("FLAGS"),
            A::InternalDate => self.s("INTERNALDATE"),
            A::Rfc822 => self.s("RFC822"),
            A::Rfc822Header => self.s("RFC822.HEADER"),
            A::Rfc822Size => self.s("RFC822.SIZE"),
            A::Rfc822Text => self.s("RFC822.TEXT"),
            A::Body => self.s("BODY"),
            A::BodyStructure => self.s("BODYSTRUCTURE"),
            A::Uid => self.s("UID"),
            A::ModSeq => self.s("MODSEQ"),
            A::SaveDate => self.s("SAVEDATE"),
            A::EmailId => self.s("EMAILID"),
            A::ThreadId => self.s("THREADID"),
            A::Preview { lazy } => self.s(if *lazy { "PREVIEW (LAZY)" } else { "PREVIEW" }),
            A::BodySection {
                peek,
                section,
                partial,
            } => {
                self.s(if *peek { "BODY.PEEK[" } else { "BODY[" });
                // Header names in a section are astrings; write_section writes them so.
                write_section(self.out, section);
                self.s("]");
                self.partial(partial);
                self
            }
            A::Binary {
                peek,
                part,
                partial,
            } => {
                self.s(if *peek { "BINARY.PEEK[" } else { "BINARY[" });
                self.part(part);
                self.s("]");
                self.partial(partial);
                self
            }
            A::BinarySize { part } => {
                self.s("BINARY.SIZE[");
                self.part(part);
                self.s("]")
            }
        };
    }
    /// ` NONE` or ` SET [STATUS] (filter events) ...` (RFC 5465 §8).
    fn notify(&mut self, n: &crate::notify::Notify) {
        use crate::notify::{Filter, Notify, NotifyEvent};
        let Notify::Set { status, groups } = n else {
            self.s(" NONE");
            return;
        };
        self.s(if *status { " SET STATUS" } else { " SET" });
        for g in groups {
            self.s(" (");
            let names = match &g.filter {
                Filter::Selected => Err("SELECTED"),
                Filter::SelectedDelayed => Err("SELECTED-DELAYED"),
                Filter::Inboxes => Err("INBOXES"),
                Filter::Personal => Err("PERSONAL"),
                Filter::Subscribed => Err("SUBSCRIBED"),
                Filter::Subtree(m) => Ok(("SUBTREE ", m)),
                Filter::Mailboxes(m) => Ok(("MAILBOXES ", m)),
            };
            match names {
                Err(word) => {
                    self.s(word);
                }
                Ok((word, m)) => {
                    self.s(word);
                    self.list(m, |w, m| w.mailbox(m));
                }
            }
            self.s(" ");
            match &g.events {
                None => {
                    self.s("NONE");
                }
                Some(events) => self.list(events, |w, e| {
                    w.s(e.name());
                    if let NotifyEvent::MessageNew(atts) = e
                        && !atts.is_empty()
                    {
                        w.s(" ");
                        w.list(atts, |w, a| w.attr(a));
                    }
                }),
            }
            self.s(")");
        }
    }
    /// ` [RETURN (...)] [CHARSET c] keys` of SEARCH and ESEARCH.
    fn search(&mut self, s: &crate::search::Search) {
        let w = self;
        if let Some(r) = &s.returns {
            w.s(" RETURN ");
            w.list(r, |w, r| {
                w.s(r.as_str());
                if let SearchReturn::Partial(p) = r {
                    w.s(" ");
                    p.write(w.out);
                }
            });
        }
        if let Some(cs) = &s.charset {
            w.s(" CHARSET ");
            w.astring(cs.as_bytes());
        }
        w.s(" ");
        w.key(&s.key, true);
    }
    fn key(&mut self, k: &SearchKey, top: bool) {
        use SearchKey as K;
        let kw = |w: &mut Self, s: &str, b: &[u8]| {
            w.s(s).s(" ");
            w.astring(b);
        };
        match k {
            K::All => {
                self.s("ALL");
            }
            K::Answered => {
                self.s("ANSWERED");
            }
            K::Bcc(b) => kw(self, "BCC", b),
            K::Before(d) => {
                self.s("BEFORE ").num(d);
            }
            K::Body(b) => kw(self, "BODY", b),
            K::Cc(b) => kw(self, "CC", b),
            K::Deleted => {
                self.s("DELETED");
            }
            K::Draft => {
                self.s("DRAFT");
            }
            K::Flagged => {
                self.s("FLAGGED");
            }
            K::From(b) => kw(self, "FROM", b),
            K::Header(n, v) => {
                self.s("HEADER ");
                self.astring(n);
                self.s(" ");
                self.astring(v);
            }
            K::Keyword(f) => {
                self.s("KEYWORD ").s(f.as_str());
            }
            K::Larger(n) => {
                self.s("LARGER ").num(n);
            }
            K::New => {
                self.s("NEW");
            }
            K::Not(k) => {
                self.s("NOT ");
                self.key(k, false);
            }
            K::Old => {
                self.s("OLD");
            }
            K::On(d) => {
                self.s("ON ").num(d);
            }
            K::Or(a, b) => {
                self.s("OR ");
                self.key(a, false);
                self.s(" ");
                self.key(b, false);
            }
            K::Recent => {
                self.s("RECENT");
            }
            K::Seen => {
                self.s("SEEN");
            }
            K::SentBefore(d) => {
                self.s("SENTBEFORE ").num(d);
            }
            K::SentOn(d) => {
                self.s("SENTON ").num(d);
            }
            K::SentSince(d) => {
                self.s("SENTSINCE ").num(d);
            }
            K::Since(d) => {
                self.s("SINCE ").num(d);
            }
            K::Smaller(n) => {
                self.s("SMALLER ").num(n);
            }
            K::Subject(b) => kw(self, "SUBJECT", b),
            K::Text(b) => kw(self, "TEXT", b),
            K::To(b) => kw(self, "TO", b),
            K::Uid(s) => {
                self.s("UID ").num(s);
            }
            K::Unanswered => {
                self.s("UNANSWERED");
            }
            K::Undeleted => {
                self.s("UNDELETED");
            }
            K::Undraft => {
                self.s("UNDRAFT");
            }
            K::Unflagged => {
                self.s("UNFLAGGED");
            }
            K::Unkeyword(f) => {
                self.s("UNKEYWORD ").s(f.as_str());
            }
            K::Unseen => {
                self.s("UNSEEN");
            }
            K::SequenceSet(s) => {
                self.num(s);
            }
            K::And(keys) => {
                if !top {
                    self.s("(");
                }
                for (i, k) in keys.iter().enumerate() {
                    if i > 0 {
                        self.s(" ");
                    }
                    self.key(k, false);
                }
                if !top {
                    self.s(")");
                }
            }
            K::ModSeq { entry, modseq } => {
                self.s("MODSEQ ");
                if let Some((name, t)) = entry {
                    self.string(name);
                    self.s(" ").s(t.as_str()).s(" ");
                }
                self.num(modseq);
            }
            K::Older(n) => {
                self.s("OLDER ").num(n);
            }
            K::Younger(n) => {
                self.s("YOUNGER ").num(n);
            }
            K::SaveDateBefore(d) => {
                self.s("SAVEDATEBEFORE ").num(d);
            }
            K::SaveDateOn(d) => {
                self.s("SAVEDATEON ").num(d);
            }
            K::SaveDateSince(d) => {
                self.s("SAVEDATESINCE ").num(d);
            }
            K::SaveDateSupported => {
                self.s("SAVEDATESUPPORTED");
            }
            K::EmailId(id) => {
                self.s("EMAILID ").s(id);
            }
            K::ThreadId(id) => {
                self.s("THREADID ").s(id);
            }
            K::Fuzzy(k) => {
                self.s("FUZZY ");
                self.key(k, false);
            }
        }
    }
}

/// Splits an encoded command at its synchronizing literals: send part 0, wait for `+`, send
/// part 1, … (one part when `literal_plus`).
pub(crate) fn split_parts(bytes: Vec<u8>, opts: EncodeOptions) -> Vec<Vec<u8>> {
    if opts.literal_plus {
        return vec![bytes];
    }
    // Walk our own output line by line to find the split points.
    let mut parts = Vec::new();
    let mut last = 0;
    let mut pos = 0;
    while pos < bytes.len() {
        let lf = bytes[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| pos + i + 1);
        let line = &bytes[pos..lf];
        pos = lf;
        let trimmed = line.strip_suffix(b"\r\n").unwrap_or(line);
        if let Some((n, kind)) = crate::framer::literal_suffix(trimmed) {
            if kind.is_sync() {
                parts.push(bytes[last..pos].to_vec());
                last = pos;
            }
            pos = pos
                .saturating_add(usize::try_from(n).unwrap_or(usize::MAX))
                .min(bytes.len());
        }
    }
    parts.push(bytes[last..].to_vec());
    parts
}

// The one quoting rule, for the client half (`crate::client`), which writes mailbox names as
// the server spells them (wire bytes) rather than as Pochta `MailboxName`s.

/// An `astring`: atom when every byte is an ASTRING-CHAR, else quoted, else a literal.
pub(crate) fn write_astring(out: &mut Vec<u8>, b: &[u8], opts: EncodeOptions) {
    W { out, opts }.astring(b);
}

/// A `string`: quoted when it can be, else a literal.
pub(crate) fn write_string(out: &mut Vec<u8>, b: &[u8], opts: EncodeOptions) {
    W { out, opts }.string(b);
}

/// A literal (`~{n}` when `binary`), `{n+}` with LITERAL+.
pub(crate) fn write_literal(out: &mut Vec<u8>, b: &[u8], binary: bool, opts: EncodeOptions) {
    W { out, opts }.literal(b, binary);
}

/// A `list-mailbox` pattern in wire form.
pub(crate) fn write_list_mailbox(out: &mut Vec<u8>, b: &[u8], opts: EncodeOptions) {
    W { out, opts }.pattern_bytes(b);
}

impl Command {
    /// Encode as one buffer (see the module notes about synchronizing literals).
    pub fn encode(&self, opts: EncodeOptions) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out, opts);
        out
    }

    /// Encode split at synchronizing literals: send part 0, wait for `+`, send part 1, …
    pub fn encode_parts(&self, opts: EncodeOptions) -> Vec<Vec<u8>> {
        split_parts(self.encode(opts), opts)
    }

    /// Encode into `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>, opts: EncodeOptions) {
        let mut w = W { out, opts };
        w.s(self.tag.as_str()).s(" ").s(self.body.name());
        use CommandBody as B;
        match &self.body {
            B::Capability
            | B::Noop
            | B::Logout
            | B::StartTls
            | B::Check
            | B::Close
            | B::Unselect
            | B::Expunge
            | B::Idle
            | B::Namespace => {}
            B::Id(None) => {
                w.s(" NIL");
            }
            B::Id(Some(p)) => {
                w.s(" ");
                w.list(p, |w, (k, v)| {
                    w.string(k);
                    w.s(" ");
                    match v {
                        Some(v) => w.string(v),
                        None => {
                            w.s("NIL");
                        }
                    }
                });
            }
            B::Authenticate(a) => {
                w.s(" ").s(&a.mechanism);
                if let Some(ir) = &a.initial_response {
                    w.s(" ").raw(ir.expose());
                }
            }
            B::Login(l) => {
                w.s(" ");
                w.astring(&l.username);
                w.s(" ");
                w.astring(l.password.expose());
            }
            B::Enable(caps) => {
                for c in caps {
                    w.s(" ").s(c);
                }
            }
            B::Select(s) | B::Examine(s) => {
                w.s(" ");
                w.mailbox(&s.mailbox);
                let mut params: Vec<String> = Vec::new();
                if s.condstore {
                    params.push("CONDSTORE".into());
                }
                if let Some(q) = &s.qresync {
                    let mut p = format!("QRESYNC ({} {}", q.uid_validity, q.modseq);
                    if let Some(k) = &q.known_uids {
                        p.push_str(&format!(" {k}"));
                    }
                    if let Some((a, b)) = &q.seq_match {
                        p.push_str(&format!(" ({a} {b})"));
                    }
                    p.push(')');
                    params.push(p);
                }
                if !params.is_empty() {
                    w.s(" ");
                    w.list(&params, |w, p| {
                        w.s(p);
                    });
                }
            }
            B::Create(c) => {
                w.s(" ");
                w.mailbox(&c.mailbox);
                if !c.special_use.is_empty() {
                    w.s(" (USE ");
                    w.list(&c.special_use, |w, u| {
                        w.s(u.as_str());
                    });
                    w.s(")");
                }
            }
            B::Delete(m)
            | B::Subscribe(m)
            | B::Unsubscribe(m)
            | B::GetQuotaRoot(m)
            | B::GetAcl(m)
            | B::MyRights(m) => {
                w.s(" ");
                w.mailbox(m);
            }
            B::Rename(r) => {
                w.s(" ");
                w.mailbox(&r.from);
                w.s(" ");
                w.mailbox(&r.to);
            }
            B::List(l) => {
                // An extended LIST that the other parts would not mark as such gets `()`.
                if !l.selection.is_empty()
                    || (l.extended && l.returns.is_empty() && l.patterns.len() == 1)
                {
                    w.s(" ");
                    w.list(&l.selection, |w, s| {
                        w.s(match s {
                            ListSelect::Subscribed => "SUBSCRIBED",
                            ListSelect::Remote => "REMOTE",
                            ListSelect::RecursiveMatch => "RECURSIVEMATCH",
                            ListSelect::SpecialUse => "SPECIAL-USE",
                        });
                    });
                }
                w.s(" ");
                w.name_str(&l.reference);
                w.s(" ");
                if l.patterns.is_empty() {
                    // Only invalid patterns were given: one that matches nothing again.
                    w.pattern_bytes(NO_NAME);
                } else if l.patterns.len() == 1 {
                    w.pattern(&l.patterns[0]);
                } else {
                    w.list(&l.patterns, |w, p| w.pattern(p));
                }
                if !l.returns.is_empty() {
                    w.s(" RETURN ");
                    w.list(&l.returns, |w, r| match r {
                        ListReturn::Subscribed => {
                            w.s("SUBSCRIBED");
                        }
                        ListReturn::Children => {
                            w.s("CHILDREN");
                        }
                        ListReturn::SpecialUse => {
                            w.s("SPECIAL-USE");
                        }
                        ListReturn::MyRights => {
                            w.s("MYRIGHTS");
                        }
                        ListReturn::Status(items) => {
                            w.s("STATUS ");
                            w.list(items, |w, i| {
                                w.s(i.as_str());
                            });
                        }
                    });
                }
            }
            B::Lsub(l) => {
                w.s(" ");
                w.name_str(&l.reference);
                w.s(" ");
                match &l.pattern {
                    Some(p) => w.pattern(p),
                    None => w.pattern_bytes(NO_NAME),
                }
            }
            B::Status(s) => {
                w.s(" ");
                w.mailbox(&s.mailbox);
                w.s(" ");
                w.list(&s.items, |w, i| {
                    w.s(i.as_str());
                });
            }
            B::Append(a) => {
                w.s(" ");
                w.mailbox(&a.mailbox);
                for m in &a.messages {
                    w.append_message(m);
                }
            }
            B::Compress(m) => {
                w.s(" ").s(m);
            }
            B::GetQuota(root) => {
                w.s(" ");
                w.astring(root);
            }
            B::SetQuota { root, limits } => {
                w.s(" ");
                w.astring(root);
                w.s(" ");
                w.list(limits, |w, (r, n)| {
                    w.s(r).s(" ").num(n);
                });
            }
            B::SetAcl(a) => {
                w.s(" ");
                w.mailbox(&a.mailbox);
                w.s(" ");
                w.astring(a.identifier.as_bytes());
                w.s(" ");
                let sign = match a.mode {
                    RightsMode::Replace => "",
                    RightsMode::Add => "+",
                    RightsMode::Remove => "-",
                };
                w.astring(format!("{sign}{}", a.rights.letters()).as_bytes());
            }
            B::DeleteAcl(e) | B::ListRights(e) => {
                w.s(" ");
                w.mailbox(&e.mailbox);
                w.s(" ");
                w.astring(e.identifier.as_bytes());
            }
            B::UidExpunge(set) => {
                w.s(" ").num(set);
            }
            B::Esearch(e) => {
                use crate::multisearch::Source;
                if let Some(sources) = &e.sources {
                    w.s(" IN (");
                    for (i, src) in sources.iter().enumerate() {
                        if i > 0 {
                            w.s(" ");
                        }
                        let (word, names) = match src {
                            Source::Selected => ("selected", None),
                            Source::Inboxes => ("inboxes", None),
                            Source::Personal => ("personal", None),
                            Source::Subscribed => ("subscribed", None),
                            Source::Subtree(m) => ("subtree ", Some(m)),
                            Source::SubtreeOne(m) => ("subtree-one ", Some(m)),
                            Source::Mailboxes(m) => ("mailboxes ", Some(m)),
                        };
                        w.s(word);
                        if let Some(m) = names {
                            w.list(m, |w, m| w.mailbox(m));
                        }
                    }
                    w.s(")");
                }
                w.search(&e.search);
            }
            B::Search(s) => w.search(s),
            B::Sort(s) => {
                if let Some(r) = &s.search.returns {
                    w.s(" RETURN ");
                    w.list(r, |w, r| {
                        w.s(r.as_str());
                    });
                }
                w.s(" ");
                w.list(&s.criteria, |w, c| {
                    if c.reverse {
                        w.s("REVERSE ");
                    }
                    w.s(c.key.as_str());
                });
                w.s(" ");
                w.astring(s.search.charset.as_deref().unwrap_or("UTF-8").as_bytes());
                w.s(" ");
                w.key(&s.search.key, true);
            }
            B::Notify(n) => w.notify(n),
            B::CancelUpdate(tags) => {
                for t in tags {
                    w.s(" ");
                    w.string(t.as_bytes());
                }
            }
            B::Thread(t) => {
                w.s(" ").s(t.algorithm.as_str()).s(" ");
                w.astring(t.search.charset.as_deref().unwrap_or("UTF-8").as_bytes());
                w.s(" ");
                w.key(&t.search.key, true);
            }
            B::Fetch(f) => {
                w.s(" ").num(&f.set).s(" ");
                w.list(&f.attrs, |w, a| w.attr(a));
                if f.changed_since.is_some() || f.vanished || f.partial.is_some() {
                    w.s(" (");
                    if let Some(m) = f.changed_since {
                        w.s("CHANGEDSINCE ").num(m);
                    }
                    if f.vanished {
                        w.s(" VANISHED");
                    }
                    if let Some(p) = &f.partial {
                        if f.changed_since.is_some() {
                            w.s(" ");
                        }
                        w.s("PARTIAL ");
                        p.write(w.out);
                    }
                    w.s(")");
                }
            }
            B::Store(s) => {
                w.s(" ").num(&s.set).s(" ");
                if let Some(u) = s.unchanged_since {
                    w.s("(UNCHANGEDSINCE ").num(u).s(") ");
                }
                w.s(match s.mode {
                    StoreMode::Replace => "",
                    StoreMode::Add => "+",
                    StoreMode::Remove => "-",
                });
                w.s(if s.silent { "FLAGS.SILENT " } else { "FLAGS " });
                w.list(&s.flags, |w, f| {
                    w.s(f.as_str());
                });
            }
            B::Copy(c) | B::Move(c) => {
                w.s(" ").num(&c.set).s(" ");
                w.mailbox(&c.mailbox);
            }
            B::GetMetadata(g) => {
                let mut opts = Vec::new();
                if let Some(n) = g.maxsize {
                    opts.push(format!("MAXSIZE {n}"));
                }
                match g.depth {
                    crate::metadata::Depth::Zero => {}
                    crate::metadata::Depth::One => opts.push("DEPTH 1".into()),
                    crate::metadata::Depth::Infinity => opts.push("DEPTH infinity".into()),
                }
                if !opts.is_empty() {
                    w.s(" (").s(&opts.join(" ")).s(")");
                }
                w.s(" ");
                match &g.mailbox {
                    Some(m) => w.mailbox(m),
                    None => w.astring(b""),
                }
                w.s(" ");
                w.list(&g.entries, |w, e| w.astring(e.as_bytes()));
            }
            B::SetMetadata(sm) => {
                w.s(" ");
                match &sm.mailbox {
                    Some(m) => w.mailbox(m),
                    None => w.astring(b""),
                }
                w.s(" ");
                w.list(&sm.entries, |w, (e, v)| {
                    w.astring(e.as_bytes());
                    w.s(" ");
                    match v {
                        None => {
                            w.s("NIL");
                        }
                        Some(v) if v.contains(&0) => w.literal(v, true),
                        Some(v) => w.string(v),
                    }
                });
            }
            B::Replace(r) => {
                w.s(" ").num(r.target).s(" ");
                w.mailbox(&r.mailbox);
                w.append_message(&r.message);
            }
            B::UrlAuth(u) => {
                use crate::urlauth::UrlAuth;
                match u {
                    UrlAuth::ResetKey {
                        mailbox,
                        mechanisms,
                    } => {
                        if let Some(m) = mailbox {
                            w.s(" ");
                            w.mailbox(m);
                        }
                        for m in mechanisms {
                            w.s(" ").s(m);
                        }
                    }
                    UrlAuth::GenUrlAuth(pairs) => {
                        for (url, mech) in pairs {
                            w.s(" ");
                            w.astring(url);
                            w.s(" ").s(mech);
                        }
                    }
                    UrlAuth::UrlFetch(urls) => {
                        use crate::urlauth::DataForm;
                        for arg in urls {
                            w.s(" ");
                            let Some(p) = &arg.params else {
                                w.astring(&arg.url);
                                continue;
                            };
                            w.s("(");
                            w.astring(&arg.url);
                            if p.structure {
                                w.s(" BODYPARTSTRUCTURE");
                            }
                            match p.data {
                                Some(DataForm::Body) => {
                                    w.s(" BODY");
                                }
                                Some(DataForm::Binary) => {
                                    w.s(" BINARY");
                                }
                                None => {}
                            }
                            w.s(")");
                        }
                    }
                }
            }
        }
        w.s("\r\n");
    }
}
