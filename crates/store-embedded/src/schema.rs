//! Database schema and its migrations, versioned by `PRAGMA user_version`.
//!
//! Each entry of [`MIGRATIONS`] moves the schema from version `i` to `i + 1`; they run in one
//! immediate transaction, so two processes opening a fresh directory at once do not both
//! create the tables. Never edit a released migration: add one.

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::R;
use crate::blobs::BlobFiles;

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
    // 1 → 2: quotas (RFC 9208). Usage is kept exact by triggers in the same transaction as
    // the message rows, like blob reference counts: inserting or deleting a message adjusts
    // its account's row. A mailbox row deleted with messages still in it (a cascade) takes
    // them off first, in a BEFORE trigger, because by the time the cascade deletes the
    // message rows their mailbox row is gone and the message trigger finds no account.
    r#"
    CREATE TABLE quotas (
        account       INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
        storage_limit INTEGER,                -- bytes; NULL is unlimited
        message_limit INTEGER,                -- messages; NULL is unlimited
        used_bytes    INTEGER NOT NULL DEFAULT 0,
        used_messages INTEGER NOT NULL DEFAULT 0
    );
    INSERT INTO quotas (account, used_bytes, used_messages)
        SELECT a.id, coalesce(sum(m.size), 0), count(m.uid)
        FROM accounts a
        LEFT JOIN mailboxes b ON b.account = a.id
        LEFT JOIN messages m ON m.mailbox = b.id
        GROUP BY a.id;

    CREATE TRIGGER accounts_quota AFTER INSERT ON accounts BEGIN
        INSERT INTO quotas (account) VALUES (NEW.id);
    END;
    CREATE TRIGGER messages_usage_add AFTER INSERT ON messages BEGIN
        UPDATE quotas SET used_bytes = used_bytes + NEW.size, used_messages = used_messages + 1
        WHERE account = (SELECT account FROM mailboxes WHERE id = NEW.mailbox);
    END;
    CREATE TRIGGER messages_usage_sub AFTER DELETE ON messages BEGIN
        UPDATE quotas SET used_bytes = used_bytes - OLD.size, used_messages = used_messages - 1
        WHERE account = (SELECT account FROM mailboxes WHERE id = OLD.mailbox);
    END;
    CREATE TRIGGER mailboxes_usage_sub BEFORE DELETE ON mailboxes BEGIN
        UPDATE quotas SET
            used_bytes = used_bytes
                - (SELECT coalesce(sum(size), 0) FROM messages WHERE mailbox = OLD.id),
            used_messages = used_messages
                - (SELECT count(*) FROM messages WHERE mailbox = OLD.id)
        WHERE account = OLD.account;
    END;
    "#,
    // 2 → 3: access control lists (RFC 4314). `grantee` is an account id, or 0 for `anyone`
    // and -1 for `anonymous` (account ids start at 1 and are never reused). Entries go with
    // their mailbox (cascade) and with a deleted grantee account (trigger).
    r#"
    CREATE TABLE acl (
        mailbox INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        grantee INTEGER NOT NULL,
        rights  INTEGER NOT NULL,             -- pochta_types::Rights::bits
        PRIMARY KEY (mailbox, grantee)
    ) WITHOUT ROWID;
    CREATE INDEX acl_grantee ON acl(grantee);
    CREATE TRIGGER accounts_acl AFTER DELETE ON accounts BEGIN
        DELETE FROM acl WHERE grantee = OLD.id;
    END;
    "#,
    // 3 → 4: small messages stored inline. `data` holds the bytes of a blob whose size is at
    // most the store's inline limit, so the commit's WAL fsync covers them (no file, no file
    // and directory fsync); NULL means the bytes are in `blobs/ab/cdef…` as before. Existing
    // rows keep their files. Reference counting and garbage collection are unchanged: deleting
    // the row drops inline bytes with it.
    r#"
    ALTER TABLE blobs ADD COLUMN data BLOB;
    "#,
    // 4 → 5: public folders and per-user \Seen. The public folders belong to a reserved
    // account (key and domain `#public`, which no address can spell, and a password hash
    // that is not a PHC string, so nothing verifies against it); the directory never lists
    // it. `private_seen` holds, for a mailbox with `seen_per_user`, the UIDs each user other
    // than the owner has seen; rows go with their message (trigger), mailbox and account
    // (cascades). Its key starts (mailbox, uid) so the trigger's delete is an index lookup.
    r#"
    INSERT INTO domains (name) VALUES ('#public');
    INSERT INTO accounts (address, key, domain, password_hash)
        VALUES ('#public', '#public', '#public', '!');
    ALTER TABLE mailboxes ADD COLUMN seen_per_user INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE private_seen (
        mailbox INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        uid     INTEGER NOT NULL,
        account INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        PRIMARY KEY (mailbox, uid, account)
    ) WITHOUT ROWID;
    CREATE INDEX private_seen_account ON private_seen(account);
    CREATE TRIGGER messages_private_seen AFTER DELETE ON messages BEGIN
        DELETE FROM private_seen WHERE mailbox = OLD.mailbox AND uid = OLD.uid;
    END;
    "#,
    // 5 → 6: metadata (RFC 5464). `mailbox` NULL is a server entry; `account` is the owner of
    // a `/private/` entry and 0 for a `/shared/` one; names are lower-case. Entries go with
    // their mailbox (cascade) and with the account that owns them (trigger).
    r#"
    CREATE TABLE metadata (
        mailbox INTEGER REFERENCES mailboxes(id) ON DELETE CASCADE,
        account INTEGER NOT NULL,
        name    TEXT NOT NULL,
        value   BLOB NOT NULL
    );
    CREATE UNIQUE INDEX metadata_key ON metadata(ifnull(mailbox, 0), account, name);
    CREATE TRIGGER accounts_metadata AFTER DELETE ON accounts BEGIN
        DELETE FROM metadata WHERE account = OLD.id;
    END;
    "#,
    // 6 → 7: URLAUTH mailbox access keys (RFC 4467 §2.2): one secret per (account, mailbox),
    // the account being the URL's owner, who need not own the mailbox (a shared one). Keys
    // go with their mailbox and their account (cascades).
    r#"
    CREATE TABLE access_keys (
        account INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        mailbox INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        key     BLOB NOT NULL,
        PRIMARY KEY (account, mailbox)
    ) WITHOUT ROWID;
    CREATE INDEX access_keys_mailbox ON access_keys(mailbox);
    "#,
    // 7 → 8: search and sort keys (bench/README.md "Big mailbox"). `blob_keys` holds what
    // is extracted from a blob when its row is made (the sent date, the Date: header's own
    // day, the SORT/THREAD fields as `pochta_message::encode_sort_fields`, the top-level
    // header section); `message_keys` a compact copy per message, with its INTERNALDATE and
    // size, in (mailbox, uid) order, so that SORT/THREAD/SENT* read neither `blobs` (big rows,
    // a text key) nor decode whole metadata. Triggers keep `message_keys` in step with
    // `messages` whatever path adds or removes a row; existing blobs are filled by
    // `backfill_keys` in the same transaction.
    r#"
    CREATE TABLE blob_keys (
        id       TEXT PRIMARY KEY,            -- blobs.id
        sent     INTEGER,                     -- Date: in UTC, unix seconds; NULL without one
        sent_day INTEGER,                     -- the Date: header's own day since 1970-01-01
        fields   BLOB NOT NULL,
        header   BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE message_keys (
        mailbox  INTEGER NOT NULL,
        uid      INTEGER NOT NULL,
        arrival  INTEGER NOT NULL,            -- messages.internal_date
        size     INTEGER NOT NULL,
        sent     INTEGER,
        sent_day INTEGER,
        fields   BLOB NOT NULL,
        PRIMARY KEY (mailbox, uid)
    ) WITHOUT ROWID;
    CREATE TRIGGER messages_keys_add AFTER INSERT ON messages BEGIN
        INSERT OR REPLACE INTO message_keys (mailbox, uid, arrival, size, sent, sent_day, fields)
            SELECT NEW.mailbox, NEW.uid, NEW.internal_date, NEW.size, k.sent, k.sent_day, k.fields
            FROM blob_keys k WHERE k.id = NEW.blob;
    END;
    CREATE TRIGGER messages_keys_del AFTER DELETE ON messages BEGIN
        DELETE FROM message_keys WHERE mailbox = OLD.mailbox AND uid = OLD.uid;
    END;
    CREATE TRIGGER blobs_keys_del AFTER DELETE ON blobs BEGIN
        DELETE FROM blob_keys WHERE id = OLD.id;
    END;

    -- The distinct keyword sets of a mailbox's messages with how many messages have each,
    -- so that SELECT lists the keywords without reading every message.
    CREATE TABLE keyword_sets (
        mailbox  INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        keywords TEXT NOT NULL,               -- messages.keywords, never ''
        n        INTEGER NOT NULL,
        PRIMARY KEY (mailbox, keywords)
    ) WITHOUT ROWID;
    INSERT INTO keyword_sets (mailbox, keywords, n)
        SELECT mailbox, keywords, count(*) FROM messages WHERE keywords <> ''
        GROUP BY mailbox, keywords;
    CREATE TRIGGER messages_kw_add AFTER INSERT ON messages WHEN NEW.keywords <> '' BEGIN
        INSERT INTO keyword_sets (mailbox, keywords, n) VALUES (NEW.mailbox, NEW.keywords, 1)
            ON CONFLICT (mailbox, keywords) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER messages_kw_del AFTER DELETE ON messages WHEN OLD.keywords <> '' BEGIN
        UPDATE keyword_sets SET n = n - 1 WHERE mailbox = OLD.mailbox AND keywords = OLD.keywords;
        DELETE FROM keyword_sets WHERE mailbox = OLD.mailbox AND keywords = OLD.keywords AND n <= 0;
    END;
    CREATE TRIGGER messages_kw_old AFTER UPDATE OF keywords ON messages
        WHEN OLD.keywords <> NEW.keywords AND OLD.keywords <> '' BEGIN
        UPDATE keyword_sets SET n = n - 1 WHERE mailbox = OLD.mailbox AND keywords = OLD.keywords;
        DELETE FROM keyword_sets WHERE mailbox = OLD.mailbox AND keywords = OLD.keywords AND n <= 0;
    END;
    CREATE TRIGGER messages_kw_new AFTER UPDATE OF keywords ON messages
        WHEN OLD.keywords <> NEW.keywords AND NEW.keywords <> '' BEGIN
        INSERT INTO keyword_sets (mailbox, keywords, n) VALUES (NEW.mailbox, NEW.keywords, 1)
            ON CONFLICT (mailbox, keywords) DO UPDATE SET n = n + 1;
    END;
    "#,
    // 8 → 9: indexes for SEARCH on big mailboxes (bench/README.md "Big mailbox"): a system
    // flag (`UID SEARCH FLAGGED`) reads the messages with that flag through `messages_flags`
    // (the flag bits as an IN list, UID and MODSEQ covered) instead of scanning the mailbox;
    // a sent-day range (`SENTBEFORE`) reads `message_keys_sent_day`.
    r#"
    CREATE INDEX messages_flags ON messages(mailbox, flags, modseq);
    CREATE INDEX message_keys_sent_day ON message_keys(mailbox, sent_day);
    "#,
    // 9 → 10: the base subject and its reply mark in their own columns (`blob_keys` at
    // delivery, `message_keys` by the trigger), and a covering index of what SORT reads when
    // it compares no address and THREAD is not asked (bench/README.md "Big mailbox"): SORT
    // (SUBJECT), (DATE), (ARRIVAL), (SIZE) read that index, a few dozen octets per message,
    // instead of the table's rows with the encoded fields (references included) and decode
    // nothing. Existing rows are filled by `fill_subjects` in the same transaction.
    r#"
    ALTER TABLE blob_keys ADD COLUMN subject TEXT;
    ALTER TABLE blob_keys ADD COLUMN reply INTEGER;
    ALTER TABLE message_keys ADD COLUMN subject TEXT;
    ALTER TABLE message_keys ADD COLUMN reply INTEGER;
    DROP TRIGGER messages_keys_add;
    CREATE TRIGGER messages_keys_add AFTER INSERT ON messages BEGIN
        INSERT OR REPLACE INTO message_keys
            (mailbox, uid, arrival, size, sent, sent_day, fields, subject, reply)
            SELECT NEW.mailbox, NEW.uid, NEW.internal_date, NEW.size, k.sent, k.sent_day,
                   k.fields, k.subject, k.reply
            FROM blob_keys k WHERE k.id = NEW.blob;
    END;
    CREATE INDEX message_keys_sort ON message_keys(mailbox, uid, arrival, size, sent, subject, reply);
    "#,
];

/// The schema version that added `blob_keys`/`message_keys` (filled for old rows by
/// [`backfill_keys`]).
const KEYS_VERSION: usize = 8;
/// The schema version that added the subject columns (filled for old rows by
/// [`fill_subjects`]).
const SUBJECT_VERSION: usize = 10;

/// Bring the schema to the newest version. Refuses a database newer than this program.
pub(crate) fn migrate(conn: &mut Connection, blobs: &BlobFiles) -> R<()> {
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
    if version < KEYS_VERSION && MIGRATIONS.len() >= KEYS_VERSION {
        backfill_keys(&tx, blobs)?;
    } else if version < SUBJECT_VERSION && MIGRATIONS.len() >= SUBJECT_VERSION {
        fill_subjects(&tx)?;
    }
    // PRAGMA takes no parameters; the value is our own constant.
    tx.execute_batch(&format!("PRAGMA user_version = {}", MIGRATIONS.len()))?;
    tx.commit()?;
    Ok(())
}

/// What `blob_keys` holds for one blob.
pub(crate) struct BlobKeys {
    /// The Date: header in UTC, unix seconds.
    sent: Option<i64>,
    /// The Date: header's own day.
    sent_day: Option<i64>,
    /// `pochta_message::encode_sort_fields` of the SORT/THREAD fields.
    fields: Vec<u8>,
    /// The base subject and whether it marked a reply (also inside `fields`).
    subject: String,
    reply: bool,
    /// The top-level header section.
    header: Vec<u8>,
}

impl BlobKeys {
    fn new(
        meta: &pochta_message::MessageMeta,
        f: &pochta_message::SortFields,
        header: Vec<u8>,
    ) -> BlobKeys {
        BlobKeys {
            sent: meta.sent_date(),
            sent_day: meta.sent_day(),
            fields: pochta_message::encode_sort_fields(f),
            subject: f.base_subject.clone(),
            reply: f.reply,
            header,
        }
    }
}

/// The keys of a blob from its bytes and parsed metadata.
pub(crate) fn blob_keys(raw: &[u8], meta: &pochta_message::MessageMeta) -> BlobKeys {
    let fields = pochta_message::sort_fields(raw, meta);
    BlobKeys::new(meta, &fields, pochta_message::header_section(raw).to_vec())
}

pub(crate) fn insert_blob_keys(tx: &Transaction<'_>, id: &str, k: &BlobKeys) -> R<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO blob_keys (id, sent, sent_day, fields, header, subject, reply)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(rusqlite::params![
        id, k.sent, k.sent_day, k.fields, k.header, k.subject, k.reply
    ])?;
    Ok(())
}

/// Fills `blob_keys` for every blob stored before schema 8, then `message_keys` for every
/// message. A blob whose bytes are missing (a lost file) gets the keys its metadata holds
/// and an empty header.
fn backfill_keys(tx: &Transaction<'_>, blobs: &BlobFiles) -> R<()> {
    let todo: Vec<(String, Vec<u8>, Option<Vec<u8>>)> = tx
        .prepare("SELECT id, meta, data FROM blobs WHERE id NOT IN (SELECT id FROM blob_keys)")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, meta, data) in todo {
        let Ok(meta) = pochta_message::MessageMeta::from_bytes(&meta) else {
            continue;
        };
        let raw = match data {
            Some(d) => Some(d),
            None => blobs.read(&id).ok(),
        };
        let keys = match &raw {
            Some(raw) => blob_keys(raw, &meta),
            None => BlobKeys::new(
                &meta,
                &meta.sort_fields().cloned().unwrap_or_default(),
                Vec::new(),
            ),
        };
        insert_blob_keys(tx, &id, &keys)?;
    }
    tx.execute_batch(
        "INSERT OR REPLACE INTO message_keys
             (mailbox, uid, arrival, size, sent, sent_day, fields, subject, reply)
         SELECT m.mailbox, m.uid, m.internal_date, m.size, k.sent, k.sent_day, k.fields,
                k.subject, k.reply
         FROM messages m JOIN blob_keys k ON k.id = m.blob",
    )?;
    Ok(())
}

/// Fills the subject columns of `blob_keys` stored before schema 10 from their encoded
/// fields, then those of `message_keys` from `blob_keys`. Fields that do not decode give an
/// empty subject (as reading them for SORT would fail anyway).
fn fill_subjects(tx: &Transaction<'_>) -> R<()> {
    let todo: Vec<(String, Vec<u8>)> = tx
        .prepare("SELECT id, fields FROM blob_keys WHERE subject IS NULL")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let need = pochta_message::SortNeed {
        subject: true,
        ..pochta_message::SortNeed::NONE
    };
    let mut set = tx.prepare("UPDATE blob_keys SET subject = ?2, reply = ?3 WHERE id = ?1")?;
    for (id, fields) in todo {
        let f = pochta_message::decode_sort_fields_for(&fields, need).unwrap_or_default();
        set.execute(rusqlite::params![id, f.base_subject, f.reply])?;
    }
    tx.execute_batch(
        "UPDATE message_keys SET (subject, reply) = (
             SELECT k.subject, k.reply FROM messages m JOIN blob_keys k ON k.id = m.blob
             WHERE m.mailbox = message_keys.mailbox AND m.uid = message_keys.uid)",
    )?;
    Ok(())
}
