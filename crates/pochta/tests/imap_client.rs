//! `pochta-imap-client` (the client half the collector and the load generator use) against the
//! real binary over TCP: implicit TLS and STARTTLS, LOGIN, NAMESPACE, LIST with SPECIAL-USE,
//! CREATE and APPEND with a Unicode name (modified UTF-7), synchronizing and LITERAL+
//! literals, SELECT with CONDSTORE, UID FETCH of bodies and flags, UID SEARCH, STORE, STATUS,
//! and IDLE seeing another session's APPEND.

mod common;

use std::time::Duration;

use common::*;
use pochta_imap_client::{
    ClientCommand, Fetched, ImapClient, Options, Response, SearchResult, Server, StatusData,
    WireName,
};
use pochta_net::connect::TlsPolicy;

const USER: &str = "client@example.org";
const PASSWORD: &str = "Client-Pass-1";

fn server() -> TestServer {
    let ports = vec![("imap", free_ports(1)[0]), ("imaps", free_ports(1)[0])];
    let dir = TestDir::new(&ports, "");
    dir.add_user(USER, PASSWORD);
    TestServer::start_in(dir, ports)
}

fn endpoint(s: &TestServer, listener: &str, tls: TlsPolicy) -> Server {
    Server {
        host: "127.0.0.1".into(),
        port: s.port(listener),
        tls,
    }
}

/// The server's certificate is self-signed: accept it (handshake signatures still checked).
fn opts(literal_plus: bool) -> Options {
    Options {
        insecure: true,
        literal_plus,
        ..Options::default()
    }
}

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: a@example.net\r\nTo: {USER}\r\nSubject: client test {n}\r\nMessage-ID: <c{n}@x>\r\n\r\nbody {n}\r\n{}\r\n",
        "x".repeat(n * 1000)
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_against_the_server() {
    let s = server();
    let mut c = ImapClient::connect(&endpoint(&s, "imaps", TlsPolicy::Implicit), opts(false))
        .await
        .expect("connect imaps");
    assert!(c.is_tls());
    c.login(USER, PASSWORD).await.expect("login");
    assert!(c.has_cap("IMAP4REV1") || c.has_cap("IMAP4REV2"));

    if let Some(ns) = c.namespace().await.expect("namespace") {
        assert!(!ns.personal.is_empty(), "{ns:?}");
    }
    let list = c.list_all().await.expect("list");
    assert!(list.iter().any(|e| e.raw == "INBOX"), "{list:?}");

    let folder = c.wire_name("Отчёты");
    assert_ne!(
        folder.as_bytes(),
        "Отчёты".as_bytes(),
        "modified UTF-7 on the wire"
    );
    c.run(ClientCommand::Create(folder.clone()))
        .await
        .expect("create");
    let list = c.list_all().await.expect("list");
    assert!(
        list.iter()
            .any(|e| WireName::raw(e.raw.as_bytes()).decode(false).as_deref() == Some("Отчёты")),
        "{list:?}"
    );

    // A synchronizing literal (this client does not use LITERAL+), then INBOX from a second
    // client that does when the server offers it.
    c.append(
        folder.clone(),
        vec![pochta_types::Flag::Seen],
        None,
        message(1),
    )
    .await
    .expect("append (sync literal)");
    let mut c2 = ImapClient::connect(&endpoint(&s, "imaps", TlsPolicy::Implicit), opts(true))
        .await
        .expect("connect 2");
    c2.login(USER, PASSWORD).await.expect("login 2");
    for n in 2..=3 {
        c2.append(WireName::raw("INBOX"), vec![], None, message(n))
            .await
            .expect("append");
    }

    let sel = c.select(folder.clone(), false, true).await.expect("select");
    assert_eq!(sel.exists, 1);
    assert!(sel.uid_validity.is_some_and(|v| v > 0));
    let sel = c
        .select(WireName::raw("INBOX"), true, false)
        .await
        .expect("examine");
    assert_eq!(sel.exists, 2);
    assert!(sel.read_only);

    let fetched = c
        .fetch(
            ClientCommand::uid_fetch_text(
                "1:*",
                "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])",
            )
            .expect("fetch"),
        )
        .await
        .expect("fetch");
    assert_eq!(fetched.len(), 2);
    for (f, n) in fetched.iter().zip(2..) {
        assert_eq!(f.body.as_deref(), Some(&message(n)[..]));
        assert_eq!(f.size, Some(message(n).len() as u64));
        assert!(f.internal_date.is_some());
    }

    let done = c
        .run(ClientCommand::parse("UID SEARCH ALL", false).expect("search"))
        .await
        .expect("search");
    let found = done
        .responses
        .iter()
        .find_map(|r| SearchResult::from_response(r).ok().flatten())
        .expect("SEARCH data");
    let uids: Vec<u32> = fetched.iter().filter_map(|f| f.uid).collect();
    assert_eq!(found.numbers, uids);

    c.select(WireName::raw("INBOX"), false, false)
        .await
        .expect("select");
    c.run(
        ClientCommand::parse(&format!("UID STORE {} +FLAGS (\\Flagged)", uids[0]), false)
            .expect("store"),
    )
    .await
    .expect("store");
    let flags: Vec<Fetched> = c
        .fetch(ClientCommand::uid_fetch_text("1:*", "(UID FLAGS)").expect("fetch"))
        .await
        .expect("fetch flags");
    assert!(
        flags[0]
            .flags
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x == "\\Flagged")),
        "{flags:?}"
    );
    let st = c
        .run(ClientCommand::parse("STATUS INBOX (MESSAGES UIDNEXT)", false).expect("status"))
        .await
        .expect("status");
    let st = st
        .responses
        .iter()
        .find_map(StatusData::from_response)
        .expect("STATUS data");
    assert_eq!(st.get("MESSAGES"), Some(2));

    // STARTTLS on the plain port, then IDLE sees the other session's APPEND.
    let mut idler = ImapClient::connect(&endpoint(&s, "imap", TlsPolicy::Required), opts(true))
        .await
        .expect("connect with STARTTLS");
    assert!(idler.is_tls());
    idler.login(USER, PASSWORD).await.expect("login idler");
    idler
        .select(WireName::raw("INBOX"), true, false)
        .await
        .expect("examine");
    let tag = idler.idle_start().await.expect("idle");
    c2.append(WireName::raw("INBOX"), vec![], None, message(4))
        .await
        .expect("append during IDLE");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut saw = false;
    while let Some(r) = idler.idle_wait(deadline).await.expect("idle wait") {
        if matches!(&r, Response::Numbered { n: 3, name, .. } if name == "EXISTS") {
            saw = true;
            break;
        }
    }
    assert!(saw, "no EXISTS during IDLE");
    idler.idle_done(&tag).await.expect("done");
    idler.logout().await;
    c2.logout().await;
    c.logout().await;
}
