//! `cargo bench --bench classify`: the classifier on typical replies.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use keypool::{classify, Reply};
use std::hint::black_box;

fn json(status: u16, body: &str) -> Reply {
    Reply::new(status, body).header("content-type", "application/json")
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("classify");
    let cases = [
        (
            "openai_429_tpm",
            json(
                429,
                r#"{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29800, Requested 900. Please try again in 1.8s.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#,
            ),
        ),
        (
            "openai_429_insufficient_quota",
            json(
                429,
                r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
            ),
        ),
        (
            "anthropic_529",
            json(
                529,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CDevA1b2c3d4e5f6g7h8i"}"#,
            ),
        ),
        (
            "anthropic_400_credit",
            json(
                400,
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}"#,
            ),
        ),
        (
            "gemini_503",
            json(
                503,
                r#"{"error":{"code":503,"message":"This model is currently experiencing high demand. Spikes in demand are usually temporary. Please try again later.","status":"UNAVAILABLE"}}"#,
            ),
        ),
        (
            "openrouter_402",
            json(
                402,
                r#"{"error":{"message":"This request requires more credits, or fewer max_tokens. You requested up to 32000 tokens, but can only afford 0.","code":402}}"#,
            ),
        ),
        (
            "chat_200_success",
            json(
                200,
                r#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}"#,
            ),
        ),
        (
            "responses_200_failed",
            json(
                200,
                r#"{"id":"resp_1","object":"response","status":"failed","error":{"code":"insufficient_quota","message":"You exceeded your current quota, please check your plan and billing details."},"output":[]}"#,
            ),
        ),
    ];
    for (name, r) in &cases {
        g.throughput(Throughput::Bytes(r.body.len() as u64));
        g.bench_function(*name, |b| b.iter(|| classify(black_box(r))));
    }
    let mut sse = String::new();
    sse.push_str("data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n");
    for w in ["Hello", " there", ",", " how", " can", " I", " help", "?"] {
        sse.push_str(&format!("data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{w}\"}},\"finish_reason\":null}}]}}\n\n"));
    }
    sse.push_str("data: [DONE]\n\n");
    let r = Reply::new(200, sse).header("content-type", "text/event-stream");
    g.throughput(Throughput::Elements(10));
    g.bench_function("sse_10_events", |b| b.iter(|| classify(black_box(&r))));
    let big = format!(
        r#"{{"choices":[{{"index":0,"message":{{"role":"assistant","content":"{}"}},"finish_reason":"stop"}}]}}"#,
        "lorem ipsum ".repeat(1024 * 1024 / 12)
    );
    let r = json(200, &big);
    g.throughput(Throughput::Bytes(r.body.len() as u64));
    g.bench_function("success_1mb", |b| b.iter(|| classify(black_box(&r))));
    let r = Reply::new(503, "");
    g.throughput(Throughput::Elements(1));
    g.bench_function("status_only", |b| b.iter(|| classify(black_box(&r))));
    g.finish();
}

/// Bodies an upstream could send to stall a classifier: the time per byte must stay flat from
/// 64 KB to 1 MB (every scan is linear; a look-back per match was quadratic).
fn adversarial(c: &mut Criterion) {
    let mut g = c.benchmark_group("classify_adversarial");
    g.sample_size(10);
    let fill = |unit: &str, size: usize| unit.repeat(size / unit.len() + 1)[..size].to_owned();
    for size in [64 * 1024, 1024 * 1024] {
        let cases = [
            // Dates after a reset cue, over and over.
            ("dates", Reply::new(429, format!("resets at {}", fill("2026-11-30 ", size))).header("date", "Mon, 30 Nov 2026 12:00:00 GMT")),
            // Wait cues without a number, and with one.
            ("wait_cues", Reply::new(429, fill("try again in try again in 3s ", size))),
            // An error message that is one long run of phrase fragments.
            ("phrases", json(400, &format!(r#"{{"error":{{"message":"{}"}}}}"#, fill("rate limi quota exce over capac ", size)))),
            // A gateway error wrapping JSON in a string, many times over.
            ("nested", json(502, &format!(r#"{{"error":{{"message":"{}"}}}}"#, fill(r#"{\"error\":{\"message\":\"upstream \"}} "#, size)))),
            // A long SSE stream of chat chunks.
            ("sse", Reply::new(200, fill("data: {\"choices\":[{\"delta\":{\"content\":\"word \"},\"finish_reason\":null}]}\n\n", size)).header("content-type", "text/event-stream")),
        ];
        for (name, r) in cases {
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_function(format!("{name}_{}k", size / 1024), |b| {
                b.iter(|| classify(black_box(&r)))
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench, adversarial);
criterion_main!(benches);
