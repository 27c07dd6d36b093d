//! One SMTP session: state, the command dispatcher, and the one place where outcomes become
//! replies.
//!
//! Implementation notes:
//! - Sans-IO: the session takes command lines and received bodies and appends replies to
//!   [`Session::out`]; the [`crate::driver`] moves bytes, runs the async SPF/DKIM/DMARC check
//!   and performs STARTTLS. What the driver must do next is a [`Next`].
//! - State (RFC 5321 §4.1.4): `helo` (none until EHLO/HELO), `account` (submission, after
//!   AUTH), `envelope` (between MAIL and the end of DATA/BDAT LAST or RSET). A second MAIL
//!   inside a transaction, RCPT before MAIL and DATA before RCPT are `503 5.5.1`.
//! - Errors are classified once, in [`Fail`] → [`Session::fail`]: syntax → `500`/`501`/`555`;
//!   a refusal the client can act on → its own code; delivery and store errors → the reply
//!   `pochta_delivery::DeliveryError::reply` gives (a store failure is `451 4.3.0` and a log
//!   line). Every 4xx/5xx counts toward `max_errors`, after which the session says `421` and
//!   closes (RFC 5321 §4.5.3.1.9 permits it).
//! - No open relay (ARCHITECTURE.md "Security defaults"): on the MTA listener only recipients in
//!   local domains are accepted; others get `554 5.7.1`. Submission requires AUTH before MAIL
//!   (`530 5.7.0`, RFC 4954 §6) and the sender must be the account or one of its aliases.
//! - Recipients are resolved (account, alias, catch-all, quota) and local mail stored by
//!   [`pochta_delivery::Delivery`], the path every local delivery takes.
//! - Durability: `250` to the end of DATA/BDAT LAST is written only after
//!   [`pochta_delivery::Delivery::deliver`] returned, which fsyncs (and after the outbound
//!   queue accepted remote recipients, which is durable by contract).
//! - STARTTLS (RFC 3207 §4.2): after the handshake everything learned before is forgotten:
//!   HELO, AUTH and the envelope; the driver drops any pipelined plaintext.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pochta_auth::{Context as LoginContext, Directory, Login, Mechanism, Outcome, Protocol};
use pochta_delivery::{Delivery, DeliveryError, LocalMessage, Resolved};
use pochta_smtp_proto::{
    Body, Command, Envelope as Outbound, Event, MailParams, Notify, ParseError, Path, RcptParams,
    Recipient, Reply, parse_command,
};
use pochta_store::{Account, MailStore, StoreError};
use pochta_types::event::Event as LogEvent;
use pochta_types::{AccountId, Address, Flag, Flags};

use crate::authcheck::AuthOutcome;
use crate::{Kind, Shared};

/// What the driver must do after feeding the session.
#[derive(Debug)]
pub enum Next {
    /// Write the output and read on.
    Continue,
    /// Write the output, then upgrade to TLS and call [`Session::tls_started`].
    StartTls,
    /// Write the output and close the connection.
    Close,
    /// `354` was sent: receive a DATA body of at most this many bytes.
    ReadData(u64),
    /// Receive a BDAT chunk of `size` bytes (dropped if `keep` is false).
    ReadBdat { size: u64, keep: bool },
    /// A `334` challenge was sent: feed the next line to [`Session::handle_line`] as usual.
    Sasl,
    /// A complete message: check it (inbound) and call [`Session::finish_message`].
    Message(Box<Received>),
}

/// A message received whole, waiting for its checks and delivery.
#[derive(Debug)]
pub struct Received {
    pub body: Vec<u8>,
    /// How many bytes of the beginning of the body the driver holds on disk (BDAT chunks
    /// taken with [`Session::take_chunks`]); they go before `body`.
    pub spooled: u64,
    envelope: Envelope,
}

impl Received {
    /// The MAIL FROM address, empty for the null sender.
    pub fn mail_from(&self) -> String {
        self.envelope
            .from
            .as_ref()
            .map(Path::to_string)
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
enum Rcpt {
    Local { account: AccountId, given: String },
    Remote { path: Path, params: RcptParams },
}

#[derive(Debug, Clone)]
struct Envelope {
    from: Option<Path>,
    params: MailParams,
    rcpts: Vec<Rcpt>,
}

/// BDAT transfer in progress (RFC 3030).
#[derive(Debug, Default)]
struct Chunks {
    body: Vec<u8>,
    /// Bytes of earlier chunks taken by the driver ([`Session::take_chunks`]).
    spooled: u64,
    /// The current chunk is the last one.
    last: bool,
    /// Why the current chunk is being dropped; answered when it has been read.
    refused: Option<Reply>,
}

/// Every way a command can fail; turned into a reply in [`Session::fail`] only.
#[derive(Debug)]
enum Fail {
    Parse(ParseError),
    /// A reply the client can act on.
    Refuse(Reply),
    /// Resolution or storage: answered as [`DeliveryError::reply`] says; a store failure
    /// is logged.
    Delivery(DeliveryError),
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Delivery(DeliveryError::Store(e))
    }
}

impl From<DeliveryError> for Fail {
    fn from(e: DeliveryError) -> Self {
        Fail::Delivery(e)
    }
}

fn refuse(code: u16, status: &'static str, text: impl Into<String>) -> Fail {
    Fail::Refuse(Reply::new(code, status, text))
}

fn bad_sequence(text: &str) -> Fail {
    refuse(503, "5.5.1", text)
}

type Res = Result<Next, Fail>;

/// One SMTP session.
pub struct Session<S> {
    shared: Arc<Shared<S>>,
    delivery: Delivery<S>,
    peer: SocketAddr,
    tls: Option<String>,
    starttls_available: bool,
    helo: Option<(String, bool)>,
    account: Option<Account>,
    envelope: Option<Envelope>,
    chunks: Option<Chunks>,
    sasl: Option<Login<Account>>,
    errors: u32,
    /// Commands since the last MAIL (or the start); bounded to stop idle chatter.
    idle_commands: u32,
    /// Replies to write.
    pub out: Vec<u8>,
    /// A pause the driver takes before writing (failed AUTH).
    pub delay: Option<Duration>,
    /// The envelope as the client gave it, for the log line of a refusal.
    given: Given,
}

/// What the client gave in the current command and transaction, as it wrote it (bounded).
#[derive(Default)]
struct Given {
    /// The verb of the command being answered.
    verb: String,
    /// The MAIL FROM path of the transaction.
    from: Option<String>,
    /// The RCPT TO path being answered.
    to: Option<String>,
}

/// How much of a command line the refusal log keeps.
const MAX_GIVEN: usize = 512;

impl Given {
    fn note(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(&line[..line.len().min(MAX_GIVEN)]);
        let text = text.trim_end_matches(['\r', '\n']);
        let verb = text.split(' ').next().unwrap_or("");
        self.verb = verb
            .chars()
            .take(12)
            .collect::<String>()
            .to_ascii_uppercase();
        self.to = None;
        match self.verb.as_str() {
            "MAIL" => self.from = Some(path_given(text, "MAIL FROM:")),
            "RCPT" => self.to = Some(path_given(text, "RCPT TO:")),
            "DATA" | "BDAT" | "BURL" => {}
            _ => self.from = None,
        }
    }
}

/// The path after `prefix` as written (`<a@b>`, up to its `>`), or the arguments after the verb.
fn path_given(text: &str, prefix: &str) -> String {
    let rest = match text.get(..prefix.len()) {
        Some(p) if p.eq_ignore_ascii_case(prefix) => &text[prefix.len()..],
        _ => text.split_once(' ').map_or("", |(_, r)| r),
    };
    let rest = rest.trim_start();
    let end = if rest.starts_with('<') {
        rest.find('>').map_or(rest.len(), |i| i + 1)
    } else {
        rest.find(' ').unwrap_or(rest.len())
    };
    rest[..end].to_string()
}

impl<S: MailStore> Session<S> {
    /// `tls` describes the TLS connection if it began encrypted (implicit TLS).
    pub fn new(
        shared: Arc<Shared<S>>,
        peer: SocketAddr,
        tls: Option<String>,
        starttls_available: bool,
    ) -> Self {
        Session {
            delivery: Delivery::new(Arc::clone(&shared.store)),
            shared,
            peer,
            tls,
            starttls_available,
            helo: None,
            account: None,
            envelope: None,
            chunks: None,
            sasl: None,
            errors: 0,
            idle_commands: 0,
            out: Vec::with_capacity(256),
            delay: None,
            given: Given::default(),
        }
    }

    /// Every reply is written here; every refusal (4xx, 5xx) is logged here.
    fn reply(&mut self, r: Reply) {
        if r.code >= 400 {
            self.log_refusal(&r);
        }
        r.encode(&mut self.out);
    }

    /// The one log line of a refusal, at `info` (format in `pochta_types::event` and the
    /// README): code, enhanced code, peer, the command, and the envelope as given.
    fn log_refusal(&self, r: &Reply) {
        let mut e = LogEvent::new("smtp_refused")
            .field("code", r.code)
            .field("status", r.status.as_deref().unwrap_or("-"))
            .remote(self.peer.ip())
            .field(
                "service",
                match self.shared.kind {
                    Kind::Mta => "mta",
                    Kind::Submission => "submission",
                },
            )
            .field(
                "cmd",
                if self.given.verb.is_empty() {
                    "-"
                } else {
                    &self.given.verb
                },
            );
        if let Some(from) = &self.given.from {
            e = e.given("from", from);
        }
        if let Some(to) = &self.given.to {
            e = e.given("to", to);
        }
        tracing::info!(target: "pochta::event", "{e}");
    }

    fn config(&self) -> &crate::SmtpConfig {
        &self.shared.config
    }

    /// The `220` greeting (RFC 5321 §4.2; no enhanced code, RFC 2034 §3).
    pub fn greeting(&mut self) {
        let text = format!("{} ESMTP Pochta", self.config().hostname);
        self.reply(Reply::bare(220, text));
    }

    /// The client talked before the greeting: refuse and close (RFC 5321 §4.3.1 requires
    /// waiting for it; clients that do not are almost always spam engines).
    pub fn early_talker(&mut self) {
        self.reply(Reply::new(
            554,
            "5.5.0",
            "Protocol error: you talked before my greeting",
        ));
    }

    /// `421` on idle timeout (`4.4.2`, RFC 3463 "bad connection") or shutdown (`4.3.2`,
    /// "system not accepting network messages").
    /// BDAT chunks received so far in this transaction, once they hold `at_least` bytes, for
    /// the driver to keep on disk: (how many bytes it already holds, these bytes). The
    /// message's [`Received::spooled`] says how many it must put back in front.
    pub fn take_chunks(&mut self, at_least: usize) -> Option<(u64, Vec<u8>)> {
        let chunks = self.chunks.as_mut()?;
        if chunks.body.is_empty() || chunks.body.len() < at_least {
            return None;
        }
        let offset = chunks.spooled;
        let bytes = std::mem::take(&mut chunks.body);
        chunks.spooled += bytes.len() as u64;
        Some((offset, bytes))
    }

    /// A body arriving below the minimum data rate: the transaction fails and the driver
    /// closes the connection (the rest of the body would be read as commands otherwise).
    pub fn too_slow(&mut self) {
        self.envelope = None;
        let text = format!(
            "{} Data arriving too slowly, closing connection",
            self.config().hostname
        );
        self.reply(Reply::new(451, "4.4.2", text));
    }

    pub fn goodbye(&mut self, status: &'static str, why: &str) {
        let text = format!("{} {why}, closing connection", self.config().hostname);
        self.reply(Reply::new(421, status, text));
    }

    /// TLS is now active: forget everything learned in plaintext (RFC 3207 §4.2).
    pub fn tls_started(&mut self, description: String) {
        self.tls = Some(description);
        self.helo = None;
        self.account = None;
        self.envelope = None;
        self.chunks = None;
    }

    pub fn is_authenticated(&self) -> bool {
        self.account.is_some()
    }

    /// Whether inbound SPF/DKIM/DMARC checks apply to messages of this session.
    pub fn checks_apply(&self) -> bool {
        self.shared.kind == Kind::Mta && self.shared.verifier.enabled()
    }

    /// The HELO/EHLO name (for SPF and trace headers).
    pub fn helo_name(&self) -> &str {
        self.helo.as_ref().map_or("", |(h, _)| h.as_str())
    }

    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// A framer event: a line, or the end of a DATA body or BDAT chunk.
    pub fn handle_event(&mut self, event: Event) -> Next {
        let result = match event {
            Event::Line(line) if self.sasl.is_some() => self.sasl_line(&line),
            Event::Line(line) => {
                self.given.note(&line);
                match parse_command(&line) {
                    Ok(cmd) => self.command(cmd),
                    Err(e) => Err(Fail::Parse(e)),
                }
            }
            Event::LineTooLong => {
                self.sasl = None;
                Err(refuse(500, "5.5.6", "Line too long"))
            }
            Event::Data(body) => self.message_complete(body),
            Event::DataTooBig => {
                self.envelope = None;
                Err(refuse(552, "5.3.4", "Message too big for system"))
            }
            Event::Chunk(bytes) => self.chunk(Some(bytes)),
            Event::ChunkDropped => self.chunk(None),
        };
        self.outcome(result)
    }

    fn outcome(&mut self, result: Res) -> Next {
        match result {
            Ok(next) => next,
            Err(f) => self.fail(f),
        }
    }

    /// The one place where failures become replies.
    fn fail(&mut self, f: Fail) -> Next {
        let reply = match f {
            Fail::Parse(ParseError::UnknownCommand) => {
                Reply::new(500, "5.5.2", "Command not recognized")
            }
            Fail::Parse(ParseError::BadAddress) => Reply::new(501, "5.1.3", "Bad address syntax"),
            Fail::Parse(ParseError::UnknownParameter(p)) => Reply::new(
                555,
                "5.5.4",
                format!("Parameter {p} not recognized or not implemented"),
            ),
            Fail::Parse(e @ ParseError::Syntax(_)) => Reply::new(501, "5.5.4", e.to_string()),
            Fail::Refuse(reply) => reply,
            Fail::Delivery(e) => {
                if e.is_failure() {
                    tracing::error!(peer = %self.peer, error = %e, "SMTP: storage failure");
                }
                e.reply()
            }
        };
        self.reply(reply);
        self.errors += 1;
        if self.errors >= self.config().max_errors {
            let host = self.config().hostname.clone();
            self.reply(Reply::new(
                421,
                "4.7.0",
                format!("{host} Too many errors, closing connection"),
            ));
            return Next::Close;
        }
        Next::Continue
    }

    fn command(&mut self, cmd: Command) -> Res {
        if self.chunks.is_some()
            && !matches!(
                cmd,
                Command::Bdat { .. }
                    | Command::Burl { .. }
                    | Command::Rset
                    | Command::Quit
                    | Command::Noop
            )
        {
            // RFC 3030 §2, RFC 4468 §3.2: only BDAT or BURL (and RSET/QUIT) may follow a
            // non-last BDAT or BURL.
            return Err(bad_sequence("BDAT transfer in progress; send BDAT or RSET"));
        }
        if !matches!(
            cmd,
            Command::Mail { .. }
                | Command::Rcpt { .. }
                | Command::Data
                | Command::Bdat { .. }
                | Command::Burl { .. }
        ) {
            self.idle_commands += 1;
            if self.idle_commands > self.config().max_idle_commands {
                let host = self.config().hostname.clone();
                self.reply(Reply::new(
                    421,
                    "4.7.0",
                    format!("{host} Too many commands without mail, closing connection"),
                ));
                return Ok(Next::Close);
            }
        }
        match cmd {
            Command::Ehlo(name) => self.ehlo(name, true),
            Command::Helo(name) => self.ehlo(name, false),
            Command::Mail { from, params } => self.mail(from, params),
            Command::Rcpt { to, params } => self.rcpt(to, params),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Burl { url, last } => self.burl(&url, last),
            Command::Rset => {
                self.envelope = None;
                self.chunks = None;
                self.ok("2.0.0", "Reset OK")
            }
            Command::Noop => self.ok("2.0.0", "OK"),
            Command::Quit => {
                let text = format!("{} closing connection", self.config().hostname);
                self.reply(Reply::new(221, "2.0.0", text));
                Ok(Next::Close)
            }
            // RFC 5321 §3.5.3: 252 when we will not verify but will accept.
            Command::Vrfy(_) => self.ok_code(
                252,
                "2.5.0",
                "Cannot VRFY user, but will accept message and attempt delivery",
            ),
            Command::Expn(_) => Err(refuse(502, "5.5.1", "EXPN not available")),
            Command::Help(_) => self.ok_code(
                214,
                "2.0.0",
                "Commands: EHLO HELO MAIL RCPT DATA BDAT BURL RSET NOOP QUIT VRFY HELP STARTTLS AUTH; see RFC 5321",
            ),
            Command::StartTls => self.starttls(),
            Command::Auth { mechanism, initial } => self.auth(&mechanism, initial),
        }
    }

    fn ok(&mut self, status: &'static str, text: &str) -> Res {
        self.ok_code(250, status, text)
    }

    fn ok_code(&mut self, code: u16, status: &'static str, text: &str) -> Res {
        self.reply(Reply::new(code, status, text));
        Ok(Next::Continue)
    }

    fn plaintext_ok(&self) -> bool {
        self.config()
            .plaintext
            .allows(self.tls.is_some(), self.peer.ip())
    }

    /// RFC 5321 §4.1.1.1; the extensions of RFC 2920, 6152, 6531, 1870, 3030, 2034, 3207,
    /// 3461 and 4954.
    fn ehlo(&mut self, name: String, extended: bool) -> Res {
        self.envelope = None;
        self.chunks = None;
        let host = self.config().hostname.clone();
        let greeting = format!("{host} greets {name}");
        self.helo = Some((name, extended));
        if !extended {
            self.reply(Reply::multi(250, vec![greeting]));
            return Ok(Next::Continue);
        }
        let mut lines = vec![
            greeting,
            "PIPELINING".to_string(),
            "8BITMIME".to_string(),
            "SMTPUTF8".to_string(),
            format!("SIZE {}", self.config().max_message),
            "CHUNKING".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "DSN".to_string(),
        ];
        if self.tls.is_none() && self.starttls_available {
            lines.push("STARTTLS".to_string());
        }
        if self.shared.kind == Kind::Submission && self.account.is_none() {
            let mechs: Vec<&str> = Mechanism::ALL
                .iter()
                .filter(|m| !m.sends_password() || self.plaintext_ok())
                .map(|m| m.name())
                .collect();
            lines.push(format!("AUTH {}", mechs.join(" ")));
        }
        if self.shared.kind == Kind::Submission {
            // RFC 4468 §3.1: the URL schemes once authenticated.
            lines.push(
                if self.account.is_some() {
                    "BURL imap"
                } else {
                    "BURL"
                }
                .to_string(),
            );
        }
        lines.push("HELP".to_string());
        self.reply(Reply::multi(250, lines));
        Ok(Next::Continue)
    }

    fn starttls(&mut self) -> Res {
        if self.tls.is_some() {
            return Err(bad_sequence("TLS already active"));
        }
        if !self.starttls_available {
            return Err(refuse(502, "5.5.1", "STARTTLS not available"));
        }
        self.reply(Reply::new(220, "2.0.0", "Ready to start TLS"));
        Ok(Next::StartTls)
    }

    fn mail(&mut self, from: Option<Path>, params: MailParams) -> Res {
        if self.helo.is_none() {
            return Err(bad_sequence("Send EHLO or HELO first"));
        }
        if self.envelope.is_some() {
            return Err(bad_sequence("Nested MAIL command"));
        }
        if self.shared.kind == Kind::Submission && self.account.is_none() {
            return Err(refuse(530, "5.7.0", "Authentication required"));
        }
        if let Some(size) = params.size
            && size > self.config().max_message
        {
            return Err(refuse(
                552,
                "5.3.4",
                "Message size exceeds fixed maximum message size",
            ));
        }
        if params.body == Some(Body::BinaryMime) {
            return Err(refuse(555, "5.5.4", "BODY=BINARYMIME is not supported"));
        }
        if let Some(p) = &from
            && !p.is_ascii()
            && !params.smtputf8
        {
            return Err(refuse(553, "5.6.7", "Non-ASCII address requires SMTPUTF8"));
        }
        if let Some(account) = &self.account {
            // RFC 6409 §6.1: the MSA may check the sender against the authenticated identity.
            let ok = match &from {
                Some(p) => self.sender_allowed(account, &p.to_string())?,
                None => false,
            };
            if !ok {
                return Err(refuse(
                    553,
                    "5.7.1",
                    format!("Sender address does not belong to {}", account.address),
                ));
            }
        }
        self.idle_commands = 0;
        self.envelope = Some(Envelope {
            from,
            params,
            rcpts: Vec::new(),
        });
        self.ok("2.1.0", "Sender OK")
    }

    /// Whether `addr` is the account's address or an alias pointing at it (catch-alls do
    /// not count: owning `@domain` mail is not owning every name in it).
    fn sender_allowed(&self, account: &Account, addr: &str) -> Result<bool, Fail> {
        let Ok(a) = Address::new(addr) else {
            return Ok(false);
        };
        if a.key() == account.address.key() {
            return Ok(true);
        }
        let key = a.key();
        Ok(self
            .shared
            .store
            .alias_list()?
            .iter()
            .any(|al| al.source.to_lowercase() == key && al.target.key() == account.address.key()))
    }

    fn rcpt(&mut self, to: Path, params: RcptParams) -> Res {
        let max = self.config().max_recipients;
        let Some(env) = self.envelope.as_ref() else {
            return Err(bad_sequence("Need MAIL before RCPT"));
        };
        if env.rcpts.len() >= max {
            // RFC 5321 §4.5.3.1.10.
            return Err(refuse(452, "4.5.3", "Too many recipients"));
        }
        if !to.is_ascii() && !env.params.smtputf8 {
            return Err(refuse(553, "5.6.7", "Non-ASCII address requires SMTPUTF8"));
        }
        let given = to.to_string();
        let address = if to.domain.is_empty() {
            // <Postmaster> (RFC 5321 §4.1.1.3): our own postmaster.
            format!("{}@{}", to.local, self.config().hostname)
        } else {
            given.clone()
        };
        // Unknown users and full mailboxes are refused here, per recipient.
        let rcpt = if let Resolved::Local(account) = self.delivery.resolve(&address)? {
            Rcpt::Local { account, given }
        } else if self.shared.kind == Kind::Submission && self.account.is_some() {
            if self.shared.queue.is_none() {
                return Err(refuse(
                    451,
                    "4.3.0",
                    format!(
                        "<{given}>: outbound delivery is not configured on this server; only local recipients are accepted"
                    ),
                ));
            }
            Rcpt::Remote { path: to, params }
        } else {
            return Err(refuse(
                554,
                "5.7.1",
                format!("<{given}>: Relay access denied"),
            ));
        };
        if let Some(env) = self.envelope.as_mut() {
            env.rcpts.push(rcpt);
        }
        self.ok("2.1.5", "Recipient OK")
    }

    fn data(&mut self) -> Res {
        let Some(env) = &self.envelope else {
            return Err(bad_sequence("Need MAIL command"));
        };
        if env.rcpts.is_empty() {
            return Err(refuse(554, "5.5.1", "No valid recipients"));
        }
        self.reply(Reply::bare(354, "End data with <CR><LF>.<CR><LF>"));
        Ok(Next::ReadData(self.config().max_message))
    }

    fn bdat(&mut self, size: u64, last: bool) -> Res {
        let max = self.config().max_message;
        let mut refused = match &self.envelope {
            None => Some(Reply::new(503, "5.5.1", "Need MAIL command")),
            Some(env) if env.rcpts.is_empty() => {
                Some(Reply::new(554, "5.5.1", "No valid recipients"))
            }
            _ => None,
        };
        let chunks = self.chunks.get_or_insert_with(Chunks::default);
        let so_far = chunks.spooled + chunks.body.len() as u64;
        if refused.is_none() && so_far.saturating_add(size) > max {
            refused = Some(Reply::new(552, "5.3.4", "Message too big for system"));
        }
        chunks.last = last;
        let keep = refused.is_none();
        chunks.refused = refused;
        Ok(Next::ReadBdat { size, keep })
    }

    fn chunk(&mut self, bytes: Option<Vec<u8>>) -> Res {
        let Some(mut chunks) = self.chunks.take() else {
            return Err(bad_sequence("No BDAT in progress"));
        };
        if let Some(reply) = chunks.refused.take() {
            // RFC 3030 §2: a failed BDAT fails the transaction.
            self.envelope = None;
            return Err(Fail::Refuse(reply));
        }
        let bytes = bytes.unwrap_or_default();
        let n = bytes.len();
        chunks.body.extend_from_slice(&bytes);
        if chunks.last {
            return self.chunks_complete(chunks);
        }
        self.chunks = Some(chunks);
        self.ok("2.0.0", &format!("{n} octets received"))
    }

    /// The last chunk (BDAT or BURL) is in: the message is complete.
    fn chunks_complete(&mut self, chunks: Chunks) -> Res {
        let spooled = chunks.spooled;
        self.message_complete(chunks.body).map(|next| match next {
            Next::Message(mut m) => {
                m.spooled = spooled;
                Next::Message(m)
            }
            other => other,
        })
    }

    /// BURL (RFC 4468 §3.2; see `crate::burl`): the URL's bytes are the next chunk.
    fn burl(&mut self, url: &str, last: bool) -> Res {
        if self.shared.kind != Kind::Submission {
            return Err(refuse(502, "5.5.1", "BURL is not available here"));
        }
        let Some(account) = self.account.clone() else {
            return Err(refuse(530, "5.7.0", "Authentication required"));
        };
        match &self.envelope {
            None => return Err(bad_sequence("Need MAIL command")),
            Some(env) if env.rcpts.is_empty() => {
                return Err(refuse(554, "5.5.1", "No valid recipients"));
            }
            _ => {}
        }
        let fetched = crate::burl::fetch(&*self.shared.store, &account, url);
        let bytes = match fetched {
            Ok(b) => b,
            Err(e) => {
                // A failed BURL fails the transaction (as a failed BDAT, RFC 3030 §2).
                self.envelope = None;
                self.chunks = None;
                return Err(match e {
                    crate::burl::BurlError::Refused(r) => Fail::Refuse(r),
                    crate::burl::BurlError::Store(e) => e.into(),
                });
            }
        };
        let max = self.config().max_message;
        let mut chunks = self.chunks.take().unwrap_or_default();
        let so_far = chunks.spooled + chunks.body.len() as u64;
        if so_far.saturating_add(bytes.len() as u64) > max {
            self.envelope = None;
            return Err(refuse(552, "5.3.4", "Message too big for system"));
        }
        chunks.body.extend_from_slice(&bytes);
        if last {
            return self.chunks_complete(chunks);
        }
        self.chunks = Some(chunks);
        self.ok(
            "2.0.0",
            &format!("{} octets added from the URL", bytes.len()),
        )
    }

    fn message_complete(&mut self, body: Vec<u8>) -> Res {
        self.chunks = None;
        let Some(envelope) = self.envelope.take() else {
            return Err(bad_sequence("No transaction in progress"));
        };
        Ok(Next::Message(Box::new(Received {
            body,
            spooled: 0,
            envelope,
        })))
    }

    /// Checks (submission), adds headers, delivers locally and queues remote recipients,
    /// then answers. `auth` is the inbound SPF/DKIM/DMARC outcome, if checks ran.
    pub fn finish_message(&mut self, msg: Received, auth: Option<AuthOutcome>) -> Next {
        let result = self.deliver(msg, auth);
        let code = match &result {
            Ok(_) => 250,
            Err(Fail::Refuse(r)) => r.code,
            Err(Fail::Delivery(e)) => e.reply().code,
            Err(_) => 500,
        };
        let kind = if self.shared.kind == Kind::Mta {
            "mta"
        } else {
            "submission"
        };
        pochta_metrics::smtp_message(kind, code);
        self.outcome(result)
    }

    fn deliver(&mut self, msg: Received, auth: Option<AuthOutcome>) -> Res {
        let Received { body, envelope, .. } = msg;
        if let Some(domain) = auth.as_ref().and_then(|a| a.dmarc_reject.as_ref())
            && self.config().dmarc_reject
        {
            tracing::info!(peer = %self.peer, %domain, "SMTP: rejected by DMARC policy");
            return Err(refuse(
                550,
                "5.7.1",
                format!("Rejected by the DMARC policy of {domain}"),
            ));
        }
        let mut extra = String::new();
        if let Some(account) = self.account.clone() {
            let info = crate::submission::inspect(&body);
            if info.from.is_empty() {
                return Err(refuse(550, "5.6.0", "Message has no From: header"));
            }
            for f in &info.from {
                if !self.sender_allowed(&account, f)? {
                    return Err(refuse(
                        553,
                        "5.7.1",
                        format!("From: <{f}> does not belong to {}", account.address),
                    ));
                }
            }
            crate::submission::missing_headers(&info, &self.config().hostname, &mut extra);
        }
        let queue_id = crate::submission::new_id();
        let trace = self.trace_headers(&envelope, &queue_id, auth.as_ref());

        let mut remote = Vec::new();
        let mut local: BTreeSet<AccountId> = BTreeSet::new();
        for r in &envelope.rcpts {
            match r {
                Rcpt::Local { account, given } => {
                    tracing::debug!(rcpt = %given, ?account, "SMTP: local recipient");
                    local.insert(*account);
                }
                Rcpt::Remote { path, params } => remote.push(Recipient {
                    address: path.to_string(),
                    notify: params.notify.as_deref().map(Notify::from_keywords),
                    orcpt: params.orcpt.clone(),
                }),
            }
        }
        // The queue first: if it refuses, nothing was delivered and the client can retry.
        let mut queued = None;
        if !remote.is_empty() {
            let Some(queue) = self.shared.queue.as_ref() else {
                return Err(refuse(451, "4.3.0", "Outbound delivery is not configured"));
            };
            let mut bytes = Vec::with_capacity(trace.len() + extra.len() + body.len());
            bytes.extend_from_slice(trace.as_bytes());
            bytes.extend_from_slice(extra.as_bytes());
            bytes.extend_from_slice(&body);
            let qenv = Outbound {
                sender: envelope.from.as_ref().map(Path::to_string),
                recipients: remote,
                ret: envelope.params.ret,
                envid: envelope.params.envid.clone(),
                smtputf8: envelope.params.smtputf8,
                eight_bit: body.iter().any(|&b| b >= 0x80),
            };
            match queue.enqueue(&qenv, &bytes) {
                Ok(id) => queued = Some(id),
                Err(e) => {
                    tracing::error!(error = %e, "SMTP: outbound queue refused a message");
                    return Err(refuse(
                        451,
                        "4.3.0",
                        "Cannot queue the message; try again later",
                    ));
                }
            }
        }
        let mut also = Vec::new();
        if let Some(account) = &self.account
            && self.config().save_sent
            && let Some(sent) = self.delivery.sent_mailbox(account.id)?
        {
            also.push((sent, Flags::from_flags(&[Flag::Seen])));
        }
        let recipients: Vec<AccountId> = local.iter().copied().collect();
        let sender = envelope.from.as_ref().map(Path::to_string);
        let mut header = trace.into_bytes();
        header.extend_from_slice(extra.as_bytes());
        self.delivery.deliver(&LocalMessage {
            header: &header,
            also: &also,
            ..LocalMessage::new(sender.as_deref(), &body, &recipients)
        })?;
        tracing::info!(
            peer = %self.peer,
            id = %queue_id,
            from = %envelope.from.as_ref().map(Path::to_string).unwrap_or_default(),
            local = local.len(),
            queued = queued.as_ref().map(|q| q.0.as_str()).unwrap_or(""),
            size = body.len(),
            "SMTP: message accepted"
        );
        self.ok("2.0.0", &format!("Message accepted as {queue_id}"))
    }

    /// `Received:` (RFC 5321 §4.4, "with" types from RFC 3848 / RFC 6531 §3.7.3) and, for
    /// inbound mail, `Authentication-Results:`.
    fn trace_headers(&self, env: &Envelope, id: &str, auth: Option<&AuthOutcome>) -> String {
        let (helo, esmtp) = self
            .helo
            .as_ref()
            .map_or(("unknown", false), |(h, e)| (h.as_str(), *e));
        let mut with = String::new();
        if env.params.smtputf8 {
            with.push_str("UTF8SMTP");
        } else if esmtp {
            with.push_str("ESMTP");
        } else {
            with.push_str("SMTP");
        }
        if self.tls.is_some() {
            with.push('S');
        }
        if self.account.is_some() {
            with.push('A');
        }
        let helo: String = helo
            .chars()
            .map(|c| {
                if c.is_control() || c == '(' || c == ')' {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let tls = self
            .tls
            .as_ref()
            .map(|t| format!("\r\n\t(using {t})"))
            .unwrap_or_default();
        let for_clause = match env.rcpts.as_slice() {
            [Rcpt::Local { given, .. }] => format!("\r\n\tfor <{given}>"),
            [Rcpt::Remote { path, .. }] => format!("\r\n\tfor <{path}>"),
            _ => String::new(),
        };
        let mut h = format!(
            "Received: from {helo} ([{ip}]){tls}\r\n\tby {host} (Pochta) with {with} id {id}{for_clause};\r\n\t{date}\r\n",
            ip = self.peer.ip(),
            host = self.config().hostname,
            date = pochta_message::dates::now_rfc5322(),
        );
        if let Some(a) = auth {
            h.push_str(&a.header);
            if !a.header.ends_with("\r\n") {
                h.push_str("\r\n");
            }
        }
        h
    }

    // --- AUTH (RFC 4954) ---

    fn auth(&mut self, mechanism: &str, initial: Option<String>) -> Res {
        if self.shared.kind != Kind::Submission {
            return Err(refuse(502, "5.5.1", "AUTH not available on this port"));
        }
        if self.helo.is_none() {
            return Err(bad_sequence("Send EHLO first"));
        }
        if self.account.is_some() {
            return Err(bad_sequence("Already authenticated"));
        }
        if self.envelope.is_some() {
            return Err(bad_sequence("AUTH not allowed during a mail transaction"));
        }
        let shared = Arc::clone(&self.shared);
        let outcome = Login::authenticate(
            &self.login_context(),
            &Directory(&*shared.store),
            mechanism,
            initial.as_deref().map(str::as_bytes),
        );
        match outcome {
            Outcome::NotBase64 => Err(refuse(501, "5.5.2", "Cannot decode the initial response")),
            outcome => self.login_outcome(outcome),
        }
    }

    /// What the login flow needs to know about this connection.
    fn login_context(&self) -> LoginContext<'_> {
        LoginContext {
            protocol: Protocol::Smtp,
            peer: self.peer.ip(),
            plaintext: self.plaintext_ok(),
            anonymous: false,
            throttle: &self.shared.throttle,
            cache: &self.shared.auth_cache,
        }
    }

    fn sasl_line(&mut self, line: &[u8]) -> Res {
        let Some(login) = self.sasl.take() else {
            return Ok(Next::Continue);
        };
        let shared = Arc::clone(&self.shared);
        let outcome = login.line(&self.login_context(), &Directory(&*shared.store), line);
        self.login_outcome(outcome)
    }

    /// The one mapping of the login flow's outcomes to SMTP replies (RFC 4954 §6).
    fn login_outcome(&mut self, outcome: Outcome<Account, StoreError>) -> Res {
        self.delay = outcome.delay();
        match outcome {
            Outcome::Challenge { challenge, next } => {
                self.reply(Reply::bare(334, challenge));
                self.sasl = Some(next);
                Ok(Next::Sasl)
            }
            Outcome::LoggedIn(account) => self.authenticated(account),
            Outcome::Failed { .. } | Outcome::Anonymous(_) => {
                Err(refuse(535, "5.7.8", "Authentication credentials invalid"))
            }
            Outcome::Throttled { .. } => Err(refuse(
                454,
                "4.7.0",
                "Too many failed authentications; try again later",
            )),
            Outcome::PlaintextRefused => Err(refuse(
                538,
                "5.7.11",
                "Encryption required for requested authentication mechanism",
            )),
            Outcome::Unsupported => Err(refuse(504, "5.5.4", "Unrecognized authentication type")),
            Outcome::NotBase64 => Err(refuse(501, "5.5.2", "Cannot decode the response")),
            Outcome::Malformed(m) => Err(refuse(
                501,
                "5.5.2",
                format!("Malformed authentication response: {m}"),
            )),
            Outcome::Cancelled => Err(refuse(501, "5.0.0", "Authentication cancelled")),
            Outcome::Store(e) => Err(e.into()),
        }
    }

    fn authenticated(&mut self, account: Account) -> Res {
        tracing::info!(account = %account.address, peer = %self.peer, "SMTP AUTH");
        self.account = Some(account);
        self.ok_code(235, "2.7.0", "Authentication successful")
    }
}
