//! Admin commands through the real binary.

mod common;

use common::*;
use pochta_store::Directory;
use pochta_types::Address;

/// The stored Argon2 hash verifies the password, and SCRAM secrets were stored too.
fn assert_password(dir: &TestDir, address: &str, password: &str) {
    let store = pochta_store_embedded::EmbeddedStore::open(&dir.data_dir()).unwrap();
    let acc = store
        .account_by_address(&Address::new(address).unwrap())
        .unwrap()
        .expect("account exists");
    assert!(pochta_auth::verify_password(
        Some(&acc.password_hash),
        password
    ));
    let scram = acc.scram_sha256.expect("SCRAM secrets stored");
    scram.parse::<pochta_auth::ScramSecrets>().unwrap();
    assert!(!scram.contains(password) && !acc.password_hash.contains(password));
}

#[test]
fn user_lifecycle() {
    let d = TestDir::empty();
    let o = d.cli(&["user", "add", "Ivan@Example.org", "--password", "s3cret"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "added domain example.org\nadded user Ivan@example.org\n"
    );
    assert_password(&d, "ivan@example.org", "s3cret");

    let o = d.cli(&["domain", "list"]);
    assert_eq!(stdout(&o), "example.org\n");

    // Generated password, printed.
    let o = d.cli(&["user", "add", "olga@example.org"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let pw = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("generated password printed")
        .to_owned();
    assert!(pw.len() >= 16);
    assert_password(&d, "olga@example.org", &pw);

    // From stdin.
    let o = d.cli_with_stdin(
        &["user", "add", "petr@example.org", "--password-stdin"],
        "from stdin\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_password(&d, "petr@example.org", "from stdin");

    let o = d.cli(&["user", "list"]);
    assert_eq!(
        stdout(&o),
        "Ivan@example.org\nolga@example.org\npetr@example.org\n"
    );

    let o = d.cli(&[
        "user",
        "passwd",
        "ivan@example.org",
        "--password",
        "new one",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_password(&d, "ivan@example.org", "new one");
    let o = d.cli(&["user", "passwd", "olga@example.org"]);
    let pw = stdout(&o)
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .unwrap()
        .to_owned();
    assert_password(&d, "olga@example.org", &pw);

    let o = d.cli(&["user", "add", "ivan@example.org", "--password", "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));

    let o = d.cli(&["user", "del", "petr@example.org"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.cli(&["user", "list"]);
    assert_eq!(stdout(&o), "Ivan@example.org\nolga@example.org\n");
    let o = d.cli(&["user", "del", "petr@example.org"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
}

#[test]
fn domains() {
    let d = TestDir::empty();
    assert_eq!(
        stdout(&d.cli(&["domain", "add", "Example.NET"])),
        "added domain example.net\n"
    );
    assert_eq!(
        stdout(&d.cli(&["domain", "add", "example.net"])),
        "domain example.net is already local\n"
    );
    d.cli(&["domain", "add", "a.example"]);
    assert_eq!(
        stdout(&d.cli(&["domain", "list"])),
        "a.example\nexample.net\n"
    );
    d.add_user("u@example.net", "pw");
    let o = d.cli(&["domain", "del", "example.net"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("still has 1 account"), "{}", stderr(&o));
    let o = d.cli(&["domain", "del", "a.example"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.cli(&["domain", "add", "not a domain"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("\"not a domain\" is not a valid domain"),
        "{}",
        stderr(&o)
    );
    let o = d.cli(&["domain", "del", "nowhere.example"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn aliases() {
    let d = TestDir::empty();
    d.add_user("ivan@example.org", "pw");
    let o = d.cli(&["alias", "add", "info@example.org", "ivan@example.org"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.cli(&["alias", "add", "@example.org", "ivan@example.org"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&d.cli(&["alias", "list"])),
        "@example.org -> ivan@example.org\ninfo@example.org -> ivan@example.org\n"
    );
    // Target must be an existing user; the alias domain must be local.
    let o = d.cli(&["alias", "add", "x@example.org", "nobody@example.org"]);
    assert_eq!(o.status.code(), Some(1));
    let o = d.cli(&["alias", "add", "x@elsewhere.example", "ivan@example.org"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a local domain"), "{}", stderr(&o));
    let o = d.cli(&["alias", "del", "info@example.org"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&d.cli(&["alias", "list"])),
        "@example.org -> ivan@example.org\n"
    );
}

#[test]
fn usage_and_input_errors() {
    let d = TestDir::empty();
    // clap usage errors exit 2.
    for args in [
        &["user", "frobnicate"][..],
        &["user", "add"],
        &[
            "user",
            "add",
            "a@b.example",
            "--password",
            "x",
            "--password-stdin",
        ],
        &["nonsense"],
    ] {
        let o = d.cli(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    // Input errors exit 1 with one error line.
    let o = d.cli(&["user", "add", "no-at-sign", "--password", "x"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: \"no-at-sign\" is not a valid address (local@domain)\n"
    );
    let o = d.cli(&["user", "add", "a@b.example", "--password", ""]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("must not be empty"));
    let o = d.cli_with_stdin(&["user", "add", "a@b.example", "--password-stdin"], "");
    assert_eq!(o.status.code(), Some(1));
    // No config: the file is named.
    let o = run(&["--config", "/nonexistent/pochta.toml", "user", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/nonexistent/pochta.toml: cannot read config"),
        "{}",
        stderr(&o)
    );
}

/// `pochta user quota`: show, set (sizes with suffixes), change one limit keeping the other,
/// clear with `none`; the store then enforces it.
#[test]
fn user_quota() {
    use pochta_store::{MailStore, NewMessage, StoreError};

    let d = TestDir::empty();
    d.add_user("ivan@example.org", "pw");
    let o = d.cli(&["user", "quota", "ivan@example.org"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "quota of ivan@example.org\n  storage:  0 used, limit none\n  messages: 0 used, limit none\n"
    );
    let o = d.cli(&[
        "user",
        "quota",
        "ivan@example.org",
        "--storage",
        "2G",
        "--messages",
        "1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("storage:  0 used, limit 2G\n"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("messages: 0 used, limit 1\n"),
        "{}",
        stdout(&o)
    );

    let store = pochta_store_embedded::EmbeddedStore::open(&d.data_dir()).unwrap();
    let acc = store
        .account_by_address(&Address::new("ivan@example.org").unwrap())
        .unwrap()
        .unwrap();
    let q = store.quota(acc.id).unwrap();
    assert_eq!(q.limits.storage, Some(2 << 30));
    assert_eq!(q.limits.messages, Some(1));
    let inbox = store
        .mailbox(acc.id, &pochta_types::MailboxName::inbox())
        .unwrap()
        .unwrap()
        .id;
    let msg = |n: u8| NewMessage {
        bytes: if n == 1 {
            b"Subject: 1\r\n\r\nx\r\n"
        } else {
            b"Subject: 2\r\n\r\ny\r\n"
        },
        flags: pochta_types::Flags::new(),
        internal_date: None,
    };
    store.append(inbox, &[msg(1)]).unwrap();
    assert!(matches!(
        store.append(inbox, &[msg(2)]),
        Err(StoreError::OverQuota(_))
    ));

    // Only --storage: the message limit stays.
    let o = d.cli(&["user", "quota", "ivan@example.org", "--storage", "20K"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("storage:  17 used, limit 20K\n"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("messages: 1 used, limit 1\n"),
        "{}",
        stdout(&o)
    );
    let o = d.cli(&["user", "quota", "ivan@example.org", "--messages", "none"]);
    assert!(
        stdout(&o).contains("messages: 1 used, limit none\n"),
        "{}",
        stdout(&o)
    );
    store.append(inbox, &[msg(2)]).unwrap();

    // Input errors exit 1 with the value named.
    let o = d.cli(&["user", "quota", "ivan@example.org", "--storage", "lots"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("\"lots\" is not a size"),
        "{}",
        stderr(&o)
    );
    let o = d.cli(&["user", "quota", "nobody@example.org", "--messages", "5"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
}

/// `pochta share`: replace, add, remove rights; anyone; errors name what is wrong; the
/// store keeps the ACL.
#[test]
fn share() {
    use pochta_store::{Grantee, MailStore};

    let d = TestDir::empty();
    d.add_user("ivan@example.org", "pw");
    d.add_user("olga@example.org", "pw");
    let o = d.cli(&[
        "share",
        "ivan@example.org",
        "INBOX",
        "olga@example.org",
        "lr",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "INBOX of ivan@example.org (\\Seen: shared):\n  ivan@example.org lrswipkxtea (owner)\n  olga@example.org lr\n"
    );
    let o = d.cli(&[
        "share",
        "ivan@example.org",
        "INBOX",
        "Olga@Example.org",
        "+wd",
    ]);
    assert!(
        stdout(&o).contains("  olga@example.org lrwte\n"),
        "{}",
        stdout(&o)
    );
    let o = d.cli(&[
        "share",
        "ivan@example.org",
        "INBOX",
        "olga@example.org",
        "-w",
    ]);
    assert!(
        stdout(&o).contains("  olga@example.org lrte\n"),
        "{}",
        stdout(&o)
    );
    let o = d.cli(&["share", "ivan@example.org", "INBOX", "anyone", "l"]);
    assert!(stdout(&o).ends_with("  anyone l\n"), "{}", stdout(&o));

    let store = pochta_store_embedded::EmbeddedStore::open(&d.data_dir()).unwrap();
    let id = |a: &str| {
        store
            .account_by_address(&Address::new(a).unwrap())
            .unwrap()
            .unwrap()
            .id
    };
    let inbox = store
        .mailbox(id("ivan@example.org"), &pochta_types::MailboxName::inbox())
        .unwrap()
        .unwrap();
    assert_eq!(
        store
            .rights(id("olga@example.org"), &inbox)
            .unwrap()
            .letters(),
        "lrte"
    );
    let o = d.cli(&[
        "share",
        "ivan@example.org",
        "INBOX",
        "olga@example.org",
        "none",
    ]);
    assert!(!stdout(&o).contains("olga"), "{}", stdout(&o));
    assert!(
        !store
            .acl(inbox.id)
            .unwrap()
            .iter()
            .any(|(g, _)| *g == Grantee::Account(id("olga@example.org")))
    );

    for (args, err) in [
        (
            ["ivan@example.org", "INBOX", "olga@example.org", "lrq"],
            "'q' is not an ACL right",
        ),
        (
            ["ivan@example.org", "Nope", "olga@example.org", "lr"],
            "ivan@example.org has no mailbox Nope",
        ),
        (
            ["ivan@example.org", "INBOX", "nobody@example.org", "lr"],
            "user nobody@example.org does not exist",
        ),
        (
            ["ivan@example.org", "INBOX", "ivan@example.org", "lr"],
            "always has every right",
        ),
    ] {
        let mut a = vec!["share"];
        a.extend(args);
        let o = d.cli(&a);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stderr(&o).contains(err), "{args:?}: {}", stderr(&o));
    }
}

/// `pochta public create|list|del`, `pochta share public …` and `pochta seen`: public folders
/// belong to no account, keep \Seen per user unless told otherwise, and errors name the
/// problem.
#[test]
fn public_folders_and_seen_mode() {
    use pochta_store::MailStore;

    let d = TestDir::empty();
    d.add_user("ivan@example.org", "pw");
    let o = d.cli(&["public", "list"]);
    assert_eq!(stdout(&o), "no public folders\n");
    let o = d.cli(&["public", "create", "News"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Public/News"), "{}", stdout(&o));
    let o = d.cli(&["public", "create", "Lists/Rust", "--seen", "shared"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.cli(&["share", "public", "News", "anyone", "lrs"]);
    assert_eq!(
        stdout(&o),
        "News of public (\\Seen: per-user):\n  anyone lrs\n",
        "{}",
        stderr(&o)
    );
    let o = d.cli(&["share", "public", "News", "anonymous", "lr"]);
    assert!(
        stdout(&o).ends_with("  anyone lrs\n  anonymous lr\n"),
        "{}",
        stdout(&o)
    );
    let o = d.cli(&["public", "list"]);
    let text = stdout(&o);
    assert!(
        text.contains("Lists/Rust of public (\\Seen: shared):"),
        "{text}"
    );
    assert!(
        text.contains("News of public (\\Seen: per-user):"),
        "{text}"
    );
    // The public owner is nobody: not among the users.
    let o = d.cli(&["user", "list"]);
    assert_eq!(stdout(&o).trim(), "ivan@example.org", "{}", stdout(&o));
    let o = d.cli(&["seen", "ivan@example.org", "INBOX", "per-user"]);
    assert!(stdout(&o).starts_with("INBOX of ivan@example.org (\\Seen: per-user):"));
    let o = d.cli(&["seen", "public", "News", "shared"]);
    assert!(stdout(&o).starts_with("News of public (\\Seen: shared):"));
    {
        let store = pochta_store_embedded::EmbeddedStore::open(&d.data_dir()).unwrap();
        let public = store.public_owner().unwrap().unwrap();
        let boxes = store.mailboxes(public).unwrap();
        let names: Vec<&str> = boxes.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["Lists", "Lists/Rust", "News"]);
        assert!(
            boxes
                .iter()
                .all(|b| !b.seen_per_user || b.name.as_str() == "Lists")
        );
    }
    for (args, err) in [
        (
            &["seen", "public", "Nope", "shared"][..],
            "there is no public folder Nope",
        ),
        (
            &["seen", "ivan@example.org", "INBOX", "maybe"],
            "is not a \\Seen mode",
        ),
        (&["public", "create", "News"], "already exists"),
        (
            &["public", "create", "X", "--seen", "sometimes"],
            "is not a \\Seen mode",
        ),
        (
            &["public", "create", "INBOX"],
            "INBOX cannot be a public folder name",
        ),
        (
            &["share", "public", "Nope", "anyone", "l"],
            "there is no public folder Nope",
        ),
        (&["public", "del", "Nope"], "there is no public folder Nope"),
    ] {
        let o = d.cli(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stderr(&o).contains(err), "{args:?}: {}", stderr(&o));
    }
    let o = d.cli(&["public", "del", "News"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = d.cli(&["public", "list"]);
    assert!(!stdout(&o).contains("News"), "{}", stdout(&o));
}
