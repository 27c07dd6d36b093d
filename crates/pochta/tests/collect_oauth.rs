//! OAuth 2.0 sign-in through the binary: `collect add --oauth` runs the device authorization
//! grant (RFC 8628) against a local OAuth server over HTTPS (its own CA, `[collector]
//! https_ca_file`), signs in to scripted IMAP servers that accept only a current bearer token
//! (one offering XOAUTH2 with SASL-IR, one OAUTHBEARER without), stores the grant sealed, and
//! renews the token before it expires.

mod common;
mod scripted;
mod web;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::*;
use scripted::{Folder, Msg, Script, ScriptedServer};

const LOCAL: &str = "mover@example.org";
const USER: &str = "old@provider.example";

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "failed: {}\n{}", stdout(o), stderr(o));
    stdout(o)
}

fn param(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.replace("%3A", ":").replace("%2F", "/").replace('+', " "))
    })
}

/// The OAuth server's state: refresh token -> current access token; polls per device code.
#[derive(Default)]
struct Auth {
    current: HashMap<String, String>,
    polls: HashMap<String, u32>,
    issued: u32,
    refreshes: u32,
}

fn inbox(n: u32) -> Vec<Folder> {
    vec![Folder {
        name: "INBOX".into(),
        attrs: String::new(),
        uid_validity: 7,
        messages: (1..=n)
            .map(|uid| Msg {
                uid,
                flags: "\\Seen".into(),
                date: "01-Jan-2024 10:00:00 +0300".into(),
                body: format!("From: a@b\r\nSubject: m{uid}\r\n\r\nbody {uid}\r\n").into_bytes(),
            })
            .collect(),
    }]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn collect_signs_in_with_oauth() {
    let auth = Arc::new(Mutex::new(Auth::default()));
    let a = Arc::clone(&auth);
    let web = web::WebServer::start(&["127.0.0.1"], move |r: &web::Request| {
        let mut st = a.lock().expect("auth");
        let json = |s: String| (200, "application/json", s);
        match (r.method.as_str(), r.target.as_str()) {
            ("POST", "/device") => {
                if param(&r.body, "client_id").as_deref() != Some("pochta-test")
                    || param(&r.body, "scope").as_deref() != Some("mail imap")
                {
                    return (400, "application/json", r#"{"error":"invalid_client"}"#.into());
                }
                st.issued += 1;
                json(format!(
                    r#"{{"device_code":"dc-{}","user_code":"WDJB-MJHT","verification_uri":"https://127.0.0.1/activate","expires_in":300,"interval":1}}"#,
                    st.issued
                ))
            }
            ("POST", "/token") => match param(&r.body, "grant_type").as_deref() {
                Some("urn:ietf:params:oauth:grant-type:device_code") => {
                    let dc = param(&r.body, "device_code").unwrap_or_default();
                    let polls = st.polls.entry(dc.clone()).or_insert(0);
                    *polls += 1;
                    if *polls == 1 {
                        // The user has not entered the code yet.
                        return (400, "application/json", r#"{"error":"authorization_pending"}"#.into());
                    }
                    let n = dc.trim_start_matches("dc-").to_owned();
                    let at = format!("at-{n}-0");
                    st.current.insert(format!("rt-{n}"), at.clone());
                    // Expires within the renewal margin: the next pass must refresh first.
                    json(format!(
                        r#"{{"access_token":"{at}","refresh_token":"rt-{n}","expires_in":60,"token_type":"Bearer"}}"#
                    ))
                }
                Some("refresh_token") => {
                    let rt = param(&r.body, "refresh_token").unwrap_or_default();
                    if !st.current.contains_key(&rt) {
                        return (400, "application/json", r#"{"error":"invalid_grant"}"#.into());
                    }
                    st.refreshes += 1;
                    let at = format!("at-{rt}-r{}", st.refreshes);
                    st.current.insert(rt, at.clone());
                    json(format!(
                        r#"{{"access_token":"{at}","expires_in":3600,"token_type":"Bearer"}}"#
                    ))
                }
                _ => (400, "application/json", r#"{"error":"unsupported_grant_type"}"#.into()),
            },
            _ => (404, "text/plain", String::new()),
        }
    })
    .await;

    // Two IMAP servers that take only a current token of ours.
    let mut servers = Vec::new();
    for caps in ["SASL-IR AUTH=XOAUTH2", "AUTH=OAUTHBEARER"] {
        let a = Arc::clone(&auth);
        let check = move |mech: &str, ir: &[u8]| {
            let ir = String::from_utf8_lossy(ir).into_owned();
            let token = match mech {
                "XOAUTH2" => ir
                    .strip_prefix(&format!("user={USER}\x01auth=Bearer "))
                    .and_then(|t| t.strip_suffix("\x01\x01")),
                "OAUTHBEARER" => ir
                    .strip_prefix(&format!("n,a={USER},\x01auth=Bearer "))
                    .and_then(|t| t.strip_suffix("\x01\x01")),
                _ => None,
            };
            token.is_some_and(|t| a.lock().expect("auth").current.values().any(|v| v == t))
        };
        servers.push(
            ScriptedServer::start(Script {
                caps: caps.into(),
                delimiter: '/',
                folders: inbox(3),
                auth: Some(Arc::new(check)),
                idle_drop: None,
            })
            .await,
        );
    }

    let dir = TestDir::new(&[], &web.collector_section());
    dir.add_user(LOCAL, "Local-Pass-1");
    let base = format!("https://127.0.0.1:{}", web.port);
    let add = |url: &str| {
        dir.cli(&[
            "collect",
            "add",
            LOCAL,
            url,
            "--user",
            USER,
            "--oauth",
            "--oauth-client-id",
            "pochta-test",
            "--oauth-device-url",
            &format!("{base}/device"),
            "--oauth-token-url",
            &format!("{base}/token"),
            "--oauth-scope",
            "mail imap",
        ])
    };
    for s in &servers {
        let added = ok(&add(&s.url()));
        assert!(
            added.contains("open https://127.0.0.1/activate and enter the code WDJB-MJHT"),
            "{added}"
        );
        assert!(added.contains("with OAuth 2.0"), "{added}");
    }
    // XOAUTH2 with SASL-IR on the first, OAUTHBEARER after a continuation on the second.
    assert!(
        servers[0]
            .commands()
            .iter()
            .any(|c| c.starts_with("AUTHENTICATE XOAUTH2 ")),
        "{:?}",
        servers[0].commands()
    );
    assert!(
        servers[1]
            .commands()
            .iter()
            .any(|c| c == "AUTHENTICATE OAUTHBEARER"),
        "{:?}",
        servers[1].commands()
    );
    // The tokens are sealed like passwords.
    let db = std::fs::read(dir.data_dir().join("collector.sqlite3")).expect("db");
    for t in ["rt-1", "at-1-0"] {
        assert!(
            !db.windows(t.len()).any(|w| w == t.as_bytes()),
            "{t} in clear"
        );
    }

    // The first pass renews both tokens (they expire within 5 minutes) and imports; the
    // servers would refuse the old ones.
    let stale: Vec<String> = auth
        .lock()
        .expect("auth")
        .current
        .values()
        .cloned()
        .collect();
    let run = ok(&dir.cli(&["collect", "run", LOCAL, "--once"]));
    assert_eq!(run.matches(" 3 new messages").count(), 2, "{run}");
    assert_eq!(auth.lock().expect("auth").refreshes, 2);
    let fresh: Vec<String> = auth
        .lock()
        .expect("auth")
        .current
        .values()
        .cloned()
        .collect();
    assert!(stale.iter().all(|t| !fresh.contains(t)));
    // The renewed tokens are stored: the next pass does not refresh again.
    let run = ok(&dir.cli(&["collect", "run", LOCAL, "--once"]));
    assert_eq!(run.matches(" 0 new messages").count(), 2, "{run}");
    assert_eq!(auth.lock().expect("auth").refreshes, 2);

    // Revoked tokens (still valid by their expiry): the servers refuse them and the pass
    // fails in their words.
    auth.lock().expect("auth").current.clear();
    let o = dir.cli(&["collect", "run", LOCAL, "--once"]);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("AUTHENTICATIONFAILED") || stdout(&o).contains("invalid"),
        "{}",
        stdout(&o)
    );
    // The OAUTHBEARER client answered the error challenge with %x01 (RFC 7628 §3.2.3).
    assert!(
        servers[1].commands().iter().any(|c| c == "AUTH-ABORT AQ=="),
        "{:?}",
        servers[1].commands()
    );
    // Passwords are refused by an OAuth-only server, in its words.
    let o = dir.cli(&[
        "collect",
        "add",
        LOCAL,
        &servers[0].url(),
        "--user",
        "x",
        "--password",
        "p",
    ]);
    assert!(
        !o.status.success()
            && stderr(&o).contains("NO [AUTHENTICATIONFAILED] passwords are not accepted"),
        "{}",
        stderr(&o)
    );
}
