//! The async driver: the retry loop a gateway would embed, running the sans-IO engine over an
//! [`Upstream`] and sleeping with `tokio::time`. Time is read from tokio's clock, so under a
//! paused runtime (`start_paused`) a run is virtual and deterministic, and gives the same
//! trace as the simulator for the same scenario.

#[cfg(feature = "http")]
pub mod http;

use crate::engine::{Engine, NoReply, Outcome, Step};
use crate::policy::Timeouts;
use crate::reply::Reply;
use crate::trace::{Event, KeyId, ReqId};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::time::{sleep_until, Duration, Instant};

/// One upstream call the driver asks for. Its `Debug` shows the key's fingerprint, never the
/// secret, so a logged call leaks nothing.
///
/// ```
/// use keypool::driver::Call;
/// let c = Call { req: 0, attempt: 1, provider: 0, key: 0, label: "k1".into(), secret: Some("sk-live-123456".into()), deadline: 1_000, timeouts: Default::default(), tag: None };
/// let shown = format!("{c:?}");
/// assert!(shown.contains("k1") && shown.contains("fp:") && !shown.contains("sk-live"));
/// ```
#[derive(Clone)]
pub struct Call {
    /// The request.
    pub req: ReqId,
    /// The attempt number within the request (1-based).
    pub attempt: u32,
    /// Provider index in the chain.
    pub provider: u32,
    /// Key id across the chain.
    pub key: KeyId,
    /// The key's label (safe to log).
    pub label: Arc<str>,
    /// The key's secret, to put in the request (never log it).
    pub secret: Option<Arc<str>>,
    /// The call must end by this virtual time (the request's deadline); the driver gives up
    /// then, whatever the upstream does.
    pub deadline: u64,
    /// How long the upstream may send nothing before the call is given up as timed out.
    pub timeouts: Timeouts,
    /// The host's own id for the request, when it gave one ([`Driver::execute_tagged`]).
    pub tag: Option<u64>,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call")
            .field("req", &self.req)
            .field("attempt", &self.attempt)
            .field("provider", &self.provider)
            .field("key", &self.key)
            .field("label", &self.label)
            .field(
                "secret",
                &self.secret.as_deref().map(crate::pool::fingerprint),
            )
            .finish()
    }
}

/// A call that got no reply: connection refused, reset, cut, timed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportError {
    /// What happened, as the engine records it.
    pub kind: NoReply,
    /// Details for logs (never a secret).
    pub detail: String,
}

impl TransportError {
    /// An error of `kind` with a detail.
    pub fn new(kind: NoReply, detail: impl Into<String>) -> Self {
        TransportError {
            kind,
            detail: detail.into(),
        }
    }
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.reason(), self.detail)
    }
}

impl std::error::Error for TransportError {}

/// Where the driver sends calls.
pub trait Upstream: Send + Sync + 'static {
    /// Performs one call.
    fn call(&self, call: Call) -> impl Future<Output = Result<Reply, TransportError>> + Send;
}

/// Runs requests through one shared engine.
///
/// ```
/// use keypool::driver::{Call, Driver, TransportError, Upstream};
/// use keypool::engine::{Engine, ProviderSpec};
/// use keypool::pool::{PoolKey, Strategy};
/// use keypool::{policy::Policy, Reply};
///
/// struct AlwaysOk;
/// impl Upstream for AlwaysOk {
///     async fn call(&self, _c: Call) -> Result<Reply, TransportError> {
///         Ok(Reply::new(200, r#"{"choices":[{"message":{"content":"hi"},"finish_reason":"stop"}]}"#))
///     }
/// }
/// let keys = vec![PoolKey { label: "k1".into(), priority: 0, group: None }];
/// let spec = ProviderSpec { name: "p".into(), keys, strategy: Strategy::FillFirst, fallback_for: None };
/// let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
/// let outcome = rt.block_on(async {
///     let d = Driver::new(Engine::new(vec![spec], Policy::default(), 1), AlwaysOk, vec![None]);
///     d.execute().await
/// });
/// assert!(outcome.success);
/// ```
pub struct Driver<U> {
    engine: Mutex<Engine>,
    upstream: U,
    origin: Instant,
    labels: Vec<Arc<str>>,
    secrets: Vec<Option<Arc<str>>>,
    timeouts: Timeouts,
}

impl<U: Upstream> Driver<U> {
    /// A driver whose virtual time 0 is now. `secrets` are by key id (may be shorter).
    pub fn new(engine: Engine, upstream: U, secrets: Vec<Option<String>>) -> Self {
        let labels = engine.names().keys.to_vec();
        let timeouts = engine.policy().timeouts;
        let secrets = secrets
            .into_iter()
            .map(|s| s.map(|s| Arc::from(s.as_str())))
            .collect();
        Driver {
            engine: Mutex::new(engine),
            upstream,
            origin: Instant::now(),
            labels,
            secrets,
            timeouts,
        }
    }

    /// Milliseconds since the driver was made, on tokio's clock.
    pub fn now(&self) -> u64 {
        Instant::now()
            .saturating_duration_since(self.origin)
            .as_millis() as u64
    }

    /// The instant of virtual time `ms`.
    pub fn instant(&self, ms: u64) -> Instant {
        instant_after(self.origin, ms)
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        // A panic elsewhere poisons the lock; the engine's state is still consistent per step.
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drives one request to its outcome.
    pub async fn execute(&self) -> Outcome {
        self.execute_tagged(None).await
    }

    /// Drives one request to its outcome; every call it makes carries `tag` (the host's own
    /// id for the request, such as the client request a gateway is serving).
    pub async fn execute_tagged(&self, tag: Option<u64>) -> Outcome {
        let mut step = {
            let now = self.now();
            self.engine().start(now)
        };
        loop {
            step = match step {
                Step::Done(o) => return o,
                Step::Wait { req, until } => {
                    sleep_until(self.instant(until)).await;
                    let now = self.now();
                    self.engine().on_wake(req, now)
                }
                Step::Send(s) => {
                    let call = Call {
                        req: s.req,
                        attempt: s.attempt,
                        provider: s.provider,
                        key: s.key_id,
                        label: self.labels[s.key_id as usize].clone(),
                        secret: self.secrets.get(s.key_id as usize).cloned().flatten(),
                        deadline: s.deadline,
                        timeouts: self.timeouts,
                        tag,
                    };
                    // The request's deadline bounds the call, whatever the upstream does.
                    let reply = match tokio::time::timeout_at(
                        self.instant(s.deadline),
                        self.upstream.call(call),
                    )
                    .await
                    {
                        Ok(r) => r,
                        Err(_) => Err(TransportError::new(NoReply::Timeout, "request deadline")),
                    };
                    let now = self.now();
                    let mut e = self.engine();
                    match reply {
                        Ok(r) => e.on_reply(s.req, now, &r),
                        Err(err) => e.on_no_reply(s.req, now, err.kind),
                    }
                }
            };
        }
    }

    /// The upstream calls go to.
    pub fn upstream(&self) -> &U {
        &self.upstream
    }

    /// The trace so far.
    pub fn trace(&self) -> Vec<Event> {
        self.engine().trace().to_vec()
    }

    /// The engine (to read names, pools, states).
    pub fn with_engine<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> T {
        f(&mut self.engine())
    }
}

/// `origin` plus `ms`, or about thirty years on when that is past what an `Instant` can hold
/// (a wait of u64::MAX ms is "never", not a panic).
///
/// ```
/// let origin = tokio::time::Instant::now();
/// let far = keypool::driver::instant_after(origin, u64::MAX);
/// assert!(far > origin);
/// ```
pub fn instant_after(origin: Instant, ms: u64) -> Instant {
    const FAR_MS: u64 = 30 * 365 * 86_400_000;
    origin
        .checked_add(Duration::from_millis(ms))
        .unwrap_or_else(|| origin + Duration::from_millis(FAR_MS))
}
