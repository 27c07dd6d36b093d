//! The maildrop: a snapshot of INBOX taken at login, the per-account lock, and the octets
//! RETR and TOP send.
//!
//! Implementation notes:
//! - **Snapshot** (RFC 1939 §5): at login the session lists INBOX once (UIDs, sizes, blob
//!   addresses). Message numbers are positions in that list and never change during the
//!   session; messages IMAP appends meanwhile are not seen until the next login, and a message
//!   IMAP expunges meanwhile keeps its number (RETR answers `-ERR` if its bytes are gone).
//! - **Sizes.** LIST/STAT report the RFC 1939 size: the octets of the message as stored, which
//!   the store keeps with CRLF line endings — exactly what a client reassembles after removing
//!   the dot-stuffing and the terminating `.` line. Messages received over SMTP always end in
//!   CRLF. A message APPENDed over IMAP without a final CRLF gets one added by RETR (every
//!   POP3 line ends in CRLF, RFC 1939 §3), so the client sees 2 octets more than listed; we do
//!   not read every blob at login to account for this rare case.
//! - **UIDL** (RFC 1939 §7) is `{UIDVALIDITY}.{UID}`: printable ASCII (0x21–0x7E), at most 21
//!   octets, unique forever because UIDs are never reused under one UIDVALIDITY and a new
//!   UIDVALIDITY is always larger (store invariants). A client keeping mail on the server
//!   never downloads a message twice unless UIDVALIDITY changes — the same condition under
//!   which an IMAP client would re-fetch.
//! - **Lock** (RFC 1939 §8): [`Locks`] is an in-process set of account ids; [`LockGuard`]
//!   removes its id on drop, so a session that ends in any way (QUIT, error, dropped
//!   connection, panic unwinding) releases the maildrop. IMAP does not take this lock. The
//!   session also takes the store's lock (`MailStore::maildrop_lock`), which holds across
//!   the processes and nodes that share a store (PostgreSQL: an advisory lock).

use std::collections::HashSet;
use std::sync::Arc;

use parking_lot::Mutex;
use pochta_store::BlobId;
use pochta_types::{AccountId, Uid, UidValidity};

/// One message of the snapshot.
#[derive(Debug, Clone)]
pub struct Entry {
    pub uid: Uid,
    /// Octets as stored (CRLF line endings), see the notes on top.
    pub size: u64,
    pub blob: BlobId,
    /// Marked by DELE; cleared by RSET.
    pub deleted: bool,
}

/// The maildrop of a session in the TRANSACTION state.
#[derive(Debug, Clone)]
pub struct Maildrop {
    pub uid_validity: UidValidity,
    pub entries: Vec<Entry>,
}

impl Maildrop {
    /// The entry with message number `n` (1-based), deleted or not.
    pub fn get(&self, n: u32) -> Option<&Entry> {
        let i = usize::try_from(n).ok()?.checked_sub(1)?;
        self.entries.get(i)
    }

    pub fn get_mut(&mut self, n: u32) -> Option<&mut Entry> {
        let i = usize::try_from(n).ok()?.checked_sub(1)?;
        self.entries.get_mut(i)
    }

    /// Messages not marked deleted, with their numbers.
    pub fn live(&self) -> impl Iterator<Item = (u32, &Entry)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.deleted)
            .map(|(i, e)| (u32::try_from(i + 1).unwrap_or(u32::MAX), e))
    }

    /// `(count, octets)` of the messages not marked deleted (STAT).
    pub fn stat(&self) -> (usize, u64) {
        self.live()
            .fold((0, 0), |(n, sum), (_, e)| (n + 1, sum + e.size))
    }

    /// The unique-id listing of an entry (see the notes on top).
    pub fn uidl(&self, e: &Entry) -> String {
        format!("{}.{}", self.uid_validity.get(), e.uid.get())
    }

    /// UIDs marked deleted, ascending.
    pub fn deleted_uids(&self) -> Vec<Uid> {
        let mut v: Vec<Uid> = self
            .entries
            .iter()
            .filter(|e| e.deleted)
            .map(|e| e.uid)
            .collect();
        v.sort();
        v
    }
}

/// Accounts whose maildrop a POP3 session holds; one per server.
#[derive(Debug, Default, Clone)]
pub struct Locks(Arc<Mutex<HashSet<AccountId>>>);

impl Locks {
    /// Takes the lock of `account`, or `None` if another session holds it.
    pub fn try_lock(&self, account: AccountId) -> Option<LockGuard> {
        if self.0.lock().insert(account) {
            Some(LockGuard {
                locks: self.clone(),
                account,
            })
        } else {
            None
        }
    }

    pub fn is_locked(&self, account: AccountId) -> bool {
        self.0.lock().contains(&account)
    }
}

/// Holds an account's maildrop lock until dropped.
#[derive(Debug)]
pub struct LockGuard {
    locks: Locks,
    account: AccountId,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.locks.0.lock().remove(&self.account);
    }
}

/// The part of a message TOP sends (RFC 1939 §7): the header, the blank line, and the first
/// `lines` lines of the body. A message without a blank line is all header.
pub fn top(message: &[u8], lines: u32) -> &[u8] {
    let body_start = if message.starts_with(b"\r\n") {
        2
    } else {
        match find(message, b"\r\n\r\n") {
            Some(i) => i + 4,
            None => return message,
        }
    };
    let mut end = body_start;
    for _ in 0..lines {
        if end >= message.len() {
            break;
        }
        end = match message[end..].iter().position(|&b| b == b'\n') {
            Some(i) => end + i + 1,
            None => message.len(),
        };
    }
    &message[..end]
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_lines() {
        let m = b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n";
        assert_eq!(top(m, 0), b"A: 1\r\nB: 2\r\n\r\n");
        assert_eq!(top(m, 2), b"A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n");
        assert_eq!(top(m, 99), &m[..]);
        assert_eq!(top(b"A: 1\r\n", 5), b"A: 1\r\n");
        assert_eq!(top(b"\r\nbody\r\nx\r\n", 1), b"\r\nbody\r\n");
        assert_eq!(top(b"A: 1\r\n\r\nno-crlf", 3), b"A: 1\r\n\r\nno-crlf");
    }

    #[test]
    fn lock_released_on_drop() {
        let locks = Locks::default();
        let a = AccountId(1);
        let g = locks.try_lock(a).expect("free");
        assert!(locks.try_lock(a).is_none());
        assert!(locks.try_lock(AccountId(2)).is_some());
        drop(g);
        assert!(!locks.is_locked(a));
        assert!(locks.try_lock(a).is_some());
    }
}
