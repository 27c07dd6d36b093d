//! Cyrus IMAP 3.6 (Debian) as a source, on loopback, through the binary: nested Cyrillic
//! folders, flags, keywords, dates; the import is checked exact through Pochta's own IMAP.
//!
//! Cyrus conflicts with dovecot-imapd as a package, so .ci/run unpacks it (`apt-get download`,
//! then `dpkg -x`) under /opt/pochta-cyrus (`POCHTA_CYRUS_ROOT`); a system install works too.
//! Its config is generated in a temporary directory: `alwaystrue` password check, the
//! `INBOX.`-style namespace (`unixhierarchysep: no`, `altnamespace: no`). Skipped locally
//! when Cyrus is not there, a failure under CI.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use pochta_collector::SourceUrl;
use pochta_collector::imap::ImapClient;
use pochta_store::MailDate;
use pochta_types::mutf7;

const LOCAL: &str = "mover@example.org";
const LOCAL_PASS: &str = "Local-Pass-1";

struct Cyrus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Cyrus {
    fn drop(&mut self) {
        // SIGTERM: the master stops its imapd processes too (SIGKILL would orphan them).
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let end = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cyrus_root() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("POCHTA_CYRUS_ROOT").map(PathBuf::from),
        Some(PathBuf::from("/opt/pochta-cyrus")),
        Some(PathBuf::from("/")),
    ];
    let found = candidates.into_iter().flatten().find(|r| {
        r.join("usr/lib/cyrus/bin/imapd").exists() && r.join("usr/sbin/cyrmaster").exists()
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "Cyrus IMAP is required in CI (unpacked by .ci/run under /opt/pochta-cyrus)"
        );
        eprintln!(
            "skipping: Cyrus IMAP not found (set POCHTA_CYRUS_ROOT to an unpacked cyrus-imapd + cyrus-common)"
        );
    }
    found
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cyrus {
    fn start() -> Option<Cyrus> {
        let root = cyrus_root()?;
        let dir = tempfile::Builder::new()
            .prefix("pochta-cyrus-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        for sub in ["conf", "spool", "sock"] {
            std::fs::create_dir_all(d.join(sub)).expect("mkdir");
        }
        let port = free_ports(1)[0];
        let bin = root.join("usr/lib/cyrus/bin");
        let user = if is_root() {
            "mail".to_owned()
        } else {
            std::env::var("USER").unwrap_or_else(|_| "nobody".into())
        };
        let p = |x: &Path| x.display().to_string();
        std::fs::write(
            d.join("imapd.conf"),
            format!(
                "configdirectory: {}\npartition-default: {}\nadmins: cyrus\n\
                 sasl_pwcheck_method: alwaystrue\nsasl_mech_list: PLAIN\nallowplaintext: yes\n\
                 cyrus_user: {user}\nunixhierarchysep: no\naltnamespace: no\n\
                 lmtpsocket: {s}/lmtp\nidlesocket: {s}/idle\nnotifysocket: {s}/notify\n",
                p(&d.join("conf")),
                p(&d.join("spool")),
                s = p(&d.join("sock")),
            ),
        )
        .expect("imapd.conf");
        let conf = d.join("imapd.conf");
        std::fs::write(
            d.join("cyrus.conf"),
            format!(
                "START {{\n  recover cmd=\"{} -r -C {}\"\n}}\nSERVICES {{\n  imap cmd=\"{} -C {}\" listen=\"127.0.0.1:{port}\" prefork=0\n}}\nEVENTS {{\n}}\n",
                p(&bin.join("ctl_cyrusdb")),
                p(&conf),
                p(&bin.join("imapd")),
                p(&conf)
            ),
        )
        .expect("cyrus.conf");
        if is_root() {
            let _ = Command::new("chown").args(["-R", "mail"]).arg(d).status();
        }
        let child = Command::new(root.join("usr/sbin/cyrmaster"))
            .arg("-C")
            .arg(&conf)
            .arg("-M")
            .arg(d.join("cyrus.conf"))
            .arg("-D")
            .env("LD_LIBRARY_PATH", root.join("usr/lib/x86_64-linux-gnu"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start cyrmaster");
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        assert!(
            wait_for_port(addr, Duration::from_secs(30)),
            "Cyrus did not start"
        );
        Some(Cyrus {
            child,
            port,
            _dir: dir,
        })
    }

    fn url(&self) -> String {
        format!("imap://127.0.0.1:{}?tls=none", self.port)
    }
}

struct Seeded {
    remote: &'static str,
    local: &'static str,
    flags: &'static [&'static str],
    date: MailDate,
    body: Vec<u8>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cyrus_source_imports_exactly() {
    let Some(cyrus) = Cyrus::start() else { return };
    let url = SourceUrl::parse(&cyrus.url()).expect("url");
    // The admin creates the user's INBOX.
    let mut admin = ImapClient::connect(&url, false).await.expect("connect");
    admin.login("cyrus", "x").await.expect("admin login");
    admin.create("user.remote").await.expect("create user");
    admin.logout().await;

    let date = |unix: i64, offset_minutes: i16| MailDate {
        unix,
        offset_minutes,
    };
    let seeded = vec![
        Seeded {
            remote: "INBOX",
            local: "INBOX",
            flags: &["\\Seen", "$Label1"],
            date: date(1_704_056_400, 180),
            body: b"From: a@example.net\r\nSubject: one\r\n\r\nbody 1\r\n".to_vec(),
        },
        Seeded {
            remote: "INBOX",
            local: "INBOX",
            flags: &["\\Flagged", "\\Answered"],
            date: date(1_600_000_000, -300),
            body: "From: b@example.net\r\nSubject: =?utf-8?b?0L/RgNC40LLQtdGC?=\r\n\r\nПривет\r\n"
                .as_bytes()
                .to_vec(),
        },
        Seeded {
            remote: "INBOX.Папка",
            local: "INBOX/Папка",
            flags: &["\\Seen", "Work"],
            date: date(1_500_000_000, 0),
            body: b"From: c@example.net\r\nSubject: folder\r\n\r\nbody 3\r\n".to_vec(),
        },
        Seeded {
            remote: "INBOX.Папка.Вложенная",
            local: "INBOX/Папка/Вложенная",
            flags: &["\\Draft"],
            date: date(1_400_000_000, 600),
            body: b"From: d@example.net\r\nSubject: nested\r\n\r\nbody 4\r\n".to_vec(),
        },
    ];
    let mut c = ImapClient::connect(&url, false).await.expect("connect");
    c.login("remote", "x").await.expect("login");
    for f in ["INBOX.Папка", "INBOX.Папка.Вложенная"] {
        c.create(&mutf7::encode(f)).await.expect("create");
    }
    for s in &seeded {
        c.append(&mutf7::encode(s.remote), s.flags, Some(s.date), &s.body)
            .await
            .expect("append");
    }
    c.logout().await;

    let port = free_ports(1)[0];
    let dir = TestDir::new(&[("imap", port)], "[auth]\nplaintext = \"always\"\n");
    dir.add_user(LOCAL, LOCAL_PASS);
    let o = dir.cli(&[
        "collect",
        "add",
        LOCAL,
        &cyrus.url(),
        "--user",
        "remote",
        "--password",
        "x",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = dir.cli(&["collect", "run", LOCAL, "--once"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(" 4 new messages"), "{}", stdout(&o));
    let o = dir.cli(&["collect", "run", LOCAL, "--once"]);
    assert!(stdout(&o).contains(" 0 new messages"), "{}", stdout(&o));
    let status = stdout(&dir.cli(&["collect", "status", LOCAL]));
    let _srv = TestServer::start_in(dir, vec![("imap", port)]);
    for local in ["INBOX", "INBOX/Папка", "INBOX/Папка/Вложенная"] {
        let mut want: Vec<_> = seeded
            .iter()
            .filter(|s| s.local == local)
            .map(|s| {
                let mut flags: Vec<String> = s.flags.iter().map(|f| f.to_string()).collect();
                flags.sort();
                (flags, s.date.unix, s.body.clone())
            })
            .collect();
        want.sort_by(|a, b| a.2.cmp(&b.2));
        assert_eq!(
            local_messages(port, LOCAL, LOCAL_PASS, local).await,
            want,
            "{local}\n{status}"
        );
    }
}
