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
//! - URLAUTH=BINARY (RFC 5524): a URL given with parameters is answered with its metadata
//!   (`pochta_urlauth::fetch_ext`: BODYPARTSTRUCTURE, BODY, BINARY decoded, relabelled
//!   structure); a part BINARY cannot decode is `(BINARY NIL)` (§3.1), a URL that fails is
//!   `url NIL`. BODY with BINARY, or an unknown parameter, is BAD (the parser). The
//!   APPENDLIMIT bound above counts the decoded data and the structures too.
//! - After a RESETKEY, every other session of the user that has the mailbox selected (any
//!   mailbox, for the form without one), on this node or another sharing the store, gets an
//!   untagged `OK [URLMECH INTERNAL]` (§7) at the end of its next command, or at once in
//!   IDLE. The store announces the reset on its change bus, which remembers the latest ones
//!   (`ChangeBus::key_resets_since`: one atomic load per command when there was none); a
//!   session too far behind is told anyway. The session that ran RESETKEY has its answer in
//!   the tagged OK. The revocation itself needs no notice: every URLFETCH, CATENATE and BURL
//!   checks the token against the key in the store.

use std::time::{SystemTime, UNIX_EPOCH};

use pochta_imap_proto::response::{self, Code, Status};
use pochta_imap_proto::urlauth::{
    DataForm, UrlAuth, UrlFetchArg, UrlMetadata, write_genurlauth, write_urlfetch,
    write_urlfetch_ext,
};
use pochta_store::MailStore;
use pochta_types::MailboxName;
use pochta_urlauth::{Fetched, GenError, Requester, Want};

use crate::session::{Done, Res, Session, State, bad, no};

/// Now, in seconds since the epoch (for `;EXPIRE=`).
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Who this session is, as a presenter of authorized URLs.
fn requester<S: MailStore>(session: &Session<S>) -> Requester<'_> {
    match (&session.account, session.anonymous.is_some()) {
        (Some(a), false) => Requester::User(&a.address),
        _ => Requester::Anonymous,
    }
}

/// URLFETCH's resolution of one authorized URL for this session (also CATENATE's).
pub(crate) fn fetch_as_session<S: MailStore>(
    session: &Session<S>,
    raw: &[u8],
) -> Res<Option<Vec<u8>>> {
    Ok(pochta_urlauth::fetch(
        &*session.shared.store,
        raw,
        requester(session),
        now(),
    )?)
}

/// What one URL of a URLFETCH gave.
enum Answer {
    /// RFC 4467: the data, `None` for NIL.
    Plain(Option<Vec<u8>>),
    /// RFC 5524: the metadata, `None` for NIL.
    Ext(DataForm, Option<Fetched>),
}

impl Answer {
    fn bytes(&self) -> u64 {
        let n = match self {
            Answer::Plain(d) => d.as_ref().map_or(0, Vec::len),
            Answer::Ext(_, Some(f)) => {
                f.structure.as_ref().map_or(0, String::len)
                    + f.data.as_ref().and_then(Option::as_ref).map_or(0, Vec::len)
            }
            Answer::Ext(_, None) => 0,
        };
        n as u64
    }
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
        let done = match mailbox {
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
        };
        // This session's own reset is answered by the tagged OK, not told again.
        self.key_mark = store.change_bus().key_reset_mark();
        done
    }

    /// RFC 4467 §7: `* OK [URLMECH INTERNAL]` if the user's key for the selected mailbox was
    /// reset (by another session, possibly on another node) since this session last looked.
    pub(crate) fn report_key_resets(&mut self) {
        let State::Selected(view) = &self.state else {
            return;
        };
        let (Some(account), None) = (&self.account, &self.anonymous) else {
            return;
        };
        if self.shared.store.change_bus().key_resets_since(
            &mut self.key_mark,
            account.id,
            view.mailbox,
        ) {
            response::write_status(
                &mut self.out,
                None,
                Status::Ok,
                Some(&Code::UrlMech),
                "URLAUTH key reset",
            );
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

    fn urlfetch(&mut self, urls: &[UrlFetchArg]) -> Res {
        let max = self.shared.config.max_message;
        let mut answers = Vec::with_capacity(urls.len());
        let mut total: u64 = 0;
        for arg in urls {
            let answer = match arg.params {
                None => Answer::Plain(fetch_as_session(self, &arg.url)?),
                Some(p) => {
                    let want = Want {
                        structure: p.structure,
                        binary: p.data.map(|d| d == DataForm::Binary),
                    };
                    let f = pochta_urlauth::fetch_ext(
                        &*self.shared.store,
                        &arg.url,
                        requester(self),
                        now(),
                        want,
                        self.rev2,
                    )?;
                    Answer::Ext(p.data.unwrap_or(DataForm::Body), f)
                }
            };
            total = total.saturating_add(answer.bytes());
            if total > max {
                return Err(no(
                    Code::Limit,
                    "the URLs name more than APPENDLIMIT bytes together; fetch fewer at once",
                ));
            }
            answers.push(answer);
        }
        for (arg, answer) in urls.iter().zip(&answers) {
            match answer {
                Answer::Plain(d) => write_urlfetch(&mut self.out, &arg.url, d.as_deref()),
                Answer::Ext(form, f) => {
                    let meta = f.as_ref().map(|f| UrlMetadata {
                        structure: f.structure.as_deref(),
                        data: f.data.as_ref().map(|d| (*form, d.as_deref())),
                    });
                    write_urlfetch_ext(&mut self.out, &arg.url, meta.as_ref());
                }
            }
        }
        Done::ok("URLFETCH completed")
    }
}
