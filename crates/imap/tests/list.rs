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

/// A LIST/LSUB pattern (or reference) that is no valid modified UTF-7, or 8-bit without
/// UTF8=ACCEPT, matches no mailbox: `OK` with no responses (as Dovecot), not `NO`.
#[test]
fn a_pattern_that_is_no_valid_name_lists_nothing() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.ok("CREATE Work");
    c.ok("SUBSCRIBE Work");
    for pat in [
        "\"&Jjo\"",
        "&",
        "\"Caf\u{e9}*\"",
        // imaptest's `atoms` group.
        "!#$$&'+,-.0123456789:;<=>?@^_`|[}%*",
        "(Work* \"&Jjo\")",
    ] {
        let r = c.ok(&format!("LIST \"\" {pat}"));
        let listed: Vec<&String> = r.iter().filter(|l| l.starts_with("* LIST")).collect();
        // Only the valid pattern of the pattern list lists anything.
        if pat.starts_with('(') {
            assert_eq!(listed.len(), 1, "{pat}: {r:#?}");
            assert!(listed[0].contains("\"Work\""), "{pat}: {r:#?}");
        } else {
            assert!(listed.is_empty(), "{pat}: {r:#?}");
        }
    }
    let r = c.ok("LSUB \"\" \"&Jjo*\"");
    assert_eq!(r.len(), 1, "{r:#?}");
    let r = c.ok("LIST \"&\" *");
    assert_eq!(r.len(), 1, "an invalid reference lists nothing: {r:#?}");
    // A valid pattern still lists.
    let r = c.ok("LIST \"\" Wor*");
    assert!(has(&r, "\"Work\""), "{r:#?}");
}

/// RFC 5258 §3.1 (b), §3.5: with RECURSIVEMATCH, a parent that does not meet the selection
/// itself is listed with CHILDINFO only when a matching descendant is not listed too.
#[test]
fn recursivematch_childinfo_is_not_redundant() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.ok("CREATE T/t2/t1");
    c.ok("SUBSCRIBE T/t2/t1");
    let r = c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (T/t2)");
    assert!(
        has(&r, "\"/\" \"T/t2\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"),
        "{r:#?}"
    );
    // T/t2/t1 is listed itself: T/t2's CHILDINFO would say nothing new.
    let r = c.ok("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (T/t2 T/t2/t1)");
    assert!(has(&r, "\\Subscribed) \"/\" \"T/t2/t1\""), "{r:#?}");
    assert!(!has(&r, "\"T/t2\" "), "{r:#?}");
    assert_eq!(r.len(), 2, "{r:#?}");
}
