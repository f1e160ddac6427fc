//! The explorer: random worlds over many seeds, every trace checked by the invariants, and a
//! violation shrunk to a minimal scenario file that reproduces it.

mod generate;
mod shrink;

pub use generate::{generate, world, Kind, KINDS};
pub use shrink::shrink;

use crate::invariants::Violation;
use crate::scenario::{self, MutantExpect, Scenario};
use crate::sim::world::World;
use crate::sim::{self, Options};
use crate::trace::Event;

/// What one seed did.
#[derive(Debug, Clone)]
pub struct SeedReport {
    /// The seed.
    pub seed: u64,
    /// Requests run.
    pub requests: usize,
    /// Upstream calls made.
    pub attempts: usize,
    /// What broke.
    pub violations: Vec<Violation>,
}

/// Runs a scenario's world on `preset` and checks every trace invariant (and, when asked,
/// determinism: a second run must give the same trace).
pub fn check_world(sc: &Scenario, preset: &str, determinism: bool) -> Result<SeedReport, String> {
    Worker::new().check_world(sc, preset, determinism)
}

/// One exploring thread's memos: built replies, verdicts, policies, drawn replies and key
/// names, which make drawing and checking the next world cheap. Owned by whoever loops over
/// worlds (one per thread), so no library call keeps hidden state; results never depend on
/// what a worker has seen before.
///
/// ```
/// use keypool::explore::{run_seed, Worker};
/// let mut w = Worker::new();
/// let a = w.run_seed(7, "reference", false).unwrap();
/// assert_eq!(a.attempts, w.run_seed(7, "reference", false).unwrap().attempts);
/// assert_eq!(a.attempts, run_seed(7, "reference", false).unwrap().attempts);
/// ```
#[derive(Default)]
pub struct Worker {
    shared: generate::Shared,
}

impl Worker {
    /// A worker with empty memos.
    pub fn new() -> Self {
        Self::default()
    }

    /// [`run_seed`] with this worker's memos.
    pub fn run_seed(
        &mut self,
        seed: u64,
        preset: &str,
        determinism: bool,
    ) -> Result<SeedReport, String> {
        let world = generate::draw(seed).world(preset, &mut self.shared)?;
        Ok(self.check(&world, determinism))
    }

    /// [`check_world`] with this worker's memos.
    pub fn check_world(
        &mut self,
        sc: &Scenario,
        preset: &str,
        determinism: bool,
    ) -> Result<SeedReport, String> {
        let world = scenario::world_in(sc, Some(preset), &mut self.shared.memo)?;
        Ok(self.check(&world, determinism))
    }

    fn check(&mut self, world: &World, determinism: bool) -> SeedReport {
        check(world, determinism, &mut self.shared.memo)
    }
}

fn check(world: &World, determinism: bool, memo: &mut sim::Memo) -> SeedReport {
    let opts = Options {
        record: true,
        classify_once: true,
    };
    let out = sim::run_in(world, opts, memo);
    let mut violations = crate::check::trace_violations(world, &out);
    if determinism {
        violations.extend(crate::check::determinism(world, &out, opts));
    }
    let attempts = out
        .trace
        .iter()
        .filter(|e| matches!(e, Event::Attempt { .. }))
        .count();
    SeedReport {
        seed: world.seed,
        requests: world.arrivals.len(),
        attempts,
        violations,
    }
}

/// Draws and checks the world of one seed.
///
/// ```
/// let r = keypool::explore::run_seed(7, "reference", true).unwrap();
/// assert!(r.violations.is_empty(), "{:?}", r.violations);
/// assert!(r.requests >= 1);
/// ```
pub fn run_seed(seed: u64, preset: &str, determinism: bool) -> Result<SeedReport, String> {
    Worker::new().run_seed(seed, preset, determinism)
}

/// A shrunk violation, ready to write as a scenario file.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The invariant.
    pub invariant: &'static str,
    /// The seed that first showed it.
    pub seed: u64,
    /// The minimal scenario (reference policy; the mutant declared under `mutants`).
    pub scenario: Scenario,
    /// Whether the shrunk scenario passes under `reference`.
    pub passes_reference: bool,
    /// Scenario runs the shrinking took.
    pub shrink_runs: usize,
}

/// Shrinks the world of `seed` that violates `invariant` under `preset`, and writes what it
/// must violate into the scenario, so the file is a regression test as it stands.
pub fn find(seed: u64, preset: &str, invariant: &'static str) -> Result<Finding, String> {
    let (mut sc, shrink_runs) = shrink(&generate(seed), preset, invariant, 5_000);
    let under = check_world(&sc, preset, false)?;
    let broken: std::collections::BTreeSet<String> = under
        .violations
        .iter()
        .map(|v| v.invariant.to_owned())
        .collect();
    let reference = check_world(&sc, "reference", false)?;
    sc.name = format!("explore-{preset}-{invariant}-{seed}");
    sc.description = format!(
        "Found by `keypool explore --policy {preset} --seed {seed} --seeds 1`: violates {invariant}; shrunk in {shrink_runs} runs. Replay: keypool run <this file> --policy {preset}"
    );
    if preset != "reference" {
        sc.mutants.insert(
            preset.to_owned(),
            MutantExpect {
                violates: broken.into_iter().collect(),
            },
        );
    }
    Ok(Finding {
        invariant,
        seed,
        scenario: sc,
        passes_reference: reference.violations.is_empty(),
        shrink_runs,
    })
}
