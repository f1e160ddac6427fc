//! The differential: a gateway's run of a scenario beside a preset's simulated run of it, request
//! by request: keys in order, number of calls, outcome, and waits within a tolerance. This is
//! how a preset that claims to behave like a gateway is measured against the real program.

use super::run::Trial;
use crate::class::Class;
use crate::scenario::{self, Scenario};
use crate::trace::{Decision, Event, Names};

/// Two waits agree when they differ by at most this, or by a quarter of the longer one; a pause
/// no longer than this is not counted as a wait on either side.
pub const WAIT_TOLERANCE_MS: u64 = 300;

/// What one request did, for comparing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Did {
    keys: Vec<String>,
    waits: Vec<u64>,
    /// `Some(true)`: a success; `None`: no end (no answer).
    success: Option<bool>,
}

fn per_request(trace: &[Event], names: &Names, n: usize) -> Vec<Did> {
    let mut out = vec![Did::default(); n];
    for e in trace {
        match *e {
            Event::Attempt { req, key, .. } => {
                if let Some(d) = out.get_mut(req as usize) {
                    d.keys.push(names.key(key).to_owned());
                }
            }
            Event::Decision {
                req,
                decision: Decision::Wait(_),
                until: Some(u),
                t,
                ..
            } => {
                if let Some(d) = out.get_mut(req as usize) {
                    d.waits.push(u.saturating_sub(t));
                }
            }
            Event::RequestEnd { req, success, .. } => {
                if let Some(d) = out.get_mut(req as usize) {
                    d.success = Some(success);
                }
            }
            _ => {}
        }
    }
    out
}

fn waits_agree(a: &[u64], b: &[u64]) -> bool {
    // Pauses within the tolerance are noise on a busy machine, on either side.
    let real = |w: &[u64]| -> Vec<u64> {
        w.iter()
            .copied()
            .filter(|x| *x > WAIT_TOLERANCE_MS)
            .collect()
    };
    let (a, b) = (real(a), real(b));
    a.len() == b.len()
        && a.iter().zip(&b).all(|(x, y)| {
            let d = x.abs_diff(*y);
            d <= WAIT_TOLERANCE_MS || d * 4 <= (*x).max(*y)
        })
}

/// Where the gateway's trial and `preset`'s simulation of `sc` differ, per request; empty when
/// they agree. The gateway's outcome is what its client got (a success is a 2xx that classifies
/// as one).
pub fn differences(sc: &Scenario, preset: &str, t: &Trial) -> Result<Vec<String>, String> {
    let world = scenario::world(sc, Some(preset))?;
    let sim = crate::sim::run(&world, true);
    let n = world.arrivals.len();
    let want = per_request(&sim.trace, &sim.names, n);
    let mut got = per_request(&t.trace, &t.names, n);
    for (r, g) in got.iter_mut().enumerate() {
        g.success = t.answers.get(r).and_then(|a| a.as_ref()).map(|a| {
            a.verdict.class == Class::Success && a.status.is_some_and(|s| (200..300).contains(&s))
        });
    }
    let outcome = |s: Option<bool>| match s {
        Some(true) => "success",
        Some(false) => "failure",
        None => "no end",
    };
    let mut out = Vec::new();
    for (r, (g, w)) in got.iter().zip(&want).enumerate() {
        let mut d = Vec::new();
        if g.keys != w.keys {
            d.push(format!(
                "keys {} (gateway) vs {} ({preset})",
                g.keys.join(" "),
                w.keys.join(" ")
            ));
        }
        if g.success != w.success {
            d.push(format!("{} vs {}", outcome(g.success), outcome(w.success)));
        }
        if !waits_agree(&g.waits, &w.waits) {
            d.push(format!("waits {:?} ms vs {:?} ms", g.waits, w.waits));
        }
        if !d.is_empty() {
            out.push(format!("request {r}: {}", d.join("; ")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_agree_within_the_tolerance() {
        assert!(waits_agree(&[2_000], &[2_250]));
        assert!(waits_agree(&[10_000], &[12_000]));
        assert!(!waits_agree(&[1_000], &[2_000]));
        assert!(!waits_agree(&[1_000], &[]));
        assert!(waits_agree(&[153], &[]), "a short pause is noise");
    }
}
