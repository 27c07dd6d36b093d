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

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use pochta_net::connect::{ClientStream, ConnectError};
use pochta_store::StoreError;
use pochta_store::contacts::{ContactStore, DEFAULT_BOOK, Precondition};
use pochta_types::AccountId;

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
        let mut stream = ClientStream::connect(&self.host, self.port).await?;
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
        let remote_name = last_segment(book);
        let local_name = if only_one || remote_name == DEFAULT_BOOK || remote_name.is_empty() {
            DEFAULT_BOOK.to_owned()
        } else {
            remote_name.clone()
        };
        let local = {
            let existing = contacts.address_books(account)?;
            match existing.into_iter().find(|b| b.name == local_name) {
                Some(b) => b,
                None => contacts.create_address_book(account, &local_name, &remote_name, "")?,
            }
        };
        report.books += 1;
        // The members, then their data in batches.
        let (_, xml) = client
            .propfind(book, "1", "<d:getetag/><d:resourcetype/>")
            .await?;
        let doc = roxmltree::Document::parse(&xml).map_err(|e| Error::Xml(e.to_string()))?;
        let members: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name((DAV, "response")))
            .filter(|r| !r.descendants().any(|n| n.has_tag_name((DAV, "collection"))))
            .filter_map(|r| {
                r.children()
                    .find(|n| n.has_tag_name((DAV, "href")))
                    .and_then(|n| n.text())
                    .map(|h| path_of(h.trim()))
            })
            .collect();
        for chunk in members.chunks(100) {
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
                let Some(href) = r
                    .children()
                    .find(|n| n.has_tag_name((DAV, "href")))
                    .and_then(|n| n.text())
                else {
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
                report.fetched += 1;
                let name = last_segment(&path_of(href.trim()));
                let current = contacts.contact(local.id, &name)?;
                if current.as_ref().map(|c| c.data.as_slice()) != Some(data.as_bytes()) {
                    contacts.put_contact(local.id, &name, data.as_bytes(), Precondition::None)?;
                    report.stored += 1;
                }
            }
        }
    }
    Ok(report)
}
