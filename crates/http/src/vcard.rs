//! Just enough of vCard (RFC 6350 §3.2, RFC 2426 §2.4) to answer CardDAV's
//! `addressbook-query` filters (RFC 6352 §10.5) and to check an upload is a vCard; stored
//! vCards are never rewritten.

/// One content line: property name (group dropped, upper case), parameters, value.
#[derive(Debug, PartialEq, Eq)]
pub struct Line {
    pub name: String,
    pub params: Vec<(String, String)>,
    pub value: String,
}

/// The unfolded content lines of a vCard (a line starting with a space or tab continues the
/// previous one).
pub fn lines(text: &str) -> Vec<Line> {
    let mut unfolded: Vec<String> = Vec::new();
    for raw in text.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = raw.strip_prefix([' ', '\t'])
            && let Some(last) = unfolded.last_mut()
        {
            last.push_str(rest);
        } else if !raw.is_empty() {
            unfolded.push(raw.to_owned());
        }
    }
    unfolded.iter().filter_map(|l| parse_line(l)).collect()
}

fn parse_line(l: &str) -> Option<Line> {
    // The name and parameters end at the first ':' outside double quotes.
    let mut quoted = false;
    let colon = l.char_indices().find_map(|(i, c)| match c {
        '"' => {
            quoted = !quoted;
            None
        }
        ':' if !quoted => Some(i),
        _ => None,
    })?;
    let (head, value) = (&l[..colon], &l[colon + 1..]);
    let mut parts = head.split(';');
    let name = parts.next()?;
    let name = name.rsplit('.').next().unwrap_or(name).to_ascii_uppercase();
    let params = parts
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_ascii_uppercase(), v.trim_matches('"').to_owned()),
            // vCard 2.1-style bare parameter (`TEL;WORK:`): a TYPE.
            None => ("TYPE".to_owned(), p.to_owned()),
        })
        .collect();
    Some(Line {
        name,
        params,
        value: value.to_owned(),
    })
}

/// Whether `data` is a vCard we store: UTF-8, `BEGIN:VCARD` … `END:VCARD`, `VERSION` 3.0 or
/// 4.0. Returns the `UID`, if any.
pub fn check(data: &[u8]) -> Result<Option<String>, &'static str> {
    let text = std::str::from_utf8(data).map_err(|_| "a vCard must be UTF-8")?;
    let ls = lines(text);
    let first = ls.first().ok_or("empty vCard")?;
    if first.name != "BEGIN" || !first.value.eq_ignore_ascii_case("VCARD") {
        return Err("a vCard starts with BEGIN:VCARD");
    }
    let last = ls.last().ok_or("empty vCard")?;
    if last.name != "END" || !last.value.eq_ignore_ascii_case("VCARD") {
        return Err("a vCard ends with END:VCARD");
    }
    let begins = ls.iter().filter(|l| l.name == "BEGIN").count();
    if begins != 1 {
        return Err("one vCard per resource (RFC 6352 section 5.1)");
    }
    match ls
        .iter()
        .find(|l| l.name == "VERSION")
        .map(|l| l.value.trim())
    {
        Some("3.0" | "4.0") => {}
        _ => return Err("VERSION must be 3.0 or 4.0"),
    }
    Ok(ls
        .iter()
        .find(|l| l.name == "UID")
        .map(|l| l.value.trim().to_owned()))
}

/// A `text-match` (RFC 6352 §10.5.4).
#[derive(Debug, Clone)]
pub struct TextMatch {
    pub text: String,
    /// `i;unicode-casemap` (default) compares case-insensitively; `i;octet` exactly.
    pub casemap: bool,
    /// `equals`, `contains` (default), `starts-with`, `ends-with`.
    pub match_type: String,
    pub negate: bool,
}

impl TextMatch {
    pub fn matches(&self, value: &str) -> bool {
        let (v, t) = if self.casemap {
            (value.to_lowercase(), self.text.to_lowercase())
        } else {
            (value.to_owned(), self.text.clone())
        };
        let hit = match self.match_type.as_str() {
            "equals" => v == t,
            "starts-with" => v.starts_with(&t),
            "ends-with" => v.ends_with(&t),
            _ => v.contains(&t),
        };
        hit != self.negate
    }
}

/// A `param-filter` (RFC 6352 §10.5.2).
#[derive(Debug, Clone)]
pub struct ParamFilter {
    pub name: String,
    pub is_not_defined: bool,
    pub text: Option<TextMatch>,
}

/// A `prop-filter` (RFC 6352 §10.5.1).
#[derive(Debug, Clone)]
pub struct PropFilter {
    pub name: String,
    pub all_of: bool,
    pub is_not_defined: bool,
    pub texts: Vec<TextMatch>,
    pub params: Vec<ParamFilter>,
}

/// A `filter` (RFC 6352 §10.5): an empty one matches everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub all_of: bool,
    pub props: Vec<PropFilter>,
}

impl Filter {
    pub fn matches(&self, card: &[Line]) -> bool {
        if self.props.is_empty() {
            return true;
        }
        let mut results = self.props.iter().map(|p| p.matches(card));
        if self.all_of {
            results.all(|r| r)
        } else {
            results.any(|r| r)
        }
    }
}

impl PropFilter {
    fn matches(&self, card: &[Line]) -> bool {
        let props: Vec<&Line> = card
            .iter()
            .filter(|l| l.name.eq_ignore_ascii_case(&self.name))
            .collect();
        if self.is_not_defined {
            return props.is_empty();
        }
        if props.is_empty() {
            return false;
        }
        if self.texts.is_empty() && self.params.is_empty() {
            return true;
        }
        // Any property instance satisfying the tests.
        props.iter().any(|l| {
            let mut tests = self
                .texts
                .iter()
                .map(|t| t.matches(&l.value))
                .chain(self.params.iter().map(|p| p.matches(l)));
            if self.all_of {
                tests.all(|r| r)
            } else {
                tests.any(|r| r)
            }
        })
    }
}

impl ParamFilter {
    fn matches(&self, line: &Line) -> bool {
        let values: Vec<&str> = line
            .params
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(&self.name))
            .flat_map(|(_, v)| v.split(','))
            .collect();
        if self.is_not_defined {
            return values.is_empty();
        }
        match &self.text {
            None => !values.is_empty(),
            Some(t) => values.iter().any(|v| t.matches(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD: &str = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:u1\r\nFN:Anna\r\n  Karenina\r\nitem1.EMAIL;TYPE=work,pref:anna@example.org\r\nTEL;TYPE=\"cell\":+7 900\r\nNOTE:a:b\r\nEND:VCARD\r\n";

    fn tm(text: &str, match_type: &str) -> TextMatch {
        TextMatch {
            text: text.into(),
            casemap: true,
            match_type: match_type.into(),
            negate: false,
        }
    }

    #[test]
    fn lines_unfold_and_split() {
        let ls = lines(CARD);
        assert_eq!(ls[3].value, "Anna Karenina");
        assert_eq!(ls[4].name, "EMAIL");
        assert_eq!(ls[4].params, [("TYPE".to_owned(), "work,pref".to_owned())]);
        assert_eq!(ls[6].value, "a:b");
        assert_eq!(check(CARD.as_bytes()), Ok(Some("u1".into())));
        assert!(check(b"BEGIN:VCARD\r\nVERSION:2.1\r\nEND:VCARD\r\n").is_err());
        assert!(check(b"hello").is_err());
        assert!(
            check(b"BEGIN:VCARD\nVERSION:3.0\nEND:VCARD\nBEGIN:VCARD\nVERSION:3.0\nEND:VCARD\n")
                .is_err()
        );
    }

    #[test]
    fn filters() {
        let card = lines(CARD);
        let prop = |name: &str, texts: Vec<TextMatch>| PropFilter {
            name: name.into(),
            all_of: false,
            is_not_defined: false,
            texts,
            params: vec![],
        };
        let f = |props, all_of| Filter { all_of, props };
        assert!(f(vec![prop("FN", vec![tm("KARENINA", "contains")])], false).matches(&card));
        assert!(!f(vec![prop("FN", vec![tm("Karenina", "starts-with")])], false).matches(&card));
        assert!(
            f(
                vec![prop("EMAIL", vec![tm("@example.org", "ends-with")])],
                false
            )
            .matches(&card)
        );
        assert!(
            !f(
                vec![
                    prop("FN", vec![tm("x", "contains")]),
                    prop("NICKNAME", vec![])
                ],
                true
            )
            .matches(&card)
        );
        assert!(
            f(
                vec![prop("FN", vec![tm("x", "contains")]), prop("TEL", vec![])],
                false
            )
            .matches(&card)
        );
        let mut missing = prop("NICKNAME", vec![]);
        missing.is_not_defined = true;
        assert!(f(vec![missing], false).matches(&card));
        let mut typed = prop("TEL", vec![]);
        typed.params.push(ParamFilter {
            name: "type".into(),
            is_not_defined: false,
            text: Some(tm("cell", "equals")),
        });
        assert!(f(vec![typed], false).matches(&card));
    }
}
