//! Server responses: status responses with codes, data responses, a streaming FETCH writer,
//! and the low-level writers that pick atom / quoted / literal for any byte string.
//!
//! Implementation notes:
//! - Everything writes into a caller-owned `Vec<u8>`; nothing allocates per item. The FETCH
//!   writer ([`FetchWriter`]) appends items in place, so the hot path is one buffer.
//! - [`write_string`] is total: any byte string comes out as a valid `string` — quoted when it
//!   is short 7-bit text without CR, LF or NUL (`"` and `\` escaped, RFC 9051 §4.3), a literal
//!   otherwise, and a literal8 (`~{n}`) from [`write_binary`] when it holds NUL (RFC 3516).
//! - Human text (`resp-text`) never contains CR or LF: [`write_text`] replaces them, so a
//!   message from anywhere cannot break the framing or inject a response.
//! - Mailbox names are written modified UTF-7 unless UTF8=ACCEPT is on (RFC 3501 §5.1.3,
//!   RFC 9051 §6.3.1).
//!
//! ```abnf
//! response-tagged = tag SP resp-cond-state CRLF
//! resp-cond-state = ("OK" / "NO" / "BAD") SP resp-text
//! resp-text       = ["[" resp-text-code "]" SP] text
//! continue-req    = "+" SP (resp-text / base64) CRLF
//! ```

use std::io::Write as _;

use pochta_types::{Flag, Flags, MailboxName, mutf7};

use crate::core::{DateTime, Tag, is_astring_char};
use crate::fetch::{Section, SectionText};
use crate::search::SearchReturn;
use crate::status::StatusItem;

/// Longest string written quoted; longer ones go as literals (cheaper for the client).
const MAX_QUOTED: usize = 1024;

// ---------------------------------------------------------------------------------------------
// Low-level writers

fn num(out: &mut Vec<u8>, n: impl std::fmt::Display) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{n}");
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

/// `{n}CRLF<bytes>`.
pub fn write_literal(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'{');
    num(out, b.len());
    out.extend_from_slice(b"}\r\n");
    out.extend_from_slice(b);
}

/// A `string`: quoted if possible, else a literal.
pub fn write_string(out: &mut Vec<u8>, b: &[u8]) {
    write_string_utf8(out, b, false);
}

/// A `string` that may be quoted UTF-8 (UTF8=ACCEPT, RFC 9051 §4.3).
pub fn write_string_utf8(out: &mut Vec<u8>, b: &[u8], utf8: bool) {
    if quotable(b, utf8) {
        write_quoted(out, b);
    } else {
        write_literal(out, b);
    }
}

/// An `nstring`: `NIL` or a string.
pub fn write_nstring(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        Some(b) => write_string(out, b),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// Content that may hold NUL: a literal8 `~{n}` if it does, else a `string` (RFC 3516 §4.2).
pub fn write_binary(out: &mut Vec<u8>, b: &[u8]) {
    if b.contains(&0) {
        out.extend_from_slice(b"~{");
        num(out, b.len());
        out.extend_from_slice(b"}\r\n");
        out.extend_from_slice(b);
    } else {
        write_string(out, b);
    }
}

/// An `astring`: an atom when every byte is an ASTRING-CHAR and it is not `NIL`, else a string.
pub fn write_astring(out: &mut Vec<u8>, b: &[u8]) {
    if !b.is_empty() && b.iter().all(|&c| is_astring_char(c)) && !b.eq_ignore_ascii_case(b"NIL") {
        out.extend_from_slice(b);
    } else {
        write_string(out, b);
    }
}

/// A mailbox name: modified UTF-7 (or UTF-8 under UTF8=ACCEPT), as an astring.
pub fn write_mailbox(out: &mut Vec<u8>, name: &MailboxName, utf8: bool) {
    write_mailbox_str(out, name.as_str(), utf8);
}

/// Like [`write_mailbox`] for a name that is not a [`MailboxName`] (a LIST pattern, `""`).
pub fn write_mailbox_str(out: &mut Vec<u8>, name: &str, utf8: bool) {
    if utf8 {
        let b = name.as_bytes();
        if b.is_ascii() {
            write_astring(out, b);
        } else {
            write_string_utf8(out, b, true);
        }
    } else if name.is_ascii() && !name.contains('&') {
        write_astring(out, name.as_bytes());
    } else {
        write_astring(out, mutf7::encode(name).as_bytes());
    }
}

/// `(\Seen $Forwarded)`; `recent` adds `\Recent` (a session property, RFC 3501 §2.3.2).
pub fn write_flags(out: &mut Vec<u8>, flags: &Flags, recent: bool) {
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
pub fn write_flag_list(out: &mut Vec<u8>, flags: &[Flag], extra: &[&str]) {
    out.push(b'(');
    let mut first = true;
    for s in flags.iter().map(Flag::as_str).chain(extra.iter().copied()) {
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(s.as_bytes());
    }
    out.push(b')');
}

/// A compact sequence set from inclusive ranges (`1:5,7`); ranges are written in the order
/// given (COPYUID needs the source order). Writes nothing for an empty slice.
pub fn write_ranges(out: &mut Vec<u8>, ranges: &[(u32, u32)]) {
    for (i, &(lo, hi)) in ranges.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        num(out, lo);
        if hi != lo {
            out.push(b':');
            num(out, hi);
        }
    }
}

/// Compact sorted numbers into ranges and write them (`1,2,3,5` → `1:3,5`).
pub fn write_numbers(out: &mut Vec<u8>, nums: impl IntoIterator<Item = u32>) {
    let mut run: Option<(u32, u32)> = None;
    let mut first = true;
    let mut flush = |out: &mut Vec<u8>, r: (u32, u32)| {
        if !first {
            out.push(b',');
        }
        first = false;
        write_ranges(out, &[r]);
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

/// `"01-Feb-2024 13:05:09 +0300"`.
pub fn write_date_time(out: &mut Vec<u8>, dt: DateTime) {
    out.push(b'"');
    num(out, dt);
    out.push(b'"');
}

/// Human-readable text with CR, LF and NUL replaced by spaces; never empty.
pub fn write_text(out: &mut Vec<u8>, text: &str) {
    if text.is_empty() {
        out.extend_from_slice(b"done");
        return;
    }
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

/// A response code (RFC 9051 §7.1, RFC 5530, RFC 4315, RFC 7162, RFC 4978, RFC 6154 …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    Alert,
    BadCharset(Vec<String>),
    Capability(Vec<String>),
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
    /// `APPENDUID validity uids` (RFC 4315 §3).
    AppendUid {
        uid_validity: u32,
        uids: Vec<(u32, u32)>,
    },
    /// `COPYUID validity source dest` (RFC 4315 §3); ranges in corresponding order.
    CopyUid {
        uid_validity: u32,
        source: Vec<(u32, u32)>,
        dest: Vec<(u32, u32)>,
    },
    UidNotSticky,
    HighestModSeq(u64),
    NoModSeq,
    /// `MODIFIED set` (RFC 7162 §3.1.3).
    Modified(Vec<(u32, u32)>),
    Closed,
    TooBig,
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
    /// Any other code, written as given (must be an atom, optionally followed by text).
    Other(String),
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
                out.extend_from_slice(b"CAPABILITY");
                for c in caps {
                    out.push(b' ');
                    out.extend_from_slice(c.as_bytes());
                }
            }
            Code::PermanentFlags { flags, allow_new } => {
                out.extend_from_slice(b"PERMANENTFLAGS ");
                write_flag_list(out, flags, if *allow_new { &["\\*"] } else { &[] });
            }
            Code::UidNext(n) => {
                out.extend_from_slice(b"UIDNEXT ");
                num(out, n);
            }
            Code::UidValidity(n) => {
                out.extend_from_slice(b"UIDVALIDITY ");
                num(out, n);
            }
            Code::Unseen(n) => {
                out.extend_from_slice(b"UNSEEN ");
                num(out, n);
            }
            Code::AppendUid { uid_validity, uids } => {
                out.extend_from_slice(b"APPENDUID ");
                num(out, uid_validity);
                out.push(b' ');
                write_ranges(out, uids);
            }
            Code::CopyUid {
                uid_validity,
                source,
                dest,
            } => {
                out.extend_from_slice(b"COPYUID ");
                num(out, uid_validity);
                out.push(b' ');
                write_ranges(out, source);
                out.push(b' ');
                write_ranges(out, dest);
            }
            Code::HighestModSeq(n) => {
                out.extend_from_slice(b"HIGHESTMODSEQ ");
                num(out, n);
            }
            Code::Modified(r) => {
                out.extend_from_slice(b"MODIFIED ");
                write_ranges(out, r);
            }
            Code::Other(s) => write_text(out, &s.replace(']', " ")),
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

/// An owned status response, for code that builds responses before writing them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusResponse {
    /// `None` for untagged (`*`).
    pub tag: Option<Tag>,
    pub status: Status,
    pub code: Option<Code>,
    pub text: String,
}

impl StatusResponse {
    pub fn tagged(tag: Tag, status: Status, code: Option<Code>, text: impl Into<String>) -> Self {
        StatusResponse {
            tag: Some(tag),
            status,
            code,
            text: text.into(),
        }
    }
    pub fn untagged(status: Status, code: Option<Code>, text: impl Into<String>) -> Self {
        StatusResponse {
            tag: None,
            status,
            code,
            text: text.into(),
        }
    }
    pub fn write(&self, out: &mut Vec<u8>) {
        write_status(
            out,
            self.tag.as_ref(),
            self.status,
            self.code.as_ref(),
            &self.text,
        );
    }
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

fn untagged(out: &mut Vec<u8>) {
    out.extend_from_slice(b"* ");
}

/// `* CAPABILITY ...`
pub fn write_capability(out: &mut Vec<u8>, caps: &[&str]) {
    out.extend_from_slice(b"* CAPABILITY");
    for c in caps {
        out.push(b' ');
        out.extend_from_slice(c.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// `* ENABLED ...` (RFC 5161 §3.2).
pub fn write_enabled(out: &mut Vec<u8>, caps: &[&str]) {
    out.extend_from_slice(b"* ENABLED");
    for c in caps {
        out.push(b' ');
        out.extend_from_slice(c.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// `* n EXISTS`
pub fn write_exists(out: &mut Vec<u8>, n: u32) {
    untagged(out);
    num(out, n);
    out.extend_from_slice(b" EXISTS\r\n");
}

/// `* n RECENT`
pub fn write_recent(out: &mut Vec<u8>, n: u32) {
    untagged(out);
    num(out, n);
    out.extend_from_slice(b" RECENT\r\n");
}

/// `* n EXPUNGE`
pub fn write_expunge(out: &mut Vec<u8>, seq: u32) {
    untagged(out);
    num(out, seq);
    out.extend_from_slice(b" EXPUNGE\r\n");
}

/// `* VANISHED [(EARLIER)] uids` (RFC 7162 §3.2.10).
pub fn write_vanished(out: &mut Vec<u8>, earlier: bool, uids: &[(u32, u32)]) {
    out.extend_from_slice(b"* VANISHED ");
    if earlier {
        out.extend_from_slice(b"(EARLIER) ");
    }
    write_ranges(out, uids);
    out.extend_from_slice(b"\r\n");
}

/// `* FLAGS (...)`
pub fn write_flags_response(out: &mut Vec<u8>, flags: &[Flag]) {
    out.extend_from_slice(b"* FLAGS ");
    write_flag_list(out, flags, &[]);
    out.extend_from_slice(b"\r\n");
}

/// One `* LIST` / `* LSUB` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListItem<'a> {
    /// Attributes as written (`\HasChildren`, `\Sent`, `\Subscribed`, `\NonExistent` …).
    pub attributes: &'a [&'a str],
    /// Always `/` for Pochta; `None` writes `NIL` (flat namespace).
    pub delimiter: Option<char>,
    pub name: &'a str,
    /// `CHILDINFO ("SUBSCRIBED")` (RFC 5258 §3.5).
    pub child_info_subscribed: bool,
    /// `OLDNAME` (RFC 9051 §7.3.1) for a renamed mailbox.
    pub old_name: Option<&'a str>,
}

/// `* LIST (attrs) "/" name [extended]` (or `LSUB` when `lsub`).
pub fn write_list(out: &mut Vec<u8>, item: &ListItem<'_>, lsub: bool, utf8: bool) {
    out.extend_from_slice(if lsub { b"* LSUB (" } else { b"* LIST (" });
    for (i, a) in item.attributes.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(a.as_bytes());
    }
    out.extend_from_slice(b") ");
    match item.delimiter {
        Some(d) => {
            let mut b = [0u8; 4];
            write_quoted(out, d.encode_utf8(&mut b).as_bytes());
        }
        None => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    write_mailbox_str(out, item.name, utf8);
    if item.child_info_subscribed || item.old_name.is_some() {
        out.extend_from_slice(b" (");
        let mut first = true;
        if item.child_info_subscribed {
            out.extend_from_slice(b"\"CHILDINFO\" (\"SUBSCRIBED\")");
            first = false;
        }
        if let Some(old) = item.old_name {
            if !first {
                out.push(b' ');
            }
            out.extend_from_slice(b"\"OLDNAME\" (");
            write_mailbox_str(out, old, utf8);
            out.push(b')');
        }
        out.push(b')');
    }
    out.extend_from_slice(b"\r\n");
}

/// `* STATUS name (ITEM n ...)`.
pub fn write_status_data(
    out: &mut Vec<u8>,
    mailbox: &MailboxName,
    items: &[(StatusItem, u64)],
    utf8: bool,
) {
    out.extend_from_slice(b"* STATUS ");
    write_mailbox(out, mailbox, utf8);
    out.extend_from_slice(b" (");
    for (i, (item, v)) in items.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(item.as_str().as_bytes());
        out.push(b' ');
        num(out, v);
    }
    out.extend_from_slice(b")\r\n");
}

/// `* SEARCH n n n [(MODSEQ m)]` (RFC 9051 §7.3.5 (rev1), RFC 7162 §3.1.5).
pub fn write_search(out: &mut Vec<u8>, nums: impl IntoIterator<Item = u32>, modseq: Option<u64>) {
    out.extend_from_slice(b"* SEARCH");
    for n in nums {
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

/// What an ESEARCH response reports (RFC 4731 §3.1); `None` fields are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ESearch<'a> {
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub all: Option<&'a [(u32, u32)]>,
    pub count: Option<u32>,
    pub modseq: Option<u64>,
}

/// `* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [ALL set] [COUNT n] [MODSEQ m]`.
pub fn write_esearch(out: &mut Vec<u8>, tag: Option<&Tag>, uid: bool, r: &ESearch<'_>) {
    out.extend_from_slice(b"* ESEARCH");
    if let Some(t) = tag {
        out.extend_from_slice(b" (TAG ");
        write_quoted(out, t.as_str().as_bytes());
        out.push(b')');
    }
    if uid {
        out.extend_from_slice(b" UID");
    }
    let mut item = |name: SearchReturn, v: Option<u32>| {
        if let Some(v) = v {
            out.push(b' ');
            out.extend_from_slice(name.as_str().as_bytes());
            out.push(b' ');
            num(out, v);
        }
    };
    item(SearchReturn::Min, r.min);
    item(SearchReturn::Max, r.max);
    if let Some(all) = r.all.filter(|a| !a.is_empty()) {
        out.extend_from_slice(b" ALL ");
        write_ranges(out, all);
    }
    if let Some(c) = r.count {
        out.extend_from_slice(b" COUNT ");
        num(out, c);
    }
    if let Some(m) = r.modseq {
        out.extend_from_slice(b" MODSEQ ");
        num(out, m);
    }
    out.extend_from_slice(b"\r\n");
}

/// `* NAMESPACE (("prefix" "/")) NIL NIL` with only a personal namespace (RFC 2342).
pub fn write_namespace_personal(out: &mut Vec<u8>, prefix: &str, delimiter: char) {
    out.extend_from_slice(b"* NAMESPACE ((");
    write_quoted(out, prefix.as_bytes());
    out.push(b' ');
    let mut b = [0u8; 4];
    write_quoted(out, delimiter.encode_utf8(&mut b).as_bytes());
    out.extend_from_slice(b")) NIL NIL\r\n");
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
        num(out, usage);
        out.push(b' ');
        num(out, limit);
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

/// Writes one `* n FETCH (...)` response item by item into the output buffer.
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
        out.extend_from_slice(b"* ");
        num(out, seq);
        out.extend_from_slice(b" FETCH (");
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

    pub fn save_date(&mut self, dt: Option<DateTime>) -> &mut Self {
        let out = self.item(b"SAVEDATE ");
        match dt {
            Some(dt) => write_date_time(out, dt),
            None => out.extend_from_slice(b"NIL"),
        }
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

    /// `EMAILID (id)` / `THREADID (id)` or `THREADID NIL` (RFC 8474).
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

    /// `PREVIEW "text"` or `PREVIEW NIL` (RFC 8970).
    pub fn preview(&mut self, text: Option<&str>) -> &mut Self {
        let out = self.item(b"PREVIEW ");
        match text {
            Some(t) => write_string_utf8(out, t.as_bytes(), true),
            None => out.extend_from_slice(b"NIL"),
        }
        self
    }

    /// An item whose value is already in wire form, e.g. `ENVELOPE (...)`,
    /// `BODYSTRUCTURE (...)` prepared by the message crate.
    pub fn raw(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let out = self.item(name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(value);
        self
    }

    /// `BODY[section]<origin> nstring`; `RFC822`, `RFC822.HEADER`, `RFC822.TEXT` go through
    /// [`FetchWriter::raw_string`].
    pub fn body_section(
        &mut self,
        section: &Section,
        origin: Option<u32>,
        data: Option<&[u8]>,
    ) -> &mut Self {
        let out = self.item(b"BODY[");
        write_section(out, section);
        out.push(b']');
        if let Some(o) = origin {
            out.push(b'<');
            num(out, o);
            out.push(b'>');
        }
        out.push(b' ');
        write_nstring(out, data);
        self
    }

    /// `BINARY[part]<origin> data`; literal8 when the data holds NUL (RFC 3516 §4.2).
    pub fn binary(
        &mut self,
        part: &[std::num::NonZeroU32],
        origin: Option<u32>,
        data: Option<&[u8]>,
    ) -> &mut Self {
        let out = self.item(b"BINARY[");
        write_part(out, part);
        out.push(b']');
        if let Some(o) = origin {
            out.push(b'<');
            num(out, o);
            out.push(b'>');
        }
        out.push(b' ');
        match data {
            Some(d) => write_binary(out, d),
            None => out.extend_from_slice(b"NIL"),
        }
        self
    }

    /// `BINARY.SIZE[part] n`.
    pub fn binary_size(&mut self, part: &[std::num::NonZeroU32], n: u64) -> &mut Self {
        let out = self.item(b"BINARY.SIZE[");
        write_part(out, part);
        out.extend_from_slice(b"] ");
        num(out, n);
        self
    }

    /// `NAME nstring`, e.g. `RFC822.HEADER {n}...`.
    pub fn raw_string(&mut self, name: &str, data: Option<&[u8]>) -> &mut Self {
        let out = self.item(name.as_bytes());
        out.push(b' ');
        write_nstring(out, data);
        self
    }

    /// Close the response.
    pub fn finish(self) {
        self.out.extend_from_slice(b")\r\n");
    }
}

fn write_part(out: &mut Vec<u8>, part: &[std::num::NonZeroU32]) {
    for (i, p) in part.iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        num(out, p);
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

    #[test]
    fn strings() {
        assert_eq!(s(|o| write_astring(o, b"abc")), "abc");
        assert_eq!(s(|o| write_astring(o, b"")), "\"\"");
        assert_eq!(s(|o| write_astring(o, b"nil")), "\"nil\"");
        assert_eq!(s(|o| write_astring(o, b"a b")), "\"a b\"");
        assert_eq!(s(|o| write_string(o, b"a\"\\b")), "\"a\\\"\\\\b\"");
        assert_eq!(s(|o| write_string(o, b"a\r\nb")), "{4}\r\na\r\nb");
        assert_eq!(s(|o| write_string(o, "я".as_bytes())), "{2}\r\nя");
        assert_eq!(s(|o| write_binary(o, b"a\0")), "~{2}\r\na\0");
        assert_eq!(s(|o| write_nstring(o, None)), "NIL");
    }

    #[test]
    fn mailboxes() {
        let n = MailboxName::new("Отправленные").unwrap();
        assert_eq!(
            s(|o| write_mailbox(o, &n, false)),
            "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"
        );
        assert_eq!(s(|o| write_mailbox(o, &n, true)), "\"Отправленные\"");
        let n = MailboxName::new("A&B").unwrap();
        assert_eq!(s(|o| write_mailbox(o, &n, false)), "A&-B");
    }

    #[test]
    fn status_and_codes() {
        let t = Tag::new(b"a1").unwrap();
        assert_eq!(
            s(|o| write_status(o, Some(&t), Status::No, Some(&Code::TooBig), "too\r\nbig")),
            "a1 NO [TOOBIG] too  big\r\n"
        );
        let c = Code::CopyUid {
            uid_validity: 7,
            source: vec![(1, 3), (5, 5)],
            dest: vec![(10, 13)],
        };
        assert_eq!(
            s(|o| write_status(o, None, Status::Ok, Some(&c), "")),
            "* OK [COPYUID 7 1:3,5 10:13] done\r\n"
        );
        let c = Code::PermanentFlags {
            flags: vec![Flag::Seen, Flag::Deleted],
            allow_new: true,
        };
        assert_eq!(s(|o| c.write(o)), "PERMANENTFLAGS (\\Seen \\Deleted \\*)");
        assert_eq!(s(|o| write_numbers(o, [1, 2, 3, 5, 7, 8])), "1:3,5,7:8");
    }

    #[test]
    fn fetch_writer() {
        let mut out = Vec::new();
        let mut w = FetchWriter::begin(&mut out, 1);
        let mut flags = Flags::new();
        flags.insert(&Flag::Seen);
        w.flags(&flags, true);
        w.body_section(
            &Section {
                part: vec![],
                text: Some(SectionText::HeaderFields(vec![b"DATE".to_vec()])),
            },
            Some(0),
            Some(b"Date: x\r\n"),
        );
        w.modseq(5);
        w.finish();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "* 1 FETCH (FLAGS (\\Seen \\Recent) BODY[HEADER.FIELDS (DATE)]<0> {9}\r\nDate: x\r\n MODSEQ (5))\r\n"
        );
    }
}
