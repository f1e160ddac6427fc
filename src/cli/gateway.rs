//! `keypool gateway --config FILE`: keypool's own engine as an HTTP gateway (the `keypool`
//! adapter of `keypool conform`).

use keypool::conform::config::GatewayConfig;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct GatewayArgs {
    /// The configuration `keypool conform` writes (upstream, keys, policy, port).
    #[arg(long)]
    config: PathBuf,
}

pub fn run(a: GatewayArgs) -> i32 {
    let cfg: GatewayConfig = match std::fs::read(&a.config)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keypool gateway: {}: {e}", a.config.display());
            return 2;
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keypool gateway: {e}");
            return 2;
        }
    };
    let port = cfg.port;
    let stop = async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut t), Ok(mut i)) => {
                    tokio::select! { _ = t.recv() => {}, _ = i.recv() => {} }
                }
                _ => std::future::pending().await,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    };
    eprintln!("keypool gateway: listening on 127.0.0.1:{port}");
    match rt.block_on(keypool::front::run(cfg, stop)) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("keypool gateway: {e}");
            2
        }
    }
}
