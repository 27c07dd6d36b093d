//! The tokio driver: socket bytes → framer → session → socket.
//!
//! Implementation notes:
//! - All protocol decisions live in the sans-IO [`Session`]; this loop moves bytes, applies
//!   the idle timeout, waits out the greeting delay, runs the async SPF/DKIM/DMARC check and
//!   performs STARTTLS.
//! - PIPELINING (RFC 2920 §3.1): every event already buffered is handled before replies are
//!   flushed, so a pipelined group costs one write; output is always flushed before the
//!   driver blocks on a read, so a client waiting for `354` or a `334` challenge gets it.
//! - STARTTLS: the framer, and with it anything pipelined after the command in plaintext, is
//!   replaced before the handshake (RFC 3207 §4.2; CVE-2011-0411).
//! - Early talkers: on the MTA listener with a greeting delay, a client that sends anything
//!   before the `220` gets `554 5.5.0` and is disconnected (RFC 5321 §4.3.1; Postfix's
//!   postscreen does the same).
//! - A DATA body or BDAT chunk over `spool_threshold` is spooled to an unnamed file in
//!   `spool_dir` while it arrives (`crate::spool`), then handed to the session whole under
//!   a permit of the server's message budget.
//! - A DATA body or BDAT chunk must arrive at `min_data_rate` bytes/s after
//!   `data_rate_grace` (`pochta_net::DataRate`); below it the client gets `451 4.4.2` and
//!   the connection is closed.
//! - Store calls are synchronous; on the multi-threaded runtime they run under
//!   `block_in_place` so an fsync does not stall other connections.

use std::io;
use std::sync::Arc;

use pochta_net::{Connection, DataRate, Stream, blocking};
use pochta_smtp_proto::{Event, Framer, Limits};
use pochta_store::MailStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::authcheck::Client;
use crate::session::{Next, Session};
use crate::spool::Spool;
use crate::{Kind, Shared};

const READ_CHUNK: usize = 16 * 1024;

/// Serves one connection to the end.
pub async fn serve<S: MailStore>(shared: Arc<Shared<S>>, conn: Connection) {
    let peer = conn.peer;
    if let Err(e) = run(shared, conn).await {
        tracing::debug!(%peer, error = %e, "SMTP connection ended with an error");
    }
}

fn framer<S>(shared: &Shared<S>) -> Framer {
    Framer::new(Limits {
        max_line: shared.config.max_line,
    })
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
    // Submission: greeting to AUTH is one total budget, not a budget per read.
    let login_deadline = tokio::time::Instant::now() + shared.config.login_timeout;
    let tls = stream.is_tls().then(|| {
        stream
            .tls_description()
            .unwrap_or_else(|| "TLS".to_string())
    });
    let mut session = Session::new(shared.clone(), peer, tls, starttls.is_some());
    let mut framer = framer(&shared);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut rate: Option<DataRate> = None;
    let mut spool = Spool::new(
        shared.config.spool_dir.clone(),
        shared.config.spool_threshold,
    );

    let delay = shared.config.greeting_delay;
    if shared.kind == Kind::Mta && !delay.is_zero() {
        tokio::select! {
            r = stream.read(&mut buf) => {
                if let Ok(n) = r && n > 0 {
                    tracing::info!(%peer, "SMTP: early talker refused");
                    session.early_talker();
                    flush(&mut stream, &mut session).await?;
                }
                return Ok(());
            }
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.wait() => return Ok(()),
        }
    }
    session.greeting();
    flush(&mut stream, &mut session).await?;

    loop {
        while let Some(event) = framer.next_event() {
            // A spooled body comes back into memory only within the server's budget, held
            // until the message is stored (`crate::spool`).
            let held = spool.held();
            let _permit = if held > 0 && matches!(event, Event::Data(_) | Event::Chunk(_)) {
                Some(shared.config.message_budget.acquire(held).await)
            } else {
                None
            };
            let event = if spool.holds_body() {
                blocking(|| spool.complete(event))?
            } else {
                event
            };
            let mut next = blocking(|| session.handle_event(event));
            if let Next::Message(mut msg) = next {
                if msg.spooled > 0 {
                    blocking(|| spool.message_body(&mut msg))?;
                }
                let auth = if session.checks_apply() {
                    let from = msg.mail_from();
                    let client = Client {
                        ip: peer.ip(),
                        helo: session.helo_name(),
                        mail_from: &from,
                    };
                    shared.verifier.check(client, &msg.body).await
                } else {
                    None
                };
                next = blocking(|| session.finish_message(*msg, auth));
            }
            if let Some(d) = session.delay.take() {
                tokio::time::sleep(d).await;
            }
            match next {
                Next::Continue | Next::Sasl | Next::Message(_) => {}
                Next::Close => {
                    flush(&mut stream, &mut session).await?;
                    return stream.shutdown().await;
                }
                Next::StartTls => {
                    flush(&mut stream, &mut session).await?;
                    let Some(acceptor) = starttls.as_ref() else {
                        return Ok(());
                    };
                    // Dropping the framer drops whatever was pipelined after STARTTLS.
                    if framer.has_pending() {
                        tracing::warn!(%peer, "SMTP: dropped bytes pipelined after STARTTLS");
                    }
                    framer = self::framer(&shared);
                    stream = stream.starttls(acceptor).await?;
                    let desc = stream
                        .tls_description()
                        .unwrap_or_else(|| "TLS".to_string());
                    session.tls_started(desc);
                }
                Next::ReadData(max) => framer.start_data(max),
                Next::ReadBdat { size, keep } => framer.start_bdat(size, keep),
            }
        }
        // A large body in progress goes to disk, not memory.
        // (`blocking` only when there is something to write: it hands the worker's other
        // tasks away, too costly on every read of every connection.)
        if framer.in_body() {
            blocking(|| spool.absorb(&mut framer))?;
        }
        if let Some(part) = spool.take_chunks(&mut session) {
            blocking(|| spool.keep_chunks(part))?;
        }
        if !session.out.is_empty() {
            flush(&mut stream, &mut session).await?;
        }
        let timeout = if shared.kind == Kind::Mta || session.is_authenticated() {
            admission.authenticated();
            shared.config.idle_timeout
        } else {
            login_deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(shared.config.idle_timeout)
        };
        // A body must keep arriving at the minimum rate (`crate::SmtpConfig::min_data_rate`).
        if !framer.in_body() {
            rate = None;
        }
        let rate_left = framer.in_body().then(|| {
            rate.get_or_insert_with(|| {
                DataRate::start(shared.config.min_data_rate, shared.config.data_rate_grace)
            })
            .remaining()
        });
        let timeout = rate_left.map_or(timeout, |r| r.min(timeout));
        let n = tokio::select! {
            r = tokio::time::timeout(timeout, stream.read(&mut buf)) => match r {
                Ok(r) => r?,
                Err(_) if rate_left == Some(timeout) => {
                    tracing::info!(%peer, "SMTP: body arriving below the minimum data rate");
                    session.too_slow();
                    flush(&mut stream, &mut session).await?;
                    return stream.shutdown().await;
                }
                Err(_) => {
                    session.goodbye("4.4.2", "Timeout exceeded");
                    flush(&mut stream, &mut session).await?;
                    return Ok(());
                }
            },
            _ = shutdown.wait() => {
                session.goodbye("4.3.2", "Server shutting down");
                flush(&mut stream, &mut session).await?;
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
        if let Some(r) = &mut rate {
            r.add(n);
        }
        framer.feed(&buf[..n]);
    }
}

async fn flush<S>(stream: &mut Stream, session: &mut Session<S>) -> io::Result<()> {
    stream.send(&mut session.out).await
}
