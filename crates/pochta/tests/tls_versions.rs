//! Only TLS 1.2 and 1.3: a client that offers nothing newer than TLS 1.0 or 1.1 is refused by
//! the server with a TLS alert, on implicit TLS (IMAPS) and after STARTTLS (IMAP).
//! The same client with TLS 1.2 and 1.3 connects, which shows the refusal comes from the
//! server and not from the client. rustls implements nothing older than TLS 1.2, so the
//! refusal cannot be switched off to watch this test fail; it guards against a future change
//! of TLS library or configuration.
//!
//! The client is `openssl s_client` with `@SECLEVEL=0`, so that OpenSSL itself is willing to
//! offer the old versions. Skipped with a message if `openssl` is not installed (CI installs
//! it).

mod common;

use std::process::{Command, Stdio};

use common::{TestServer, tool_available};

/// Runs `openssl s_client` against `port` with `args` and returns (success, output).
fn s_client(port: u16, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(["s_client", "-brief", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", "localhost", "-cipher", "DEFAULT:@SECLEVEL=0"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl s_client");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn tls_1_0_and_1_1_are_refused_1_2_and_1_3_accepted() {
    if !tool_available("openssl") {
        return;
    }
    let server = TestServer::start_with(&["imap", "imaps"], "");
    for (listener, starttls) in [("imaps", &[][..]), ("imap", &["-starttls", "imap"][..])] {
        let port = server.port(listener);
        for old in ["-tls1", "-tls1_1"] {
            let (ok, out) = s_client(port, &[&[old][..], starttls].concat());
            assert!(
                !ok && !out.contains("CONNECTION ESTABLISHED"),
                "{listener} {old}: a session was established:\n{out}"
            );
            // The server's alert (rustls answers `handshake_failure` or `protocol_version`),
            // not a local OpenSSL refusal such as "no protocols available".
            assert!(
                out.contains("alert handshake failure") || out.contains("alert protocol version"),
                "{listener} {old}: not refused by the server with an alert:\n{out}"
            );
        }
        for (new, name) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
            let (_, out) = s_client(port, &[&[new][..], starttls].concat());
            assert!(
                out.contains("CONNECTION ESTABLISHED") && out.contains(name),
                "{listener} {new}: the control connection failed:\n{out}"
            );
        }
    }
}
