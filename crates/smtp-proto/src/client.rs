//! The client half of the SMTP grammar, sans-IO: reply framing and parsing, the server's
//! EHLO capabilities, command encoding ([`Command::encode`]) and the DATA body.
//!
//! Implementation notes:
//! - **Frame first, then parse** ([`ReplyParser`]): bytes are fed as they arrive; a reply is
//!   complete at the first line whose fourth byte is not `-` (RFC 5321 §4.2.1). A line longer
//!   than [`ReplyLimits::max_line`] or a reply of more than [`ReplyLimits::max_lines`] lines
//!   is an error, as is a line without a code in 200–599: nothing a server sends can panic
//!   the client or make it buffer without bound.
//! - Enhanced status codes (RFC 2034) are split off into [`Reply::status`]
//!   ([`Reply::from_lines`]).
//! - The DATA body ([`data_bytes`]) is dot-stuffed (RFC 5321 §4.5.2), bare LF becomes CRLF
//!   (§2.3.8), and it ends with `CRLF . CRLF` whatever the message ended with.
//! - After STARTTLS the parser must be [`ReplyParser::clear`]ed: nothing read before the
//!   handshake may be used after it (RFC 3207 §4.2, §6).

use crate::command::{Command, MailParams, Path, RcptParams, xtext_encode};
use crate::reply::Reply;

/// Hard limits on what a server may send.
#[derive(Debug, Clone, Copy)]
pub struct ReplyLimits {
    /// Longest reply line (RFC 5321 §4.5.3.1.5 says 512; servers exceed it).
    pub max_line: usize,
    /// Most lines in one reply (a long EHLO list is ~30).
    pub max_lines: usize,
}

impl Default for ReplyLimits {
    fn default() -> Self {
        ReplyLimits {
            max_line: 8192,
            max_lines: 200,
        }
    }
}

/// Why the bytes from the server are not a reply; the text is for logs and DSNs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("reply line too long")]
    LineTooLong,
    #[error("reply has too many lines")]
    TooManyLines,
    #[error("malformed reply: {0}")]
    Malformed(String),
}

/// Bytes → [`Reply`]s.
#[derive(Debug, Default)]
pub struct ReplyParser {
    limits: ReplyLimits,
    buf: Vec<u8>,
    /// Lines of the reply being read: its code and texts.
    lines: Vec<String>,
    code: u16,
}

impl ReplyParser {
    pub fn new(limits: ReplyLimits) -> Self {
        ReplyParser {
            limits,
            ..ReplyParser::default()
        }
    }

    /// Adds bytes read from the server.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete reply, `Ok(None)` when more bytes are needed.
    pub fn next_reply(&mut self) -> Result<Option<Reply>, ReplyError> {
        loop {
            let Some(i) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > self.limits.max_line {
                    return Err(ReplyError::LineTooLong);
                }
                return Ok(None);
            };
            let mut raw: Vec<u8> = self.buf.drain(..=i).collect();
            raw.pop();
            if raw.last() == Some(&b'\r') {
                raw.pop();
            }
            let line = String::from_utf8_lossy(&raw);
            let b = line.as_bytes();
            let code = (b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit))
                .then(|| line[..3].parse::<u16>().ok())
                .flatten()
                .filter(|c| (200..600).contains(c));
            let Some(code) = code else {
                self.lines.clear();
                return Err(ReplyError::Malformed(format!("{line:.100}")));
            };
            let more = b.get(3) == Some(&b'-');
            self.code = code;
            self.lines
                .push(line.get(4..).unwrap_or("").trim_end().to_owned());
            if !more {
                let lines = std::mem::take(&mut self.lines);
                return Ok(Some(Reply::from_lines(self.code, lines)));
            }
            if self.lines.len() >= self.limits.max_lines {
                self.lines.clear();
                return Err(ReplyError::TooManyLines);
            }
        }
    }

    /// Forgets everything buffered (after STARTTLS).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.lines.clear();
    }

    /// Whether bytes are buffered that are not yet a reply.
    pub fn has_pending(&self) -> bool {
        !self.buf.is_empty() || !self.lines.is_empty()
    }
}

/// What the server offered after EHLO.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub esmtp: bool,
    pub starttls: bool,
    pub pipelining: bool,
    /// `SIZE` limit; 0 means none given.
    pub size: Option<u64>,
    pub eight_bit_mime: bool,
    pub smtputf8: bool,
    pub dsn: bool,
    pub chunking: bool,
    pub auth_plain: bool,
}

impl Capabilities {
    /// From an EHLO reply (RFC 5321 §4.1.1.1: the first line is the greeting).
    pub fn parse(reply: &Reply) -> Capabilities {
        let mut c = Capabilities {
            esmtp: true,
            ..Capabilities::default()
        };
        for line in reply.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let Some(kw) = words.next() else { continue };
            match kw.to_ascii_uppercase().as_str() {
                "STARTTLS" => c.starttls = true,
                "PIPELINING" => c.pipelining = true,
                "SIZE" => c.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "8BITMIME" => c.eight_bit_mime = true,
                "SMTPUTF8" => c.smtputf8 = true,
                "DSN" => c.dsn = true,
                "CHUNKING" => c.chunking = true,
                "AUTH" => c.auth_plain |= words.any(|m| m.eq_ignore_ascii_case("PLAIN")),
                _ => {}
            }
        }
        c
    }
}

impl Path {
    /// The path of `local@domain` (split at the last `@`; without one, all local part, as
    /// `<Postmaster>`).
    pub fn from_address(address: &str) -> Path {
        match address.rsplit_once('@') {
            Some((l, d)) => Path {
                local: l.to_owned(),
                domain: d.to_owned(),
            },
            None => Path {
                local: address.to_owned(),
                domain: String::new(),
            },
        }
    }

    fn encode(&self, out: &mut String) {
        out.push_str(&self.local);
        if !self.domain.is_empty() {
            out.push('@');
            out.push_str(&self.domain);
        }
    }
}

impl Command {
    /// Appends the command line with its CRLF, as a client sends it; [`crate::parse_command`]
    /// reads it back as the same command.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut s = String::with_capacity(64);
        match self {
            Command::Ehlo(d) => s.push_str(&format!("EHLO {d}")),
            Command::Helo(d) => s.push_str(&format!("HELO {d}")),
            Command::Mail { from, params } => {
                s.push_str("MAIL FROM:<");
                if let Some(p) = from {
                    p.encode(&mut s);
                }
                s.push('>');
                mail_params(params, &mut s);
            }
            Command::Rcpt { to, params } => {
                s.push_str("RCPT TO:<");
                to.encode(&mut s);
                s.push('>');
                rcpt_params(params, &mut s);
            }
            Command::Data => s.push_str("DATA"),
            Command::Bdat { size, last } => {
                s.push_str(&format!("BDAT {size}"));
                if *last {
                    s.push_str(" LAST");
                }
            }
            Command::Burl { url, last } => {
                s.push_str(&format!("BURL {url}"));
                if *last {
                    s.push_str(" LAST");
                }
            }
            Command::Rset => s.push_str("RSET"),
            Command::Noop => s.push_str("NOOP"),
            Command::Quit => s.push_str("QUIT"),
            Command::Vrfy(a) => s.push_str(&format!("VRFY {a}")),
            Command::Expn(a) => s.push_str(&format!("EXPN {a}")),
            Command::Help(None) => s.push_str("HELP"),
            Command::Help(Some(a)) => s.push_str(&format!("HELP {a}")),
            Command::StartTls => s.push_str("STARTTLS"),
            Command::Auth { mechanism, initial } => {
                s.push_str("AUTH ");
                s.push_str(mechanism);
                if let Some(i) = initial {
                    s.push(' ');
                    s.push_str(i);
                }
            }
        }
        s.push_str("\r\n");
        out.extend_from_slice(s.as_bytes());
    }

    /// The encoded line as a string (tests, logs).
    pub fn to_line(&self) -> String {
        let mut v = Vec::new();
        self.encode(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    }
}

/// MAIL parameters in the order SIZE, BODY, SMTPUTF8, RET, ENVID, AUTH (RFC 1870, 6152,
/// 6531, 3461 §4.3–4.4, 4954 §5).
fn mail_params(p: &MailParams, s: &mut String) {
    if let Some(n) = p.size {
        s.push_str(&format!(" SIZE={n}"));
    }
    match p.body {
        Some(crate::Body::SevenBit) => s.push_str(" BODY=7BIT"),
        Some(crate::Body::EightBitMime) => s.push_str(" BODY=8BITMIME"),
        Some(crate::Body::BinaryMime) => s.push_str(" BODY=BINARYMIME"),
        None => {}
    }
    if p.smtputf8 {
        s.push_str(" SMTPUTF8");
    }
    if let Some(ret) = p.ret {
        s.push_str(" RET=");
        s.push_str(ret.as_str());
    }
    if let Some(id) = &p.envid {
        s.push_str(" ENVID=");
        s.push_str(&xtext_encode(id));
    }
    if let Some(a) = &p.auth {
        s.push_str(" AUTH=");
        s.push_str(a);
    }
}

/// RCPT parameters NOTIFY and ORCPT (RFC 3461 §4.1–4.2).
fn rcpt_params(p: &RcptParams, s: &mut String) {
    if let Some(n) = &p.notify {
        s.push_str(" NOTIFY=");
        s.push_str(&n.join(","));
    }
    if let Some((ty, a)) = &p.orcpt {
        s.push_str(&format!(" ORCPT={ty};{}", xtext_encode(a)));
    }
}

/// Dot-stuffs (RFC 5321 §4.5.2) and terminates the message for DATA; bare LF and bare CR
/// become CRLF (RFC 5321 §2.3.8: a client must not send either alone, and the next hop
/// might read one as a line end where we did not: SMTP smuggling).
pub fn data_bytes(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 5);
    let mut at_line_start = true;
    for (i, &b) in body.iter().enumerate() {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        match b {
            b'\n' if i == 0 || body[i - 1] != b'\r' => out.extend_from_slice(b"\r\n"),
            b'\r' if body.get(i + 1) != Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                at_line_start = true;
                continue;
            }
            _ => out.push(b),
        }
        at_line_start = b == b'\n';
    }
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Body, Ret, parse_command};

    #[test]
    fn dot_stuffing_and_line_ends() {
        assert_eq!(data_bytes(b"a\r\n.b\r\n"), b"a\r\n..b\r\n.\r\n");
        assert_eq!(data_bytes(b".x"), b"..x\r\n.\r\n");
        assert_eq!(data_bytes(b"a\nb"), b"a\r\nb\r\n.\r\n");
        // Bare CR becomes CRLF too, and a dot after it starts a line.
        assert_eq!(data_bytes(b"a\rb"), b"a\r\nb\r\n.\r\n");
        assert_eq!(data_bytes(b"a\r.\rb"), b"a\r\n..\r\nb\r\n.\r\n");
        assert_eq!(data_bytes(b"a\r"), b"a\r\n.\r\n");
        assert_eq!(data_bytes(b"\r\n.\r\n"), b"\r\n..\r\n.\r\n");
        assert_eq!(data_bytes(b""), b".\r\n");
        // The load generator's cases.
        assert_eq!(data_bytes(b"a.b\r\n"), b"a.b\r\n.\r\n");
    }

    #[test]
    fn capabilities() {
        let r = Reply::from_lines(
            250,
            vec![
                "mx.test Hello".into(),
                "PIPELINING".into(),
                "SIZE 1000".into(),
                "8BITMIME".into(),
                "starttls".into(),
                "AUTH LOGIN PLAIN".into(),
                "DSN".into(),
            ],
        );
        let c = Capabilities::parse(&r);
        assert!(c.pipelining && c.starttls && c.eight_bit_mime && c.auth_plain && c.dsn);
        assert!(!c.smtputf8 && !c.chunking);
        assert_eq!(c.size, Some(1000));
        assert_eq!(
            r.text(),
            "250 mx.test Hello PIPELINING SIZE 1000 8BITMIME starttls AUTH LOGIN PLAIN DSN"
        );
    }

    const STREAM: &[u8] = b"220 mx.test ESMTP\r\n250-mx.test\r\n250-PIPELINING\r\n250 DSN\r\n550-5.1.1 <b@x>: no\r\n550 5.1.1 such user\r\n354 go ahead\r\n";

    fn expected() -> Vec<Reply> {
        vec![
            Reply::from_lines(220, vec!["mx.test ESMTP".into()]),
            Reply::from_lines(
                250,
                vec!["mx.test".into(), "PIPELINING".into(), "DSN".into()],
            ),
            Reply {
                code: 550,
                status: Some("5.1.1".into()),
                lines: vec!["<b@x>: no".into(), "such user".into()],
            },
            Reply::bare(354, "go ahead"),
        ]
    }

    /// The same replies whatever the chunk size the bytes arrive in.
    #[test]
    fn replies_in_every_chunk_size() {
        for size in [1, 2, 3, 4, 7, 16, 64, 512] {
            let mut p = ReplyParser::default();
            let mut got = Vec::new();
            for chunk in STREAM.chunks(size) {
                p.feed(chunk);
                while let Some(r) = p.next_reply().unwrap() {
                    got.push(r);
                }
            }
            assert_eq!(got, expected(), "chunk size {size}");
            assert!(!p.has_pending());
        }
    }

    #[test]
    fn every_prefix_is_incomplete_not_an_error() {
        let one = b"250-a\r\n250 2.0.0 b\r\n";
        for n in 0..one.len() {
            let mut p = ReplyParser::default();
            p.feed(&one[..n]);
            assert_eq!(p.next_reply(), Ok(None), "prefix {n}");
        }
    }

    #[test]
    fn limits_and_garbage() {
        let limits = ReplyLimits {
            max_line: 16,
            max_lines: 3,
        };
        let mut p = ReplyParser::new(limits);
        p.feed(&[b'2'; 17]);
        assert_eq!(p.next_reply(), Err(ReplyError::LineTooLong));
        let mut p = ReplyParser::new(limits);
        p.feed(b"250-a\r\n250-b\r\n250-c\r\n250 d\r\n");
        assert_eq!(p.next_reply(), Err(ReplyError::TooManyLines));
        for bad in [
            &b"hello\r\n"[..],
            b"25\r\n",
            b"199 x\r\n",
            b"600 x\r\n",
            b"\xff\xfe0 x\n",
        ] {
            let mut p = ReplyParser::default();
            p.feed(bad);
            assert!(
                matches!(p.next_reply(), Err(ReplyError::Malformed(_))),
                "{bad:?}"
            );
        }
        // A bare LF ends a line too; STARTTLS forgets what was buffered.
        let mut p = ReplyParser::default();
        p.feed(b"220 ok\n250 injected\r\n");
        assert_eq!(p.next_reply().unwrap().unwrap().code, 220);
        p.clear();
        assert_eq!(p.next_reply(), Ok(None));
    }

    #[test]
    fn commands_encode_and_parse_back() {
        let cmds = [
            Command::Ehlo("client.test".into()),
            Command::Mail {
                from: None,
                params: MailParams::default(),
            },
            Command::Mail {
                from: Some(Path::from_address("a+b@x.test")),
                params: MailParams {
                    size: Some(1234),
                    body: Some(Body::EightBitMime),
                    smtputf8: true,
                    ret: Some(Ret::Hdrs),
                    envid: Some("id=1 +x".into()),
                    auth: None,
                },
            },
            Command::Rcpt {
                to: Path::from_address("b@y.test"),
                params: RcptParams {
                    notify: Some(vec!["SUCCESS".into(), "FAILURE".into()]),
                    orcpt: Some(("rfc822".into(), "B=b@y.test".into())),
                },
            },
            Command::Data,
            Command::Bdat {
                size: 10,
                last: true,
            },
            Command::Rset,
            Command::Quit,
            Command::StartTls,
            Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("AGEAYg==".into()),
            },
        ];
        for c in cmds {
            let line = c.to_line();
            let parsed = parse_command(line.trim_end_matches("\r\n").as_bytes());
            assert_eq!(parsed.as_ref(), Ok(&c), "{line}");
        }
        let r = Command::Rcpt {
            to: Path::from_address("b@y.test"),
            params: RcptParams {
                notify: Some(vec!["NEVER".into()]),
                orcpt: Some(("rfc822".into(), "B=b@y.test".into())),
            },
        };
        assert_eq!(
            r.to_line(),
            "RCPT TO:<b@y.test> NOTIFY=NEVER ORCPT=rfc822;B+3Db@y.test\r\n"
        );
        let m = Command::Mail {
            from: Some(Path::from_address("a@x")),
            params: MailParams {
                size: Some(5),
                body: Some(Body::EightBitMime),
                ret: Some(Ret::Full),
                envid: Some("e 1".into()),
                ..MailParams::default()
            },
        };
        assert_eq!(
            m.to_line(),
            "MAIL FROM:<a@x> SIZE=5 BODY=8BITMIME RET=FULL ENVID=e+201\r\n"
        );
        assert_eq!(
            Command::Rcpt {
                to: Path::from_address("postmaster"),
                params: RcptParams::default()
            }
            .to_line(),
            "RCPT TO:<postmaster>\r\n"
        );
    }
}
