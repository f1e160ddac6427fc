//! The explorer finds catalogued bugs without being pointed at them, and shrinks each to a
//! small scenario that reproduces under the mutant and passes under the reference policy.

use keypool::check;
use keypool::explore::{find, run_seed};

#[test]
fn finds_and_shrinks_every_catalogued_bug() {
    for mutant in keypool::policy::mutant_names() {
        let (seed, invariant) = (1..=2_000)
            .find_map(|s| {
                run_seed(s, mutant, false)
                    .unwrap()
                    .violations
                    .first()
                    .map(|v| (s, v.invariant))
            })
            .unwrap_or_else(|| panic!("{mutant}: no violation in 2,000 seeds"));
        let f = find(seed, mutant, invariant).unwrap();
        let keys: usize = f.scenario.providers.iter().map(|p| p.keys.len()).sum();
        assert!(
            keys <= 3 && f.scenario.workload.at_ms.len() <= 4,
            "{mutant}: shrunk only to {keys} keys"
        );
        assert!(
            f.passes_reference,
            "{mutant}: the shrunk scenario fails under reference too"
        );
        let under = check::run(&f.scenario, Some(mutant)).unwrap();
        assert!(
            under.broken().contains(invariant),
            "{mutant}: the shrunk scenario does not reproduce {invariant}"
        );
        let declared = check::run_mutant(&f.scenario, mutant).unwrap();
        assert!(
            declared.as_declared(),
            "{mutant}: declared {:?}, broke {:?}",
            declared.expected,
            declared.actual
        );
        assert!(check::run(&f.scenario, None).unwrap().violations.is_empty());
    }
}

/// Classifying each shared reply once (the explorer's verdict memo) changes nothing but time:
/// every drawn world gives the same trace as with each delivery classified from its bytes.
#[test]
fn memoised_runs_match_runs_from_scratch() {
    use keypool::sim::{run_with, Options};
    use keypool::trace::to_jsonl;
    for seed in 1..=300 {
        let sc = keypool::explore::generate(seed);
        for preset in ["reference", "hermes"] {
            let world = keypool::scenario::world(&sc, Some(preset)).unwrap();
            let once = run_with(
                &world,
                Options {
                    record: true,
                    classify_once: true,
                },
            );
            let every = run_with(
                &world,
                Options {
                    record: true,
                    classify_once: false,
                },
            );
            assert_eq!(
                to_jsonl(&once.trace, &once.names),
                to_jsonl(&every.trace, &every.names),
                "seed {seed} under {preset}"
            );
        }
    }
}
