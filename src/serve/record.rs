//! What the server was asked, one record per upstream request, and the one writer they go
//! through.

use crate::dialect::Dialect;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::sync::{Arc, Mutex};

/// How a response ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum End {
    /// Sent whole.
    Complete,
    /// Closed mid-body by the script (`cut_after`).
    Cut,
    /// Closed before any byte by the script (`reset`).
    Reset,
    /// The client went away before the response was whole (a stall it gave up on, a timeout).
    ClientGone,
    /// The server stopped before the response was whole.
    Shutdown,
}

/// One upstream request, as the server saw and answered it. Keys appear by label (or, for a
/// key the scenario does not have, by fingerprint), never by secret.
///
/// ```
/// use keypool::serve::record::Record;
/// let line = r#"{"t_ms":5,"key":"k1","fingerprint":null,"method":"POST","path":"/v1/chat/completions","dialect":"chat","stream":false,"request":0,"probe":false,"step":0,"status":429,"bytes":120,"end":"complete","ended_ms":56,"client_gone_ms":null}"#;
/// let r: Record = serde_json::from_str(line).unwrap();
/// assert_eq!(r.key.as_deref(), Some("k1"));
/// assert_eq!(serde_json::to_string(&r).unwrap(), line);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// When the request arrived, in ms since the server started.
    pub t_ms: u64,
    /// The key's label, when the request presented a key of the scenario.
    pub key: Option<Arc<str>>,
    /// The fingerprint of a presented key the scenario does not have.
    pub fingerprint: Option<Box<str>>,
    /// The HTTP method (`OTHER` for one that is not standard).
    pub method: Cow<'static, str>,
    /// The path, without the query (which may carry a key).
    pub path: Arc<str>,
    /// The API, for a model call.
    pub dialect: Option<Dialect>,
    /// Whether the answer was streamed.
    pub stream: bool,
    /// The client request it belongs to (`kp-req-N`), when marked.
    pub request: Option<u64>,
    /// A listing or probe call, answered outside the scripts.
    pub probe: bool,
    /// The script step that answered (0-based), for a scripted answer.
    pub step: Option<u32>,
    /// The status sent (`None` when the connection was reset before it).
    pub status: Option<u16>,
    /// Body bytes sent.
    pub bytes: u64,
    /// How the response ended.
    pub end: End,
    /// When it ended, in ms since the server started.
    pub ended_ms: u64,
    /// When the client went away before the end, if it did.
    pub client_gone_ms: Option<u64>,
}

impl Record {
    /// The record as one JSON line (no newline).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a record serialises")
    }
}

/// Reads a JSON Lines file of records; errors name the line.
pub fn read_records(text: &str) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: Record =
            serde_json::from_str(line).map_err(|e| format!("line {}: not a record: {e}", i + 1))?;
        out.push(r);
    }
    Ok(out)
}

/// Where records go: kept in memory (the test server), appended to a file (the CLI), or both.
/// A record is written when its response ends: before the last byte of the response is
/// handed to the connection, so a client that has its answer finds its record. The file is
/// one buffered writer behind a lock (lines never interleave); the server flushes it every few
/// milliseconds while busy and when it stops, so a burst costs one system call per buffer,
/// not one per record.
pub(crate) struct Sink {
    memory: Option<Mutex<Vec<Record>>>,
    file: Mutex<Option<BufWriter<File>>>,
    /// The first write error, reported when the sink closes.
    failed: Mutex<Option<io::Error>>,
}

impl Sink {
    pub(crate) fn new(keep: bool, file: Option<File>) -> Sink {
        Sink {
            memory: keep.then(|| Mutex::new(Vec::new())),
            file: Mutex::new(file.map(|f| BufWriter::with_capacity(256 * 1024, f))),
            failed: Mutex::new(None),
        }
    }

    pub(crate) fn push(&self, r: Record) {
        if let Some(w) = lock(&self.file).as_mut() {
            let res = serde_json::to_writer(&mut *w, &r)
                .map_err(io::Error::other)
                .and_then(|_| w.write_all(b"\n"));
            if let Err(e) = res {
                lock(&self.failed).get_or_insert(e);
            }
        }
        if let Some(m) = &self.memory {
            lock(m).push(r);
        }
    }

    /// Writes out what is buffered (called on a short timer while the server runs).
    pub(crate) fn flush(&self) {
        if let Some(w) = lock(&self.file).as_mut() {
            if !w.buffer().is_empty() {
                if let Err(e) = w.flush() {
                    lock(&self.failed).get_or_insert(e);
                }
            }
        }
    }

    pub(crate) fn clear_memory(&self) {
        if let Some(m) = &self.memory {
            lock(m).clear();
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<Record> {
        self.memory
            .as_ref()
            .map(|m| lock(m).clone())
            .unwrap_or_default()
    }

    /// Flushes and closes the file; the first write error, if any.
    pub(crate) fn close(&self) -> io::Result<()> {
        if let Some(mut w) = lock(&self.file).take() {
            if let Err(e) = w.flush() {
                lock(&self.failed).get_or_insert(e);
            }
        }
        match lock(&self.failed).take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere leaves the data whole (each push is one step).
    m.lock().unwrap_or_else(|p| p.into_inner())
}
