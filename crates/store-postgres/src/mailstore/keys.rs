//! Bulk reads for SELECT and SEARCH (`pochta_store::keys`), as the embedded store's
//! `mailstore/keys.rs` and `mailstore/select.rs`: a [`MetaFilter`] as one query over
//! `messages` (a filter on the sent day, which only the stored metadata holds here, takes
//! the trait's default path), and SELECT's UIDs and first unseen message from one snapshot.
//! SORT/THREAD keys come from the stored metadata, header sections from the bytes.

use pochta_store::{MessageMeta, MetaField, MetaFilter, Result, SelectState, SortRow, StoreError};
use pochta_types::{Flag, MailboxId, ModSeq, Uid};
use postgres::types::ToSql;

use crate::PgStore;

use super::{mb_by_id, to_modseq, to_uid};

/// One query parameter.
enum Arg {
    Int(i64),
    Text(String),
}

fn column(f: MetaField) -> Option<&'static str> {
    Some(match f {
        MetaField::Uid => "m.uid",
        MetaField::ModSeq => "m.modseq",
        MetaField::Size => "m.size",
        MetaField::Internal => "m.internal_date",
        MetaField::InternalLocal => "(m.internal_date + m.internal_offset * 60)",
        MetaField::Save => "m.save_date",
        MetaField::SentDay => return None,
    })
}

/// The SQL of `f` (parameters numbered from `args.len() + 1`), or `None` if it needs the
/// sent day.
fn render(f: &MetaFilter, sql: &mut String, args: &mut Vec<Arg>) -> Option<()> {
    let mut arg = |sql: &mut String, v: Arg| {
        let cast = match v {
            Arg::Int(_) => "bigint",
            Arg::Text(_) => "text",
        };
        args.push(v);
        sql.push_str(&format!("${}::{cast}", args.len()));
    };
    match f {
        MetaFilter::All => sql.push_str("TRUE"),
        MetaFilter::Nothing => sql.push_str("FALSE"),
        MetaFilter::Flag(flag, want) => {
            let not = if *want { "" } else { "NOT " };
            match (flag, MetaFilter::flag_bit(flag)) {
                (_, Some(bit)) => sql.push_str(&format!("{not}((m.flags & {bit}) <> 0)")),
                (Flag::Keyword(k), None) => {
                    sql.push_str(&format!(
                        "{not}(strpos(' ' || lower(m.keywords) || ' ', ' ' || lower("
                    ));
                    arg(sql, Arg::Text(k.clone()));
                    sql.push_str(") || ' ') > 0)");
                }
                (_, None) => sql.push_str("FALSE"),
            }
        }
        MetaFilter::Range(field, lo, hi) => {
            let c = column(*field)?;
            sql.push_str("(TRUE");
            if let Some(lo) = lo {
                sql.push_str(&format!(" AND {c} >= "));
                arg(sql, Arg::Int(*lo));
            }
            if let Some(hi) = hi {
                sql.push_str(&format!(" AND {c} < "));
                arg(sql, Arg::Int(*hi));
            }
            sql.push(')');
        }
        MetaFilter::Not(a) => {
            sql.push_str("NOT (");
            render(a, sql, args)?;
            sql.push(')');
        }
        MetaFilter::Or(a, b) => {
            sql.push_str("((");
            render(a, sql, args)?;
            sql.push_str(") OR (");
            render(b, sql, args)?;
            sql.push_str("))");
        }
        MetaFilter::And(v) => {
            sql.push_str("(TRUE");
            for x in v {
                sql.push_str(" AND (");
                render(x, sql, args)?;
                sql.push(')');
            }
            sql.push(')');
        }
    }
    Some(())
}

/// `None` when the filter needs the sent day (the caller then takes the default path).
pub(super) fn search_meta(
    store: &PgStore,
    mailbox: MailboxId,
    filter: &MetaFilter,
) -> Option<Result<Vec<(Uid, ModSeq)>>> {
    let mut args = vec![Arg::Int(mailbox.0)];
    let mut expr = String::new();
    render(filter, &mut expr, &mut args)?;
    let sql = format!(
        "SELECT m.uid, m.modseq FROM messages m WHERE m.mailbox = $1::bigint AND ({expr})
         ORDER BY m.uid"
    );
    Some(
        store
            .read(|tx| {
                let params: Vec<&(dyn ToSql + Sync)> = args
                    .iter()
                    .map(|a| match a {
                        Arg::Int(v) => v as &(dyn ToSql + Sync),
                        Arg::Text(v) => v as &(dyn ToSql + Sync),
                    })
                    .collect();
                tx.query(&sql, &params)?
                    .iter()
                    .map(|r| Ok((to_uid(r.get(0))?, to_modseq(r.get(1))?)))
                    .collect()
            })
            .map_err(Into::into),
    )
}

pub(super) fn select_state(store: &PgStore, mailbox: MailboxId) -> Result<SelectState> {
    Ok(store.snapshot(|tx| {
        let mb = mb_by_id(tx, mailbox)?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {}", mailbox.0)))?;
        let uids: Vec<Uid> = tx
            .query(
                "SELECT uid FROM messages WHERE mailbox = $1 ORDER BY uid",
                &[&mb.id],
            )?
            .iter()
            .map(|r| to_uid(r.get(0)))
            .collect::<crate::R<_>>()?;
        let first_unseen = tx
            .query_opt(
                "SELECT uid FROM messages WHERE mailbox = $1 AND (flags & 1) = 0
                 ORDER BY uid LIMIT 1",
                &[&mb.id],
            )?
            .map(|r| to_uid(r.get(0)))
            .transpose()?;
        let recent = uids.len() - uids.partition_point(|u| i64::from(u.get()) < mb.recent_floor);
        Ok(SelectState {
            uids: std::sync::Arc::new(uids),
            first_unseen,
            recent: recent as u32,
            uid_next: to_uid(mb.uid_next)?,
            highest_modseq: to_modseq(mb.highest_modseq)?,
        })
    })?)
}

/// SORT/THREAD keys from the stored metadata (one query; the bytes only for metadata
/// stored before the sort fields were).
pub(super) fn sort_rows(
    store: &PgStore,
    mailbox: MailboxId,
    uids: &[Uid],
    need: pochta_store::SortNeed,
) -> Result<Vec<SortRow>> {
    let uids = super::sorted(uids);
    Ok(store.snapshot(|tx| {
        let rows = tx.query(
            "SELECT m.uid, m.internal_date, m.size, b.meta, b.id FROM messages m
             JOIN blobs b ON b.id = m.blob
             WHERE m.mailbox = $1 AND m.uid = ANY($2) ORDER BY m.uid",
            &[&mailbox.0, &uids],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let meta = MessageMeta::from_bytes(r.get::<_, &[u8]>(3))
                .map_err(|e| super::corrupt(format!("meta: {e}")))?;
            let fields = match meta.sort_fields() {
                Some(f) => f.clone(),
                None => {
                    let id: &str = r.get(4);
                    let data: Option<Vec<u8>> = tx
                        .query_opt("SELECT data FROM blobs WHERE id = $1", &[&id])?
                        .map(|d| d.get(0));
                    data.map(|d| pochta_message::sort_fields(&d, &meta))
                        .unwrap_or_default()
                }
            };
            out.push(SortRow {
                uid: to_uid(r.get(0))?,
                arrival: r.get(1),
                size: u64::try_from(r.get::<_, i64>(2)).unwrap_or(0),
                sent: meta.sent_date(),
                fields: need.keep(fields),
            });
        }
        Ok(out)
    })?)
}

/// Header sections, cut from the bytes here.
pub(super) fn header_sections(
    store: &PgStore,
    mailbox: MailboxId,
    uids: &[Uid],
) -> Result<Vec<(Uid, Vec<u8>)>> {
    let uids = super::sorted(uids);
    Ok(store.snapshot(|tx| {
        tx.query(
            "SELECT m.uid, b.data FROM messages m JOIN blobs b ON b.id = m.blob
             WHERE m.mailbox = $1 AND m.uid = ANY($2) ORDER BY m.uid",
            &[&mailbox.0, &uids],
        )?
        .iter()
        .map(|r| {
            let data: &[u8] = r.get(1);
            Ok((
                to_uid(r.get(0))?,
                pochta_message::header_section(data).to_vec(),
            ))
        })
        .collect()
    })?)
}
