//! The tokio driver: socket bytes → framer → session → socket.
//!
//! Implementation notes:
//! - All protocol decisions live in the sans-IO [`Session`]; this loop only moves bytes,
//!   applies timeouts, performs the TLS upgrade and waits in IDLE.
//! - Pipelining: every complete command already buffered is handled before the output is
//!   flushed, so a burst of pipelined commands costs one write (RFC 9051 §5.5). Consecutive
//!   independent commands (reads: [`crate::pipeline`]) are collected into a group that runs
//!   concurrently, answered as each member completes; any other command first waits for the
//!   group before it, and is parsed only after it (so what it changes is in effect for what
//!   follows).
//! - STARTTLS: the framer (and with it every byte the client sent after the command) is
//!   replaced by a fresh one before the handshake, so nothing pipelined in plaintext is ever
//!   acted on (RFC 2595 §3.1; the CVE-2011-0411 class).
//! - A synchronizing literal is accepted (`+ Ready`) only after checking its size against the
//!   APPEND limit, so an oversized APPEND is refused before its bytes are sent.
//! - Before authentication the framer has the much smaller [`Limits::PRE_AUTH`] budget (no
//!   large literal, line or AUTHENTICATE); a synchronizing literal over it gets
//!   `NO [TOOBIG]`, a non-synchronizing one `* BYE [TOOBIG]` and the connection is closed
//!   rather than its bytes read (RFC 7888 §4). The full limits apply from the command after
//!   the login.
//! - A literal must arrive at `min_data_rate` bytes/s after `data_rate_grace`
//!   (`pochta_net::DataRate`); below it the client gets `* BYE` and the connection is closed.
//! - A literal over 64 KiB is spooled to an unnamed file in `spool_dir` while it arrives
//!   (`crate::spool`) and put back into its command when the command is complete.
//! - Store calls are synchronous; on the multi-threaded runtime they run under
//!   `block_in_place` so a slow fsync does not stall other connections' tasks, except small
//!   bounded reads and lazy writes ([`pipeline::inline`]: STATUS, LIST, a FETCH, STORE or
//!   EXPUNGE of a few messages, SELECT, LOGIN answered by the credentials cache), which run
//!   on the worker thread: the hand-off costs more than they do.
//! - Reads do not re-arm `TCP_QUICKACK` each time (`Stream::read_quiet`); the loop arms it
//!   before waiting for more only when it holds part of a command, so a client whose Nagle
//!   holds back the rest (imaplib's CRLF after an APPEND literal) is never kept waiting for a
//!   delayed ACK, and a complete command costs no `setsockopt` (its answer carries the ACK).
//! - IDLE (RFC 2177) waits on the change bus (a wake-up only; the session then asks the store)
//!   with a periodic re-check as a fallback, and ends on `DONE`, timeout or shutdown.
//! - NOTIFY (RFC 5465, [`crate::notify`]): while it is active the connection also listens on
//!   the change bus between commands — only when nothing is pending (no partial command in
//!   the framer, no group running), so unsolicited responses never interleave with a
//!   command's — and hands each event to the session; IDLE then uses the same receiver.
//!   The autologout timer counts from the last command, not from the last notification.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use pochta_imap_proto::response::{self, Status};
use pochta_imap_proto::{Event, FrameErrorKind, Framer, Limits, parse_command};
use pochta_net::{Connection, DataRate, Stream, blocking};
use pochta_store::{ChangeEvent, MailStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;

use crate::compress::Deflate;
use crate::pipeline;
use crate::session::{Next, Session, Shared};
use crate::spool::Spool;

/// Fallback re-check interval while idling (changes made by another process).
const IDLE_RECHECK: Duration = Duration::from_secs(15);
/// Read buffer per connection; small, because idle connections must stay cheap.
const READ_CHUNK: usize = 4096;

/// What a raw line from the framer is for.
#[derive(PartialEq, Eq)]
enum Waiting {
    Nothing,
    Sasl,
}

/// Serve one connection to the end.
pub async fn serve<S: MailStore>(shared: Arc<Shared<S>>, conn: Connection) {
    let peer = conn.peer;
    if let Err(e) = run(shared, conn).await {
        tracing::debug!(%peer, error = %e, "IMAP connection ended with an error");
    }
}

/// The framer's limits: [`Limits::PRE_AUTH`] until the session is authenticated.
fn limits<S>(shared: &Shared<S>, authenticated: bool) -> Limits {
    if !authenticated {
        return Limits::PRE_AUTH;
    }
    Limits {
        max_literal: shared.config.max_message,
        max_command: shared.config.max_message.saturating_mul(2).max(1 << 20),
        max_text: crate::spool::MAX_TEXT,
        ..Limits::default()
    }
}

async fn run<S: MailStore>(shared: Arc<Shared<S>>, conn: Connection) -> io::Result<()> {
    let Connection {
        mut stream,
        peer,
        starttls,
        mut shutdown,
        admission,
        ..
    } = conn;
    // Greeting to login is one total budget, not a budget per read: a client dripping a
    // byte now and then must not hold a connection past it (RFC 9051 §5.4 sets no minimum
    // before login).
    let login_deadline = tokio::time::Instant::now() + shared.config.login_timeout;
    let mut session = Session::new(
        shared.clone(),
        peer.ip(),
        stream.is_tls(),
        starttls.is_some(),
    );
    let mut framer = Framer::new(limits(&shared, session.is_authenticated()));
    let mut waiting = Waiting::Nothing;
    let mut rate: Option<DataRate> = None;
    let mut spool = Spool::new(shared.config.spool_dir.clone());
    let mut buf = vec![0u8; READ_CHUNK];
    let mut deflate: Option<Box<Deflate>> = None;
    session.greeting();
    flush(&mut stream, &mut session, &mut deflate).await?;
    // Independent commands waiting to run together (see `pipeline`).
    let mut group: Vec<pochta_imap_proto::Command> = Vec::new();
    // The change bus while NOTIFY is active (see the notes).
    let mut notify_rx: Option<broadcast::Receiver<ChangeEvent>> = None;
    // Where the autologout timer starts: after the last command, not after the last
    // notification (`woken` marks a wake-up by the change bus).
    let mut timer_start = tokio::time::Instant::now();
    let mut woken = false;

    loop {
        // Handle everything already buffered.
        while let Some(event) = framer.next_event() {
            let next = match event {
                Event::Command(fc) => {
                    // A spooled command comes back into memory only within the server's
                    // budget, held until it has run (`crate::spool`).
                    let permit = if spool.is_empty() {
                        None
                    } else {
                        let held = spool.len() + fc.bytes.len() as u64;
                        Some(shared.config.message_budget.acquire(held).await)
                    };
                    let bytes = if spool.is_empty() {
                        fc.bytes
                    } else {
                        blocking(|| spool.complete(fc.bytes))?
                    };
                    let parsed = parse_command(&bytes, session.parse_options());
                    match parsed {
                        Ok(cmd) if pipeline::independent(&session, &cmd.body) => {
                            if group.len() >= pipeline::MAX_GROUP {
                                run_group(&mut group, &mut stream, &mut session, &mut deflate)
                                    .await?;
                            }
                            group.push(cmd);
                            if permit.is_some() {
                                // Not kept waiting in memory past its permit.
                                run_group(&mut group, &mut stream, &mut session, &mut deflate)
                                    .await?;
                            }
                            continue;
                        }
                        Ok(cmd) => {
                            run_group(&mut group, &mut stream, &mut session, &mut deflate).await?;
                            handle(&mut session, cmd)
                        }
                        Err(e) => {
                            run_group(&mut group, &mut stream, &mut session, &mut deflate).await?;
                            session.parse_error(e);
                            Next::Continue
                        }
                    }
                }
                Event::LiteralAnnounced { tag, size, .. } => {
                    run_group(&mut group, &mut stream, &mut session, &mut deflate).await?;
                    if size > shared.config.max_message {
                        framer.reject_literal();
                        spool.clear();
                        session.frame_error(
                            tag.as_ref(),
                            "literal is larger than APPENDLIMIT",
                            true,
                        );
                    } else {
                        framer.accept_literal();
                        response::write_continue(&mut session.out, "Ready for literal data");
                    }
                    Next::Continue
                }
                Event::Line(line) => match std::mem::replace(&mut waiting, Waiting::Nothing) {
                    // A raw line follows a command that waited for it: no group is pending.
                    Waiting::Sasl => blocking(|| session.sasl_line(&line)),
                    Waiting::Nothing => Next::Continue,
                },
                Event::Error(e) => {
                    run_group(&mut group, &mut stream, &mut session, &mut deflate).await?;
                    spool.clear();
                    if let FrameErrorKind::LiteralTooBig { kind, .. } = e.kind
                        && !kind.is_sync()
                        && !session.is_authenticated()
                    {
                        // Before login, rather than read and drop what may be gigabytes
                        // (RFC 7888 §4, choice 2).
                        let text = "Literal too big before login";
                        let code = response::Code::TooBig;
                        response::write_status(
                            &mut session.out,
                            None,
                            Status::Bye,
                            Some(&code),
                            text,
                        );
                        flush(&mut stream, &mut session, &mut deflate).await?;
                        return stream.shutdown().await;
                    }
                    let (text, too_big) = match e.kind {
                        FrameErrorKind::LineTooLong => ("line too long", false),
                        FrameErrorKind::LiteralTooBig { .. } if !session.is_authenticated() => {
                            ("literal too big before login", true)
                        }
                        FrameErrorKind::LiteralTooBig { .. } => ("literal too big", true),
                        FrameErrorKind::CommandTooBig => ("command too big", true),
                        FrameErrorKind::TooManyLiterals => ("too many literals", false),
                    };
                    if std::mem::replace(&mut waiting, Waiting::Nothing) == Waiting::Sasl {
                        // The raw line the exchange waited for never came whole: answer
                        // AUTHENTICATE's tag, or the client would wait for it forever.
                        session.sasl_abort(&format!("{text}; AUTHENTICATE aborted"));
                    } else {
                        session.frame_error(e.tag.as_ref(), text, too_big);
                    }
                    Next::Continue
                }
            };
            if session.is_authenticated() {
                framer.set_limits(limits(&shared, true));
            }
            if let Some(d) = session.delay.take() {
                tokio::time::sleep(d).await;
            }
            let mut next = next;
            while next == Next::More {
                // A large FETCH: send this chunk before the session writes the next one.
                flush(&mut stream, &mut session, &mut deflate).await?;
                next = blocking(|| session.resume());
            }
            match next {
                Next::Continue | Next::More => {
                    // Pipelined commands: send what has piled up rather than let the answers
                    // to a read buffer full of commands grow without bound.
                    if session.out.len() >= crate::fetch::CHUNK {
                        flush(&mut stream, &mut session, &mut deflate).await?;
                    }
                }
                Next::Logout => {
                    flush(&mut stream, &mut session, &mut deflate).await?;
                    return stream.shutdown().await;
                }
                Next::SaslContinue => {
                    waiting = Waiting::Sasl;
                    framer.expect_line();
                    flush(&mut stream, &mut session, &mut deflate).await?;
                }
                Next::StartTls => {
                    flush(&mut stream, &mut session, &mut deflate).await?;
                    let Some(acceptor) = starttls.as_ref() else {
                        return Ok(());
                    };
                    // Dropping the framer drops whatever was pipelined after STARTTLS.
                    framer = Framer::new(limits(&shared, session.is_authenticated()));
                    stream = stream.starttls(acceptor).await?;
                    session.tls_started();
                }
                Next::Compress => {
                    flush(&mut stream, &mut session, &mut deflate).await?;
                    // Anything the client sent after COMPRESS before our OK would be
                    // uncompressed garbage now (RFC 4978 §3 forbids it); start afresh.
                    framer = Framer::new(limits(&shared, session.is_authenticated()));
                    deflate = Some(Box::default());
                }
                Next::Idle(tag) => {
                    flush(&mut stream, &mut session, &mut deflate).await?;
                    framer.expect_line();
                    let done = idle(
                        &shared,
                        &mut stream,
                        &mut deflate,
                        &mut session,
                        &mut framer,
                        &mut buf,
                        &mut shutdown,
                        &mut notify_rx,
                    )
                    .await?;
                    match done {
                        Some(line) => blocking(|| session.idle_done(&tag, &line)),
                        None => {
                            response::write_status(
                                &mut session.out,
                                None,
                                Status::Bye,
                                None,
                                "Server shutting down",
                            );
                            flush(&mut stream, &mut session, &mut deflate).await?;
                            return Ok(());
                        }
                    }
                }
            }
        }
        run_group(&mut group, &mut stream, &mut session, &mut deflate).await?;
        // A large literal in progress goes to disk, not memory.
        // (`blocking` only when there is something to write: it hands the worker's other
        // tasks away, too costly on every read of every connection.)
        if let Some(part) = spool.take(&mut framer) {
            blocking(|| spool.write(part))?;
        }
        if !session.out.is_empty() {
            flush(&mut stream, &mut session, &mut deflate).await?;
        }
        let authenticated = session.is_authenticated();
        // NOTIFY: listen while it is on, on the receiver the NOTIFY command subscribed
        // before reading its snapshot (so nothing after the snapshot is missed).
        if let Some(rx) = session.notify_receiver() {
            notify_rx = Some(rx);
        }
        if !session.notify_active() {
            notify_rx = None;
        }
        let listening = notify_rx.is_some()
            && framer.buffered() == 0
            && !framer.in_literal()
            && group.is_empty();
        if !std::mem::take(&mut woken) {
            timer_start = tokio::time::Instant::now();
        }
        let timeout = if authenticated {
            admission.authenticated();
            shared
                .config
                .idle_timeout
                .saturating_sub(timer_start.elapsed())
        } else {
            login_deadline.saturating_duration_since(tokio::time::Instant::now())
        };
        // A literal must keep arriving at the minimum data rate.
        if !framer.in_literal() {
            rate = None;
        }
        let rate_left = framer.in_literal().then(|| {
            let c = &shared.config;
            rate.get_or_insert_with(|| DataRate::start(c.min_data_rate, c.data_rate_grace))
                .remaining()
        });
        let timeout = rate_left.map_or(timeout, |r| r.min(timeout));
        if framer.buffered() > 0 || framer.in_literal() || framer.awaiting_decision() {
            // Part of a command is here: acknowledge it now, or a client whose Nagle holds
            // back the rest (imaplib's CRLF after an APPEND literal) waits for our delayed
            // ACK (`pochta_net::stream` notes).
            stream.quickack();
        }
        let n = tokio::select! {
            ev = next_change(&mut notify_rx), if listening => {
                blocking(|| session.notify_event(ev.ok(), false));
                if !session.out.is_empty() {
                    flush(&mut stream, &mut session, &mut deflate).await?;
                }
                woken = true;
                continue;
            }
            _ = tokio::time::sleep(IDLE_RECHECK), if listening => {
                blocking(|| session.notify_recheck(false));
                if !session.out.is_empty() {
                    flush(&mut stream, &mut session, &mut deflate).await?;
                }
                woken = true;
                continue;
            }
            r = tokio::time::timeout(timeout, stream.read_quiet(&mut buf)) => match r {
                Ok(r) => r?,
                Err(_) => {
                    let text = if rate_left == Some(timeout) {
                        "Literal data arriving too slowly"
                    } else if authenticated {
                        "Autologout; idle for too long"
                    } else {
                        "Autologout; no login in time"
                    };
                    response::write_status(&mut session.out, None, Status::Bye, None, text);
                    flush(&mut stream, &mut session, &mut deflate).await?;
                    return Ok(());
                }
            },
            _ = shutdown.wait() => {
                response::write_status(&mut session.out, None, Status::Bye, None, "Server shutting down");
                flush(&mut stream, &mut session, &mut deflate).await?;
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
        if let Some(r) = &mut rate {
            r.add(n);
        }
        feed(&mut framer, &mut deflate, &buf[..n])?;
    }
}

/// Run the independent commands collected in `group` (see [`crate::pipeline`]) and write
/// their answers as they complete. A group of one, or of small reads only
/// ([`pipeline::inline`]), runs here in order as any other commands would: a thread costs
/// more than they do. Otherwise the large members (FETCH of many bodies, SEARCH, …) are
/// shared between a few blocking-pool helpers ([`pipeline::helpers`]) and this task, which
/// first runs the small members on the worker thread, then takes large ones too; every runner
/// works on a fork of the session, and afterwards the session reports what changed meanwhile
/// (no EXPUNGE: no command is in progress then).
async fn run_group<S: MailStore>(
    group: &mut Vec<pochta_imap_proto::Command>,
    stream: &mut Stream,
    session: &mut Session<S>,
    deflate: &mut Option<Box<Deflate>>,
) -> io::Result<()> {
    let large = group
        .iter()
        .filter(|c| !pipeline::inline(session, &c.body))
        .count();
    let helpers = if group.len() > 1 {
        pipeline::helpers(large)
    } else {
        0
    };
    if helpers == 0 {
        for cmd in std::mem::take(group) {
            let mut next = handle(session, cmd);
            while next == Next::More {
                flush(stream, session, deflate).await?;
                next = blocking(|| session.resume());
            }
            if session.out.len() >= crate::fetch::CHUNK {
                flush(stream, session, deflate).await?;
            }
        }
        return Ok(());
    }
    let (small, large): (Vec<_>, Vec<_>) = std::mem::take(group)
        .into_iter()
        .partition(|c| pipeline::inline(session, &c.body));
    let (queue, mut rx) = pipeline::spawn(session, large, helpers);
    // This task's own runner; output waiting from before the group goes out with its first
    // answer.
    let mut own = session.fork();
    for cmd in small {
        let next = own.handle(cmd);
        run_own(next, &mut own, session, &mut rx, stream, deflate).await?;
    }
    // The small answers go out now, not after a large member this task may take next.
    if !session.out.is_empty() {
        flush(stream, session, deflate).await?;
    }
    while let Some(cmd) = queue.pop() {
        let next = blocking(|| own.handle(cmd));
        run_own(next, &mut own, session, &mut rx, stream, deflate).await?;
    }
    session.condstore |= own.condstore;
    while let Some(piece) = rx.recv().await {
        let mut piece = Some(piece);
        // Take whatever else is ready too: one write for answers completed together.
        while let Some(p) = piece {
            session.condstore |= p.condstore;
            session.out.extend_from_slice(&p.bytes);
            piece = rx.try_recv().ok();
        }
        flush(stream, session, deflate).await?;
    }
    // As after a small read (`pipeline::inline`): at most a lazy `\Recent` claim.
    if let Err(e) = session.sync(false) {
        tracing::error!(error = %e, "syncing the selected mailbox failed");
    }
    Ok(())
}

/// Finishes the command this task's runner `own` has started (`next` is what its first step
/// returned): moves its answers and the helpers' into the session's output as they come,
/// writing each full chunk, and resumes it on a blocking thread while it has more to do.
async fn run_own<S: MailStore>(
    mut next: Next,
    own: &mut Session<S>,
    session: &mut Session<S>,
    rx: &mut tokio::sync::mpsc::Receiver<pipeline::Piece>,
    stream: &mut Stream,
    deflate: &mut Option<Box<Deflate>>,
) -> io::Result<()> {
    loop {
        take_output(session, own, rx);
        if session.out.len() >= crate::fetch::CHUNK {
            flush(stream, session, deflate).await?;
        }
        if next != Next::More {
            return Ok(());
        }
        next = blocking(|| own.resume());
    }
}

/// Move what `own` (this task's runner of a group) and the helpers have produced so far into
/// the session's output.
fn take_output<S: MailStore>(
    session: &mut Session<S>,
    own: &mut Session<S>,
    rx: &mut tokio::sync::mpsc::Receiver<pipeline::Piece>,
) {
    session.out.append(&mut own.out);
    while let Ok(p) = rx.try_recv() {
        session.condstore |= p.condstore;
        session.out.extend_from_slice(&p.bytes);
    }
}

/// Handle one command: a small read on this worker thread, anything else through
/// [`blocking`] ([`pipeline::inline`]).
fn handle<S: MailStore>(session: &mut Session<S>, cmd: pochta_imap_proto::Command) -> Next {
    if pipeline::inline(session, &cmd.body) {
        session.handle(cmd)
    } else {
        blocking(|| session.handle(cmd))
    }
}

/// Hand received bytes to the framer, decompressing first when COMPRESS is active.
fn feed(framer: &mut Framer, deflate: &mut Option<Box<Deflate>>, bytes: &[u8]) -> io::Result<()> {
    match deflate {
        Some(d) => framer.feed(&d.decompress(bytes)?),
        None => framer.feed(bytes),
    }
    Ok(())
}

/// The next change-bus event, or never without a receiver. `Err`: events were lost.
async fn next_change(
    rx: &mut Option<broadcast::Receiver<ChangeEvent>>,
) -> Result<ChangeEvent, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Wait in IDLE. Returns the client's line (expected `DONE`), or `None` on shutdown.
/// With NOTIFY active, events go through the session's NOTIFY (RFC 5465 §4: the same
/// events as outside IDLE) on the connection's receiver.
#[allow(clippy::too_many_arguments)]
async fn idle<S: MailStore>(
    shared: &Arc<Shared<S>>,
    stream: &mut Stream,
    deflate: &mut Option<Box<Deflate>>,
    session: &mut Session<S>,
    framer: &mut Framer,
    buf: &mut [u8],
    shutdown: &mut pochta_net::Shutdown,
    notify_rx: &mut Option<broadcast::Receiver<ChangeEvent>>,
) -> io::Result<Option<Vec<u8>>> {
    if let Some(r) = session.notify_receiver() {
        *notify_rx = Some(r);
    }
    let mut own_rx = None;
    let rx = match notify_rx {
        Some(rx) if session.notify_active() => rx,
        _ => own_rx.insert(shared.store.change_bus().subscribe()),
    };
    let mailbox = session.view().ok().map(|v| v.mailbox);
    let deadline = tokio::time::Instant::now() + shared.config.idle_timeout;
    // Anything that changed between the command and the subscription.
    blocking(|| session.idle_poll());
    flush(stream, session, deflate).await?;
    loop {
        match framer.next_event() {
            Some(Event::Line(line)) => return Ok(Some(line)),
            // An over-long line in IDLE (the one raw line it waits for) ends IDLE with the
            // tagged BAD any line but DONE gets, so the client is never left unanswered and
            // its next command is read normally.
            Some(Event::Error(_)) => return Ok(Some(Vec::new())),
            _ => {}
        }
        tokio::select! {
            ev = rx.recv() => {
                if session.notify_active() {
                    blocking(|| session.notify_event(ev.ok(), true));
                    flush(stream, session, deflate).await?;
                    continue;
                }
                let relevant = match ev {
                    Ok(ChangeEvent::Mailbox { mailbox: m, .. }) => Some(m) == mailbox,
                    // RESETKEY by another session (urlauth): `idle_poll` tells if it is ours.
                    Ok(ChangeEvent::AccessKey { .. }) => true,
                    Ok(ChangeEvent::MailboxList { .. } | ChangeEvent::Metadata { .. }) => false,
                    Err(_) => true,
                };
                if relevant {
                    blocking(|| session.idle_poll());
                    flush(stream, session, deflate).await?;
                }
            }
            r = stream.read(buf) => {
                let n = r?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                feed(framer, deflate, &buf[..n])?;
            }
            _ = tokio::time::sleep(IDLE_RECHECK) => {
                if session.notify_active() {
                    blocking(|| session.notify_recheck(true));
                } else {
                    blocking(|| session.idle_poll());
                }
                flush(stream, session, deflate).await?;
            }
            _ = tokio::time::sleep_until(deadline) => {
                response::write_status(&mut session.out, None, Status::Bye, None, "IDLE for too long");
                flush(stream, session, deflate).await?;
                return Err(io::ErrorKind::TimedOut.into());
            }
            _ = shutdown.wait() => return Ok(None),
        }
    }
}

async fn flush<S>(
    stream: &mut Stream,
    session: &mut Session<S>,
    deflate: &mut Option<Box<Deflate>>,
) -> io::Result<()> {
    match deflate {
        Some(d) if !session.out.is_empty() => {
            stream.send(&mut d.compress(&session.out)?).await?;
            pochta_net::reset_output(&mut session.out);
            Ok(())
        }
        _ => stream.send(&mut session.out).await,
    }
}
