//! The tokio driver, under paused time, gives the simulator's trace byte for byte.

use keypool::scenario;
use keypool::sim::{self, scripted::run_async};
use keypool::trace::to_jsonl;
use std::path::Path;

#[test]
fn driver_matches_simulator_on_every_scenario() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut mismatched = Vec::new();
    let mut compared = 0;
    for f in scenario::collect_files(&dir).unwrap() {
        let sc = scenario::load(&f).unwrap();
        let world = scenario::world(&sc, None).unwrap();
        let want = sim::run(&world, true);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let got = rt.block_on(run_async(world));
        compared += 1;
        let (a, b) = (
            to_jsonl(&want.trace, &want.names),
            to_jsonl(&got.trace, &got.names),
        );
        if a != b {
            let line = a
                .lines()
                .zip(b.lines())
                .position(|(x, y)| x != y)
                .unwrap_or(0);
            mismatched.push(format!(
                "{}: first difference at trace line {}\n  sim:    {}\n  driver: {}",
                sc.name,
                line + 1,
                a.lines().nth(line).unwrap_or(""),
                b.lines().nth(line).unwrap_or("")
            ));
        }
    }
    assert!(compared >= 40);
    assert!(
        mismatched.is_empty(),
        "{} of {compared} differ:\n{}",
        mismatched.len(),
        mismatched.join("\n")
    );
}
