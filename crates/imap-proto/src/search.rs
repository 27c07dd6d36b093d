//! SEARCH and UID SEARCH (RFC 9051 §6.4.4) with ESEARCH return options (RFC 4731 §3.1),
//! SEARCHRES `$` and `SAVE` (RFC 5182), MODSEQ (RFC 7162 §3.1.5), OLDER/YOUNGER (RFC 5032),
//! SAVEDATE keys (RFC 8514) and EMAILID/THREADID (RFC 8474).
//!
//! Implementation notes:
//! - Search strings stay raw bytes; [`Search::charset`] says how the client encoded them and
//!   the session decodes them (encoding_rs). The parser never guesses an encoding.
//! - Several keys in a row mean AND; the tree keeps them as [`SearchKey::And`]. A parenthesised
//!   list of one key is that key, so equal meaning gives equal trees.
//! - Nesting (parentheses, NOT, OR) deeper than [`MAX_SEARCH_DEPTH`] is refused, so a hostile
//!   `NOT NOT NOT ...` cannot exhaust the stack.
//!
//! ```abnf
//! search             = "SEARCH" [search-return-opts] SP search-program
//! search-return-opts = SP "RETURN" SP "(" [search-return-opt *(SP search-return-opt)] ")"
//! search-return-opt  = "MIN" / "MAX" / "ALL" / "COUNT" / "SAVE" / "UPDATE" /
//!                      "PARTIAL" SP partial-range                     ; RFC 9394
//! search-program     = ["CHARSET" SP charset SP] search-key *(SP search-key)
//! search-key         = "ALL" / "ANSWERED" / "BCC" SP astring / "BEFORE" SP date /
//!                      "BODY" SP astring / "CC" SP astring / "DELETED" / "FLAGGED" /
//!                      "FROM" SP astring / "KEYWORD" SP flag-keyword / "NEW" / "OLD" /
//!                      "ON" SP date / "RECENT" / "SEEN" / "SINCE" SP date /
//!                      "SUBJECT" SP astring / "TEXT" SP astring / "TO" SP astring /
//!                      "UNANSWERED" / "UNDELETED" / "UNFLAGGED" / "UNKEYWORD" SP flag-keyword /
//!                      "UNSEEN" / "DRAFT" / "HEADER" SP header-fld-name SP astring /
//!                      "LARGER" SP number64 / "NOT" SP search-key /
//!                      "OR" SP search-key SP search-key / "SENTBEFORE" SP date /
//!                      "SENTON" SP date / "SENTSINCE" SP date / "SMALLER" SP number64 /
//!                      "UID" SP sequence-set / "UNDRAFT" / sequence-set /
//!                      "(" search-key *(SP search-key) ")" /
//!                      "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer /
//!                      "OLDER" SP nz-number / "YOUNGER" SP nz-number /
//!                      "SAVEDATEBEFORE" SP date / "SAVEDATEON" SP date /
//!                      "SAVEDATESINCE" SP date / "SAVEDATESUPPORTED" /
//!                      "EMAILID" SP objectid / "THREADID" SP objectid /
//!                      "FUZZY" SP search-key                          ; RFC 6203 §7
//! search-return-opt  =/ "RELEVANCY"                                  ; RFC 6203 §7
//! ```

use std::num::NonZeroU32;

use pochta_types::Flag;

use crate::core::Date;
use crate::parse::{Cursor, PResult, syntax};
use crate::sequence::SequenceSet;

/// Deepest nesting of parentheses, NOT and OR.
pub const MAX_SEARCH_DEPTH: usize = 32;

/// An ESEARCH return option (RFC 4731 §3.1, RFC 5182 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchReturn {
    Min,
    Max,
    All,
    Count,
    Save,
    /// `PARTIAL range` (RFC 9394 §3).
    Partial(crate::partial::PartialRange),
    /// Keep the result live (RFC 5267 §4.3, CONTEXT=SEARCH / CONTEXT=SORT).
    Update,
    /// Relevancy scores of the results (RFC 6203 §4, see [`crate::fuzzy`]).
    Relevancy,
}

impl SearchReturn {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchReturn::Min => "MIN",
            SearchReturn::Max => "MAX",
            SearchReturn::All => "ALL",
            SearchReturn::Count => "COUNT",
            SearchReturn::Save => "SAVE",
            SearchReturn::Partial(_) => "PARTIAL",
            SearchReturn::Update => "UPDATE",
            SearchReturn::Relevancy => "RELEVANCY",
        }
    }
}

/// Which metadata a MODSEQ search key's entry names (RFC 7162 §3.1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryType {
    Private,
    Shared,
    All,
}

impl EntryType {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryType::Private => "priv",
            EntryType::Shared => "shared",
            EntryType::All => "all",
        }
    }
}

/// A search key; strings are raw bytes in the command's charset.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SearchKey {
    All,
    Answered,
    Bcc(Vec<u8>),
    Before(Date),
    Body(Vec<u8>),
    Cc(Vec<u8>),
    Deleted,
    Draft,
    Flagged,
    From(Vec<u8>),
    /// `HEADER name value`.
    Header(Vec<u8>, Vec<u8>),
    Keyword(Flag),
    Larger(u64),
    New,
    Not(Box<SearchKey>),
    Old,
    On(Date),
    Or(Box<SearchKey>, Box<SearchKey>),
    Recent,
    Seen,
    SentBefore(Date),
    SentOn(Date),
    SentSince(Date),
    Since(Date),
    Smaller(u64),
    Subject(Vec<u8>),
    Text(Vec<u8>),
    To(Vec<u8>),
    Uid(SequenceSet),
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unkeyword(Flag),
    Unseen,
    /// Message sequence numbers.
    SequenceSet(SequenceSet),
    /// All of these (several keys in a row, or a parenthesised list).
    And(Vec<SearchKey>),
    /// `MODSEQ ["/flags/<flag>" type] n`.
    ModSeq {
        entry: Option<(Vec<u8>, EntryType)>,
        modseq: u64,
    },
    /// Older than this many seconds (RFC 5032).
    Older(NonZeroU32),
    /// Younger than this many seconds (RFC 5032).
    Younger(NonZeroU32),
    SaveDateBefore(Date),
    SaveDateOn(Date),
    SaveDateSince(Date),
    SaveDateSupported,
    EmailId(String),
    ThreadId(String),
    /// `FUZZY key` (RFC 6203 §3, see [`crate::fuzzy`]).
    Fuzzy(Box<SearchKey>),
}

/// `[UID] SEARCH [RETURN (...)] [CHARSET c] keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    pub uid: bool,
    /// `Some` when `RETURN (...)` was given: the answer is ESEARCH (RFC 4731). `Some(vec![])`
    /// means `RETURN ()`, which is the same as `RETURN (ALL)`.
    pub returns: Option<Vec<SearchReturn>>,
    /// The CHARSET as given (upper-cased); `None` means US-ASCII (RFC 9051: UTF-8).
    pub charset: Option<String>,
    pub key: SearchKey,
}

pub(crate) fn search(c: &mut Cursor<'_>, uid: bool) -> PResult<Search> {
    c.sp()?;
    let mut returns = None;
    if c.eat_keyword("RETURN") {
        c.sp()?;
        returns = Some(return_opts(c)?);
        c.sp()?;
    }
    let mut charset = None;
    if c.eat_keyword("CHARSET") {
        c.sp()?;
        let cs = if c.peek() == Some(b'"') {
            c.quoted()?
        } else {
            c.atom()?.to_vec()
        };
        if cs.is_empty() || !cs.is_ascii() {
            return syntax("bad charset");
        }
        charset = Some(String::from_utf8_lossy(&cs).to_ascii_uppercase());
        c.sp()?;
    }
    let key = program(c)?;
    Ok(Search {
        uid,
        returns,
        charset,
        key,
    })
}

/// `search-key *(SP search-key)` to the end of the command (also SORT and THREAD's
/// search criteria, RFC 5256 §3).
pub(crate) fn program(c: &mut Cursor<'_>) -> PResult<SearchKey> {
    let mut keys = vec![key(c, 0)?];
    while c.at_sp() {
        c.sp()?;
        keys.push(key(c, 0)?);
    }
    Ok(if keys.len() == 1 {
        keys.pop().unwrap_or(SearchKey::All)
    } else {
        SearchKey::And(keys)
    })
}

/// `RETURN (...)` options (RFC 4731 §3.1; also ESORT, RFC 5267 §3).
pub(crate) fn return_opts(c: &mut Cursor<'_>) -> PResult<Vec<SearchReturn>> {
    c.paren_list(0, |c| {
        Ok(match c.keyword()?.as_str() {
            "MIN" => SearchReturn::Min,
            "MAX" => SearchReturn::Max,
            "ALL" => SearchReturn::All,
            "COUNT" => SearchReturn::Count,
            "SAVE" => SearchReturn::Save,
            "UPDATE" => SearchReturn::Update,
            "RELEVANCY" => SearchReturn::Relevancy,
            "PARTIAL" => {
                c.sp()?;
                SearchReturn::Partial(crate::partial::partial_range(c)?)
            }
            other => return syntax(format!("unknown SEARCH return option {other}")),
        })
    })
}

fn arg_astring(c: &mut Cursor<'_>) -> PResult<Vec<u8>> {
    c.sp()?;
    if matches!(c.peek(), Some(b'"') | Some(b'{')) {
        return c.astring();
    }
    // Leniency for search strings only: clients such as Python's imaplib send
    // `SEARCH CHARSET UTF-8 BODY <raw UTF-8>` as an atom with 8-bit bytes, which RFC 3501
    // does not allow but Dovecot accepts. The bytes are still decoded with the CHARSET.
    let a = c.take_while(|b| b >= 0x80 || crate::core::is_astring_char(b));
    if a.is_empty() {
        return c.astring();
    }
    Ok(a.to_vec())
}

fn arg_date(c: &mut Cursor<'_>) -> PResult<Date> {
    c.sp()?;
    c.date()
}

fn arg_keyword(c: &mut Cursor<'_>) -> PResult<Flag> {
    c.sp()?;
    let f = c.flag()?;
    if !matches!(f, Flag::Keyword(_)) {
        return syntax("expected a keyword (not a system flag)");
    }
    Ok(f)
}

fn arg_objectid(c: &mut Cursor<'_>) -> PResult<String> {
    c.sp()?;
    let id = c.take_while(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if id.is_empty() || id.len() > 255 {
        return syntax("expected an object id");
    }
    Ok(String::from_utf8_lossy(id).into_owned())
}

pub(crate) fn key(c: &mut Cursor<'_>, depth: usize) -> PResult<SearchKey> {
    if depth >= MAX_SEARCH_DEPTH {
        return syntax("search keys nested too deeply");
    }
    match c.peek() {
        Some(b'(') => {
            let mut keys = c.paren_list(1, |c| key(c, depth + 1))?;
            return Ok(if keys.len() == 1 {
                keys.pop().unwrap_or(SearchKey::All)
            } else {
                SearchKey::And(keys)
            });
        }
        Some(b'0'..=b'9' | b'*' | b'$') => return Ok(SearchKey::SequenceSet(c.sequence_set()?)),
        _ => {}
    }
    use SearchKey as K;
    Ok(match c.keyword()?.as_str() {
        "ALL" => K::All,
        "ANSWERED" => K::Answered,
        "BCC" => K::Bcc(arg_astring(c)?),
        "BEFORE" => K::Before(arg_date(c)?),
        "BODY" => K::Body(arg_astring(c)?),
        "CC" => K::Cc(arg_astring(c)?),
        "DELETED" => K::Deleted,
        "DRAFT" => K::Draft,
        "FLAGGED" => K::Flagged,
        "FROM" => K::From(arg_astring(c)?),
        "HEADER" => {
            let name = arg_astring(c)?;
            K::Header(name, arg_astring(c)?)
        }
        "KEYWORD" => K::Keyword(arg_keyword(c)?),
        "LARGER" => {
            c.sp()?;
            K::Larger(c.number64()?)
        }
        "NEW" => K::New,
        "NOT" => {
            c.sp()?;
            K::Not(Box::new(key(c, depth + 1)?))
        }
        "OLD" => K::Old,
        "ON" => K::On(arg_date(c)?),
        "OR" => {
            c.sp()?;
            let a = key(c, depth + 1)?;
            c.sp()?;
            let b = key(c, depth + 1)?;
            K::Or(Box::new(a), Box::new(b))
        }
        "RECENT" => K::Recent,
        "SEEN" => K::Seen,
        "SENTBEFORE" => K::SentBefore(arg_date(c)?),
        "SENTON" => K::SentOn(arg_date(c)?),
        "SENTSINCE" => K::SentSince(arg_date(c)?),
        "SINCE" => K::Since(arg_date(c)?),
        "SMALLER" => {
            c.sp()?;
            K::Smaller(c.number64()?)
        }
        "SUBJECT" => K::Subject(arg_astring(c)?),
        "TEXT" => K::Text(arg_astring(c)?),
        "TO" => K::To(arg_astring(c)?),
        "UID" => {
            c.sp()?;
            K::Uid(c.sequence_set()?)
        }
        "UNANSWERED" => K::Unanswered,
        "UNDELETED" => K::Undeleted,
        "UNDRAFT" => K::Undraft,
        "UNFLAGGED" => K::Unflagged,
        "UNKEYWORD" => K::Unkeyword(arg_keyword(c)?),
        "UNSEEN" => K::Unseen,
        "MODSEQ" => {
            c.sp()?;
            let mut entry = None;
            if c.peek() == Some(b'"') {
                let name = c.quoted()?;
                if !name.starts_with(b"/flags/") {
                    return syntax("MODSEQ entry must be /flags/<flag>");
                }
                c.sp()?;
                let t = match c.keyword()?.as_str() {
                    "PRIV" => EntryType::Private,
                    "SHARED" => EntryType::Shared,
                    "ALL" => EntryType::All,
                    _ => return syntax("bad MODSEQ entry type"),
                };
                c.sp()?;
                entry = Some((name, t));
            }
            K::ModSeq {
                entry,
                modseq: c.modseq()?,
            }
        }
        "OLDER" => {
            c.sp()?;
            K::Older(c.nz_number()?)
        }
        "YOUNGER" => {
            c.sp()?;
            K::Younger(c.nz_number()?)
        }
        "SAVEDATEBEFORE" => K::SaveDateBefore(arg_date(c)?),
        "SAVEDATEON" => K::SaveDateOn(arg_date(c)?),
        "SAVEDATESINCE" => K::SaveDateSince(arg_date(c)?),
        "SAVEDATESUPPORTED" => K::SaveDateSupported,
        "EMAILID" => K::EmailId(arg_objectid(c)?),
        "THREADID" => K::ThreadId(arg_objectid(c)?),
        "FUZZY" => K::Fuzzy(Box::new(crate::fuzzy::fuzzy_key(c, depth)?)),
        other => return syntax(format!("unknown search key {other}")),
    })
}
