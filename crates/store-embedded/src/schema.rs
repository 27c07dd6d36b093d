//! Database schema and its migrations, versioned by `PRAGMA user_version`.
//!
//! Each entry of [`MIGRATIONS`] moves the schema from version `i` to `i + 1`; they run in one
//! immediate transaction, so two processes opening a fresh directory at once do not both
//! create the tables. Never edit a released migration: add one.

use rusqlite::{Connection, TransactionBehavior};

use crate::R;

const MIGRATIONS: &[&str] = &[
    // 0 → 1: the initial schema.
    r#"
    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE domains (
        name TEXT PRIMARY KEY
    ) WITHOUT ROWID;

    CREATE TABLE accounts (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        address       TEXT NOT NULL,
        key           TEXT NOT NULL UNIQUE,   -- local part lower-cased @ domain
        domain        TEXT NOT NULL REFERENCES domains(name),
        password_hash TEXT NOT NULL,
        scram         TEXT
    );

    CREATE TABLE aliases (
        source TEXT PRIMARY KEY,              -- lower-cased address, or @domain (catch-all)
        target TEXT NOT NULL,
        domain TEXT NOT NULL REFERENCES domains(name)
    ) WITHOUT ROWID;

    -- AUTOINCREMENT: a mailbox id is never reused, so a stale id held by a session can
    -- never reach a re-created mailbox.
    CREATE TABLE mailboxes (
        id             INTEGER PRIMARY KEY AUTOINCREMENT,
        account        INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name           TEXT NOT NULL,
        uid_validity   INTEGER NOT NULL,
        uid_next       INTEGER NOT NULL,
        highest_modseq INTEGER NOT NULL,
        recent_floor   INTEGER NOT NULL,      -- UIDs >= this are not yet claimed as recent
        special_use    TEXT,
        noselect       INTEGER NOT NULL DEFAULT 0,
        UNIQUE (account, name)
    );

    CREATE TABLE subscriptions (
        account INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name    TEXT NOT NULL,
        PRIMARY KEY (account, name)
    ) WITHOUT ROWID;

    CREATE TABLE blobs (
        id       TEXT PRIMARY KEY,            -- hex SHA-256 of the normalised bytes
        size     INTEGER NOT NULL,
        refcount INTEGER NOT NULL,
        meta     BLOB NOT NULL                -- MessageMeta::to_bytes
    );
    CREATE INDEX blobs_unreferenced ON blobs(id) WHERE refcount <= 0;

    CREATE TABLE messages (
        mailbox         INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        uid             INTEGER NOT NULL,
        blob            TEXT NOT NULL REFERENCES blobs(id),
        flags           INTEGER NOT NULL,     -- system flag bits (pochta_types::Flags)
        keywords        TEXT NOT NULL,        -- space-separated; keywords are atoms
        internal_date   INTEGER NOT NULL,
        internal_offset INTEGER NOT NULL,
        save_date       INTEGER NOT NULL,
        size            INTEGER NOT NULL,
        modseq          INTEGER NOT NULL,
        PRIMARY KEY (mailbox, uid)
    ) WITHOUT ROWID;
    CREATE INDEX messages_modseq ON messages(mailbox, modseq);

    CREATE TABLE expunged (
        mailbox INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        uid     INTEGER NOT NULL,
        modseq  INTEGER NOT NULL,
        PRIMARY KEY (mailbox, uid)
    ) WITHOUT ROWID;
    CREATE INDEX expunged_modseq ON expunged(mailbox, modseq);

    -- Reference counts follow message rows in the same transaction, whatever path
    -- (append, copy, move, expunge, cascade on mailbox/account delete) adds or removes them.
    CREATE TRIGGER messages_blob_ref AFTER INSERT ON messages BEGIN
        UPDATE blobs SET refcount = refcount + 1 WHERE id = NEW.blob;
    END;
    CREATE TRIGGER messages_blob_unref AFTER DELETE ON messages BEGIN
        UPDATE blobs SET refcount = refcount - 1 WHERE id = OLD.blob;
    END;
    "#,
];

/// Bring the schema to the newest version. Refuses a database newer than this program.
pub(crate) fn migrate(conn: &mut Connection) -> R<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > MIGRATIONS.len() {
        return Err(pochta_store::StoreError::Backend(format!(
            "database schema version {version} is newer than this program ({})",
            MIGRATIONS.len()
        ))
        .into());
    }
    for sql in &MIGRATIONS[version..] {
        tx.execute_batch(sql)?;
    }
    // PRAGMA takes no parameters; the value is our own constant.
    tx.execute_batch(&format!("PRAGMA user_version = {}", MIGRATIONS.len()))?;
    tx.commit()?;
    Ok(())
}
