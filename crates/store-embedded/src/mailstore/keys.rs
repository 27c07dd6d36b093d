//! Bulk reads for SEARCH/SORT/THREAD (`pochta_store::keys`): a [`MetaFilter`] turned into
//! one SQL query over `messages` (joined to `message_keys` only for the sent day), the
//! SORT/THREAD keys from `message_keys` (from its covering index `message_keys_sort` when
//! no address or threading field is needed, schema 10), header sections from `blob_keys` (schema 8), the
//! flags of many messages (FETCH FLAGS) from `messages` without its other columns.

use pochta_message::SortFields;
use pochta_store::{MessageSummary, MetaField, MetaFilter, Result, SortRow};
use pochta_types::{Flag, MailboxId, ModSeq, Uid};
use rusqlite::types::Value;
use rusqlite::{Transaction, params};

use crate::{EmbeddedStore, R};

use super::{corrupt, flags_of, sorted, to_modseq, to_uid};

/// Above this many UIDs a read may scan the UID range once instead of one lookup per UID:
/// 100,000 point queries cost several times one ordered scan (bench/README.md, "Big
/// mailbox"). See [`dense`].
pub(super) const SCAN_ABOVE: usize = 256;

/// Whether [`for_uids`] scans the range: many UIDs that are at least an eighth of the range
/// they span. Sparse UIDs (a search's substring candidates spread over a big mailbox) are
/// looked up one by one, not by reading every row between them.
fn dense(uids: &[u32]) -> bool {
    let (Some(lo), Some(hi)) = (uids.first(), uids.last()) else {
        return false;
    };
    uids.len() > SCAN_ABOVE && (u64::from(hi - lo) + 1) <= 8 * uids.len() as u64
}

fn column(f: MetaField) -> &'static str {
    match f {
        MetaField::Uid => "m.uid",
        MetaField::ModSeq => "m.modseq",
        MetaField::Size => "m.size",
        MetaField::Internal => "m.internal_date",
        MetaField::InternalLocal => "(m.internal_date + m.internal_offset * 60)",
        MetaField::Save => "m.save_date",
        MetaField::SentDay => "k.sent_day",
    }
}

/// Appends the SQL of `f` to `sql`, its values to `args` (numbered from `args.len() + 1`).
fn render(f: &MetaFilter, sql: &mut String, args: &mut Vec<Value>) {
    let mut arg = |sql: &mut String, v: Value| {
        args.push(v);
        sql.push_str(&format!("?{}", args.len()));
    };
    match f {
        MetaFilter::All => sql.push('1'),
        MetaFilter::Nothing => sql.push('0'),
        MetaFilter::Flag(flag, want) => {
            let not = if *want { "" } else { "NOT " };
            match (flag, MetaFilter::flag_bit(flag)) {
                // A flag that is set: the values of the (8-bit) flags column that have it, so
                // that `messages_flags` is read for them only; the same rows as the bit test.
                (_, Some(bit)) if *want => {
                    let values: Vec<String> = (0..=u8::MAX)
                        .filter(|v| v & bit != 0)
                        .map(|v| v.to_string())
                        .collect();
                    sql.push_str(&format!("m.flags IN ({})", values.join(",")));
                }
                (_, Some(bit)) => sql.push_str(&format!("{not}(m.flags & {bit} != 0)")),
                // Keywords: space-separated atoms, compared case-insensitively (ASCII).
                (Flag::Keyword(k), None) => {
                    sql.push_str(&format!(
                        "{not}(instr(' ' || lower(m.keywords) || ' ', ' ' || lower("
                    ));
                    arg(sql, Value::Text(k.clone()));
                    sql.push_str(") || ' ') > 0)");
                }
                (_, None) => sql.push('0'),
            }
        }
        MetaFilter::Range(field, lo, hi) => {
            let c = column(*field);
            sql.push_str(&format!("coalesce({c} IS NOT NULL"));
            if let Some(lo) = lo {
                sql.push_str(&format!(" AND {c} >= "));
                arg(sql, Value::Integer(*lo));
            }
            if let Some(hi) = hi {
                sql.push_str(&format!(" AND {c} < "));
                arg(sql, Value::Integer(*hi));
            }
            sql.push_str(", 0)");
        }
        MetaFilter::Not(a) => {
            sql.push_str("NOT (");
            render(a, sql, args);
            sql.push(')');
        }
        MetaFilter::Or(a, b) => {
            sql.push_str("((");
            render(a, sql, args);
            sql.push_str(") OR (");
            render(b, sql, args);
            sql.push_str("))");
        }
        MetaFilter::And(v) => {
            if v.is_empty() {
                sql.push('1');
            }
            for (i, x) in v.iter().enumerate() {
                if i > 0 {
                    sql.push_str(" AND ");
                }
                sql.push('(');
                render(x, sql, args);
                sql.push(')');
            }
        }
    }
}

pub(super) fn search_meta(
    store: &EmbeddedStore,
    mailbox: MailboxId,
    filter: &MetaFilter,
) -> Result<Vec<(Uid, ModSeq)>> {
    let mut args = vec![Value::Integer(mailbox.0)];
    let mut expr = String::new();
    render(filter, &mut expr, &mut args);
    let join = if filter.uses_sent_day() {
        "LEFT JOIN message_keys k ON k.mailbox = m.mailbox AND k.uid = m.uid"
    } else {
        ""
    };
    // A sent-day range that every match must satisfy, repeated as plain comparisons: the
    // rows without a sent day fail it anyway, and SQLite can then read the matches through
    // `message_keys_sent_day` instead of every message of the mailbox.
    let top: Vec<&MetaFilter> = match filter {
        MetaFilter::And(v) => v.iter().collect(),
        f => vec![f],
    };
    let mut extra = String::new();
    // With a set system flag that every match must have, `+m.uid` (no ordering from the
    // primary key) lets SQLite read `messages_flags` and sort the few matches.
    let mut order = "m.uid";
    for f in top {
        if let MetaFilter::Flag(flag, true) = f
            && MetaFilter::flag_bit(flag).is_some()
        {
            order = "+m.uid";
        }
        if let MetaFilter::Range(MetaField::SentDay, lo, hi) = f {
            extra.push_str(" AND k.sent_day IS NOT NULL");
            for (op, v) in [(">=", lo), ("<", hi)] {
                if let Some(v) = v {
                    args.push(Value::Integer(*v));
                    extra.push_str(&format!(" AND k.sent_day {op} ?{}", args.len()));
                }
            }
        }
    }
    let sql = format!(
        "SELECT m.uid, m.modseq FROM messages m {join}
         WHERE m.mailbox = ?1 AND ({expr}){extra} ORDER BY {order}"
    );
    Ok(store.read(|tx| {
        let mut q = tx.prepare(&sql)?;
        let rows = q.query_map(rusqlite::params_from_iter(args.iter()), |r| {
            Ok((r.get::<_, u32>(0)?, r.get::<_, u64>(1)?))
        })?;
        let mut out = Vec::new();
        for r in rows {
            let (uid, modseq) = r?;
            out.push((to_uid(uid)?, to_modseq(modseq)?));
        }
        Ok(out)
    })?)
}

/// Runs `each` on the rows of `sql_scan` (parameters mailbox, lo, hi; ordered by UID) or of
/// `sql_point` (mailbox, uid) for the wanted UIDs (ascending), whichever reads less.
pub(super) fn for_uids(
    tx: &Transaction<'_>,
    mailbox: MailboxId,
    uids: &[u32],
    sql_scan: &str,
    sql_point: &str,
    mut each: impl FnMut(&rusqlite::Row<'_>) -> R<()>,
) -> R<()> {
    if dense(uids) {
        let (lo, hi) = (uids[0], uids[uids.len() - 1]);
        let mut q = tx.prepare_cached(sql_scan)?;
        let mut rows = q.query(params![mailbox.0, lo, hi])?;
        let mut want = uids.iter().peekable();
        while let Some(r) = rows.next()? {
            let uid: u32 = r.get(0)?;
            while want.next_if(|u| **u < uid).is_some() {}
            if want.next_if(|u| **u == uid).is_some() {
                each(r)?;
            }
        }
    } else {
        let mut q = tx.prepare_cached(sql_point)?;
        for uid in uids {
            let mut rows = q.query(params![mailbox.0, uid])?;
            if let Some(r) = rows.next()? {
                each(r)?;
            }
        }
    }
    Ok(())
}

pub(super) fn sort_rows(
    store: &EmbeddedStore,
    mailbox: MailboxId,
    uids: &[Uid],
    need: pochta_store::SortNeed,
) -> Result<Vec<SortRow>> {
    let uids = sorted(uids);
    let mut out: Vec<SortRow> = Vec::with_capacity(uids.len());
    // Without addresses or threading, everything comes from `message_keys_sort` (schema 10):
    // the numbers and the subject columns, nothing decoded. Otherwise the encoded fields are
    // read from the table's rows and decoded.
    let covered = !need.addresses && !need.threading;
    store.read(|tx| {
        let cols = match (covered, need.subject) {
            (true, true) => {
                "SELECT uid, arrival, size, sent, subject, reply \
                 FROM message_keys INDEXED BY message_keys_sort"
            }
            (true, false) => {
                "SELECT uid, arrival, size, sent FROM message_keys INDEXED BY message_keys_sort"
            }
            (false, _) => "SELECT uid, arrival, size, sent, fields FROM message_keys",
        };
        for_uids(
            tx,
            mailbox,
            &uids,
            &format!("{cols} WHERE mailbox = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid"),
            &format!("{cols} WHERE mailbox = ?1 AND uid = ?2"),
            |r| {
                let fields = if !covered {
                    let b: &[u8] = r
                        .get_ref(4)?
                        .as_blob()
                        .map_err(|e| corrupt(format!("sort fields: {e}")))?;
                    pochta_message::decode_sort_fields_for(b, need)
                        .map_err(|e| corrupt(format!("sort fields: {e}")))?
                } else if need.subject {
                    SortFields {
                        base_subject: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                        reply: r.get::<_, Option<bool>>(5)?.unwrap_or(false),
                        ..SortFields::default()
                    }
                } else {
                    SortFields::default()
                };
                out.push(SortRow {
                    uid: to_uid(r.get(0)?)?,
                    arrival: r.get(1)?,
                    size: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    sent: r.get(3)?,
                    fields,
                });
                Ok(())
            },
        )
    })?;
    Ok(out)
}

/// UID, flags and MODSEQ of the given UIDs (FETCH FLAGS): `messages` read without its blob
/// key, the keywords borrowed from the row (no string per message).
pub(super) fn flag_rows(
    store: &EmbeddedStore,
    mailbox: MailboxId,
    uids: &[Uid],
) -> Result<Vec<MessageSummary>> {
    let uids = sorted(uids);
    let mut out = Vec::with_capacity(uids.len());
    store.read(|tx| {
        const COLS: &str = "SELECT uid, flags, keywords, modseq FROM messages";
        for_uids(
            tx,
            mailbox,
            &uids,
            &format!("{COLS} WHERE mailbox = ?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid"),
            &format!("{COLS} WHERE mailbox = ?1 AND uid = ?2"),
            |r| {
                let kw = r
                    .get_ref(2)?
                    .as_str()
                    .map_err(|e| corrupt(format!("keywords: {e}")))?;
                out.push(MessageSummary {
                    uid: to_uid(r.get(0)?)?,
                    flags: flags_of(r.get(1)?, kw),
                    modseq: to_modseq(r.get(3)?)?,
                });
                Ok(())
            },
        )
    })?;
    Ok(out)
}

pub(super) fn header_sections(
    store: &EmbeddedStore,
    mailbox: MailboxId,
    uids: &[Uid],
) -> Result<Vec<(Uid, Vec<u8>)>> {
    let uids = sorted(uids);
    let mut out = Vec::with_capacity(uids.len());
    store.read(|tx| {
        const COLS: &str =
            "SELECT m.uid, k.header FROM messages m JOIN blob_keys k ON k.id = m.blob";
        for_uids(
            tx,
            mailbox,
            &uids,
            &format!("{COLS} WHERE m.mailbox = ?1 AND m.uid BETWEEN ?2 AND ?3 ORDER BY m.uid"),
            &format!("{COLS} WHERE m.mailbox = ?1 AND m.uid = ?2"),
            |r| {
                out.push((to_uid(r.get(0)?)?, r.get(1)?));
                Ok(())
            },
        )
    })?;
    Ok(out)
}
