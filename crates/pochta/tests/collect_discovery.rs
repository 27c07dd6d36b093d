//! `pochta collect add LOCAL old@provider.example` finds the source by itself: RFC 6186 SRV
//! records, Mozilla-style autoconfig (both URLs), an MX run by a large provider, the built-in
//! provider table — through the binary, with a real DNS server (pochta-dns `testing`,
//! dnslib), a local HTTPS autoconfig server with its own CA, and Dovecot as the remote.
//!
//! Needs python3 + dnslib and Dovecot (both installed by .ci/run); skipped locally without.

mod common;
#[path = "../../collector/tests/dovecot/mod.rs"]
mod dovecot;
mod web;

use common::*;
use dovecot::{Dovecot, PASSWORD, USER};
use pochta_dns::testing::TestDnsServer;

const SOA: &str = "IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300";

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "failed: {}\n{}", stdout(o), stderr(o));
    stdout(o)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collect_add_discovers_the_source() {
    let Some(d) = Dovecot::start() else { return };
    let port = d.imap_port;
    // Autoconfig: auto.example (first URL) and wk.example (.well-known only); the user name
    // template maps the address onto the Dovecot user.
    let xml = move |user: &str| {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1"><emailProvider id="example">
 <domain>example</domain>
 <incomingServer type="pop3"><hostname>127.0.0.1</hostname><port>{}</port>
  <socketType>plain</socketType><username>%EMAILADDRESS%</username></incomingServer>
 <incomingServer type="imap"><hostname>127.0.0.1</hostname><port>{port}</port>
  <socketType>plain</socketType><username>{user}</username>
  <authentication>password-cleartext</authentication></incomingServer>
</emailProvider></clientConfig>"#,
            port + 1
        )
    };
    let web = web::WebServer::start(
        &["autoconfig.auto.example", "wk.example"],
        move |r: &web::Request| match (r.host.split(':').next(), r.target.as_str()) {
            (Some("autoconfig.auto.example"), t) if t.starts_with("/mail/config-v1.1.xml?") => {
                (200, "text/xml", xml("%EMAILLOCALPART%@example.net"))
            }
            (Some("wk.example"), "/.well-known/autoconfig/mail/config-v1.1.xml") => {
                (200, "text/xml", xml(USER))
            }
            _ => (404, "text/plain", "not here".into()),
        },
    )
    .await;
    let zone = format!(
        "example.net. 300 {SOA}
_imaps._tcp.example.net. 300 IN SRV 0 0 0 .
_imap._tcp.example.net. 300 IN SRV 10 5 {port} localhost.
_imap._tcp.example.net. 300 IN SRV 20 5 1 localhost.
auto.example. 300 {SOA}
autoconfig.auto.example. 300 IN A 127.0.0.1
wk.example. 300 {SOA}
wk.example. 300 IN A 127.0.0.1
mx.example. 300 {SOA}
mx.example. 300 IN MX 10 alt1.aspmx.l.google.com.
mx.example. 300 IN MX 5 aspmx.l.google.com.
other.example. 300 {SOA}
other.example. 300 IN MX 10 mx.other.example.
"
    );
    let Some(dns) = TestDnsServer::start(&zone) else {
        return;
    };
    let extra = format!(
        "[dns]\nservers = [\"{}\"]\ntimeout = 2\nattempts = 1\n{}",
        dns.addr,
        web.collector_section()
    );
    let dir = TestDir::new(&[], &extra);
    for u in ["srv@example.org", "auto@example.org", "wk@example.org"] {
        dir.add_user(u, "Local-Pass-1");
    }

    // SRV: _imaps is "." (not offered), _imap has two targets, the lowest priority wins.
    // --dry-run shows the plan and saves nothing.
    let plan = ok(&dir.cli(&["collect", "add", "srv@example.org", USER, "--dry-run"]));
    assert!(
        plan.contains("SRV _imaps._tcp.example.net: not offered"),
        "{plan}"
    );
    let want = format!(
        "found imap://localhost:{port} for {USER} (by RFC 6186 SRV record _imap._tcp.example.net)"
    );
    assert!(plan.contains(&want), "{plan}");
    assert!(
        plan.contains("dry run:") && plan.contains("nothing done"),
        "{plan}"
    );
    assert!(!stdout(&dir.cli(&["collect", "list"])).contains("localhost"));
    // For real: only the address and the password.
    let added = ok(&dir.cli_with_stdin(
        &[
            "collect",
            "add",
            "srv@example.org",
            USER,
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    ));
    assert!(added.contains("logged in to"), "{added}");
    assert!(dns.count("_imap._tcp.example.net", "SRV") >= 1);
    // A wrong password: found, then refused, nothing saved.
    let o = dir.cli(&[
        "collect",
        "add",
        "wk@example.org",
        USER,
        "--password",
        "wrong",
        "--user",
        "x",
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("AUTHENTICATIONFAILED"),
        "{}",
        stderr(&o)
    );

    // Autoconfig, first URL (no SRV records for auto.example): the address is sent, the
    // user name template applied, IMAP chosen over the POP3 server listed first.
    let added = ok(&dir.cli_with_stdin(
        &[
            "collect",
            "add",
            "auto@example.org",
            "remote@auto.example",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    ));
    let first = format!(
        "autoconfig https://autoconfig.auto.example:{}/mail/config-v1.1.xml?emailaddress=remote%40auto.example: imap://127.0.0.1:{port} as {USER}",
        web.port
    );
    assert!(added.contains(&first), "{added}");
    assert!(added.contains("SRV _pop3._tcp.auto.example"), "{added}");
    assert!(added.contains("logged in to"), "{added}");
    // .well-known (autoconfig.wk.example does not resolve).
    let added = ok(&dir.cli_with_stdin(
        &[
            "collect",
            "add",
            "wk@example.org",
            "someone@wk.example",
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    ));
    assert!(
        added.contains("/.well-known/autoconfig/mail/config-v1.1.xml: imap://127.0.0.1"),
        "{added}"
    );
    assert!(added.contains("logged in to"), "{added}");
    let reqs = web.requests();
    assert!(
        reqs.iter()
            .any(|r| r.target == "/mail/config-v1.1.xml?emailaddress=remote%40auto.example"),
        "{reqs:?}"
    );
    // Each discovered source imports.
    for local in ["srv@example.org", "auto@example.org", "wk@example.org"] {
        let run = ok(&dir.cli(&["collect", "run", local, "--once"]));
        assert!(run.contains("new messages"), "{run}");
    }

    // MX at a large provider (lowest preference first): that provider's IMAP server.
    let plan = ok(&dir.cli(&[
        "collect",
        "add",
        "srv@example.org",
        "boss@mx.example",
        "--dry-run",
    ]));
    assert!(
        plan.contains("found imaps://imap.gmail.com for boss@mx.example (by MX record: mx.example's mail goes to aspmx.l.google.com, run by Gmail)"),
        "{plan}"
    );
    assert!(plan.contains("note: Google refuses"), "{plan}");
    // The built-in table, after SRV, autoconfig and MX found nothing (asked of our DNS).
    for (address, imap) in [
        ("ivan@yandex.ru", "imaps://imap.yandex.ru"),
        ("ivan@mail.ru", "imaps://imap.mail.ru"),
        ("ivan@gmail.com", "imaps://imap.gmail.com"),
        ("ivan@outlook.com", "imaps://outlook.office365.com"),
        ("ivan@icloud.com", "imaps://imap.mail.me.com"),
        ("ivan@rambler.ru", "imaps://imap.rambler.ru"),
    ] {
        let plan = ok(&dir.cli(&["collect", "add", "srv@example.org", address, "--dry-run"]));
        assert!(
            plan.contains(&format!(
                "found {imap} for {address} (by built-in provider table"
            )),
            "{plan}"
        );
    }
    assert!(dns.count("_imaps._tcp.yandex.ru", "SRV") >= 1);
    assert!(dns.count("yandex.ru", "MX") >= 1);
    // Nothing anywhere: a clear refusal.
    let o = dir.cli(&[
        "collect",
        "add",
        "srv@example.org",
        "x@other.example",
        "--dry-run",
    ]);
    assert!(!o.status.success());
    assert!(
        stdout(&o).contains("MX other.example: mx.other.example (no known provider)"),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("no mail server found for x@other.example"),
        "{}",
        stderr(&o)
    );
}

/// The collector's IMAP and POP3 connections resolve the source's host through the server's
/// resolver (`[dns] servers`), not the system's: `mail.only-here.test` is known only to the
/// test's DNS server (the machine's own resolver answers NXDOMAIN for everything).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_resolve_through_the_servers_resolver() {
    let Some(d) = Dovecot::start() else { return };
    let zone = format!(
        "only-here.test. 300 {SOA}
mail.only-here.test. 300 IN A 127.0.0.1
"
    );
    let Some(dns) = TestDnsServer::start(&zone) else {
        return;
    };
    {
        let url = pochta_collector::SourceUrl::parse(&d.imap_url()).expect("url");
        let mut c = pochta_collector::imap::ImapClient::connect(&url, false)
            .await
            .expect("connect");
        c.login(USER, PASSWORD).await.expect("login");
        c.append(
            "INBOX",
            &["\\Seen"],
            None,
            b"From: a@example.net\r\nSubject: via DNS\r\nMessage-ID: <dns.1@x>\r\n\r\nbody\r\n",
        )
        .await
        .expect("append");
        c.logout().await;
    }
    let extra = format!(
        "[dns]\nservers = [\"{}\"]\ntimeout = 2\nattempts = 1\n",
        dns.addr
    );
    let dir = TestDir::new(&[], &extra);
    let imap = format!("imap://mail.only-here.test:{}", d.imap_port);
    let pop3 = format!("pop3://mail.only-here.test:{}", d.pop3_port);
    for (local, url) in [("imap@example.org", &imap), ("pop@example.org", &pop3)] {
        dir.add_user(local, "Local-Pass-1");
        // `collect add` logs in before saving: through our DNS too.
        let added = ok(&dir.cli(&[
            "collect",
            "add",
            local,
            url,
            "--user",
            USER,
            "--password",
            PASSWORD,
        ]));
        assert!(added.contains("logged in to"), "{added}");
        let run = ok(&dir.cli(&["collect", "run", local, "--once"]));
        assert!(run.contains(" 1 new message"), "{url}: {run}");
    }
    assert!(
        dns.count("mail.only-here.test", "A") >= 2,
        "{:?}",
        dns.queries()
    );
    // A name our DNS does not know fails with the resolver's answer, not a hang.
    let o = dir.cli(&[
        "collect",
        "add",
        "imap@example.org",
        &format!("imap://nowhere.only-here.test:{}", d.imap_port),
        "--user",
        USER,
        "--password",
        PASSWORD,
    ]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("nowhere.only-here.test: no such domain"),
        "{}",
        stderr(&o)
    );
}
