//! The per-attempt decision trace: one event per step, with virtual timestamps, written as
//! JSON Lines. Keys appear by label, never by secret.

use crate::class::Class;
use serde_json::{json, Value};

/// A request's index in a run.
pub type ReqId = u32;
/// A key's index across all providers of a run.
pub type KeyId = u32;

/// Why a request waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitKind {
    /// Backoff (or the reply's retry-after) before a retry.
    Backoff,
    /// Every usable key is benched: wait for the earliest.
    BenchedKey,
}

/// The engine's decision after a reply (or after finding no key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Rotate to another key.
    NextKey,
    /// Try the same key again at once.
    RetrySame,
    /// Wait, then try again.
    Wait(WaitKind),
    /// Go to the next provider of the chain.
    Fallback,
    /// End the request as failed.
    Stop,
    /// End the request as a success.
    Done,
}

impl Decision {
    /// The label used in traces.
    pub fn label(self) -> &'static str {
        match self {
            Decision::NextKey => "next_key",
            Decision::RetrySame => "retry_same",
            Decision::Wait(_) => "wait",
            Decision::Fallback => "fallback",
            Decision::Stop => "stop",
            Decision::Done => "done",
        }
    }
}

/// One trace event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request arrived.
    RequestStart { t: u64, req: ReqId, provider: u32 },
    /// An upstream call was sent.
    Attempt {
        t: u64,
        req: ReqId,
        attempt: u32,
        provider: u32,
        key: KeyId,
        probe: bool,
    },
    /// Its reply, as classified (`treated_as` when the policy read it otherwise).
    Reply {
        t: u64,
        req: ReqId,
        attempt: u32,
        key: KeyId,
        status: u16,
        class: Class,
        retry_after_ms: Option<u64>,
        soft: bool,
        partial: bool,
        treated_as: Option<Class>,
        reason: &'static str,
    },
    /// A key was benched until `until` because of `(req, attempt)`.
    Bench {
        t: u64,
        key: KeyId,
        until: u64,
        reason: Class,
        req: ReqId,
        attempt: u32,
    },
    /// A key was disabled; its next probe is due at `probe_at` (`None`: never).
    Disable {
        t: u64,
        key: KeyId,
        probe_at: Option<u64>,
        req: ReqId,
        attempt: u32,
    },
    /// A disabled key's probe succeeded: it is back in service.
    Restore {
        t: u64,
        key: KeyId,
        req: ReqId,
        attempt: u32,
    },
    /// What the engine decided for a request.
    Decision {
        t: u64,
        req: ReqId,
        decision: Decision,
        until: Option<u64>,
        retries: u32,
        provider: u32,
    },
    /// The request ended.
    RequestEnd {
        t: u64,
        req: ReqId,
        success: bool,
        class: Class,
        attempts: u32,
        ready_at: Option<u64>,
    },
}

impl Event {
    /// The virtual time of the event.
    pub fn t(&self) -> u64 {
        match *self {
            Event::RequestStart { t, .. }
            | Event::Attempt { t, .. }
            | Event::Reply { t, .. }
            | Event::Bench { t, .. }
            | Event::Disable { t, .. }
            | Event::Restore { t, .. }
            | Event::Decision { t, .. }
            | Event::RequestEnd { t, .. } => t,
        }
    }

    /// The event as a JSON object, keys and providers by name.
    pub fn to_json(&self, names: &Names) -> Value {
        let k = |id: KeyId| names.key(id);
        let p = |id: u32| names.provider(id);
        match *self {
            Event::RequestStart { t, req, provider } => {
                json!({"t": t, "ev": "request_start", "req": req, "provider": p(provider)})
            }
            Event::Attempt {
                t,
                req,
                attempt,
                provider,
                key,
                probe,
            } => {
                json!({"t": t, "ev": "attempt", "req": req, "attempt": attempt, "provider": p(provider), "key": k(key), "probe": probe})
            }
            Event::Reply {
                t,
                req,
                attempt,
                key,
                status,
                class,
                retry_after_ms,
                soft,
                partial,
                treated_as,
                reason,
            } => {
                let mut v = json!({"t": t, "ev": "reply", "req": req, "attempt": attempt, "key": k(key), "status": status,
                    "class": class.label(), "retry_after_ms": retry_after_ms, "soft": soft, "partial": partial, "rule": reason});
                if let Some(c) = treated_as {
                    v["treated_as"] = json!(c.label());
                }
                v
            }
            Event::Bench {
                t,
                key,
                until,
                reason,
                req,
                attempt,
            } => {
                json!({"t": t, "ev": "bench", "key": k(key), "until": until, "reason": reason.label(), "req": req, "attempt": attempt})
            }
            Event::Disable {
                t,
                key,
                probe_at,
                req,
                attempt,
            } => {
                json!({"t": t, "ev": "disable", "key": k(key), "probe_at": probe_at, "req": req, "attempt": attempt})
            }
            Event::Restore {
                t,
                key,
                req,
                attempt,
            } => json!({"t": t, "ev": "restore", "key": k(key), "req": req, "attempt": attempt}),
            Event::Decision {
                t,
                req,
                decision,
                until,
                retries,
                provider,
            } => {
                let mut v = json!({"t": t, "ev": "decision", "req": req, "decision": decision.label(), "retries": retries, "provider": p(provider)});
                if let Some(u) = until {
                    v["until"] = json!(u);
                }
                if let Decision::Wait(w) = decision {
                    v["wait"] = json!(match w {
                        WaitKind::Backoff => "backoff",
                        WaitKind::BenchedKey => "benched_key",
                    });
                }
                v
            }
            Event::RequestEnd {
                t,
                req,
                success,
                class,
                attempts,
                ready_at,
            } => json!({"t": t, "ev": "request_end", "req": req,
                "outcome": if success { "success" } else { "failed" }, "class": class.label(), "attempts": attempts, "ready_at": ready_at}),
        }
    }
}

/// Names of providers and keys, for rendering a trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    /// Provider names by index.
    pub providers: Vec<String>,
    /// Key labels by global key id (shared with the pools' keys, not copied).
    pub keys: Vec<std::sync::Arc<str>>,
}

impl Names {
    /// A key's label.
    pub fn key(&self, id: KeyId) -> &str {
        self.keys.get(id as usize).map_or("?", |l| &**l)
    }

    /// A provider's name.
    pub fn provider(&self, id: u32) -> &str {
        self.providers.get(id as usize).map_or("?", |l| &**l)
    }
}

/// Renders a trace as JSON Lines.
///
/// ```
/// use keypool::trace::{to_jsonl, Event, Names};
/// let names = Names { providers: vec!["p".into()], keys: vec!["k1".into()] };
/// let s = to_jsonl(&[Event::RequestStart { t: 0, req: 0, provider: 0 }], &names);
/// assert_eq!(s, "{\"ev\":\"request_start\",\"provider\":\"p\",\"req\":0,\"t\":0}\n");
/// ```
pub fn to_jsonl(events: &[Event], names: &Names) -> String {
    let mut out = Vec::with_capacity(events.len() * 160);
    for e in events {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, &e.to_json(names));
        out.push(b'\n');
    }
    String::from_utf8(out).expect("serde_json writes UTF-8")
}
