//! The JSON Lines contract of `keypool classify` (`docs/classify.md`): one input
//! line in, one output line out. Kept beside the CLI, outside the sans-IO core.

use crate::class::Verdict;
use crate::classify::classify;
use crate::reply::{Reply, Transport};
use serde_json::{Map, Value};

/// One classified input line.
#[derive(Debug, Clone, PartialEq)]
pub struct Classified {
    /// The input's `id`, echoed.
    pub id: Option<String>,
    /// The verdict.
    pub verdict: Verdict,
}

/// Parses one input line into a reply and its optional id. Fields other than `status`,
/// `headers`, `body`, `transport` and `id` are ignored, so a labelled corpus reads as it is.
///
/// ```
/// let (r, id) = keypool::classify_line::parse_line(r#"{"id":"a","status":429,"body":""}"#).unwrap();
/// assert_eq!((r.status, id.as_deref()), (429, Some("a")));
/// assert!(keypool::classify_line::parse_line(r#"{"status":"x"}"#).is_err());
/// ```
pub fn parse_line(line: &str) -> Result<(Reply, Option<String>), String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(map) = v else {
        return Err("not a JSON object".into());
    };
    reply_from_object(&map)
}

/// Builds a reply from a parsed input object (see [`parse_line`]).
pub fn reply_from_object(map: &Map<String, Value>) -> Result<(Reply, Option<String>), String> {
    let status = match map.get("status") {
        None => return Err("missing field `status`".into()),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(s @ 100..=599) => s as u16,
            _ => {
                return Err(format!(
                    "field `status`: {n} is not an integer from 100 to 599"
                ))
            }
        },
        Some(other) => {
            return Err(format!(
                "field `status`: expected an integer, found {}",
                kind(other)
            ))
        }
    };
    let mut reply = Reply::new(status, "");
    match map.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (k, v) in h {
                match v {
                    Value::String(s) => reply.headers.push((k.to_ascii_lowercase(), s.clone())),
                    other => {
                        return Err(format!(
                            "field `headers.{k}`: expected a string, found {}",
                            kind(other)
                        ))
                    }
                }
            }
        }
        Some(other) => {
            return Err(format!(
                "field `headers`: expected an object, found {}",
                kind(other)
            ))
        }
    }
    match map.get("body") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => reply.body = s.clone(),
        Some(other) => {
            return Err(format!(
                "field `body`: expected a string, found {}",
                kind(other)
            ))
        }
    }
    match map.get("transport") {
        None | Some(Value::Null) => {}
        Some(Value::String(t)) if t == "http" => reply.transport = Some(Transport::Http),
        Some(Value::String(t)) if t == "sse" => reply.transport = Some(Transport::Sse),
        Some(other) => {
            return Err(format!(
                "field `transport`: expected \"http\" or \"sse\", found {other}"
            ))
        }
    }
    let id = match map.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(format!(
                "field `id`: expected a string, found {}",
                kind(other)
            ))
        }
    };
    Ok((reply, id))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Classifies one line; `Err` carries the reason the line was rejected.
pub fn classify_line(line: &str) -> Result<Classified, String> {
    let (reply, id) = parse_line(line)?;
    Ok(Classified {
        id,
        verdict: classify(&reply),
    })
}

/// The output line for a classified input (`explain` adds the deciding rule and flags).
pub fn output_line(c: &Classified, explain: bool) -> String {
    let mut m = Map::new();
    if let Some(id) = &c.id {
        m.insert("id".into(), Value::String(id.clone()));
    }
    m.insert(
        "class".into(),
        Value::String(c.verdict.class.label().into()),
    );
    m.insert(
        "retry_after_ms".into(),
        c.verdict.retry_after_ms.map_or(Value::Null, Value::from),
    );
    if explain {
        m.insert("reason".into(), Value::String(c.verdict.reason.into()));
        m.insert("soft".into(), Value::Bool(c.verdict.soft));
        m.insert(
            "partial_output".into(),
            Value::Bool(c.verdict.partial_output),
        );
    }
    Value::Object(m).to_string()
}

/// The output line for a rejected input line (`n` counts from 1).
pub fn error_line(n: usize, error: &str) -> String {
    serde_json::json!({ "line": n, "error": error }).to_string()
}
