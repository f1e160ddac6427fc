//! The chain of providers a request may walk: what the engine is given, and what the
//! invariants judge a trace against. Below both, so neither depends on the other.

use crate::class::Class;
use crate::pool::{PoolKey, Strategy};

/// One provider of the chain, as the engine is given it.
///
/// ```
/// use keypool::chain::ProviderSpec;
/// use keypool::pool::{PoolKey, Strategy};
/// let p = ProviderSpec { name: "openai".into(), strategy: Strategy::FillFirst, fallback_for: None,
///     keys: vec![PoolKey { label: "k1".into(), priority: 0, group: None }] };
/// assert_eq!(p.keys.len(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSpec {
    /// Name shown in traces.
    pub name: String,
    /// Its keys.
    pub keys: Vec<PoolKey>,
    /// How its keys are chosen.
    pub strategy: Strategy,
    /// `None`: a generic fallback (or the primary). `Some(classes)`: used only when the
    /// request stopped on one of these classes (a content-policy or bigger-context fallback).
    pub fallback_for: Option<Vec<Class>>,
}
