//! `keypool presets`, `keypool schema`, `keypool templates`.

use keypool::policy::presets as all_presets;
use keypool::scenario::Scenario;
use keypool::sim::templates::TEMPLATES;

pub fn presets() -> i32 {
    let width = all_presets()
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(10);
    use keypool::policy::PresetKind;
    for (kind, title) in [
        (PresetKind::Reference, "reference policy"),
        (
            PresetKind::Gateway,
            "gateways, as measured (docs/gateways.md)",
        ),
        (
            PresetKind::Mutant,
            "bug-catalogue mutants (docs/bug-catalogue.md)",
        ),
    ] {
        println!("# {title}");
        for p in all_presets().iter().filter(|p| p.kind == kind) {
            println!("{:width$}  {}", p.name, p.summary);
            println!("{:width$}  source: {}", "", p.source);
        }
    }
    0
}

pub fn schema() -> i32 {
    let schema = schemars::schema_for!(Scenario);
    println!(
        "{}",
        serde_json::to_string_pretty(&schema).expect("a schema serialises")
    );
    0
}

pub fn templates() -> i32 {
    let width = TEMPLATES.iter().map(|t| t.0.len()).max().unwrap_or(10);
    for (name, what) in TEMPLATES {
        println!("{name:width$}  {what}");
    }
    0
}
