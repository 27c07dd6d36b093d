//! Differential oracle against imap-codec (=2.0.0-alpha.10).
//!
//! For each corpus command: decode it with imap-codec and with us. Where both accept, the tag
//! and the command name must agree, and the *meaning* must agree: imap-codec's own re-encoding
//! of what it decoded must parse (with us) to the same [`Command`] as the original bytes.
//! Where exactly one side accepts, the input must be in [`KNOWN_DISAGREEMENTS`] with a reason.

use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::encode::Encoder;

use pochta_imap_proto::command::{ParseOptions, parse_command};

const CORPUS: &[&str] = &[
    "a CAPABILITY\r\n",
    "a noop\r\n",
    "a LOGOUT\r\n",
    "a STARTTLS\r\n",
    "a AUTHENTICATE PLAIN\r\n",
    "a AUTHENTICATE PLAIN AGJvYgBwdw==\r\n",
    "a LOGIN bob secret\r\n",
    "a LOGIN \"b\\\"ob\" \"a\\\\b\"\r\n",
    "a LOGIN {3}\r\nbob {6}\r\nsecret\r\n",
    "a LOGIN {3+}\r\nbob secret\r\n",
    "a SELECT inbox\r\n",
    "a SELECT \"INBOX/Work\"\r\n",
    "a SELECT INBOX (CONDSTORE)\r\n",
    "a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n",
    "a EXAMINE Archive\r\n",
    "a CREATE Foo\r\n",
    "a CREATE &BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-\r\n",
    "a CREATE Sent (USE (\\Sent))\r\n",
    "a DELETE foo\r\n",
    "a RENAME a \"b c\"\r\n",
    "a SUBSCRIBE a\r\n",
    "a UNSUBSCRIBE a\r\n",
    "a LIST \"\" *\r\n",
    "a LIST \"\" %\r\n",
    "a LIST ~/Mail/ %\r\n",
    "a LIST (SUBSCRIBED) \"\" *\r\n",
    "a LIST \"\" (INBOX Sent)\r\n",
    "a LIST \"\" % RETURN (CHILDREN)\r\n",
    "a LSUB \"\" *\r\n",
    "a NAMESPACE\r\n",
    "a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)\r\n",
    "a STATUS INBOX (HIGHESTMODSEQ SIZE)\r\n",
    "a APPEND INBOX {3}\r\nabc\r\n",
    "a APPEND INBOX (\\Seen) \"01-Feb-2024 13:05:09 +0300\" {3}\r\nabc\r\n",
    "a APPEND INBOX (\\Seen) {1}\r\na (\\Draft) {1}\r\nb\r\n",
    "a APPEND INBOX ~{2}\r\nab\r\n",
    "a CHECK\r\n",
    "a CLOSE\r\n",
    "a UNSELECT\r\n",
    "a EXPUNGE\r\n",
    "a UID EXPUNGE 3000:3002\r\n",
    "a SEARCH ALL\r\n",
    "a SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
    "a SEARCH OR (SEEN DELETED) NOT (1:5 UID 7,*) HEADER X-Spam yes\r\n",
    "a SEARCH CHARSET UTF-8 SUBJECT {4}\r\n\u{430}\u{431}\r\n",
    "a UID SEARCH RETURN (MIN MAX COUNT) UNSEEN\r\n",
    "a SEARCH $\r\n",
    "a SEARCH MODSEQ 620162338\r\n",
    "a SEARCH OLDER 3600\r\n",
    "a SEARCH LARGER 10000 SMALLER 20000 KEYWORD $Forwarded\r\n",
    "a FETCH 1 ALL\r\n",
    "a FETCH 1 FAST\r\n",
    "a FETCH 1 FULL\r\n",
    "a FETCH 2:4 flags\r\n",
    "a UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (DATE FROM)]<0.1024>)\r\n",
    "a FETCH 1 (BODY[] BODY[1.2.HEADER] BODY[1.MIME] BODY[TEXT] BODY[3])\r\n",
    "a FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE BODYSTRUCTURE BODY UID ENVELOPE INTERNALDATE)\r\n",
    "a FETCH 1 (BINARY[1]<0.10> BINARY.PEEK[] BINARY.SIZE[1.2])\r\n",
    "a FETCH 1 (FLAGS MODSEQ)\r\n",
    "a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n",
    "a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n",
    "a FETCH 5:1 FLAGS\r\n",
    "a STORE 1:3 +FLAGS (\\Deleted)\r\n",
    "a STORE 1 -FLAGS.SILENT \\Seen $X\r\n",
    "a STORE 1 FLAGS ()\r\n",
    "a UID STORE 5 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)\r\n",
    "a COPY 1:2 Trash\r\n",
    "a UID COPY 4:* \"Sent Items\"\r\n",
    "a MOVE 1 Junk\r\n",
    "a UID MOVE 1,3 Junk\r\n",
    "a IDLE\r\n",
    "a ENABLE CONDSTORE QRESYNC\r\n",
    "a ID NIL\r\n",
    "a ID (\"name\" \"mutt\" \"version\" NIL)\r\n",
    "a COMPRESS DEFLATE\r\n",
    "a GETQUOTA \"\"\r\n",
    "a GETQUOTAROOT INBOX\r\n",
    "a SETQUOTA \"\" (STORAGE 512)\r\n",
    // Malformed or odd inputs.
    " NOOP\r\n",
    "a NOOP \r\n",
    "a FROB\r\n",
    "a FETCH 0 FLAGS\r\n",
    "a SEARCH\r\n",
    "a SELECT \"\"\r\n",
    "a LOGIN \"bob pw\r\n",
    "a STORE 1 FLAGS (\\Recent)\r\n",
    "a SEARCH SINCE 30-Feb-2024\r\n",
    "a CREATE foo/\r\n",
];

/// Inputs where exactly one side accepts, or where both accept with a different meaning.
const KNOWN_DISAGREEMENTS: &[(&str, &str)] = &[
    (
        "a UID SEARCH RETURN",
        "imap-codec has no ESEARCH (RFC 4731) return options",
    ),
    ("a SEARCH $", "imap-codec has no SEARCHRES (RFC 5182)"),
    (
        "a LIST (SUBSCRIBED)",
        "LIST-EXTENDED selection options are not decoded by imap-codec",
    ),
    (
        "a LIST \"\" (INBOX",
        "LIST-EXTENDED pattern lists are not decoded by imap-codec",
    ),
    (
        "a LIST \"\" % RETURN",
        "LIST-EXTENDED return options are not decoded by imap-codec",
    ),
    (
        "a CREATE Sent (USE",
        "CREATE-SPECIAL-USE (RFC 6154) is not decoded by imap-codec",
    ),
    (
        "a APPEND INBOX (\\Seen) {1}\r\na (\\Draft)",
        "imap-codec has no MULTIAPPEND (RFC 3502)",
    ),
    (
        "a SELECT \"\"",
        "imap-codec accepts the empty name; MailboxName refuses it (we answer NO [CANNOT])",
    ),
    (
        "a FETCH 5:1",
        "quirk_always_normalize_sequence_sets: imap-codec rewrites 5:1 as 1:5 (same set, different order)",
    ),
];

fn known(input: &str) -> Option<usize> {
    KNOWN_DISAGREEMENTS
        .iter()
        .position(|(p, _)| input.starts_with(p))
}

#[test]
fn differential_against_imap_codec() {
    let codec = CommandCodec::default();
    let mut report = Vec::new();
    let mut failures = Vec::new();
    let mut hit = vec![false; KNOWN_DISAGREEMENTS.len()];
    for input in CORPUS {
        let bytes = input.as_bytes();
        let theirs = match codec.decode(bytes) {
            Ok((b"", cmd)) => Some(cmd),
            _ => None,
        };
        let ours = parse_command(bytes, ParseOptions::default()).ok();
        match (&theirs, &ours) {
            (Some(t), Some(o)) => {
                let t_name = t.body.name();
                let o_name = o.body.name().trim_start_matches("UID ");
                let tag_ok = t.tag.inner() == o.tag.as_str();
                // imap-codec's re-encoding of what it understood, parsed by us.
                let reencoded = codec.encode(t).dump();
                let again = parse_command(&reencoded, ParseOptions::default());
                let same = again.as_ref() == Ok(o);
                if !(tag_ok && t_name == o_name && same) {
                    let msg = format!(
                        "{input:?}: name {t_name}/{o_name} tag_ok {tag_ok}; re-encoded {:?} → {:?}",
                        String::from_utf8_lossy(&reencoded),
                        again.map(|c| c.body.name())
                    );
                    match known(input) {
                        Some(i) => {
                            hit[i] = true;
                            report.push(format!("known: {msg} ({})", KNOWN_DISAGREEMENTS[i].1));
                        }
                        None => failures.push(msg),
                    }
                }
            }
            (None, None) => {}
            (t, o) => {
                let msg = format!(
                    "{input:?}: imap-codec {} / ours {}",
                    if t.is_some() { "accepts" } else { "rejects" },
                    if o.is_some() { "accepts" } else { "rejects" }
                );
                match known(input) {
                    Some(i) => {
                        hit[i] = true;
                        report.push(format!("known: {msg} ({})", KNOWN_DISAGREEMENTS[i].1));
                    }
                    None => failures.push(msg),
                }
            }
        }
    }
    for r in &report {
        println!("{r}");
    }
    for (i, h) in hit.iter().enumerate() {
        assert!(
            h,
            "known disagreement no longer happens: {:?}",
            KNOWN_DISAGREEMENTS[i]
        );
    }
    assert!(
        failures.is_empty(),
        "unexplained disagreements:\n{}",
        failures.join("\n")
    );
}
