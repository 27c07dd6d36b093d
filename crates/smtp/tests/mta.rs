//! Inbound MTA over TCP: every command, extensions, delivery, limits.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn greeting_and_ehlo_extensions() {
    let s = start_mta();
    let mut c = Client::connect(s.addr);
    assert_eq!(c.greeting, format!("220 {HOST} ESMTP Pochta"));
    let r = c.cmd("EHLO client.example.net");
    for ext in [
        "250-mx.example.org greets client.example.net",
        "250-PIPELINING",
        "250-8BITMIME",
        "250-SMTPUTF8",
        "250-SIZE 65536",
        "250-CHUNKING",
        "250-ENHANCEDSTATUSCODES",
        "250-DSN",
        "250-STARTTLS",
        "250 HELP",
    ] {
        assert!(r.contains(ext), "{ext} missing in {r}");
    }
    assert!(!r.contains("AUTH"), "no AUTH on the MTA port: {r}");
    c.expect("HELO client.example.net", "250 mx.example.org");
}

#[test]
fn simple_commands() {
    let mut opts = Options::mta();
    opts.config.max_errors = 20;
    let s = start(opts);
    let mut c = Client::connect(s.addr);
    c.expect("NOOP", "250 2.0.0");
    c.expect("MAIL FROM:<a@example.net>", "503 5.5.1");
    c.expect("EHLO x", "250");
    c.expect("RSET", "250 2.0.0");
    c.expect("VRFY user", "252 2.5.0");
    c.expect("EXPN list", "502 5.5.1");
    c.expect("HELP", "214 2.0.0");
    c.expect("FOO", "500 5.5.2");
    c.expect("MAIL FROM:<bad address>", "501 5.1.3");
    c.expect("MAIL FROM:<a@example.net> FOO=BAR", "555 5.5.4");
    c.expect("RCPT TO:<user@example.org>", "503 5.5.1");
    c.expect("DATA", "503 5.5.1");
    c.expect("AUTH PLAIN", "502 5.5.1");
    c.expect("MAIL FROM:<a@example.net>", "250 2.1.0");
    c.expect("MAIL FROM:<a@example.net>", "503 5.5.1");
    c.expect("DATA", "554 5.5.1");
    c.expect("QUIT", "221 2.0.0");
    assert!(c.closed());
}

#[test]
fn delivers_with_trace_headers() {
    let s = start_mta();
    let mut c = Client::ehlo(s.addr);
    let msg = message("sender@example.net", USER, "hello");
    let r = c.mail("sender@example.net", &[USER], &msg);
    assert!(r.starts_with("250 2.0.0"), "{r}");
    let inbox = s.inbox(USER);
    assert_eq!(inbox.len(), 1);
    let stored = &inbox[0];
    assert!(
        stored.starts_with(
            b"Return-Path: <sender@example.net>\r\nReceived: from client.example.net ([127.0.0.1])"
        ),
        "{}",
        String::from_utf8_lossy(stored)
    );
    assert!(has(stored, "by mx.example.org (Pochta) with ESMTP id "));
    assert!(has(stored, "for <user@example.org>;"));
    assert_eq!(
        strip_trace(stored, "From: Sender"),
        msg,
        "body byte-identical"
    );
}

#[test]
fn null_sender_and_postmaster() {
    let s = start_mta();
    let mut c = Client::ehlo(s.addr);
    let msg = message("mailer-daemon@example.net", USER, "bounce");
    let r = c.mail("", &[USER], &msg);
    assert!(r.starts_with("250"), "{r}");
    assert!(s.inbox(USER)[0].starts_with(b"Return-Path: <>\r\n"));
}

#[test]
fn unknown_recipient_and_relay_refused() {
    let s = start_mta();
    let mut c = Client::ehlo(s.addr);
    c.expect("MAIL FROM:<a@example.net>", "250");
    c.expect("RCPT TO:<nobody@example.org>", "550 5.1.1");
    c.expect("RCPT TO:<victim@elsewhere.example>", "554 5.7.1");
    c.expect("RCPT TO:<\"quoted name\"@example.org>", "550 5.1.1");
    c.expect("RCPT TO:<user@example.org>", "250 2.1.5");
}

#[test]
fn alias_and_catch_all() {
    let s = start_mta();
    let mut c = Client::ehlo(s.addr);
    let r = c.mail(
        "a@example.net",
        &["Sales@example.org", "anything@catchall.example"],
        &message("a@example.net", "sales@example.org", "alias"),
    );
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(s.inbox(USER).len(), 1);
    assert_eq!(s.inbox(OTHER).len(), 1);
}

#[test]
fn one_blob_for_many_recipients() {
    let s = start_mta();
    let mut c = Client::ehlo(s.addr);
    let r = c.mail(
        "a@example.net",
        &[USER, OTHER, "sales@example.org"],
        &message("a@example.net", USER, "many"),
    );
    assert!(r.starts_with("250"), "{r}");
    // user and its alias are one account: one copy.
    assert_eq!(s.inbox(USER).len(), 1);
    assert_eq!(s.blob_ids(USER), s.blob_ids(OTHER));
    // No "for <...>" clause for several recipients (it would leak them).
    assert!(!has(&s.inbox(OTHER)[0], "for <"));
}

#[test]
fn pipelining_one_write() {
    let s = start_mta();
    let mut c = Client::ehlo(s.addr);
    let msg = message("a@example.net", USER, "piped");
    let mut batch = b"MAIL FROM:<a@example.net>\r\nRCPT TO:<nobody@example.org>\r\nRCPT TO:<user@example.org>\r\nDATA\r\n".to_vec();
    c.send(&batch);
    for want in ["250 2.1.0", "550 5.1.1", "250 2.1.5", "354"] {
        let r = c.reply();
        assert!(r.starts_with(want), "{r} (wanted {want})");
    }
    batch = dot_stuff(&msg);
    batch.extend_from_slice(
        b".\r\nMAIL FROM:<b@example.net>\r\nRCPT TO:<other@example.org>\r\nNOOP\r\n",
    );
    c.send(&batch);
    for want in ["250 2.0.0", "250 2.1.0", "250 2.1.5", "250 2.0.0"] {
        let r = c.reply();
        assert!(r.starts_with(want), "{r} (wanted {want})");
    }
    assert_eq!(s.inbox(USER).len(), 1);
}

#[test]
fn dot_stuffing_round_trips() {
    let s = start_mta();
    let mut c = Client::ehlo(s.addr);
    let msg =
        b"From: a@example.net\r\nSubject: dots\r\n\r\n.leading dot\r\n..two\r\n.\r\n.x\r\nend\r\n"
            .to_vec();
    let r = c.mail("a@example.net", &[USER], &msg);
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(strip_trace(&s.inbox(USER)[0], "From: a@"), msg);
}

#[test]
fn bdat_chunks() {
    let s = start_mta();
    let mut c = Client::ehlo(s.addr);
    c.expect("MAIL FROM:<a@example.net> BODY=8BITMIME", "250");
    c.expect("RCPT TO:<user@example.org>", "250");
    let part1 = b"From: a@example.net\r\nSubject: chunks\r\n\r\n";
    let part2 = "Привет, 8-bit body.\r\n.\r\n".as_bytes();
    c.send(format!("BDAT {}\r\n", part1.len()).as_bytes());
    c.send(part1);
    assert!(c.reply().starts_with("250 2.0.0"));
    c.send(format!("BDAT {} LAST\r\n", part2.len()).as_bytes());
    c.send(part2);
    let r = c.reply();
    assert!(r.starts_with("250 2.0.0 Message accepted"), "{r}");
    let mut want = part1.to_vec();
    want.extend_from_slice(part2);
    assert_eq!(strip_trace(&s.inbox(USER)[0], "From: a@"), want);
    // BDAT without a transaction: the chunk is read and refused, the session stays in sync.
    c.send(b"BDAT 5 LAST\r\nhello");
    assert!(c.reply().starts_with("503 5.5.1"));
    c.expect("NOOP", "250");
    // DATA in the middle of BDAT is refused.
    c.expect("MAIL FROM:<a@example.net>", "250");
    c.expect("RCPT TO:<user@example.org>", "250");
    c.send(b"BDAT 3\r\nabc");
    assert!(c.reply().starts_with("250"));
    c.expect("DATA", "503 5.5.1");
    c.send(b"BDAT 0 LAST\r\n");
    assert!(c.reply().starts_with("250 2.0.0 Message accepted"));
    assert_eq!(s.inbox(USER).len(), 2);
}

#[test]
fn size_limits() {
    let s = start_mta();
    let mut c = Client::ehlo(s.addr);
    c.expect("MAIL FROM:<a@example.net> SIZE=1000000", "552 5.3.4");
    c.expect("MAIL FROM:<a@example.net> SIZE=100", "250");
    c.expect("RCPT TO:<user@example.org>", "250");
    c.expect("DATA", "354");
    let line = "x".repeat(998) + "\r\n";
    for _ in 0..70 {
        c.send(line.as_bytes());
    }
    c.send(b".\r\n");
    assert!(c.reply().starts_with("552 5.3.4"));
    // Still in sync, transaction gone.
    c.expect("RCPT TO:<user@example.org>", "503");
    c.expect("MAIL FROM:<a@example.net>", "250");
    c.expect("RCPT TO:<user@example.org>", "250");
    c.send(b"BDAT 70000 LAST\r\n");
    c.send(&vec![b'y'; 70000]);
    assert!(c.reply().starts_with("552 5.3.4"));
    c.expect("NOOP", "250");
    assert!(s.inbox(USER).is_empty());
}

#[test]
fn too_many_recipients() {
    let mut opts = Options::mta();
    opts.config.max_recipients = 2;
    let s = start(opts);
    let mut c = Client::ehlo(s.addr);
    c.expect("MAIL FROM:<a@example.net>", "250");
    c.expect("RCPT TO:<user@example.org>", "250");
    c.expect("RCPT TO:<other@example.org>", "250");
    c.expect("RCPT TO:<sales@example.org>", "452 4.5.3");
}

#[test]
fn utf8_addresses_need_smtputf8() {
    let s = start_mta();
    let mut c = Client::ehlo(s.addr);
    c.expect("MAIL FROM:<отправитель@пример.рф>", "553 5.6.7");
    c.expect("MAIL FROM:<отправитель@пример.рф> SMTPUTF8", "250");
    c.expect("RCPT TO:<иван@почта.рф>", "250 2.1.5");
    c.expect("DATA", "354");
    c.send("From: отправитель@пример.рф\r\nSubject: Привет\r\n\r\nТекст\r\n.\r\n".as_bytes());
    assert!(c.reply().starts_with("250"));
    let stored = &s.inbox("иван@почта.рф")[0];
    assert!(
        has(stored, "with UTF8SMTP id"),
        "{}",
        String::from_utf8_lossy(stored)
    );
    assert!(has(stored, "Subject: Привет"));
}

#[test]
fn long_line_and_error_limit() {
    let mut opts = Options::mta();
    opts.config.max_errors = 3;
    opts.config.max_line = 100;
    let s = start(opts);
    let mut c = Client::ehlo(s.addr);
    c.send(format!("NOOP {}\r\n", "a".repeat(500)).as_bytes());
    assert!(c.reply().starts_with("500 5.5.6"));
    c.expect("NOOP", "250");
    c.expect("BOGUS", "500");
    c.expect("BOGUS", "500 5.5.2");
    let r = c.reply();
    assert!(r.starts_with("421 4.7.0"), "{r}");
    assert!(c.closed());
}

#[test]
fn early_talker_refused() {
    let mut opts = Options::mta();
    opts.config.greeting_delay = Duration::from_millis(300);
    let s = start(opts);
    // A polite client waits for the greeting.
    let mut c = Client::connect(s.addr);
    assert!(c.greeting.starts_with("220"), "{}", c.greeting);
    c.expect("EHLO x", "250");
    // An early talker sends at once.
    let mut t = std::net::TcpStream::connect(s.addr).expect("connect");
    use std::io::{Read, Write};
    t.write_all(b"EHLO spammer\r\nMAIL FROM:<a@b.c>\r\n")
        .expect("write");
    let mut out = String::new();
    // Read until the server closes (a deadline, generous for a loaded machine).
    t.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let _ = t.read_to_string(&mut out);
    assert!(
        out.starts_with("554 5.5.0"),
        "no 554 for the early talker within 30 s: {out:?}"
    );
}

#[test]
fn dsn_parameters_accepted() {
    let s = start_mta();
    let mut c = Client::ehlo(s.addr);
    c.expect("MAIL FROM:<a@example.net> RET=HDRS ENVID=abc+2B1", "250");
    c.expect(
        "RCPT TO:<user@example.org> NOTIFY=FAILURE,DELAY ORCPT=rfc822;user+40example.org",
        "250",
    );
    c.expect("RCPT TO:<other@example.org> NOTIFY=BAD", "501 5.5.4");
}

#[test]
fn delivery_visible_to_store_readers_at_once() {
    // Durable before 250: the message is in the store when the reply arrives.
    let s = start_mta();
    let mut c = Client::ehlo(s.addr);
    for i in 0..3 {
        let r = c.mail(
            "a@example.net",
            &[USER],
            &message("a@example.net", USER, &format!("m{i}")),
        );
        assert!(r.starts_with("250"));
        assert_eq!(s.inbox(USER).len(), i + 1);
    }
}

/// Quota (RFC 9208 limits, RFC 3463 X.2.2): a full mailbox is refused at RCPT with `452 4.2.2`
/// while other recipients still get the message; a message that does not fit is refused at
/// DATA with `452 4.2.2`, or `552 5.2.2` when it is larger than the whole quota.
#[test]
fn quota_refusals() {
    use pochta_store::{Directory, MailStore, QuotaLimits};
    let s = start_mta();
    let id = |a: &str| {
        s.store
            .account_by_address(&pochta_types::Address::new(a).unwrap())
            .unwrap()
            .unwrap()
            .id
    };
    let set = |storage, messages| {
        s.store
            .set_quota(id(USER), QuotaLimits { storage, messages })
            .unwrap()
    };
    let msg = message("a@example.net", USER, &"q".repeat(2000));
    set(None, Some(1));
    let mut c = Client::ehlo(s.addr);
    assert!(c.mail("a@example.net", &[USER], &msg).starts_with("250"));
    c.expect("MAIL FROM:<a@example.net>", "250");
    c.expect(&format!("RCPT TO:<{USER}>"), "452 4.2.2");
    c.expect(&format!("RCPT TO:<{OTHER}>"), "250");
    c.expect("RSET", "250");
    let r = c.mail("a@example.net", &[OTHER], &msg);
    assert!(r.starts_with("250"), "{r}");
    assert_eq!(s.inbox(USER).len(), 1);
    assert_eq!(s.inbox(OTHER).len(), 1);
    // Room for one small message, not for this one: refused at DATA, nothing stored.
    let used = s.store.quota(id(USER)).unwrap().storage;
    set(Some(used + 100), None);
    let big = message("a@example.net", USER, &"x".repeat(500));
    let r = c.mail("a@example.net", &[USER], &big);
    assert!(r.starts_with("452 4.2.2"), "{r}");
    // Larger than the whole quota: permanent, and no recipient gets it (one transaction).
    let huge = message("a@example.net", USER, &"x".repeat(5000));
    let r = c.mail("a@example.net", &[USER, OTHER], &huge);
    assert!(r.starts_with("552 5.2.2"), "{r}");
    assert_eq!(s.inbox(USER).len(), 1);
    assert_eq!(s.inbox(OTHER).len(), 1);
}
