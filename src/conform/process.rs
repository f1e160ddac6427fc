//! A gateway's process: started in a process group of its own with its output in a log,
//! waited on until ready, stopped with everything it started. A run interrupted by a signal
//! stops the gateway it has running before it exits.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// The process group of the gateway running now (0: none), for the signal handler.
static RUNNING: AtomicI32 = AtomicI32::new(0);

/// A running gateway.
pub struct Gateway {
    child: Child,
    log: PathBuf,
}

/// Why a gateway could not be used: it is reported as exactly that (never as a pass or a
/// violation), with the end of its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    /// What went wrong.
    pub what: String,
    /// The last lines of its output.
    pub log_tail: String,
}

impl std::fmt::Display for GatewayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.what)?;
        if !self.log_tail.is_empty() {
            write!(f, "\n--- the end of its log ---\n{}", self.log_tail)?;
        }
        Ok(())
    }
}

/// The last `n` lines of a file (at most its last 64 KB are read).
pub fn tail(path: &Path, n: usize) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(64 * 1024);
    let _ = std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(from));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Runs a command to its end (setup, version), its output appended to `log`; an error with the
/// log's tail when it fails.
pub fn run_to_end(
    argv: &[String],
    env: &[(String, String)],
    log: &Path,
    limit: Duration,
) -> Result<String, GatewayError> {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| plain(format!("cannot write {}: {e}", log.display())))?;
    let (mut child, out) = spawn(argv, env, out, true)?;
    let mut stdout = child.stdout.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stdout.read_to_end(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if started.elapsed() > limit => {
                kill_group(child.id() as i32);
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => break None,
        }
    };
    let printed = reader.join().unwrap_or_default();
    let mut o = out;
    let _ = std::io::Write::write_all(&mut o, &printed);
    let text = String::from_utf8_lossy(&printed).into_owned();
    match status {
        Some(s) if s.success() => Ok(text),
        Some(s) => Err(GatewayError {
            what: format!("`{}` failed ({s})", argv.join(" ")),
            log_tail: tail(log, 30),
        }),
        None => Err(GatewayError {
            what: format!(
                "`{}` did not finish within {} s",
                argv.join(" "),
                limit.as_secs()
            ),
            log_tail: tail(log, 30),
        }),
    }
}

fn plain(what: String) -> GatewayError {
    GatewayError {
        what,
        log_tail: String::new(),
    }
}

/// Starts `argv` in a process group of its own, stderr (and stdout unless `pipe_stdout`) to
/// `out`; hands `out` back for the caller to append to.
fn spawn(
    argv: &[String],
    env: &[(String, String)],
    out: std::fs::File,
    pipe_stdout: bool,
) -> Result<(Child, std::fs::File), GatewayError> {
    let err = out.try_clone().map_err(|e| plain(e.to_string()))?;
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .stderr(err);
    if pipe_stdout {
        cmd.stdout(Stdio::piped());
    } else {
        cmd.stdout(out.try_clone().map_err(|e| plain(e.to_string()))?);
    }
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd
        .spawn()
        .map_err(|e| plain(format!("cannot start `{}`: {e}", argv[0])))?;
    Ok((child, out))
}

impl Gateway {
    /// Starts `argv` in its own process group, its output in `log`.
    pub fn start(
        argv: &[String],
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Gateway, GatewayError> {
        let out = std::fs::File::create(log)
            .map_err(|e| plain(format!("cannot write {}: {e}", log.display())))?;
        let (child, _) = spawn(argv, env, out, false)?;
        RUNNING.store(child.id() as i32, Ordering::SeqCst);
        Ok(Gateway {
            child,
            log: log.to_path_buf(),
        })
    }

    /// The exit status, if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The end of its log.
    pub fn log_tail(&self) -> String {
        tail(&self.log, 30)
    }

    /// Waits until `url` answers 200 (or the process exits, or `limit` passes).
    pub async fn wait_ready(
        &mut self,
        url: &str,
        limit: Duration,
    ) -> Result<Duration, GatewayError> {
        let started = Instant::now();
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<bytes::Bytes>>();
        let uri: hyper::Uri = url.parse().map_err(|e| GatewayError {
            what: format!("the readiness URL `{url}`: {e}"),
            log_tail: String::new(),
        })?;
        loop {
            if let Some(s) = self.exited() {
                return Err(GatewayError {
                    what: format!("the gateway exited before it was ready ({s})"),
                    log_tail: self.log_tail(),
                });
            }
            if started.elapsed() > limit {
                return Err(GatewayError {
                    what: format!(
                        "the gateway was not ready within {} s ({url} never answered 200)",
                        limit.as_secs()
                    ),
                    log_tail: self.log_tail(),
                });
            }
            let probe = tokio::time::timeout(Duration::from_secs(2), client.get(uri.clone())).await;
            if let Ok(Ok(r)) = probe {
                if r.status() == 200 {
                    return Ok(started.elapsed());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops it and everything it started: SIGTERM to its group, then SIGKILL after `grace`.
    pub fn stop(mut self, grace: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id() as i32;
        let already = self.exited();
        signal_group(pid, Signal::Term);
        let started = Instant::now();
        let status = loop {
            if let Some(s) = self.exited() {
                break Some(s);
            }
            if started.elapsed() > grace {
                break None;
            }
            std::thread::sleep(Duration::from_millis(25));
        };
        // Whatever it left behind in its group goes too.
        kill_group(pid);
        let status = status.or_else(|| self.child.wait().ok());
        let _ = RUNNING.compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst);
        already.or(status)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if self.exited().is_none() {
            kill_group(self.child.id() as i32);
            let _ = self.child.wait();
        }
    }
}

enum Signal {
    Term,
    Kill,
}

fn signal_group(pid: i32, s: Signal) {
    #[cfg(unix)]
    unsafe {
        // SAFETY: sends a signal to the process group this run created for the gateway.
        libc::kill(
            -pid,
            match s {
                Signal::Term => libc::SIGTERM,
                Signal::Kill => libc::SIGKILL,
            },
        );
    }
    #[cfg(not(unix))]
    let _ = (pid, s);
}

fn kill_group(pid: i32) {
    signal_group(pid, Signal::Kill);
}

/// Stops the gateway running now, if any (for a run interrupted by a signal).
pub fn stop_running() {
    let pid = RUNNING.swap(0, Ordering::SeqCst);
    if pid > 0 {
        signal_group(pid, Signal::Term);
        std::thread::sleep(Duration::from_millis(300));
        kill_group(pid);
    }
}
