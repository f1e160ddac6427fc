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
    let mut de = serde_json::Deserializer::from_str(text);
    let env = Envelope.deserialize(&mut de).ok()?;
    de.end().ok()?;
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
    if matches!(&message, Some(J::String(m)) if m.contains('{')) {
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

fn give_up<E: de::Error>() -> E {
    E::custom("not a flat error envelope")
}

#[derive(Default)]
struct Fields<'a> {
    message: Option<J<'a>>,
    kind: Option<J<'a>>,
    code: Option<J<'a>>,
    status: Option<J<'a>>,
}

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

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1_000))]
        #[test]
        fn fast_path_agrees_with_the_general_reader(text in envelope()) {
            agrees(&text)?;
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
