//! The client's command encoder: tag + [`ClientCommand`] → wire bytes, in parts split where a
//! synchronizing literal makes the client wait for the server's `+` (RFC 9051 §4.3, §7.5).
//!
//! Implementation notes:
//! - Commands with no mailbox name are the server parser's own [`CommandBody`] values, encoded
//!   by [`crate::encode`]; so what the client sends and what the server parses are one grammar
//!   (the round-trip tests feed every encoding back to [`crate::parse_command`]).
//! - Mailbox names travel as [`WireName`]: the bytes the server uses for the name — modified
//!   UTF-7 (RFC 3501 §5.1.3) unless UTF8=ACCEPT is enabled (RFC 9051 §6.3.1 / RFC 6855 §3).
//!   A name taken from a LIST answer is sent back byte for byte, so a remote name that is not
//!   a valid Pochta [`pochta_types::MailboxName`] (a `%` in it, an empty level) still works.
//! - Strings are atoms, quoted strings or literals by imap-proto's one quoting rule
//!   ([`crate::encode`]); literals are `{n+}` only when [`EncodeOptions::literal_plus`] is set
//!   (the driver sets it for LITERAL+, and for LITERAL- when every literal is ≤ 4096 bytes,
//!   RFC 7888 §5).
//! - Nothing here does I/O; the caller owns tags ([`Tags`]) and the socket.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::command::{Command, CommandBody};
use crate::core::{DateTime, Tag};
use crate::encode::{
    EncodeOptions, split_parts, write_astring, write_list_mailbox, write_literal, write_string,
};
use crate::fetch::{Fetch, FetchAttr};
use crate::list::{ListReturn, Lsub};
use crate::search::Search;
use crate::sequence::SequenceSet;
use crate::status::StatusItem;
use crate::store::Store;
use pochta_types::{Flag, MailboxName, Secret, mutf7};

/// A mailbox name as the server spells it on the wire (see the module notes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WireName(Vec<u8>);

impl WireName {
    /// The bytes exactly as given (a name from a LIST answer, or a pattern such as `*`).
    pub fn raw(bytes: impl Into<Vec<u8>>) -> Self {
        WireName(bytes.into())
    }

    /// A Unicode name: modified UTF-7 unless `utf8` (UTF8=ACCEPT is enabled).
    pub fn encode(name: &str, utf8: bool) -> Self {
        if utf8 {
            WireName(name.as_bytes().to_vec())
        } else {
            WireName(mutf7::encode(name).into_bytes())
        }
    }

    /// A Pochta mailbox name ([`WireName::encode`]).
    pub fn from_mailbox(name: &MailboxName, utf8: bool) -> Self {
        Self::encode(name.as_str(), utf8)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The name as Unicode: decoded from modified UTF-7 unless `utf8`.
    pub fn decode(&self, utf8: bool) -> Option<String> {
        let s = std::str::from_utf8(&self.0).ok()?;
        if utf8 {
            Some(s.to_owned())
        } else {
            mutf7::decode(s).ok()
        }
    }
}

/// A SASL mechanism's first message (RFC 9051 §6.2.2, RFC 4959 SASL-IR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaslInitial {
    /// PLAIN (RFC 4616): `authzid NUL authcid NUL passwd`, authzid empty.
    Plain {
        user: String,
        password: Secret<String>,
    },
    /// XOAUTH2 (Google/Microsoft): `user=… ^A auth=Bearer … ^A ^A`.
    XOAuth2 { user: String, token: Secret<String> },
    /// OAUTHBEARER (RFC 7628 §3.1): a GS2 header naming the user, then
    /// `^A auth=Bearer … ^A ^A`.
    OAuthBearer { user: String, token: Secret<String> },
}

impl SaslInitial {
    pub fn mechanism(&self) -> &'static str {
        match self {
            SaslInitial::Plain { .. } => "PLAIN",
            SaslInitial::XOAuth2 { .. } => "XOAUTH2",
            SaslInitial::OAuthBearer { .. } => "OAUTHBEARER",
        }
    }

    /// What the client answers to a further challenge, which these one-message mechanisms
    /// get only as error details: an empty response (XOAUTH2, RFC 9051 §6.2.2), or `%x01`
    /// for OAUTHBEARER (RFC 7628 §3.2.3); the server then fails the exchange.
    pub fn abort_response(&self) -> Vec<u8> {
        match self {
            SaslInitial::OAuthBearer { .. } => B64.encode([1u8]).into_bytes(),
            _ => Vec::new(),
        }
    }

    /// The first client message, base64-encoded (what goes on the wire).
    pub fn encoded(&self) -> Secret<Vec<u8>> {
        let raw = match self {
            SaslInitial::Plain { user, password } => {
                format!("\0{user}\0{}", password.expose())
            }
            SaslInitial::XOAuth2 { user, token } => {
                format!("user={user}\x01auth=Bearer {}\x01\x01", token.expose())
            }
            SaslInitial::OAuthBearer { user, token } => {
                // RFC 5801 §4 saslname: '=' and ',' escaped.
                let name = user.replace('=', "=3D").replace(',', "=2C");
                format!("n,a={name},\x01auth=Bearer {}\x01\x01", token.expose())
            }
        };
        Secret::new(B64.encode(raw).into_bytes())
    }
}

/// A command the client sends. Mailbox-free commands reuse the server's [`CommandBody`]
/// types; the others carry [`WireName`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCommand {
    Capability,
    Noop,
    Logout,
    StartTls,
    Namespace,
    Idle,
    Close,
    Unselect,
    Expunge,
    Login {
        user: Vec<u8>,
        password: Secret<Vec<u8>>,
    },
    /// AUTHENTICATE; with `initial_response` when the server has SASL-IR (RFC 4959), else the
    /// driver sends [`SaslInitial::encoded`] after the first `+`.
    Authenticate {
        mechanism: String,
        initial_response: Option<Secret<Vec<u8>>>,
    },
    Enable(Vec<String>),
    Select {
        mailbox: WireName,
        condstore: bool,
    },
    Examine {
        mailbox: WireName,
        condstore: bool,
    },
    Create(WireName),
    Delete(WireName),
    /// `LIST reference pattern [RETURN (…)]` (RFC 9051 §6.3.9, RFC 5258, RFC 6154 §5.1).
    List {
        reference: WireName,
        pattern: WireName,
        returns: Vec<ListReturn>,
    },
    Lsub {
        reference: WireName,
        pattern: WireName,
    },
    Status {
        mailbox: WireName,
        items: Vec<StatusItem>,
    },
    /// APPEND one message (RFC 9051 §6.3.12).
    Append {
        mailbox: WireName,
        flags: Vec<Flag>,
        date: Option<DateTime>,
        message: Vec<u8>,
    },
    Fetch(Fetch),
    Search(Search),
    Store(Store),
}

impl ClientCommand {
    /// `UID FETCH set (attrs)` with an optional `(CHANGEDSINCE m)` (RFC 7162 §3.1.4).
    pub fn uid_fetch(set: SequenceSet, attrs: Vec<FetchAttr>, changed_since: Option<u64>) -> Self {
        ClientCommand::Fetch(Fetch {
            uid: true,
            set,
            attrs,
            changed_since,
            vanished: false,
            partial: None,
        })
    }

    /// `UID FETCH set items` from text, read by the server's own parser (so only what the
    /// grammar allows gets through), e.g. `("1:*", "(UID RFC822.SIZE)")` or
    /// `("1:9", "(UID FLAGS) (CHANGEDSINCE 7)")`.
    pub fn uid_fetch_text(set: &str, items: &str) -> Result<Self, crate::ParseError> {
        Self::parse(&format!("UID FETCH {set} {items}"), false)
    }

    /// A command from its text without tag (`SELECT INBOX`, `UID STORE 1 +FLAGS (\\Seen)`),
    /// read by the server's own parser; mailbox names become [`WireName`]s again (modified
    /// UTF-7 unless `utf8`). Commands that carry a literal cannot be written on one line; use
    /// the typed variants.
    pub fn parse(text: &str, utf8: bool) -> Result<Self, crate::ParseError> {
        let line = format!("T {text}\r\n");
        let cmd = crate::parse_command(line.as_bytes(), crate::ParseOptions { utf8_accept: utf8 })?;
        let unsupported = || crate::ParseError {
            tag: Some(cmd.tag.clone()),
            kind: crate::ParseErrorKind::Syntax,
            message: format!("{} is not a client command here", cmd.body.name()),
        };
        let name = |m: &MailboxName| WireName::from_mailbox(m, utf8);
        use ClientCommand as C;
        use CommandBody as B;
        Ok(match &cmd.body {
            B::Select(s) if s.qresync.is_none() => C::Select {
                mailbox: name(&s.mailbox),
                condstore: s.condstore,
            },
            B::Examine(s) if s.qresync.is_none() => C::Examine {
                mailbox: name(&s.mailbox),
                condstore: s.condstore,
            },
            B::Create(c) if c.special_use.is_empty() => C::Create(name(&c.mailbox)),
            B::Delete(m) => C::Delete(name(m)),
            B::Status(st) => C::Status {
                mailbox: name(&st.mailbox),
                items: st.items.clone(),
            },
            B::List(l) if l.selection.is_empty() && l.patterns.len() == 1 => C::List {
                reference: WireName::encode(&l.reference, utf8),
                pattern: WireName::encode(&l.patterns[0], utf8),
                returns: l.returns.clone(),
            },
            B::Lsub(Lsub {
                reference,
                pattern: Some(pattern),
            }) => C::Lsub {
                reference: WireName::encode(reference, utf8),
                pattern: WireName::encode(pattern, utf8),
            },
            body => {
                let c = C::from_body(body.clone()).ok_or_else(unsupported)?;
                if c.body().is_none() {
                    return Err(unsupported());
                }
                c
            }
        })
    }

    /// The mailbox-free bodies this client sends.
    fn from_body(body: CommandBody) -> Option<Self> {
        use ClientCommand as C;
        use CommandBody as B;
        Some(match body {
            B::Capability => C::Capability,
            B::Noop => C::Noop,
            B::Logout => C::Logout,
            B::StartTls => C::StartTls,
            B::Namespace => C::Namespace,
            B::Idle => C::Idle,
            B::Close => C::Close,
            B::Unselect => C::Unselect,
            B::Expunge => C::Expunge,
            B::Login(l) => C::Login {
                user: l.username,
                password: l.password,
            },
            B::Enable(caps) => C::Enable(caps),
            B::Fetch(f) => C::Fetch(f),
            B::Search(s) => C::Search(s),
            B::Store(s) => C::Store(s),
            _ => return None,
        })
    }

    /// The command's name as written on the wire.
    pub fn name(&self) -> &'static str {
        use ClientCommand as C;
        match self {
            C::Select { .. } => "SELECT",
            C::Examine { .. } => "EXAMINE",
            C::Create(_) => "CREATE",
            C::Delete(_) => "DELETE",
            C::List { .. } => "LIST",
            C::Lsub { .. } => "LSUB",
            C::Status { .. } => "STATUS",
            C::Append { .. } => "APPEND",
            other => other.body().map_or("?", |b| b.name()),
        }
    }

    /// The server-side body for the mailbox-free commands.
    fn body(&self) -> Option<CommandBody> {
        use ClientCommand as C;
        use CommandBody as B;
        Some(match self {
            C::Capability => B::Capability,
            C::Noop => B::Noop,
            C::Logout => B::Logout,
            C::StartTls => B::StartTls,
            C::Namespace => B::Namespace,
            C::Idle => B::Idle,
            C::Close => B::Close,
            C::Unselect => B::Unselect,
            C::Expunge => B::Expunge,
            C::Login { user, password } => B::Login(crate::login::Login {
                username: user.clone(),
                password: Secret::new(password.expose().clone()),
            }),
            C::Authenticate {
                mechanism,
                initial_response,
            } => B::Authenticate(crate::login::Authenticate {
                mechanism: mechanism.to_ascii_uppercase(),
                initial_response: initial_response
                    .as_ref()
                    .map(|r| Secret::new(r.expose().clone())),
            }),
            C::Enable(caps) => B::Enable(caps.clone()),
            C::Fetch(f) => B::Fetch(f.clone()),
            C::Search(s) => B::Search(s.clone()),
            C::Store(s) => B::Store(s.clone()),
            _ => return None,
        })
    }

    /// Encodes with `tag`, split at synchronizing literals (one part with LITERAL+).
    pub fn encode(&self, tag: &Tag, opts: EncodeOptions) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        self.encode_into(tag, &mut out, opts);
        split_parts(out, opts)
    }

    /// Encodes with `tag` as one buffer (for a server that takes `{n+}`, or for tests).
    pub fn encode_into(&self, tag: &Tag, out: &mut Vec<u8>, opts: EncodeOptions) {
        if let Some(body) = self.body() {
            let cmd = Command {
                tag: tag.clone(),
                body,
            };
            cmd.encode_into(out, opts);
            return;
        }
        out.extend_from_slice(tag.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.name().as_bytes());
        out.push(b' ');
        use ClientCommand as C;
        match self {
            C::Select { mailbox, condstore } | C::Examine { mailbox, condstore } => {
                write_astring(out, mailbox.as_bytes(), opts);
                if *condstore {
                    out.extend_from_slice(b" (CONDSTORE)");
                }
            }
            C::Create(m) | C::Delete(m) => write_astring(out, m.as_bytes(), opts),
            C::List {
                reference,
                pattern,
                returns,
            } => {
                write_astring(out, reference.as_bytes(), opts);
                out.push(b' ');
                write_list_mailbox(out, pattern.as_bytes(), opts);
                if !returns.is_empty() {
                    out.extend_from_slice(b" RETURN ");
                    paren_list(out, returns, |out, r| match r {
                        ListReturn::Subscribed => out.extend_from_slice(b"SUBSCRIBED"),
                        ListReturn::Children => out.extend_from_slice(b"CHILDREN"),
                        ListReturn::SpecialUse => out.extend_from_slice(b"SPECIAL-USE"),
                        ListReturn::MyRights => out.extend_from_slice(b"MYRIGHTS"),
                        ListReturn::Status(items) => {
                            out.extend_from_slice(b"STATUS ");
                            status_items(out, items);
                        }
                    });
                }
            }
            C::Lsub { reference, pattern } => {
                write_astring(out, reference.as_bytes(), opts);
                out.push(b' ');
                write_list_mailbox(out, pattern.as_bytes(), opts);
            }
            C::Status { mailbox, items } => {
                write_astring(out, mailbox.as_bytes(), opts);
                out.push(b' ');
                status_items(out, items);
            }
            C::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                write_astring(out, mailbox.as_bytes(), opts);
                if !flags.is_empty() {
                    out.push(b' ');
                    paren_list(out, flags, |out, f| {
                        out.extend_from_slice(f.as_str().as_bytes())
                    });
                }
                if let Some(d) = date {
                    out.push(b' ');
                    write_string(out, d.to_string().as_bytes(), opts);
                }
                out.push(b' ');
                write_literal(out, message, false, opts);
            }
            _ => {}
        }
        out.extend_from_slice(b"\r\n");
    }

    /// The largest literal payload this command may carry (for the LITERAL- rule).
    pub fn largest_payload(&self) -> usize {
        match self {
            ClientCommand::Append { message, .. } => message.len(),
            ClientCommand::Login { user, password } => user.len().max(password.expose().len()),
            _ => 0,
        }
    }
}

fn status_items(out: &mut Vec<u8>, items: &[StatusItem]) {
    paren_list(out, items, |out, it| {
        out.extend_from_slice(it.as_str().as_bytes())
    });
}

/// `(a b c)`.
fn paren_list<T>(out: &mut Vec<u8>, items: &[T], mut item: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'(');
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        item(out, it);
    }
    out.push(b')');
}

/// Client tags `C1`, `C2`, … (any tag not reused while its command runs will do, RFC 9051 §2.2.1).
#[derive(Debug, Clone)]
pub struct Tags {
    prefix: &'static str,
    next: u64,
}

impl Default for Tags {
    fn default() -> Self {
        Tags::new("C")
    }
}

impl Tags {
    /// `prefix` must be tag characters (letters and digits will do).
    pub fn new(prefix: &'static str) -> Self {
        Tags { prefix, next: 1 }
    }

    /// The next tag.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Tag {
        let t = format!("{}{}", self.prefix, self.next);
        self.next += 1;
        // A prefix of tag characters followed by digits is a valid tag.
        Tag::new(t.as_bytes()).unwrap_or_else(|| Tag::new(b"C0").expect("C0 is a tag"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{ParseOptions, parse_command};
    use crate::fetch::{Section, SectionText};
    use crate::framer::{Event, Framer};
    use crate::search::SearchKey;
    use crate::store::StoreMode;

    fn tag() -> Tag {
        Tag::new(b"C7").expect("tag")
    }

    /// Encodes, frames with the server's framer (accepting every literal) and parses with the
    /// server's parser.
    fn server_sees(cmd: &ClientCommand, opts: EncodeOptions) -> Command {
        let parts = cmd.encode(&tag(), opts);
        let mut f = Framer::default();
        for p in &parts {
            f.feed(p);
        }
        loop {
            match f.next_event() {
                Some(Event::LiteralAnnounced { .. }) => f.accept_literal(),
                Some(Event::Command(c)) => {
                    return parse_command(
                        &c.bytes,
                        ParseOptions {
                            utf8_accept: opts.utf8,
                        },
                    )
                    .expect("server parses it");
                }
                other => panic!("{other:?} for {parts:?}"),
            }
        }
    }

    fn name(s: &str) -> MailboxName {
        MailboxName::new(s).expect("name")
    }

    #[test]
    fn known_answers() {
        let o = EncodeOptions::default();
        let enc = |c: &ClientCommand, o| {
            c.encode(&tag(), o)
                .into_iter()
                .map(|p| String::from_utf8(p).expect("utf8"))
                .collect::<Vec<_>>()
        };
        assert_eq!(enc(&ClientCommand::Capability, o), ["C7 CAPABILITY\r\n"]);
        assert_eq!(
            enc(
                &ClientCommand::Examine {
                    mailbox: WireName::encode("Входящие", false),
                    condstore: true
                },
                o
            ),
            ["C7 EXAMINE &BBIERQQ+BDQETwRJBDgENQ- (CONDSTORE)\r\n"]
        );
        assert_eq!(
            enc(
                &ClientCommand::List {
                    reference: WireName::raw(""),
                    pattern: WireName::raw("*"),
                    returns: vec![ListReturn::SpecialUse],
                },
                o
            ),
            ["C7 LIST \"\" * RETURN (SPECIAL-USE)\r\n"]
        );
        assert_eq!(
            enc(
                &ClientCommand::Login {
                    user: b"bob".to_vec(),
                    password: Secret::new(b"p\"w d".to_vec())
                },
                o
            ),
            ["C7 LOGIN bob \"p\\\"w d\"\r\n"]
        );
        // A synchronizing literal splits the command; LITERAL+ keeps it whole.
        let append = ClientCommand::Append {
            mailbox: WireName::raw("INBOX"),
            flags: vec![Flag::Seen],
            date: None,
            message: b"Hi\r\n".to_vec(),
        };
        assert_eq!(
            enc(&append, o),
            ["C7 APPEND INBOX (\\Seen) {4}\r\n", "Hi\r\n\r\n"]
        );
        assert_eq!(
            enc(
                &append,
                EncodeOptions {
                    literal_plus: true,
                    ..o
                }
            ),
            ["C7 APPEND INBOX (\\Seen) {4+}\r\nHi\r\n\r\n"]
        );
        let sasl = SaslInitial::Plain {
            user: "bob".into(),
            password: Secret::new("pw".into()),
        };
        assert_eq!(sasl.encoded().expose(), b"AGJvYgBwdw==");
        let auth = ClientCommand::Authenticate {
            mechanism: sasl.mechanism().into(),
            initial_response: Some(sasl.encoded()),
        };
        assert_eq!(enc(&auth, o), ["C7 AUTHENTICATE PLAIN AGJvYgBwdw==\r\n"]);
        let x = SaslInitial::XOAuth2 {
            user: "a@b".into(),
            token: Secret::new("t".into()),
        };
        assert_eq!(
            B64.decode(x.encoded().expose()).expect("b64"),
            b"user=a@b\x01auth=Bearer t\x01\x01"
        );
        let ob = SaslInitial::OAuthBearer {
            user: "a=b,c@d".into(),
            token: Secret::new("t".into()),
        };
        assert_eq!(ob.mechanism(), "OAUTHBEARER");
        assert_eq!(
            B64.decode(ob.encoded().expose()).expect("b64"),
            b"n,a=a=3Db=2Cc@d,\x01auth=Bearer t\x01\x01"
        );
        assert_eq!(ob.abort_response(), b"AQ==");
        assert!(x.abort_response().is_empty());
        // Raw names are sent back byte for byte, `%` included.
        assert_eq!(
            enc(&ClientCommand::Create(WireName::raw("a%b")), o),
            ["C7 CREATE \"a%b\"\r\n"]
        );
    }

    #[test]
    fn round_trips_through_the_server_parser() {
        use CommandBody as B;
        let lp = EncodeOptions {
            literal_plus: true,
            utf8: false,
        };
        for opts in [EncodeOptions::default(), lp] {
            let date = DateTime::new(
                crate::core::Date::new(2024, 1, 2).expect("d"),
                3,
                4,
                5,
                -420,
            )
            .expect("dt");
            let set = SequenceSet::from_pairs([(1, 3), (7, 7)]).expect("set");
            let attrs = vec![
                FetchAttr::Uid,
                FetchAttr::Flags,
                FetchAttr::InternalDate,
                FetchAttr::Rfc822Size,
                FetchAttr::BodySection {
                    peek: true,
                    section: Section::default(),
                    partial: None,
                },
                FetchAttr::BodySection {
                    peek: true,
                    section: Section {
                        part: vec![],
                        text: Some(SectionText::HeaderFields(vec![b"MESSAGE-ID".to_vec()])),
                    },
                    partial: None,
                },
            ];
            let cases: Vec<(ClientCommand, B)> = vec![
                (ClientCommand::Capability, B::Capability),
                (ClientCommand::Logout, B::Logout),
                (ClientCommand::StartTls, B::StartTls),
                (ClientCommand::Namespace, B::Namespace),
                (ClientCommand::Idle, B::Idle),
                (
                    ClientCommand::Enable(vec!["CONDSTORE".into()]),
                    B::Enable(vec!["CONDSTORE".into()]),
                ),
                (
                    ClientCommand::Select {
                        mailbox: WireName::encode("Работа/2024", false),
                        condstore: false,
                    },
                    B::Select(crate::select_examine::Select {
                        mailbox: name("Работа/2024"),
                        condstore: false,
                        qresync: None,
                    }),
                ),
                (
                    ClientCommand::Examine {
                        mailbox: WireName::raw("INBOX"),
                        condstore: true,
                    },
                    B::Examine(crate::select_examine::Select {
                        mailbox: MailboxName::inbox(),
                        condstore: true,
                        qresync: None,
                    }),
                ),
                (
                    ClientCommand::Status {
                        mailbox: WireName::encode("a b", false),
                        items: vec![StatusItem::Messages, StatusItem::UidNext],
                    },
                    B::Status(crate::status::Status {
                        mailbox: name("a b"),
                        items: vec![StatusItem::Messages, StatusItem::UidNext],
                    }),
                ),
                (
                    ClientCommand::Append {
                        mailbox: WireName::encode("Sent", false),
                        flags: vec![Flag::Seen, Flag::Flagged],
                        date: Some(date),
                        message: b"Subject: x\r\n\r\nbody\r\n".to_vec(),
                    },
                    B::Append(crate::append::Append {
                        mailbox: name("Sent"),
                        messages: vec![crate::append::AppendMessage {
                            flags: vec![Flag::Seen, Flag::Flagged],
                            date: Some(date),
                            kind: crate::append::AppendDataKind::Literal,
                            data: b"Subject: x\r\n\r\nbody\r\n".to_vec(),
                            parts: Vec::new(),
                        }],
                    }),
                ),
                (
                    ClientCommand::uid_fetch(set.clone(), attrs.clone(), Some(77)),
                    B::Fetch(Fetch {
                        uid: true,
                        set: set.clone(),
                        attrs: attrs.clone(),
                        changed_since: Some(77),
                        vanished: false,
                        partial: None,
                    }),
                ),
                (
                    ClientCommand::Search(Search {
                        uid: true,
                        returns: None,
                        charset: None,
                        key: SearchKey::Uid(set.clone()),
                    }),
                    B::Search(Search {
                        uid: true,
                        returns: None,
                        charset: None,
                        key: SearchKey::Uid(set.clone()),
                    }),
                ),
                (
                    ClientCommand::Store(Store {
                        uid: true,
                        set: set.clone(),
                        unchanged_since: None,
                        mode: StoreMode::Add,
                        silent: true,
                        flags: vec![Flag::Flagged],
                    }),
                    B::Store(Store {
                        uid: true,
                        set: set.clone(),
                        unchanged_since: None,
                        mode: StoreMode::Add,
                        silent: true,
                        flags: vec![Flag::Flagged],
                    }),
                ),
            ];
            for (cmd, want) in cases {
                let got = server_sees(&cmd, opts);
                assert_eq!(got.tag, tag());
                assert_eq!(got.body, want, "{cmd:?} with {opts:?}");
            }
            // LOGIN: Secret has no PartialEq on purpose; compare the exposed parts.
            let login = ClientCommand::Login {
                user: "бob".as_bytes().to_vec(),
                password: Secret::new(b"with space\r\n\"and\" CRLF".to_vec()),
            };
            let B::Login(l) = server_sees(&login, opts).body else {
                panic!("not LOGIN")
            };
            assert_eq!(l.username, "бob".as_bytes());
            assert_eq!(l.password.expose(), b"with space\r\n\"and\" CRLF");
            // LIST with a Unicode pattern.
            let list = ClientCommand::List {
                reference: WireName::raw(""),
                pattern: WireName::encode("Входящие/*", false),
                returns: vec![ListReturn::SpecialUse],
            };
            let B::List(l) = server_sees(&list, opts).body else {
                panic!("not LIST")
            };
            assert_eq!(l.patterns, ["Входящие/*"]);
            assert_eq!(l.returns, [ListReturn::SpecialUse]);
        }
        // With UTF8=ACCEPT the names go as UTF-8.
        let utf8 = EncodeOptions {
            literal_plus: false,
            utf8: true,
        };
        let c = server_sees(
            &ClientCommand::Create(WireName::encode("Пример", true)),
            utf8,
        );
        assert!(matches!(c.body, B::Create(ref m) if m.mailbox.as_str() == "Пример"));
    }

    #[test]
    fn commands_from_text() {
        let o = EncodeOptions::default();
        let line =
            |c: ClientCommand| String::from_utf8(c.encode(&tag(), o).concat()).expect("utf8");
        assert_eq!(
            line(ClientCommand::uid_fetch_text("1:*", "(UID RFC822.SIZE)").expect("fetch")),
            "C7 UID FETCH 1:* (UID RFC822.SIZE)\r\n"
        );
        assert_eq!(
            line(
                ClientCommand::uid_fetch_text("1:9", "(UID FLAGS) (CHANGEDSINCE 7)")
                    .expect("fetch")
            ),
            "C7 UID FETCH 1:9 (UID FLAGS) (CHANGEDSINCE 7)\r\n"
        );
        assert_eq!(
            line(ClientCommand::parse("select inbox", false).expect("select")),
            "C7 SELECT INBOX\r\n"
        );
        assert_eq!(
            line(
                ClientCommand::parse("UID STORE 1 +FLAGS.SILENT (\\Flagged newkw)", false)
                    .expect("store")
            ),
            "C7 UID STORE 1 +FLAGS.SILENT (\\Flagged newkw)\r\n"
        );
        assert_eq!(
            line(ClientCommand::parse("EXAMINE \"&BBIERQQ+BDQETw-\"", false).expect("examine")),
            "C7 EXAMINE &BBIERQQ+BDQETw-\r\n"
        );
        assert!(ClientCommand::parse("UID FETCH x FLAGS", false).is_err());
        assert!(ClientCommand::parse("GETACL INBOX", false).is_err());
    }

    #[test]
    fn tags_are_fresh() {
        let mut t = Tags::default();
        assert_eq!(t.next().as_str(), "C1");
        assert_eq!(t.next().as_str(), "C2");
    }
}
