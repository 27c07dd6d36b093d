//! Full-text search indexing (issue 22): the background indexer that keeps the
//! [`SearchIndex`] caught up with the mail store, and `pochta search reindex`.
//!
//! Implementation notes:
//! - **No message is unsearchable after its tagged OK**, yet nothing in APPEND, delivery,
//!   COPY or MOVE waits for the index: every mailbox has a watermark (the rules are in
//!   `pochta_store::search`); IMAP SEARCH asks the index about the messages at or below it
//!   and evaluates the messages above it directly on their extracted text. A tantivy commit
//!   per APPEND would cost a commit (fsync, new segment) per message; this way the indexer
//!   commits one batch of up to [`BATCH`] messages and SMTP/IMAP never wait for it.
//! - The indexer follows the store's [`ChangeBus`](pochta_store::ChangeBus) (appends,
//!   deliveries, copies, moves, expunges, mailbox list changes) and takes a mailbox once its
//!   oldest change not yet taken has waited `[search] settle` (default 30 s, at least
//!   [`MIN_SETTLE`]; mailboxes due within a tenth of it are taken together): mail expunged
//!   meanwhile (a draft saved again, spam filtered, a client's churn) is never indexed, and a
//!   busy mailbox is one commit per `settle`, not one per message. Meanwhile SEARCH evaluates
//!   those messages directly (above the watermark), so nothing answers differently; only
//!   slower for a mailbox with many new messages. For each mailbox taken it indexes the
//!   messages above the watermark (a copy or move gives new, larger UIDs, so they are indexed
//!   like new mail), and removes the documents of expunged messages (`changes_since` the
//!   MODSEQ it last saw). A mailbox that disappears from its account's list has all its
//!   documents removed. A lost event
//!   costs nothing but time: the next event of the mailbox catches it up, and search never
//!   trusts the index above the watermark. At start every mailbox is caught up, which is
//!   how a missing or damaged index (rebuilt empty by the backend) is rebuilt.
//! - Documents of messages expunged while the server was down stay until a reindex; they
//!   are harmless (SEARCH intersects index hits with the mailbox's messages).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use pochta_store::search::{IndexBatch, SearchIndex, extract};
use pochta_store::{ChangeEvent, Directory, MailStore};
use pochta_types::{AccountId, MailboxId, ModSeq, Uid};
use tracing::{info, warn};

use crate::backend::Store;

/// Messages per index commit.
pub const BATCH: usize = 256;

/// Bytes of extracted text per index commit (at most, plus one message's).
pub const BATCH_TEXT: usize = 4 << 20;

/// The shortest wait before the indexer takes a change (`[search] settle = 0`): events are
/// gathered this long, so that a burst is one commit.
pub const MIN_SETTLE: Duration = Duration::from_millis(100);

/// Keeps an index caught up with a store.
pub struct Indexer {
    store: Arc<Store>,
    index: Arc<dyn SearchIndex>,
    state: parking_lot::Mutex<State>,
    /// The server's budget for messages held whole in memory (`limits.message_memory`): the
    /// indexer reads and parses one message at a time under it, as SMTP, IMAP and the
    /// collector do.
    budget: pochta_net::MessageBudget,
}

#[derive(Default)]
struct State {
    /// The MODSEQ up to which expunges have been applied, per mailbox.
    modseq: HashMap<MailboxId, ModSeq>,
    /// The mailboxes of each account, as last seen.
    mailboxes: HashMap<AccountId, HashSet<MailboxId>>,
}

impl Indexer {
    pub fn new(store: Arc<Store>, index: Arc<dyn SearchIndex>) -> Indexer {
        Indexer {
            store,
            index,
            state: Default::default(),
            budget: pochta_net::MessageBudget::unlimited(),
        }
    }

    /// Holds each message it reads under the server's message budget.
    pub fn with_budget(mut self, budget: pochta_net::MessageBudget) -> Indexer {
        self.budget = budget;
        self
    }

    /// Waits for `bytes` of the budget (twice the message: its bytes and its parse); none
    /// outside a runtime (the `search reindex` command, which holds one message at a time).
    fn permit(&self, bytes: u64) -> Option<pochta_net::MessagePermit> {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        Some(handle.block_on(self.budget.acquire(bytes.saturating_mul(2))))
    }

    /// Indexes the messages of `mailbox` above its watermark; how many were indexed.
    pub fn catch_up(&self, mailbox: MailboxId) -> Result<usize> {
        let wm = self.index.watermark(mailbox)?;
        let uids: Vec<Uid> = self
            .store
            .summaries(mailbox)?
            .into_iter()
            .map(|s| s.uid)
            .filter(|u| u.get() > wm)
            .collect();
        let mut n = 0;
        let mut commit = |documents: Vec<_>, watermark: u32| {
            n += documents.len();
            self.index.add(&[IndexBatch {
                mailbox,
                documents,
                watermark,
            }])
        };
        for chunk in uids.chunks(BATCH) {
            let records = self.store.records(mailbox, chunk, false)?;
            let mut documents = Vec::new();
            let mut held = 0;
            for r in &records {
                let permit = self.permit(r.size);
                // Unreadable: expunged (and collected) since the list was read.
                if let Ok(bytes) = self.store.blob(&r.blob) {
                    let doc = extract(&bytes);
                    drop(bytes);
                    drop(permit);
                    held += doc.len();
                    documents.push((r.uid, doc));
                }
                // A commit holds at most BATCH_TEXT bytes of text (plus the last message's),
                // so big messages do not make the indexer hold many megabytes at once.
                if held >= BATCH_TEXT {
                    commit(std::mem::take(&mut documents), r.uid.get())?;
                    held = 0;
                }
            }
            commit(documents, chunk.last().map_or(wm, |u| u.get()))?;
        }
        Ok(n)
    }

    /// Removes the documents of messages expunged since the last call (the first call only
    /// records where the mailbox is).
    fn apply_expunges(&self, mailbox: MailboxId) -> Result<()> {
        let since = self.state.lock().modseq.get(&mailbox).copied();
        let Some(since) = since else {
            let status = self.store.mailbox_status(mailbox)?;
            self.state
                .lock()
                .modseq
                .insert(mailbox, status.highest_modseq);
            return Ok(());
        };
        let changes = self.store.changes_since(mailbox, since)?;
        // Messages above the watermark have no document (documents are added with their
        // watermark): mail expunged before the indexer took it costs no commit.
        let wm = self.index.watermark(mailbox)?;
        let indexed: Vec<Uid> = changes
            .expunged
            .iter()
            .copied()
            .filter(|u| u.get() <= wm)
            .collect();
        if !indexed.is_empty() {
            self.index.remove(mailbox, &indexed)?;
        }
        if let Some(m) = changes.highest_modseq {
            self.state.lock().modseq.insert(mailbox, m);
        }
        Ok(())
    }

    /// One account's mailbox list changed: drops the documents of deleted mailboxes, and
    /// catches up the others.
    fn account_changed(&self, account: AccountId) -> Result<()> {
        let now: HashSet<MailboxId> = self
            .store
            .mailboxes(account)?
            .into_iter()
            .map(|m| m.id)
            .collect();
        let before = self
            .state
            .lock()
            .mailboxes
            .insert(account, now.clone())
            .unwrap_or_default();
        for gone in before.difference(&now) {
            self.index.remove_mailbox(*gone)?;
            self.state.lock().modseq.remove(gone);
        }
        for m in now.difference(&before) {
            self.catch_up(*m)?;
        }
        Ok(())
    }

    /// Every mailbox of every account (at start).
    pub fn catch_up_all(&self) -> Result<usize> {
        let mut n = 0;
        for account in self.store.account_list()? {
            let mailboxes = self.store.mailboxes(account.id)?;
            self.state
                .lock()
                .mailboxes
                .insert(account.id, mailboxes.iter().map(|m| m.id).collect());
            for m in mailboxes {
                self.apply_expunges(m.id)?;
                n += self.catch_up(m.id)?;
            }
        }
        Ok(n)
    }

    /// Rebuilds the documents of one account's mailboxes (all accounts: `None`); how many
    /// messages were indexed.
    pub fn reindex(&self, account: Option<AccountId>) -> Result<(usize, usize)> {
        let accounts = match account {
            Some(a) => vec![a],
            None => self
                .store
                .account_list()?
                .into_iter()
                .map(|a| a.id)
                .collect(),
        };
        let (mut boxes, mut n) = (0, 0);
        for a in accounts {
            for m in self.store.mailboxes(a)? {
                self.index.remove_mailbox(m.id)?;
                n += self.catch_up(m.id)?;
                boxes += 1;
            }
        }
        Ok((boxes, n))
    }

    fn process(&self, mailboxes: &HashSet<MailboxId>, accounts: &HashSet<AccountId>) {
        for a in accounts {
            if let Err(e) = self.account_changed(*a) {
                warn!(account = a.0, error = %e, "search indexer: mailbox list");
            }
        }
        for m in mailboxes {
            if let Err(e) = self
                .apply_expunges(*m)
                .and_then(|_| self.catch_up(*m).map(|_| ()))
            {
                // A mailbox deleted meanwhile: its documents go with the list change.
                if matches!(
                    e.downcast_ref::<pochta_store::StoreError>(),
                    Some(pochta_store::StoreError::NotFound(_))
                ) {
                    self.state.lock().modseq.remove(m);
                    continue;
                }
                warn!(mailbox = m.0, error = %e, "search indexer");
            }
        }
    }

    /// Runs until `shutdown` resolves: catches everything up, then follows the change bus,
    /// taking each mailbox (account) once its oldest unprocessed change has waited `settle`.
    pub async fn run(self: Arc<Self>, settle: Duration, shutdown: impl Future<Output = ()>) {
        let settle = settle.max(MIN_SETTLE);
        let mut rx = self.store.change_bus().subscribe();
        let me = Arc::clone(&self);
        match tokio::task::spawn_blocking(move || me.catch_up_all()).await {
            Ok(Ok(n)) if n > 0 => info!(messages = n, "search index caught up"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(error = %e, "search indexer: catching up"),
            Err(e) => warn!(error = %e, "search indexer: catching up"),
        }
        tokio::pin!(shutdown);
        let mut pending = Pending::default();
        // The work taken (a blocking task); events keep being read meanwhile, so the bus
        // does not lag behind a long catch-up.
        let mut job: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            let due = pending
                .first()
                .map(|t| tokio::time::Instant::from_std(t + settle));
            tokio::select! {
                _ = &mut shutdown => return,
                ev = rx.recv() => match ev {
                    Ok(ev) => pending.note(&ev, std::time::Instant::now()),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        pending.lagged(std::time::Instant::now())
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
                _ = async { job.as_mut().expect("guarded").await }, if job.is_some() => {
                    job = None;
                }
                _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)),
                    if job.is_none() && due.is_some() => {
                    let work = pending.take_due(std::time::Instant::now(), settle);
                    let me = Arc::clone(&self);
                    job = Some(tokio::task::spawn_blocking(move || {
                        if work.all {
                            if let Err(e) = me.catch_up_all() {
                                warn!(error = %e, "search indexer: catching up");
                            }
                        } else {
                            me.process(&work.mailboxes, &work.accounts);
                        }
                    }));
                }
            }
        }
    }
}

/// Changes not yet taken by the indexer, each with the time of its oldest event.
#[derive(Default)]
struct Pending {
    mailboxes: HashMap<MailboxId, Instant>,
    accounts: HashMap<AccountId, Instant>,
    /// Events were lost (the bus lagged): everything is caught up.
    all: Option<Instant>,
}

/// What one run of the indexer takes.
#[derive(Debug, Default, PartialEq)]
struct Work {
    mailboxes: HashSet<MailboxId>,
    accounts: HashSet<AccountId>,
    all: bool,
}

impl Pending {
    fn note(&mut self, ev: &ChangeEvent, now: Instant) {
        match ev {
            ChangeEvent::Mailbox { mailbox, .. } => {
                self.mailboxes.entry(*mailbox).or_insert(now);
            }
            ChangeEvent::MailboxList { account } => {
                self.accounts.entry(*account).or_insert(now);
            }
            // Metadata entries (RFC 5464) and access keys are not indexed.
            ChangeEvent::Metadata { .. } | ChangeEvent::AccessKey { .. } => {}
        }
    }

    fn lagged(&mut self, now: Instant) {
        self.all.get_or_insert(now);
    }

    /// The oldest change not taken.
    fn first(&self) -> Option<Instant> {
        self.mailboxes
            .values()
            .chain(self.accounts.values())
            .chain(self.all.iter())
            .min()
            .copied()
    }

    /// Takes the changes that have waited `settle` (and those that will have within a tenth
    /// of it, so that a busy server's mailboxes are taken together rather than one by one).
    fn take_due(&mut self, now: Instant, settle: Duration) -> Work {
        let ripe = |t: &Instant| now + settle / 10 >= *t + settle;
        if self.all.as_ref().is_some_and(ripe) {
            self.all = None;
            self.accounts.clear();
            self.mailboxes.clear();
            return Work {
                all: true,
                ..Work::default()
            };
        }
        Work {
            mailboxes: take_ripe(&mut self.mailboxes, ripe),
            accounts: take_ripe(&mut self.accounts, ripe),
            all: false,
        }
    }
}

/// Removes from `pending` the keys whose time is `ripe` and returns them.
fn take_ripe<K: Copy + Eq + std::hash::Hash>(
    pending: &mut HashMap<K, Instant>,
    ripe: impl Fn(&Instant) -> bool,
) -> HashSet<K> {
    let mut taken = HashSet::new();
    pending.retain(|k, t| {
        let take = ripe(t);
        if take {
            taken.insert(*k);
        }
        !take
    });
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(m: i64) -> ChangeEvent {
        ChangeEvent::Mailbox {
            account: AccountId(1),
            mailbox: MailboxId(m),
            modseq: ModSeq::MIN,
        }
    }

    #[test]
    fn a_mailbox_is_taken_once_its_oldest_change_has_settled() {
        let settle = Duration::from_secs(30);
        let t0 = Instant::now();
        let mut p = Pending::default();
        p.note(&mailbox(1), t0);
        p.note(&mailbox(2), t0 + Duration::from_secs(20));
        // Later changes of mailbox 1 do not push it back.
        p.note(&mailbox(1), t0 + Duration::from_secs(25));
        p.note(
            &ChangeEvent::MailboxList {
                account: AccountId(1),
            },
            t0 + Duration::from_secs(1),
        );
        assert_eq!(p.first(), Some(t0));
        assert_eq!(
            p.take_due(t0 + Duration::from_secs(10), settle),
            Work::default()
        );
        let w = p.take_due(t0 + Duration::from_secs(30), settle);
        assert_eq!(w.mailboxes, HashSet::from([MailboxId(1)]));
        assert_eq!(w.accounts, HashSet::from([AccountId(1)]));
        assert!(!w.all);
        assert_eq!(p.first(), Some(t0 + Duration::from_secs(20)));
        // Within a tenth of `settle` of its time: taken with the others.
        let w = p.take_due(t0 + Duration::from_secs(47), settle);
        assert_eq!(w.mailboxes, HashSet::from([MailboxId(2)]));
        assert_eq!(p.first(), None);
    }

    #[test]
    fn a_lagged_bus_catches_everything_up_after_settle() {
        let settle = Duration::from_secs(30);
        let t0 = Instant::now();
        let mut p = Pending::default();
        p.note(&mailbox(1), t0);
        p.lagged(t0 + Duration::from_secs(5));
        let w = p.take_due(t0 + Duration::from_secs(30), settle);
        assert_eq!(w.mailboxes, HashSet::from([MailboxId(1)]));
        let w = p.take_due(t0 + Duration::from_secs(35), settle);
        assert!(w.all);
        assert_eq!(p.first(), None);
    }
}
