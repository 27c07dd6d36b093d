//! Delivery over real TCP to a scripted sink: one connection per domain, retries on 4xx and
//! refused connections, 5xx failures with DSNs delivered to the local sender, STARTTLS,
//! DKIM signatures that verify, and submission → queue → sink end to end.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Script, Sink};
use pochta_queue::{
    Delivery, Envelope, LocalDelivery, Notify, Outcome, Queue, Recipient, Route, Routes, State,
    StaticResolver, TlsMode, Worker, WorkerSettings,
};
use pochta_store::{Directory, MailStore};
use pochta_store_embedded::EmbeddedStore;
use pochta_types::{Address, MailboxName};

struct NoLocal;

impl LocalDelivery for NoLocal {
    fn is_local(&self, _: &str) -> bool {
        false
    }
    fn deliver(&self, _: Option<&str>, _: &[&str], _: &[u8]) -> Vec<Outcome> {
        unreachable!()
    }
}

/// The queue over the embedded spool in `dir`.
fn open_queue(dir: &std::path::Path) -> Queue {
    let spool = pochta_store_embedded::EmbeddedQueueStore::open(dir).unwrap();
    Queue::new(Arc::new(spool), dir)
}

fn settings(routes: &[(&str, std::net::SocketAddr, TlsMode)]) -> WorkerSettings {
    let mut s = WorkerSettings::new("a.test");
    let mut r = Routes::default();
    for (d, addr, tls) in routes {
        r.insert(
            d,
            Route {
                host: addr.ip().to_string(),
                port: addr.port(),
                tls: *tls,
                auth: None,
            },
        );
    }
    s.routes = r;
    s.policy.schedule = vec![Duration::from_secs(60)];
    s.client.command_timeout = Duration::from_secs(10);
    s
}

/// A worker whose one route takes b.test to `addr`, with no local recipients.
fn worker_to_b(
    q: &Queue,
    addr: std::net::SocketAddr,
    tls: TlsMode,
) -> Worker<StaticResolver, NoLocal> {
    q.worker(
        settings(&[("b.test", addr, tls)]),
        StaticResolver::default(),
        NoLocal,
    )
}

/// Queue [`MSG`] from alice@a.test to bob@b.test; its queue id.
fn submit_to_bob(q: &Queue) -> String {
    q.submit(&env(Some("alice@a.test"), &["bob@b.test"]), MSG)
        .unwrap()
}

const MSG: &[u8] = b"From: Alice <alice@a.test>\r\nTo: bob@b.test\r\nSubject: hi\r\nMessage-ID: <1@a.test>\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n\r\nHello Bob.\r\n.leading dot\r\n";

fn env(from: Option<&str>, to: &[&str]) -> Envelope {
    Envelope {
        sender: from.map(str::to_owned),
        recipients: to.iter().map(|a| Recipient::new(*a)).collect(),
        ..Envelope::default()
    }
}

#[tokio::test]
async fn one_connection_for_all_recipients_of_a_domain() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(Script::default()).await;
    let q = open_queue(dir.path());
    q.submit(
        &env(
            Some("alice@a.test"),
            &["bob@b.test", "carol@b.test", "dave@B.TEST"],
        ),
        MSG,
    )
    .unwrap();
    let w = worker_to_b(&q, sink.addr, TlsMode::None);
    assert_eq!(w.run_once().await, 1);
    let t = sink.txns();
    assert_eq!(t.len(), 1);
    assert_eq!(
        sink.connections.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
    assert_eq!(t[0].from, "alice@a.test");
    assert_eq!(t[0].rcpts, ["bob@b.test", "carol@b.test", "dave@B.TEST"]);
    assert!(t[0].mail_params.contains("SIZE="), "{}", t[0].mail_params);
    // Dot-stuffing undone by the sink: the body arrives as sent.
    assert!(t[0].data.ends_with(b"Hello Bob.\r\n.leading dot\r\n"));
    // Everything delivered: the message left the queue.
    assert!(q.spool().list().unwrap().is_empty());
    assert_eq!(w.run_once().await, 0);
}

#[tokio::test]
async fn without_pipelining_each_command_waits() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(Script {
        pipelining: false,
        extensions: vec![],
        ..Script::default()
    })
    .await;
    let q = open_queue(dir.path());
    submit_to_bob(&q);
    let w = worker_to_b(&q, sink.addr, TlsMode::None);
    w.run_once().await;
    let t = sink.txns();
    assert_eq!(t.len(), 1);
    // No SIZE advertised: no SIZE parameter.
    assert_eq!(t[0].mail_params, "");
}

#[tokio::test]
async fn temporary_failure_then_accept_delivers_once() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(Script {
        data: Arc::new(|n| {
            if n == 0 {
                "451 4.3.0 try again later".into()
            } else {
                "250 2.0.0 ok".into()
            }
        }),
        ..Script::default()
    })
    .await;
    let q = open_queue(dir.path());
    let id = submit_to_bob(&q);
    let w = worker_to_b(&q, sink.addr, TlsMode::None);
    w.run_once().await;
    let r = &q.spool().recipients(&id).unwrap()[0];
    assert_eq!(r.state, State::Deferred);
    assert_eq!(r.attempts, 1);
    assert_eq!(r.last_reply.as_deref(), Some("451 4.3.0 try again later"));
    let wait = r.next_attempt - pochta_queue::unix_now();
    assert!((55..=61).contains(&wait), "next attempt in {wait}s");
    // Not due yet: nothing happens.
    assert_eq!(w.run_once().await, 0);
    assert!(sink.txns().is_empty());
    // `pochta queue retry` makes it due now.
    assert_eq!(
        q.spool()
            .retry(Some(&id), pochta_queue::unix_now())
            .unwrap(),
        1
    );
    w.run_once().await;
    assert_eq!(sink.txns().len(), 1);
    assert!(q.spool().list().unwrap().is_empty());
    assert_eq!(w.run_once().await, 0);
    assert_eq!(sink.txns().len(), 1);
}

#[tokio::test]
async fn next_hop_down_then_up() {
    let dir = tempfile::tempdir().unwrap();
    // Reserve a port, then close it: connections are refused.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let q = open_queue(dir.path());
    let id = submit_to_bob(&q);
    let w = worker_to_b(&q, addr, TlsMode::Opportunistic);
    w.run_once().await;
    let r = &q.spool().recipients(&id).unwrap()[0];
    assert_eq!(r.state, State::Deferred);
    assert!(
        r.last_reply.as_deref().unwrap_or("").contains("connect"),
        "{:?}",
        r.last_reply
    );
    let sink = Sink::start_on(addr, Script::default()).await;
    q.spool().retry(None, pochta_queue::unix_now()).unwrap();
    w.run_once().await;
    assert_eq!(sink.txns().len(), 1);
    assert!(q.spool().list().unwrap().is_empty());
}

#[tokio::test]
async fn per_recipient_outcomes_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(Script {
        rcpt: Arc::new(|a| match a {
            "gone@b.test" => "550 5.1.1 no such user".into(),
            "busy@b.test" => "452 4.2.2 mailbox full".into(),
            _ => "250 2.1.5 ok".into(),
        }),
        ..Script::default()
    })
    .await;
    let q = open_queue(dir.path());
    let id = q
        .submit(
            &env(None, &["bob@b.test", "gone@b.test", "busy@b.test"]),
            MSG,
        )
        .unwrap();
    let w = worker_to_b(&q, sink.addr, TlsMode::None);
    w.run_once().await;
    assert_eq!(sink.txns()[0].rcpts, ["bob@b.test"]);
    let states: Vec<State> = q
        .spool()
        .recipients(&id)
        .unwrap()
        .iter()
        .map(|r| r.state)
        .collect();
    assert_eq!(states, [State::Delivered, State::Failed, State::Deferred]);
    // The null sender gets no DSN: only the original message is queued.
    assert_eq!(q.spool().list().unwrap().len(), 1);
}

#[tokio::test]
async fn failure_bounces_to_the_local_sender_inbox() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("store")).unwrap());
    let alice = Address::new("alice@a.test").unwrap();
    let account = store.account_create(&alice, "x").unwrap();
    let sink = Sink::start(Script {
        rcpt: Arc::new(|_| "550 5.1.1 <bob@b.test>: no such user".into()),
        ..Script::default()
    })
    .await;
    let q = open_queue(dir.path());
    let mut e = env(Some("alice@a.test"), &["bob@b.test"]);
    e.envid = Some("env-42".into());
    e.recipients[0].orcpt = Some(("rfc822".into(), "Bob@b.test".into()));
    let id = q.submit(&e, MSG).unwrap();
    let w = q.worker(
        settings(&[("b.test", sink.addr, TlsMode::None)]),
        StaticResolver::default(),
        Delivery::new(Arc::clone(&store)),
    );
    w.run_once().await;
    // The original is gone; a DSN from <> to alice is queued in its place.
    let list = q.spool().list().unwrap();
    assert_eq!(list.len(), 1);
    assert_ne!(list[0].id, id);
    assert_eq!(list[0].sender, None);
    assert_eq!(list[0].recipients[0].recipient.address, "alice@a.test");
    // The next pass delivers it locally.
    w.run_once().await;
    assert!(q.spool().list().unwrap().is_empty());

    let inbox = store
        .mailbox(account, &MailboxName::inbox())
        .unwrap()
        .unwrap();
    let sums = store.summaries(inbox.id).unwrap();
    assert_eq!(sums.len(), 1);
    let rec = store.records(inbox.id, &[sums[0].uid], false).unwrap();
    let raw = store.blob(&rec[0].blob).unwrap();
    assert!(raw.starts_with(b"Return-Path: <>\r\n"));
    let m = mail_parser::MessageParser::default()
        .parse(raw.as_slice())
        .unwrap();
    use mail_parser::MimeHeaders;
    let ct = m.root_part().content_type().unwrap();
    assert_eq!(ct.ctype(), "multipart");
    assert_eq!(ct.subtype(), Some("report"));
    assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
    assert_eq!(m.subject(), Some("Undelivered Mail Returned to Sender"));
    assert_eq!(m.parts.len(), 4, "root + three parts");
    let status = String::from_utf8_lossy(m.parts[2].contents());
    for field in [
        "Reporting-MTA: dns; a.test",
        "Original-Envelope-Id: env-42",
        "Final-Recipient: rfc822; bob@b.test",
        "Original-Recipient: rfc822; Bob@b.test",
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 5.1.1 <bob@b.test>: no such user",
    ] {
        assert!(status.contains(field), "{field} missing in:\n{status}");
    }
    // RET not given: the whole original comes back.
    let original = m.parts[3].contents();
    assert!(
        String::from_utf8_lossy(original).contains("Hello Bob."),
        "{}",
        String::from_utf8_lossy(original)
    );
}

#[tokio::test]
async fn notify_never_and_gave_up_after_max_age() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(Script {
        rcpt: Arc::new(|a| {
            if a.starts_with("quiet") {
                "550 5.1.1 no".into()
            } else {
                "421 4.4.2 busy".into()
            }
        }),
        ..Script::default()
    })
    .await;
    let q = open_queue(dir.path());
    let mut e = env(Some("alice@remote.test"), &["quiet@b.test"]);
    e.recipients[0].notify = Some(Notify::NEVER);
    q.submit(&e, MSG).unwrap();
    let mut s = settings(&[("b.test", sink.addr, TlsMode::None)]);
    s.policy.max_age = Duration::ZERO;
    let w = q.worker(s, StaticResolver::default(), NoLocal);
    w.run_once().await;
    // NOTIFY=NEVER: failed without a DSN.
    assert!(q.spool().list().unwrap().is_empty());
}

#[tokio::test]
async fn opportunistic_starttls() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = pochta_net::ensure_self_signed(dir.path(), "sink.test").unwrap();
    let acceptor = pochta_net::acceptor(&cert, &key).unwrap();
    let sink = Sink::start(Script {
        tls: Some(acceptor),
        ..Script::default()
    })
    .await;
    let q = open_queue(dir.path());
    submit_to_bob(&q);
    let w = worker_to_b(&q, sink.addr, TlsMode::Opportunistic);
    w.run_once().await;
    let t = sink.txns();
    assert_eq!(t.len(), 1);
    assert!(t[0].tls, "delivered over STARTTLS");

    // A route that requires verified TLS refuses the self-signed certificate and defers.
    let id = submit_to_bob(&q);
    let w = worker_to_b(&q, sink.addr, TlsMode::StartTls);
    w.run_once().await;
    let r = &q.spool().recipients(&id).unwrap()[0];
    assert_eq!(r.state, State::Deferred);
    assert!(
        r.last_reply.as_deref().unwrap_or("").contains("TLS"),
        "{:?}",
        r.last_reply
    );
}

#[tokio::test]
async fn dkim_signature_verifies() {
    use pochta_queue::dkim::{self, Algorithm};
    let dir = tempfile::tempdir().unwrap();
    let rsa = dkim::generate(dir.path(), "a.test", "rsa1", Algorithm::Rsa).unwrap();
    let ed = dkim::generate(dir.path(), "a.test", "ed1", Algorithm::Ed25519).unwrap();
    let sink = Sink::start(Script::default()).await;
    let q = open_queue(dir.path());
    submit_to_bob(&q);
    let w = worker_to_b(&q, sink.addr, TlsMode::None);
    w.run_once().await;
    let data = sink.txns()[0].data.clone();
    let text = String::from_utf8_lossy(&data);
    assert_eq!(text.matches("DKIM-Signature:").count(), 2, "{text}");

    for (key, tag) in [(&rsa, "rsa1"), (&ed, "ed1")] {
        let v = pochta_smtp::Verifier::fixture("mx.b.test");
        v.add_txt(&key.record_name(), &key.record_value());
        let out = v
            .check(
                pochta_smtp::authcheck::Client {
                    ip: "127.0.0.1".parse().unwrap(),
                    helo: "a.test",
                    mail_from: "alice@a.test",
                },
                &data,
            )
            .await
            .unwrap();
        assert!(
            out.header.contains("dkim=pass") && out.header.contains("header.d=a.test"),
            "{tag}: {}",
            out.header
        );
    }
    // A tampered body fails.
    let tampered = text.replace("Hello Bob.", "Hello Eve.");
    let v = pochta_smtp::Verifier::fixture("mx.b.test");
    v.add_txt(&rsa.record_name(), &rsa.record_value());
    let out = v
        .check(
            pochta_smtp::authcheck::Client {
                ip: "127.0.0.1".parse().unwrap(),
                helo: "a.test",
                mail_from: "alice@a.test",
            },
            tampered.as_bytes(),
        )
        .await
        .unwrap();
    assert!(!out.header.contains("dkim=pass"), "{}", out.header);
}

/// More due work than the worker's concurrency: what it cannot start now stays claimable, so
/// it goes out as soon as a slot is free rather than after a lease runs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_work_beyond_concurrency_is_not_held_back() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::start(Script::default()).await;
    let q = open_queue(dir.path());
    for _ in 0..3 {
        submit_to_bob(&q);
    }
    let mut s = settings(&[("b.test", sink.addr, TlsMode::None)]);
    s.concurrency = 1;
    s.poll = Duration::from_millis(200);
    let w = q.worker(s, StaticResolver::default(), NoLocal);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(w.run(async move {
        let _ = stopped.await;
    }));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sink.txns().len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    run.await.unwrap();
    assert_eq!(sink.txns().len(), 3, "all three delivered one at a time");
    assert!(q.spool().list().unwrap().is_empty());
}
