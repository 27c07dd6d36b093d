//! The HTTP listener (issue 21) through the real binary over TCP: the autoconfiguration
//! documents fetched the way each mail program fetches them (curl as the HTTP client, the
//! answers parsed with roxmltree and plist and checked field by field against the documented
//! schemas), `/metrics` scraped after real IMAP and SMTP traffic (python's imaplib and
//! smtplib), `/healthz`, and the records `pochta dns` prints.

mod common;

use std::process::Command;

use common::{HOSTNAME, TestDir, TestServer, free_ports, stdout};

const USER: &str = "alice@example.test";
const PASS: &str = "alice password";

/// `curl` with the server's certificate trusted; returns (status, body).
fn curl(server: &TestServer, args: &[&str]) -> (u16, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(server.cert())
        .args(["-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut body = out.stdout;
    let nl = body.iter().rposition(|b| *b == b'\n').expect("status line");
    let status = std::str::from_utf8(&body[nl + 1..])
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    body.truncate(nl);
    (status, body)
}

/// The texts of every element called `name`.
fn texts(doc: &roxmltree::Document, name: &str) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == name)
        .map(|n| n.text().unwrap_or("").trim().to_owned())
        .collect()
}

fn start() -> TestServer {
    let names = [
        "imap",
        "imaps",
        "pop3",
        "smtp",
        "submission",
        "submissions",
        "http",
        "https",
    ];
    let ports = free_ports(names.len());
    let listeners: Vec<(&'static str, u16)> = names.iter().copied().zip(ports).collect();
    let dir = TestDir::new(&listeners, "[smtp]\ncheck_inbound = false\n");
    dir.add_user(USER, PASS);
    TestServer::start_in(dir, listeners)
}

#[test]
fn mail_programs_find_their_settings() {
    let server = start();
    let https = |path: &str| format!("https://localhost:{}{path}", server.port("https"));
    let http = |path: &str| format!("http://127.0.0.1:{}{path}", server.port("http"));

    // Thunderbird: GET …/mail/config-v1.1.xml?emailaddress=… on both of its URLs, over
    // HTTPS and plain HTTP.
    for url in [
        https("/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.test"),
        http("/mail/config-v1.1.xml?emailaddress=alice%40example.test"),
    ] {
        let (status, body) = curl(&server, &[&url]);
        assert_eq!(status, 200, "{url}");
        let text = String::from_utf8(body).unwrap();
        let doc = roxmltree::Document::parse(&text).expect("clientConfig is XML");
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "clientConfig");
        assert_eq!(root.attribute("version"), Some("1.1"));
        let provider = root.first_element_child().unwrap();
        assert_eq!(provider.tag_name().name(), "emailProvider");
        assert_eq!(provider.attribute("id"), Some("example.test"));
        assert_eq!(texts(&doc, "domain"), ["example.test"]);
        let servers: Vec<(String, String, String, String)> = doc
            .descendants()
            .filter(|n| n.has_tag_name("incomingServer") || n.has_tag_name("outgoingServer"))
            .map(|n| {
                let child = |c: &str| {
                    n.children()
                        .find(|k| k.has_tag_name(c))
                        .and_then(|k| k.text())
                        .unwrap_or("")
                        .to_owned()
                };
                assert_eq!(child("hostname"), HOSTNAME);
                assert_eq!(child("username"), "%EMAILADDRESS%");
                assert_eq!(child("authentication"), "password-cleartext");
                (
                    n.attribute("type").unwrap().to_owned(),
                    child("port"),
                    child("socketType"),
                    n.tag_name().name().to_owned(),
                )
            })
            .collect();
        let p = |l: &str| server.port(l).to_string();
        assert_eq!(
            servers,
            [
                (
                    "imap".into(),
                    p("imaps"),
                    "SSL".into(),
                    "incomingServer".into()
                ),
                (
                    "pop3".into(),
                    p("pop3"),
                    "STARTTLS".into(),
                    "incomingServer".into()
                ),
                (
                    "smtp".into(),
                    p("submissions"),
                    "SSL".into(),
                    "outgoingServer".into()
                ),
            ]
        );
    }

    // Outlook: POST the POX request to /autodiscover/autodiscover.xml (Outlook writes
    // the path in either case).
    let request = r#"<?xml version="1.0" encoding="utf-8"?>
<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
  <Request>
    <EMailAddress>alice@example.test</EMailAddress>
    <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
  </Request>
</Autodiscover>"#;
    let (status, body) = curl(
        &server,
        &[
            "-H",
            "Content-Type: text/xml",
            "--data-binary",
            request,
            &https("/Autodiscover/Autodiscover.xml"),
        ],
    );
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("autodiscover answer is XML");
    assert_eq!(
        doc.root_element().tag_name().namespace(),
        Some("http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006")
    );
    let response = doc
        .descendants()
        .find(|n| n.has_tag_name("Response"))
        .unwrap();
    assert_eq!(
        response.tag_name().namespace(),
        Some("http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a")
    );
    assert_eq!(texts(&doc, "AccountType"), ["email"]);
    assert_eq!(texts(&doc, "Action"), ["settings"]);
    assert_eq!(texts(&doc, "Type"), ["IMAP", "POP3", "SMTP"]);
    assert_eq!(texts(&doc, "Server"), [HOSTNAME; 3]);
    let ports: Vec<String> = ["imaps", "pop3", "submissions"]
        .iter()
        .map(|l| server.port(l).to_string())
        .collect();
    assert_eq!(texts(&doc, "Port"), ports);
    assert_eq!(texts(&doc, "SSL"), ["on", "off", "on"]);
    assert_eq!(texts(&doc, "Encryption"), ["TLS"], "POP3 is STARTTLS");
    assert_eq!(texts(&doc, "LoginName"), [USER; 3]);
    // A GET is not how autodiscover asks; a request without an address gets error 600.
    let (status, _) = curl(&server, &[&https("/autodiscover/autodiscover.xml")]);
    assert_eq!(status, 405);
    let (status, body) = curl(
        &server,
        &[
            "--data-binary",
            "<x/>",
            &https("/autodiscover/autodiscover.xml"),
        ],
    );
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(texts(&doc, "ErrorCode"), ["600"]);

    // Apple: the configuration profile for an address.
    let (status, body) = curl(
        &server,
        &[
            "-i",
            &https("/mobileconfig?emailaddress=alice@example.test"),
        ],
    );
    assert_eq!(status, 200);
    let head_end = body.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&body[..head_end]).to_ascii_lowercase();
    assert!(
        head.contains("content-type: application/x-apple-aspen-config"),
        "{head}"
    );
    let profile = plist::Value::from_reader(std::io::Cursor::new(&body[head_end + 4..]))
        .expect("the profile is a plist");
    let top = profile.as_dictionary().unwrap();
    assert_eq!(top["PayloadType"].as_string(), Some("Configuration"));
    assert_eq!(top["PayloadVersion"].as_unsigned_integer(), Some(1));
    assert!(top["PayloadUUID"].as_string().unwrap().len() == 36);
    let mail = top["PayloadContent"].as_array().unwrap()[0]
        .as_dictionary()
        .unwrap();
    assert_eq!(
        mail["PayloadType"].as_string(),
        Some("com.apple.mail.managed")
    );
    assert_eq!(mail["EmailAccountType"].as_string(), Some("EmailTypeIMAP"));
    assert_eq!(mail["EmailAddress"].as_string(), Some(USER));
    assert_eq!(
        mail["IncomingMailServerHostName"].as_string(),
        Some(HOSTNAME)
    );
    assert_eq!(
        mail["IncomingMailServerPortNumber"].as_unsigned_integer(),
        Some(u64::from(server.port("imaps")))
    );
    assert_eq!(mail["IncomingMailServerUseSSL"].as_boolean(), Some(true));
    assert_eq!(mail["IncomingMailServerUsername"].as_string(), Some(USER));
    assert_eq!(
        mail["OutgoingMailServerPortNumber"].as_unsigned_integer(),
        Some(u64::from(server.port("submissions")))
    );
    assert_eq!(
        mail["OutgoingMailServerAuthentication"].as_string(),
        Some("EmailAuthPassword")
    );
    let (status, _) = curl(&server, &[&https("/mobileconfig")]);
    assert_eq!(status, 400);
    let (status, _) = curl(&server, &[&https("/nothing-here")]);
    assert_eq!(status, 404);

    // `pochta dns` names the SRV records and the autoconfig/autodiscover hosts.
    let o = server.cli(&["dns", "example.test"]);
    assert!(o.status.success());
    let out = stdout(&o);
    let imaps = format!(
        "_imaps._tcp.example.test. IN SRV 0 1 {} {HOSTNAME}.",
        server.port("imaps")
    );
    let submissions = format!(
        "_submissions._tcp.example.test. IN SRV 0 1 {} {HOSTNAME}.",
        server.port("submissions")
    );
    for line in [
        imaps.as_str(),
        submissions.as_str(),
        "_pop3s._tcp.example.test. IN SRV 0 0 0 .",
        "autoconfig.example.test. IN CNAME pochta.test.",
        "autodiscover.example.test. IN CNAME pochta.test.",
    ] {
        assert!(
            out.lines().any(|l| l == line),
            "missing {line:?} in:\n{out}"
        );
    }
}

/// The value of the series `name{labels}` in a Prometheus text exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn metrics_show_the_traffic_and_health_is_reported() {
    let server = start();
    let url = |path: &str| format!("http://127.0.0.1:{}{path}", server.port("http"));

    // Real traffic: two IMAP logins (one failing) with a few commands, one message accepted
    // and one refused over SMTP.
    let script = format!(
        r#"
import imaplib, smtplib
try:
    imaplib.IMAP4("127.0.0.1", {imap}).login("{USER}", "wrong")
except imaplib.IMAP4.error:
    pass
m = imaplib.IMAP4("127.0.0.1", {imap})
m.login("{USER}", "{PASS}")
m.select("INBOX")
m.noop()
m.logout()
s = smtplib.SMTP("127.0.0.1", {smtp})
s.sendmail("bob@remote.test", ["{USER}"], b"Subject: hi\r\nFrom: bob@remote.test\r\n\r\nhello\r\n")
try:
    s.sendmail("bob@remote.test", ["nobody@example.test"], b"Subject: x\r\n\r\nx\r\n")
except smtplib.SMTPRecipientsRefused:
    pass
s.quit()
m = imaplib.IMAP4("127.0.0.1", {imap})
m.login("{USER}", "{PASS}")
m.create("Kept")
m.select("INBOX")
m.fetch("1", "(BODY.PEEK[])")
m.copy("1", "Kept")
m.store("1", "+FLAGS", "(\\Deleted)")
m.expunge()
m.logout()
print("traffic done")
"#,
        imap = server.port("imap"),
        smtp = server.port("smtp"),
    );
    let o = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("traffic done"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let (status, body) = curl(&server, &[&url("/metrics")]);
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    let has = |series: &str, at_least: f64| {
        let v = sample(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
        assert!(v >= at_least, "{series} = {v}, expected >= {at_least}");
    };
    has(
        "pochta_logins_total{protocol=\"imap\",mechanism=\"PASSWORD\",result=\"ok\"}",
        1.0,
    );
    has(
        "pochta_logins_total{protocol=\"imap\",mechanism=\"PASSWORD\",result=\"credentials\"}",
        1.0,
    );
    has("pochta_imap_commands_total{command=\"SELECT\"}", 1.0);
    has("pochta_imap_commands_total{command=\"NOOP\"}", 1.0);
    has("pochta_imap_command_seconds_count{command=\"SELECT\"}", 1.0);
    has(
        "pochta_imap_command_seconds_bucket{le=\"+Inf\",command=\"SELECT\"}",
        1.0,
    );
    has(
        "pochta_smtp_messages_total{kind=\"mta\",code=\"250\",result=\"accepted\"}",
        1.0,
    );
    has("pochta_connections_total{listener=\"imap\"}", 2.0);
    has("pochta_connections_total{listener=\"smtp\"}", 1.0);
    has("pochta_connections_total{listener=\"http\"}", 1.0);
    has("pochta_sessions{listener=\"http\"}", 1.0);
    has("pochta_queue_depth", 0.0);
    has("pochta_store_bytes{file=\"pochta.sqlite3\"}", 1.0);
    // Store operations by backend, and what is stored (the copy in Kept: one message).
    for op in [
        "deliver",
        "summaries",
        "fetch",
        "blob",
        "copy",
        "store_flags",
        "expunge",
        "mailbox_create",
    ] {
        has(
            &format!(
                "pochta_store_operations_total{{backend=\"embedded\",op=\"{op}\",result=\"ok\"}}"
            ),
            1.0,
        );
    }
    assert_eq!(sample(&text, "pochta_store_messages"), Some(1.0), "{text}");
    has("pochta_store_message_bytes", 40.0);
    assert!(text.ends_with("# EOF\n"));

    let (status, body) = curl(&server, &[&url("/healthz")]);
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("store: ok") && text.contains("listeners: ok"),
        "{text}"
    );
}
