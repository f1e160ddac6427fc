//! Reading JSON bodies: finding an error object wherever a provider or gateway put it, and
//! telling a usable answer from an empty or refused one, per provider family:
//! OpenAI chat and Responses, Assistants runs, Anthropic messages, Gemini, Cohere, Bedrock
//! Converse, Ollama.

use super::jvalue::{Obj, J as Value};
use super::retry_after::{
    date_in_text, epoch_to_ms, parse_duration, parse_iso8601, secs_to_ms, BodyHints,
};
use super::text::{Hay, TextCtx};
use crate::class::Class;

/// An error found in a body.
#[derive(Debug, Default)]
pub(crate) struct ErrorFound {
    pub hay: Hay,
    pub hints: BodyHints,
    pub ctx: TextCtx,
    /// A numeric HTTP-like code inside the body (`"code": 429`), used when the HTTP status is 2xx.
    pub body_status: Option<u16>,
    /// The structured status decided it directly (`insufficient_quota`, `server_is_overloaded`).
    pub structured: Option<(Class, &'static str)>,
    /// Found only as a bare `message`/`detail` object: an error only when the status or a
    /// code in the body says so.
    pub weak: bool,
}

impl ErrorFound {
    /// The hints, with the wait the error text states (read by the same scan as the rules).
    pub(crate) fn all_hints(&self) -> BodyHints {
        BodyHints {
            message_ms: self.hints.message_ms.or_else(|| self.hay.wait_ms()),
            ..self.hints
        }
    }
}

/// What one JSON value says.
#[derive(Debug, Default)]
pub(crate) struct Inspect {
    pub error: Option<ErrorFound>,
    /// A refusal / safety stop, with the rule.
    pub policy: Option<&'static str>,
    pub cancelled: bool,
    /// The value has a known answer shape (chat, Responses, Anthropic, Gemini, ...).
    pub known_shape: bool,
    /// It carries usable output: text, a tool call, an image.
    pub output: bool,
    /// It marks the end of an answer (finish reason, `response.completed`, `message_stop`).
    pub terminal: bool,
    /// A finish reason that means the provider failed (`finish_reason: "error"`).
    pub failed_finish: bool,
}

fn s<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str)
}

fn nonempty_str(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::String(t)) if !t.trim().is_empty())
}

fn nonempty_arr(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Array(a)) if !a.is_empty())
}

/// Inspects one JSON value (a whole body, or one stream event).
pub(crate) fn inspect(v: &Value) -> Inspect {
    let mut out = Inspect::default();
    if let Value::Array(items) = v {
        // Gemini answers errors as `[{"error": ...}]` and streams as an array of chunks.
        for item in items.iter().take(10_000) {
            let i = inspect(item);
            out.merge(i);
        }
        return out;
    }
    let Value::Object(_) = v else { return out };

    // Responses events wrap the response object.
    if let Some(resp) = v.get("response").filter(|r| r.is_object()) {
        if s(v, "type").is_some_and(|t| t.starts_with("response.")) {
            let mut i = inspect(resp);
            if s(v, "type") == Some("response.completed")
                || s(v, "type") == Some("response.incomplete")
            {
                i.terminal = true;
            }
            if s(v, "type") == Some("response.failed") && i.error.is_none() {
                i.error = Some(ErrorFound::default());
            }
            return i;
        }
    }
    if let Some(t) = s(v, "type") {
        match t {
            "response.output_text.delta"
            | "response.refusal.delta"
            | "response.function_call_arguments.delta" => {
                out.known_shape = true;
                out.output = nonempty_str(v.get("delta"));
                if t == "response.refusal.delta" && out.output {
                    out.policy = Some("responses: refusal");
                }
                return out;
            }
            "content_block_delta" => {
                out.known_shape = true;
                let d = v.get("delta");
                out.output = d.is_some_and(|d| {
                    nonempty_str(d.get("text")) || nonempty_str(d.get("partial_json"))
                });
                return out;
            }
            "content_block_start" => {
                out.known_shape = true;
                out.output = v.get("content_block").is_some_and(|b| {
                    s(b, "type").is_some_and(|t| t != "text" && t != "thinking")
                        || nonempty_str(b.get("text"))
                });
                return out;
            }
            "message_delta" => {
                out.known_shape = true;
                if let Some(d) = v.get("delta") {
                    apply_stop_reason(&mut out, s(d, "stop_reason"));
                }
                return out;
            }
            "message_stop" => {
                out.known_shape = true;
                out.terminal = true;
                return out;
            }
            "message_start" | "ping" | "content_block_stop" => {
                out.known_shape = true;
                return out;
            }
            // Cohere v2 streams: text in `delta.message.content.text`, the end in
            // `message-end` with `delta.finish_reason`.
            "content-delta" => {
                out.known_shape = true;
                out.output = nonempty_str(
                    v.get("delta")
                        .and_then(|d| d.get("message"))
                        .and_then(|m| m.get("content"))
                        .and_then(|c| c.get("text")),
                );
                return out;
            }
            "tool-call-start" | "tool-call-delta" => {
                out.known_shape = true;
                out.output = true;
                return out;
            }
            "message-end" => {
                out.known_shape = true;
                out.terminal = true;
                let fr = v.get("delta").and_then(|d| s(d, "finish_reason"));
                cohere_finish(&mut out, fr);
                return out;
            }
            "message-start" | "content-start" | "content-end" | "tool-plan-delta"
            | "tool-call-end" | "citation-start" | "citation-end" => {
                out.known_shape = true;
                return out;
            }
            _ => {}
        }
    }
    // Cohere v1 streams (`event_type`).
    if let Some(t) = s(v, "event_type") {
        match t {
            "text-generation" => {
                out.known_shape = true;
                out.output = nonempty_str(v.get("text"));
                return out;
            }
            "tool-calls-generation" => {
                out.known_shape = true;
                out.output = nonempty_arr(v.get("tool_calls"));
                return out;
            }
            "stream-end" => {
                out.known_shape = true;
                out.terminal = true;
                cohere_finish(&mut out, s(v, "finish_reason"));
                return out;
            }
            "stream-start"
            | "search-queries-generation"
            | "search-results"
            | "citation-generation" => {
                out.known_shape = true;
                return out;
            }
            _ => {}
        }
    }

    // Status fields: Responses objects, Assistants runs, batch-like objects.
    if let Some(st) = s(v, "status") {
        match st {
            "cancelled" | "canceled" | "cancelling" => {
                out.cancelled = true;
                return out;
            }
            "failed" | "expired" => {
                let e = v
                    .get("error")
                    .filter(|e| !e.is_null())
                    .or(v.get("last_error").filter(|e| !e.is_null()));
                let mut found = match e {
                    Some(e) => collect_error(e, v),
                    None => ErrorFound::default(),
                };
                if st == "expired" && found.hay.is_empty() {
                    found.structured = Some((Class::ServerError, "run expired"));
                }
                out.output = responses_output(v);
                out.error = Some(found);
                return out;
            }
            "incomplete" => {
                out.known_shape = true;
                out.terminal = true;
                let reason = v
                    .get("incomplete_details")
                    .and_then(|d| s(d, "reason"))
                    .unwrap_or("");
                if reason.contains("content_filter") {
                    out.policy = Some("responses: incomplete, content_filter");
                }
                out.output = responses_output(v);
                return out;
            }
            _ => {}
        }
    }

    if let Some(found) = find_error(v) {
        out.error = Some(found);
        return out;
    }

    if v.get("object").and_then(Value::as_str) == Some("response")
        || (v.get("output").is_some_and(Value::is_array) && v.get("status").is_some())
    {
        out.known_shape = true;
        out.terminal = s(v, "status") == Some("completed");
        out.output = responses_output(v);
        return out;
    }

    // OpenAI-style choices (chat, completions, chunks; also Azure, Groq, DeepSeek, vLLM, OpenRouter).
    if let Some(choices) = v.get("choices").and_then(Value::as_array) {
        out.known_shape = true;
        if choices.is_empty() && prompt_filtered(v) {
            out.policy = Some("chat: prompt filtered");
        }
        for c in choices {
            if let Some(e) = c.get("error").filter(|e| e.is_object()) {
                out.error = Some(collect_error(e, c));
            }
            let m = c.get("message").or(c.get("delta"));
            if let Some(m) = m {
                if nonempty_str(m.get("content"))
                    || content_parts_have_output(m.get("content"))
                    || nonempty_arr(m.get("tool_calls"))
                    || m.get("function_call").is_some_and(|f| f.is_object())
                    || nonempty_arr(m.get("images"))
                {
                    out.output = true;
                }
                if nonempty_str(m.get("refusal")) {
                    out.policy = Some("chat: refusal");
                }
            }
            if nonempty_str(c.get("text")) {
                out.output = true;
            }
            if let Some(fr) = c.get("finish_reason").and_then(Value::as_str) {
                out.terminal = true;
                match fr {
                    "content_filter" | "safety" | "refusal" => {
                        out.policy = Some("chat: finish_reason content_filter")
                    }
                    "error" => out.failed_finish = true,
                    _ => {}
                }
            }
        }
        return out;
    }

    // Anthropic message.
    if s(v, "type") == Some("message")
        || (v.get("content").is_some_and(Value::is_array) && v.get("stop_reason").is_some())
    {
        out.known_shape = true;
        out.output = content_parts_have_output(v.get("content"));
        apply_stop_reason(&mut out, s(v, "stop_reason"));
        return out;
    }

    // Gemini / Vertex.
    if v.get("candidates").is_some() || v.get("promptFeedback").is_some() {
        out.known_shape = true;
        if let Some(br) = v.get("promptFeedback").and_then(|p| s(p, "blockReason")) {
            if !br.is_empty() && br != "BLOCK_REASON_UNSPECIFIED" {
                out.policy = Some("gemini: promptFeedback.blockReason");
            }
        }
        for c in v
            .get("candidates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(parts) = c
                .get("content")
                .and_then(|c| c.get("parts"))
                .and_then(Value::as_array)
            {
                for p in parts {
                    let thought = p.get("thought").and_then(Value::as_bool).unwrap_or(false);
                    if (!thought && nonempty_str(p.get("text")))
                        || p.get("functionCall").is_some()
                        || p.get("inlineData").is_some()
                        || p.get("executableCode").is_some()
                    {
                        out.output = true;
                    }
                }
            }
            if let Some(fr) = s(c, "finishReason") {
                out.terminal = true;
                match fr {
                    "SAFETY"
                    | "RECITATION"
                    | "BLOCKLIST"
                    | "PROHIBITED_CONTENT"
                    | "SPII"
                    | "IMAGE_SAFETY"
                    | "IMAGE_PROHIBITED_CONTENT"
                    | "IMAGE_RECITATION" => out.policy = Some("gemini: finishReason safety"),
                    // The model's own failures (a tool call it could not form, or made with
                    // no tools offered, or too many; a reply it could not form): another try
                    // may succeed, so a server error, as Gemini documents them.
                    "MALFORMED_FUNCTION_CALL"
                    | "UNEXPECTED_TOOL_CALL"
                    | "TOO_MANY_TOOL_CALLS"
                    | "MALFORMED_RESPONSE" => out.failed_finish = true,
                    _ => {}
                }
            }
        }
        return out;
    }

    // Bedrock Converse.
    if let Some(msg) = v.get("output").and_then(|o| o.get("message")) {
        out.known_shape = true;
        out.terminal = true;
        out.output = content_parts_have_output(msg.get("content"));
        if matches!(
            s(v, "stopReason"),
            Some("guardrail_intervened" | "content_filtered")
        ) {
            out.policy = Some("bedrock: stopReason guardrail");
        }
        return out;
    }

    // Cohere v1 / v2.
    if v.get("generation_id").is_some()
        || (v.get("finish_reason").is_some()
            && (v.get("text").is_some() || v.get("message").is_some_and(Value::is_object)))
    {
        out.known_shape = true;
        out.terminal = true;
        out.output = nonempty_str(v.get("text"))
            || v.get("message").is_some_and(|m| {
                content_parts_have_output(m.get("content")) || nonempty_arr(m.get("tool_calls"))
            });
        cohere_finish(&mut out, s(v, "finish_reason"));
        return out;
    }

    // Ollama chat / generate.
    if v.get("done").is_some()
        && (v.get("message").is_some_and(Value::is_object)
            || v.get("response").is_some_and(Value::is_string))
    {
        out.known_shape = true;
        out.terminal = v.get("done").and_then(Value::as_bool).unwrap_or(false);
        out.output = nonempty_str(v.get("response"))
            || v.get("message").is_some_and(|m| {
                nonempty_str(m.get("content")) || nonempty_arr(m.get("tool_calls"))
            });
        return out;
    }
    out
}

impl Inspect {
    pub(crate) fn merge(&mut self, o: Inspect) {
        if o.error.is_some() {
            self.error = o.error;
        }
        self.policy = self.policy.or(o.policy);
        self.cancelled |= o.cancelled;
        self.known_shape |= o.known_shape;
        self.output |= o.output;
        self.terminal |= o.terminal;
        self.failed_finish |= o.failed_finish;
    }
}

/// Cohere's finish reasons: a toxic stop is a refusal, an error the provider's failure.
fn cohere_finish(out: &mut Inspect, fr: Option<&str>) {
    match fr {
        Some("ERROR_TOXIC") => out.policy = Some("cohere: ERROR_TOXIC"),
        Some("ERROR") => out.failed_finish = true,
        _ => {}
    }
}

fn apply_stop_reason(out: &mut Inspect, sr: Option<&str>) {
    if let Some(sr) = sr {
        out.terminal = true;
        if sr == "refusal" {
            out.policy = Some("anthropic: stop_reason refusal");
        }
    }
}

/// Content given as a list of parts: any non-empty text, or any non-text part (tool use, image).
fn content_parts_have_output(c: Option<&Value>) -> bool {
    match c {
        Some(Value::String(t)) => !t.trim().is_empty(),
        Some(Value::Array(parts)) => parts.iter().any(|p| match s(p, "type") {
            Some("text" | "output_text") | None => nonempty_str(p.get("text")),
            Some("thinking" | "redacted_thinking" | "reasoning") => false,
            Some("refusal") => false,
            Some(_) => true,
        }),
        _ => false,
    }
}

/// Responses `output`: any message with text, any tool call.
fn responses_output(v: &Value) -> bool {
    nonempty_str(v.get("output_text"))
        || v.get("output")
            .and_then(Value::as_array)
            .is_some_and(|items| {
                items.iter().any(|it| match s(it, "type") {
                    Some("message") => content_parts_have_output(it.get("content")),
                    Some("reasoning") => false,
                    Some(_) => true,
                    None => false,
                })
            })
}

fn prompt_filtered(v: &Value) -> bool {
    v.get("prompt_filter_results")
        .and_then(Value::as_array)
        .is_some_and(|rs| {
            rs.iter().any(|r| {
                r.get("content_filter_results")
                    .and_then(Value::as_object)
                    .is_some_and(|m| {
                        m.values()
                            .any(|c| c.get("filtered").and_then(Value::as_bool) == Some(true))
                    })
            })
        })
}

const ERROR_TEXT_KEYS: [&str; 16] = [
    "type",
    // AWS JSON protocol errors (Bedrock): "com.amazon.coral.validate#ValidationException".
    "__type",
    "code",
    "status",
    "message",
    "msg",
    "error_msg",
    "errorMessage",
    "error_message",
    "reason",
    "error_type",
    "error_code",
    "title",
    "error_name",
    "status_msg",
    // `{"status_code": 429, "status_message": "… over the allowed limit of 1000 per day …"}`.
    "status_message",
];

/// An error object whose keys are capitalised (`Code`, `Message`), with the keys the error
/// readers look for.
fn lower_case_keys<'a>(e: &Value<'a>) -> Value<'a> {
    let pairs = [("Code", "code"), ("Message", "message")]
        .into_iter()
        .filter_map(|(k, lower)| Some((std::borrow::Cow::Borrowed(lower), e.get(k)?.clone())))
        .collect();
    Value::Object(Obj::from_pairs(pairs))
}

/// Where providers put errors: `error` (object or string), Anthropic `type: error`, vLLM
/// `object: error`, `errors: [...]`, MiniMax `base_resp`, Tencent and Volcengine `Response.Error`
/// / `ResponseMetadata.Error`, and bare `message`/`detail` objects
/// that carry no answer.
fn find_error(v: &Value) -> Option<ErrorFound> {
    match v.get("error") {
        Some(e @ Value::Object(_)) => return Some(collect_error(e, v)),
        Some(Value::String(t)) if !t.is_empty() => {
            let mut f = collect_error(&Value::Null, v);
            f.hay.push(t);
            hints_from_text(t, &mut f.hints);
            return Some(f);
        }
        _ => {}
    }
    if s(v, "object") == Some("error") || s(v, "type") == Some("error") {
        return Some(collect_error(v, v));
    }
    // Tencent Cloud's API 3.0 (Hunyuan's own API) and Volcengine's OpenAPI answer a failure
    // in a 200 as `{"Response": {"Error": {"Code": "LimitExceeded", "Message": "…"}}}` and
    // `{"ResponseMetadata": {"Error": {…}}}`, the keys capitalised.
    for wrapper in ["Response", "ResponseMetadata"] {
        if let Some(e @ Value::Object(_)) = v.get(wrapper).and_then(|r| r.get("Error")) {
            let e = lower_case_keys(e);
            return Some(collect_error(&e, &e));
        }
    }
    if let Some(first) = v
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        return Some(collect_error(first, v));
    }
    if let Some(br) = v.get("base_resp") {
        if let Some(code) = br
            .get("status_code")
            .and_then(Value::as_i64)
            .filter(|&c| c != 0)
        {
            let mut f = collect_error(br, v);
            if let Some(t) = u64::try_from(code).ok().and_then(minimax_code) {
                f.hay.push(t);
            }
            return Some(f);
        }
    }
    if v.get("success").and_then(Value::as_bool) == Some(false) {
        return Some(collect_error(v, v));
    }
    // A bare object with a message/detail and nothing that looks like an answer.
    let answerish = [
        "choices",
        "candidates",
        "content",
        "output",
        "text",
        "data",
        "response",
        "generation_id",
    ];
    if !answerish
        .iter()
        .any(|k| v.get(k).is_some_and(|x| !x.is_null()))
    {
        let has_text = [
            "message",
            "msg",
            "detail",
            "title",
            "error_msg",
            "errorMessage",
            "status_message",
        ]
        .iter()
        .any(|k| v.get(k).is_some_and(|x| x.is_string() || x.is_object()))
            // FastAPI's validation errors: `{"detail": [{"loc": …, "msg": …}]}`.
            || v.get("detail").is_some_and(Value::is_array);
        let failing_code = |c: &Value| match c {
            Value::Number(n) => n.as_i64().is_some_and(|n| n != 0 && n != 200),
            Value::String(s) => !matches!(
                s.as_ref(),
                "" | "0" | "200" | "ok" | "OK" | "success" | "Success"
            ),
            _ => false,
        };
        // Baidu Qianfan answers errors with a 200: `{"error_code":18,"error_msg":"Open api qps
        // request limit reached"}`.
        // A problem document (RFC 9457, NVIDIA NIM's errors) carries the HTTP status it means
        // as a number in `status`.
        let problem_status = |c: &Value| {
            let Value::Number(n) = c else { return false };
            n.as_u64().is_some_and(|n| (400..600).contains(&n))
        };
        let codeish = v.get("code").is_some_and(failing_code)
            || v.get("error_code").is_some_and(failing_code)
            || v.get("status").is_some_and(problem_status);
        if has_text || codeish {
            let mut f = collect_error(v, v);
            if f.hay.is_empty() {
                return None;
            }
            f.weak = !codeish;
            return Some(f);
        }
    }
    None
}

/// Gathers the text, hints and nested errors of one error object `e` found inside `root`.
pub(crate) fn collect_error(e: &Value, root: &Value) -> ErrorFound {
    let mut f = ErrorFound::default();
    gather(e, &mut f, 0);
    if !std::ptr::eq(e, root) {
        // Top-level siblings (xAI puts a text in `code`, LiteLLM a status in `code`).
        for k in ["code", "message", "type", "status"] {
            if let Some(x) = root.get(k) {
                push_scalar(x, &mut f, k);
            }
        }
        field_hints(root, &mut f.hints);
    }
    f
}

/// One of an error object's text keys (`ERROR_TEXT_KEYS`): its text, and the class its code,
/// status or type decides on its own.
pub(crate) fn read_error_key(x: &Value, f: &mut ErrorFound, key: &str) {
    let key = if key == "__type" { "type" } else { key };
    push_scalar(x, f, key);
    if let (Value::String(t), "code" | "status" | "type") = (x, key) {
        if let Some(c) = structured_status(t) {
            f.structured = f.structured.or(Some(c));
        }
        // Only a type or a status: DeepSeek sends `"type": "authentication_error"` with
        // `"code": "invalid_request_error"`, and the type is the one that says what failed.
        if key != "code" && super::text::is_invalid_type(t) {
            f.ctx.invalid_type = true;
        }
    }
}

/// A scalar's text and the codes it carries.
pub(crate) fn push_scalar(x: &Value, f: &mut ErrorFound, key: &str) {
    match x {
        Value::String(t) => {
            f.hay.push(t);
            if key == "code" {
                if let Some(c) = t.trim().parse::<u64>().ok().and_then(numeric_code) {
                    f.hay.push(c);
                }
            }
            if matches!(key, "message" | "detail" | "msg" | "status_message") {
                hints_from_text(t, &mut f.hints);
            }
            if key == "code" || key == "status" {
                if let Ok(n) = t.trim().parse::<u16>() {
                    if (400..600).contains(&n) {
                        f.body_status = f.body_status.or(Some(n));
                    }
                }
            }
        }
        Value::Number(n) => {
            if let Some(n) = n.as_u64() {
                if (400..600).contains(&n)
                    && (key == "code"
                        || key == "status"
                        || key == "error_code"
                        || key == "status_code")
                {
                    f.body_status = f.body_status.or(Some(n as u16));
                }
                // Numeric provider codes (Zhipu 1113, SiliconFlow 30001) are read by `numeric_code`.
                if key == "code" {
                    if let Some(t) = numeric_code(n) {
                        f.hay.push(t);
                    }
                }
            }
        }
        _ => {}
    }
}

/// Numeric provider codes that say what their message may not.
fn numeric_code(n: u64) -> Option<&'static str> {
    Some(match n {
        1113 | 1304 | 1308 | 1309 | 1310 => "insufficient balance",
        1302 | 1303 => "concurrency rate limit",
        1305 => "overloaded",
        1301 => "content filter",
        1261 => "context length",
        1000..=1004 | 1110..=1112 | 1120 | 1121 | 1220 => "authentication",
        1210 | 1211 | 1213 | 1214 => "invalid parameter",
        _ => return None,
    })
}

/// MiniMax's `base_resp.status_code` (a 200 whose body failed), for the codes whose
/// `status_msg` does not say it in the phrase lists' words: 1004 "login fail", 2049 an
/// invalid key, 1026/1027 sensitive input or output, 2013 "invalid params".
fn minimax_code(n: u64) -> Option<&'static str> {
    Some(match n {
        1002 => "rate limit",
        1004 | 2049 => "authentication",
        1008 => "insufficient balance",
        1026 | 1027 => "content filter",
        2013 => "invalid parameter",
        _ => return None,
    })
}

/// A message or detail that is a validation report, not text: pydantic's list of
/// `{"loc": […], "msg": "…", "type": "…"}`, as FastAPI servers send it in `detail` and
/// Mistral's 422 inside `message` (`{"detail": [{"msg": "Value error, Prompt contains 140000
/// tokens, too large for model with 131072 maximum context length"}]}`). Its `msg`s are the
/// error's text; the `type`s are validator names ("value_error") and are left out.
fn validation_report(v: &Value, f: &mut ErrorFound, depth: usize) {
    if depth > 2 {
        return;
    }
    match v {
        Value::Array(items) => {
            for item in items.iter().take(32) {
                validation_report(item, f, depth + 1);
            }
        }
        Value::Object(m) => {
            for k in ["msg", "message"] {
                if let Some(Value::String(t)) = m.get(k) {
                    f.hay.push(t);
                    hints_from_text(t, &mut f.hints);
                }
            }
            if let Some(d) = m.get("detail") {
                validation_report(d, f, depth + 1);
            }
        }
        _ => {}
    }
}

fn gather(e: &Value, f: &mut ErrorFound, depth: usize) {
    if depth > 6 {
        return;
    }
    let Value::Object(map) = e else {
        if let Value::String(t) = e {
            f.hay.push(t);
            hints_from_text(t, &mut f.hints);
            nested_json_in_text(t, f, depth);
        }
        return;
    };
    // One pass over the members finds each key's first value; they are then read in the
    // order of `ERROR_TEXT_KEYS`, which is the order the text is read in.
    let mut slots: [Option<&Value>; ERROR_TEXT_KEYS.len()] = [None; ERROR_TEXT_KEYS.len()];
    for (k, x) in map.pairs() {
        if let Some(i) = ERROR_TEXT_KEYS.iter().position(|e| *e == k) {
            slots[i] = slots[i].or(Some(x));
        }
    }
    for (k, x) in ERROR_TEXT_KEYS.into_iter().zip(slots) {
        if let Some(x) = x {
            read_error_key(x, f, k);
        }
    }
    // Beside a `title` (a problem document), the words of `detail` are left out: they explain
    // and speculate (Cloudflare's 522: "… may indicate the origin is overloaded"). The wait
    // it states still counts (Replicate's 429: "… Expected available in 8 seconds.").
    if let Some(Value::String(t)) = map.get("detail") {
        if map.get("title").is_none() {
            f.hay.push(t);
        } else if f.hints.message_ms.is_none() {
            let mut detail = Hay::default();
            detail.push(t);
            f.hints.message_ms = detail.wait_ms();
        }
        hints_from_text(t, &mut f.hints);
    }
    if let Some(Value::String(t)) = map.get("message") {
        nested_json_in_text(t, f, depth);
    }
    for k in ["message", "detail"] {
        if let Some(v @ (Value::Object(_) | Value::Array(_))) = map.get(k) {
            validation_report(v, f, 0);
        }
    }
    field_hints(e, &mut f.hints);
    if let Some(inner) = map.get("innererror").or(map.get("inner_error")) {
        gather(inner, f, depth + 1);
    }
    if let Some(inner @ Value::Object(_)) = map.get("error") {
        gather(inner, f, depth + 1);
    }
    if let Some(details) = map.get("details").and_then(Value::as_array) {
        for d in details.iter().take(32) {
            for k in ["reason", "@type"] {
                if let Some(Value::String(t)) = d.get(k) {
                    f.hay.push(t);
                }
            }
            for viol in d
                .get("violations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .take(32)
            {
                for k in ["quotaId", "quotaMetric", "description", "subject"] {
                    if let Some(Value::String(t)) = viol.get(k) {
                        f.hay.push(t);
                    }
                }
            }
            if let Some(ms) = d
                .get("retryDelay")
                .and_then(Value::as_str)
                .and_then(parse_duration)
            {
                f.hints.field_ms = f.hints.field_ms.or(Some(ms));
            }
        }
    }
    if let Some(meta) = map.get("metadata") {
        // OpenRouter names the upstream provider that failed; `provider_name: null` is its own
        // per-account limit, which is this key's (a null is not a provider).
        if meta
            .get("provider_name")
            .is_some_and(|v| !matches!(v, Value::Null))
        {
            f.ctx.upstream_wrapped = true;
        }
        // Headers a gateway relays in the body (OpenRouter's `metadata.headers`): the reset of
        // the exhausted limit, as epoch seconds, epoch milliseconds or a delta.
        if let Some(Value::Object(hs)) = meta.get("headers") {
            for (k, v) in hs.pairs() {
                if !k.eq_ignore_ascii_case("x-ratelimit-reset") {
                    continue;
                }
                let n = match v {
                    Value::String(t) => t.trim().parse::<f64>().ok(),
                    Value::Number(n) => n.as_f64(),
                    _ => None,
                };
                if let Some(n) = n {
                    if n > 1e9 {
                        f.hints.reset_at_ms =
                            f.hints.reset_at_ms.or(super::retry_after::epoch_to_ms(n));
                    } else if let Some(ms) = super::retry_after::secs_to_ms(n) {
                        f.hints.field_ms = f.hints.field_ms.or(Some(ms));
                    }
                }
            }
        }
        // OpenRouter's in-band errors say what failed (`provider_unavailable`).
        if let Some(Value::String(t)) = meta.get("error_type") {
            f.hay.push(t);
        }
        match meta.get("raw") {
            Some(Value::String(t)) => {
                f.hay.push(t);
                nested_json_in_text(t, f, depth);
            }
            Some(raw @ Value::Object(_)) => {
                if let Some(Value::String(data)) = raw.get("data") {
                    f.hay.push(data);
                    nested_json_in_text(data, f, depth);
                } else {
                    gather(raw, f, depth + 1);
                }
            }
            _ => {}
        }
    }
}

/// Errors wrapped as text inside a message: a JSON document, or a Python repr of one.
pub(crate) fn nested_json_in_text(t: &str, f: &mut ErrorFound, depth: usize) {
    let Some(start) = t.find('{') else { return };
    let text = &t[start..];
    let mut it = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let inner = match it.next() {
        Some(Ok(inner)) => inner,
        _ => match super::pyrepr::read_prefix(text) {
            Some(inner) => inner,
            None => return,
        },
    };
    let mut sub = ErrorFound::default();
    gather(inner.get("error").unwrap_or(&inner), &mut sub, depth + 1);
    f.hints.merge(sub.hints);
    f.structured = f.structured.or(sub.structured);
    f.ctx.upstream_wrapped |= sub.ctx.upstream_wrapped;
    f.ctx.invalid_type |= sub.ctx.invalid_type;
    // The inner error's texts as read: escapes decoded (a `\u` escaped message in another
    // script), numeric provider codes said in words.
    f.hay.append(&sub.hay);
}

/// Structured status strings that decide a class on their own (Google RPC statuses are read
/// by the text rules; these are the unambiguous ones).
fn structured_status(t: &str) -> Option<(Class, &'static str)> {
    Some(match t {
        "insufficient_quota" => (Class::QuotaExhausted, "code: insufficient_quota"),
        "context_length_exceeded" => (Class::ContextOverflow, "code: context_length_exceeded"),
        "content_filter" | "content_policy_violation" => {
            (Class::ContentPolicy, "code: content_filter")
        }
        "invalid_api_key" => (Class::Auth, "code: invalid_api_key"),
        "overloaded_error" | "server_is_overloaded" => (Class::Overloaded, "code: overloaded"),
        "cancelled" | "canceled" => (Class::Cancelled, "status: cancelled"),
        _ => return None,
    })
}

fn field_hints(v: &Value, h: &mut BodyHints) {
    let Value::Object(map) = v else { return };
    // Every key read below starts so; most objects have none, and one pass says so.
    if !map
        .keys()
        .any(|k| k.starts_with("retry") || k.starts_with("reset"))
    {
        return;
    }
    for k in [
        "retry_after",
        "retryAfter",
        "retry_after_seconds",
        "resets_in_seconds",
        "reset_in_seconds",
    ] {
        if let Some(secs) = map.get(k).and_then(num_or_str) {
            if let Some(ms) = secs_to_ms(secs) {
                h.field_ms = h.field_ms.or(Some(ms));
            }
        }
    }
    for k in ["retry_after_ms", "retryAfterMs"] {
        if let Some(ms) = map.get(k).and_then(num_or_str) {
            if let Some(ms) = secs_to_ms(ms / 1000.0) {
                h.field_ms = h.field_ms.or(Some(ms));
            }
        }
    }
    if let Some(ms) = map
        .get("retryDelay")
        .and_then(Value::as_str)
        .and_then(parse_duration)
    {
        h.field_ms = h.field_ms.or(Some(ms));
    }
    for k in ["resets_at", "reset_at", "resetAt", "reset_time", "resetsAt"] {
        match map.get(k) {
            Some(Value::Number(n)) => {
                if let Some(ms) = n.as_f64().and_then(epoch_to_ms) {
                    h.reset_at_ms = h.reset_at_ms.or(Some(ms));
                }
            }
            Some(Value::String(t)) => {
                let at = t
                    .parse::<f64>()
                    .ok()
                    .and_then(epoch_to_ms)
                    .or_else(|| parse_iso8601(t));
                h.reset_at_ms = h.reset_at_ms.or(at);
            }
            _ => {}
        }
    }
}

fn num_or_str(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(t) => t.trim().trim_end_matches('s').parse().ok(),
        _ => None,
    }
}

/// The reset date free text states; its stated waits are read by the haystack scan
/// ([`ErrorFound::all_hints`]).
pub(crate) fn hints_from_text(t: &str, h: &mut BodyHints) {
    if h.reset_at_ms.is_none() {
        h.reset_at_ms = date_in_text(t);
    }
}
