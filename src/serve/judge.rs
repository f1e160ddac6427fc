//! Judging what a program did from `keypool serve`'s record: each call classified as the reply
//! it was served (or as the transport failure it met), joined by request marker into a trace,
//! and checked with the invariants that such a trace supports.

use super::record::{End, Record};
use crate::class::{Class, Verdict};
use crate::dialect::Form;
use crate::engine::NoReply;
use crate::invariants::observed::{self, ClientEnd, ObservedCall};
use crate::invariants::{self, support, Context, Support, View, Violation};
use crate::sim::world::World;
use crate::trace::{Event, Names};
use crate::{classify, Reply};
use std::collections::BTreeMap;

/// A record judged.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The trace built from the calls (and the client's view, when given).
    pub trace: Vec<Event>,
    /// Names of keys and providers, for rendering the trace.
    pub names: Names,
    /// What broke.
    pub violations: Vec<Violation>,
    /// How far each invariant could be checked.
    pub support: Vec<(&'static str, Support)>,
    /// The marker (`kp-req-N`) of each request of the trace, by request id; `None` for a call
    /// that carried none (it counts as a request of its own).
    pub markers: Vec<Option<u64>>,
    /// Calls with a key the scenario does not have.
    pub unknown_keys: usize,
    /// Probe and listing calls (outside the scripts, not judged).
    pub probes: usize,
}

/// What a recorded call meant: the verdict on the reply it was served, or on how it failed.
pub fn verdict(r: &Record, world: &World) -> Option<(u32, Verdict)> {
    let label = r.key.as_deref()?;
    let k = world
        .providers
        .iter()
        .flat_map(|p| &p.keys)
        .position(|key| &*key.label == label)?;
    let no_reply = |why: NoReply| Verdict::new(Class::ServerError, why.reason());
    let v = match r.end {
        End::Reset => no_reply(NoReply::Reset),
        End::Cut => no_reply(NoReply::Cut),
        // The client stopped waiting, or the server stopped: no whole answer came.
        End::ClientGone | End::Shutdown => no_reply(NoReply::Timeout),
        End::Complete => match (r.step, r.dialect) {
            (Some(i), Some(d)) => {
                let step = world.scripts[k].steps.get(i as usize)?;
                let reply = step.reply_in(Form::new(d, r.stream));
                // Placeholders read relative to any one clock give the same waits; the record
                // keeps no wall-clock date, so the virtual one stands in.
                let stamped = crate::sim::clock::stamp(&reply, crate::sim::clock::VIRTUAL_EPOCH_S);
                classify(stamped.as_ref().unwrap_or(&reply))
            }
            // Answered outside the script (a malformed request): the status says it.
            _ => classify(&Reply::new(r.status.unwrap_or(0), "")),
        },
    };
    Some((k as u32, v))
}

/// Judges `records` against the world they were served from. With `clients` (by marker), the
/// client's view joins the calls; `world.policy` gives the budgets judged against.
pub fn judge(
    records: &[Record],
    world: &World,
    clients: Option<&BTreeMap<u64, ClientEnd>>,
) -> Judged {
    let mut markers: Vec<Option<u64>> = Vec::new();
    let mut ids: BTreeMap<u64, u32> = BTreeMap::new();
    // With the client's view, request ids are the client's (its markers, 0..n), in order.
    if let Some(c) = clients {
        for &m in c.keys() {
            ids.insert(m, markers.len() as u32);
            markers.push(Some(m));
        }
    } else {
        let mut seen: Vec<u64> = records
            .iter()
            .filter(|r| !r.probe)
            .filter_map(|r| r.request)
            .collect();
        seen.sort_unstable();
        seen.dedup();
        for m in seen {
            ids.insert(m, markers.len() as u32);
            markers.push(Some(m));
        }
    }
    let (mut calls, mut unknown_keys, mut probes) = (Vec::new(), 0, 0);
    for r in records {
        if r.probe {
            probes += 1;
            continue;
        }
        let Some((key, v)) = verdict(r, world) else {
            unknown_keys += usize::from(r.dialect.is_some());
            continue;
        };
        let req = match r.request.and_then(|m| ids.get(&m)) {
            Some(&id) => id,
            None => {
                markers.push(r.request);
                (markers.len() - 1) as u32
            }
        };
        calls.push(ObservedCall {
            req,
            key,
            sent: r.t_ms,
            ended: r.ended_ms,
            status: r.status.unwrap_or(0),
            verdict: v,
        });
    }
    let ends: Option<Vec<ClientEnd>> = clients.map(|c| {
        c.iter()
            .map(|(m, e)| ClientEnd { req: ids[m], ..*e })
            .collect()
    });
    let trace = observed::trace(&calls, ends.as_deref(), &world.providers);
    let view = if clients.is_some() {
        View::UpstreamAndClient
    } else {
        View::Upstream
    };
    let ctx = Context {
        providers: &world.providers,
        policy: &world.policy,
        view,
    };
    let mut violations = invariants::check(&trace, &ctx);
    violations.extend(secrets_in(records, world));
    let names = Names {
        providers: world.providers.iter().map(|p| p.name.clone()).collect(),
        keys: world
            .providers
            .iter()
            .flat_map(|p| p.keys.iter().map(|k| k.label.clone()))
            .collect(),
    };
    Judged {
        trace,
        names,
        violations,
        support: support(view),
        markers,
        unknown_keys,
        probes,
    }
}

/// Records that show a key's secret (the scenario's, or the one the server derived): they
/// must only ever name keys by label or fingerprint.
fn secrets_in(records: &[Record], world: &World) -> Vec<Violation> {
    let labels = world
        .providers
        .iter()
        .flat_map(|p| &p.keys)
        .map(|k| &*k.label);
    let secrets: Vec<String> = labels
        .zip(&world.secrets)
        .map(|(l, s)| {
            s.clone()
                .unwrap_or_else(|| super::derived_secret(world.seed, l))
        })
        .filter(|s| !s.is_empty())
        .collect();
    let mut out = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let line = r.to_line();
        if secrets.iter().any(|s| line.contains(s.as_str())) {
            out.push(Violation {
                invariant: "no_secret_in_output",
                req: None,
                attempt: None,
                t: Some(r.t_ms),
                message: format!("record line {} shows a key's secret", i + 1),
            });
        }
    }
    out
}
