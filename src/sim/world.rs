//! A world: the chain, the policy, one scripted upstream per key, and the arrivals.

use crate::engine::ProviderSpec;
use crate::policy::Policy;
use crate::reply::Reply;
use std::sync::Arc;

/// One scripted step of a key's upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptStep {
    /// The reply sent (shared: a template's reply is built once per thread, not per world).
    pub reply: Arc<Reply>,
    /// How many times (default 1; the last step repeats forever).
    pub times: Option<u32>,
    /// Repeat until this virtual time, then go on.
    pub until_ms: Option<u64>,
    /// Latency of the reply (ms).
    pub latency_ms: u64,
}

/// A key's scripted upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// Its steps, in order.
    pub steps: Vec<ScriptStep>,
}

/// Where a script is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    idx: usize,
    used: u32,
}

impl Script {
    /// The step that answers a call at time `now`, advancing `cur`.
    ///
    /// ```
    /// use keypool::sim::world::{Cursor, Script, ScriptStep};
    /// use keypool::Reply;
    /// let step = |s, times, until_ms| ScriptStep { reply: Reply::new(s, "").into(), times, until_ms, latency_ms: 1 };
    /// let sc = Script { steps: vec![step(429, Some(2), None), step(401, None, Some(1000)), step(200, None, None)] };
    /// let mut c = Cursor::default();
    /// let got: Vec<u16> = [0, 0, 0, 999, 1000, 5000].iter().map(|t| sc.steps[sc.next(&mut c, *t)].reply.status).collect();
    /// assert_eq!(got, vec![429, 429, 401, 401, 200, 200]);
    /// ```
    pub fn next(&self, cur: &mut Cursor, now: u64) -> usize {
        let last = self.steps.len() - 1;
        loop {
            let s = &self.steps[cur.idx];
            if cur.idx == last {
                break;
            }
            let spent = match s.until_ms {
                Some(u) => now >= u,
                None => cur.used >= s.times.unwrap_or(1),
            };
            if !spent {
                break;
            }
            cur.idx += 1;
            cur.used = 0;
        }
        cur.used = cur.used.saturating_add(1);
        cur.idx
    }
}

/// Everything a simulation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct World {
    /// Scenario name.
    pub name: String,
    /// RNG seed.
    pub seed: u64,
    /// The chain.
    pub providers: Vec<ProviderSpec>,
    /// The policy.
    pub policy: Policy,
    /// One script per key, in global key order.
    pub scripts: Vec<Script>,
    /// Request arrival times, sorted.
    pub arrivals: Vec<u64>,
    /// Secrets per key, in global key order (only to prove they never leak).
    pub secrets: Vec<Option<String>>,
}
