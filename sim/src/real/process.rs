//! Real `rbee` processes: finding the binary, starting `rbee queen` / `rbee hive` on
//! loopback, learning the address each prints (`rbee listening on http://ADDR`), killing
//! one (a crash) and starting it again on the same address (a restart).
//!
//! A supervisor task per process drains its stderr and reports what the simulator's
//! no-panic invariant looks for: a `panicked at` line, or a process that exited without
//! being killed by the harness (the run records the reports into its trace).

use super::cluster::Reports;
use crate::trace::What;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a process may take to print its listening line.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Environment variable naming the `rbee` binary (overrides the search next to the
/// running executable).
pub const RBEE_BIN: &str = "RBEE_BIN";

/// The `rbee` binary: `$RBEE_BIN`, else `rbee` next to `beside` (cargo puts every binary
/// of a workspace in one target directory, so `target/release/rbee-sim` finds
/// `target/release/rbee`).
pub fn find_rbee(beside: &Path) -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os(RBEE_BIN) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "{RBEE_BIN}={} is not a file; point it at the rbee binary",
                path.display()
            ))
        };
    }
    let dir = beside.parent().unwrap_or(Path::new("."));
    let path = dir.join(format!("rbee{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        return Ok(path);
    }
    // The build that puts rbee beside this rbee-sim: cargo names the directory by profile.
    let build = match dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "cargo build --workspace".to_owned(),
        Some("release") | None => "cargo build --release --workspace".to_owned(),
        Some(profile) => format!("cargo build --profile {profile} --workspace"),
    };
    Err(format!(
        "cannot find the rbee binary at {}: `rbee-sim real` starts rbee processes and looks \
         for rbee beside itself. Build both with `{build}`, or set {RBEE_BIN} to an rbee binary",
        path.display()
    ))
}

/// What to start: the binary and the arguments of one host's process (without `--listen`).
#[derive(Clone, Debug)]
pub struct Spec {
    /// The host name in the scenario (`queen`, a hive).
    pub host: String,
    /// The `rbee` binary.
    pub bin: PathBuf,
    /// `hive --name ...` or `queen --hive ...`.
    pub args: Vec<String>,
}

/// A running process and its supervisor.
pub struct Process {
    spec: Spec,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    supervisor: JoinHandle<()>,
}

impl Process {
    /// Starts `spec` listening on `listen` (`127.0.0.1:0` for an ephemeral port) and waits
    /// for its listening line.
    pub async fn start(spec: Spec, listen: &str, reports: &Reports) -> Result<Self, String> {
        let mut child = Command::new(&spec.bin)
            .args(&spec.args)
            .args(["--listen", listen])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", spec.bin.display()))?;
        let stderr = child.stderr.take().ok_or("stderr is not piped")?;
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let addr = tokio::time::timeout(START_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("rbee listening on http://") {
                    return url.trim().parse::<SocketAddr>().ok();
                }
                seen.push(line);
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(addr) = addr else {
            let _ = child.start_kill();
            return Err(format!(
                "{} ({} {}) did not start listening within {START_TIMEOUT:?}; it said:\n{}",
                spec.host,
                spec.bin.display(),
                spec.args.join(" "),
                seen.join("\n")
            ));
        };
        let (stop, stopped) = oneshot::channel();
        let supervisor = tokio::spawn(supervise(
            spec.host.clone(),
            child,
            lines,
            stopped,
            reports.clone(),
        ));
        Ok(Self {
            spec,
            addr,
            stop: Some(stop),
            supervisor,
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Kills it (SIGKILL: a crash, nothing is flushed or closed gracefully by the process)
    /// and waits until it is gone. Returns what is needed to start it again.
    pub async fn kill(mut self) -> (Spec, SocketAddr) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.supervisor).await;
        (self.spec.clone(), self.addr)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Dropping the supervisor's child kills the process (kill_on_drop).
        self.supervisor.abort();
    }
}

type Lines = tokio::io::Lines<BufReader<tokio::process::ChildStderr>>;

async fn supervise(
    host: String,
    mut child: Child,
    mut lines: Lines,
    mut stop: oneshot::Receiver<()>,
    reports: Reports,
) {
    let mut reading = true;
    loop {
        tokio::select! {
            _ = &mut stop => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return;
            }
            status = child.wait() => {
                let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                let message = format!("the {host} process exited on its own ({status})");
                let _ = reports.send((host, What::Panic { message }));
                return;
            }
            line = lines.next_line(), if reading => match line {
                Ok(Some(line)) if line.contains("panicked at") => {
                    let _ = reports.send((host.clone(), What::Panic { message: line }));
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => reading = false,
            },
        }
    }
}
