//! CONDSTORE and QRESYNC (RFC 7162), with a second session making the changes.

mod common;

use common::*;

fn number_after(r: &[String], key: &str) -> u64 {
    let line = r
        .iter()
        .find(|l| l.contains(key))
        .unwrap_or_else(|| panic!("{key} in {r:#?}"));
    let rest = &line[line.find(key).unwrap() + key.len()..];
    rest.trim_start_matches([' ', '('])
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("number after {key} in {line}"))
}

#[test]
fn condstore_fetch_store_search() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    for i in 0..3 {
        c.append("INBOX", "", &message(&format!("m{i}"), "x"));
    }
    let r = c.ok("ENABLE CONDSTORE");
    assert_eq!(r[0], "* ENABLED CONDSTORE");
    let r = c.ok("ENABLE CONDSTORE");
    assert_eq!(r[0], "* ENABLED", "only newly enabled ones are listed");
    let r = c.ok("SELECT INBOX");
    let highest = number_after(&r, "[HIGHESTMODSEQ");
    let r = c.ok("FETCH 1:* (MODSEQ)");
    assert_eq!(r.len(), 4, "{r:#?}");
    let r = c.ok("STORE 2 +FLAGS (\\Flagged)");
    assert!(
        r[0].contains("MODSEQ ("),
        "STORE responses carry MODSEQ: {r:#?}"
    );
    let m2 = number_after(&r, "MODSEQ");
    assert!(m2 > highest);
    // CHANGEDSINCE: only message 2 changed.
    let r = c.ok(&format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})"));
    assert_eq!(r.len(), 2, "{r:#?}");
    assert!(
        r[0].starts_with("* 2 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ ("),
        "{r:#?}"
    );
    // UNCHANGEDSINCE below message 2's MODSEQ: refused for 2, done for 1.
    let r = c.ok(&format!(
        "STORE 1:2 (UNCHANGEDSINCE {highest}) +FLAGS.SILENT (\\Seen)"
    ));
    assert!(r.last().unwrap().contains("[MODIFIED 2]"), "{r:#?}");
    assert!(
        r.iter().any(|l| l.starts_with("* 1 FETCH (MODSEQ (")),
        "silent still reports MODSEQ: {r:#?}"
    );
    let r = c.ok("FETCH 1:2 (FLAGS)");
    assert!(
        r[0].contains("\\Seen") && !r[1].contains("\\Seen"),
        "{r:#?}"
    );
    // SEARCH MODSEQ reports the highest MODSEQ of the matches.
    let r = c.ok(&format!("SEARCH MODSEQ {}", highest + 1));
    assert!(r[0].starts_with("* SEARCH 1 2 (MODSEQ "), "{r:#?}");
    let r = c.ok("STATUS INBOX (HIGHESTMODSEQ)");
    assert!(number_after(&r, "HIGHESTMODSEQ") >= m2);
}

#[test]
fn other_sessions_changes_carry_modseq() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let mut b = Client::login(s.addr, USER);
    a.append("INBOX", "", &message("one", "x"));
    a.ok("SELECT INBOX (CONDSTORE)");
    b.ok("SELECT INBOX");
    b.ok("STORE 1 +FLAGS (\\Answered)");
    let r = a.ok("NOOP");
    assert!(
        r[0].starts_with("* 1 FETCH (UID 1 FLAGS (\\Answered \\Recent) MODSEQ ("),
        "{r:#?}"
    );
}

#[test]
fn qresync_reports_exactly_what_changed() {
    let s = start();
    let mut a = Client::login(s.addr, USER);
    for i in 1..=5 {
        a.append("INBOX", "", &message(&format!("m{i}"), "x"));
    }
    // A session without QRESYNC parameters is refused before ENABLE.
    let (st, _) = a.status("SELECT INBOX (QRESYNC (1 1))");
    assert_eq!(st, "BAD");
    a.ok("ENABLE QRESYNC");
    let r = a.ok("SELECT INBOX");
    let validity = number_after(&r, "[UIDVALIDITY");
    let modseq = number_after(&r, "[HIGHESTMODSEQ");
    a.ok("LOGOUT");

    // Meanwhile another session changes flags on 2 and 4 and expunges 3 and 5.
    let mut b = Client::login(s.addr, USER);
    b.ok("SELECT INBOX");
    b.ok("STORE 2,4 +FLAGS (\\Seen)");
    b.ok("STORE 3,5 +FLAGS.SILENT (\\Deleted)");
    b.ok("EXPUNGE");

    let mut a = Client::login(s.addr, USER);
    a.ok("ENABLE QRESYNC");
    let r = a.ok(&format!("SELECT INBOX (QRESYNC ({validity} {modseq} 1:5))"));
    let vanished: Vec<&String> = r.iter().filter(|l| l.starts_with("* VANISHED")).collect();
    assert_eq!(vanished, ["* VANISHED (EARLIER) 3,5"], "{r:#?}");
    let fetches: Vec<&String> = r.iter().filter(|l| l.contains(" FETCH ")).collect();
    assert_eq!(fetches.len(), 2, "{r:#?}");
    assert!(
        fetches[0].starts_with("* 2 FETCH (UID 2 FLAGS (\\Seen) MODSEQ ("),
        "{r:#?}"
    );
    assert!(
        fetches[1].starts_with("* 3 FETCH (UID 4 FLAGS (\\Seen) MODSEQ ("),
        "{r:#?}"
    );
    assert!(has(&r, "* 3 EXISTS"));
    // A wrong UIDVALIDITY gives no catch-up.
    let r = a.ok(&format!(
        "SELECT INBOX (QRESYNC ({} {modseq}))",
        validity + 1
    ));
    assert!(has(&r, "* OK [CLOSED]"), "{r:#?}");
    assert!(!has(&r, "VANISHED"), "{r:#?}");

    // UID FETCH ... (CHANGEDSINCE m VANISHED).
    let r = a.ok(&format!(
        "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)"
    ));
    assert_eq!(r[0], "* VANISHED (EARLIER) 3,5", "{r:#?}");
    assert_eq!(r.len(), 4, "{r:#?}");

    // Live expunges are VANISHED, not EXPUNGE, once QRESYNC is enabled.
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    b.ok("EXPUNGE");
    let r = a.ok("NOOP");
    assert_eq!(r[0], "* VANISHED 1", "{r:#?}");
    assert!(!has(&r, "EXPUNGE"));
}

/// RFC 7162 §3.1: the first CONDSTORE-enabling command with a mailbox selected reports its
/// HIGHESTMODSEQ. RFC 4731 §3.2: with only MIN and/or MAX, the ESEARCH MODSEQ is that of the
/// returned message(s); otherwise the highest of all hits.
#[test]
fn highestmodseq_on_enabling_and_esearch_modseq_for_min_max() {
    let s = start();
    let mut c = Client::login(s.addr, USER);
    for i in 0..4 {
        c.append("INBOX", "", &message(&format!("m{i}"), "x"));
    }
    c.ok("SELECT INBOX");
    let r = c.ok("FETCH 1 (MODSEQ)");
    let hm = r
        .iter()
        .position(|l| l.starts_with("* OK [HIGHESTMODSEQ "))
        .unwrap_or_else(|| panic!("{r:#?}"));
    let f = r
        .iter()
        .position(|l| l.starts_with("* 1 FETCH"))
        .unwrap_or_else(|| panic!("{r:#?}"));
    assert!(hm < f, "{r:#?}");
    let r = c.ok("FETCH 1 (MODSEQ)");
    assert!(!has(&r, "HIGHESTMODSEQ"), "only the first time: {r:#?}");
    // Modify in the order 1, 3, 2, 4: modseq(1) < modseq(3) < modseq(2) < modseq(4).
    let mut m = [0u64; 5];
    for i in [1, 3, 2, 4] {
        let r = c.ok(&format!("STORE {i} +FLAGS (\\Seen)"));
        m[i] = number_after(&r, "MODSEQ");
    }
    assert!(m[1] < m[3] && m[3] < m[2] && m[2] < m[4], "{m:?}");
    let q = "MODSEQ \"/flags/\\\\seen\" all 1";
    for (ret, set, want) in [
        ("MIN", "1:3", format!("MIN 1 MODSEQ {}", m[1])),
        ("MAX", "1:3", format!("MAX 3 MODSEQ {}", m[3])),
        ("MIN MAX", "1:3", format!("MIN 1 MAX 3 MODSEQ {}", m[3])),
        ("ALL", "1:3", format!("ALL 1:3 MODSEQ {}", m[2])),
        ("MIN COUNT", "1:3", format!("MIN 1 COUNT 3 MODSEQ {}", m[2])),
        ("MIN MAX", "2:3", format!("MIN 2 MAX 3 MODSEQ {}", m[2])),
    ] {
        let r = c.ok(&format!("SEARCH RETURN ({ret}) {set} {q}"));
        assert!(r[0].ends_with(&want), "{ret} {set}: want {want}: {r:#?}");
    }
}
