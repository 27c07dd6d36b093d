//! URLFETCH with RFC 5524 parameters (URLAUTH=BINARY): known answers for the parser and the
//! response writer, encode/parse round trips of generated commands, and the same commands
//! framed from every chunk size.

use proptest::prelude::*;

use pochta_imap_proto::command::{CommandBody, ParseOptions, parse_command};
use pochta_imap_proto::encode::EncodeOptions;
use pochta_imap_proto::framer::{Event, Framer};
use pochta_imap_proto::urlauth::{
    DataForm, FetchParams, UrlAuth, UrlFetchArg, UrlMetadata, write_urlfetch_ext,
};

const URL: &str =
    "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=anonymous:internal:0198";

fn urls(line: &str) -> Result<Vec<UrlFetchArg>, String> {
    match parse_command(line.as_bytes(), ParseOptions::default()) {
        Ok(c) => match c.body {
            CommandBody::UrlAuth(UrlAuth::UrlFetch(u)) => Ok(u),
            other => Err(format!("not URLFETCH: {other:?}")),
        },
        Err(e) => Err(e.message),
    }
}

fn ext(url: &str, structure: bool, data: Option<DataForm>) -> UrlFetchArg {
    UrlFetchArg {
        url: url.as_bytes().to_vec(),
        params: Some(FetchParams { structure, data }),
    }
}

#[test]
fn parses_parameters() {
    assert_eq!(
        urls(&format!("a URLFETCH ({URL} BINARY)\r\n")),
        Ok(vec![ext(URL, false, Some(DataForm::Binary))])
    );
    // Case-insensitive, any order, mixed with bare URLs and literals.
    assert_eq!(
        urls(&format!(
            "a URLFETCH u0 (\"{URL}\" binary bodypartstructure) ({{2}}\r\nu2 Body) (u3)\r\n"
        )),
        Ok(vec![
            UrlFetchArg::plain("u0"),
            ext(URL, true, Some(DataForm::Binary)),
            ext("u2", false, Some(DataForm::Body)),
            ext("u3", false, None),
        ])
    );
    // A repeated parameter is the same request.
    assert_eq!(
        urls("a URLFETCH (u BODYPARTSTRUCTURE BINARY BODYPARTSTRUCTURE binary)\r\n"),
        Ok(vec![ext("u", true, Some(DataForm::Binary))])
    );
}

#[test]
fn rejects_bad_parameters() {
    for bad in [
        "a URLFETCH (u BODY BINARY)\r\n", // RFC 5524 §3.1: mutually exclusive
        "a URLFETCH (u BINARY BODY)\r\n",
        "a URLFETCH (u CONVERTED)\r\n", // not a parameter we have
        "a URLFETCH (u BINARY\r\n",     // unclosed
        "a URLFETCH (u  BINARY)\r\n",   // two spaces
        "a URLFETCH (u BINARY )\r\n",
        "a URLFETCH ( u BINARY)\r\n",
        "a URLFETCH ()\r\n",
        "a URLFETCH (u (BINARY))\r\n",
        "a URLFETCH (u BINARY)x\r\n",
        "a URLFETCH u(BINARY)\r\n",
    ] {
        assert!(urls(bad).is_err(), "{bad:?} parsed: {:?}", urls(bad));
    }
}

#[test]
fn encodes_known_answers() {
    let cmd = parse_command(
        b"t URLFETCH (u2 binary bodypartstructure) u1 ({3}\r\na b body) (x)\r\n",
        ParseOptions::default(),
    )
    .unwrap();
    let bytes = cmd.encode(EncodeOptions::default());
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "t URLFETCH (u2 BODYPARTSTRUCTURE BINARY) u1 (\"a b\" BODY) (x)\r\n"
    );
}

#[test]
fn writes_metadata_known_answers() {
    let mut out = Vec::new();
    let structure =
        r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 0 NIL NIL NIL NIL)"#;
    write_urlfetch_ext(
        &mut out,
        b"u",
        Some(&UrlMetadata {
            structure: Some(structure),
            data: Some((DataForm::Binary, Some(b"hello world"))),
        }),
    );
    write_urlfetch_ext(
        &mut out,
        b"v",
        Some(&UrlMetadata {
            structure: None,
            data: Some((DataForm::Binary, Some(b"a\0b"))),
        }),
    );
    write_urlfetch_ext(
        &mut out,
        b"w",
        Some(&UrlMetadata {
            structure: Some("(\"x\" \"y\" NIL NIL NIL \"binary\" 2 NIL NIL NIL NIL)"),
            data: Some((DataForm::Binary, None)),
        }),
    );
    write_urlfetch_ext(
        &mut out,
        b"x y",
        Some(&UrlMetadata {
            structure: None,
            data: Some((DataForm::Body, Some(b"a\r\nb"))),
        }),
    );
    write_urlfetch_ext(&mut out, b"z", None);
    write_urlfetch_ext(
        &mut out,
        b"e",
        Some(&UrlMetadata {
            structure: None,
            data: None,
        }),
    );
    assert_eq!(
        String::from_utf8_lossy(&out),
        format!(
            "* URLFETCH u (BODYPARTSTRUCTURE {structure}) (BINARY \"hello world\")\r\n\
             * URLFETCH v (BINARY ~{{3}}\r\na\0b)\r\n\
             * URLFETCH w (BODYPARTSTRUCTURE (\"x\" \"y\" NIL NIL NIL \"binary\" 2 NIL NIL NIL NIL)) (BINARY NIL)\r\n\
             * URLFETCH \"x y\" (BODY {{4}}\r\na\r\nb)\r\n\
             * URLFETCH z NIL\r\n\
             * URLFETCH e\r\n"
        )
    );
}

fn arg() -> impl Strategy<Value = UrlFetchArg> {
    let url = prop_oneof![
        "[a-zA-Z0-9:/;=.+@-]{1,40}".prop_map(String::into_bytes),
        prop::collection::vec(1u8..=255, 0..30),
    ];
    let data = prop_oneof![
        Just(None),
        Just(Some(DataForm::Body)),
        Just(Some(DataForm::Binary))
    ];
    (url, prop::option::of((any::<bool>(), data))).prop_map(|(url, p)| UrlFetchArg {
        url,
        params: p.map(|(structure, data)| FetchParams { structure, data }),
    })
}

fn drive(input: &[u8], chunk: usize) -> Vec<String> {
    let mut f = Framer::default();
    let mut out = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        f.feed(piece);
        while let Some(ev) = f.next_event() {
            match &ev {
                Event::LiteralAnnounced { .. } => f.accept_literal(),
                Event::Command(c) => out.push(format!(
                    "{:?}",
                    parse_command(&c.bytes, ParseOptions::default()).map(|c| c.body)
                )),
                other => out.push(format!("{other:?}")),
            }
        }
    }
    out
}

proptest! {
    #[test]
    fn round_trip(args in prop::collection::vec(arg(), 1..6), lp in any::<bool>()) {
        let cmd = parse_command(b"a URLFETCH x\r\n", ParseOptions::default()).unwrap();
        let cmd = pochta_imap_proto::command::Command {
            body: CommandBody::UrlAuth(UrlAuth::UrlFetch(args)),
            ..cmd
        };
        let bytes = cmd.encode(EncodeOptions { literal_plus: lp, utf8: false });
        prop_assert_eq!(parse_command(&bytes, ParseOptions::default()), Ok(cmd));
    }

    #[test]
    fn chunk_sizes_give_identical_commands(
        args in prop::collection::vec(arg(), 1..4),
        chunk in 1usize..64,
    ) {
        let cmd = parse_command(b"a URLFETCH x\r\n", ParseOptions::default()).unwrap();
        let cmd = pochta_imap_proto::command::Command {
            body: CommandBody::UrlAuth(UrlAuth::UrlFetch(args)),
            ..cmd
        };
        let mut input = cmd.encode(EncodeOptions::default());
        input.extend_from_slice(b"b NOOP\r\n");
        let whole = drive(&input, input.len());
        prop_assert_eq!(whole.len(), 2);
        prop_assert!(whole[0].contains("UrlFetch"), "{}", whole[0]);
        prop_assert_eq!(drive(&input, chunk), whole);
    }
}
