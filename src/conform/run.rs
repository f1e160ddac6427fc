//! One scenario against one gateway: the upstream in-process, the gateway through its adapter,
//! the workload sent at the scenario's arrival times, the client's view joined with the
//! upstream's record, and the trace judged.

use super::adapter::{expand, Adapter};
use super::config::{GatewayConfig, GatewayKey, GatewayProvider};
use super::process::{run_to_end, Gateway, GatewayError};
use crate::check::{judge_expect, SeenRequest};
use crate::class::{Class, Verdict};
use crate::dialect::{self, Form};
use crate::invariants::observed::ClientEnd;
use crate::invariants::{Support, Violation};
use crate::scenario::{self, Scenario};
use crate::serve::judge::{judge, Judged};
use crate::serve::record::Record;
use crate::serve::Server;
use crate::trace::{to_jsonl, Event};
use crate::{classify, Reply};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What the client got for one request.
#[derive(Debug, Clone)]
pub struct ClientAnswer {
    /// When it was sent and when the answer was whole (ms on the upstream's clock).
    pub start: u64,
    /// When the answer was whole.
    pub end: u64,
    /// The status (`None`: no HTTP answer, the connection failed).
    pub status: Option<u16>,
    /// What the answer meant.
    pub verdict: Verdict,
    /// The start of the answer's body (for evidence).
    pub body_head: String,
}

/// The reason of a client answer that was not HTTP at all.
const GARBAGE: &str = "the gateway answered with something that is not HTTP";

/// One run of a scenario against a gateway.
#[derive(Debug, Clone)]
pub struct Trial {
    /// The gateway could not be used: installed, started, kept alive. Nothing else is judged.
    pub error: Option<GatewayError>,
    /// What broke.
    pub violations: Vec<Violation>,
    /// Evidence per request id: its calls and what the client got.
    pub evidence: BTreeMap<u32, String>,
    /// The request ids' markers.
    pub markers: Vec<Option<u64>>,
    /// The judged trace as JSON Lines.
    pub trace_jsonl: String,
    /// The upstream's record.
    pub records: Vec<Record>,
    /// The client's view, by request.
    pub answers: Vec<Option<ClientAnswer>>,
    /// How long the gateway took to be ready.
    pub ready: Duration,
    /// Expectations that a black box cannot show.
    pub unchecked: BTreeSet<&'static str>,
    /// The judged trace, and the names to read it.
    pub trace: Vec<Event>,
    /// Key and provider names.
    pub names: crate::trace::Names,
    /// Where the gateway and a preset simulated on the same scenario differ (`--against-preset`).
    pub differences: Option<Vec<String>>,
    /// The picture of this trial, when one was drawn (`--timeline`).
    pub timeline: Option<String>,
}

impl Trial {
    fn failed(e: GatewayError) -> Trial {
        Trial {
            error: Some(e),
            violations: Vec::new(),
            evidence: BTreeMap::new(),
            markers: Vec::new(),
            trace_jsonl: String::new(),
            records: Vec::new(),
            answers: Vec::new(),
            ready: Duration::ZERO,
            unchecked: BTreeSet::new(),
            trace: Vec::new(),
            names: crate::trace::Names::default(),
            differences: None,
            timeline: None,
        }
    }
}

fn gateway_error(what: impl Into<String>) -> GatewayError {
    GatewayError {
        what: what.into(),
        log_tail: String::new(),
    }
}

/// Installs the adapter's gateway into its cache, once (again when its setup command changes).
pub fn setup(adapter: &Adapter, keypool: &Path) -> Result<(), GatewayError> {
    let Some(cmd) = &adapter.manifest.setup else {
        return Ok(());
    };
    std::fs::create_dir_all(&adapter.cache)
        .map_err(|e| gateway_error(format!("cannot create {}: {e}", adapter.cache.display())))?;
    let vars = base_vars(adapter, keypool);
    let argv = cmd
        .iter()
        .map(|a| expand(a, &vars))
        .collect::<Result<Vec<_>, _>>()
        .map_err(gateway_error)?;
    let stamp = adapter.cache.join(format!(
        ".setup-{:016x}",
        fnv(argv.join("\u{1}").as_bytes())
    ));
    if stamp.exists() {
        return Ok(());
    }
    let env = expand_env(adapter, &vars)?;
    let log = adapter.cache.join("setup.log");
    run_to_end(&argv, &env, &log, Duration::from_secs(1_200))?;
    std::fs::write(&stamp, b"")
        .map_err(|e| gateway_error(format!("cannot write {}: {e}", stamp.display())))?;
    Ok(())
}

/// The gateway's version line, as its adapter says how to ask for it.
pub fn version(adapter: &Adapter, keypool: &Path) -> String {
    let Some(cmd) = &adapter.manifest.version else {
        return "unknown version".into();
    };
    let vars = base_vars(adapter, keypool);
    let Ok(argv) = cmd
        .iter()
        .map(|a| expand(a, &vars))
        .collect::<Result<Vec<_>, _>>()
    else {
        return "unknown version".into();
    };
    let env = expand_env(adapter, &vars).unwrap_or_default();
    let log = std::env::temp_dir().join(format!("keypool-version-{}.log", std::process::id()));
    let v = run_to_end(&argv, &env, &log, Duration::from_secs(60))
        .map(|out| {
            out.lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|e| format!("unknown version ({})", e.what));
    let _ = std::fs::remove_file(log);
    v
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, c| {
        (h ^ *c as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn base_vars(adapter: &Adapter, keypool: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("keypool", keypool.display().to_string()),
        ("adapter", adapter.dir.display().to_string()),
        ("cache", adapter.cache.display().to_string()),
    ]
}

fn expand_env(
    adapter: &Adapter,
    vars: &[(&str, String)],
) -> Result<Vec<(String, String)>, GatewayError> {
    adapter
        .manifest
        .env
        .iter()
        .map(|(k, v)| Ok((k.clone(), expand(v, vars).map_err(gateway_error)?)))
        .collect()
}

fn free_port() -> Result<u16, GatewayError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| gateway_error(format!("no free port: {e}")))
}

/// How long the client waits for one answer: the scenario's deadline and 5 s.
fn answer_limit(sc_deadline_ms: u64) -> Duration {
    Duration::from_millis(sc_deadline_ms.saturating_add(5_000).min(300_000))
}

/// Runs one trial of `sc` against `adapter`, with `workdir` as its scratch folder.
pub async fn trial(adapter: &Adapter, keypool: &Path, sc: &Scenario, workdir: &Path) -> Trial {
    match trial_inner(adapter, keypool, sc, workdir).await {
        Ok(t) => t,
        Err(e) => Trial::failed(e),
    }
}

async fn trial_inner(
    adapter: &Adapter,
    keypool: &Path,
    sc: &Scenario,
    workdir: &Path,
) -> Result<Trial, GatewayError> {
    let world = scenario::world(sc, None).map_err(gateway_error)?;
    std::fs::create_dir_all(workdir)
        .map_err(|e| gateway_error(format!("cannot create {}: {e}", workdir.display())))?;
    let server = Server::start(sc).map_err(|e| gateway_error(e.to_string()))?;
    let port = free_port()?;
    let master_key = format!(
        "sk-{}",
        &crate::serve::derived_secret(sc.seed ^ u64::from(port), "master")[6..]
    );
    let policy = serde_json::to_value(&world.policy).map_err(|e| gateway_error(e.to_string()))?;
    let mut keys = server.keys().iter();
    let providers = sc
        .providers
        .iter()
        .map(|p| GatewayProvider {
            name: p.name.clone(),
            strategy: p.strategy,
            fallback_for: p.fallback_for.clone(),
            keys: p
                .keys
                .iter()
                .map(|k| GatewayKey {
                    label: k.label.clone(),
                    secret: keys.next().map(|s| s.secret.clone()).unwrap_or_default(),
                    priority: k.priority,
                    group: k.group.clone(),
                })
                .collect(),
        })
        .collect();
    let config = GatewayConfig {
        scenario: sc.name.clone(),
        upstream: server.uri(),
        upstream_v1: format!("{}/v1", server.uri()),
        port,
        master_key: master_key.clone(),
        model: "mock-model".into(),
        seed: sc.seed,
        workdir: workdir.display().to_string(),
        policy,
        providers,
        options: adapter.options.clone(),
    };
    let config_path = workdir.join("gateway.json");
    std::fs::write(
        &config_path,
        serde_json::to_vec_pretty(&config).unwrap_or_default(),
    )
    .map_err(|e| gateway_error(format!("cannot write {}: {e}", config_path.display())))?;
    let mut vars = base_vars(adapter, keypool);
    vars.extend([
        ("workdir", workdir.display().to_string()),
        ("config", config_path.display().to_string()),
        ("port", port.to_string()),
        ("master_key", master_key.clone()),
        ("upstream", server.uri()),
        ("upstream_v1", format!("{}/v1", server.uri())),
    ]);
    let m = &adapter.manifest;
    let argv = m
        .start
        .iter()
        .map(|a| expand(a, &vars))
        .collect::<Result<Vec<_>, _>>()
        .map_err(gateway_error)?;
    let env = expand_env(adapter, &vars)?;
    let mut gw = Gateway::start(&argv, &env, &workdir.join("gateway.log"))?;
    let ready_url = expand(&m.ready, &vars).map_err(gateway_error)?;
    let ready = match gw
        .wait_ready(&ready_url, Duration::from_secs(m.ready_timeout_s))
        .await
    {
        Ok(d) => d,
        Err(e) => {
            gw.stop(Duration::from_secs(3));
            return Err(e);
        }
    };
    // The scenario starts now: what the gateway did while starting up is not part of it.
    server.begin();
    let endpoint = expand(&m.endpoint, &vars).map_err(gateway_error)?;
    let headers: Vec<(String, String)> = m
        .headers
        .iter()
        .map(|(k, v)| Ok((k.clone(), expand(v, &vars).map_err(gateway_error)?)))
        .collect::<Result<_, GatewayError>>()?;
    let form = world.form.unwrap_or(Form::new(m.api, false));
    let answers = send_workload(
        &endpoint,
        &headers,
        &m.model,
        form,
        &world.arrivals,
        &server,
        answer_limit(world.policy.deadline_ms),
    )
    .await;
    // Calls a gateway makes after its last answer (a late retry) still count.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let crashed = gw.exited();
    let log_tail = gw.log_tail();
    gw.stop(Duration::from_secs(5));
    let records = server.records();
    drop(server);
    if let Some(s) = crashed {
        return Err(GatewayError {
            what: format!("the gateway exited during the scenario ({s})"),
            log_tail,
        });
    }
    if let Some(a) = answers
        .iter()
        .flatten()
        .find(|a| a.verdict.reason == GARBAGE)
    {
        return Err(GatewayError {
            what: format!("{GARBAGE}: {}", a.body_head),
            log_tail,
        });
    }
    let clients: BTreeMap<u64, ClientEnd> = answers
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            let a = a.as_ref()?;
            Some((
                i as u64,
                ClientEnd {
                    req: i as u32,
                    start: a.start,
                    end: a.end,
                    // What the gateway claimed: a 2xx is a success to an HTTP client, whatever
                    // it carries (a 200 `status: failed` passed on is a success claimed).
                    success: a.status.is_some_and(|s| (200..300).contains(&s)),
                    class: a.verdict.class,
                    ready_at: a.verdict.retry_after_ms.map(|ms| a.end.saturating_add(ms)),
                },
            ))
        })
        .collect();
    // Requests that never got an answer are in the trace with no end.
    let mut j = judge(&records, &world, Some(&clients));
    let unanswered: Vec<u32> = (0..answers.len() as u32)
        .filter(|i| answers[*i as usize].is_none())
        .collect();
    if !unanswered.is_empty() {
        j.trace
            .retain(|e| !matches!(e, Event::RequestEnd { req, .. } if unanswered.contains(req)));
        for r in &unanswered {
            j.violations.push(Violation {
                invariant: "terminates",
                req: Some(*r),
                attempt: None,
                t: None,
                message: format!(
                    "no answer within {} s",
                    answer_limit(world.policy.deadline_ms).as_secs()
                ),
            });
        }
    }
    let (exp, unchecked) = expectations(sc, &j, &answers);
    j.violations.extend(exp);
    j.violations
        .extend(leaks(&server_secrets(&config), &records, &answers));
    let skip: Vec<&str> = sc
        .expect
        .skip_invariants
        .iter()
        .map(String::as_str)
        .collect();
    j.violations.retain(|v| !skip.contains(&v.invariant));
    let evidence = evidence(&j, &answers);
    Ok(Trial {
        error: None,
        violations: j.violations.clone(),
        evidence,
        markers: j.markers.clone(),
        trace_jsonl: to_jsonl(&j.trace, &j.names),
        records,
        answers,
        ready,
        unchecked,
        trace: j.trace,
        names: j.names,
        differences: None,
        timeline: None,
    })
}

fn server_secrets(c: &GatewayConfig) -> Vec<String> {
    c.providers
        .iter()
        .flat_map(|p| p.keys.iter().map(|k| k.secret.clone()))
        .collect()
}

/// Secrets in what the gateway answered its clients.
fn leaks(
    secrets: &[String],
    _records: &[Record],
    answers: &[Option<ClientAnswer>],
) -> Vec<Violation> {
    let mut v = Vec::new();
    for (i, a) in answers.iter().enumerate() {
        let Some(a) = a else { continue };
        if secrets
            .iter()
            .any(|s| s.len() >= 8 && a.body_head.contains(s.as_str()))
        {
            v.push(Violation {
                invariant: "no_secret_in_output",
                req: Some(i as u32),
                attempt: None,
                t: Some(a.end),
                message: "the answer to the client shows a key's secret".into(),
            });
        }
    }
    v
}

/// Sends each request of the workload at its arrival time (concurrently where they overlap);
/// the client's view of each, `None` when no answer came in `limit`.
async fn send_workload(
    endpoint: &str,
    headers: &[(String, String)],
    model: &str,
    form: Form,
    arrivals: &[u64],
    server: &Server,
    limit: Duration,
) -> Vec<Option<ClientAnswer>> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let t0 = tokio::time::Instant::now();
    let clock = |_: ()| server.elapsed_ms();
    let mut futs = Vec::new();
    for (i, &at) in arrivals.iter().enumerate() {
        let call = dialect::call(form, model, i as u64);
        let mut req =
            hyper::Request::post(format!("{}{}", endpoint.trim_end_matches('/'), call.path))
                .header("content-type", "application/json")
                .header("x-keypool-request", format!("kp-req-{i}"));
        if form.dialect == dialect::Dialect::Anthropic {
            req = req.header("anthropic-version", "2023-06-01");
        }
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req.body(Full::new(Bytes::from(call.body)));
        let client = client.clone();
        futs.push(async move {
            tokio::time::sleep_until(crate::driver::instant_after(t0, at)).await;
            let start = clock(());
            let req = req.ok()?;
            let got = tokio::time::timeout(limit, async {
                let resp = client.request(req).await.map_err(|e| {
                    // Something that is not HTTP is the gateway's breakage, not an answer.
                    let garbage = std::error::Error::source(&e)
                        .and_then(|s| s.downcast_ref::<hyper::Error>())
                        .is_some_and(|h| h.is_parse() || h.is_parse_status());
                    (garbage, e.to_string())
                })?;
                let status = resp.status().as_u16();
                let hs = crate::driver::http::header_pairs(resp.headers());
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| (false, e.to_string()))?
                    .to_bytes();
                Ok::<_, (bool, String)>((status, hs, body))
            })
            .await;
            let end = clock(());
            let answer = match got {
                Err(_) => return None,
                Ok(Ok((status, headers, body))) => {
                    let reply = Reply {
                        status,
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                        transport: None,
                    };
                    ClientAnswer {
                        start,
                        end,
                        status: Some(status),
                        verdict: classify(&reply),
                        body_head: reply.body.chars().take(300).collect(),
                    }
                }
                // The gateway closed or reset the connection: a failure the client sees.
                Ok(Err((garbage, e))) => ClientAnswer {
                    start,
                    end,
                    status: None,
                    verdict: Verdict::new(
                        Class::ServerError,
                        if garbage {
                            GARBAGE
                        } else {
                            "no HTTP answer from the gateway"
                        },
                    ),
                    body_head: e.chars().take(300).collect(),
                },
            };
            Some(answer)
        });
    }
    futures_join_all(futs).await
}

/// Runs futures side by side, results in order (the workload's requests overlap).
async fn futures_join_all<F: std::future::Future>(futs: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::with_capacity(futs.len());
    for f in futs {
        set.push(Box::pin(f));
    }
    let mut out: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

/// The scenario's expectations, judged on what was seen; the ones a black box cannot show
/// (exact waits, ready times, final key states) are named and skipped.
fn expectations(
    sc: &Scenario,
    j: &Judged,
    answers: &[Option<ClientAnswer>],
) -> (Vec<Violation>, BTreeSet<&'static str>) {
    let names = &j.names;
    let mut calls: BTreeMap<u32, Vec<(&str, &str)>> = BTreeMap::new();
    for e in &j.trace {
        if let Event::Attempt {
            req, key, provider, ..
        } = *e
        {
            calls
                .entry(req)
                .or_default()
                .push((names.key(key), names.provider(provider)));
        }
    }
    let requests: Vec<Option<SeenRequest>> = answers
        .iter()
        .enumerate()
        .map(|(i, a)| {
            a.as_ref().map(|a| SeenRequest {
                success: a.verdict.class == Class::Success
                    && a.status.is_some_and(|s| (200..300).contains(&s)),
                class: a.verdict.class,
                calls: calls.remove(&(i as u32)).unwrap_or_default(),
                waits: None,
                ready_at: None,
            })
        })
        .collect();
    judge_expect(sc, &requests, None)
}

/// Per request: its calls (key, when, what came back) and what the client got.
fn evidence(j: &Judged, answers: &[Option<ClientAnswer>]) -> BTreeMap<u32, String> {
    let mut calls: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for e in &j.trace {
        if let Event::Reply {
            req,
            key,
            t,
            status,
            class,
            retry_after_ms,
            ..
        } = *e
        {
            let ra = retry_after_ms
                .map(|ms| format!(", retry-after {ms} ms"))
                .unwrap_or_default();
            let st = if status == 0 {
                "no reply".to_owned()
            } else {
                status.to_string()
            };
            calls.entry(req).or_default().push(format!(
                "{} → {st} {class}{ra} (ended at {t} ms)",
                j.names.key(key)
            ));
        }
    }
    let mut out = BTreeMap::new();
    for r in 0..j.markers.len() as u32 {
        let cs = calls.remove(&r).unwrap_or_default();
        let client = match answers.get(r as usize) {
            Some(Some(a)) => format!(
                "the client got {} {} at {} ms (sent at {} ms)",
                a.status.map_or("no HTTP answer".into(), |s| s.to_string()),
                a.verdict.class,
                a.end,
                a.start
            ),
            Some(None) => "the client got no answer".into(),
            None => "not a request of the workload".into(),
        };
        let calls = if cs.is_empty() {
            "no upstream call".into()
        } else {
            cs.join("; ")
        };
        out.insert(r, format!("{calls}; {client}"));
    }
    out
}

/// The support table of a black box with the client's view.
pub fn support() -> Vec<(&'static str, Support)> {
    crate::invariants::support(crate::invariants::View::UpstreamAndClient)
}

/// A scratch folder for one trial.
pub fn workdir(root: &Path, scenario: &str, trial: usize) -> PathBuf {
    root.join(format!("{scenario}-{trial}"))
}
