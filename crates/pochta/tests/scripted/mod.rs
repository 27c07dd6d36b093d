//! A scripted IMAP server for the collector's tests: the behaviour of servers we cannot run
//! here (an OAuth-only provider, Gmail's labels, localized folders, servers without
//! extensions, servers dropping idle connections), on 127.0.0.1, over TCP.
//!
//! It answers what the collector sends: CAPABILITY, LOGIN, AUTHENTICATE (with or without
//! SASL-IR, via [`Script::auth`]), LIST, EXAMINE/SELECT, UID FETCH (UID, FLAGS,
//! INTERNALDATE, RFC822.SIZE, BODY[]/BODY.PEEK[]), NOOP, IDLE, LOGOUT; every command line is
//! recorded. Mailboxes are fixed when it starts.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One message of a scripted mailbox.
#[derive(Debug, Clone)]
pub struct Msg {
    pub uid: u32,
    pub flags: String,
    /// IMAP date-time, e.g. `01-Jan-2024 10:00:00 +0300`.
    pub date: String,
    pub body: Vec<u8>,
}

/// One scripted mailbox: its name on the wire, LIST attributes, messages.
#[derive(Debug, Clone)]
pub struct Folder {
    pub name: String,
    pub attrs: String,
    pub uid_validity: u32,
    pub messages: Vec<Msg>,
}

/// Checks an AUTHENTICATE: mechanism and decoded initial response; `true` accepts.
pub type AuthCheck = dyn Fn(&str, &[u8]) -> bool + Send + Sync;

pub struct Script {
    /// The CAPABILITY list (without `IMAP4rev1`).
    pub caps: String,
    pub delimiter: char,
    pub folders: Vec<Folder>,
    /// `None`: LOGIN with any password works, AUTHENTICATE is refused.
    pub auth: Option<Arc<AuthCheck>>,
    /// Drops a connection that sends nothing for this long.
    pub idle_drop: Option<Duration>,
}

pub struct ScriptedServer {
    pub port: u16,
    /// Every command line received (tag stripped).
    pub log: Arc<Mutex<Vec<String>>>,
    /// The mailboxes, changeable while it runs.
    pub folders: Arc<Mutex<Vec<Folder>>>,
}

impl ScriptedServer {
    pub async fn start(mut script: Script) -> ScriptedServer {
        let folders = Arc::new(Mutex::new(std::mem::take(&mut script.folders)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(script);
        let l = Arc::clone(&log);
        let fs = Arc::clone(&folders);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let script = Arc::clone(&script);
                let log = Arc::clone(&l);
                let fs = Arc::clone(&fs);
                tokio::spawn(async move {
                    let _ = session(tcp, &script, &fs, &log).await;
                });
            }
        });
        ScriptedServer { port, log, folders }
    }

    /// Adds a message to the mailbox named `name` (or changes nothing if there is none).
    pub fn push(&self, name: &str, msg: Msg) {
        let mut fs = self.folders.lock().expect("folders");
        if let Some(f) = fs.iter_mut().find(|f| f.name == name) {
            f.messages.push(msg);
        }
    }

    pub fn url(&self) -> String {
        format!("imap://127.0.0.1:{}?tls=none", self.port)
    }

    pub fn commands(&self) -> Vec<String> {
        self.log.lock().expect("log").clone()
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The first argument of `rest` (quoted string or atom) and what follows.
fn first_arg(rest: &str) -> (String, &str) {
    let rest = rest.trim_start();
    if let Some(r) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = r.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        out.push(n);
                    }
                }
                '"' => return (out, &r[i + 1..]),
                c => out.push(c),
            }
        }
        (out, "")
    } else {
        match rest.split_once(' ') {
            Some((a, b)) => (a.to_owned(), b),
            None => (rest.to_owned(), ""),
        }
    }
}

fn in_set(set: &str, uid: u32, max: u32) -> bool {
    set.split(',').any(|part| {
        let num = |s: &str| {
            if s == "*" {
                max
            } else {
                s.parse().unwrap_or(0)
            }
        };
        match part.split_once(':') {
            Some((a, b)) => {
                let (a, b) = (num(a), num(b));
                (a.min(b)..=a.max(b)).contains(&uid)
            }
            None => num(part) == uid,
        }
    })
}

async fn session(
    tcp: tokio::net::TcpStream,
    script: &Script,
    folders: &Mutex<Vec<Folder>>,
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let (r, mut w) = tcp.into_split();
    let mut r = BufReader::new(r);
    let caps = format!("IMAP4rev1 {}", script.caps);
    w.write_all(format!("* OK [CAPABILITY {caps}] scripted server ready\r\n").as_bytes())
        .await?;
    let mut selected: Option<usize> = None;
    let mut line = String::new();
    loop {
        line.clear();
        let n = match script.idle_drop {
            Some(d) => match tokio::time::timeout(d, r.read_line(&mut line)).await {
                Ok(n) => n?,
                Err(_) => {
                    w.write_all(b"* BYE idle for too long\r\n").await?;
                    return Ok(());
                }
            },
            None => r.read_line(&mut line).await?,
        };
        if n == 0 {
            return Ok(());
        }
        let l = line.trim_end_matches(['\r', '\n']).to_owned();
        let Some((tag, rest)) = l.split_once(' ') else {
            continue;
        };
        let (cmd, args) = rest.split_once(' ').unwrap_or((rest, ""));
        let mut cmd = cmd.to_ascii_uppercase();
        let mut args = args.to_owned();
        if cmd == "UID" {
            let (c, a) = args.split_once(' ').unwrap_or((&args, ""));
            cmd = format!("UID {}", c.to_ascii_uppercase());
            args = a.to_owned();
        }
        log.lock().expect("log").push(format!("{cmd} {args}"));
        let snapshot = folders.lock().expect("folders").clone();
        let script_folders = &snapshot;
        let mut out = String::new();
        match cmd.as_str() {
            "CAPABILITY" => out.push_str(&format!("* CAPABILITY {caps}\r\n{tag} OK done\r\n")),
            "LOGIN" => {
                if script.auth.is_some() {
                    out.push_str(&format!(
                        "{tag} NO [AUTHENTICATIONFAILED] passwords are not accepted here\r\n"
                    ));
                } else {
                    out.push_str(&format!("{tag} OK [CAPABILITY {caps}] logged in\r\n"));
                }
            }
            "AUTHENTICATE" => {
                let (mech, ir) = args.split_once(' ').unwrap_or((&args, ""));
                let mech = mech.to_ascii_uppercase();
                let ir = if ir.is_empty() {
                    w.write_all(b"+ \r\n").await?;
                    let mut l2 = String::new();
                    r.read_line(&mut l2).await?;
                    l2.trim_end().to_owned()
                } else {
                    ir.to_owned()
                };
                let decoded = B64.decode(ir.as_bytes()).unwrap_or_default();
                let ok = script.auth.as_ref().is_some_and(|a| a(&mech, &decoded));
                if ok {
                    out.push_str(&format!("{tag} OK [CAPABILITY {caps}] authenticated\r\n"));
                } else {
                    // RFC 7628 §3.2.2 / XOAUTH2: error details as a challenge, then NO once
                    // the client answers it.
                    let err = B64.encode(br#"{"status":"invalid_token","scope":"mail"}"#);
                    w.write_all(format!("+ {err}\r\n").as_bytes()).await?;
                    let mut l2 = String::new();
                    r.read_line(&mut l2).await?;
                    log.lock()
                        .expect("log")
                        .push(format!("AUTH-ABORT {}", l2.trim_end()));
                    out.push_str(&format!(
                        "{tag} NO [AUTHENTICATIONFAILED] invalid token\r\n"
                    ));
                }
            }
            "LIST" => {
                for f in script_folders {
                    out.push_str(&format!(
                        "* LIST ({}) {} {}\r\n",
                        f.attrs,
                        quoted(&script.delimiter.to_string()),
                        quoted(&f.name)
                    ));
                }
                out.push_str(&format!("{tag} OK done\r\n"));
            }
            "EXAMINE" | "SELECT" => {
                let (name, _) = first_arg(&args);
                match script_folders.iter().position(|f| f.name == name) {
                    Some(i) => {
                        let f = &script_folders[i];
                        selected = Some(i);
                        let next = f.messages.iter().map(|m| m.uid).max().unwrap_or(0) + 1;
                        out.push_str(&format!(
                            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n* {} EXISTS\r\n* OK [UIDVALIDITY {}] ok\r\n* OK [UIDNEXT {next}] ok\r\n{tag} OK [READ-ONLY] done\r\n",
                            f.messages.len(),
                            f.uid_validity
                        ));
                    }
                    None => {
                        selected = None;
                        out.push_str(&format!("{tag} NO [NONEXISTENT] no such mailbox\r\n"));
                    }
                }
            }
            "UID FETCH" => {
                let Some(i) = selected else {
                    out.push_str(&format!("{tag} BAD nothing selected\r\n"));
                    w.write_all(out.as_bytes()).await?;
                    continue;
                };
                let (set, items) = args.split_once(' ').unwrap_or((&args, ""));
                let items = items.to_ascii_uppercase();
                let f = &script_folders[i];
                let max = f.messages.iter().map(|m| m.uid).max().unwrap_or(0);
                w.write_all(out.as_bytes()).await?;
                out.clear();
                for (seq, m) in f.messages.iter().enumerate() {
                    if !in_set(set, m.uid, max) {
                        continue;
                    }
                    let mut parts = vec![format!("UID {}", m.uid)];
                    if items.contains("FLAGS") {
                        parts.push(format!("FLAGS ({})", m.flags));
                    }
                    if items.contains("INTERNALDATE") {
                        parts.push(format!("INTERNALDATE \"{}\"", m.date));
                    }
                    if items.contains("RFC822.SIZE") {
                        parts.push(format!("RFC822.SIZE {}", m.body.len()));
                    }
                    let mut bytes =
                        format!("* {} FETCH ({}", seq + 1, parts.join(" ")).into_bytes();
                    if items.contains("HEADER.FIELDS (MESSAGE-ID)") {
                        let text = String::from_utf8_lossy(&m.body).into_owned();
                        let id = text
                            .lines()
                            .take_while(|l| !l.is_empty())
                            .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
                            .map(|l| format!("{}\r\n", l.trim_end()))
                            .unwrap_or_default();
                        let hdr = format!("{id}\r\n");
                        bytes.extend_from_slice(
                            format!(" BODY[HEADER.FIELDS (MESSAGE-ID)] {{{}}}\r\n", hdr.len())
                                .as_bytes(),
                        );
                        bytes.extend_from_slice(hdr.as_bytes());
                    }
                    if items.contains("BODY[]") || items.contains("BODY.PEEK[]") {
                        bytes.extend_from_slice(
                            format!(" BODY[] {{{}}}\r\n", m.body.len()).as_bytes(),
                        );
                        bytes.extend_from_slice(&m.body);
                    }
                    bytes.extend_from_slice(b")\r\n");
                    w.write_all(&bytes).await?;
                }
                out.push_str(&format!("{tag} OK done\r\n"));
            }
            "IDLE" => {
                w.write_all(b"+ idling\r\n").await?;
                let mut l2 = String::new();
                match script.idle_drop {
                    Some(d) => {
                        if tokio::time::timeout(d, r.read_line(&mut l2)).await.is_err() {
                            w.write_all(b"* BYE idle for too long\r\n").await?;
                            return Ok(());
                        }
                    }
                    None => {
                        r.read_line(&mut l2).await?;
                    }
                }
                out.push_str(&format!("{tag} OK done\r\n"));
            }
            "LOGOUT" => {
                w.write_all(format!("* BYE bye\r\n{tag} OK done\r\n").as_bytes())
                    .await?;
                return Ok(());
            }
            "NOOP" | "CHECK" | "ENABLE" | "ID" | "CLOSE" | "UNSELECT" => {
                out.push_str(&format!("{tag} OK done\r\n"));
            }
            _ => out.push_str(&format!("{tag} BAD not scripted\r\n")),
        }
        w.write_all(out.as_bytes()).await?;
    }
}
