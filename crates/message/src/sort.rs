//! What SORT (RFC 5256 §3), DISPLAYSORT (RFC 5957) and THREAD (RFC 5256 §2, §3) need of a
//! message, extracted once at delivery and stored with the [`crate::MessageMeta`]: the base
//! subject, the first From/To/Cc address, Message-ID and the references.
//!
//! Implementation notes:
//! - The base subject is extracted from the RFC 2047-decoded Subject as RFC 5256 §2.1 says;
//!   it is kept with its case (the comparator folds it when sorting: i;unicode-casemap,
//!   RFC 5255). `reply` records whether extraction removed a `Re:`/`Fwd:` leader, a `(fwd)`
//!   trailer or a `[fwd: ...]` wrapper (RFC 5256 §2.1 step 7, used by THREAD).
//! - Message IDs are kept without their angle brackets and without whitespace inside; they
//!   compare as octets (RFC 5256 §3, REFERENCES step 1).

use crate::header::{Field, first_value};
use crate::text::{Fallback, decode_2047};

/// The first address of a From/To/Cc field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortAddress {
    /// The display name, RFC 2047-decoded, if present and not empty.
    pub display: Option<String>,
    /// addr-mailbox (the local part), or the group name of a group.
    pub mailbox: String,
    /// addr-host; empty for a group.
    pub host: String,
}

impl SortAddress {
    /// RFC 5957 §3: the display name if there is one, else the addr-spec `mailbox@host`;
    /// for a group (empty host) the group name.
    pub fn display_key(&self) -> String {
        match &self.display {
            Some(d) => d.clone(),
            None if self.host.is_empty() => self.mailbox.clone(),
            None => format!("{}@{}", self.mailbox, self.host),
        }
    }
}

/// The sort and thread keys of one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortFields {
    /// RFC 5256 §2.1 base subject (empty when there is no Subject).
    pub base_subject: String,
    /// Whether the subject marks a reply or a forward (RFC 5256 §2.1).
    pub reply: bool,
    pub from: Option<SortAddress>,
    pub to: Option<SortAddress>,
    pub cc: Option<SortAddress>,
    /// Message-ID without `<>`.
    pub message_id: Option<String>,
    /// The References IDs in order, or, when there are none, the first In-Reply-To ID
    /// (RFC 5256 §3 REFERENCES step 1).
    pub references: Vec<String>,
}

/// Which [`SortFields`] a reader needs (a SORT by DATE none, by SUBJECT only the subject);
/// [`crate::decode_sort_fields_for`] leaves the others empty without allocating them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortNeed {
    /// `base_subject` and `reply`.
    pub subject: bool,
    /// `from`, `to` and `cc`.
    pub addresses: bool,
    /// `message_id` and `references`.
    pub threading: bool,
}

impl SortNeed {
    pub const ALL: SortNeed = SortNeed {
        subject: true,
        addresses: true,
        threading: true,
    };
    pub const NONE: SortNeed = SortNeed {
        subject: false,
        addresses: false,
        threading: false,
    };

    /// Whether any field is needed.
    pub fn any(self) -> bool {
        self.subject || self.addresses || self.threading
    }

    /// `f` with the fields not needed left empty.
    pub fn keep(self, mut f: SortFields) -> SortFields {
        if !self.subject {
            f.base_subject = String::new();
            f.reply = false;
        }
        if !self.addresses {
            f.from = None;
            f.to = None;
            f.cc = None;
        }
        if !self.threading {
            f.message_id = None;
            f.references = Vec::new();
        }
        f
    }
}

/// Extracts the sort fields from a top-level header block.
pub(crate) fn fields(raw: &[u8], hdr: &[Field], fb: Fallback) -> SortFields {
    let (base_subject, reply) = first_value(raw, hdr, "Subject")
        .map(|v| base_subject(&decode_2047(&v, fb)))
        .unwrap_or_default();
    let addr = |name: &str| {
        crate::envelope::first_address(raw, hdr, name, fb).map(|(display, mailbox, host)| {
            SortAddress {
                display,
                mailbox,
                host,
            }
        })
    };
    let message_id =
        first_value(raw, hdr, "Message-ID").and_then(|v| msg_ids(&v).into_iter().next());
    let mut references = first_value(raw, hdr, "References")
        .map(|v| msg_ids(&v))
        .unwrap_or_default();
    if references.is_empty() {
        references = first_value(raw, hdr, "In-Reply-To")
            .and_then(|v| msg_ids(&v).into_iter().next())
            .into_iter()
            .collect();
    }
    SortFields {
        base_subject,
        reply,
        from: addr("From"),
        to: addr("To"),
        cc: addr("Cc"),
        message_id,
        references,
    }
}

/// The `<...>` message IDs of a header value, brackets and inner whitespace removed;
/// comments are skipped and empty IDs dropped.
pub fn msg_ids(v: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut depth = 0usize;
    while i < v.len() {
        match v[i] {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b'<' if depth == 0 => {
                let Some(end) = v[i + 1..].iter().position(|&b| b == b'>') else {
                    break;
                };
                let id: Vec<u8> = v[i + 1..i + 1 + end]
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                if !id.is_empty() && id.contains(&b'@') {
                    out.push(String::from_utf8_lossy(&id).into_owned());
                }
                i += end + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// RFC 5256 §2.1: the base subject of a (decoded) subject, and whether the subject marked
/// a reply or forward.
pub fn base_subject(subject: &str) -> (String, bool) {
    // Step 1: tabs and line breaks are spaces, runs of spaces one space.
    let mut s = String::with_capacity(subject.len());
    for ch in subject.chars() {
        let ch = if matches!(ch, '\t' | '\r' | '\n') {
            ' '
        } else {
            ch
        };
        if ch == ' ' && s.ends_with(' ') {
            continue;
        }
        s.push(ch);
    }
    let mut s: &str = &s;
    let mut reply = false;
    loop {
        // Step 2: trailing "(fwd)" and whitespace.
        loop {
            let t = s.trim_end_matches(' ');
            if t.len() >= 5 && t.is_char_boundary(t.len() - 5) {
                let (head, tail) = t.split_at(t.len() - 5);
                if tail.eq_ignore_ascii_case("(fwd)") {
                    s = head;
                    reply = true;
                    continue;
                }
            }
            s = t;
            break;
        }
        // Steps 3-5: leaders and blobs.
        loop {
            let mut changed = false;
            // Step 3: subj-leader = (*subj-blob subj-refwd) / WSP.
            loop {
                if let Some(rest) = s.strip_prefix(' ') {
                    s = rest;
                    changed = true;
                    continue;
                }
                if let Some(rest) = strip_refwd_leader(s) {
                    s = rest;
                    reply = true;
                    changed = true;
                    continue;
                }
                break;
            }
            // Step 4: a leading blob, if something remains after it.
            if let Some(rest) = strip_blob(s)
                && !rest.is_empty()
            {
                s = rest;
                changed = true;
            }
            if !changed {
                break;
            }
        }
        // Step 6: "[fwd:" ... "]".
        if s.len() >= 6
            && s.is_char_boundary(5)
            && s[..5].eq_ignore_ascii_case("[fwd:")
            && s.ends_with(']')
        {
            s = &s[5..s.len() - 1];
            reply = true;
            continue;
        }
        break;
    }
    (s.to_owned(), reply)
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP`: the rest after it.
fn strip_blob(s: &str) -> Option<&str> {
    let rest = s.strip_prefix('[')?;
    let end = rest.find([']', '['])?;
    if rest.as_bytes()[end] != b']' {
        return None;
    }
    Some(rest[end + 1..].trim_start_matches(' '))
}

/// `*subj-blob subj-refwd`, where `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`.
fn strip_refwd_leader(s: &str) -> Option<&str> {
    let mut t = s;
    while let Some(rest) = strip_blob(t) {
        t = rest;
    }
    let b = t.as_bytes();
    let n = if b.len() >= 3 && b[..3].eq_ignore_ascii_case(b"fwd") {
        3
    } else if b.len() >= 2
        && (b[..2].eq_ignore_ascii_case(b"fw") || b[..2].eq_ignore_ascii_case(b"re"))
    {
        2
    } else {
        return None;
    };
    let mut t = t[n..].trim_start_matches(' ');
    if let Some(rest) = strip_blob(t) {
        t = rest;
    }
    t.strip_prefix(':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subjects() {
        let cases: &[(&str, &str, bool)] = &[
            ("Hello", "Hello", false),
            ("Re: Hello", "Hello", true),
            ("RE: re: Fwd: Hello", "Hello", true),
            ("Re[2]: Hello", "Hello", true),
            ("Fw: Hello (fwd)", "Hello", true),
            ("Hello (FWD)  (fwd) ", "Hello", true),
            ("[list] Re: Hello", "Hello", true),
            ("[list] Hello", "Hello", false),
            ("[list]", "[list]", false),
            ("[fwd: Re: Hello]", "Hello", true),
            ("  Hello\t  world  ", "Hello world", false),
            ("Re: [fwd: [list] Re: Hello (fwd)]", "Hello", true),
            ("Re:", "", true),
            ("", "", false),
            ("Reply to all", "Reply to all", false),
            ("Re: Привет", "Привет", true),
            ("[Ж] привет", "привет", false),
            ("fwd:x", "x", true),
        ];
        for &(input, want, reply) in cases {
            assert_eq!(base_subject(input), (want.to_owned(), reply), "{input:?}");
        }
    }

    #[test]
    fn ids() {
        assert_eq!(
            msg_ids(b"<a@b> (comment <x@y>) <c @d>\r\n <e@f>"),
            vec!["a@b", "c@d", "e@f"]
        );
        assert!(msg_ids(b"garbage <> <noat>").is_empty());
    }

    #[test]
    fn from_parsed_message() {
        let raw = b"From: =?utf-8?b?0JjQstCw0L0=?= <ivan@example.org>\r\n\
            To: group: ; bob@example.com\r\n\
            Subject: =?koi8-r?b?8uU6IPDSycfF1A==?=\r\n\
            Message-ID: <m1@example.org>\r\n\
            In-Reply-To: <p@example.org>\r\n\r\nbody\r\n";
        let meta = crate::parse(raw);
        let f = meta.sort_fields().expect("stored at parse");
        assert_eq!(
            f.from.as_ref().map(|a| a.display_key()).as_deref(),
            Some("Иван")
        );
        assert_eq!(f.from.as_ref().map(|a| a.mailbox.as_str()), Some("ivan"));
        // A group comes first, as its name (what Dovecot sorts by).
        assert_eq!(
            f.to.as_ref().map(|a| a.display_key()).as_deref(),
            Some("group")
        );
        assert!(f.cc.is_none());
        assert_eq!(f.message_id.as_deref(), Some("m1@example.org"));
        assert_eq!(f.references, vec!["p@example.org".to_owned()]);
        let back = crate::MessageMeta::from_bytes(&meta.to_bytes()).expect("round trip");
        assert_eq!(back, meta);
    }
}
