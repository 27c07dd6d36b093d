//! POP3 source: a small client (RFC 1939) and the UIDL-based pass.
//!
//! Implementation notes:
//! - Only INBOX exists in POP3. Each message is identified by its UIDL (RFC 1939 §7), which
//!   the server keeps stable across sessions; a UIDL in the state is never downloaded again.
//!   Servers without UIDL are refused (they cannot be collected without duplicates).
//! - STLS (RFC 2595 §4) when the URL is `pop3://` and CAPA (RFC 2449) lists it; the read
//!   buffer must be empty when the handshake starts.
//! - RETRs are pipelined in windows when CAPA lists PIPELINING (RFC 2449 §6.6), otherwise
//!   sent one at a time. The grammar is `pochta_pop3_proto`'s client half: commands are
//!   encoded by [`Command::encode`], status lines parsed by [`client::parse_status`],
//!   multi-line responses found by [`client::MultilineReader`] (they end at `CRLF.CRLF`) and
//!   un-stuffed by [`client::unstuff`] (RFC 1939 §3); this module only does the I/O.
//! - Messages stay on the server unless the source was added with `--delete`. Then, at the end
//!   of a pass, every message of the listing whose UIDL is in the state — its append committed
//!   and its checkpoint written ([`crate::state`]), in this pass or an earlier one — is marked
//!   with DELE (pipelined like RETR), and the pass ends with QUIT, whose `+OK` is checked:
//!   deletion happens only then, in the UPDATE state (RFC 1939 §6). A message the local store
//!   refused is never checkpointed, so never deleted; after such a refusal the messages already
//!   checkpointed are still deleted and the pass reports the store's error. A pass that dies
//!   before QUIT deletes nothing (RFC 1939 §6: no UPDATE state without QUIT), and a batch
//!   appended but not yet checkpointed is adopted by the next pass, then deleted.
//! - POP3 has no flags and no internal date: messages arrive unseen, dated when collected.
//! - **Budgets and spooling** (the rules of `crate::sync`, "Budgets", for POP3): a message whose
//!   LIST size is over [`crate::ImportLimits::max_message`] is not retrieved (logged at each
//!   pass; it is never checkpointed, so never DELEd). One RETR answer may hold at most
//!   [`crate::sync::answer_limit`] of the size LIST announced for it (of `max_message` when
//!   LIST gave none), never more than that of `max_message`: an endless or oversized answer
//!   ends the pass with a clear error. With a spool directory (`data_dir/tmp`, as for IMAP
//!   literals) the answer's bytes go to an unnamed file ([`pochta_net::LiteralSpool`]) once
//!   [`pochta_net::LITERAL_SPOOL_THRESHOLD`] of them have arrived, keeping only the last 4
//!   (the terminator may straddle reads); a complete answer claims a permit of the
//!   server-wide [`pochta_net::MessageBudget`] for its size before it is read back (once,
//!   un-stuffed in place), and the permits travel with the batch until it is stored. The
//!   pass never waits for a permit while its batch holds others: it stores the batch first.
//!   CAPA answers may hold [`MAX_CAPA`] bytes, UIDL and LIST answers [`MAX_LISTING`] each.

use std::collections::HashSet;
use std::time::Instant;

use std::borrow::Cow;

use bytes::{Buf, Bytes, BytesMut};
use pochta_pop3_proto::Command;
use pochta_pop3_proto::client::{self, MultilineReader};
use pochta_store::MailStore;
use pochta_types::{Flags, MailboxName, Secret};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use pochta_net::{LITERAL_SPOOL_THRESHOLD, LiteralSpool, MessagePermit};
use pochta_store::MailboxInfo;

use crate::conn::{IO_TIMEOUT, Stream, nothing_pipelined, wants_starttls};
use crate::source::SourceUrl;
use crate::sync::{
    BATCH_BYTES, BATCH_MESSAGES, Ctx, Incoming, Report, answer_limit, message_id, now_date,
};
use crate::{Error, Progress};

/// The state's folder name for a POP3 source's messages.
pub const REMOTE: &str = "POP3";

/// How many RETRs are in flight with PIPELINING.
const WINDOW: usize = 64;

/// Longest status line accepted.
const MAX_LINE: usize = 64 << 10;
/// Largest RETR answer accepted when the server sets no `max_message_size`.
const MAX_MESSAGE: u64 = 512 << 20;
/// Most bytes of a CAPA answer.
pub const MAX_CAPA: usize = 1 << 20;
/// Most bytes of one UIDL or one LIST answer: over a million messages with Dovecot-sized
/// UIDLs, and an endless answer is cut before it costs much memory.
pub const MAX_LISTING: usize = 32 << 20;

/// A connected POP3 client.
#[derive(Debug)]
pub struct Pop3Client {
    stream: Stream,
    buf: BytesMut,
    caps: Vec<String>,
}

impl Pop3Client {
    pub async fn connect(url: &SourceUrl, insecure: bool) -> Result<Pop3Client, Error> {
        let mut c = Pop3Client {
            stream: Stream::open(&crate::conn::resolve(url).await?, insecure).await?,
            buf: BytesMut::with_capacity(256 << 10),
            caps: Vec::new(),
        };
        c.status().await?;
        c.capa().await;
        if wants_starttls(url.tls, c.has_cap("STLS"), "STLS")? {
            c.simple(&Command::Stls).await?;
            nothing_pipelined(c.buf.len(), "STLS")?;
            c.stream.upgrade(&url.host, insecure).await?;
            c.capa().await;
        }
        Ok(c)
    }

    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    pub fn has_cap(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c.eq_ignore_ascii_case(cap))
    }

    async fn capa(&mut self) {
        self.caps.clear();
        if self.send(&Command::Capa).await.is_err() {
            return;
        }
        if let Ok(body) = self.multi(MAX_CAPA).await {
            self.caps = String::from_utf8_lossy(&body)
                .lines()
                .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
                .collect();
        }
    }

    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), Error> {
        if user.contains(['\r', '\n']) || password.contains(['\r', '\n']) {
            return Err(Error::Config(
                "user or password contains a line break".into(),
            ));
        }
        self.simple(&Command::User(user.to_owned()))
            .await
            .map_err(auth)?;
        self.simple(&Command::Pass(Secret::new(password.to_owned())))
            .await
            .map_err(auth)?;
        Ok(())
    }

    /// `UIDL` and `LIST`: (message number, UIDL, size).
    pub async fn listing(&mut self) -> Result<Vec<(u32, String, u64)>, Error> {
        self.send(&Command::Uidl(None)).await?;
        let uidl = self.multi(MAX_LISTING).await.map_err(|e| match e {
            Error::Remote(m) => Error::Remote(format!("UIDL is required: {m}")),
            e => e,
        })?;
        self.send(&Command::List(None)).await?;
        let list = self.multi(MAX_LISTING).await?;
        let sizes: std::collections::HashMap<u32, u64> = String::from_utf8_lossy(&list)
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
            })
            .collect();
        Ok(String::from_utf8_lossy(&uidl)
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let n: u32 = it.next()?.parse().ok()?;
                let id = it.next()?.to_owned();
                Some((n, id, sizes.get(&n).copied().unwrap_or(0)))
            })
            .collect())
    }

    pub async fn quit(mut self) {
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            self.simple(&Command::Quit),
        )
        .await;
        let _ = self.stream.shutdown().await;
    }

    /// QUIT, checked: a `-ERR` means some messages marked deleted were not removed
    /// (RFC 1939 §6).
    pub async fn quit_checked(mut self) -> Result<(), Error> {
        let r = self.simple(&Command::Quit).await;
        let _ = self.stream.shutdown().await;
        r.map(|_| ())
            .map_err(|e| Error::Remote(format!("QUIT after DELE: {e}")))
    }

    /// Marks messages deleted (RFC 1939 §5 DELE), `window` commands in flight; returns how many
    /// the server accepted. Nothing is removed before [`Self::quit_checked`].
    pub async fn dele(&mut self, numbers: &[u32], window: usize) -> Result<u64, Error> {
        let mut accepted = 0;
        for chunk in numbers.chunks(window.max(1)) {
            for n in chunk {
                self.send(&Command::Dele(*n)).await?;
            }
            for n in chunk {
                match self.status().await {
                    Ok(_) => accepted += 1,
                    Err(Error::Remote(m)) => {
                        tracing::warn!("POP3 DELE {n} refused: {m}");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(accepted)
    }

    /// Test helper: how many messages the maildrop holds (STAT, RFC 1939 §5).
    pub async fn stat(&mut self) -> Result<u64, Error> {
        let r = self.simple(&Command::Stat).await?;
        r.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| Error::Protocol(format!("bad STAT answer {r:?}")))
    }

    async fn send(&mut self, cmd: &Command) -> Result<(), Error> {
        let data = cmd.encode().map_err(|e| Error::Config(e.to_string()))?;
        let w = async {
            self.stream.write_all(&data).await?;
            self.stream.flush().await
        };
        tokio::time::timeout(IO_TIMEOUT, w)
            .await
            .map_err(|_| Error::Timeout)?
            .map_err(Error::Io)
    }

    async fn fill(&mut self) -> Result<(), Error> {
        if self.buf.capacity() - self.buf.len() < 64 << 10 {
            self.buf.reserve(256 << 10);
        }
        let n = tokio::time::timeout(IO_TIMEOUT, self.stream.read_buf(&mut self.buf))
            .await
            .map_err(|_| Error::Timeout)?
            .map_err(Error::Io)?;
        if n == 0 {
            return Err(Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )));
        }
        Ok(())
    }

    /// Reads one status line: the text of `+OK`; `-ERR` (or a line that is no status) is
    /// [`Error::Remote`] with the whole line.
    async fn status(&mut self) -> Result<String, Error> {
        loop {
            if let Some(n) = client::line_len(&self.buf) {
                let line = self.buf.split_to(n);
                return match client::parse_status(&line) {
                    Ok(st) if st.ok => Ok(st.text),
                    _ => Err(Error::Remote(
                        String::from_utf8_lossy(&line).trim_end().to_owned(),
                    )),
                };
            }
            if self.buf.len() > MAX_LINE {
                return Err(Error::Protocol("POP3 line too long".into()));
            }
            self.fill().await?;
        }
    }

    async fn simple(&mut self, cmd: &Command) -> Result<String, Error> {
        self.send(cmd).await?;
        self.status().await
    }

    /// Reads a status line and, if `+OK`, the multi-line body (at most `limit` bytes),
    /// unstuffed.
    async fn multi(&mut self, limit: usize) -> Result<Bytes, Error> {
        self.status().await?;
        // The body starts here.
        let mut reader = MultilineReader::new();
        loop {
            if let Some(m) = reader.poll(&self.buf) {
                let body = self.buf.split_to(m.body).freeze();
                self.buf.advance(m.consumed - m.body);
                return Ok(match client::unstuff(&body) {
                    Cow::Borrowed(_) => body,
                    Cow::Owned(v) => Bytes::from(v),
                });
            }
            if self.buf.len() > limit {
                return Err(Error::Protocol(format!(
                    "the POP3 server answered more than {limit} bytes: stopped"
                )));
            }
            self.fill().await?;
        }
    }

    /// Reads the answer to a RETR: its status line, then its multi-line body of at most
    /// `limit` bytes (stuffed), which goes to `spool` once it holds
    /// [`LITERAL_SPOOL_THRESHOLD`] bytes (when the spool is enabled). Returns the part still
    /// in memory (the end of the body, with its last CRLF) and the size of the whole body;
    /// [`read_back`] puts them together. A `-ERR` is [`Error::Remote`].
    async fn retr_answer(
        &mut self,
        limit: u64,
        spool: &mut LiteralSpool,
    ) -> Result<(Vec<u8>, u64), Error> {
        spool.clear();
        self.status().await?;
        let mut reader = MultilineReader::new();
        // Where the search for the terminator resumes once parts are on disk.
        let mut from = 0;
        loop {
            let end = if spool.is_empty() {
                reader.poll(&self.buf).map(|m| (m.body, m.consumed))
            } else {
                // The terminator is CRLF.CRLF: it cannot start the kept bytes, so
                // `MultilineReader`'s check for a `.` line at the start does not apply.
                memchr::memmem::find(&self.buf[from..], b"\r\n.\r\n").map(|i| {
                    let at = from + i;
                    (at + 2, at + 5)
                })
            };
            let over = || {
                Error::Protocol(format!(
                    "the POP3 server sent more than {limit} bytes for one message \
                     (announced size exceeded): stopped"
                ))
            };
            if let Some((body, consumed)) = end {
                let size = spool.len() + body as u64;
                if size > limit {
                    spool.clear();
                    return Err(over());
                }
                let tail = self.buf.split_to(body).to_vec();
                self.buf.advance(consumed - body);
                return Ok((tail, size));
            }
            if spool.len() + self.buf.len() as u64 > limit {
                spool.clear();
                return Err(over());
            }
            if spool.enabled() && self.buf.len() >= LITERAL_SPOOL_THRESHOLD + 4 {
                // All but the last 4 bytes, where a terminator may have begun.
                let n = self.buf.len() - 4;
                let part = self.buf.split_to(n).to_vec();
                pochta_net::blocking(|| spool.write((0, part))).map_err(Error::Io)?;
                from = 0;
            } else if !spool.is_empty() {
                from = self.buf.len().saturating_sub(4);
            }
            self.fill().await?;
        }
    }
}

/// The whole message of a RETR answer from [`Pop3Client::retr_answer`]: the spooled parts
/// read back (blocking file I/O) in front of `tail`, un-stuffed in place (RFC 1939 §3).
fn read_back(spool: &mut LiteralSpool, tail: Vec<u8>) -> Result<Bytes, Error> {
    let mut whole = if spool.is_empty() {
        tail
    } else {
        pochta_net::blocking(|| spool.complete(tail)).map_err(Error::Io)?
    };
    unstuff_in_place(&mut whole);
    Ok(Bytes::from(whole))
}

/// [`client::unstuff`] without a second buffer: a message read back may be as large as
/// `max_message_size`.
fn unstuff_in_place(body: &mut Vec<u8>) {
    if body.first() != Some(&b'.') && memchr::memmem::find(body, b"\n.").is_none() {
        return;
    }
    let mut w = 0;
    let mut at_line_start = true;
    for r in 0..body.len() {
        let b = body[r];
        if at_line_start && b == b'.' {
            at_line_start = false;
            continue;
        }
        body[w] = b;
        w += 1;
        at_line_start = b == b'\n';
    }
    body.truncate(w);
}

fn auth(e: Error) -> Error {
    match e {
        Error::Remote(m) => Error::Auth(m),
        e => e,
    }
}

/// One POP3 pass.
pub(crate) async fn pop3_pass<S: MailStore>(
    ctx: &Ctx<S>,
    password: &str,
    progress: &dyn Progress,
) -> Result<Report, Error> {
    let started = Instant::now();
    let src = &ctx.source;
    let inbox_name = match &src.folder_prefix {
        Some(p) => format!("{}/INBOX", p.trim_matches('/')),
        None => "INBOX".to_owned(),
    };
    let inbox_name =
        MailboxName::new(&inbox_name).map_err(|e| Error::Config(format!("{inbox_name}: {e}")))?;
    let mailbox = ctx
        .blocking(move |c| {
            c.resolve_pending(REMOTE)?;
            c.ensure_mailbox(&inbox_name, None)
        })
        .await?;
    let mut client = Pop3Client::connect(&src.url, src.insecure).await?;
    client.login(&src.user, password).await?;
    let listing = client.listing().await?;
    let known: HashSet<String> = ctx
        .state()
        .messages(src.id, REMOTE)?
        .into_iter()
        .map(|r| r.key)
        .collect();
    let todo: Vec<(u32, String, u64)> = listing
        .iter()
        .filter(|(_, id, _)| !known.contains(id))
        .cloned()
        .collect();
    let limits = crate::import_limits();
    // A message announced larger than the server imports is not retrieved (see
    // "Budgets and spooling").
    let (todo, too_big): (Vec<_>, Vec<_>) = todo
        .into_iter()
        .partition(|(_, _, n)| limits.max_message.is_none_or(|max| *n <= max));
    for (n, id, size) in &too_big {
        tracing::warn!(message = n, uidl = %id, size, "a message larger than max_message_size is not imported");
    }
    progress.plan(todo.len() as u64, todo.iter().map(|t| t.2).sum());
    let mut report = Report {
        folders: 1,
        ..Report::default()
    };
    let window = if client.has_cap("PIPELINING") {
        WINDOW
    } else {
        1
    };
    // No answer larger than a quarter over what LIST announced, nor than the largest message.
    let cap = limits.max_message.map_or(MAX_MESSAGE, answer_limit);
    let budget = crate::message_budget();
    let mut spool = LiteralSpool::new(limits.spool_dir.clone());
    let mut batch = Batch::default();
    // A store refusal stops the transfer; with --delete, what was checkpointed is still
    // deleted before the error is reported.
    let mut refused: Option<Error> = None;
    'transfer: for chunk in todo.chunks(window) {
        for (n, _, _) in chunk {
            client.send(&Command::Retr(*n)).await?;
        }
        for (_, id, size) in chunk {
            let limit = if *size > 0 {
                answer_limit(*size).min(cap)
            } else {
                cap
            };
            let (tail, bytes) = client.retr_answer(limit, &mut spool).await?;
            // Memory for the whole message before it is read back; never waited for while
            // the batch holds permits (it is stored first, which gives them back).
            let permit = match budget.try_acquire(bytes) {
                Some(p) => p,
                None => {
                    if let Err(e) = batch.store(ctx, &mailbox, &mut report).await {
                        refused = Some(e);
                        break 'transfer;
                    }
                    budget.acquire(bytes).await
                }
            };
            let body = read_back(&mut spool, tail)?;
            progress.advance(1, body.len() as u64);
            batch.bytes += body.len();
            batch.permits.push(permit);
            batch.messages.push(Incoming {
                key: id.clone(),
                message_id: message_id(&body),
                body,
                flags: Flags::new(),
                internal_date: now_date(),
                remote_size: *size,
            });
        }
        if (batch.messages.len() >= BATCH_MESSAGES || batch.bytes >= BATCH_BYTES)
            && let Err(e) = batch.store(ctx, &mailbox, &mut report).await
        {
            refused = Some(e);
            break;
        }
    }
    if refused.is_none()
        && let Err(e) = batch.store(ctx, &mailbox, &mut report).await
    {
        refused = Some(e);
    }
    if src.delete_remote {
        // Only what the state says is stored (checkpointed after the append committed).
        let stored: HashSet<String> = ctx
            .state()
            .messages(src.id, REMOTE)?
            .into_iter()
            .map(|r| r.key)
            .collect();
        let numbers: Vec<u32> = listing
            .iter()
            .filter(|(_, id, _)| stored.contains(id))
            .map(|(n, _, _)| *n)
            .collect();
        let marked = client.dele(&numbers, window).await?;
        client.quit_checked().await?;
        report.remote_deleted = marked;
    } else {
        client.quit().await;
    }
    if let Some(e) = refused {
        return Err(e);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// Messages retrieved and not yet stored, with the budget permits of their memory.
#[derive(Default)]
struct Batch {
    messages: Vec<Incoming>,
    bytes: usize,
    permits: Vec<MessagePermit>,
}

impl Batch {
    /// Stores the batch (if any) and checkpoints it; its memory and permits are given back.
    async fn store<S: MailStore>(
        &mut self,
        ctx: &Ctx<S>,
        mailbox: &MailboxInfo,
        report: &mut Report,
    ) -> Result<(), Error> {
        let messages = std::mem::take(&mut self.messages);
        let permits = std::mem::take(&mut self.permits);
        self.bytes = 0;
        if messages.is_empty() {
            return Ok(());
        }
        let n = messages.len() as u64;
        let mb = mailbox.clone();
        let bytes = ctx
            .blocking(move |c| c.store_batch(REMOTE, &mb, None, &messages))
            .await?;
        drop(permits);
        report.messages += n;
        report.bytes += bytes;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unstuffing_in_place_is_unstuff() {
        for body in [
            &b""[..],
            b"no dots\r\n",
            b".first\r\n..second\r\nthird.\r\n.\r\n",
            b"a\r\n.b\r\n..\r\n",
        ] {
            let mut v = body.to_vec();
            unstuff_in_place(&mut v);
            assert_eq!(v, client::unstuff(body).into_owned(), "{body:?}");
        }
    }
}
