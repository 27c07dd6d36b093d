//! A throwaway Dovecot (Debian's dovecot-imapd + dovecot-pop3d) on 127.0.0.1 for tests: temp
//! directories, free ports, one passwd-file user, special-use folders declared, `.` as the
//! hierarchy separator (Maildir++), plain-text login allowed on loopback.
//!
//! Same approach as bench/dovecot (a generated config, nothing under /etc/dovecot read), kept
//! here so tests do not depend on bench/ paths. Works as root (mail processes run as `mail`)
//! or unprivileged (everything runs as the invoking user).
//!
//! `Dovecot::start()` returns `None` (skip) when dovecot is not installed, and panics instead
//! under CI (`CI` set), where .ci/run installs it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const USER: &str = "remote@example.net";
pub const PASSWORD: &str = "Remote-Pass-1";

pub struct Dovecot {
    pub dir: tempfile::TempDir,
    pub imap_port: u16,
    pub pop3_port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn id(args: &[&str]) -> String {
    let o = Command::new("id").args(args).output().expect("id");
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn installed() -> bool {
    let found = [
        "/usr/sbin/dovecot",
        "/usr/lib/dovecot/pop3",
        "/usr/lib/dovecot/imap",
    ]
    .iter()
    .all(|p| Path::new(p).exists());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "dovecot-imapd and dovecot-pop3d are required in CI (installed by .ci/run)"
        );
        eprintln!("skipping: dovecot-imapd/dovecot-pop3d not installed");
    }
    found
}

impl Dovecot {
    pub fn start() -> Option<Dovecot> {
        if !installed() {
            return None;
        }
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start() {
                Ok(d) => return Some(d),
                Err(e) => last = e,
            }
        }
        panic!("dovecot did not start:\n{last}");
    }

    fn try_start() -> Result<Dovecot, String> {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("pochta-dovecot-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let root = dir.path();
        for sub in ["run", "state", "log", "mail"] {
            std::fs::create_dir_all(root.join(sub)).map_err(|e| e.to_string())?;
        }
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
        let (imap_port, pop3_port) = (free_port(), free_port());
        let is_root = id(&["-u"]) == "0";
        let (uid, gid, users) = if is_root {
            let (u, g) = (id(&["-u", "mail"]), id(&["-g", "mail"]));
            let st = Command::new("chown")
                .args(["-R", "mail:mail"])
                .arg(root.join("mail"))
                .status()
                .map_err(|e| e.to_string())?;
            assert!(st.success());
            (u, g, String::new())
        } else {
            let (me, grp) = (id(&["-un"]), id(&["-gn"]));
            (
                id(&["-u"]),
                id(&["-g"]),
                format!(
                    "default_internal_user = {me}\ndefault_internal_group = {grp}\ndefault_login_user = {me}\n"
                ),
            )
        };
        let users_file = root.join("users");
        std::fs::write(&users_file, format!("{USER}:{{PLAIN}}{PASSWORD}\n"))
            .map_err(|e| e.to_string())?;
        std::fs::set_permissions(&users_file, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| e.to_string())?;
        let r = root.display();
        let conf = format!(
            r#"protocols = imap pop3
listen = 127.0.0.1
instance_name = pochta-test-{imap_port}
base_dir = {r}/run
state_dir = {r}/state
log_path = {r}/log/dovecot.log
info_log_path = {r}/log/dovecot-info.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{r}/mail/%u/Maildir
pop3_uidl_format = %08Xu%08Xv
{users}first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = 0
namespace inbox {{
  inbox = yes
  separator = .
  mailbox Sent {{
    special_use = \Sent
  }}
  mailbox Drafts {{
    special_use = \Drafts
  }}
  mailbox Trash {{
    special_use = \Trash
  }}
  mailbox Spam {{
    special_use = \Junk
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {users_file}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={r}/mail/%u
}}
"#,
            users_file = users_file.display()
        );
        let conf_path = root.join("dovecot.conf");
        std::fs::write(&conf_path, conf).map_err(|e| e.to_string())?;
        let st = Command::new("/usr/sbin/dovecot")
            .arg("-c")
            .arg(&conf_path)
            .status()
            .map_err(|e| e.to_string())?;
        let d = Dovecot {
            dir,
            imap_port,
            pop3_port,
        };
        if !st.success() {
            return Err(format!("dovecot exited with {st}: {}", d.log()));
        }
        let end = Instant::now() + Duration::from_secs(15);
        for port in [imap_port, pop3_port] {
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if Instant::now() > end {
                    return Err(format!("port {port} never opened: {}", d.log()));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(d)
    }

    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("dovecot.conf")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log/dovecot.log")).unwrap_or_default()
    }

    pub fn imap_url(&self) -> String {
        format!("imap://127.0.0.1:{}", self.imap_port)
    }

    pub fn pop3_url(&self) -> String {
        format!("pop3://127.0.0.1:{}", self.pop3_port)
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.dir.path().join("run/master.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        let _ = Command::new("doveadm")
            .arg("-c")
            .arg(self.conf())
            .arg("stop")
            .output();
        if let Some(pid) = pid {
            let end = Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
