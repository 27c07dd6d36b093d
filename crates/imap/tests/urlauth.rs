//! URLAUTH (RFC 4467) over TCP: an anonymous session (SASL ANONYMOUS) redeems `anonymous`
//! URLs only, and has no key table of its own; CATENATE takes a URLAUTH URL. (The full
//! matrix, through the binary, is `crates/pochta/tests/urlauth.rs`.)

mod common;

use common::*;

fn urlauth(c: &mut Client, rump: &str) -> String {
    let r = c.ok(&format!("GENURLAUTH \"{rump}\" INTERNAL"));
    let line = r
        .iter()
        .find(|l| l.starts_with("* GENURLAUTH "))
        .unwrap_or_else(|| panic!("{r:#?}"));
    line["* GENURLAUTH ".len()..].trim_matches('"').to_string()
}

#[test]
fn anonymous_sessions_redeem_anonymous_urls_only() {
    let s = start_anonymous();
    let mut a = Client::login(s.addr, USER);
    a.append("INBOX", "", &message("ticket", "for anyone"));
    let user = USER.replace('@', "%40");
    let base = format!("imap://{user}@mail.example.org/INBOX/;UID=1/;SECTION=TEXT");
    let anonymous = urlauth(&mut a, &format!("{base};URLAUTH=anonymous"));
    let authuser = urlauth(&mut a, &format!("{base};URLAUTH=authuser"));

    let mut g = Client::connect(s.addr);
    g.ok("AUTHENTICATE ANONYMOUS Z3Vlc3RAZXhhbXBsZS5uZXQ=");
    let r = g.ok(&format!("URLFETCH \"{anonymous}\" \"{authuser}\""));
    let all = r.join("\n");
    assert!(all.contains("for anyone"), "{all}");
    assert!(
        r.iter()
            .any(|l| l.starts_with("* URLFETCH") && l.ends_with(" NIL")),
        "authuser is not for anonymous sessions: {all}"
    );
    // No key table of its own.
    let (st, r) = g.status(&format!("GENURLAUTH \"{base};URLAUTH=anonymous\" INTERNAL"));
    assert_eq!(st, "NO", "{r:#?}");
    let (st, r) = g.status("RESETKEY");
    assert_eq!(st, "NO", "{r:#?}");

    // CATENATE with a URLAUTH URL of another user's message, as URLFETCH would resolve it.
    let mut o = Client::login(s.addr, OTHER);
    let cmd = format!("APPEND INBOX CATENATE (TEXT {{10+}}\r\nSubject: x URL \"{authuser}\")\r\n");
    o.send(format!("c1 {cmd}").as_bytes());
    let r = o.read_until("c1");
    assert!(r.last().unwrap().starts_with("c1 OK"), "{r:#?}");
    let r = o.ok("SELECT INBOX");
    assert!(has(&r, "* OK [URLMECH INTERNAL]"), "RFC 4467 §8: {r:#?}");
    let r = o.ok("FETCH 1 BODY.PEEK[]");
    assert!(r.join("\n").contains("for anyone"), "{r:#?}");
    // A URL that fails validation is BADURL there.
    let forged = format!("{}0", &authuser[..authuser.len() - 1]);
    let forged = if forged == authuser {
        format!("{}1", &authuser[..authuser.len() - 1])
    } else {
        forged
    };
    o.send(format!("c2 APPEND INBOX CATENATE (URL \"{forged}\")\r\n").as_bytes());
    let r = o.read_until("c2");
    assert!(r.last().unwrap().starts_with("c2 NO [BADURL"), "{r:#?}");
}

/// One URLFETCH returns at most APPENDLIMIT bytes in all: many URLs of one message cannot
/// make the server hold many copies of it.
#[test]
fn urlfetch_total_is_bounded_by_appendlimit() {
    // The harness's APPENDLIMIT is 1 MiB: two copies of ~390 KB fit, three do not.
    let s = start();
    let mut a = Client::login(s.addr, USER);
    let body = format!("{}\r\n", "x".repeat(76)).repeat(5000);
    a.append("INBOX", "", &message("big", &body));
    let user = USER.replace('@', "%40");
    let url = urlauth(
        &mut a,
        &format!("imap://{user}@mail.example.org/INBOX/;UID=1;URLAUTH=authuser"),
    );
    let r = a.ok(&format!("URLFETCH \"{url}\" \"{url}\""));
    assert_eq!(
        r.iter().filter(|l| l.starts_with("* URLFETCH")).count(),
        2,
        "{r:#?}"
    );
    let (st, r) = a.status(&format!("URLFETCH \"{url}\" \"{url}\" \"{url}\""));
    assert_eq!(st, "NO", "{r:#?}");
    assert!(r.last().unwrap().contains("[LIMIT]"), "{r:#?}");
}
