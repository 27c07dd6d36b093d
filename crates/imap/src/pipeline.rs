//! Parallel execution of independent pipelined commands of one connection (RFC 9051 §5.5).
//!
//! A client may send several commands without waiting; the server may execute them at the
//! same time and answer as each completes, since every completion carries its tag. This module
//! decides which commands may run beside their neighbours ([`independent`]) and which of them
//! are large enough to be worth another thread ([`inline`] says which are small); the driver
//! runs a group's small members itself and shares the large ones with a few blocking-pool
//! helpers ([`spawn`], [`helpers`]), writing answers as they come. A group of small reads
//! only runs in order: on these 2-core machines a thread hand-off per STATUS costs more than
//! the STATUS (issue 19, bench/README.md "Per-command latency and pipelining").
//!
//! Invariants (what always holds):
//! - **Only reads run concurrently.** A command is independent only if it changes nothing — in
//!   the store or in the session: `FETCH`/`UID FETCH` that set no `\Seen` (only `.PEEK`
//!   sections, no `RFC822`/`RFC822.TEXT`) and ask no `FLAGS` (announcing a new keyword
//!   changes the session's flag list), `SEARCH`/`UID SEARCH` without `RETURN (SAVE)` or
//!   `RETURN (UPDATE)`,
//!   `STATUS`, `LIST`, `LSUB`, `GETQUOTA`, `GETQUOTAROOT`, `MYRIGHTS`, `GETACL`, `LISTRIGHTS`.
//!   A command that would switch CONDSTORE on (RFC 7162 §3.1: `MODSEQ`, `CHANGEDSINCE`,
//!   `HIGHESTMODSEQ`) is independent only once CONDSTORE is already on, so no neighbour's
//!   answer depends on whether it ran first. Anonymous sessions (paced per command) and
//!   sessions not yet authenticated never run commands concurrently.
//! - **Everything else is a barrier**: SELECT, EXAMINE, STORE, EXPUNGE, COPY, MOVE, APPEND,
//!   CREATE, DELETE, RENAME, ENABLE, NOOP, IDLE, LOGOUT, STARTTLS, … The driver runs the group
//!   collected so far to its end before it starts a barrier, and parses the command after the
//!   barrier only once the barrier is done (so an ENABLE UTF8=ACCEPT or a SELECT is in effect
//!   for what follows, exactly as in sequential execution). A parse error, a literal or any
//!   other framer event also ends the group first.
//! - **Sequence numbers stay valid.** Every runner of a concurrent group works on a copy of
//!   the session's view taken when the group starts ([`Session::fork`]); no member reports untagged updates
//!   (a fork never syncs), so no EXPUNGE can be sent inside a group and the sequence numbers
//!   every member uses and answers with are the ones the client knows. Nothing in a group can
//!   expunge, so no command using sequence numbers is reordered around an expunge.
//! - **Answers are whole and tagged.** A member's responses are written together with its
//!   tagged completion (a large FETCH in chunks of whole responses, [`crate::fetch::CHUNK`]),
//!   so an untagged `SEARCH`, `STATUS` or `LIST` is followed by its own command's tag; members
//!   are answered in the order they complete.
//! - **Untagged updates stay consistent.** After the group the session reports what other
//!   sessions changed meanwhile (EXISTS, flags), without EXPUNGE: no command is in progress
//!   then (RFC 9051 §7.5.1); expunges wait for the next command that may report them.
//! - **Bounded.** At most [`MAX_GROUP`] commands per group and [`PARALLEL`] of them executing
//!   at once per connection (the connection task and at most `PARALLEL - 1` helpers, no more
//!   helpers than CPUs − 1); a slow client holds back its group's large FETCH through the
//!   bounded channel, not memory.
//! - The switch is `ImapConfig::parallel` (`[imap] parallel`, on by default); off, every
//!   command is handled in order as before.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use pochta_imap_proto::fetch::FetchAttr;
use pochta_imap_proto::search::{SearchKey, SearchReturn};
use pochta_imap_proto::status::StatusItem;
use pochta_imap_proto::{Command, CommandBody};
use pochta_store::MailStore;
use tokio::sync::mpsc;

use crate::session::{Next, Session};

/// Most commands in one group; the next one starts a new group.
pub const MAX_GROUP: usize = 64;
/// Most members of a group executing at once (per connection).
pub const PARALLEL: usize = 4;

/// Whether `body` may run concurrently with its independent neighbours (module docs).
pub(crate) fn independent<S: MailStore>(session: &Session<S>, body: &CommandBody) -> bool {
    if !session.shared.config.parallel || session.anonymous.is_some() || session.account.is_none() {
        return false;
    }
    let condstore = session.condstore;
    match body {
        CommandBody::Fetch(f) => {
            let sets_seen = sets_seen(&f.attrs);
            let enables_condstore =
                f.changed_since.is_some() || f.attrs.iter().any(|a| matches!(a, FetchAttr::ModSeq));
            // A FETCH that reports FLAGS may have to announce a keyword new to the session
            // (untagged FLAGS first, RFC 9051 §7.3.5); forks announcing concurrently from one
            // base would each send a FLAGS list missing the other's keyword, so it is a
            // barrier.
            let reports_flags = f.attrs.iter().any(|a| matches!(a, FetchAttr::Flags));
            !sets_seen && !reports_flags && (condstore || !enables_condstore)
        }
        CommandBody::Search(s) => {
            // SAVE and UPDATE (a live context, RFC 5267) keep state in the session.
            let saves = s.returns.as_ref().is_some_and(|r| {
                r.contains(&SearchReturn::Save) || r.contains(&SearchReturn::Update)
            });
            !saves && (condstore || !mentions_modseq(&s.key))
        }
        CommandBody::Status(s) => condstore || !s.items.contains(&StatusItem::HighestModSeq),
        CommandBody::List(_)
        | CommandBody::Lsub(_)
        | CommandBody::GetQuota(_)
        | CommandBody::GetQuotaRoot(_)
        | CommandBody::MyRights(_)
        | CommandBody::GetAcl(_)
        | CommandBody::ListRights(_) => true,
        _ => false,
    }
}

/// Most messages a FETCH may name and still run on the worker thread ([`inline`]).
const INLINE_MESSAGES: u64 = 256;
/// The same for a FETCH of body sections (each reads a blob).
const INLINE_BODIES: u64 = 8;

/// Whether `body` is a small read that the driver runs on the runtime's worker thread
/// instead of through `block_in_place`, which hands the worker to another thread and back
/// (two thread wake-ups per command; with the blocking pool's hand-offs about 10 % of the
/// server's CPU in the IMAP mix, issue 19, bench/README.md). Only reads that neither wait
/// for an fsync nor take the writer's lock, and whose work is bounded: STATUS, LIST, LSUB,
/// the quota and rights reads, and FETCH of at most [`INLINE_MESSAGES`] messages
/// ([`INLINE_BODIES`] with body sections) that sets no `\Seen`, and STORE of at most
/// [`INLINE_MESSAGES`] messages (a lazy write); since 2026-12-06 also LOGIN when the
/// credentials cache will answer it (no Argon2), SELECT/EXAMINE (which hands the reading of a
/// mailbox that may be large to `blocking` itself) and EXPUNGE in a mailbox of at most
/// [`INLINE_MESSAGES`] messages (a lazy write). LOGIN on a cache miss, SEARCH, APPEND (an
/// fsync) and every other write, larger EXPUNGEs and every larger FETCH or STORE keep
/// `block_in_place` (Argon2, fsyncs, scans). The
/// sync after the command (which may claim `\Recent` for new messages: a lazy write) runs
/// inline with it.
pub(crate) fn inline<S: MailStore>(session: &Session<S>, body: &CommandBody) -> bool {
    if let CommandBody::Login(l) = body {
        // Argon2 only on a miss of the credentials cache: a hit is a lookup and an HMAC.
        return session.shared.auth_cache.likely_hit(
            &String::from_utf8_lossy(&l.username),
            &String::from_utf8_lossy(l.password.expose()),
        );
    }
    if session.account.is_none() || session.anonymous.is_some() {
        return false;
    }
    match body {
        // The mailbox's size is not known before it is found: SELECT itself hands a mailbox
        // that may be large to `blocking` (`select_examine`).
        CommandBody::Select(_) | CommandBody::Examine(_) => true,
        // A lazy write; it may wait for one fsync before it unlinks the files of large
        // expunged messages (small ones are stored inline and go with the commit).
        CommandBody::Expunge => session
            .view()
            .is_ok_and(|v| u64::from(v.len()) <= INLINE_MESSAGES),
        CommandBody::UidExpunge(set) => {
            let Ok(view) = session.view() else {
                return false;
            };
            !set.is_saved() && named(view, true, set) <= INLINE_MESSAGES
        }
        CommandBody::Noop
        | CommandBody::Capability
        | CommandBody::Logout
        | CommandBody::Namespace
        | CommandBody::Status(_)
        | CommandBody::List(_)
        | CommandBody::Lsub(_)
        | CommandBody::GetQuota(_)
        | CommandBody::GetQuotaRoot(_)
        | CommandBody::MyRights(_) => true,
        CommandBody::Fetch(f) => {
            let Ok(view) = session.view() else {
                return false;
            };
            if f.set.is_saved() || sets_seen(&f.attrs) {
                return false;
            }
            let bodies = f.attrs.iter().any(|a| {
                matches!(
                    a,
                    FetchAttr::BodySection { .. }
                        | FetchAttr::Binary { .. }
                        | FetchAttr::Rfc822
                        | FetchAttr::Rfc822Text
                        | FetchAttr::Rfc822Header
                )
            });
            named(view, f.uid, &f.set)
                <= if bodies {
                    INLINE_BODIES
                } else {
                    INLINE_MESSAGES
                }
        }
        // A lazy write (written to the WAL, fsynced within 100 ms by the store's flusher):
        // it never waits for an fsync, only for the writer's mutex, as the `\Recent` claim
        // that already runs inline after a small read does.
        CommandBody::Store(s) => {
            let Ok(view) = session.view() else {
                return false;
            };
            !s.set.is_saved() && named(view, s.uid, &s.set) <= INLINE_MESSAGES
        }
        _ => false,
    }
}

/// How many messages of `view` a FETCH or STORE names at most (a UID set counts the UIDs
/// up to the largest; never more than the view holds).
fn named(view: &crate::view::View, uid: bool, set: &pochta_imap_proto::SequenceSet) -> u64 {
    let largest = if uid {
        view.last_uid().map_or(0, |u| u.get())
    } else {
        view.len()
    };
    set.resolve(largest).total().min(u64::from(view.len()))
}

/// Whether a FETCH with these attributes sets `\Seen` (a write).
fn sets_seen(attrs: &[FetchAttr]) -> bool {
    attrs.iter().any(|a| {
        matches!(
            a,
            FetchAttr::Rfc822
                | FetchAttr::Rfc822Text
                | FetchAttr::BodySection { peek: false, .. }
                | FetchAttr::Binary { peek: false, .. }
        )
    })
}

/// Whether a search key uses MODSEQ (a CONDSTORE-enabling search, RFC 7162 §3.1.5).
fn mentions_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq { .. } => true,
        SearchKey::Not(k) => mentions_modseq(k),
        SearchKey::Or(a, b) => mentions_modseq(a) || mentions_modseq(b),
        SearchKey::And(keys) => keys.iter().any(mentions_modseq),
        _ => false,
    }
}

/// Output of a group member: whole responses, in order (its last piece holds its tagged
/// completion).
pub(crate) struct Piece {
    pub bytes: Vec<u8>,
    /// The member switched CONDSTORE on (only possible when it already was: see
    /// [`independent`]; merged back anyway).
    pub condstore: bool,
}

/// The large members of a group not yet started; helpers and the connection task take from
/// the front.
pub(crate) struct Queue(Mutex<VecDeque<Command>>);

impl Queue {
    /// The next member to run, if any is left.
    pub(crate) fn pop(&self) -> Option<Command> {
        // A helper that panicked mid-member poisons nothing we rely on: the queue is a list.
        self.0.lock().unwrap_or_else(|e| e.into_inner()).pop_front()
    }
}

/// How many blocking-pool helpers to start for `large` members: at most [`PARALLEL`] − 1
/// and one fewer than the CPUs (the connection task is the other runner; on one CPU still
/// one, so that small members need not wait for a large one), never more than there are
/// large members. 0: nothing worth a thread, run the group in order.
pub(crate) fn helpers(large: usize) -> usize {
    static CPUS: OnceLock<usize> = OnceLock::new();
    let cpus = *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    large.min(PARALLEL - 1).min(cpus.saturating_sub(1).max(1))
}

/// Start `helpers` runners on the blocking pool, each on its own fork of `session`, taking
/// members from the returned queue (holding `large`) until it is empty. Their pieces arrive
/// on the returned channel as they are produced; it closes when every helper is done (or
/// gone). The caller takes from the same queue for its own fork.
pub(crate) fn spawn<S: MailStore>(
    session: &Session<S>,
    large: Vec<Command>,
    helpers: usize,
) -> (Arc<Queue>, mpsc::Receiver<Piece>) {
    let (tx, rx) = mpsc::channel(2 * PARALLEL);
    let queue = Arc::new(Queue(Mutex::new(large.into())));
    for _ in 0..helpers {
        let mut fork = session.fork();
        let tx = tx.clone();
        let queue = Arc::clone(&queue);
        tokio::task::spawn_blocking(move || {
            while let Some(cmd) = queue.pop() {
                let mut next = fork.handle(cmd);
                while next == Next::More {
                    let piece = Piece {
                        bytes: std::mem::take(&mut fork.out),
                        condstore: false,
                    };
                    if tx.blocking_send(piece).is_err() {
                        // The connection is gone.
                        return;
                    }
                    next = fork.resume();
                }
                let piece = Piece {
                    bytes: std::mem::take(&mut fork.out),
                    condstore: fork.condstore,
                };
                if tx.blocking_send(piece).is_err() {
                    return;
                }
            }
        });
    }
    (queue, rx)
}
