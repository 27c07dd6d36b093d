//! Courier IMAP 5.0 (Debian) as a source, on loopback, through the binary: nested Cyrillic
//! folders under its `INBOX.` namespace, flags, keywords, dates; the import is checked exact
//! through Pochta's own IMAP (crates/pochta/tests/sources).
//!
//! Courier conflicts with dovecot-imapd as a package, so .ci/run unpacks courier-imap,
//! courier-base and courier-authlib(-userdb, -authdaemon) with `dpkg -x` under
//! /opt/pochta-courier (`POCHTA_COURIER_ROOT`) and installs only their libraries. Its
//! programs have `/etc/courier`, `/usr/lib/courier-authlib` and `/run/courier` compiled in,
//! so the server runs in private mount and PID namespaces (`unshare -m -p -f`, as root):
//! read-only overlays put the test's `/etc/courier` (authdaemonrc, a userdb with one user)
//! over `/etc` and the unpacked tree over `/usr`, a tmpfs is its `/run`; nothing on the
//! system changes, and killing `unshare` ends every Courier process (the namespace's init
//! dies). authdaemond (module authuserdb) checks the password; couriertcpd runs imaplogin
//! and imapd per connection, as the `mail` user. Skipped locally when Courier is not there
//! or not root, a failure under CI.

mod common;
mod sources;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use pochta_collector::SourceUrl;
use pochta_collector::imap::ImapClient;

const PASSWORD: &str = "Courier-Pass-1";

/// Runs in the namespaces: $1 the unpacked root, $2 the test's directory, $3 the port.
const START: &str = r#"set -e
R=$1; T=$2; P=$3
mount -t overlay overlay -o lowerdir=$T/etc:/etc /etc
mount --bind $T/etc/courier /etc/courier
mount -t overlay overlay -o lowerdir=$R/usr:/usr /usr
mount -t tmpfs tmpfs /run
mkdir -p /run/courier/authdaemon
/usr/sbin/makeuserdb
/usr/lib/courier/courier-authlib/authdaemond >$T/authdaemond.log 2>&1 &
i=0; while [ ! -S /run/courier/authdaemon/socket ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
exec env -i PATH=/usr/bin:/bin IMAP_KEYWORDS=1 IMAP_ACL=1 IMAP_USELOCKS=1 \
  IMAP_CAPABILITY="IMAP4rev1 UIDPLUS CHILDREN NAMESPACE" IMAP_EMPTYTRASH= \
  IMAP_MAILBOX_SANITY_CHECK=1 IMAP_ENHANCEDIDLE=0 MAILDIRPATH=Maildir \
  /usr/sbin/couriertcpd -address=127.0.0.1 -nodnslookup -noidentlookup -stderr=$T/imapd.log \
  $P /usr/lib/courier/courier/imaplogin /usr/bin/imapd Maildir
"#;

struct Courier {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Courier {
    fn drop(&mut self) {
        // unshare --kill-child: its child, init of the PID namespace, gets SIGKILL, and with
        // it every process in the namespace.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn courier_root() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("POCHTA_COURIER_ROOT").map(PathBuf::from),
        Some(PathBuf::from("/opt/pochta-courier")),
    ];
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let found = candidates.into_iter().flatten().find(|r| {
        [
            "usr/sbin/couriertcpd",
            "usr/bin/imapd",
            "usr/lib/courier/courier/imaplogin",
            "usr/lib/courier/courier-authlib/authdaemond",
            "usr/lib/courier-authlib/libauthuserdb.so",
            "usr/sbin/makeuserdb",
        ]
        .iter()
        .all(|p| r.join(p).exists())
    });
    if found.is_none() || !is_root {
        assert!(
            std::env::var_os("CI").is_none(),
            "Courier IMAP is required in CI (unpacked by .ci/run under /opt/pochta-courier; run as root)"
        );
        eprintln!(
            "skipping: Courier IMAP not found or not root (set POCHTA_COURIER_ROOT to an unpacked courier-imap, courier-base, courier-authlib, courier-authlib-userdb, courier-authdaemon)"
        );
        return None;
    }
    found
}

impl Courier {
    fn start() -> Option<Courier> {
        let root = courier_root()?;
        let dir = tempfile::Builder::new()
            .prefix("pochta-courier-")
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        let etc = d.join("etc/courier");
        std::fs::create_dir_all(&etc).expect("mkdir");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o711)).expect("chmod");
        std::fs::write(
            etc.join("authdaemonrc"),
            "authmodulelist=\"authuserdb\"\ndaemons=1\nauthdaemonvar=/run/courier/authdaemon\n\
             DEBUG_LOGIN=0\nDEFAULTOPTIONS=\"\"\nLOGGEROPTS=\"\"\n",
        )
        .expect("authdaemonrc");
        // The mailbox: a Maildir owned by `mail`, where imapd runs.
        let home = d.join("home");
        for sub in ["Maildir/cur", "Maildir/new", "Maildir/tmp"] {
            std::fs::create_dir_all(home.join(sub)).expect("maildir");
        }
        let ok = Command::new("chown")
            .args(["-R", "mail:mail"])
            .arg(&home)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "chown the Maildir to mail");
        let uid = |flag: &str| {
            let o = Command::new("id")
                .args([flag, "mail"])
                .output()
                .expect("id");
            String::from_utf8_lossy(&o.stdout).trim().to_owned()
        };
        let hash = Command::new("openssl")
            .args(["passwd", "-1", PASSWORD])
            .output()
            .expect("openssl passwd");
        let hash = String::from_utf8_lossy(&hash.stdout).trim().to_owned();
        assert!(hash.starts_with("$1$"), "openssl passwd: {hash:?}");
        let userdb = etc.join("userdb");
        std::fs::write(
            &userdb,
            format!(
                "remote\tuid={}|gid={}|home={h}|mail={h}/Maildir|systempw={hash}\n",
                uid("-u"),
                uid("-g"),
                h = home.display()
            ),
        )
        .expect("userdb");
        std::fs::set_permissions(&userdb, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let port = free_ports(1)[0];
        let child = Command::new("unshare")
            .args([
                "-m",
                "-p",
                "-f",
                "--kill-child",
                "sh",
                "-c",
                START,
                "courier",
            ])
            .arg(&root)
            .arg(d)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("start.log")).expect("log"))
            .spawn()
            .expect("start unshare");
        let mut c = Courier { child, port, dir };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        if !wait_for_port(addr, Duration::from_secs(30)) {
            let _ = c.child.try_wait();
            panic!("Courier did not start:\n{}", c.logs());
        }
        Some(c)
    }

    fn url(&self) -> String {
        format!("imap://127.0.0.1:{}?tls=none", self.port)
    }

    fn logs(&self) -> String {
        ["start.log", "authdaemond.log", "imapd.log"]
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
                format!("== {f}\n{text}")
            })
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn courier_source_imports_exactly() {
    let Some(courier) = Courier::start() else {
        return;
    };
    let url = SourceUrl::parse(&courier.url()).expect("url");
    let mut c = ImapClient::connect(&url, false).await.expect("connect");
    if let Err(e) = c.login("remote", PASSWORD).await {
        panic!("login to Courier: {e}\n{}", courier.logs());
    }
    let seeded = sources::seed(c).await;
    // Courier's personal namespace is `INBOX.` (NAMESPACE): the local names are without it.
    sources::import_and_check(&courier.url(), "remote", PASSWORD, &seeded).await;
}
