//! Address books and contacts (CardDAV, `pochta contacts`): [`ContactStore`] and its types.
//!
//! Rules every backend keeps (the conformance suite `conformance::contacts` checks them):
//! - **Bytes as sent.** A contact's vCard is stored and returned byte for byte; the store does
//!   not parse it (the CardDAV layer checks it is a vCard before storing).
//! - **ETags** are the hex SHA-256 of the bytes: equal content, equal tag; any change, a new
//!   one. [`Precondition`]s are checked and the write applied in one transaction, so two
//!   clients updating the same contact with the same `If-Match` cannot both succeed.
//! - **Sync tokens** (RFC 6578): every address book has a counter that every change (put,
//!   delete) raises by one; each contact carries the counter value of its last change and a
//!   delete leaves a tombstone with its value, so [`ContactStore::changes_since`] returns
//!   exactly what changed after a token, deletions included. Token 0 is "from the beginning"
//!   (no tombstones). A token above the current counter is invalid (`None`).
//! - **One default address book** named [`DEFAULT_BOOK`] exists for every account that asks
//!   ([`ContactStore::address_books`] creates it when the account has none); more can be
//!   created by name, unique per account. Deleting a book deletes its contacts.
//! - Names of books and contacts are opaque strings chosen by the client (a URL path segment
//!   as sent); a contact name is unique within its book.
//! - Durable before `Ok`.

use pochta_types::AccountId;

use crate::Result;

/// The name of the address book every account gets.
pub const DEFAULT_BOOK: &str = "default";

/// An address book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressBook {
    pub id: i64,
    pub account: AccountId,
    /// The URL path segment.
    pub name: String,
    pub display_name: String,
    pub description: String,
    /// The sync token: raised by every change in the book.
    pub token: u64,
}

/// A stored contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The URL path segment (`<uid>.vcf` as the client chose it).
    pub name: String,
    /// Hex SHA-256 of `data`.
    pub etag: String,
    /// The vCard exactly as sent.
    pub data: Vec<u8>,
    /// The book's token at this contact's last change.
    pub token: u64,
}

/// What a write requires of the current state (HTTP `If-Match` / `If-None-Match: *`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition<'a> {
    /// Create or replace.
    None,
    /// Only if a contact of that name exists with this ETag.
    IfMatch(&'a str),
    /// Only if no contact of that name exists.
    IfNoneMatch,
}

/// The outcome of [`ContactStore::put_contact`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    Created {
        etag: String,
    },
    Replaced {
        etag: String,
    },
    /// The precondition did not hold; nothing was written.
    PreconditionFailed,
}

/// What changed in a book after a token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Changes {
    /// Contacts created or changed after the token (full rows).
    pub changed: Vec<Contact>,
    /// Names of contacts deleted after the token (and not re-created since).
    pub deleted: Vec<String>,
    /// The book's current token.
    pub token: u64,
}

/// Address books and contacts.
pub trait ContactStore: Send + Sync + 'static {
    /// The account's books, by name; creates [`DEFAULT_BOOK`] first if it has none.
    fn address_books(&self, account: AccountId) -> Result<Vec<AddressBook>>;
    fn address_book(&self, account: AccountId, name: &str) -> Result<Option<AddressBook>>;
    /// `AlreadyExists` if the account has a book of that name.
    fn create_address_book(
        &self,
        account: AccountId,
        name: &str,
        display_name: &str,
        description: &str,
    ) -> Result<AddressBook>;
    /// Sets a book's display name and/or description (`None`: unchanged); `NotFound` if there
    /// is no such book. Not a change of its contacts: the token stays.
    fn update_address_book(
        &self,
        account: AccountId,
        name: &str,
        display_name: Option<&str>,
        description: Option<&str>,
    ) -> Result<()>;
    /// `NotFound` if there is no such book; deletes its contacts.
    fn delete_address_book(&self, account: AccountId, name: &str) -> Result<()>;
    /// Every contact of the book, by name.
    fn contacts(&self, book: i64) -> Result<Vec<Contact>>;
    fn contact(&self, book: i64, name: &str) -> Result<Option<Contact>>;
    fn put_contact(&self, book: i64, name: &str, data: &[u8], pre: Precondition) -> Result<Put>;
    /// `Ok(false)`: no such contact, or the `IfMatch` ETag differs (nothing deleted); use
    /// [`ContactStore::contact`] first to tell them apart.
    fn delete_contact(&self, book: i64, name: &str, pre: Precondition) -> Result<bool>;
    /// Changes after `token`; `None` when the token is not one this book gave out.
    fn changes_since(&self, book: i64, token: u64) -> Result<Option<Changes>>;
}
