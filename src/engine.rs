//! The sans-IO failover engine.
//!
//! The engine owns the pools and the policy and drives each request by steps:
//! [`Step::Send`] (call this key), [`Step::Wait`] (come back at this virtual time) and
//! [`Step::Done`]. The host feeds it replies and the current time; the engine never reads a
//! clock, sleeps, or performs I/O, so the same code runs in the simulator, in the tokio
//! driver and behind a server. Several requests may be in flight at once: benches made by one
//! are seen by the others.

pub use crate::chain::ProviderSpec;
use crate::class::{Class, Verdict};
use crate::classify::classify;
use crate::policy::{
    Attribution, Backoff, BenchCombine, ClassRule, Jitter, KeyAction, LongWait, Policy, ReadyTime,
    RequestAction, RetryAfterMode, RetryAfterSource, SoftFailures, StatusAction,
};
use crate::pool::{KeyState, Pool};
use crate::reply::Reply;
use crate::trace::{Decision, Event, KeyId, Names, ReqId, WaitKind};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Where to send an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Send {
    /// The request.
    pub req: ReqId,
    /// 1-based attempt number within the request.
    pub attempt: u32,
    /// Provider index in the chain.
    pub provider: u32,
    /// Key index within the provider.
    pub key: u32,
    /// Key id across all providers.
    pub key_id: KeyId,
    /// A half-open probe of a disabled key.
    pub probe: bool,
    /// The attempt must end by this virtual time (its request's deadline, or sooner by the
    /// policy's `timeouts.total_ms`): a host that has no reply by then reports
    /// [`NoReply::Timeout`].
    pub deadline: u64,
}

/// Why an attempt ended without a reply.
///
/// ```
/// use keypool::engine::NoReply;
/// assert_eq!(NoReply::Cut.reason(), "connection closed mid-reply");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoReply {
    /// The connection could not be made.
    Connect,
    /// The connection was closed before any byte of the reply.
    Reset,
    /// The connection closed in the middle of the body.
    Cut,
    /// The host gave up waiting (first byte, idle gap, or the request's deadline).
    Timeout,
}

impl NoReply {
    /// The reason shown in traces.
    pub fn reason(self) -> &'static str {
        match self {
            NoReply::Connect => "transport error: cannot connect",
            NoReply::Reset => "connection reset before any reply",
            NoReply::Cut => "connection closed mid-reply",
            NoReply::Timeout => "attempt timed out",
        }
    }
}

/// What a request ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The request.
    pub req: ReqId,
    /// True when it succeeded.
    pub success: bool,
    /// `success`, or the class that ended it.
    pub class: Class,
    /// Upstream calls made.
    pub attempts: u32,
    /// When it ended (virtual ms).
    pub ended_at: u64,
    /// For a failure: the earliest time a key of the chain is ready again.
    pub ready_at: Option<u64>,
    /// For a failure: every key of the chain with its state (`ready`, `benched`, `disabled`).
    pub keys: Vec<(KeyId, KeyState)>,
}

/// The next thing the host must do for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Call the upstream with this key, then report with [`Engine::on_reply`].
    Send(Send),
    /// Call [`Engine::on_wake`] at this virtual time.
    Wait {
        /// The request.
        req: ReqId,
        /// When to wake it.
        until: u64,
    },
    /// The request is over.
    Done(Outcome),
}

#[derive(Debug, Clone)]
struct Req {
    start: u64,
    deadline: u64,
    provider: u32,
    attempts: u32,
    retries: u32,
    tried: Vec<u32>,
    banned: Vec<u32>,
    allow_tried: bool,
    rr_start: u32,
    last_class: Option<Class>,
    first_ra: Option<u64>,
    in_flight: Option<Send>,
    retry_same: Option<u32>,
    /// The key a `retry_same_key_first` retry went back to: its next failure rotates.
    same_retried: Option<u32>,
    /// A failure of this request has benched or disabled a key.
    benched_one: bool,
    /// With `priority_levels`, the level a fallback pass is held to; `None` on the first
    /// pass, which draws from the best level that has a key ready.
    level: Option<i64>,
    /// Walks of the chain begun (`policy.chain_passes`).
    passes: u32,
    /// The request stopped on this request fault: only fallbacks for this class may take it.
    fault: Option<Class>,
    done: bool,
}

#[derive(Debug, Clone)]
struct Prov {
    pool: Pool,
    fallback_for: Option<Vec<Class>>,
    base: u32,
    /// Calls in a row that failed with a provider fault.
    fails_in_row: u32,
    /// Ejected until then (`policy.provider_health`).
    ejected_until: Option<u64>,
    /// The request let through to probe it once the ejection ended.
    probe_req: Option<ReqId>,
}

/// The engine. See the module docs.
///
/// ```
/// use keypool::engine::{Engine, ProviderSpec, Step};
/// use keypool::pool::{PoolKey, Strategy};
/// use keypool::{policy::Policy, Reply};
/// let keys = vec![PoolKey { label: "k1".into(), priority: 0, group: None },
///                 PoolKey { label: "k2".into(), priority: 1, group: None }];
/// let spec = ProviderSpec { name: "p".into(), keys, strategy: Strategy::FillFirst, fallback_for: None };
/// let mut e = Engine::new(vec![spec], Policy::default(), 7);
/// let Step::Send(s) = e.start(0) else { panic!() };
/// assert_eq!(s.key, 0);
/// // k1 is out of credit: the engine rotates to k2 without spending a retry.
/// let Step::Send(s) = e.on_reply(s.req, 10, &Reply::new(402, "")) else { panic!() };
/// assert_eq!(s.key, 1);
/// let Step::Done(o) = e.on_reply(s.req, 20, &Reply::new(200, r#"{"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}]}"#)) else { panic!() };
/// assert!(o.success && o.attempts == 2);
/// ```
#[derive(Debug, Clone)]
pub struct Engine {
    policy: Policy,
    provs: Vec<Prov>,
    names: Names,
    rng: ChaCha8Rng,
    reqs: Vec<Req>,
    trace: Vec<Event>,
    /// Scratch space for a selection's excluded keys (kept to avoid an allocation per attempt).
    exclude: Vec<u32>,
    /// The key lists of ended requests, emptied, for the next requests to reuse.
    spare: Vec<Vec<u32>>,
    /// Record trace events (on by default).
    pub record: bool,
}

impl Engine {
    /// An engine over a chain of providers (the first is the primary).
    pub fn new(providers: Vec<ProviderSpec>, policy: Policy, seed: u64) -> Self {
        let mut names = Names::default();
        let mut provs = Vec::new();
        for p in providers {
            let base = names.keys.len() as u32;
            names.keys.extend(p.keys.iter().map(|k| k.label.clone()));
            names.providers.push(p.name);
            let mut pool = Pool::new(p.keys, p.strategy);
            pool.count_uses = policy.least_used_counts;
            provs.push(Prov {
                pool,
                fallback_for: p.fallback_for,
                base,
                fails_in_row: 0,
                ejected_until: None,
                probe_req: None,
            });
        }
        Engine {
            policy,
            provs,
            names,
            rng: ChaCha8Rng::seed_from_u64(seed),
            reqs: Vec::new(),
            trace: Vec::new(),
            exclude: Vec::new(),
            spare: Vec::new(),
            record: true,
        }
    }

    /// Makes room for `requests` more requests and their trace events up front (a host that
    /// knows its workload saves the growing).
    pub fn reserve(&mut self, requests: usize) {
        self.reqs.reserve(requests);
        if self.record {
            // About eight events per request: start, attempts with their replies, decisions, end.
            self.trace.reserve(requests.saturating_mul(8));
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Names of providers and keys, for rendering the trace.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The names, when the engine is done with (no copy of every label).
    pub fn into_names(self) -> Names {
        self.names
    }

    /// A provider's pool.
    pub fn pool(&self, provider: u32) -> &Pool {
        &self.provs[provider as usize].pool
    }

    /// The trace recorded so far.
    pub fn trace(&self) -> &[Event] {
        &self.trace
    }

    /// Takes the trace recorded so far.
    pub fn take_trace(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.trace)
    }

    /// Number of providers in the chain.
    pub fn provider_count(&self) -> usize {
        self.provs.len()
    }

    /// Maps a key id to (provider, key index).
    pub fn locate(&self, id: KeyId) -> (u32, u32) {
        let p = self.provs.iter().rposition(|p| p.base <= id).unwrap_or(0);
        (p as u32, id - self.provs[p].base)
    }

    fn emit(&mut self, e: Event) {
        if self.record {
            self.trace.push(e);
        }
    }

    /// Starts a request at `now`.
    pub fn start(&mut self, now: u64) -> Step {
        let req = self.reqs.len() as ReqId;
        let primary = self
            .provs
            .iter()
            .position(|p| p.fallback_for.is_none())
            .unwrap_or(0) as u32;
        let advance = self.policy.round_robin_advance;
        let rr_start = self
            .provs
            .get_mut(primary as usize)
            .map_or(0, |p| p.pool.start_request(advance));
        self.reqs.push(Req {
            start: now,
            deadline: now.saturating_add(self.policy.deadline_ms),
            provider: primary,
            attempts: 0,
            retries: 0,
            tried: self.spare.pop().unwrap_or_default(),
            banned: self.spare.pop().unwrap_or_default(),
            allow_tried: false,
            rr_start,
            last_class: None,
            first_ra: None,
            in_flight: None,
            retry_same: None,
            same_retried: None,
            benched_one: false,
            level: None,
            passes: 1,
            fault: None,
            done: false,
        });
        self.emit(Event::RequestStart {
            t: now,
            req,
            provider: primary,
        });
        self.next(req, now)
    }

    /// The request's wait is over.
    pub fn on_wake(&mut self, req: ReqId, now: u64) -> Step {
        self.next(req, now)
    }

    /// The attempt in flight failed without a reply (connection error, timeout): a server error.
    pub fn on_transport_error(&mut self, req: ReqId, now: u64) -> Step {
        let v = Verdict::new(Class::ServerError, "transport error");
        self.on_verdict(req, now, 0, v)
    }

    /// The attempt in flight ended without a reply, for this reason: a server error, recorded
    /// with status 0.
    pub fn on_no_reply(&mut self, req: ReqId, now: u64, why: NoReply) -> Step {
        self.on_verdict(req, now, 0, Verdict::new(Class::ServerError, why.reason()))
    }

    /// The reply to the attempt in flight: classified, then acted on.
    pub fn on_reply(&mut self, req: ReqId, now: u64, reply: &Reply) -> Step {
        let read = self.policy.read(reply);
        self.on_verdict_as(req, now, reply.status, classify(reply), read)
    }

    /// The classified reply to the attempt in flight.
    pub fn on_verdict(&mut self, req: ReqId, now: u64, status: u16, v: Verdict) -> Step {
        self.on_verdict_as(req, now, status, v, None)
    }

    /// The classified reply to the attempt in flight, which the policy reads as `read`
    /// ([`Policy::read`]; `None`: as the verdict says). The trace keeps both.
    pub fn on_verdict_as(
        &mut self,
        req: ReqId,
        now: u64,
        status: u16,
        v: Verdict,
        read: Option<Class>,
    ) -> Step {
        let Some(send) = self.reqs[req as usize].in_flight.take() else {
            // A reply nobody asked for: report the state as it is rather than panic.
            return self.next(req, now);
        };
        let pol = &self.policy;
        let is_2xx = (200..300).contains(&status);
        let status_action = pol.status_actions.get(&status).copied();
        let mut class = read
            .or_else(|| pol.status_classes.get(&status).copied())
            .unwrap_or(v.class);
        let soft_mode = match pol.soft_failures_streamed {
            Some(m) if v.streamed => m,
            _ => pol.soft_failures,
        };
        if is_2xx
            && v.class != Class::Success
            && (soft_mode == SoftFailures::Success
                || (pol.empty_is_success && v.class == Class::EmptySuccess)
                || (pol.partial_output_is_success && v.partial_output))
        {
            class = Class::Success;
        }
        let soft_failure = is_2xx && class != Class::Success;
        let soft_retry_same = soft_failure && soft_mode == SoftFailures::RetrySame;
        let soft_stop = soft_failure && soft_mode == SoftFailures::Stop;
        let heard = match pol.retry_after_source {
            RetryAfterSource::Any => v.retry_after_ms,
            RetryAfterSource::Header => v.retry_after_ms.filter(|_| v.retry_after_in_header),
        };
        let ra = match (pol.retry_after, self.reqs[req as usize].first_ra) {
            (RetryAfterMode::FirstOnly, Some(first)) if heard.is_some() => Some(first),
            _ => heard,
        };
        let treated_as = (class != v.class).then_some(class);
        self.emit(Event::Reply {
            t: now,
            req,
            attempt: send.attempt,
            key: send.key_id,
            status,
            class: v.class,
            retry_after_ms: v.retry_after_ms,
            soft: v.soft,
            partial: v.partial_output,
            treated_as,
            reason: v.reason,
        });
        {
            let r = &mut self.reqs[req as usize];
            r.last_class = Some(class);
            if r.first_ra.is_none() {
                r.first_ra = heard;
            }
            if !r.tried.contains(&send.key) {
                r.tried.push(send.key);
            }
        }
        let p = send.provider;
        self.provider_health(p, req, now, class);

        if let Some(a) = status_action {
            return match a {
                StatusAction::Stop => self.fail(req, now, class),
                StatusAction::RetrySame => self.retry(req, now, Some(send.key), ra),
            };
        }
        if soft_retry_same {
            let b = self.policy.soft_backoff.unwrap_or(self.policy.backoff);
            return self.retry_after_backoff(req, now, Some(send.key), ra, b);
        }
        if soft_stop {
            return self.fail(req, now, class);
        }

        let mut rule = match self.policy.status_rules.get(&status) {
            Some(r) => *r,
            None => self.policy.rules.for_class(class),
        };
        if self.policy.single_key_retries
            && rule.request == RequestAction::Rotate
            && self.provs[p as usize].pool.len() == 1
        {
            rule = ClassRule {
                key: KeyAction::None,
                bench_ms: 0,
                request: RequestAction::RetrySame,
            };
        }
        let spare_key = self.policy.bench_first_failure_only && self.reqs[req as usize].benched_one;
        if spare_key {
            rule.key = KeyAction::None;
        }
        if rule.key != KeyAction::None {
            self.reqs[req as usize].benched_one = true;
        }
        // A probe (or any attempt) that got past authentication proves the credential.
        if class != Class::Auth && self.provs[p as usize].pool.credential_ok(send.key, now) {
            self.emit(Event::Restore {
                t: now,
                key: send.key_id,
                req,
                attempt: send.attempt,
            });
        }
        // The first failure on a key retries that key after a back-off; the key is benched
        // only if it fails again (hermes-agent's 429 handling).
        if rule.request == RequestAction::Rotate
            && self.policy.retry_same_key_first.contains(&class)
            && self.reqs[req as usize].same_retried != Some(send.key)
        {
            self.reqs[req as usize].same_retried = Some(send.key);
            return self.retry(req, now, Some(send.key), ra);
        }
        let target = match self.policy.attribution {
            Attribution::ServingKey => send.key,
            Attribution::LastSelected => self.provs[p as usize]
                .pool
                .last_selected()
                .unwrap_or(send.key),
        };
        match rule.key {
            KeyAction::None => {}
            KeyAction::Bench => {
                let until = now.saturating_add(ra.unwrap_or(rule.bench_ms));
                let grouped = self.policy.quota_groups && class.is_key_level();
                let n = match self.provs[p as usize].pool.group_slice(target) {
                    Some(g) if grouped => g.len(),
                    _ => 1,
                };
                // By index: benching needs the engine mutably while the group is the pool's.
                for i in 0..n {
                    let m = match self.provs[p as usize].pool.group_slice(target) {
                        Some(g) if grouped => g[i],
                        _ => target,
                    };
                    self.bench(p, m, until, class, now, req, send.attempt);
                }
            }
            KeyAction::Disable => {
                let probe_at = self.provs[p as usize].pool.disable(
                    target,
                    now,
                    self.policy.probe_after_ms,
                    self.policy.probe_factor,
                );
                let key = self.provs[p as usize].base + target;
                self.emit(Event::Disable {
                    t: now,
                    key,
                    probe_at: (probe_at != u64::MAX).then_some(probe_at),
                    req,
                    attempt: send.attempt,
                });
            }
        }
        // A retry-after is a request to leave this key alone until then, whatever the class:
        // other requests in flight must honour it too.
        if let (KeyAction::None, Some(ms)) = (rule.key, ra) {
            if self.policy.retry_after_holds_key
                && !spare_key
                && class.is_failure()
                && !class.is_request_fault()
            {
                let until = now.saturating_add(ms);
                self.bench(p, target, until, class, now, req, send.attempt);
            }
        }
        if matches!(class, Class::QuotaExhausted | Class::Auth)
            && rule.request == RequestAction::Rotate
        {
            let r = &mut self.reqs[req as usize];
            if !r.banned.contains(&send.key) {
                r.banned.push(send.key);
            }
        }
        match rule.request {
            RequestAction::Done => self.succeed(req, now),
            RequestAction::Rotate => {
                let limit = self.policy.retry_limit();
                if self.policy.rotation_costs_retry {
                    let r = &mut self.reqs[req as usize];
                    if r.retries >= limit {
                        return self.leave_provider(req, now, class);
                    }
                    let r = &mut self.reqs[req as usize];
                    r.retries += 1;
                }
                self.decide(req, now, Decision::NextKey, None);
                self.next(req, now)
            }
            RequestAction::Retry => self.retry(req, now, None, ra),
            RequestAction::RetrySame => self.retry(req, now, Some(send.key), ra),
            RequestAction::RetrySameFree => {
                let r = &mut self.reqs[req as usize];
                r.retry_same = Some(send.key);
                r.allow_tried = true;
                self.decide(req, now, Decision::RetrySame, None);
                self.next(req, now)
            }
            RequestAction::Fallback => self.leave_provider(req, now, class),
            RequestAction::Stop => self.stop(req, now, class),
        }
    }

    /// Counts a provider's failures in a row and ejects it, or brings it back.
    fn provider_health(&mut self, p: u32, req: ReqId, now: u64, class: Class) {
        let Some(h) = self.policy.provider_health else {
            return;
        };
        let prov = &mut self.provs[p as usize];
        if matches!(class, Class::ServerError | Class::Overloaded) {
            prov.fails_in_row = prov.fails_in_row.saturating_add(1);
            let probe_failed = prov.probe_req == Some(req);
            if probe_failed || (prov.ejected_until.is_none() && prov.fails_in_row >= h.eject_after)
            {
                prov.ejected_until = Some(now.saturating_add(h.eject_ms));
                prov.probe_req = None;
            }
        } else {
            // Any other answer shows the provider is up.
            prov.fails_in_row = 0;
            prov.ejected_until = None;
            prov.probe_req = None;
        }
    }

    /// Whether request `req` should pass provider `p` by: it is ejected and a generic
    /// fallback follows. Once the ejection is over, one request at a time goes through to
    /// probe it.
    fn passes_by(&mut self, p: u32, req: ReqId, now: u64) -> bool {
        // The common case first: a healthy provider (this runs before every attempt).
        if self.provs[p as usize].ejected_until.is_none()
            || self.reqs[req as usize].fault.is_some()
            || self.next_provider(p, None).is_none()
        {
            return false;
        }
        let prov = &mut self.provs[p as usize];
        match (prov.ejected_until, prov.probe_req) {
            (None, _) => false,
            (Some(until), _) if now < until => true,
            (Some(_), None) => {
                prov.probe_req = Some(req);
                false
            }
            (Some(_), Some(q)) => q != req,
        }
    }

    /// Benches key `k` of provider `p` and records the bench in force.
    #[allow(clippy::too_many_arguments)]
    fn bench(
        &mut self,
        p: u32,
        k: u32,
        until: u64,
        class: Class,
        now: u64,
        req: ReqId,
        attempt: u32,
    ) {
        let until = match self.policy.bench_cap_ms {
            Some(cap) => until.min(now.saturating_add(cap)),
            None => until,
        };
        let pool = &mut self.provs[p as usize].pool;
        let in_force = match pool.state(k) {
            KeyState::Benched { until: old, .. } if old > now => Some(old),
            _ => None,
        };
        let benched = match (self.policy.bench_combine, in_force) {
            (BenchCombine::First, Some(_)) => None,
            (BenchCombine::Restart, Some(_)) => Some(pool.rebench(k, until, class)),
            _ => pool.bench(k, until, class),
        };
        if let Some((until, reason)) = benched {
            let key = self.provs[p as usize].base + k;
            self.emit(Event::Bench {
                t: now,
                key,
                until,
                reason,
                req,
                attempt,
            });
        }
    }

    fn decide(&mut self, req: ReqId, now: u64, decision: Decision, until: Option<u64>) {
        let r = &self.reqs[req as usize];
        let (retries, provider) = (r.retries, r.provider);
        self.emit(Event::Decision {
            t: now,
            req,
            decision,
            until,
            retries,
            provider,
        });
    }

    /// Back off (or honour `ra`) and try again, on `same` key or another.
    fn retry(&mut self, req: ReqId, now: u64, same: Option<u32>, ra: Option<u64>) -> Step {
        let b = self.policy.backoff;
        self.retry_after_backoff(req, now, same, ra, b)
    }

    /// [`Self::retry`] with the backoff `b`.
    fn retry_after_backoff(
        &mut self,
        req: ReqId,
        now: u64,
        same: Option<u32>,
        ra: Option<u64>,
        b: Backoff,
    ) -> Step {
        let p = self.reqs[req as usize].provider;
        if self.passes_by(p, req, now) {
            // The provider was just ejected: no use backing off to call it again.
            let c = self.reqs[req as usize]
                .last_class
                .unwrap_or(Class::ServerError);
            return self.leave_provider(req, now, c);
        }
        let n = self.reqs[req as usize].retries;
        if n >= self.policy.retry_limit() {
            let c = self.reqs[req as usize]
                .last_class
                .unwrap_or(Class::ServerError);
            return self.leave_provider(req, now, c);
        }
        let mut delay = match ra {
            _ if self.retries_at_once(p, now) => 0,
            Some(ms) => ms,
            None => self.jittered_backoff(n, &b),
        };
        if delay > self.policy.max_wait_ms {
            match self.policy.long_retry_after {
                LongWait::GiveUp => {
                    let c = self.reqs[req as usize]
                        .last_class
                        .unwrap_or(Class::ServerError);
                    return self.leave_provider(req, now, c);
                }
                LongWait::Backoff => delay = self.jittered_backoff(n, &b),
            }
        }
        let until = now.saturating_add(delay);
        if until > self.reqs[req as usize].deadline {
            let c = self.reqs[req as usize]
                .last_class
                .unwrap_or(Class::ServerError);
            return self.leave_provider(req, now, c);
        }
        let r = &mut self.reqs[req as usize];
        r.retries += 1;
        r.allow_tried = true;
        r.retry_same = same;
        self.decide(req, now, Decision::Wait(WaitKind::Backoff), Some(until));
        Step::Wait { req, until }
    }

    /// [`Policy::retry_at_once_while_ready`] applies: more than one key, one of them ready.
    fn retries_at_once(&mut self, p: u32, now: u64) -> bool {
        if !self.policy.retry_at_once_while_ready {
            return false;
        }
        let pool = &mut self.provs[p as usize].pool;
        pool.refresh(now);
        pool.len() > 1 && pool.ready_count() > 0
    }

    fn jittered_backoff(&mut self, n: u32, b: &Backoff) -> u64 {
        let base = b.delay_ms(n);
        let pct = b.jitter_pct.min(100) as u64;
        if pct == 0 || base == 0 {
            return base;
        }
        // base / 100 * pct cannot overflow (pct <= 100), whatever a policy says.
        let most = base / 100 * pct + base % 100 * pct / 100;
        let cut = self.rng.random_range(0..=most);
        match b.jitter {
            Jitter::Subtract => base - cut,
            Jitter::Add => base.saturating_add(cut),
        }
    }

    /// Picks the next key, or waits, falls back or fails.
    fn next(&mut self, req: ReqId, now: u64) -> Step {
        if self.reqs[req as usize].done {
            return self.fail(req, now, Class::ServerError);
        }
        loop {
            let (p, attempts, deadline) = {
                let r = &self.reqs[req as usize];
                (r.provider, r.attempts, r.deadline)
            };
            if attempts >= self.policy.max_attempts || now >= deadline {
                let class = self.reqs[req as usize].last_class;
                return self.fail_with(req, now, class);
            }
            if self.passes_by(p, req, now) {
                if let Some(np) = self.next_provider(p, None) {
                    self.switch_provider(req, now, np);
                    continue;
                }
            }
            let prov = &mut self.provs[p as usize];
            prov.pool.refresh(now);
            let r = &mut self.reqs[req as usize];
            let key = if let Some(k) = r.retry_same.take() {
                let pinned = self.policy.retry_same_ignores_bench
                    && matches!(prov.pool.state(k), KeyState::Benched { .. });
                (pinned || prov.pool.selectable(k)).then_some(k)
            } else {
                let exclude = &mut self.exclude;
                exclude.clear();
                exclude.extend_from_slice(&r.banned);
                if self.policy.priority_levels {
                    off_level(&prov.pool, r, exclude);
                }
                let banned = exclude.len();
                if self.policy.avoid_tried {
                    exclude.extend_from_slice(&r.tried);
                }
                let first = prov.pool.select(now, exclude, r.rr_start, &mut self.rng);
                if first.is_none() && r.allow_tried {
                    prov.pool
                        .select(now, &exclude[..banned], r.rr_start, &mut self.rng)
                } else {
                    first
                }
            };
            if let Some(k) = key {
                let probe = prov.pool.on_attempt(k);
                let key_id = prov.base + k;
                let r = &mut self.reqs[req as usize];
                r.attempts += 1;
                let send = Send {
                    req,
                    attempt: r.attempts,
                    provider: p,
                    key: k,
                    key_id,
                    probe,
                    // The attempt's own limit, within the request's.
                    deadline: match self.policy.timeouts.total_ms {
                        Some(total) => r.deadline.min(now.saturating_add(total)),
                        None => r.deadline,
                    },
                };
                r.in_flight = Some(send);
                self.emit(Event::Attempt {
                    t: now,
                    req,
                    attempt: send.attempt,
                    provider: p,
                    key: key_id,
                    probe,
                });
                return Step::Send(send);
            }
            // No key to call: wait for the earliest benched one, or leave this provider.
            if self.policy.wait_for_benched {
                let r = &self.reqs[req as usize];
                let pool = &mut self.provs[p as usize].pool;
                // A tried key whose bench already ended (a reset that has passed) is ready now:
                // calling it again is a wait of nothing, and costs a retry like any wait.
                let ready_tried = !r.allow_tried
                    && (0..pool.len() as u32).any(|k| pool.selectable(k) && !r.banned.contains(&k));
                let earliest = if ready_tried {
                    Some(now)
                } else {
                    pool.earliest_ready(&r.banned).map(|e| e.0)
                };
                if let Some(t) = earliest {
                    let r = &self.reqs[req as usize];
                    if t.saturating_sub(now) <= self.policy.max_wait_ms
                        && t <= r.deadline
                        && r.retries < self.policy.retry_limit()
                    {
                        let r = &mut self.reqs[req as usize];
                        r.retries += 1;
                        r.allow_tried = true;
                        self.decide(req, now, Decision::Wait(WaitKind::BenchedKey), Some(t));
                        return Step::Wait { req, until: t };
                    }
                }
            }
            match self.next_in_chain(req, p) {
                Some(np) => {
                    self.switch_provider(req, now, np);
                    continue;
                }
                None => {
                    let class = self.reqs[req as usize].last_class;
                    return self.fail_with(req, now, class);
                }
            }
        }
    }

    /// The next provider after `p` for a generic fallback (`class: None`) or for a stop on `class`.
    fn next_provider(&self, p: u32, class: Option<Class>) -> Option<u32> {
        self.provs
            .iter()
            .enumerate()
            .skip(p as usize + 1)
            .find_map(|(i, prov)| {
                let fits = match (&prov.fallback_for, class) {
                    (None, None) => true,
                    (Some(cs), Some(c)) => cs.contains(&c),
                    _ => false,
                };
                fits.then_some(i as u32)
            })
    }

    /// With `priority_levels`, moves request `req` to a fallback pass held to the next
    /// priority level of provider `p` (after the pass's own level, or after the best level
    /// when the first pass ends), with a fresh retry budget. False when there is none.
    fn next_level(&mut self, req: ReqId, p: u32) -> bool {
        if !self.policy.priority_levels {
            return false;
        }
        let pool = &self.provs[p as usize].pool;
        let r = &mut self.reqs[req as usize];
        let n = pool.len() as u32;
        // LiteLLM's order fallbacks are the levels after the first, whatever levels the
        // first pass reached as better ones cooled.
        let current = match r.level {
            Some(l) => l,
            None => match (0..n).map(|k| pool.key(k).priority).min() {
                Some(l) => l,
                None => return false,
            },
        };
        let next = (0..n)
            .filter(|k| !r.banned.contains(k))
            .map(|k| pool.key(k).priority)
            .filter(|&l| l > current)
            .min();
        match next {
            Some(l) => {
                r.level = Some(l);
                r.retries = 0;
                true
            }
            None => false,
        }
    }

    /// Where request `req` goes after provider `p`: the next provider that may take it, or,
    /// past the last, the primary again while `chain_passes` allows another walk.
    fn next_in_chain(&mut self, req: ReqId, p: u32) -> Option<u32> {
        let fault = self.reqs[req as usize].fault;
        if let Some(np) = self.next_provider(p, fault) {
            return Some(np);
        }
        let r = &mut self.reqs[req as usize];
        if fault.is_some() || r.passes >= self.policy.chain_passes {
            return None;
        }
        r.passes += 1;
        self.provs
            .iter()
            .position(|p| p.fallback_for.is_none())
            .map(|i| i as u32)
    }

    fn switch_provider(&mut self, req: ReqId, now: u64, np: u32) {
        self.decide(req, now, Decision::Fallback, None);
        let advance = self.policy.round_robin_advance;
        let start = self.provs[np as usize].pool.start_request(advance);
        let r = &mut self.reqs[req as usize];
        r.provider = np;
        r.retries = 0;
        r.tried.clear();
        r.banned.clear();
        r.level = None;
        r.allow_tried = false;
        r.retry_same = None;
        r.rr_start = start;
    }

    /// Retries or keys are spent on this provider: fall back, or fail with `class`.
    fn leave_provider(&mut self, req: ReqId, now: u64, class: Class) -> Step {
        let p = self.reqs[req as usize].provider;
        if self.next_level(req, p) {
            self.decide(req, now, Decision::NextKey, None);
            return self.next(req, now);
        }
        match self.next_in_chain(req, p) {
            Some(np) => {
                self.switch_provider(req, now, np);
                self.next(req, now)
            }
            None => self.fail(req, now, class),
        }
    }

    /// The request itself is at fault: only a fallback configured for this class may take it.
    fn stop(&mut self, req: ReqId, now: u64, class: Class) -> Step {
        let p = self.reqs[req as usize].provider;
        match self.next_provider(p, Some(class)) {
            Some(np) => {
                self.reqs[req as usize].fault = Some(class);
                self.switch_provider(req, now, np);
                self.next(req, now)
            }
            None => self.fail(req, now, class),
        }
    }

    fn succeed(&mut self, req: ReqId, now: u64) -> Step {
        self.decide(req, now, Decision::Done, None);
        self.end(req, now, true, Class::Success, None, Vec::new())
    }

    fn fail(&mut self, req: ReqId, now: u64, class: Class) -> Step {
        self.fail_with(req, now, Some(class))
    }

    /// Ends the request as failed. With no class (no reply came), the class is why the
    /// earliest key is out, the same key whose time is reported.
    fn fail_with(&mut self, req: ReqId, now: u64, class: Option<Class>) -> Step {
        self.decide(req, now, Decision::Stop, None);
        let no_attempt = self.reqs[req as usize].attempts == 0;
        let mut earliest: Option<(u64, Class)> = None;
        let n = self.provs.iter().map(|p| p.pool.len()).sum();
        let mut keys = Vec::with_capacity(n);
        for prov in &mut self.provs {
            prov.pool.refresh(now);
            if let Some((t, why, _)) = prov.pool.earliest_ready(&[]) {
                if earliest.is_none_or(|e| t < e.0) {
                    earliest = Some((t, why));
                }
            }
            for k in 0..prov.pool.len() as u32 {
                keys.push((prov.base + k, prov.pool.state(k)));
            }
        }
        // No key will ever be ready again: with probing off, disabled keys say why (a
        // credential failed), not a server error.
        let never = || {
            if keys.iter().any(|(_, s)| {
                matches!(
                    s,
                    KeyState::Disabled { .. }
                        | KeyState::ProbeDue { .. }
                        | KeyState::Probing { .. }
                )
            }) {
                Class::Auth
            } else {
                Class::ServerError
            }
        };
        let class = class.unwrap_or_else(|| earliest.map_or_else(never, |e| e.1));
        let class = match self.policy.pool_exhausted_class {
            Some(c) if no_attempt => c,
            _ => class,
        };
        let class = self.policy.failure_class.unwrap_or(class);
        let all_out = || self.provs.iter().all(|p| p.pool.ready_count() == 0);
        let ready_at = match self.policy.report_ready_time {
            ReadyTime::Always => earliest.map(|e| e.0),
            ReadyTime::AllOut if all_out() => earliest.map(|e| e.0),
            ReadyTime::AllOut | ReadyTime::Never => None,
        };
        self.end(req, now, false, class, ready_at, keys)
    }

    /// Records the end of a request and hands back its outcome.
    fn end(
        &mut self,
        req: ReqId,
        now: u64,
        success: bool,
        class: Class,
        ready_at: Option<u64>,
        keys: Vec<(KeyId, KeyState)>,
    ) -> Step {
        let r = &mut self.reqs[req as usize];
        r.done = true;
        let attempts = r.attempts;
        for prov in &mut self.provs {
            // A probe that ended without a word from its provider leaves the slot to the next.
            if prov.probe_req == Some(req) {
                prov.probe_req = None;
            }
        }
        // An ended request never reads its key lists again (`next` stops at `done`).
        for mut v in [std::mem::take(&mut r.tried), std::mem::take(&mut r.banned)] {
            if v.capacity() > 0 {
                v.clear();
                self.spare.push(v);
            }
        }
        self.emit(Event::RequestEnd {
            t: now,
            req,
            success,
            class,
            attempts,
            ready_at,
        });
        Step::Done(Outcome {
            req,
            success,
            class,
            attempts,
            ended_at: now,
            ready_at,
            keys,
        })
    }

    /// Every key's state at `now`, by key id (benches that ended by `now` are ready).
    pub fn key_states(&mut self, now: u64) -> Vec<KeyState> {
        let mut v = Vec::new();
        for p in &mut self.provs {
            p.pool.refresh(now);
            v.extend((0..p.pool.len() as u32).map(|k| p.pool.state(k)));
        }
        v
    }

    /// When the request started.
    pub fn started_at(&self, req: ReqId) -> u64 {
        self.reqs[req as usize].start
    }
}

/// Adds to `exclude` the keys of `pool` outside the level request `r` may draw from: its
/// fallback pass's level, or on the first pass the best level with a key ready now (LiteLLM
/// draws among the healthy deployments of the lowest `order`).
fn off_level(pool: &Pool, r: &Req, exclude: &mut Vec<u32>) {
    let n = pool.len() as u32;
    let level = r.level.or_else(|| {
        (0..n)
            .filter(|&k| pool.selectable(k) && !r.banned.contains(&k))
            .map(|k| pool.key(k).priority)
            .min()
    });
    if let Some(l) = level {
        exclude.extend((0..n).filter(|&k| pool.key(k).priority != l));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use crate::pool::{PoolKey, Strategy};
    use crate::trace::{Decision, WaitKind};

    const OK: &str = r#"{"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}]}"#;

    fn keys(n: usize, group: Option<&str>) -> Vec<PoolKey> {
        (0..n)
            .map(|i| PoolKey {
                label: format!("k{}", i + 1).into(),
                priority: i as i64,
                group: group.map(std::sync::Arc::from),
            })
            .collect()
    }

    fn one(n: usize, policy: Policy) -> Engine {
        let spec = ProviderSpec {
            name: "p".into(),
            keys: keys(n, None),
            strategy: Strategy::FillFirst,
            fallback_for: None,
        };
        Engine::new(vec![spec], policy, 9)
    }

    fn send(s: Step) -> Send {
        match s {
            Step::Send(s) => s,
            other => panic!("expected a send, got {other:?}"),
        }
    }

    fn done(s: Step) -> Outcome {
        match s {
            Step::Done(o) => o,
            other => panic!("expected done, got {other:?}"),
        }
    }

    fn rate_limited() -> Reply {
        Reply::new(
            429,
            r#"{"error":{"message":"Rate limit reached on requests per min (RPM)","code":"rate_limit_exceeded"}}"#,
        )
    }

    #[test]
    fn rotation_to_untried_key_costs_no_retry() {
        let mut e = one(3, Policy::default());
        let s = send(e.start(0));
        let s2 = send(e.on_reply(s.req, 5, &rate_limited()));
        assert_eq!(s2.key, 1);
        let retries: Vec<u32> = e
            .trace()
            .iter()
            .filter_map(|ev| match ev {
                Event::Decision { retries, .. } => Some(*retries),
                _ => None,
            })
            .collect();
        assert_eq!(retries, vec![0]);
        assert!(done(e.on_reply(s.req, 9, &Reply::new(200, OK))).success);
    }

    #[test]
    fn retry_after_becomes_the_wait_when_no_key_is_left() {
        let mut e = one(1, Policy::default());
        let s = send(e.start(0));
        let r = rate_limited().header("retry-after", "2");
        assert_eq!(
            e.on_reply(s.req, 10, &r),
            Step::Wait {
                req: 0,
                until: 2010
            }
        );
        let s = send(e.on_wake(0, 2010));
        assert_eq!(s.attempt, 2);
        assert!(matches!(
            e.trace().iter().rev().nth(1),
            Some(Event::Decision {
                decision: Decision::Wait(WaitKind::BenchedKey),
                ..
            })
        ));
    }

    #[test]
    fn a_long_retry_after_fails_with_the_ready_time() {
        let mut e = one(1, Policy::default());
        let s = send(e.start(0));
        let o = done(e.on_reply(s.req, 10, &rate_limited().header("retry-after", "90")));
        assert!(!o.success);
        assert_eq!((o.class, o.ready_at), (Class::RateLimit, Some(90_010)));
    }

    #[test]
    fn quota_is_never_retried_on_the_same_key_even_with_a_short_reset() {
        let mut e = one(1, Policy::default());
        let s = send(e.start(0));
        let r = Reply::new(
            429,
            r#"{"error":{"type":"usage_limit_reached","message":"The usage limit has been reached","resets_in_seconds":5}}"#,
        );
        let o = done(e.on_reply(s.req, 10, &r));
        assert_eq!(
            (o.class, o.attempts, o.ready_at),
            (Class::QuotaExhausted, 1, Some(5_010))
        );
    }

    #[test]
    fn a_quota_group_is_benched_together() {
        let mut ks = keys(3, Some("acct"));
        ks[2].group = None;
        let spec = ProviderSpec {
            name: "p".into(),
            keys: ks,
            strategy: Strategy::FillFirst,
            fallback_for: None,
        };
        let mut e = Engine::new(vec![spec], Policy::default(), 1);
        let s = send(e.start(0));
        let s2 = send(e.on_reply(s.req, 1, &Reply::new(402, "")));
        assert_eq!(s2.key, 2, "k2 shares k1's account");
        assert!(matches!(
            e.pool(0).state(1),
            KeyState::Benched {
                reason: Class::QuotaExhausted,
                ..
            }
        ));
    }

    #[test]
    fn request_faults_stop_unless_a_fallback_is_configured_for_them() {
        let mk = |fallback_for: Option<Vec<Class>>| {
            let p = ProviderSpec {
                name: "p".into(),
                keys: keys(2, None),
                strategy: Strategy::FillFirst,
                fallback_for: None,
            };
            let f = ProviderSpec {
                name: "f".into(),
                keys: vec![PoolKey {
                    label: "f1".into(),
                    priority: 0,
                    group: None,
                }],
                strategy: Strategy::FillFirst,
                fallback_for,
            };
            Engine::new(vec![p, f], Policy::default(), 1)
        };
        let overflow = Reply::new(
            400,
            r#"{"error":{"code":"context_length_exceeded","message":"maximum context length"}}"#,
        );
        let mut e = mk(None);
        let s = send(e.start(0));
        let o = done(e.on_reply(s.req, 1, &overflow));
        assert_eq!((o.class, o.attempts), (Class::ContextOverflow, 1));
        let mut e = mk(Some(vec![Class::ContextOverflow]));
        let s = send(e.start(0));
        let s = send(e.on_reply(s.req, 1, &overflow));
        assert_eq!((s.provider, s.key), (1, 0));
    }

    #[test]
    fn max_attempts_caps_every_layer() {
        let policy = Policy {
            max_attempts: 3,
            ..Policy::default()
        };
        let mut e = one(10, policy);
        let mut step = e.start(0);
        let mut calls = 0;
        while let Step::Send(s) = step {
            calls += 1;
            step = e.on_reply(s.req, calls, &rate_limited());
        }
        assert_eq!(calls, 3);
        assert_eq!(done(step).attempts, 3);
    }

    #[test]
    fn backoff_never_sleeps_past_the_deadline() {
        let policy = Policy {
            deadline_ms: 1_000,
            max_retries: 50,
            ..Policy::default()
        };
        let mut e = one(1, policy);
        let mut step = e.start(0);
        let mut now = 0;
        loop {
            match step {
                Step::Send(s) => step = e.on_reply(s.req, now, &Reply::new(503, "")),
                Step::Wait { req, until } => {
                    assert!(until <= 1_000);
                    now = until;
                    step = e.on_wake(req, now);
                }
                Step::Done(o) => {
                    assert_eq!(o.class, Class::Overloaded);
                    break;
                }
            }
        }
    }

    #[test]
    fn a_disabled_key_is_probed_when_due_and_restored_by_a_success() {
        let mut e = one(2, Policy::default());
        let s = send(e.start(0));
        let s2 = send(e.on_reply(s.req, 1, &Reply::new(401, "")));
        assert_eq!(s2.key, 1);
        done(e.on_reply(0, 2, &Reply::new(200, OK)));
        // Before the probe is due, k1 is skipped.
        assert_eq!(send(e.start(1_000)).key, 1);
        done(e.on_reply(1, 1_001, &Reply::new(200, OK)));
        // At 30 min + 1 ms the probe is due: the next request probes k1.
        let p = send(e.start(1_800_001));
        assert!(p.probe && p.key == 0);
        done(e.on_reply(p.req, 1_800_002, &Reply::new(200, OK)));
        assert_eq!(e.pool(0).state(0), KeyState::Ready);
        assert!(e
            .trace()
            .iter()
            .any(|ev| matches!(ev, Event::Restore { .. })));
    }

    #[test]
    fn a_failure_benches_the_key_that_served_it_with_requests_in_flight() {
        let spec = ProviderSpec {
            name: "p".into(),
            keys: keys(3, None),
            strategy: Strategy::RoundRobin,
            fallback_for: None,
        };
        let mut e = Engine::new(vec![spec], Policy::default(), 1);
        let a = send(e.start(0));
        let b = send(e.start(0));
        assert_eq!((a.key, b.key), (0, 1));
        let _ = e.on_reply(a.req, 5, &rate_limited());
        assert!(matches!(e.pool(0).state(0), KeyState::Benched { .. }));
        assert_eq!(e.pool(0).state(1), KeyState::Ready);
    }

    #[test]
    fn jitter_is_seeded() {
        let waits = |seed| {
            let spec = ProviderSpec {
                name: "p".into(),
                keys: keys(1, None),
                strategy: Strategy::FillFirst,
                fallback_for: None,
            };
            let mut e = Engine::new(vec![spec], Policy::default(), seed);
            let s = send(e.start(0));
            match e.on_reply(s.req, 0, &Reply::new(500, "")) {
                Step::Wait { until, .. } => until,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(waits(1), waits(1));
        assert!((400..=500).contains(&waits(1)), "500 ms minus up to 20 %");
        assert!((1..50).any(|s| waits(s) != waits(1)));
    }

    #[test]
    fn an_absurd_backoff_does_not_overflow() {
        // Scenario files are range-checked, but a library user builds policies by hand.
        let mut policy = Policy::default();
        policy.backoff.base_ms = u64::MAX / 3;
        policy.backoff.cap_ms = u64::MAX;
        policy.backoff.jitter_pct = 100;
        let spec = ProviderSpec {
            name: "p".into(),
            keys: keys(1, None),
            strategy: Strategy::FillFirst,
            fallback_for: None,
        };
        let mut e = Engine::new(vec![spec], policy, 7);
        let s = send(e.start(0));
        // Any step is fine; what matters is no overflow panic in debug builds.
        let _ = e.on_reply(s.req, 0, &Reply::new(500, ""));
    }

    /// Drives one request to its end, answering each key by `answer(key)`; returns the keys
    /// called and the outcome.
    fn walk(e: &mut Engine, answer: impl Fn(u32) -> Reply) -> (Vec<u32>, Outcome) {
        let mut called = Vec::new();
        let mut step = e.start(0);
        loop {
            step = match step {
                Step::Send(s) => {
                    called.push(s.key);
                    e.on_reply(s.req, 0, &answer(s.key))
                }
                Step::Wait { req, until } => e.on_wake(req, until),
                Step::Done(o) => return (called, o),
            };
        }
    }

    #[test]
    fn a_same_key_first_retry_calls_the_same_key_then_benches_it() {
        // The bug this guards: the key was benched before the same-key branch ran, so the
        // "retry" waited for the bench and then moved on.
        let policy = Policy {
            retry_same_key_first: vec![Class::RateLimit],
            ..Policy::default()
        };
        let mut e = one(3, policy);
        let (called, o) = walk(&mut e, |k| {
            if k < 2 {
                rate_limited()
            } else {
                Reply::new(200, OK)
            }
        });
        assert_eq!(called, [0, 0, 1, 1, 2]);
        assert!(o.success);
        let benched: Vec<u32> = e
            .trace()
            .iter()
            .filter_map(|ev| match ev {
                Event::Bench { key, .. } => Some(*key),
                _ => None,
            })
            .collect();
        assert_eq!(benched, [0, 1], "benched only after the second failure");
    }

    #[test]
    fn counting_failures_ends_at_the_budget() {
        let mut policy = crate::policy::preset("hermes").unwrap();
        policy.max_retries = 3;
        let mut e = one(10, policy);
        let (called, o) = walk(&mut e, |k| {
            if k < 9 {
                rate_limited()
            } else {
                Reply::new(200, OK)
            }
        });
        assert_eq!(
            called,
            [0, 0, 1, 1, 2],
            "hermes: the third counted failure ends it"
        );
        assert!(!o.success);
    }

    #[test]
    fn added_jitter_waits_at_least_the_backoff() {
        let mut policy = Policy::default();
        policy.backoff = crate::policy::Backoff {
            base_ms: 2_000,
            factor: 2,
            cap_ms: 60_000,
            jitter_pct: 50,
            jitter: Jitter::Add,
        };
        for seed in 0..50 {
            let spec = ProviderSpec {
                name: "p".into(),
                keys: keys(1, None),
                strategy: Strategy::FillFirst,
                fallback_for: None,
            };
            let mut e = Engine::new(vec![spec], policy.clone(), seed);
            let s = send(e.start(0));
            let Step::Wait { until, .. } = e.on_reply(s.req, 0, &Reply::new(500, "")) else {
                panic!("a 500 backs off")
            };
            assert!((2_000..=3_000).contains(&until), "{until}");
            let s = send(e.on_wake(0, until));
            let Step::Wait { until: u2, .. } = e.on_reply(s.req, until, &Reply::new(500, ""))
            else {
                panic!("a second 500 backs off")
            };
            assert!((4_000..=6_000).contains(&(u2 - until)), "{}", u2 - until);
        }
    }

    #[test]
    fn a_header_only_policy_ignores_the_wait_in_the_body() {
        let body = r#"{"error":{"message":"Rate limit reached. Please try again in 20s.","code":"rate_limit_exceeded"}}"#;
        for (source, until) in [
            (RetryAfterSource::Any, 20_000),
            (RetryAfterSource::Header, 500),
        ] {
            let mut policy = Policy {
                retry_after_source: source,
                retry_after_holds_key: false,
                ..Policy::default()
            };
            policy.backoff.jitter_pct = 0;
            policy.rules.rate_limit.request = RequestAction::RetrySame;
            policy.rules.rate_limit.key = KeyAction::None;
            let mut e = one(1, policy);
            let s = send(e.start(0));
            let step = e.on_reply(s.req, 0, &Reply::new(429, body));
            assert_eq!(step, Step::Wait { req: 0, until }, "{source:?}");
        }
        // A header is heard either way.
        let policy = Policy {
            retry_after_source: RetryAfterSource::Header,
            ..Policy::default()
        };
        let mut e = one(1, policy);
        let s = send(e.start(0));
        let r = Reply::new(429, body).header("retry-after", "3");
        assert_eq!(
            e.on_reply(s.req, 0, &r),
            Step::Wait {
                req: 0,
                until: 3_000
            }
        );
    }

    #[test]
    fn without_a_tried_set_the_strategy_alone_chooses() {
        // k1 fails with a server error; the retry goes back to k1 (fill_first) instead of k2.
        for (avoid, second) in [(true, 1), (false, 0)] {
            let policy = Policy {
                avoid_tried: avoid,
                ..Policy::default()
            };
            let mut e = one(2, policy);
            let s = send(e.start(0));
            let Step::Wait { until, .. } = e.on_reply(s.req, 0, &Reply::new(500, "")) else {
                panic!("a 500 backs off")
            };
            assert_eq!(send(e.on_wake(0, until)).key, second, "avoid_tried {avoid}");
        }
    }

    #[test]
    fn a_reset_that_has_passed_is_a_retry_at_once() {
        // The only key says its limit reset already (retry-after 0): the request calls it
        // again now, spending a retry, instead of failing with a ready key in hand.
        let mut e = one(1, Policy::default());
        let s = send(e.start(0));
        let r = rate_limited().header("retry-after", "0");
        assert_eq!(e.on_reply(s.req, 10, &r), Step::Wait { req: 0, until: 10 });
        let s = send(e.on_wake(0, 10));
        assert_eq!((s.key, s.attempt), (0, 2));
    }

    #[test]
    fn an_ejected_provider_is_passed_by_and_probed_one_request_at_a_time() {
        let policy = Policy {
            max_retries: 0,
            provider_health: Some(crate::policy::Health {
                eject_after: 2,
                eject_ms: 1_000,
            }),
            ..Policy::default()
        };
        let chain = ["primary", "backup"].map(|name| ProviderSpec {
            name: name.into(),
            keys: keys(1, None),
            strategy: Strategy::FillFirst,
            fallback_for: None,
        });
        let mut e = Engine::new(chain.to_vec(), policy, 3);
        let fail = Reply::new(500, "");
        let ok = Reply::new(200, OK);
        // Two requests meet the outage: two failures in a row eject the primary.
        for t in [0, 10] {
            let s = send(e.start(t));
            assert_eq!(s.provider, 0);
            let s = send(e.on_reply(s.req, t + 1, &fail));
            assert_eq!(s.provider, 1);
            assert!(done(e.on_reply(s.req, t + 2, &ok)).success);
        }
        // Ejected: straight to the backup.
        let s = send(e.start(500));
        assert_eq!(s.provider, 1);
        assert!(done(e.on_reply(s.req, 501, &ok)).success);
        // The ejection is over: one request probes; another, meanwhile, passes by.
        let probe = send(e.start(1_100));
        assert_eq!(probe.provider, 0);
        let other = send(e.start(1_101));
        assert_eq!(other.provider, 1);
        assert!(done(e.on_reply(other.req, 1_102, &ok)).success);
        // The probe succeeds: the primary is back for everyone.
        assert!(done(e.on_reply(probe.req, 1_103, &ok)).success);
        assert_eq!(send(e.start(1_200)).provider, 0);
    }
}
