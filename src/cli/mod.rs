//! Subcommands, one file each.

#[cfg(feature = "http")]
mod check;
mod classify;
#[cfg(feature = "http")]
mod conform;
mod explore;
#[cfg(feature = "http")]
mod gateway;
mod info;
mod lines;
mod run;
#[cfg(feature = "http")]
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Deterministic simulation and fuzz testing for API-key pool failover.
#[derive(Parser, Debug)]
#[command(name = "keypool", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run scenario files (or directories of them); exit 0 when every expectation and
    /// invariant holds, 1 when any is violated, 2 on bad input.
    Run(run::RunArgs),
    /// Classify upstream replies given as JSON Lines (FILE, or standard input).
    Classify {
        /// The input file; absent or "-" reads standard input.
        file: Option<PathBuf>,
        /// Add the deciding rule (`reason`) and the soft/partial flags to each line.
        #[arg(long)]
        explain: bool,
        /// Classify on this many threads (1 to 256; default: every core). Output stays in
        /// input order.
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Run many seeds of random worlds, check every trace, shrink violations to scenario files;
    /// exit 0 when nothing was violated, 1 when something was.
    Explore(explore::ExploreArgs),
    /// List the policy presets: reference, gateways and bug-catalogue mutants.
    Presets,
    /// Print the JSON Schema of scenario files.
    Schema,
    /// Serve a scenario's per-key scripts over HTTP (OpenAI, Anthropic, Gemini APIs), as the
    /// upstream a real gateway is pointed at; record every request. Prints one JSON line with
    /// the URL and each key's label and secret, runs until SIGINT/SIGTERM or --duration.
    #[cfg(feature = "http")]
    Serve(serve::ServeArgs),
    /// Judge a record written by `keypool serve --record` against the scenario that was
    /// served: the invariants a record can show; exit 0 when none is violated, 1 when one is.
    #[cfg(feature = "http")]
    Check(check::CheckArgs),
    /// Run scenarios against a real gateway (LiteLLM, hermes-agent, keypool's own, yours)
    /// through its adapter and report which invariants it breaks; exit 0 / 1 / 2 as `run`,
    /// 2 also when the gateway cannot be installed, started or kept alive.
    #[cfg(feature = "http")]
    Conform(conform::ConformArgs),
    /// keypool's reference engine as an HTTP gateway in front of an upstream (the `keypool`
    /// adapter of `conform`).
    #[cfg(feature = "http")]
    Gateway(gateway::GatewayArgs),
    /// List the reply templates scenarios can name.
    Templates,
}

/// Runs the CLI; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    match cli.cmd {
        Cmd::Run(a) => run::run(a),
        Cmd::Explore(a) => explore::run(a),
        Cmd::Classify {
            file,
            explain,
            jobs,
        } => classify::run(file.as_deref(), explain, jobs),
        Cmd::Presets => info::presets(),
        Cmd::Schema => info::schema(),
        #[cfg(feature = "http")]
        Cmd::Serve(a) => serve::run(a),
        #[cfg(feature = "http")]
        Cmd::Check(a) => check::run(a),
        #[cfg(feature = "http")]
        Cmd::Conform(a) => conform::run(a),
        #[cfg(feature = "http")]
        Cmd::Gateway(a) => gateway::run(a),
        Cmd::Templates => info::templates(),
    }
}
