//! Replays the fuzz seeds and every saved crash (`fuzz/regressions/classifier/`) through the
//! same decoding and properties as the fuzz target, with plain `cargo test` (no cargo-fuzz).
//! To keep a crash the fuzzer found: copy it from `fuzz/artifacts/classifier/` into
//! `fuzz/regressions/classifier/`.

use std::path::Path;

#[test]
fn fuzz_seeds_and_saved_crashes_hold_the_properties() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in ["seeds/classifier", "regressions/classifier"] {
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
            let case = keypool::fuzzing::case_from_bytes(&data);
            if let Err(e) = keypool::fuzzing::check(&case) {
                panic!("{}: {e}", f.display());
            }
            n += 1;
        }
    }
    assert!(n >= 47, "only {n} inputs replayed");
}

#[test]
fn serve_request_seeds_and_saved_crashes_hold_the_properties() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in ["seeds/serve_request", "regressions/serve_request"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for f in entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
        {
            let data = std::fs::read(&f).unwrap();
            if let Err(e) = keypool::fuzzing::check_request(&data) {
                panic!("{}: {e}", f.display());
            }
            n += 1;
        }
    }
    assert!(n >= 4, "only {n} inputs replayed");
}

#[test]
fn trace_seeds_and_saved_crashes_hold_the_properties() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in ["seeds/trace", "regressions/trace"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for f in entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
        {
            let data = std::fs::read(&f).unwrap();
            if let Err(e) = keypool::fuzzing::check_trace(&data) {
                panic!("{}: {e}", f.display());
            }
            n += 1;
        }
    }
    assert!(n >= 9, "only {n} inputs replayed");
}
