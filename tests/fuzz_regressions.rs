//! Replays the fuzz seeds and every saved crash (`fuzz/regressions/classifier/`) through the
//! same decoding and properties as the fuzz target, with plain `cargo test` (no cargo-fuzz).
//! To keep a crash the fuzzer found: copy it from `fuzz/artifacts/classifier/` into
//! `fuzz/regressions/classifier/`.

use std::path::Path;

/// Runs `check` on every file of the target's seeds and saved crashes, in name order; returns
/// how many were replayed.
fn replay(target: &str, check: impl Fn(&[u8]) -> Result<(), String>) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in [format!("seeds/{target}"), format!("regressions/{target}")] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            let data = std::fs::read(&f).unwrap();
            if let Err(e) = check(&data) {
                panic!("{}: {e}", f.display());
            }
            n += 1;
        }
    }
    n
}

#[test]
fn fuzz_seeds_and_saved_crashes_hold_the_properties() {
    let n = replay("classifier", |data| {
        keypool::fuzzing::check_bytes(data).map(|_| ())
    });
    assert!(n >= 47, "only {n} inputs replayed");
}

#[test]
fn serve_request_seeds_and_saved_crashes_hold_the_properties() {
    let n = replay("serve_request", keypool::fuzzing::check_request);
    assert!(n >= 4, "only {n} inputs replayed");
}

#[test]
fn trace_seeds_and_saved_crashes_hold_the_properties() {
    let n = replay("trace", keypool::fuzzing::check_trace);
    assert!(n >= 9, "only {n} inputs replayed");
}
