//! Known-answer tables: input bytes → the command (shown canonically re-encoded) or the error.

use std::num::NonZeroU32;

use pochta_imap_proto::append::AppendDataKind;
use pochta_imap_proto::command::{CommandBody, ParseErrorKind, ParseOptions, parse_command};
use pochta_imap_proto::encode::EncodeOptions;
use pochta_imap_proto::fetch::{FetchAttr, Partial, Section, SectionText};
use pochta_imap_proto::search::SearchKey;
use pochta_imap_proto::sequence::{SeqNum, SeqRange, SequenceSet};
use pochta_types::{Flag, MailboxName};

fn parse(input: &[u8]) -> pochta_imap_proto::Command {
    parse_command(input, ParseOptions::default())
        .unwrap_or_else(|e| panic!("{:?}: {e:?}", String::from_utf8_lossy(input)))
}

fn canon(input: &[u8]) -> String {
    String::from_utf8_lossy(&parse(input).encode(EncodeOptions::default())).into_owned()
}

/// (input, canonical encoding). The canonical form is what our encoder writes for the parsed
/// command, so each row checks parse and encode together.
const TABLE: &[(&str, &str)] = &[
    ("a CAPABILITY\r\n", "a CAPABILITY\r\n"),
    ("a capability\r\n", "a CAPABILITY\r\n"),
    ("a1 noop\r\n", "a1 NOOP\r\n"),
    ("x LOGOUT\r\n", "x LOGOUT\r\n"),
    ("x STARTTLS\r\n", "x STARTTLS\r\n"),
    ("x authenticate plain\r\n", "x AUTHENTICATE PLAIN\r\n"),
    (
        "x AUTHENTICATE PLAIN AGJvYgBwdw==\r\n",
        "x AUTHENTICATE PLAIN AGJvYgBwdw==\r\n",
    ),
    ("x AUTHENTICATE PLAIN =\r\n", "x AUTHENTICATE PLAIN =\r\n"),
    ("x LOGIN bob secret\r\n", "x LOGIN bob secret\r\n"),
    (
        "x LOGIN \"b\\\"ob\" \"a\\\\b\"\r\n",
        "x LOGIN \"b\\\"ob\" \"a\\\\b\"\r\n",
    ),
    (
        "x LOGIN {3}\r\nbob {6+}\r\nsecret\r\n",
        "x LOGIN bob secret\r\n",
    ),
    ("x LOGIN \"\" \"\"\r\n", "x LOGIN \"\" \"\"\r\n"),
    ("x SELECT inbox\r\n", "x SELECT INBOX\r\n"),
    ("x SELECT \"InBoX/Work\"\r\n", "x SELECT INBOX/Work\r\n"),
    ("x SELECT {5}\r\nINBOX\r\n", "x SELECT INBOX\r\n"),
    (
        "x EXAMINE Archive (CONDSTORE)\r\n",
        "x EXAMINE Archive (CONDSTORE)\r\n",
    ),
    (
        "x SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n",
        "x SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n",
    ),
    (
        "x SELECT INBOX (QRESYNC (1 2 1:* (1,5 7,9)))\r\n",
        "x SELECT INBOX (QRESYNC (1 2 1:* (1,5 7,9)))\r\n",
    ),
    (
        "x SELECT INBOX (QRESYNC (1 2 (1 7)))\r\n",
        "x SELECT INBOX (QRESYNC (1 2 (1 7)))\r\n",
    ),
    ("x CREATE Foo/\r\n", "x CREATE Foo\r\n"),
    (
        "x CREATE Sent (USE (\\Sent))\r\n",
        "x CREATE Sent (USE (\\Sent))\r\n",
    ),
    (
        "x CREATE &BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-\r\n",
        "x CREATE &BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-\r\n",
    ),
    ("x DELETE foo\r\n", "x DELETE foo\r\n"),
    ("x RENAME a \"b c\"\r\n", "x RENAME a \"b c\"\r\n"),
    ("x SUBSCRIBE a\r\n", "x SUBSCRIBE a\r\n"),
    ("x UNSUBSCRIBE a\r\n", "x UNSUBSCRIBE a\r\n"),
    ("x LIST \"\" *\r\n", "x LIST \"\" *\r\n"),
    ("x LIST \"\" %\r\n", "x LIST \"\" %\r\n"),
    ("x LIST ~/Mail/ %\r\n", "x LIST ~/Mail/ %\r\n"),
    ("x LIST \"\" INBOX/%\r\n", "x LIST \"\" INBOX/%\r\n"),
    (
        "x LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX Sent) RETURN (CHILDREN STATUS (MESSAGES UNSEEN))\r\n",
        "x LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX Sent) RETURN (CHILDREN STATUS (MESSAGES UNSEEN))\r\n",
    ),
    (
        "x LIST \"\" \"%\" RETURN (SPECIAL-USE)\r\n",
        "x LIST \"\" % RETURN (SPECIAL-USE)\r\n",
    ),
    ("x LSUB \"\" *\r\n", "x LSUB \"\" *\r\n"),
    ("x NAMESPACE\r\n", "x NAMESPACE\r\n"),
    (
        "x STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE DELETED APPENDLIMIT)\r\n",
        "x STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE DELETED APPENDLIMIT)\r\n",
    ),
    // ACL (RFC 4314 §3): obsolete "d" expands to "te"; the encoder writes standard letters.
    (
        "x SETACL INBOX/Drafts David lrswida\r\n",
        "x SETACL INBOX/Drafts David lrswitea\r\n",
    ),
    (
        "x setacl \"&BB4EMQRJBDgENQ-\" \"fred@example.org\" +lr\r\n",
        "x SETACL &BB4EMQRJBDgENQ- fred@example.org +lr\r\n",
    ),
    (
        "x SETACL INBOX anyone -wx\r\n",
        "x SETACL INBOX anyone -wx\r\n",
    ),
    (
        "x SETACL INBOX anyone \"\"\r\n",
        "x SETACL INBOX anyone \"\"\r\n",
    ),
    ("x DELETEACL INBOX -fred\r\n", "x DELETEACL INBOX -fred\r\n"),
    ("x GETACL inbox\r\n", "x GETACL INBOX\r\n"),
    (
        "x LISTRIGHTS Work anyone\r\n",
        "x LISTRIGHTS Work anyone\r\n",
    ),
    ("x MYRIGHTS Work\r\n", "x MYRIGHTS Work\r\n"),
    (
        "x STATUS INBOX (deleted-storage DELETED)\r\n",
        "x STATUS INBOX (DELETED-STORAGE DELETED)\r\n",
    ),
    (
        "x APPEND INBOX {3}\r\nabc\r\n",
        "x APPEND INBOX {3}\r\nabc\r\n",
    ),
    (
        "x APPEND INBOX (\\Seen $Junk) \" 1-Feb-2024 13:05:09 +0300\" {3+}\r\nabc\r\n",
        "x APPEND INBOX (\\Seen $Junk) \"01-Feb-2024 13:05:09 +0300\" {3}\r\nabc\r\n",
    ),
    (
        "x APPEND INBOX (\\Seen) {1}\r\na (\\Draft) {1}\r\nb {1}\r\nc\r\n",
        "x APPEND INBOX (\\Seen) {1}\r\na (\\Draft) {1}\r\nb {1}\r\nc\r\n",
    ),
    (
        "x APPEND INBOX ~{2}\r\na\0\r\n",
        "x APPEND INBOX ~{2}\r\na\0\r\n",
    ),
    (
        "x APPEND INBOX UTF8 (~{2}\r\nab)\r\n",
        "x APPEND INBOX UTF8 (~{2}\r\nab)\r\n",
    ),
    ("x CHECK\r\n", "x CHECK\r\n"),
    ("x CLOSE\r\n", "x CLOSE\r\n"),
    ("x UNSELECT\r\n", "x UNSELECT\r\n"),
    ("x EXPUNGE\r\n", "x EXPUNGE\r\n"),
    ("x UID EXPUNGE 3000:3002\r\n", "x UID EXPUNGE 3000:3002\r\n"),
    ("x SEARCH ALL\r\n", "x SEARCH ALL\r\n"),
    (
        "x search flagged since 1-Feb-1994 not from \"Smith\"\r\n",
        "x SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM Smith\r\n",
    ),
    (
        "x SEARCH SINCE \"01-Feb-1994\"\r\n",
        "x SEARCH SINCE 1-Feb-1994\r\n",
    ),
    (
        "x SEARCH OR (SEEN DELETED) NOT (1:5 UID 7,*) HEADER X-Spam yes\r\n",
        "x SEARCH OR (SEEN DELETED) NOT (1:5 UID 7,*) HEADER X-Spam yes\r\n",
    ),
    ("x SEARCH (SEEN)\r\n", "x SEARCH SEEN\r\n"),
    (
        "x UID SEARCH RETURN (MIN MAX COUNT) UNSEEN\r\n",
        "x UID SEARCH RETURN (MIN MAX COUNT) UNSEEN\r\n",
    ),
    ("x SEARCH RETURN () ALL\r\n", "x SEARCH RETURN () ALL\r\n"),
    (
        "x SEARCH RETURN (SAVE) FLAGGED\r\n",
        "x SEARCH RETURN (SAVE) FLAGGED\r\n",
    ),
    ("x UID SEARCH UID $\r\n", "x UID SEARCH UID $\r\n"),
    (
        "x sort (reverse date Subject) utf-8 all\r\n",
        "x SORT (REVERSE DATE SUBJECT) UTF-8 ALL\r\n",
    ),
    (
        "x UID SORT RETURN (MIN ALL) (DISPLAYFROM) UTF-8 SEEN\r\n",
        "x UID SORT RETURN (MIN ALL) (DISPLAYFROM) UTF-8 SEEN\r\n",
    ),
    (
        "x uid thread refs \"us-ascii\" 1:5 unseen\r\n",
        "x UID THREAD REFS US-ASCII 1:5 UNSEEN\r\n",
    ),
    (
        "x THREAD ORDEREDSUBJECT UTF-8 ALL\r\n",
        "x THREAD ORDEREDSUBJECT UTF-8 ALL\r\n",
    ),
    ("x SEARCH $ SEEN\r\n", "x SEARCH $ SEEN\r\n"),
    (
        "x SEARCH MODSEQ 620162338\r\n",
        "x SEARCH MODSEQ 620162338\r\n",
    ),
    (
        "x SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338\r\n",
        "x SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338\r\n",
    ),
    (
        "x SEARCH OLDER 3600 YOUNGER 60\r\n",
        "x SEARCH OLDER 3600 YOUNGER 60\r\n",
    ),
    (
        "x SEARCH SAVEDATESINCE 1-Jan-2024 SAVEDATESUPPORTED\r\n",
        "x SEARCH SAVEDATESINCE 1-Jan-2024 SAVEDATESUPPORTED\r\n",
    ),
    (
        "x SEARCH EMAILID M6d99ac3275bb4e\r\n",
        "x SEARCH EMAILID M6d99ac3275bb4e\r\n",
    ),
    (
        "x SEARCH LARGER 10000 SMALLER 20000 KEYWORD $Forwarded\r\n",
        "x SEARCH LARGER 10000 SMALLER 20000 KEYWORD $Forwarded\r\n",
    ),
    (
        "x FETCH 1 ALL\r\n",
        "x FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)\r\n",
    ),
    (
        "x FETCH 1 FAST\r\n",
        "x FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)\r\n",
    ),
    (
        "x FETCH 1 full\r\n",
        "x FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY)\r\n",
    ),
    ("x FETCH 2:4 flags\r\n", "x FETCH 2:4 (FLAGS)\r\n"),
    (
        "x UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.1024>)\r\n",
        "x UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.1024>)\r\n",
    ),
    (
        "x FETCH 1 (BODY[] BODY[1.2.HEADER] BODY[1.MIME] BODY[TEXT] BODY[3] BODY[1.HEADER.FIELDS.NOT (X-A)])\r\n",
        "x FETCH 1 (BODY[] BODY[1.2.HEADER] BODY[1.MIME] BODY[TEXT] BODY[3] BODY[1.HEADER.FIELDS.NOT (X-A)])\r\n",
    ),
    (
        "x FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE BODYSTRUCTURE BODY UID ENVELOPE INTERNALDATE)\r\n",
        "x FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE BODYSTRUCTURE BODY UID ENVELOPE INTERNALDATE)\r\n",
    ),
    (
        "x FETCH 1 (BINARY[1]<0.10> BINARY.PEEK[] BINARY.SIZE[1.2] MODSEQ PREVIEW SAVEDATE EMAILID THREADID)\r\n",
        "x FETCH 1 (BINARY[1]<0.10> BINARY.PEEK[] BINARY.SIZE[1.2] MODSEQ PREVIEW SAVEDATE EMAILID THREADID)\r\n",
    ),
    (
        "x FETCH 1 (PREVIEW (LAZY))\r\n",
        "x FETCH 1 (PREVIEW (LAZY))\r\n",
    ),
    (
        "x UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n",
        "x UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n",
    ),
    ("x FETCH $ (UID)\r\n", "x FETCH $ (UID)\r\n"),
    (
        "x STORE 1:3 +FLAGS (\\Deleted)\r\n",
        "x STORE 1:3 +FLAGS (\\Deleted)\r\n",
    ),
    (
        "x STORE 1 -flags.silent \\Seen $X\r\n",
        "x STORE 1 -FLAGS.SILENT (\\Seen $X)\r\n",
    ),
    ("x STORE 1 FLAGS ()\r\n", "x STORE 1 FLAGS ()\r\n"),
    (
        "x STORE 1 FLAGS (\\Recent \\Seen)\r\n",
        "x STORE 1 FLAGS (\\Seen)\r\n",
    ),
    (
        "x UID STORE 5 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)\r\n",
        "x UID STORE 5 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)\r\n",
    ),
    ("x COPY 1:2 Trash\r\n", "x COPY 1:2 Trash\r\n"),
    (
        "x UID COPY 4:* \"Sent Items\"\r\n",
        "x UID COPY 4:* \"Sent Items\"\r\n",
    ),
    ("x MOVE 1 Junk\r\n", "x MOVE 1 Junk\r\n"),
    ("x uid move 1,3 Junk\r\n", "x UID MOVE 1,3 Junk\r\n"),
    ("x IDLE\r\n", "x IDLE\r\n"),
    (
        "x ENABLE CONDSTORE qresync\r\n",
        "x ENABLE CONDSTORE QRESYNC\r\n",
    ),
    ("x ID NIL\r\n", "x ID NIL\r\n"),
    (
        "x ID (\"name\" \"mutt\" \"version\" NIL)\r\n",
        "x ID (\"name\" \"mutt\" \"version\" NIL)\r\n",
    ),
    ("x ID ()\r\n", "x ID ()\r\n"),
    ("x COMPRESS deflate\r\n", "x COMPRESS DEFLATE\r\n"),
    ("x GETQUOTA \"\"\r\n", "x GETQUOTA \"\"\r\n"),
    ("x GETQUOTAROOT INBOX\r\n", "x GETQUOTAROOT INBOX\r\n"),
    (
        "x SETQUOTA \"\" (STORAGE 512)\r\n",
        "x SETQUOTA \"\" (STORAGE 512)\r\n",
    ),
    // Bare LF is accepted by the framer and normalised; the parser itself wants CRLF.
];

#[test]
fn known_answers() {
    for (input, expected) in TABLE {
        assert_eq!(&canon(input.as_bytes()), expected, "input {input:?}");
    }
}

#[test]
fn structure_of_key_commands() {
    let c = parse(b"A654 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.1024>)\r\n");
    assert_eq!(c.tag.as_str(), "A654");
    let CommandBody::Fetch(f) = c.body else {
        panic!()
    };
    assert!(f.uid);
    assert_eq!(
        f.set,
        SequenceSet::Ranges(vec![SeqRange {
            start: SeqNum::Value(NonZeroU32::MIN),
            end: SeqNum::Largest
        }])
    );
    assert_eq!(
        f.attrs,
        vec![
            FetchAttr::Flags,
            FetchAttr::BodySection {
                peek: true,
                section: Section {
                    part: vec![],
                    text: Some(SectionText::HeaderFields(vec![
                        b"DATE".to_vec(),
                        b"FROM".to_vec()
                    ])),
                },
                partial: Some(Partial {
                    offset: 0,
                    length: NonZeroU32::new(1024).unwrap()
                }),
            }
        ]
    );

    // CHARSET with a literal holding KOI8-R bytes: kept raw with the charset name.
    let koi = [0xf0u8, 0xd2, 0xc9, 0xd7, 0xc5, 0xd4];
    let mut input = b"s1 SEARCH CHARSET koi8-r SUBJECT {6}\r\n".to_vec();
    input.extend_from_slice(&koi);
    input.extend_from_slice(b"\r\n");
    let CommandBody::Search(s) = parse(&input).body else {
        panic!()
    };
    assert_eq!(s.charset.as_deref(), Some("KOI8-R"));
    assert_eq!(s.key, SearchKey::Subject(koi.to_vec()));

    // Cyrillic mailbox names: modified UTF-7 by default, raw UTF-8 under UTF8=ACCEPT.
    let CommandBody::Select(s) =
        parse(b"x SELECT &BBIERQQ+BDQETwRJBDgENQ-/&BCAEMAQxBD4EQgQw-\r\n").body
    else {
        panic!()
    };
    assert_eq!(s.mailbox, MailboxName::new("Входящие/Работа").unwrap());
    let c = parse_command(
        "x SELECT \"Входящие\"\r\n".as_bytes(),
        ParseOptions { utf8_accept: true },
    )
    .unwrap();
    let CommandBody::Select(s) = c.body else {
        panic!()
    };
    assert_eq!(s.mailbox.as_str(), "Входящие");
    // Under UTF8=ACCEPT `&` is just a character.
    let c = parse_command(b"x SELECT A&B\r\n", ParseOptions { utf8_accept: true }).unwrap();
    let CommandBody::Select(s) = c.body else {
        panic!()
    };
    assert_eq!(s.mailbox.as_str(), "A&B");

    let CommandBody::Append(a) = parse(b"x APPEND INBOX (\\Seen) {1}\r\na ~{1}\r\nb\r\n").body
    else {
        panic!()
    };
    assert_eq!(a.messages.len(), 2);
    assert_eq!(a.messages[0].flags, vec![Flag::Seen]);
    assert_eq!(a.messages[1].kind, AppendDataKind::Literal8);

    let CommandBody::Login(l) = parse(b"x LOGIN bob pw\r\n").body else {
        panic!()
    };
    assert!(
        !format!("{l:?}").contains("pw\""),
        "password must be redacted"
    );
}

/// (input, tag, kind). `None` tag = unreadable.
#[test]
fn errors() {
    use ParseErrorKind as K;
    let table: &[(&[u8], Option<&str>, K)] = &[
        (b" NOOP\r\n", None, K::BadTag),
        (b"\r\n", None, K::BadTag),
        (b"a+ NOOP\r\n", None, K::BadTag),
        (b"a NOOP", Some("a"), K::Syntax),
        (b"a NOOP \r\n", Some("a"), K::Syntax),
        (b"a NOOP\n", Some("a"), K::Syntax),
        (b"a\r\n", Some("a"), K::Syntax),
        (b"a FROB\r\n", Some("a"), K::UnknownCommand),
        (b"a UID FROB 1\r\n", Some("a"), K::Syntax),
        (b"a LOGIN bob\r\n", Some("a"), K::Syntax),
        (b"a LOGIN \"bob pw\r\n", Some("a"), K::Syntax),
        (b"a LOGIN \"b\\ob\" pw\r\n", Some("a"), K::Syntax),
        (b"a LOGIN {5}\r\nbob pw\r\n", Some("a"), K::Syntax),
        (b"a LOGIN {3}bob pw\r\n", Some("a"), K::Syntax),
        (b"a SELECT\r\n", Some("a"), K::Syntax),
        (
            b"a SELECT \"\"\r\n",
            Some("a"),
            K::Mailbox(Some(pochta_types::MailboxNameError::Empty)),
        ),
        (b"a SELECT &Jjo\r\n", Some("a"), K::Mailbox(None)),
        (
            b"a SELECT a//b\r\n",
            Some("a"),
            K::Mailbox(Some(pochta_types::MailboxNameError::EmptyLevel)),
        ),
        (b"a SELECT INBOX (FOO)\r\n", Some("a"), K::Syntax),
        (b"a SETACL INBOX fred lrq\r\n", Some("a"), K::Syntax),
        (b"a SETACL INBOX fred\r\n", Some("a"), K::Syntax),
        (b"a SETACL INBOX \"\" lr\r\n", Some("a"), K::Syntax),
        (b"a SETACL INBOX fred +l0\r\n", Some("a"), K::Syntax),
        (b"a DELETEACL INBOX\r\n", Some("a"), K::Syntax),
        (b"a GETACL INBOX fred\r\n", Some("a"), K::Syntax),
        (b"a MYRIGHTS\r\n", Some("a"), K::Syntax),
        (b"a FETCH 0 FLAGS\r\n", Some("a"), K::Syntax),
        (b"a FETCH 1:2: FLAGS\r\n", Some("a"), K::Syntax),
        (b"a FETCH 1 (FLAGS\r\n", Some("a"), K::Syntax),
        (b"a FETCH 1 ()\r\n", Some("a"), K::Syntax),
        (b"a FETCH 1 BODY[0]\r\n", Some("a"), K::Syntax),
        (b"a FETCH 1 BODY[MIME]\r\n", Some("a"), K::Syntax),
        (b"a FETCH 1 BODY[]<0.0>\r\n", Some("a"), K::Syntax),
        (b"a FETCH 99999999999 FLAGS\r\n", Some("a"), K::Syntax),
        (b"a FETCH 1 (FLAGS) (VANISHED)\r\n", Some("a"), K::Syntax),
        (b"a STORE 1 FLAGS (\\Bogus)\r\n", Some("a"), K::Syntax),
        (b"a STORE 1 XFLAGS (\\Seen)\r\n", Some("a"), K::Syntax),
        (b"a SEARCH\r\n", Some("a"), K::Syntax),
        (b"a SEARCH FOO\r\n", Some("a"), K::Syntax),
        (b"a SEARCH SINCE 30-Feb-2024\r\n", Some("a"), K::Syntax),
        (b"a SEARCH SINCE 1-Foo-2024\r\n", Some("a"), K::Syntax),
        (b"a SEARCH OR SEEN\r\n", Some("a"), K::Syntax),
        (b"a SEARCH ()\r\n", Some("a"), K::Syntax),
        (b"a APPEND INBOX\r\n", Some("a"), K::Syntax),
        (b"a APPEND INBOX \"x\"\r\n", Some("a"), K::Syntax),
        (b"a APPEND INBOX {1}\r\n\0\r\n", Some("a"), K::Syntax),
        (
            b"a APPEND INBOX \"31-Dec-2024 25:00:00 +0000\" {1}\r\nx\r\n",
            Some("a"),
            K::Syntax,
        ),
        (b"a LIST (RECURSIVEMATCH) \"\" *\r\n", Some("a"), K::Syntax),
        (b"a LIST \"\" * RETURN (BOGUS)\r\n", Some("a"), K::Syntax),
        (b"a CREATE x (USE (\\Bogus))\r\n", Some("a"), K::Syntax),
        (b"a ENABLE\r\n", Some("a"), K::Syntax),
        (b"a STATUS INBOX ()\r\n", Some("a"), K::Syntax),
    ];
    for (input, tag, kind) in table {
        let e = parse_command(input, ParseOptions::default())
            .expect_err(&format!("{:?} should fail", String::from_utf8_lossy(input)));
        assert_eq!(
            e.tag.as_ref().map(|t| t.as_str()),
            *tag,
            "{:?}",
            String::from_utf8_lossy(input)
        );
        assert_eq!(
            &e.kind,
            kind,
            "{:?}: {}",
            String::from_utf8_lossy(input),
            e.message
        );
        assert!(!e.message.is_empty());
    }
}

#[test]
fn search_depth_is_limited() {
    let mut s = b"a SEARCH ".to_vec();
    for _ in 0..10_000 {
        s.extend_from_slice(b"NOT ");
    }
    s.extend_from_slice(b"ALL\r\n");
    assert!(parse_command(&s, ParseOptions::default()).is_err());
    let mut s = b"a SEARCH ".to_vec();
    s.extend(std::iter::repeat_n(b'(', 10_000));
    assert!(parse_command(&s, ParseOptions::default()).is_err());
}

#[test]
fn eight_bit_atoms_in_search_strings_are_tolerated() {
    // Python's imaplib sends raw UTF-8 as an atom; the bytes are kept for CHARSET decoding.
    let c = parse("s SEARCH CHARSET UTF-8 BODY привет\r\n".as_bytes());
    let CommandBody::Search(s) = c.body else {
        panic!()
    };
    assert_eq!(s.key, SearchKey::Body("привет".as_bytes().to_vec()));
    // Quoted strings and literals are unaffected.
    let c = parse(b"s SEARCH SUBJECT \"a b\"\r\n");
    let CommandBody::Search(s) = c.body else {
        panic!()
    };
    assert_eq!(s.key, SearchKey::Subject(b"a b".to_vec()));
}
