//! Database schema and its migrations, versioned in `pochta_schema`.
//!
//! Each entry of [`MIGRATIONS`] moves the schema from version `i` to `i + 1`. They run in
//! one transaction under a transaction-scoped advisory lock, so several nodes starting at
//! once on a fresh database apply each migration exactly once; a database newer than this
//! program is refused. Never edit a released migration: add one.
//!
//! Text that is compared or sorted (names, keys) is `COLLATE "C"`: byte order, like the
//! embedded store's SQLite, whatever the database's locale.

use postgres::Client;

use crate::{Error, R};

/// The advisory lock key under which migrations run ("pochta" in ASCII).
const MIGRATION_LOCK: i64 = 0x706f_6368_7461;

pub(crate) const MIGRATIONS: &[&str] = &[
    // 0 → 1: the mail store (directory, mailboxes, messages, blobs, quotas, ACLs, public
    // folders, per-user \Seen), the outbound queue and the collector's state.
    r#"
    CREATE TABLE counters (
        name  TEXT COLLATE "C" PRIMARY KEY,
        value BIGINT NOT NULL
    );

    CREATE TABLE domains (
        name TEXT COLLATE "C" PRIMARY KEY
    );

    CREATE TABLE accounts (
        id            BIGSERIAL PRIMARY KEY,
        address       TEXT NOT NULL,
        key           TEXT COLLATE "C" NOT NULL UNIQUE,  -- local part lower-cased @ domain
        domain        TEXT COLLATE "C" NOT NULL REFERENCES domains(name),
        password_hash TEXT NOT NULL,
        scram         TEXT
    );

    CREATE TABLE aliases (
        source TEXT COLLATE "C" PRIMARY KEY,             -- lower-cased address, or @domain
        target TEXT NOT NULL,
        domain TEXT COLLATE "C" NOT NULL REFERENCES domains(name)
    );

    -- BIGSERIAL: a mailbox id is never reused.
    CREATE TABLE mailboxes (
        id             BIGSERIAL PRIMARY KEY,
        account        BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name           TEXT COLLATE "C" NOT NULL,
        uid_validity   BIGINT NOT NULL,
        uid_next       BIGINT NOT NULL,
        highest_modseq BIGINT NOT NULL,
        recent_floor   BIGINT NOT NULL,                  -- UIDs >= this are not yet claimed
        special_use    TEXT,
        noselect       BOOLEAN NOT NULL DEFAULT FALSE,
        seen_per_user  BOOLEAN NOT NULL DEFAULT FALSE,
        UNIQUE (account, name)
    );

    CREATE TABLE subscriptions (
        account BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        name    TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (account, name)
    );

    CREATE TABLE blobs (
        id       TEXT COLLATE "C" PRIMARY KEY,           -- hex SHA-256 of the normalised bytes
        size     BIGINT NOT NULL,
        refcount BIGINT NOT NULL,
        meta     BYTEA NOT NULL,                         -- MessageMeta::to_bytes
        data     BYTEA NOT NULL
    );
    CREATE INDEX blobs_unreferenced ON blobs(id) WHERE refcount <= 0;

    CREATE TABLE messages (
        mailbox         BIGINT NOT NULL REFERENCES mailboxes(id),
        uid             BIGINT NOT NULL,
        blob            TEXT COLLATE "C" NOT NULL REFERENCES blobs(id),
        flags           SMALLINT NOT NULL,               -- system flag bits
        keywords        TEXT NOT NULL,                   -- space-separated
        internal_date   BIGINT NOT NULL,
        internal_offset SMALLINT NOT NULL,
        save_date       BIGINT NOT NULL,
        size            BIGINT NOT NULL,
        modseq          BIGINT NOT NULL,
        PRIMARY KEY (mailbox, uid)
    );
    CREATE INDEX messages_modseq ON messages(mailbox, modseq);

    CREATE TABLE expunged (
        mailbox BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        uid     BIGINT NOT NULL,
        modseq  BIGINT NOT NULL,
        PRIMARY KEY (mailbox, uid)
    );
    CREATE INDEX expunged_modseq ON expunged(mailbox, modseq);

    CREATE TABLE quotas (
        account       BIGINT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
        storage_limit BIGINT,
        message_limit BIGINT,
        used_bytes    BIGINT NOT NULL DEFAULT 0,
        used_messages BIGINT NOT NULL DEFAULT 0
    );

    CREATE TABLE acl (
        mailbox BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        grantee BIGINT NOT NULL,                         -- account id, 0 anyone, -1 anonymous
        rights  INTEGER NOT NULL,
        PRIMARY KEY (mailbox, grantee)
    );
    CREATE INDEX acl_grantee ON acl(grantee);

    CREATE TABLE private_seen (
        mailbox BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        uid     BIGINT NOT NULL,
        account BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        PRIMARY KEY (mailbox, uid, account)
    );
    CREATE INDEX private_seen_account ON private_seen(account);

    -- Reference counts, quota usage and per-user \Seen follow message rows in the same
    -- transaction, whatever path adds or removes them. A mailbox row takes its messages
    -- with it (BEFORE DELETE), so the message triggers still find its account.
    CREATE FUNCTION pochta_message_added() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE blobs SET refcount = refcount + 1 WHERE id = NEW.blob;
        UPDATE quotas SET used_bytes = used_bytes + NEW.size, used_messages = used_messages + 1
        WHERE account = (SELECT account FROM mailboxes WHERE id = NEW.mailbox);
        RETURN NULL;
    END $$;
    CREATE FUNCTION pochta_message_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE blobs SET refcount = refcount - 1 WHERE id = OLD.blob;
        UPDATE quotas SET used_bytes = used_bytes - OLD.size, used_messages = used_messages - 1
        WHERE account = (SELECT account FROM mailboxes WHERE id = OLD.mailbox);
        DELETE FROM private_seen WHERE mailbox = OLD.mailbox AND uid = OLD.uid;
        RETURN NULL;
    END $$;
    CREATE FUNCTION pochta_mailbox_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM messages WHERE mailbox = OLD.id;
        RETURN OLD;
    END $$;
    CREATE FUNCTION pochta_account_added() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO quotas (account) VALUES (NEW.id);
        RETURN NULL;
    END $$;
    CREATE FUNCTION pochta_account_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM mailboxes WHERE account = OLD.id;
        DELETE FROM acl WHERE grantee = OLD.id;
        RETURN OLD;
    END $$;
    CREATE TRIGGER messages_added AFTER INSERT ON messages
        FOR EACH ROW EXECUTE FUNCTION pochta_message_added();
    CREATE TRIGGER messages_removed AFTER DELETE ON messages
        FOR EACH ROW EXECUTE FUNCTION pochta_message_removed();
    CREATE TRIGGER mailboxes_removed BEFORE DELETE ON mailboxes
        FOR EACH ROW EXECUTE FUNCTION pochta_mailbox_removed();
    CREATE TRIGGER accounts_added AFTER INSERT ON accounts
        FOR EACH ROW EXECUTE FUNCTION pochta_account_added();
    CREATE TRIGGER accounts_removed BEFORE DELETE ON accounts
        FOR EACH ROW EXECUTE FUNCTION pochta_account_removed();

    -- The public folders' reserved owner (no address can spell '#public').
    INSERT INTO domains (name) VALUES ('#public');
    INSERT INTO accounts (address, key, domain, password_hash)
        VALUES ('#public', '#public', '#public', '!');

    -- The outbound queue (pochta_store::queue). Leases are columns: a claim takes due rows
    -- with FOR UPDATE SKIP LOCKED and writes its holder and end into them.
    CREATE TABLE queue_messages (
        id        TEXT COLLATE "C" PRIMARY KEY,
        sender    TEXT,
        ret       TEXT,
        envid     TEXT,
        smtputf8  BOOLEAN NOT NULL,
        eight_bit BOOLEAN NOT NULL,
        created   BIGINT NOT NULL,
        body      BYTEA NOT NULL
    );
    CREATE TABLE queue_recipients (
        message_id   TEXT COLLATE "C" NOT NULL REFERENCES queue_messages(id) ON DELETE CASCADE,
        idx          BIGINT NOT NULL,
        address      TEXT NOT NULL,
        domain       TEXT COLLATE "C" NOT NULL,
        notify       TEXT,
        orcpt_type   TEXT,
        orcpt        TEXT,
        state        TEXT NOT NULL,
        attempts     BIGINT NOT NULL DEFAULT 0,
        next_attempt BIGINT NOT NULL,
        last_reply   TEXT,
        remote_mta   TEXT,
        warned       BOOLEAN NOT NULL DEFAULT FALSE,
        lease_holder TEXT,
        lease_until  BIGINT,
        PRIMARY KEY (message_id, idx)
    );
    CREATE INDEX queue_recipients_due ON queue_recipients(state, next_attempt);

    -- The collector's state (pochta_store::collector).
    CREATE TABLE collector_sources (
        id                BIGSERIAL PRIMARY KEY,
        account           TEXT COLLATE "C" NOT NULL,
        url               TEXT COLLATE "C" NOT NULL,
        "user"            TEXT COLLATE "C" NOT NULL,
        secret            BYTEA NOT NULL,
        insecure          BOOLEAN NOT NULL,
        folder_prefix     TEXT,
        created           BIGINT NOT NULL,
        last_attempt      BIGINT,
        last_success      BIGINT,
        last_error        TEXT,
        imported_messages BIGINT NOT NULL DEFAULT 0,
        imported_bytes    BIGINT NOT NULL DEFAULT 0,
        flag_updates      BIGINT NOT NULL DEFAULT 0,
        delete_remote     BOOLEAN NOT NULL DEFAULT FALSE,
        idle              TEXT,
        UNIQUE (account, url, "user")
    );
    CREATE TABLE collector_folders (
        source         BIGINT NOT NULL REFERENCES collector_sources(id) ON DELETE CASCADE,
        remote         TEXT COLLATE "C" NOT NULL,
        local          TEXT NOT NULL,
        uid_validity   BIGINT NOT NULL,
        last_uid       BIGINT NOT NULL,
        highest_modseq BIGINT,
        PRIMARY KEY (source, remote)
    );
    CREATE TABLE collector_messages (
        source      BIGINT NOT NULL REFERENCES collector_sources(id) ON DELETE CASCADE,
        remote      TEXT COLLATE "C" NOT NULL,
        key         TEXT COLLATE "C" NOT NULL,
        local       TEXT NOT NULL,
        local_uid   BIGINT NOT NULL,
        flags       TEXT NOT NULL,
        message_id  TEXT,
        remote_size BIGINT NOT NULL,
        idate       BIGINT NOT NULL,
        PRIMARY KEY (source, remote, key)
    );
    CREATE TABLE collector_pending (
        source          BIGINT NOT NULL REFERENCES collector_sources(id) ON DELETE CASCADE,
        remote          TEXT COLLATE "C" NOT NULL,
        ord             BIGINT NOT NULL,
        key             TEXT NOT NULL,
        local           TEXT NOT NULL,
        local_validity  BIGINT NOT NULL,
        uid_next        BIGINT NOT NULL,
        remote_validity BIGINT NOT NULL,
        local_size      BIGINT NOT NULL,
        idate           BIGINT NOT NULL,
        flags           TEXT NOT NULL,
        message_id      TEXT,
        remote_size     BIGINT NOT NULL,
        PRIMARY KEY (source, remote, ord)
    );
    "#,
    // 1 → 2: metadata (RFC 5464), as the embedded store's. `mailbox` NULL is a server
    // entry; `account` is the owner of a `/private/` entry and 0 for a `/shared/` one; names
    // are lower-case. Entries go with their mailbox (cascade) and with the account that
    // owns them (trigger).
    r#"
    CREATE TABLE metadata (
        mailbox BIGINT REFERENCES mailboxes(id) ON DELETE CASCADE,
        account BIGINT NOT NULL,
        name    TEXT COLLATE "C" NOT NULL,
        value   BYTEA NOT NULL
    );
    CREATE UNIQUE INDEX metadata_key ON metadata ((coalesce(mailbox, 0)), account, name);
    CREATE FUNCTION pochta_account_metadata_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM metadata WHERE account = OLD.id;
        RETURN OLD;
    END $$;
    CREATE TRIGGER accounts_metadata AFTER DELETE ON accounts
        FOR EACH ROW EXECUTE FUNCTION pochta_account_metadata_removed();
    "#,
    // 2 → 3: address books (pochta_store::contacts), as the embedded `contacts.sqlite3`.
    // `account` is the mail store's account id without a foreign key (the trait's accounts
    // need not exist in the directory); an account's books go when the account does.
    r#"
    CREATE TABLE contact_books (
        id           BIGSERIAL PRIMARY KEY,
        account      BIGINT NOT NULL,
        name         TEXT COLLATE "C" NOT NULL,
        display_name TEXT NOT NULL,
        description  TEXT NOT NULL,
        token        BIGINT NOT NULL DEFAULT 0,
        UNIQUE (account, name)
    );
    CREATE TABLE contacts (
        book  BIGINT NOT NULL REFERENCES contact_books(id) ON DELETE CASCADE,
        name  TEXT COLLATE "C" NOT NULL,
        etag  TEXT NOT NULL,
        data  BYTEA NOT NULL,
        token BIGINT NOT NULL,
        PRIMARY KEY (book, name)
    );
    CREATE TABLE contact_tombstones (
        book  BIGINT NOT NULL REFERENCES contact_books(id) ON DELETE CASCADE,
        name  TEXT COLLATE "C" NOT NULL,
        token BIGINT NOT NULL,
        PRIMARY KEY (book, name)
    );
    CREATE FUNCTION pochta_account_books_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM contact_books WHERE account = OLD.id;
        RETURN OLD;
    END $$;
    CREATE TRIGGER accounts_books AFTER DELETE ON accounts
        FOR EACH ROW EXECUTE FUNCTION pochta_account_books_removed();
    "#,
    // The address book a collector source keeps in sync (pochta_store::collector::ContactsSync).
    r#"
    CREATE TABLE collector_contacts_sync (
        source       BIGINT PRIMARY KEY REFERENCES collector_sources(id) ON DELETE CASCADE,
        url          TEXT NOT NULL,
        state        TEXT NOT NULL,
        last_success BIGINT,
        last_error   TEXT
    );
    "#,
    // 4 → 5: URLAUTH mailbox access keys (RFC 4467 §2.2), as the embedded store's.
    r#"
    CREATE TABLE access_keys (
        account BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        mailbox BIGINT NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
        key     BYTEA NOT NULL,
        PRIMARY KEY (account, mailbox)
    );
    CREATE INDEX access_keys_mailbox ON access_keys(mailbox);
    "#,
    // 5 → 6: the login throttle's failure counters (pochta_store::throttle), shared by every
    // node. UNLOGGED: an attacker's guesses write no WAL, and a crash empties the table, as a
    // restart empties the embedded backend's in-memory counters. `last` is the database's
    // clock, so nodes with skewed clocks still agree on a window.
    r#"
    CREATE UNLOGGED TABLE login_failures (
        key      TEXT COLLATE "C" PRIMARY KEY,
        failures INTEGER NOT NULL,
        last     TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX login_failures_last ON login_failures (last);
    "#,
    // 6 → 7: the full-text index (pochta_store::search, `search.rs`). One row per indexed
    // message: a tsvector of field-tagged lexemes (`analyze`'s terms prefixed with their
    // field's digit, `words` prefixed with its letter) under a GIN index; the watermark per
    // mailbox; the vocabularies of terms (FUZZY: exact and reversed prefixes) and of words
    // (substring candidates). No foreign keys: the index is derived data, its
    // rows are dropped by the indexer's remove/remove_mailbox calls.
    r#"
    CREATE TABLE search_docs (
        mailbox BIGINT NOT NULL,
        uid     BIGINT NOT NULL,
        terms   tsvector NOT NULL,
        PRIMARY KEY (mailbox, uid)
    );
    CREATE INDEX search_docs_terms ON search_docs USING gin (terms) WITH (fastupdate = off);
    CREATE TABLE search_watermarks (
        mailbox   BIGINT PRIMARY KEY,
        watermark BIGINT NOT NULL
    );
    CREATE TABLE search_terms (
        term TEXT COLLATE "C" PRIMARY KEY
    );
    CREATE INDEX search_terms_reversed ON search_terms ((reverse(term)) text_pattern_ops);
    CREATE TABLE search_words (
        word TEXT COLLATE "C" PRIMARY KEY
    );
    "#,
];

/// The schema version this program writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Bring the schema to the newest version; returns how many migrations ran. Refuses a
/// database newer than this program.
pub(crate) fn migrate(client: &mut Client) -> R<usize> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS pochta_schema (version BIGINT NOT NULL);
         INSERT INTO pochta_schema (version) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM pochta_schema);",
    )?;
    let version: i64 = tx
        .query_one("SELECT version FROM pochta_schema", &[])?
        .get(0);
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(Error::Store(pochta_store::StoreError::Backend(format!(
            "database schema version {version} is newer than this program ({})",
            MIGRATIONS.len()
        ))));
    }
    for sql in &MIGRATIONS[version..] {
        tx.batch_execute(sql)?;
    }
    let ran = MIGRATIONS.len() - version;
    tx.execute(
        "UPDATE pochta_schema SET version = $1",
        &[&(MIGRATIONS.len() as i64)],
    )?;
    tx.commit()?;
    Ok(ran)
}
