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
//! - A `;URLAUTH=` URL is resolved as URLFETCH resolves it for this session
//!   ([`crate::urlauth`]); CATENATE needs no token for the user's own mailboxes (RFC 4469
//!   §5 allows either).
//! - The assembled message larger than APPENDLIMIT is `NO [TOOBIG]` (RFC 4469 §6), checked
//!   while assembling so a huge result is never built.
//! - Sections: `n[.n...]`, optionally followed by `HEADER`, `TEXT` or `MIME`, or just
//!   `HEADER` / `TEXT`; `;PARTIAL=o.l` cuts the section's bytes (RFC 5092 §6); the cutting
//!   is `pochta_urlauth::read_part`, shared with URLFETCH and BURL.

use pochta_imap_proto::append::{AppendDataKind, AppendMessage};
use pochta_imap_proto::catenate::CatPart;
use pochta_imap_proto::response::Code;
use pochta_store::MailStore;
use pochta_types::{MailboxName, Right};
use pochta_urlauth::ImapUrl;

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

    /// The bytes an IMAP URL names, as this user may read them: a URLAUTH-authorized URL
    /// as URLFETCH would resolve it for this session, any other with the session's rights.
    pub(crate) fn url_bytes(&self, raw: &[u8]) -> Res<Vec<u8>> {
        let url = ImapUrl::parse(raw).map_err(|_| bad_url(raw))?;
        if url.access.is_some() {
            return crate::urlauth::fetch_as_session(self, raw)?.ok_or_else(|| bad_url(raw));
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
        pochta_urlauth::read_part(&*self.shared.store, &found.info, &url)?
            .ok_or_else(|| bad_url(raw))
    }
}
