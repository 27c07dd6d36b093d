//! Server responses: status responses with typed codes, data responses, a streaming FETCH
//! writer, and the one quoting rule (atom / quoted / literal) for every byte string that
//! Pochta writes in IMAP syntax, server responses and client commands alike.
//!
//! Implementation notes:
//! - Everything writes into a caller-owned `Vec<u8>`; nothing allocates per item. The FETCH
//!   writer ([`FetchWriter`]) appends items in place, so the hot path is one buffer; numbers
//!   go through `itoa`, not `fmt`.
//! - One quoting rule ([`write_string_with`]): any byte string comes out as a valid `string`
//!   — quoted when it is at most [`MAX_QUOTED`] bytes of 7-bit text (UTF-8 under UTF8=ACCEPT)
//!   without CR, LF or NUL (`"` and `\` escaped, RFC 9051 §4.3), a literal otherwise. An
//!   `astring` is an atom when every byte is an ASTRING-CHAR and it is not `NIL`. The client
//!   encoder (`encode`) uses the same functions with `{n+}` literals.
//! - Human text (`resp-text`) is one 7-bit line: [`write_text`] replaces CR, LF and NUL and
//!   writes non-ASCII (a mailbox name in an error) in modified UTF-7, so a message from
//!   anywhere cannot break the framing or inject a response.
//! - Mailbox names are written modified UTF-7 unless UTF8=ACCEPT is on (RFC 3501 §5.1.3,
//!   RFC 9051 §6.3.1): as an astring in ACL and QUOTA responses, always as a string in LIST,
//!   LSUB and STATUS (as Dovecot does, which every client reads).
//!
//! ```abnf
//! response-tagged = tag SP resp-cond-state CRLF
//! resp-cond-state = ("OK" / "NO" / "BAD") SP resp-text
//! resp-text       = ["[" resp-text-code "]" SP] text
//! continue-req    = "+" SP (resp-text / base64) CRLF
//! ```

use std::borrow::Cow;
use std::num::NonZeroU32;

use pochta_types::{Flag, Flags, MailboxName, SEPARATOR, mutf7};

use crate::core::{DateTime, Tag, is_astring_char, month_name};
use crate::fetch::{Section, SectionText};
use crate::status::StatusItem;

/// Longest string written quoted; longer ones go as literals (cheaper for the client).
pub const MAX_QUOTED: usize = 1024;

// ---------------------------------------------------------------------------------------------
// Low-level writers: the one quoting rule

/// A number in decimal.
fn num(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Whether `b` can go in a quoted string (7-bit, or UTF-8 when `utf8`), escapes aside.
fn quotable(b: &[u8], utf8: bool) -> bool {
    b.len() <= MAX_QUOTED
        && !b.iter().any(|&c| c == 0 || c == b'\r' || c == b'\n')
        && (b.is_ascii() || (utf8 && std::str::from_utf8(b).is_ok()))
}

fn write_quoted(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'"');
    for &c in b {
        if c == b'"' || c == b'\\' {
            out.push(b'\\');
        }
        out.push(c);
    }
    out.push(b'"');
}

/// How a literal is announced (RFC 9051 §4.3, RFC 7888, RFC 3516 §4.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LiteralForm {
    /// `~{n}`: a literal8, for data that may hold NUL.
    pub binary: bool,
    /// `{n+}`: non-synchronizing (a client under LITERAL+; servers never write it).
    pub non_sync: bool,
}

/// `{n}CRLF<bytes>` (or `~{n}`, `{n+}` as `form` says).
pub fn write_literal_form(out: &mut Vec<u8>, b: &[u8], form: LiteralForm) {
    if form.binary {
        out.push(b'~');
    }
    out.push(b'{');
    num(out, b.len());
    if form.non_sync {
        out.push(b'+');
    }
    out.extend_from_slice(b"}\r\n");
    out.extend_from_slice(b);
}

/// `{n}CRLF<bytes>`.
pub(crate) fn write_literal(out: &mut Vec<u8>, b: &[u8]) {
    write_literal_form(out, b, LiteralForm::default());
}

/// The quoting rule: a `string`, quoted if possible (UTF-8 allowed in quotes when `utf8`,
/// RFC 9051 §4.3), else a literal of the given form.
pub fn write_string_with(out: &mut Vec<u8>, b: &[u8], utf8: bool, form: LiteralForm) {
    if quotable(b, utf8) {
        write_quoted(out, b);
    } else {
        write_literal_form(out, b, form);
    }
}

/// A `string`: quoted if possible, else a literal.
pub fn write_string(out: &mut Vec<u8>, b: &[u8]) {
    write_string_with(out, b, false, LiteralForm::default());
}

/// A `string` that may be quoted UTF-8 (UTF8=ACCEPT, RFC 9051 §4.3).
pub(crate) fn write_string_utf8(out: &mut Vec<u8>, b: &[u8], utf8: bool) {
    write_string_with(out, b, utf8, LiteralForm::default());
}

/// An `nstring`: `NIL` or a string.
pub fn write_nstring(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => write_string(out, b),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// An `astring` under the quoting rule: an atom when every byte is an ASTRING-CHAR and it is
/// not `NIL` (which a reader of an `nstring` would take for nothing), else a string.
pub fn write_astring_with(out: &mut Vec<u8>, b: &[u8], utf8: bool, form: LiteralForm) {
    if !b.is_empty() && b.iter().all(|&c| is_astring_char(c)) && !b.eq_ignore_ascii_case(b"NIL") {
        out.extend_from_slice(b);
    } else {
        write_string_with(out, b, utf8, form);
    }
}

/// An `astring`: an atom when possible, else a string.
pub fn write_astring(out: &mut Vec<u8>, b: &[u8]) {
    write_astring_with(out, b, false, LiteralForm::default());
}

/// A mailbox name as it travels: UTF-8 under UTF8=ACCEPT, else modified UTF-7 (borrowed
/// when the name needs no encoding).
pub fn mailbox_wire_name(name: &str, utf8: bool) -> Cow<'_, str> {
    if utf8 || (name.is_ascii() && !name.contains('&')) {
        Cow::Borrowed(name)
    } else {
        Cow::Owned(mutf7::encode(name))
    }
}

/// A mailbox name as an astring (ACL, QUOTAROOT).
pub fn write_mailbox(out: &mut Vec<u8>, name: &MailboxName, utf8: bool) {
    write_astring_with(
        out,
        mailbox_wire_name(name.as_str(), utf8).as_bytes(),
        utf8,
        LiteralForm::default(),
    );
}

/// A mailbox name (or the empty root name) always as a string (LIST, LSUB, STATUS).
pub(crate) fn write_mailbox_string(out: &mut Vec<u8>, name: &str, utf8: bool) {
    write_string_utf8(out, mailbox_wire_name(name, utf8).as_bytes(), utf8);
}

/// `(\Seen $Forwarded)`; `recent` adds `\Recent` (a session property, RFC 3501 §2.3.2).
pub(crate) fn write_flags(out: &mut Vec<u8>, flags: &Flags, recent: bool) {
    out.push(b'(');
    let mut first = true;
    for f in flags.iter() {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(f.as_str().as_bytes());
    }
    if recent {
        if !first {
            out.push(b' ');
        }
        out.extend_from_slice(b"\\Recent");
    }
    out.push(b')');
}

/// A flag list from a slice of flags, plus extra raw items (like `\*`).
pub(crate) fn write_flag_list(out: &mut Vec<u8>, flags: &[Flag], extra: &[&str]) {
    write_list_of(
        out,
        flags.iter().map(Flag::as_str).chain(extra.iter().copied()),
    );
}

/// `(a b c)` from atoms.
fn write_list_of<'a>(out: &mut Vec<u8>, items: impl Iterator<Item = &'a str>) {
    out.push(b'(');
    write_spaced(out, items);
    out.push(b')');
}

/// Atoms separated by spaces.
fn write_spaced<S: AsRef<str>>(out: &mut Vec<u8>, items: impl IntoIterator<Item = S>) {
    for (i, s) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(s.as_ref().as_bytes());
    }
}

/// Compact numbers into ranges and write them in the order given (`1,2,3,5` → `1:3,5`;
/// COPYUID needs the source order kept). Writes nothing for no numbers.
pub(crate) fn write_numbers(out: &mut Vec<u8>, nums: impl IntoIterator<Item = u32>) {
    let mut run: Option<(u32, u32)> = None;
    let mut first = true;
    let mut flush = |out: &mut Vec<u8>, (lo, hi): (u32, u32)| {
        if !first {
            out.push(b',');
        }
        first = false;
        num(out, lo);
        if hi != lo {
            out.push(b':');
            num(out, hi);
        }
    };
    for n in nums {
        run = match run {
            Some((lo, hi)) if hi.checked_add(1) == Some(n) => Some((lo, n)),
            Some(r) => {
                flush(out, r);
                Some((n, n))
            }
            None => Some((n, n)),
        };
    }
    if let Some(r) = run {
        flush(out, r);
    }
}

fn two_digits(out: &mut Vec<u8>, n: u32) {
    out.push(b'0' + (n / 10 % 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

/// `"01-Feb-2024 13:05:09 +0300"` (the two-digit day every client reads).
pub fn write_date_time(out: &mut Vec<u8>, dt: DateTime) {
    let date = dt.date();
    let (h, m, s) = dt.time();
    out.push(b'"');
    two_digits(out, date.day().into());
    out.push(b'-');
    out.extend_from_slice(month_name(date.month()).as_bytes());
    out.push(b'-');
    let y = u32::from(date.year());
    two_digits(out, y / 100);
    two_digits(out, y % 100);
    out.push(b' ');
    two_digits(out, h.into());
    out.push(b':');
    two_digits(out, m.into());
    out.push(b':');
    two_digits(out, s.into());
    let z = dt.zone_minutes();
    out.extend_from_slice(if z < 0 { b" -" } else { b" +" });
    let z = u32::from(z.unsigned_abs());
    two_digits(out, z / 60);
    two_digits(out, z % 60);
    out.push(b'"');
}

/// Human-readable text: one 7-bit line (RFC 3501 §9 `text`). CR, LF and NUL become spaces;
/// non-ASCII (a mailbox name in an error) is written in modified UTF-7, the form the client
/// used for it; never empty.
pub(crate) fn write_text(out: &mut Vec<u8>, text: &str) {
    if text.is_empty() {
        out.extend_from_slice(b"done");
        return;
    }
    let text: Cow<'_, str> = if text.is_ascii() {
        text.into()
    } else {
        mutf7::encode(text).into()
    };
    out.extend(text.bytes().map(|b| {
        if matches!(b, b'\r' | b'\n' | 0) {
            b' '
        } else {
            b
        }
    }));
}

// ---------------------------------------------------------------------------------------------
// Status responses

/// The condition of a status response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Ok,
    No,
    Bad,
    PreAuth,
    Bye,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::PreAuth => "PREAUTH",
            Status::Bye => "BYE",
        }
    }
}

/// A response code (RFC 9051 §7.1, RFC 5530, RFC 4315, RFC 7162, RFC 4978, RFC 6154,
/// RFC 8474, RFC 3516). The set is closed: a session cannot write a code that is not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    Alert,
    /// `BADCHARSET (charset ...)`, the charsets SEARCH supports (RFC 9051 §7.1).
    BadCharset(Vec<Cow<'static, str>>),
    /// `CAPABILITY cap ...` (in a greeting or a login's OK).
    Capability(Vec<Cow<'static, str>>),
    Parse,
    /// `PERMANENTFLAGS (flags [\*])`.
    PermanentFlags {
        flags: Vec<Flag>,
        allow_new: bool,
    },
    ReadOnly,
    ReadWrite,
    TryCreate,
    UidNext(u32),
    UidValidity(u32),
    Unseen(u32),
    /// `APPENDUID validity uids` (RFC 4315 §3); the UIDs are compacted into ranges.
    AppendUid {
        uid_validity: u32,
        uids: Vec<u32>,
    },
    /// `COPYUID validity source dest` (RFC 4315 §3): UIDs in corresponding order.
    CopyUid {
        uid_validity: u32,
        source: Vec<u32>,
        dest: Vec<u32>,
    },
    UidNotSticky,
    HighestModSeq(u64),
    NoModSeq,
    /// `MODIFIED set` (RFC 7162 §3.1.3).
    Modified(Vec<u32>),
    Closed,
    TooBig,
    /// `MAILBOXID (objectid)` (RFC 8474 §4.1).
    MailboxId(String),
    /// `NOUPDATE "tag"`: a context was not made live (RFC 5267 §4.3.1).
    NoUpdate(String),
    /// `UNKNOWN-CTE`: a part whose transfer encoding cannot be decoded (RFC 3516 §4.3).
    UnknownCte,
    // RFC 5530
    Unavailable,
    AuthenticationFailed,
    AuthorizationFailed,
    Expired,
    PrivacyRequired,
    ContactAdmin,
    NoPerm,
    InUse,
    ExpungeIssued,
    Corruption,
    ServerBug,
    ClientBug,
    Cannot,
    Limit,
    OverQuota,
    AlreadyExists,
    NonExistent,
    // Others
    CompressionActive,
    UseAttr,
    NotSaved,
    HasChildren,
    /// `UIDREQUIRED` (RFC 9586 §3): a sequence number was used after ENABLE UIDONLY.
    UidRequired,
    /// `BADURL url` (RFC 4469 §6): a CATENATE URL that cannot be resolved. `]`, CR and LF
    /// are dropped from the URL when written (`url-resp-text`).
    BadUrl(String),
    /// `METADATA LONGENTRIES n` / `MAXSIZE n` / `TOOMANY` / `NOPRIVATE` (RFC 5464 §4.2.1,
    /// §4.3): the text after `METADATA `.
    Metadata(String),
    /// `URLMECH INTERNAL` (RFC 4467 §8): the URLAUTH mechanisms we have.
    UrlMech,
    /// `NOTIFICATIONOVERFLOW` (RFC 5465 §5.8).
    NotificationOverflow,
    /// `BADEVENT (event ...)`: the events NOTIFY supports (RFC 5465 §3.1).
    BadEvent(Vec<&'static str>),
}

impl Code {
    fn simple(&self) -> Option<&'static str> {
        use Code::*;
        Some(match self {
            Alert => "ALERT",
            Parse => "PARSE",
            ReadOnly => "READ-ONLY",
            ReadWrite => "READ-WRITE",
            TryCreate => "TRYCREATE",
            UidNotSticky => "UIDNOTSTICKY",
            NoModSeq => "NOMODSEQ",
            Closed => "CLOSED",
            TooBig => "TOOBIG",
            UnknownCte => "UNKNOWN-CTE",
            Unavailable => "UNAVAILABLE",
            AuthenticationFailed => "AUTHENTICATIONFAILED",
            AuthorizationFailed => "AUTHORIZATIONFAILED",
            Expired => "EXPIRED",
            PrivacyRequired => "PRIVACYREQUIRED",
            ContactAdmin => "CONTACTADMIN",
            NoPerm => "NOPERM",
            InUse => "INUSE",
            ExpungeIssued => "EXPUNGEISSUED",
            Corruption => "CORRUPTION",
            ServerBug => "SERVERBUG",
            ClientBug => "CLIENTBUG",
            Cannot => "CANNOT",
            Limit => "LIMIT",
            OverQuota => "OVERQUOTA",
            AlreadyExists => "ALREADYEXISTS",
            NonExistent => "NONEXISTENT",
            CompressionActive => "COMPRESSIONACTIVE",
            UseAttr => "USEATTR",
            NotSaved => "NOTSAVED",
            HasChildren => "HASCHILDREN",
            UidRequired => "UIDREQUIRED",
            UrlMech => "URLMECH INTERNAL",
            NotificationOverflow => "NOTIFICATIONOVERFLOW",
            _ => return None,
        })
    }

    /// Write the code without brackets.
    pub fn write(&self, out: &mut Vec<u8>) {
        if let Some(s) = self.simple() {
            out.extend_from_slice(s.as_bytes());
            return;
        }
        match self {
            Code::BadCharset(cs) => {
                out.extend_from_slice(b"BADCHARSET");
                if !cs.is_empty() {
                    out.extend_from_slice(b" (");
                    for (i, c) in cs.iter().enumerate() {
                        if i > 0 {
                            out.push(b' ');
                        }
                        write_astring(out, c.as_bytes());
                    }
                    out.push(b')');
                }
            }
            Code::Capability(caps) => {
                out.extend_from_slice(b"CAPABILITY ");
                write_spaced(out, caps);
            }
            Code::BadEvent(events) => {
                out.extend_from_slice(b"BADEVENT ");
                write_list_of(out, events.iter().copied());
            }
            Code::PermanentFlags { flags, allow_new } => {
                out.extend_from_slice(b"PERMANENTFLAGS ");
                write_flag_list(out, flags, if *allow_new { &["\\*"] } else { &[] });
            }
            Code::UidNext(n) => {
                out.extend_from_slice(b"UIDNEXT ");
                num(out, *n);
            }
            Code::UidValidity(n) => {
                out.extend_from_slice(b"UIDVALIDITY ");
                num(out, *n);
            }
            Code::Unseen(n) => {
                out.extend_from_slice(b"UNSEEN ");
                num(out, *n);
            }
            Code::AppendUid { uid_validity, uids } => {
                out.extend_from_slice(b"APPENDUID ");
                num(out, *uid_validity);
                out.push(b' ');
                write_numbers(out, uids.iter().copied());
            }
            Code::CopyUid {
                uid_validity,
                source,
                dest,
            } => {
                out.extend_from_slice(b"COPYUID ");
                num(out, *uid_validity);
                out.push(b' ');
                write_numbers(out, source.iter().copied());
                out.push(b' ');
                write_numbers(out, dest.iter().copied());
            }
            Code::HighestModSeq(n) => {
                out.extend_from_slice(b"HIGHESTMODSEQ ");
                num(out, *n);
            }
            Code::Modified(r) => {
                out.extend_from_slice(b"MODIFIED ");
                write_numbers(out, r.iter().copied());
            }
            Code::MailboxId(id) => {
                out.extend_from_slice(b"MAILBOXID (");
                out.extend_from_slice(id.as_bytes());
                out.push(b')');
            }
            Code::BadUrl(url) => {
                out.extend_from_slice(b"BADURL ");
                out.extend(
                    url.bytes()
                        .filter(|b| !matches!(b, b']' | b'\r' | b'\n' | 0)),
                );
            }
            Code::Metadata(what) => {
                out.extend_from_slice(b"METADATA ");
                out.extend(
                    what.bytes()
                        .filter(|b| !matches!(b, b']' | b'\r' | b'\n' | 0)),
                );
            }
            Code::NoUpdate(tag) => {
                out.extend_from_slice(b"NOUPDATE ");
                write_string(out, tag.as_bytes());
            }
            _ => {}
        }
    }
}

/// Write a status response: `<tag|*> <status> [<code>] <text>CRLF`.
pub fn write_status(
    out: &mut Vec<u8>,
    tag: Option<&Tag>,
    status: Status,
    code: Option<&Code>,
    text: &str,
) {
    match tag {
        Some(t) => out.extend_from_slice(t.as_str().as_bytes()),
        None => out.push(b'*'),
    }
    out.push(b' ');
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    if let Some(code) = code {
        out.push(b'[');
        code.write(out);
        out.extend_from_slice(b"] ");
    }
    write_text(out, text);
    out.extend_from_slice(b"\r\n");
}

/// `+ text CRLF` (a continuation request).
pub fn write_continue(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"+ ");
    write_text(out, text);
    out.extend_from_slice(b"\r\n");
}

/// `+ base64 CRLF` (a SASL challenge, already base64-encoded; may be empty).
pub fn write_continue_base64(out: &mut Vec<u8>, b64: &[u8]) {
    out.extend_from_slice(b"+ ");
    out.extend(b64.iter().filter(|&&b| !matches!(b, b'\r' | b'\n')));
    out.extend_from_slice(b"\r\n");
}

// ---------------------------------------------------------------------------------------------
// Data responses

/// `* CAPABILITY ...`
pub fn write_capability<S: AsRef<str>>(out: &mut Vec<u8>, caps: &[S]) {
    out.extend_from_slice(b"* CAPABILITY ");
    write_spaced(out, caps);
    out.extend_from_slice(b"\r\n");
}

/// `* ENABLED ...` (RFC 5161 §3.2): what this command newly enabled, maybe nothing.
pub fn write_enabled(out: &mut Vec<u8>, caps: &[&str]) {
    out.extend_from_slice(b"* ENABLED");
    for c in caps {
        out.push(b' ');
        out.extend_from_slice(c.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

fn write_message_data(out: &mut Vec<u8>, n: u32, what: &[u8]) {
    out.extend_from_slice(b"* ");
    num(out, n);
    out.extend_from_slice(what);
}

/// `* n EXISTS`
pub fn write_exists(out: &mut Vec<u8>, n: u32) {
    write_message_data(out, n, b" EXISTS\r\n");
}

/// `* n RECENT`
pub fn write_recent(out: &mut Vec<u8>, n: u32) {
    write_message_data(out, n, b" RECENT\r\n");
}

/// `* n EXPUNGE`
pub fn write_expunge(out: &mut Vec<u8>, seq: u32) {
    write_message_data(out, seq, b" EXPUNGE\r\n");
}

/// `* VANISHED [(EARLIER)] uids` (RFC 7162 §3.2.10), from ascending UIDs.
pub fn write_vanished(out: &mut Vec<u8>, earlier: bool, uids: &[u32]) {
    out.extend_from_slice(if earlier {
        b"* VANISHED (EARLIER) ".as_slice()
    } else {
        b"* VANISHED ".as_slice()
    });
    write_numbers(out, uids.iter().copied());
    out.extend_from_slice(b"\r\n");
}

/// `* FLAGS (...)`
pub fn write_flags_response(out: &mut Vec<u8>, flags: &[Flag]) {
    out.extend_from_slice(b"* FLAGS ");
    write_flag_list(out, flags, &[]);
    out.extend_from_slice(b"\r\n");
}

/// `* LIST (attrs) "/" name [("CHILDINFO" ("SUBSCRIBED"))]` (or `LSUB` when `lsub`); the
/// name is a string, the root name `""` included (RFC 3501 §6.3.8, RFC 5258 §3.5).
pub fn write_list(
    out: &mut Vec<u8>,
    lsub: bool,
    attributes: &[&str],
    name: &str,
    child_info_subscribed: bool,
    utf8: bool,
) {
    out.extend_from_slice(if lsub { b"* LSUB " } else { b"* LIST " });
    write_list_of(out, attributes.iter().copied());
    out.extend_from_slice(b" ");
    let mut d = [0u8; 4];
    write_quoted(out, SEPARATOR.encode_utf8(&mut d).as_bytes());
    out.push(b' ');
    write_mailbox_string(out, name, utf8);
    if child_info_subscribed {
        out.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
    }
    out.extend_from_slice(b"\r\n");
}

/// The value of one STATUS item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusValue<'a> {
    Number(u64),
    /// `MAILBOXID (objectid)` (RFC 8474 §4.2).
    ObjectId(&'a str),
}

/// `* STATUS name (ITEM n ...)`.
pub fn write_status_data(
    out: &mut Vec<u8>,
    mailbox: &MailboxName,
    items: &[(StatusItem, StatusValue<'_>)],
    utf8: bool,
) {
    out.extend_from_slice(b"* STATUS ");
    write_mailbox_string(out, mailbox.as_str(), utf8);
    out.extend_from_slice(b" (");
    for (i, (item, v)) in items.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(item.as_str().as_bytes());
        match v {
            StatusValue::Number(n) => {
                out.push(b' ');
                num(out, *n);
            }
            StatusValue::ObjectId(id) => {
                out.extend_from_slice(b" (");
                out.extend_from_slice(id.as_bytes());
                out.push(b')');
            }
        }
    }
    out.extend_from_slice(b")\r\n");
}

/// `* SEARCH n n n [(MODSEQ m)]` (RFC 3501 §7.2.5, RFC 7162 §3.1.5).
pub fn write_search(out: &mut Vec<u8>, nums: &[u32], modseq: Option<u64>) {
    out.extend_from_slice(b"* SEARCH");
    for &n in nums {
        out.push(b' ');
        num(out, n);
    }
    if let Some(m) = modseq {
        out.extend_from_slice(b" (MODSEQ ");
        num(out, m);
        out.push(b')');
    }
    out.extend_from_slice(b"\r\n");
}

/// Writes one `* ESEARCH (TAG "t") [UID] ...` response (RFC 4731 §3.1) item by item, in the
/// order the client asked for them.
pub struct ESearchWriter<'a> {
    out: &'a mut Vec<u8>,
}

impl<'a> ESearchWriter<'a> {
    /// The correlator (the command's tag) and whether the numbers are UIDs.
    pub fn begin(out: &'a mut Vec<u8>, tag: &Tag, uid: bool) -> Self {
        out.extend_from_slice(b"* ESEARCH (TAG ");
        write_string(out, tag.as_str().as_bytes());
        out.push(b')');
        if uid {
            out.extend_from_slice(b" UID");
        }
        ESearchWriter { out }
    }

    /// The MULTISEARCH correlator `(TAG "t" MAILBOX "m" UIDVALIDITY n) UID` (RFC 7377 §2.1):
    /// the numbers are always UIDs.
    pub fn begin_mailbox(
        out: &'a mut Vec<u8>,
        tag: &Tag,
        mailbox: &MailboxName,
        uid_validity: u32,
        utf8: bool,
    ) -> Self {
        out.extend_from_slice(b"* ESEARCH (TAG ");
        write_string(out, tag.as_str().as_bytes());
        out.extend_from_slice(b" MAILBOX ");
        write_mailbox_string(out, mailbox.as_str(), utf8);
        out.extend_from_slice(b" UIDVALIDITY ");
        num(out, uid_validity);
        out.extend_from_slice(b") UID");
        ESearchWriter { out }
    }

    fn item(&mut self, name: &[u8], n: u64) -> &mut Self {
        self.out.extend_from_slice(name);
        num(self.out, n);
        self
    }

    pub fn min(&mut self, n: u32) -> &mut Self {
        self.item(b" MIN ", n.into())
    }

    pub fn max(&mut self, n: u32) -> &mut Self {
        self.item(b" MAX ", n.into())
    }

    pub fn count(&mut self, n: u32) -> &mut Self {
        self.item(b" COUNT ", n.into())
    }

    /// `ALL set` from ascending numbers (never written empty: RFC 4731 §3.1).
    pub fn all(&mut self, nums: &[u32]) -> &mut Self {
        if !nums.is_empty() {
            self.out.extend_from_slice(b" ALL ");
            write_numbers(self.out, nums.iter().copied());
        }
        self
    }

    /// `PARTIAL (range set)` (RFC 9394 §3.1); `nums` are the selected results, ascending.
    pub fn partial(&mut self, range: &crate::partial::PartialRange, nums: &[u32]) -> &mut Self {
        crate::partial::write_partial(self.out, range, nums);
        self
    }

    /// `RELEVANCY (scores)` (RFC 6203 §4), one score per result.
    pub fn relevancy(&mut self, scores: &[u8]) -> &mut Self {
        crate::fuzzy::write_relevancy(self.out, scores);
        self
    }

    /// `MODSEQ m` (RFC 7162 §3.1.5).
    pub fn modseq(&mut self, m: u64) -> &mut Self {
        self.item(b" MODSEQ ", m)
    }

    pub fn finish(self) {
        self.out.extend_from_slice(b"\r\n");
    }
}

/// `* NAMESPACE personal other shared` (RFC 2342 §5): each a prefix with the `/` delimiter,
/// or `NIL`.
pub fn write_namespace(
    out: &mut Vec<u8>,
    personal: Option<&str>,
    other: Option<&str>,
    shared: Option<&str>,
) {
    out.extend_from_slice(b"* NAMESPACE");
    for ns in [personal, other, shared] {
        out.push(b' ');
        match ns {
            Some(prefix) => {
                out.extend_from_slice(b"((");
                write_string(out, prefix.as_bytes());
                out.push(b' ');
                let mut d = [0u8; 4];
                write_quoted(out, SEPARATOR.encode_utf8(&mut d).as_bytes());
                out.extend_from_slice(b"))");
            }
            None => out.extend_from_slice(b"NIL"),
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// `* ID (...)` or `* ID NIL` (RFC 2971 §3.2).
pub fn write_id(out: &mut Vec<u8>, params: Option<&[(&str, Option<&str>)]>) {
    out.extend_from_slice(b"* ID ");
    match params {
        None => out.extend_from_slice(b"NIL"),
        Some(p) => {
            out.push(b'(');
            for (i, (k, v)) in p.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_string(out, k.as_bytes());
                out.push(b' ');
                write_nstring(out, v.map(str::as_bytes));
            }
            out.push(b')');
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// `* QUOTA root (RESOURCE usage limit ...)` (RFC 9208 §5.1).
pub fn write_quota(out: &mut Vec<u8>, root: &[u8], resources: &[(&str, u64, u64)]) {
    out.extend_from_slice(b"* QUOTA ");
    write_astring(out, root);
    out.extend_from_slice(b" (");
    for (i, (name, usage, limit)) in resources.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        num(out, *usage);
        out.push(b' ');
        num(out, *limit);
    }
    out.extend_from_slice(b")\r\n");
}

/// `* QUOTAROOT mailbox root...` (RFC 9208 §5.2).
pub fn write_quotaroot(out: &mut Vec<u8>, mailbox: &MailboxName, roots: &[&[u8]], utf8: bool) {
    out.extend_from_slice(b"* QUOTAROOT ");
    write_mailbox(out, mailbox, utf8);
    for r in roots {
        out.push(b' ');
        write_astring(out, r);
    }
    out.extend_from_slice(b"\r\n");
}

// ---------------------------------------------------------------------------------------------
// FETCH

/// Writes one `* n FETCH (...)` response item by item into the output buffer: a FETCH's
/// items, a STORE's answer and the untagged flag updates of other sessions' changes.
///
/// ```
/// # use pochta_imap_proto::response::FetchWriter;
/// let mut out = Vec::new();
/// let mut w = FetchWriter::begin(&mut out, 3);
/// w.uid(42);
/// w.rfc822_size(1024);
/// w.finish();
/// assert_eq!(out, b"* 3 FETCH (UID 42 RFC822.SIZE 1024)\r\n");
/// ```
pub struct FetchWriter<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> FetchWriter<'a> {
    /// Start the response for message sequence number `seq`.
    pub fn begin(out: &'a mut Vec<u8>, seq: u32) -> Self {
        write_message_data(out, seq, b" FETCH (");
        FetchWriter { out, first: true }
    }

    /// Start a `* uid UIDFETCH (` response (RFC 9586 §3.3), which replaces FETCH once
    /// UIDONLY is enabled: the message is named by its UID.
    pub fn begin_uidfetch(out: &'a mut Vec<u8>, uid: u32) -> Self {
        write_message_data(out, uid, b" UIDFETCH (");
        FetchWriter { out, first: true }
    }

    fn item(&mut self, name: &[u8]) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b' ');
        }
        self.first = false;
        self.out.extend_from_slice(name);
        self.out
    }

    pub fn uid(&mut self, uid: u32) -> &mut Self {
        num(self.item(b"UID "), uid);
        self
    }

    pub fn flags(&mut self, flags: &Flags, recent: bool) -> &mut Self {
        write_flags(self.item(b"FLAGS "), flags, recent);
        self
    }

    pub fn internal_date(&mut self, dt: DateTime) -> &mut Self {
        write_date_time(self.item(b"INTERNALDATE "), dt);
        self
    }

    /// `SAVEDATE "..."` (RFC 8514).
    pub fn save_date(&mut self, dt: DateTime) -> &mut Self {
        write_date_time(self.item(b"SAVEDATE "), dt);
        self
    }

    pub fn rfc822_size(&mut self, n: u64) -> &mut Self {
        num(self.item(b"RFC822.SIZE "), n);
        self
    }

    /// `MODSEQ (n)` (RFC 7162 §3.1.4).
    pub fn modseq(&mut self, m: u64) -> &mut Self {
        let out = self.item(b"MODSEQ (");
        num(out, m);
        out.push(b')');
        self
    }

    /// `EMAILID (id)` / `THREADID (id)` or `THREADID NIL` (RFC 8474 §5).
    pub fn object_id(&mut self, name: &str, id: Option<&str>) -> &mut Self {
        let out = self.item(name.as_bytes());
        match id {
            Some(id) => {
                out.extend_from_slice(b" (");
                out.extend_from_slice(id.as_bytes());
                out.push(b')');
            }
            None => out.extend_from_slice(b" NIL"),
        }
        self
    }

    /// `PREVIEW "text"` or `PREVIEW NIL` (RFC 8970 §3; 7-bit quoted, else a literal).
    pub fn preview(&mut self, text: Option<&str>) -> &mut Self {
        let out = self.item(b"PREVIEW ");
        write_nstring(out, text.map(str::as_bytes));
        self
    }

    /// An item whose value is already in wire form: `ENVELOPE (...)`, `BODY (...)`,
    /// `BODYSTRUCTURE (...)` rendered by the message crate.
    pub fn raw(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let out = self.item(name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(value);
        self
    }

    /// `NAME {n}...`: `RFC822`, `RFC822.HEADER`, `RFC822.TEXT`, always a literal.
    pub fn literal(&mut self, name: &str, data: &[u8]) -> &mut Self {
        let out = self.item(name.as_bytes());
        out.push(b' ');
        write_literal(out, data);
        self
    }

    /// `BODY[section]<origin> {n}...`: the section spec echoed as asked, the data (already
    /// cut to the partial range) always a literal, empty for a missing section (RFC 3501
    /// §6.4.5 gives no NIL there, and clients handle `{0}` best).
    pub fn body_section(
        &mut self,
        section: &Section,
        origin: Option<u32>,
        data: &[u8],
    ) -> &mut Self {
        let out = self.item(b"BODY[");
        write_section(out, section);
        out.push(b']');
        write_origin(out, origin);
        out.push(b' ');
        write_literal(out, data);
        self
    }

    /// `BINARY[part]<origin> data`: a literal8 when the data holds NUL (RFC 3516 §4.2), `NIL`
    /// for a part that does not exist or cannot be decoded.
    pub fn binary(
        &mut self,
        part: &[NonZeroU32],
        origin: Option<u32>,
        data: Option<&[u8]>,
    ) -> &mut Self {
        let out = self.item(b"BINARY[");
        write_part(out, part);
        out.push(b']');
        match data {
            Some(d) => {
                write_origin(out, origin);
                out.push(b' ');
                let binary = d.contains(&0);
                write_literal_form(
                    out,
                    d,
                    LiteralForm {
                        binary,
                        non_sync: false,
                    },
                );
            }
            None => out.extend_from_slice(b" NIL"),
        }
        self
    }

    /// `BINARY.SIZE[part] n` or `NIL`.
    pub fn binary_size(&mut self, part: &[NonZeroU32], n: Option<u64>) -> &mut Self {
        let out = self.item(b"BINARY.SIZE[");
        write_part(out, part);
        out.extend_from_slice(b"] ");
        match n {
            Some(n) => num(out, n),
            None => out.extend_from_slice(b"NIL"),
        }
        self
    }

    /// Close the response.
    pub fn finish(self) {
        self.out.extend_from_slice(b")\r\n");
    }
}

fn write_origin(out: &mut Vec<u8>, origin: Option<u32>) {
    if let Some(o) = origin {
        out.push(b'<');
        num(out, o);
        out.push(b'>');
    }
}

/// A part number `1.2.3`.
pub(crate) fn write_part(out: &mut Vec<u8>, part: &[NonZeroU32]) {
    for (i, p) in part.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        num(out, p.get());
    }
}

/// The inside of `[...]` of a section spec.
pub fn write_section(out: &mut Vec<u8>, section: &Section) {
    write_part(out, &section.part);
    let Some(text) = &section.text else { return };
    if !section.part.is_empty() {
        out.push(b'.');
    }
    let (name, fields): (&[u8], Option<&Vec<Vec<u8>>>) = match text {
        SectionText::Header => (b"HEADER", None),
        SectionText::Text => (b"TEXT", None),
        SectionText::Mime => (b"MIME", None),
        SectionText::HeaderFields(f) => (b"HEADER.FIELDS", Some(f)),
        SectionText::HeaderFieldsNot(f) => (b"HEADER.FIELDS.NOT", Some(f)),
    };
    out.extend_from_slice(name);
    if let Some(fields) = fields {
        out.extend_from_slice(b" (");
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            write_astring(out, f);
        }
        out.push(b')');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    }

    fn tag() -> Tag {
        Tag::new(b"a1").unwrap()
    }

    fn name(n: &str) -> MailboxName {
        MailboxName::new(n).unwrap()
    }

    #[test]
    fn strings() {
        assert_eq!(s(|o| write_astring(o, b"abc")), "abc");
        assert_eq!(s(|o| write_astring(o, b"")), "\"\"");
        assert_eq!(s(|o| write_astring(o, b"nil")), "\"nil\"");
        assert_eq!(s(|o| write_astring(o, b"a b")), "\"a b\"");
        assert_eq!(s(|o| write_string(o, b"abc def")), "\"abc def\"");
        assert_eq!(s(|o| write_string(o, b"a\"\\b")), "\"a\\\"\\\\b\"");
        assert_eq!(s(|o| write_string(o, b"a\r\nb")), "{4}\r\na\r\nb");
        assert_eq!(s(|o| write_string(o, "я".as_bytes())), "{2}\r\nя");
        assert_eq!(s(|o| write_string_utf8(o, "я".as_bytes(), true)), "\"я\"");
        assert_eq!(s(|o| write_string(o, &[b'x'; MAX_QUOTED + 1])).len(), 1033);
        assert_eq!(s(|o| write_nstring(o, None)), "NIL");
        assert_eq!(s(|o| write_nstring(o, Some(b"x"))), "\"x\"");
        assert_eq!(s(|o| write_literal(o, b"ab")), "{2}\r\nab");
        let plus = LiteralForm {
            binary: false,
            non_sync: true,
        };
        assert_eq!(
            s(|o| write_string_with(o, b"a\nb", false, plus)),
            "{3+}\r\na\nb"
        );
        assert_eq!(s(|o| write_astring_with(o, b"x y", false, plus)), "\"x y\"");
        let eight = LiteralForm {
            binary: true,
            non_sync: false,
        };
        assert_eq!(s(|o| write_literal_form(o, b"a\0", eight)), "~{2}\r\na\0");
        assert_eq!(s(|o| num(o, 4_294_967_295u32)), "4294967295");
    }

    #[test]
    fn mailboxes() {
        let n = name("Отправленные");
        assert_eq!(
            s(|o| write_mailbox(o, &n, false)),
            "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"
        );
        assert_eq!(s(|o| write_mailbox(o, &n, true)), "\"Отправленные\"");
        assert_eq!(s(|o| write_mailbox(o, &name("A&B"), false)), "A&-B");
        assert_eq!(s(|o| write_mailbox(o, &name("a b"), false)), "\"a b\"");
        assert_eq!(s(|o| write_mailbox_string(o, "INBOX", false)), "\"INBOX\"");
        assert_eq!(s(|o| write_mailbox_string(o, "A&B", false)), "\"A&-B\"");
        assert_eq!(s(|o| write_mailbox_string(o, "", false)), "\"\"");
        assert_eq!(s(|o| write_mailbox_string(o, "Вход", true)), "\"Вход\"");
    }

    #[test]
    fn lists_numbers_dates_text() {
        let mut flags = Flags::new();
        flags.insert(&Flag::Seen);
        assert_eq!(s(|o| write_flags(o, &flags, true)), "(\\Seen \\Recent)");
        assert_eq!(s(|o| write_flags(o, &Flags::new(), false)), "()");
        assert_eq!(
            s(|o| write_flag_list(o, &[Flag::Deleted], &["\\*"])),
            "(\\Deleted \\*)"
        );
        assert_eq!(s(|o| write_numbers(o, [1, 2, 3, 5, 7, 8])), "1:3,5,7:8");
        assert_eq!(s(|o| write_numbers(o, [9, 3, 4])), "9,3:4");
        assert_eq!(s(|o| write_numbers(o, [])), "");
        let dt = DateTime::from_unix(1_704_110_400, 0).unwrap();
        assert_eq!(
            s(|o| write_date_time(o, dt)),
            "\"01-Jan-2024 12:00:00 +0000\""
        );
        let dt = DateTime::from_unix(1_705_303_800, 180).unwrap();
        assert_eq!(
            s(|o| write_date_time(o, dt)),
            "\"15-Jan-2024 10:30:00 +0300\""
        );
        let dt = DateTime::from_unix(0, -330).unwrap();
        assert_eq!(
            s(|o| write_date_time(o, dt)),
            "\"31-Dec-1969 18:30:00 -0530\""
        );
        assert_eq!(s(|o| write_text(o, "a\r\nb\0")), "a  b ");
        assert_eq!(
            s(|o| write_text(o, "нет Входящие")),
            "&BD0ENQRC- &BBIERQQ+BDQETwRJBDgENQ-"
        );
        assert_eq!(s(|o| write_text(o, "")), "done");
        assert_eq!(
            s(|o| write_part(o, &[NonZeroU32::MIN, NonZeroU32::new(3).unwrap()])),
            "1.3"
        );
    }

    #[test]
    fn status_and_codes() {
        let t = tag();
        assert_eq!(
            s(|o| write_status(o, Some(&t), Status::No, Some(&Code::TooBig), "too\r\nbig")),
            "a1 NO [TOOBIG] too  big\r\n"
        );
        assert_eq!(
            s(|o| write_status(o, None, Status::Bye, None, "Logging out")),
            "* BYE Logging out\r\n"
        );
        let cases: Vec<(Code, &str)> = vec![
            (Code::UnknownCte, "UNKNOWN-CTE"),
            (Code::ReadOnly, "READ-ONLY"),
            (Code::NonExistent, "NONEXISTENT"),
            (
                Code::BadCharset(vec!["US-ASCII".into(), "UTF-8".into()]),
                "BADCHARSET (US-ASCII UTF-8)",
            ),
            (
                Code::Capability(vec!["IMAP4rev1".into(), "APPENDLIMIT=5".into()]),
                "CAPABILITY IMAP4rev1 APPENDLIMIT=5",
            ),
            (
                Code::PermanentFlags {
                    flags: vec![Flag::Seen, Flag::Deleted],
                    allow_new: true,
                },
                "PERMANENTFLAGS (\\Seen \\Deleted \\*)",
            ),
            (
                Code::PermanentFlags {
                    flags: vec![],
                    allow_new: false,
                },
                "PERMANENTFLAGS ()",
            ),
            (Code::UidNext(5), "UIDNEXT 5"),
            (Code::UidValidity(7), "UIDVALIDITY 7"),
            (Code::Unseen(2), "UNSEEN 2"),
            (Code::HighestModSeq(9), "HIGHESTMODSEQ 9"),
            (Code::Modified(vec![1, 2, 4]), "MODIFIED 1:2,4"),
            (Code::MailboxId("M7".into()), "MAILBOXID (M7)"),
            (
                Code::AppendUid {
                    uid_validity: 3,
                    uids: vec![10, 11],
                },
                "APPENDUID 3 10:11",
            ),
            (
                Code::CopyUid {
                    uid_validity: 7,
                    source: vec![1, 2, 3, 5],
                    dest: vec![10, 11, 12, 13],
                },
                "COPYUID 7 1:3,5 10:13",
            ),
        ];
        for (code, want) in cases {
            assert_eq!(s(|o| code.write(o)), want);
        }
        assert_eq!(
            s(|o| write_status(o, None, Status::Ok, Some(&Code::Closed), "")),
            "* OK [CLOSED] done\r\n"
        );
        assert_eq!(s(|o| write_continue(o, "idling")), "+ idling\r\n");
        assert_eq!(s(|o| write_continue_base64(o, b"")), "+ \r\n");
        assert_eq!(s(|o| write_continue_base64(o, b"YQ==")), "+ YQ==\r\n");
    }

    #[test]
    fn data_responses() {
        assert_eq!(
            s(|o| write_capability(o, &["IMAP4rev1", "IDLE"])),
            "* CAPABILITY IMAP4rev1 IDLE\r\n"
        );
        assert_eq!(s(|o| write_enabled(o, &[])), "* ENABLED\r\n");
        assert_eq!(
            s(|o| write_enabled(o, &["CONDSTORE"])),
            "* ENABLED CONDSTORE\r\n"
        );
        assert_eq!(s(|o| write_exists(o, 3)), "* 3 EXISTS\r\n");
        assert_eq!(s(|o| write_recent(o, 0)), "* 0 RECENT\r\n");
        assert_eq!(s(|o| write_expunge(o, 2)), "* 2 EXPUNGE\r\n");
        assert_eq!(
            s(|o| write_vanished(o, false, &[1, 2, 9])),
            "* VANISHED 1:2,9\r\n"
        );
        assert_eq!(
            s(|o| write_vanished(o, true, &[4])),
            "* VANISHED (EARLIER) 4\r\n"
        );
        assert_eq!(
            s(|o| write_flags_response(o, &[Flag::Answered, Flag::parse("$Label").unwrap()])),
            "* FLAGS (\\Answered $Label)\r\n"
        );
        assert_eq!(
            s(|o| write_list(
                o,
                false,
                &["\\HasNoChildren", "\\Sent"],
                "Sent",
                false,
                false
            )),
            "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent\"\r\n"
        );
        assert_eq!(
            s(|o| write_list(o, false, &["\\Noselect"], "", false, false)),
            "* LIST (\\Noselect) \"/\" \"\"\r\n"
        );
        assert_eq!(
            s(|o| write_list(o, false, &["\\NonExistent"], "a", true, false)),
            "* LIST (\\NonExistent) \"/\" \"a\" (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
        );
        assert_eq!(
            s(|o| write_list(o, true, &[], "Входящие", false, false)),
            "* LSUB () \"/\" \"&BBIERQQ+BDQETwRJBDgENQ-\"\r\n"
        );
        assert_eq!(
            s(|o| write_status_data(
                o,
                &name("INBOX"),
                &[
                    (StatusItem::Messages, StatusValue::Number(2)),
                    (StatusItem::MailboxId, StatusValue::ObjectId("M1")),
                ],
                false
            )),
            "* STATUS \"INBOX\" (MESSAGES 2 MAILBOXID (M1))\r\n"
        );
        assert_eq!(s(|o| write_search(o, &[], None)), "* SEARCH\r\n");
        assert_eq!(
            s(|o| write_search(o, &[2, 5], Some(7))),
            "* SEARCH 2 5 (MODSEQ 7)\r\n"
        );
        assert_eq!(
            s(|o| {
                let mut w = ESearchWriter::begin(o, &tag(), true);
                w.count(3).min(2).all(&[2, 3, 4]).all(&[]).max(4).modseq(9);
                w.finish();
            }),
            "* ESEARCH (TAG \"a1\") UID COUNT 3 MIN 2 ALL 2:4 MAX 4 MODSEQ 9\r\n"
        );
        assert_eq!(
            s(|o| write_namespace(o, Some(""), Some("Other Users/"), Some("Public/"))),
            "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Public/\" \"/\"))\r\n"
        );
        assert_eq!(
            s(|o| write_namespace(o, None, None, None)),
            "* NAMESPACE NIL NIL NIL\r\n"
        );
        assert_eq!(
            s(|o| write_id(o, Some(&[("name", Some("Pochta")), ("x", None)]))),
            "* ID (\"name\" \"Pochta\" \"x\" NIL)\r\n"
        );
        assert_eq!(s(|o| write_id(o, None)), "* ID NIL\r\n");
        assert_eq!(
            s(|o| write_quota(o, b"", &[("STORAGE", 1, 10), ("MESSAGE", 2, 5)])),
            "* QUOTA \"\" (STORAGE 1 10 MESSAGE 2 5)\r\n"
        );
        assert_eq!(
            s(|o| write_quotaroot(o, &name("Входящие"), &[b""], false)),
            "* QUOTAROOT &BBIERQQ+BDQETwRJBDgENQ- \"\"\r\n"
        );
    }

    #[test]
    fn fetch_writer() {
        let mut out = Vec::new();
        let mut w = FetchWriter::begin(&mut out, 1);
        let mut flags = Flags::new();
        flags.insert(&Flag::Seen);
        let one = [NonZeroU32::MIN];
        w.uid(7)
            .flags(&flags, true)
            .body_section(
                &Section {
                    part: vec![],
                    text: Some(SectionText::HeaderFields(vec![b"DATE".to_vec()])),
                },
                Some(0),
                b"Date: x\r\n",
            )
            .body_section(
                &Section {
                    part: vec![],
                    text: None,
                },
                None,
                b"",
            )
            .modseq(5)
            .internal_date(DateTime::from_unix(0, 0).unwrap())
            .save_date(DateTime::from_unix(0, 0).unwrap())
            .rfc822_size(12)
            .object_id("EMAILID", Some("Eab"))
            .object_id("THREADID", None)
            .preview(Some("hi"))
            .preview(None)
            .raw("ENVELOPE", b"NIL")
            .literal("RFC822.TEXT", b"x")
            .binary(&one, Some(2), Some(b"a\0"))
            .binary(&one, None, Some(b"ab"))
            .binary(&one, Some(2), None)
            .binary_size(&one, Some(2))
            .binary_size(&one, None);
        w.finish();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            concat!(
                "* 1 FETCH (UID 7 FLAGS (\\Seen \\Recent) BODY[HEADER.FIELDS (DATE)]<0> {9}\r\n",
                "Date: x\r\n BODY[] {0}\r\n MODSEQ (5)",
                " INTERNALDATE \"01-Jan-1970 00:00:00 +0000\" SAVEDATE \"01-Jan-1970 00:00:00 +0000\"",
                " RFC822.SIZE 12 EMAILID (Eab) THREADID NIL PREVIEW \"hi\" PREVIEW NIL",
                " ENVELOPE NIL RFC822.TEXT {1}\r\nx BINARY[1]<2> ~{2}\r\na\0 BINARY[1] {2}\r\nab",
                " BINARY[1] NIL BINARY.SIZE[1] 2 BINARY.SIZE[1] NIL)\r\n"
            )
        );
        let section = Section {
            part: vec![NonZeroU32::new(2).unwrap()],
            text: Some(SectionText::HeaderFieldsNot(vec![
                b"A B".to_vec(),
                b"C".to_vec(),
            ])),
        };
        assert_eq!(
            s(|o| write_section(o, &section)),
            "2.HEADER.FIELDS.NOT (\"A B\" C)"
        );
    }
}
