//! Two `pochta serve` nodes on one throwaway PostgreSQL 15 cluster (`[store] backend =
//! "postgres"`), driven over TCP: an account added through one node's CLI logs in on both,
//! mail delivered over SMTP to one node is read over IMAP on the other, IMAP IDLE on one node
//! sees an APPEND made on the other, and concurrent APPENDs through both nodes get distinct
//! UIDs that ascend in each connection's order, none lost; POP3's maildrop lock holds across
//! nodes; a node killed mid-delivery loses the queued message to the other node once its
//! lease runs out, delivered once; `pochta store copy` keeps the whole IMAP view (METADATA
//! included) and the address books; address books are in the database too (CardDAV on one
//! node, read and changed on the other); REPLACE and METADATA made on one node are seen on
//! the other; failed logins from one address on node A lock that address out on node B, while
//! the owner logs in on B from another address at once (the throttle's counters are in the
//! database).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod blocking;
mod common;
mod login;
mod pg_nodes;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::TestServer;
use pg_nodes::{Imap, PASS, USER, postgres_dir, postgres_node, two_nodes};
use pochta_store_postgres::testing::Cluster;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn node(url: &str) -> TestServer {
    postgres_node(
        url,
        &["imap", "pop3", "smtp"],
        8,
        "[limits]\nconnections_per_ip = 300\n",
    )
}

impl Imap {
    /// APPEND with a synchronising literal; returns the UID from APPENDUID.
    async fn append(&mut self, body: &[u8]) -> u32 {
        let tag = self.tag();
        let w = self.conn.get_mut();
        w.write_all(format!("{tag} APPEND INBOX {{{}}}\r\n", body.len()).as_bytes())
            .await
            .unwrap();
        let cont = self.line().await;
        assert!(cont.starts_with('+'), "{cont}");
        let w = self.conn.get_mut();
        w.write_all(body).await.unwrap();
        w.write_all(b"\r\n").await.unwrap();
        let lines = self.until(&tag).await;
        let last = lines.last().unwrap();
        let at = last.find("APPENDUID ").expect("APPENDUID") + "APPENDUID ".len();
        last[at..]
            .split([' ', ']'])
            .nth(1)
            .unwrap()
            .parse()
            .unwrap()
    }
}

fn message(n: usize) -> Vec<u8> {
    format!(
        "From: a@example.org\r\nTo: {USER}\r\nSubject: node test {n}\r\n\
         Message-ID: <{n}.cluster@example.org>\r\n\r\nBody {n}\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_one_database() {
    // An account made through node A's CLI (it writes to the database).
    let (_cluster, a, b) = two_nodes(node);
    // The nodes migrated the schema when they started: nothing left to do.
    let o = b.cli(&["db", "migrate"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    assert!(
        common::stdout(&o).contains("(0 migration(s) applied)"),
        "{}",
        common::stdout(&o)
    );

    // SMTP to node A, read over IMAP on node B.
    {
        let mut smtp = BufReader::new(TcpStream::connect(a.addr("smtp")).await.unwrap());
        let mut l = String::new();
        smtp.read_line(&mut l).await.unwrap();
        for cmd in [
            "EHLO client.test".to_string(),
            "MAIL FROM:<a@example.org>".into(),
            format!("RCPT TO:<{USER}>"),
            "DATA".into(),
        ] {
            smtp.get_mut()
                .write_all(format!("{cmd}\r\n").as_bytes())
                .await
                .unwrap();
            loop {
                l.clear();
                smtp.read_line(&mut l).await.unwrap();
                if l.len() < 4 || l.as_bytes()[3] != b'-' {
                    break;
                }
            }
            assert!(l.starts_with('2') || l.starts_with('3'), "{cmd}: {l}");
        }
        smtp.get_mut().write_all(&message(0)).await.unwrap();
        smtp.get_mut().write_all(b".\r\n").await.unwrap();
        l.clear();
        smtp.read_line(&mut l).await.unwrap();
        assert!(l.starts_with("250"), "{l}");
    }
    let mut on_b = Imap::login(&b).await;
    let sel = on_b.cmd("SELECT INBOX").await;
    assert!(sel.iter().any(|l| l == "* 1 EXISTS\r\n"), "{sel:?}");
    let fetched = on_b
        .cmd("UID FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await;
    assert!(
        fetched.iter().any(|l| l.contains("Subject: node test 0")),
        "{fetched:?}"
    );

    // IDLE on node B sees an APPEND made on node A.
    let idle_tag = on_b.tag();
    on_b.send(&idle_tag, "IDLE").await;
    let cont = on_b.line().await;
    assert!(cont.starts_with('+'), "{cont}");
    let mut on_a = Imap::login(&a).await;
    let started = Instant::now();
    let uid = on_a.append(&message(1)).await;
    assert_eq!(uid, 2);
    let seen = on_b.line().await;
    let waited = started.elapsed();
    assert_eq!(seen, "* 2 EXISTS\r\n");
    println!("node B's IDLE saw node A's APPEND after {waited:?}");
    on_b.conn.get_mut().write_all(b"DONE\r\n").await.unwrap();
    on_b.until(&idle_tag).await;

    // Concurrent APPENDs through both nodes (issue 18): 200 connections per node, all logged
    // in first, then each sends one APPEND at the same moment, so that 2 x 200 APPENDs are in
    // flight at once (one connection carries one command at a time, so concurrency needs
    // connections; each node reaches the database through its pool of 8).
    const CONNS: usize = 200;
    const PER: usize = 1;
    let go = std::sync::Arc::new(tokio::sync::Barrier::new(2 * CONNS + 1));
    let mut tasks = Vec::new();
    for (i, server) in [&a, &b].into_iter().enumerate() {
        for c in 0..CONNS {
            let addr_imap = server.addr("imap");
            let go = go.clone();
            tasks.push(tokio::spawn(async move {
                let conn = BufReader::new(TcpStream::connect(addr_imap).await.unwrap());
                let mut s = Imap { conn, n: 0 };
                let mut greeting = String::new();
                s.conn.read_line(&mut greeting).await.unwrap();
                s.cmd(&format!("LOGIN {USER} \"{PASS}\"")).await;
                go.wait().await;
                let mut mine = Vec::new();
                for k in 0..PER {
                    mine.push(s.append(&message(1000 * (i * CONNS + c + 1) + k)).await);
                }
                mine
            }));
        }
    }
    go.wait().await;
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        let mine = t.await.unwrap();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "UIDs went down within one connection: {mine:?}"
        );
        all.extend(mine);
    }
    println!(
        "{} concurrent APPENDs through two nodes in {:?}",
        all.len(),
        started.elapsed()
    );
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n, "duplicate UIDs");
    assert_eq!(all.len(), 2 * CONNS * PER);
    assert!(all.iter().all(|u| *u > 2));
    // Every one is there, seen from either node.
    let st = on_a.cmd("STATUS INBOX (MESSAGES UIDNEXT)").await;
    let want = format!("MESSAGES {}", 2 + 2 * CONNS * PER);
    assert!(st.iter().any(|l| l.contains(&want)), "{st:?}");
    let st = on_b.cmd("STATUS INBOX (MESSAGES)").await;
    assert!(st.iter().any(|l| l.contains(&want)), "{st:?}");
}

/// Everything a mail program caches, as IMAP shows it: the mailbox list, each mailbox's
/// UIDVALIDITY, UIDNEXT and HIGHESTMODSEQ, each message's UID, flags, MODSEQ, internal date,
/// size and bytes. (`\Recent` is left out: it belongs to sessions, not to the mailbox.)
async fn snapshot(server: &TestServer) -> Vec<String> {
    let mut c = Imap::login(server).await;
    let mut out = Vec::new();
    let list = c.cmd("LIST \"\" \"*\"").await;
    let mut names = Vec::new();
    for l in &list {
        if let Some(rest) = l.strip_prefix("* LIST ") {
            let name = rest.rsplit(' ').next().unwrap().trim().trim_matches('"');
            names.push(name.to_owned());
            out.push(l.clone());
        }
    }
    names.sort();
    for name in names {
        let ex = c.cmd(&format!("EXAMINE \"{name}\" (CONDSTORE)")).await;
        if ex.last().is_some_and(|l| !l.contains("OK")) {
            continue;
        }
        for l in &ex {
            if l.contains("UIDVALIDITY") || l.contains("UIDNEXT") || l.contains("HIGHESTMODSEQ") {
                out.push(format!("{name}: {}", l.trim_end()));
            }
        }
        let f = c
            .cmd("UID FETCH 1:* (UID FLAGS MODSEQ INTERNALDATE RFC822.SIZE BODY.PEEK[])")
            .await;
        out.extend(f.iter().filter(|l| !l.starts_with('c')).map(|l| {
            format!(
                "{name}: {}",
                // \Recent is per session (RFC 3501 §2.3.2), not part of what is kept.
                l.replace("\\Recent ", "")
                    .replace(" \\Recent", "")
                    .replace("(\\Recent)", "()")
            )
        }));
    }
    out
}

/// The METADATA answers about Work's and the server's entries (RFC 5464 §4.2).
async fn metadata(server: &TestServer) -> Vec<String> {
    let mut c = Imap::login(server).await;
    let mut out = c
        .cmd("GETMETADATA Work (/private/comment /shared/comment)")
        .await;
    out.extend(c.cmd("GETMETADATA \"\" /private/vendor/test/note").await);
    out.retain(|l| l.starts_with("* METADATA"));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_copy_keeps_uidvalidity_and_uids() {
    // An embedded installation with some history: flags, keywords, a folder, an expunge.
    let mut embedded = TestServer::start_with(&["imap"], "");
    embedded.dir.add_user(USER, PASS);
    let o = embedded.cli(&["alias", "add", "boss@pochta.test", USER]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    {
        let mut c = Imap::login(&embedded).await;
        for n in 0..5 {
            c.append(&message(n)).await;
        }
        c.cmd("CREATE Work").await;
        c.cmd("SELECT INBOX").await;
        c.cmd("UID STORE 1,3 +FLAGS (\\Seen $Important)").await;
        c.cmd("UID STORE 2 +FLAGS (\\Deleted)").await;
        c.cmd("EXPUNGE").await;
        c.cmd("UID COPY 3:5 Work").await;
        c.cmd("SETMETADATA Work (/private/comment \"mine\" /shared/comment \"ours\")")
            .await;
        c.cmd("SETMETADATA \"\" (/private/vendor/test/note \"server\")")
            .await;
    }
    let metadata_before = metadata(&embedded).await;
    let all = metadata_before.concat();
    assert!(
        all.contains("mine") && all.contains("ours") && all.contains("server"),
        "{metadata_before:?}"
    );
    let before = snapshot(&embedded).await;
    assert!(
        before.iter().any(|l| l.contains("$Important")),
        "{before:?}"
    );
    // An address book with two contacts (contacts.sqlite3).
    let cards = embedded.dir.dir.path().join("cards.vcf");
    std::fs::write(
        &cards,
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:anna\r\nFN:Anna Petrova\r\nEND:VCARD\r\n\
         BEGIN:VCARD\r\nVERSION:3.0\r\nUID:boris\r\nFN:Boris Ivanov\r\nEND:VCARD\r\n",
    )
    .unwrap();
    let o = embedded.cli(&["contacts", "import", USER, cards.to_str().unwrap()]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let cards_before = common::stdout(&embedded.cli(&["contacts", "export", USER]));
    assert!(cards_before.contains("Boris Ivanov"), "{cards_before}");
    assert!(embedded.sigterm(Duration::from_secs(30)).is_some());

    let cluster = Cluster::start();
    let url = cluster.database();
    let o = embedded.cli(&["store", "copy", "--to", &url]);
    assert!(
        o.status.success(),
        "store copy failed: {}",
        common::stderr(&o)
    );
    let said = common::stdout(&o);
    assert!(said.contains("copied 1 account(s)"), "{said}");
    assert!(
        said.contains("1 address book(s) with 2 contact(s)"),
        "{said}"
    );
    // A second copy into the same (now full) database is refused, changing nothing.
    let o = embedded.cli(&["store", "copy", "--to", &url]);
    assert!(!o.status.success());

    let pg = node(&url);
    let after = snapshot(&pg).await;
    assert_eq!(before, after, "the IMAP view changed across the copy");
    // The copied alias delivers, and new mail continues the UIDs.
    let mut c = Imap::login(&pg).await;
    assert_eq!(c.append(&message(9)).await, 6);
    let o = pg.cli(&["alias", "list"]);
    assert!(common::stdout(&o).contains("boss@pochta.test"));
    assert_eq!(
        metadata(&pg).await,
        metadata_before,
        "METADATA changed across the copy"
    );
    // The address book came along, byte for byte (read from PostgreSQL).
    assert_eq!(
        common::stdout(&pg.cli(&["contacts", "export", USER])),
        cards_before
    );
}

async fn pop3_line(c: &mut BufReader<TcpStream>) -> String {
    let mut l = String::new();
    tokio::time::timeout(Duration::from_secs(60), c.read_line(&mut l))
        .await
        .expect("a POP3 line within 60 s")
        .unwrap();
    l
}

/// USER/PASS on `server`'s POP3 listener; returns the connection and the answer to PASS.
async fn pop3_login(server: &TestServer) -> (BufReader<TcpStream>, String) {
    let mut c = BufReader::new(TcpStream::connect(server.addr("pop3")).await.unwrap());
    assert!(pop3_line(&mut c).await.starts_with("+OK"));
    c.get_mut()
        .write_all(format!("USER {USER}\r\n").as_bytes())
        .await
        .unwrap();
    assert!(pop3_line(&mut c).await.starts_with("+OK"));
    c.get_mut()
        .write_all(format!("PASS {PASS}\r\n").as_bytes())
        .await
        .unwrap();
    let answer = pop3_line(&mut c).await;
    (c, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pop3_maildrop_lock_holds_across_nodes() {
    let (_cluster, a, b) = two_nodes(node);
    let (mut on_a, answer) = pop3_login(&a).await;
    assert!(answer.starts_with("+OK"), "{answer}");
    let (_, answer) = pop3_login(&b).await;
    assert!(answer.starts_with("-ERR [IN-USE]"), "{answer}");
    on_a.get_mut().write_all(b"QUIT\r\n").await.unwrap();
    assert!(pop3_line(&mut on_a).await.starts_with("+OK"));
    // Released with A's session: B gets in (the unlock reaches the server as A's lock
    // connection closes, so poll).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, answer) = pop3_login(&b).await;
        if answer.starts_with("+OK") {
            break;
        }
        assert!(Instant::now() < deadline, "still locked: {answer}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What the next hop saw: (EHLO name, whether it answered the message with 250).
type Sessions = std::sync::Arc<std::sync::Mutex<Vec<(String, bool)>>>;

/// A next hop for `remote.test` that takes the first message's DATA and then never answers
/// (its sender hangs mid-delivery, holding the queue's lease) and accepts every later one.
async fn hanging_next_hop() -> (u16, Sessions) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Sessions = Default::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut c = BufReader::new(sock);
                let mut helo = String::new();
                c.get_mut().write_all(b"220 sink\r\n").await.unwrap();
                loop {
                    let mut l = String::new();
                    if c.read_line(&mut l).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let upper = l.to_ascii_uppercase();
                    let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                        helo = l[5..].trim().to_owned();
                        b"250 sink\r\n"
                    } else if upper.starts_with("DATA") {
                        c.get_mut().write_all(b"354 go\r\n").await.unwrap();
                        loop {
                            let mut d = String::new();
                            if c.read_line(&mut d).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if d == ".\r\n" {
                                break;
                            }
                        }
                        let first = {
                            let mut v = log.lock().unwrap();
                            let first = v.is_empty();
                            v.push((helo.clone(), !first));
                            first
                        };
                        if first {
                            // Hang: hold the connection, answer nothing.
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            return;
                        }
                        b"250 2.0.0 ok\r\n"
                    } else if upper.starts_with("QUIT") {
                        let _ = c.get_mut().write_all(b"221 bye\r\n").await;
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    c.get_mut().write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, seen)
}

/// A node with SMTP submission whose queue routes remote.test to `next_hop`, named `name`
/// (its EHLO), with 3-second queue leases.
fn queue_node(url: &str, name: &str, next_hop: u16) -> TestServer {
    let extra = format!(
        "[smtp.routes]\n\"remote.test\" = \"127.0.0.1:{next_hop}\"\n\
         [smtp.queue]\nretry = [\"1s\"]\n"
    );
    let (dir, ports) = postgres_dir(url, &["imap", "submission"], 8, &extra);
    let text = std::fs::read_to_string(&dir.config).unwrap();
    std::fs::write(
        &dir.config,
        text.replacen(
            "hostname = \"pochta.test\"",
            &format!("hostname = \"{name}\""),
            1,
        ),
    )
    .unwrap();
    TestServer::start_in_with_env(dir, ports, &[("POCHTA_QUEUE_LEASE", "3")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queue_is_taken_over_when_a_node_dies_mid_delivery() {
    let cluster = Cluster::start();
    let url = cluster.database();
    let (hop, seen) = hanging_next_hop().await;
    let mut nodes = [
        queue_node(&url, "node-a.test", hop),
        queue_node(&url, "node-b.test", hop),
    ];
    nodes[0].dir.add_user(USER, PASS);

    // Submit on node A.
    let mut c = BufReader::new(
        TcpStream::connect(nodes[0].addr("submission"))
            .await
            .unwrap(),
    );
    let mut l = String::new();
    c.read_line(&mut l).await.unwrap();
    let token = common::base64(format!("\0{USER}\0{PASS}").as_bytes());
    for cmd in [
        "EHLO client.test".to_string(),
        format!("AUTH PLAIN {token}"),
        format!("MAIL FROM:<{USER}>"),
        "RCPT TO:<x@remote.test>".into(),
        "DATA".into(),
    ] {
        c.get_mut()
            .write_all(format!("{cmd}\r\n").as_bytes())
            .await
            .unwrap();
        loop {
            l.clear();
            c.read_line(&mut l).await.unwrap();
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                break;
            }
        }
        assert!(l.starts_with('2') || l.starts_with('3'), "{cmd}: {l}");
    }
    c.get_mut()
        .write_all(
            format!("From: {USER}\r\nTo: x@remote.test\r\nSubject: takeover\r\n\r\nhi\r\n.\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
    l.clear();
    c.read_line(&mut l).await.unwrap();
    assert!(l.starts_with("250"), "{l}");

    // Whichever node took it first is now stuck in DATA, holding the lease: kill it.
    common::wait_for(
        "the first delivery attempt",
        Duration::from_secs(60),
        || !seen.lock().unwrap().is_empty(),
    );
    let first = seen.lock().unwrap()[0].0.clone();
    let (dead, alive) = if first == "node-a.test" {
        (0, 1)
    } else {
        (1, 0)
    };
    nodes[dead].child.kill().unwrap();
    nodes[dead].child.wait().unwrap();
    let killed_at = Instant::now();

    // The other node takes the message over once the lease has run out, and delivers it once.
    let other = if alive == 0 {
        "node-a.test"
    } else {
        "node-b.test"
    };
    common::wait_for("the takeover", Duration::from_secs(60), || {
        seen.lock().unwrap().iter().any(|(h, ok)| *ok && h == other)
    });
    println!(
        "{first} killed mid-delivery; {other} delivered {:?} later",
        killed_at.elapsed()
    );
    common::wait_for("an empty queue", Duration::from_secs(30), || {
        let o = nodes[alive].cli(&["queue", "list"]);
        o.status.success() && !common::stdout(&o).contains("remote.test")
    });
    let delivered = seen.lock().unwrap().iter().filter(|(_, ok)| *ok).count();
    assert_eq!(delivered, 1, "{:?}", seen.lock().unwrap());
}

/// `curl -sS -i` as USER: (status, headers lower-cased, body).
fn dav(method: &str, url: &str, headers: &[&str], body: Option<&str>) -> (u16, String, String) {
    let auth = format!("{USER}:{PASS}");
    let mut c = std::process::Command::new("curl");
    c.args(["-sS", "--max-time", "20", "-i", "-u", &auth, "-X", method]);
    for h in headers {
        c.args(["-H", h]);
    }
    if let Some(b) = body {
        c.args(["--data-binary", b]);
    }
    let out = c.arg(url).output().expect("run curl");
    assert!(out.status.success(), "curl {url}: {}", common::stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut rest = text.as_str();
    while rest.starts_with("HTTP/1.1 100") {
        rest = rest.split_once("\r\n\r\n").map_or("", |(_, r)| r);
    }
    let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// With `backend = "postgres"` the address books live in the database: a contact PUT over
/// CardDAV on node A is read over CardDAV on node B (its ETag and bytes unchanged), a stale
/// `If-Match` on B is refused, B's delete is gone on A, and neither node has a
/// `contacts.sqlite3` in its data_dir.
#[test]
fn contacts_are_shared_through_the_database() {
    let (_cluster, a, b) = two_nodes(|url| postgres_node(url, &["imap", "http"], 4, ""));
    let card_url = |s: &TestServer| {
        format!(
            "http://127.0.0.1:{}/dav/addressbooks/{USER}/default/anna.vcf",
            s.port("http")
        )
    };
    let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:anna\r\nFN:Anna Petrova\r\nN:Petrova;Anna;;;\r\nEND:VCARD\r\n";
    let (s, h, _) = dav(
        "PUT",
        &card_url(&a),
        &["Content-Type: text/vcard", "If-None-Match: *"],
        Some(card),
    );
    assert_eq!(s, 201, "{h}");
    let etag = h
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("an ETag")
        .trim()
        .to_owned();
    let (s, h, body) = dav("GET", &card_url(&b), &[], None);
    assert_eq!(s, 200, "{h}");
    assert_eq!(body, card, "node B returns node A's bytes");
    assert!(h.contains(&format!("etag: {etag}")), "{h}");
    let (s, _, _) = dav("PUT", &card_url(&b), &["If-Match: \"0000\""], Some(card));
    assert_eq!(s, 412, "a stale If-Match is refused on the other node too");
    let (s, h, _) = dav(
        "DELETE",
        &card_url(&b),
        &[&format!("If-Match: {etag}")],
        None,
    );
    assert!(s == 204 || s == 200, "{s} {h}");
    assert_eq!(dav("GET", &card_url(&a), &[], None).0, 404);
    for n in [&a, &b] {
        assert!(
            !n.dir.data_dir().join("contacts.sqlite3").exists(),
            "contacts.sqlite3 made in a postgres node's data_dir"
        );
    }
}

/// REPLACE (RFC 8508) and METADATA (RFC 5464) on the PostgreSQL store over TCP: a UID
/// REPLACE on node A answers APPENDUID and leaves node B with only the new message; an
/// entry set on A is read on B, and a mailbox rename on B carries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replace_and_metadata_across_nodes() {
    let (_cluster, a, b) = two_nodes(node);
    let mut ca = Imap::login(&a).await;
    let old = ca.append(&message(1)).await;
    ca.cmd("SELECT INBOX").await;
    let body = message(2);
    let tag = ca.tag();
    let w = ca.conn.get_mut();
    w.write_all(format!("{tag} UID REPLACE {old} INBOX {{{}}}\r\n", body.len()).as_bytes())
        .await
        .unwrap();
    let cont = ca.line().await;
    assert!(cont.starts_with('+'), "{cont}");
    let w = ca.conn.get_mut();
    w.write_all(&body).await.unwrap();
    w.write_all(b"\r\n").await.unwrap();
    let lines = ca.until(&tag).await;
    let all = lines.concat();
    assert!(all.contains("APPENDUID "), "{all}");
    assert!(
        all.contains(&format!("* VANISHED {old}")) || all.contains("EXPUNGE"),
        "{all}"
    );

    let mut cb = Imap::login(&b).await;
    cb.cmd("SELECT INBOX").await;
    let f = cb
        .cmd("UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await;
    let f = f.concat();
    assert!(f.contains("node test 2"), "{f}");
    assert!(!f.contains("node test 1"), "{f}");
    assert!(!f.contains(&format!("UID {old} ")), "{f}");

    ca.cmd("CREATE Work").await;
    ca.cmd("SETMETADATA Work (/private/comment \"from A\")")
        .await;
    cb.cmd("RENAME Work Job").await;
    let m = cb.cmd("GETMETADATA Job /private/comment").await.concat();
    assert!(m.contains("from A"), "{m}");
}

/// Login throttling is shared by the nodes (issue 18): wrong passwords from one address,
/// spread over both nodes, add up to the lockout of that address for the account (10 by
/// default), so the right password from it is refused on node B too, while the owner, from
/// an address that has not been failing, logs in on node B at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn login_throttle_is_shared_across_nodes() {
    use login::{Proto, Verdict, Way, attempt};
    const OWNER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let (_cluster, a, b) = two_nodes(node);
    let (on_a, on_b) = (a.addr("imap"), b.addr("imap"));
    tokio::task::spawn_blocking(move || {
        // Before any failure, the attacker's address is not refused on B (the right password
        // logs in): what follows is the failures' doing. Its success clears nothing but its
        // own pair's counter, which is the one about to be filled.
        let (v, answer) = attempt(Proto::Imap, ATTACKER, on_b, Way::Command, USER, PASS);
        assert_eq!(v, Verdict::LoggedIn, "before the failures: {answer}");
        // Seven wrong passwords on node A, three on node B, in parallel (each answer waits
        // the throttle's delay, up to 15 s).
        let guesses: Vec<_> = (0..10)
            .map(|i| {
                let to = if i < 7 { on_a } else { on_b };
                std::thread::spawn(move || {
                    attempt(
                        Proto::Imap,
                        ATTACKER,
                        to,
                        Way::Command,
                        USER,
                        &format!("g{i}"),
                    )
                })
            })
            .collect();
        for g in guesses {
            let (v, answer) = g.join().unwrap();
            assert_eq!(v, Verdict::Failed, "a guess: {answer}");
        }
        // Refused on both nodes, the right password included.
        for (node, to) in [("B", on_b), ("A", on_a)] {
            let (v, answer) = attempt(Proto::Imap, ATTACKER, to, Way::Command, USER, PASS);
            assert_eq!(v, Verdict::Throttled, "attacker on node {node}: {answer}");
        }
        // The owner from another address gets in on node B at once.
        let t = Instant::now();
        let (v, answer) = attempt(Proto::Imap, OWNER, on_b, Way::Command, USER, PASS);
        assert_eq!(v, Verdict::LoggedIn, "owner on node B: {answer}");
        println!("the owner logged in on node B in {:?}", t.elapsed());
    })
    .await
    .unwrap();
}
