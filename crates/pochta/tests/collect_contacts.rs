//! The collector keeps a remote CardDAV address book in sync: Debian's Radicale is the old
//! provider's address book, Dovecot its mail. `collect add --contacts auto` finds Radicale by
//! RFC 6764 (an `_carddav._tcp` SRV record in the test's DNS server, then
//! `/.well-known/carddav`), `pochta serve` syncs it in the background, and additions,
//! changes and deletions made on Radicale show in Pochta's own CardDAV (over TCP) after the
//! next pass; a card edited in Pochta is not deleted when the source deletes it.
//!
//! Needs radicale, curl, Dovecot and python3 + dnslib (installed by .ci/run); skipped
//! locally without, a failure under CI.

mod common;
#[path = "../../collector/tests/dovecot/mod.rs"]
mod dovecot;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use dovecot::{Dovecot, PASSWORD, USER};
use pochta_dns::testing::TestDnsServer;

const LOCAL: &str = "mover@example.org";
const LOCAL_PASS: &str = "Local-Pass-1";
const SOA: &str = "IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300";

/// Radicale on a free port, storage in a temporary directory, any user name accepted.
struct Radicale {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Radicale {
    fn start() -> Option<Radicale> {
        if !tool_available("radicale") || !tool_available("curl") {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_ports(1)[0];
        let child = Command::new("radicale")
            .args(["--server-hosts", &format!("127.0.0.1:{port}")])
            .arg("--storage-filesystem-folder")
            .arg(dir.path())
            .args(["--auth-type", "none"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn radicale");
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        assert!(
            wait_for_port(addr, Duration::from_secs(30)),
            "radicale did not start"
        );
        Some(Radicale {
            child,
            port,
            _dir: dir,
        })
    }
}

impl Drop for Radicale {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A DAV request with curl: (status, body).
fn dav(auth: &str, method: &str, url: &str, body: Option<&str>) -> (u16, String) {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "20", "-o", "-", "-w", "\n%{http_code}"])
        .args(["-u", auth, "-X", method]);
    if let Some(b) = body {
        c.args(["-H", "Content-Type: text/vcard", "--data-binary", b]);
    }
    let out = c.arg(url).output().expect("run curl");
    assert!(
        out.status.success(),
        "curl {method} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

fn card(uid: &str, name: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nEMAIL;TYPE=work:{uid}@example.org\r\nEND:VCARD\r\n"
    )
}

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "failed: {}\n{}", stdout(o), stderr(o));
    stdout(o)
}

#[test]
fn collector_keeps_a_radicale_address_book_in_sync() {
    let Some(radicale) = Radicale::start() else {
        return;
    };
    let Some(d) = Dovecot::start() else { return };
    let zone = format!(
        "example.net. 300 {SOA}
_carddav._tcp.example.net. 300 IN SRV 0 1 {} localhost.
",
        radicale.port
    );
    let Some(dns) = TestDnsServer::start(&zone) else {
        return;
    };
    // The old provider's address book: USER's `book` on Radicale, two cards.
    let base = format!("http://127.0.0.1:{}", radicale.port);
    let auth = format!("{USER}:{PASSWORD}");
    let book = format!("{base}/{USER}/book/");
    dav(&auth, "PROPFIND", &format!("{base}/{USER}/"), None);
    let mkcol = r#"<d:mkcol xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:set><d:prop><d:resourcetype><d:collection/><card:addressbook/></d:resourcetype></d:prop></d:set></d:mkcol>"#;
    let mut c = Command::new("curl");
    let s = c
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-u", &auth])
        .args(["-X", "MKCOL", "--data-binary", mkcol, &book])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&s.stdout), "201", "MKCOL");
    let put = |name: &str, body: &str| {
        let (s, _) = dav(&auth, "PUT", &format!("{book}{name}"), Some(body));
        assert!(s == 201 || s == 204, "radicale PUT {name}: {s}");
    };
    put("one.vcf", &card("one", "Ольга Первая"));
    put("two.vcf", &card("two", "Two"));
    put("keep.vcf", &card("keep", "Kept"));

    let http = free_ports(1)[0];
    let extra = format!(
        "[dns]\nservers = [\"{}\"]\ntimeout = 2\nattempts = 1\n",
        dns.addr
    );
    let dir = TestDir::new(&[("http", http)], &extra);
    dir.add_user(LOCAL, LOCAL_PASS);
    // Found by RFC 6764 through the server's resolver (the domain of the remote user).
    let added = ok(&dir.cli(&[
        "collect",
        "add",
        LOCAL,
        &d.imap_url(),
        "--user",
        USER,
        "--password",
        PASSWORD,
        "--contacts",
        "auto",
    ]));
    assert!(
        added.contains(&format!(
            "contacts: http://localhost:{}/ (RFC 6764 SRV record _carddav._tcp.example.net) will be kept in sync",
            radicale.port
        )),
        "{added}"
    );
    assert!(dns.count("_carddav._tcp.example.net", "SRV") >= 1);
    // `collect run --once` syncs the book with the mail.
    let run = ok(&dir.cli(&["collect", "run", LOCAL, "--once"]));
    assert!(
        run.contains("contacts: 1 book(s), 3 stored, 0 deleted (sync-collection)"),
        "{run}"
    );
    let run = ok(&dir.cli(&["collect", "run", LOCAL, "--once"]));
    assert!(
        run.contains("contacts: 1 book(s), 0 stored, 0 deleted"),
        "{run}"
    );

    // The server syncs in the background from now on.
    let server = TestServer::start_in_with_env(
        dir,
        vec![("http", http)],
        &[("POCHTA_COLLECTOR_INTERVAL", "0.3")],
    );
    let local_auth = format!("{LOCAL}:{LOCAL_PASS}");
    let ours = |name: &str| {
        dav(
            &local_auth,
            "GET",
            &format!("http://127.0.0.1:{http}/dav/addressbooks/{LOCAL}/default/{name}"),
            None,
        )
    };
    let theirs = |name: &str| dav(&auth, "GET", &format!("{book}{name}"), None);
    for name in ["one.vcf", "two.vcf", "keep.vcf"] {
        let (s, body) = ours(name);
        assert_eq!(s, 200, "{name} in Pochta");
        assert_eq!(body, theirs(name).1, "{name} brought over as served");
    }
    // In Pochta, the user edits `keep.vcf`; at the source: a change, an addition, two
    // deletions.
    let (s, _) = dav(
        &local_auth,
        "PUT",
        &format!("http://127.0.0.1:{http}/dav/addressbooks/{LOCAL}/default/keep.vcf"),
        Some(&card("keep", "Kept, edited here")),
    );
    assert_eq!(s, 204, "local edit");
    put("two.vcf", &card("two", "Two Changed"));
    put("three.vcf", &card("three", "Three"));
    assert_eq!(dav(&auth, "DELETE", &format!("{book}one.vcf"), None).0, 200);
    assert_eq!(
        dav(&auth, "DELETE", &format!("{book}keep.vcf"), None).0,
        200
    );
    wait_for(
        "the changes on Radicale in Pochta",
        Duration::from_secs(30),
        || {
            ours("one.vcf").0 == 404
                && ours("three.vcf").0 == 200
                && ours("two.vcf").1.contains("FN:Two Changed")
        },
    );
    assert_eq!(ours("three.vcf").1, theirs("three.vcf").1);
    assert_eq!(ours("two.vcf").1, theirs("two.vcf").1);
    // Deleted at the source, but edited here: kept.
    let (s, body) = ours("keep.vcf");
    assert_eq!(s, 200);
    assert!(body.contains("FN:Kept, edited here"), "{body}");
    let status = stdout(&server.cli(&["collect", "status", LOCAL]));
    assert!(
        status.contains(&format!(
            "contacts:     http://localhost:{}/; last synced",
            radicale.port
        )) && !status.contains("last error: contacts"),
        "{status}"
    );
    // `--no-contacts` stops the sync; what came over stays.
    let o = ok(&server.cli(&["collect", "edit", LOCAL, &d.imap_url(), "--no-contacts"]));
    assert!(o.contains("contacts: no longer synced"), "{o}");
    assert!(!stdout(&server.cli(&["collect", "status", LOCAL])).contains("contacts:"));
    assert_eq!(ours("two.vcf").0, 200);
}
