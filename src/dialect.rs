//! The provider APIs a request can speak, and how its answer is framed.
//!
//! A scenario's script says *what* an upstream answers (`ok`, `openai.rate_limit`, ...); the
//! dialect and framing of the request say *how* it is written: an OpenAI chat completion, a
//! Responses object, an Anthropic message or a Gemini candidate, whole or streamed.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A provider API.
///
/// ```
/// use keypool::dialect::Dialect;
/// assert_eq!(Dialect::Anthropic.label(), "anthropic");
/// assert_eq!("responses".parse::<Dialect>(), Ok(Dialect::Responses));
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// OpenAI chat completions (`POST /v1/chat/completions`), also spoken by most gateways.
    #[default]
    Chat,
    /// OpenAI Responses (`POST /v1/responses`).
    Responses,
    /// Anthropic messages (`POST /v1/messages`).
    Anthropic,
    /// Gemini (`POST /v1beta/models/{model}:generateContent`).
    Gemini,
}

impl Dialect {
    /// Every dialect.
    pub const ALL: [Dialect; 4] = [
        Dialect::Chat,
        Dialect::Responses,
        Dialect::Anthropic,
        Dialect::Gemini,
    ];

    /// The name used in scenario files, records and reports.
    pub fn label(self) -> &'static str {
        match self {
            Dialect::Chat => "chat",
            Dialect::Responses => "responses",
            Dialect::Anthropic => "anthropic",
            Dialect::Gemini => "gemini",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl std::str::FromStr for Dialect {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Dialect::ALL
            .into_iter()
            .find(|d| d.label() == s)
            .ok_or_else(|| format!("unknown API `{s}`; known: chat, responses, anthropic, gemini"))
    }
}

/// How an answer's body is framed on the wire.
///
/// ```
/// use keypool::dialect::Framing;
/// assert!(Framing::Sse.is_stream() && !Framing::Whole.is_stream());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Framing {
    /// One JSON document.
    #[default]
    Whole,
    /// Server-sent events.
    Sse,
    /// A JSON array of chunks, sent piece by piece (Gemini's `streamGenerateContent` without
    /// `alt=sse`).
    JsonArray,
}

impl Framing {
    /// Whether the answer is streamed.
    pub fn is_stream(self) -> bool {
        self != Framing::Whole
    }
}

/// The dialect and framing a request asked for.
///
/// ```
/// use keypool::dialect::{Dialect, Form};
/// let f = Form::new(Dialect::Chat, true);
/// assert!(f.framing.is_stream());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Form {
    /// The API.
    pub dialect: Dialect,
    /// Whole or streamed.
    pub framing: Framing,
}

impl Form {
    /// A form from a dialect and a stream flag (streams are SSE).
    pub fn new(dialect: Dialect, stream: bool) -> Form {
        Form {
            dialect,
            framing: if stream { Framing::Sse } else { Framing::Whole },
        }
    }
}

/// A model call as a client sends it: path (with query) and JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Path and query, to append to the base URL (`/v1/chat/completions`).
    pub path: String,
    /// The JSON body.
    pub body: String,
}

/// The name of the header that carries the key in `d` (`authorization` takes `Bearer KEY`).
pub fn key_header(d: Dialect) -> &'static str {
    match d {
        Dialect::Chat | Dialect::Responses => "authorization",
        Dialect::Anthropic => "x-api-key",
        Dialect::Gemini => "x-goog-api-key",
    }
}

/// A minimal call in `form` for `model`, carrying the request marker `kp-req-N` in its text
/// and in the field each API keeps for the caller (`user`, `metadata`), so a gateway that
/// forwards the body forwards the marker.
///
/// ```
/// use keypool::dialect::{call, Dialect, Form};
/// let c = call(Form::new(Dialect::Gemini, true), "mock-model", 3);
/// assert_eq!(c.path, "/v1beta/models/mock-model:streamGenerateContent?alt=sse");
/// assert!(c.body.contains("kp-req-3"));
/// ```
pub fn call(form: Form, model: &str, marker: u64) -> Call {
    let stream = form.framing.is_stream();
    let text = format!("Say hello. (kp-req-{marker})");
    let mark = format!("kp-req-{marker}");
    let (path, body) = match form.dialect {
        Dialect::Chat => (
            "/v1/chat/completions".to_owned(),
            serde_json::json!({"model": model, "messages": [{"role": "user", "content": text}], "user": mark, "stream": stream}),
        ),
        Dialect::Responses => (
            "/v1/responses".to_owned(),
            serde_json::json!({"model": model, "input": text, "metadata": {"keypool_request": mark}, "stream": stream}),
        ),
        Dialect::Anthropic => (
            "/v1/messages".to_owned(),
            serde_json::json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": text}], "metadata": {"user_id": mark}, "stream": stream}),
        ),
        Dialect::Gemini => {
            let path = match form.framing {
                Framing::Whole => format!("/v1beta/models/{model}:generateContent"),
                Framing::Sse => format!("/v1beta/models/{model}:streamGenerateContent?alt=sse"),
                Framing::JsonArray => format!("/v1beta/models/{model}:streamGenerateContent"),
            };
            (
                path,
                serde_json::json!({"contents": [{"role": "user", "parts": [{"text": text}]}]}),
            )
        }
    };
    Call {
        path,
        body: body.to_string(),
    }
}

/// Splits a body into the pieces it is sent in: one per SSE event (each with its blank line),
/// the elements of a JSON array stream, or the two halves of a whole body. Faults that act "after
/// N events" count these pieces.
///
/// ```
/// use keypool::dialect::{pieces, Framing};
/// assert_eq!(pieces("data: 1\n\ndata: 2\n\n", Framing::Sse), vec!["data: 1\n\n", "data: 2\n\n"]);
/// assert_eq!(pieces("{\"a\":1}", Framing::Whole), vec!["{\"a", "\":1}"]);
/// assert_eq!(pieces("[{},{}]", Framing::JsonArray), vec!["[{}", ",{}", "]"]);
/// ```
pub fn pieces(body: &str, framing: Framing) -> Vec<&str> {
    let mut out = Vec::new();
    match framing {
        Framing::Sse => {
            let mut from = 0;
            for at in memchr::memmem::find_iter(body.as_bytes(), b"\n\n") {
                // Runs of blank lines belong to the event before them.
                if at + 2 <= from {
                    continue;
                }
                let mut end = at + 2;
                while body.as_bytes().get(end) == Some(&b'\n') {
                    end += 1;
                }
                out.push(&body[from..end]);
                from = end;
            }
            if from < body.len() {
                out.push(&body[from..]);
            }
        }
        Framing::JsonArray => {
            // Split before each top-level comma and before the closing bracket.
            let b = body.as_bytes();
            let (mut depth, mut in_str, mut esc, mut from) = (0i32, false, false, 0);
            for (i, &c) in b.iter().enumerate() {
                if in_str {
                    match (esc, c) {
                        (true, _) => esc = false,
                        (false, b'\\') => esc = true,
                        (false, b'"') => in_str = false,
                        _ => {}
                    }
                    continue;
                }
                match c {
                    b'"' => in_str = true,
                    b'[' | b'{' => depth += 1,
                    b']' | b'}' => {
                        depth -= 1;
                        if depth == 0 && c == b']' && i > from {
                            out.push(&body[from..i]);
                            from = i;
                        }
                    }
                    b',' if depth == 1 && i > from => {
                        out.push(&body[from..i]);
                        from = i;
                    }
                    _ => {}
                }
            }
            if from < body.len() {
                out.push(&body[from..]);
            }
        }
        Framing::Whole => {
            if body.is_empty() {
                return out;
            }
            let mut mid = body.len() / 2;
            while !body.is_char_boundary(mid) {
                mid += 1;
            }
            if mid == 0 || mid == body.len() {
                out.push(body);
            } else {
                out.push(&body[..mid]);
                out.push(&body[mid..]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_join_back_to_the_body() {
        let bodies = [
            ("", Framing::Sse),
            ("data: a\n\n\n\ndata: b", Framing::Sse),
            ("event: x\ndata: {}\n\ndata: [DONE]\n\n", Framing::Sse),
            ("[{\"a\":\"],\\\"\"},{\"b\":[1,2]}]", Framing::JsonArray),
            ("é", Framing::Whole),
            ("{\"é\":\"ü\"}", Framing::Whole),
        ];
        for (b, f) in bodies {
            assert_eq!(pieces(b, f).concat(), b, "{b:?}");
        }
        assert_eq!(
            pieces("[{\"a\":\"],\\\"\"},{\"b\":[1,2]}]", Framing::JsonArray).len(),
            3
        );
        assert_eq!(pieces("data: a\n\n\n\ndata: b", Framing::Sse).len(), 2);
    }
}
