//! SMTP through the real binary, driven by clients nobody on this project wrote: Python's
//! smtplib (inbound MTA and submission, read back over IMAP and POP3 byte for byte) and
//! Debian's swaks.
//!
//! These tools are installed by `.ci/run`. Locally, a missing tool skips its test with a
//! message; under CI (`CI` set) a missing tool fails the test.

mod common;

use std::process::Command;

use common::*;

const USER: &str = "smtp-interop@example.org";
const OTHER: &str = "smtp-other@example.org";
const PASSWORD: &str = "Interop-Pass-1";

fn server() -> TestServer {
    let ports: Vec<(&'static str, u16)> = ["smtp", "submission", "imap", "pop3"]
        .into_iter()
        .zip(free_ports(4))
        .collect();
    // No DNS checks: the test machine may have no resolver, and CI must not query the net.
    let dir = TestDir::new(
        &ports,
        // The remote domain routes to a closed loopback port: queued mail stays deferred and
        // nothing leaves the machine.
        "[auth]\nplaintext = \"tls-or-loopback\"\n[smtp]\ncheck_inbound = false\n\
         [smtp.routes]\n\"elsewhere.example\" = \"127.0.0.1:9\"\n",
    );
    dir.add_user(USER, PASSWORD);
    dir.add_user(OTHER, PASSWORD);
    TestServer::start_in(dir, ports)
}

#[test]
fn python_smtplib_scenario() {
    if !tool_available("python3") {
        return;
    }
    let s = server();
    let args = [
        "127.0.0.1".to_string(),
        s.port("smtp").to_string(),
        s.port("submission").to_string(),
        s.port("imap").to_string(),
        s.port("pop3").to_string(),
        USER.into(),
        PASSWORD.into(),
        OTHER.into(),
    ];
    run_interop_script(&s, "smtplib_scenario.py", &args, "smtplib scenario: ok");
}

/// Counts INBOX messages of `who` whose text contains `needle`, over IMAP with imaplib.
fn imap_count(s: &TestServer, who: &str, needle: &str) -> usize {
    let code = format!(
        "import imaplib,sys\nm=imaplib.IMAP4('127.0.0.1',{port})\nm.login('{who}','{PASSWORD}')\nm.select('INBOX',readonly=True)\nt,d=m.search(None,'BODY','{needle}')\nprint(len(d[0].split()))\n",
        port = s.port("imap")
    );
    let out = Command::new("python3")
        .args(["-c", &code])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(usize::MAX)
}

#[test]
fn swaks_inbound_and_submission() {
    if !tool_available("swaks") || !tool_available("python3") {
        return;
    }
    let s = server();
    let mta = format!("127.0.0.1:{}", s.port("smtp"));
    let out = Command::new("swaks")
        .args(["--server", &mta, "--from", "a@example.net", "--to", USER])
        .args(["--body", "swaks-inbound-token", "--pipeline"])
        .output()
        .expect("run swaks");
    assert!(
        out.status.success(),
        "swaks inbound failed:\n{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    let sub = format!("127.0.0.1:{}", s.port("submission"));
    let out = Command::new("swaks")
        .args(["--server", &sub, "--from", USER, "--to", OTHER])
        .args(["--header", &format!("From: {USER}")])
        .args([
            "--auth",
            "PLAIN",
            "--auth-user",
            USER,
            "--auth-password",
            PASSWORD,
        ])
        // Plaintext AUTH on loopback (the tls-or-loopback policy); swaks' TLS would need
        // Net::SSLeay, which Debian installs only as a recommendation.
        .args(["--body", "swaks-submission-token"])
        .output()
        .expect("run swaks");
    assert!(
        out.status.success(),
        "swaks submission failed:\n{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    // Relay through the MTA is refused: swaks exits non-zero (24: RCPT refused).
    let out = Command::new("swaks")
        .args([
            "--server",
            &mta,
            "--from",
            "a@example.net",
            "--to",
            "x@elsewhere.example",
        ])
        .output()
        .expect("run swaks");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("554 5.7.1"));
    assert_eq!(imap_count(&s, USER, "swaks-inbound-token"), 1);
    assert_eq!(imap_count(&s, OTHER, "swaks-submission-token"), 1);
}
