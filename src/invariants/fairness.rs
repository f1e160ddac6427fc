//! `fair_rotation`: with every key healthy, `round_robin` and `least_used` spread K requests
//! over n keys as ⌊K/n⌋ or ⌈K/n⌉ each.

use super::{Context, Violation};
use crate::class::Class;
use crate::pool::Strategy;
use crate::trace::Event;

pub(super) fn fair_rotation(trace: &[Event], ctx: &Context) -> Vec<Violation> {
    let mut out = Vec::new();
    let mut base = 0u32;
    for (pi, p) in ctx.providers.iter().enumerate() {
        let n = p.keys.len() as u32;
        let range = base..base + n;
        base += n;
        if !matches!(p.strategy, Strategy::RoundRobin | Strategy::LeastUsed) || n == 0 {
            continue;
        }
        let mut healthy = true;
        let mut firsts = vec![0u64; n as usize];
        let mut seen = std::collections::BTreeSet::new();
        for e in trace {
            match *e {
                Event::Reply { key, class, .. }
                    if range.contains(&key) && class != Class::Success =>
                {
                    healthy = false
                }
                Event::Bench { key, .. } | Event::Disable { key, .. } if range.contains(&key) => {
                    healthy = false
                }
                Event::Attempt {
                    req, provider, key, ..
                } if provider as usize == pi && range.contains(&key) && seen.insert(req) => {
                    firsts[(key - range.start) as usize] += 1;
                }
                _ => {}
            }
        }
        let k: u64 = firsts.iter().sum();
        if !healthy || k == 0 {
            continue;
        }
        let (lo, hi) = (k / n as u64, k.div_ceil(n as u64));
        if firsts.iter().any(|c| *c < lo || *c > hi) {
            out.push(Violation {
                invariant: "fair_rotation",
                req: None,
                attempt: None,
                t: None,
                message: format!("{:?} over {k} healthy requests gave {:?} per key; each should get {lo} or {hi}", p.strategy, firsts),
            });
        }
    }
    out
}
