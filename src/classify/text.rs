//! The rule table over error text: codes, types, statuses and messages folded into one
//! normalised haystack (lower case, `_` and `-` as spaces), read by phrase rules tried in a
//! fixed order. The order is the precedence: a request-fault beats a key fault, a specific
//! quota beats a generic permission, a named window decides rate limit against quota.
//!
//! Every phrase of every list is compiled into one Aho-Corasick automaton, so the haystack is
//! scanned once and the rules read a bitmask of the lists that matched.

use super::aho::Automaton;
use super::retry_after::{clock_duration_ms, parse_duration_prefix_bytes};
use crate::class::Class;
use std::cell::Cell;
use std::sync::LazyLock;

/// Error text, read as if normalised ([`norm`]: lower case, `_` and `-` as spaces) and
/// scanned at most once.
#[derive(Debug, Default, Clone)]
pub(crate) struct Hay {
    // The texts as given, space-separated: the automaton normalises each byte as it reads it
    // (its byte classes are those of `norm`), so pushing is a copy.
    s: Vec<u8>,
    /// Some text was not ASCII (the phrases in other scripts are a second, rarely run table).
    non_ascii: bool,
    scanned: Cell<Option<Scan>>,
}

/// What one pass over the haystack found.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scan {
    /// The phrase lists that occur.
    pub lists: Lists,
    /// The first wait stated after a cue ("try again in 1.8s"), in milliseconds.
    pub wait_ms: Option<u64>,
}

/// Between two texts of a haystack: a space, so a phrase that ends in one ("limit: 0 ") still
/// matches at the end of a text, then a byte no phrase holds, so none spans two texts (an
/// xAI `code` "Some resource has been exhausted" and an `error` "Your team has exceeded its
/// requests per minute limit" do not make "exhausted your").
const SEP: &[u8] = b" \x1f";
const UNIT: u8 = 0x1f;

/// Blanks the web addresses in a text: their paths are names, not statements
/// ("…/extended-thinking#max-tokens-and-context-window-size" says nothing of a context
/// window, ".../docs/guides/error-codes/api-errors" nothing of a server error). The
/// sentence's own punctuation after an address is kept.
fn blank_urls(t: &mut [u8]) {
    let mut from = 0;
    while let Some(p) = memchr::memchr(b':', &t[from..]) {
        let colon = from + p;
        if !t[colon..].starts_with(b"://") {
            from = colon + 1;
            continue;
        }
        // The scheme: the letters just before "://" ("https").
        let start = t[..colon]
            .iter()
            .rposition(|b| !b.is_ascii_alphabetic())
            .map_or(0, |q| q + 1);
        let mut end = colon + 3;
        while end < t.len()
            && !matches!(
                t[end],
                b' ' | b'"' | b'\'' | b'<' | b'>' | b')' | b']' | b'`'
            )
            && !t[end].is_ascii_whitespace()
            && t[end] >= 0x20
        {
            end += 1;
        }
        let mut stop = end;
        while stop > colon + 3 && matches!(t[stop - 1], b'.' | b',' | b';' | b':' | b'!' | b'?') {
            stop -= 1;
        }
        if start < colon {
            t[start..stop].fill(UNIT);
        }
        from = end.max(colon + 3);
    }
}

impl Hay {
    pub(crate) fn push(&mut self, text: &str) {
        // Only the first 64 KiB of error text count: errors are short, junk is not.
        if self.s.len() > 64 * 1024 {
            return;
        }
        self.scanned.set(None);
        let end = text.len().min(64 * 1024);
        self.non_ascii |= !text.as_bytes()[..end].is_ascii();
        // Errors are a few short texts: one allocation for all of them, as a rule.
        if self.s.capacity() == 0 {
            self.s.reserve(256);
        }
        self.s.reserve(end + SEP.len());
        self.s.extend_from_slice(SEP);
        let from = self.s.len();
        self.s.extend_from_slice(&text.as_bytes()[..end]);
        blank_urls(&mut self.s[from..]);
    }

    /// Adds another haystack's texts.
    pub(crate) fn append(&mut self, other: &Hay) {
        if other.s.is_empty() || self.s.len() > 64 * 1024 {
            return;
        }
        self.scanned.set(None);
        self.non_ascii |= other.non_ascii;
        self.s.extend_from_slice(&other.s);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.s
            .iter()
            .all(|&b| norm(b) == b' ' || b.is_ascii_whitespace() || b == UNIT)
    }

    /// The wait a cue states ("try again in 1.8s"). A wait has digits: text without any is
    /// not scanned for it (when a structured code already decided the class, that is the
    /// whole cost).
    pub(crate) fn wait_ms(&self) -> Option<u64> {
        if let Some(done) = self.scanned.get() {
            return done.wait_ms;
        }
        if !self.s.iter().any(u8::is_ascii_digit) {
            return None;
        }
        self.scan().wait_ms
    }

    /// Which phrase lists occur, and the wait a cue states; the text is read once and the
    /// result kept.
    pub(crate) fn scan(&self) -> Scan {
        if let Some(done) = self.scanned.get() {
            return done;
        }
        let (mut mask, cues) = ASCII.run(&self.s);
        if self.non_ascii {
            mask |= OTHER.run(&self.s).0;
        }
        // The automaton reads normalised text; a wait counts only after a cue as written
        // (`RAW_CUES`, any case), so "retry_after-5" is not read as "retry after 5".
        let wait_ms = cues
            .iter()
            .flatten()
            .filter(|&&end| {
                RAW_CUES.iter().any(|c| {
                    end >= c.len() && self.s[end - c.len()..end].eq_ignore_ascii_case(c.as_bytes())
                }) && !conditional(&self.s, end)
            })
            .find_map(|&end| {
                let mut rest = &self.s[end..];
                for word in [&b"about "[..], b"approximately "] {
                    if rest.len() >= word.len() && rest[..word.len()].eq_ignore_ascii_case(word) {
                        rest = &rest[word.len()..];
                    }
                }
                parse_duration_prefix_bytes(rest)
                    .map(|(ms, _)| ms)
                    .or_else(|| {
                        let after_in = self.s[..end]
                            .get(end.saturating_sub(3)..)
                            .is_some_and(|c| c.eq_ignore_ascii_case(b"in "));
                        after_in.then(|| clock_duration_ms(rest)).flatten()
                    })
            });
        let done = Scan {
            lists: Lists(mask),
            wait_ms,
        };
        self.scanned.set(Some(done));
        done
    }

    /// A limit whose size stands in parentheses before it is said to be exceeded: g4f's 500
    /// "Token limit (500,000 per day) exceeded", "Daily limit (100 requests) reached". Each
    /// "limit (" is read at most 80 bytes on, so the scan stays linear.
    fn limit_exceeded_around_parens(&self) -> bool {
        let b = &self.s[..];
        let mut from = 0;
        while let Some(p) = find(&b[from..], b"limit (") {
            let open = from + p + 6;
            from = open;
            let window = &b[open..b.len().min(open + 80)];
            let Some(close) = window.iter().position(|&c| c == b')') else {
                continue;
            };
            let after = &b[open + close + 1..];
            let after = &after[after.iter().take_while(|&&c| c == b' ').count()..];
            if ["exceeded", "reached", "exhausted", "hit"]
                .iter()
                .any(|w| after.len() >= w.len() && same_words(&after[..w.len()], w.as_bytes()))
            {
                return true;
            }
        }
        false
    }

    /// `w` as a whole word (not inside a longer alphanumeric run).
    fn word(&self, w: &str) -> bool {
        let b = &self.s[..];
        let mut from = 0;
        while let Some(p) = find(&b[from..], w.as_bytes()) {
            let at = from + p;
            let end = at + w.len();
            let before = at == 0 || !b[at - 1].is_ascii_alphanumeric();
            let after = end >= b.len() || !b[end].is_ascii_alphanumeric();
            if before && after {
                return true;
            }
            from = at + 1;
        }
        false
    }

    /// Whether any of `ws` stands as a whole word. The lists mark their entries `*word*` (the
    /// automaton finds them anywhere; this is the boundary check), so the marks are dropped.
    fn any_word(&self, ws: &[&str]) -> bool {
        ws.iter().any(|w| self.word(w.trim_matches('*')))
    }

    /// The longest limit window written as a count of units after "per" ("Rate limit of 150
    /// per 86400s", "10 requests per 5 minutes"), in seconds. Each "per" is read a few bytes
    /// ahead at most, so the scan stays linear. A lone `m` is no unit ("per 1M tokens").
    fn counted_window_secs(&self) -> Option<u64> {
        let b = &self.s[..];
        let mut best: Option<u64> = None;
        let mut from = 0;
        while let Some(p) = find(&b[from..], b"per ") {
            let at = from + p;
            from = at + 4;
            if at > 0 && b[at - 1].is_ascii_alphanumeric() {
                continue;
            }
            let rest = &b[from..];
            let digits = rest
                .iter()
                .take(10)
                .take_while(|c| c.is_ascii_digit())
                .count();
            if digits == 0 || digits > 9 {
                continue;
            }
            let n = rest[..digits]
                .iter()
                .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
            let unit = rest[digits..].strip_prefix(b" ").unwrap_or(&rest[digits..]);
            let len = unit
                .iter()
                .take(9)
                .take_while(|c| c.is_ascii_alphabetic())
                .count();
            let scale = match unit[..len].to_ascii_lowercase().as_slice() {
                b"s" | b"sec" | b"secs" | b"second" | b"seconds" => 1,
                b"min" | b"mins" | b"minute" | b"minutes" => 60,
                b"h" | b"hr" | b"hrs" | b"hour" | b"hours" => 3_600,
                b"d" | b"day" | b"days" => 86_400,
                _ => continue,
            };
            best = best.max(Some(n * scale));
        }
        best
    }

    /// The number after `label` ("limit 10000", "requested: 17,652").
    fn number_after(&self, label: &str) -> Option<u64> {
        let pos = find(&self.s, label.as_bytes())?;
        let rest = &self.s[pos + label.len()..];
        let skip = rest
            .iter()
            .take_while(|&&b| matches!(norm(b), b' ' | b':' | b'='))
            .count();
        let mut n: Option<u64> = None;
        for &b in rest[skip..]
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b',')
        {
            if b != b',' {
                n = Some(
                    n.unwrap_or(0)
                        .checked_mul(10)?
                        .checked_add(u64::from(b - b'0'))?,
                );
            }
        }
        n
    }
}

/// How the phrase rules see a byte: ASCII lower case, with `_`, `-`, tabs and line breaks
/// read as spaces (so "Rate-Limit_Exceeded" reads "rate limit exceeded").
pub(crate) fn norm(b: u8) -> u8 {
    match b {
        b'_' | b'-' | b'\n' | b'\r' | b'\t' => b' ',
        b => b.to_ascii_lowercase(),
    }
}

/// Whether `a` and the normalised `b` read the same.
fn same_words(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| norm(x) == y)
}

/// The first place `needle` (a normalised word) occurs in `hay`, as the rules read it.
/// Needles here are short words and haystacks a few hundred bytes, where jumping between
/// occurrences of the needle's rarest letter beats building a searcher per call.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    // English letters, rarest first; a needle is anchored on the first of these it has.
    const RARE_FIRST: &[u8] = b"qzxjkvbpygfwmucldrhsnioate";
    let off = RARE_FIRST
        .iter()
        .find_map(|r| needle.iter().position(|b| b == r))
        .unwrap_or(0);
    let anchor = *needle.get(off)?;
    let mut from = off;
    while from <= hay.len() {
        let Some(p) = memchr::memchr2(anchor, anchor.to_ascii_uppercase(), &hay[from..]) else {
            break;
        };
        let at = from + p - off;
        if hay
            .get(at..at + needle.len())
            .is_some_and(|h| same_words(h, needle))
        {
            return Some(at);
        }
        from += p + 1;
    }
    None
}

/// What the surrounding reader knows beyond the text.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TextCtx {
    /// A gateway says the error came from the provider behind it (OpenRouter `metadata.raw` with
    /// a `provider_name`): limits there are the gateway's shared pool, not this key.
    pub upstream_wrapped: bool,
    /// The HTTP status (or the status a 2xx body names); a 429 is a throttle of some window.
    pub status: u16,
    /// The error's type or status says the request is invalid (`invalid_request_error`,
    /// `INVALID_ARGUMENT`, `ValidationException`): on a 4xx that is a request fault unless a
    /// specific key-level phrase says otherwise.
    pub invalid_type: bool,
}

/// Whether an error `type` / `status` (or `x-amzn-errortype`) names an invalid request.
/// Shapes: OpenAI and Anthropic `"type": "invalid_request_error"`, Google `"status":
/// "INVALID_ARGUMENT"`, Bedrock `ValidationException`.
pub(crate) fn is_invalid_type(t: &str) -> bool {
    let t = t.trim();
    let t = t.split(':').next().unwrap_or(t); // "ValidationException:http://..."
    let t = t.rsplit('#').next().unwrap_or(t); // "com.amazon.coral.validate#ValidationException"
    [
        "invalid_request_error",
        "invalid_request",
        "invalid_argument",
        "validationexception",
        "validation_error",
    ]
    .iter()
    .any(|k| t.eq_ignore_ascii_case(k))
}

const CANCELLED: &[&str] = &[
    "client closed request",
    "request was cancelled",
    "request was canceled",
    "cancelled by the user",
    "canceled by the user",
    "cancelled by client",
    "canceled by client",
];

const CONTENT_POLICY: &[&str] = &[
    // DeepSeek's moderation 400, typed `invalid_request_error`: "Content Exists Risk".
    "content exists risk",
    "content filter*",
    "content management policy",
    "content policy",
    "contentfilter*",
    "responsibleaipolicyviolation",
    "safety system",
    "safety filter*",
    "safety settings",
    "flagged",
    "moderation",
    "usage policies",
    "usage policy",
    "prohibited content",
    "inappropriate content",
    "datainspectionfailed",
    "data inspection failed",
    "sensitive content",
    "sensitive words",
    // Volcengine Ark: `InputTextSensitiveContentDetected` and its siblings for output and
    // images, "… the input text may contain sensitive information".
    "*sensitivecontentdetected",
    "may contain sensitive",
    "guardrail*",
    "blocked due to safety",
    "safety reasons",
    "harmful content",
    "violates our",
    "violating our",
    "policy violation",
    "content violat*",
    "敏感",
    "内容安全",
    "违规",
];

const CONTEXT_OVERFLOW: &[&str] = &[
    "context length",
    "context window*",
    "context limit*",
    // Cohere: "too many tokens: size limit exceeded by 11326 tokens. Try using shorter or
    // fewer inputs"; gRPC: "Sent message larger than max (50000056 vs. 20971520)".
    "size limit exceeded",
    "message larger than max",
    "context size",
    "maximum context*",
    "context overflow",
    "prompt is too long",
    "prompt too long",
    "input is too long",
    "input too long",
    "too many input tokens",
    "request too large",
    "request entity too large",
    "payload too large",
    "max seq len",
    "maximum sequence length",
    "sequence length",
    "reduce the length of the messages",
    "max new tokens",
    "exceeds the maximum number of tokens",
    "maximum number of tokens",
    "string above max length",
    "too large for model",
    "prompt token count",
    "max prompt tokens",
    // xAI: "This model's maximum prompt length is 131072 but the request contains 150000
    // tokens."
    "maximum prompt length",
    // OpenAI embeddings 400: "Invalid 'input': maximum input length is 8192 tokens."
    "maximum input length",
    // vLLM: "The decoder prompt (length 9000) is longer than the maximum model length of 8192."
    "maximum model length",
    // Volcengine Ark: "Total tokens of image and text exceed max message tokens."
    "max message tokens",
    "exceeds the token limit",
    "上下文长度",
    "超出最大",
    "too long for the model",
    "model token limit",
    "must have less than",
    "tokens must be <=",
    "超过最大",
    "超长",
    // DashScope's InvalidParameter for a prompt beyond the model: "Range of input length
    // should be [1, 30720]".
    "range of input length",
    "exceeds maximum context",
    "context_length",
    // Gemini: "Request payload size exceeds the limit: 20971520 bytes."
    "payload size exceeds",
    "request payload size",
    // Gateways and proxies in front of a provider: "request body too large".
    "request body too large",
    "request size exceeds",
    // Cohere 400: "too many tokens: total number of tokens in the prompt cannot exceed 4081 -
    // received 5000. Try using a shorter prompt, or enabling prompt truncating."
    "shorter prompt",
];

const REGION: &[&str] = &[
    "location is not supported",
    "country, region, or territory",
    "unsupported country",
    "country region territory",
    "not supported in your region",
    "not available in your region",
    "not available in your country",
    "region is not supported",
    "unsupported region",
    "unsupported location",
    "not available in your location",
];

const QUOTA_STRONG: &[&str] = &[
    "insufficient quota",
    "exceeded current quota",
    "credit balance",
    "insufficient balance",
    "balance is insufficient",
    "balance insufficient",
    "balance is too low",
    // Novita: `{"code": 403, "reason": "NOT_ENOUGH_BALANCE", "message": "not enough balance"}`.
    "not enough balance",
    "not enough credit*",
    "account balance",
    "insufficient funds",
    "out of funds",
    "billing hard limit",
    "billing not active",
    // Google 403 BILLING_DISABLED: "This API method requires billing to be enabled".
    "billing to be enabled",
    "billing disabled",
    "billing is not active",
    "payment required",
    "spend limit*",
    "spending limit*",
    "spend cap*",
    // Spend caps and gateway budgets, not "budget_tokens" (Anthropic's thinking parameter).
    "budget exceeded",
    "exceeded budget",
    "exceeded your budget",
    "over budget",
    "budget limit*",
    "max budget",
    "budget has been",
    "arrearage",
    "overdue",
    "good standing",
    "recharge*",
    "top up",
    "afford",
    "resource package",
    "usage limit*",
    // The same as one identifier: OpenCode Zen's `"type": "FreeUsageLimitError"` ("Rate limit
    // exceeded. Please try again later" is all its message says).
    "*usagelimit*",
    "subscription quota",
    "plan limit*",
    "plan quota",
    "key limit exceeded",
    "total limit",
    "monthly limit*",
    "limit: 0,",
    "limit: 0 ",
    "quota of 0",
    "quota: 0",
    "allowance",
    "out of quota",
    "quota exhausted",
    "exhausted your",
    "hour limit",
    "free trial",
    "trial has expired",
    "余额",
    "欠费",
    "充值",
    "额度不足",
    // Tencent Hunyuan `ResourceInsufficient.ChargeResourceExhaust`: "计费资源已耗尽，请开通后付费或
    // 购买资源包" (billing resources used up; buy a resource package).
    "计费资源",
    "资源包",
    "out of credit*",
    "no credit*",
    "insufficient credit*",
    // xAI: "Your newly created team doesn't have any credits yet."
    "any credits",
    // Credits said to be gone, beside which "credits" alone would be only a word.
    "credits have been exhausted",
    "credits are exhausted",
    "credits have run out",
    "credits ran out",
    "credits have expired",
    "credits expired",
    "credits are depleted",
    "credits exhausted",
    "used up",
    "free allocation",
    "额度",
];

/// Credits named as a kind of limit or an upsell ("type": "credit_limit", "add credits to
/// unlock more"), not a statement that they ran out: money, unless the text says outright
/// that a per-minute rate limit was hit. Together's free tier answers "You have been rate
/// limited. Your rate limit is 60 queries per minute", typed `credit_limit`.
const CREDIT_WORDS: &[&str] = &["credits", "credit limit*", "add credit*"];

const AUTH: &[&str] = &[
    "invalid api key",
    "invalid x api key",
    "api key not valid",
    "api key expired",
    "api key invalid",
    "incorrect api key",
    // MiniMax 1004: "login fail: Please carry the API secret key in the 'Authorization' field".
    "login fail*",
    "invalid authentication",
    "authentication",
    "unauthorized",
    "unauthenticated",
    "invalid token*",
    "token invalidated",
    "token expired",
    "token has expired",
    "revoked",
    "leaked",
    "key is not enabled",
    "has been disabled",
    "been deactivated",
    "deactivated",
    "account is disabled",
    "key is disabled",
    "organization disabled",
    // Groq: "Organization has been restricted. Please reach out to support …", typed
    // `invalid_request_error`, code `organization_restricted`.
    "organization has been restricted",
    "organization restricted",
    "suspended",
    "no auth credentials",
    "user not found",
    "no such user",
    "invalid credentials",
    "invalid subscription key",
    "provide an api key",
    "missing api key",
    "no api key",
    "api key is missing",
    "invalid access token",
    // Baidu Qianfan `error_code` 110 (in a 200): "Access token invalid or no longer valid".
    "access token invalid",
    "access token expired",
    "token is invalid",
    "token is expired",
    "api key has expired",
    "expired token",
    "unrecognizedclient*",
    // Tencent Cloud's `AuthFailure.*` codes (SignatureFailure, SecretIdNotFound, TokenFailure).
    "authfailure*",
    // AWS SigV4 failures; not any "signature" (a thinking block's is a request fault).
    "signature does not match",
    "signaturedoesnotmatch",
    "signature you provided",
    "signature expired",
    "invalid signature",
    "无效的令牌",
    "api key 无效",
    "invalid api token",
    "invalidapikey*",
    "api key is invalid",
    "身份验证失败",
    "认证失败",
    "鉴权失败",
    "令牌已过期",
    "令牌无效",
    "令牌已被禁用",
    "令牌状态不可用",
    "authorization token",
];

/// Generic refusals: a credential problem unless the text also names a throttle.
const AUTH_WEAK: &[&str] = &[
    "permission*",
    "access denied",
    "not authorized",
    "forbidden",
];

/// The credential's project lacks access to what was asked: key-level even in an error typed
/// as an invalid request (another project's key may have it).
const NO_ACCESS: &[&str] = &[
    // OpenAI 403: "Project `proj_x` does not have access to model `gpt-4o`".
    "does not have access",
    // Vertex: "Project X is not allowed to use Publisher Model Y".
    "is not allowed to use",
    // OpenAI 403 for a model the key's organisation may not use: "You are not allowed to
    // sample from this model", "… to generate embeddings from this model" (typed
    // `invalid_request_error`).
    "not allowed to sample",
    "not allowed to generate",
];

const OVERLOADED: &[&str] = &[
    "overloaded",
    "overload*",
    "high demand",
    // Cerebras 429 `queue_exceeded`: "We're experiencing high traffic right now! Please try
    // again soon." (typed `too_many_requests_error`: the throttle is everyone's).
    "high traffic",
    "heavy traffic",
    "queue exceeded",
    "queue is full",
    "at capacity",
    "over capacity",
    "insufficient capacity",
    "capacity constraint*",
    "out of capacity",
    "no capacity",
    "lack of capacity",
    "capacity is full",
    "capacity exceeded",
    "capacity temporarily",
    // OpenRouter's in-band error for a saturated upstream worker (`error_type`).
    "provider unavailable",
    "model is loading",
    "loading model",
    "currently loading",
    "not ready",
    "modelnotready*",
    "is busy",
    "server busy",
    "servers are busy",
    // SiliconFlow 50603: "System is too busy now. Please try again later."
    "too busy",
    "temporarily unavailable",
    "service unavailable",
    "unavailable",
    "too many people",
    "rate limited upstream",
    "upstream rate limit",
    "繁忙",
    "负载",
    "过载",
    "no deployments available",
    "no available channel",
    "无可用渠道",
];

const THROTTLE: &[&str] = &[
    "rate limit*",
    "ratelimit*",
    "rate limited",
    "too many requests",
    "throttl*",
    "slow down",
    "concurren*",
    "requests per",
    "tokens per",
    "per minute",
    "per second",
    "quota*",
    "resource exhausted",
    "resource has been exhausted",
    "频繁",
    "限流",
    // "请求限频": a request-frequency limit (Tencent Hunyuan's code 2003 inside a 200).
    "限频",
    "并发",
    "limit exceeded",
    "limit reached",
    // Tencent Cloud's codes `LimitExceeded` and `RequestLimitExceeded` (request frequency),
    // and its message "请求频率超过限制".
    "*limitexceeded*",
    "请求频率",
    "频率超过限制",
];

const QUOTA_WINDOW: &[&str] = &[
    "per day",
    "*perday*",
    "daily",
    "per week",
    "weekly",
    "per month",
    "monthly",
    "/ month",
    "/month",
    "/ day",
    "/day",
    // "today" alone is no window: Groq's per-minute 429 says "Upgrade to Dev Tier today".
    "for today",
    "today's",
    "tomorrow",
    "24 hours",
    "per hour",
    "*perhour*",
    "hourly",
    "lifetime",
    // GitHub Models (Azure AI inference): "Rate limit of 150 per 86400s exceeded for
    // UserByModelByDay".
    "*byday*",
];
const QUOTA_WINDOW_WORDS: &[&str] = &["*tpd*", "*rpd*"];

const RATE_WINDOW: &[&str] = &[
    "per minute",
    "*perminute*",
    "per min",
    "per second",
    "*persecond*",
    "/min*",
    "/ min*",
    "/s ",
    "concurren*",
    "burst",
    "并发",
    // GitHub Models: "Rate limit of 15 per 60s exceeded for UserByModelByMinute".
    "*byminute*",
    "*bysecond*",
];
const RATE_WINDOW_WORDS: &[&str] = &["*tpm*", "*rpm*", "*rps*", "*tps*", "*itpm*", "*otpm*"];

const SERVER_ERROR: &[&str] = &[
    "internal server error",
    "internal error",
    "server error",
    "api error",
    "bad gateway",
    "gateway timeout",
    "gateway time out",
    "timed out",
    "timeout*",
    "upstream connect error",
    "connection reset",
    "connection refused",
    "connection error",
    "unexpected error",
    "an error occurred",
    "error occurred",
    "provider disconnected",
    "unknown error",
    "something went wrong",
    "internal failure",
    "internalfailure",
    "internalservererror*",
    "internal exception",
    // Cloudflare's pages in front of an origin.
    "origin error",
    "origin is unreachable",
    "origin server",
    "origin dns",
    "deadline exceeded",
    "stream error",
];

const BAD_REQUEST: &[&str] = &[
    "does not exist",
    "not found",
    "no such model",
    "invalid request",
    "invalid argument",
    "invalid parameter*",
    // MiniMax 2013 and many OpenAI-compatible servers: "invalid params, …".
    "invalid params",
    "invalid value*",
    "unsupported",
    "not supported",
    "isn't supported",
    "isn’t supported",
    "validationexception*",
    "validation error*",
    "malformed",
    "missing required",
    "is required",
    "unknown parameter*",
    "unrecognized",
    "failed precondition",
    "bad request",
    "invalid model",
    "is not a valid",
    "must be",
    "*notfound*",
    "decommissioned",
    "no longer supported",
    "deprecated",
];

/// The phrase lists, as bits of a [`Lists`] mask.
#[derive(Clone, Copy)]
#[repr(u32)]
enum List {
    Cancelled = 1 << 0,
    ContentPolicy = 1 << 1,
    ContextOverflow = 1 << 2,
    Region = 1 << 3,
    QuotaStrong = 1 << 4,
    Auth = 1 << 5,
    AuthWeak = 1 << 6,
    Overloaded = 1 << 7,
    Throttle = 1 << 8,
    QuotaWindow = 1 << 9,
    RateWindow = 1 << 10,
    ServerError = 1 << 11,
    BadRequest = 1 << 12,
    ThrottleExplicit = 1 << 13,
    // Gates: cheap hints that a slower exact check may succeed.
    /// A rate-window abbreviation occurs somewhere, maybe inside a word.
    RateWord = 1 << 14,
    /// A quota-window abbreviation occurs somewhere, maybe inside a word.
    QuotaWord = 1 << 15,
    /// "quota" occurs.
    Quota = 1 << 16,
    /// "requested" occurs (a size against a limit may follow).
    Requested = 1 << 17,
    /// A cue after which a wait is stated ("try again in ").
    WaitCue = 1 << 18,
    NoAccess = 1 << 19,
    CreditWord = 1 << 20,
    /// "limit (" occurs: a limit exceeded may be stated around a parenthesis.
    LimitParen = 1 << 21,
}

/// A set of lists that matched.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lists(u32);

impl Lists {
    fn any(self, l: List) -> bool {
        self.0 & l as u32 != 0
    }
}

/// Phrases a quota message may carry that show it is really a plain throttle.
const THROTTLE_EXPLICIT: &[&str] = &[
    "rate limit*",
    "ratelimit*",
    "rate limited",
    "too many requests",
    "throttl*",
    "resource*",
];

/// Cues after which free text states a wait, in the haystack's normal form ("retry-after"
/// reads as "retry after").
const WAIT_CUES: &[&str] = &[
    "try again in ",
    "try again after ",
    "retry in ",
    "retry after ",
    "wait ",
    "resets in ",
    "reset in ",
    "available in ",
    // Azure API Management's quota policy: "Quota will be replenished in 00:59:12".
    "replenished in ",
];

/// The cues as they must be written for a wait to count (ASCII case aside).
const RAW_CUES: &[&str] = &[
    "try again in ",
    "try again after ",
    "retry in ",
    "retry after ",
    "retry-after ",
    "wait ",
    "resets in ",
    "reset in ",
    "available in ",
    // Azure API Management's quota policy: "Quota will be replenished in 00:59:12".
    "replenished in ",
];

/// How many cue positions one scan keeps; more cues than this in one error is junk.
const MAX_CUES: usize = 4;

/// The flag of a transition entry whose next row matches some list.
const MATCHES: u32 = 1 << 31;

/// Entries in a matcher's table: room for the phrase lists with some to spare (they take about
/// 127,000); `Matcher::build` fails loudly, in every test run, if they outgrow it. Only the
/// rows in use are ever read; the shallow ones, where ordinary text keeps the walk, come first.
const TABLE: usize = 1 << 18;

/// Keeps a table index inside [`TABLE`] (a no-op on the indices the table holds).
#[inline]
fn at(i: usize) -> usize {
    i & (TABLE - 1)
}

/// Every phrase list as one table-driven automaton: one dependent load per byte, no
/// per-match callbacks. The [`Automaton`] of the phrases, re-laid out so that each row holds
/// the lists matched on entering the state followed by the next row per byte class.
///
/// A transition entry is the next row's offset, with [`MATCHES`] set when that row matches
/// some list: most bytes lead to rows that match nothing, so the row's mask is read only
/// when the flag says so (one load per byte on the common path, not two).
struct Matcher {
    /// Byte → column in a row (1 + byte class).
    col: [u8; 256],
    /// Rows of `width` entries: `[lists mask, next row offset | MATCHES per class...]`, in an
    /// array of a fixed power-of-two size, so an index masked to it needs no bounds check.
    table: Box<[u32; TABLE]>,
    start: u32,
    /// The longest phrase, in bytes.
    max_len: usize,
    /// Row width, to turn a row offset into an index of `checks`.
    width: usize,
    /// Per row whose mask has [`CHECK`]: the phrases that end there and must stand at word
    /// boundaries, with their list bits.
    checks: Vec<Box<[Check]>>,
}

/// In a row's mask: some phrase ending here must be checked for word boundaries.
const CHECK: u32 = 1 << 30;

/// A phrase that matches only at word boundaries (failure rule 10: "original" is not
/// "origin"): the byte before it, and the byte after it, must not be a letter or a digit.
#[derive(Clone, Copy, Debug)]
struct Check {
    len: u32,
    list: u32,
    start: bool,
    end: bool,
}

/// Whether a word starts at `at`: after a byte that is no letter or digit, or where camel
/// case starts one (`AllocationQuota`).
fn word_starts(hay: &[u8], at: usize) -> bool {
    at == 0 || {
        let prev = hay[at - 1];
        !prev.is_ascii_alphanumeric() || (prev.is_ascii_lowercase() && hay[at].is_ascii_uppercase())
    }
}

/// Whether a word ends at `at` (exclusive): before a byte that is no letter or digit, or
/// where camel case starts the next (`FreeTierOnly`).
fn word_ends(hay: &[u8], at: usize) -> bool {
    at >= hay.len() || {
        let next = hay[at];
        !next.is_ascii_alphanumeric()
            || (hay[at - 1].is_ascii_lowercase() && next.is_ascii_uppercase())
    }
}

/// A phrase as written in the lists: words that match whole, unless a `*` at either end says
/// the phrase may continue a word there (`"throttl*"` is a stem, `"*perday*"` is found inside
/// `GenerateRequestsPerDayPerProject`). Ends that are not letters or digits need no boundary,
/// nor do phrases in scripts written without spaces.
fn phrase_parts(p: &str) -> (&str, bool, bool) {
    let (open_start, p) = p.strip_prefix('*').map_or((false, p), |r| (true, r));
    let (open_end, p) = p.strip_suffix('*').map_or((false, p), |r| (true, r));
    let b = p.as_bytes();
    let start = !open_start && b.first().is_some_and(u8::is_ascii_alphanumeric);
    let end = !open_end && b.last().is_some_and(u8::is_ascii_alphanumeric);
    (p, start, end)
}

impl Matcher {
    /// The automaton for the phrases `keep` selects, normalised as the haystack is.
    fn build(lists: &[(&[&str], List)], keep: fn(&str) -> bool) -> Matcher {
        let mut patterns = Vec::new();
        let mut list_of = Vec::new();
        let mut bounds = Vec::new();
        for (phrases, list) in lists {
            for p in phrases.iter().filter(|p| keep(p)) {
                let (core, start, end) = phrase_parts(p);
                patterns.push(core.bytes().map(norm).collect::<Vec<u8>>());
                list_of.push(*list as u32);
                bounds.push((start, end));
            }
        }
        let max_len = patterns.iter().map(Vec::len).max().unwrap_or(0);
        // Byte classes: each byte some pattern uses, and one class for all the others.
        let mut used = [false; 256];
        for p in &patterns {
            for &b in p {
                used[usize::from(b)] = true;
            }
        }
        let reps: Vec<u8> = (0..=255u8)
            .filter(|&b| used[usize::from(b)])
            .chain((0..=255u8).find(|&b| !used[usize::from(b)]))
            .collect();
        let other = reps.len() - 1;
        let mut class_of = [u8::try_from(other).expect("under 255 classes"); 256];
        for (i, &r) in reps[..other].iter().enumerate() {
            class_of[usize::from(r)] = u8::try_from(i).expect("under 255 classes");
        }
        // A pattern's bytes are normalised already; a haystack byte is read through `norm`.
        let mut col = [0u8; 256];
        for b in 0..=255u8 {
            col[usize::from(b)] = class_of[usize::from(norm(b))] + 1;
        }
        let in_classes: Vec<Vec<u8>> = patterns
            .iter()
            .map(|p| p.iter().map(|&b| class_of[usize::from(b)]).collect())
            .collect();
        let ac = Automaton::new(&in_classes, reps.len());
        let width = reps.len() + 1;
        assert!(
            ac.states() * width <= TABLE,
            "the phrase table needs {} entries; raise TABLE",
            ac.states() * width
        );
        let mut table = vec![0u32; TABLE];
        let mut checks = vec![Box::default(); ac.states()];
        for (row, ends) in ac.ends.iter().enumerate() {
            let base = row * width;
            let mut here = Vec::new();
            for &pid in ends {
                let pid = pid as usize;
                match bounds[pid] {
                    (false, false) => table[base] |= list_of[pid],
                    (start, end) => here.push(Check {
                        len: u32::try_from(patterns[pid].len()).expect("short phrases"),
                        list: list_of[pid],
                        start,
                        end,
                    }),
                }
            }
            if !here.is_empty() {
                table[base] |= CHECK;
                checks[row] = here.into_boxed_slice();
            }
            for c in 0..ac.classes {
                let next = ac.next[row * ac.classes + c] as usize;
                let offset = u32::try_from(next * width)
                    .ok()
                    .filter(|o| o & MATCHES == 0)
                    .expect("table fits 31 bits");
                let matches = !ac.ends[next].is_empty();
                table[base + 1 + c] = offset | if matches { MATCHES } else { 0 };
            }
        }
        Matcher {
            col,
            table: table
                .into_boxed_slice()
                .try_into()
                .expect("the table has TABLE entries"),
            start: 0,
            max_len,
            width,
            checks,
        }
    }

    /// The lists a matching row stands for at `end` of `hay`: its unconditional lists, and
    /// those of its bounded phrases whose boundaries hold. Rare (a few per error text).
    #[cold]
    fn checked(&self, row: usize, mask: u32, hay: &[u8], end: usize) -> u32 {
        let mut m = mask & !CHECK;
        for c in self.checks[row / self.width].iter() {
            let start = end - c.len as usize;
            if (!c.start || word_starts(hay, start)) && (!c.end || word_ends(hay, end)) {
                m |= c.list;
            }
        }
        m
    }

    /// [`Self::checked`] when the row needs it.
    #[inline]
    fn accept(&self, row: usize, mask: u32, hay: &[u8], end: usize) -> u32 {
        if mask & CHECK == 0 {
            mask
        } else {
            self.checked(row, mask, hay, end)
        }
    }

    /// The lists found in `hay`, and where the first cues end.
    ///
    /// A table walk costs one dependent load per byte, so a long haystack is read as two
    /// halves in lockstep, the second starting early enough (`max_len - 1` bytes) to see
    /// every phrase that ends in it: twice the loads in flight, the same result.
    fn run(&self, hay: &[u8]) -> (u32, [Option<usize>; MAX_CUES]) {
        let mut cues = Cues::default();
        let overlap = self.max_len.saturating_sub(1);
        if hay.len() < 2 * overlap + 32 {
            let mask = self.walk(hay, &mut cues);
            return (mask, cues.at);
        }
        let mid = hay.len() / 2;
        let (a, b) = (&hay[..mid], &hay[mid - overlap..]);
        let t = &*self.table;
        let (mut ra, mut rb) = (self.start as usize, self.start as usize);
        let (mut ma, mut mb) = (t[at(ra)] & !CHECK, t[at(rb)] & !CHECK);
        let mut cues_b = Cues::default();
        for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
            let ea = t[at(ra + usize::from(self.col[usize::from(x)]))];
            let eb = t[at(rb + usize::from(self.col[usize::from(y)]))];
            ra = (ea & !MATCHES) as usize;
            rb = (eb & !MATCHES) as usize;
            if ea & MATCHES != 0 {
                let ha = self.accept(ra, t[at(ra)], hay, i + 1);
                ma |= ha;
                cues.note(ha, i + 1);
            }
            // The second half reports only cues that end past the first half's end.
            if eb & MATCHES != 0 {
                let hb = self.accept(rb, t[at(rb)], hay, mid - overlap + i + 1);
                mb |= hb;
                if i >= overlap {
                    cues_b.note(hb, mid - overlap + i + 1);
                }
            }
        }
        // `b` is longer by the overlap: finish it alone from where the lockstep stopped.
        let rest = a.len();
        let mut row = rb;
        for (i, &y) in b.iter().enumerate().skip(rest) {
            let e = t[at(row + usize::from(self.col[usize::from(y)]))];
            row = (e & !MATCHES) as usize;
            if e & MATCHES != 0 {
                let h = self.accept(row, t[at(row)], hay, mid - overlap + i + 1);
                mb |= h;
                cues_b.note(h, mid - overlap + i + 1);
            }
        }
        for at in cues_b.at.into_iter().flatten() {
            cues.push(at);
        }
        (ma | mb, cues.at)
    }

    /// One walk over all of `hay` from the start state.
    fn walk(&self, hay: &[u8], cues: &mut Cues) -> u32 {
        let t = &*self.table;
        let mut row = self.start as usize;
        let mut mask = t[at(row)] & !CHECK;
        for (i, &b) in hay.iter().enumerate() {
            let e = t[at(row + usize::from(self.col[usize::from(b)]))];
            row = (e & !MATCHES) as usize;
            if e & MATCHES != 0 {
                let here = self.accept(row, t[at(row)], hay, i + 1);
                mask |= here;
                cues.note(here, i + 1);
            }
        }
        mask
    }
}

/// Whether the sentence a wait cue ends in makes the wait conditional ("If you recently
/// fixed this, try again after 5 minutes"): such a wait is no request to wait. The look-back
/// is bounded, so the scan stays linear.
fn conditional(s: &[u8], cue_end: usize) -> bool {
    let before = &s[cue_end.saturating_sub(160)..cue_end];
    let from = before
        .iter()
        .rposition(|&b| matches!(b, b'.' | b'!' | b'?' | b';' | b'\n' | UNIT))
        .map_or(0, |p| p + 1);
    let sentence = &before[from..];
    sentence.windows(2).enumerate().any(|(i, w)| {
        w.eq_ignore_ascii_case(b"if")
            && (i == 0 || !sentence[i - 1].is_ascii_alphanumeric())
            && sentence
                .get(i + 2)
                .is_none_or(|b| !b.is_ascii_alphanumeric())
    })
}

/// The first cue ends a scan found.
#[derive(Default)]
struct Cues {
    at: [Option<usize>; MAX_CUES],
    n: usize,
}

impl Cues {
    /// Keeps `end` when the state just entered completes a cue; rare, so well predicted.
    fn note(&mut self, row_mask: u32, end: usize) {
        if row_mask & List::WaitCue as u32 != 0 {
            self.push(end);
        }
    }

    fn push(&mut self, end: usize) {
        if self.n < MAX_CUES {
            self.at[self.n] = Some(end);
            self.n += 1;
        }
    }
}

/// Every phrase list with its bit.
const LISTS: &[(&[&str], List)] = &[
    (CANCELLED, List::Cancelled),
    (CONTENT_POLICY, List::ContentPolicy),
    (CONTEXT_OVERFLOW, List::ContextOverflow),
    (REGION, List::Region),
    (QUOTA_STRONG, List::QuotaStrong),
    (CREDIT_WORDS, List::CreditWord),
    (AUTH, List::Auth),
    (AUTH_WEAK, List::AuthWeak),
    (NO_ACCESS, List::NoAccess),
    (OVERLOADED, List::Overloaded),
    (THROTTLE, List::Throttle),
    (QUOTA_WINDOW, List::QuotaWindow),
    (RATE_WINDOW, List::RateWindow),
    (SERVER_ERROR, List::ServerError),
    (BAD_REQUEST, List::BadRequest),
    (THROTTLE_EXPLICIT, List::ThrottleExplicit),
    (RATE_WINDOW_WORDS, List::RateWord),
    (QUOTA_WINDOW_WORDS, List::QuotaWord),
    (&["quota*"], List::Quota),
    (&["requested"], List::Requested),
    (&["limit ("], List::LimitParen),
    (WAIT_CUES, List::WaitCue),
];

/// The phrases in ASCII.
static ASCII: LazyLock<Matcher> = LazyLock::new(|| Matcher::build(LISTS, str::is_ascii));
/// The phrases in other scripts: read, and so built, only when some text is not ASCII.
static OTHER: LazyLock<Matcher> = LazyLock::new(|| Matcher::build(LISTS, |p| !p.is_ascii()));

/// Credits named, and no other money word: a quota, except where a type says the request is
/// invalid ("String should match pattern … (got 'billing.credits.check')": a tool's name).
pub(crate) const CREDIT_WORD_REASON: &str = "text: credits named, no balance or limit stated";
/// The reason of the weakest key-level rule (permission words alone).
pub(crate) const AUTH_WEAK_REASON: &str = "text: permission denied / forbidden";
/// A bare "quota" with no window and no money word: no key-level signal against an error
/// typed as an invalid request ("Invalid schema for function 'get_quota'").
pub(crate) const QUOTA_WEAK_REASON: &str = "text: quota exceeded, no short window named";

/// [`QUOTA_WEAK_REASON`] for a limit a gateway relays from its upstream provider.
pub(crate) const UPSTREAM_QUOTA_WEAK_REASON: &str =
    "text: gateway's upstream provider is out of quota, no window named (shared, not this key)";

/// What the phrase rules decided, with the rule's name.
pub(crate) type Decision = (Class, &'static str);

/// The specific rules: a match here beats the HTTP status.
pub(crate) fn specific(h: &Hay, m: Lists, ctx: TextCtx) -> Option<Decision> {
    if m.any(List::Cancelled) {
        return Some((Class::Cancelled, "text: client cancelled"));
    }
    if m.any(List::ContentPolicy) {
        return Some((Class::ContentPolicy, "text: content filter / moderation"));
    }
    if m.any(List::ContextOverflow) || (m.any(List::Requested) && requested_over_limit(h)) {
        return Some((
            Class::ContextOverflow,
            "text: request larger than the model or limit",
        ));
    }
    if m.any(List::Region) {
        return Some((Class::BadRequest, "text: region / location not supported"));
    }
    // A window written as a count ("150 per 86400s"): an hour or longer is a quota's, as the
    // named windows are.
    let counted = if m.any(List::Throttle) {
        h.counted_window_secs()
    } else {
        None
    };
    let rate_window = m.any(List::RateWindow)
        || (m.any(List::RateWord) && h.any_word(RATE_WINDOW_WORDS))
        || counted.is_some_and(|s| s < 3_600);
    let quota_window = m.any(List::QuotaWindow)
        || (m.any(List::QuotaWord) && h.any_word(QUOTA_WINDOW_WORDS))
        || counted.is_some_and(|s| s >= 3_600);
    // Credits named beside an outright per-minute rate limit are the provider's label for
    // that limit (failure rule 2: the window decides).
    let credits_as_label =
        m.any(List::CreditWord) && m.any(List::ThrottleExplicit) && rate_window && !quota_window;
    if m.any(List::QuotaStrong) {
        return Some((
            Class::QuotaExhausted,
            "text: credits / balance / billing / plan usage",
        ));
    }
    if m.any(List::CreditWord) && !credits_as_label {
        return Some((Class::QuotaExhausted, CREDIT_WORD_REASON));
    }
    if m.any(List::Auth) {
        return Some((
            Class::Auth,
            "text: invalid, expired, revoked or unpermitted credential",
        ));
    }
    let throttled = m.any(List::Throttle)
        // Only with a window named: "Output limit (4096 tokens) exceeded" is a size.
        || (m.any(List::LimitParen)
            && (quota_window || rate_window)
            && h.limit_exceeded_around_parens())
        || (ctx.status == 429 && quota_window);
    // Throttled by nothing but a bare "quota" (no window, no throttle word): weak evidence,
    // which a type saying the request is invalid overrides.
    let bare_quota =
        m.any(List::Quota) && !m.any(List::ThrottleExplicit) && !quota_window && !rate_window;
    if m.any(List::Overloaded) || (ctx.upstream_wrapped && throttled) {
        let reason = if m.any(List::Overloaded) {
            "text: provider overloaded / at capacity"
        } else if bare_quota {
            UPSTREAM_QUOTA_WEAK_REASON
        } else {
            "text: gateway's upstream provider is rate limited (shared, not this key)"
        };
        return Some((Class::Overloaded, reason));
    }
    if throttled {
        if quota_window {
            return Some((Class::QuotaExhausted, "text: limit over a day or longer"));
        }
        if rate_window {
            return Some((
                Class::RateLimit,
                "text: per-minute / per-second / concurrency limit",
            ));
        }
        if bare_quota {
            return Some((Class::QuotaExhausted, QUOTA_WEAK_REASON));
        }
        return Some((Class::RateLimit, "text: rate limit"));
    }
    if m.any(List::NoAccess) {
        return Some((Class::Auth, "text: the credential's project has no access"));
    }
    if m.any(List::AuthWeak) {
        return Some((Class::Auth, AUTH_WEAK_REASON));
    }
    None
}

/// The generic rules: tried only when the HTTP status does not already say more.
pub(crate) fn generic(m: Lists) -> Option<Decision> {
    if m.any(List::ServerError) {
        return Some((Class::ServerError, "text: server / gateway error"));
    }
    if m.any(List::BadRequest) {
        return Some((Class::BadRequest, "text: invalid request / unknown model"));
    }
    None
}

/// "Requested 12903 > Limit 7000": one request larger than the ceiling never fits.
fn requested_over_limit(h: &Hay) -> bool {
    match (h.number_after("requested"), h.number_after("limit")) {
        (Some(req), Some(limit)) => limit > 0 && req > limit,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(s: &str) -> Option<Class> {
        let mut h = Hay::default();
        h.push(s);
        let m = h.scan().lists;
        specific(&h, m, TextCtx::default())
            .or_else(|| generic(m))
            .map(|d| d.0)
    }

    #[test]
    fn windows_decide_rate_against_quota() {
        assert_eq!(
            decide("Rate limit reached on tokens per min (TPM)"),
            Some(Class::RateLimit)
        );
        assert_eq!(
            decide("Rate limit reached on requests per day (RPD)"),
            Some(Class::QuotaExhausted)
        );
        assert_eq!(
            decide("You exceeded your current quota"),
            Some(Class::QuotaExhausted)
        );
        // The window as an abbreviation, a whole word only.
        assert_eq!(
            decide("request reached organization TPD rate limit, current: 1500000"),
            Some(Class::QuotaExhausted)
        );
        assert_eq!(
            decide("rate limit reached (RPD: 1000)"),
            Some(Class::QuotaExhausted)
        );
        assert_eq!(
            decide("rate limit reached for model xtpdx"),
            Some(Class::RateLimit)
        );
        assert_eq!(
            decide("You exceeded your current quota, check your plan and billing details. quotaId GenerateRequestsPerMinute"),
            Some(Class::RateLimit)
        );
        // Windows written as counts, and as GitHub Models' limiter names.
        for (text, class) in [
            ("Rate limit of 150 per 86400s exceeded for UserByModelByDay. Please wait 52137 seconds before retrying.", Class::QuotaExhausted),
            ("Rate limit of 15 per 60s exceeded for UserByModelByMinute. Please wait 42 seconds before retrying.", Class::RateLimit),
            ("Rate limit exceeded: 1000 requests per 24 hours", Class::QuotaExhausted),
            ("Rate limit exceeded: 10 requests per 10 seconds", Class::RateLimit),
            ("Rate limit exceeded: 500 requests per 1d", Class::QuotaExhausted),
            ("Rate limit of 150 exceeded for UserByModelByDay", Class::QuotaExhausted),
            // "1M" is a million, not a minute; "paper 60s" is no "per".
            ("Rate limit exceeded. $0.15 per 1M tokens", Class::RateLimit),
            ("Rate limit exceeded in the paper 86400s", Class::RateLimit),
            // Credits as the label of a per-minute limit the text says was hit, and credits
            // that ran out beside a per-minute figure.
            ("credit_limit You have been rate limited. Your rate limit is 60 queries per minute. Please navigate to https://api.together.xyz/settings/billing to upgrade to a paid plan.", Class::RateLimit),
            ("Add credits to raise your limit above 60 requests per minute", Class::QuotaExhausted),
            ("credit_limit Rate limit exceeded: 1000 requests per day", Class::QuotaExhausted),
        ] {
            assert_eq!(decide(text), Some(class), "{text}");
        }
    }

    #[test]
    fn precedence() {
        assert_eq!(
            decide("Request too large: Limit 100, Requested 200 tokens per minute"),
            Some(Class::ContextOverflow)
        );
        assert_eq!(
            decide("Limit 100, Used 99, Requested 2. rate limit"),
            Some(Class::RateLimit)
        );
        assert_eq!(
            decide("permission denied: team has no credits"),
            Some(Class::QuotaExhausted)
        );
        assert_eq!(
            decide("The service may be temporarily overloaded, rate limit"),
            Some(Class::Overloaded)
        );
        assert_eq!(
            decide("Access denied due to invalid subscription key"),
            Some(Class::Auth)
        );
        assert_eq!(
            decide("The model `x` does not exist"),
            Some(Class::BadRequest)
        );
        assert_eq!(decide("hello"), None);
    }

    /// The lists and cue ends as a plain Aho-Corasick search over the normalised text
    /// finds them: what the re-laid-out, interleaved table must reproduce.
    fn reference(text: &str) -> (u32, Vec<usize>) {
        let mut patterns = Vec::new();
        let mut bits = Vec::new();
        let mut bounds = Vec::new();
        for (phrases, list) in LISTS {
            for p in *phrases {
                let (core, start, end) = phrase_parts(p);
                patterns.push(core.bytes().map(norm).collect::<Vec<u8>>());
                bits.push(*list as u32);
                bounds.push((start, end));
            }
        }
        let ac = aho_corasick::AhoCorasick::new(&patterns).unwrap();
        let raw: Vec<u8> = SEP.iter().copied().chain(text.bytes()).collect();
        let hay: Vec<u8> = raw.iter().map(|&b| norm(b)).collect();
        let mut mask = 0;
        let mut cues = Vec::new();
        for m in ac.find_overlapping_iter(&hay) {
            let (start, end) = bounds[m.pattern().as_usize()];
            if (start && !word_starts(&raw, m.start())) || (end && !word_ends(&raw, m.end())) {
                continue;
            }
            let bit = bits[m.pattern().as_usize()];
            mask |= bit;
            if bit == List::WaitCue as u32 && !cues.contains(&m.end()) {
                cues.push(m.end());
            }
        }
        cues.sort_unstable();
        cues.truncate(MAX_CUES);
        (mask, cues)
    }

    fn ours(text: &str) -> (u32, Vec<usize>) {
        let mut h = Hay::default();
        h.push(text);
        let (mut mask, cues) = ASCII.run(&h.s);
        if h.non_ascii {
            mask |= OTHER.run(&h.s).0;
        }
        let mut cues: Vec<usize> = cues.into_iter().flatten().collect();
        cues.dedup();
        (mask, cues)
    }

    use proptest::prelude::Strategy;

    proptest::proptest! {
        #[test]
        fn table_matches_plain_aho_corasick(
            parts in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(
                        LISTS.iter().flat_map(|(p, _)| p.iter().copied()).collect::<Vec<_>>()
                    ).prop_map(|p| p.trim_matches('*').to_uppercase()),
                    proptest::sample::select(
                        LISTS.iter().flat_map(|(p, _)| p.iter().copied()).collect::<Vec<_>>()
                    ).prop_map(|p| p.trim_matches('*').replace(' ', "-")),
                    "[a-zA-Z0-9 ._:-]{0,12}",
                    "[额度限流 ]{0,3}",
                ],
                0..40,
            )
        ) {
            let text = parts.concat();
            proptest::prop_assert_eq!(ours(&text), reference(&text));
        }
    }

    proptest::proptest! {
        #[test]
        fn find_is_the_first_normalised_occurrence(
            hay in "[a-zA-Z _-]{0,60}(requested|Limit|TPM|rpd|quota)?[a-zA-Z _-]{0,20}",
            needle in proptest::sample::select(vec!["requested", "limit", "tpm", "rpd", "quota", "re q"]),
        ) {
            let normal: Vec<u8> = hay.bytes().map(norm).collect();
            let naive = normal.windows(needle.len()).position(|w| w == needle.as_bytes());
            proptest::prop_assert_eq!(find(hay.as_bytes(), needle.as_bytes()), naive);
        }
    }

    #[test]
    fn every_phrase_is_seen_across_the_middle() {
        // The two-half walk splits a 201-byte haystack at byte 100: slide each phrase across
        // that point, so a too-short overlap would miss it.
        for (phrases, _) in LISTS {
            for p in phrases.iter().filter(|p| p.is_ascii()) {
                let p = p.trim_matches('*');
                for start in (100 - p.len())..=100 {
                    let text = format!(
                        "{}{p}{}",
                        "#".repeat(start - 1),
                        "#".repeat(200 - start + 1 - p.len())
                    );
                    assert_eq!(ours(&text), reference(&text), "{p:?} at {start}");
                }
            }
        }
    }

    #[test]
    fn addresses_are_blanked_and_the_sentence_kept() {
        let blank = |t: &str| {
            let mut b = t.as_bytes().to_vec();
            blank_urls(&mut b);
            String::from_utf8(b).unwrap().replace('\x1f', "_")
        };
        assert_eq!(
            blank("see https://a.b/c-d. Then"),
            format!("see {}. Then", "_".repeat(15))
        );
        assert_eq!(blank("(http://x/y) ok"), "(__________) ok");
        assert_eq!(blank("no address: here://"), "no address: _______");
        assert_eq!(blank("ratio 1:2 and a://"), "ratio 1:2 and ____");
        assert_eq!(blank("://x"), "://x");
        // Linear in the text: many addresses and colons.
        let long = "ab://c d:".repeat(20_000);
        assert_eq!(blank(&long).matches('_').count(), 20_000 * 6);
    }

    #[test]
    fn long_and_short_texts_read_alike() {
        // Long enough for the two-half walk, with phrases across the middle.
        let base = "Rate limit reached on tokens per min (TPM). Please try again in 1.8s. ";
        for n in 1..12 {
            let text = base.repeat(n);
            assert_eq!(ours(&text), reference(&text), "{n} copies");
        }
    }
}
