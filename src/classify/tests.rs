//! Cases for each rule, across provider families, beyond the labelled corpus.

use crate::class::Class::{self, *};
use crate::classify::classify;
use crate::reply::Reply;

fn j(status: u16, body: &str) -> Reply {
    Reply::new(status, body).header("content-type", "application/json")
}

fn sse(body: &str) -> Reply {
    Reply::new(200, body).header("content-type", "text/event-stream")
}

#[track_caller]
fn is(r: Reply, class: Class, ra: Option<u64>) {
    let v = classify(&r);
    assert_eq!(
        (v.class, v.retry_after_ms),
        (class, ra),
        "rule: {} body: {}",
        v.reason,
        r.body
    );
}

#[test]
fn openai_family() {
    is(
        j(
            401,
            r#"{"error":{"message":"Incorrect API key provided: sk-abc. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        ),
        Auth,
        None,
    );
    is(
        j(
            429,
            r#"{"error":{"message":"Rate limit reached for gpt-4o in organization org-x on requests per day (RPD): Limit 10000, Used 10000, Requested 1. Please try again in 8.64s.","type":"requests","code":"rate_limit_exceeded"}}"#,
        ),
        QuotaExhausted,
        Some(8640),
    );
    is(
        j(
            429,
            r#"{"error":{"message":"Request too large for gpt-4 in organization org-x on tokens per min (TPM): Limit 10000, Requested 25000. The input or output tokens must be reduced in order to run successfully.","type":"tokens","code":"rate_limit_exceeded"}}"#,
        ),
        ContextOverflow,
        None,
    );
    is(
        j(
            503,
            r#"{"error":{"message":"The engine is currently overloaded, please try again later","type":"server_error"}}"#,
        ),
        Overloaded,
        None,
    );
    is(
        j(
            500,
            r#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error"}}"#,
        ),
        ServerError,
        None,
    );
    is(
        j(
            400,
            r#"{"error":{"message":"Your request was rejected as a result of our safety system.","type":"invalid_request_error","code":"content_policy_violation"}}"#,
        ),
        ContentPolicy,
        None,
    );
    is(
        j(
            404,
            r#"{"error":{"message":"The model `gpt-5-turbo` does not exist or you do not have access to it.","type":"invalid_request_error","code":"model_not_found"}}"#,
        ),
        BadRequest,
        None,
    );
    is(
        j(
            403,
            r#"{"error":{"message":"Country, region, or territory not supported","type":"request_forbidden","code":"unsupported_country_region_territory"}}"#,
        ),
        BadRequest,
        None,
    );
    is(j(429, r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","code":"insufficient_quota"}}"#).header("retry-after", "20"), QuotaExhausted, Some(20000));
    is(
        j(
            400,
            r#"{"error":{"message":"Invalid prompt: your prompt was flagged as potentially violating our usage policy.","type":"invalid_request_error","code":"invalid_prompt"}}"#,
        ),
        ContentPolicy,
        None,
    );
    is(
        j(
            401,
            r#"{"error":{"message":"Your authentication token has been invalidated. Please try signing in again.","code":"token_invalidated"}}"#,
        ),
        Auth,
        None,
    );
}

#[test]
fn responses_and_runs() {
    is(
        j(
            200,
            r#"{"object":"response","status":"failed","error":{"code":"server_error","message":"An error occurred."},"output":[]}"#,
        ),
        ServerError,
        None,
    );
    is(
        j(
            200,
            r#"{"object":"response","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[{"type":"reasoning","summary":[]}]}"#,
        ),
        EmptySuccess,
        None,
    );
    is(
        j(
            200,
            r#"{"object":"response","status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"output":[{"type":"message","content":[{"type":"output_text","text":"Partial answer"}]}]}"#,
        ),
        Success,
        None,
    );
    is(
        j(
            200,
            r#"{"object":"response","status":"completed","output":[{"type":"function_call","name":"f","arguments":"{}"}]}"#,
        ),
        Success,
        None,
    );
    is(
        j(
            200,
            r#"{"object":"thread.run","status":"failed","last_error":{"code":"rate_limit_exceeded","message":"Rate limit reached for requests per minute"}}"#,
        ),
        RateLimit,
        None,
    );
    is(
        j(
            200,
            r#"{"object":"thread.run","status":"expired","last_error":null}"#,
        ),
        ServerError,
        None,
    );
}

#[test]
fn chat_answers() {
    is(
        j(
            200,
            r#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}"#,
        ),
        Success,
        None,
    );
    is(
        j(
            200,
            r#"{"choices":[{"message":{"role":"assistant","content":"word word"},"finish_reason":"length"}]}"#,
        ),
        Success,
        None,
    );
    is(
        j(
            200,
            r#"{"choices":[{"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]}"#,
        ),
        ContentPolicy,
        None,
    );
    is(
        j(
            200,
            r#"{"choices":[{"message":{"role":"assistant","content":""},"finish_reason":"content_filter"}]}"#,
        ),
        ContentPolicy,
        None,
    );
    is(j(200, r#"{"choices":[]}"#), EmptySuccess, None);
    is(
        j(
            200,
            r#"  {"choices":[{"message":{"role":"assistant","content":"   "},"finish_reason":"stop"}]}"#,
        ),
        EmptySuccess,
        None,
    );
    is(
        j(
            200,
            r#"{"choices":[{"message":{"content":"The error 429 means rate limit; insufficient_quota means billing."},"finish_reason":"stop"}]}"#,
        ),
        Success,
        None,
    );
    is(j(200, ""), EmptySuccess, None);
    is(j(200, "{}"), EmptySuccess, None);
}

#[test]
fn anthropic_family() {
    is(
        j(
            529,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ),
        Overloaded,
        None,
    );
    is(j(429, r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}"#).header("retry-after", "7"), RateLimit, Some(7000));
    is(
        j(
            429,
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"Number of requests has exceeded your daily rate limit"}}"#,
        ),
        QuotaExhausted,
        None,
    );
    is(
        j(
            400,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}}"#,
        ),
        ContextOverflow,
        None,
    );
    is(
        j(
            413,
            r#"{"type":"error","error":{"type":"request_too_large","message":"Request exceeds the maximum allowed number of bytes."}}"#,
        ),
        ContextOverflow,
        None,
    );
    is(
        j(
            403,
            r#"{"type":"error","error":{"type":"permission_error","message":"Your API key does not have permission to use the specified resource."}}"#,
        ),
        Auth,
        None,
    );
    is(
        j(
            400,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"This organization has been disabled."}}"#,
        ),
        Auth,
        None,
    );
    is(
        j(
            404,
            r#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-9"}}"#,
        ),
        BadRequest,
        None,
    );
    is(
        j(
            500,
            r#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#,
        ),
        ServerError,
        None,
    );
    is(
        j(400, r#"{"type":"error","error":{"type":"invalid_request_error","message":"You have reached your specified API usage limits. You will regain access on 2026-12-01 at 00:00 UTC."}}"#)
            .header("date", "Tue, 01 Dec 2026 00:00:00 GMT"),
        QuotaExhausted,
        Some(0),
    );
    is(
        j(
            200,
            r#"{"type":"message","content":[{"type":"thinking","thinking":"hmm"}],"stop_reason":"max_tokens"}"#,
        ),
        EmptySuccess,
        None,
    );
    is(
        j(
            200,
            r#"{"type":"message","content":[{"type":"tool_use","id":"t","name":"f","input":{}}],"stop_reason":"tool_use"}"#,
        ),
        Success,
        None,
    );
}

#[test]
fn google_family() {
    is(
        j(
            429,
            r#"{"error":{"code":429,"message":"Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0, model: gemini-2.5-pro","status":"RESOURCE_EXHAUSTED"}}"#,
        ),
        QuotaExhausted,
        None,
    );
    is(
        j(
            429,
            r#"{"error":{"code":429,"message":"You exceeded your current quota. Please retry in 38.910937s.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"38s"}]}}"#,
        ),
        QuotaExhausted,
        Some(38911),
    );
    is(
        j(
            400,
            r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}"#,
        ),
        Auth,
        None,
    );
    is(
        j(
            403,
            r#"{"error":{"code":403,"message":"Your API key was reported as leaked. Please use another API key.","status":"PERMISSION_DENIED"}}"#,
        ),
        Auth,
        None,
    );
    is(
        j(
            400,
            r#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#,
        ),
        ContextOverflow,
        None,
    );
    is(
        j(
            500,
            r#"{"error":{"code":500,"message":"An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting","status":"INTERNAL"}}"#,
        ),
        ServerError,
        None,
    );
    is(
        j(
            503,
            r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#,
        ),
        Overloaded,
        None,
    );
    is(
        j(
            200,
            r#"{"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"SAFETY"}]}"#,
        ),
        ContentPolicy,
        None,
    );
    is(
        j(
            200,
            r#"{"candidates":[{"finishReason":"RECITATION","index":0}]}"#,
        ),
        ContentPolicy,
        None,
    );
    is(
        j(
            200,
            r#"[{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}]"#,
        ),
        RateLimit,
        None,
    );
}

#[test]
fn gateways_and_others() {
    is(
        j(
            429,
            r#"{"error":{"message":"google/gemini-2.0-flash-exp:free is temporarily rate-limited upstream. Please retry shortly, or add your own key to accumulate your rate limits","code":429,"metadata":{"raw":"...","provider_name":"Google AI Studio"}}}"#,
        ),
        Overloaded,
        None,
    );
    is(
        j(
            429,
            r#"{"error":{"message":"Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 free model requests per day","code":429}}"#,
        ),
        QuotaExhausted,
        None,
    );
    is(
        j(
            402,
            r#"{"error":{"message":"Insufficient credits. Add more using https://openrouter.ai/credits","code":402}}"#,
        ),
        QuotaExhausted,
        None,
    );
    is(
        j(
            400,
            r#"{"error":{"message":"litellm.BadRequestError: Budget has been exceeded! Current cost: 10.2, Max budget: 10.0"}}"#,
        ),
        QuotaExhausted,
        None,
    );
    is(
        j(
            429,
            r#"{"error":{"message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-02-01 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds.","code":"429"}}"#,
        ),
        RateLimit,
        Some(6000),
    );
    is(
        j(
            401,
            r#"{"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint."}}"#,
        ),
        Auth,
        None,
    );
    is(
        j(
            429,
            r#"{"object":"error","message":"Service tier capacity exceeded for this model.","type":"service_tier_capacity_exceeded","code":"3505"}"#,
        ),
        Overloaded,
        None,
    );
    is(
        j(
            402,
            r#"{"error":{"message":"Insufficient Balance","type":"unknown_error"}}"#,
        ),
        QuotaExhausted,
        None,
    );
    is(
        j(
            429,
            r#"{"error":{"message":"Your team has either used all available credits or reached its monthly spending limit."}}"#,
        ),
        QuotaExhausted,
        None,
    );
    is(
        j(
            503,
            r#"{"code":50505,"message":"Model service overloaded. Please try again later.","data":null}"#,
        ),
        Overloaded,
        None,
    );
    is(
        j(
            400,
            r#"{"code":20015,"message":"length of prompt_tokens (40000) must be less than max_seq_len (32768).","data":null}"#,
        ),
        ContextOverflow,
        None,
    );
    is(
        j(
            400,
            r#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}"#,
        ),
        ContextOverflow,
        None,
    );
    is(
        j(
            503,
            r#"{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}"#,
        ),
        Overloaded,
        None,
    );
    is(
        j(
            404,
            r#"{"error":"model \"llama3\" not found, try pulling it first"}"#,
        ),
        BadRequest,
        None,
    );
    is(
        j(
            429,
            r#"{"message":"Too many requests, please wait before trying again."}"#,
        )
        .header("x-amzn-errortype", "ThrottlingException"),
        RateLimit,
        None,
    );
    is(
        j(
            400,
            r#"{"code":"DataInspectionFailed","message":"Input data may contain inappropriate content."}"#,
        ),
        ContentPolicy,
        None,
    );
    is(
        j(
            429,
            r#"{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded, please try again later."}"#,
        ),
        RateLimit,
        None,
    );
    // A reset time without a zone gives no wait (never guess a zone); with one, it does.
    is(j(429, r#"{"error":{"code":"1308","message":"Usage limit reached for 5 hour. Your limit will reset at 2026-11-25 18:00:00"}}"#).header("date", "Wed, 25 Nov 2026 17:00:00 GMT"), QuotaExhausted, None);
    is(j(429, r#"{"error":{"code":"1308","message":"Usage limit reached for 5 hour. Your limit will reset at 2026-11-25 18:00:00 UTC"}}"#).header("date", "Wed, 25 Nov 2026 17:00:00 GMT"), QuotaExhausted, Some(3_600_000));
    is(j(429, r#"{"error":{"code":"1308","message":"Usage limit reached for 5 hour. Your limit will reset at 2026-11-26 02:00:00+08:00"}}"#).header("date", "Wed, 25 Nov 2026 17:00:00 GMT"), QuotaExhausted, Some(3_600_000));
    is(
        j(
            200,
            r#"{"error":{"message":"Our servers are currently overloaded.","code":"server_is_overloaded"}}"#,
        ),
        Overloaded,
        None,
    );
    is(
        j(
            200,
            r#"{"base_resp":{"status_code":1008,"status_msg":"insufficient balance"}}"#,
        ),
        QuotaExhausted,
        None,
    );
    // MiniMax's codes where its message says less, or says it in words no list holds.
    for (code, msg, class) in [
        (1004, "login fail: Please carry the API secret key in the 'Authorization' field of the request header", Auth),
        (2049, "invalid api key", Auth),
        (1026, "input new_sensitive", ContentPolicy),
        (1027, "output new_sensitive", ContentPolicy),
        (2013, "invalid params, tool call id is invalid", BadRequest),
        (2013, "", BadRequest),
        (1004, "", Auth),
    ] {
        let body = format!(r#"{{"base_resp":{{"status_code":{code},"status_msg":"{msg}"}}}}"#);
        is(j(200, &body), class, None);
    }
    // `status_code` with `status_message` (TMDB, Weatherbit and the gateways built like them).
    is(
        j(
            429,
            r#"{"status_code":429,"status_message":"Your request count (1007) is over the allowed limit of 1000 per day - Upgrade your key, or retry after 1343.2 minutes"}"#,
        ),
        QuotaExhausted,
        Some(80_592_000),
    );
    // The same numbers elsewhere are no MiniMax codes.
    is(
        j(200, r#"{"error":{"message":"oops","count":1004}}"#),
        ServerError,
        None,
    );
    is(
        j(
            422,
            r#"{"detail":[{"loc":["body","messages"],"msg":"field required","type":"value_error.missing"}]}"#,
        ),
        BadRequest,
        None,
    );
}

#[test]
fn streams() {
    is(sse(": keep-alive\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n: ping\n\ndata: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"), Success, None);
    is(sse("data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"error\",\"error\":{\"code\":502,\"message\":\"Provider disconnected\"}}]}\n\ndata: [DONE]\n\n"), ServerError, None);
    is(
        sse("data: {\"choices\":[]}\n\ndata: [DONE]\n\n"),
        EmptySuccess,
        None,
    );
    is(
        sse("data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n"),
        ServerError,
        None,
    );
    is(sse("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"content\":[]}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), Success, None);
    is(sse("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"content\":[]}}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"refusal\"}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), ContentPolicy, None);
    is(sse("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"), Overloaded, None);
    is(sse("data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hello\"}]}}]}\r\n\r\ndata: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"!\"}]},\"finishReason\":\"STOP\"}]}\r\n\r\n"), Success, None);
    is(sse("event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"object\":\"response\",\"status\":\"completed\",\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"ok\"}]}]}}\n\n"), Success, None);
    is(sse("event: response.incomplete\ndata: {\"type\":\"response.incomplete\",\"response\":{\"object\":\"response\",\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"content_filter\"},\"output\":[]}}\n\n"), ContentPolicy, None);
    is(Reply::new(200, ""), EmptySuccess, None);
    let v = classify(&sse("data: {\"choices\":[{\"delta\":{\"content\":\"Partial\"}}]}\n\nevent: error\ndata: {\"error\":{\"message\":\"Internal error\",\"type\":\"server_error\"}}\n\n"));
    assert_eq!(v.class, ServerError);
    assert!(v.soft && v.partial_output);
}

#[test]
fn pages_and_status_only() {
    is(
        Reply::new(
            502,
            "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
        )
        .header("content-type", "text/html"),
        ServerError,
        None,
    );
    is(
        Reply::new(
            503,
            "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
        ),
        Overloaded,
        None,
    );
    is(Reply::new(429, "<html><title>Access denied | api.example.com used Cloudflare to restrict access</title><body>You are being rate limited</body></html>"), RateLimit, None);
    is(
        Reply::new(
            200,
            "<!DOCTYPE html><html><body>Just a moment...</body></html>",
        ),
        ServerError,
        None,
    );
    is(
        Reply::new(200, "{\"choices\":[{\"message\":{\"content\":\"trunc"),
        ServerError,
        None,
    );
    is(Reply::new(401, ""), Auth, None);
    is(Reply::new(402, ""), QuotaExhausted, None);
    is(Reply::new(413, ""), ContextOverflow, None);
    is(
        Reply::new(429, "").header("retry-after", "1.5"),
        RateLimit,
        Some(1500),
    );
    is(Reply::new(500, "upstream connect error or disconnect/reset before headers. reset reason: connection termination"), ServerError, None);
    is(Reply::new(504, ""), ServerError, None);
    is(Reply::new(529, ""), Overloaded, None);
    is(Reply::new(499, ""), Cancelled, None);
    is(Reply::new(200, "plain text answer"), Success, None);
    is(
        Reply::new(429, "")
            .header("x-ratelimit-remaining-requests", "0")
            .header("x-ratelimit-reset-requests", "6m0s"),
        RateLimit,
        Some(360_000),
    );
}

#[test]
fn more_provider_shapes() {
    is(
        j(
            429,
            r#"{"message":"Too many tokens, please wait before trying again."}"#,
        )
        .header(
            "x-amzn-errortype",
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
        ),
        RateLimit,
        None,
    );
    is(
        j(
            400,
            r#"{"message":"Input is too long for requested model."}"#,
        )
        .header("x-amzn-errortype", "ValidationException"),
        ContextOverflow,
        None,
    );
    is(j(498, r#"{"message":"invalid api token"}"#), Auth, None);
    is(
        j(
            401,
            r#"{"code":"InvalidApiKey","message":"Invalid API-key provided."}"#,
        ),
        Auth,
        None,
    );
    is(
        j(
            402,
            r#"{"error":{"message":"Credit limit exceeded. Please navigate to the billing page to add credit.","type":"credit_limit"}}"#,
        ),
        QuotaExhausted,
        None,
    );
    is(
        j(
            429,
            r#"{"errors":[{"code":3036,"message":"You have used up your daily free allocation of 10,000 neurons"}],"success":false}"#,
        ),
        QuotaExhausted,
        None,
    );
    is(
        j(
            429,
            r#"{"errors":[{"code":3040,"message":"AiError: Capacity temporarily exceeded, please try again."}],"success":false}"#,
        ),
        Overloaded,
        None,
    );
    is(
        j(
            403,
            r#"{"error":{"message":"该令牌额度已用尽","type":"new_api_error"}}"#,
        ),
        QuotaExhausted,
        None,
    );
    is(
        j(
            401,
            r#"{"error":{"message":"无效的令牌","type":"new_api_error"}}"#,
        ),
        Auth,
        None,
    );
    is(
        j(
            429,
            r#"{"error":{"code":"1304","message":"该模型当日调用次数超额"}}"#,
        ),
        QuotaExhausted,
        None,
    );
    is(
        j(
            400,
            r#"{"error":{"message":"Invalid request: Your request exceeded model token limit: 8192","type":"invalid_request_error"}}"#,
        ),
        ContextOverflow,
        None,
    );
    is(
        j(
            422,
            r#"{"error":"Input validation error: `inputs` must have less than 4096 tokens. Given: 5000","error_type":"validation"}"#,
        ),
        ContextOverflow,
        None,
    );
    is(j(429, r#"{"error":{"message":"Rate limit is exceeded for API version 2024-02-01. Try again later."}}"#).header("date", "Wed, 25 Nov 2026 12:00:00 GMT"), RateLimit, None);
    is(
        j(504, r#"{"message": "Endpoint request timed out"}"#),
        ServerError,
        None,
    );
    is(
        j(403, r#"{"message":"Missing Authentication Token"}"#),
        Auth,
        None,
    );
    is(j(404, r#"{"detail":"Not Found"}"#), BadRequest, None);
    is(
        j(
            200,
            r#"{"code":0,"msg":"success","data":{"choices":[{"message":{"content":"hi"}}]}}"#,
        ),
        Success,
        None,
    );
}

#[test]
fn ndjson_streams_and_gemini_metric_quotas() {
    is(Reply::new(200, "{\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n{\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\"}\n").header("content-type", "application/x-ndjson"), Success, None);
    is(Reply::new(200, "{\"message\":{\"content\":\"Hi\"},\"done\":false}\n{\"error\":\"an unknown error was encountered while running the model\"}\n"), ServerError, None);
    is(
        j(
            429,
            r#"{"error":{"code":429,"message":"Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 15, model: gemini-2.0-flash. Please retry in 20s.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]}]}}"#,
        ),
        RateLimit,
        Some(20000),
    );
}

#[test]
fn json_errors_behind_a_stream_content_type() {
    is(
        sse(r#"{"error":{"message":"Incorrect API key provided","code":"invalid_api_key"}}"#)
            .header("x", "y"),
        Auth,
        None,
    );
    is(
        j(
            429,
            r#"{"error":{"message":"No deployments available for selected model, Try again in 60 seconds. Passed model=gpt-4o. cooldown_list=['a1']","type":"None","code":"429"}}"#,
        ),
        Overloaded,
        Some(60000),
    );
}

/// Found by comparing verdicts with the previous classifier over the fuzz corpus.
#[test]
fn differential_regressions() {
    // An empty 2xx is a success: no wait, whatever the headers say.
    is(
        Reply::new(204, "").header("retry-after", "5"),
        Class::EmptySuccess,
        None,
    );
    // A wait counts only after a cue as written: "resets_in-1" is not "resets in 1".
    is(
        j(
            429,
            r#"{"error":{"message":"limit hit, resets_in-1 minute"}}"#,
        ),
        Class::RateLimit,
        None,
    );
    is(
        j(
            429,
            r#"{"error":{"message":"limit hit, Retry-After 7 seconds"}}"#,
        ),
        Class::RateLimit,
        Some(7_000),
    );
}

/// Words are words (rule 10 of the failure classes): request faults that carry a key-level,
/// overload or server word inside another word or another meaning, and the shapes each
/// narrowed phrase was kept for.
#[test]
fn a_request_too_big_in_bytes_is_a_context_overflow() {
    // Gemini answers an oversized body with INVALID_ARGUMENT; the request, not the key, is
    // at fault, and only a smaller request (or a bigger-context fallback) can help.
    is(
        j(
            400,
            r#"{"error":{"code":400,"message":"Request payload size exceeds the limit: 20971520 bytes.","status":"INVALID_ARGUMENT"}}"#,
        ),
        ContextOverflow,
        None,
    );
    is(
        j(413, r#"{"error":{"message":"request body too large"}}"#),
        ContextOverflow,
        None,
    );
}

#[test]
fn request_faults_with_key_level_words() {
    // Anthropic: a thinking block's signature is the request's, not a credential's.
    is(
        j(
            400,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"messages.1.content.0: Invalid `signature` in `thinking` block"}}"#,
        ),
        BadRequest,
        None,
    );
    // "budget_tokens" is a parameter, not a spend budget.
    is(
        j(
            400,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"thinking.budget_tokens: Input should be greater than or equal to 1024"}}"#,
        ),
        BadRequest,
        None,
    );
    // A model's output "capacity" is not provider overload.
    let v = classify(&j(
        400,
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: 32000 exceeds model capacity of 16384 output tokens"}}"#,
    ));
    assert!(v.class.is_request_fault(), "{} ({})", v.class, v.reason);
    // "original" is not "origin", "international" not "internal".
    is(
        j(
            400,
            r#"{"error":{"message":"Invalid schema for function 'translate': the original text must be a string; international names are not supported here.","type":"invalid_request_error","param":"tools[0]","code":"invalid_function_parameters"}}"#,
        ),
        BadRequest,
        None,
    );
    // ... while the shapes the narrowed phrases are for still read as before.
    is(
        j(
            403,
            r#"{"__type":"InvalidSignatureException","message":"The request signature we calculated does not match the signature you provided."}"#,
        ),
        Auth,
        None,
    );
    is(
        j(
            503,
            r#"{"error":{"message":"Selected model is at capacity. Please try a different model.","type":"server_error"}}"#,
        ),
        Overloaded,
        None,
    );
    is(
        Reply::new(521, "error code: 521 origin is unreachable"),
        ServerError,
        None,
    );
    is(
        j(
            402,
            r#"{"error":{"message":"Budget has been exceeded! Current cost: 10.2, Max budget: 10.0","type":"budget_exceeded","code":"400"}}"#,
        ),
        QuotaExhausted,
        None,
    );
}

#[test]
fn gateway_limits_and_reset_headers() {
    // OpenRouter's own per-account limit names no upstream provider: the key's, by window.
    is(
        j(429, r#"{"error":{"message":"Rate limit exceeded: limit_rpm/google/gemini-2.5-pro/abc.","code":429,"metadata":{"headers":{"X-RateLimit-Limit":"20","X-RateLimit-Remaining":"0","X-RateLimit-Reset":"1741305630000"},"provider_name":null}}}"#)
            .header("date", "Fri, 07 Mar 2025 00:00:00 GMT"),
        RateLimit,
        Some(30_000),
    );
    // X-RateLimit-Reset as a header: epoch seconds, epoch milliseconds, or a delta.
    let reset = |v: &str| {
        classify(
            &j(
                429,
                r#"{"error":{"message":"Too many requests","type":"rate_limit_error"}}"#,
            )
            .header("date", "Mon, 27 Oct 2025 08:16:00 GMT")
            .header("x-ratelimit-remaining", "0")
            .header("x-ratelimit-reset", v),
        )
        .retry_after_ms
    };
    assert_eq!(reset("1761552990"), Some(30_000));
    assert_eq!(reset("1761552990000"), Some(30_000));
    assert_eq!(reset("42"), Some(42_000));
    // Retry-After in the two older date forms recipients must accept (RFC 9110 §5.6.7).
    let ra = |v: &str| {
        classify(
            &j(503, "")
                .header("date", "Sun, 06 Nov 1994 08:49:07 GMT")
                .header("retry-after", v),
        )
        .retry_after_ms
    };
    assert_eq!(ra("Sun, 06 Nov 1994 08:49:37 GMT"), Some(30_000));
    assert_eq!(ra("Sunday, 06-Nov-94 08:49:37 GMT"), Some(30_000));
    assert_eq!(ra("Sun Nov  6 08:49:37 1994"), Some(30_000));
}

#[test]
fn invalid_request_type_is_a_request_fault() {
    // Failure rule 10: the error's type says the request is invalid, and nothing specific says
    // the key is at fault. OpenAI: a tool setting this model does not allow.
    is(
        j(
            400,
            r#"{"error":{"message":"You do not have permission to use tool_choice 'required' with this model.","type":"invalid_request_error","param":"tool_choice","code":null}}"#,
        ),
        BadRequest,
        None,
    );
    // Anthropic: a 403 typed as an invalid request is not a credential failure.
    is(
        j(
            403,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"This model is not available for this request format."}}"#,
        ),
        BadRequest,
        None,
    );
    // Gemini: INVALID_ARGUMENT naming an internal field is not a server error.
    is(
        j(
            400,
            r#"{"error":{"code":400,"message":"Invalid value at 'generation_config.internal_options' (type.googleapis.com/Options), unknown field.","status":"INVALID_ARGUMENT"}}"#,
        ),
        BadRequest,
        None,
    );
    // Bedrock: the type comes in a header.
    is(
        j(
            403,
            r#"{"message":"Malformed input request: extraneous key [top_k] is not permitted, please reformat your input and try again."}"#,
        )
        .header("x-amzn-errortype", "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        BadRequest,
        None,
    );
    // ... unless a specific key-level phrase, or a key-level status, says otherwise.
    is(
        j(
            400,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API."}}"#,
        ),
        QuotaExhausted,
        None,
    );
    is(
        j(
            400,
            r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}"#,
        ),
        Auth,
        None,
    );
    is(
        j(
            401,
            r#"{"error":{"message":"You didn't provide an API key. You need to provide your API key in an Authorization header.","type":"invalid_request_error","param":null,"code":null}}"#,
        ),
        Auth,
        None,
    );
    // OpenAI: the key's project lacks the model; another project's key may have it.
    is(
        j(
            403,
            r#"{"error":{"message":"Project `proj_abc` does not have access to model `gpt-4o`","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
        ),
        Auth,
        None,
    );
    // DeepSeek: the code says invalid_request_error, the type says authentication.
    is(
        j(
            403,
            r#"{"error":{"message":"Access denied","type":"authentication_error","param":null,"code":"invalid_request_error"}}"#,
        ),
        Auth,
        None,
    );
}

#[test]
fn subscription_windows_in_headers_are_quotas() {
    // Failure rule 8: Anthropic's unified (subscription) limits show the window only in
    // headers; the body is a generic rate_limit_error.
    const BODY: &str = r#"{"type":"error","error":{"type":"rate_limit_error","message":"Rate limited"},"request_id":"req_1"}"#;
    const DATE: &str = "Mon, 30 Nov 2026 12:00:00 GMT"; // epoch 1796040000
    let at = |h: u64| (1_796_040_000 + h * 3600).to_string();
    let r = j(429, BODY)
        .header("date", DATE)
        .header("anthropic-ratelimit-unified-status", "rejected")
        .header("anthropic-ratelimit-unified-5h-status", "rejected")
        .header("anthropic-ratelimit-unified-5h-reset", at(3))
        .header("anthropic-ratelimit-unified-7d-status", "allowed")
        .header("anthropic-ratelimit-unified-7d-reset", at(100));
    is(r, QuotaExhausted, Some(3 * 3_600_000));
    // Both windows rejected: the later reset is when the key works again.
    let r = j(429, BODY)
        .header("date", DATE)
        .header("anthropic-ratelimit-unified-status", "rejected")
        .header("anthropic-ratelimit-unified-5h-status", "rejected")
        .header("anthropic-ratelimit-unified-5h-reset", at(3))
        .header("anthropic-ratelimit-unified-7d_opus-status", "rejected")
        .header("anthropic-ratelimit-unified-7d_opus-reset", at(50));
    is(r, QuotaExhausted, Some(50 * 3_600_000));
    // The overall status with the claim that names the window; Retry-After still comes first.
    let r = j(429, BODY)
        .header("retry-after", "13262")
        .header("anthropic-ratelimit-unified-status", "rejected")
        .header(
            "anthropic-ratelimit-unified-representative-claim",
            "five_hour",
        );
    is(r, QuotaExhausted, Some(13_262_000));
    // An empty 429 with the same headers.
    let r = Reply::new(429, "")
        .header("date", DATE)
        .header("anthropic-ratelimit-unified-status", "rejected")
        .header("anthropic-ratelimit-unified-reset", at(20));
    is(r, QuotaExhausted, Some(20 * 3_600_000));
    // Not rejected, or a window shorter than an hour: a throttle stays a throttle.
    let r = j(429, BODY)
        .header("anthropic-ratelimit-unified-status", "allowed_warning")
        .header("anthropic-ratelimit-unified-5h-status", "allowed_warning")
        .header(
            "anthropic-ratelimit-unified-representative-claim",
            "five_hour",
        );
    is(r, RateLimit, None);
    let r = j(429, BODY)
        .header("date", DATE)
        .header("anthropic-ratelimit-unified-status", "rejected")
        .header("anthropic-ratelimit-unified-reset", "1796040120");
    is(r, RateLimit, Some(120_000));
    // Only a throttle is overridden: an overload is still an overload.
    let r = j(
        529,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    )
    .header("anthropic-ratelimit-unified-5h-status", "rejected");
    is(r, Overloaded, None);
}

#[test]
fn a_conditional_wait_is_no_wait() {
    // "Only an unconditional numeric wait counts."
    is(
        j(
            429,
            r#"{"error":{"message":"Rate limit exceeded. If you recently upgraded your plan, try again after 5 minutes.","type":"requests"}}"#,
        ),
        RateLimit,
        None,
    );
    // The condition belongs to its own sentence; a plain wait elsewhere still counts.
    is(
        j(
            429,
            r#"{"error":{"message":"If this persists, contact support. Rate limit reached, please try again in 20s.","type":"requests"}}"#,
        ),
        RateLimit,
        Some(20_000),
    );
    // "if" inside a word is no condition ("Verify the limits; try again in 3s").
    is(
        j(
            429,
            r#"{"error":{"message":"Rate limit hit. Verify usage, then retry after 3 seconds.","type":"requests"}}"#,
        ),
        RateLimit,
        Some(3_000),
    );
}

#[test]
fn phrases_match_whole_words() {
    // Failure rule 10. Each of these once matched a key-level phrase inside another word.
    // "used up" inside "caused upstream":
    is(
        j(
            502,
            r#"{"error":{"message":"The failure was caused upstream; please retry.","type":"upstream_error"}}"#,
        ),
        ServerError,
        None,
    );
    // "top up" inside "stop updating":
    is(
        j(
            400,
            r#"{"error":{"message":"Please stop updating the system message between tool calls.","type":"invalid_request_error"}}"#,
        ),
        BadRequest,
        None,
    );
    // "afford" inside "affordable":
    is(
        j(
            404,
            r#"{"error":{"message":"Model 'gpt-x' not found. Try an affordable model such as gpt-4o-mini.","type":"not_found_error"}}"#,
        ),
        BadRequest,
        None,
    );
    // ... while stems, camel case and codes still read: "throttl*" in ThrottlingException,
    // "quota" in AllocationQuota, "rate limit*" in "rate limits".
    is(
        j(
            400,
            r#"{"__type":"ThrottlingException","message":"Too many tokens, please wait before trying again."}"#,
        ),
        RateLimit,
        None,
    );
    is(
        j(
            403,
            r#"{"code":"AllocationQuota.FreeTierOnly","message":"The free tier of the model has been exhausted."}"#,
        ),
        QuotaExhausted,
        None,
    );
    is(
        j(
            429,
            r#"{"error":{"message":"You have hit your organization's rate limits for requests per minute.","type":"requests"}}"#,
        ),
        RateLimit,
        None,
    );
}

#[test]
fn the_window_rule_reads_waits_and_headers() {
    // Failure rule 8: a requested wait of a day or more shows a long window, wherever it is
    // stated: a Retry-After header, a body field, the message.
    let body = r#"{"error":{"message":"Rate limit exceeded","type":"requests"}}"#;
    is(
        j(429, body).header("retry-after", "90000"),
        QuotaExhausted,
        Some(90_000_000),
    );
    is(
        j(
            429,
            r#"{"error":{"message":"Rate limit exceeded","retry_after":172800}}"#,
        ),
        QuotaExhausted,
        Some(172_800_000),
    );
    is(
        j(
            429,
            r#"{"error":{"message":"Too many requests. Please try again in 26 hours."}}"#,
        ),
        QuotaExhausted,
        Some(93_600_000),
    );
    // An exhausted limiter named for a day, even with a shorter reset (a rolling window).
    is(
        j(429, body)
            .header("x-ratelimit-remaining-requests-day", "0")
            .header("x-ratelimit-reset-requests-day", "20h"),
        QuotaExhausted,
        Some(72_000_000),
    );
    // A day limiter with room left, and a per-minute one exhausted: a throttle.
    is(
        j(429, body)
            .header("x-ratelimit-remaining-requests-day", "5")
            .header("x-ratelimit-remaining-requests", "0")
            .header("x-ratelimit-reset-requests", "20s"),
        RateLimit,
        Some(20_000),
    );
    // A wait under a day says nothing of the window.
    is(
        j(429, body).header("retry-after", "3600"),
        RateLimit,
        Some(3_600_000),
    );
}

#[test]
fn answers_that_talk_about_failures_are_answers() {
    // Failure rule 7, across the answer shapes: the model's text is not an error.
    let text = "Error 429: rate limit exceeded. Your credit balance is too low; the API key is invalid and the server is overloaded.";
    let chat = serde_json::json!({"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":text},"finish_reason":"stop"}]});
    is(j(200, &chat.to_string()), Success, None);
    let anthropic = serde_json::json!({"type":"message","role":"assistant","content":[{"type":"text","text":text}],"stop_reason":"end_turn"});
    is(j(200, &anthropic.to_string()), Success, None);
    let gemini = serde_json::json!({"candidates":[{"content":{"parts":[{"text":text}],"role":"model"},"finishReason":"STOP"}]});
    is(j(200, &gemini.to_string()), Success, None);
    let responses = serde_json::json!({"object":"response","status":"completed","error":null,"output":[{"type":"message","content":[{"type":"output_text","text":text}]}]});
    is(j(200, &responses.to_string()), Success, None);
    let chunk = |c: &str| serde_json::json!({"choices":[{"index":0,"delta":{"content":c},"finish_reason":null}]});
    let stream = format!(
        "data: {}\n\ndata: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        chunk("insufficient_quota "),
        chunk(text),
        serde_json::json!({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})
    );
    is(sse(&stream), Success, None);
    // "length" with content is an answer, and a tool call with null content is output.
    let long = serde_json::json!({"choices":[{"message":{"content":"Quota exceeded means..."},"finish_reason":"length"}]});
    is(j(200, &long.to_string()), Success, None);
    let tool = serde_json::json!({"choices":[{"message":{"content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"report_error","arguments":"{\"code\":\"rate_limit_exceeded\"}"}}]},"finish_reason":"tool_calls"}]});
    is(j(200, &tool.to_string()), Success, None);
}

#[test]
fn an_upgrade_offer_is_no_window_and_disabled_billing_is_a_quota() {
    // Groq's per-minute 429 ends "Upgrade to Dev Tier today": "today" there names no window.
    is(
        j(
            429,
            r#"{"error":{"message":"Rate limit reached for model `llama-3.3-70b-versatile` in organization `org_01` service tier `on_demand` on tokens per minute (TPM): Limit 6000, Used 5200, Requested 1500. Please try again in 7.2s. Need more tokens? Upgrade to Dev Tier today at https://console.groq.com/settings/billing","type":"tokens","code":"rate_limit_exceeded"}}"#,
        ),
        RateLimit,
        Some(7200),
    );
    // A limit "for today", or "try again tomorrow", is a day window.
    is(
        j(
            429,
            r#"{"error":{"message":"Rate limit exceeded. Please try again tomorrow.","code":"rate_limit_exceeded"}}"#,
        ),
        QuotaExhausted,
        None,
    );
    // Google 403 BILLING_DISABLED: the project's billing, not the credential.
    is(
        j(
            403,
            r#"{"error":{"code":403,"message":"This API method requires billing to be enabled. Please enable billing on project #123 by visiting https://console.developers.google.com/billing/enable?project=123 then retry.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"BILLING_DISABLED"}]}}"#,
        ),
        QuotaExhausted,
        None,
    );
}

#[test]
fn a_trial_key_is_throttled_by_its_window() {
    // Cohere's trial-key 429 names the key's kind, not an exhausted allowance: the window
    // decides (per minute here; the same template "/ month" is the corpus's quota case).
    is(
        j(
            429,
            r#"{"message":"You are using a Trial key, which is limited to 10 API calls / minute. You can continue to use the Trial key for free or upgrade to a Production key with higher rate limits at 'https://dashboard.cohere.com/api-keys'."}"#,
        ),
        RateLimit,
        None,
    );
    // A bare "quota" (here a function's name) in an error typed as an invalid request is
    // no key-level signal.
    is(
        j(
            400,
            r#"{"error":{"message":"Invalid schema for function 'get_quota': In context=('properties', 'limit'), 'minimum' is not permitted.","type":"invalid_request_error","param":"tools[0].function.parameters","code":"invalid_function_parameters"}}"#,
        ),
        BadRequest,
        None,
    );
    // Nor is "credits" named alone (a tool's name); a balance that is too low still is.
    is(
        j(
            400,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$' (got 'billing.credits.check')"}}"#,
        ),
        BadRequest,
        None,
    );
    is(
        j(
            402,
            r#"{"error":{"message":"This request requires more credits, or fewer max_tokens.","code":402}}"#,
        ),
        QuotaExhausted,
        None,
    );
    is(
        j(
            400,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credits have been exhausted. Please purchase more to continue."}}"#,
        ),
        QuotaExhausted,
        None,
    );
    // One request over the model's size, in Cohere's and gRPC's words.
    for text in [
        "too many tokens: size limit exceeded by 11326 tokens. Try using shorter or fewer inputs, or setting prompt_truncation='AUTO'.",
        "Sent message larger than max (50000056 vs. 20971520)",
    ] {
        let body = serde_json::json!({ "message": text }).to_string();
        is(j(400, &body), ContextOverflow, None);
    }
}

#[test]
fn an_unrecognised_error_inside_a_200_says_so() {
    let v = classify(&j(
        200,
        r#"{"error":{"message":"boom","type":"runtime_error","code":"2003"}}"#,
    ));
    assert_eq!(v.class, ServerError);
    assert_eq!(v.reason, "error object inside a 2xx, nothing more specific");
    // With a status of its own in the body, the body's status is the one named.
    let v = classify(&j(200, r#"{"error":{"message":"boom","code":502}}"#));
    assert_eq!((v.class, v.reason), (ServerError, "status: 5xx"));
}

#[test]
fn a_document_printed_into_a_message_or_a_text_body_is_read() {
    // The OpenAI Python SDK's exception text as a gateway relays it: a Python repr. Its type
    // says the request is invalid, so the tool named `get_quota` is no quota.
    is(
        Reply::new(
            400,
            "Error code: 400 - {'error': {'message': \"Invalid schema for function 'get_quota'\", 'type': 'invalid_request_error', 'param': None, 'code': None}}",
        )
        .header("content-type", "text/plain"),
        BadRequest,
        None,
    );
    // Its retry field counts.
    is(
        Reply::new(
            429,
            "Error code: 429 - {'error': {'code': 429, 'message': 'Quota exceeded for metric: requests per minute', 'status': 'RESOURCE_EXHAUSTED', 'details': [{'@type': 'type.googleapis.com/google.rpc.RetryInfo', 'retryDelay': '26s'}]}}",
        ),
        RateLimit,
        Some(26_000),
    );
    // JSON inside a message, its text escaped: the numeric code and the decoded words count.
    is(
        j(
            429,
            r#"{"error":{"message":"{\"error\": {\"code\": \"1113\", \"message\": \"\\u4f59\\u989d\\u4e0d\\u8db3\"}}","type":"upstream_error"}}"#,
        ),
        QuotaExhausted,
        None,
    );
}

#[test]
fn an_invalid_request_inside_a_stream_is_the_request_s_fault() {
    // An error frame typed as an invalid request, mid-stream: a 400's meaning, so the bare
    // "quota" of a function's name is no key-level signal (as in a 400 reply).
    let v = classify(&sse(concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[]}}\n\n",
        "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"tools.0.custom.input_schema: schema of 'get_quota' is invalid\"}}\n\n",
    )));
    assert_eq!(v.class, BadRequest, "{}", v.reason);
    // Without a type, the same frame is a server-side failure read by its words.
    let v = classify(&sse(
        "data: {\"error\":{\"message\":\"upstream failed\"}}\n\n",
    ));
    assert_eq!(v.class, ServerError, "{}", v.reason);
}

#[test]
fn a_problem_document_in_a_200_is_the_error_its_status_says() {
    // RFC 9457 problem details carry the status they mean; NVIDIA NIM answers so.
    is(
        j(
            200,
            r#"{"type":"about:blank","title":"Payment Required","status":402,"detail":"Account 'x': Cloud credits expired"}"#,
        ),
        QuotaExhausted,
        None,
    );
    // A 2xx status in the body is no failure.
    is(j(200, r#"{"status":200,"message":"done"}"#), Success, None);
}

#[test]
fn a_relayed_invalid_request_naming_a_quota_is_the_request_s_fault() {
    // OpenRouter relaying a provider's 400: a function named for quotas is no upstream limit.
    is(
        j(
            400,
            r#"{"error":{"message":"Provider returned error","code":400,"metadata":{"raw":"{\"error\":{\"message\":\"Invalid schema for function 'get_quota'\",\"type\":\"invalid_request_error\"}}","provider_name":"OpenAI"}}}"#,
        ),
        BadRequest,
        None,
    );
    // A relayed limit is still the gateway's shared upstream.
    is(
        j(
            429,
            r#"{"error":{"message":"Provider returned error","code":429,"metadata":{"raw":"{\"error\":{\"message\":\"Quota exceeded for this model\",\"type\":\"rate_limit_error\"}}","provider_name":"OpenAI"}}}"#,
        ),
        Overloaded,
        None,
    );
}

#[test]
fn no_phrase_spans_two_texts() {
    // xAI puts a generic `code` beside its `error`: "...has been exhausted" then "Your team
    // ..." read as one text made "exhausted your", a quota, of a per-minute limit.
    is(
        j(
            429,
            r#"{"code":"Some resource has been exhausted","error":"Your team 0f3a has exceeded its requests per minute limit. Please slow down."}"#,
        ),
        RateLimit,
        None,
    );
    // Within one text the phrase still counts.
    is(
        j(
            429,
            r#"{"error":{"message":"You have exhausted your monthly quota."}}"#,
        ),
        QuotaExhausted,
        None,
    );
}

#[test]
fn a_clock_wait_after_in_is_read() {
    // Azure API Management's quota policy (a .NET TimeSpan).
    is(
        j(
            403,
            r#"{"statusCode":403,"message":"Out of call volume quota. Quota will be replenished in 00:59:12."}"#,
        ),
        QuotaExhausted,
        Some(3_552_000),
    );
    is(
        j(
            429,
            r#"{"message":"Quota will be replenished in 1.02:03:04."}"#,
        ),
        QuotaExhausted,
        Some(93_784_000),
    );
    // After "after" a clock is a time of day, which gives no wait without a zone and a date.
    is(
        j(
            429,
            r#"{"message":"Too many requests. Please try again after 12:30:00."}"#,
        ),
        RateLimit,
        None,
    );
    // Not a clock: a ratio, a version.
    is(
        j(429, r#"{"message":"Rate limited. Retry in 1:2:3 please."}"#),
        RateLimit,
        None,
    );
}

#[test]
fn a_validation_report_is_read_as_the_error_s_text() {
    // Mistral's 422: the message is pydantic's report, not a string.
    is(
        j(
            422,
            r#"{"object":"error","message":{"detail":[{"type":"value_error","loc":["body"],"msg":"Value error, Prompt contains 140000 tokens, too large for model with 131072 maximum context length","input":{}}]},"type":"invalid_request_error","param":null,"code":null}"#,
        ),
        ContextOverflow,
        None,
    );
    // FastAPI's own shape, at the top level.
    is(
        j(
            400,
            r#"{"detail":[{"loc":["body"],"msg":"This model's maximum context length is 4096 tokens","type":"value_error"}]}"#,
        ),
        ContextOverflow,
        None,
    );
    is(
        j(
            422,
            r#"{"detail":[{"loc":["body","messages"],"msg":"Field required","type":"missing"}]}"#,
        ),
        BadRequest,
        None,
    );
    // A report in a 200 says nothing of a failure on its own.
    is(
        j(
            200,
            r#"{"detail":[{"loc":["body"],"msg":"rate limit","type":"x"}]}"#,
        ),
        Success,
        None,
    );
}

#[test]
fn more_credential_and_size_wordings() {
    // Baidu Qianfan error_code 110, in a 200.
    is(
        j(
            200,
            r#"{"error_code":110,"error_msg":"Access token invalid or no longer valid"}"#,
        ),
        Auth,
        None,
    );
    // OpenAI embeddings: an input over the model's length, typed as an invalid request.
    is(
        j(
            400,
            r#"{"error":{"message":"Invalid 'input': maximum input length is 8192 tokens.","type":"invalid_request_error","param":"input","code":null}}"#,
        ),
        ContextOverflow,
        None,
    );
}

#[test]
fn cohere_streams_are_read_by_their_events() {
    // v2 (SSE): text in content-delta, the end in message-end.
    let v2 = |end: &str, text: &str| {
        format!(
            "event: message-start\ndata: {{\"type\":\"message-start\",\"delta\":{{\"message\":{{\"role\":\"assistant\"}}}}}}\n\n\
             event: content-delta\ndata: {{\"type\":\"content-delta\",\"index\":0,\"delta\":{{\"message\":{{\"content\":{{\"text\":\"{text}\"}}}}}}}}\n\n\
             event: message-end\ndata: {{\"type\":\"message-end\",\"delta\":{{\"finish_reason\":\"{end}\"}}}}\n\n"
        )
    };
    is(sse(&v2("COMPLETE", "Hello")), Success, None);
    is(sse(&v2("COMPLETE", "")), EmptySuccess, None);
    is(sse(&v2("ERROR", "Hel")), ServerError, None);
    is(sse(&v2("ERROR_TOXIC", "")), ContentPolicy, None);
    // v1 (newline-delimited JSON): `event_type`.
    let v1 = |end: &str, text: &str| {
        format!(
            "{{\"is_finished\":false,\"event_type\":\"stream-start\",\"generation_id\":\"g\"}}\n\
             {{\"is_finished\":false,\"event_type\":\"text-generation\",\"text\":\"{text}\"}}\n\
             {{\"is_finished\":true,\"event_type\":\"stream-end\",\"finish_reason\":\"{end}\"}}\n"
        )
    };
    is(j(200, &v1("COMPLETE", "Hi")), Success, None);
    is(j(200, &v1("ERROR_TOXIC", "")), ContentPolicy, None);
}

#[test]
fn a_prompt_beyond_the_model_length_is_an_overflow() {
    // vLLM's error event mid-stream.
    is(
        sse("data: {\"object\":\"error\",\"message\":\"The decoder prompt (length 9000) is longer than the maximum model length of 8192. Make sure that `max_model_len` is no smaller than the number of text tokens.\",\"type\":\"BadRequestError\",\"param\":null,\"code\":400}\n\n"),
        ContextOverflow,
        None,
    );
}

#[test]
fn web_addresses_are_names_not_statements() {
    // Anthropic's 400 for a thinking budget links to "…#max-tokens-and-context-window-size".
    is(
        j(
            400,
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"`max_tokens` must be greater than `thinking.budget_tokens`. Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking#max-tokens-and-context-window-size"}}"#,
        ),
        BadRequest,
        None,
    );
    // A link to the rate-limit guide is no rate limit; the sentence after it still counts.
    is(
        j(
            400,
            r#"{"error":{"message":"See https://example.com/docs/rate-limits. The model `x` does not exist.","type":"invalid_request_error"}}"#,
        ),
        BadRequest,
        None,
    );
    // The words around an address still decide.
    is(
        j(
            429,
            r#"{"error":{"message":"Rate limit reached on requests per day (https://platform.openai.com/account/rate-limits). Please try again in 20s."}}"#,
        ),
        QuotaExhausted,
        Some(20_000),
    );
}

#[test]
fn tencent_and_volcengine_envelopes_carry_their_failures_in_a_200() {
    let tc = |code: &str, msg: &str| {
        j(
            200,
            &format!(
                r#"{{"Response":{{"Error":{{"Code":"{code}","Message":"{msg}"}},"RequestId":"eac6b301"}}}}"#
            ),
        )
    };
    is(
        tc("LimitExceeded", "请求频率超过限制，请稍后重试。"),
        RateLimit,
        None,
    );
    is(
        tc("RequestLimitExceeded", "Your request is too frequent."),
        RateLimit,
        None,
    );
    is(
        tc(
            "AuthFailure.SignatureFailure",
            "The provided credentials could not be validated.",
        ),
        Auth,
        None,
    );
    is(
        tc(
            "ResourceInsufficient.ChargeResourceExhaust",
            "计费资源已耗尽。",
        ),
        QuotaExhausted,
        None,
    );
    is(tc("InternalError", "内部错误。"), ServerError, None);
    is(
        j(
            200,
            r#"{"ResponseMetadata":{"RequestId":"r","Action":"ChatCompletions","Error":{"Code":"AccessDenied","Message":"Access denied."}}}"#,
        ),
        Auth,
        None,
    );
    // A success of the same API is a success.
    is(
        j(
            200,
            r#"{"Response":{"Choices":[{"Message":{"Role":"assistant","Content":"Hi"},"FinishReason":"stop"}],"RequestId":"r"}}"#,
        ),
        Success,
        None,
    );
}

#[test]
fn a_limit_stated_around_its_size_is_a_limit_exceeded() {
    // g4f's 500: the window inside the parenthesis decides, not the status.
    is(
        Reply::new(
            500,
            "Token limit (500,000 per day) exceeded. Used: 508,311 tokens.",
        )
        .header("content-type", "text/plain"),
        QuotaExhausted,
        None,
    );
    is(
        j(503, r#"{"error":"Request limit (60 per minute) exceeded"}"#),
        RateLimit,
        None,
    );
    // No window: a size limit, the request's fault.
    is(
        j(
            400,
            r#"{"error":{"message":"Output limit (4096 tokens) exceeded for max_tokens","type":"invalid_request_error"}}"#,
        ),
        BadRequest,
        None,
    );
    // A parenthesis that never closes, repeated, stays linear and says nothing.
    let junk = "limit (".repeat(20_000);
    is(Reply::new(500, &junk), ServerError, None);
}

#[test]
fn deepseek_s_moderation_is_a_policy_stop() {
    // Typed as an invalid request, in the OpenAI envelope, flat, and as a FastAPI detail.
    for body in [
        r#"{"error":{"message":"Content Exists Risk","type":"invalid_request_error","param":null,"code":"invalid_request_error"}}"#,
        r#"{"code":"invalid_request_error","message":"Content Exists Risk","param":null,"type":"invalid_request_error"}"#,
        r#"{"detail":"Content Exists Risk"}"#,
    ] {
        is(j(400, body), ContentPolicy, None);
    }
}

#[test]
fn a_document_written_raw_into_a_stream_is_an_event() {
    // A gateway appends Gemini's 503 as it is after the chunks it already relayed.
    let chunk = |t: &str| {
        format!(
            "data: {{\"candidates\":[{{\"content\":{{\"parts\":[{{\"text\":\"{t}\"}}],\"role\":\"model\"}},\"index\":0}}]}}\n\n"
        )
    };
    let raw = "{\n  \"error\": {\n    \"code\": 503,\n    \"message\": \"This model is currently experiencing high demand. Please try again later.\",\n    \"status\": \"UNAVAILABLE\"\n  }\n}\n";
    let v = classify(&sse(&format!("{}{}{raw}", chunk("Hello"), chunk(" wor"))));
    assert_eq!(
        (v.class, v.partial_output),
        (Overloaded, true),
        "{}",
        v.reason
    );
    // Right after a data line, without the blank line, and followed by more events.
    is(
        sse("data: {\"x\":1}\n{\"error\":{\"code\":429,\"message\":\"Resource has been exhausted (e.g. check quota).\",\"status\":\"RESOURCE_EXHAUSTED\"}}\ndata: [DONE]\n\n"),
        RateLimit,
        None,
    );
    // A brace that is no document: the stream is malformed, not a success.
    is(
        sse(&format!("{}{{ not json\n\ndata: [DONE]\n\n", chunk("Hi"))),
        ServerError,
        None,
    );
}

#[test]
fn a_malformed_chunk_fails_the_stream_even_before_any_output() {
    // A gateway wrote its own error into an unfinished `response.completed`: the answer the
    // event carried is lost, so the stream is no empty success.
    let body = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"r\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[]}}\n\n\
                event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"object\":\"resp\n\
                data: {\"type\":\"error\",\"error\":{\"type\":\"upstream_error\",\"message\":\"stream_read_error\"}}\n\n";
    let v = classify(&sse(body));
    assert_eq!(
        (v.class, v.partial_output),
        (ServerError, false),
        "{}",
        v.reason
    );
}
