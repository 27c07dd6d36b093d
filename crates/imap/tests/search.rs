//! SEARCH and UID SEARCH (RFC 3501 §6.4.4).

mod common;

use common::*;

#[test]
fn search_keys() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    c.append("INBOX", "\\Flagged", MULTI);
    c.append(
        "INBOX",
        "\\Seen",
        &message("hello world", "the quick brown fox"),
    );
    let big = message("big", &"x".repeat(5000));
    c.append("INBOX", "\\Deleted", &big);
    c.ok("SELECT INBOX");
    let cases: &[(&str, &str)] = &[
        ("ALL", "1 2 3"),
        ("FLAGGED", "1"),
        ("UNSEEN", "1 3"),
        ("SEEN", "2"),
        ("DELETED", "3"),
        ("UNDELETED", "1 2"),
        ("NEW", "1 3"),
        ("RECENT", "1 2 3"),
        ("OLD", ""),
        ("LARGER 4000", "3"),
        ("SMALLER 4000", "1 2"),
        ("SUBJECT hello", "2"),
        ("SUBJECT HELLO", "2"),
        ("FROM ivan", "1"),
        ("FROM \"Иван\"", "1"),
        ("TO user@example.org", "1 2 3"),
        ("HEADER Message-ID <m1@", "1"),
        ("HEADER X-Missing \"\"", ""),
        ("BODY quick", "2"),
        ("BODY \"отчёт\"", "1"),
        ("CHARSET UTF-8 BODY \"ОТЧЁТ\"", "1"),
        // Raw 8-bit in an atom, as imaplib sends it (accepted like Dovecot does).
        ("CHARSET UTF-8 BODY отчёт", "1"),
        ("TEXT hello", "2"),
        ("TEXT \"отчёт за март\"", "1"),
        ("NOT FLAGGED", "2 3"),
        ("OR FLAGGED SEEN", "1 2"),
        ("(FLAGGED) (UNSEEN)", "1"),
        ("2:3 UNDELETED", "2"),
        ("UID 1,3", "1 3"),
        ("SENTON 15-Jan-2024", "1 2 3"),
        ("SENTBEFORE 15-Jan-2024", ""),
        ("SENTSINCE 16-Jan-2024", ""),
        ("SINCE 1-Jan-2020", "1 2 3"),
        ("BEFORE 1-Jan-2020", ""),
        ("KEYWORD $x", ""),
        ("UNKEYWORD $x", "1 2 3"),
    ];
    for (q, want) in cases {
        let r = c.ok(&format!("SEARCH {q}"));
        let line = r
            .iter()
            .find(|l| l.starts_with("* SEARCH"))
            .expect("SEARCH response");
        assert_eq!(
            line.trim_end(),
            format!("* SEARCH {want}").trim_end(),
            "SEARCH {q}"
        );
    }
    // Charsets: the search string in KOI8-R ("отчёт").
    c.send(b"k1 SEARCH CHARSET KOI8-R BODY {5}\r\n");
    assert!(c.read_response().starts_with('+'));
    c.send(b"\xcf\xd4\xde\xa3\xd4\r\n");
    let r = c.read_until("k1");
    assert_eq!(r[0], "* SEARCH 1", "{r:#?}");
    let (st, r) = c.status("SEARCH CHARSET X-NOPE BODY a");
    assert_eq!(st, "NO");
    assert!(has(&r, "[BADCHARSET"), "{r:#?}");
    let r = c.ok("UID SEARCH SEEN");
    assert_eq!(r[0], "* SEARCH 2");
    // ESEARCH and SEARCHRES.
    let r = c.ok("SEARCH RETURN (MIN MAX COUNT) UNDELETED");
    assert!(r[0].starts_with("* ESEARCH (TAG \"t"), "{r:#?}");
    assert!(r[0].ends_with("MIN 1 MAX 2 COUNT 2"), "{r:#?}");
    c.ok("SEARCH RETURN (SAVE) FLAGGED");
    let r = c.ok("FETCH $ (UID)");
    assert_eq!(r.len(), 2);
    assert!(r[0].starts_with("* 1 FETCH"));
}
