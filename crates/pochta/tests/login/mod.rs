//! Logging in over IMAP, POP3 and SMTP submission by every way each offers (the protocol's
//! plaintext command, SASL PLAIN, LOGIN and SCRAM-SHA-256), from a chosen loopback address,
//! and classifying the answer; the three services wired in-process with a chosen throttle
//! ([`services`]). Use with `mod blocking; mod login;`.
#![allow(dead_code)]

use std::io;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use pochta_auth::{AuthCache, PlaintextPolicy, Throttle, ThrottleConfig};
use pochta_imap::{ImapConfig, ImapService};
use pochta_net::{Limiter, Listener, ListenerConfig, ShutdownController, TlsMode};
use pochta_pop3::{Pop3Config, Pop3Service};
use pochta_smtp::{Kind, SmtpConfig, SmtpService, Verifier};
use pochta_store::Directory;
use pochta_store_embedded::EmbeddedStore;
use pochta_types::Address;

use crate::blocking::Lines;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Imap,
    Pop3,
    Submission,
}

/// How to log in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Way {
    /// IMAP `LOGIN`, POP3 `USER`/`PASS`.
    Command,
    Plain,
    Login,
    Scram,
}

impl Proto {
    /// Every way this protocol offers (ANONYMOUS has no account to throttle).
    pub fn ways(self) -> &'static [Way] {
        match self {
            Proto::Imap | Proto::Pop3 => &[Way::Command, Way::Plain, Way::Login, Way::Scram],
            Proto::Submission => &[Way::Plain, Way::Login, Way::Scram],
        }
    }
}

/// What the server answered to a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    LoggedIn,
    /// Wrong credentials: IMAP `[AUTHENTICATIONFAILED]`, POP3 `[AUTH]`, SMTP `535 5.7.8`.
    Failed,
    /// Refused without verifying: IMAP `[UNAVAILABLE]`, POP3 `[SYS/TEMP]`, SMTP `454 4.7.0`.
    Throttled,
    Other,
}

/// A TCP connection from `from` (any 127.0.0.0/8 address works on Linux loopback) to `to`.
pub fn connect_from(from: IpAddr, to: SocketAddr) -> io::Result<TcpStream> {
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(to),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    sock.bind(&SocketAddr::new(from, 0).into())?;
    sock.connect_timeout(&to.into(), Duration::from_secs(5))?;
    let s: TcpStream = sock.into();
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.set_write_timeout(Some(Duration::from_secs(60)))?;
    s.set_nodelay(true)?;
    Ok(s)
}

/// A logged-out client of one protocol, past the greeting (and EHLO for SMTP).
pub struct Client {
    pub proto: Proto,
    pub c: Lines,
}

impl Client {
    pub fn connect(proto: Proto, from: IpAddr, to: SocketAddr) -> io::Result<Client> {
        let mut c = Lines {
            r: io::BufReader::new(connect_from(from, to)?),
        };
        let greeting = match proto {
            Proto::Submission => c.smtp_reply()?,
            _ => c.line()?,
        };
        if !(greeting.starts_with("* OK")
            || greeting.starts_with("+OK")
            || greeting.starts_with("220"))
        {
            return Err(io::Error::other(format!("greeting: {greeting}")));
        }
        let mut client = Client { proto, c };
        if proto == Proto::Submission {
            let r = client.send("EHLO client.test")?;
            assert!(r.starts_with("250 "), "{r}");
        }
        Ok(client)
    }

    /// Sends one line and returns the answer's last line (IMAP untagged lines skipped).
    pub fn send(&mut self, line: &str) -> io::Result<String> {
        self.c.send(format!("{line}\r\n").as_bytes())?;
        let answer = match self.proto {
            Proto::Submission => self.c.smtp_reply()?,
            Proto::Pop3 => self.c.line()?,
            Proto::Imap => loop {
                let l = self.c.line()?;
                if !l.starts_with("* ") {
                    break l;
                }
            },
        };
        Ok(answer.trim_end().to_string())
    }

    fn auth_command(&self, mechanism: &str, initial: Option<&str>) -> String {
        let ir = initial.map(|i| format!(" {i}")).unwrap_or_default();
        match self.proto {
            Proto::Imap => format!("a AUTHENTICATE {mechanism}{ir}"),
            _ => format!("AUTH {mechanism}{ir}"),
        }
    }

    /// The base64 challenge if `answer` is a continuation.
    fn challenge<'a>(&self, answer: &'a str) -> Option<&'a str> {
        match self.proto {
            Proto::Submission => answer
                .strip_prefix("334 ")
                .or((answer == "334").then_some("")),
            _ => answer.strip_prefix("+ ").or((answer == "+").then_some("")),
        }
    }

    /// Logs in as `user` with `pass` the given way; the server's final answer.
    pub fn login(&mut self, way: Way, user: &str, pass: &str) -> io::Result<String> {
        match way {
            Way::Command => match self.proto {
                Proto::Imap => self.send(&format!("a LOGIN \"{user}\" \"{pass}\"")),
                Proto::Pop3 => {
                    let r = self.send(&format!("USER {user}"))?;
                    if !r.starts_with("+OK") {
                        return Ok(r);
                    }
                    self.send(&format!("PASS {pass}"))
                }
                Proto::Submission => Err(io::Error::other("SMTP has no login command")),
            },
            Way::Plain => {
                let ir = B64.encode(format!("\0{user}\0{pass}"));
                let cmd = self.auth_command("PLAIN", Some(&ir));
                self.send(&cmd)
            }
            Way::Login => {
                let cmd = self.auth_command("LOGIN", None);
                let mut r = self.send(&cmd)?;
                for answer in [user, pass] {
                    if self.challenge(&r).is_none() {
                        return Ok(r);
                    }
                    r = self.send(&B64.encode(answer))?;
                }
                Ok(r)
            }
            Way::Scram => self.scram(user, pass),
        }
    }

    /// RFC 5802 client side.
    fn scram(&mut self, user: &str, pass: &str) -> io::Result<String> {
        let cnonce = "fyko+d2lbbFgONRv9qkxdawL";
        let first_bare = format!("n={user},r={cnonce}");
        let cmd = self.auth_command(
            "SCRAM-SHA-256",
            Some(&B64.encode(format!("n,,{first_bare}"))),
        );
        let r = self.send(&cmd)?;
        let Some(c) = self.challenge(&r) else {
            return Ok(r);
        };
        let server_first = String::from_utf8(B64.decode(c).map_err(io::Error::other)?)
            .map_err(io::Error::other)?;
        let (mut nonce, mut salt, mut iters) = ("", Vec::new(), 0u32);
        for part in server_first.split(',') {
            match part.split_at(2) {
                ("r=", v) => nonce = v,
                ("s=", v) => salt = B64.decode(v).map_err(io::Error::other)?,
                ("i=", v) => iters = v.parse().map_err(io::Error::other)?,
                _ => {}
            }
        }
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{first_bare},{server_first},{without_proof}");
        let proof = client_proof(pass, &salt, iters, &auth_message);
        let r = self.send(&B64.encode(format!("{without_proof},p={proof}")))?;
        if self.challenge(&r).is_none() {
            return Ok(r);
        }
        // The server-final message (`v=`) comes as a challenge answered with an empty line.
        self.send("")
    }

    /// What an answer to a login means in this protocol.
    pub fn verdict(&self, answer: &str) -> Verdict {
        let has = |s: &str| answer.contains(s);
        match self.proto {
            Proto::Imap if answer.starts_with("a OK ") => Verdict::LoggedIn,
            Proto::Imap if has("a NO [AUTHENTICATIONFAILED]") => Verdict::Failed,
            Proto::Imap if has("a NO [UNAVAILABLE]") => Verdict::Throttled,
            Proto::Pop3 if answer.starts_with("+OK") => Verdict::LoggedIn,
            Proto::Pop3 if answer.starts_with("-ERR [AUTH]") => Verdict::Failed,
            Proto::Pop3 if answer.starts_with("-ERR [SYS/TEMP]") => Verdict::Throttled,
            Proto::Submission if answer.starts_with("235 2.7.0") => Verdict::LoggedIn,
            Proto::Submission if answer.starts_with("535 5.7.8") => Verdict::Failed,
            Proto::Submission if answer.starts_with("454 4.7.0") => Verdict::Throttled,
            _ => Verdict::Other,
        }
    }
}

/// One login on a new connection: the verdict and the answer.
pub fn attempt(
    proto: Proto,
    from: IpAddr,
    to: SocketAddr,
    way: Way,
    user: &str,
    pass: &str,
) -> (Verdict, String) {
    let mut c = Client::connect(proto, from, to).expect("connect");
    let answer = c.login(way, user, pass).expect("login exchange");
    let verdict = c.verdict(&answer);
    c.quit();
    (verdict, answer)
}

impl Client {
    /// Logs out and waits for the server to close (a POP3 maildrop lock is released then).
    pub fn quit(&mut self) {
        use std::io::Read;
        let cmd = match self.proto {
            Proto::Imap => "a LOGOUT\r\n",
            _ => "QUIT\r\n",
        };
        if self.c.send(cmd.as_bytes()).is_ok() {
            let mut rest = Vec::new();
            let _ = self.c.r.read_to_end(&mut rest);
        }
    }
}

fn client_proof(password: &str, salt: &[u8], iters: u32, auth_message: &str) -> String {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iters, &mut salted);
    let mac = |key: &[u8], msg: &[u8]| {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
        m.update(msg);
        m.finalize().into_bytes()
    };
    let client_key = mac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let sig = mac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(sig.iter())
        .map(|(a, b)| a ^ b)
        .collect();
    B64.encode(proof)
}

pub struct Services {
    pub imap: SocketAddr,
    pub pop3: SocketAddr,
    pub submission: SocketAddr,
    _rt: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
    _shutdown: ShutdownController,
}

impl Services {
    pub fn addr(&self, proto: Proto) -> SocketAddr {
        match proto {
            Proto::Imap => self.imap,
            Proto::Pop3 => self.pop3,
            Proto::Submission => self.submission,
        }
    }
}

/// IMAP, POP3 and SMTP submission as `serve` wires them (one store, one throttle, one auth
/// cache), plaintext allowed, on 127.0.0.1; `user` has the password `pass` (Argon2id hash and
/// SCRAM-SHA-256 secrets).
pub fn services(cfg: ThrottleConfig, user: &str, pass: &str) -> Services {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(dir.path()).unwrap();
    let addr = Address::new(user).unwrap();
    let hash = pochta_auth::hash_password(pass).unwrap();
    store.account_create(&addr, &hash).unwrap();
    let scram = pochta_auth::ScramSecrets::derive(pass).encode();
    store
        .account_set_password(&addr, &hash, Some(&scram))
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let throttle = Arc::new(Throttle::new(cfg));
    let cache = Arc::new(AuthCache::default());
    let limiter = Limiter::new(1000, 1000);
    let shutdown = ShutdownController::new();
    let bind = |name: &str| {
        let cfg = ListenerConfig {
            name: name.into(),
            addrs: vec!["127.0.0.1:0".parse().unwrap()],
            tls: TlsMode::Plain,
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            max_per_ip: None,
            login_required: false,
            refusal: b"",
        };
        rt.block_on(Listener::bind(cfg, Arc::clone(&limiter)))
            .unwrap()
    };
    let (li, lp, ls) = (bind("imap"), bind("pop3"), bind("submission"));
    let (imap_addr, pop3_addr, submission_addr) = (
        li.local_addrs()[0],
        lp.local_addrs()[0],
        ls.local_addrs()[0],
    );
    let imap = Arc::new(ImapService::new(
        Arc::new(store.clone()),
        ImapConfig {
            plaintext: PlaintextPolicy::Always,
            ..ImapConfig::default()
        },
        Arc::clone(&throttle),
        Arc::clone(&cache),
    ));
    let pop3 = Arc::new(Pop3Service::new(
        Arc::new(store.clone()),
        Pop3Config {
            plaintext: PlaintextPolicy::Always,
            ..Pop3Config::default()
        },
        Arc::clone(&throttle),
        Arc::clone(&cache),
    ));
    let submission = Arc::new(SmtpService::new(pochta_smtp::Shared {
        store: Arc::new(store.clone()),
        config: SmtpConfig {
            plaintext: PlaintextPolicy::Always,
            ..SmtpConfig::default()
        },
        kind: Kind::Submission,
        throttle,
        auth_cache: cache,
        verifier: Arc::new(Verifier::disabled("localhost")),
        queue: None,
    }));
    rt.spawn(li.run(imap, shutdown.subscribe(), shutdown.tracker()));
    rt.spawn(lp.run(pop3, shutdown.subscribe(), shutdown.tracker()));
    rt.spawn(ls.run(submission, shutdown.subscribe(), shutdown.tracker()));
    Services {
        imap: imap_addr,
        pop3: pop3_addr,
        submission: submission_addr,
        _rt: rt,
        _dir: dir,
        _shutdown: shutdown,
    }
}
