//! `keypool::serve` through a real HTTP client: every dialect and framing, every step form,
//! probes, unknown keys, markers, records, and bad input.

use keypool::dialect::{Dialect, Form, Framing};
use keypool::driver::http::HttpUpstream;
use keypool::driver::{Call, TransportError, Upstream};
use keypool::engine::NoReply;
use keypool::policy::Timeouts;
use keypool::scenario::{self, Scenario};
use keypool::serve::record::{End, Record};
use keypool::serve::{Config, Server};
use keypool::sim::templates::TEMPLATES;
use keypool::{classify, Reply};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn forms() -> Vec<Form> {
    let mut v: Vec<Form> = Dialect::ALL
        .iter()
        .flat_map(|&d| [Form::new(d, false), Form::new(d, true)])
        .collect();
    v.push(Form {
        dialect: Dialect::Gemini,
        framing: Framing::JsonArray,
    });
    v
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn call_for(server: &Server, label: &str, req: u32, timeouts: Timeouts) -> Call {
    Call {
        req,
        attempt: 1,
        provider: 0,
        key: 0,
        label: label.into(),
        secret: server.secret(label).map(Into::into),
        deadline: u64::MAX,
        timeouts,
        tag: None,
    }
}

fn parse(json: &str) -> Scenario {
    scenario::parse(json, "test.json").unwrap()
}

/// Sends raw bytes, half-closes, reads until the server closes (or 5 s).
fn raw(server: &Server, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn post(path: &str, headers: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn every_template_is_sent_in_every_dialect_and_framing_as_the_simulator_reads_it() {
    let keys: Vec<String> = TEMPLATES
        .iter()
        .enumerate()
        .map(|(i, (name, _))| format!(r#"{{"label":"t{i}","script":["{name}"]}}"#))
        .collect();
    let sc = parse(&format!(
        r#"{{"name":"all","latency_ms":0,"providers":[{{"name":"p","keys":[{}]}}],"workload":{{"at_ms":[0]}}}}"#,
        keys.join(",")
    ));
    let world = scenario::world(&sc, None).unwrap();
    let server = Server::start(&sc).unwrap();
    let rt = rt();
    let mut calls = 0;
    for form in forms() {
        let up = HttpUpstream::new(&server.uri(), form);
        for (i, (name, _)) in TEMPLATES.iter().enumerate() {
            let label = format!("t{i}");
            let got = rt
                .block_on(up.call(call_for(&server, &label, calls, Timeouts::default())))
                .unwrap();
            calls += 1;
            let want = world.scripts[i].steps[0].reply_in(form);
            assert_eq!(got.status, want.status, "{name} as {form:?}");
            assert_eq!(
                got.body, want.body,
                "{name} as {form:?}: the bytes the simulator reads"
            );
            let (a, b) = (classify(&got), classify(&want));
            assert_eq!(
                (a.class, a.retry_after_ms),
                (b.class, b.retry_after_ms),
                "{name} as {form:?}"
            );
        }
    }
    let records = server.records();
    assert_eq!(records.len() as u32, calls);
    let odd: Vec<&Record> = records
        .iter()
        .filter(|r| r.end != End::Complete || r.step != Some(0))
        .collect();
    assert!(odd.is_empty(), "{odd:?}");
    // Each record says what the request asked for.
    let streamed = records.iter().filter(|r| r.stream).count();
    assert_eq!(
        streamed,
        TEMPLATES.len() * 5,
        "four SSE forms and Gemini's array"
    );
}

#[test]
fn step_forms_are_delivered_as_scripted() {
    let sc = parse(
        r#"{"name":"forms","latency_ms":0,"providers":[{"name":"p","keys":[
        {"label":"gap","script":[{"template":"ok","gap_ms":100}]},
        {"label":"first","script":[{"template":"ok","first_byte_ms":300}]},
        {"label":"late","script":[{"template":"ok","latency_ms":250}]},
        {"label":"stall","script":[{"template":"ok","stall_after":1}]},
        {"label":"cut","script":[{"template":"ok","cut_after":2}]},
        {"label":"reset","script":[{"reset":true}]},
        {"label":"bad","script":[{"template":"ok","malformed_at":1}]},
        {"label":"noend","script":[{"template":"ok","no_terminator":true}]},
        {"label":"twice","script":[{"template":"openai.rate_limit","times":2},"ok"]},
        {"label":"until","script":[{"template":"openai.invalid_key","until_ms":1500},"ok"]}
        ]}],"workload":{"at_ms":[0]}}"#,
    );
    let started = Instant::now();
    let server = Server::start(&sc).unwrap();
    let rt = rt();
    let sse = HttpUpstream::new(&server.uri(), Form::new(Dialect::Chat, true));
    let responses = HttpUpstream::new(&server.uri(), Form::new(Dialect::Responses, true));
    let short = Timeouts {
        first_byte_ms: Some(2_000),
        idle_ms: Some(400),
        total_ms: None,
    };
    let call = |up: &HttpUpstream, label: &str| -> (Result<Reply, TransportError>, Duration) {
        let t = Instant::now();
        let r = rt.block_on(up.call(call_for(&server, label, 0, short)));
        (r, t.elapsed())
    };
    // `until_ms` runs on the server's clock: 401 until 1.5 s after it started.
    assert_eq!(call(&sse, "until").0.unwrap().status, 401);
    // Gaps between the 3 events of the chat stream, a slow first byte, a late header.
    let (r, took) = call(&sse, "gap");
    assert_eq!(classify(&r.unwrap()).class, keypool::Class::Success);
    assert!(took >= Duration::from_millis(200), "{took:?}");
    let (r, took) = call(&sse, "first");
    assert!(r.is_ok() && took >= Duration::from_millis(300), "{took:?}");
    let (r, took) = call(&sse, "late");
    assert!(r.is_ok() && took >= Duration::from_millis(250), "{took:?}");
    // A stall is given up by the client's idle timeout; a cut and a reset are transport errors.
    assert_eq!(call(&sse, "stall").0.unwrap_err().kind, NoReply::Timeout);
    assert_eq!(call(&sse, "cut").0.unwrap_err().kind, NoReply::Cut);
    assert_eq!(call(&sse, "reset").0.unwrap_err().kind, NoReply::Reset);
    // Body faults: a malformed chunk, a Responses stream without response.completed.
    let bad = call(&sse, "bad").0.unwrap();
    assert_eq!(classify(&bad).reason, "stream with a malformed chunk");
    let noend = call(&responses, "noend").0.unwrap();
    assert!(!noend.body.contains("response.completed"));
    assert_eq!(classify(&noend).class, keypool::Class::ServerError);
    // `times` and the last step repeating; `until_ms` on the server's clock.
    let statuses: Vec<u16> = (0..4)
        .map(|_| call(&sse, "twice").0.unwrap().status)
        .collect();
    assert_eq!(statuses, vec![429, 429, 200, 200]);
    std::thread::sleep(Duration::from_millis(1_600).saturating_sub(started.elapsed()));
    assert_eq!(call(&sse, "until").0.unwrap().status, 200);

    std::thread::sleep(Duration::from_millis(100));
    let recs = server.records();
    let of = |label: &str| -> Vec<&Record> {
        recs.iter()
            .filter(|r| r.key.as_deref() == Some(label))
            .collect()
    };
    assert_eq!(of("stall")[0].end, End::ClientGone);
    assert!(of("stall")[0].client_gone_ms.is_some() && of("stall")[0].bytes > 0);
    assert_eq!(of("cut")[0].end, End::Cut);
    assert_eq!(
        (of("reset")[0].end, of("reset")[0].status),
        (End::Reset, None)
    );
    assert_eq!(
        of("twice").iter().map(|r| r.step).collect::<Vec<_>>(),
        vec![Some(0), Some(0), Some(1), Some(1)]
    );
    assert!(of("gap")[0].ended_ms >= of("gap")[0].t_ms + 200);
}

#[test]
fn dated_headers_follow_the_machines_clock() {
    let sc = parse(
        r#"{"name": "d", "providers": [{"name": "p", "keys": [{"label": "k1", "script": [
            {"status": 429, "headers": {"date": "{now}", "retry-after": "{now+30}",
             "x-ratelimit-reset": "{epoch+30}"}, "body": "{}"}]}]}],
           "workload": {"at_ms": [0]}}"#,
    );
    let server = Server::start(&sc).unwrap();
    let auth = format!("authorization: Bearer {}\r\n", server.secret("k1").unwrap());
    let out = raw(
        &server,
        post("/v1/chat/completions", &auth, "{}").as_bytes(),
    );
    let header = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .trim()
            .to_owned()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let epoch: i64 = header("x-ratelimit-reset").parse().unwrap();
    assert!((epoch - 30 - now).abs() <= 5, "{epoch} vs {now}");
    assert!(header("date").ends_with(" GMT"), "{out}");
    // The reply reads as a 30 s wait, whatever the clock says.
    let r = Reply::new(429, "{}")
        .header("date", header("date"))
        .header("retry-after", header("retry-after"));
    assert_eq!(classify(&r).retry_after_ms, Some(30_000));
}

#[test]
fn probes_are_answered_outside_the_scripts() {
    let server = Server::builder()
        .key("k1", ["openai.rate_limit", "ok"])
        .start()
        .unwrap();
    let secret = server.secret("k1").unwrap().to_owned();
    let auth = format!("authorization: Bearer {secret}\r\n");
    for path in [
        "/v1/models",
        "/v1/models/gpt-4o",
        "/api/v1/models",
        "/v1beta/models",
        "/health",
    ] {
        let out = raw(
            &server,
            format!("GET {path} HTTP/1.1\r\nhost: t\r\n{auth}connection: close\r\n\r\n").as_bytes(),
        );
        assert!(out.starts_with("HTTP/1.1 200"), "{path}: {out}");
    }
    // The first scripted answer is still the first step.
    let out = raw(
        &server,
        post("/v1/chat/completions", &auth, "{}").as_bytes(),
    );
    assert!(out.starts_with("HTTP/1.1 429"), "{out}");
    let recs = server.records();
    assert_eq!(recs.iter().filter(|r| r.probe).count(), 5);
    assert!(recs.iter().filter(|r| r.probe).all(|r| r.step.is_none()));
    assert_eq!(recs.last().unwrap().step, Some(0));
}

#[test]
fn unknown_and_missing_keys_get_each_dialects_own_refusal() {
    let server = Server::builder()
        .key("k1", ["ok"])
        .secret("sk-real-secret-1")
        .start()
        .unwrap();
    let cases = [
        (
            "/v1/chat/completions",
            "authorization: Bearer sk-wrong\r\n",
            401,
        ),
        ("/v1/chat/completions", "", 401),
        ("/v1/responses", "authorization: Bearer sk-wrong\r\n", 401),
        ("/v1/messages", "x-api-key: sk-wrong\r\n", 401),
        ("/v1/messages", "", 401),
        (
            "/v1beta/models/g:generateContent",
            "x-goog-api-key: bad\r\n",
            400,
        ),
        ("/v1beta/models/g:generateContent", "", 403),
    ];
    for (path, h, status) in cases {
        let out = raw(&server, post(path, h, "{}").as_bytes());
        assert!(
            out.starts_with(&format!("HTTP/1.1 {status}")),
            "{path} {h}: {out}"
        );
        let body = out.split("\r\n\r\n").nth(1).unwrap_or("");
        assert_eq!(
            classify(&Reply::new(status, body)).class,
            keypool::Class::Auth,
            "{body}"
        );
    }
    // `?key=` works like a header.
    let out = raw(
        &server,
        post(
            "/v1beta/models/g:generateContent?key=sk-real-secret-1",
            "",
            "{}",
        )
        .as_bytes(),
    );
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let recs = server.records();
    assert!(recs
        .iter()
        .filter(|r| r.key.is_none())
        .all(|r| r.status.is_some()));
    let wrong = recs.iter().find(|r| r.fingerprint.is_some()).unwrap();
    assert!(wrong.fingerprint.as_deref().unwrap().starts_with("fp:"));
    // No record carries a secret, presented or served.
    let lines: String = recs.iter().map(Record::to_line).collect();
    assert!(!lines.contains("sk-wrong") && !lines.contains("sk-real-secret-1"));
}

#[test]
fn markers_come_from_the_header_or_the_body() {
    let server = Server::builder().key("k1", ["ok"]).start().unwrap();
    let auth = format!("authorization: Bearer {}\r\n", server.secret("k1").unwrap());
    raw(
        &server,
        post(
            "/v1/chat/completions",
            &format!("{auth}x-keypool-request: kp-req-4\r\n"),
            "{}",
        )
        .as_bytes(),
    );
    raw(
        &server,
        post("/v1/chat/completions", &auth, r#"{"user":"kp-req-5"}"#).as_bytes(),
    );
    raw(
        &server,
        post(
            "/v1/messages",
            &format!("x-api-key: {}\r\n", server.secret("k1").unwrap()),
            r#"{"messages":[{"role":"user","content":"hi (kp-req-6)"}]}"#,
        )
        .as_bytes(),
    );
    raw(
        &server,
        post("/v1/chat/completions", &auth, "{}").as_bytes(),
    );
    let got: Vec<Option<u64>> = server.records().iter().map(|r| r.request).collect();
    assert_eq!(got, vec![Some(4), Some(5), Some(6), None]);
}

#[test]
fn bad_http_gets_a_clear_answer_and_a_closed_connection() {
    let config = Config {
        max_body_bytes: 1 << 20,
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let server = Server::builder()
        .key("k1", ["ok"])
        .config(config)
        .start()
        .unwrap();
    let auth = format!("authorization: Bearer {}\r\n", server.secret("k1").unwrap());
    // Not HTTP at all.
    assert!(raw(&server, b"GARBAGE\x00\x01\r\n\r\n").starts_with("HTTP/1.1 400"));
    // A good request, then pipelined junk: the first is answered, then 400 and close.
    let mut two = post("/v1/chat/completions", &auth, "{}").replace("connection: close\r\n", "");
    two.push_str("\x16\x03\x01junk junk\r\n\r\n");
    let out = raw(&server, two.as_bytes());
    assert!(
        out.starts_with("HTTP/1.1 200") && out.contains("HTTP/1.1 400"),
        "{out}"
    );
    // A body over the cap, announced: 413 before a byte of it is read.
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\n{auth}content-length: 104857600\r\n\r\n"
    );
    let out = raw(&server, head.as_bytes());
    assert!(out.starts_with("HTTP/1.1 413"), "{out}");
    // ... and chunked, unannounced.
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\n{auth}transfer-encoding: chunked\r\n\r\n"
    )
    .unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let mut out = Vec::new();
    for _ in 0..40 {
        if write!(s, "{:x}\r\n", chunk.len())
            .and_then(|_| s.write_all(&chunk))
            .and_then(|_| s.write_all(b"\r\n"))
            .is_err()
        {
            break;
        }
    }
    let _ = s.read_to_end(&mut out);
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 413"));
    // Too many headers, and one huge header.
    let many: String = (0..300).map(|i| format!("x-h{i}: v\r\n")).collect();
    let out = raw(
        &server,
        format!("GET /health HTTP/1.1\r\nhost: t\r\n{many}\r\n").as_bytes(),
    );
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    // (Sent without its end: the server answers once its header buffer is full.)
    let huge = format!(
        "GET /health HTTP/1.1\r\nhost: t\r\nx-big: {}",
        "b".repeat(100_000)
    );
    let out = raw(&server, huge.as_bytes());
    assert!(
        out.starts_with("HTTP/1.1 431"),
        "{}",
        &out[..out.len().min(200)]
    );
    // A client that connects and says nothing is dropped after the header timeout.
    let t = Instant::now();
    assert_eq!(raw(&server, b""), "");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    // A body that never finishes arriving: 408.
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\n{auth}content-length: 100\r\n\r\n{{"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    // The server still answers.
    assert!(raw(
        &server,
        post("/v1/chat/completions", &auth, "{}").as_bytes()
    )
    .starts_with("HTTP/1.1 200"));
}

#[test]
fn a_slow_reader_holds_up_nobody() {
    let server = Server::builder()
        .key(
            "k1",
            [keypool::scenario::StepDef {
                template: Some("ok".into()),
                gap_ms: Some(1),
                ..Default::default()
            }],
        )
        .start()
        .unwrap();
    let auth = format!("authorization: Bearer {}\r\n", server.secret("k1").unwrap());
    let mut slow = TcpStream::connect(server.addr()).unwrap();
    slow.write_all(post("/v1/chat/completions", &auth, r#"{"stream":true}"#).as_bytes())
        .unwrap();
    let mut byte = [0u8; 1];
    for _ in 0..5 {
        slow.read_exact(&mut byte).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // Meanwhile another client is answered at once.
        let t = Instant::now();
        let out = raw(
            &server,
            post("/v1/chat/completions", &auth, "{}").as_bytes(),
        );
        assert!(out.starts_with("HTTP/1.1 200") && t.elapsed() < Duration::from_millis(500));
    }
}

#[test]
fn records_reach_the_file_when_the_server_stops() {
    let dir = std::env::temp_dir().join(format!("keypool-serve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("record.jsonl");
    let config = Config {
        record: Some(path.clone()),
        keep_records: false,
        grace: Duration::from_millis(200),
        ..Config::default()
    };
    let server = Server::builder()
        .key("k1", ["ok"])
        .key(
            "k2",
            [keypool::scenario::StepDef {
                template: Some("ok".into()),
                stall_after: Some(1),
                ..Default::default()
            }],
        )
        .config(config)
        .start()
        .unwrap();
    let auth = format!("authorization: Bearer {}\r\n", server.secret("k1").unwrap());
    for _ in 0..50 {
        raw(
            &server,
            post("/v1/chat/completions", &auth, "{}").as_bytes(),
        );
    }
    // A stalled stream is still open when the server stops.
    let mut stalled = TcpStream::connect(server.addr()).unwrap();
    let auth2 = format!("authorization: Bearer {}\r\n", server.secret("k2").unwrap());
    stalled
        .write_all(post("/v1/chat/completions", &auth2, r#"{"stream":true}"#).as_bytes())
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        server.records().is_empty(),
        "records are not kept in memory when told so"
    );
    let t = Instant::now();
    server.shutdown().unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    let text = std::fs::read_to_string(&path).unwrap();
    let recs = keypool::serve::record::read_records(&text).unwrap();
    assert_eq!(recs.len(), 51);
    assert_eq!(recs.iter().filter(|r| r.end == End::Complete).count(), 50);
    assert_eq!(
        recs.iter()
            .find(|r| r.key.as_deref() == Some("k2"))
            .unwrap()
            .end,
        End::Shutdown
    );
}

#[test]
fn a_scenario_that_cannot_be_served_says_why() {
    // Two keys with one secret: refused when the scenario is read (they are one account),
    // and by the server for a scenario built in code, never showing the secret.
    let dup = r#"{"name":"dup","providers":[{"name":"p","keys":[{"label":"a","secret":"sk-dup-secret"},{"label":"b","secret":"sk-dup-secret"}]}],"workload":{"at_ms":[0]}}"#;
    let e = scenario::parse(dup, "test.json").unwrap_err().to_string();
    assert!(
        e.contains("same secret") && !e.contains("sk-dup-secret"),
        "{e}"
    );
    let mut sc = parse(&dup.replacen("sk-dup-secret", "sk-other", 1));
    sc.providers[0].keys[0].secret = Some("sk-dup-secret".into());
    let e = Server::start(&sc).unwrap_err().to_string();
    assert!(
        e.contains("same secret") && !e.contains("sk-dup-secret"),
        "{e}"
    );
    let e = Server::builder()
        .key("k1", ["no.such.template"])
        .start()
        .unwrap_err();
    assert!(e.to_string().contains("unknown template"), "{e}");
    let taken = Server::builder().key("k1", ["ok"]).start().unwrap();
    let e = Server::builder()
        .key("k1", ["ok"])
        .config(Config {
            listen: taken.addr(),
            ..Config::default()
        })
        .start()
        .unwrap_err();
    assert!(e.to_string().contains("cannot listen"), "{e}");
}
