use std::path::{Path, PathBuf};
use std::time::Duration;

use pochta_queue::TlsMode;

use super::*;

const BASE: &str = "/etc/pochta";

fn parse(s: &str) -> Result<Config, ConfigError> {
    Config::parse(s, Path::new(BASE))
}

fn bad(s: &str) -> String {
    match parse(s) {
        Ok(c) => panic!("accepted bad config {s:?}: {c:?}"),
        Err(e) => e.0,
    }
}

const MIN: &str = "hostname = \"mail.example.org\"\ndata_dir = \"data\"\n";

#[test]
fn issue_example_parses() {
    let text = r#"
hostname = "mail.example.org"
data_dir = "/var/lib/pochta"
[listen]
imap        = ["127.0.0.1:1143"]
imaps       = ["127.0.0.1:1993"]
pop3        = ["127.0.0.1:1110"]
pop3s       = ["127.0.0.1:1995"]
smtp        = ["127.0.0.1:2525"]
submission  = ["127.0.0.1:1587"]
submissions = ["127.0.0.1:1465"]
[tls]
cert = "cert.pem"
key  = "key.pem"
[auth]
plaintext = "tls-or-loopback"
"#;
    let c = parse(text).unwrap();
    assert_eq!(c.hostname, "mail.example.org");
    assert_eq!(c.data_dir, PathBuf::from("/var/lib/pochta"));
    assert_eq!(c.listen.len(), 7);
    assert_eq!(
        c.addrs(Protocol::Pop3s),
        ["127.0.0.1:1995".parse().unwrap()]
    );
    let tls = c.tls.unwrap();
    assert_eq!(tls.cert, PathBuf::from("/etc/pochta/cert.pem"));
    assert_eq!(tls.key, PathBuf::from("/etc/pochta/key.pem"));
    assert_eq!(c.plaintext, Plaintext::TlsOrLoopback);
    assert_eq!(c.limits, Limits::default());
}

#[test]
fn dev_config_parses() {
    let c = parse(DEV_CONFIG).unwrap();
    assert_eq!(c.listen.len(), 7);
    assert_eq!(c.data_dir, PathBuf::from("/etc/pochta/data"));
    assert!(c.tls.is_none());
    assert_eq!(c.addrs(Protocol::Imap), ["127.0.0.1:1143".parse().unwrap()]);
}

#[test]
fn minimal_config_has_defaults() {
    let c = parse(MIN).unwrap();
    assert!(c.listen.is_empty());
    assert!(c.addrs(Protocol::Smtp).is_empty());
    assert_eq!(c.plaintext, Plaintext::TlsOrLoopback);
    assert_eq!(c.idle_timeout(Protocol::Imaps), Duration::from_secs(1800));
}

#[test]
fn ipv6_and_several_addresses() {
    let c = parse(&format!(
        "{MIN}[listen]\nimap = [\"[::1]:143\", \"0.0.0.0:143\"]\n"
    ))
    .unwrap();
    assert_eq!(c.addrs(Protocol::Imap).len(), 2);
}

#[test]
fn limits_override() {
    let c = parse(&format!(
        "{MIN}[limits]\nconnections_per_ip = 5\nimap_idle_timeout = 60\nmax_message_size = 1000\n"
    ))
    .unwrap();
    assert_eq!(c.limits.connections_per_ip, 5);
    assert_eq!(c.limits.imap_idle_timeout, Duration::from_secs(60));
    assert_eq!(c.limits.max_message_size, 1000);
    assert_eq!(c.limits.max_connections, 1000);
}

#[test]
fn plaintext_policy() {
    for (s, want) in [
        ("tls-only", Plaintext::TlsOnly),
        ("always", Plaintext::Always),
    ] {
        let c = parse(&format!("{MIN}[auth]\nplaintext = \"{s}\"\n")).unwrap();
        assert_eq!(c.plaintext, want);
    }
}

#[test]
fn smtp_settings() {
    let d = parse(MIN).unwrap().smtp;
    assert_eq!(d, SmtpSettings::default());
    assert!(d.check_inbound && !d.dmarc_reject && !d.save_sent);
    let c = parse(&format!(
        "{MIN}[smtp]\ndmarc_reject = true\nsave_sent = true\ncheck_inbound = false\nmax_recipients = 5\nmax_errors = 3\ngreeting_delay = 2\n"
    ))
    .unwrap()
    .smtp;
    assert!(c.dmarc_reject && c.save_sent && !c.check_inbound);
    assert_eq!((c.max_recipients, c.max_errors), (5, 3));
    assert_eq!(c.greeting_delay, Duration::from_secs(2));
    for (text, want) in [
        (
            "dmarc_reject = \"yes\"",
            "smtp.dmarc_reject: expected a boolean, found string",
        ),
        (
            "max_recipients = 0",
            "smtp.max_recipients: must be at least 1, found 0",
        ),
        (
            "greeting_delay = -1",
            "smtp.greeting_delay: must be at least 0, found -1",
        ),
        (
            "max_errors = \"x\"",
            "smtp.max_errors: expected an integer, found string",
        ),
        (
            "relay = true",
            "smtp.relay: unknown key (expected one of: check_inbound, dmarc_reject, save_sent, max_recipients, max_errors, greeting_delay, routes, queue)",
        ),
    ] {
        assert_eq!(bad(&format!("{MIN}[smtp]\n{text}\n")), want);
    }
    assert_eq!(
        bad(&format!("{MIN}smtp = 1\n")),
        "smtp: expected a table ([smtp]), found integer"
    );
}

#[test]
fn smtp_routes() {
    let c = parse(&format!(
        "{MIN}[smtp.routes]\n\"Example.net\" = \"127.0.0.1:2526\"\n\"v6.test\" = \"[::1]:25\"\n\"plain.test\" = \"mx.plain.test\"\n\"*\" = {{ host = \"smtp.provider.example:587\", username = \"me\", password = \"pw\" }}\n"
    ))
    .unwrap()
    .smtp
    .routes;
    let r = c.lookup("example.net").unwrap();
    assert_eq!(
        (r.host.as_str(), r.port, r.tls),
        ("127.0.0.1", 2526, TlsMode::Opportunistic)
    );
    assert_eq!(c.lookup("v6.test").unwrap().host, "::1");
    assert_eq!(c.lookup("plain.test").unwrap().port, 25);
    let star = c.lookup("elsewhere.org").unwrap();
    assert_eq!(
        (star.host.as_str(), star.port),
        ("smtp.provider.example", 587)
    );
    // Credentials imply verified STARTTLS unless `tls` says otherwise.
    assert_eq!(star.tls, TlsMode::StartTls);
    assert_eq!(star.auth, Some(("me".into(), "pw".into())));
    let t = parse(&format!(
        "{MIN}[smtp.routes]\n\"a.test\" = {{ host = \"relay:465\", tls = \"implicit\" }}\n"
    ))
    .unwrap();
    assert_eq!(
        t.smtp.routes.lookup("a.test").unwrap().tls,
        TlsMode::Implicit
    );
    assert!(parse(MIN).unwrap().smtp.routes.is_empty());

    for (text, want) in [
        (
            "\"a.test\" = \"host:0\"",
            "smtp.routes.\"a.test\": \"0\" is not a port number (1-65535)",
        ),
        (
            "\"a.test\" = \"host:x\"",
            "smtp.routes.\"a.test\": \"x\" is not a port number (1-65535)",
        ),
        (
            "\"a.test\" = \":25\"",
            "smtp.routes.\"a.test\": \":25\" is not host:port",
        ),
        (
            "\"a.test\" = \"::1:25\"",
            "smtp.routes.\"a.test\": \"::1:25\" is not host:port",
        ),
        (
            "\"a.test\" = 25",
            "smtp.routes.\"a.test\": expected \"host:port\" or a table, found integer",
        ),
        (
            "\"not a domain\" = \"h:25\"",
            "smtp.routes.\"not a domain\": \"not a domain\" is not a domain or \"*\"",
        ),
        (
            "\"a.test\" = { tls = \"starttls\" }",
            "smtp.routes.\"a.test\".host: missing (required)",
        ),
        (
            "\"a.test\" = { host = \"h\", tls = \"maybe\" }",
            "smtp.routes.\"a.test\".tls: \"maybe\" is not one of \"opportunistic\", \"starttls\", \"implicit\", \"none\"",
        ),
        (
            "\"a.test\" = { host = \"h\", username = \"u\" }",
            "smtp.routes.\"a.test\".password: missing (username is set)",
        ),
        (
            "\"a.test\" = { host = \"h\", port = 1 }",
            "smtp.routes.\"a.test\".port: unknown key (expected one of: host, tls, username, password)",
        ),
    ] {
        assert_eq!(
            bad(&format!("{MIN}[smtp.routes]\n{text}\n")),
            want,
            "{text}"
        );
    }
    assert_eq!(
        bad(&format!("{MIN}[smtp]\nroutes = 1\n")),
        "smtp.routes: expected a table ([smtp.routes]), found integer"
    );
}

#[test]
fn smtp_queue() {
    let d = parse(MIN).unwrap().smtp.queue;
    assert_eq!(d, QueueSettings::default());
    assert_eq!(d.policy.max_age, Duration::from_secs(5 * 86400));
    let q = parse(&format!(
        "{MIN}[smtp.queue]\nretry = [\"1s\", 60, \"2h\"]\nmax_age = \"2d\"\ndelay_warning = \"0\"\nconcurrency = 4\n"
    ))
    .unwrap()
    .smtp
    .queue;
    assert_eq!(
        q.policy.schedule,
        [1, 60, 7200].map(Duration::from_secs).to_vec()
    );
    assert_eq!(q.policy.max_age, Duration::from_secs(2 * 86400));
    assert_eq!(q.policy.delay_warning, None);
    assert_eq!(q.concurrency, 4);
    for (text, want) in [
        (
            "retry = []",
            "smtp.queue.retry: must list at least one duration",
        ),
        (
            "retry = \"5m\"",
            "smtp.queue.retry: expected a list of durations, found string",
        ),
        (
            "retry = [\"5m\", \"soon\"]",
            "smtp.queue.retry[1]: \"soon\" is not a duration (like \"30s\", \"5m\", \"4h\", \"5d\")",
        ),
        ("retry = [0]", "smtp.queue.retry[0]: must be longer than 0"),
        (
            "max_age = \"0\"",
            "smtp.queue.max_age: must be longer than 0",
        ),
        (
            "max_age = -5",
            "smtp.queue.max_age: must be at least 0, found -5",
        ),
        (
            "delay_warning = true",
            "smtp.queue.delay_warning: expected a duration string, found boolean",
        ),
        (
            "concurrency = 0",
            "smtp.queue.concurrency: must be between 1 and 1024, found 0",
        ),
        (
            "lifetime = \"5d\"",
            "smtp.queue.lifetime: unknown key (expected one of: retry, max_age, delay_warning, concurrency)",
        ),
    ] {
        assert_eq!(bad(&format!("{MIN}[smtp.queue]\n{text}\n")), want, "{text}");
    }
}

#[test]
fn imap_anonymous() {
    assert!(!parse(MIN).unwrap().imap.anonymous);
    let c = parse(&format!("{MIN}[imap]\nanonymous = true\n")).unwrap();
    assert!(c.imap.anonymous);
    let e = parse(&format!("{MIN}[imap]\nanonymous = \"yes\"\n")).unwrap_err();
    assert_eq!(e.0, "imap.anonymous: expected a boolean, found string");
    let e = parse(&format!("{MIN}[imap]\nanonymus = true\n")).unwrap_err();
    assert!(e.0.starts_with("imap.anonymus: unknown key"), "{e}");
}

#[test]
fn imap_parallel_is_on_unless_switched_off() {
    assert!(parse(MIN).unwrap().imap.parallel);
    assert!(
        parse(&format!("{MIN}[imap]\nanonymous = true\n"))
            .unwrap()
            .imap
            .parallel
    );
    let c = parse(&format!("{MIN}[imap]\nparallel = false\n")).unwrap();
    assert!(!c.imap.parallel);
}

#[test]
fn collector_schedule() {
    let c = parse(MIN).unwrap();
    assert_eq!(c.collector.interval, Duration::from_secs(60));
    let c = parse(&format!(
        "{MIN}[collector]\ninterval = \"5m\"\nmax_backoff = \"2h\"\nidle_renew = 600\n"
    ))
    .unwrap();
    assert_eq!(c.collector.interval, Duration::from_secs(300));
    assert_eq!(c.collector.max_backoff, Duration::from_secs(7200));
    assert_eq!(c.collector.idle_renew, Duration::from_secs(600));
    for (text, want) in [
        (
            "interval = \"0s\"",
            "collector.interval: must be longer than 0",
        ),
        (
            "interval = \"soon\"",
            "collector.interval: \"soon\" is not a duration",
        ),
        (
            "idle_renew = \"30m\"",
            "collector.idle_renew: must be between 1m and 29m",
        ),
        (
            "interval = \"2h\"",
            "collector.max_backoff: must be at least collector.interval (7200 s)",
        ),
        ("every = 5", "collector.every: unknown key"),
    ] {
        let e = parse(&format!("{MIN}[collector]\n{text}\n")).unwrap_err();
        assert!(e.0.starts_with(want), "{text}: {e}");
    }
}

#[test]
fn search_index_switch() {
    assert!(parse(MIN).unwrap().search.index);
    assert!(
        !parse(&format!("{MIN}[search]\nindex = false\n"))
            .unwrap()
            .search
            .index
    );
    assert!(
        parse(&format!("{MIN}[search]\nindex = true\n"))
            .unwrap()
            .search
            .index
    );
    assert_eq!(
        bad(&format!("{MIN}[search]\nindex = \"off\"\n")),
        "search.index: expected a boolean, found string"
    );
}

#[test]
fn search_settle() {
    use std::time::Duration;
    assert_eq!(parse(MIN).unwrap().search.settle, Duration::from_secs(30));
    for (text, want) in [("\"2m\"", 120), ("0", 0), ("5", 5)] {
        let c = parse(&format!("{MIN}[search]\nsettle = {text}\n")).unwrap();
        assert_eq!(c.search.settle, Duration::from_secs(want), "{text}");
    }
    assert_eq!(
        bad(&format!("{MIN}[search]\nsettle = \"soon\"\n")),
        "search.settle: \"soon\" is not a duration (like \"30s\", \"5m\", \"4h\", \"5d\")"
    );
}

#[test]
fn pop3_mark_seen() {
    assert!(!parse(MIN).unwrap().pop3.mark_seen);
    let c = parse(&format!("{MIN}[pop3]\nmark_seen = true\n")).unwrap();
    assert!(c.pop3.mark_seen);
    assert_eq!(
        bad(&format!("{MIN}[pop3]\nmark_seen = \"yes\"\n")),
        "pop3.mark_seen: expected a boolean, found string"
    );
    assert!(
        bad(&format!("{MIN}[pop3]\nmark_read = true\n")).starts_with("pop3.mark_read: unknown key")
    );
}

/// Every bad config names the key and the problem.
#[test]
fn bad_configs() {
    let cases: &[(&str, &str)] = &[
        ("data_dir = \"d\"\n", "hostname: missing (required)"),
        ("hostname = \"h\"\n", "data_dir: missing (required)"),
        (
            "hostname = 5\ndata_dir = \"d\"\n",
            "hostname: expected a string, found integer",
        ),
        (
            "hostname = \"bad host\"\ndata_dir = \"d\"\n",
            "hostname: \"bad host\" is not a valid host name",
        ),
        (
            "hostname = \"h\"\ndata_dir = \"\"\n",
            "data_dir: must not be empty",
        ),
        (
            &format!("{MIN}colour = \"red\"\n"),
            "colour: unknown key (expected one of: hostname, data_dir, listen, tls, auth, limits, imap, pop3, smtp, collector, dns, http, search, store)",
        ),
        (
            &format!("{MIN}[listen]\nimap = [\"127.0.0.1\"]\n"),
            "listen.imap[0]: \"127.0.0.1\" is not an ip:port address",
        ),
        (
            &format!("{MIN}[listen]\npop3 = [\"127.0.0.1:110\", \"localhost:110\"]\n"),
            "listen.pop3[1]: \"localhost:110\" is not an ip:port address",
        ),
        (
            &format!("{MIN}[listen]\nimap = [\"1.2.3.4:99999\"]\n"),
            "listen.imap[0]: \"1.2.3.4:99999\" is not an ip:port address",
        ),
        (
            &format!("{MIN}[listen]\nimap = \"127.0.0.1:143\"\n"),
            "listen.imap: expected a list of \"ip:port\" strings, found string",
        ),
        (
            &format!("{MIN}[listen]\nimap = [143]\n"),
            "listen.imap[0]: expected an \"ip:port\" string, found integer",
        ),
        (
            &format!("{MIN}[listen]\nimap4 = [\"127.0.0.1:143\"]\n"),
            "listen.imap4: unknown key (expected one of: imap, imaps, pop3, pop3s, smtp, submission, submissions, http, https)",
        ),
        (
            &format!("{MIN}[listen]\nimap = [\"127.0.0.1:143\"]\npop3 = [\"127.0.0.1:143\"]\n"),
            "listen.pop3[0]: 127.0.0.1:143 is already used by listen.imap[0]",
        ),
        (
            &format!("{MIN}listen = 5\n"),
            "listen: expected a table ([listen]), found integer",
        ),
        (
            &format!("{MIN}[tls]\ncert = \"c.pem\"\n"),
            "tls.key: missing (required)",
        ),
        (
            &format!("{MIN}[tls]\nkey = \"k.pem\"\n"),
            "tls.cert: missing (required)",
        ),
        (
            &format!("{MIN}[tls]\ncert = \"c\"\nkey = \"k\"\nca = \"x\"\n"),
            "tls.ca: unknown key (expected one of: cert, key)",
        ),
        (
            &format!("{MIN}[tls]\ncert = 1\nkey = \"k\"\n"),
            "tls.cert: expected a string, found integer",
        ),
        (
            &format!("{MIN}[auth]\nplaintext = \"never\"\n"),
            "auth.plaintext: \"never\" is not one of \"tls-only\", \"tls-or-loopback\" or \"always\"",
        ),
        (
            &format!("{MIN}[auth]\nplaintext = true\n"),
            "auth.plaintext: expected a string, found boolean",
        ),
        (
            &format!("{MIN}[auth]\nmechanisms = []\n"),
            "auth.mechanisms: unknown key (expected one of: plaintext)",
        ),
        (
            &format!("{MIN}[limits]\nconnections_per_ip = 0\n"),
            "limits.connections_per_ip: must be positive, found 0",
        ),
        (
            &format!("{MIN}[limits]\nimap_idle_timeout = \"30m\"\n"),
            "limits.imap_idle_timeout: expected a positive integer, found string",
        ),
        (
            &format!("{MIN}[limits]\nthreads = 4\n"),
            "limits.threads: unknown key",
        ),
    ];
    for (text, want) in cases {
        let got = bad(text);
        assert!(
            got.starts_with(want),
            "config {text:?}\n got: {got}\nwant: {want}"
        );
    }
}

#[test]
fn invalid_toml_is_one_line_with_position() {
    let got = bad("hostname = \n");
    assert!(got.starts_with("invalid TOML: "), "{got}");
    assert!(got.contains("line 1"), "{got}");
    assert!(!got.contains('\n'), "{got}");
}

#[test]
fn load_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pochta.toml");
    let e = Config::load(&path).unwrap_err();
    assert!(e.0.contains("pochta.toml: cannot read config"), "{e}");
    std::fs::write(&path, format!("{MIN}[listen]\nimap = [\"x\"]\n")).unwrap();
    let e = Config::load(&path).unwrap_err();
    assert!(e.0.ends_with("pochta.toml: listen.imap[0]: \"x\" is not an ip:port address (e.g. \"127.0.0.1:1143\" or \"[::1]:1143\")"), "{e}");
    std::fs::write(&path, MIN).unwrap();
    assert_eq!(
        Config::load(&path).unwrap().data_dir,
        dir.path().join("data")
    );
}

/// The key path reaches every depth: sections, nested tables, inline tables, list elements.
#[test]
fn key_paths_at_every_depth() {
    for (text, want) in [
        (
            "hostname = [\"a\"]\ndata_dir = \"d\"\n",
            "hostname: expected a string, found array",
        ),
        (
            "[smtp]\nqueue = 1\n",
            "smtp.queue: expected a table ([smtp.queue]), found integer",
        ),
        (
            "[smtp.routes]\n\"a.test\" = { host = \"h\", username = 1, password = \"p\" }\n",
            "smtp.routes.\"a.test\".username: expected a string, found integer",
        ),
        (
            "[collector]\ninterval = true\n",
            "collector.interval: expected a duration string, found boolean",
        ),
        (
            "[listen]\nimap = [\"127.0.0.1:1\", 5]\n",
            "listen.imap[1]: expected an \"ip:port\" string, found integer",
        ),
        (
            "[limits]\nmax_connections = 1.5\n",
            "limits.max_connections: expected a positive integer, found float",
        ),
        (
            "[imap]\nanonymous = {}\n",
            "imap.anonymous: expected a boolean, found table",
        ),
        (
            "[smtp.queue]\nretry = [\"1m\", true]\n",
            "smtp.queue.retry[1]: expected a duration string, found boolean",
        ),
    ] {
        let text = if text.starts_with("hostname") {
            text.to_owned()
        } else {
            format!("{MIN}{text}")
        };
        assert_eq!(bad(&text), want, "{text}");
    }
}

#[test]
fn dns_section() {
    let d = parse(MIN).unwrap().dns;
    assert_eq!(d, DnsSettings::default());
    assert!(d.resolver().servers.is_empty());
    let d = parse(&format!(
        "{MIN}[dns]\nservers = [\"127.0.0.1:5353\", \"[::1]:53\"]\ntimeout = 2\nattempts = 3\nmx_port = 2526\n"
    ))
    .unwrap()
    .dns;
    let want: Vec<std::net::SocketAddr> = vec![
        "127.0.0.1:5353".parse().unwrap(),
        "[::1]:53".parse().unwrap(),
    ];
    assert_eq!(d.servers, want);
    assert_eq!(d.timeout, Some(Duration::from_secs(2)));
    assert_eq!((d.attempts, d.mx_port), (Some(3), Some(2526)));
    assert_eq!(d.resolver().attempts, Some(3));
    assert_eq!(d.resolver().timeout, Some(Duration::from_secs(2)));
    for (text, want) in [
        (
            "servers = \"1.2.3.4:53\"",
            "dns.servers: expected a list of \"ip:port\" strings, found string",
        ),
        (
            "timeout = 0",
            "dns.timeout: must be between 1 and 60, found 0",
        ),
        (
            "attempts = \"2\"",
            "dns.attempts: expected an integer, found string",
        ),
        (
            "cache = 1",
            "dns.cache: unknown key (expected one of: servers, timeout, attempts, mx_port)",
        ),
    ] {
        assert_eq!(bad(&format!("{MIN}[dns]\n{text}\n")), want, "{text}");
    }
}

#[test]
fn http_section() {
    let c = Config::parse(
        &format!(
            "{MIN}[listen]\nhttp = [\"127.0.0.1:8080\"]\nhttps = [\"127.0.0.1:8443\"]\n[http]\nmetrics_allow = [\"192.0.2.7\", \"10.0.0.0/8\"]\n"
        ),
        Path::new("/etc/pochta"),
    )
    .unwrap();
    assert_eq!(c.addrs(Protocol::Http), ["127.0.0.1:8080".parse().unwrap()]);
    assert!(Protocol::Https.implicit_tls() && !Protocol::Http.implicit_tls());
    assert_eq!(c.http.metrics_allow.len(), 2);
    assert!(c.http.metrics_allow[1].contains("10.9.8.7".parse().unwrap()));
    assert_eq!(
        Config::parse(MIN, Path::new("/")).unwrap().http,
        HttpSettings::default()
    );
    assert_eq!(
        bad(&format!("{MIN}[http]\nmetrics_allow = [\"10.0.0.0/40\"]\n")),
        "http.metrics_allow[0]: \"10.0.0.0/40\": the prefix length must be 0..=32"
    );
}

#[test]
fn store_section() {
    assert_eq!(parse(MIN).unwrap().store, StoreSettings::Embedded);
    let c = parse(&format!("{MIN}[store]\nbackend = \"embedded\"\n")).unwrap();
    assert_eq!(c.store, StoreSettings::Embedded);
    let c = parse(&format!(
        "{MIN}[store]\nbackend = \"postgres\"\nurl = \"postgres://pochta:secret@db.example.org:5432/mail\"\npool_size = 40\n"
    ))
    .unwrap();
    assert_eq!(
        c.store,
        StoreSettings::Postgres {
            url: "postgres://pochta:secret@db.example.org:5432/mail".into(),
            pool_size: 40
        }
    );
    let c = parse(&format!(
        "{MIN}[store]\nbackend = \"postgres\"\nurl = \"postgres://db/mail\"\n"
    ))
    .unwrap();
    assert!(matches!(
        c.store,
        StoreSettings::Postgres { pool_size: 16, .. }
    ));
    assert!(bad(&format!("{MIN}[store]\nbackend = \"postgres\"\n")).contains("store.url: missing"));
    assert!(bad(&format!("{MIN}[store]\nbackend = \"mysql\"\n")).contains("store.backend"));
    assert!(bad(&format!("{MIN}[store]\nurl = \"postgres://db/mail\"\n")).contains("store.url"));
    assert!(
        bad(&format!(
            "{MIN}[store]\nbackend = \"postgres\"\nurl = \"postgres://db/mail\"\npool_size = 0\n"
        ))
        .contains("store.pool_size")
    );
    assert!(
        bad(&format!(
            "{MIN}[store]\nbackend = \"postgres\"\nurl = \"postgres://db/mail\"\nhost = \"x\"\n"
        ))
        .contains("host")
    );
}
