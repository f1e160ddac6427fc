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
    /// The trace as JSON Lines.
    pub trace_jsonl: String,
    /// Broken invariants and expectations.
    pub violations: Vec<Violation>,
}

impl ScenarioRun {
    /// The distinct names of what broke.
    pub fn broken(&self) -> BTreeSet<&'static str> {
        self.violations.iter().map(|v| v.invariant).collect()
    }
}

/// Runs a scenario on its own preset, or on `preset` instead (its overrides still apply).
pub fn run(sc: &Scenario, preset: Option<&str>) -> Result<ScenarioRun, String> {
    let world = scenario::world(sc, preset)?;
    let out = sim::run(&world, true);
    let trace_jsonl = to_jsonl(&out.trace, &out.names);
    let mut violations = trace_violations(&world, &out);
    violations.extend(determinism(
        &world,
        &trace_jsonl,
        sim::Options {
            record: true,
            classify_once: false,
        },
    ));
    violations.extend(expectations(sc, &world, &out));
    let skip: Vec<&str> = sc
        .expect
        .skip_invariants
        .iter()
        .map(String::as_str)
        .collect();
    violations.retain(|v| !skip.contains(&v.invariant));
    let preset = preset.map(str::to_owned).unwrap_or_else(|| {
        sc.policy
            .as_ref()
            .and_then(|p| p.get("preset"))
            .and_then(|v| v.as_str())
            .unwrap_or("reference")
            .to_owned()
    });
    let mut run = ScenarioRun {
        preset,
        world,
        out,
        trace_jsonl,
        violations,
    };
    let leaks = secret_leaks(&run.world, &[&run.trace_jsonl, &report_text(&run)]);
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
            message: format!("the run was cut after {} events", sim::EVENT_CAP),
        });
    }
    violations
}

/// `deterministic`: the same world run again must give the same trace, byte for byte.
pub fn determinism(world: &World, first_jsonl: &str, opts: sim::Options) -> Option<Violation> {
    let again = sim::run_with(world, opts);
    let again_jsonl = to_jsonl(&again.trace, &again.names);
    if again_jsonl == first_jsonl {
        return None;
    }
    let line = first_jsonl
        .lines()
        .zip(again_jsonl.lines())
        .position(|(a, b)| a != b)
        .unwrap_or(0)
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
    for (i, o) in run.out.outcomes.iter().enumerate() {
        let steps: Vec<String> = run
            .out
            .trace
            .iter()
            .filter_map(|e| match *e {
                Event::Reply {
                    req, key, class, t, ..
                } if req as usize == i => Some(format!("{}@{}ms→{}", names.key(key), t, class)),
                Event::Decision {
                    req,
                    decision: Decision::Wait(_),
                    until: Some(u),
                    t,
                    ..
                } if req as usize == i => Some(format!("wait {}ms", u - t)),
                Event::Decision {
                    req,
                    decision: Decision::Fallback,
                    ..
                } if req as usize == i => Some("fallback".into()),
                _ => None,
            })
            .collect();
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

fn expectations(sc: &Scenario, world: &World, out: &SimOutput) -> Vec<Violation> {
    let names = &out.names;
    let mut v = Vec::new();
    let attempts_of = |r: u32| -> Vec<(u64, u32, u32)> {
        out.trace
            .iter()
            .filter_map(|e| match *e {
                Event::Attempt {
                    req,
                    key,
                    provider,
                    t,
                    ..
                } if req == r => Some((t, key, provider)),
                _ => None,
            })
            .collect()
    };
    let check_req = |r: u32, e: &RequestExpect, v: &mut Vec<Violation>| {
        let Some(o) = out.outcomes.get(r as usize).and_then(|o| o.as_ref()) else {
            v.push(exp(Some(r), "never ended".into()));
            return;
        };
        let atts = attempts_of(r);
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
        let labels: Vec<&str> = atts.iter().map(|a| names.key(a.1)).collect();
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
            if o.attempts != n {
                v.push(exp(
                    Some(r),
                    format!("{} attempts, expected {n}", o.attempts),
                ));
            }
        }
        if let Some(w) = &e.waits_ms {
            let got: Vec<u64> = out
                .trace
                .iter()
                .filter_map(|ev| match *ev {
                    Event::Decision {
                        req,
                        decision: Decision::Wait(_),
                        until: Some(u),
                        t,
                        ..
                    } if req == r => Some(u - t),
                    _ => None,
                })
                .collect();
            if &got != w {
                v.push(exp(Some(r), format!("waits {got:?} ms, expected {w:?}")));
            }
        }
        if let Some(ra) = e.ready_at_ms {
            if o.ready_at != ra {
                v.push(exp(
                    Some(r),
                    format!("ready_at {:?}, expected {ra:?}", o.ready_at),
                ));
            }
        }
        if let Some(p) = &e.provider {
            let got = atts.last().map(|a| names.provider(a.2));
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
        for r in 0..world.arrivals.len() as u32 {
            check_req(r, e, &mut v);
        }
    }
    for (label, ke) in &sc.expect.keys {
        let Some(id) = names.keys.iter().position(|k| **k == **label) else {
            continue;
        };
        let id = id as u32;
        let attempts = out
            .trace
            .iter()
            .filter(|e| matches!(e, Event::Attempt { key, .. } if *key == id))
            .count() as u32;
        if let Some(n) = ke.attempts {
            if attempts != n {
                v.push(exp(
                    None,
                    format!("key {label} served {attempts} attempts, expected {n}"),
                ));
            }
        }
        if let Some(n) = ke.requests {
            let mut seen = BTreeSet::new();
            let firsts = out
                .trace
                .iter()
                .filter(|e| matches!(e, Event::Attempt { req, .. } if seen.insert(*req)))
                .filter(|e| matches!(e, Event::Attempt { key, .. } if *key == id))
                .count() as u32;
            if firsts != n {
                v.push(exp(
                    None,
                    format!("key {label} took {firsts} requests first, expected {n}"),
                ));
            }
        }
        if let Some(want) = ke.state {
            let got = match out.final_states[id as usize] {
                KeyState::Ready => KeyStateName::Ready,
                KeyState::Benched { .. } => KeyStateName::Benched,
                _ => KeyStateName::Disabled,
            };
            if got != want {
                v.push(exp(
                    None,
                    format!("key {label} ended {got:?}, expected {want:?}"),
                ));
            }
        }
    }
    if let Some(n) = sc.expect.total_attempts {
        let got = out
            .trace
            .iter()
            .filter(|e| matches!(e, Event::Attempt { .. }))
            .count() as u32;
        if got != n {
            v.push(exp(None, format!("{got} attempts in all, expected {n}")));
        }
    }
    let _ = Class::Success;
    v
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
