//! Round trips: encode(command) parses back to the same command, for generated commands; and
//! no input makes the parser or the framer panic.

use std::num::NonZeroU32;

use proptest::prelude::*;

use pochta_imap_proto::append::{Append, AppendDataKind, AppendMessage};
use pochta_imap_proto::command::{Command, CommandBody, ParseOptions, parse_command};
use pochta_imap_proto::copy_move::CopyMove;
use pochta_imap_proto::encode::EncodeOptions;
use pochta_imap_proto::fetch::{Fetch, FetchAttr, Partial, Section, SectionText};
use pochta_imap_proto::framer::{Event, Framer, Limits};
use pochta_imap_proto::list::{List, ListReturn, ListSelect};
use pochta_imap_proto::login::Login;
use pochta_imap_proto::search::{Search, SearchKey, SearchReturn};
use pochta_imap_proto::select_examine::{QResync, Select};
use pochta_imap_proto::sequence::{SeqNum, SeqRange, SequenceSet};
use pochta_imap_proto::status::{Status, StatusItem};
use pochta_imap_proto::store::{Store, StoreMode};
use pochta_imap_proto::{Date, DateTime, Tag};
use pochta_types::{Flag, MailboxName, Secret};

fn tag() -> impl Strategy<Value = Tag> {
    "[A-Za-z0-9.]{1,8}".prop_map(|s| Tag::new(s.as_bytes()).unwrap())
}

fn mailbox() -> impl Strategy<Value = MailboxName> {
    prop::collection::vec("[a-zA-Z0-9 &~_а-яё\"\\\\]{1,8}", 1..4)
        .prop_filter_map("valid name", |levels| {
            MailboxName::new(&levels.join("/")).ok()
        })
}

fn nz() -> impl Strategy<Value = NonZeroU32> {
    prop_oneof![1u32..20, 1u32..=u32::MAX].prop_map(|n| NonZeroU32::new(n).unwrap())
}

fn seq_num() -> impl Strategy<Value = SeqNum> {
    prop_oneof![4 => nz().prop_map(SeqNum::Value), 1 => Just(SeqNum::Largest)]
}

fn seq_set() -> impl Strategy<Value = SequenceSet> {
    prop_oneof![
        8 => prop::collection::vec((seq_num(), seq_num()), 1..5).prop_map(|v| SequenceSet::Ranges(
            v.into_iter().map(|(start, end)| SeqRange { start, end }).collect()
        )),
        1 => Just(SequenceSet::Saved),
    ]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[a-zA-Z0-9]{1,10}".prop_map(String::into_bytes),
        prop::collection::vec(1u8..=255, 0..20),
    ]
}

fn keyword() -> impl Strategy<Value = Flag> {
    "[A-Za-z$][A-Za-z0-9_$]{0,8}".prop_map(|s| Flag::parse(&s).unwrap())
}

fn flag() -> impl Strategy<Value = Flag> {
    prop_oneof![
        Just(Flag::Seen),
        Just(Flag::Answered),
        Just(Flag::Flagged),
        Just(Flag::Deleted),
        Just(Flag::Draft),
        keyword(),
    ]
}

fn date() -> impl Strategy<Value = Date> {
    (1900u16..2100, 1u8..=12, 1u8..=28).prop_map(|(y, m, d)| Date::new(y, m, d).unwrap())
}

fn date_time() -> impl Strategy<Value = DateTime> {
    (date(), 0u8..24, 0u8..60, 0u8..60, -900i16..900)
        .prop_map(|(d, h, m, s, z)| DateTime::new(d, h, m, s, z).unwrap())
}

fn search_key() -> impl Strategy<Value = SearchKey> {
    use SearchKey as K;
    let leaf = prop_oneof![
        Just(K::All),
        Just(K::Answered),
        Just(K::Deleted),
        Just(K::Draft),
        Just(K::New),
        Just(K::Old),
        Just(K::Recent),
        Just(K::Seen),
        Just(K::Unseen),
        Just(K::Undraft),
        Just(K::SaveDateSupported),
        bytes().prop_map(K::Subject),
        bytes().prop_map(K::Body),
        bytes().prop_map(K::From),
        (bytes(), bytes()).prop_map(|(a, b)| K::Header(a, b)),
        keyword().prop_map(K::Keyword),
        keyword().prop_map(K::Unkeyword),
        any::<u64>().prop_map(K::Larger),
        date().prop_map(K::Since),
        date().prop_map(K::SentBefore),
        date().prop_map(K::SaveDateOn),
        seq_set().prop_map(K::Uid),
        seq_set().prop_map(K::SequenceSet),
        (0u64..i64::MAX as u64).prop_map(|m| K::ModSeq {
            entry: None,
            modseq: m
        }),
        nz().prop_map(K::Older),
        "[A-Za-z0-9_-]{1,20}".prop_map(K::EmailId),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|k| K::Not(Box::new(k))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| K::Or(Box::new(a), Box::new(b))),
            prop::collection::vec(inner, 2..4).prop_map(K::And),
        ]
    })
}

fn section() -> impl Strategy<Value = Section> {
    let text = prop_oneof![
        Just(None),
        Just(Some(SectionText::Header)),
        Just(Some(SectionText::Text)),
        prop::collection::vec(bytes(), 1..3).prop_map(|v| Some(SectionText::HeaderFields(v))),
        prop::collection::vec(bytes(), 1..3).prop_map(|v| Some(SectionText::HeaderFieldsNot(v))),
    ];
    (prop::collection::vec(nz(), 0..3), text, any::<bool>()).prop_map(|(part, text, mime)| {
        let text = if mime && !part.is_empty() {
            Some(SectionText::Mime)
        } else {
            text
        };
        Section { part, text }
    })
}

fn partial() -> impl Strategy<Value = Option<Partial>> {
    prop::option::of((any::<u32>(), nz()).prop_map(|(offset, length)| Partial { offset, length }))
}

fn fetch_attr() -> impl Strategy<Value = FetchAttr> {
    use FetchAttr as A;
    prop_oneof![
        Just(A::Envelope),
        Just(A::Flags),
        Just(A::InternalDate),
        Just(A::Rfc822),
        Just(A::Rfc822Header),
        Just(A::Rfc822Size),
        Just(A::Rfc822Text),
        Just(A::Body),
        Just(A::BodyStructure),
        Just(A::Uid),
        Just(A::ModSeq),
        Just(A::SaveDate),
        Just(A::EmailId),
        Just(A::ThreadId),
        any::<bool>().prop_map(|lazy| A::Preview { lazy }),
        (any::<bool>(), section(), partial()).prop_map(|(peek, section, partial)| A::BodySection {
            peek,
            section,
            partial
        }),
        (any::<bool>(), prop::collection::vec(nz(), 0..3), partial()).prop_map(
            |(peek, part, partial)| A::Binary {
                peek,
                part,
                partial
            }
        ),
        prop::collection::vec(nz(), 0..3).prop_map(|part| A::BinarySize { part }),
    ]
}

fn status_items() -> impl Strategy<Value = Vec<StatusItem>> {
    prop::collection::vec(prop::sample::select(StatusItem::ALL.to_vec()), 1..4)
}

fn body() -> impl Strategy<Value = CommandBody> {
    use CommandBody as B;
    prop_oneof![
        Just(B::Capability),
        Just(B::Noop),
        Just(B::Idle),
        Just(B::Namespace),
        (
            prop::collection::vec(1u8..=255, 0..10),
            prop::collection::vec(1u8..=255, 0..10)
        )
            .prop_map(|(u, p)| B::Login(Login {
                username: u,
                password: Secret::new(p)
            })),
        (
            mailbox(),
            any::<bool>(),
            prop::option::of((
                nz(),
                0u64..1000,
                prop::option::of(seq_set()),
                prop::option::of((seq_set(), seq_set()))
            ))
        )
            .prop_map(|(mailbox, condstore, q)| B::Select(Select {
                mailbox,
                condstore,
                qresync: q.map(|(uid_validity, modseq, known_uids, seq_match)| QResync {
                    uid_validity,
                    modseq,
                    known_uids,
                    seq_match
                }),
            })),
        (mailbox(), mailbox())
            .prop_map(|(from, to)| B::Rename(pochta_imap_proto::mailbox::Rename { from, to })),
        (mailbox(), status_items())
            .prop_map(|(mailbox, items)| B::Status(Status { mailbox, items })),
        (
            mailbox(),
            "[a-z@.-]{1,8}",
            0u16..2048,
            prop::sample::select(vec![
                pochta_imap_proto::acl::RightsMode::Replace,
                pochta_imap_proto::acl::RightsMode::Add,
                pochta_imap_proto::acl::RightsMode::Remove,
            ])
        )
            .prop_map(|(mailbox, identifier, bits, mode)| B::SetAcl(
                pochta_imap_proto::acl::SetAcl {
                    mailbox,
                    identifier,
                    mode,
                    rights: pochta_types::Rights::from_bits(bits),
                }
            )),
        (mailbox(), "[a-z@.-]{1,8}").prop_map(|(mailbox, identifier)| B::ListRights(
            pochta_imap_proto::acl::AclEntry {
                mailbox,
                identifier
            }
        )),
        mailbox().prop_map(B::MyRights),
        (
            prop::collection::vec(
                prop::sample::select(vec![
                    ListSelect::Subscribed,
                    ListSelect::Remote,
                    ListSelect::SpecialUse
                ]),
                0..3
            ),
            "[a-z/]{0,5}",
            prop::collection::vec("[a-zа-я%*/ ]{0,6}", 1..3),
            prop::collection::vec(
                prop_oneof![
                    Just(ListReturn::Children),
                    Just(ListReturn::Subscribed),
                    status_items().prop_map(ListReturn::Status)
                ],
                0..3
            ),
            any::<bool>(),
        )
            .prop_map(|(selection, reference, patterns, returns, ext)| {
                let extended =
                    ext || !selection.is_empty() || patterns.len() > 1 || !returns.is_empty();
                B::List(List {
                    selection,
                    reference,
                    patterns,
                    returns,
                    extended,
                })
            }),
        (
            mailbox(),
            prop::collection::vec(
                (
                    prop::collection::vec(flag(), 0..3),
                    prop::option::of(date_time()),
                    0..3usize,
                    prop::collection::vec(any::<u8>(), 0..30)
                ),
                1..4
            )
        )
            .prop_map(|(mailbox, msgs)| B::Append(Append {
                mailbox,
                messages: msgs
                    .into_iter()
                    .map(|(flags, date, k, mut data)| {
                        let kind = [
                            AppendDataKind::Literal,
                            AppendDataKind::Literal8,
                            AppendDataKind::Utf8,
                        ][k];
                        if kind == AppendDataKind::Literal {
                            data.retain(|&b| b != 0);
                        }
                        AppendMessage {
                            flags,
                            date,
                            kind,
                            data,
                            parts: Vec::new(),
                        }
                    })
                    .collect(),
            })),
        (
            any::<bool>(),
            prop::option::of(prop::collection::vec(
                prop::sample::select(vec![
                    SearchReturn::Min,
                    SearchReturn::Max,
                    SearchReturn::All,
                    SearchReturn::Count,
                    SearchReturn::Save,
                    SearchReturn::Partial(partial_range(false, 1, 100)),
                    SearchReturn::Partial(partial_range(true, 3, 7))
                ]),
                0..3
            )),
            prop::option::of("[A-Z0-9-]{1,10}"),
            search_key()
        )
            .prop_map(|(uid, returns, charset, key)| B::Search(Search {
                uid,
                returns,
                charset,
                key
            })),
        (
            any::<bool>(),
            seq_set(),
            prop::collection::vec(fetch_attr(), 1..5),
            prop::option::of(0u64..i64::MAX as u64),
            any::<bool>(),
            prop::option::of((any::<bool>(), 1u32..50, 1u32..50))
        )
            .prop_map(|(uid, set, attrs, changed_since, v, p)| B::Fetch(Fetch {
                uid,
                set,
                attrs,
                vanished: v && uid && changed_since.is_some(),
                changed_since,
                partial: p.map(|(e, a, b)| partial_range(e, a.min(b), a.max(b))),
            })),
        (
            any::<bool>(),
            seq_set(),
            prop::option::of(0u64..1000),
            0..3usize,
            any::<bool>(),
            prop::collection::vec(flag(), 0..4)
        )
            .prop_map(
                |(uid, set, unchanged_since, m, silent, flags)| B::Store(Store {
                    uid,
                    set,
                    unchanged_since,
                    mode: [StoreMode::Replace, StoreMode::Add, StoreMode::Remove][m],
                    silent,
                    flags,
                })
            ),
        (any::<bool>(), seq_set(), mailbox()).prop_map(|(uid, set, mailbox)| B::Move(CopyMove {
            uid,
            set,
            mailbox
        })),
        seq_set().prop_map(B::UidExpunge),
        prop::option::of(prop::collection::vec(
            (bytes(), prop::option::of(bytes())),
            0..3
        ))
        .prop_map(B::Id),
    ]
}

/// Frame `input` fed in `chunk`-byte pieces with a deterministic literal policy.
fn frame_all(input: &[u8], chunk: usize) -> Vec<Event> {
    let mut f = Framer::new(Limits {
        max_line: 40,
        max_literal: 30,
        max_command: 100,
        max_literals: 3,
        max_text: 100,
    });
    let mut out = Vec::new();
    for piece in input.chunks(chunk) {
        f.feed(piece);
        while let Some(ev) = f.next_event() {
            match &ev {
                Event::LiteralAnnounced { size, .. } if size % 2 == 0 => f.accept_literal(),
                Event::LiteralAnnounced { .. } => f.reject_literal(),
                Event::Command(c) if c.bytes.ends_with(b"IDLE\r\n") => f.expect_line(),
                _ => {}
            }
            out.push(ev);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn encode_then_parse_is_identity(tag in tag(), body in body(), lp in any::<bool>(), utf8 in any::<bool>()) {
        let cmd = Command { tag, body };
        let opts = EncodeOptions { literal_plus: lp, utf8 };
        let bytes = cmd.encode(opts);
        // Through the framer, as a server would receive it.
        let mut f = Framer::new(Limits::default());
        f.feed(&bytes);
        let mut got = None;
        while let Some(ev) = f.next_event() {
            match ev {
                Event::LiteralAnnounced { .. } => f.accept_literal(),
                Event::Command(c) => got = Some(c),
                other => prop_assert!(false, "unexpected {:?}", other),
            }
        }
        let framed = got.expect("one command");
        let parsed = parse_command(&framed.bytes, ParseOptions { utf8_accept: utf8 });
        prop_assert_eq!(parsed, Ok(cmd), "wire: {:?}", String::from_utf8_lossy(&bytes));
        // encode_parts splits exactly at synchronizing literals.
        let parts = Command::encode_parts(&parse_command(&framed.bytes, ParseOptions { utf8_accept: utf8 }).unwrap(), opts);
        prop_assert_eq!(parts.concat(), bytes);
    }

    #[test]
    fn parser_never_panics(input in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_command(&input, ParseOptions::default());
        let _ = parse_command(&input, ParseOptions { utf8_accept: true });
    }

    #[test]
    fn parser_never_panics_on_near_misses(prefix in "[a-z0-9]{1,3} (UID )?(FETCH|SEARCH|STORE|APPEND|LIST|SELECT|STATUS|COPY) ", rest in "[ -~]{0,60}") {
        let input = format!("{prefix}{rest}\r\n");
        let _ = parse_command(input.as_bytes(), ParseOptions::default());
    }

    #[test]
    fn framer_events_do_not_depend_on_chunking(
        parts in prop::collection::vec(prop_oneof![
            Just(b"a NOOP\r\n".to_vec()),
            Just(b"b LOGIN {3}\r\nbob {2+}\r\npw\r\n".to_vec()),
            Just(b"c APPEND x {41+}\r\n".to_vec()),
            Just(b"d APPEND x {8}\r\n".to_vec()),
            Just(b"e IDLE\r\n".to_vec()),
            Just(b"\r\n".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"{5+}\r\n".to_vec()),
            Just(b" {000000000000000000000000000000000007+}\r\n".to_vec()),
            prop::collection::vec(any::<u8>(), 0..20),
            prop::collection::vec(Just(b'x'), 30..90),
        ], 0..30),
        chunk in 1usize..70,
    ) {
        let input = parts.concat();
        prop_assert_eq!(frame_all(&input, chunk), frame_all(&input, input.len().max(1)));
    }

    #[test]
    fn framer_never_panics_and_consumes(input in prop::collection::vec(prop_oneof![any::<u8>(), Just(b'\n'), Just(b'{'), Just(b'}')], 0..400), chunk in 1usize..50) {
        let mut f = Framer::new(Limits { max_line: 40, max_literal: 30, max_command: 100, max_literals: 3, max_text: 100 });
        let mut flip = false;
        for piece in input.chunks(chunk) {
            f.feed(piece);
            while let Some(ev) = f.next_event() {
                if let Event::LiteralAnnounced { .. } = ev {
                    flip = !flip;
                    if flip { f.accept_literal() } else { f.reject_literal() }
                }
                if let Event::Command(c) = ev {
                    let _ = parse_command(&c.bytes, ParseOptions::default());
                }
            }
            // Consumed: once it asks for more, the framer holds at most one unfinished line
            // (up to the line limit plus its CR); everything else became events or was dropped.
            prop_assert!(!f.awaiting_decision(), "every literal was decided");
            prop_assert!(
                f.buffered() <= 40 + 1,
                "{} bytes left unframed after a piece of {}",
                f.buffered(),
                piece.len()
            );
        }
    }
}

fn partial_range(from_end: bool, lo: u32, hi: u32) -> pochta_imap_proto::partial::PartialRange {
    pochta_imap_proto::partial::PartialRange {
        from_end,
        lo: std::num::NonZeroU32::new(lo).expect("lo"),
        hi: std::num::NonZeroU32::new(hi).expect("hi"),
    }
}
