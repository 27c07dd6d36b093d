//! IMAP URLs (RFC 5092) and their authorization (URLAUTH, RFC 4467), shared by the IMAP
//! session (GENURLAUTH, URLFETCH, RESETKEY, CATENATE) and the SMTP submission session (BURL,
//! RFC 4468), which resolves URLs against the same store directly (we are the IMAP server).
//!
//! Implementation notes (what always holds):
//! - [`url`] is the grammar (sans-IO, fuzzed: `fuzz/fuzz_targets/imap_url.rs`).
//! - **INTERNAL mechanism** (RFC 4467 §2.4.1, §5): the token is `01` followed by the hex of
//!   HMAC-SHA-256 over the rump URL *as written*, keyed with the mailbox access key of the
//!   URL's owner for that mailbox; `01` names the algorithm so another one can be added
//!   later (§2.4.1). Keys are 32 random bytes from the OS-seeded CSPRNG (§2.2: at least 128
//!   bits), kept by the store per (account, mailbox) (`MailStore::access_key*`), made on
//!   first GENURLAUTH and replaced or dropped by RESETKEY (§7).
//! - **Validation** ([`fetch`], RFC 4467 §6, §7): the URL must parse, carry a verifier with
//!   the INTERNAL mechanism, not be past its `EXPIRE`, be usable by the requester (access
//!   identifier, §3), and its token must match the one computed with the owner's current
//!   key for the mailbox (constant-time compare). When the owner or the mailbox cannot be
//!   identified, or there is no key, a token is still computed with a random key so the
//!   time taken does not tell which (§6). Then, at fetch time, the owner must still have
//!   the `l` and `r` rights on the mailbox (the URL carries the owner's access, which may
//!   have changed, §7), its UIDVALIDITY must be the URL's (if given), and the UID, section
//!   and partial range must exist. Any failure is `None` (URLFETCH's NIL, BURL's 554).
//! - **Access identifiers** ([`Requester`]): `anonymous` serves any session; `authuser` a
//!   session logged in as a user (not an anonymous one); `user+<id>` a session logged in
//!   as that user; `submit+<id>` only the submission server acting for that authenticated
//!   user ([`Requester::Submit`]): IMAP sessions never have the submit role here.
//! - **Who is a userid**: `user@domain` is that address; a bare `user` is `user@<URL host>`
//!   (so `imap://joe@example.com/` is joe@example.com), compared by address key.
//! - **Mailbox names** are the owner's view: own mailboxes, `Other Users/<address>/<name>`
//!   for another account's, `Public/<name>` for the public folders (as `pochta-imap`'s
//!   namespace, `crates/imap/src/acl.rs`).
//! - Generic over [`MailStore`]; no backend, no socket, no protocol crate.
#![forbid(unsafe_code)]

pub mod url;

use hmac::{Hmac, Mac};
use std::sync::Arc;

use pochta_message::{MessageMeta, SectionText};
use pochta_store::{Account, MailStore, MailboxInfo, StoreError};
use pochta_types::{AccountId, Address, MailboxName, Right, SEPARATOR, Uid};
use sha2::Sha256;

pub use url::{Access, ImapUrl, UrlError};

/// The root of the other users' mailboxes (as `pochta-imap` names them).
pub const OTHER_USERS: &str = "Other Users";
/// The root of the public folders.
pub const PUBLIC: &str = "Public";
/// Bytes of a mailbox access key (RFC 4467 §2.2 asks for at least 128 bits).
pub const KEY_LEN: usize = 32;
/// The INTERNAL token's algorithm: HMAC-SHA-256.
const TOKEN_VERSION: &str = "01";

/// Who presents an authorized URL.
#[derive(Debug, Clone, Copy)]
pub enum Requester<'a> {
    /// An IMAP session logged in as this account.
    User(&'a Address),
    /// An anonymous IMAP session (SASL ANONYMOUS).
    Anonymous,
    /// The submission server acting for this authenticated account (BURL, RFC 4468).
    Submit(&'a Address),
}

/// A fresh mailbox access key.
pub fn new_key() -> [u8; KEY_LEN] {
    rand::random()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The INTERNAL token of `rump` under `key`.
pub fn token(key: &[u8], rump: &str) -> String {
    let mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mut m) => {
            m.update(rump.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        // HMAC takes keys of every length; nothing verifies against an empty token.
        Err(_) => return String::new(),
    };
    format!("{TOKEN_VERSION}{}", hex(&mac))
}

/// Constant-time comparison of a presented token (hex, any case) with the expected one.
fn token_matches(expected: &str, given: &str) -> bool {
    if expected.is_empty() || expected.len() != given.len() {
        return false;
    }
    expected
        .bytes()
        .zip(given.bytes())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b.to_ascii_lowercase()))
        == 0
}

/// The address a userid names: `user@domain` as is, a bare `user` at the URL's host.
pub fn userid_address(userid: &str, host: Option<&str>) -> Option<Address> {
    if userid.contains('@') {
        Address::new(userid).ok()
    } else {
        Address::new(&format!("{userid}@{}", host?)).ok()
    }
}

fn same_user(userid: &str, host: Option<&str>, addr: &Address) -> bool {
    userid_address(userid, host).is_some_and(|a| a.key() == addr.key())
}

/// Whether `who` may use a URL with this access identifier (RFC 4467 §3).
pub fn access_allows(access: &Access, host: Option<&str>, who: Requester<'_>) -> bool {
    match (access, who) {
        (Access::Anonymous, Requester::User(_) | Requester::Anonymous) => true,
        (Access::AuthUser, Requester::User(_)) => true,
        (Access::User(id), Requester::User(me)) => same_user(id, host, me),
        (Access::Submit(id), Requester::Submit(me)) => same_user(id, host, me),
        _ => false,
    }
}

/// The mailbox `name` names in `owner`'s view (own, `Other Users/…`, `Public/…`).
pub fn locate<S: MailStore>(
    store: &S,
    owner: AccountId,
    name: &str,
) -> Result<Option<MailboxInfo>, StoreError> {
    let sep = |r: &str| r.strip_prefix(SEPARATOR).map(str::to_string);
    if let Some(inner) = name.strip_prefix(PUBLIC).and_then(sep) {
        let (Some(public), Ok(inner)) = (store.public_owner()?, MailboxName::new(&inner)) else {
            return Ok(None);
        };
        return store.mailbox(public, &inner);
    }
    if let Some(rest) = name.strip_prefix(OTHER_USERS).and_then(sep) {
        let Some((addr, inner)) = rest.split_once(SEPARATOR) else {
            return Ok(None);
        };
        let (Ok(addr), Ok(inner)) = (Address::new(addr), MailboxName::new(inner)) else {
            return Ok(None);
        };
        return match store.account_by_address(&addr)? {
            Some(acc) if acc.id != owner => store.mailbox(acc.id, &inner),
            _ => Ok(None),
        };
    }
    if name == OTHER_USERS || name == PUBLIC {
        return Ok(None);
    }
    match MailboxName::new(name) {
        Ok(n) => store.mailbox(owner, &n),
        Err(_) => Ok(None),
    }
}

/// A mailbox `owner` may read now: it exists, is selectable, and `owner` has `l` and `r`.
fn readable<S: MailStore>(
    store: &S,
    owner: AccountId,
    name: &str,
) -> Result<Option<MailboxInfo>, StoreError> {
    let Some(info) = locate(store, owner, name)? else {
        return Ok(None);
    };
    let rights = store.rights(owner, &info)?;
    Ok(
        (!info.noselect && rights.contains(Right::Lookup) && rights.contains(Right::Read))
            .then_some(info),
    )
}

/// Why GENURLAUTH refused a URL (RFC 4467 §7: BAD), or a store failure.
#[derive(Debug)]
pub enum GenError {
    Bad(&'static str),
    Store(StoreError),
}

impl From<StoreError> for GenError {
    fn from(e: StoreError) -> Self {
        GenError::Store(e)
    }
}

/// Whether `mech` names the one mechanism we have (case-insensitive, RFC 4467 §9).
pub fn is_internal(mech: &str) -> bool {
    mech.eq_ignore_ascii_case("INTERNAL")
}

/// GENURLAUTH of one rump URL for the logged-in `me` (RFC 4467 §7): checks (1)–(3) of §7,
/// makes the mailbox access key if there is none yet, and returns the authorized URL.
pub fn generate<S: MailStore>(
    store: &S,
    me: &Account,
    rump: &[u8],
    mechanism: &str,
) -> Result<String, GenError> {
    if !is_internal(mechanism) {
        return Err(GenError::Bad("unsupported URLAUTH mechanism"));
    }
    let raw = std::str::from_utf8(rump).map_err(|_| GenError::Bad("URL is not UTF-8"))?;
    let url = ImapUrl::parse(rump).map_err(|e| GenError::Bad(e.0))?;
    if url.access.is_none() {
        return Err(GenError::Bad("missing access identifier in supplied URL"));
    }
    if url.verifier.is_some() {
        return Err(GenError::Bad("the URL is already authorized"));
    }
    let Some(user) = url.user.as_deref().filter(|_| url.host.is_some()) else {
        return Err(GenError::Bad("missing owner username in supplied URL"));
    };
    if !same_user(user, url.host.as_deref(), &me.address) {
        return Err(GenError::Bad(
            "URLs can be authorized only for your own mailbox access keys",
        ));
    }
    let Some(info) = readable(store, me.id, &url.mailbox)? else {
        return Err(GenError::Bad("the URL's mailbox does not exist"));
    };
    let key = match store.access_key_or_insert(me.id, info.id, &new_key()) {
        // Deleted meanwhile: as if it never existed.
        Err(StoreError::NotFound(_)) => {
            return Err(GenError::Bad("the URL's mailbox does not exist"));
        }
        r => r?,
    };
    Ok(format!("{raw}:internal:{}", token(&key, raw)))
}

/// RESETKEY (RFC 4467 §7): a new key for one of `me`'s mailboxes (named in `me`'s view),
/// or, with `None`, no keys at all. `Ok(false)` if the mailbox does not exist.
pub fn reset<S: MailStore>(
    store: &S,
    me: &Account,
    mailbox: Option<&str>,
) -> Result<bool, StoreError> {
    let Some(name) = mailbox else {
        store.access_key_reset(me.id, None)?;
        return Ok(true);
    };
    let Some(info) = locate(store, me.id, name)? else {
        return Ok(false);
    };
    if !store.rights(me.id, &info)?.contains(Right::Lookup) {
        return Ok(false);
    }
    match store.access_key_reset(me.id, Some((info.id, &new_key()))) {
        Err(StoreError::NotFound(_)) => Ok(false),
        r => r.map(|()| true),
    }
}

/// The bytes an authorized URL names, for `who` at `now` (seconds since the epoch), or
/// `None` if it fails validation (see the notes on top).
pub fn fetch<S: MailStore>(
    store: &S,
    raw: &[u8],
    who: Requester<'_>,
    now: i64,
) -> Result<Option<Vec<u8>>, StoreError> {
    match authorize(store, raw, who, now)? {
        Some((info, url)) => read_part(store, &info, &url),
        None => Ok(None),
    }
}

/// What an extended URLFETCH (RFC 5524 §3.1) asks for one URL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Want {
    /// BODYPARTSTRUCTURE.
    pub structure: bool,
    /// BODY (`Some(false)`) or BINARY (`Some(true)`).
    pub binary: Option<bool>,
}

/// What [`fetch_ext`] found for one URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    /// The BODYPARTSTRUCTURE, if asked for.
    pub structure: Option<String>,
    /// The BODY or BINARY data, if asked for; `Some(None)` when BINARY cannot decode it
    /// (an unknown or corrupt content-transfer-encoding: `(BINARY NIL)`).
    pub data: Option<Option<Vec<u8>>>,
}

/// An extended URLFETCH of one URL (RFC 5524), or `None` where [`fetch`] gives `None`.
///
/// - BODYPARTSTRUCTURE is the part's BODYSTRUCTURE, the message's for a URL without a
///   section; `rev2` as in `pochta_message::part_structure`.
/// - BINARY is `pochta_message::binary` of the part: a basic part's body decoded, a
///   multipart or message part as stored (identity encodings only, RFC 2045 §6.4). When it
///   decodes, BODYPARTSTRUCTURE describes the decoded data: its identity domain as the
///   encoding, its size and lines (§3.2). `;PARTIAL=` applies to the decoded data, as
///   `BINARY[part]<partial>` does (RFC 3516 §4.2); BODYPARTSTRUCTURE is of the whole part.
/// - BINARY and BODYPARTSTRUCTURE name a body part (RFC 3516 `section-binary`): a URL
///   whose section is HEADER, TEXT or MIME has none and is answered `None`.
pub fn fetch_ext<S: MailStore>(
    store: &S,
    raw: &[u8],
    who: Requester<'_>,
    now: i64,
    want: Want,
    rev2: bool,
) -> Result<Option<Fetched>, StoreError> {
    let Some((info, url)) = authorize(store, raw, who, now)? else {
        return Ok(None);
    };
    if !want.structure && want.binary != Some(true) {
        let data = read_part(store, &info, &url)?;
        return Ok(data.map(|d| Fetched {
            structure: None,
            data: want.binary.map(|_| Some(d)),
        }));
    }
    let path = match url.section.as_deref() {
        None => Vec::new(),
        Some(section) => match parse_section(section) {
            Some((path, SectionText::Full)) => path,
            _ => return Ok(None),
        },
    };
    let Some((blob, meta)) = load(store, &info, &url)? else {
        return Ok(None);
    };
    let mut out = Fetched::default();
    let decoded = match want.binary {
        Some(true) => match pochta_message::binary(&blob, &meta, &path) {
            Ok(d) => Some(Some(d)),
            Err(pochta_message::BinaryError::NoSuchPart) => return Ok(None),
            Err(_) => Some(None),
        },
        _ => None,
    };
    if want.structure {
        let s = match &decoded {
            Some(Some(std::borrow::Cow::Owned(d))) => {
                pochta_message::decoded_part_structure(&blob, &path, rev2, d)
            }
            _ => pochta_message::part_structure(&blob, &path, rev2),
        };
        let Some(s) = s else {
            return Ok(None);
        };
        out.structure = Some(s);
    }
    out.data = match (want.binary, decoded) {
        (Some(true), Some(d)) => Some(d.map(|d| partial(&d, url.partial))),
        (Some(false), _) => match read_part(store, &info, &url)? {
            Some(d) => Some(Some(d)),
            None => return Ok(None),
        },
        _ => None,
    };
    Ok(Some(out))
}

/// The slice `;PARTIAL=offset.length` names (RFC 5092 §6), clamped to the data.
fn partial(data: &[u8], range: Option<(u64, Option<u64>)>) -> Vec<u8> {
    let Some((offset, len)) = range else {
        return data.to_vec();
    };
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

/// The mailbox and parsed URL of an authorized URL, or `None` if it fails validation (see
/// the notes on top).
fn authorize<S: MailStore>(
    store: &S,
    raw: &[u8],
    who: Requester<'_>,
    now: i64,
) -> Result<Option<(MailboxInfo, ImapUrl)>, StoreError> {
    let Ok(text) = std::str::from_utf8(raw) else {
        return Ok(None);
    };
    let Ok(url) = ImapUrl::parse(raw) else {
        return Ok(None);
    };
    let (Some(access), Some((mech, given)), Some((rump, _, _))) =
        (&url.access, &url.verifier, url::split_verifier(text))
    else {
        return Ok(None);
    };
    if !is_internal(mech) || url.expire.is_some_and(|e| now > e) {
        return Ok(None);
    }
    if !access_allows(access, url.host.as_deref(), who) {
        return Ok(None);
    }
    // Identify the owner, the mailbox and the key; compute a token either way (§6).
    let found = match url
        .user
        .as_deref()
        .and_then(|u| userid_address(u, url.host.as_deref()))
    {
        Some(addr) => match store.account_by_address(&addr)? {
            Some(owner) => match readable(store, owner.id, &url.mailbox)? {
                Some(info) => store
                    .access_key(owner.id, info.id)?
                    .map(|key| (owner, info, key)),
                None => None,
            },
            None => None,
        },
        None => None,
    };
    let (found, key) = match found {
        Some((owner, info, key)) => (Some((owner, info)), key),
        None => (None, new_key().to_vec()),
    };
    let valid = token_matches(&token(&key, rump), given);
    let (Some((_owner, info)), true) = (found, valid) else {
        return Ok(None);
    };
    if url
        .uid_validity
        .is_some_and(|v| v != info.uid_validity.get())
    {
        return Ok(None);
    }
    Ok(Some((info, url)))
}

/// A stored message's bytes and parse.
type Loaded = (Arc<Vec<u8>>, Arc<MessageMeta>);

/// The stored bytes and parse of the message `url` names in `info`, or `None`.
fn load<S: MailStore>(
    store: &S,
    info: &MailboxInfo,
    url: &ImapUrl,
) -> Result<Option<Loaded>, StoreError> {
    let Some(uid) = Uid::new(url.uid) else {
        return Ok(None);
    };
    let Some(rec) = store.records(info.id, &[uid], true)?.into_iter().next() else {
        return Ok(None);
    };
    let Some(meta) = rec.meta else {
        return Ok(None);
    };
    Ok(Some((store.blob(&rec.blob)?, meta)))
}

/// The bytes of the message, section and partial range `url` names in `info`, or `None`.
pub fn read_part<S: MailStore>(
    store: &S,
    info: &MailboxInfo,
    url: &ImapUrl,
) -> Result<Option<Vec<u8>>, StoreError> {
    let Some(uid) = Uid::new(url.uid) else {
        return Ok(None);
    };
    let Some(rec) = store.records(info.id, &[uid], true)?.into_iter().next() else {
        return Ok(None);
    };
    let blob = store.blob(&rec.blob)?;
    let data: Vec<u8> = match &url.section {
        None => blob.as_ref().clone(),
        Some(section) => {
            let (Some(meta), Some((path, which))) = (rec.meta.as_ref(), parse_section(section))
            else {
                return Ok(None);
            };
            match pochta_message::section(&blob, meta, &path, which) {
                Some(d) => d.into_owned(),
                None => return Ok(None),
            }
        }
    };
    Ok(Some(match url.partial {
        None => data,
        Some(_) => partial(&data, url.partial),
    }))
}

/// `1.2`, `1.2.MIME`, `HEADER`, `2.TEXT` → part path and text (RFC 5092 §6 `isection`).
pub fn parse_section(s: &str) -> Option<(Vec<u32>, SectionText<'static>)> {
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

#[cfg(test)]
mod tests;
