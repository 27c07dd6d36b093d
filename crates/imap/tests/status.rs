//! STATUS (RFC 3501 §6.3.10).

mod common;

use common::*;

#[test]
fn status_counts() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.append("INBOX", "\\Seen", &message("a", "x"));
    c.append("INBOX", "", &message("b", "y"));
    let r = c.ok("STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)");
    let line = &r[0];
    assert!(
        line.starts_with("* STATUS \"INBOX\" (MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY "),
        "{line}"
    );
    assert!(line.ends_with("UNSEEN 1)"), "{line}");
    let (st, r) = c.status("STATUS nosuch (MESSAGES)");
    assert_eq!(st, "NO");
    assert!(has(&r, "[NONEXISTENT]"));
}
