//! Adapters as data: a folder per gateway under `adapters/`, with an `adapter.json` manifest
//! saying how to install the gateway (once, into a cache), start it for one scenario, know it
//! is ready, and send it requests.

use crate::dialect::Dialect;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An adapter's manifest (`adapters/NAME/adapter.json`).
///
/// Commands are argument lists (no shell); strings may hold placeholders, replaced per run:
/// `{keypool}` (this binary), `{adapter}` (the adapter's folder), `{cache}` (its install
/// cache), `{workdir}` (a fresh folder per run), `{config}` (the [`super::config::GatewayConfig`]
/// file), `{port}` (the port the gateway must listen on), `{master_key}`, `{upstream}` and
/// `{upstream_v1}` (the scripted upstream's URL, bare and with `/v1`).
///
/// ```
/// let m: keypool::conform::adapter::Manifest = serde_json::from_str(r#"{
///   "name": "mine", "start": ["my-gateway", "--port", "{port}", "--config", "{config}"],
///   "ready": "http://127.0.0.1:{port}/health", "endpoint": "http://127.0.0.1:{port}"}"#).unwrap();
/// assert_eq!(m.api, keypool::dialect::Dialect::Chat);
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The gateway's name, as reports show it.
    pub name: String,
    /// One line about it.
    #[serde(default)]
    pub about: String,
    /// Installs the gateway into `{cache}`; run once, again only when this command changes.
    #[serde(default)]
    pub setup: Option<Vec<String>>,
    /// Prints the gateway's version (its first line is reported).
    #[serde(default)]
    pub version: Option<Vec<String>>,
    /// Starts the gateway for one scenario; it must stop on SIGTERM.
    pub start: Vec<String>,
    /// Environment for `setup`, `version` and `start`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// A URL that answers 200 once the gateway is ready.
    pub ready: String,
    /// How long to wait for it (s).
    #[serde(default = "default_ready_s")]
    pub ready_timeout_s: u64,
    /// Where client requests go (the API's path is appended: `/v1/chat/completions`, ...).
    pub endpoint: String,
    /// The API clients speak to it, unless a scenario's workload names one.
    #[serde(default)]
    pub api: Dialect,
    /// The model clients ask for.
    #[serde(default = "default_model")]
    pub model: String,
    /// Headers every client request carries (`{"authorization": "Bearer {master_key}"}`).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Options a run may set (`--gateway NAME:OPTION=VALUE`), each with what it does; they
    /// reach the glue in the configuration file's `options`.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Whether the gateway picks keys at random, so a single run proves little: reports say
    /// so and suggest `--trials`.
    #[serde(default)]
    pub random: bool,
}

fn default_ready_s() -> u64 {
    60
}

fn default_model() -> String {
    "mock-model".into()
}

/// An adapter: its manifest, its folder, and the options chosen for this run.
#[derive(Debug, Clone)]
pub struct Adapter {
    /// The manifest.
    pub manifest: Manifest,
    /// The adapter's folder.
    pub dir: PathBuf,
    /// Options given after the name (`litellm:num_retries=0,order`).
    pub options: BTreeMap<String, String>,
    /// The install cache.
    pub cache: PathBuf,
}

impl Adapter {
    /// Finds `spec` (`NAME[:OPTION[=VALUE],...]`; NAME a folder path, or a folder under
    /// `adapters/` here or in the source tree) and reads its manifest.
    pub fn find(spec: &str) -> Result<Adapter, String> {
        let (name, opts) = spec.split_once(':').unwrap_or((spec, ""));
        let candidates: Vec<PathBuf> = if name.contains('/') {
            vec![PathBuf::from(name)]
        } else {
            vec![
                PathBuf::from("adapters").join(name),
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("adapters")
                    .join(name),
            ]
        };
        let dir = candidates
            .iter()
            .find(|d| d.join("adapter.json").is_file())
            .ok_or_else(|| {
                format!(
                    "no adapter `{name}`: looked for {}",
                    candidates
                        .iter()
                        .map(|d| d.join("adapter.json").display().to_string())
                        .collect::<Vec<_>>()
                        .join(" and ")
                )
            })?;
        let dir = dir
            .canonicalize()
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join("adapter.json");
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let manifest: Manifest =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if manifest.start.is_empty() {
            return Err(format!("{}: `start` is empty", path.display()));
        }
        let mut options = BTreeMap::new();
        for o in opts.split(',').filter(|o| !o.is_empty()) {
            let (k, v) = o.split_once('=').unwrap_or((o, "true"));
            if !manifest.options.contains_key(k) {
                let known: Vec<&str> = manifest.options.keys().map(String::as_str).collect();
                return Err(format!(
                    "adapter `{}` has no option `{k}`; it has: {}",
                    manifest.name,
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ));
            }
            options.insert(k.to_owned(), v.to_owned());
        }
        let cache = cache_root().join(&manifest.name);
        Ok(Adapter {
            manifest,
            dir,
            options,
            cache,
        })
    }

    /// The name with its options, as reports show it (`litellm:num_retries=0`).
    pub fn label(&self) -> String {
        if self.options.is_empty() {
            return self.manifest.name.clone();
        }
        let o: Vec<String> = self
            .options
            .iter()
            .map(|(k, v)| {
                if v == "true" {
                    k.clone()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        format!("{}:{}", self.manifest.name, o.join(","))
    }
}

/// Where adapters install their gateways: `$KEYPOOL_CACHE`, else `~/.cache/keypool`, under
/// `adapters/`.
pub fn cache_root() -> PathBuf {
    let base = std::env::var_os("KEYPOOL_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/keypool")))
        .unwrap_or_else(|| std::env::temp_dir().join("keypool-cache"));
    base.join("adapters")
}

/// Replaces the placeholders of `s` with `vars`; an unknown `{name}` is an error.
///
/// ```
/// use keypool::conform::adapter::expand;
/// let vars = [("port", "8080".to_owned())];
/// assert_eq!(expand("http://127.0.0.1:{port}/health", &vars).unwrap(), "http://127.0.0.1:8080/health");
/// assert!(expand("{nope}", &vars).is_err());
/// assert_eq!(expand("{{literal}}", &vars).unwrap(), "{literal}");
/// ```
pub fn expand(s: &str, vars: &[(&str, String)]) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let c = rest.as_bytes()[i];
        if rest[i..].starts_with("{{") || rest[i..].starts_with("}}") {
            out.push(c as char);
            rest = &rest[i + 2..];
            continue;
        }
        if c == b'}' {
            return Err(format!("a lone `}}` in `{s}`"));
        }
        let end = rest[i..]
            .find('}')
            .ok_or_else(|| format!("an unclosed `{{` in `{s}`"))?
            + i;
        let name = &rest[i + 1..end];
        let v = vars
            .iter()
            .find(|(k, _)| *k == name)
            .ok_or_else(|| format!("unknown placeholder `{{{name}}}` in `{s}`"))?;
        out.push_str(&v.1);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}
