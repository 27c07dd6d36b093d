//! The conformance suite every [`ContactStore`] backend runs (the rules are in
//! [`crate::contacts`]).
//!
//! ```ignore
//! struct Embedded(tempfile::TempDir);
//! impl pochta_store::conformance::contacts::ContactsFixture for Embedded { /* … */ }
//! pochta_store::contacts_conformance_tests!(Embedded);
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pochta_types::AccountId;

use crate::StoreError;
use crate::contacts::{ContactStore, DEFAULT_BOOK, Precondition, Put};

/// Storage under test.
pub trait ContactsFixture: Sized {
    type Store: ContactStore;
    /// Fresh, empty storage.
    fn create() -> Self;
    /// A store over this storage; opened again, it shows everything committed before.
    fn open(&self) -> Self::Store;
}

/// Expand to one `#[test]` per contacts conformance check.
#[macro_export]
macro_rules! contacts_conformance_tests {
    ($fixture:ty) => {
        $crate::contacts_conformance_tests!(@each $fixture;
            default_book_is_created_once,
            books_are_per_account_and_unique,
            bytes_are_kept_exactly_and_etags_follow_them,
            preconditions_guard_writes,
            changes_since_a_token,
            deleting_a_book_deletes_its_contacts,
            contacts_are_durable
        );
    };
    (@each $fixture:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                $crate::conformance::contacts::$name::<$fixture>();
            }
        )*
    };
}

const A: AccountId = AccountId(1);
const B: AccountId = AccountId(2);

fn card(uid: &str, name: &str) -> Vec<u8> {
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{name}\r\nN:{name};;;;\r\nEND:VCARD\r\n")
        .into_bytes()
}

fn etag_of(p: &Put) -> String {
    match p {
        Put::Created { etag } | Put::Replaced { etag } => etag.clone(),
        Put::PreconditionFailed => panic!("precondition failed"),
    }
}

pub fn default_book_is_created_once<F: ContactsFixture>() {
    let f = F::create();
    let s = f.open();
    let books = s.address_books(A).unwrap();
    assert_eq!(books.len(), 1);
    assert_eq!(books[0].name, DEFAULT_BOOK);
    assert_eq!(books[0].account, A);
    assert_eq!(
        s.address_books(A).unwrap(),
        books,
        "asking again creates nothing"
    );
    assert_eq!(
        s.address_book(A, DEFAULT_BOOK).unwrap().as_ref(),
        Some(&books[0])
    );
    assert_eq!(s.address_book(A, "nope").unwrap(), None);
}

pub fn books_are_per_account_and_unique<F: ContactsFixture>() {
    let f = F::create();
    let s = f.open();
    s.address_books(A).unwrap();
    let work = s
        .create_address_book(A, "work", "Work", "colleagues")
        .unwrap();
    assert_eq!(
        (work.display_name.as_str(), work.description.as_str()),
        ("Work", "colleagues")
    );
    assert!(matches!(
        s.create_address_book(A, "work", "x", ""),
        Err(StoreError::AlreadyExists(_))
    ));
    // B's book of the same name is another book; A's books are not B's.
    let other = s.create_address_book(B, "work", "B work", "").unwrap();
    assert_ne!(other.id, work.id);
    let names: Vec<String> = s
        .address_books(A)
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["default", "work"]);
    assert_eq!(s.address_book(B, "work").unwrap().unwrap().id, other.id);
    // Renaming and describing a book changes neither its contacts nor its token.
    s.update_address_book(A, "work", Some("Office"), None)
        .unwrap();
    s.update_address_book(A, "work", None, Some("desk"))
        .unwrap();
    let w = s.address_book(A, "work").unwrap().unwrap();
    assert_eq!(
        (w.display_name.as_str(), w.description.as_str()),
        ("Office", "desk")
    );
    assert_eq!(w.token, work.token);
    assert_eq!(
        s.address_book(B, "work").unwrap().unwrap().display_name,
        "B work"
    );
    assert!(matches!(
        s.update_address_book(A, "nope", Some("x"), None),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.delete_address_book(A, "nope"),
        Err(StoreError::NotFound(_))
    ));
}

pub fn bytes_are_kept_exactly_and_etags_follow_them<F: ContactsFixture>() {
    let f = F::create();
    let s = f.open();
    let book = s.address_books(A).unwrap()[0].id;
    // vCard 4.0 with folded lines, LF line ends and UTF-8: kept as they are.
    let odd = "BEGIN:VCARD\nVERSION:4.0\nUID:urn:uuid:1\nFN:Анна Каренина\nNOTE:a long\n  folded line\nEND:VCARD\n".as_bytes().to_vec();
    let p = s
        .put_contact(book, "anna.vcf", &odd, Precondition::None)
        .unwrap();
    assert!(matches!(p, Put::Created { .. }));
    let c = s.contact(book, "anna.vcf").unwrap().unwrap();
    assert_eq!(c.data, odd);
    assert_eq!(c.etag, etag_of(&p));
    assert_eq!(c.etag.len(), 64);
    // Same bytes, same tag; different bytes, different tag.
    let again = s
        .put_contact(book, "anna.vcf", &odd, Precondition::None)
        .unwrap();
    assert_eq!(
        again,
        Put::Replaced {
            etag: c.etag.clone()
        }
    );
    let changed = s
        .put_contact(book, "anna.vcf", &card("1", "Anna"), Precondition::None)
        .unwrap();
    assert_ne!(etag_of(&changed), c.etag);
    s.put_contact(book, "b.vcf", &card("2", "Boris"), Precondition::None)
        .unwrap();
    let names: Vec<String> = s
        .contacts(book)
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["anna.vcf", "b.vcf"]);
}

pub fn preconditions_guard_writes<F: ContactsFixture>() {
    let f = F::create();
    let s = f.open();
    let book = s.address_books(A).unwrap()[0].id;
    let v1 = etag_of(
        &s.put_contact(book, "c.vcf", &card("c", "One"), Precondition::IfNoneMatch)
            .unwrap(),
    );
    assert_eq!(
        s.put_contact(book, "c.vcf", &card("c", "Two"), Precondition::IfNoneMatch)
            .unwrap(),
        Put::PreconditionFailed
    );
    assert_eq!(
        s.put_contact(
            book,
            "c.vcf",
            &card("c", "Two"),
            Precondition::IfMatch("0bad")
        )
        .unwrap(),
        Put::PreconditionFailed
    );
    assert_eq!(
        s.put_contact(book, "new.vcf", &card("n", "N"), Precondition::IfMatch(&v1))
            .unwrap(),
        Put::PreconditionFailed,
        "If-Match on a missing contact fails"
    );
    assert_eq!(
        s.contact(book, "c.vcf").unwrap().unwrap().data,
        card("c", "One")
    );
    let v2 = etag_of(
        &s.put_contact(book, "c.vcf", &card("c", "Two"), Precondition::IfMatch(&v1))
            .unwrap(),
    );
    assert!(
        !s.delete_contact(book, "c.vcf", Precondition::IfMatch(&v1))
            .unwrap()
    );
    assert!(s.contact(book, "c.vcf").unwrap().is_some());
    assert!(
        s.delete_contact(book, "c.vcf", Precondition::IfMatch(&v2))
            .unwrap()
    );
    assert!(s.contact(book, "c.vcf").unwrap().is_none());
    assert!(!s.delete_contact(book, "c.vcf", Precondition::None).unwrap());
}

pub fn changes_since_a_token<F: ContactsFixture>() {
    let f = F::create();
    let s = f.open();
    let book = s.address_books(A).unwrap()[0].id;
    let t0 = s.address_book(A, DEFAULT_BOOK).unwrap().unwrap().token;
    let start = s.changes_since(book, 0).unwrap().unwrap();
    assert!(start.changed.is_empty() && start.deleted.is_empty());
    assert_eq!(start.token, t0);
    s.put_contact(book, "a.vcf", &card("a", "A"), Precondition::None)
        .unwrap();
    s.put_contact(book, "b.vcf", &card("b", "B"), Precondition::None)
        .unwrap();
    let t1 = s.changes_since(book, 0).unwrap().unwrap();
    assert_eq!(t1.changed.len(), 2);
    assert!(t1.token > t0);
    assert_eq!(
        s.address_book(A, DEFAULT_BOOK).unwrap().unwrap().token,
        t1.token
    );
    s.put_contact(book, "a.vcf", &card("a", "A2"), Precondition::None)
        .unwrap();
    s.delete_contact(book, "b.vcf", Precondition::None).unwrap();
    s.put_contact(book, "c.vcf", &card("c", "C"), Precondition::None)
        .unwrap();
    let t2 = s.changes_since(book, t1.token).unwrap().unwrap();
    let changed: Vec<&str> = t2.changed.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(changed, ["a.vcf", "c.vcf"]);
    assert_eq!(t2.changed[0].data, card("a", "A2"));
    assert_eq!(t2.deleted, ["b.vcf"]);
    // From the beginning: what exists, no tombstones.
    let all = s.changes_since(book, 0).unwrap().unwrap();
    assert_eq!(all.changed.len(), 2);
    assert!(all.deleted.is_empty());
    // Nothing since the latest token; a token from the future is invalid.
    let none = s.changes_since(book, t2.token).unwrap().unwrap();
    assert!(none.changed.is_empty() && none.deleted.is_empty());
    assert_eq!(s.changes_since(book, t2.token + 100).unwrap(), None);
    // A deleted then re-created contact is a change, not a deletion.
    s.delete_contact(book, "c.vcf", Precondition::None).unwrap();
    s.put_contact(book, "c.vcf", &card("c", "C again"), Precondition::None)
        .unwrap();
    let t3 = s.changes_since(book, t2.token).unwrap().unwrap();
    assert_eq!(t3.changed.len(), 1);
    assert!(t3.deleted.is_empty());
}

pub fn deleting_a_book_deletes_its_contacts<F: ContactsFixture>() {
    let f = F::create();
    let s = f.open();
    let work = s.create_address_book(A, "work", "Work", "").unwrap();
    s.put_contact(work.id, "a.vcf", &card("a", "A"), Precondition::None)
        .unwrap();
    s.delete_address_book(A, "work").unwrap();
    assert_eq!(s.address_book(A, "work").unwrap(), None);
    let again = s.create_address_book(A, "work", "Work", "").unwrap();
    assert!(s.contacts(again.id).unwrap().is_empty());
}

pub fn contacts_are_durable<F: ContactsFixture>() {
    let f = F::create();
    let (book, token) = {
        let s = f.open();
        let book = s.create_address_book(A, "kept", "Kept", "d").unwrap().id;
        s.put_contact(book, "a.vcf", &card("a", "A"), Precondition::None)
            .unwrap();
        s.delete_contact(book, "a.vcf", Precondition::None).unwrap();
        s.put_contact(book, "b.vcf", &card("b", "B"), Precondition::None)
            .unwrap();
        (book, s.changes_since(book, 0).unwrap().unwrap().token)
    };
    let s = f.open();
    let b = s.address_book(A, "kept").unwrap().unwrap();
    assert_eq!((b.id, b.token, b.description.as_str()), (book, token, "d"));
    assert_eq!(
        s.contact(book, "b.vcf").unwrap().unwrap().data,
        card("b", "B")
    );
    assert_eq!(
        s.changes_since(book, 1).unwrap().unwrap().deleted,
        ["a.vcf"]
    );
}
