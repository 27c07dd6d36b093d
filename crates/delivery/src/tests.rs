//! The delivery service over the embedded store in a temporary directory.

use pochta_store::{Directory, QuotaLimits};
use pochta_store_embedded::EmbeddedStore;

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<EmbeddedStore>,
    delivery: Delivery<EmbeddedStore>,
    user: AccountId,
    other: AccountId,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
    let user = store
        .account_create(&Address::new("user@example.org").expect("a"), "x")
        .expect("user");
    let other = store
        .account_create(&Address::new("other@example.org").expect("a"), "x")
        .expect("other");
    store
        .alias_add(
            "sales@example.org",
            &Address::new("user@example.org").expect("a"),
        )
        .expect("alias");
    store
        .domain_add(&Domain::new("catchall.example").expect("d"))
        .expect("domain");
    store
        .alias_add(
            "@catchall.example",
            &Address::new("other@example.org").expect("a"),
        )
        .expect("catch-all");
    Fixture {
        delivery: Delivery::new(Arc::clone(&store)),
        _dir: dir,
        store,
        user,
        other,
    }
}

fn inbox(f: &Fixture, account: AccountId) -> Vec<Vec<u8>> {
    let mb = f
        .store
        .mailbox(account, &MailboxName::inbox())
        .expect("mailbox")
        .expect("inbox");
    let uids: Vec<Uid> = f
        .store
        .summaries(mb.id)
        .expect("summaries")
        .iter()
        .map(|s| s.uid)
        .collect();
    f.store
        .records(mb.id, &uids, false)
        .expect("records")
        .iter()
        .map(|r| f.store.blob(&r.blob).expect("blob").to_vec())
        .collect()
}

#[test]
fn resolves_accounts_aliases_catch_alls_and_remote_domains() {
    let f = fixture();
    let d = &f.delivery;
    assert_eq!(
        d.resolve("user@example.org").unwrap(),
        Resolved::Local(f.user)
    );
    assert_eq!(
        d.resolve("USER@Example.org").unwrap(),
        Resolved::Local(f.user)
    );
    assert_eq!(
        d.resolve("sales@example.org").unwrap(),
        Resolved::Local(f.user)
    );
    assert_eq!(
        d.resolve("anyone@catchall.example").unwrap(),
        Resolved::Local(f.other)
    );
    assert_eq!(
        d.resolve("friend@elsewhere.example").unwrap(),
        Resolved::Remote
    );
    assert_eq!(d.resolve("not an address").unwrap(), Resolved::Remote);
    let e = d.resolve("nobody@example.org").unwrap_err();
    assert!(matches!(e, DeliveryError::UnknownUser(_)), "{e:?}");
    assert!(
        e.reply()
            .to_wire()
            .starts_with("550 5.1.1 <nobody@example.org>")
    );
    assert!(!e.is_failure());
}

#[test]
fn full_mailbox_is_refused_at_resolution_and_delivery() {
    let f = fixture();
    f.store
        .set_quota(
            f.user,
            QuotaLimits {
                storage: Some(100),
                messages: None,
            },
        )
        .unwrap();
    let big = vec![b'x'; 200];
    let e = f
        .delivery
        .deliver(&LocalMessage::new(Some("a@b.test"), &big, &[f.user]))
        .unwrap_err();
    assert!(e.reply().to_wire().starts_with("552 5.2.2"), "{e:?}");
    let small = b"Subject: s\r\n\r\nhi\r\n";
    f.delivery
        .deliver(&LocalMessage::new(None, small, &[f.user]))
        .unwrap();
    let e = f
        .delivery
        .deliver(&LocalMessage::new(None, &[b'y'; 60], &[f.user]))
        .unwrap_err();
    assert!(e.reply().to_wire().starts_with("452 4.2.2"), "{e:?}");
    f.store
        .set_quota(
            f.user,
            QuotaLimits {
                storage: None,
                messages: Some(1),
            },
        )
        .unwrap();
    let e = f.delivery.resolve("sales@example.org").unwrap_err();
    assert!(matches!(e, DeliveryError::MailboxFull(_)), "{e:?}");
    assert!(e.reply().to_wire().starts_with("452 4.2.2"));
    // The other recipients are unaffected.
    assert_eq!(
        f.delivery.resolve("other@example.org").unwrap(),
        Resolved::Local(f.other)
    );
}

#[test]
fn one_stored_copy_for_all_recipients_with_return_path() {
    let f = fixture();
    let body = b"Subject: hello\r\n\r\nbody\r\n";
    let uids = f
        .delivery
        .deliver(&LocalMessage {
            header: b"Received: from x\r\n",
            ..LocalMessage::new(Some("alice@a.test"), body, &[f.user, f.other, f.user])
        })
        .unwrap();
    assert_eq!(uids.len(), 2, "duplicate recipients are delivered once");
    let want = b"Return-Path: <alice@a.test>\r\nReceived: from x\r\nSubject: hello\r\n\r\nbody\r\n";
    assert_eq!(inbox(&f, f.user), vec![want.to_vec()]);
    assert_eq!(inbox(&f, f.other), vec![want.to_vec()]);
    let blob = |a| {
        let mb = f.store.mailbox(a, &MailboxName::inbox()).unwrap().unwrap();
        let s = f.store.summaries(mb.id).unwrap();
        f.store.records(mb.id, &[s[0].uid], false).unwrap()[0]
            .blob
            .clone()
    };
    assert_eq!(blob(f.user), blob(f.other), "stored once");
    let bounce = f
        .delivery
        .deliver(&LocalMessage::new(None, body, &[f.other]))
        .unwrap();
    assert_eq!(bounce.len(), 1);
    assert!(inbox(&f, f.other)[1].starts_with(b"Return-Path: <>\r\n"));
}

#[test]
fn sent_copy_and_append() {
    let f = fixture();
    let sent = f.delivery.sent_mailbox(f.user).unwrap().expect("Sent");
    let seen = Flags::from_flags(&[pochta_types::Flag::Seen]);
    f.delivery
        .deliver(&LocalMessage {
            also: &[(sent, seen.clone())],
            ..LocalMessage::new(Some("user@example.org"), b"S: x\r\n\r\n", &[f.other])
        })
        .unwrap();
    assert_eq!(f.store.summaries(sent).unwrap().len(), 1);
    let date = pochta_store::MailDate {
        unix: 1_700_000_000,
        offset_minutes: 180,
    };
    let m = f
        .delivery
        .append(
            sent,
            &[NewMessage {
                bytes: b"Subject: imported\r\n\r\n",
                flags: seen.clone(),
                internal_date: Some(date),
            }],
        )
        .unwrap();
    assert_eq!(m.pairs.len(), 1);
    let rec = f.store.records(sent, &[m.pairs[0].1], false).unwrap();
    assert_eq!(rec[0].internal_date, date);
}
