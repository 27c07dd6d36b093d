//! LIST and LSUB with LIST-EXTENDED and SPECIAL-USE (RFC 3501 §6.3.8, RFC 5258, RFC 6154).

mod common;

use common::*;

#[test]
fn default_mailboxes_and_special_use() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let r = c.ok("LIST \"\" *");
    for (name, attr) in [
        ("INBOX", ""),
        ("Sent", "\\Sent"),
        ("Drafts", "\\Drafts"),
        ("Trash", "\\Trash"),
        ("Junk", "\\Junk"),
        ("Archive", "\\Archive"),
    ] {
        assert!(
            r.iter()
                .any(|l| l.ends_with(&format!("\"/\" \"{name}\"")) && l.contains(attr)),
            "{name} {attr}: {r:#?}"
        );
    }
    let r = c.ok("LIST \"\" \"\"");
    assert_eq!(r[0], "* LIST (\\Noselect) \"/\" \"\"");
}

#[test]
fn list_extended() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.ok("CREATE Fruit/Apple");
    c.ok("CREATE Fruit/Banana");
    c.ok("CREATE Tofu");
    c.ok("SUBSCRIBE Fruit/Banana");
    c.ok("CREATE Gone");
    c.ok("SUBSCRIBE Gone");
    c.ok("DELETE Gone");
    // RFC 5258 §5 example 4: the unsubscribed parent is listed with CHILDINFO.
    let r = c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" % RETURN (CHILDREN)");
    assert!(
        has(
            &r,
            "* LIST (\\HasChildren) \"/\" \"Fruit\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"
        ),
        "{r:#?}"
    );
    assert!(
        has(
            &r,
            "(\\NonExistent \\HasNoChildren \\Subscribed) \"/\" \"Gone\""
        ),
        "{r:#?}"
    );
    assert!(!has(&r, "Tofu"), "{r:#?}");
    // Several patterns, RETURN (SUBSCRIBED SPECIAL-USE STATUS).
    let r = c.ok("LIST \"\" (Fruit/% Sent) RETURN (SUBSCRIBED STATUS (MESSAGES UIDNEXT))");
    assert!(
        has(
            &r,
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Fruit/Banana\""
        ),
        "{r:#?}"
    );
    assert!(
        has(&r, "* LIST (\\HasNoChildren) \"/\" \"Fruit/Apple\""),
        "{r:#?}"
    );
    assert!(
        has(&r, "* STATUS \"Fruit/Apple\" (MESSAGES 0 UIDNEXT 1)"),
        "{r:#?}"
    );
    assert!(has(&r, "\\Sent) \"/\" \"Sent\""), "{r:#?}");
    let r = c.ok("LIST (SPECIAL-USE) \"\" *");
    assert_eq!(r.len(), 6, "five special-use mailboxes: {r:#?}");
    // CREATE with a special-use attribute (RFC 6154 §3).
    c.ok("CREATE Spam (USE (\\Junk))");
    let r = c.ok("LIST \"\" Spam");
    assert!(has(&r, "\\Junk"), "{r:#?}");
}
