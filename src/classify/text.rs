//! The rule table over error text: codes, types, statuses and messages folded into one
//! normalised haystack (lower case, `_` and `-` as spaces), read by phrase rules tried in a
//! fixed order. The order is the precedence: a request-fault beats a key fault, a specific
//! quota beats a generic permission, a named window decides rate limit against quota.
//!
//! Every phrase of every list is compiled into one Aho-Corasick automaton, so the haystack is
//! scanned once and the rules read a bitmask of the lists that matched.

use crate::class::Class;
use aho_corasick::AhoCorasick;
use std::sync::LazyLock;

/// Normalised error text.
#[derive(Debug, Default, Clone)]
pub(crate) struct Hay {
    s: String,
}

impl Hay {
    pub(crate) fn push(&mut self, text: &str) {
        // Only the first 64 KiB of error text count: errors are short, junk is not.
        if self.s.len() > 64 * 1024 {
            return;
        }
        let mut end = text.len().min(64 * 1024);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.s.reserve(end + 1);
        self.s.push(' ');
        // Mapping ASCII bytes only keeps the UTF-8 valid; one pass, no per-char pushes.
        let mapped: Vec<u8> = text.as_bytes()[..end]
            .iter()
            .map(|&b| match b {
                b'_' | b'-' | b'\n' | b'\r' | b'\t' => b' ',
                b => b.to_ascii_lowercase(),
            })
            .collect();
        self.s
            .push_str(std::str::from_utf8(&mapped).expect("ASCII mapping keeps UTF-8 valid"));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.s.trim().is_empty()
    }

    fn has(&self, p: &str) -> bool {
        memchr::memmem::find(self.s.as_bytes(), p.as_bytes()).is_some()
    }

    /// Which phrase lists occur in the haystack, one bit per [`List`], in one scan.
    pub(crate) fn scan(&self) -> Lists {
        let mut mask = 0u32;
        for m in MATCHER.ac.find_overlapping_iter(self.s.as_bytes()) {
            mask |= MATCHER.list_of[m.pattern().as_usize()];
        }
        Lists(mask)
    }

    /// `w` as a whole word (not inside a longer alphanumeric run).
    fn word(&self, w: &str) -> bool {
        let b = self.s.as_bytes();
        let mut from = 0;
        while let Some(p) = memchr::memmem::find(&b[from..], w.as_bytes()) {
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

    fn any_word(&self, ws: &[&str]) -> bool {
        ws.iter().any(|w| self.word(w))
    }

    /// The number after `label` ("limit 10000", "requested: 17,652").
    fn number_after(&self, label: &str) -> Option<u64> {
        let pos = memchr::memmem::find(self.s.as_bytes(), label.as_bytes())?;
        let rest = self.s[pos + label.len()..].trim_start_matches([' ', ':', '=']);
        let digits: String = rest
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == ',')
            .filter(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    }
}

/// What the surrounding reader knows beyond the text.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct TextCtx {
    /// A gateway says the error came from the provider behind it (OpenRouter `metadata.raw` with
    /// a `provider_name`): limits there are the gateway's shared pool, not this key.
    pub upstream_wrapped: bool,
    /// The HTTP status (or the status a 2xx body names); a 429 is a throttle of some window.
    pub status: u16,
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
    "content filter",
    "content management policy",
    "content policy",
    "contentfilter",
    "responsibleaipolicyviolation",
    "safety system",
    "safety filter",
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
    "guardrail",
    "blocked due to safety",
    "safety reasons",
    "harmful content",
    "violates our",
    "violating our",
    "policy violation",
    "content violat",
    "敏感",
    "内容安全",
    "违规",
];

const CONTEXT_OVERFLOW: &[&str] = &[
    "context length",
    "context window",
    "context limit",
    "context size",
    "maximum context",
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
    "exceeds the token limit",
    "上下文长度",
    "超出最大",
    "too long for the model",
    "model token limit",
    "must have less than",
    "tokens must be <=",
    "超过最大",
    "超长",
    "exceeds maximum context",
    "context_length",
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
    "credits",
    "insufficient balance",
    "balance is insufficient",
    "balance insufficient",
    "balance is too low",
    "account balance",
    "insufficient funds",
    "out of funds",
    "billing hard limit",
    "billing not active",
    "billing is not active",
    "payment required",
    "payment method",
    "spend limit",
    "spending limit",
    "spend cap",
    "budget",
    "arrearage",
    "overdue",
    "good standing",
    "recharge",
    "top up",
    "afford",
    "resource package",
    "usage limit",
    "subscription quota",
    "plan limit",
    "plan quota",
    "key limit exceeded",
    "total limit",
    "monthly limit",
    "limit: 0,",
    "limit: 0 ",
    "quota of 0",
    "quota: 0",
    "allowance",
    "allocated quota",
    "allocationquota",
    "out of quota",
    "quota exhausted",
    "exhausted your",
    "hour limit",
    "free trial",
    "trial key",
    "trial has expired",
    "余额",
    "欠费",
    "充值",
    "额度不足",
    "credit limit",
    "out of credit",
    "no credit",
    "insufficient credit",
    "add credit",
    "credits exhausted",
    "used up",
    "free allocation",
    "额度",
];

const AUTH: &[&str] = &[
    "invalid api key",
    "invalid x api key",
    "api key not valid",
    "api key expired",
    "api key invalid",
    "incorrect api key",
    "invalid authentication",
    "authentication",
    "unauthorized",
    "unauthenticated",
    "invalid token",
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
    "expired token",
    "unrecognizedclient",
    "signature",
    "无效的令牌",
    "api key 无效",
    "invalid api token",
    "invalidapikey",
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
    "permission",
    "access denied",
    "not authorized",
    "does not have access",
    "forbidden",
];

const OVERLOADED: &[&str] = &[
    "overloaded",
    "overload",
    "high demand",
    "at capacity",
    "over capacity",
    "capacity",
    "model is loading",
    "loading model",
    "currently loading",
    "not ready",
    "modelnotready",
    "is busy",
    "server busy",
    "servers are busy",
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
    "rate limit",
    "ratelimit",
    "rate limited",
    "too many requests",
    "throttl",
    "slow down",
    "concurren",
    "requests per",
    "tokens per",
    "per minute",
    "per second",
    "quota",
    "resource exhausted",
    "resource has been exhausted",
    "频繁",
    "限流",
    "并发",
    "limit exceeded",
    "limit reached",
];

const QUOTA_WINDOW: &[&str] = &[
    "per day",
    "perday",
    "daily",
    "per week",
    "weekly",
    "per month",
    "monthly",
    "/ month",
    "/month",
    "/ day",
    "/day",
    "today",
    "24 hours",
    "per hour",
    "perhour",
    "hourly",
    "lifetime",
];
const QUOTA_WINDOW_WORDS: &[&str] = &["tpd", "rpd"];

const RATE_WINDOW: &[&str] = &[
    "per minute",
    "perminute",
    "per min",
    "per second",
    "persecond",
    "/min",
    "/ min",
    "/s ",
    "concurren",
    "burst",
    "并发",
];
const RATE_WINDOW_WORDS: &[&str] = &["tpm", "rpm", "rps", "tps", "itpm", "otpm"];

const SERVER_ERROR: &[&str] = &[
    "internal server error",
    "internal error",
    "server error",
    "api error",
    "bad gateway",
    "gateway timeout",
    "gateway time out",
    "timed out",
    "timeout",
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
    "internal",
    "origin",
    "deadline exceeded",
    "stream error",
];

const BAD_REQUEST: &[&str] = &[
    "does not exist",
    "not found",
    "no such model",
    "invalid request",
    "invalid argument",
    "invalid parameter",
    "invalid value",
    "unsupported",
    "not supported",
    "validation error",
    "malformed",
    "missing required",
    "is required",
    "unknown parameter",
    "unrecognized",
    "failed precondition",
    "bad request",
    "invalid model",
    "is not a valid",
    "must be",
    "notfound",
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
    "rate limit",
    "ratelimit",
    "rate limited",
    "too many requests",
    "throttl",
    "resource",
];

struct Matcher {
    ac: AhoCorasick,
    list_of: Vec<u32>,
}

static MATCHER: LazyLock<Matcher> = LazyLock::new(|| {
    let lists: [(&[&str], List); 14] = [
        (CANCELLED, List::Cancelled),
        (CONTENT_POLICY, List::ContentPolicy),
        (CONTEXT_OVERFLOW, List::ContextOverflow),
        (REGION, List::Region),
        (QUOTA_STRONG, List::QuotaStrong),
        (AUTH, List::Auth),
        (AUTH_WEAK, List::AuthWeak),
        (OVERLOADED, List::Overloaded),
        (THROTTLE, List::Throttle),
        (QUOTA_WINDOW, List::QuotaWindow),
        (RATE_WINDOW, List::RateWindow),
        (SERVER_ERROR, List::ServerError),
        (BAD_REQUEST, List::BadRequest),
        (THROTTLE_EXPLICIT, List::ThrottleExplicit),
    ];
    let mut patterns = Vec::new();
    let mut list_of = Vec::new();
    for (phrases, list) in lists {
        for p in phrases {
            patterns.push(*p);
            list_of.push(list as u32);
        }
    }
    let ac = aho_corasick::AhoCorasickBuilder::new()
        .kind(Some(aho_corasick::AhoCorasickKind::DFA))
        .build(&patterns)
        .expect("the phrase lists compile");
    Matcher { ac, list_of }
});

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
    if m.any(List::ContextOverflow) || requested_over_limit(h) {
        return Some((
            Class::ContextOverflow,
            "text: request larger than the model or limit",
        ));
    }
    if m.any(List::Region) {
        return Some((Class::BadRequest, "text: region / location not supported"));
    }
    let rate_window = m.any(List::RateWindow) || h.any_word(RATE_WINDOW_WORDS);
    let quota_window = m.any(List::QuotaWindow) || h.any_word(QUOTA_WINDOW_WORDS);
    if m.any(List::QuotaStrong) {
        return Some((
            Class::QuotaExhausted,
            "text: credits / balance / billing / plan usage",
        ));
    }
    if m.any(List::Auth) {
        return Some((
            Class::Auth,
            "text: invalid, expired, revoked or unpermitted credential",
        ));
    }
    let throttled = m.any(List::Throttle) || (ctx.status == 429 && quota_window);
    if m.any(List::Overloaded) || (ctx.upstream_wrapped && throttled) {
        let reason = if ctx.upstream_wrapped && throttled {
            "text: gateway's upstream provider is rate limited (shared, not this key)"
        } else {
            "text: provider overloaded / at capacity"
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
        if h.has("quota") && !m.any(List::ThrottleExplicit) {
            return Some((
                Class::QuotaExhausted,
                "text: quota exceeded, no short window named",
            ));
        }
        return Some((Class::RateLimit, "text: rate limit"));
    }
    if m.any(List::AuthWeak) {
        return Some((Class::Auth, "text: permission denied / forbidden"));
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
        let m = h.scan();
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
        assert_eq!(
            decide("You exceeded your current quota, check your plan and billing details. quotaId GenerateRequestsPerMinute"),
            Some(Class::RateLimit)
        );
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
}
