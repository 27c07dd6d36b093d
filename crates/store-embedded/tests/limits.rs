//! The embedded store's per-account limits: mailboxes per account and keywords per message.
//! Past a limit the call fails with `StoreError::Limit` and changes nothing.

use pochta_store::{Directory, FlagOp, MailStore, NewMessage, StoreError};
use pochta_store_embedded::{EmbeddedStore, MAX_KEYWORDS, MAX_MAILBOXES};
use pochta_types::{Address, Flag, Flags, MailboxName, Uid};

fn keywords(n: usize) -> Flags {
    let flags: Vec<Flag> = (0..n).map(|i| Flag::Keyword(format!("k{i}"))).collect();
    Flags::from_flags(&flags)
}

#[test]
fn mailboxes_per_account_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(dir.path()).unwrap();
    let acc = s
        .account_create(&Address::new("a@example.org").unwrap(), "h")
        .unwrap();
    let other = s
        .account_create(&Address::new("b@example.org").unwrap(), "h")
        .unwrap();
    let start = s.mailboxes(acc).unwrap().len();
    for i in start..MAX_MAILBOXES {
        s.mailbox_create(acc, &MailboxName::new(&format!("m{i}")).unwrap(), None)
            .unwrap();
    }
    let err = s
        .mailbox_create(acc, &MailboxName::new("one-too-many").unwrap(), None)
        .unwrap_err();
    assert!(matches!(err, StoreError::Limit(_)), "{err:?}");
    // Implicitly created ancestors count too, and a refused create leaves no ancestor behind.
    let err = s
        .mailbox_create(acc, &MailboxName::new("p/q").unwrap(), None)
        .unwrap_err();
    assert!(matches!(err, StoreError::Limit(_)), "{err:?}");
    assert_eq!(s.mailboxes(acc).unwrap().len(), MAX_MAILBOXES);
    // The limit is per account.
    s.mailbox_create(other, &MailboxName::new("fine").unwrap(), None)
        .unwrap();
    // Deleting one makes room again.
    s.mailbox_delete(acc, &MailboxName::new("m100").unwrap())
        .unwrap();
    s.mailbox_create(acc, &MailboxName::new("now-fits").unwrap(), None)
        .unwrap();
}

#[test]
fn keywords_per_message_are_limited() {
    let dir = tempfile::tempdir().unwrap();
    let s = EmbeddedStore::open(dir.path()).unwrap();
    let acc = s
        .account_create(&Address::new("a@example.org").unwrap(), "h")
        .unwrap();
    let inbox = s.mailbox(acc, &MailboxName::inbox()).unwrap().unwrap().id;
    let msg = |flags| NewMessage {
        bytes: b"Subject: k\r\n\r\nbody\r\n",
        flags,
        internal_date: None,
    };
    // APPEND with too many keywords is refused whole.
    let err = s
        .append(inbox, &[msg(keywords(MAX_KEYWORDS + 1))])
        .unwrap_err();
    assert!(matches!(err, StoreError::Limit(_)), "{err:?}");
    assert_eq!(s.mailbox_status(inbox).unwrap().messages, 0);

    s.append(inbox, &[msg(keywords(MAX_KEYWORDS))]).unwrap();
    s.append(inbox, &[msg(Flags::new())]).unwrap();
    let before = s.mailbox_status(inbox).unwrap().highest_modseq;
    // STORE that would push a message past the limit changes nothing (not even the other one).
    let one_more = Flags::from_flags(&[Flag::Keyword("extra".into())]);
    let err = s
        .store_flags(
            inbox,
            &[Uid::MIN, Uid::new(2).unwrap()],
            FlagOp::Add,
            &one_more,
            None,
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Limit(_)), "{err:?}");
    assert_eq!(s.mailbox_status(inbox).unwrap().highest_modseq, before);
    // Replacing or removing stays possible.
    s.store_flags(inbox, &[Uid::MIN], FlagOp::Replace, &keywords(3), None)
        .unwrap();
    s.store_flags(inbox, &[Uid::MIN], FlagOp::Add, &one_more, None)
        .unwrap();
}
