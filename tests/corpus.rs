//! The labelled corpora: every entry's class, and its retry-after within max(1 s, 5 %), also
//! when a reply is rewritten in ways that do not change what it says.
//!
//! - `tests/fixtures/dev.jsonl`: the labelled development corpus of real replies.
//! - `tests/fixtures/probes.jsonl`: the project's own set, outside the development corpus:
//!   replies written in the shapes providers document and users report (each id names the
//!   provider and the case), request faults that contain key-level words, successes whose text
//!   talks about quotas and errors. It keeps the rules general: a rule fitted to one corpus
//!   line that breaks a shape here fails the build. A line without `retry_after_ms` is judged
//!   on its class only.

use keypool::classify_line::classify_line;
use serde_json::Value;

/// Every disagreement of `text`'s labelled lines with the classifier; panics on a line that is
/// not a labelled reply, or when the file has fewer than `min_lines`.
fn disagreements(name: &str, text: &str, min_lines: usize) -> Vec<String> {
    let mut failures = Vec::new();
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        n += 1;
        let label: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{name} line {}: {e}", i + 1));
        let got = classify_line(line).unwrap_or_else(|e| panic!("{name} line {}: {e}", i + 1));
        let want_class = label["class"].as_str().expect("class");
        let id = label["id"].as_str().unwrap_or("?");
        if got.verdict.class.label() != want_class {
            failures.push(format!(
                "{id}: class {} ({}), want {want_class}",
                got.verdict.class, got.verdict.reason
            ));
        }
        let Some(want_ra) = label.get("retry_after_ms").map(Value::as_u64) else {
            continue;
        };
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
    assert!(n >= min_lines, "{name} has {n} lines");
    failures
}

#[test]
fn corpus_labels_agree() {
    let failures = disagreements("dev.jsonl", include_str!("fixtures/dev.jsonl"), 98);
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn probe_labels_agree() {
    let failures = disagreements("probes.jsonl", include_str!("fixtures/probes.jsonl"), 160);
    assert!(
        failures.is_empty(),
        "{} disagreements:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A JSON text with every character beyond ASCII written as a `\u` escape (as Python's
/// `json.dumps` writes by default).
fn ascii_escaped(v: &Value) -> String {
    let mut out = String::new();
    for c in v.to_string().chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            for unit in c.encode_utf16(&mut [0; 2]) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// `text`'s labelled lines rewritten in ways that do not change what a reply says: its JSON
/// body pretty-printed with sorted keys, written in ASCII with escapes, led by whitespace, or
/// (a failure's error document) relayed inside a gateway's error message; its header names in
/// capitals.
fn rewritten(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let label: Value = serde_json::from_str(line).expect("a labelled line");
        let body = label["body"].as_str().unwrap_or_default();
        let mut bodies = Vec::new();
        if let Ok(doc) = serde_json::from_str::<Value>(body) {
            bodies.push(serde_json::to_string_pretty(&doc).expect("a value"));
            bodies.push(ascii_escaped(&doc));
            bodies.push(format!("\n  {body}"));
            // An error relayed whole inside a gateway's own error message (failure rule 6).
            let failed = label["status"].as_u64().is_some_and(|s| s >= 400);
            if failed && doc.get("error").is_some_and(Value::is_object) {
                let relayed =
                    serde_json::json!({"error": {"message": body, "type": "upstream_error"}});
                bodies.push(relayed.to_string());
            }
        }
        for b in bodies {
            let mut l = label.clone();
            l["body"] = Value::String(b);
            out.push_str(&l.to_string());
            out.push('\n');
        }
        let mut l = label.clone();
        if let Some(Value::Object(h)) = label.get("headers") {
            let upper = h
                .iter()
                .map(|(k, v)| (k.to_uppercase(), v.clone()))
                .collect();
            l["headers"] = Value::Object(upper);
        }
        out.push_str(&l.to_string());
        out.push('\n');
    }
    out
}

#[test]
fn rewritten_replies_keep_their_labels() {
    for (name, text) in [
        ("dev.jsonl", include_str!("fixtures/dev.jsonl")),
        ("probes.jsonl", include_str!("fixtures/probes.jsonl")),
    ] {
        let failures = disagreements(name, &rewritten(text), 300);
        assert!(
            failures.is_empty(),
            "{name}, rewritten: {} disagreements:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
