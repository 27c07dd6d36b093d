//! COPY, MOVE and EXPUNGE after them (RFC 3501 §6.4.3, §6.4.7, RFC 6851, RFC 4315).

mod common;

use common::*;

#[test]
fn copy_move_expunge() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    for i in 0..4 {
        c.append(
            "INBOX",
            if i == 0 { "\\Flagged" } else { "" },
            &message(&format!("m{i}"), "x"),
        );
    }
    c.ok("CREATE Dest");
    c.ok("SELECT INBOX");
    let (st, r) = c.status("COPY 1 Nowhere");
    assert_eq!(st, "NO");
    assert!(has(&r, "[TRYCREATE]"));
    let r = c.ok("COPY 1:2 Dest");
    assert!(r.last().unwrap().contains("[COPYUID "), "{r:#?}");
    assert!(r.last().unwrap().contains(" 1:2 1:2]"), "{r:#?}");
    let r = c.ok("STATUS Dest (MESSAGES)");
    assert!(has(&r, "MESSAGES 2"));
    // Flags are kept by COPY.
    let r = c.ok("UID MOVE 3 Dest");
    assert!(has(&r, "* OK [COPYUID "), "{r:#?}");
    assert!(has(&r, "* 3 EXPUNGE"), "{r:#?}");
    let r = c.ok("FETCH 1:* UID");
    assert_eq!(r.len(), 4, "{r:#?}");
    c.ok("STORE 1,3 +FLAGS.SILENT (\\Deleted)");
    let r = c.ok("EXPUNGE");
    assert_eq!(
        &r[..2],
        &["* 3 EXPUNGE".to_string(), "* 1 EXPUNGE".to_string()],
        "{r:#?}"
    );
    let r = c.ok("FETCH 1:* (UID)");
    assert_eq!(r[0], "* 1 FETCH (UID 2)");
    // UID EXPUNGE only touches the given UIDs.
    c.ok("SELECT Dest");
    let r = c.ok("FETCH 1 FLAGS");
    assert!(r[0].contains("\\Flagged"), "COPY keeps flags: {r:#?}");
    c.ok("STORE 1:3 +FLAGS.SILENT (\\Deleted)");
    let r = c.ok("UID EXPUNGE 2");
    assert_eq!(r[0], "* 2 EXPUNGE", "{r:#?}");
    assert_eq!(r.len(), 2);
    // CLOSE expunges silently; UNSELECT does not.
    let r = c.ok("CLOSE");
    assert_eq!(r.len(), 1, "{r:#?}");
    let r = c.ok("STATUS Dest (MESSAGES)");
    assert!(has(&r, "MESSAGES 0"), "{r:#?}");
    c.ok("SELECT INBOX");
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    c.ok("UNSELECT");
    let r = c.ok("STATUS INBOX (MESSAGES)");
    assert!(has(&r, "MESSAGES 1"), "{r:#?}");
    let (st, _) = c.status("FETCH 1 FLAGS");
    assert_eq!(st, "BAD");
}
