//! QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT, SETQUOTA, STATUS DELETED / DELETED-STORAGE,
//! and `NO [OVERQUOTA]` on every path that adds messages (APPEND, MULTIAPPEND, COPY), while
//! MOVE, STORE and EXPUNGE stay allowed on a full account.

mod common;

use common::*;
use pochta_store::{Directory, MailStore, QuotaLimits};
use pochta_types::Address;

fn set_limits(s: &Server, user: &str, storage: Option<u64>, messages: Option<u64>) {
    let acc = s
        .store
        .account_by_address(&Address::new(user).unwrap())
        .unwrap()
        .unwrap();
    s.store
        .set_quota(acc.id, QuotaLimits { storage, messages })
        .unwrap();
}

#[test]
fn getquota_and_getquotaroot() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    // No limits: the root exists with an empty list (RFC 9208 §4.2.1).
    let r = c.ok("GETQUOTAROOT INBOX");
    assert_eq!(r[0], "* QUOTAROOT INBOX \"\"", "{r:#?}");
    assert_eq!(r[1], "* QUOTA \"\" ()", "{r:#?}");
    // Any name, existing or not (§4.1.2), in modified UTF-7.
    let r = c.ok("GETQUOTAROOT \"&BB0EPgQyBDAETw-\"");
    assert_eq!(r[0], "* QUOTAROOT &BB0EPgQyBDAETw- \"\"", "{r:#?}");

    c.append("INBOX", "", &message("one", &"x".repeat(3000)));
    set_limits(&s, USER, Some(10 * 1024), Some(100));
    let r = c.ok("GETQUOTA \"\"");
    // 3000-odd bytes: usage rounded up to KiB, limit 10 KiB.
    assert_eq!(r[0], "* QUOTA \"\" (STORAGE 4 10 MESSAGE 1 100)", "{r:#?}");
    let r = c.ok("GETQUOTAROOT INBOX");
    assert!(
        has(&r, "* QUOTA \"\" (STORAGE 4 10 MESSAGE 1 100)"),
        "{r:#?}"
    );
    // Only "" exists.
    let (st, r) = c.status("GETQUOTA \"user@example.org\"");
    assert_eq!(st, "NO");
    assert!(has(&r, "[NONEXISTENT]"), "{r:#?}");
    // Limits are the administrator's.
    let (st, r) = c.status("SETQUOTA \"\" (STORAGE 99999)");
    assert_eq!(st, "NO");
    assert!(has(&r, "[NOPERM]"), "{r:#?}");
    let r = c.ok("GETQUOTA \"\"");
    assert!(has(&r, "STORAGE 4 10 "), "{r:#?}");
    // Before login: BAD.
    let mut anon = Client::connect(s.addr);
    let (st, _) = anon.status("GETQUOTAROOT INBOX");
    assert_eq!(st, "BAD");
}

#[test]
fn status_deleted_and_deleted_storage() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let a = message("a", "first");
    let b = message("b", "second message");
    c.append("INBOX", "\\Deleted", &a);
    c.append("INBOX", "\\Deleted", &b);
    c.append("INBOX", "", &message("c", "third"));
    let r = c.ok("STATUS INBOX (MESSAGES DELETED DELETED-STORAGE)");
    assert_eq!(
        r[0],
        format!(
            "* STATUS \"INBOX\" (MESSAGES 3 DELETED 2 DELETED-STORAGE {})",
            a.len() + b.len()
        ),
        "{r:#?}"
    );
    let r = c.ok("STATUS Trash (DELETED DELETED-STORAGE)");
    assert_eq!(r[0], "* STATUS \"Trash\" (DELETED 0 DELETED-STORAGE 0)");
}

#[test]
fn append_over_quota() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    set_limits(&s, USER, None, Some(2));
    c.ok("SELECT INBOX");
    let r = c.append("INBOX", "", &message("1", "one"));
    assert!(r.last().unwrap().contains("OK [APPENDUID"), "{r:#?}");
    // MULTIAPPEND of two does not fit in the one slot left: nothing is appended.
    let (m2, m3) = (message("2", "two"), message("3", "three"));
    let mut cmd = format!("t99 APPEND INBOX {{{}+}}\r\n", m2.len()).into_bytes();
    cmd.extend_from_slice(&m2);
    cmd.extend_from_slice(format!(" {{{}+}}\r\n", m3.len()).as_bytes());
    cmd.extend_from_slice(&m3);
    cmd.extend_from_slice(b"\r\n");
    c.send(&cmd);
    let r = c.read_until("t99");
    assert!(
        r.last().unwrap().starts_with("t99 NO [OVERQUOTA]"),
        "{r:#?}"
    );
    let r = c.append("INBOX", "", &m2);
    assert!(r.last().unwrap().contains("OK [APPENDUID"), "{r:#?}");
    let r = c.append("INBOX", "", &m3);
    assert!(r.last().unwrap().contains("NO [OVERQUOTA]"), "{r:#?}");
    let r = c.ok("NOOP");
    assert!(!has(&r, "3 EXISTS"), "{r:#?}");
    // Storage: a message larger than what is left is refused too.
    set_limits(&s, USER, Some(1024), None);
    let r = c.append("Drafts", "", &message("big", &"y".repeat(2000)));
    assert!(r.last().unwrap().contains("NO [OVERQUOTA]"), "{r:#?}");
    // Another account is not affected.
    let mut o = Client::login(s.addr, OTHER);
    let r = o.append("INBOX", "", &m3);
    assert!(r.last().unwrap().contains("OK [APPENDUID"), "{r:#?}");
}

#[test]
fn copy_move_expunge_on_a_full_account() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    for i in 0..3 {
        c.append("INBOX", "", &message(&format!("m{i}"), "body"));
    }
    set_limits(&s, USER, None, Some(3));
    c.ok("SELECT INBOX");
    let (st, r) = c.status("COPY 1 Archive");
    assert_eq!(st, "NO");
    assert!(r.last().unwrap().contains("[OVERQUOTA]"), "{r:#?}");
    let (st, r) = c.status("UID COPY 1:* Archive");
    assert_eq!(st, "NO", "{r:#?}");
    let r = c.ok("STATUS Archive (MESSAGES)");
    assert!(has(&r, "(MESSAGES 0)"), "{r:#?}");
    // A move within the account does not change usage: allowed when full.
    let r = c.ok("MOVE 1 Archive");
    assert!(has(&r, "* 1 EXPUNGE"), "{r:#?}");
    let r = c.ok("GETQUOTAROOT INBOX");
    assert!(has(&r, "(MESSAGE 3 3)"), "{r:#?}");
    // Flags and expunge are always allowed, and free room.
    c.ok("STORE 1 +FLAGS (\\Deleted)");
    c.ok("EXPUNGE");
    let r = c.ok("GETQUOTA \"\"");
    assert!(has(&r, "(MESSAGE 2 3)"), "{r:#?}");
    let r = c.ok("COPY 1 Archive");
    assert!(r.last().unwrap().contains("[COPYUID"), "{r:#?}");
    let (st, _) = c.status("COPY 1 Archive");
    assert_eq!(st, "NO");
}
