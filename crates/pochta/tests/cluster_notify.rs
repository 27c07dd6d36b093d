//! NOTIFY (RFC 5465) through the binary across two `pochta serve` nodes on one throwaway
//! PostgreSQL: session A on node A asks for notifications; session B on node B appends,
//! changes flags, expunges, creates, renames and sets metadata; A sees each one without
//! sending a command (the change bus crosses nodes through LISTEN/NOTIFY), and NOTIFY NONE
//! stops them. RESETKEY (RFC 4467 §7) on node B is told to a session of node A.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod pg_nodes;

use std::time::Duration;

use common::{HOSTNAME, TestServer};
use pg_nodes::{Imap, USER, postgres_node, two_nodes};
use tokio::io::AsyncWriteExt;

/// How long a notification may take on a loaded machine (a push takes milliseconds).
const PUSH_DEADLINE: Duration = Duration::from_secs(20);

fn node(url: &str) -> TestServer {
    postgres_node(url, &["imap"], 4, "")
}

impl Imap {
    async fn append(&mut self, mailbox: &str, body: &[u8]) {
        let tag = self.tag();
        let w = self.conn.get_mut();
        w.write_all(format!("{tag} APPEND {mailbox} {{{}+}}\r\n", body.len()).as_bytes())
            .await
            .unwrap();
        w.write_all(body).await.unwrap();
        w.write_all(b"\r\n").await.unwrap();
        self.until(&tag).await;
    }

    /// Unsolicited lines until one contains `needle` (each within the push deadline).
    async fn wait_for(&mut self, needle: &str) -> Vec<String> {
        let mut got = Vec::new();
        loop {
            let Some(l) = self.line_within(PUSH_DEADLINE).await else {
                panic!("no {needle:?} within {PUSH_DEADLINE:?}; got {got:?}");
            };
            let l = l.trim_end().to_string();
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
    let (_cluster, node_a, node_b) = two_nodes(node);
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

/// RESETKEY (RFC 4467 §7) across nodes: A, on node A, authorizes a URL and waits in IDLE
/// with INBOX selected; B, the same user on node B, resets INBOX's key; A is told
/// `* OK [URLMECH INTERNAL]` without sending a command (the reset crosses nodes on the change
/// bus), and the old URL is NIL on both nodes (the key lives in the shared store).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn resetkey_crosses_nodes() {
    let (_cluster, node_a, node_b) = two_nodes(node);
    let mut a = Imap::login(&node_a).await;
    let mut b = Imap::login(&node_b).await;
    a.append("INBOX", &message(1)).await;
    a.cmd("SELECT INBOX").await;
    let user = USER.replace('@', "%40");
    let r = a
        .cmd(&format!(
            "GENURLAUTH \"imap://{user}@{HOSTNAME}/INBOX/;UID=1;URLAUTH=authuser\" INTERNAL"
        ))
        .await;
    let url = r
        .iter()
        .find_map(|l| l.strip_prefix("* GENURLAUTH "))
        .unwrap_or_else(|| panic!("{r:?}"))
        .trim_end()
        .trim_matches('"')
        .to_string();
    let fetch = format!("URLFETCH \"{url}\"");
    let r = b.cmd(&fetch).await;
    assert!(r.iter().any(|l| l.contains("Body 1")), "{r:?}");

    let idle = a.tag();
    a.send(&idle, "IDLE").await;
    assert!(a.line().await.starts_with("+ "));
    let r = b.cmd("RESETKEY INBOX").await;
    assert!(r[0].contains("OK [URLMECH INTERNAL]"), "{r:?}");
    a.wait_for("* OK [URLMECH INTERNAL]").await;
    a.conn.get_mut().write_all(b"DONE\r\n").await.unwrap();
    a.until(&idle).await;
    let nil = format!("* URLFETCH \"{url}\" NIL\r\n");
    assert!(a.cmd(&fetch).await.contains(&nil));
    assert!(b.cmd(&fetch).await.contains(&nil));
}
