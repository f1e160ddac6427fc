//! The failover policy: every number and choice of `docs/reference-policy.md` as a
//! field, so a preset can reproduce another gateway's behaviour, bugs included.

mod presets;

pub use presets::{mutant_names, preset, presets, PresetInfo, PresetKind};

use crate::class::Class;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What happens to the key that served a failing attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum KeyAction {
    /// Nothing.
    None,
    /// Bench until the retry-after, else for `bench_ms`.
    Bench,
    /// Disable, with half-open probes (`probe_after_ms`).
    Disable,
}

/// What happens to the request after a reply of a class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RequestAction {
    /// The request is done (success).
    Done,
    /// Move to an untried key; free of retries.
    Rotate,
    /// Back off (or honour the retry-after) and try again; counts a retry; another key is allowed.
    Retry,
    /// Back off and try the same key again; counts a retry.
    RetrySame,
    /// Call the same key again at once, counting nothing (a credential-refresh loop: only
    /// `max_attempts` and the deadline stop it).
    RetrySameFree,
    /// Go to the next fallback provider now.
    Fallback,
    /// End the request (only a fallback configured for this very class may take it).
    Stop,
}

/// The rule for one class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ClassRule {
    /// Effect on the key.
    pub key: KeyAction,
    /// Bench length when the reply gave no retry-after (ms).
    #[serde(default)]
    pub bench_ms: u64,
    /// Effect on the request.
    pub request: RequestAction,
}

const fn rule(key: KeyAction, bench_ms: u64, request: RequestAction) -> ClassRule {
    ClassRule {
        key,
        bench_ms,
        request,
    }
}

/// Per-class rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Rules {
    /// `rate_limit`
    pub rate_limit: ClassRule,
    /// `quota_exhausted`
    pub quota_exhausted: ClassRule,
    /// `auth`
    pub auth: ClassRule,
    /// `overloaded`
    pub overloaded: ClassRule,
    /// `server_error`
    pub server_error: ClassRule,
    /// `empty_success`
    pub empty_success: ClassRule,
    /// `content_policy`
    pub content_policy: ClassRule,
    /// `context_overflow`
    pub context_overflow: ClassRule,
    /// `bad_request`
    pub bad_request: ClassRule,
    /// `cancelled`
    pub cancelled: ClassRule,
}

impl Default for Rules {
    fn default() -> Self {
        use KeyAction as K;
        use RequestAction as R;
        Rules {
            rate_limit: rule(K::Bench, 60_000, R::Rotate),
            quota_exhausted: rule(K::Bench, 3_600_000, R::Rotate),
            auth: rule(K::Disable, 0, R::Rotate),
            overloaded: rule(K::None, 0, R::Retry),
            server_error: rule(K::None, 0, R::Retry),
            empty_success: rule(K::None, 0, R::Retry),
            content_policy: rule(K::None, 0, R::Stop),
            context_overflow: rule(K::None, 0, R::Stop),
            bad_request: rule(K::None, 0, R::Stop),
            cancelled: rule(K::None, 0, R::Stop),
        }
    }
}

impl Rules {
    /// The rule for a class (`success` is always done).
    pub fn for_class(&self, c: Class) -> ClassRule {
        match c {
            Class::Success => rule(KeyAction::None, 0, RequestAction::Done),
            Class::RateLimit => self.rate_limit,
            Class::QuotaExhausted => self.quota_exhausted,
            Class::Auth => self.auth,
            Class::Overloaded => self.overloaded,
            Class::ServerError => self.server_error,
            Class::EmptySuccess => self.empty_success,
            Class::ContentPolicy => self.content_policy,
            Class::ContextOverflow => self.context_overflow,
            Class::BadRequest => self.bad_request,
            Class::Cancelled => self.cancelled,
        }
    }
}

/// Which way the random part of a backoff goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Jitter {
    /// Up to `jitter_pct` % is taken off (the reference: never waits longer than the backoff).
    #[default]
    Subtract,
    /// Up to `jitter_pct` % is added on top (hermes-agent: 2–3 s, then 4–6 s).
    Add,
}

/// Backoff between retries: `base_ms × factor^n`, capped, then up to `jitter_pct` % taken off
/// (or added, `jitter: "add"`) from the seeded RNG. A retry-after, when given, replaces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Backoff {
    /// First delay (ms).
    pub base_ms: u64,
    /// Growth per retry.
    pub factor: u64,
    /// Longest delay (ms).
    pub cap_ms: u64,
    /// Up to this percentage is taken off (or added) at random.
    pub jitter_pct: u8,
    /// Whether the jitter is taken off or added.
    pub jitter: Jitter,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base_ms: 500,
            factor: 2,
            cap_ms: 30_000,
            jitter_pct: 20,
            jitter: Jitter::Subtract,
        }
    }
}

/// How long an attempt may go without bytes before the host gives up on it and reports a
/// timeout (a reply-less failure, like a reset). Every attempt also ends by its request's
/// deadline ([`crate::engine::Send::deadline`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// From sending the request to the reply's headers (ms); `null`: no limit.
    pub first_byte_ms: Option<u64>,
    /// Between two pieces of a body, or from the headers to the first (ms); `null`: no limit.
    pub idle_ms: Option<u64>,
    /// The whole attempt, from sending to the body's end (ms); `null`: only the request's
    /// deadline bounds it. A stream that trickles in under `idle_ms` forever ends here.
    pub total_ms: Option<u64>,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            first_byte_ms: Some(60_000),
            idle_ms: Some(30_000),
            total_ms: None,
        }
    }
}

/// Provider health, in the manner of Envoy's outlier detection: a provider whose calls fail
/// with `server_error` or `overloaded` (or no reply) `eject_after` times in a row, across
/// requests, is ejected for `eject_ms`: requests that have a generic fallback go straight to
/// it. When the time is up one request goes through as a probe (half-open); its failure ejects
/// the provider again, any other answer brings it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Health {
    /// Failing calls in a row that eject the provider.
    pub eject_after: u32,
    /// How long an ejection lasts before the probe (ms).
    pub eject_ms: u64,
}

/// Which retry-after a request honours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RetryAfterMode {
    /// The one the latest reply gave.
    Latest,
    /// The first one of the request, reused for every later wait (LiteLLM #20722).
    FirstOnly,
}

/// When a failed request carries the time a key is ready again. Written `true` (always),
/// `false` (never) or `"all_out"`.
///
/// ```
/// use keypool::policy::ReadyTime;
/// let r: ReadyTime = serde_json::from_str("\"all_out\"").unwrap();
/// assert_eq!(r, ReadyTime::AllOut);
/// assert_eq!(serde_json::from_str::<ReadyTime>("true").unwrap(), ReadyTime::Always);
/// let e = serde_json::from_str::<ReadyTime>("\"sometimes\"").unwrap_err().to_string();
/// assert!(e.contains("true, false or \"all_out\""), "{e}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(into = "ReadyTimeRepr")]
pub enum ReadyTime {
    /// Every failure that leaves a key to come back says when.
    #[default]
    Always,
    /// No failure says when (the LiteLLM Router: "no healthy deployments").
    Never,
    /// Only a failure that ended because no key was ready says when; a request that spent
    /// its retries while a key was still ready says nothing (the LiteLLM proxy's
    /// `all_deployments_in_cooldown` 429 carries a `retry-after`, its spent-retries 429 not).
    AllOut,
}

/// How [`ReadyTime`] is written: a bool for the two plain cases.
#[derive(Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
enum ReadyTimeRepr {
    Flag(bool),
    Named(ReadyTimeName),
}

#[derive(Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
enum ReadyTimeName {
    AllOut,
}

impl<'de> Deserialize<'de> for ReadyTime {
    // By hand, so that a wrong value says what is expected (an untagged enum cannot).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = ReadyTime;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false or \"all_out\"")
            }
            fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<ReadyTime, E> {
                Ok(if b {
                    ReadyTime::Always
                } else {
                    ReadyTime::Never
                })
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<ReadyTime, E> {
                match s {
                    "all_out" => Ok(ReadyTime::AllOut),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(s), &self)),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl From<ReadyTime> for ReadyTimeRepr {
    fn from(r: ReadyTime) -> Self {
        match r {
            ReadyTime::Always => ReadyTimeRepr::Flag(true),
            ReadyTime::Never => ReadyTimeRepr::Flag(false),
            ReadyTime::AllOut => ReadyTimeRepr::Named(ReadyTimeName::AllOut),
        }
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for ReadyTime {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ReadyTime".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        ReadyTimeRepr::json_schema(g)
    }
}

/// Where a request's wait may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RetryAfterSource {
    /// Everything the classifier reads: headers, body fields, the message's own words.
    #[default]
    Any,
    /// Only the `retry-after` and `retry-after-ms` headers: LiteLLM and hermes-agent both
    /// ignore "Please try again in 20s" in a body (measured).
    Header,
}

/// What `max_retries` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RetryCounting {
    /// Waits: a request may back off (or wait for a benched key) `max_retries` times per
    /// provider.
    #[default]
    Waits,
    /// Counted failures, hermes-agent's way: the failure that brings the count to
    /// `max_retries` ends the request, so it waits at most `max_retries - 1` times
    /// (`api_max_retries: 3` gives `k1 k1 k2 k2 k3`, measured).
    Failures,
}

/// What to do with a retry-after longer than `max_wait_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum LongWait {
    /// Do not wait here: fall back, or fail carrying the ready time.
    GiveUp,
    /// Replace it with the ordinary backoff (openai-python #3555).
    Backoff,
}

/// Which key a failure is charged to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Attribution {
    /// The key that served the failing attempt.
    ServingKey,
    /// The pool's most recently selected key (hermes-agent #43747).
    LastSelected,
}

/// What a gateway does on a status before reading the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum StatusAction {
    /// The status is final: end the request, touch no key.
    Stop,
    /// Back off and retry the same key, touch no key.
    RetrySame,
}

/// How a 2xx reply that carries a failure is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum SoftFailures {
    /// Exactly like the HTTP error of the same class.
    Parity,
    /// Backed off and retried on the same key, no key touched (hermes-agent #24159).
    RetrySame,
    /// Taken as a success: the decision is made on the status alone.
    Success,
    /// Raised to the caller as the failure of its class: the request ends, no key touched,
    /// no rotation (LiteLLM, streamed: `response.failed` becomes an error mid-stream).
    Stop,
}

/// How a new bench of a key that is already benched combines with the one in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum BenchCombine {
    /// The later end wins (the reference: a bench never shrinks).
    #[default]
    Later,
    /// The bench in force stands; the new one is dropped.
    First,
    /// The new bench replaces it, from now, even when it ends sooner (a sliding window).
    Restart,
}

/// The whole policy.
///
/// ```
/// use keypool::policy::{Policy, RequestAction};
/// let p = Policy::default();
/// assert_eq!((p.max_retries, p.max_attempts), (2, 16));
/// assert_eq!(p.rules.quota_exhausted.request, RequestAction::Rotate);
/// let lite = keypool::policy::preset("litellm").unwrap();
/// assert_ne!(lite, p);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Backoff retries and waits for a benched key, per provider.
    pub max_retries: u32,
    /// Upstream calls per request, across keys, retries and fallbacks.
    pub max_attempts: u32,
    /// Virtual time a request may take (ms), shared by the chain.
    pub deadline_ms: u64,
    /// Longest single wait accepted (ms).
    pub max_wait_ms: u64,
    /// Backoff between retries.
    pub backoff: Backoff,
    /// Backoff before retrying a 2xx failure in place (`soft_failures: retry_same`); `null`:
    /// `backoff` (hermes-agent waits 5-7.5 s, then 10-15 s, there: longer than for a 429).
    pub soft_backoff: Option<Backoff>,
    /// When the host gives up on an attempt that sends nothing.
    pub timeouts: Timeouts,
    /// Per-class rules.
    pub rules: Rules,
    /// First half-open probe of a disabled key, after this long (ms); `null`: never probe.
    pub probe_after_ms: Option<u64>,
    /// Growth of the probe interval after each failed probe.
    pub probe_factor: u64,
    /// Bench the whole quota group for quota and rate limits.
    pub quota_groups: bool,
    /// Which retry-after is honoured.
    pub retry_after: RetryAfterMode,
    /// What a retry-after beyond `max_wait_ms` does.
    pub long_retry_after: LongWait,
    /// A retry-after holds its key (no request calls it before then), whatever the class.
    pub retry_after_holds_key: bool,
    /// Wait for a benched key when no other key is ready.
    pub wait_for_benched: bool,
    /// When a failed request carries the earliest time a key is ready again.
    pub report_ready_time: ReadyTime,
    /// A request that found no ready key reports this class instead of the benches' reason.
    pub pool_exhausted_class: Option<Class>,
    /// Classes (whose rule rotates) that first retry the failing key after a back-off,
    /// counting a retry, and only bench it and rotate when it fails again (hermes-agent:
    /// `k1 k1 k2 k2 k3`; #16830).
    pub retry_same_key_first: Vec<Class>,
    /// What `max_retries` counts.
    pub retry_counting: RetryCounting,
    /// Eject a failing provider for a while (`null`: never).
    pub provider_health: Option<Health>,
    /// Where a wait may come from.
    pub retry_after_source: RetryAfterSource,
    /// A request prefers keys it has not tried yet. Off (hermes-agent): the strategy alone
    /// chooses, so a tried key whose short bench ended is picked again ahead of untried ones.
    pub avoid_tried: bool,
    /// Status codes acted on before the body is read (`"402": "stop"`).
    pub status_actions: BTreeMap<u16, StatusAction>,
    /// Status codes whose class is taken from the status alone (`"429": "rate_limit"`).
    pub status_classes: BTreeMap<u16, Class>,
    /// Status codes acted on by their own rule instead of their class's, the class kept for
    /// the record (LiteLLM: `"402": {"key": "bench", "bench_ms": 5000, "request": "fallback"}`,
    /// a 402 is cooled and never rotated, but a fallback catches it).
    pub status_rules: BTreeMap<u16, ClassRule>,
    /// A provider with a single key never benches it: a failure whose rule rotates backs off
    /// (or sleeps the retry-after) and calls it again (LiteLLM's one-deployment model group).
    pub single_key_retries: bool,
    /// A retry waits for nothing (no back-off, no retry-after) while the provider has more
    /// than one key and one of them is ready: the next draw may be the same key (LiteLLM's
    /// Router sleeps only for a one-deployment group or when no deployment is healthy).
    pub retry_at_once_while_ready: bool,
    /// Only the first failing key of a request is benched or disabled; later ones stay in
    /// service (the LiteLLM proxy sets cooldowns from a callback that runs once per request).
    pub bench_first_failure_only: bool,
    /// Each priority level of a provider's keys is a fallback level of its own (LiteLLM's
    /// deployment `order`): the first pass draws from the best level with a key ready; when
    /// the request would leave the provider (its retries spent, or a fallback), it gets a pass
    /// held to the next level after the best, then the next, each with a fresh retry budget.
    pub priority_levels: bool,
    /// How a 2xx that carries a failure is treated.
    pub soft_failures: SoftFailures,
    /// The same, when the failure came in a stream (`null`: as `soft_failures`).
    pub soft_failures_streamed: Option<SoftFailures>,
    /// How a second bench of a benched key combines with the first.
    pub bench_combine: BenchCombine,
    /// No bench lasts longer than this (ms), whatever the reply asked; `null`: no cap.
    pub bench_cap_ms: Option<u64>,
    /// A same-key retry calls its key even while it is benched (a key pinned to a request).
    pub retry_same_ignores_bench: bool,
    /// Times a request walks the whole chain: after the last fallback it starts again at the
    /// primary (nested retry layers: LiteLLM's retries around its fallbacks). The reference: 1.
    pub chain_passes: u32,
    /// Every failed request is reported as this class, whatever ended it (`null`: the class
    /// that ended it).
    pub failure_class: Option<Class>,
    /// The gateway's own reading of error replies: a non-2xx reply whose body contains the
    /// text is read as the class (`{"content_filter": "bad_request"}`: LiteLLM's generic BadRequestError).
    /// Hosts that classify replies themselves apply it with [`Policy::read`].
    pub body_classes: BTreeMap<String, Class>,
    /// Rotating to an untried key consumes a retry; none left ends the walk (LiteLLM).
    pub rotation_costs_retry: bool,
    /// An empty 2xx answer is a success.
    pub empty_is_success: bool,
    /// A failed 2xx that carried some output is a success.
    pub partial_output_is_success: bool,
    /// Which key a failure is charged to.
    pub attribution: Attribution,
    /// `round_robin` moves its start one key per request.
    pub round_robin_advance: bool,
    /// `least_used` counts uses.
    pub least_used_counts: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_retries: 2,
            max_attempts: 16,
            deadline_ms: 120_000,
            max_wait_ms: 60_000,
            backoff: Backoff::default(),
            soft_backoff: None,
            timeouts: Timeouts::default(),
            rules: Rules::default(),
            probe_after_ms: Some(1_800_000),
            probe_factor: 2,
            quota_groups: true,
            retry_after: RetryAfterMode::Latest,
            long_retry_after: LongWait::GiveUp,
            retry_after_holds_key: true,
            wait_for_benched: true,
            report_ready_time: ReadyTime::Always,
            pool_exhausted_class: None,
            retry_same_key_first: Vec::new(),
            retry_counting: RetryCounting::Waits,
            provider_health: Some(Health {
                eject_after: 3,
                eject_ms: 30_000,
            }),
            retry_after_source: RetryAfterSource::Any,
            avoid_tried: true,
            status_actions: BTreeMap::new(),
            status_classes: BTreeMap::new(),
            status_rules: BTreeMap::new(),
            single_key_retries: false,
            retry_at_once_while_ready: false,
            bench_first_failure_only: false,
            priority_levels: false,
            soft_failures: SoftFailures::Parity,
            soft_failures_streamed: None,
            bench_combine: BenchCombine::Later,
            bench_cap_ms: None,
            retry_same_ignores_bench: false,
            chain_passes: 1,
            failure_class: None,
            body_classes: BTreeMap::new(),
            rotation_costs_retry: false,
            empty_is_success: false,
            partial_output_is_success: false,
            attribution: Attribution::ServingKey,
            round_robin_advance: true,
            least_used_counts: true,
        }
    }
}

/// The longest duration a policy may state: 400 days, the longest wait the classifier reads.
pub const MAX_POLICY_MS: u64 = crate::classify::MAX_RETRY_AFTER_MS;

/// The largest count or factor a policy may state.
pub const MAX_POLICY_COUNT: u64 = 1_000_000;

impl Policy {
    /// Checks every number against its stated range (durations up to [`MAX_POLICY_MS`],
    /// counts and factors up to [`MAX_POLICY_COUNT`], jitter up to 100 %, status codes
    /// 100–599), so no later arithmetic can overflow. `Err` names the field.
    ///
    /// ```
    /// let mut p = keypool::policy::Policy::default();
    /// assert!(p.check_ranges().is_ok());
    /// p.backoff.base_ms = 1_000_000_000_000_000_000;
    /// assert_eq!(p.check_ranges().unwrap_err().0, "backoff.base_ms");
    /// ```
    pub fn check_ranges(&self) -> Result<(), (String, String)> {
        let ms = |name: &str, v: u64| {
            if v > MAX_POLICY_MS {
                Err((
                    name.to_owned(),
                    format!("{v} ms is beyond the longest allowed duration, {MAX_POLICY_MS} ms (400 days)"),
                ))
            } else {
                Ok(())
            }
        };
        let count = |name: &str, v: u64, min: u64| {
            if v < min || v > MAX_POLICY_COUNT {
                Err((
                    name.to_owned(),
                    format!("{v} is out of range ({min} to {MAX_POLICY_COUNT})"),
                ))
            } else {
                Ok(())
            }
        };
        count("max_retries", u64::from(self.max_retries), 0)?;
        count("max_attempts", u64::from(self.max_attempts), 0)?;
        ms("deadline_ms", self.deadline_ms)?;
        ms("max_wait_ms", self.max_wait_ms)?;
        ms("backoff.base_ms", self.backoff.base_ms)?;
        ms("backoff.cap_ms", self.backoff.cap_ms)?;
        if let Some(b) = self.soft_backoff {
            ms("soft_backoff.base_ms", b.base_ms)?;
            ms("soft_backoff.cap_ms", b.cap_ms)?;
            count("soft_backoff.factor", b.factor, 0)?;
            if b.jitter_pct > 100 {
                return Err((
                    "soft_backoff.jitter_pct".into(),
                    format!("{} is out of range (0 to 100)", b.jitter_pct),
                ));
            }
        }
        count("backoff.factor", self.backoff.factor, 0)?;
        if self.backoff.jitter_pct > 100 {
            return Err((
                "backoff.jitter_pct".into(),
                format!("{} is out of range (0 to 100)", self.backoff.jitter_pct),
            ));
        }
        if let Some(v) = self.timeouts.first_byte_ms {
            ms("timeouts.first_byte_ms", v)?;
        }
        if let Some(v) = self.timeouts.idle_ms {
            ms("timeouts.idle_ms", v)?;
        }
        if let Some(v) = self.timeouts.total_ms {
            ms("timeouts.total_ms", v)?;
        }
        if let Some(v) = self.probe_after_ms {
            ms("probe_after_ms", v)?;
        }
        count("probe_factor", self.probe_factor, 0)?;
        count("chain_passes", u64::from(self.chain_passes), 1)?;
        if let Some(v) = self.bench_cap_ms {
            ms("bench_cap_ms", v)?;
        }
        if let Some(h) = self.provider_health {
            count("provider_health.eject_after", u64::from(h.eject_after), 1)?;
            ms("provider_health.eject_ms", h.eject_ms)?;
        }
        for (code, r) in &self.status_rules {
            ms(&format!("status_rules.{code}.bench_ms"), r.bench_ms)?;
        }
        for c in Class::ALL {
            if c != Class::Success {
                ms(
                    &format!("rules.{}.bench_ms", c.label()),
                    self.rules.for_class(c).bench_ms,
                )?;
            }
        }
        for (name, codes) in [
            (
                "status_actions",
                self.status_actions.keys().collect::<Vec<_>>(),
            ),
            ("status_classes", self.status_classes.keys().collect()),
            ("status_rules", self.status_rules.keys().collect()),
        ] {
            if let Some(bad) = codes.into_iter().find(|c| !(100..=599).contains(*c)) {
                return Err((
                    format!("{name}.{bad}"),
                    "a status code is from 100 to 599".into(),
                ));
            }
        }
        Ok(())
    }

    /// The class this policy reads a reply as, when its `body_classes` say so (the engine
    /// applies it in [`crate::engine::Engine::on_reply`]; a host that classifies replies
    /// itself passes it to [`crate::engine::Engine::on_verdict_as`]). The classifier's own
    /// class stays on record beside it.
    ///
    /// ```
    /// use keypool::{classify, Class, Reply};
    /// let mut p = keypool::policy::Policy::default();
    /// p.body_classes.insert("content_filter".into(), Class::BadRequest);
    /// let r = Reply::new(400, r#"{"error":{"code":"content_filter","message":"filtered"}}"#);
    /// assert_eq!(classify(&r).class, Class::ContentPolicy);
    /// assert_eq!(p.read(&r), Some(Class::BadRequest));
    /// ```
    pub fn read(&self, reply: &crate::Reply) -> Option<Class> {
        if self.body_classes.is_empty() || (200..300).contains(&reply.status) {
            return None;
        }
        self.body_classes
            .iter()
            .find(|(needle, _)| reply.body.contains(needle.as_str()))
            .map(|(_, &c)| c)
    }

    /// How many waits a request may make per provider (see [`RetryCounting`]).
    ///
    /// ```
    /// let mut p = keypool::policy::Policy::default();
    /// p.max_retries = 3;
    /// assert_eq!(p.retry_limit(), 3);
    /// p.retry_counting = keypool::policy::RetryCounting::Failures;
    /// assert_eq!(p.retry_limit(), 2);
    /// ```
    pub fn retry_limit(&self) -> u32 {
        match self.retry_counting {
            RetryCounting::Waits => self.max_retries,
            RetryCounting::Failures => self.max_retries.saturating_sub(1),
        }
    }

    /// The backoff before retry number `n` (0-based), before jitter.
    pub fn backoff_ms(&self, n: u32) -> u64 {
        self.backoff.delay_ms(n)
    }
}

impl Backoff {
    /// The delay before retry number `n` (0-based), before jitter.
    ///
    /// ```
    /// let b = keypool::policy::Backoff::default();
    /// assert_eq!((b.delay_ms(0), b.delay_ms(2), b.delay_ms(99)), (500, 2_000, 30_000));
    /// ```
    pub fn delay_ms(&self, n: u32) -> u64 {
        let b = self;
        let grow = b.factor.max(1).saturating_pow(n.min(63));
        b.base_ms.saturating_mul(grow).min(b.cap_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_builds_and_round_trips_through_json() {
        for p in presets() {
            let policy = preset(p.name).unwrap();
            let json = serde_json::to_value(&policy).unwrap();
            let back: Policy = serde_json::from_value(json).unwrap();
            assert_eq!(back, policy, "{}", p.name);
        }
    }

    #[test]
    fn every_mutant_differs_from_reference() {
        let reference = Policy::default();
        for m in mutant_names() {
            assert_ne!(preset(m).unwrap(), reference, "{m} reproduces nothing");
        }
        assert_eq!(mutant_names().count(), 25);
    }

    #[test]
    fn every_preset_is_documented() {
        let catalogue = include_str!("../../docs/bug-catalogue.md");
        for m in mutant_names() {
            assert!(
                catalogue.contains(&format!("| `{m}` |")),
                "{m} missing from docs/bug-catalogue.md"
            );
        }
        let gateways = include_str!("../../docs/gateways.md");
        for p in presets().iter().filter(|p| p.kind == PresetKind::Gateway) {
            if p.source.contains("docs/gateways.md") {
                assert!(gateways.contains(&format!("`{}`", p.name)), "{}", p.name);
            }
        }
    }

    #[test]
    fn unknown_policy_fields_are_rejected() {
        let err = serde_json::from_str::<Policy>(r#"{"max_retry": 3}"#).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `max_retry`"),
            "{err}"
        );
    }

    #[test]
    fn backoff_grows_and_caps() {
        let p = Policy::default();
        assert_eq!(
            (p.backoff_ms(0), p.backoff_ms(1), p.backoff_ms(2)),
            (500, 1_000, 2_000)
        );
        assert_eq!(p.backoff_ms(10), 30_000);
        assert_eq!(p.backoff_ms(1_000), 30_000);
    }
}
