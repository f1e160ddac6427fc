//! `keypool conform` end to end with the `keypool` adapter (no Python): the reference passes the
//! conformance scenarios, a known-buggy preset is caught, and a gateway that cannot be run is
//! reported as exactly that, with nothing left running.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn conform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keypool"))
        .arg("conform")
        .args(args)
        .current_dir(root())
        .output()
        .expect("keypool runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn adapter(name: &str, manifest: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "keypool-conform-test-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("adapter.json"), manifest).unwrap();
    dir
}

#[test]
fn the_reference_gateway_passes_every_conformance_scenario() {
    let o = conform(&["--gateway", "keypool", "scenarios/conform/", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let scenarios = v["scenarios"].as_array().unwrap();
    assert!(scenarios.len() >= 16, "{}", scenarios.len());
    for s in scenarios {
        for (inv, cell) in s["cells"].as_object().unwrap() {
            assert!(
                cell == "pass" || cell == "not_checkable",
                "{} {inv}: {cell}",
                s["scenario"]
            );
        }
    }
    // Progress: one line per scenario, so a long run never looks hung.
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.lines().filter(|l| l.starts_with('[')).count(),
        scenarios.len()
    );
}

#[test]
fn a_known_failover_bug_is_found_with_its_evidence() {
    let report = std::env::temp_dir().join(format!("keypool-conform-{}.md", std::process::id()));
    let pictures = std::env::temp_dir().join(format!("keypool-conform-svg-{}", std::process::id()));
    let o = conform(&[
        "--timeline",
        pictures.to_str().unwrap(),
        "--gateway",
        "keypool:preset=litellm",
        "scenarios/conform/pool-walk-402.json",
        "scenarios/conform/content-policy-stops.json",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(
        md.contains("| pool-walk-402 | pass | **violated** |"),
        "{md}"
    );
    assert!(
        md.contains("| content-policy-stops | pass | pass |"),
        "{md}"
    );
    // The evidence: the request's calls and what the client got.
    assert!(
        md.contains("request 0 (kp-req-0): k1 → 402 quota_exhausted"),
        "{md}"
    );
    assert!(md.contains("the client got 402 quota_exhausted"), "{md}");
    // The violation links its picture.
    let svg = pictures.join("pool-walk-402-1.svg");
    assert!(
        md.contains(&format!("Timeline: [{}]", svg.display())),
        "{md}"
    );
    assert!(std::fs::read_to_string(svg)
        .unwrap()
        .contains("402 quota_exhausted"));
}

#[test]
fn a_gateway_that_cannot_run_is_reported_as_such() {
    // Exits at once, after saying why.
    let dir = adapter(
        "dies",
        r#"{"name": "dies", "start": ["sh", "-c", "echo cannot bind the port; exit 3"],
            "ready": "http://127.0.0.1:{port}/health", "ready_timeout_s": 5, "endpoint": "http://127.0.0.1:{port}"}"#,
    );
    let o = conform(&[
        "--gateway",
        dir.to_str().unwrap(),
        "scenarios/conform/auth-401-rotates.json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("exited before it was ready")
            && text(&o).contains("cannot bind the port"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("**violated**"));
    // Never ready: stopped after its timeout, with its children.
    let tag = format!("keypool-never-ready-{}", std::process::id());
    let dir = adapter(
        "never",
        &format!(
            r#"{{"name": "never", "start": ["bash", "-c", "exec -a {tag} sleep 300"],
            "ready": "http://127.0.0.1:{{port}}/health", "ready_timeout_s": 1, "endpoint": "http://127.0.0.1:{{port}}"}}"#
        ),
    );
    let o = conform(&[
        "--gateway",
        dir.to_str().unwrap(),
        "scenarios/conform/auth-401-rotates.json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not ready within 1 s"), "{}", text(&o));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let left = Command::new("pgrep").args(["-f", &tag]).output().unwrap();
    assert!(
        left.stdout.is_empty(),
        "left running: {}",
        String::from_utf8_lossy(&left.stdout)
    );
    // Dies in the middle of a scenario.
    let dir = adapter(
        "crashes",
        r#"{"name": "crashes", "start": ["sh", "-c", "{keypool} gateway --config {config} & sleep 1; kill $!; exit 1"],
            "ready": "http://127.0.0.1:{port}/health", "ready_timeout_s": 5, "endpoint": "http://127.0.0.1:{port}"}"#,
    );
    let o = conform(&[
        "--gateway",
        dir.to_str().unwrap(),
        "scenarios/conform/every-key-cooling-waits.json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("exited during the scenario"),
        "{}",
        text(&o)
    );
    // Answers HTTP to its readiness probe, garbage to requests.
    let dir = adapter(
        "garbage",
        r#"{"name": "garbage", "start": ["python3", "-c", "import http.server as h\nclass H(h.BaseHTTPRequestHandler):\n  def do_GET(s):\n    s.send_response(200); s.send_header('content-length','0'); s.end_headers()\n  def do_POST(s):\n    s.wfile.write(b'\\x00\\x01 not http at all\\r\\n\\r\\n'); s.close_connection=True\nh.HTTPServer(('127.0.0.1', {port}), H).serve_forever()"],
            "ready": "http://127.0.0.1:{port}/health", "ready_timeout_s": 10, "endpoint": "http://127.0.0.1:{port}"}"#,
    );
    let o = conform(&[
        "--gateway",
        dir.to_str().unwrap(),
        "scenarios/conform/content-policy-stops.json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not HTTP"), "{}", text(&o));
    // An unknown adapter or option.
    assert_eq!(
        conform(&["--gateway", "no-such-gateway", "scenarios/conform/"])
            .status
            .code(),
        Some(2)
    );
    let o = conform(&["--gateway", "keypool:nope=1", "scenarios/conform/"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("has no option `nope`"), "{}", text(&o));
}

#[test]
fn an_interrupted_run_leaves_no_gateway_behind() {
    let tag = format!("keypool-interrupted-{}", std::process::id());
    let dir = adapter(
        "slow",
        &format!(
            r#"{{"name": "slow", "start": ["bash", "-c", "exec -a {tag} sleep 300"],
            "ready": "http://127.0.0.1:{{port}}/health", "ready_timeout_s": 60, "endpoint": "http://127.0.0.1:{{port}}"}}"#
        ),
    );
    let child = Command::new(env!("CARGO_BIN_EXE_keypool"))
        .args([
            "conform",
            "--gateway",
            dir.to_str().unwrap(),
            "scenarios/conform/auth-401-rotates.json",
        ])
        .current_dir(root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the gateway runs, then interrupt the run.
    let started = std::time::Instant::now();
    while Command::new("pgrep")
        .args(["-f", &tag])
        .output()
        .unwrap()
        .stdout
        .is_empty()
    {
        assert!(
            started.elapsed().as_secs() < 10,
            "the gateway never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    std::thread::sleep(std::time::Duration::from_millis(200));
    let left = Command::new("pgrep").args(["-f", &tag]).output().unwrap();
    assert!(
        left.stdout.is_empty(),
        "left running: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

#[test]
fn the_differential_agrees_with_the_gateways_own_policy_and_shows_another() {
    let files = [
        "scenarios/conform/pool-walk-402.json",
        "scenarios/conform/quota-429-rotates.json",
    ];
    let mut args = vec![
        "--gateway",
        "keypool",
        "--json",
        "--against-preset",
        "reference",
    ];
    args.extend(files);
    let o = conform(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for s in v["scenarios"].as_array().unwrap() {
        assert_eq!(
            s["trials"][0]["differences"],
            serde_json::json!([]),
            "{}",
            s["scenario"]
        );
    }
    // The same gateway against a preset that never rotates a 402: the keys differ.
    let mut args = vec![
        "--gateway",
        "keypool",
        "--json",
        "--against-preset",
        "token-proxy-402",
    ];
    args.extend(files);
    let o = conform(&args);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let d = v["scenarios"][0]["trials"][0]["differences"][0]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert!(d.starts_with("request 0: keys k1 k2 k3"), "{d}");
    assert!(d.contains("vs k1 (token-proxy-402)"), "{d}");
    assert_eq!(
        conform(&["--gateway", "keypool", "--against-preset", "nope", files[0]])
            .status
            .code(),
        Some(2)
    );
}
