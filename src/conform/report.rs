//! The conformance report: one row per scenario, one column per invariant (pass, violated in how
//! many trials, not checkable, or the gateway's own error), every violation with its evidence;
//! as Markdown and as JSON.

use super::run::Trial;
use crate::invariants::{Support, INVARIANTS};
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write;

/// One scenario's trials.
#[derive(Debug, Clone)]
pub struct ScenarioOutcome {
    /// The scenario's name.
    pub name: String,
    /// Its file.
    pub file: String,
    /// What each trial found.
    pub trials: Vec<Trial>,
    /// Why it was not run, when it was not.
    pub skipped: Option<String>,
}

/// A whole conformance run.
#[derive(Debug, Clone)]
pub struct Report {
    /// The gateway, with its adapter options.
    pub gateway: String,
    /// Its version line.
    pub version: String,
    /// Whether it routes at random (one trial proves little).
    pub random: bool,
    /// The preset each scenario was also simulated under (`--against-preset`).
    pub against: Option<String>,
    /// The scenarios, in run order.
    pub scenarios: Vec<ScenarioOutcome>,
}

/// One cell of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// Held in every trial.
    Pass,
    /// Broken in this many of these many trials.
    Violated(usize, usize),
    /// Not checkable from outside.
    NotCheckable,
    /// The gateway could not be run.
    Error,
    /// The scenario was not run.
    Skipped,
}

impl Cell {
    fn text(self) -> String {
        match self {
            Cell::Pass => "pass".into(),
            Cell::Violated(1, 1) => "**violated**".into(),
            Cell::Violated(n, of) => format!("**{n}/{of}**"),
            Cell::NotCheckable => "n/c".into(),
            Cell::Error => "error".into(),
            Cell::Skipped => "skipped".into(),
        }
    }

    fn word(self) -> serde_json::Value {
        match self {
            Cell::Pass => "pass".into(),
            Cell::Violated(n, of) => json!({"violated": n, "trials": of}),
            Cell::NotCheckable => "not_checkable".into(),
            Cell::Error => "error".into(),
            Cell::Skipped => "skipped".into(),
        }
    }
}

/// The columns: every invariant, then the scenario's expectations.
pub fn columns() -> Vec<&'static str> {
    INVARIANTS.iter().copied().chain(["expect"]).collect()
}

impl Report {
    /// The cell of scenario `s` for `column`.
    pub fn cell(&self, s: &ScenarioOutcome, column: &str) -> Cell {
        if s.skipped.is_some() {
            return Cell::Skipped;
        }
        if s.trials.iter().any(|t| t.error.is_some()) {
            return Cell::Error;
        }
        let support = super::run::support();
        if let Some((_, Support::No(_))) = support.iter().find(|x| x.0 == column) {
            return Cell::NotCheckable;
        }
        let n = s
            .trials
            .iter()
            .filter(|t| t.violations.iter().any(|v| v.invariant == column))
            .count();
        if n == 0 {
            Cell::Pass
        } else {
            Cell::Violated(n, s.trials.len())
        }
    }

    /// 0 when every scenario passed, 1 when something was violated, 2 when a gateway could not
    /// be run.
    pub fn exit_code(&self) -> i32 {
        let cells = self
            .scenarios
            .iter()
            .flat_map(|s| columns().into_iter().map(move |c| self.cell(s, c)));
        let mut code = 0;
        for c in cells {
            match c {
                Cell::Error => return 2,
                Cell::Violated(..) => code = 1,
                _ => {}
            }
        }
        code
    }

    /// One line: how many scenarios passed, broke something, or could not run.
    pub fn summary(&self) -> String {
        let mut ok = 0;
        let mut broke = 0;
        let mut err = 0;
        let mut skipped = 0;
        let mut found: BTreeMap<&str, usize> = BTreeMap::new();
        for s in &self.scenarios {
            if s.skipped.is_some() {
                skipped += 1;
                continue;
            }
            let cells: Vec<(&str, Cell)> = columns()
                .into_iter()
                .map(|c| (c, self.cell(s, c)))
                .collect();
            if cells.iter().any(|c| c.1 == Cell::Error) {
                err += 1;
            } else if cells.iter().any(|c| matches!(c.1, Cell::Violated(..))) {
                broke += 1;
                for (c, _) in cells.iter().filter(|c| matches!(c.1, Cell::Violated(..))) {
                    *found.entry(c).or_default() += 1;
                }
            } else {
                ok += 1;
            }
        }
        let mut line = format!(
            "{}: {} scenario(s): {ok} pass, {broke} violate something, {err} could not run",
            self.gateway,
            self.scenarios.len()
        );
        if skipped > 0 {
            let _ = write!(line, ", {skipped} skipped");
        }
        if !found.is_empty() {
            let list: Vec<String> = found.iter().map(|(k, n)| format!("{k} ({n})")).collect();
            let _ = write!(line, "; violated: {}", list.join(", "));
        }
        line
    }

    /// The report in Markdown.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        let trials = self.scenarios.first().map_or(1, |x| x.trials.len());
        let _ = writeln!(
            s,
            "# keypool conform: {} ({})\n",
            self.gateway, self.version
        );
        let _ = writeln!(s, "{}\n", self.summary());
        if self.random && trials < 2 {
            let _ = writeln!(s, "This gateway picks keys at random: one trial per scenario shows one draw; `--trials N` counts how often each violation happens.\n");
        } else if trials > 1 {
            let _ = writeln!(s, "{trials} trials per scenario, a fresh gateway each; a violated cell says in how many.\n");
        }
        let cols = columns();
        let _ = writeln!(s, "| scenario | {} |", cols.join(" | "));
        let _ = writeln!(s, "|---|{}", "---|".repeat(cols.len()));
        for sc in &self.scenarios {
            let cells: Vec<String> = cols.iter().map(|c| self.cell(sc, c).text()).collect();
            let _ = writeln!(s, "| {} | {} |", sc.name, cells.join(" | "));
        }
        if let Some(p) = &self.against {
            let _ = writeln!(s, "\n## Against the `{p}` preset\n");
            let _ = writeln!(s, "The same scenario simulated under `{p}`: request by request, keys in order, outcome, and waits (within {} ms or 25 %).\n", super::diff::WAIT_TOLERANCE_MS);
            let _ = writeln!(s, "| scenario | trials that agree | first difference |");
            let _ = writeln!(s, "|---|---|---|");
            for sc in &self.scenarios {
                let judged: Vec<&Vec<String>> = sc
                    .trials
                    .iter()
                    .filter_map(|t| t.differences.as_ref())
                    .collect();
                if judged.is_empty() {
                    continue;
                }
                let agree = judged.iter().filter(|d| d.is_empty()).count();
                let first = judged
                    .iter()
                    .find(|d| !d.is_empty())
                    .map(|d| d.join("; "))
                    .unwrap_or_default();
                let _ = writeln!(s, "| {} | {agree}/{} | {first} |", sc.name, judged.len());
            }
        }
        let _ = writeln!(s, "\n`n/c`: not checkable from outside the gateway (see docs/invariants.md); `pass` on a partly checkable invariant covers the checkable part.\n");
        for sc in &self.scenarios {
            if let Some(why) = &sc.skipped {
                let _ = writeln!(s, "## {}: skipped\n\n{why}\n", sc.name);
            }
            for (i, t) in sc.trials.iter().enumerate() {
                let head = if sc.trials.len() > 1 {
                    format!("{} (trial {})", sc.name, i + 1)
                } else {
                    sc.name.clone()
                };
                if let Some(e) = &t.error {
                    let _ = writeln!(s, "## {head}: the gateway could not be run\n\n{}\n", e.what);
                    if !e.log_tail.is_empty() {
                        let _ = writeln!(s, "```\n{}\n```\n", e.log_tail);
                    }
                    continue;
                }
                if t.violations.is_empty() {
                    continue;
                }
                // Only the first trial that shows a violation is written out in full.
                let first = sc.trials.iter().position(|x| !x.violations.is_empty()) == Some(i);
                if !first {
                    continue;
                }
                let _ = writeln!(s, "## {head}\n");
                if let Some(svg) = &t.timeline {
                    let _ = writeln!(s, "Timeline: [{svg}]({svg})\n");
                }
                // By request: its evidence once, then what broke (repeats of one invariant
                // counted, not listed).
                let mut by_req: BTreeMap<Option<u32>, Vec<&crate::invariants::Violation>> =
                    BTreeMap::new();
                for v in &t.violations {
                    by_req.entry(v.req).or_default().push(v);
                }
                for (req, vs) in &by_req {
                    match req {
                        Some(r) => {
                            let m = t.markers.get(*r as usize).copied().flatten();
                            let ev = t.evidence.get(r).map(String::as_str).unwrap_or("");
                            let mark = m.map(|m| format!(" (kp-req-{m})")).unwrap_or_default();
                            let _ = writeln!(s, "- request {r}{mark}: {ev}");
                        }
                        None => {
                            let _ = writeln!(s, "- the whole run:");
                        }
                    }
                    let mut seen: Vec<(&str, usize)> = Vec::new();
                    for v in vs {
                        match seen.iter_mut().find(|x| x.0 == v.invariant) {
                            Some(x) => x.1 += 1,
                            None => {
                                seen.push((v.invariant, 1));
                                let _ = writeln!(s, "  - `{}`: {}", v.invariant, v.message);
                            }
                        }
                    }
                    for (inv, n) in seen.iter().filter(|x| x.1 > 1) {
                        let _ = writeln!(s, "  - `{inv}`: {} more like it", n - 1);
                    }
                }
                if !t.unchecked.is_empty() {
                    let list: Vec<&str> = t.unchecked.iter().copied().collect();
                    let _ = writeln!(
                        s,
                        "- not checkable from outside: expectations on {}",
                        list.join(", ")
                    );
                }
                let _ = writeln!(s);
            }
        }
        s
    }

    /// The report as JSON.
    pub fn json(&self) -> serde_json::Value {
        let scenarios: Vec<serde_json::Value> = self
            .scenarios
            .iter()
            .map(|sc| {
                let cells: serde_json::Map<String, serde_json::Value> =
                    columns().into_iter().map(|c| (c.to_owned(), self.cell(sc, c).word())).collect();
                let trials: Vec<serde_json::Value> = sc
                    .trials
                    .iter()
                    .map(|t| {
                        json!({
                            "error": t.error.as_ref().map(|e| json!({"what": e.what, "log_tail": e.log_tail})),
                            "ready_ms": t.ready.as_millis() as u64,
                            "calls": t.records.iter().filter(|r| !r.probe).count(),
                            "violations": t.violations.iter().map(|v| json!({
                                "invariant": v.invariant,
                                "request": v.req,
                                "marker": v.req.and_then(|r| t.markers.get(r as usize).copied().flatten()),
                                "t_ms": v.t,
                                "message": v.message,
                                "evidence": v.req.and_then(|r| t.evidence.get(&r)),
                            })).collect::<Vec<_>>(),
                            "not_checked": t.unchecked.iter().collect::<Vec<_>>(),
                            "differences": t.differences,
                            "timeline": t.timeline,
                        })
                    })
                    .collect();
                json!({"scenario": sc.name, "file": sc.file, "skipped": sc.skipped, "cells": cells, "trials": trials})
            })
            .collect();
        json!({
            "gateway": self.gateway,
            "version": self.version,
            "random": self.random,
            "against_preset": self.against,
            "summary": self.summary(),
            "scenarios": scenarios,
        })
    }
}

/// Several gateways side by side: per scenario, what each broke (`pass` when nothing).
pub fn comparison(reports: &[Report]) -> String {
    let mut s = String::new();
    let names: Vec<String> = reports
        .iter()
        .map(|r| format!("{} ({})", r.gateway, r.version))
        .collect();
    let _ = writeln!(s, "| scenario | {} |", names.join(" | "));
    let _ = writeln!(s, "|---|{}", "---|".repeat(reports.len()));
    let Some(first) = reports.first() else {
        return s;
    };
    for (i, sc) in first.scenarios.iter().enumerate() {
        let cells: Vec<String> = reports
            .iter()
            .map(|r| {
                let Some(x) = r.scenarios.get(i) else {
                    return String::new();
                };
                let broken: Vec<String> = columns()
                    .into_iter()
                    .filter_map(|c| match r.cell(x, c) {
                        Cell::Violated(n, of) if of > 1 => Some(format!("{c} ({n}/{of})")),
                        Cell::Violated(..) => Some(c.to_owned()),
                        _ => None,
                    })
                    .collect();
                match r.cell(x, "terminates") {
                    Cell::Error => "could not run".into(),
                    Cell::Skipped => "skipped".into(),
                    _ if broken.is_empty() => "pass".into(),
                    _ => broken.join(", "),
                }
            })
            .collect();
        let _ = writeln!(s, "| {} | {} |", sc.name, cells.join(" | "));
    }
    s
}
