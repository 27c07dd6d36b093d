//! ENVELOPE (RFC 9051 §7.5.2): raw header text, addresses split Dovecot-style, and the
//! Date: header as a timestamp.

use crate::header::{Field, name_is, unfold};
use crate::imap::write_nstring;
use crate::text::Fallback;

/// One ENVELOPE address: (name adl mailbox host). Group start is (NIL NIL name NIL), group
/// end (NIL NIL NIL NIL) (RFC 9051 §7.5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Addr {
    name: Option<String>,
    adl: Option<String>,
    mailbox: Option<String>,
    host: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// Atom (dots included, so `X.` in a phrase and `a.b` in a local part stay whole).
    Atom(Vec<u8>),
    /// Quoted string, unescaped.
    Quoted {
        text: Vec<u8>,
    },
    Comment(Vec<u8>),
    DomainLit(Vec<u8>),
    Special(u8),
}

fn tokenize(v: &[u8]) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let b = v[i];
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'"' => {
                let mut text = Vec::new();
                i += 1;
                while i < v.len() && v[i] != b'"' {
                    if v[i] == b'\\' && i + 1 < v.len() {
                        i += 1;
                    }
                    text.push(v[i]);
                    i += 1;
                }
                i = (i + 1).min(v.len());
                out.push(Tok::Quoted { text });
            }
            b'(' => {
                let mut depth = 0usize;
                let mut text = Vec::new();
                while i < v.len() {
                    let c = v[i];
                    if c == b'\\' && i + 1 < v.len() {
                        text.push(v[i + 1]);
                        i += 2;
                        continue;
                    }
                    if c == b'(' {
                        depth += 1;
                        if depth > 1 {
                            text.push(c);
                        }
                    } else if c == b')' {
                        depth -= 1;
                        if depth == 0 {
                            i += 1;
                            break;
                        }
                        text.push(c);
                    } else {
                        text.push(c);
                    }
                    i += 1;
                }
                out.push(Tok::Comment(text));
            }
            b'[' => {
                let start = i;
                while i < v.len() && v[i] != b']' {
                    i += 1;
                }
                i = (i + 1).min(v.len());
                out.push(Tok::DomainLit(v[start..i].to_vec()));
            }
            b'<' | b'>' | b'@' | b',' | b';' | b':' | b']' | b')' | b'\\' => {
                out.push(Tok::Special(b));
                i += 1;
            }
            _ => {
                let start = i;
                while i < v.len()
                    && !matches!(
                        v[i],
                        b' ' | b'\t'
                            | b'\r'
                            | b'\n'
                            | b'"'
                            | b'('
                            | b')'
                            | b'['
                            | b']'
                            | b'<'
                            | b'>'
                            | b'@'
                            | b','
                            | b';'
                            | b':'
                            | b'\\'
                    )
                {
                    i += 1;
                }
                out.push(Tok::Atom(v[start..i].to_vec()));
            }
        }
    }
    out
}

/// Joins the words of a phrase with single spaces (quoted strings unquoted).
fn phrase(toks: &[Tok]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in toks {
        let w: &[u8] = match t {
            Tok::Atom(a) => a,
            Tok::Quoted { text } => text,
            Tok::DomainLit(d) => d,
            Tok::Special(b'.') => b".",
            _ => continue,
        };
        if !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(w);
    }
    out
}

fn first_comment(toks: &[Tok]) -> Option<Vec<u8>> {
    toks.iter().find_map(|t| match t {
        Tok::Comment(c) => Some(c.clone()),
        _ => None,
    })
}

/// `local@domain` from tokens (no angle brackets). A quoted local part loses its RFC 5322
/// quoting (`"john..doe"` gives `john..doe`), as addr-mailbox wants (RFC 9051 §9: "a mailbox
/// name ... with RFC 5322 quoting removed"; RFC 3501 §7.4.2), and as Dovecot does.
fn addr_spec(toks: &[Tok]) -> (Vec<u8>, Option<Vec<u8>>) {
    let at = toks.iter().rposition(|t| *t == Tok::Special(b'@'));
    let (local_toks, dom_toks) = match at {
        Some(i) => (&toks[..i], Some(&toks[i + 1..])),
        None => (toks, None),
    };
    let mut local = Vec::new();
    for t in local_toks {
        match t {
            Tok::Atom(a) => local.extend_from_slice(a),
            Tok::Quoted { text } => local.extend_from_slice(text),
            _ => {}
        }
    }
    let domain = dom_toks.map(|d| {
        let mut out = Vec::new();
        for t in d {
            match t {
                Tok::Atom(a) | Tok::DomainLit(a) => out.extend_from_slice(a),
                _ => {}
            }
        }
        out
    });
    (local, domain)
}

fn mailbox(toks: &[Tok], fb: Fallback) -> Addr {
    let s = |b: Vec<u8>| fb.decode(&b);
    if let Some(lt) = toks.iter().position(|t| *t == Tok::Special(b'<')) {
        let gt = toks[lt..]
            .iter()
            .position(|t| *t == Tok::Special(b'>'))
            .map_or(toks.len(), |i| lt + i);
        let inner = &toks[lt + 1..gt];
        // Obsolete source route `@a,@b:` (RFC 5322 §4.4) goes to the adl field.
        let (route, spec) = match inner.iter().position(|t| *t == Tok::Special(b':')) {
            Some(c) if inner.first() == Some(&Tok::Special(b'@')) => {
                let mut r = Vec::new();
                for t in &inner[..c] {
                    match t {
                        Tok::Special(b'@') => r.push(b'@'),
                        Tok::Special(b',') => r.push(b','),
                        Tok::Atom(a) | Tok::DomainLit(a) => r.extend_from_slice(a),
                        _ => {}
                    }
                }
                (Some(r), &inner[c + 1..])
            }
            _ => (None, inner),
        };
        let name = phrase(&toks[..lt]);
        let name = if name.is_empty() {
            first_comment(toks)
        } else {
            Some(name)
        };
        let (local, domain) = addr_spec(spec);
        return finish(name, route, local, domain, s);
    }
    let (local, domain) = addr_spec(toks);
    finish(first_comment(toks), None, local, domain, s)
}

fn finish(
    name: Option<Vec<u8>>,
    route: Option<Vec<u8>>,
    local: Vec<u8>,
    domain: Option<Vec<u8>>,
    s: impl Fn(Vec<u8>) -> String,
) -> Addr {
    // A missing local part or domain gets Dovecot's placeholders: a NIL host would mean
    // group syntax (RFC 9051 §7.5.2), and RFC 9051 does not say what else to send.
    let mailbox = if local.is_empty() {
        "MISSING_MAILBOX".to_owned()
    } else {
        s(local)
    };
    let host = match domain {
        Some(d) if !d.is_empty() => s(d),
        _ => "MISSING_DOMAIN".to_owned(),
    };
    Addr {
        name: name.map(&s),
        adl: route.map(&s),
        mailbox: Some(mailbox),
        host: Some(host),
    }
}

/// Parses an address-list (RFC 5322 §3.4) the way Dovecot does: groups become start/end
/// markers, an empty element between commas becomes MISSING_MAILBOX@MISSING_DOMAIN.
fn address_list(v: &[u8], fb: Fallback, out: &mut Vec<Addr>) {
    let toks = tokenize(v);
    let mut i = 0;
    let mut in_group = false;
    let mut elem: Vec<Tok> = Vec::new();
    let mut angle = false;
    let flush = |elem: &mut Vec<Tok>, out: &mut Vec<Addr>, explicit_sep: bool| {
        let has_content = elem.iter().any(|t| !matches!(t, Tok::Comment(_)));
        if has_content {
            out.push(mailbox(elem, fb));
        } else if explicit_sep {
            out.push(Addr {
                name: None,
                adl: None,
                mailbox: Some("MISSING_MAILBOX".into()),
                host: Some("MISSING_DOMAIN".into()),
            });
        }
        elem.clear();
    };
    let mut seen_any = false;
    while i < toks.len() {
        let t = &toks[i];
        match t {
            Tok::Special(b'<') => {
                angle = true;
                elem.push(t.clone());
            }
            Tok::Special(b'>') => {
                angle = false;
                elem.push(t.clone());
            }
            Tok::Special(b':') if !angle && !in_group => {
                // Group start: the element so far is the display name.
                let name = phrase(&elem);
                out.push(Addr {
                    name: None,
                    adl: None,
                    mailbox: Some(fb.decode(&name)),
                    host: None,
                });
                elem.clear();
                in_group = true;
                seen_any = false;
            }
            Tok::Special(b';') if !angle && in_group => {
                flush(&mut elem, out, false);
                out.push(Addr {
                    name: None,
                    adl: None,
                    mailbox: None,
                    host: None,
                });
                in_group = false;
                seen_any = false;
            }
            Tok::Special(b',') if !angle => {
                // An empty element counts only after an earlier one (`a, , b`).
                flush(&mut elem, out, seen_any);
                seen_any = true;
            }
            _ => elem.push(t.clone()),
        }
        i += 1;
    }
    flush(&mut elem, out, false);
    if in_group {
        out.push(Addr {
            name: None,
            adl: None,
            mailbox: None,
            host: None,
        });
    }
}

fn write_addrs(out: &mut String, addrs: &[Addr]) {
    if addrs.is_empty() {
        out.push_str("NIL");
        return;
    }
    out.push('(');
    for a in addrs {
        out.push('(');
        write_nstring(out, a.name.as_deref());
        out.push(' ');
        write_nstring(out, a.adl.as_deref());
        out.push(' ');
        write_nstring(out, a.mailbox.as_deref());
        out.push(' ');
        write_nstring(out, a.host.as_deref());
        out.push(')');
    }
    out.push(')');
}

/// An address-list as text for SEARCH FROM/TO/CC/BCC, the way Dovecot matches them: each
/// address parsed (comments and quoting gone) and written back as `name <mailbox@host>` or
/// `mailbox@host`, groups as `group: a, b;`, names RFC 2047-decoded. A search string then
/// matches a substring of the addresses and display names, not of the raw header.
pub(crate) fn search_text(v: &[u8], fb: Fallback) -> String {
    let mut addrs = Vec::new();
    address_list(v, fb, &mut addrs);
    let mut out = String::new();
    let mut sep = "";
    for a in &addrs {
        match (&a.mailbox, &a.host) {
            // Group start (NIL NIL name NIL) and end (NIL NIL NIL NIL).
            (Some(group), None) => {
                out.push_str(sep);
                out.push_str(&crate::text::decode_2047(group.as_bytes(), fb));
                out.push_str(": ");
                sep = "";
            }
            (None, None) => {
                out.push(';');
                sep = ", ";
            }
            (mailbox, host) => {
                out.push_str(sep);
                let spec = format!(
                    "{}@{}",
                    mailbox.as_deref().unwrap_or(""),
                    host.as_deref().unwrap_or("")
                );
                match a.name.as_deref().filter(|n| !n.is_empty()) {
                    Some(n) => {
                        out.push_str(&crate::text::decode_2047(n.as_bytes(), fb));
                        out.push_str(" <");
                        out.push_str(&spec);
                        out.push('>');
                    }
                    None => out.push_str(&spec),
                }
                sep = ", ";
            }
        }
    }
    out
}

/// The first address of the named address fields, as the first entry of its ENVELOPE
/// list, for SORT (RFC 5256 §3) and DISPLAYSORT (RFC 5957): (display name, mailbox, host),
/// the display name RFC 2047-decoded. A group comes first as its start marker: the group
/// name is the mailbox and the host is empty (what Dovecot sorts by: imaptest
/// `sort-addresses`, `sort-display-to`).
pub(crate) fn first_address(
    raw: &[u8],
    fields: &[Field],
    name: &str,
    fb: Fallback,
) -> Option<(Option<String>, String, String)> {
    for f in fields.iter().filter(|f| name_is(raw, f, name)) {
        let mut out = Vec::new();
        address_list(&unfold(&raw[f.value.clone()]), fb, &mut out);
        if let Some(a) = out.into_iter().find(|a| a.mailbox.is_some()) {
            let display = a
                .name
                .map(|n| crate::text::decode_2047(n.as_bytes(), fb))
                .filter(|n| !n.trim().is_empty());
            return Some((
                display,
                a.mailbox.unwrap_or_default(),
                a.host.unwrap_or_default(),
            ));
        }
    }
    None
}

/// Renders the ENVELOPE of a header block. Values are the raw, unfolded header text (no
/// RFC 2047 decoding, as RFC 9051 §7.5.2 and Dovecot); repeated address fields are merged;
/// Sender and Reply-To default to From (RFC 9051 §7.5.2).
pub(crate) fn render(raw: &[u8], fields: &[Field], fb: Fallback) -> String {
    let text = |name: &str| -> Option<String> {
        fields
            .iter()
            .find(|f| name_is(raw, f, name))
            .map(|f| fb.decode(&unfold(&raw[f.value.clone()])))
    };
    let addrs = |name: &str| -> Vec<Addr> {
        let mut out = Vec::new();
        for f in fields.iter().filter(|f| name_is(raw, f, name)) {
            address_list(&unfold(&raw[f.value.clone()]), fb, &mut out);
        }
        out
    };
    let from = addrs("From");
    let mut sender = addrs("Sender");
    if sender.is_empty() {
        sender = from.clone();
    }
    let mut reply_to = addrs("Reply-To");
    if reply_to.is_empty() {
        reply_to = from.clone();
    }
    let mut out = String::from("(");
    write_nstring(&mut out, text("Date").as_deref());
    out.push(' ');
    write_nstring(&mut out, text("Subject").as_deref());
    for list in [
        &from,
        &sender,
        &reply_to,
        &addrs("To"),
        &addrs("Cc"),
        &addrs("Bcc"),
    ] {
        out.push(' ');
        write_addrs(&mut out, list);
    }
    out.push(' ');
    write_nstring(&mut out, text("In-Reply-To").as_deref());
    out.push(' ');
    write_nstring(&mut out, text("Message-ID").as_deref());
    out.push(')');
    out
}

/// Parses an RFC 5322 §3.3 date (with the obsolete forms of §4.3: 2-digit years, zone names,
/// missing seconds) into unix seconds. `None` when it cannot be read.
pub(crate) fn parse_date(v: &[u8]) -> Option<i64> {
    let (days, secs, zone) = parse_date_fields(v)?;
    Some(days * 86400 + secs - zone)
}

/// The date of an RFC 5322 date-time as written (its own day, disregarding time and zone, as
/// SENTBEFORE/SENTON/SENTSINCE want: RFC 9051 §6.4.4), as days since 1970-01-01.
pub(crate) fn parse_date_day(v: &[u8]) -> Option<i64> {
    parse_date_fields(v).map(|(days, _, _)| days)
}

/// (days since 1970-01-01 of the date as written, seconds into that day, zone offset in
/// seconds east of UTC).
fn parse_date_fields(v: &[u8]) -> Option<(i64, i64, i64)> {
    // Drop comments, then split on whitespace and commas.
    let mut clean = Vec::with_capacity(v.len());
    let mut depth = 0usize;
    for &b in v {
        match b {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => clean.push(if b == b',' { b' ' } else { b }),
            _ => {}
        }
    }
    let s = std::str::from_utf8(&clean).ok()?;
    let mut words: Vec<&str> = s.split_ascii_whitespace().collect();
    if words
        .first()
        .is_some_and(|w| w.chars().all(|c| c.is_ascii_alphabetic()))
    {
        words.remove(0);
    }
    let day: i64 = words.first()?.parse().ok()?;
    let month = match words.get(1)?.to_ascii_lowercase().get(..3)? {
        "jan" => 1,
        "feb" => 2,
        "mar" => 3,
        "apr" => 4,
        "may" => 5,
        "jun" => 6,
        "jul" => 7,
        "aug" => 8,
        "sep" => 9,
        "oct" => 10,
        "nov" => 11,
        "dec" => 12,
        _ => return None,
    };
    let year_word = words.get(2)?;
    let mut year: i64 = year_word.parse().ok()?;
    // RFC 5322 §4.3: 2-digit years < 50 are 20xx, others 19xx; 3-digit years add 1900.
    if year_word.len() <= 2 {
        year += if year < 50 { 2000 } else { 1900 };
    } else if year_word.len() == 3 {
        year += 1900;
    }
    // `00:01+0000` (py-msg_47): a zone glued to the time.
    let (time, glued_zone) = match words.get(3)?.find(['+', '-']) {
        Some(i) => {
            let t = *words.get(3)?;
            (&t[..i], Some(&t[i..]))
        }
        None => (*words.get(3)?, None),
    };
    let mut hms = time.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let m: i64 = hms.next()?.parse().ok()?;
    let sec: i64 = match hms.next() {
        Some(x) => x.parse().ok()?,
        None => 0,
    };
    if !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 || !(0..=9999).contains(&year) {
        return None;
    }
    let zone = glued_zone.or(words.get(4).copied()).map_or(0, zone_offset);
    // Both in range: the month came from its name, the day was checked above.
    let days = pochta_types::civil::days_from_civil(year, month as u32, day as u32);
    Some((days, h * 3600 + m * 60 + sec, zone))
}

fn zone_offset(z: &str) -> i64 {
    let b = z.as_bytes();
    if b.len() == 5 && (b[0] == b'+' || b[0] == b'-') && b[1..].iter().all(u8::is_ascii_digit) {
        let n: i64 = z[1..].parse().unwrap_or(0);
        let off = (n / 100) * 3600 + (n % 100) * 60;
        return if b[0] == b'-' { -off } else { off };
    }
    let hours = match z.to_ascii_uppercase().as_str() {
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        // UT, GMT, Z and the military zones (RFC 5322 §4.3: treat unknown as +0000).
        _ => 0,
    };
    hours * 3600
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(parse_date(b"Thu, 01 Jan 1970 00:00:00 +0000"), Some(0));
        assert_eq!(
            parse_date(b"Mon, 15 Jan 2024 10:30:00 +0300"),
            Some(1_705_303_800)
        );
        assert_eq!(parse_date(b"01 Jan 2001 00:01+0000"), Some(978_307_260));
        assert_eq!(
            parse_date(b"Fri, 6 Apr 2001 09:23:06 -0800 (GMT-0800)"),
            Some(986_577_786)
        );
        assert_eq!(parse_date(b"garbage"), None);
        // The day as written, whatever the zone: 23:00 +0200 on 24 March is 24 March
        // (13596), although it is 21:00 UTC; 00:00 +0300 on 26 March is 26 March.
        assert_eq!(
            parse_date_day(b"Sat, 24 Mar 2007 23:00:00 +0200"),
            Some(13596)
        );
        assert_eq!(
            parse_date_day(b"Mon, 26 Mar 2007 00:00:00 +0300"),
            Some(13598)
        );
        assert_eq!(parse_date_day(b"garbage"), None);
    }
}
