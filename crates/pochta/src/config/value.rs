//! Value types with a rule, checked while deserializing so that the error carries the key
//! path (`serde_path_to_error` adds it; `super::path_error` formats it). Each takes the raw
//! TOML value and says what is wrong in the words of the file (`expected an integer, found
//! string`, `must be at least 1, found 0`).

use std::net::SocketAddr;
use std::time::Duration;

use pochta_queue::schedule::parse_duration;
use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Value;

fn custom<E: de::Error>(msg: String) -> E {
    E::custom(msg)
}

/// An integer in `MIN..=u32::MAX` (`[smtp]` counts and seconds).
#[derive(Debug, Clone, Copy)]
pub struct AtLeast<const MIN: i64>(pub u32);

impl<'de, const MIN: i64> Deserialize<'de> for AtLeast<MIN> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Integer(n) if n >= MIN && n <= i64::from(u32::MAX) => Ok(AtLeast(n as u32)),
            Value::Integer(n) if n < MIN => {
                Err(custom(format!("must be at least {MIN}, found {n}")))
            }
            Value::Integer(n) => Err(custom(format!("{n} is too large"))),
            other => Err(custom(format!(
                "expected an integer, found {}",
                other.type_str()
            ))),
        }
    }
}

/// A positive integer (`[limits]`).
#[derive(Debug, Clone, Copy)]
pub struct Positive(pub u64);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Integer(n) if n > 0 => Ok(Positive(n as u64)),
            Value::Integer(n) => Err(custom(format!("must be positive, found {n}"))),
            other => Err(custom(format!(
                "expected a positive integer, found {}",
                other.type_str()
            ))),
        }
    }
}

/// An integer in `MIN..=MAX` (`smtp.queue.concurrency`).
#[derive(Debug, Clone, Copy)]
pub struct Between<const MIN: i64, const MAX: i64>(pub i64);

impl<'de, const MIN: i64, const MAX: i64> Deserialize<'de> for Between<MIN, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Integer(n) if (MIN..=MAX).contains(&n) => Ok(Between(n)),
            Value::Integer(n) => Err(custom(format!(
                "must be between {MIN} and {MAX}, found {n}"
            ))),
            other => Err(custom(format!(
                "expected an integer, found {}",
                other.type_str()
            ))),
        }
    }
}

/// A duration: `"30s"`, `"5m"`, `"4h"`, `"5d"`, or whole seconds.
#[derive(Debug, Clone, Copy)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => parse_duration(&s).map(Dur).ok_or_else(|| {
                custom(format!(
                    "{s:?} is not a duration (like \"30s\", \"5m\", \"4h\", \"5d\")"
                ))
            }),
            Value::Integer(n) if n >= 0 => Ok(Dur(Duration::from_secs(n as u64))),
            Value::Integer(n) => Err(custom(format!("must be at least 0, found {n}"))),
            other => Err(custom(format!(
                "expected a duration string, found {}",
                other.type_str()
            ))),
        }
    }
}

/// A duration longer than 0.
#[derive(Debug, Clone, Copy)]
pub struct NonZeroDur(pub Duration);

impl<'de> Deserialize<'de> for NonZeroDur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Dur(d) = Dur::deserialize(d)?;
        if d.is_zero() {
            return Err(custom("must be longer than 0".into()));
        }
        Ok(NonZeroDur(d))
    }
}

/// A non-empty list of durations longer than 0 (`smtp.queue.retry`); the elements keep
/// their index in the key path (`smtp.queue.retry[1]`).
#[derive(Debug, Clone)]
pub struct Durations(pub Vec<Duration>);

impl<'de> Deserialize<'de> for Durations {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Durations;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of durations")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Durations, A::Error> {
                let mut out = Vec::new();
                while let Some(NonZeroDur(d)) = seq.next_element()? {
                    out.push(d);
                }
                if out.is_empty() {
                    return Err(custom("must list at least one duration".into()));
                }
                Ok(Durations(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// A list of `"ip:port"` strings (`[listen]`); elements keep their index in the key path.
#[derive(Debug, Clone, Default)]
pub struct Addrs(pub Vec<SocketAddr>);

impl<'de> Deserialize<'de> for Addrs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Addrs;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of \"ip:port\" strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Addrs, A::Error> {
                let mut out = Vec::new();
                while let Some(Addr(a)) = seq.next_element()? {
                    out.push(a);
                }
                Ok(Addrs(out))
            }
        }
        d.deserialize_seq(V)
    }
}

/// One `"ip:port"` address.
struct Addr(SocketAddr);

impl<'de> Deserialize<'de> for Addr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => s.parse().map(Addr).map_err(|_| {
                custom(format!(
                    "{s:?} is not an ip:port address (e.g. \"127.0.0.1:1143\" or \"[::1]:1143\")"
                ))
            }),
            other => Err(custom(format!(
                "expected an \"ip:port\" string, found {}",
                other.type_str()
            ))),
        }
    }
}

/// A string that must be one of `values` (`auth.plaintext`, a route's `tls`).
pub fn one_of<'de, D: Deserializer<'de>, T: Copy>(
    d: D,
    values: &[(&str, T)],
    list: &str,
) -> Result<T, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => values
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, v)| *v)
            .ok_or_else(|| custom(format!("{s:?} is not one of {list}"))),
        other => Err(custom(format!(
            "expected a string, found {}",
            other.type_str()
        ))),
    }
}
