//! Fuzzing support for the classifier, shared by the `cargo fuzz` target (`fuzz/`), the
//! property tests and the `cargo test` replay of saved crashes, so all three check the same
//! properties on the same decoding of bytes.
//!
//! Bytes become a reply in one of three ways, chosen by the first byte:
//! `0`: the rest is one `keypool classify` JSON line (the corpus fixtures are seeds this way);
//! `1`: a status (2 bytes) and a raw body; anything else: a structured reply drawn with
//! `arbitrary` from realistic fragments (provider error shapes with real codes and messages,
//! retry-after in every form, success bodies, SSE event sequences, nested errors).

use crate::class::{Class, Verdict};
use crate::classify::{classify, MAX_RETRY_AFTER_MS};
use crate::reply::{Reply, Transport};
use arbitrary::{Arbitrary, Unstructured};
use serde_json::{json, Value};

/// A reply to classify, and whether it is a well-formed success with content (which must
/// classify as `success`).
#[derive(Debug, Clone)]
pub struct Case {
    /// The reply.
    pub reply: Reply,
    /// It is a well-formed 200 answer with non-empty content.
    pub must_succeed: bool,
}

/// Decodes fuzzer bytes into a case (see the module docs). Never panics.
///
/// ```
/// let mut line = vec![0u8];
/// line.extend_from_slice(br#"{"status":402,"body":""}"#);
/// let case = keypool::fuzzing::case_from_bytes(&line);
/// assert_eq!(case.reply.status, 402);
/// assert!(keypool::fuzzing::check(&case).is_ok());
/// ```
pub fn case_from_bytes(data: &[u8]) -> Case {
    match data.first() {
        Some(0) => {
            let text = String::from_utf8_lossy(&data[1..]);
            let reply = crate::classify_line::parse_line(&text)
                .map(|(r, _)| r)
                .unwrap_or_else(|_| Reply::new(200, text.into_owned()));
            Case {
                reply,
                must_succeed: false,
            }
        }
        Some(1) => {
            let status = data
                .get(1..3)
                .map_or(200, |b| u16::from_le_bytes([b[0], b[1]]));
            let body = String::from_utf8_lossy(data.get(3..).unwrap_or_default()).into_owned();
            Case {
                reply: Reply::new(status, body),
                must_succeed: false,
            }
        }
        _ => match FuzzReply::arbitrary_take_rest(Unstructured::new(data)) {
            Ok(f) => f.build(),
            Err(_) => Case {
                reply: Reply::new(200, String::from_utf8_lossy(data).into_owned()),
                must_succeed: false,
            },
        },
    }
}

/// The classifier's properties on one case: deterministic, total (one of the eleven classes by
/// construction), retry-after bounded, a well-formed success with content is `success`, and
/// the one-pass readers for common shapes give the verdict the general readers give.
pub fn check(case: &Case) -> Result<Verdict, String> {
    let a = classify(&case.reply);
    let b = classify(&case.reply);
    if a != b {
        return Err(format!("not deterministic: {a:?} then {b:?}"));
    }
    if let Some(ms) = a.retry_after_ms {
        if ms > MAX_RETRY_AFTER_MS {
            return Err(format!(
                "retry-after {ms} ms is beyond the bound {MAX_RETRY_AFTER_MS}"
            ));
        }
    }
    if case.must_succeed && a.class != crate::Class::Success {
        return Err(format!(
            "a well-formed success with content classified as {} ({})",
            a.class, a.reason
        ));
    }
    if (a.class == crate::Class::Success) && a.soft {
        return Err("a success marked as a soft failure".into());
    }
    crate::classify::fast_paths_agree(&case.reply)?;
    Ok(a)
}

/// [`check`] on the case the bytes decode to; for a `keypool classify` line (first byte `0`),
/// also that the one-pass line reader reads it as serde_json does.
///
/// ```
/// let mut line = vec![0u8];
/// line.extend_from_slice(br#"{"status":429,"body":"{\"error\":{}}"}"#);
/// assert!(keypool::fuzzing::check_bytes(&line).is_ok());
/// ```
pub fn check_bytes(data: &[u8]) -> Result<Verdict, String> {
    if let Some((0, line)) = data.split_first() {
        if let Ok(text) = std::str::from_utf8(line) {
            crate::classify_line::readers_agree(text)?;
        }
    }
    check(&case_from_bytes(data))
}

const STATUSES: [u16; 16] = [
    200, 400, 401, 402, 403, 404, 408, 413, 422, 429, 500, 502, 503, 504, 529, 200,
];
const WORDS: [&str; 32] = [
    "insufficient_quota",
    "rate_limit_exceeded",
    "rate_limit_error",
    "invalid_api_key",
    "authentication_error",
    "permission_error",
    "overloaded_error",
    "server_is_overloaded",
    "context_length_exceeded",
    "content_filter",
    "content_policy_violation",
    "invalid_request_error",
    "not_found_error",
    "api_error",
    "server_error",
    "RESOURCE_EXHAUSTED",
    "UNAVAILABLE",
    "INVALID_ARGUMENT",
    "PERMISSION_DENIED",
    "INTERNAL",
    "usage_limit_reached",
    "1113",
    "1302",
    "1305",
    "Arrearage",
    "Throttling.RateQuota",
    "DataInspectionFailed",
    "cancelled",
    "failed",
    "completed",
    "incomplete",
    "requests",
];
const PHRASES: [&str; 24] = [
    "You exceeded your current quota, please check your plan and billing details.",
    "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000.",
    "Rate limit reached on requests per day (RPD)",
    "Request too large: Limit 10000, Requested 25000",
    "Your credit balance is too low",
    "Incorrect API key provided",
    "The server is overloaded",
    "This model's maximum context length is 8192 tokens",
    "Your request was rejected as a result of our safety system",
    "Internal server error",
    "The model does not exist",
    "User location is not supported",
    "This model is currently experiencing high demand",
    "You are using a Trial key, which is limited to 1000 API calls / month",
    "request reached organization max concurrency",
    "Insufficient balance or no resource package",
    "Key limit exceeded (total limit)",
    "Provider returned error",
    "余额不足",
    "请求过于频繁",
    "The usage limit has been reached",
    "Access denied",
    "Model is not ready",
    "",
];

#[derive(Arbitrary, Debug)]
enum Word {
    Known(u8),
    Any(String),
}

impl Word {
    fn text(&self) -> String {
        match self {
            Word::Known(i) => WORDS[*i as usize % WORDS.len()].to_owned(),
            Word::Any(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Message {
    phrase: u8,
    wait: Option<Wait>,
    extra: Option<String>,
}

#[derive(Arbitrary, Debug)]
enum Wait {
    Secs(f32),
    Ms(u32),
    Compound(u8, f32),
    Words(u16),
}

impl Message {
    fn text(&self) -> String {
        let mut s = PHRASES[self.phrase as usize % PHRASES.len()].to_owned();
        match &self.wait {
            Some(Wait::Secs(x)) => s.push_str(&format!(" Please try again in {x}s.")),
            Some(Wait::Ms(x)) => s.push_str(&format!(" Please try again in {x}ms.")),
            Some(Wait::Compound(m, x)) => s.push_str(&format!(" Please try again in {m}m{x}s.")),
            Some(Wait::Words(n)) => s.push_str(&format!(" please try again after {n} seconds")),
            None => {}
        }
        if let Some(e) = &self.extra {
            s.push(' ');
            s.push_str(e);
        }
        s
    }
}

#[derive(Arbitrary, Debug)]
enum Header {
    RetryAfterSecs(u32),
    RetryAfterFloat(f64),
    RetryAfterText(String),
    RetryAfterMs(i64),
    RetryAfterDate {
        date: u32,
        delta: i32,
    },
    Reset {
        which: bool,
        value: String,
        remaining: u8,
    },
    SseContentType,
    JsonContentType,
    /// Anthropic's subscription-window headers.
    Unified {
        window: u8,
        rejected: bool,
        reset: u32,
    },
    Other(String, String),
}

fn http_date(epoch: i64) -> String {
    crate::sim::clock::http_date(epoch)
}

#[derive(Arbitrary, Debug)]
enum Body {
    Empty,
    Text(String),
    Html(String),
    ChatOk(String),
    ChatEmpty,
    OpenAiError {
        typ: Word,
        code: Word,
        message: Message,
    },
    AnthropicError {
        typ: Word,
        message: Message,
    },
    GoogleError {
        code: u16,
        status: Word,
        message: Message,
        quota_id: Option<String>,
        retry_delay: Option<u16>,
    },
    BareMessage {
        code: Option<Word>,
        message: Message,
    },
    Responses {
        status: Word,
        code: Option<Word>,
        message: Message,
        output: Option<String>,
    },
    Gemini {
        finish: Word,
        text: Option<String>,
        block: Option<Word>,
    },
    Anthropic {
        stop: Word,
        text: Option<String>,
    },
    Wrapped {
        provider: bool,
        inner: Box<Body>,
    },
    Sse(Vec<Event>),
    /// An error printed as Python's repr of its JSON (what the OpenAI SDK prints and gateways
    /// relay): as a plain-text body, or inside a JSON error's message.
    PyRepr {
        inner: Box<Body>,
        in_message: bool,
    },
    Nested(u16),
    Fields {
        retry_after: Option<f64>,
        resets_in: Option<i64>,
        resets_at: Option<i64>,
    },
    /// A long body: one fragment repeated (the fuzzer's own inputs are short, and the shapes
    /// that once made a scan quadratic are repetitions).
    Long {
        fragment: Fragment,
        times: u16,
        wrap: u8,
    },
}

/// What a [`Body::Long`] repeats: cues, dates, phrases and codes a scan looks for.
#[derive(Arbitrary, Debug)]
enum Fragment {
    Date,
    ResetDate,
    WaitCue,
    Conditional,
    Phrase(u8),
    Word(Word),
    Escaped,
    /// An unclosed Python dict, for the repr reader.
    PyOpen,
    Raw(String),
}

/// The most a [`Body::Long`] grows to.
const LONG_MAX: usize = 1 << 20;

#[derive(Arbitrary, Debug)]
enum Event {
    ChatDelta(String),
    ChatFinish(Word),
    Done,
    ErrorFrame(Box<Body>),
    Comment(String),
    ResponsesFailed { code: Word, message: Message },
    AnthropicText(String),
    AnthropicStop(Word),
    Raw(String),
}

/// Nested bodies embed their inner body as an escaped string, which doubles in size per level:
/// past this depth the inner body is cut to `{}`.
const MAX_NESTING: u8 = 4;

impl Body {
    fn json(&self) -> String {
        self.json_at(0)
    }

    fn json_at(&self, depth: u8) -> String {
        if depth > MAX_NESTING {
            return "{}".into();
        }
        match self {
            Body::Empty => String::new(),
            Body::Text(s) => s.clone(),
            Body::Html(s) => format!("<html><head><title>{s}</title></head><body>{s}</body></html>"),
            Body::ChatOk(c) => json!({"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":c},"finish_reason":"stop"}]}).to_string(),
            Body::ChatEmpty => json!({"choices":[{"message":{"content":""},"finish_reason":"stop"}]}).to_string(),
            Body::OpenAiError { typ, code, message } => json!({"error":{"message":message.text(),"type":typ.text(),"code":code.text(),"param":null}}).to_string(),
            Body::AnthropicError { typ, message } => json!({"type":"error","error":{"type":typ.text(),"message":message.text()}}).to_string(),
            Body::GoogleError { code, status, message, quota_id, retry_delay } => {
                let mut details = Vec::new();
                if let Some(q) = quota_id {
                    details.push(json!({"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":q}]}));
                }
                if let Some(d) = retry_delay {
                    details.push(json!({"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":format!("{d}s")}));
                }
                json!({"error":{"code":code,"message":message.text(),"status":status.text(),"details":details}}).to_string()
            }
            Body::BareMessage { code, message } => {
                let mut v = json!({"message": message.text()});
                if let Some(c) = code {
                    v["code"] = Value::String(c.text());
                }
                v.to_string()
            }
            Body::Responses { status, code, message, output } => {
                let out: Vec<Value> = output.iter().map(|t| json!({"type":"message","content":[{"type":"output_text","text":t}]})).collect();
                let err = code.as_ref().map(|c| json!({"code":c.text(),"message":message.text()}));
                json!({"object":"response","status":status.text(),"error":err,"output":out}).to_string()
            }
            Body::Gemini { finish, text, block } => {
                let mut v = json!({"candidates":[{"content":{"parts":[{"text":text.clone().unwrap_or_default()}]},"finishReason":finish.text()}]});
                if let Some(b) = block {
                    v["promptFeedback"] = json!({"blockReason": b.text()});
                }
                v.to_string()
            }
            Body::Anthropic { stop, text } => {
                let content: Vec<Value> = text.iter().map(|t| json!({"type":"text","text":t})).collect();
                json!({"type":"message","content":content,"stop_reason":stop.text()}).to_string()
            }
            Body::Wrapped { provider, inner } => {
                let mut e = json!({"message":"Provider returned error","code":429,"metadata":{"raw":inner.json_at(depth + 1)}});
                if *provider {
                    e["metadata"]["provider_name"] = json!("Upstream");
                }
                json!({"error": e}).to_string()
            }
            Body::Sse(events) => {
                let mut s = String::new();
                for e in events.iter().take(64) {
                    s.push_str(&match e {
                        Event::ChatDelta(t) => format!("data: {}", json!({"choices":[{"delta":{"content":t},"finish_reason":null}]})),
                        Event::ChatFinish(w) => format!("data: {}", json!({"choices":[{"delta":{},"finish_reason":w.text()}]})),
                        Event::Done => "data: [DONE]".into(),
                        Event::ErrorFrame(b) => format!("event: error\ndata: {}", b.json_at(depth + 1).replace('\n', " ")),
                        Event::Comment(c) => format!(": {}", c.replace('\n', " ")),
                        Event::ResponsesFailed { code, message } => format!("event: response.failed\ndata: {}", json!({"type":"response.failed","response":{"object":"response","status":"failed","error":{"code":code.text(),"message":message.text()},"output":[]}})),
                        Event::AnthropicText(t) => format!("event: content_block_delta\ndata: {}", json!({"type":"content_block_delta","delta":{"type":"text_delta","text":t}})),
                        Event::AnthropicStop(w) => format!("event: message_delta\ndata: {}", json!({"type":"message_delta","delta":{"stop_reason":w.text()}})),
                        Event::Raw(r) => r.clone(),
                    });
                    s.push_str("\n\n");
                }
                s
            }
            Body::PyRepr { inner, in_message } => {
                let inner = inner.json_at(depth + 1);
                let repr = match serde_json::from_str::<Value>(&inner) {
                    Ok(v) => crate::classify::pyrepr::write(&v),
                    Err(_) => inner,
                };
                if *in_message {
                    json!({"error":{"message":format!("upstream: {repr}"),"type":"upstream_error"}}).to_string()
                } else {
                    format!("Error code: 429 - {repr}")
                }
            }
            Body::Nested(depth) => {
                let d = *depth as usize % 200_000;
                format!("{}{}", "[".repeat(d), "]".repeat(d))
            }
            Body::Long { fragment, times, wrap } => {
                let piece = match fragment {
                    Fragment::Date => "2026-11-30-".to_owned(),
                    Fragment::ResetDate => "resets at 2026-11-30T18:00:00Z ".to_owned(),
                    Fragment::WaitCue => "try again in try again in 1".to_owned(),
                    Fragment::Conditional => "if you retry after ".to_owned(),
                    Fragment::Phrase(i) => PHRASES[*i as usize % PHRASES.len()].to_owned() + " ",
                    Fragment::Word(w) => w.text() + "_",
                    Fragment::Escaped => r#"{\"error\":{\"message\":\""#.to_owned(),
                    Fragment::PyOpen => "{'error': [('a', {'m': '\\'".to_owned(),
                    Fragment::Raw(r) => r.chars().take(64).collect(),
                };
                let n = (*times as usize).min(LONG_MAX / piece.len().max(1));
                let text = piece.repeat(n);
                match wrap % 4 {
                    0 => text,
                    1 => json!({"error":{"message":text,"type":"rate_limit_error"}}).to_string(),
                    2 => {
                        let event = format!("data: {}\n\n", json!({"choices":[{"delta":{"content":piece},"finish_reason":null}]}));
                        event.repeat((n / 4).max(1).min(LONG_MAX / event.len()))
                    }
                    _ => json!({"error":{"message":json!({"error":{"message":text}}).to_string()}}).to_string(),
                }
            }
            Body::Fields { retry_after, resets_in, resets_at } => {
                json!({"error":{"message":"limit","retry_after":retry_after,"resets_in_seconds":resets_in,"resets_at":resets_at}}).to_string()
            }
        }
    }
}

/// A structured reply drawn by the fuzzer.
#[derive(Arbitrary, Debug)]
pub struct FuzzReply {
    status: u8,
    raw_status: Option<u16>,
    headers: Vec<Header>,
    body: Body,
    lead: u8,
}

impl FuzzReply {
    fn build(&self) -> Case {
        let status = self
            .raw_status
            .map_or(STATUSES[self.status as usize % STATUSES.len()], |s| s % 600);
        let mut body = self.body.json();
        if self.lead % 4 == 1 {
            body = format!("\n  {body}");
        }
        let mut r = Reply::new(status, body);
        let mut sse_header = false;
        for h in self.headers.iter().take(16) {
            r = match h {
                Header::RetryAfterSecs(s) => r.header("retry-after", s.to_string()),
                Header::RetryAfterFloat(f) => r.header("retry-after", f.to_string()),
                Header::RetryAfterText(t) => r.header("retry-after", t.clone()),
                Header::RetryAfterMs(ms) => r.header("retry-after-ms", ms.to_string()),
                Header::RetryAfterDate { date, delta } => {
                    let now = *date as i64;
                    r.header("date", http_date(now))
                        .header("retry-after", http_date(now + *delta as i64))
                }
                Header::Reset {
                    which,
                    value,
                    remaining,
                } => {
                    let l = if *which { "tokens" } else { "requests" };
                    r.header(&format!("x-ratelimit-reset-{l}"), value.clone())
                        .header(&format!("x-ratelimit-remaining-{l}"), remaining.to_string())
                }
                Header::SseContentType => {
                    sse_header = true;
                    r.header("content-type", "text/event-stream")
                }
                Header::JsonContentType => r.header("content-type", "application/json"),
                Header::Unified {
                    window,
                    rejected,
                    reset,
                } => {
                    let w = ["", "5h-", "7d-", "7d_opus-", "1m-", "x-"][*window as usize % 6];
                    let status = if *rejected { "rejected" } else { "allowed" };
                    r.header(&format!("anthropic-ratelimit-unified-{w}status"), status)
                        .header(
                            &format!("anthropic-ratelimit-unified-{w}reset"),
                            reset.to_string(),
                        )
                }
                Header::Other(k, v) => r.header(k, v.clone()),
            };
        }
        if matches!(self.body, Body::Sse(_)) && self.lead.is_multiple_of(2) {
            r = r.transport(Transport::Sse);
        }
        let must_succeed = matches!(&self.body, Body::ChatOk(c) if !c.trim().is_empty())
            && status == 200
            && !sse_header
            && !r.is_sse();
        Case {
            reply: r,
            must_succeed,
        }
    }
}

/// The request-side readers of `keypool serve` (routing, credentials, markers) and the body
/// splitter every delivery uses, on arbitrary bytes: the input is split at 0 bytes into a
/// method, a path, a query, a header value and a body.
///
/// ```
/// keypool::fuzzing::check_request(b"POST\0/v1/chat/completions\0key=k\0Bearer kp\0{\"user\":\"kp-req-3\"}").unwrap();
/// ```
#[cfg(feature = "http")]
pub fn check_request(data: &[u8]) -> Result<(), String> {
    use crate::dialect::{pieces, Dialect, Framing};
    use crate::serve::route::{form, marker, presented_key, route};
    let mut parts = data.splitn(5, |b| *b == 0);
    let mut next = || String::from_utf8_lossy(parts.next().unwrap_or(b"")).into_owned();
    let (method, path, query, header) = (next(), next(), next(), next());
    let body: &[u8] = {
        let skip = data.iter().filter(|b| **b == 0).count().min(4);
        let mut at = 0;
        for _ in 0..skip {
            at += data[at..].iter().position(|b| *b == 0).map_or(0, |p| p + 1);
        }
        &data[at.min(data.len())..]
    };
    let r = route(&method, &path, &query);
    if r != route(&method, &path, &query) {
        return Err("routing is not deterministic".into());
    }
    let h =
        |name: &str| (name == "authorization" || name == "x-api-key").then_some(header.as_str());
    if let Some(k) = presented_key(h, &query) {
        if !header.contains(k) && !query.contains(k) {
            return Err(format!(
                "a presented key `{k}` that the request does not hold"
            ));
        }
    }
    let from_body = marker(None, body);
    let has = memchr::memmem::find_iter(body, b"kp-req-")
        .any(|at| body.get(at + 7).is_some_and(u8::is_ascii_digit));
    if from_body.is_some() != has {
        return Err(format!(
            "marker {from_body:?} but a marker in the body: {has}"
        ));
    }
    let _ = marker(Some(&header), body);
    for d in Dialect::ALL {
        let _ = form(d, None, body);
    }
    let text = String::from_utf8_lossy(body);
    for f in [Framing::Whole, Framing::Sse, Framing::JsonArray] {
        if pieces(&text, f).concat() != text {
            return Err(format!("{f:?} pieces do not join back to the body"));
        }
    }
    Ok(())
}

/// Arbitrary events (within and beyond a small chain's keys, providers and requests) checked by
/// every invariant, in every view: the checker judges traces from outside, so it must never
/// panic or run away on one, whatever it says.
///
/// ```
/// keypool::fuzzing::check_trace(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).unwrap();
/// ```
pub fn check_trace(data: &[u8]) -> Result<(), String> {
    use crate::chain::ProviderSpec;
    use crate::invariants::{check, Context, View};
    use crate::policy::Policy;
    use crate::pool::{PoolKey, Strategy};
    use crate::trace::{Decision, Event, WaitKind};
    let mut u = Unstructured::new(data);
    let mut events = Vec::new();
    // Small ids mostly (keys 0..8 of a chain of 6; providers 0..3 of 2), now and then any.
    let small = |u: &mut Unstructured, n: u32| -> u32 {
        match u.int_in_range(0..=15u8).unwrap_or(0) {
            15 => u.arbitrary::<u32>().unwrap_or(0),
            _ => u.int_in_range(0..=n).unwrap_or(0),
        }
    };
    while !u.is_empty() && events.len() < 512 {
        let t = u.int_in_range(0..=200_000u64).unwrap_or(0);
        let req = small(&mut u, 6);
        let key = small(&mut u, 7);
        let provider = small(&mut u, 2);
        let attempt = small(&mut u, 5);
        let class = Class::ALL[u.int_in_range(0..=10usize).unwrap_or(0)];
        let until = t.saturating_add(u.int_in_range(0..=4_000_000u64).unwrap_or(0));
        let e = match u.int_in_range(0..=7u8).unwrap_or(0) {
            0 => Event::RequestStart { t, req, provider },
            1 => Event::Attempt {
                t,
                req,
                attempt,
                provider,
                key,
                probe: u.arbitrary().unwrap_or(false),
            },
            2 => Event::Reply {
                t,
                req,
                attempt,
                key,
                status: u.arbitrary().unwrap_or(0),
                class,
                retry_after_ms: u.arbitrary().unwrap_or(None),
                soft: u.arbitrary().unwrap_or(false),
                partial: false,
                treated_as: None,
                reason: "fuzz",
            },
            3 => Event::Bench {
                t,
                key,
                until,
                reason: class,
                req,
                attempt,
            },
            4 => Event::Disable {
                t,
                key,
                probe_at: u.arbitrary().unwrap_or(None),
                req,
                attempt,
            },
            5 => Event::Restore {
                t,
                key,
                req,
                attempt,
            },
            6 => Event::Decision {
                t,
                req,
                decision: match u.int_in_range(0..=6u8).unwrap_or(0) {
                    0 => Decision::NextKey,
                    1 => Decision::RetrySame,
                    2 => Decision::Wait(WaitKind::Backoff),
                    3 => Decision::Wait(WaitKind::BenchedKey),
                    4 => Decision::Fallback,
                    5 => Decision::Stop,
                    _ => Decision::Done,
                },
                until: u.arbitrary().unwrap_or(None),
                retries: small(&mut u, 4),
                provider,
            },
            _ => Event::RequestEnd {
                t,
                req,
                success: u.arbitrary().unwrap_or(false),
                class,
                attempts: small(&mut u, 5),
                ready_at: u.arbitrary().unwrap_or(None),
            },
        };
        events.push(e);
    }
    let keys = |p: usize| -> Vec<PoolKey> {
        (0..3)
            .map(|i| PoolKey {
                label: format!("p{p}k{i}").into(),
                priority: i,
                group: (i < 2).then(|| "g".into()),
            })
            .collect()
    };
    let providers = vec![
        ProviderSpec {
            name: "a".into(),
            keys: keys(0),
            strategy: Strategy::RoundRobin,
            fallback_for: None,
        },
        ProviderSpec {
            name: "b".into(),
            keys: keys(1),
            strategy: Strategy::LeastUsed,
            fallback_for: Some(vec![Class::ContentPolicy]),
        },
    ];
    let policy = Policy::default();
    for view in [View::Engine, View::Upstream, View::UpstreamAndClient] {
        let ctx = Context {
            providers: &providers,
            policy: &policy,
            view,
        };
        let v = check(&events, &ctx);
        if v.len() > events.len() * 16 + 16 {
            return Err(format!(
                "{} violations from {} events",
                v.len(),
                events.len()
            ));
        }
    }
    // Built from observations, the same events' calls must also judge without a panic.
    let calls: Vec<crate::invariants::observed::ObservedCall> = events
        .iter()
        .filter_map(|e| match *e {
            Event::Reply {
                t,
                req,
                key,
                status,
                class,
                ..
            } => Some(crate::invariants::observed::ObservedCall {
                req: req % 64,
                key,
                sent: t,
                ended: t,
                status,
                verdict: crate::class::Verdict::new(class, "fuzz"),
            }),
            _ => None,
        })
        .collect();
    let observed = crate::invariants::observed::trace(&calls, None, &providers);
    let ctx = Context {
        providers: &providers,
        policy: &policy,
        view: View::Upstream,
    };
    let _ = check(&observed, &ctx);
    Ok(())
}
