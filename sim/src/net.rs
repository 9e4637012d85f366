//! turmoil adapters for the system's injected network edges: a listener that `axum::serve`
//! accepts and a [`Dial`] that opens simulated TCP connections, each through its link's
//! fault pumps (`crate::link`), and knows which hosts are down.
//!
//! These small types are all it takes to run the unchanged `rbee` server and clients on
//! turmoil's simulated network.

use crate::link::Links;
use futures::future::{BoxFuture, Either};
use rbee::dial::{BoxIo, Dial};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Listens on a simulated host's port for `axum::serve`.
pub struct SimListener(pub turmoil::net::TcpListener);

impl SimListener {
    /// Binds `0.0.0.0:port` on the current simulated host.
    pub async fn bind(port: u16) -> io::Result<Self> {
        Ok(Self(
            turmoil::net::TcpListener::bind(("0.0.0.0", port)).await?,
        ))
    }
}

impl axum::serve::Listener for SimListener {
    type Io = turmoil::net::TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok(pair) => return pair,
                // A failed accept is retried after a short pause on the simulated clock.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// The hosts whose process is down (crashed, not restarted yet), shared by a run's dialers,
/// with a signal per host that its process went down.
#[derive(Clone, Debug, Default)]
pub struct DownHosts(Arc<Mutex<Down>>);

#[derive(Debug, Default)]
struct Down {
    hosts: BTreeSet<String>,
    crashed: BTreeMap<String, Arc<Notify>>,
}

impl DownHosts {
    /// `host`'s process went down: connects to it are refused until [`Self::restart`], and
    /// connects on the wire to it fail now.
    pub fn crash(&self, host: &str) {
        let mut down = self.0.lock().unwrap_or_else(|e| e.into_inner());
        down.hosts.insert(host.to_owned());
        if let Some(crashed) = down.crashed.get(host) {
            crashed.notify_waiters();
        }
    }

    /// `host`'s process runs again.
    pub fn restart(&self, host: &str) {
        let mut down = self.0.lock().unwrap_or_else(|e| e.into_inner());
        down.hosts.remove(host);
    }

    /// Whether `host`'s process is down.
    pub fn is_down(&self, host: &str) -> bool {
        let down = self.0.lock().unwrap_or_else(|e| e.into_inner());
        down.hosts.contains(host)
    }

    /// Resolves once `host`'s process is down (at once if it is).
    async fn went_down(&self, host: &str) {
        let crashed = {
            let mut down = self.0.lock().unwrap_or_else(|e| e.into_inner());
            down.crashed.entry(host.to_owned()).or_default().clone()
        };
        loop {
            let notified = crashed.notified();
            futures::pin_mut!(notified);
            notified.as_mut().enable();
            if self.is_down(host) {
                return;
            }
            notified.await;
        }
    }
}

/// Dials simulated hosts by name, from one host, every connection through the link's
/// fault pumps ([`crate::link::connect`]): a hold keeps a connection's bytes, not its
/// connect, as on a real link.
///
/// A connect to a host whose process is down is refused at once, as a real machine whose
/// process died refuses it (its port is closed). turmoil itself would deliver nothing to a
/// crashed host and leave the connect waiting until the host restarts; running the same
/// scenario against real processes (`rbee-sim real`) showed the difference. For the same
/// reason a connect still on the wire when its host's process goes down (its SYN on a slow
/// link) fails then: turmoil would keep it and hand it to the process that starts next,
/// which would serve a request sent to its predecessor seconds later (`rbee-sim real` found
/// that too: real processes refuse it). It fails as a reset connection, not a refused one:
/// a real connect on the wire had been accepted (by the peer's kernel, or by the proxy
/// `rbee-sim real` puts on every link), so the client sees it closed and does not retry it
/// into the process that starts next (`rbee-sim real` found that as well).
#[derive(Clone, Debug, Default)]
pub struct SimDial {
    from: String,
    down: DownHosts,
    links: Links,
}

impl SimDial {
    /// A dialer on host `from` that refuses connects to the hosts in `down`, and whose
    /// connections follow the faults of `links`.
    pub fn new(from: &str, down: DownHosts, links: Links) -> Self {
        Self {
            from: from.to_owned(),
            down,
            links,
        }
    }
}

/// How many bytes a connection's pumps buffer between the client and the wire.
const PIPE_BYTES: usize = 64 * 1024;

impl Dial for SimDial {
    fn dial(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<BoxIo>> {
        let host = host.to_owned();
        let down = self.down.clone();
        let is_down = down.is_down(&host);
        let link = self.links.watch(&self.from, &host);
        let refused = move |host: &str, why: &str| {
            io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("{host}:{port}: {why}"),
            )
        };
        Box::pin(async move {
            if is_down {
                return Err(refused(&host, "its process is down"));
            }
            let connect = turmoil::net::TcpStream::connect((host.as_str(), port));
            let went_down = down.went_down(&host);
            futures::pin_mut!(connect, went_down);
            match futures::future::select(connect, went_down).await {
                Either::Left((stream, _)) => {
                    let (client, wire) = tokio::io::duplex(PIPE_BYTES);
                    rbee::spawn::spawn(crate::link::connect(wire, stream?, link));
                    Ok(Box::new(client) as BoxIo)
                }
                // Reset, not refused: a real connect on the wire had been accepted (by
                // the peer's kernel, or by the proxy `rbee-sim real` puts on every link),
                // so the client sees its connection closed, and does not retry.
                Either::Right(((), _)) => Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    format!("{host}:{port}: its process went down before it answered the connect"),
                )),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::scenario::Scenario;
    use crate::trace::What;
    use crate::world::{run, RunOptions};

    /// alice's submit is held on her link to the queen; the queen crashes, the link is
    /// released while it is down, and it restarts seconds later.
    const HELD_SUBMIT_TO_A_CRASHED_QUEEN: &str = "name = \"held submit\"\nseed = 3\nmode = \"integrated\"\nhives = [\"hive-a\"]\nkeepers = [\"alice\"]\nrun_for_ms = 20000\n\n[[jobs]]\nkeeper = \"alice\"\nat_ms = 200\noperation = \"status\"\n\n[[faults]]\nat_ms = 100\nkind = \"hold\"\nbetween = [\"alice\", \"queen\"]\n\n[[faults]]\nat_ms = 300\nkind = \"crash\"\nhost = \"queen\"\n\n[[faults]]\nat_ms = 500\nkind = \"release\"\nbetween = [\"alice\", \"queen\"]\n\n[[faults]]\nat_ms = 6000\nkind = \"restart\"\nhost = \"queen\"\n";

    /// Proves a request held on its link when its host's process goes down is lost, as
    /// against real processes, instead of being served by the queen that starts 5.7 s
    /// later: the connect completed before the crash (a hold keeps bytes, not connects), so
    /// the crash closes the connection, and the release delivers that close.
    #[test]
    fn a_request_held_when_its_host_crashes_is_lost_at_the_release_not_served_after_the_restart() {
        let scenario = Scenario::parse("held.toml", HELD_SUBMIT_TO_A_CRASHED_QUEEN).expect("valid");
        let trace = run(&scenario, RunOptions::new(scenario.seed));
        assert_not_served(&trace);
        assert_eq!(outcome(&trace), (500, "lost".into()));
    }

    /// Proves a request held on its link when its host's process goes down is not retried
    /// into the process that starts next: the queen is back 100 ms after its crash, long
    /// before the link is released, and a retry would have been served by it (generated
    /// seed 301 with faults, where real processes lost four submits that the simulator
    /// served). The crash closed the connection the request was sent on; a client retries
    /// a refused connect, never a request sent.
    #[test]
    fn a_request_held_when_its_host_crashes_is_not_retried_into_its_restart() {
        let scenario = Scenario::parse(
            "held.toml",
            &HELD_SUBMIT_TO_A_CRASHED_QUEEN
                .replace("at_ms = 6000", "at_ms = 400")
                .replace("at_ms = 500", "at_ms = 5000"),
        )
        .expect("valid");
        let trace = run(&scenario, RunOptions::new(scenario.seed));
        assert_eq!(outcome(&trace), (5000, "lost".into()));
    }

    /// alice connects to the queen at 200 ms; the queen crashes 5 ms later, while the
    /// connect is still on the wire, and restarts seconds later.
    const CONNECT_ON_THE_WIRE_AT_A_CRASH: &str = "name = \"connect at a crash\"\nseed = 3\nmode = \"integrated\"\nhives = [\"hive-a\"]\nkeepers = [\"alice\"]\nrun_for_ms = 20000\n\n[[jobs]]\nkeeper = \"alice\"\nat_ms = 200\noperation = \"status\"\n\n[[faults]]\nat_ms = 205\nkind = \"crash\"\nhost = \"queen\"\n\n[[faults]]\nat_ms = 6000\nkind = \"restart\"\nhost = \"queen\"\n";

    /// Proves a connect still on the wire when its host's process goes down fails then,
    /// as a reset connection: turmoil would keep its SYN and hand it to the process that
    /// starts next, which would serve a request sent to its predecessor seconds later
    /// (without `DownHosts::went_down` the submit is served at 6,050 ms).
    #[test]
    fn a_connect_on_the_wire_to_a_crashing_host_fails_not_served_after_its_restart() {
        let scenario =
            Scenario::parse("crash.toml", CONNECT_ON_THE_WIRE_AT_A_CRASH).expect("valid");
        let trace = run(&scenario, RunOptions::new(scenario.seed));
        assert_not_served(&trace);
        let (at, lost) = outcome(&trace);
        assert_eq!(lost, "lost");
        assert!(at < 6000, "lost only after the restart: {at} ms");
    }

    /// Proves a connect still on the wire when its host's process goes down fails as a
    /// reset connection, which no client retries, not as a refused one: the queen is back
    /// 195 ms after its crash, and a retried connect would be served by it (generated seed
    /// 301 with faults, where real processes lost four submits that the simulator served).
    #[test]
    fn a_connect_on_the_wire_to_a_crashing_host_is_not_retried_into_its_restart() {
        let scenario = Scenario::parse(
            "crash.toml",
            &CONNECT_ON_THE_WIRE_AT_A_CRASH.replace("at_ms = 6000", "at_ms = 400"),
        )
        .expect("valid");
        let trace = run(&scenario, RunOptions::new(scenario.seed));
        let (at, lost) = outcome(&trace);
        assert_eq!(lost, "lost");
        assert!(at < 400, "lost only after the restart: {at} ms");
    }

    /// Fails if the queen served the submit (a process that started after the crash did).
    fn assert_not_served(trace: &crate::trace::Trace) {
        let submitted = trace
            .entries
            .iter()
            .find(|e| matches!(e.what, What::Submit { .. }));
        assert!(
            submitted.is_none(),
            "served after the restart: {submitted:?}"
        );
    }

    /// When the first job's outcome was recorded, and what it was.
    fn outcome(trace: &crate::trace::Trace) -> (u64, String) {
        trace
            .entries
            .iter()
            .find_map(|e| match &e.what {
                What::Outcome { outcome, .. } => Some((e.t, outcome.clone())),
                _ => None,
            })
            .expect("an outcome")
    }
}
