//! `keypool gateway`: keypool's own engine behind a minimal HTTP front that speaks the same APIs
//! as `keypool serve` (OpenAI chat and Responses, Anthropic, Gemini). Each client request is
//! driven by the tokio driver over an [`HttpUpstream`] in the client's own API and framing; the
//! answer is the final upstream reply, whole (a stream is passed on once it has ended, so a cut
//! stream never reaches the client as a success), or, when the request failed with no reply to
//! show, the class that ended it in the client's API with a `retry-after` for the earliest
//! ready key. It is the reference adapter of `keypool conform`: the black-box pipeline run on a
//! program whose decisions are known.

use crate::class::Class;
use crate::conform::config::GatewayConfig;
use crate::dialect::Form;
use crate::driver::http::HttpUpstream;
use crate::driver::{Call, Driver, TransportError, Upstream};
use crate::engine::{Engine, ProviderSpec};
use crate::policy::Policy;
use crate::pool::PoolKey;
use crate::reply::Reply;
use crate::serve::route::{self, Route};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The upstream side: calls in each client request's own form, the last reply kept for the
/// answer.
struct Forwarder {
    http: HttpUpstream,
    /// By tag: the form of the client request, and the last reply its calls got.
    open: Mutex<HashMap<u64, (Form, Option<Reply>)>>,
}

impl Upstream for Forwarder {
    async fn call(&self, call: Call) -> Result<Reply, TransportError> {
        let tag = call.tag.unwrap_or(u64::from(call.req));
        let form = lock(&self.open).get(&tag).map(|e| e.0).unwrap_or_default();
        let r = self.http.call_in(form, call).await;
        if let Some(e) = lock(&self.open).get_mut(&tag) {
            e.1 = r.as_ref().ok().cloned();
        }
        r
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Front {
    driver: Driver<Forwarder>,
    next_tag: AtomicU64,
}

/// The engine, chain and secrets a gateway configuration describes.
pub fn engine_of(cfg: &GatewayConfig) -> Result<(Engine, Vec<Option<String>>), String> {
    // The `preset` option runs a preset instead of the scenario's policy: a gateway whose
    // failover bugs are known, to see `conform` find them.
    let policy: Policy = match cfg.options.get("preset") {
        Some(name) => crate::policy::preset(name)
            .ok_or_else(|| format!("unknown preset `{name}` (see `keypool presets`)"))?,
        None => serde_json::from_value(cfg.policy.clone())
            .map_err(|e| format!("the configuration's policy: {e}"))?,
    };
    let mut providers = Vec::new();
    let mut secrets = Vec::new();
    for p in &cfg.providers {
        let keys = p
            .keys
            .iter()
            .map(|k| {
                secrets.push(Some(k.secret.clone()));
                PoolKey {
                    label: k.label.as_str().into(),
                    priority: k.priority,
                    group: k.group.as_deref().map(Into::into),
                }
            })
            .collect();
        providers.push(ProviderSpec {
            name: p.name.clone(),
            keys,
            strategy: p.strategy,
            fallback_for: p.fallback_for.clone(),
        });
    }
    Ok((Engine::new(providers, policy, cfg.seed), secrets))
}

/// Serves until `stop` resolves.
pub async fn run(
    cfg: GatewayConfig,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let (engine, secrets) = engine_of(&cfg)?;
    let forwarder = Forwarder {
        http: HttpUpstream::new(&cfg.upstream, Form::default()).model(&cfg.model),
        open: Mutex::new(HashMap::new()),
    };
    let front = Arc::new(Front {
        driver: Driver::new(engine, forwarder, secrets),
        // Requests without a marker get tags far from any marker a client would send.
        next_tag: AtomicU64::new(1 << 40),
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", cfg.port))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", cfg.port))?;
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    let http = Arc::new(http);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => return Ok(()),
            a = listener.accept() => {
                let Ok((stream, _)) = a else { continue };
                let (f, h) = (front.clone(), http.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| answer(f.clone(), req));
                    let _ = h.serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        }
    }
}

fn json(status: u16, body: String, extra: Option<(&'static str, String)>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Some((k, v)) = extra {
        if let Ok(v) = hyper::header::HeaderValue::from_str(&v) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

async fn answer(
    front: Arc<Front>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let (dialect, framing) =
        match route::route(method.as_str(), uri.path(), uri.query().unwrap_or("")) {
            Route::Api { dialect, framing } => (dialect, framing),
            Route::Probe(_) => return Ok(json(200, r#"{"status":"ok"}"#.into(), None)),
            _ => {
                return Ok(json(
                    404,
                    r#"{"error":{"message":"not found","type":"invalid_request_error"}}"#.into(),
                    None,
                ))
            }
        };
    let header_marker = req
        .headers()
        .get("x-keypool-request")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = match Limited::new(req.into_body(), 8 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(json(
                413,
                r#"{"error":{"message":"request too large","type":"invalid_request_error"}}"#
                    .into(),
                None,
            ))
        }
    };
    let form = match route::form(dialect, framing, &body) {
        Ok(f) => f,
        Err(m) => {
            let b = crate::sim::render::error_body(dialect, Class::BadRequest, 400, &m);
            return Ok(json(400, b.to_string(), None));
        }
    };
    let tag = route::marker(header_marker.as_deref(), &body)
        .unwrap_or_else(|| front.next_tag.fetch_add(1, Ordering::Relaxed));
    lock(&front.driver.upstream().open).insert(tag, (form, None));
    let outcome = front.driver.execute_tagged(Some(tag)).await;
    let last = lock(&front.driver.upstream().open)
        .remove(&tag)
        .and_then(|e| e.1);
    let now = front.driver.now();
    let retry_after = outcome.ready_at.filter(|_| !outcome.success).map(|t| {
        (
            "retry-after",
            t.saturating_sub(now).div_ceil(1000).max(1).to_string(),
        )
    });
    // The last reply, when it is what ended the request (a success, or the failure itself):
    // the client reads the same bytes the engine read.
    // A failure is never passed on as a 2xx: a 200 that carries one is answered as the error.
    let shows_failure =
        |r: &Reply| !(200..300).contains(&r.status) && crate::classify(r).class == outcome.class;
    if let Some(r) = last.filter(|r| outcome.success || shows_failure(r)) {
        let mut resp = Response::new(Full::new(Bytes::from(r.body)));
        *resp.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_GATEWAY);
        *resp.headers_mut() = crate::serve::http::header_map(&r.headers);
        if let Some((k, v)) = retry_after {
            if let Ok(v) = hyper::header::HeaderValue::from_str(&v) {
                resp.headers_mut().insert(k, v);
            }
        }
        return Ok(resp);
    }
    let (status, msg) = failure_text(outcome.class);
    let b = crate::sim::render::error_body(dialect, outcome.class, status, msg);
    Ok(json(status, b.to_string(), retry_after))
}

/// The status and words of a failure with no upstream reply to show (every key out, a
/// transport failure), such that the classifier reads the same class.
fn failure_text(c: Class) -> (u16, &'static str) {
    match c {
        Class::RateLimit => (
            429,
            "Rate limit reached on every key of the pool (requests per minute).",
        ),
        Class::QuotaExhausted => (
            429,
            "You exceeded your current quota, please check your plan and billing details.",
        ),
        Class::Auth => (
            401,
            "Incorrect API key provided: every key of the pool was refused.",
        ),
        Class::Overloaded => (
            503,
            "The engine is currently overloaded, please try again later.",
        ),
        Class::ContentPolicy => (
            400,
            "Your request was rejected as a result of our safety system.",
        ),
        Class::ContextOverflow => (
            400,
            "This model's maximum context length is exceeded by your messages.",
        ),
        Class::BadRequest | Class::Cancelled => (400, "Invalid request."),
        _ => (
            502,
            "The upstream had an error while processing your request.",
        ),
    }
}
