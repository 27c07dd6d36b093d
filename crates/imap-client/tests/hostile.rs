//! The client against scripted IMAP servers on 127.0.0.1 that misbehave the way a hostile
//! provider does (issue 17): endless answers, one response made of many large literals, an
//! oversized literal, a byte-by-byte drip, data pipelined after STARTTLS's OK; and the ordinary
//! paths a real server takes (synchronizing literals, a refused literal, IDLE).

use std::future::Future;
use std::time::Duration;

use pochta_imap_client::{ClientCommand, Error, ImapClient, Options, Response, Server, WireName};
use pochta_imap_proto::client::ResponseError;
use pochta_imap_proto::framer::Limits;
use pochta_net::connect::{ConnectError, TlsPolicy};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

type Conn = BufReader<TcpStream>;

/// Starts a one-connection server running `script`; returns where to connect.
async fn server<F, Fut>(script: F) -> (Server, tokio::task::JoinHandle<Vec<u8>>)
where
    F: FnOnce(Conn) -> Fut + Send + 'static,
    Fut: Future<Output = Vec<u8>> + Send,
{
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    let h = tokio::spawn(async move {
        let (s, _) = l.accept().await.expect("accept");
        script(BufReader::new(s)).await
    });
    (
        Server {
            host: "127.0.0.1".into(),
            port,
            tls: TlsPolicy::None,
        },
        h,
    )
}

async fn line(c: &mut Conn) -> String {
    let mut l = String::new();
    c.read_line(&mut l).await.expect("read");
    l
}

async fn send(c: &mut Conn, b: &[u8]) -> bool {
    c.get_mut().write_all(b).await.is_ok()
}

const GREETING: &[u8] = b"* OK [CAPABILITY IMAP4rev1 IDLE] scripted\r\n";

fn small() -> Options {
    Options {
        limits: Limits {
            max_line: 64 << 10,
            max_literal: 4 << 20,
            max_command: 8 << 20,
            max_literals: 64,
            max_text: 8 << 20,
        },
        max_collected: 1 << 20,
        ..Options::default()
    }
}

#[tokio::test]
async fn endless_list_is_cut_at_the_collect_budget() {
    let (srv, h) = server(|mut c| async move {
        send(&mut c, GREETING).await;
        let _ = line(&mut c).await;
        let entry = format!("* LIST () \"/\" {}\r\n", "x".repeat(200));
        let mut sent = 0u64;
        while send(&mut c, entry.as_bytes()).await {
            sent += entry.len() as u64;
            if sent > 64 << 20 {
                break;
            }
        }
        sent.to_string().into_bytes()
    })
    .await;
    let mut c = ImapClient::connect(&srv, small()).await.expect("connect");
    let e = c.list_all().await.expect_err("endless LIST must fail");
    assert!(matches!(e, Error::TooMuchData(n) if n == 1 << 20), "{e:?}");
    drop(c);
    let sent: u64 = String::from_utf8(h.await.expect("server"))
        .expect("utf8")
        .parse()
        .expect("n");
    assert!(sent < 64 << 20, "the client stopped reading, sent {sent}");
}

#[tokio::test]
async fn many_literals_in_one_response_hit_the_response_budget() {
    let (srv, h) = server(|mut c| async move {
        send(&mut c, GREETING).await;
        let _ = line(&mut c).await;
        send(&mut c, b"* 1 FETCH (UID 1").await;
        let body = vec![b'a'; 1 << 20];
        for i in 0..64 {
            // Each literal within the 4 MiB limit; together far over the 8 MiB budget.
            if !send(
                &mut c,
                format!(" BODY[{i}] {{{}}}\r\n", body.len()).as_bytes(),
            )
            .await
                || !send(&mut c, &body).await
            {
                return i.to_string().into_bytes();
            }
        }
        b"64".to_vec()
    })
    .await;
    let mut c = ImapClient::connect(&srv, small()).await.expect("connect");
    let cmd = ClientCommand::uid_fetch_text("1:*", "(UID BODY.PEEK[])").expect("cmd");
    let e = c.fetch(cmd).await.expect_err("must fail");
    assert!(
        matches!(e, Error::Response(ResponseError::ResponseTooLarge(n)) if n == 8 << 20),
        "{e:?}"
    );
    drop(c);
    let sent: u32 = String::from_utf8(h.await.expect("server"))
        .expect("utf8")
        .parse()
        .expect("n");
    assert!(
        sent < 64,
        "the client read on after the budget: {sent} literals"
    );
}

#[tokio::test]
async fn oversized_literal_is_refused_before_its_bytes() {
    let (srv, _h) = server(|mut c| async move {
        send(&mut c, GREETING).await;
        let _ = line(&mut c).await;
        send(&mut c, b"* 1 FETCH (UID 1 BODY[] {5000000000}\r\n").await;
        // Never sends the bytes: the client must not wait for them.
        tokio::time::sleep(Duration::from_secs(30)).await;
        Vec::new()
    })
    .await;
    let mut c = ImapClient::connect(&srv, small()).await.expect("connect");
    let cmd = ClientCommand::uid_fetch_text("1", "(BODY.PEEK[])").expect("cmd");
    let e = c.fetch(cmd).await.expect_err("must fail");
    assert!(
        matches!(
            e,
            Error::Response(ResponseError::LiteralTooLarge {
                size: 5_000_000_000,
                ..
            })
        ),
        "{e:?}"
    );
}

#[tokio::test]
async fn dripping_response_ends_at_the_response_deadline() {
    let (srv, _h) = server(|mut c| async move {
        send(&mut c, GREETING).await;
        let _ = line(&mut c).await;
        // One byte every 100 ms: never silent for the I/O timeout, never complete.
        loop {
            if !send(&mut c, b"x").await {
                return Vec::new();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let opts = Options {
        io_timeout: Duration::from_secs(60),
        response_timeout: Duration::from_secs(1),
        ..small()
    };
    let mut c = ImapClient::connect(&srv, opts).await.expect("connect");
    let started = std::time::Instant::now();
    let e = c.run(ClientCommand::Noop).await.expect_err("must time out");
    assert!(matches!(e, Error::Timeout), "{e:?}");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn data_pipelined_after_starttls_ok_is_refused() {
    let (mut srv, _h) = server(|mut c| async move {
        send(&mut c, b"* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n").await;
        let l = line(&mut c).await;
        let tag = l.split(' ').next().unwrap_or("").to_owned();
        // The OK and an injected response in one segment.
        send(
            &mut c,
            format!("{tag} OK Begin TLS\r\n* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n")
                .as_bytes(),
        )
        .await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        Vec::new()
    })
    .await;
    srv.tls = TlsPolicy::Required;
    let e = ImapClient::connect(&srv, small())
        .await
        .expect_err("must refuse");
    assert!(
        matches!(e, Error::Connect(ConnectError::Pipelined(_))),
        "{e:?}"
    );
}

#[tokio::test]
async fn synchronizing_literal_waits_for_the_continuation() {
    let (srv, h) = server(|mut c| async move {
        send(&mut c, GREETING).await;
        let first = line(&mut c).await;
        let tag = first.split(' ').next().unwrap_or("").to_owned();
        let mut got = first.clone().into_bytes();
        // Nothing may follow the announcement before `+`.
        let early = tokio::time::timeout(Duration::from_millis(300), c.read_u8()).await;
        assert!(early.is_err(), "literal sent before the continuation");
        send(&mut c, b"* 2 EXISTS\r\n+ go ahead\r\n").await;
        let mut lit = vec![0; 11];
        c.read_exact(&mut lit).await.expect("literal");
        got.extend_from_slice(&lit);
        got.extend_from_slice(line(&mut c).await.as_bytes());
        send(&mut c, format!("{tag} OK APPEND done\r\n").as_bytes()).await;
        // Second APPEND: refused instead of `+`.
        let second = line(&mut c).await;
        let tag = second.split(' ').next().unwrap_or("").to_owned();
        send(&mut c, format!("{tag} NO [TOOBIG] too big\r\n").as_bytes()).await;
        let third = line(&mut c).await;
        let tag3 = third.split(' ').next().unwrap_or("").to_owned();
        send(&mut c, format!("{tag3} OK noop\r\n").as_bytes()).await;
        got.extend_from_slice(b"|");
        got.extend_from_slice(third.as_bytes());
        got
    })
    .await;
    let mut c = ImapClient::connect(&srv, small()).await.expect("connect");
    let st = c
        .append(
            WireName::encode("Отправленные", false),
            vec![pochta_types::Flag::Seen],
            None,
            b"Hello World".to_vec(),
        )
        .await
        .expect("append");
    assert_eq!(st.text, "APPEND done");
    let e = c
        .append(WireName::raw("INBOX"), vec![], None, vec![b'x'; 100])
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, Error::Rejected { code: Some(c), .. } if c == "TOOBIG"),
        "{e:?}"
    );
    // The refused literal was not sent: the next command is read as a command.
    c.run(ClientCommand::Noop)
        .await
        .expect("noop after refusal");
    let got = String::from_utf8(h.await.expect("server")).expect("utf8");
    let name = String::from_utf8(WireName::encode("Отправленные", false).as_bytes().to_vec())
        .expect("ascii");
    assert_eq!(
        got,
        format!("C1 APPEND {name} (\\Seen) {{11}}\r\nHello World\r\n|C3 NOOP\r\n")
    );
}

#[tokio::test]
async fn idle_sees_exists_and_ends_with_done() {
    let (srv, h) = server(|mut c| async move {
        send(&mut c, GREETING).await;
        let l = line(&mut c).await;
        let tag = l.split(' ').next().unwrap_or("").to_owned();
        assert!(l.ends_with("IDLE\r\n"), "{l}");
        send(&mut c, b"+ idling\r\n").await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        send(&mut c, b"* 3 EXISTS\r\n").await;
        let done = line(&mut c).await;
        send(&mut c, format!("{tag} OK IDLE terminated\r\n").as_bytes()).await;
        done.into_bytes()
    })
    .await;
    let mut c = ImapClient::connect(&srv, small()).await.expect("connect");
    let tag = c.idle_start().await.expect("idle");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let r = c
        .idle_wait(deadline)
        .await
        .expect("wait")
        .expect("response");
    assert!(
        matches!(&r, Response::Numbered { n: 3, name, .. } if name == "EXISTS"),
        "{r:?}"
    );
    // Nothing more: the deadline comes first.
    let soon = tokio::time::Instant::now() + Duration::from_millis(200);
    assert_eq!(c.idle_wait(soon).await.expect("wait"), None);
    c.idle_done(&tag).await.expect("done");
    assert_eq!(h.await.expect("server"), b"DONE\r\n");
}

#[tokio::test]
async fn authenticate_plain_after_continuation_then_utf8_names() {
    let (srv, h) = server(|mut c| async move {
        send(
            &mut c,
            b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN ENABLE] hi\r\n",
        )
        .await;
        let mut seen = line(&mut c).await;
        send(&mut c, b"+ \r\n").await;
        seen.push_str(&line(&mut c).await);
        send(
            &mut c,
            b"C1 OK [CAPABILITY IMAP4rev1 ENABLE UTF8=ACCEPT] logged in\r\n",
        )
        .await;
        seen.push_str(&line(&mut c).await);
        send(&mut c, b"* ENABLED UTF8=ACCEPT\r\nC2 OK enabled\r\n").await;
        seen.push_str(&line(&mut c).await);
        send(&mut c, b"C3 OK created\r\n").await;
        seen.into_bytes()
    })
    .await;
    let mut c = ImapClient::connect(&srv, small()).await.expect("connect");
    c.authenticate(&pochta_imap_client::SaslInitial::Plain {
        user: "bob".into(),
        password: pochta_types::Secret::new("pw".into()),
    })
    .await
    .expect("authenticate");
    assert!(c.has_cap("UTF8=ACCEPT"), "capabilities from the OK's code");
    assert_eq!(
        c.enable(&["utf8=accept"]).await.expect("enable"),
        ["UTF8=ACCEPT"]
    );
    let name = c.wire_name("Пример");
    c.run(ClientCommand::Create(name)).await.expect("create");
    assert_eq!(
        String::from_utf8(h.await.expect("server")).expect("utf8"),
        "C1 AUTHENTICATE PLAIN\r\nAGJvYgBwdw==\r\nC2 ENABLE UTF8=ACCEPT\r\nC3 CREATE \"Пример\"\r\n"
    );
}

#[tokio::test]
async fn endless_fetch_answers_are_cut_at_the_collect_budget() {
    let (srv, _h) = server(|mut c| async move {
        send(&mut c, GREETING).await;
        let _ = line(&mut c).await;
        let mut uid = 1u64;
        loop {
            let r = format!("* {uid} FETCH (UID {uid} FLAGS (\\Seen))\r\n");
            if !send(&mut c, r.as_bytes()).await || uid > 10_000_000 {
                return Vec::new();
            }
            uid += 1;
        }
    })
    .await;
    let mut c = ImapClient::connect(&srv, small()).await.expect("connect");
    let cmd = ClientCommand::uid_fetch_text("1:*", "(UID FLAGS)").expect("cmd");
    let e = c.fetch(cmd).await.expect_err("endless FETCH must fail");
    assert!(matches!(e, Error::TooMuchData(n) if n == 1 << 20), "{e:?}");
}
