//! The invariants (`docs/invariants.md`), checked on a trace.
//!
//! [`check`] walks the trace once, in time order, keeping its own model of every key: benched
//! until when (from the trace's bench events, and from what the upstream said: a retry-after,
//! a quota reset, an auth failure), disabled with which probe due. The model does not trust
//! the engine: a policy that forgets to bench a key that answered `quota_exhausted` is caught
//! when it calls that key again; a key held out of service is seen when a request fails
//! without calling it, and the engine's own report (its waits, its attempt counts) is held to
//! the calls it made. `deterministic` and `no_secret_in_output` need two runs and
//! the rendered output; [`crate::check`] checks those.

mod fairness;
pub mod observed;
mod walk;

use crate::chain::ProviderSpec;
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
    "bench_only_key_faults",
    "soft_failure_parity",
    "no_truncated_success",
    "disabled_key_probing",
    "fair_rotation",
    "informative_failure",
    "deterministic",
    "no_secret_in_output",
    "faithful_trace",
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
    /// Where the trace came from, and so which checks it can support.
    pub view: View,
}

impl<'a> Context<'a> {
    /// The context of an engine's own trace.
    pub fn new(providers: &'a [ProviderSpec], policy: &'a Policy) -> Self {
        Context {
            providers,
            policy,
            view: View::Engine,
        }
    }
}

/// Where a trace came from. An engine's trace has its decisions, benches and counters; a trace
/// built from what a black box was seen doing ([`observed`]) has only the calls, the replies
/// and, with the client's view, how each request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    /// The engine's own events.
    #[default]
    Engine,
    /// The upstream's record of calls only (`keypool check RECORD`).
    Upstream,
    /// The upstream's record joined with what the client got (`keypool conform`).
    UpstreamAndClient,
}

/// Whether an invariant means something on a trace of this view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Checked in full.
    Full,
    /// Checked in part; the rest needs what this view lacks.
    Partial(&'static str),
    /// Not checkable on this view: reported as such, never as passed.
    No(&'static str),
}

/// How far each invariant can be checked on a trace of `view`, in [`INVARIANTS`] order.
///
/// ```
/// use keypool::invariants::{support, Support, View};
/// let s = support(View::Upstream);
/// assert_eq!(s.iter().find(|x| x.0 == "benched_key_skipped").unwrap().1, Support::Full);
/// assert!(matches!(s.iter().find(|x| x.0 == "no_truncated_success").unwrap().1, Support::No(_)));
/// ```
pub fn support(view: View) -> Vec<(&'static str, Support)> {
    use Support::*;
    const ENGINE: &str =
        "needs the engine's own events (its retry counter, bench and disable decisions)";
    const CLIENT: &str = "needs what the client got back";
    INVARIANTS
        .iter()
        .map(|&name| {
            let s = match (view, name) {
                (View::Engine, _) => Full,
                (_, "rotation_is_free") => Partial("a request that rotated, then stopped after exactly 1 + the retry budget calls with fewer waits and a ready key untried; the engine's own counter needs its events"),
                (View::UpstreamAndClient, "bench_only_key_faults") => Partial("a request that failed without a call while a key was ready whose last reply was a fault not its own (an overload, a server error, a refusal): the gateway held it out of service; a bench of the gateway's own needs its events"),
                (View::UpstreamAndClient, "attribution") => Partial("a request that failed without a call while a key was ready that had not failed (nor its quota group): it was held out for another key's failure; which attempt a bench names needs the engine's events"),
                (_, "bench_monotone" | "attribution" | "bench_only_key_faults") => No(ENGINE),
                (_, "deterministic") => No("needs two runs of a deterministic program"),
                (View::Upstream, "no_truncated_success" | "soft_failure_parity") => No(CLIENT),
                (View::Upstream, "informative_failure") => No(CLIENT),
                (View::Upstream, "terminates") => Partial("attempts and deadline only; whether the client got an answer needs the client's view"),
                (View::Upstream, "retry_after_respected") => Partial("calls only; what a failed request told its client needs the client's view"),
                (_, "soft_failure_parity") => Partial("a 2xx failure taken as a success; whether the key was benched needs the engine's events"),
                (_, "informative_failure") => Partial("the class the client got; the ready time promised needs the engine's benches"),
                _ => Full,
            };
            (name, s)
        })
        .collect()
}

/// Runs every trace check; returns all violations, in trace order per check.
pub fn check(trace: &[Event], ctx: &Context) -> Vec<Violation> {
    let mut v = walk::walk(trace, ctx);
    v.extend(fairness::fair_rotation(trace, ctx));
    if ctx.view != View::Engine {
        let unsupported: Vec<&str> = support(ctx.view)
            .into_iter()
            .filter(|s| matches!(s.1, Support::No(_)))
            .map(|s| s.0)
            .collect();
        v.retain(|x| !unsupported.contains(&x.invariant));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::ProviderSpec;
    use crate::class::Class;
    use crate::pool::{PoolKey, Strategy};

    fn ctx_parts(strategy: Strategy) -> (Vec<ProviderSpec>, Policy) {
        let keys = (0..3)
            .map(|i| PoolKey {
                label: format!("k{i}").into(),
                priority: 0,
                group: None,
            })
            .collect();
        (
            vec![ProviderSpec {
                name: "p".into(),
                keys,
                strategy,
                fallback_for: None,
            }],
            Policy::default(),
        )
    }

    /// A healthy request served in one call by `key`.
    fn served(req: ReqId, key: u32) -> Vec<Event> {
        let t = req as u64 * 10;
        vec![
            Event::RequestStart {
                t,
                req,
                provider: 0,
            },
            Event::Attempt {
                t,
                req,
                attempt: 1,
                provider: 0,
                key,
                probe: false,
            },
            Event::Reply {
                t: t + 1,
                req,
                attempt: 1,
                key,
                status: 200,
                class: Class::Success,
                retry_after_ms: None,
                soft: false,
                partial: false,
                treated_as: None,
                reason: "test",
            },
            Event::Decision {
                t: t + 1,
                req,
                decision: crate::trace::Decision::Done,
                until: None,
                retries: 0,
                provider: 0,
            },
            Event::RequestEnd {
                t: t + 1,
                req,
                success: true,
                class: Class::Success,
                attempts: 1,
                ready_at: None,
            },
        ]
    }

    #[test]
    fn fair_rotation_judges_the_spread() {
        let (providers, policy) = ctx_parts(Strategy::RoundRobin);
        let ctx = Context::new(&providers, &policy);
        let fair: Vec<Event> = (0..6).flat_map(|r| served(r, r % 3)).collect();
        assert!(check(&fair, &ctx).is_empty());
        let skewed: Vec<Event> = (0..6).flat_map(|r| served(r, 0)).collect();
        let v = check(&skewed, &ctx);
        assert_eq!(
            v.iter().map(|x| x.invariant).collect::<Vec<_>>(),
            vec!["fair_rotation"]
        );
        // fill_first is not expected to spread.
        let (providers, policy) = ctx_parts(Strategy::FillFirst);
        assert!(check(&skewed, &Context::new(&providers, &policy)).is_empty());
    }

    #[test]
    fn an_unended_request_does_not_terminate() {
        let (providers, policy) = ctx_parts(Strategy::FillFirst);
        let ctx = Context::new(&providers, &policy);
        let mut t = served(0, 0);
        t.pop();
        let v = check(&t, &ctx);
        assert!(v.iter().any(|x| x.invariant == "terminates"), "{v:?}");
    }

    #[test]
    fn a_malformed_trace_is_a_violation_not_a_panic() {
        let (providers, policy) = ctx_parts(Strategy::RoundRobin);
        let ctx = Context::new(&providers, &policy);
        let mut t = served(0, 0);
        // A call to a key the chain does not have, on a provider it does not have, for a
        // request number no trace this short could hold.
        t.push(Event::Attempt {
            t: 5,
            req: 0,
            attempt: 2,
            provider: 0,
            key: 99,
            probe: false,
        });
        t.push(Event::RequestStart {
            t: 6,
            req: 1,
            provider: 7,
        });
        t.push(Event::RequestStart {
            t: 7,
            req: u32::MAX,
            provider: 0,
        });
        let v = check(&t, &ctx);
        let malformed: Vec<&Violation> = v
            .iter()
            .filter(|x| x.message.starts_with("a malformed event"))
            .collect();
        assert_eq!(malformed.len(), 3, "{v:?}");
        assert!(malformed.iter().all(|x| x.invariant == "attribution"));
    }

    /// Request 0 started, and its first call (key 0) answered 503 at 1 ms.
    fn answered_503(retry_after_ms: Option<u64>) -> Vec<Event> {
        let mut t = served(0, 0);
        t.truncate(2);
        t.push(Event::Reply {
            t: 1,
            req: 0,
            attempt: 1,
            key: 0,
            status: 503,
            class: Class::Overloaded,
            retry_after_ms,
            soft: false,
            partial: false,
            treated_as: None,
            reason: "test",
        });
        t
    }

    /// Request 0 gets a 503 (with `retry_after_ms`) from key 0, which is then benched until
    /// `until`.
    fn benched_after_503(retry_after_ms: Option<u64>, until: u64) -> Vec<Event> {
        let mut t = answered_503(retry_after_ms);
        if let Some(Event::Reply { treated_as, .. }) = t.last_mut() {
            *treated_as = Some(Class::RateLimit);
        }
        t.push(Event::Bench {
            t: 1,
            key: 0,
            until,
            reason: Class::RateLimit,
            req: 0,
            attempt: 1,
        });
        t.push(Event::RequestEnd {
            t: 1,
            req: 0,
            success: false,
            class: Class::Overloaded,
            attempts: 1,
            ready_at: Some(until),
        });
        t
    }

    #[test]
    fn only_the_keys_own_fault_benches_it() {
        let (providers, policy) = ctx_parts(Strategy::FillFirst);
        let ctx = Context::new(&providers, &policy);
        let names = |t: &[Event]| -> Vec<&'static str> {
            check(t, &ctx)
                .into_iter()
                .map(|v| v.invariant)
                .filter(|&n| n == "bench_only_key_faults")
                .collect()
        };
        // An overload read as a rate limit benches the key for an hour (hermes-agent #14038).
        assert_eq!(
            names(&benched_after_503(None, 3_600_001)),
            ["bench_only_key_faults"]
        );
        // Holding the key exactly as long as its retry-after asked is the upstream's wish.
        assert!(names(&benched_after_503(Some(20_000), 20_001)).is_empty());
        assert_eq!(
            names(&benched_after_503(Some(20_000), 3_600_001)),
            ["bench_only_key_faults"]
        );
    }

    #[test]
    fn a_runaway_is_reported_once() {
        let (providers, mut policy) = ctx_parts(Strategy::FillFirst);
        policy.max_attempts = 2;
        let ctx = Context::new(&providers, &policy);
        let mut t = served(0, 0);
        t.truncate(2);
        // 10,000 more calls of one request, far past its budget.
        t.extend((2..10_002).map(|attempt| Event::Attempt {
            t: 1,
            req: 0,
            attempt,
            provider: 0,
            key: 0,
            probe: false,
        }));
        let v = check(&t, &ctx);
        let runaway = v.iter().filter(|x| x.invariant == "terminates").count();
        // One for the budget, one for never ending.
        assert_eq!(runaway, 2, "{:?}", &v[..v.len().min(5)]);
    }

    #[test]
    fn a_request_that_ends_past_its_deadline_does_not_terminate() {
        // Every call started in time; the request was held by its last one until 900 s.
        let (providers, policy) = ctx_parts(Strategy::FillFirst);
        let ctx = Context::new(&providers, &policy);
        let mut t = served(0, 0);
        for e in &mut t[2..] {
            match e {
                Event::Reply { t, .. }
                | Event::Decision { t, .. }
                | Event::RequestEnd { t, .. } => *t = 900_000,
                _ => {}
            }
        }
        let v = check(&t, &ctx);
        assert_eq!(
            v.iter().map(|x| x.invariant).collect::<Vec<_>>(),
            ["terminates"],
            "{v:?}"
        );
        assert!(check(&served(0, 0), &ctx).is_empty());
    }

    #[test]
    fn an_engine_report_that_misstates_its_calls_is_unfaithful() {
        let (providers, policy) = ctx_parts(Strategy::FillFirst);
        let ctx = Context::new(&providers, &policy);
        let unfaithful = |t: &[Event]| -> Vec<String> {
            check(t, &ctx)
                .into_iter()
                .filter(|v| v.invariant == "faithful_trace")
                .map(|v| v.message)
                .collect()
        };
        // A 503, a backoff reported until 500 ms, and the retry made at 100 ms.
        let mut t = answered_503(None);
        t.push(Event::Decision {
            t: 1,
            req: 0,
            decision: crate::trace::Decision::Wait(crate::trace::WaitKind::Backoff),
            until: Some(500),
            retries: 1,
            provider: 0,
        });
        let retry_at = |at: u64| {
            let mut rest = served(0, 0);
            for e in &mut rest {
                match e {
                    Event::Attempt { t, attempt, .. } => (*t, *attempt) = (at, 2),
                    Event::Reply { t, attempt, .. } => (*t, *attempt) = (at + 1, 2),
                    Event::Decision { t, retries, .. } => (*t, *retries) = (at + 1, 1),
                    Event::RequestEnd { t, attempts, .. } => (*t, *attempts) = (at + 1, 2),
                    Event::RequestStart { .. } => {}
                    _ => {}
                }
            }
            rest.remove(0);
            rest
        };
        let mut early = t.clone();
        early.extend(retry_at(100));
        let said = unfaithful(&early);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].contains("wait until 500 ms"), "{said:?}");
        let mut honest = t.clone();
        honest.extend(retry_at(500));
        assert!(unfaithful(&honest).is_empty());
        // The end claims one attempt, two were made.
        if let Some(Event::RequestEnd { attempts, .. }) = honest.last_mut() {
            *attempts = 1;
        }
        let said = unfaithful(&honest);
        assert!(
            said.len() == 1 && said[0].contains("reports 1 attempts, but 2"),
            "{said:?}"
        );
    }
}
