//! Server-sent event streams: split into events, read each with the JSON reader, and judge
//! the stream by its terminal failure, its output and whether it finished.

use super::json::{collect_error, inspect, ErrorFound, Inspect};

use super::retry_after::BodyHints;
use super::text::Hay;
use std::borrow::Cow;

/// One SSE event: its `event:` name and its joined `data:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` field, when present.
    pub name: Option<&'a str>,
    /// The `data:` lines joined with `\n` (borrowed from the body when there is one line).
    pub data: Cow<'a, str>,
}

/// Splits an SSE body into events. Comment lines (`: ...`) and keep-alive blank lines are
/// skipped; a trailing event without its blank line still counts. A JSON document written
/// into the stream as it is, not as `data:` (a gateway appending its upstream's error to a
/// stream it already began: `{"error": {"code": 503, …}}` after Gemini's chunks), is an event
/// of its own.
///
/// ```
/// let evs = keypool::classify::sse_events(": ping\n\nevent: error\ndata: {}\n\n");
/// assert_eq!(evs.len(), 1);
/// assert_eq!(evs[0].name, Some("error"));
/// let evs = keypool::classify::sse_events("data: {}\n\n{\n  \"error\": {}\n}\n");
/// assert_eq!(evs[1].data, "{\n  \"error\": {}\n}");
/// ```
pub fn sse_events(body: &str) -> Vec<SseEvent<'_>> {
    let mut out = Vec::new();
    let mut name: Option<&str> = None;
    let mut data: Cow<'_, str> = Cow::Borrowed("");
    let mut has_data = false;
    // A raw JSON document being read: where it starts and where its last line ends.
    let mut raw: Option<(usize, usize)> = None;
    // Lines found with memchr: a stream is mostly long `data:` lines, so the search for the
    // next newline is most of the splitting.
    let mut from = 0;
    let ends = memchr::memchr_iter(b'\n', body.as_bytes()).chain(std::iter::once(body.len()));
    for end in ends {
        let start = from;
        let line = &body[from..end];
        from = end + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some((doc_start, doc_end)) = raw {
            let field = ["data:", "event:", "id:", "retry:", ":"]
                .iter()
                .any(|f| line.starts_with(f));
            if !line.is_empty() && !field {
                raw = Some((doc_start, start + line.len()));
                continue;
            }
            out.push(SseEvent {
                name: None,
                data: Cow::Borrowed(&body[doc_start..doc_end]),
            });
            raw = None;
        } else if line.trim_start().starts_with(['{', '[']) {
            // No SSE field begins with a brace: this is a document, not a field.
            if has_data || name.is_some() {
                out.push(SseEvent {
                    name: name.take(),
                    data: std::mem::take(&mut data),
                });
                has_data = false;
            }
            raw = Some((start, start + line.len()));
            continue;
        }
        if line.is_empty() {
            if has_data || name.is_some() {
                out.push(SseEvent {
                    name: name.take(),
                    data: std::mem::take(&mut data),
                });
                has_data = false;
            }
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => name = Some(value.trim()),
            "data" => {
                if has_data {
                    let joined = data.to_mut();
                    joined.push('\n');
                    joined.push_str(value);
                } else {
                    data = Cow::Borrowed(value);
                }
                has_data = true;
            }
            _ => {}
        }
    }
    if let Some((doc_start, doc_end)) = raw {
        out.push(SseEvent {
            name: None,
            data: Cow::Borrowed(&body[doc_start..doc_end]),
        });
    } else if has_data || name.is_some() {
        out.push(SseEvent { name, data });
    }
    out
}

/// What a whole stream says.
#[derive(Debug, Default)]
pub(crate) struct StreamReading {
    pub acc: Inspect,
    /// Failure events, in order.
    pub failures: Vec<ErrorFound>,
    pub done_marker: bool,
    /// An event's data started as JSON and could not be read.
    pub malformed: bool,
    pub events: usize,
}

/// Reads every event; `fast` lets plain chat chunks take the one-pass reader.
pub(crate) fn read_stream(body: &str, fast: bool) -> StreamReading {
    let mut r = StreamReading::default();
    for ev in sse_events(body) {
        r.events += 1;
        let data = ev.data.trim();
        if data == "[DONE]" {
            r.done_marker = true;
            continue;
        }
        if fast && ev.name != Some("error") {
            if let Some(ins) = super::chunk::read_chunk(data) {
                r.acc.merge(ins);
                continue;
            }
        }
        match super::jvalue::parse(data) {
            Ok(v) => {
                let mut ins = inspect(&v);
                if ev.name == Some("error") && ins.error.is_none() {
                    ins.error = Some(collect_error(&v, &v));
                }
                if let Some(e) = ins.error.take() {
                    if !e.weak || ev.name == Some("error") {
                        r.failures.push(e);
                    }
                }
                r.acc.merge(ins);
            }
            Err(_) => {
                if data.starts_with(['{', '[']) {
                    r.malformed = true;
                }
                if ev.name == Some("error") || data.to_ascii_lowercase().starts_with("error") {
                    let mut hay = Hay::default();
                    hay.push(data);
                    let mut hints = BodyHints::default();
                    super::json::hints_from_text(data, &mut hints);
                    r.failures.push(ErrorFound {
                        hay,
                        hints,
                        ..ErrorFound::default()
                    });
                }
            }
        }
    }
    r
}
