//! One pass over the trace with a model of every key; checks every invariant that needs to
//! know what state a key was in when something happened.

use super::{Context, View, Violation, QUOTA_MIN_BENCH_MS};

/// The reference's first probe of a disabled key, used to judge policies that never probe.
const REFERENCE_PROBE_MS: u64 = 1_800_000;
use crate::class::Class;
use crate::trace::{Decision, Event, KeyId, ReqId};

#[derive(Debug, Clone, Default)]
struct KeyModel {
    /// Benched until (explicit or implied by the reply).
    bench_until: u64,
    /// Benched until, by the trace's own events only.
    explicit_until: u64,
    explicit_reason: Option<Class>,
    /// The retry-after it last returned ends here.
    ra_until: u64,
    /// Disabled by an auth failure, with the probe schedule the policy promises.
    disabled: bool,
    probe_due: u64,
    interval: u64,
    probe_outstanding: bool,
    /// Requests started on its provider since its probe was due.
    overdue_requests: u32,
    overdue_reported: bool,
    /// The trace's own probe time (a disable event).
    explicit_probe: Option<u64>,
    /// Its last reply, when that was a failure, and when it came: what a hold on the key
    /// could be for.
    last_failure: Option<(Class, u64)>,
}

/// The key of a logged attempt the trace never showed starting.
const NO_KEY: KeyId = KeyId::MAX;

#[derive(Debug, Clone, Default)]
struct ReqModel {
    start: u64,
    provider: u32,
    attempts: u32,
    /// Each attempt, by number (an engine numbers them 1, 2, …, so attempt `n` is found at
    /// `n - 1`; a trace from outside that numbers them otherwise is searched).
    attempt_log: Vec<Logged>,
    tried: std::collections::HashSet<(u32, KeyId)>,
    banned: Vec<KeyId>,
    fault: Option<Class>,
    last: Option<(Class, u32, KeyId, u32)>, // class, attempt, key, provider
    pending_soft: Option<(u32, Class, KeyId, u64)>,
    caused: Vec<u32>,
    counted_retries: u32,
    prev_retries: u32,
    retries_provider: u32,
    waits: u32,
    ended: bool,
    /// `terminates` already fired for it: a runaway is reported once, not per call.
    runaway: bool,
    /// Some attempt was logged out of its place (a trace from outside).
    log_out_of_order: bool,
    /// The time its last wait decision said the next call would wait for.
    wait_until: Option<u64>,
}

/// What a bench or disable event did to its key.
#[derive(Debug, Clone, Copy)]
enum Outage {
    /// A bench; `Some(until)` when it keeps the key out longer than what was in force.
    Bench(Option<u64>),
    /// A disable.
    Disable,
}

/// One attempt of a request, as the trace showed it.
#[derive(Debug, Clone, Copy)]
struct Logged {
    attempt: u32,
    key: KeyId,
    /// Its reply's class, and the time the reply's retry-after ends (if it gave one).
    reply: Option<(Class, Option<u64>)>,
}

impl ReqModel {
    /// The log entry of `attempt`, if it was logged.
    fn logged(&self, attempt: u32) -> Option<&Logged> {
        let i = self.log_index(attempt)?;
        self.attempt_log.get(i)
    }

    fn log_index(&self, attempt: u32) -> Option<usize> {
        let at = (attempt as usize).wrapping_sub(1);
        match self.attempt_log.get(at) {
            Some(e) if e.attempt == attempt => Some(at),
            // Numbered 1, 2, … so far: a miss is an absence, found without a scan.
            _ if !self.log_out_of_order => None,
            _ => self.attempt_log.iter().position(|e| e.attempt == attempt),
        }
    }

    /// The log entry of `attempt`, made if missing.
    fn log_entry(&mut self, attempt: u32) -> &mut Logged {
        let i = match self.log_index(attempt) {
            Some(i) => i,
            None => {
                self.log_out_of_order |= attempt as usize != self.attempt_log.len() + 1;
                self.attempt_log.push(Logged {
                    attempt,
                    key: NO_KEY,
                    reply: None,
                });
                self.attempt_log.len() - 1
            }
        };
        &mut self.attempt_log[i]
    }
}

impl ReqModel {
    /// A model for a new request, reusing this one's lists (emptied).
    fn reuse(mut self, start: u64, provider: u32) -> ReqModel {
        self.attempt_log.clear();
        self.tried.clear();
        self.banned.clear();
        self.caused.clear();
        ReqModel {
            start,
            provider,
            retries_provider: provider,
            attempt_log: self.attempt_log,
            tried: self.tried,
            banned: self.banned,
            caused: self.caused,
            ..ReqModel::default()
        }
    }
}

thread_local! {
    /// Request models of earlier walks, for their lists to be reused (the explorer walks
    /// millions of traces; each request would otherwise allocate four small lists).
    static SPARE: std::cell::RefCell<Vec<ReqModel>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Walker<'a> {
    ctx: &'a Context<'a>,
    /// Each provider's keys (global ids are given provider by provider, so a range), and
    /// each key's provider.
    provider_keys: Vec<std::ops::Range<KeyId>>,
    /// Per provider, its health as the replies show it (`policy.provider_health`): provider
    /// faults in a row, and, once they ejected it, until when. It stays out of health after
    /// that (half-open: one probe, the others pass by) until a reply that is not a fault.
    health: Vec<(u32, Option<u64>)>,
    key_provider: Vec<u32>,
    /// Each key's quota group: the keys of its provider with the same group name, or itself;
    /// a group is a span of `group_keys`.
    group_of: Vec<(u32, u32)>,
    group_keys: Vec<KeyId>,
    keys: Vec<KeyModel>,
    /// Requests by id (the engine numbers them from 0), `None` until started.
    reqs: Vec<Option<ReqModel>>,
    out: Vec<Violation>,
}

pub(super) fn walk(trace: &[Event], ctx: &Context) -> Vec<Violation> {
    let mut provider_keys = Vec::with_capacity(ctx.providers.len());
    let mut key_provider = Vec::new();
    // (provider, group name or none, key): sorted, each group's keys are side by side.
    let mut by_group: Vec<(u32, Option<&str>, KeyId)> = Vec::new();
    let mut n = 0u32;
    for (pi, p) in ctx.providers.iter().enumerate() {
        let first = n;
        for k in &p.keys {
            by_group.push((pi as u32, k.group.as_deref(), n));
            key_provider.push(pi as u32);
            n += 1;
        }
        provider_keys.push(first..n);
    }
    // A key without a group is a group of its own: `None` sorts first, then by key.
    by_group.sort_unstable();
    let mut group_of = vec![(0, 0); n as usize];
    let group_keys: Vec<KeyId> = by_group.iter().map(|e| e.2).collect();
    let mut i = 0;
    while i < by_group.len() {
        let (p, g, _) = by_group[i];
        let len = match g {
            None => 1,
            Some(_) => by_group[i..]
                .iter()
                .take_while(|e| e.0 == p && e.1 == g)
                .count(),
        };
        for e in &by_group[i..i + len] {
            group_of[e.2 as usize] = (i as u32, len as u32);
        }
        i += len;
    }
    let n = n as usize;
    let mut w = Walker {
        ctx,
        provider_keys,
        key_provider,
        group_of,
        group_keys,
        keys: vec![KeyModel::default(); n],
        health: vec![(0, None); ctx.providers.len()],
        reqs: Vec::with_capacity(
            trace
                .iter()
                .filter(|e| matches!(e, Event::RequestStart { .. }))
                .count(),
        ),
        out: Vec::new(),
    };
    for e in trace {
        match w.malformed(e, trace.len()) {
            Some(v) => w.out.push(v),
            None => w.event(e),
        }
    }
    for (r, m) in w.reqs.iter().enumerate() {
        let Some(m) = m else { continue };
        let r = r as ReqId;
        if !m.ended {
            w.out.push(Violation {
                invariant: "terminates",
                req: Some(r),
                attempt: None,
                t: None,
                message: format!("request {r} never ended ({} attempts made)", m.attempts),
            });
        }
    }
    SPARE.with_borrow_mut(|s| {
        let room = 1024usize.saturating_sub(s.len());
        s.extend(w.reqs.drain(..).flatten().take(room));
    });
    if w.out.is_empty() {
        return w.out;
    }
    let labels: Vec<&str> = ctx
        .providers
        .iter()
        .flat_map(|p| p.keys.iter().map(|k| &*k.label))
        .collect();
    for v in &mut w.out {
        v.message = with_labels(&v.message, &labels);
    }
    w.out
}

/// ", and N more keys" when there are more.
fn and_more(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => ", and 1 more key".into(),
        n => format!(", and {n} more keys"),
    }
}

/// Messages name keys as `#id`; show their labels instead.
fn with_labels(msg: &str, labels: &[&str]) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find('#') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[..digits]
            .parse::<usize>()
            .ok()
            .and_then(|n| labels.get(n))
        {
            Some(l) => out.push_str(l),
            None => out.push('#'),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

impl Walker<'_> {
    fn v(
        &mut self,
        invariant: &'static str,
        req: Option<ReqId>,
        attempt: Option<u32>,
        t: u64,
        message: String,
    ) {
        self.out.push(Violation {
            invariant,
            req,
            attempt,
            t: Some(t),
            message,
        });
    }

    /// The key's quota group (the key alone when it has none).
    fn group(&self, k: KeyId) -> &[KeyId] {
        let (first, len) = self.group_of[k as usize];
        &self.group_keys[first as usize..(first + len) as usize]
    }

    fn provider_keys(&self, p: u32) -> std::ops::Range<KeyId> {
        self.provider_keys.get(p as usize).cloned().unwrap_or(0..0)
    }

    fn req(&self, r: ReqId) -> Option<&ReqModel> {
        self.reqs.get(r as usize).and_then(Option::as_ref)
    }

    fn req_mut(&mut self, r: ReqId) -> Option<&mut ReqModel> {
        self.reqs.get_mut(r as usize).and_then(Option::as_mut)
    }

    fn ready(&self, k: KeyId, t: u64) -> bool {
        let m = &self.keys[k as usize];
        m.bench_until <= t && !m.disabled
    }

    /// The earliest future time any key is back, by the trace's own events, with its reason.
    ///
    /// A key out for `prefer` wins a tie: when two keys are back at the same time for
    /// different reasons, a failure may name either.
    fn explicit_earliest(&self, t: u64, prefer: Option<Class>) -> Option<(u64, Class)> {
        let mut best: Option<(u64, Class)> = None;
        for m in &self.keys {
            // A disabled key is back at its probe, or later if a bench (of its account) came
            // meanwhile; it is out for `auth` either way.
            let back = match m.explicit_probe {
                Some(u64::MAX) => None,
                Some(p) => Some((p.max(m.explicit_until), Class::Auth)),
                None => Some((
                    m.explicit_until,
                    m.explicit_reason.unwrap_or(Class::RateLimit),
                )),
            };
            let cands = [back.filter(|b| b.0 > t)];
            for c in cands.into_iter().flatten() {
                if best.is_none_or(|b| c.0 < b.0 || (c.0 == b.0 && Some(c.1) == prefer)) {
                    best = Some(c);
                }
            }
        }
        best
    }

    /// An event that names a key or provider the chain does not have, or a request number
    /// beyond any the trace could hold: a violation of its own, and the event is not walked
    /// (a trace from outside is never trusted to be well formed).
    fn malformed(&self, e: &Event, events: usize) -> Option<Violation> {
        let (req, key, provider) = match *e {
            Event::RequestStart { req, provider, .. } => (Some(req), None, Some(provider)),
            Event::Attempt {
                req, key, provider, ..
            } => (Some(req), Some(key), Some(provider)),
            Event::Reply { req, key, .. }
            | Event::Bench { req, key, .. }
            | Event::Disable { req, key, .. }
            | Event::Restore { req, key, .. } => (Some(req), Some(key), None),
            Event::Decision { req, provider, .. } => (Some(req), None, Some(provider)),
            Event::RequestEnd { req, .. } => (Some(req), None, None),
        };
        let why = if key.is_some_and(|k| k as usize >= self.keys.len()) {
            format!(
                "names key #{}, which the chain does not have",
                key.unwrap_or(0)
            )
        } else if provider.is_some_and(|p| p as usize >= self.ctx.providers.len()) {
            format!(
                "names provider {}, which the chain does not have",
                provider.unwrap_or(0)
            )
        } else if req.is_some_and(|r| r as usize > events) {
            format!(
                "names request {}, more than a trace of {events} events can hold",
                req.unwrap_or(0)
            )
        } else if let Event::Attempt { key, provider, .. } = *e {
            if self.key_provider[key as usize] != provider {
                format!("sends to key #{key} on provider {provider}, which does not hold it")
            } else {
                return None;
            }
        } else {
            return None;
        };
        Some(Violation {
            invariant: "attribution",
            req,
            attempt: None,
            t: Some(e.t()),
            message: format!("a malformed event {why}"),
        })
    }

    fn event(&mut self, e: &Event) {
        match *e {
            Event::RequestStart { t, req, provider } => {
                let at = req as usize;
                if self.reqs.len() <= at {
                    self.reqs.resize_with(at + 1, || None);
                }
                let spare = SPARE.with_borrow_mut(Vec::pop).unwrap_or_default();
                self.reqs[at] = Some(spare.reuse(t, provider));
                let keys = self.provider_keys(provider);
                let size = keys.len() as u32;
                // A request that passes an ejected provider by cannot probe its keys.
                let keys = if self.unhealthy(provider) { 0..0 } else { keys };
                for k in keys {
                    let m = &mut self.keys[k as usize];
                    if m.disabled && !m.probe_outstanding && m.probe_due.max(m.bench_until) <= t {
                        m.overdue_requests = m.overdue_requests.saturating_add(1);
                        if m.overdue_requests > size + 1 && !m.overdue_reported {
                            m.overdue_reported = true;
                            let due = m.probe_due;
                            self.v("disabled_key_probing", Some(req), None, t, format!("key #{k}'s probe was due at {due} ms but {} requests started since without probing it", size + 1));
                        }
                    }
                }
            }
            Event::Attempt {
                t,
                req,
                attempt,
                provider,
                key,
                ..
            } => self.attempt(t, req, attempt, provider, key),
            Event::Reply {
                t,
                req,
                attempt,
                key,
                class,
                retry_after_ms,
                soft,
                ..
            } => self.reply(t, req, attempt, key, class, retry_after_ms, soft),
            Event::Bench {
                t,
                key,
                until,
                reason,
                req,
                attempt,
            } => {
                // Only a bench that keeps the key out longer than what was in force is this
                // reply's doing (the engine reports the bench in force, an earlier one included).
                let m = &self.keys[key as usize];
                let in_force = m.explicit_until.max(m.explicit_probe.unwrap_or(0));
                let longer = (until > in_force.max(t)).then_some(until);
                self.attribution(t, key, req, attempt, reason, Outage::Bench(longer));
                let m = &self.keys[key as usize];
                if m.explicit_until > t && until < m.explicit_until {
                    let old = m.explicit_until;
                    self.v(
                        "bench_monotone",
                        Some(req),
                        Some(attempt),
                        t,
                        format!("key #{key}'s bench moved earlier, from {old} ms to {until} ms"),
                    );
                }
                let m = &mut self.keys[key as usize];
                if until >= m.explicit_until {
                    m.explicit_until = until;
                    m.explicit_reason = Some(reason);
                }
                m.bench_until = m.bench_until.max(until);
            }
            Event::Disable {
                t,
                key,
                probe_at,
                req,
                attempt,
            } => {
                self.attribution(t, key, req, attempt, Class::Auth, Outage::Disable);
                self.keys[key as usize].explicit_probe = Some(probe_at.unwrap_or(u64::MAX));
            }
            Event::Restore { key, .. } => {
                self.keys[key as usize].explicit_probe = None;
            }
            Event::Decision {
                t,
                req,
                decision,
                until,
                retries,
                provider,
            } => self.decision(t, req, decision, until, retries, provider),
            Event::RequestEnd {
                t,
                req,
                success,
                class,
                attempts,
                ready_at,
            } => {
                let made = self.req(req).map(|r| r.attempts);
                if let Some(made) = made.filter(|&m| m != attempts) {
                    self.v(
                        "faithful_trace",
                        Some(req),
                        None,
                        t,
                        format!("the request reports {attempts} attempts, but {made} were made"),
                    );
                }
                if !success && made == Some(0) {
                    self.held_out(t, req);
                }
                self.end(t, req, success, class, ready_at)
            }
        }
    }

    /// The provider is ejected or half-open, as its replies show.
    fn unhealthy(&self, p: u32) -> bool {
        self.health.get(p as usize).is_some_and(|h| h.1.is_some())
    }

    fn attribution(
        &mut self,
        t: u64,
        key: KeyId,
        req: ReqId,
        attempt: u32,
        reason: Class,
        outage: Outage,
    ) {
        let (what, out_until) = match outage {
            Outage::Bench(until) => ("bench", until),
            Outage::Disable => ("disable", Some(u64::MAX)),
        };
        let r = self.req(req);
        let logged = r.and_then(|r| r.logged(attempt)).copied();
        let served = logged.map(|e| e.key).filter(|&k| k != NO_KEY);
        // A key-level failure benches the whole quota group, whatever reason was already in
        // force on the other members.
        let cause = logged.and_then(|e| e.reply).map_or(reason, |r| r.0);
        // Only the key's own fault takes it out of service; a retry-after may hold it
        // exactly as long as it asked, whatever the class.
        if let (Some((class, hold)), Some(until)) = (logged.and_then(|e| e.reply), out_until) {
            let held = hold == Some(until);
            if !class.is_key_level() && class.is_failure() && !held {
                self.v(
                    "bench_only_key_faults",
                    Some(req),
                    Some(attempt),
                    t,
                    format!("key #{key} was taken out of service ({what}) for {class}, which is not the key's fault"),
                );
            }
        }
        match served {
            Some(s) if s == key || (cause.is_key_level() && self.group(s).contains(&key)) => {}
            Some(s) => self.v(
                "attribution",
                Some(req),
                Some(attempt),
                t,
                format!(
                    "{what} landed on key #{key}, but attempt {attempt} was served by key #{s}"
                ),
            ),
            None => self.v(
                "attribution",
                Some(req),
                Some(attempt),
                t,
                format!("{what} of key #{key} names an attempt that never happened"),
            ),
        }
        if let Some(r) = self.req_mut(req) {
            r.caused.push(attempt);
        }
    }

    fn attempt(&mut self, t: u64, req: ReqId, attempt: u32, provider: u32, key: KeyId) {
        let (max_attempts, deadline) = (self.ctx.policy.max_attempts, self.ctx.policy.deadline_ms);
        let Some(r) = self.req_mut(req) else {
            return;
        };
        r.attempts = r.attempts.saturating_add(1);
        // A repeated attempt number takes the place of the first, as a map insert would.
        r.log_entry(attempt).key = key;
        r.tried.insert((provider, key));
        let waited = r.wait_until.take();
        let (start, attempts, banned, fault) =
            (r.start, r.attempts, r.banned.contains(&key), r.fault);
        let past_deadline = t > start.saturating_add(deadline);
        if (attempts > max_attempts || past_deadline) && std::mem::replace(&mut r.runaway, true) {
            // Reported once: a runaway policy would otherwise add a violation per call.
            return;
        }
        if let Some(u) = waited.filter(|&u| t < u) {
            // The wait the engine reported is what `rotation_is_free` counts: one it did not
            // make is a report that misstates what happened.
            self.v(
                "faithful_trace",
                Some(req),
                Some(attempt),
                t,
                format!("the engine reported a wait until {u} ms but called key #{key} at {t} ms"),
            );
        }
        if attempts > max_attempts {
            self.v(
                "terminates",
                Some(req),
                Some(attempt),
                t,
                format!("attempt {attempts} exceeds max_attempts {max_attempts}"),
            );
        }
        if past_deadline {
            self.v(
                "terminates",
                Some(req),
                Some(attempt),
                t,
                format!(
                    "attempt after the deadline ({} ms)",
                    start.saturating_add(deadline)
                ),
            );
        }
        if banned {
            self.v(
                "no_same_key_after_quota",
                Some(req),
                Some(attempt),
                t,
                format!("key #{key} answered quota_exhausted or auth earlier in this request"),
            );
        }
        if let Some(c) = fault {
            let allowed = self
                .ctx
                .providers
                .get(provider as usize)
                .and_then(|p| p.fallback_for.as_ref())
                .is_some_and(|cs| cs.contains(&c));
            if !allowed {
                self.v(
                    "no_rotation_on_request_fault",
                    Some(req),
                    Some(attempt),
                    t,
                    format!("another attempt after {c}, which no retry or rotation can fix"),
                );
            }
        }
        let m = self.keys[key as usize].clone();
        if m.bench_until > t {
            let until = m.bench_until;
            self.v(
                "benched_key_skipped",
                Some(req),
                Some(attempt),
                t,
                format!("key #{key} is benched until {until} ms"),
            );
        }
        if m.ra_until > t {
            let until = m.ra_until;
            self.v(
                "retry_after_respected",
                Some(req),
                Some(attempt),
                t,
                format!("key #{key} asked to be left alone until {until} ms"),
            );
        }
        if m.disabled {
            if t < m.probe_due {
                let due = m.probe_due;
                let due_s = if due == u64::MAX {
                    "never".to_owned()
                } else {
                    format!("{due} ms")
                };
                self.v(
                    "disabled_key_probing",
                    Some(req),
                    Some(attempt),
                    t,
                    format!("key #{key} is disabled; its next probe is due {due_s}"),
                );
            } else if m.probe_outstanding {
                self.v(
                    "disabled_key_probing",
                    Some(req),
                    Some(attempt),
                    t,
                    format!("key #{key} got a second probe while one was in flight"),
                );
            } else {
                let m = &mut self.keys[key as usize];
                m.probe_outstanding = true;
                m.overdue_requests = 0;
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn reply(
        &mut self,
        t: u64,
        req: ReqId,
        attempt: u32,
        key: KeyId,
        class: Class,
        ra: Option<u64>,
        soft: bool,
    ) {
        let provider = self.key_provider[key as usize];
        if let Some(h) = self.ctx.policy.provider_health {
            let (fails, ejected) = &mut self.health[provider as usize];
            if matches!(class, Class::ServerError | Class::Overloaded) {
                *fails = fails.saturating_add(1);
                if *fails >= h.eject_after && ejected.is_none_or(|u| t >= u) {
                    *ejected = Some(t.saturating_add(h.eject_ms));
                }
            } else {
                (*fails, *ejected) = (0, None);
            }
        }
        if let Some(ms) = ra.filter(|_| class != Class::Success) {
            let m = &mut self.keys[key as usize];
            m.ra_until = m.ra_until.max(t.saturating_add(ms));
        }
        let implied = match class {
            Class::RateLimit => ra.map(|ms| t.saturating_add(ms)),
            Class::QuotaExhausted => Some(t.saturating_add(ra.unwrap_or(QUOTA_MIN_BENCH_MS))),
            _ => None,
        };
        if let Some(until) = implied {
            let (first, len) = self.group_of[key as usize];
            for i in first..first + len {
                let m = &mut self.keys[self.group_keys[i as usize] as usize];
                m.bench_until = m.bench_until.max(until);
            }
        }
        // A policy that never probes is held to the reference schedule: its keys never come back.
        let probe_after = self.ctx.policy.probe_after_ms.unwrap_or(REFERENCE_PROBE_MS);
        let factor = self.ctx.policy.probe_factor.max(1);
        let m = &mut self.keys[key as usize];
        m.last_failure = class.is_failure().then_some((class, t));
        if class == Class::Auth {
            if m.disabled && m.probe_outstanding {
                m.interval = m.interval.saturating_mul(factor);
            } else if !m.disabled {
                m.interval = probe_after;
            }
            m.disabled = true;
            m.probe_outstanding = false;
            m.overdue_requests = 0;
            m.overdue_reported = false;
            m.probe_due = t.saturating_add(m.interval);
        } else if m.disabled && m.probe_outstanding {
            // Only a probe's reply brings a disabled key back: a late reply to a call sent before
            // the key was disabled says nothing about the credential now.
            m.disabled = false;
            m.probe_outstanding = false;
        }
        let Some(r) = self.req_mut(req) else {
            return;
        };
        r.last = Some((class, attempt, key, provider));
        // A reply to an attempt the trace never showed is logged with no key (attribution
        // reports it).
        let hold = ra.map(|ms| t.saturating_add(ms));
        r.log_entry(attempt).reply = Some((class, hold));
        if class.is_request_fault() {
            r.fault = Some(class);
        }
        if matches!(class, Class::QuotaExhausted | Class::Auth) && !r.banned.contains(&key) {
            r.banned.push(key);
        }
        if soft && class != Class::Success {
            r.pending_soft = Some((attempt, class, key, t));
        }
    }

    fn decision(
        &mut self,
        t: u64,
        req: ReqId,
        decision: Decision,
        until: Option<u64>,
        retries: u32,
        provider: u32,
    ) {
        let (max_attempts, deadline) = (self.ctx.policy.max_attempts, self.ctx.policy.deadline_ms);
        let Some(r) = self.req_mut(req) else {
            return;
        };
        if provider != r.retries_provider {
            r.retries_provider = provider;
            r.prev_retries = 0;
        }
        if retries > r.prev_retries {
            r.counted_retries = r.counted_retries.saturating_add(retries - r.prev_retries);
        }
        r.prev_retries = retries;
        if matches!(decision, Decision::Wait(_)) {
            r.waits = r.waits.saturating_add(1);
            r.wait_until = until;
        }
        let start = r.start;
        let pending = r.pending_soft.take();
        // Attempts only grow: look back no further than the pending one.
        let caused = pending.is_some_and(|(a, ..)| {
            r.caused
                .iter()
                .rev()
                .take_while(|&&x| x >= a)
                .any(|&x| x == a)
        });
        let (last, attempts) = (r.last, r.attempts);
        if matches!(decision, Decision::Fallback) {
            r.provider = provider;
        }
        if let Some(u) = until {
            if u > start.saturating_add(deadline) {
                self.v(
                    "terminates",
                    Some(req),
                    None,
                    t,
                    format!(
                        "waits until {u} ms, past the deadline {} ms",
                        start.saturating_add(deadline)
                    ),
                );
            }
        }
        // Seen from outside, what happened to the key is not known: only a success is judged.
        let engine_view = self.ctx.view == View::Engine;
        if let Some((attempt, class, _key, _)) = pending {
            if decision == Decision::Done {
                self.v(
                    "soft_failure_parity",
                    Some(req),
                    Some(attempt),
                    t,
                    format!("a 200 carrying {class} was taken as a success"),
                );
            } else if !engine_view {
            } else if class.is_key_level() && !caused {
                self.v("soft_failure_parity", Some(req), Some(attempt), t, format!("a 200 carrying {class} left its key in service; the HTTP error would bench it"));
            } else if class.is_key_level()
                && decision == Decision::Wait(crate::trace::WaitKind::Backoff)
            {
                self.v(
                    "soft_failure_parity",
                    Some(req),
                    Some(attempt),
                    t,
                    format!(
                        "a 200 carrying {class} was backed off in place; the HTTP error rotates"
                    ),
                );
            }
        }
        // Leaving a provider after key-level failures: every ready key must have been tried.
        if matches!(decision, Decision::Fallback | Decision::Stop) {
            if let Some((class, _, _, lp)) = last {
                let cur = if decision == Decision::Fallback {
                    lp
                } else {
                    provider
                };
                // A provider the replies show ejected may be left with keys untried.
                let ejected = self.unhealthy(cur);
                if class.is_key_level()
                    && lp == cur
                    && !ejected
                    && attempts < max_attempts
                    && t < start.saturating_add(deadline)
                {
                    let r = self.req(req);
                    let untried = |k: &KeyId| {
                        self.ready(*k, t) && !r.is_some_and(|r| r.tried.contains(&(cur, *k)))
                    };
                    // Counted first: the list is only written when there is something to say.
                    if self.provider_keys(cur).any(|k| untried(&k)) {
                        let untried: Vec<KeyId> = self.provider_keys(cur).filter(untried).collect();
                        self.v("pool_walk_complete", Some(req), None, t, format!("gave up on the pool after {class} with {} ready key(s) never tried: {}", untried.len(), untried.iter().map(|k| format!("#{k}")).collect::<Vec<_>>().join(", ")));
                        if !engine_view {
                            self.spent_by_rotations(t, req, cur, attempts);
                        }
                    }
                }
            }
        }
    }

    /// A request that failed without a single call while a key was ready: something held
    /// that key out of service, and its last reply says whether it could have been its own
    /// fault. Judged from the replies alone, so it holds from outside as well; in the
    /// engine's view a key the trace's own events bench or disable is not ready.
    fn held_out(&mut self, t: u64, req: ReqId) {
        let Some(p) = self.req(req).map(|r| r.provider) else {
            return;
        };
        // A provider the policy ejected passes its keys by.
        if self.unhealthy(p) {
            return;
        }
        let keys = self.provider_keys(p);
        let fault = |c: Class| matches!(c, Class::ServerError | Class::Overloaded);
        // Every key's last word a provider fault: the provider, not a key, was put out (a
        // circuit breaker, as `provider_health` is), which is not judged here.
        if keys.clone().all(|k| {
            self.keys[k as usize]
                .last_failure
                .is_some_and(|(c, _)| fault(c))
        }) {
            return;
        }
        let engine_view = self.ctx.view == View::Engine;
        let mut not_its_fault = Vec::new();
        let mut never_failed = Vec::new();
        for k in keys {
            let m = &self.keys[k as usize];
            let out_by_event = engine_view && (m.explicit_probe.is_some() || m.explicit_until > t);
            if !self.ready(k, t) || m.ra_until > t || out_by_event {
                continue;
            }
            match m.last_failure {
                Some((c, at)) if !c.is_key_level() => not_its_fault.push((k, c, at)),
                Some(_) => {}
                None => {
                    // A key-level failure of its quota group may bench it too.
                    let group_failed = self.group(k).iter().any(|&g| {
                        self.keys[g as usize]
                            .last_failure
                            .is_some_and(|(c, _)| c.is_key_level())
                    });
                    if !group_failed {
                        never_failed.push(k);
                    }
                }
            }
        }
        if let Some(&(k, c, at)) = not_its_fault.first() {
            let more = not_its_fault.len() - 1;
            self.v(
                "bench_only_key_faults",
                Some(req),
                None,
                t,
                format!("failed without a call while key #{k} was ready: it was held out of service for its last reply ({c} at {at} ms), which is not the key's fault{}", and_more(more)),
            );
        }
        if let Some(&k) = never_failed.first() {
            let more = never_failed.len() - 1;
            self.v(
                "attribution",
                Some(req),
                None,
                t,
                format!("failed without a call while key #{k} was ready: it was held out of service though no reply of its own or its quota group's failed{}", and_more(more)),
            );
        }
    }

    /// Seen from outside, the engine's retry counter is unknown, but its signature is not: a
    /// request that rotated, then stopped after exactly 1 + the retry budget calls with fewer
    /// waits than the budget while a ready key was untried, spent the budget on rotations.
    fn spent_by_rotations(&mut self, t: u64, req: ReqId, provider: u32, attempts: u32) {
        let budget = self.ctx.policy.retry_limit();
        let Some(r) = self.req(req) else {
            return;
        };
        let keys = r.tried.iter().filter(|(p, _)| *p == provider).count();
        let waits = r.waits;
        if keys > 1 && waits < budget && attempts == budget.saturating_add(1) {
            self.v(
                "rotation_is_free",
                Some(req),
                None,
                t,
                format!("stopped after {attempts} calls on {keys} keys, 1 + its {budget} retries, with {waits} waits and a ready key untried: the rotations were counted as retries"),
            );
        }
    }

    fn end(&mut self, t: u64, req: ReqId, success: bool, class: Class, ready_at: Option<u64>) {
        let Some(r) = self.req_mut(req) else {
            return;
        };
        r.ended = true;
        let (last, counted, waits) = (r.last, r.counted_retries, r.waits);
        let deadline = r.start.saturating_add(self.ctx.policy.deadline_ms);
        if t > deadline {
            // Checked at the end, not only when attempts start: a request held by a stalled
            // stream past its deadline has not terminated in time, whatever it ends as.
            self.v(
                "terminates",
                Some(req),
                None,
                t,
                format!("ended at {t} ms, past its deadline of {deadline} ms"),
            );
        }
        if counted != waits {
            self.v(
                "rotation_is_free",
                Some(req),
                None,
                t,
                format!("{counted} retries counted but only {waits} waits or backoffs happened"),
            );
        }
        if success {
            if let Some((c, a, _, _)) = last.filter(|l| l.0 != Class::Success) {
                self.v(
                    "no_truncated_success",
                    Some(req),
                    Some(a),
                    t,
                    format!("reported a success, but its final reply was {c}"),
                );
            }
            return;
        }
        if self.ctx.view != View::Engine {
            self.end_observed(t, req, class, ready_at, last);
            return;
        }
        let earliest = self.explicit_earliest(t, Some(class));
        match last {
            Some((c, a, _, _)) if c != class => {
                self.v(
                    "informative_failure",
                    Some(req),
                    Some(a),
                    t,
                    format!("failed as {class}, but the reply that ended it was {c}"),
                );
            }
            None if earliest.is_some_and(|(_, why)| why != class) => {
                let why = earliest.map(|e| e.1).unwrap_or(Class::ServerError);
                self.v(
                    "informative_failure",
                    Some(req),
                    None,
                    t,
                    format!("failed as {class} without an attempt, but the keys are out for {why}"),
                );
            }
            _ => {}
        }
        let want = earliest.map(|e| e.0);
        if want != ready_at {
            let say = |x: Option<u64>| x.map_or("no ready time".to_owned(), |v| format!("{v} ms"));
            self.v(
                "informative_failure",
                Some(req),
                None,
                t,
                format!(
                    "carries {}, but the earliest key is back at {}",
                    say(ready_at),
                    say(want)
                ),
            );
        }
        if ready_at.is_none() && want.is_some() && class.is_key_level() {
            self.v("retry_after_respected", Some(req), None, t, "every key is benched, yet the request neither waited nor carried the time one is back".into());
        }
    }

    /// The end of a failed request seen from outside: the class the client got must be the
    /// class of the reply that ended it, and a key-level failure while some key is only
    /// benched must tell the client when one is back (or have waited).
    fn end_observed(
        &mut self,
        t: u64,
        req: ReqId,
        class: Class,
        ready_at: Option<u64>,
        last: Option<(Class, u32, KeyId, u32)>,
    ) {
        if let Some((c, a, _, _)) = last.filter(|l| l.0 != class) {
            self.v(
                "informative_failure",
                Some(req),
                Some(a),
                t,
                format!("the client was told {class}, but the reply that ended it was {c}"),
            );
        }
        // Only when no key is ready: with a ready key left, the failure is the walk's
        // (`pool_walk_complete`), not a missing ready time.
        let none_ready = (0..self.keys.len() as KeyId).all(|k| !self.ready(k, t));
        let back = self
            .keys
            .iter()
            .filter(|m| none_ready && !m.disabled && m.bench_until > t)
            .map(|m| m.bench_until)
            .min();
        if let (None, Some(b)) = (ready_at, back) {
            if class.is_key_level() && self.ctx.view == View::UpstreamAndClient {
                self.v("retry_after_respected", Some(req), None, t, format!("failed on {class} while a key is back at {b} ms, yet the request neither waited nor told the client when"));
            }
        }
    }
}
