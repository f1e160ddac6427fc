//! Reading a request: which API it calls, with which key, streamed or not, and which client
//! request it belongs to. Plain functions over the request's parts, so the fuzz target and the
//! tests can call them without a socket.

use crate::dialect::{Dialect, Form, Framing};

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A model call in this dialect. `framing` is set when the path itself says how to stream
    /// (Gemini's `:streamGenerateContent`); otherwise the body's `stream` flag decides.
    Api {
        /// The API.
        dialect: Dialect,
        /// Streaming decided by the path, if it is.
        framing: Option<Framing>,
    },
    /// A listing or probe endpoint, answered outside the scripts.
    Probe(Probe),
    /// A known API path called with the wrong method.
    MethodNotAllowed,
    /// Not a path the server knows.
    NotFound,
}

/// The endpoints gateways call to list models or check health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// `GET /v1/models` and the like.
    Models,
    /// `GET /v1/models/{id}`.
    Model(String),
    /// `GET /health`, `GET /`.
    Health,
}

/// The route of a request.
///
/// ```
/// use keypool::serve::route::{route, Route, Probe};
/// use keypool::dialect::{Dialect, Framing};
/// assert_eq!(route("POST", "/v1/chat/completions", ""), Route::Api { dialect: Dialect::Chat, framing: None });
/// assert_eq!(route("POST", "/v1beta/models/gemini-2.0-flash:streamGenerateContent", "alt=sse"),
///            Route::Api { dialect: Dialect::Gemini, framing: Some(Framing::Sse) });
/// assert_eq!(route("GET", "/v1/models/gpt-4o", ""), Route::Probe(Probe::Model("gpt-4o".into())));
/// assert_eq!(route("GET", "/v1/chat/completions", ""), Route::MethodNotAllowed);
/// ```
pub fn route(method: &str, path: &str, query: &str) -> Route {
    let path = path.trim_end_matches('/');
    let last = path.rsplit('/').next().unwrap_or("");
    let api = if path.ends_with("/chat/completions") {
        Some((Dialect::Chat, None))
    } else if path.ends_with("/responses") {
        Some((Dialect::Responses, None))
    } else if path.ends_with("/v1/messages") || path == "/messages" {
        Some((Dialect::Anthropic, None))
    } else if last.ends_with(":generateContent") {
        Some((Dialect::Gemini, Some(Framing::Whole)))
    } else if last.ends_with(":streamGenerateContent") {
        let sse = query.split('&').any(|p| p == "alt=sse");
        let f = if sse {
            Framing::Sse
        } else {
            Framing::JsonArray
        };
        Some((Dialect::Gemini, Some(f)))
    } else {
        None
    };
    if let Some((dialect, framing)) = api {
        return if method == "POST" {
            Route::Api { dialect, framing }
        } else {
            Route::MethodNotAllowed
        };
    }
    if method != "GET" {
        return Route::NotFound;
    }
    if path.is_empty() || matches!(path, "/health" | "/healthz" | "/ready") {
        return Route::Probe(Probe::Health);
    }
    if path.ends_with("/models") {
        return Route::Probe(Probe::Models);
    }
    if let Some(i) = path.find("/models/") {
        let id = &path[i + "/models/".len()..];
        if !id.is_empty() {
            return Route::Probe(Probe::Model(id.to_owned()));
        }
    }
    Route::NotFound
}

/// The key a request presents: `Authorization: Bearer`, `x-api-key`, `x-goog-api-key`,
/// `api-key`, or `?key=` in the query, in that order. `header` looks a header up by
/// lower-case name.
///
/// ```
/// use keypool::serve::route::presented_key;
/// let h = |n: &str| (n == "authorization").then_some("Bearer sk-1");
/// assert_eq!(presented_key(h, ""), Some("sk-1"));
/// assert_eq!(presented_key(|_| None, "alt=sse&key=AIza-2"), Some("AIza-2"));
/// ```
pub fn presented_key<'a>(
    header: impl Fn(&str) -> Option<&'a str>,
    query: &'a str,
) -> Option<&'a str> {
    if let Some(v) = header("authorization") {
        let v = v.trim();
        let token = v
            .get(..7)
            .filter(|p| p.eq_ignore_ascii_case("bearer "))
            .map(|_| v[7..].trim());
        if let Some(t) = token.filter(|t| !t.is_empty()) {
            return Some(t);
        }
    }
    for name in ["x-api-key", "x-goog-api-key", "api-key"] {
        if let Some(v) = header(name).map(str::trim).filter(|v| !v.is_empty()) {
            return Some(v);
        }
    }
    query
        .split('&')
        .find_map(|p| p.strip_prefix("key="))
        .filter(|k| !k.is_empty())
}

/// The client request an upstream call belongs to: the `x-keypool-request` header
/// (`kp-req-N` or `N`), else the first `kp-req-N` token in the body (in `user`, `metadata` or
/// the message text: gateways forward bodies more faithfully than headers).
///
/// ```
/// use keypool::serve::route::marker;
/// assert_eq!(marker(Some("kp-req-7"), b""), Some(7));
/// assert_eq!(marker(None, br#"{"user":"kp-req-12","messages":[]}"#), Some(12));
/// assert_eq!(marker(None, b"kp-req- kp-req-x kp-req-3"), Some(3));
/// assert_eq!(marker(None, b"no marker"), None);
/// ```
pub fn marker(header: Option<&str>, body: &[u8]) -> Option<u64> {
    if let Some(h) = header {
        let h = h.trim();
        let digits = h.strip_prefix(MARK).unwrap_or(h);
        if let Some(n) = number(digits.as_bytes()) {
            return Some(n);
        }
    }
    static FINDER: std::sync::OnceLock<memchr::memmem::Finder<'static>> =
        std::sync::OnceLock::new();
    let finder = FINDER.get_or_init(|| memchr::memmem::Finder::new(MARK.as_bytes()));
    finder
        .find_iter(body)
        .find_map(|at| number(&body[at + MARK.len()..]))
}

const MARK: &str = "kp-req-";

/// The number at the start of `b` (at most 19 digits, so it fits), or `None`.
fn number(b: &[u8]) -> Option<u64> {
    let n = b.iter().take(19).take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    std::str::from_utf8(&b[..n]).ok()?.parse().ok()
}

/// The form a request's answer takes: the route's framing, or the body's `stream` flag. A body
/// that is not a JSON object is an error (the provider's 400).
///
/// ```
/// use keypool::serve::route::form;
/// use keypool::dialect::{Dialect, Framing};
/// assert_eq!(form(Dialect::Chat, None, br#"{"model":"m","stream":true}"#).unwrap().framing, Framing::Sse);
/// assert_eq!(form(Dialect::Anthropic, None, br#"{"model":"m"}"#).unwrap().framing, Framing::Whole);
/// assert!(form(Dialect::Chat, None, b"{not json").is_err());
/// ```
pub fn form(dialect: Dialect, framing: Option<Framing>, body: &[u8]) -> Result<Form, String> {
    #[derive(serde::Deserialize)]
    struct Peek {
        #[serde(default)]
        stream: Option<serde_json::Value>,
    }
    let peek: Peek = serde_json::from_slice(body).map_err(|e| {
        if body.iter().all(u8::is_ascii_whitespace) {
            "the request body is empty; a JSON object is expected".to_owned()
        } else {
            format!("the request body is not a JSON object: {e}")
        }
    })?;
    let framing = framing.unwrap_or(match peek.stream {
        Some(serde_json::Value::Bool(true)) => Framing::Sse,
        _ => Framing::Whole,
    });
    Ok(Form { dialect, framing })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_cover_every_dialect_and_the_probes() {
        let api = |d, f| Route::Api {
            dialect: d,
            framing: f,
        };
        assert_eq!(
            route("POST", "/chat/completions", ""),
            api(Dialect::Chat, None)
        );
        assert_eq!(
            route(
                "POST",
                "/openai/deployments/gpt/chat/completions",
                "api-version=1"
            ),
            api(Dialect::Chat, None)
        );
        assert_eq!(
            route("POST", "/v1/responses", ""),
            api(Dialect::Responses, None)
        );
        assert_eq!(
            route("POST", "/v1/messages", ""),
            api(Dialect::Anthropic, None)
        );
        assert_eq!(
            route("POST", "/v1beta/models/g:generateContent", "key=x"),
            api(Dialect::Gemini, Some(Framing::Whole))
        );
        assert_eq!(
            route("POST", "/v1beta/models/g:streamGenerateContent", ""),
            api(Dialect::Gemini, Some(Framing::JsonArray))
        );
        assert_eq!(route("GET", "/v1/models", ""), Route::Probe(Probe::Models));
        assert_eq!(
            route("GET", "/api/v1/models", ""),
            Route::Probe(Probe::Models)
        );
        assert_eq!(
            route("GET", "/v1/models/openai/gpt-4o", ""),
            Route::Probe(Probe::Model("openai/gpt-4o".into()))
        );
        assert_eq!(route("GET", "/", ""), Route::Probe(Probe::Health));
        assert_eq!(route("POST", "/api/show", ""), Route::NotFound);
        assert_eq!(route("GET", "/v1/nothing", ""), Route::NotFound);
        assert_eq!(route("DELETE", "/v1/messages", ""), Route::MethodNotAllowed);
    }

    #[test]
    fn keys_come_from_every_header_providers_use() {
        let one =
            |name: &'static str, value: &'static str| move |n: &str| (n == name).then_some(value);
        assert_eq!(presented_key(one("x-api-key", "a"), ""), Some("a"));
        assert_eq!(presented_key(one("x-goog-api-key", "g"), ""), Some("g"));
        assert_eq!(presented_key(one("api-key", "z"), ""), Some("z"));
        assert_eq!(
            presented_key(one("authorization", "bearer  t "), ""),
            Some("t")
        );
        assert_eq!(presented_key(one("authorization", "Basic dTpw"), ""), None);
        assert_eq!(presented_key(one("authorization", "Bearer "), ""), None);
        assert_eq!(presented_key(|_| None, "key="), None);
    }

    #[test]
    fn markers_are_read_from_the_header_first() {
        assert_eq!(marker(Some("kp-req-2"), b"kp-req-9"), Some(2));
        assert_eq!(marker(Some("junk"), b"kp-req-9"), Some(9));
        assert_eq!(marker(Some("5"), b""), Some(5));
        // More digits than fit are cut at 19: no overflow, no panic.
        assert_eq!(
            marker(None, b"kp-req-99999999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        assert_eq!(marker(None, b"kp-req-"), None);
    }
}
