//! CardDAV (issue 21) through the real binary over TCP: Debian's `vdirsyncer` syncing a
//! local folder of vCards both ways with a Pochta address book over HTTPS, and the protocol
//! itself with curl (discovery, MKCOL, PUT with preconditions, sync-collection,
//! addressbook-multiget, addressbook-query, access control, Basic auth through the login
//! flow), checked against Debian's Radicale answering the same requests where the two must
//! agree; then `pochta contacts import` / `export`.
//!
//! `vdirsyncer` and `radicale` come from Debian (installed by `.ci/run`). Locally a missing
//! tool skips that test with a message; under CI (`CI` set) it fails.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestDir, TestServer, free_ports, stdout, tool_available};

const USER: &str = "alice@example.test";
const PASS: &str = "alice password";
const OTHER: &str = "bob@example.test";

fn start() -> TestServer {
    let names = ["imap", "http", "https"];
    let ports = free_ports(names.len());
    let listeners: Vec<(&'static str, u16)> = names.iter().copied().zip(ports).collect();
    let dir = TestDir::new(&listeners, "");
    dir.add_user(USER, PASS);
    dir.add_user(OTHER, "bob password");
    TestServer::start_in(dir, listeners)
}

/// Whether `tool` can run here; under CI its absence is a failure.
fn have(tool: &str) -> bool {
    if tool_available(tool) {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{tool} is missing (apt-get install {tool})"
    );
    eprintln!("skipping: {tool} is not installed");
    false
}

/// An HTTP exchange with curl: (status, headers lower-cased, body).
fn curl(cert: Option<&Path>, args: &[&str]) -> (u16, String, String) {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "20", "-i"]);
    if let Some(cert) = cert {
        c.arg("--cacert").arg(cert);
    }
    let out = c.args(args).output().expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // Skip interim 100 Continue answers.
    let mut rest = text.as_str();
    while rest.starts_with("HTTP/1.1 100") {
        rest = rest.split_once("\r\n\r\n").map_or("", |(_, r)| r);
    }
    let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// A DAV request as `user:password` to `url`.
fn dav(
    auth: &str,
    method: &str,
    url: &str,
    headers: &[&str],
    body: Option<&str>,
) -> (u16, String, String) {
    let mut args = vec!["-u", auth, "-X", method];
    for h in headers {
        args.extend(["-H", h]);
    }
    if let Some(b) = body {
        args.extend(["--data-binary", b]);
    }
    args.push(url);
    curl(None, &args)
}

fn doc(xml: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}: {xml}"))
}

/// (href, status of the response or of its first propstat) of every `response`.
fn responses(xml: &str) -> Vec<(String, String)> {
    let d = doc(xml);
    d.descendants()
        .filter(|n| n.has_tag_name(("DAV:", "response")))
        .map(|r| {
            let href = r
                .children()
                .find(|n| n.has_tag_name(("DAV:", "href")))
                .and_then(|n| n.text())
                .unwrap_or("")
                .to_owned();
            let status = r
                .descendants()
                .find(|n| n.has_tag_name(("DAV:", "status")))
                .and_then(|n| n.text())
                .unwrap_or("")
                .to_owned();
            (href, status)
        })
        .collect()
}

/// The text of the first element `ns:name`.
fn first(xml: &str, ns: &str, name: &str) -> Option<String> {
    let d = doc(xml);
    d.descendants()
        .find(|n| n.has_tag_name((ns, name)))
        .map(|n| {
            n.descendants()
                .filter(|t| t.is_text())
                .filter_map(|t| t.text())
                .collect::<String>()
                .trim()
                .to_owned()
        })
}

fn card(uid: &str, name: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nEMAIL;TYPE=work:{uid}@example.org\r\nEND:VCARD\r\n"
    )
}

const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";

#[test]
fn vdirsyncer_syncs_both_ways() {
    if !have("vdirsyncer") {
        return;
    }
    let server = start();
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("local");
    std::fs::create_dir_all(&local).unwrap();
    let config = work.path().join("config");
    std::fs::write(
        &config,
        format!(
            "[general]\nstatus_path = \"{status}/\"\n\n[pair contacts]\na = \"local\"\nb = \"pochta\"\ncollections = [\"from b\"]\nconflict_resolution = \"b wins\"\n\n[storage local]\ntype = \"filesystem\"\npath = \"{local}/\"\nfileext = \".vcf\"\n\n[storage pochta]\ntype = \"carddav\"\nurl = \"https://localhost:{port}/\"\nusername = \"{USER}\"\npassword = \"{PASS}\"\nverify = \"{cert}\"\n",
            status = work.path().join("status").display(),
            local = local.display(),
            port = server.port("https"),
            cert = server.cert().display(),
        ),
    )
    .unwrap();
    let vdirsyncer = |args: &[&str]| {
        let mut child = Command::new("vdirsyncer")
            .arg("-c")
            .arg(&config)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let _ = child.stdin.take().unwrap().write_all(b"y\ny\ny\n");
        }
        let o = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            o.status.success(),
            "vdirsyncer {args:?} failed:\n{text}\n{}",
            server.log()
        );
        text
    };
    // Discovery (well-known → principal → home set → books) finds the default book.
    let found = vdirsyncer(&["discover", "contacts"]);
    assert!(found.contains("\"default\""), "{found}");
    let book = local.join("default");
    let url = |name: &str| {
        format!(
            "http://127.0.0.1:{}/dav/addressbooks/{USER}/default/{name}",
            server.port("http")
        )
    };
    let auth = format!("{USER}:{PASS}");

    // One card made on each side; after a sync both sides have both, byte for byte.
    let mine = card("local-1", "Local One");
    std::fs::write(book.join("local-1.vcf"), &mine).unwrap();
    let theirs = "BEGIN:VCARD\nVERSION:4.0\nUID:remote-1\nFN:Анна Удалённая\nEND:VCARD\n";
    let (s, h, _) = dav(
        &auth,
        "PUT",
        &url("remote-1.vcf"),
        &["Content-Type: text/vcard", "If-None-Match: *"],
        Some(theirs),
    );
    assert_eq!(s, 201, "{h}");
    assert!(h.contains("etag: \""), "{h}");
    let out = vdirsyncer(&["sync"]);
    assert!(out.contains("local-1") && out.contains("remote-1"), "{out}");
    let local_files = |dir: &Path| {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(local_files(&book).len(), 2);
    let remote_copy = local_files(&book)
        .into_iter()
        .find(|f| f != "local-1.vcf")
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(book.join(&remote_copy)).unwrap(),
        theirs
    );
    let listing = dav(&auth, "PROPFIND", &url(""), &["Depth: 1"], None).2;
    let hrefs: Vec<String> = responses(&listing).into_iter().map(|(h, _)| h).collect();
    let uploaded = hrefs
        .iter()
        .find(|h| h.contains("local"))
        .expect("the local card was uploaded")
        .clone();
    let uploaded_name = uploaded.rsplit('/').next().unwrap().to_owned();
    let (s, _, body) = dav(&auth, "GET", &url(&uploaded_name), &[], None);
    assert_eq!(
        (s, body.as_str()),
        (200, mine.as_str()),
        "stored exactly as sent"
    );

    // A change on each side travels to the other.
    let mine2 = card("local-1", "Local One Changed");
    std::fs::write(book.join("local-1.vcf"), &mine2).unwrap();
    let (_, h, _) = dav(&auth, "GET", &url("remote-1.vcf"), &[], None);
    let etag = h
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .unwrap()
        .trim()
        .to_owned();
    let theirs2 = theirs.replace("Удалённая", "Изменённая");
    let stale = dav(
        &auth,
        "PUT",
        &url("remote-1.vcf"),
        &["If-Match: \"0000\""],
        Some(&theirs2),
    )
    .0;
    assert_eq!(stale, 412, "a stale If-Match is refused");
    let ok = dav(
        &auth,
        "PUT",
        &url("remote-1.vcf"),
        &[&format!("If-Match: {etag}")],
        Some(&theirs2),
    )
    .0;
    assert_eq!(ok, 204);
    vdirsyncer(&["sync"]);
    assert_eq!(dav(&auth, "GET", &url(&uploaded_name), &[], None).2, mine2);
    assert_eq!(
        std::fs::read_to_string(book.join(&remote_copy)).unwrap(),
        theirs2
    );

    // A deletion on each side too.
    std::fs::remove_file(book.join("local-1.vcf")).unwrap();
    assert_eq!(dav(&auth, "DELETE", &url("remote-1.vcf"), &[], None).0, 204);
    vdirsyncer(&["sync"]);
    assert_eq!(dav(&auth, "GET", &url(&uploaded_name), &[], None).0, 404);
    assert!(local_files(&book).is_empty(), "{:?}", local_files(&book));
}

/// A Radicale server on a free port with its storage in `dir` and no authentication (any
/// user name is accepted), started for the comparison.
struct Radicale(Child, u16);

impl Radicale {
    fn start(dir: &Path) -> Radicale {
        let port = free_ports(1)[0];
        let child = Command::new("radicale")
            .args([
                "--server-hosts",
                &format!("127.0.0.1:{port}"),
                "--storage-filesystem-folder",
            ])
            .arg(dir)
            .args(["--auth-type", "none"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn radicale");
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        assert!(
            common::wait_for_port(addr, Duration::from_secs(30)),
            "radicale did not start"
        );
        Radicale(child, port)
    }
}

impl Drop for Radicale {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The same CardDAV exchange against one server; returns what the two must agree on.
fn exchange(auth: &str, base: &str, home: &str, mkcol_first: bool) -> Vec<String> {
    let mut seen = Vec::new();
    let book = format!("{home}friends/");
    let mkcol = r#"<?xml version="1.0" encoding="utf-8"?>
<d:mkcol xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:set><d:prop>
<d:resourcetype><d:collection/><card:addressbook/></d:resourcetype>
<d:displayname>Friends</d:displayname></d:prop></d:set></d:mkcol>"#;
    if mkcol_first {
        // Radicale creates the home on first access.
        dav(
            auth,
            "PROPFIND",
            &format!("{base}{home}"),
            &["Depth: 0"],
            None,
        );
    }
    let s = dav(auth, "MKCOL", &format!("{base}{book}"), &[], Some(mkcol)).0;
    seen.push(format!("MKCOL {s}"));
    let put = |name: &str, body: &str, headers: &[&str]| {
        let mut h = vec!["Content-Type: text/vcard; charset=utf-8"];
        h.extend_from_slice(headers);
        dav(auth, "PUT", &format!("{base}{book}{name}"), &h, Some(body)).0
    };
    seen.push(format!(
        "PUT new {}",
        put("a.vcf", &card("a", "Anna Petrova"), &["If-None-Match: *"])
    ));
    seen.push(format!(
        "PUT b {}",
        put("b.vcf", &card("b", "Boris Ivanov"), &[])
    ));
    seen.push(format!(
        "PUT exists If-None-Match {}",
        put("a.vcf", &card("a", "Again"), &["If-None-Match: *"])
    ));
    seen.push(format!(
        "PUT stale If-Match {}",
        put("b.vcf", &card("b", "B2"), &["If-Match: \"nope\""])
    ));
    seen.push(format!(
        "PUT not a vcard {}",
        put("x.vcf", "hello", &[]) / 100
    ));

    // The book's properties.
    let props = r#"<d:propfind xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><d:resourcetype/><d:displayname/><d:sync-token/><card:supported-address-data/><d:getetag/></d:prop></d:propfind>"#;
    let (s, _, body) = dav(
        auth,
        "PROPFIND",
        &format!("{base}{book}"),
        &["Depth: 1"],
        Some(props),
    );
    seen.push(format!("PROPFIND {s}"));
    let n = responses(&body).len();
    seen.push(format!("PROPFIND responses {n}"));
    let d = doc(&body);
    seen.push(format!(
        "book is an addressbook {}",
        d.descendants()
            .any(|x| x.has_tag_name((CARDDAV, "addressbook")))
    ));
    seen.push(format!(
        "displayname {:?}",
        first(&body, "DAV:", "displayname")
    ));
    let token = first(&body, "DAV:", "sync-token").expect("a sync-token");

    // PROPPATCH the display name, then read it back.
    let pp = r#"<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>Best friends</d:displayname></d:prop></d:set></d:propertyupdate>"#;
    let (s, _, body) = dav(auth, "PROPPATCH", &format!("{base}{book}"), &[], Some(pp));
    seen.push(format!(
        "PROPPATCH {s} {:?}",
        responses(&body).first().map(|r| r.1.clone())
    ));
    let dn = r#"<d:propfind xmlns:d="DAV:"><d:prop><d:displayname/></d:prop></d:propfind>"#;
    let body = dav(
        auth,
        "PROPFIND",
        &format!("{base}{book}"),
        &["Depth: 0"],
        Some(dn),
    )
    .2;
    seen.push(format!(
        "displayname after PROPPATCH {:?}",
        first(&body, "DAV:", "displayname")
    ));

    // multiget: one present, one missing.
    let multiget = format!(
        r#"<card:addressbook-multiget xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><card:address-data/></d:prop><d:href>{book}a.vcf</d:href><d:href>{book}zzz.vcf</d:href></card:addressbook-multiget>"#
    );
    let (s, _, body) = dav(
        auth,
        "REPORT",
        &format!("{base}{book}"),
        &["Depth: 1"],
        Some(&multiget),
    );
    seen.push(format!("multiget {s}"));
    let mut r: Vec<String> = responses(&body)
        .into_iter()
        .map(|(h, st)| format!("{} {st}", h.rsplit('/').next().unwrap()))
        .collect();
    r.sort();
    seen.push(format!("multiget {r:?}"));
    seen.push(format!(
        "multiget data {}",
        first(&body, CARDDAV, "address-data")
            .unwrap_or_default()
            .contains("Anna Petrova")
    ));

    // query: FN contains "ivan" (case-insensitive) finds Boris only.
    let query = r#"<card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/></d:prop><card:filter><card:prop-filter name="FN"><card:text-match collation="i;unicode-casemap" match-type="contains">ivan</card:text-match></card:prop-filter></card:filter></card:addressbook-query>"#;
    let (s, _, body) = dav(
        auth,
        "REPORT",
        &format!("{base}{book}"),
        &["Depth: 1"],
        Some(query),
    );
    seen.push(format!("query {s}"));
    let hits: Vec<String> = responses(&body)
        .into_iter()
        .map(|(h, _)| h.rsplit('/').next().unwrap().to_owned())
        .collect();
    seen.push(format!("query {hits:?}"));

    // sync-collection: after the token, one change and one deletion.
    put("a.vcf", &card("a", "Anna Petrova-Sidorova"), &[]);
    dav(auth, "DELETE", &format!("{base}{book}b.vcf"), &[], None);
    let sync = format!(
        r#"<d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#
    );
    let (s, _, body) = dav(
        auth,
        "REPORT",
        &format!("{base}{book}"),
        &["Depth: 0"],
        Some(&sync),
    );
    seen.push(format!("sync {s}"));
    let mut r: Vec<String> = responses(&body)
        .into_iter()
        .map(|(h, st)| format!("{} {st}", h.rsplit('/').next().unwrap()))
        .collect();
    r.sort();
    seen.push(format!("sync {r:?}"));
    let bad = r#"<d:sync-collection xmlns:d="DAV:"><d:sync-token>http://example.invalid/nope</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#;
    seen.push(format!(
        "sync bad token {}",
        dav(
            auth,
            "REPORT",
            &format!("{base}{book}"),
            &["Depth: 0"],
            Some(bad)
        )
        .0
    ));
    seen.push(format!(
        "DELETE missing {}",
        dav(auth, "DELETE", &format!("{base}{book}b.vcf"), &[], None).0
    ));
    seen
}

#[test]
fn carddav_answers_like_radicale() {
    let server = start();
    let base = format!("http://127.0.0.1:{}", server.port("http"));
    let auth = format!("{USER}:{PASS}");

    // Discovery: well-known redirect, principal, home set (RFC 6764, RFC 5397, RFC 6352 §7.1.1).
    let (s, h, _) = curl(
        None,
        &["-X", "PROPFIND", &format!("{base}/.well-known/carddav")],
    );
    assert_eq!(s, 301);
    assert!(h.contains("location: /dav/"), "{h}");
    let cup =
        r#"<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>"#;
    let (s, _, body) = dav(
        &auth,
        "PROPFIND",
        &format!("{base}/dav/"),
        &["Depth: 0"],
        Some(cup),
    );
    assert_eq!(s, 207);
    let principal = first(&body, "DAV:", "current-user-principal").unwrap();
    assert_eq!(principal, format!("/dav/principals/{USER}/"));
    let hs = r#"<d:propfind xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><card:addressbook-home-set/></d:prop></d:propfind>"#;
    let body = dav(
        &auth,
        "PROPFIND",
        &format!("{base}{principal}"),
        &["Depth: 0"],
        Some(hs),
    )
    .2;
    let home = first(&body, CARDDAV, "addressbook-home-set").unwrap();
    assert_eq!(home, format!("/dav/addressbooks/{USER}/"));

    // Access: no credentials, a wrong password (logged like any failed login), another
    // user's book.
    assert_eq!(
        curl(None, &["-X", "PROPFIND", &format!("{base}{home}")]).0,
        401
    );
    assert_eq!(
        dav(
            &format!("{USER}:wrong"),
            "PROPFIND",
            &format!("{base}{home}"),
            &[],
            None
        )
        .0,
        401
    );
    assert_eq!(
        dav(
            &auth,
            "PROPFIND",
            &format!("{base}/dav/addressbooks/{OTHER}/"),
            &[],
            None
        )
        .0,
        403
    );
    let log_deadline = Instant::now() + Duration::from_secs(10);
    while !server
        .log()
        .contains("event=auth_failed proto=http mech=PASSWORD")
        && Instant::now() < log_deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        server
            .log()
            .contains("event=auth_failed proto=http mech=PASSWORD"),
        "{}",
        server.log()
    );

    let ours = exchange(&auth, &base, &home, false);
    println!("pochta: {ours:#?}");
    assert!(ours.contains(&"MKCOL 201".to_owned()), "{ours:?}");
    assert!(
        ours.contains(&"displayname after PROPPATCH Some(\"Best friends\")".to_owned()),
        "{ours:?}"
    );
    // A property that cannot be written fails the whole PROPPATCH (RFC 4918 §9.2): 403 for
    // it, 424 for the rest, nothing changed.
    let pp = r#"<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>X</d:displayname><d:getetag>"x"</d:getetag></d:prop></d:set></d:propertyupdate>"#;
    let (s, _, body) = dav(
        &auth,
        "PROPPATCH",
        &format!("{base}{home}friends/"),
        &[],
        Some(pp),
    );
    assert_eq!(s, 207);
    assert!(
        body.contains("HTTP/1.1 403 Forbidden") && body.contains("HTTP/1.1 424 Failed Dependency"),
        "{body}"
    );
    assert!(
        ours.contains(
            &"sync [\"a.vcf HTTP/1.1 200 OK\", \"b.vcf HTTP/1.1 404 Not Found\"]".to_owned()
        ),
        "{ours:?}"
    );
    assert!(ours.contains(&"query [\"b.vcf\"]".to_owned()), "{ours:?}");

    if have("radicale") {
        let dir = tempfile::tempdir().unwrap();
        let radicale = Radicale::start(dir.path());
        let theirs = exchange(
            "alice:x",
            &format!("http://127.0.0.1:{}", radicale.1),
            "/alice/",
            true,
        );
        println!("radicale: {theirs:#?}");
        assert_eq!(
            ours, theirs,
            "Pochta and Radicale answer the same requests differently"
        );
    }

    // The metrics count the HTTP logins.
    let (_, _, metrics) = curl(None, &[&format!("{base}/metrics")]);
    assert!(
        metrics.contains(
            "pochta_logins_total{protocol=\"http\",mechanism=\"PASSWORD\",result=\"ok\"}"
        ),
        "{metrics}"
    );
}

#[test]
fn contacts_import_and_export() {
    let dir = TestDir::new(&[], "");
    dir.add_user(USER, PASS);
    let file = dir.dir.path().join("export.vcf");
    let a = card("imp-1", "Imported One");
    let b = "BEGIN:VCARD\nVERSION:4.0\nFN:No Uid\nEND:VCARD\n";
    std::fs::write(
        &file,
        format!("{a}{b}BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Old\r\nEND:VCARD\r\n"),
    )
    .unwrap();
    let path = file.to_string_lossy().into_owned();
    let o = dir.cli(&["contacts", "import", USER, &path]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("imported 2 contact(s)") && out.contains("skipped 1"),
        "{out}"
    );
    // Importing again replaces instead of adding.
    assert!(
        dir.cli(&["contacts", "import", USER, &path])
            .status
            .success()
    );
    let o = dir.cli(&["contacts", "export", USER]);
    assert!(o.status.success());
    let exported = stdout(&o);
    assert_eq!(exported.matches("BEGIN:VCARD").count(), 2, "{exported}");
    assert!(exported.contains(&a) && exported.contains(b), "{exported}");
    let o = dir.cli(&["contacts", "export", "nobody@example.test"]);
    assert!(!o.status.success());
}

#[test]
fn basic_auth_follows_the_plaintext_policy() {
    let names = ["http", "https"];
    let ports = free_ports(names.len());
    let listeners: Vec<(&'static str, u16)> = names.iter().copied().zip(ports).collect();
    let dir = TestDir::new(&listeners, "[auth]\nplaintext = \"tls-only\"\n");
    dir.add_user(USER, PASS);
    let server = TestServer::start_in(dir, listeners);
    let auth = format!("{USER}:{PASS}");
    let home = format!("/dav/addressbooks/{USER}/");
    // Plain HTTP, even from loopback: the password is refused before it is checked.
    let (s, _, body) = dav(
        &auth,
        "PROPFIND",
        &format!("http://127.0.0.1:{}{home}", server.port("http")),
        &["Depth: 0"],
        None,
    );
    assert_eq!(s, 403, "{body}");
    // The same request over TLS logs in.
    let cert = server.cert();
    let url = format!("https://localhost:{}{home}", server.port("https"));
    let (s, _, _) = curl(
        Some(&cert),
        &["-u", &auth, "-X", "PROPFIND", "-H", "Depth: 0", &url],
    );
    assert_eq!(s, 207);
}

#[test]
fn pull_brings_an_address_book_over_from_radicale_and_from_pochta() {
    if !have("radicale") {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let radicale = Radicale::start(store.path());
    let base = format!("http://127.0.0.1:{}", radicale.1);
    let auth = "olduser:x";
    let mkcol = r#"<d:mkcol xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><d:resourcetype><d:collection/><card:addressbook/></d:resourcetype></d:prop></d:set></d:mkcol>"#;
    dav(
        auth,
        "PROPFIND",
        &format!("{base}/olduser/"),
        &["Depth: 0"],
        None,
    );
    assert_eq!(
        dav(
            auth,
            "MKCOL",
            &format!("{base}/olduser/book/"),
            &[],
            Some(mkcol)
        )
        .0,
        201
    );
    let put = |name: &str, body: &str| {
        let s = dav(
            auth,
            "PUT",
            &format!("{base}/olduser/book/{name}"),
            &["Content-Type: text/vcard"],
            Some(body),
        )
        .0;
        assert!(s == 201 || s == 204, "radicale PUT {name}: {s}");
    };
    put("one.vcf", &card("one", "Ольга Первая"));
    put("two.vcf", &card("two", "Two"));

    // Into a Pochta account, discovered from the host alone (RFC 6764).
    let dir = TestDir::new(&[], "");
    dir.add_user(USER, PASS);
    let pull = |url: &str, user: &str, password: &str| {
        let o = dir.cli_with_stdin(
            &[
                "contacts",
                "pull",
                USER,
                url,
                "--user",
                user,
                "--password-stdin",
            ],
            &format!("{password}\n"),
        );
        assert!(o.status.success(), "{}", common::stderr(&o));
        stdout(&o)
    };
    let out = pull(&format!("{base}/"), "olduser", "x");
    assert!(
        out.contains("1 address book(s), 2 contact(s) fetched, 2 stored"),
        "{out}"
    );
    let exported = stdout(&dir.cli(&["contacts", "export", USER]));
    for name in ["one.vcf", "two.vcf"] {
        let served = dav(
            auth,
            "GET",
            &format!("{base}/olduser/book/{name}"),
            &[],
            None,
        )
        .2;
        assert!(
            exported.contains(&served),
            "{name} not brought over as served:\n{served}\nin\n{exported}"
        );
    }
    // Again: nothing new; then a change and an addition at the source come over.
    assert!(pull(&format!("{base}/"), "olduser", "x").contains("0 stored"));
    put("two.vcf", &card("two", "Two Changed"));
    put("three.vcf", &card("three", "Three"));
    let out = pull(&format!("{base}/"), "olduser", "x");
    assert!(out.contains("3 contact(s) fetched, 2 stored"), "{out}");
    let exported = stdout(&dir.cli(&["contacts", "export", USER]));
    assert!(
        exported.contains("FN:Two Changed") && exported.contains("FN:Three"),
        "{exported}"
    );

    // From a Pochta server (over HTTPS, its certificate trusted with --insecure): the vCards
    // arrive byte for byte, CRLF included (sent as &#13; in the XML).
    let server = start();
    let url = format!(
        "https://localhost:{}/dav/addressbooks/{USER}/default/",
        server.port("https")
    );
    let exact =
        "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:exact\r\nFN:Exact\r\nNOTE:two\\nlines\r\nEND:VCARD\r\n";
    let (s, _, _) = curl(
        Some(&server.cert()),
        &[
            "-u",
            &format!("{USER}:{PASS}"),
            "-X",
            "PUT",
            "--data-binary",
            exact,
            &format!("{url}exact.vcf"),
        ],
    );
    assert_eq!(s, 201);
    let o = dir.cli_with_stdin(
        &[
            "contacts",
            "pull",
            USER,
            &format!("https://localhost:{}/", server.port("https")),
            "--user",
            USER,
            "--password-stdin",
            "--insecure",
        ],
        &format!("{PASS}\n"),
    );
    assert!(o.status.success(), "{}", common::stderr(&o));
    let exported = stdout(&dir.cli(&["contacts", "export", USER]));
    assert!(exported.contains(exact), "{exported:?}");
}
