//! `cargo bench --bench pool`: select a key and bench it, for pools of 10, 1,000 and 100,000
//! keys, all ready and with 90 % benched, for each strategy.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use keypool::pool::{Pool, PoolKey, SeedU64, Strategy};
use keypool::Class;
use rand_chacha::ChaCha8Rng;

fn pool(n: usize, s: Strategy, benched_pct: usize) -> Pool {
    let keys = (0..n)
        .map(|i| PoolKey {
            label: format!("k{i}").into(),
            priority: (i % 7) as i64,
            group: None,
        })
        .collect();
    let mut p = Pool::new(keys, s);
    // Bench 90 % for a long time, spread over the pool.
    for k in 0..n {
        if k * 100 / n.max(1) % 100 < benched_pct {
            p.bench(k as u32, u64::MAX / 2, Class::RateLimit);
        }
    }
    p
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool_select_and_bench");
    g.throughput(Throughput::Elements(1));
    for &n in &[10usize, 1_000, 100_000] {
        for &benched in &[0usize, 90] {
            for s in [
                Strategy::FillFirst,
                Strategy::RoundRobin,
                Strategy::LeastUsed,
                Strategy::Random,
            ] {
                let id = BenchmarkId::new(format!("{s:?}/{}pct_benched", benched), n);
                let mut p = pool(n, s, benched);
                let mut rng = ChaCha8Rng::from_seed_u64(7);
                let mut now = 0u64;
                g.bench_function(id, |b| {
                    b.iter(|| {
                        // One step of a pool under load: time moves, a key comes back, one is
                        // chosen and benched briefly.
                        now += 1;
                        p.refresh(now);
                        let start = p.start_request(true);
                        if let Some(k) = p.select(now, &[], start, &mut rng) {
                            p.on_attempt(k);
                            p.bench(k, now + 3, Class::RateLimit);
                        }
                    })
                });
            }
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
