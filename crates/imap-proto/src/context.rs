//! Contexts (RFC 5267 §4): `RETURN (UPDATE)` on SEARCH and SORT keeps the result live;
//! the server reports changes as `ADDTO` / `REMOVEFROM` in unsolicited ESEARCH responses
//! correlated by the original command's tag, until `CANCELUPDATE`.
//!
//! Implementation notes:
//! - The UPDATE return option itself is parsed with the other return options
//!   ([`crate::search::SearchReturn::Update`]); this module holds CANCELUPDATE and the update
//!   writer.
//! - An update names a position and a set (RFC 5267 §4.3.2): for an unordered SEARCH
//!   context the position is 0; for SORT it is the 1-based place in the sorted result.
//!
//! ```abnf
//! cancelupdate    = "CANCELUPDATE" 1*(SP quoted)
//! ret-data-addto  = "ADDTO" SP "(" context-position SP sequence-set ")"
//! ret-data-remove = "REMOVEFROM" SP "(" context-position SP sequence-set ")"
//! ```

use crate::parse::{Cursor, PResult, syntax};
use crate::response::write_string;

/// `CANCELUPDATE "tag" ...`: the tags of the contexts to end.
pub(crate) fn cancelupdate(c: &mut Cursor<'_>) -> PResult<Vec<String>> {
    let mut tags = Vec::new();
    while c.at_sp() {
        c.sp()?;
        let t = c.quoted()?;
        tags.push(String::from_utf8_lossy(&t).into_owned());
    }
    if tags.is_empty() {
        return syntax("CANCELUPDATE needs at least one tag");
    }
    Ok(tags)
}

/// Which way an update goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateKind {
    AddTo,
    RemoveFrom,
}

/// `* ESEARCH (TAG "t") [UID] ADDTO (pos set)` (or REMOVEFROM); `nums` keep their order,
/// runs that ascend by one are written as ranges.
pub fn write_update(
    out: &mut Vec<u8>,
    tag: &str,
    uid: bool,
    kind: UpdateKind,
    position: u32,
    nums: &[u32],
) {
    out.extend_from_slice(b"* ESEARCH (TAG ");
    write_string(out, tag.as_bytes());
    out.push(b')');
    if uid {
        out.extend_from_slice(b" UID");
    }
    out.extend_from_slice(match kind {
        UpdateKind::AddTo => b" ADDTO (",
        UpdateKind::RemoveFrom => b" REMOVEFROM (",
    });
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(position).as_bytes());
    out.push(b' ');
    crate::response::write_numbers(out, nums.iter().copied());
    out.extend_from_slice(b")\r\n");
}

#[cfg(test)]
mod tests {
    use crate::command::{CommandBody, ParseOptions, parse_command};

    use super::*;

    #[test]
    fn cancelupdate_parses() {
        let c = parse_command(b"x CANCELUPDATE \"a1\" \"b2\"\r\n", ParseOptions::default())
            .expect("parses");
        assert_eq!(
            c.body,
            CommandBody::CancelUpdate(vec!["a1".into(), "b2".into()])
        );
        assert!(parse_command(b"x CANCELUPDATE\r\n", ParseOptions::default()).is_err());
        assert!(parse_command(b"x CANCELUPDATE a1\r\n", ParseOptions::default()).is_err());
    }

    #[test]
    fn writes() {
        let mut out = Vec::new();
        write_update(&mut out, "t1", false, UpdateKind::AddTo, 0, &[1, 2, 4]);
        assert_eq!(out, b"* ESEARCH (TAG \"t1\") ADDTO (0 1:2,4)\r\n");
        out.clear();
        write_update(&mut out, "t1", true, UpdateKind::RemoveFrom, 3, &[9]);
        assert_eq!(out, b"* ESEARCH (TAG \"t1\") UID REMOVEFROM (3 9)\r\n");
    }
}
