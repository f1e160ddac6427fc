//! A fast path for the commonest error bodies: a flat error object under `error`, as OpenAI,
//! Gemini and their clones send it (`{"error":{"message":..,"type":..,"param":..,"code":..}}`),
//! and as Anthropic wraps it (`{"type":"error","error":{..},"request_id":..}`).
//!
//! It reads the document in one pass, without building the object tree, into the same
//! [`ErrorFound`] the general reader ([`inspect`](super::json::inspect)) builds, through the
//! same per-key reader (`read_error_key`): the same text in the same order, the same codes. Anything else (another key, a nested value where a
//! scalar is read, a repeated key, JSON inside the message) makes it give up, and the caller
//! reads the body the general way. `classify::fast_paths_agree` (run by the fuzz target and
//! the property tests) holds the two to the same verdicts.

use super::json::{push_scalar, read_error_key, ErrorFound, Inspect};
use super::jvalue::J;
use super::seen::Seen;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// What a flat error envelope says, or `None` when `text` is not one.
pub(crate) fn read(text: &str) -> Option<Inspect> {
    let head = text.trim_start().strip_prefix('{')?.trim_start();
    if !(head.starts_with("\"error\"") || head.starts_with("\"type\"")) {
        return None;
    }
    let env = match scan(text) {
        Scanned::Env(env) => env,
        Scanned::Refused => return None,
        Scanned::Unsure => {
            let mut de = serde_json::Deserializer::from_str(text);
            let env = Envelope.deserialize(&mut de).ok()?;
            de.end().ok()?;
            env
        }
    };
    let Fields {
        message,
        kind,
        code,
        status,
    } = env.error?;
    let flat = |v: &Option<J>| !matches!(v, Some(J::Object(_) | J::Array(_)));
    if !(flat(&message) && flat(&kind) && flat(&code) && flat(&status)) {
        return None;
    }
    if matches!(&message, Some(J::String(m)) if memchr::memchr(b'{', m.as_bytes()).is_some()) {
        // Errors wrapped as JSON text are unwrapped by the general reader.
        return None;
    }
    // In the general reader's order (`ERROR_TEXT_KEYS`): type, code, status, message; then
    // the envelope's own `type`, a sibling of the error object.
    let mut f = ErrorFound::default();
    for (key, v) in [
        ("type", &kind),
        ("code", &code),
        ("status", &status),
        ("message", &message),
    ] {
        if let Some(v) = v {
            read_error_key(v, &mut f, key);
        }
    }
    if env.typed {
        push_scalar(&J::String(Cow::Borrowed("error")), &mut f, "type");
    }
    Some(Inspect {
        error: Some(f),
        ..Inspect::default()
    })
}

/// What the byte scanner made of a document.
#[derive(Debug, PartialEq)]
enum Scanned<'a> {
    /// A flat envelope, read as serde_json would read it.
    Env(Env<'a>),
    /// Surely no flat envelope: a key the serde visitors refuse (unknown or repeated) or a
    /// top-level `type` other than `"error"`, after a prefix serde_json reads the same way.
    Refused,
    /// Something the scanner does not read (an escape, another number, a nested value):
    /// serde_json decides.
    Unsure,
}

/// The envelope read byte by byte, for the plainest documents only: strings without escapes,
/// `null`, `true`, `false` and small non-negative integers as values. It answers only where
/// serde_json would read the same values, and refuses only where the serde visitors would.
fn scan(text: &str) -> Scanned<'_> {
    let mut s = Scan {
        str: text,
        text: text.as_bytes(),
        at: 0,
        refused: false,
    };
    let mut env = Env {
        error: None,
        typed: false,
    };
    let mut seen = (false, false, false);
    let read = s.object(|s, key| {
        match key {
            "error" if !seen.0 => {
                seen.0 = true;
                let mut out = Fields::default();
                let mut param = false;
                s.object(|s, key| {
                    let slot = match key {
                        "message" => &mut out.message,
                        "type" => &mut out.kind,
                        "code" => &mut out.code,
                        "status" => &mut out.status,
                        "param" if !param => {
                            param = true;
                            s.scalar()?;
                            return Some(());
                        }
                        _ => return s.refuse(),
                    };
                    if slot.is_some() {
                        return s.refuse();
                    }
                    *slot = Some(s.scalar()?);
                    Some(())
                })?;
                env.error = Some(out);
            }
            "type" if !seen.1 => {
                seen.1 = true;
                match s.scalar()? {
                    J::String(t) if t == "error" => env.typed = true,
                    _ => return s.refuse(),
                }
            }
            "request_id" if !seen.2 => {
                seen.2 = true;
                s.scalar()?;
            }
            _ => return s.refuse(),
        }
        Some(())
    });
    if s.refused {
        return Scanned::Refused;
    }
    s.ws();
    if read.is_none() || s.at != text.len() {
        return Scanned::Unsure;
    }
    Scanned::Env(env)
}

/// A cursor over a document for [`scan`].
struct Scan<'a> {
    str: &'a str,
    text: &'a [u8],
    at: usize,
    /// Set where the serde visitors would refuse the document too.
    refused: bool,
}

impl<'a> Scan<'a> {
    /// Stops the scan: no flat envelope, whoever reads it.
    fn refuse(&mut self) -> Option<()> {
        self.refused = true;
        None
    }

    fn ws(&mut self) {
        while matches!(self.text.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.ws();
        (self.text.get(self.at) == Some(&b)).then(|| self.at += 1)
    }

    /// `{ "key": value, ... }`, each member read by `member`.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.eat(b':')?;
            self.ws();
            member(self, key)?;
            self.ws();
            match self.text.get(self.at)? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string without escapes or control characters, borrowed.
    fn string(&mut self) -> Option<&'a str> {
        if self.text.get(self.at) != Some(&b'"') {
            return None;
        }
        let start = self.at + 1;
        // The first quote, backslash or control character must be the closing quote.
        let len = super::jscan::special(&self.text[start..])?;
        if self.text[start + len] != b'"' {
            return None;
        }
        self.at = start + len + 1;
        // The quotes are ASCII, so the slice falls on character boundaries.
        self.str.get(start..start + len)
    }

    /// A string, `null`, `true`, `false` or a non-negative integer of up to 18 digits.
    fn scalar(&mut self) -> Option<J<'a>> {
        let rest = &self.text[self.at..];
        let (value, len) = match rest.first()? {
            b'"' => return self.string().map(|t| J::String(Cow::Borrowed(t))),
            b'n' if rest.starts_with(b"null") => (J::Null, 4),
            b't' if rest.starts_with(b"true") => (J::Bool(true), 4),
            b'f' if rest.starts_with(b"false") => (J::Bool(false), 5),
            b'0'..=b'9' => {
                let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                if digits > 18 || (digits > 1 && rest[0] == b'0') {
                    return None;
                }
                let n = rest[..digits]
                    .iter()
                    .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
                (J::Number(super::jvalue::Num::U(n)), digits)
            }
            _ => return None,
        };
        // A value ends where the member does: a fraction, exponent or longer word is not ours.
        match rest.get(len) {
            None | Some(b' ' | b'\t' | b'\n' | b'\r' | b',' | b'}') => {
                self.at += len;
                Some(value)
            }
            _ => None,
        }
    }
}

fn give_up<E: de::Error>() -> E {
    E::custom("not a flat error envelope")
}

#[derive(Debug, Default, PartialEq)]
struct Fields<'a> {
    message: Option<J<'a>>,
    kind: Option<J<'a>>,
    code: Option<J<'a>>,
    status: Option<J<'a>>,
}

#[derive(Debug, PartialEq)]
struct Env<'a> {
    error: Option<Fields<'a>>,
    /// The envelope carried `"type": "error"` (Anthropic).
    typed: bool,
}

struct Envelope;

impl<'de> DeserializeSeed<'de> for Envelope {
    type Value = Env<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Env<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Envelope {
    type Value = Env<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an error envelope")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Env<'de>, A::Error> {
        let mut env = Env {
            error: None,
            typed: false,
        };
        let mut seen = Seen::default();
        while let Some(k) = map.next_key::<&str>()? {
            seen.first(k)?;
            match k {
                "error" => env.error = Some(map.next_value_seed(Flat)?),
                // Any other `type` at the top is a stream event or an answer.
                "type" => match map.next_value::<J>()? {
                    J::String(t) if t == "error" => env.typed = true,
                    _ => return Err(give_up()),
                },
                "request_id" => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => return Err(give_up()),
            }
        }
        Ok(env)
    }
}

/// The error object: only flat keys the general reader reads the same way.
struct Flat;

impl<'de> DeserializeSeed<'de> for Flat {
    type Value = Fields<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Fields<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Flat {
    type Value = Fields<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a flat error object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut out = Fields::default();
        let mut seen = Seen::default();
        while let Some(k) = map.next_key::<&str>()? {
            seen.first(k)?;
            let slot = match k {
                "message" => &mut out.message,
                "type" => &mut out.kind,
                "code" => &mut out.code,
                "status" => &mut out.status,
                // Never read by the general reader.
                "param" => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
                _ => return Err(give_up()),
            };
            *slot = Some(map.next_value::<J>()?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Reply;
    use proptest::prelude::*;

    /// Whenever the fast path answers, the general reader gives the same verdict, at every
    /// status a provider sends errors with; true when it answered.
    fn agrees(text: &str) -> Result<bool, TestCaseError> {
        for status in [200, 400, 401, 402, 403, 429, 500, 503, 529] {
            let reply = Reply::new(status, text).header("retry-after-ms", "");
            if let Err(e) = super::super::fast_paths_agree(&reply) {
                return Err(TestCaseError::fail(format!("{e}: {text}")));
            }
        }
        Ok(read(text).is_some())
    }

    fn scalar() -> BoxedStrategy<String> {
        prop::sample::select(vec![
            "null",
            "429",
            "503",
            "1113",
            "-1",
            "2.5",
            "true",
            "\"429\"",
            "\"1302\"",
            "\"\"",
            "\"insufficient_quota\"",
            "\"rate_limit_exceeded\"",
            "\"overloaded_error\"",
            "\"invalid_api_key\"",
            "\"RESOURCE_EXHAUSTED\"",
            "\"UNAVAILABLE\"",
            "\"Rate limit reached on tokens per min (TPM). Please try again in 1.8s.\"",
            "\"You exceeded your current quota, please check your plan and billing details.\"",
            "\"Your credit balance is too low\"",
            "\"Overloaded\"",
            "\"quota resets on 2026-11-26T00:00:00Z\"",
            "\"wrapped {\\\"error\\\":{\\\"code\\\":\\\"insufficient_quota\\\"}}\"",
            "\"caf\\u00e9 retry after 5 seconds\"",
            "{}",
            "[]",
            // Values the byte scanner must leave to serde_json, or read exactly as it does.
            "0",
            "007",
            "-0",
            "1e3",
            "429.0",
            "18446744073709551615",
            "123456789012345678",
            "nul",
            "nullx",
            "\"tab\there\"",
            "\"line\\nbreak\"",
            " \"spaced\" ",
        ])
        .prop_map(str::to_owned)
        .boxed()
    }

    fn object(keys: &'static [&'static str]) -> BoxedStrategy<String> {
        proptest::collection::vec((prop::sample::select(keys), scalar()), 0..5)
            .prop_map(|kv| {
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", body.join(","))
            })
            .boxed()
    }

    fn envelope() -> BoxedStrategy<String> {
        let error = object(&[
            "message", "type", "code", "status", "param", "details", "message",
        ]);
        let top = prop_oneof![
            3 => error.clone().prop_map(|e| format!("{{\"error\":{e}}}")),
            2 => error.clone().prop_map(|e| format!("{{\"type\":\"error\",\"error\":{e},\"request_id\":\"req_1\"}}")),
            1 => (error, prop::sample::select(vec!["\"type\":\"message\"", "\"status\":\"failed\"", "\"code\":429", "\"error\":null", "\"request_id\":1"]))
                .prop_map(|(e, extra)| format!("{{\"error\":{e},{extra}}}")),
        ];
        top.boxed()
    }

    /// The envelope as serde_json reads it.
    fn by_serde(text: &str) -> Option<Env<'_>> {
        let mut de = serde_json::Deserializer::from_str(text);
        let env = Envelope.deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(env)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]
        #[test]
        fn fast_path_agrees_with_the_general_reader(text in envelope()) {
            agrees(&text)?;
        }

        /// Whenever the byte scanner answers, serde_json reads the same envelope; whenever it
        /// refuses, the serde visitors refuse too.
        #[test]
        fn the_byte_scanner_reads_what_serde_json_reads(text in envelope()) {
            match scan(&text) {
                Scanned::Env(fast) => prop_assert_eq!(Some(fast), by_serde(&text), "{}", text),
                Scanned::Refused => prop_assert_eq!(None, by_serde(&text), "{}", text),
                Scanned::Unsure => {}
            }
        }
    }

    #[test]
    fn the_byte_scanner_leaves_the_rest_to_serde_json() {
        let read = [
            r#"{"error":{"message":"Overloaded","type":"overloaded_error","param":null,"code":529}}"#,
            "{ \"type\" : \"error\" ,\n\"error\":{\"message\":\"x\"},\"request_id\":\"req_1\"}\r\n",
            r#"{"error":{"code":0,"status":true,"type":false}}"#,
        ];
        for text in read {
            let Scanned::Env(fast) = scan(text) else {
                panic!("{text}");
            };
            assert_eq!(Some(fast), by_serde(text), "{text}");
        }
        let refused = [
            r#"{"error":{"message":"x","message":"y"}}"#,
            r#"{"error":{"message":"x"},"error":{}}"#,
            r#"{"error":{"message":"x","details":[]}}"#,
            r#"{"type":"message","error":{}}"#,
            r#"{"id":"resp_1","error":{}}"#,
        ];
        for text in refused {
            assert_eq!(scan(text), Scanned::Refused, "{text}");
            assert!(by_serde(text).is_none(), "{text}");
        }
        let left = [
            r#"{"error":{"message":"a\"b"}}"#,
            r#"{"error":{"message":"caf\u00e9"}}"#,
            "{\"error\":{\"message\":\"tab\there\"}}",
            r#"{"error":{"code":-1}}"#,
            r#"{"error":{"code":1.5}}"#,
            r#"{"error":{"code":1e3}}"#,
            r#"{"error":{"code":007}}"#,
            r#"{"error":{"code":12345678901234567890}}"#,
            r#"{"error":{"message":"x"}} trailing"#,
            r#"{"error":{"message":"x"},}"#,
            r#"{"error":{"message":nullx}}"#,
            r#"{"error":null}"#,
            r#"{"error":{"message":"x"},"request_id":{"a":1}}"#,
        ];
        for text in left {
            assert_eq!(scan(text), Scanned::Unsure, "{text}");
        }
    }

    #[test]
    fn reads_the_usual_envelopes_and_gives_up_on_the_rest() {
        for text in [
            r#"{"error":{"message":"Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 29800, Requested 900. Please try again in 1.8s.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#,
            r#"{"error":{"code":503,"message":"This model is currently experiencing high demand.","status":"UNAVAILABLE"}}"#,
            r#"{"error":{"message":"余额不足","code":"1113"}}"#,
        ] {
            assert!(agrees(text).unwrap(), "{text}");
        }
        for text in [
            r#"{"error":{"message":"x","details":[{"reason":"RATE_LIMIT_EXCEEDED"}]}}"#,
            r#"{"error":{"message":"x","metadata":{"raw":"y","provider_name":"p"}}}"#,
            r#"{"error":{"message":"x"},"status":"failed"}"#,
            r#"{"error":{"message":"x","message":"y"}}"#,
            r#"{"error":{"message":"upstream: {\"error\":{\"code\":\"insufficient_quota\"}}"}}"#,
            r#"{"error":"plain text"}"#,
            r#"{"type":"message","error":{}}"#,
        ] {
            assert!(read(text).is_none(), "{text}");
            agrees(text).unwrap();
        }
    }
}
