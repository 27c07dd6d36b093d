//! SMTP command lines → [`Command`] (RFC 5321 §4.1, with the extensions' parameters).
//!
//! Implementation notes:
//! - Input is one line without its CRLF. Verbs and parameter keywords are case-insensitive
//!   (RFC 5321 §2.4).
//! - Paths are kept as text (`local@domain`); the session decides what an address means.
//!   Source routes (`<@a,@b:user@d>`) are accepted and ignored (RFC 5321 §4.1.2, Appendix C).
//!   A quoted local part is kept with its quotes.
//! - `MAIL FROM: <x>` (a space after the colon) is accepted, as every deployed server does,
//!   though RFC 5321 §4.1.1.2 has no space there.
//! - UTF-8 in paths is accepted by the parser and flagged ([`Path::is_ascii`]); the session
//!   refuses it unless the transaction asked for SMTPUTF8 (RFC 6531 §3.4).
//! - Unknown MAIL/RCPT parameters are errors (`555`, RFC 5321 §4.1.1.11): we advertise what
//!   we understand and nothing else.

use std::fmt;

pub use pochta_types::envelope::Ret;

/// A forward- or reverse-path, without the angle brackets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    pub local: String,
    pub domain: String,
}

impl Path {
    /// Whether the path is plain ASCII (otherwise it needs SMTPUTF8).
    pub fn is_ascii(&self) -> bool {
        self.local.is_ascii() && self.domain.is_ascii()
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local, self.domain)
    }
}

/// `BODY=` (RFC 6152 8BITMIME, RFC 3030 BINARYMIME).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    SevenBit,
    EightBitMime,
    BinaryMime,
}

/// Parameters of MAIL FROM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    /// `SIZE=` (RFC 1870).
    pub size: Option<u64>,
    pub body: Option<Body>,
    /// `SMTPUTF8` (RFC 6531 §3.4).
    pub smtputf8: bool,
    /// `RET=` (RFC 3461 §4.3), kept for the outbound queue.
    pub ret: Option<Ret>,
    /// `ENVID=` (RFC 3461 §4.4), decoded from xtext.
    pub envid: Option<String>,
    /// `AUTH=` (RFC 4954 §5), accepted and ignored.
    pub auth: Option<String>,
}

/// Parameters of RCPT TO (RFC 3461 DSN).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptParams {
    /// `NOTIFY=`: `NEVER` or a comma list of SUCCESS, FAILURE, DELAY (upper-cased).
    pub notify: Option<Vec<String>>,
    /// `ORCPT=addr-type;xtext`, with the address decoded from xtext.
    pub orcpt: Option<(String, String)>,
}

/// One SMTP command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    /// `None` is the null reverse-path `<>`.
    Mail {
        from: Option<Path>,
        params: MailParams,
    },
    Rcpt {
        to: Path,
        params: RcptParams,
    },
    Data,
    /// RFC 3030: the chunk size and whether it is the last chunk.
    Bdat {
        size: u64,
        last: bool,
    },
    /// RFC 4468 §3.2: the URL whose content is the next piece of the message, and whether
    /// it is the last piece.
    Burl {
        url: String,
        last: bool,
    },
    Rset,
    Noop,
    Quit,
    Vrfy(String),
    Expn(String),
    Help(Option<String>),
    StartTls,
    /// RFC 4954 §4: mechanism name (upper-cased) and the optional initial response (base64,
    /// or `=` for an empty one).
    Auth {
        mechanism: String,
        initial: Option<String>,
    },
}

impl Command {
    /// The verb, for logs and errors.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Ehlo(_) => "EHLO",
            Command::Helo(_) => "HELO",
            Command::Mail { .. } => "MAIL",
            Command::Rcpt { .. } => "RCPT",
            Command::Data => "DATA",
            Command::Bdat { .. } => "BDAT",
            Command::Burl { .. } => "BURL",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Quit => "QUIT",
            Command::Vrfy(_) => "VRFY",
            Command::Expn(_) => "EXPN",
            Command::Help(_) => "HELP",
            Command::StartTls => "STARTTLS",
            Command::Auth { .. } => "AUTH",
        }
    }
}

/// Why a line is not a valid command; each maps to one reply code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// `500 5.5.2`: not a command we know.
    #[error("unrecognized command")]
    UnknownCommand,
    /// `501 5.5.4`: the arguments are malformed.
    #[error("syntax error in arguments: {0}")]
    Syntax(&'static str),
    /// `501 5.1.7` / `5.1.3`: a malformed address.
    #[error("bad address syntax")]
    BadAddress,
    /// `555 5.5.4`: a MAIL/RCPT parameter we do not know (RFC 5321 §4.1.1.11).
    #[error("unrecognized parameter {0}")]
    UnknownParameter(String),
}

/// The longest domain name, in octets (RFC 5321 §4.5.3.1.2).
const MAX_DOMAIN: usize = 255;

/// Parses one command line (without CRLF).
pub fn parse_command(line: &[u8]) -> Result<Command, ParseError> {
    let line = std::str::from_utf8(line).map_err(|_| ParseError::Syntax("not UTF-8"))?;
    let line = line.trim_end_matches([' ', '\t']);
    let (verb, rest) = match line.find(' ') {
        Some(i) => (&line[..i], line[i + 1..].trim_start_matches(' ')),
        None => (line, ""),
    };
    let verb = verb.to_ascii_uppercase();
    let no_args = |cmd: Command| {
        if rest.is_empty() {
            Ok(cmd)
        } else {
            Err(ParseError::Syntax("no arguments allowed"))
        }
    };
    match verb.as_str() {
        "EHLO" | "HELO" => {
            let domain = rest.split(' ').next().unwrap_or("");
            if domain.is_empty() || domain.chars().any(|c| c.is_control()) {
                return Err(ParseError::Syntax(
                    "a domain or address literal is required",
                ));
            }
            // RFC 5321 §4.5.3.1.2: a domain is at most 255 octets. The name is echoed into
            // the Received: header, which must stay within RFC 5322's 998 octets per line.
            if domain.len() > MAX_DOMAIN {
                return Err(ParseError::Syntax("the domain is longer than 255 octets"));
            }
            Ok(if verb == "EHLO" {
                Command::Ehlo(domain.to_string())
            } else {
                Command::Helo(domain.to_string())
            })
        }
        // RFC 5321 §4.1.2: no control character may appear in a path or a parameter (qtextSMTP
        // and quoted-pairSMTP are %d32-126). A CR, LF or NUL inside a quoted local part would
        // otherwise reach Return-Path: and split the header for every later parser.
        "MAIL" | "RCPT" if rest.chars().any(|c| c.is_control()) => Err(ParseError::Syntax(
            "control characters are not allowed in a path or parameter",
        )),
        "MAIL" => {
            let args =
                strip_keyword(rest, "FROM:").ok_or(ParseError::Syntax("expected FROM:<path>"))?;
            let (path, params) = split_path(args)?;
            let from = if path.is_empty() {
                None
            } else {
                Some(parse_path(path)?)
            };
            Ok(Command::Mail {
                from,
                params: mail_params(params)?,
            })
        }
        "RCPT" => {
            let args =
                strip_keyword(rest, "TO:").ok_or(ParseError::Syntax("expected TO:<path>"))?;
            let (path, params) = split_path(args)?;
            // RFC 5321 §4.1.1.3: <Postmaster> without a domain is allowed.
            let to = if path.eq_ignore_ascii_case("postmaster") {
                Path {
                    local: "postmaster".into(),
                    domain: String::new(),
                }
            } else {
                parse_path(path)?
            };
            Ok(Command::Rcpt {
                to,
                params: rcpt_params(params)?,
            })
        }
        "DATA" => no_args(Command::Data),
        "BDAT" => {
            let mut it = rest.split(' ').filter(|s| !s.is_empty());
            let size = it
                .next()
                .filter(|s| s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(ParseError::Syntax("BDAT needs a chunk size"))?;
            let last = match it.next() {
                None => false,
                Some(s) if s.eq_ignore_ascii_case("LAST") => true,
                Some(_) => return Err(ParseError::Syntax("expected LAST")),
            };
            if it.next().is_some() {
                return Err(ParseError::Syntax("too many arguments"));
            }
            Ok(Command::Bdat { size, last })
        }
        // RFC 4468 §3.5: "BURL" SP absolute-URI [SP end-marker].
        "BURL" => {
            let mut it = rest.split(' ').filter(|s| !s.is_empty());
            let url = it
                .next()
                .filter(|u| u.contains(':') && u.bytes().all(|b| b.is_ascii_graphic()))
                .ok_or(ParseError::Syntax("BURL needs an absolute URL"))?;
            let last = match it.next() {
                None => false,
                Some(s) if s.eq_ignore_ascii_case("LAST") => true,
                Some(_) => return Err(ParseError::Syntax("expected LAST")),
            };
            if it.next().is_some() {
                return Err(ParseError::Syntax("too many arguments"));
            }
            Ok(Command::Burl {
                url: url.to_string(),
                last,
            })
        }
        "RSET" => no_args(Command::Rset),
        // RFC 5321 §4.1.1.9: NOOP may carry a string, which is ignored.
        "NOOP" => Ok(Command::Noop),
        "QUIT" => no_args(Command::Quit),
        "VRFY" if !rest.is_empty() => Ok(Command::Vrfy(rest.to_string())),
        "EXPN" if !rest.is_empty() => Ok(Command::Expn(rest.to_string())),
        "VRFY" | "EXPN" => Err(ParseError::Syntax("an argument is required")),
        "HELP" => Ok(Command::Help((!rest.is_empty()).then(|| rest.to_string()))),
        "STARTTLS" => no_args(Command::StartTls),
        "AUTH" => {
            let mut it = rest.split(' ').filter(|s| !s.is_empty());
            let mechanism = it
                .next()
                .ok_or(ParseError::Syntax("AUTH needs a mechanism"))?
                .to_ascii_uppercase();
            let initial = it.next().map(str::to_string);
            if it.next().is_some() {
                return Err(ParseError::Syntax("too many arguments"));
            }
            Ok(Command::Auth { mechanism, initial })
        }
        _ => Err(ParseError::UnknownCommand),
    }
}

/// `FROM:` / `TO:` case-insensitively, tolerating spaces after the colon.
fn strip_keyword<'a>(s: &'a str, kw: &str) -> Option<&'a str> {
    let head = s.get(..kw.len())?;
    head.eq_ignore_ascii_case(kw)
        .then(|| s[kw.len()..].trim_start_matches(' '))
}

/// Splits `<path> params` into the path without brackets and the parameter text.
fn split_path(s: &str) -> Result<(&str, &str), ParseError> {
    let Some(rest) = s.strip_prefix('<') else {
        return Err(ParseError::Syntax("the path must be in angle brackets"));
    };
    // A quoted local part may contain '>'; find the closing bracket outside quotes.
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => {
                let params = &rest[i + 1..];
                if !params.is_empty() && !params.starts_with(' ') {
                    return Err(ParseError::Syntax("expected a space after the path"));
                }
                return Ok((&rest[..i], params.trim_start_matches(' ')));
            }
            _ => {}
        }
    }
    Err(ParseError::Syntax("unterminated path"))
}

/// `[source-route ":"] local-part "@" domain` (RFC 5321 §4.1.2).
fn parse_path(s: &str) -> Result<Path, ParseError> {
    let s = if s.starts_with('@') {
        // Source route: skip through the first ':' (RFC 5321 Appendix C).
        s.split_once(':')
            .map(|(_, m)| m)
            .ok_or(ParseError::BadAddress)?
    } else {
        s
    };
    let at = s.rfind('@').ok_or(ParseError::BadAddress)?;
    let (local, domain) = (&s[..at], &s[at + 1..]);
    if local.is_empty() || local.len() > 256 || domain.is_empty() || domain.len() > MAX_DOMAIN {
        return Err(ParseError::BadAddress);
    }
    if local.starts_with('"') {
        if local.len() < 2 || !local.ends_with('"') {
            return Err(ParseError::BadAddress);
        }
    } else if local
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || "\"(),:;<>@[\\]".contains(c))
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
    {
        return Err(ParseError::BadAddress);
    }
    let domain_ok = if let Some(lit) = domain.strip_prefix('[') {
        lit.ends_with(']') && lit.len() > 1
    } else {
        domain.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
    };
    if !domain_ok {
        return Err(ParseError::BadAddress);
    }
    Ok(Path {
        local: local.to_string(),
        domain: domain.to_string(),
    })
}

/// `keyword["=" value]` pairs separated by spaces.
fn params(s: &str) -> impl Iterator<Item = (String, Option<&str>)> {
    s.split(' ')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_ascii_uppercase(), Some(v)),
            None => (p.to_ascii_uppercase(), None),
        })
}

fn mail_params(s: &str) -> Result<MailParams, ParseError> {
    let mut out = MailParams::default();
    for (k, v) in params(s) {
        match (k.as_str(), v) {
            ("SIZE", Some(v)) => {
                let n = v
                    .parse::<u64>()
                    .ok()
                    .filter(|_| v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or(ParseError::Syntax("SIZE needs a number"))?;
                out.size = Some(n);
            }
            ("BODY", Some(v)) => {
                out.body = Some(match v.to_ascii_uppercase().as_str() {
                    "7BIT" => Body::SevenBit,
                    "8BITMIME" => Body::EightBitMime,
                    "BINARYMIME" => Body::BinaryMime,
                    _ => {
                        return Err(ParseError::Syntax(
                            "BODY must be 7BIT, 8BITMIME or BINARYMIME",
                        ));
                    }
                })
            }
            ("SMTPUTF8", None) => out.smtputf8 = true,
            ("RET", Some(v)) => {
                out.ret = Some(match v.to_ascii_uppercase().as_str() {
                    "FULL" => Ret::Full,
                    "HDRS" => Ret::Hdrs,
                    _ => return Err(ParseError::Syntax("RET must be FULL or HDRS")),
                })
            }
            ("ENVID", Some(v)) => {
                let id = xtext_decode(v).ok_or(ParseError::Syntax("ENVID is not xtext"))?;
                if id.len() > 100 {
                    return Err(ParseError::Syntax("ENVID is too long"));
                }
                out.envid = Some(id);
            }
            ("AUTH", Some(v)) => out.auth = Some(v.to_string()),
            _ => return Err(ParseError::UnknownParameter(k)),
        }
    }
    Ok(out)
}

fn rcpt_params(s: &str) -> Result<RcptParams, ParseError> {
    let mut out = RcptParams::default();
    for (k, v) in params(s) {
        match (k.as_str(), v) {
            ("NOTIFY", Some(v)) => {
                let items: Vec<String> = v.split(',').map(|s| s.to_ascii_uppercase()).collect();
                let valid = if items.iter().any(|i| i == "NEVER") {
                    items.len() == 1
                } else {
                    items
                        .iter()
                        .all(|i| matches!(i.as_str(), "SUCCESS" | "FAILURE" | "DELAY"))
                };
                if !valid {
                    return Err(ParseError::Syntax(
                        "NOTIFY must be NEVER or a list of SUCCESS, FAILURE, DELAY",
                    ));
                }
                out.notify = Some(items);
            }
            ("ORCPT", Some(v)) => {
                let (kind, addr) = v
                    .split_once(';')
                    .ok_or(ParseError::Syntax("ORCPT must be addr-type;address"))?;
                let addr = xtext_decode(addr).ok_or(ParseError::Syntax("ORCPT is not xtext"))?;
                out.orcpt = Some((kind.to_string(), addr));
            }
            _ => return Err(ParseError::UnknownParameter(k)),
        }
    }
    Ok(out)
}

/// RFC 3461 §4: xtext (`+HH` for `+`, `=`, and bytes outside `!`..`~`).
pub fn xtext_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (33..=126).contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// Decodes RFC 3461 §4 xtext (`+XX` hex escapes).
pub fn xtext_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            c if (b'!'..=b'~').contains(&c) && c != b'=' => {
                out.push(c);
                i += 1;
            }
            // RFC 6533 utf-8-xtext: tolerate raw UTF-8.
            c if c >= 0x80 => {
                out.push(c);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Command, ParseError> {
        parse_command(s.as_bytes())
    }

    fn path(l: &str, d: &str) -> Path {
        Path {
            local: l.into(),
            domain: d.into(),
        }
    }

    #[test]
    fn simple_commands() {
        assert_eq!(
            p("EHLO client.example"),
            Ok(Command::Ehlo("client.example".into()))
        );
        assert_eq!(
            p("ehlo [192.0.2.1]"),
            Ok(Command::Ehlo("[192.0.2.1]".into()))
        );
        assert_eq!(p("HELO x"), Ok(Command::Helo("x".into())));
        assert_eq!(p("DATA"), Ok(Command::Data));
        assert_eq!(p("data "), Ok(Command::Data));
        assert_eq!(p("RSET"), Ok(Command::Rset));
        assert_eq!(p("NOOP hello"), Ok(Command::Noop));
        assert_eq!(p("QUIT"), Ok(Command::Quit));
        assert_eq!(p("STARTTLS"), Ok(Command::StartTls));
        assert_eq!(p("HELP"), Ok(Command::Help(None)));
        assert_eq!(p("HELP MAIL"), Ok(Command::Help(Some("MAIL".into()))));
        assert_eq!(p("VRFY root"), Ok(Command::Vrfy("root".into())));
        assert_eq!(
            p("BDAT 100 LAST"),
            Ok(Command::Bdat {
                size: 100,
                last: true
            })
        );
        assert_eq!(
            p("BDAT 0"),
            Ok(Command::Bdat {
                size: 0,
                last: false
            })
        );
        assert_eq!(
            p("AUTH plain AGEAYg=="),
            Ok(Command::Auth {
                mechanism: "PLAIN".into(),
                initial: Some("AGEAYg==".into())
            })
        );
    }

    #[test]
    fn errors() {
        assert_eq!(p("FOO"), Err(ParseError::UnknownCommand));
        assert_eq!(p(""), Err(ParseError::UnknownCommand));
        assert!(matches!(p("EHLO"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("DATA x"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("BDAT"), Err(ParseError::Syntax(_))));
        assert_eq!(
            p("burl imap://a@b/INBOX/;UID=1;URLAUTH=submit+a last"),
            Ok(Command::Burl {
                url: "imap://a@b/INBOX/;UID=1;URLAUTH=submit+a".into(),
                last: true
            })
        );
        assert_eq!(
            p("BURL imap://h/x/;UID=2"),
            Ok(Command::Burl {
                url: "imap://h/x/;UID=2".into(),
                last: false
            })
        );
        for bad in [
            "BURL",
            "BURL nocolon",
            "BURL imap://h/x FIRST",
            "BURL u:1 LAST x",
        ] {
            assert!(matches!(p(bad), Err(ParseError::Syntax(_))), "{bad}");
        }
        assert!(matches!(p("BDAT -1"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("BDAT 1 FIRST"), Err(ParseError::Syntax(_))));
        assert!(matches!(
            p("BDAT 99999999999999999999999"),
            Err(ParseError::Syntax(_))
        ));
        assert!(matches!(p("MAIL TO:<a@b>"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("MAIL FROM:a@b"), Err(ParseError::Syntax(_))));
        assert!(matches!(p("MAIL FROM:<a@b"), Err(ParseError::Syntax(_))));
        assert_eq!(p("MAIL FROM:<ab>"), Err(ParseError::BadAddress));
        assert_eq!(p("RCPT TO:<a b@c>"), Err(ParseError::BadAddress));
        assert_eq!(p("RCPT TO:<a@b..c>"), Err(ParseError::BadAddress));
        assert_eq!(
            p("MAIL FROM:<a@b> FOO=1"),
            Err(ParseError::UnknownParameter("FOO".into()))
        );
        assert!(parse_command(b"EHLO \xff").is_err());
    }

    /// CR, LF and NUL anywhere in a path or parameter, and over-long EHLO/HELO names, are
    /// syntax errors (501 5.5.4), never an address that reaches a header.
    #[test]
    fn control_characters_and_long_names_are_refused() {
        for line in [
            "MAIL FROM:<\"a\rb\"@example.org>",
            "MAIL FROM:<\"a\nb\"@example.org>",
            "MAIL FROM:<\"a\0b\"@example.org>",
            "MAIL FROM:<\"a\\\rb\"@example.org>",
            "RCPT TO:<a@[127.0.0.1\r]>",
            "RCPT TO:<a@b.c> ORCPT=rfc822;x\ry",
            "MAIL FROM:<a@b.c> ENVID=x\u{0}y",
        ] {
            assert!(
                matches!(p(line), Err(ParseError::Syntax(_))),
                "{line:?}: {:?}",
                p(line)
            );
        }
        let long = "a".repeat(256);
        assert!(matches!(
            p(&format!("EHLO {long}")),
            Err(ParseError::Syntax(_))
        ));
        assert!(matches!(
            p(&format!("HELO {long}")),
            Err(ParseError::Syntax(_))
        ));
        let ok = format!("{}.example", "a".repeat(63));
        assert_eq!(p(&format!("EHLO {ok}")), Ok(Command::Ehlo(ok.clone())));
        assert!(p("MAIL FROM:<\"a b\"@example.org>").is_ok());
    }

    #[test]
    fn mail_from() {
        assert_eq!(
            p("MAIL FROM:<>"),
            Ok(Command::Mail {
                from: None,
                params: MailParams::default()
            })
        );
        let Ok(Command::Mail { from, params }) = p(
            "mail from: <Ivan@Example.org> SIZE=1000 BODY=8bitmime SMTPUTF8 RET=HDRS ENVID=QQ+2B1 AUTH=<>",
        ) else {
            panic!()
        };
        assert_eq!(from, Some(path("Ivan", "Example.org")));
        assert_eq!(params.size, Some(1000));
        assert_eq!(params.body, Some(Body::EightBitMime));
        assert!(params.smtputf8);
        assert_eq!(params.ret, Some(Ret::Hdrs));
        assert_eq!(params.envid.as_deref(), Some("QQ+1"));
        assert_eq!(
            p("MAIL FROM:<@relay.example:a@b.example>"),
            Ok(Command::Mail {
                from: Some(path("a", "b.example")),
                params: MailParams::default()
            })
        );
    }

    #[test]
    fn rcpt_to() {
        assert_eq!(
            p("RCPT TO:<\"odd>name\"@example.org>"),
            Ok(Command::Rcpt {
                to: path("\"odd>name\"", "example.org"),
                params: RcptParams::default()
            })
        );
        assert_eq!(
            p("RCPT TO:<Postmaster>"),
            Ok(Command::Rcpt {
                to: path("postmaster", ""),
                params: RcptParams::default()
            })
        );
        let Ok(Command::Rcpt { to, params }) =
            p("RCPT TO:<иван@почта.испытание> NOTIFY=success,delay ORCPT=rfc822;a+40b")
        else {
            panic!()
        };
        assert!(!to.is_ascii());
        assert_eq!(params.notify, Some(vec!["SUCCESS".into(), "DELAY".into()]));
        assert_eq!(params.orcpt, Some(("rfc822".into(), "a@b".into())));
        assert!(p("RCPT TO:<a@b> NOTIFY=NEVER,SUCCESS").is_err());
    }

    #[test]
    fn xtext() {
        assert_eq!(xtext_decode("a+2Bb+3D"), Some("a+b=".into()));
        assert_eq!(xtext_decode("a+2"), None);
        assert_eq!(xtext_decode("a=b"), None);
    }

    #[test]
    fn xtext_encodes_plus_equals_and_controls() {
        assert_eq!(xtext_encode("a+b=c d"), "a+2Bb+3Dc+20d");
        assert_eq!(xtext_encode("rfc822"), "rfc822");
    }
}
