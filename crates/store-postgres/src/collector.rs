//! The collector's state in PostgreSQL: [`PgCollectorStore`].
//!
//! Implementation notes (the rules of [`pochta_store::collector`] apply on top):
//! - Tables `collector_sources`, `collector_folders`, `collector_messages`,
//!   `collector_pending`, `collector_contacts_sync`, like the embedded database; secrets stay
//!   sealed as given.
//! - **Per-source lock**: a session-scoped advisory lock (`pg_try_advisory_lock(class,
//!   source)`) on a connection of its own, held by the [`SourceLock`]. Dropping the lock
//!   closes that connection; a node that dies loses its connection, so the server releases
//!   the lock and another node takes the source over.

use parking_lot::Mutex;
use pochta_store::collector::{
    CollectorStore, ContactsSync, FolderState, MessageRow, NewSource, Pending, PendingItem, Source,
    SourceLock,
};
use pochta_store::{Result, StoreError};
use postgres::{NoTls, Row};

use crate::{LockHolder, Pool, R, SafeClient, Tx, bridge};

/// First key of the collector's advisory locks ("coll" in ASCII).
const LOCK_CLASS: i32 = 0x636f_6c6c;

/// The collector's state on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgCollectorStore {
    pool: Pool,
}

impl PgCollectorStore {
    /// Connects and migrates (see [`Pool::open`]).
    pub fn open(url: &str, pool_size: u32) -> Result<PgCollectorStore> {
        Ok(PgCollectorStore {
            pool: Pool::open(url, pool_size)?,
        })
    }

    /// The state over an open pool (shared with the mail store).
    pub fn with_pool(pool: Pool) -> PgCollectorStore {
        PgCollectorStore { pool }
    }
}

fn i(v: u32) -> i64 {
    i64::from(v)
}

fn u(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn big(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn folder_row(r: &Row) -> FolderState {
    FolderState {
        remote: r.get(0),
        local: r.get(1),
        uid_validity: u(r.get(2)),
        last_uid: u(r.get(3)),
        highest_modseq: r.get::<_, Option<i64>>(4).map(|v| v as u64),
    }
}

fn put_folder(tx: &mut Tx<'_>, source: i64, f: &FolderState, lower: bool) -> R<()> {
    tx.execute(
        "INSERT INTO collector_folders (source, remote, local, uid_validity, last_uid,
             highest_modseq)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (source, remote) DO UPDATE SET local = $3, uid_validity = $4,
             last_uid = CASE WHEN $7 THEN $5 ELSE greatest(collector_folders.last_uid, $5) END,
             highest_modseq = $6",
        &[
            &source,
            &f.remote,
            &f.local,
            &i(f.uid_validity),
            &i(f.last_uid),
            &f.highest_modseq.map(big),
            &lower,
        ],
    )?;
    Ok(())
}

impl CollectorStore for PgCollectorStore {
    fn add_source(&self, s: &NewSource<'_>) -> Result<i64> {
        let r = self.pool.write(|tx| {
            Ok(tx
                .query_one(
                    "INSERT INTO collector_sources (account, url, \"user\", secret, insecure,
                         folder_prefix, created, delete_remote)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    &[
                        &s.account,
                        &s.url,
                        &s.user,
                        &s.secret,
                        &s.insecure,
                        &s.folder_prefix,
                        &s.created,
                        &s.delete_remote,
                    ],
                )?
                .get(0))
        });
        match r {
            Err(e) if e.unique_violation() => Err(StoreError::AlreadyExists(format!(
                "source {} of {} as {}",
                s.url, s.account, s.user
            ))),
            r => Ok(r?),
        }
    }

    fn update_source(&self, id: i64, s: &NewSource<'_>) -> Result<()> {
        let r = self.pool.write(|tx| {
            tx.execute(
                "UPDATE collector_sources SET url = $2, \"user\" = $3, secret = $4,
                     insecure = $5, folder_prefix = $6, delete_remote = $7
                 WHERE id = $1",
                &[
                    &id,
                    &s.url,
                    &s.user,
                    &s.secret,
                    &s.insecure,
                    &s.folder_prefix,
                    &s.delete_remote,
                ],
            )
        });
        match r {
            Err(e) if e.unique_violation() => Err(StoreError::AlreadyExists(format!(
                "source {} as {}",
                s.url, s.user
            ))),
            Ok(0) => Err(StoreError::NotFound(format!("source {id}"))),
            r => r.map(|_| ()).map_err(Into::into),
        }
    }

    fn del_sources(&self, account: &str, url: &str) -> Result<usize> {
        let n = self.pool.write(|tx| {
            tx.execute(
                "DELETE FROM collector_sources WHERE account = $1 AND url = $2",
                &[&account, &url],
            )
        })?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn sources(&self, account: Option<&str>) -> Result<Vec<Source>> {
        Ok(self.pool.read(|tx| {
            Ok(tx
                .query(
                    "SELECT id, account, url, \"user\", insecure, folder_prefix, created,
                            last_attempt, last_success, last_error, imported_messages,
                            imported_bytes, flag_updates, delete_remote, idle
                     FROM collector_sources WHERE $1::text IS NULL OR account = $1 ORDER BY id",
                    &[&account],
                )?
                .iter()
                .map(|r| Source {
                    id: r.get(0),
                    account: r.get(1),
                    url: r.get(2),
                    user: r.get(3),
                    insecure: r.get(4),
                    folder_prefix: r.get(5),
                    created: r.get(6),
                    last_attempt: r.get(7),
                    last_success: r.get(8),
                    last_error: r.get(9),
                    imported_messages: r.get::<_, i64>(10) as u64,
                    imported_bytes: r.get::<_, i64>(11) as u64,
                    flag_updates: r.get::<_, i64>(12) as u64,
                    delete_remote: r.get(13),
                    idle: r.get(14),
                })
                .collect())
        })?)
    }

    fn secret(&self, source: i64) -> Result<Vec<u8>> {
        self.pool
            .read(|tx| {
                Ok(tx
                    .query_opt(
                        "SELECT secret FROM collector_sources WHERE id = $1",
                        &[&source],
                    )?
                    .map(|r| r.get(0)))
            })?
            .ok_or_else(|| StoreError::NotFound(format!("collector source {source}")))
    }

    fn record_attempt(&self, source: i64, now: i64, error: Option<&str>) -> Result<()> {
        Ok(self.pool.write(|tx| {
            match error {
                None => tx.execute(
                    "UPDATE collector_sources SET last_attempt = $2, last_success = $2,
                         last_error = NULL WHERE id = $1",
                    &[&source, &now],
                )?,
                Some(e) => tx.execute(
                    "UPDATE collector_sources SET last_attempt = $2, last_error = $3 WHERE id = $1",
                    &[&source, &now, &e],
                )?,
            };
            Ok(())
        })?)
    }

    fn set_idle(&self, source: i64, idle: Option<&str>) -> Result<()> {
        Ok(self.pool.write(|tx| {
            tx.execute(
                "UPDATE collector_sources SET idle = $2 WHERE id = $1",
                &[&source, &idle],
            )?;
            Ok(())
        })?)
    }

    fn folders(&self, source: i64) -> Result<Vec<FolderState>> {
        Ok(self.pool.read(|tx| {
            Ok(tx
                .query(
                    "SELECT remote, local, uid_validity, last_uid, highest_modseq
                     FROM collector_folders WHERE source = $1 ORDER BY remote",
                    &[&source],
                )?
                .iter()
                .map(folder_row)
                .collect())
        })?)
    }

    fn folder(&self, source: i64, remote: &str) -> Result<Option<FolderState>> {
        Ok(self.pool.read(|tx| {
            Ok(tx
                .query_opt(
                    "SELECT remote, local, uid_validity, last_uid, highest_modseq
                     FROM collector_folders WHERE source = $1 AND remote = $2",
                    &[&source, &remote],
                )?
                .map(|r| folder_row(&r)))
        })?)
    }

    fn put_folder(&self, source: i64, folder: &FolderState) -> Result<()> {
        Ok(self.pool.write(|tx| put_folder(tx, source, folder, true))?)
    }

    fn messages(&self, source: i64, remote: &str) -> Result<Vec<MessageRow>> {
        Ok(self.pool.read(|tx| {
            Ok(tx
                .query(
                    "SELECT key, local_uid, flags, message_id, remote_size, idate
                     FROM collector_messages WHERE source = $1 AND remote = $2",
                    &[&source, &remote],
                )?
                .iter()
                .map(|r| MessageRow {
                    key: r.get(0),
                    local_uid: u(r.get(1)),
                    flags: r.get(2),
                    message_id: r.get(3),
                    remote_size: r.get::<_, i64>(4) as u64,
                    idate: r.get(5),
                })
                .collect())
        })?)
    }

    fn has_message(&self, source: i64, remote: &str, key: &str) -> Result<bool> {
        Ok(self.pool.read(|tx| {
            Ok(tx
                .query_opt(
                    "SELECT 1 FROM collector_messages
                     WHERE source = $1 AND remote = $2 AND key = $3",
                    &[&source, &remote, &key],
                )?
                .is_some())
        })?)
    }

    fn set_flags(&self, source: i64, remote: &str, changes: &[(String, String)]) -> Result<()> {
        Ok(self.pool.write(|tx| {
            for (key, flags) in changes {
                tx.execute(
                    "UPDATE collector_messages SET flags = $4
                     WHERE source = $1 AND remote = $2 AND key = $3",
                    &[&source, &remote, key, flags],
                )?;
            }
            tx.execute(
                "UPDATE collector_sources SET flag_updates = flag_updates + $2 WHERE id = $1",
                &[&source, &(changes.len() as i64)],
            )?;
            Ok(())
        })?)
    }

    fn rekey_folder(
        &self,
        source: i64,
        remote: &str,
        rekey: &[(String, String, String)],
        folder: &FolderState,
    ) -> Result<()> {
        let old: Vec<&str> = rekey.iter().map(|r| r.0.as_str()).collect();
        let new: Vec<&str> = rekey.iter().map(|r| r.1.as_str()).collect();
        let flags: Vec<&str> = rekey.iter().map(|r| r.2.as_str()).collect();
        Ok(self.pool.write(|tx| {
            tx.execute(
                "DELETE FROM collector_messages WHERE source = $1 AND remote = $2
                 AND NOT (key = ANY($3))",
                &[&source, &remote, &old],
            )?;
            // One statement: uniqueness is checked at its end, so old and new keys may overlap.
            // Primary keys are checked per row unless deferrable, so go through a prefix.
            tx.execute(
                "UPDATE collector_messages m SET key = 'n' || r.new, flags = r.flags
                 FROM unnest($3::text[], $4::text[], $5::text[]) AS r(old, new, flags)
                 WHERE m.source = $1 AND m.remote = $2 AND m.key = r.old",
                &[&source, &remote, &old, &new, &flags],
            )?;
            tx.execute(
                "UPDATE collector_messages SET key = substr(key, 2)
                 WHERE source = $1 AND remote = $2",
                &[&source, &remote],
            )?;
            put_folder(tx, source, folder, true)
        })?)
    }

    fn put_pending(&self, source: i64, remote: &str, p: &Pending) -> Result<()> {
        Ok(self.pool.write(|tx| {
            tx.execute(
                "DELETE FROM collector_pending WHERE source = $1 AND remote = $2",
                &[&source, &remote],
            )?;
            for (n, it) in p.items.iter().enumerate() {
                tx.execute(
                    "INSERT INTO collector_pending (source, remote, ord, key, local,
                         local_validity, uid_next, local_size, idate, flags, message_id,
                         remote_size, remote_validity)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    &[
                        &source,
                        &remote,
                        &(n as i64),
                        &it.key,
                        &p.local,
                        &i(p.local_validity),
                        &i(p.uid_next),
                        &big(it.local_size),
                        &it.idate,
                        &it.flags,
                        &it.message_id,
                        &big(it.remote_size),
                        &i(p.remote_validity),
                    ],
                )?;
            }
            Ok(())
        })?)
    }

    fn pending(&self, source: i64, remote: &str) -> Result<Option<Pending>> {
        Ok(self.pool.read(|tx| {
            let rows = tx.query(
                "SELECT key, local, local_validity, uid_next, local_size, idate, flags,
                        message_id, remote_size, remote_validity
                 FROM collector_pending WHERE source = $1 AND remote = $2 ORDER BY ord",
                &[&source, &remote],
            )?;
            let mut out: Option<Pending> = None;
            for r in &rows {
                let item = PendingItem {
                    key: r.get(0),
                    local_size: r.get::<_, i64>(4) as u64,
                    idate: r.get(5),
                    flags: r.get(6),
                    message_id: r.get(7),
                    remote_size: r.get::<_, i64>(8) as u64,
                };
                let p = match &mut out {
                    Some(p) => p,
                    None => out.insert(Pending {
                        local: r.get(1),
                        local_validity: u(r.get(2)),
                        uid_next: u(r.get(3)),
                        remote_validity: u(r.get(9)),
                        items: Vec::new(),
                    }),
                };
                p.items.push(item);
            }
            Ok(out)
        })?)
    }

    fn clear_pending(&self, source: i64, remote: &str) -> Result<()> {
        Ok(self.pool.write(|tx| {
            tx.execute(
                "DELETE FROM collector_pending WHERE source = $1 AND remote = $2",
                &[&source, &remote],
            )?;
            Ok(())
        })?)
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
        Ok(self.pool.write(|tx| {
            for m in rows {
                tx.execute(
                    "INSERT INTO collector_messages (source, remote, key, local, local_uid, flags,
                         message_id, remote_size, idate)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
                     ON CONFLICT (source, remote, key) DO UPDATE SET local = excluded.local,
                         local_uid = excluded.local_uid, flags = excluded.flags,
                         message_id = excluded.message_id, remote_size = excluded.remote_size,
                         idate = excluded.idate",
                    &[
                        &source,
                        &remote,
                        &m.key,
                        &local,
                        &i(m.local_uid),
                        &m.flags,
                        &m.message_id,
                        &big(m.remote_size),
                        &m.idate,
                    ],
                )?;
            }
            if let Some(f) = folder {
                put_folder(tx, source, f, false)?;
            }
            tx.execute(
                "DELETE FROM collector_pending WHERE source = $1 AND remote = $2",
                &[&source, &remote],
            )?;
            tx.execute(
                "UPDATE collector_sources SET imported_messages = imported_messages + $2,
                     imported_bytes = imported_bytes + $3 WHERE id = $1",
                &[&source, &(rows.len() as i64), &big(bytes)],
            )?;
            Ok(())
        })?)
    }

    fn lock_source(&self, source: i64) -> Result<Option<SourceLock>> {
        let key = i32::try_from(source)
            .map_err(|_| StoreError::Backend(format!("source id {source} out of lock range")))?;
        let config = self.pool.config.clone();
        let r: R<Option<SourceLock>> = bridge(move || {
            let mut client = SafeClient::new(config.connect(NoTls)?);
            let got: bool = client
                .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&LOCK_CLASS, &key])?
                .get(0);
            Ok(got.then(|| {
                SourceLock::new(LockHolder {
                    _conn: Mutex::new(client),
                })
            }))
        });
        Ok(r?)
    }

    fn contacts_sync(&self, source: i64) -> Result<Option<ContactsSync>> {
        Ok(self.pool.read(|tx| {
            Ok(tx
                .query_opt(
                    "SELECT url, state, last_success, last_error
                     FROM collector_contacts_sync WHERE source = $1",
                    &[&source],
                )?
                .map(|r| ContactsSync {
                    url: r.get(0),
                    state: r.get(1),
                    last_success: r.get(2),
                    last_error: r.get(3),
                }))
        })?)
    }

    fn set_contacts_sync(&self, source: i64, sync: Option<&ContactsSync>) -> Result<()> {
        let found = self.pool.write(|tx| {
            let exists: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM collector_sources WHERE id = $1)",
                    &[&source],
                )?
                .get(0);
            if !exists {
                return Ok(false);
            }
            match sync {
                Some(c) => tx.execute(
                    "INSERT INTO collector_contacts_sync
                         (source, url, state, last_success, last_error)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (source) DO UPDATE SET url = $2, state = $3,
                         last_success = $4, last_error = $5",
                    &[&source, &c.url, &c.state, &c.last_success, &c.last_error],
                )?,
                None => tx.execute(
                    "DELETE FROM collector_contacts_sync WHERE source = $1",
                    &[&source],
                )?,
            };
            Ok(true)
        })?;
        if found {
            Ok(())
        } else {
            Err(StoreError::NotFound(format!("source {source}")))
        }
    }
}
