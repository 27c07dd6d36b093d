//! The collector's IMAP client: `pochta-imap-client` with the collector's policy on top.
//!
//! Implementation notes:
//! - Grammar, framing, budgets and deadlines are `pochta_imap_proto::client` and
//!   `pochta_imap_client` (one IMAP grammar in both directions); this module only adds what the
//!   collector decides: which commands, read-only access, and the mapping of errors to
//!   [`crate::Error`].
//! - Mailboxes are opened with EXAMINE (read-only, RFC 9051 §6.3.3) and bodies fetched with
//!   `BODY.PEEK[]` (RFC 9051 §6.4.5), so the collector never changes `\Seen` or anything else
//!   on the remote. With CONDSTORE (RFC 7162 §3.1.8) EXAMINE asks `(CONDSTORE)` so the server
//!   reports HIGHESTMODSEQ.
//! - Remote names are sent back exactly as LIST gave them ([`WireName::raw`]).
//! - Budgets: one response at most [`pochta_imap_client::CLIENT_LIMITS`] (a 512 MiB message
//!   plus 1 MiB); the untagged answers one command collects at most [`MAX_COLLECTED`] (flag
//!   and size FETCHes), [`MAX_LIST`] for LIST. Message bodies are streamed batch by
//!   batch ([`ImapClient::start_uid_fetch`] + [`ImapClient::read_sized`]), never collected,
//!   each response bounded by the sizes the provider announced (`crate::sync`, "Budgets").
//! - One response's literal at most [`crate::sync::answer_limit`] of the server's
//!   `max_message_size` ([`response_limits`]), 512 MiB without one.
//! - IDLE (RFC 2177): [`ImapClient::idle_start`] sends `IDLE` and waits for the continuation,
//!   [`ImapClient::idle_wait`] reads untagged responses until a deadline the caller picks
//!   (under the 29 minutes of RFC 2177 §3), and [`ImapClient::idle_done`] sends `DONE`.

use pochta_imap_client::{ClientCommand, Options, WireName};
use pochta_imap_proto::{DateTime, Tag};
use pochta_store::MailDate;
use pochta_types::Flag;

use crate::Error;
use crate::conn::IO_TIMEOUT;
use crate::source::SourceUrl;

pub use pochta_imap_client::{Fetched, ListEntry};
pub use pochta_imap_proto::client::response;
use response::{Response, StatusText};

/// Most bytes of answers one collected command (LIST, flag or size FETCH) may hold.
pub const MAX_COLLECTED: u64 = 512 << 20;
/// The budget for one LIST answer: a hundred thousand folders with long names fit, and an
/// endless LIST from a hostile provider is cut long before it costs the server much memory.
pub const MAX_LIST: u64 = 16 << 20;

/// The budgets of one response: the client's, with no literal (and no response) much
/// larger than the largest message the server imports, when it has one.
pub fn response_limits(max_message: Option<u64>) -> pochta_imap_proto::framer::Limits {
    let own = pochta_imap_client::CLIENT_LIMITS;
    match max_message {
        None => own,
        Some(max) => {
            let literal = crate::sync::answer_limit(max);
            pochta_imap_proto::framer::Limits {
                max_literal: literal,
                max_command: literal.saturating_add(own.max_line as u64),
                ..own
            }
        }
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

impl From<pochta_imap_client::Error> for Error {
    fn from(e: pochta_imap_client::Error) -> Self {
        use pochta_imap_client::Error as E;
        match e {
            E::Connect(e) => e.into(),
            E::Io(e) => Error::Io(e),
            E::Timeout => Error::Timeout,
            E::Closed => Error::Io(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            )),
            e @ (E::Response(_) | E::Protocol(_) | E::TooMuchData(_)) => Error::Protocol(match e {
                E::Protocol(m) => m,
                e => e.to_string(),
            }),
            e @ (E::Rejected { .. } | E::Bye(_)) => Error::Remote(e.to_string()),
            e @ E::LoginDisabled => Error::Auth(e.to_string()),
        }
    }
}

impl From<response::ResponseError> for Error {
    fn from(e: response::ResponseError) -> Self {
        Error::Protocol(e.to_string())
    }
}

/// A tagged status: OK passes, NO/BAD become [`Error::Remote`].
pub fn check(status: StatusText) -> Result<StatusText, Error> {
    Ok(pochta_imap_client::check(status)?)
}

/// INTERNALDATE as the store keeps it.
pub fn mail_date(dt: DateTime) -> MailDate {
    MailDate {
        unix: dt.unix_timestamp(),
        offset_minutes: dt.zone_minutes(),
    }
}

/// A store date as an IMAP `date-time` (for APPEND), in its own offset; `None` outside years
/// 0–9999.
pub fn imap_date(d: MailDate) -> Option<DateTime> {
    DateTime::from_unix(d.unix, d.offset_minutes)
}

/// Formats a [`MailDate`] as an IMAP `date-time` (`17-Jul-1996 02:44:25 -0700`).
pub fn format_date_time(d: MailDate) -> String {
    imap_date(d).map_or_else(|| format!("@{}", d.unix), |dt| dt.to_string())
}

fn tag_of(tag: &str) -> Result<Tag, Error> {
    Tag::new(tag.as_bytes()).ok_or_else(|| Error::Protocol(format!("bad tag {tag:?}")))
}

/// A connected (and possibly logged-in) IMAP client.
#[derive(Debug)]
pub struct ImapClient {
    inner: pochta_imap_client::ImapClient,
    /// EXISTS of the mailbox last examined: answers to a FETCH are budgeted by it.
    exists: Option<u32>,
}

/// Bytes of FETCH answers a flag or size FETCH may collect per message the mailbox holds
/// (a UID, 64 keywords, a size and a Message-ID fit).
pub const COLLECTED_PER_MESSAGE: u64 = 4 << 10;

impl ImapClient {
    /// Connects, reads the greeting, and secures the connection as `url` says.
    pub async fn connect(url: &SourceUrl, insecure: bool) -> Result<ImapClient, Error> {
        let opts = Options {
            io_timeout: IO_TIMEOUT,
            insecure,
            // The flags of every message of a large folder (about 100 bytes each) come in
            // one command: room for millions of messages, yet bounded.
            max_collected: MAX_COLLECTED,
            limits: response_limits(crate::import_limits().max_message),
            ..Options::default()
        };
        let endpoint = crate::conn::resolve(url).await?;
        Ok(ImapClient {
            inner: pochta_imap_client::ImapClient::connect(&endpoint, opts).await?,
            exists: None,
        })
    }

    pub fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }

    pub fn has_cap(&self, cap: &str) -> bool {
        self.inner.has_cap(cap)
    }

    /// LOGIN (RFC 9051 §6.2.3). Refused locally on a plain connection when the server says
    /// LOGINDISABLED; a NO is a login failure.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), Error> {
        self.inner.login(user, password).await.map_err(|e| match e {
            e @ pochta_imap_client::Error::Rejected { .. } => Error::Auth(e.to_string()),
            e => e.into(),
        })
    }

    /// Signs in: LOGIN with a password; with an OAuth token AUTHENTICATE OAUTHBEARER
    /// (RFC 7628) when offered, else XOAUTH2 (see [`crate::oauth`]).
    pub async fn sign_in(
        &mut self,
        user: &str,
        credential: &crate::oauth::Credential,
    ) -> Result<(), Error> {
        use pochta_imap_client::SaslInitial;
        use pochta_types::Secret;
        let grant = match credential {
            crate::oauth::Credential::Password(p) => return self.login(user, p).await,
            crate::oauth::Credential::OAuth(g) => g,
        };
        let token = Secret::new(grant.access_token.clone());
        let sasl = if self.has_cap("AUTH=OAUTHBEARER") {
            SaslInitial::OAuthBearer {
                user: user.to_owned(),
                token,
            }
        } else if self.has_cap("AUTH=XOAUTH2") {
            SaslInitial::XOAuth2 {
                user: user.to_owned(),
                token,
            }
        } else {
            return Err(Error::Auth(
                "the server offers neither AUTH=OAUTHBEARER nor AUTH=XOAUTH2".into(),
            ));
        };
        self.inner.authenticate(&sasl).await.map_err(|e| match e {
            e @ pochta_imap_client::Error::Rejected { .. } => {
                Error::Auth(format!("{} {e}", sasl.mechanism()))
            }
            e => e.into(),
        })
    }

    /// The levels of the first personal namespace's prefix (NAMESPACE, RFC 2342 §5):
    /// `["INBOX"]` for Cyrus's and Courier's `(("INBOX." "."))`, none for the empty prefix
    /// or a server without NAMESPACE. A NO to NAMESPACE counts as no prefix.
    pub async fn personal_prefix(&mut self) -> Result<Vec<String>, Error> {
        let ns = match self.inner.namespace().await {
            Ok(ns) => ns,
            Err(pochta_imap_client::Error::Rejected { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(ns
            .and_then(|ns| ns.personal.into_iter().next())
            .map(|(prefix, delim)| crate::sync::prefix_levels(&prefix, delim))
            .unwrap_or_default())
    }

    /// Every mailbox, with special-use attributes when the server has SPECIAL-USE, within
    /// [`MAX_LIST`] bytes of LIST responses.
    pub async fn list(&mut self) -> Result<Vec<ListEntry>, Error> {
        self.inner.set_max_collected(MAX_LIST);
        let list = self.inner.list_all().await;
        self.inner.set_max_collected(MAX_COLLECTED);
        Ok(list?)
    }

    /// EXAMINE a mailbox (read-only), with CONDSTORE when the server has it.
    pub async fn examine(&mut self, raw_name: &str) -> Result<Examined, Error> {
        let sel = self
            .inner
            .select(WireName::raw(raw_name), true, true)
            .await?;
        self.exists = Some(sel.exists);
        let uid_validity = sel
            .uid_validity
            .filter(|v| *v != 0)
            .ok_or_else(|| Error::Protocol(format!("EXAMINE {raw_name:?} gave no UIDVALIDITY")))?;
        Ok(Examined {
            uid_validity,
            uid_next: sel.uid_next,
            exists: sel.exists,
            highest_modseq: sel.highest_modseq.filter(|_| self.has_cap("CONDSTORE")),
        })
    }

    /// `UID FETCH set items` run to completion, collecting every FETCH response that has a UID,
    /// within [`COLLECTED_PER_MESSAGE`] for each message the examined mailbox holds (and
    /// 1 MiB; at most [`MAX_COLLECTED`]): a FETCH answered endlessly is cut early.
    pub async fn uid_fetch(&mut self, set: &str, items: &str) -> Result<Vec<Fetched>, Error> {
        let budget = self.exists.map_or(MAX_COLLECTED, |n| {
            (u64::from(n) * COLLECTED_PER_MESSAGE + (1 << 20)).min(MAX_COLLECTED)
        });
        self.inner.set_max_collected(budget);
        let fetched = self.inner.fetch(fetch_command(set, items)?).await;
        self.inner.set_max_collected(MAX_COLLECTED);
        Ok(fetched?)
    }

    /// Starts `UID FETCH set items` and returns its tag; read results with [`Self::read`].
    pub async fn start_uid_fetch(&mut self, set: &str, items: &str) -> Result<String, Error> {
        let tag = self.inner.start(fetch_command(set, items)?).await?;
        Ok(tag.as_str().to_owned())
    }

    /// APPEND (RFC 9051 §6.3.12); used to fill test servers.
    pub async fn append(
        &mut self,
        raw_name: &str,
        flags: &[&str],
        date: Option<MailDate>,
        message: &[u8],
    ) -> Result<(), Error> {
        let flags = flags
            .iter()
            .map(|f| Flag::parse(f).map_err(|e| Error::Config(format!("flag {f:?}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let date = match date {
            Some(d) => Some(
                imap_date(d).ok_or_else(|| Error::Config(format!("date {d:?} out of range")))?,
            ),
            None => None,
        };
        self.inner
            .append(WireName::raw(raw_name), flags, date, message.to_vec())
            .await?;
        Ok(())
    }

    /// CREATE (RFC 9051 §6.3.4); used to fill test servers.
    pub async fn create(&mut self, raw_name: &str) -> Result<(), Error> {
        self.inner
            .run(ClientCommand::Create(WireName::raw(raw_name)))
            .await?;
        Ok(())
    }

    /// Runs a one-line command given as text (`SELECT INBOX`), read by imap-proto's grammar,
    /// returning the untagged responses; a NO or BAD is an [`Error::Remote`].
    pub async fn command(&mut self, cmd: &str) -> Result<(Vec<Response>, StatusText), Error> {
        let cmd = ClientCommand::parse(cmd, self.inner.utf8())
            .map_err(|e| Error::Config(format!("IMAP command {cmd:?}: {e}")))?;
        let done = self.inner.run(cmd).await?;
        Ok((done.responses, done.status))
    }

    /// LOGOUT, best effort.
    pub async fn logout(self) {
        self.inner.logout().await;
    }

    /// Starts IDLE (RFC 2177 §3) on the selected mailbox. Returns the tag, for
    /// [`Self::idle_done`].
    pub async fn idle_start(&mut self) -> Result<String, Error> {
        Ok(self.inner.idle_start().await?.as_str().to_owned())
    }

    /// While idling: the next response, or `None` if `deadline` comes first. Cancel-safe.
    pub async fn idle_wait(
        &mut self,
        deadline: tokio::time::Instant,
    ) -> Result<Option<Response>, Error> {
        Ok(self.inner.idle_wait(deadline).await?)
    }

    /// Ends IDLE: `DONE`, then the tagged response of the IDLE command (RFC 2177 §3).
    pub async fn idle_done(&mut self, tag: &str) -> Result<(), Error> {
        Ok(self.inner.idle_done(&tag_of(tag)?).await?)
    }

    /// The next response from the server.
    pub async fn read(&mut self) -> Result<Response, Error> {
        Ok(self.inner.read().await?)
    }

    /// The next response and its size on the wire.
    pub async fn read_sized(&mut self) -> Result<(Response, usize), Error> {
        Ok(self.inner.read_sized().await?)
    }

    /// The next response, or the size of one that is complete but partly spooled (see
    /// [`pochta_imap_client::ImapClient::read_or_spooled`]).
    pub async fn read_or_spooled(&mut self) -> Result<pochta_imap_client::Next, Error> {
        Ok(self.inner.read_or_spooled().await?)
    }

    /// The spooled response announced by [`Self::read_or_spooled`], read back whole.
    pub fn read_back(&mut self) -> Result<(Response, usize), Error> {
        Ok(self.inner.read_back()?)
    }

    /// Spools large literals of the responses that follow (see
    /// [`pochta_imap_client::ImapClient::set_spool`]); `None` stops.
    pub fn set_spool(&mut self, spool: Option<(std::path::PathBuf, pochta_net::MessageBudget)>) {
        self.inner.set_spool(spool);
    }

    /// Bounds each response that follows (a literal at most `bytes`, a response about as
    /// much) until called with `None`; see [`pochta_imap_client::ImapClient::set_response_limit`].
    pub fn set_response_limit(&mut self, bytes: Option<u64>) {
        self.inner.set_response_limit(bytes);
    }
}

fn fetch_command(set: &str, items: &str) -> Result<ClientCommand, Error> {
    ClientCommand::uid_fetch_text(set, items)
        .map_err(|e| Error::Protocol(format!("UID FETCH {set} {items}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_between_store_and_imap() {
        let d = MailDate {
            unix: 837_596_665,
            offset_minutes: -420,
        };
        assert_eq!(format_date_time(d), "17-Jul-1996 02:44:25 -0700");
        let back = pochta_imap_proto::client::data::parse_date_time(b"17-Jul-1996 02:44:25 -0700")
            .map(mail_date);
        assert_eq!(back, Some(d));
        let d = MailDate {
            unix: 1_704_056_400,
            offset_minutes: 180,
        };
        assert_eq!(format_date_time(d), "01-Jan-2024 00:00:00 +0300");
    }
}
