//! `keypool explore`: many seeds, each a random world, every trace checked; violations shrunk
//! to scenario files. Wall-clock time is read here, for progress and `--time-limit` only: it
//! decides how many seeds run, never what a seed does.

use keypool::explore::{find, SeedReport, Worker};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct ExploreArgs {
    /// How many seeds to run.
    #[arg(long, default_value_t = 1000)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The policy under test: a preset, or a policy file (`*.json`: `{"preset": NAME,
    /// ...overrides}`).
    #[arg(long, value_name = "PRESET|FILE", default_value = "reference")]
    policy: String,
    /// Stop starting new seeds after this many seconds (more than 0, at most a week).
    #[arg(long, value_name = "SECS", value_parser = time_limit)]
    time_limit: Option<f64>,
    /// Worker threads (default: the machine's cores; never more than the seeds).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    jobs: Option<u64>,
    /// Where shrunk scenarios are written.
    #[arg(long, default_value = "explore-failures")]
    out: PathBuf,
    /// Run each seed twice and compare the traces.
    #[arg(long)]
    check_determinism: bool,
    /// Do not shrink or write violations, only count them.
    #[arg(long)]
    no_shrink: bool,
}

fn time_limit(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 604_800.0 {
        Ok(v)
    } else {
        Err(format!("{s} is out of range (more than 0, at most 604800)"))
    }
}

#[derive(Default)]
struct Tally {
    seeds: u64,
    requests: u64,
    attempts: u64,
    /// invariant → (first seed, seeds violating it)
    found: BTreeMap<&'static str, (u64, u64)>,
    errors: Vec<String>,
}

pub fn run(a: ExploreArgs) -> i32 {
    if let Err(e) = keypool::scenario::named_policy(&a.policy) {
        eprintln!("keypool explore: --policy: {e}");
        return 2;
    }
    let jobs = a
        .jobs
        .map(|j| j as usize)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .clamp(1, a.seeds.clamp(1, 1024) as usize);
    let end = a.seed.saturating_add(a.seeds);
    println!(
        "keypool explore: seeds {}..{} ({} seeds), policy {}, jobs {jobs}{}{}",
        a.seed,
        end,
        a.seeds,
        a.policy,
        a.time_limit
            .map(|t| format!(", time limit {t} s"))
            .unwrap_or_default(),
        if a.check_determinism {
            ", each seed run twice"
        } else {
            ""
        }
    );
    let started = Instant::now();
    let limit = a.time_limit.map(Duration::from_secs_f64);
    let next = AtomicU64::new(a.seed);
    let tally = Mutex::new(Tally::default());
    let bar = if std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(a.seeds);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds  {per_sec}  {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let step = (a.seeds / 10).max(1);
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                // Each thread keeps its own memos (built replies, verdicts, policies).
                let mut worker = Worker::new();
                loop {
                    if limit.is_some_and(|l| started.elapsed() >= l) {
                        break;
                    }
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= end {
                        break;
                    }
                    let r = worker.run_seed(seed, &a.policy, a.check_determinism);
                    let mut t = tally.lock().unwrap_or_else(|p| p.into_inner());
                    t.seeds += 1;
                    match r {
                        Ok(SeedReport {
                            requests,
                            attempts,
                            violations,
                            ..
                        }) => {
                            t.requests += requests as u64;
                            t.attempts += attempts as u64;
                            let mut names: Vec<&'static str> =
                                violations.iter().map(|v| v.invariant).collect();
                            names.dedup();
                            names.sort_unstable();
                            names.dedup();
                            for n in names {
                                let e = t.found.entry(n).or_insert((seed, 0));
                                e.0 = e.0.min(seed);
                                e.1 += 1;
                            }
                        }
                        Err(e) => t.errors.push(format!("seed {seed}: {e}")),
                    }
                    let done = t.seeds;
                    let broken = t.found.len();
                    match &bar {
                        Some(b) => {
                            drop(t);
                            b.inc(1);
                            if broken > 0 {
                                b.set_message(format!("{broken} invariant(s) violated"));
                            }
                        }
                        // Printed under the tally's lock, so counts come out in order.
                        None if done % step == 0 => {
                            println!(
                                "  {done}/{} seeds, {broken} invariant(s) violated so far",
                                a.seeds
                            );
                            drop(t);
                        }
                        None => drop(t),
                    }
                }
            });
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let t = tally.into_inner().unwrap_or_else(|p| p.into_inner());
    println!(
        "ran {} seeds: {} requests, {} attempts in {:.2} s: {:.0} seeds/s, {:.0} attempts/s ({:.0} attempts/s per thread)",
        t.seeds,
        t.requests,
        t.attempts,
        elapsed,
        t.seeds as f64 / elapsed,
        t.attempts as f64 / elapsed,
        t.attempts as f64 / elapsed / jobs as f64
    );
    for e in &t.errors {
        eprintln!("keypool explore: {e}");
    }
    if t.found.is_empty() {
        println!("no invariant violated");
        return if t.errors.is_empty() { 0 } else { 2 };
    }
    println!("{:<30} {:>10} {:>8}", "invariant", "first seed", "seeds");
    for (name, (first, n)) in &t.found {
        println!("{name:<30} {first:>10} {n:>8}");
    }
    if !a.no_shrink {
        if let Err(e) = std::fs::create_dir_all(&a.out) {
            eprintln!("keypool explore: cannot create {}: {e}", a.out.display());
            return 2;
        }
        for (name, (first, _)) in &t.found {
            match find(*first, &a.policy, name) {
                Ok(f) => {
                    let path = a.out.join(format!("{}.json", f.scenario.name));
                    let text = serde_json::to_string_pretty(&f.scenario)
                        .expect("a scenario serialises")
                        + "\n";
                    if let Err(e) = std::fs::write(&path, text) {
                        eprintln!("keypool explore: cannot write {}: {e}", path.display());
                        continue;
                    }
                    let keys: usize = f.scenario.providers.iter().map(|p| p.keys.len()).sum();
                    println!(
                        "{name}: shrunk seed {first} to {} key(s), {} request(s) in {} runs{} → {}",
                        keys,
                        f.scenario.workload.at_ms.len(),
                        f.shrink_runs,
                        if f.passes_reference {
                            ", passes under reference"
                        } else {
                            ", ALSO FAILS under reference"
                        },
                        path.display()
                    );
                    println!(
                        "  replay: keypool run {} --policy {}",
                        path.display(),
                        a.policy
                    );
                    println!(
                        "  replay: keypool explore --policy {} --seed {first} --seeds 1",
                        a.policy
                    );
                }
                Err(e) => eprintln!("keypool explore: shrinking seed {first}: {e}"),
            }
        }
    }
    1
}
