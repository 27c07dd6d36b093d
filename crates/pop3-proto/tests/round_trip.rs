//! Both halves against each other: what the client encoder writes, the server parser reads
//! back unchanged; what the server's multi-line writer sends, the client's reader gets back.

use pochta_pop3_proto::client::{MultilineReader, multiline, parse_status};
use pochta_pop3_proto::command::{Command, parse};
use pochta_pop3_proto::framer::{Frame, LineFramer};
use pochta_pop3_proto::reply::{Code, err, ok, write_multiline};
use pochta_types::Secret;
use proptest::prelude::*;

fn word() -> impl Strategy<Value = String> {
    "[!-~]{1,20}"
}

fn number() -> impl Strategy<Value = u32> {
    1..=u32::MAX
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        word().prop_map(Command::User),
        "[ -~]{1,30}".prop_map(|p| Command::Pass(Secret::new(p))),
        (word(), "[0-9a-f]{32}").prop_map(|(name, digest)| Command::Apop { name, digest }),
        Just(Command::Auth {
            mechanism: None,
            initial: None
        }),
        (word(), prop::option::of(word())).prop_map(|(m, initial)| Command::Auth {
            mechanism: Some(m),
            initial
        }),
        Just(Command::Stls),
        Just(Command::Capa),
        Just(Command::Quit),
        Just(Command::Stat),
        Just(Command::Noop),
        Just(Command::Rset),
        prop::option::of(number()).prop_map(Command::List),
        prop::option::of(number()).prop_map(Command::Uidl),
        number().prop_map(Command::Retr),
        number().prop_map(Command::Dele),
        (number(), any::<u32>()).prop_map(|(msg, lines)| Command::Top { msg, lines }),
    ]
}

#[test]
fn known_encodings() {
    let enc = |c: Command| String::from_utf8(c.encode().expect("encodes")).unwrap();
    assert_eq!(enc(Command::User("a@b.org".into())), "USER a@b.org\r\n");
    assert_eq!(
        enc(Command::Pass(Secret::new("pass word ".into()))),
        "PASS pass word \r\n"
    );
    assert_eq!(enc(Command::Retr(7)), "RETR 7\r\n");
    assert_eq!(enc(Command::Top { msg: 1, lines: 0 }), "TOP 1 0\r\n");
    assert_eq!(enc(Command::Uidl(None)), "UIDL\r\n");
    assert_eq!(enc(Command::List(Some(3))), "LIST 3\r\n");
    assert_eq!(
        enc(Command::Auth {
            mechanism: Some("PLAIN".into()),
            initial: Some("AGEAYg==".into())
        }),
        "AUTH PLAIN AGEAYg==\r\n"
    );
    for bad in [
        Command::User("a b".into()),
        Command::User(String::new()),
        Command::User("a\r\nDELE 1".into()),
        Command::Pass(Secret::new("x\nQUIT".into())),
        Command::Pass(Secret::new(String::new())),
        Command::Retr(0),
        Command::Auth {
            mechanism: None,
            initial: Some("x".into()),
        },
    ] {
        assert!(bad.encode().is_err(), "{bad:?}");
    }
}

proptest! {
    #[test]
    fn encode_then_parse(cmd in command()) {
        let line = cmd.encode().expect("encodes");
        let mut f = LineFramer::new(1000);
        f.feed(&line);
        let Some(Frame::Line(l)) = f.next_frame() else {
            panic!("not one line: {line:?}");
        };
        prop_assert_eq!(f.buffered(), 0);
        prop_assert_eq!(parse(&l), Ok(cmd));
    }

    #[test]
    fn multiline_round_trip(
        lines in prop::collection::vec("[.]{0,3}[ -~]{0,10}", 0..10),
        chunk in 1usize..16,
    ) {
        let data = lines.iter().map(|l| format!("{l}\r\n")).collect::<String>();
        let mut wire = Vec::new();
        ok(&mut wire, "follows");
        let status_end = wire.len();
        write_multiline(&mut wire, data.as_bytes());
        err(&mut wire, Some(Code::InUse), "after");
        let st = parse_status(&wire[..status_end]).expect("status");
        prop_assert!(st.ok);
        let body = &wire[status_end..];
        // Read as a network would deliver it.
        let mut r = MultilineReader::new();
        let mut found = None;
        let mut have = 0;
        while found.is_none() && have < body.len() {
            have = (have + chunk).min(body.len());
            found = r.poll(&body[..have]);
        }
        let m = found.expect("terminator found");
        let (whole, used) = multiline(body).expect("terminated");
        prop_assert_eq!(m.consumed, used);
        prop_assert_eq!(whole, data.as_bytes());
        let next = parse_status(&body[used..]).expect("next status");
        prop_assert_eq!(next.known_code(), Some(Code::InUse));
    }
}
