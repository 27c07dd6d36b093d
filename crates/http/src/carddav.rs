//! CardDAV (RFC 6352) over WebDAV (RFC 4918): per-user address books.
//!
//! Invariants:
//! - URL space: `/.well-known/carddav` redirects to `/dav/` (RFC 6764 §5); `/dav/` (and `/`)
//!   answer `current-user-principal` (RFC 5397); the principal is
//!   `/dav/principals/ADDRESS/`, its `addressbook-home-set` (RFC 6352 §7.1.1)
//!   `/dav/addressbooks/ADDRESS/`, each book `/dav/addressbooks/ADDRESS/BOOK/`, each contact
//!   `…/BOOK/NAME` with NAME the path segment the client chose (kept as sent, percent
//!   escapes included). A user reaches only the paths under their own address: anyone
//!   else's answer 403.
//! - Every request but `OPTIONS` needs HTTP Basic credentials (RFC 7617), checked by the one
//!   login flow of `pochta-auth` (`Login::password`: the same throttle, auth cache and
//!   `event=auth_failed` log line as IMAP, POP3 and SMTP; protocol `http`, mechanism
//!   `PASSWORD`). A password crosses only TLS, or loopback when `auth.plaintext` allows it;
//!   otherwise 403. A failure waits the flow's delay and answers 401 with a Basic challenge;
//!   a throttled attempt 429 with `Retry-After`.
//! - Contacts are stored exactly as sent (RFC 6352 §6.3.2: the server may not change them,
//!   so the `ETag` of a PUT is returned); a PUT must be one UTF-8 vCard 3.0 or 4.0 (else 403
//!   `CARDDAV:valid-address-data`), at most [`MAX_CARD`] bytes (`max-resource-size`, else 403
//!   `CARDDAV:max-resource-size`), and its UID unique in the book (else 409
//!   `CARDDAV:no-uid-conflict`).
//! - `If-Match` / `If-None-Match: *` on PUT and DELETE are checked in the store's write
//!   transaction (412 when they fail).
//! - REPORTs: `sync-collection` (RFC 6578: the token is `http://pochta/ns/sync/N`, N the
//!   book's change counter; deletions come back as 404 responses; an unknown token is 403
//!   `DAV:valid-sync-token`), `addressbook-multiget` and `addressbook-query` (RFC 6352 §8.6,
//!   §8.7; filters in [`crate::vcard`], `nresults` honoured with 507 on the cut, RFC 5323
//!   style).
//! - XML requests are parsed by `roxmltree` (namespace-aware); answers are written with every
//!   value escaped by `quick_xml::escape`.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use pochta_auth::{
    AuthCache, Context, Directory, Login, Outcome, PlaintextPolicy, Protocol, Throttle,
};
use pochta_store::contacts::{AddressBook, Contact, ContactStore, Precondition, Put};
use pochta_store::{MailStore, StoreError};
use pochta_types::AccountId;
use quick_xml::escape::escape;

use crate::Peer;
use crate::vcard;

/// The largest vCard stored (`max-resource-size`).
pub const MAX_CARD: usize = 1024 * 1024;
const DAV: &str = "DAV:";
const CARD: &str = "urn:ietf:params:xml:ns:carddav";
const CS: &str = "http://calendarserver.org/ns/";
const TOKEN_PREFIX: &str = "http://pochta/ns/sync/";

type Answer = Response<Full<Bytes>>;

/// Who logged in.
#[derive(Debug, Clone)]
pub struct User {
    pub account: AccountId,
    pub address: String,
}

/// The result of checking Basic credentials.
pub enum Checked {
    Ok(User),
    Failed(Duration),
    Throttled(Duration),
    PlaintextRefused,
    Error(String),
}

/// Checks a user name and password through the login flow.
pub trait Logins: Send + Sync + 'static {
    fn check(&self, user: &str, password: &str, peer: IpAddr, tls: bool) -> Checked;
}

/// [`Logins`] over a mail store's accounts, with the server's throttle and auth cache.
pub struct StoreLogins<S> {
    pub store: Arc<S>,
    pub throttle: Arc<Throttle>,
    pub cache: Arc<AuthCache>,
    pub plaintext: PlaintextPolicy,
}

impl<S: MailStore> Logins for StoreLogins<S> {
    fn check(&self, user: &str, password: &str, peer: IpAddr, tls: bool) -> Checked {
        let cx = Context {
            protocol: Protocol::Http,
            peer,
            plaintext: self.plaintext.allows(tls, peer),
            anonymous: false,
            throttle: &self.throttle,
            cache: &self.cache,
        };
        match Login::password(&cx, &Directory(&*self.store), user, password) {
            Outcome::LoggedIn(a) => Checked::Ok(User {
                account: a.id,
                address: a.address.to_string(),
            }),
            Outcome::Failed { delay } => Checked::Failed(delay),
            Outcome::Throttled { retry_after } => Checked::Throttled(retry_after),
            Outcome::PlaintextRefused => Checked::PlaintextRefused,
            Outcome::Store(e) => Checked::Error(e.to_string()),
            _ => Checked::Failed(pochta_auth::flow::MIN_FAILURE_DELAY),
        }
    }
}

/// The CardDAV service: contacts and the login check.
pub struct CardDav {
    pub contacts: Arc<dyn ContactStore>,
    pub logins: Arc<dyn Logins>,
}

fn answer(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Answer {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn plain(status: StatusCode, text: &'static str) -> Answer {
    answer(status, "text/plain; charset=utf-8", text)
}

fn xml(status: StatusCode, body: String) -> Answer {
    answer(status, "application/xml; charset=utf-8", body)
}

/// A DAV precondition error body (RFC 4918 §16).
fn condition(status: StatusCode, ns: &str, name: &str, inner: &str) -> Answer {
    xml(
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:error xmlns:d=\"DAV:\"><c:{name} xmlns:c=\"{ns}\">{inner}</c:{name}></d:error>\n"
        ),
    )
}

fn unauthorized() -> Answer {
    let mut r = plain(
        StatusCode::UNAUTHORIZED,
        "log in with your address and password\n",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Pochta\", charset=\"UTF-8\""),
    );
    r
}

fn with_header(mut r: Answer, name: header::HeaderName, value: &str) -> Answer {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
    r
}

/// What a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Root,
    Principal(String),
    Home(String),
    Book(String, String),
    Card(String, String, String),
}

fn target(path: &str) -> Option<Target> {
    if path == "/" {
        return Some(Target::Root);
    }
    let rest = path.strip_prefix("/dav")?;
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let owned = |s: &str| s.to_owned();
    match segs.as_slice() {
        [] => Some(Target::Root),
        ["principals", a] => Some(Target::Principal(decode(a))),
        ["addressbooks", a] => Some(Target::Home(decode(a))),
        ["addressbooks", a, b] => Some(Target::Book(decode(a), owned(b))),
        ["addressbooks", a, b, c] => Some(Target::Card(decode(a), owned(b), owned(c))),
        _ => None,
    }
}

/// A percent-decoded address segment (`alice%40example.org`).
fn decode(s: &str) -> String {
    s.replace("%40", "@")
        .replace("%2B", "+")
        .replace("%2b", "+")
}

fn principal_href(a: &str) -> String {
    format!("/dav/principals/{a}/")
}
fn home_href(a: &str) -> String {
    format!("/dav/addressbooks/{a}/")
}
fn book_href(a: &str, b: &str) -> String {
    format!("/dav/addressbooks/{a}/{b}/")
}

/// A resource whose properties are asked for.
enum Res<'a> {
    Root,
    Principal,
    Home,
    Book(&'a AddressBook),
    Card(&'a Contact),
}

/// A property name.
type Name = (String, String);

fn name_of(n: roxmltree::Node) -> Name {
    (
        n.tag_name().namespace().unwrap_or("").to_owned(),
        n.tag_name().name().to_owned(),
    )
}

/// The properties every `allprop` answer lists.
fn allprop() -> Vec<Name> {
    [
        (DAV, "resourcetype"),
        (DAV, "displayname"),
        (DAV, "getetag"),
        (DAV, "getcontenttype"),
        (DAV, "getcontentlength"),
        (DAV, "current-user-principal"),
        (DAV, "sync-token"),
        (CS, "getctag"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

/// The prefix we write for a namespace.
fn prefix(ns: &str) -> Option<&'static str> {
    match ns {
        DAV => Some("d"),
        CARD => Some("card"),
        CS => Some("cs"),
        _ => None,
    }
}

/// An empty element for a property we do not have.
fn empty(n: &Name) -> String {
    match prefix(&n.0) {
        Some(p) => format!("<{p}:{}/>", n.1),
        None => format!(
            "<x:{} xmlns:x=\"{}\"/>",
            escape(n.1.as_str()),
            escape(n.0.as_str())
        ),
    }
}

fn token_uri(t: u64) -> String {
    format!("{TOKEN_PREFIX}{t}")
}

/// The value of property `n` of `r`, as the property element, or `None` (404).
fn prop(user: &str, r: &Res, n: &Name) -> Option<String> {
    let (ns, local) = (n.0.as_str(), n.1.as_str());
    let href = |h: String| format!("<d:href>{}</d:href>", escape(h.as_str()));
    let v = match (ns, local, r) {
        (DAV, "resourcetype", Res::Root | Res::Home) => "<d:collection/>".to_owned(),
        (DAV, "resourcetype", Res::Principal) => "<d:principal/><d:collection/>".to_owned(),
        (DAV, "resourcetype", Res::Book(_)) => "<d:collection/><card:addressbook/>".to_owned(),
        (DAV, "resourcetype", Res::Card(_)) => String::new(),
        (DAV, "displayname", Res::Principal) => escape(user).into_owned(),
        (DAV, "displayname", Res::Home) => "Address books".to_owned(),
        (DAV, "displayname", Res::Book(b)) => escape(b.display_name.as_str()).into_owned(),
        (DAV, "current-user-principal", _) => href(principal_href(user)),
        (DAV, "principal-URL", Res::Principal) => href(principal_href(user)),
        (DAV, "owner", Res::Book(_) | Res::Home) => href(principal_href(user)),
        (CARD, "addressbook-home-set", Res::Principal | Res::Root) => href(home_href(user)),
        (DAV, "principal-collection-set", _) => href("/dav/principals/".into()),
        (DAV, "getetag", Res::Card(c)) => escape(format!("\"{}\"", c.etag)).into_owned(),
        (DAV, "getcontenttype", Res::Card(_)) => "text/vcard; charset=utf-8".to_owned(),
        (DAV, "getcontentlength", Res::Card(c)) => c.data.len().to_string(),
        (DAV, "sync-token", Res::Book(b)) => escape(token_uri(b.token)).into_owned(),
        (CS, "getctag", Res::Book(b)) => escape(token_uri(b.token)).into_owned(),
        (CARD, "addressbook-description", Res::Book(b)) => escape(b.description.as_str()).into_owned(),
        (CARD, "supported-address-data", Res::Book(_)) => "<card:address-data-type content-type=\"text/vcard\" version=\"3.0\"/><card:address-data-type content-type=\"text/vcard\" version=\"4.0\"/>".to_owned(),
        (CARD, "max-resource-size", Res::Book(_)) => MAX_CARD.to_string(),
        (DAV, "supported-report-set", Res::Book(_)) => ["d:sync-collection", "card:addressbook-multiget", "card:addressbook-query"]
            .iter()
            .map(|r| format!("<d:supported-report><d:report><{r}/></d:report></d:supported-report>"))
            .collect(),
        (DAV, "current-user-privilege-set", Res::Home | Res::Book(_) | Res::Card(_)) => ["read", "write", "write-properties", "write-content", "bind", "unbind", "read-current-user-privilege-set"]
            .iter()
            .map(|p| format!("<d:privilege><d:{p}/></d:privilege>"))
            .collect(),
        // A CR goes out as a character reference: XML parsers turn a literal CRLF into LF
        // (XML 1.0 section 2.11), and the vCard must reach the client byte for byte.
        (CARD, "address-data", Res::Card(c)) => escape(String::from_utf8_lossy(&c.data).as_ref()).replace('\r', "&#13;"),
        _ => return None,
    };
    let p = prefix(ns)?;
    Some(format!("<{p}:{local}>{v}</{p}:{local}>"))
}

/// One `<d:response>` with the found and missing properties of `r`.
fn response(out: &mut String, user: &str, href: &str, r: &Res, names: &[Name]) {
    let (mut found, mut missing) = (String::new(), String::new());
    for n in names {
        match prop(user, r, n) {
            Some(v) => found.push_str(&v),
            None => missing.push_str(&empty(n)),
        }
    }
    let _ = write!(out, "<d:response><d:href>{}</d:href>", escape(href));
    if !found.is_empty() {
        let _ = write!(
            out,
            "<d:propstat><d:prop>{found}</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>"
        );
    }
    if !missing.is_empty() {
        let _ = write!(
            out,
            "<d:propstat><d:prop>{missing}</d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>"
        );
    }
    out.push_str("</d:response>");
}

fn multistatus(body: &str) -> Answer {
    xml(
        StatusCode::MULTI_STATUS,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:multistatus xmlns:d=\"DAV:\" xmlns:card=\"{CARD}\" xmlns:cs=\"{CS}\">{body}</d:multistatus>\n"
        ),
    )
}

fn store_error(e: StoreError) -> Answer {
    tracing::error!(error = %e, "CardDAV: storage failure");
    plain(StatusCode::INTERNAL_SERVER_ERROR, "storage failure\n")
}

/// The property names of a PROPFIND or REPORT body's `<prop>` (`None`: allprop).
fn prop_names(doc: &roxmltree::Document) -> Option<Vec<Name>> {
    let prop = doc.root_element().children().find(|n| {
        n.is_element() && n.tag_name().name() == "prop" && n.tag_name().namespace() == Some(DAV)
    })?;
    Some(
        prop.children()
            .filter(|n| n.is_element())
            .map(name_of)
            .collect(),
    )
}

fn etag_header(tag: &str) -> String {
    format!("\"{tag}\"")
}

/// `"abc"` or `W/"abc"` → `abc`.
fn unquote(v: &str) -> &str {
    v.trim().trim_start_matches("W/").trim_matches('"')
}

impl CardDav {
    /// Checks the Basic credentials of `req`.
    /// On failure: the answer, and how long to wait before it.
    fn authenticate(
        &self,
        req: &Request<Incoming>,
        peer: &Peer,
    ) -> Result<User, Box<(Answer, Duration)>> {
        let now = |a| Box::new((a, Duration::ZERO));
        let Some(v) = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return Err(now(unauthorized()));
        };
        let Some(b64) = v
            .strip_prefix("Basic ")
            .or_else(|| v.strip_prefix("basic "))
        else {
            return Err(now(unauthorized()));
        };
        let Some((user, password)) = B64
            .decode(b64.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())))
        else {
            return Err(now(plain(
                StatusCode::BAD_REQUEST,
                "malformed Basic credentials\n",
            )));
        };
        let logins = Arc::clone(&self.logins);
        match pochta_net::blocking(|| logins.check(&user, &password, peer.addr.ip(), peer.tls)) {
            Checked::Ok(u) => Ok(u),
            Checked::Failed(delay) => Err(Box::new((unauthorized(), delay))),
            Checked::Throttled(retry) => Err(Box::new((
                with_header(
                    plain(
                        StatusCode::TOO_MANY_REQUESTS,
                        "too many failed logins; try again later\n",
                    ),
                    header::RETRY_AFTER,
                    &retry.as_secs().max(1).to_string(),
                ),
                pochta_auth::flow::THROTTLED_DELAY,
            ))),
            Checked::PlaintextRefused => Err(now(plain(
                StatusCode::FORBIDDEN,
                "passwords are accepted over HTTPS only\n",
            ))),
            Checked::Error(e) => {
                tracing::error!(error = %e, "CardDAV: account lookup failed");
                Err(now(plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "storage failure\n",
                )))
            }
        }
    }

    /// Answers a request under `/dav/` (or a DAV method on `/`).
    pub async fn handle(&self, req: Request<Incoming>, peer: Peer) -> Answer {
        if req.method() == Method::OPTIONS {
            let r = plain(StatusCode::OK, "");
            let r = with_header(
                r,
                header::HeaderName::from_static("dav"),
                "1, 3, addressbook",
            );
            return with_header(
                r,
                header::ALLOW,
                "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, REPORT, MKCOL",
            );
        }
        let user = match self.authenticate(&req, &peer) {
            Ok(u) => {
                if let Some(a) = &peer.admission {
                    a.authenticated();
                }
                u
            }
            Err(refused) => {
                let (r, delay) = *refused;
                // The flow's delay on a failure, before answering (a client that saw the
                // failure at once could retry on a new connection without waiting).
                tokio::time::sleep(delay).await;
                return r;
            }
        };
        let Some(t) = target(req.uri().path()) else {
            return plain(StatusCode::NOT_FOUND, "not found\n");
        };
        let owner = match &t {
            Target::Root => None,
            Target::Principal(a) | Target::Home(a) | Target::Book(a, _) | Target::Card(a, ..) => {
                Some(a.clone())
            }
        };
        if let Some(a) = owner
            && !a.eq_ignore_ascii_case(&user.address)
        {
            return plain(StatusCode::FORBIDDEN, "not yours\n");
        }
        let method = req.method().clone();
        let depth = req
            .headers()
            .get("depth")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| "infinity".into());
        let if_match = req
            .headers()
            .get(header::IF_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(|v| unquote(v).to_owned());
        let if_none_match = req
            .headers()
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim() == "*")
            .unwrap_or(false);
        let body = match Limited::new(req.into_body(), MAX_CARD).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return condition(StatusCode::FORBIDDEN, CARD, "max-resource-size", ""),
        };
        let store = Arc::clone(&self.contacts);
        let u = &user;
        pochta_net::blocking(move || {
            let r = match method.as_str() {
                "PROPFIND" => propfind(&*store, u, &t, &depth, &body),
                "REPORT" => report(&*store, u, &t, &body),
                "GET" | "HEAD" => get(&*store, u, &t),
                "PUT" => put(&*store, u, &t, &body, if_match.as_deref(), if_none_match),
                "DELETE" => delete(&*store, u, &t, if_match.as_deref()),
                "MKCOL" => mkcol(&*store, u, &t, &body),
                "PROPPATCH" => proppatch(&*store, u, &t, &body),
                _ => Ok(plain(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method not allowed\n",
                )),
            };
            r.unwrap_or_else(store_error)
        })
    }
}

type R = Result<Answer, StoreError>;

fn book_of(
    store: &dyn ContactStore,
    u: &User,
    name: &str,
) -> Result<Option<AddressBook>, StoreError> {
    // address_books creates the default book on first use.
    Ok(store
        .address_books(u.account)?
        .into_iter()
        .find(|b| b.name == name))
}

fn propfind(store: &dyn ContactStore, u: &User, t: &Target, depth: &str, body: &[u8]) -> R {
    let text = std::str::from_utf8(body).unwrap_or("");
    let names = if text.trim().is_empty() {
        allprop()
    } else {
        let Ok(doc) = roxmltree::Document::parse(text) else {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                "the PROPFIND body is not XML\n",
            ));
        };
        prop_names(&doc).unwrap_or_else(allprop)
    };
    let deep = depth != "0";
    let a = u.address.as_str();
    let mut out = String::new();
    match t {
        Target::Root => {
            response(&mut out, a, "/dav/", &Res::Root, &names);
            if deep {
                response(&mut out, a, &principal_href(a), &Res::Principal, &names);
            }
        }
        Target::Principal(_) => response(&mut out, a, &principal_href(a), &Res::Principal, &names),
        Target::Home(_) => {
            response(&mut out, a, &home_href(a), &Res::Home, &names);
            if deep {
                for b in store.address_books(u.account)? {
                    response(&mut out, a, &book_href(a, &b.name), &Res::Book(&b), &names);
                }
            }
        }
        Target::Book(_, name) => {
            let Some(b) = book_of(store, u, name)? else {
                return Ok(plain(StatusCode::NOT_FOUND, "no such address book\n"));
            };
            let href = book_href(a, &b.name);
            response(&mut out, a, &href, &Res::Book(&b), &names);
            if deep {
                for c in store.contacts(b.id)? {
                    response(
                        &mut out,
                        a,
                        &format!("{href}{}", c.name),
                        &Res::Card(&c),
                        &names,
                    );
                }
            }
        }
        Target::Card(_, book, name) => {
            let Some(b) = book_of(store, u, book)? else {
                return Ok(plain(StatusCode::NOT_FOUND, "no such address book\n"));
            };
            let Some(c) = store.contact(b.id, name)? else {
                return Ok(plain(StatusCode::NOT_FOUND, "no such contact\n"));
            };
            response(
                &mut out,
                a,
                &format!("{}{}", book_href(a, &b.name), c.name),
                &Res::Card(&c),
                &names,
            );
        }
    }
    Ok(multistatus(&out))
}

fn report(store: &dyn ContactStore, u: &User, t: &Target, body: &[u8]) -> R {
    let Target::Book(_, name) = t else {
        return Ok(plain(
            StatusCode::FORBIDDEN,
            "REPORT applies to an address book\n",
        ));
    };
    let Some(b) = book_of(store, u, name)? else {
        return Ok(plain(StatusCode::NOT_FOUND, "no such address book\n"));
    };
    let text = std::str::from_utf8(body).unwrap_or("");
    let Ok(doc) = roxmltree::Document::parse(text) else {
        return Ok(plain(
            StatusCode::BAD_REQUEST,
            "the REPORT body is not XML\n",
        ));
    };
    let root = doc.root_element();
    let names = prop_names(&doc).unwrap_or_else(|| vec![(DAV.into(), "getetag".into())]);
    let a = u.address.as_str();
    let href = book_href(a, &b.name);
    let mut out = String::new();
    match (root.tag_name().namespace(), root.tag_name().name()) {
        (Some(DAV), "sync-collection") => {
            let given = root
                .children()
                .find(|n| n.has_tag_name((DAV, "sync-token")))
                .and_then(|n| n.text())
                .unwrap_or("")
                .trim();
            let since = if given.is_empty() {
                Some(0)
            } else {
                given
                    .strip_prefix(TOKEN_PREFIX)
                    .and_then(|n| n.parse::<u64>().ok())
            };
            let Some(changes) = since
                .map(|s| store.changes_since(b.id, s))
                .transpose()?
                .flatten()
            else {
                return Ok(condition(
                    StatusCode::FORBIDDEN,
                    DAV,
                    "valid-sync-token",
                    "",
                ));
            };
            for c in &changes.changed {
                response(
                    &mut out,
                    a,
                    &format!("{href}{}", c.name),
                    &Res::Card(c),
                    &names,
                );
            }
            for d in &changes.deleted {
                let _ = write!(
                    out,
                    "<d:response><d:href>{}</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>",
                    escape(format!("{href}{d}"))
                );
            }
            let _ = write!(
                out,
                "<d:sync-token>{}</d:sync-token>",
                escape(token_uri(changes.token))
            );
        }
        (Some(CARD), "addressbook-multiget") => {
            for h in root.children().filter(|n| n.has_tag_name((DAV, "href"))) {
                let h = h.text().unwrap_or("").trim();
                // An absolute URL or a path; the contact is the last segment under this book.
                let path = h.find("/dav/").map_or(h, |i| &h[i..]);
                let card = path
                    .strip_prefix(href.as_str())
                    .filter(|n| !n.contains('/'));
                match card.map(|n| store.contact(b.id, n)).transpose()?.flatten() {
                    Some(c) => response(&mut out, a, path, &Res::Card(&c), &names),
                    None => {
                        let _ = write!(
                            out,
                            "<d:response><d:href>{}</d:href><d:status>HTTP/1.1 404 Not Found</d:status></d:response>",
                            escape(h)
                        );
                    }
                }
            }
        }
        (Some(CARD), "addressbook-query") => {
            let filter = root
                .children()
                .find(|n| n.has_tag_name((CARD, "filter")))
                .map(parse_filter)
                .unwrap_or_default();
            let limit = root
                .descendants()
                .find(|n| n.has_tag_name((CARD, "nresults")))
                .and_then(|n| n.text())
                .and_then(|t| t.trim().parse::<usize>().ok());
            let mut n = 0;
            for c in store.contacts(b.id)? {
                let text = String::from_utf8_lossy(&c.data);
                if !filter.matches(&vcard::lines(&text)) {
                    continue;
                }
                if limit.is_some_and(|l| n >= l) {
                    // RFC 6352 §8.6.1: a truncated answer says so for the collection.
                    let _ = write!(
                        out,
                        "<d:response><d:href>{}</d:href><d:status>HTTP/1.1 507 Insufficient Storage</d:status></d:response>",
                        escape(href.as_str())
                    );
                    break;
                }
                n += 1;
                response(
                    &mut out,
                    a,
                    &format!("{href}{}", c.name),
                    &Res::Card(&c),
                    &names,
                );
            }
        }
        _ => {
            return Ok(condition(
                StatusCode::FORBIDDEN,
                DAV,
                "supported-report",
                "",
            ));
        }
    }
    Ok(multistatus(&out))
}

fn text_match(n: roxmltree::Node) -> vcard::TextMatch {
    vcard::TextMatch {
        text: n.text().unwrap_or("").to_owned(),
        casemap: n.attribute("collation") != Some("i;octet"),
        match_type: n.attribute("match-type").unwrap_or("contains").to_owned(),
        negate: n.attribute("negate-condition") == Some("yes"),
    }
}

fn parse_filter(f: roxmltree::Node) -> vcard::Filter {
    let all_of = |n: roxmltree::Node| n.attribute("test") == Some("allof");
    let props = f
        .children()
        .filter(|n| n.has_tag_name((CARD, "prop-filter")))
        .map(|p| vcard::PropFilter {
            name: p.attribute("name").unwrap_or("").to_owned(),
            all_of: all_of(p),
            is_not_defined: p
                .children()
                .any(|n| n.has_tag_name((CARD, "is-not-defined"))),
            texts: p
                .children()
                .filter(|n| n.has_tag_name((CARD, "text-match")))
                .map(text_match)
                .collect(),
            params: p
                .children()
                .filter(|n| n.has_tag_name((CARD, "param-filter")))
                .map(|q| vcard::ParamFilter {
                    name: q.attribute("name").unwrap_or("").to_owned(),
                    is_not_defined: q
                        .children()
                        .any(|n| n.has_tag_name((CARD, "is-not-defined"))),
                    text: q
                        .children()
                        .find(|n| n.has_tag_name((CARD, "text-match")))
                        .map(text_match),
                })
                .collect(),
        })
        .collect();
    vcard::Filter {
        all_of: all_of(f),
        props,
    }
}

fn get(store: &dyn ContactStore, u: &User, t: &Target) -> R {
    match t {
        Target::Card(_, book, name) => {
            let Some(b) = book_of(store, u, book)? else {
                return Ok(plain(StatusCode::NOT_FOUND, "no such address book\n"));
            };
            let Some(c) = store.contact(b.id, name)? else {
                return Ok(plain(StatusCode::NOT_FOUND, "no such contact\n"));
            };
            let r = answer(StatusCode::OK, "text/vcard; charset=utf-8", c.data);
            Ok(with_header(r, header::ETAG, &etag_header(&c.etag)))
        }
        // The whole book as one vCard file (an export).
        Target::Book(_, book) => {
            let Some(b) = book_of(store, u, book)? else {
                return Ok(plain(StatusCode::NOT_FOUND, "no such address book\n"));
            };
            let mut all = Vec::new();
            for c in store.contacts(b.id)? {
                all.extend_from_slice(&c.data);
                if !c.data.ends_with(b"\n") {
                    all.extend_from_slice(b"\r\n");
                }
            }
            Ok(answer(StatusCode::OK, "text/vcard; charset=utf-8", all))
        }
        _ => Ok(plain(StatusCode::OK, "Pochta CardDAV\n")),
    }
}

fn put(
    store: &dyn ContactStore,
    u: &User,
    t: &Target,
    body: &[u8],
    if_match: Option<&str>,
    if_none_match: bool,
) -> R {
    let Target::Card(_, book, name) = t else {
        return Ok(plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "PUT a contact into an address book\n",
        ));
    };
    let Some(b) = book_of(store, u, book)? else {
        return Ok(plain(StatusCode::CONFLICT, "no such address book\n"));
    };
    let uid = match vcard::check(body) {
        Ok(uid) => uid,
        Err(why) => {
            tracing::debug!(%why, "CardDAV: PUT refused");
            return Ok(condition(
                StatusCode::FORBIDDEN,
                CARD,
                "valid-address-data",
                "",
            ));
        }
    };
    if let Some(uid) = uid {
        for other in store.contacts(b.id)? {
            // Parse only the cards whose bytes contain the UID at all.
            if other.name != *name
                && other.data.windows(uid.len()).any(|w| w == uid.as_bytes())
                && vcard::check(&other.data).ok().flatten().as_deref() == Some(uid.as_str())
            {
                let href = format!(
                    "<d:href>{}</d:href>",
                    escape(format!("{}{}", book_href(&u.address, &b.name), other.name))
                );
                return Ok(condition(
                    StatusCode::CONFLICT,
                    CARD,
                    "no-uid-conflict",
                    &href,
                ));
            }
        }
    }
    let current;
    let pre = match (if_match, if_none_match) {
        (_, true) => Precondition::IfNoneMatch,
        (Some("*"), _) => {
            current = store.contact(b.id, name)?.map(|c| c.etag);
            match &current {
                Some(tag) => Precondition::IfMatch(tag),
                None => return Ok(plain(StatusCode::PRECONDITION_FAILED, "no such contact\n")),
            }
        }
        (Some(tag), _) => Precondition::IfMatch(tag),
        (None, false) => Precondition::None,
    };
    Ok(match store.put_contact(b.id, name, body, pre)? {
        Put::Created { etag } => with_header(
            plain(StatusCode::CREATED, ""),
            header::ETAG,
            &etag_header(&etag),
        ),
        Put::Replaced { etag } => with_header(
            plain(StatusCode::NO_CONTENT, ""),
            header::ETAG,
            &etag_header(&etag),
        ),
        Put::PreconditionFailed => {
            plain(StatusCode::PRECONDITION_FAILED, "the contact has changed\n")
        }
    })
}

fn delete(store: &dyn ContactStore, u: &User, t: &Target, if_match: Option<&str>) -> R {
    match t {
        Target::Card(_, book, name) => {
            let Some(b) = book_of(store, u, book)? else {
                return Ok(plain(StatusCode::NOT_FOUND, "no such address book\n"));
            };
            let pre = match if_match {
                Some("*") | None => Precondition::None,
                Some(tag) => Precondition::IfMatch(tag),
            };
            if store.delete_contact(b.id, name, pre)? {
                return Ok(plain(StatusCode::NO_CONTENT, ""));
            }
            Ok(match store.contact(b.id, name)? {
                Some(_) => plain(StatusCode::PRECONDITION_FAILED, "the contact has changed\n"),
                None => plain(StatusCode::NOT_FOUND, "no such contact\n"),
            })
        }
        Target::Book(_, book) => match store.delete_address_book(u.account, book) {
            Ok(()) => Ok(plain(StatusCode::NO_CONTENT, "")),
            Err(StoreError::NotFound(_)) => {
                Ok(plain(StatusCode::NOT_FOUND, "no such address book\n"))
            }
            Err(e) => Err(e),
        },
        _ => Ok(plain(StatusCode::FORBIDDEN, "cannot delete this\n")),
    }
}

/// PROPPATCH (RFC 4918 §9.2) of a book: `displayname` and `addressbook-description` may be
/// set or removed (emptied); any other property is 403 and then, the request being atomic,
/// nothing is changed and the others are 424.
fn proppatch(store: &dyn ContactStore, u: &User, t: &Target, body: &[u8]) -> R {
    let Target::Book(_, name) = t else {
        return Ok(plain(
            StatusCode::FORBIDDEN,
            "only address books have writable properties\n",
        ));
    };
    let Some(b) = book_of(store, u, name)? else {
        return Ok(plain(StatusCode::NOT_FOUND, "no such address book\n"));
    };
    let text = std::str::from_utf8(body).unwrap_or("");
    let Ok(doc) = roxmltree::Document::parse(text) else {
        return Ok(plain(
            StatusCode::BAD_REQUEST,
            "the PROPPATCH body is not XML\n",
        ));
    };
    let (mut display, mut description) = (None, None);
    let (mut ok, mut refused) = (Vec::new(), Vec::new());
    for op in doc.root_element().children().filter(|n| n.is_element()) {
        let set = op.has_tag_name((DAV, "set"));
        let props = op
            .children()
            .filter(|n| n.has_tag_name((DAV, "prop")))
            .flat_map(|p| p.children().filter(|n| n.is_element()));
        for p in props {
            let value = if set {
                p.descendants()
                    .filter(|n| n.is_text())
                    .filter_map(|n| n.text())
                    .collect()
            } else {
                String::new()
            };
            let n = name_of(p);
            match (n.0.as_str(), n.1.as_str()) {
                (DAV, "displayname") => display = Some(value),
                (CARD, "addressbook-description") => description = Some(value),
                _ => {
                    refused.push(n);
                    continue;
                }
            }
            ok.push(n);
        }
    }
    let href = book_href(&u.address, &b.name);
    let propstat = |names: &[Name], status: &str| {
        let props: String = names.iter().map(empty).collect();
        format!(
            "<d:propstat><d:prop>{props}</d:prop><d:status>HTTP/1.1 {status}</d:status></d:propstat>"
        )
    };
    let mut out = format!("<d:response><d:href>{}</d:href>", escape(href.as_str()));
    if refused.is_empty() {
        store.update_address_book(
            u.account,
            &b.name,
            display.as_deref(),
            description.as_deref(),
        )?;
        out.push_str(&propstat(&ok, "200 OK"));
    } else {
        out.push_str(&propstat(&refused, "403 Forbidden"));
        if !ok.is_empty() {
            out.push_str(&propstat(&ok, "424 Failed Dependency"));
        }
    }
    out.push_str("</d:response>");
    Ok(multistatus(&out))
}

/// MKCOL (RFC 4918 §9.3, extended by RFC 5689 as RFC 6352 §6.3.1 uses it).
fn mkcol(store: &dyn ContactStore, u: &User, t: &Target, body: &[u8]) -> R {
    let Target::Book(_, name) = t else {
        return Ok(plain(
            StatusCode::FORBIDDEN,
            "address books are created in the home collection\n",
        ));
    };
    let (mut display, mut description) = (name.clone(), String::new());
    let text = std::str::from_utf8(body).unwrap_or("");
    if !text.trim().is_empty() {
        let Ok(doc) = roxmltree::Document::parse(text) else {
            return Ok(plain(
                StatusCode::BAD_REQUEST,
                "the MKCOL body is not XML\n",
            ));
        };
        if let Some(rt) = doc
            .descendants()
            .find(|n| n.has_tag_name((DAV, "resourcetype")))
            && !rt.children().any(|n| n.has_tag_name((CARD, "addressbook")))
        {
            return Ok(condition(
                StatusCode::FORBIDDEN,
                DAV,
                "valid-resourcetype",
                "",
            ));
        }
        if let Some(d) = doc
            .descendants()
            .find(|n| n.has_tag_name((DAV, "displayname")))
        {
            display = d.text().unwrap_or("").to_owned();
        }
        if let Some(d) = doc
            .descendants()
            .find(|n| n.has_tag_name((CARD, "addressbook-description")))
        {
            description = d.text().unwrap_or("").to_owned();
        }
    }
    store.address_books(u.account)?;
    match store.create_address_book(u.account, name, &display, &description) {
        Ok(_) => Ok(plain(StatusCode::CREATED, "")),
        Err(StoreError::AlreadyExists(_)) => {
            Ok(plain(StatusCode::METHOD_NOT_ALLOWED, "it exists already\n"))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_targets() {
        assert_eq!(target("/dav/"), Some(Target::Root));
        assert_eq!(
            target("/dav/principals/a@b.c/"),
            Some(Target::Principal("a@b.c".into()))
        );
        assert_eq!(
            target("/dav/addressbooks/a%40b.c/"),
            Some(Target::Home("a@b.c".into()))
        );
        assert_eq!(
            target("/dav/addressbooks/a@b.c/default/x.vcf"),
            Some(Target::Card(
                "a@b.c".into(),
                "default".into(),
                "x.vcf".into()
            ))
        );
        assert_eq!(target("/dav/addressbooks/a/b/c/d"), None);
        assert_eq!(target("/other"), None);
    }
}
