//! Named policies: `reference`, the gateways keypool is measured against, and one mutant per
//! bug-catalogue id, each reproducing that bug by configuration.

use super::*;

/// What a preset stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresetKind {
    /// keypool's reference policy.
    Reference,
    /// A real program, pinned to what it was measured doing (`docs/gateways.md`).
    Gateway,
    /// One bug of the catalogue, reproduced by configuration.
    Mutant,
}

/// A preset's name, what it models and where that comes from.
#[derive(Debug, Clone, Copy)]
pub struct PresetInfo {
    /// The name used with `--policy` and `{"preset": ...}`.
    pub name: &'static str,
    /// What it stands for.
    pub kind: PresetKind,
    /// What it models, in one line.
    pub summary: &'static str,
    /// Where the behaviour is documented or was measured.
    pub source: &'static str,
    build: fn(&mut Policy),
}

fn bench(ms: u64, request: RequestAction) -> ClassRule {
    ClassRule {
        key: KeyAction::Bench,
        bench_ms: ms,
        request,
    }
}

const fn none(request: RequestAction) -> ClassRule {
    ClassRule {
        key: KeyAction::None,
        bench_ms: 0,
        request,
    }
}

/// LiteLLM's Router with its defaults (`num_retries` 2, `cooldown_time` 5 s).
fn litellm(p: &mut Policy) {
    // Cooldowns are per deployment; no provider is ejected as a whole.
    p.provider_health = None;
    // num_retries 2: three deployments at most, each pick spending a retry.
    p.max_retries = 2;
    p.rotation_costs_retry = true;
    // 429 (insufficient_quota too), 401 and 402 cool the deployment 5 s; a retry-after
    // header replaces the 5 s, "try again in 20s" in the body does not.
    p.rules.rate_limit = bench(5_000, RequestAction::Rotate);
    p.rules.quota_exhausted = bench(5_000, RequestAction::Rotate);
    p.rules.auth = bench(5_000, RequestAction::Rotate);
    p.retry_after_source = RetryAfterSource::Header;
    // A 402 is never rotated within the group, but the `order` fallback catches it.
    p.status_rules
        .insert(402, bench(5_000, RequestAction::Fallback));
    // Every deployment cooling: "no healthy deployments" at once, no retry-after.
    p.wait_for_benched = false;
    p.report_ready_time = ReadyTime::Never;
    // A request that finds every deployment cooling gets the gateway's own error, which is
    // no key's fault ("No deployments available": overloaded to its client).
    p.pool_exhausted_class = Some(Class::Overloaded);
    // A Responses `status: failed` object and an empty answer go back as successes; streamed,
    // the same failure is raised mid-stream, with no rotation.
    p.soft_failures = SoftFailures::Success;
    p.soft_failures_streamed = Some(SoftFailures::Stop);
    // Azure's `content_filter` is a generic BadRequestError to LiteLLM (only
    // `content_policy_violation` is a ContentPolicyViolationError), and an `order` fallback
    // catches a bad request.
    p.body_classes
        .insert("\"content_filter\"".into(), Class::BadRequest);
    p.rules.bad_request = none(RequestAction::Fallback);
    p.empty_is_success = true;
    // The shuffle draws among every deployment not cooling, tried ones included.
    p.avoid_tried = false;
    // Deployments with an `order` are tried level by level, each with its own budget.
    p.priority_levels = true;
    // One deployment: no cooldown; the retry sleeps the header, or 0.8-1.0 s.
    p.single_key_retries = true;
    // With another deployment healthy the retry goes at once (a 529, not cooled, may draw
    // the same deployment again: `k1 k1 k1` then the next request `k2`).
    p.retry_at_once_while_ready = true;
    p.backoff = Backoff {
        base_ms: 1_000,
        factor: 2,
        cap_ms: 8_000,
        jitter_pct: 20,
        jitter: Jitter::Subtract,
    };
}

const PRESETS: &[PresetInfo] = &[
    PresetInfo { name: "reference", kind: PresetKind::Reference, summary: "keypool's reference policy: every invariant holds", source: "docs/reference-policy.md", build: |_| {} },
    // Gateways, from their documented and measured defaults.
    PresetInfo {
        name: "litellm",
        kind: PresetKind::Gateway,
        summary: "LiteLLM Router: retries = rotations (keys tried = 1 + num_retries), 5 s cooldown for every key error, 402 cooled and never rotated (a fallback catches it), a 529 retried at once on any key, fails at once when all keys cool down, only the retry-after header is read",
        source: "LiteLLM 1.106.x, measured black-box (docs/gateways.md)",
        build: litellm,
    },
    PresetInfo {
        name: "litellm-proxy",
        kind: PresetKind::Gateway,
        summary: "LiteLLM proxy server: the Router, but only the first key that fails in a request is cooled (later failing keys are drawn again at once), and a request that finds every deployment cooling is answered at once with a retry-after",
        source: "LiteLLM proxy 1.106.x, measured black-box (docs/gateways.md)",
        build: |p| {
            litellm(p);
            p.bench_first_failure_only = true;
            // With every deployment cooling the proxy answers 429 `all_deployments_in_cooldown`
            // with a `retry-after` (the shortest cooldown, rounded up to a second), where the
            // Router alone says nothing.
            p.report_ready_time = ReadyTime::AllOut;
        },
    },
    PresetInfo {
        name: "hermes",
        kind: PresetKind::Gateway,
        summary: "hermes-agent credential pool: a 429 retries the same key once after a 2-3 s back-off, then benches it an hour; 402/401 rotate free; the third counted failure ends the request; only the retry-after header is read",
        source: "hermes-agent 0.19.x, measured black-box (docs/gateways.md); issues #16830, #24159, #22212, #14631, #32849",
        build: |p| {
            p.provider_health = None;
            // api_max_retries 3: the third counted failure ends the request.
            p.max_retries = 3;
            p.retry_counting = RetryCounting::Failures;
            // 429 is a rate limit whatever the body says (insufficient_quota included).
            p.status_classes.insert(429, Class::RateLimit);
            // k1 k1 k2 k2 k3: back off, same key, then "exhausted" for an hour.
            p.retry_same_key_first = vec![Class::RateLimit];
            p.rules.rate_limit = bench(3_600_000, RequestAction::Rotate);
            p.rules.quota_exhausted = bench(3_600_000, RequestAction::Rotate);
            p.rules.auth = bench(300_000, RequestAction::Rotate);
            // Its classifier calls a refusal a format error that may fall back.
            p.rules.content_policy = none(RequestAction::Fallback);
            p.soft_failures = SoftFailures::RetrySame;
            // A streamed `response.failed` is retried after 5-7.5 s, then 10-15 s (measured
            // 6.35 and 14.5 s, and 7.65 and 11.3 s).
            p.soft_backoff = Some(Backoff { base_ms: 5_000, factor: 2, cap_ms: 60_000, jitter_pct: 50, jitter: Jitter::Add });
            // A Retry-After header sets the back-off and the exhaustion window; body text
            // ("try again in 20s") is not read.
            p.retry_after_source = RetryAfterSource::Header;
            // No per-request tried set: fill_first picks k1 again once its window ends.
            p.avoid_tried = false;
            p.round_robin_advance = false;
            p.least_used_counts = false;
            p.max_wait_ms = 600_000;
            // 2-3 s, then 4-6 s: jitter is added.
            p.backoff = Backoff { base_ms: 2_000, factor: 2, cap_ms: 60_000, jitter_pct: 50, jitter: Jitter::Add };
        },
    },
    PresetInfo {
        name: "token-proxy",
        kind: PresetKind::Gateway,
        summary: "mxyhi/token_proxy: status-list decisions (402 and 403 final), 15 s cooldowns, failover decided on the raw 2xx",
        source: "mxyhi/token_proxy source; issues #11, #240, PR #223",
        build: |p| {
            p.provider_health = None;
            p.status_actions.insert(402, StatusAction::Stop);
            p.status_actions.insert(403, StatusAction::Stop);
            p.rules.rate_limit = bench(15_000, RequestAction::Rotate);
            p.rules.quota_exhausted = bench(15_000, RequestAction::Rotate);
            p.soft_failures = SoftFailures::Success;
            p.empty_is_success = true;
        },
    },
    PresetInfo {
        name: "openai-python",
        kind: PresetKind::Gateway,
        summary: "openai-python client: one key, retries 429 and 5xx on the same key (insufficient_quota included), a retry-after over 60 s replaced by backoff",
        source: "openai/openai-python _base_client retry logic; PR #3555",
        build: |p| {
            p.provider_health = None;
            p.max_retries = 2;
            p.status_classes.insert(429, Class::RateLimit);
            p.rules.rate_limit = none(RequestAction::RetrySame);
            p.rules.quota_exhausted = none(RequestAction::Stop);
            p.rules.auth = none(RequestAction::Stop);
            p.long_retry_after = LongWait::Backoff;
            p.retry_after_holds_key = false;
            p.backoff = Backoff { base_ms: 500, factor: 2, cap_ms: 8_000, jitter_pct: 25, jitter: Jitter::Subtract };
        },
    },
    // One mutant per bug-catalogue id.
    PresetInfo { name: "hermes-24159", kind: PresetKind::Mutant, summary: "a 200 `status: failed` quota error is backed off on the same key, never rotated or benched", source: "hermes-agent #24159, PR #24173", build: |p| p.soft_failures = SoftFailures::RetrySame },
    PresetInfo { name: "hermes-5948", kind: PresetKind::Mutant, summary: "a `failed` response that carried output items is taken as valid", source: "hermes-agent PR #5948", build: |p| p.partial_output_is_success = true },
    PresetInfo {
        name: "hermes-16830",
        kind: PresetKind::Mutant,
        summary: "the first 429 on each key retries that key after a back-off and counts it, and the third counted failure ends the request: 10 keys, 3 retries, 3 keys tried",
        source: "hermes-agent #16830, PR #16902",
        build: |p| {
            p.retry_same_key_first = vec![Class::RateLimit];
            p.retry_counting = RetryCounting::Failures;
        },
    },
    PresetInfo { name: "hermes-23138", kind: PresetKind::Mutant, summary: "quota groups ignored: a 402 rotates through every key of the same account", source: "hermes-agent #23138", build: |p| p.quota_groups = false },
    PresetInfo { name: "hermes-22212", kind: PresetKind::Mutant, summary: "round_robin chooses once per session: every request starts on the same key", source: "hermes-agent #22212", build: |p| p.round_robin_advance = false },
    PresetInfo { name: "hermes-14631", kind: PresetKind::Mutant, summary: "least_used never increments its counter", source: "hermes-agent #14631", build: |p| p.least_used_counts = false },
    PresetInfo { name: "hermes-4300", kind: PresetKind::Mutant, summary: "a 401 is final: no rotation, key not disabled", source: "hermes-agent #4300", build: |p| { p.status_actions.insert(401, StatusAction::Stop); } },
    PresetInfo { name: "hermes-8289", kind: PresetKind::Mutant, summary: "a 403 is ignored by pool recovery: final, no rotation", source: "hermes-agent #8289", build: |p| { p.status_actions.insert(403, StatusAction::Stop); } },
    PresetInfo { name: "hermes-43747", kind: PresetKind::Mutant, summary: "a failure is charged to the pool's current key, not the one that failed", source: "hermes-agent #43747", build: |p| p.attribution = Attribution::LastSelected },
    PresetInfo { name: "hermes-32849", kind: PresetKind::Mutant, summary: "a revoked key is benched for 5 minutes instead of disabled, and comes back every cooldown", source: "hermes-agent #32849", build: |p| p.rules.auth = bench(300_000, RequestAction::Rotate) },
    PresetInfo {
        name: "hermes-14038",
        kind: PresetKind::Mutant,
        summary: "a 429 is a rate limit by status: an overloaded 429 benches the only key for an hour",
        source: "hermes-agent #14038",
        build: |p| {
            p.status_classes.insert(429, Class::RateLimit);
            p.rules.rate_limit.bench_ms = 3_600_000;
        },
    },
    PresetInfo { name: "hermes-31273", kind: PresetKind::Mutant, summary: "a quota error is retried with backoff on the same key", source: "hermes-agent #31273", build: |p| p.rules.quota_exhausted = none(RequestAction::RetrySame) },
    PresetInfo {
        name: "hermes-40960",
        kind: PresetKind::Mutant,
        summary: "with every key benched the request fails as `auth` with no ready time",
        source: "hermes-agent #40960",
        build: |p| {
            p.pool_exhausted_class = Some(Class::Auth);
            p.report_ready_time = ReadyTime::Never;
        },
    },
    PresetInfo { name: "token-proxy-223", kind: PresetKind::Mutant, summary: "failover decided on the raw 2xx status: any 200 is a success", source: "mxyhi/token_proxy PR #223", build: |p| p.soft_failures = SoftFailures::Success },
    PresetInfo { name: "token-proxy-240", kind: PresetKind::Mutant, summary: "an empty answer (stream with no choices, then [DONE]) is a success", source: "mxyhi/token_proxy #240", build: |p| p.empty_is_success = true },
    PresetInfo { name: "token-proxy-11", kind: PresetKind::Mutant, summary: "403 is not retryable: a blocked key ends the request", source: "mxyhi/token_proxy #11", build: |p| { p.status_actions.insert(403, StatusAction::Stop); } },
    PresetInfo { name: "token-proxy-402", kind: PresetKind::Mutant, summary: "402 is absent from the retryable statuses: final, key not benched", source: "mxyhi/token_proxy", build: |p| { p.status_actions.insert(402, StatusAction::Stop); } },
    PresetInfo {
        name: "litellm-3646",
        kind: PresetKind::Mutant,
        summary: "with every key cooling down the router fails at once, with no wait and no retry-after",
        source: "BerriAI/litellm #3646, #27823",
        build: |p| {
            p.wait_for_benched = false;
            p.report_ready_time = ReadyTime::Never;
        },
    },
    PresetInfo { name: "litellm-20722", kind: PresetKind::Mutant, summary: "every wait uses the request's first retry-after, ignoring larger later ones", source: "BerriAI/litellm #20722", build: |p| p.retry_after = RetryAfterMode::FirstOnly },
    PresetInfo { name: "litellm-38199", kind: PresetKind::Mutant, summary: "a 200 with empty content counts as a success", source: "BerriAI/litellm #38199", build: |p| p.empty_is_success = true },
    PresetInfo { name: "litellm-40406", kind: PresetKind::Mutant, summary: "a content-policy refusal triggers the generic fallbacks", source: "BerriAI/litellm #40406", build: |p| p.rules.content_policy.request = RequestAction::Fallback },
    PresetInfo { name: "newapi-7399", kind: PresetKind::Mutant, summary: "a 200 whose body is an error is passed through as a success", source: "QuantumNous/new-api #7399", build: |p| p.soft_failures = SoftFailures::Success },
    PresetInfo { name: "newapi-3537", kind: PresetKind::Mutant, summary: "disabled keys are never probed, so they never come back", source: "QuantumNous/new-api #3537", build: |p| p.probe_after_ms = None },
    PresetInfo {
        name: "langchainjs-1929",
        kind: PresetKind::Mutant,
        summary: "an insufficient_quota 429 is retried with backoff as if it were a rate limit",
        source: "langchain-ai/langchainjs #1929",
        build: |p| {
            p.status_classes.insert(429, Class::RateLimit);
            p.rules.rate_limit = none(RequestAction::RetrySame);
        },
    },
    PresetInfo {
        name: "openai-python-3555",
        kind: PresetKind::Mutant,
        summary: "a retry-after above 60 s is replaced by a sub-second backoff on the same key",
        source: "openai/openai-python PR #3555",
        build: |p| {
            p.rules.rate_limit = none(RequestAction::RetrySame);
            p.long_retry_after = LongWait::Backoff;
            p.retry_after_holds_key = false;
        },
    },
];

/// Every preset, `reference` first.
pub fn presets() -> &'static [PresetInfo] {
    PRESETS
}

/// The policy of a preset, by name.
///
/// ```
/// let p = keypool::policy::preset("hermes-22212").unwrap();
/// assert!(!p.round_robin_advance);
/// assert!(keypool::policy::preset("nope").is_none());
/// ```
pub fn preset(name: &str) -> Option<Policy> {
    let info = PRESETS.iter().find(|p| p.name == name)?;
    let mut p = Policy::default();
    (info.build)(&mut p);
    Some(p)
}

/// The names of the bug-catalogue mutants.
pub fn mutant_names() -> impl Iterator<Item = &'static str> {
    PRESETS
        .iter()
        .filter(|p| p.kind == PresetKind::Mutant)
        .map(|p| p.name)
}
