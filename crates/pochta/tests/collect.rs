//! `pochta collect …` through the real binary, against a real Dovecot (see
//! crates/collector/tests/dovecot): add, list, run --once, status, del; and `pochta serve`
//! collecting in the background.
//!
//! Needs Debian's dovecot-imapd and dovecot-pop3d (installed by .ci/run); skipped locally
//! when missing, a failure under CI.

mod common;
#[path = "../../collector/tests/dovecot/mod.rs"]
mod dovecot;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use dovecot::{Dovecot, PASSWORD, USER};
use pochta_collector::SourceUrl;
use pochta_collector::imap::ImapClient;

const LOCAL: &str = "mover@example.org";

async fn append(d: &Dovecot, folder: &str, n: usize, tag: &str) {
    let url = SourceUrl::parse(&d.imap_url()).expect("url");
    let mut c = ImapClient::connect(&url, false).await.expect("connect");
    c.login(USER, PASSWORD).await.expect("login");
    let raw = pochta_types::mutf7::encode(folder);
    if folder != "INBOX" {
        let _ = c.create(&raw).await;
    }
    for i in 0..n {
        let m = format!(
            "From: a@example.net\r\nSubject: {tag} {i}\r\nMessage-ID: <{tag}.{i}@x>\r\n\r\nbody {i}\r\n"
        );
        c.append(&raw, &["\\Seen"], None, m.as_bytes())
            .await
            .expect("append");
    }
    c.logout().await;
}

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "failed: {}\n{}", stdout(o), stderr(o));
    stdout(o)
}

/// `pochta collect add` of `url` for `local`, as `user` / `password`, with `extra` arguments.
fn collect_add(
    dir: &TestDir,
    local: &str,
    url: &str,
    user: &str,
    password: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec![
        "collect",
        "add",
        local,
        url,
        "--user",
        user,
        "--password",
        password,
    ];
    args.extend_from_slice(extra);
    dir.cli(&args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collect_cli_and_background_sync() {
    let Some(d) = Dovecot::start() else { return };
    append(&d, "INBOX", 5, "inbox").await;
    append(&d, "Папка.Вложенная", 3, "nested").await;

    let dir = TestDir::empty();
    dir.add_user(LOCAL, "Local-Pass-1");
    let url = d.imap_url();
    // Unknown local account, bad URL: refused with a reason.
    let o = collect_add(&dir, "nobody@example.org", &url, USER, "x", &[]);
    assert!(
        !o.status.success() && stderr(&o).contains("nobody@example.org"),
        "{}",
        stderr(&o)
    );
    let o = collect_add(&dir, LOCAL, "http://x", USER, "x", &[]);
    assert!(!o.status.success(), "{}", stdout(&o));
    // --delete is for POP3 sources only.
    let o = collect_add(&dir, LOCAL, &url, USER, "x", &["--delete"]);
    assert!(
        !o.status.success() && stderr(&o).contains("--delete is for POP3 sources only"),
        "{}",
        stderr(&o)
    );

    ok(&dir.cli_with_stdin(
        &[
            "collect",
            "add",
            LOCAL,
            &url,
            "--user",
            USER,
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    ));
    let list = ok(&dir.cli(&["collect", "list"]));
    assert!(
        list.contains(&url) && list.contains(USER) && list.contains("never run"),
        "{list}"
    );
    // The password is not stored in clear, and the files are private.
    use std::os::unix::fs::PermissionsExt;
    for f in ["collector.sqlite3", "collector.key"] {
        let p = dir.data_dir().join(f);
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let db = std::fs::read(dir.data_dir().join("collector.sqlite3")).expect("db");
    assert!(!db.windows(PASSWORD.len()).any(|w| w == PASSWORD.as_bytes()));

    let run = ok(&dir.cli(&["collect", "run", LOCAL, "--once"]));
    assert!(run.contains("8 new messages"), "{run}");
    let run = ok(&dir.cli(&["collect", "run", LOCAL, "--once"]));
    assert!(run.contains(" 0 new messages"), "{run}");
    let status = ok(&dir.cli(&["collect", "status", LOCAL]));
    assert!(status.contains("last error:   none"), "{status}");
    assert!(status.contains("imported:     8 messages"), "{status}");
    assert!(
        status.contains("Папка.Вложенная -> Папка/Вложенная"),
        "{status}"
    );

    // `pochta serve` collects in the background.
    let log = std::fs::File::create(dir.dir.path().join("serve.log")).expect("log");
    let mut server = Command::new(BIN)
        .arg("--config")
        .arg(&dir.config)
        .arg("serve")
        .env("RUST_LOG", "info")
        .env("POCHTA_COLLECTOR_INTERVAL", "0.3")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spawn serve");
    append(&d, "INBOX", 2, "later").await;
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let status = stdout(&dir.cli(&["collect", "status", LOCAL]));
        if status.contains("imported:     10 messages") {
            break;
        }
        if Instant::now() > end {
            let _ = server.kill();
            panic!(
                "serve did not collect:\n{status}\n{}",
                std::fs::read_to_string(dir.dir.path().join("serve.log")).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // SIGTERM: the server (and its collector) stop cleanly.
    let st = Command::new("kill")
        .arg(server.id().to_string())
        .status()
        .expect("kill");
    assert!(st.success());
    let end = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(s) = server.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < end, "serve did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(code.success(), "serve exit {code}");

    // del, then list is empty; a second del is an error.
    ok(&dir.cli(&["collect", "del", LOCAL, &url]));
    assert!(!stdout(&dir.cli(&["collect", "list"])).contains(&url));
    assert!(!dir.cli(&["collect", "del", LOCAL, &url]).status.success());

    // A POP3 source with --delete: stored with the source, shown, and the remote maildrop
    // (the 7 INBOX messages) is emptied once they are stored here.
    let pop3 = d.pop3_url();
    ok(&collect_add(
        &dir,
        LOCAL,
        &pop3,
        USER,
        PASSWORD,
        &["--delete"],
    ));
    let list = ok(&dir.cli(&["collect", "list"]));
    assert!(
        list.contains(&pop3) && list.contains("(delete after download)"),
        "{list}"
    );
    let run = ok(&dir.cli(&["collect", "run", LOCAL, "--once"]));
    assert!(
        run.contains(" 7 new messages") && run.contains("7 deleted on the remote"),
        "{run}"
    );
    let run = ok(&dir.cli(&["collect", "run", LOCAL, "--once"]));
    assert!(
        run.contains(" 0 new messages") && !run.contains("deleted"),
        "{run}"
    );
}

/// A TCP proxy in front of `upstream` that stops forwarding the client's commands once it has
/// seen `BODY.PEEK[]` `stall_at` times: a pass that hangs mid-way, to be killed.
async fn stalling_proxy(upstream: u16, stall_at: usize) -> u16 {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let seen = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
                continue;
            };
            let seen = Arc::clone(&seen);
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut sr, &mut cw).await;
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                loop {
                    let n = match cr.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    let hits = buf[..n].windows(11).filter(|w| w == b"BODY.PEEK[]").count();
                    if hits > 0 && seen.fetch_add(hits, Ordering::SeqCst) + hits >= stall_at {
                        // Hold the connection open, silent.
                        tokio::time::sleep(Duration::from_secs(600)).await;
                        return;
                    }
                    if sw.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

/// The friction of issue 20: errors in the server's words, certificate errors pointing at
/// --insecure, `add` logging in before saving, `edit` keeping checkpoints, `status` after an
/// interrupted pass, and a progress bar that starts empty and fits the terminal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collect_add_edit_status_and_errors() {
    let Some(d) = Dovecot::start() else { return };
    append(&d, "INBOX", 3, "inbox").await;
    append(&d, "Архив", 2, "archive").await;
    let dir = TestDir::empty();
    dir.add_user(LOCAL, "Local-Pass-1");
    let url = d.imap_url();

    // A wrong password: refused with the server's response code and text, nothing saved.
    let o = collect_add(&dir, LOCAL, &url, USER, "wrong", &[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("login failed: NO [AUTHENTICATIONFAILED] "),
        "{}",
        stderr(&o)
    );
    assert!(!stdout(&dir.cli(&["collect", "list"])).contains(&url));
    // Nobody listening: refused, nothing saved.
    let closed = format!("imap://127.0.0.1:{}", free_ports(1)[0]);
    let o = collect_add(&dir, LOCAL, &closed, USER, "x", &[]);
    assert!(
        !o.status.success() && stderr(&o).contains("cannot reach"),
        "{}",
        stderr(&o)
    );

    // A self-signed remote (a Pochta server on imaps): the error points at --insecure, and
    // with it the source is added.
    let remote = TestServer::start_with(&["imaps"], "");
    let o = remote.cli(&["user", "add", "old@example.net", "--password", "Old-Pass-1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let imaps = format!("imaps://127.0.0.1:{}", remote.port("imaps"));
    let add_imaps =
        |extra: &[&str]| collect_add(&dir, LOCAL, &imaps, "old@example.net", "Old-Pass-1", extra);
    let o = add_imaps(&[]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("certificate") && stderr(&o).contains("--insecure"),
        "{}",
        stderr(&o)
    );
    let added = ok(&add_imaps(&["--insecure"]));
    assert!(
        added.contains("logged in to") && added.contains("TLS"),
        "{added}"
    );
    ok(&dir.cli(&["collect", "del", LOCAL, &imaps]));

    // The right password: logged in, then saved.
    let added = ok(&collect_add(&dir, LOCAL, &url, USER, PASSWORD, &[]));
    assert!(added.contains("logged in to"), "{added}");

    // The progress bar on a 60-column terminal (`script` gives the pass a pty): its first
    // frame is the spinner, it never draws a full bar of 0 of 0 bytes, every frame fits.
    if tool_available("script") {
        let cmd = format!(
            "stty cols 60 rows 20; {BIN} --config {} collect run {LOCAL} --once",
            dir.config.display()
        );
        let o = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .output()
            .expect("script");
        let text = stdout(&o);
        assert!(o.status.success(), "{text}");
        assert!(text.contains("5 new messages"), "{text}");
        let frames: Vec<String> = text
            .split(['\r', '\n'])
            .map(strip_ansi)
            .filter(|f| f.contains(" msgs") || f.contains("connecting"))
            .collect();
        assert!(!frames.is_empty(), "no progress frames in {text:?}");
        assert!(frames[0].contains("connecting"), "{frames:?}");
        for f in &frames {
            assert!(f.trim_end().chars().count() <= 60, "wider than 60: {f:?}");
            assert!(!f.contains("/0 B") && !f.contains("0/0 msgs"), "{f:?}");
        }
    } else {
        eprintln!("`script` (util-linux) not found: progress bar not checked");
        ok(&dir.cli(&["collect", "run", LOCAL, "--once"]));
    }
    let status = ok(&dir.cli(&["collect", "status", LOCAL]));
    assert!(status.contains("imported:     5 messages"), "{status}");

    // edit: a wrong new password is refused and changes nothing.
    let o = dir.cli(&["collect", "edit", LOCAL, &url, "--password", "wrong"]);
    assert!(
        !o.status.success() && stderr(&o).contains("AUTHENTICATIONFAILED"),
        "{}",
        stderr(&o)
    );
    // A new URL (localhost for 127.0.0.1) and the password again: checkpoints kept, so the
    // next pass imports nothing twice.
    let new_url = url.replace("127.0.0.1", "localhost");
    let edited = ok(&dir.cli_with_stdin(
        &[
            "collect",
            "edit",
            LOCAL,
            &url,
            "--new-url",
            &new_url,
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    ));
    assert!(edited.contains("5 imported messages are kept"), "{edited}");
    let list = ok(&dir.cli(&["collect", "list"]));
    assert!(list.contains(&new_url) && !list.contains(&url), "{list}");
    append(&d, "INBOX", 1, "after-edit").await;
    let run = ok(&dir.cli(&["collect", "run", LOCAL, "--once"]));
    assert!(run.contains(" 1 new messages"), "{run}");
    // Without a new password the stored one is sealed again for the changed URL.
    ok(&dir.cli(&["collect", "edit", LOCAL, &new_url, "--new-url", &url]));
    let run = ok(&dir.cli(&["collect", "run", LOCAL, "--once"]));
    assert!(run.contains(" 0 new messages"), "{run}");
    ok(&dir.cli(&["collect", "del", LOCAL, &url]));

    // An interrupted pass: the first folder is imported, the second hangs, the process is
    // killed. status says running while it runs, interrupted after, never "never".
    let dir = TestDir::empty();
    dir.add_user(LOCAL, "Local-Pass-1");
    let proxy = format!("imap://127.0.0.1:{}", stalling_proxy(d.imap_port, 2).await);
    ok(&collect_add(&dir, LOCAL, &proxy, USER, PASSWORD, &[]));
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&dir.config)
        .args(["collect", "run", LOCAL, "--once"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn run");
    let mut status = String::new();
    wait_for("the first folder imported", Duration::from_secs(30), || {
        status = stdout(&dir.cli(&["collect", "status", LOCAL]));
        !status.contains("imported:     0 messages")
    });
    assert!(status.contains("running now"), "{status}");
    child.kill().expect("kill");
    let _ = child.wait();
    let status = ok(&dir.cli(&["collect", "status", LOCAL]));
    assert!(
        status.contains("interrupted before it finished") && !status.contains("never\n  last s"),
        "{status}"
    );
    assert!(!status.contains("last attempt: never"), "{status}");
    let list = ok(&dir.cli(&["collect", "list"]));
    assert!(list.contains("interrupted"), "{list}");
}

/// Terminal output without its escape sequences.
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}
