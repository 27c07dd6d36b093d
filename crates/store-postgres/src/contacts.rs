//! Address books and contacts in PostgreSQL: [`PgContactStore`].
//!
//! Implementation notes (the rules of [`pochta_store::contacts`] apply on top):
//! - Tables `contact_books` (per account, unique name, the sync counter `token`),
//!   `contacts` (the vCard bytes as sent, their SHA-256 as the ETag, the token of the last
//!   change), `contact_tombstones` (name and token of each deletion, removed when the name
//!   is written again), like the embedded `contacts.sqlite3`.
//! - A write locks its book's row first (`FOR UPDATE`), then checks the precondition and
//!   raises the token in the same transaction: writers of one book serialise across nodes,
//!   so two clients with the same `If-Match` cannot both succeed.
//! - Deleting an account deletes its books (a trigger), unlike the embedded file, which the
//!   mail store's account deletion does not reach.

use pochta_store::contacts::{
    AddressBook, Changes, Contact, ContactStore, DEFAULT_BOOK, Precondition, Put,
};
use pochta_store::{Result, StoreError};
use pochta_types::AccountId;
use postgres::Row;
use sha2::{Digest, Sha256};

use crate::{Pool, R, Tx};

/// Address books on a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PgContactStore {
    pool: Pool,
}

impl PgContactStore {
    /// Connects and migrates (see [`Pool::open`]).
    pub fn open(url: &str, pool_size: u32) -> Result<PgContactStore> {
        Ok(PgContactStore {
            pool: Pool::open(url, pool_size)?,
        })
    }

    /// The address books over an open pool (shared with the mail store).
    pub fn with_pool(pool: Pool) -> PgContactStore {
        PgContactStore { pool }
    }
}

const BOOK_COLS: &str = "id, account, name, display_name, description, token";

fn etag(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn book_row(r: &Row) -> AddressBook {
    AddressBook {
        id: r.get(0),
        account: AccountId(r.get(1)),
        name: r.get(2),
        display_name: r.get(3),
        description: r.get(4),
        token: u64::try_from(r.get::<_, i64>(5)).unwrap_or(0),
    }
}

fn contact_row(r: &Row) -> Contact {
    Contact {
        name: r.get(0),
        etag: r.get(1),
        data: r.get(2),
        token: u64::try_from(r.get::<_, i64>(3)).unwrap_or(0),
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

/// Locks the book's row (`NotFound` if there is none) and returns the contact's ETag.
fn lock_and_etag(tx: &mut Tx<'_>, book: i64, name: &str) -> R<Option<String>> {
    if tx
        .query_opt(
            "SELECT 1 FROM contact_books WHERE id = $1 FOR UPDATE",
            &[&book],
        )?
        .is_none()
    {
        return Err(StoreError::NotFound(format!("address book {book}")).into());
    }
    Ok(tx
        .query_opt(
            "SELECT etag FROM contacts WHERE book = $1 AND name = $2",
            &[&book, &name],
        )?
        .map(|r| r.get(0)))
}

/// Raises the (locked) book's token; returns the new value.
fn bump(tx: &mut Tx<'_>, book: i64) -> R<i64> {
    Ok(tx
        .query_one(
            "UPDATE contact_books SET token = token + 1 WHERE id = $1 RETURNING token",
            &[&book],
        )?
        .get(0))
}

impl ContactStore for PgContactStore {
    fn address_books(&self, account: AccountId) -> Result<Vec<AddressBook>> {
        Ok(self.pool.write(|tx| {
            tx.execute(
                "INSERT INTO contact_books (account, name, display_name, description)
                 SELECT $1, $2, 'Contacts', ''
                 WHERE NOT EXISTS (SELECT 1 FROM contact_books WHERE account = $1)
                 ON CONFLICT (account, name) DO NOTHING",
                &[&account.0, &DEFAULT_BOOK],
            )?;
            Ok(tx
                .query(
                    &format!(
                        "SELECT {BOOK_COLS} FROM contact_books WHERE account = $1 ORDER BY name"
                    ),
                    &[&account.0],
                )?
                .iter()
                .map(book_row)
                .collect())
        })?)
    }

    fn address_book(&self, account: AccountId, name: &str) -> Result<Option<AddressBook>> {
        Ok(self.pool.read(|tx| {
            Ok(tx
                .query_opt(
                    &format!(
                        "SELECT {BOOK_COLS} FROM contact_books WHERE account = $1 AND name = $2"
                    ),
                    &[&account.0, &name],
                )?
                .map(|r| book_row(&r)))
        })?)
    }

    fn create_address_book(
        &self,
        account: AccountId,
        name: &str,
        display_name: &str,
        description: &str,
    ) -> Result<AddressBook> {
        let r = self.pool.write(|tx| {
            Ok(book_row(&tx.query_one(
                &format!(
                    "INSERT INTO contact_books (account, name, display_name, description)
                     VALUES ($1, $2, $3, $4) RETURNING {BOOK_COLS}"
                ),
                &[&account.0, &name, &display_name, &description],
            )?))
        });
        match r {
            Err(e) if e.unique_violation() => {
                Err(StoreError::AlreadyExists(format!("address book {name}")))
            }
            r => Ok(r?),
        }
    }

    fn update_address_book(
        &self,
        account: AccountId,
        name: &str,
        display_name: Option<&str>,
        description: Option<&str>,
    ) -> Result<()> {
        let n = self.pool.write(|tx| {
            tx.execute(
                "UPDATE contact_books SET display_name = coalesce($3, display_name),
                 description = coalesce($4, description) WHERE account = $1 AND name = $2",
                &[&account.0, &name, &display_name, &description],
            )
        })?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("address book {name}")));
        }
        Ok(())
    }

    fn delete_address_book(&self, account: AccountId, name: &str) -> Result<()> {
        let n = self.pool.write(|tx| {
            tx.execute(
                "DELETE FROM contact_books WHERE account = $1 AND name = $2",
                &[&account.0, &name],
            )
        })?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("address book {name}")));
        }
        Ok(())
    }

    fn contacts(&self, book: i64) -> Result<Vec<Contact>> {
        Ok(self.pool.read(|tx| {
            Ok(tx
                .query(
                    "SELECT name, etag, data, token FROM contacts WHERE book = $1 ORDER BY name",
                    &[&book],
                )?
                .iter()
                .map(contact_row)
                .collect())
        })?)
    }

    fn contact(&self, book: i64, name: &str) -> Result<Option<Contact>> {
        Ok(self.pool.read(|tx| {
            Ok(tx
                .query_opt(
                    "SELECT name, etag, data, token FROM contacts WHERE book = $1 AND name = $2",
                    &[&book, &name],
                )?
                .map(|r| contact_row(&r)))
        })?)
    }

    fn put_contact(&self, book: i64, name: &str, data: &[u8], pre: Precondition) -> Result<Put> {
        let tag = etag(data);
        Ok(self.pool.write(|tx| {
            let current = lock_and_etag(tx, book, name)?;
            if !holds(pre, current.as_deref()) {
                return Ok(Put::PreconditionFailed);
            }
            let token = bump(tx, book)?;
            tx.execute(
                "INSERT INTO contacts (book, name, etag, data, token) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (book, name) DO UPDATE SET etag = $3, data = $4, token = $5",
                &[&book, &name, &tag, &data, &token],
            )?;
            tx.execute(
                "DELETE FROM contact_tombstones WHERE book = $1 AND name = $2",
                &[&book, &name],
            )?;
            Ok(match current {
                Some(_) => Put::Replaced { etag: tag.clone() },
                None => Put::Created { etag: tag.clone() },
            })
        })?)
    }

    fn delete_contact(&self, book: i64, name: &str, pre: Precondition) -> Result<bool> {
        Ok(self.pool.write(|tx| {
            let current = lock_and_etag(tx, book, name)?;
            if current.is_none() || !holds(pre, current.as_deref()) {
                return Ok(false);
            }
            let token = bump(tx, book)?;
            tx.execute(
                "DELETE FROM contacts WHERE book = $1 AND name = $2",
                &[&book, &name],
            )?;
            tx.execute(
                "INSERT INTO contact_tombstones (book, name, token) VALUES ($1, $2, $3)
                 ON CONFLICT (book, name) DO UPDATE SET token = $3",
                &[&book, &name, &token],
            )?;
            Ok(true)
        })?)
    }

    fn changes_since(&self, book: i64, token: u64) -> Result<Option<Changes>> {
        // One snapshot: the token and the rows agree.
        Ok(self.pool.snapshot(|tx| {
            let Some(current) = tx
                .query_opt("SELECT token FROM contact_books WHERE id = $1", &[&book])?
                .map(|r| r.get::<_, i64>(0))
            else {
                return Err(StoreError::NotFound(format!("address book {book}")).into());
            };
            let Ok(since) = i64::try_from(token) else {
                return Ok(None);
            };
            if since > current {
                return Ok(None);
            }
            let changed = tx
                .query(
                    "SELECT name, etag, data, token FROM contacts WHERE book = $1 AND token > $2
                     ORDER BY name",
                    &[&book, &since],
                )?
                .iter()
                .map(contact_row)
                .collect();
            let deleted = if since == 0 {
                Vec::new()
            } else {
                tx.query(
                    "SELECT name FROM contact_tombstones WHERE book = $1 AND token > $2
                     ORDER BY name",
                    &[&book, &since],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect()
            };
            Ok(Some(Changes {
                changed,
                deleted,
                token: u64::try_from(current).unwrap_or(0),
            }))
        })?)
    }
}
