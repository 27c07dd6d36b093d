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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collect_cli_and_background_sync() {
    let Some(d) = Dovecot::start() else { return };
    append(&d, "INBOX", 5, "inbox").await;
    append(&d, "Папка.Вложенная", 3, "nested").await;

    let dir = TestDir::empty();
    dir.add_user(LOCAL, "Local-Pass-1");
    let url = d.imap_url();
    // Unknown local account, bad URL: refused with a reason.
    let o = dir.cli(&[
        "collect",
        "add",
        "nobody@example.org",
        &url,
        "--user",
        USER,
        "--password",
        "x",
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("nobody@example.org"),
        "{}",
        stderr(&o)
    );
    let o = dir.cli(&[
        "collect",
        "add",
        LOCAL,
        "http://x",
        "--user",
        USER,
        "--password",
        "x",
    ]);
    assert!(!o.status.success(), "{}", stdout(&o));
    // --delete is for POP3 sources only.
    let o = dir.cli(&[
        "collect",
        "add",
        LOCAL,
        &url,
        "--user",
        USER,
        "--password",
        "x",
        "--delete",
    ]);
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
    ok(&dir.cli(&[
        "collect",
        "add",
        LOCAL,
        &pop3,
        "--user",
        USER,
        "--password",
        PASSWORD,
        "--delete",
    ]));
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
