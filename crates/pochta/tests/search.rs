//! Full-text search (issue 22) through the binary over TCP: word forms in Russian and
//! English, in bodies of several charsets, HTML, PDF and DOCX attachments; a message is
//! found the moment its APPEND (or SMTP delivery) is answered, before and after the indexer
//! took it; the index is rebuilt after its directory is deleted (`pochta search reindex`,
//! and by `serve` itself).

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;

const USER: &str = "search@example.org";
const PASS: &str = "Search-Pass-1";

const PDF: &[u8] = include_bytes!("../../extract/tests/fixtures/invoice.pdf");
const DOCX: &[u8] = include_bytes!("../../extract/tests/fixtures/report.docx");

/// A blocking IMAP connection: `cmd` sends a tagged command and returns every line up to and
/// including the tagged one.
struct Imap {
    r: BufReader<TcpStream>,
    n: u32,
}

impl Imap {
    fn login(port: u16) -> Imap {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut c = Imap {
            r: BufReader::new(s),
            n: 0,
        };
        c.line();
        c.ok(&format!("LOGIN {USER} {PASS}"));
        c
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        assert!(!l.is_empty(), "connection closed");
        l
    }

    fn cmd(&mut self, c: &str) -> Vec<String> {
        self.n += 1;
        let tag = format!("t{}", self.n);
        self.r
            .get_mut()
            .write_all(format!("{tag} {c}\r\n").as_bytes())
            .unwrap();
        self.collect(&tag)
    }

    fn collect(&mut self, tag: &str) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            let l = self.line();
            // A literal in a response: read its bytes into the line.
            if let Some(n) = l
                .trim_end()
                .strip_suffix('}')
                .and_then(|s| s.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok())
            {
                let mut b = vec![0; n];
                self.r.read_exact(&mut b).unwrap();
            }
            let done = l.starts_with(&format!("{tag} "));
            out.push(l);
            if done {
                return out;
            }
        }
    }

    fn ok(&mut self, c: &str) -> Vec<String> {
        let lines = self.cmd(c);
        assert!(
            lines.last().unwrap().split(' ').nth(1) == Some("OK"),
            "{c}: {lines:?}"
        );
        lines
    }

    fn append(&mut self, mailbox: &str, msg: &[u8]) {
        self.n += 1;
        let tag = format!("t{}", self.n);
        self.r
            .get_mut()
            .write_all(format!("{tag} APPEND {mailbox} {{{}}}\r\n", msg.len()).as_bytes())
            .unwrap();
        let cont = self.line();
        assert!(cont.starts_with('+'), "{cont}");
        self.r.get_mut().write_all(msg).unwrap();
        self.r.get_mut().write_all(b"\r\n").unwrap();
        let lines = self.collect(&tag);
        assert!(lines.last().unwrap().contains("OK"), "{lines:?}");
    }

    /// `UID SEARCH <criteria>` → the UIDs, sorted.
    fn search(&mut self, criteria: &str) -> Vec<u32> {
        let lines = self.ok(&format!("UID SEARCH {criteria}"));
        let mut v: Vec<u32> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("* SEARCH"))
            .flat_map(|l| l.split_whitespace().map(|n| n.parse().unwrap()))
            .collect();
        v.sort_unstable();
        v
    }

    /// Sends a search with a literal string argument (for 8-bit text): `UID SEARCH CHARSET
    /// UTF-8 <key> {n}` + text.
    fn search_utf8(&mut self, key: &str, text: &str) -> Vec<u32> {
        self.n += 1;
        let tag = format!("t{}", self.n);
        self.r
            .get_mut()
            .write_all(
                format!(
                    "{tag} UID SEARCH CHARSET UTF-8 {key} {{{}}}\r\n",
                    text.len()
                )
                .as_bytes(),
            )
            .unwrap();
        let cont = self.line();
        assert!(cont.starts_with('+'), "{cont}");
        self.r.get_mut().write_all(text.as_bytes()).unwrap();
        self.r.get_mut().write_all(b"\r\n").unwrap();
        let lines = self.collect(&tag);
        assert!(lines.last().unwrap().contains("OK"), "{lines:?}");
        let mut v: Vec<u32> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("* SEARCH"))
            .flat_map(|l| l.split_whitespace().map(|n| n.parse().unwrap()))
            .collect();
        v.sort_unstable();
        v
    }
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// The fixtures, UIDs 1..=7 in this order.
fn messages() -> Vec<Vec<u8>> {
    let mut koi =
        b"From: a@example.org\r\nSubject: koi8\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n"
            .to_vec();
    koi.extend_from_slice(b"\xf0\xc9\xd3\xd8\xcd\xc1\x20\xcf\x20\xd0\xcf\xc7\xcf\xc4\xc5\r\n");
    let mut cp = b"From: b@example.org\r\nSubject: =?windows-1251?B?zvL3uPIg5+Ag7OD5?=\r\nContent-Type: text/plain; charset=windows-1251\r\n\r\n".to_vec();
    cp.extend_from_slice(b"\xcf\xe8\xf1\xfc\xec\xe0\x20\xee\x20\xef\xee\xe3\xee\xe4\xe5\r\n");
    let utf8 = "From: =?utf-8?B?0JjQstCw0L0g0J/QtdGC0YDQvtCy?= <ivan@example.org>\r\nSubject: Ёлка\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nМы получили ваше письмо о ёлке.\r\n".as_bytes().to_vec();
    let html = b"From: c@example.org\r\nSubject: newsletter\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Our <b>meetings</b> were moved</p></body></html>\r\n".to_vec();
    let pdf = format!(
        "From: d@example.org\r\nSubject: invoice\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--X\r\nContent-Type: application/pdf; name=scan.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--X--\r\n",
        b64(PDF)
    )
    .into_bytes();
    let docx = format!(
        "From: e@example.org\r\nSubject: report\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\nContent-Type: text/plain\r\n\r\nthe report\r\n--X\r\nContent-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document\r\nContent-Disposition: attachment; filename=q3.docx\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--X--\r\n",
        b64(DOCX)
    )
    .into_bytes();
    let plain =
        b"From: f@example.org\r\nSubject: hello beautiful world\r\nX-Extra: another header\r\n\r\nasdfghjkl zxcvbnm\r\n"
            .to_vec();
    vec![koi, cp, utf8, html, pdf, docx, plain]
}

/// The indexer takes new mail at once (the default lets it settle for 30 s).
const SETTLE_AT_ONCE: &str = "[search]\nsettle = 0\n";

/// The index's commit payload (`mailbox:watermark,…`), once it holds `want`.
fn wait_indexed(data_dir: &Path, want: &str) {
    let meta = data_dir.join("search").join("meta.json");
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(&meta).unwrap_or_default();
        if text.contains(want) {
            return;
        }
        assert!(Instant::now() < end, "index never reached {want}: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The searches every fixture must answer, before and after indexing.
fn check_searches(c: &mut Imap) {
    // Russian word forms in KOI8-R, windows-1251 and UTF-8 bodies (письма → письмами, письмо).
    // (6 has "письмами" in its DOCX attachment.)
    assert_eq!(c.search_utf8("TEXT", "письмами"), vec![1, 2, 3, 6]);
    assert_eq!(c.search_utf8("BODY", "ПИСЬМО"), vec![1, 2, 3, 6]);
    assert_eq!(c.search_utf8("SUBJECT", "письмо"), Vec::<u32>::new());
    // ё/е folding, subject decoded from windows-1251.
    assert_eq!(c.search_utf8("SUBJECT", "отчет"), vec![2]);
    assert_eq!(c.search_utf8("TEXT", "елки"), vec![3]);
    // Display names decoded from RFC 2047.
    assert_eq!(c.search_utf8("FROM", "петров"), vec![3]);
    // English forms; HTML without its markup.
    assert_eq!(c.search("BODY meeting"), vec![4]);
    assert_eq!(
        c.search("BODY html"),
        Vec::<u32>::new(),
        "markup is not text"
    );
    // Attachments: PDF text, DOCX text (Russian), attachment names.
    assert_eq!(c.search("BODY invoice"), vec![5]);
    assert_eq!(c.search_utf8("TEXT", "показатель"), vec![6]);
    assert_eq!(c.search("TEXT q3"), vec![6]);
    // RFC 9051 substrings stay found.
    assert_eq!(c.search("BODY sdfghjk"), vec![7]);
    assert_eq!(c.search("SUBJECT \"eautiful worl\""), vec![7]);
    assert_eq!(c.search("HEADER X-Extra \"other head\""), vec![7]);
    assert_eq!(c.search("TEXT nother"), vec![7]);
    // Combined with other keys.
    assert_eq!(c.search("NOT BODY zxcvbnm UID 6:7"), vec![6]);
    assert_eq!(c.search("OR BODY invoice BODY meetings"), vec![4, 5]);
}

#[test]
fn word_forms_charsets_html_and_attachments_are_found_before_and_after_indexing() {
    let ports = vec![("imap", free_ports(1)[0])];
    let dir = TestDir::new(&ports, SETTLE_AT_ONCE);
    dir.add_user(USER, PASS);
    let data_dir = dir.data_dir();
    let mut server = TestServer::start_in(dir, ports);
    let mut c = Imap::login(server.port("imap"));
    c.ok("SELECT INBOX");
    for m in messages() {
        c.append("INBOX", &m);
    }
    // At once, whatever the indexer has done (messages above the watermark are evaluated
    // directly).
    check_searches(&mut c);
    // Once the index holds all seven, the same answers come from it.
    wait_indexed(&data_dir, ":7");
    check_searches(&mut c);
    // Expunged messages leave the index, and the answers.
    c.ok("UID STORE 1 +FLAGS (\\Deleted)");
    c.ok("EXPUNGE");
    assert_eq!(c.search_utf8("TEXT", "письмами"), vec![2, 3, 6]);
    c.ok("LOGOUT");

    // The index directory deleted while the server is down: `pochta search reindex`
    // rebuilds it.
    assert!(server.sigterm(Duration::from_secs(30)).is_some());
    let ports = server.ports.clone();
    let dir = std::mem::replace(&mut server.dir, TestDir::empty());
    drop(server);
    std::fs::remove_dir_all(data_dir.join("search")).unwrap();
    let o = dir.cli(&["search", "reindex", USER]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("reindexed 6 messages in "),
        "{}",
        stdout(&o)
    );
    std::fs::remove_dir_all(data_dir.join("search")).unwrap();
    // And `serve` alone rebuilds a missing index.
    let server = TestServer::start_in(dir, ports);
    wait_indexed(&data_dir, ":7");
    let mut c = Imap::login(server.port("imap"));
    c.ok("SELECT INBOX");
    assert_eq!(c.search_utf8("TEXT", "письмами"), vec![2, 3, 6]);
    assert_eq!(c.search("BODY invoice"), vec![5]);
}

#[test]
fn a_message_is_found_by_another_session_as_soon_as_it_is_stored() {
    let ports = vec![("imap", free_ports(1)[0]), ("smtp", free_ports(1)[0])];
    let dir = TestDir::new(&ports, "");
    dir.add_user(USER, PASS);
    let server = TestServer::start_in(dir, ports);
    let mut reader = Imap::login(server.port("imap"));
    reader.ok("SELECT INBOX");
    let mut writer = Imap::login(server.port("imap"));
    for i in 0..5u32 {
        let msg = format!(
            "From: w@example.org\r\nSubject: round {i}\r\n\r\nПриходите на совещания r{i}x, letters\r\n"
        );
        writer.append("INBOX", msg.as_bytes());
        // The other session sees it with its next command, and finds it at once.
        reader.ok("NOOP");
        assert_eq!(
            reader.search_utf8("BODY", &format!("совещание r{i}x")),
            vec![i + 1]
        );
        assert_eq!(
            reader.search(&format!("TEXT \"letter r{i}x\"")),
            vec![i + 1]
        );
    }
    // Delivered over SMTP.
    let s = TcpStream::connect(server.addr("smtp")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut r = BufReader::new(s);
    assert!(smtp_reply(&mut r).starts_with("220"));
    smtp_cmd(&mut r, "EHLO client.example\r\n", "250");
    smtp_cmd(&mut r, "MAIL FROM:<x@example.net>\r\n", "250");
    smtp_cmd(&mut r, format!("RCPT TO:<{USER}>\r\n"), "250");
    smtp_cmd(&mut r, "DATA\r\n", "354");
    smtp_cmd(
        &mut r,
        "From: x@example.net\r\nSubject: =?utf-8?B?0J/QuNGB0YzQvNC+?=\r\n\r\nDelivered greetings\r\n.\r\n",
        "250",
    );
    reader.ok("NOOP");
    assert_eq!(reader.search_utf8("SUBJECT", "письмах"), vec![6]);
    assert_eq!(reader.search("BODY greeting"), vec![6]);
}

/// The untagged lines of `lines` that start with `prefix`.
fn untagged<'a>(lines: &'a [String], prefix: &str) -> Vec<&'a str> {
    lines
        .iter()
        .filter(|l| l.starts_with(prefix))
        .map(|l| l.trim_end())
        .collect()
}

/// `RELEVANCY (a b ...)` of an ESEARCH line.
fn relevancy(line: &str) -> Vec<u32> {
    let (_, rest) = line.split_once("RELEVANCY (").expect(line);
    let (list, _) = rest.split_once(')').expect(line);
    list.split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

/// RFC 6203 over TCP: FUZZY finds one-edit neighbours that the plain key does not, never
/// less than the plain key, with RELEVANCY scores (exact word first, the best 100), the
/// RELEVANCY sort key (ESORT too), CONTEXT=SEARCH and MULTISEARCH; the same answers before
/// the indexer took the messages and after.
#[test]
fn fuzzy_search_with_relevancy_and_sort() {
    let ports = vec![("imap", free_ports(1)[0])];
    let dir = TestDir::new(&ports, SETTLE_AT_ONCE);
    dir.add_user(USER, PASS);
    let data_dir = dir.data_dir();
    let server = TestServer::start_in(dir, ports);
    let mut c = Imap::login(server.port("imap"));
    let caps = c.ok("CAPABILITY");
    assert!(caps[0].contains(" SEARCH=FUZZY"), "{caps:?}");
    c.ok("SELECT INBOX");
    c.append(
        "INBOX",
        b"From: a@example.org\r\nSubject: quarterly\r\n\r\nPlease read the report today.\r\n",
    );
    c.append(
        "INBOX",
        b"From: b@example.org\r\nSubject: typo\r\n\r\nPlease read the raport today.\r\n",
    );
    c.append(
        "INBOX",
        b"From: c@example.org\r\nSubject: other\r\n\r\nNothing to see.\r\n",
    );
    for round in 0..2 {
        if round == 1 {
            wait_indexed(&data_dir, ":3");
        }
        // Plain keys keep exact (substring/word-form) semantics.
        assert_eq!(c.search("BODY raport"), vec![2], "round {round}");
        assert_eq!(c.search("BODY report"), vec![1], "round {round}");
        // FUZZY: one edit away, and never less than the plain key.
        assert_eq!(c.search("FUZZY BODY report"), vec![1, 2], "round {round}");
        assert_eq!(c.search("FUZZY TEXT raport"), vec![1, 2], "round {round}");
        assert_eq!(c.search("FUZZY BODY eport"), vec![1], "round {round}");
        assert_eq!(c.search("FUZZY SUBJECT quartrly"), vec![1], "round {round}");
        assert_eq!(c.search("FUZZY (BODY report NOT FROM b)"), vec![1]);
        assert_eq!(c.search("FUZZY SEEN"), Vec::<u32>::new());
        assert_eq!(c.search("FUZZY ALL"), vec![1, 2, 3]);
        // RELEVANCY: the exact word scores 100, the neighbour less (RFC 6203 §4).
        let l = c.ok("UID SEARCH RETURN (RELEVANCY ALL) FUZZY BODY report");
        let e = untagged(&l, "* ESEARCH");
        assert_eq!(e.len(), 1, "{l:?}");
        assert!(e[0].ends_with(" ALL 1:2"), "{e:?}");
        let s = relevancy(e[0]);
        assert_eq!(s[0], 100, "{e:?}");
        assert!((1..100).contains(&s[1]), "{e:?}");
        let l = c.ok("UID SEARCH RETURN (COUNT RELEVANCY) FUZZY BODY raport");
        let e = untagged(&l, "* ESEARCH");
        assert!(e[0].contains(" COUNT 2"), "{e:?}");
        let s = relevancy(e[0]);
        assert!(s[0] < 100 && s[1] == 100, "{e:?}");
        // FUZZY around a key without text: every hit equally relevant.
        let l = c.ok("SEARCH RETURN (RELEVANCY) FUZZY ALL");
        assert_eq!(relevancy(untagged(&l, "* ESEARCH")[0]), vec![100, 100, 100]);
        // RELEVANCY sort key: highest first (RFC 6203 §6); REVERSE lowest first.
        let l = c.ok("UID SORT (RELEVANCY) UTF-8 FUZZY BODY raport");
        assert_eq!(untagged(&l, "* SORT"), vec!["* SORT 2 1"]);
        let l = c.ok("UID SORT (RELEVANCY) UTF-8 FUZZY BODY report");
        assert_eq!(untagged(&l, "* SORT"), vec!["* SORT 1 2"]);
        let l = c.ok("UID SORT (REVERSE RELEVANCY) UTF-8 FUZZY BODY report");
        assert_eq!(untagged(&l, "* SORT"), vec!["* SORT 2 1"]);
        // ESORT with RELEVANCY: scores in the sorted order.
        let l = c.ok("UID SORT RETURN (ALL RELEVANCY) (RELEVANCY) UTF-8 FUZZY BODY raport");
        let e = untagged(&l, "* ESEARCH");
        assert!(e[0].contains(" ALL 2,1"), "{e:?}");
        let s = relevancy(e[0]);
        assert!(s[0] == 100 && s[1] < 100, "{e:?}");
    }
    // RELEVANCY (return option or sort key) without FUZZY is BAD (RFC 6203 §4, §6).
    let l = c.cmd("SEARCH RETURN (RELEVANCY) BODY report");
    assert!(l.last().unwrap().contains(" BAD "), "{l:?}");
    let l = c.cmd("SORT (RELEVANCY) UTF-8 BODY report");
    assert!(l.last().unwrap().contains(" BAD "), "{l:?}");
    // CONTEXT=SEARCH: a live FUZZY result gets a new neighbour from another session.
    let l = c.ok("UID SEARCH RETURN (ALL UPDATE) FUZZY BODY report");
    assert!(untagged(&l, "* ESEARCH")[0].contains(" ALL 1:2"), "{l:?}");
    let mut other = Imap::login(server.port("imap"));
    other.append(
        "INBOX",
        b"From: d@example.org\r\nSubject: late\r\n\r\nA reports digest.\r\n",
    );
    let l = c.ok("NOOP");
    assert!(
        l.iter().any(|l| l.contains("ADDTO") && l.contains(" 4")),
        "{l:?}"
    );
}

/// `(mailbox, what follows "UID")` of each MULTISEARCH response, checking the correlator.
fn per_mailbox(lines: &[String]) -> Vec<(String, String)> {
    untagged(lines, "* ESEARCH")
        .into_iter()
        .map(|l| {
            let (_, rest) = l.split_once(" MAILBOX \"").expect(l);
            let (name, rest) = rest.split_once('"').expect(l);
            let rest = rest.strip_prefix(" UIDVALIDITY ").expect(l);
            let (v, rest) = rest.split_once(") UID").expect(l);
            assert!(v.parse::<u32>().unwrap() > 0, "{l}");
            (name.to_string(), rest.trim().to_string())
        })
        .collect()
}

/// RFC 7377 over TCP: ESEARCH IN (...) in the authenticated and the selected state, every
/// source kind, only readable mailboxes (ACL), unknown names ignored, text keys from the
/// index and other keys, errors; a message appended by another session is found at once.
#[test]
fn multisearch_over_the_users_mailboxes() {
    const BOB: &str = "bob@example.org";
    let ports = vec![("imap", free_ports(1)[0])];
    let dir = TestDir::new(&ports, "");
    dir.add_user(USER, PASS);
    dir.add_user(BOB, PASS);
    let server = TestServer::start_in(dir, ports);
    let port = server.port("imap");
    let mut c = Imap::login(port);
    let caps = c.ok("CAPABILITY");
    assert!(caps[0].contains(" MULTISEARCH"), "{caps:?}");
    let invoice = |i: u32| {
        format!("From: x@example.org\r\nSubject: n{i}\r\n\r\nYour invoice number {i}.\r\n")
    };
    for m in ["Old", "Old/2024", "Old/2024/Q1", "Lists"] {
        c.ok(&format!("CREATE {m}"));
    }
    for (i, m) in ["INBOX", "Old", "Old/2024", "Old/2024/Q1", "Lists"]
        .iter()
        .enumerate()
    {
        c.append(m, invoice(i as u32).as_bytes());
    }
    c.append(
        "INBOX",
        b"From: y@example.org\r\nSubject: hi\r\n\r\nNo bill here.\r\n",
    );
    c.ok("SUBSCRIBE Lists");
    // Bob shares one mailbox with read access and one with lookup only.
    let mut bob = Imap {
        r: BufReader::new(TcpStream::connect(("127.0.0.1", port)).unwrap()),
        n: 0,
    };
    bob.line();
    bob.ok(&format!("LOGIN {BOB} {PASS}"));
    for m in ["Shared", "Secret"] {
        bob.ok(&format!("CREATE {m}"));
        bob.append(m, invoice(9).as_bytes());
    }
    bob.ok(&format!("SETACL Shared {USER} lr"));
    bob.ok(&format!("SETACL Secret {USER} l"));

    let names =
        |l: &[String]| -> Vec<String> { per_mailbox(l).into_iter().map(|(m, _)| m).collect() };
    // Authenticated state (nothing selected).
    let l = c.ok("ESEARCH IN (personal) BODY invoice");
    assert_eq!(
        per_mailbox(&l),
        ["INBOX", "Lists", "Old", "Old/2024", "Old/2024/Q1"]
            .iter()
            .map(|m| (m.to_string(), "ALL 1".to_string()))
            .collect::<Vec<_>>(),
        "{l:?}"
    );
    assert!(
        l.iter()
            .all(|l| !l.starts_with("* ESEARCH") || l.contains("(TAG \"t")),
        "{l:?}"
    );
    let l = c.ok("ESEARCH IN (subtree-one Old) BODY invoice");
    assert_eq!(names(&l), ["Old", "Old/2024"]);
    let l = c.ok("ESEARCH IN (subtree Old mailboxes (Nope INBOX Old)) RETURN (COUNT) TEXT invoice");
    assert_eq!(
        per_mailbox(&l),
        [
            ("Old", "COUNT 1"),
            ("Old/2024", "COUNT 1"),
            ("Old/2024/Q1", "COUNT 1"),
            ("INBOX", "COUNT 1")
        ]
        .iter()
        .map(|(m, r)| (m.to_string(), r.to_string()))
        .collect::<Vec<_>>()
    );
    // INBOX is subscribed from the start.
    let l = c.ok("ESEARCH IN (subscribed) BODY invoice");
    assert_eq!(names(&l), ["INBOX", "Lists"]);
    // Only readable mailboxes: "Secret" (lookup only) is left out, without an error.
    let l = c.ok("ESEARCH IN (subtree \"Other Users\") BODY invoice");
    assert_eq!(names(&l), [format!("Other Users/{BOB}/Shared")]);
    let l = c.ok(&format!(
        "ESEARCH IN (mailboxes \"Other Users/{BOB}/Secret\") ALL"
    ));
    assert!(per_mailbox(&l).is_empty(), "{l:?}");
    // Non-text keys; mailboxes without matches get no response.
    let l = c.ok("ESEARCH IN (inboxes personal) RETURN (MIN MAX COUNT) UNSEEN NOT BODY invoice");
    assert_eq!(
        per_mailbox(&l),
        [("INBOX".to_string(), "MIN 2 MAX 2 COUNT 1".to_string())]
    );
    // FUZZY and RELEVANCY per mailbox.
    let l = c.ok("ESEARCH IN (subtree Old) RETURN (ALL RELEVANCY) FUZZY BODY invoise");
    let got = per_mailbox(&l);
    assert_eq!(got.len(), 3, "{l:?}");
    assert!(
        got.iter().all(|(_, r)| r == "ALL 1 RELEVANCY (100)"),
        "{got:?}"
    );
    // Errors.
    for bad in [
        "ESEARCH BODY invoice",
        "ESEARCH IN (selected) ALL",
        "ESEARCH IN (personal) RETURN (SAVE) ALL",
        "ESEARCH IN (personal) RETURN (UPDATE) ALL",
        "ESEARCH IN (personal) $",
        "ESEARCH IN (personal) RETURN (RELEVANCY) BODY invoice",
        "ESEARCH IN (nowhere) ALL",
    ] {
        let l = c.cmd(bad);
        assert!(l.last().unwrap().contains(" BAD "), "{bad}: {l:?}");
    }
    let l = c.cmd("ESEARCH IN (personal) CHARSET X-NOPE BODY invoice");
    assert!(l.last().unwrap().contains(" NO [BADCHARSET"), "{l:?}");

    // Another session's APPEND is found by the next ESEARCH.
    let mut other = Imap::login(port);
    other.append(
        "Old/2024",
        b"From: z@example.org\r\nSubject: late\r\n\r\nThe receipt arrived.\r\n",
    );
    let l = c.ok("ESEARCH IN (personal) BODY receipt");
    assert_eq!(
        per_mailbox(&l),
        [("Old/2024".to_string(), "ALL 2".to_string())]
    );

    // Selected state: no sources is the selected mailbox; SAVE is allowed there.
    c.ok("SELECT Old/2024");
    let l = c.ok("ESEARCH RETURN (SAVE ALL) OR BODY receipt BODY invoice");
    assert_eq!(
        per_mailbox(&l),
        [("Old/2024".to_string(), "ALL 1:2".to_string())]
    );
    assert_eq!(c.search("$"), vec![1, 2]);
    let l = c.ok("ESEARCH IN (selected inboxes) BODY invoice");
    assert_eq!(names(&l), ["Old/2024", "INBOX"]);
}
