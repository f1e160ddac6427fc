//! Drawing a whole world from one seed, swarm-testing style (as TigerBeetle's VOPR does):
//! each seed enables a different mix of reply kinds at integer ratios, a pool size, a strategy,
//! quota groups, fallbacks, budgets and a workload. Each component draws from its own sub-seed,
//! so adding a knob to one component does not reshuffle the others.

use crate::chain::ProviderSpec;
use crate::class::Class;
use crate::pool::{PoolKey, Strategy};
use crate::scenario::{
    self, build_step, Expect, KeyDef, ProviderDef, Scenario, Step, StepDef, Workload,
};
use crate::sim::world::{Script, ScriptStep, World};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

/// A generator component, each with its own sub-seed.
#[derive(Debug, Clone, Copy)]
#[repr(u64)]
enum Part {
    Pool = 1,
    Chain = 2,
    Policy = 3,
    Mix = 4,
    Scripts = 5,
    Workload = 6,
}

/// The RNG of one component of one seed (SplitMix64 of the pair, then ChaCha8).
fn rng(seed: u64, part: Part) -> ChaCha8Rng {
    let mut z = seed ^ (part as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ChaCha8Rng::seed_from_u64(z ^ (z >> 31))
}

/// The kinds of reply a world may script, with how each is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A normal answer (several shapes).
    Ok,
    /// 429 rate limit with a retry-after in one of several forms (or none).
    RateLimit,
    /// Out of credits / balance / plan (several shapes, some as 200s).
    Quota,
    /// Invalid or revoked credential.
    Auth,
    /// Provider overloaded (some as 200s).
    Overloaded,
    /// 5xx, HTML pages, streams that fail.
    ServerError,
    /// Refusals.
    ContentPolicy,
    /// Request too big.
    ContextOverflow,
    /// Invalid request.
    BadRequest,
    /// Empty answers (JSON and streams).
    Empty,
}

/// Every kind, in a fixed order.
pub const KINDS: [Kind; 10] = [
    Kind::Ok,
    Kind::RateLimit,
    Kind::Quota,
    Kind::Auth,
    Kind::Overloaded,
    Kind::ServerError,
    Kind::ContentPolicy,
    Kind::ContextOverflow,
    Kind::BadRequest,
    Kind::Empty,
];

/// One drawn script step, as plain data: turned into a scenario step for a file, or straight
/// into a simulator step (the explorer's hot path never builds the scenario).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Drawn {
    /// The template; `None` for the raw 429 whose `retry-after` is an HTTP date.
    template: Option<&'static str>,
    /// The raw 429: its `retry-after` date is this many seconds after its `date`.
    date_secs: u32,
    wait_s: Option<f64>,
    retry_after: Option<f64>,
    retry_after_ms: Option<u64>,
    latency_ms: Option<u64>,
    times: Option<u32>,
    until_ms: Option<u64>,
}

/// What makes a drawn step's reply: equal keys, equal replies.
type ReplyKey = (usize, u32, Option<u64>, Option<u64>, Option<u64>);

impl Drawn {
    fn tpl(name: &'static str) -> Drawn {
        Drawn {
            template: Some(name),
            ..Drawn::default()
        }
    }

    /// The step as a scenario file says it.
    fn def(&self) -> StepDef {
        let mut s = StepDef {
            template: self.template.map(str::to_owned),
            wait_s: self.wait_s,
            retry_after: self.retry_after,
            retry_after_ms: self.retry_after_ms,
            latency_ms: self.latency_ms,
            times: self.times,
            until_ms: self.until_ms,
            ..StepDef::default()
        };
        if self.template.is_none() {
            let secs = self.date_secs;
            s.status = Some(429);
            s.headers = BTreeMap::from([
                (
                    "date".to_owned(),
                    "Wed, 25 Nov 2026 12:00:00 GMT".to_owned(),
                ),
                (
                    "retry-after".to_owned(),
                    format!(
                        "Wed, 25 Nov 2026 12:{:02}:{:02} GMT",
                        secs / 60 % 60,
                        secs % 60
                    ),
                ),
            ]);
            s.body = Some(
                r#"{"error":{"message":"Too many requests","type":"rate_limit_error"}}"#.into(),
            );
        }
        s
    }

    /// Step objects that are only a template become the short string form.
    fn step(&self) -> Step {
        let mut s = self.def();
        let template = s.template.take();
        if s == StepDef::default() {
            Step::Template(template.unwrap_or_default())
        } else {
            s.template = template;
            Step::Full(Box::new(s))
        }
    }

    fn reply_key(&self) -> ReplyKey {
        (
            self.template.map_or(0, |t| t.as_ptr() as usize),
            self.date_secs,
            self.wait_s.map(f64::to_bits),
            self.retry_after.map(f64::to_bits),
            self.retry_after_ms,
        )
    }

    /// The simulator's step: the reply the scenario step would build (built once per worker
    /// through the scenario code itself, so the two cannot drift apart), and its schedule.
    fn script_step(&self, shared: &mut Shared) -> Result<ScriptStep, String> {
        let key = self.reply_key();
        let bare = match shared.replies.get(&key) {
            Some(r) => r.clone(),
            None => {
                let bare = Drawn {
                    latency_ms: None,
                    times: None,
                    until_ms: None,
                    ..*self
                };
                let built = build_step(&bare.step(), LATENCY_MS, &mut shared.memo)
                    .map_err(|(f, m)| format!("drawn step{f}: {m}"))?;
                // About 14,000 distinct drawn replies; the bound only guards memory.
                if shared.replies.len() >= 32_768 {
                    shared.replies.clear();
                }
                shared.replies.insert(key, built.clone());
                built
            }
        };
        Ok(ScriptStep {
            times: self.times,
            until_ms: self.until_ms,
            latency_ms: self.latency_ms.unwrap_or(LATENCY_MS),
            ..bare
        })
    }
}

/// What drawn worlds share, held by one exploring thread ([`super::Worker`]): replies, key
/// labels and group names, and the simulator's memo. Worlds draw from a few templates and name
/// their keys alike, so a world needs no reply or string of its own.
#[derive(Default)]
pub(crate) struct Shared {
    /// Built templates, verdicts and policies.
    pub(crate) memo: crate::sim::Memo,
    /// Looked up for every drawn step, never iterated: a hash map keeps it cheap.
    replies: rustc_hash::FxHashMap<ReplyKey, ScriptStep>,
    /// Key labels by provider, then key.
    labels: Vec<Vec<Arc<str>>>,
    /// Group names by number.
    groups: Vec<Arc<str>>,
}

impl Shared {
    fn label(&mut self, provider: usize, i: usize) -> Arc<str> {
        if self.labels.len() <= provider {
            self.labels.resize_with(provider + 1, Vec::new);
        }
        let names = &mut self.labels[provider];
        while names.len() <= i {
            names.push(key_label(provider, names.len()).into());
        }
        names[i].clone()
    }

    fn group(&mut self, g: usize) -> Arc<str> {
        while self.groups.len() <= g {
            self.groups.push(group_name(self.groups.len()).into());
        }
        self.groups[g].clone()
    }
}

/// One scripted step of a kind, with its details drawn from `r`.
fn step_of(kind: Kind, r: &mut ChaCha8Rng) -> Drawn {
    let tpl = Drawn::tpl;
    let mut s = match kind {
        Kind::Ok => {
            tpl(["ok", "chat.sse_ok", "responses.ok", "anthropic.ok"][r.random_range(0..4)])
        }
        Kind::RateLimit => {
            let secs = [1u32, 2, 5, 10, 30, 90, 600][r.random_range(0..7)];
            match r.random_range(0..6) {
                0 => Drawn {
                    retry_after: Some(secs as f64),
                    ..tpl("openai.rate_limit")
                },
                1 => Drawn {
                    retry_after_ms: Some(secs as u64 * 1000 - r.random_range(0..900)),
                    ..tpl("openai.rate_limit")
                },
                2 => Drawn {
                    wait_s: Some(secs as f64 + r.random_range(0..1000) as f64 / 1000.0),
                    ..tpl("openai.rate_limit")
                },
                3 => Drawn {
                    wait_s: Some(secs as f64),
                    ..tpl("gemini.rate_limit")
                },
                4 => Drawn {
                    template: None,
                    date_secs: secs,
                    ..Drawn::default()
                },
                _ => tpl(["openai.rate_limit", "anthropic.rate_limit"][r.random_range(0..2)]),
            }
        }
        Kind::Quota => match r.random_range(0..7) {
            0 => Drawn {
                wait_s: Some([30.0, 600.0, 18_000.0][r.random_range(0..3)]),
                ..tpl("openai.usage_limit")
            },
            i => tpl([
                "openai.insufficient_quota",
                "http.402",
                "responses.failed_quota",
                "gemini.daily_quota",
                "anthropic.credit",
                "openrouter.credits",
            ][i - 1]),
        },
        Kind::Auth => tpl([
            "openai.invalid_key",
            "openai.revoked",
            "openai.permission",
            "http.403",
            "anthropic.auth",
        ][r.random_range(0..5)]),
        Kind::Overloaded => {
            let mut s = tpl([
                "openai.overloaded",
                "anthropic.overloaded",
                "http.503",
                "error200.overloaded",
                "zai.overloaded_429",
            ][r.random_range(0..5)]);
            if r.random_range(0..4) == 0 {
                s.retry_after = Some([1.0, 3.0, 20.0][r.random_range(0..3)]);
            }
            s
        }
        Kind::ServerError => tpl([
            "openai.server_error",
            "http.504",
            "chat.sse_cut",
            "responses.sse_failed",
            "responses.failed_partial",
        ][r.random_range(0..5)]),
        Kind::ContentPolicy => tpl([
            "openai.content_policy",
            "anthropic.refusal",
            "gemini.blocked",
        ][r.random_range(0..3)]),
        Kind::ContextOverflow => tpl("openai.context_length"),
        Kind::BadRequest => {
            tpl(["openai.bad_request", "assistants.cancelled"][r.random_range(0..2)])
        }
        Kind::Empty => tpl(["chat.empty", "chat.sse_empty"][r.random_range(0..2)]),
    };
    if r.random_range(0..3) == 0 {
        s.latency_ms = Some([5, 50, 200, 1_000, 5_000][r.random_range(0..5)]);
    }
    s
}

/// A drawn key: its place in the pool and its script (a range of [`Draw::steps`]).
#[derive(Debug, Clone)]
struct DrawnKey {
    priority: i64,
    group: Option<usize>,
    steps: Range<usize>,
}

/// A drawn provider: the primary, or fallback `n` (keys are a range of [`Draw::keys`]).
#[derive(Debug, Clone)]
struct DrawnProvider {
    strategy: Strategy,
    keys: Range<usize>,
    fallback_for: Option<Class>,
}

/// The policy knobs a seed draws, over the preset under test.
#[derive(Debug, Clone, Copy, Default)]
struct Budgets {
    max_retries: Option<u32>,
    max_attempts: Option<u32>,
    deadline_ms: Option<u64>,
    max_wait_ms: Option<u64>,
}

/// The world of one seed, as drawn: plain data, turned into a scenario (for shrinking and
/// files) or straight into the simulator's world (the explorer's hot path).
#[derive(Debug, Clone)]
pub(crate) struct Draw {
    seed: u64,
    providers: Vec<DrawnProvider>,
    keys: Vec<DrawnKey>,
    steps: Vec<Drawn>,
    budgets: Budgets,
    at: Vec<u64>,
}

/// The latency of a step that draws none (the scenario's `latency_ms`).
const LATENCY_MS: u64 = 50;

fn key_label(provider: usize, i: usize) -> String {
    if provider == 0 {
        format!("k{}", i + 1)
    } else {
        format!("f{provider}k{}", i + 1)
    }
}

fn group_name(g: usize) -> String {
    format!("g{g}")
}

fn provider_name(provider: usize) -> String {
    if provider == 0 {
        "primary".to_owned()
    } else {
        format!("fallback{provider}")
    }
}

impl Draw {
    fn scenario(&self) -> Scenario {
        let providers = self
            .providers
            .iter()
            .enumerate()
            .map(|(pi, p)| ProviderDef {
                name: provider_name(pi),
                strategy: p.strategy,
                keys: self.keys[p.keys.clone()]
                    .iter()
                    .enumerate()
                    .map(|(i, k)| KeyDef {
                        label: key_label(pi, i),
                        secret: None,
                        priority: k.priority,
                        group: k.group.map(group_name),
                        script: self.steps[k.steps.clone()]
                            .iter()
                            .map(Drawn::step)
                            .collect(),
                    })
                    .collect(),
                fallback_for: p.fallback_for.map(|c| vec![c]),
            })
            .collect();
        let b = &self.budgets;
        let mut policy = serde_json::Map::new();
        policy.insert("preset".into(), json!("reference"));
        if let Some(n) = b.max_retries {
            policy.insert("max_retries".into(), json!(n));
        }
        if let Some(n) = b.max_attempts {
            policy.insert("max_attempts".into(), json!(n));
        }
        if let Some(n) = b.deadline_ms {
            policy.insert("deadline_ms".into(), json!(n));
        }
        if let Some(n) = b.max_wait_ms {
            policy.insert("max_wait_ms".into(), json!(n));
        }
        Scenario {
            name: format!("explore-{}", self.seed),
            description: format!("drawn by `keypool explore --seed {}`", self.seed),
            seed: self.seed,
            latency_ms: LATENCY_MS,
            providers,
            policy: Some(serde_json::Value::Object(policy)),
            workload: Workload {
                at_ms: self.at.clone(),
                ..Workload::default()
            },
            expect: Expect::default(),
            mutants: BTreeMap::new(),
        }
    }

    pub(crate) fn world(&self, preset_name: &str, shared: &mut Shared) -> Result<World, String> {
        let Ok(mut policy) = scenario::named_policy(preset_name) else {
            // The scenario path words the error (and lists the presets).
            return scenario::world(&self.scenario(), Some(preset_name));
        };
        let b = self.budgets;
        policy.max_retries = b.max_retries.unwrap_or(policy.max_retries);
        policy.max_attempts = b.max_attempts.unwrap_or(policy.max_attempts);
        policy.deadline_ms = b.deadline_ms.unwrap_or(policy.deadline_ms);
        policy.max_wait_ms = b.max_wait_ms.unwrap_or(policy.max_wait_ms);
        let mut providers = Vec::with_capacity(self.providers.len());
        let mut scripts = Vec::with_capacity(self.keys.len());
        for (pi, p) in self.providers.iter().enumerate() {
            let mut keys = Vec::with_capacity(p.keys.len());
            for (i, k) in self.keys[p.keys.clone()].iter().enumerate() {
                keys.push(PoolKey {
                    label: shared.label(pi, i),
                    priority: k.priority,
                    group: k.group.map(|g| shared.group(g)),
                });
                let drawn = &self.steps[k.steps.clone()];
                let mut steps = Vec::with_capacity(drawn.len());
                for d in drawn {
                    steps.push(d.script_step(shared)?);
                }
                scripts.push(Script { steps });
            }
            providers.push(ProviderSpec {
                name: provider_name(pi),
                keys,
                strategy: p.strategy,
                fallback_for: p.fallback_for.map(|c| vec![c]),
            });
        }
        Ok(World {
            name: format!("explore-{}", self.seed),
            seed: self.seed,
            providers,
            policy,
            secrets: vec![None; scripts.len()],
            scripts,
            arrivals: self.at.clone(),
            form: None,
        })
    }
}

/// The world of one seed, as an ordinary scenario (no expectations: the invariants judge it).
///
/// ```
/// let a = keypool::explore::generate(42);
/// assert_eq!(a, keypool::explore::generate(42));
/// assert_ne!(a, keypool::explore::generate(43));
/// ```
pub fn generate(seed: u64) -> Scenario {
    draw(seed).scenario()
}

/// The world of one seed on `preset`, ready to simulate: the same world as
/// `scenario::world(&generate(seed), Some(preset))`, drawn without the scenario in between.
///
/// ```
/// use keypool::explore::{generate, world};
/// let direct = world(42, "hermes").unwrap();
/// assert_eq!(direct, keypool::scenario::world(&generate(42), Some("hermes")).unwrap());
/// assert!(world(42, "no-such-preset").unwrap_err().contains("unknown preset"));
/// ```
pub fn world(seed: u64, preset: &str) -> Result<World, String> {
    draw(seed).world(preset, &mut Shared::default())
}

pub(crate) fn draw(seed: u64) -> Draw {
    // Pool.
    let mut r = rng(seed, Part::Pool);
    let n_keys = [1usize, 2, 2, 3, 3, 4, 5, 6, 8, 10, 16, 25, 50][r.random_range(0..13)];
    let strategy = [
        Strategy::FillFirst,
        Strategy::RoundRobin,
        Strategy::LeastUsed,
        Strategy::Random,
    ][r.random_range(0..4)];
    let groups = if r.random_range(0..3) == 0 {
        r.random_range(1..=3usize)
    } else {
        0
    };
    let priorities = r.random_range(0..2) == 0;

    // Mix: which kinds are on, at which integer ratios.
    let mut rm = rng(seed, Part::Mix);
    let mut mix: Vec<(Kind, u32)> = Vec::with_capacity(KINDS.len());
    for k in KINDS {
        let on = k == Kind::Ok || rm.random_range(0..2) == 0;
        if on {
            mix.push((k, rm.random_range(1..=10)));
        }
    }
    let total: u32 = mix.iter().map(|m| m.1).sum();
    let recoveries = rm.random_range(0..3) == 0;

    // Scripts.
    let mut rs = rng(seed, Part::Scripts);
    let draw_kind = |r: &mut ChaCha8Rng| {
        let mut x = r.random_range(0..total);
        for (k, w) in &mix {
            if x < *w {
                return *k;
            }
            x -= w;
        }
        Kind::Ok
    };
    let mut steps = Vec::with_capacity(n_keys * 3);
    let mut script = |r: &mut ChaCha8Rng| -> Range<usize> {
        let first = steps.len();
        let len = r.random_range(1..=4);
        for i in 0..len {
            let mut s = step_of(draw_kind(r), r);
            if i + 1 < len {
                if recoveries && r.random_range(0..3) == 0 {
                    s.until_ms = Some([10_000, 60_000, 600_000, 3_600_000][r.random_range(0..4)]);
                } else if r.random_range(0..2) == 0 {
                    s.times = Some(r.random_range(1..=3));
                }
            }
            steps.push(s);
        }
        first..steps.len()
    };
    let mut keys = Vec::with_capacity(n_keys + 6);
    for _ in 0..n_keys {
        let priority = if priorities { rs.random_range(0..3) } else { 0 };
        let group = (groups > 0 && rs.random_range(0..2) == 0).then(|| rs.random_range(1..=groups));
        keys.push(DrawnKey {
            priority,
            group,
            steps: script(&mut rs),
        });
    }
    let mut providers = vec![DrawnProvider {
        strategy,
        keys: 0..n_keys,
        fallback_for: None,
    }];

    // Chain.
    let mut rc = rng(seed, Part::Chain);
    let fallbacks = [0usize, 0, 1, 1, 2][rc.random_range(0..5)];
    for _ in 0..fallbacks {
        let n = rc.random_range(1..=3);
        let first = keys.len();
        for _ in 0..n {
            keys.push(DrawnKey {
                priority: 0,
                group: None,
                steps: script(&mut rc),
            });
        }
        let fallback_for = (rc.random_range(0..4) == 0)
            .then(|| [Class::ContentPolicy, Class::ContextOverflow][rc.random_range(0..2)]);
        providers.push(DrawnProvider {
            strategy: Strategy::FillFirst,
            keys: first..keys.len(),
            fallback_for,
        });
    }

    // Policy budgets.
    let mut rp = rng(seed, Part::Policy);
    let mut budgets = Budgets::default();
    if rp.random_range(0..2) == 0 {
        budgets.max_retries = Some(rp.random_range(0..=5));
    }
    if rp.random_range(0..3) == 0 {
        budgets.max_attempts = Some(rp.random_range(3..=32));
    }
    if rp.random_range(0..3) == 0 {
        budgets.deadline_ms = Some([5_000, 30_000, 120_000, 600_000][rp.random_range(0..4)]);
    }
    if rp.random_range(0..3) == 0 {
        budgets.max_wait_ms = Some([1_000, 10_000, 60_000, 300_000][rp.random_range(0..4)]);
    }

    // Workload: bursts and gaps, so requests overlap sometimes.
    let mut rw = rng(seed, Part::Workload);
    let n_req = [1usize, 2, 3, 5, 8, 12, 20, 30][rw.random_range(0..8)];
    let mut t = 0u64;
    let mut at = Vec::with_capacity(n_req);
    for _ in 0..n_req {
        at.push(t);
        t += [0u64, 10, 100, 1_000, 10_000, 61_000, 600_000, 1_900_000][rw.random_range(0..8)];
    }

    Draw {
        seed,
        providers,
        keys,
        steps,
        budgets,
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The explorer's hot path (drawn straight into a world) and the scenario path (drawn,
    /// written as a scenario, validated and built) give the same world, reply for reply.
    #[test]
    fn drawn_worlds_equal_the_worlds_of_their_scenarios() {
        for seed in 1..=1500 {
            let sc = generate(seed);
            for preset in ["reference", "hermes", "litellm", "hermes-16830"] {
                let direct = world(seed, preset).unwrap();
                let via = scenario::world(&sc, Some(preset)).unwrap();
                assert_eq!(direct, via, "seed {seed} on {preset}");
            }
        }
    }

    #[test]
    fn a_drawn_scenario_survives_its_file_form() {
        for seed in 1..=200 {
            let sc = generate(seed);
            let text = serde_json::to_string_pretty(&sc).unwrap();
            let back = scenario::parse(&text, "drawn.json").unwrap();
            assert_eq!(back, sc, "seed {seed}");
        }
    }
}
