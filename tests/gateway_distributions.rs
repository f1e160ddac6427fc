//! Random routing can't be pinned to one key sequence: for the shuffled LiteLLM cases of
//! docs/gateways.md, the share of requests that succeed over many seeds must match what the
//! real Router was measured doing (and what the shuffle implies).

use keypool::trace::Event;
use keypool::{check, scenario};

/// `failing` keys answer `template` forever, then one good key; the key order is shuffled.
fn share_ok(failing: usize, template: &str, max_retries: u32) -> f64 {
    share_ok_in(failing, &[template], max_retries, 1 + max_retries, "")
}

/// As `share_ok`, the failing keys answering `templates` in turn, with more `policy` fields;
/// every failure makes exactly `calls` calls.
fn share_ok_in(
    failing: usize,
    templates: &[&str],
    max_retries: u32,
    calls: u32,
    policy: &str,
) -> f64 {
    const SEEDS: u64 = 400;
    let mut keys: Vec<String> = (1..=failing)
        .map(|i| {
            let t = templates[(i - 1) % templates.len()];
            format!(r#"{{"label": "k{i}", "script": ["{t}"]}}"#)
        })
        .collect();
    keys.push(format!(r#"{{"label": "k{}"}}"#, failing + 1));
    let mut ok = 0;
    for seed in 0..SEEDS {
        let text = format!(
            r#"{{"name": "d", "seed": {seed},
                "providers": [{{"name": "p", "strategy": "random", "keys": [{}]}}],
                "policy": {{"preset": "litellm", "max_retries": {max_retries}{policy}}},
                "workload": {{"at_ms": [0]}}}}"#,
            keys.join(",")
        );
        let sc = scenario::parse(&text, "d.json").unwrap();
        let run = check::run(&sc, None).unwrap();
        let o = run.out.outcomes[0].as_ref().expect("the request ended");
        assert!(o.success || o.attempts == calls, "{o:?}");
        ok += u64::from(o.success);
    }
    ok as f64 / SEEDS as f64
}

fn near(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 0.07,
        "{what}: {got:.2} succeeded, expected about {want:.2}"
    );
}

#[test]
fn litellm_tries_one_plus_num_retries_shuffled_keys() {
    // Every failure spends exactly 1 + num_retries calls (measured).
    // k1 429, k2 429, k3 ok. Measured: num_retries 0 → 7/20 ok; 2 → 20/20.
    near(
        share_ok(2, "openai.rate_limit", 0),
        1.0 / 3.0,
        "num_retries 0",
    );
    assert_eq!(share_ok(2, "openai.rate_limit", 2), 1.0, "num_retries 2");
    // k1..k9 429, k10 ok. Measured: 2 → 9/20 ok; 3 → 8/20; 9 → 20/20.
    near(
        share_ok(9, "openai.rate_limit", 2),
        0.3,
        "nine 429, num_retries 2",
    );
    near(
        share_ok(9, "openai.rate_limit", 3),
        0.4,
        "nine 429, num_retries 3",
    );
    assert_eq!(
        share_ok(9, "openai.rate_limit", 9),
        1.0,
        "nine 429, num_retries 9"
    );
    // k2's 429 is insufficient_quota: identical (quota is cooled like a rate limit).
    let mixed = ["openai.rate_limit", "openai.insufficient_quota"];
    near(
        share_ok_in(2, &mixed, 0, 1, ""),
        1.0 / 3.0,
        "quota, num_retries 0",
    );
    assert_eq!(
        share_ok_in(2, &mixed, 2, 3, ""),
        1.0,
        "quota, num_retries 2"
    );
    // `enable_weighted_failover` with num_retries 3: 20/20 ok, up to 10 distinct keys — a
    // rotation no longer spends a retry.
    let weighted = r#", "rotation_costs_retry": false"#;
    assert_eq!(
        share_ok_in(9, &["openai.rate_limit"], 3, 0, weighted),
        1.0,
        "weighted failover"
    );
    // k1..k9 401, k10 ok. Measured: 2 → 4/10 ok; 9 → 10/10.
    near(
        share_ok(9, "openai.invalid_key", 2),
        0.3,
        "nine 401, num_retries 2",
    );
    assert_eq!(
        share_ok(9, "openai.invalid_key", 9),
        1.0,
        "nine 401, num_retries 9"
    );
}

#[test]
fn litellm_never_rotates_a_402() {
    // k1..k9 402, k10 ok: one call; only a shuffle that drew k10 first succeeds.
    near(
        share_ok_in(9, &["openrouter.credits"], 2, 1, ""),
        0.1,
        "nine 402",
    );
}

#[test]
fn litellm_redraws_a_key_that_answered_529() {
    // k1 529 forever, k2 ok. A 529 is not cooled and the retry draws from every deployment,
    // so only k1 k1 k1 fails: 1/8 of the draws (measured: `k1 k1 k1`, then `k2`).
    near(
        share_ok(1, "anthropic.overloaded", 2),
        7.0 / 8.0,
        "529, num_retries 2",
    );
}

#[test]
fn litellm_order_draws_from_the_best_healthy_level_then_each_level_in_turn() {
    // Two deployments of `order` 1 answering 429, two of `order` 2 working, shuffled, and
    // num_retries 0: the first pass draws only from order 1; its order fallback only from 2.
    let mut first_keys = std::collections::BTreeSet::new();
    for seed in 0..200 {
        let text = format!(
            r#"{{"name": "d", "seed": {seed},
                "providers": [{{"name": "p", "strategy": "random", "keys": [
                    {{"label": "k1", "priority": 0, "script": ["openai.rate_limit"]}},
                    {{"label": "k2", "priority": 0, "script": ["openai.rate_limit"]}},
                    {{"label": "k3", "priority": 1}},
                    {{"label": "k4", "priority": 1}}]}}],
                "policy": {{"preset": "litellm", "max_retries": 0}},
                "workload": {{"at_ms": [0]}}}}"#
        );
        let sc = scenario::parse(&text, "d.json").unwrap();
        let run = check::run(&sc, None).unwrap();
        let o = run.out.outcomes[0].as_ref().expect("the request ended");
        assert!(o.success && o.attempts == 2, "seed {seed}: {o:?}");
        let keys: Vec<String> = run
            .out
            .trace
            .iter()
            .filter_map(|e| match e {
                Event::Attempt { key, .. } => Some(run.out.names.key(*key).to_string()),
                _ => None,
            })
            .collect();
        assert!(
            ["k1", "k2"].contains(&keys[0].as_str()),
            "seed {seed}: {keys:?}"
        );
        assert!(
            ["k3", "k4"].contains(&keys[1].as_str()),
            "seed {seed}: {keys:?}"
        );
        first_keys.insert(keys[0].clone());
    }
    assert_eq!(first_keys.len(), 2, "both order-1 deployments are drawn");
}
