//! A small async IMAP client: just what the collector needs from a remote server.
//!
//! Implementation notes:
//! - Commands are written by hand (they are few and fixed) and responses read through the
//!   sans-IO [`response`] framer/parser. Strings are sent quoted, or as literals when they
//!   hold bytes a quoted string cannot (RFC 9051 §4.3); non-synchronising `{n+}` literals are
//!   used only when the server announced LITERAL+ or LITERAL- (RFC 7888), otherwise the
//!   client waits for the `+` continuation.
//! - STARTTLS (RFC 9051 §6.2.1): after the tagged OK the read buffer must be empty (anything
//!   already buffered was sent before the handshake and could be injected by an attacker), and
//!   capabilities are asked again over TLS (RFC 9051 §6.2.1: "discard cached capability
//!   information").
//! - Mailboxes are opened with EXAMINE (read-only, RFC 9051 §6.3.3) and bodies fetched with
//!   `BODY.PEEK[]` (RFC 9051 §6.4.5), so the collector never changes `\Seen` or anything else
//!   on the remote. With CONDSTORE (RFC 7162 §3.1.8) EXAMINE asks `(CONDSTORE)` so the server
//!   reports HIGHESTMODSEQ.
//! - IDLE (RFC 2177): [`ImapClient::idle_start`] sends `IDLE` and waits for the continuation,
//!   [`ImapClient::idle_wait`] reads untagged responses without the usual I/O timeout (until a
//!   deadline the caller picks, under the 29 minutes of RFC 2177 §3), and
//!   [`ImapClient::idle_done`] sends `DONE` and waits for the tagged OK.
//! - Untagged responses not asked for are tolerated and ignored (RFC 9051 §7: a client MUST be
//!   prepared to accept any response at all times).

pub mod response;

use bytes::{Bytes, BytesMut};
use pochta_store::MailDate;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Error;
use crate::conn::{IO_TIMEOUT, Stream, nothing_pipelined, wants_starttls};
use crate::source::SourceUrl;
use response::{Framer, Response, Status, StatusText, Value};

/// One LIST entry (RFC 9051 §7.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The name as the server sent it (modified UTF-7, remote separator).
    pub raw: String,
    pub delimiter: Option<char>,
    /// Attributes, e.g. `\Noselect`, `\Sent` (RFC 6154), as sent.
    pub attributes: Vec<String>,
}

impl ListEntry {
    pub fn has(&self, attr: &str) -> bool {
        self.attributes.iter().any(|a| a.eq_ignore_ascii_case(attr))
    }

    pub fn selectable(&self) -> bool {
        !self.has("\\Noselect") && !self.has("\\NonExistent")
    }
}

/// What EXAMINE reported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Examined {
    pub uid_validity: u32,
    pub uid_next: Option<u32>,
    pub exists: u32,
    /// HIGHESTMODSEQ, when the server has CONDSTORE and the mailbox keeps MODSEQs.
    pub highest_modseq: Option<u64>,
}

/// One FETCH response's items (RFC 9051 §7.5.2). Absent items are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fetched {
    pub seq: u64,
    pub uid: Option<u32>,
    pub flags: Option<Vec<String>>,
    pub internal_date: Option<MailDate>,
    pub size: Option<u64>,
    pub modseq: Option<u64>,
    /// `BODY[]`
    pub body: Option<Bytes>,
    /// `BODY[HEADER.FIELDS (…)]`
    pub header_fields: Option<Bytes>,
}

impl Fetched {
    /// Interprets the values of a `* n FETCH (…)` response.
    pub fn from_values(seq: u64, values: &[Value]) -> Result<Fetched, Error> {
        let items = values
            .first()
            .and_then(Value::as_list)
            .ok_or_else(|| Error::Protocol("FETCH without item list".into()))?;
        let mut f = Fetched {
            seq,
            ..Fetched::default()
        };
        let mut it = items.iter();
        while let (Some(name), Some(value)) = (it.next(), it.next()) {
            let Value::Atom(name) = name else {
                return Err(Error::Protocol("FETCH item name is not an atom".into()));
            };
            let upper = name.to_ascii_uppercase();
            match upper.as_slice() {
                b"UID" => {
                    f.uid = value.as_number().and_then(|n| u32::try_from(n).ok());
                }
                b"FLAGS" => {
                    f.flags = value
                        .as_list()
                        .map(|l| l.iter().filter_map(Value::as_text).collect());
                }
                b"INTERNALDATE" => {
                    f.internal_date = value.as_text().as_deref().and_then(parse_date_time);
                }
                b"RFC822.SIZE" => f.size = value.as_number(),
                b"MODSEQ" => {
                    f.modseq = value
                        .as_list()
                        .and_then(|l| l.first())
                        .and_then(Value::as_number);
                }
                b"BODY[]" | b"RFC822" | b"BINARY[]" => {
                    f.body = match value {
                        Value::Str(b) => Some(b.clone()),
                        Value::Nil => Some(Bytes::new()),
                        _ => return Err(Error::Protocol("BODY[] is not a string".into())),
                    }
                }
                n if n.starts_with(b"BODY[HEADER.FIELDS") => {
                    f.header_fields = value.as_bytes().cloned();
                }
                _ => {}
            }
        }
        Ok(f)
    }
}

/// A connected (and possibly logged-in) IMAP client.
#[derive(Debug)]
pub struct ImapClient {
    stream: Stream,
    rbuf: BytesMut,
    framer: Framer,
    next_tag: u32,
    caps: Vec<String>,
}

impl ImapClient {
    /// Connects, reads the greeting, and secures the connection as `url` says.
    pub async fn connect(url: &SourceUrl, insecure: bool) -> Result<ImapClient, Error> {
        let mut c = ImapClient {
            stream: Stream::open(url, insecure).await?,
            rbuf: BytesMut::with_capacity(256 << 10),
            framer: Framer::new(),
            next_tag: 1,
            caps: Vec::new(),
        };
        match c.read().await? {
            Response::UntaggedStatus(StatusText {
                status: Status::Ok | Status::Preauth,
                code,
                ..
            }) => {
                if let Some((name, args)) = code
                    && name == "CAPABILITY"
                {
                    c.caps = caps_of(&args);
                }
            }
            other => return Err(Error::Protocol(format!("unexpected greeting {other:?}"))),
        }
        if c.caps.is_empty() {
            c.capability().await?;
        }
        if wants_starttls(url.tls, c.has_cap("STARTTLS"), "STARTTLS")? {
            c.command("STARTTLS").await?;
            nothing_pipelined(c.rbuf.len(), "STARTTLS")?;
            c.stream.upgrade(&url.host, insecure).await?;
            c.capability().await?;
        }
        Ok(c)
    }

    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    pub fn has_cap(&self, cap: &str) -> bool {
        self.caps.iter().any(|c| c.eq_ignore_ascii_case(cap))
    }

    async fn capability(&mut self) -> Result<(), Error> {
        let (responses, _) = self.command("CAPABILITY").await?;
        for r in responses {
            if let Response::Data { name, values } = r
                && name == "CAPABILITY"
            {
                self.caps = caps_of(&values);
            }
        }
        Ok(())
    }

    /// LOGIN (RFC 9051 §6.2.3). Refused locally on a plain connection when the server says
    /// LOGINDISABLED.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), Error> {
        if self.has_cap("LOGINDISABLED") {
            return Err(Error::Auth(
                "the server refuses LOGIN without TLS (LOGINDISABLED)".into(),
            ));
        }
        let mut cmd = b"LOGIN ".to_vec();
        let mut parts = Vec::new();
        self.push_string(&mut cmd, &mut parts, user.as_bytes());
        cmd.push(b' ');
        self.push_string(&mut cmd, &mut parts, password.as_bytes());
        parts.push(cmd);
        let (_, st) = self.command_parts(parts).await.map_err(|e| match e {
            Error::Remote(m) => Error::Auth(m),
            e => e,
        })?;
        match st.code {
            Some((name, args)) if name == "CAPABILITY" => self.caps = caps_of(&args),
            _ => self.capability().await?,
        }
        Ok(())
    }

    /// Every mailbox, with special-use attributes when the server has SPECIAL-USE
    /// (RFC 6154 §5.1; servers without it may still include them, RFC 6154 §2).
    pub async fn list(&mut self) -> Result<Vec<ListEntry>, Error> {
        let cmd = if self.has_cap("SPECIAL-USE") {
            "LIST \"\" \"*\" RETURN (SPECIAL-USE)"
        } else {
            "LIST \"\" \"*\""
        };
        let (responses, _) = self.command(cmd).await?;
        let mut out = Vec::new();
        for r in responses {
            let Response::Data { name, values } = r else {
                continue;
            };
            if name != "LIST" || values.len() < 3 {
                continue;
            }
            let attributes = values[0]
                .as_list()
                .map(|l| l.iter().filter_map(Value::as_text).collect())
                .unwrap_or_default();
            let delimiter = values[1].as_text().and_then(|d| d.chars().next());
            let Some(raw) = values[2].as_text() else {
                continue;
            };
            out.push(ListEntry {
                raw,
                delimiter,
                attributes,
            });
        }
        Ok(out)
    }

    /// EXAMINE a mailbox (read-only), with CONDSTORE when the server has it.
    pub async fn examine(&mut self, raw_name: &str) -> Result<Examined, Error> {
        let mut cmd = b"EXAMINE ".to_vec();
        let mut parts = Vec::new();
        self.push_string(&mut cmd, &mut parts, raw_name.as_bytes());
        let condstore = self.has_cap("CONDSTORE");
        if condstore {
            cmd.extend_from_slice(b" (CONDSTORE)");
        }
        parts.push(cmd);
        let (responses, _) = self.command_parts(parts).await?;
        let mut ex = Examined::default();
        let mut have_validity = false;
        for r in responses {
            match r {
                Response::UntaggedStatus(StatusText {
                    code: Some((name, args)),
                    ..
                }) => {
                    let n = args.first().and_then(Value::as_number);
                    match (name.as_str(), n) {
                        ("UIDVALIDITY", Some(n)) => {
                            ex.uid_validity = u32::try_from(n).unwrap_or(0);
                            have_validity = true;
                        }
                        ("UIDNEXT", Some(n)) => ex.uid_next = u32::try_from(n).ok(),
                        ("HIGHESTMODSEQ", Some(n)) if condstore => ex.highest_modseq = Some(n),
                        _ => {}
                    }
                }
                Response::Numbered { n, name, .. } if name == "EXISTS" => {
                    ex.exists = u32::try_from(n).unwrap_or(u32::MAX);
                }
                _ => {}
            }
        }
        if !have_validity || ex.uid_validity == 0 {
            return Err(Error::Protocol(format!(
                "EXAMINE {raw_name:?} gave no UIDVALIDITY"
            )));
        }
        Ok(ex)
    }

    /// `UID FETCH set items` run to completion, collecting every FETCH response that has a UID.
    pub async fn uid_fetch(&mut self, set: &str, items: &str) -> Result<Vec<Fetched>, Error> {
        let tag = self
            .send(format!("UID FETCH {set} {items}").as_bytes())
            .await?;
        let mut out = Vec::new();
        loop {
            match self.read().await? {
                Response::Numbered { n, name, values } if name == "FETCH" => {
                    let f = Fetched::from_values(n, &values)?;
                    if f.uid.is_some() {
                        out.push(f);
                    }
                }
                Response::Tagged { tag: t, status } if t == tag => {
                    check(status)?;
                    return Ok(out);
                }
                Response::UntaggedStatus(StatusText {
                    status: Status::Bye,
                    text,
                    ..
                }) => return Err(Error::Remote(format!("server closed: {text}"))),
                _ => {}
            }
        }
    }

    /// Starts `UID FETCH set items` and returns its tag; read results with [`Self::read`].
    pub async fn start_uid_fetch(&mut self, set: &str, items: &str) -> Result<String, Error> {
        self.send(format!("UID FETCH {set} {items}").as_bytes())
            .await
    }

    /// APPEND (RFC 9051 §6.3.12); used to fill test servers.
    pub async fn append(
        &mut self,
        raw_name: &str,
        flags: &[&str],
        date: Option<MailDate>,
        message: &[u8],
    ) -> Result<(), Error> {
        let mut cmd = b"APPEND ".to_vec();
        let mut parts = Vec::new();
        self.push_string(&mut cmd, &mut parts, raw_name.as_bytes());
        cmd.extend_from_slice(format!(" ({})", flags.join(" ")).as_bytes());
        if let Some(d) = date {
            cmd.extend_from_slice(format!(" \"{}\"", format_date_time(d)).as_bytes());
        }
        cmd.push(b' ');
        self.push_literal(&mut cmd, &mut parts, message);
        parts.push(cmd);
        self.command_parts(parts).await.map(|_| ())
    }

    /// CREATE (RFC 9051 §6.3.4); used to fill test servers.
    pub async fn create(&mut self, raw_name: &str) -> Result<(), Error> {
        let mut cmd = b"CREATE ".to_vec();
        let mut parts = Vec::new();
        self.push_string(&mut cmd, &mut parts, raw_name.as_bytes());
        parts.push(cmd);
        self.command_parts(parts).await.map(|_| ())
    }

    /// Runs a simple command (no literals), returning the untagged responses; a NO or BAD is
    /// an [`Error::Remote`].
    pub async fn command(&mut self, cmd: &str) -> Result<(Vec<Response>, StatusText), Error> {
        self.command_parts(vec![cmd.as_bytes().to_vec()]).await
    }

    /// LOGOUT, best effort.
    pub async fn logout(mut self) {
        let _ =
            tokio::time::timeout(std::time::Duration::from_secs(5), self.command("LOGOUT")).await;
        let _ = self.stream.shutdown().await;
    }

    /// Writes `s` as a quoted string, or as a literal when it cannot be quoted.
    fn push_string(&self, cmd: &mut Vec<u8>, parts: &mut Vec<Vec<u8>>, s: &[u8]) {
        if s.iter().all(|&b| (0x20..0x7f).contains(&b)) && s.len() < 1024 {
            cmd.push(b'"');
            for &b in s {
                if b == b'"' || b == b'\\' {
                    cmd.push(b'\\');
                }
                cmd.push(b);
            }
            cmd.push(b'"');
        } else {
            self.push_literal(cmd, parts, s);
        }
    }

    /// Writes a literal: `{n+}` inline when LITERAL+ is available, else `{n}` ending a part
    /// (the caller waits for `+` between parts).
    fn push_literal(&self, cmd: &mut Vec<u8>, parts: &mut Vec<Vec<u8>>, s: &[u8]) {
        let nonsync = self.has_cap("LITERAL+") || (self.has_cap("LITERAL-") && s.len() <= 4096);
        if nonsync {
            cmd.extend_from_slice(format!("{{{}+}}\r\n", s.len()).as_bytes());
            cmd.extend_from_slice(s);
        } else {
            cmd.extend_from_slice(format!("{{{}}}", s.len()).as_bytes());
            parts.push(std::mem::take(cmd));
            cmd.extend_from_slice(s);
        }
    }

    /// Sends a command made of parts separated by synchronising literals, and collects its
    /// responses.
    async fn command_parts(
        &mut self,
        parts: Vec<Vec<u8>>,
    ) -> Result<(Vec<Response>, StatusText), Error> {
        let tag = self.tag();
        let n = parts.len();
        let mut responses = Vec::new();
        for (i, part) in parts.into_iter().enumerate() {
            let mut line = Vec::with_capacity(part.len() + tag.len() + 3);
            if i == 0 {
                line.extend_from_slice(tag.as_bytes());
                line.push(b' ');
            }
            line.extend_from_slice(&part);
            line.extend_from_slice(b"\r\n");
            self.write(&line).await?;
            if i + 1 < n {
                // Wait for the continuation request before sending the literal.
                loop {
                    match self.read().await? {
                        Response::Continue(_) => break,
                        Response::Tagged { tag: t, status } if t == tag => {
                            check(status)?;
                            return Err(Error::Protocol("command ended before literal".into()));
                        }
                        r => responses.push(r),
                    }
                }
            }
        }
        loop {
            match self.read().await? {
                Response::Tagged { tag: t, status } if t == tag => {
                    let status = check(status)?;
                    return Ok((responses, status));
                }
                r => responses.push(r),
            }
        }
    }

    fn tag(&mut self) -> String {
        let t = format!("C{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    /// Sends `tag cmd CRLF`; returns the tag.
    pub async fn send(&mut self, cmd: &[u8]) -> Result<String, Error> {
        let tag = self.tag();
        let mut line = Vec::with_capacity(cmd.len() + tag.len() + 3);
        line.extend_from_slice(tag.as_bytes());
        line.push(b' ');
        line.extend_from_slice(cmd);
        line.extend_from_slice(b"\r\n");
        self.write(&line).await?;
        Ok(tag)
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let w = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        tokio::time::timeout(IO_TIMEOUT, w)
            .await
            .map_err(|_| Error::Timeout)?
            .map_err(Error::Io)
    }

    /// Starts IDLE (RFC 2177 §3) on the selected mailbox: sends the command and waits for the
    /// `+` continuation. Returns the tag, for [`Self::idle_done`].
    pub async fn idle_start(&mut self) -> Result<String, Error> {
        let tag = self.send(b"IDLE").await?;
        loop {
            match self.read().await? {
                Response::Continue(_) => return Ok(tag),
                Response::Tagged { tag: t, status } if t == tag => {
                    check(status)?;
                    return Err(Error::Protocol("IDLE ended before it started".into()));
                }
                Response::UntaggedStatus(StatusText {
                    status: Status::Bye,
                    text,
                    ..
                }) => return Err(Error::Remote(format!("server closed: {text}"))),
                _ => {}
            }
        }
    }

    /// While idling: the next response, or `None` if `deadline` comes first. Cancel-safe
    /// (a partly received response stays buffered).
    pub async fn idle_wait(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> Result<Option<Response>, Error> {
        let limit = deadline.saturating_duration_since(tokio::time::Instant::now());
        match self.read_within(limit).await {
            Ok(r) => Ok(Some(r)),
            Err(Error::Timeout) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Ends IDLE: `DONE`, then the tagged response of the IDLE command (RFC 2177 §3).
    pub async fn idle_done(&mut self, tag: &str) -> Result<(), Error> {
        self.write(b"DONE\r\n").await?;
        loop {
            match self.read().await? {
                Response::Tagged { tag: t, status } if t == tag => {
                    check(status)?;
                    return Ok(());
                }
                Response::UntaggedStatus(StatusText {
                    status: Status::Bye,
                    text,
                    ..
                }) => return Err(Error::Remote(format!("server closed: {text}"))),
                _ => {}
            }
        }
    }

    /// The next response from the server.
    pub async fn read(&mut self) -> Result<Response, Error> {
        self.read_within(IO_TIMEOUT).await
    }

    /// The next response, [`Error::Timeout`] if no byte arrives within `limit`.
    async fn read_within(&mut self, limit: std::time::Duration) -> Result<Response, Error> {
        loop {
            if let Some(frame) = self.framer.next(&mut self.rbuf)? {
                return Ok(response::parse(&frame)?);
            }
            if self.rbuf.capacity() - self.rbuf.len() < 64 << 10 {
                self.rbuf.reserve(256 << 10);
            }
            let n = tokio::time::timeout(limit, self.stream.read_buf(&mut self.rbuf))
                .await
                .map_err(|_| Error::Timeout)?
                .map_err(Error::Io)?;
            if n == 0 {
                return Err(Error::Io(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                )));
            }
        }
    }
}

/// A tagged status: OK passes, NO/BAD become [`Error::Remote`].
pub fn check(status: StatusText) -> Result<StatusText, Error> {
    match status.status {
        Status::Ok => Ok(status),
        s => Err(Error::Remote(format!("{s:?} {}", status.text))),
    }
}

fn caps_of(values: &[Value]) -> Vec<String> {
    values
        .iter()
        .filter_map(Value::as_text)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Parses an IMAP `date-time` (RFC 9051 §9): `"17-Jul-1996 02:44:25 -0700"` (the day may be
/// space-padded).
pub fn parse_date_time(s: &str) -> Option<MailDate> {
    let s = s.trim();
    let (date, rest) = s.split_once(' ')?;
    let (time, zone) = rest.trim_start().split_once(' ')?;
    let mut dp = date.split('-');
    let day: u32 = dp.next()?.trim().parse().ok()?;
    let mon = dp.next()?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(mon))? as u32 + 1;
    let year: i64 = dp.next()?.parse().ok()?;
    let mut tp = time.split(':');
    let h: i64 = tp.next()?.parse().ok()?;
    let mi: i64 = tp.next()?.parse().ok()?;
    let sec: i64 = tp.next()?.parse().ok()?;
    let zone = zone.trim();
    if zone.len() != 5 || !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let sign = match zone.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let zh: i64 = zone.get(1..3)?.parse().ok()?;
    let zm: i64 = zone.get(3..5)?.parse().ok()?;
    let offset = sign * (zh * 60 + zm);
    let local =
        pochta_types::civil::days_from_civil(year, month, day) * 86_400 + h * 3600 + mi * 60 + sec;
    Some(MailDate {
        unix: local - offset * 60,
        offset_minutes: i16::try_from(offset).ok()?,
    })
}

/// Formats a [`MailDate`] as an IMAP `date-time`.
pub fn format_date_time(d: MailDate) -> String {
    let local = d.unix + i64::from(d.offset_minutes) * 60;
    let (y, m, day) = pochta_types::civil::civil_from_days(local.div_euclid(86_400));
    let secs = local.rem_euclid(86_400);
    let off = i64::from(d.offset_minutes);
    let sign = if off < 0 { '-' } else { '+' };
    format!(
        "{day:02}-{}-{y:04} {:02}:{:02}:{:02} {sign}{:02}{:02}",
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60,
        off.abs() / 60,
        off.abs() % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_time_round_trip() {
        let d = parse_date_time("17-Jul-1996 02:44:25 -0700").expect("date");
        assert_eq!(d.unix, 837_596_665);
        assert_eq!(d.offset_minutes, -420);
        assert_eq!(format_date_time(d), "17-Jul-1996 02:44:25 -0700");
        let d = parse_date_time(" 1-Jan-2024 00:00:00 +0300").expect("date");
        assert_eq!(format_date_time(d), "01-Jan-2024 00:00:00 +0300");
        assert_eq!(d.unix, 1_704_056_400);
        for bad in [
            "",
            "32-Jan-2024 00:00:00 +0000",
            "1-Foo-2024 00:00:00 +0000",
            "1-Jan-2024 00:00 +0000",
            "1-Jan-2024 00:00:00 0000",
        ] {
            assert_eq!(parse_date_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn fetch_items() {
        let frame = Bytes::from_static(
            b"* 4 FETCH (UID 10 FLAGS (\\Seen \\Recent kw) INTERNALDATE \"01-Jan-2024 00:00:00 +0000\" RFC822.SIZE 5 MODSEQ (77) BODY[] {5}\r\nhello)\r\n",
        );
        let Response::Numbered { n, values, .. } = response::parse(&frame).expect("parse") else {
            panic!()
        };
        let f = Fetched::from_values(n, &values).expect("fetch");
        assert_eq!(f.uid, Some(10));
        assert_eq!(f.size, Some(5));
        assert_eq!(f.modseq, Some(77));
        assert_eq!(f.body.as_deref(), Some(&b"hello"[..]));
        assert_eq!(f.flags.as_ref().map(Vec::len), Some(3));
        assert_eq!(f.internal_date.map(|d| d.unix), Some(1_704_067_200));
    }
}
