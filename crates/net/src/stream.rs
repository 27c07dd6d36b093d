//! A connection's byte stream, plain or TLS, upgradable in place (STARTTLS).
//!
//! Implementation notes:
//! - [`Stream`] is one type for both states so a session keeps a single reader/writer across
//!   STARTTLS and never needs to know how the connection began.
//! - **Pipelined bytes after STARTTLS must be discarded** (RFC 3207 §4.2, RFC 2595 §3.1,
//!   CVE-2011-0411): anything a client sent after the STARTTLS command but before the
//!   handshake was sent in plaintext and could have been injected by an attacker. A session
//!   reads through a `tokio::io::BufReader<Stream>` (which also passes writes through); to
//!   upgrade it answers the command, flushes, then calls [`starttls_buffered`], which drops the
//!   reader's buffer with `BufReader::into_inner` and reports how many bytes were dropped.
//!   Bytes the client sent but we have not read yet stay in the socket and reach the TLS
//!   handshake, which rejects them — the right outcome for a client that broke the protocol.
//! - **No delayed-ACK stalls.** Clients write a command in pieces (Python's imaplib sends an
//!   APPEND literal and its final CRLF in two writes, smtplib and Postfix's smtp-source write
//!   DATA's end apart from the body). With Nagle's algorithm on the client, the second piece
//!   waits until the first is acknowledged, and Linux delays that ACK by up to 40 ms when the
//!   server has nothing to answer yet. Every read that returns bytes re-arms `TCP_QUICKACK` on
//!   the socket, so data we have consumed is acknowledged at once (one `setsockopt` per read;
//!   measured: imaplib APPEND of 10 KB went from 47 ms to ~1 ms a message). Clients do not set
//!   `TCP_NODELAY`, so this is the server's job.
//! - Neither the handshake nor reads carry timeouts here; wrap them in [`with_timeout`] so each
//!   protocol chooses its bound (RFC 9051 §5.4 allows 30 minutes idle for IMAP, SMTP less).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, BufReader, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A server-side connection, before or after TLS.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// Whether TLS is active (implicit or after STARTTLS).
    pub fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// The underlying TCP stream, for addresses and socket options.
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }

    /// The negotiated TLS version and cipher suite, e.g. `("TLSv1_3", "TLS13_AES_256_GCM_SHA384")`,
    /// for logs and Received headers.
    pub fn tls_description(&self) -> Option<String> {
        let Stream::Tls(s) = self else { return None };
        let conn = s.get_ref().1;
        let version = conn.protocol_version()?;
        let suite = conn.negotiated_cipher_suite()?;
        Some(format!("{version:?} {:?}", suite.suite()))
    }

    /// Runs the server side of a TLS handshake on a plain stream (implicit TLS or STARTTLS).
    ///
    /// The caller must already have dropped any bytes it buffered from the plain stream; see
    /// [`starttls_buffered`]. Fails with `InvalidInput` if TLS is already active (a second
    /// STARTTLS is a protocol error the session should answer before getting here).
    pub async fn starttls(self, acceptor: &TlsAcceptor) -> io::Result<Stream> {
        match self {
            Stream::Plain(tcp) => Ok(Stream::Tls(Box::new(acceptor.accept(tcp).await?))),
            Stream::Tls(_) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TLS is already active",
            )),
        }
    }
}

/// Upgrades a buffered session stream to TLS, **discarding every byte buffered from the plain
/// stream** (pipelined after STARTTLS). Returns the new stream, re-wrapped in a fresh
/// `BufReader`, and how many bytes were discarded (worth a log line: honest clients send none).
pub async fn starttls_buffered(
    reader: BufReader<Stream>,
    acceptor: &TlsAcceptor,
) -> io::Result<(BufReader<Stream>, usize)> {
    let discarded = reader.buffer().len();
    // `into_inner` drops the buffer: this is the discard.
    let stream = reader.into_inner().starttls(acceptor).await?;
    Ok((BufReader::new(stream), discarded))
}

/// Awaits `fut` for at most `limit`; running out is an `io::ErrorKind::TimedOut` error, so
/// idle and handshake timeouts flow through the same `?` as other I/O errors.
pub async fn with_timeout<T>(
    limit: Duration,
    fut: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "timed out")),
    }
}

impl Stream {
    /// Write a session's pending output, flush it, and empty the buffer (see
    /// [`reset_output`]). Nothing to write is not an error.
    pub async fn send(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        use tokio::io::AsyncWriteExt;
        if out.is_empty() {
            return Ok(());
        }
        self.write_all(out).await?;
        self.flush().await?;
        reset_output(out);
        Ok(())
    }
}

/// Empty an output buffer once written; one that a large answer (a big FETCH or RETR) grew
/// past 64 KiB goes back to a small one, so an idle session does not keep it.
pub fn reset_output(out: &mut Vec<u8>) {
    out.clear();
    if out.capacity() > 64 * 1024 {
        *out = Vec::with_capacity(256);
    }
}

/// Run blocking work (store calls that may fsync, Argon2) from a session's task: on a
/// multi-threaded runtime through `block_in_place`, so the worker's other connections move
/// on; elsewhere (tests, the fuzz harnesses) directly.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

impl Stream {
    /// Read like [`AsyncRead`] does, but without re-arming `TCP_QUICKACK` (see the notes on
    /// top): for a protocol that knows when a command is incomplete and arms it then with
    /// [`Stream::quickack`], instead of one `setsockopt` on every read.
    pub async fn read_quiet(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| {
            let mut rb = ReadBuf::new(buf);
            let r = match self {
                Stream::Plain(s) => Pin::new(s).poll_read(cx, &mut rb),
                Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, &mut rb),
            };
            r.map_ok(|()| rb.filled().len())
        })
        .await
    }

    /// Acknowledge what was received at once (sends a pending delayed ACK now) and keep
    /// doing so for a while: for a caller of [`Stream::read_quiet`] that holds part of a
    /// command, whose rest the client may be holding back until this ACK (Nagle).
    pub fn quickack(&self) {
        quickack(self.tcp());
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = self.get_mut();
        let r = match this {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            quickack(this.tcp());
        }
        r
    }
}

/// Re-arms `TCP_QUICKACK` (see the module notes). The kernel leaves quick-ACK mode on its own,
/// so this is done after every read; failure only means a possible delayed ACK.
#[cfg(target_os = "linux")]
fn quickack(tcp: &TcpStream) {
    let _ = socket2::SockRef::from(tcp).set_tcp_quickack(true);
}

#[cfg(not(target_os = "linux"))]
fn quickack(_tcp: &TcpStream) {}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
