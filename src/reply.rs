//! An upstream reply: status, headers and a body that may be JSON, SSE, HTML or anything.

use serde::{Deserialize, Serialize};

/// How the body was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// One HTTP body.
    Http,
    /// A server-sent event stream.
    Sse,
}

/// One upstream reply, as the classifier sees it.
///
/// Header names are kept lower-case so look-ups are case-insensitive.
///
/// ```
/// use keypool::Reply;
/// let r = Reply::new(200, "{}").header("Content-Type", "application/json");
/// assert_eq!(r.header_value("content-type"), Some("application/json"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// Headers, names lower-cased, in the order given.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: String,
    /// Transport, when known; `None` means decide from `content-type` and the body.
    pub transport: Option<Transport>,
}

impl Reply {
    /// A reply with a status and a body and no headers.
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            transport: None,
        }
    }

    /// Adds a header (builder style); the name is lower-cased.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// Sets the transport (builder style).
    pub fn transport(mut self, t: Transport) -> Self {
        self.transport = Some(t);
        self
    }

    /// The first value of a header, by lower-case name.
    pub fn header_value(&self, lower_name: &str) -> Option<&str> {
        self.as_ref().header_value(lower_name)
    }

    /// Whether the body is a server-sent event stream.
    pub fn is_sse(&self) -> bool {
        self.as_ref().is_sse()
    }

    /// A borrowed view of this reply, for [`crate::classify::classify_ref`].
    pub fn as_ref(&self) -> ReplyRef<'_, String> {
        ReplyRef {
            status: self.status,
            headers: &self.headers,
            body: &self.body,
            transport: self.transport,
        }
    }
}

/// A reply borrowed from wherever it lives: a gateway's own buffers, or a line of
/// `keypool classify` input. `H` is any string type for header names (lower-case) and values.
///
/// ```
/// use keypool::reply::ReplyRef;
/// let headers = [("retry-after", "7")];
/// let r = ReplyRef { status: 429, headers: &headers, body: "", transport: None };
/// assert_eq!(keypool::classify::classify_ref(&r).retry_after_ms, Some(7000));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ReplyRef<'a, H> {
    /// HTTP status code.
    pub status: u16,
    /// Headers, names lower-cased, in the order given.
    pub headers: &'a [(H, H)],
    /// The raw body.
    pub body: &'a str,
    /// Transport, when known; `None` means decide from `content-type` and the body.
    pub transport: Option<Transport>,
}

impl<'a, H: AsRef<str>> ReplyRef<'a, H> {
    /// The first value of a header, by lower-case name.
    pub fn header_value(&self, lower_name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(lower_name))
            .map(|(_, v)| v.as_ref())
    }

    /// Whether the body is a server-sent event stream.
    pub fn is_sse(&self) -> bool {
        match self.transport {
            Some(t) => t == Transport::Sse,
            None => {
                if let Some(ct) = self.header_value("content-type") {
                    let want = b"text/event-stream";
                    if ct
                        .as_bytes()
                        .windows(want.len())
                        .any(|w| w.eq_ignore_ascii_case(want))
                    {
                        return true;
                    }
                }
                looks_like_sse(self.body)
            }
        }
    }
}

/// A body looks like SSE when its first non-blank line is an SSE field.
fn looks_like_sse(body: &str) -> bool {
    let first = body.trim_start();
    first.starts_with("data:") || first.starts_with("event:") || first.starts_with(": ")
}
