//! CATENATE (RFC 4469): APPEND (and REPLACE) messages assembled from text literals and IMAP
//! URLs naming messages or parts this user may read.
//!
//! Implementation notes (what always holds):
//! - Parts are joined in order; the result is then checked and stored exactly like an
//!   APPEND literal (flags, size, APPENDUID; RFC 4469 §5).
//! - A URL is resolved on behalf of the logged-in user only: its mailbox must be one
//!   [`Session::find`] shows with the "r" right (RFC 4314 §4), its UIDVALIDITY (if given)
//!   must match, the UID must exist, and the section must exist. Anything else, a URL of
//!   another user, or a form we do not resolve, is `NO [BADURL <url>]` and nothing is
//!   appended (RFC 4469 §5, §6).
//! - `;URLAUTH=` URLs are refused here: CATENATE needs no authorization token for the
//!   user's own mailboxes (RFC 4469 §5 allows either).
//! - The assembled message larger than APPENDLIMIT is `NO [TOOBIG]` (RFC 4469 §6), checked
//!   while assembling so a huge result is never built.
//! - Sections: `n[.n...]`, optionally followed by `HEADER`, `TEXT` or `MIME`, or just
//!   `HEADER` / `TEXT`; `;PARTIAL=o.l` cuts the section's bytes (RFC 5092 §6).

use pochta_imap_proto::append::{AppendDataKind, AppendMessage};
use pochta_imap_proto::catenate::{CatPart, ImapUrl};
use pochta_imap_proto::response::Code;
use pochta_message::SectionText;
use pochta_store::MailStore;
use pochta_types::{MailboxName, Right, Uid};

use crate::session::{Fail, Res, Session, no};

fn bad_url(url: &[u8]) -> Fail {
    no(
        Code::BadUrl(String::from_utf8_lossy(url).into_owned()),
        "the URL does not name a message part you may read",
    )
}

impl<S: MailStore> Session<S> {
    /// Build every CATENATE message of an APPEND/REPLACE in place.
    pub(crate) fn catenate(&self, messages: &mut [AppendMessage]) -> Res<()> {
        let max = self.shared.config.max_message;
        for m in messages
            .iter_mut()
            .filter(|m| m.kind == AppendDataKind::Catenate)
        {
            let mut data = Vec::new();
            for part in &m.parts {
                match part {
                    CatPart::Text(t) => data.extend_from_slice(t),
                    CatPart::Url(u) => {
                        let bytes = self.url_bytes(u)?;
                        data.extend_from_slice(&bytes);
                    }
                }
                if data.len() as u64 > max {
                    return Err(no(
                        Code::TooBig,
                        "the catenated message is larger than APPENDLIMIT",
                    ));
                }
            }
            m.data = data;
            m.parts.clear();
        }
        Ok(())
    }

    /// The bytes an IMAP URL names, as this user may read them.
    pub(crate) fn url_bytes(&self, raw: &[u8]) -> Res<Vec<u8>> {
        let url = ImapUrl::parse(raw).ok_or_else(|| bad_url(raw))?;
        if url.urlauth.is_some() {
            return Err(bad_url(raw));
        }
        if let Some(user) = &url.user
            && !self
                .account()
                .is_ok_and(|a| a.address.to_string().eq_ignore_ascii_case(user))
        {
            return Err(bad_url(raw));
        }
        let name = MailboxName::new(&url.mailbox).map_err(|_| bad_url(raw))?;
        let found = self
            .find(&name)?
            .filter(|f| !f.info.noselect && f.rights.contains(Right::Read))
            .ok_or_else(|| bad_url(raw))?;
        if url
            .uid_validity
            .is_some_and(|v| v != found.info.uid_validity.get())
        {
            return Err(bad_url(raw));
        }
        let uid = Uid::new(url.uid).ok_or_else(|| bad_url(raw))?;
        let store = &self.shared.store;
        let rec = store
            .records(found.info.id, &[uid], true)?
            .into_iter()
            .next()
            .ok_or_else(|| bad_url(raw))?;
        let blob = store.blob(&rec.blob)?;
        let data: Vec<u8> = match &url.section {
            None => blob.as_ref().clone(),
            Some(section) => {
                let meta = rec.meta.as_ref().ok_or_else(|| bad_url(raw))?;
                let (path, which) = parse_section(section).ok_or_else(|| bad_url(raw))?;
                pochta_message::section(&blob, meta, &path, which)
                    .ok_or_else(|| bad_url(raw))?
                    .into_owned()
            }
        };
        Ok(match url.partial {
            None => data,
            Some((offset, len)) => {
                let start = usize::try_from(offset)
                    .unwrap_or(usize::MAX)
                    .min(data.len());
                let end = match len {
                    Some(l) => start.saturating_add(usize::try_from(l).unwrap_or(usize::MAX)),
                    None => data.len(),
                }
                .min(data.len());
                data[start..end].to_vec()
            }
        })
    }
}

/// `1.2`, `1.2.MIME`, `HEADER`, `2.TEXT` → part path and text.
fn parse_section(s: &str) -> Option<(Vec<u32>, SectionText<'static>)> {
    let mut path = Vec::new();
    let mut which = SectionText::Full;
    let mut parts = s.split('.').peekable();
    while let Some(p) = parts.next() {
        if let Ok(n) = p.parse::<u32>() {
            if n == 0 || which != SectionText::Full {
                return None;
            }
            path.push(n);
            continue;
        }
        which = match p {
            "HEADER" => SectionText::Header,
            "TEXT" => SectionText::Text,
            "MIME" if !path.is_empty() => SectionText::Mime,
            _ => return None,
        };
        if parts.peek().is_some() {
            return None;
        }
    }
    Some((path, which))
}
