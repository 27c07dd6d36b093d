//! Typed views of the untagged data a client uses (RFC 9051 §7.2–§7.5, RFC 7162, RFC 4731,
//! RFC 6154), read from the generic [`Response`] values.
//!
//! Implementation notes:
//! - Views are lenient where servers differ and strict where a wrong value would mislead the
//!   caller: an unknown FETCH item is skipped, but `BODY[]` that is not a string is an error.
//! - Numbers that do not fit their type (a UID over `u32`) read as absent, never as truncated.
//! - Nothing here panics on any input.

use bytes::Bytes;

use super::response::{Response, ResponseError, Status, StatusText, Value};
use crate::command::ParseOptions;
use crate::core::DateTime;

/// Parses an IMAP `date-time` without its quotes: `17-Jul-1996 02:44:25 -0700` (the day may
/// be space-padded, RFC 9051 §9), with the same grammar the server reads APPEND dates with.
pub fn parse_date_time(s: &[u8]) -> Option<DateTime> {
    let mut quoted = Vec::with_capacity(s.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(s);
    quoted.push(b'"');
    let mut c = crate::parse::Cursor::new(&quoted, ParseOptions::default());
    let dt = c.date_time().ok()?;
    c.rest().is_empty().then_some(dt)
}

/// Capability names from `* CAPABILITY …` or a `[CAPABILITY …]` code, upper-cased.
pub fn capabilities(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .filter_map(Value::as_text)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The capabilities a response announces, if it does (`* CAPABILITY` data or a
/// `[CAPABILITY …]` code on any status response).
pub fn announced_capabilities(r: &Response) -> Option<Vec<String>> {
    match r {
        Response::Data { name, values } if name == "CAPABILITY" => Some(capabilities(values)),
        Response::Tagged {
            status:
                StatusText {
                    code: Some((name, args)),
                    ..
                },
            ..
        }
        | Response::UntaggedStatus(StatusText {
            code: Some((name, args)),
            ..
        }) if name == "CAPABILITY" => Some(capabilities(args)),
        _ => None,
    }
}

/// One LIST (or LSUB) entry (RFC 9051 §7.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The name as the server sent it (modified UTF-7 unless UTF8=ACCEPT, remote separator).
    pub raw: String,
    pub delimiter: Option<char>,
    /// Attributes, e.g. `\Noselect`, `\Sent` (RFC 6154), as sent.
    pub attributes: Vec<String>,
}

impl ListEntry {
    /// Reads `* LIST (attrs) delim name [extended]`; `None` for other responses.
    pub fn from_response(r: &Response) -> Option<ListEntry> {
        let Response::Data { name, values } = r else {
            return None;
        };
        if (name != "LIST" && name != "LSUB") || values.len() < 3 {
            return None;
        }
        let attributes = values[0]
            .as_list()
            .map(|l| l.iter().filter_map(Value::as_text).collect())
            .unwrap_or_default();
        let delimiter = values[1].as_text().and_then(|d| d.chars().next());
        let raw = values[2].as_text()?;
        Some(ListEntry {
            raw,
            delimiter,
            attributes,
        })
    }

    pub fn has(&self, attr: &str) -> bool {
        self.attributes.iter().any(|a| a.eq_ignore_ascii_case(attr))
    }

    pub fn selectable(&self) -> bool {
        !self.has("\\Noselect") && !self.has("\\NonExistent")
    }
}

/// What SELECT or EXAMINE reported (RFC 9051 §7.1, §7.4; RFC 7162 §3.1.2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selected {
    pub uid_validity: Option<u32>,
    pub uid_next: Option<u32>,
    pub exists: u32,
    pub highest_modseq: Option<u64>,
    /// `[NOMODSEQ]`: the mailbox keeps no MODSEQs.
    pub no_modseq: bool,
    pub flags: Vec<String>,
    pub permanent_flags: Vec<String>,
    pub read_only: bool,
}

impl Selected {
    /// Takes in one response of the SELECT/EXAMINE exchange (the tagged one too).
    pub fn absorb(&mut self, r: &Response) {
        let code = match r {
            Response::UntaggedStatus(st) | Response::Tagged { status: st, .. } => st.code.as_ref(),
            Response::Numbered { n, name, .. } if name == "EXISTS" => {
                self.exists = u32::try_from(*n).unwrap_or(u32::MAX);
                return;
            }
            Response::Data { name, values } if name == "FLAGS" => {
                self.flags = flag_list(values.first());
                return;
            }
            _ => return,
        };
        let Some((name, args)) = code else { return };
        let n = args.first().and_then(Value::as_number);
        match name.as_str() {
            "UIDVALIDITY" => self.uid_validity = n.and_then(|n| u32::try_from(n).ok()),
            "UIDNEXT" => self.uid_next = n.and_then(|n| u32::try_from(n).ok()),
            "HIGHESTMODSEQ" => self.highest_modseq = n,
            "NOMODSEQ" => self.no_modseq = true,
            "PERMANENTFLAGS" => self.permanent_flags = flag_list(args.first()),
            "READ-ONLY" => self.read_only = true,
            _ => {}
        }
    }
}

fn flag_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_list)
        .map(|l| l.iter().filter_map(Value::as_text).collect())
        .unwrap_or_default()
}

/// One FETCH response's items (RFC 9051 §7.5.2). Absent items are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    pub seq: u64,
    pub uid: Option<u32>,
    pub flags: Option<Vec<String>>,
    pub internal_date: Option<DateTime>,
    pub size: Option<u64>,
    pub modseq: Option<u64>,
    /// `BODY[]` (also `RFC822`, `BINARY[]`).
    pub body: Option<Bytes>,
    /// `BODY[HEADER.FIELDS (…)]`
    pub header_fields: Option<Bytes>,
}

impl Fetched {
    /// Reads `* n FETCH (…)`; `Ok(None)` for other responses.
    pub fn from_response(r: &Response) -> Result<Option<Fetched>, ResponseError> {
        match r {
            Response::Numbered { n, name, values } if name == "FETCH" => {
                Fetched::from_values(*n, values).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Interprets the values of a `* n FETCH (…)` response.
    pub fn from_values(seq: u64, values: &[Value]) -> Result<Fetched, ResponseError> {
        let items = values
            .first()
            .and_then(Value::as_list)
            .ok_or(ResponseError::Syntax("FETCH without item list"))?;
        let mut f = Fetched {
            seq,
            ..Fetched::default()
        };
        let mut it = items.iter();
        while let (Some(name), Some(value)) = (it.next(), it.next()) {
            let Value::Atom(name) = name else {
                return Err(ResponseError::Syntax("FETCH item name is not an atom"));
            };
            let upper = name.to_ascii_uppercase();
            match upper.as_slice() {
                b"UID" => f.uid = value.as_number().and_then(|n| u32::try_from(n).ok()),
                b"FLAGS" => {
                    f.flags = value
                        .as_list()
                        .map(|l| l.iter().filter_map(Value::as_text).collect());
                }
                b"INTERNALDATE" => {
                    f.internal_date = value.as_bytes().and_then(|b| parse_date_time(b));
                }
                b"RFC822.SIZE" => f.size = value.as_number(),
                b"MODSEQ" => {
                    f.modseq = value
                        .as_list()
                        .and_then(|l| l.first())
                        .and_then(Value::as_number);
                }
                b"BODY[]" | b"RFC822" | b"BINARY[]" => {
                    f.body = match value {
                        Value::Str(b) => Some(b.clone()),
                        Value::Nil => Some(Bytes::new()),
                        _ => return Err(ResponseError::Syntax("BODY[] is not a string")),
                    }
                }
                n if n.starts_with(b"BODY[HEADER.FIELDS") => {
                    f.header_fields = value.as_bytes().cloned();
                }
                _ => {}
            }
        }
        Ok(f)
    }
}

/// `* SEARCH 1 2 3 [(MODSEQ m)]` (RFC 9051 §7.3.5 in IMAP4rev1 form, RFC 7162 §3.1.5) or
/// `* ESEARCH (TAG "t") UID ALL 1:3,7 …` (RFC 4731): the numbers found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchResult {
    /// Numbers listed by SEARCH, or expanded from ESEARCH `ALL`.
    pub numbers: Vec<u32>,
    pub uid: bool,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub count: Option<u32>,
    pub modseq: Option<u64>,
}

/// Most numbers one ESEARCH `ALL` set may expand to (a hostile `1:4294967295` stays small).
pub const MAX_SEARCH_EXPANSION: u64 = 1 << 20;

impl SearchResult {
    /// Reads SEARCH or ESEARCH data; `Ok(None)` for other responses.
    pub fn from_response(r: &Response) -> Result<Option<SearchResult>, ResponseError> {
        let Response::Data { name, values } = r else {
            return Ok(None);
        };
        let mut out = SearchResult::default();
        match name.as_str() {
            "SEARCH" => {
                for v in values {
                    match v {
                        Value::Number(n) => out.numbers.push(
                            u32::try_from(*n)
                                .map_err(|_| ResponseError::Syntax("search number"))?,
                        ),
                        Value::List(l) if l.first().is_some_and(|a| a.is_atom("MODSEQ")) => {
                            out.modseq = l.get(1).and_then(Value::as_number);
                        }
                        _ => return Err(ResponseError::Syntax("SEARCH data")),
                    }
                }
            }
            "ESEARCH" => {
                let mut it = values.iter().peekable();
                if it.peek().is_some_and(|v| v.as_list().is_some()) {
                    it.next(); // (TAG "…")
                }
                while let Some(v) = it.next() {
                    if v.is_atom("UID") {
                        out.uid = true;
                        continue;
                    }
                    let Value::Atom(k) = v else {
                        return Err(ResponseError::Syntax("ESEARCH return name"));
                    };
                    let val = it.next().ok_or(ResponseError::Syntax("ESEARCH value"))?;
                    let num = || val.as_number().and_then(|n| u32::try_from(n).ok());
                    match k.to_ascii_uppercase().as_slice() {
                        b"MIN" => out.min = num(),
                        b"MAX" => out.max = num(),
                        b"COUNT" => out.count = num(),
                        b"MODSEQ" => out.modseq = val.as_number(),
                        b"ALL" => out.numbers = expand_set(val)?,
                        _ => {}
                    }
                }
            }
            _ => return Ok(None),
        }
        Ok(Some(out))
    }
}

/// `* VANISHED [(EARLIER)] set` (RFC 7162 §3.2.10): the UIDs gone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vanished {
    pub earlier: bool,
    pub uids: Vec<u32>,
}

impl Vanished {
    pub fn from_response(r: &Response) -> Result<Option<Vanished>, ResponseError> {
        let Some(values) = untagged_data(r, "VANISHED") else {
            return Ok(None);
        };
        let (earlier, set) = match values {
            [Value::List(l), set] if l.first().is_some_and(|a| a.is_atom("EARLIER")) => (true, set),
            [set] => (false, set),
            _ => return Err(ResponseError::Syntax("VANISHED data")),
        };
        Ok(Some(Vanished {
            earlier,
            uids: expand_set(set)?,
        }))
    }
}

/// A `sequence-set` of plain numbers (as servers send them in answers), expanded, with at
/// most [`MAX_SEARCH_EXPANSION`] numbers.
fn expand_set(v: &Value) -> Result<Vec<u32>, ResponseError> {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::Atom(b) => String::from_utf8_lossy(b).into_owned(),
        _ => return Err(ResponseError::Syntax("sequence set")),
    };
    let bad = ResponseError::Syntax("sequence set");
    let mut out = Vec::new();
    for part in text.split(',') {
        let (a, b) = part.split_once(':').unwrap_or((part, part));
        let a: u32 = a.parse().map_err(|_| bad.clone())?;
        let b: u32 = b.parse().map_err(|_| bad.clone())?;
        let (lo, hi) = (a.min(b), a.max(b));
        if out.len() as u64 + u64::from(hi - lo) + 1 > MAX_SEARCH_EXPANSION {
            return Err(ResponseError::Syntax("sequence set too large"));
        }
        out.extend(lo..=hi);
    }
    Ok(out)
}

/// `* STATUS mailbox (MESSAGES 3 UIDNEXT 9 …)` (RFC 9051 §7.2.4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusData {
    /// The name as the server sent it.
    pub mailbox: Bytes,
    /// Item names (upper-cased) and values.
    pub items: Vec<(String, u64)>,
}

impl StatusData {
    pub fn from_response(r: &Response) -> Option<StatusData> {
        let values = untagged_data(r, "STATUS")?;
        let mailbox = values.first()?.as_bytes()?.clone();
        let list = values.get(1)?.as_list()?;
        let mut items = Vec::new();
        let mut it = list.iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            if let (Some(k), Some(v)) = (k.as_text(), v.as_number()) {
                items.push((k.to_ascii_uppercase(), v));
            }
        }
        Some(StatusData { mailbox, items })
    }

    pub fn get(&self, item: &str) -> Option<u64> {
        self.items
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(item))
            .map(|(_, v)| *v)
    }
}

/// `* NAMESPACE personal other shared` (RFC 2342 §5, RFC 9051 §7.3.4): each a list of
/// (prefix as sent, delimiter), empty for `NIL`. Extension data after an entry is ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespaces {
    pub personal: Vec<(String, Option<char>)>,
    pub other_users: Vec<(String, Option<char>)>,
    pub shared: Vec<(String, Option<char>)>,
}

impl Namespaces {
    pub fn from_response(r: &Response) -> Result<Option<Namespaces>, ResponseError> {
        let Some(values) = untagged_data(r, "NAMESPACE") else {
            return Ok(None);
        };
        let [personal, other, shared] = values else {
            return Err(ResponseError::Syntax("NAMESPACE needs three parts"));
        };
        let part = |v: &Value| -> Result<Vec<(String, Option<char>)>, ResponseError> {
            match v {
                Value::Nil => Ok(Vec::new()),
                Value::List(entries) => entries
                    .iter()
                    .map(|e| {
                        let l = e
                            .as_list()
                            .ok_or(ResponseError::Syntax("NAMESPACE entry"))?;
                        let prefix = l
                            .first()
                            .and_then(Value::as_text)
                            .ok_or(ResponseError::Syntax("NAMESPACE prefix"))?;
                        let delim = l
                            .get(1)
                            .and_then(Value::as_text)
                            .and_then(|d| d.chars().next());
                        Ok((prefix, delim))
                    })
                    .collect(),
                _ => Err(ResponseError::Syntax("NAMESPACE part")),
            }
        };
        Ok(Some(Namespaces {
            personal: part(personal)?,
            other_users: part(other)?,
            shared: part(shared)?,
        }))
    }
}

/// The values of `* NAME …` data when `r` is that.
fn untagged_data<'a>(r: &'a Response, want: &str) -> Option<&'a [Value]> {
    match r {
        Response::Data { name, values } if name == want => Some(values),
        _ => None,
    }
}

/// Whether `r` is `* BYE` (the server is closing the connection, RFC 9051 §7.1.5); its text.
pub fn bye_text(r: &Response) -> Option<&str> {
    match r {
        Response::UntaggedStatus(StatusText {
            status: Status::Bye,
            text,
            ..
        }) => Some(text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::response::ResponseReader;
    use super::*;

    fn one(wire: &[u8]) -> Response {
        let mut r = ResponseReader::default();
        r.feed(wire);
        r.next_response().expect("parse").expect("complete")
    }

    #[test]
    fn date_times() {
        let d = parse_date_time(b"17-Jul-1996 02:44:25 -0700").expect("date");
        assert_eq!(d.unix_timestamp(), 837_596_665);
        assert_eq!(d.zone_minutes(), -420);
        assert_eq!(d.to_string(), "17-Jul-1996 02:44:25 -0700");
        let d = parse_date_time(b" 1-Jan-2024 00:00:00 +0300").expect("date");
        assert_eq!(d.to_string(), "01-Jan-2024 00:00:00 +0300");
        assert_eq!(d.unix_timestamp(), 1_704_056_400);
        for bad in [
            &b""[..],
            b"32-Jan-2024 00:00:00 +0000",
            b"1-Foo-2024 00:00:00 +0000",
            b"1-Jan-2024 00:00 +0000",
            b"1-Jan-2024 00:00:00 0000",
            b"1-Jan-2024 00:00:00 +0000\" x",
        ] {
            assert_eq!(parse_date_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn fetch_items() {
        let r = one(b"* 4 FETCH (UID 10 FLAGS (\\Seen \\Recent kw) INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" RFC822.SIZE 5 MODSEQ (77) BODY[] {5}\r\nhello)\r\n");
        let f = Fetched::from_response(&r)
            .expect("fetch")
            .expect("is fetch");
        assert_eq!(f.seq, 4);
        assert_eq!(f.uid, Some(10));
        assert_eq!(f.size, Some(5));
        assert_eq!(f.modseq, Some(77));
        assert_eq!(f.body.as_deref(), Some(&b"hello"[..]));
        assert_eq!(f.flags.as_ref().map(Vec::len), Some(3));
        assert_eq!(
            f.internal_date.map(DateTime::unix_timestamp),
            Some(1_704_067_200)
        );
        let r = one(b"* 1 FETCH (UID 4294967296 BODY[] (x))\r\n");
        assert!(Fetched::from_response(&r).is_err());
        assert_eq!(Fetched::from_response(&one(b"* 3 EXISTS\r\n")), Ok(None));
    }

    #[test]
    fn list_select_search_status() {
        let e = ListEntry::from_response(&one(
            b"* LIST (\\HasNoChildren \\Sent) \"/\" {4}\r\nSent\r\n",
        ))
        .expect("list");
        assert_eq!(e.raw, "Sent");
        assert_eq!(e.delimiter, Some('/'));
        assert!(e.has("\\sent") && e.selectable());
        let e = ListEntry::from_response(&one(b"* LIST (\\Noselect) NIL \"\"\r\n")).expect("list");
        assert_eq!(e.delimiter, None);
        assert!(!e.selectable());

        let mut s = Selected::default();
        for w in [
            &b"* FLAGS (\\Seen \\Answered)\r\n"[..],
            b"* 17 EXISTS\r\n",
            b"* OK [UIDVALIDITY 3857529045] UIDs valid\r\n",
            b"* OK [UIDNEXT 4392] Predicted next UID\r\n",
            b"* OK [HIGHESTMODSEQ 715194045007] Highest\r\n",
            b"C3 OK [READ-ONLY] EXAMINE completed\r\n",
        ] {
            s.absorb(&one(w));
        }
        assert_eq!(s.exists, 17);
        assert_eq!(s.uid_validity, Some(3_857_529_045));
        assert_eq!(s.uid_next, Some(4392));
        assert_eq!(s.highest_modseq, Some(715_194_045_007));
        assert_eq!(s.flags, ["\\Seen", "\\Answered"]);
        assert!(s.read_only);

        let r = SearchResult::from_response(&one(b"* SEARCH 2 84 882 (MODSEQ 917162500)\r\n"))
            .expect("search")
            .expect("is search");
        assert_eq!(r.numbers, [2, 84, 882]);
        assert_eq!(r.modseq, Some(917_162_500));
        let r = SearchResult::from_response(&one(
            b"* ESEARCH (TAG \"C4\") UID COUNT 5 MIN 1 ALL 1:3,7,9:10\r\n",
        ))
        .expect("esearch")
        .expect("is esearch");
        assert!(r.uid);
        assert_eq!((r.count, r.min), (Some(5), Some(1)));
        assert_eq!(r.numbers, [1, 2, 3, 7, 9, 10]);
        assert!(
            SearchResult::from_response(&one(b"* ESEARCH ALL 1:4294967295\r\n")).is_err(),
            "a huge set is refused, not expanded"
        );
        let v = Vanished::from_response(&one(b"* VANISHED (EARLIER) 41,43:45\r\n"))
            .expect("vanished")
            .expect("is vanished");
        assert!(v.earlier);
        assert_eq!(v.uids, [41, 43, 44, 45]);
        let st = StatusData::from_response(&one(b"* STATUS \"a b\" (MESSAGES 2 UIDNEXT 9)\r\n"))
            .expect("status");
        assert_eq!(&st.mailbox[..], b"a b");
        assert_eq!(st.get("uidnext"), Some(9));
        assert_eq!(
            announced_capabilities(&one(b"* OK [CAPABILITY IMAP4rev1 literal+] hi\r\n")),
            Some(vec!["IMAP4REV1".to_owned(), "LITERAL+".to_owned()])
        );
        assert_eq!(bye_text(&one(b"* BYE going\r\n")), Some("going"));
        let ns = Namespaces::from_response(&one(
            b"* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\" \"X-PARAM\" (\"a\"))) NIL\r\n",
        ))
        .expect("namespace")
        .expect("is namespace");
        assert_eq!(ns.personal, [(String::new(), Some('/'))]);
        assert_eq!(ns.other_users, [("Other Users/".to_owned(), Some('/'))]);
        assert!(ns.shared.is_empty());
        assert!(Namespaces::from_response(&one(b"* NAMESPACE NIL NIL\r\n")).is_err());
    }
}
