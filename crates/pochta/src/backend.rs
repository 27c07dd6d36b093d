//! The storage backends: where the traits of [`pochta_store`] meet an implementation, chosen
//! by `[store]` here and nowhere else.
//!
//! Implementation notes:
//! - `[store]` absent or `backend = "embedded"`: everything in `data_dir` (`pochta.sqlite3`,
//!   `queue.sqlite3`, `collector.sqlite3`, `contacts.sqlite3`). `backend = "postgres"`: the
//!   mail store, the queue, the collector's state and the address books in one PostgreSQL
//!   database (`pochta-store-postgres`), shared by every node; `data_dir` keeps
//!   certificates, DKIM keys and the collector's sealing key.
//! - [`Store`] is the mail store the binary wires into every service: an enum over the two
//!   backends that forwards **every** method of [`Directory`] and [`MailStore`], defaulted
//!   ones included (a method left to its default would silently ignore the backend's own).
//! - `data_dir` is created readable by the owner only ([`crate::admin::create_private_dir`]):
//!   the queue holds mail, the collector sealed credentials.

use std::sync::Arc;

use anyhow::{Context, Result};
use pochta_collector::State;
use pochta_store::{
    Account, Alias, BlobId, ChangeBus, Changes, CollectorStore, ContactStore, Directory,
    FailureKey, Failures, FlagOp, Grantee, MailDate, MailStore, MailboxInfo, MailboxStatus,
    MessageRecord, MessageSummary, NewMessage, QueueStore, Quota, QuotaLimits, StoreOutcome,
    UidMapping,
};
use pochta_store_embedded::{
    EmbeddedCollectorStore, EmbeddedContactStore, EmbeddedQueueStore, EmbeddedStore,
};
use pochta_store_postgres::{
    PgCollectorStore, PgContactStore, PgQueueStore, PgSearchIndex, PgStore,
};
use pochta_types::{
    AccountId, Address, Domain, Flags, MailboxId, MailboxName, ModSeq, Rights, SpecialUse, Uid,
};

use crate::config::{Config, StoreSettings};

/// Connections of the queue's and the collector's pools (their traffic is small).
const SIDE_POOL: u32 = 4;

/// The mail store of the configured backend.
#[derive(Debug, Clone)]
pub enum Store {
    Embedded(EmbeddedStore),
    Postgres(PgStore),
}

/// Opens the configured mail store (PostgreSQL: connects and applies migrations).
pub fn open_store(config: &Config) -> Result<Store> {
    match &config.store {
        StoreSettings::Embedded => {
            crate::admin::create_private_dir(&config.data_dir)?;
            let s = EmbeddedStore::open(&config.data_dir).with_context(|| {
                format!("cannot open the store in {}", config.data_dir.display())
            })?;
            Ok(Store::Embedded(s))
        }
        StoreSettings::Postgres { url, pool_size } => Ok(Store::Postgres(
            PgStore::open(url, *pool_size).context("cannot open the PostgreSQL store")?,
        )),
    }
}

/// `pochta db migrate`: applies the schema migrations the database lacks; how many ran.
pub fn migrate(config: &Config) -> Result<Option<usize>> {
    match &config.store {
        StoreSettings::Embedded => Ok(None),
        StoreSettings::Postgres { url, .. } => {
            let pool = pochta_store_postgres::Pool::connect(url, 1)
                .context("cannot connect to PostgreSQL")?;
            Ok(Some(pool.migrate().context("migration failed")?))
        }
    }
}

/// `pochta store copy --to URL`: copies the embedded installation of `config` (mail store,
/// queue, collector state, address books) into the empty PostgreSQL database at `url`, keeping UIDVALIDITY,
/// UIDs, MODSEQs and every id a client or the collector remembers.
pub fn copy_to_postgres(config: &Config, url: &str) -> Result<pochta_store_postgres::CopyReport> {
    if config.store != StoreSettings::Embedded {
        anyhow::bail!("store copy reads an embedded installation; this config's [store] is not");
    }
    let Store::Embedded(src) = open_store(config)? else {
        anyhow::bail!("the embedded store did not open as embedded");
    };
    let queue = EmbeddedQueueStore::open(&config.data_dir).context("cannot open the queue")?;
    let collector = EmbeddedCollectorStore::open(&config.data_dir)
        .context("cannot open the collector's state")?;
    let contacts =
        EmbeddedContactStore::open(&config.data_dir).context("cannot open the address books")?;
    let dst = PgStore::open(url, 2).context("cannot open the PostgreSQL database")?;
    Ok(pochta_store_postgres::copy_into(
        &src,
        Some(&queue),
        Some(&collector),
        Some(&contacts),
        &dst,
    )?)
}

/// The outbound queue's spool.
pub fn queue_store(config: &Config) -> Result<Arc<dyn QueueStore>> {
    crate::admin::create_private_dir(&config.data_dir)?;
    match &config.store {
        StoreSettings::Embedded => {
            let store = EmbeddedQueueStore::open(&config.data_dir).with_context(|| {
                format!(
                    "cannot open the outbound queue in {}",
                    config.data_dir.display()
                )
            })?;
            Ok(Arc::new(store))
        }
        StoreSettings::Postgres { url, .. } => Ok(Arc::new(
            PgQueueStore::open(url, SIDE_POOL)
                .context("cannot open the outbound queue in PostgreSQL")?,
        )),
    }
}

/// The collector's state (its store, and the sealing key in `data_dir`).
pub fn collector_state(config: &Config) -> Result<State> {
    crate::admin::create_private_dir(&config.data_dir)?;
    Ok(open_collector_state(&config.data_dir, &config.store)?)
}

/// How the server's collector opens its state (again after a pause while it fails).
pub fn collector_opener(
    config: &Config,
) -> impl Fn() -> Result<State, pochta_collector::Error> + Send + 'static {
    let data_dir = config.data_dir.clone();
    let settings = config.store.clone();
    move || open_collector_state(&data_dir, &settings)
}

fn open_collector_state(
    data_dir: &std::path::Path,
    settings: &StoreSettings,
) -> Result<State, pochta_collector::Error> {
    let store: Arc<dyn CollectorStore> = match settings {
        StoreSettings::Embedded => Arc::new(
            EmbeddedCollectorStore::open(data_dir)
                .map_err(|e| pochta_collector::Error::State(e.to_string()))?,
        ),
        StoreSettings::Postgres { url, .. } => Arc::new(
            PgCollectorStore::open(url, SIDE_POOL)
                .map_err(|e| pochta_collector::Error::State(e.to_string()))?,
        ),
    };
    State::open(data_dir, store)
}

/// The full-text index of the configured backend (embedded: `data_dir/search`, rebuilt
/// empty when damaged; PostgreSQL: the `search_*` tables, shared by every node). `None`
/// with `[search] index = false` or `POCHTA_SEARCH_INDEX=off`: text search keys then scan
/// the messages.
pub fn search_index(config: &Config) -> Result<Option<Arc<dyn pochta_store::SearchIndex>>> {
    // No index: text keys scan the messages (bench/search.sh compares the two). The variable
    // overrides the file (tests and benchmarks switch it per process).
    if !config.search.index || std::env::var("POCHTA_SEARCH_INDEX").is_ok_and(|v| v == "off") {
        return Ok(None);
    }
    match &config.store {
        StoreSettings::Embedded => {
            crate::admin::create_private_dir(&config.data_dir)?;
            let index = pochta_store_embedded::EmbeddedSearchIndex::open(&config.data_dir)
                .with_context(|| {
                    format!(
                        "cannot open the search index in {}",
                        config.data_dir.display()
                    )
                })?;
            Ok(Some(Arc::new(index)))
        }
        StoreSettings::Postgres { url, .. } => Ok(Some(Arc::new(
            PgSearchIndex::open(url, SIDE_POOL)
                .context("cannot open the search index in PostgreSQL")?,
        ))),
    }
}

/// Address books and contacts (`data_dir/contacts.sqlite3`, or the PostgreSQL database).
pub fn contact_store(config: &Config) -> Result<Arc<dyn ContactStore>> {
    match &config.store {
        StoreSettings::Embedded => {
            crate::admin::create_private_dir(&config.data_dir)?;
            let store = EmbeddedContactStore::open(&config.data_dir).with_context(|| {
                format!("cannot open the contacts in {}", config.data_dir.display())
            })?;
            Ok(Arc::new(store))
        }
        StoreSettings::Postgres { url, .. } => Ok(Arc::new(
            PgContactStore::open(url, SIDE_POOL)
                .context("cannot open the contacts in PostgreSQL")?,
        )),
    }
}

/// Forwards a call to the backend.
macro_rules! each {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Embedded($s) => $e,
            Store::Postgres($s) => $e,
        }
    };
}

/// Forwards a call to the backend and counts it in `/metrics`
/// (`pochta_store_operations_total{backend, op, result}`).
macro_rules! counted {
    ($self:ident, $op:literal, $s:ident => $e:expr) => {{
        let r = each!($self, $s => $e);
        pochta_metrics::store_op($self.backend_name(), $op, r.is_ok());
        r
    }};
}

impl Store {
    /// The backend's name, as `/metrics` labels it.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Store::Embedded(_) => "embedded",
            Store::Postgres(_) => "postgres",
        }
    }
}

type R<T> = pochta_store::Result<T>;

impl Directory for Store {
    fn domain_add(&self, domain: &Domain) -> R<bool> {
        each!(self, s => s.domain_add(domain))
    }
    fn domain_list(&self) -> R<Vec<Domain>> {
        each!(self, s => s.domain_list())
    }
    fn domain_del(&self, domain: &Domain) -> R<()> {
        each!(self, s => s.domain_del(domain))
    }
    fn domain_exists(&self, domain: &Domain) -> R<bool> {
        each!(self, s => s.domain_exists(domain))
    }
    fn account_create(&self, address: &Address, password_hash: &str) -> R<AccountId> {
        each!(self, s => s.account_create(address, password_hash))
    }
    fn account_by_address(&self, address: &Address) -> R<Option<Account>> {
        each!(self, s => s.account_by_address(address))
    }
    fn account_by_id(&self, id: AccountId) -> R<Option<Account>> {
        each!(self, s => s.account_by_id(id))
    }
    fn account_list(&self) -> R<Vec<Account>> {
        each!(self, s => s.account_list())
    }
    fn account_delete(&self, address: &Address) -> R<()> {
        each!(self, s => s.account_delete(address))
    }
    fn account_set_password(
        &self,
        address: &Address,
        password_hash: &str,
        scram_sha256: Option<&str>,
    ) -> R<()> {
        each!(self, s => s.account_set_password(address, password_hash, scram_sha256))
    }
    fn alias_add(&self, source: &str, target: &Address) -> R<()> {
        each!(self, s => s.alias_add(source, target))
    }
    fn alias_list(&self) -> R<Vec<Alias>> {
        each!(self, s => s.alias_list())
    }
    fn alias_del(&self, source: &str) -> R<()> {
        each!(self, s => s.alias_del(source))
    }
    fn resolve_recipient(&self, address: &Address) -> R<Option<AccountId>> {
        each!(self, s => s.resolve_recipient(address))
    }

    fn login_failures(
        &self,
        keys: &[FailureKey],
        window: std::time::Duration,
    ) -> R<Vec<Option<Failures>>> {
        each!(self, s => s.login_failures(keys, window))
    }

    fn login_failed(&self, keys: &[FailureKey], window: std::time::Duration) -> R<Vec<u32>> {
        each!(self, s => s.login_failed(keys, window))
    }

    fn login_clear(&self, key: &FailureKey) -> R<()> {
        each!(self, s => s.login_clear(key))
    }
}

impl MailStore for Store {
    fn change_bus(&self) -> &ChangeBus {
        each!(self, s => s.change_bus())
    }
    fn mailboxes(&self, account: AccountId) -> R<Vec<MailboxInfo>> {
        each!(self, s => s.mailboxes(account))
    }
    fn mailbox(&self, account: AccountId, name: &MailboxName) -> R<Option<MailboxInfo>> {
        each!(self, s => s.mailbox(account, name))
    }
    fn mailbox_by_id(&self, account: AccountId, id: MailboxId) -> R<Option<MailboxInfo>> {
        each!(self, s => s.mailbox_by_id(account, id))
    }
    fn mailbox_create(
        &self,
        account: AccountId,
        name: &MailboxName,
        special_use: Option<SpecialUse>,
    ) -> R<MailboxInfo> {
        counted!(self, "mailbox_create", s => s.mailbox_create(account, name, special_use))
    }
    fn mailbox_delete(&self, account: AccountId, name: &MailboxName) -> R<()> {
        counted!(self, "mailbox_delete", s => s.mailbox_delete(account, name))
    }
    fn mailbox_rename(&self, account: AccountId, from: &MailboxName, to: &MailboxName) -> R<()> {
        counted!(self, "mailbox_rename", s => s.mailbox_rename(account, from, to))
    }
    fn mailbox_set_special_use(
        &self,
        account: AccountId,
        name: &MailboxName,
        special_use: Option<SpecialUse>,
    ) -> R<()> {
        each!(self, s => s.mailbox_set_special_use(account, name, special_use))
    }
    fn mailbox_status(&self, mailbox: MailboxId) -> R<MailboxStatus> {
        each!(self, s => s.mailbox_status(mailbox))
    }
    fn mailbox_keywords(&self, mailbox: MailboxId) -> R<Vec<String>> {
        each!(self, s => s.mailbox_keywords(mailbox))
    }
    fn subscribe(&self, account: AccountId, name: &MailboxName) -> R<()> {
        each!(self, s => s.subscribe(account, name))
    }
    fn unsubscribe(&self, account: AccountId, name: &MailboxName) -> R<()> {
        each!(self, s => s.unsubscribe(account, name))
    }
    fn subscriptions(&self, account: AccountId) -> R<Vec<MailboxName>> {
        each!(self, s => s.subscriptions(account))
    }
    fn append(&self, mailbox: MailboxId, messages: &[NewMessage<'_>]) -> R<UidMapping> {
        counted!(self, "append", s => s.append(mailbox, messages))
    }
    fn deliver(
        &self,
        targets: &[(MailboxId, Flags)],
        bytes: &[u8],
        internal_date: Option<MailDate>,
    ) -> R<Vec<Uid>> {
        counted!(self, "deliver", s => s.deliver(targets, bytes, internal_date))
    }
    fn summaries(&self, mailbox: MailboxId) -> R<Vec<MessageSummary>> {
        counted!(self, "summaries", s => s.summaries(mailbox))
    }
    fn changes_since(&self, mailbox: MailboxId, since: ModSeq) -> R<Changes> {
        each!(self, s => s.changes_since(mailbox, since))
    }
    fn records(&self, mailbox: MailboxId, uids: &[Uid], with_meta: bool) -> R<Vec<MessageRecord>> {
        counted!(self, "fetch", s => s.records(mailbox, uids, with_meta))
    }
    fn blob(&self, blob: &BlobId) -> R<Arc<Vec<u8>>> {
        counted!(self, "blob", s => s.blob(blob))
    }
    fn flag_rows(&self, mailbox: MailboxId, uids: &[Uid]) -> R<Vec<MessageSummary>> {
        counted!(self, "fetch", s => s.flag_rows(mailbox, uids))
    }
    fn search_meta(
        &self,
        mailbox: MailboxId,
        filter: &pochta_store::MetaFilter,
    ) -> R<Vec<(Uid, ModSeq)>> {
        each!(self, s => s.search_meta(mailbox, filter))
    }
    fn sort_rows(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        need: pochta_store::SortNeed,
    ) -> R<Vec<pochta_store::SortRow>> {
        each!(self, s => s.sort_rows(mailbox, uids, need))
    }
    fn header_sections(&self, mailbox: MailboxId, uids: &[Uid]) -> R<Vec<(Uid, Vec<u8>)>> {
        each!(self, s => s.header_sections(mailbox, uids))
    }
    fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        op: FlagOp,
        flags: &Flags,
        unchanged_since: Option<ModSeq>,
    ) -> R<StoreOutcome> {
        counted!(self, "store_flags", s => s.store_flags(mailbox, uids, op, flags, unchanged_since))
    }
    fn copy(&self, from: MailboxId, uids: &[Uid], to: MailboxId) -> R<UidMapping> {
        counted!(self, "copy", s => s.copy(from, uids, to))
    }
    fn move_messages(&self, from: MailboxId, uids: &[Uid], to: MailboxId) -> R<UidMapping> {
        counted!(self, "move", s => s.move_messages(from, uids, to))
    }
    fn transfer_across(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
        is_move: bool,
    ) -> R<UidMapping> {
        counted!(self, "transfer_across", s => s.transfer_across(from, uids, to, is_move))
    }
    fn expunge(&self, mailbox: MailboxId, uids: Option<&[Uid]>) -> R<Vec<Uid>> {
        counted!(self, "expunge", s => s.expunge(mailbox, uids))
    }
    fn replace(
        &self,
        from: MailboxId,
        uid: Uid,
        to: MailboxId,
        message: &NewMessage<'_>,
    ) -> R<UidMapping> {
        counted!(self, "replace", s => s.replace(from, uid, to, message))
    }
    fn metadata(
        &self,
        mailbox: Option<MailboxId>,
        account: AccountId,
    ) -> R<Vec<(String, Vec<u8>)>> {
        each!(self, s => s.metadata(mailbox, account))
    }
    fn metadata_set(
        &self,
        mailbox: Option<MailboxId>,
        account: AccountId,
        changes: &[(String, Option<Vec<u8>>)],
        max_entries: u32,
    ) -> R<()> {
        each!(self, s => s.metadata_set(mailbox, account, changes, max_entries))
    }
    fn access_key(&self, account: AccountId, mailbox: MailboxId) -> R<Option<Vec<u8>>> {
        each!(self, s => s.access_key(account, mailbox))
    }
    fn access_key_or_insert(
        &self,
        account: AccountId,
        mailbox: MailboxId,
        fresh: &[u8],
    ) -> R<Vec<u8>> {
        each!(self, s => s.access_key_or_insert(account, mailbox, fresh))
    }
    fn access_key_reset(&self, account: AccountId, key: Option<(MailboxId, &[u8])>) -> R<()> {
        each!(self, s => s.access_key_reset(account, key))
    }
    fn select_state(&self, mailbox: MailboxId) -> R<pochta_store::SelectState> {
        each!(self, s => s.select_state(mailbox))
    }
    fn claim_recent(&self, mailbox: MailboxId) -> R<Vec<Uid>> {
        each!(self, s => s.claim_recent(mailbox))
    }
    fn quota(&self, account: AccountId) -> R<Quota> {
        each!(self, s => s.quota(account))
    }
    fn acl(&self, mailbox: MailboxId) -> R<Vec<(Grantee, Rights)>> {
        each!(self, s => s.acl(mailbox))
    }
    fn acl_set(&self, mailbox: MailboxId, grantee: Grantee, rights: Rights) -> R<()> {
        each!(self, s => s.acl_set(mailbox, grantee, rights))
    }
    fn shared_with(&self, account: AccountId) -> R<Vec<(MailboxInfo, Rights)>> {
        each!(self, s => s.shared_with(account))
    }
    fn rights(&self, account: AccountId, mailbox: &MailboxInfo) -> R<Rights> {
        each!(self, s => s.rights(account, mailbox))
    }
    fn shared_with_anonymous(&self) -> R<Vec<(MailboxInfo, Rights)>> {
        each!(self, s => s.shared_with_anonymous())
    }
    fn anonymous_rights(&self, mailbox: &MailboxInfo) -> R<Rights> {
        each!(self, s => s.anonymous_rights(mailbox))
    }
    fn public_owner(&self) -> R<Option<AccountId>> {
        each!(self, s => s.public_owner())
    }
    fn set_seen_per_user(&self, mailbox: MailboxId, on: bool) -> R<()> {
        each!(self, s => s.set_seen_per_user(mailbox, on))
    }
    fn private_seen(&self, mailbox: MailboxId, account: AccountId) -> R<Vec<Uid>> {
        each!(self, s => s.private_seen(mailbox, account))
    }
    fn set_private_seen(
        &self,
        mailbox: MailboxId,
        account: AccountId,
        uids: &[Uid],
        seen: bool,
    ) -> R<Vec<MessageSummary>> {
        each!(self, s => s.set_private_seen(mailbox, account, uids, seen))
    }
    fn set_quota(&self, account: AccountId, limits: QuotaLimits) -> R<()> {
        each!(self, s => s.set_quota(account, limits))
    }
    fn maildrop_lock(&self, account: AccountId) -> R<Option<pochta_store::MaildropLock>> {
        each!(self, s => s.maildrop_lock(account))
    }
}
