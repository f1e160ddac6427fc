//! # keypool
//!
//! Deterministic simulation and fuzz testing for API-key pool failover, plus the reference
//! failover engine that passes it.
//!
//! - [`classify()`] reads an upstream reply and names its [`Class`] and retry-after.
//! - [`engine::Engine`] is the sans-IO failover state machine; [`policy::Policy`] holds every
//!   default; [`pool::Pool`] the keys and their states.
//! - [`sim`] runs the engine against scripted upstreams on a virtual clock;
//!   [`invariants`] checks each trace; [`scenario`] reads scenario files; [`check`] runs a
//!   scenario and judges it.
//!
//! ```
//! use keypool::{classify, Class, Reply};
//! let v = classify(&Reply::new(402, r#"{"error":{"message":"Insufficient credits"}}"#));
//! assert_eq!(v.class, Class::QuotaExhausted);
//! ```

pub mod chain;
pub mod check;
pub mod class;
pub mod classify;
pub mod classify_line;
#[cfg(feature = "http")]
pub mod conform;
pub mod dialect;
#[cfg(feature = "tokio")]
pub mod driver;
pub mod engine;
pub mod explore;
#[cfg(feature = "http")]
pub mod front;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod invariants;
pub mod policy;
pub mod pool;
pub mod reply;
pub mod scenario;
#[cfg(feature = "http")]
pub mod serve;
pub mod sim;
pub mod timeline;
pub mod trace;

pub use class::{ActionGroup, Class, Verdict};
pub use classify::classify;
pub use reply::{Reply, Transport};
