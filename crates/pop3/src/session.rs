//! One POP3 session: states, the dispatcher, and the one place where failures become `-ERR`.
//!
//! Implementation notes:
//! - States (RFC 1939 §3) are an enum whose variants carry only what is valid there:
//!   [`State::Authorization`] (with the name from `USER`, if any), [`State::Transaction`] (the
//!   account, the maildrop snapshot and the lock guard), [`State::Update`] (after `QUIT`).
//!   [`Session::check_state`] alone decides which command each state allows.
//! - Failures are classified once, in [`Fail`] and [`Session::fail`]: syntax and state errors
//!   → `-ERR reason`; bad credentials → `-ERR [AUTH]` (RFC 3206 §4); plaintext refused →
//!   `-ERR [AUTH]` saying to use STLS; maildrop locked → `-ERR [IN-USE]` (RFC 2449 §8.1.2);
//!   throttled or store failure → `-ERR [SYS/TEMP]` (RFC 3206 §4) and, for the store, a log
//!   line. I/O never reaches here: the driver closes the connection.
//! - Every status line is written by `pochta_pop3_proto::reply`, which turns control
//!   characters in the text into spaces: replies echo client text (a user name, a SASL mechanism), and a CR
//!   inside a command line must not split the reply into two (found by the `pop3_session`
//!   fuzz target).
//! - APOP (RFC 1939 §7) needs the plaintext password (or an MD5 secret) on the server; Pochta
//!   stores only Argon2id hashes and SCRAM secrets, so APOP is not advertised (no timestamp
//!   in the greeting) and the command is refused with a reason.
//! - DELE only marks (RFC 1939 §6). Only `QUIT` in TRANSACTION enters UPDATE and removes the
//!   marked messages: set `\Deleted` on exactly those UIDs, then expunge exactly those UIDs
//!   (store `expunge(inbox, Some(uids))`), so a message an IMAP client flagged `\Deleted` but
//!   did not expunge is left alone. If the expunge fails, the `\Deleted` flags we added are
//!   removed again (messages that had it before keep it) and QUIT answers `-ERR [SYS/TEMP]`.
//!   A connection that ends any other way deletes nothing. Other sessions learn of the
//!   expunge through the store's change bus.
//! - RETR sets `\Seen` only when [`Pop3Config::mark_seen`] is on; TOP never does.
//! - Plaintext passwords (USER/PASS, AUTH PLAIN/LOGIN) only where [`PlaintextPolicy`]
//!   allows; SCRAM-SHA-256 is always offered. Every failed login goes through the shared
//!   [`pochta_auth::Throttle`]; password checks go through the shared [`AuthCache`].

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use pochta_auth::{
    AuthCache, Context as LoginContext, Directory, Login, Mechanism, Outcome, PlaintextPolicy,
    Protocol, Throttle,
};
use pochta_store::{Account, FlagOp, MailStore, StoreError};
use pochta_types::{Flag, Flags, MailboxName};

use crate::maildrop::{Entry, LockGuard, Locks, Maildrop, top};
use pochta_pop3_proto::command::{self, Command, ParseError};
use pochta_pop3_proto::framer::DEFAULT_MAX_LINE;
use pochta_pop3_proto::reply::{self, Code, write_multiline};

/// Longest SASL response line accepted (RFC 5034 §4 lifts the command limit for them).
pub const MAX_SASL_LINE: usize = 8192;

/// Settings of the POP3 service.
#[derive(Debug, Clone)]
pub struct Pop3Config {
    pub hostname: String,
    pub plaintext: PlaintextPolicy,
    /// RETR marks the message `\Seen` (off by default: POP3 reads are not IMAP reads).
    pub mark_seen: bool,
    /// Longest command line, CRLF included (RFC 2449 §4 says 255; see `framer`).
    pub max_line: usize,
    /// The total time from the greeting to a successful login (not per read).
    pub login_timeout: Duration,
}

impl Default for Pop3Config {
    fn default() -> Self {
        Pop3Config {
            hostname: "localhost".into(),
            plaintext: PlaintextPolicy::TlsOrLoopback,
            mark_seen: false,
            max_line: DEFAULT_MAX_LINE,
            login_timeout: Duration::from_secs(60),
        }
    }
}

/// What every session of a server shares.
pub struct Shared<S> {
    pub store: Arc<S>,
    pub config: Pop3Config,
    pub throttle: Arc<Throttle>,
    pub auth_cache: Arc<AuthCache>,
    pub locks: Locks,
}

/// What the driver does after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    /// Write the output, drop buffered input, run the TLS handshake, call
    /// [`Session::tls_started`].
    StartTls,
    /// Write the output and close.
    Close,
}

/// RFC 1939 §3 states.
enum State {
    Authorization { user: Option<String> },
    Transaction(Box<Transaction>),
    Update,
}

struct Transaction {
    account: Account,
    mailbox: pochta_types::MailboxId,
    drop: Maildrop,
    _lock: LockGuard,
    /// The store's lock, which holds across processes and nodes (`None`: the store keeps
    /// none, the in-process lock is the lock).
    _store_lock: Option<pochta_store::MaildropLock>,
}

/// Why a command failed; turned into an `-ERR` line in [`Session::fail`] only.
#[derive(Debug)]
pub enum Fail {
    /// Syntax, wrong state, no such message: the text is the reason.
    Err(String),
    /// Bad credentials (RFC 3206 `[AUTH]`).
    Auth(String),
    /// Maildrop locked by another session (RFC 2449 `[IN-USE]`).
    InUse,
    /// Temporary: throttled, shutting down (RFC 3206 `[SYS/TEMP]`).
    Temp(String),
    /// The store failed; logged, answered `[SYS/TEMP]`.
    Store(StoreError),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<ParseError> for Fail {
    fn from(e: ParseError) -> Self {
        Fail::Err(e.to_string())
    }
}

fn err(text: impl Into<String>) -> Fail {
    Fail::Err(text.into())
}

type Res<T = ()> = Result<T, Fail>;

const PLAINTEXT_REFUSED: &str =
    "Plaintext authentication is disabled on this connection; use STLS first";

/// One POP3 session, sans-IO: lines in, bytes in [`Session::out`].
pub struct Session<S> {
    shared: Arc<Shared<S>>,
    peer: IpAddr,
    tls: bool,
    starttls_available: bool,
    state: State,
    /// A SASL exchange waiting for the client's next line.
    sasl: Option<Login<Account>>,
    /// Bytes to write.
    pub out: Vec<u8>,
    /// How long the driver waits before writing (failed logins, RFC 1939 §8 advice).
    pub delay: Option<Duration>,
}

impl<S: MailStore> Session<S> {
    pub fn new(shared: Arc<Shared<S>>, peer: IpAddr, tls: bool, starttls_available: bool) -> Self {
        Session {
            shared,
            peer,
            tls,
            starttls_available,
            state: State::Authorization { user: None },
            sasl: None,
            out: Vec::with_capacity(256),
            delay: None,
        }
    }

    /// RFC 1939 §4. No APOP timestamp: APOP is not offered (see the notes on top).
    pub fn greeting(&mut self) {
        let line = format!("+OK {} Pochta ready\r\n", self.shared.config.hostname);
        self.out.extend_from_slice(line.as_bytes());
    }

    pub fn tls_started(&mut self) {
        self.tls = true;
    }

    pub fn is_authenticated(&self) -> bool {
        matches!(self.state, State::Transaction(_))
    }

    /// The line limit for the next line from the client.
    pub fn line_limit(&self) -> usize {
        if self.sasl.is_some() {
            MAX_SASL_LINE
        } else {
            self.shared.config.max_line
        }
    }

    fn plaintext_ok(&self) -> bool {
        self.shared.config.plaintext.allows(self.tls, self.peer)
    }

    fn can_stls(&self) -> bool {
        self.starttls_available && !self.tls && matches!(self.state, State::Authorization { .. })
    }

    fn ok(&mut self, text: &str) {
        reply::ok(&mut self.out, text);
    }

    /// The one place failures become replies.
    fn fail(&mut self, f: Fail) {
        let (code, text) = match f {
            Fail::Err(t) => (None, t),
            Fail::Auth(t) => (Some(Code::Auth), t),
            Fail::InUse => (
                Some(Code::InUse),
                "Maildrop is locked by another POP3 session".into(),
            ),
            Fail::Temp(t) => (Some(Code::SysTemp), t),
            Fail::Store(e) => {
                tracing::error!(peer = %self.peer, error = %e, "POP3 store failure");
                (
                    Some(Code::SysTemp),
                    "Internal storage error; try again later".into(),
                )
            }
        };
        reply::err(&mut self.out, code, &text);
    }

    /// The reply to a line that exceeded the limit.
    pub fn line_too_long(&mut self) {
        if self.sasl.take().is_some() {
            self.fail(err("SASL response too long; authentication cancelled"));
        } else {
            let max = self.shared.config.max_line;
            self.fail(err(format!("Line too long (limit {max} octets)")));
        }
    }

    /// The reply to a shutdown while the session is open.
    pub fn shutting_down(&mut self) {
        self.fail(Fail::Temp(
            "Server shutting down; nothing was deleted".into(),
        ));
    }

    /// Handles one line from the client (without CRLF).
    pub fn handle_line(&mut self, line: &[u8]) -> Next {
        if let Some(sasl) = self.sasl.take() {
            return match self.sasl_line(sasl, line) {
                Ok(()) => Next::Continue,
                Err(f) => {
                    self.fail(f);
                    Next::Continue
                }
            };
        }
        let result = command::parse(line)
            .map_err(Fail::from)
            .and_then(|cmd| self.check_state(&cmd).map(|()| cmd))
            .and_then(|cmd| self.dispatch(cmd));
        match result {
            Ok(next) => next,
            Err(f) => {
                self.fail(f);
                Next::Continue
            }
        }
    }

    /// Which commands each state allows (RFC 1939 §§4–6, RFC 2449 §5 for CAPA).
    fn check_state(&mut self, cmd: &Command) -> Res {
        let name = cmd.name();
        match &mut self.state {
            State::Authorization { user } => {
                // PASS must follow USER directly (RFC 1939 §7).
                if !matches!(cmd, Command::Pass(_)) && !matches!(cmd, Command::User(_)) {
                    *user = None;
                }
                match cmd {
                    Command::User(_)
                    | Command::Pass(_)
                    | Command::Apop { .. }
                    | Command::Auth { .. }
                    | Command::Stls
                    | Command::Capa
                    | Command::Quit => Ok(()),
                    _ => Err(err(format!("{name} is not allowed before login"))),
                }
            }
            State::Transaction(_) => match cmd {
                Command::User(_)
                | Command::Pass(_)
                | Command::Apop { .. }
                | Command::Auth { .. }
                | Command::Stls => Err(err(format!("{name} is not allowed after login"))),
                _ => Ok(()),
            },
            State::Update => Err(err("Session is ending")),
        }
    }

    fn dispatch(&mut self, cmd: Command) -> Res<Next> {
        match cmd {
            Command::Capa => self.capa(),
            Command::Quit => return self.quit(),
            Command::Stls => {
                if self.tls {
                    return Err(err("TLS is already active"));
                }
                if !self.starttls_available {
                    return Err(err("STLS is not available on this listener"));
                }
                self.ok("Begin TLS negotiation");
                return Ok(Next::StartTls);
            }
            Command::User(name) => {
                if !self.plaintext_ok() {
                    return Err(Fail::Auth(PLAINTEXT_REFUSED.into()));
                }
                self.ok(&format!("{name} is welcome here; send PASS"));
                self.state = State::Authorization { user: Some(name) };
            }
            Command::Pass(password) => {
                let State::Authorization { user } = &mut self.state else {
                    return Err(err("PASS is not allowed now"));
                };
                let Some(name) = user.take() else {
                    return Err(err("Send USER first"));
                };
                if !self.plaintext_ok() {
                    return Err(Fail::Auth(PLAINTEXT_REFUSED.into()));
                }
                self.verify_and_login(&name, password.expose())?;
            }
            Command::Apop { .. } => {
                return Err(err(
                    "APOP is not available: the server keeps no APOP secret; use USER/PASS or AUTH",
                ));
            }
            Command::Auth { mechanism, initial } => self.auth(mechanism, initial)?,
            Command::Stat => {
                let (n, size) = self.maildrop()?.stat();
                self.ok(&format!("{n} {size}"));
            }
            Command::List(None) => {
                let lines: Vec<String> = {
                    let d = self.maildrop()?;
                    d.live().map(|(n, e)| format!("{n} {}", e.size)).collect()
                };
                self.multi_listing("scan listing follows", &lines);
            }
            Command::List(Some(n)) => {
                let size = self.entry(n)?.size;
                self.ok(&format!("{n} {size}"));
            }
            Command::Uidl(None) => {
                let lines: Vec<String> = {
                    let d = self.maildrop()?;
                    d.live()
                        .map(|(n, e)| format!("{n} {}", d.uidl(e)))
                        .collect()
                };
                self.multi_listing("unique-id listing follows", &lines);
            }
            Command::Uidl(Some(n)) => {
                let e = self.entry(n)?.clone();
                let id = self.maildrop()?.uidl(&e);
                self.ok(&format!("{n} {id}"));
            }
            Command::Retr(n) => self.retr(n, None)?,
            Command::Top { msg, lines } => self.retr(msg, Some(lines))?,
            Command::Dele(n) => {
                self.entry(n)?;
                if let State::Transaction(t) = &mut self.state
                    && let Some(e) = t.drop.get_mut(n)
                {
                    e.deleted = true;
                }
                self.ok(&format!("message {n} deleted"));
            }
            Command::Noop => self.ok("still here"),
            Command::Rset => {
                let (n, size) = {
                    let State::Transaction(t) = &mut self.state else {
                        return Err(err("RSET is not allowed now"));
                    };
                    for e in &mut t.drop.entries {
                        e.deleted = false;
                    }
                    t.drop.stat()
                };
                self.ok(&format!("maildrop has {n} messages ({size} octets)"));
            }
        }
        Ok(Next::Continue)
    }

    fn transaction(&self) -> Res<&Transaction> {
        match &self.state {
            State::Transaction(t) => Ok(t),
            _ => Err(err("Not logged in")),
        }
    }

    fn maildrop(&self) -> Res<&Maildrop> {
        Ok(&self.transaction()?.drop)
    }

    /// A message that exists and is not marked deleted (RFC 1939 §5).
    fn entry(&self, n: u32) -> Res<&Entry> {
        match self.maildrop()?.get(n) {
            None => Err(err(format!("no such message: {n}"))),
            Some(e) if e.deleted => Err(err(format!("message {n} already deleted"))),
            Some(e) => Ok(e),
        }
    }

    /// `+OK head`, then `lines` (without CRLF) as a multi-line response.
    fn multi_listing(&mut self, head: &str, lines: &[String]) {
        self.ok(head);
        reply::write_lines(&mut self.out, lines);
    }

    /// RFC 2449 §5. STLS and the plaintext mechanisms only where they may be used.
    fn capa(&mut self) {
        let mut caps: Vec<String> = vec!["TOP".into(), "UIDL".into()];
        let auth_state = matches!(self.state, State::Authorization { .. });
        let plain = self.plaintext_ok();
        if auth_state && plain {
            caps.push("USER".into());
        }
        if auth_state {
            let mechs: Vec<&str> = Mechanism::ALL
                .iter()
                .filter(|m| plain || !m.sends_password())
                .map(|m| m.name())
                .collect();
            caps.push(format!("SASL {}", mechs.join(" ")));
        }
        caps.push("RESP-CODES".into());
        caps.push("AUTH-RESP-CODE".into());
        caps.push("PIPELINING".into());
        // We never delete mail on our own (RFC 2449 §6.7).
        caps.push("EXPIRE NEVER".into());
        if self.can_stls() {
            caps.push("STLS".into());
        }
        caps.push("IMPLEMENTATION Pochta".into());
        self.multi_listing("Capability list follows", &caps);
    }

    fn quit(&mut self) -> Res<Next> {
        match std::mem::replace(&mut self.state, State::Update) {
            State::Transaction(t) => {
                let result = self.update(&t);
                // The lock is released here, after the expunge committed.
                drop(t);
                match result {
                    Ok(n) => self.ok(&format!(
                        "{} POP3 server signing off ({n} messages deleted)",
                        self.shared.config.hostname
                    )),
                    Err(f) => self.fail(f),
                }
            }
            _ => self.ok(&format!(
                "{} POP3 server signing off",
                self.shared.config.hostname
            )),
        }
        Ok(Next::Close)
    }

    /// The UPDATE state (RFC 1939 §6): remove exactly the messages marked by DELE.
    fn update(&self, t: &Transaction) -> Res<usize> {
        let uids = t.drop.deleted_uids();
        if uids.is_empty() {
            return Ok(0);
        }
        let store = &self.shared.store;
        let deleted = Flags::from_flags([&Flag::Deleted]);
        let outcome = store.store_flags(t.mailbox, &uids, FlagOp::Add, &deleted, None)?;
        match store.expunge(t.mailbox, Some(&uids)) {
            Ok(gone) => {
                tracing::info!(account = %t.account.address, deleted = gone.len(), "POP3 update");
                Ok(gone.len())
            }
            Err(e) => {
                // Put back what we changed, so nothing is left flagged for another expunge.
                let added: Vec<_> = outcome
                    .updated
                    .iter()
                    .zip(&outcome.changed)
                    .filter(|(_, c)| **c)
                    .map(|(s, _)| s.uid)
                    .collect();
                if !added.is_empty()
                    && let Err(e2) =
                        store.store_flags(t.mailbox, &added, FlagOp::Remove, &deleted, None)
                {
                    tracing::error!(error = %e2, "POP3: could not restore flags after a failed expunge");
                }
                Err(Fail::Store(e))
            }
        }
    }

    /// RETR (`lines` = `None`) and TOP.
    fn retr(&mut self, n: u32, lines: Option<u32>) -> Res {
        let (uid, size, blob, mailbox) = {
            let e = self.entry(n)?;
            let t = self.transaction()?;
            (e.uid, e.size, e.blob.clone(), t.mailbox)
        };
        let bytes = match self.shared.store.blob(&blob) {
            Ok(b) => b,
            Err(StoreError::NotFound(_)) => {
                return Err(err(format!("message {n} was removed by another session")));
            }
            Err(e) => return Err(Fail::Store(e)),
        };
        match lines {
            None => {
                self.ok(&format!("{size} octets"));
                write_multiline(&mut self.out, &bytes);
                if self.shared.config.mark_seen {
                    let seen = Flags::from_flags([&Flag::Seen]);
                    // The message is already sent; a failure to flag it only gets logged.
                    if let Err(e) =
                        self.shared
                            .store
                            .store_flags(mailbox, &[uid], FlagOp::Add, &seen, None)
                    {
                        tracing::warn!(error = %e, "POP3: could not set \\Seen after RETR");
                    }
                }
            }
            Some(l) => {
                self.ok("top of message follows");
                write_multiline(&mut self.out, top(&bytes, l));
            }
        }
        Ok(())
    }

    // --- authentication ---

    /// What the login flow needs to know about this connection.
    fn login_context(&self) -> LoginContext<'_> {
        LoginContext {
            protocol: Protocol::Pop3,
            peer: self.peer,
            plaintext: self.plaintext_ok(),
            anonymous: false,
            throttle: &self.shared.throttle,
            cache: &self.shared.auth_cache,
        }
    }

    fn verify_and_login(&mut self, user: &str, password: &str) -> Res {
        let shared = Arc::clone(&self.shared);
        let outcome = Login::password(
            &self.login_context(),
            &Directory(&*shared.store),
            user,
            password,
        );
        self.login_outcome(outcome)
    }

    /// Lock the maildrop and take the snapshot (RFC 1939 §8, §5).
    fn enter_transaction(&mut self, account: Account) -> Res {
        let Some(lock) = self.shared.locks.try_lock(account.id) else {
            return Err(Fail::InUse);
        };
        let store = &self.shared.store;
        let store_lock = match store.maildrop_lock(account.id) {
            Ok(Some(l)) => Some(l),
            Ok(None) => return Err(Fail::InUse),
            Err(StoreError::NotAllowed(_)) => None,
            Err(e) => return Err(Fail::Store(e)),
        };
        let Some(inbox) = store.mailbox(account.id, &MailboxName::inbox())? else {
            return Err(Fail::Store(StoreError::NotFound("INBOX".into())));
        };
        let uids: Vec<_> = store
            .summaries(inbox.id)?
            .into_iter()
            .map(|s| s.uid)
            .collect();
        let entries = store
            .records(inbox.id, &uids, false)?
            .into_iter()
            .map(|r| Entry {
                uid: r.uid,
                size: r.size,
                blob: r.blob,
                deleted: false,
            })
            .collect();
        let drop = Maildrop {
            uid_validity: inbox.uid_validity,
            entries,
        };
        let (n, size) = drop.stat();
        tracing::info!(account = %account.address, peer = %self.peer, messages = n, "POP3 login");
        self.state = State::Transaction(Box::new(Transaction {
            account,
            mailbox: inbox.id,
            drop,
            _lock: lock,
            _store_lock: store_lock,
        }));
        self.ok(&format!(
            "maildrop locked and ready: {n} messages ({size} octets)"
        ));
        Ok(())
    }

    /// `AUTH` (RFC 5034 §4).
    fn auth(&mut self, mechanism: Option<String>, initial: Option<String>) -> Res {
        let plain = self.plaintext_ok();
        let Some(name) = mechanism else {
            // The mechanism list some clients ask for with a bare AUTH.
            let lines: Vec<String> = Mechanism::ALL
                .iter()
                .filter(|m| plain || !m.sends_password())
                .map(|m| m.name().to_owned())
                .collect();
            self.multi_listing("SASL mechanisms follow", &lines);
            return Ok(());
        };
        let shared = Arc::clone(&self.shared);
        let outcome = Login::authenticate(
            &self.login_context(),
            &Directory(&*shared.store),
            &name,
            initial.as_deref().map(str::as_bytes),
        );
        match outcome {
            Outcome::Unsupported => Err(err(format!("Unsupported SASL mechanism {name}"))),
            Outcome::NotBase64 => Err(err("Initial response is not base64")),
            outcome => self.login_outcome(outcome),
        }
    }

    fn sasl_line(&mut self, login: Login<Account>, line: &[u8]) -> Res {
        let shared = Arc::clone(&self.shared);
        let outcome = login.line(&self.login_context(), &Directory(&*shared.store), line);
        self.login_outcome(outcome)
    }

    /// The one mapping of the login flow's outcomes to POP3 replies (RFC 3206 codes).
    fn login_outcome(&mut self, outcome: Outcome<Account, StoreError>) -> Res {
        self.delay = outcome.delay();
        match outcome {
            Outcome::Challenge { challenge, next } => {
                self.out.extend_from_slice(b"+ ");
                self.out.extend_from_slice(challenge.as_bytes());
                self.out.extend_from_slice(b"\r\n");
                self.sasl = Some(next);
                Ok(())
            }
            Outcome::LoggedIn(account) => self.enter_transaction(account),
            Outcome::Failed { .. } | Outcome::Anonymous(_) => {
                Err(Fail::Auth("Authentication failed".into()))
            }
            Outcome::Throttled { retry_after } => Err(Fail::Temp(format!(
                "Too many failed logins; try again in {} seconds",
                retry_after.as_secs().max(1)
            ))),
            Outcome::PlaintextRefused => Err(Fail::Auth(PLAINTEXT_REFUSED.into())),
            Outcome::Unsupported => Err(err("Unsupported SASL mechanism")),
            Outcome::NotBase64 => Err(err("SASL response is not base64; authentication cancelled")),
            Outcome::Malformed(m) => Err(err(format!("Malformed SASL response: {m}"))),
            Outcome::Cancelled => Err(err("Authentication cancelled")),
            Outcome::Store(e) => Err(Fail::Store(e)),
        }
    }
}
