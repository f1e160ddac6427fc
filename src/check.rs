//! Running a scenario and judging it: invariants on its trace, its expectations, determinism
//! (two runs, byte-identical traces) and secrets (none in any output).

use crate::class::Class;
use crate::invariants::{self, Context, Violation};
use crate::pool::KeyState;
use crate::scenario::{self, KeyStateName, OutcomeKind, RequestExpect, Scenario};
use crate::sim::{self, world::World, SimOutput};
use crate::trace::{to_jsonl, Decision, Event};
use std::collections::BTreeSet;

/// One scenario run and everything found wrong with it.
#[derive(Debug, Clone)]
pub struct ScenarioRun {
    /// The preset the run used.
    pub preset: String,
    /// The world that ran.
    pub world: World,
    /// What the simulator produced.
    pub out: SimOutput,
    /// Broken invariants and expectations.
    pub violations: Vec<Violation>,
    /// Violations the scenario declares its own policy makes (`expect.violates`): expected,
    /// so not in `violations`, but shown as evidence.
    pub declared: Vec<Violation>,
}

impl ScenarioRun {
    /// The distinct names of what broke.
    pub fn broken(&self) -> BTreeSet<&'static str> {
        self.violations.iter().map(|v| v.invariant).collect()
    }

    /// The trace as JSON Lines (rendered on demand: a million-request run has millions of
    /// events).
    pub fn trace_jsonl(&self) -> String {
        to_jsonl(&self.out.trace, &self.out.names)
    }
}

/// Runs a scenario on its own preset, or on `preset` instead (its overrides still apply).
pub fn run(sc: &Scenario, preset: Option<&str>) -> Result<ScenarioRun, String> {
    let world = scenario::world(sc, preset)?;
    let out = sim::run(&world, true);
    let mut violations = trace_violations(&world, &out);
    violations.extend(faithful(&world, &out));
    violations.extend(determinism(
        &world,
        &out,
        sim::Options {
            record: true,
            classify_once: false,
        },
    ));
    violations.extend(expectations(sc, &out));
    let skip: Vec<&str> = sc
        .expect
        .skip_invariants
        .iter()
        .map(String::as_str)
        .collect();
    violations.retain(|v| !skip.contains(&v.invariant));
    let mut declared = Vec::new();
    if preset.is_none() && !sc.expect.violates.is_empty() {
        let named: BTreeSet<&str> = sc.expect.violates.iter().map(String::as_str).collect();
        let happened: BTreeSet<&str> = violations.iter().map(|v| v.invariant).collect();
        let missing: Vec<&str> = named.difference(&happened).copied().collect();
        (declared, violations) = violations
            .into_iter()
            .partition(|v| named.contains(v.invariant));
        for m in missing {
            violations.push(Violation {
                invariant: "expect",
                req: None,
                attempt: None,
                t: None,
                message: format!("`{m}` is declared broken (expect.violates) but held"),
            });
        }
    }
    let mut preset = preset.map(str::to_owned).unwrap_or_else(|| {
        sc.policy
            .as_ref()
            .and_then(|p| p.get("preset"))
            .and_then(|v| v.as_str())
            .unwrap_or("reference")
            .to_owned()
    });
    // The scenario changed some of the preset's fields: say so wherever the name is shown.
    let overrides = sc
        .policy
        .as_ref()
        .and_then(|p| p.as_object())
        .is_some_and(|m| m.keys().any(|k| k != "preset"));
    if overrides {
        preset.push_str("+overrides");
    }
    let mut run = ScenarioRun {
        preset,
        world,
        out,
        violations,
        declared,
    };
    // The only text a rendered trace holds beyond fixed words and numbers is these names
    // (events are plain data), so checking them checks every line of the trace.
    let names: String = run
        .out
        .names
        .keys
        .iter()
        .map(|k| &**k)
        .chain(run.out.names.providers.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join("\n");
    let leaks = secret_leaks(&run.world, &[&names, &report_text(&run)]);
    run.violations.extend(leaks);
    Ok(run)
}

/// Every trace invariant on one simulation of `world` (a run cut by the event cap does not
/// terminate).
pub fn trace_violations(world: &World, out: &SimOutput) -> Vec<Violation> {
    let ctx = Context::new(&world.providers, &world.policy);
    let mut violations = invariants::check(&out.trace, &ctx);
    if out.truncated {
        violations.push(Violation {
            invariant: "terminates",
            req: None,
            attempt: None,
            t: None,
            message: format!(
                "the run was cut after {} events",
                sim::event_cap(world.arrivals.len())
            ),
        });
    }
    violations
}

/// `faithful_trace`: the engine's account of each reply (its `reply` events) against what the
/// simulated upstream served: the same key, status, class and retry-after as the classifier
/// reads from the served step. The other invariants judge the trace, so a trace that misstates
/// a reply would mislead them; this is the check that does not take the engine's word.
pub fn faithful(world: &World, out: &SimOutput) -> Vec<Violation> {
    use std::collections::HashMap;
    let formed = world.formed();
    let world = formed.as_ref().unwrap_or(world);
    let served: HashMap<(u32, u32), &sim::Served> =
        out.served.iter().map(|s| ((s.req, s.attempt), s)).collect();
    let mut v = Vec::new();
    for e in &out.trace {
        let Event::Reply {
            t,
            req,
            attempt,
            key,
            status,
            class,
            retry_after_ms,
            ..
        } = *e
        else {
            continue;
        };
        // Status 0: no reply came (a timeout, a reset, a cut), which the upstream did not serve.
        if status == 0 {
            continue;
        }
        let mut says = |message: String| {
            v.push(Violation {
                invariant: "faithful_trace",
                req: Some(req),
                attempt: Some(attempt),
                t: Some(t),
                message,
            })
        };
        let Some(s) = served.get(&(req, attempt)) else {
            says("the trace records a reply the upstream never served".into());
            continue;
        };
        if s.key != key {
            says(format!(
                "the reply is charged to key #{key}, but key #{} served it",
                s.key
            ));
            continue;
        }
        let Some(step) = world
            .scripts
            .get(s.key as usize)
            .and_then(|sc| sc.steps.get(s.step as usize))
        else {
            continue;
        };
        let date = sim::clock::VIRTUAL_EPOCH_S.saturating_add((s.t / 1000) as i64);
        let stamped = sim::clock::stamp(&step.reply, date);
        let reply = stamped.as_ref().unwrap_or(&step.reply);
        let read = crate::classify(reply);
        if reply.status != status || read.class != class || read.retry_after_ms != retry_after_ms {
            says(format!(
                "the trace says {status} {class} (retry-after {retry_after_ms:?}), but the reply served was {} {} (retry-after {:?})",
                reply.status, read.class, read.retry_after_ms
            ));
        }
    }
    v
}

/// `deterministic`: the same world run again must give the same trace, byte for byte.
pub fn determinism(world: &World, first: &SimOutput, opts: sim::Options) -> Option<Violation> {
    let again = sim::run_with(world, opts);
    // Equal events under equal names render to equal bytes: compare the events, and render
    // only to say where they part.
    if again.trace == first.trace && again.names == first.names {
        return None;
    }
    let line = first
        .trace
        .iter()
        .zip(&again.trace)
        .position(|(a, b)| a.to_json(&first.names) != b.to_json(&again.names))
        .unwrap_or(first.trace.len().min(again.trace.len()))
        + 1;
    Some(Violation {
        invariant: "deterministic",
        req: None,
        attempt: None,
        t: None,
        message: format!(
            "a second run with seed {} differs at trace line {line}",
            world.seed
        ),
    })
}

/// Secrets of the world found in any of `outputs`.
pub fn secret_leaks(world: &World, outputs: &[&str]) -> Vec<Violation> {
    let mut v = Vec::new();
    for (i, s) in world.secrets.iter().enumerate() {
        let Some(s) = s.as_deref().filter(|s| s.len() >= 4) else {
            continue;
        };
        if outputs.iter().any(|o| o.contains(s)) {
            v.push(Violation {
                invariant: "no_secret_in_output",
                req: None,
                attempt: None,
                t: None,
                message: format!("the secret of key #{i} appears in the output"),
            });
        }
    }
    v
}

pub use crate::pool::fingerprint;

/// The per-request timeline and the key table, as `keypool run` prints them.
pub fn report_text(run: &ScenarioRun) -> String {
    use std::fmt::Write;
    let names = &run.out.names;
    let mut s = String::new();
    // One pass over the trace, steps filed per request (a scan per request was quadratic).
    let mut steps: Vec<Vec<String>> = vec![Vec::new(); run.out.outcomes.len()];
    for e in &run.out.trace {
        let (req, step) = match *e {
            Event::Reply {
                req, key, class, t, ..
            } => (req, format!("{}@{}ms→{}", names.key(key), t, class)),
            Event::Decision {
                req,
                decision: Decision::Wait(_),
                until: Some(u),
                t,
                ..
            } => (req, format!("wait {}ms", u.saturating_sub(t))),
            Event::Decision {
                req,
                decision: Decision::Fallback,
                ..
            } => (req, "fallback".into()),
            _ => continue,
        };
        if let Some(list) = steps.get_mut(req as usize) {
            list.push(step);
        }
    }
    for (i, o) in run.out.outcomes.iter().enumerate() {
        let steps = std::mem::take(&mut steps[i]);
        let end = match o {
            Some(o) if o.success => "success".to_owned(),
            Some(o) => format!(
                "failed: {}{}",
                o.class,
                o.ready_at
                    .map(|r| format!(", ready at {r} ms"))
                    .unwrap_or_default()
            ),
            None => "never ended".into(),
        };
        let _ = writeln!(s, "  req {i}: {} ⇒ {end}", steps.join(", "));
    }
    let mut line = String::from("  keys:");
    for (k, st) in run.out.final_states.iter().enumerate() {
        let fp = run.world.secrets[k]
            .as_deref()
            .map(|x| format!(" {}", fingerprint(x)))
            .unwrap_or_default();
        let _ = write!(line, " {}{fp}={}", names.key(k as u32), st.label());
    }
    s.push_str(&line);
    s.push('\n');
    s
}

fn exp(req: Option<u32>, message: String) -> Violation {
    Violation {
        invariant: "expect",
        req,
        attempt: None,
        t: None,
        message,
    }
}

/// What was seen of one request, to judge a scenario's expectations on: from the simulator,
/// or from outside a gateway (`keypool conform`), where exact waits and ready times are `None`
/// (not observable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest<'a> {
    /// It ended as a success.
    pub success: bool,
    /// The class it ended with.
    pub class: Class,
    /// The keys of its upstream calls, in order, with each call's provider.
    pub calls: Vec<(&'a str, &'a str)>,
    /// The lengths of its waits, when observable.
    pub waits: Option<Vec<u64>>,
    /// The ready time its failure carried, when observable.
    pub ready_at: Option<Option<u64>>,
}

/// A key's final state by label (`None`: not known).
pub type StateOf<'a> = dyn Fn(&str) -> Option<KeyStateName> + 'a;

/// Judges `sc`'s expectations on what was seen of each request (`None`: it never ended) and
/// of each key's final state (`None` when not observable). Returns the violations and the
/// names of expectations that could not be judged.
pub fn judge_expect(
    sc: &Scenario,
    requests: &[Option<SeenRequest>],
    states: Option<&StateOf>,
) -> (Vec<Violation>, BTreeSet<&'static str>) {
    let mut v = Vec::new();
    let mut unchecked = BTreeSet::new();
    let mut check_req = |r: u32, e: &RequestExpect, v: &mut Vec<Violation>| {
        let Some(o) = requests.get(r as usize).and_then(|o| o.as_ref()) else {
            v.push(exp(Some(r), "never ended".into()));
            return;
        };
        if let Some(want) = e.outcome {
            let got = if o.success {
                OutcomeKind::Success
            } else {
                OutcomeKind::Failed
            };
            if got != want {
                v.push(exp(
                    Some(r),
                    format!("outcome {got:?}, expected {want:?} (ended as {})", o.class),
                ));
            }
        }
        if let Some(c) = e.class {
            if o.class != c {
                v.push(exp(Some(r), format!("ended as {}, expected {c}", o.class)));
            }
        }
        let labels: Vec<&str> = o.calls.iter().map(|c| c.0).collect();
        if let Some(keys) = &e.keys {
            if labels != keys.iter().map(String::as_str).collect::<Vec<_>>() {
                v.push(exp(Some(r), format!("keys {labels:?}, expected {keys:?}")));
            }
        }
        if let Some(set) = &e.key_set {
            let got: BTreeSet<&str> = labels.iter().copied().collect();
            let want: BTreeSet<&str> = set.iter().map(String::as_str).collect();
            if got != want {
                v.push(exp(Some(r), format!("key set {got:?}, expected {want:?}")));
            }
        }
        if let Some(n) = e.attempts {
            if o.calls.len() as u32 != n {
                v.push(exp(
                    Some(r),
                    format!("{} attempts, expected {n}", o.calls.len()),
                ));
            }
        }
        match (&e.waits_ms, &o.waits) {
            (Some(w), Some(got)) if got != w => {
                v.push(exp(Some(r), format!("waits {got:?} ms, expected {w:?}")));
            }
            (Some(_), None) => {
                unchecked.insert("waits_ms");
            }
            _ => {}
        }
        match (e.ready_at_ms, o.ready_at) {
            (Some(ra), Some(got)) if got != ra => {
                v.push(exp(Some(r), format!("ready_at {got:?}, expected {ra:?}")));
            }
            (Some(_), None) => {
                unchecked.insert("ready_at_ms");
            }
            _ => {}
        }
        if let Some(p) = &e.provider {
            let got = o.calls.last().map(|c| c.1);
            if got != Some(p.as_str()) {
                v.push(exp(
                    Some(r),
                    format!("last attempt on provider {got:?}, expected {p}"),
                ));
            }
        }
    };
    for e in &sc.expect.requests {
        if let Some(r) = e.request {
            check_req(r, e, &mut v);
        }
    }
    if let Some(e) = &sc.expect.every_request {
        for r in 0..requests.len() as u32 {
            check_req(r, e, &mut v);
        }
    }
    let seen = || requests.iter().flatten();
    for (label, ke) in &sc.expect.keys {
        if let Some(n) = ke.attempts {
            let got = seen()
                .flat_map(|r| &r.calls)
                .filter(|c| c.0 == label)
                .count() as u32;
            if got != n {
                v.push(exp(
                    None,
                    format!("key {label} served {got} attempts, expected {n}"),
                ));
            }
        }
        if let Some(n) = ke.requests {
            let got = seen()
                .filter(|r| r.calls.first().is_some_and(|c| c.0 == label))
                .count() as u32;
            if got != n {
                v.push(exp(
                    None,
                    format!("key {label} took {got} requests first, expected {n}"),
                ));
            }
        }
        if let Some(want) = ke.state {
            match states.and_then(|f| f(label)) {
                Some(got) if got != want => v.push(exp(
                    None,
                    format!("key {label} ended {got:?}, expected {want:?}"),
                )),
                Some(_) => {}
                None => {
                    unchecked.insert("keys.state");
                }
            }
        }
    }
    if let Some(n) = sc.expect.total_attempts {
        let got = seen().map(|r| r.calls.len()).sum::<usize>() as u32;
        if got != n {
            v.push(exp(None, format!("{got} attempts in all, expected {n}")));
        }
    }
    // `every_request` and `requests[i]` may pin the same thing: say it once.
    let mut seen = BTreeSet::new();
    v.retain(|x| seen.insert((x.req, x.message.clone())));
    (v, unchecked)
}

fn expectations(sc: &Scenario, out: &SimOutput) -> Vec<Violation> {
    let names = &out.names;
    let mut calls: Vec<Vec<(&str, &str)>> = vec![Vec::new(); out.outcomes.len()];
    let mut waits: Vec<Vec<u64>> = vec![Vec::new(); out.outcomes.len()];
    for e in &out.trace {
        match *e {
            Event::Attempt {
                req, key, provider, ..
            } => {
                if let Some(c) = calls.get_mut(req as usize) {
                    c.push((names.key(key), names.provider(provider)));
                }
            }
            Event::Decision {
                req,
                decision: Decision::Wait(_),
                until: Some(u),
                t,
                ..
            } => {
                if let Some(w) = waits.get_mut(req as usize) {
                    w.push(u.saturating_sub(t));
                }
            }
            _ => {}
        }
    }
    let requests: Vec<Option<SeenRequest>> = out
        .outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            o.as_ref().map(|o| SeenRequest {
                success: o.success,
                class: o.class,
                calls: std::mem::take(&mut calls[i]),
                waits: Some(std::mem::take(&mut waits[i])),
                ready_at: Some(o.ready_at),
            })
        })
        .collect();
    let state = |label: &str| -> Option<KeyStateName> {
        let id = names.keys.iter().position(|k| &**k == label)?;
        Some(match out.final_states[id] {
            KeyState::Ready => KeyStateName::Ready,
            KeyState::Benched { .. } => KeyStateName::Benched,
            _ => KeyStateName::Disabled,
        })
    };
    judge_expect(sc, &requests, Some(&state)).0
}

/// How a mutant fared on a scenario that declares it.
#[derive(Debug, Clone)]
pub struct MutantVerdict {
    /// The mutant preset.
    pub mutant: String,
    /// What the scenario declares it violates.
    pub expected: BTreeSet<String>,
    /// What it did violate.
    pub actual: BTreeSet<String>,
    /// The run.
    pub run: ScenarioRun,
}

impl MutantVerdict {
    /// True when the mutant broke exactly what was declared.
    pub fn as_declared(&self) -> bool {
        self.expected == self.actual
    }
}

/// Runs one mutant the scenario declares.
pub fn run_mutant(sc: &Scenario, name: &str) -> Result<MutantVerdict, String> {
    let m = sc
        .mutants
        .get(name)
        .ok_or_else(|| format!("scenario {} declares no mutant {name}", sc.name))?;
    let run = run(sc, Some(name))?;
    let actual = run.broken().into_iter().map(str::to_owned).collect();
    let expected = m.violates.iter().cloned().collect();
    Ok(MutantVerdict {
        mutant: name.to_owned(),
        expected,
        actual,
        run,
    })
}

/// Runs every mutant the scenario declares.
pub fn run_mutants(sc: &Scenario) -> Result<Vec<MutantVerdict>, String> {
    sc.mutants.keys().map(|name| run_mutant(sc, name)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One key answering 401 forever under hermes: the key is benched, not disabled, and
    /// called again when the bench ends (`disabled_key_probing` breaks).
    fn hermes_401(violates: &str) -> Scenario {
        let text = format!(
            r#"{{"name": "t", "providers": [{{"name": "p", "keys": [
                {{"label": "k1", "script": ["openai.invalid_key"]}}, {{"label": "k2"}}]}}],
              "policy": {{"preset": "hermes"}}, "workload": {{"at_ms": [0, 301000]}},
              "expect": {{"violates": [{violates}]}}}}"#
        );
        scenario::parse(&text, "t.json").unwrap()
    }

    #[test]
    fn declared_violations_must_happen_exactly() {
        let run = run(&hermes_401(r#""disabled_key_probing""#), None).unwrap();
        assert!(run.violations.is_empty(), "{:?}", run.violations);
        assert!(run
            .declared
            .iter()
            .all(|v| v.invariant == "disabled_key_probing"));
        assert!(!run.declared.is_empty());
        // Declared but held: a failure of its own.
        let both = r#""disabled_key_probing", "pool_walk_complete""#;
        let run = super::run(&hermes_401(both), None).unwrap();
        assert_eq!(run.broken().into_iter().collect::<Vec<_>>(), ["expect"]);
        // Broken but undeclared: still a violation.
        let run = super::run(&hermes_401(""), None).unwrap();
        assert_eq!(
            run.broken().into_iter().collect::<Vec<_>>(),
            ["disabled_key_probing"]
        );
        // A mutant run is judged without the scenario's own declaration.
        let run = super::run(&hermes_401(r#""disabled_key_probing""#), Some("reference")).unwrap();
        assert!(run.declared.is_empty() && run.violations.is_empty());
    }

    #[test]
    fn a_trace_that_misstates_a_reply_is_caught() {
        let sc = scenario::parse(
            r#"{"name": "f", "providers": [{"name": "p", "keys": [
                {"label": "k1", "script": ["openai.insufficient_quota"]}, {"label": "k2"}]}],
              "workload": {"at_ms": [0]}}"#,
            "f.json",
        )
        .unwrap();
        let world = scenario::world(&sc, None).unwrap();
        let mut out = sim::run(&world, true);
        assert!(faithful(&world, &out).is_empty());
        // An engine that told the checker the quota error was a rate limit (so a later call
        // to k1 would look allowed) is caught, and so is one that charged it to k2.
        for e in &mut out.trace {
            if let Event::Reply { class, .. } = e {
                if *class == Class::QuotaExhausted {
                    *class = Class::RateLimit;
                }
            }
        }
        let v = faithful(&world, &out);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].message.contains("quota_exhausted"), "{}", v[0].message);
        for e in &mut out.trace {
            if let Event::Reply { key, .. } = e {
                *key = 1;
            }
        }
        assert!(faithful(&world, &out)[0]
            .message
            .contains("key #0 served it"));
    }
}
