//! Named reply templates, so scenarios stay short: `openai.rate_limit`,
//! `responses.failed_quota`, `chat.empty`, `anthropic.overloaded`, ...
//! Each is a realistic reply in its provider's own shape; the classifier reads it like any other.

use crate::reply::{Reply, Transport};

/// Parameters a template may take.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TemplateArgs {
    /// Seconds to say in the body's "try again in" / reset fields, where the template has one.
    pub wait_s: Option<f64>,
}

fn json(status: u16, body: &str) -> Reply {
    Reply::new(status, body)
        .header("content-type", "application/json")
        .transport(Transport::Http)
}

/// A 200 event stream of these events (each one event's lines).
pub fn sse_reply<S: AsRef<str>>(events: &[S]) -> Reply {
    let mut body = String::new();
    for e in events {
        body.push_str(e.as_ref());
        body.push_str("\n\n");
    }
    Reply::new(200, body)
        .header("content-type", "text/event-stream")
        .transport(Transport::Sse)
}

/// The text of `openai.rate_limit` before its stated wait.
pub(crate) const OPENAI_TPM: &str = "Rate limit reached for gpt-4o in organization org-sim on tokens per min (TPM): Limit 30000, Used 29800, Requested 900.";
/// The text of OpenAI's quota errors.
pub(crate) const OPENAI_QUOTA: &str =
    "You exceeded your current quota, please check your plan and billing details.";
/// The reset `openai.usage_limit` states when given no wait (seconds).
pub(crate) const USAGE_RESET_S: f64 = 18_000.0;

const CHAT_OK: &str = r#"{"id":"chatcmpl-sim","object":"chat.completion","created":1764500000,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}}"#;

/// Every template name with a one-line description.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("ok", "200 chat completion with text"),
    ("chat.ok", "200 chat completion with text"),
    ("chat.empty", "200 chat completion with empty content"),
    ("chat.sse_ok", "200 chat stream with text, then [DONE]"),
    (
        "chat.sse_empty",
        "200 chat stream with `choices: []`, then [DONE]",
    ),
    (
        "chat.sse_cut",
        "200 chat stream with text that stops without a finish",
    ),
    ("responses.ok", "200 Responses object, completed with text"),
    (
        "responses.failed_quota",
        "200 Responses `status: failed`, insufficient_quota",
    ),
    (
        "responses.failed_partial",
        "200 Responses `status: failed` with one partial output item",
    ),
    (
        "responses.sse_failed",
        "200 Responses stream ending in response.failed (server_error)",
    ),
    (
        "openai.rate_limit",
        "429 rate_limit_exceeded, tokens per minute (wait_s: 'try again in')",
    ),
    ("openai.insufficient_quota", "429 insufficient_quota"),
    ("openai.invalid_key", "401 invalid_api_key"),
    ("openai.revoked", "401 token_invalidated (revoked)"),
    ("openai.permission", "403 permission: project has no access"),
    ("openai.server_error", "500 server_error"),
    ("openai.overloaded", "503 engine overloaded"),
    ("openai.context_length", "400 context_length_exceeded"),
    ("openai.content_policy", "400 content_policy_violation"),
    ("openai.bad_request", "400 invalid parameter"),
    (
        "openai.usage_limit",
        "429 usage_limit_reached with resets_in_seconds (wait_s)",
    ),
    (
        "error200.overloaded",
        "200 whose body is an error object: server_is_overloaded",
    ),
    ("anthropic.ok", "200 Anthropic message with text"),
    ("anthropic.overloaded", "529 overloaded_error"),
    (
        "anthropic.rate_limit",
        "429 rate_limit_error, output tokens per minute",
    ),
    ("anthropic.credit", "400 credit balance too low"),
    ("anthropic.auth", "401 authentication_error"),
    ("anthropic.refusal", "200 message with stop_reason refusal"),
    (
        "gemini.rate_limit",
        "429 RESOURCE_EXHAUSTED per-minute quota with RetryInfo (wait_s)",
    ),
    ("gemini.daily_quota", "429 RESOURCE_EXHAUSTED per-day quota"),
    ("gemini.blocked", "200 promptFeedback.blockReason"),
    ("http.402", "402 with an empty body"),
    ("http.403", "403 Forbidden, plain body"),
    ("http.503", "503 with an empty body"),
    ("http.504", "504 nginx HTML page"),
    ("openrouter.credits", "402 more credits required"),
    (
        "zai.overloaded_429",
        "429 'service may be temporarily overloaded'",
    ),
    ("assistants.cancelled", "200 run with status cancelled"),
];

/// Builds a template's reply, or `None` for an unknown name.
///
/// ```
/// use keypool::sim::templates::{template, TemplateArgs};
/// let r = template("openai.rate_limit", TemplateArgs { wait_s: Some(2.0) }).unwrap();
/// assert_eq!(keypool::classify(&r).retry_after_ms, Some(2000));
/// assert!(template("nope", TemplateArgs::default()).is_none());
/// ```
pub fn template(name: &str, a: TemplateArgs) -> Option<Reply> {
    build(name, a)
}

/// A whole OpenAI Responses object, with the fields clients parse (LiteLLM reads
/// `created_at`), `text` as its one message (if any) and `error` as `(code, message)`.
pub(crate) fn responses_object(
    status: &str,
    text: Option<&str>,
    error: Option<(&str, &str)>,
) -> serde_json::Value {
    let output = match text {
        Some(t) => {
            serde_json::json!([{"id": "msg_sim", "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": t, "annotations": []}]}])
        }
        None => serde_json::json!([]),
    };
    let out_tokens = text.map_or(0, |t| t.split_whitespace().count().max(1));
    serde_json::json!({
        "id": "resp_sim", "object": "response", "created_at": 1_764_500_000, "status": status,
        "error": error.map(|(code, message)| serde_json::json!({"code": code, "message": message})),
        "incomplete_details": null, "instructions": null, "max_output_tokens": null, "model": "gpt-4o",
        "output": output, "parallel_tool_calls": true, "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null}, "store": true, "temperature": 1.0,
        "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": 1.0,
        "truncation": "disabled",
        "usage": {"input_tokens": 9, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": out_tokens,
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 9 + out_tokens},
        "user": null, "metadata": {}
    })
}

fn build(name: &str, a: TemplateArgs) -> Option<Reply> {
    let wait_text = |s: f64| format!(" Please try again in {}s.", trim_float(s));
    Some(match name {
        "ok" | "chat.ok" => json(200, CHAT_OK),
        "chat.empty" => json(200, r#"{"id":"chatcmpl-sim","object":"chat.completion","created":1764500000,"choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":0,"total_tokens":9}}"#),
        "chat.sse_ok" => sse_reply(&[
            r#"data: {"id":"chatcmpl-sim","object":"chat.completion.chunk","created":1764500000,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}"#,
            r#"data: {"id":"chatcmpl-sim","object":"chat.completion.chunk","created":1764500000,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":" there"},"finish_reason":"stop"}]}"#,
            "data: [DONE]",
        ]),
        "chat.sse_empty" => sse_reply(&[r#"data: {"id":"chatcmpl-sim","object":"chat.completion.chunk","created":1764500000,"model":"gpt-4o","choices":[]}"#, "data: [DONE]"]),
        "chat.sse_cut" => sse_reply(&[r#"data: {"id":"chatcmpl-sim","object":"chat.completion.chunk","created":1764500000,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}"#]),
        "responses.ok" => json(200, &responses_object("completed", Some("Hi."), None).to_string()),
        "responses.failed_quota" => json(200, &responses_object("failed", None, Some(("insufficient_quota", OPENAI_QUOTA))).to_string()),
        "responses.failed_partial" => json(200, &responses_object("failed", Some("The first half of an ans"), Some(("server_error", "An error occurred while processing your request."))).to_string()),
        "responses.sse_failed" => {
            let created = serde_json::json!({"type": "response.created", "sequence_number": 0, "response": responses_object("in_progress", None, None)});
            let delta = serde_json::json!({"type": "response.output_text.delta", "sequence_number": 1, "item_id": "msg_sim", "output_index": 0, "content_index": 0, "delta": "Partial"});
            let failed = serde_json::json!({"type": "response.failed", "sequence_number": 2, "response": responses_object("failed", None, Some(("server_error", "An error occurred while processing your request.")))});
            sse_reply(&[
                format!("event: response.created\ndata: {created}"),
                format!("event: response.output_text.delta\ndata: {delta}"),
                format!("event: response.failed\ndata: {failed}"),
            ])
        }
        "openai.rate_limit" => json(429, &format!(
            r#"{{"error":{{"message":"{OPENAI_TPM}{}","type":"tokens","param":null,"code":"rate_limit_exceeded"}}}}"#,
            a.wait_s.map(wait_text).unwrap_or_default()
        )),
        "openai.insufficient_quota" => json(429, r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#),
        "openai.invalid_key" => json(401, r#"{"error":{"message":"Incorrect API key provided: sk-sim***. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#),
        "openai.revoked" => json(401, r#"{"error":{"message":"Your authentication token has been invalidated. Please try signing in again.","type":"invalid_request_error","param":null,"code":"token_invalidated"}}"#),
        "openai.permission" => json(403, r#"{"error":{"message":"Project `proj_sim` does not have access to model `gpt-4o`","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#),
        "openai.server_error" => json(500, r#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"#),
        "openai.overloaded" => json(503, r#"{"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error","param":null,"code":null}}"#),
        "openai.context_length" => json(400, r#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#),
        "openai.content_policy" => json(400, r#"{"error":{"message":"Your request was rejected as a result of our safety system.","type":"invalid_request_error","param":null,"code":"content_policy_violation"}}"#),
        "openai.bad_request" => json(400, r#"{"error":{"message":"Invalid value for 'temperature': expected a number.","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}"#),
        "openai.usage_limit" => json(429, &format!(
            r#"{{"error":{{"type":"usage_limit_reached","message":"The usage limit has been reached","plan_type":"plus","resets_in_seconds":{}}}}}"#,
            trim_float(a.wait_s.unwrap_or(USAGE_RESET_S))
        )),
        "error200.overloaded" => json(200, r#"{"error":{"message":"Our servers are currently overloaded. Please try again later.","type":"server_error","code":"server_is_overloaded"}}"#),
        "anthropic.ok" => json(200, r#"{"id":"msg_sim","type":"message","role":"assistant","content":[{"type":"text","text":"Hello."}],"stop_reason":"end_turn","usage":{"input_tokens":5,"output_tokens":2}}"#),
        "anthropic.overloaded" => json(529, r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
        "anthropic.rate_limit" => json(429, r#"{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed the rate limit for your organization of 8,000 output tokens per minute."}}"#),
        "anthropic.credit" => json(400, r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}"#),
        "anthropic.auth" => json(401, r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#),
        "anthropic.refusal" => json(200, r#"{"id":"msg_sim","type":"message","role":"assistant","content":[],"stop_reason":"refusal","usage":{"input_tokens":50,"output_tokens":0}}"#),
        "gemini.rate_limit" => json(429, &format!(
            r#"{{"error":{{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}}]}}{}]}}}}"#,
            a.wait_s.map(|s| format!(r#",{{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"{}s"}}"#, trim_float(s))).unwrap_or_default()
        )),
        "gemini.daily_quota" => json(429, r#"{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]}]}}"#),
        "gemini.blocked" => json(200, r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":20,"totalTokenCount":20}}"#),
        "http.402" => Reply::new(402, "").transport(Transport::Http),
        "http.403" => Reply::new(403, "Forbidden").header("content-type", "text/plain").transport(Transport::Http),
        "http.503" => Reply::new(503, "").transport(Transport::Http),
        "http.504" => Reply::new(504, "<html>\n<head><title>504 Gateway Time-out</title></head>\n<body><center><h1>504 Gateway Time-out</h1></center></body>\n</html>\n").header("content-type", "text/html").transport(Transport::Http),
        "openrouter.credits" => json(402, r#"{"error":{"message":"This request requires more credits, or fewer max_tokens. You requested up to 4096 tokens, but can only afford 0.","code":402}}"#),
        "zai.overloaded_429" => json(429, r#"{"error":{"code":"1305","message":"The service may be temporarily overloaded, please try again later"}}"#),
        "assistants.cancelled" => json(200, r#"{"id":"run_sim","object":"thread.run","status":"cancelled","last_error":null}"#),
        _ => return None,
    })
}

pub(crate) fn trim_float(s: f64) -> String {
    if s.fract() == 0.0 && s.abs() < 1e15 {
        format!("{}", s as i64)
    } else {
        format!("{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::Class;
    use crate::classify;

    #[test]
    fn every_template_classifies_as_named() {
        let want = |n: &str| -> Class {
            match n {
                "ok" | "chat.ok" | "chat.sse_ok" | "responses.ok" | "anthropic.ok" => {
                    Class::Success
                }
                "chat.empty" | "chat.sse_empty" => Class::EmptySuccess,
                "chat.sse_cut"
                | "responses.failed_partial"
                | "responses.sse_failed"
                | "openai.server_error"
                | "http.504" => Class::ServerError,
                "responses.failed_quota"
                | "openai.insufficient_quota"
                | "openai.usage_limit"
                | "anthropic.credit"
                | "gemini.daily_quota"
                | "http.402"
                | "openrouter.credits" => Class::QuotaExhausted,
                "openai.rate_limit" | "anthropic.rate_limit" | "gemini.rate_limit" => {
                    Class::RateLimit
                }
                "openai.invalid_key" | "openai.revoked" | "openai.permission"
                | "anthropic.auth" | "http.403" => Class::Auth,
                "openai.overloaded"
                | "error200.overloaded"
                | "anthropic.overloaded"
                | "http.503"
                | "zai.overloaded_429" => Class::Overloaded,
                "openai.context_length" => Class::ContextOverflow,
                "openai.content_policy" | "anthropic.refusal" | "gemini.blocked" => {
                    Class::ContentPolicy
                }
                "openai.bad_request" => Class::BadRequest,
                "assistants.cancelled" => Class::Cancelled,
                other => panic!("no expectation for {other}"),
            }
        };
        for (name, _) in TEMPLATES {
            let r = template(name, TemplateArgs::default()).unwrap();
            let v = classify(&r);
            assert_eq!(v.class, want(name), "{name}: {}", v.reason);
        }
    }
}
