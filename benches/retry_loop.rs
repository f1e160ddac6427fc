//! `cargo bench --bench retry_loop`: the engine walking a 10-key pool (nine 429s, then a
//! success), every reply classified from its bytes, per attempt; on the simulator, and through
//! the tokio driver on a paused runtime; and the simulator with verdicts memoised, the loop's
//! cost without the classifier.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keypool::scenario;
use keypool::sim::{self, scripted::run_async, world::World};

const REQUESTS: usize = 100;

fn world() -> World {
    let keys: Vec<String> = (1..=10)
        .map(|i| {
            if i < 10 {
                format!(r#"{{"label":"k{i}","script":["openai.rate_limit"]}}"#)
            } else {
                r#"{"label":"k10"}"#.to_owned()
            }
        })
        .collect();
    // Requests 61 s apart, so the 60 s benches of the previous walk have ended.
    let text = format!(
        r#"{{"name":"walk","providers":[{{"name":"p","keys":[{}]}}],"workload":{{"count":{REQUESTS},"every_ms":61000}}}}"#,
        keys.join(",")
    );
    let sc = scenario::parse(&text, "bench").expect("bench scenario");
    scenario::world(&sc, None).expect("bench world")
}

fn bench(c: &mut Criterion) {
    let w = world();
    let attempts = {
        let out = sim::run(&w, true);
        out.trace
            .iter()
            .filter(|e| matches!(e, keypool::trace::Event::Attempt { .. }))
            .count()
    };
    assert_eq!(attempts, REQUESTS * 10);
    let mut g = c.benchmark_group("retry_loop");
    g.throughput(Throughput::Elements(attempts as u64));
    g.bench_function("sim_10_key_walk_per_attempt", |b| {
        b.iter(|| sim::run(&w, false))
    });
    g.bench_function("sim_10_key_walk_traced_per_attempt", |b| {
        b.iter(|| sim::run(&w, true))
    });
    // The same walk with each distinct reply classified once: what the loop costs without
    // reading bodies (the floor the classifier sits on).
    g.bench_function("sim_10_key_walk_verdicts_memoised_per_attempt", |b| {
        b.iter(|| {
            sim::run_with(
                &w,
                sim::Options {
                    record: false,
                    classify_once: true,
                },
            )
        })
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    g.bench_function("tokio_driver_10_key_walk_per_attempt", |b| {
        b.to_async(&rt).iter(|| run_async(w.clone()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
