//! Administration commands: domains, users, aliases, and the development setup.
//!
//! Implementation notes:
//! - Commands open the same store as a running server (SQLite in WAL mode allows it), so they
//!   work while `pochta serve` runs.
//! - Setting a password stores both the Argon2id PHC string and the SCRAM-SHA-256 secrets,
//!   derived from the password once here; the password itself is never stored.
//! - With neither `--password` nor `--password-stdin`, a random password is generated and
//!   printed: no prompt, so scripts and CI never hang on a terminal that is not there.

use std::io::{BufRead, Write};
use std::path::Path;

use crate::backend::Store;
use anyhow::{Context, Result, bail};
use pochta_auth::{ScramSecrets, hash_password};
use pochta_store::{Directory, Grantee, MailStore};
use pochta_types::{Address, Domain, MailboxName, Rights};
use rand::Rng;

use crate::config::{Config, DEV_CONFIG};

/// Where a new password comes from.
pub enum PasswordSource {
    Given(String),
    Stdin,
    Generate,
}

/// Opens the configured store (`[store]`; embedded: creating `data_dir` readable by the
/// owner only, as it holds password hashes and everyone's mail).
pub fn open(config: &Config) -> Result<Store> {
    crate::backend::open_store(config)
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist; an existing directory
/// keeps the mode its owner gave it.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

fn domain(s: &str) -> Result<Domain> {
    Domain::new(s).map_err(|_| anyhow::anyhow!("{s:?} is not a valid domain"))
}

fn address(s: &str) -> Result<Address> {
    Address::new(s).map_err(|_| anyhow::anyhow!("{s:?} is not a valid address (local@domain)"))
}

pub fn generate_password() -> String {
    rand::rngs::OsRng
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(20)
        .map(char::from)
        .collect()
}

/// Resolves the password, printing it when generated.
fn password(src: PasswordSource, out: &mut impl Write) -> Result<String> {
    let pw = match src {
        PasswordSource::Given(p) => p,
        PasswordSource::Stdin => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
        PasswordSource::Generate => {
            let p = generate_password();
            writeln!(out, "password: {p}")?;
            p
        }
    };
    if pw.is_empty() {
        bail!("the password must not be empty");
    }
    Ok(pw)
}

/// The two stored forms of a password.
fn secrets(pw: &str) -> Result<(String, String)> {
    Ok((hash_password(pw)?, ScramSecrets::derive(pw).encode()))
}

pub fn domain_add(store: &Store, name: &str, out: &mut impl Write) -> Result<()> {
    let d = domain(name)?;
    if store.domain_add(&d)? {
        writeln!(out, "added domain {d}")?;
    } else {
        writeln!(out, "domain {d} is already local")?;
    }
    Ok(())
}

pub fn domain_list(store: &Store, out: &mut impl Write) -> Result<()> {
    for d in store.domain_list()? {
        writeln!(out, "{d}")?;
    }
    Ok(())
}

pub fn domain_del(store: &Store, name: &str, out: &mut impl Write) -> Result<()> {
    let d = domain(name)?;
    store.domain_del(&d)?;
    writeln!(out, "deleted domain {d}")?;
    Ok(())
}

pub fn user_add(
    store: &Store,
    addr: &str,
    src: PasswordSource,
    out: &mut impl Write,
) -> Result<()> {
    let a = address(addr)?;
    if store.account_by_address(&a)?.is_some() {
        bail!("user {a} already exists");
    }
    let new_domain = !store.domain_exists(a.domain())?;
    let pw = password(src, out)?;
    let (hash, scram) = secrets(&pw)?;
    store.account_create(&a, &hash)?;
    store.account_set_password(&a, &hash, Some(&scram))?;
    if new_domain {
        writeln!(out, "added domain {}", a.domain())?;
    }
    writeln!(out, "added user {a}")?;
    Ok(())
}

pub fn user_list(store: &Store, out: &mut impl Write) -> Result<()> {
    for acc in store.account_list()? {
        writeln!(out, "{}", acc.address)?;
    }
    Ok(())
}

/// `pochta search reindex [ADDRESS]` (see [`crate::search`]).
pub fn search_reindex(config: &Config, addr: Option<&str>, out: &mut impl Write) -> Result<()> {
    let store = open(config)?;
    let account = match addr {
        Some(a) => {
            let a = address(a)?;
            let Some(acct) = store.account_by_address(&a)? else {
                anyhow::bail!("no such user: {a}");
            };
            Some(acct.id)
        }
        None => None,
    };
    let Some(index) = crate::backend::search_index(config)? else {
        anyhow::bail!(
            "the search index is off (`[search] index = false` or POCHTA_SEARCH_INDEX=off)"
        );
    };
    let indexer = crate::search::Indexer::new(std::sync::Arc::new(store), index);
    let (boxes, n) = indexer.reindex(account)?;
    writeln!(out, "reindexed {n} messages in {boxes} mailboxes")?;
    Ok(())
}

pub fn user_del(store: &Store, addr: &str, out: &mut impl Write) -> Result<()> {
    let a = address(addr)?;
    store.account_delete(&a)?;
    writeln!(out, "deleted user {a} and all its mail")?;
    Ok(())
}

pub fn user_passwd(
    store: &Store,
    addr: &str,
    src: PasswordSource,
    out: &mut impl Write,
) -> Result<()> {
    let a = address(addr)?;
    if store.account_by_address(&a)?.is_none() {
        bail!("user {a} does not exist");
    }
    let pw = password(src, out)?;
    let (hash, scram) = secrets(&pw)?;
    store.account_set_password(&a, &hash, Some(&scram))?;
    writeln!(out, "changed the password of {a}")?;
    Ok(())
}

/// Parses a size for `--storage`: bytes, or with a K, M, G or T suffix (powers of 1024,
/// an optional trailing `B`); `none` is no limit.
pub fn parse_size(s: &str) -> Result<Option<u64>> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let upper = t.to_ascii_uppercase();
    let body = upper.strip_suffix('B').unwrap_or(&upper);
    let (digits, shift) = match body.chars().last() {
        Some('K') => (&body[..body.len() - 1], 10),
        Some('M') => (&body[..body.len() - 1], 20),
        Some('G') => (&body[..body.len() - 1], 30),
        Some('T') => (&body[..body.len() - 1], 40),
        _ => (body, 0),
    };
    let bad = || anyhow::anyhow!("{s:?} is not a size (like 20K, 500M, 2G, or none)");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(1u64 << shift).map(Some).ok_or_else(bad)
}

/// Parses a message count for `--messages`; `none` is no limit.
pub fn parse_count(s: &str) -> Result<Option<u64>> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    t.parse()
        .map(Some)
        .map_err(|_| anyhow::anyhow!("{s:?} is not a number of messages (or none)"))
}

/// A byte count the way `--storage` takes it: `2G`, `500M`, `20K` when exact, else bytes.
pub fn format_size(n: u64) -> String {
    for (suffix, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] {
        if n != 0 && n.is_multiple_of(1u64 << shift) {
            return format!("{}{suffix}", n >> shift);
        }
    }
    n.to_string()
}

/// `pochta user quota ADDRESS [--storage SIZE] [--messages N]`: changes the limits given
/// (the others stay), then prints limits and usage (RFC 9208 STORAGE and MESSAGE).
pub fn user_quota(
    store: &Store,
    addr: &str,
    storage: Option<&str>,
    messages: Option<&str>,
    out: &mut impl Write,
) -> Result<()> {
    let a = address(addr)?;
    let Some(acc) = store.account_by_address(&a)? else {
        bail!("user {a} does not exist");
    };
    let storage = storage.map(parse_size).transpose()?;
    let messages = messages.map(parse_count).transpose()?;
    if storage.is_some() || messages.is_some() {
        let mut limits = store.quota(acc.id)?.limits;
        if let Some(s) = storage {
            limits.storage = s;
        }
        if let Some(m) = messages {
            limits.messages = m;
        }
        store.set_quota(acc.id, limits)?;
    }
    let q = store.quota(acc.id)?;
    let limit = |l: Option<u64>, f: fn(u64) -> String| l.map_or("none".to_string(), f);
    writeln!(out, "quota of {a}")?;
    writeln!(
        out,
        "  storage:  {} used, limit {}",
        format_size(q.storage),
        limit(q.limits.storage, format_size)
    )?;
    writeln!(
        out,
        "  messages: {} used, limit {}",
        q.messages,
        limit(q.limits.messages, |n| n.to_string())
    )?;
    Ok(())
}

/// A mailbox named on the command line: OWNER is an address, or `public` for the public
/// folders.
struct Named {
    info: pochta_store::MailboxInfo,
    /// How to print the owner: the address, or `public`.
    owner: String,
    /// The owner's account, `None` for the public folders.
    owner_account: Option<pochta_types::AccountId>,
}

fn named_mailbox(store: &Store, owner: &str, mailbox: &str) -> Result<Named> {
    let name = MailboxName::new(mailbox)
        .map_err(|e| anyhow::anyhow!("{mailbox:?} is not a mailbox name: {e}"))?;
    if owner.eq_ignore_ascii_case("public") {
        let Some(public) = store.public_owner()? else {
            bail!("this store has no public folders");
        };
        let Some(info) = store.mailbox(public, &name)? else {
            bail!("there is no public folder {name} (pochta public create {name})");
        };
        return Ok(Named {
            info,
            owner: "public".into(),
            owner_account: None,
        });
    }
    let o = address(owner)?;
    let Some(acc) = store.account_by_address(&o)? else {
        bail!("user {o} does not exist");
    };
    let Some(info) = store.mailbox(acc.id, &name)? else {
        bail!("{o} has no mailbox {name}");
    };
    Ok(Named {
        info,
        owner: o.to_string(),
        owner_account: Some(acc.id),
    })
}

/// `pochta share OWNER MAILBOX GRANTEE RIGHTS` (RFC 4314 rights: `lrswipkxtea`): OWNER is an
/// address or `public`; GRANTEE is an address, `anyone` or `anonymous`; RIGHTS replaces,
/// `+RIGHTS` adds, `-RIGHTS` removes, `none` removes the entry. Prints the mailbox's ACL
/// afterwards.
pub fn share(
    store: &Store,
    owner: &str,
    mailbox: &str,
    grantee: &str,
    rights: &str,
    out: &mut impl Write,
) -> Result<()> {
    let mb = named_mailbox(store, owner, mailbox)?;
    let name = &mb.info.name;
    let who = match grantee.to_ascii_lowercase().as_str() {
        "anyone" => Grantee::Anyone,
        "anonymous" => Grantee::Anonymous,
        _ => {
            let g = address(grantee)?;
            let Some(acc) = store.account_by_address(&g)? else {
                bail!("user {g} does not exist");
            };
            if Some(acc.id) == mb.owner_account {
                bail!("{g} owns {name} and always has every right");
            }
            Grantee::Account(acc.id)
        }
    };
    let current = store
        .acl(mb.info.id)?
        .into_iter()
        .find(|(g, _)| *g == who)
        .map_or(Rights::NONE, |(_, r)| r);
    let parse =
        |s: &str| Rights::parse(s).map_err(|e| anyhow::anyhow!("{e}; `none` removes every right"));
    let new = if rights.eq_ignore_ascii_case("none") {
        Rights::NONE
    } else if let Some(add) = rights.strip_prefix('+') {
        current.union(parse(add)?)
    } else if let Some(remove) = rights.strip_prefix('-') {
        current.minus(parse(remove)?)
    } else {
        parse(rights)?
    };
    store.acl_set(mb.info.id, who, new)?;
    print_acl(store, &mb, out)
}

/// A mailbox's ACL, the owner first (public folders have none).
fn print_acl(store: &Store, mb: &Named, out: &mut impl Write) -> Result<()> {
    let seen = if mb.info.seen_per_user {
        "per-user"
    } else {
        "shared"
    };
    writeln!(out, "{} of {} (\\Seen: {seen}):", mb.info.name, mb.owner)?;
    if mb.owner_account.is_some() {
        writeln!(out, "  {} {} (owner)", mb.owner, Rights::ALL.letters())?;
    }
    for (g, r) in store.acl(mb.info.id)? {
        let id = match g {
            Grantee::Anyone => "anyone".to_string(),
            Grantee::Anonymous => "anonymous".to_string(),
            Grantee::Account(a) => match store.account_by_id(a)? {
                Some(acc) => acc.address.to_string(),
                None => continue,
            },
        };
        writeln!(out, "  {id} {}", r.letters())?;
    }
    Ok(())
}

/// `pochta seen OWNER MAILBOX shared|per-user`: whether the users a mailbox is shared with
/// share one `\Seen` with the owner, or each keep their own (RFC 4314 §4).
pub fn seen_mode(
    store: &Store,
    owner: &str,
    mailbox: &str,
    mode: &str,
    out: &mut impl Write,
) -> Result<()> {
    let on = match mode.to_ascii_lowercase().as_str() {
        "per-user" => true,
        "shared" => false,
        _ => bail!("{mode:?} is not a \\Seen mode: use shared or per-user"),
    };
    let mut mb = named_mailbox(store, owner, mailbox)?;
    store.set_seen_per_user(mb.info.id, on)?;
    mb.info.seen_per_user = on;
    print_acl(store, &mb, out)
}

/// `pochta public create NAME [--seen shared|per-user]`: a public folder, seen by users as
/// `Public/NAME` once its ACL grants them "l" (`pochta share public NAME GRANTEE RIGHTS`).
pub fn public_create(store: &Store, name: &str, seen: &str, out: &mut impl Write) -> Result<()> {
    let Some(public) = store.public_owner()? else {
        bail!("this store has no public folders");
    };
    let mb_name = MailboxName::new(name)
        .map_err(|e| anyhow::anyhow!("{name:?} is not a mailbox name: {e}"))?;
    if mb_name.is_inbox() {
        bail!("INBOX cannot be a public folder name");
    }
    if !matches!(seen, "shared" | "per-user") {
        bail!("{seen:?} is not a \\Seen mode: use shared or per-user");
    }
    let info = store.mailbox_create(public, &mb_name, None)?;
    store.set_seen_per_user(info.id, seen == "per-user")?;
    writeln!(
        out,
        "created public folder {mb_name} (Public/{mb_name} in IMAP; \\Seen {seen}); \
         grant access with: pochta share public {mb_name} GRANTEE RIGHTS"
    )?;
    Ok(())
}

/// `pochta public list`: every public folder with its ACL.
pub fn public_list(store: &Store, out: &mut impl Write) -> Result<()> {
    let Some(public) = store.public_owner()? else {
        bail!("this store has no public folders");
    };
    let boxes = store.mailboxes(public)?;
    if boxes.is_empty() {
        writeln!(out, "no public folders")?;
    }
    for info in boxes {
        let mb = Named {
            info,
            owner: "public".into(),
            owner_account: None,
        };
        print_acl(store, &mb, out)?;
    }
    Ok(())
}

/// `pochta public del NAME`: delete a public folder and the messages in it.
pub fn public_del(store: &Store, name: &str, out: &mut impl Write) -> Result<()> {
    let mb = named_mailbox(store, "public", name)?;
    let Some(public) = store.public_owner()? else {
        bail!("this store has no public folders");
    };
    store.mailbox_delete(public, &mb.info.name)?;
    writeln!(out, "deleted public folder {}", mb.info.name)?;
    Ok(())
}

pub fn alias_add(store: &Store, alias: &str, target: &str, out: &mut impl Write) -> Result<()> {
    let t = address(target)?;
    store.alias_add(alias, &t)?;
    writeln!(out, "added alias {alias} -> {t}")?;
    Ok(())
}

pub fn alias_list(store: &Store, out: &mut impl Write) -> Result<()> {
    for a in store.alias_list()? {
        writeln!(out, "{} -> {}", a.source, a.target)?;
    }
    Ok(())
}

pub fn alias_del(store: &Store, alias: &str, out: &mut impl Write) -> Result<()> {
    store.alias_del(alias)?;
    writeln!(out, "deleted alias {alias}")?;
    Ok(())
}

/// Writes `dir/pochta.toml` with the development config unless it exists; returns its path.
pub fn init(dir: &Path, out: &mut impl Write) -> Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("pochta.toml");
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
    {
        Ok(mut f) => {
            f.write_all(DEV_CONFIG.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            writeln!(out, "wrote {}", path.display())?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            writeln!(out, "{} already exists; left unchanged", path.display())?;
        }
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
    Ok(path)
}

/// The first account of a development setup.
pub const DEV_USER: &str = "me@example.org";
const DEV_CREDENTIALS: &str = "credentials.txt";

/// Makes sure the development account exists, and prints how to log in.
///
/// The generated password is kept in `dir/credentials.txt` (mode 0600) so later runs can show
/// it again; this is a development convenience only — production accounts are made with
/// `pochta user add`, which stores no password anywhere.
pub fn dev_account(dir: &Path, config: &Config, out: &mut impl Write) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;

    let store = open(config)?;
    let a = address(DEV_USER)?;
    let cred_path = dir.join(DEV_CREDENTIALS);
    let pw = if store.account_by_address(&a)?.is_none() {
        let pw = generate_password();
        let (hash, scram) = secrets(&pw)?;
        store.account_create(&a, &hash)?;
        store.account_set_password(&a, &hash, Some(&scram))?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&cred_path)
            .with_context(|| format!("cannot write {}", cred_path.display()))?;
        writeln!(f, "{DEV_USER} {pw}")?;
        Some(pw)
    } else {
        std::fs::read_to_string(&cred_path)
            .ok()
            .and_then(|s| s.split_whitespace().nth(1).map(str::to_owned))
    };
    let pw = pw.unwrap_or_else(|| "(unknown: reset it with `pochta user passwd`)".into());
    writeln!(out)?;
    writeln!(out, "  Pochta development server")?;
    writeln!(out, "  user:     {DEV_USER}")?;
    writeln!(out, "  password: {pw}")?;
    for (p, addrs) in &config.listen {
        let how = if p.implicit_tls() { "TLS" } else { "STARTTLS" };
        for a in addrs {
            writeln!(out, "  {:<13}{a} ({how})", format!("{}:", p.key()))?;
        }
    }
    writeln!(
        out,
        "  The certificate is self-signed: accept it once in your mail program."
    )?;
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("20K").unwrap(), Some(20 * 1024));
        assert_eq!(parse_size("500m").unwrap(), Some(500 << 20));
        assert_eq!(parse_size("2G").unwrap(), Some(2 << 30));
        assert_eq!(parse_size("2GB").unwrap(), Some(2 << 30));
        assert_eq!(parse_size("1T").unwrap(), Some(1 << 40));
        assert_eq!(parse_size("1234").unwrap(), Some(1234));
        assert_eq!(parse_size("none").unwrap(), None);
        for bad in ["", "G", "-1K", "1.5G", "12X", "K20", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_count("1000").unwrap(), Some(1000));
        assert_eq!(parse_count("NONE").unwrap(), None);
        assert!(parse_count("1k").is_err());
        assert_eq!(format_size(2 << 30), "2G");
        assert_eq!(format_size(1536), "1536");
        assert_eq!(format_size(0), "0");
    }
}
