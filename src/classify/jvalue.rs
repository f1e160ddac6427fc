//! A borrowed JSON value: strings point into the body where they need no unescaping, objects
//! are vectors of pairs. Reading a reply needs a few look-ups, not an owned tree of maps and
//! strings, and this costs a fraction of `serde_json::Value` to build. serde_json's recursion
//! limit still applies, so deep junk is an error, not a stack overflow.

use super::jscan::{Cursor, MAX_DEPTH};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// A JSON number as it was written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    U(u64),
    I(i64),
    F(f64),
}

/// A JSON value borrowing from its text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum J<'a> {
    Null,
    Bool(bool),
    Number(Num),
    String(Cow<'a, str>),
    Array(Vec<J<'a>>),
    Object(Obj<'a>),
}

/// An object's members, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Obj<'a>(Vec<(Cow<'a, str>, J<'a>)>);

impl<'a> Obj<'a> {
    /// An object of these members, in this order.
    pub(crate) fn from_pairs(pairs: Vec<(Cow<'a, str>, J<'a>)>) -> Self {
        Obj(pairs)
    }

    /// The first member with this key.
    pub(crate) fn get(&self, key: &str) -> Option<&J<'a>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &J<'a>)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_ref())
    }

    /// The members, owned.
    pub(crate) fn into_pairs(self) -> Vec<(Cow<'a, str>, J<'a>)> {
        self.0
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &J<'a>> {
        self.0.iter().map(|(_, v)| v)
    }
}

impl Num {
    pub(crate) fn as_u64(&self) -> Option<u64> {
        match *self {
            Num::U(n) => Some(n),
            _ => None,
        }
    }

    pub(crate) fn as_i64(&self) -> Option<i64> {
        match *self {
            Num::U(n) => i64::try_from(n).ok(),
            Num::I(n) => Some(n),
            Num::F(_) => None,
        }
    }

    pub(crate) fn as_f64(&self) -> Option<f64> {
        Some(match *self {
            Num::U(n) => n as f64,
            Num::I(n) => n as f64,
            Num::F(f) => f,
        })
    }
}

impl<'a> J<'a> {
    /// A member of an object (the first with that key).
    pub(crate) fn get(&self, key: &str) -> Option<&J<'a>> {
        match self {
            J::Object(o) => o.get(key),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            J::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_array(&self) -> Option<&[J<'a>]> {
        match self {
            J::Array(a) => Some(a),
            _ => None,
        }
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            J::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            J::Number(n) => n.as_i64(),
            _ => None,
        }
    }

    pub(crate) fn as_object(&self) -> Option<&Obj<'a>> {
        match self {
            J::Object(o) => Some(o),
            _ => None,
        }
    }

    pub(crate) fn is_object(&self) -> bool {
        matches!(self, J::Object(_))
    }

    pub(crate) fn is_array(&self) -> bool {
        matches!(self, J::Array(_))
    }

    pub(crate) fn is_string(&self) -> bool {
        matches!(self, J::String(_))
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, J::Null)
    }
}

impl<'de> Deserialize<'de> for J<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = J<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<J<'de>, E> {
                Ok(J::Null)
            }
            fn visit_none<E>(self) -> Result<J<'de>, E> {
                Ok(J::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<J<'de>, E> {
                Ok(J::Bool(b))
            }
            fn visit_u64<E>(self, n: u64) -> Result<J<'de>, E> {
                Ok(J::Number(Num::U(n)))
            }
            fn visit_i64<E>(self, n: i64) -> Result<J<'de>, E> {
                Ok(J::Number(Num::I(n)))
            }
            fn visit_f64<E>(self, n: f64) -> Result<J<'de>, E> {
                Ok(J::Number(Num::F(n)))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<J<'de>, E> {
                Ok(J::String(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<J<'de>, E> {
                Ok(J::String(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<J<'de>, E> {
                Ok(J::String(Cow::Owned(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J<'de>, A::Error> {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(x) = seq.next_element()? {
                    v.push(x);
                }
                Ok(J::Array(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J<'de>, A::Error> {
                let mut v = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some((k, x)) = map.next_entry::<Key<'de>, J<'de>>()? {
                    v.push((k.0, x));
                }
                Ok(J::Object(Obj(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// An object key, borrowed when it can be.
pub(crate) struct Key<'a>(pub(crate) Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Parses a whole document: in one pass where the scanner reads it (`jscan`), by serde_json
/// where it is unsure (so serde_json's errors stand). The two build the same value:
/// `tests::the_one_pass_reader_builds_what_serde_json_builds`.
pub(crate) fn parse(text: &str) -> Result<J<'_>, serde_json::Error> {
    match read_document(text) {
        Some(v) => Ok(v),
        None => serde_json::from_str(text),
    }
}

fn read_document(text: &str) -> Option<J<'_>> {
    let mut c = Cursor::new(text);
    let v = value(&mut c, 0)?;
    c.ws();
    (c.at == text.len()).then_some(v)
}

fn value<'a>(c: &mut Cursor<'a>, depth: u32) -> Option<J<'a>> {
    c.ws();
    Some(match c.peek()? {
        open @ (b'{' | b'[') => {
            if depth == MAX_DEPTH {
                return None;
            }
            c.at += 1;
            c.ws();
            let close = if open == b'{' { b'}' } else { b']' };
            let mut members = Vec::new();
            let mut items = Vec::new();
            if c.peek()? == close {
                c.at += 1;
            } else {
                loop {
                    if open == b'{' {
                        c.ws();
                        let k = c.string::<true>()?;
                        c.ws();
                        c.eat(b':')?;
                        members.push((k, value(c, depth + 1)?));
                    } else {
                        items.push(value(c, depth + 1)?);
                    }
                    c.ws();
                    match c.next()? {
                        b',' => {}
                        b if b == close => break,
                        _ => return None,
                    }
                }
            }
            if open == b'{' {
                J::Object(Obj(members))
            } else {
                J::Array(items)
            }
        }
        b'"' => J::String(c.string::<true>()?),
        b't' => {
            c.literal(b"true")?;
            J::Bool(true)
        }
        b'f' => {
            c.literal(b"false")?;
            J::Bool(false)
        }
        b'n' => {
            c.literal(b"null")?;
            J::Null
        }
        _ => number(c)?,
    })
}

/// A number as serde_json reads it: integers that fit 64 bits as `U` or `I` (`-0` is a
/// float there), anything else read by serde_json itself from the literal.
fn number<'a>(c: &mut Cursor<'a>) -> Option<J<'a>> {
    let start = c.at;
    let float = c.number()?;
    let lit = c.s.get(start..c.at)?;
    if !float {
        let (negative, digits) = match lit.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, lit),
        };
        if digits.len() <= 19 {
            if let Ok(n) = digits.parse::<u64>() {
                let n = match (negative, n) {
                    (false, n) => Num::U(n),
                    (true, 0) => Num::F(-0.0),
                    (true, n) if n <= 1 << 63 => Num::I((n as i64).wrapping_neg()),
                    _ => return serde_json::from_str(lit).ok(),
                };
                return Some(J::Number(n));
            }
        }
    }
    serde_json::from_str(lit).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_like_serde_json_value() {
        let v = parse(r#" {"a":{"b":[1,-2,3.5,"x\n",null,true]},"a":0} "#).unwrap();
        let b = v
            .get("a")
            .and_then(|a| a.get("b"))
            .and_then(J::as_array)
            .unwrap();
        assert_eq!(b[0], J::Number(Num::U(1)));
        assert_eq!(b[1].as_i64(), Some(-2));
        assert_eq!(b[2], J::Number(Num::F(3.5)));
        assert_eq!(b[3].as_str(), Some("x\n"));
        assert!(b[4].is_null() && b[5].as_bool() == Some(true));
        let deep = "[".repeat(100_000);
        assert!(parse(&deep).is_err());
    }

    /// serde_json's reading of a document, bypassing the one-pass reader.
    fn by_serde(text: &str) -> Option<J<'_>> {
        serde_json::from_str(text).ok()
    }

    fn doc() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            6 => prop::sample::select(vec![
                "null", "true", "false", "0", "-0", "429", "-17", "1.5", "-0.0", "2e3", "2E+3",
                "-1.5e-7", "1e400", "18446744073709551615", "18446744073709551616",
                "9223372036854775807", "-9223372036854775808", "-9223372036854775809",
                "12345678901234567890123", "0.1", "3.141592653589793238462643383279",
                "\"\"", "\"plain\"", "\"a\\\"b\"", "\"\\u00e9\"", "\"\\ud83d\\ude00\"",
                "\"caf\u{e9}\"", "\"\\/\\b\\f\\n\\r\\t\\\\\"",
                "\"Rate limit reached. Please try again in 1.8s.\"",
            ]),
            1 => prop::sample::select(vec![
                "nul", "truex", "007", "-", "1.", "1e", "01", "-01", ".5", "+1", "\"\\ud83d\"",
                "\"\\ude00x\"", "\"\\u12\"", "\"\\x\"", "\"tab\there\"", "\"open", "NaN",
            ]),
        ]
        .prop_map(str::to_owned);
        leaf.prop_recursive(5, 40, 5, |inner| {
            let ws = prop::sample::select(vec!["", " ", "\n\t", "\r\n  "]);
            prop_oneof![
                (prop::collection::vec(inner.clone(), 0..5), ws.clone())
                    .prop_map(|(v, w)| format!("[{w}{}{w}]", v.join(&format!("{w},{w}")))),
                (
                    prop::collection::vec(
                        (
                            prop::sample::select(vec![
                                "error", "message", "a\\\"b", "k\\u00e9", "error"
                            ]),
                            inner
                        ),
                        0..5
                    ),
                    ws,
                )
                    .prop_map(|(m, w)| {
                        let m: Vec<String> = m
                            .iter()
                            .map(|(k, v)| format!("\"{k}\"{w}:{w}{v}"))
                            .collect();
                        format!("{{{w}{}{w}}}", m.join(","))
                    }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]
        /// Where the one-pass reader builds a value, serde_json builds the same (numbers of
        /// the same kind, strings of the same text); where serde_json rejects a document, the
        /// one-pass reader does not answer.
        #[test]
        fn the_one_pass_reader_builds_what_serde_json_builds(
            text in doc(),
            tail in prop::sample::select(vec!["", " ", "\n", " x", ",", "}"]),
        ) {
            let text = format!("{text}{tail}");
            if let Some(fast) = read_document(&text) {
                let slow = by_serde(&text);
                prop_assert!(slow.is_some(), "serde_json rejects {}", text);
                prop_assert_eq!(Some(&fast), slow.as_ref(), "{}", text);
                // The same kinds of numbers too (`PartialEq` on floats would let -0.0 be 0).
                prop_assert_eq!(format!("{fast:?}"), format!("{:?}", slow.unwrap()), "{}", text);
            }
        }
    }

    #[test]
    fn numbers_are_read_as_serde_json_reads_them() {
        for lit in [
            "0",
            "-0",
            "7",
            "-7",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "1.5",
            "1e3",
            "-0.0",
            "123456789012345678901234567890",
        ] {
            let fast = read_document(lit).unwrap();
            assert_eq!(
                format!("{fast:?}"),
                format!("{:?}", by_serde(lit).unwrap()),
                "{lit}"
            );
        }
        for bad in ["01", "-", "1.", "1e", "+1", ".5", "1e400"] {
            assert!(read_document(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn nesting_beyond_the_scanner_is_left_to_serde_json() {
        let deep = |n| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(read_document(&deep(MAX_DEPTH as usize)).is_some());
        assert!(read_document(&deep(MAX_DEPTH as usize + 1)).is_none());
        assert!(
            parse(&deep(MAX_DEPTH as usize + 1)).is_ok(),
            "serde_json reads it"
        );
        assert!(parse(&deep(200)).is_err(), "beyond serde_json's own limit");
    }
}
