//! The collector's own state: `data_dir/collector.sqlite3`, separate from the mail store.
//!
//! Implementation notes:
//! - **Secrets.** Remote passwords are encrypted with AES-256-GCM (aws-lc-rs) under a key in
//!   `data_dir/collector.key`; the AAD binds each ciphertext to its row (account, URL, user),
//!   so a ciphertext copied onto another row does not decrypt. The key file and the database
//!   (with its `-wal`/`-shm`, which SQLite creates with the database's permissions) are created
//!   mode 0600, readable only by the server user. Honestly: the key sits beside the database,
//!   so this protects a copy of the database alone (a backup, a support bundle), not someone
//!   who can read the whole data directory as the server user.
//! - **Checkpoints follow commits.** A batch of messages goes through three durable steps:
//!   (1) its description is written to `pending` (remote key, sizes, dates) together with the
//!   local mailbox's UIDNEXT before the append; (2) the store appends it atomically;
//!   (3) one transaction here records the UID mapping, advances the folder's `last_uid` and
//!   clears `pending`. A crash between (2) and (3) leaves `pending`: the next pass looks for
//!   the batch at and after that UIDNEXT (it was appended atomically, so it is a consecutive
//!   run with the recorded sizes and dates) and either adopts it or, if it is not there,
//!   fetches it again. So no crash point loses or duplicates a message.
//! - SQLite runs in WAL mode with `synchronous = FULL`, so step (1) is on disk before (2).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use rusqlite::{Connection, OptionalExtension, params};

use crate::Error;
use crate::source::SourceUrl;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    url TEXT NOT NULL,
    user TEXT NOT NULL,
    secret BLOB NOT NULL,
    insecure INTEGER NOT NULL,
    folder_prefix TEXT,
    created INTEGER NOT NULL,
    last_attempt INTEGER,
    last_success INTEGER,
    last_error TEXT,
    imported_messages INTEGER NOT NULL DEFAULT 0,
    imported_bytes INTEGER NOT NULL DEFAULT 0,
    flag_updates INTEGER NOT NULL DEFAULT 0,
    delete_remote INTEGER NOT NULL DEFAULT 0,
    idle TEXT,
    UNIQUE (account, url, user)
);
CREATE TABLE IF NOT EXISTS folders (
    source INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    remote TEXT NOT NULL,
    local TEXT NOT NULL,
    uid_validity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL,
    highest_modseq INTEGER,
    PRIMARY KEY (source, remote)
);
CREATE TABLE IF NOT EXISTS messages (
    source INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    remote TEXT NOT NULL,
    key TEXT NOT NULL,
    local TEXT NOT NULL,
    local_uid INTEGER NOT NULL,
    flags TEXT NOT NULL,
    message_id TEXT,
    remote_size INTEGER NOT NULL,
    idate INTEGER NOT NULL,
    PRIMARY KEY (source, remote, key)
);
CREATE TABLE IF NOT EXISTS pending (
    source INTEGER NOT NULL REFERENCES sources(id) ON DELETE CASCADE,
    remote TEXT NOT NULL,
    ord INTEGER NOT NULL,
    key TEXT NOT NULL,
    local TEXT NOT NULL,
    local_validity INTEGER NOT NULL,
    uid_next INTEGER NOT NULL,
    remote_validity INTEGER NOT NULL,
    local_size INTEGER NOT NULL,
    idate INTEGER NOT NULL,
    flags TEXT NOT NULL,
    message_id TEXT,
    remote_size INTEGER NOT NULL,
    PRIMARY KEY (source, remote, ord)
);
";

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

/// What the collector remembers of one remote folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderState {
    pub remote: String,
    pub local: String,
    pub uid_validity: u32,
    pub last_uid: u32,
    pub highest_modseq: Option<u64>,
}

/// One imported message (or one about to be: a pending row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    /// The remote UID (IMAP) or UIDL (POP3), as text.
    pub key: String,
    pub local_uid: u32,
    /// Remote flags last applied locally, space-separated.
    pub flags: String,
    pub message_id: Option<String>,
    pub remote_size: u64,
    pub idate: i64,
}

/// One message of a batch about to be appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingItem {
    pub key: String,
    pub local_size: u64,
    pub idate: i64,
    pub flags: String,
    pub message_id: Option<String>,
    pub remote_size: u64,
}

/// A batch that was being appended when a pass stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub local: String,
    pub local_validity: u32,
    pub uid_next: u32,
    /// The remote folder's UIDVALIDITY the keys belong to (0 for POP3).
    pub remote_validity: u32,
    pub items: Vec<PendingItem>,
}

/// The collector database.
pub struct State {
    db: Connection,
    key: LessSafeKey,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("State")
    }
}

fn db_err(e: rusqlite::Error) -> Error {
    Error::State(e.to_string())
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Creates `path` empty with mode 0600 if it does not exist, and tightens it if it does.
fn private_file(path: &Path) -> Result<(), Error> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| Error::State(format!("{}: {e}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::State(format!("{}: {e}", path.display())))
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
    /// Opens (creating) `data_dir/collector.sqlite3` and `data_dir/collector.key`.
    pub fn open(data_dir: &Path) -> Result<State, Error> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| Error::State(format!("{}: {e}", data_dir.display())))?;
        let path: PathBuf = data_dir.join("collector.sqlite3");
        private_file(&path)?;
        let key = load_key(&data_dir.join("collector.key"))?;
        let db = Connection::open(&path).map_err(db_err)?;
        db.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(db_err)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(db_err)?;
        db.execute_batch(SCHEMA).map_err(db_err)?;
        // Databases created before these columns existed.
        for (column, decl) in [
            ("delete_remote", "INTEGER NOT NULL DEFAULT 0"),
            ("idle", "TEXT"),
        ] {
            let present: bool = db
                .query_row(
                    "SELECT count(*) FROM pragma_table_info('sources') WHERE name = ?1",
                    params![column],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(db_err)?
                > 0;
            if !present {
                db.execute_batch(&format!("ALTER TABLE sources ADD COLUMN {column} {decl}"))
                    .map_err(db_err)?;
            }
        }
        Ok(State { db, key })
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

    /// Adds a source that leaves the remote untouched; `AlreadyExists` for the same account,
    /// URL and user.
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
        let r = self.db.execute(
            "INSERT INTO sources (account, url, user, secret, insecure, folder_prefix, created,
                 delete_remote)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                account,
                url.as_str(),
                user,
                sealed,
                insecure,
                folder_prefix,
                now(),
                delete_remote
            ],
        );
        match r {
            Ok(_) => Ok(self.db.last_insert_rowid()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(Error::Config(format!(
                    "{account} already collects from {url} as {user}"
                )))
            }
            Err(e) => Err(db_err(e)),
        }
    }

    /// Deletes the sources of `account` with this URL (all users); how many were deleted.
    pub fn del_source(&self, account: &str, url: &SourceUrl) -> Result<usize, Error> {
        self.db
            .execute(
                "DELETE FROM sources WHERE account = ?1 AND url = ?2",
                params![account, url.as_str()],
            )
            .map_err(db_err)
    }

    /// Every source (of one account, if given), in the order added.
    pub fn sources(&self, account: Option<&str>) -> Result<Vec<SourceRow>, Error> {
        let mut stmt = self
            .db
            .prepare(
                "SELECT id, account, url, user, insecure, folder_prefix, last_attempt,
                        last_success, last_error, imported_messages, imported_bytes, flag_updates,
                        delete_remote, idle
                 FROM sources WHERE ?1 IS NULL OR account = ?1 ORDER BY id",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![account], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, bool>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<i64>>(6)?,
                    r.get::<_, Option<i64>>(7)?,
                    r.get::<_, Option<String>>(8)?,
                    r.get::<_, i64>(9)?,
                    r.get::<_, i64>(10)?,
                    r.get::<_, i64>(11)?,
                    r.get::<_, bool>(12)?,
                    r.get::<_, Option<String>>(13)?,
                ))
            })
            .map_err(db_err)?;
        let mut out = Vec::new();
        for row in rows {
            let (id, account, url, user, insecure, folder_prefix, la, ls, le, m, b, f, del, idle) =
                row.map_err(db_err)?;
            out.push(SourceRow {
                id,
                account,
                url: SourceUrl::parse(&url)?,
                user,
                insecure,
                folder_prefix,
                last_attempt: la,
                last_success: ls,
                last_error: le,
                imported_messages: m as u64,
                imported_bytes: b as u64,
                flag_updates: f as u64,
                delete_remote: del,
                idle,
            });
        }
        Ok(out)
    }

    /// The decrypted password of a source.
    pub fn password(&self, source: &SourceRow) -> Result<String, Error> {
        let sealed: Vec<u8> = self
            .db
            .query_row(
                "SELECT secret FROM sources WHERE id = ?1",
                params![source.id],
                |r| r.get(0),
            )
            .map_err(db_err)?;
        self.open_secret(
            &Self::aad(&source.account, source.url.as_str(), &source.user),
            &sealed,
        )
    }

    pub fn record_attempt(&self, source: i64, error: Option<&str>) -> Result<(), Error> {
        let t = now();
        match error {
            None => self.db.execute(
                "UPDATE sources SET last_attempt = ?2, last_success = ?2, last_error = NULL
                 WHERE id = ?1",
                params![source, t],
            ),
            Some(e) => self.db.execute(
                "UPDATE sources SET last_attempt = ?2, last_error = ?3 WHERE id = ?1",
                params![source, t, e],
            ),
        }
        .map(|_| ())
        .map_err(db_err)
    }

    /// Records what the IDLE watcher is doing (shown by `collect status`).
    pub fn set_idle(&self, source: i64, idle: Option<&str>) -> Result<(), Error> {
        self.db
            .execute(
                "UPDATE sources SET idle = ?2 WHERE id = ?1",
                params![source, idle],
            )
            .map(|_| ())
            .map_err(db_err)
    }

    pub fn folders(&self, source: i64) -> Result<Vec<FolderState>, Error> {
        let mut stmt = self
            .db
            .prepare(
                "SELECT remote, local, uid_validity, last_uid, highest_modseq FROM folders
                 WHERE source = ?1 ORDER BY remote",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![source], |r| {
                Ok(FolderState {
                    remote: r.get(0)?,
                    local: r.get(1)?,
                    uid_validity: r.get(2)?,
                    last_uid: r.get(3)?,
                    highest_modseq: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
                })
            })
            .map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)
    }

    pub fn folder(&self, source: i64, remote: &str) -> Result<Option<FolderState>, Error> {
        self.db
            .query_row(
                "SELECT remote, local, uid_validity, last_uid, highest_modseq FROM folders
                 WHERE source = ?1 AND remote = ?2",
                params![source, remote],
                |r| {
                    Ok(FolderState {
                        remote: r.get(0)?,
                        local: r.get(1)?,
                        uid_validity: r.get(2)?,
                        last_uid: r.get(3)?,
                        highest_modseq: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
                    })
                },
            )
            .optional()
            .map_err(db_err)
    }

    /// Writes a folder's state (insert or replace).
    pub fn put_folder(&self, source: i64, f: &FolderState) -> Result<(), Error> {
        self.db
            .execute(
                "INSERT INTO folders (source, remote, local, uid_validity, last_uid, highest_modseq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (source, remote) DO UPDATE SET local = ?3, uid_validity = ?4,
                     last_uid = ?5, highest_modseq = ?6",
                params![
                    source,
                    f.remote,
                    f.local,
                    f.uid_validity,
                    f.last_uid,
                    f.highest_modseq.map(|v| v as i64)
                ],
            )
            .map(|_| ())
            .map_err(db_err)
    }

    /// Every imported message of a remote folder.
    pub fn messages(&self, source: i64, remote: &str) -> Result<Vec<MessageRow>, Error> {
        let mut stmt = self
            .db
            .prepare_cached(
                "SELECT key, local_uid, flags, message_id, remote_size, idate FROM messages
                 WHERE source = ?1 AND remote = ?2",
            )
            .map_err(db_err)?;
        let rows = stmt
            .query_map(params![source, remote], |r| {
                Ok(MessageRow {
                    key: r.get(0)?,
                    local_uid: r.get(1)?,
                    flags: r.get(2)?,
                    message_id: r.get(3)?,
                    remote_size: r.get::<_, i64>(4)? as u64,
                    idate: r.get(5)?,
                })
            })
            .map_err(db_err)?;
        rows.collect::<Result<_, _>>().map_err(db_err)
    }

    /// Records new remote flags of imported messages (after the local store applied them).
    pub fn set_flags(
        &mut self,
        source: i64,
        remote: &str,
        changes: &[(String, String)],
    ) -> Result<(), Error> {
        let tx = self.db.transaction().map_err(db_err)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE messages SET flags = ?4 WHERE source = ?1 AND remote = ?2 AND key = ?3",
                )
                .map_err(db_err)?;
            for (key, flags) in changes {
                stmt.execute(params![source, remote, key, flags])
                    .map_err(db_err)?;
            }
            tx.execute(
                "UPDATE sources SET flag_updates = flag_updates + ?2 WHERE id = ?1",
                params![source, changes.len() as i64],
            )
            .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
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
        let tx = self.db.transaction().map_err(db_err)?;
        {
            tx.execute(
                "CREATE TEMP TABLE IF NOT EXISTS rekey (old TEXT, new TEXT, flags TEXT)",
                [],
            )
            .map_err(db_err)?;
            tx.execute("DELETE FROM temp.rekey", []).map_err(db_err)?;
            let mut ins = tx
                .prepare_cached("INSERT INTO temp.rekey VALUES (?1, ?2, ?3)")
                .map_err(db_err)?;
            for (o, n, f) in rekey {
                ins.execute(params![o, n, f]).map_err(db_err)?;
            }
            // Matched rows get their new key (prefixed so old and new never collide mid-way);
            // unmatched rows are forgotten: their remote messages are gone.
            tx.execute(
                "DELETE FROM messages WHERE source = ?1 AND remote = ?2
                 AND key NOT IN (SELECT old FROM temp.rekey)",
                params![source, remote],
            )
            .map_err(db_err)?;
            tx.execute(
                "UPDATE messages SET key = 'n' || (SELECT new FROM temp.rekey WHERE old = key),
                     flags = (SELECT flags FROM temp.rekey WHERE old = key)
                 WHERE source = ?1 AND remote = ?2",
                params![source, remote],
            )
            .map_err(db_err)?;
            tx.execute(
                "UPDATE messages SET key = substr(key, 2) WHERE source = ?1 AND remote = ?2",
                params![source, remote],
            )
            .map_err(db_err)?;
            tx.execute(
                "INSERT INTO folders (source, remote, local, uid_validity, last_uid, highest_modseq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (source, remote) DO UPDATE SET local = ?3, uid_validity = ?4,
                     last_uid = ?5, highest_modseq = ?6",
                params![
                    source,
                    remote,
                    folder.local,
                    folder.uid_validity,
                    folder.last_uid,
                    folder.highest_modseq.map(|v| v as i64)
                ],
            )
            .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    /// Step (1): describe a batch before appending it.
    pub fn put_pending(&mut self, source: i64, remote: &str, p: &Pending) -> Result<(), Error> {
        let tx = self.db.transaction().map_err(db_err)?;
        {
            tx.execute(
                "DELETE FROM pending WHERE source = ?1 AND remote = ?2",
                params![source, remote],
            )
            .map_err(db_err)?;
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO pending (source, remote, ord, key, local, local_validity,
                         uid_next, local_size, idate, flags, message_id, remote_size,
                         remote_validity)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .map_err(db_err)?;
            for (i, it) in p.items.iter().enumerate() {
                stmt.execute(params![
                    source,
                    remote,
                    i as i64,
                    it.key,
                    p.local,
                    p.local_validity,
                    p.uid_next,
                    it.local_size as i64,
                    it.idate,
                    it.flags,
                    it.message_id,
                    it.remote_size as i64,
                    p.remote_validity
                ])
                .map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)
    }

    pub fn pending(&self, source: i64, remote: &str) -> Result<Option<Pending>, Error> {
        let mut stmt = self
            .db
            .prepare_cached(
                "SELECT key, local, local_validity, uid_next, local_size, idate, flags,
                        message_id, remote_size, remote_validity
                 FROM pending WHERE source = ?1 AND remote = ?2 ORDER BY ord",
            )
            .map_err(db_err)?;
        let mut rows = stmt.query(params![source, remote]).map_err(db_err)?;
        let mut out: Option<Pending> = None;
        while let Some(r) = rows.next().map_err(db_err)? {
            let item = PendingItem {
                key: r.get(0).map_err(db_err)?,
                local_size: r.get::<_, i64>(4).map_err(db_err)? as u64,
                idate: r.get(5).map_err(db_err)?,
                flags: r.get(6).map_err(db_err)?,
                message_id: r.get(7).map_err(db_err)?,
                remote_size: r.get::<_, i64>(8).map_err(db_err)? as u64,
            };
            let p = out.get_or_insert(Pending {
                local: r.get(1).map_err(db_err)?,
                local_validity: r.get(2).map_err(db_err)?,
                uid_next: r.get(3).map_err(db_err)?,
                remote_validity: r.get(9).map_err(db_err)?,
                items: Vec::new(),
            });
            p.items.push(item);
        }
        Ok(out)
    }

    pub fn clear_pending(&self, source: i64, remote: &str) -> Result<(), Error> {
        self.db
            .execute(
                "DELETE FROM pending WHERE source = ?1 AND remote = ?2",
                params![source, remote],
            )
            .map(|_| ())
            .map_err(db_err)
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
        let tx = self.db.transaction().map_err(db_err)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO messages (source, remote, key, local, local_uid, flags,
                         message_id, remote_size, idate)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(db_err)?;
            for m in rows {
                stmt.execute(params![
                    source,
                    remote,
                    m.key,
                    local,
                    m.local_uid,
                    m.flags,
                    m.message_id,
                    m.remote_size as i64,
                    m.idate
                ])
                .map_err(db_err)?;
            }
            if let Some(f) = folder {
                tx.execute(
                    "INSERT INTO folders (source, remote, local, uid_validity, last_uid,
                         highest_modseq)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (source, remote) DO UPDATE SET local = ?3, uid_validity = ?4,
                         last_uid = max(last_uid, ?5), highest_modseq = ?6",
                    params![
                        source,
                        remote,
                        f.local,
                        f.uid_validity,
                        f.last_uid,
                        f.highest_modseq.map(|v| v as i64)
                    ],
                )
                .map_err(db_err)?;
            }
            tx.execute(
                "DELETE FROM pending WHERE source = ?1 AND remote = ?2",
                params![source, remote],
            )
            .map_err(db_err)?;
            tx.execute(
                "UPDATE sources SET imported_messages = imported_messages + ?2,
                     imported_bytes = imported_bytes + ?3 WHERE id = ?1",
                params![source, rows.len() as i64, bytes as i64],
            )
            .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    /// Whether a message key (UIDL) of a remote folder was imported.
    pub fn has_key(&self, source: i64, remote: &str, key: &str) -> Result<bool, Error> {
        self.db
            .query_row(
                "SELECT 1 FROM messages WHERE source = ?1 AND remote = ?2 AND key = ?3",
                params![source, remote, key],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_encrypted_and_files_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = State::open(dir.path()).expect("open");
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
        let st = State::open(dir.path()).expect("reopen");
        let src = &st.sources(None).expect("sources")[0];
        assert_eq!(st.password(src).expect("password"), "s3cr3t-пароль");
        assert_eq!(st.del_source("me@example.org", &url).expect("del"), 1);
        assert!(st.sources(None).expect("sources").is_empty());
    }
}
