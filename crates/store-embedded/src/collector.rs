//! The collector's state in SQLite: `data_dir/collector.sqlite3`, [`EmbeddedCollectorStore`].
//!
//! Implementation notes (the rules of [`pochta_store::collector`] apply on top):
//! - The database (with its `-wal`/`-shm`, which SQLite creates with the database's
//!   permissions) is created mode 0600: it holds the sealed credentials. The schema is the one
//!   the collector always had (columns added later are added to older databases on open), so
//!   existing installations open unchanged.
//! - WAL with `synchronous = FULL`: a pending batch is on disk before the append it describes.
//! - **Per-source lock**: an exclusive `flock` on `data_dir/collector-<id>.lock`
//!   (`File::try_lock`), the same file as before, so `pochta collect run` and `pochta serve`
//!   never work on one source at once; the lock dies with its process.
//! - One connection behind a mutex: the collector's writes are few and small.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use parking_lot::Mutex;
use pochta_store::collector::{
    CollectorStore, ContactsSync, FolderState, MessageRow, NewSource, Pending, PendingItem, Source,
    SourceLock,
};
use pochta_store::{Result, StoreError};
use rusqlite::{Connection, OptionalExtension, params};

/// The file name of the collector database inside `data_dir`.
pub const COLLECTOR_FILE: &str = "collector.sqlite3";

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
CREATE TABLE IF NOT EXISTS contacts_sync (
    source INTEGER PRIMARY KEY REFERENCES sources(id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    state TEXT NOT NULL,
    last_success INTEGER,
    last_error TEXT
);
";

/// The collector's state in `data_dir/collector.sqlite3`.
pub struct EmbeddedCollectorStore {
    db: Mutex<Connection>,
    dir: PathBuf,
}

impl std::fmt::Debug for EmbeddedCollectorStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedCollectorStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn file_err(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("{}: {e}", path.display()))
}

/// Creates `path` empty with mode 0600 if it does not exist, and tightens it if it does.
fn private_file(path: &Path) -> Result<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| file_err(path, e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| file_err(path, e))
}

fn folder_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FolderState> {
    Ok(FolderState {
        remote: r.get(0)?,
        local: r.get(1)?,
        uid_validity: r.get(2)?,
        last_uid: r.get(3)?,
        highest_modseq: r.get::<_, Option<i64>>(4)?.map(|v| v as u64),
    })
}

/// Upsert of a folder; `?7` says whether `last_uid` may go down.
const PUT_FOLDER: &str = "INSERT INTO folders (source, remote, local, uid_validity, last_uid,
         highest_modseq)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
     ON CONFLICT (source, remote) DO UPDATE SET local = ?3, uid_validity = ?4,
         last_uid = CASE WHEN ?7 THEN ?5 ELSE max(last_uid, ?5) END, highest_modseq = ?6";

fn put_folder(conn: &Connection, source: i64, f: &FolderState, lower: bool) -> Result<()> {
    conn.execute(
        PUT_FOLDER,
        params![
            source,
            f.remote,
            f.local,
            f.uid_validity,
            f.last_uid,
            f.highest_modseq.map(|v| v as i64),
            lower
        ],
    )
    .map(|_| ())
    .map_err(db)
}

impl EmbeddedCollectorStore {
    /// Opens (creating) `data_dir/collector.sqlite3`.
    pub fn open(data_dir: &Path) -> Result<EmbeddedCollectorStore> {
        std::fs::create_dir_all(data_dir).map_err(|e| file_err(data_dir, e))?;
        let path = data_dir.join(COLLECTOR_FILE);
        private_file(&path)?;
        let conn = Connection::open(&path).map_err(db)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(db)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        // Databases created before these columns existed.
        for (column, decl) in [
            ("delete_remote", "INTEGER NOT NULL DEFAULT 0"),
            ("idle", "TEXT"),
        ] {
            let present: bool = conn
                .query_row(
                    "SELECT count(*) FROM pragma_table_info('sources') WHERE name = ?1",
                    params![column],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(db)?
                > 0;
            if !present {
                conn.execute_batch(&format!("ALTER TABLE sources ADD COLUMN {column} {decl}"))
                    .map_err(db)?;
            }
        }
        Ok(EmbeddedCollectorStore {
            db: Mutex::new(conn),
            dir: data_dir.to_owned(),
        })
    }
}

impl CollectorStore for EmbeddedCollectorStore {
    fn add_source(&self, s: &NewSource<'_>) -> Result<i64> {
        let conn = self.db.lock();
        let r = conn.execute(
            "INSERT INTO sources (account, url, user, secret, insecure, folder_prefix, created,
                 delete_remote)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                s.account,
                s.url,
                s.user,
                s.secret,
                s.insecure,
                s.folder_prefix,
                s.created,
                s.delete_remote
            ],
        );
        match r {
            Ok(_) => Ok(conn.last_insert_rowid()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::AlreadyExists(format!(
                    "source {} of {} as {}",
                    s.url, s.account, s.user
                )))
            }
            Err(e) => Err(db(e)),
        }
    }

    fn del_sources(&self, account: &str, url: &str) -> Result<usize> {
        self.db
            .lock()
            .execute(
                "DELETE FROM sources WHERE account = ?1 AND url = ?2",
                params![account, url],
            )
            .map_err(db)
    }

    fn update_source(&self, id: i64, s: &NewSource<'_>) -> Result<()> {
        let conn = self.db.lock();
        let r = conn.execute(
            "UPDATE sources SET url = ?2, user = ?3, secret = ?4, insecure = ?5,
                 folder_prefix = ?6, delete_remote = ?7
             WHERE id = ?1",
            params![
                id,
                s.url,
                s.user,
                s.secret,
                s.insecure,
                s.folder_prefix,
                s.delete_remote
            ],
        );
        match r {
            Ok(0) => Err(StoreError::NotFound(format!("source {id}"))),
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::AlreadyExists(format!(
                    "source {} as {}",
                    s.url, s.user
                )))
            }
            Err(e) => Err(db(e)),
        }
    }

    fn sources(&self, account: Option<&str>) -> Result<Vec<Source>> {
        let conn = self.db.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, account, url, user, insecure, folder_prefix, created, last_attempt,
                        last_success, last_error, imported_messages, imported_bytes, flag_updates,
                        delete_remote, idle
                 FROM sources WHERE ?1 IS NULL OR account = ?1 ORDER BY id",
            )
            .map_err(db)?;
        stmt.query_map(params![account], |r| {
            Ok(Source {
                id: r.get(0)?,
                account: r.get(1)?,
                url: r.get(2)?,
                user: r.get(3)?,
                insecure: r.get(4)?,
                folder_prefix: r.get(5)?,
                created: r.get(6)?,
                last_attempt: r.get(7)?,
                last_success: r.get(8)?,
                last_error: r.get(9)?,
                imported_messages: r.get::<_, i64>(10)? as u64,
                imported_bytes: r.get::<_, i64>(11)? as u64,
                flag_updates: r.get::<_, i64>(12)? as u64,
                delete_remote: r.get(13)?,
                idle: r.get(14)?,
            })
        })
        .map_err(db)?
        .collect::<rusqlite::Result<_>>()
        .map_err(db)
    }

    fn secret(&self, source: i64) -> Result<Vec<u8>> {
        self.db
            .lock()
            .query_row(
                "SELECT secret FROM sources WHERE id = ?1",
                params![source],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?
            .ok_or_else(|| StoreError::NotFound(format!("collector source {source}")))
    }

    fn record_attempt(&self, source: i64, now: i64, error: Option<&str>) -> Result<()> {
        let conn = self.db.lock();
        match error {
            None => conn.execute(
                "UPDATE sources SET last_attempt = ?2, last_success = ?2, last_error = NULL
                 WHERE id = ?1",
                params![source, now],
            ),
            Some(e) => conn.execute(
                "UPDATE sources SET last_attempt = ?2, last_error = ?3 WHERE id = ?1",
                params![source, now, e],
            ),
        }
        .map(|_| ())
        .map_err(db)
    }

    fn set_idle(&self, source: i64, idle: Option<&str>) -> Result<()> {
        self.db
            .lock()
            .execute(
                "UPDATE sources SET idle = ?2 WHERE id = ?1",
                params![source, idle],
            )
            .map(|_| ())
            .map_err(db)
    }

    fn folders(&self, source: i64) -> Result<Vec<FolderState>> {
        let conn = self.db.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT remote, local, uid_validity, last_uid, highest_modseq FROM folders
                 WHERE source = ?1 ORDER BY remote",
            )
            .map_err(db)?;
        stmt.query_map(params![source], folder_row)
            .map_err(db)?
            .collect::<rusqlite::Result<_>>()
            .map_err(db)
    }

    fn folder(&self, source: i64, remote: &str) -> Result<Option<FolderState>> {
        self.db
            .lock()
            .query_row(
                "SELECT remote, local, uid_validity, last_uid, highest_modseq FROM folders
                 WHERE source = ?1 AND remote = ?2",
                params![source, remote],
                folder_row,
            )
            .optional()
            .map_err(db)
    }

    fn put_folder(&self, source: i64, folder: &FolderState) -> Result<()> {
        put_folder(&self.db.lock(), source, folder, true)
    }

    fn messages(&self, source: i64, remote: &str) -> Result<Vec<MessageRow>> {
        let conn = self.db.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT key, local_uid, flags, message_id, remote_size, idate FROM messages
                 WHERE source = ?1 AND remote = ?2",
            )
            .map_err(db)?;
        stmt.query_map(params![source, remote], |r| {
            Ok(MessageRow {
                key: r.get(0)?,
                local_uid: r.get(1)?,
                flags: r.get(2)?,
                message_id: r.get(3)?,
                remote_size: r.get::<_, i64>(4)? as u64,
                idate: r.get(5)?,
            })
        })
        .map_err(db)?
        .collect::<rusqlite::Result<_>>()
        .map_err(db)
    }

    fn has_message(&self, source: i64, remote: &str, key: &str) -> Result<bool> {
        self.db
            .lock()
            .query_row(
                "SELECT 1 FROM messages WHERE source = ?1 AND remote = ?2 AND key = ?3",
                params![source, remote, key],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(db)
    }

    fn set_flags(&self, source: i64, remote: &str, changes: &[(String, String)]) -> Result<()> {
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(db)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "UPDATE messages SET flags = ?4 WHERE source = ?1 AND remote = ?2 AND key = ?3",
                )
                .map_err(db)?;
            for (key, flags) in changes {
                stmt.execute(params![source, remote, key, flags])
                    .map_err(db)?;
            }
            tx.execute(
                "UPDATE sources SET flag_updates = flag_updates + ?2 WHERE id = ?1",
                params![source, changes.len() as i64],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    fn rekey_folder(
        &self,
        source: i64,
        remote: &str,
        rekey: &[(String, String, String)],
        folder: &FolderState,
    ) -> Result<()> {
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(db)?;
        {
            tx.execute(
                "CREATE TEMP TABLE IF NOT EXISTS rekey (old TEXT, new TEXT, flags TEXT)",
                [],
            )
            .map_err(db)?;
            tx.execute("DELETE FROM temp.rekey", []).map_err(db)?;
            let mut ins = tx
                .prepare_cached("INSERT INTO temp.rekey VALUES (?1, ?2, ?3)")
                .map_err(db)?;
            for (o, n, f) in rekey {
                ins.execute(params![o, n, f]).map_err(db)?;
            }
            // Matched rows get their new key (prefixed so old and new never collide mid-way);
            // unmatched rows are forgotten: their remote messages are gone.
            tx.execute(
                "DELETE FROM messages WHERE source = ?1 AND remote = ?2
                 AND key NOT IN (SELECT old FROM temp.rekey)",
                params![source, remote],
            )
            .map_err(db)?;
            tx.execute(
                "UPDATE messages SET key = 'n' || (SELECT new FROM temp.rekey WHERE old = key),
                     flags = (SELECT flags FROM temp.rekey WHERE old = key)
                 WHERE source = ?1 AND remote = ?2",
                params![source, remote],
            )
            .map_err(db)?;
            tx.execute(
                "UPDATE messages SET key = substr(key, 2) WHERE source = ?1 AND remote = ?2",
                params![source, remote],
            )
            .map_err(db)?;
            put_folder(&tx, source, folder, true)?;
        }
        tx.commit().map_err(db)
    }

    fn put_pending(&self, source: i64, remote: &str, p: &Pending) -> Result<()> {
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(db)?;
        {
            tx.execute(
                "DELETE FROM pending WHERE source = ?1 AND remote = ?2",
                params![source, remote],
            )
            .map_err(db)?;
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO pending (source, remote, ord, key, local, local_validity,
                         uid_next, local_size, idate, flags, message_id, remote_size,
                         remote_validity)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .map_err(db)?;
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
                .map_err(db)?;
            }
        }
        tx.commit().map_err(db)
    }

    fn pending(&self, source: i64, remote: &str) -> Result<Option<Pending>> {
        let conn = self.db.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT key, local, local_validity, uid_next, local_size, idate, flags,
                        message_id, remote_size, remote_validity
                 FROM pending WHERE source = ?1 AND remote = ?2 ORDER BY ord",
            )
            .map_err(db)?;
        let mut rows = stmt.query(params![source, remote]).map_err(db)?;
        let mut out: Option<Pending> = None;
        while let Some(r) = rows.next().map_err(db)? {
            let item = PendingItem {
                key: r.get(0).map_err(db)?,
                local_size: r.get::<_, i64>(4).map_err(db)? as u64,
                idate: r.get(5).map_err(db)?,
                flags: r.get(6).map_err(db)?,
                message_id: r.get(7).map_err(db)?,
                remote_size: r.get::<_, i64>(8).map_err(db)? as u64,
            };
            let p = match &mut out {
                Some(p) => p,
                None => out.insert(Pending {
                    local: r.get(1).map_err(db)?,
                    local_validity: r.get(2).map_err(db)?,
                    uid_next: r.get(3).map_err(db)?,
                    remote_validity: r.get(9).map_err(db)?,
                    items: Vec::new(),
                }),
            };
            p.items.push(item);
        }
        Ok(out)
    }

    fn clear_pending(&self, source: i64, remote: &str) -> Result<()> {
        self.db
            .lock()
            .execute(
                "DELETE FROM pending WHERE source = ?1 AND remote = ?2",
                params![source, remote],
            )
            .map(|_| ())
            .map_err(db)
    }

    fn commit_batch(
        &self,
        source: i64,
        remote: &str,
        local: &str,
        rows: &[MessageRow],
        folder: Option<&FolderState>,
        bytes: u64,
    ) -> Result<()> {
        let mut conn = self.db.lock();
        let tx = conn.transaction().map_err(db)?;
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO messages (source, remote, key, local, local_uid, flags,
                         message_id, remote_size, idate)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(db)?;
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
                .map_err(db)?;
            }
            if let Some(f) = folder {
                put_folder(&tx, source, f, false)?;
            }
            tx.execute(
                "DELETE FROM pending WHERE source = ?1 AND remote = ?2",
                params![source, remote],
            )
            .map_err(db)?;
            tx.execute(
                "UPDATE sources SET imported_messages = imported_messages + ?2,
                     imported_bytes = imported_bytes + ?3 WHERE id = ?1",
                params![source, rows.len() as i64, bytes as i64],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    fn lock_source(&self, source: i64) -> Result<Option<SourceLock>> {
        let path = self.dir.join(format!("collector-{source}.lock"));
        let file: File = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| file_err(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(SourceLock::new(file))),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(file_err(&path, e)),
        }
    }

    fn contacts_sync(&self, source: i64) -> Result<Option<ContactsSync>> {
        self.db
            .lock()
            .query_row(
                "SELECT url, state, last_success, last_error FROM contacts_sync WHERE source = ?1",
                params![source],
                |r| {
                    Ok(ContactsSync {
                        url: r.get(0)?,
                        state: r.get(1)?,
                        last_success: r.get(2)?,
                        last_error: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(db)
    }

    fn set_contacts_sync(&self, source: i64, sync: Option<&ContactsSync>) -> Result<()> {
        let conn = self.db.lock();
        let exists: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sources WHERE id = ?1)",
                params![source],
                |r| r.get(0),
            )
            .map_err(db)?;
        if !exists {
            return Err(StoreError::NotFound(format!("source {source}")));
        }
        match sync {
            Some(c) => conn.execute(
                "INSERT INTO contacts_sync (source, url, state, last_success, last_error)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (source) DO UPDATE SET url = ?2, state = ?3, last_success = ?4,
                     last_error = ?5",
                params![source, c.url, c.state, c.last_success, c.last_error],
            ),
            None => conn.execute(
                "DELETE FROM contacts_sync WHERE source = ?1",
                params![source],
            ),
        }
        .map(|_| ())
        .map_err(db)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The database and its WAL are private to the server user: they hold sealed credentials.
    #[test]
    fn database_files_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let st = EmbeddedCollectorStore::open(dir.path()).expect("open");
        st.add_source(&NewSource {
            account: "me@example.org",
            url: "imaps://mail.example.com",
            user: "old",
            secret: b"sealed",
            insecure: false,
            folder_prefix: None,
            delete_remote: false,
            created: 0,
        })
        .expect("add");
        for f in [COLLECTOR_FILE, "collector.sqlite3-wal"] {
            let mode = std::fs::metadata(dir.path().join(f))
                .expect("meta")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
        let conn = st.db.lock();
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("pragma");
        assert_eq!(sync, 2, "PRAGMA synchronous is {sync}, not FULL (2)");
    }
}
