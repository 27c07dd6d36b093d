//! The `pochta` binary: command line, configuration, logging and wiring.
//!
//! Implementation notes:
//! - Exit codes: 0 success, 1 a runtime error (bad config, store, TLS, bind …) printed as
//!   one `error:` line on stderr, 2 a command-line usage error (clap's convention).
//! - Logs go to stderr through `tracing` (level from `RUST_LOG`, default `info`); command
//!   output goes to stdout, so `pochta user list | …` stays clean.
//! - Only `serve` and `dev` start a tokio runtime; admin commands are plain synchronous code.
//! - `serve`, `dev` and `collect run` (which imports large messages too) fix glibc's mmap
//!   threshold before anything is allocated, by running themselves again with
//!   `GLIBC_TUNABLES` set (see [`fix_malloc_threshold`]).
#![forbid(unsafe_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use pochta::admin::{self, PasswordSource};
use pochta::config::Config;
use pochta::serve;
use pochta::{contacts, outbound};

/// Pochta: a mail server (SMTP, IMAP, POP3) in one binary.
#[derive(Debug, Parser)]
#[command(name = "pochta", version, arg_required_else_help = true)]
struct Cli {
    /// Configuration file.
    #[arg(
        long,
        short,
        global = true,
        default_value = "./pochta.toml",
        value_name = "FILE"
    )]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Write a development config (127.0.0.1, high ports) to DIR/pochta.toml if absent.
    Init {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
    /// Development in one step: init DIR, create me@example.org, print its credentials, serve.
    Dev {
        #[arg(default_value = "dev-data")]
        dir: PathBuf,
    },
    /// Manage local domains.
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage aliases (an address, or @domain for a catch-all, delivered to an account).
    #[command(subcommand)]
    Alias(AliasCmd),
    /// Set GRANTEE's rights on OWNER's MAILBOX (RFC 4314 letters lrswipkxtea; +RIGHTS adds,
    /// -RIGHTS removes, none removes the entry). OWNER is an address, or public for a public
    /// folder; GRANTEE is an address, anyone (every user) or anonymous.
    Share {
        owner: String,
        mailbox: String,
        grantee: String,
        #[arg(allow_hyphen_values = true)]
        rights: String,
    },
    /// Whether the users OWNER's MAILBOX is shared with see one shared \Seen (shared) or each
    /// their own (per-user). OWNER is an address or public.
    Seen {
        owner: String,
        mailbox: String,
        /// shared or per-user
        mode: String,
    },
    /// Public folders: Public/NAME in IMAP, owned by the server, opened with pochta share.
    #[command(subcommand)]
    Public(PublicCmd),
    /// Inspect and manage the outbound queue.
    #[command(subcommand)]
    Queue(QueueCmd),
    /// DKIM keys for signing outgoing mail.
    #[command(subcommand)]
    Dkim(DkimCmd),
    /// Print the DNS records (MX, SPF, DMARC, DKIM, SRV, autoconfig) to publish for DOMAIN.
    Dns { domain: String },
    /// Address books: import and export vCard files.
    #[command(subcommand)]
    Contacts(ContactsCmd),
    /// The full-text search index (IMAP SEARCH BODY/TEXT/SUBJECT/…).
    #[command(subcommand)]
    Search(SearchCmd),
    /// Collect mail from another provider (IMAP or POP3) into a local account, and keep it in
    /// sync (`pochta serve` runs every source continuously).
    #[command(subcommand)]
    Collect(CollectCmd),
    /// The database of `[store] backend = "postgres"`.
    #[command(subcommand)]
    Db(DbCmd),
    /// Move an installation between storage backends.
    #[command(subcommand)]
    Store(StoreCmd),
}

#[derive(Debug, Subcommand)]
enum StoreCmd {
    /// Copy this (embedded) installation — accounts, mailboxes with their UIDVALIDITY and
    /// UIDs, messages, flags, ACLs, quotas, aliases, queue, collector sources — into an empty
    /// PostgreSQL database (then point [store] at it).
    Copy {
        /// postgres://user:password@host:port/dbname
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Subcommand)]
enum DbCmd {
    /// Apply the schema migrations the database lacks (every start does it too).
    Migrate,
}

#[derive(Debug, Subcommand)]
enum CollectCmd {
    /// Add a source: URL is imap://, imaps://, pop3:// or pop3s://HOST[:PORT]
    /// (imap:// and pop3:// use STARTTLS when offered; add ?tls=required to insist), or the
    /// old e-mail address, whose server is then found (SRV, autoconfig, MX, known providers).
    /// Logs in before saving.
    Add {
        /// The local account that receives the mail.
        address: String,
        /// The source URL, or the e-mail address at the old provider.
        url: String,
        /// The user name at the remote provider (with an address: what discovery found).
        #[arg(long)]
        user: Option<String>,
        /// The remote password (visible in the process list; prefer --password-stdin).
        #[arg(
            long,
            conflicts_with = "password_stdin",
            required_unless_present_any = ["password_stdin", "dry_run", "oauth"]
        )]
        password: Option<String>,
        /// Read the remote password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Accept any certificate from the remote (self-signed); the connection stays encrypted.
        #[arg(long)]
        insecure: bool,
        /// Put the remote folder tree under this local folder instead of merging it.
        #[arg(long, value_name = "NAME")]
        folder_prefix: Option<String>,
        /// POP3 only: delete each message on the remote once it is stored here (default: leave
        /// it there). Refused for IMAP sources.
        #[arg(long)]
        delete: bool,
        /// Show what would be done (the discovered server, the user); log in to nothing and
        /// save nothing.
        #[arg(long)]
        dry_run: bool,
        /// Sign in with OAuth 2.0 (device authorization grant: open a URL, enter a code)
        /// instead of a password; IMAP only.
        #[arg(long)]
        oauth: bool,
        /// The OAuth client id registered with the provider.
        #[arg(long, value_name = "ID", requires = "oauth")]
        oauth_client_id: Option<String>,
        /// The OAuth client secret, for providers that want one even for devices (Google).
        #[arg(long, value_name = "SECRET", requires = "oauth")]
        oauth_client_secret: Option<String>,
        /// The device authorization endpoint (built in for Gmail, Outlook, Yandex).
        #[arg(long, value_name = "URL", requires = "oauth")]
        oauth_device_url: Option<String>,
        /// The token endpoint (built in for Gmail, Outlook, Yandex).
        #[arg(long, value_name = "URL", requires = "oauth")]
        oauth_token_url: Option<String>,
        /// The scope to ask for (built in for Gmail, Outlook, Yandex).
        #[arg(long, value_name = "SCOPE", requires = "oauth")]
        oauth_scope: Option<String>,
        /// Keep this CardDAV address book (or every book of this account or server) in sync
        /// too, with the same user and password; `auto`: find it by RFC 6764 (SRV records,
        /// /.well-known/carddav). With an address instead of a URL, `auto` is the default.
        #[arg(long, value_name = "URL|auto")]
        contacts: Option<String>,
    },
    /// Change a source's settings or password in place, keeping what it already imported
    /// (logs in with the new settings first).
    Edit {
        /// The local account.
        address: String,
        /// The source's URL, as `collect list` shows it.
        url: String,
        /// A new URL for the source (the same mailbox at a new address).
        #[arg(long, value_name = "URL")]
        new_url: Option<String>,
        /// A new user name at the remote provider.
        #[arg(long)]
        user: Option<String>,
        /// A new remote password (visible in the process list; prefer --password-stdin).
        #[arg(long, conflicts_with = "password_stdin")]
        password: Option<String>,
        /// Read a new remote password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Accept any certificate from the remote from now on.
        #[arg(long, conflicts_with = "secure")]
        insecure: bool,
        /// Check the remote's certificate again (undoes --insecure).
        #[arg(long)]
        secure: bool,
        /// Put the remote folder tree under this local folder for new folders.
        #[arg(long, value_name = "NAME", conflicts_with = "no_folder_prefix")]
        folder_prefix: Option<String>,
        /// Merge new remote folders into the local tree (no prefix).
        #[arg(long)]
        no_folder_prefix: bool,
        /// POP3 only: delete each message on the remote once it is stored here.
        #[arg(long, conflicts_with = "keep")]
        delete: bool,
        /// POP3: leave messages on the remote (undoes --delete).
        #[arg(long)]
        keep: bool,
        /// Keep this CardDAV address book in sync too (`auto`: find it by RFC 6764); what the
        /// source already brought over stays.
        #[arg(long, value_name = "URL|auto", conflicts_with = "no_contacts")]
        contacts: Option<String>,
        /// Stop syncing the address book (the contacts brought over stay).
        #[arg(long)]
        no_contacts: bool,
    },
    /// List every source.
    List,
    /// Collect now, with a progress bar: once with --once, else every minute until Ctrl-C.
    Run {
        address: String,
        #[arg(long)]
        once: bool,
    },
    /// Last sync time, counts, errors and folders of an account's sources.
    Status { address: String },
    /// Stop collecting from a source (mail already collected stays).
    Del { address: String, url: String },
}

#[derive(Debug, Subcommand)]
enum PublicCmd {
    /// Create a public folder (no one can see it until pochta share public NAME ...).
    Create {
        name: String,
        /// shared: one \Seen for everyone; per-user: each user their own (default).
        #[arg(long, default_value = "per-user", value_name = "MODE")]
        seen: String,
    },
    /// List the public folders with their access lists.
    List,
    /// Delete a public folder and its messages.
    Del { name: String },
}

#[derive(Debug, Subcommand)]
enum DomainCmd {
    /// Add a local domain.
    Add { domain: String },
    /// List local domains.
    List,
    /// Delete a local domain (refused while it has users).
    Del { domain: String },
}

#[derive(Debug, Args)]
struct PasswordArgs {
    /// The password (visible in the process list and shell history; prefer --password-stdin).
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
}

impl PasswordArgs {
    fn source(self) -> PasswordSource {
        match (self.password, self.password_stdin) {
            (Some(p), _) => PasswordSource::Given(p),
            (None, true) => PasswordSource::Stdin,
            (None, false) => PasswordSource::Generate,
        }
    }
}

#[derive(Debug, Subcommand)]
enum UserCmd {
    /// Add a user; its domain becomes local if it is not yet. Without a password option a
    /// random password is generated and printed.
    Add {
        address: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// List users.
    List,
    /// Delete a user and all its mail.
    Del { address: String },
    /// Change a user's password (generated and printed when no password option is given).
    Passwd {
        address: String,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Show a user's quota and usage; set limits with --storage and --messages (others stay).
    Quota {
        address: String,
        /// Limit on the size of all mail: bytes, or 20K, 500M, 2G …; `none` removes it.
        #[arg(long, value_name = "SIZE")]
        storage: Option<String>,
        /// Limit on the number of messages; `none` removes it.
        #[arg(long, value_name = "N")]
        messages: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum SearchCmd {
    /// Rebuild the index of ADDRESS's mailboxes (every account's without ADDRESS). `serve`
    /// also rebuilds a missing or damaged index by itself. The embedded index is held by a
    /// running server: stop it first.
    Reindex { address: Option<String> },
}

#[derive(Debug, Subcommand)]
enum ContactsCmd {
    /// Store every vCard of FILE in ADDRESS's address book (a card with the same UID is replaced).
    Import {
        address: String,
        file: PathBuf,
        #[arg(long, default_value = "default")]
        book: String,
    },
    /// Print every vCard of ADDRESS's address book.
    Export {
        address: String,
        #[arg(long, default_value = "default")]
        book: String,
    },
    /// Copy the address books of a CardDAV server (URL: https://HOST[/PATH]; discovered by
    /// RFC 6764 from the host alone) into ADDRESS's books; run again to bring changes.
    Pull {
        address: String,
        url: String,
        /// The user name at the remote provider.
        #[arg(long)]
        user: String,
        /// The remote password (visible in the process list; prefer --password-stdin).
        #[arg(
            long,
            conflicts_with = "password_stdin",
            required_unless_present = "password_stdin"
        )]
        password: Option<String>,
        /// Read the remote password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Accept any certificate from the remote (self-signed); the connection stays encrypted.
        #[arg(long)]
        insecure: bool,
    },
}

#[derive(Debug, Subcommand)]
enum QueueCmd {
    /// List queued messages and the state of each recipient.
    List,
    /// Retry the given messages now (every message without an ID).
    Retry { ids: Vec<String> },
    /// Delete messages from the queue, without delivering or bouncing them.
    Delete {
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum DkimCmd {
    /// Create a signing key for DOMAIN under data_dir/dkim and print its DNS TXT record.
    Generate {
        domain: String,
        /// The selector: the key's name in DNS (SELECTOR._domainkey.DOMAIN).
        #[arg(long, default_value = "pochta")]
        selector: String,
        /// rsa (RSA-2048, verified everywhere) or ed25519 (RFC 8463).
        #[arg(long, default_value = "rsa")]
        algorithm: String,
    },
}

#[derive(Debug, Subcommand)]
enum AliasCmd {
    /// Add an alias: mail to ALIAS goes to the user TARGET.
    Add { alias: String, target: String },
    /// List aliases.
    List,
    /// Delete an alias.
    Del { alias: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if matches!(
        cli.command,
        Command::Serve | Command::Dev { .. } | Command::Collect(CollectCmd::Run { .. })
    ) {
        fix_malloc_threshold();
    }
    init_logging();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The tunable that fixes glibc malloc's mmap threshold, and its value.
const MMAP_THRESHOLD_TUNABLE: &str = "glibc.malloc.mmap_threshold";
const MMAP_THRESHOLD: usize = 256 * 1024;

/// Runs this process again (same pid, same arguments, `exec`) with glibc's mmap threshold
/// fixed at [`MMAP_THRESHOLD`], unless `GLIBC_TUNABLES` already sets it.
///
/// Why: glibc raises its mmap threshold to the size of the largest block freed (up to 32 MiB)
/// and its trim threshold with it, so after one large message every later message-sized
/// buffer comes from a per-thread arena and stays resident once freed. With
/// `limits.message_memory` admitting one 16 MiB message at a time, eight of them in a row
/// grew the server by 88-177 MB (spool.rs; it depended on how many blocking threads' arenas
/// the messages went through) and by 52-62 MB with the threshold fixed, where a buffer that
/// large is mapped and unmapped on its own. The setting must be in place before the first
/// allocation, hence the environment and `exec`: `mallopt` would need `unsafe`, and mimalloc,
/// tried instead, kept more resident (174-251 MB). If `exec` fails (say the binary was
/// replaced on disk), the server runs on with glibc's defaults.
fn fix_malloc_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt as _;
        let current = std::env::var_os("GLIBC_TUNABLES").unwrap_or_default();
        if current.to_string_lossy().contains(MMAP_THRESHOLD_TUNABLE) {
            return;
        }
        let mut tunables = current.clone();
        if !tunables.is_empty() {
            tunables.push(":");
        }
        tunables.push(format!("{MMAP_THRESHOLD_TUNABLE}={MMAP_THRESHOLD}"));
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let argv0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
        let err = std::process::Command::new(&exe)
            .arg0(argv0)
            .args(args)
            .env("GLIBC_TUNABLES", tunables)
            .exec();
        eprintln!("warning: could not fix the malloc mmap threshold ({err}); running on");
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal, not in files or journald.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn load(path: &Path) -> Result<Config> {
    Ok(Config::load(path)?)
}

fn run(cli: Cli) -> Result<()> {
    let out = &mut std::io::stdout().lock();
    match cli.command {
        Command::Serve => serve(load(&cli.config)?),
        Command::Init { dir } => admin::init(&dir, out).map(|_| ()),
        Command::Dev { dir } => {
            let path = admin::init(&dir, out)?;
            let config = load(&path)?;
            admin::dev_account(&dir, &config, out)?;
            serve(config)
        }
        Command::Domain(cmd) => {
            let store = admin::open(&load(&cli.config)?)?;
            match cmd {
                DomainCmd::Add { domain } => admin::domain_add(&store, &domain, out),
                DomainCmd::List => admin::domain_list(&store, out),
                DomainCmd::Del { domain } => admin::domain_del(&store, &domain, out),
            }
        }
        Command::User(cmd) => {
            let store = admin::open(&load(&cli.config)?)?;
            match cmd {
                UserCmd::Add { address, password } => {
                    admin::user_add(&store, &address, password.source(), out)
                }
                UserCmd::List => admin::user_list(&store, out),
                UserCmd::Del { address } => admin::user_del(&store, &address, out),
                UserCmd::Passwd { address, password } => {
                    admin::user_passwd(&store, &address, password.source(), out)
                }
                UserCmd::Quota {
                    address,
                    storage,
                    messages,
                } => admin::user_quota(
                    &store,
                    &address,
                    storage.as_deref(),
                    messages.as_deref(),
                    out,
                ),
            }
        }
        Command::Queue(cmd) => {
            let config = load(&cli.config)?;
            match cmd {
                QueueCmd::List => outbound::queue_list(&config, out),
                QueueCmd::Retry { ids } => outbound::queue_retry(&config, &ids, out),
                QueueCmd::Delete { ids } => outbound::queue_delete(&config, &ids, out),
            }
        }
        Command::Dkim(DkimCmd::Generate {
            domain,
            selector,
            algorithm,
        }) => outbound::dkim_generate(&load(&cli.config)?, &domain, &selector, &algorithm, out),
        Command::Search(SearchCmd::Reindex { address }) => {
            admin::search_reindex(&load(&cli.config)?, address.as_deref(), out)
        }
        Command::Contacts(cmd) => {
            let config = load(&cli.config)?;
            match cmd {
                ContactsCmd::Import {
                    address,
                    file,
                    book,
                } => contacts::import(&config, &address, &file, &book, out),
                ContactsCmd::Export { address, book } => {
                    contacts::export(&config, &address, &book, out)
                }
                ContactsCmd::Pull {
                    address,
                    url,
                    user,
                    password,
                    password_stdin: _,
                    insecure,
                } => {
                    let password = match password {
                        Some(p) => p,
                        None => {
                            let mut line = String::new();
                            std::io::stdin().read_line(&mut line)?;
                            line.trim_end_matches(['\r', '\n']).to_owned()
                        }
                    };
                    let remote = pochta_collector::carddav::Remote {
                        url,
                        user,
                        password,
                        insecure,
                    };
                    contacts::pull(&config, &address, &remote, out)
                }
            }
        }
        Command::Dns { domain } => outbound::dns(&load(&cli.config)?, &domain, out),
        Command::Alias(cmd) => {
            let store = admin::open(&load(&cli.config)?)?;
            match cmd {
                AliasCmd::Add { alias, target } => admin::alias_add(&store, &alias, &target, out),
                AliasCmd::List => admin::alias_list(&store, out),
                AliasCmd::Del { alias } => admin::alias_del(&store, &alias, out),
            }
        }
        Command::Share {
            owner,
            mailbox,
            grantee,
            rights,
        } => {
            let store = admin::open(&load(&cli.config)?)?;
            admin::share(&store, &owner, &mailbox, &grantee, &rights, out)
        }
        Command::Seen {
            owner,
            mailbox,
            mode,
        } => {
            let store = admin::open(&load(&cli.config)?)?;
            admin::seen_mode(&store, &owner, &mailbox, &mode, out)
        }
        Command::Public(cmd) => {
            let store = admin::open(&load(&cli.config)?)?;
            match cmd {
                PublicCmd::Create { name, seen } => admin::public_create(&store, &name, &seen, out),
                PublicCmd::List => admin::public_list(&store, out),
                PublicCmd::Del { name } => admin::public_del(&store, &name, out),
            }
        }
        Command::Collect(cmd) => collect(&load(&cli.config)?, cmd, out),
        Command::Store(StoreCmd::Copy { to }) => {
            let r = pochta::backend::copy_to_postgres(&load(&cli.config)?, &to)?;
            writeln!(
                out,
                "copied {} account(s), {} mailbox(es), {} message(s) ({} distinct), {} queued message(s), {} collector source(s), {} address book(s) with {} contact(s)",
                r.accounts,
                r.mailboxes,
                r.messages,
                r.blobs,
                r.queued,
                r.sources,
                r.address_books,
                r.contacts
            )?;
            Ok(())
        }
        Command::Db(DbCmd::Migrate) => match pochta::backend::migrate(&load(&cli.config)?)? {
            Some(n) => {
                writeln!(
                    out,
                    "schema at version {} ({n} migration(s) applied)",
                    pochta_store_postgres::SCHEMA_VERSION
                )?;
                Ok(())
            }
            None => {
                writeln!(
                    out,
                    "the embedded store migrates itself when opened; nothing to do"
                )?;
                Ok(())
            }
        },
    }
}

/// `pochta collect …`, delegated to the collector crate.
fn collect(config: &Config, cmd: CollectCmd, out: &mut dyn std::io::Write) -> Result<()> {
    use pochta_collector::cli;
    let store = admin::open(config)?;
    let state = pochta::backend::collector_state(config)?;
    // The same spool, budgets and limits as the server's collector.
    pochta::collect::configure(
        config,
        pochta_net::MessageBudget::new(config.limits.message_memory),
    )?;
    match cmd {
        CollectCmd::Add {
            address,
            url,
            user,
            password,
            password_stdin,
            insecure,
            folder_prefix,
            delete,
            dry_run,
            oauth,
            oauth_client_id,
            oauth_client_secret,
            oauth_device_url,
            oauth_token_url,
            oauth_scope,
            contacts,
        } => {
            let password = match (password, password_stdin) {
                (Some(p), _) => p,
                (None, false) => String::new(),
                (None, true) => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let args = cli::AddArgs {
                account: address,
                url,
                user,
                password,
                insecure,
                folder_prefix,
                delete,
                dry_run,
                dns: config.dns.resolver(),
                web: config.collector_web.clone(),
                oauth: oauth.then_some(cli::OAuthArgs {
                    client_id: oauth_client_id,
                    client_secret: oauth_client_secret,
                    device_url: oauth_device_url,
                    token_url: oauth_token_url,
                    scope: oauth_scope,
                }),
                contacts,
            };
            cli::add(&store, &state, args, out)?
        }
        CollectCmd::Edit {
            address,
            url,
            new_url,
            user,
            password,
            password_stdin,
            insecure,
            secure,
            folder_prefix,
            no_folder_prefix,
            delete,
            keep,
            contacts,
            no_contacts,
        } => {
            let password = match (password, password_stdin) {
                (Some(p), _) => Some(p),
                (None, true) => {
                    let mut line = String::new();
                    std::io::stdin().read_line(&mut line)?;
                    Some(line.trim_end_matches(['\r', '\n']).to_owned())
                }
                (None, false) => None,
            };
            let flag = |on: bool, off: bool| (on || off).then_some(on);
            let args = cli::EditArgs {
                account: address,
                url,
                new_url,
                user,
                password,
                insecure: flag(insecure, secure),
                folder_prefix: match (folder_prefix, no_folder_prefix) {
                    (Some(p), _) => Some(Some(p)),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
                delete: flag(delete, keep),
                contacts: match (contacts, no_contacts) {
                    (Some(c), _) => Some(Some(c)),
                    (None, true) => Some(None),
                    (None, false) => None,
                },
                dns: config.dns.resolver(),
            };
            cli::edit(&store, &state, args, out)?
        }
        CollectCmd::List => cli::list(&state, out)?,
        CollectCmd::Run { address, once } => {
            let interval = config.collector.with_env_override().interval;
            let contacts = pochta::backend::contact_store(config)?;
            cli::run(
                std::sync::Arc::new(store),
                Some(contacts),
                state,
                &address,
                once,
                interval,
                out,
            )?
        }
        CollectCmd::Status { address } => cli::status(&store, &state, &address, out)?,
        CollectCmd::Del { address, url } => cli::del(&store, &state, &address, &url, out)?,
    }
    Ok(())
}

fn serve(config: Config) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(serve::serve(config))
}
