//! Scenario files: strict parsing with locations, validation, and building the world the
//! simulator runs.

mod format;

pub use format::*;

use crate::chain::ProviderSpec;
use crate::invariants::INVARIANTS;
use crate::policy::{preset, presets, Policy};
use crate::pool::PoolKey;
use crate::reply::{Reply, Transport};
use crate::sim::delivery::with_body_faults;
use crate::sim::templates::TemplateArgs;
use crate::sim::world::{apply_overrides, Delivery, Fault, Script, ScriptStep, TemplateRef, World};
use crate::sim::Memo;
use serde_json::Value;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A scenario that could not be read: where, and why.
///
/// ```
/// let e = keypool::scenario::parse("{\"name\": 3}", "bad.json").unwrap_err();
/// assert!(e.to_string().starts_with("bad.json:1:"), "{e}");
/// assert!(e.to_string().contains("name"), "{e}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// The field path (`providers[0].keys[1].script[2].template`), when known.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(p) = &self.field {
            write!(f, "field `{p}`: ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// Reads and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| ScenarioError {
        file: file.clone(),
        line: None,
        column: None,
        field: None,
        message: format!("cannot read: {e}"),
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
            return Err(ScenarioError {
                file,
                line: Some(line),
                column: None,
                field: None,
                message: format!(
                    "not UTF-8 text (invalid byte at offset {at}); a scenario is a JSON file"
                ),
            });
        }
    };
    parse(&text, &file)
}

/// Parses and validates scenario text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Scenario, ScenarioError> {
    let err = |line, column, field: Option<String>, message: String| ScenarioError {
        file: file.to_owned(),
        line,
        column,
        field,
        message,
    };
    if text.trim().is_empty() {
        return Err(err(
            None,
            None,
            None,
            "empty file; a scenario is a JSON object with `name`, `providers` and `workload`"
                .into(),
        ));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let sc: Scenario = match serde_path_to_error::deserialize(&mut de) {
        Ok(s) => s,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let msg = strip_location(&inner.to_string());
            let field = (path != "." && !path.is_empty()).then_some(path);
            let (line, col) = if inner.line() > 0 {
                (Some(inner.line()), Some(inner.column()))
            } else {
                (None, None)
            };
            let msg = if inner.is_eof() {
                format!("{msg} (the file is truncated?)")
            } else {
                msg
            };
            return Err(err(line, col, field, msg));
        }
    };
    if let Err(e) = de.end() {
        return Err(err(
            Some(e.line()),
            Some(e.column()),
            None,
            strip_location(&e.to_string()),
        ));
    }
    validate(&sc).map_err(|(field, message)| {
        let line = find_line(text, &field, &message);
        err(line, None, Some(field), message)
    })?;
    Ok(sc)
}

fn strip_location(m: &str) -> String {
    match m.rfind(" at line ") {
        Some(i) => m[..i].to_owned(),
        None => m.to_owned(),
    }
}

/// Best effort: the line of the first quoted value named in the message.
fn find_line(text: &str, _field: &str, message: &str) -> Option<usize> {
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('`')?;
    let needle = format!("\"{}\"", &message[start..end]);
    let at = text.find(&needle)?;
    Some(text[..at].matches('\n').count() + 1)
}

type Invalid = (String, String);

fn validate(sc: &Scenario) -> Result<(), Invalid> {
    let mut memo = Memo::new();
    if sc.name.trim().is_empty() {
        return Err(("name".into(), "must not be empty".into()));
    }
    if sc.providers.is_empty() {
        return Err(("providers".into(), "needs at least one provider".into()));
    }
    if sc.providers[0].fallback_for.is_some() {
        return Err((
            "providers[0].fallback_for".into(),
            "the primary provider cannot be a class-specific fallback".into(),
        ));
    }
    let mut labels: std::collections::HashSet<&str> = std::collections::HashSet::new();
    let mut secrets: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    let mut pnames: std::collections::HashSet<&str> = std::collections::HashSet::new();
    for (pi, p) in sc.providers.iter().enumerate() {
        if pnames.contains(&p.name.as_str()) {
            return Err((
                format!("providers[{pi}].name"),
                format!("provider `{}` is named twice", p.name),
            ));
        }
        pnames.insert(&p.name);
        if p.keys.is_empty() {
            return Err((
                format!("providers[{pi}].keys"),
                "needs at least one key".into(),
            ));
        }
        for (ki, k) in p.keys.iter().enumerate() {
            let at = format!("providers[{pi}].keys[{ki}]");
            if k.label.trim().is_empty() {
                return Err((format!("{at}.label"), "must not be empty".into()));
            }
            if labels.contains(&k.label.as_str()) {
                return Err((
                    format!("{at}.label"),
                    format!("key label `{}` is used twice", k.label),
                ));
            }
            labels.insert(&k.label);
            // The same secret twice is the same account paid twice, not two keys: refuse it,
            // naming the labels (never the secret).
            if let Some(secret) = k.secret.as_deref() {
                if let Some(first) = secrets.insert(secret, &k.label) {
                    return Err((
                        format!("{at}.secret"),
                        format!("the same secret as key `{first}`: one key, listed twice"),
                    ));
                }
            }
            for (si, s) in k.script.iter().enumerate() {
                build_step(s, sc.latency_ms, &mut memo)
                    .map_err(|(f, m)| (format!("{at}.script[{si}]{f}"), m))?;
            }
        }
    }
    let n = workload_arrivals(&sc.workload)
        .map_err(|(f, m)| (format!("workload{f}"), m))?
        .len() as u32;
    build_policy_in(sc.policy.as_ref(), None, &mut memo)
        .map_err(|(f, m)| (format!("policy{f}"), m))?;
    for (i, r) in sc.expect.requests.iter().enumerate() {
        let at = format!("expect.requests[{i}]");
        match r.request {
            None => {
                return Err((
                    format!("{at}.request"),
                    "missing: which request (0-based)".into(),
                ))
            }
            Some(q) if q >= n => {
                return Err((
                    format!("{at}.request"),
                    format!("request {q} does not exist: the workload has {n} request(s)"),
                ))
            }
            _ => {}
        }
        check_labels(r, &labels, &sc.providers).map_err(|(f, m)| (format!("{at}{f}"), m))?;
    }
    if let Some(r) = &sc.expect.every_request {
        if r.request.is_some() {
            return Err((
                "expect.every_request.request".into(),
                "not allowed here: this applies to every request".into(),
            ));
        }
        check_labels(r, &labels, &sc.providers)
            .map_err(|(f, m)| (format!("expect.every_request{f}"), m))?;
    }
    for k in sc.expect.keys.keys() {
        if !labels.contains(&k.as_str()) {
            return Err((
                format!("expect.keys.{k}"),
                format!("no key is labelled `{k}`"),
            ));
        }
    }
    for (i, inv) in sc.expect.skip_invariants.iter().enumerate() {
        if !INVARIANTS.contains(&inv.as_str()) {
            return Err((
                format!("expect.skip_invariants[{i}]"),
                format!(
                    "unknown invariant `{inv}`; known: {}",
                    INVARIANTS.join(", ")
                ),
            ));
        }
    }
    for (i, v) in sc.expect.violates.iter().enumerate() {
        if !INVARIANTS.contains(&v.as_str()) {
            return Err((
                format!("expect.violates[{i}]"),
                format!("unknown invariant `{v}`; known: {}", INVARIANTS.join(", ")),
            ));
        }
    }
    for (name, m) in &sc.mutants {
        if preset(name).is_none() && !is_policy_file(name) {
            return Err((
                format!("mutants.{name}"),
                format!("unknown preset `{name}` (see `keypool presets`)"),
            ));
        }
        for (i, v) in m.violates.iter().enumerate() {
            if v != "expect" && !INVARIANTS.contains(&v.as_str()) {
                return Err((
                    format!("mutants.{name}.violates[{i}]"),
                    format!("unknown invariant `{v}`; use an invariant name or `expect`"),
                ));
            }
        }
        if m.violates.is_empty() {
            return Err((
                format!("mutants.{name}.violates"),
                "must name at least one invariant (or `expect`)".into(),
            ));
        }
    }
    Ok(())
}

fn check_labels(
    r: &RequestExpect,
    labels: &std::collections::HashSet<&str>,
    providers: &[ProviderDef],
) -> Result<(), Invalid> {
    for (f, list) in [(".keys", &r.keys), (".key_set", &r.key_set)] {
        for k in list.iter().flatten() {
            if !labels.contains(&k.as_str()) {
                return Err((f.into(), format!("no key is labelled `{k}`")));
            }
        }
    }
    if let Some(p) = &r.provider {
        if !providers.iter().any(|x| &x.name == p) {
            // (Providers are few; keys and requests are what grow.)
            return Err((".provider".into(), format!("no provider is named `{p}`")));
        }
    }
    Ok(())
}

/// The arrival times of a workload, sorted.
pub fn workload_arrivals(w: &Workload) -> Result<Vec<u64>, Invalid> {
    match (w.at_ms.is_empty(), w.count) {
        (false, None) => {
            if w.every_ms.is_some() || w.start_ms.is_some() {
                return Err((
                    ".at_ms".into(),
                    "give either `at_ms` or `count` with `every_ms`, not both".into(),
                ));
            }
            let mut v = w.at_ms.clone();
            v.sort_unstable();
            Ok(v)
        }
        (true, Some(n)) => {
            if n == 0 || n > 1_000_000 {
                return Err((
                    ".count".into(),
                    format!("{n} is out of range (1 to 1000000)"),
                ));
            }
            let every = w.every_ms.ok_or((
                ".every_ms".into(),
                "missing: `count` needs `every_ms` (0 for all at once)".into(),
            ))?;
            let start = w.start_ms.unwrap_or(0);
            Ok((0..n as u64)
                .map(|i| start.saturating_add(i.saturating_mul(every)))
                .collect())
        }
        (false, Some(_)) => Err((
            ".at_ms".into(),
            "give either `at_ms` or `count`, not both".into(),
        )),
        (true, None) => Err((
            "".into(),
            "no requests: give `at_ms` or `count` with `every_ms`".into(),
        )),
    }
}

/// Builds the policy: the preset (or `preset_override`), then the scenario's overrides.
pub fn build_policy(
    policy: Option<&Value>,
    preset_override: Option<&str>,
) -> Result<Policy, Invalid> {
    build_policy_in(policy, preset_override, &mut Memo::new())
}

/// [`build_policy`], kept in `memo` by (preset, overrides): the explorer draws worlds from a
/// handful of knobs, and the JSON round trip costs more than a whole run.
fn build_policy_in(
    policy: Option<&Value>,
    preset_override: Option<&str>,
    memo: &mut Memo,
) -> Result<Policy, Invalid> {
    let mut overrides = match policy {
        None => serde_json::Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(other) => {
            return Err((
                "".into(),
                format!("expected an object like {{\"preset\": \"reference\"}}, found {other}"),
            ))
        }
    };
    let named = match overrides.remove("preset") {
        None => "reference".to_owned(),
        Some(Value::String(s)) => s,
        Some(other) => {
            return Err((
                ".preset".into(),
                format!("expected a preset name, found {other}"),
            ))
        }
    };
    let name = preset_override.unwrap_or(&named);
    // `serde_json::Map` is ordered, so the key is canonical.
    let key = (
        name.to_owned(),
        serde_json::to_string(&overrides).expect("a JSON map serialises"),
    );
    memo.policy(key, || merged_policy(name, overrides))
}

/// A policy by preset name, or from a policy file: a path ending in `.json` whose text is an
/// object like a scenario's `policy`, `{"preset": NAME, ...overrides}` (the preset a name,
/// not another file). Everywhere a preset name is taken (`--policy`, `--against-preset`, a
/// scenario's `mutants`), a file is taken too, so a gateway's own policy written down as a
/// preset plus overrides can be run, explored and declared as a mutant.
///
/// ```
/// let p = keypool::scenario::named_policy("litellm").unwrap();
/// assert_eq!(p.max_retries, 2);
/// let dir = std::env::temp_dir().join(format!("kp-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let file = dir.join("mine.json");
/// std::fs::write(&file, r#"{"preset": "litellm", "max_retries": 5}"#).unwrap();
/// let mine = keypool::scenario::named_policy(file.to_str().unwrap()).unwrap();
/// assert_eq!(mine.max_retries, 5);
/// assert!(keypool::scenario::named_policy("nope").is_err());
/// ```
pub fn named_policy(name: &str) -> Result<Policy, String> {
    if let Some(p) = preset(name) {
        return Ok(p);
    }
    if !is_policy_file(name) {
        let all: Vec<&str> = presets().iter().map(|p| p.name).collect();
        return Err(format!(
            "unknown preset `{name}` (a policy file's name ends in .json); known: {}",
            all.join(", ")
        ));
    }
    let text = std::fs::read_to_string(name).map_err(|e| format!("{name}: {e}"))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{name}: {e}"))?;
    let mut overrides = match v {
        Value::Object(m) => m,
        other => {
            return Err(format!(
                "{name}: expected an object like {{\"preset\": \"reference\"}}, found {other}"
            ))
        }
    };
    let base = match overrides.remove("preset") {
        None => "reference".to_owned(),
        Some(Value::String(s)) if preset(&s).is_some() => s,
        Some(other) => {
            return Err(format!(
                "{name}: .preset: expected a preset name (see `keypool presets`), found {other}"
            ))
        }
    };
    merged_policy(&base, overrides).map_err(|(f, m)| format!("{name}: policy{f}: {m}"))
}

/// A name that stands for a policy file rather than a preset.
pub fn is_policy_file(name: &str) -> bool {
    name.ends_with(".json")
}

/// The preset `name` with `overrides` merged into it, read back with field-path errors.
fn merged_policy(name: &str, overrides: serde_json::Map<String, Value>) -> Result<Policy, Invalid> {
    let base = match preset(name) {
        Some(p) => p,
        None if is_policy_file(name) => {
            named_policy(name).map_err(|m| (".preset".to_owned(), m))?
        }
        None => {
            let all: Vec<&str> = presets().iter().map(|p| p.name).collect();
            return Err((
                ".preset".to_owned(),
                format!("unknown preset `{name}`; known: {}", all.join(", ")),
            ));
        }
    };
    let mut v = serde_json::to_value(base).expect("a policy serialises");
    merge(&mut v, Value::Object(overrides));
    let policy = serde_path_to_error::deserialize::<_, Policy>(v).map_err(|e| {
        let path = e.path().to_string();
        (
            format!(".{path}"),
            strip_location(&e.into_inner().to_string()),
        )
    })?;
    policy
        .check_ranges()
        .map_err(|(path, msg)| (format!(".{path}"), msg))?;
    Ok(policy)
}

fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

fn unknown_template(name: &str) -> Invalid {
    (
        ".template".to_owned(),
        format!("unknown template `{name}` (see `keypool templates`)"),
    )
}

pub(crate) fn build_step(
    s: &Step,
    default_latency: u64,
    memo: &mut Memo,
) -> Result<ScriptStep, Invalid> {
    let def = match s {
        // A bare template name: the shared reply as it is (no status, headers or wait to set).
        Step::Template(name) => {
            let reply = memo
                .template(name, TemplateArgs::default())
                .ok_or_else(|| unknown_template(name))?;
            return Ok(ScriptStep {
                reply,
                latency_ms: default_latency,
                template: Some(Arc::new(TemplateRef {
                    name: name.clone(),
                    ..TemplateRef::default()
                })),
                ..ScriptStep::default()
            });
        }
        Step::Full(d) => d,
    };
    let raw = def.sse.is_some() || def.body.is_some();
    let args = TemplateArgs { wait_s: def.wait_s };
    let mut reply = match (&def.template, raw) {
        (Some(_), true) => {
            return Err((
                "".into(),
                "give either `template` or a raw `body`/`sse`, not both".into(),
            ))
        }
        (Some(name), false) => memo
            .template(name, args)
            .ok_or_else(|| unknown_template(name))?,
        (None, _) => {
            if let Some(events) = &def.sse {
                Arc::new(crate::sim::templates::sse_reply(events))
            } else if let Some(status) = def.status {
                Arc::new(
                    Reply::new(status, def.body.clone().unwrap_or_default())
                        .transport(Transport::Http),
                )
            } else if def.reset {
                // A reset sends no reply: what it would have been does not matter.
                Arc::new(Reply::default())
            } else {
                return Err((
                    "".into(),
                    "a step needs a `template`, or a raw reply (`status` with `body`, or `sse`)"
                        .into(),
                ));
            }
        }
    };
    if let Some(st) = def.status {
        if !(100..=599).contains(&st) {
            return Err((
                ".status".into(),
                format!("{st} is not an HTTP status (100 to 599)"),
            ));
        }
    }
    if def.wait_s.is_some_and(|w| !(w.is_finite() && w >= 0.0)) {
        return Err((
            ".wait_s".into(),
            "must be a non-negative number of seconds".into(),
        ));
    }
    let mut headers: Vec<(String, String)> = def
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    if let Some(ra) = def.retry_after {
        if !(ra.is_finite() && ra >= 0.0) {
            return Err((
                ".retry_after".into(),
                "must be a non-negative number of seconds".into(),
            ));
        }
        headers.push(("retry-after".into(), format!("{ra}")));
    }
    if let Some(ms) = def.retry_after_ms {
        headers.push(("retry-after-ms".into(), ms.to_string()));
    }
    let mut dated = false;
    for (k, v) in &headers {
        if crate::sim::clock::is_dated(v) {
            crate::sim::clock::fill(v, 0).map_err(|m| (format!(".headers.{k}"), m))?;
            dated = true;
        }
    }
    if def.status.is_some_and(|st| st != reply.status) || !headers.is_empty() {
        apply_overrides(Arc::make_mut(&mut reply), def.status, &headers);
    }
    if def.times == Some(0) {
        return Err((".times".into(), "must be at least 1".into()));
    }
    let delivery = delivery_of(def)?;
    if delivery.malformed_at.is_some() || delivery.no_terminator {
        reply = Arc::new(with_body_faults(Reply::clone(&reply), &delivery));
    }
    let template = def.template.as_ref().map(|name| {
        Arc::new(TemplateRef {
            name: name.clone(),
            args,
            status: def.status,
            headers,
        })
    });
    Ok(ScriptStep {
        reply,
        times: def.times,
        until_ms: def.until_ms,
        latency_ms: def.latency_ms.unwrap_or(default_latency),
        delivery,
        template,
        dated,
    })
}

/// The timing and faults of a step.
fn delivery_of(def: &StepDef) -> Result<Delivery, Invalid> {
    let fault = match (def.reset, def.cut_after, def.stall_after) {
        (false, None, None) => None,
        (true, None, None) => Some(Fault::Reset),
        (false, Some(after), None) => Some(Fault::Cut { after }),
        (false, None, Some(after)) => Some(Fault::Stall { after }),
        _ => {
            return Err((
                "".into(),
                "give at most one of `reset`, `cut_after` and `stall_after`".into(),
            ))
        }
    };
    Ok(Delivery {
        first_byte_ms: def.first_byte_ms.unwrap_or(0),
        gap_ms: def.gap_ms.unwrap_or(0),
        fault,
        malformed_at: def.malformed_at,
        no_terminator: def.no_terminator,
    })
}

/// Builds the world a scenario describes, on its own preset or on `preset_override`.
pub fn world(sc: &Scenario, preset_override: Option<&str>) -> Result<World, String> {
    world_in(sc, preset_override, &mut Memo::new())
}

/// [`world`], sharing `memo`'s built replies and policies with other calls (a loop over many
/// scenarios, such as the explorer's shrinking, keeps one).
pub fn world_in(
    sc: &Scenario,
    preset_override: Option<&str>,
    memo: &mut Memo,
) -> Result<World, String> {
    let policy = build_policy_in(sc.policy.as_ref(), preset_override, memo)
        .map_err(|(f, m)| format!("policy{f}: {m}"))?;
    let mut providers = Vec::new();
    let mut scripts = Vec::new();
    let mut secrets = Vec::new();
    for p in &sc.providers {
        let mut keys = Vec::new();
        for k in &p.keys {
            keys.push(PoolKey {
                label: k.label.as_str().into(),
                priority: k.priority,
                group: k.group.as_deref().map(Arc::from),
            });
            let steps = if k.script.is_empty() {
                vec![
                    build_step(&Step::Template("ok".into()), sc.latency_ms, memo)
                        .map_err(|e| e.1)?,
                ]
            } else {
                k.script
                    .iter()
                    .map(|s| {
                        build_step(s, sc.latency_ms, memo)
                            .map_err(|(f, m)| format!("{}{f}: {m}", k.label))
                    })
                    .collect::<Result<_, _>>()?
            };
            scripts.push(Script { steps });
            secrets.push(k.secret.clone());
        }
        providers.push(ProviderSpec {
            name: p.name.clone(),
            keys,
            strategy: p.strategy,
            fallback_for: p.fallback_for.clone(),
        });
    }
    let arrivals = workload_arrivals(&sc.workload).map_err(|(f, m)| format!("workload{f}: {m}"))?;
    Ok(World {
        name: sc.name.clone(),
        seed: sc.seed,
        providers,
        policy,
        scripts,
        arrivals,
        form: (sc.workload.api.is_some() || sc.workload.stream).then(|| {
            crate::dialect::Form::new(sc.workload.api.unwrap_or_default(), sc.workload.stream)
        }),
        secrets,
    })
}

/// Every `*.json` scenario under `path`: the file itself, or a directory's files and its
/// sub-directories' (`scenarios/conform/`), sorted by path.
pub fn collect_files(path: &Path) -> Result<Vec<std::path::PathBuf>, String> {
    if path.is_dir() {
        let mut v = Vec::new();
        let mut dirs = vec![path.to_path_buf()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d)
                .map_err(|e| format!("{}: cannot read directory: {e}", d.display()))?
                .filter_map(|e| e.ok())
            {
                let p = e.path();
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "json") {
                    v.push(p);
                }
            }
        }
        v.sort();
        Ok(v)
    } else if path.exists() {
        Ok(vec![path.to_path_buf()])
    } else {
        Err(format!("{}: no such file or directory", path.display()))
    }
}
