//! The scripted upstreams of a world, as an async [`Upstream`] for the tokio driver: the same
//! scripts and latencies the simulator uses, on tokio's clock.

use super::delivery::{step_arrival, Arrival, Limits};
use super::world::{Cursor, World};
use super::SimOutput;
use crate::driver::{Call, Driver, TransportError, Upstream};
use crate::engine::Engine;
use crate::reply::Reply;
use std::sync::{Arc, Mutex};
use tokio::time::{sleep_until, Instant};

/// Per-key scripted replies, with latency.
pub struct ScriptedUpstream {
    world: Arc<World>,
    cursors: Mutex<Vec<Cursor>>,
    origin: Instant,
}

impl ScriptedUpstream {
    /// Scripts of `world`, with virtual time 0 at `origin`.
    pub fn new(world: Arc<World>, origin: Instant) -> Self {
        let world = world.formed().map_or(world, Arc::new);
        let n = world.scripts.len();
        ScriptedUpstream {
            world,
            cursors: Mutex::new(vec![Cursor::default(); n]),
            origin,
        }
    }
}

impl Upstream for ScriptedUpstream {
    async fn call(&self, call: Call) -> Result<Reply, TransportError> {
        let now = Instant::now()
            .saturating_duration_since(self.origin)
            .as_millis() as u64;
        let script = &self.world.scripts[call.key as usize];
        let idx = {
            let mut c = self.cursors.lock().unwrap_or_else(|p| p.into_inner());
            script.next(&mut c[call.key as usize], now)
        };
        let step = &script.steps[idx];
        let lim = Limits::new(&call.timeouts, call.deadline);
        match step_arrival(step, now, &lim) {
            Arrival::Reply(at) => {
                sleep_until(crate::driver::instant_after(self.origin, at)).await;
                // Dated headers read the virtual clock when the reply arrives, as in the
                // simulator.
                let date = crate::sim::clock::VIRTUAL_EPOCH_S.saturating_add((at / 1000) as i64);
                Ok(crate::sim::clock::stamp(&step.reply, date)
                    .unwrap_or_else(|| Reply::clone(&step.reply)))
            }
            Arrival::NoReply(at, why) => {
                sleep_until(crate::driver::instant_after(self.origin, at)).await;
                Err(TransportError::new(why, "scripted fault"))
            }
        }
    }
}

/// Runs a world through the tokio driver (call inside a paused runtime for virtual time).
pub async fn run_async(world: World) -> SimOutput {
    let world = Arc::new(world);
    let upstream = ScriptedUpstream::new(world.clone(), Instant::now());
    drive(&world, upstream).await
}

/// Runs a world's policy, chain and arrivals through the tokio driver against any upstream
/// (the world's scripts are not used: the upstream answers). Time 0 is the call.
pub async fn drive<U: Upstream>(world: &World, upstream: U) -> SimOutput {
    let engine = Engine::new(world.providers.clone(), world.policy.clone(), world.seed);
    let driver = Arc::new(Driver::new(engine, upstream, world.secrets.clone()));
    let mut tasks = Vec::new();
    for &t in &world.arrivals {
        let d = driver.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(d.instant(t)).await;
            d.execute().await
        }));
    }
    let mut outcomes = vec![None; world.arrivals.len()];
    let mut last = 0;
    for t in tasks {
        if let Ok(o) = t.await {
            last = last.max(o.ended_at);
            let i = o.req as usize;
            if i < outcomes.len() {
                outcomes[i] = Some(o);
            }
        }
    }
    let trace = driver.trace();
    let (names, final_states) = driver.with_engine(|e| (e.names().clone(), e.key_states(last)));
    SimOutput {
        trace,
        outcomes,
        names,
        truncated: false,
        final_states,
        // An upstream outside the simulator keeps its own record (`keypool serve`).
        served: Vec::new(),
    }
}
