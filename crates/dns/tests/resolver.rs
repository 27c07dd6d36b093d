//! The shared resolver against a real authoritative DNS server on loopback (`authdns.py`,
//! Python dnslib, zone written by the test): queries are counted at the server.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use mail_auth::SpfResult;
use mail_auth::spf::verify::SpfParameters;
use pochta_dns::testing::TestDnsServer;
use pochta_dns::{Dns, DnsConfig, LookupError};

fn zone() -> String {
    let big: Vec<String> = (0..12)
        .map(|i| format!("\"{}\"", format!("{i:x}").repeat(200)))
        .collect();
    format!(
        "cache.test. 3600 IN SOA ns.cache.test. hostmaster.cache.test. 1 3600 600 86400 60
cache.test. 60 IN MX 10 mx.cache.test.
cache.test. 60 IN TXT \"v=spf1 ip4:127.0.0.1 -all\"
mx.cache.test. 60 IN A 127.0.0.1
short.cache.test. 1 IN A 192.0.2.1
big.cache.test. 60 IN TXT {}
_imaps._tcp.cache.test. 60 IN SRV 0 1 993 mail.cache.test.
",
        big.join(" ")
    )
}

fn dns_for(server: &TestDnsServer) -> Arc<Dns> {
    Arc::new(Dns::new(&DnsConfig {
        servers: vec![server.addr],
        timeout: Some(Duration::from_secs(2)),
        ..DnsConfig::default()
    }))
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_lookups_reach_the_server_once() {
    let Some(server) = TestDnsServer::start(&zone()) else {
        return;
    };
    let dns = dns_for(&server);
    for _ in 0..5 {
        assert_eq!(
            dns.mx("cache.test").await,
            Ok(vec![(10, "mx.cache.test".to_string())])
        );
        assert_eq!(
            dns.ips("mx.cache.test").await,
            Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)])
        );
    }
    assert_eq!(
        server.count("cache.test", "MX"),
        1,
        "{:?}",
        server.queries()
    );
    assert_eq!(
        server.count("mx.cache.test", "A"),
        1,
        "{:?}",
        server.queries()
    );
    // AAAA: NODATA (the name has an A record), cached as a negative answer.
    assert_eq!(
        server.count("mx.cache.test", "AAAA"),
        1,
        "{:?}",
        server.queries()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_lookups_share_one_query() {
    let Some(server) = TestDnsServer::start(&zone()) else {
        return;
    };
    let dns = dns_for(&server);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let dns = Arc::clone(&dns);
            tokio::spawn(async move { dns.mx("cache.test").await })
        })
        .collect();
    for t in tasks {
        assert_eq!(
            t.await.unwrap(),
            Ok(vec![(10, "mx.cache.test".to_string())])
        );
    }
    assert_eq!(
        server.count("cache.test", "MX"),
        1,
        "{:?}",
        server.queries()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn negative_answers_are_cached() {
    let Some(server) = TestDnsServer::start(&zone()) else {
        return;
    };
    let dns = dns_for(&server);
    for _ in 0..4 {
        assert_eq!(dns.mx("nope.cache.test").await, Err(LookupError::NxDomain));
        assert_eq!(dns.ips("nope.cache.test").await, Err(LookupError::NxDomain));
    }
    assert_eq!(
        server.count("nope.cache.test", "MX"),
        1,
        "{:?}",
        server.queries()
    );
    assert_eq!(
        server.count("nope.cache.test", "A"),
        1,
        "{:?}",
        server.queries()
    );
    // A name with records, but none of the type: NODATA, also cached.
    for _ in 0..3 {
        assert_eq!(dns.mx("mx.cache.test").await, Err(LookupError::NoRecords));
    }
    assert_eq!(
        server.count("mx.cache.test", "MX"),
        1,
        "{:?}",
        server.queries()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_answer_is_asked_again() {
    let Some(server) = TestDnsServer::start(&zone()) else {
        return;
    };
    let dns = dns_for(&server);
    let want = Ok(vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))]);
    assert_eq!(dns.ips("short.cache.test").await, want);
    assert_eq!(dns.ips("short.cache.test").await, want);
    assert_eq!(
        server.count("short.cache.test", "A"),
        1,
        "{:?}",
        server.queries()
    );
    // TTL 1 s.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(dns.ips("short.cache.test").await, want);
    assert_eq!(
        server.count("short.cache.test", "A"),
        2,
        "{:?}",
        server.queries()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spf_checks_share_the_cache() {
    let Some(server) = TestDnsServer::start(&zone()) else {
        return;
    };
    let dns = dns_for(&server);
    let auth = dns.authenticator().expect("resolver");
    for _ in 0..5 {
        let out = auth
            .verify_spf(dns.params(SpfParameters::verify_mail_from(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                "client.cache.test",
                "mx.test",
                "a@cache.test",
            )))
            .await;
        assert_eq!(out.result(), SpfResult::Pass);
    }
    assert_eq!(
        server.count("cache.test", "TXT"),
        1,
        "{:?}",
        server.queries()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_answers_are_retried_over_tcp_and_srv_works() {
    let Some(server) = TestDnsServer::start(&zone()) else {
        return;
    };
    let dns = dns_for(&server);
    let txt = dns.txt("big.cache.test").await;
    let txt = txt.unwrap_or_else(|e| panic!("{e}: {:?}", server.queries()));
    assert_eq!(txt.len(), 1);
    assert_eq!(txt[0].len(), 12 * 200);
    assert!(
        server
            .queries()
            .iter()
            .any(|q| q == "big.cache.test. TXT tcp"),
        "{:?}",
        server.queries()
    );
    let srv = dns.srv("_imaps._tcp.cache.test").await.unwrap();
    assert_eq!(srv.len(), 1);
    assert_eq!(
        (srv[0].port, srv[0].target.as_str()),
        (993, "mail.cache.test")
    );
}

/// A UDP "server" that counts the queries it receives and never answers.
fn silent_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&count);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while socket.recv_from(&mut buf).is_ok() {
            c.fetch_add(1, Ordering::SeqCst);
        }
    });
    (addr, count)
}

/// A server that never answers costs at most the timeout per query, then a temporary
/// failure; asking again costs no more than that again (no stall beyond the bound).
#[tokio::test(flavor = "multi_thread")]
async fn a_silent_server_costs_at_most_the_bound() {
    let (addr, _) = silent_server();
    let dns = Dns::new(&DnsConfig {
        servers: vec![addr],
        timeout: Some(Duration::from_secs(1)),
        attempts: Some(2),
        ..DnsConfig::default()
    });
    assert_eq!(dns.query_bound(), Duration::from_secs(2));
    for _ in 0..2 {
        let start = Instant::now();
        let r = dns.mx("silent.test").await;
        let took = start.elapsed();
        assert!(matches!(r, Err(LookupError::Temporary(_))), "{r:?}");
        assert!(took >= Duration::from_millis(900), "{took:?}");
        assert!(took < Duration::from_secs(10), "{took:?}");
    }
}

/// A TXT name whose lookup timed out is remembered as failed: the SPF checks of the next
/// messages are `temperror` without asking the silent server again.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_txt_lookup_is_remembered() {
    let (addr, count) = silent_server();
    let dns = Dns::new(&DnsConfig {
        servers: vec![addr],
        timeout: Some(Duration::from_secs(1)),
        attempts: Some(1),
        ..DnsConfig::default()
    });
    dns.probe_txt("sender.test").await;
    let asked = count.load(Ordering::SeqCst);
    assert!(asked >= 1, "the server was not asked");
    let auth = dns.authenticator().expect("resolver");
    for _ in 0..5 {
        dns.probe_txt("sender.test").await;
        let out = auth
            .verify_spf(dns.params(SpfParameters::verify_mail_from(
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                "client.sender.test",
                "mx.test",
                "a@sender.test",
            )))
            .await;
        assert_eq!(out.result(), SpfResult::TempError);
    }
    assert_eq!(count.load(Ordering::SeqCst), asked);
}
