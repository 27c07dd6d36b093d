//! An async IMAP client over tokio: connect (implicit TLS or STARTTLS by policy), send typed
//! commands, read responses within budgets and deadlines, IDLE. Used by the collector, the
//! load generator and tests; the grammar is `pochta_imap_proto::client`.
//!
//! Implementation notes (what always holds):
//! - **Sans-IO core.** Commands are encoded by [`ClientCommand::encode`] and responses read
//!   by [`ResponseReader`]; this crate only moves bytes, keeps tags and capabilities, and
//!   enforces time. Synchronizing literals wait for the server's `+` (RFC 9051 §4.3);
//!   `{n+}` is used with LITERAL+, and with LITERAL- for literals up to 4096 bytes
//!   (RFC 7888 §5). A command refused before its literal (a tagged NO instead of `+`) is not
//!   continued; its completion is returned to the caller.
//! - **Budgets.** One response is bounded by [`Options::limits`] (the framer's limits; its
//!   `max_command` is the total per response). The untagged responses one command collects
//!   ([`ImapClient::run`] and the helpers built on it) are bounded by
//!   [`Options::max_collected`]; a server answering endlessly gets [`Error::TooMuchData`].
//!   Every error but [`Error::Rejected`] leaves the connection unusable: drop it.
//! - **Deadlines.** Each socket read waits at most [`Options::io_timeout`], and each response
//!   must be complete within [`Options::response_timeout`] from the moment it is asked for,
//!   however slowly its bytes drip. IDLE waits until the caller's deadline instead
//!   ([`ImapClient::idle_wait`], cancel-safe: a partly received response stays buffered).
//! - **STARTTLS** (RFC 9051 §6.2.1): after the tagged OK nothing may be buffered (the
//!   injection class of CVE-2011-0411), and capabilities are asked again over TLS ("discard
//!   cached capability information"). LOGIN is refused locally under LOGINDISABLED.
//! - **Spooling** ([`ImapClient::set_spool`], for a FETCH of message bodies): once a literal
//!   being read holds [`pochta_net::LITERAL_SPOOL_THRESHOLD`] bytes they go to an unnamed
//!   file ([`pochta_net::LiteralSpool`], the IMAP server's APPEND spool), so a large literal
//!   costs disk while it arrives, not memory. A response with spooled parts is read back
//!   whole only under a permit of the given [`MessageBudget`] for its size, which the caller
//!   takes with [`ImapClient::take_permit`] and holds until it has stored the message. Not
//!   for IDLE: a response waiting for its permit is not cancel-safe.
//! - Untagged responses not asked for are tolerated (RFC 9051 §7: a client MUST be prepared to
//!   accept any response at all times): [`ImapClient::run`] returns them, readers skip them.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use pochta_imap_proto::client::data::{announced_capabilities, bye_text};
use pochta_imap_proto::encode::EncodeOptions;
use pochta_imap_proto::framer::Limits;
use pochta_imap_proto::list::ListReturn;
use pochta_imap_proto::{Tag, client};
use pochta_net::connect::{
    ClientStream, ConnectError, Endpoint, TlsPolicy, nothing_pipelined, wants_starttls,
};
use pochta_net::{LITERAL_SPOOL_THRESHOLD, LiteralSpool, MessageBudget, MessagePermit};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

pub use pochta_imap_proto::client::{
    CLIENT_LIMITS, ClientCommand, Fetched, ListEntry, Response, ResponseError, ResponseReader,
    SaslInitial, SearchResult, Selected, Status, StatusData, StatusText, Tags, Value, WireName,
};

/// Budgets and deadlines (see the crate notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Per-response limits; `max_command` is the total budget of one response.
    pub limits: Limits,
    /// Most bytes of untagged responses one command may collect.
    pub max_collected: u64,
    /// Longest wait for any byte while a response is expected.
    pub io_timeout: Duration,
    /// Longest time for one whole response.
    pub response_timeout: Duration,
    /// Accept any certificate (handshake signatures are still checked).
    pub insecure: bool,
    /// Use `{n+}` literals when the server has LITERAL+/LITERAL- (off: always wait for `+`,
    /// e.g. for a benchmark that must send the same bytes to every server).
    pub literal_plus: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limits: CLIENT_LIMITS,
            max_collected: 128 << 20,
            io_timeout: Duration::from_secs(120),
            response_timeout: Duration::from_secs(30 * 60),
            insecure: false,
            literal_plus: true,
        }
    }
}

/// What went wrong. All but [`Error::Rejected`] end the connection.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("network: {0}")]
    Io(io::Error),
    #[error("network: timed out")]
    Timeout,
    #[error("the server closed the connection")]
    Closed,
    #[error("server response: {0}")]
    Response(#[from] ResponseError),
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The command was answered NO or BAD; the connection goes on. Shown as the server
    /// sent it: `NO [AUTHENTICATIONFAILED] Authentication failed.`
    #[error("{} {}{text}", status_word(*.status), .code.as_deref().map(|c| format!("[{c}] ")).unwrap_or_default())]
    Rejected {
        status: Status,
        /// The response code's name, if any (`AUTHENTICATIONFAILED`, `NONEXISTENT`, …).
        code: Option<String>,
        text: String,
    },
    /// `* BYE` where the command's completion was expected.
    #[error("server closed: {0}")]
    Bye(String),
    #[error("the server refuses LOGIN without TLS (LOGINDISABLED)")]
    LoginDisabled,
    #[error("untagged responses to one command exceed {0} bytes")]
    TooMuchData(u64),
}

/// A status as it appears on the wire (`NO`, `BAD`, …).
fn status_word(s: Status) -> &'static str {
    match s {
        Status::Ok => "OK",
        Status::No => "NO",
        Status::Bad => "BAD",
        Status::Preauth => "PREAUTH",
        Status::Bye => "BYE",
    }
}

/// A command's outcome: its untagged responses and its tagged OK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completed {
    pub responses: Vec<Response>,
    pub status: StatusText,
}

/// A tagged status: OK passes, NO/BAD become [`Error::Rejected`].
pub fn check(status: StatusText) -> Result<StatusText, Error> {
    match status.status {
        Status::Ok => Ok(status),
        s => Err(Error::Rejected {
            status: s,
            code: status.code.map(|(name, _)| name),
            text: status.text,
        }),
    }
}

/// A host and port with a TLS policy, for [`ImapClient::connect`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub tls: TlsPolicy,
}

impl Endpoint for Server {
    fn host(&self) -> &str {
        &self.host
    }
    fn port(&self) -> u16 {
        self.port
    }
    fn tls(&self) -> TlsPolicy {
        self.tls
    }
}

const READ_CHUNK: usize = 64 << 10;

/// A connected (and possibly logged-in) IMAP client.
#[derive(Debug)]
pub struct ImapClient {
    stream: ClientStream,
    reader: ResponseReader,
    rbuf: Box<[u8]>,
    /// Responses read while waiting for a continuation, with their sizes.
    pending: VecDeque<(Response, usize)>,
    tags: Tags,
    caps: Vec<String>,
    utf8: bool,
    opts: Options,
    /// Where large literals go while they arrive, and the budget they come back under.
    spool: Option<(LiteralSpool, MessageBudget)>,
    /// The permit of the last response read back from the spool.
    held: Option<MessagePermit>,
    /// A complete response with spooled parts, to be read back ([`Self::read_back`]).
    ready: Option<bytes::Bytes>,
}

/// What [`ImapClient::read_or_spooled`] found.
#[derive(Debug)]
pub enum Next {
    /// A response held in memory, with its size on the wire.
    Response(Response, usize),
    /// A complete response of this many bytes, partly on disk: read it with
    /// [`ImapClient::read_back`] once memory for it is granted.
    Spooled(u64),
}

impl ImapClient {
    /// Connects to `server`, reads the greeting, and secures the connection by its policy.
    pub async fn connect(server: &impl Endpoint, opts: Options) -> Result<ImapClient, Error> {
        let stream = ClientStream::open(server, opts.insecure).await?;
        let mut c = ImapClient::over(stream, opts);
        c.greeting().await?;
        if c.caps.is_empty() {
            c.capability().await?;
        }
        if wants_starttls(server.tls(), c.has_cap("STARTTLS"), "STARTTLS")? {
            c.run(ClientCommand::StartTls).await?;
            nothing_pipelined(c.reader.buffered() + c.pending.len(), "STARTTLS")?;
            c.stream.upgrade(server.host(), opts.insecure).await?;
            c.capability().await?;
        }
        Ok(c)
    }

    /// A client over an already connected stream; read the greeting with
    /// [`ImapClient::greeting`].
    pub fn over(stream: ClientStream, opts: Options) -> ImapClient {
        ImapClient {
            stream,
            reader: ResponseReader::new(opts.limits),
            rbuf: vec![0; READ_CHUNK].into_boxed_slice(),
            pending: VecDeque::new(),
            tags: Tags::default(),
            caps: Vec::new(),
            utf8: false,
            opts,
            spool: None,
            held: None,
            ready: None,
        }
    }

    /// Reads the greeting (`* OK`/`* PREAUTH`, RFC 9051 §7.1) and learns the capabilities it
    /// announces, if any (no CAPABILITY command is sent).
    pub async fn greeting(&mut self) -> Result<Status, Error> {
        let status = match self.read().await? {
            Response::UntaggedStatus(st) if matches!(st.status, Status::Ok | Status::Preauth) => {
                if let Some((name, args)) = &st.code
                    && name == "CAPABILITY"
                {
                    self.caps = client::data::capabilities(args);
                }
                st.status
            }
            Response::UntaggedStatus(StatusText {
                status: Status::Bye,
                text,
                ..
            }) => return Err(Error::Bye(text)),
            other => return Err(Error::Protocol(format!("unexpected greeting {other:?}"))),
        };
        Ok(status)
    }

    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    pub fn options(&self) -> Options {
        self.opts
    }

    /// Whether the server announced `cap` (ASCII case-insensitive).
    pub fn has_cap(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c.eq_ignore_ascii_case(cap))
    }

    pub fn capabilities(&self) -> &[String] {
        &self.caps
    }

    /// Whether UTF8=ACCEPT is enabled (mailbox names go as UTF-8).
    pub fn utf8(&self) -> bool {
        self.utf8
    }

    /// A Unicode mailbox name as this server wants it on the wire.
    pub fn wire_name(&self, name: &str) -> WireName {
        WireName::encode(name, self.utf8)
    }

    /// CAPABILITY (RFC 9051 §6.1.1); replaces the known capabilities.
    pub async fn capability(&mut self) -> Result<(), Error> {
        let done = self.run(ClientCommand::Capability).await?;
        for r in &done.responses {
            if let Some(caps) = announced_capabilities(r) {
                self.caps = caps;
            }
        }
        Ok(())
    }

    /// After a login: the capabilities from the tagged OK's code, or asked again.
    async fn refresh_caps(&mut self, done: &Completed) -> Result<(), Error> {
        let from_code = std::iter::once(&Response::UntaggedStatus(done.status.clone()))
            .chain(done.responses.iter())
            .find_map(announced_capabilities);
        match from_code {
            Some(caps) => self.caps = caps,
            None => self.capability().await?,
        }
        Ok(())
    }

    /// LOGIN (RFC 9051 §6.2.3); refused locally when the server says LOGINDISABLED.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), Error> {
        if self.has_cap("LOGINDISABLED") {
            return Err(Error::LoginDisabled);
        }
        let done = self
            .run(ClientCommand::Login {
                user: user.as_bytes().to_vec(),
                password: pochta_types::Secret::new(password.as_bytes().to_vec()),
            })
            .await?;
        self.refresh_caps(&done).await
    }

    /// AUTHENTICATE with a one-message mechanism (PLAIN, XOAUTH2, OAUTHBEARER): the message
    /// goes as the initial response with SASL-IR (RFC 4959), else after the first `+`. A
    /// further `+` (the error details of XOAUTH2 and OAUTHBEARER) is answered with
    /// [`SaslInitial::abort_response`] (RFC 9051 §6.2.2, RFC 7628 §3.2.3), and the tagged NO
    /// follows.
    pub async fn authenticate(&mut self, sasl: &SaslInitial) -> Result<(), Error> {
        let ir = self.has_cap("SASL-IR");
        let tag = self.tags.next();
        let cmd = ClientCommand::Authenticate {
            mechanism: sasl.mechanism().into(),
            initial_response: ir.then(|| sasl.encoded()),
        };
        self.write_parts(cmd.encode(&tag, self.encode_options(&cmd)))
            .await?;
        let mut sent = ir;
        let mut collected = Vec::new();
        let mut size = 0u64;
        loop {
            let (r, n) = self.next_sized(self.deadline()).await?;
            match r {
                Response::Continue(_) => {
                    let mut line = if sent {
                        sasl.abort_response()
                    } else {
                        sasl.encoded().expose().clone()
                    };
                    sent = true;
                    line.extend_from_slice(b"\r\n");
                    self.write(&line).await?;
                }
                Response::Tagged { tag: t, status } if t == tag.as_str() => {
                    let done = Completed {
                        responses: collected,
                        status: check(status)?,
                    };
                    return self.refresh_caps(&done).await;
                }
                r => {
                    size += n as u64;
                    self.within_collect_budget(size)?;
                    collected.push(r);
                }
            }
        }
    }

    /// ENABLE (RFC 5161); remembers UTF8=ACCEPT. Returns what the server enabled.
    pub async fn enable(&mut self, caps: &[&str]) -> Result<Vec<String>, Error> {
        let done = self
            .run(ClientCommand::Enable(
                caps.iter().map(|c| c.to_ascii_uppercase()).collect(),
            ))
            .await?;
        let mut enabled = Vec::new();
        for r in &done.responses {
            if let Response::Data { name, values } = r
                && name == "ENABLED"
            {
                enabled.extend(client::data::capabilities(values));
            }
        }
        if enabled.iter().any(|c| c == "UTF8=ACCEPT") {
            self.utf8 = true;
        }
        Ok(enabled)
    }

    /// NAMESPACE (RFC 2342, RFC 9051 §6.3.10); `None` when the server has no NAMESPACE.
    pub async fn namespace(&mut self) -> Result<Option<client::Namespaces>, Error> {
        if !self.has_cap("NAMESPACE") && !self.has_cap("IMAP4REV2") {
            return Ok(None);
        }
        let done = self.run(ClientCommand::Namespace).await?;
        for r in &done.responses {
            if let Some(ns) = client::Namespaces::from_response(r)? {
                return Ok(Some(ns));
            }
        }
        Err(Error::Protocol(
            "NAMESPACE without a NAMESPACE response".into(),
        ))
    }

    /// `LIST "" *`, with `RETURN (SPECIAL-USE)` when the server has SPECIAL-USE (RFC 6154
    /// §5.1; servers without it may still include the attributes, RFC 6154 §2).
    pub async fn list_all(&mut self) -> Result<Vec<ListEntry>, Error> {
        let returns = if self.has_cap("SPECIAL-USE") {
            vec![ListReturn::SpecialUse]
        } else {
            Vec::new()
        };
        let done = self
            .run(ClientCommand::List {
                reference: WireName::raw(""),
                pattern: WireName::raw("*"),
                returns,
            })
            .await?;
        Ok(done
            .responses
            .iter()
            .filter_map(ListEntry::from_response)
            .collect())
    }

    /// SELECT (or EXAMINE when `read_only`, RFC 9051 §6.3.2–3), with `(CONDSTORE)` when asked
    /// and the server has it (RFC 7162 §3.1.8).
    pub async fn select(
        &mut self,
        mailbox: WireName,
        read_only: bool,
        condstore: bool,
    ) -> Result<Selected, Error> {
        let condstore = condstore && self.has_cap("CONDSTORE");
        let cmd = if read_only {
            ClientCommand::Examine { mailbox, condstore }
        } else {
            ClientCommand::Select { mailbox, condstore }
        };
        let done = self.run(cmd).await?;
        let mut sel = Selected::default();
        for r in &done.responses {
            sel.absorb(r);
        }
        sel.absorb(&Response::Tagged {
            tag: String::new(),
            status: done.status,
        });
        Ok(sel)
    }

    /// A FETCH command run to completion: every FETCH response that carries a UID (one with
    /// none cannot be matched to a message and is dropped), within
    /// [`Options::max_collected`] bytes of responses kept. Stream large bodies with
    /// [`Self::start`] and [`Self::read`] instead.
    pub async fn fetch(&mut self, cmd: ClientCommand) -> Result<Vec<Fetched>, Error> {
        let tag = self.start(cmd).await?;
        let mut out = Vec::new();
        let mut kept = 0u64;
        loop {
            let (r, n) = self.next_sized(self.deadline()).await?;
            match r {
                Response::Tagged { tag: t, status } if t == tag.as_str() => {
                    check(status)?;
                    return Ok(out);
                }
                r => {
                    if let Some(text) = bye_text(&r) {
                        return Err(Error::Bye(text.to_owned()));
                    }
                    if let Some(f) = Fetched::from_response(&r)?
                        && f.uid.is_some()
                    {
                        kept += n as u64;
                        self.within_collect_budget(kept)?;
                        out.push(f);
                    }
                }
            }
        }
    }

    /// APPEND one message (RFC 9051 §6.3.12).
    pub async fn append(
        &mut self,
        mailbox: WireName,
        flags: Vec<pochta_types::Flag>,
        date: Option<pochta_imap_proto::DateTime>,
        message: Vec<u8>,
    ) -> Result<StatusText, Error> {
        let done = self
            .run(ClientCommand::Append {
                mailbox,
                flags,
                date,
                message,
            })
            .await?;
        Ok(done.status)
    }

    /// Runs a command to completion, returning its untagged responses; NO or BAD is
    /// [`Error::Rejected`].
    pub async fn run(&mut self, cmd: ClientCommand) -> Result<Completed, Error> {
        let tag = self.start(cmd).await?;
        self.finish(&tag).await
    }

    /// Runs a command to completion whatever its status (OK, NO or BAD are all returned).
    pub async fn exchange(&mut self, cmd: ClientCommand) -> Result<Completed, Error> {
        let tag = self.start(cmd).await?;
        self.collect(&tag).await
    }

    /// Collects responses up to `tag`'s completion; NO or BAD is [`Error::Rejected`].
    pub async fn finish(&mut self, tag: &Tag) -> Result<Completed, Error> {
        let done = self.collect(tag).await?;
        check(done.status.clone())?;
        Ok(done)
    }

    /// Collects responses up to `tag`'s completion, whatever its status (within
    /// [`Options::max_collected`]).
    pub async fn collect(&mut self, tag: &Tag) -> Result<Completed, Error> {
        let mut responses = Vec::new();
        let mut size = 0u64;
        loop {
            let (r, n) = self.next_sized(self.deadline()).await?;
            match r {
                Response::Tagged { tag: t, status } if t == tag.as_str() => {
                    return Ok(Completed { responses, status });
                }
                r => {
                    size += n as u64;
                    self.within_collect_budget(size)?;
                    responses.push(r);
                }
            }
        }
    }

    /// Changes the per-response limits ([`Options::limits`]) for the responses that follow;
    /// `None` restores the connection's own. With `Some(n)` no literal may exceed `n` bytes
    /// and no response `n` plus its lines (within the connection's limits): for a FETCH of
    /// messages whose sizes were announced, so that one response made of many large literals
    /// is cut at about one message.
    pub fn set_response_limit(&mut self, bytes: Option<u64>) {
        let own = self.opts.limits;
        let limits = match bytes {
            None => own,
            Some(n) => Limits {
                max_literal: n.min(own.max_literal),
                max_command: n.saturating_add(own.max_line as u64).min(own.max_command),
                ..own
            },
        };
        self.reader.set_limits(limits);
    }

    /// The next response with its size on the wire, within the response deadline (for a
    /// caller that keeps its own budget over many responses).
    pub async fn read_sized(&mut self) -> Result<(Response, usize), Error> {
        self.next_sized(self.deadline()).await
    }

    /// Spools large literals of the responses that follow to unnamed files in `dir`, read
    /// back under permits of `budget` (see the crate notes); `None` stops spooling (call it
    /// only between responses: what is spooled of a response being read is dropped).
    pub fn set_spool(&mut self, spool: Option<(PathBuf, MessageBudget)>) {
        self.spool = spool.map(|(dir, budget)| (LiteralSpool::new(Some(dir)), budget));
        self.held = None;
        self.ready = None;
    }

    /// The permit of the memory the last response read holds, if it was read back from
    /// the spool: hold it until that response's bytes are dropped.
    pub fn take_permit(&mut self) -> Option<MessagePermit> {
        self.held.take()
    }

    /// Changes [`Options::max_collected`] for the commands that follow (e.g. a smaller one
    /// for LIST than for a FETCH of every message's flags).
    pub fn set_max_collected(&mut self, bytes: u64) {
        self.opts.max_collected = bytes;
    }

    fn within_collect_budget(&self, size: u64) -> Result<(), Error> {
        if size > self.opts.max_collected {
            Err(Error::TooMuchData(self.opts.max_collected))
        } else {
            Ok(())
        }
    }

    fn encode_options(&self, cmd: &ClientCommand) -> EncodeOptions {
        EncodeOptions {
            literal_plus: self.opts.literal_plus
                && (self.has_cap("LITERAL+")
                    || (self.has_cap("LITERAL-") && cmd.largest_payload() <= 4096)),
            utf8: self.utf8,
        }
    }

    /// Sends `cmd` (waiting for `+` before each synchronizing literal) and returns its tag;
    /// read its responses with [`Self::read`] up to the tagged one. If the server completes
    /// the command instead of sending `+`, the rest is not sent and the completion is the
    /// next response read.
    pub async fn start(&mut self, cmd: ClientCommand) -> Result<Tag, Error> {
        let tag = self.tags.next();
        let parts = cmd.encode(&tag, self.encode_options(&cmd));
        self.write_parts_tagged(parts, Some(&tag)).await?;
        Ok(tag)
    }

    async fn write_parts(&mut self, parts: Vec<Vec<u8>>) -> Result<(), Error> {
        self.write_parts_tagged(parts, None).await
    }

    async fn write_parts_tagged(
        &mut self,
        parts: Vec<Vec<u8>>,
        tag: Option<&Tag>,
    ) -> Result<(), Error> {
        let n = parts.len();
        let mut held = self.pending.iter().map(|(_, s)| *s as u64).sum::<u64>();
        for (i, part) in parts.into_iter().enumerate() {
            self.write(&part).await?;
            if i + 1 == n {
                break;
            }
            // Wait for the continuation request before sending the literal; what else comes
            // is kept for the caller (in order, after what was pending before).
            loop {
                let (r, size) = self.read_socket(self.deadline(), true).await?;
                match r {
                    Response::Continue(_) => break,
                    r => {
                        let done = matches!(&r, Response::Tagged { tag: t, .. } if tag.is_some_and(|tag| t == tag.as_str()));
                        held += size as u64;
                        self.within_collect_budget(held)?;
                        self.pending.push_back((r, size));
                        if done {
                            return Ok(());
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes raw bytes (e.g. IDLE's `DONE`), within the I/O timeout.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let w = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        tokio::time::timeout(self.opts.io_timeout, w)
            .await
            .map_err(|_| Error::Timeout)?
            .map_err(Error::Io)
    }

    fn deadline(&self) -> Instant {
        Instant::now() + self.opts.response_timeout
    }

    /// The next response from the server, within the response deadline.
    pub async fn read(&mut self) -> Result<Response, Error> {
        Ok(self.next_sized(self.deadline()).await?.0)
    }

    /// The next response, or `None` when `deadline` comes first (no I/O timeout applies:
    /// for IDLE). Cancel-safe.
    pub async fn read_until(&mut self, deadline: Instant) -> Result<Option<Response>, Error> {
        match self.next_inner(deadline, false).await {
            Ok((r, _)) => Ok(Some(r)),
            Err(Error::Timeout) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn next_sized(&mut self, deadline: Instant) -> Result<(Response, usize), Error> {
        self.next_inner(deadline, true).await
    }

    /// The next response with its wire size: a pending one, else one from the socket.
    async fn next_inner(
        &mut self,
        deadline: Instant,
        io_timeout: bool,
    ) -> Result<(Response, usize), Error> {
        if let Some(p) = self.pending.pop_front() {
            return Ok(p);
        }
        self.read_socket(deadline, io_timeout).await
    }

    /// The next response from the socket (not from the pending queue); one with spooled
    /// parts is read back under a permit kept for [`Self::take_permit`].
    async fn read_socket(
        &mut self,
        deadline: Instant,
        io_timeout: bool,
    ) -> Result<(Response, usize), Error> {
        self.held = None;
        let frame = self.read_frame(deadline, io_timeout).await?;
        let frame = match &mut self.spool {
            Some((spool, budget)) if !spool.is_empty() => {
                // Back into memory only within the budget (see the crate notes).
                self.held = Some(budget.acquire(spool.len() + frame.len() as u64).await);
                self.ready = Some(frame);
                return self.read_back();
            }
            _ => frame,
        };
        let r = client::parse(&frame)?;
        Ok((r, frame.len()))
    }

    /// The next response, or, when it is complete but partly on disk
    /// ([`Self::set_spool`]), [`Next::Spooled`] with its size: the caller obtains memory for
    /// it (a permit of its budget, without holding other permits while it waits) and reads
    /// it with [`Self::read_back`]. Within the response deadline.
    pub async fn read_or_spooled(&mut self) -> Result<Next, Error> {
        if self.ready.is_some() {
            return Err(Error::Protocol(
                "a spooled response was not read back".into(),
            ));
        }
        if let Some((r, n)) = self.pending.pop_front() {
            return Ok(Next::Response(r, n));
        }
        let deadline = self.deadline();
        let frame = self.read_frame(deadline, true).await?;
        match &self.spool {
            Some((spool, _)) if !spool.is_empty() => {
                let size = spool.len() + frame.len() as u64;
                self.ready = Some(frame);
                Ok(Next::Spooled(size))
            }
            _ => {
                let r = client::parse(&frame)?;
                Ok(Next::Response(r, frame.len()))
            }
        }
    }

    /// The response announced by [`Next::Spooled`], read back from disk whole (blocking file
    /// I/O, through [`pochta_net::blocking`]), with its size.
    pub fn read_back(&mut self) -> Result<(Response, usize), Error> {
        let Some(frame) = self.ready.take() else {
            return Err(Error::Protocol("no spooled response to read back".into()));
        };
        let whole = match &mut self.spool {
            Some((spool, _)) => {
                pochta_net::blocking(|| spool.complete(Vec::from(frame))).map_err(Error::Io)?
            }
            None => Vec::from(frame),
        };
        let frame = bytes::Bytes::from(whole);
        let r = client::parse(&frame)?;
        Ok((r, frame.len()))
    }

    /// The next framed response from the socket, its large literals spooled while they
    /// arrive when a spool is set.
    async fn read_frame(
        &mut self,
        deadline: Instant,
        io_timeout: bool,
    ) -> Result<bytes::Bytes, Error> {
        loop {
            match self.reader.next_frame() {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(e) => {
                    if let Some((spool, _)) = &mut self.spool {
                        spool.clear();
                    }
                    return Err(e.into());
                }
            }
            // A large literal in progress goes to disk, not memory.
            if let Some((spool, _)) = &mut self.spool
                && let Some(part) = self.reader.take_literal(LITERAL_SPOOL_THRESHOLD)
            {
                pochta_net::blocking(|| spool.write(part)).map_err(Error::Io)?;
            }
            let mut until = deadline;
            if io_timeout {
                until = until.min(Instant::now() + self.opts.io_timeout);
            }
            let n = tokio::time::timeout_at(until, self.stream.read(&mut self.rbuf))
                .await
                .map_err(|_| Error::Timeout)?
                .map_err(Error::Io)?;
            if n == 0 {
                return Err(Error::Closed);
            }
            self.reader.feed(&self.rbuf[..n]);
        }
    }

    /// Starts IDLE (RFC 2177 §3): sends it and waits for the `+`. Returns the tag for
    /// [`Self::idle_done`].
    pub async fn idle_start(&mut self) -> Result<Tag, Error> {
        let tag = self.tags.next();
        let parts = ClientCommand::Idle.encode(&tag, EncodeOptions::default());
        self.write_parts(parts).await?;
        loop {
            match self.read().await? {
                Response::Continue(_) => return Ok(tag),
                Response::Tagged { tag: t, status } if t == tag.as_str() => {
                    check(status)?;
                    return Err(Error::Protocol("IDLE ended before it started".into()));
                }
                r => {
                    if let Some(text) = bye_text(&r) {
                        return Err(Error::Bye(text.to_owned()));
                    }
                }
            }
        }
    }

    /// While idling: the next response, or `None` when `deadline` comes first (choose one
    /// under the 29 minutes of RFC 2177 §3). Cancel-safe.
    pub async fn idle_wait(&mut self, deadline: Instant) -> Result<Option<Response>, Error> {
        self.read_until(deadline).await
    }

    /// Ends IDLE: `DONE`, then the IDLE command's tagged response (RFC 2177 §3).
    pub async fn idle_done(&mut self, tag: &Tag) -> Result<(), Error> {
        self.write(b"DONE\r\n").await?;
        loop {
            match self.read().await? {
                Response::Tagged { tag: t, status } if t == tag.as_str() => {
                    check(status)?;
                    return Ok(());
                }
                r => {
                    if let Some(text) = bye_text(&r) {
                        return Err(Error::Bye(text.to_owned()));
                    }
                }
            }
        }
    }

    /// LOGOUT (best effort, within 5 s) and close.
    pub async fn logout(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.run(ClientCommand::Logout)).await;
        let _ = self.stream.shutdown().await;
    }
}
