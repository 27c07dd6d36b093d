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

fn raw_message(headers: &str) -> Vec<u8> {
    format!("{headers}Subject: s\r\n\r\nbody\r\n").into_bytes()
}

/// FROM/TO/CC/BCC match a substring of the parsed addresses and display names, as Dovecot
/// does (imaptest `search-addresses`): comments and quoting are not part of an address.
#[test]
fn address_keys_match_parsed_addresses_and_names() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    for h in [
        "From: <user-from (comment)@ (comment) domain.org>\r\n",
        "From: RealFrom <user-from@domain.org>\r\nCc: \"Quoted, Name\" <cc@domain.org>\r\n",
        "From: user-from@domain.org (RealFrom)\r\n",
        "From: other@domain.org\r\nTo: groupname: groupuser1@domain.org, groupuser2@domain.org;\r\n",
        "From: =?utf-8?Q?J=C3=B6rg_Real?= <jorg@domain.org>\r\n",
    ] {
        c.append("INBOX", "", &raw_message(h));
    }
    c.ok("SELECT INBOX");
    for (key, want) in [
        ("FROM user-from@domain.org", "* SEARCH 1 2 3"),
        ("FROM ser-fro", "* SEARCH 1 2 3"),
        ("FROM realfrom", "* SEARCH 2 3"),
        ("FROM ealfro", "* SEARCH 2 3"),
        ("FROM \"realfrom <user\"", "* SEARCH 2 3"),
        ("TO groupname", "* SEARCH 4"),
        ("TO groupuser2", "* SEARCH 4"),
        ("TO groupuser3", "* SEARCH"),
        ("CC \"quoted, name\"", "* SEARCH 2"),
        ("CC \"\\\"quoted\"", "* SEARCH"),
        // Display names are RFC 2047-decoded.
        ("CHARSET UTF-8 FROM \"J\u{f6}rg real\"", "* SEARCH 5"),
        ("BCC x", "* SEARCH"),
    ] {
        let r = c.ok(&format!("SEARCH {key}"));
        assert_eq!(r[0], want, "{key}: {r:#?}");
    }
}

/// SENTBEFORE/SENTON/SENTSINCE compare the Date: header's own day as written, disregarding
/// time and zone (RFC 9051 §6.4.4, RFC 3501 §6.4.4), not its UTC day.
#[test]
fn sent_keys_use_the_date_as_written() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    for d in [
        // 21:00 UTC on the 24th.
        "Sat, 24 Mar 2007 23:00:00 +0200",
        // 21:00 UTC on the 25th.
        "Mon, 26 Mar 2007 00:00:00 +0300",
        // 04:30 UTC on the 26th.
        "Sun, 25 Mar 2007 23:30:00 -0500",
    ] {
        c.append("INBOX", "", &raw_message(&format!("Date: {d}\r\n")));
    }
    c.append("INBOX", "", &raw_message("From: no-date@example.org\r\n"));
    c.ok("SELECT INBOX");
    for (key, want) in [
        ("SENTON 24-Mar-2007", "* SEARCH 1"),
        ("SENTON 25-Mar-2007", "* SEARCH 3"),
        ("SENTON 26-Mar-2007", "* SEARCH 2"),
        ("SENTBEFORE 26-Mar-2007", "* SEARCH 1 3"),
        ("SENTBEFORE 24-Mar-2007", "* SEARCH"),
        ("SENTSINCE 25-Mar-2007", "* SEARCH 2 3"),
        ("SENTSINCE 27-Mar-2007", "* SEARCH"),
    ] {
        let r = c.ok(&format!("SEARCH {key}"));
        assert_eq!(r[0], want, "{key}: {r:#?}");
    }
}
