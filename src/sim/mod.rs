//! The deterministic simulator: a virtual clock, the seeded engine, scripted upstreams, and
//! an event queue that interleaves requests by (time, sequence number).

pub mod clock;
pub mod delivery;
mod memo;
pub mod render;
#[cfg(feature = "tokio")]
pub mod scripted;
pub mod templates;
pub mod world;

use crate::class::Verdict;
use crate::engine::{Engine, Outcome, Step};
use crate::trace::{Event, Names};
pub use memo::Memo;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use world::{Cursor, World};

/// What a simulation produced.
#[derive(Debug, Clone)]
pub struct SimOutput {
    /// The decision trace.
    pub trace: Vec<Event>,
    /// Outcomes, by request id (`None` for a request that never ended).
    pub outcomes: Vec<Option<Outcome>>,
    /// Names for rendering.
    pub names: Names,
    /// True when the event cap stopped the run.
    pub truncated: bool,
    /// Every key's state at the end, by global key id.
    pub final_states: Vec<crate::pool::KeyState>,
    /// What the upstream served, reply by reply (recorded with the trace): the ground truth
    /// the checker compares the engine's account of each reply with.
    pub served: Vec<Served>,
}

/// One reply the simulated upstream delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// The request and attempt it answered.
    pub req: u32,
    /// The attempt number within the request.
    pub attempt: u32,
    /// The key whose script served it.
    pub key: u32,
    /// The script step.
    pub step: u32,
    /// When it arrived (its dated headers read this time).
    pub t: u64,
}

/// Events the loop processes; order within one instant is the sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ev {
    Arrive,
    Deliver {
        req: u32,
        key: u32,
        step: u32,
        attempt: u32,
    },
    NoReply {
        req: u32,
        why: crate::engine::NoReply,
    },
    Wake {
        req: u32,
    },
}

/// Events by (time, sequence number). The heap holds the pair only; each event waits in
/// `events` at its sequence number, so the heap moves 16 bytes an entry instead of 32.
struct Queue {
    heap: BinaryHeap<Reverse<(u64, u64)>>,
    events: Vec<Ev>,
}

impl Queue {
    fn with_capacity(requests: usize) -> Queue {
        Queue {
            // Arrivals, plus an event in flight per started request at most.
            heap: BinaryHeap::with_capacity(requests * 2),
            events: Vec::with_capacity(requests * 8),
        }
    }

    fn push(&mut self, t: u64, ev: Ev) {
        self.heap.push(Reverse((t, self.events.len() as u64)));
        self.events.push(ev);
    }

    fn pop(&mut self) -> Option<(u64, Ev)> {
        let Reverse((t, seq)) = self.heap.pop()?;
        Some((t, self.events[seq as usize]))
    }
}

/// The events any run may process before it is cut (a runaway policy), plus
/// [`EVENTS_PER_REQUEST`] for each request of the workload: see [`event_cap`].
pub const EVENT_CAP: usize = 2_000_000;

/// The events each request adds to a run's cap (a request takes a few per attempt).
pub const EVENTS_PER_REQUEST: usize = 64;

/// The most events a run of `requests` requests may process before it is cut.
///
/// ```
/// assert_eq!(keypool::sim::event_cap(0), keypool::sim::EVENT_CAP);
/// assert!(keypool::sim::event_cap(1_000_000) > 50_000_000);
/// ```
pub fn event_cap(requests: usize) -> usize {
    EVENT_CAP.saturating_add(requests.saturating_mul(EVENTS_PER_REQUEST))
}

/// Runs a world to completion.
///
/// ```
/// let sc = keypool::scenario::parse(r#"{"name":"x","providers":[{"name":"p","keys":[
///   {"label":"k1","script":["openai.insufficient_quota"]},{"label":"k2"}]}],
///   "workload":{"at_ms":[0]}}"#, "x.json").unwrap();
/// let world = keypool::scenario::world(&sc, None).unwrap();
/// let out = keypool::sim::run(&world, true);
/// let o = out.outcomes[0].as_ref().unwrap();
/// assert!(o.success && o.attempts == 2);
/// ```
pub fn run(world: &World, record: bool) -> SimOutput {
    run_with(
        world,
        Options {
            record,
            classify_once: false,
        },
    )
}

/// How a simulation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Record the trace.
    pub record: bool,
    /// Classify each distinct scripted reply once and reuse its verdict (the classifier is
    /// deterministic, so the run is the same; the explorer uses this). Otherwise every
    /// delivered reply is classified from its bytes.
    pub classify_once: bool,
}

/// Runs a world to completion with options.
pub fn run_with(world: &World, opts: Options) -> SimOutput {
    run_in(world, opts, &mut Memo::new())
}

/// [`run_with`], sharing `memo` with other runs: with `classify_once`, a reply the memo has
/// classified before is not classified again (the explorer keeps one memo per thread).
pub fn run_in(world: &World, opts: Options, memo: &mut Memo) -> SimOutput {
    let formed = world.formed();
    let world = formed.as_ref().unwrap_or(world);
    let mut engine = Engine::new(world.providers.clone(), world.policy.clone(), world.seed);
    engine.record = opts.record;
    engine.reserve(world.arrivals.len());
    // With `classify_once`, a step is classified the first time it is delivered, then its
    // verdict is reused (most steps of a big world are never called).
    // One table for every key's steps: key `k`'s step `i` is at `first_step[k] + i`.
    let mut first_step = Vec::new();
    // Each step's verdict, and the class the policy reads it as.
    let mut verdicts: Vec<Option<(Verdict, Option<crate::Class>)>> = Vec::new();
    if opts.classify_once {
        first_step.reserve(world.scripts.len());
        verdicts.reserve(world.scripts.iter().map(|s| s.steps.len()).sum());
        for s in &world.scripts {
            first_step.push(verdicts.len());
            verdicts.resize(verdicts.len() + s.steps.len(), None);
        }
    }
    let mut cursors = vec![Cursor::default(); world.scripts.len()];
    let mut queue = Queue::with_capacity(world.arrivals.len());
    for &t in &world.arrivals {
        queue.push(t, Ev::Arrive);
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; world.arrivals.len()];
    let mut served = Vec::new();
    let mut processed = 0usize;
    let cap = event_cap(world.arrivals.len());
    let mut truncated = false;
    let mut last_t = 0;
    while let Some((now, ev)) = queue.pop() {
        last_t = now;
        processed += 1;
        if processed > cap {
            truncated = true;
            break;
        }
        let step = match ev {
            Ev::Arrive => engine.start(now),
            Ev::Wake { req } => engine.on_wake(req, now),
            Ev::NoReply { req, why } => engine.on_no_reply(req, now, why),
            Ev::Deliver {
                req,
                key,
                step,
                attempt,
            } => {
                if opts.record {
                    served.push(Served {
                        req,
                        attempt,
                        key,
                        step,
                        t: now,
                    });
                }
                let step_def = &world.scripts[key as usize].steps[step as usize];
                let reply = &step_def.reply;
                if step_def.dated {
                    // Stamped with the virtual date it is sent at: classified each time.
                    let at = clock::VIRTUAL_EPOCH_S.saturating_add((now / 1000) as i64);
                    let stamped = clock::stamp(reply, at);
                    engine.on_reply(req, now, stamped.as_ref().unwrap_or(reply))
                } else {
                    match first_step.get(key as usize) {
                        Some(&first) => {
                            let slot = &mut verdicts[first + step as usize];
                            let (verdict, read) = *slot.get_or_insert_with(|| {
                                (memo.verdict(reply), world.policy.read(reply))
                            });
                            engine.on_verdict_as(req, now, reply.status, verdict, read)
                        }
                        None => engine.on_reply(req, now, reply),
                    }
                }
            }
        };
        match step {
            Step::Send(s) => {
                let script = &world.scripts[s.key_id as usize];
                let idx = script.next(&mut cursors[s.key_id as usize], now);
                let lim = delivery::Limits::new(&world.policy.timeouts, s.deadline);
                match delivery::step_arrival(&script.steps[idx], now, &lim) {
                    delivery::Arrival::Reply(at) => queue.push(
                        at,
                        Ev::Deliver {
                            req: s.req,
                            key: s.key_id,
                            step: idx as u32,
                            attempt: s.attempt,
                        },
                    ),
                    delivery::Arrival::NoReply(at, why) => {
                        queue.push(at, Ev::NoReply { req: s.req, why })
                    }
                }
            }
            Step::Wait { req, until } => {
                queue.push(until.max(now), Ev::Wake { req });
            }
            Step::Done(o) => {
                let i = o.req as usize;
                if i < outcomes.len() {
                    outcomes[i] = Some(o);
                }
            }
        }
    }
    let final_states = engine.key_states(last_t);
    SimOutput {
        served,
        trace: engine.take_trace(),
        outcomes,
        names: engine.into_names(),
        truncated,
        final_states,
    }
}
