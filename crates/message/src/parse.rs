//! The structural MIME parse: byte ranges of every part's header and body, found by a
//! streaming scan for boundary lines, and the pre-rendered BODY/BODYSTRUCTURE.

use std::fmt::Write as _;
use std::ops::Range;

use crate::header::{
    Field, MimeValue, fields, first_value, is_blank, name_is, parse_mime_value, unfold,
};
use crate::imap::{write_nstring, write_string};
use crate::text::Fallback;
use crate::{Part, PartKind};

/// Deepest nesting of multiparts and encapsulated messages that is parsed as structure;
/// deeper entities become opaque `application/octet-stream` parts. Bounds recursion.
pub const MAX_DEPTH: usize = 64;
/// Most parts recorded per message; later parts are scanned over (their bytes stay in the
/// enclosing part) but not listed, so a hostile message cannot make BODYSTRUCTURE huge.
pub const MAX_PARTS: usize = 5_000;

/// A boundary line that ended an entity.
#[derive(Debug, Clone, Copy)]
struct Stop {
    /// Offset of the `--` that starts the line.
    line: usize,
    /// Offset just after the line's LF (or the end of the message).
    line_end: usize,
    /// Index into the boundary stack of the boundary that matched.
    level: usize,
    close: bool,
}

struct Ctx<'a> {
    raw: &'a [u8],
    parts: usize,
    /// message/global is an encapsulated message (IMAP4rev2, RFC 9051 §7.5.2); when false it
    /// is a basic body, as IMAP4rev1 knows only message/rfc822 as one (RFC 3501 §9, RFC 6532).
    global_is_message: bool,
}

/// Everything known about one entity; rendered to strings, then reduced to a [`Part`].
struct Node {
    header: Range<usize>,
    body: Range<usize>,
    lines: usize,
    kind: PartKind,
    ty: String,
    sub: String,
    params: Vec<(String, String)>,
    id: Option<String>,
    desc: Option<String>,
    enc: String,
    md5: Option<String>,
    disp: Option<MimeValue>,
    lang: Option<Vec<String>>,
    loc: Option<String>,
    /// The ENVELOPE of an encapsulated message (kind == Message).
    envelope: Option<String>,
    children: Vec<Node>,
}

impl Node {
    /// The part a multipart gets when no body part was found: Dovecot's choice, kept because
    /// the IMAP grammar (RFC 9051 §9 `body-type-mpart = 1*body ...`) needs at least one.
    fn empty_text(at: usize) -> Node {
        Node {
            header: at..at,
            body: at..at,
            lines: 0,
            kind: PartKind::Basic,
            ty: "text".into(),
            sub: "plain".into(),
            params: vec![("charset".into(), "us-ascii".into())],
            id: None,
            desc: None,
            enc: "7bit".into(),
            md5: None,
            disp: None,
            lang: None,
            loc: None,
            envelope: None,
            children: Vec::new(),
        }
    }

    fn into_part(self) -> Part {
        let charset = self
            .params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("charset"))
            .map(|(_, v)| v.clone());
        Part {
            kind: self.kind,
            media_type: self.ty.to_ascii_lowercase(),
            media_subtype: self.sub.to_ascii_lowercase(),
            charset,
            encoding: self.enc.to_ascii_lowercase(),
            header: self.header,
            body: self.body,
            lines: self.lines,
            children: self.children.into_iter().map(Node::into_part).collect(),
        }
    }
}

/// Result of [`parse_message`].
pub(crate) struct Parsed {
    pub root: Part,
    pub envelope: String,
    pub body: String,
    pub bodystructure: String,
    pub date: Option<Vec<u8>>,
}

pub(crate) fn parse_message(raw: &[u8]) -> Parsed {
    parse_message_with(raw, true)
}

pub(crate) fn parse_message_with(raw: &[u8], global_is_message: bool) -> Parsed {
    let mut ctx = Ctx {
        raw,
        parts: 0,
        global_is_message,
    };
    let mut stack = Vec::new();
    let (root, _) = entity(&mut ctx, 0, &mut stack, 0, false, Fallback::default());
    let hdr = fields(raw, root.header.clone());
    let fb = Fallback::from_label(charset_of(&root.params));
    let envelope = crate::envelope::render(raw, &hdr, fb);
    let mut body = String::new();
    render(&root, false, &mut body);
    let mut bodystructure = String::new();
    render(&root, true, &mut bodystructure);
    Parsed {
        root: root.into_part(),
        envelope,
        body,
        bodystructure,
        date: first_value(raw, &hdr, "Date"),
    }
}

/// How a body was decoded, for [`part_structure`]: the identity encoding that labels the
/// decoded data, its size and its line count.
pub(crate) struct Decoded<'a> {
    pub encoding: &'a str,
    pub size: usize,
    pub lines: usize,
}

/// BODYSTRUCTURE (with extension data) of the part at `path` (RFC 9051 §6.4.5 numbering; an
/// empty path is the message), re-parsed from `raw`. With `decoded`, a basic part is
/// described as it is once its transfer encoding is removed (RFC 5524 §3.2). `None` for a
/// missing part.
pub(crate) fn part_structure(
    raw: &[u8],
    path: &[u32],
    global_is_message: bool,
    decoded: Option<Decoded<'_>>,
) -> Option<String> {
    let mut ctx = Ctx {
        raw,
        parts: 0,
        global_is_message,
    };
    let (root, _) = entity(&mut ctx, 0, &mut Vec::new(), 0, false, Fallback::default());
    let mut node = &root;
    if let Some((first, rest)) = path.split_first() {
        node = node_step(node, *first)?;
        for &n in rest {
            node = match node.kind {
                PartKind::Multipart => node
                    .children
                    .get(usize::try_from(n.checked_sub(1)?).ok()?)?,
                PartKind::Message => node_step(node.children.first()?, n)?,
                PartKind::Basic => return None,
            };
        }
    }
    let mut out = String::new();
    match decoded {
        Some(d) if node.kind == PartKind::Basic => {
            let relabelled = Node {
                header: node.header.clone(),
                body: node.body.start..node.body.start.saturating_add(d.size),
                lines: d.lines,
                kind: node.kind,
                ty: node.ty.clone(),
                sub: node.sub.clone(),
                params: node.params.clone(),
                id: node.id.clone(),
                desc: node.desc.clone(),
                enc: d.encoding.to_owned(),
                md5: node.md5.clone(),
                disp: node.disp.clone(),
                lang: node.lang.clone(),
                loc: node.loc.clone(),
                envelope: None,
                children: Vec::new(),
            };
            render(&relabelled, true, &mut out);
        }
        _ => render(node, true, &mut out),
    }
    Some(out)
}

/// Part `n` of the message whose top-level entity is `msg` (as `step_into_message`).
fn node_step(msg: &Node, n: u32) -> Option<&Node> {
    if msg.kind == PartKind::Multipart {
        msg.children.get(usize::try_from(n.checked_sub(1)?).ok()?)
    } else if n == 1 {
        Some(msg)
    } else {
        None
    }
}

fn charset_of(params: &[(String, String)]) -> Option<&str> {
    params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("charset"))
        .map(|(_, v)| v.as_str())
}

fn line_end(raw: &[u8], p: usize) -> usize {
    match raw[p..].iter().position(|&b| b == b'\n') {
        Some(i) => p + i + 1,
        None => raw.len(),
    }
}

/// If the line at `p` is a delimiter of a boundary on the stack, which one. The innermost
/// boundary is tried first, and a boundary matches as a prefix of the line after `--`
/// (RFC 2046 §5.1.1 allows only trailing whitespace, but Dovecot and real mail accept more).
fn boundary_at(raw: &[u8], p: usize, le: usize, stack: &[Vec<u8>]) -> Option<Stop> {
    let line = &raw[p..le];
    let rest = line.strip_prefix(b"--")?;
    for (level, b) in stack.iter().enumerate().rev() {
        if let Some(after) = rest.strip_prefix(b.as_slice()) {
            return Some(Stop {
                line: p,
                line_end: le,
                level,
                close: after.starts_with(b"--"),
            });
        }
    }
    None
}

fn find_stop(raw: &[u8], from: usize, stack: &[Vec<u8>]) -> Option<Stop> {
    if stack.is_empty() {
        return None;
    }
    let mut p = from;
    while p < raw.len() {
        let le = line_end(raw, p);
        if let Some(s) = boundary_at(raw, p, le, stack) {
            return Some(s);
        }
        p = le;
    }
    None
}

/// Where an entity's content ends given the boundary line that stopped it: the line break
/// before a delimiter belongs to the delimiter (RFC 2046 §5.1.1), unless it lies before the
/// entity's start.
fn content_end(raw: &[u8], stop: Option<Stop>, start: usize) -> usize {
    let Some(s) = stop else { return raw.len() };
    let l = s.line;
    if l >= start + 2 && &raw[l - 2..l] == b"\r\n" {
        l - 2
    } else if l > start && raw[l - 1] == b'\n' {
        l - 1
    } else {
        l
    }
}

/// Parses the entity starting at `start`, until a boundary line of the stack or the end.
fn entity(
    ctx: &mut Ctx<'_>,
    start: usize,
    stack: &mut Vec<Vec<u8>>,
    depth: usize,
    in_digest: bool,
    parent_fb: Fallback,
) -> (Node, Option<Stop>) {
    let raw = ctx.raw;
    ctx.parts += 1;
    // Header: up to and including the first blank line. With no blank line the rest of the
    // entity is header and the body is empty (Dovecot; `mime-header-only`, `py-msg_47`).
    let mut p = start;
    let mut header_end = raw.len();
    let mut body_start = raw.len();
    let mut header_stop = None;
    while p < raw.len() {
        let le = line_end(raw, p);
        if let Some(s) = boundary_at(raw, p, le, stack) {
            header_stop = Some(s);
            header_end = p;
            body_start = p;
            break;
        }
        if is_blank(&raw[p..le]) {
            header_end = le;
            body_start = le;
            break;
        }
        p = le;
    }
    let hdr = fields(raw, start..header_end);
    let mut node = describe(raw, &hdr, in_digest, parent_fb, start..header_end);
    if !ctx.global_is_message
        && node.kind == PartKind::Message
        && node.sub.eq_ignore_ascii_case("global")
    {
        node.kind = PartKind::Basic;
    }
    let fb = Fallback::from_label(charset_of(&node.params)).or(parent_fb, &node.params);
    let structural = depth < MAX_DEPTH && ctx.parts <= MAX_PARTS;
    if !structural && node.kind != PartKind::Basic {
        // Too deep or too many parts: keep the bytes, drop the structure.
        node.kind = PartKind::Basic;
        node.ty = "application".into();
        node.sub = "octet-stream".into();
        node.params.clear();
    }

    let stop = if header_stop.is_some() {
        if node.kind == PartKind::Multipart {
            node.children.push(Node::empty_text(p));
        } else if node.kind == PartKind::Message {
            node.children.push(Node::empty_text(p));
            node.envelope = Some(crate::envelope::render(raw, &[], fb));
        }
        header_stop
    } else {
        match node.kind {
            PartKind::Basic => find_stop(raw, body_start, stack),
            PartKind::Message => {
                let (child, s) = entity(ctx, body_start, stack, depth + 1, false, fb);
                let inner = fields(raw, child.header.clone());
                let cfb = Fallback::from_label(charset_of(&child.params)).or(fb, &child.params);
                node.envelope = Some(crate::envelope::render(raw, &inner, cfb));
                node.children.push(child);
                s
            }
            PartKind::Multipart => multipart(ctx, &mut node, body_start, stack, depth, fb),
        }
    };
    let ce = content_end(raw, stop, start);
    if ce < body_start {
        // The blank line we took as the end of the header was the delimiter's line break.
        node.header = start..ce.max(start);
        node.body = ce..ce;
    } else {
        node.header = start..header_end;
        node.body = body_start..ce;
    }
    if node.children.is_empty() && node.kind == PartKind::Multipart {
        node.children.push(Node::empty_text(node.body.end));
    }
    if node.ty.eq_ignore_ascii_case("text") || node.kind == PartKind::Message {
        node.lines = raw
            .get(node.body.clone())
            .map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
    }
    (node, stop)
}

fn multipart(
    ctx: &mut Ctx<'_>,
    node: &mut Node,
    body_start: usize,
    stack: &mut Vec<Vec<u8>>,
    depth: usize,
    fb: Fallback,
) -> Option<Stop> {
    let raw = ctx.raw;
    let digest = node.sub.eq_ignore_ascii_case("digest");
    let boundary = node
        .params
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.as_bytes().to_vec())
        .filter(|b| !b.is_empty());
    let own = boundary.map(|b| {
        stack.push(b);
        stack.len() - 1
    });
    let mut s = find_stop(raw, body_start, stack);
    let mut popped = false;
    let result = loop {
        match s {
            None => break None,
            Some(st) if Some(st.level) == own && !st.close => {
                let (child, cs) = entity(ctx, st.line_end, stack, depth + 1, digest, fb);
                if ctx.parts <= MAX_PARTS {
                    node.children.push(child);
                }
                s = cs;
            }
            Some(st) if Some(st.level) == own => {
                // Close delimiter: the epilogue runs to the next boundary of an enclosing
                // multipart. Our own boundary no longer counts (`py-msg_39` reuses it).
                stack.pop();
                popped = true;
                break find_stop(raw, st.line_end, stack);
            }
            Some(st) => break Some(st),
        }
    };
    if own.is_some() && !popped {
        stack.pop();
    }
    result
}

impl Fallback {
    fn or(self, parent: Fallback, params: &[(String, String)]) -> Fallback {
        if charset_of(params).is_some() {
            self
        } else {
            parent
        }
    }
}

/// Reads the MIME fields of one entity (RFC 2045, RFC 2183, RFC 3066 Content-Language,
/// RFC 2557 Content-Location) into a node; byte ranges are filled in by the caller.
fn describe(
    raw: &[u8],
    hdr: &[Field],
    in_digest: bool,
    parent_fb: Fallback,
    header: Range<usize>,
) -> Node {
    let ct_raw = first_value(raw, hdr, "Content-Type");
    let ct_fb = ct_raw
        .as_deref()
        .and_then(|v| parse_mime_value(v, true, parent_fb))
        .map(|c| Fallback::from_label(charset_of(&c.params)).or(parent_fb, &c.params))
        .unwrap_or(parent_fb);
    let fb = ct_fb;
    let ct = match ct_raw {
        Some(v) => match parse_mime_value(&v, true, fb) {
            Some(c) => c,
            // RFC 2045 §5.2: an invalid Content-Type means text/plain; charset=us-ascii.
            // (Dovecot sends "" "" instead, `py-msg_14`.)
            None => MimeValue {
                main: "text".into(),
                sub: "plain".into(),
                params: Vec::new(),
            },
        },
        // RFC 2046 §5.1.5: in a digest the default is message/rfc822; RFC 2045 §5.2 otherwise.
        None if in_digest => MimeValue {
            main: "message".into(),
            sub: "rfc822".into(),
            params: Vec::new(),
        },
        None => MimeValue {
            main: "text".into(),
            sub: "plain".into(),
            params: Vec::new(),
        },
    };
    let mut params = ct.params;
    if ct.main.eq_ignore_ascii_case("text") && charset_of(&params).is_none() {
        // RFC 2045 §5.2 default charset; Dovecot appends it after the other parameters.
        params.push(("charset".into(), "us-ascii".into()));
    }
    let kind = if ct.main.eq_ignore_ascii_case("multipart") {
        PartKind::Multipart
    } else if ct.main.eq_ignore_ascii_case("message")
        && (ct.sub.eq_ignore_ascii_case("rfc822") || ct.sub.eq_ignore_ascii_case("global"))
    {
        // RFC 9051 §7.5.2: MESSAGE/RFC822 and MESSAGE/GLOBAL carry envelope, body, lines.
        PartKind::Message
    } else {
        PartKind::Basic
    };
    let text = |name: &str| first_value(raw, hdr, name).map(|v| fb.decode(&v));
    let enc = first_value(raw, hdr, "Content-Transfer-Encoding")
        .map(|v| {
            let end = v
                .iter()
                .position(|b| matches!(b, b' ' | b'\t' | b';' | b'('))
                .unwrap_or(v.len());
            fb.decode(&v[..end])
        })
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "7bit".into());
    let disp =
        first_value(raw, hdr, "Content-Disposition").and_then(|v| parse_mime_value(&v, false, fb));
    let lang = hdr
        .iter()
        .find(|f| name_is(raw, f, "Content-Language"))
        .map(|f| {
            let v = unfold(&raw[f.value.clone()]);
            fb.decode(&v)
                .split(|c: char| c == ',' || c.is_ascii_whitespace())
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|l| !l.is_empty());
    Node {
        header,
        body: 0..0,
        lines: 0,
        kind,
        ty: ct.main,
        sub: ct.sub,
        params,
        id: text("Content-ID"),
        desc: text("Content-Description"),
        enc,
        md5: text("Content-MD5"),
        disp,
        lang,
        loc: text("Content-Location"),
        envelope: None,
        children: Vec::new(),
    }
}

fn write_params(out: &mut String, params: &[(String, String)]) {
    if params.is_empty() {
        out.push_str("NIL");
        return;
    }
    out.push('(');
    for (i, (k, v)) in params.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_string(out, k);
        out.push(' ');
        write_string(out, v);
    }
    out.push(')');
}

fn write_ext_tail(out: &mut String, n: &Node) {
    out.push(' ');
    match &n.disp {
        Some(d) => {
            out.push('(');
            write_string(out, &d.main);
            out.push(' ');
            write_params(out, &d.params);
            out.push(')');
        }
        None => out.push_str("NIL"),
    }
    out.push(' ');
    match &n.lang {
        Some(l) => {
            out.push('(');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_string(out, x);
            }
            out.push(')');
        }
        None => out.push_str("NIL"),
    }
    out.push(' ');
    write_nstring(out, n.loc.as_deref());
}

/// BODY (`ext == false`) or BODYSTRUCTURE (RFC 9051 §7.5.2).
fn render(n: &Node, ext: bool, out: &mut String) {
    out.push('(');
    if n.kind == PartKind::Multipart {
        for c in &n.children {
            render(c, ext, out);
        }
        out.push(' ');
        write_string(out, &n.sub);
        if ext {
            out.push(' ');
            write_params(out, &n.params);
            write_ext_tail(out, n);
        }
        out.push(')');
        return;
    }
    if n.kind == PartKind::Message {
        // Dovecot writes the type of an encapsulated message in canonical lower case
        // (`py-msg_16` has MESSAGE/RFC822) while keeping every other type as written.
        write_string(out, &n.ty.to_ascii_lowercase());
        out.push(' ');
        write_string(out, &n.sub.to_ascii_lowercase());
    } else {
        write_string(out, &n.ty);
        out.push(' ');
        write_string(out, &n.sub);
    }
    out.push(' ');
    write_params(out, &n.params);
    out.push(' ');
    write_nstring(out, n.id.as_deref());
    out.push(' ');
    write_nstring(out, n.desc.as_deref());
    out.push(' ');
    write_string(out, &n.enc);
    let _ = write!(out, " {}", n.body.len());
    if n.kind == PartKind::Message {
        out.push(' ');
        out.push_str(n.envelope.as_deref().unwrap_or("NIL"));
        out.push(' ');
        match n.children.first() {
            Some(c) => render(c, ext, out),
            None => render(&Node::empty_text(n.body.end), ext, out),
        }
        let _ = write!(out, " {}", n.lines);
    } else if n.ty.eq_ignore_ascii_case("text") {
        let _ = write!(out, " {}", n.lines);
    }
    if ext {
        out.push(' ');
        write_nstring(out, n.md5.as_deref());
        write_ext_tail(out, n);
    }
    out.push(')');
}
