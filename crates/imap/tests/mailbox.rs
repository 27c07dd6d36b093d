//! CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS (RFC 3501 §6.3).

mod common;

use common::*;
use pochta_types::mutf7;

fn enc(name: &str) -> String {
    format!("\"{}\"", mutf7::encode(name))
}

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
fn cyrillic_create_list_rename_delete() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.ok(&format!("CREATE {}", enc("Входящие/Работа")));
    let r = c.ok("LIST \"\" *");
    assert!(
        has(&r, &format!("(\\HasChildren) \"/\" {}", enc("Входящие"))),
        "{r:#?}"
    );
    assert!(
        has(
            &r,
            &format!("(\\HasNoChildren) \"/\" {}", enc("Входящие/Работа"))
        ),
        "{r:#?}"
    );
    // % does not cross the separator.
    let r = c.ok("LIST \"\" %");
    assert!(!has(&r, &mutf7::encode("Входящие/Работа")), "{r:#?}");
    assert!(has(&r, &mutf7::encode("Входящие")));
    // Reference + pattern.
    let r = c.ok(&format!("LIST {} %", enc("Входящие/")));
    assert_eq!(r.len(), 2, "{r:#?}");
    // Creating it again fails.
    let (st, r) = c.status(&format!("CREATE {}", enc("Входящие/Работа")));
    assert_eq!(st, "NO");
    assert!(has(&r, "[ALREADYEXISTS]"));
    // Rename the parent: the child follows.
    c.ok(&format!(
        "RENAME {} {}",
        enc("Входящие"),
        enc("Отправленные")
    ));
    let r = c.ok("LIST \"\" *");
    assert!(has(&r, &enc("Отправленные/Работа")), "{r:#?}");
    assert!(!has(&r, &mutf7::encode("Входящие")), "{r:#?}");
    // Delete a parent with children: it becomes \Noselect.
    c.ok(&format!("DELETE {}", enc("Отправленные")));
    let r = c.ok("LIST \"\" *");
    assert!(
        has(
            &r,
            &format!("(\\Noselect \\HasChildren) \"/\" {}", enc("Отправленные"))
        ),
        "{r:#?}"
    );
    let (st, _) = c.status(&format!("SELECT {}", enc("Отправленные")));
    assert_eq!(st, "NO");
    let (st, r) = c.status(&format!("DELETE {}", enc("Отправленные")));
    assert_eq!(st, "NO", "{r:#?}");
    c.ok(&format!("DELETE {}", enc("Отправленные/Работа")));
    c.ok(&format!("DELETE {}", enc("Отправленные")));
    // Bad modified UTF-7 is refused.
    let (st, _) = c.status("CREATE \"&Jjo\"");
    assert_ne!(st, "OK");
}

#[test]
fn inbox_rules() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    let (st, _) = c.status("DELETE INBOX");
    assert_eq!(st, "NO");
    let (st, _) = c.status("CREATE inbox");
    assert_eq!(st, "NO");
    c.append("INBOX", "", &message("one", "body"));
    // RENAME INBOX moves its messages and leaves INBOX empty (RFC 3501 §6.3.5).
    c.ok("RENAME inbox Old");
    let r = c.ok("STATUS INBOX (MESSAGES)");
    assert!(has(&r, "(MESSAGES 0)"), "{r:#?}");
    let r = c.ok("STATUS Old (MESSAGES)");
    assert!(has(&r, "(MESSAGES 1)"), "{r:#?}");
    let r = c.ok("LIST \"\" InBoX");
    assert!(has(&r, "\"INBOX\""), "{r:#?}");
}

#[test]
fn subscribe_and_lsub() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.ok("CREATE a/b/c");
    c.ok("SUBSCRIBE a/b/c");
    c.ok("SUBSCRIBE INBOX");
    let r = c.ok("LSUB \"\" *");
    assert!(has(&r, "* LSUB () \"/\" \"a/b/c\""), "{r:#?}");
    assert!(has(&r, "\"INBOX\""));
    // A parent of a subscribed name matched by % is \Noselect in LSUB.
    let r = c.ok("LSUB \"\" %");
    assert!(has(&r, "* LSUB (\\Noselect) \"/\" \"a\""), "{r:#?}");
    let r = c.ok("LIST (SUBSCRIBED) \"\" *");
    assert!(has(&r, "\\Subscribed"), "{r:#?}");
    c.ok("UNSUBSCRIBE a/b/c");
    let r = c.ok("LSUB \"\" *");
    assert!(!has(&r, "a/b/c"), "{r:#?}");
    let (st, _) = c.status("SUBSCRIBE nosuch");
    assert_eq!(st, "NO");
}

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

#[test]
fn accounts_are_isolated() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    a.ok("CREATE Private");
    a.append("Private", "", &message("secret", "mine"));
    let mut b = Client::login(s.addr, OTHER);
    let r = b.ok("LIST \"\" *");
    assert!(!has(&r, "Private"), "{r:#?}");
    for name in [
        "Private",
        "../user@example.org/Private",
        "INBOX/../Private",
        "/Private",
        "user@example.org/Private",
    ] {
        let (st, _) = b.status(&format!("SELECT \"{name}\""));
        assert_eq!(st, "NO", "{name}");
    }
    let r = b.ok("STATUS INBOX (MESSAGES)");
    assert!(has(&r, "(MESSAGES 0)"));
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
