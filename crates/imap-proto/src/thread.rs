//! THREAD and UID THREAD (RFC 5256 §3, §4): the command and the `* THREAD` response.
//!
//! Implementation notes:
//! - The search criteria are SEARCH's with a mandatory charset, parsed into a [`Search`].
//! - The response is written from a forest held in an arena ([`ThreadNode`]) without
//!   recursion, so a reply chain of 100,000 messages cannot exhaust the stack.
//! - A node without a number is a dummy parent (REFERENCES step 2): it is written as its
//!   children's nested lists only (`((3)(5))`, RFC 5256 §4).
//!
//! ```abnf
//! thread          = ["UID" SP] "THREAD" SP thread-alg SP search-criteria
//! thread-alg      = "ORDEREDSUBJECT" / "REFERENCES" / "REFS" / atom
//! thread-data     = "THREAD" [SP 1*thread-list]
//! thread-list     = "(" (thread-members / thread-nested) ")"
//! thread-members  = nz-number *(SP nz-number) [SP thread-nested]
//! thread-nested   = 2*thread-list
//! ```

use crate::parse::{Cursor, PResult, syntax};
use crate::search::{self, Search};

/// A threading algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThreadAlgorithm {
    /// RFC 5256 §3 ORDEREDSUBJECT.
    OrderedSubject,
    /// RFC 5256 §3 REFERENCES.
    References,
    /// REFS (draft-ietf-morg-inthread, as Dovecot): REFERENCES without subject grouping,
    /// threads ordered by their latest message.
    Refs,
}

impl ThreadAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadAlgorithm::OrderedSubject => "ORDEREDSUBJECT",
            ThreadAlgorithm::References => "REFERENCES",
            ThreadAlgorithm::Refs => "REFS",
        }
    }
}

/// `[UID] THREAD alg charset keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub algorithm: ThreadAlgorithm,
    /// The search program; `search.uid` says UID THREAD.
    pub search: Search,
}

pub(crate) fn thread(c: &mut Cursor<'_>, uid: bool) -> PResult<Thread> {
    c.sp()?;
    let algorithm = match c.keyword()?.as_str() {
        "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
        "REFERENCES" => ThreadAlgorithm::References,
        "REFS" => ThreadAlgorithm::Refs,
        other => return syntax(format!("unknown threading algorithm {other}")),
    };
    c.sp()?;
    let charset = crate::sort::charset(c)?;
    c.sp()?;
    let key = search::program(c)?;
    Ok(Thread {
        algorithm,
        search: Search {
            uid,
            returns: None,
            charset: Some(charset),
            key,
        },
    })
}

/// One node of a thread forest: a message number, or `None` for a dummy parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadNode {
    pub num: Option<u32>,
    /// Indexes into the same arena, in order.
    pub children: Vec<usize>,
}

/// `* THREAD (..)(..)` for the trees rooted at `roots` (indexes into `nodes`), in order.
/// Out-of-range indexes are skipped.
pub fn write_thread(out: &mut Vec<u8>, nodes: &[ThreadNode], roots: &[usize]) {
    enum Step {
        Members(usize),
        Open,
        Close,
    }
    out.extend_from_slice(b"* THREAD");
    if !roots.is_empty() {
        out.push(b' ');
    }
    let mut buf = itoa::Buffer::new();
    let mut stack: Vec<Step> = Vec::new();
    let nested = |stack: &mut Vec<Step>, children: &[usize]| {
        for &c in children.iter().rev() {
            stack.push(Step::Close);
            stack.push(Step::Members(c));
            stack.push(Step::Open);
        }
    };
    for &r in roots {
        stack.push(Step::Close);
        stack.push(Step::Members(r));
        stack.push(Step::Open);
        while let Some(step) = stack.pop() {
            match step {
                Step::Open => out.push(b'('),
                Step::Close => out.push(b')'),
                Step::Members(i) => {
                    let Some(node) = nodes.get(i) else { continue };
                    match node.num {
                        Some(n) => {
                            out.extend_from_slice(buf.format(n).as_bytes());
                            match node.children.as_slice() {
                                [] => {}
                                [only] => {
                                    out.push(b' ');
                                    stack.push(Step::Members(*only));
                                }
                                many => {
                                    out.push(b' ');
                                    nested(&mut stack, many);
                                }
                            }
                        }
                        None => match node.children.as_slice() {
                            [only] => stack.push(Step::Members(*only)),
                            many => nested(&mut stack, many),
                        },
                    }
                }
            }
        }
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use crate::command::{CommandBody, ParseOptions, parse_command};
    use crate::search::SearchKey;

    use super::*;

    fn node(num: Option<u32>, children: &[usize]) -> ThreadNode {
        ThreadNode {
            num,
            children: children.to_vec(),
        }
    }

    #[test]
    fn parses() {
        let c = parse_command(
            b"t UID THREAD references UTF-8 ALL\r\n",
            ParseOptions::default(),
        )
        .expect("parses");
        let CommandBody::Thread(t) = c.body else {
            panic!("not THREAD")
        };
        assert_eq!(t.algorithm, ThreadAlgorithm::References);
        assert!(t.search.uid);
        assert_eq!(t.search.key, SearchKey::All);
        for bad in [
            "t THREAD BOGUS UTF-8 ALL",
            "t THREAD REFS ALL",
            "t THREAD REFS",
        ] {
            assert!(
                parse_command(format!("{bad}\r\n").as_bytes(), ParseOptions::default()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn writes_rfc_5256_example() {
        // RFC 5256 §4: (2)(3 6 (4 23)(44 7 96))
        let nodes = vec![
            node(Some(2), &[]),     // 0
            node(Some(3), &[2]),    // 1
            node(Some(6), &[3, 5]), // 2
            node(Some(4), &[4]),    // 3
            node(Some(23), &[]),    // 4
            node(Some(44), &[6]),   // 5
            node(Some(7), &[7]),    // 6
            node(Some(96), &[]),    // 7
            node(None, &[9, 10]),   // 8: dummy
            node(Some(3), &[]),     // 9
            node(Some(5), &[]),     // 10
        ];
        let mut out = Vec::new();
        write_thread(&mut out, &nodes, &[0, 1]);
        assert_eq!(out, b"* THREAD (2)(3 6 (4 23)(44 7 96))\r\n");
        out.clear();
        write_thread(&mut out, &nodes, &[8]);
        assert_eq!(out, b"* THREAD ((3)(5))\r\n");
        out.clear();
        write_thread(&mut out, &nodes, &[]);
        assert_eq!(out, b"* THREAD\r\n");
    }

    #[test]
    fn long_chain_does_not_recurse() {
        let n = 200_000;
        let nodes: Vec<ThreadNode> = (0..n)
            .map(|i| {
                let next: &[usize] = if i + 1 < n { &[i + 1] } else { &[] };
                node(Some(i as u32 + 1), next)
            })
            .collect();
        let mut out = Vec::new();
        write_thread(&mut out, &nodes, &[0]);
        assert!(out.starts_with(b"* THREAD (1 2 3 "));
        assert!(out.ends_with(b" 200000)\r\n"));
    }
}
