//! `pochta collect add|list|run|status|del`: the command-line half, called from the binary.
//!
//! Implementation notes:
//! - Output for people goes to `out` (stdout); the progress bar draws on stderr and only on a
//!   terminal (indicatif hides itself otherwise), so scripted output stays clean.
//! - `run` takes the same per-source lock as `pochta serve` ([`State::lock_source`]): if
//!   the server is collecting that source right now, `run` says so and stops rather than race.
//! - `add` checks the local account exists and the URL parses, then logs in to the remote
//!   ([`crate::try_login`]) and saves the source only if that worked, with the server's own
//!   words on failure (`NO [AUTHENTICATIONFAILED] …`; a certificate error points at
//!   `--insecure`). `edit` changes a source in place (URL, user, password, options) after the
//!   same check, keeping its checkpoints. `--delete` is
//!   refused for IMAP sources (an IMAP source is mirrored, folders and flags, and the remote
//!   only read); for POP3 it is stored with the source and shown by `list` and `status`.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use pochta_store::MailStore;
use pochta_types::Address;

use crate::oauth::{Credential, Endpoints};
use crate::{Error, Progress, Report, SourceUrl, State, sync_source};

/// What `collect add` was given.
#[derive(Debug, Clone)]
pub struct AddArgs {
    pub account: String,
    /// A source URL, or an e-mail address to discover the source from.
    pub url: String,
    /// The remote user name; with an address, defaults to what discovery found.
    pub user: Option<String>,
    pub password: String,
    pub insecure: bool,
    pub folder_prefix: Option<String>,
    /// POP3 only: delete each message on the remote once it is stored here.
    pub delete: bool,
    /// Show what would be done (discovery included), log in to nothing, save nothing.
    pub dry_run: bool,
    /// The server's resolver (`[dns]`), for discovery.
    pub dns: pochta_dns::DnsConfig,
    /// `[collector] https_port`, `https_ca_file`.
    pub web: crate::discover::WebOptions,
    /// Sign in with OAuth 2.0 (device grant) instead of the password.
    pub oauth: Option<OAuthArgs>,
    /// `--contacts URL|auto`: a CardDAV address book to keep in sync too.
    pub contacts: Option<String>,
}

/// `collect add --oauth`: the client registered with the provider, and the endpoints when
/// the provider is not one whose endpoints are built in (Gmail, Outlook, Yandex).
#[derive(Debug, Clone, Default)]
pub struct OAuthArgs {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub device_url: Option<String>,
    pub token_url: Option<String>,
    pub scope: Option<String>,
}

/// Signs in with the device grant, telling the user where to go.
fn oauth_sign_in(url: &SourceUrl, o: &OAuthArgs, out: &mut dyn Write) -> Result<Credential, Error> {
    if url.protocol != crate::Protocol::Imap {
        return Err(Error::Config("--oauth is for IMAP sources only".into()));
    }
    let known = crate::oauth::known_endpoints(&url.host);
    let pick = |given: &Option<String>, known: Option<&str>, what: &str| {
        given
            .clone()
            .or_else(|| known.map(str::to_owned))
            .ok_or_else(|| {
                Error::Config(format!(
                    "--oauth: no built-in OAuth endpoints for {}: give --oauth-{what}",
                    url.host
                ))
            })
    };
    let endpoints = Endpoints {
        device_url: pick(&o.device_url, known.map(|k| k.0), "device-url")?,
        token_url: pick(&o.token_url, known.map(|k| k.1), "token-url")?,
        scope: pick(&o.scope, known.map(|k| k.2), "scope")?,
        client_id: o.client_id.clone().ok_or_else(|| {
            Error::Config(
                "--oauth needs --oauth-client-id (the client registered with the provider)".into(),
            )
        })?,
        client_secret: o.client_secret.clone(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io)?;
    let mut show = |line: &str| {
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    let grant = rt.block_on(crate::oauth::device_grant(endpoints, &mut show))?;
    Ok(Credential::OAuth(grant))
}

fn io(e: std::io::Error) -> Error {
    Error::Io(e)
}

fn account_key<S: MailStore>(store: &S, account: &str) -> Result<String, Error> {
    let a = Address::new(account).map_err(|e| Error::Config(format!("{account}: {e}")))?;
    let acc = store
        .account_by_address(&a)?
        .ok_or_else(|| Error::Config(format!("no local user {account}")))?;
    Ok(acc.address.to_string())
}

/// Finds the source of an address, printing each step.
fn discover(args: &AddArgs, out: &mut dyn Write) -> Result<crate::discover::Found, Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io)?;
    writeln!(out, "looking for the mail server of {}:", args.url).map_err(io)?;
    let mut trail = Vec::new();
    let found = rt.block_on(async {
        let dns = Arc::new(pochta_dns::Dns::new(&args.dns));
        crate::discover::discover(&args.url, dns, &args.web, &mut trail).await
    });
    for line in &trail {
        writeln!(out, "  {line}").map_err(io)?;
    }
    let found = found?;
    writeln!(
        out,
        "found {} for {} (by {})",
        found.url, found.user, found.why
    )
    .map_err(io)?;
    if let Some(note) = found.note {
        writeln!(out, "note: {note}").map_err(io)?;
    }
    Ok(found)
}

pub fn add<S: MailStore>(
    store: &S,
    state: &State,
    args: AddArgs,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let account = account_key(store, &args.account)?;
    let by_address = !args.url.contains("://");
    let (url, user) = if args.url.contains("://") {
        let url = SourceUrl::parse(&args.url)?;
        let user = args
            .user
            .clone()
            .ok_or_else(|| Error::Config("--user is needed with a source URL".into()))?;
        (url, user)
    } else {
        let found = discover(&args, out)?;
        (found.url, args.user.clone().unwrap_or(found.user))
    };
    if user.is_empty() {
        return Err(Error::Config("--user is empty".into()));
    }
    if let Some(p) = &args.folder_prefix {
        pochta_types::MailboxName::new(p)
            .map_err(|e| Error::Config(format!("--folder-prefix {p:?}: {e}")))?;
    }
    if args.delete && url.protocol != crate::Protocol::Pop3 {
        return Err(Error::Config(format!(
            "--delete is for POP3 sources only: {url} is an IMAP source, which is mirrored \
             (folders and flags) and never changed on the remote"
        )));
    }
    if args.dry_run {
        return writeln!(
            out,
            "dry run: would log in to {url} as {user} and, if that works, collect from it into {account}; nothing done"
        )
        .map_err(io);
    }
    let credential = match &args.oauth {
        Some(o) => oauth_sign_in(&url, o, out)?,
        None => Credential::Password(args.password.clone()),
    };
    let how = check_login(&url, args.insecure, &user, &credential)?;
    // The address book: given, or looked for (`auto`, and by default with an address).
    let contacts_arg = match &args.contacts {
        Some(c) => Some(c.clone()),
        None if by_address => Some("auto".to_owned()),
        None => None,
    };
    let contacts_url = match (&contacts_arg, &credential) {
        (None, _) => None,
        (Some(_), Credential::OAuth(_)) => {
            writeln!(
                out,
                "contacts: not synced (CardDAV needs a password; this source uses OAuth)"
            )
            .map_err(io)?;
            None
        }
        (Some(c), Credential::Password(p)) => {
            let domain = contacts_domain(&args.url, &user, &url);
            let found = check_contacts(c, &domain, &user, p, args.insecure, &args.dns)?;
            match found {
                Some((u, why)) => {
                    writeln!(out, "contacts: {u} ({why}) will be kept in sync").map_err(io)?;
                    Some(u)
                }
                // Only `auto` finds nothing: a given URL that fails is an error.
                None => {
                    writeln!(
                        out,
                        "contacts: no CardDAV address book found for {domain} (RFC 6764 SRV _carddavs._tcp/_carddav._tcp, /.well-known/carddav); add one later with `collect edit --contacts URL`"
                    )
                    .map_err(io)?;
                    None
                }
            }
        }
    };
    let id = state.add_source_with(
        &account,
        &url,
        &user,
        &credential.to_secret(),
        args.insecure,
        args.folder_prefix.as_deref(),
        args.delete,
    )?;
    if let Some(u) = contacts_url {
        state.set_contacts_sync(id, Some(&new_contacts_sync(u)))?;
    }
    writeln!(
        out,
        "logged in to {url} as {user}{} over {how}: {account} will collect from it{}; run `pochta collect run {account} --once` to start now",
        if credential.is_oauth() { " with OAuth 2.0" } else { "" },
        if args.delete {
            ", deleting each message there once it is stored here"
        } else {
            ""
        }
    )
    .map_err(io)
}

fn new_contacts_sync(url: String) -> crate::state::ContactsSync {
    crate::state::ContactsSync {
        url,
        state: String::new(),
        last_success: None,
        last_error: None,
    }
}

/// The domain RFC 6764 discovery looks at: the old address's, else the remote user's when it
/// is an address, else the source host's.
fn contacts_domain(given: &str, user: &str, url: &SourceUrl) -> String {
    let address = if given.contains("://") { user } else { given };
    match address.rsplit_once('@') {
        Some((_, d)) if !d.is_empty() => d.to_ascii_lowercase(),
        _ => url.host.to_ascii_lowercase(),
    }
}

/// `--contacts`: a URL is checked (an address book must be found there with these
/// credentials, else an error); `auto` is looked for by RFC 6764 (`None`: nothing found).
fn check_contacts(
    arg: &str,
    domain: &str,
    user: &str,
    password: &str,
    insecure: bool,
    dns: &pochta_dns::DnsConfig,
) -> Result<Option<(String, String)>, Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io)?;
    if arg == "auto" {
        let dns = pochta_dns::Dns::new(dns);
        return Ok(rt.block_on(crate::carddav::discover_url(
            &dns, domain, user, password, insecure,
        )));
    }
    let remote = crate::carddav::Remote {
        url: arg.to_owned(),
        user: user.to_owned(),
        password: password.to_owned(),
        insecure,
    };
    let books = rt
        .block_on(crate::carddav::books(&remote))
        .map_err(|e| Error::Config(format!("--contacts {arg}: {e}")))?;
    Ok(Some((
        arg.to_owned(),
        format!("{} address book(s) found", books),
    )))
}

/// [`crate::try_login`] from the synchronous CLI.
fn check_login(
    url: &SourceUrl,
    insecure: bool,
    user: &str,
    credential: &Credential,
) -> Result<&'static str, Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io)?;
    rt.block_on(crate::try_login(url, insecure, user, credential))
        .map_err(|e| match e {
            e @ (Error::Auth(_) | Error::Tls(_)) => e,
            e => Error::Config(format!("cannot reach {url}: {e}")),
        })
}

/// What `collect edit` was given: each `Some` replaces the source's setting.
#[derive(Debug, Clone, Default)]
pub struct EditArgs {
    pub account: String,
    /// The source to change, as `collect list` shows it.
    pub url: String,
    pub new_url: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub insecure: Option<bool>,
    /// `Some(None)` removes the prefix.
    pub folder_prefix: Option<Option<String>>,
    pub delete: Option<bool>,
    /// `Some(Some(URL|auto))` syncs an address book, `Some(None)` stops.
    pub contacts: Option<Option<String>>,
    /// The server's resolver, for `--contacts auto`.
    pub dns: pochta_dns::DnsConfig,
}

/// `collect edit`: changes a source's settings or password in place, keeping its
/// checkpoints (nothing is imported again), after logging in with the new settings.
pub fn edit<S: MailStore>(
    store: &S,
    state: &State,
    args: EditArgs,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let account = account_key(store, &args.account)?;
    let url = SourceUrl::parse(&args.url)?;
    let matching: Vec<_> = state
        .sources(Some(&account))?
        .into_iter()
        .filter(|s| s.url == url)
        .collect();
    let current = match matching.as_slice() {
        [] => {
            return Err(Error::Config(format!(
                "{account} does not collect from {url}"
            )));
        }
        [one] => one.clone(),
        _ => {
            return Err(Error::Config(format!(
                "{account} collects from {url} as several users; delete and add again"
            )));
        }
    };
    let mut new = current.settings();
    if let Some(u) = &args.new_url {
        new.url = SourceUrl::parse(u)?;
    }
    if let Some(u) = args.user {
        if u.is_empty() {
            return Err(Error::Config("--user is empty".into()));
        }
        new.user = u;
    }
    if let Some(i) = args.insecure {
        new.insecure = i;
    }
    if let Some(p) = args.folder_prefix {
        if let Some(p) = &p {
            pochta_types::MailboxName::new(p)
                .map_err(|e| Error::Config(format!("--folder-prefix {p:?}: {e}")))?;
        }
        new.folder_prefix = p;
    }
    if let Some(d) = args.delete {
        new.delete_remote = d;
    }
    if new.delete_remote && new.url.protocol != crate::Protocol::Pop3 {
        return Err(Error::Config(format!(
            "--delete is for POP3 sources only: {} is an IMAP source",
            new.url
        )));
    }
    let credential = match &args.password {
        Some(p) => Credential::Password(p.clone()),
        None => Credential::from_secret(state.password(&current)?)?,
    };
    let how = check_login(&new.url, new.insecure, &new.user, &credential)?;
    let contacts = match (&args.contacts, &credential) {
        (Some(Some(_)), Credential::OAuth(_)) => {
            return Err(Error::Config(
                "--contacts: CardDAV needs a password; this source signs in with OAuth".into(),
            ));
        }
        (Some(Some(c)), Credential::Password(p)) => {
            let domain = contacts_domain(new.url.as_str(), &new.user, &new.url);
            match check_contacts(c, &domain, &new.user, p, new.insecure, &args.dns)? {
                Some((u, why)) => Some(Some((u, why))),
                None => {
                    return Err(Error::Config(format!(
                        "--contacts auto: no CardDAV address book found for {domain}"
                    )));
                }
            }
        }
        (Some(None), _) => Some(None),
        (None, _) => None,
    };
    state.update_source(&current, &new, args.password.as_deref())?;
    match contacts {
        Some(Some((u, why))) => {
            // A new URL starts a new sync state; the same one keeps its tokens.
            let keep = state
                .contacts_sync(current.id)?
                .filter(|c| c.url == u)
                .unwrap_or_else(|| new_contacts_sync(u.clone()));
            state.set_contacts_sync(current.id, Some(&keep))?;
            writeln!(out, "contacts: {u} ({why}) will be kept in sync").map_err(io)?;
        }
        Some(None) => {
            state.set_contacts_sync(current.id, None)?;
            writeln!(
                out,
                "contacts: no longer synced (the contacts brought over stay)"
            )
            .map_err(io)?;
        }
        None => {}
    }
    writeln!(
        out,
        "logged in to {} as {} over {how}: source updated (its checkpoints and {} imported messages are kept)",
        new.url, new.user, current.imported_messages
    )
    .map_err(io)
}

/// How the last attempt of a source reads, and whether it is an interrupted pass.
fn attempt_text(state: &State, s: &crate::SourceRow) -> Result<(String, bool), Error> {
    let t = s.last_attempt.map(format_utc);
    if s.last_error.as_deref() != Some(crate::state::UNFINISHED) {
        return Ok((t.unwrap_or_else(|| "never".into()), false));
    }
    let t = t.unwrap_or_default();
    // The pass's lock is held while it runs (here or in `pochta serve`).
    Ok(match state.lock_source(s.id)? {
        None => (format!("{t}, running now"), true),
        Some(_free) => (
            format!(
                "{t}, interrupted before it finished (the next pass goes on from the last checkpoint)"
            ),
            true,
        ),
    })
}

pub fn list(state: &State, out: &mut dyn Write) -> Result<(), Error> {
    for s in state.sources(None)? {
        let (attempt, unfinished) = attempt_text(state, &s)?;
        let status = match (&s.last_error, s.last_success) {
            _ if unfinished => format!("last attempt {attempt}"),
            (Some(e), _) => format!("error: {e}"),
            (None, Some(t)) => format!("ok {}", format_utc(t)),
            (None, None) => "never run".into(),
        };
        writeln!(
            out,
            "{}\t{}\t{}{}{}\t{}",
            s.account,
            s.url,
            s.user,
            if s.insecure { "\t(insecure)" } else { "" },
            if s.delete_remote {
                "\t(delete after download)"
            } else {
                ""
            },
            status
        )
        .map_err(io)?;
    }
    Ok(())
}

pub fn del<S: MailStore>(
    store: &S,
    st: &State,
    account: &str,
    url: &str,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let account = account_key(store, account).unwrap_or_else(|_| account.to_owned());
    let url = SourceUrl::parse(url)?;
    match st.del_source(&account, &url)? {
        0 => Err(Error::Config(format!(
            "{account} does not collect from {url}"
        ))),
        _ => writeln!(
            out,
            "{account} no longer collects from {url} (mail already collected stays)"
        )
        .map_err(io),
    }
}

pub fn status<S: MailStore>(
    store: &S,
    st: &State,
    account: &str,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let account = account_key(store, account)?;
    let sources = st.sources(Some(&account))?;
    if sources.is_empty() {
        writeln!(out, "{account} collects from no source").map_err(io)?;
    }
    for s in sources {
        let t = |v: Option<i64>| v.map(format_utc).unwrap_or_else(|| "never".into());
        let (attempt, unfinished) = attempt_text(st, &s)?;
        writeln!(out, "{} as {}", s.url, s.user).map_err(io)?;
        if s.delete_remote {
            writeln!(out, "  remote copies: deleted once stored here (--delete)").map_err(io)?;
        }
        if let Some(idle) = &s.idle {
            writeln!(out, "  IDLE on INBOX: {idle}").map_err(io)?;
        }
        writeln!(out, "  last attempt: {attempt}").map_err(io)?;
        writeln!(out, "  last success: {}", t(s.last_success)).map_err(io)?;
        writeln!(
            out,
            "  last error:   {}",
            match &s.last_error {
                _ if unfinished => "none recorded",
                Some(e) => e.as_str(),
                None => "none",
            }
        )
        .map_err(io)?;
        writeln!(
            out,
            "  imported:     {} messages, {} bytes; {} flag updates",
            s.imported_messages, s.imported_bytes, s.flag_updates
        )
        .map_err(io)?;
        if let Some(c) = st.contacts_sync(s.id)? {
            writeln!(
                out,
                "  contacts:     {}; last synced {}{}",
                c.url,
                t(c.last_success),
                c.last_error
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default()
            )
            .map_err(io)?;
        }
        for f in st.folders(s.id)? {
            let name = pochta_types::mutf7::decode(&f.remote).unwrap_or(f.remote.clone());
            writeln!(
                out,
                "  folder {name} -> {} (UIDVALIDITY {}, last UID {}{})",
                f.local,
                f.uid_validity,
                f.last_uid,
                f.highest_modseq
                    .map(|m| format!(", HIGHESTMODSEQ {m}"))
                    .unwrap_or_default()
            )
            .map_err(io)?;
        }
    }
    Ok(())
}

/// `collect run ACCOUNT [--once]`: passes over every source of the account, with a progress
/// bar; without `once`, again every `interval` until interrupted.
pub fn run<S: MailStore>(
    store: Arc<S>,
    contacts: Option<Arc<dyn pochta_store::contacts::ContactStore>>,
    state: State,
    account: &str,
    once: bool,
    interval: Duration,
    out: &mut dyn Write,
) -> Result<(), Error> {
    let account = account_key(&*store, account)?;
    let state = Arc::new(Mutex::new(state));
    let sources = state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .sources(Some(&account))?;
    if sources.is_empty() {
        return Err(Error::Config(format!(
            "{account} has no source; add one with `pochta collect add`"
        )));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io)?;
    let mut failed = None;
    loop {
        for src in &sources {
            let lock = state
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .lock_source(src.id)?;
            let Some(_lock) = lock else {
                writeln!(
                    out,
                    "{}: a pass is already running (pochta serve?); skipped",
                    src.url
                )
                .map_err(io)?;
                continue;
            };
            let bar = Bar::new(src.url.as_str());
            let result = rt.block_on(sync_source(
                Arc::clone(&store),
                Arc::clone(&state),
                src.clone(),
                &bar,
            ));
            bar.bar.finish_and_clear();
            match result {
                Ok(r) => writeln!(out, "{}: {}", src.url, summary(&r)).map_err(io)?,
                Err(e) => {
                    writeln!(out, "{}: failed: {e}", src.url).map_err(io)?;
                    failed = Some(e);
                }
            }
            if let Some(c) = &contacts {
                let r = rt.block_on(crate::sync_contacts(
                    &*store,
                    Arc::clone(c),
                    Arc::clone(&state),
                    src,
                ));
                match r {
                    Ok(Some(r)) => writeln!(
                        out,
                        "{}: contacts: {} book(s), {} stored, {} deleted{}",
                        src.url,
                        r.books,
                        r.stored,
                        r.deleted,
                        if r.incremental == r.books {
                            " (sync-collection)"
                        } else {
                            " (by ETag)"
                        }
                    )
                    .map_err(io)?,
                    Ok(None) => {}
                    Err(e) => {
                        writeln!(out, "{}: contacts failed: {e}", src.url).map_err(io)?;
                        failed = Some(e);
                    }
                }
            }
        }
        if once {
            break;
        }
        let interrupted = rt.block_on(async {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => true,
                _ = tokio::time::sleep(interval) => false,
            }
        });
        if interrupted {
            break;
        }
    }
    match failed {
        Some(e) if once => Err(e),
        _ => Ok(()),
    }
}

fn summary(r: &Report) -> String {
    let mib = r.bytes as f64 / (1024.0 * 1024.0);
    let secs = r.elapsed.as_secs_f64().max(1e-6);
    let deleted = if r.remote_deleted > 0 {
        format!(", {} deleted on the remote", r.remote_deleted)
    } else {
        String::new()
    };
    format!(
        "{} folders, {} new messages ({mib:.1} MiB) in {secs:.1} s ({:.1} MiB/s, {:.0} msg/s), {} flag updates{deleted}",
        r.folders,
        r.messages,
        mib / secs,
        r.messages as f64 / secs,
        r.flag_updates
    )
}

/// The indicatif bar: position and length in bytes, messages in the message text. It starts
/// as a spinner ("connecting") and becomes a bar once the pass knows how much it will
/// transfer, so its first frame is never a full bar of 0 of 0 bytes; every line fits the
/// terminal's width (the message is the part that shrinks).
struct Bar {
    bar: ProgressBar,
    messages: std::sync::atomic::AtomicU64,
    total: std::sync::atomic::AtomicU64,
    url: String,
    started: std::sync::atomic::AtomicBool,
}

/// The bar's style for a terminal `width` columns wide: the fixed parts (bar, bytes, rate,
/// ETA) are dropped, widest first, until they leave room for at least 16 columns of message.
fn bar_style(width: usize) -> ProgressStyle {
    let templates = [
        (
            72,
            "{wide_msg} [{bar:20}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ),
        (54, "{wide_msg} [{bar:16}] {bytes}/{total_bytes} ETA {eta}"),
        (36, "{wide_msg} [{bar:12}] {percent:>3}%"),
        (0, "{wide_msg} {percent:>3}%"),
    ];
    let t = templates
        .iter()
        .find(|(min, _)| width >= *min)
        .map_or("{wide_msg}", |(_, t)| t);
    ProgressStyle::with_template(t)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// The terminal's width in columns (80 when unknown).
fn term_width() -> usize {
    console::Term::stderr()
        .size_checked()
        .map_or(80, |(_, cols)| usize::from(cols))
}

impl Bar {
    fn new(url: &str) -> Bar {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(format!("{url}: connecting"));
        bar.enable_steady_tick(Duration::from_millis(120));
        Bar {
            bar,
            messages: Default::default(),
            total: Default::default(),
            url: url.to_owned(),
            started: Default::default(),
        }
    }

    fn refresh(&self, folder: Option<&str>) {
        use std::sync::atomic::Ordering::Relaxed;
        let (m, t) = (self.messages.load(Relaxed), self.total.load(Relaxed));
        let folder = folder.map(|f| format!(" {f}")).unwrap_or_default();
        self.bar
            .set_message(format!("{}{folder}: {m}/{t} msgs", self.url));
    }
}

impl Progress for Bar {
    fn plan(&self, messages: u64, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.total.fetch_add(messages, Relaxed);
        if bytes > 0 && !self.started.swap(true, Relaxed) {
            // From spinner to bar: empty, with its length known.
            self.bar.disable_steady_tick();
            self.bar.set_length(0);
            self.bar.set_position(0);
            self.bar.set_style(bar_style(term_width()));
        }
        self.bar.inc_length(bytes);
        self.refresh(None);
    }

    fn folder(&self, name: &str) {
        self.refresh(Some(name));
    }

    fn advance(&self, messages: u64, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let m = self.messages.fetch_add(messages, Relaxed) + messages;
        self.bar.inc(bytes);
        if m.is_multiple_of(64) {
            self.refresh(None);
        }
    }
}

/// `2024-01-01 00:00:00 UTC`.
pub fn format_utc(t: i64) -> String {
    let d = crate::imap::format_date_time(pochta_store::MailDate {
        unix: t,
        offset_minutes: 0,
    });
    format!("{d} UTC").replace(" +0000", "")
}
