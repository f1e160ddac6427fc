//! The scenario file format (`scenarios/*.json`). Documented in `docs/scenario-format.md`;
//! `keypool schema` prints its JSON Schema. Unknown fields are errors everywhere.

use crate::class::Class;
use crate::pool::Strategy;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short unique name; the test is named after it.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// Seed of the run's RNG (jitter, `random` strategy).
    #[serde(default)]
    pub seed: u64,
    /// Latency of a reply when a step gives none (ms).
    #[serde(
        default = "default_latency",
        skip_serializing_if = "is_default_latency"
    )]
    pub latency_ms: u64,
    /// The chain: the primary provider first, then fallbacks.
    pub providers: Vec<ProviderDef>,
    /// `{"preset": NAME, ...overrides}`; absent: the reference policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(schema_with = "policy_schema"))]
    pub policy: Option<serde_json::Value>,
    /// When requests arrive.
    pub workload: Workload,
    /// What must happen under the scenario's own policy.
    #[serde(default)]
    pub expect: Expect,
    /// Per mutant preset: what it must violate when it replaces the scenario's preset.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mutants: BTreeMap<String, MutantExpect>,
}

fn default_latency() -> u64 {
    50
}

fn is_default_latency(v: &u64) -> bool {
    *v == 50
}

#[cfg(feature = "schema")]
fn policy_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    // Overrides: the policy's fields, every one optional, plus the preset name.
    let preset = g.subschema_for::<String>().to_value();
    let reference = g.subschema_for::<crate::policy::Policy>();
    let Some(mut s) = g.definitions().get("Policy").cloned() else {
        return reference;
    };
    if let Some(obj) = s.as_object_mut() {
        obj.remove("required");
        if let Some(props) = obj.get_mut("properties").and_then(|p| p.as_object_mut()) {
            props.insert("preset".into(), preset);
        }
    }
    schemars::Schema::try_from(s).unwrap_or(reference)
}

/// One provider of the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProviderDef {
    /// Name shown in traces.
    pub name: String,
    /// How its keys are chosen.
    #[serde(default)]
    pub strategy: Strategy,
    /// Its keys.
    pub keys: Vec<KeyDef>,
    /// Only for requests that stopped on one of these classes (a content-policy or
    /// bigger-context fallback). Absent: a generic fallback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_for: Option<Vec<Class>>,
}

/// One key and what its upstream answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct KeyDef {
    /// Label shown everywhere.
    pub label: String,
    /// The secret (never printed; only its label and fingerprint are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Lower comes first.
    #[serde(default)]
    pub priority: i64,
    /// Keys of one account share quota and rate-limit benches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// The replies this key gets, in order; the last step repeats. Default: `["ok"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub script: Vec<Step>,
}

/// One script step: a template name, or an object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Step {
    /// A template name, once (forever when last).
    Template(String),
    /// Full control (boxed: a step object is much bigger than a name).
    Full(Box<StepDef>),
}

impl From<&str> for Step {
    fn from(name: &str) -> Step {
        Step::Template(name.to_owned())
    }
}

impl From<StepDef> for Step {
    fn from(d: StepDef) -> Step {
        Step::Full(Box::new(d))
    }
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Step;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a template name or a step object")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Step, E> {
                Ok(Step::Template(s.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, m: A) -> Result<Step, A::Error> {
                StepDef::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(|d| Step::Full(Box::new(d)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A script step: a template (with parameters) or a raw reply, and how often it repeats.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    /// A template name (see `keypool templates`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// For templates that say a wait in their body: seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_s: Option<f64>,
    /// Raw reply: HTTP status (overrides a template's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Raw reply: headers, added to (or replacing) a template's.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "header_values"
    )]
    pub headers: BTreeMap<String, String>,
    /// Raw reply: the body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Raw reply: SSE events, each one event's lines (`data: {...}`); sent as a 200 stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<Vec<String>>,
    /// Shorthand for a `retry-after` header, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<f64>,
    /// Shorthand for a `retry-after-ms` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// Repeat this many times (default 1; the last step repeats forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
    /// Repeat until this virtual time (ms), then go on: "401 for 1 h, then ok".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
    /// Latency of this reply: the delay before its headers (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// The headers are sent, then this long passes before the first byte of the body (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_byte_ms: Option<u64>,
    /// Delay between the pieces of the body: SSE events, or the two halves of a whole body (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gap_ms: Option<u64>,
    /// After this many pieces nothing more is sent, until the client gives up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_after: Option<u32>,
    /// After this many pieces the connection closes: no terminating chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_after: Option<u32>,
    /// The connection closes before any byte of the reply (no status line).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
    /// This piece (0-based; the last one when there are fewer) is sent as malformed JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub malformed_at: Option<u32>,
    /// A stream's last event (`data: [DONE]`, `message_stop`, `response.completed`, the closing
    /// `]`) is not sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_terminator: bool,
}

/// When requests arrive: explicit times, or `count` requests every `every_ms`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Arrival times (ms).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub at_ms: Vec<u64>,
    /// Number of evenly spaced requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Spacing of those requests (ms); 0 makes them all concurrent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_ms: Option<u64>,
    /// First arrival of those requests (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ms: Option<u64>,
    /// The API every request calls; absent: each template's own shape (the reply exactly as
    /// `keypool templates` describes it). With `api` or `stream`, every scripted step is written
    /// in that API and framing, as `keypool serve` writes it for such a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<crate::dialect::Dialect>,
    /// Requests ask for a streamed answer (SSE).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// It succeeded.
    Success,
    /// It failed.
    Failed,
}

/// Expectations on one request (or on every request).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RequestExpect {
    /// Which request (0-based, in arrival order). Absent under `every_request`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<u32>,
    /// Success or failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<OutcomeKind>,
    /// The class that ended it (`success` for a success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<Class>,
    /// The keys of its attempts, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
    /// The keys of its attempts, as a set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_set: Option<Vec<String>>,
    /// Number of attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// The lengths of its waits, in order (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waits_ms: Option<Vec<u64>>,
    /// A failure carries this ready time (ms); `null` asserts it carries none.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub ready_at_ms: Option<Option<u64>>,
    /// The provider that served its last attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
}

/// Expectations on one key at the end of the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct KeyExpect {
    /// Attempts it served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Requests whose first attempt it served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u32>,
    /// `ready`, `benched` or `disabled` at the end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<KeyStateName>,
}

/// A key state, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyStateName {
    /// Selectable.
    Ready,
    /// Benched until a time.
    Benched,
    /// Disabled (probes included).
    Disabled,
}

/// What must happen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Per request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requests: Vec<RequestExpect>,
    /// For every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_request: Option<RequestExpect>,
    /// Per key label.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub keys: BTreeMap<String, KeyExpect>,
    /// Total upstream calls of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_attempts: Option<u32>,
    /// Invariants not checked in this scenario (default: all are).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_invariants: Vec<String>,
    /// Invariants the scenario's own policy must break, exactly (a gateway preset pinned to
    /// its measured behaviour, bugs included): one declared that does not break is a failure,
    /// and so is one that breaks undeclared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violates: Vec<String>,
}

/// What a mutant must violate: invariant names, and `expect` for the scenario's expectations.
/// The set must match exactly: a declared violation that does not happen is a failure, and so
/// is one that happens undeclared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MutantExpect {
    /// Names of what breaks.
    pub violates: Vec<String>,
}

/// Header values as text; a number (`"retry-after": 20`) is its text.
fn header_values<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Value {
        Text(String),
        Int(i64),
        Float(f64),
    }
    let m = BTreeMap::<String, Value>::deserialize(d)?;
    Ok(m.into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::Text(s) => s,
                Value::Int(i) => i.to_string(),
                Value::Float(f) => f.to_string(),
            };
            (k, v)
        })
        .collect())
}

/// A field that may be `null` on purpose: present means `Some`, whatever its value, so
/// `"ready_at_ms": null` asserts "no ready time" instead of reading as absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}
