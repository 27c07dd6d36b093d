//! URLAUTH (RFC 4467) and BURL (RFC 4468) through the real binary over TCP: URLs made in one
//! IMAP session and fetched in another and by another user, each access identifier, RESETKEY
//! revocation, EXPIRE, a wrong UIDVALIDITY and a forged token; then a submission with
//! Python's smtplib that sends `BURL … LAST` from an IMAP draft, delivered intact to a local
//! recipient (read back over IMAP), and BURLs without submit authorization refused `554 5.7.0`.
//! URLAUTH=BINARY (RFC 5524): URLs one user authorizes, fetched by another with BINARY,
//! BODY and BODYPARTSTRUCTURE (decoded data, relabelled structures, literal8, undecodable
//! parts, partial ranges) and the errors (NIL URLs, BAD parameters). RESETKEY told to the
//! user's other sessions that have the mailbox selected (`* OK [URLMECH INTERNAL]`, in IDLE
//! too) while it revokes their URLs.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use common::*;

const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";
const PASSWORD: &str = "Url-Auth-Pass-1";

const MESSAGE: &[u8] = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: pawn ticket\r\n\r\nSi vis pacem, para bellum.\r\n";

/// An address as the `enc-user` of a URL.
fn enc(address: &str) -> String {
    address.replace('@', "%40")
}

fn server() -> TestServer {
    let ports: Vec<(&'static str, u16)> = ["imap", "submission"]
        .into_iter()
        .zip(free_ports(2))
        .collect();
    let dir = TestDir::new(&ports, "[auth]\nplaintext = \"tls-or-loopback\"\n");
    dir.add_user(ALICE, PASSWORD);
    dir.add_user(BOB, PASSWORD);
    TestServer::start_in(dir, ports)
}

/// A blocking IMAP connection that keeps literals inside the response bytes.
struct Imap {
    r: BufReader<TcpStream>,
    n: u32,
}

impl Imap {
    fn login(port: u16, user: &str) -> Imap {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let mut c = Imap {
            r: BufReader::new(s),
            n: 0,
        };
        let mut greeting = String::new();
        c.r.read_line(&mut greeting).unwrap();
        assert!(greeting.starts_with("* OK"), "{greeting}");
        let r = c.cmd(&format!("LOGIN {user} {PASSWORD}"));
        assert!(tagged(&r).contains(" OK "), "{}", text(&r));
        c
    }

    /// Send a command; everything up to and including its tagged line.
    fn cmd(&mut self, command: &str) -> Vec<u8> {
        self.n += 1;
        let tag = format!("t{}", self.n);
        self.r
            .get_mut()
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .unwrap();
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            assert!(
                self.r.read_until(b'\n', &mut line).unwrap() > 0,
                "connection closed after {}",
                String::from_utf8_lossy(&out)
            );
            out.extend_from_slice(&line);
            // `{n}` at the end of a line: n bytes of literal follow.
            let l = String::from_utf8_lossy(&line);
            if let Some(n) = l
                .trim_end()
                .strip_suffix('}')
                .and_then(|x| x.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok())
            {
                let mut lit = vec![0; n];
                self.r.read_exact(&mut lit).unwrap();
                out.extend_from_slice(&lit);
                continue;
            }
            if l.starts_with(&format!("{tag} ")) {
                return out;
            }
        }
    }

    fn ok(&mut self, command: &str) -> Vec<u8> {
        let r = self.cmd(command);
        assert!(
            tagged(&r).contains(" OK"),
            "{command}: {}",
            String::from_utf8_lossy(&r)
        );
        r
    }

    fn genurlauth(&mut self, rump: &str) -> String {
        let r = self.ok(&format!("GENURLAUTH \"{rump}\" INTERNAL"));
        let t = text(&r);
        let line = t
            .lines()
            .find(|l| l.starts_with("* GENURLAUTH "))
            .unwrap_or_else(|| panic!("{t}"));
        line["* GENURLAUTH ".len()..].trim_matches('"').to_string()
    }

    /// URLFETCH of one URL: the data, or `None` for NIL.
    fn urlfetch(&mut self, url: &str) -> Option<Vec<u8>> {
        let r = self.ok(&format!("URLFETCH \"{url}\""));
        let start = find(&r, b"* URLFETCH ").unwrap_or_else(|| panic!("{}", text(&r)));
        let rest = &r[start + b"* URLFETCH ".len()..];
        // Skip the URL (quoted or an atom) and the space after it.
        let rest = if rest[0] == b'"' {
            let end = 1 + rest[1..].iter().position(|&b| b == b'"').unwrap();
            &rest[end + 2..]
        } else {
            &rest[rest.iter().position(|&b| b == b' ').unwrap() + 1..]
        };
        if rest.starts_with(b"NIL") {
            return None;
        }
        if rest[0] == b'"' {
            let end = 1 + rest[1..].iter().position(|&b| b == b'"').unwrap();
            return Some(rest[1..end].to_vec());
        }
        let close = rest.iter().position(|&b| b == b'}').unwrap();
        let n: usize = std::str::from_utf8(&rest[1..close])
            .unwrap()
            .parse()
            .unwrap();
        Some(rest[close + 3..close + 3 + n].to_vec())
    }
}

fn text(r: &[u8]) -> String {
    String::from_utf8_lossy(r).into_owned()
}

fn tagged(r: &[u8]) -> String {
    text(r).lines().last().unwrap_or("").to_string()
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// The number after `key ` in a response.
fn number_after(r: &[u8], key: &str) -> u32 {
    let t = text(r);
    let i = t.find(key).unwrap_or_else(|| panic!("{key} in {t}")) + key.len();
    t[i..]
        .trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn append(c: &mut Imap, mailbox: &str, msg: &[u8]) -> (u32, u32) {
    let mut cmd = format!("APPEND {mailbox} {{{}+}}\r\n", msg.len()).into_bytes();
    cmd.extend_from_slice(msg);
    let r = c.ok(&String::from_utf8(cmd).unwrap());
    (number_after(&r, "APPENDUID"), {
        let t = text(&r);
        let i = t.find("APPENDUID ").unwrap() + "APPENDUID ".len();
        t[i..].split([' ', ']']).nth(1).unwrap().parse().unwrap()
    })
}

#[test]
fn urlauth_across_sessions_users_expiry_and_revocation() {
    let s = server();
    let port = s.port("imap");
    let mut a1 = Imap::login(port, ALICE);
    let mut a2 = Imap::login(port, ALICE);
    let mut b = Imap::login(port, BOB);
    let caps = text(&a1.ok("CAPABILITY"));
    assert!(caps.contains(" URLAUTH"), "{caps}");

    let (v, uid) = append(&mut a1, "INBOX", MESSAGE);
    let base = format!(
        "imap://{}@{HOSTNAME}/INBOX;UIDVALIDITY={v}/;UID={uid}",
        enc(ALICE)
    );
    // No mailbox needs to be selected for either command.
    let authuser = a1.genurlauth(&format!("{base};URLAUTH=authuser"));
    assert!(
        authuser.starts_with(&format!("{base};URLAUTH=authuser:internal:01")),
        "{authuser}"
    );

    // Another session of the same user fetches it; so does another user.
    assert_eq!(a2.urlfetch(&authuser).as_deref(), Some(MESSAGE));
    assert_eq!(b.urlfetch(&authuser).as_deref(), Some(MESSAGE));

    // Access identifiers.
    let anonymous = a1.genurlauth(&format!("{base}/;SECTION=TEXT;URLAUTH=anonymous"));
    assert_eq!(
        b.urlfetch(&anonymous).as_deref(),
        Some(&b"Si vis pacem, para bellum.\r\n"[..])
    );
    let for_bob = a1.genurlauth(&format!("{base};URLAUTH=user+{}", enc(BOB)));
    assert_eq!(b.urlfetch(&for_bob).as_deref(), Some(MESSAGE));
    assert_eq!(a2.urlfetch(&for_bob), None, "user+bob is bob's only");
    let for_alice = a1.genurlauth(&format!("{base};URLAUTH=user+{}", enc(ALICE)));
    assert_eq!(a2.urlfetch(&for_alice).as_deref(), Some(MESSAGE));
    assert_eq!(b.urlfetch(&for_alice), None);
    // A bare userid is one at the URL's host (imaptest's form).
    let bare = a1.genurlauth(&format!(
        "imap://alice@example.org/INBOX/;UID={uid};URLAUTH=user+alice"
    ));
    assert_eq!(a2.urlfetch(&bare).as_deref(), Some(MESSAGE));
    assert_eq!(b.urlfetch(&bare), None);
    let submit = a1.genurlauth(&format!("{base};URLAUTH=submit+{}", enc(ALICE)));
    assert_eq!(a2.urlfetch(&submit), None, "no IMAP session submits");

    // EXPIRE: past fails, future works.
    let past = a1.genurlauth(&format!(
        "{base};EXPIRE=2001-02-03T04:05:06Z;URLAUTH=authuser"
    ));
    assert_eq!(b.urlfetch(&past), None, "expired");
    let future = a1.genurlauth(&format!(
        "{base};EXPIRE=2999-01-01T00:00:00+03:00;URLAUTH=authuser"
    ));
    assert_eq!(b.urlfetch(&future).as_deref(), Some(MESSAGE));

    // A wrong UIDVALIDITY fails though its token is genuine.
    let wrong = a1.genurlauth(&format!(
        "imap://{ALICE}@{HOSTNAME}/INBOX;UIDVALIDITY={}/;UID={uid};URLAUTH=authuser",
        v + 1
    ));
    assert_eq!(b.urlfetch(&wrong), None, "wrong UIDVALIDITY");

    // Forged: one hex digit changed; the access identifier widened; the mailbox changed.
    let mut forged = authuser.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
    assert_eq!(b.urlfetch(&String::from_utf8(forged).unwrap()), None);
    assert_eq!(
        b.urlfetch(&for_alice.replace(&format!("user+{}", enc(ALICE)), "authuser")),
        None
    );
    assert_eq!(b.urlfetch(&authuser.replace("/INBOX;", "/Sent;")), None);
    // Several URLs in one command, answered in order; a non-URL is NIL.
    let r = text(&b.ok(&format!("URLFETCH \"{future}\" nonsense \"{past}\"")));
    let order: Vec<&str> = r.lines().filter(|l| l.starts_with("* URLFETCH")).collect();
    assert_eq!(order.len(), 3, "{r}");
    assert!(
        order[1].ends_with("nonsense NIL") && order[2].ends_with(" NIL"),
        "{r}"
    );

    // GENURLAUTH refusals are BAD (RFC 4467 §7).
    for rump in [
        base.clone(),
        format!("imap://{HOSTNAME}/INBOX/;UID={uid};URLAUTH=authuser"),
        format!(
            "imap://{}@{HOSTNAME}/Nope/;UID={uid};URLAUTH=authuser",
            enc(ALICE)
        ),
        format!(
            "imap://{}@{HOSTNAME}/INBOX/;UID={uid};URLAUTH=authuser",
            enc(BOB)
        ),
        format!("{base};URLAUTH=nobody"),
    ] {
        let r = a1.cmd(&format!("GENURLAUTH \"{rump}\" INTERNAL"));
        assert!(tagged(&r).contains(" BAD "), "{rump}: {}", text(&r));
    }
    let r = a1.cmd(&format!("GENURLAUTH \"{base};URLAUTH=authuser\" XSAMPLE"));
    assert!(tagged(&r).contains(" BAD "), "{}", text(&r));

    // RESETKEY of the mailbox revokes every URL made with the old key, in every session.
    let r = a1.ok("RESETKEY INBOX");
    assert!(tagged(&r).contains("OK [URLMECH INTERNAL]"), "{}", text(&r));
    assert_eq!(a2.urlfetch(&authuser), None, "revoked");
    assert_eq!(b.urlfetch(&for_bob), None, "revoked");
    let fresh = a1.genurlauth(&format!("{base};URLAUTH=authuser"));
    assert_ne!(fresh, authuser);
    assert_eq!(b.urlfetch(&fresh).as_deref(), Some(MESSAGE));
    // RESETKEY without a mailbox removes all keys.
    a2.ok("RESETKEY");
    assert_eq!(b.urlfetch(&fresh), None, "all keys removed");
    let r = a1.cmd("RESETKEY Nope");
    assert!(tagged(&r).contains("NO [NONEXISTENT]"), "{}", text(&r));
    let r = a1.cmd("RESETKEY INBOX XSAMPLE");
    assert!(tagged(&r).contains(" BAD "), "{}", text(&r));

    // The owner's access at fetch time counts: a URL on a mailbox shared with bob stops
    // working for anyone once bob loses the right to read it.
    a1.ok("CREATE Shared");
    let (sv, suid) = append(&mut a1, "Shared", MESSAGE);
    a1.ok(&format!("SETACL Shared {BOB} lr"));
    let shared = b.genurlauth(&format!(
        "imap://{}@{HOSTNAME}/Other%20Users/{}/Shared;UIDVALIDITY={sv}/;UID={suid};URLAUTH=authuser",
        enc(BOB),
        enc(ALICE)
    ));
    assert_eq!(a2.urlfetch(&shared).as_deref(), Some(MESSAGE));
    a1.ok(&format!("DELETEACL Shared {BOB}"));
    assert_eq!(a2.urlfetch(&shared), None, "bob can no longer read it");
}

/// RFC 4467 §7 RESETKEY across sessions: session A authorizes a URL; session B of the same
/// user resets the key; A's next command is told `* OK [URLMECH INTERNAL]` (it has the
/// mailbox selected) and A's URLFETCH of the old URL is NIL; a session in IDLE is told at
/// once; a session with another mailbox selected, bob's session, and B itself (its tagged OK
/// says it) are not told; RESETKEY without a mailbox tells the session with another
/// mailbox selected too.
#[test]
fn resetkey_tells_the_users_other_sessions_and_revokes_their_urls() {
    const URLMECH: &str = "* OK [URLMECH INTERNAL]";
    let s = server();
    let port = s.port("imap");
    let mut a = Imap::login(port, ALICE);
    let mut b = Imap::login(port, ALICE);
    let mut idler = Imap::login(port, ALICE);
    let mut elsewhere = Imap::login(port, ALICE);
    let mut bob = Imap::login(port, BOB);
    let (v, uid) = append(&mut a, "INBOX", MESSAGE);
    a.ok("CREATE Notes");
    let base = format!(
        "imap://{}@{HOSTNAME}/INBOX;UIDVALIDITY={v}/;UID={uid}",
        enc(ALICE)
    );
    for c in [&mut a, &mut b, &mut idler] {
        c.ok("SELECT INBOX");
    }
    elsewhere.ok("SELECT Notes");
    bob.ok("SELECT INBOX");
    let old = a.genurlauth(&format!("{base};URLAUTH=authuser"));
    assert_eq!(bob.urlfetch(&old).as_deref(), Some(MESSAGE));

    idler.n += 1;
    let idle_tag = format!("t{}", idler.n);
    idler
        .r
        .get_mut()
        .write_all(format!("{idle_tag} IDLE\r\n").as_bytes())
        .unwrap();
    let mut line = String::new();
    idler.r.read_line(&mut line).unwrap();
    assert!(line.starts_with("+ "), "{line}");

    let r = text(&b.ok("RESETKEY INBOX"));
    assert!(
        r.lines()
            .last()
            .unwrap_or("")
            .contains("OK [URLMECH INTERNAL]"),
        "{r}"
    );
    assert!(
        !r.contains(URLMECH),
        "B's own reset is in its tagged OK: {r}"
    );

    // A: the notice with its next command, and the old URL is dead.
    let r = text(&a.ok(&format!("URLFETCH \"{old}\"")));
    assert!(r.contains(URLMECH), "{r}");
    assert!(r.contains(" NIL\r\n"), "{r}");
    assert_eq!(a.urlfetch(&old), None, "revoked");
    assert!(!text(&a.ok("NOOP")).contains(URLMECH), "told once");
    // The session in IDLE is told without a command (each line within the read timeout).
    let mut pushed = Vec::new();
    loop {
        let mut l = String::new();
        assert!(idler.r.read_line(&mut l).unwrap() > 0, "closed: {pushed:?}");
        let done = l.starts_with(URLMECH);
        pushed.push(l);
        if done {
            break;
        }
    }
    idler.r.get_mut().write_all(b"DONE\r\n").unwrap();
    loop {
        let mut l = String::new();
        assert!(idler.r.read_line(&mut l).unwrap() > 0);
        if l.starts_with(&idle_tag) {
            assert!(l.contains(" OK "), "{l}");
            break;
        }
    }
    // Not told: another mailbox selected, another user (their own keys are untouched).
    assert!(!text(&elsewhere.ok("NOOP")).contains(URLMECH));
    assert!(!text(&bob.ok("NOOP")).contains(URLMECH));
    assert_eq!(bob.urlfetch(&old), None, "revoked for every presenter");
    // A new URL works; RESETKEY without a mailbox reaches every selected mailbox.
    let fresh = a.genurlauth(&format!("{base};URLAUTH=authuser"));
    assert_eq!(bob.urlfetch(&fresh).as_deref(), Some(MESSAGE));
    let r = text(&b.ok("RESETKEY"));
    assert!(!r.contains(URLMECH), "{r}");
    assert!(text(&elsewhere.ok("NOOP")).contains(URLMECH));
    let r = text(&a.ok(&format!("URLFETCH \"{fresh}\"")));
    assert!(r.contains(URLMECH) && r.contains(" NIL\r\n"), "{r}");
    assert!(!text(&bob.ok("NOOP")).contains(URLMECH));
}

#[test]
fn burl_submission_from_an_imap_draft_with_smtplib() {
    if !tool_available("python3") {
        return;
    }
    let s = server();
    let args = [
        "127.0.0.1".to_string(),
        s.port("submission").to_string(),
        s.port("imap").to_string(),
        ALICE.into(),
        BOB.into(),
        PASSWORD.into(),
        HOSTNAME.into(),
    ];
    run_interop_script(&s, "smtplib_burl.py", &args, "smtplib burl: ok");
}

/// A message whose parts need decoding: quoted-printable UTF-8 text, base64 binary data
/// holding NUL, an encoding nobody knows, and an encapsulated message.
const PARTS: &[u8] = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 =3D caf=\r\ne\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC/w0KAA==\r\n--b1\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-unknown\r\n\r\nnothing\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n--b1--\r\n";

impl Imap {
    /// A URLFETCH of one URL with RFC 5524 parameters: what follows the URL in its
    /// `* URLFETCH` response (`(BODYPARTSTRUCTURE ...) (BINARY ...)`, or `NIL`).
    fn urlfetch_ext(&mut self, url: &str, params: &str) -> Vec<u8> {
        let tag = format!("t{}", self.n + 1);
        let r = self.ok(&format!("URLFETCH (\"{url}\" {params})"));
        let start = find(&r, b"* URLFETCH ").unwrap_or_else(|| panic!("{}", text(&r)));
        let head = format!("* URLFETCH \"{url}\" ");
        assert!(r[start..].starts_with(head.as_bytes()), "{}", text(&r));
        let end = find(&r, format!("\r\n{tag} ").as_bytes()).unwrap();
        r[start + head.len()..end].to_vec()
    }
}

#[test]
fn urlfetch_binary_across_sessions_and_errors() {
    let s = server();
    let port = s.port("imap");
    let mut a = Imap::login(port, ALICE);
    let mut b = Imap::login(port, BOB);
    let caps = text(&a.ok("CAPABILITY"));
    assert!(caps.contains(" URLAUTH=BINARY"), "{caps}");
    let (v, uid) = append(&mut a, "INBOX", PARTS);
    let base = format!(
        "imap://{}@{HOSTNAME}/INBOX;UIDVALIDITY={v}/;UID={uid}",
        enc(ALICE)
    );
    // Alice authorizes, bob fetches in his own session.
    let url = |a: &mut Imap, section: &str| {
        a.genurlauth(&format!(
            "{base}/;SECTION={section};URLAUTH=user+{}",
            enc(BOB)
        ))
    };
    let qp = url(&mut a, "1");
    let b64 = url(&mut a, "2");
    let unknown = url(&mut a, "3");
    let inner = url(&mut a, "4");
    let inner_text = url(&mut a, "4.1");
    let header = url(&mut a, "HEADER");
    let whole = a.genurlauth(&format!("{base};URLAUTH=user+{}", enc(BOB)));

    // BINARY decodes; data holding NUL is a literal8 (RFC 3516 §4.2, RFC 5524 §3.2).
    assert_eq!(
        b.urlfetch_ext(&b64, "BINARY"),
        b"(BINARY ~{7}\r\n\x00\x01\x02\xff\r\n\x00)"
    );
    // BODYPARTSTRUCTURE alone describes the part as stored; with BINARY, the decoded data:
    // its identity encoding, size and lines. Each item is parenthesized on its own.
    assert_eq!(
        text(&b.urlfetch_ext(&b64, "bodypartstructure")),
        r#"(BODYPARTSTRUCTURE ("application" "octet-stream" NIL NIL NIL "base64" 12 NIL NIL NIL NIL))"#
    );
    assert_eq!(
        b.urlfetch_ext(&b64, "binary BODYPARTSTRUCTURE"),
        &b"(BODYPARTSTRUCTURE (\"application\" \"octet-stream\" NIL NIL NIL \"binary\" 7 NIL NIL NIL NIL)) (BINARY ~{7}\r\n\x00\x01\x02\xff\r\n\x00)"[..]
    );
    assert_eq!(
        text(&b.urlfetch_ext(&qp, "BODYPARTSTRUCTURE BINARY")),
        "(BODYPARTSTRUCTURE (\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"8bit\" 12 0 NIL NIL NIL NIL)) (BINARY {12}\r\nCafé = cafe)"
    );
    // BODY is the data as stored.
    let stored = "Caf=C3=A9 =3D caf=\r\ne";
    assert_eq!(
        text(&b.urlfetch_ext(&qp, "BODY")),
        format!("(BODY {{{}}}\r\n{stored})", stored.len())
    );
    // A part BINARY cannot decode: NIL, its structure as stored (RFC 5524 §3.1).
    assert_eq!(
        text(&b.urlfetch_ext(&unknown, "BINARY BODYPARTSTRUCTURE")),
        "(BODYPARTSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"x-unknown\" 7 0 NIL NIL NIL NIL)) (BINARY NIL)"
    );
    // An encapsulated message has an identity encoding: BINARY is the part as stored.
    let inner_msg = "Subject: inner\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=";
    assert_eq!(
        text(&b.urlfetch_ext(&inner, "BINARY")),
        format!("(BINARY {{{}}}\r\n{inner_msg})", inner_msg.len())
    );
    assert_eq!(
        text(&b.urlfetch_ext(&inner_text, "BINARY BODYPARTSTRUCTURE")),
        "(BODYPARTSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 11 0 NIL NIL NIL NIL)) (BINARY \"hello world\")"
    );
    // The whole message: its BODYSTRUCTURE, as FETCH gives it.
    a.ok("SELECT INBOX");
    let fetched = text(&a.ok(&format!("UID FETCH {uid} BODYSTRUCTURE")));
    let whole_meta = text(&b.urlfetch_ext(&whole, "BODYPARTSTRUCTURE"));
    let structure = whole_meta
        .strip_prefix("(BODYPARTSTRUCTURE ")
        .and_then(|x| x.strip_suffix(')'))
        .unwrap();
    assert!(
        fetched.contains(&format!("BODYSTRUCTURE {structure})")),
        "{fetched}\n{whole_meta}"
    );
    // ;PARTIAL= applies to the decoded data.
    let partial = a.genurlauth(&format!(
        "{base}/;SECTION=2/;PARTIAL=3.2;URLAUTH=user+{}",
        enc(BOB)
    ));
    assert_eq!(
        b.urlfetch_ext(&partial, "BINARY"),
        b"(BINARY {2}\r\n\xff\r)"
    );

    // Errors: a URL that fails is NIL in the extended form too; HEADER has no body part to
    // decode or describe; BODY with BINARY and unknown parameters are BAD.
    let mut forged = b64.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        b.urlfetch_ext(&String::from_utf8(forged).unwrap(), "BINARY"),
        b"NIL"
    );
    assert_eq!(b.urlfetch_ext(&header, "BINARY"), b"NIL");
    let hdr = &PARTS[..find(PARTS, b"\r\n\r\n").unwrap() + 4];
    assert_eq!(
        b.urlfetch_ext(&header, "BODY"),
        [format!("(BODY {{{}}}\r\n", hdr.len()).as_bytes(), hdr, b")"].concat()
    );
    for bad in [
        format!("URLFETCH (\"{b64}\" BODY BINARY)"),
        format!("URLFETCH (\"{b64}\" BINARY CONVERTED)"),
        format!("URLFETCH (\"{b64}\" BINARY"),
    ] {
        let r = b.cmd(&bad);
        assert!(tagged(&r).contains(" BAD "), "{bad}: {}", text(&r));
        assert!(find(&r, b"* URLFETCH").is_none(), "{}", text(&r));
    }
    // The RFC 4467 form is unchanged, and both forms mix in one command.
    assert_eq!(b.urlfetch(&b64).as_deref(), Some(&b"AAEC/w0KAA=="[..]));
    let r = text(&b.ok(&format!("URLFETCH \"{b64}\" (\"{inner_text}\" BINARY)")));
    assert!(r.contains(" \"AAEC/w0KAA==\"\r\n"), "{r}");
    assert!(r.contains(" (BINARY \"hello world\")\r\n"), "{r}");
    // user+bob is bob's only: alice's own session gets NIL.
    assert_eq!(a.urlfetch_ext(&b64, "BINARY"), b"NIL");
}
