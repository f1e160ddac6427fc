//! `cargo bench --bench explore`: the explorer end to end on the default swarm (draw a world,
//! simulate it, check every invariant), single thread: seeds per second, with the binary's
//! allocator (mimalloc) unless built with `--no-default-features`.
//!
//! Every iteration explores seeds never seen before, with one [`Worker`] kept across
//! iterations as an exploring thread keeps it (its memos warm, its worlds new). Attempts per
//! second are seeds per second times the mean attempts per seed, printed first (over the first
//! 2,000 seeds).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keypool::explore::Worker;

// The allocator of the `keypool` binary, so this measures what `keypool explore` does;
// `--no-default-features` measures the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SEEDS: u64 = 200;

fn bench(c: &mut Criterion) {
    let mut w = Worker::new();
    let attempts: usize = (1..=2_000)
        .map(|s| w.run_seed(s, "reference", false).unwrap().attempts)
        .sum();
    eprintln!(
        "explore: {:.1} attempts per seed (seeds 1 to 2,000)",
        attempts as f64 / 2_000.0
    );
    let mut g = c.benchmark_group("explore");
    g.sample_size(20);
    g.throughput(Throughput::Elements(SEEDS));
    let mut next = 1_000_000u64;
    g.bench_function("fresh_seeds", |b| {
        b.iter(|| {
            let from = next;
            next += SEEDS;
            (from..from + SEEDS)
                .map(|s| w.run_seed(s, "reference", false).unwrap().attempts)
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
