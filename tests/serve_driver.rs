//! The tokio driver calling `keypool serve` over real HTTP makes the simulator's decisions, for
//! every shipped scenario short enough to run on the wall clock.

use keypool::dialect::{Dialect, Form};
use keypool::driver::http::HttpUpstream;
use keypool::scenario;
use keypool::serve::Server;
use keypool::sim::{self, scripted::drive, SimOutput};
use keypool::trace::Event;
use std::path::Path;

/// Scenarios whose simulated run lasts longer than this are left out: the HTTP run takes as
/// long on the wall clock.
const LONGEST_MS: u64 = 4_000;

/// Per request, what was decided, without times: keys called, classes read, decisions, end.
fn decisions(out: &SimOutput) -> Vec<Vec<String>> {
    let mut per: Vec<Vec<String>> = vec![Vec::new(); out.outcomes.len()];
    for e in &out.trace {
        let (req, what) = match *e {
            Event::Attempt {
                req, key, probe, ..
            } => (
                req,
                format!(
                    "call {}{}",
                    out.names.key(key),
                    if probe { " (probe)" } else { "" }
                ),
            ),
            Event::Reply { req, class, .. } => (req, format!("read {class}")),
            Event::Bench {
                req, key, reason, ..
            } => (req, format!("bench {} for {reason}", out.names.key(key))),
            Event::Disable { req, key, .. } => (req, format!("disable {}", out.names.key(key))),
            Event::Restore { req, key, .. } => (req, format!("restore {}", out.names.key(key))),
            Event::Decision { req, decision, .. } => (req, decision.label().to_owned()),
            Event::RequestEnd {
                req,
                success,
                class,
                ..
            } => (
                req,
                format!("end {} {class}", if success { "ok" } else { "failed" }),
            ),
            Event::RequestStart { .. } => continue,
        };
        if let Some(v) = per.get_mut(req as usize) {
            v.push(what);
        }
    }
    per
}

#[test]
fn the_driver_over_http_makes_the_simulators_decisions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut runs = Vec::new();
    let mut skipped = Vec::new();
    for f in scenario::collect_files(&dir).unwrap() {
        let sc = scenario::load(&f).unwrap();
        let world = scenario::world(&sc, None).unwrap();
        let want = sim::run(&world, true);
        let last = want.trace.last().map_or(0, Event::t);
        if last > LONGEST_MS {
            skipped.push(format!("{} ({} s)", sc.name, last / 1000));
            continue;
        }
        runs.push((sc, world, want));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let results = rt.block_on(async {
        let mut tasks = Vec::new();
        for (sc, mut world, want) in runs {
            tasks.push(tokio::spawn(async move {
                let server = Server::start(&sc).unwrap();
                world.secrets = server
                    .keys()
                    .iter()
                    .map(|k| Some(k.secret.clone()))
                    .collect();
                let form = world.form.unwrap_or(Form::new(Dialect::Chat, false));
                let up = HttpUpstream::new(&server.uri(), form);
                let got = drive(&world, up).await;
                let records = server.records();
                (
                    sc.name.clone(),
                    decisions(&want),
                    decisions(&got),
                    records.len(),
                    got.trace
                        .iter()
                        .filter(|e| matches!(e, Event::Attempt { .. }))
                        .count(),
                )
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let mut differ = Vec::new();
    for (name, want, got, records, attempts) in &results {
        // Every call the driver made reached the server and was recorded.
        assert_eq!(records, attempts, "{name}: records and attempts");
        if want != got {
            let req = want.iter().zip(got).position(|(a, b)| a != b).unwrap_or(0);
            differ.push(format!(
                "{name} request {req}:\n  sim:  {:?}\n  http: {:?}",
                want.get(req),
                got.get(req)
            ));
        }
    }
    eprintln!(
        "compared {} scenarios over HTTP; left out as too long: {}",
        results.len(),
        skipped.join(", ")
    );
    assert!(
        results.len() >= 25,
        "only {} scenarios were short enough",
        results.len()
    );
    assert!(
        differ.is_empty(),
        "{} of {} differ:\n{}",
        differ.len(),
        results.len(),
        differ.join("\n")
    );
}

/// Runs a scenario under `preset` through the driver against `keypool serve`, and judges the
/// server's record alone.
fn judged_record(
    file: &str,
    preset: Option<&str>,
) -> (Vec<&'static str>, keypool::serve::judge::Judged) {
    let sc = scenario::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios")
            .join(file),
    )
    .unwrap();
    let mut world = scenario::world(&sc, preset).unwrap();
    let server = Server::start(&sc).unwrap();
    world.secrets = server
        .keys()
        .iter()
        .map(|k| Some(k.secret.clone()))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let up = HttpUpstream::new(&server.uri(), Form::new(Dialect::Chat, false));
    rt.block_on(drive(&world, up));
    let records = server.records();
    // Judged against the scenario's own policy, as `keypool check` does.
    let reference = scenario::world(&sc, None).unwrap();
    let j = keypool::serve::judge::judge(&records, &reference, None);
    let mut names: Vec<&'static str> = j.violations.iter().map(|v| v.invariant).collect();
    names.sort_unstable();
    names.dedup();
    (names, j)
}

#[test]
fn a_record_alone_shows_a_mutants_failover_bug() {
    let (broken, j) = judged_record("token-proxy-402.json", Some("token-proxy-402"));
    assert_eq!(
        broken,
        vec!["benched_key_skipped", "pool_walk_complete"],
        "{:?}",
        j.violations
    );
    assert_eq!(j.markers, vec![Some(0), Some(1)]);
    // The reference policy on the same scenario: nothing to report.
    let (broken, j) = judged_record("token-proxy-402.json", None);
    assert!(broken.is_empty(), "{:?}", j.violations);
}
