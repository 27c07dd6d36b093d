//! What the tests of real IMAP servers as sources share (collect_cyrus.rs, collect_courier.rs):
//! the seeded tree (nested Cyrillic folders under the `INBOX.` namespace, system flags,
//! keywords, dates with offsets, 8-bit bodies), and the check that `pochta collect` imports it
//! exactly: the local folder list, and per folder the flags, INTERNALDATE and bytes, read
//! back over Pochta's own IMAP.
#![allow(dead_code)]

use crate::common::*;
use pochta_collector::imap::ImapClient;
use pochta_store::MailDate;
use pochta_types::mutf7;

pub const LOCAL: &str = "mover@example.org";
pub const LOCAL_PASS: &str = "Local-Pass-1";

/// One message on the remote, and where it must land.
pub struct Seeded {
    pub remote: &'static str,
    pub local: &'static str,
    pub flags: &'static [&'static str],
    pub date: MailDate,
    pub body: Vec<u8>,
}

fn date(unix: i64, offset_minutes: i16) -> MailDate {
    MailDate {
        unix,
        offset_minutes,
    }
}

/// The remote folders to create (besides INBOX), parents first.
pub const FOLDERS: [&str; 2] = ["INBOX.Папка", "INBOX.Папка.Вложенная"];

/// The messages: the personal namespace `INBOX.` is dropped from local names.
pub fn seeded() -> Vec<Seeded> {
    vec![
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
            local: "Папка",
            flags: &["\\Seen", "Work"],
            date: date(1_500_000_000, 0),
            body: b"From: c@example.net\r\nSubject: folder\r\n\r\nbody 3\r\n".to_vec(),
        },
        Seeded {
            remote: "INBOX.Папка.Вложенная",
            local: "Папка/Вложенная",
            flags: &["\\Draft"],
            date: date(1_400_000_000, 600),
            body: b"From: d@example.net\r\nSubject: nested\r\n\r\nbody 4\r\n".to_vec(),
        },
    ]
}

/// Creates [`FOLDERS`] and appends [`seeded`] through a logged-in client.
pub async fn seed(mut c: ImapClient) -> Vec<Seeded> {
    for f in FOLDERS {
        c.create(&mutf7::encode(f)).await.expect("create");
    }
    let seeded = seeded();
    for s in &seeded {
        c.append(&mutf7::encode(s.remote), s.flags, Some(s.date), &s.body)
            .await
            .expect("append");
    }
    c.logout().await;
    seeded
}

/// The local account's folders, decoded, sorted.
async fn local_folders(port: u16) -> Vec<String> {
    let url = pochta_collector::SourceUrl::parse(&format!("imap://127.0.0.1:{port}?tls=none"))
        .expect("url");
    let mut c = ImapClient::connect(&url, false).await.expect("connect");
    c.login(LOCAL, LOCAL_PASS).await.expect("login");
    let mut names: Vec<String> = c
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|e| mutf7::decode(&e.raw).unwrap_or(e.raw))
        .collect();
    names.sort();
    c.logout().await;
    names
}

/// `collect add` + `collect run --once` (twice: the second finds nothing new) of `url` as
/// `user`/`password` into [`LOCAL`], then the exact comparison with `seeded`.
pub async fn import_and_check(url: &str, user: &str, password: &str, seeded: &[Seeded]) {
    let port = free_ports(1)[0];
    let dir = TestDir::new(&[("imap", port)], "[auth]\nplaintext = \"always\"\n");
    dir.add_user(LOCAL, LOCAL_PASS);
    let o = dir.cli(&[
        "collect",
        "add",
        LOCAL,
        url,
        "--user",
        user,
        "--password",
        password,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = dir.cli(&["collect", "run", LOCAL, "--once"]);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    let n = seeded.len();
    assert!(
        stdout(&o).contains(&format!(" {n} new messages")),
        "{}",
        stdout(&o)
    );
    let o = dir.cli(&["collect", "run", LOCAL, "--once"]);
    assert!(stdout(&o).contains(" 0 new messages"), "{}", stdout(&o));
    let status = stdout(&dir.cli(&["collect", "status", LOCAL]));
    let _srv = TestServer::start_in(dir, vec![("imap", port)]);
    let mut locals: Vec<&str> = seeded.iter().map(|s| s.local).collect();
    locals.sort();
    locals.dedup();
    // Exactly the remote tree, without the `INBOX.` prefix (and nothing under INBOX/).
    let folders = local_folders(port).await;
    for l in &locals {
        assert!(folders.iter().any(|f| f == l), "{l} missing: {folders:?}");
    }
    assert!(
        !folders.iter().any(|f| f.starts_with("INBOX/")),
        "{folders:?}"
    );
    for local in locals {
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
