//! What the server was asked, one record per upstream request, and the one writer they go
//! through.

use crate::dialect::Dialect;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

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
    /// The HTTP method.
    pub method: Box<str>,
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

/// Where records go: kept in memory (the test server), appended to a file by one writer thread
/// (the CLI), or both. A record is in memory before the last byte of its response is handed
/// to the connection, so a client that has its answer finds its record.
pub(crate) struct Sink {
    memory: Option<Mutex<Vec<Record>>>,
    file: Mutex<Option<mpsc::Sender<Record>>>,
    writer: Mutex<Option<JoinHandle<io::Result<()>>>>,
}

impl Sink {
    pub(crate) fn new(keep: bool, file: Option<File>) -> Sink {
        let (tx, writer) = match file {
            Some(f) => {
                let (tx, rx) = mpsc::channel::<Record>();
                let h = std::thread::Builder::new()
                    .name("keypool-record".into())
                    .spawn(move || write_all(rx, f))
                    .expect("a thread can be started");
                (Some(tx), Some(h))
            }
            None => (None, None),
        };
        Sink {
            memory: keep.then(|| Mutex::new(Vec::new())),
            file: Mutex::new(tx),
            writer: Mutex::new(writer),
        }
    }

    pub(crate) fn push(&self, r: Record) {
        if let Some(tx) = lock(&self.file).as_ref() {
            let _ = tx.send(r.clone());
        }
        if let Some(m) = &self.memory {
            lock(m).push(r);
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<Record> {
        self.memory
            .as_ref()
            .map(|m| lock(m).clone())
            .unwrap_or_default()
    }

    /// Closes the file writer after the records sent so far are written and flushed.
    pub(crate) fn close(&self) -> io::Result<()> {
        lock(&self.file).take();
        match lock(&self.writer).take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the record writer panicked"))),
            None => Ok(()),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere leaves the data whole (each push is one step).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The writer thread: one line per record, flushed whenever the queue runs dry.
fn write_all(rx: mpsc::Receiver<Record>, f: File) -> io::Result<()> {
    let mut w = BufWriter::new(f);
    let mut line = Vec::with_capacity(256);
    while let Ok(r) = rx.recv() {
        let mut next = Some(r);
        while let Some(r) = next {
            line.clear();
            serde_json::to_writer(&mut line, &r).map_err(io::Error::other)?;
            line.push(b'\n');
            w.write_all(&line)?;
            next = rx.try_recv().ok();
        }
        w.flush()?;
    }
    w.flush()
}
