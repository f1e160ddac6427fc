//! Shrinking: reduce a violating world step by step, keeping each reduction that still
//! violates the same invariant, until none applies: fewer providers, requests and keys,
//! shorter scripts, plainer replies, default policy values.

use super::Worker;
use crate::pool::Strategy;
use crate::scenario::{Scenario, Step, StepDef};

fn violates(w: &mut Worker, sc: &Scenario, preset: &str, invariant: &str) -> bool {
    w.check_world(sc, preset, false)
        .is_ok_and(|r| r.violations.iter().any(|v| v.invariant == invariant))
}

/// Every one-step reduction of `sc`, biggest first.
fn candidates(sc: &Scenario) -> Vec<Scenario> {
    let mut out = Vec::new();
    // Fallback providers.
    for p in (1..sc.providers.len()).rev() {
        let mut c = sc.clone();
        c.providers.remove(p);
        out.push(c);
    }
    // Requests: the first half, then each one.
    let at = &sc.workload.at_ms;
    if at.len() > 1 {
        let mut c = sc.clone();
        c.workload.at_ms.truncate(at.len() / 2);
        out.push(c);
        for i in (0..at.len()).rev() {
            let mut c = sc.clone();
            c.workload.at_ms.remove(i);
            out.push(c);
        }
    }
    // Keys: the first half, then each one.
    for (pi, p) in sc.providers.iter().enumerate() {
        if p.keys.len() > 1 {
            let mut c = sc.clone();
            c.providers[pi].keys.truncate(p.keys.len() / 2);
            out.push(c);
            for k in (0..p.keys.len()).rev() {
                let mut c = sc.clone();
                c.providers[pi].keys.remove(k);
                out.push(c);
            }
        }
    }
    // Scripts: drop a step, make it plain, strip its details.
    for (pi, p) in sc.providers.iter().enumerate() {
        for (ki, k) in p.keys.iter().enumerate() {
            for si in (0..k.script.len()).rev() {
                if k.script.len() > 1 {
                    let mut c = sc.clone();
                    c.providers[pi].keys[ki].script.remove(si);
                    out.push(c);
                }
                if k.script[si] != Step::Template("ok".into()) {
                    let mut c = sc.clone();
                    c.providers[pi].keys[ki].script[si] = Step::Template("ok".into());
                    out.push(c);
                }
                if let Step::Full(d) = &k.script[si] {
                    for simpler in simplify(d) {
                        let mut c = sc.clone();
                        c.providers[pi].keys[ki].script[si] = simpler;
                        out.push(c);
                    }
                }
            }
            if k.group.is_some() {
                let mut c = sc.clone();
                c.providers[pi].keys[ki].group = None;
                out.push(c);
            }
            if k.priority != 0 {
                let mut c = sc.clone();
                c.providers[pi].keys[ki].priority = 0;
                out.push(c);
            }
        }
        if p.strategy != Strategy::FillFirst {
            let mut c = sc.clone();
            c.providers[pi].strategy = Strategy::FillFirst;
            out.push(c);
        }
    }
    // Policy overrides back to the preset's values.
    if let Some(serde_json::Value::Object(m)) = &sc.policy {
        for k in m.keys().filter(|k| *k != "preset") {
            let mut c = sc.clone();
            if let Some(serde_json::Value::Object(cm)) = &mut c.policy {
                cm.remove(k);
            }
            out.push(c);
        }
    }
    // Arrival times closer together, and starting at 0.
    let at = &sc.workload.at_ms;
    if let Some(&first) = at.first() {
        let closer: Vec<u64> = at.iter().map(|t| first + (t - first) / 2).collect();
        let from_zero: Vec<u64> = at.iter().map(|t| t - first).collect();
        for times in [closer, from_zero] {
            if &times != at {
                let mut c = sc.clone();
                c.workload.at_ms = times;
                out.push(c);
            }
        }
    }
    // Only real changes: a candidate equal to `sc` would "still violate" forever.
    out.retain(|c| c != sc);
    out
}

fn simplify(d: &StepDef) -> Vec<Step> {
    let mut v = Vec::new();
    let mut push = |f: &dyn Fn(&mut StepDef)| {
        let mut s = d.clone();
        f(&mut s);
        if &s != d {
            v.push(Step::Full(Box::new(s)));
        }
    };
    push(&|s| s.latency_ms = None);
    push(&|s| s.times = None);
    push(&|s| s.until_ms = None);
    push(&|s| s.retry_after = None);
    push(&|s| s.retry_after_ms = None);
    push(&|s| s.wait_s = None);
    v
}

/// Shrinks `sc` while it still violates `invariant` under `preset`, within `budget` runs.
/// Returns the smallest scenario found and the runs it took.
pub fn shrink(sc: &Scenario, preset: &str, invariant: &str, budget: usize) -> (Scenario, usize) {
    let mut cur = sc.clone();
    let mut runs = 0;
    let mut w = Worker::new();
    // Resume each pass where the last reduction was found: the candidates before it were just
    // tried and failed. Done after a full pass with no reduction.
    let mut start = 0;
    'outer: loop {
        let cands = candidates(&cur);
        let n = cands.len();
        for offset in 0..n {
            if runs >= budget {
                break 'outer;
            }
            let i = (start + offset) % n;
            runs += 1;
            if violates(&mut w, &cands[i], preset, invariant) {
                cur = cands[i].clone();
                start = i;
                continue 'outer;
            }
        }
        break;
    }
    // Steps that are only a template read better in their short form.
    for p in &mut cur.providers {
        for k in &mut p.keys {
            for st in &mut k.script {
                if let Step::Full(d) = st {
                    let plain = StepDef {
                        template: d.template.clone(),
                        ..StepDef::default()
                    };
                    if **d == plain && d.template.is_some() {
                        *st = Step::Template(d.template.clone().unwrap_or_default());
                    }
                }
            }
        }
    }
    (cur, runs)
}
