//! The `keypool` binary: exit codes, bad input, secrets, determinism, the classify contract.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn keypool(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keypool"))
        .args(args)
        .output()
        .expect("keypool runs")
}

fn keypool_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keypool"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keypool runs");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tmp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keypool-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn run_shipped_scenarios_passes() {
    let o = keypool(&[
        "run",
        "--mutants",
        "-q",
        root().join("scenarios").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("0 violated"));
}

#[test]
fn every_catalogue_mutant_fails_its_scenario() {
    for m in keypool::policy::mutant_names() {
        let file = root().join("scenarios").join(format!("{m}.json"));
        assert!(file.exists(), "no scenario for catalogue id {m}");
        let o = keypool(&["run", "--policy", m, "-q", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{m}: {}", text(&o));
        assert!(text(&o).contains("VIOLATED"), "{m}: {}", text(&o));
    }
}

#[test]
fn malformed_scenarios_exit_2_naming_file_and_place() {
    let good = std::fs::read_to_string(root().join("scenarios/hermes-4300.json")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated.json",
            good.as_bytes()[..good.len() / 2].to_vec(),
            "truncated.json:",
        ),
        ("empty.json", Vec::new(), "empty file"),
        (
            "binary.json",
            vec![0xff, 0xfe, 0x00, 0x13, 0x37, 0x80],
            "not UTF-8",
        ),
        (
            "unknown-field.json",
            good.replacen("\"seed\"", "\"sede\": 1, \"seed\"", 1)
                .into_bytes(),
            "unknown field `sede`",
        ),
        (
            "wrong-type.json",
            good.replacen("\"seed\": 7", "\"seed\": \"seven\"", 1)
                .into_bytes(),
            "field `seed`",
        ),
        (
            "unknown-preset.json",
            good.replacen(
                "\"workload\"",
                "\"policy\": {\"preset\": \"nope\"}, \"workload\"",
                1,
            )
            .into_bytes(),
            "unknown preset `nope`",
        ),
        ("not-json.json", b"name: yaml?".to_vec(), "not-json.json:1"),
        (
            "same-secret.json",
            br#"{"name":"dup","providers":[{"name":"a","keys":[{"label":"k1","secret":"sk-same-1234"}]},
                {"name":"b","keys":[{"label":"k2","secret":"sk-same-1234"}]}],"workload":{"at_ms":[0]}}"#
                .to_vec(),
            "the same secret as key `k1`",
        ),
        (
            "absurd-backoff.json",
            good.replacen(
                "\"workload\"",
                "\"policy\": {\"backoff\": {\"base_ms\": 1000000000000000000}}, \"workload\"",
                1,
            )
            .into_bytes(),
            "policy.backoff.base_ms",
        ),
        (
            "absurd-jitter.json",
            good.replacen(
                "\"workload\"",
                "\"policy\": {\"backoff\": {\"jitter_pct\": 250}}, \"workload\"",
                1,
            )
            .into_bytes(),
            "policy.backoff.jitter_pct",
        ),
        (
            "absurd-status.json",
            good.replacen(
                "\"workload\"",
                "\"policy\": {\"status_classes\": {\"999\": \"auth\"}}, \"workload\"",
                1,
            )
            .into_bytes(),
            "status_classes.999",
        ),
    ];
    for (name, bytes, needle) in cases {
        let p = tmp(name, &bytes);
        let o = keypool(&["run", p.to_str().unwrap()]);
        let t = text(&o);
        assert_eq!(o.status.code(), Some(2), "{name}: {t}");
        assert!(
            t.contains(name),
            "{name}: error does not name the file: {t}"
        );
        assert!(t.contains(needle), "{name}: expected `{needle}` in: {t}");
        assert!(!t.contains("panicked"), "{name}: {t}");
        assert!(
            !t.contains("sk-same-1234"),
            "{name}: a secret in the output: {t}"
        );
    }
}

#[test]
fn unknown_policy_flag_is_bad_input() {
    let o = keypool(&[
        "run",
        "--policy",
        "nope",
        root().join("scenarios").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn traces_are_identical_run_after_run_and_hold_no_secret() {
    let a = tmp("trace-a.jsonl", b"");
    let b = tmp("trace-b.jsonl", b"");
    let dir = root().join("scenarios");
    let oa = keypool(&["run", "--trace", a.to_str().unwrap(), dir.to_str().unwrap()]);
    let ob = keypool(&["run", "--trace", b.to_str().unwrap(), dir.to_str().unwrap()]);
    let (ta, tb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(ta.len() > 1000);
    assert_eq!(ta, tb, "two runs gave different traces");
    let all = format!("{}{}", String::from_utf8_lossy(&ta), text(&oa));
    assert_eq!(oa.stdout, ob.stdout);
    for f in keypool::scenario::collect_files(&dir).unwrap() {
        let sc = keypool::scenario::load(&f).unwrap();
        for p in &sc.providers {
            for k in &p.keys {
                if let Some(s) = &k.secret {
                    assert!(!all.contains(s.as_str()), "secret of {} leaked", k.label);
                }
            }
        }
    }
}

#[test]
fn classify_corpus_agrees_with_labels() {
    let o = keypool(&[
        "classify",
        root().join("tests/fixtures/dev.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let input = std::fs::read_to_string(root().join("tests/fixtures/dev.jsonl")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    let labels: Vec<&str> = input.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), labels.len());
    for (got, want) in lines.iter().zip(labels) {
        let g: serde_json::Value = serde_json::from_str(got).unwrap();
        let w: serde_json::Value = serde_json::from_str(want).unwrap();
        assert_eq!(g["id"], w["id"]);
        assert_eq!(g["class"], w["class"], "{}", w["id"]);
    }
}

#[test]
fn classify_rejects_junk_lines_and_goes_on() {
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"id\":\"a\",\"status\":429,\"body\":\"\"}\n");
    input.extend_from_slice(b"not json\n\n");
    input.extend_from_slice(&[0xff, 0xfe, 0x00, b'\n']);
    input.extend_from_slice(b"[1,2,3]\n{\"status\":\"429\"}\n{\"status\":700}\n");
    input.extend_from_slice(
        b"{\"id\":\"b\",\"status\":200,\"body\":\"{\\\"choices\\\":[]}\",\"class\":\"ignored\"}\n",
    );
    let o = keypool_stdin(&["classify"], &input);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 7, "{out}");
    assert_eq!(lines[0]["class"], "rate_limit");
    assert_eq!(lines[0]["id"], "a");
    assert_eq!(lines[1]["line"], 2);
    assert_eq!(lines[2]["line"], 4);
    assert_eq!(lines[3]["line"], 5);
    assert_eq!(lines[4]["line"], 6);
    assert_eq!(lines[5]["line"], 7);
    assert_eq!(lines[6]["class"], "empty_success");
    for l in &lines[1..6] {
        assert!(l["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
}

#[test]
fn classify_survives_huge_and_deep_input() {
    // A 40 MB line is classified (its body read up to the cap); a 100 MB line is over the line
    // limit and rejected unread; JSON nested 100,000 deep: no panic, no hang, one answer each.
    let line = |mb: usize| {
        format!(
            "{{\"status\":200,\"body\":\"{}\"}}\n",
            "a".repeat(mb * 1024 * 1024)
        )
    };
    let deep = format!(
        "{{\"status\":500,\"body\":\"{}{}\"}}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let deep_outer = format!("{}\n", "[".repeat(100_000));
    let mut input = line(40).into_bytes();
    input.extend_from_slice(line(100).as_bytes());
    input.extend_from_slice(deep.as_bytes());
    input.extend_from_slice(deep_outer.as_bytes());
    let o = keypool_stdin(&["classify"], &input);
    let out = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(lines[0].contains("\"class\":\"success\""), "{}", lines[0]);
    assert!(
        lines[1].contains("\"line\":2") && lines[1].contains("longer than 64 MiB"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains("\"class\":\"server_error\""),
        "{}",
        lines[2]
    );
    assert!(lines[3].contains("\"line\":4"), "{}", lines[3]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn classify_streams_in_bounded_memory() {
    // 250 MB through standard input in 100 KB lines: memory stays at a few batches, not the
    // input (reading it whole, as before, peaked above the input's size).
    let mut child = Command::new(env!("CARGO_BIN_EXE_keypool"))
        .args(["classify", "--jobs", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut out).unwrap();
        out
    });
    let line = format!(
        "{{\"status\":429,\"pad\":\"{}\",\"body\":\"{}\"}}\n",
        "p".repeat(50_000),
        "rate limit ".repeat(4_500)
    );
    let mut peak_kb = 0;
    for i in 0..2_500 {
        stdin.write_all(line.as_bytes()).unwrap();
        if i % 500 == 499 {
            peak_kb = peak_kb.max(vm_hwm_kb(pid));
        }
    }
    peak_kb = peak_kb.max(vm_hwm_kb(pid));
    drop(stdin);
    let out = reader.join().unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(String::from_utf8_lossy(&out).lines().count(), 2_500);
    eprintln!("peak resident {peak_kb} KB");
    assert!(
        peak_kb > 0 && peak_kb < 120_000,
        "peak resident {peak_kb} KB"
    );
}

fn vm_hwm_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn classify_answers_each_line_as_it_comes() {
    // A caller that writes a line and waits for its answer is not kept waiting for more input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_keypool"))
        .arg("classify")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    for (line, class) in [
        ("{\"status\":402}\n", "quota_exhausted"),
        ("{\"status\":429}\n", "rate_limit"),
    ] {
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.flush().unwrap();
        let mut answer = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut answer).unwrap();
        assert!(answer.contains(class), "{answer}");
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

#[test]
fn classify_jobs_keep_input_order() {
    let corpus = std::fs::read(root().join("tests/fixtures/dev.jsonl")).unwrap();
    let mut input = Vec::new();
    for i in 0..300 {
        input.extend_from_slice(&corpus);
        input.extend_from_slice(format!("junk {i}\n\n").as_bytes());
    }
    let one = keypool_stdin(&["classify", "--jobs", "1"], &input);
    assert_eq!(one.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&one.stdout).lines().count(),
        300 * 99
    );
    for jobs in ["2", "7"] {
        let many = keypool_stdin(&["classify", "--jobs", jobs], &input);
        assert_eq!(many.status.code(), Some(2));
        assert!(
            many.stdout == one.stdout,
            "--jobs {jobs} changed the output"
        );
    }
    for bad in ["0", "257", "-1", "x"] {
        let o = keypool_stdin(&["classify", "--jobs", bad], b"");
        assert_eq!(o.status.code(), Some(2), "--jobs {bad}");
        assert!(!o.stderr.is_empty());
    }
}

#[test]
fn classify_explain_names_the_rule() {
    let o = keypool_stdin(&["classify", "--explain", "-"], b"{\"status\":402,\"body\":\"{\\\"error\\\":{\\\"message\\\":\\\"Insufficient credits\\\"}}\"}\n");
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains("\"class\":\"quota_exhausted\""), "{out}");
    assert!(out.contains("\"reason\":\"text: credits"), "{out}");
}

#[test]
fn presets_schema_templates_print() {
    let o = keypool(&["presets"]);
    let t = text(&o);
    for m in keypool::policy::mutant_names().chain(["reference", "litellm", "hermes"]) {
        assert!(t.contains(m), "{m} missing from presets");
    }
    let o = keypool(&["schema"]);
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(schema["additionalProperties"], false);
    assert!(schema["properties"]["providers"].is_object());
    let o = keypool(&["templates"]);
    assert!(text(&o).contains("responses.failed_quota"));
}

/// `keypool presets | head` must not panic when the reader goes away: like other Unix tools,
/// the binary ends on the broken pipe (by SIGPIPE) without a word on stderr.
#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_output_quietly() {
    for args in [&["presets"][..], &["templates"], &["schema"]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keypool"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("keypool runs");
        // Closed before the child has started up, so its first write meets a broken pipe.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_ne!(out.status.code(), Some(101), "{args:?}: {err}");
    }
}

/// Starts `keypool serve` on a scenario; returns the child and its start line.
fn serve(args: &[&str]) -> (std::process::Child, serde_json::Value) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_keypool"))
        .arg("serve")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keypool runs");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    (child, v)
}

fn http_post(addr: &str, secret: &str, body: &str) -> String {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {secret}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn serve_announces_itself_and_flushes_its_record_on_sigterm() {
    let record = tmp("serve-record.jsonl", b"");
    let sc = root().join("scenarios/token-proxy-402.json");
    let (child, start) = serve(&[sc.to_str().unwrap(), "--record", record.to_str().unwrap()]);
    let url = start["url"].as_str().unwrap();
    assert!(url.starts_with("http://127.0.0.1:"), "{start}");
    assert_eq!(start["base_url"].as_str().unwrap(), format!("{url}/v1"));
    let keys = start["keys"].as_array().unwrap();
    assert_eq!(keys[0]["label"], "k1");
    let addr = url.trim_start_matches("http://");
    let k1 = keys[0]["secret"].as_str().unwrap();
    let k2 = keys[1]["secret"].as_str().unwrap();
    assert!(http_post(addr, k1, "{}").starts_with("HTTP/1.1 402"));
    for i in 0..20 {
        let out = http_post(addr, k2, &format!(r#"{{"user":"kp-req-{i}"}}"#));
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    }
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let lines = std::fs::read_to_string(&record).unwrap();
    assert_eq!(lines.lines().count(), 21, "{lines}");
    assert!(lines.contains(r#""request":19"#));
    // The record names keys by label: no secret in it, nor in anything printed after the start line.
    for secret in [k1, k2] {
        assert!(!lines.contains(secret) && !text(&out).contains(secret));
    }
}

#[test]
fn serve_stops_by_itself_and_refuses_bad_flags() {
    let sc = root().join("scenarios/token-proxy-402.json");
    let sc = sc.to_str().unwrap();
    let t = std::time::Instant::now();
    let o = keypool(&["serve", sc, "--duration", "0.3"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    for bad in [
        vec!["--duration", "-1"],
        vec!["--duration", "nan"],
        vec!["--duration", "1e300"],
        vec!["--listen", "nowhere"],
        vec!["--workers", "0"],
        vec!["--max-body", "0"],
    ] {
        let mut args = vec!["serve", sc];
        args.extend(bad.iter().copied());
        let o = keypool(&args);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o));
    }
    let o = keypool(&[
        "serve",
        tmp("junk.json", b"\x00\x01junk").to_str().unwrap(),
        "--duration",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("junk.json"), "{}", text(&o));
    // An address it cannot take (not a local one).
    let o = keypool(&["serve", sc, "--listen", "192.0.2.1:80", "--duration", "1"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cannot listen"), "{}", text(&o));
}

#[test]
fn serve_holds_ten_thousand_connections_at_once() {
    let sc = tmp(
        "many.json",
        br#"{"name":"many","latency_ms":0,"providers":[{"name":"p","keys":[{"label":"k1","secret":"sk-many"}]}],"workload":{"at_ms":[0]}}"#,
    );
    let (mut child, start) = serve(&[sc.to_str().unwrap(), "--workers", "2"]);
    let addr: std::net::SocketAddr = start["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let ok = rt.block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        const N: usize = 10_000;
        // Every connection is opened first and held, then each sends a request.
        let mut conns = Vec::with_capacity(N);
        for _ in 0..N {
            conns.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
        }
        let req = "POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\nauthorization: Bearer sk-many\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
        let mut tasks = tokio::task::JoinSet::new();
        for mut c in conns {
            tasks.spawn(async move {
                c.write_all(req.as_bytes()).await.ok()?;
                let mut out = Vec::new();
                c.read_to_end(&mut out).await.ok()?;
                Some(out.starts_with(b"HTTP/1.1 200"))
            });
        }
        let mut ok = 0;
        while let Some(r) = tasks.join_next().await {
            if r.ok().flatten() == Some(true) {
                ok += 1;
            }
        }
        ok
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(ok, 10_000);
}

#[test]
fn check_judges_a_record_and_says_what_a_record_cannot_show() {
    let sc = root().join("scenarios/token-proxy-402.json");
    let sc = sc.to_str().unwrap();
    let line = |t: u64, key: &str, req: u64, status: u16| {
        format!(
            r#"{{"t_ms":{t},"key":"{key}","fingerprint":null,"method":"POST","path":"/v1/chat/completions","dialect":"chat","stream":false,"request":{req},"probe":false,"step":0,"status":{status},"bytes":0,"end":"complete","ended_ms":{},"client_gone_ms":null}}"#,
            t + 50
        )
    };
    // k1 answers 402 and the program calls it again in the same request.
    let bad = tmp(
        "bad-record.jsonl",
        format!("{}\n{}\n", line(0, "k1", 0, 402), line(100, "k1", 0, 402)).as_bytes(),
    );
    let o = keypool(&["check", bad.to_str().unwrap(), "--scenario", sc]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("no_same_key_after_quota") && text(&o).contains("kp-req-0"),
        "{}",
        text(&o)
    );
    assert!(
        text(&o).contains("rotation_is_free") && text(&o).contains("not checkable"),
        "{}",
        text(&o)
    );
    // Rotated to k2 at once: fine.
    let good = tmp(
        "good-record.jsonl",
        format!("{}\n{}\n", line(0, "k1", 0, 402), line(60, "k2", 0, 200)).as_bytes(),
    );
    let o = keypool(&["check", good.to_str().unwrap(), "--scenario", sc, "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["violations"].as_array().unwrap().len(), 0);
    assert!(v["support"]["no_truncated_success"]["not_checkable"].is_string());
    // A record that shows a secret (a path with the key in it) breaks no_secret_in_output.
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sc).unwrap()).unwrap();
    let secret = match file["providers"][0]["keys"][0]["secret"].as_str() {
        Some(s) => s.to_owned(),
        None => keypool::serve::derived_secret(file["seed"].as_u64().unwrap_or(0), "k1"),
    };
    let leaky = line(0, "k1", 0, 402).replace(
        "/v1/chat/completions",
        &format!("/v1/chat/completions/{secret}"),
    );
    let leaky = tmp("leaky-record.jsonl", format!("{leaky}\n").as_bytes());
    let o = keypool(&["check", leaky.to_str().unwrap(), "--scenario", sc]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("no_secret_in_output") && !text(&o).contains(&secret),
        "{}",
        text(&o)
    );
    // A broken record: exit 2, naming the line.
    let junk = tmp(
        "junk-record.jsonl",
        format!("{}\n{{\"t_ms\":\n", line(0, "k1", 0, 402)).as_bytes(),
    );
    let o = keypool(&["check", junk.to_str().unwrap(), "--scenario", sc]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("line 2"), "{}", text(&o));
}

#[test]
fn explore_refuses_absurd_flags() {
    for bad in [
        ["--time-limit", "-1"],
        ["--time-limit", "nan"],
        ["--time-limit", "1e300"],
        ["--jobs", "100000000"],
    ] {
        let o = keypool(&["explore", "--seeds", "2", bad[0], bad[1]]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o));
    }
    // More workers than seeds: as many as the seeds.
    let o = keypool(&["explore", "--seeds", "2", "--jobs", "1000", "--no-shrink"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("jobs 2"), "{}", text(&o));
}

#[test]
fn a_policy_file_goes_wherever_a_preset_name_does() {
    // hermes-16830 written down by hand: the reference plus two fields.
    let file = tmp(
        "my-gateway.json",
        br#"{"preset": "reference", "retry_same_key_first": ["rate_limit"], "retry_counting": "failures"}"#,
    );
    let f = file.to_str().unwrap();
    let o = keypool(&[
        "run",
        "--json",
        "--policy",
        f,
        "scenarios/hermes-16830.json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("pool_walk_complete"), "{}", text(&o));
    let o = keypool(&["explore", "--policy", f, "--seeds", "300", "--no-shrink"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("pool_walk_complete"), "{}", text(&o));
    // Declared as a mutant of a scenario.
    let sc = std::fs::read_to_string("scenarios/hermes-16830.json")
        .unwrap()
        .replace("\"hermes-16830\": {", &format!("{:?}: {{", f));
    let sc = tmp("declares-file.json", sc.as_bytes());
    let o = keypool(&["run", "--mutants", sc.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("caught as declared"), "{}", text(&o));
    // A broken file is bad input, named.
    let bad = tmp(
        "bad-policy.json",
        br#"{"preset": "reference", "max_retry": 3}"#,
    );
    let o = keypool(&[
        "run",
        "--policy",
        bad.to_str().unwrap(),
        "scenarios/hermes-16830.json",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("max_retry"), "{}", text(&o));
    let o = keypool(&["explore", "--policy", "missing.json", "--seeds", "2"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn explore_progress_counts_come_in_order() {
    // Not a terminal: a line per tenth of the seeds, from whichever worker gets there.
    let o = keypool(&["explore", "--seeds", "3000", "--jobs", "2", "--no-shrink"]);
    let counts: Vec<u64> = text(&o)
        .lines()
        .filter_map(|l| l.trim().strip_suffix(" invariant(s) violated so far"))
        .filter_map(|l| l.split('/').next()?.parse().ok())
        .collect();
    assert_eq!(counts.len(), 10, "{}", text(&o));
    assert!(counts.windows(2).all(|w| w[0] < w[1]), "{counts:?}");
}

#[test]
fn numeric_headers_and_a_null_ready_time_mean_what_they_say() {
    let one = |extra: &str| {
        format!(
            r#"{{"name":"n","providers":[{{"name":"p","keys":[{{"label":"k1","script":[{{"status":429,"headers":{{"retry-after":20}},"body":"{{}}"}}]}}]}}],
            "workload":{{"at_ms":[0]}},"expect":{{"requests":[{{"request":0,"outcome":"failed"{extra}}}]}}}}"#
        )
    };
    // The number is the header's text: the key is benched 20 s at a time (two waits, then the
    // failure says when it is back).
    let sc = keypool::scenario::parse(&one(r#","ready_at_ms":60150"#), "n.json").unwrap();
    let run = keypool::check::run(&sc, None).unwrap();
    assert!(run.violations.is_empty(), "{:?}", run.violations);
    // `null` asserts "no ready time", which is false here.
    let sc = keypool::scenario::parse(&one(r#","ready_at_ms":null"#), "n.json").unwrap();
    let run = keypool::check::run(&sc, None).unwrap();
    assert_eq!(run.broken().into_iter().collect::<Vec<_>>(), vec!["expect"]);
}

#[test]
fn a_policy_with_overrides_is_named_so_and_an_expectation_is_reported_once() {
    let o = keypool(&[
        "run",
        root()
            .join("scenarios/conform/slow-first-byte.json")
            .to_str()
            .unwrap(),
    ]);
    assert!(
        text(&o).contains("slow-first-byte [reference+overrides] ok"),
        "{}",
        text(&o)
    );
    let sc = keypool::scenario::parse(
        r#"{"name":"d","providers":[{"name":"p","keys":[{"label":"k1","script":["openai.content_policy"]}]}],
        "workload":{"at_ms":[0]},
        "expect":{"every_request":{"outcome":"success"},"requests":[{"request":0,"outcome":"success"}]}}"#,
        "d.json",
    )
    .unwrap();
    let run = keypool::check::run(&sc, None).unwrap();
    assert_eq!(
        run.violations
            .iter()
            .filter(|v| v.invariant == "expect")
            .count(),
        1,
        "{:?}",
        run.violations
    );
}
