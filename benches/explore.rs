//! `cargo bench --bench explore`: the explorer end to end on the default swarm (draw a world,
//! simulate it, check every invariant), single thread: seeds per second and attempts per second,
//! with the binary's allocator (mimalloc) unless built with `--no-default-features`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keypool::explore::run_seed;

// The allocator of the `keypool` binary, so this measures what `keypool explore` does;
// `--no-default-features` measures the system allocator.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SEEDS: u64 = 200;

fn bench(c: &mut Criterion) {
    let attempts: usize = (1..=SEEDS)
        .map(|s| run_seed(s, "reference", false).unwrap().attempts)
        .sum();
    let mut g = c.benchmark_group("explore");
    g.sample_size(20);
    g.throughput(Throughput::Elements(SEEDS));
    g.bench_function("seeds", |b| {
        b.iter(|| {
            (1..=SEEDS)
                .map(|s| run_seed(s, "reference", false).unwrap().attempts)
                .sum::<usize>()
        })
    });
    g.throughput(Throughput::Elements(attempts as u64));
    g.bench_function("attempts", |b| {
        b.iter(|| {
            (1..=SEEDS)
                .map(|s| run_seed(s, "reference", false).unwrap().attempts)
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
