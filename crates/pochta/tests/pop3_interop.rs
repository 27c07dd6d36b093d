//! POP3 through the real binary: Python's poplib and Debian's fetchmail (clients nobody on
//! this project wrote), and POP3 + IMAP on one account at once.
//!
//! The tools are installed by `.ci/run`. Locally a missing tool skips its test with a
//! message; under CI (`CI` set) a missing tool fails the test.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::*;

const USER: &str = "pop@example.org";
const PASSWORD: &str = "Pop-Pass-1";

fn server() -> TestServer {
    let ports: Vec<(&'static str, u16)> = vec!["imap", "pop3"]
        .into_iter()
        .zip(free_ports(2))
        .collect();
    let dir = TestDir::new(&ports, "[auth]\nplaintext = \"tls-or-loopback\"\n");
    dir.add_user(USER, PASSWORD);
    TestServer::start_in(dir, ports)
}

/// A line-based client for IMAP or POP3 over plain TCP.
struct Raw {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Raw {
    fn connect(s: &TestServer, listener: &str) -> Raw {
        let tcp = TcpStream::connect(s.addr(listener)).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let w = tcp.try_clone().expect("clone");
        let mut c = Raw {
            r: BufReader::new(tcp),
            w,
        };
        c.line();
        c
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        let n = self.r.read_line(&mut l).expect("read");
        assert!(n > 0, "connection closed");
        l
    }

    fn send(&mut self, text: &str) {
        self.w.write_all(text.as_bytes()).expect("write");
    }

    /// IMAP: send a tagged command, return every line up to the tagged one.
    fn imap(&mut self, tag: &str, cmd: &str) -> Vec<String> {
        self.send(&format!("{tag} {cmd}\r\n"));
        let mut v = Vec::new();
        loop {
            let l = self.line();
            let done = l.starts_with(&format!("{tag} "));
            v.push(l);
            if done {
                assert!(v.last().is_some_and(|l| l.contains(" OK")), "{cmd}: {v:?}");
                return v;
            }
        }
    }

    fn imap_append(&mut self, tag: &str, msg: &str) {
        self.send(&format!("{tag} APPEND INBOX {{{}}}\r\n", msg.len()));
        assert!(self.line().starts_with('+'));
        self.send(msg);
        self.send("\r\n");
        loop {
            let l = self.line();
            if l.starts_with(&format!("{tag} ")) {
                assert!(l.contains(" OK"), "{l}");
                return;
            }
        }
    }

    /// POP3: a command whose reply must be `+OK`.
    fn pop(&mut self, cmd: &str) -> String {
        self.send(&format!("{cmd}\r\n"));
        let l = self.line();
        assert!(l.starts_with("+OK"), "{cmd}: {l}");
        l
    }
}

#[test]
fn python_poplib_scenario() {
    if !tool_available("python3") {
        return;
    }
    let s = server();
    let args = [
        "127.0.0.1".to_string(),
        s.port("imap").to_string(),
        s.port("pop3").to_string(),
        USER.into(),
        PASSWORD.into(),
    ];
    run_interop_script(&s, "poplib_scenario.py", &args, "poplib scenario: ok");
}

/// A message deleted over POP3 disappears from IMAP, and a selected IMAP session is told
/// (`* n EXPUNGE`); IMAP is not locked out while POP3 holds the maildrop.
#[test]
fn pop3_delete_reaches_a_selected_imap_session() {
    let s = server();
    let mut imap = Raw::connect(&s, "imap");
    imap.imap("a1", &format!("LOGIN {USER} {PASSWORD}"));
    imap.imap_append("a2", "Subject: one\r\n\r\nbody 1\r\n");
    imap.imap_append("a3", "Subject: two\r\n\r\nbody 2\r\n");
    let sel = imap.imap("a4", "SELECT INBOX");
    assert!(sel.iter().any(|l| l == "* 2 EXISTS\r\n"), "{sel:?}");

    let mut pop = Raw::connect(&s, "pop3");
    pop.pop(&format!("USER {USER}"));
    pop.pop(&format!("PASS {PASSWORD}"));
    // IMAP works while POP3 holds the maildrop lock.
    imap.imap("a5", "NOOP");
    pop.pop("DELE 1");
    assert!(pop.pop("QUIT").contains("1 messages deleted"));

    let noop = imap.imap("a6", "NOOP");
    assert!(noop.iter().any(|l| l == "* 1 EXPUNGE\r\n"), "{noop:?}");
    let fetch = imap.imap("a7", "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    let text = fetch.concat();
    assert!(
        text.contains("Subject: two") && !text.contains("Subject: one"),
        "{text}"
    );
    imap.imap("a8", "LOGOUT");
}

#[test]
fn fetchmail_keep_then_delete() {
    if !tool_available("fetchmail") {
        return;
    }
    let s = server();
    let mut imap = Raw::connect(&s, "imap");
    imap.imap("a1", &format!("LOGIN {USER} {PASSWORD}"));
    for i in 0..3 {
        imap.imap_append(
            &format!("b{i}"),
            &format!("From: x@example.org\r\nSubject: fm {i}\r\n\r\n.dot line {i}\r\nend\r\n"),
        );
    }
    imap.imap("a2", "LOGOUT");

    let work = tempfile::tempdir().expect("tempdir");
    let out_dir = work.path().join("out");
    std::fs::create_dir(&out_dir).expect("mkdir");
    let run = |keep: bool, idfile: &str| -> (i32, String) {
        let rc = work.path().join(format!("fetchmailrc-{keep}"));
        std::fs::write(
            &rc,
            format!(
                "set no bouncemail\n\
                 poll 127.0.0.1 protocol POP3 port {port} auth password uidl\n\
                 \tuser \"{USER}\" there with password \"{PASSWORD}\"\n\
                 \tsslproto '' {keep}\n\
                 \tmda \"/bin/sh -c 'cat > {dir}/msg.$$'\"\n",
                port = s.port("pop3"),
                keep = if keep { "keep" } else { "nokeep" },
                dir = out_dir.display(),
            ),
        )
        .expect("write rc");
        let mut perms = std::fs::metadata(&rc).expect("meta").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
        std::fs::set_permissions(&rc, perms).expect("chmod");
        let out = Command::new("fetchmail")
            .arg("-f")
            .arg(&rc)
            .arg("--idfile")
            .arg(work.path().join(idfile))
            .arg("--nodetach")
            .arg("--nosyslog")
            .arg("-v")
            .env("HOME", work.path())
            .output()
            .expect("run fetchmail");
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let count = || std::fs::read_dir(&out_dir).expect("read_dir").count();

    // keep: three downloaded, all still on the server.
    let (code, log) = run(true, "ids");
    assert_eq!(
        code,
        0,
        "fetchmail failed:\n{log}\nserver log:\n{}",
        s.log()
    );
    assert_eq!(count(), 3, "{log}");
    let stored = std::fs::read_dir(&out_dir)
        .expect("read_dir")
        .map(|e| std::fs::read_to_string(e.expect("entry").path()).expect("read"))
        .collect::<Vec<_>>();
    assert!(
        stored.iter().any(|m| m.contains("\n.dot line 1")),
        "{stored:?}"
    );
    // Second keep run: nothing new (exit 1 = no mail), UIDL remembered.
    let (code, log) = run(true, "ids");
    assert_eq!(code, 1, "second run should find no new mail:\n{log}");
    assert_eq!(count(), 3);
    // Delete: a fresh id file downloads all three again and removes them from the server.
    let (code, log) = run(false, "ids2");
    assert_eq!(code, 0, "{log}");
    assert_eq!(count(), 6);
    let mut pop = Raw::connect(&s, "pop3");
    pop.pop(&format!("USER {USER}"));
    pop.pop(&format!("PASS {PASSWORD}"));
    assert_eq!(pop.pop("STAT"), "+OK 0 0\r\n");
}
