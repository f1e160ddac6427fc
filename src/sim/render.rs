//! Templates written in any dialect and framing.
//!
//! Every template has a *native* form: the reply [`super::templates::template`] builds, in the
//! provider shape its name says (`anthropic.rate_limit` is an Anthropic error). When a request
//! speaks another API, or asks for a stream, the template's *meaning* is written in that API
//! instead: a rate limit becomes the dialect's own rate-limit error, a success its own answer
//! shape, a 2xx failure its own in-band error event. The class and retry-after stay the same in
//! every form (a test holds every template × dialect × framing to its native verdict), so a
//! scenario means the same thing in the simulator and against `keypool serve`.

use super::templates::{sse_reply, template, TemplateArgs};
use crate::class::Class;
use crate::dialect::{Dialect, Form, Framing};
use crate::reply::{Reply, Transport};
use serde_json::{json, Value};

/// What a template means, whatever it is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    /// A normal answer with text.
    Text,
    /// A well-formed answer with no output.
    Empty,
    /// Some text, then the answer just ends: no finish reason, no terminator.
    Truncated,
    /// A 200 refusal (content filter, safety block).
    Refusal,
    /// An HTTP error status with the dialect's error object.
    Error(Class, u16),
    /// A 200 whose answer is an error.
    Failed(Class),
    /// A 200 with some output, then an error.
    PartialFailed(Class),
    /// Sent as written in every dialect (a proxy's page, an object no other API has).
    AsWritten,
}

/// A template's native form and meaning.
struct Spec {
    native: Form,
    meaning: Meaning,
}

fn spec(name: &str) -> Option<Spec> {
    use Class as C;
    use Meaning as M;
    let chat = Form::new(Dialect::Chat, false);
    let chat_sse = Form::new(Dialect::Chat, true);
    let resp = Form::new(Dialect::Responses, false);
    let anth = Form::new(Dialect::Anthropic, false);
    let gem = Form::new(Dialect::Gemini, false);
    let (native, meaning) = match name {
        "ok" | "chat.ok" => (chat, M::Text),
        "chat.empty" => (chat, M::Empty),
        "chat.sse_ok" => (chat_sse, M::Text),
        "chat.sse_empty" => (chat_sse, M::Empty),
        "chat.sse_cut" => (chat_sse, M::Truncated),
        "responses.ok" => (resp, M::Text),
        "responses.failed_quota" => (resp, M::Failed(C::QuotaExhausted)),
        "responses.failed_partial" => (resp, M::PartialFailed(C::ServerError)),
        "responses.sse_failed" => (
            Form::new(Dialect::Responses, true),
            M::PartialFailed(C::ServerError),
        ),
        "openai.rate_limit" => (chat, M::Error(C::RateLimit, 429)),
        "openai.insufficient_quota" => (chat, M::Error(C::QuotaExhausted, 429)),
        "openai.invalid_key" | "openai.revoked" => (chat, M::Error(C::Auth, 401)),
        "openai.permission" => (chat, M::Error(C::Auth, 403)),
        "openai.server_error" => (chat, M::Error(C::ServerError, 500)),
        "openai.overloaded" => (chat, M::Error(C::Overloaded, 503)),
        "openai.context_length" => (chat, M::Error(C::ContextOverflow, 400)),
        "openai.content_policy" => (chat, M::Error(C::ContentPolicy, 400)),
        "openai.bad_request" => (chat, M::Error(C::BadRequest, 400)),
        "openai.usage_limit" => (chat, M::Error(C::QuotaExhausted, 429)),
        "error200.overloaded" => (chat, M::Failed(C::Overloaded)),
        "anthropic.ok" => (anth, M::Text),
        "anthropic.overloaded" => (anth, M::Error(C::Overloaded, 529)),
        "anthropic.rate_limit" => (anth, M::Error(C::RateLimit, 429)),
        "anthropic.credit" => (anth, M::Error(C::QuotaExhausted, 400)),
        "anthropic.auth" => (anth, M::Error(C::Auth, 401)),
        "anthropic.refusal" => (anth, M::Refusal),
        "gemini.rate_limit" => (gem, M::Error(C::RateLimit, 429)),
        "gemini.daily_quota" => (gem, M::Error(C::QuotaExhausted, 429)),
        "gemini.blocked" => (gem, M::Refusal),
        "openrouter.credits" => (chat, M::Error(C::QuotaExhausted, 402)),
        "zai.overloaded_429" => (chat, M::Error(C::Overloaded, 429)),
        "http.402" | "http.403" | "http.503" | "http.504" | "assistants.cancelled" => {
            (chat, M::AsWritten)
        }
        _ => return None,
    };
    Some(Spec { native, meaning })
}

/// The error text of a template, with its stated wait, as any dialect writes it. Signals the
/// native form carries outside its message (a quota id, a reset field) are put in words.
fn message(name: &str, a: TemplateArgs) -> String {
    let wait = |s: Option<f64>| {
        s.map(|s| format!(" Please try again in {}s.", super::templates::trim_float(s)))
            .unwrap_or_default()
    };
    match name {
        "openai.rate_limit" => format!("{}{}", super::templates::OPENAI_TPM, wait(a.wait_s)),
        "openai.insufficient_quota" | "responses.failed_quota" => {
            super::templates::OPENAI_QUOTA.into()
        }
        "openai.invalid_key" => "Incorrect API key provided: sk-sim***. You can find your API key at https://platform.openai.com/account/api-keys.".into(),
        "openai.revoked" => "Your authentication token has been invalidated. Please try signing in again.".into(),
        "openai.permission" => "Project `proj_sim` does not have access to model `gpt-4o`".into(),
        "openai.server_error" => "The server had an error while processing your request. Sorry about that!".into(),
        "openai.overloaded" => "The engine is currently overloaded, please try again later".into(),
        "openai.context_length" => "This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.".into(),
        "openai.content_policy" => "Your request was rejected as a result of our safety system.".into(),
        "openai.bad_request" => "Invalid value for 'temperature': expected a number.".into(),
        "openai.usage_limit" => format!(
            "The usage limit has been reached.{}",
            wait(Some(a.wait_s.unwrap_or(super::templates::USAGE_RESET_S)))
        ),
        "error200.overloaded" => "Our servers are currently overloaded. Please try again later.".into(),
        "responses.failed_partial" | "responses.sse_failed" => "An error occurred while processing your request.".into(),
        "anthropic.overloaded" => "Overloaded".into(),
        "anthropic.rate_limit" => "This request would exceed the rate limit for your organization of 8,000 output tokens per minute.".into(),
        "anthropic.credit" => "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.".into(),
        "anthropic.auth" => "invalid x-api-key".into(),
        "gemini.rate_limit" => format!(
            "You exceeded your current quota of requests per minute.{}",
            wait(a.wait_s)
        ),
        "gemini.daily_quota" => "You exceeded your current quota of requests per day, please check your plan and billing details.".into(),
        "openrouter.credits" => "This request requires more credits, or fewer max_tokens. You requested up to 4096 tokens, but can only afford 0.".into(),
        "zai.overloaded_429" => "The service may be temporarily overloaded, please try again later".into(),
        _ => String::new(),
    }
}

/// The OpenAI error `type` and `code` for a class.
fn openai_fields(class: Class, status: u16) -> (&'static str, Option<&'static str>) {
    match class {
        Class::RateLimit => ("requests", Some("rate_limit_exceeded")),
        Class::QuotaExhausted => ("insufficient_quota", Some("insufficient_quota")),
        Class::Auth if status == 403 => ("invalid_request_error", Some("permission_denied")),
        Class::Auth => ("invalid_request_error", Some("invalid_api_key")),
        Class::ContextOverflow => ("invalid_request_error", Some("context_length_exceeded")),
        Class::ContentPolicy => ("invalid_request_error", Some("content_policy_violation")),
        Class::BadRequest => ("invalid_request_error", Some("invalid_value")),
        _ => ("server_error", None),
    }
}

/// Anthropic's error `type` for a class.
fn anthropic_type(class: Class, status: u16) -> &'static str {
    match class {
        Class::RateLimit => "rate_limit_error",
        Class::QuotaExhausted => "billing_error",
        Class::Auth if status == 403 => "permission_error",
        Class::Auth => "authentication_error",
        Class::Overloaded => "overloaded_error",
        Class::ServerError => "api_error",
        _ => "invalid_request_error",
    }
}

/// Gemini's (Google RPC) error `status` for a class.
fn gemini_status(class: Class, status: u16) -> &'static str {
    match class {
        Class::RateLimit | Class::QuotaExhausted => "RESOURCE_EXHAUSTED",
        Class::Auth if status == 403 => "PERMISSION_DENIED",
        Class::Auth => "UNAUTHENTICATED",
        Class::Overloaded => "UNAVAILABLE",
        Class::ServerError => "INTERNAL",
        _ => "INVALID_ARGUMENT",
    }
}

/// The dialect's error object for a class, with this text.
pub(crate) fn error_body(d: Dialect, class: Class, status: u16, msg: &str) -> Value {
    match d {
        Dialect::Chat | Dialect::Responses => {
            let (t, code) = openai_fields(class, status);
            json!({"error": {"message": msg, "type": t, "param": null, "code": code}})
        }
        Dialect::Anthropic => {
            json!({"type": "error", "error": {"type": anthropic_type(class, status), "message": msg}})
        }
        Dialect::Gemini => {
            let mut v = json!({"error": {"code": status, "message": msg, "status": gemini_status(class, status)}});
            // Google says "out of allowance" with the quota's window, not with words.
            if class == Class::QuotaExhausted {
                v["error"]["details"] = json!([{"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [{"quotaId": "GenerateRequestsPerDayPerProjectPerModel"}]}]);
            }
            v
        }
    }
}

fn json_reply(status: u16, body: String) -> Reply {
    Reply::new(status, body)
        .header("content-type", "application/json")
        .transport(Transport::Http)
}

/// A template's reply written in `form`, or `None` for an unknown name. The native form is the
/// template's own reply, byte for byte.
///
/// ```
/// use keypool::dialect::{Dialect, Form};
/// use keypool::sim::render::render;
/// use keypool::sim::templates::TemplateArgs;
/// use keypool::{classify, Class};
/// let r = render("openai.rate_limit", TemplateArgs { wait_s: Some(2.0) }, Form::new(Dialect::Anthropic, true)).unwrap();
/// assert!(r.body.contains("rate_limit_error"));
/// let v = classify(&r);
/// assert_eq!((v.class, v.retry_after_ms), (Class::RateLimit, Some(2000)));
/// ```
pub fn render(name: &str, a: TemplateArgs, form: Form) -> Option<Reply> {
    let s = spec(name)?;
    let same_dialect = s.native.dialect == form.dialect;
    let native_errors = matches!(s.meaning, Meaning::Error(..)) && same_dialect;
    if s.native == form || native_errors || s.meaning == Meaning::AsWritten {
        return template(name, a);
    }
    Some(match s.meaning {
        Meaning::Error(class, status) => {
            let body = error_body(form.dialect, class, status, &message(name, a));
            json_reply(status, body.to_string())
        }
        Meaning::Text => answer(form, Answer::Text),
        Meaning::Empty => answer(form, Answer::Empty),
        Meaning::Truncated => answer(form, Answer::Truncated),
        Meaning::Refusal => answer(form, Answer::Refusal),
        Meaning::Failed(class) => failed(form, class, &message(name, a), false),
        Meaning::PartialFailed(class) => failed(form, class, &message(name, a), true),
        Meaning::AsWritten => unreachable!("returned above"),
    })
}

/// The class a template means (the native reply classifies as this; so does every form).
pub fn meant_class(name: &str) -> Option<Class> {
    Some(match spec(name)?.meaning {
        Meaning::Text => Class::Success,
        Meaning::Empty => Class::EmptySuccess,
        Meaning::Truncated => Class::ServerError,
        Meaning::Refusal => Class::ContentPolicy,
        Meaning::Error(c, _) | Meaning::Failed(c) | Meaning::PartialFailed(c) => c,
        Meaning::AsWritten => {
            return template(name, TemplateArgs::default()).map(|r| crate::classify(&r).class)
        }
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Answer {
    Text,
    Empty,
    Truncated,
    Refusal,
}

const TEXT: [&str; 2] = ["Hello!", " How can I help?"];

/// Cuts a whole JSON body in the middle: what a client holds when the answer just stops.
fn truncated(r: Reply) -> Reply {
    let mut cut = r.body.len() / 2;
    while !r.body.is_char_boundary(cut) {
        cut += 1;
    }
    let body = r.body[..cut].to_owned();
    Reply { body, ..r }
}

fn sse(events: Vec<String>) -> Reply {
    sse_reply(&events)
}

fn data(v: &Value) -> String {
    format!("data: {v}")
}

fn named(name: &str, v: &Value) -> String {
    format!("event: {name}\ndata: {v}")
}

/// A success-like answer in `form`.
fn answer(form: Form, a: Answer) -> Reply {
    let n = |t: &str| template(t, TemplateArgs::default()).expect("a built-in template");
    match (form.dialect, form.framing.is_stream(), a) {
        (_, false, Answer::Truncated) => truncated(answer(form, Answer::Text)),
        (Dialect::Chat, false, Answer::Text) => n("chat.ok"),
        (Dialect::Chat, false, Answer::Empty) => n("chat.empty"),
        (Dialect::Chat, true, Answer::Text) => n("chat.sse_ok"),
        (Dialect::Chat, true, Answer::Empty) => n("chat.sse_empty"),
        (Dialect::Chat, true, Answer::Truncated) => n("chat.sse_cut"),
        (Dialect::Chat, stream, Answer::Refusal) => {
            if stream {
                sse(vec![
                    data(&chat_chunk(
                        json!({"role": "assistant", "content": ""}),
                        "content_filter",
                    )),
                    "data: [DONE]".into(),
                ])
            } else {
                json_reply(200, json!({"id": "chatcmpl-sim", "object": "chat.completion", "created": 1_764_500_000, "model": "gpt-4o",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": null}, "finish_reason": "content_filter"}]}).to_string())
            }
        }
        (Dialect::Responses, false, Answer::Text) => n("responses.ok"),
        (Dialect::Responses, false, Answer::Empty) => {
            json_reply(200, response_obj("completed", None, None).to_string())
        }
        (Dialect::Responses, false, Answer::Refusal) => {
            json_reply(200, refused_response().to_string())
        }
        (Dialect::Responses, true, a) => {
            let text = TEXT.concat();
            let mut ev = responses_opening();
            if matches!(a, Answer::Text | Answer::Truncated) {
                ev.extend(TEXT.iter().map(|t| responses_delta(t)));
            }
            let (name, last) = match a {
                Answer::Text => (
                    "response.completed",
                    response_obj("completed", Some(&text), None),
                ),
                Answer::Empty => ("response.completed", response_obj("completed", None, None)),
                Answer::Refusal => ("response.incomplete", refused_response()),
                Answer::Truncated => return sse(ev),
            };
            ev.push(named(name, &json!({"type": name, "response": last})));
            sse(ev)
        }
        (Dialect::Anthropic, false, Answer::Text) => n("anthropic.ok"),
        (Dialect::Anthropic, false, Answer::Empty) => json_reply(
            200,
            anthropic_msg(json!([]), Some("end_turn"), 0).to_string(),
        ),
        (Dialect::Anthropic, false, Answer::Refusal) => n("anthropic.refusal"),
        (Dialect::Anthropic, true, a) => {
            let mut ev = vec![named(
                "message_start",
                &json!({"type": "message_start", "message": anthropic_msg(json!([]), None, 0)}),
            )];
            if matches!(a, Answer::Text | Answer::Truncated) {
                ev.push(named("content_block_start", &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
                for t in TEXT {
                    ev.push(named("content_block_delta", &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}})));
                }
            }
            if a != Answer::Truncated {
                if a == Answer::Text {
                    ev.push(named(
                        "content_block_stop",
                        &json!({"type": "content_block_stop", "index": 0}),
                    ));
                }
                let stop = if a == Answer::Refusal {
                    "refusal"
                } else {
                    "end_turn"
                };
                ev.push(named("message_delta", &json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": if a == Answer::Text { 7 } else { 0 }}})));
                ev.push(named("message_stop", &json!({"type": "message_stop"})));
            }
            sse(ev)
        }
        (Dialect::Gemini, false, Answer::Text) => {
            json_reply(200, gemini_chunk(&TEXT.concat(), Some("STOP")).to_string())
        }
        (Dialect::Gemini, false, Answer::Empty) => {
            json_reply(200, gemini_chunk("", Some("STOP")).to_string())
        }
        (Dialect::Gemini, false, Answer::Refusal) => n("gemini.blocked"),
        (Dialect::Gemini, true, a) => {
            let chunks: Vec<Value> =
                match a {
                    Answer::Text => vec![
                        gemini_chunk(TEXT[0], None),
                        gemini_chunk(TEXT[1], Some("STOP")),
                    ],
                    Answer::Truncated => vec![gemini_chunk(TEXT[0], None)],
                    Answer::Empty => vec![gemini_chunk("", Some("STOP"))],
                    Answer::Refusal => vec![serde_json::from_str(&n("gemini.blocked").body)
                        .expect("the template is JSON")],
                };
            gemini_stream(form.framing, chunks)
        }
    }
}

/// A 200 that carries an error of `class`, after some output when `partial`.
fn failed(form: Form, class: Class, msg: &str, partial: bool) -> Reply {
    let err = error_body(form.dialect, class, 200, msg);
    let stream = form.framing.is_stream();
    match form.dialect {
        Dialect::Chat => {
            if stream {
                let mut ev = Vec::new();
                if partial {
                    ev.push(data(&chat_chunk(
                        json!({"role": "assistant", "content": "The first half of an ans"}),
                        "",
                    )));
                }
                ev.push(data(&err));
                sse(ev)
            } else if partial {
                let mut v = json!({"id": "chatcmpl-sim", "object": "chat.completion", "created": 1_764_500_000, "model": "gpt-4o",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "The first half of an ans"}, "finish_reason": null}]});
                v["error"] = err["error"].clone();
                json_reply(200, v.to_string())
            } else {
                json_reply(200, err.to_string())
            }
        }
        Dialect::Responses => {
            let code = openai_fields(class, 200).1.unwrap_or("server_error");
            let text = partial.then_some("The first half of an ans");
            let obj = response_obj("failed", text, Some((code, msg)));
            if stream {
                let mut ev = responses_opening();
                ev.extend(text.map(responses_delta));
                ev.push(named(
                    "response.failed",
                    &json!({"type": "response.failed", "response": obj}),
                ));
                sse(ev)
            } else {
                json_reply(200, obj.to_string())
            }
        }
        Dialect::Anthropic => {
            if stream {
                let mut ev = vec![named(
                    "message_start",
                    &json!({"type": "message_start", "message": anthropic_msg(json!([]), None, 0)}),
                )];
                if partial {
                    ev.push(named("content_block_start", &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
                    ev.push(named("content_block_delta", &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "The first half of an ans"}})));
                }
                ev.push(named("error", &err));
                sse(ev)
            } else {
                json_reply(200, err.to_string())
            }
        }
        Dialect::Gemini => {
            if stream {
                let mut chunks = Vec::new();
                if partial {
                    chunks.push(gemini_chunk("The first half of an ans", None));
                }
                chunks.push(err);
                gemini_stream(form.framing, chunks)
            } else {
                json_reply(200, err.to_string())
            }
        }
    }
}

fn chat_chunk(delta: Value, finish: &str) -> Value {
    let finish = if finish.is_empty() {
        Value::Null
    } else {
        Value::from(finish)
    };
    json!({"id": "chatcmpl-sim", "object": "chat.completion.chunk", "created": 1_764_500_000, "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

/// The events a Responses stream opens with.
fn responses_opening() -> Vec<String> {
    let r = response_obj("in_progress", None, None);
    vec![
        named(
            "response.created",
            &json!({"type": "response.created", "response": r}),
        ),
        named(
            "response.in_progress",
            &json!({"type": "response.in_progress", "response": r}),
        ),
    ]
}

fn responses_delta(t: &str) -> String {
    named(
        "response.output_text.delta",
        &json!({"type": "response.output_text.delta", "item_id": "msg_sim", "output_index": 0, "content_index": 0, "delta": t}),
    )
}

fn response_obj(status: &str, text: Option<&str>, error: Option<(&str, &str)>) -> Value {
    super::templates::responses_object(status, text, error)
}

fn refused_response() -> Value {
    let mut v = response_obj("incomplete", None, None);
    v["incomplete_details"] = json!({"reason": "content_filter"});
    v
}

fn anthropic_msg(content: Value, stop: Option<&str>, out_tokens: u32) -> Value {
    json!({"id": "msg_sim", "type": "message", "role": "assistant", "model": "claude-sim",
        "content": content, "stop_reason": stop, "stop_sequence": null,
        "usage": {"input_tokens": 5, "output_tokens": out_tokens}})
}

fn gemini_chunk(text: &str, finish: Option<&str>) -> Value {
    let mut cand = json!({"content": {"parts": [{"text": text}], "role": "model"}, "index": 0});
    if let Some(f) = finish {
        cand["finishReason"] = Value::from(f);
    }
    json!({"candidates": [cand], "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 7, "totalTokenCount": 12}})
}

/// Gemini's stream: SSE with `alt=sse`, a JSON array otherwise.
fn gemini_stream(framing: Framing, chunks: Vec<Value>) -> Reply {
    if framing == Framing::JsonArray {
        let parts: Vec<String> = chunks.iter().map(Value::to_string).collect();
        json_reply(200, format!("[{}]", parts.join(",")))
    } else {
        sse(chunks.iter().map(data).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify;
    use crate::sim::templates::TEMPLATES;

    fn forms() -> Vec<Form> {
        let mut v = Vec::new();
        for d in Dialect::ALL {
            v.push(Form::new(d, false));
            v.push(Form::new(d, true));
        }
        v.push(Form {
            dialect: Dialect::Gemini,
            framing: Framing::JsonArray,
        });
        v
    }

    #[test]
    fn every_template_means_the_same_in_every_dialect_and_framing() {
        let mut bad = Vec::new();
        for (name, _) in TEMPLATES {
            for wait_s in [None, Some(3.0)] {
                let a = TemplateArgs { wait_s };
                let native = classify(&template(name, a).unwrap());
                assert_eq!(Some(native.class), meant_class(name), "{name}");
                for f in forms() {
                    let r = render(name, a, f).unwrap();
                    let v = classify(&r);
                    if (v.class, v.retry_after_ms) != (native.class, native.retry_after_ms) {
                        bad.push(format!(
                            "{name} {wait_s:?} as {f:?}: {} {:?} ({}) but native {} {:?}\n   {}",
                            v.class,
                            v.retry_after_ms,
                            v.reason,
                            native.class,
                            native.retry_after_ms,
                            r.body
                        ));
                    }
                }
            }
        }
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }

    #[test]
    fn the_native_form_is_the_template_itself() {
        for (name, _) in TEMPLATES {
            let s = spec(name).unwrap();
            let a = TemplateArgs::default();
            assert_eq!(render(name, a, s.native), template(name, a), "{name}");
        }
        assert!(render("nope", TemplateArgs::default(), Form::default()).is_none());
    }

    #[test]
    fn forms_are_written_in_their_dialect() {
        let a = TemplateArgs::default();
        let r = render("ok", a, Form::new(Dialect::Anthropic, true)).unwrap();
        assert!(r.body.starts_with("event: message_start") && r.body.contains("message_stop"));
        let r = render("ok", a, Form::new(Dialect::Responses, true)).unwrap();
        assert!(r.body.contains("response.completed"));
        let r = render(
            "responses.failed_quota",
            a,
            Form::new(Dialect::Responses, true),
        )
        .unwrap();
        assert!(r.body.contains("response.created") && r.body.contains("response.failed"));
        let r = render("ok", a, Form::new(Dialect::Chat, true)).unwrap();
        assert!(r.body.trim_end().ends_with("data: [DONE]"));
        let r = render("anthropic.rate_limit", a, Form::new(Dialect::Gemini, false)).unwrap();
        assert!(r.body.contains("RESOURCE_EXHAUSTED") && r.status == 429);
        let r = render("http.504", a, Form::new(Dialect::Anthropic, true)).unwrap();
        assert!(r.body.contains("504 Gateway Time-out"), "sent as written");
    }
}
