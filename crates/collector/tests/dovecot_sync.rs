//! The collector against a real Dovecot on 127.0.0.1: a Cyrillic folder tree, special-use
//! folders, flags and keywords, dates; incremental passes, remote flag changes, a pass killed
//! half-way, a UIDVALIDITY change, a POP3 source (leaving mail, and with `--delete`), and the
//! continuous mode of `pochta serve` collecting INBOX through IDLE.
//!
//! Needs Debian's dovecot-imapd and dovecot-pop3d (installed by .ci/run); skipped locally
//! when missing, a failure under CI.

mod dovecot;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dovecot::{Dovecot, PASSWORD, USER};
use pochta_collector::imap::ImapClient;
use pochta_collector::pop3::Pop3Client;
use pochta_collector::run::{Schedule, run_all};
use pochta_collector::{NoProgress, Progress, SourceUrl, State, sync_source};
use pochta_store::{Directory, MailDate, MailStore, QuotaLimits};
use pochta_store_embedded::EmbeddedStore;
use pochta_types::{Address, MailboxName, mutf7};

const LOCAL: &str = "me@example.org";

/// A remote message as appended: (remote folder, flags, date, bytes).
#[derive(Debug, Clone)]
struct Seeded {
    flags: Vec<&'static str>,
    date: MailDate,
    bytes: Vec<u8>,
}

fn message(folder: &str, i: usize) -> Vec<u8> {
    let body_len = 200 + (i * 137) % 3000;
    let mut m = format!(
        "From: Sender {i} <s{i}@example.net>\r\nTo: {USER}\r\nSubject: {folder} #{i} — тест\r\n\
         Message-ID: <{i}.{}@example.net>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0300\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
        folder.len()
    )
    .into_bytes();
    for l in 0..body_len / 50 {
        m.extend_from_slice(format!("line {l} of message {i} in {folder} ........\r\n").as_bytes());
    }
    m
}

const FLAG_SETS: [&[&str]; 6] = [
    &[],
    &["\\Seen"],
    &["\\Seen", "\\Answered"],
    &["\\Flagged", "$Forwarded"],
    &["\\Draft", "work"],
    &["\\Seen", "\\Deleted", "$Junk"],
];

/// Remote folder (Unicode, '.' separated) → local name; and how many messages.
const FOLDERS: [(&str, &str, usize); 5] = [
    ("INBOX", "INBOX", 120),
    ("Входящие.Работа", "Входящие/Работа", 40),
    ("Sent", "Sent", 30),
    ("Spam", "Junk", 6),
    ("Архив.2019.Март", "Архив/2019/Март", 12),
];

async fn connect(d: &Dovecot) -> ImapClient {
    let url = SourceUrl::parse(&d.imap_url()).expect("url");
    let mut c = ImapClient::connect(&url, false).await.expect("connect");
    c.login(USER, PASSWORD).await.expect("login");
    c
}

async fn seed(d: &Dovecot) -> BTreeMap<String, Vec<Seeded>> {
    let mut c = connect(d).await;
    let mut all = BTreeMap::new();
    for (remote, _, n) in FOLDERS {
        let raw = mutf7::encode(remote);
        if remote != "INBOX" {
            c.create(&raw).await.expect("create");
        }
        let mut v = Vec::new();
        for i in 0..n {
            let s = Seeded {
                flags: FLAG_SETS[i % FLAG_SETS.len()].to_vec(),
                date: MailDate {
                    unix: 1_600_000_000 + (i as i64) * 86_400 + remote.len() as i64,
                    offset_minutes: [180, -420, 0, 330][i % 4],
                },
                bytes: message(remote, i),
            };
            c.append(&raw, &s.flags, Some(s.date), &s.bytes)
                .await
                .expect("append");
            v.push(s);
        }
        all.insert(remote.to_owned(), v);
    }
    c.logout().await;
    all
}

struct Local {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    store: Arc<EmbeddedStore>,
    state: Arc<Mutex<State>>,
}

/// The collector's state over the embedded backend in `data`.
fn open_state(data: &std::path::Path) -> Result<State, pochta_collector::Error> {
    let store = pochta_store_embedded::EmbeddedCollectorStore::open(data)?;
    State::open(data, Arc::new(store))
}

fn local() -> Local {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let store = Arc::new(EmbeddedStore::open(&data).expect("store"));
    store
        .account_create(&Address::new(LOCAL).expect("addr"), "x")
        .expect("account");
    let state = Arc::new(Mutex::new(open_state(&data).expect("state")));
    Local {
        _dir: dir,
        data,
        store,
        state,
    }
}

impl Local {
    fn add(&self, url: &str) {
        let st = self.state.lock().expect("lock");
        st.add_source(
            LOCAL,
            &SourceUrl::parse(url).expect("url"),
            USER,
            PASSWORD,
            false,
            None,
        )
        .expect("add source");
    }

    fn add_pop3_deleting(&self, url: &str) {
        let st = self.state.lock().expect("lock");
        st.add_source_with(
            LOCAL,
            &SourceUrl::parse(url).expect("url"),
            USER,
            PASSWORD,
            false,
            None,
            true,
        )
        .expect("add source");
    }

    fn source(&self) -> pochta_collector::SourceRow {
        self.state
            .lock()
            .expect("lock")
            .sources(None)
            .expect("sources")[0]
            .clone()
    }

    async fn try_pass(&self) -> Result<pochta_collector::Report, pochta_collector::Error> {
        sync_source(
            Arc::clone(&self.store),
            Arc::clone(&self.state),
            self.source(),
            &NoProgress,
        )
        .await
    }

    async fn pass(&self, progress: &dyn Progress) -> pochta_collector::Report {
        let src = self
            .state
            .lock()
            .expect("lock")
            .sources(None)
            .expect("sources")[0]
            .clone();
        sync_source(
            Arc::clone(&self.store),
            Arc::clone(&self.state),
            src,
            progress,
        )
        .await
        .expect("pass")
    }

    /// (flags, internal date, bytes) of every message of a local mailbox, by UID.
    fn contents(&self, name: &str) -> Vec<(String, MailDate, Vec<u8>)> {
        let acc = self
            .store
            .account_by_address(&Address::new(LOCAL).expect("addr"))
            .expect("account")
            .expect("exists")
            .id;
        let mb = self
            .store
            .mailbox(acc, &MailboxName::new(name).expect("name"))
            .expect("mailbox")
            .unwrap_or_else(|| panic!("local mailbox {name} missing"));
        let uids: Vec<_> = self
            .store
            .summaries(mb.id)
            .expect("summaries")
            .into_iter()
            .map(|s| s.uid)
            .collect();
        self.store
            .records(mb.id, &uids, false)
            .expect("records")
            .into_iter()
            .map(|r| {
                let flags = r
                    .flags
                    .iter()
                    .map(|f| f.as_str().to_owned())
                    .collect::<Vec<_>>()
                    .join(" ");
                let bytes = self.store.blob(&r.blob).expect("blob").to_vec();
                (flags, r.internal_date, bytes)
            })
            .collect()
    }
}

fn canon(flags: &[&str]) -> String {
    let f: Vec<pochta_types::Flag> = flags
        .iter()
        .map(|s| pochta_types::Flag::parse(s).expect("flag"))
        .collect();
    pochta_types::Flags::from_flags(&f)
        .iter()
        .map(|f| f.as_str().to_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn assert_copy(l: &Local, seeded: &BTreeMap<String, Vec<Seeded>>) {
    for (remote, local_name, n) in FOLDERS {
        let got = l.contents(local_name);
        let want = &seeded[remote];
        assert_eq!(got.len(), want.len(), "{local_name}: count");
        assert_eq!(got.len(), n.max(want.len()));
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert_eq!(g.0, canon(&w.flags), "{local_name} #{i} flags");
            // The instant; Dovecot's Maildir keeps INTERNALDATE as an mtime and reports it in
            // its own zone, and we keep what the remote reports.
            assert_eq!(g.1.unix, w.date.unix, "{local_name} #{i} date");
            assert!(g.2 == w.bytes, "{local_name} #{i} bytes differ");
        }
    }
}

/// Panics after `limit` messages: a pass killed half-way.
struct KillAfter {
    seen: AtomicU64,
    limit: u64,
}

impl Progress for KillAfter {
    fn advance(&self, m: u64, _b: u64) {
        if self.seen.fetch_add(m, Ordering::SeqCst) + m >= self.limit {
            panic!("simulated crash");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imap_import_incremental_flags_crash_and_uidvalidity() {
    let Some(d) = Dovecot::start() else { return };
    let mut seeded = seed(&d).await;
    let l = local();
    l.add(&d.imap_url());

    // A pass killed after 70 messages (inside INBOX's transfer).
    let killer = {
        let store = Arc::clone(&l.store);
        let state = Arc::clone(&l.state);
        let src = l
            .state
            .lock()
            .expect("lock")
            .sources(None)
            .expect("sources")[0]
            .clone();
        tokio::spawn(async move {
            let p = KillAfter {
                seen: AtomicU64::new(0),
                limit: 70,
            };
            let _ = sync_source(store, state, src, &p).await;
        })
    };
    assert!(killer.await.is_err(), "the pass should have crashed");

    // The next pass finishes the job: an exact copy.
    let r = l.pass(&NoProgress).await;
    assert!(r.messages > 0 && r.messages < 208, "{r:?}");
    assert_copy(&l, &seeded);
    // The remote \Sent folder went to the local Sent, \Junk "Spam" to the local Junk.
    assert_eq!(l.contents("Sent").len(), 30);
    assert_eq!(l.contents("Junk").len(), 6);

    // A second pass transfers nothing.
    let r = l.pass(&NoProgress).await;
    assert_eq!((r.messages, r.flag_updates), (0, 0), "{r:?}");
    assert_copy(&l, &seeded);

    // Remote changes: flags of two INBOX messages, and a new message in the Cyrillic folder.
    let mut c = connect(&d).await;
    c.command("SELECT INBOX").await.expect("select");
    c.command("UID STORE 1 +FLAGS.SILENT (\\Flagged newkw)")
        .await
        .expect("store");
    c.command("UID STORE 2 -FLAGS.SILENT (\\Seen)")
        .await
        .expect("store");
    let inbox = seeded.get_mut("INBOX").expect("inbox");
    inbox[0].flags = vec!["\\Flagged", "newkw"];
    inbox[1].flags = vec![];
    let extra = Seeded {
        flags: vec!["\\Seen"],
        date: MailDate {
            unix: 1_700_000_000,
            offset_minutes: 60,
        },
        bytes: message("extra", 999),
    };
    c.append(
        &mutf7::encode("Входящие.Работа"),
        &extra.flags,
        Some(extra.date),
        &extra.bytes,
    )
    .await
    .expect("append");
    c.logout().await;
    seeded
        .get_mut("Входящие.Работа")
        .expect("folder")
        .push(extra);
    let r = l.pass(&NoProgress).await;
    assert_eq!((r.messages, r.flag_updates), (1, 2), "{r:?}");
    assert_copy(&l, &seeded);

    // UIDVALIDITY change: Dovecot forgets its UIDs for Spam (its uidlist and indexes go).
    let spam_validity = |l: &Local| {
        let st = l.state.lock().expect("lock");
        let id = st.sources(None).expect("sources")[0].id;
        st.folder(id, "Spam")
            .expect("folder")
            .expect("spam")
            .uid_validity
    };
    let before = spam_validity(&l);
    let spam = d.dir.path().join(format!("mail/{USER}/Maildir/.Spam"));
    for e in std::fs::read_dir(&spam).expect("spam dir").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        // Not dovecot-keywords: it names the Maildir keyword letters.
        if name == "dovecot-uidlist" || name.starts_with("dovecot.index") {
            std::fs::remove_file(e.path()).expect("rm");
        }
    }
    let r = l.pass(&NoProgress).await;
    assert_eq!(
        r.messages, 0,
        "nothing re-imported after UIDVALIDITY change: {r:?}"
    );
    assert_ne!(spam_validity(&l), before, "the test did change UIDVALIDITY");
    assert_copy(&l, &seeded);
    let spam_state = {
        let st = l.state.lock().expect("lock");
        let src = &st.sources(None).expect("sources")[0];
        assert!(src.last_error.is_none());
        st.folders(src.id)
            .expect("folders")
            .into_iter()
            .find(|f| f.remote == "Spam")
            .expect("spam state")
    };
    // And it is now incremental under the new UIDVALIDITY.
    let r = l.pass(&NoProgress).await;
    assert_eq!((r.messages, r.flag_updates), (0, 0), "{r:?} {spam_state:?}");
    let _ = &l.data;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_import_by_uidl() {
    let Some(d) = Dovecot::start() else { return };
    let mut c = connect(&d).await;
    let mut want = Vec::new();
    for i in 0..25 {
        let mut m = message("pop", i);
        // A line starting with a dot, to exercise byte-stuffing.
        m.extend_from_slice(b".leading dot\r\n..two dots\r\n");
        c.append("INBOX", &["\\Seen"], None, &m)
            .await
            .expect("append");
        want.push(m);
    }
    c.logout().await;
    let l = local();
    l.add(&d.pop3_url());
    let r = l.pass(&NoProgress).await;
    assert_eq!(r.messages, 25, "{r:?}");
    let got = l.contents("INBOX");
    assert_eq!(got.len(), 25);
    for (g, w) in got.iter().zip(&want) {
        assert!(g.2 == *w, "bytes differ");
        assert_eq!(g.0, "", "POP3 messages arrive unseen");
    }
    // Nothing twice; a new one once.
    assert_eq!(l.pass(&NoProgress).await.messages, 0);
    let mut c = connect(&d).await;
    c.append("INBOX", &[], None, &message("pop", 100))
        .await
        .expect("append");
    c.logout().await;
    assert_eq!(l.pass(&NoProgress).await.messages, 1);
    assert_eq!(l.contents("INBOX").len(), 26);
}

/// Messages in the remote maildrop, as POP3 sees it.
async fn pop3_count(d: &Dovecot) -> u64 {
    let url = SourceUrl::parse(&d.pop3_url()).expect("url");
    let mut c = Pop3Client::connect(&url, false).await.expect("connect");
    c.login(USER, PASSWORD).await.expect("login");
    let n = c.stat().await.expect("stat");
    c.quit().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_leaves_mail_unless_delete() {
    let Some(d) = Dovecot::start() else { return };
    let mut c = connect(&d).await;
    let mut want = Vec::new();
    for i in 0..8 {
        let m = message("pop-del", i);
        c.append("INBOX", &[], None, &m).await.expect("append");
        want.push(m);
    }
    c.logout().await;

    // Without --delete the remote keeps everything.
    let keep = local();
    keep.add(&d.pop3_url());
    let r = keep.pass(&NoProgress).await;
    assert_eq!((r.messages, r.remote_deleted), (8, 0), "{r:?}");
    assert_eq!(pop3_count(&d).await, 8, "the remote keeps its mail");

    // With --delete, but the local store refuses (quota of 5 messages): nothing stored,
    // nothing deleted.
    let l = local();
    l.add_pop3_deleting(&d.pop3_url());
    assert!(l.source().delete_remote);
    let acc = l
        .store
        .account_by_address(&Address::new(LOCAL).expect("addr"))
        .expect("account")
        .expect("exists")
        .id;
    l.store
        .set_quota(
            acc,
            QuotaLimits {
                storage: None,
                messages: Some(5),
            },
        )
        .expect("quota");
    let e = l.try_pass().await.expect_err("the store refuses the batch");
    assert!(e.to_string().contains("local store"), "{e}");
    assert_eq!(pop3_count(&d).await, 8, "nothing refused is deleted");
    assert!(l.contents("INBOX").is_empty());

    // Room again: everything is stored once, then deleted on the remote.
    l.store
        .set_quota(acc, QuotaLimits::default())
        .expect("quota");
    let r = l.try_pass().await.expect("pass");
    assert_eq!((r.messages, r.remote_deleted), (8, 8), "{r:?}");
    assert_eq!(pop3_count(&d).await, 0, "the remote maildrop is empty");
    let got = l.contents("INBOX");
    assert_eq!(got.len(), 8, "every message exactly once");
    for (g, w) in got.iter().zip(&want) {
        assert!(g.2 == *w, "bytes differ");
    }

    // New mail: collected once, deleted; nothing else changes.
    let mut c = connect(&d).await;
    c.append("INBOX", &[], None, &message("pop-del", 100))
        .await
        .expect("append");
    c.logout().await;
    let r = l.try_pass().await.expect("pass");
    assert_eq!((r.messages, r.remote_deleted), (1, 1), "{r:?}");
    assert_eq!(pop3_count(&d).await, 0);
    assert_eq!(l.contents("INBOX").len(), 9);
    let r = l.try_pass().await.expect("pass");
    assert_eq!((r.messages, r.remote_deleted), (0, 0), "{r:?}");
    assert_eq!(l.contents("INBOX").len(), 9);
}

/// Polls `f` every 50 ms until it is true, for at most `limit`.
async fn eventually(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

/// The continuous mode (`pochta serve`'s [`run_all`]) with a polling interval of an hour:
/// mail appended to the remote INBOX arrives within seconds, which only IDLE explains.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_mode_collects_inbox_through_idle() {
    let Some(d) = Dovecot::start() else { return };
    let mut c = connect(&d).await;
    c.append("INBOX", &[], None, &message("idle", 0))
        .await
        .expect("append");
    c.create("Other").await.expect("create");
    c.logout().await;
    let l = local();
    l.add(&d.imap_url());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let schedule = Schedule {
        interval: Duration::from_secs(3600),
        ..Schedule::default()
    };
    let runner = tokio::spawn(run_all(
        Arc::clone(&l.store),
        None,
        {
            let data = l.data.clone();
            move || open_state(&data)
        },
        schedule,
        async move {
            let _ = stop_rx.await;
        },
    ));

    // The first full pass is done and the watcher idles.
    eventually(Duration::from_secs(20), "first pass and IDLE", || {
        let s = l.source();
        s.last_success.is_some() && s.idle.as_deref().is_some_and(|i| i.starts_with("active"))
    })
    .await;
    assert_eq!(l.contents("INBOX").len(), 1);

    // Two messages one after the other. The pass the watcher asked for when its session
    // started may still pick up the first; the second is appended after the first is stored,
    // so only a pass asked for by IDLE (`* n EXISTS`) can bring it (the next poll is an hour
    // away, the next IDLE renewal 25 minutes).
    for i in 1..=2 {
        let mut c = connect(&d).await;
        c.append("INBOX", &[], None, &message("idle", i))
            .await
            .expect("append");
        c.logout().await;
        let took = eventually(Duration::from_secs(30), "the new message locally", || {
            l.contents("INBOX").len() == 1 + i
        })
        .await;
        eprintln!("message {i} collected {took:?} after the remote APPEND");
    }
    let inbox = l.contents("INBOX");
    assert!(inbox[2].2 == message("idle", 2), "bytes");

    // Clean stop: the watcher ends its IDLE, logs out and clears its status.
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(15), runner)
        .await
        .expect("run_all stops")
        .expect("run_all task");
    assert_eq!(l.source().idle, None, "the watcher stopped");
    assert!(l.source().last_error.is_none());
}
