//! The collector's own state — sources, sealed passwords, per-folder checkpoints, the
//! remote→local UID map — over a [`CollectorStore`] (in the embedded backend,
//! `data_dir/collector.sqlite3`, separate from the mail store).
//!
//! Implementation notes:
//! - **Secrets.** Remote passwords are encrypted here, before the store sees them, with
//!   AES-256-GCM (aws-lc-rs) under a key in `data_dir/collector.key` (created mode 0600); the
//!   AAD binds each ciphertext to its source (account, URL, user), so a ciphertext copied onto
//!   another source does not decrypt. The store keeps only the sealed bytes. Honestly: the key
//!   sits beside the embedded database, so this protects a copy of the database alone (a
//!   backup, a support bundle), not someone who can read the whole data directory as the
//!   server user. Nodes sharing one database need the same key file.
//! - **Checkpoints follow commits.** A batch of messages goes through three durable steps:
//!   (1) its description is written to `pending` (remote key, sizes, dates) together with the
//!   local mailbox's UIDNEXT before the append; (2) the store appends it atomically;
//!   (3) one transaction of the collector store records the UID mapping, advances the folder's
//!   `last_uid` and clears `pending`. A crash between (2) and (3) leaves `pending`: the next
//!   pass looks for the batch at and after that UIDNEXT (it was appended atomically, so it is a
//!   consecutive run with the recorded sizes and dates) and either adopts it or, if it is not
//!   there, fetches it again. So no crash point loses or duplicates a message.
//! - Every call is durable when it returns (the store's rule), so step (1) is on disk before
//!   (2).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use pochta_store::StoreError;
pub use pochta_store::collector::{
    CollectorStore, ContactsSync, FolderState, MessageRow, Pending, PendingItem, SourceLock,
};
use pochta_store::collector::{NewSource, Source};

use crate::Error;
use crate::source::SourceUrl;

/// A configured source.
#[derive(Debug, Clone)]
pub struct SourceRow {
    pub id: i64,
    /// The local account's address.
    pub account: String,
    pub url: SourceUrl,
    pub user: String,
    pub insecure: bool,
    pub folder_prefix: Option<String>,
    pub last_attempt: Option<i64>,
    pub last_success: Option<i64>,
    pub last_error: Option<String>,
    pub imported_messages: u64,
    pub imported_bytes: u64,
    pub flag_updates: u64,
    /// POP3: DELE each message once it is stored and checkpointed (`collect add --delete`).
    pub delete_remote: bool,
    /// What the IDLE watcher of the remote INBOX last reported (`pochta serve` only).
    pub idle: Option<String>,
}

/// The outcome a full pass records as it starts, replaced by the real one when it ends: a
/// pass cut short (Ctrl-C, a killed process, a crash) leaves it, so `collect status` says the
/// last attempt was interrupted instead of "never" beside an imported count.
pub const UNFINISHED: &str = "the pass did not finish (interrupted)";

/// What `collect edit` can change of a source.
#[derive(Debug, Clone)]
pub struct SourceSettings {
    pub url: SourceUrl,
    pub user: String,
    pub insecure: bool,
    pub folder_prefix: Option<String>,
    pub delete_remote: bool,
}

impl SourceRow {
    /// This source's current settings.
    pub fn settings(&self) -> SourceSettings {
        SourceSettings {
            url: self.url.clone(),
            user: self.user.clone(),
            insecure: self.insecure,
            folder_prefix: self.folder_prefix.clone(),
            delete_remote: self.delete_remote,
        }
    }

    fn from_store(s: Source) -> Result<SourceRow, Error> {
        Ok(SourceRow {
            id: s.id,
            url: SourceUrl::parse(&s.url)?,
            account: s.account,
            user: s.user,
            insecure: s.insecure,
            folder_prefix: s.folder_prefix,
            last_attempt: s.last_attempt,
            last_success: s.last_success,
            last_error: s.last_error,
            imported_messages: s.imported_messages,
            imported_bytes: s.imported_bytes,
            flag_updates: s.flag_updates,
            delete_remote: s.delete_remote,
            idle: s.idle,
        })
    }
}

/// The collector's state: a [`CollectorStore`] and the key that seals passwords.
pub struct State {
    store: Arc<dyn CollectorStore>,
    key: LessSafeKey,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("State")
    }
}

/// A store error as the collector reports it.
fn st(e: StoreError) -> Error {
    match e {
        StoreError::Backend(m) => Error::State(m),
        e => Error::State(e.to_string()),
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn load_key(path: &Path) -> Result<LessSafeKey, Error> {
    let err = |e: std::io::Error| Error::State(format!("{}: {e}", path.display()));
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut k = [0u8; 32];
            aws_lc_rs::rand::fill(&mut k).map_err(|_| Error::State("no randomness".into()))?;
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(err)?;
            f.write_all(&k).map_err(err)?;
            f.sync_all().map_err(err)?;
            k.to_vec()
        }
        Err(e) => return Err(err(e)),
    };
    let key = UnboundKey::new(&AES_256_GCM, &bytes)
        .map_err(|_| Error::State(format!("{} is not a 32-byte key", path.display())))?;
    Ok(LessSafeKey::new(key))
}

impl State {
    /// The state over `store`, with the sealing key `data_dir/collector.key` (created on first
    /// use).
    pub fn open(data_dir: &Path, store: Arc<dyn CollectorStore>) -> Result<State, Error> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::State(format!("{}: {e}", data_dir.display())))?;
        let key = load_key(&data_dir.join("collector.key"))?;
        Ok(State { store, key })
    }

    /// The store behind the state.
    pub fn store(&self) -> &Arc<dyn CollectorStore> {
        &self.store
    }

    fn aad(account: &str, url: &str, user: &str) -> Vec<u8> {
        format!("{account}\0{url}\0{user}").into_bytes()
    }

    fn seal(&self, aad: &[u8], secret: &str) -> Result<Vec<u8>, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| Error::State("no randomness".into()))?;
        let mut data = secret.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut data,
            )
            .map_err(|_| Error::State("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(out)
    }

    fn open_secret(&self, aad: &[u8], sealed: &[u8]) -> Result<String, Error> {
        if sealed.len() < NONCE_LEN {
            return Err(Error::State("stored secret is truncated".into()));
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| Error::State("bad nonce".into()))?;
        let mut data = ct.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut data)
            .map_err(|_| {
                Error::State("stored password does not decrypt (collector.key changed?)".into())
            })?;
        String::from_utf8(plain.to_vec()).map_err(|_| Error::State("password not UTF-8".into()))
    }

    /// Adds a source that leaves the remote untouched; refused for the same account, URL and
    /// user.
    pub fn add_source(
        &self,
        account: &str,
        url: &SourceUrl,
        user: &str,
        password: &str,
        insecure: bool,
        folder_prefix: Option<&str>,
    ) -> Result<i64, Error> {
        self.add_source_with(account, url, user, password, insecure, folder_prefix, false)
    }

    /// [`Self::add_source`], with `delete_remote` (POP3 only: DELE after download).
    #[allow(clippy::too_many_arguments)]
    pub fn add_source_with(
        &self,
        account: &str,
        url: &SourceUrl,
        user: &str,
        password: &str,
        insecure: bool,
        folder_prefix: Option<&str>,
        delete_remote: bool,
    ) -> Result<i64, Error> {
        if delete_remote && url.protocol != crate::Protocol::Pop3 {
            return Err(Error::Config(format!(
                "--delete is for POP3 sources only: {url} is IMAP, which is mirrored \
                 (folders, flags) and never changed on the remote"
            )));
        }
        let sealed = self.seal(&Self::aad(account, url.as_str(), user), password)?;
        let r = self.store.add_source(&NewSource {
            account,
            url: url.as_str(),
            user,
            secret: &sealed,
            insecure,
            folder_prefix,
            delete_remote,
            created: now(),
        });
        match r {
            Ok(id) => Ok(id),
            Err(StoreError::AlreadyExists(_)) => Err(Error::Config(format!(
                "{account} already collects from {url} as {user}"
            ))),
            Err(e) => Err(st(e)),
        }
    }

    /// Changes a source in place (`collect edit`), keeping its checkpoints, imported-message
    /// map and counters. `password` `None` keeps the stored one (sealed again: the seal is
    /// bound to the URL and user, which may change).
    pub fn update_source(
        &self,
        current: &SourceRow,
        new: &SourceSettings,
        password: Option<&str>,
    ) -> Result<(), Error> {
        if new.delete_remote && new.url.protocol != crate::Protocol::Pop3 {
            return Err(Error::Config(format!(
                "--delete is for POP3 sources only: {} is IMAP",
                new.url
            )));
        }
        let password = match password {
            Some(p) => p.to_owned(),
            None => self.password(current)?,
        };
        let sealed = self.seal(
            &Self::aad(&current.account, new.url.as_str(), &new.user),
            &password,
        )?;
        let r = self.store.update_source(
            current.id,
            &NewSource {
                account: &current.account,
                url: new.url.as_str(),
                user: &new.user,
                secret: &sealed,
                insecure: new.insecure,
                folder_prefix: new.folder_prefix.as_deref(),
                delete_remote: new.delete_remote,
                created: now(),
            },
        );
        match r {
            Ok(()) => Ok(()),
            Err(StoreError::AlreadyExists(_)) => Err(Error::Config(format!(
                "{} already collects from {} as {}",
                current.account, new.url, new.user
            ))),
            Err(e) => Err(st(e)),
        }
    }

    /// Deletes the sources of `account` with this URL (all users); how many were deleted.
    pub fn del_source(&self, account: &str, url: &SourceUrl) -> Result<usize, Error> {
        self.store.del_sources(account, url.as_str()).map_err(st)
    }

    /// Every source (of one account, if given), in the order added.
    pub fn sources(&self, account: Option<&str>) -> Result<Vec<SourceRow>, Error> {
        self.store
            .sources(account)
            .map_err(st)?
            .into_iter()
            .map(SourceRow::from_store)
            .collect()
    }

    /// The decrypted password of a source.
    pub fn password(&self, source: &SourceRow) -> Result<String, Error> {
        let sealed = self.store.secret(source.id).map_err(st)?;
        self.open_secret(
            &Self::aad(&source.account, source.url.as_str(), &source.user),
            &sealed,
        )
    }

    pub fn record_attempt(&self, source: i64, error: Option<&str>) -> Result<(), Error> {
        self.store.record_attempt(source, now(), error).map_err(st)
    }

    /// Records what the IDLE watcher is doing (shown by `collect status`).
    pub fn set_idle(&self, source: i64, idle: Option<&str>) -> Result<(), Error> {
        self.store.set_idle(source, idle).map_err(st)
    }

    /// The address book kept in sync with a source (`--contacts`), if any.
    pub fn contacts_sync(&self, source: i64) -> Result<Option<ContactsSync>, Error> {
        self.store.contacts_sync(source).map_err(st)
    }

    /// Sets or (`None`) removes it.
    pub fn set_contacts_sync(&self, source: i64, c: Option<&ContactsSync>) -> Result<(), Error> {
        self.store.set_contacts_sync(source, c).map_err(st)
    }

    pub fn folders(&self, source: i64) -> Result<Vec<FolderState>, Error> {
        self.store.folders(source).map_err(st)
    }

    pub fn folder(&self, source: i64, remote: &str) -> Result<Option<FolderState>, Error> {
        self.store.folder(source, remote).map_err(st)
    }

    /// Writes a folder's state (insert or replace).
    pub fn put_folder(&self, source: i64, f: &FolderState) -> Result<(), Error> {
        self.store.put_folder(source, f).map_err(st)
    }

    /// Every imported message of a remote folder.
    pub fn messages(&self, source: i64, remote: &str) -> Result<Vec<MessageRow>, Error> {
        self.store.messages(source, remote).map_err(st)
    }

    /// Records new remote flags of imported messages (after the local store applied them).
    pub fn set_flags(
        &mut self,
        source: i64,
        remote: &str,
        changes: &[(String, String)],
    ) -> Result<(), Error> {
        self.store.set_flags(source, remote, changes).map_err(st)
    }

    /// Forgets a remote folder's message keys (its UIDVALIDITY changed) after re-keying the
    /// ones matched by fingerprint: `rekey` is (old key, new key, new flags).
    pub fn rekey_folder(
        &mut self,
        source: i64,
        remote: &str,
        rekey: &[(String, String, String)],
        folder: &FolderState,
    ) -> Result<(), Error> {
        self.store
            .rekey_folder(source, remote, rekey, folder)
            .map_err(st)
    }

    /// Step (1): describe a batch before appending it.
    pub fn put_pending(&mut self, source: i64, remote: &str, p: &Pending) -> Result<(), Error> {
        self.store.put_pending(source, remote, p).map_err(st)
    }

    pub fn pending(&self, source: i64, remote: &str) -> Result<Option<Pending>, Error> {
        self.store.pending(source, remote).map_err(st)
    }

    pub fn clear_pending(&self, source: i64, remote: &str) -> Result<(), Error> {
        self.store.clear_pending(source, remote).map_err(st)
    }

    /// Step (3): the batch is in the store; record it, advance the folder, clear `pending`.
    pub fn commit_batch(
        &mut self,
        source: i64,
        remote: &str,
        local: &str,
        rows: &[MessageRow],
        folder: Option<&FolderState>,
        bytes: u64,
    ) -> Result<(), Error> {
        self.store
            .commit_batch(source, remote, local, rows, folder, bytes)
            .map_err(st)
    }

    /// Whether a message key (UIDL) of a remote folder was imported.
    pub fn has_key(&self, source: i64, remote: &str, key: &str) -> Result<bool, Error> {
        self.store.has_message(source, remote, key).map_err(st)
    }

    /// The exclusive right to run a pass of `source` (one pass per source at a time, across
    /// processes and nodes); `None` while another pass holds it.
    pub fn lock_source(&self, source: i64) -> Result<Option<SourceLock>, Error> {
        self.store.lock_source(source).map_err(st)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use pochta_store_embedded::EmbeddedCollectorStore;

    use super::*;

    fn open(dir: &Path) -> State {
        let store = EmbeddedCollectorStore::open(dir).expect("store");
        State::open(dir, Arc::new(store)).expect("open")
    }

    #[test]
    fn secrets_are_encrypted_and_files_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = open(dir.path());
        let url = SourceUrl::parse("imaps://mail.example.com").expect("url");
        st.add_source("me@example.org", &url, "old", "s3cr3t-пароль", false, None)
            .expect("add");
        assert!(
            st.add_source("me@example.org", &url, "old", "x", false, None)
                .is_err()
        );
        let src = &st.sources(Some("me@example.org")).expect("sources")[0];
        assert_eq!(st.password(src).expect("password"), "s3cr3t-пароль");
        drop(st);
        for f in ["collector.sqlite3", "collector.key"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        // The password is not in the database files in clear.
        for f in ["collector.sqlite3", "collector.sqlite3-wal"] {
            if let Ok(bytes) = std::fs::read(dir.path().join(f)) {
                assert!(!bytes.windows(6).any(|w| w == b"s3cr3t"), "{f}");
            }
        }
        // Reopening finds the same key.
        let st = open(dir.path());
        let src = &st.sources(None).expect("sources")[0];
        assert_eq!(st.password(src).expect("password"), "s3cr3t-пароль");
        // A sealed password does not open for another source.
        let mut other = src.clone();
        other.user = "new".into();
        assert!(st.password(&other).is_err());
        assert_eq!(st.del_source("me@example.org", &url).expect("del"), 1);
        assert!(st.sources(None).expect("sources").is_empty());
    }
}
