//! Python's `repr` of a dict, as SDKs and gateways print an upstream error into a message or a
//! plain-text body: `Error code: 429 - {'error': {'message': "You've hit…", 'type':
//! 'insufficient_quota', 'code': None}}` (the OpenAI Python SDK's exceptions, LiteLLM's
//! `cooldown_list`, agents relaying either). Failure rule 6 says to look inside: this reads the
//! literal into the value a JSON document gives, so its codes, types, retry fields and relayed
//! headers count as a nested JSON error's do.
//!
//! Read: dicts, lists and tuples (as arrays), strings in either quote with Python's escapes
//! (`\\`, `\'`, `\"`, `\n`, `\r`, `\t`, `\xhh`, `\uhhhh`, `\Uhhhhhhhh`), integers and floats
//! written as JSON writes them, `None`, `True`, `False`. Anything else (a set, a call such as
//! `datetime(…)`, bytes, nesting deeper than [`MAX_DEPTH`]) makes the whole literal unread:
//! `None`. One pass, no backtracking.

use super::jscan::MAX_DEPTH;
use super::jvalue::{Num, Obj, J};
use std::borrow::Cow;

/// The literal at the start of `t` (text after it is ignored), or `None`.
pub(crate) fn read_prefix(t: &str) -> Option<J<'_>> {
    let mut r = Reader { s: t, at: 0 };
    r.value(0)
}

struct Reader<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.at).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        self.ws();
        (self.peek()? == want).then(|| self.at += 1)
    }

    fn word(&mut self, w: &str) -> bool {
        let rest = &self.s.as_bytes()[self.at..];
        let boundary = rest
            .get(w.len())
            .is_none_or(|&b| !(b.is_ascii_alphanumeric() || b == b'_'));
        if rest.starts_with(w.as_bytes()) && boundary {
            self.at += w.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: u32) -> Option<J<'a>> {
        self.ws();
        match self.peek()? {
            b'{' => {
                let items = self.items(b'}', depth, true)?;
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    let J::String(k) = k else { return None };
                    pairs.push((k, v));
                }
                Some(J::Object(Obj::from_pairs(pairs)))
            }
            b'[' => Some(J::Array(self.items(b']', depth, false)?)),
            b'(' => Some(J::Array(self.items(b')', depth, false)?)),
            q @ (b'\'' | b'"') => self.string(q).map(J::String),
            b'N' if self.word("None") => Some(J::Null),
            b'T' if self.word("True") => Some(J::Bool(true)),
            b'F' if self.word("False") => Some(J::Bool(false)),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// The entries of a container up to `close`; for a dict, keys and values alternate.
    fn items(&mut self, close: u8, depth: u32, dict: bool) -> Option<Vec<J<'a>>> {
        if depth >= MAX_DEPTH {
            return None;
        }
        self.at += 1;
        let mut out = Vec::new();
        loop {
            self.ws();
            if self.peek()? == close {
                self.at += 1;
                return Some(out);
            }
            out.push(self.value(depth + 1)?);
            if dict {
                self.eat(b':')?;
                out.push(self.value(depth + 1)?);
            }
            self.ws();
            match self.peek()? {
                b',' => self.at += 1,
                c if c == close => {}
                _ => return None,
            }
        }
    }

    /// A string in quote `q`, borrowed when it holds no escape.
    fn string(&mut self, q: u8) -> Option<Cow<'a, str>> {
        let b = self.s.as_bytes();
        let start = self.at + 1;
        let mut i = start;
        let mut owned: Option<String> = None;
        let mut run = start;
        loop {
            match *b.get(i)? {
                c if c == q => break,
                b'\n' => return None,
                b'\\' => {
                    let text = owned.get_or_insert_with(String::new);
                    text.push_str(self.s.get(run..i)?);
                    let (c, len) = escape(b.get(i + 1..)?)?;
                    text.push(c);
                    i += 1 + len;
                    run = i;
                }
                _ => i += 1,
            }
        }
        self.at = i + 1;
        let tail = self.s.get(run..i)?;
        Some(match owned {
            Some(mut text) => {
                text.push_str(tail);
                Cow::Owned(text)
            }
            None => Cow::Borrowed(tail),
        })
    }

    /// An integer or a float in JSON's notation (Python's repr of a float is one).
    fn number(&mut self) -> Option<J<'a>> {
        let b = self.s.as_bytes();
        let start = self.at;
        let mut i = start + usize::from(b[start] == b'-');
        let digits = |i: &mut usize| {
            let from = *i;
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i > from
        };
        if !digits(&mut i) {
            return None;
        }
        let mut float = false;
        if b.get(i) == Some(&b'.') {
            i += 1;
            float = true;
            digits(&mut i);
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !digits(&mut i) {
                return None;
            }
            float = true;
        }
        self.at = i;
        let lit = &self.s[start..i];
        let n = if float {
            Num::F(lit.parse().ok()?)
        } else if let Ok(n) = lit.parse::<u64>() {
            Num::U(n)
        } else if let Ok(n) = lit.parse::<i64>() {
            Num::I(n)
        } else {
            Num::F(lit.parse().ok()?)
        };
        Some(J::Number(n))
    }
}

/// The character a Python escape stands for and the escape's length after the backslash.
fn escape(rest: &[u8]) -> Option<(char, usize)> {
    let hex = |n: usize| -> Option<(char, usize)> {
        let d = std::str::from_utf8(rest.get(1..1 + n)?).ok()?;
        let v = u32::from_str_radix(d, 16).ok()?;
        Some((char::from_u32(v)?, 1 + n))
    };
    Some(match *rest.first()? {
        b'\\' => ('\\', 1),
        b'\'' => ('\'', 1),
        b'"' => ('"', 1),
        b'n' => ('\n', 1),
        b'r' => ('\r', 1),
        b't' => ('\t', 1),
        b'x' => return hex(2),
        b'u' => return hex(4),
        b'U' => return hex(8),
        _ => return None,
    })
}

/// Python's repr of a JSON value, as `str(dict)` prints it: what the fuzz target and the
/// tests feed the reader.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn write(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "None".into(),
        Value::Bool(b) => if *b { "True" } else { "False" }.into(),
        Value::Number(n) => n.to_string(),
        Value::String(t) => {
            // Python picks double quotes for a text with a single quote and no double one.
            let q = if t.contains('\'') && !t.contains('"') {
                '"'
            } else {
                '\''
            };
            let mut out = String::from(q);
            for c in t.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if c == q => {
                        out.push('\\');
                        out.push(c);
                    }
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\x{:02x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push(q);
            out
        }
        Value::Array(a) => format!("[{}]", a.iter().map(write).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", write(&Value::String(k.clone())), write(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reads_what_the_openai_sdk_prints() {
        let t = r#"{'error': {'message': "You've hit your limit.\nRetry.", 'type': 'insufficient_quota', 'param': None, 'code': 429, 'ok': False, 'delay': 1.5, 'pair': ('a', -2)}} trailing"#;
        let v = read_prefix(t).expect("a dict");
        let e = v.get("error").unwrap();
        assert_eq!(
            e.get("message").and_then(J::as_str),
            Some("You've hit your limit.\nRetry.")
        );
        assert_eq!(
            e.get("type").and_then(J::as_str),
            Some("insufficient_quota")
        );
        assert_eq!(e.get("param"), Some(&J::Null));
        assert_eq!(e.get("code"), Some(&J::Number(Num::U(429))));
        assert_eq!(e.get("ok"), Some(&J::Bool(false)));
        assert_eq!(e.get("delay"), Some(&J::Number(Num::F(1.5))));
        assert_eq!(
            e.get("pair").and_then(J::as_array).map(|a| a.len()),
            Some(2)
        );
    }

    #[test]
    fn escapes_are_python_escapes() {
        let v = read_prefix(r"{'m': 'it\'s \u4f59\xe9 \\ \U0001F600'}").unwrap();
        assert_eq!(v.get("m").and_then(J::as_str), Some("it's 余é \\ 😀"));
    }

    #[test]
    fn what_is_not_a_literal_is_not_read() {
        for t in [
            "{'a': datetime(2026, 1, 1)}",
            "{'a': {1, 2}}",
            "{'a' 1}",
            "{'a': 'unterminated}",
            "{1: 'a'}",
            "{'a': Nonesuch}",
            "{'a': b'bytes'}",
            "{'a': '\\q'}",
            "",
        ] {
            assert_eq!(read_prefix(t), None, "{t}");
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[a-z' \"\\\\]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((any::<String>(), inner), 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        /// Python's repr of any JSON value reads back as the value the JSON reads as.
        #[test]
        fn a_repr_reads_as_its_json_reads(v in json_value(), tail in "([ )},][a-z ]{0,3})?") {
            let repr = format!("{}{tail}", write(&v));
            let json = v.to_string();
            let want = crate::classify::jvalue::parse(&json).expect("serde_json's own output");
            prop_assert_eq!(read_prefix(&repr), Some(want), "{}", repr);
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(10_000);
        assert_eq!(read_prefix(&deep), None);
        let ok = format!("{}{}", "[".repeat(40), "]".repeat(40));
        assert!(read_prefix(&ok).is_some());
    }
}
