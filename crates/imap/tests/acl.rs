//! ACL (RFC 4314) with three accounts: USER owns "Team", OTHER is granted rights, THIRD is a
//! bystander. Each right is granted and revoked and checked on the commands it governs;
//! without "l" a mailbox is indistinguishable from a missing one; NAMESPACE and LIST show
//! the Other Users namespace (RFC 2342); changes reach every session that has it selected.

mod common;

use common::*;

const SHARED: &str = "\"Other Users/user@example.org/Team\"";

/// USER creates Team with one message and sets OTHER's rights.
fn setup(s: &Server, rights: &str) -> Client {
    let mut owner = Client::login(s.addr, USER);
    owner.ok("CREATE Team");
    let r = owner.append("Team", "\\Flagged", &message("hello", "team mail"));
    assert!(r.last().unwrap().contains("OK"), "{r:#?}");
    owner.ok(&format!("SETACL Team {OTHER} \"{rights}\""));
    owner
}

fn set(owner: &mut Client, rights: &str) {
    owner.ok(&format!("SETACL Team {OTHER} \"{rights}\""));
}

#[test]
fn acl_commands() {
    let s = start();
    let mut owner = setup(&s, "lr");
    let r = owner.ok("GETACL Team");
    assert_eq!(
        r[0],
        "* ACL Team user@example.org lrswipkxteacd other@example.org lr"
    );
    let r = owner.ok("MYRIGHTS Team");
    assert_eq!(r[0], "* MYRIGHTS Team lrswipkxteacd");
    let r = owner.ok(&format!("LISTRIGHTS Team {OTHER}"));
    assert_eq!(
        r[0],
        "* LISTRIGHTS Team other@example.org \"\" l r s w i p k x t e a c d"
    );
    let r = owner.ok(&format!("LISTRIGHTS Team {USER}"));
    assert_eq!(r[0], "* LISTRIGHTS Team user@example.org lrswipkxteacd");
    // +, -, the obsolete "d" (= "te").
    owner.ok(&format!("SETACL Team {OTHER} +wd"));
    let r = owner.ok("GETACL Team");
    assert!(r[0].ends_with("other@example.org lrwted"), "{r:#?}");
    owner.ok(&format!("SETACL Team {OTHER} -wt"));
    let r = owner.ok("GETACL Team");
    assert!(r[0].ends_with("other@example.org lred"), "{r:#?}");
    // The owner's rights are fixed; unknown identifiers and rights are refused.
    let (st, r) = owner.status(&format!("SETACL Team {USER} lr"));
    assert_eq!(
        (st.as_str(), code(&r).as_str()),
        ("NO", "[CANNOT]"),
        "{r:#?}"
    );
    let (st, _) = owner.status("SETACL Team nobody@example.org lr");
    assert_eq!(st, "NO");
    let (st, _) = owner.status(&format!("SETACL Team {OTHER} lrq"));
    assert_eq!(st, "BAD");

    let mut other = Client::login(s.addr, OTHER);
    let r = other.ok(&format!("MYRIGHTS {SHARED}"));
    assert_eq!(r[0], format!("* MYRIGHTS {SHARED} lred"));
    // Administering needs "a".
    for cmd in [
        format!("GETACL {SHARED}"),
        format!("SETACL {SHARED} {THIRD} lr"),
        format!("DELETEACL {SHARED} {OTHER}"),
        format!("LISTRIGHTS {SHARED} {THIRD}"),
    ] {
        let (st, r) = other.status(&cmd);
        assert_eq!(
            (st.as_str(), code(&r).as_str()),
            ("NO", "[NOPERM]"),
            "{cmd}: {r:#?}"
        );
    }
    owner.ok(&format!("SETACL Team {OTHER} +a"));
    other.ok(&format!("SETACL {SHARED} {THIRD} lr"));
    let r = other.ok(&format!("GETACL {SHARED}"));
    assert!(r[0].contains("third@example.org lr"), "{r:#?}");
    other.ok(&format!("DELETEACL {SHARED} {THIRD}"));
    // DELETEACL takes everything away: the mailbox is gone for OTHER.
    owner.ok(&format!("DELETEACL Team {OTHER}"));
    let (st, r) = other.status(&format!("MYRIGHTS {SHARED}"));
    assert_eq!(
        (st.as_str(), code(&r).as_str()),
        ("NO", "[NONEXISTENT]"),
        "{r:#?}"
    );
}

#[test]
fn without_lookup_a_mailbox_does_not_exist() {
    let s = start();
    let mut owner = setup(&s, "rswitekxa");
    let mut other = Client::login(s.addr, OTHER);
    let missing = "\"Other Users/user@example.org/Nope\"";
    // Every command answers as for a missing mailbox.
    for (cmd, tail) in [
        ("SELECT", ""),
        ("EXAMINE", ""),
        ("STATUS", " (MESSAGES)"),
        ("MYRIGHTS", ""),
        ("GETACL", ""),
        ("DELETE", ""),
        ("SUBSCRIBE", ""),
    ] {
        let (st1, r1) = other.status(&format!("{cmd} {SHARED}{tail}"));
        let (st2, r2) = other.status(&format!("{cmd} {missing}{tail}"));
        assert_eq!(
            (&st1, code(&r1)),
            (&st2, code(&r2)),
            "{cmd}: {r1:#?} {r2:#?}"
        );
        assert_eq!(st1, "NO", "{cmd}");
    }
    let r = other.append(SHARED, "", &message("x", "y"));
    assert!(r.last().unwrap().contains("NO [TRYCREATE]"), "{r:#?}");
    let r = other.ok("LIST \"\" *");
    assert!(!has(&r, "Other Users"), "{r:#?}");
    let r = other.ok("LSUB \"\" *");
    assert!(!has(&r, "Team"), "{r:#?}");

    // With "l" it is listed (with the namespace levels as \Noselect parents).
    set(&mut owner, "l");
    let r = other.ok("LIST \"\" *");
    assert!(
        has(
            &r,
            "* LIST (\\Noselect \\HasChildren) \"/\" \"Other Users\""
        ),
        "{r:#?}"
    );
    assert!(
        has(
            &r,
            "* LIST (\\Noselect \\HasChildren) \"/\" \"Other Users/user@example.org\""
        ),
        "{r:#?}"
    );
    assert!(
        has(&r, &format!("* LIST (\\HasNoChildren) \"/\" {SHARED}")),
        "{r:#?}"
    );
    other.ok(&format!("SUBSCRIBE {SHARED}"));
    let r = other.ok("LSUB \"\" *");
    assert!(has(&r, &format!("* LSUB () \"/\" {SHARED}")), "{r:#?}");
    let r = other.ok("NAMESPACE");
    assert_eq!(
        r[0],
        "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Public/\" \"/\"))"
    );
    // THIRD sees nothing; "anyone" changes that.
    let mut third = Client::login(s.addr, THIRD);
    let r = third.ok("LIST \"\" *");
    assert!(!has(&r, "Other Users"), "{r:#?}");
    owner.ok("SETACL Team anyone lr");
    let r = third.ok("LIST \"\" *");
    assert!(has(&r, SHARED), "{r:#?}");
    third.ok(&format!("EXAMINE {SHARED}"));
}

#[test]
fn read_right() {
    let s = start();
    let mut owner = setup(&s, "l");
    let mut other = Client::login(s.addr, OTHER);
    for cmd in [
        format!("SELECT {SHARED}"),
        format!("EXAMINE {SHARED}"),
        format!("STATUS {SHARED} (MESSAGES)"),
    ] {
        let (st, r) = other.status(&cmd);
        assert_eq!(
            (st.as_str(), code(&r).as_str()),
            ("NO", "[NOPERM]"),
            "{cmd}: {r:#?}"
        );
    }
    let r = other.ok("LIST \"\" * RETURN (STATUS (MESSAGES))");
    assert!(has(&r, SHARED), "{r:#?}");
    assert!(
        !has(&r, &format!("* STATUS {SHARED}")),
        "STATUS needs r: {r:#?}"
    );
    set(&mut owner, "lr");
    let r = other.ok(&format!("STATUS {SHARED} (MESSAGES)"));
    assert!(has(&r, "(MESSAGES 1)"), "{r:#?}");
    // "r" alone: read-only (RFC 4314 §5.2), and reading does not set \Seen without "s".
    let r = other.ok(&format!("SELECT {SHARED}"));
    assert!(r.last().unwrap().contains("[READ-ONLY]"), "{r:#?}");
    let r = other.ok("FETCH 1 BODY[]");
    assert!(has(&r, "team mail"), "{r:#?}");
    let r = owner.ok("STATUS Team (UNSEEN)");
    assert!(has(&r, "(UNSEEN 1)"), "{r:#?}");
    // Revoked: the next SELECT is refused.
    set(&mut owner, "l");
    other.ok("CLOSE");
    let (st, _) = other.status(&format!("SELECT {SHARED}"));
    assert_eq!(st, "NO");
}

#[test]
fn flag_rights_seen_write_delete() {
    let s = start();
    let mut owner = setup(&s, "lrs");
    let mut other = Client::login(s.addr, OTHER);
    let r = other.ok(&format!("SELECT {SHARED}"));
    assert!(r.last().unwrap().contains("[READ-WRITE]"), "{r:#?}");
    assert!(has(&r, "[PERMANENTFLAGS (\\Seen)]"), "{r:#?}");
    // "s": \Seen only.
    other.ok("STORE 1 +FLAGS (\\Seen)");
    other.ok("STORE 1 -FLAGS (\\Seen)");
    let (st, r) = other.status("STORE 1 +FLAGS (\\Answered)");
    assert_eq!(
        (st.as_str(), code(&r).as_str()),
        ("NO", "[NOPERM]"),
        "{r:#?}"
    );
    let (st, _) = other.status("STORE 1 +FLAGS (\\Deleted)");
    assert_eq!(st, "NO");
    // A replace changes only what may be changed: \Flagged (set by the owner) stays.
    let r = other.ok("STORE 1 FLAGS (\\Seen \\Answered)");
    assert!(has(&r, "\\Flagged") && has(&r, "\\Seen"), "{r:#?}");
    assert!(!has(&r, "\\Answered"), "{r:#?}");
    // A body fetch sets \Seen with "s".
    other.ok("STORE 1 -FLAGS (\\Seen)");
    let r = other.ok("FETCH 1 BODY[]");
    assert!(has(&r, "\\Seen"), "{r:#?}");
    // "w": other flags.
    set(&mut owner, "lrsw");
    other.ok("STORE 1 +FLAGS (\\Answered $Work)");
    let (st, _) = other.status("STORE 1 +FLAGS (\\Deleted)");
    assert_eq!(st, "NO");
    // "t": \Deleted.
    set(&mut owner, "lrswt");
    other.ok("STORE 1 +FLAGS (\\Deleted)");
    // Revoking "s": \Seen can no longer be changed.
    set(&mut owner, "lrwt");
    let (st, _) = other.status("STORE 1 -FLAGS (\\Seen)");
    assert_eq!(st, "NO");
    let r = owner.ok("SELECT Team");
    let _ = r;
    let r = owner.ok("FETCH 1 FLAGS");
    assert!(has(&r, "\\Deleted"), "{r:#?}");
    assert!(has(&r, "$Work"), "{r:#?}");
}

#[test]
fn insert_right_append_copy_move() {
    let s = start();
    let mut owner = setup(&s, "lr");
    let mut other = Client::login(s.addr, OTHER);
    let r = other.append(SHARED, "", &message("a", "b"));
    assert!(r.last().unwrap().contains("NO [NOPERM]"), "{r:#?}");
    other.append("INBOX", "\\Seen \\Flagged", &message("mine", "own mail"));
    other.ok("SELECT INBOX");
    let (st, r) = other.status(&format!("COPY 1 {SHARED}"));
    assert_eq!(
        (st.as_str(), code(&r).as_str()),
        ("NO", "[NOPERM]"),
        "{r:#?}"
    );
    // "i" (and "s"): the copy and the append keep only \Seen.
    set(&mut owner, "lris");
    let r = other.append(SHARED, "\\Seen \\Flagged \\Deleted", &message("a", "b"));
    assert!(r.last().unwrap().contains("OK [APPENDUID"), "{r:#?}");
    let r = other.ok(&format!("COPY 1 {SHARED}"));
    assert!(r.last().unwrap().contains("[COPYUID"), "{r:#?}");
    owner.ok("SELECT Team");
    let r = owner.ok("FETCH 2:3 FLAGS");
    assert!(has(&r, "* 2 FETCH (FLAGS (\\Seen"), "{r:#?}");
    assert!(has(&r, "* 3 FETCH (FLAGS (\\Seen"), "{r:#?}");
    assert!(!has(&r, "\\Flagged") && !has(&r, "\\Deleted"), "{r:#?}");
    // It counts against the owner's quota, not OTHER's; a grantee with "r" sees the owner's
    // root (named after the namespace), a user who cannot see the mailbox sees no root.
    let r = owner.ok("GETQUOTAROOT Team");
    assert_eq!(r[0], "* QUOTAROOT Team \"\"", "{r:#?}");
    let r = other.ok(&format!("GETQUOTAROOT {SHARED}"));
    let root = "\"Other Users/user@example.org\"";
    assert_eq!(r[0], format!("* QUOTAROOT {SHARED} {root}"), "{r:#?}");
    assert_eq!(r[1], format!("* QUOTA {root} ()"), "{r:#?}");
    let r = other.ok(&format!("GETQUOTA {root}"));
    assert_eq!(r[0], format!("* QUOTA {root} ()"), "{r:#?}");
    let mut third = Client::login(s.addr, THIRD);
    let r = third.ok(&format!("GETQUOTAROOT {SHARED}"));
    assert_eq!(r[0], format!("* QUOTAROOT {SHARED}"), "{r:#?}");
    let (st, r) = third.status(&format!("GETQUOTA {root}"));
    assert_eq!(
        (st.as_str(), code(&r).as_str()),
        ("NO", "[NONEXISTENT]"),
        "{r:#?}"
    );
    // From the shared mailbox into one's own: COPY needs only "r" there.
    other.ok(&format!("SELECT {SHARED}"));
    let r = other.ok("COPY 1 Archive");
    assert!(r.last().unwrap().contains("[COPYUID"), "{r:#?}");
    // MOVE out needs "t" and "e" too.
    let (st, r) = other.status("MOVE 1 Archive");
    assert_eq!(
        (st.as_str(), code(&r).as_str()),
        ("NO", "[NOPERM]"),
        "{r:#?}"
    );
    set(&mut owner, "lriste");
    let r = other.ok("MOVE 1 Archive");
    assert!(has(&r, "* 1 EXPUNGE"), "{r:#?}");
    let r = other.ok("STATUS Archive (MESSAGES)");
    assert!(has(&r, "(MESSAGES 2)"), "{r:#?}");
    let r = owner.ok("NOOP");
    assert!(
        has(&r, "EXPUNGE"),
        "the owner's session sees the move: {r:#?}"
    );
}

#[test]
fn expunge_right() {
    let s = start();
    let mut owner = setup(&s, "lrst");
    let mut other = Client::login(s.addr, OTHER);
    other.ok(&format!("SELECT {SHARED}"));
    other.ok("STORE 1 +FLAGS (\\Deleted)");
    let (st, r) = other.status("EXPUNGE");
    assert_eq!(
        (st.as_str(), code(&r).as_str()),
        ("NO", "[NOPERM]"),
        "{r:#?}"
    );
    let (st, _) = other.status("UID EXPUNGE 1");
    assert_eq!(st, "NO");
    // CLOSE without "e" closes without expunging (RFC 4314 §4).
    other.ok("CLOSE");
    let r = owner.ok("STATUS Team (MESSAGES)");
    assert!(has(&r, "(MESSAGES 1)"), "{r:#?}");
    set(&mut owner, "lrste");
    other.ok(&format!("SELECT {SHARED}"));
    let r = other.ok("EXPUNGE");
    assert!(has(&r, "* 1 EXPUNGE"), "{r:#?}");
}

#[test]
fn create_delete_rename_rights() {
    let s = start();
    let mut owner = setup(&s, "lr");
    let mut other = Client::login(s.addr, OTHER);
    let sub = "\"Other Users/user@example.org/Team/Sub\"";
    let (st, r) = other.status(&format!("CREATE {sub}"));
    assert_eq!(
        (st.as_str(), code(&r).as_str()),
        ("NO", "[NOPERM]"),
        "{r:#?}"
    );
    set(&mut owner, "lrk");
    other.ok(&format!("CREATE {sub}"));
    // The new mailbox inherits Team's ACL.
    let r = owner.ok("GETACL Team/Sub");
    assert!(r[0].contains("other@example.org lrkc"), "{r:#?}");
    // Nobody creates at another user's top level, nor own mailboxes under Other Users.
    let (st, _) = other.status("CREATE \"Other Users/user@example.org/Top\"");
    assert_eq!(st, "NO");
    let (st, r) = other.status("CREATE \"Other Users/mine\"");
    assert_eq!(
        (st.as_str(), code(&r).as_str()),
        ("NO", "[CANNOT]"),
        "{r:#?}"
    );
    // DELETE and RENAME need "x" on the mailbox (and "k" on the new parent).
    let (st, r) = other.status(&format!("DELETE {sub}"));
    assert_eq!(
        (st.as_str(), code(&r).as_str()),
        ("NO", "[NOPERM]"),
        "{r:#?}"
    );
    let renamed = "\"Other Users/user@example.org/Team/Renamed\"";
    let (st, _) = other.status(&format!("RENAME {sub} {renamed}"));
    assert_eq!(st, "NO");
    owner.ok(&format!("SETACL Team/Sub {OTHER} lrx"));
    other.ok(&format!("RENAME {sub} {renamed}"));
    let (st, _) = other.status(&format!("RENAME {renamed} Mine"));
    assert_eq!(st, "NO", "not into one's own mailboxes");
    other.ok(&format!("DELETE {renamed}"));
    let r = owner.ok("LIST \"\" Team*");
    assert!(!has(&r, "Team/"), "{r:#?}");
}

#[test]
fn changes_reach_every_session() {
    let s = start();
    let mut owner = setup(&s, "lrswite");
    let mut other = Client::login(s.addr, OTHER);
    other.ok(&format!("SELECT {SHARED}"));
    owner.append("Team", "", &message("second", "more"));
    let r = other.ok("NOOP");
    assert!(has(&r, "* 2 EXISTS"), "{r:#?}");
    owner.ok("SELECT Team");
    other.ok("STORE 1 +FLAGS (\\Answered)");
    let r = owner.ok("NOOP");
    assert!(has(&r, "\\Answered"), "{r:#?}");
}

/// IMAP4rev2 SELECT's LIST response shows \HasChildren only for children the user can see.
#[test]
fn rev2_select_hides_invisible_children() {
    let s = start();
    let mut owner = setup(&s, "lr");
    owner.ok("CREATE Team/Secret");
    // Created with Team's ACL (inherited); take OTHER's entry away.
    owner.ok(&format!("DELETEACL Team/Secret {OTHER}"));
    let mut other = Client::login(s.addr, OTHER);
    other.ok("ENABLE IMAP4rev2");
    let r = other.ok(&format!("EXAMINE {SHARED}"));
    assert!(has(&r, "* LIST (\\HasNoChildren)"), "{r:#?}");
    owner.ok(&format!("SETACL Team/Secret {OTHER} l"));
    let r = other.ok(&format!("EXAMINE {SHARED}"));
    assert!(has(&r, "* LIST (\\HasChildren)"), "{r:#?}");
}
