//! STORE and UID STORE (RFC 3501 §6.4.6).

mod common;

use common::*;

#[test]
fn store_flags() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    for i in 0..3 {
        c.append("INBOX", "", &message(&format!("m{i}"), "x"));
    }
    c.ok("SELECT INBOX");
    let r = c.ok("STORE 1:2 +FLAGS (\\Seen Important)");
    // The new keyword is announced before a FETCH shows it (RFC 3501 §7.2.6).
    assert!(
        r[0].starts_with("* FLAGS (") && r[0].contains(" Important)"),
        "{r:#?}"
    );
    assert!(
        r[1].starts_with("* OK [PERMANENTFLAGS (") && r[1].contains(" Important \\*)"),
        "{r:#?}"
    );
    let r = &r[2..];
    assert_eq!(r.len(), 3, "{r:#?}");
    assert!(
        r[0].starts_with("* 1 FETCH (FLAGS (\\Seen Important \\Recent))"),
        "{r:#?}"
    );
    let r = c.ok("STORE 1 -FLAGS (important)");
    assert!(r[0].contains("FLAGS (\\Seen \\Recent)"), "{r:#?}");
    let r = c.ok("STORE 2 FLAGS.SILENT (\\Draft)");
    assert_eq!(r.len(), 1, "silent: {r:#?}");
    let r = c.ok("UID STORE 3 +FLAGS (\\Answered)");
    assert!(
        r[0].starts_with("* 3 FETCH (UID 3 FLAGS (\\Answered \\Recent))"),
        "{r:#?}"
    );
    let r = c.ok("FETCH 1:3 FLAGS");
    assert!(r[1].contains("FLAGS (\\Draft \\Recent)"), "{r:#?}");
    // \Recent cannot be changed by a client; it is ignored (RFC 3501 §2.3.2).
    let r = c.ok("STORE 1 FLAGS (\\Recent \\Seen)");
    assert!(r[0].contains("FLAGS (\\Seen \\Recent)"), "{r:#?}");
    let (st, _) = c.status("STORE 1 +FLAGS (\\Bogus)");
    assert_eq!(st, "BAD");
}
