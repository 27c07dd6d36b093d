//! Framer properties: every strict prefix is "need more", and the events do not depend on how
//! the input is chunked.

use pochta_imap_proto::command::{CommandBody, ParseOptions, parse_command};
use pochta_imap_proto::framer::{Event, Framer, Limits};

/// A tiny driver: accepts synchronizing literals up to 100 bytes, refuses bigger ones (as a
/// session would with `NO [TOOBIG]`), parses commands, and after IDLE takes one raw line.
fn drive(input: &[u8], chunk: usize, limits: Limits) -> Vec<String> {
    let mut f = Framer::new(limits);
    let mut out = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        f.feed(piece);
        while let Some(ev) = f.next_event() {
            match &ev {
                Event::LiteralAnnounced { size, tag, .. } => {
                    if *size <= 100 {
                        f.accept_literal();
                        out.push(format!("+ for {tag:?}"));
                    } else {
                        f.reject_literal();
                        out.push(format!("TOOBIG {tag:?} {size}"));
                    }
                }
                Event::Command(c) => match parse_command(&c.bytes, ParseOptions::default()) {
                    Ok(cmd) => {
                        if cmd.body == CommandBody::Idle {
                            f.expect_line();
                        }
                        out.push(format!("CMD {cmd:?}"));
                    }
                    Err(e) => out.push(format!("BAD {e:?}")),
                },
                Event::Line(l) => out.push(format!("LINE {:?}", String::from_utf8_lossy(l))),
                Event::Error(e) => out.push(format!("FRAME {e:?}")),
            }
        }
    }
    assert_eq!(f.buffered(), 0, "everything consumed");
    out
}

fn stream() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(b"a1 CAPABILITY\r\n");
    s.extend_from_slice(b"a2 LOGIN {3}\r\nbob {6+}\r\nsecret\r\n");
    s.extend_from_slice(b"\r\n"); // empty line, ignored
    s.extend_from_slice(b"a3 SELECT INBOX\n"); // bare LF
    s.extend_from_slice(b"a4 APPEND INBOX (\\Seen) {5}\r\nhello {3+}\r\nabc\r\n");
    s.extend_from_slice(b"a5 APPEND INBOX {500}\r\n"); // refused by the driver; no data follows
    s.extend_from_slice(b"a6 APPEND INBOX {2000+}\r\n"); // over the framer limit, discarded
    s.extend(std::iter::repeat_n(b'x', 2000));
    s.extend_from_slice(b" {2+}\r\nzz\r\n"); // still the discarded command
    s.extend_from_slice(b"a7 APPEND INBOX {5000}\r\n"); // sync over framer limit: refused
    s.extend_from_slice(b"a8 NOOP ");
    s.extend(std::iter::repeat_n(b'y', 300)); // line over the limit
    s.extend_from_slice(b"\r\n");
    s.extend_from_slice(b"a9 FROB\r\n");
    s.extend_from_slice(b"b1 IDLE\r\nDONE\r\n");
    s.extend_from_slice(
        b"b2 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.1024>)\r\n",
    );
    s.extend_from_slice(b"b3 APPEND INBOX ~{3}\r\na\0b\r\n");
    s.extend_from_slice(b"b4 SEARCH CHARSET UTF-8 TEXT {4+}\r\n\xd0\xb0\xd0\xb1\r\n");
    s.extend_from_slice(b"b5 LOGOUT\r\n");
    s
}

fn limits() -> Limits {
    Limits {
        max_line: 256,
        max_literal: 1000,
        max_command: 4000,
        max_literals: 8,
        max_text: 4000,
    }
}

#[test]
fn chunk_sizes_give_identical_events() {
    let input = stream();
    let reference = drive(&input, input.len(), limits());
    assert!(reference.iter().any(|e| e.starts_with("TOOBIG")));
    assert_eq!(
        reference.iter().filter(|e| e.starts_with("FRAME")).count(),
        3,
        "{reference:#?}"
    );
    assert!(reference.iter().any(|e| e == "LINE \"DONE\""));
    assert!(
        reference.last().is_some_and(|e| e.contains("Logout")),
        "{reference:#?}"
    );
    assert_eq!(
        reference.iter().filter(|e| e.starts_with("BAD")).count(),
        1,
        "{reference:#?}"
    );
    let mut size = 1;
    while size <= 512 {
        assert_eq!(
            drive(&input, size, limits()),
            reference,
            "chunk size {size}"
        );
        size *= 2;
    }
    for size in [3, 5, 7, 13] {
        assert_eq!(
            drive(&input, size, limits()),
            reference,
            "chunk size {size}"
        );
    }
}

const SAMPLES: &[&[u8]] = &[
    b"a NOOP\r\n",
    b"a LOGIN {3}\r\nbob {6+}\r\nsecret\r\n",
    b"tag UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.1024>)\r\n",
    b"a APPEND INBOX (\\Seen) \"01-Feb-2024 13:05:09 +0300\" {5}\r\nhello {1}\r\nx\r\n",
    b"a APPEND INBOX UTF8 (~{3+}\r\na\0b)\r\n",
    b"a SEARCH CHARSET KOI8-R SUBJECT {2}\r\n\xf0\xd2\r\n",
    b"a LIST (SUBSCRIBED) \"\" (INBOX \"Sent\") RETURN (STATUS (MESSAGES))\r\n",
];

#[test]
fn every_strict_prefix_needs_more() {
    for sample in SAMPLES {
        let expected = parse_command(sample, ParseOptions::default()).expect("sample parses");
        for cut in 0..sample.len() {
            let mut f = Framer::default();
            f.feed(&sample[..cut]);
            while let Some(ev) = f.next_event() {
                match ev {
                    Event::LiteralAnnounced { .. } => f.accept_literal(),
                    other => panic!(
                        "prefix {cut} of {:?} gave {other:?}",
                        String::from_utf8_lossy(sample)
                    ),
                }
            }
            // Completing the input then yields exactly the command.
            f.feed(&sample[cut..]);
            let mut got = Vec::new();
            while let Some(ev) = f.next_event() {
                match ev {
                    Event::LiteralAnnounced { .. } => f.accept_literal(),
                    Event::Command(c) => got.push(parse_command(&c.bytes, ParseOptions::default())),
                    other => panic!("unexpected {other:?}"),
                }
            }
            assert_eq!(got, vec![Ok(expected.clone())]);
        }
    }
}
