//! The labelled corpus (`tests/fixtures/dev.jsonl`, a copy of the labelled development corpus): every entry's
//! class, and its retry-after within max(1 s, 5 %).

use keypool::classify_line::classify_line;
use serde_json::Value;

#[test]
fn corpus_labels_agree() {
    let text = include_str!("fixtures/dev.jsonl");
    let mut failures = Vec::new();
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        n += 1;
        let label: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("fixture line {}: {e}", i + 1));
        let got = classify_line(line).unwrap_or_else(|e| panic!("fixture line {}: {e}", i + 1));
        let want_class = label["class"].as_str().expect("class");
        let want_ra = label["retry_after_ms"].as_u64();
        let id = label["id"].as_str().unwrap_or("?");
        if got.verdict.class.label() != want_class {
            failures.push(format!(
                "{id}: class {} ({}), want {want_class}",
                got.verdict.class, got.verdict.reason
            ));
        }
        let ra_ok = match (got.verdict.retry_after_ms, want_ra) {
            (None, None) => true,
            (Some(g), Some(w)) => g.abs_diff(w) <= 1000.max(w / 20),
            _ => false,
        };
        if !ra_ok {
            failures.push(format!(
                "{id}: retry_after_ms {:?}, want {want_ra:?}",
                got.verdict.retry_after_ms
            ));
        }
    }
    assert!(n >= 98, "fixture has {n} lines");
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
