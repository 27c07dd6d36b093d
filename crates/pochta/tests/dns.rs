//! DNS through the real binary, with a real authoritative DNS server on loopback
//! (`pochta_dns::testing`, zones written by the test):
//! - two instances, a.test and b.test, with no `[smtp.routes]`: A's submission → queue → MX
//!   lookup of b.test → B's MTA (`[dns] mx_port`), and B's inbound checks find A's SPF, DKIM
//!   key and DMARC records: `spf=pass`, `dkim=pass`, `dmarc=pass`;
//! - Postfix's `smtp-source` against the MTA with inbound checks on completes every message,
//!   a new connection per message and reusing connections, and the sender's records are
//!   asked once.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    TestDir, TestServer, base64, free_ports, inbox, read_line, read_until, stderr, stdout, wait_for,
};
use pochta_dns::testing::TestDnsServer;
use pochta_store::{Directory, MailStore};
use pochta_store_embedded::EmbeddedStore;
use pochta_types::{Address, MailboxName};
use tokio::io::AsyncWriteExt;

fn inbox_len(data_dir: &Path, address: &str) -> usize {
    let store = EmbeddedStore::open(data_dir).expect("open store");
    let account = store
        .account_by_address(&Address::new(address).unwrap())
        .unwrap()
        .expect("account")
        .id;
    let mb = store
        .mailbox(account, &MailboxName::inbox())
        .unwrap()
        .unwrap();
    store.summaries(mb.id).unwrap().len()
}

/// `text` as master-file character-strings of at most 200 octets (RFC 1035 §3.3.14 allows
/// 255; DKIM keys are longer than one).
fn txt_strings(text: &str) -> String {
    text.as_bytes()
        .chunks(200)
        .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
        .collect::<Vec<_>>()
        .join(" ")
}

const SOA: &str = "IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300";

#[tokio::test(flavor = "multi_thread")]
async fn mx_routing_and_spf_dkim_dmarc_pass_between_two_instances() {
    // A first, to learn its DKIM key for the zone; its [dns] section follows once the DNS
    // server is up. No routes: the MX of b.test, on B's port.
    let a_ports = free_ports(2);
    let b_port = free_ports(1)[0];
    let a_dir = TestDir::new(
        &[("smtp", a_ports[0]), ("submission", a_ports[1])],
        "[smtp.queue]\nretry = [\"1s\"]\n",
    );
    a_dir.add_user("alice@a.test", "alicepw");
    let o = a_dir.cli(&["dkim", "generate", "a.test"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o)
        .lines()
        .find(|l| l.contains("._domainkey.a.test. IN TXT"))
        .expect("DKIM record printed")
        .to_owned();
    let record = &line[line.find('"').unwrap() + 1..line.rfind('"').unwrap()];
    let zone = format!(
        "a.test. 300 {SOA}
a.test. 300 IN TXT \"v=spf1 ip4:127.0.0.1 -all\"
_dmarc.a.test. 300 IN TXT \"v=DMARC1; p=reject\"
pochta._domainkey.a.test. 300 IN TXT {}
b.test. 300 {SOA}
b.test. 300 IN MX 10 mx.b.test.
mx.b.test. 300 IN A 127.0.0.1
",
        txt_strings(record)
    );
    let Some(dns) = TestDnsServer::start(&zone) else {
        return;
    };
    let dns_section = format!("[dns]\nservers = [\"{}\"]\ntimeout = 2\n", dns.addr);

    // B: checks inbound mail (the default) through the test's DNS server.
    let b_dir = TestDir::new(&[("smtp", b_port)], &dns_section);
    b_dir.add_user("bob@b.test", "bobpw");
    let b = TestServer::start_in(b_dir, vec![("smtp", b_port)]);

    let mut config = std::fs::read_to_string(&a_dir.config).unwrap();
    config.push_str(&format!("{dns_section}mx_port = {b_port}\n"));
    std::fs::write(&a_dir.config, config).unwrap();
    let a = TestServer::start_in(
        a_dir,
        vec![("smtp", a_ports[0]), ("submission", a_ports[1])],
    );

    let mut c = a.connect("submission").await;
    read_line(&mut c).await;
    c.get_mut()
        .write_all(b"EHLO client.test\r\n")
        .await
        .unwrap();
    read_until(&mut c, "250 ").await;
    let token = base64(b"\0alice@a.test\0alicepw");
    let cmds = format!(
        "AUTH PLAIN {token}\r\nMAIL FROM:<alice@a.test>\r\nRCPT TO:<bob@b.test>\r\nDATA\r\n"
    );
    c.get_mut().write_all(cmds.as_bytes()).await.unwrap();
    for want in ["235", "250", "250", "354"] {
        let l = read_line(&mut c).await;
        assert!(l.starts_with(want), "expected {want}, got {l}");
    }
    c.get_mut()
        .write_all(
            b"From: Alice <alice@a.test>\r\nTo: <bob@b.test>\r\nSubject: via MX\r\n\r\nHello over DNS.\r\n.\r\n",
        )
        .await
        .unwrap();
    let l = read_line(&mut c).await;
    assert!(l.starts_with("250 "), "{l}");
    c.get_mut().write_all(b"QUIT\r\n").await.unwrap();

    let b_data = b.dir.data_dir();
    wait_for("delivery to b.test", Duration::from_secs(30), || {
        inbox_len(&b_data, "bob@b.test") > 0
    });
    let got = inbox(&b_data, "bob@b.test");
    assert_eq!(got.len(), 1);
    let text = String::from_utf8_lossy(&got[0]);
    assert!(text.contains("Subject: via MX"), "{text}");
    let results = text
        .split("\r\n")
        .skip_while(|l| !l.starts_with("Authentication-Results:"))
        .take_while(|l| l.starts_with("Authentication-Results:") || l.starts_with([' ', '\t']))
        .collect::<Vec<_>>()
        .join(" ");
    for want in ["dkim=pass", "spf=pass", "dmarc=pass", "header.d=a.test"] {
        assert!(
            results.contains(want),
            "{want} missing in: {results}\n{text}"
        );
    }
    // The route came from DNS: b.test's MX and its address were asked.
    assert!(dns.count("b.test", "MX") >= 1, "{:?}", dns.queries());
    assert!(dns.count("mx.b.test", "A") >= 1, "{:?}", dns.queries());
}

/// Postfix's `smtp-source` (package `postfix`; only the client runs, no Postfix daemon).
fn smtp_source() -> Option<String> {
    for p in ["/usr/sbin/smtp-source", "/usr/bin/smtp-source"] {
        if Path::new(p).exists() {
            return Some(p.to_owned());
        }
    }
    common::tool_available("smtp-source").then(|| "smtp-source".to_owned())
}

/// Messages per smtp-source run: enough for 20 parallel sessions to overlap for a while,
/// few enough for a debug build (the benchmark in bench/README.md runs 3000).
const MESSAGES: usize = 1000;

#[test]
fn smtp_source_completes_with_inbound_checks_on() {
    let Some(tool) = smtp_source() else {
        return;
    };
    let zone = format!(
        "client.test. 300 {SOA}
client.test. 300 IN TXT \"v=spf1 ip4:127.0.0.1 -all\"
_dmarc.client.test. 300 IN TXT \"v=DMARC1; p=none\"
"
    );
    let Some(dns) = TestDnsServer::start(&zone) else {
        return;
    };
    let port = free_ports(1)[0];
    let dir = TestDir::new(
        &[("smtp", port)],
        &format!("[dns]\nservers = [\"{}\"]\ntimeout = 2\n", dns.addr),
    );
    dir.add_user("b@example.org", "bpw");
    let server = TestServer::start_in(dir, vec![("smtp", port)]);
    let data = server.dir.data_dir();
    let target = format!("127.0.0.1:{port}");
    let messages = MESSAGES.to_string();
    for (run, extra) in [(1, None), (2, Some("-d"))] {
        let mut cmd = Command::new(&tool);
        cmd.args(["-s", "20", "-l", "10240", "-m", &messages]);
        cmd.args(extra);
        cmd.args(["-f", "a@client.test", "-t", "b@example.org", &target]);
        let start = Instant::now();
        let o = cmd.output().expect("run smtp-source");
        let took = start.elapsed();
        assert!(
            o.status.success(),
            "smtp-source {extra:?}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        eprintln!(
            "smtp-source {}: {MESSAGES} messages in {took:?}",
            extra.unwrap_or("(new connection per message)")
        );
        // Each run's messages are all there, each acknowledged only once stored.
        assert_eq!(inbox_len(&data, "b@example.org"), run * MESSAGES);
    }
    let all = inbox(&data, "b@example.org");
    let text = String::from_utf8_lossy(&all[all.len() - 1]).into_owned();
    assert!(text.contains("Authentication-Results:"), "{text}");
    assert!(text.contains("spf=pass"), "{text}");
    assert!(text.contains("smtp.mailfrom=a@client.test"), "{text}");
    // One resolver, one cache: the sender's SPF record was asked once for all messages.
    assert_eq!(dns.count("client.test", "TXT"), 1, "{:?}", dns.queries());
}

/// With a resolver that never answers, smtp-source still completes: the first messages wait
/// for the timeout (shared by the sessions asking at once), the failure is remembered, and
/// the rest are `temperror` at once — the silent server is not asked once per message.
#[test]
fn smtp_source_completes_when_the_resolver_is_silent() {
    let Some(tool) = smtp_source() else {
        return;
    };
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&asked);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while silent.recv_from(&mut buf).is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let port = free_ports(1)[0];
    let dir = TestDir::new(
        &[("smtp", port)],
        &format!("[dns]\nservers = [\"{silent_addr}\"]\ntimeout = 1\nattempts = 1\n"),
    );
    dir.add_user("b@example.org", "bpw");
    let server = TestServer::start_in(dir, vec![("smtp", port)]);
    let messages = 200;
    let start = Instant::now();
    let o = Command::new(&tool)
        .args(["-s", "20", "-l", "10240", "-m", &messages.to_string()])
        .args(["-f", "a@client.test", "-t", "b@example.org"])
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .expect("run smtp-source");
    eprintln!(
        "smtp-source with a silent resolver: {messages} messages in {:?}",
        start.elapsed()
    );
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let data = server.dir.data_dir();
    assert_eq!(inbox_len(&data, "b@example.org"), messages);
    let all = inbox(&data, "b@example.org");
    let text = String::from_utf8_lossy(&all[all.len() - 1]).into_owned();
    assert!(text.contains("spf=temperror"), "{text}");
    let n = asked.load(std::sync::atomic::Ordering::SeqCst);
    assert!(n < messages / 4, "the silent resolver was asked {n} times");
}
