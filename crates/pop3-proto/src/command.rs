//! POP3 commands (RFC 1939 §§4–7, RFC 2449, RFC 5034, RFC 2595): parsed by the server
//! ([`parse`]), encoded by the client ([`Command::encode`]).
//!
//! Implementation notes:
//! - Input is one framed line without CRLF. Keywords are case-insensitive (RFC 1939 §3);
//!   arguments are separated by spaces. We tolerate several spaces and trailing spaces.
//! - `PASS` takes the rest of the line verbatim, spaces included (RFC 1939 §7 notes that
//!   servers may accept passwords with spaces); everything else is split on spaces.
//! - Message numbers are `1*DIGIT` without sign, fitting `u32`; `0` is rejected here since no
//!   message has it (RFC 1939 §3: messages are numbered from 1).
//! - `AUTH` without a mechanism is accepted: many clients (and RFC 5034's predecessors) use it
//!   to list mechanisms.
//! - Errors carry a human reason for the `-ERR` line; the session decides the reply format.

use pochta_types::Secret;

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(Secret<String>),
    Apop {
        name: String,
        digest: String,
    },
    /// `AUTH [mechanism [initial-response]]` (RFC 5034 §4).
    Auth {
        mechanism: Option<String>,
        initial: Option<String>,
    },
    Stls,
    Capa,
    Quit,
    Stat,
    List(Option<u32>),
    Retr(u32),
    Dele(u32),
    Noop,
    Rset,
    Top {
        msg: u32,
        lines: u32,
    },
    Uidl(Option<u32>),
}

impl Command {
    /// The keyword, for logs and replies.
    pub fn name(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Apop { .. } => "APOP",
            Command::Auth { .. } => "AUTH",
            Command::Stls => "STLS",
            Command::Capa => "CAPA",
            Command::Quit => "QUIT",
            Command::Stat => "STAT",
            Command::List(_) => "LIST",
            Command::Retr(_) => "RETR",
            Command::Dele(_) => "DELE",
            Command::Noop => "NOOP",
            Command::Rset => "RSET",
            Command::Top { .. } => "TOP",
            Command::Uidl(_) => "UIDL",
        }
    }
}

/// Why a command cannot be encoded as one line that parses back to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeError {
    pub command: &'static str,
    pub reason: &'static str,
}

impl std::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot send {}: {}", self.command, self.reason)
    }
}

impl std::error::Error for EncodeError {}

impl Command {
    /// The command as a line, CRLF included. Refused: an argument with CR, LF or NUL (it
    /// would end the line early), an empty or space-holding argument where the grammar has
    /// one word, message number 0, and an AUTH initial response without a mechanism.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let name = self.name();
        let fail = |reason| EncodeError {
            command: name,
            reason,
        };
        let word = |w: &str| -> Result<(), EncodeError> {
            if w.is_empty() {
                Err(fail("empty argument"))
            } else if w.bytes().any(|b| matches!(b, b' ' | b'\r' | b'\n' | 0)) {
                Err(fail("argument holds a space, CR, LF or NUL"))
            } else {
                Ok(())
            }
        };
        let number = |n: u32| -> Result<u32, EncodeError> {
            if n == 0 {
                Err(fail("message numbers start at 1"))
            } else {
                Ok(n)
            }
        };
        let mut line = String::from(name);
        let mut arg = |a: &str| {
            line.push(' ');
            line.push_str(a);
        };
        match self {
            Command::User(u) => {
                word(u)?;
                arg(u);
            }
            Command::Pass(p) => {
                let p = p.expose();
                if p.is_empty() {
                    return Err(fail("empty password"));
                }
                if p.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
                    return Err(fail("password holds CR, LF or NUL"));
                }
                arg(p);
            }
            Command::Apop { name, digest } => {
                word(name)?;
                word(digest)?;
                arg(name);
                arg(digest);
            }
            Command::Auth { mechanism, initial } => match (mechanism, initial) {
                (None, None) => {}
                (None, Some(_)) => return Err(fail("initial response without a mechanism")),
                (Some(m), i) => {
                    word(m)?;
                    arg(m);
                    if let Some(i) = i {
                        word(i)?;
                        arg(i);
                    }
                }
            },
            Command::List(n) | Command::Uidl(n) => {
                if let Some(n) = n {
                    arg(&number(*n)?.to_string());
                }
            }
            Command::Retr(n) | Command::Dele(n) => arg(&number(*n)?.to_string()),
            Command::Top { msg, lines } => {
                arg(&number(*msg)?.to_string());
                arg(&lines.to_string());
            }
            Command::Stls
            | Command::Capa
            | Command::Quit
            | Command::Stat
            | Command::Noop
            | Command::Rset => {}
        }
        line.push_str("\r\n");
        Ok(line.into_bytes())
    }
}

/// Why a line is not a valid command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    Empty,
    /// Not a POP3 command we know (the keyword, lossily decoded, at most 40 chars).
    Unknown(String),
    /// A known command with wrong arguments.
    Args {
        command: &'static str,
        reason: &'static str,
    },
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Empty => write!(f, "Empty command"),
            ParseError::Unknown(k) => write!(f, "Unknown command {k}"),
            ParseError::Args { command, reason } => write!(f, "{command}: {reason}"),
        }
    }
}

fn args_err(command: &'static str, reason: &'static str) -> ParseError {
    ParseError::Args { command, reason }
}

/// Parses one line (without CRLF).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let keyword_end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
    let keyword = &line[..keyword_end];
    if keyword.is_empty() && line.iter().all(|&b| b == b' ') {
        return Err(ParseError::Empty);
    }
    let rest = line.get(keyword_end + 1..).unwrap_or(&[]);
    let upper = keyword.to_ascii_uppercase();
    let name: &'static str = match upper.as_slice() {
        b"USER" => "USER",
        b"PASS" => "PASS",
        b"APOP" => "APOP",
        b"AUTH" => "AUTH",
        b"STLS" => "STLS",
        b"CAPA" => "CAPA",
        b"QUIT" => "QUIT",
        b"STAT" => "STAT",
        b"LIST" => "LIST",
        b"RETR" => "RETR",
        b"DELE" => "DELE",
        b"NOOP" => "NOOP",
        b"RSET" => "RSET",
        b"TOP" => "TOP",
        b"UIDL" => "UIDL",
        _ => {
            let shown: String = String::from_utf8_lossy(keyword)
                .chars()
                .filter(|c| !c.is_control())
                .take(40)
                .collect();
            return Err(ParseError::Unknown(shown));
        }
    };
    if name == "PASS" {
        // The password is the rest of the line, verbatim.
        if rest.is_empty() {
            return Err(args_err(name, "a password is required"));
        }
        let pw = std::str::from_utf8(rest).map_err(|_| args_err(name, "password is not UTF-8"))?;
        return Ok(Command::Pass(Secret::new(pw.to_owned())));
    }
    let args: Vec<&[u8]> = rest
        .split(|&b| b == b' ')
        .filter(|a| !a.is_empty())
        .collect();
    let text = |a: &[u8]| -> Result<String, ParseError> {
        std::str::from_utf8(a)
            .map(str::to_owned)
            .map_err(|_| args_err(name, "argument is not UTF-8"))
    };
    let num = |a: &[u8]| -> Result<u32, ParseError> {
        message_number(a).ok_or(args_err(name, "invalid message number"))
    };
    let cmd = match (name, args.as_slice()) {
        ("USER", [user]) => Command::User(text(user)?),
        ("USER", _) => return Err(args_err(name, "expected USER name")),
        ("APOP", [n, d]) => Command::Apop {
            name: text(n)?,
            digest: text(d)?,
        },
        ("APOP", _) => return Err(args_err(name, "expected APOP name digest")),
        ("AUTH", []) => Command::Auth {
            mechanism: None,
            initial: None,
        },
        ("AUTH", [m]) => Command::Auth {
            mechanism: Some(text(m)?),
            initial: None,
        },
        ("AUTH", [m, i]) => Command::Auth {
            mechanism: Some(text(m)?),
            initial: Some(text(i)?),
        },
        ("AUTH", _) => return Err(args_err(name, "expected AUTH mechanism [initial-response]")),
        ("STLS", []) => Command::Stls,
        ("CAPA", []) => Command::Capa,
        ("QUIT", []) => Command::Quit,
        ("STAT", []) => Command::Stat,
        ("NOOP", []) => Command::Noop,
        ("RSET", []) => Command::Rset,
        ("STLS" | "CAPA" | "QUIT" | "STAT" | "NOOP" | "RSET", _) => {
            return Err(args_err(name, "takes no arguments"));
        }
        ("LIST", []) => Command::List(None),
        ("LIST", [n]) => Command::List(Some(num(n)?)),
        ("UIDL", []) => Command::Uidl(None),
        ("UIDL", [n]) => Command::Uidl(Some(num(n)?)),
        ("LIST" | "UIDL", _) => return Err(args_err(name, "expected at most one message number")),
        ("RETR", [n]) => Command::Retr(num(n)?),
        ("DELE", [n]) => Command::Dele(num(n)?),
        ("RETR" | "DELE", _) => return Err(args_err(name, "expected one message number")),
        ("TOP", [n, l]) => Command::Top {
            msg: num(n)?,
            lines: line_count(l).ok_or(args_err(name, "invalid number of lines"))?,
        },
        ("TOP", _) => return Err(args_err(name, "expected TOP message-number lines")),
        _ => return Err(ParseError::Unknown(name.to_owned())),
    };
    Ok(cmd)
}

fn digits(a: &[u8]) -> Option<u32> {
    if a.is_empty() || a.len() > 10 || !a.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(a).ok()?.parse().ok()
}

/// `msg = 1*DIGIT`, not zero.
fn message_number(a: &[u8]) -> Option<u32> {
    digits(a).filter(|&n| n > 0)
}

/// TOP's line count: any non-negative number (`TOP n 0` sends only the header).
fn line_count(a: &[u8]) -> Option<u32> {
    digits(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> Command {
        parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    #[test]
    fn known_answers() {
        assert_eq!(ok("USER a@b.org"), Command::User("a@b.org".into()));
        assert_eq!(ok("user  a@b.org "), Command::User("a@b.org".into()));
        assert_eq!(
            ok("PASS pass word "),
            Command::Pass(Secret::new("pass word ".into()))
        );
        assert_eq!(ok("stat"), Command::Stat);
        assert_eq!(ok("LIST"), Command::List(None));
        assert_eq!(ok("LIST 2"), Command::List(Some(2)));
        assert_eq!(ok("RETR 10"), Command::Retr(10));
        assert_eq!(ok("DELE 1"), Command::Dele(1));
        assert_eq!(ok("TOP 1 0"), Command::Top { msg: 1, lines: 0 });
        assert_eq!(ok("Uidl"), Command::Uidl(None));
        assert_eq!(ok("UIDL 4294967295"), Command::Uidl(Some(u32::MAX)));
        assert_eq!(ok("NOOP"), Command::Noop);
        assert_eq!(ok("RSET"), Command::Rset);
        assert_eq!(ok("QUIT"), Command::Quit);
        assert_eq!(ok("CAPA"), Command::Capa);
        assert_eq!(ok("STLS"), Command::Stls);
        assert_eq!(
            ok("APOP mrose c4c9334bac560ecc979e58001b3e22fb"),
            Command::Apop {
                name: "mrose".into(),
                digest: "c4c9334bac560ecc979e58001b3e22fb".into()
            }
        );
        assert_eq!(
            ok("AUTH"),
            Command::Auth {
                mechanism: None,
                initial: None
            }
        );
        assert_eq!(
            ok("AUTH PLAIN AGEAYg=="),
            Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: Some("AGEAYg==".into())
            }
        );
        assert_eq!(
            ok("AUTH PLAIN ="),
            Command::Auth {
                mechanism: Some("PLAIN".into()),
                initial: Some("=".into())
            }
        );
    }

    #[test]
    fn errors() {
        let bad: &[(&str, ParseError)] = &[
            ("", ParseError::Empty),
            ("   ", ParseError::Empty),
            ("HELO x", ParseError::Unknown("HELO".into())),
            ("RETRX 1", ParseError::Unknown("RETRX".into())),
            ("RETR", args_err("RETR", "expected one message number")),
            ("RETR 0", args_err("RETR", "invalid message number")),
            ("RETR -1", args_err("RETR", "invalid message number")),
            ("RETR +1", args_err("RETR", "invalid message number")),
            ("RETR 1x", args_err("RETR", "invalid message number")),
            (
                "RETR 4294967296",
                args_err("RETR", "invalid message number"),
            ),
            ("RETR 1 2", args_err("RETR", "expected one message number")),
            (
                "LIST 1 2",
                args_err("LIST", "expected at most one message number"),
            ),
            (
                "TOP 1",
                args_err("TOP", "expected TOP message-number lines"),
            ),
            ("TOP 1 x", args_err("TOP", "invalid number of lines")),
            ("STAT 1", args_err("STAT", "takes no arguments")),
            ("QUIT now", args_err("QUIT", "takes no arguments")),
            ("PASS", args_err("PASS", "a password is required")),
            ("USER", args_err("USER", "expected USER name")),
            ("USER a b", args_err("USER", "expected USER name")),
            (
                "AUTH A B C",
                args_err("AUTH", "expected AUTH mechanism [initial-response]"),
            ),
        ];
        for (input, want) in bad {
            assert_eq!(parse(input.as_bytes()).as_ref(), Err(want), "{input:?}");
        }
        assert!(matches!(parse(b"\xff\xfe"), Err(ParseError::Unknown(_))));
        assert!(matches!(parse(b"USER \xff"), Err(ParseError::Args { .. })));
    }

    #[test]
    fn never_panics_on_noise() {
        let mut seed: u32 = 7;
        for _ in 0..20_000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let len = (seed >> 24) as usize % 24;
            let line: Vec<u8> = (0..len)
                .map(|i| {
                    let pool = b"RETRLISTUIDLTOP 0123456789 \xff.";
                    pool[(seed as usize >> (i % 16)) % pool.len()]
                })
                .collect();
            let _ = parse(&line);
        }
    }
}
