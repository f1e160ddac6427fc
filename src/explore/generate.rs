//! Drawing a whole world from one seed, swarm-testing style (as TigerBeetle's VOPR does):
//! each seed enables a different mix of reply kinds at integer ratios, a pool size, a strategy,
//! quota groups, fallbacks, budgets and a workload. Each component draws from its own sub-seed,
//! so adding a knob to one component does not reshuffle the others.

use crate::class::Class;
use crate::pool::Strategy;
use crate::scenario::{Expect, KeyDef, ProviderDef, Scenario, Step, StepDef, Workload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::collections::BTreeMap;

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

fn tpl(name: &str) -> StepDef {
    StepDef {
        template: Some(name.to_owned()),
        ..StepDef::default()
    }
}

/// One scripted step of a kind, with its details drawn from `r`.
fn step_of(kind: Kind, r: &mut ChaCha8Rng) -> StepDef {
    let mut s = match kind {
        Kind::Ok => {
            tpl(["ok", "chat.sse_ok", "responses.ok", "anthropic.ok"][r.random_range(0..4)])
        }
        Kind::RateLimit => {
            let secs = [1u32, 2, 5, 10, 30, 90, 600][r.random_range(0..7)];
            match r.random_range(0..6) {
                0 => StepDef {
                    retry_after: Some(secs as f64),
                    ..tpl("openai.rate_limit")
                },
                1 => StepDef {
                    retry_after_ms: Some(secs as u64 * 1000 - r.random_range(0..900)),
                    ..tpl("openai.rate_limit")
                },
                2 => StepDef {
                    wait_s: Some(secs as f64 + r.random_range(0..1000) as f64 / 1000.0),
                    ..tpl("openai.rate_limit")
                },
                3 => StepDef {
                    wait_s: Some(secs as f64),
                    ..tpl("gemini.rate_limit")
                },
                4 => StepDef {
                    status: Some(429),
                    headers: BTreeMap::from([
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
                    ]),
                    body: Some(
                        r#"{"error":{"message":"Too many requests","type":"rate_limit_error"}}"#
                            .to_owned(),
                    ),
                    ..StepDef::default()
                },
                _ => tpl(["openai.rate_limit", "anthropic.rate_limit"][r.random_range(0..2)]),
            }
        }
        Kind::Quota => match r.random_range(0..7) {
            0 => StepDef {
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

/// Step objects that are only a template become the short string form.
fn compact(mut s: StepDef) -> Step {
    let template = s.template.take();
    if s == StepDef::default() {
        Step::Template(template.unwrap_or_default())
    } else {
        s.template = template;
        Step::Full(s)
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
    let mut mix: Vec<(Kind, u32)> = Vec::new();
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
    let script = |r: &mut ChaCha8Rng| -> Vec<Step> {
        let len = r.random_range(1..=4);
        let mut steps = Vec::new();
        for i in 0..len {
            let mut s = step_of(draw_kind(r), r);
            if i + 1 < len {
                if recoveries && r.random_range(0..3) == 0 {
                    s.until_ms = Some([10_000, 60_000, 600_000, 3_600_000][r.random_range(0..4)]);
                } else if r.random_range(0..2) == 0 {
                    s.times = Some(r.random_range(1..=3));
                }
            }
            steps.push(compact(s));
        }
        steps
    };
    let mut keys = Vec::new();
    for i in 0..n_keys {
        keys.push(KeyDef {
            label: format!("k{}", i + 1),
            secret: None,
            priority: if priorities { rs.random_range(0..3) } else { 0 },
            group: (groups > 0 && rs.random_range(0..2) == 0)
                .then(|| format!("g{}", rs.random_range(1..=groups))),
            script: script(&mut rs),
        });
    }
    let mut providers = vec![ProviderDef {
        name: "primary".into(),
        strategy,
        keys,
        fallback_for: None,
    }];

    // Chain.
    let mut rc = rng(seed, Part::Chain);
    let fallbacks = [0usize, 0, 1, 1, 2][rc.random_range(0..5)];
    for f in 0..fallbacks {
        let n = rc.random_range(1..=3);
        let keys = (0..n)
            .map(|i| KeyDef {
                label: format!("f{}k{}", f + 1, i + 1),
                secret: None,
                priority: 0,
                group: None,
                script: script(&mut rc),
            })
            .collect();
        let fallback_for = (rc.random_range(0..4) == 0)
            .then(|| vec![[Class::ContentPolicy, Class::ContextOverflow][rc.random_range(0..2)]]);
        providers.push(ProviderDef {
            name: format!("fallback{}", f + 1),
            strategy: Strategy::FillFirst,
            keys,
            fallback_for,
        });
    }

    // Policy budgets.
    let mut rp = rng(seed, Part::Policy);
    let mut policy = serde_json::Map::new();
    policy.insert("preset".into(), json!("reference"));
    if rp.random_range(0..2) == 0 {
        policy.insert("max_retries".into(), json!(rp.random_range(0..=5)));
    }
    if rp.random_range(0..3) == 0 {
        policy.insert("max_attempts".into(), json!(rp.random_range(3..=32)));
    }
    if rp.random_range(0..3) == 0 {
        policy.insert(
            "deadline_ms".into(),
            json!([5_000, 30_000, 120_000, 600_000][rp.random_range(0..4)]),
        );
    }
    if rp.random_range(0..3) == 0 {
        policy.insert(
            "max_wait_ms".into(),
            json!([1_000, 10_000, 60_000, 300_000][rp.random_range(0..4)]),
        );
    }

    // Workload: bursts and gaps, so requests overlap sometimes.
    let mut rw = rng(seed, Part::Workload);
    let n_req = [1usize, 2, 3, 5, 8, 12, 20, 30][rw.random_range(0..8)];
    let mut t = 0u64;
    let mut at = Vec::new();
    for _ in 0..n_req {
        at.push(t);
        t += [0u64, 10, 100, 1_000, 10_000, 61_000, 600_000, 1_900_000][rw.random_range(0..8)];
    }

    Scenario {
        name: format!("explore-{seed}"),
        description: format!("drawn by `keypool explore --seed {seed}`"),
        seed,
        latency_ms: 50,
        providers,
        policy: Some(serde_json::Value::Object(policy)),
        workload: Workload {
            at_ms: at,
            ..Workload::default()
        },
        expect: Expect::default(),
        mutants: BTreeMap::new(),
    }
}
