//! Moving an installation: [`copy_into`] copies everything another backend holds into an
//! empty PostgreSQL database, keeping what mail programs cache.
//!
//! Implementation notes:
//! - The source is read through the storage traits only ([`MailStore`], [`QueueStore`],
//!   [`CollectorStore`]), so any backend can be copied; the target is written with SQL,
//!   because the traits assign UIDs and ids, and a move must keep them: mailboxes keep their
//!   UIDVALIDITY, `uid_next` and HIGHESTMODSEQ, messages their UIDs, MODSEQs, flags,
//!   keywords, internal and save dates; accounts keep password hashes and SCRAM secrets;
//!   ACLs, quotas (limits; usage follows from the rows), subscriptions, per-user `\Seen`,
//!   aliases, domains and metadata entries (RFC 5464) come along, and so do the queue (same
//!   ids, recipient states) and the collector's sources, checkpoints, UID maps, pending
//!   batches and contacts-sync state (same source ids, secrets still sealed); the address books keep their ids, sync tokens, contacts' bytes, ETags and
//!   tokens.
//! - Deletions in an address book are carried over as tombstones with the book's current
//!   token (the trait does not tell each one's token), so a client syncing from an older
//!   token hears of them at worst once more; a client at the current token is unaffected.
//! - UIDs expunged before the copy are carried over with the mailbox's HIGHESTMODSEQ (the
//!   traits do not tell the MODSEQ of each expunge), so a QRESYNC client hears of them as
//!   VANISHED at worst once more.
//! - One transaction: the target is either the whole copy or untouched. It must hold no
//!   account yet (a fresh database), else nothing is copied.
//! - The full-text index is **not copied but rebuilt**: the copy empties `search_docs` and
//!   `search_watermarks`, so every mailbox's watermark is 0 and the indexer of the first
//!   node that starts indexes every message (searches are complete meanwhile: messages above
//!   a watermark are matched directly, only more slowly).

use std::collections::{HashMap, HashSet};

use pochta_store::collector::CollectorStore;
use pochta_store::contacts::ContactStore;
use pochta_store::queue::{Notify, QueueStore, Ret};
use pochta_store::{Grantee, MailStore, StoreError};
use pochta_types::{AccountId, MailboxId, ModSeq, Uid};

use crate::{PgStore, R, Tx};

/// What [`copy_into`] copied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    pub accounts: usize,
    pub mailboxes: usize,
    pub messages: usize,
    pub blobs: usize,
    pub queued: usize,
    pub sources: usize,
    pub address_books: usize,
    pub contacts: usize,
}

/// Copies `src` (and its queue, collector state and address books, if given) into the empty
/// database of `dst`, in one transaction.
pub fn copy_into<S: MailStore>(
    src: &S,
    queue: Option<&dyn QueueStore>,
    collector: Option<&dyn CollectorStore>,
    contacts: Option<&dyn ContactStore>,
    dst: &PgStore,
) -> pochta_store::Result<CopyReport> {
    let sync = |e| -> crate::Error { crate::Error::Store(e) };
    Ok(dst.inner.pool.write(|tx| {
        let others: i64 = tx
            .query_one("SELECT count(*) FROM accounts WHERE key <> '#public'", &[])?
            .get(0);
        if others > 0 {
            return Err(StoreError::AlreadyExists(
                "the target database already holds accounts; copy into an empty one".into(),
            )
            .into());
        }
        // The full-text index is not copied (another backend's index is in another form, and
        // it is derived data): whatever a node may have left there goes, every watermark is
        // 0, and the nodes' indexers rebuild it from the messages when they start.
        tx.execute("DELETE FROM search_docs", &[])?;
        tx.execute("DELETE FROM search_watermarks", &[])?;
        let mut report = CopyReport::default();
        for d in src.domain_list().map_err(sync)? {
            tx.execute(
                "INSERT INTO domains (name) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&d.as_str()],
            )?;
        }
        // Accounts, the public folders' owner included.
        let mut ids: HashMap<AccountId, i64> = HashMap::new();
        let public_dst: i64 = tx
            .query_one("SELECT id FROM accounts WHERE key = '#public'", &[])?
            .get(0);
        let mut owners: Vec<AccountId> = Vec::new();
        for a in src.account_list().map_err(sync)? {
            let id: i64 = tx
                .query_one(
                    "INSERT INTO accounts (address, key, domain, password_hash, scram)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    &[
                        &a.address.to_string(),
                        &a.address.key(),
                        &a.address.domain().as_str(),
                        &a.password_hash,
                        &a.scram_sha256,
                    ],
                )?
                .get(0);
            ids.insert(a.id, id);
            owners.push(a.id);
            report.accounts += 1;
        }
        if let Some(p) = src.public_owner().map_err(sync)? {
            ids.insert(p, public_dst);
            owners.push(p);
        }
        for owner in &owners {
            let limits = src.quota(*owner).map_err(sync)?.limits;
            let v = |l: Option<u64>| l.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
            tx.execute(
                "UPDATE quotas SET storage_limit = $2, message_limit = $3 WHERE account = $1",
                &[&ids[owner], &v(limits.storage), &v(limits.messages)],
            )?;
            for name in src.subscriptions(*owner).map_err(sync)? {
                tx.execute(
                    "INSERT INTO subscriptions (account, name) VALUES ($1, $2)
                     ON CONFLICT DO NOTHING",
                    &[&ids[owner], &name.as_str()],
                )?;
            }
        }
        // Mailboxes and messages.
        let mut boxes: HashMap<MailboxId, i64> = HashMap::new();
        let mut blobs: HashSet<String> = HashSet::new();
        let mut max_validity: i64 = 0;
        for owner in &owners {
            for mb in src.mailboxes(*owner).map_err(sync)? {
                let validity = i64::from(mb.uid_validity.get());
                max_validity = max_validity.max(validity);
                let highest = i64::try_from(mb.highest_modseq.get()).unwrap_or(i64::MAX);
                let uid_next = i64::from(mb.uid_next.get());
                let id: i64 = tx
                    .query_one(
                        "INSERT INTO mailboxes (account, name, uid_validity, uid_next,
                             highest_modseq, recent_floor, special_use, noselect, seen_per_user)
                         VALUES ($1, $2, $3, $4, $5, $4, $6, $7, $8) RETURNING id",
                        &[
                            &ids[owner],
                            &mb.name.as_str(),
                            &validity,
                            &uid_next,
                            &highest,
                            &mb.special_use.map(|s| s.as_str()),
                            &mb.noselect,
                            &mb.seen_per_user,
                        ],
                    )?
                    .get(0);
                boxes.insert(mb.id, id);
                report.mailboxes += 1;
                let uids: Vec<Uid> = src
                    .summaries(mb.id)
                    .map_err(sync)?
                    .iter()
                    .map(|s| s.uid)
                    .collect();
                for chunk in uids.chunks(500) {
                    for r in src.records(mb.id, chunk, true).map_err(sync)? {
                        if blobs.insert(r.blob.0.clone()) {
                            let bytes = src.blob(&r.blob).map_err(sync)?;
                            let meta = match &r.meta {
                                Some(m) => m.to_bytes(),
                                None => pochta_message::parse(&bytes).to_bytes(),
                            };
                            tx.execute(
                                "INSERT INTO blobs (id, size, refcount, meta, data)
                                 VALUES ($1, $2, 0, $3, $4) ON CONFLICT DO NOTHING",
                                &[&r.blob.0, &(bytes.len() as i64), &meta, &bytes.as_slice()],
                            )?;
                            report.blobs += 1;
                        }
                        insert_message(tx, id, &r)?;
                        report.messages += 1;
                    }
                }
                let gone: Vec<i64> = src
                    .changes_since(mb.id, ModSeq::MIN)
                    .map_err(sync)?
                    .expunged
                    .iter()
                    .map(|u| i64::from(u.get()))
                    .collect();
                tx.execute(
                    "INSERT INTO expunged (mailbox, uid, modseq)
                     SELECT $1, u, $3 FROM unnest($2::bigint[]) AS u ON CONFLICT DO NOTHING",
                    &[&id, &gone, &highest],
                )?;
            }
        }
        // What refers to mailboxes and accounts: ACLs and per-user \Seen.
        for (src_mb, dst_mb) in &boxes {
            for (g, rights) in src.acl(*src_mb).map_err(sync)? {
                let key = match g {
                    Grantee::Account(a) => match ids.get(&a) {
                        Some(id) => *id,
                        None => continue,
                    },
                    Grantee::Anyone => 0,
                    Grantee::Anonymous => -1,
                };
                tx.execute(
                    "INSERT INTO acl (mailbox, grantee, rights) VALUES ($1, $2, $3)",
                    &[dst_mb, &key, &i32::from(rights.bits())],
                )?;
            }
            for (a, dst_a) in &ids {
                let seen: Vec<i64> = src
                    .private_seen(*src_mb, *a)
                    .map_err(sync)?
                    .iter()
                    .map(|u| i64::from(u.get()))
                    .collect();
                tx.execute(
                    "INSERT INTO private_seen (mailbox, uid, account)
                     SELECT $1, u, $3 FROM unnest($2::bigint[]) AS u ON CONFLICT DO NOTHING",
                    &[dst_mb, &seen, dst_a],
                )?;
                let entries = src.metadata(Some(*src_mb), *a).map_err(sync)?;
                copy_metadata(tx, Some(*dst_mb), *dst_a, &entries)?;
            }
        }
        for (a, dst_a) in &ids {
            let entries = src.metadata(None, *a).map_err(sync)?;
            copy_metadata(tx, None, *dst_a, &entries)?;
        }
        tx.execute(
            "INSERT INTO counters (name, value) VALUES ('uid_validity', $1)
             ON CONFLICT (name) DO UPDATE SET value = greatest(counters.value, $1)",
            &[&max_validity],
        )?;
        for alias in src.alias_list().map_err(sync)? {
            let domain = alias
                .source
                .rsplit_once('@')
                .map(|(_, d)| d.to_owned())
                .unwrap_or_default();
            tx.execute(
                "INSERT INTO aliases (source, target, domain) VALUES ($1, $2, $3)",
                &[&alias.source, &alias.target.to_string(), &domain],
            )?;
        }
        if let Some(q) = queue {
            report.queued = copy_queue(tx, q)?;
        }
        if let Some(c) = collector {
            report.sources = copy_collector(tx, c)?;
        }
        if let Some(c) = contacts {
            let accounts: Vec<(AccountId, i64)> = ids
                .iter()
                .filter(|(_, v)| **v != public_dst)
                .map(|(k, v)| (*k, *v))
                .collect();
            (report.address_books, report.contacts) = copy_contacts(tx, c, &accounts)?;
        }
        Ok(report)
    })?)
}

/// Metadata entries (RFC 5464) as visible to one account: its `/private/` ones and the
/// `/shared/` ones (seen by every account, so written once).
fn copy_metadata(
    tx: &mut Tx<'_>,
    mailbox: Option<i64>,
    account: i64,
    entries: &[(String, Vec<u8>)],
) -> R<()> {
    for (name, value) in entries {
        let owner = if name.starts_with("/shared/") {
            0
        } else {
            account
        };
        tx.execute(
            "INSERT INTO metadata (mailbox, account, name, value) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&mailbox, &owner, name, value],
        )?;
    }
    Ok(())
}

fn insert_message(tx: &mut Tx<'_>, mailbox: i64, r: &pochta_store::MessageRecord) -> R<()> {
    tx.execute(
        "INSERT INTO messages (mailbox, uid, blob, flags, keywords, internal_date,
                               internal_offset, save_date, size, modseq)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &mailbox,
            &i64::from(r.uid.get()),
            &r.blob.0,
            &i16::from(r.flags.system_bits()),
            &r.flags.keywords().join(" "),
            &r.internal_date.unix,
            &r.internal_date.offset_minutes,
            &r.save_date.unix,
            &i64::try_from(r.size).unwrap_or(i64::MAX),
            &i64::try_from(r.modseq.get()).unwrap_or(i64::MAX),
        ],
    )?;
    Ok(())
}

fn copy_queue(tx: &mut Tx<'_>, q: &dyn QueueStore) -> R<usize> {
    let mut n = 0;
    for s in q.list()? {
        let Some(m) = q.message(&s.id)? else {
            continue;
        };
        tx.execute(
            "INSERT INTO queue_messages (id, sender, ret, envid, smtputf8, eight_bit, created, body)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &m.id,
                &m.envelope.sender,
                &m.envelope.ret.map(Ret::as_str),
                &m.envelope.envid,
                &m.envelope.smtputf8,
                &m.envelope.eight_bit,
                &m.created,
                &m.body,
            ],
        )?;
        for r in q.recipients(&s.id)? {
            tx.execute(
                "INSERT INTO queue_recipients (message_id, idx, address, domain, notify,
                     orcpt_type, orcpt, state, attempts, next_attempt, last_reply, remote_mta,
                     warned)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                &[
                    &m.id,
                    &i64::from(r.index),
                    &r.recipient.address,
                    &r.recipient.domain(),
                    &r.recipient.notify.map(Notify::keywords),
                    &r.recipient.orcpt.as_ref().map(|o| o.0.as_str()),
                    &r.recipient.orcpt.as_ref().map(|o| o.1.as_str()),
                    &r.state.as_str(),
                    &i64::from(r.attempts),
                    &r.next_attempt,
                    &r.last_reply,
                    &r.remote_mta,
                    &r.warned,
                ],
            )?;
        }
        n += 1;
    }
    Ok(n)
}

fn copy_collector(tx: &mut Tx<'_>, c: &dyn CollectorStore) -> R<usize> {
    let sources = c.sources(None)?;
    for s in &sources {
        let secret = c.secret(s.id)?;
        tx.execute(
            "INSERT INTO collector_sources (id, account, url, \"user\", secret, insecure,
                 folder_prefix, created, last_attempt, last_success, last_error,
                 imported_messages, imported_bytes, flag_updates, delete_remote, idle)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            &[
                &s.id,
                &s.account,
                &s.url,
                &s.user,
                &secret,
                &s.insecure,
                &s.folder_prefix,
                &s.created,
                &s.last_attempt,
                &s.last_success,
                &s.last_error,
                &(s.imported_messages as i64),
                &(s.imported_bytes as i64),
                &(s.flag_updates as i64),
                &s.delete_remote,
                &s.idle,
            ],
        )?;
        if let Some(cs) = c.contacts_sync(s.id)? {
            tx.execute(
                "INSERT INTO collector_contacts_sync (source, url, state, last_success, last_error)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&s.id, &cs.url, &cs.state, &cs.last_success, &cs.last_error],
            )?;
        }
        for f in c.folders(s.id)? {
            tx.execute(
                "INSERT INTO collector_folders (source, remote, local, uid_validity, last_uid,
                     highest_modseq) VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    &s.id,
                    &f.remote,
                    &f.local,
                    &i64::from(f.uid_validity),
                    &i64::from(f.last_uid),
                    &f.highest_modseq.map(|v| v as i64),
                ],
            )?;
            for m in c.messages(s.id, &f.remote)? {
                tx.execute(
                    "INSERT INTO collector_messages (source, remote, key, local, local_uid,
                         flags, message_id, remote_size, idate)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &[
                        &s.id,
                        &f.remote,
                        &m.key,
                        &f.local,
                        &i64::from(m.local_uid),
                        &m.flags,
                        &m.message_id,
                        &(m.remote_size as i64),
                        &m.idate,
                    ],
                )?;
            }
            if let Some(p) = c.pending(s.id, &f.remote)? {
                for (n, it) in p.items.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO collector_pending (source, remote, ord, key, local,
                             local_validity, uid_next, local_size, idate, flags, message_id,
                             remote_size, remote_validity)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                        &[
                            &s.id,
                            &f.remote,
                            &(n as i64),
                            &it.key,
                            &p.local,
                            &i64::from(p.local_validity),
                            &i64::from(p.uid_next),
                            &(it.local_size as i64),
                            &it.idate,
                            &it.flags,
                            &it.message_id,
                            &(it.remote_size as i64),
                            &i64::from(p.remote_validity),
                        ],
                    )?;
                }
            }
        }
    }
    // Sources keep their ids; new ones continue after them.
    tx.execute(
        "SELECT setval(pg_get_serial_sequence('collector_sources', 'id'),
                       greatest((SELECT max(id) FROM collector_sources), 1))",
        &[],
    )?;
    Ok(sources.len())
}

/// The address books of `accounts` (source id, target id): books keep their ids and tokens.
fn copy_contacts(
    tx: &mut Tx<'_>,
    c: &dyn ContactStore,
    accounts: &[(AccountId, i64)],
) -> R<(usize, usize)> {
    let (mut books, mut cards) = (0, 0);
    for (src, dst) in accounts {
        for b in c.address_books(*src)? {
            let token = i64::try_from(b.token).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO contact_books (id, account, name, display_name, description, token)
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[&b.id, dst, &b.name, &b.display_name, &b.description, &token],
            )?;
            books += 1;
            for k in c.contacts(b.id)? {
                tx.execute(
                    "INSERT INTO contacts (book, name, etag, data, token)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[
                        &b.id,
                        &k.name,
                        &k.etag,
                        &k.data,
                        &i64::try_from(k.token).unwrap_or(i64::MAX),
                    ],
                )?;
                cards += 1;
            }
            // Every deletion after token 1 (none can be at or before it but the first change).
            let deleted = match c.changes_since(b.id, 1)? {
                Some(ch) if b.token > 1 => ch.deleted,
                _ => Vec::new(),
            };
            for name in deleted {
                tx.execute(
                    "INSERT INTO contact_tombstones (book, name, token) VALUES ($1, $2, $3)",
                    &[&b.id, &name, &token],
                )?;
            }
        }
    }
    // Books keep their ids; new ones continue after them.
    tx.execute(
        "SELECT setval(pg_get_serial_sequence('contact_books', 'id'),
                       greatest((SELECT max(id) FROM contact_books), 1))",
        &[],
    )?;
    Ok((books, cards))
}
