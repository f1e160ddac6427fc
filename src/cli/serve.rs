//! `keypool serve SCENARIO [--listen ADDR] [--record FILE] [--duration SECS]`.

use keypool::scenario;
use keypool::serve::{Config, Server};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The scenario whose keys and scripts are served.
    scenario: PathBuf,
    /// Address to listen on; port 0 takes any free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Append one JSON line per upstream request to FILE (flushed on exit).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Stop after this many seconds (default: run until SIGINT or SIGTERM).
    #[arg(long, value_name = "SECS", value_parser = duration_secs)]
    duration: Option<f64>,
    /// Runtime threads (default: the machine's cores, at most 8).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: Option<u16>,
    /// Largest request body accepted, in bytes (larger ones get 413).
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 20, value_parser = clap::value_parser!(u64).range(1..=1 << 30))]
    max_body: u64,
    /// Most connections open at once (more are closed at once).
    #[arg(long, default_value_t = 16_384, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
}

fn duration_secs(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if v.is_finite() && v > 0.0 && v <= 31_536_000.0 {
        Ok(v)
    } else {
        Err(format!("{s} is out of range (more than 0, at most a year)"))
    }
}

pub fn run(a: ServeArgs) -> i32 {
    let sc = match scenario::load(&a.scenario) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("keypool serve: {e}");
            return 2;
        }
    };
    let workers = a
        .workers
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get().min(8)));
    let config = Config {
        listen: a.listen,
        record: a.record.clone(),
        keep_records: false,
        max_body_bytes: a.max_body as usize,
        max_connections: a.max_connections as usize,
        workers,
        ..Config::default()
    };
    let server = match Server::with_config(&sc, config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("keypool serve: {e}");
            return 2;
        }
    };
    // The one line a script reads to find the server and the keys' secrets.
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{}", server.announcement())
        .and_then(|_| out.flush())
        .is_err()
    {
        return 2;
    }
    drop(out);
    let why = wait(a.duration);
    eprintln!("keypool serve: {why}; stopping");
    match server.shutdown() {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("keypool serve: the record could not be written: {e}");
            1
        }
    }
}

/// Waits for SIGINT, SIGTERM or the end of the duration; says which.
fn wait(duration: Option<f64>) -> &'static str {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => return "no runtime for signals",
    };
    rt.block_on(async {
        let limit = async {
            match duration {
                Some(s) => tokio::time::sleep(Duration::from_secs_f64(s)).await,
                None => std::future::pending().await,
            }
        };
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                return "cannot watch signals";
            };
            tokio::select! {
                _ = limit => "duration over",
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        }
        #[cfg(not(unix))]
        {
            tokio::select! {
                _ = limit => "duration over",
                _ = tokio::signal::ctrl_c() => "interrupted",
            }
        }
    })
}
