//! NOTIFY (RFC 5465) in the protocol core: known answers, round trips through the encoder
//! and the framer, and framing that does not depend on how the bytes are chunked.

use proptest::prelude::*;

use pochta_imap_proto::encode::EncodeOptions;
use pochta_imap_proto::fetch::{FetchAttr, Section, SectionText};
use pochta_imap_proto::framer::{Event, Framer, Limits};
use pochta_imap_proto::notify::{EventGroup, Filter, Notify, NotifyEvent};
use pochta_imap_proto::response::{Code, Status, write_status};
use pochta_imap_proto::{Command, CommandBody, ParseOptions, Tag, parse_command};
use pochta_types::MailboxName;

fn mb(s: &str) -> MailboxName {
    MailboxName::new(s).unwrap()
}

fn parse(s: &[u8]) -> Command {
    parse_command(s, ParseOptions::default()).unwrap()
}

#[test]
fn known_answer_selected_and_personal() {
    let cmd = parse(
        b"A1 notify SET (Selected (MessageNew (UID FLAGS BODY.PEEK[HEADER.FIELDS (From)]) \
          messageexpunge FlagChange)) (personal (MessageNew MessageExpunge MailboxName \
          SubscriptionChange)) (subtree (Lists \"Other Users/bob\") (MailboxMetadataChange)) \
          (MAILBOXES {3}\r\nA b NONE) (inboxes (ServerMetadataChange AnnotationChange))\r\n",
    );
    assert_eq!(
        cmd.body,
        CommandBody::Notify(Notify::Set {
            status: false,
            groups: vec![
                EventGroup {
                    filter: Filter::Selected,
                    events: Some(vec![
                        NotifyEvent::MessageNew(vec![
                            FetchAttr::Uid,
                            FetchAttr::Flags,
                            FetchAttr::BodySection {
                                peek: true,
                                section: Section {
                                    part: vec![],
                                    text: Some(SectionText::HeaderFields(vec![b"From".to_vec()])),
                                },
                                partial: None,
                            },
                        ]),
                        NotifyEvent::MessageExpunge,
                        NotifyEvent::FlagChange,
                    ]),
                },
                EventGroup {
                    filter: Filter::Personal,
                    events: Some(vec![
                        NotifyEvent::MessageNew(vec![]),
                        NotifyEvent::MessageExpunge,
                        NotifyEvent::MailboxName,
                        NotifyEvent::SubscriptionChange,
                    ]),
                },
                EventGroup {
                    filter: Filter::Subtree(vec![mb("Lists"), mb("Other Users/bob")]),
                    events: Some(vec![NotifyEvent::MailboxMetadataChange]),
                },
                EventGroup {
                    filter: Filter::Mailboxes(vec![mb("A b")]),
                    events: None,
                },
                EventGroup {
                    filter: Filter::Inboxes,
                    events: Some(vec![
                        NotifyEvent::ServerMetadataChange,
                        NotifyEvent::AnnotationChange,
                    ]),
                },
            ],
        })
    );
    assert_eq!(cmd.body.name(), "NOTIFY");
}

#[test]
fn known_answer_codes() {
    let mut out = Vec::new();
    write_status(
        &mut out,
        None,
        Status::Ok,
        Some(&Code::NotificationOverflow),
        "too many",
    );
    write_status(
        &mut out,
        Some(&Tag::new(b"a").unwrap()),
        Status::No,
        Some(&Code::BadEvent(vec!["MessageNew", "MessageExpunge"])),
        "unsupported event",
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "* OK [NOTIFICATIONOVERFLOW] too many\r\n\
         a NO [BADEVENT (MessageNew MessageExpunge)] unsupported event\r\n"
    );
}

fn mailbox() -> impl Strategy<Value = MailboxName> {
    prop::collection::vec("[a-zA-Z0-9 &_а-я\"]{1,6}", 1..3)
        .prop_filter_map("valid name", |l| MailboxName::new(&l.join("/")).ok())
}

fn fetch_attr() -> impl Strategy<Value = FetchAttr> {
    prop_oneof![
        Just(FetchAttr::Uid),
        Just(FetchAttr::Flags),
        Just(FetchAttr::Envelope),
        Just(FetchAttr::ModSeq),
        Just(FetchAttr::BodyStructure),
        Just(FetchAttr::BodySection {
            peek: true,
            section: Section {
                part: vec![],
                text: Some(SectionText::HeaderFields(vec![b"Subject".to_vec()])),
            },
            partial: None,
        }),
    ]
}

fn event() -> impl Strategy<Value = NotifyEvent> {
    prop_oneof![
        prop::collection::vec(fetch_attr(), 0..3).prop_map(NotifyEvent::MessageNew),
        Just(NotifyEvent::MessageExpunge),
        Just(NotifyEvent::FlagChange),
        Just(NotifyEvent::AnnotationChange),
        Just(NotifyEvent::MailboxName),
        Just(NotifyEvent::SubscriptionChange),
        Just(NotifyEvent::MailboxMetadataChange),
        Just(NotifyEvent::ServerMetadataChange),
        "[A-Z][A-Z0-9]{0,8}"
            .prop_filter("not a known event", |s| {
                ![
                    "MESSAGENEW",
                    "MESSAGEEXPUNGE",
                    "FLAGCHANGE",
                    "ANNOTATIONCHANGE",
                    "MAILBOXNAME",
                    "SUBSCRIPTIONCHANGE",
                    "MAILBOXMETADATACHANGE",
                    "SERVERMETADATACHANGE",
                ]
                .contains(&s.as_str())
            })
            .prop_map(NotifyEvent::Other),
    ]
}

fn filter() -> impl Strategy<Value = Filter> {
    prop_oneof![
        Just(Filter::Selected),
        Just(Filter::SelectedDelayed),
        Just(Filter::Inboxes),
        Just(Filter::Personal),
        Just(Filter::Subscribed),
        prop::collection::vec(mailbox(), 1..3).prop_map(Filter::Subtree),
        prop::collection::vec(mailbox(), 1..3).prop_map(Filter::Mailboxes),
    ]
}

fn notify() -> impl Strategy<Value = Notify> {
    prop_oneof![
        1 => Just(Notify::None),
        6 => (
            any::<bool>(),
            prop::collection::vec(
                (filter(), prop::option::of(prop::collection::vec(event(), 1..4)))
                    .prop_map(|(filter, events)| EventGroup { filter, events }),
                1..4
            )
        )
            .prop_map(|(status, groups)| Notify::Set { status, groups }),
    ]
}

/// Frame `bytes` fed `chunk` bytes at a time, accepting every literal; the commands.
fn frame(bytes: &[u8], chunk: usize) -> Vec<Vec<u8>> {
    let mut f = Framer::new(Limits::default());
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk.max(1)) {
        f.feed(piece);
        while let Some(ev) = f.next_event() {
            match ev {
                Event::LiteralAnnounced { .. } => f.accept_literal(),
                Event::Command(c) => out.push(c.bytes),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn encode_frame_parse_is_identity(
        n in notify(),
        lp in any::<bool>(),
        utf8 in any::<bool>(),
        chunk in 1usize..40,
    ) {
        let cmd = Command { tag: Tag::new(b"n1").unwrap(), body: CommandBody::Notify(n) };
        let bytes = cmd.encode(EncodeOptions { literal_plus: lp, utf8 });
        let whole = frame(&bytes, bytes.len());
        prop_assert_eq!(whole.len(), 1);
        // However the bytes arrive, the same one command comes out.
        prop_assert_eq!(&frame(&bytes, chunk), &whole);
        let parsed = parse_command(&whole[0], ParseOptions { utf8_accept: utf8 });
        prop_assert_eq!(parsed, Ok(cmd), "wire: {:?}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn near_misses_never_panic(rest in "[ -~]{0,80}") {
        let input = format!("a NOTIFY {rest}\r\n");
        let _ = parse_command(input.as_bytes(), ParseOptions::default());
    }
}
