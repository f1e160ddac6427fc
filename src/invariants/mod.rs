//! The invariants of `shared/spec/invariants.md`, checked on a trace.
//!
//! [`check`] walks the trace once, in time order, keeping its own model of every key: benched
//! until when (from the trace's bench events, and from what the upstream said: a retry-after,
//! a quota reset, an auth failure), disabled with which probe due. The model does not trust
//! the engine: a policy that forgets to bench a key that answered `quota_exhausted` is caught
//! when it calls that key again. `deterministic` and `no_secret_in_output` need two runs and
//! the rendered output; [`crate::check`] checks those.

mod fairness;
mod walk;

use crate::engine::ProviderSpec;
use crate::policy::Policy;
use crate::trace::{Event, ReqId};
use std::fmt;

/// Every invariant name, as in the spec.
pub const INVARIANTS: &[&str] = &[
    "terminates",
    "pool_walk_complete",
    "rotation_is_free",
    "no_rotation_on_request_fault",
    "no_same_key_after_quota",
    "benched_key_skipped",
    "retry_after_respected",
    "bench_monotone",
    "attribution",
    "soft_failure_parity",
    "no_truncated_success",
    "disabled_key_probing",
    "fair_rotation",
    "informative_failure",
    "deterministic",
    "no_secret_in_output",
];

/// A quota failure with no stated reset is taken to bench its key for this long (the
/// reference's "bench long").
pub const QUOTA_MIN_BENCH_MS: u64 = 3_600_000;

/// One broken invariant, where and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The invariant's name (or `expect` for a scenario expectation).
    pub invariant: &'static str,
    /// The request, when one is concerned.
    pub req: Option<ReqId>,
    /// The attempt, when one is concerned.
    pub attempt: Option<u32>,
    /// Virtual time.
    pub t: Option<u64>,
    /// One line of explanation.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.invariant)?;
        if let Some(r) = self.req {
            write!(f, " req {r}")?;
        }
        if let Some(a) = self.attempt {
            write!(f, " attempt {a}")?;
        }
        if let Some(t) = self.t {
            write!(f, " at {t} ms")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What the checks know of the world besides the trace.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The chain, for key → provider, quota groups, strategies and class fallbacks.
    pub providers: &'a [ProviderSpec],
    /// The policy's budgets and probe schedule.
    pub policy: &'a Policy,
}

/// Runs every trace check; returns all violations, in trace order per check.
pub fn check(trace: &[Event], ctx: &Context) -> Vec<Violation> {
    let mut v = walk::walk(trace, ctx);
    v.extend(fairness::fair_rotation(trace, ctx));
    v
}
