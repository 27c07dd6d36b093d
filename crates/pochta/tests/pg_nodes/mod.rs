//! `pochta serve` nodes on one throwaway PostgreSQL, for the multi-node tests (cluster.rs,
//! cluster_notify.rs): a node's config, the two-node setup with one account, and a small
//! async IMAP client. Use with `mod common; mod pg_nodes;`.
#![allow(dead_code)]

use std::time::Duration;

use pochta_store_postgres::testing::Cluster;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::common::{TestDir, TestServer, free_ports};

pub const USER: &str = "ivan@pochta.test";
pub const PASS: &str = "correct horse battery";

/// A node's directory and ports: `listeners` on free ports, `[store] backend = "postgres"` at
/// `url` with `pool_size` connections, then `extra` config.
pub fn postgres_dir(
    url: &str,
    listeners: &[&'static str],
    pool_size: u32,
    extra: &str,
) -> (TestDir, Vec<(&'static str, u16)>) {
    let ports: Vec<(&'static str, u16)> = listeners
        .iter()
        .copied()
        .zip(free_ports(listeners.len()))
        .collect();
    let config = format!(
        "[store]\nbackend = \"postgres\"\nurl = \"{url}\"\npool_size = {pool_size}\n{extra}"
    );
    (TestDir::new(&ports, &config), ports)
}

/// A running node made by [`postgres_dir`].
pub fn postgres_node(
    url: &str,
    listeners: &[&'static str],
    pool_size: u32,
    extra: &str,
) -> TestServer {
    let (dir, ports) = postgres_dir(url, listeners, pool_size, extra);
    TestServer::start_in(dir, ports)
}

/// A fresh PostgreSQL cluster and two nodes made by `node` on its database, with the account
/// [`USER`] added through node A's CLI (it writes to the database). Keep the cluster alive
/// as long as the nodes.
pub fn two_nodes(node: fn(&str) -> TestServer) -> (Cluster, TestServer, TestServer) {
    let cluster = Cluster::start();
    let url = cluster.database();
    let a = node(&url);
    let b = node(&url);
    a.dir.add_user(USER, PASS);
    (cluster, a, b)
}

/// An IMAP connection logged in as [`USER`]; commands are tagged `c1`, `c2`, ...
pub struct Imap {
    pub conn: BufReader<TcpStream>,
    pub n: u32,
}

impl Imap {
    pub async fn login(server: &TestServer) -> Imap {
        let mut conn = BufReader::new(TcpStream::connect(server.addr("imap")).await.unwrap());
        let mut greeting = String::new();
        conn.read_line(&mut greeting).await.unwrap();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        let mut c = Imap { conn, n: 0 };
        c.cmd(&format!("LOGIN {USER} \"{PASS}\"")).await;
        c
    }

    /// The next tag.
    pub fn tag(&mut self) -> String {
        self.n += 1;
        format!("c{}", self.n)
    }

    /// One line as sent (CRLF included) within `deadline`, or `None`.
    pub async fn line_within(&mut self, deadline: Duration) -> Option<String> {
        let mut l = String::new();
        let n = tokio::time::timeout(deadline, self.conn.read_line(&mut l))
            .await
            .ok()?
            .unwrap();
        assert!(n > 0, "connection closed");
        Some(l)
    }

    /// One line as sent, within 60 s.
    pub async fn line(&mut self) -> String {
        self.line_within(Duration::from_secs(60))
            .await
            .expect("an IMAP line within 60 s")
    }

    /// Sends `command` tagged `tag` without waiting for an answer.
    pub async fn send(&mut self, tag: &str, command: &str) {
        self.conn
            .get_mut()
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .await
            .unwrap();
    }

    /// Sends a command, returns every line up to and including its tagged OK.
    pub async fn cmd(&mut self, command: &str) -> Vec<String> {
        let tag = self.tag();
        self.send(&tag, command).await;
        self.until(&tag).await
    }

    /// Every line up to and including `tag`'s completion, which must be OK.
    pub async fn until(&mut self, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.line().await;
            let done = l.starts_with(&format!("{tag} "));
            out.push(l.clone());
            if done {
                assert!(l.starts_with(&format!("{tag} OK")), "{out:?}");
                return out;
            }
        }
    }
}
