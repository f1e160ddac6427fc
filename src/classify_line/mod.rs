//! The JSON Lines contract of `keypool classify` (`docs/classify.md`): one input
//! line in, one output line out. Kept beside the CLI, outside the sans-IO core.
//!
//! A line is read without copying what it need not: strings point into the line unless they
//! hold escapes, fields other than the five read are skipped unparsed, and the output is
//! written straight into the caller's buffer.

use crate::class::Verdict;
use crate::classify::classify_ref;
use crate::classify::jvalue::{Key, Num, J};
use crate::reply::{Reply, ReplyRef, Transport};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

mod fast;

/// One classified input line.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    /// The input's `id`, echoed.
    pub id: Option<String>,
    /// The verdict.
    pub verdict: Verdict,
}

/// One input line, read: strings borrowed from the line where they hold no escapes.
///
/// ```
/// let l = keypool::classify_line::parse_line_ref(r#"{"id":"a","status":429,"headers":{"Retry-After":"2"}}"#).unwrap();
/// assert_eq!(l.id.as_deref(), Some("a"));
/// assert_eq!(l.reply().header_value("retry-after"), Some("2"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LineRef<'a> {
    /// The input's `id`.
    pub id: Option<Cow<'a, str>>,
    /// HTTP status.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// The body.
    pub body: Cow<'a, str>,
    /// The transport, when given.
    pub transport: Option<Transport>,
}

impl<'a> LineRef<'a> {
    /// The reply this line describes, borrowed.
    pub fn reply(&self) -> ReplyRef<'_, Cow<'a, str>> {
        ReplyRef {
            status: self.status,
            headers: &self.headers,
            body: &self.body,
            transport: self.transport,
        }
    }
}

/// The five fields a line is read for; anything else is skipped without being built.
#[derive(Default)]
struct Fields<'a> {
    status: Option<J<'a>>,
    headers: Option<J<'a>>,
    /// Kept raw: unescaped here, faster than serde_json does it for bodies that are JSON
    /// documents (a backslash every few bytes).
    body: Option<&'a serde_json::value::RawValue>,
    transport: Option<J<'a>>,
    id: Option<J<'a>>,
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut f = Fields::default();
                while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
                    // The last of a repeated key wins, as in any JSON object read into a map.
                    let slot = match k.as_ref() {
                        "status" => &mut f.status,
                        "headers" => &mut f.headers,
                        "body" => {
                            f.body = Some(map.next_value()?);
                            continue;
                        }
                        "transport" => &mut f.transport,
                        "id" => &mut f.id,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = Some(map.next_value()?);
                }
                Ok(f)
            }
        }
        d.deserialize_map(V)
    }
}

/// Parses one input line. Fields other than `status`, `headers`, `body`, `transport` and `id`
/// are ignored, so a labelled corpus reads as it is. `Err` says why the line was rejected.
///
/// ```
/// assert!(keypool::classify_line::parse_line_ref(r#"{"status":"x"}"#).is_err());
/// assert!(keypool::classify_line::parse_line_ref("[1]").is_err());
/// ```
pub fn parse_line_ref(line: &str) -> Result<LineRef<'_>, String> {
    match fast::read(line) {
        Some(l) => Ok(l),
        None => parse_with_serde(line),
    }
}

/// Where the one-pass reader answers, serde_json reads the line the same way (for the fuzz
/// target and the property tests).
#[doc(hidden)]
pub fn readers_agree(line: &str) -> Result<(), String> {
    match fast::read(line) {
        Some(fast) => match parse_with_serde(line) {
            Ok(slow) if slow == fast => Ok(()),
            slow => Err(format!(
                "the one-pass line reader read {fast:?}, serde_json {slow:?}"
            )),
        },
        None => Ok(()),
    }
}

/// [`parse_line_ref`] through serde_json: every line, and the error messages.
fn parse_with_serde(line: &str) -> Result<LineRef<'_>, String> {
    if !line.trim_start().starts_with('{') {
        return Err(match serde_json::from_str::<IgnoredAny>(line) {
            Ok(_) => "not a JSON object".into(),
            Err(e) => format!("not JSON: {e}"),
        });
    }
    let f: Fields = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let status = match f.status {
        None => return Err("missing field `status`".into()),
        Some(J::Number(Num::U(s @ 100..=599))) => s as u16,
        Some(J::Number(n)) => {
            return Err(format!(
                "field `status`: {} is not an integer from 100 to 599",
                num_text(n)
            ))
        }
        Some(other) => {
            return Err(format!(
                "field `status`: expected an integer, found {}",
                kind(&other)
            ))
        }
    };
    let mut headers = Vec::new();
    match f.headers {
        None | Some(J::Null) => {}
        Some(J::Object(h)) => {
            headers.reserve(h.pairs().count());
            for (k, v) in h.into_pairs() {
                match v {
                    J::String(s) => headers.push((lower(k), s)),
                    other => {
                        return Err(format!(
                            "field `headers.{k}`: expected a string, found {}",
                            kind(&other)
                        ))
                    }
                }
            }
        }
        Some(other) => {
            return Err(format!(
                "field `headers`: expected an object, found {}",
                kind(&other)
            ))
        }
    }
    let body = match f.body.map(|r| r.get()) {
        None | Some("null") => Cow::Borrowed(""),
        Some(raw) if raw.starts_with('"') => {
            unescape(raw).ok_or("field `body`: a \\u escape is not a valid character")?
        }
        Some(raw) => {
            return Err(format!(
                "field `body`: expected a string, found {}",
                raw_kind(raw)
            ))
        }
    };
    let transport = match f.transport {
        None | Some(J::Null) => None,
        Some(J::String(t)) if t == "http" => Some(Transport::Http),
        Some(J::String(t)) if t == "sse" => Some(Transport::Sse),
        Some(J::String(t)) => {
            return Err(format!(
                "field `transport`: expected \"http\" or \"sse\", found {}",
                serde_json::Value::String(t.into_owned())
            ))
        }
        Some(other) => {
            return Err(format!(
                "field `transport`: expected \"http\" or \"sse\", found {}",
                kind(&other)
            ))
        }
    };
    let id = match f.id {
        None | Some(J::Null) => None,
        Some(J::String(s)) => Some(s),
        Some(other) => {
            return Err(format!(
                "field `id`: expected a string, found {}",
                kind(&other)
            ))
        }
    };
    Ok(LineRef {
        id,
        status,
        headers,
        body,
        transport,
    })
}

/// Parses one input line into an owned reply and its optional id (see [`parse_line_ref`]).
///
/// ```
/// let (r, id) = keypool::classify_line::parse_line(r#"{"id":"a","status":429,"body":""}"#).unwrap();
/// assert_eq!((r.status, id.as_deref()), (429, Some("a")));
/// assert!(keypool::classify_line::parse_line(r#"{"status":"x"}"#).is_err());
/// ```
pub fn parse_line(line: &str) -> Result<(Reply, Option<String>), String> {
    let l = parse_line_ref(line)?;
    let reply = Reply {
        status: l.status,
        headers: l
            .headers
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        body: l.body.into_owned(),
        transport: l.transport,
    };
    Ok((reply, l.id.map(Cow::into_owned)))
}

fn lower(k: Cow<'_, str>) -> Cow<'_, str> {
    if k.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(k.to_ascii_lowercase())
    } else {
        k
    }
}

/// The text of a JSON string literal already checked by serde_json (quotes included): borrowed
/// when it has no escapes. `None` for a `\u` escape that is no character (a lone surrogate).
fn unescape(raw: &str) -> Option<Cow<'_, str>> {
    let inner = &raw[1..raw.len() - 1];
    let b = inner.as_bytes();
    let Some(first) = memchr::memchr(b'\\', b) else {
        return Some(Cow::Borrowed(inner));
    };
    let mut out = String::with_capacity(inner.len());
    let mut start = 0;
    let mut at = first;
    loop {
        out.push_str(&inner[start..at]);
        let esc = b[at + 1];
        start = at + 2;
        match esc {
            b'n' => out.push('\n'),
            b't' => out.push('\t'),
            b'r' => out.push('\r'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'u' => {
                let hex = |i: usize| u32::from_str_radix(inner.get(i..i + 4)?, 16).ok();
                let hi = hex(at + 2)?;
                start = at + 6;
                let c = if (0xD800..0xDC00).contains(&hi) {
                    // A surrogate pair: the low half must follow as a second escape.
                    if b.get(start..start + 2) != Some(b"\\u") {
                        return None;
                    }
                    let lo = hex(start + 2).filter(|lo| (0xDC00..0xE000).contains(lo))?;
                    start += 6;
                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                } else {
                    char::from_u32(hi)?
                };
                out.push(c);
            }
            // `"`, `\\` and `/` stand for themselves.
            other => out.push(other as char),
        }
        match memchr::memchr(b'\\', &b[start..]) {
            Some(p) => at = start + p,
            None => break,
        }
    }
    out.push_str(&inner[start..]);
    Some(Cow::Owned(out))
}

/// What kind of JSON value a raw text is (for error messages).
fn raw_kind(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'n') => "null",
        Some(b't' | b'f') => "a boolean",
        Some(b'"') => "a string",
        Some(b'[') => "an array",
        Some(b'{') => "an object",
        _ => "a number",
    }
}

fn num_text(n: Num) -> String {
    match n {
        Num::U(n) => n.to_string(),
        Num::I(n) => n.to_string(),
        Num::F(f) => {
            serde_json::Number::from_f64(f).map_or_else(|| f.to_string(), |n| n.to_string())
        }
    }
}

fn kind(v: &J) -> &'static str {
    match v {
        J::Null => "null",
        J::Bool(_) => "a boolean",
        J::Number(_) => "a number",
        J::String(_) => "a string",
        J::Array(_) => "an array",
        J::Object(_) => "an object",
    }
}

/// Classifies one line; `Err` carries the reason the line was rejected.
///
/// ```
/// let c = keypool::classify_line::classify_line(r#"{"id":"x","status":402}"#).unwrap();
/// assert_eq!(c.verdict.class, keypool::Class::QuotaExhausted);
/// ```
pub fn classify_line(line: &str) -> Result<Classified, String> {
    let l = parse_line_ref(line)?;
    let verdict = classify_ref(&l.reply());
    Ok(Classified {
        id: l.id.map(Cow::into_owned),
        verdict,
    })
}

/// Classifies one line and appends its output line (with the newline) to `out`; returns
/// whether the line was classified (`false`: an error line was written). `n` is the line's
/// number, from 1, for the error line.
///
/// ```
/// let mut out = Vec::new();
/// assert!(keypool::classify_line::classify_into(&mut out, 1, r#"{"status":429}"#, false));
/// assert_eq!(out, b"{\"class\":\"rate_limit\",\"retry_after_ms\":null}\n");
/// ```
pub fn classify_into(out: &mut Vec<u8>, n: usize, line: &str, explain: bool) -> bool {
    match parse_line_ref(line) {
        Ok(l) => {
            let v = classify_ref(&l.reply());
            write_output(out, l.id.as_deref(), &v, explain);
            true
        }
        Err(e) => {
            write_error(out, n, &e);
            false
        }
    }
}

/// The output line for a classified input (`explain` adds the deciding rule and flags).
pub fn output_line(c: &Classified, explain: bool) -> String {
    let mut out = Vec::new();
    write_output(&mut out, c.id.as_deref(), &c.verdict, explain);
    out.pop();
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The output line for a rejected input line (`n` counts from 1).
pub fn error_line(n: usize, error: &str) -> String {
    let mut out = Vec::new();
    write_error(&mut out, n, error);
    out.pop();
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

fn write_output(out: &mut Vec<u8>, id: Option<&str>, v: &Verdict, explain: bool) {
    out.push(b'{');
    if let Some(id) = id {
        out.extend_from_slice(b"\"id\":");
        json_str(out, id);
        out.push(b',');
    }
    out.extend_from_slice(b"\"class\":\"");
    out.extend_from_slice(v.class.label().as_bytes());
    out.extend_from_slice(b"\",\"retry_after_ms\":");
    match v.retry_after_ms {
        Some(ms) => out.extend_from_slice(ms.to_string().as_bytes()),
        None => out.extend_from_slice(b"null"),
    }
    if explain {
        out.extend_from_slice(b",\"reason\":");
        json_str(out, v.reason);
        out.extend_from_slice(b",\"soft\":");
        out.extend_from_slice(if v.soft { b"true" } else { b"false" });
        out.extend_from_slice(b",\"partial_output\":");
        out.extend_from_slice(if v.partial_output { b"true" } else { b"false" });
    }
    out.extend_from_slice(b"}\n");
}

fn write_error(out: &mut Vec<u8>, n: usize, error: &str) {
    out.extend_from_slice(b"{\"line\":");
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b",\"error\":");
    json_str(out, error);
    out.extend_from_slice(b"}\n");
}

fn json_str(out: &mut Vec<u8>, s: &str) {
    // Most strings (ids read without escapes) need none: copied between quotes.
    if crate::classify::jscan::special(s.as_bytes()).is_none() {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The copied strings and the escaped ones read as serde_json writes them.
        #[test]
        fn strings_are_written_as_serde_json_writes_them(
            s in "[a-z\"\\\u{0}-\u{1f}\u{7f}\u{e9}\u{2028}\u{1F600}]{0,24}"
        ) {
            let mut out = Vec::new();
            json_str(&mut out, &s);
            proptest::prop_assert_eq!(out, serde_json::to_vec(&s).unwrap());
        }
    }

    #[test]
    fn borrowed_and_owned_readings_agree() {
        let line = r#"{"id":"q\"1","status":429,"note":{"x":[1,2]},"headers":{"Retry-After":"3","x":"y"},"body":"{\"error\":{\"message\":\"Rate limit reached\"}}","transport":"http"}"#;
        let l = parse_line_ref(line).unwrap();
        assert!(
            matches!(l.headers[0].0, Cow::Owned(_)),
            "upper case is lowered"
        );
        assert!(matches!(l.headers[1].0, Cow::Borrowed(_)));
        let (r, id) = parse_line(line).unwrap();
        assert_eq!(id.as_deref(), Some("q\"1"));
        assert_eq!(r.header_value("retry-after"), Some("3"));
        let mut out = Vec::new();
        assert!(classify_into(&mut out, 1, line, true));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["id"], "q\"1");
        assert_eq!(v["class"], "rate_limit");
        assert_eq!(v["retry_after_ms"], 3000);
        assert_eq!(
            output_line(&classify_line(line).unwrap(), true).as_bytes(),
            &out[..out.len() - 1]
        );
    }

    #[test]
    fn each_bad_field_is_named() {
        for (line, want) in [
            ("[1]", "not a JSON object"),
            ("{", "not JSON"),
            ("nul", "not JSON"),
            (r#"{"body":""}"#, "missing field `status`"),
            (r#"{"status":99}"#, "field `status`: 99 is not"),
            (r#"{"status":429.5}"#, "field `status`: 429.5 is not"),
            (r#"{"status":-1}"#, "field `status`: -1 is not"),
            (r#"{"status":"429"}"#, "expected an integer, found a string"),
            (
                r#"{"status":429,"headers":[]}"#,
                "field `headers`: expected an object",
            ),
            (
                r#"{"status":429,"headers":{"a":1}}"#,
                "field `headers.a`: expected a string, found a number",
            ),
            (
                r#"{"status":429,"body":{}}"#,
                "field `body`: expected a string, found an object",
            ),
            (r#"{"status":429,"transport":"ws"}"#, "found \"ws\""),
            (r#"{"status":429,"id":7}"#, "field `id`: expected a string"),
            (r#"{"status":429} x"#, "not JSON"),
        ] {
            let e = parse_line_ref(line).unwrap_err();
            assert!(e.contains(want), "{line}: {e}");
        }
        // Bodies are unescaped as serde_json would.
        for body in [
            r#""""#,
            r#""plain""#,
            r#""{\"a\":\"\\n\/\b\f\r\t\u00e9\ud83d\ude00\u0000\"}""#,
            r#""tail\\""#,
            r#""\u2028 é 😀""#,
        ] {
            let line = format!(r#"{{"status":200,"body":{body}}}"#);
            let want: String = serde_json::from_str(body).unwrap();
            assert_eq!(parse_line_ref(&line).unwrap().body, want, "{body}");
        }
        for lone in [
            r#""\ud83d""#,
            r#""\ud83dx""#,
            r#""\ude00""#,
            r#""\ud83d\u0041""#,
        ] {
            let line = format!(r#"{{"status":200,"body":{lone}}}"#);
            assert!(parse_line_ref(&line).is_err(), "{lone}");
        }
        // The last of a repeated field wins; unknown fields are skipped whatever they hold.
        let l = parse_line_ref(r#"{"status":500,"x":{"deep":[[[]]]},"status":402}"#).unwrap();
        assert_eq!(l.status, 402);
    }
}
