//! The tokio driver: socket bytes → [`LineFramer`] → [`Session`] → socket.
//!
//! Implementation notes:
//! - Every protocol decision is in the sans-IO [`Session`]; this loop moves bytes, applies
//!   timeouts, sleeps the throttle's delay and performs the TLS upgrade.
//! - Pipelining (RFC 2449 §6.6): every complete line already buffered is handled before the
//!   output is flushed, so a burst of commands costs one write, answered in order.
//! - STLS (RFC 2595 §4): after `+OK` is flushed the framer is replaced by a fresh one, which
//!   drops every byte the client pipelined after STLS in plaintext (CVE-2011-0411 class);
//!   the count is logged.
//! - Idle timeout (RFC 1939 §3: at least 10 minutes; the listener's `pop3_idle_timeout`
//!   once logged in; before, what is left of [`crate::Pop3Config::login_timeout`], a total
//!   budget from the greeting, not a budget per read): the connection closes
//!   silently without entering UPDATE, so nothing is deleted. On shutdown the client is told
//!   `-ERR [SYS/TEMP]` and nothing is deleted either.
//! - Store calls are synchronous; on the multi-threaded runtime they run under
//!   `block_in_place` so a slow fsync does not stall other connections.

use std::io;
use std::sync::Arc;

use pochta_net::{Connection, Stream, blocking};
use pochta_store::MailStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::session::{Next, Session, Shared};
use pochta_pop3_proto::framer::{Frame, LineFramer};

const READ_CHUNK: usize = 4096;

/// Serve one connection to its end.
pub async fn serve<S: MailStore>(shared: Arc<Shared<S>>, conn: Connection) {
    let peer = conn.peer;
    if let Err(e) = run(shared, conn).await {
        tracing::debug!(%peer, error = %e, "POP3 connection ended with an error");
    }
}

async fn run<S: MailStore>(shared: Arc<Shared<S>>, conn: Connection) -> io::Result<()> {
    let Connection {
        mut stream,
        peer,
        starttls,
        mut shutdown,
        idle_timeout,
        admission,
        ..
    } = conn;
    // Greeting to login is one total budget, not a budget per read.
    let login_deadline = tokio::time::Instant::now() + shared.config.login_timeout;
    let mut session = Session::new(
        shared.clone(),
        peer.ip(),
        stream.is_tls(),
        starttls.is_some(),
    );
    let mut framer = LineFramer::new(session.line_limit());
    let mut buf = vec![0u8; READ_CHUNK];
    session.greeting();
    flush(&mut stream, &mut session).await?;

    loop {
        framer.set_max(session.line_limit());
        while let Some(frame) = framer.next_frame() {
            let next = match frame {
                Frame::Line(line) => blocking(|| session.handle_line(&line)),
                Frame::TooLong => {
                    session.line_too_long();
                    Next::Continue
                }
            };
            // The throttle's delay comes *before* the answer: a client that saw `-ERR` at once
            // could hang up and guess again on a new connection without ever waiting.
            if let Some(d) = session.delay.take() {
                tokio::time::sleep(d).await;
            }
            match next {
                Next::Continue => framer.set_max(session.line_limit()),
                Next::Close => {
                    flush(&mut stream, &mut session).await?;
                    return stream.shutdown().await;
                }
                Next::StartTls => {
                    flush(&mut stream, &mut session).await?;
                    let Some(acceptor) = starttls.as_ref() else {
                        return Ok(());
                    };
                    let dropped = framer.buffered();
                    if dropped > 0 {
                        tracing::info!(%peer, bytes = dropped, "POP3: dropped bytes pipelined after STLS");
                    }
                    // A fresh framer: nothing pipelined in plaintext survives the upgrade.
                    framer = LineFramer::new(session.line_limit());
                    stream = stream.starttls(acceptor).await?;
                    session.tls_started();
                }
            }
        }
        flush(&mut stream, &mut session).await?;
        let timeout = if session.is_authenticated() {
            admission.authenticated();
            idle_timeout
        } else {
            login_deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(idle_timeout)
        };
        let n = tokio::select! {
            r = tokio::time::timeout(timeout, stream.read(&mut buf)) => match r {
                Ok(r) => r?,
                // RFC 1939 §3: close without a response and without UPDATE.
                Err(_) => return Ok(()),
            },
            _ = shutdown.wait() => {
                session.shutting_down();
                flush(&mut stream, &mut session).await?;
                return Ok(());
            }
        };
        if n == 0 {
            return Ok(());
        }
        framer.feed(&buf[..n]);
    }
}

async fn flush<S>(stream: &mut Stream, session: &mut Session<S>) -> io::Result<()> {
    stream.send(&mut session.out).await
}
