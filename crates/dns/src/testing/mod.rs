//! A real authoritative DNS server for tests (feature `testing`): `authdns.py`, a few dozen
//! lines over Python's `dnslib`, serving a zone the test writes, on a free loopback port (UDP
//! and TCP), logging every query it receives so tests can count them.
//!
//! Locally a missing `python3` or `dnslib` skips the test (with a message); under CI (`CI`
//! set, `.ci/run` installs dnslib) it is a failure.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

const SCRIPT: &str = include_str!("authdns.py");

/// A running `authdns.py`; stopped when dropped.
pub struct TestDnsServer {
    child: Child,
    /// Where it listens (UDP and TCP).
    pub addr: SocketAddr,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// Whether `python3` with `dnslib` is here (see the module notes).
pub fn available() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import dnslib"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3 with dnslib is required in CI (installed by .ci/run)"
        );
        eprintln!("skipping: python3 with dnslib (PyPI) is not installed");
    }
    found
}

impl TestDnsServer {
    /// Serves `zone` (master-file text with absolute names); `None` when the tools are
    /// missing locally (see [`available`]).
    pub fn start(zone: &str) -> Option<TestDnsServer> {
        if !available() {
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let script = dir.path().join("authdns.py");
        let zone_file = dir.path().join("zone.txt");
        let log = dir.path().join("queries.log");
        std::fs::write(&script, SCRIPT).expect("write script");
        std::fs::write(&zone_file, zone).expect("write zone");
        std::fs::write(&log, "").expect("create log");
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(&zone_file)
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start authdns.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read READY");
        let port: u16 = match line.trim().strip_prefix("READY ") {
            Some(p) => p.parse().expect("port"),
            None => {
                let _ = child.kill();
                panic!("authdns.py did not start: {line:?}");
            }
        };
        Some(TestDnsServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
            _dir: dir,
        })
    }

    /// Every query received so far, as `"<name> <TYPE> <udp|tcp>"` (name lower-cased, with
    /// the trailing dot).
    pub fn queries(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// How many queries for `name` (any case, dot optional) and `qtype` (e.g. `"TXT"`) arrived,
    /// over UDP and TCP together.
    pub fn count(&self, name: &str, qtype: &str) -> usize {
        let name = crate::fqdn(name);
        self.queries()
            .iter()
            .filter(|l| {
                let mut f = l.split(' ');
                f.next() == Some(name.as_str()) && f.next() == Some(qtype)
            })
            .count()
    }
}

impl Drop for TestDnsServer {
    fn drop(&mut self) {
        // Closing stdin ends it; kill in case it does not notice.
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.flush();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
