//! # keypool
//!
//! Deterministic simulation and fuzz testing for API-key pool failover, plus the reference
//! failover engine that passes it.
//!
//! - [`classify()`] reads an upstream reply and names its [`Class`] and retry-after.
//!
//! ```
//! use keypool::{classify, Class, Reply};
//! let v = classify(&Reply::new(402, r#"{"error":{"message":"Insufficient credits"}}"#));
//! assert_eq!(v.class, Class::QuotaExhausted);
//! ```

pub mod class;
pub mod classify;
pub mod classify_line;
pub mod reply;

pub use class::{ActionGroup, Class, Verdict};
pub use classify::classify;
pub use reply::{Reply, Transport};
