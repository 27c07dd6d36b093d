//! Every POP3 command over TCP, in the states where it is allowed and where it is not.

mod common;

use common::*;

#[test]
fn greeting_and_capa_in_both_states() {
    let s = start();
    let mut c = Client::connect(s.addr);
    assert_eq!(c.greeting, "+OK mail.example.org Pochta ready");
    // No APOP timestamp: APOP is not offered.
    assert!(!c.greeting.contains('<'));
    let caps = c.multi("CAPA");
    for want in [
        "TOP",
        "UIDL",
        "USER",
        "SASL SCRAM-SHA-256 PLAIN LOGIN",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "EXPIRE NEVER",
        "STLS",
        "IMPLEMENTATION Pochta",
    ] {
        assert!(
            caps.iter().any(|l| l == want),
            "{want} missing from {caps:?}"
        );
    }
    assert!(
        !caps
            .iter()
            .any(|l| l.starts_with("APOP") || l.starts_with("LOGIN-DELAY"))
    );
    c.ok("USER user@example.org");
    c.ok(&format!("PASS {PASSWORD}"));
    let caps = c.multi("CAPA");
    assert!(caps.contains(&"TOP".to_owned()) && caps.contains(&"UIDL".to_owned()));
    assert!(
        !caps
            .iter()
            .any(|l| l == "STLS" || l == "USER" || l.starts_with("SASL"))
    );
    c.ok("QUIT");
    assert!(c.closed());
}

#[test]
fn wrong_state_unknown_and_bad_arguments_keep_the_session() {
    let s = start();
    s.append(USER, &[&message("one", 2)]);
    let mut c = Client::connect(s.addr);
    for cmd in [
        "STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 1", "UIDL",
    ] {
        let r = c.err(cmd);
        assert!(r.contains("not allowed before login"), "{cmd}: {r}");
    }
    assert!(c.err("XYZZY").contains("Unknown command XYZZY"));
    assert!(c.err("").contains("Empty command"));
    assert!(c.err("PASS x").contains("USER first"));
    assert!(c.err("USER").contains("USER name"));
    let r = c.err("APOP user@example.org c4c9334bac560ecc979e58001b3e22fb");
    assert!(r.contains("APOP is not available"), "{r}");
    // USER then something else: PASS no longer follows USER.
    c.ok("USER user@example.org");
    c.ok("CAPA");
    c.multiline();
    c.err(&format!("PASS {PASSWORD}"));
    // Still usable.
    c.ok("USER user@example.org");
    c.ok(&format!("PASS {PASSWORD}"));
    for cmd in ["USER x", "PASS y", "AUTH PLAIN", "STLS", "APOP a b"] {
        let r = c.err(cmd);
        assert!(r.contains("not allowed after login"), "{cmd}: {r}");
    }
    for (cmd, why) in [
        ("RETR", "expected one message number"),
        ("RETR 0", "invalid message number"),
        ("RETR x", "invalid message number"),
        ("RETR 2", "no such message: 2"),
        ("LIST 99", "no such message: 99"),
        ("UIDL 1 2", "at most one message number"),
        ("TOP 1", "TOP message-number lines"),
        ("TOP 1 -1", "invalid number of lines"),
        ("STAT now", "takes no arguments"),
        ("FOO", "Unknown command FOO"),
    ] {
        let r = c.err(cmd);
        assert!(r.contains(why), "{cmd}: {r}");
    }
    c.ok("NOOP");
    assert_eq!(c.ok("STAT"), format!("+OK 1 {}", message("one", 2).len()));
}

#[test]
fn stat_list_uidl_retr_top_with_and_without_argument() {
    let s = start();
    let m1 = message("first", 3);
    let m2 = message("second", 10);
    let uids = s.append(USER, &[&m1, &m2]);
    let mut c = Client::login(s.addr, USER);
    let total = m1.len() + m2.len();
    assert_eq!(c.ok("STAT"), format!("+OK 2 {total}"));
    assert_eq!(
        c.multi("LIST"),
        vec![format!("1 {}", m1.len()), format!("2 {}", m2.len())]
    );
    assert_eq!(c.ok("LIST 2"), format!("+OK 2 {}", m2.len()));
    let uidl = c.multi("UIDL");
    assert_eq!(uidl.len(), 2);
    let id1 = uidl[0].split(' ').nth(1).expect("id").to_owned();
    assert!(id1.ends_with(&format!(".{}", uids[0].get())), "{id1}");
    assert!(id1.len() <= 70 && id1.bytes().all(|b| (0x21..=0x7e).contains(&b)));
    assert_eq!(c.ok("UIDL 1"), format!("+OK 1 {id1}"));
    let (status, body) = c.retr(1);
    assert_eq!(status, format!("+OK {} octets", m1.len()));
    assert_eq!(body, m1);
    let (_, body) = c.retr(2);
    assert_eq!(body, m2);
    // TOP: the header, the blank line, n body lines.
    c.ok("TOP 2 2");
    assert_eq!(
        c.multiline(),
        vec![
            "From: a@example.org".to_owned(),
            format!("To: {USER}"),
            "Subject: second".into(),
            "".into(),
            "line 0 of second".into(),
            "line 1 of second".into(),
        ]
    );
    c.ok("TOP 1 0");
    assert_eq!(c.multiline().len(), 4);
    c.ok("TOP 1 100");
    assert_eq!(c.multiline().len(), 7);
}

#[test]
fn sizes_are_the_octets_retr_sends_with_dot_stuffing() {
    let s = start();
    // Lines starting with dots, a lone dot, bare LF (normalised to CRLF by the store).
    let raw = b"Subject: dots\n\n.leading\n..two\n.\nend.\n";
    s.append(USER, &[raw]);
    let mut c = Client::login(s.addr, USER);
    let listed: usize = c
        .ok("LIST 1")
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("size");
    c.ok("RETR 1");
    let wire = c.multiline_raw();
    // On the wire the dotted lines are stuffed ...
    let text = String::from_utf8_lossy(&wire);
    assert!(
        text.contains("\r\n..leading\r\n...two\r\n..\r\nend.\r\n"),
        "{text:?}"
    );
    // ... and un-stuffed the message is exactly the listed octets, CRLF throughout.
    let body = common::unstuff(&wire);
    assert_eq!(body.len(), listed);
    assert_eq!(
        body,
        b"Subject: dots\r\n\r\n.leading\r\n..two\r\n.\r\nend.\r\n"
    );
    let (n, total) = {
        let st = c.ok("STAT");
        let mut it = st.split(' ').skip(1);
        (
            it.next().expect("n").to_owned(),
            it.next().expect("size").parse::<usize>().expect("num"),
        )
    };
    assert_eq!((n.as_str(), total), ("1", listed));
}

#[test]
fn dele_rset_noop_and_deleted_messages() {
    let s = start();
    let (m1, m2, m3) = (message("a", 1), message("b", 1), message("c", 1));
    s.append(USER, &[&m1, &m2, &m3]);
    let mut c = Client::login(s.addr, USER);
    assert_eq!(c.ok("DELE 2"), "+OK message 2 deleted");
    assert!(c.err("DELE 2").contains("already deleted"));
    for cmd in ["RETR 2", "TOP 2 1", "LIST 2", "UIDL 2"] {
        assert!(c.err(cmd).contains("message 2 already deleted"), "{cmd}");
    }
    assert_eq!(c.ok("STAT"), format!("+OK 2 {}", m1.len() + m3.len()));
    // Numbers stay: message 3 is still 3.
    assert_eq!(
        c.multi("LIST"),
        vec![format!("1 {}", m1.len()), format!("3 {}", m3.len())]
    );
    assert_eq!(c.multi("UIDL").len(), 2);
    c.ok("NOOP");
    let total = m1.len() + m2.len() + m3.len();
    assert_eq!(
        c.ok("RSET"),
        format!("+OK maildrop has 3 messages ({total} octets)")
    );
    assert_eq!(c.multi("LIST").len(), 3);
    c.ok("RETR 2");
    c.multiline();
    // RSET undid the marks: QUIT deletes nothing.
    assert!(c.ok("QUIT").contains("0 messages deleted"));
    assert_eq!(s.uids(USER).len(), 3);
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let s = start();
    let m = message("pipe", 2);
    s.append(USER, &[&m, &m]);
    let mut c = Client::connect(s.addr);
    c.send(
        format!(
            "CAPA\r\nUSER {USER}\r\nPASS {PASSWORD}\r\nSTAT\r\nLIST\r\nRETR 1\r\nBOGUS\r\nDELE 1\r\nUIDL 2\r\nQUIT\r\n"
        )
        .as_bytes(),
    );
    assert!(c.line().starts_with("+OK Capability"));
    c.multiline();
    assert!(c.line().starts_with("+OK"));
    assert!(c.line().starts_with("+OK maildrop locked"));
    assert_eq!(c.line(), format!("+OK 2 {}", 2 * m.len()));
    assert!(c.line().starts_with("+OK"));
    assert_eq!(c.multiline().len(), 2);
    assert!(c.line().starts_with("+OK"));
    assert_eq!(c.multiline().len(), 6);
    assert!(c.line().starts_with("-ERR Unknown command"));
    assert!(c.line().starts_with("+OK message 1 deleted"));
    assert!(c.line().starts_with("+OK 2 "));
    assert!(c.line().contains("1 messages deleted"));
    assert!(c.closed());
    assert_eq!(s.uids(USER).len(), 1);
}

#[test]
fn line_length_limit() {
    let s = start();
    let mut c = Client::connect(s.addr);
    let long = format!("USER {}\r\n", "x".repeat(5000));
    c.send(long.as_bytes());
    assert!(c.line().contains("Line too long (limit 1000 octets)"));
    // A command of 255+ octets within the lenient limit is fine.
    let r = c.cmd(&format!("USER {}@example.org", "y".repeat(300)));
    assert!(r.starts_with("+OK"), "{r}");
    c.ok("CAPA");
    c.multiline();
    c.ok("QUIT");
}

#[test]
fn quit_before_login_and_mark_seen_option() {
    let s = start();
    let mut c = Client::connect(s.addr);
    assert!(c.ok("QUIT").contains("signing off"));
    assert!(c.closed());

    // Default: RETR does not set \Seen.
    s.append(USER, &[&message("unseen", 1)]);
    let mut c = Client::login(s.addr, USER);
    c.retr(1);
    c.ok("TOP 1 1");
    c.multiline();
    c.ok("QUIT");
    let seen = |srv: &Server| {
        use pochta_store::MailStore;
        srv.store
            .summaries(srv.inbox(USER))
            .expect("summaries")
            .iter()
            .all(|m| m.flags.contains(&pochta_types::Flag::Seen))
    };
    assert!(!seen(&s));

    let s = start_with(Options {
        mark_seen: true,
        ..Options::default()
    });
    s.append(USER, &[&message("seen", 1)]);
    let mut c = Client::login(s.addr, USER);
    c.ok("TOP 1 1");
    c.multiline();
    assert!(!seen(&s), "TOP must not set \\Seen");
    c.retr(1);
    assert!(seen(&s));
}
