//! BURL (RFC 4468) on the submission listener: a piece of the message named by an IMAP URL
//! with URLAUTH, resolved against our own store (we are the IMAP server; no IMAP
//! connection is made).
//!
//! Implementation notes (what always holds):
//! - Only `imap` URLs, only on submission after AUTH (`BURL imap` in EHLO then; a bare
//!   `BURL` before it, RFC 4468 §3.1). On the MTA listener BURL is `502 5.5.1`.
//! - The URL must be URLAUTH-authorized for `submit+<the authenticated user>`, unexpired,
//!   with a token that verifies against the owner's current mailbox access key, naming a
//!   message part the owner can read now (`pochta_urlauth::fetch`, RFC 4467 §6). Anything
//!   else is `554 5.7.0` and says no more (which check failed is not told). A store failure
//!   is the usual `451 4.3.0` (temporary).
//! - BURL and BDAT add to one chunk buffer and may be mixed; `BURL … LAST` or `BDAT … LAST`
//!   ends the message; DATA cannot follow (RFC 4468 §3.2, RFC 3030 §2). A failed BURL
//!   fails the transaction, as a failed BDAT does, so no message with a hole is sent.

use std::time::{SystemTime, UNIX_EPOCH};

use pochta_smtp_proto::Reply;
use pochta_store::{Account, MailStore, StoreError};
use pochta_urlauth::Requester;

/// What a BURL could not do.
pub(crate) enum BurlError {
    /// Refused: the reply to give.
    Refused(Reply),
    Store(StoreError),
}

/// The bytes `url` names, for the submission of `account`.
pub(crate) fn fetch<S: MailStore>(
    store: &S,
    account: &Account,
    url: &str,
) -> Result<Vec<u8>, BurlError> {
    let imap = url
        .get(..5)
        .is_some_and(|s| s.eq_ignore_ascii_case("imap:"));
    if !imap {
        return Err(BurlError::Refused(Reply::new(
            554,
            "5.7.0",
            "BURL: only imap URLs with URLAUTH are supported",
        )));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    match pochta_urlauth::fetch(
        store,
        url.as_bytes(),
        Requester::Submit(&account.address),
        now,
    ) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(BurlError::Refused(Reply::new(
            554,
            "5.7.0",
            format!(
                "BURL: the URL is invalid, expired, revoked or not authorized for submit+{}",
                account.address
            ),
        ))),
        Err(e) => Err(BurlError::Store(e)),
    }
}
