//! `cargo bench --bench serve`: `keypool serve` under load on loopback, and wiremock-rs
//! serving the same fixed reply in the same run.
//!
//! - throughput: `wrk` (Debian package `wrk`) with keep-alive, recording on, for a ~250-byte
//!   JSON reply and a ten-event SSE reply, at 64 and 256 connections;
//! - latency at 256 connections under a paced load (10,000 requests/s in all, below
//!   saturation, so the figure is the time added per request rather than queueing);
//! - memory per recorded request, from the process's resident size.
//!
//! `cargo bench --bench serve -- --test` runs every part for a moment (CI's smoke run); without
//! `wrk` it says so and runs the rest. Figures go to stdout as a Markdown table.

use keypool::scenario;
use keypool::serve::{Config, Server};
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHAT_OK: &str = r#"{"id":"chatcmpl-sim","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}}"#;
const BODY: &str = r#"{"model":"mock-model","messages":[{"role":"user","content":"Say hello."}]}"#;

fn scenario_text() -> String {
    let events: Vec<String> = (0..9)
        .map(|i| format!(r#""data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"word{i} \"}},\"finish_reason\":null}}]}}""#))
        .chain(std::iter::once(r#""data: [DONE]""#.to_owned()))
        .collect();
    format!(
        r#"{{"name":"load","latency_ms":0,"providers":[{{"name":"p","keys":[
        {{"label":"json","secret":"sk-json","script":["ok"]}},
        {{"label":"sse","secret":"sk-sse","script":[{{"sse":[{}]}}]}}]}}],"workload":{{"at_ms":[0]}}}}"#,
        events.join(",")
    )
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Wrk {
    rps: f64,
    p50: String,
    p99: String,
}

/// Runs wrk against `url` posting the chat body with `key`.
fn wrk(url: &str, key: &str, conns: u32, secs: u64) -> Option<Wrk> {
    let script = std::env::temp_dir().join(format!("keypool-wrk-{key}.lua"));
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.body = '{BODY}'\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Authorization\"] = \"Bearer {key}\"\n"
        ),
    )
    .ok()?;
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
            "--latency",
            "-s",
            script.to_str()?,
            url,
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find(|l| l.starts_with("Requests/sec:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let pct = |p: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(p))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_owned()
    };
    if text.contains("Non-2xx") {
        eprintln!("wrk saw non-2xx answers:\n{text}");
    }
    Some(Wrk {
        rps,
        p50: pct("50%"),
        p99: pct("99%"),
    })
}

/// 256 keep-alive connections, each sending a request every `interval`; the latency of every
/// request, send to last byte.
async fn paced(
    addr: SocketAddr,
    key: &'static str,
    conns: usize,
    interval: Duration,
    run: Duration,
) -> Vec<Duration> {
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: b\r\ncontent-type: application/json\r\nauthorization: Bearer {key}\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..conns {
        let req = req.clone();
        tasks.spawn(async move {
            let mut lat = Vec::new();
            let Ok(mut s) = tokio::net::TcpStream::connect(addr).await else {
                return lat;
            };
            let _ = s.set_nodelay(true);
            // Spread the connections' ticks over one interval.
            tokio::time::sleep(interval * i as u32 / conns as u32).await;
            let end = Instant::now() + run;
            let mut tick = tokio::time::interval(interval);
            let mut buf = vec![0u8; 16 * 1024];
            while Instant::now() < end {
                tick.tick().await;
                let t = Instant::now();
                if s.write_all(req.as_bytes()).await.is_err() {
                    break;
                }
                // Read the head, then the body by content-length.
                let mut got = 0;
                let (head_end, len) = loop {
                    let Ok(n) = s.read(&mut buf[got..]).await else {
                        return lat;
                    };
                    if n == 0 {
                        return lat;
                    }
                    got += n;
                    if let Some(h) = buf[..got].windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..h]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        break (h + 4, len);
                    }
                };
                while got < head_end + len {
                    let Ok(n) = s.read(&mut buf[got..]).await else {
                        return lat;
                    };
                    if n == 0 {
                        return lat;
                    }
                    got += n;
                }
                lat.push(t.elapsed());
            }
            lat
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.unwrap_or_default());
    }
    all.sort_unstable();
    all
}

fn pct(v: &[Duration], p: f64) -> String {
    if v.is_empty() {
        return "?".into();
    }
    let i = ((v.len() as f64 * p) as usize).min(v.len() - 1);
    format!("{:.2} ms", v[i].as_secs_f64() * 1e3)
}

fn main() {
    let test = std::env::args().any(|a| a == "--test");
    let secs: u64 = if test { 1 } else { 10 };
    let sc = scenario::parse(&scenario_text(), "load.json").expect("the bench scenario reads");
    let record = std::env::temp_dir().join("keypool-serve-bench.jsonl");
    let client_threads = std::env::var("KEYPOOL_BENCH_CLIENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(client_threads)
        .enable_all()
        .build()
        .unwrap();

    // wiremock, serving the same fixed JSON reply (it keeps every request: its default).
    let mock = rt.block_on(async {
        use wiremock::matchers::{method, path};
        let m = wiremock::MockServer::start().await;
        wiremock::Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(
                wiremock::ResponseTemplate::new(200).set_body_raw(CHAT_OK, "application/json"),
            )
            .mount(&m)
            .await;
        m
    });
    let mock_url = format!("{}/v1/chat/completions", mock.uri());

    let workers = std::env::var("KEYPOOL_BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let config = Config {
        record: Some(record.clone()),
        keep_records: false,
        workers,
        ..Config::default()
    };
    let server = Server::with_config(&sc, config).expect("the bench server starts");
    let url = format!("{}/v1/chat/completions", server.uri());

    println!("# keypool serve load bench ({} s per run)\n", secs);
    let has_wrk = Command::new("wrk").arg("--version").output().is_ok();
    if has_wrk {
        println!("| server | reply | connections | requests/s | p50 | p99 |");
        println!("|---|---|---|---|---|---|");
        for conns in [64, 256] {
            for (who, u, key, what) in [
                ("keypool serve", url.as_str(), "sk-json", "JSON"),
                ("keypool serve", url.as_str(), "sk-sse", "SSE, 10 events"),
                ("wiremock 0.6", mock_url.as_str(), "sk-json", "JSON"),
            ] {
                match wrk(u, key, conns, secs) {
                    Some(w) => println!(
                        "| {who} | {what} | {conns} | {:.0} | {} | {} |",
                        w.rps, w.p50, w.p99
                    ),
                    None => println!("| {who} | {what} | {conns} | wrk failed | | |"),
                }
            }
        }
    } else {
        println!("wrk is not installed (Debian: `apt-get install wrk`); throughput not measured");
    }

    // Latency under a paced load below saturation.
    let conns = 256;
    let interval = Duration::from_micros(25_600); // 256 / 25.6 ms = 10,000 requests/s
    println!("\n| server | paced load | requests | p50 | p99 | p99.9 |");
    println!("|---|---|---|---|---|---|");
    let run = Duration::from_secs(secs);
    for (rate, interval) in [("2.5k", interval * 4), ("10k", interval)] {
        for (who, addr) in [
            ("keypool serve", server.addr()),
            ("wiremock 0.6", *mock.address()),
        ] {
            let lat = rt.block_on(paced(addr, "sk-json", conns, interval, run));
            println!(
                "| {who} | 256 conns, {rate} req/s | {} | {} | {} | {} |",
                lat.len(),
                pct(&lat, 0.5),
                pct(&lat, 0.99),
                pct(&lat, 0.999)
            );
        }
    }
    drop(server);
    drop(mock);

    // Memory per recorded request: records kept in memory (the test server), and streamed
    // to a file (the CLI).
    println!("\n| server | records | requests | resident growth | per request |");
    println!("|---|---|---|---|---|");
    let n_paced = Duration::from_secs(secs.max(2));
    for keep in [true, false] {
        let config = Config {
            record: (!keep).then(|| record.clone()),
            keep_records: keep,
            workers: 2,
            ..Config::default()
        };
        let server = Server::with_config(&sc, config).expect("the bench server starts");
        // Warm up (allocator pools, connection buffers), then measure.
        rt.block_on(paced(
            server.addr(),
            "sk-json",
            64,
            Duration::from_millis(2),
            Duration::from_millis(300),
        ));
        let before = (rss_kb(), server.records().len());
        let lat = rt.block_on(paced(
            server.addr(),
            "sk-json",
            64,
            Duration::from_micros(3_200),
            n_paced,
        ));
        let grew = rss_kb().saturating_sub(before.0) * 1024;
        let n = lat.len().max(1);
        println!(
            "| keypool serve | {} | {} | {} KB | {} B |",
            if keep { "in memory" } else { "to a file" },
            n,
            grew / 1024,
            grew / n as u64
        );
    }
    let mock = rt.block_on(async {
        use wiremock::matchers::method;
        let m = wiremock::MockServer::start().await;
        wiremock::Mock::given(method("POST"))
            .respond_with(
                wiremock::ResponseTemplate::new(200).set_body_raw(CHAT_OK, "application/json"),
            )
            .mount(&m)
            .await;
        m
    });
    rt.block_on(paced(
        *mock.address(),
        "sk-json",
        64,
        Duration::from_millis(2),
        Duration::from_millis(300),
    ));
    let before = rss_kb();
    let lat = rt.block_on(paced(
        *mock.address(),
        "sk-json",
        64,
        Duration::from_micros(3_200),
        n_paced,
    ));
    let grew = rss_kb().saturating_sub(before) * 1024;
    println!(
        "| wiremock 0.6 | in memory (its default) | {} | {} KB | {} B |",
        lat.len(),
        grew / 1024,
        grew / lat.len().max(1) as u64
    );
    let _ = std::fs::remove_file(&record);
}
