//! NOTIFY (RFC 5465) through the binary across two `pochta serve` nodes on one throwaway
//! PostgreSQL: session A on node A asks for notifications; session B on node B appends,
//! changes flags, expunges, creates, renames and sets metadata; A sees each one without
//! sending a command (the change bus crosses nodes through LISTEN/NOTIFY), and NOTIFY NONE
//! stops them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{TestDir, TestServer, free_ports};
use pochta_store_postgres::testing::Cluster;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const USER: &str = "ivan@pochta.test";
const PASS: &str = "correct horse battery";
/// How long a notification may take on a loaded machine (a push takes milliseconds).
const PUSH_DEADLINE: Duration = Duration::from_secs(20);

fn node(url: &str) -> TestServer {
    let ports: Vec<(&'static str, u16)> = vec![("imap", free_ports(1)[0])];
    let extra = format!("[store]\nbackend = \"postgres\"\nurl = \"{url}\"\npool_size = 4\n");
    let dir = TestDir::new(&ports, &extra);
    TestServer::start_in(dir, ports)
}

struct Imap {
    conn: BufReader<TcpStream>,
    n: u32,
}

impl Imap {
    async fn login(server: &TestServer) -> Imap {
        let mut conn = BufReader::new(TcpStream::connect(server.addr("imap")).await.unwrap());
        let mut greeting = String::new();
        conn.read_line(&mut greeting).await.unwrap();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        let mut c = Imap { conn, n: 0 };
        c.cmd(&format!("LOGIN {USER} \"{PASS}\"")).await;
        c
    }

    /// One line within `deadline`, or `None`.
    async fn line_within(&mut self, deadline: Duration) -> Option<String> {
        let mut l = String::new();
        let n = tokio::time::timeout(deadline, self.conn.read_line(&mut l))
            .await
            .ok()?
            .unwrap();
        assert!(n > 0, "connection closed");
        Some(l.trim_end().to_string())
    }

    async fn cmd(&mut self, command: &str) -> Vec<String> {
        self.n += 1;
        let tag = format!("c{}", self.n);
        self.conn
            .get_mut()
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = Vec::new();
        loop {
            let l = self
                .line_within(Duration::from_secs(60))
                .await
                .expect("an answer within 60 s");
            let done = l.starts_with(&format!("{tag} "));
            out.push(l.clone());
            if done {
                assert!(l.starts_with(&format!("{tag} OK")), "{command}: {out:?}");
                return out;
            }
        }
    }

    async fn append(&mut self, mailbox: &str, body: &[u8]) {
        self.n += 1;
        let tag = format!("c{}", self.n);
        let w = self.conn.get_mut();
        w.write_all(format!("{tag} APPEND {mailbox} {{{}+}}\r\n", body.len()).as_bytes())
            .await
            .unwrap();
        w.write_all(body).await.unwrap();
        w.write_all(b"\r\n").await.unwrap();
        loop {
            let l = self.line_within(Duration::from_secs(60)).await.unwrap();
            if l.starts_with(&format!("{tag} ")) {
                assert!(l.starts_with(&format!("{tag} OK")), "{l}");
                return;
            }
        }
    }

    /// Unsolicited lines until one contains `needle` (each within the push deadline).
    async fn wait_for(&mut self, needle: &str) -> Vec<String> {
        let mut got = Vec::new();
        loop {
            let Some(l) = self.line_within(PUSH_DEADLINE).await else {
                panic!("no {needle:?} within {PUSH_DEADLINE:?}; got {got:?}");
            };
            let done = l.contains(needle);
            got.push(l);
            if done {
                return got;
            }
        }
    }
}

fn message(n: usize) -> Vec<u8> {
    format!("From: a@example.org\r\nTo: {USER}\r\nSubject: notify {n}\r\n\r\nBody {n}\r\n")
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notify_crosses_nodes() {
    let cluster = Cluster::start();
    let url = cluster.database();
    let node_a = node(&url);
    let node_b = node(&url);
    node_a.dir.add_user(USER, PASS);
    let mut a = Imap::login(&node_a).await;
    let mut b = Imap::login(&node_b).await;
    let caps = a.cmd("CAPABILITY").await;
    assert!(caps[0].contains(" NOTIFY"), "{caps:?}");
    a.append("INBOX", &message(1)).await;
    b.cmd("CREATE Other").await;
    a.cmd("SELECT INBOX").await;
    a.cmd(
        "NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange)) \
         (personal (MessageNew MessageExpunge MailboxName SubscriptionChange \
         MailboxMetadataChange))",
    )
    .await;

    b.append("INBOX", &message(2)).await;
    let r = a.wait_for("FETCH").await;
    assert!(r.contains(&"* 2 EXISTS".to_string()), "{r:?}");
    assert!(
        r.iter().any(|l| l.starts_with("* 2 FETCH (UID 2 FLAGS (")),
        "{r:?}"
    );

    b.cmd("SELECT INBOX").await;
    b.cmd("STORE 1 +FLAGS (\\Flagged)").await;
    let r = a.wait_for("\\Flagged").await;
    assert!(
        r.iter()
            .any(|l| l.starts_with("* 1 FETCH (UID 1 FLAGS (\\Flagged")),
        "{r:?}"
    );

    b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    b.cmd("EXPUNGE").await;
    let r = a.wait_for("EXPUNGE").await;
    assert!(r.contains(&"* 1 EXPUNGE".to_string()), "{r:?}");

    b.append("Other", &message(3)).await;
    let r = a.wait_for("* STATUS").await;
    assert!(
        r.contains(&"* STATUS \"Other\" (UIDNEXT 2 MESSAGES 1)".to_string()),
        "{r:?}"
    );

    b.cmd("CREATE Fresh").await;
    let r = a.wait_for("Fresh").await;
    assert!(
        r.contains(&"* LIST (\\HasNoChildren) \"/\" \"Fresh\"".to_string()),
        "{r:?}"
    );
    b.cmd("RENAME Fresh Renamed").await;
    let r = a.wait_for("OLDNAME").await;
    assert!(
        r.contains(
            &"* LIST (\\HasNoChildren) \"/\" \"Renamed\" (\"OLDNAME\" (\"Fresh\"))".to_string()
        ),
        "{r:?}"
    );
    b.cmd("SUBSCRIBE Renamed").await;
    let r = a.wait_for("\\Subscribed").await;
    assert!(
        r.contains(&"* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Renamed\"".to_string()),
        "{r:?}"
    );
    b.cmd("SETMETADATA Renamed (/shared/comment \"hi\")").await;
    let r = a.wait_for("METADATA").await;
    assert!(
        r.contains(&"* METADATA \"Renamed\" \"/shared/comment\"".to_string()),
        "{r:?}"
    );

    // NOTIFY NONE: nothing more arrives unasked.
    a.cmd("NOTIFY NONE").await;
    b.cmd("CREATE Quiet").await;
    b.append("Other", &message(4)).await;
    let extra = a.line_within(Duration::from_secs(2)).await;
    assert_eq!(extra, None, "after NOTIFY NONE");
    let r = a.cmd("NOOP").await;
    assert_eq!(r.len(), 1, "{r:?}");
}
