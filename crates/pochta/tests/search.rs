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
    let dir = TestDir::new(&ports, "");
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
