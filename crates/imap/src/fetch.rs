//! FETCH and UID FETCH (RFC 3501 §6.4.5, RFC 3516 BINARY).
//!
//! Implementation notes:
//! - ENVELOPE, BODY and BODYSTRUCTURE are written from the strings rendered once at delivery
//!   (`MessageMeta`); sections are cut from the stored bytes with the stored part offsets.
//!   Nothing is re-parsed here.
//! - Items are answered in the order asked; UID FETCH always includes UID (RFC 3501 §6.4.8).
//! - A non-PEEK body fetch sets `\Seen` (one store call for the whole command) and the
//!   response carries the new FLAGS (RFC 3501 §6.4.5).
//! - Messages expunged by another session but not yet announced are skipped (we answer OK
//!   with what remains, as RFC 9051 §7.5.1 permits).
//! - The responses are written a chunk at a time: once [`CHUNK`] bytes are waiting the session
//!   returns [`Next::More`], the driver writes them, and [`Session::resume`] goes on. Memory
//!   is one chunk plus one message, whatever the FETCH asks for (`1:* BODY[]` over gigabytes
//!   included); a message expunged (and its bytes collected) meanwhile is skipped.
//! - Records are read from the store [`RECORDS`] at a time as the writing goes on, so a
//!   `FETCH 1:*` of a big mailbox never holds every record (bench/README.md "Big mailbox").
//!   A FETCH that sets `\Seen` reads them all first: the flags it sets go in one store call.
//! - A FETCH of UID, FLAGS and MODSEQ only (a client's resync, `FETCH 1:* (FLAGS)`) reads
//!   those columns alone ([`MailStore::flag_rows`]): no blob key, dates or metadata.

use std::borrow::Cow;

use pochta_imap_proto::fetch::{Fetch, FetchAttr, Partial, Section, SectionText};
use pochta_message::SectionText as MsgSection;
use pochta_store::{FlagOp, MailStore, MessageRecord, MessageSummary};
use pochta_types::{Flag, Flags, ModSeq, Uid};

use pochta_imap_proto::DateTime;
use pochta_imap_proto::response::{Code, FetchWriter, write_vanished};
use pochta_store::MailDate;

use crate::acl::SeenView;
use crate::session::{Done, Next, Res, Session, bad, no};

/// Output written before the driver is asked to send it ([`Next::More`]).
pub(crate) const CHUNK: usize = 256 * 1024;

/// Records are read from the store this many at a time.
const RECORDS: usize = 2048;

/// A FETCH between two chunks.
pub(crate) struct Pending {
    pub(crate) tag: pochta_imap_proto::Tag,
    /// Whether the command allows EXPUNGE responses (UID FETCH).
    pub(crate) allow_expunge: bool,
    mailbox: pochta_types::MailboxId,
    attrs: Vec<FetchAttr>,
    /// Still to write, in order: read ones, then the UIDs whose records are read later.
    records: std::collections::VecDeque<MessageRecord>,
    later: std::vec::IntoIter<Uid>,
    need_meta: bool,
    /// Only UID, FLAGS and MODSEQ are asked for: rows come from `flag_rows` instead.
    flags_only: bool,
    flag_rows: std::collections::VecDeque<MessageSummary>,
    /// Where in the view the next message is likely to be ([`crate::view::View::seq_from`]).
    seq_hint: usize,
    /// CHANGEDSINCE: only records with a greater MODSEQ are written.
    changed_since: Option<u64>,
    seen: SeenView,
    need_bytes: bool,
    /// UIDs whose \Seen this command set (their FLAGS go with them).
    seen_now: Vec<Uid>,
    add_flags: bool,
    failure: Option<String>,
}

impl<S: MailStore> Session<S> {
    pub(crate) fn fetch(&mut self, tag: &pochta_imap_proto::Tag, f: Fetch) -> Res {
        let mut targets = self.resolve(&f.set, f.uid)?;
        if let Some(p) = f.partial
            && f.changed_since.is_none()
        {
            // RFC 9394 §4: only these positions of the messages the set names.
            targets = p.slice(&targets).to_vec();
        }
        let mut attrs = f.attrs;
        if f.uid && !attrs.iter().any(|a| matches!(a, FetchAttr::Uid)) {
            attrs.insert(0, FetchAttr::Uid);
        }
        if f.vanished && !(f.uid && self.qresync && f.changed_since.is_some()) {
            // RFC 7162 §3.2.6: VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC enabled.
            return Err(bad(
                "VANISHED needs UID FETCH with CHANGEDSINCE and QRESYNC enabled",
            ));
        }
        if f.changed_since.is_some() || attrs.iter().any(|a| matches!(a, FetchAttr::ModSeq)) {
            // CONDSTORE-enabling (RFC 7162 §3.1); CHANGEDSINCE implies MODSEQ (§3.1.4.1).
            self.enable_condstore();
            if !attrs.iter().any(|a| matches!(a, FetchAttr::ModSeq)) {
                attrs.push(FetchAttr::ModSeq);
            }
        }
        if f.vanished
            && let Some(since) = f.changed_since
        {
            let view = self.view()?;
            let changes = self
                .shared
                .store
                .changes_since(view.mailbox, ModSeq::new(since).unwrap_or(ModSeq::MIN))?;
            let asked = f.set.resolve(u32::MAX);
            let gone: Vec<u32> = changes
                .expunged
                .iter()
                .map(|u| u.get())
                .filter(|u| asked.contains(*u))
                .collect();
            if !gone.is_empty() {
                write_vanished(&mut self.out, true, &gone);
            }
        }
        let need_meta = attrs.iter().any(|a| {
            matches!(
                a,
                FetchAttr::Envelope
                    | FetchAttr::Body
                    | FetchAttr::BodyStructure
                    | FetchAttr::BodySection { .. }
                    | FetchAttr::Binary { .. }
                    | FetchAttr::BinarySize { .. }
                    | FetchAttr::Rfc822Header
                    | FetchAttr::Rfc822Text
                    | FetchAttr::Preview { .. }
            )
        });
        let need_bytes = attrs.iter().any(|a| {
            matches!(
                a,
                FetchAttr::Rfc822
                    | FetchAttr::Rfc822Header
                    | FetchAttr::Rfc822Text
                    | FetchAttr::BodySection { .. }
                    | FetchAttr::Binary { .. }
                    | FetchAttr::BinarySize { .. }
                    | FetchAttr::Preview { .. }
            )
        });
        let sets_seen = attrs.iter().any(|a| {
            matches!(
                a,
                FetchAttr::Rfc822
                    | FetchAttr::Rfc822Text
                    | FetchAttr::BodySection { peek: false, .. }
                    | FetchAttr::Binary { peek: false, .. }
            )
        });
        let view = self.view()?;
        let mailbox = view.mailbox;
        let read_only = view.read_only;
        let mut uids: Vec<Uid> = targets.iter().map(|&(_, u)| u).collect();
        drop(targets);
        let store = self.shared.store.clone();
        let seen = self.selected_seen_view()?;
        // Everything at once only when the set of records decides something before the
        // first is written: \Seen to set, or the page of changed ones PARTIAL asks for.
        let all_first = sets_seen || (f.changed_since.is_some() && f.partial.is_some());
        let mut records = if all_first {
            let mut records = store.records(mailbox, &uids, need_meta)?;
            uids = Vec::new();
            for r in &mut records {
                seen.apply(r.uid, &mut r.flags);
            }
            if let Some(since) = f.changed_since {
                records.retain(|r| r.modseq.get() > since);
                if let Some(p) = f.partial {
                    // With CHANGEDSINCE, PARTIAL pages the messages that changed.
                    records = p.slice(&records).to_vec();
                }
            }
            records
        } else {
            Vec::new()
        };

        // \Seen first, so the FETCH responses show it (RFC 3501 §6.4.5).
        let mut seen_now: Vec<Uid> = Vec::new();
        // RFC 4314 §4: a FETCH MUST NOT set \Seen without the "s" right.
        if sets_seen && !read_only && self.selected_rights()?.contains(pochta_types::Right::Seen) {
            let unseen: Vec<Uid> = records
                .iter()
                .filter(|r| !r.flags.contains(&Flag::Seen))
                .map(|r| r.uid)
                .collect();
            if !unseen.is_empty() {
                let updated = match (&seen, self.me()?) {
                    (SeenView::Private(_), Some(me)) => {
                        let mut v = store.set_private_seen(mailbox, me, &unseen, true)?;
                        for m in &mut v {
                            m.flags.insert(&Flag::Seen);
                        }
                        v
                    }
                    _ => {
                        store
                            .store_flags(
                                mailbox,
                                &unseen,
                                FlagOp::Add,
                                &Flags::from_flags(&[Flag::Seen]),
                                None,
                            )?
                            .updated
                    }
                };
                for m in updated {
                    if let Ok(i) = records.binary_search_by_key(&m.uid, |r| r.uid) {
                        records[i].flags = m.flags;
                        records[i].modseq = m.modseq;
                    }
                    self.view_mut()?.note_own(m.uid, m.modseq);
                    seen_now.push(m.uid);
                }
            }
        }
        let add_flags =
            !seen_now.is_empty() && !attrs.iter().any(|a| matches!(a, FetchAttr::Flags));
        let flags_only = !all_first
            && attrs
                .iter()
                .all(|a| matches!(a, FetchAttr::Uid | FetchAttr::Flags | FetchAttr::ModSeq));

        let mut pending = Box::new(Pending {
            tag: tag.clone(),
            allow_expunge: f.uid,
            mailbox,
            attrs,
            records: records.into(),
            later: uids.into_iter(),
            need_meta,
            flags_only,
            flag_rows: Default::default(),
            seq_hint: 0,
            changed_since: if all_first { None } else { f.changed_since },
            seen,
            need_bytes,
            seen_now,
            add_flags,
            failure: None,
        });
        match self.fetch_chunk(&mut pending)? {
            Some(done) => Ok(done),
            None => {
                self.pending = Some(pending);
                Ok(Done {
                    code: None,
                    text: String::new(),
                    next: Next::More,
                })
            }
        }
    }

    /// Write responses until [`CHUNK`] bytes wait or none remain; the completion when done.
    pub(crate) fn fetch_chunk(&mut self, p: &mut Pending) -> Res<Option<Done>> {
        if p.flags_only {
            return self.fetch_flags_chunk(p);
        }
        let store = self.shared.store.clone();
        while self.out.len() < CHUNK {
            if p.records.is_empty() && !p.next_records(&*store)? {
                break;
            }
            let Some(rec) = p.records.pop_front() else {
                continue;
            };
            let Some(seq) = self.view()?.seq_from(rec.uid, &mut p.seq_hint) else {
                continue;
            };
            let bytes = if p.need_bytes {
                match store.blob(&rec.blob) {
                    Ok(b) => Some(b),
                    // Expunged (and collected) since the records were read: skip it.
                    Err(_) if store.records(p.mailbox, &[rec.uid], false)?.is_empty() => continue,
                    Err(e) => return Err(e.into()),
                }
            } else {
                None
            };
            // IMAP4rev1: message/global is a basic body (RFC 3501 §9); re-rendered from the
            // bytes for the rare message that has one.
            let rev1_structure = if !self.rev2
                && p.attrs
                    .iter()
                    .any(|a| matches!(a, FetchAttr::Body | FetchAttr::BodyStructure))
                && rec
                    .meta
                    .as_deref()
                    .is_some_and(pochta_message::has_message_global)
            {
                // Bytes gone meanwhile (expunged): the stored rendering, as for the rest.
                let b = match &bytes {
                    Some(b) => Some(b.clone()),
                    None => store.blob(&rec.blob).ok(),
                };
                b.zip(rec.meta.as_deref())
                    .and_then(|(b, m)| pochta_message::rev1_body_structure(&b, m))
            } else {
                None
            };
            let recent = self.shows_recent(rec.uid);
            if p.add_flags || p.attrs.iter().any(|a| matches!(a, FetchAttr::Flags)) {
                self.announce_keywords(&rec.flags);
            }
            let mut w = crate::uidonly::fetch_writer(&mut self.out, self.uidonly, seq, rec.uid);
            for a in &p.attrs {
                if let Err(e) = write_attr(
                    &mut w,
                    a,
                    &rec,
                    bytes.as_deref().map(|b| b.as_slice()),
                    recent,
                    rev1_structure.as_ref(),
                ) {
                    p.failure = Some(e);
                }
            }
            if p.add_flags && p.seen_now.binary_search(&rec.uid).is_ok() {
                w.flags(&rec.flags, recent);
            }
            w.finish();
        }
        if !p.records.is_empty() || p.later.len() > 0 {
            return Ok(None);
        }
        match p.failure.take() {
            Some(text) => Err(no(Code::UnknownCte, text)),
            None => Done::ok("FETCH completed").map(Some),
        }
    }
}

impl<S: MailStore> Session<S> {
    /// [`Session::fetch_chunk`] of a FETCH of UID, FLAGS and MODSEQ only, from the store's
    /// flag rows.
    fn fetch_flags_chunk(&mut self, p: &mut Pending) -> Res<Option<Done>> {
        let store = self.shared.store.clone();
        let want_flags = p.attrs.iter().any(|a| matches!(a, FetchAttr::Flags));
        while self.out.len() < CHUNK {
            if p.flag_rows.is_empty() && !p.next_flag_rows(&*store)? {
                break;
            }
            let Some(row) = p.flag_rows.pop_front() else {
                continue;
            };
            let Some(seq) = self.view()?.seq_from(row.uid, &mut p.seq_hint) else {
                continue;
            };
            let recent = self.shows_recent(row.uid);
            if want_flags {
                self.announce_keywords(&row.flags);
            }
            let mut w = crate::uidonly::fetch_writer(&mut self.out, self.uidonly, seq, row.uid);
            for a in &p.attrs {
                match a {
                    FetchAttr::Uid => {
                        w.uid(row.uid.get());
                    }
                    FetchAttr::Flags => {
                        w.flags(&row.flags, recent);
                    }
                    FetchAttr::ModSeq => {
                        w.modseq(row.modseq.get());
                    }
                    // `flags_only` holds no other item.
                    _ => {}
                }
            }
            w.finish();
        }
        if !p.flag_rows.is_empty() || p.later.len() > 0 {
            return Ok(None);
        }
        Done::ok("FETCH completed").map(Some)
    }
}

impl Pending {
    /// Read the flag rows of the next [`RECORDS`] UIDs still to write; false when none remain.
    fn next_flag_rows<S: MailStore>(&mut self, store: &S) -> Res<bool> {
        let uids: Vec<Uid> = self.later.by_ref().take(RECORDS).collect();
        if uids.is_empty() {
            return Ok(false);
        }
        for mut r in store.flag_rows(self.mailbox, &uids)? {
            if self
                .changed_since
                .is_some_and(|since| r.modseq.get() <= since)
            {
                continue;
            }
            self.seen.apply(r.uid, &mut r.flags);
            self.flag_rows.push_back(r);
        }
        Ok(true)
    }

    /// Read the records of the next [`RECORDS`] UIDs still to write; false when none remain.
    fn next_records<S: MailStore>(&mut self, store: &S) -> Res<bool> {
        let uids: Vec<Uid> = self.later.by_ref().take(RECORDS).collect();
        if uids.is_empty() {
            return Ok(false);
        }
        for mut r in store.records(self.mailbox, &uids, self.need_meta)? {
            if self
                .changed_since
                .is_some_and(|since| r.modseq.get() <= since)
            {
                continue;
            }
            self.seen.apply(r.uid, &mut r.flags);
            self.records.push_back(r);
        }
        Ok(true)
    }
}

/// Write one item. `Err` with a message when BINARY cannot decode the part; the item is then
/// written as NIL and the command ends in `NO [UNKNOWN-CTE]` (RFC 3516 §4.3).
fn write_attr(
    w: &mut FetchWriter<'_>,
    a: &FetchAttr,
    rec: &MessageRecord,
    bytes: Option<&[u8]>,
    recent: bool,
    // (BODY, BODYSTRUCTURE) to use instead of the stored ones (see `fetch_chunk`).
    structure: Option<&(String, String)>,
) -> Result<(), String> {
    let meta = rec.meta.as_deref();
    let raw = bytes.unwrap_or(&[]);
    match a {
        FetchAttr::Uid => {
            w.uid(rec.uid.get());
        }
        FetchAttr::Flags => {
            w.flags(&rec.flags, recent);
        }
        FetchAttr::InternalDate => {
            w.internal_date(date_time(rec.internal_date));
        }
        FetchAttr::Rfc822Size => {
            w.rfc822_size(rec.size);
        }
        FetchAttr::Envelope => {
            w.raw(
                "ENVELOPE",
                meta.map(|m| m.envelope()).unwrap_or("NIL").as_bytes(),
            );
        }
        FetchAttr::Body => {
            let body = structure.map(|s| s.0.as_str());
            let body = body.or(meta.map(|m| m.body()));
            w.raw("BODY", body.unwrap_or("NIL").as_bytes());
        }
        FetchAttr::BodyStructure => {
            let bs = structure.map(|s| s.1.as_str());
            let bs = bs.or(meta.map(|m| m.bodystructure()));
            w.raw("BODYSTRUCTURE", bs.unwrap_or("NIL").as_bytes());
        }
        FetchAttr::Rfc822 => {
            w.literal("RFC822", raw);
        }
        FetchAttr::Rfc822Header => {
            let h = meta.and_then(|m| pochta_message::section(raw, m, &[], MsgSection::Header));
            w.literal("RFC822.HEADER", h.as_deref().unwrap_or(b""));
        }
        FetchAttr::Rfc822Text => {
            let t = meta.and_then(|m| pochta_message::section(raw, m, &[], MsgSection::Text));
            w.literal("RFC822.TEXT", t.as_deref().unwrap_or(b""));
        }
        FetchAttr::BodySection {
            section, partial, ..
        } => {
            // The section spec is echoed as the client wrote it (field names too).
            let data = meta.and_then(|m| section_bytes(raw, m, section));
            let (origin, slice) = cut(data.as_deref().unwrap_or(b""), partial.as_ref());
            w.body_section(section, origin, slice);
        }
        FetchAttr::Binary { part, partial, .. } => {
            let path: Vec<u32> = part.iter().map(|n| n.get()).collect();
            match meta.map(|m| pochta_message::binary(raw, m, &path)) {
                Some(Ok(data)) => {
                    let (origin, slice) = cut(&data, partial.as_ref());
                    w.binary(part, origin, Some(slice));
                }
                Some(Err(pochta_message::BinaryError::NoSuchPart)) | None => {
                    w.binary(part, None, None);
                }
                Some(Err(e)) => {
                    w.binary(part, None, None);
                    return Err(format!("cannot decode part: {e}"));
                }
            }
        }
        FetchAttr::BinarySize { part } => {
            let path: Vec<u32> = part.iter().map(|n| n.get()).collect();
            match meta.map(|m| pochta_message::binary(raw, m, &path)) {
                Some(Ok(data)) => {
                    w.binary_size(part, Some(data.len() as u64));
                }
                Some(Err(pochta_message::BinaryError::NoSuchPart)) | None => {
                    w.binary_size(part, None);
                }
                Some(Err(e)) => {
                    w.binary_size(part, None);
                    return Err(format!("cannot decode part: {e}"));
                }
            }
        }
        FetchAttr::ModSeq => {
            w.modseq(rec.modseq.get());
        }
        FetchAttr::SaveDate => {
            w.save_date(date_time(rec.save_date));
        }
        FetchAttr::Preview { .. } => {
            // RFC 8970 §3: at most 256 characters of plain text; computed from the stored
            // bytes and parts (never re-parsed), so LAZY gets it at once too.
            let p = meta.map(|m| preview(raw, m));
            w.preview(p.as_deref());
        }
        FetchAttr::EmailId => {
            // RFC 8474 §5.1: copies of a message share the EMAILID; ours is the content
            // address, so identical messages share it too, which the RFC allows.
            w.object_id("EMAILID", Some(&email_object_id(&rec.blob)));
        }
        FetchAttr::ThreadId => {
            w.object_id("THREADID", None);
        }
    }
    Ok(())
}

/// A stored date as INTERNALDATE / SAVEDATE write it: in the offset it was given in
/// (RFC 3501 §2.3.3). The store only holds dates that came from a valid `date-time` or the
/// clock, so the fallback (the epoch) is never written in practice.
fn date_time(d: MailDate) -> DateTime {
    DateTime::from_unix(d.unix, d.offset_minutes)
        .or_else(|| DateTime::from_unix(d.unix, 0))
        .or_else(|| DateTime::from_unix(0, 0))
        .expect("the epoch is a valid date-time")
}

/// The EMAILID of a message (RFC 8474 §5.1).
pub(crate) fn email_object_id(blob: &pochta_store::BlobId) -> String {
    format!("E{}", blob.0.get(..40).unwrap_or(&blob.0))
}

/// RFC 8970 preview text: the decoded text of the message, HTML tags dropped, white space
/// collapsed, cut to 200 characters.
fn preview(raw: &[u8], meta: &pochta_message::MessageMeta) -> String {
    let text = pochta_message::search_body_text(raw, meta);
    let mut out = String::with_capacity(256);
    let mut in_tag = false;
    let mut space = false;
    let html = text.contains("</") || text.contains("<br") || text.contains("<p");
    for c in text.chars() {
        if html && c == '<' {
            in_tag = true;
            continue;
        }
        if in_tag {
            in_tag = c != '>';
            continue;
        }
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if c.is_control() {
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
        if out.chars().count() >= 200 {
            break;
        }
    }
    out
}

fn section_bytes<'a>(
    raw: &'a [u8],
    meta: &pochta_message::MessageMeta,
    s: &Section,
) -> Option<Cow<'a, [u8]>> {
    let path: Vec<u32> = s.part.iter().map(|n| n.get()).collect();
    let names: Vec<String>;
    let name_refs: Vec<&str>;
    let which = match &s.text {
        None => MsgSection::Full,
        Some(SectionText::Header) => MsgSection::Header,
        Some(SectionText::Text) => MsgSection::Text,
        Some(SectionText::Mime) => MsgSection::Mime,
        Some(SectionText::HeaderFields(n)) | Some(SectionText::HeaderFieldsNot(n)) => {
            names = n
                .iter()
                .map(|x| String::from_utf8_lossy(x).into_owned())
                .collect();
            name_refs = names.iter().map(String::as_str).collect();
            if matches!(s.text, Some(SectionText::HeaderFields(_))) {
                MsgSection::HeaderFields(&name_refs)
            } else {
                MsgSection::HeaderFieldsNot(&name_refs)
            }
        }
    };
    pochta_message::section(raw, meta, &path, which)
}

/// The part of `data` a partial fetch asks for, and the origin the response names (RFC 3501
/// §6.4.5: only the origin is echoed).
fn cut<'d>(data: &'d [u8], partial: Option<&Partial>) -> (Option<u32>, &'d [u8]) {
    match partial {
        Some(p) => {
            let start = (p.offset as usize).min(data.len());
            let end = start
                .saturating_add(p.length.get() as usize)
                .min(data.len());
            (Some(p.offset), &data[start..end])
        }
        None => (None, data),
    }
}
