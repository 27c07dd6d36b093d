//! A throwaway PostgreSQL cluster for tests (cargo feature `testing`).
//!
//! [`Cluster::start`] runs `initdb` and `postgres` from PostgreSQL 15's binaries
//! (`/usr/lib/postgresql/15/bin`, or `$POCHTA_PG_BIN`) in a temporary directory, with
//! `fsync=off`, listening on 127.0.0.1 on a free port and on a unix socket in that directory.
//! `initdb` refuses to run as root, so as root both run as the `postgres` user (`setpriv`)
//! with the directory handed to it. The cluster stops (immediate shutdown) and its directory
//! goes when the [`Cluster`] is dropped; a watchdog process also stops it if the test
//! process dies first (a panic in a static, a kill), so no cluster outlives its test run.
//! [`shared`] is one cluster per test process; [`Cluster::database`] makes a fresh database
//! in it per test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A running throwaway cluster.
#[derive(Debug)]
pub struct Cluster {
    dir: tempfile::TempDir,
    port: u16,
    postmaster: Child,
    watchdog: Option<Child>,
    next_db: AtomicU32,
}

fn bin_dir() -> PathBuf {
    std::env::var_os("POCHTA_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

/// Whether PostgreSQL's server binaries are installed (tests that need them say so).
pub fn available() -> bool {
    bin_dir().join("initdb").exists() && bin_dir().join("postgres").exists()
}

fn is_root() -> bool {
    // The effective uid, without unsafe: /proc/self/status "Uid: real effective ...".
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A command run as the `postgres` user when we are root, else as ourselves.
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ]);
        c.arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Cluster {
    /// `initdb` + `postgres` in a new temporary directory; returns once it accepts
    /// connections. Panics (test helper) when it cannot.
    pub fn start() -> Cluster {
        Self::start_with_fsync(false)
    }

    /// Like [`Self::start`], with `fsync` and `full_page_writes` as asked (on: commits are
    /// durable as in production, for measurements).
    pub fn start_with_fsync(fsync: bool) -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("pochta-pg-")
            .tempdir()
            .expect("temp dir");
        if is_root() {
            let ok = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown runs")
                .success();
            assert!(ok, "chown of the cluster directory failed");
        }
        let data = dir.path().join("data");
        let out = as_owner(&bin_dir().join("initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("postgres.log")).expect("log file");
        let postmaster = as_owner(&bin_dir().join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-c", if fsync { "fsync=on" } else { "fsync=off" }])
            .args([
                "-c",
                if fsync {
                    "full_page_writes=on"
                } else {
                    "full_page_writes=off"
                },
            ])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "max_connections=300"])
            .args(["-c", "shared_buffers=32MB"])
            .args(["-p", &port.to_string()])
            .arg("-k")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("postgres starts");
        // Stops the cluster if this process dies without dropping it.
        let script = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill -QUIT {pm} 2>/dev/null; \
             sleep 1; rm -rf '{dir}'",
            me = std::process::id(),
            pm = postmaster.id(),
            dir = dir.path().display()
        );
        let watchdog = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        let mut c = Cluster {
            dir,
            port,
            postmaster,
            watchdog,
            next_db: AtomicU32::new(0),
        };
        c.wait_ready();
        c
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.postmaster.try_wait() {
                panic!(
                    "postgres exited ({status}): {}",
                    std::fs::read_to_string(self.dir.path().join("postgres.log"))
                        .unwrap_or_default()
                );
            }
            let url = self.url("postgres");
            if crate::bridge(move || postgres::Client::connect(&url, postgres::NoTls).is_ok()) {
                return;
            }
            assert!(Instant::now() < deadline, "postgres did not start in 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The TCP port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` (user `postgres`, trust authentication).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates a fresh, empty database and returns its URL.
    pub fn database(&self) -> String {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}_{n}", std::process::id());
        let url = self.url("postgres");
        let sql = format!("CREATE DATABASE {name}");
        crate::bridge(move || {
            let mut admin = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
            admin.batch_execute(&sql).expect("create database");
        });
        self.url(&name)
    }

    /// Where the cluster lives (its `postgres.log` is there).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SIGQUIT: immediate shutdown (nothing here needs to survive).
        let _ = Command::new("kill")
            .args(["-QUIT", &self.postmaster.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.postmaster.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

/// One cluster for the whole test process, started on first use (its watchdog stops it
/// when the process ends).
pub fn shared() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(Cluster::start)
}
