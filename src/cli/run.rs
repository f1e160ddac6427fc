//! `keypool run <file|dir>... [--policy NAME] [--trace FILE] [--json] [--mutants]`.

use keypool::check::{self, report_text, ScenarioRun};
use keypool::scenario;
use keypool::trace::to_jsonl;
use std::io::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Scenario files, or directories of `*.json` scenarios.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Run every scenario on this preset (or policy file, `*.json`: `{"preset": NAME,
    /// ...overrides}`) instead of its own (its overrides still apply) and check its reference
    /// expectations: a mutant shows up as violations.
    #[arg(long, value_name = "PRESET|FILE")]
    policy: Option<String>,
    /// Write every trace as JSON Lines to FILE (each event carries its scenario's name).
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Draw each scenario's trace as DIR/<name>.svg (a lane per key, calls coloured by class).
    #[arg(long, value_name = "DIR")]
    timeline: Option<PathBuf>,
    /// Print one JSON object per scenario instead of text.
    #[arg(long)]
    json: bool,
    /// Also run each scenario's declared mutants and check they break exactly as declared
    /// (not with --policy, which replaces every scenario's own policy).
    #[arg(long, conflicts_with = "policy")]
    mutants: bool,
    /// Print only the verdict table.
    #[arg(long, short)]
    quiet: bool,
}

struct Row {
    name: String,
    preset: String,
    requests: usize,
    attempts: usize,
    ok: bool,
    broken: String,
}

pub fn run(a: RunArgs) -> i32 {
    if let Some(p) = &a.policy {
        if let Err(e) = scenario::named_policy(p) {
            eprintln!("keypool run: --policy: {e}");
            return 2;
        }
    }
    let mut files = Vec::new();
    let mut bad_input = false;
    for p in &a.paths {
        match scenario::collect_files(p) {
            Ok(f) if f.is_empty() => {
                eprintln!("keypool run: {}: no *.json scenarios there", p.display());
                bad_input = true;
            }
            Ok(f) => files.extend(f),
            Err(e) => {
                eprintln!("keypool run: {e}");
                bad_input = true;
            }
        }
    }
    let mut trace_out = match &a.trace {
        Some(p) => match std::fs::File::create(p) {
            Ok(f) => Some(std::io::BufWriter::new(f)),
            Err(e) => {
                eprintln!("keypool run: cannot write {}: {e}", p.display());
                return 2;
            }
        },
        None => None,
    };
    let mut rows = Vec::new();
    for f in &files {
        let sc = match scenario::load(f) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("keypool run: {e}");
                bad_input = true;
                continue;
            }
        };
        let run = match check::run(&sc, a.policy.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("keypool run: {}: {e}", f.display());
                bad_input = true;
                continue;
            }
        };
        if let Some(out) = trace_out.as_mut() {
            write_trace(out, &sc.name, &run);
        }
        if let Some(dir) = &a.timeline {
            let svg = keypool::timeline::svg(
                &run.out.trace,
                &run.out.names,
                &format!("{} [{}]", sc.name, run.preset),
            );
            let path = dir.join(format!("{}.svg", sc.name));
            if let Err(e) = std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&path, svg)) {
                eprintln!("keypool run: cannot write {}: {e}", path.display());
                return 2;
            }
        }
        let mut ok = run.violations.is_empty();
        let mut broken: Vec<String> = run.broken().into_iter().map(str::to_owned).collect();
        let mut mutant_lines = Vec::new();
        if a.mutants && a.policy.is_none() {
            match check::run_mutants(&sc) {
                Ok(ms) => {
                    for m in ms {
                        let good = m.as_declared();
                        ok &= good;
                        if !good {
                            broken.push(format!("mutant {}", m.mutant));
                        }
                        mutant_lines.push(format!(
                            "  mutant {:<20} {} (broke {:?}, declared {:?})",
                            m.mutant,
                            if good {
                                "caught as declared"
                            } else {
                                "NOT AS DECLARED"
                            },
                            m.actual,
                            m.expected
                        ));
                    }
                }
                Err(e) => {
                    eprintln!("keypool run: {}: {e}", f.display());
                    bad_input = true;
                }
            }
        }
        if a.json {
            println!("{}", json_result(&sc.name, &run, ok));
        } else if !a.quiet {
            println!(
                "{} [{}] {}",
                sc.name,
                run.preset,
                if ok { "ok" } else { "VIOLATED" }
            );
            print!("{}", report_text(&run));
            for v in &run.violations {
                println!("  ✗ {v}");
            }
            for v in &run.declared {
                println!("  ~ declared: {v}");
            }
            for l in &mutant_lines {
                println!("{l}");
            }
        }
        rows.push(Row {
            name: sc.name.clone(),
            preset: run.preset.clone(),
            requests: run.out.outcomes.len(),
            attempts: run
                .out
                .trace
                .iter()
                .filter(|e| matches!(e, keypool::trace::Event::Attempt { .. }))
                .count(),
            ok,
            broken: broken.join(", "),
        });
    }
    if let Some(mut out) = trace_out {
        if let Err(e) = out.flush() {
            eprintln!("keypool run: cannot write the trace: {e}");
            bad_input = true;
        }
    }
    if !a.json {
        print_table(&rows);
    }
    let failed = rows.iter().filter(|r| !r.ok).count();
    if bad_input {
        2
    } else if failed > 0 {
        1
    } else {
        0
    }
}

fn write_trace(out: &mut impl Write, name: &str, run: &ScenarioRun) {
    for line in to_jsonl(&run.out.trace, &run.out.names).lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).expect("the trace is JSON");
        v["scenario"] = serde_json::Value::String(name.to_owned());
        let _ = writeln!(out, "{v}");
    }
}

fn json_result(name: &str, run: &ScenarioRun, ok: bool) -> serde_json::Value {
    let list = |vs: &[keypool::invariants::Violation]| -> Vec<serde_json::Value> {
        vs.iter()
            .map(|v| serde_json::json!({"invariant": v.invariant, "req": v.req, "attempt": v.attempt, "t": v.t, "message": v.message}))
            .collect()
    };
    let (violations, declared) = (list(&run.violations), list(&run.declared));
    let outcomes: Vec<serde_json::Value> = run
        .out
        .outcomes
        .iter()
        .map(|o| match o {
            Some(o) => serde_json::json!({"req": o.req, "outcome": if o.success { "success" } else { "failed" }, "class": o.class.label(), "attempts": o.attempts, "ended_at": o.ended_at, "ready_at": o.ready_at}),
            None => serde_json::json!({"outcome": "never_ended"}),
        })
        .collect();
    serde_json::json!({"scenario": name, "preset": run.preset, "ok": ok, "violations": violations, "declared": declared, "requests": outcomes})
}

fn print_table(rows: &[Row]) {
    let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(8).max(8);
    let pw = rows
        .iter()
        .map(|r| r.preset.len())
        .max()
        .unwrap_or(6)
        .max(6);
    println!();
    println!(
        "{:w$}  {:pw$}  {:>4}  {:>5}  verdict",
        "scenario", "preset", "reqs", "calls"
    );
    for r in rows {
        let verdict = if r.ok {
            "ok".to_owned()
        } else {
            format!("VIOLATED: {}", r.broken)
        };
        println!(
            "{:w$}  {:pw$}  {:>4}  {:>5}  {verdict}",
            r.name, r.preset, r.requests, r.attempts
        );
    }
    let failed = rows.iter().filter(|r| !r.ok).count();
    println!(
        "{} scenario(s): {} ok, {} violated",
        rows.len(),
        rows.len() - failed,
        failed
    );
}
