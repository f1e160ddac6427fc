//! The answers given outside the scripts: probes, unknown keys, bad requests, unknown paths,
//! each in the shape the dialect's real API uses.

use super::route::Probe;
use crate::class::Class;
use crate::dialect::Dialect;
use crate::sim::render::error_body;
use serde_json::json;

/// A fixed answer: status and JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixed {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: String,
}

fn fixed(status: u16, v: serde_json::Value) -> Fixed {
    Fixed {
        status,
        body: v.to_string(),
    }
}

/// The answer to a probe.
pub fn probe(p: &Probe) -> Fixed {
    match p {
        Probe::Health => fixed(200, json!({"status": "ok"})),
        Probe::Models => fixed(
            200,
            json!({"object": "list", "data": [
                {"id": "mock-model", "object": "model", "created": 1_700_000_000, "owned_by": "keypool"}
            ]}),
        ),
        Probe::Model(id) => fixed(
            200,
            json!({"id": id, "object": "model", "created": 1_700_000_000, "owned_by": "keypool"}),
        ),
    }
}

/// The dialect's answer to a missing (`None`) or unknown key. Gemini answers an invalid key
/// with 400 `API_KEY_INVALID` and a missing one with 403, as Google's API does; the others
/// with 401.
///
/// ```
/// use keypool::serve::answers::unknown_key;
/// use keypool::dialect::Dialect;
/// use keypool::{classify, Class, Reply};
/// let a = unknown_key(Dialect::Anthropic, true);
/// assert_eq!(a.status, 401);
/// assert_eq!(classify(&Reply::new(a.status, a.body)).class, Class::Auth);
/// ```
pub fn unknown_key(d: Dialect, presented: bool) -> Fixed {
    match (d, presented) {
        (Dialect::Chat | Dialect::Responses, true) => fixed(
            401,
            json!({"error": {"message": "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.", "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}),
        ),
        (Dialect::Chat | Dialect::Responses, false) => fixed(
            401,
            json!({"error": {"message": "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "type": "invalid_request_error", "param": null, "code": null}}),
        ),
        (Dialect::Anthropic, true) => fixed(
            401,
            json!({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}),
        ),
        (Dialect::Anthropic, false) => fixed(
            401,
            json!({"type": "error", "error": {"type": "authentication_error", "message": "x-api-key header is required"}}),
        ),
        (Dialect::Gemini, true) => fixed(
            400,
            json!({"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT",
                "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com"}]}}),
        ),
        (Dialect::Gemini, false) => fixed(
            403,
            json!({"error": {"code": 403, "message": "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", "status": "PERMISSION_DENIED"}}),
        ),
    }
}

/// A request the dialect rejects as malformed (400), too large (413), or too slow (408).
pub fn request_error(d: Dialect, status: u16, msg: &str) -> Fixed {
    let class = if status == 413 {
        Class::ContextOverflow
    } else {
        Class::BadRequest
    };
    Fixed {
        status,
        body: error_body(d, class, status, msg).to_string(),
    }
}

/// An unknown path (404) or a wrong method (405), in OpenAI's shape.
pub fn not_found(status: u16, method: &str, path: &str) -> Fixed {
    let what = if status == 405 {
        format!("Method {method} is not allowed for {path}")
    } else {
        format!("Unknown request URL: {method} {path}")
    };
    fixed(
        status,
        json!({"error": {"message": what, "type": "invalid_request_error", "param": null, "code": if status == 405 { "method_not_allowed" } else { "unknown_url" }}}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{classify, Reply};

    #[test]
    fn unknown_keys_read_as_auth_in_every_dialect() {
        for d in Dialect::ALL {
            for presented in [true, false] {
                let a = unknown_key(d, presented);
                let v = classify(&Reply::new(a.status, a.body.clone()));
                assert_eq!(v.class, Class::Auth, "{d} {presented}: {}", a.body);
            }
        }
    }
}
