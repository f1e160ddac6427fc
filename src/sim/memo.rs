//! What repeated simulations may share, held by whoever runs them: built template replies,
//! verdicts of shared replies, and built policies. An explicit object, not a per-thread global,
//! so a library call has no hidden state; a loop over many worlds (the explorer) keeps one per
//! thread, while `sim::run_with` and `scenario::world` use a fresh one per call.
//!
//! Everything memoised is a pure function of its key, so a memo changes time, never results.

use crate::class::Verdict;
use crate::policy::Policy;
use crate::reply::Reply;
use crate::sim::templates::{template, TemplateArgs};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Built replies, verdicts and policies, each bounded (past its bound a table starts over).
///
/// ```
/// use keypool::sim::{templates::TemplateArgs, Memo};
/// let mut memo = Memo::new();
/// let a = memo.template("openai.rate_limit", TemplateArgs::default()).unwrap();
/// let b = memo.template("openai.rate_limit", TemplateArgs::default()).unwrap();
/// assert!(std::sync::Arc::ptr_eq(&a, &b));
/// assert!(memo.template("no.such", TemplateArgs::default()).is_none());
/// ```
#[derive(Debug, Default)]
pub struct Memo {
    /// By template name, then by the wait's bits: a lookup needs no allocation.
    templates: BTreeMap<String, BTreeMap<Option<u64>, Arc<Reply>>>,
    /// By the reply's address, which cannot be reused while the memo holds the reply.
    verdicts: BTreeMap<usize, (Arc<Reply>, Verdict)>,
    /// By (preset, overrides as canonical JSON).
    policies: BTreeMap<(String, String), Policy>,
}

/// Waits are drawn from a few values; the bound only guards odd callers.
const TEMPLATE_WAITS: usize = 1024;
/// About as many distinct replies as the explorer draws.
const VERDICTS: usize = 32_768;
/// The explorer draws from about 5,400 override combinations.
const POLICIES: usize = 8192;

impl Memo {
    /// An empty memo.
    pub fn new() -> Self {
        Self::default()
    }

    /// [`template`] built once per memo and shared; `None` for an unknown name.
    pub fn template(&mut self, name: &str, a: TemplateArgs) -> Option<Arc<Reply>> {
        let wait = a.wait_s.map(f64::to_bits);
        if let Some(r) = self.templates.get(name).and_then(|w| w.get(&wait)) {
            return Some(r.clone());
        }
        let r = Arc::new(template(name, a)?);
        let waits = self.templates.entry(name.to_owned()).or_default();
        if waits.len() >= TEMPLATE_WAITS {
            waits.clear();
        }
        waits.insert(wait, r.clone());
        Some(r)
    }

    /// The verdict of a shared reply, classified once per memo.
    pub(crate) fn verdict(&mut self, reply: &Arc<Reply>) -> Verdict {
        let at = Arc::as_ptr(reply) as usize;
        if let Some(e) = self.verdicts.get(&at) {
            return e.1;
        }
        let v = crate::classify(reply);
        if self.verdicts.len() >= VERDICTS {
            self.verdicts.clear();
        }
        self.verdicts.insert(at, (reply.clone(), v));
        v
    }

    /// The policy memoised under `key`, or `build`'s, kept when it succeeds.
    pub(crate) fn policy<E>(
        &mut self,
        key: (String, String),
        build: impl FnOnce() -> Result<Policy, E>,
    ) -> Result<Policy, E> {
        if let Some(p) = self.policies.get(&key) {
            return Ok(p.clone());
        }
        let p = build()?;
        if self.policies.len() >= POLICIES {
            self.policies.clear();
        }
        self.policies.insert(key, p.clone());
        Ok(p)
    }
}
