//! One IMAP session: its state, the command dispatcher, and the one place where outcomes
//! become tagged responses.
//!
//! Implementation notes:
//! - State as an enum (RFC 3501 §3): not authenticated, authenticated, selected, logout. The
//!   selected state carries the [`View`]. [`Session::check_state`] alone decides which
//!   commands a state allows.
//! - Errors are classified once, in [`Fail`]: syntax → `BAD`; a refusal the user can act on →
//!   `NO [CODE]` (RFC 5530 / RFC 9051 §7.1 codes); a store failure → `NO [SERVERBUG]` and a
//!   log line. I/O errors never reach here: the driver closes the connection.
//! - Compute, commit, then write: store calls finish (and commit) before the response that
//!   reports them is written; nothing holds a store lock across a socket write.
//! - Untagged updates: before the tagged response of every command in the selected state the
//!   session asks the store what changed since the MODSEQ it last reported ([`View::apply`]);
//!   EXPUNGE is held back during FETCH, STORE and SEARCH (RFC 3501 §7.4.1).

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use pochta_auth::{Login, Throttle};
use pochta_imap_proto::response::{self, Code, Status};
use pochta_imap_proto::{Command, CommandBody, ParseError, ParseErrorKind, Tag};
use pochta_store::{Account, MailStore, StoreError};
use pochta_types::Uid;

use crate::view::{Update, View};

pub use pochta_auth::PlaintextPolicy;

/// Settings of the IMAP service.
#[derive(Debug, Clone)]
pub struct ImapConfig {
    pub hostname: String,
    pub plaintext: PlaintextPolicy,
    /// Largest APPEND literal accepted (RFC 7889 APPENDLIMIT).
    pub max_message: u64,
    /// The total time from the greeting to a successful login (not per read).
    pub login_timeout: Duration,
    /// Autologout timer once authenticated (RFC 9051 §5.4: at least 30 minutes).
    pub idle_timeout: Duration,
    /// Anonymous access (see [`crate::anonymous`]); off by default.
    pub anonymous: bool,
    /// Run independent pipelined commands concurrently (see [`crate::pipeline`]); on by
    /// default.
    pub parallel: bool,
    /// Bytes/s a literal must arrive at after `data_rate_grace`; slower gets `* BYE`.
    pub min_data_rate: u64,
    pub data_rate_grace: Duration,
    /// Where literals being received are spooled once they hold 64 KiB (`data_dir/tmp`);
    /// `None` keeps them in memory.
    pub spool_dir: Option<std::path::PathBuf>,
    /// The server-wide budget for spooled messages read back into memory to be parsed and
    /// stored (shared with SMTP and the collector; see `pochta_net::budget`).
    pub message_budget: pochta_net::MessageBudget,
}

impl Default for ImapConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".into(),
            plaintext: PlaintextPolicy::TlsOrLoopback,
            max_message: 64 * 1024 * 1024,
            login_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30 * 60),
            anonymous: false,
            parallel: true,
            min_data_rate: 1024,
            data_rate_grace: Duration::from_secs(30),
            spool_dir: None,
            message_budget: pochta_net::MessageBudget::unlimited(),
        }
    }
}

/// What every session of a server shares.
pub struct Shared<S> {
    pub store: Arc<S>,
    pub config: ImapConfig,
    pub throttle: Arc<Throttle>,
    pub auth_cache: Arc<pochta_auth::AuthCache>,
    /// Anonymous logins per address (see [`crate::anonymous`]).
    pub anonymous_logins: crate::anonymous::AnonLimiter,
    /// The full-text index text search keys use (see [`crate::search`]); `None`: scan.
    pub search: Option<Arc<dyn pochta_store::SearchIndex>>,
    /// THREAD's inputs per mailbox (see [`crate::thread::ThreadCache`]).
    pub threads: crate::thread::ThreadCache,
}

/// What the driver must do after a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Write the output and go on reading commands.
    Continue,
    /// Write the output, then perform the TLS handshake and call [`Session::tls_started`].
    StartTls,
    /// Write `+ <challenge>` (already in the output) and feed the next raw line to
    /// [`Session::sasl_line`].
    SaslContinue,
    /// Enter IDLE: `+ idling` is in the output; wait for `DONE` or changes.
    Idle(Tag),
    /// Write the output uncompressed, then compress both directions (RFC 4978 §3).
    Compress,
    /// Write the output, then call [`Session::resume`] for the rest of this command's
    /// responses (a large FETCH is written a chunk at a time, so its answer is never held
    /// in memory whole).
    More,
    /// Write the output and close.
    Logout,
}

/// The session state (RFC 3501 §3).
#[derive(Debug)]
pub enum State {
    NotAuthenticated,
    Authenticated,
    Selected(View),
    Logout,
}

/// A command's failure, mapped to a response in [`Session::finish`].
#[derive(Debug)]
pub enum Fail {
    Bad(String),
    /// `BAD [code]` (e.g. UIDREQUIRED, RFC 9586 §3).
    BadCode(Code, String),
    No(Option<Code>, String),
    Store(StoreError),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

pub(crate) type Res<T = Done> = Result<T, Fail>;

/// A command's success: optional response code and text of the tagged OK.
#[derive(Debug)]
pub struct Done {
    pub code: Option<Code>,
    pub text: String,
    pub next: Next,
}

impl Done {
    pub fn ok(text: impl Into<String>) -> Res {
        Ok(Done {
            code: None,
            text: text.into(),
            next: Next::Continue,
        })
    }
    pub fn code(code: Code, text: impl Into<String>) -> Res {
        Ok(Done {
            code: Some(code),
            text: text.into(),
            next: Next::Continue,
        })
    }
}

pub(crate) fn no(code: Code, text: impl Into<String>) -> Fail {
    Fail::No(Some(code), text.into())
}

pub(crate) fn bad(text: impl Into<String>) -> Fail {
    Fail::Bad(text.into())
}

/// One connection's IMAP session, sans I/O: commands in, bytes out.
pub struct Session<S> {
    pub(crate) shared: Arc<Shared<S>>,
    pub(crate) peer: IpAddr,
    pub(crate) tls: bool,
    pub(crate) starttls_available: bool,
    pub(crate) state: State,
    pub(crate) account: Option<Account>,
    /// Logged in anonymously: no account; paced by the bucket (see [`crate::anonymous`]).
    pub(crate) anonymous: Option<crate::anonymous::Bucket>,
    /// Bytes to write to the client.
    pub out: Vec<u8>,
    /// An AUTHENTICATE waiting for the client's next line.
    pub(crate) sasl: Option<(Tag, Login<Account>)>,
    /// How long to wait before writing the output (failed logins are slowed down).
    pub delay: Option<Duration>,
    /// SEARCHRES result (RFC 5182), as UIDs.
    pub(crate) saved: Vec<Uid>,
    /// Live SEARCH/SORT results (RFC 5267 §4), reported on after every sync.
    pub(crate) contexts: Vec<crate::context::Context>,
    /// CONDSTORE is on (RFC 7162 §3.1): MODSEQ goes into FETCH responses, HIGHESTMODSEQ
    /// into SELECT. Switched on by the first CONDSTORE-enabling command.
    pub(crate) condstore: bool,
    /// QRESYNC is enabled (RFC 7162 §3.2): expunges are reported as VANISHED.
    pub(crate) qresync: bool,
    /// UIDONLY is enabled (RFC 9586, see [`crate::uidonly`]).
    pub(crate) uidonly: bool,
    /// UTF8=ACCEPT is enabled (RFC 6855 §3): mailbox names travel as UTF-8.
    pub(crate) utf8: bool,
    /// COMPRESS=DEFLATE is active.
    pub(crate) compressed: bool,
    /// IMAP4rev2 is enabled (RFC 9051 §6.3.1): no `\Recent`, ESEARCH replies, UTF-8 names.
    pub(crate) rev2: bool,
    /// The selected mailbox (possibly another account's, RFC 4314), for rights checks.
    pub(crate) selected: Option<pochta_store::MailboxInfo>,
    /// The rest of a FETCH being written a chunk at a time ([`Next::More`]).
    pub(crate) pending: Option<Box<crate::fetch::Pending>>,
    /// A copy running one command of a concurrent group ([`crate::pipeline`]): it reports no
    /// untagged updates (the session it was forked from does, after the group).
    pub(crate) forked: bool,
    /// NOTIFY's state (RFC 5465, see [`crate::notify`]); `None`: no NOTIFY, or NOTIFY NONE.
    pub(crate) notify: Option<Box<crate::notify::Notifier>>,
    /// The last URLAUTH key reset this session has accounted for (the store bus's number,
    /// see [`crate::urlauth`]).
    pub(crate) key_mark: u64,
}

impl<S: MailStore> Session<S> {
    pub fn new(shared: Arc<Shared<S>>, peer: IpAddr, tls: bool, starttls_available: bool) -> Self {
        Self {
            shared,
            peer,
            tls,
            starttls_available,
            state: State::NotAuthenticated,
            account: None,
            anonymous: None,
            out: Vec::with_capacity(256),
            sasl: None,
            delay: None,
            saved: Vec::new(),
            contexts: Vec::new(),
            condstore: false,
            qresync: false,
            uidonly: false,
            utf8: false,
            compressed: false,
            rev2: false,
            selected: None,
            pending: None,
            forked: false,
            notify: None,
            key_mark: 0,
        }
    }

    /// A copy of this session for one command of a concurrent group ([`crate::pipeline`]):
    /// the same account, settings and view (as of now), its own output, no untagged updates.
    /// Only for authenticated, non-anonymous sessions (see `pipeline::independent`).
    pub(crate) fn fork(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
            peer: self.peer,
            tls: self.tls,
            starttls_available: self.starttls_available,
            state: match &self.state {
                State::NotAuthenticated => State::NotAuthenticated,
                State::Authenticated => State::Authenticated,
                State::Selected(v) => State::Selected(v.clone()),
                State::Logout => State::Logout,
            },
            account: self.account.clone(),
            anonymous: None,
            out: Vec::new(),
            sasl: None,
            delay: None,
            saved: self.saved.clone(),
            // Live contexts stay with the session: a forked copy never runs a SEARCH/SORT
            // with UPDATE (pipeline::independent).
            contexts: Vec::new(),
            condstore: self.condstore,
            qresync: self.qresync,
            uidonly: self.uidonly,
            utf8: self.utf8,
            compressed: self.compressed,
            rev2: self.rev2,
            selected: self.selected.clone(),
            pending: None,
            forked: true,
            // Notifications are the session's; a fork reports nothing unasked.
            notify: None,
            key_mark: self.key_mark,
        }
    }

    /// The greeting (RFC 3501 §7.1.1).
    pub fn greeting(&mut self) {
        let caps = Code::Capability(self.capabilities());
        let text = format!("{} Pochta ready.", self.shared.config.hostname);
        response::write_status(&mut self.out, None, Status::Ok, Some(&caps), &text);
    }

    /// Whether a password may cross this connection in the clear.
    pub(crate) fn plaintext_ok(&self) -> bool {
        self.shared.config.plaintext.allows(self.tls, self.peer)
    }

    /// The CAPABILITY list for the current state (RFC 3501 §6.1.1).
    pub fn capabilities(&self) -> Vec<Cow<'static, str>> {
        // Only what fully works is advertised.
        const ALWAYS: &str = concat!(
            "IMAP4rev1 IMAP4rev2 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE",
            " CHILDREN SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH",
            " SEARCHRES WITHIN CONDSTORE QRESYNC STATUS=SIZE SAVEDATE OBJECTID PREVIEW",
            " UTF8=ACCEPT MULTIAPPEND BINARY QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE",
            " ACL RIGHTS=texk",
            " REPLACE LIST-MYRIGHTS PARTIAL UIDONLY CATENATE METADATA METADATA-SERVER",
            " SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS",
            " I18NLEVEL=1 CONTEXT=SEARCH CONTEXT=SORT",
            " URLAUTH URLAUTH=BINARY",
            " NOTIFY",
        );
        let mut c: Vec<Cow<'static, str>> = ALWAYS.split(' ').map(Cow::Borrowed).collect();
        // RFC 7377 (crate::multisearch); RFC 6203 (crate::fuzzy) needs the search index.
        c.push("MULTISEARCH".into());
        if self.shared.search.is_some() {
            c.push("SEARCH=FUZZY".into());
        }
        if !self.compressed {
            c.push("COMPRESS=DEFLATE".into());
        }
        if matches!(self.state, State::NotAuthenticated) {
            if !self.tls && self.starttls_available {
                c.push("STARTTLS".into());
            }
            if self.plaintext_ok() {
                c.extend(["AUTH=PLAIN".into(), "AUTH=LOGIN".into()]);
            } else {
                c.push("LOGINDISABLED".into());
            }
            c.push("AUTH=SCRAM-SHA-256".into());
            if self.shared.config.anonymous {
                c.push("AUTH=ANONYMOUS".into());
            }
        }
        c.push(format!("APPENDLIMIT={}", self.shared.config.max_message).into());
        c
    }

    /// Account of an authenticated session (anonymous sessions have none).
    pub(crate) fn account(&self) -> Res<&Account> {
        self.account.as_ref().ok_or_else(|| {
            if self.anonymous.is_some() {
                no(
                    Code::NoPerm,
                    "anonymous sessions have no mailboxes of their own",
                )
            } else {
                bad("not authenticated")
            }
        })
    }

    /// Who the session acts for: an account, or `None` when anonymous.
    pub(crate) fn me(&self) -> Res<Option<pochta_types::AccountId>> {
        if self.anonymous.is_some() {
            return Ok(None);
        }
        Ok(Some(self.account()?.id))
    }

    pub(crate) fn view(&self) -> Res<&View> {
        match &self.state {
            State::Selected(v) => Ok(v),
            _ => Err(bad("no mailbox selected")),
        }
    }

    pub(crate) fn view_mut(&mut self) -> Res<&mut View> {
        match &mut self.state {
            State::Selected(v) => Ok(v),
            _ => Err(bad("no mailbox selected")),
        }
    }

    /// Whether to show `\Recent` for a message (never in IMAP4rev2 mode).
    pub(crate) fn shows_recent(&self, uid: Uid) -> bool {
        !self.rev2 && self.view().is_ok_and(|v| v.is_recent(uid))
    }

    /// How the parser must read this session's commands.
    pub fn parse_options(&self) -> pochta_imap_proto::ParseOptions {
        pochta_imap_proto::ParseOptions {
            utf8_accept: self.utf8,
        }
    }

    /// The session noticed TLS is now active (after STARTTLS).
    pub fn tls_started(&mut self) {
        self.tls = true;
    }

    pub fn is_authenticated(&self) -> bool {
        self.account.is_some() || self.anonymous.is_some()
    }

    /// Answer a command that could not be parsed.
    pub fn parse_error(&mut self, e: ParseError) {
        let (status, code) = match e.kind {
            ParseErrorKind::Mailbox(_) => (Status::No, Some(Code::Cannot)),
            _ => (Status::Bad, None),
        };
        response::write_status(
            &mut self.out,
            e.tag.as_ref(),
            status,
            code.as_ref(),
            &e.message,
        );
    }

    /// Answer a framing error (line or literal too long).
    pub fn frame_error(&mut self, tag: Option<&Tag>, text: &str, too_big: bool) {
        if too_big && tag.is_some() {
            self.tagged(tag, Status::No, Some(&Code::TooBig), text);
        } else {
            self.tagged(tag, Status::Bad, None, text);
        }
    }

    /// A status response, tagged or (without a tag) untagged.
    pub(crate) fn tagged(
        &mut self,
        tag: Option<&Tag>,
        status: Status,
        code: Option<&Code>,
        text: &str,
    ) {
        response::write_status(&mut self.out, tag, status, code, text);
    }

    /// Handle one parsed command, writing its responses to `out`.
    pub fn handle(&mut self, cmd: Command) -> Next {
        let Command { tag, body } = cmd;
        let (name, started) = (body.name(), std::time::Instant::now());
        let allow_expunge = !matches!(
            &body,
            CommandBody::Fetch(f) if !f.uid
        ) && !matches!(&body, CommandBody::Store(s) if !s.uid)
            && !matches!(&body, CommandBody::Search(s) if !s.uid)
            && !matches!(&body, CommandBody::Sort(s) if !s.search.uid)
            && !matches!(&body, CommandBody::Thread(t) if !t.search.uid);
        if let Some(bucket) = &mut self.anonymous {
            self.delay = bucket.take();
        }
        let own = if self.notify.is_some() {
            crate::notify::own_change(&body)
        } else {
            crate::notify::Own::Nothing
        };
        let result = match self.check_state(&body) {
            Ok(()) if self.anonymous.is_some() && crate::anonymous::refuses(&body) => Err(no(
                Code::NoPerm,
                format!("{name} is not available to anonymous sessions (read-only)"),
            )),
            Ok(()) if self.uidonly && crate::uidonly::refuses(&body) => {
                Err(crate::uidonly::uid_required(name))
            }
            Ok(()) => self.dispatch(&tag, body),
            Err(e) => Err(e),
        };
        let ok = result.is_ok();
        if ok {
            self.notify_quiet_new(&own);
        }
        let next = self.finish(&tag, name, result, allow_expunge);
        self.notify_own(own, ok);
        pochta_metrics::imap_command(name, started.elapsed());
        next
    }

    /// Which commands each state allows (RFC 3501 §6).
    fn check_state(&self, body: &CommandBody) -> Res<()> {
        use CommandBody::*;
        let any = matches!(body, Capability | Noop | Logout | Id(_));
        if any {
            return Ok(());
        }
        let nonauth = matches!(body, StartTls | Authenticate(_) | Login(_));
        let selected_only = matches!(
            body,
            Check
                | Close
                | Unselect
                | Expunge
                | UidExpunge(_)
                | Search(_)
                | Sort(_)
                | Thread(_)
                | CancelUpdate(_)
                | Fetch(_)
                | Store(_)
                | Copy(_)
                | Move(_)
                | Replace(_)
        );
        match &self.state {
            State::NotAuthenticated if nonauth => Ok(()),
            State::NotAuthenticated => {
                Err(bad(format!("{} needs authentication first", body.name())))
            }
            _ if nonauth => Err(bad("already authenticated")),
            State::Authenticated if selected_only => {
                Err(bad(format!("{} needs a selected mailbox", body.name())))
            }
            State::Logout => Err(bad("logging out")),
            _ => Ok(()),
        }
    }

    fn dispatch(&mut self, tag: &Tag, body: CommandBody) -> Res {
        use CommandBody::*;
        match body {
            Capability => {
                let caps = self.capabilities();
                response::write_capability(&mut self.out, &caps);
                Done::ok("CAPABILITY completed")
            }
            Noop => Done::ok("NOOP completed"),
            Logout => {
                self.tagged(None, response::Status::Bye, None, "Logging out");
                self.state = State::Logout;
                Ok(Done {
                    code: None,
                    text: "LOGOUT completed".into(),
                    next: Next::Logout,
                })
            }
            Id(_) => self.id(),
            StartTls => {
                if self.tls {
                    return Err(bad("TLS is already active"));
                }
                if !self.starttls_available {
                    return Err(no(Code::Cannot, "TLS is not available"));
                }
                Ok(Done {
                    code: None,
                    text: "Begin TLS negotiation now".into(),
                    next: Next::StartTls,
                })
            }
            Login(l) => self.login(&l.username, l.password.expose()),
            Authenticate(a) => self.authenticate(
                tag,
                &a.mechanism,
                a.initial_response.as_ref().map(|s| s.expose().as_slice()),
            ),
            Enable(caps) => self.enable(caps),
            Namespace => self.namespace(),
            Select(s) => self.select(s, false),
            Examine(s) => self.select(s, true),
            Create(c) => self.create(c),
            Delete(m) => self.delete(&m),
            Rename(r) => self.rename(r),
            Subscribe(m) => self.subscribe(&m, true),
            Unsubscribe(m) => self.subscribe(&m, false),
            List(l) => self.list(l),
            Lsub(l) => self.lsub(l),
            Status(s) => self.status(s),
            Append(a) => self.append(a),
            Idle => self.idle(tag),
            Compress(mech) => self.compress(&mech),
            GetQuota(root) => self.getquota(&root),
            GetQuotaRoot(m) => self.getquotaroot(&m),
            SetQuota { .. } => self.setquota(),
            SetAcl(a) => self.setacl(a),
            DeleteAcl(e) => self.deleteacl(e),
            GetAcl(m) => self.getacl(&m),
            ListRights(e) => self.listrights(e),
            MyRights(m) => self.myrights(&m),
            GetMetadata(g) => self.getmetadata(g),
            SetMetadata(s) => self.setmetadata(s),
            UrlAuth(u) => self.urlauth(u),
            Notify(n) => self.notify_cmd(n),
            Check => Done::ok("CHECK completed"),
            Close => self.close(true),
            Unselect => self.close(false),
            Expunge => self.expunge(None),
            UidExpunge(set) => self.expunge(Some(set)),
            Search(s) => self.search(tag, s),
            Esearch(e) => self.esearch_cmd(tag, e),
            Sort(s) => self.sort(tag, s),
            Thread(t) => self.thread(tag, t),
            CancelUpdate(tags) => self.cancel_update(&tags),
            Fetch(f) => self.fetch(tag, f),
            Store(s) => self.store(s),
            Copy(c) => self.copy_move(c, false),
            Move(c) => self.copy_move(c, true),
            Replace(r) => self.replace(r),
        }
    }

    /// The one place where a command's outcome becomes responses: untagged updates of the
    /// selected mailbox, then the tagged completion.
    pub(crate) fn finish(
        &mut self,
        tag: &Tag,
        name: &str,
        result: Res,
        allow_expunge: bool,
    ) -> Next {
        let result = match result {
            Ok(done) if matches!(done.next, Next::Idle(_) | Next::SaslContinue | Next::More) => {
                return done.next;
            }
            other => other,
        };
        if !self.forked {
            if let Err(e) = self.sync(allow_expunge) {
                tracing::error!(error = %e, "syncing the selected mailbox failed");
            }
            self.report_key_resets();
        }
        match result {
            Ok(done) => {
                let text = if done.text.is_empty() {
                    format!("{name} completed")
                } else {
                    done.text
                };
                self.tagged(Some(tag), Status::Ok, done.code.as_ref(), &text);
                done.next
            }
            Err(Fail::Bad(text)) => {
                self.tagged(Some(tag), Status::Bad, None, &text);
                Next::Continue
            }
            Err(Fail::BadCode(code, text)) => {
                self.tagged(Some(tag), Status::Bad, Some(&code), &text);
                Next::Continue
            }
            Err(Fail::No(code, text)) => {
                self.tagged(Some(tag), Status::No, code.as_ref(), &text);
                Next::Continue
            }
            Err(Fail::Store(e)) => {
                let (code, text) = store_error(&e);
                if code == Code::ServerBug {
                    tracing::error!(command = name, error = %e, "store failure");
                }
                self.tagged(Some(tag), Status::No, Some(&code), &text);
                Next::Continue
            }
        }
    }

    /// Report what changed in the selected mailbox since the last report.
    pub fn sync(&mut self, allow_expunge: bool) -> Result<(), StoreError> {
        if !matches!(self.state, State::Selected(_)) {
            return Ok(());
        }
        let seen = match self.selected_seen_view() {
            Ok(v) => v,
            Err(Fail::Store(e)) => return Err(e),
            Err(_) => crate::acl::SeenView::Shared,
        };
        let State::Selected(view) = &mut self.state else {
            return Ok(());
        };
        let store = &self.shared.store;
        let mut changes = store.changes_since(view.mailbox, view.known_modseq)?;
        for m in &mut changes.changed {
            seen.apply(m.uid, &mut m.flags);
        }
        let has_new = changes
            .changed
            .iter()
            .any(|m| view.last_uid().is_none_or(|l| m.uid > l));
        let newly_recent = if has_new && !view.read_only {
            store.claim_recent(view.mailbox)?
        } else {
            Vec::new()
        };
        // Live contexts (RFC 5267) need the client's numbering from before this update.
        let before = (!self.contexts.is_empty()).then(|| view.uids().to_vec());
        let mark = self.out.len();
        let old_len = view.len();
        let updates = view.apply(changes, &newly_recent, allow_expunge);
        // New keywords on changed messages: FLAGS first (RFC 3501 §7.2.6).
        for u in &updates {
            if let Update::Flags { flags, .. } = u {
                self.announce_keywords(flags);
            }
        }
        write_updates(
            &mut self.out,
            updates,
            self.condstore,
            self.qresync || self.uidonly,
            self.rev2,
            self.uidonly,
        );
        if let Some(before) = before {
            self.update_contexts(&before, mark);
        }
        self.notify_fetch_new(old_len);
        Ok(())
    }

    /// Write the next chunk of a FETCH's responses ([`Next::More`]); the tagged completion
    /// comes with the last one.
    pub fn resume(&mut self) -> Next {
        let Some(mut p) = self.pending.take() else {
            return Next::Continue;
        };
        let (tag, allow_expunge) = (p.tag.clone(), p.allow_expunge);
        let result = match self.fetch_chunk(&mut p) {
            Ok(None) => {
                self.pending = Some(p);
                return Next::More;
            }
            Ok(Some(done)) => Ok(done),
            Err(e) => Err(e),
        };
        self.finish(&tag, "FETCH", result, allow_expunge)
    }
}

/// The one mapping of store errors to response codes (RFC 5530, RFC 9051 §7.1).
fn store_error(e: &StoreError) -> (Code, String) {
    match e {
        StoreError::NotFound(what) => (Code::NonExistent, format!("{what} does not exist")),
        StoreError::AlreadyExists(what) => (Code::AlreadyExists, format!("{what} already exists")),
        StoreError::NotAllowed(why) => (Code::Cannot, why.clone()),
        StoreError::HasChildren(what) => (Code::HasChildren, format!("{what} has child mailboxes")),
        StoreError::Limit(what) => (Code::Limit, format!("limit reached: {what}")),
        // RFC 9208 §4.3.1.
        StoreError::OverQuota(e) => (Code::OverQuota, format!("over quota: {e}")),
        StoreError::Backend(_) => (
            Code::ServerBug,
            "internal storage error; the administrator can find details in the log".to_string(),
        ),
    }
}

/// Write untagged updates. With QRESYNC enabled, expunges are one `VANISHED` response
/// instead of `EXPUNGE`s (RFC 7162 §3.2.10); with CONDSTORE, flag changes carry MODSEQ.
/// In IMAP4rev2 mode there is no `\Recent` and no RECENT response (RFC 9051 Appendix E
/// item 12). With UIDONLY, flag changes are UIDFETCH responses (RFC 9586 §3.3).
pub(crate) fn write_updates(
    out: &mut Vec<u8>,
    updates: Vec<Update>,
    condstore: bool,
    qresync: bool,
    rev2: bool,
    uidonly: bool,
) {
    if qresync {
        let mut gone: Vec<u32> = updates
            .iter()
            .filter_map(|u| match u {
                Update::Expunge { uid, .. } => Some(uid.get()),
                _ => None,
            })
            .collect();
        if !gone.is_empty() {
            gone.sort_unstable();
            response::write_vanished(out, false, &gone);
        }
    }
    for u in updates {
        match u {
            Update::Expunge { .. } if qresync => {}
            Update::Recent(_) if rev2 => {}
            Update::Flags {
                seq,
                uid,
                flags,
                modseq,
                ..
            } if rev2 => write_update(
                out,
                Update::Flags {
                    seq,
                    uid,
                    flags,
                    recent: false,
                    modseq,
                },
                condstore,
                uidonly,
            ),
            u => write_update(out, u, condstore, uidonly),
        }
    }
}

fn write_update(out: &mut Vec<u8>, u: Update, condstore: bool, uidonly: bool) {
    match u {
        Update::Expunge { seq, .. } => response::write_expunge(out, seq),
        Update::Exists(n) => response::write_exists(out, n),
        Update::Recent(n) => response::write_recent(out, n),
        Update::Flags {
            seq,
            uid,
            flags,
            recent,
            modseq,
        } => {
            let mut w = crate::uidonly::fetch_writer(out, uidonly, seq, uid);
            w.uid(uid.get()).flags(&flags, recent);
            if condstore {
                w.modseq(modseq.get());
            }
            w.finish();
        }
    }
}
