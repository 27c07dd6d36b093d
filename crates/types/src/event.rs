//! Operator events: one line of `key=value` pairs per event, in a format that stays stable
//! for log readers such as fail2ban (the README documents it).
//!
//! Implementation notes:
//! - A line starts with `event=NAME` and has its fields in a fixed order per event.
//! - Values the server makes (protocol, mechanism, codes, addresses) are written bare when they
//!   consist only of `[A-Za-z0-9._:/@+-]`; anything else, and every value a client chose (an
//!   account name, an envelope address), is written in double quotes with `"` and `\` escaped
//!   by a backslash and every control or non-printable character as a Rust escape (`\n`,
//!   `\u{1b}`). So a hostile value cannot end the quotes, add a field or start a new line.
//! - The IP address of a peer is written in canonical form (an IPv4-mapped IPv6 address as
//!   IPv4), so one filter pattern matches it whatever the listener's socket family.

use std::fmt::Write as _;
use std::net::IpAddr;

/// One event line, built field by field.
#[derive(Debug, Clone)]
pub struct Event(String);

impl Event {
    pub fn new(name: &str) -> Event {
        let mut e = Event(String::with_capacity(128));
        e.push_key("event");
        e.push_value(name, false);
        e
    }

    /// A value of the server's own (quoted only if it needs to be).
    pub fn field(mut self, key: &str, value: impl std::fmt::Display) -> Event {
        self.push_key(key);
        self.push_value(&value.to_string(), false);
        self
    }

    /// A value a client chose: always quoted.
    pub fn given(mut self, key: &str, value: &str) -> Event {
        self.push_key(key);
        self.push_value(value, true);
        self
    }

    /// A peer's address, canonical (`::ffff:192.0.2.1` is written `192.0.2.1`).
    pub fn remote(self, ip: IpAddr) -> Event {
        self.field("remote", ip.to_canonical())
    }

    pub fn line(&self) -> &str {
        &self.0
    }

    fn push_key(&mut self, key: &str) {
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        self.0.push_str(key);
        self.0.push('=');
    }

    fn push_value(&mut self, v: &str, always_quote: bool) {
        let bare = !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:/@+-".contains(c));
        if bare && !always_quote {
            self.0.push_str(v);
            return;
        }
        self.0.push('"');
        for c in v.chars() {
            match c {
                '"' | '\\' => {
                    self.0.push('\\');
                    self.0.push(c);
                }
                ' ' => self.0.push(' '),
                c if c.is_ascii_graphic() => self.0.push(c),
                // Rust's debug escape: printable Unicode stays, controls, separators and
                // other non-printables become `\n`, `\u{2028}`, ….
                c => {
                    let _ = write!(self.0, "{}", c.escape_debug());
                }
            }
        }
        self.0.push('"');
    }
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_quoting() {
        let ip: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        let e = Event::new("auth_failed")
            .field("proto", "imap")
            .field("mech", "SCRAM-SHA-256")
            .remote(ip)
            .given("user", "a@b.example");
        assert_eq!(
            e.line(),
            r#"event=auth_failed proto=imap mech=SCRAM-SHA-256 remote=192.0.2.7 user="a@b.example""#
        );
    }

    #[test]
    fn hostile_values_cannot_forge_fields_or_lines() {
        let e = Event::new("auth_failed")
            .given(
                "user",
                "x\" remote=10.0.0.1 \\\nevent=auth_failed remote=10.9.9.9\r\u{2028}\u{1b}[31m",
            )
            .field("reason", "two words");
        let line = e.line();
        assert_eq!(
            line,
            r#"event=auth_failed user="x\" remote=10.0.0.1 \\\nevent=auth_failed remote=10.9.9.9\r\u{2028}\u{1b}[31m" reason="two words""#
        );
        assert!(!line.contains('\n') && !line.contains('\r'));
        // Unescaped quotes are exactly the four delimiters.
        let mut unescaped = 0;
        let mut esc = false;
        for c in line.chars() {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => unescaped += 1,
                _ => {}
            }
        }
        assert_eq!(unescaped, 4);
        assert_eq!(
            Event::new("e").given("user", "").line(),
            r#"event=e user="""#
        );
        assert_eq!(Event::new("e").field("x", "").line(), r#"event=e x="""#);
        assert_eq!(
            Event::new("e").given("user", "Žofie").line(),
            r#"event=e user="Žofie""#
        );
    }
}
