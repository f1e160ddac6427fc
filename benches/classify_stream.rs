//! `cargo bench --bench classify_stream`: `keypool classify` as a whole process on a corpus
//! file, the figure a user of the command sees (read, parse, classify, write, all threads).
//!
//! Corpora, built in a temporary directory from the development corpus: every line repeated
//! (~850-byte lines), and its lines of at most 400 bytes repeated (~300-byte lines). Each is
//! classified with `--jobs 1` and with every core, five runs, output to /dev/null; the table
//! gives the best and median wall time per line. hermes-agent's classifier is timed in-process
//! on the same corpus when its conform install is cached (`keypool conform --gateway hermes`
//! makes it), as the peer figure.
//!
//! `KEYPOOL_BENCH_BASELINE=PATH` times another `keypool` binary (an earlier build) in the same
//! run, interleaved with this one, so a change is compared on the same machine state.
//!
//! `-- --test` (CI's smoke run) runs each case once on a small corpus.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

fn corpus(dir: &Path, name: &str, max_len: usize, target_lines: usize) -> (PathBuf, usize, f64) {
    let src = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/dev.jsonl"
    ))
    .expect("the development corpus");
    let lines: Vec<&str> = src
        .lines()
        .filter(|l| !l.trim().is_empty() && l.len() <= max_len)
        .collect();
    let mut out = String::new();
    let mut n = 0;
    while n < target_lines {
        for l in &lines {
            out.push_str(l);
            out.push('\n');
            n += 1;
        }
    }
    let path = dir.join(name);
    std::fs::write(&path, &out).expect("write the corpus");
    let mean = (out.len() - n) as f64 / n as f64;
    (path, n, mean)
}

fn time_once(bin: &Path, file: &Path, jobs: usize) -> f64 {
    let start = Instant::now();
    let status = Command::new(bin)
        .args(["classify", "--jobs", &jobs.to_string()])
        .arg(file)
        .stdout(Stdio::null())
        .status()
        .expect("keypool runs");
    assert!(status.success(), "the corpus classifies cleanly");
    start.elapsed().as_secs_f64()
}

fn hermes(file: &Path, repeats: usize) -> Option<f64> {
    let cache = std::env::var_os("KEYPOOL_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/keypool")))?;
    let python = cache.join("adapters/hermes/venv/bin/python");
    if !python.exists() {
        return None;
    }
    let home = std::env::temp_dir().join(format!("keypool-bench-hermes-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&home);
    let out = Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/hermes_classify.py"
        ))
        .arg(file)
        .arg(repeats.to_string())
        .env("HERMES_HOME", &home)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["us_per_line"].as_f64()
}

fn main() {
    let test = std::env::args().any(|a| a == "--test");
    let (target, runs) = if test { (2_000, 1) } else { (200_000, 5) };
    let dir = std::env::temp_dir().join(format!("keypool-bench-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut bins = vec![("this build", PathBuf::from(env!("CARGO_BIN_EXE_keypool")))];
    if let Some(base) = std::env::var_os("KEYPOOL_BENCH_BASELINE") {
        bins.push(("baseline", PathBuf::from(base)));
    }
    println!("| binary | corpus | lines | mean line | jobs | best µs/line | median µs/line |");
    println!("|---|---|---|---|---|---|---|");
    let mut files = Vec::new();
    for (name, max_len) in [("dev-850", usize::MAX), ("dev-short", 400)] {
        let (file, n, mean) = corpus(&dir, name, max_len, target);
        for jobs in [1, cores] {
            // Runs alternate between the binaries, so a slow spell of the machine hits both.
            let mut times = vec![Vec::new(); bins.len()];
            for _ in 0..runs {
                for (t, (_, bin)) in times.iter_mut().zip(&bins) {
                    t.push(time_once(bin, &file, jobs));
                }
            }
            for (mut t, (label, _)) in times.into_iter().zip(&bins) {
                t.sort_by(f64::total_cmp);
                let per = |s: f64| s * 1e6 / n as f64;
                println!(
                    "| {label} | {name} | {n} | {mean:.0} B | {jobs} | {:.2} | {:.2} |",
                    per(t[0]),
                    per(t[t.len() / 2])
                );
            }
        }
        files.push((name, file));
    }
    for (name, file) in &files {
        match hermes(file, if test { 1 } else { 2 }) {
            Some(us) => println!("| hermes-agent `classify_api_error`, in-process | {name} | | | 1 | {us:.2} | |"),
            None => println!("| hermes-agent not installed (run `keypool conform --gateway hermes` once) | {name} | | | | | |"),
        }
        if test {
            break;
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
