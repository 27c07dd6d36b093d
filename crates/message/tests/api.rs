//! Known-answer tests for sections, BINARY, search text and the storage codec, plus
//! property tests: nothing panics on any input.

use std::path::PathBuf;

use pochta_message::{
    BinaryError, MessageMeta, PartKind, SectionText, binary, normalize_line_endings, parse,
    search_body_text, search_header_values, section,
};
use proptest::prelude::*;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/messages")
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .map(|p| {
            let raw = std::fs::read(&p).unwrap();
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, normalize_line_endings(&raw).into_owned())
        })
        .collect();
    v.sort();
    v
}

fn msg(name: &str) -> Vec<u8> {
    let raw = std::fs::read(corpus_dir().join(format!("{name}.eml"))).unwrap();
    normalize_line_endings(&raw).into_owned()
}

fn sec(raw: &[u8], meta: &MessageMeta, path: &[u32], which: SectionText<'_>) -> Option<String> {
    section(raw, meta, path, which).map(|c| String::from_utf8_lossy(&c).into_owned())
}

const SIMPLE: &[u8] =
    b"From: a@example.com\r\nSubject: Hi\r\nX-Other: x\r\n\tfolded\r\n\r\nBody line\r\n";

#[test]
fn normalize() {
    assert!(matches!(
        normalize_line_endings(b"a\r\nb"),
        std::borrow::Cow::Borrowed(_)
    ));
    assert_eq!(
        &*normalize_line_endings(b"a\nb\r\nc\rd\n"),
        b"a\r\nb\r\nc\rd\r\n"
    );
    assert_eq!(&*normalize_line_endings(b"\n"), b"\r\n");
    for raw in [&b"a\r\nb"[..], b"a\nb\r\nc\rd\n", b"\n", b""] {
        assert_eq!(
            pochta_message::normalized_len(raw),
            normalize_line_endings(raw).len()
        );
    }
}

#[test]
fn singlepart_sections() {
    let m = parse(SIMPLE);
    assert_eq!(
        sec(SIMPLE, &m, &[], SectionText::Header).unwrap(),
        "From: a@example.com\r\nSubject: Hi\r\nX-Other: x\r\n\tfolded\r\n\r\n"
    );
    assert_eq!(
        sec(SIMPLE, &m, &[], SectionText::Text).unwrap(),
        "Body line\r\n"
    );
    assert_eq!(
        sec(SIMPLE, &m, &[], SectionText::Full).unwrap().as_bytes(),
        SIMPLE
    );
    assert_eq!(sec(SIMPLE, &m, &[], SectionText::Mime), None);
    // Part 1 of a non-multipart message is its body; its MIME header is the message header.
    assert_eq!(
        sec(SIMPLE, &m, &[1], SectionText::Full).unwrap(),
        "Body line\r\n"
    );
    assert_eq!(
        sec(SIMPLE, &m, &[1], SectionText::Mime),
        sec(SIMPLE, &m, &[], SectionText::Header)
    );
    assert_eq!(sec(SIMPLE, &m, &[2], SectionText::Full), None);
    assert_eq!(sec(SIMPLE, &m, &[1, 1], SectionText::Full), None);
    assert_eq!(sec(SIMPLE, &m, &[0], SectionText::Full), None);
    // HEADER/TEXT on a part that is not message/rfc822 do not exist.
    assert_eq!(sec(SIMPLE, &m, &[1], SectionText::Header), None);
    assert_eq!(
        sec(
            SIMPLE,
            &m,
            &[],
            SectionText::HeaderFields(&["subject", "X-OTHER"])
        )
        .unwrap(),
        "Subject: Hi\r\nX-Other: x\r\n\tfolded\r\n\r\n"
    );
    assert_eq!(
        sec(
            SIMPLE,
            &m,
            &[],
            SectionText::HeaderFieldsNot(&["subject", "x-other"])
        )
        .unwrap(),
        "From: a@example.com\r\n\r\n"
    );
    assert_eq!(
        sec(SIMPLE, &m, &[], SectionText::HeaderFields(&["Nope"])).unwrap(),
        "\r\n"
    );
    assert_eq!(
        m.bodystructure(),
        r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 1 NIL NIL NIL NIL)"#
    );
    assert_eq!(
        m.envelope(),
        r#"(NIL "Hi" ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) ((NIL NIL "a" "example.com")) NIL NIL NIL NIL NIL)"#
    );
}

const MULTI: &[u8] = b"Content-Type: multipart/mixed; boundary=b1\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain\r\n\r\none\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\n\r\nalt1\r\n--b2\r\nContent-Type: text/html\r\n\r\n<p>alt2</p>\r\n--b2--\r\n\r\n--b1--\r\nepilogue\r\n";

#[test]
fn nested_sections() {
    let m = parse(MULTI);
    assert_eq!(sec(MULTI, &m, &[1], SectionText::Full).unwrap(), "one");
    assert_eq!(
        sec(MULTI, &m, &[1], SectionText::Mime).unwrap(),
        "Content-Type: text/plain\r\n\r\n"
    );
    let p2 = m.part(&[2]).unwrap();
    assert_eq!(p2.kind, PartKind::Message);
    assert_eq!(
        sec(MULTI, &m, &[2], SectionText::Header).unwrap(),
        "Subject: inner\r\nContent-Type: multipart/alternative; boundary=b2\r\n\r\n"
    );
    assert_eq!(
        sec(MULTI, &m, &[2], SectionText::HeaderFields(&["Subject"])).unwrap(),
        "Subject: inner\r\n\r\n"
    );
    assert!(
        sec(MULTI, &m, &[2], SectionText::Text)
            .unwrap()
            .starts_with("--b2\r\n")
    );
    // 2.1 and 2.2 are the parts of the encapsulated multipart.
    assert_eq!(sec(MULTI, &m, &[2, 1], SectionText::Full).unwrap(), "alt1");
    assert_eq!(sec(MULTI, &m, &[2, 1], SectionText::Mime).unwrap(), "\r\n");
    assert_eq!(
        sec(MULTI, &m, &[2, 2], SectionText::Full).unwrap(),
        "<p>alt2</p>"
    );
    assert_eq!(
        sec(MULTI, &m, &[2, 2], SectionText::Mime).unwrap(),
        "Content-Type: text/html\r\n\r\n"
    );
    assert_eq!(sec(MULTI, &m, &[2, 3], SectionText::Full), None);
    assert_eq!(sec(MULTI, &m, &[3], SectionText::Full), None);
    assert_eq!(m.part(&[2, 2]).unwrap().media_subtype, "html");
}

#[test]
fn corpus_nested_rfc822() {
    // mime-rfc822-with-multipart: 2 is message/rfc822 > multipart/mixed >
    // (multipart/alternative (2.1.1, 2.1.2), application/pdf 2.2).
    let raw = msg("mime-rfc822-with-multipart");
    let m = parse(&raw);
    assert_eq!(m.part(&[2]).unwrap().kind, PartKind::Message);
    assert_eq!(m.part(&[2, 1]).unwrap().media_subtype, "alternative");
    assert_eq!(m.part(&[2, 1, 1]).unwrap().media_subtype, "plain");
    assert_eq!(m.part(&[2, 1, 2]).unwrap().media_subtype, "html");
    assert_eq!(m.part(&[2, 2]).unwrap().media_subtype, "pdf");
    let h = sec(&raw, &m, &[2], SectionText::HeaderFields(&["Message-ID"])).unwrap();
    assert_eq!(h, "Message-ID: <inner-multipart@mail.example.net>\r\n\r\n");
    let pdf = binary(&raw, &m, &[2, 2]).unwrap();
    assert!(pdf.starts_with(b"%PDF"));
}

#[test]
fn binary_decodes_and_reports() {
    let raw =
        b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8=\r\n";
    let m = parse(raw);
    assert_eq!(&*binary(raw, &m, &[1]).unwrap(), b"hello");
    let bad = b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs!bG8=\r\n";
    let m = parse(bad);
    assert!(matches!(
        binary(bad, &m, &[1]),
        Err(BinaryError::Corrupt(_))
    ));
    let x = b"Content-Transfer-Encoding: x-uuencode\r\n\r\nabc\r\n";
    let m = parse(x);
    assert!(matches!(
        binary(x, &m, &[1]),
        Err(BinaryError::UnknownCte(_))
    ));
    assert!(matches!(binary(x, &m, &[2]), Err(BinaryError::NoSuchPart)));
    let qp = b"Content-Transfer-Encoding: quoted-printable\r\n\r\na=3Db=\r\nc  \r\n";
    let m = parse(qp);
    assert_eq!(&*binary(qp, &m, &[1]).unwrap(), b"a=bc\r\n");
}

#[test]
fn corrupt_base64_in_corpus_is_an_error() {
    // py-msg_39: the nested base64 parts are broken ("XXX"); Dovecot dropped the session.
    let raw = msg("py-msg_39");
    let m = parse(&raw);
    assert!(binary(&raw, &m, &[1]).is_ok());
    assert!(matches!(
        binary(&raw, &m, &[1, 1, 1]),
        Err(BinaryError::Corrupt(_))
    ));
}

#[test]
fn codec_round_trip_over_corpus() {
    for (name, raw) in corpus() {
        let m = parse(&raw);
        let b = m.to_bytes();
        assert_eq!(MessageMeta::from_bytes(&b).as_ref(), Ok(&m), "{name}");
        // Every truncation is an error, never a panic.
        for cut in 0..b.len() {
            assert!(
                MessageMeta::from_bytes(&b[..cut]).is_err(),
                "{name} cut {cut}"
            );
        }
    }
    assert!(MessageMeta::from_bytes(b"").is_err());
    assert!(MessageMeta::from_bytes(b"PM\x09").is_err());
}

#[test]
fn sent_dates() {
    let m = parse(&msg("ru-koi8r-plain-8bit"));
    assert_eq!(m.sent_date(), Some(1_705_303_800)); // Mon, 15 Jan 2024 10:30:00 +0300
    assert_eq!(parse(&msg("py-msg_19")).sent_date(), None);
}

#[test]
fn search_body_finds_cyrillic() {
    for (name, word) in [
        ("ru-koi8r-plain-8bit", "квартал"),
        ("ru-koi8r-plain-qp", "квартал"),
        ("ru-koi8r-plain-base64", "квартал"),
        ("ru-cp1251-plain-8bit", "совещание"),
        ("ru-cp1251-plain-qp", "совещание"),
        ("ru-cp1251-plain-base64", "совещание"),
        ("ru-cp1251-html-qp", "Уважаемые"),
        ("ru-alternative-in-mixed", "Схема проезда"),
        ("ru-forward-rfc822", "Мария"),
        ("mime-header-syntax-quirks", "№15/2024"),
    ] {
        let raw = msg(name);
        let text = search_body_text(&raw, &parse(&raw));
        assert!(text.contains(word), "{name}: {word} not in {text:?}");
    }
}

#[test]
fn search_headers_decode_encoded_words() {
    let cases = [
        ("ru-koi8r-plain-8bit", "Отчёт за первый квартал"),
        ("ru-koi8r-plain-qp", "Отчёт: исправленная версия"),
        ("ru-cp1251-plain-qp", "Re: Совещание — подтверждаю"),
        (
            "ru-utf8-encoded-words",
            "Приглашение на конференцию «Почта-2024»",
        ),
        (
            "ru-mixed-charset-subject",
            "Re: [proj-42] Отчёти смета— финал (v2)",
        ),
        (
            "ru-8bit-raw-headers-koi8r",
            "Отчёт без кодирования заголовков",
        ),
        (
            "ru-encoded-word-edge-cases",
            "Очень длинное слово без единого разрыва строки внутри",
        ),
    ];
    for (name, subject) in cases {
        let v = search_header_values(&msg(name), "subject");
        assert_eq!(v, vec![subject.to_owned()], "{name}");
    }
    let from = search_header_values(&msg("ru-cp1251-plain-8bit"), "FROM");
    assert_eq!(from.len(), 1);
    assert!(!from[0].contains("=?"), "{from:?}");
    // Three Cc fields (Cc, CC, cc) in py-msg_20.
    assert_eq!(search_header_values(&msg("py-msg_20"), "cc").len(), 3);
}

#[test]
fn deep_nesting_is_bounded() {
    let mut raw = Vec::new();
    for i in 0..500 {
        raw.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n").as_bytes(),
        );
    }
    raw.extend_from_slice(b"\r\nleaf\r\n");
    let m = parse(&raw);
    assert!(m.bodystructure().len() < 100_000);
    assert_eq!(MessageMeta::from_bytes(&m.to_bytes()).as_ref(), Ok(&m));
    let mut raw = Vec::new();
    for _ in 0..500 {
        raw.extend_from_slice(b"Content-Type: message/rfc822\r\n\r\n");
    }
    let m = parse(&raw);
    assert_eq!(MessageMeta::from_bytes(&m.to_bytes()).as_ref(), Ok(&m));
}

#[test]
fn many_parts_are_bounded() {
    let mut raw = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n".to_vec();
    for _ in 0..20_000 {
        raw.extend_from_slice(b"--x\r\n\r\na\r\n");
    }
    let m = parse(&raw);
    assert!(m.root().children.len() <= pochta_message::MAX_PARTS);
}

fn check_all_sections(raw: &[u8], meta: &MessageMeta, path: &[u32]) {
    for which in [
        SectionText::Full,
        SectionText::Header,
        SectionText::Text,
        SectionText::Mime,
        SectionText::HeaderFields(&["subject", "from"]),
        SectionText::HeaderFieldsNot(&["subject"]),
    ] {
        let _ = section(raw, meta, path, which);
    }
    let _ = binary(raw, meta, path);
    let _ = search_body_text(raw, meta);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let meta = parse(&raw);
        prop_assert_eq!(MessageMeta::from_bytes(&meta.to_bytes()), Ok(meta.clone()));
        check_all_sections(&raw, &meta, &[1]);
        let _ = search_header_values(&raw, "subject");
    }

    #[test]
    fn mimeish_input_never_panics(
        lines in proptest::collection::vec(prop_oneof![
            Just("--b".to_owned()), Just("--b--".to_owned()), Just("--c".to_owned()),
            Just("".to_owned()), Just("Content-Type: multipart/mixed; boundary=b".to_owned()),
            Just("Content-Type: multipart/digest; boundary=c".to_owned()),
            Just("Content-Type: message/rfc822".to_owned()),
            Just("Content-Transfer-Encoding: base64".to_owned()),
            Just("Subject: =?utf-8?B?0J/RgA==?= x".to_owned()),
            "[ -~]{0,20}".prop_map(|s| s),
        ], 0..60),
        path in proptest::collection::vec(0u32..4, 0..5),
    ) {
        let raw = lines.join("\r\n").into_bytes();
        let meta = parse(&raw);
        check_all_sections(&raw, &meta, &path);
        prop_assert_eq!(MessageMeta::from_bytes(&meta.to_bytes()), Ok(meta));
    }

    #[test]
    fn mutated_corpus_never_panics(
        idx in 0usize..83,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
        path in proptest::collection::vec(0u32..4, 0..4),
    ) {
        let all = corpus();
        let mut raw = all[idx % all.len()].1.clone();
        for (at, byte, op) in edits {
            if raw.is_empty() { break; }
            let i = at.index(raw.len());
            match op {
                0 => raw[i] = byte,
                1 => { raw.remove(i); }
                _ => raw.insert(i, byte),
            }
        }
        let meta = parse(&raw);
        check_all_sections(&raw, &meta, &path);
    }

    #[test]
    fn arbitrary_paths_never_panic(idx in 0usize..83, path in proptest::collection::vec(any::<u32>(), 0..6)) {
        let all = corpus();
        let raw = &all[idx % all.len()].1;
        let meta = parse(raw);
        check_all_sections(raw, &meta, &path);
        // A meta that belongs to another message must not make anything panic either.
        check_all_sections(b"short", &meta, &path);
    }

    #[test]
    fn from_bytes_never_panics(b in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut v = b"PM\x01".to_vec();
        v.extend(b);
        let _ = MessageMeta::from_bytes(&v);
    }
}

/// imaptest's `urlauth-binary` message (upstream version): a message/rfc822 part holding
/// base64, an unknown encoding and quoted-printable that decodes to a boundary-like line.
const URLAUTH_BINARY: &str = "From: user@domain.org\r\nDate: Sat, 24 Mar 2007 23:00:00 +0200\r\nMime-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"foo\r\n bar\"\r\n\r\nRoot MIME prologue\r\n\r\n--foo bar\r\nContent-Type: message/rfc822\r\n\r\nFrom: sub@domain.org\r\nDate: Sun, 12 Aug 2012 12:34:56 +0300\r\nSubject: submsg\r\nContent-Type: multipart/alternative; boundary=\"sub1\"\r\n\r\nSub MIME prologue\r\n--sub1\r\nContent-Type: text/x-myown; charset=us-ascii\r\nContent-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8gd29y\r\nbGQ=\r\n\r\n--sub1\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: x-unprintable\r\n\r\nnothing to see here\r\n\r\n--sub1\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ndefinitely nothing to see here\r\n\r\n--=\r\nsub=\r\n=31--\r\n\r\n--sub1--\r\nSub MIME epilogue\r\n\r\n--foo bar--\r\nRoot MIME epilogue\r\n";

#[test]
fn part_structures_as_stored_and_decoded() {
    use pochta_message::{decoded_part_structure, identity_domain, part_structure};
    let raw = URLAUTH_BINARY.as_bytes();
    let meta = parse(raw);
    // The message's own structure is the whole BODYSTRUCTURE.
    assert_eq!(
        part_structure(raw, &[], true).as_deref(),
        Some(meta.bodystructure())
    );
    let b64 = r#"("text" "x-myown" ("charset" "us-ascii") NIL NIL "base64" 22 3 NIL NIL NIL NIL)"#;
    assert_eq!(part_structure(raw, &[1, 1], true).as_deref(), Some(b64));
    // The encapsulated message's structure is inside the message's.
    let inner = part_structure(raw, &[1], true).unwrap();
    assert!(
        inner.starts_with(r#"("message" "rfc822" NIL NIL NIL "7bit" "#),
        "{inner}"
    );
    assert!(meta.bodystructure().contains(&inner), "{inner}");
    assert!(inner.contains(b64));
    // Decoded: relabelled with the data's identity domain, its size and lines.
    let d = binary(raw, &meta, &[1, 1]).unwrap();
    assert_eq!(&d[..], b"hello world");
    assert_eq!(
        decoded_part_structure(raw, &[1, 1], true, &d).as_deref(),
        Some(r#"("text" "x-myown" ("charset" "us-ascii") NIL NIL "7bit" 11 0 NIL NIL NIL NIL)"#)
    );
    let d = binary(raw, &meta, &[1, 3]).unwrap();
    assert_eq!(
        &d[..],
        b"definitely nothing to see here\r\n\r\n--sub1--\r\n"
    );
    assert_eq!(
        decoded_part_structure(raw, &[1, 3], true, &d).as_deref(),
        Some(r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 44 3 NIL NIL NIL NIL)"#)
    );
    assert!(matches!(
        binary(raw, &meta, &[1, 2]),
        Err(BinaryError::UnknownCte(_))
    ));
    // A multipart or message part is described as stored whatever `decoded` says.
    assert_eq!(
        decoded_part_structure(raw, &[1], true, b"x").as_deref(),
        Some(inner.as_str())
    );
    assert_eq!(part_structure(raw, &[1, 4], true), None);
    assert_eq!(part_structure(raw, &[2], true), None);
    assert_eq!(part_structure(raw, &[1, 1, 1], true), None);
    assert_eq!(part_structure(raw, &[0], true), None);

    assert_eq!(identity_domain(b""), "7bit");
    assert_eq!(identity_domain(b"a\r\nb\r\n"), "7bit");
    assert_eq!(identity_domain("é\r\n".as_bytes()), "8bit");
    assert_eq!(identity_domain(b"a\0b"), "binary");
    assert_eq!(identity_domain(b"a\nb"), "binary");
    assert_eq!(identity_domain(b"a\rb"), "binary");
    assert_eq!(identity_domain(&[b'x'; 998]), "7bit");
    assert_eq!(identity_domain(&[b'x'; 999]), "binary");
}
