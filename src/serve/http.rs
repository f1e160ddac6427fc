//! The HTTP/1.1 side: accepting connections within their caps, reading a request, answering it
//! from the script, and stopping cleanly.

use super::answers::{self, Fixed};
use super::body::{After, RecordGuard, Rendered, ScriptBody};
use super::record::{End, Record};
use super::route::{self, Route};
use super::{form_slot, Served, FORMS};
use crate::dialect::Dialect;
use crate::sim::delivery::framing_of;
use crate::sim::world::Fault;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// The error a request ends with when the script resets its connection: hyper closes the
/// connection without writing a byte.
#[derive(Debug)]
pub(crate) struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset by the script")
    }
}

impl std::error::Error for Reset {}

/// Accepts until told to stop, then gives responses in flight the grace period and cuts the
/// rest (their records say `shutdown`).
pub(crate) async fn run(listener: std::net::TcpListener, served: Arc<Served>, flushes: bool) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(_) => return,
    };
    let slots = Arc::new(Semaphore::new(served.config.max_connections.max(1)));
    let mut conns = JoinSet::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(served.config.header_timeout)
        .max_buf_size(64 * 1024);
    let builder = Arc::new(builder);
    // Records reach the file within a few milliseconds, one system call per buffer.
    let flusher = flushes.then(|| {
        let s = served.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tick.tick().await;
                s.sink.flush();
            }
        })
    });
    loop {
        tokio::select! {
            _ = served.stopped() => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((s, _)) => s,
                    // Out of descriptors or a connection that died in the backlog: wait a
                    // moment rather than spin.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                };
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let s = served.clone();
                let b = builder.clone();
                conns.spawn(async move {
                    let _permit = permit;
                    let for_requests = s.clone();
                    let svc = hyper::service::service_fn(move |req| handle(for_requests.clone(), req));
                    let conn = b.serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => return,
                        _ = s.stopped() => {}
                    }
                    // Stopping: finish the response in flight (a stalled one ends at once),
                    // then close.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                });
                // Finished connections are reaped as we go, so the set stays small.
                while conns.try_join_next().is_some() {}
            }
        }
    }
    drop(listener);
    let grace = served.config.grace;
    let _ = tokio::time::timeout(grace, async { while conns.join_next().await.is_some() {} }).await;
    conns.shutdown().await;
    if let Some(f) = flusher {
        f.abort();
    }
}

fn method_name(m: &hyper::Method) -> Cow<'static, str> {
    use hyper::Method as M;
    Cow::Borrowed(match *m {
        M::GET => "GET",
        M::POST => "POST",
        M::PUT => "PUT",
        M::DELETE => "DELETE",
        M::HEAD => "HEAD",
        M::OPTIONS => "OPTIONS",
        M::PATCH => "PATCH",
        _ => "OTHER",
    })
}

/// Answers one request.
async fn handle(
    served: Arc<Served>,
    req: Request<Incoming>,
) -> Result<Response<ScriptBody>, Reset> {
    let t = served.now_ms();
    // Clones of the request line's parts are reference counts, not copies.
    let (method, uri) = (req.method().clone(), req.uri().clone());
    let (path, query) = (uri.path(), uri.query().unwrap_or(""));
    let rec = Record {
        t_ms: t,
        key: None,
        fingerprint: None,
        method: method_name(&method),
        path: path.into(),
        dialect: None,
        stream: false,
        request: route::marker(header(req.headers(), "x-keypool-request"), b""),
        probe: false,
        step: None,
        status: None,
        bytes: 0,
        end: End::Complete,
        ended_ms: t,
        client_gone_ms: None,
    };
    let mut guard = RecordGuard::new(served.clone(), rec);
    let method = method.as_str();
    match route::route(method, path, query) {
        Route::Probe(p) => {
            guard.rec().probe = true;
            Ok(fixed(answers::probe(&p), guard, false))
        }
        Route::NotFound => Ok(fixed(answers::not_found(404, method, path), guard, false)),
        Route::MethodNotAllowed => Ok(fixed(answers::not_found(405, method, path), guard, false)),
        Route::Api { dialect, framing } => api(served, req, query, dialect, framing, guard).await,
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// A model call: read the body, find the key, answer from its script.
async fn api(
    served: Arc<Served>,
    req: Request<Incoming>,
    query: &str,
    dialect: Dialect,
    framing: Option<crate::dialect::Framing>,
    mut guard: RecordGuard,
) -> Result<Response<ScriptBody>, Reset> {
    guard.rec().dialect = Some(dialect);
    let (parts, body) = req.into_parts();
    let presented = route::presented_key(|n| header(&parts.headers, n), query).map(str::to_owned);
    let max = served.config.max_body_bytes;
    let declared =
        header(&parts.headers, CONTENT_LENGTH.as_str()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        let msg = format!("the request body is larger than {max} bytes");
        return Ok(fixed(
            answers::request_error(dialect, 413, &msg),
            guard,
            true,
        ));
    }
    let read = tokio::time::timeout(
        served.config.body_timeout,
        Limited::new(body, max).collect(),
    )
    .await;
    let bytes = match read {
        Err(_) => {
            let msg = "the request body did not arrive in time";
            return Ok(fixed(
                answers::request_error(dialect, 408, msg),
                guard,
                true,
            ));
        }
        Ok(Err(e)) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                let msg = format!("the request body is larger than {max} bytes");
                return Ok(fixed(
                    answers::request_error(dialect, 413, &msg),
                    guard,
                    true,
                ));
            }
            // The client went away mid-body: nobody to answer (the guard records it).
            return Err(Reset);
        }
        Ok(Ok(c)) => c.to_bytes(),
    };
    if guard.rec().request.is_none() {
        guard.rec().request = route::marker(None, &bytes);
    }
    let Some(&key) = presented.as_deref().and_then(|p| served.by_secret.get(p)) else {
        guard.rec().fingerprint = presented
            .as_deref()
            .map(|p| crate::pool::fingerprint(p).into());
        return Ok(fixed(
            answers::unknown_key(dialect, presented.is_some()),
            guard,
            false,
        ));
    };
    let k = key as usize;
    guard.rec().key = Some(served.labels[k].clone());
    let form = match route::form(dialect, framing, &bytes) {
        Ok(f) => f,
        Err(msg) => {
            return Ok(fixed(
                answers::request_error(dialect, 400, &msg),
                guard,
                false,
            ))
        }
    };
    guard.rec().stream = form.framing.is_stream();
    let script = &served.scripts[k];
    let idx = {
        let mut cur = served.cursors[k].lock().unwrap_or_else(|p| p.into_inner());
        script.next(&mut cur, served.now_ms())
    };
    guard.rec().step = Some(idx as u32);
    let step = &script.steps[idx];
    let rendered = if step.dated {
        // Placeholders follow the machine's clock, as a real upstream's headers would.
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let reply = step.reply_in(form);
        Arc::new(render(
            &crate::sim::clock::stamp(&reply, now).unwrap_or(reply),
        ))
    } else {
        served.rendered[k][idx * FORMS + form_slot(form)]
            .get_or_init(|| Arc::new(render(&step.reply_in(form))))
            .clone()
    };
    if step.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(step.latency_ms)).await;
    }
    let d = step.delivery;
    let (sent, after) = match d.fault {
        Some(Fault::Reset) => {
            guard.finish(End::Reset);
            return Err(Reset);
        }
        Some(Fault::Cut { after }) => (after as usize, After::Cut),
        Some(Fault::Stall { after }) => (after as usize, After::Stall),
        None => (usize::MAX, After::End),
    };
    guard.rec().status = Some(rendered.status.as_u16());
    let body = ScriptBody::new(
        rendered.clone(),
        sent,
        after,
        Duration::from_millis(d.first_byte_ms),
        Duration::from_millis(d.gap_ms),
        guard,
    );
    Ok(response(&rendered, body, false))
}

/// A reply as the wire carries it.
fn render(r: &crate::Reply) -> Rendered {
    let framing = framing_of(r);
    let pieces = crate::dialect::pieces(&r.body, framing)
        .into_iter()
        .map(|p| Bytes::copy_from_slice(p.as_bytes()))
        .collect();
    let mut headers = header_map(&r.headers);
    if !headers.contains_key(CONTENT_TYPE) && !r.body.is_empty() {
        let ct = if framing == crate::dialect::Framing::Sse {
            "text/event-stream"
        } else {
            "application/json"
        };
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    Rendered {
        status: StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        headers,
        pieces,
        whole: Bytes::copy_from_slice(r.body.as_bytes()),
        sized: !framing.is_stream(),
    }
}

fn response(r: &Rendered, body: ScriptBody, close: bool) -> Response<ScriptBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = r.status;
    *resp.headers_mut() = r.headers.clone();
    if close {
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

/// A fixed answer; `close` ends the connection after it (a body left unread).
fn fixed(a: Fixed, mut guard: RecordGuard, close: bool) -> Response<ScriptBody> {
    guard.rec().status = Some(a.status);
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let body = Bytes::from(a.body);
    let r = Arc::new(Rendered {
        status: StatusCode::from_u16(a.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        headers,
        pieces: vec![body.clone()],
        whole: body,
        sized: true,
    });
    response(&r.clone(), ScriptBody::whole(r, guard), close)
}

/// A reply's headers for hyper to send, less the ones that frame the body (hyper frames it).
pub(crate) fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (k, v) in pairs {
        if matches!(
            k.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            continue;
        }
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_bytes(v.as_bytes()),
        ) {
            headers.append(n, v);
        }
    }
    headers
}
