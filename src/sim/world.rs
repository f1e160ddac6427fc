//! A world: the chain, the policy, one scripted upstream per key, and the arrivals.

use crate::chain::ProviderSpec;
use crate::dialect::Form;
use crate::policy::Policy;
use crate::reply::Reply;
use std::sync::Arc;

/// One scripted step of a key's upstream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScriptStep {
    /// The reply the simulator delivers: the template's native form (or the raw reply), with
    /// the body faults of `delivery` applied. Shared: a template's reply is built once per
    /// thread, not per world.
    pub reply: Arc<Reply>,
    /// How many times (default 1; the last step repeats forever).
    pub times: Option<u32>,
    /// Repeat until this virtual time, then go on.
    pub until_ms: Option<u64>,
    /// Latency of the reply: the delay before its headers (ms).
    pub latency_ms: u64,
    /// How the body is delivered: timing and transport faults.
    pub delivery: Delivery,
    /// The template behind `reply`, to write it in another dialect; `None` for a raw reply,
    /// which is sent as written.
    pub template: Option<Arc<TemplateRef>>,
    /// Some header holds a clock placeholder ([`crate::sim::clock`]): the reply is stamped
    /// with the time it is sent, and classified afresh each time.
    pub dated: bool,
}

/// A template step, as written: enough to render it in any dialect.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TemplateRef {
    /// The template's name.
    pub name: String,
    /// Its parameters.
    pub args: crate::sim::templates::TemplateArgs,
    /// A status that replaces the template's.
    pub status: Option<u16>,
    /// Headers added to (or replacing) the template's, names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl TemplateRef {
    /// The template written in `form`, with this step's status and headers.
    pub fn render(&self, form: Form) -> Option<Reply> {
        let mut r = crate::sim::render::render(&self.name, self.args, form)?;
        apply_overrides(&mut r, self.status, &self.headers);
        Some(r)
    }
}

impl ScriptStep {
    /// The reply a request of `form` gets: the template written in that form (a raw reply as
    /// written), with the body faults applied.
    ///
    /// ```
    /// use keypool::dialect::{Dialect, Form};
    /// let sc = keypool::scenario::parse(r#"{"name":"x","providers":[{"name":"p","keys":[
    ///   {"label":"k1","script":[{"template":"openai.rate_limit","retry_after":2}]}]}],
    ///   "workload":{"at_ms":[0]}}"#, "x.json").unwrap();
    /// let w = keypool::scenario::world(&sc, None).unwrap();
    /// let r = w.scripts[0].steps[0].reply_in(Form::new(Dialect::Anthropic, false));
    /// assert!(r.body.contains("rate_limit_error") && r.header_value("retry-after") == Some("2"));
    /// ```
    pub fn reply_in(&self, form: Form) -> Reply {
        match self.template.as_ref().and_then(|t| t.render(form)) {
            Some(r) => crate::sim::delivery::with_body_faults(r, &self.delivery),
            None => Reply::clone(&self.reply),
        }
    }
}

/// Sets a status and headers on a reply; a header replaces any of the same name.
pub(crate) fn apply_overrides(r: &mut Reply, status: Option<u16>, headers: &[(String, String)]) {
    if let Some(st) = status {
        r.status = st;
    }
    for (k, v) in headers {
        r.headers.retain(|(n, _)| n != k);
        r.headers.push((k.clone(), v.clone()));
    }
}

/// How a reply's body reaches the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Delivery {
    /// After the headers, this long before the first byte of the body (ms).
    pub first_byte_ms: u64,
    /// Between pieces of the body (ms).
    pub gap_ms: u64,
    /// A transport fault, if any.
    pub fault: Option<Fault>,
    /// This piece of the body is malformed (already applied to the step's reply).
    pub malformed_at: Option<u32>,
    /// The stream's last event is left out (already applied to the step's reply).
    pub no_terminator: bool,
}

/// A transport fault: the reply does not arrive whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The connection closes before any byte.
    Reset,
    /// The connection closes after this many pieces of the body.
    Cut {
        /// Pieces sent first.
        after: u32,
    },
    /// Nothing more is sent after this many pieces, until the client gives up.
    Stall {
        /// Pieces sent first.
        after: u32,
    },
}

/// A key's scripted upstream.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// Its steps, in order.
    pub steps: Vec<ScriptStep>,
}

/// Where a script is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    idx: usize,
    used: u32,
}

impl Script {
    /// The step that answers a call at time `now`, advancing `cur`.
    ///
    /// ```
    /// use keypool::sim::world::{Cursor, Script, ScriptStep};
    /// use keypool::Reply;
    /// let step = |s, times, until_ms| ScriptStep { reply: Reply::new(s, "").into(), times, until_ms, latency_ms: 1, ..Default::default() };
    /// let sc = Script { steps: vec![step(429, Some(2), None), step(401, None, Some(1000)), step(200, None, None)] };
    /// let mut c = Cursor::default();
    /// let got: Vec<u16> = [0, 0, 0, 999, 1000, 5000].iter().map(|t| sc.steps[sc.next(&mut c, *t)].reply.status).collect();
    /// assert_eq!(got, vec![429, 429, 401, 401, 200, 200]);
    /// ```
    pub fn next(&self, cur: &mut Cursor, now: u64) -> usize {
        let last = self.steps.len() - 1;
        loop {
            let s = &self.steps[cur.idx];
            if cur.idx == last {
                break;
            }
            let spent = match s.until_ms {
                Some(u) => now >= u,
                None => cur.used >= s.times.unwrap_or(1),
            };
            if !spent {
                break;
            }
            cur.idx += 1;
            cur.used = 0;
        }
        cur.used = cur.used.saturating_add(1);
        cur.idx
    }
}

/// Everything a simulation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct World {
    /// Scenario name.
    pub name: String,
    /// RNG seed.
    pub seed: u64,
    /// The chain.
    pub providers: Vec<ProviderSpec>,
    /// The policy.
    pub policy: Policy,
    /// One script per key, in global key order.
    pub scripts: Vec<Script>,
    /// Request arrival times, sorted.
    pub arrivals: Vec<u64>,
    /// The API and framing of every request; `None`: each step's reply as built (a template's
    /// own shape).
    pub form: Option<Form>,
    /// Secrets per key, in global key order (only to prove they never leak).
    pub secrets: Vec<Option<String>>,
}

impl World {
    /// With a request form set: the same world with every step's reply written in that form
    /// (what `keypool serve` sends such a request). `None` when no form is set.
    pub fn formed(&self) -> Option<World> {
        let form = self.form?;
        let mut w = self.clone();
        for script in &mut w.scripts {
            for step in &mut script.steps {
                step.reply = Arc::new(step.reply_in(form));
            }
        }
        w.form = None;
        Some(w)
    }
}
