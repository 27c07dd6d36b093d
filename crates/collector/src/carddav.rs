//! Contacts from another provider over CardDAV: discovery and a pull into local address books.
//!
//! Implementation notes:
//! - The HTTP client is hyper's (HTTP/1.1, one connection per request) over
//!   `pochta_net::connect::ClientStream`, so certificates are checked like the mail sources'
//!   (`--insecure` accepts a self-signed one); Basic credentials; at most 5 redirects; answers
//!   of at most 64 MiB; every request under a 60 s deadline.
//! - Discovery (RFC 6764 §6, RFC 5397, RFC 6352 §7.1.1): PROPFIND `current-user-principal` at
//!   the given URL (at `/.well-known/carddav` when the URL has no path), then the principal's
//!   `addressbook-home-set`, then the home's members whose `resourcetype` is an address
//!   book. A URL that is itself an address book is used as it is.
//! - Each remote book is pulled into the local book of the same name (created if missing;
//!   the remote's only book, or one named `default`, goes to `default`): every remote vCard is
//!   fetched (`addressbook-multiget`, 100 at a time) and stored under the remote's resource
//!   name, as served (line ends restored to CRLF when the XML carried them as bare LF),
//!   when its bytes differ from the local copy. Running it again
//!   brings changes and additions; deletions at the source are not applied, so a contact
//!   added locally is never lost.
//! - **Kept in sync** ([`sync`], a collector source's `--contacts URL`, run after each pass):
//!   the same discovery and book mapping, then per remote book a `sync-collection` REPORT
//!   (RFC 6578 §3.2, Depth 0) from the token of the last sync, which lists what changed and
//!   what was removed; when the server does not offer it (or refuses the token, §3.2's
//!   `valid-sync-token`) a full `PROPFIND` of the members' `getetag` is compared with the
//!   ETags remembered from the last sync. Added and changed cards are fetched (multiget) and
//!   stored; a card removed at the source is deleted here only if its local copy is still
//!   the one the sync stored (`If-Match` on the local ETag), so an edit made in Pochta
//!   survives (the card is then no longer tracked). The state (remote book → local book,
//!   token, per card the remote path, remote ETag and local ETag) is JSON kept in the
//!   collector store ([`pochta_store::collector::ContactsSync`]).
//! - Host names resolve through the server's resolver ([`crate::conn::resolve_host`]); RFC
//!   6764 discovery of the URL ([`discover_url`]) asks it for `_carddavs._tcp` and
//!   `_carddav._tcp` SRV records, then tries `https://DOMAIN/.well-known/carddav`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use pochta_net::connect::{ClientStream, ConnectError};
use pochta_store::StoreError;
use pochta_store::contacts::{AddressBook, ContactStore, DEFAULT_BOOK, Precondition, Put};
use pochta_types::AccountId;
use serde::{Deserialize, Serialize};

const DAV: &str = "DAV:";
const CARD: &str = "urn:ietf:params:xml:ns:carddav";
const MAX_ANSWER: usize = 64 * 1024 * 1024;
const DEADLINE: Duration = Duration::from_secs(60);

/// Why a pull failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0:?} is not an http:// or https:// URL")]
    BadUrl(String),
    #[error("connect: {0}")]
    Connect(#[from] ConnectError),
    #[error("HTTP: {0}")]
    Http(String),
    #[error("{method} {url}: HTTP {status}")]
    Status {
        method: String,
        url: String,
        status: u16,
    },
    #[error("the answer is not WebDAV XML: {0}")]
    Xml(String),
    #[error("no address book found at {0}")]
    NoBooks(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The source: a URL and Basic credentials.
#[derive(Debug, Clone)]
pub struct Remote {
    pub url: String,
    pub user: String,
    pub password: String,
    /// Accept any certificate (self-signed remote); still encrypted.
    pub insecure: bool,
}

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub books: usize,
    pub fetched: usize,
    pub stored: usize,
}

struct Client {
    https: bool,
    host: String,
    port: u16,
    auth: String,
    insecure: bool,
}

impl Client {
    fn new(remote: &Remote) -> Result<(Client, String), Error> {
        let bad = || Error::BadUrl(remote.url.clone());
        let uri: Uri = remote.url.parse().map_err(|_| bad())?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad()),
        };
        let host = uri
            .host()
            .ok_or_else(bad)?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", remote.user, remote.password));
        let path = match uri.path() {
            "" | "/" => "/.well-known/carddav".to_owned(),
            p => p.to_owned(),
        };
        Ok((
            Client {
                https,
                host,
                port,
                auth: format!("Basic {auth}"),
                insecure: remote.insecure,
            },
            path,
        ))
    }

    /// One request on a new connection, following redirects; returns (final path, body).
    async fn send(
        &self,
        method: &str,
        path: &str,
        depth: &str,
        body: &str,
    ) -> Result<(String, String), Error> {
        let mut path = path.to_owned();
        for _ in 0..5 {
            let (status, location, text) =
                tokio::time::timeout(DEADLINE, self.once(method, &path, depth, body))
                    .await
                    .map_err(|_| {
                        Error::Http(format!("{method} {path}: no answer within {DEADLINE:?}"))
                    })??;
            match (status, location) {
                (301 | 302 | 303 | 307 | 308, Some(loc)) => {
                    path = match loc.parse::<Uri>() {
                        Ok(u) if u.host().is_some() => u.path().to_owned(),
                        _ => loc,
                    };
                }
                (200..=299, _) => return Ok((path, text)),
                (status, _) => {
                    return Err(Error::Status {
                        method: method.into(),
                        url: path,
                        status,
                    });
                }
            }
        }
        Err(Error::Http(format!("too many redirects from {path}")))
    }

    async fn once(
        &self,
        method: &str,
        path: &str,
        depth: &str,
        body: &str,
    ) -> Result<(u16, Option<String>, String), Error> {
        let addrs = crate::conn::resolve_host(&self.host)
            .await
            .map_err(|e| Error::Http(e.to_string()))?;
        let mut stream = ClientStream::connect_addrs(&addrs, self.port).await?;
        if self.https {
            stream.upgrade(&self.host, self.insecure).await?;
        }
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Error::Http(e.to_string()))?;
        let driver = tokio::spawn(conn);
        let req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).map_err(|e| Error::Http(e.to_string()))?)
            .uri(path)
            .header(
                header::HOST,
                HeaderValue::from_str(&self.host).map_err(|e| Error::Http(e.to_string()))?,
            )
            .header(
                header::AUTHORIZATION,
                HeaderValue::from_str(&self.auth).map_err(|e| Error::Http(e.to_string()))?,
            )
            .header("depth", depth)
            .header(header::CONTENT_TYPE, "application/xml; charset=utf-8")
            .body(Full::new(Bytes::from(body.to_owned())))
            .map_err(|e| Error::Http(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| Error::Http(e.to_string()))?;
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| Error::Http(e.to_string()))?
            .to_bytes();
        driver.abort();
        Ok((
            status,
            location,
            String::from_utf8_lossy(&bytes).into_owned(),
        ))
    }

    async fn propfind(
        &self,
        path: &str,
        depth: &str,
        props: &str,
    ) -> Result<(String, String), Error> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:propfind xmlns:d=\"DAV:\" xmlns:card=\"{CARD}\"><d:prop>{props}</d:prop></d:propfind>"
        );
        self.send("PROPFIND", path, depth, &body).await
    }
}

/// The text of the first `ns:name` element's first `href` inside `node`.
fn href_in(node: roxmltree::Node, ns: &str, name: &str) -> Option<String> {
    node.descendants()
        .find(|n| n.has_tag_name((ns, name)))?
        .descendants()
        .find(|n| n.has_tag_name((DAV, "href")))?
        .text()
        .map(|t| t.trim().to_owned())
}

fn path_of(href: &str) -> String {
    match href.parse::<Uri>() {
        Ok(u) if u.host().is_some() => u.path().to_owned(),
        _ => href.to_owned(),
    }
}

/// The remote address books: (path, last segment).
async fn discover(c: &Client, start: &str) -> Result<Vec<String>, Error> {
    let (at, xml) = c
        .propfind(start, "0", "<d:current-user-principal/><d:resourcetype/>")
        .await?;
    let doc = roxmltree::Document::parse(&xml).map_err(|e| Error::Xml(e.to_string()))?;
    if doc
        .descendants()
        .any(|n| n.has_tag_name((CARD, "addressbook")))
    {
        return Ok(vec![at]);
    }
    let principal = href_in(doc.root_element(), DAV, "current-user-principal")
        .map(|h| path_of(&h))
        .ok_or_else(|| Error::NoBooks(at.clone()))?;
    let (_, xml) = c
        .propfind(&principal, "0", "<card:addressbook-home-set/>")
        .await?;
    let doc = roxmltree::Document::parse(&xml).map_err(|e| Error::Xml(e.to_string()))?;
    let home = href_in(doc.root_element(), CARD, "addressbook-home-set")
        .map(|h| path_of(&h))
        .ok_or_else(|| Error::NoBooks(principal.clone()))?;
    let (_, xml) = c.propfind(&home, "1", "<d:resourcetype/>").await?;
    let doc = roxmltree::Document::parse(&xml).map_err(|e| Error::Xml(e.to_string()))?;
    let books: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name((DAV, "response")))
        .filter(|r| {
            r.descendants()
                .any(|n| n.has_tag_name((CARD, "addressbook")))
        })
        .filter_map(|r| {
            r.children()
                .find(|n| n.has_tag_name((DAV, "href")))
                .and_then(|n| n.text())
                .map(|h| path_of(h.trim()))
        })
        .collect();
    if books.is_empty() {
        return Err(Error::NoBooks(home));
    }
    Ok(books)
}

fn last_segment(path: &str) -> String {
    path.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_owned()
}

/// The local book a remote book goes to (see the module notes), created if missing.
fn local_book(
    contacts: &dyn ContactStore,
    account: AccountId,
    book: &str,
    only_one: bool,
) -> Result<AddressBook, Error> {
    let remote_name = last_segment(book);
    let local_name = if only_one || remote_name == DEFAULT_BOOK || remote_name.is_empty() {
        DEFAULT_BOOK.to_owned()
    } else {
        remote_name.clone()
    };
    let existing = contacts.address_books(account)?;
    Ok(match existing.into_iter().find(|b| b.name == local_name) {
        Some(b) => b,
        None => contacts.create_address_book(account, &local_name, &remote_name, "")?,
    })
}

/// The `href` of a `DAV:response`, as a path.
fn response_href(r: roxmltree::Node) -> Option<String> {
    r.children()
        .find(|n| n.has_tag_name((DAV, "href")))
        .and_then(|n| n.text())
        .map(|h| path_of(h.trim()))
}

fn etag_in(r: roxmltree::Node) -> Option<String> {
    r.descendants()
        .find(|n| n.has_tag_name((DAV, "getetag")))
        .and_then(|n| n.text())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// One fetched card: (path, remote ETag, vCard).
type Fetched = (String, Option<String>, String);

/// The cards at `hrefs` of `book`, by `addressbook-multiget` (RFC 6352 §8.7), 100 at a time.
async fn multiget(client: &Client, book: &str, hrefs: &[String]) -> Result<Vec<Fetched>, Error> {
    let mut out = Vec::new();
    for chunk in hrefs.chunks(100) {
        let hrefs: String = chunk
            .iter()
            .map(|h| format!("<d:href>{}</d:href>", quick_xml::escape::escape(h.as_str())))
            .collect();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<card:addressbook-multiget xmlns:d=\"DAV:\" xmlns:card=\"{CARD}\"><d:prop><d:getetag/><card:address-data/></d:prop>{hrefs}</card:addressbook-multiget>"
        );
        let (_, xml) = client.send("REPORT", book, "1", &body).await?;
        let doc = roxmltree::Document::parse(&xml).map_err(|e| Error::Xml(e.to_string()))?;
        for r in doc
            .descendants()
            .filter(|n| n.has_tag_name((DAV, "response")))
        {
            let Some(href) = response_href(r) else {
                continue;
            };
            let Some(data) = r
                .descendants()
                .find(|n| n.has_tag_name((CARD, "address-data")))
            else {
                continue;
            };
            let data: String = data
                .descendants()
                .filter(|n| n.is_text())
                .filter_map(|n| n.text())
                .collect();
            if data.trim().is_empty() {
                continue;
            }
            // An XML parser reads a literal CRLF as LF (XML 1.0 section 2.11); a server that
            // did not send its CRs as `&#13;` lost them on the way: vCard lines end in
            // CRLF (RFC 6350 section 3.2), so they are put back.
            let data = if data.contains('\r') {
                data
            } else {
                data.replace('\n', "\r\n")
            };
            out.push((href, etag_in(r), data));
        }
    }
    Ok(out)
}

/// The members of a book with their ETags, by PROPFIND (Depth 1).
async fn members(client: &Client, book: &str) -> Result<Vec<(String, Option<String>)>, Error> {
    let (_, xml) = client
        .propfind(book, "1", "<d:getetag/><d:resourcetype/>")
        .await?;
    let doc = roxmltree::Document::parse(&xml).map_err(|e| Error::Xml(e.to_string()))?;
    Ok(doc
        .descendants()
        .filter(|n| n.has_tag_name((DAV, "response")))
        .filter(|r| !r.descendants().any(|n| n.has_tag_name((DAV, "collection"))))
        .filter_map(|r| Some((response_href(r)?, etag_in(r))))
        .filter(|(h, _)| !h.ends_with('/'))
        .collect())
}

/// What a listing of a book says.
struct Listing {
    /// Every member (a full listing) or the changed ones (incremental), with ETags.
    present: Vec<(String, Option<String>)>,
    /// Removed since the token (incremental only).
    removed: Vec<String>,
    /// A full listing: what is not in `present` is gone.
    full: bool,
    token: Option<String>,
}

/// `sync-collection` (RFC 6578 §3.2) from `token` (`None`: the initial, full listing).
async fn sync_collection(
    client: &Client,
    book: &str,
    token: Option<&str>,
) -> Result<Listing, Error> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:sync-collection xmlns:d=\"DAV:\"><d:sync-token>{}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>",
        quick_xml::escape::escape(token.unwrap_or(""))
    );
    let (_, xml) = client.send("REPORT", book, "0", &body).await?;
    let doc = roxmltree::Document::parse(&xml).map_err(|e| Error::Xml(e.to_string()))?;
    let root = doc.root_element();
    if !root.has_tag_name((DAV, "multistatus")) {
        return Err(Error::Xml("sync-collection: no multistatus".into()));
    }
    let new_token = root
        .children()
        .find(|n| n.has_tag_name((DAV, "sync-token")))
        .and_then(|n| n.text())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Error::Xml("sync-collection: no sync-token".into()))?;
    let book_path = book.trim_end_matches('/');
    let mut present = Vec::new();
    let mut removed = Vec::new();
    for r in root
        .children()
        .filter(|n| n.has_tag_name((DAV, "response")))
    {
        let Some(href) = response_href(r) else {
            continue;
        };
        if href.trim_end_matches('/') == book_path || href.ends_with('/') {
            continue;
        }
        // A removed member: `DAV:status` 404 directly in the response (RFC 6578 §3.5.2).
        let gone = r
            .children()
            .find(|n| n.has_tag_name((DAV, "status")))
            .and_then(|n| n.text())
            .is_some_and(|t| t.contains(" 404"));
        if gone {
            removed.push(href);
        } else {
            present.push((href, etag_in(r)));
        }
    }
    Ok(Listing {
        present,
        removed,
        full: token.is_none(),
        token: Some(new_token),
    })
}

/// The collector's memory of a contacts sync (JSON in `ContactsSync::state`).
#[derive(Debug, Default, Serialize, Deserialize)]
struct SyncState {
    /// Remote book path → its state.
    books: BTreeMap<String, BookState>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct BookState {
    token: Option<String>,
    /// Remote card path → what was stored for it.
    cards: BTreeMap<String, CardState>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CardState {
    /// The local contact's name.
    name: String,
    /// The remote ETag when it was fetched.
    etag: Option<String>,
    /// The local ETag of what was stored.
    local_etag: String,
}

/// What one sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub books: usize,
    /// Cards stored because they were new or changed at the source.
    pub stored: usize,
    /// Cards deleted here because they were removed at the source.
    pub deleted: usize,
    /// Books listed incrementally with `sync-collection` (the others by ETag comparison).
    pub incremental: usize,
}

/// Brings `account`'s books in line with `remote`'s: additions, changes and deletions (see
/// the module notes). `state` is what the last sync returned (`""` the first time); returns
/// the report and the new state, to be stored whatever happens next.
pub async fn sync(
    contacts: Arc<dyn ContactStore>,
    account: AccountId,
    remote: &Remote,
    state: &str,
) -> Result<(SyncReport, String), Error> {
    let mut st: SyncState = if state.trim().is_empty() {
        SyncState::default()
    } else {
        serde_json::from_str(state).unwrap_or_default()
    };
    let (client, start) = Client::new(remote)?;
    let books = discover(&client, &start).await?;
    let mut report = SyncReport::default();
    let only_one = books.len() == 1;
    // A book gone at the source is forgotten (its contacts stay: the book may be in use).
    st.books.retain(|b, _| books.contains(b));
    for book in &books {
        let local = local_book(contacts.as_ref(), account, book, only_one)?;
        let bs = st.books.entry(book.clone()).or_default();
        report.books += 1;
        let listing = match sync_collection(&client, book, bs.token.as_deref()).await {
            Ok(l) => Some(l),
            // The token is no longer valid (RFC 6578 §3.2): start over with a full listing.
            Err(_) if bs.token.is_some() => sync_collection(&client, book, None).await.ok(),
            Err(_) => None,
        };
        let listing = match listing {
            Some(l) => {
                report.incremental += 1;
                l
            }
            None => Listing {
                present: members(&client, book).await?,
                removed: Vec::new(),
                full: true,
                token: None,
            },
        };
        let mut gone: Vec<String> = listing.removed.clone();
        if listing.full {
            gone.extend(
                bs.cards
                    .keys()
                    .filter(|k| !listing.present.iter().any(|(h, _)| h == *k))
                    .cloned(),
            );
        }
        let wanted: Vec<String> = listing
            .present
            .iter()
            .filter(|(href, etag)| match (bs.cards.get(href), etag) {
                (Some(known), Some(e)) => known.etag.as_deref() != Some(e.as_str()),
                _ => true,
            })
            .map(|(h, _)| h.clone())
            .collect();
        for (href, etag, data) in multiget(&client, book, &wanted).await? {
            let name = last_segment(&href);
            let etag = etag.or_else(|| {
                listing
                    .present
                    .iter()
                    .find(|(h, _)| *h == href)
                    .and_then(|(_, e)| e.clone())
            });
            let current = contacts.contact(local.id, &name)?;
            let local_etag = match current {
                Some(c) if c.data == data.as_bytes() => c.etag,
                _ => {
                    report.stored += 1;
                    match contacts.put_contact(
                        local.id,
                        &name,
                        data.as_bytes(),
                        Precondition::None,
                    )? {
                        Put::Created { etag } | Put::Replaced { etag } => etag,
                        Put::PreconditionFailed => continue,
                    }
                }
            };
            bs.cards.insert(
                href,
                CardState {
                    name,
                    etag,
                    local_etag,
                },
            );
        }
        for href in gone {
            if let Some(card) = bs.cards.remove(&href)
                && contacts.delete_contact(
                    local.id,
                    &card.name,
                    Precondition::IfMatch(&card.local_etag),
                )?
            {
                report.deleted += 1;
            }
        }
        bs.token = listing.token;
    }
    let state = serde_json::to_string(&st).map_err(|e| Error::Xml(e.to_string()))?;
    Ok((report, state))
}

/// Finds a CardDAV URL for `domain` by RFC 6764 (§3 SRV `_carddavs._tcp`, then
/// `_carddav._tcp`; §5 `https://DOMAIN/.well-known/carddav`), through the server's resolver;
/// a candidate counts only if the credentials find an address book there. Returns the URL
/// and how it was found.
pub async fn discover_url(
    dns: &pochta_dns::Dns,
    domain: &str,
    user: &str,
    password: &str,
    insecure: bool,
) -> Option<(String, String)> {
    let mut candidates = Vec::new();
    for (service, scheme) in [("_carddavs._tcp", "https"), ("_carddav._tcp", "http")] {
        let name = format!("{service}.{domain}");
        if let Ok(mut srv) = dns.srv(&name).await {
            srv.sort_by_key(|s| (s.priority, std::cmp::Reverse(s.weight)));
            for s in srv.into_iter().filter(|s| !s.target.is_empty()) {
                candidates.push((
                    format!("{scheme}://{}:{}/", s.target, s.port),
                    format!("RFC 6764 SRV record {name}"),
                ));
            }
        }
    }
    candidates.push((
        format!("https://{domain}/"),
        format!("RFC 6764 https://{domain}/.well-known/carddav"),
    ));
    for (url, why) in candidates {
        let remote = Remote {
            url: url.clone(),
            user: user.to_owned(),
            password: password.to_owned(),
            insecure,
        };
        let Ok((client, start)) = Client::new(&remote) else {
            continue;
        };
        if let Ok(Ok(books)) =
            tokio::time::timeout(Duration::from_secs(15), discover(&client, &start)).await
            && !books.is_empty()
        {
            return Some((url, why));
        }
    }
    None
}

/// How many address books discovery finds at `remote` (what `--contacts URL` checks).
pub async fn books(remote: &Remote) -> Result<usize, Error> {
    let (client, start) = Client::new(remote)?;
    Ok(discover(&client, &start).await?.len())
}

/// Pulls every address book of `remote` into `account`'s books (see the module notes).
pub async fn pull(
    contacts: Arc<dyn ContactStore>,
    account: AccountId,
    remote: &Remote,
) -> Result<Report, Error> {
    let (client, start) = Client::new(remote)?;
    let books = discover(&client, &start).await?;
    let mut report = Report::default();
    let only_one = books.len() == 1;
    for book in &books {
        let local = local_book(contacts.as_ref(), account, book, only_one)?;
        report.books += 1;
        let hrefs: Vec<String> = members(&client, book)
            .await?
            .into_iter()
            .map(|(h, _)| h)
            .collect();
        for (href, _, data) in multiget(&client, book, &hrefs).await? {
            report.fetched += 1;
            let name = last_segment(&href);
            let current = contacts.contact(local.id, &name)?;
            if current.as_ref().map(|c| c.data.as_slice()) != Some(data.as_bytes()) {
                contacts.put_contact(local.id, &name, data.as_bytes(), Precondition::None)?;
                report.stored += 1;
            }
        }
    }
    Ok(report)
}
