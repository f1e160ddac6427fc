//! The classifier: one upstream reply in, one [`Verdict`] out.
//!
//! The order in which a verdict is decided (each step names itself in `Verdict::reason`):
//!
//! 1. **Stream or body.** SSE bodies are read event by event ([`sse_events`]); the terminal
//!    failure event decides, else a refusal, else whether any output came and the stream
//!    finished. JSON bodies (leading whitespace allowed) are read by provider family.
//! 2. **Structured fields** of an error: unambiguous codes (`insufficient_quota`,
//!    `context_length_exceeded`, `content_filter`, `server_is_overloaded`, ...), Responses and
//!    run `status`, `finish_reason` / `stop_reason` / `finishReason` / `promptFeedback`.
//! 3. **Specific text rules** over the error's type, code, status and message (and errors
//!    nested inside it): cancelled, content policy, context overflow, region block, quota
//!    (credits, balance, billing, plan usage), auth, overload, then throttles, where the named
//!    window decides rate limit (minute, second, concurrency) against quota (day or longer).
//! 4. **Decisive statuses**: 401, 402, 403, 413, 429, 529 when the text said nothing specific.
//! 5. **Generic text rules**: server errors, invalid requests.
//! 6. **Status alone**, for empty, HTML or unreadable bodies.
//!
//! The retry-after is then taken as `failure-classes.md` orders it (see [`parse_duration`]).
//! Bodies are read up to [`BODY_CAP`] bytes.

mod aho;
mod chunk;
mod envelope;
pub(crate) mod jscan;
mod json;
pub(crate) mod jvalue;
pub(crate) mod pyrepr;
pub(crate) mod retry_after;
mod seen;
mod sse;
mod text;

pub use retry_after::{parse_duration, MAX_RETRY_AFTER_MS};
pub use sse::{sse_events, SseEvent};

use crate::class::{Class, Verdict};
use crate::reply::{Reply, ReplyRef};
use json::{inspect, ErrorFound};
use retry_after::BodyHints;
use text::{Hay, TextCtx};

/// Bodies are read up to this many bytes; the rest is ignored (a longer reply is judged by
/// its first 8 MiB).
pub const BODY_CAP: usize = 8 * 1024 * 1024;

/// Classifies one upstream reply.
///
/// ```
/// use keypool::{classify, Class, Reply};
/// let body = r#"{"id":"r1","object":"response","status":"failed",
///   "error":{"code":"insufficient_quota","message":"You exceeded your current quota"},"output":[]}"#;
/// let v = classify(&Reply::new(200, body));
/// assert_eq!(v.class, Class::QuotaExhausted);
/// assert!(v.soft); // a 200 that carries a failure
/// ```
pub fn classify(reply: &Reply) -> Verdict {
    classify_with(&reply.as_ref(), true)
}

/// [`classify`] for a reply whose parts are borrowed (no copy of the body or headers).
///
/// ```
/// use keypool::{classify::classify_ref, reply::ReplyRef, Class};
/// let headers: [(&str, &str); 0] = [];
/// let r = ReplyRef { status: 402, headers: &headers, body: "", transport: None };
/// assert_eq!(classify_ref(&r).class, Class::QuotaExhausted);
/// ```
pub fn classify_ref<H: AsRef<str>>(reply: &ReplyRef<'_, H>) -> Verdict {
    classify_with(reply, true)
}

/// [`classify`], with the one-pass readers for common shapes on (`fast`) or off (to check
/// them against the general readers).
fn classify_with<H: AsRef<str>>(reply: &ReplyRef<'_, H>, fast: bool) -> Verdict {
    let mut v = classify_reply(reply, fast);
    if v.class != Class::RateLimit {
        return v;
    }
    // Failure rule 8, the window rule wherever the window shows: a requested wait of a day or
    // more, an exhausted limiter named for a day or longer (`x-ratelimit-remaining-requests-day:
    // 0`), or a subscription window of hours or days rejected (Anthropic's unified headers)
    // make a throttle a quota; the wait is unchanged.
    const DAY_MS: u64 = 24 * 3_600_000;
    if v.retry_after_ms.is_some_and(|ms| ms >= DAY_MS) {
        v.class = Class::QuotaExhausted;
        v.reason = "wait: a day or longer (a long window)";
    } else if !reply.headers.is_empty() {
        if retry_after::long_limiter_exhausted(reply) {
            v.class = Class::QuotaExhausted;
            v.reason = "header: a limiter of a day or longer is exhausted";
        } else if retry_after::long_window_rejected(reply) {
            v.class = Class::QuotaExhausted;
            v.reason = "header: subscription window of hours or days rejected";
        }
    }
    v
}

fn classify_reply<H: AsRef<str>>(reply: &ReplyRef<'_, H>, fast: bool) -> Verdict {
    if reply.body.is_empty() && !reply.is_sse() {
        // Status alone (and headers for the wait): the common case of a bare 429 or 503 is
        // decided without touching the body readers.
        let (class, reason) = if is_2xx(reply.status) {
            (Class::EmptySuccess, "empty body")
        } else {
            by_status(reply.status)
        };
        // A success has no wait, whatever its headers say.
        let (retry_after_ms, retry_after_in_header) =
            if reply.headers.is_empty() || class == Class::EmptySuccess {
                (None, false)
            } else {
                retry_after::retry_after(
                    reply,
                    &BodyHints::default(),
                    matches!(class, Class::RateLimit | Class::QuotaExhausted),
                )
            };
        return Verdict {
            class,
            retry_after_ms,
            retry_after_in_header,
            reason,
            soft: is_2xx(reply.status),
            partial_output: false,
            streamed: reply.is_sse(),
        };
    }
    let body = capped(reply.body);
    // A JSON document is read as JSON even when the headers announce a stream (gateways send
    // their own errors with the upstream's content type).
    let json_body = matches!(body.trim_start().as_bytes().first(), Some(b'{' | b'['));
    let (class, reason, hints, partial) = if !json_body && reply.is_sse() {
        classify_sse(reply.status, body, fast)
    } else {
        classify_body(reply, body, fast)
    };
    let (retry_after_ms, retry_after_in_header) =
        if class == Class::Success || class == Class::EmptySuccess {
            (None, false)
        } else {
            retry_after::retry_after(
                reply,
                &hints,
                matches!(class, Class::RateLimit | Class::QuotaExhausted),
            )
        };
    Verdict {
        class,
        retry_after_ms,
        retry_after_in_header,
        reason,
        soft: is_2xx(reply.status) && class != Class::Success,
        partial_output: partial && class != Class::Success,
        streamed: !json_body && reply.is_sse(),
    }
}

fn is_2xx(status: u16) -> bool {
    (200..300).contains(&status)
}

fn capped(body: &str) -> &str {
    if body.len() <= BODY_CAP {
        return body;
    }
    let mut end = BODY_CAP;
    while !body.is_char_boundary(end) {
        end -= 1;
    }
    &body[..end]
}

type Decided = (Class, &'static str, BodyHints, bool);

fn classify_body<H: AsRef<str>>(reply: &ReplyRef<'_, H>, body: &str, fast: bool) -> Decided {
    let status = reply.status;
    let trimmed = body.trim_start();
    if trimmed.is_empty() {
        if is_2xx(status) {
            return (
                Class::EmptySuccess,
                "empty body",
                BodyHints::default(),
                false,
            );
        }
        let (c, r) = by_status(status);
        return (c, r, BodyHints::default(), false);
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if fast {
            // A plain chat answer or a flat error, read without building a tree (never empty:
            // it has `choices` or `error`).
            if let Some(ins) = chunk::read(trimmed).or_else(|| envelope::read(trimmed)) {
                return classify_inspected(reply, ins, false);
            }
        }
        if let Ok(v) = jvalue::parse(trimmed) {
            // Gemini's `streamGenerateContent` without `alt=sse` answers with a JSON array of
            // chunks: read it as the stream it is, so a cut-off or failing one is not a success.
            if let jvalue::J::Array(a) = &v {
                if is_2xx(status)
                    && !a.is_empty()
                    && a.iter().all(|e| matches!(e, jvalue::J::Object(_)))
                {
                    return classify_sse(status, &array_as_sse(trimmed), fast);
                }
            }
            let empty = match &v {
                jvalue::J::Object(m) => m.is_empty(),
                jvalue::J::Array(a) => a.is_empty(),
                jvalue::J::Null => true,
                _ => false,
            };
            return classify_inspected(reply, inspect(&v), empty);
        }
        // Newline-delimited JSON (Ollama streams): one event per line, read like SSE.
        if let Some(events) = ndjson_as_sse(trimmed) {
            return classify_sse(status, &events, fast);
        }
    }
    // HTML, plain text, or JSON we could not read.
    let mut hay = Hay::default();
    hay.push(trimmed);
    let mut hints = BodyHints::default();
    json::hints_from_text(trimmed, &mut hints);
    hints.message_ms = hay.wait_ms();
    if let Some(h) = reply.header_value("x-amzn-errortype") {
        hay.push(h);
    }
    if is_2xx(status) {
        let ctx = TextCtx {
            status,
            ..TextCtx::default()
        };
        if let Some((c, r)) = text::specific(&hay, hay.scan().lists, ctx) {
            if trimmed.starts_with('<') || trimmed.starts_with('{') {
                return (c, r, hints, false);
            }
        }
        if trimmed.starts_with('<') {
            return (Class::ServerError, "HTML page in a 2xx", hints, false);
        }
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            return (
                Class::ServerError,
                "unreadable JSON in a 2xx (truncated?)",
                hints,
                false,
            );
        }
        return (Class::Success, "plain-text 2xx", hints, false);
    }
    // A document printed into the text ("Error code: 429 - {'error': {…}}", JSON or a Python
    // repr): read as a nested error is (failure rule 6), its codes and retry fields counting.
    let mut err = ErrorFound {
        hay,
        ..ErrorFound::default()
    };
    json::nested_json_in_text(trimmed, &mut err, 0);
    let (c, r) = decide_error(&err, status);
    hints.merge(err.hints);
    (c, r, hints, false)
}

/// A JSON array (already known to be valid) rewritten as one SSE `data:` event per element.
fn array_as_sse(body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 64);
    for p in crate::dialect::pieces(body.trim_end(), crate::dialect::Framing::JsonArray) {
        let elem = p.trim_start_matches(['[', ',']).trim();
        if elem.is_empty() || elem == "]" {
            continue;
        }
        out.push_str("data: ");
        out.push_str(elem);
        out.push_str("\n\n");
    }
    out
}

/// A body of several JSON documents, one per line, rewritten as SSE `data:` events; `None`
/// when any non-blank line is not JSON.
fn ndjson_as_sse(body: &str) -> Option<String> {
    let mut out = String::with_capacity(body.len() + 64);
    let mut n = 0;
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        serde_json::from_str::<serde::de::IgnoredAny>(line).ok()?;
        out.push_str("data: ");
        out.push_str(line);
        out.push_str("\n\n");
        n += 1;
    }
    (n > 1).then_some(out)
}

/// Decides a JSON body from what [`inspect`] read; `empty` says the document was `{}`, `[]`
/// or `null`.
fn classify_inspected<H: AsRef<str>>(
    reply: &ReplyRef<'_, H>,
    ins: json::Inspect,
    empty: bool,
) -> Decided {
    let status = reply.status;
    if ins.cancelled {
        return (
            Class::Cancelled,
            "status: cancelled",
            BodyHints::default(),
            false,
        );
    }
    if let Some(mut err) = ins.error {
        if !(err.weak && is_2xx(status)) {
            if let Some(h) = reply.header_value("x-amzn-errortype") {
                err.hay.push(h);
                err.ctx.invalid_type |= text::is_invalid_type(h);
            }
            let (c, r) = decide_error(&err, status);
            return (c, r, err.all_hints(), ins.output);
        }
    }
    if let Some(p) = ins.policy {
        return (Class::ContentPolicy, p, BodyHints::default(), ins.output);
    }
    if !is_2xx(status) {
        // An answer-shaped body with an error status: the status speaks.
        let (c, r) = by_status(status);
        return (c, r, BodyHints::default(), ins.output);
    }
    if ins.failed_finish {
        return (
            Class::ServerError,
            "finish reason: error",
            BodyHints::default(),
            ins.output,
        );
    }
    if ins.known_shape {
        if ins.output {
            return (
                Class::Success,
                "answer with output",
                BodyHints::default(),
                true,
            );
        }
        return (
            Class::EmptySuccess,
            "answer shape with no usable output",
            BodyHints::default(),
            false,
        );
    }
    if empty {
        return (
            Class::EmptySuccess,
            "empty JSON in a 2xx",
            BodyHints::default(),
            false,
        );
    }
    (
        Class::Success,
        "2xx JSON of unknown shape",
        BodyHints::default(),
        false,
    )
}

fn classify_sse(status: u16, body: &str, fast: bool) -> Decided {
    let r = sse::read_stream(body, fast);
    let output = r.acc.output;
    // The terminal failure decides; an earlier, more specific frame is kept when the last one
    // says nothing a rule can read.
    let mut best: Option<(Class, &'static str, BodyHints)> = None;
    for f in &r.failures {
        let (c, why) = decide_error(f, status);
        let informative = !why.starts_with("status") && why != ERROR_IN_2XX;
        if best.is_none() || informative {
            best = Some((c, why, f.all_hints()));
        }
    }
    if let Some((c, why, hints)) = best {
        return (c, why, hints, output);
    }
    if !is_2xx(status) {
        let mut hay = Hay::default();
        hay.push(body);
        let (c, why) = decide_text(&hay, TextCtx::default(), status);
        return (c, why, BodyHints::default(), output);
    }
    if r.acc.cancelled {
        return (
            Class::Cancelled,
            "stream: status cancelled",
            BodyHints::default(),
            output,
        );
    }
    if let Some(p) = r.acc.policy {
        return (Class::ContentPolicy, p, BodyHints::default(), output);
    }
    if r.acc.failed_finish {
        return (
            Class::ServerError,
            "stream: finish reason error",
            BodyHints::default(),
            output,
        );
    }
    if r.malformed {
        // A chunk that is not the JSON it started as lost part of the answer: the text the
        // client got is not the text that was sent (and, with nothing read before it, maybe
        // all of it: a Responses `response.completed` cut and run into the next event).
        return (
            Class::ServerError,
            "stream with a malformed chunk",
            BodyHints::default(),
            output,
        );
    }
    if !output {
        return (
            Class::EmptySuccess,
            "stream ended with no output",
            BodyHints::default(),
            false,
        );
    }
    if !(r.acc.terminal || r.done_marker) {
        return (
            Class::ServerError,
            "stream cut off before it finished",
            BodyHints::default(),
            true,
        );
    }
    (
        Class::Success,
        "stream with output that finished",
        BodyHints::default(),
        true,
    )
}

/// The reason for an error inside a 2xx that says nothing a rule reads.
const ERROR_IN_2XX: &str = "error object inside a 2xx, nothing more specific";

/// Decides the class of an error object.
fn decide_error(e: &ErrorFound, http_status: u16) -> (Class, &'static str) {
    let status = if is_2xx(http_status) {
        // An error inside a 2xx: a code in the body says what status it means; a type that
        // says the request is invalid means a 400 (an Anthropic `event: error` of type
        // `invalid_request_error` mid-stream); none means a server-side failure.
        e.body_status
            .unwrap_or(if e.ctx.invalid_type { 400 } else { 500 })
    } else {
        http_status
    };
    if let Some(c) = e.structured {
        // A wrapped upstream rate limit is the gateway's shared pool, not this key.
        if e.ctx.upstream_wrapped && c.0.is_key_level() {
            return (
                Class::Overloaded,
                "gateway's upstream provider is rate limited",
            );
        }
        return c;
    }
    let d = decide_text(&e.hay, e.ctx, status);
    if is_2xx(http_status) && e.body_status.is_none() && d == by_status(500) {
        // Say why a 200 is a server error: the status the reason would name is not the reply's.
        return (d.0, ERROR_IN_2XX);
    }
    d
}

fn decide_text(hay: &Hay, ctx: TextCtx, status: u16) -> (Class, &'static str) {
    let ctx = TextCtx { status, ..ctx };
    let m = hay.scan().lists;
    // A 4xx typed as an invalid request is the request's fault unless a specific key-level
    // phrase says otherwise (failure rule 10); 401, 402 and 429 are key-level statuses of
    // their own, 408, 413 and 499 say what they are.
    let invalid = ctx.invalid_type
        && (400..500).contains(&status)
        && !matches!(status, 401 | 402 | 408 | 413 | 429 | 499);
    if let Some(d) = text::specific(hay, m, ctx) {
        // The weak key-level rules give way to the type.
        let overruled = match d.1 {
            text::AUTH_WEAK_REASON => {
                Some("type: invalid request (permission words are no key-level signal)")
            }
            text::QUOTA_WEAK_REASON | text::UPSTREAM_QUOTA_WEAK_REASON => {
                Some("type: invalid request (a bare \"quota\" is no key-level signal)")
            }
            text::CREDIT_WORD_REASON => {
                Some("type: invalid request (credits named, no balance or limit stated)")
            }
            _ => None,
        };
        if let (true, Some(why)) = (invalid, overruled) {
            return (Class::BadRequest, why);
        }
        return d;
    }
    if invalid {
        return (
            Class::BadRequest,
            "type: invalid request, no key-level phrase",
        );
    }
    if matches!(status, 401 | 402 | 403 | 413 | 429 | 529) {
        return by_status(status);
    }
    if let Some(d) = text::generic(m) {
        return d;
    }
    by_status(status)
}

/// For the fuzz target and the property tests: the fast paths (`chunk`, `envelope`) must give
/// the verdict the general readers give.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fast_paths_agree(reply: &Reply) -> Result<(), String> {
    let fast = classify_with(&reply.as_ref(), true);
    let general = classify_with(&reply.as_ref(), false);
    if fast != general {
        return Err(format!(
            "a fast path read {fast:?} where the general reader read {general:?}"
        ));
    }
    Ok(())
}

/// The class an HTTP status means when nothing else is known.
///
/// ```
/// use keypool::classify::status_class;
/// assert_eq!(status_class(402), keypool::Class::QuotaExhausted);
/// ```
pub fn status_class(status: u16) -> Class {
    by_status(status).0
}

fn by_status(status: u16) -> (Class, &'static str) {
    match status {
        200..=299 => (Class::Success, "status: 2xx"),
        401 => (Class::Auth, "status: 401"),
        402 => (Class::QuotaExhausted, "status: 402"),
        403 => (Class::Auth, "status: 403"),
        408 => (Class::ServerError, "status: 408 timeout"),
        413 => (Class::ContextOverflow, "status: 413"),
        429 => (Class::RateLimit, "status: 429"),
        499 => (Class::Cancelled, "status: 499 client closed"),
        400..=499 => (Class::BadRequest, "status: 4xx"),
        503 | 529 => (Class::Overloaded, "status: 503/529"),
        500..=599 => (Class::ServerError, "status: 5xx"),
        _ => (Class::ServerError, "status: unexpected"),
    }
}

#[cfg(test)]
mod tests;
