//! METADATA and METADATA-SERVER (RFC 5464) over TCP.

mod common;

use common::*;

#[test]
fn shared_and_private_entries_between_users_and_sessions() {
    let s = start();
    let mut owner = Client::login(s.addr, USER);
    let mut owner2 = Client::login(s.addr, USER);
    let mut other = Client::login(s.addr, OTHER);
    let r = owner.ok("CAPABILITY");
    assert!(has(&r, " METADATA METADATA-SERVER"), "{r:#?}");
    owner.ok("CREATE Team");
    owner.ok(&format!("SETACL Team {OTHER} lr"));
    owner.ok("SETMETADATA Team (/shared/comment \"team notes\" /private/comment {7}\r\nmy note)");

    // The owner's other session sees both; entry names are case-insensitive.
    let r = owner2.ok("GETMETADATA Team (/Shared/Comment /private/comment)");
    assert!(
        has(
            &r,
            "* METADATA Team (\"/shared/comment\" \"team notes\" \"/private/comment\" \"my note\")"
        ),
        "{r:#?}"
    );
    // The grantee sees the shared entry, not the owner's private one.
    let shared = "\"Other Users/user@example.org/Team\"";
    let r = other.ok(&format!(
        "GETMETADATA {shared} (/shared/comment /private/comment)"
    ));
    assert!(
        has(
            &r,
            "\"/shared/comment\" \"team notes\" \"/private/comment\" NIL"
        ),
        "{r:#?}"
    );
    // Without "w" it cannot change the shared entry, but has a private one of its own.
    let r = other.cmd(&format!(
        "SETMETADATA {shared} (/shared/comment \"mine now\")"
    ));
    assert!(r.last().unwrap().contains("NO [NOPERM]"), "{r:#?}");
    other.ok(&format!(
        "SETMETADATA {shared} (/private/comment \"grantee's\")"
    ));
    let r = owner.ok("GETMETADATA Team /private/comment");
    assert!(has(&r, "\"my note\""), "{r:#?}");
    // A mailbox it cannot see at all.
    owner.ok("CREATE Secret");
    let r = other.cmd("GETMETADATA \"Other Users/user@example.org/Secret\" /shared/comment");
    assert!(r.last().unwrap().contains(" NO "), "{r:#?}");

    // Removal with NIL, seen by the other session.
    owner.ok("SETMETADATA Team (/shared/comment NIL)");
    let r = owner2.ok("GETMETADATA Team /shared/comment");
    assert!(has(&r, "(\"/shared/comment\" NIL)"), "{r:#?}");
}

#[test]
fn server_entries_depth_maxsize_and_limits() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, OTHER);
    let r = a.ok("GETMETADATA \"\" /shared/admin");
    assert!(
        has(
            &r,
            "* METADATA \"\" (\"/shared/admin\" \"mailto:postmaster@mail.example.org\")"
        ),
        "{r:#?}"
    );
    let r = a.cmd("SETMETADATA \"\" (/shared/comment \"hello all\")");
    assert!(r.last().unwrap().contains("NO [NOPERM]"), "{r:#?}");
    a.ok("SETMETADATA \"\" (/private/vendor/pochta/a \"1\" /private/vendor/pochta/a/b \"22\" /private/vendor/pochta/c \"333\")");
    let r = b.ok("GETMETADATA (DEPTH infinity) \"\" /private/vendor");
    assert!(has(&r, "(\"/private/vendor\" NIL)"), "private to A: {r:#?}");

    // DEPTH.
    let r = a.ok("GETMETADATA \"\" (DEPTH 1) /private/vendor/pochta");
    assert!(has(&r, "\"/private/vendor/pochta/a\" \"1\""), "{r:#?}");
    assert!(has(&r, "\"/private/vendor/pochta/c\" \"333\""), "{r:#?}");
    assert!(!has(&r, "/a/b"), "{r:#?}");
    let r = a.ok("GETMETADATA \"\" (DEPTH infinity) /private/vendor/pochta");
    assert!(has(&r, "\"/private/vendor/pochta/a/b\" \"22\""), "{r:#?}");
    // MAXSIZE: longer values are left out and the longest size reported.
    let r = a.ok("GETMETADATA \"\" (MAXSIZE 1 DEPTH infinity) /private/vendor/pochta");
    assert!(has(&r, "\"/private/vendor/pochta/a\" \"1\""), "{r:#?}");
    assert!(!has(&r, "\"333\""), "{r:#?}");
    assert!(
        r.last().unwrap().contains("OK [METADATA LONGENTRIES 3]"),
        "{r:#?}"
    );

    // A value over the limit, and too many entries: nothing of the command is kept.
    let big = "v".repeat(70 * 1024);
    let r = a.cmd(&format!(
        "SETMETADATA INBOX (/private/ok \"x\" /private/big {{{}+}}\r\n{big})",
        big.len()
    ));
    assert!(
        r.last().unwrap().contains("NO [METADATA MAXSIZE 65536]"),
        "{r:#?}"
    );
    let many: Vec<String> = (0..101).map(|i| format!("/private/n{i} \"v\"")).collect();
    let r = a.cmd(&format!("SETMETADATA INBOX ({})", many.join(" ")));
    assert!(
        r.last().unwrap().contains("NO [METADATA TOOMANY]"),
        "{r:#?}"
    );
    let r = a.ok("GETMETADATA INBOX (DEPTH infinity) (/private/ok /private/n0)");
    assert!(
        has(&r, "(\"/private/ok\" NIL \"/private/n0\" NIL)"),
        "{r:#?}"
    );
    // Bad names are BAD.
    let (w, _) = a.status("GETMETADATA INBOX /comment");
    assert_eq!(w, "BAD");
    let (w, _) = a.status("SETMETADATA INBOX (/private/a* \"x\")");
    assert_eq!(w, "BAD");
}

#[test]
fn entries_follow_rename_and_go_with_delete() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    a.ok("CREATE Projects");
    a.ok("SETMETADATA Projects (/shared/comment \"p\" /private/comment \"q\")");
    a.ok("RENAME Projects Archive/Projects");
    let r = b.ok("GETMETADATA Archive/Projects (/shared/comment /private/comment)");
    assert!(
        has(&r, "\"/shared/comment\" \"p\" \"/private/comment\" \"q\""),
        "{r:#?}"
    );
    let r = b.cmd("GETMETADATA Projects /shared/comment");
    assert!(r.last().unwrap().contains("NO [NONEXISTENT]"), "{r:#?}");
    // INBOX renamed: the new mailbox gets a copy, INBOX keeps its own.
    a.ok("SETMETADATA INBOX (/private/comment \"inbox\")");
    a.ok("RENAME INBOX Old");
    let r = b.ok("GETMETADATA Old /private/comment");
    assert!(has(&r, "\"inbox\""), "{r:#?}");
    let r = b.ok("GETMETADATA INBOX /private/comment");
    assert!(has(&r, "\"inbox\""), "{r:#?}");
    // Deleted and created again: no inherited entries.
    a.ok("DELETE Archive/Projects");
    a.ok("CREATE Archive/Projects");
    let r = b.ok("GETMETADATA Archive/Projects (/shared/comment /private/comment)");
    assert!(
        has(&r, "(\"/shared/comment\" NIL \"/private/comment\" NIL)"),
        "{r:#?}"
    );
}
