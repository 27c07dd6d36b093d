//! Bad configurations through the real binary: exit 1 and one line naming key and problem.

mod common;

use std::fs;

use common::*;

fn serve_with(config: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pochta.toml");
    fs::write(&path, config).unwrap();
    let o = run(&["--config", path.to_str().unwrap(), "serve"]);
    (o.status.code().unwrap_or(-1), stderr(&o))
}

const HEAD: &str = "hostname = \"pochta.test\"\ndata_dir = \"data\"\n";

#[test]
fn bad_configs_refuse_to_start() {
    let cases = [
        (
            format!("{HEAD}[listen]\nimap = [\"127.0.0.1\"]\n"),
            "listen.imap[0]: \"127.0.0.1\" is not an ip:port address",
        ),
        (
            format!("{HEAD}[listen]\nimapx = [\"127.0.0.1:1\"]\n"),
            "listen.imapx: unknown key",
        ),
        (
            format!("{HEAD}[auth]\nplaintext = \"sometimes\"\n"),
            "auth.plaintext: \"sometimes\" is not one of",
        ),
        (
            "data_dir = \"data\"\n".to_owned(),
            "hostname: missing (required)",
        ),
        (
            format!("{HEAD}[tls]\ncert = \"missing-cert.pem\"\nkey = \"missing-key.pem\"\n"),
            "missing-cert.pem: cannot read certificate",
        ),
        (
            format!("{HEAD}[limits]\nconnections_per_ip = -1\n"),
            "limits.connections_per_ip: must be positive",
        ),
        (
            "hostname = \"pochta.test\"\ndata_dir = [\n".to_owned(),
            "invalid TOML",
        ),
    ];
    for (text, want) in cases {
        let (code, err) = serve_with(&text);
        assert_eq!(
            code, 1,
            "config {text:?} should fail with exit 1; stderr: {err}"
        );
        assert!(
            err.contains(want),
            "config {text:?}\nstderr: {err}\nwant: {want}"
        );
        assert!(err.contains("error: "), "{err}");
    }
}

#[test]
fn missing_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.toml");
    let o = run(&["--config", path.to_str().unwrap(), "serve"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("nope.toml: cannot read config"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn port_in_use_names_listener_and_address() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let (code, err) = serve_with(&format!("{HEAD}[listen]\npop3 = [\"127.0.0.1:{port}\"]\n"));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("pop3: cannot listen on 127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn init_writes_a_dev_config_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("dev");
    let o = run(&["init", target.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = fs::read_to_string(target.join("pochta.toml")).unwrap();
    assert!(text.contains("imap        = [\"127.0.0.1:1143\"]"));
    assert!(text.contains("data_dir = \"data\""));
    // A second init leaves the file alone.
    fs::write(target.join("pochta.toml"), "# mine\n").unwrap();
    let o = run(&["init", target.to_str().unwrap()]);
    assert!(stdout(&o).contains("already exists"), "{}", stdout(&o));
    assert_eq!(
        fs::read_to_string(target.join("pochta.toml")).unwrap(),
        "# mine\n"
    );
}
