//! The real topology of a scenario: the queen and hive processes (or a staging queen), a
//! [`Proxy`] on every link that faults can touch — queen↔hive for each hive the harness
//! starts, keeper↔queen for each keeper — and the application of a fault to it.
//!
//! ```text
//!   keeper alice ──proxy──┐                 ┌──proxy── rbee hive hive-a
//!   keeper bob ────proxy──┼── rbee queen ───┤
//!                         │                 └──proxy── rbee hive hive-b
//! ```

use super::process::{Process, Spec};
use super::proxy::Proxy;
use crate::scenario::{FaultKind, FaultPlan, Mode, Scenario};
use crate::trace::What;
use rbee::dial::Endpoint;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::sync::mpsc::UnboundedSender;

/// What the processes report while they run (panics, unexpected exits), by host.
pub type Reports = UnboundedSender<(String, What)>;

/// Where the keepers' queen comes from.
#[derive(Clone, Debug)]
pub enum QueenSource {
    /// Start queen and hives from this `rbee` binary.
    Spawn(PathBuf),
    /// A queen that is already running (staging).
    Staging(Endpoint),
}

/// How long a staging queen may take to answer its health check.
pub const REACH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Checks that a staging queen answers `GET /v1/health` with `200`, before any job runs:
/// an unreachable `--queen URL` is a mistake on the command line, not a failure of rbee,
/// and every job run against it would only report the keepers' proxy failing to connect.
pub fn reach(queen: &Endpoint) -> Result<(), String> {
    let unreachable = |reason: String| format!("cannot reach the queen at {queen}: {reason}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| unreachable(format!("cannot start a tokio runtime: {e}")))?;
    runtime.block_on(async {
        let health = rbee::http_client::send(
            &rbee::dial::TcpDial,
            queen,
            http::Method::GET,
            "/v1/health",
            None,
        );
        match tokio::time::timeout(REACH_TIMEOUT, health).await {
            Err(_) => Err(unreachable(format!(
                "no answer to GET /v1/health within {} s",
                REACH_TIMEOUT.as_secs()
            ))),
            Ok(Err(e)) => Err(unreachable(e.to_string())),
            Ok(Ok(reply)) if reply.status == http::StatusCode::OK => Ok(()),
            Ok(Ok(reply)) => Err(unreachable(format!(
                "GET /v1/health answered {} (is it an rbee queen?)",
                reply.status
            ))),
        }
    })
}

/// One host's process: running, or crashed with what it takes to start it again.
enum Host {
    Running(Process),
    Crashed(Spec, SocketAddr),
}

/// The processes and proxies of one real run.
pub struct Cluster {
    hosts: BTreeMap<String, Host>,
    hive_links: BTreeMap<String, Proxy>,
    keeper_links: BTreeMap<String, Proxy>,
    reports: Reports,
}

impl Cluster {
    /// Starts every process of `scenario` (hives first, then the queen that points at
    /// their proxies) and a proxy per keeper; or, for a staging queen, only the keepers'
    /// proxies.
    pub async fn start(
        scenario: &Scenario,
        source: &QueenSource,
        reports: Reports,
    ) -> Result<Self, String> {
        let mut cluster = Self {
            hosts: BTreeMap::new(),
            hive_links: BTreeMap::new(),
            keeper_links: BTreeMap::new(),
            reports,
        };
        let queen = match source {
            QueenSource::Staging(ep) => tokio::net::lookup_host((ep.host.as_str(), ep.port))
                .await
                .map_err(|e| format!("cannot resolve the queen {ep}: {e}"))?
                .next()
                .ok_or_else(|| format!("the queen {ep} resolves to no address"))?,
            QueenSource::Spawn(bin) => cluster.spawn(scenario, bin).await?,
        };
        for keeper in &scenario.keepers {
            let proxy = Proxy::start(queen)
                .map_err(|e| format!("cannot start the proxy of keeper '{keeper}': {e}"))?;
            cluster.keeper_links.insert(keeper.clone(), proxy);
        }
        Ok(cluster)
    }

    async fn spawn(
        &mut self,
        scenario: &Scenario,
        bin: &std::path::Path,
    ) -> Result<SocketAddr, String> {
        let ttl = scenario.ttl_ms.to_string();
        let models = scenario.models.join(",");
        let mut queen_args: Vec<String> = vec!["queen".into(), "--ttl-ms".into(), ttl.clone()];
        match scenario.mode {
            Mode::Distributed => {
                for hive in &scenario.hives {
                    let spec = Spec {
                        host: hive.clone(),
                        bin: bin.to_owned(),
                        args: [
                            "hive", "--name", hive, "--models", &models, "--ttl-ms", &ttl,
                        ]
                        .map(str::to_owned)
                        .to_vec(),
                    };
                    let process = Process::start(spec, "127.0.0.1:0", &self.reports).await?;
                    let proxy = Proxy::start(process.addr())
                        .map_err(|e| format!("cannot start the proxy of hive '{hive}': {e}"))?;
                    queen_args.extend(["--hive".into(), format!("{hive}=http://{}", proxy.addr())]);
                    self.hive_links.insert(hive.clone(), proxy);
                    self.hosts.insert(hive.clone(), Host::Running(process));
                }
            }
            Mode::Integrated => {
                for hive in &scenario.hives {
                    queen_args.extend(["--local-hive".into(), hive.clone()]);
                }
                queen_args.extend(["--models".into(), models]);
            }
        }
        let spec = Spec {
            host: "queen".into(),
            bin: bin.to_owned(),
            args: queen_args,
        };
        let queen = Process::start(spec, "127.0.0.1:0", &self.reports).await?;
        let addr = queen.addr();
        self.hosts.insert("queen".into(), Host::Running(queen));
        Ok(addr)
    }

    /// Where keeper `name` connects (its proxy to the queen).
    pub fn keeper_endpoint(&self, name: &str) -> Option<Endpoint> {
        self.keeper_links.get(name).map(|p| Endpoint {
            host: p.addr().ip().to_string(),
            port: p.addr().port(),
        })
    }

    /// Applies one fault now. A link fault between hosts that never talk has nothing to act
    /// on (as in the simulator); `support` has refused the faults a staging queen cannot take.
    pub async fn apply(&mut self, fault: &FaultPlan) -> Result<(), String> {
        let h = &fault.hosts;
        match fault.kind {
            FaultKind::Crash => self.crash(&h[0]).await,
            FaultKind::Restart => {
                self.crash(&h[0]).await;
                self.restart(&h[0]).await?;
            }
            kind => {
                if let Some(link) = self.link(&h[0], &h[1]) {
                    let applied = match kind {
                        FaultKind::Partition => link.partition(),
                        FaultKind::Repair => link.repair(),
                        FaultKind::Hold => link.hold(),
                        _ => link.release(),
                    };
                    applied.map_err(|e| format!("cannot listen again on a healed link: {e}"))?;
                }
            }
        }
        Ok(())
    }

    fn link(&mut self, a: &str, b: &str) -> Option<&mut Proxy> {
        let other = match (a, b) {
            ("queen", other) | (other, "queen") => other,
            _ => return None,
        };
        match self.hive_links.get_mut(other) {
            Some(proxy) => Some(proxy),
            None => self.keeper_links.get_mut(other),
        }
    }

    /// The proxies in front of `host`: its clients reach it only through them.
    fn fronts(&mut self, host: &str) -> Vec<&mut Proxy> {
        if host == "queen" {
            self.keeper_links.values_mut().collect()
        } else {
            self.hive_links.get_mut(host).into_iter().collect()
        }
    }

    /// Kills `host` if it runs; nothing listens in its place until a restart.
    async fn crash(&mut self, host: &str) {
        let Some(Host::Running(_)) = self.hosts.get(host) else {
            return;
        };
        for proxy in self.fronts(host) {
            // Closing a listener cannot fail.
            let _ = proxy.down();
        }
        if let Some(Host::Running(process)) = self.hosts.remove(host) {
            let (spec, addr) = process.kill().await;
            self.hosts
                .insert(host.to_owned(), Host::Crashed(spec, addr));
        }
    }

    /// Starts a crashed `host` again on its old address, from scratch.
    async fn restart(&mut self, host: &str) -> Result<(), String> {
        let Some(Host::Crashed(spec, addr)) = self.hosts.remove(host) else {
            return Ok(());
        };
        let process = Process::start(spec, &addr.to_string(), &self.reports).await?;
        self.hosts.insert(host.to_owned(), Host::Running(process));
        for proxy in self.fronts(host) {
            proxy
                .up()
                .map_err(|e| format!("cannot listen again in front of '{host}': {e}"))?;
        }
        Ok(())
    }

    /// Kills every process (without reporting it as an exit of its own).
    pub async fn shutdown(mut self) {
        for (_, host) in std::mem::take(&mut self.hosts) {
            if let Host::Running(process) = host {
                process.kill().await;
            }
        }
    }
}
