use proptest::prelude::*;

use super::url::{format_date_time, parse_date_time, split_verifier};
use super::*;

fn parse(s: &str) -> ImapUrl {
    ImapUrl::parse(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn known_urls() {
    // CATENATE's forms (RFC 4469 §5, RFC 5092 §6).
    let u = parse("/Drafts;UIDVALIDITY=385759045/;UID=20/;SECTION=1.MIME");
    assert_eq!(u.mailbox, "Drafts");
    assert_eq!(u.uid_validity, Some(385759045));
    assert_eq!(u.uid, 20);
    assert_eq!(u.section.as_deref(), Some("1.MIME"));
    assert_eq!(u.host, None);
    let u =
        parse("imap://joe@example.com/%D0%92%D1%85%D0%BE%D0%B4/;uid=3/;section=TEXT/;partial=0.10");
    assert_eq!(u.mailbox, "Вход");
    assert_eq!(u.user.as_deref(), Some("joe"));
    assert_eq!(u.host.as_deref(), Some("example.com"));
    assert_eq!(u.partial, Some((0, Some(10))));
    let u = parse(
        "imap://joe@example.com/INBOX/;UID=3;EXPIRE=2030-01-01T00:00:00Z;URLAUTH=anonymous:internal:91354a473744909de610943775f92038",
    );
    assert_eq!(u.uid, 3);
    assert_eq!(u.expire, Some(1_893_456_000));
    // RFC 4467 §7's example.
    let s = "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred:internal:91354a473744909de610943775f92038";
    let u = parse(s);
    assert_eq!(u.uid, 20);
    assert_eq!(u.section.as_deref(), Some("1.2"));
    assert_eq!(u.access, Some(Access::Submit("fred".into())));
    assert_eq!(
        u.verifier,
        Some(("internal".into(), "91354a473744909de610943775f92038".into()))
    );
    assert_eq!(
        split_verifier(s),
        Some((
            "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred",
            "internal",
            "91354a473744909de610943775f92038"
        ))
    );
    // imaptest's form: URLAUTH right after the UID; a userid with '@'.
    let u = parse("imap://testuser@localhost/INBOX/;uid=7;urlauth=user+testuser@localhost");
    assert_eq!(u.access, Some(Access::User("testuser@localhost".into())));
    assert_eq!(u.verifier, None);
    // EXPIRE, port, ;AUTH=, IPv6.
    let u = parse(
        "imap://joe;AUTH=*@[::1]:1143/INBOX;UIDVALIDITY=9/;UID=1;EXPIRE=2030-01-01T00:00:00Z;URLAUTH=anonymous",
    );
    assert_eq!(u.host.as_deref(), Some("[::1]"));
    assert_eq!(u.port, Some(1143));
    assert_eq!(u.expire, Some(1_893_456_000));
    assert_eq!(u.access, Some(Access::Anonymous));
    let u = parse(
        "imap://a%40b.example@h/A%20B/C/;UID=4;URLAUTH=AuthUser:INTERNAL:0123456789abcdef0123456789ABCDEF",
    );
    assert_eq!(u.user.as_deref(), Some("a@b.example"));
    assert_eq!(u.mailbox, "A B/C");
    assert_eq!(u.access, Some(Access::AuthUser));
}

#[test]
fn refused_urls() {
    for bad in [
        "INBOX/;UID=1",
        "/INBOX",
        "/INBOX/",
        "imap://h/INBOX",
        "imap://h",
        "/INBOX/;UID=0",
        "/INBOX/;UID=01",
        "/INBOX/;UID=99999999999",
        "/INBOX/;FOO=1",
        "/%ZZ/;UID=1",
        "/%E0%80/;UID=1",
        "//;UID=1",
        "/INBOX;UID=1",
        "/INBOX;UIDVALIDITY=0/;UID=1",
        "/INBOX/;SECTION=1/;UID=1",
        "/INBOX/;UID=1/;UID=2",
        "/INBOX/;UID=1/;PARTIAL=1.0",
        "/INBOX/;UID=1/;PARTIAL=x",
        "/INBOX/;UID=1;EXPIRE=2030-01-01T00:00:00Z",
        "/INBOX/;UID=1;EXPIRE=2030-02-30T00:00:00Z;URLAUTH=anonymous",
        "/INBOX/;UID=1;URLAUTH=nobody",
        "/INBOX/;UID=1;URLAUTH=user+",
        "/INBOX/;UID=1;URLAUTH=anonymous:internal",
        "/INBOX/;UID=1;URLAUTH=anonymous:internal:abc",
        "/INBOX/;UID=1;URLAUTH=anonymous:in/ternal:0123456789abcdef0123456789abcdef",
        "/INBOX/;UID=1;URLAUTH=anonymous:internal:0123456789abcdef0123456789abcdeg",
        "/IN BOX/;UID=1",
        "imap://@h/INBOX/;UID=1",
        "imap://u@/INBOX/;UID=1",
        "imap://u@h:x/INBOX/;UID=1",
        "imap://u@[::1/INBOX/;UID=1",
    ] {
        assert!(ImapUrl::parse(bad.as_bytes()).is_err(), "{bad} parsed");
    }
    assert!(ImapUrl::parse(b"/INBOX/;UID=1\xff").is_err());
}

#[test]
fn date_times() {
    assert_eq!(parse_date_time("1970-01-01T00:00:00Z"), Some(0));
    assert_eq!(parse_date_time("1970-01-01T01:00:00+01:00"), Some(0));
    assert_eq!(parse_date_time("1969-12-31t23:00:00.123-01:00"), Some(0));
    assert_eq!(parse_date_time("2024-02-29T12:00:00Z"), Some(1_709_208_000));
    for bad in [
        "2023-02-29T12:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-01-01 00:00:00Z",
        "2024-01-01T00:00:00",
        "2024-01-01T24:00:00Z",
        "2024-01-01T00:00:00.Z",
        "2024-01-01T00:00:00+0100",
        "",
    ] {
        assert_eq!(parse_date_time(bad), None, "{bad}");
    }
    assert_eq!(format_date_time(1_709_208_000), "2024-02-29T12:00:00Z");
    assert_eq!(format_date_time(-1), "1969-12-31T23:59:59Z");
}

/// HMAC-SHA-256 known answer (RFC 4231 test case 2) behind the version prefix.
#[test]
fn token_known_answer() {
    assert_eq!(
        token(b"Jefe", "what do ya want for nothing?"),
        "015bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let t = token(&[7; KEY_LEN], "imap://a@b/INBOX/;UID=1;URLAUTH=anonymous");
    assert!(token_matches(&t, &t.to_ascii_uppercase()));
    assert!(!token_matches(&t, &t[..t.len() - 1]));
    let mut forged = t.clone().into_bytes();
    forged[10] = if forged[10] == b'0' { b'1' } else { b'0' };
    assert!(!token_matches(&t, std::str::from_utf8(&forged).unwrap()));
    assert!(!token_matches("", ""));
    assert_ne!(new_key(), new_key());
}

#[test]
fn access_rules() {
    let joe = Address::new("joe@example.com").unwrap();
    let fred = Address::new("fred@example.com").unwrap();
    let h = Some("example.com");
    let user = |s: &str| Access::User(s.into());
    let submit = |s: &str| Access::Submit(s.into());
    assert!(access_allows(&Access::Anonymous, h, Requester::Anonymous));
    assert!(access_allows(&Access::Anonymous, h, Requester::User(&joe)));
    assert!(!access_allows(&Access::AuthUser, h, Requester::Anonymous));
    assert!(access_allows(&Access::AuthUser, h, Requester::User(&fred)));
    assert!(access_allows(&user("joe"), h, Requester::User(&joe)));
    assert!(access_allows(
        &user("JOE@example.com"),
        None,
        Requester::User(&joe)
    ));
    assert!(!access_allows(&user("joe"), h, Requester::User(&fred)));
    assert!(!access_allows(&user("joe"), None, Requester::User(&joe)));
    assert!(!access_allows(&user("joe"), h, Requester::Submit(&joe)));
    assert!(access_allows(&submit("joe"), h, Requester::Submit(&joe)));
    assert!(!access_allows(&submit("joe"), h, Requester::Submit(&fred)));
    assert!(!access_allows(&submit("joe"), h, Requester::User(&joe)));
    assert!(!access_allows(
        &Access::Anonymous,
        h,
        Requester::Submit(&joe)
    ));
}

#[test]
fn sections() {
    assert!(parse_section("1.2.MIME").is_some());
    assert!(parse_section("HEADER").is_some());
    assert!(parse_section("MIME").is_none());
    assert!(parse_section("1.0").is_none());
    assert!(parse_section("TEXT.1").is_none());
}

/// Every URL the grammar accepts, cut at any point (as a line could arrive), either parses
/// or is refused without panicking; what parses prints back to a URL that parses equal.
#[test]
fn chunks_and_edges() {
    let s = "imap://joe;AUTH=*@[::1]:1143/A%20B;UIDVALIDITY=9/;UID=1/;SECTION=1.2/;PARTIAL=3.4;EXPIRE=2030-01-01T00:00:00+02:00;URLAUTH=submit+joe:INTERNAL:0123456789abcdef0123456789abcdef";
    for i in 0..=s.len() {
        if let Ok(u) = ImapUrl::parse(&s.as_bytes()[..i]) {
            assert_eq!(ImapUrl::parse(u.to_string().as_bytes()), Ok(u));
        }
    }
    let u = parse(s);
    assert_eq!(ImapUrl::parse(u.to_string().as_bytes()), Ok(u));
}

fn arb_url() -> impl Strategy<Value = ImapUrl> {
    let user = proptest::option::of("[a-zA-Z0-9.@;:% é]{1,12}");
    let access = proptest::option::of(prop_oneof![
        Just(Access::Anonymous),
        Just(Access::AuthUser),
        "[a-z@.é;]{1,10}".prop_map(Access::User),
        "[a-z@.é;]{1,10}".prop_map(Access::Submit),
    ]);
    let verifier = proptest::option::of(("[A-Za-z0-9.-]{1,10}", "[0-9a-f]{32,70}"));
    (
        (user, "[a-z0-9.-]{1,12}", proptest::option::of(any::<u16>())),
        ("[^\u{0}]{1,16}", proptest::option::of(1u32..), 1u32..),
        proptest::option::of("(HEADER|TEXT|[1-9](\\.[1-9]){0,3}(\\.MIME|\\.HEADER|\\.TEXT)?)"),
        proptest::option::of((any::<u64>(), proptest::option::of(1u64..))),
        proptest::option::of(0i64..253_402_300_799),
        access,
        verifier,
    )
        .prop_map(
            |(
                (user, host, port),
                (mailbox, uid_validity, uid),
                section,
                partial,
                expire,
                access,
                verifier,
            )| {
                let has_auth = access.is_some();
                ImapUrl {
                    user,
                    host: Some(host),
                    port,
                    mailbox,
                    uid_validity,
                    uid,
                    section,
                    partial,
                    expire: expire.filter(|_| has_auth),
                    verifier: verifier.filter(|_| has_auth),
                    access,
                }
            },
        )
}

proptest! {
    #[test]
    fn round_trip(u in arb_url()) {
        let text = u.to_string();
        prop_assert_eq!(ImapUrl::parse(text.as_bytes()), Ok(u), "{}", text);
    }

    #[test]
    fn never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = ImapUrl::parse(&b);
        if let Ok(s) = std::str::from_utf8(&b) {
            let _ = split_verifier(s);
            let _ = parse_date_time(s);
        }
    }
}
