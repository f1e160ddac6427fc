//! `keypool serve`: a scenario's per-key scripts served over HTTP, as the upstream a real
//! gateway or agent is pointed at, and as a test server for a Rust gateway's own `cargo test`.
//!
//! The server speaks four provider APIs (OpenAI chat completions and Responses, Anthropic
//! messages, Gemini), picks each request's key from its credentials, answers from that key's
//! script (the same script model and the same delivery faults as the simulator, on the wall
//! clock from the server's start), and records every request it was asked, by key label, never
//! by secret. Probe and listing endpoints are answered outside the scripts.
//!
//! ```
//! use keypool::serve::Server;
//! // k1 is rate limited once, then fine; k2 is fine.
//! let server = Server::builder()
//!     .key("k1", ["openai.rate_limit", "ok"])
//!     .key("k2", ["ok"])
//!     .start()
//!     .unwrap();
//! assert!(server.uri().starts_with("http://127.0.0.1:"));
//! let secret = server.secret("k1").unwrap().to_owned();
//! # let call = |secret: &str| -> u16 {
//! #     use std::io::{Read, Write};
//! #     let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
//! #     let body = r#"{"model":"m","messages":[{"role":"user","content":"hi kp-req-0"}]}"#;
//! #     write!(s, "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {secret}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).unwrap();
//! #     let mut out = String::new();
//! #     s.read_to_string(&mut out).unwrap();
//! #     out[9..12].parse().unwrap()
//! # };
//! // ... point the gateway under test at `server.uri()`, with the keys' secrets ...
//! assert_eq!(call(&secret), 429);
//! assert_eq!(call(&secret), 200);
//! let records = server.records();
//! assert_eq!(records.len(), 2);
//! assert_eq!(records[0].key.as_deref(), Some("k1"));
//! assert_eq!((records[0].status, records[0].request), (Some(429), Some(0)));
//! ```

pub mod answers;
mod body;
pub(crate) mod http;
pub mod judge;
pub mod record;
pub mod route;

use crate::dialect::{Dialect, Form, Framing};
use crate::scenario::{self, KeyDef, ProviderDef, Scenario, Step, Workload};
use crate::sim::world::{Cursor, Script};
use body::Rendered;
use record::{Record, Sink};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How the server runs. The defaults suit a test server; `keypool serve` raises the workers.
///
/// ```
/// let c = keypool::serve::Config::default();
/// assert!(c.listen.ip().is_loopback());
/// assert_eq!(c.listen.port(), 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where to listen; port 0 takes any free port. Loopback by default.
    pub listen: SocketAddr,
    /// Append a JSON line per request to this file.
    pub record: Option<PathBuf>,
    /// Keep records in memory, for [`Server::records`].
    pub keep_records: bool,
    /// A request body larger than this is answered 413.
    pub max_body_bytes: usize,
    /// Connections beyond this many at once are closed at once.
    pub max_connections: usize,
    /// A client must send a request's headers within this long (also the idle limit of a
    /// kept-alive connection).
    pub header_timeout: Duration,
    /// A client must send a request's body within this long, or gets 408.
    pub body_timeout: Duration,
    /// On shutdown, responses still in flight get this long before they are cut.
    pub grace: Duration,
    /// Threads, each a single-threaded runtime accepting on the shared socket.
    pub workers: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            record: None,
            keep_records: true,
            max_body_bytes: 8 << 20,
            max_connections: 16_384,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            grace: Duration::from_secs(2),
            workers: 1,
        }
    }
}

/// Why a server could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeError(String);

impl std::fmt::Display for ServeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServeError {}

/// The forms a step can be written in: four dialects × three framings.
const FORMS: usize = 12;

fn form_slot(f: Form) -> usize {
    let d = Dialect::ALL
        .iter()
        .position(|x| *x == f.dialect)
        .unwrap_or(0);
    let fr = match f.framing {
        Framing::Whole => 0,
        Framing::Sse => 1,
        Framing::JsonArray => 2,
    };
    d * 3 + fr
}

/// One served key.
#[derive(Clone, PartialEq, Eq)]
pub struct ServedKey {
    /// Its label.
    pub label: Arc<str>,
    /// Its secret, as the gateway must present it.
    pub secret: String,
}

impl std::fmt::Debug for ServedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedKey")
            .field("label", &self.label)
            .field("secret", &crate::pool::fingerprint(&self.secret))
            .finish()
    }
}

/// What the running server shares between connections.
pub(crate) struct Served {
    /// The clock's origin, as nanoseconds after `base` ([`Server::begin`] moves it).
    base: Instant,
    origin_ns: std::sync::atomic::AtomicU64,
    by_secret: HashMap<String, u32>,
    labels: Vec<Arc<str>>,
    scripts: Vec<Script>,
    cursors: Vec<Mutex<Cursor>>,
    /// Each key's steps, rendered once per form: `[step * FORMS + slot]`.
    rendered: Vec<Box<[OnceLock<Arc<Rendered>>]>>,
    sink: Sink,
    config: Config,
    stopping: AtomicBool,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Served {
    pub(crate) fn now_ms(&self) -> u64 {
        let since_base = self.base.elapsed().as_nanos() as u64;
        let origin = self.origin_ns.load(Ordering::Acquire);
        since_base.saturating_sub(origin) / 1_000_000
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Resolves when the server is told to stop.
    pub(crate) async fn stopped(&self) {
        let mut rx = self.stop.subscribe();
        let _ = rx.wait_for(|s| *s).await;
    }

    fn begin_stop(&self) {
        self.stopping.store(true, Ordering::Release);
        self.stop.send_replace(true);
    }
}

/// A running scripted upstream. Stops (and flushes its record file) when dropped.
pub struct Server {
    addr: SocketAddr,
    name: String,
    keys: Vec<ServedKey>,
    served: Arc<Served>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("scenario", &self.name)
            .field("keys", &self.keys)
            .finish()
    }
}

impl Server {
    /// Serves a scenario's keys on a free loopback port, records kept in memory.
    pub fn start(sc: &Scenario) -> Result<Server, ServeError> {
        Server::with_config(sc, Config::default())
    }

    /// Serves a scenario's keys as `config` says.
    pub fn with_config(sc: &Scenario, config: Config) -> Result<Server, ServeError> {
        let world =
            scenario::world(sc, None).map_err(|e| ServeError(format!("{}: {e}", sc.name)))?;
        let mut keys = Vec::new();
        let mut by_secret = HashMap::new();
        let mut labels = Vec::new();
        for (i, k) in sc.providers.iter().flat_map(|p| &p.keys).enumerate() {
            let secret = k
                .secret
                .clone()
                .unwrap_or_else(|| derived_secret(sc.seed, &k.label));
            if let Some(other) = by_secret.insert(secret.clone(), i as u32) {
                return Err(ServeError(format!(
                    "keys `{}` and `{}` have the same secret: the server tells keys apart by their secret",
                    labels[other as usize], k.label
                )));
            }
            let label: Arc<str> = k.label.as_str().into();
            labels.push(label.clone());
            keys.push(ServedKey { label, secret });
        }
        let rendered = world
            .scripts
            .iter()
            .map(|s| {
                (0..s.steps.len() * FORMS)
                    .map(|_| OnceLock::new())
                    .collect()
            })
            .collect();
        let file = match &config.record {
            Some(p) => Some(std::fs::File::create(p).map_err(|e| {
                ServeError(format!("{}: cannot write the record: {e}", p.display()))
            })?),
            None => None,
        };
        let listener = listen(config.listen)
            .map_err(|e| ServeError(format!("cannot listen on {}: {e}", config.listen)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ServeError(format!("cannot listen on {}: {e}", config.listen)))?;
        let (stop, _) = tokio::sync::watch::channel(false);
        let served = Arc::new(Served {
            base: Instant::now(),
            origin_ns: std::sync::atomic::AtomicU64::new(0),
            by_secret,
            labels,
            cursors: world
                .scripts
                .iter()
                .map(|_| Mutex::new(Cursor::default()))
                .collect(),
            scripts: world.scripts,
            rendered,
            sink: Sink::new(config.keep_records, file),
            config,
            stopping: AtomicBool::new(false),
            stop,
        });
        // One single-threaded runtime per worker, each accepting on the same socket: a
        // connection lives on one thread, with no work stealing and no cross-thread wake-ups
        // (on two cores shared with a load generator, that is a third more requests a second).
        let mut threads = Vec::new();
        for i in 0..served.config.workers.max(1) {
            let l = listener
                .try_clone()
                .map_err(|e| ServeError(format!("cannot share the listener: {e}")))?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| ServeError(format!("cannot start the server's runtime: {e}")))?;
            let s = served.clone();
            let t = std::thread::Builder::new()
                .name(format!("keypool-serve-{i}"))
                .spawn(move || rt.block_on(http::run(l, s, i == 0)))
                .map_err(|e| ServeError(format!("cannot start the server's thread: {e}")))?;
            threads.push(t);
        }
        drop(listener);
        Ok(Server {
            addr,
            name: sc.name.clone(),
            keys,
            served,
            threads,
        })
    }

    /// A builder for a server without a scenario file.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The base URI, `http://127.0.0.1:PORT` (gateways that want `/v1` append it).
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The served keys, in scenario order.
    pub fn keys(&self) -> &[ServedKey] {
        &self.keys
    }

    /// A key's secret, by label.
    pub fn secret(&self, label: &str) -> Option<&str> {
        self.keys
            .iter()
            .find(|k| &*k.label == label)
            .map(|k| k.secret.as_str())
    }

    /// The requests answered so far (kept when [`Config::keep_records`] is on). A request
    /// whose response has been fully handed to the connection is in it.
    pub fn records(&self) -> Vec<Record> {
        self.served.sink.snapshot()
    }

    /// Milliseconds on the server's clock: the time scripts (`until_ms`) and records use.
    pub fn elapsed_ms(&self) -> u64 {
        self.served.now_ms()
    }

    /// Starts the scenario now: the clock goes back to 0, every script to its first step, and
    /// the records kept in memory are dropped (what a gateway did while starting up is not
    /// part of the scenario). Records already written to a file stay there.
    pub fn begin(&self) {
        let s = &self.served;
        s.origin_ns
            .store(s.base.elapsed().as_nanos() as u64, Ordering::Release);
        for c in &s.cursors {
            *c.lock().unwrap_or_else(|p| p.into_inner()) = Cursor::default();
        }
        s.sink.clear_memory();
    }

    /// The line `keypool serve` prints when it starts: the URLs and each key's label and secret.
    pub fn announcement(&self) -> serde_json::Value {
        serde_json::json!({
            "url": self.uri(),
            "base_url": format!("{}/v1", self.uri()),
            "scenario": self.name,
            "keys": self.keys.iter().map(|k| serde_json::json!({"label": &*k.label, "secret": k.secret})).collect::<Vec<_>>(),
        })
    }

    /// Stops: no new connection, responses in flight get the grace period, then the record
    /// file is flushed. Errors writing the record are returned.
    pub fn shutdown(mut self) -> std::io::Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> std::io::Result<()> {
        if self.threads.is_empty() {
            return Ok(());
        }
        self.served.begin_stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.served.sink.close()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A non-blocking listener with a backlog of 4,096 connections.
fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    s.set_reuse_address(true)?;
    s.bind(&addr.into())?;
    s.listen(4096)?;
    s.set_nonblocking(true)?;
    Ok(s.into())
}

/// A key's secret when the scenario gives none: derived from the seed and the label, so a
/// scenario serves the same secrets every time.
///
/// ```
/// let a = keypool::serve::derived_secret(7, "k1");
/// assert_eq!(a, keypool::serve::derived_secret(7, "k1"));
/// assert_ne!(a, keypool::serve::derived_secret(8, "k1"));
/// assert!(a.starts_with("sk-kp-") && a.len() == 38);
/// ```
pub fn derived_secret(seed: u64, label: &str) -> String {
    use rand::{RngCore, SeedableRng};
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in label.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(h);
    format!("sk-kp-{:016x}{:016x}", rng.next_u64(), rng.next_u64())
}

/// Builds a [`Server`] from keys and their scripts, without a scenario file.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    keys: Vec<KeyDef>,
    seed: u64,
    config: Config,
}

impl Builder {
    /// Adds a key and its script (template names, or [`Step`] objects); the last step repeats.
    pub fn key<S: Into<Step>>(mut self, label: &str, steps: impl IntoIterator<Item = S>) -> Self {
        self.keys.push(KeyDef {
            label: label.to_owned(),
            secret: None,
            priority: self.keys.len() as i64,
            group: None,
            script: steps.into_iter().map(Into::into).collect(),
        });
        self
    }

    /// Gives the last added key this secret (otherwise one is derived from the seed).
    pub fn secret(mut self, secret: &str) -> Self {
        if let Some(k) = self.keys.last_mut() {
            k.secret = Some(secret.to_owned());
        }
        self
    }

    /// The seed secrets are derived from.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The server's configuration.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The scenario these keys make (one provider, one request at 0).
    pub fn scenario(&self) -> Result<Scenario, ServeError> {
        let sc = Scenario {
            name: "builder".into(),
            description: String::new(),
            seed: self.seed,
            latency_ms: 0,
            providers: vec![ProviderDef {
                name: "upstream".into(),
                strategy: Default::default(),
                keys: self.keys.clone(),
                fallback_for: None,
            }],
            policy: None,
            workload: Workload {
                at_ms: vec![0],
                ..Workload::default()
            },
            expect: Default::default(),
            mutants: Default::default(),
        };
        // Through the file format's checks, so a bad template name reads as it would in a file.
        let text = serde_json::to_string(&sc).map_err(|e| ServeError(e.to_string()))?;
        scenario::parse(&text, "builder").map_err(|e| ServeError(e.to_string()))
    }

    /// Starts the server.
    pub fn start(self) -> Result<Server, ServeError> {
        let sc = self.scenario()?;
        Server::with_config(&sc, self.config)
    }
}
