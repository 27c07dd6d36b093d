//! IMAP through the real binary, driven by clients nobody on this project wrote: Python's
//! imaplib (also the extensions IMAPClient has no method for, through its generic command
//! path), IMAPClient (PyPI; CONDSTORE/QRESYNC, IDLE, SORT, DISPLAYSORT and THREAD) and
//! isync's mbsync.
//!
//! These tools are installed by `.ci/run`. Locally, a missing tool skips its test with a
//! message; under CI (`CI` set) a missing tool fails the test, so CI can never pass without
//! running them.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

const USER: &str = "interop@example.org";
const PASSWORD: &str = "Interop-Pass-1";

fn server() -> TestServer {
    let ports = vec![("imap", free_ports(1)[0])];
    let dir = TestDir::new(&ports, "[auth]\nplaintext = \"tls-or-loopback\"\n");
    dir.add_user(USER, PASSWORD);
    TestServer::start_in(dir, ports)
}

/// The imaplib/IMAPClient scripts' arguments: host, IMAP port, user, password.
fn imap_args(s: &TestServer) -> Vec<String> {
    vec![
        "127.0.0.1".into(),
        s.port("imap").to_string(),
        USER.into(),
        PASSWORD.into(),
    ]
}

#[test]
fn python_imaplib_full_scenario() {
    if !tool_available("python3") {
        return;
    }
    let s = server();
    run_interop_script(
        &s,
        "imaplib_scenario.py",
        &imap_args(&s),
        "imaplib scenario: ok",
    );
}

#[test]
fn imapclient_condstore_qresync_idle() {
    if !tool_available("python3") {
        return;
    }
    if !python_module_available("imapclient") {
        return;
    }
    let s = server();
    run_interop_script(
        &s,
        "imapclient_sync.py",
        &imap_args(&s),
        "imapclient sync: ok",
    );
}

#[test]
fn imapclient_sort_thread_and_caseless_search() {
    if !tool_available("python3") {
        return;
    }
    if !python_module_available("imapclient") {
        return;
    }
    let s = server();
    run_interop_script(
        &s,
        "imapclient_sort.py",
        &imap_args(&s),
        "imapclient sort: ok",
    );
}

/// ESORT, CONTEXT=SEARCH/SORT, PARTIAL, CATENATE, URLAUTH (RESETKEY told to the other
/// session), NOTIFY, METADATA/METADATA-SERVER, REPLACE, LIST-MYRIGHTS and UIDONLY through
/// imaplib's generic command path, two sessions seeing each other's changes.
#[test]
fn python_imaplib_extensions() {
    if !tool_available("python3") {
        return;
    }
    let s = server();
    let mut args = imap_args(&s);
    args.push(HOSTNAME.into());
    run_interop_script(&s, "imaplib_extensions.py", &args, "imaplib extensions: ok");
}

#[test]
fn mbsync_pulls_every_folder_with_flags() {
    if !tool_available("mbsync") || !tool_available("python3") {
        return;
    }
    let s = server();
    // Fill the account through imaplib first: a Cyrillic folder, flags, several messages.
    run_interop_script(
        &s,
        "imaplib_scenario.py",
        &imap_args(&s),
        "imaplib scenario: ok",
    );

    let work = tempfile::tempdir().expect("tempdir");
    let mail = work.path().join("mail");
    std::fs::create_dir_all(&mail).expect("mkdir");
    let rc = work.path().join("mbsyncrc");
    std::fs::write(
        &rc,
        format!(
            "IMAPAccount pochta\nHost 127.0.0.1\nPort {port}\nUser {USER}\nPass {PASSWORD}\n\
             SSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore far\nAccount pochta\n\n\
             MaildirStore near\nPath {m}/\nInbox {m}/INBOX\nSubFolders Verbatim\n\n\
             Channel sync\nFar :far:\nNear :near:\nPatterns *\nCreate Near\nSync Pull\nSyncState *\n",
            port = s.port("imap"),
            m = mail.display()
        ),
    )
    .expect("write mbsyncrc");
    let run = || {
        Command::new("mbsync")
            .arg("-c")
            .arg(&rc)
            .arg("-a")
            .output()
            .expect("run mbsync")
    };
    let out = run();
    assert!(
        out.status.success(),
        "mbsync failed:\n{}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    let files = |dir: &Path| -> Vec<String> {
        let mut v = Vec::new();
        for sub in ["cur", "new"] {
            if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
                for e in rd.flatten() {
                    v.push(e.file_name().to_string_lossy().into_owned());
                }
            }
        }
        v.sort();
        v
    };
    // INBOX: the two copies made by the scenario; the flagged+answered one keeps F and R.
    let inbox = files(&mail.join("INBOX"));
    assert_eq!(inbox.len(), 2, "{inbox:?}");
    assert!(inbox.iter().any(|f| f.ends_with(",FR")), "{inbox:?}");
    assert!(inbox.iter().any(|f| f.ends_with(",S")), "{inbox:?}");
    // The Cyrillic folder, in modified UTF-7 on disk (mbsync's Verbatim layout), with the one
    // message left after the scenario's EXPUNGE, marked seen.
    let folder = mail
        .join(pochta_types::mutf7::encode("Входящие"))
        .join(pochta_types::mutf7::encode("Работа"));
    let msgs = files(&folder);
    assert_eq!(msgs.len(), 1, "{msgs:?}");
    assert!(msgs[0].ends_with(",S"), "{msgs:?}");
    // The special-use folders came along.
    for name in ["Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(mail.join(name).is_dir(), "{name} missing");
    }
    // A second run is a no-op and succeeds (mbsync's state matches the server's UIDs).
    let out = run();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(files(&mail.join("INBOX")).len(), 2);
}

/// A shared mailbox (RFC 4314, RFC 2342) and a public folder browsed with imaplib, then the
/// public folder read anonymously (RFC 4505): the owner grants "lr" over IMAP, `pochta share`
/// adds "s" while the server runs, the grantee lists, opens and reads it; `pochta public
/// create` and `pochta share public` open a public folder with per-user \Seen.
#[test]
fn python_imaplib_shared_and_public_folders() {
    if !tool_available("python3") {
        return;
    }
    const OWNER: &str = "owner@example.org";
    let ports = vec![("imap", free_ports(1)[0])];
    let dir = TestDir::new(
        &ports,
        "[auth]\nplaintext = \"tls-or-loopback\"\n[imap]\nanonymous = true\n",
    );
    dir.add_user(USER, PASSWORD);
    dir.add_user(OWNER, PASSWORD);
    let s = TestServer::start_in(dir, ports);
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/imaplib_shared.py");
    let run = |phase: &str| {
        let out = Command::new("python3")
            .arg(&script)
            .arg("127.0.0.1")
            .arg(s.port("imap").to_string())
            .arg(phase)
            .arg(OWNER)
            .arg(USER)
            .arg(PASSWORD)
            .output()
            .expect("run python3");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(&format!("imaplib shared ({phase}): ok")),
            "imaplib shared scenario ({phase}) failed:\n{stdout}\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            s.log()
        );
    };
    run("owner");
    let o = s.cli(&["share", OWNER, "Team", USER, "+s"]);
    assert!(o.status.success(), "{}", stderr(&o));
    run("grantee");
    for args in [
        &["public", "create", "News"][..],
        &["share", "public", "News", OWNER, "lrswi"],
        &["share", "public", "News", "anyone", "lrs"],
        &["share", "public", "News", "anonymous", "lr"],
    ] {
        let o = s.cli(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    }
    run("public");
    run("anonymous");
}
