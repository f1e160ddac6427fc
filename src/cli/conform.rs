//! `keypool conform --gateway ADAPTER SCENARIO|DIR... [--report FILE.md] [--json] [--trace DIR]
//! [--trials N]`.

use keypool::conform::adapter::Adapter;
use keypool::conform::process::stop_running;
use keypool::conform::report::{Report, ScenarioOutcome};
use keypool::conform::run::{self, trial};
use keypool::scenario;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct ConformArgs {
    /// The adapter: a folder under `adapters/` (`keypool`, `litellm`, `hermes`) or a path to one,
    /// with options after a colon (`litellm:num_retries=0,order`).
    #[arg(long, required = true)]
    gateway: Vec<String>,
    /// Scenario files, or directories of `*.json` scenarios.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Write the Markdown report to FILE (default: standard output).
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Print the JSON report on standard output.
    #[arg(long)]
    json: bool,
    /// Also simulate each scenario under this preset (or policy file, `*.json`) and report,
    /// request by request, where the gateway and the preset differ (keys in order, outcome,
    /// waits within 300 ms or 25 %).
    #[arg(long, value_name = "PRESET|FILE")]
    against_preset: Option<String>,
    /// With several gateways, print only their side-by-side table (what the README shows).
    #[arg(long)]
    table_only: bool,
    /// Draw each trial as DIR/<scenario>-<trial>.svg; the report links them.
    #[arg(long, value_name = "DIR")]
    timeline: Option<PathBuf>,
    /// Write each trial's judged trace, the upstream's record and the gateway's log to DIR.
    #[arg(long, value_name = "DIR")]
    trace: Option<PathBuf>,
    /// Run each scenario this many times, a fresh gateway each (for gateways that pick keys at
    /// random).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    trials: u32,
    /// Skip scenarios whose simulated run lasts longer than this (they take as long on the
    /// wall clock).
    #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    longest: u64,
}

pub fn run(a: ConformArgs) -> i32 {
    if let Some(p) = &a.against_preset {
        if let Err(e) = keypool::scenario::named_policy(p) {
            eprintln!("keypool conform: --against-preset: {e}");
            return 2;
        }
    }
    let mut adapters = Vec::new();
    for g in &a.gateway {
        match Adapter::find(g) {
            Ok(x) => adapters.push(x),
            Err(e) => {
                eprintln!("keypool conform: {e}");
                return 2;
            }
        }
    }
    let mut files = Vec::new();
    for p in &a.paths {
        match scenario::collect_files(p) {
            Ok(f) => files.extend(f),
            Err(e) => {
                eprintln!("keypool conform: {e}");
                return 2;
            }
        }
    }
    let mut scenarios = Vec::new();
    for f in &files {
        match scenario::load(f) {
            Ok(s) => scenarios.push((f.clone(), s)),
            Err(e) => {
                eprintln!("keypool conform: {e}");
                return 2;
            }
        }
    }
    if scenarios.is_empty() {
        eprintln!("keypool conform: no scenarios");
        return 2;
    }
    let keypool = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("keypool conform: cannot find this program: {e}");
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keypool conform: {e}");
            return 2;
        }
    };
    // Ctrl-C (or SIGTERM) stops the gateway running now before the run ends.
    rt.spawn(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            if let (Ok(mut t), Ok(mut i)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                tokio::select! { _ = t.recv() => {}, _ = i.recv() => {} }
                eprintln!("keypool conform: interrupted; stopping the gateway");
                stop_running();
                std::process::exit(130);
            }
        }
    });
    let mut reports = Vec::new();
    for adapter in &adapters {
        match conform_one(&a, adapter, &scenarios, &keypool, &rt) {
            Some(r) => reports.push(r),
            None => return 2,
        }
    }
    finish(&a, reports)
}

/// Every scenario against one gateway; `None` when it cannot be installed.
fn conform_one(
    a: &ConformArgs,
    adapter: &Adapter,
    scenarios: &[(PathBuf, keypool::scenario::Scenario)],
    keypool: &std::path::Path,
    rt: &tokio::runtime::Runtime,
) -> Option<Report> {
    if adapter.manifest.setup.is_some() {
        eprintln!(
            "keypool conform: setting up {} (once; cached in {})",
            adapter.manifest.name,
            adapter.cache.display()
        );
    }
    if let Err(e) = run::setup(adapter, keypool) {
        eprintln!(
            "keypool conform: {} could not be installed: {e}",
            adapter.manifest.name
        );
        return None;
    }
    let version = run::version(adapter, keypool);
    let root = std::env::temp_dir().join(format!("keypool-conform-{}", std::process::id()));
    let total = scenarios.len() * a.trials as usize;
    let mut done = 0;
    let mut outcomes = Vec::new();
    eprintln!(
        "keypool conform: {} ({version}), {} scenario(s) × {} trial(s)",
        adapter.label(),
        scenarios.len(),
        a.trials
    );
    for (file, sc) in scenarios {
        let lasts = scenario::world(sc, None)
            .map(|w| {
                keypool::sim::run(&w, true)
                    .trace
                    .last()
                    .map_or(0, |e| e.t())
            })
            .unwrap_or(0);
        if lasts > a.longest * 1000 {
            done += a.trials as usize;
            eprintln!(
                "[{done}/{total}] {} ... skipped: its simulated run lasts {} s (--longest {})",
                sc.name,
                lasts / 1000,
                a.longest
            );
            outcomes.push(ScenarioOutcome {
                name: sc.name.clone(),
                file: file.display().to_string(),
                trials: Vec::new(),
                skipped: Some(format!(
                    "its simulated run lasts {} s, longer than --longest {} s",
                    lasts / 1000,
                    a.longest
                )),
            });
            continue;
        }
        let mut trials = Vec::new();
        for t in 0..a.trials as usize {
            done += 1;
            let started = Instant::now();
            eprint!(
                "[{done}/{total}] {}{} ... ",
                sc.name,
                if a.trials > 1 {
                    format!(" trial {}", t + 1)
                } else {
                    String::new()
                }
            );
            let _ = std::io::stderr().flush();
            let wd = run::workdir(&root, &sc.name, t);
            let mut tr = rt.block_on(trial(adapter, keypool, sc, &wd));
            if let (Some(dir), None) = (&a.timeline, &tr.error) {
                let name = format!("{}-{}.svg", sc.name, t + 1);
                let svg = keypool::timeline::svg(
                    &tr.trace,
                    &tr.names,
                    &format!("{} on {}", sc.name, adapter.label()),
                );
                let path = dir.join(&name);
                match std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&path, svg)) {
                    Ok(()) => tr.timeline = Some(path.display().to_string()),
                    Err(e) => eprintln!("keypool conform: cannot write {}: {e}", path.display()),
                }
            }
            if let (Some(p), None) = (&a.against_preset, &tr.error) {
                tr.differences = keypool::conform::diff::differences(sc, p, &tr).ok();
            }
            let verdict = match &tr.error {
                Some(e) => format!("could not run: {}", e.what),
                None if tr.violations.is_empty() => "pass".into(),
                None => {
                    let mut names: Vec<&str> = tr.violations.iter().map(|v| v.invariant).collect();
                    names.sort_unstable();
                    names.dedup();
                    format!("violates {}", names.join(", "))
                }
            };
            eprintln!("{verdict} ({:.1} s)", started.elapsed().as_secs_f64());
            if let Some(dir) = &a.trace {
                let stem = format!("{}-{}", sc.name, t + 1);
                let _ = std::fs::create_dir_all(dir);
                let _ = std::fs::write(dir.join(format!("{stem}.trace.jsonl")), &tr.trace_jsonl);
                let rec: String = tr.records.iter().map(|r| r.to_line() + "\n").collect();
                let _ = std::fs::write(dir.join(format!("{stem}.record.jsonl")), rec);
                let _ = std::fs::copy(
                    wd.join("gateway.log"),
                    dir.join(format!("{stem}.gateway.log")),
                );
            }
            trials.push(tr);
        }
        outcomes.push(ScenarioOutcome {
            name: sc.name.clone(),
            file: file.display().to_string(),
            trials,
            skipped: None,
        });
    }
    Some(Report {
        gateway: adapter.label(),
        version,
        random: adapter.manifest.random,
        against: a.against_preset.clone(),
        scenarios: outcomes,
    })
}

fn finish(a: &ConformArgs, reports: Vec<Report>) -> i32 {
    let code = reports.iter().map(Report::exit_code).max().unwrap_or(0);
    let mut md = String::new();
    if reports.len() > 1 {
        md.push_str(&keypool::conform::report::comparison(&reports));
        md.push('\n');
    }
    if !(a.table_only && reports.len() > 1) {
        for r in &reports {
            md.push_str(&r.markdown());
        }
    }
    if let Some(p) = &a.report {
        if let Err(e) = std::fs::write(p, &md) {
            eprintln!("keypool conform: cannot write {}: {e}", p.display());
            return 2;
        }
    }
    if a.json {
        let v = match reports.as_slice() {
            [one] => one.json(),
            many => {
                serde_json::json!({"reports": many.iter().map(Report::json).collect::<Vec<_>>()})
            }
        };
        println!("{v}");
    } else if a.report.is_none() {
        print!("{md}");
        return code;
    }
    for r in &reports {
        eprintln!("{}", r.summary());
    }
    code
}
