//! Public folders (RFC 2342 shared namespace), per-user `\Seen` (RFC 4314 §4) and anonymous
//! access (RFC 4505, `[imap] anonymous = true`), with three accounts and anonymous sessions
//! over TCP. The public folders are made the way `pochta public create` makes them: in the
//! store, as the reserved public owner, with an ACL.

mod common;

use common::*;
use pochta_store::{Directory, Grantee, MailStore};
use pochta_types::{MailboxName, Rights};

fn expect_code(c: &mut Client, cmd: &str, want: &str) {
    let (_, r) = c.status(cmd);
    assert_eq!(code(&r), want, "{cmd}: {r:#?}");
}

fn account(s: &Server, who: &str) -> pochta_types::AccountId {
    s.store
        .account_by_address(&pochta_types::Address::new(who).unwrap())
        .unwrap()
        .unwrap()
        .id
}

/// A public folder `name` with `acl` entries.
fn public(s: &Server, name: &str, acl: &[(Grantee, &str)]) -> pochta_types::MailboxId {
    let owner = s.store.public_owner().unwrap().unwrap();
    let mb = s
        .store
        .mailbox_create(owner, &MailboxName::new(name).unwrap(), None)
        .unwrap();
    for (g, r) in acl {
        s.store
            .acl_set(mb.id, *g, Rights::parse(r).unwrap())
            .unwrap();
    }
    mb.id
}

#[test]
fn public_folders_are_listed_and_governed_by_their_acl() {
    let s = start();
    let other = account(&s, OTHER);
    public(
        &s,
        "News",
        &[
            (Grantee::Anyone, "lrs"),
            (Grantee::Account(other), "lrsiwk"),
        ],
    );
    public(&s, "Board", &[(Grantee::Account(other), "lr")]);
    let mut user = Client::login(s.addr, USER);
    let r = user.ok("NAMESPACE");
    assert_eq!(
        r[0],
        "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Public/\" \"/\"))"
    );
    let r = user.ok("LIST \"\" \"Public*\"");
    assert!(
        has(&r, "* LIST (\\Noselect \\HasChildren) \"/\" \"Public\""),
        "{r:#?}"
    );
    assert!(
        has(&r, "* LIST (\\HasNoChildren) \"/\" \"Public/News\""),
        "{r:#?}"
    );
    // Without "l" a public folder does not exist for you.
    assert!(!has(&r, "Board"), "{r:#?}");
    expect_code(&mut user, "SELECT Public/Board", "[NONEXISTENT]");
    let r = user.ok("MYRIGHTS Public/News");
    assert_eq!(r[0], "* MYRIGHTS Public/News lrs");
    // No "i": no APPEND, no COPY in; no "k": no CREATE below; nobody creates at the top.
    let r = user.append("Public/News", "", &message("x", "y"));
    assert_eq!(code(&r), "[NOPERM]", "{r:#?}");
    expect_code(&mut user, "CREATE Public/News/Sub", "[NOPERM]");
    expect_code(&mut user, "CREATE Public/Mine", "[NOPERM]");
    expect_code(&mut user, "CREATE Public", "[CANNOT]");
    // OTHER may post and create below.
    let mut o = Client::login(s.addr, OTHER);
    let r = o.append("Public/News", "", &message("first", "news"));
    assert!(r.last().unwrap().contains("OK [APPENDUID"), "{r:#?}");
    o.ok("CREATE Public/News/Sub");
    let r = o.ok("LIST \"\" \"Public/*\"");
    assert!(
        has(&r, "* LIST (\\HasChildren) \"/\" \"Public/News\""),
        "{r:#?}"
    );
    assert!(has(&r, "Public/Board"), "{r:#?}");
    // The new folder inherited News's ACL (RFC 4314 §4), so USER sees it.
    let r = user.ok("LIST \"\" \"Public/%/%\"");
    assert!(has(&r, "Public/News/Sub"), "{r:#?}");
    // USER reads it; a second session sees the change (EXISTS) of the first.
    user.ok("SELECT Public/News");
    let r = o.append("Public/News", "", &message("second", "news"));
    assert!(r.last().unwrap().contains("OK"), "{r:#?}");
    let r = user.ok("NOOP");
    assert!(has(&r, "* 2 EXISTS"), "{r:#?}");
    let r = user.ok("FETCH 2 BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
    assert!(r.iter().any(|l| l.contains("Subject: second")), "{r:#?}");
    // Public folders' quota root is "Public"; a reader sees it.
    let r = user.ok("GETQUOTAROOT Public/News");
    assert_eq!(r[0], "* QUOTAROOT Public/News Public", "{r:#?}");
    // The public owner is no one: the directory does not list it and no login reaches it.
    assert!(s.store.account_list().unwrap().len() == 3);
}

#[test]
fn per_user_seen_in_a_public_folder() {
    let s = start();
    let other = account(&s, OTHER);
    public(
        &s,
        "News",
        &[
            (Grantee::Anyone, "lrs"),
            (Grantee::Account(other), "lrswit"),
        ],
    );
    let mut o = Client::login(s.addr, OTHER);
    for i in 0..3 {
        let r = o.append("Public/News", "\\Seen", &message(&format!("n{i}"), "x"));
        assert!(r.last().unwrap().contains("OK"), "{r:#?}");
    }
    let mut user = Client::login(s.addr, USER);
    let mut user2 = Client::login(s.addr, USER);
    let mut third = Client::login(s.addr, THIRD);
    // OTHER's \Seen on append was OTHER's own: nobody else has read anything.
    let r = o.ok("STATUS Public/News (UNSEEN)");
    assert!(has(&r, "(UNSEEN 0)"), "{r:#?}");
    let r = user.ok("STATUS Public/News (UNSEEN)");
    assert!(has(&r, "(UNSEEN 3)"), "{r:#?}");
    user.ok("ENABLE CONDSTORE");
    user.ok("SELECT Public/News");
    user2.ok("SELECT Public/News");
    third.ok("SELECT Public/News");
    // Reading sets USER's \Seen only.
    let r = user.ok("FETCH 1 (FLAGS BODY[TEXT])");
    assert!(has(&r, "\\Seen"), "{r:#?}");
    user.ok("STORE 2 +FLAGS.SILENT (\\Seen)");
    let r = user.ok("SEARCH UNSEEN");
    assert!(has(&r, "* SEARCH 3"), "{r:#?}");
    let r = third.ok("SEARCH UNSEEN");
    assert!(has(&r, "* SEARCH 1 2 3"), "{r:#?}");
    let r = third.ok("FETCH 1:3 FLAGS");
    assert!(!r.iter().any(|l| l.contains("\\Seen")), "{r:#?}");
    // USER's other session learns of USER's change.
    let r = user2.ok("NOOP");
    assert!(
        r.iter()
            .any(|l| l.starts_with("* 1 FETCH") && l.contains("\\Seen")),
        "{r:#?}"
    );
    assert!(
        r.iter()
            .any(|l| l.starts_with("* 2 FETCH") && l.contains("\\Seen")),
        "{r:#?}"
    );
    // Other users' sessions may hear of it but never see USER's \Seen.
    let r = third.ok("NOOP");
    assert!(!r.iter().any(|l| l.contains("\\Seen")), "{r:#?}");
    let r = third.ok("STATUS Public/News (UNSEEN)");
    assert!(has(&r, "(UNSEEN 3)"), "{r:#?}");
    let r = user.ok("STATUS Public/News (UNSEEN)");
    assert!(has(&r, "(UNSEEN 1)"), "{r:#?}");
    // Replace and remove work on the private state too; other flags need "w".
    user.ok("STORE 1 FLAGS (\\Seen)");
    user.ok("STORE 1 -FLAGS (\\Seen)");
    let r = user.ok("FETCH 1 FLAGS");
    assert!(!has(&r, "\\Seen"), "{r:#?}");
    expect_code(&mut user, "STORE 1 +FLAGS (\\Flagged)", "[NOPERM]");
    // OTHER ("w") flags a message: everyone sees \Flagged, each their own \Seen.
    o.ok("SELECT Public/News");
    o.ok("STORE 2 +FLAGS (\\Flagged)");
    let r = user.ok("FETCH 2 FLAGS");
    let line = r.iter().find(|l| l.starts_with("* 2 FETCH")).unwrap();
    assert!(
        line.contains("\\Flagged") && line.contains("\\Seen"),
        "{r:#?}"
    );
    let r = third.ok("FETCH 2 FLAGS");
    let line = r.iter().find(|l| l.starts_with("* 2 FETCH")).unwrap();
    assert!(
        line.contains("\\Flagged") && !line.contains("\\Seen"),
        "{r:#?}"
    );
    // Copying into one's own mailbox keeps one's own \Seen.
    let r = user.ok("COPY 1:2 Archive");
    assert!(r.last().unwrap().contains("[COPYUID"), "{r:#?}");
    user.ok("SELECT Archive");
    let r = user.ok("FETCH 1:2 FLAGS");
    let one = r.iter().find(|l| l.starts_with("* 1 FETCH")).unwrap();
    let two = r.iter().find(|l| l.starts_with("* 2 FETCH")).unwrap();
    assert!(!one.contains("\\Seen"), "{r:#?}");
    assert!(
        two.contains("\\Seen") && two.contains("\\Flagged"),
        "{r:#?}"
    );
}

#[test]
fn per_user_seen_in_a_shared_mailbox_leaves_the_owner_alone() {
    let s = start();
    let mut owner = Client::login(s.addr, USER);
    owner.ok("CREATE Team");
    owner.ok(&format!("SETACL Team {OTHER} lrs"));
    for i in 0..2 {
        owner.append("Team", "", &message(&format!("t{i}"), "x"));
    }
    let shared = "\"Other Users/user@example.org/Team\"";
    let mut o = Client::login(s.addr, OTHER);
    // Shared \Seen first (the default): OTHER's read is the owner's too.
    o.ok(&format!("SELECT {shared}"));
    o.ok("FETCH 1 BODY[]");
    let r = owner.ok("STATUS Team (UNSEEN)");
    assert!(has(&r, "(UNSEEN 1)"), "{r:#?}");
    // Switched to per-user (what `pochta seen` does): OTHER's reads are their own.
    let owner_id = account(&s, USER);
    let team = s
        .store
        .mailbox(owner_id, &MailboxName::new("Team").unwrap())
        .unwrap()
        .unwrap();
    s.store.set_seen_per_user(team.id, true).unwrap();
    o.ok(&format!("SELECT {shared}"));
    let r = o.ok("FETCH 1:2 FLAGS");
    assert!(!has(&r, "\\Seen"), "{r:#?}");
    o.ok("FETCH 2 BODY[]");
    let r = owner.ok("STATUS Team (UNSEEN)");
    assert!(has(&r, "(UNSEEN 1)"), "{r:#?}");
    let r = o.ok(&format!("STATUS {shared} (UNSEEN)"));
    assert!(has(&r, "(UNSEEN 1)"), "{r:#?}");
    owner.ok("SELECT Team");
    let r = owner.ok("FETCH 1:2 FLAGS");
    let one = r.iter().find(|l| l.starts_with("* 1 FETCH")).unwrap();
    let two = r.iter().find(|l| l.starts_with("* 2 FETCH")).unwrap();
    assert!(one.contains("\\Seen") && !two.contains("\\Seen"), "{r:#?}");
    // Revoking "s" stops OTHER from changing even their own \Seen, at once.
    owner.ok(&format!("SETACL Team {OTHER} lr"));
    expect_code(&mut o, "STORE 1 +FLAGS (\\Seen)", "[NOPERM]");
}

/// The anonymous tests' mailboxes: USER's "Open" granted to `anonymous` (with more than
/// reading, which an anonymous session must still not get), "Staff" to `anyone` only, and a
/// public folder for `anonymous`.
fn anonymous_setup(s: &Server) {
    let mut owner = Client::login(s.addr, USER);
    owner.ok("CREATE Open");
    owner.ok("CREATE Staff");
    owner.append("Open", "", &message("hello world", "open mail"));
    owner.append("Staff", "", &message("staff", "internal"));
    owner.ok("SETACL Open anonymous lrswite");
    owner.ok("SETACL Staff anyone lr");
    public(s, "Announce", &[(Grantee::Anonymous, "lr")]);
    let owner_id = s.store.public_owner().unwrap().unwrap();
    let mb = s
        .store
        .mailbox(owner_id, &MailboxName::new("Announce").unwrap())
        .unwrap()
        .unwrap();
    let msg = message("release", "1.0");
    s.store
        .append(
            mb.id,
            &[pochta_store::NewMessage {
                bytes: &msg,
                flags: pochta_types::Flags::new(),
                internal_date: None,
            }],
        )
        .unwrap();
}

#[test]
fn anonymous_sessions_read_only_what_anonymous_may() {
    let s = start_anonymous();
    anonymous_setup(&s);
    let mut a = Client::connect(s.addr);
    assert!(a.greeting.contains("AUTH=ANONYMOUS"), "{}", a.greeting);
    let r = a.ok("LOGIN anonymous \"guest@example.net\"");
    assert!(r.last().unwrap().contains("read-only"), "{r:#?}");
    let r = a.ok("NAMESPACE");
    assert_eq!(
        r[0],
        "* NAMESPACE NIL ((\"Other Users/\" \"/\")) ((\"Public/\" \"/\"))"
    );
    let r = a.ok("LIST \"\" *");
    let open = "\"Other Users/user@example.org/Open\"";
    assert!(
        has(&r, &format!("* LIST (\\HasNoChildren) \"/\" {open}")),
        "{r:#?}"
    );
    assert!(
        has(&r, "* LIST (\\HasNoChildren) \"/\" \"Public/Announce\""),
        "{r:#?}"
    );
    // "anyone" is every authenticated user, not the Internet; nothing of USER's own.
    assert!(!has(&r, "Staff") && !has(&r, "INBOX"), "{r:#?}");
    expect_code(
        &mut a,
        "SELECT \"Other Users/user@example.org/Staff\"",
        "[NONEXISTENT]",
    );
    expect_code(&mut a, "SELECT INBOX", "[NONEXISTENT]");
    let r = a.ok(&format!("MYRIGHTS {open}"));
    assert_eq!(r[0], format!("* MYRIGHTS {open} lr"));
    let r = a.ok(&format!("SELECT {open}"));
    assert!(r.last().unwrap().contains("[READ-ONLY]"), "{r:#?}");
    let r = a.ok("FETCH 1 (FLAGS BODY[])");
    assert!(r.iter().any(|l| l.contains("open mail")), "{r:#?}");
    assert!(!r.iter().any(|l| l.contains("\\Seen")), "{r:#?}");
    let r = a.ok("SEARCH TEXT \"open\"");
    assert!(has(&r, "* SEARCH 1"), "{r:#?}");
    // Every writing command is refused, whatever the ACL grants.
    for cmd in [
        "STORE 1 +FLAGS (\\Seen)".to_string(),
        "COPY 1 INBOX".to_string(),
        "MOVE 1 INBOX".to_string(),
        "EXPUNGE".to_string(),
        "UID EXPUNGE 1".to_string(),
        "CREATE Mine".to_string(),
        "CREATE \"Other Users/user@example.org/Open/Sub\"".to_string(),
        format!("DELETE {open}"),
        format!("RENAME {open} Other"),
        format!("SUBSCRIBE {open}"),
        format!("UNSUBSCRIBE {open}"),
        format!("SETACL {open} anonymous lrswi"),
        format!("DELETEACL {open} anonymous"),
        format!("GETQUOTAROOT {open}"),
        "GETQUOTA \"\"".to_string(),
    ] {
        expect_code(&mut a, &cmd, "[NOPERM]");
    }
    let r = a.append(open, "", &message("spam", "spam"));
    assert_eq!(code(&r), "[NOPERM]", "{r:#?}");
    let (st, _) = a.status(&format!("GETACL {open}"));
    assert_eq!(st, "NO");
    // SELECT is read-only too, and CLOSE expunges nothing.
    a.ok("CLOSE");
    let r = a.ok("LSUB \"\" *");
    assert_eq!(r.len(), 1, "{r:#?}");
    // Nothing changed for the owner.
    let mut owner = Client::login(s.addr, USER);
    let r = owner.ok("STATUS Open (MESSAGES UNSEEN)");
    assert!(has(&r, "(MESSAGES 1 UNSEEN 1)"), "{r:#?}");
    // The public folder reads the same way.
    let r = a.ok("EXAMINE Public/Announce");
    assert!(r.last().unwrap().contains("[READ-ONLY]"), "{r:#?}");
    let r = a.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
    assert!(r.iter().any(|l| l.contains("Subject: release")), "{r:#?}");
    // A revoked grant takes effect at once.
    owner.ok("DELETEACL Open anonymous");
    expect_code(
        &mut a,
        &format!("STATUS {open} (MESSAGES)"),
        "[NONEXISTENT]",
    );
}

#[test]
fn authenticate_anonymous_with_and_without_initial_response() {
    let s = start_anonymous();
    anonymous_setup(&s);
    // SASL-IR: the trace in the command.
    let mut a = Client::connect(s.addr);
    a.ok("AUTHENTICATE ANONYMOUS Z3Vlc3RAZXhhbXBsZS5uZXQ=");
    a.ok("EXAMINE Public/Announce");
    // A continuation: an empty challenge, then the trace (RFC 4505 §2).
    let mut b = Client::connect(s.addr);
    b.send(b"x AUTHENTICATE ANONYMOUS\r\n");
    let cont = b.read_response();
    assert_eq!(cont, "+ ");
    b.send(b"c29tZW9uZQ==\r\n");
    let r = b.read_until("x");
    assert!(r.last().unwrap().starts_with("x OK"), "{r:#?}");
    let r = b.ok("LIST \"\" Public/*");
    assert!(has(&r, "Public/Announce"), "{r:#?}");
    // A trace that is not UTF-8 is refused.
    let mut c = Client::connect(s.addr);
    let (st, r) = c.status("AUTHENTICATE ANONYMOUS /w==");
    assert_eq!(st, "BAD", "{r:#?}");
    // Cancelling works like any AUTHENTICATE.
    c.send(b"y AUTHENTICATE ANONYMOUS\r\n");
    assert_eq!(c.read_response(), "+ ");
    c.send(b"*\r\n");
    let r = c.read_until("y");
    assert!(r.last().unwrap().starts_with("y BAD"), "{r:#?}");
}

#[test]
fn anonymous_access_is_off_by_default() {
    let s = start();
    let mut a = Client::connect(s.addr);
    assert!(!a.greeting.contains("AUTH=ANONYMOUS"), "{}", a.greeting);
    expect_code(&mut a, "LOGIN anonymous guest", "[AUTHENTICATIONFAILED]");
    expect_code(&mut a, "AUTHENTICATE ANONYMOUS =", "[CANNOT]");
}

#[test]
fn anonymous_logins_are_rate_limited_per_address() {
    let s = start_anonymous();
    let limit = pochta_imap::anonymous::LOGINS_PER_WINDOW;
    for _ in 0..limit {
        let mut a = Client::connect(s.addr);
        a.ok("LOGIN anonymous x");
    }
    let mut a = Client::connect(s.addr);
    expect_code(&mut a, "LOGIN anonymous x", "[UNAVAILABLE]");
    expect_code(&mut a, "AUTHENTICATE ANONYMOUS =", "[UNAVAILABLE]");
    // Accounts are not affected.
    Client::login(s.addr, USER);
}

#[test]
fn anonymous_commands_are_paced_after_a_burst() {
    use pochta_imap::anonymous::{BURST, PER_SECOND};
    let s = start_anonymous();
    let mut a = Client::connect(s.addr);
    a.ok("LOGIN anonymous x");
    // BURST commands go at once; each of the 20 after them waits its token. A lower bound
    // only: a slow machine makes it longer, never shorter.
    let extra = 20;
    let n = BURST as usize + extra;
    let mut batch = Vec::new();
    for i in 0..n {
        batch.extend_from_slice(format!("n{i} NOOP\r\n").as_bytes());
    }
    let start = std::time::Instant::now();
    a.send(&batch);
    let r = a.read_until(&format!("n{}", n - 1));
    assert!(r.last().unwrap().contains("OK"), "{r:#?}");
    let took = start.elapsed().as_secs_f64();
    let floor = 0.9 * extra as f64 / PER_SECOND;
    assert!(
        took >= floor,
        "{n} anonymous commands took {took:.2} s (at least {floor:.2} s)"
    );
}

/// A session idling in a public folder hears of another user's APPEND from the change bus
/// (within `PUSH_DEADLINE`, below IDLE's 15 s fallback re-check).
#[test]
fn idle_in_a_public_folder_wakes_on_another_users_append() {
    let s = start();
    let other = account(&s, OTHER);
    public(
        &s,
        "News",
        &[(Grantee::Anyone, "lr"), (Grantee::Account(other), "lri")],
    );
    let mut user = Client::login(s.addr, USER);
    user.ok("SELECT Public/News");
    user.send(b"i IDLE\r\n");
    assert!(user.read_response().starts_with('+'));
    let mut o = Client::login(s.addr, OTHER);
    let r = o.append("Public/News", "", &message("wake", "up"));
    assert!(r.last().unwrap().contains("OK"), "{r:#?}");
    assert_eq!(
        user.wait_response("the IDLE push of another user's APPEND to a public folder"),
        "* 1 EXISTS"
    );
    user.send(b"DONE\r\n");
    let r = user.read_until("i");
    assert!(r.last().unwrap().starts_with("i OK"), "{r:#?}");
}
