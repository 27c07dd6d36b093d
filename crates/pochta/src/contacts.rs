//! `pochta contacts import|export|pull`: vCard files in and out of an account's address
//! book, and the address books of another provider over CardDAV
//! (`pochta_collector::carddav`).
//!
//! Implementation notes:
//! - A file (Google, Yandex, Outlook and Apple exports are all this) holds any number of
//!   vCards; each `BEGIN:VCARD` … `END:VCARD` block is stored exactly as written, as
//!   `<UID>.vcf` (characters outside `[A-Za-z0-9._@-]` become `_`), or, without a UID, as
//!   the first 32 hex digits of its SHA-256, so importing the same file twice replaces
//!   rather than duplicates.
//! - Each card is checked like a CardDAV PUT (`pochta_http::vcard::check`); cards that fail
//!   are reported and skipped, the others imported.
//! - Export writes every card of the book, one after another, as stored.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use pochta_store::contacts::Precondition;
use pochta_store::{ContactStore, Directory};
use pochta_types::Address;

use crate::config::Config;

fn account(config: &Config, address: &str) -> Result<pochta_types::AccountId> {
    let store = crate::admin::open(config)?;
    let a = Address::new(address).map_err(|e| anyhow::anyhow!("{address:?}: {e}"))?;
    match store.account_by_address(&a)? {
        Some(acc) => Ok(acc.id),
        None => bail!("no account {address}"),
    }
}

/// The vCard blocks of a file, each as written.
pub fn split_cards(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = None;
    let mut pos = 0;
    for line in data.split_inclusive(|b| *b == b'\n') {
        let t = line.trim_ascii();
        if t.eq_ignore_ascii_case(b"BEGIN:VCARD") {
            start = Some(pos);
        } else if t.eq_ignore_ascii_case(b"END:VCARD")
            && let Some(s) = start.take()
        {
            out.push(&data[s..pos + line.len()]);
        }
        pos += line.len();
    }
    out
}

fn resource_name(card: &[u8], uid: Option<&str>) -> String {
    match uid.filter(|u| !u.is_empty()) {
        Some(uid) => {
            let safe: String = uid
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._@-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("{safe}.vcf")
        }
        None => {
            use sha2::{Digest, Sha256};
            let h: String = Sha256::digest(card)[..16]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("{h}.vcf")
        }
    }
}

fn book(
    config: &Config,
    address: &str,
    name: &str,
) -> Result<(std::sync::Arc<dyn ContactStore>, i64)> {
    let id = account(config, address)?;
    let store = crate::backend::contact_store(config)?;
    let books = store.address_books(id)?;
    match books.into_iter().find(|b| b.name == name) {
        Some(b) => Ok((store, b.id)),
        None => bail!("{address} has no address book {name:?}"),
    }
}

/// `pochta contacts import ADDRESS FILE [--book NAME]`.
pub fn import(
    config: &Config,
    address: &str,
    file: &Path,
    book_name: &str,
    out: &mut impl Write,
) -> Result<()> {
    let data = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let (store, book) = book(config, address, book_name)?;
    let (mut stored, mut skipped) = (0, 0);
    for card in split_cards(&data) {
        match pochta_http::vcard::check(card) {
            Ok(uid) => {
                let name = resource_name(card, uid.as_deref());
                store.put_contact(book, &name, card, Precondition::None)?;
                stored += 1;
            }
            Err(why) => {
                skipped += 1;
                writeln!(out, "skipped a card: {why}")?;
            }
        }
    }
    writeln!(
        out,
        "imported {stored} contact(s) into {address}/{book_name}{}",
        if skipped > 0 {
            format!(", skipped {skipped}")
        } else {
            String::new()
        }
    )?;
    Ok(())
}

/// `pochta contacts export ADDRESS [--book NAME]`: every card, as stored.
pub fn export(config: &Config, address: &str, book_name: &str, out: &mut impl Write) -> Result<()> {
    let (store, book) = book(config, address, book_name)?;
    for c in store.contacts(book)? {
        out.write_all(&c.data)?;
        if !c.data.ends_with(b"\n") {
            out.write_all(b"\r\n")?;
        }
    }
    Ok(())
}

/// `pochta contacts pull ADDRESS URL --user USER`: the remote's books into ADDRESS's.
pub fn pull(
    config: &Config,
    address: &str,
    remote: &pochta_collector::carddav::Remote,
    out: &mut impl Write,
) -> Result<()> {
    let id = account(config, address)?;
    let store = crate::backend::contact_store(config)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let r = rt
        .block_on(pochta_collector::carddav::pull(store, id, remote))
        .with_context(|| format!("pulling contacts from {}", remote.url))?;
    writeln!(
        out,
        "{} address book(s), {} contact(s) fetched, {} stored or updated",
        r.books, r.fetched, r.stored
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_are_split_as_written() {
        let f = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\njunk\nBEGIN:VCARD\nVERSION:4.0\nFN:B\nEND:VCARD";
        let cards = split_cards(f);
        assert_eq!(cards.len(), 2);
        assert_eq!(
            cards[0],
            b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\n"
        );
        assert_eq!(cards[1], b"BEGIN:VCARD\nVERSION:4.0\nFN:B\nEND:VCARD");
        assert_eq!(resource_name(b"x", Some("a b/c")), "a_b_c.vcf");
        assert_eq!(resource_name(b"x", None).len(), 36);
    }
}
