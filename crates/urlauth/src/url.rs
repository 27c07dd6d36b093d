//! The IMAP URL (RFC 5092) naming one message or a part of it, with the URLAUTH additions
//! (RFC 4467 §3, §9): the grammar only, sans-IO.
//!
//! Implementation notes (what always holds):
//! - Accepted forms: `imap://[enc-user[;AUTH=mech]@]host[:port]/<imessagepart>` and the
//!   absolute path `/<imessagepart>` (CATENATE's relative form, RFC 4469 §5), where
//!   `imessagepart = enc-mailbox [;UIDVALIDITY=n] /;UID=n [/;SECTION=s] [/;PARTIAL=o[.l]]`
//!   optionally followed by `[;EXPIRE=date-time];URLAUTH=access[:mech:token]`. Parameters
//!   come in that order, each introduced exactly as the grammar says (`/;` or `;`); their
//!   names and the access keywords are case-insensitive. A URL naming a server, a mailbox
//!   or a search is refused: nothing here can resolve it (RFC 4467 §7 answers NIL).
//! - The mailbox, the user and the section are percent-decoded (UTF-8); the rump used for
//!   the authorization token is the URL *as written* up to the `:` before the mechanism
//!   (RFC 4467 §6: no decoding, no case folding).
//! - `EXPIRE` is an RFC 3339 date-time, kept as seconds since the epoch (UTC).
//! - [`ImapUrl`]'s `Display` writes the canonical form, which parses back to the same value.
//!
//! ```abnf
//! imapurl        = "imap://" iserver "/" imessagepart [iurlauth]   ; RFC 5092 §11
//! iserver        = [iuserinfo "@"] host [":" port]
//! iuserinfo      = enc-user [iauth]
//! imessagepart   = enc-mailbox [uidvalidity] "/;UID=" nz-number
//!                  ["/;SECTION=" enc-section] ["/;PARTIAL=" number ["." nz-number]]
//! iurlauth       = [";EXPIRE=" date-time] ";URLAUTH=" access [":" mechanism ":" enc-urlauth]
//! access         = ("submit+" enc-user) / ("user+" enc-user) / "authuser" / "anonymous"
//! ```

use std::fmt;

use pochta_types::civil::days_from_civil;

/// Who may use a URLAUTH-authorized URL (RFC 4467 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// `anonymous`: any session, anonymous ones included.
    Anonymous,
    /// `authuser`: any session logged in as a user of this server.
    AuthUser,
    /// `user+<userid>`: sessions logged in as that user.
    User(String),
    /// `submit+<userid>`: a submission server acting for that user.
    Submit(String),
}

/// A parsed IMAP URL naming a message or a part of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapUrl {
    /// `enc-user` of `imap://user@host/...`, percent-decoded.
    pub user: Option<String>,
    /// The host, as written (`None` for the absolute-path form).
    pub host: Option<String>,
    pub port: Option<u16>,
    /// The mailbox name, decoded.
    pub mailbox: String,
    pub uid_validity: Option<u32>,
    pub uid: u32,
    /// The section as written (`1.2`, `HEADER`, `1.MIME`, `TEXT`), decoded and upper-cased.
    pub section: Option<String>,
    /// `;PARTIAL=offset[.length]`.
    pub partial: Option<(u64, Option<u64>)>,
    /// `;EXPIRE=`, in seconds since the epoch.
    pub expire: Option<i64>,
    /// `;URLAUTH=<access>`.
    pub access: Option<Access>,
    /// `:<mechanism>:<token>` after the access identifier, as written.
    pub verifier: Option<(String, String)>,
}

/// Why a URL was refused (the callers answer BAD, NIL or BADURL without saying more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError(pub &'static str);

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

type R<T> = Result<T, UrlError>;

fn err<T>(why: &'static str) -> R<T> {
    Err(UrlError(why))
}

/// Percent-decoding to UTF-8.
pub fn pct_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            if !h.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Percent-encoding of everything but RFC 5092's `achar` (and `/` when `slash`).
pub fn pct_encode(s: &str, slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || b"-._~!$'()*+,&=".contains(&b)
            || (slash && (b == b'/' || b == b':' || b == b'@'));
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `name=value` with a case-insensitive name → value.
fn param<'s>(seg: &'s str, name: &str) -> Option<&'s str> {
    let (k, v) = seg.split_once('=')?;
    k.eq_ignore_ascii_case(name).then_some(v)
}

fn nz_number(s: &str) -> R<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.starts_with('0') {
        return err("not a nonzero number");
    }
    s.parse().or(err("number out of range"))
}

fn number(s: &str) -> R<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return err("not a number");
    }
    s.parse().or(err("number out of range"))
}

fn digits<const N: usize>(s: &[u8]) -> Option<u32> {
    if s.len() != N || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |a, d| a * 10 + u32::from(d - b'0')))
}

/// An RFC 3339 `date-time` → seconds since the epoch.
pub fn parse_date_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !b"Tt".contains(&b[10]) {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let y = digits::<4>(&b[0..4])?;
    let mo = digits::<2>(&b[5..7])?;
    let d = digits::<2>(&b[8..10])?;
    let h = digits::<2>(&b[11..13])?;
    let mi = digits::<2>(&b[14..16])?;
    let sec = digits::<2>(&b[17..19])?;
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &rest[1 + n..];
    }
    let offset: i64 = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let oh = digits::<2>(&[*h1, *h2])?;
            let om = digits::<2>(&[*m1, *m2])?;
            if oh > 23 || om > 59 {
                return None;
            }
            let o = i64::from(oh * 3600 + om * 60);
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    let dim = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    if d == 0 || d > dim || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    Some(days * 86400 + i64::from(h * 3600 + mi * 60 + sec) - offset)
}

/// Seconds since the epoch → `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_date_time(t: i64) -> String {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, m, d) = pochta_types::civil::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn access(s: &str) -> R<Access> {
    let lower_prefix = |p: &str| {
        s.get(..p.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(p))
            .then(|| &s[p.len()..])
    };
    if s.eq_ignore_ascii_case("anonymous") {
        return Ok(Access::Anonymous);
    }
    if s.eq_ignore_ascii_case("authuser") {
        return Ok(Access::AuthUser);
    }
    let (user, mk): (&str, fn(String) -> Access) = if let Some(u) = lower_prefix("submit+") {
        (u, Access::Submit)
    } else if let Some(u) = lower_prefix("user+") {
        (u, Access::User)
    } else {
        return err("unknown access identifier");
    };
    let user = pct_decode(user).ok_or(UrlError("bad percent-encoding"))?;
    if user.is_empty() {
        return err("empty userid in the access identifier");
    }
    Ok(mk(user))
}

/// The mechanism: `INTERNAL` or `1*(ALPHA / DIGIT / "-" / ".")`.
fn mechanism_ok(m: &str) -> bool {
    !m.is_empty()
        && m.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Where `;URLAUTH=` starts (case-insensitive), if anywhere.
fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    (0..=h.len().checked_sub(n.len())?).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// Splits an authorized URL at the `:` before `<mech>:<token>` (RFC 4467 §6): the rump as
/// written, and the mechanism and token; `None` if the URL has no URLAUTH verifier.
pub fn split_verifier(url: &str) -> Option<(&str, &str, &str)> {
    let at = find_ci(url, ";URLAUTH=")?;
    let after = at + ";URLAUTH=".len();
    let colon = after + url[after..].find(':')?;
    let (mech, token) = url[colon + 1..].split_once(':')?;
    Some((&url[..colon], mech, token))
}

impl ImapUrl {
    /// Parse a URL.
    pub fn parse(url: &[u8]) -> R<ImapUrl> {
        let url = std::str::from_utf8(url).or(err("not UTF-8"))?;
        if url
            .bytes()
            .any(|b| b <= b' ' || b == 0x7f || b == b'"' || b == b'\\')
        {
            return err("a character no URL may hold");
        }
        let (mut user, mut host, mut port) = (None, None, None);
        let path = match url.get(..7) {
            Some(s) if s.eq_ignore_ascii_case("imap://") => {
                let rest = &url[7..];
                let slash = rest.find('/').ok_or(UrlError("no path"))?;
                let authority = &rest[..slash];
                let hostport = match authority.rsplit_once('@') {
                    Some((u, hp)) => {
                        // `user;AUTH=mech` keeps only the user.
                        let u = match u.split_once(';') {
                            Some((u, a)) if param(a, "AUTH").is_some() => u,
                            Some(_) => return err("bad userinfo"),
                            None => u,
                        };
                        if u.is_empty() {
                            return err("empty user");
                        }
                        user = Some(pct_decode(u).ok_or(UrlError("bad percent-encoding"))?);
                        hp
                    }
                    None => authority,
                };
                let (h, p) = if hostport.starts_with('[') {
                    let end = hostport.find(']').ok_or(UrlError("bad IPv6 host"))?;
                    match &hostport[end + 1..] {
                        "" => (hostport, None),
                        r => (
                            &hostport[..=end],
                            Some(r.strip_prefix(':').ok_or(UrlError("bad host"))?),
                        ),
                    }
                } else {
                    match hostport.split_once(':') {
                        Some((h, p)) => (h, Some(p)),
                        None => (hostport, None),
                    }
                };
                if let Some(p) = p.filter(|p| !p.is_empty()) {
                    if !p.bytes().all(|b| b.is_ascii_digit()) {
                        return err("bad port");
                    }
                    port = Some(p.parse().or(err("bad port"))?);
                }
                if h.is_empty() || h.contains(['?', '#', ';']) {
                    return err("bad host");
                }
                host = Some(h.to_string());
                &rest[slash..]
            }
            _ => url,
        };
        let path = path
            .strip_prefix('/')
            .ok_or(UrlError("not an absolute URL"))?;
        // The URLAUTH part first: its verifier holds `:`, the rest never `;`.
        let (path, urlauth) = match find_ci(path, ";URLAUTH=") {
            Some(i) => (&path[..i], Some(&path[i + ";URLAUTH=".len()..])),
            None => (path, None),
        };
        let (path, expire) = match find_ci(path, ";EXPIRE=") {
            Some(i) => (&path[..i], Some(&path[i + ";EXPIRE=".len()..])),
            None => (path, None),
        };
        if expire.is_some() && urlauth.is_none() {
            return err("EXPIRE without URLAUTH");
        }
        let expire = match expire {
            Some(e) => Some(parse_date_time(e).ok_or(UrlError("bad EXPIRE date-time"))?),
            None => None,
        };
        let (access, verifier) = match urlauth {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                None => (Some(access(u)?), None),
                Some((a, v)) => {
                    let (mech, token) = v.split_once(':').ok_or(UrlError("no token"))?;
                    if !mechanism_ok(mech)
                        || token.len() < 32
                        || !token.bytes().all(|b| b.is_ascii_hexdigit())
                    {
                        return err("bad mechanism or token");
                    }
                    (
                        Some(access(a)?),
                        Some((mech.to_string(), token.to_string())),
                    )
                }
            },
        };
        // enc-mailbox [;UIDVALIDITY=n] then "/;" parameters.
        let semi = path.find(';').ok_or(UrlError("no UID"))?;
        let (mailbox_enc, mut rest) = if path[..semi].ends_with('/') {
            (&path[..semi - 1], &path[semi..])
        } else {
            (&path[..semi], &path[semi..])
        };
        let mailbox = pct_decode(mailbox_enc).ok_or(UrlError("bad percent-encoding"))?;
        if mailbox.is_empty() {
            return err("empty mailbox");
        }
        let mut uid_validity = None;
        if !path[..semi].ends_with('/') {
            // `;UIDVALIDITY=n/` directly after the mailbox.
            let seg = &rest[1..];
            let end = seg.find("/;").ok_or(UrlError("no UID"))?;
            let v = param(&seg[..end], "UIDVALIDITY").ok_or(UrlError("unexpected parameter"))?;
            uid_validity = Some(nz_number(v)?);
            rest = &seg[end + 1..];
        }
        // Now `;UID=n[/;SECTION=s][/;PARTIAL=r]`.
        let mut uid = None;
        let mut section = None;
        let mut partial = None;
        let mut rank = 0;
        for seg in rest.strip_prefix(';').unwrap_or(rest).split("/;") {
            let (r, v) = if let Some(v) = param(seg, "UID") {
                (1, v)
            } else if let Some(v) = param(seg, "SECTION") {
                (2, v)
            } else if let Some(v) = param(seg, "PARTIAL") {
                (3, v)
            } else {
                return err("unexpected parameter");
            };
            if r <= rank {
                return err("parameters out of order");
            }
            rank = r;
            match r {
                1 => uid = Some(nz_number(v)?),
                2 => {
                    let s = pct_decode(v).ok_or(UrlError("bad percent-encoding"))?;
                    if s.is_empty() {
                        return err("empty section");
                    }
                    section = Some(s.to_ascii_uppercase());
                }
                _ => {
                    partial = Some(match v.split_once('.') {
                        Some((o, l)) => {
                            let l = number(l)?;
                            if l == 0 {
                                return err("zero PARTIAL length");
                            }
                            (number(o)?, Some(l))
                        }
                        None => (number(v)?, None),
                    });
                }
            }
        }
        Ok(ImapUrl {
            user,
            host,
            port,
            mailbox,
            uid_validity,
            uid: uid.ok_or(UrlError("no UID"))?,
            section,
            partial,
            expire,
            access,
            verifier,
        })
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Access::Anonymous => f.write_str("anonymous"),
            Access::AuthUser => f.write_str("authuser"),
            Access::User(u) => write!(f, "user+{}", pct_encode(u, false)),
            Access::Submit(u) => write!(f, "submit+{}", pct_encode(u, false)),
        }
    }
}

impl fmt::Display for ImapUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(host) = &self.host {
            f.write_str("imap://")?;
            if let Some(u) = &self.user {
                write!(f, "{}@", pct_encode(u, false))?;
            }
            f.write_str(host)?;
            if let Some(p) = self.port {
                write!(f, ":{p}")?;
            }
        }
        let mut mailbox = pct_encode(&self.mailbox, true);
        if mailbox.ends_with('/') {
            // A last `/` would read as the `/` of `/;UID=`.
            mailbox.pop();
            mailbox.push_str("%2F");
        }
        write!(f, "/{mailbox}")?;
        if let Some(v) = self.uid_validity {
            write!(f, ";UIDVALIDITY={v}")?;
        }
        write!(f, "/;UID={}", self.uid)?;
        if let Some(s) = &self.section {
            write!(f, "/;SECTION={}", pct_encode(s, false))?;
        }
        match self.partial {
            Some((o, Some(l))) => write!(f, "/;PARTIAL={o}.{l}")?,
            Some((o, None)) => write!(f, "/;PARTIAL={o}")?,
            None => {}
        }
        if let Some(e) = self.expire {
            write!(f, ";EXPIRE={}", format_date_time(e))?;
        }
        if let Some(a) = &self.access {
            write!(f, ";URLAUTH={a}")?;
            if let Some((m, t)) = &self.verifier {
                write!(f, ":{m}:{t}")?;
            }
        }
        Ok(())
    }
}
