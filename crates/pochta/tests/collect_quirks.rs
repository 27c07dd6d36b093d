//! Provider quirks, with scripted IMAP servers (tests/scripted) standing in for servers we
//! cannot run here, through the binary over TCP: Yandex's and Mail.ru's localized special
//! folders without SPECIAL-USE (Yandex with `|` as the separator), a server without UIDPLUS,
//! CONDSTORE or IDLE, and one that drops connections idle for a while (2 s here, a minute
//! at the providers). Imports are checked exactly through Pochta's own IMAP: folders, flags,
//! keywords, INTERNALDATE and bytes.

mod common;
mod scripted;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use pochta_types::mutf7;
use scripted::{Folder, Msg, Script, ScriptedServer};

const LOCAL: &str = "mover@example.org";
const LOCAL_PASS: &str = "Local-Pass-1";

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "failed: {}\n{}", stdout(o), stderr(o));
    stdout(o)
}

fn msg(uid: u32, flags: &str, date: &str, subject: &str) -> Msg {
    Msg {
        uid,
        flags: flags.into(),
        date: date.into(),
        body: format!(
            "From: =?utf-8?b?0JjQstCw0L0=?= <ivan@example.ru>\r\nSubject: {subject}\r\nMessage-ID: <{uid}.{}@x>\r\n\r\nТело письма {uid}\r\n",
            subject.len()
        )
        .into_bytes(),
    }
}

fn folder(name: &str, messages: Vec<Msg>) -> Folder {
    Folder {
        name: mutf7::encode(name),
        attrs: String::new(),
        uid_validity: 1_700_000_000,
        messages,
    }
}

/// A scripted provider with `caps`, `delimiter` and `folders`, no AUTHENTICATE, no idle drops.
fn script(caps: &str, delimiter: char, folders: Vec<Folder>) -> Script {
    Script {
        caps: caps.into(),
        delimiter,
        folders,
        auth: None,
        idle_drop: None,
    }
}

/// `pochta collect add` of `server` for the local account, as `user` / `password`.
fn add_source(dir: &TestDir, server: &ScriptedServer, user: &str, password: &str) {
    ok(&dir.cli(&[
        "collect",
        "add",
        LOCAL,
        &server.url(),
        "--user",
        user,
        "--password",
        password,
    ]));
}

/// One `pochta collect run --once` of the local account; its output.
fn run_once(dir: &TestDir) -> String {
    ok(&dir.cli(&["collect", "run", LOCAL, "--once"]))
}

/// A local account with an IMAP listener to read it back.
fn local_dir() -> (TestDir, u16) {
    let port = free_ports(1)[0];
    let dir = TestDir::new(&[("imap", port)], "[auth]\nplaintext = \"always\"\n");
    dir.add_user(LOCAL, LOCAL_PASS);
    (dir, port)
}

fn expected(msgs: &[Msg]) -> Vec<(Vec<String>, i64, Vec<u8>)> {
    let mut out: Vec<_> = msgs
        .iter()
        .map(|m| {
            let mut flags: Vec<String> = m.flags.split_whitespace().map(str::to_owned).collect();
            flags.sort();
            let date = pochta_imap_proto::client::data::parse_date_time(m.date.as_bytes())
                .expect("date")
                .unix_timestamp();
            (flags, date, m.body.clone())
        })
        .collect();
    out.sort_by(|a, b| a.2.cmp(&b.2));
    out
}

/// Yandex (`|`, its Russian names) and Mail.ru (`/`, its Russian names): special folders
/// found by name and filed into the local ones, nested folders kept, everything exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn localized_special_folders_without_special_use() {
    for (provider, delimiter, trash) in [("yandex", '|', "Удаленные"), ("mailru", '/', "Корзина")]
    {
        let d = delimiter;
        let folders = vec![
            folder(
                "INBOX",
                vec![
                    msg(
                        1,
                        "\\Seen $Important",
                        "02-Jan-2024 10:00:00 +0300",
                        "первое",
                    ),
                    msg(7, "\\Flagged", "03-Feb-2024 23:59:59 -0500", "second"),
                ],
            ),
            folder(
                "Отправленные",
                vec![msg(
                    3,
                    "\\Seen \\Answered",
                    "04-Mar-2023 08:00:00 +0000",
                    "ответ",
                )],
            ),
            folder(
                "Черновики",
                vec![msg(2, "\\Draft", "05-Apr-2024 12:00:00 +0300", "черновик")],
            ),
            folder(
                "Спам",
                vec![msg(5, "", "06-May-2024 01:02:03 +0300", "spam")],
            ),
            folder(
                trash,
                vec![msg(9, "\\Seen", "07-Jun-2024 04:05:06 +0300", "удалено")],
            ),
            folder("Рабочие", vec![]),
            folder(
                &format!("Рабочие{d}Проекты"),
                vec![msg(
                    4,
                    "\\Seen $label1 Work",
                    "08-Jul-2024 07:08:09 +0300",
                    "проект",
                )],
            ),
        ];
        let want = folders.clone();
        let server = ScriptedServer::start(script("ID", delimiter, folders)).await;
        let (dir, port) = local_dir();
        add_source(&dir, &server, "ivan", "x");
        let run = run_once(&dir);
        assert!(run.contains("7 new messages"), "{provider}: {run}");
        let status = ok(&dir.cli(&["collect", "status", LOCAL]));
        for (remote, local) in [
            ("Отправленные", "Sent"),
            ("Черновики", "Drafts"),
            ("Спам", "Junk"),
            (trash, "Trash"),
        ] {
            assert!(
                status.contains(&format!("folder {remote} -> {local} ")),
                "{provider}: {status}"
            );
        }
        assert!(
            status.contains(&format!("folder Рабочие{d}Проекты -> Рабочие/Проекты ")),
            "{provider}: {status}"
        );
        let server_dir = TestServer::start_in(dir, vec![("imap", port)]);
        for (f, local) in want.iter().zip([
            "INBOX",
            "Sent",
            "Drafts",
            "Junk",
            "Trash",
            "Рабочие",
            "Рабочие/Проекты",
        ]) {
            assert_eq!(
                local_messages(port, LOCAL, LOCAL_PASS, local).await,
                expected(&f.messages),
                "{provider}: {local}"
            );
        }
        drop(server_dir);
    }
}

/// A server with nothing but IMAP4rev1 (no UIDPLUS, CONDSTORE, IDLE): new mail and flag
/// changes are picked up by UID and a flag scan; and one that drops connections idle for 2 s
/// while `pochta serve` idles and polls on it: new mail still arrives, nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bare_server_and_dropped_idle_connections() {
    let date = "01-Jan-2024 10:00:00 +0300";
    let server = ScriptedServer::start(script(
        "",
        '/',
        vec![folder(
            "INBOX",
            vec![msg(1, "", date, "a"), msg(2, "\\Seen", date, "b")],
        )],
    ))
    .await;
    let (dir, _) = local_dir();
    add_source(&dir, &server, "u", "p");
    let run = run_once(&dir);
    assert!(run.contains(" 2 new messages"), "{run}");
    server.push("INBOX", msg(3, "\\Flagged", date, "c"));
    server.folders.lock().expect("folders")[0].messages[0].flags = "\\Seen".into();
    let run = run_once(&dir);
    assert!(
        run.contains(" 1 new messages") && run.contains("1 flag updates"),
        "{run}"
    );
    assert!(
        !server
            .commands()
            .iter()
            .any(|c| c.contains("CONDSTORE") || c.contains("CHANGEDSINCE")),
        "{:?}",
        server.commands()
    );

    // Dropping idle connections, with IDLE offered.
    let server = ScriptedServer::start(Script {
        idle_drop: Some(Duration::from_secs(2)),
        ..script(
            "IDLE",
            '/',
            vec![folder("INBOX", vec![msg(1, "", date, "a")])],
        )
    })
    .await;
    let (dir, _) = local_dir();
    add_source(&dir, &server, "u", "p");
    let log_path = dir.dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).expect("log");
    let mut serve = Command::new(BIN)
        .arg("--config")
        .arg(&dir.config)
        .arg("serve")
        .env("RUST_LOG", "info")
        .env("POCHTA_COLLECTOR_INTERVAL", "0.5")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("serve");
    let imported = |n: u32| {
        let want = format!("imported:     {n} messages");
        let d = &dir;
        move || stdout(&d.cli(&["collect", "status", LOCAL])).contains(&want)
    };
    wait_for("the first message", Duration::from_secs(30), imported(1));
    // The IDLE connection is dropped after 2 s of silence; the watcher says so and comes back.
    wait_for("a dropped IDLE", Duration::from_secs(30), || {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .contains("IDLE on INBOX failed")
    });
    server.push("INBOX", msg(2, "", date, "b"));
    wait_for("the second message", Duration::from_secs(30), imported(2));
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.push("INBOX", msg(3, "", date, "c"));
    wait_for("the third message", Duration::from_secs(30), imported(3));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = stdout(&dir.cli(&["collect", "status", LOCAL]));
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(status.contains("imported:     3 messages"), "{status}");
    let logins = server
        .commands()
        .iter()
        .filter(|c| c.starts_with("LOGIN"))
        .count();
    assert!(logins >= 3, "{logins}");
}

/// Gmail's labels: `[Gmail]/All Mail` (`\\All`) holds every message, the other folders are
/// labels. Each message is imported once per label it has and never again from All Mail;
/// only archived mail (no label) comes from All Mail.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gmail_labels_import_each_message_once() {
    let date = "01-Jan-2024 10:00:00 +0000";
    let (m1, m2, m3, m4, m5) = (
        msg(1, "\\Seen", date, "inbox one"),
        msg(2, "", date, "inbox two"),
        msg(3, "\\Seen", date, "archived"),
        msg(4, "\\Flagged", date, "work"),
        msg(5, "\\Seen", date, "sent"),
    );
    let with_uid = |m: &Msg, uid: u32| Msg { uid, ..m.clone() };
    let mut all = folder(
        "[Gmail]/All Mail",
        vec![
            with_uid(&m1, 11),
            with_uid(&m2, 12),
            with_uid(&m3, 13),
            with_uid(&m4, 14),
            with_uid(&m5, 15),
        ],
    );
    all.attrs = "\\All \\HasNoChildren".into();
    let mut gmail = folder("[Gmail]", vec![]);
    gmail.attrs = "\\Noselect \\HasChildren".into();
    let mut sent = folder("[Gmail]/Sent Mail", vec![with_uid(&m5, 1)]);
    sent.attrs = "\\Sent \\HasNoChildren".into();
    let server = ScriptedServer::start(script(
        "SPECIAL-USE X-GM-EXT-1 IDLE",
        '/',
        vec![
            folder("INBOX", vec![m1.clone(), m2.clone()]),
            gmail,
            all,
            sent,
            folder("Work", vec![with_uid(&m4, 1)]),
        ],
    ))
    .await;
    let (dir, port) = local_dir();
    add_source(&dir, &server, "u", "p");
    let run = run_once(&dir);
    assert!(run.contains(" 5 new messages"), "{run}");
    // New mail: in INBOX and All Mail; imported once.
    let m6 = msg(3, "", date, "later");
    server.push("INBOX", m6.clone());
    server.push("[Gmail]/All Mail", with_uid(&m6, 16));
    let run = run_once(&dir);
    assert!(run.contains(" 1 new messages"), "{run}");
    let status = ok(&dir.cli(&["collect", "status", LOCAL]));
    assert!(status.contains("imported:     6 messages"), "{status}");
    let _srv = TestServer::start_in(dir, vec![("imap", port)]);
    for (local, msgs) in [
        ("INBOX", vec![m1, m2, m6]),
        ("Work", vec![m4]),
        ("Sent", vec![m5]),
        ("[Gmail]/All Mail", vec![m3]),
    ] {
        assert_eq!(
            local_messages(port, LOCAL, LOCAL_PASS, local).await,
            expected(&msgs),
            "{local}"
        );
    }
}
