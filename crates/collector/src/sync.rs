//! One synchronisation pass of one source: the IMAP algorithm and the shared batch commit.
//!
//! Implementation notes:
//! - **Folders** (IMAP): every selectable remote folder becomes a local one. The remote name is
//!   decoded from modified UTF-7 (RFC 3501 §5.1.3), split at the remote hierarchy delimiter
//!   and joined with `/`; a `/` inside a level of a server whose delimiter is not `/` becomes
//!   `_`. The prefix of the server's first personal namespace (NAMESPACE, RFC 2342 §5;
//!   Cyrus's and Courier's `INBOX.`) is dropped from the names under it (`INBOX.Work` is
//!   local `Work`). Remote `INBOX` (any case) is local INBOX. Special-use folders (RFC 6154 §2 attributes
//!   from `LIST … RETURN (SPECIAL-USE)`; by well-known names when the server marks none) go to
//!   the local mailbox with the same special use, whatever it is called, and their subfolders
//!   under it. `\Flagged` folders are virtual copies of other folders' messages and are
//!   skipped. With a folder prefix, the whole tree goes under it, special-use mapping off.
//! - Remote folders whose local name would fall under `Other Users/` or `Public/` (where
//!   local names are other accounts' shared and public folders) go under
//!   [`FOREIGN_PREFIX`] (`Remote/Public/News`).
//! - **New messages**: per remote folder the state keeps UIDVALIDITY and the highest UID
//!   imported (RFC 9051 §2.3.1.1: UIDs ascend, so "new" is `last_uid+1:*`). Only UIDs asked
//!   for are stored, each at most once however many FETCH answers the server sends for it,
//!   and the checkpoint moves only as far as every UID asked for below it has been stored:
//!   a server that answers other UIDs, or leaves some out, cannot make a pass skip
//!   messages (those stored above the checkpoint are known by key and not fetched again). A pass plans first
//!   (`UID FETCH n:* (UID RFC822.SIZE)` per folder that has grown, so the progress bar knows
//!   totals), then streams each folder's bodies with one `UID FETCH set (UID FLAGS
//!   INTERNALDATE BODY.PEEK[])`. Bodies are cut into batches (by count and bytes) handed to a
//!   blocking task that appends them to the store while the next batch is still arriving.
//!   The checkpoint protocol is in [`crate::state`].
//! - **Flags**: the remote flags last applied to each message are remembered. With CONDSTORE
//!   (RFC 7162 §3.1.4) a pass asks only `CHANGEDSINCE` the stored HIGHESTMODSEQ, and skips the
//!   folder entirely when HIGHESTMODSEQ did not move; without it, it fetches all FLAGS. A
//!   message's local flags are replaced only when its *remote* flags changed, so local flag
//!   changes survive until the remote one changes again. `\Recent` is never copied.
//! - **UIDVALIDITY change**: the folder is rescanned with `RFC822.SIZE`, `INTERNALDATE` and
//!   the Message-ID header; messages matching an imported one by (Message-ID, size, internal
//!   date) are re-keyed to their new UID, the rest imported. Nothing is duplicated.
//! - Remote expunges are not propagated: the local copy is the archive (a user leaving a
//!   provider may delete there). `\Deleted` flags are copied like any other.
//! - Local store calls run on blocking threads (`spawn_blocking`); the collector database is
//!   behind a mutex and only touched there too.
//! - **Budgets** against a hostile provider's body FETCH (the sizes it announced in the plan
//!   are the yardstick): each response may hold one literal of at most [`answer_limit`] of
//!   the largest message asked for (so one response made of many large literals is cut at
//!   about one message), all the answers to one command at most [`command_budget`] of the
//!   bytes asked for (an endless FETCH answer ends the pass with a clear error instead of
//!   running forever), and every message held in memory until it is stored holds a permit
//!   of the server-wide [`MessageBudget`] (`crate::set_message_budget`;
//!   `limits.message_memory` under `pochta serve`), shared with SMTP and IMAP.
//! - **Spooling** (with [`crate::ImportLimits::spool_dir`], `data_dir/tmp` under `pochta
//!   serve` and `pochta collect`; POP3's RETR answers likewise, see [`crate::pop3`]): a literal of a body FETCH goes to an unnamed file once it holds 64 KiB
//!   ([`pochta_net::LiteralSpool`], the IMAP server's APPEND spool, through
//!   `ImapClient::set_spool`), so an answer arriving holds in memory only its lines and the
//!   literal bytes not yet written. A complete answer claims a permit for its size before
//!   it is read back (or, not spooled, kept); the permits travel with the batch until it is
//!   stored. The reader never waits for a permit while its batch holds others (it hands the
//!   batch on first), so a message needing the whole budget cannot wait for itself. Without
//!   a spool (no [`crate::set_import_limits`] call: tests and library users; `pochta serve`
//!   and `pochta collect` both set one), a batch's memory is reserved before its first byte.
//! - **Largest message** ([`crate::ImportLimits::max_message`], `limits.max_message_size`):
//!   a message announced larger is not fetched (logged, and counted as done for the
//!   checkpoint: it could never be stored), and no literal of any answer may exceed
//!   [`answer_limit`] of it (`crate::imap::response_limits`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use pochta_delivery::Delivery;
use pochta_net::MessagePermit;
use pochta_store::{FlagOp, MailDate, MailStore, MailboxInfo, NewMessage, StoreError};
use pochta_types::{AccountId, Address, Flag, Flags, MailboxName, SpecialUse, Uid, mutf7};
use tracing::{debug, info, warn};

use crate::imap::response::{Response, Status, StatusText};
use crate::imap::{Fetched, ImapClient, ListEntry};
use crate::state::{FolderState, MessageRow, Pending, PendingItem, SourceRow, State};
use crate::{Error, Progress, Scope};
use pochta_imap_client::Next;

/// A batch is handed to the store when it holds this many messages …
pub const BATCH_MESSAGES: usize = 2000;
/// … or this many bytes.
pub const BATCH_BYTES: usize = 32 << 20;

/// The largest literal (and, with its lines, response) accepted in a body FETCH whose
/// largest message was announced as `largest` bytes: a quarter more, for providers whose
/// RFC822.SIZE is a little off, and 64 KiB.
pub fn answer_limit(largest: u64) -> u64 {
    largest.saturating_add(largest / 4).saturating_add(64 << 10)
}

/// All the bytes of answers accepted for one body FETCH of `messages` messages announced
/// as `bytes` bytes together: a quarter more, and 4 KiB of FETCH items per message, and
/// 1 MiB; beyond it the provider is answering more than it was asked.
pub fn command_budget(messages: usize, bytes: u64) -> u64 {
    bytes
        .saturating_add(bytes / 4)
        .saturating_add((messages as u64).saturating_mul(4 << 10))
        .saturating_add(1 << 20)
}

/// What a pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub folders: usize,
    pub messages: u64,
    pub bytes: u64,
    pub flag_updates: u64,
    /// POP3 with `--delete`: messages deleted on the remote at the end of the pass.
    pub remote_deleted: u64,
    pub elapsed: Duration,
}

/// Everything a pass needs, shared with blocking tasks.
pub(crate) struct Ctx<S> {
    pub store: Arc<S>,
    pub state: Arc<Mutex<State>>,
    pub source: SourceRow,
    pub account: AccountId,
}

impl<S> Clone for Ctx<S> {
    fn clone(&self) -> Self {
        Ctx {
            store: Arc::clone(&self.store),
            state: Arc::clone(&self.state),
            source: self.source.clone(),
            account: self.account,
        }
    }
}

impl<S: MailStore> Ctx<S> {
    pub fn new(store: Arc<S>, state: Arc<Mutex<State>>, source: SourceRow) -> Result<Self, Error> {
        let address = Address::new(&source.account)
            .map_err(|e| Error::Config(format!("{}: {e}", source.account)))?;
        let account = store
            .account_by_address(&address)?
            .ok_or_else(|| Error::Config(format!("no local account {}", source.account)))?
            .id;
        Ok(Ctx {
            store,
            state,
            source,
            account,
        })
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave SQLite inconsistent (its own
        // transactions), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on a blocking thread.
    pub async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Ctx<S>) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let ctx = self.clone();
        tokio::task::spawn_blocking(move || f(&ctx))
            .await
            .map_err(|e| Error::State(format!("blocking task failed: {e}")))?
    }

    /// The local mailbox `name`, created (with its parents) if missing.
    pub fn ensure_mailbox(
        &self,
        name: &MailboxName,
        special_use: Option<SpecialUse>,
    ) -> Result<MailboxInfo, Error> {
        if let Some(mb) = self.store.mailbox(self.account, name)?
            && !mb.noselect
        {
            return Ok(mb);
        }
        match self.store.mailbox_create(self.account, name, special_use) {
            Ok(mb) => Ok(mb),
            Err(StoreError::AlreadyExists(_)) => self
                .store
                .mailbox(self.account, name)?
                .ok_or_else(|| Error::State(format!("mailbox {name} vanished"))),
            Err(e) => Err(e.into()),
        }
    }

    /// Finishes a batch left pending by an interrupted pass (see [`crate::state`]): adopts it
    /// if the store has it, forgets it otherwise.
    pub fn resolve_pending(&self, remote: &str) -> Result<(), Error> {
        let Some(p) = self.state().pending(self.source.id, remote)? else {
            return Ok(());
        };
        let found = self.find_pending(&p)?;
        let mut st = self.state();
        match found {
            Some(uids) => {
                info!(
                    source = %self.source.url, folder = remote,
                    "adopting {} messages appended before an interruption", uids.len()
                );
                let rows: Vec<MessageRow> = p
                    .items
                    .iter()
                    .zip(&uids)
                    .map(|(it, uid)| MessageRow {
                        key: it.key.clone(),
                        local_uid: *uid,
                        flags: it.flags.clone(),
                        message_id: it.message_id.clone(),
                        remote_size: it.remote_size,
                        idate: it.idate,
                    })
                    .collect();
                let folder = if p.remote_validity == 0 {
                    None
                } else {
                    let last = p
                        .items
                        .iter()
                        .filter_map(|i| i.key.parse::<u32>().ok())
                        .max();
                    let old = st.folder(self.source.id, remote)?;
                    match old {
                        Some(f) if f.uid_validity != p.remote_validity => None,
                        old => Some(FolderState {
                            remote: remote.to_owned(),
                            local: p.local.clone(),
                            uid_validity: p.remote_validity,
                            last_uid: last.unwrap_or(0),
                            highest_modseq: old.and_then(|f| f.highest_modseq),
                        }),
                    }
                };
                let bytes = p.items.iter().map(|i| i.local_size).sum();
                st.commit_batch(
                    self.source.id,
                    remote,
                    &p.local,
                    &rows,
                    folder.as_ref(),
                    bytes,
                )
            }
            None => st.clear_pending(self.source.id, remote),
        }
    }

    /// The local UIDs of a pending batch, if the store has it: a consecutive run of messages
    /// at or after the recorded UIDNEXT with the recorded sizes and internal dates.
    fn find_pending(&self, p: &Pending) -> Result<Option<Vec<u32>>, Error> {
        let Ok(name) = MailboxName::new(&p.local) else {
            return Ok(None);
        };
        let Some(mb) = self.store.mailbox(self.account, &name)? else {
            return Ok(None);
        };
        if mb.uid_validity.get() != p.local_validity {
            return Ok(None);
        }
        let uids: Vec<Uid> = self
            .store
            .summaries(mb.id)?
            .into_iter()
            .map(|s| s.uid)
            .filter(|u| u.get() >= p.uid_next)
            .collect();
        let records = self.store.records(mb.id, &uids, false)?;
        let n = p.items.len();
        if n == 0 || records.len() < n {
            return Ok(None);
        }
        for start in 0..=records.len() - n {
            let run = &records[start..start + n];
            if run
                .iter()
                .zip(&p.items)
                .all(|(r, it)| r.size == it.local_size && r.internal_date.unix == it.idate)
            {
                return Ok(Some(run.iter().map(|r| r.uid.get()).collect()));
            }
        }
        Ok(None)
    }

    /// Appends one batch durably and records it; see [`crate::state`] for the three steps.
    pub fn store_batch(
        &self,
        remote: &str,
        mailbox: &MailboxInfo,
        folder: Option<&FolderState>,
        batch: &[Incoming],
    ) -> Result<u64, Error> {
        if batch.is_empty() {
            return Ok(0);
        }
        let status = self.store.mailbox_status(mailbox.id)?;
        let items: Vec<PendingItem> = batch
            .iter()
            .map(|m| PendingItem {
                key: m.key.clone(),
                local_size: pochta_message::normalized_len(&m.body) as u64,
                idate: m.internal_date.unix,
                flags: flags_text(&m.flags),
                message_id: m.message_id.clone(),
                remote_size: m.remote_size,
            })
            .collect();
        let pending = Pending {
            local: mailbox.name.as_str().to_owned(),
            local_validity: mailbox.uid_validity.get(),
            uid_next: status.uid_next.get(),
            remote_validity: folder.map(|f| f.uid_validity).unwrap_or(0),
            items,
        };
        self.state().put_pending(self.source.id, remote, &pending)?;
        let news: Vec<NewMessage<'_>> = batch
            .iter()
            .map(|m| NewMessage {
                bytes: &m.body,
                flags: m.flags.clone(),
                internal_date: Some(m.internal_date),
            })
            .collect();
        // Stored through the one delivery path, with the remote flags and internal date.
        let mapping = Delivery::new(Arc::clone(&self.store)).append(mailbox.id, &news)?;
        let rows: Vec<MessageRow> = pending
            .items
            .iter()
            .zip(&mapping.pairs)
            .map(|(it, (_, uid))| MessageRow {
                key: it.key.clone(),
                local_uid: uid.get(),
                flags: it.flags.clone(),
                message_id: it.message_id.clone(),
                remote_size: it.remote_size,
                idate: it.idate,
            })
            .collect();
        let bytes: u64 = batch.iter().map(|m| m.body.len() as u64).sum();
        self.state().commit_batch(
            self.source.id,
            remote,
            mailbox.name.as_str(),
            &rows,
            folder,
            bytes,
        )?;
        Ok(bytes)
    }

    /// Applies changed remote flags to imported messages: `changes` is (key, new remote flags).
    /// Returns how many local messages changed.
    pub fn apply_flags(
        &self,
        remote: &str,
        mailbox: &MailboxInfo,
        changes: Vec<(String, Flags)>,
    ) -> Result<u64, Error> {
        if changes.is_empty() {
            return Ok(0);
        }
        let known: HashMap<String, MessageRow> = self
            .state()
            .messages(self.source.id, remote)?
            .into_iter()
            .map(|r| (r.key.clone(), r))
            .collect();
        let mut groups: BTreeMap<String, (Flags, Vec<Uid>)> = BTreeMap::new();
        let mut record = Vec::new();
        for (key, flags) in changes {
            let Some(row) = known.get(&key) else {
                continue;
            };
            let text = flags_text(&flags);
            if text == row.flags {
                continue;
            }
            if let Ok(uid) = Uid::try_from(row.local_uid) {
                groups
                    .entry(text.clone())
                    .or_insert_with(|| (flags.clone(), Vec::new()))
                    .1
                    .push(uid);
            }
            record.push((key, text));
        }
        let mut changed = 0;
        for (flags, uids) in groups.into_values() {
            let out = self
                .store
                .store_flags(mailbox.id, &uids, FlagOp::Replace, &flags, None)?;
            changed += out.changed.iter().filter(|c| **c).count() as u64;
        }
        self.state().set_flags(self.source.id, remote, &record)?;
        Ok(changed)
    }
}

/// A message fetched and about to be stored.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// Remote UID or UIDL.
    pub key: String,
    pub body: Bytes,
    pub flags: Flags,
    pub internal_date: MailDate,
    pub message_id: Option<String>,
    pub remote_size: u64,
}

/// Canonical text of a flag set (what the state remembers).
pub fn flags_text(flags: &Flags) -> String {
    flags
        .iter()
        .map(|f| f.as_str().to_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Flags from remote flag strings; `\Recent` and anything invalid are dropped.
pub fn flags_from(remote: &[String]) -> Flags {
    let parsed: Vec<Flag> = remote.iter().filter_map(|f| Flag::parse(f).ok()).collect();
    Flags::from_flags(&parsed)
}

pub fn now_date() -> MailDate {
    MailDate {
        unix: crate::state::now(),
        offset_minutes: 0,
    }
}

/// The Message-ID of a message (from its header section), unfolded and trimmed.
pub fn message_id(raw: &[u8]) -> Option<String> {
    let mut lines = raw.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return None;
        }
        if line.len() >= 11 && line[..11].eq_ignore_ascii_case(b"message-id:") {
            let mut value = String::from_utf8_lossy(&line[11..]).into_owned();
            while let Some(next) = lines.peek() {
                if next.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                    value.push_str(&String::from_utf8_lossy(next));
                    lines.next();
                } else {
                    break;
                }
            }
            let v: String = value.split_whitespace().collect();
            return (!v.is_empty()).then_some(v);
        }
    }
    None
}

/// Well-known names of special-use folders, for servers that do not mark them (lower-case).
const WELL_KNOWN: &[(&str, SpecialUse)] = &[
    ("sent", SpecialUse::Sent),
    ("sent items", SpecialUse::Sent),
    ("sent messages", SpecialUse::Sent),
    ("sent mail", SpecialUse::Sent),
    ("отправленные", SpecialUse::Sent),
    ("drafts", SpecialUse::Drafts),
    ("черновики", SpecialUse::Drafts),
    ("trash", SpecialUse::Trash),
    ("deleted items", SpecialUse::Trash),
    ("deleted messages", SpecialUse::Trash),
    ("корзина", SpecialUse::Trash),
    ("удаленные", SpecialUse::Trash),
    ("удалённые", SpecialUse::Trash),
    ("junk", SpecialUse::Junk),
    ("spam", SpecialUse::Junk),
    ("junk e-mail", SpecialUse::Junk),
    ("спам", SpecialUse::Junk),
    ("archive", SpecialUse::Archive),
    ("archives", SpecialUse::Archive),
    ("архив", SpecialUse::Archive),
];

/// A remote folder and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderPlan {
    pub remote: String,
    pub local: MailboxName,
    /// Set when the local mailbox must be created with this special use.
    pub special_use: Option<SpecialUse>,
}

/// Decoded remote levels of a LIST entry, without the levels of the personal namespace's
/// prefix (`personal`, already split: `["INBOX"]` for Cyrus's and Courier's `INBOX.`) when
/// the name is under it; the prefix itself (INBOX) stays as it is.
fn levels(e: &ListEntry, personal: &[String]) -> Vec<String> {
    let decoded = mutf7::decode(&e.raw).unwrap_or_else(|_| e.raw.clone());
    let mut parts: Vec<String> = match e.delimiter {
        Some(d) => decoded.split(d).map(str::to_owned).collect(),
        None => vec![decoded],
    };
    let under_prefix = !personal.is_empty()
        && parts.len() > personal.len()
        && parts.iter().zip(personal).all(|(a, b)| {
            // INBOX is case-insensitive (RFC 9051 §5.1); other levels are exact.
            a == b || (a.eq_ignore_ascii_case("INBOX") && b.eq_ignore_ascii_case("INBOX"))
        });
    if under_prefix {
        parts.drain(..personal.len());
    }
    parts
        .into_iter()
        .map(|l| {
            if e.delimiter == Some('/') {
                l
            } else {
                l.replace('/', "_")
            }
        })
        .collect()
}

/// Where remote folders whose local name would fall under `Other Users/` or `Public/` go:
/// those namespaces hold other accounts' and public folders locally, so a name there could
/// be neither opened nor deleted by its owner (`Public/News` becomes `Remote/Public/News`).
pub const FOREIGN_PREFIX: &str = "Remote";

/// Whether a local name is, or is inside, `Other Users` or `Public` (any case).
fn in_foreign_namespace(name: &str) -> bool {
    let first = name.split('/').next().unwrap_or(name);
    ["Other Users", "Public"]
        .iter()
        .any(|root| first.eq_ignore_ascii_case(root))
}

/// The levels of a personal namespace prefix (RFC 2342 §5, RFC 9051 §6.3.10) as
/// [`plan_folders`] strips them: `INBOX.` with delimiter `.` is `["INBOX"]`; the empty
/// prefix (Dovecot's default) is none.
pub fn prefix_levels(prefix: &str, delimiter: Option<char>) -> Vec<String> {
    let decoded = mutf7::decode(prefix).unwrap_or_else(|_| prefix.to_owned());
    let trimmed = match delimiter {
        Some(d) => decoded.strip_suffix(d).unwrap_or(&decoded),
        None => &decoded,
    };
    if trimmed.is_empty() {
        return Vec::new();
    }
    match delimiter {
        Some(d) => trimmed.split(d).map(str::to_owned).collect(),
        None => vec![trimmed.to_owned()],
    }
}

/// Maps the remote folder list to local names (see the notes on top). `personal` is the
/// personal namespace prefix's levels ([`prefix_levels`]), stripped from the names under it.
pub fn plan_folders(
    entries: &[ListEntry],
    local: &[MailboxInfo],
    prefix: Option<&str>,
    personal: &[String],
) -> Vec<FolderPlan> {
    let marked = entries
        .iter()
        .any(|e| e.attributes.iter().any(|a| SpecialUse::parse(a).is_some()));
    // Remote special folders: remote levels → (local name, special use).
    let mut specials: Vec<(Vec<String>, String, SpecialUse)> = Vec::new();
    if prefix.is_none() {
        for e in entries {
            let lv = levels(e, personal);
            let su = if marked {
                e.attributes.iter().find_map(|a| SpecialUse::parse(a))
            } else if lv.len() == 1 {
                let lower = lv[0].to_lowercase();
                WELL_KNOWN
                    .iter()
                    .find(|(n, _)| *n == lower)
                    .map(|(_, s)| *s)
            } else {
                None
            };
            let Some(su) = su else { continue };
            if matches!(su, SpecialUse::Flagged | SpecialUse::All) {
                continue;
            }
            if specials.iter().any(|(_, _, s)| *s == su) {
                continue; // the first one of a kind wins; others keep their own names
            }
            let name = local
                .iter()
                .find(|m| m.special_use == Some(su))
                .map(|m| m.name.as_str().to_owned())
                .unwrap_or_else(|| lv.join("/"));
            specials.push((lv, name, su));
        }
    }
    let mut out = Vec::new();
    for e in entries {
        if !e.selectable() || e.has("\\Flagged") {
            continue;
        }
        let lv = levels(e, personal);
        let mut special_use = None;
        let mut name = if lv[0].eq_ignore_ascii_case("INBOX") {
            let mut v = lv.clone();
            v[0] = "INBOX".into();
            v.join("/")
        } else {
            lv.join("/")
        };
        if let Some((slv, sname, su)) = specials
            .iter()
            .find(|(slv, _, _)| lv.len() >= slv.len() && lv[..slv.len()] == slv[..])
        {
            let mut parts = vec![sname.clone()];
            parts.extend(lv[slv.len()..].iter().cloned());
            name = parts.join("/");
            if lv.len() == slv.len() {
                special_use = Some(*su);
            }
        }
        if let Some(p) = prefix {
            name = format!("{}/{name}", p.trim_matches('/'));
        }
        if in_foreign_namespace(&name) {
            name = format!("{FOREIGN_PREFIX}/{name}");
        }
        match MailboxName::new(&name) {
            Ok(local) => out.push(FolderPlan {
                remote: e.raw.clone(),
                local,
                special_use,
            }),
            Err(err) => warn!(folder = %e.raw, "skipping remote folder: {name:?}: {err}"),
        }
    }
    out
}

/// What the plan phase decided for one folder.
struct Work {
    plan: FolderPlan,
    mailbox: MailboxInfo,
    uid_validity: u32,
    highest_modseq: Option<u64>,
    /// (uid, size) to download, ascending.
    new: Vec<(u32, u64)>,
}

/// One IMAP pass.
pub(crate) async fn imap_pass<S: MailStore>(
    ctx: &Ctx<S>,
    credential: &crate::oauth::Credential,
    progress: &dyn Progress,
    scope: Scope,
) -> Result<Report, Error> {
    let started = Instant::now();
    let src = &ctx.source;
    let mut client = ImapClient::connect(&src.url, src.insecure).await?;
    client.sign_in(&src.user, credential).await?;
    let personal = client.personal_prefix().await?;
    let entries = client.list().await?;
    let local = ctx.store.mailboxes(ctx.account)?;
    let mut plans = plan_folders(&entries, &local, src.folder_prefix.as_deref(), &personal);
    if scope == Scope::Inbox {
        plans.retain(|p| p.remote.eq_ignore_ascii_case("INBOX"));
    }
    // Gmail-style labels: a `\All` folder holds every message the other folders show. It is
    // planned last, and only its messages whose Message-ID no other folder of this source has
    // (imported before, or new in this pass) are imported from it: each message once per
    // folder it is filed in, never again from All Mail.
    let all_mail = (plans.len() > 1)
        .then(|| {
            entries
                .iter()
                .find(|e| e.has("\\All"))
                .map(|e| e.raw.clone())
        })
        .flatten();
    let mut other_ids: HashSet<String> = HashSet::new();
    if let Some(all) = &all_mail {
        plans.sort_by_key(|p| p.remote == *all);
        for p in plans.iter().filter(|p| p.remote != *all) {
            other_ids.extend(
                ctx.state()
                    .messages(src.id, &p.remote)?
                    .into_iter()
                    .filter_map(|r| r.message_id),
            );
        }
    }
    let mut report = Report {
        folders: plans.len(),
        ..Report::default()
    };

    // Plan: create local folders, settle interrupted batches, carry flag changes, list new
    // messages.
    let mut works = Vec::new();
    for plan in plans {
        let p2 = plan.clone();
        let mailbox = ctx
            .blocking(move |c| {
                c.resolve_pending(&p2.remote)?;
                c.ensure_mailbox(&p2.local, p2.special_use)
            })
            .await?;
        let ex = client.examine(&plan.remote).await?;
        let remote = plan.remote.clone();
        let mut folder = ctx.state().folder(src.id, &remote)?;
        if let Some(f) = &folder
            && f.uid_validity != ex.uid_validity
        {
            info!(source = %src.url, folder = %remote, "UIDVALIDITY changed; matching by fingerprint");
            report.flag_updates +=
                rekey(ctx, &mut client, &plan, &mailbox, ex.uid_validity).await?;
            folder = ctx.state().folder(src.id, &remote)?;
        }
        let last_uid = folder.as_ref().map(|f| f.last_uid).unwrap_or(0);
        // Flags of what was imported before.
        if let Some(f) = &folder
            && f.last_uid > 0
            && ex.exists > 0
        {
            let items = match (f.highest_modseq, ex.highest_modseq) {
                (Some(old), Some(new)) if old == new => None,
                (Some(old), Some(_)) => Some(format!("(UID FLAGS) (CHANGEDSINCE {old})")),
                _ => Some("(UID FLAGS)".to_owned()),
            };
            if let Some(items) = items {
                let fetched = client
                    .uid_fetch(&format!("1:{}", f.last_uid), &items)
                    .await?;
                let changes: Vec<(String, Flags)> = fetched
                    .into_iter()
                    .filter_map(|m| Some((m.uid?.to_string(), flags_from(&m.flags?))))
                    .collect();
                let (r, mb) = (remote.clone(), mailbox.clone());
                report.flag_updates += ctx
                    .blocking(move |c| c.apply_flags(&r, &mb, changes))
                    .await?;
            }
        }
        // New messages.
        let mut new = Vec::new();
        let grown = ex.exists > 0 && ex.uid_next.is_none_or(|n| n > last_uid + 1);
        if grown {
            let items = if all_mail.is_some() {
                "(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
            } else {
                "(UID RFC822.SIZE)"
            };
            let mut sizes = client
                .uid_fetch(&format!("{}:*", last_uid + 1), items)
                .await?;
            if let Some(all) = &all_mail {
                let ids =
                    |m: &crate::imap::Fetched| m.header_fields.as_deref().and_then(message_id);
                if plan.remote == *all {
                    sizes.retain(|m| ids(m).is_none_or(|id| !other_ids.contains(&id)));
                } else {
                    other_ids.extend(sizes.iter().filter_map(ids));
                }
            }
            let known: HashSet<String> = if folder.is_some() {
                // Imported already: re-keyed after a UIDVALIDITY change, or stored above a
                // checkpoint held back by a UID the server did not send.
                ctx.state()
                    .messages(src.id, &remote)?
                    .into_iter()
                    .map(|r| r.key)
                    .collect()
            } else {
                HashSet::new()
            };
            for m in sizes {
                if let Some(uid) = m.uid
                    && uid > last_uid
                    && !known.contains(&uid.to_string())
                {
                    new.push((uid, m.size.unwrap_or(0)));
                }
            }
            new.sort_unstable();
            new.dedup_by_key(|(u, _)| *u);
        }
        if new.is_empty() {
            // Up to date: remember HIGHESTMODSEQ now.
            ctx.state().put_folder(
                src.id,
                &FolderState {
                    remote: remote.clone(),
                    local: mailbox.name.as_str().to_owned(),
                    uid_validity: ex.uid_validity,
                    last_uid,
                    highest_modseq: ex.highest_modseq,
                },
            )?;
        } else {
            progress.plan(new.len() as u64, new.iter().map(|(_, s)| s).sum());
            works.push(Work {
                plan,
                mailbox,
                uid_validity: ex.uid_validity,
                highest_modseq: ex.highest_modseq,
                new,
            });
        }
    }

    // Transfer.
    for w in works {
        progress.folder(w.mailbox.name.as_str());
        let ex = client.examine(&w.plan.remote).await?;
        if ex.uid_validity != w.uid_validity {
            warn!(folder = %w.plan.remote, "UIDVALIDITY changed during the pass; next pass");
            continue;
        }
        let (m, b, last) = transfer(ctx, &mut client, &w, progress).await?;
        report.messages += m;
        report.bytes += b;
        if w.new.last().is_some_and(|(u, _)| *u != last) {
            warn!(
                source = %src.url, folder = %w.plan.remote,
                "the server did not send every message asked for; checkpoint held at UID {last}"
            );
        }
        // Folder complete: HIGHESTMODSEQ as of the plan is now safe to remember (flags
        // are re-read up to the checkpoint only).
        let st = ctx.state();
        let cur = st.folder(src.id, &w.plan.remote)?;
        st.put_folder(
            src.id,
            &FolderState {
                remote: w.plan.remote.clone(),
                local: w.mailbox.name.as_str().to_owned(),
                uid_validity: w.uid_validity,
                last_uid: cur.map(|f| f.last_uid).unwrap_or(0).max(last),
                highest_modseq: w.highest_modseq,
            },
        )?;
    }
    client.logout().await;
    report.elapsed = started.elapsed();
    debug!(?report, "IMAP pass done");
    Ok(report)
}

/// Compresses ascending UIDs into an IMAP sequence set (RFC 9051 §9 `sequence-set`).
pub fn uid_set(uids: impl IntoIterator<Item = u32>) -> String {
    let mut out = String::new();
    let mut run: Option<(u32, u32)> = None;
    let flush = |out: &mut String, (a, b): (u32, u32)| {
        if !out.is_empty() {
            out.push(',');
        }
        if a == b {
            out.push_str(&a.to_string());
        } else {
            out.push_str(&format!("{a}:{b}"));
        }
    };
    for u in uids {
        run = match run {
            Some((a, b)) if u == b + 1 => Some((a, u)),
            Some(r) => {
                flush(&mut out, r);
                Some((u, u))
            }
            None => Some((u, u)),
        };
    }
    if let Some(r) = run {
        flush(&mut out, r);
    }
    out
}

/// Streams a folder's new messages into the store, batch by batch, appending one batch while
/// the next arrives.
async fn transfer<S: MailStore>(
    ctx: &Ctx<S>,
    client: &mut ImapClient,
    w: &Work,
    progress: &dyn Progress,
) -> Result<(u64, u64, u32), Error> {
    let sizes: HashMap<u32, u64> = w.new.iter().copied().collect();
    let limits = crate::import_limits();
    // A message announced larger than the server imports is not fetched (it could not be
    // stored); it counts as done for the checkpoint, so it does not stop the folder forever.
    let (wanted, too_big): (Vec<_>, Vec<_>) = w
        .new
        .iter()
        .copied()
        .partition(|(_, n)| limits.max_message.is_none_or(|max| *n <= max));
    for (uid, size) in &too_big {
        warn!(folder = %w.plan.remote, uid, size, "a message larger than max_message_size is not imported");
        progress.advance(1, 0);
    }
    // Long sets are split so a command line stays short (RFC 7162 §4 recommends ≤ 8192
    // octets). Each with its budget for all of its answers (see "Budgets" above).
    let mut commands = Vec::new();
    for chunk in wanted.chunks(5000) {
        let bytes = chunk.iter().map(|(_, n)| *n).sum();
        commands.push((
            uid_set(chunk.iter().map(|(u, _)| *u)),
            command_budget(chunk.len(), bytes),
        ));
    }
    let largest = answer_limit(wanted.iter().map(|(_, n)| *n).max().unwrap_or(0));
    let total: u64 = wanted.iter().map(|(_, n)| *n).sum();
    // Without a spool, the memory a batch may come to hold is reserved before its bytes
    // arrive: a batch is handed on once it holds BATCH_BYTES, so at most that and one more
    // answer (no more than the folder's new messages). With a spool, each answer claims its
    // size once it is complete (a spooled one before it is read back), so a provider that
    // stalls in the middle of an answer holds no part of the budget.
    let spooling = limits.spool_dir.is_some();
    let batch_memory = (BATCH_BYTES as u64)
        .min(total.saturating_add(total / 4))
        .saturating_add(largest);
    let budget = crate::message_budget();
    // Each batch travels with the checkpoint it may set: the highest UID up to which every
    // UID asked for has been received (in it or an earlier batch), and the permits of the
    // memory it holds until it is stored.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Vec<Incoming>, u32, Vec<MessagePermit>)>(1);
    let base = FolderState {
        remote: w.plan.remote.clone(),
        local: w.mailbox.name.as_str().to_owned(),
        uid_validity: w.uid_validity,
        last_uid: 0,
        highest_modseq: ctx
            .state()
            .folder(ctx.source.id, &w.plan.remote)?
            .and_then(|f| f.highest_modseq),
    };
    let appender = {
        let ctx = ctx.clone();
        let mailbox = w.mailbox.clone();
        let remote = w.plan.remote.clone();
        async move {
            let mut done = Vec::new();
            while let Some((batch, checkpoint, _permit)) = rx.recv().await {
                let mut folder = base.clone();
                folder.last_uid = checkpoint;
                let n = batch.len() as u64;
                let (mb, r) = (mailbox.clone(), remote.clone());
                let bytes = ctx
                    .blocking(move |c| c.store_batch(&r, &mb, Some(&folder), &batch))
                    .await?;
                done.push((n, bytes));
            }
            Ok::<_, Error>(done)
        }
    };
    let appender = tokio::spawn(appender);

    // UIDs received, and how many of those asked for (ascending) form a complete prefix.
    let mut received: HashSet<u32> = too_big.iter().map(|(u, _)| *u).collect();
    let mut complete = 0usize;
    let mut checkpoint = |received: &HashSet<u32>| {
        while complete < w.new.len() && received.contains(&w.new[complete].0) {
            complete += 1;
        }
        complete.checked_sub(1).map_or(0, |i| w.new[i].0)
    };
    // No answer much larger than the largest message asked for.
    client.set_response_limit(Some(largest));
    client.set_spool(limits.spool_dir.clone().map(|d| (d, budget.clone())));
    let reader = async {
        let mut batch: Vec<Incoming> = Vec::new();
        let mut batch_bytes = 0usize;
        // The permits of the batch being filled: its reservation, and one per message read
        // back from the spool. The reader waits for memory only while it holds none of them
        // (a message read back may need the whole budget): otherwise it hands the batch on.
        let mut permits: Vec<MessagePermit> = Vec::new();
        macro_rules! hand_on {
            () => {{
                let cp = checkpoint(&received);
                let held = std::mem::take(&mut permits);
                if !batch.is_empty()
                    && tx
                        .send((std::mem::take(&mut batch), cp, held))
                        .await
                        .is_err()
                {
                    return Err(Error::State("the appender stopped".into()));
                }
            }};
        }
        macro_rules! reserve {
            ($bytes:expr) => {{
                match budget.try_acquire($bytes) {
                    Some(p) => p,
                    None => {
                        hand_on!();
                        batch_bytes = 0;
                        budget.acquire($bytes).await
                    }
                }
            }};
        }
        for (set, command_budget) in &commands {
            let tag = client
                .start_uid_fetch(set, "(UID FLAGS INTERNALDATE BODY.PEEK[])")
                .await?;
            let mut answered = 0u64;
            loop {
                // Without a spool, memory for the batch being filled is reserved before its
                // bytes arrive.
                // (It is the only permit a batch holds without a spool.)
                if !spooling && permits.is_empty() {
                    let p = reserve!(batch_memory);
                    permits.push(p);
                }
                let (response, size, held) = match client.read_or_spooled().await? {
                    Next::Response(r, n) => {
                        let p = if spooling {
                            Some(reserve!(n as u64))
                        } else {
                            None
                        };
                        (r, n, p)
                    }
                    Next::Spooled(bytes) => {
                        if answered.saturating_add(bytes) > *command_budget {
                            return Err(over_budget(*command_budget, set, &w.plan.remote));
                        }
                        let p = reserve!(bytes);
                        let (r, n) = client.read_back()?;
                        (r, n, Some(p))
                    }
                };
                answered += size as u64;
                if answered > *command_budget {
                    return Err(over_budget(*command_budget, set, &w.plan.remote));
                }
                match response {
                    Response::Numbered { n, name, values } if name == "FETCH" => {
                        let f = Fetched::from_values(n, &values)?;
                        // Only UIDs asked for, each once: a second answer for a UID
                        // is not a second message.
                        let Some(inc) = incoming(f, &sizes) else {
                            continue;
                        };
                        let Ok(uid) = inc.key.parse::<u32>() else {
                            continue;
                        };
                        if !received.insert(uid) {
                            debug!(folder = %w.plan.remote, uid, "a second FETCH answer for one UID ignored");
                            continue;
                        }
                        batch_bytes += inc.body.len();
                        progress.advance(1, inc.body.len() as u64);
                        batch.push(inc);
                        permits.extend(held);
                        if batch.len() >= BATCH_MESSAGES || batch_bytes >= BATCH_BYTES {
                            batch_bytes = 0;
                            hand_on!();
                        }
                    }
                    Response::Tagged { tag: t, status } if t == tag => {
                        crate::imap::check(status)?;
                        break;
                    }
                    Response::UntaggedStatus(StatusText {
                        status: Status::Bye,
                        text,
                        ..
                    }) => return Err(Error::Remote(format!("server closed: {text}"))),
                    _ => {}
                }
            }
        }
        let cp = checkpoint(&received);
        if !batch.is_empty() && tx.send((batch, cp, permits)).await.is_err() {
            return Err(Error::State("the appender stopped".into()));
        }
        Ok(cp)
    };
    let read_result = reader.await;
    client.set_response_limit(None);
    client.set_spool(None);
    drop(tx);
    let appended = appender
        .await
        .map_err(|e| Error::State(format!("appender task failed: {e}")))?;
    // An append error is the root cause when both failed (the reader saw a closed channel).
    let done = appended?;
    let last = read_result?;
    let (m, b) = done.iter().fold((0, 0), |(m, b), (n, by)| (m + n, b + by));
    Ok((m, b, last))
}

/// The error of a provider answering a body FETCH beyond its budget.
fn over_budget(budget: u64, set: &str, folder: &str) -> Error {
    Error::Protocol(format!(
        "the provider answered more than {budget} bytes to a FETCH of {set} in {folder} \
         (announced sizes exceeded): stopped"
    ))
}

fn incoming(f: Fetched, sizes: &HashMap<u32, u64>) -> Option<Incoming> {
    let uid = f.uid?;
    let body = f.body?;
    let remote_size = *sizes.get(&uid)?;
    Some(Incoming {
        key: uid.to_string(),
        message_id: message_id(&body),
        flags: flags_from(&f.flags.unwrap_or_default()),
        internal_date: f
            .internal_date
            .map(crate::imap::mail_date)
            .unwrap_or_else(now_date),
        body,
        remote_size,
    })
}

/// After a UIDVALIDITY change: re-key imported messages found again by fingerprint; returns
/// the number of local flag changes.
async fn rekey<S: MailStore>(
    ctx: &Ctx<S>,
    client: &mut ImapClient,
    plan: &FolderPlan,
    mailbox: &MailboxInfo,
    new_validity: u32,
) -> Result<u64, Error> {
    let fetched = client
        .uid_fetch(
            "1:*",
            "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])",
        )
        .await
        .or_else(|e| match e {
            // An empty mailbox answers `1:*` with NO on some servers.
            Error::Remote(_) => Ok(Vec::new()),
            e => Err(e),
        })?;
    let rows = ctx.state().messages(ctx.source.id, &plan.remote)?;
    let mut by_fp: HashMap<(Option<String>, u64, i64), Vec<MessageRow>> = HashMap::new();
    for r in rows {
        by_fp
            .entry((r.message_id.clone(), r.remote_size, r.idate))
            .or_default()
            .push(r);
    }
    let mut rekey = Vec::new();
    let mut changes = Vec::new();
    for m in fetched {
        let (Some(uid), Some(size), Some(date)) = (m.uid, m.size, m.internal_date) else {
            continue;
        };
        let mid = m.header_fields.as_deref().and_then(message_id);
        if let Some(old) = by_fp
            .get_mut(&(mid, size, date.unix_timestamp()))
            .and_then(Vec::pop)
        {
            rekey.push((old.key, uid.to_string(), old.flags));
            changes.push((uid.to_string(), flags_from(&m.flags.unwrap_or_default())));
        }
    }
    let folder = FolderState {
        remote: plan.remote.clone(),
        local: mailbox.name.as_str().to_owned(),
        uid_validity: new_validity,
        last_uid: 0,
        highest_modseq: None,
    };
    ctx.state()
        .rekey_folder(ctx.source.id, &plan.remote, &rekey, &folder)?;
    let (r, mb) = (plan.remote.clone(), mailbox.clone());
    ctx.blocking(move |c| c.apply_flags(&r, &mb, changes)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(raw: &str, delim: char, attrs: &[&str]) -> ListEntry {
        ListEntry {
            raw: raw.into(),
            delimiter: Some(delim),
            attributes: attrs.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn folder_names_special_use_and_prefix() {
        let entries = vec![
            entry("INBOX", '.', &[]),
            entry(&mutf7::encode("Входящие.Работа"), '.', &[]),
            entry(&mutf7::encode("Входящие"), '.', &["\\Noselect"]),
            entry(&mutf7::encode("Отправленные"), '.', &["\\Sent"]),
            entry(&mutf7::encode("Отправленные.2019"), '.', &[]),
            entry("a/b", '.', &[]),
            entry("Starred", '.', &["\\Flagged"]),
        ];
        let plans = plan_folders(&entries, &[], None, &[]);
        let names: Vec<&str> = plans.iter().map(|p| p.local.as_str()).collect();
        assert_eq!(
            names,
            [
                "INBOX",
                "Входящие/Работа",
                "Отправленные",
                "Отправленные/2019",
                "a_b"
            ]
        );
        assert_eq!(plans[2].special_use, Some(SpecialUse::Sent));
        let prefixed = plan_folders(&entries, &[], Some("Old"), &[]);
        assert_eq!(prefixed[0].local.as_str(), "Old/INBOX");
        assert!(prefixed.iter().all(|p| p.special_use.is_none()));
        // Unmarked server: well-known names.
        let plain = vec![entry("INBOX", '/', &[]), entry("Sent Items", '/', &[])];
        let plans = plan_folders(&plain, &[], None, &[]);
        assert_eq!(plans[1].special_use, Some(SpecialUse::Sent));
    }

    #[test]
    fn personal_namespace_prefix_is_stripped() {
        // Cyrus and Courier: NAMESPACE (("INBOX." ".")), every folder under INBOX.
        let personal = prefix_levels("INBOX.", Some('.'));
        assert_eq!(personal, ["INBOX"]);
        assert!(prefix_levels("", Some('/')).is_empty());
        let entries = vec![
            entry("INBOX", '.', &[]),
            entry(&mutf7::encode("INBOX.Папка"), '.', &[]),
            entry(&mutf7::encode("INBOX.Папка.Вложенная"), '.', &[]),
            entry("INBOX.Sent", '.', &[]),
            entry("inbox.Drafts", '.', &[]),
            entry("Elsewhere", '.', &[]),
        ];
        let plans = plan_folders(&entries, &[], None, &personal);
        let names: Vec<&str> = plans.iter().map(|p| p.local.as_str()).collect();
        assert_eq!(
            names,
            [
                "INBOX",
                "Папка",
                "Папка/Вложенная",
                "Sent",
                "Drafts",
                "Elsewhere"
            ]
        );
        assert_eq!(plans[3].special_use, Some(SpecialUse::Sent));
        assert_eq!(plans[4].special_use, Some(SpecialUse::Drafts));
        assert_eq!(plans[1].remote, mutf7::encode("INBOX.Папка"));
    }

    #[test]
    fn uid_sets_and_message_ids() {
        assert_eq!(uid_set([1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_set([]), "");
        assert_eq!(
            message_id(b"Subject: x\r\nMessage-ID:\r\n <a@b>\r\n\r\nMessage-ID: <no>\r\n"),
            Some("<a@b>".into())
        );
        assert_eq!(message_id(b"Subject: x\r\n\r\nMessage-Id: <no>"), None);
    }
}
