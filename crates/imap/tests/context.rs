//! Contexts (RFC 5267 §4): SEARCH and SORT with RETURN (UPDATE) report ADDTO/REMOVEFROM
//! when another session (or the same one) changes the mailbox; CANCELUPDATE ends them.
//! Two sessions over TCP.

mod common;

use common::*;

fn tag_of(r: &[String]) -> String {
    r.last()
        .and_then(|l| l.split(' ').next())
        .expect("tagged reply")
        .to_string()
}

fn esearch<'a>(r: &'a [String], tag: &str) -> Vec<&'a str> {
    let prefix = format!("* ESEARCH (TAG \"{tag}\")");
    r.iter()
        .filter(|l| l.starts_with(&prefix))
        .map(|l| l.trim_end())
        .collect()
}

#[test]
fn search_context_follows_other_sessions() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    for i in 0..5 {
        a.append("INBOX", "", &message(&format!("m{i}"), "body"));
    }
    a.ok("SELECT INBOX");
    b.ok("SELECT INBOX");
    let r = a.ok("SEARCH RETURN (UPDATE) SEEN");
    let t = tag_of(&r);
    assert_eq!(
        esearch(&r, &t),
        vec![format!("* ESEARCH (TAG \"{t}\")")],
        "{r:#?}"
    );

    b.ok("STORE 1,2,4 +FLAGS (\\Seen)");
    let r = a.ok("NOOP");
    assert_eq!(
        esearch(&r, &t),
        vec![format!("* ESEARCH (TAG \"{t}\") ADDTO (0 1:2,4)")],
        "{r:#?}"
    );

    b.ok("STORE 1,2 -FLAGS (\\Seen)");
    let r = a.ok("NOOP");
    assert_eq!(
        esearch(&r, &t),
        vec![format!("* ESEARCH (TAG \"{t}\") REMOVEFROM (0 1:2)")],
        "{r:#?}"
    );

    // An expunge: REMOVEFROM comes first, in the numbers the client still knows.
    b.ok("STORE 3:5 +FLAGS (\\Deleted)");
    b.ok("EXPUNGE");
    let r = a.ok("NOOP");
    let remove = r
        .iter()
        .position(|l| l.contains("REMOVEFROM (0 4)"))
        .unwrap_or_else(|| panic!("{r:#?}"));
    let first_expunge = r
        .iter()
        .position(|l| l.ends_with("EXPUNGE") || l.ends_with("EXPUNGE\r\n"))
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert!(remove < first_expunge, "{r:#?}");

    // An APPEND: EXISTS, then ADDTO with the new number.
    b.append("INBOX", "\\Seen", &message("new", "body"));
    let r = a.ok("NOOP");
    let exists = r.iter().position(|l| l.contains("3 EXISTS"));
    let add = r
        .iter()
        .position(|l| l.contains(&format!("(TAG \"{t}\") ADDTO (0 3)")));
    assert!(exists.is_some() && add > exists, "{r:#?}");

    // The session's own STORE is reported too, in that command's responses.
    let r = a.ok("STORE 1 +FLAGS (\\Seen)");
    assert!(has(&r, &format!("(TAG \"{t}\") ADDTO (0 1)")), "{r:#?}");

    // CANCELUPDATE ends it.
    a.ok(&format!("CANCELUPDATE \"{t}\""));
    b.ok("STORE 2 +FLAGS (\\Seen)");
    let r = a.ok("NOOP");
    assert!(esearch(&r, &t).is_empty(), "{r:#?}");
}

#[test]
fn uid_search_context_with_all() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    a.append("INBOX", "\\Deleted", &message("gone", "x"));
    for i in 0..4 {
        a.append("INBOX", "", &message(&format!("m{i}"), "body"));
    }
    a.ok("SELECT INBOX");
    a.ok("EXPUNGE");
    b.ok("SELECT INBOX");
    b.ok("STORE 1,2 +FLAGS (\\Seen)");
    a.ok("NOOP");
    let r = a.ok("UID SEARCH RETURN (UPDATE ALL) SEEN");
    let t = tag_of(&r);
    assert_eq!(
        esearch(&r, &t),
        vec![format!("* ESEARCH (TAG \"{t}\") UID ALL 2:3")],
        "{r:#?}"
    );
    b.ok("STORE 3:4 +FLAGS (\\Seen)");
    let r = a.ok("NOOP");
    assert_eq!(
        esearch(&r, &t),
        vec![format!("* ESEARCH (TAG \"{t}\") UID ADDTO (0 4:5)")],
        "{r:#?}"
    );
    b.ok("STORE 2 +FLAGS (\\Deleted)");
    b.ok("EXPUNGE");
    let r = a.ok("NOOP");
    assert_eq!(
        esearch(&r, &t),
        vec![format!("* ESEARCH (TAG \"{t}\") UID REMOVEFROM (0 3)")],
        "{r:#?}"
    );
    // A new SELECT ends every context.
    a.ok("SELECT INBOX");
    b.ok("STORE 1 -FLAGS (\\Seen)");
    let r = a.ok("NOOP");
    assert!(esearch(&r, &t).is_empty(), "{r:#?}");
}

#[test]
fn sort_context_reports_positions() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    for subject in ["c", "a", "b"] {
        a.append("INBOX", "", &message(subject, "body"));
    }
    a.ok("SELECT INBOX");
    b.ok("SELECT INBOX");
    let r = a.ok("SORT RETURN (UPDATE) (SUBJECT) UTF-8 SEEN");
    let t = tag_of(&r);
    assert_eq!(esearch(&r, &t).len(), 1, "{r:#?}");
    let step = |b: &mut Client, a: &mut Client, cmd: &str, want: &[&str]| {
        b.ok(cmd);
        let r = a.ok("NOOP");
        let want: Vec<String> = want
            .iter()
            .map(|w| format!("* ESEARCH (TAG \"{t}\") {w}"))
            .collect();
        assert_eq!(esearch(&r, &t), want, "{cmd}: {r:#?}");
    };
    // Sorted by subject: a (2), b (3), c (1).
    step(&mut b, &mut a, "STORE 1 +FLAGS (\\Seen)", &["ADDTO (1 1)"]);
    step(&mut b, &mut a, "STORE 2 +FLAGS (\\Seen)", &["ADDTO (1 2)"]);
    step(&mut b, &mut a, "STORE 3 +FLAGS (\\Seen)", &["ADDTO (2 3)"]);
    step(
        &mut b,
        &mut a,
        "STORE 2 -FLAGS (\\Seen)",
        &["REMOVEFROM (1 2)"],
    );
    // Refused forms.
    let (st, _) = a.status("CANCELUPDATE");
    assert_eq!(st, "BAD");
    a.ok(&format!("CANCELUPDATE \"{t}\""));
    step(&mut b, &mut a, "STORE 2 +FLAGS (\\Seen)", &[]);
}

#[test]
fn live_contexts_per_session_are_bounded() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    a.append("INBOX", "", &message("m", "body"));
    a.ok("SELECT INBOX");
    for _ in 0..8 {
        let r = a.ok("SEARCH RETURN (UPDATE) SEEN");
        assert!(!has(&r, "NOUPDATE"), "{r:#?}");
    }
    // The ninth still gets its result, but is not kept live (RFC 5267 §4.3.1).
    let r = a.ok("SEARCH RETURN (UPDATE COUNT) ALL");
    let t = tag_of(&r);
    assert!(has(&r, &format!("[NOUPDATE \"{t}\"]")), "{r:#?}");
    assert!(has(&r, "COUNT 1"), "{r:#?}");
    let r = a.ok("STORE 1 +FLAGS (\\Seen)");
    assert!(esearch(&r, &t).is_empty(), "{r:#?}");
    // The eight live ones each report the change.
    assert_eq!(
        r.iter().filter(|l| l.contains("ADDTO (0 1)")).count(),
        8,
        "{r:#?}"
    );
}
