//! LIST-MYRIGHTS (RFC 8440): `LIST ... RETURN (MYRIGHTS)` over TCP.

mod common;

use common::*;

#[test]
fn list_returns_myrights_and_follows_acl_changes() {
    let s = start();
    let mut owner = Client::login(s.addr, USER);
    let mut other = Client::login(s.addr, OTHER);
    let r = owner.ok("CAPABILITY");
    assert!(has(&r, " LIST-MYRIGHTS"), "{r:#?}");
    owner.ok("CREATE Team");
    owner.ok("CREATE Parent/Child");
    owner.ok(&format!("SETACL Team {OTHER} lr"));

    // The owner: every right, each MYRIGHTS right after its LIST line.
    let r = owner.ok("LIST \"\" \"*\" RETURN (MYRIGHTS)");
    let inbox = r
        .iter()
        .position(|l| l.starts_with("* LIST") && l.ends_with(" \"INBOX\""))
        .unwrap_or_else(|| panic!("INBOX listed: {r:#?}"));
    assert!(r[inbox + 1].starts_with("* MYRIGHTS INBOX "), "{r:#?}");
    let team = r
        .iter()
        .find(|l| l.starts_with("* MYRIGHTS Team "))
        .expect("Team");
    for right in ["l", "r", "a", "x", "t", "e"] {
        assert!(team.rsplit(' ').next().unwrap().contains(right), "{team}");
    }
    // Without the option, no MYRIGHTS.
    let r = owner.ok("LIST \"\" \"*\"");
    assert!(!has(&r, "MYRIGHTS"), "{r:#?}");

    // The grantee sees its own rights on the shared mailbox...
    let shared = "\"Other Users/user@example.org/Team\"";
    let r = other.ok("LIST \"\" \"Other Users/*\" RETURN (MYRIGHTS)");
    assert!(has(&r, &format!("* MYRIGHTS {shared} lr")), "{r:#?}");
    // ...no MYRIGHTS for the \Noselect namespace levels...
    assert!(!has(&r, "* MYRIGHTS \"Other Users\""), "{r:#?}");
    // ...and the owner's change at its next LIST (and MYRIGHTS agrees).
    owner.ok(&format!("SETACL Team {OTHER} lrsw"));
    let r = other.ok("LIST \"\" \"Other Users/*\" RETURN (MYRIGHTS)");
    assert!(has(&r, &format!("* MYRIGHTS {shared} lrsw")), "{r:#?}");
    let r = other.ok(&format!("MYRIGHTS {shared}"));
    assert!(has(&r, &format!("* MYRIGHTS {shared} lrsw")), "{r:#?}");

    // Combined with STATUS and another return option.
    let r = owner.ok("LIST (SUBSCRIBED) \"\" \"*\" RETURN (MYRIGHTS STATUS (MESSAGES))");
    assert!(has(&r, "* MYRIGHTS INBOX "), "{r:#?}");
    assert!(has(&r, "* STATUS \"INBOX\" (MESSAGES 0)"), "{r:#?}");
}
