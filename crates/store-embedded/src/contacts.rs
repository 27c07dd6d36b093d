//! Address books and contacts in SQLite: `data_dir/contacts.sqlite3`,
//! [`EmbeddedContactStore`].
//!
//! Implementation notes (the rules of [`pochta_store::contacts`] apply on top):
//! - A file of its own (like the queue and the collector), mode 0600, WAL with
//!   `synchronous = FULL`; one connection behind a mutex (contact writes are rare and small).
//! - Tables: `books` (per account, unique name, the sync counter `token`), `contacts` (the
//!   vCard bytes as a BLOB, their SHA-256 as the ETag, the token of the last change),
//!   `tombstones` (name and token of each deletion, removed when the name is written again).
//!   Every write raises the book's token and writes its rows in one `IMMEDIATE`
//!   transaction, after checking the precondition inside it.
//! - Accounts are the mail store's `AccountId`s; deleting an account does not reach this file
//!   (its books stay, unreachable, until a new account gets the same id — ids are never
//!   reused by the embedded mail store).

use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use parking_lot::Mutex;
use pochta_store::contacts::{
    AddressBook, Changes, Contact, ContactStore, DEFAULT_BOOK, Precondition, Put,
};
use pochta_store::{Result, StoreError};
use pochta_types::AccountId;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use sha2::{Digest, Sha256};

/// The file name of the contacts database inside `data_dir`.
pub const CONTACTS_FILE: &str = "contacts.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS books (
    id INTEGER PRIMARY KEY,
    account INTEGER NOT NULL,
    name TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description TEXT NOT NULL,
    token INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account, name)
);
CREATE TABLE IF NOT EXISTS contacts (
    book INTEGER NOT NULL REFERENCES books(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    etag TEXT NOT NULL,
    data BLOB NOT NULL,
    token INTEGER NOT NULL,
    PRIMARY KEY (book, name)
);
CREATE TABLE IF NOT EXISTS tombstones (
    book INTEGER NOT NULL REFERENCES books(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token INTEGER NOT NULL,
    PRIMARY KEY (book, name)
);
";

/// Contacts in `data_dir/contacts.sqlite3`.
pub struct EmbeddedContactStore {
    db: Mutex<Connection>,
}

fn db(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn etag(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn book_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AddressBook> {
    Ok(AddressBook {
        id: r.get(0)?,
        account: AccountId(r.get(1)?),
        name: r.get(2)?,
        display_name: r.get(3)?,
        description: r.get(4)?,
        token: r.get::<_, i64>(5)? as u64,
    })
}

fn contact_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Contact> {
    Ok(Contact {
        name: r.get(0)?,
        etag: r.get(1)?,
        data: r.get(2)?,
        token: r.get::<_, i64>(3)? as u64,
    })
}

const BOOK_COLS: &str = "id, account, name, display_name, description, token";

impl EmbeddedContactStore {
    /// Opens (creating if needed) `data_dir/contacts.sqlite3`.
    pub fn open(data_dir: &Path) -> Result<EmbeddedContactStore> {
        let io = |e: std::io::Error| StoreError::Backend(format!("{}: {e}", data_dir.display()));
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let path = data_dir.join(CONTACTS_FILE);
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(io)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        let conn = Connection::open(&path).map_err(db)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(db)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
        )
        .map_err(db)?;
        conn.execute_batch(SCHEMA).map_err(db)?;
        Ok(EmbeddedContactStore {
            db: Mutex::new(conn),
        })
    }

    /// Raises the book's token inside `tx`; returns the new value.
    fn bump(tx: &rusqlite::Transaction<'_>, book: i64) -> Result<i64> {
        tx.query_row(
            "UPDATE books SET token = token + 1 WHERE id = ?1 RETURNING token",
            params![book],
            |r| r.get(0),
        )
        .optional()
        .map_err(db)?
        .ok_or_else(|| StoreError::NotFound(format!("address book {book}")))
    }
}

/// Whether `pre` holds for a contact whose current ETag is `current`.
fn holds(pre: Precondition, current: Option<&str>) -> bool {
    match pre {
        Precondition::None => true,
        Precondition::IfMatch(tag) => current == Some(tag),
        Precondition::IfNoneMatch => current.is_none(),
    }
}

impl ContactStore for EmbeddedContactStore {
    fn address_books(&self, account: AccountId) -> Result<Vec<AddressBook>> {
        let conn = self.db.lock();
        conn.execute(
            "INSERT INTO books (account, name, display_name, description)
             SELECT ?1, ?2, 'Contacts', '' WHERE NOT EXISTS (SELECT 1 FROM books WHERE account = ?1)",
            params![account.0, DEFAULT_BOOK],
        )
        .map_err(db)?;
        let mut st = conn
            .prepare(&format!(
                "SELECT {BOOK_COLS} FROM books WHERE account = ?1 ORDER BY name"
            ))
            .map_err(db)?;
        let rows = st.query_map(params![account.0], book_row).map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    fn address_book(&self, account: AccountId, name: &str) -> Result<Option<AddressBook>> {
        self.db
            .lock()
            .query_row(
                &format!("SELECT {BOOK_COLS} FROM books WHERE account = ?1 AND name = ?2"),
                params![account.0, name],
                book_row,
            )
            .optional()
            .map_err(db)
    }

    fn create_address_book(
        &self,
        account: AccountId,
        name: &str,
        display_name: &str,
        description: &str,
    ) -> Result<AddressBook> {
        let conn = self.db.lock();
        let r = conn.query_row(
            &format!(
                "INSERT INTO books (account, name, display_name, description) VALUES (?1, ?2, ?3, ?4)
                 RETURNING {BOOK_COLS}"
            ),
            params![account.0, name, display_name, description],
            book_row,
        );
        match r {
            Ok(b) => Ok(b),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::AlreadyExists(format!("address book {name}")))
            }
            Err(e) => Err(db(e)),
        }
    }

    fn update_address_book(
        &self,
        account: AccountId,
        name: &str,
        display_name: Option<&str>,
        description: Option<&str>,
    ) -> Result<()> {
        let n = self
            .db
            .lock()
            .execute(
                "UPDATE books SET display_name = coalesce(?3, display_name),
                 description = coalesce(?4, description) WHERE account = ?1 AND name = ?2",
                params![account.0, name, display_name, description],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("address book {name}")));
        }
        Ok(())
    }

    fn delete_address_book(&self, account: AccountId, name: &str) -> Result<()> {
        let n = self
            .db
            .lock()
            .execute(
                "DELETE FROM books WHERE account = ?1 AND name = ?2",
                params![account.0, name],
            )
            .map_err(db)?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("address book {name}")));
        }
        Ok(())
    }

    fn contacts(&self, book: i64) -> Result<Vec<Contact>> {
        let conn = self.db.lock();
        let mut st = conn
            .prepare("SELECT name, etag, data, token FROM contacts WHERE book = ?1 ORDER BY name")
            .map_err(db)?;
        let rows = st.query_map(params![book], contact_row).map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)
    }

    fn contact(&self, book: i64, name: &str) -> Result<Option<Contact>> {
        self.db
            .lock()
            .query_row(
                "SELECT name, etag, data, token FROM contacts WHERE book = ?1 AND name = ?2",
                params![book, name],
                contact_row,
            )
            .optional()
            .map_err(db)
    }

    fn put_contact(&self, book: i64, name: &str, data: &[u8], pre: Precondition) -> Result<Put> {
        let tag = etag(data);
        let mut conn = self.db.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let current: Option<String> = tx
            .query_row(
                "SELECT etag FROM contacts WHERE book = ?1 AND name = ?2",
                params![book, name],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        if !holds(pre, current.as_deref()) {
            return Ok(Put::PreconditionFailed);
        }
        let token = Self::bump(&tx, book)?;
        tx.execute(
            "INSERT INTO contacts (book, name, etag, data, token) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (book, name) DO UPDATE SET etag = ?3, data = ?4, token = ?5",
            params![book, name, tag, data, token],
        )
        .map_err(db)?;
        tx.execute(
            "DELETE FROM tombstones WHERE book = ?1 AND name = ?2",
            params![book, name],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(match current {
            Some(_) => Put::Replaced { etag: tag },
            None => Put::Created { etag: tag },
        })
    }

    fn delete_contact(&self, book: i64, name: &str, pre: Precondition) -> Result<bool> {
        let mut conn = self.db.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db)?;
        let current: Option<String> = tx
            .query_row(
                "SELECT etag FROM contacts WHERE book = ?1 AND name = ?2",
                params![book, name],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        if current.is_none() || !holds(pre, current.as_deref()) {
            return Ok(false);
        }
        let token = Self::bump(&tx, book)?;
        tx.execute(
            "DELETE FROM contacts WHERE book = ?1 AND name = ?2",
            params![book, name],
        )
        .map_err(db)?;
        tx.execute(
            "INSERT INTO tombstones (book, name, token) VALUES (?1, ?2, ?3)
             ON CONFLICT (book, name) DO UPDATE SET token = ?3",
            params![book, name, token],
        )
        .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(true)
    }

    fn changes_since(&self, book: i64, token: u64) -> Result<Option<Changes>> {
        let mut conn = self.db.lock();
        // One read transaction: the token and the rows agree.
        let tx = conn.transaction().map_err(db)?;
        let current: Option<i64> = tx
            .query_row(
                "SELECT token FROM books WHERE id = ?1",
                params![book],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)?;
        let Some(current) = current else {
            return Err(StoreError::NotFound(format!("address book {book}")));
        };
        let Ok(since) = i64::try_from(token) else {
            return Ok(None);
        };
        if since > current {
            return Ok(None);
        }
        let changed = {
            let mut st = tx
                .prepare(
                    "SELECT name, etag, data, token FROM contacts WHERE book = ?1 AND token > ?2
                     ORDER BY name",
                )
                .map_err(db)?;
            let rows = st
                .query_map(params![book, since], contact_row)
                .map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)?
        };
        let deleted = if since == 0 {
            Vec::new()
        } else {
            let mut st = tx
                .prepare("SELECT name FROM tombstones WHERE book = ?1 AND token > ?2 ORDER BY name")
                .map_err(db)?;
            let rows = st
                .query_map(params![book, since], |r| r.get::<_, String>(0))
                .map_err(db)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)?
        };
        Ok(Some(Changes {
            changed,
            deleted,
            token: current as u64,
        }))
    }
}
