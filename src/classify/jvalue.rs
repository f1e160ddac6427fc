//! A borrowed JSON value: strings point into the body where they need no unescaping, objects
//! are vectors of pairs. Reading a reply needs a few look-ups, not an owned tree of maps and
//! strings, and this costs a fraction of `serde_json::Value` to build. serde_json's recursion
//! limit still applies, so deep junk is an error, not a stack overflow.

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

/// Parses a whole document.
pub(crate) fn parse(text: &str) -> Result<J<'_>, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
