//! URLAUTH (RFC 4467): RESETKEY, GENURLAUTH and URLFETCH. The URL grammar, the INTERNAL
//! token and the validation rules are `pochta-urlauth`'s (shared with BURL on submission);
//! this module maps them onto the session.
//!
//! Implementation notes (what always holds):
//! - GENURLAUTH (§7) authorizes URLs of the logged-in user's own mailbox access key table
//!   only: the URL's user must be the session's account; its mailbox must exist and be
//!   readable; the access identifier must be valid; the mechanism must be INTERNAL. Any
//!   failure is a tagged BAD, as §7 requires, and no URL of the command is returned.
//! - RESETKEY (§7) with a mailbox replaces that mailbox's key (`OK [URLMECH INTERNAL]`);
//!   without one it removes all the user's keys. A mechanism other than INTERNAL is BAD; a
//!   mailbox the user cannot see is `NO [NONEXISTENT]`. Either revokes every URL made with
//!   the old key(s), in every session and on every node (the key is in the store).
//! - URLFETCH (§7) answers one `* URLFETCH url data` per URL, `NIL` for any URL that fails
//!   validation, and a tagged OK; only a store failure is NO. It needs no selected mailbox
//!   and does not touch the selected one; it never sets `\Seen`. An anonymous session is
//!   the `anonymous` requester; no IMAP session is a submission entity, so `submit+` URLs
//!   are NIL here (they are for BURL).
//! - One URLFETCH returns at most APPENDLIMIT bytes in all (the data is held until the
//!   command's responses are written); more is `NO [LIMIT]` (§7 allows NO), so a command of
//!   many URLs cannot make the server hold many messages at once.
//! - Anonymous sessions have no key table: GENURLAUTH and RESETKEY are `NO [NOPERM]`.
//! - SELECT and EXAMINE send `* OK [URLMECH INTERNAL]` (§8).
//! - Not done: the untagged `OK [URLMECH]` to other sessions that have the mailbox selected
//!   after a RESETKEY (§7; the keys themselves change at once, in every session), and
//!   URLAUTH=BINARY (RFC 5524).

use std::time::{SystemTime, UNIX_EPOCH};

use pochta_imap_proto::response::Code;
use pochta_imap_proto::urlauth::{UrlAuth, write_genurlauth, write_urlfetch};
use pochta_store::MailStore;
use pochta_types::MailboxName;
use pochta_urlauth::{GenError, Requester};

use crate::session::{Done, Res, Session, bad, no};

/// Now, in seconds since the epoch (for `;EXPIRE=`).
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// URLFETCH's resolution of one authorized URL for this session (also CATENATE's).
pub(crate) fn fetch_as_session<S: MailStore>(
    session: &Session<S>,
    raw: &[u8],
) -> Res<Option<Vec<u8>>> {
    let who = match (&session.account, session.anonymous.is_some()) {
        (Some(a), false) => Requester::User(&a.address),
        _ => Requester::Anonymous,
    };
    Ok(pochta_urlauth::fetch(
        &*session.shared.store,
        raw,
        who,
        now(),
    )?)
}

impl<S: MailStore> Session<S> {
    pub(crate) fn urlauth(&mut self, cmd: UrlAuth) -> Res {
        match cmd {
            UrlAuth::ResetKey {
                mailbox,
                mechanisms,
            } => self.resetkey(mailbox.as_ref(), &mechanisms),
            UrlAuth::GenUrlAuth(pairs) => self.genurlauth(&pairs),
            UrlAuth::UrlFetch(urls) => self.urlfetch(&urls),
        }
    }

    fn resetkey(&mut self, mailbox: Option<&MailboxName>, mechanisms: &[String]) -> Res {
        let me = self.account()?.clone();
        if let Some(m) = mechanisms.iter().find(|m| !pochta_urlauth::is_internal(m)) {
            return Err(bad(format!("unknown URLAUTH mechanism {m}")));
        }
        let store = &*self.shared.store;
        match mailbox {
            None => {
                pochta_urlauth::reset(store, &me, None)?;
                Done::ok("All keys removed")
            }
            Some(name) => {
                if !pochta_urlauth::reset(store, &me, Some(name.as_str()))? {
                    return Err(no(
                        Code::NonExistent,
                        format!("mailbox {name} does not exist"),
                    ));
                }
                Done::code(Code::UrlMech, "RESETKEY completed")
            }
        }
    }

    fn genurlauth(&mut self, pairs: &[(Vec<u8>, String)]) -> Res {
        let me = self.account()?.clone();
        let store = &*self.shared.store;
        let mut urls = Vec::with_capacity(pairs.len());
        for (url, mech) in pairs {
            match pochta_urlauth::generate(store, &me, url, mech) {
                Ok(u) => urls.push(u),
                Err(GenError::Bad(why)) => return Err(bad(why)),
                Err(GenError::Store(e)) => return Err(e.into()),
            }
        }
        write_genurlauth(&mut self.out, &urls);
        Done::ok("GENURLAUTH completed")
    }

    fn urlfetch(&mut self, urls: &[Vec<u8>]) -> Res {
        let max = self.shared.config.max_message;
        let mut data = Vec::with_capacity(urls.len());
        let mut total: u64 = 0;
        for url in urls {
            let d = fetch_as_session(self, url)?;
            total = total.saturating_add(d.as_ref().map_or(0, |d| d.len() as u64));
            if total > max {
                return Err(no(
                    Code::Limit,
                    "the URLs name more than APPENDLIMIT bytes together; fetch fewer at once",
                ));
            }
            data.push(d);
        }
        for (url, d) in urls.iter().zip(&data) {
            write_urlfetch(&mut self.out, url, d.as_deref());
        }
        Done::ok("URLFETCH completed")
    }
}
