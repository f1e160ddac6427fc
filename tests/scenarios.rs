//! `cargo test scenarios`: every file in `scenarios/` is a named test (`scenarios::<file>`)
//! that runs under its own policy with every expectation and invariant checked (the run is
//! repeated to compare traces byte for byte), plus one test per declared mutant
//! (`scenarios::<file>::mutant::<preset>`) that must break exactly what it declares.

use keypool::check;
use keypool::scenario;
use libtest_mimic::{Arguments, Failed, Trial};
use std::path::Path;

fn main() {
    let args = Arguments::from_args();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files = scenario::collect_files(&dir).expect("scenarios/ is readable");
    let mut trials = Vec::new();
    for f in files {
        // `scenarios/conform/x.json` is `scenarios::conform::x`.
        let rel = f.strip_prefix(&dir).unwrap_or(&f).with_extension("");
        let stem = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("::");
        let sc = match scenario::load(&f) {
            Ok(s) => s,
            Err(e) => {
                let msg = e.to_string();
                trials.push(Trial::test(format!("scenarios::{stem}"), move || {
                    Err(Failed::from(msg))
                }));
                continue;
            }
        };
        let sc2 = sc.clone();
        trials.push(Trial::test(format!("scenarios::{stem}"), move || {
            reference(&sc2)
        }));
        for name in sc.mutants.keys() {
            let (sc3, name3, file) = (sc.clone(), name.clone(), f.clone());
            trials.push(Trial::test(
                format!("scenarios::{stem}::mutant::{name}"),
                move || mutant(&sc3, &name3, &file),
            ));
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

fn reference(sc: &scenario::Scenario) -> Result<(), Failed> {
    let run = check::run(sc, None)?;
    if run.violations.is_empty() {
        return Ok(());
    }
    let lines: Vec<String> = run.violations.iter().map(|v| format!("  {v}")).collect();
    Err(format!(
        "{} violation(s) under {}:\n{}\n{}",
        lines.len(),
        run.preset,
        lines.join("\n"),
        check::report_text(&run)
    )
    .into())
}

fn mutant(sc: &scenario::Scenario, name: &str, file: &Path) -> Result<(), Failed> {
    let v = check::run_mutant(sc, name)?;
    if v.as_declared() {
        return Ok(());
    }
    let lines: Vec<String> = v.run.violations.iter().map(|x| format!("  {x}")).collect();
    Err(format!(
        "{}: mutant {name} broke {:?}, declared {:?}\n{}\n{}",
        file.display(),
        v.actual,
        v.expected,
        lines.join("\n"),
        check::report_text(&v.run)
    )
    .into())
}
