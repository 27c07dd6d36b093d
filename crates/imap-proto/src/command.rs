//! Commands: the typed result of parsing one framed command, and the dispatcher.
//!
//! Implementation notes:
//! - [`parse_command`] takes one complete command in wire form (as [`crate::FramedCommand`]
//!   holds it: lines ending in CRLF, literal bytes inline) and returns a [`Command`] or a
//!   [`ParseError`] that carries the tag whenever the tag was readable, so the session can
//!   answer `<tag> BAD <message>` (or `* BAD` without a tag).
//! - Command names are case-insensitive (RFC 9051 §9 note 1); so are all keywords.
//! - Which commands are valid in which session state is the session's decision, not ours.
//! - Never panics: all the grammar lives behind `crate::parse::Cursor`, whose primitives check
//!   every index.
//!
//! ```abnf
//! command         = tag SP (command-any / command-auth / command-nonauth /
//!                   command-select) CRLF
//! command-any     = "CAPABILITY" / "LOGOUT" / "NOOP" / x-command / id
//! command-auth    = append / create / delete / examine / list / lsub / rename / select /
//!                   status / subscribe / unsubscribe / idle / namespace / enable /
//!                   getquota / getquotaroot / setquota / compress / setacl /
//!                   deleteacl / getacl / listrights / myrights / getmetadata /
//!                   setmetadata / notify
//! command-nonauth = login / authenticate / "STARTTLS"
//! command-select  = "CHECK" / "CLOSE" / "UNSELECT" / "EXPUNGE" / copy / move / fetch /
//!                   store / search / sort / thread / cancelupdate / uid / replace
//! uid             = "UID" SP (copy / move / fetch / search / sort / thread / store /
//!                   uid-expunge / replace)
//! ```

use pochta_types::{MailboxName, MailboxNameError};

use crate::acl::{AclEntry, SetAcl};
use crate::append::Append;
use crate::copy_move::CopyMove;
use crate::core::Tag;
use crate::fetch::Fetch;
use crate::id::IdParams;
use crate::list::{List, Lsub};
use crate::login::{Authenticate, Login};
use crate::mailbox::{Create, Rename};
use crate::metadata::{GetMetadata, SetMetadata};
use crate::parse::{Cursor, PErr, PResult, syntax};
use crate::replace::Replace;
use crate::search::Search;
use crate::select_examine::Select;
use crate::sequence::SequenceSet;
use crate::status::Status;
use crate::store::Store;
use crate::{
    acl, append, copy_move, enable, fetch, id, list, login, mailbox, metadata, quota, replace,
    search, select_examine, status, store,
};

/// Parser settings that depend on the session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// UTF8=ACCEPT is enabled (RFC 9051 §6.3.1, RFC 6855 §3): mailbox names are raw UTF-8,
    /// not modified UTF-7.
    pub utf8_accept: bool,
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub tag: Tag,
    pub body: CommandBody,
}

/// What a command asks for. Field types validate what they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandBody {
    // Any state (RFC 9051 §6.1)
    Capability,
    Noop,
    Logout,
    /// ID (RFC 2971); `None` is `ID NIL`.
    Id(Option<IdParams>),
    // Not authenticated (RFC 9051 §6.2)
    StartTls,
    Authenticate(Authenticate),
    Login(Login),
    // Authenticated (RFC 9051 §6.3)
    Enable(Vec<String>),
    Select(Select),
    Examine(Select),
    Create(Create),
    Delete(MailboxName),
    Rename(Rename),
    Subscribe(MailboxName),
    Unsubscribe(MailboxName),
    List(List),
    Lsub(Lsub),
    Namespace,
    Status(Status),
    Append(Append),
    Idle,
    /// COMPRESS (RFC 4978) with the mechanism, upper-cased (`DEFLATE`).
    Compress(String),
    /// GETQUOTA (RFC 9208 §4.1) with the quota root name.
    GetQuota(Vec<u8>),
    /// GETQUOTAROOT (RFC 9208 §4.2).
    GetQuotaRoot(MailboxName),
    /// SETQUOTA (RFC 9208 §4.3): root and (resource, limit) pairs; resources upper-cased.
    SetQuota {
        root: Vec<u8>,
        limits: Vec<(String, u64)>,
    },
    /// SETACL (RFC 4314 §3.1).
    SetAcl(SetAcl),
    /// DELETEACL (RFC 4314 §3.2).
    DeleteAcl(AclEntry),
    /// GETACL (RFC 4314 §3.3).
    GetAcl(MailboxName),
    /// LISTRIGHTS (RFC 4314 §3.4).
    ListRights(AclEntry),
    /// MYRIGHTS (RFC 4314 §3.5).
    MyRights(MailboxName),
    /// GETMETADATA (RFC 5464 §4.2).
    GetMetadata(GetMetadata),
    /// SETMETADATA (RFC 5464 §4.3).
    SetMetadata(SetMetadata),
    /// RESETKEY, GENURLAUTH, URLFETCH (RFC 4467 §7).
    UrlAuth(crate::urlauth::UrlAuth),
    /// NOTIFY (RFC 5465 §3.1).
    Notify(crate::notify::Notify),
    // Selected (RFC 9051 §6.4)
    Check,
    Close,
    Unselect,
    Expunge,
    /// UID EXPUNGE (RFC 4315 §2.1).
    UidExpunge(SequenceSet),
    Search(Search),
    /// ESEARCH (RFC 7377 MULTISEARCH).
    Esearch(crate::multisearch::Esearch),
    /// SORT / UID SORT (RFC 5256 §3, RFC 5957, RFC 5267).
    Sort(crate::sort::Sort),
    /// THREAD / UID THREAD (RFC 5256 §3).
    Thread(crate::thread::Thread),
    /// CANCELUPDATE (RFC 5267 §4.3.5): the tags of the contexts to end.
    CancelUpdate(Vec<String>),
    Fetch(Fetch),
    Store(Store),
    Copy(CopyMove),
    Move(CopyMove),
    /// REPLACE / UID REPLACE (RFC 8508).
    Replace(Replace),
}

impl CommandBody {
    /// The command's name as written on the wire (`UID FETCH` for UID forms).
    pub fn name(&self) -> &'static str {
        use CommandBody::*;
        match self {
            Capability => "CAPABILITY",
            Noop => "NOOP",
            Logout => "LOGOUT",
            Id(_) => "ID",
            StartTls => "STARTTLS",
            Authenticate(_) => "AUTHENTICATE",
            Login(_) => "LOGIN",
            Enable(_) => "ENABLE",
            Select(_) => "SELECT",
            Examine(_) => "EXAMINE",
            Create(_) => "CREATE",
            Delete(_) => "DELETE",
            Rename(_) => "RENAME",
            Subscribe(_) => "SUBSCRIBE",
            Unsubscribe(_) => "UNSUBSCRIBE",
            List(_) => "LIST",
            Lsub(_) => "LSUB",
            Namespace => "NAMESPACE",
            Status(_) => "STATUS",
            Append(_) => "APPEND",
            Idle => "IDLE",
            Compress(_) => "COMPRESS",
            GetQuota(_) => "GETQUOTA",
            GetQuotaRoot(_) => "GETQUOTAROOT",
            SetQuota { .. } => "SETQUOTA",
            SetAcl(_) => "SETACL",
            DeleteAcl(_) => "DELETEACL",
            GetAcl(_) => "GETACL",
            ListRights(_) => "LISTRIGHTS",
            MyRights(_) => "MYRIGHTS",
            GetMetadata(_) => "GETMETADATA",
            SetMetadata(_) => "SETMETADATA",
            UrlAuth(u) => u.name(),
            Notify(_) => "NOTIFY",
            Check => "CHECK",
            Close => "CLOSE",
            Unselect => "UNSELECT",
            Expunge => "EXPUNGE",
            UidExpunge(_) => "UID EXPUNGE",
            Search(s) if s.uid => "UID SEARCH",
            Search(_) => "SEARCH",
            Esearch(_) => "ESEARCH",
            Sort(s) if s.search.uid => "UID SORT",
            Sort(_) => "SORT",
            Thread(t) if t.search.uid => "UID THREAD",
            Thread(_) => "THREAD",
            CancelUpdate(_) => "CANCELUPDATE",
            Fetch(f) if f.uid => "UID FETCH",
            Fetch(_) => "FETCH",
            Store(s) if s.uid => "UID STORE",
            Store(_) => "STORE",
            Copy(c) if c.uid => "UID COPY",
            Copy(_) => "COPY",
            Move(m) if m.uid => "UID MOVE",
            Move(_) => "MOVE",
            Replace(r) if r.uid => "UID REPLACE",
            Replace(_) => "REPLACE",
        }
    }
}

/// Why a command could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// Syntax error: answer `BAD`.
    Syntax,
    /// No tag could be read: answer `* BAD`.
    BadTag,
    /// The command name is not one we know: answer `BAD`.
    UnknownCommand,
    /// The syntax was fine but a mailbox name is invalid (not decodable, or refused by
    /// [`MailboxName::new`]): a session usually answers `NO [CANNOT]` or `NO [NONEXISTENT]`.
    Mailbox(Option<MailboxNameError>),
}

/// A parse error with the tag when it was readable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub tag: Option<Tag>,
    pub kind: ParseErrorKind,
    /// A short human-readable message, fit to follow `BAD`.
    pub message: String,
}

/// Parse one complete command (see the module notes).
pub fn parse_command(input: &[u8], opts: ParseOptions) -> Result<Command, ParseError> {
    let mut c = Cursor::new(input, opts);
    let raw_tag = c.take_while(|b| b != b' ' && b != b'\r' && b != b'\n');
    let Some(tag) = Tag::new(raw_tag) else {
        return Err(ParseError {
            tag: None,
            kind: ParseErrorKind::BadTag,
            message: "missing or invalid tag".into(),
        });
    };
    if !c.eat(b' ') {
        return Err(ParseError {
            tag: Some(tag),
            kind: ParseErrorKind::Syntax,
            message: "expected a space after the tag".into(),
        });
    }
    match body(&mut c) {
        Ok(body) => Ok(Command { tag, body }),
        Err(PErr { kind, msg }) => Err(ParseError {
            tag: Some(tag),
            kind,
            message: msg.into_owned(),
        }),
    }
}

fn body(c: &mut Cursor<'_>) -> PResult<CommandBody> {
    let name = c
        .atom()
        .map_err(|_| PErr {
            kind: ParseErrorKind::Syntax,
            msg: "expected a command name".into(),
        })?
        .to_ascii_uppercase();
    let b = match name.as_slice() {
        b"CAPABILITY" => CommandBody::Capability,
        b"NOOP" => CommandBody::Noop,
        b"LOGOUT" => CommandBody::Logout,
        b"STARTTLS" => CommandBody::StartTls,
        b"CHECK" => CommandBody::Check,
        b"CLOSE" => CommandBody::Close,
        b"UNSELECT" => CommandBody::Unselect,
        b"EXPUNGE" => CommandBody::Expunge,
        b"IDLE" => CommandBody::Idle,
        b"NAMESPACE" => CommandBody::Namespace,
        b"ID" => CommandBody::Id(id::id(c)?),
        b"ENABLE" => CommandBody::Enable(enable::enable(c)?),
        b"COMPRESS" => {
            c.sp()?;
            CommandBody::Compress(c.keyword()?)
        }
        b"GETQUOTA" => {
            c.sp()?;
            CommandBody::GetQuota(c.astring()?)
        }
        b"GETQUOTAROOT" => {
            c.sp()?;
            CommandBody::GetQuotaRoot(c.mailbox()?)
        }
        b"SETQUOTA" => {
            let (root, limits) = quota::setquota(c)?;
            CommandBody::SetQuota { root, limits }
        }
        b"SETACL" => CommandBody::SetAcl(acl::setacl(c)?),
        b"DELETEACL" => CommandBody::DeleteAcl(acl::entry(c)?),
        b"GETACL" => CommandBody::GetAcl(mailbox::one(c)?),
        b"LISTRIGHTS" => CommandBody::ListRights(acl::entry(c)?),
        b"MYRIGHTS" => CommandBody::MyRights(mailbox::one(c)?),
        b"GETMETADATA" => CommandBody::GetMetadata(metadata::getmetadata(c)?),
        b"SETMETADATA" => CommandBody::SetMetadata(metadata::setmetadata(c)?),
        b"RESETKEY" | b"GENURLAUTH" | b"URLFETCH" => {
            CommandBody::UrlAuth(crate::urlauth::urlauth(c, &name)?)
        }
        b"NOTIFY" => CommandBody::Notify(crate::notify::notify(c)?),
        b"AUTHENTICATE" => CommandBody::Authenticate(login::authenticate(c)?),
        b"LOGIN" => CommandBody::Login(login::login(c)?),
        b"SELECT" => CommandBody::Select(select_examine::select(c)?),
        b"EXAMINE" => CommandBody::Examine(select_examine::select(c)?),
        b"CREATE" => CommandBody::Create(mailbox::create(c)?),
        b"DELETE" => CommandBody::Delete(mailbox::one(c)?),
        b"RENAME" => CommandBody::Rename(mailbox::rename(c)?),
        b"SUBSCRIBE" => CommandBody::Subscribe(mailbox::one(c)?),
        b"UNSUBSCRIBE" => CommandBody::Unsubscribe(mailbox::one(c)?),
        b"LIST" => CommandBody::List(list::list(c)?),
        b"LSUB" => CommandBody::Lsub(list::lsub(c)?),
        b"STATUS" => CommandBody::Status(status::status(c)?),
        b"APPEND" => CommandBody::Append(append::append(c)?),
        b"SEARCH" => CommandBody::Search(search::search(c, false)?),
        b"ESEARCH" => CommandBody::Esearch(crate::multisearch::esearch(c)?),
        b"SORT" => CommandBody::Sort(crate::sort::sort(c, false)?),
        b"THREAD" => CommandBody::Thread(crate::thread::thread(c, false)?),
        b"CANCELUPDATE" => CommandBody::CancelUpdate(crate::context::cancelupdate(c)?),
        b"FETCH" => CommandBody::Fetch(fetch::fetch(c, false)?),
        b"STORE" => CommandBody::Store(store::store(c, false)?),
        b"COPY" => CommandBody::Copy(copy_move::copy_move(c, false)?),
        b"MOVE" => CommandBody::Move(copy_move::copy_move(c, false)?),
        b"REPLACE" => CommandBody::Replace(replace::replace(c, false)?),
        b"UID" => {
            c.sp()?;
            match c.keyword()?.as_str() {
                "SEARCH" => CommandBody::Search(search::search(c, true)?),
                "SORT" => CommandBody::Sort(crate::sort::sort(c, true)?),
                "THREAD" => CommandBody::Thread(crate::thread::thread(c, true)?),
                "FETCH" => CommandBody::Fetch(fetch::fetch(c, true)?),
                "STORE" => CommandBody::Store(store::store(c, true)?),
                "COPY" => CommandBody::Copy(copy_move::copy_move(c, true)?),
                "MOVE" => CommandBody::Move(copy_move::copy_move(c, true)?),
                "REPLACE" => CommandBody::Replace(replace::replace(c, true)?),
                "EXPUNGE" => {
                    c.sp()?;
                    CommandBody::UidExpunge(c.sequence_set()?)
                }
                other => return syntax(format!("unknown UID command {other}")),
            }
        }
        _ => {
            return Err(PErr {
                kind: ParseErrorKind::UnknownCommand,
                msg: format!("unknown command {}", String::from_utf8_lossy(&name)).into(),
            });
        }
    };
    c.end()?;
    Ok(b)
}
