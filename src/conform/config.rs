//! The file `keypool conform` writes for each gateway it starts: the upstream, the keys and the
//! scenario's policy, for the adapter's glue to turn into the gateway's own configuration.

use crate::class::Class;
use crate::pool::Strategy;
use serde::{Deserialize, Serialize};

/// What a gateway under test is given (`{config}` in an adapter's command).
///
/// ```
/// let text = r#"{"scenario":"s","upstream":"http://127.0.0.1:1","upstream_v1":"http://127.0.0.1:1/v1",
///   "port":2,"master_key":"sk-m","model":"mock-model","seed":0,"workdir":"/tmp/w","policy":{},
///   "providers":[{"name":"p","strategy":"fill_first","fallback_for":null,
///     "keys":[{"label":"k1","secret":"sk-1","priority":0,"group":null}]}]}"#;
/// let c: keypool::conform::config::GatewayConfig = serde_json::from_str(text).unwrap();
/// assert_eq!(c.providers[0].keys[0].label, "k1");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// The scenario's name.
    pub scenario: String,
    /// The scripted upstream's root URL (`http://127.0.0.1:PORT`).
    pub upstream: String,
    /// The same with `/v1`, as OpenAI-style clients want their base URL.
    pub upstream_v1: String,
    /// The port the gateway must listen on (loopback).
    pub port: u16,
    /// A key the gateway may require of its clients (`keypool conform` sends it).
    pub master_key: String,
    /// The model name requests use.
    pub model: String,
    /// The scenario's seed.
    pub seed: u64,
    /// A fresh directory for this run (state, logs, generated configuration).
    pub workdir: String,
    /// The scenario's policy, whole (the reference's fields with its overrides): what a
    /// gateway that can be configured so may take its budgets from.
    pub policy: serde_json::Value,
    /// The chain: the primary provider first.
    pub providers: Vec<GatewayProvider>,
    /// Options the run gave the adapter (`--gateway NAME:OPTION=VALUE`).
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
}

/// One provider of the chain and its keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayProvider {
    /// Its name.
    pub name: String,
    /// How the scenario chooses its keys.
    pub strategy: Strategy,
    /// For class-specific fallbacks, the classes they take.
    pub fallback_for: Option<Vec<Class>>,
    /// Its keys.
    pub keys: Vec<GatewayKey>,
}

/// One key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayKey {
    /// Its label.
    pub label: String,
    /// The secret the upstream knows it by.
    pub secret: String,
    /// Lower comes first.
    pub priority: i64,
    /// Its quota group.
    pub group: Option<String>,
}
