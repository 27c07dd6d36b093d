//! `carddav::sync` against a CardDAV server without `sync-collection` (RFC 6578): a small
//! scripted server over TCP on loopback that refuses the REPORT, so every pass lists the
//! book's ETags (PROPFIND) and the collector compares them with the ones it remembers:
//! only new and changed cards are fetched (multiget), removed ones are deleted locally.
//! (Radicale, which has sync-collection, is crates/pochta/tests/collect_contacts.rs.)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use pochta_collector::carddav::{Remote, sync};
use pochta_store::contacts::{ContactStore, DEFAULT_BOOK};
use pochta_store_embedded::EmbeddedContactStore;
use pochta_types::AccountId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// name → (ETag, vCard).
type Cards = Arc<Mutex<BTreeMap<String, (String, String)>>>;

fn card(uid: &str, name: &str) -> String {
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nEND:VCARD\r\n")
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\r', "&#13;")
}

fn multistatus(inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><d:multistatus xmlns:d=\"DAV:\" xmlns:card=\"urn:ietf:params:xml:ns:carddav\">{inner}</d:multistatus>"
    )
}

/// One answer: (status, body).
fn answer(cards: &Cards, method: &str, depth: &str, body: &str) -> (u16, String) {
    let cards = cards.lock().unwrap();
    match (method, depth) {
        ("PROPFIND", "0") => (
            207,
            multistatus(
                "<d:response><d:href>/book/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/><card:addressbook/></d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>",
            ),
        ),
        ("PROPFIND", _) => {
            let mut inner = String::from(
                "<d:response><d:href>/book/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/><card:addressbook/></d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>",
            );
            for (name, (etag, _)) in cards.iter() {
                inner.push_str(&format!(
                    "<d:response><d:href>/book/{name}</d:href><d:propstat><d:prop><d:getetag>{}</d:getetag><d:resourcetype/></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>",
                    esc(etag)
                ));
            }
            (207, multistatus(&inner))
        }
        ("REPORT", _) if body.contains("sync-collection") => (
            403,
            "<?xml version=\"1.0\"?><d:error xmlns:d=\"DAV:\"><d:supported-report/></d:error>"
                .into(),
        ),
        ("REPORT", _) => {
            let mut inner = String::new();
            for part in body.split("<d:href>").skip(1) {
                let href = part.split("</d:href>").next().unwrap_or("");
                let name = href.trim_start_matches("/book/");
                if let Some((etag, data)) = cards.get(name) {
                    inner.push_str(&format!(
                        "<d:response><d:href>{href}</d:href><d:propstat><d:prop><d:getetag>{}</d:getetag><card:address-data>{}</card:address-data></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>",
                        esc(etag),
                        esc(data)
                    ));
                }
            }
            (207, multistatus(&inner))
        }
        _ => (405, String::new()),
    }
}

/// Serves `cards` over HTTP/1.1, one request per connection; records "METHOD body-kind".
async fn serve(listener: TcpListener, cards: Cards, log: Arc<Mutex<Vec<String>>>) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        let cards = Arc::clone(&cards);
        let log = Arc::clone(&log);
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let head_end = loop {
                let n = s.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    return;
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break p + 4;
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
            let header = |name: &str| {
                head.lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                    })
                    .unwrap_or_default()
            };
            let len: usize = header("content-length").parse().unwrap_or(0);
            while buf.len() < head_end + len {
                let n = s.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
            let method = head.split(' ').next().unwrap_or("").to_owned();
            let depth = header("depth");
            let (status, text) = answer(&cards, &method, &depth, &body);
            let kind = if body.contains("sync-collection") {
                "sync-collection".to_owned()
            } else if body.contains("addressbook-multiget") {
                format!("multiget {}", body.matches("<d:href>").count())
            } else {
                format!("depth {depth}")
            };
            log.lock().unwrap().push(format!("{method} {kind}"));
            let resp = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = s.write_all(resp.as_bytes()).await;
            let _ = s.shutdown().await;
        });
    }
}

#[tokio::test]
async fn without_sync_collection_etags_are_compared() {
    let cards: Cards = Arc::default();
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let put = |name: &str, etag: &str, data: String| {
        cards
            .lock()
            .unwrap()
            .insert(name.to_owned(), (etag.to_owned(), data));
    };
    put("a.vcf", "\"a1\"", card("a", "Anna"));
    put("b.vcf", "\"b1\"", card("b", "Boris"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(serve(listener, Arc::clone(&cards), Arc::clone(&log)));

    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ContactStore> = Arc::new(EmbeddedContactStore::open(dir.path()).unwrap());
    let account = AccountId(1);
    let remote = Remote {
        url: format!("http://127.0.0.1:{port}/book/"),
        user: "u".into(),
        password: "p".into(),
        insecure: false,
    };
    let local = |name: &str| {
        let book = store.address_book(account, DEFAULT_BOOK).unwrap().unwrap();
        store.contact(book.id, name).unwrap().map(|c| c.data)
    };
    let take_log = || std::mem::take(&mut *log.lock().unwrap());

    // First pass: everything.
    let (r, state) = sync(Arc::clone(&store), account, &remote, "")
        .await
        .unwrap();
    assert_eq!((r.books, r.stored, r.deleted, r.incremental), (1, 2, 0, 0));
    assert_eq!(local("a.vcf"), Some(card("a", "Anna").into_bytes()));
    assert!(take_log().contains(&"REPORT multiget 2".to_owned()));

    // Nothing changed: the ETags match, nothing is fetched.
    let (r, state) = sync(Arc::clone(&store), account, &remote, &state)
        .await
        .unwrap();
    assert_eq!((r.stored, r.deleted), (0, 0));
    let l = take_log();
    assert!(!l.iter().any(|x| x.contains("multiget")), "{l:?}");
    assert!(l.contains(&"PROPFIND depth 1".to_owned()), "{l:?}");

    // A change, an addition, a deletion: only the two are fetched.
    put("b.vcf", "\"b2\"", card("b", "Boris Changed"));
    put("c.vcf", "\"c1\"", card("c", "Clara"));
    cards.lock().unwrap().remove("a.vcf");
    let (r, _) = sync(Arc::clone(&store), account, &remote, &state)
        .await
        .unwrap();
    assert_eq!((r.stored, r.deleted), (2, 1));
    assert!(take_log().contains(&"REPORT multiget 2".to_owned()));
    assert_eq!(local("a.vcf"), None);
    assert_eq!(
        local("b.vcf"),
        Some(card("b", "Boris Changed").into_bytes())
    );
    assert_eq!(local("c.vcf"), Some(card("c", "Clara").into_bytes()));
}
