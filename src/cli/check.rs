//! `keypool check RECORD --scenario FILE`: judge what a program did from `keypool serve`'s
//! record of it.

use keypool::invariants::Support;
use keypool::scenario;
use keypool::serve::judge::judge;
use keypool::serve::record::read_records;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The record `keypool serve --record` wrote.
    record: PathBuf,
    /// The scenario that was served.
    #[arg(long)]
    scenario: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(a: CheckArgs) -> i32 {
    let sc = match scenario::load(&a.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("keypool check: {e}");
            return 2;
        }
    };
    let world = match scenario::world(&sc, None) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("keypool check: {}: {e}", a.scenario.display());
            return 2;
        }
    };
    let text = match std::fs::read(&a.record) {
        Ok(b) => match String::from_utf8(b) {
            Ok(t) => t,
            Err(_) => {
                eprintln!(
                    "keypool check: {}: not UTF-8 text; a record is JSON Lines",
                    a.record.display()
                );
                return 2;
            }
        },
        Err(e) => {
            eprintln!("keypool check: {}: cannot read: {e}", a.record.display());
            return 2;
        }
    };
    let records = match read_records(&text) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keypool check: {}: {e}", a.record.display());
            return 2;
        }
    };
    let j = judge(&records, &world, None);
    let marker = |req: Option<u32>| {
        req.and_then(|r| j.markers.get(r as usize).copied().flatten())
            .map(|m| format!(" (kp-req-{m})"))
            .unwrap_or_default()
    };
    if a.json {
        let v = serde_json::json!({
            "scenario": sc.name,
            "calls": records.len(),
            "probes": j.probes,
            "unknown_keys": j.unknown_keys,
            "requests": j.markers.len(),
            "violations": j.violations.iter().map(|v| serde_json::json!({
                "invariant": v.invariant, "req": v.req, "marker": v.req.and_then(|r| j.markers.get(r as usize).copied().flatten()),
                "attempt": v.attempt, "t_ms": v.t, "message": v.message,
            })).collect::<Vec<_>>(),
            "support": j.support.iter().map(|(n, s)| (n.to_string(), support_word(s))).collect::<serde_json::Map<_, _>>(),
        });
        println!("{v}");
    } else {
        println!(
            "{}: {} calls ({} probes, {} with unknown keys), {} requests",
            sc.name,
            records.len(),
            j.probes,
            j.unknown_keys,
            j.markers.len()
        );
        for v in &j.violations {
            println!("  {v}{}", marker(v.req));
        }
        println!("what a record alone can show:");
        for (name, s) in &j.support {
            match s {
                Support::Full => println!("  {name:<28} checked"),
                Support::Partial(why) => println!("  {name:<28} in part: {why}"),
                Support::No(why) => println!("  {name:<28} not checkable: {why}"),
            }
        }
        println!(
            "{}",
            if j.violations.is_empty() {
                "no violation".to_owned()
            } else {
                format!("{} violation(s)", j.violations.len())
            }
        );
    }
    i32::from(!j.violations.is_empty())
}

fn support_word(s: &Support) -> serde_json::Value {
    match s {
        Support::Full => "checked".into(),
        Support::Partial(why) => serde_json::json!({"partial": why}),
        Support::No(why) => serde_json::json!({"not_checkable": why}),
    }
}
