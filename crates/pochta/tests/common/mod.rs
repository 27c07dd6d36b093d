//! Shared helpers for tests that drive the real `pochta` binary.
//!
//! Use from a test file with `mod common;`. The main entry point is [`TestServer::start`]:
//! a temporary directory with a config whose listeners sit on free 127.0.0.1 ports, a running
//! `pochta serve`, and helpers to connect (plain, implicit TLS, STARTTLS) and to run admin
//! commands against the same data directory.
//!
//! Free ports are found by binding port 0 and releasing it, so another process could take one
//! in between; `start` retries with new ports if the server exits during startup.
#![allow(dead_code)]

use std::fs;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_pochta");

/// The hostname written into test configs (it appears in greetings).
pub const HOSTNAME: &str = "pochta.test";

/// Every listener, in `[listen]` order.
pub const ALL_LISTENERS: [&str; 7] = [
    "imap",
    "imaps",
    "pop3",
    "pop3s",
    "smtp",
    "submission",
    "submissions",
];

/// Runs `pochta ARGS` to completion (stdin empty).
pub fn run(args: &[&str]) -> Output {
    run_with_stdin(args, "")
}

/// Runs `pochta ARGS` with `input` on stdin.
pub fn run_with_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(BIN)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn pochta");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    child.wait_with_output().expect("wait for pochta")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `n` distinct free TCP ports on 127.0.0.1 (all held at once while choosing, so they differ).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind port 0"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// Polls until something accepts on `addr`, up to `limit`.
pub fn wait_for_port(addr: SocketAddr, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// A config directory (temporary) with a `pochta.toml`.
pub struct TestDir {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl TestDir {
    /// Writes a config with the given `[listen]` entries (name, port) and extra TOML appended
    /// (e.g. an `[auth]` or `[limits]` table).
    pub fn new(listeners: &[(&str, u16)], extra: &str) -> TestDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("pochta.toml");
        let mut text = format!("hostname = \"{HOSTNAME}\"\ndata_dir = \"data\"\n[listen]\n");
        for (name, port) in listeners {
            text.push_str(&format!("{name} = [\"127.0.0.1:{port}\"]\n"));
        }
        text.push_str(extra);
        fs::write(&config, text).expect("write config");
        TestDir { dir, config }
    }

    /// A config with no listeners, for admin-command tests.
    pub fn empty() -> TestDir {
        TestDir::new(&[], "")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs `pochta --config <this config> ARGS`.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_stdin(args, "")
    }

    pub fn cli_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let config = self.config.to_string_lossy().into_owned();
        let mut all = vec!["--config", config.as_str()];
        all.extend_from_slice(args);
        run_with_stdin(&all, input)
    }

    /// `pochta user add ADDRESS --password PASSWORD`, asserting success.
    pub fn add_user(&self, address: &str, password: &str) {
        let o = self.cli(&["user", "add", address, "--password", password]);
        assert!(o.status.success(), "user add failed: {}", stderr(&o));
    }
}

/// A running `pochta serve` on free ports.
pub struct TestServer {
    pub dir: TestDir,
    pub child: Child,
    /// (listener name, port) for every configured listener.
    pub ports: Vec<(&'static str, u16)>,
}

impl TestServer {
    /// All seven listeners.
    pub fn start() -> TestServer {
        Self::start_with(&ALL_LISTENERS, "")
    }

    /// The given listeners, with `extra` TOML appended to the config.
    pub fn start_with(listeners: &[&'static str], extra: &str) -> TestServer {
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let ports: Vec<(&'static str, u16)> = listeners
                .iter()
                .copied()
                .zip(free_ports(listeners.len()))
                .collect();
            let dir = TestDir::new(&ports, extra);
            let mut server = Self::spawn(dir, ports);
            match server.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return server,
                Err(log) => last_log = log,
            }
        }
        panic!("pochta serve did not start:\n{last_log}");
    }

    /// Starts `pochta serve` on an existing directory (e.g. after adding users), waiting for
    /// every listener.
    pub fn start_in(dir: TestDir, ports: Vec<(&'static str, u16)>) -> TestServer {
        let mut server = Self::spawn(dir, ports);
        if let Err(log) = server.wait_ready(Duration::from_secs(30)) {
            panic!("pochta serve did not start:\n{log}");
        }
        server
    }

    /// Like [`Self::start_in`], with extra environment variables for the server.
    pub fn start_in_with_env(
        dir: TestDir,
        ports: Vec<(&'static str, u16)>,
        env: &[(&str, &str)],
    ) -> TestServer {
        let mut server = Self::spawn_with_env(dir, ports, env);
        if let Err(log) = server.wait_ready(Duration::from_secs(30)) {
            panic!("pochta serve did not start:\n{log}");
        }
        server
    }

    fn spawn(dir: TestDir, ports: Vec<(&'static str, u16)>) -> TestServer {
        Self::spawn_with_env(dir, ports, &[])
    }

    fn spawn_with_env(
        dir: TestDir,
        ports: Vec<(&'static str, u16)>,
        env: &[(&str, &str)],
    ) -> TestServer {
        let log = fs::File::create(dir.dir.path().join("server.log")).expect("create log");
        let child = Command::new(BIN)
            .arg("--config")
            .arg(&dir.config)
            .arg("serve")
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn pochta serve");
        TestServer { dir, child, ports }
    }

    /// Waits until every port accepts; on failure returns the server log.
    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let end = Instant::now() + limit;
        for (_, port) in self.ports.clone() {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            loop {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Err(format!("exited with {status}\n{}", self.log()));
                }
                if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    break;
                }
                if Instant::now() > end {
                    let _ = self.child.kill();
                    return Err(format!("port {port} never opened\n{}", self.log()));
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        Ok(())
    }

    pub fn port(&self, listener: &str) -> u16 {
        self.ports
            .iter()
            .find(|(n, _)| *n == listener)
            .map(|(_, p)| *p)
            .unwrap_or_else(|| panic!("listener {listener} is not configured"))
    }

    pub fn addr(&self, listener: &str) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port(listener)))
    }

    /// The server's log (stderr) so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The self-signed certificate the server generated.
    pub fn cert(&self) -> PathBuf {
        self.dir.data_dir().join("cert.pem")
    }

    /// Runs an admin command against the running server's config and data.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.dir.cli(args)
    }

    /// A plain TCP connection to `listener`, buffered for line reads.
    pub async fn connect(&self, listener: &str) -> BufReader<TcpStream> {
        BufReader::new(
            TcpStream::connect(self.addr(listener))
                .await
                .expect("connect"),
        )
    }

    /// An implicit-TLS connection to `listener`, verifying the generated certificate.
    pub async fn connect_tls(&self, listener: &str) -> BufReader<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr(listener))
            .await
            .expect("connect");
        BufReader::new(tls_handshake(&self.cert(), tcp).await)
    }

    /// Sends SIGTERM and waits up to `limit` for the exit status.
    pub fn sigterm(&mut self, limit: Duration) -> Option<ExitStatus> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A TLS client configuration trusting only the PEM certificate at `cert`.
pub fn connector(cert: &Path) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).expect("read cert") {
        roots.add(c.expect("parse cert")).expect("add root");
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(cfg))
}

/// Runs a client TLS handshake for `localhost` over `tcp`, trusting `cert`.
pub async fn tls_handshake(cert: &Path, tcp: TcpStream) -> TlsStream<TcpStream> {
    let name = ServerName::try_from("localhost").expect("server name");
    tokio::time::timeout(Duration::from_secs(10), connector(cert).connect(name, tcp))
        .await
        .expect("TLS handshake timed out")
        .expect("TLS handshake")
}

/// Reads one line (CRLF included), failing the test after 10 s.
pub async fn read_line<S: AsyncRead + Unpin>(r: &mut BufReader<S>) -> String {
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut line))
        .await
        .expect("timed out waiting for a line")
        .expect("read line");
    line
}

/// Reads lines until one starts with `prefix` (inclusive); returns them all.
pub async fn read_until<S: AsyncRead + Unpin>(r: &mut BufReader<S>, prefix: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let l = read_line(r).await;
        assert!(!l.is_empty(), "connection closed; got so far: {lines:?}");
        let done = l.starts_with(prefix);
        lines.push(l);
        if done {
            return lines;
        }
    }
}

/// Writes `s` and flushes.
pub async fn send<S: AsyncRead + AsyncWrite + Unpin>(w: &mut BufReader<S>, s: &str) {
    w.get_mut().write_all(s.as_bytes()).await.expect("write");
    w.get_mut().flush().await.expect("flush");
}

/// Whether an external tool the interop tests drive is installed. Locally a missing tool
/// skips the test (with a message); under CI (`CI` set, tools installed by `.ci/run`) it is a
/// failure, so CI can never pass without running the interop tests.
pub fn tool_available(name: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} is required in CI (installed by .ci/run)"
        );
        eprintln!("skipping: {name} is not installed");
    }
    found
}

/// Like [`tool_available`] for a Python module (e.g. IMAPClient from PyPI).
pub fn python_module_available(module: &str) -> bool {
    if !tool_available("python3") {
        return false;
    }
    let found = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "Python module {module} is required in CI (installed by .ci/run)"
        );
        eprintln!("skipping: Python module {module} is not installed");
    }
    found
}

/// Runs `tests/interop/SCRIPT` with python3 and `args`, and asserts it exited 0 and printed
/// `ok_line`; on failure the message shows the script's output and the server's log.
pub fn run_interop_script(server: &TestServer, script: &str, args: &[String], ok_line: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop")
        .join(script);
    let out = Command::new("python3")
        .arg(path)
        .args(args)
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(ok_line),
        "{script} failed:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
}

/// A process's resident memory in KiB (`VmRSS` of `/proc/PID/status`); 0 if unreadable.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Peak resident memory (`VmHWM` of `/proc/PID/status`) in KiB; 0 once the process is gone.
pub fn hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Samples a process's VmRSS every 20 ms, on a thread, until [`RssSampler::peak`].
pub struct RssSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        use std::sync::atomic::Ordering;
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut peak = 0;
                while !stop.load(Ordering::SeqCst) {
                    peak = peak.max(rss_kib(pid));
                    std::thread::sleep(Duration::from_millis(20));
                }
                peak
            })
        };
        RssSampler { stop, thread }
    }

    /// Stops sampling; the highest VmRSS seen, in KiB.
    pub fn peak(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        self.thread.join().expect("sampler thread")
    }
}

/// `pochta collect add USER URL --user old --password-stdin`, asserting success.
pub fn collect_add(dir: &TestDir, user: &str, url: &str) {
    let o = dir.cli_with_stdin(
        &[
            "collect",
            "add",
            user,
            url,
            "--user",
            "old",
            "--password-stdin",
        ],
        "old-password\n",
    );
    assert!(
        o.status.success(),
        "collect add {user} {url}: {}{}",
        stdout(&o),
        stderr(&o)
    );
}

/// `pochta collect run USER --once` as a child process whose peak resident memory (VmHWM)
/// is watched, and killed when it passes a bound.
pub struct CollectRun {
    pub child: Child,
    /// The highest VmHWM read so far, in KiB.
    pub peak_kib: u64,
}

impl CollectRun {
    pub fn start(dir: &TestDir, user: &str) -> CollectRun {
        let child = Command::new(BIN)
            .arg("--config")
            .arg(&dir.config)
            .args(["collect", "run", user, "--once"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn pochta collect run");
        CollectRun { child, peak_kib: 0 }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reads VmHWM every 20 ms until the process exits (true) or `until` holds (false). Panics
    /// (the process killed) when the peak passes `bound_kib` or after `limit`. Growth in the
    /// last 20 ms before the process exits can be missed.
    pub fn watch(
        &mut self,
        bound_kib: u64,
        limit: Duration,
        mut until: impl FnMut() -> bool,
    ) -> bool {
        let end = Instant::now() + limit;
        loop {
            if self.child.try_wait().expect("wait").is_some() {
                return true;
            }
            self.peak_kib = self.peak_kib.max(hwm_kib(self.pid()));
            let over = self.peak_kib > bound_kib;
            if over || Instant::now() > end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "pochta collect run: peak VmHWM {} KiB (bound {bound_kib} KiB){}",
                    self.peak_kib,
                    if over { "" } else { "; timed out" }
                );
            }
            if until() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process if it still runs; whether it succeeded, and stdout and stderr.
    pub fn finish(mut self) -> (bool, String) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let out = self.child.wait_with_output().expect("collect run output");
        (
            out.status.success(),
            format!("{}{}", stdout(&out), stderr(&out)),
        )
    }
}

/// [`rss_kib`] once the process has settled: the least of five readings 200 ms apart.
pub fn settled_rss_kib(pid: u32) -> u64 {
    (0..5)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(200));
            rss_kib(pid)
        })
        .min()
        .unwrap_or(0)
}

/// One SMTP reply, all its lines (`250-…` continuations up to the last), from a blocking
/// connection; what was read so far if the connection ends.
pub fn smtp_reply(r: &mut std::io::BufReader<std::net::TcpStream>) -> String {
    use std::io::BufRead;
    let mut all = String::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).unwrap_or(0) == 0 {
            return all;
        }
        all.push_str(&l);
        if l.len() < 4 || l.as_bytes()[3] != b'-' {
            return all;
        }
    }
}

/// Send `line` on a blocking SMTP connection and assert that the reply starts with `want`.
pub fn smtp_cmd(
    r: &mut std::io::BufReader<std::net::TcpStream>,
    line: impl AsRef<[u8]>,
    want: &str,
) {
    use std::io::Write;
    let line = line.as_ref();
    r.get_mut().write_all(line).unwrap();
    let got = smtp_reply(r);
    assert!(
        got.starts_with(want),
        "{:?}: {got:?} (wanted {want})",
        String::from_utf8_lossy(line)
    );
}

/// Every message of folder `name` of `user`'s account, read over the server's IMAP listener on
/// `port`: (flags sorted, without `\Recent`; INTERNALDATE unix; bytes), ordered by bytes.
pub async fn local_messages(
    port: u16,
    user: &str,
    pass: &str,
    name: &str,
) -> Vec<(Vec<String>, i64, Vec<u8>)> {
    let url = pochta_collector::SourceUrl::parse(&format!("imap://127.0.0.1:{port}?tls=none"))
        .expect("url");
    let mut c = pochta_collector::imap::ImapClient::connect(&url, false)
        .await
        .expect("connect");
    c.login(user, pass).await.expect("login");
    c.examine(&pochta_types::mutf7::encode(name))
        .await
        .expect("examine");
    let mut out: Vec<_> = c
        .uid_fetch("1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
        .await
        .expect("fetch")
        .into_iter()
        .map(|f| {
            let mut flags: Vec<String> = f
                .flags
                .unwrap_or_default()
                .into_iter()
                .filter(|x| x != "\\Recent")
                .collect();
            flags.sort();
            (
                flags,
                f.internal_date.map(|d| d.unix_timestamp()).unwrap_or(0),
                f.body.map(|b| b.to_vec()).unwrap_or_default(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.2.cmp(&b.2));
    c.logout().await;
    out
}

/// The messages in `address`'s INBOX in the store at `data_dir`.
pub fn inbox(data_dir: &Path, address: &str) -> Vec<Vec<u8>> {
    use pochta_store::{Directory, MailStore};
    let store = pochta_store_embedded::EmbeddedStore::open(data_dir).expect("open store");
    let account = store
        .account_by_address(&pochta_types::Address::new(address).unwrap())
        .unwrap()
        .expect("account")
        .id;
    let mb = store
        .mailbox(account, &pochta_types::MailboxName::inbox())
        .unwrap()
        .unwrap();
    let uids: Vec<_> = store
        .summaries(mb.id)
        .unwrap()
        .iter()
        .map(|s| s.uid)
        .collect();
    store
        .records(mb.id, &uids, false)
        .unwrap()
        .iter()
        .map(|r| store.blob(&r.blob).unwrap().to_vec())
        .collect()
}

/// Polls `f` every 100 ms until it holds, failing the test with `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// Standard base64 (AUTH PLAIN tokens).
pub fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}
