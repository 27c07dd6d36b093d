//! Pochta's collector: import a mailbox from another provider over IMAP or POP3 and keep it in
//! sync.
//!
//! Implementation notes:
//! - **Layers.** [`imap`] is the collector's policy over `pochta-imap-client` (whose grammar,
//!   framing and budgets are `pochta_imap_proto::client`); [`pop3`] is a thin async client;
//!   both connect through [`conn`] (`pochta_net::connect`: TCP, TLS, STARTTLS/STLS);
//!   [`sync`] is the pass algorithm; [`state`] is the collector's own state (sources,
//!   encrypted passwords, per-folder checkpoints, the remote→local UID map) over a
//!   [`pochta_store::CollectorStore`] (the embedded backend keeps it in
//!   `data_dir/collector.sqlite3`); [`run`] runs every source continuously for `pochta serve`;
//!   [`cli`] is `pochta collect …`; [`discover`] finds a source from an e-mail address (SRV,
//!   autoconfig over HTTPS with reqwest, MX, a provider table) through the server's resolver.
//! - **Never lose, never duplicate.** A message is checkpointed only after the store's append
//!   committed, and a batch interrupted between the two is found again on the next pass
//!   (see [`state`]). The remote is only read: EXAMINE and `BODY.PEEK[]` for IMAP (also on
//!   the IDLE connection), and no DELE for POP3 unless the source was added with `--delete`:
//!   then only messages whose append committed and whose UIDL is checkpointed are DELEd,
//!   before a checked QUIT (RFC 1939 §6; see [`pop3`]). `--delete` is refused for IMAP.
//! - **Background** ([`run`]): interval polling with backoff, plus one IDLE connection per
//!   IMAP source on the remote INBOX where offered (RFC 2177), which asks for an INBOX-only
//!   pass on `EXISTS`.
//! - **Fidelity** (IMAP): folder tree with the remote delimiter translated to `/`, names decoded
//!   from modified UTF-7, special-use folders mapped to the local ones, flags (`\Seen`,
//!   `\Answered`, `\Flagged`, `\Draft`, `\Deleted`, keywords), INTERNALDATE and the exact bytes
//!   (the store only normalises bare LF to CRLF, which IMAP servers send anyway).
//! - **Contacts**: a source may keep a remote CardDAV address book in sync too
//!   (`--contacts URL`, or found by RFC 6764 discovery); [`sync_contacts`] runs after each
//!   full pass ([`carddav::sync`]: additions, changes, deletions), with the source's
//!   credentials, its state in the collector store.
//! - **Errors** are one [`Error`] enum; a pass that fails records its error in the state
//!   (`collect status`) and the log, and [`run`] retries with backoff. Nothing here panics on
//!   network input.
#![forbid(unsafe_code)]

pub mod carddav;
pub mod cli;
pub mod conn;
pub mod discover;
pub mod imap;
pub mod oauth;
pub mod pop3;
pub mod run;
pub mod source;
pub mod state;
pub mod sync;

use std::sync::{Arc, Mutex};

use pochta_store::MailStore;
use pochta_store::contacts::ContactStore;

pub use source::{Protocol, SourceUrl, TlsPolicy};

/// The server-wide memory budget for messages held to be stored (see `crate::sync`,
/// "Budgets"); unlimited until [`set_message_budget`] is called.
static MESSAGE_BUDGET: std::sync::OnceLock<pochta_net::MessageBudget> = std::sync::OnceLock::new();

/// Shares the server's [`pochta_net::MessageBudget`] with the collector (`pochta serve` does,
/// so that imports, SMTP and IMAP draw on one budget). Only the first call counts.
pub fn set_message_budget(budget: pochta_net::MessageBudget) {
    let _ = MESSAGE_BUDGET.set(budget);
}

pub(crate) fn message_budget() -> pochta_net::MessageBudget {
    MESSAGE_BUDGET.get().cloned().unwrap_or_default()
}

/// Where large FETCH literals are spooled and the largest message imported (see
/// `crate::sync`, "Budgets"); set by [`set_import_limits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportLimits {
    /// A directory for unnamed spool files (`data_dir/tmp` under `pochta serve` and
    /// `pochta collect`); `None` keeps FETCH literals and RETR answers in memory while they
    /// arrive (within the response limits).
    pub spool_dir: Option<std::path::PathBuf>,
    /// The largest message imported (`limits.max_message_size`): a message announced larger
    /// is skipped, and no literal may be much larger ([`sync::answer_limit`] of it).
    pub max_message: Option<u64>,
}

static IMPORT_LIMITS: std::sync::OnceLock<ImportLimits> = std::sync::OnceLock::new();

/// Sets the [`ImportLimits`] (`pochta serve` and `pochta collect` do, through
/// `pochta::collect::configure`). Only the first call counts.
pub fn set_import_limits(limits: ImportLimits) {
    let _ = IMPORT_LIMITS.set(limits);
}

pub(crate) fn import_limits() -> ImportLimits {
    IMPORT_LIMITS.get().cloned().unwrap_or(ImportLimits {
        spool_dir: None,
        max_message: None,
    })
}
pub use state::{SourceRow, SourceSettings, State};
pub use sync::Report;

/// What can go wrong in a pass or a collector command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Config(String),
    #[error("network: {0}")]
    Io(std::io::Error),
    #[error("network: timed out")]
    Timeout,
    #[error("TLS: {0}")]
    Tls(String),
    #[error("login failed: {0}")]
    Auth(String),
    #[error("the remote server said: {0}")]
    Remote(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("collector state: {0}")]
    State(String),
    #[error("local store: {0}")]
    Store(#[from] pochta_store::StoreError),
}

/// Receives progress of a pass (the CLI draws a bar from it). Totals grow as folders are
/// planned; all methods are called from the pass's task.
pub trait Progress: Send + Sync {
    /// `messages` more messages of `bytes` more bytes are to be transferred.
    fn plan(&self, _messages: u64, _bytes: u64) {}
    /// Transfer of a folder starts.
    fn folder(&self, _local_name: &str) {}
    /// Messages received.
    fn advance(&self, _messages: u64, _bytes: u64) {}
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// Runs one pass of one source and records its outcome (success, or the error) in the state.
pub async fn sync_source<S: MailStore>(
    store: Arc<S>,
    state: Arc<Mutex<State>>,
    source: SourceRow,
    progress: &dyn Progress,
) -> Result<Report, Error> {
    sync_source_scoped(store, state, source, progress, Scope::All).await
}

/// Connects to a source and logs in (then out) with these settings: what `collect add` and
/// `collect edit` do before saving, so a wrong password, host or certificate is reported
/// at once. Returns how the connection went (`TLS` or `plain text`).
pub async fn try_login(
    url: &SourceUrl,
    insecure: bool,
    user: &str,
    credential: &oauth::Credential,
) -> Result<&'static str, Error> {
    match (url.protocol, credential) {
        (Protocol::Imap, _) => {
            let mut c = imap::ImapClient::connect(url, insecure).await?;
            c.sign_in(user, credential).await?;
            let tls = c.is_tls();
            c.logout().await;
            Ok(if tls { "TLS" } else { "plain text" })
        }
        (Protocol::Pop3, oauth::Credential::OAuth(_)) => {
            Err(Error::Config("OAuth is for IMAP sources only".into()))
        }
        (Protocol::Pop3, oauth::Credential::Password(password)) => {
            let mut c = pop3::Pop3Client::connect(url, insecure).await?;
            c.login(user, password).await?;
            let tls = c.is_tls();
            c.quit().await;
            Ok(if tls { "TLS" } else { "plain text" })
        }
    }
}

/// What a pass covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every folder.
    All,
    /// Only the remote INBOX (IMAP; a POP3 pass is always INBOX only): the pass run when the
    /// IDLE watcher sees new mail. Its success does not clear the error of a failed full
    /// pass (it says nothing about the other folders); its failure is recorded.
    Inbox,
}

/// [`sync_source`] over `scope`.
pub async fn sync_source_scoped<S: MailStore>(
    store: Arc<S>,
    state: Arc<Mutex<State>>,
    source: SourceRow,
    progress: &dyn Progress,
    scope: Scope,
) -> Result<Report, Error> {
    let id = source.id;
    if scope == Scope::All {
        let st = state.lock().unwrap_or_else(|p| p.into_inner());
        st.record_attempt(id, Some(state::UNFINISHED))?;
    }
    let result = async {
        let credential = oauth::current(&state, &source).await?;
        let ctx = sync::Ctx::new(store, Arc::clone(&state), source)?;
        match (ctx.source.url.protocol, &credential) {
            (Protocol::Imap, c) => sync::imap_pass(&ctx, c, progress, scope).await,
            (Protocol::Pop3, oauth::Credential::Password(p)) => {
                pop3::pop3_pass(&ctx, p, progress).await
            }
            (Protocol::Pop3, _) => Err(Error::Config("OAuth is for IMAP sources only".into())),
        }
    }
    .await;
    let st = state.lock().unwrap_or_else(|p| p.into_inner());
    let err = result.as_ref().err().map(ToString::to_string);
    if scope == Scope::All || err.is_some() {
        st.record_attempt(id, err.as_deref())?;
    }
    result
}

/// Syncs the address book a source keeps in sync (`--contacts`), if it has one, and records
/// the outcome (state, success or error) in the collector store; `Ok(None)` when it has none.
pub async fn sync_contacts<S: MailStore>(
    store: &S,
    contacts: Arc<dyn ContactStore>,
    state: Arc<Mutex<State>>,
    source: &SourceRow,
) -> Result<Option<carddav::SyncReport>, Error> {
    let current = {
        let st = state.lock().unwrap_or_else(|p| p.into_inner());
        st.contacts_sync(source.id)?
    };
    let Some(mut cs) = current else {
        return Ok(None);
    };
    let result = async {
        let password = match oauth::current(&state, source).await? {
            oauth::Credential::Password(p) => p,
            oauth::Credential::OAuth(_) => {
                return Err(Error::Config(
                    "contacts: CardDAV needs a password; this source signs in with OAuth".into(),
                ));
            }
        };
        let address = pochta_types::Address::new(&source.account)
            .map_err(|e| Error::Config(format!("{}: {e}", source.account)))?;
        let account = store
            .account_by_address(&address)?
            .ok_or_else(|| Error::Config(format!("no local account {}", source.account)))?
            .id;
        let remote = carddav::Remote {
            url: cs.url.clone(),
            user: source.user.clone(),
            password,
            insecure: source.insecure,
        };
        carddav::sync(contacts, account, &remote, &cs.state)
            .await
            .map_err(|e| Error::Remote(format!("contacts {}: {e}", cs.url)))
    }
    .await;
    let st = state.lock().unwrap_or_else(|p| p.into_inner());
    match result {
        Ok((report, new_state)) => {
            cs.state = new_state;
            cs.last_success = Some(state::now());
            cs.last_error = None;
            st.set_contacts_sync(source.id, Some(&cs))?;
            Ok(Some(report))
        }
        Err(e) => {
            cs.last_error = Some(e.to_string());
            st.set_contacts_sync(source.id, Some(&cs))?;
            Err(e)
        }
    }
}
