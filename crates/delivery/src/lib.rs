//! Pochta's one delivery path: recipient → account → mailbox → store. The SMTP session (MTA
//! and submission), the outbound queue's local deliveries (bounces and DSNs to local senders)
//! and the collector's imports all store mail through [`Delivery`]; remote recipients go to
//! an [`OutboundQueue`] ([`outbound`]).
//!
//! Implementation notes (what always holds):
//! - **Resolution** ([`Delivery::resolve`]): a recipient whose domain is not one of ours is
//!   [`Resolved::Remote`]; in a local domain it is the account itself, else an alias of the
//!   address, else the domain's catch-all (the store's `resolve_recipient`); nothing found is
//!   [`DeliveryError::UnknownUser`]. An account that cannot take even one more message is
//!   [`DeliveryError::MailboxFull`] at resolution time, so an SMTP client learns it per
//!   recipient (RFC 3463 X.2.2) and the others still get the message.
//! - **Store once, durable before returning** ([`Delivery::deliver`]): one message for many
//!   local recipients is one store call with every target mailbox (each recipient account's
//!   INBOX, deduplicated, plus extra targets such as a Sent copy), so its bytes are stored
//!   and parsed once (`pochta_message::parse`, in the store) and the call returns only after
//!   the store fsynced. It is atomic: a quota refusal for one account delivers to none.
//! - A `Return-Path:` (RFC 5321 §4.4) with the envelope sender is the first line of every
//!   message delivered from an SMTP envelope.
//! - **Errors become SMTP replies in one place**, [`DeliveryError::reply`]: unknown user
//!   `550 5.1.1`, full mailbox at RCPT `452 4.2.2`, over quota at delivery `452 4.2.2` or,
//!   when the message alone exceeds the quota, `552 5.2.2`; any other store failure
//!   `451 4.3.0` (the caller logs it; [`DeliveryError::is_failure`]).
//! - Generic over [`MailStore`] like every session; no storage backend is named here.
#![forbid(unsafe_code)]

pub mod outbound;

use std::collections::BTreeSet;
use std::sync::Arc;

use pochta_smtp_proto::Reply;
use pochta_store::{MailStore, NewMessage, StoreError, UidMapping};
use pochta_types::{AccountId, Address, Domain, Flags, MailboxId, MailboxName, SpecialUse, Uid};

pub use outbound::{OutboundQueue, QueueError, QueueId};

/// Where mail for a recipient goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolved {
    /// A local account (the address itself, an alias of it, or a catch-all).
    Local(AccountId),
    /// The domain is not one of ours.
    Remote,
}

/// Why a recipient or a message cannot be delivered locally.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// A local domain has no account, alias or catch-all for the address.
    #[error("<{0}>: no such user")]
    UnknownUser(String),
    /// The account cannot take one more message (checked at resolution).
    #[error("<{0}>: mailbox full")]
    MailboxFull(String),
    /// The store refused or failed (`OverQuota` at delivery, I/O, a missing INBOX …).
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl DeliveryError {
    /// The SMTP reply for this error: the one mapping every caller uses.
    pub fn reply(&self) -> Reply {
        match self {
            DeliveryError::UnknownUser(a) => Reply::new(
                550,
                "5.1.1",
                format!("<{a}>: Recipient address rejected: User unknown"),
            ),
            // A full mailbox is refused per recipient, so the others still get the message
            // (RFC 3463 4.2.2); one that fits now may still fail at delivery.
            DeliveryError::MailboxFull(a) => {
                Reply::new(452, "4.2.2", format!("<{a}>: Mailbox full"))
            }
            // RFC 3463 X.2.2 "mailbox full": temporary, unless the message alone is larger
            // than the whole quota (RFC 9208 quota, enforced by the store).
            DeliveryError::Store(StoreError::OverQuota(e)) if e.permanent() => {
                Reply::new(552, "5.2.2", "Mailbox full: the message exceeds the quota")
            }
            DeliveryError::Store(StoreError::OverQuota(_)) => {
                Reply::new(452, "4.2.2", "Mailbox full; try again later")
            }
            DeliveryError::Store(_) => {
                Reply::new(451, "4.3.0", "Local error in processing; try again later")
            }
        }
    }

    /// Whether this is our fault (a store failure the caller must log), not a refusal.
    pub fn is_failure(&self) -> bool {
        matches!(self, DeliveryError::Store(e) if !matches!(e, StoreError::OverQuota(_)))
    }
}

/// One message for local mailboxes.
#[derive(Debug, Clone, Copy)]
pub struct LocalMessage<'a> {
    /// The envelope sender for `Return-Path:`; `None` is the null sender `<>`.
    pub sender: Option<&'a str>,
    /// Header fields to put before the message (trace fields, added `Date:` …), CRLF-ended.
    pub header: &'a [u8],
    /// The message as received.
    pub body: &'a [u8],
    /// Accounts whose INBOX gets the message (duplicates are delivered once).
    pub recipients: &'a [AccountId],
    /// Further mailboxes with their flags (a Sent copy).
    pub also: &'a [(MailboxId, Flags)],
}

impl<'a> LocalMessage<'a> {
    /// A message from an SMTP envelope with sender `sender` for `recipients`.
    pub fn new(sender: Option<&'a str>, body: &'a [u8], recipients: &'a [AccountId]) -> Self {
        LocalMessage {
            sender,
            header: b"",
            body,
            recipients,
            also: &[],
        }
    }
}

/// The delivery service over a store; cheap to clone.
pub struct Delivery<S> {
    store: Arc<S>,
}

impl<S> Clone for Delivery<S> {
    fn clone(&self) -> Self {
        Delivery {
            store: Arc::clone(&self.store),
        }
    }
}

impl<S: MailStore> Delivery<S> {
    pub fn new(store: Arc<S>) -> Self {
        Delivery { store }
    }

    /// Whether mail for `domain` stays here.
    pub fn is_local_domain(&self, domain: &str) -> Result<bool, StoreError> {
        match Domain::new(domain) {
            Ok(d) => self.store.domain_exists(&d),
            Err(_) => Ok(false),
        }
    }

    /// Where mail for `address` (`local@domain`) goes; see the module notes.
    pub fn resolve(&self, address: &str) -> Result<Resolved, DeliveryError> {
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        if !self.is_local_domain(domain)? {
            return Ok(Resolved::Remote);
        }
        let account = match Address::new(address) {
            Ok(a) => self.store.resolve_recipient(&a)?,
            Err(_) => None,
        };
        let Some(account) = account else {
            return Err(DeliveryError::UnknownUser(address.to_owned()));
        };
        if self.store.quota(account)?.check(1, 1).is_err() {
            return Err(DeliveryError::MailboxFull(address.to_owned()));
        }
        Ok(Resolved::Local(account))
    }

    /// The account's selectable Sent mailbox (RFC 6154 `\Sent`), if it has one.
    pub fn sent_mailbox(&self, account: AccountId) -> Result<Option<MailboxId>, StoreError> {
        Ok(self
            .store
            .mailboxes(account)?
            .into_iter()
            .find(|m| m.special_use == Some(SpecialUse::Sent) && !m.noselect)
            .map(|m| m.id))
    }

    /// Stores `msg` once in every target mailbox; durable when it returns. The new UID in
    /// each target, INBOXes first, in the order of `recipients`, then `also`.
    pub fn deliver(&self, msg: &LocalMessage<'_>) -> Result<Vec<Uid>, DeliveryError> {
        let mut targets = Vec::with_capacity(msg.recipients.len() + msg.also.len());
        let mut seen = BTreeSet::new();
        for account in msg.recipients {
            if !seen.insert(*account) {
                continue;
            }
            match self.store.mailbox(*account, &MailboxName::inbox())? {
                Some(mb) => targets.push((mb.id, Flags::new())),
                None => return Err(StoreError::NotFound("INBOX".into()).into()),
            }
        }
        targets.extend(msg.also.iter().cloned());
        if targets.is_empty() {
            return Ok(Vec::new());
        }
        let return_path = format!("Return-Path: <{}>\r\n", msg.sender.unwrap_or(""));
        let mut bytes = Vec::with_capacity(return_path.len() + msg.header.len() + msg.body.len());
        bytes.extend_from_slice(return_path.as_bytes());
        bytes.extend_from_slice(msg.header);
        bytes.extend_from_slice(msg.body);
        Ok(self.store.deliver(&targets, &bytes, None)?)
    }

    /// Stores messages that already carry their flags and internal date into one mailbox,
    /// atomically (the collector's import; RFC 3502 MULTIAPPEND semantics).
    pub fn append(
        &self,
        mailbox: MailboxId,
        messages: &[NewMessage<'_>],
    ) -> Result<UidMapping, StoreError> {
        self.store.append(mailbox, messages)
    }
}

#[cfg(test)]
mod tests;
