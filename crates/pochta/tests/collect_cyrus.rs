//! Cyrus IMAP 3.6 (Debian) as a source, on loopback, through the binary: nested Cyrillic
//! folders, flags, keywords, dates; the import is checked exact through Pochta's own IMAP.
//!
//! Cyrus conflicts with dovecot-imapd as a package, so .ci/run unpacks it (`apt-get download`,
//! then `dpkg -x`) under /opt/pochta-cyrus (`POCHTA_CYRUS_ROOT`); a system install works too.
//! Its config is generated in a temporary directory: `alwaystrue` password check, the
//! `INBOX.`-style namespace (`unixhierarchysep: no`, `altnamespace: no`), which the collector
//! drops from local names (from NAMESPACE's personal prefix). Skipped locally
//! when Cyrus is not there, a failure under CI.

mod common;
mod sources;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use pochta_collector::SourceUrl;
use pochta_collector::imap::ImapClient;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cyrus_source_imports_exactly() {
    let Some(cyrus) = Cyrus::start() else { return };
    let url = SourceUrl::parse(&cyrus.url()).expect("url");
    // The admin creates the user's INBOX.
    let mut admin = ImapClient::connect(&url, false).await.expect("connect");
    admin.login("cyrus", "x").await.expect("admin login");
    admin.create("user.remote").await.expect("create user");
    admin.logout().await;

    let mut c = ImapClient::connect(&url, false).await.expect("connect");
    c.login("remote", "x").await.expect("login");
    let seeded = sources::seed(c).await;
    // Cyrus's personal namespace is `INBOX.` (NAMESPACE): the local names are without it.
    sources::import_and_check(&cyrus.url(), "remote", "x", &seeded).await;
}
