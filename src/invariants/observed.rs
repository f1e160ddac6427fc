//! Traces of a program seen from outside: the upstream calls it made (from `keypool serve`'s
//! record) and, when known, what each client request got back. The trace has the engine
//! trace's shape, so the same invariants judge it; the decisions between calls are inferred
//! from what happened next (another key, the same key, a pause, another provider), and checks
//! that need the engine's own events are left out ([`super::support`]).

use crate::chain::ProviderSpec;
use crate::class::{Class, Verdict};
use crate::trace::{Decision, Event, KeyId, ReqId, WaitKind};

/// A pause longer than this between a reply and the next call of the same request counts as
/// a wait (a backoff or a wait for a benched key), shorter as going straight on.
pub const WAIT_MS: u64 = 250;

/// One upstream call, seen from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObservedCall {
    /// The client request it belongs to (dense, from 0).
    pub req: ReqId,
    /// The key it used.
    pub key: KeyId,
    /// When it was sent (ms).
    pub sent: u64,
    /// When its reply ended, or the call failed (ms).
    pub ended: u64,
    /// The status (0 when no reply came).
    pub status: u16,
    /// What the reply meant.
    pub verdict: Verdict,
}

/// How a client request ended, as its client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientEnd {
    /// The request (dense, from 0).
    pub req: ReqId,
    /// When the client sent it (ms).
    pub start: u64,
    /// When the answer was complete (ms).
    pub end: u64,
    /// Whether it got a success.
    pub success: bool,
    /// The class of what it got.
    pub class: Class,
    /// When the answer said to come back (its retry-after), as a time (ms).
    pub ready_at: Option<u64>,
}

/// The trace of `calls` (and, with `clients`, of how each request ended), in time order.
/// Without the client's view a request ends when its last call does, as that call's class.
///
/// ```
/// use keypool::invariants::observed::{trace, ObservedCall};
/// use keypool::chain::ProviderSpec;
/// use keypool::pool::{PoolKey, Strategy};
/// use keypool::{Class, Verdict};
/// let keys = (1..=2).map(|i| PoolKey { label: format!("k{i}").into(), priority: 0, group: None }).collect();
/// let p = vec![ProviderSpec { name: "p".into(), keys, strategy: Strategy::FillFirst, fallback_for: None }];
/// let call = |key, sent, class| ObservedCall { req: 0, key, sent, ended: sent + 10, status: 200, verdict: Verdict::new(class, "test") };
/// let t = trace(&[call(0, 0, Class::QuotaExhausted), call(1, 15, Class::Success)], None, &p);
/// assert_eq!(t.len(), 8); // start, 2 × (attempt, reply, decision), end
/// ```
pub fn trace(
    calls: &[ObservedCall],
    clients: Option<&[ClientEnd]>,
    providers: &[ProviderSpec],
) -> Vec<Event> {
    let mut provider_of = Vec::new();
    for (pi, p) in providers.iter().enumerate() {
        provider_of.extend(std::iter::repeat_n(pi as u32, p.keys.len()));
    }
    let prov = |k: KeyId| provider_of.get(k as usize).copied().unwrap_or(0);
    let n = calls
        .iter()
        .map(|c| c.req as usize + 1)
        .chain(clients.unwrap_or(&[]).iter().map(|c| c.req as usize + 1))
        .max()
        .unwrap_or(0);
    let mut per: Vec<Vec<ObservedCall>> = vec![Vec::new(); n];
    for c in calls {
        per[c.req as usize].push(*c);
    }
    let mut ends: Vec<Option<ClientEnd>> = vec![None; n];
    for c in clients.unwrap_or(&[]) {
        ends[c.req as usize] = Some(*c);
    }
    let mut events = Vec::new();
    for (r, calls) in per.iter_mut().enumerate() {
        let req = r as ReqId;
        let end = ends[r];
        if calls.is_empty() && end.is_none() {
            continue;
        }
        calls.sort_by_key(|c| (c.sent, c.ended));
        let start = match (end, calls.first()) {
            (Some(e), _) => e.start,
            (None, Some(c)) => c.sent,
            (None, None) => continue,
        };
        let first_provider = calls.first().map_or(0, |c| prov(c.key));
        events.push(Event::RequestStart {
            t: start,
            req,
            provider: first_provider,
        });
        let mut waits = 0;
        for (i, c) in calls.iter().enumerate() {
            let p = prov(c.key);
            events.push(Event::Attempt {
                t: c.sent,
                req,
                attempt: i as u32 + 1,
                provider: p,
                key: c.key,
                probe: false,
            });
            let done = c.ended.max(c.sent);
            events.push(Event::Reply {
                t: done,
                req,
                attempt: i as u32 + 1,
                key: c.key,
                status: c.status,
                class: c.verdict.class,
                retry_after_ms: c.verdict.retry_after_ms,
                soft: c.verdict.soft,
                partial: c.verdict.partial_output,
                treated_as: None,
                reason: c.verdict.reason,
            });
            let (decision, until) = match calls.get(i + 1) {
                Some(next) if prov(next.key) != p => (Decision::Fallback, None),
                Some(next) if next.sent > done + WAIT_MS => {
                    waits += 1;
                    (Decision::Wait(WaitKind::Backoff), Some(next.sent))
                }
                Some(next) if next.key == c.key => (Decision::RetrySame, None),
                Some(_) => (Decision::NextKey, None),
                None => {
                    let ok = end.map_or(c.verdict.class == Class::Success, |e| e.success);
                    (if ok { Decision::Done } else { Decision::Stop }, None)
                }
            };
            let provider = calls.get(i + 1).map_or(p, |n| prov(n.key));
            events.push(Event::Decision {
                t: done,
                req,
                decision,
                until,
                retries: waits,
                provider,
            });
        }
        let last = calls.last();
        let (t, success, class, ready_at) = match (end, last) {
            (Some(e), _) => (e.end, e.success, e.class, e.ready_at),
            (None, Some(c)) => (
                c.ended.max(c.sent),
                c.verdict.class == Class::Success,
                c.verdict.class,
                None,
            ),
            (None, None) => continue,
        };
        if calls.is_empty() {
            events.push(Event::Decision {
                t,
                req,
                decision: if success {
                    Decision::Done
                } else {
                    Decision::Stop
                },
                until: None,
                retries: 0,
                provider: first_provider,
            });
        }
        events.push(Event::RequestEnd {
            t: t.max(last.map_or(0, |c| c.ended.max(c.sent))),
            req,
            success,
            class,
            attempts: calls.len() as u32,
            ready_at,
        });
    }
    // In time order; at one instant a request's own events keep their order.
    events.sort_by_key(Event::t);
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{PoolKey, Strategy};

    /// A 429 call of request 0 on `key`, sent at `sent`, answered 10 ms later.
    fn rate_limited(key: u32, sent: u64) -> ObservedCall {
        ObservedCall {
            req: 0,
            key,
            sent,
            ended: sent + 10,
            status: 429,
            verdict: Verdict::new(Class::RateLimit, "test"),
        }
    }

    fn chain() -> Vec<ProviderSpec> {
        let keys = (1..=2)
            .map(|i| PoolKey {
                label: format!("k{i}").into(),
                priority: 0,
                group: None,
            })
            .collect();
        vec![ProviderSpec {
            name: "p".into(),
            keys,
            strategy: Strategy::FillFirst,
            fallback_for: None,
        }]
    }

    #[test]
    fn a_request_answered_without_a_call_still_starts_and_ends() {
        let end = ClientEnd {
            req: 0,
            start: 5,
            end: 9,
            success: false,
            class: Class::RateLimit,
            ready_at: Some(1_000),
        };
        let t = trace(&[], Some(&[end]), &chain());
        assert!(matches!(t.first(), Some(Event::RequestStart { t: 5, .. })));
        assert!(matches!(
            t.last(),
            Some(Event::RequestEnd {
                t: 9,
                attempts: 0,
                ..
            })
        ));
    }

    #[test]
    fn a_budget_spent_on_rotations_shows_from_outside() {
        // Ten keys that all answer 429, the reference's three retries: a gateway that tries
        // four keys without a wait and stops counted its rotations as retries.
        let keys = (0..10)
            .map(|i| PoolKey {
                label: format!("k{i}").into(),
                priority: 0,
                group: None,
            })
            .collect();
        let providers = vec![ProviderSpec {
            name: "p".into(),
            keys,
            strategy: Strategy::FillFirst,
            fallback_for: None,
        }];
        let policy = crate::policy::Policy::default();
        let judge = |calls: &[ObservedCall]| {
            let t = trace(calls, None, &providers);
            let ctx = crate::invariants::Context {
                view: crate::invariants::View::Upstream,
                ..crate::invariants::Context::new(&providers, &policy)
            };
            crate::invariants::check(&t, &ctx)
                .iter()
                .any(|v| v.invariant == "rotation_is_free")
        };
        let n = policy.retry_limit() as u64 + 1;
        let rotated: Vec<ObservedCall> = (0..n).map(|k| rate_limited(k as u32, k * 20)).collect();
        assert!(judge(&rotated));
        // The same calls spaced by waits spent the budget on waits: not this invariant.
        let waited: Vec<ObservedCall> = (0..n).map(|k| rate_limited(k as u32, k * 1_000)).collect();
        assert!(!judge(&waited));
        // One call fewer: the gateway stopped for some other reason.
        assert!(!judge(&rotated[..rotated.len() - 1]));
    }

    #[test]
    fn pauses_same_keys_and_other_keys_read_as_decisions() {
        let calls = [
            rate_limited(0, 0),
            rate_limited(0, 12),
            rate_limited(1, 500),
            rate_limited(1, 515),
        ];
        let decisions: Vec<Decision> = trace(&calls, None, &chain())
            .iter()
            .filter_map(|e| match e {
                Event::Decision { decision, .. } => Some(*decision),
                _ => None,
            })
            .collect();
        assert_eq!(
            decisions,
            vec![
                Decision::RetrySame,
                Decision::Wait(WaitKind::Backoff),
                Decision::RetrySame,
                Decision::Stop
            ]
        );
    }

    #[test]
    fn a_key_held_out_for_a_fault_not_its_own_shows_from_outside() {
        // Request 0: k1 answers 503, k2 answers 429 (no retry-after, so the replies bench
        // neither); request 1 then fails at 1 s without a single call.
        let call = |key, sent, status, class| ObservedCall {
            req: 0,
            key,
            sent,
            ended: sent + 10,
            status,
            verdict: Verdict::new(class, "test"),
        };
        let providers = chain();
        let policy = crate::policy::Policy::default();
        let judge = |calls: &[ObservedCall]| -> Vec<&'static str> {
            let ends = [
                ClientEnd {
                    req: 0,
                    start: 0,
                    end: 40,
                    success: false,
                    class: calls.last().map_or(Class::RateLimit, |c| c.verdict.class),
                    ready_at: None,
                },
                ClientEnd {
                    req: 1,
                    start: 1_000,
                    end: 1_005,
                    success: false,
                    class: Class::RateLimit,
                    ready_at: None,
                },
            ];
            let t = trace(calls, Some(&ends), &providers);
            let ctx = crate::invariants::Context {
                view: crate::invariants::View::UpstreamAndClient,
                ..crate::invariants::Context::new(&providers, &policy)
            };
            let mut v: Vec<&str> = crate::invariants::check(&t, &ctx)
                .iter()
                .filter(|v| v.req == Some(1))
                .map(|v| v.invariant)
                .collect();
            v.sort_unstable();
            v
        };
        let overloaded = call(0, 0, 503, Class::Overloaded);
        let limited = call(1, 20, 429, Class::RateLimit);
        assert_eq!(judge(&[overloaded, limited]), ["bench_only_key_faults"]);
        // Both keys last failed as rate limits: holding them is their own fault.
        assert!(judge(&[call(0, 0, 429, Class::RateLimit), limited]).is_empty());
        // Both last answered an overload: the provider was put out, as a circuit breaker does.
        assert!(judge(&[overloaded, call(1, 20, 503, Class::Overloaded)]).is_empty());
        // k1 never failed (it was never called) yet was held out.
        assert_eq!(judge(&[limited]), ["attribution"]);
        // A 503 whose retry-after still holds: the upstream asked for the wait.
        let mut asked = overloaded;
        asked.verdict.retry_after_ms = Some(5_000);
        assert!(judge(&[asked, limited]).is_empty());
    }
}
