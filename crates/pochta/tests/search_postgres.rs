//! Full-text search on the PostgreSQL backend (issue 22), over TCP: an embedded installation
//! with Russian mail (UTF-8 and KOI8-R) is moved with `pochta store copy`, a `pochta serve`
//! node on the throwaway PostgreSQL rebuilds the index (the copy leaves it empty) and
//! `UID SEARCH CHARSET UTF-8 TEXT письмами` finds the other forms of the word, from the index
//! and for a message appended afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{TestDir, TestServer, free_ports};
use pochta_store::search::{Fields, SearchIndex, SearchQuery};
use pochta_store::{Directory, MailStore};
use pochta_store_postgres::testing::Cluster;
use pochta_store_postgres::{PgSearchIndex, PgStore};
use pochta_types::{Address, MailboxName};

const USER: &str = "olga@pochta.test";
const PASS: &str = "correct horse battery";

struct Imap {
    r: BufReader<TcpStream>,
    n: u32,
}

impl Imap {
    fn login(server: &TestServer) -> Imap {
        let s = TcpStream::connect(server.addr("imap")).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut c = Imap {
            r: BufReader::new(s),
            n: 0,
        };
        let greeting = c.line();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        c.cmd(format!("LOGIN {USER} \"{PASS}\"").as_bytes());
        c
    }

    fn line(&mut self) -> String {
        let mut l = Vec::new();
        let n = self.r.read_until(b'\n', &mut l).unwrap();
        assert!(n > 0, "connection closed");
        String::from_utf8_lossy(&l).into_owned()
    }

    /// Sends a command (literals as LITERAL+), returns its lines up to the tagged OK.
    fn cmd(&mut self, command: &[u8]) -> Vec<String> {
        self.n += 1;
        let tag = format!("s{}", self.n);
        let s = self.r.get_mut();
        s.write_all(tag.as_bytes()).unwrap();
        s.write_all(b" ").unwrap();
        s.write_all(command).unwrap();
        s.write_all(b"\r\n").unwrap();
        let mut out = Vec::new();
        loop {
            let l = self.line();
            let done = l.starts_with(&format!("{tag} "));
            out.push(l.clone());
            if done {
                assert!(l.starts_with(&format!("{tag} OK")), "{out:?}");
                return out;
            }
        }
    }

    fn append(&mut self, msg: &[u8]) {
        let mut c = format!("APPEND INBOX {{{}+}}\r\n", msg.len()).into_bytes();
        c.extend_from_slice(msg);
        self.cmd(&c);
    }

    /// `UID SEARCH CHARSET UTF-8 TEXT <word>`: the UIDs found.
    fn search_text(&mut self, word: &str) -> Vec<u32> {
        let mut c = format!("UID SEARCH CHARSET UTF-8 TEXT {{{}+}}\r\n", word.len()).into_bytes();
        c.extend_from_slice(word.as_bytes());
        let lines = self.cmd(&c);
        let hit = lines
            .iter()
            .find(|l| l.starts_with("* SEARCH"))
            .expect("an untagged SEARCH");
        hit.split_whitespace()
            .skip(2)
            .map(|u| u.parse().unwrap())
            .collect()
    }
}

fn utf8_message() -> Vec<u8> {
    "From: =?utf-8?B?0JHQsNCx0YPRiNC60LA=?= <babushka@example.org>\r\n\
     To: olga@pochta.test\r\nSubject: =?utf-8?B?0J/QuNGB0YzQvNC+?=\r\n\
     Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
     Посылаю тебе фотографии с дачи.\r\n"
        .as_bytes()
        .to_vec()
}

/// "Отправляю письма." in KOI8-R.
fn koi8_message() -> Vec<u8> {
    let mut m = b"From: ivan@example.org\r\nTo: olga@pochta.test\r\nSubject: koi8\r\n\
Content-Type: text/plain; charset=koi8-r\r\n\r\n"
        .to_vec();
    m.extend_from_slice(b"\xef\xd4\xd0\xd2\xc1\xd7\xcc\xd1\xc0 \xd0\xc9\xd3\xd8\xcd\xc1.\r\n");
    m
}

fn node(url: &str) -> TestServer {
    let ports: Vec<(&'static str, u16)> = vec![("imap", free_ports(1)[0])];
    let extra = format!(
        "[store]\nbackend = \"postgres\"\nurl = \"{url}\"\npool_size = 8\n[search]\nsettle = 0\n"
    );
    TestServer::start_in(TestDir::new(&ports, &extra), ports)
}

#[test]
fn search_finds_russian_word_forms_on_postgres_after_store_copy() {
    if !pochta_store_postgres::testing::available() {
        panic!("PostgreSQL 15 server binaries are needed (apt-get install postgresql)");
    }
    let mut embedded = TestServer::start_with(&["imap"], "");
    embedded.dir.add_user(USER, PASS);
    {
        let mut c = Imap::login(&embedded);
        c.append(&utf8_message());
        c.append(&koi8_message());
        c.append(b"From: a@example.org\r\nSubject: Meeting notes\r\n\r\nNothing in Russian.\r\n");
    }
    assert!(embedded.sigterm(Duration::from_secs(30)).is_some());

    let cluster = Cluster::start();
    let url = cluster.database();
    let o = embedded.cli(&["store", "copy", "--to", &url]);
    assert!(o.status.success(), "store copy: {}", common::stderr(&o));
    let pg = node(&url);

    // The node's indexer rebuilds the (empty after the copy) index: the watermark of INBOX
    // reaches the last UID and the index alone answers.
    let store = PgStore::open(&url, 2).unwrap();
    let account = store
        .account_by_address(&Address::new(USER).unwrap())
        .unwrap()
        .expect("the copied account");
    let inbox = store
        .mailbox(account.id, &MailboxName::new("INBOX").unwrap())
        .unwrap()
        .expect("INBOX")
        .id;
    let index = PgSearchIndex::with_pool(store.pool().clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    while index.watermark(inbox).unwrap() < 3 {
        assert!(
            Instant::now() < deadline,
            "the node did not index the copied mail within 60 s (watermark {})",
            index.watermark(inbox).unwrap()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut from_index: Vec<u32> = index
        .search(&[inbox], &SearchQuery::new(Fields::ALL, "письмами", false))
        .unwrap()
        .iter()
        .map(|h| h.uid.get())
        .collect();
    from_index.sort_unstable();
    assert_eq!(
        from_index,
        vec![1, 2],
        "письмо (subject) and письма (KOI8-R body)"
    );

    // Over IMAP: the word forms, and a new message found right after its APPEND.
    let mut c = Imap::login(&pg);
    c.cmd(b"SELECT INBOX");
    assert_eq!(c.search_text("письмами"), vec![1, 2]);
    assert_eq!(c.search_text("ФОТОГРАФИЯ"), vec![1]);
    c.append(
        "Subject: =?utf-8?B?0J/QuNGB0YzQvNCw0YU=?=\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nО письмах.\r\n"
            .as_bytes(),
    );
    assert_eq!(c.search_text("письмами"), vec![1, 2, 4]);
    // The sender's display name, RFC 2047 encoded.
    assert_eq!(c.search_text("бабушкам"), vec![1]);
    assert_eq!(c.search_text("absentword"), Vec::<u32>::new());

    // SEARCH=FUZZY (RFC 6203) and MULTISEARCH (RFC 7377) on this backend: "meating" is one
    // edit from "meeting" (stems meat/meet); another session's APPEND is found at once.
    let caps = c.cmd(b"CAPABILITY");
    assert!(
        caps[0].contains(" SEARCH=FUZZY") && caps[0].contains(" MULTISEARCH"),
        "{caps:?}"
    );
    let l = c.cmd(b"UID SEARCH RETURN (ALL RELEVANCY) FUZZY SUBJECT meating");
    assert!(l[0].contains(" ALL 3 RELEVANCY (100)"), "{l:?}");
    let l = c.cmd(b"UID SEARCH SUBJECT meating");
    assert_eq!(l[0].trim_end(), "* SEARCH", "{l:?}");
    let mut other = Imap::login(&pg);
    other.append(
        b"From: b@example.org
Subject: Meeting again

Agenda.
",
    );
    // Authenticated state: INBOX is read afresh (a selected mailbox would be searched
    // through the session's view, which learns of uid 5 at its next sync, as SEARCH does).
    c.cmd(b"UNSELECT");
    let l = c.cmd(b"ESEARCH IN (personal) RETURN (ALL) FUZZY SUBJECT meating");
    let e: Vec<&String> = l.iter().filter(|l| l.starts_with("* ESEARCH")).collect();
    assert_eq!(e.len(), 1, "{l:?}");
    assert!(
        e[0].contains(" MAILBOX \"INBOX\" UIDVALIDITY ")
            && e[0].trim_end().ends_with(") UID ALL 3,5"),
        "{e:?}"
    );
}
