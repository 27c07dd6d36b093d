//! One login flow (`pochta_auth::Login`) behind every protocol: an account the throttle
//! refuses is refused by every way in that IMAP, POP3 and SMTP submission offer — the
//! plaintext command, SASL PLAIN, LOGIN and SCRAM-SHA-256. IMAP's SCRAM path used to skip the
//! throttle check and logged the client in.
//!
//! The three services are wired as `serve` wires them (one store, one throttle, one cache),
//! over TCP on loopback, with a throttle small enough to trip in a few failures.

mod blocking;
mod login;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use login::{Client, Proto, Verdict, Way, attempt};
use pochta_auth::{AuthCache, PlaintextPolicy, Throttle, ThrottleConfig};
use pochta_imap::{ImapConfig, ImapService};
use pochta_net::{Limiter, Listener, ListenerConfig, ShutdownController, TlsMode};
use pochta_pop3::{Pop3Config, Pop3Service};
use pochta_smtp::{Kind, SmtpConfig, SmtpService, Verifier};
use pochta_store::Directory;
use pochta_store_embedded::EmbeddedStore;
use pochta_types::Address;

const USER: &str = "owner@example.test";
const PASS: &str = "right password";
const HERE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct Services {
    addrs: Vec<(Proto, SocketAddr)>,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    _shutdown: ShutdownController,
}

impl Services {
    fn addr(&self, proto: Proto) -> SocketAddr {
        self.addrs
            .iter()
            .find(|(p, _)| *p == proto)
            .expect("wired")
            .1
    }
}

/// IMAP, POP3 and submission on one store, throttle and cache; plaintext allowed.
fn services(cfg: ThrottleConfig) -> Services {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let addr = Address::new(USER).unwrap();
    let hash = pochta_auth::hash_password(PASS).unwrap();
    store.account_create(&addr, &hash).unwrap();
    let scram = pochta_auth::ScramSecrets::derive(PASS).encode();
    store
        .account_set_password(&addr, &hash, Some(&scram))
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let throttle = Arc::new(Throttle::new(cfg));
    let cache = Arc::new(AuthCache::default());
    let limiter = Limiter::new(1000, 1000);
    let shutdown = ShutdownController::new();
    let bind = |name: &str| {
        let cfg = ListenerConfig {
            name: name.into(),
            addrs: vec!["127.0.0.1:0".parse().unwrap()],
            tls: TlsMode::Plain,
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            max_per_ip: None,
            login_required: false,
            refusal: b"",
        };
        rt.block_on(Listener::bind(cfg, Arc::clone(&limiter)))
            .unwrap()
    };
    let (li, lp, ls) = (bind("imap"), bind("pop3"), bind("submission"));
    let addrs = vec![
        (Proto::Imap, li.local_addrs()[0]),
        (Proto::Pop3, lp.local_addrs()[0]),
        (Proto::Submission, ls.local_addrs()[0]),
    ];
    let imap = Arc::new(ImapService::new(
        Arc::new(store.clone()),
        ImapConfig {
            plaintext: PlaintextPolicy::Always,
            ..ImapConfig::default()
        },
        Arc::clone(&throttle),
        Arc::clone(&cache),
    ));
    let pop3 = Arc::new(Pop3Service::new(
        Arc::new(store.clone()),
        Pop3Config {
            plaintext: PlaintextPolicy::Always,
            ..Pop3Config::default()
        },
        Arc::clone(&throttle),
        Arc::clone(&cache),
    ));
    let submission = Arc::new(SmtpService::new(pochta_smtp::Shared {
        store: Arc::new(store.clone()),
        config: SmtpConfig {
            plaintext: PlaintextPolicy::Always,
            ..SmtpConfig::default()
        },
        kind: Kind::Submission,
        throttle,
        auth_cache: cache,
        verifier: Arc::new(Verifier::disabled("localhost")),
        queue: None,
    }));
    rt.spawn(li.run(imap, shutdown.subscribe(), shutdown.tracker()));
    rt.spawn(lp.run(pop3, shutdown.subscribe(), shutdown.tracker()));
    rt.spawn(ls.run(submission, shutdown.subscribe(), shutdown.tracker()));
    Services {
        addrs,
        _rt: rt,
        _dir: dir,
        _shutdown: shutdown,
    }
}

/// Three failures against the account from this address lock it (for this address).
fn small_throttle() -> ThrottleConfig {
    ThrottleConfig {
        free_failures: 1,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
        ip_lockout: 10_000,
        pair_lockout: 3,
        window: Duration::from_secs(600),
        ..ThrottleConfig::default()
    }
}

/// Every way in logs in with the right password; after three wrong passwords every way in
/// is refused as throttled, the right password notwithstanding.
fn throttled_account_is_refused_by_every_way(proto: Proto) {
    let s = services(small_throttle());
    let to = s.addr(proto);
    for &way in proto.ways() {
        let (v, answer) = attempt(proto, HERE, to, way, USER, PASS);
        assert_eq!(v, Verdict::LoggedIn, "{proto:?} {way:?} before: {answer}");
    }
    let mut c = Client::connect(proto, HERE, to).unwrap();
    for i in 0..3 {
        let answer = c.login(Way::Plain, USER, "wrong").unwrap();
        assert_eq!(c.verdict(&answer), Verdict::Failed, "failure {i}: {answer}");
    }
    let mut wrong = Vec::new();
    for &way in proto.ways() {
        let (v, answer) = attempt(proto, HERE, to, way, USER, PASS);
        if v != Verdict::Throttled {
            wrong.push(format!("{proto:?} {way:?}: {v:?} ({answer})"));
        }
    }
    assert!(wrong.is_empty(), "not refused as throttled: {wrong:#?}");
}

#[test]
fn imap_refuses_a_throttled_account_by_every_mechanism() {
    throttled_account_is_refused_by_every_way(Proto::Imap);
}

#[test]
fn pop3_refuses_a_throttled_account_by_every_mechanism() {
    throttled_account_is_refused_by_every_way(Proto::Pop3);
}

#[test]
fn submission_refuses_a_throttled_account_by_every_mechanism() {
    throttled_account_is_refused_by_every_way(Proto::Submission);
}
