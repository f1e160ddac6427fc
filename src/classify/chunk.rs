//! A fast path for the commonest JSON a classifier sees: an OpenAI-style chat answer or stream
//! chunk (`{"id":..,"object":"chat.completion.chunk","choices":[{"delta":{"content":..}}]}`).
//!
//! It reads the document in one pass without building a tree, and gives exactly what
//! [`inspect`](super::json::inspect) gives for it. Anything it does not know (another key, a
//! duplicate key, content parts, an error, an escaped key) makes it give up, and the caller
//! reads the document the general way; so it can only be faster, never different. The
//! property test below and the fuzz target hold it to that.

use super::json::Inspect;
use super::seen::Seen;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// What one chat chunk says, or `None` when it is not a plain chat chunk.
pub(crate) fn read(text: &str) -> Option<Inspect> {
    read_with(text, true)
}

/// [`read`] for one stream event's data. Chunks are short and nearly always chat chunks, so
/// the search for `choices` would cost more than it saves.
pub(crate) fn read_chunk(text: &str) -> Option<Inspect> {
    read_with(text, false)
}

fn read_with(text: &str, search: bool) -> Option<Inspect> {
    // Cheap refusal of documents that are surely something else (errors, other providers).
    let head = text.trim_start().strip_prefix('{')?.trim_start();
    if !(head.starts_with("\"id\"")
        || head.starts_with("\"object\"")
        || head.starts_with("\"choices\""))
    {
        return None;
    }
    // A body that never says `choices` (a Responses object, an error under an id) is no chat
    // answer and goes to the general reader anyway: refusing it costs one SIMD search, where
    // giving up midway costs building a serde error.
    static CHOICES: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"choices\""));
    if search && CHOICES.find(text.as_bytes()).is_none() {
        return None;
    }

    let mut de = serde_json::Deserializer::from_str(text);
    let flags = Top.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(Inspect {
        known_shape: true,
        output: flags.output,
        terminal: flags.terminal,
        failed_finish: flags.failed_finish,
        policy: flags.policy,
        ..Inspect::default()
    })
}

#[derive(Default)]
struct Flags {
    output: bool,
    terminal: bool,
    failed_finish: bool,
    policy: Option<&'static str>,
    /// The choices array had an element.
    any_choice: bool,
}

fn give_up<E: de::Error>() -> E {
    E::custom("not a plain chat chunk")
}

struct Top;

impl<'de> DeserializeSeed<'de> for Top {
    type Value = Flags;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Flags, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Top {
    type Value = Flags;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a chat chunk")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Flags, A::Error> {
        let mut flags = Flags::default();
        let mut seen = Seen::default();
        let mut prompt_filters = false;
        while let Some(k) = map.next_key::<&str>()? {
            seen.first(k)?;
            match k {
                // Keys the tree reader never reads at the top of a chat answer.
                "id" | "created" | "model" | "system_fingerprint" | "usage" | "service_tier"
                | "provider" => {
                    map.next_value::<IgnoredAny>()?;
                }
                "object" => {
                    // `error` and `response` objects are read otherwise.
                    let ok = map.next_value_seed(Str(|s: &str| s != "error" && s != "response"))?;
                    if ok != Some(true) {
                        return Err(give_up());
                    }
                }
                "choices" => {
                    map.next_value_seed(Choices(&mut flags))?;
                }
                // Azure's prompt filter verdicts: read by the tree reader only when there is
                // no choice (a prompt refused before any answer).
                "prompt_filter_results" => {
                    map.next_value::<IgnoredAny>()?;
                    prompt_filters = true;
                }
                _ => return Err(give_up()),
            }
        }
        if !seen.has("choices") || (prompt_filters && !flags.any_choice) {
            return Err(give_up());
        }
        Ok(flags)
    }
}

/// A string read by `f`, `None` for null; anything else gives up.
struct Str<F>(F);

impl<'de, T, F: FnOnce(&str) -> T> DeserializeSeed<'de> for Str<F> {
    type Value = Option<T>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<T>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, T, F: FnOnce(&str) -> T> Visitor<'de> for Str<F> {
    type Value = Option<T>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string or null")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<T>, E> {
        Ok(Some((self.0)(s)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
        Ok(None)
    }
}

/// An array: whether it has elements; null is `Some(false)`... anything else gives up.
struct NonEmptyArray;

impl<'de> DeserializeSeed<'de> for NonEmptyArray {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NonEmptyArray {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array or null")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut any = false;
        while seq.next_element::<IgnoredAny>()?.is_some() {
            any = true;
        }
        Ok(any)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
}

struct Choices<'f>(&'f mut Flags);

impl<'de> DeserializeSeed<'de> for Choices<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Choices<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of choices")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(c) = seq.next_element_seed(Choice)? {
            // In the tree reader's order: output, refusal, then the finish reason.
            let f = &mut *self.0;
            f.any_choice = true;
            f.output |= c.output;
            if c.refusal {
                f.policy = Some("chat: refusal");
            }
            if let Some(fr) = c.finish {
                f.terminal = true;
                match fr {
                    Finish::Policy => f.policy = Some("chat: finish_reason content_filter"),
                    Finish::Error => f.failed_finish = true,
                    Finish::Other => {}
                }
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Finish {
    Policy,
    Error,
    Other,
}

#[derive(Default)]
struct ChoiceFlags {
    output: bool,
    refusal: bool,
    finish: Option<Finish>,
}

struct Choice;

impl<'de> DeserializeSeed<'de> for Choice {
    type Value = ChoiceFlags;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ChoiceFlags, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Choice {
    type Value = ChoiceFlags;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a choice")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ChoiceFlags, A::Error> {
        let mut out = ChoiceFlags::default();
        let mut seen = Seen::default();
        while let Some(k) = map.next_key::<&str>()? {
            // `message` wins over `delta` in the tree reader: both at once count as a repeat.
            seen.first(if k == "delta" { "message" } else { k })?;
            match k {
                // Azure's per-choice filter verdicts are not read: its finish reason says it.
                "index" | "logprobs" | "native_finish_reason" | "content_filter_results" => {
                    map.next_value::<IgnoredAny>()?;
                }
                "delta" | "message" => {
                    let (output, refusal) = map.next_value_seed(Message)?;
                    out.output |= output;
                    out.refusal = refusal;
                }
                "finish_reason" => {
                    out.finish = map.next_value_seed(Str(|fr: &str| match fr {
                        "content_filter" | "safety" | "refusal" => Finish::Policy,
                        "error" => Finish::Error,
                        _ => Finish::Other,
                    }))?;
                }
                _ => return Err(give_up()),
            }
        }
        Ok(out)
    }
}

struct Message;

impl<'de> DeserializeSeed<'de> for Message {
    type Value = (bool, bool);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(bool, bool), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Message {
    type Value = (bool, bool);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a message or delta")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(bool, bool), A::Error> {
        let (mut output, mut refusal) = (false, false);
        let mut seen = Seen::default();
        let nonempty = |s: &str| !s.trim().is_empty();
        while let Some(k) = map.next_key::<&str>()? {
            seen.first(k)?;
            match k {
                "role" | "reasoning" | "reasoning_content" | "annotations" => {
                    map.next_value::<IgnoredAny>()?;
                }
                "content" => {
                    output |= map.next_value_seed(Str(nonempty))? == Some(true);
                }
                "refusal" => {
                    refusal = map.next_value_seed(Str(nonempty))? == Some(true);
                }
                "tool_calls" | "images" => {
                    output |= map.next_value_seed(NonEmptyArray)?;
                }
                _ => return Err(give_up()),
            }
        }
        Ok((output, refusal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Whenever the fast path answers, the tree reader agrees, on its own flags and on the
    /// verdict of a 200 and a 500 carrying it; true when it answered.
    fn agrees(text: &str) -> Result<bool, TestCaseError> {
        for status in [200, 500] {
            let reply = crate::Reply::new(status, text);
            if let Err(e) = super::super::fast_paths_agree(&reply) {
                return Err(TestCaseError::fail(format!("{e}: {text}")));
            }
        }
        let Some(fast) = read(text) else {
            return Ok(false);
        };
        let tree = super::super::jvalue::parse(text).expect("the fast path read valid JSON");
        let slow = super::super::json::inspect(&tree);
        let flags = |i: &Inspect| {
            (
                i.known_shape,
                i.output,
                i.terminal,
                i.failed_finish,
                i.policy,
                i.cancelled,
            )
        };
        prop_assert_eq!(flags(&fast), flags(&slow), "{}", text);
        prop_assert!(slow.error.is_none(), "{}", text);
        Ok(true)
    }

    fn text() -> BoxedStrategy<String> {
        prop::sample::select(vec![
            "null",
            "\"\"",
            "\"  \"",
            "\"Hi\"",
            "\"a\\\"b\"",
            "\"stop\"",
            "\"length\"",
            "\"content_filter\"",
            "\"safety\"",
            "\"refusal\"",
            "\"error\"",
            "\"response\"",
            "\"chat.completion.chunk\"",
        ])
        .prop_map(str::to_owned)
        .boxed()
    }

    /// Odd values: the fast path must give up on them, or agree.
    fn odd() -> BoxedStrategy<String> {
        prop::sample::select(vec![
            "3",
            "[]",
            "{}",
            "[{\"type\":\"function\"}]",
            "[{\"type\":\"text\",\"text\":\"x\"}]",
            "[{\"prompt_index\":0,\"content_filter_results\":{\"hate\":{\"filtered\":true}}}]",
            "[{\"content_filter_results\":{\"sexual\":{\"filtered\":false}}}]",
        ])
        .prop_map(str::to_owned)
        .boxed()
    }

    /// An object of distinct `keys` with values of the usual kind, sometimes with an odd key
    /// (possibly a repeat) added.
    fn object(
        keys: Vec<(&'static str, BoxedStrategy<String>)>,
        odd_keys: &'static [&'static str],
    ) -> BoxedStrategy<String> {
        let n = keys.len();
        let members = prop::sample::subsequence((0..n).collect::<Vec<_>>(), 0..=n).prop_flat_map(
            move |idx| {
                idx.into_iter()
                    .map(|i| {
                        let (k, v) = keys[i].clone();
                        v.prop_map(move |v| (k, v))
                    })
                    .collect::<Vec<_>>()
            },
        );
        let extra = proptest::option::weighted(
            0.15,
            (prop::sample::select(odd_keys), prop_oneof![text(), odd()]),
        );
        (members, extra)
            .prop_map(|(mut kv, extra)| {
                kv.extend(extra);
                let body: Vec<String> = kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", body.join(","))
            })
            .boxed()
    }

    fn chunk() -> BoxedStrategy<String> {
        let msg = object(
            vec![
                ("role", text()),
                ("content", prop_oneof![6 => text(), 1 => odd()].boxed()),
                ("refusal", text()),
                ("tool_calls", prop_oneof![text(), odd()].boxed()),
            ],
            &["images", "function_call", "reasoning", "audio"],
        );
        let choice = object(
            vec![
                ("index", Just("0".to_owned()).boxed()),
                ("delta", msg.clone()),
                ("message", msg),
                ("finish_reason", text()),
            ],
            &[
                "text",
                "error",
                "logprobs",
                "index",
                "content_filter_results",
            ],
        );
        let choices = proptest::collection::vec(choice, 0..3)
            .prop_map(|c| format!("[{}]", c.join(",")))
            .boxed();
        let top = object(
            vec![
                ("choices", choices),
                ("object", text()),
                ("model", text()),
                ("prompt_filter_results", odd()),
            ],
            &[
                "error",
                "type",
                "status",
                "usage",
                "choices",
                "prompt_filter_results",
            ],
        );
        (text(), top)
            .prop_map(|(id, top)| {
                format!(
                    "{{\"id\":{id}{}{}",
                    if top.len() > 2 { "," } else { "" },
                    &top[1..]
                )
            })
            .boxed()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]
        #[test]
        fn fast_path_agrees_with_the_tree_reader(text in chunk()) {
            agrees(&text)?;
        }
    }

    #[test]
    fn reads_the_usual_chunks_and_gives_up_on_the_rest() {
        for text in [
            r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#,
            r#"{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"stop"}],"usage":{"total_tokens":3}}"#,
            r#"{"id":"c","choices":[{"index":0,"delta":{"refusal":"No."},"finish_reason":"content_filter"}]}"#,
            // Azure: filter verdicts per choice, and for the prompt beside a choice.
            r#"{"choices":[{"content_filter_results":{"sexual":{"filtered":true,"severity":"medium"}},"delta":{},"finish_reason":"content_filter","index":0}],"id":"c","object":"chat.completion.chunk"}"#,
            r#"{"choices":[{"delta":{"content":"Hi"},"index":0}],"id":"c","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":true}}}]}"#,
        ] {
            assert!(agrees(text).unwrap(), "{text}");
        }
        // Without a choice the prompt's verdicts decide: the tree reader reads them.
        let refused = r#"{"choices":[],"id":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{"hate":{"filtered":true}}}]}"#;
        assert!(!agrees(refused).unwrap(), "{refused}");
        for text in [
            r#"{"error":{"message":"x"}}"#,
            r#"{"id":"c","object":"error","choices":[]}"#,
            r#"{"id":"c","choices":[{"delta":{"content":[{"type":"text","text":"x"}]}}]}"#,
            r#"{"id":"c","choices":[],"choices":[{"delta":{"content":"x"}}]}"#,
            r#"{"id":"c","choices":[{"error":{"message":"boom"}}]}"#,
        ] {
            assert!(read(text).is_none(), "{text}");
        }
    }
}
