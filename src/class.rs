//! The eleven failure classes and the verdict the classifier gives for one reply.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What an upstream reply means for the request and for the key that served it.
///
/// Labels are the snake_case strings of `docs/classify.md`.
///
/// ```
/// use keypool::Class;
/// assert_eq!(Class::QuotaExhausted.label(), "quota_exhausted");
/// assert_eq!("rate_limit".parse::<Class>().unwrap(), Class::RateLimit);
/// assert!(Class::Auth.is_key_level());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// A normal answer.
    Success,
    /// Short-window throttle of this key: RPM, TPM, concurrency.
    RateLimit,
    /// This key or account is out of money or allowance.
    QuotaExhausted,
    /// The credential is invalid, expired, revoked or lacks permission.
    Auth,
    /// Provider-wide capacity problem; rotating keys does not help.
    Overloaded,
    /// 5xx, gateway timeouts, error pages, streams that fail after starting.
    ServerError,
    /// Refused for safety or moderation.
    ContentPolicy,
    /// The request itself is too big for the model.
    ContextOverflow,
    /// Malformed or unusable request, unknown model, region block.
    BadRequest,
    /// The client cancelled it.
    Cancelled,
    /// A well-formed 200 with no usable output.
    EmptySuccess,
}

/// What a caller should do about a reply, coarsely: the four action groups.
///
/// ```
/// use keypool::{Class, ActionGroup};
/// assert_eq!(Class::Overloaded.action_group(), ActionGroup::Retry);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionGroup {
    /// Move to another key.
    RotateKey,
    /// Try again (after a wait).
    Retry,
    /// Give up: the request itself is at fault.
    Stop,
    /// Done.
    Ok,
}

impl Class {
    /// Every class, in a fixed order.
    pub const ALL: [Class; 11] = [
        Class::Success,
        Class::RateLimit,
        Class::QuotaExhausted,
        Class::Auth,
        Class::Overloaded,
        Class::ServerError,
        Class::ContentPolicy,
        Class::ContextOverflow,
        Class::BadRequest,
        Class::Cancelled,
        Class::EmptySuccess,
    ];

    /// The exact label used in JSON, traces and the CLI.
    pub fn label(self) -> &'static str {
        match self {
            Class::Success => "success",
            Class::RateLimit => "rate_limit",
            Class::QuotaExhausted => "quota_exhausted",
            Class::Auth => "auth",
            Class::Overloaded => "overloaded",
            Class::ServerError => "server_error",
            Class::ContentPolicy => "content_policy",
            Class::ContextOverflow => "context_overflow",
            Class::BadRequest => "bad_request",
            Class::Cancelled => "cancelled",
            Class::EmptySuccess => "empty_success",
        }
    }

    /// True for failures that belong to the key (rotating helps).
    pub fn is_key_level(self) -> bool {
        matches!(self, Class::RateLimit | Class::QuotaExhausted | Class::Auth)
    }

    /// True for failures caused by the request itself: never rotate or retry.
    pub fn is_request_fault(self) -> bool {
        matches!(
            self,
            Class::ContentPolicy | Class::ContextOverflow | Class::BadRequest | Class::Cancelled
        )
    }

    /// True for anything but [`Class::Success`].
    pub fn is_failure(self) -> bool {
        self != Class::Success
    }

    /// The coarse action group of this class.
    pub fn action_group(self) -> ActionGroup {
        match self {
            Class::Success => ActionGroup::Ok,
            Class::RateLimit | Class::QuotaExhausted | Class::Auth => ActionGroup::RotateKey,
            Class::Overloaded | Class::ServerError | Class::EmptySuccess => ActionGroup::Retry,
            _ => ActionGroup::Stop,
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl std::str::FromStr for Class {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Class::ALL
            .iter()
            .copied()
            .find(|c| c.label() == s)
            .ok_or_else(|| {
                let all: Vec<&str> = Class::ALL.iter().map(|c| c.label()).collect();
                format!("unknown class `{s}`, expected one of {}", all.join(", "))
            })
    }
}

/// The classifier's reading of one reply.
///
/// ```
/// use keypool::{classify, Class, Reply};
/// let v = classify(&Reply::new(429, "").header("retry-after", "3"));
/// assert_eq!(v.class, Class::RateLimit);
/// assert_eq!(v.retry_after_ms, Some(3000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The failure class.
    pub class: Class,
    /// The wait the upstream asked for, in milliseconds; `None` when it gave none.
    pub retry_after_ms: Option<u64>,
    /// The wait came from a `retry-after` or `retry-after-ms` header (not the body or a
    /// provider's reset headers).
    pub retry_after_in_header: bool,
    /// The rule that decided the class, for `--explain` and traces.
    pub reason: &'static str,
    /// The reply was HTTP 2xx but carried a failure (a "soft" failure).
    pub soft: bool,
    /// A failed reply that nevertheless carried some output (partial text, output items).
    pub partial_output: bool,
    /// The reply came as a stream (an SSE body).
    pub streamed: bool,
}

impl Verdict {
    /// A verdict with no retry-after.
    pub fn new(class: Class, reason: &'static str) -> Self {
        Verdict {
            class,
            retry_after_ms: None,
            retry_after_in_header: false,
            reason,
            soft: false,
            partial_output: false,
            streamed: false,
        }
    }
}
